"""The mix frontier: how much reasoning each way of curating buys, and what it costs in general modelling.

Every arm but the whole crawl is a mix spec at the random arm's token budget (`curate.mix`), so with the
run's fixed training steps no arm passes over its data more often than another, and no document is copied
more than `max_repetitions` times. Families of arms, one per way of selecting:
  share:    the procedural documents' share of the mix's tokens, from the crawl's own share upwards;
  top:      only the documents the classifier scores highest, a fraction of them;
  upsample: the procedural documents' sampling weight multiplied by r (upsampling xr, then sampled to budget);
and the references: `random` (a random sample at the budget) and `whole` (every training document).
Each (arm, seed) cell is one retrain (`curate.validate.cells`), measured on reasoning probes unseen in
selection, factual probes, the reasoning controls and held-out documents. The frontier plots held-out loss
against unseen-reasoning loss; the recommended arm is written as a spec `curate mix --spec` takes.
"""

from __future__ import annotations

import functools
import json
import math
import os
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl

from curate.classify import SCORE_KEY
from curate.errors import InputError
from curate.mix.spec import BucketSpec, MixSpec
from curate.tables import as_text
from curate.validate.arguments import MixSweepArguments
from curate.validate.cells import read_cells, run_cells
from curate.validate.intervals import mean_and_interval
from curate.validate.mix import Arm, annotate, evaluation_probes, procedural_token_share
from curate.validate.retrain import load_run_training, results_table, retrain_and_measure

METHODS = ("share", "top", "upsample")
REFERENCES = ("random", "whole")
GROUPS = ("reasoning", "factual", "control")  # probe groups measured per arm
MEASURES = (*(f"{group}_{what}" for group in GROUPS for what in ("loss", "accuracy")), "heldout_loss")
RECOMMENDED = "recommended_mix.toml"


@dataclass(frozen=True)
class SweepArm:
    method: str  # one of METHODS or REFERENCES
    value: float | None = None  # share, fraction kept or factor; None: a reference, or the crawl's own share

    @property
    def name(self) -> str:
        if self.method in REFERENCES:
            return self.method
        if self.value is None:
            return f"{self.method}-own"
        return f"upsample-x{self.value:g}" if self.method == "upsample" else f"{self.method}-{self.value:g}"


def sweep_arms(args: MixSweepArguments) -> list[SweepArm]:
    """The references, then each family in the order of its flag (the share family from the crawl's own)."""
    return [
        SweepArm("random"),
        SweepArm("whole"),
        SweepArm("share"),
        *(SweepArm("share", s) for s in args.shares),
        *(SweepArm("top", f) for f in args.top_fractions),
        *(SweepArm("upsample", r) for r in args.upsample),
    ]


def own_share(scores: np.ndarray, tokens: np.ndarray, threshold: float) -> float:
    """The crawl's share of tokens in documents scored procedural (at or above `threshold`)."""
    return float(tokens[scores >= threshold].sum() / max(tokens.sum(), 1))


def score_cut(scores: np.ndarray, fraction: float) -> float:
    """The lowest score among the `fraction` of documents scored highest (ties at the cut are all kept)."""
    kept = max(1, round(fraction * len(scores)))
    return float(np.sort(scores)[::-1][kept - 1])


def arm_spec(
    arm: SweepArm, scores: np.ndarray, tokens: np.ndarray, args: MixSweepArguments, budget: int, seed: int
) -> MixSpec | None:
    """The mix spec of an arm at `budget` tokens (None for the whole crawl, which is no mix)."""
    common = dict(total_tokens=budget, max_repetitions=args.max_repetitions, seed=seed, shards=1)
    procedural = (args.threshold, 1.0)
    if arm.method == "whole":
        return None
    if arm.method == "random":  # as `curate study mix` samples it: no document twice
        return MixSpec(buckets=[BucketSpec("all", 1.0)], **common | {"max_repetitions": 1})
    if arm.method == "top":
        # a range's top is kept only when it is the highest, so the cut stays below 1 even if scores reach it
        cut = min(score_cut(scores, arm.value), math.nextafter(1.0, 0.0))
        return MixSpec(buckets=[BucketSpec("top", 1.0, score=(cut, 1.0))], **common)
    own = own_share(scores, tokens, args.threshold)
    if arm.method == "share":
        share = own if arm.value is None else arm.value
    else:  # upsampling xr: each procedural token weighs r, every other token 1
        share = arm.value * own / (arm.value * own + 1 - own) if own else 0.0
    buckets = [BucketSpec("procedural", share, score=procedural), BucketSpec("rest", 1 - share)]
    return MixSpec(buckets=buckets, **common)


