"""`curate quickstart`: the whole pipeline on the embedded synthetic corpus, then a summary."""

from __future__ import annotations

import json
import time
from pathlib import Path

from curate.paths import RunDir
from curate.recipe import Recipe, run_recipe


def register(subparsers) -> None:
    parser = subparsers.add_parser("quickstart", help="run every stage on the embedded synthetic corpus")
    parser.add_argument("--run-dir", type=Path, help="where outputs go (default: runs/quickstart)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the corpus, LM, probes and every later stage (default: the recipe's, 0)")
    parser.add_argument("--rerun", action="store_true", help="run every stage again even if complete, passing "
                        "--overwrite to the stages that take it (others, e.g. `study` cells, resume)")
    parser.set_defaults(func=run)


def run(args) -> None:
    import polars as pl

    from curate.probes.stages import format_summary

    recipe = Recipe.load("quickstart.toml")
    if args.seed is not None:
        recipe = recipe.with_values([f"seed={args.seed}"])
    run_dir = RunDir(args.run_dir or recipe.run_dir)
    started = time.perf_counter()
    timings = run_recipe(recipe, run_dir.root, args.rerun)
    print(f"\nquickstart finished in {time.perf_counter() - started:.0f} s")
    for name, seconds in timings.items():
        print(f"  {name:<14} {seconds:7.1f} s")
    summary = pl.read_csv(run_dir.probe_eval / "summary.csv")
    print("\nprobe completion loss (nats/token) and greedy accuracy:")
    print(format_summary(summary))
    reasoning = summary.filter(pl.col("kind") == "reasoning")
    weights = reasoning["probes"]
    for column in [c for c in summary.columns if c.endswith("loss_per_token")]:
        mean = (reasoning[column] * weights).sum() / weights.sum()
        label = column.removesuffix("loss_per_token").rstrip("_") or "trained"
        print(f"  reasoning probes (mean over sets), loss per token, {label:<9}: {mean:.3f}")
    headline = run_dir.report / "headline.json"
    if headline.exists():
        from curate.report import format_headline

        print("\nanalyses of the EK-FAC scores (report/report.html):")
        for line in format_headline(json.loads(headline.read_text())):
            print(f"  {line}")
    classifier_report = run_dir.classifier / "report.md"
    if classifier_report.exists():
        print("\nprocedural classifier on held-out documents, by the ranking it learned from:")
        print(classifier_report.read_text())
    print(
        f"outputs in {run_dir.root}/: corpus/, model/ (HF format), probes/, factors/, scores*/, report/, "
        "classifier/, filtered/, mix/"
    )
