"""`curate validate removal|mix`: evidence that the rankings are causal and that the curated mix helps."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from curate.errors import UserFacingError
from curate.paths import RunDir, add_run_dir_argument
from curate.tables import as_text
from curate.validate import mix as mix_validation
from curate.validate.mix import MixValidationArguments
from curate.validate.removal import (
    RemovalArguments,
    contrasts,
    finished_grid,
    load_results,
    plot,
    removed_composition,
    run_grid,
    summarise,
)


def register(subparsers) -> None:
    parser = subparsers.add_parser("validate", help="validation experiments (removal-and-retrain, ...)")
    experiments = parser.add_subparsers(dest="experiment", required=True, metavar="EXPERIMENT")

    removal = experiments.add_parser(
        "removal", help="remove top-k documents per method, retrain, measure probes"
    )
    add_run_dir_argument(removal)
    removal.add_argument("--out", type=Path, help="results directory (default: RUN_DIR/validate/removal)")
    defaults = RemovalArguments()
    removal.add_argument(
        "--targets", nargs="+", default=defaults.targets, help="probe sets to remove documents for"
    )
    removal.add_argument(
        "--methods",
        nargs="+",
        default=defaults.methods,
        help="rankings to compare; each reads RUN_DIR/scores (ekfac) or RUN_DIR/scores-METHOD",
    )
    removal.add_argument(
        "--fractions",
        nargs="+",
        type=float,
        default=defaults.fractions,
        help="shares of the corpus to remove (a baseline with nothing removed always runs)",
    )
    removal.add_argument("--seeds", nargs="+", type=int, default=defaults.seeds)
    removal.add_argument("--steps", type=int, help="training steps per retrain (default: the run's own)")
    removal.add_argument("--no-accuracy", action="store_true", help="skip greedy generation (loss only)")
    removal.add_argument(
        "--shard", default="0/1", help="run cells I, I+N, ... of the grid: I/N (independent jobs)"
    )
    removal.add_argument(
        "--summarise-only", action="store_true", help="only tabulate and plot finished cells"
    )
    removal.set_defaults(func=run_removal)

    mix = experiments.add_parser("mix", help="train on a random sample, the curated mix, and the whole crawl")
    add_run_dir_argument(mix)
    mix.add_argument("--out", type=Path, help="results directory (default: RUN_DIR/validate/mix)")
    mix_defaults = MixValidationArguments()
    mix.add_argument(
        "--budget-share",
        type=float,
        default=mix_defaults.budget_share,
        help="token budget of the random and curated arms, as a share of the crawl's tokens",
    )
    mix.add_argument(
        "--procedural-share",
        type=float,
        default=mix_defaults.procedural_share,
        help="share of the curated mix's tokens from documents the classifier scores procedural (default "
        "%(default)s); keep it well above the crawl's own share, which the summary reports per arm",
    )
    mix.add_argument("--threshold", type=float, default=mix_defaults.threshold)
    mix.add_argument("--max-repetitions", type=int, default=mix_defaults.max_repetitions)
    mix.add_argument("--seeds", nargs="+", type=int, default=mix_defaults.seeds)
    mix.add_argument(
        "--probe-seed",
        type=int,
        default=mix_defaults.probe_seed,
        help="seed of the evaluation probes (differs from the selection probes)",
    )
    mix.add_argument("--steps", type=int, help="training steps per arm (default: the run's own)")
    mix.add_argument("--no-accuracy", action="store_true", help="skip greedy generation (loss only)")
    mix.add_argument("--shard", default="0/1", help="run cells I, I+N, ... : I/N (independent jobs)")
    mix.add_argument("--summarise-only", action="store_true", help="only tabulate and plot finished cells")
    mix.set_defaults(func=run_mix)

    from curate.lso.cli import add_arguments  # no torch at import: the CLI still starts fast

    lso = experiments.add_parser("lso", help="Leave-Square-Out: hold out a square of a grid task, train, score")
    add_arguments(lso)
    lso.set_defaults(func=run_lso)


def run_lso(args) -> None:
    from curate.lso.cli import run

    run(args)


def parse_shard(text: str) -> tuple[int, int]:
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit()) or int(index) >= int(count):
        raise UserFacingError(f"--shard takes I/N with 0 <= I < N, not {text!r}")
    return int(index), int(count)


def write_tables(effect: pl.DataFrame, contrast: pl.DataFrame, specificity: pl.DataFrame, out: Path) -> str:
    effect.write_csv(out / "effect.csv")
    contrast.write_csv(out / "contrasts.csv")
    specificity.write_csv(out / "specificity.csv")
    text = (
        "## Loss increase on the targeted probe set (nats/token; mean and 95% CI half-width over seeds)\n\n"
        f"{as_text(effect, float_precision=4)}\n\n"
        "## EK-FAC removal against each other method, paired by seed: difference in the targeted set's loss "
        f"(positive: EK-FAC's removal hurt more)\n\n{as_text(contrast, float_precision=4)}\n\n"
        f"## Specificity at the largest k: loss increase on every set\n\n{as_text(specificity, float_precision=4)}\n"
    )
    (out / "summary.md").write_text(text)
    return text


def run_removal(args) -> None:
    run_dir = RunDir(args.run_dir)
    out = args.out or run_dir.validation / "removal"
    arguments = RemovalArguments(
        args.targets, args.methods, args.fractions, args.seeds, args.steps, not args.no_accuracy
    )
    if not args.summarise_only:
        run_grid(run_dir, out, arguments, parse_shard(args.shard))
    results = load_results(out)
    effect, specificity = summarise(results)
    print(write_tables(effect, contrasts(results), specificity, out))
    composition = removed_composition(run_dir, finished_grid(results, arguments))
    if composition is not None:
        composition.write_csv(out / "removed.csv")
        text = (
            "## What was removed, by the corpus's ground truth: share of the target's own task among removed "
            "documents, share of that task's documents removed, share procedural\n\n"
            f"{as_text(composition, float_precision=3)}\n"
        )
        with (out / "summary.md").open("a") as summary:
            summary.write("\n" + text)
        print(text)
    plot(effect, out / "loss_increase.png")
    print(f"tables and plot in {out}")


def run_mix(args) -> None:
    run_dir = RunDir(args.run_dir)
    out = args.out or run_dir.validation / "mix"
    arguments = MixValidationArguments(
        args.budget_share,
        args.procedural_share,
        args.threshold,
        args.max_repetitions,
        args.seeds,
        args.probe_seed,
        args.steps,
        not args.no_accuracy,
    )
    if not args.summarise_only:
        mix_validation.run_validation(run_dir, out, arguments, parse_shard(args.shard))
    summary = mix_validation.summarise(out)
    summary.write_csv(out / "summary.csv")
    text = (
        "## Reasoning probes (unseen numbers) and held-out loss per arm; mean and 95% CI over seeds\n\n"
        f"{as_text(summary, float_precision=4)}\n"
    )
    (out / "summary.md").write_text(text)
    print(text)
    mix_validation.plot(summary, out / "arms.png")
    print(f"tables and plot in {out}")