def check_reachable(name: str, spec: MixSpec, scores: np.ndarray, tokens: np.ndarray) -> None:
    """Refuse an arm whose buckets cannot reach their token targets under the repetition cap: it would train
    on fewer tokens than the others, and compare unfairly."""
    buckets = np.array([spec.bucket_of(float(s), None) for s in scores])
    for index, (bucket, share) in enumerate(zip(spec.buckets, spec.shares(), strict=True)):
        target, available = share * spec.total_tokens, int(tokens[buckets == index].sum())
        if target > available * spec.max_repetitions:
            raise InputError(
                f"arm {name}: bucket {bucket.name!r} needs {target:,.0f} tokens but holds {available:,} "
                f"({spec.max_repetitions} copies at most); lower --budget-share or raise --max-repetitions"
            )


def spec_toml(spec: MixSpec, header: list[str] = ()) -> str:
    """The spec in `curate.mix.spec`'s TOML (`load_mix_spec` reads it back to an equal spec)."""
    data = spec.to_dict()
    lines = [f"# {line}" for line in header]
    lines += [f"{key} = {json.dumps(data[key])}" for key in data if key != "buckets"]
    for bucket in data["buckets"]:
        lines += ["", "[[bucket]]"] + [f"{key} = {json.dumps(value)}" for key, value in bucket.items()]
    return "\n".join(lines) + "\n"


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # shards may write the same file at once
    temporary.write_text(text)
    os.replace(temporary, path)


def sweep_probes(run_dir, seed: int) -> list:
    """The mix validation's unseen reasoning probes, and from the same seed the factual probes and the
    reasoning controls (neither depends on which reasoning numbers selected the documents)."""
    from curate.probes.sets import make_probes

    others = [p for p in make_probes(seed=seed) if p.set in ("factual", "reasoning_control")]
    return evaluation_probes(run_dir, seed) + others


def run_sweep(run_dir, out: Path, args: MixSweepArguments, shard: tuple[int, int] = (0, 1)) -> list[Path]:
    """Run this shard's unfinished (arm, seed) cells; seeds vary slowest, so a partial grid holds whole seeds."""
    from curate.corpus.io import read_documents
    from curate.mix.build import build_mix, hf_token_counter

    out.mkdir(parents=True, exist_ok=True)
    (out / "arguments.json").write_text(json.dumps(asdict(args), indent=1))
    arms = {arm.name: arm for arm in sweep_arms(args)}

    @functools.cache
    def context():
        run = load_run_training(run_dir, args.steps)
        annotated = annotate(run_dir, out, run)
        documents = list(read_documents(annotated))
        counter = hf_token_counter(run_dir.model)
        tokens = np.array(counter([d.text for d in documents]), dtype=np.int64)
        scores = np.array([d.metadata[SCORE_KEY] for d in documents], dtype=np.float64)
        budget = int(args.budget_share * tokens.sum())
        for name, arm in arms.items():  # every arm checked and written before any trains
            if (spec := arm_spec(arm, scores, tokens, args, budget, args.seeds[0])) is not None:
                check_reachable(name, spec, scores, tokens)
                header = [f"arm {name} of curate study mix-sweep; tokens counted with {run_dir.model}"]
                write_atomic(out / "specs" / f"{name}.toml", spec_toml(spec, header))
        return run, annotated, documents, counter, tokens, scores, budget, sweep_probes(run_dir, args.probe_seed)

    def run_one(cell: Arm) -> dict:
        run, annotated, documents, counter, tokens, scores, budget, probes = context()
        arm = arms[cell.arm]
        spec = arm_spec(arm, scores, tokens, args, budget, cell.seed)
        manifest = None
        if spec is not None:
            with tempfile.TemporaryDirectory(prefix=f".mix-{cell.name}-", dir=out) as folder:
                manifest = build_mix(annotated, spec, folder, counter, "model tokenizer", overwrite=True)
                documents = list(read_documents(Path(folder) / "shards"))
        texts = [d.text for d in documents]
        counts = counter(texts)
        copies = Counter(d.metadata.get("repeat_of", d.id) for d in documents)
        measured = retrain_and_measure(run, texts, probes, cell.seed, args.accuracy)
        value = own_share(scores, tokens, args.threshold) if arm == SweepArm("share") else arm.value
        return {
            **asdict(cell), "method": arm.method, "value": value, "tokens": int(sum(counts)),
            "max_copies": max(copies.values()), "manifest": manifest,
            "procedural_token_share": procedural_token_share(documents, counts, args.threshold), **measured,
        }

    cells = [Arm(name, seed) for seed in args.seeds for name in arms]
    return run_cells(cells, out / "cells", run_one, shard)


