"""Does the curated mix teach reasoning better than a random sample of the same size, and at what cost?

Three arms, each trained like the run's own LM (same tokenizer, architecture, steps), several seeds:
  random:  a random sample of the crawl's training documents at the token budget;
  curated: the classifier-curated mix at the same budget (a share of it from documents the classifier
           scores procedural, the rest from everything else), built by `curate.mix.build_mix`;
  whole:   every training document of the crawl.
Measured: completion loss and greedy accuracy on reasoning probes drawn with a different seed from those
that chose the documents (so their numbers were never seen in selection), and the loss on the crawl's
held-out documents (what the mix costs in general modelling).
"""

from __future__ import annotations

import functools
import json
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl
from datatrove.data import Document

from curate.classify import SCORE_KEY
from curate.errors import InputError
from curate.tables import as_text
from curate.validate.arguments import MixValidationArguments
from curate.validate.cells import read_cells, run_cells
from curate.validate.intervals import mean_and_interval
from curate.validate.retrain import load_run_training, results_table, retrain_and_measure

ARMS = ("random", "curated", "whole")


@dataclass(frozen=True)
class Arm:
    arm: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.arm}__seed{self.seed}"


def evaluation_probes(run_dir, seed: int) -> list:
    """Reasoning probes from `seed`, none sharing a prompt with the probes that selected the documents."""
    from curate.probes.sets import make_probes, read_probes

    selection = {p.prompt for p in read_probes(run_dir.probes)} if run_dir.probes.exists() else set()
    probes = [p for p in make_probes(seed=seed) if p.kind == "reasoning" and p.prompt not in selection]
    if not probes:
        raise InputError(f"probe seed {seed} gives no reasoning probes unseen in selection")
    return probes


def mix_specs(args: MixValidationArguments, budget: int, seed: int):
    from curate.mix.spec import BucketSpec, MixSpec

    curated = MixSpec(
        total_tokens=budget,
        buckets=[
            BucketSpec("procedural", args.procedural_share, score=(args.threshold, 1.0)),
            BucketSpec("rest", 1 - args.procedural_share),
        ],
        max_repetitions=args.max_repetitions,
        seed=seed,
        shards=1,
    )
    random = MixSpec(
        total_tokens=budget, buckets=[BucketSpec("all", 1.0)], max_repetitions=1, seed=seed, shards=1
    )
    return {"curated": curated, "random": random}


def procedural_token_share(documents: list[Document], tokens: list[int], threshold: float) -> float:
    """Share of the documents' tokens (`tokens`: each one's count) in those the classifier scores at or above
    `threshold`."""
    procedural = sum(n for n, d in zip(tokens, documents, strict=True) if d.metadata[SCORE_KEY] >= threshold)
    return procedural / max(sum(tokens), 1)


def annotate(run_dir, out: Path, run) -> Path:
    """OUT/annotated: the run's training documents, in order, each with the classifier's procedural_score
    (as `curate filter` writes it). Written under a temporary name, so shards running at once never read a
    half-written folder."""
    from curate.classify import load_classifier
    from curate.corpus.io import write_documents

    annotated = out / "annotated"
    if annotated.exists():
        return annotated
    classifier = load_classifier(run_dir.classifier_file)
    ids, texts = list(run.train_docs), list(run.train_docs.values())
    scores = classifier.procedural_probability(texts)
    documents = (
        Document(text=t, id=i, metadata={SCORE_KEY: float(s)}) for i, t, s in zip(ids, texts, scores, strict=True)
    )
    temporary = Path(tempfile.mkdtemp(prefix=".annotated-", dir=out))
    write_documents(documents, temporary)
    try:
        temporary.rename(annotated)
    except OSError:  # another shard got there first, with the same documents
        shutil.rmtree(temporary)
    return annotated


