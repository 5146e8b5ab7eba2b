"""Removal-and-retrain: do the documents a method ranks top actually teach the probes?

For each target probe set, method and removal size k, drop the method's top-k training documents for that
set (ranked by the mean per-nat score over the set's probes), retrain the LM from scratch with the same
tokenizer, seed and step budget, and measure every probe set's completion loss and greedy accuracy. Each
(target, method, k, seed) cell is an independent job whose result is one JSON file, so an interrupted
grid resumes where it stopped and shards of the grid can run as separate jobs (`shard=(i, n)`).
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import polars as pl

from curate.errors import InputError
from curate.tables import as_text
from curate.validate.arguments import RemovalArguments
from curate.validate.cells import read_cells, run_cells
from curate.validate.intervals import mean_and_interval
from curate.validate.retrain import RunTraining, load_run_training, results_table, retrain_and_measure

BASELINE = "none"


@dataclass(frozen=True)
class Cell:
    target: str
    method: str
    fraction: float
    seed: int

    @property
    def name(self) -> str:
        return f"{self.target}__{self.method}__{self.fraction:g}__seed{self.seed}"


def grid(args: RemovalArguments) -> list[Cell]:
    """Baselines (nothing removed) first, one per seed, then every (target, method, fraction) seed by seed.

    Seeds vary slowest so that a grid stopped part-way already holds whole seeds: every method's cell for
    the same initialisation and batch order, which is what the paired contrasts need.
    """
    cells = [Cell(BASELINE, BASELINE, 0.0, seed) for seed in args.seeds]
    cells += [
        Cell(target, method, fraction, seed)
        for seed in args.seeds
        for fraction in args.fractions
        for target in args.targets
        for method in args.methods
        if fraction > 0
    ]
    return cells


def ranking(scores_dir: Path, probe_ids: list[str]) -> list[str]:
    """Document ids, most helpful first, by mean per-nat score over `probe_ids`."""
    from attribution.scores import load_per_nat_scores

    scores, _ = load_per_nat_scores(scores_dir)
    missing = [p for p in probe_ids if p not in scores.columns]
    if missing:
        raise InputError(f"{scores_dir}: no scores for probes {missing[:3]}")
    mean = scores.select(pl.mean_horizontal(probe_ids).alias("mean"), "doc_id")
    return mean.sort("mean", descending=True, maintain_order=True)["doc_id"].to_list()


@dataclass
class Context:
    """Everything a cell needs, loaded once per process."""

    run: RunTraining
    probes: list
    rankings: dict[tuple[str, str], list[str]]


def load_context(run_dir, args: RemovalArguments) -> Context:
    from curate.probes.sets import read_probes

    run = load_run_training(run_dir, args.steps)
    probes = read_probes(run_dir.probes)
    rankings = {}
    for method in args.methods:
        for target in args.targets:
            probe_ids = [p.id for p in probes if p.set == target]
            if not probe_ids:
                raise InputError(f"no probes of set {target!r} in {run_dir.probes}")
            ranked = ranking(run_dir.scores_for(method), probe_ids)
            rankings[(method, target)] = [doc_id for doc_id in ranked if doc_id in run.train_docs]
    return Context(run, probes, rankings)


def removed_documents(context: Context, method: str, target: str, fraction: float) -> list[str]:
    """The training documents a cell removes: the method's top share `fraction` of the corpus for `target`."""
    if method == BASELINE:
        return []
    return context.rankings[(method, target)][: round(fraction * len(context.run.train_docs))]


def run_cell(cell: Cell, context: Context, accuracy: bool = True) -> dict:
    removed = set(removed_documents(context, cell.method, cell.target, cell.fraction))
    texts = [text for doc_id, text in context.run.train_docs.items() if doc_id not in removed]
    measured = retrain_and_measure(context.run, texts, context.probes, cell.seed, accuracy)
    return {**asdict(cell), "removed": len(removed), **measured}


def run_grid(run_dir, out: Path, args: RemovalArguments, shard: tuple[int, int] = (0, 1)) -> list[Path]:
    """Run this shard's unfinished cells; returns the paths of all of its cell results."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "arguments.json").write_text(json.dumps(asdict(args), indent=1))

    @functools.cache
    def context() -> Context:
        return load_context(run_dir, args)

    return run_cells(grid(args), out, lambda cell: run_cell(cell, context(), args.accuracy), shard)


def removed_composition(run_dir, args: RemovalArguments, truth_key: str = "task") -> pl.DataFrame | None:
    """What each (target, method, fraction) removes, by the corpus's ground truth where it has one (the
    synthetic corpus does): the share of removed documents that teach the target's own task, the share of
    that task's documents removed (recall), and the share that are procedural at all. Explains effect sizes
    without retraining. None if the corpus has no `truth_key` metadata."""
    context = load_context(run_dir, args)
    metadata = context.run.train_metadata
    if not any(truth_key in m for m in metadata.values()):
        return None
    rows = []
    for method, target in context.rankings:
        task_documents = {i for i, m in metadata.items() if m.get(truth_key) == target}
        for fraction in [f for f in args.fractions if f > 0]:
            removed = removed_documents(context, method, target, fraction)
            same_task = sum(i in task_documents for i in removed)
            rows.append({
                "target": target, "method": method, "fraction": fraction, "removed": len(removed),
                "same_task_share": same_task / max(len(removed), 1),
                "task_recall": same_task / len(task_documents) if task_documents else None,
                "procedural_share": float(np.mean([bool(metadata[i].get("procedural")) for i in removed])),
            })
    return pl.DataFrame(rows).sort("target", "fraction", "method")


def finished_grid(results: pl.DataFrame, args: RemovalArguments) -> RemovalArguments:
    """`args` widened to every target, method and fraction with a finished cell in `results`, so that tables
    written after one invocation describe all the cells in the directory, not only that invocation's."""
    done = results.filter(pl.col("method") != BASELINE)
    return replace(
        args,
        targets=sorted(set(args.targets) | set(done["target"])),
        methods=sorted(set(args.methods) | set(done["method"])),
        fractions=sorted(set(args.fractions) | set(done["fraction"])),
    )


