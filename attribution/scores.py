"""Reading score files (`attribution.ekfac.scoring` describes them): `part-*.parquet` plus `probes.json`, per-nat
normalised.

Kept free of torch and scikit-learn so reports and notebooks load scores quickly.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from attribution.errors import InputError
from attribution.io import MANIFEST_FILE


def load_per_nat_scores(scores_dir: str | Path) -> tuple[pl.DataFrame, dict]:
    """All score parts with every probe column divided by that probe's completion nats; and `probes.json`.
    The parts must hold each document once and, where the folder's manifest says how many documents the whole
    scores hold (`curate influence score` records it when it finishes), that many."""
    scores_dir = Path(scores_dir)
    meta_path = scores_dir / "probes.json"
    if not meta_path.exists() or not list(scores_dir.glob("part-*.parquet")):
        raise InputError(f"{scores_dir}: no scores (probes.json and part-*.parquet); run `curate influence score` first")
    meta = json.loads(meta_path.read_text())
    nats = {p["id"]: p["nats"] for p in meta["probes"]}
    try:
        scores = pl.scan_parquet(scores_dir / "part-*.parquet").with_columns(
            [pl.col(probe_id) / max(value, 1e-12) for probe_id, value in nats.items()]
        ).collect()
    except (pl.exceptions.PolarsError, OSError) as error:
        raise InputError(f"{scores_dir}: unreadable score parts ({str(error).splitlines()[0]}); "
                         "rerun `curate influence score` (with --overwrite)") from None
    manifest_path = scores_dir / MANIFEST_FILE
    if manifest_path.exists():
        try:
            complete = json.loads(manifest_path.read_text()).get("complete")
        except (ValueError, AttributeError):  # not JSON, or not an object
            raise InputError(f"{manifest_path} is unreadable; rerun `curate influence score --overwrite`") from None
        if complete is None:
            raise InputError(f"{scores_dir}: scoring has not finished (interrupted, or still running); "
                             "rerun the same `curate influence score` command to finish it")
        if scores.height != complete["documents"]:
            raise InputError(f"{scores_dir}: {scores.height} rows, but the finished scores held {complete['documents']} "
                             "documents; parts were removed or added since: rerun `curate influence score` (with --overwrite)")
    repeated = scores.filter(pl.col("doc_id").is_duplicated())["doc_id"]
    if len(repeated):
        raise InputError(f"{scores_dir}: document {repeated[0]!r} has more than one row; the parts come from "
                         "different runs: rerun `curate influence score --overwrite`")
    return scores, meta