def summarise(out: Path) -> pl.DataFrame:
    """Per arm: method, value, tokens, procedural token share, then each measure's mean and 95% CI over seeds."""
    from curate.probes.sets import KIND_OF_SET

    cells = read_cells(out / "cells")
    group_of = {s: "reasoning" for s, kind in KIND_OF_SET.items() if kind == "reasoning"}
    group_of |= {"factual": "factual", "reasoning_control": "control"}
    results = results_table(cells, ["arm", "seed"]).with_columns(
        group=pl.col("set").replace_strict(group_of, default=None)
    )
    per_cell = results.group_by("arm", "seed", maintain_order=True).agg(
        *(
            pl.col(what).filter(pl.col("group") == group).mean().alias(f"{group}_{what}")
            for group in GROUPS
            for what in ("loss", "accuracy")
        ),
        pl.col("heldout_loss").first(),
    )
    summary = pl.DataFrame(
        [{key: c[key] for key in ("arm", "method", "value", "tokens", "max_copies", "procedural_token_share")}
         for c in cells],
        schema={"arm": pl.String, "method": pl.String, "value": pl.Float64, "tokens": pl.Float64,
                "max_copies": pl.Int64, "procedural_token_share": pl.Float64},
    ).group_by("arm").agg(
        pl.col("method").first(), pl.col("value").first(), pl.len().alias("n"),
        pl.col("tokens").mean().round().cast(pl.Int64),
        pl.col("max_copies").max(), pl.col("procedural_token_share").mean(),
    )
    for value in MEASURES:
        interval = mean_and_interval(per_cell, ["arm"], value)
        summary = summary.join(
            interval.select("arm", pl.col("mean").alias(value), pl.col("ci95").alias(f"{value}_ci95")), on="arm"
        )
    rank = {method: i for i, method in enumerate(REFERENCES + METHODS)}
    return summary.sort(pl.col("method").replace_strict(rank, return_dtype=pl.Int32), "value")


def judge(
    summary: pl.DataFrame, tolerance: float, target_gain: float, methods: tuple[str, ...] = METHODS
) -> pl.DataFrame:
    """Adds, against the random arm: reasoning_gain (its unseen-reasoning loss minus the arm's),
    heldout_vs_random (relative), within_tolerance, and meets_target (a mix arm with a gain of at least
    `target_gain` whose 95% CI does not overlap random's, held-out loss within `tolerance`; `methods` are the
    arms that may meet it). `curate study anneal` judges its arms with this too."""
    random = summary.filter(pl.col("arm") == "random")
    if random.is_empty():
        raise InputError("no finished cell of the random arm yet: every arm is measured against it")
    loss, ci, heldout = (random[column][0] for column in ("reasoning_loss", "reasoning_loss_ci95", "heldout_loss"))
    ci = float("nan") if ci is None else ci  # one finished seed has no interval (a partial sweep, summarised)
    judged = summary.with_columns(
        reasoning_gain=loss - pl.col("reasoning_loss"),
        heldout_vs_random=pl.col("heldout_loss") / heldout - 1,
    ).with_columns(within_tolerance=pl.col("heldout_loss") <= (1 + tolerance) * heldout)  # 1.05 / 1 - 1 > 0.05
    separated = (pl.col("reasoning_loss") + pl.col("reasoning_loss_ci95")) < (loss - ci)  # NaN CI: never
    meets = pl.col("method").is_in(methods) & (pl.col("reasoning_gain") >= target_gain) & separated
    return judged.with_columns(meets_target=(meets & pl.col("within_tolerance")).fill_null(False))


def recommend(judged: pl.DataFrame) -> str | None:
    """The mix arm with the largest positive reasoning gain among those within the held-out tolerance."""
    candidates = judged.filter(
        pl.col("method").is_in(METHODS) & pl.col("within_tolerance") & (pl.col("reasoning_gain") > 0)
    )
    if candidates.is_empty():
        return None
    return candidates.sort("reasoning_gain", descending=True, maintain_order=True)["arm"][0]


def write_recommendation(
    out: Path, judged: pl.DataFrame, arm: str | None, study: str = "mix-sweep", measured: str = "unseen-reasoning"
) -> Path | None:
    """OUT/recommended_mix.toml from the arm's spec; without a recommendation, none (an earlier one removed)."""
    from curate.mix.spec import load_mix_spec

    path = out / RECOMMENDED
    if arm is None:
        path.unlink(missing_ok=True)
        return None
    source = out / "specs" / f"{arm}.toml"
    if not source.exists():
        raise InputError(f"{source}: missing; the sweep writes each arm's spec when it runs")
    row = judged.row(by_predicate=pl.col("arm") == arm, named=True)
    header = [
        f"the recommended mix of curate study {study} ({out}): arm {arm}",
        f"{measured} loss {row['reasoning_gain']:.4f} nats/token below the random arm's, held-out loss "
        f"{row['heldout_vs_random']:+.1%} against it",
        "total_tokens counts the run's LM tokenizer and scores are its classifier's procedural_score:",
        "curate mix --spec THIS --tokenizer RUN_DIR/model --input DOCUMENTS (as `curate filter` annotates them)",
    ]
    write_atomic(path, spec_toml(load_mix_spec(source), header))
    return path


