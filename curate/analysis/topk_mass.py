"""How much of a probe's positive influence its top documents carry (Ruis et al. 2024, Finding 2).

For each top-k percentile of a probe's ranking: the total positive influence of those documents (per nat)
and its share of the probe's total positive influence over the corpus. Negative scores never add to the
total, so the share grows with k and reaches 1 once every positive document is included. A factual probe
whose answer sits in a few documents has a larger share in its top 0.01% than a reasoning probe drawing
on many procedural documents.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl

from curate.analysis.common import KIND_COLOURS, ordered_kinds, ordered_probes, probe_values
from curate.analysis_arguments import PERCENTILES
from curate.probes.sets import Probe


def topk_mass(scores: pl.DataFrame, probes: list[Probe], percentiles: tuple[float, ...] = PERCENTILES) -> pl.DataFrame:
    """Per probe and percentile p: k (the top p% of documents, at least 1, at most all), `total` positive
    influence of those k documents, and `share` of the probe's total positive influence (NaN if it has none)."""
    n = scores.height
    rows = []
    for probe in ordered_probes(scores, probes):
        positive = np.clip(np.sort(probe_values(scores, probe))[::-1], 0.0, None)
        cumulative = np.cumsum(positive)
        overall = cumulative[-1] if n else 0.0
        for percentile in percentiles:
            k = min(n, max(1, math.ceil(percentile / 100 * n)))
            total = float(cumulative[k - 1]) if n else 0.0
            rows.append({"probe": probe.id, "set": probe.set, "kind": probe.kind, "percentile": float(percentile),
                         "k": k, "total": total, "share": total / overall if overall > 0 else float("nan")})
    return pl.DataFrame(rows, schema={"probe": pl.String, "set": pl.String, "kind": pl.String,
                                      "percentile": pl.Float64, "k": pl.Int64, "total": pl.Float64,
                                      "share": pl.Float64})


def summarise_topk_mass(mass: pl.DataFrame, by: str = "kind") -> pl.DataFrame:
    """Mean total and share over the probes of each kind (or set), per percentile."""
    return mass.group_by(by, "percentile").agg(
        k=pl.col("k").first(), mean_total=pl.col("total").mean(), mean_share=pl.col("share").mean(),
        probes=pl.len(),
    ).sort(by, "percentile")


def plot_topk_mass(mass: pl.DataFrame, path: str | Path) -> Path:
    """Mean total influence (left) and share of positive influence (right) against percentile, per kind."""
    from curate.plots import plt, save_figure

    summary = summarise_topk_mass(mass)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for kind in ordered_kinds(summary["kind"]):
        rows = summary.filter(pl.col("kind") == kind)
        colour = KIND_COLOURS.get(kind)
        left.plot(rows["percentile"], rows["mean_total"], marker="o", label=kind, color=colour)
        right.plot(rows["percentile"], rows["mean_share"], marker="o", label=kind, color=colour)
    percentiles = sorted(summary["percentile"].unique().to_list())
    for ax, label in ((left, "total positive influence (per nat)"), (right, "share of positive influence")):
        ax.set_xscale("log")
        ax.set_xticks(percentiles, [f"{p:g}" for p in percentiles])
        ax.minorticks_off()
        ax.set(xlabel="top-k percentile of the ranking (%)", ylabel=label)
        ax.legend()
    right.set_ylim(0, 1.02)
    fig.suptitle("Influence carried by the top of each ranking (mean over probes)")
    return save_figure(fig, path)
