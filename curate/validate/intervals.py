"""Mean and 95% confidence interval over seeds (Student t), the one summary every validation table uses."""

from __future__ import annotations

import polars as pl
from scipy import stats


def mean_and_interval(frame: pl.DataFrame, by: list[str], value: str) -> pl.DataFrame:
    """Per group: n, mean, and the half-width of the 95% t-interval of `value` (NaN for n < 2)."""
    grouped = frame.group_by(by, maintain_order=True).agg(
        pl.len().alias("n"), pl.col(value).mean().alias("mean"), pl.col(value).std().alias("std")
    )
    t = [stats.t.ppf(0.975, n - 1) if n > 1 else float("nan") for n in grouped["n"]]
    return grouped.with_columns(ci95=pl.Series(t) * pl.col("std") / pl.col("n").cast(pl.Float64).sqrt()).sort(
        by
    )