def caption(tolerance: float, target_gain: float) -> str:
    return (
        f"Recommended arm: among the mixes at the random arm's token budget ({', '.join(METHODS)}; not the whole "
        f"crawl), those whose held-out loss is at most {tolerance:.0%} above the random arm's, the one with the "
        "largest reasoning gain (the random arm's unseen-reasoning loss minus its own), if that gain is positive. "
        f"Target: a gain of at least {target_gain:g} nats/token with non-overlapping 95% CIs and held-out loss "
        f"within {tolerance:.0%} of random's."
    )


def write_frontier(out: Path, args: MixSweepArguments) -> str:
    """frontier.csv, frontier.md, frontier.png and (when an arm qualifies) recommended_mix.toml over the
    finished cells in `out`; returns frontier.md's text."""
    judged = judge(summarise(out), args.heldout_tolerance, args.target_gain)
    judged.write_csv(out / "frontier.csv")
    best = recommend(judged)
    write_recommendation(out, judged, best)
    shown = judged.select(
        "arm", "n", "tokens", "procedural_token_share", "reasoning_loss", "reasoning_loss_ci95",
        "reasoning_accuracy", "factual_loss", "control_loss", "heldout_loss", "heldout_loss_ci95",
        "reasoning_gain", "heldout_vs_random", "meets_target",
    )
    met = judged.filter("meets_target")["arm"].to_list()
    verdict = (
        f"Recommended: {best} (written to {RECOMMENDED})." if best else
        f"No recommendation: no mix arm's held-out loss is within {args.heldout_tolerance:.0%} of the random "
        f"arm's with a positive reasoning gain; no {RECOMMENDED} written."
    )
    text = (
        "## Mix frontier: unseen-reasoning loss against held-out loss per arm; mean and 95% CI over seeds\n\n"
        f"{caption(args.heldout_tolerance, args.target_gain)}\n\n{as_text(shown, float_precision=4)}\n\n"
        f"{verdict}\nTarget met: {'yes, by ' + ', '.join(met) if met else 'no'}.\n"
    )
    (out / "frontier.md").write_text(text)
    plot_frontier(judged, out / "frontier.png", args.heldout_tolerance)
    return text


def plot_frontier(
    judged: pl.DataFrame, path: Path, tolerance: float, styles: dict[str, str] | None = None,
    xlabel: str = "held-out document loss (nats/token)", ylabel: str = "unseen reasoning probe loss (nats/token)",
) -> Path:
    """Reasoning loss against held-out loss per arm, both with their 95% CIs; `styles` maps each method
    plotted to a colour (random and whole are drawn as single marked references)."""
    from curate.plots import new_figure, save_figure

    fig, ax = new_figure(7, 5)
    styles = styles or {
        "share": "#d95f02", "top": "#7570b3", "upsample": "#1b9e77", "random": "black", "whole": "#999999"
    }
    for method, color in styles.items():
        rows = judged.filter(pl.col("method") == method)
        if rows.is_empty():
            continue
        marker, line = {"random": ("*", ""), "whole": ("s", "")}.get(method, ("o", "-"))
        ax.errorbar(
            rows["heldout_loss"].to_list(), rows["reasoning_loss"].to_list(),
            xerr=rows["heldout_loss_ci95"].fill_nan(0).fill_null(0).to_list(),
            yerr=rows["reasoning_loss_ci95"].fill_nan(0).fill_null(0).to_list(),
            fmt=marker + line, color=color, capsize=3, elinewidth=0.7, markersize=14 if method == "random" else 6,
            label="random (reference)" if method == "random" else method,
        )
        for row in rows.iter_rows(named=True):
            ax.annotate(row["arm"], (row["heldout_loss"], row["reasoning_loss"]), fontsize=7,
                        xytext=(4, 4), textcoords="offset points")
    random = judged.filter(pl.col("arm") == "random")
    if not random.is_empty():
        ax.axvline(random["heldout_loss"][0] * (1 + tolerance), color="black", linestyle=":", linewidth=1,
                   label=f"random's held-out loss +{tolerance:.0%}")
    ax.set(xlabel=xlabel, ylabel=ylabel, title="mix frontier (lower left is better)")
    ax.legend(fontsize=8)
    return save_figure(fig, path)