def build_arm_texts(
    run_dir, out: Path, args: MixValidationArguments, run, seed: int
) -> dict[str, tuple[list, dict, float]]:
    """Each arm's training texts, its manifest (None for the whole crawl), and its procedural token share."""
    from curate.corpus.io import read_documents
    from curate.mix.build import build_mix, hf_token_counter

    annotated = annotate(run_dir, out, run)
    counter = hf_token_counter(run_dir.model)
    whole = list(read_documents(annotated))  # the run's training documents, in order, with their scores
    whole_tokens = counter([d.text for d in whole])
    budget = int(args.budget_share * sum(whole_tokens))
    arms = {"whole": (whole, whole_tokens, None)}
    for arm, spec in mix_specs(args, budget, seed).items():
        target = out / "mixes" / f"{arm}__seed{seed}"
        manifest = build_mix(annotated, spec, target, counter, "model tokenizer", overwrite=True)  # rebuilt with its cell
        documents = list(read_documents(target / "shards"))
        arms[arm] = (documents, counter([d.text for d in documents]), manifest)
    return {
        arm: ([d.text for d in documents], manifest, procedural_token_share(documents, tokens, args.threshold))
        for arm, (documents, tokens, manifest) in arms.items()
    }


def run_validation(
    run_dir, out: Path, args: MixValidationArguments, shard: tuple[int, int] = (0, 1)
) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "arguments.json").write_text(json.dumps(asdict(args), indent=1))

    @functools.cache
    def context():
        return load_run_training(run_dir, args.steps), evaluation_probes(run_dir, args.probe_seed)

    @functools.cache
    def arms_for(seed: int):
        return build_arm_texts(run_dir, out, args, context()[0], seed)

    def run_one(cell: Arm) -> dict:
        run, probes = context()
        texts, manifest, share = arms_for(cell.seed)[cell.arm]
        measured = retrain_and_measure(run, texts, probes, cell.seed, args.accuracy)
        return {**asdict(cell), "manifest": manifest, "procedural_token_share": share, **measured}

    cells = [Arm(arm, seed) for seed in args.seeds for arm in ARMS]
    return run_cells(cells, out / "cells", run_one, shard)


def summarise(out: Path) -> pl.DataFrame:
    """Per arm: its procedural token share, then reasoning loss, accuracy and held-out loss, each the mean
    and 95% CI over seeds."""
    cells = read_cells(out / "cells")
    results = results_table(cells, ["arm", "seed"])
    per_cell = results.group_by("arm", "seed", maintain_order=True).agg(
        pl.col("loss").mean().alias("reasoning_loss"),
        pl.col("accuracy").mean().alias("reasoning_accuracy"),
        pl.col("heldout_loss").first(),
    )
    tables = []
    for value in ("reasoning_loss", "reasoning_accuracy", "heldout_loss"):
        table = mean_and_interval(per_cell, ["arm"], value).select(
            "arm", "n", pl.col("mean").alias(value), pl.col("ci95").alias(f"{value}_ci95")
        )
        tables.append(table)
    shares = pl.DataFrame(
        {"arm": [c["arm"] for c in cells], "share": [c.get("procedural_token_share") for c in cells]},
        schema={"arm": pl.String, "share": pl.Float64},
    )
    summary = (
        shares.group_by("arm").agg(pl.col("share").mean().alias("procedural_token_share"))
        .join(tables[0], on="arm")
        .join(tables[1].drop("n"), on="arm")
        .join(tables[2].drop("n"), on="arm")
        .select("arm", "n", "procedural_token_share", pl.exclude("arm", "n", "procedural_token_share"))
    )
    order = {arm: i for i, arm in enumerate(ARMS)}
    return summary.sort(pl.col("arm").replace_strict(order, return_dtype=pl.Int32))


def write_summary(out: Path) -> str:
    """summary.csv, summary.md and arms.png over every finished cell in `out`; returns the summary's text."""
    summary = summarise(out)
    summary.write_csv(out / "summary.csv")
    text = (
        "## Reasoning probes (unseen numbers) and held-out loss per arm; mean and 95% CI over seeds\n\n"
        f"{as_text(summary, float_precision=4)}\n"
    )
    (out / "summary.md").write_text(text)
    plot(summary, out / "arms.png")
    return text


def plot(summary: pl.DataFrame, path: Path) -> Path:
    from curate.plots import new_figure, save_figure

    fig, axes = new_figure(10, 3.6, ncols=2)
    for ax, value, label in (
        (axes[0], "reasoning_loss", "reasoning probe loss (nats/token)"),
        (axes[1], "heldout_loss", "held-out document loss (nats/token)"),
    ):
        ax.bar(
            summary["arm"].to_list(),
            summary[value].to_list(),
            yerr=summary[f"{value}_ci95"].fill_nan(0).to_list(),
            capsize=4,
            color=["#999999", "#d95f02", "#1b9e77"][: summary.height],
        )
        ax.set(ylabel=label)
    return save_figure(fig, path)
