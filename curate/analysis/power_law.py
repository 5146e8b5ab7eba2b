"""Power-law fit to the top of each ranking (Ruis et al. 2024: influence falls off as a power of rank).

log(score) = intercept + slope · log(rank) over the top documents of each probe's ranking: the top
`top_fraction` of the corpus (the paper's 0.01%), but never fewer than `min_docs`, so a small corpus still
gets a fit. Only positive scores enter (a log needs them). A steeper (more negative) slope means the
influence is concentrated in fewer documents; the paper finds reasoning slopes shallower than factual
ones and compares them with a Welch t-test.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl

from curate.analysis.common import KIND_COLOURS, ordered_probes, probe_values, top_order
from curate.analysis_arguments import MIN_DOCS, TOP_FRACTION
from curate.probes.sets import Probe


def fit_count(n: int, top_fraction: float = TOP_FRACTION, min_docs: int = MIN_DOCS) -> int:
    """How many top documents a fit uses in a corpus of n."""
    return min(n, max(min_docs, math.ceil(top_fraction * n)))


def power_law_fits(
    scores: pl.DataFrame, probes: list[Probe], top_fraction: float = TOP_FRACTION, min_docs: int = MIN_DOCS
) -> pl.DataFrame:
    """Per probe: documents fitted, `slope`, `intercept` (natural logs) and `r2` of the log-log line; NaN
    where fewer than 3 of the top documents have a positive score."""
    count = fit_count(scores.height, top_fraction, min_docs)
    rows = []
    for probe in ordered_probes(scores, probes):
        values = probe_values(scores, probe)
        top = values[top_order(values, count)]
        top = top[top > 0]
        slope = intercept = r2 = float("nan")
        if len(top) >= 3:
            log_rank, log_score = np.log(np.arange(1, len(top) + 1)), np.log(top)
            slope, intercept = np.polyfit(log_rank, log_score, 1)
            residual = log_score - (intercept + slope * log_rank)
            spread = np.sum((log_score - log_score.mean()) ** 2)
            r2 = 1 - np.sum(residual**2) / spread if spread > 0 else float("nan")
        rows.append({"probe": probe.id, "set": probe.set, "kind": probe.kind, "documents": len(top),
                     "slope": float(slope), "intercept": float(intercept), "r2": float(r2)})
    return pl.DataFrame(rows, schema={"probe": pl.String, "set": pl.String, "kind": pl.String,
                                      "documents": pl.Int64, "slope": pl.Float64, "intercept": pl.Float64,
                                      "r2": pl.Float64})


def compare_slopes(fits: pl.DataFrame, kind_a: str = "reasoning", kind_b: str = "factual") -> dict:
    """Mean slope of each kind and Welch's t-test between them (NaN where a kind has fewer than 2 fits)."""
    from scipy import stats

    a = fits.filter((pl.col("kind") == kind_a) & pl.col("slope").is_not_nan())["slope"].to_numpy()
    b = fits.filter((pl.col("kind") == kind_b) & pl.col("slope").is_not_nan())["slope"].to_numpy()
    t = p = float("nan")
    if len(a) >= 2 and len(b) >= 2:
        result = stats.ttest_ind(a, b, equal_var=False)
        t, p = float(result.statistic), float(result.pvalue)
    return {f"{kind_a}_slope": float(a.mean()) if len(a) else float("nan"), f"{kind_a}_probes": len(a),
            f"{kind_b}_slope": float(b.mean()) if len(b) else float("nan"), f"{kind_b}_probes": len(b),
            "welch_t": t, "p_value": p}


def plot_power_law(
    scores: pl.DataFrame, probes: list[Probe], fits: pl.DataFrame, path: str | Path,
    top_fraction: float = TOP_FRACTION, min_docs: int = MIN_DOCS,
) -> Path:
    """Score against rank on log-log axes for every probe (left), and each set's fitted slopes (right)."""
    from curate.plots import plt, save_figure

    count = fit_count(scores.height, top_fraction, min_docs)
    fig, (curves, slopes) = plt.subplots(1, 2, figsize=(11, 4.2))
    labelled = set()
    for probe in ordered_probes(scores, probes):
        values = probe_values(scores, probe)
        top = values[top_order(values, count)]
        top = top[top > 0]
        label = None if probe.kind in labelled else probe.kind
        labelled.add(probe.kind)
        curves.plot(np.arange(1, len(top) + 1), top, color=KIND_COLOURS.get(probe.kind), alpha=0.5,
                    linewidth=0.8, label=label)
    curves.set(xscale="log", yscale="log", xlabel="rank", ylabel="score (per nat)",
               title=f"Top {count} documents per probe")
    curves.legend()
    sets = fits.filter(pl.col("slope").is_not_nan()).select("set", "kind").unique(maintain_order=True)
    for position, (name, kind) in enumerate(sets.iter_rows()):
        values = fits.filter((pl.col("set") == name) & pl.col("slope").is_not_nan())["slope"].to_numpy()
        jitter = np.linspace(-0.15, 0.15, len(values)) if len(values) > 1 else np.zeros(1)
        slopes.scatter(position + jitter, values, color=KIND_COLOURS.get(kind), s=14)
        slopes.hlines(values.mean(), position - 0.3, position + 0.3, color="black")
    slopes.set_xticks(range(sets.height), sets["set"].to_list(), rotation=30, ha="right")
    slopes.set(ylabel="log-log slope", title="Power-law slopes (bar: set mean)")
    return save_figure(fig, path)
