"""Training labels from an influence ranking, with no hand labels.

The probes: every reasoning probe scored (maths, code tracing, how-to...), or those of the sets named
(`LabelArguments.sets`), to learn one kind of procedure.

Aggregation (`curate.analysis.common.aggregate_scores`, default "magnitude"): each reasoning probe's
per-nat scores are divided by their root mean square, and a document's aggregate is the mean |score / rms|
over those probes: how far it moves many reasoning probes from zero, in either direction. Ruis et al. found
the most negatively influential documents to be of the same procedural kind as the most positive ones, so a
signed ranking would take procedural documents for negatives (the quickstart's figures: docs/results.md).

Scaled, not centred: a probe's scores can have a mean well away from zero, and |z| = |score - mean| / std then
ranks the documents that move a probe by exactly that mean lowest, as if they moved nothing, which puts
procedural documents among the negatives (docs/results.md).
"rank" (mean rank percentile, robust to one probe's outliers) and "zscore" (mean signed z) are available.

Against factual (`against_factual`): Ruis et al.'s contrast made a label rule. A document's rank percentile
by its reasoning aggregate minus its rank percentile by its factual aggregate: how much more it moves the
reasoning probes than the factual ones. On a real model the raw magnitude mostly measures how far a document
moves the model at all, whatever the probe (on SmolLM2-135M prose moves every probe set most), and the
difference cancels that shared part (figures: docs/results.md).

Positives are the top-k documents; negatives are sampled from the bottom of the ranking (the documents
that move no reasoning probe), optionally partly from a middle band. Optionally, documents that also rank
in the top-k for factual probes are dropped from the positives, since they teach facts, not procedures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from curate.analysis.common import against_factual, aggregate_scores
from curate.classify.arguments import LabelArguments
from curate.errors import InputError


def _count(value: float, total: int) -> int:
    return int(value) if value >= 1 else max(1, round(value * total))


def label_probe_ids(probes_path: Path, scored: list[str], sets: list[str] | None = None,
                    against_sets: list[str] | None = None) -> tuple[list[str], list[str]]:
    """(reasoning, factual) ids of the scored probes; the reasoning ones only of `sets` and the factual ones
    only of `against_sets` if any are named."""
    from curate.probes.sets import KIND_OF_SET, read_probes

    reasoning_sets = [name for name, kind in KIND_OF_SET.items() if kind == "reasoning"]
    wrong = [name for name in sets or [] if name not in reasoning_sets]
    if wrong:
        raise InputError(f"label sets must be reasoning sets ({', '.join(reasoning_sets)}), not {', '.join(wrong)}")
    factual_sets = [name for name, kind in KIND_OF_SET.items() if kind == "factual"]
    wrong = [name for name in against_sets or [] if name not in factual_sets]
    if wrong:
        raise InputError(f"--against-sets must be factual sets ({', '.join(factual_sets)}), not {', '.join(wrong)}")
    probes = [p for p in read_probes(probes_path) if p.id in set(scored)]
    reasoning = [p.id for p in probes if p.kind == "reasoning" and (not sets or p.set in sets)]
    if not reasoning:
        among = f" of {', '.join(sets)}" if sets else ""
        raise InputError(f"none of the scored probes is a reasoning probe{among} ({probes_path})")
    factual = [p.id for p in probes if p.kind == "factual" and (not against_sets or p.set in against_sets)]
    return reasoning, factual


def label_from_scores(
    scores: pl.DataFrame,
    reasoning_probes: list[str],
    factual_probes: list[str] | None = None,
    args: LabelArguments | None = None,
) -> pl.DataFrame:
    """`doc_id`, `aggregate`, `label` (1 positive, 0 negative) for the documents chosen to train on.

    `scores` holds `doc_id`, `doc_grad_norm` and per-nat score columns named by probe id.
    """
    args = args or LabelArguments()
    if args.per_grad_norm:
        norms = scores["doc_grad_norm"].cast(pl.Float64)
        if not norms.is_finite().all():
            # The random baseline computes no gradients; NaN norms would leave every aggregate NaN and the
            # ranking in file order, which on a corpus stored by source looks like a perfect classifier.
            raise InputError("--per-grad-norm needs document gradient norms, and these scores have none "
                             "(method random computes no gradients): rank them without it")
        norm = pl.col("doc_grad_norm").clip(lower_bound=1e-12)
        scores = scores.with_columns([pl.col(c) / norm for c in reasoning_probes + (factual_probes or [])])
    aggregate = aggregate_scores(scores, reasoning_probes, args.aggregate)
    if args.against_factual:
        if not factual_probes:
            raise InputError("--against-factual needs factual probes among the scored ones")
        aggregate = against_factual(aggregate, aggregate_scores(scores, factual_probes, args.aggregate))
    if not np.isfinite(aggregate).all():
        raise InputError(f"{int((~np.isfinite(aggregate)).sum())} documents have non-finite scores; rescore them")
    n = len(aggregate)
    order = np.argsort(-aggregate, kind="stable")
    k = _count(args.top_k, n)
    positives = order[:k]
    if args.exclude_factual and factual_probes:
        factual = aggregate_scores(scores, factual_probes, args.aggregate)
        factual_top = set(np.argsort(-factual, kind="stable")[:k].tolist())
        positives = np.array([i for i in positives if i not in factual_top], dtype=np.int64)

    rank_percentile = np.empty(n)
    rank_percentile[order[::-1]] = np.arange(n) / max(1, n - 1)
    taken = set(positives.tolist())
    n_negatives = round(args.negatives_per_positive * len(positives))
    rng = np.random.default_rng(args.seed)

    def sample(mask: np.ndarray, count: int) -> np.ndarray:
        pool = np.array([i for i in np.flatnonzero(mask) if i not in taken], dtype=np.int64)
        return rng.choice(pool, size=min(count, len(pool)), replace=False) if len(pool) else pool

    n_bottom = round(n_negatives * args.bottom_share)
    bottom = sample(rank_percentile <= args.bottom, n_bottom)
    taken |= set(bottom.tolist())
    low, high = args.middle
    middle = sample((rank_percentile >= low) & (rank_percentile <= high), n_negatives - len(bottom))
    chosen = np.concatenate([positives, bottom, middle]).astype(np.int64)
    labels = np.concatenate([np.ones(len(positives)), np.zeros(len(bottom) + len(middle))]).astype(np.int8)
    return pl.DataFrame(
        {"doc_id": scores["doc_id"].gather(chosen), "aggregate": aggregate[chosen], "label": labels}
    ).with_columns(pl.col("doc_id").cast(pl.Utf8))