def load_results(out: Path) -> pl.DataFrame:
    """One row per (cell, probe set): loss per token, accuracy, held-out loss."""
    return results_table(read_cells(out), ["target", "method", "fraction", "seed"])


def write_summary(run_dir, out: Path, args: RemovalArguments) -> str:
    """Tables (effect.csv, contrasts.csv, specificity.csv, removed.csv), summary.md and the plot, over every
    finished cell in `out`; returns the summary's text."""
    results = load_results(out)
    effect, specificity = summarise(results)
    contrast = contrasts(results)
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
    composition = removed_composition(run_dir, finished_grid(results, args))
    if composition is not None:
        composition.write_csv(out / "removed.csv")
        text += (
            "\n## What was removed, by the corpus's ground truth: share of the target's own task among removed "
            "documents, share of that task's documents removed, share procedural\n\n"
            f"{as_text(composition, float_precision=3)}\n"
        )
    (out / "summary.md").write_text(text)
    plot(effect, out / "loss_increase.png")
    return text


def summarise(results: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(effect on the targeted set per target/method/fraction, specificity at the largest fraction).

    Effects are paired by seed: loss after removal minus the same seed's baseline loss on the same set.
    """
    baseline = results.filter(pl.col("method") == BASELINE).select(
        "seed", "set", pl.col("loss").alias("baseline_loss"), pl.col("accuracy").alias("baseline_accuracy")
    )
    if baseline.is_empty():
        raise InputError("no baseline cells (nothing removed) yet")
    paired = (
        results.filter(pl.col("method") != BASELINE)
        .join(baseline, on=["seed", "set"])
        .with_columns(
            loss_increase=pl.col("loss") - pl.col("baseline_loss"),
            accuracy_change=pl.col("accuracy") - pl.col("baseline_accuracy"),
        )
    )
    on_target = paired.filter(pl.col("set") == pl.col("target"))
    effect = mean_and_interval(on_target, ["target", "method", "fraction"], "loss_increase")
    accuracy = mean_and_interval(on_target, ["target", "method", "fraction"], "accuracy_change")
    effect = effect.join(
        accuracy.select("target", "method", "fraction", pl.col("mean").alias("accuracy_change")),
        on=["target", "method", "fraction"],
    )
    largest = paired["fraction"].max()
    specificity = mean_and_interval(
        paired.filter(pl.col("fraction") == largest), ["method", "target", "set"], "loss_increase"
    )
    return effect, specificity


def contrasts(results: pl.DataFrame, reference: str = "ekfac") -> pl.DataFrame:
    """How much more `reference` removal raises the targeted set's loss than each other method's, paired by
    seed: both cells of a seed start from the same initialisation and batch order, so their difference
    cancels that seed's share of the training noise, which the per-method intervals carry twice."""
    on_target = results.filter((pl.col("set") == pl.col("target")) & (pl.col("method") != BASELINE))
    cells = ["target", "fraction", "seed"]
    mine = on_target.filter(pl.col("method") == reference).select(*cells, pl.col("loss").alias("reference_loss"))
    differences = (
        on_target.filter(pl.col("method") != reference)
        .join(mine, on=cells)
        .with_columns(difference=pl.col("reference_loss") - pl.col("loss"))
    )
    if differences.is_empty():
        return pl.DataFrame()
    table = mean_and_interval(differences, ["target", "fraction", "method"], "difference")
    return table.rename({"method": "versus"}).with_columns(pl.lit(reference).alias("method")).select(
        "target", "fraction", "method", "versus", "n", "mean", "std", "ci95"
    )


def plot(effect: pl.DataFrame, path: Path) -> Path:
    from curate.plots import new_figure, save_figure

    targets = effect["target"].unique(maintain_order=True).to_list()
    fig, axes = new_figure(4.0 * len(targets), 3.6, ncols=len(targets))
    for i, (target, ax) in enumerate(zip(targets, np.atleast_1d(axes), strict=True)):
        for method in effect["method"].unique(maintain_order=True).to_list():
            rows = effect.filter((pl.col("target") == target) & (pl.col("method") == method)).sort("fraction")
            x = [0.0, *(100 * rows["fraction"]).to_list()]
            y = [0.0, *rows["mean"].to_list()]
            err = [0.0, *np.nan_to_num(rows["ci95"].to_numpy()).tolist()]
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=method)
        ax.axhline(0, color="grey", lw=0.5)
        ax.set(title=f"remove top-k for {target}", xlabel="documents removed (% of corpus)")
        if i == 0:
            ax.set_ylabel("probe loss increase (nats/token)")
            ax.legend()
    return save_figure(fig, path)
