"""Reading score files (DESIGN.md "Scores"): `part-*.parquet` plus `probes.json`, per-nat normalised.

Kept free of torch and scikit-learn so reports and notebooks load scores quickly.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from curate.errors import InputError


def load_per_nat_scores(scores_dir: str | Path) -> tuple[pl.DataFrame, dict]:
    """All score parts with every probe column divided by that probe's completion nats; and `probes.json`."""
    scores_dir = Path(scores_dir)
    meta_path = scores_dir / "probes.json"
    if not meta_path.exists() or not list(scores_dir.glob("part-*.parquet")):
        raise InputError(f"{scores_dir}: no scores (probes.json and part-*.parquet); run `curate score` first")
    meta = json.loads(meta_path.read_text())
    nats = {p["id"]: p["nats"] for p in meta["probes"]}
    scores = pl.scan_parquet(scores_dir / "part-*.parquet").with_columns(
        [pl.col(probe_id) / max(value, 1e-12) for probe_id, value in nats.items()]
    )
    return scores.collect(), meta
