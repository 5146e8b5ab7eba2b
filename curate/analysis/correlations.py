"""Pearson correlation of document scores between every pair of probes (Ruis et al. 2024, Finding 1).

If probes of one reasoning task draw on the same procedural documents, their score vectors over the corpus
correlate; factual probes, each drawing on the few documents that state its fact, should not. Per set, the
within-task correlation says which reasoning sets (maths, code tracing, how-to...) share their documents.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from curate.analysis.common import ordered_probes, set_order
from curate.probes.sets import Probe

RELATIONS = ("within_task", "across_task", "factual_factual", "reasoning_factual", "other")
_ROWS_PER_CHUNK = 65_536


def correlation_matrix(scores: pl.DataFrame, probes: list[Probe]) -> pl.DataFrame:
    """Probes × probes Pearson correlations: a `probe` column, then one column per probe, grouped by set."""
    probes = ordered_probes(scores, probes)
    ids = [p.id for p in probes]
    values = scores.select(ids).to_numpy()
    # Accumulate the centred cross-product in float64 chunks: exact enough for millions of documents
    # without a float64 copy of the whole score matrix. NaN counts as 0, as in `probe_values`.
    mean = np.nansum(values, axis=0, dtype=np.float64) / max(len(values), 1)
    cross = np.zeros((len(ids), len(ids)))
    for start in range(0, len(values), _ROWS_PER_CHUNK):
        centred = np.nan_to_num(values[start:start + _ROWS_PER_CHUNK].astype(np.float64)) - mean
        cross += centred.T @ centred
    scale = np.sqrt(np.diag(cross))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = cross / np.outer(scale, scale)
    return pl.DataFrame({"probe": ids, **{probe_id: r[:, i] for i, probe_id in enumerate(ids)}})


def relation(a: Probe, b: Probe) -> str:
    """How two probes relate, for averaging their correlation with others of the same relation."""
    if a.kind == b.kind == "reasoning":
        return "within_task" if a.set == b.set else "across_task"
    if a.kind == b.kind == "factual":
        return "factual_factual"
    if {a.kind, b.kind} == {"reasoning", "factual"}:
        return "reasoning_factual"
    return "other"


def correlation_pairs(matrix: pl.DataFrame, probes: list[Probe]) -> pl.DataFrame:
    """One row per unordered pair of distinct probes: ids, sets, `relation` and `r`."""
    by_id = {p.id: p for p in probes}
    ids = matrix["probe"].to_list()
    r = matrix.select(ids).to_numpy()
    rows = [
        {"probe_a": a, "probe_b": b, "set_a": by_id[a].set, "set_b": by_id[b].set,
         "relation": relation(by_id[a], by_id[b]), "r": float(r[i, j])}
        for i, a in enumerate(ids) for j, b in enumerate(ids) if i < j
    ]
    schema = {"probe_a": pl.String, "probe_b": pl.String, "set_a": pl.String, "set_b": pl.String,
              "relation": pl.String, "r": pl.Float64}
    return pl.DataFrame(rows, schema=schema)


def correlation_summary(pairs: pl.DataFrame, by: tuple[str, ...] = ("relation",)) -> pl.DataFrame:
    """Mean, median and count of pair correlations per group: by relation, or e.g. by ("set_a", "set_b")."""
    summary = pairs.group_by(list(by)).agg(
        mean_r=pl.col("r").mean(), median_r=pl.col("r").median(), pairs=pl.len()
    )
    if by == ("relation",):
        order = {name: i for i, name in enumerate(RELATIONS)}
        return summary.sort(pl.col("relation").replace_strict(order, default=len(order)))
    return summary.sort([set_order(c) if c.startswith("set") else pl.col(c) for c in by])


def within_task_by_set(pairs: pl.DataFrame) -> pl.DataFrame:
    """Per reasoning set: mean and median r between two of its probes (its within-task correlation), their
    count, and the mean r between one of its probes and one of another reasoning set (`across_mean_r`)."""
    within = pairs.filter(pl.col("relation") == "within_task").group_by(set="set_a").agg(
        mean_r=pl.col("r").mean(), median_r=pl.col("r").median(), pairs=pl.len()
    )
    across = pairs.filter(pl.col("relation") == "across_task")
    across = pl.concat([across.select(set="set_a", r="r"), across.select(set="set_b", r="r")]).group_by("set").agg(
        across_mean_r=pl.col("r").mean()
    )
    return within.join(across, on="set", how="left").sort(set_order())


def plot_correlation_matrix(matrix: pl.DataFrame, probes: list[Probe], path: str | Path) -> Path:
    """Heatmap of the matrix with each probe set's block outlined and labelled."""
    from curate.plots import new_figure, save_figure

    by_id = {p.id: p for p in probes}
    ids = matrix["probe"].to_list()
    sets = [by_id[i].set for i in ids]
    size = min(12.0, 4.0 + 0.06 * len(ids))
    fig, ax = new_figure(size + 1.5, size)
    image = ax.imshow(matrix.select(ids).to_numpy(), cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    fig.colorbar(image, ax=ax, label="Pearson r", shrink=0.8)
    starts = [i for i, name in enumerate(sets) if i == 0 or sets[i - 1] != name]
    ends = starts[1:] + [len(sets)]
    for boundary in starts[1:]:
        ax.axhline(boundary - 0.5, color="black", linewidth=0.6)
        ax.axvline(boundary - 0.5, color="black", linewidth=0.6)
    centres = [(s + e - 1) / 2 for s, e in zip(starts, ends, strict=True)]
    labels = [sets[s] for s in starts]
    ax.set_xticks(centres, labels, rotation=45, ha="right")
    ax.set_yticks(centres, labels)
    ax.set_title("Correlation of document scores between probes")
    return save_figure(fig, path)
