"""Which kinds of documents crowd the top and bottom of the rankings (Ruis et al. 2024, Finding 5).

For each probe and k, the share of each value of a document column (`source`, or ground truth such as
`procedural`) among its top-k and bottom-k documents, against that value's share of the whole corpus. A
ratio above 1 means over-represented: the paper finds code, StackExchange and arXiv over-represented in the
top of reasoning rankings, Wikipedia and trivia in the top of factual ones. Averaged per kind, and per set to
see which reasoning sets (maths, code tracing, how-to...) draw on which sources.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from curate.analysis.common import (
    UNKNOWN,
    capped,
    ordered_kinds,
    ordered_probes,
    probe_values,
    set_order,
    top_order,
    with_documents,
)
from curate.analysis_arguments import KS
from curate.probes.sets import Probe

SIDES = ("top", "bottom")


def over_representation(
    scores: pl.DataFrame, probes: list[Probe], documents: pl.DataFrame, column: str = "source",
    ks: tuple[int, ...] = KS,
) -> pl.DataFrame:
    """Per probe, side (top / bottom), k (capped at the corpus size) and value of `column`: `share` of the k
    documents with that value, `corpus_share`, and `ratio` = share / corpus_share. Values are compared as
    strings (a boolean `procedural` becomes "true" / "false"); documents missing from `documents` count as
    "unknown"."""
    labels = with_documents(scores, documents, [column])[column].cast(pl.String).fill_null(UNKNOWN)
    values, codes = np.unique(labels.to_numpy().astype(str), return_inverse=True)
    corpus_share = np.bincount(codes, minlength=len(values)) / max(len(codes), 1)
    ks_capped = capped(ks, scores.height)
    rows = []
    for probe in ordered_probes(scores, probes):
        scored = probe_values(scores, probe)
        for side, signed in (("top", scored), ("bottom", -scored)):
            ranked = codes[top_order(signed, max(ks_capped, default=0))]  # once per side; each k is a prefix
            for k in ks_capped:
                share = np.bincount(ranked[:k], minlength=len(values)) / k
                rows.extend(
                    {"probe": probe.id, "set": probe.set, "kind": probe.kind, "side": side, "k": k,
                     column: str(value), "share": float(share[i]), "corpus_share": float(corpus_share[i]),
                     "ratio": float(share[i] / corpus_share[i])}
                    for i, value in enumerate(values)
                )
    return pl.DataFrame(rows, schema={"probe": pl.String, "set": pl.String, "kind": pl.String, "side": pl.String,
                                      "k": pl.Int64, column: pl.String, "share": pl.Float64,
                                      "corpus_share": pl.Float64, "ratio": pl.Float64})


def summarise_representation(rows: pl.DataFrame, column: str = "source", by: str = "kind") -> pl.DataFrame:
    """Mean share and mean ratio over the probes of each kind (or set, with its kind), per side, k and value."""
    kind = [pl.col("kind").first()] if by != "kind" else []
    return rows.group_by(by, "side", "k", column).agg(
        *kind, mean_share=pl.col("share").mean(), corpus_share=pl.col("corpus_share").first(),
        mean_ratio=pl.col("ratio").mean(), probes=pl.len(),
    ).sort(set_order() if by == "set" else by, "side", "k", column)


def plot_representation(rows: pl.DataFrame, path: str | Path, column: str = "source") -> Path:
    """Mean ratio against k, one line per value: a panel per probe kind, top (solid) and bottom (dashed)."""
    from curate.plots import plt, save_figure

    summary = summarise_representation(rows, column)
    kinds = ordered_kinds(summary["kind"])
    fig, axes = plt.subplots(1, max(len(kinds), 1), figsize=(4.2 * max(len(kinds), 1), 4), sharey=True,
                             squeeze=False)
    values = sorted(summary[column].unique().to_list())
    colours = {value: plt.get_cmap("tab10")(i % 10) for i, value in enumerate(values)}
    for ax, kind in zip(axes[0], kinds, strict=False):
        for value in values:
            for side, style in (("top", "-"), ("bottom", "--")):
                line = summary.filter((pl.col("kind") == kind) & (pl.col("side") == side) & (pl.col(column) == value))
                ax.plot(line["k"], line["mean_ratio"], style, marker="o", markersize=3, color=colours[value],
                        label=value if side == "top" else None)
        ax.axhline(1.0, color="black", linewidth=0.6)
        ax.set(xscale="log", xlabel="k (solid: top-k, dashed: bottom-k)", title=f"{kind} probes")
        ks = sorted(summary["k"].unique().to_list())
        ax.set_xticks(ks, [str(k) for k in ks], minor=False)
        ax.minorticks_off()
    axes[0][0].set_ylabel(f"share among k / share in corpus ({column})")
    axes[0][-1].legend(fontsize=8)
    fig.suptitle(f"Over-representation of each {column} in the rankings (mean over probes)")
    return save_figure(fig, path)
