"""What every analysis shares: probe order, top-of-ranking indices, and the corpus metadata table.

The analyses take three inputs, all plain and notebook-friendly:
  scores     polars DataFrame, one row per document: `doc_id`, `doc_grad_norm`, one per-nat score column per
             probe id (`load_per_nat_scores`);
  probes     list of `curate.probes.sets.Probe` whose ids are score columns;
  documents  polars DataFrame from `load_documents`: `doc_id`, `source`, optional ground-truth columns
             (e.g. `procedural`), and `text` (null for documents whose text was not kept).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import polars as pl

from curate.analysis_arguments import AGGREGATIONS
from curate.errors import InputError
from curate.probes.sets import KINDS, Probe, set_order, set_rank  # noqa: F401 (set_order re-exported)

UNKNOWN = "unknown"
KIND_COLOURS = {"reasoning": "tab:blue", "factual": "tab:orange", "control": "tab:gray"}


def ordered_probes(scores: pl.DataFrame, probes: Iterable[Probe]) -> list[Probe]:
    """The probes that have a score column, grouped by set (in PROBE_SETS order), then by id."""
    columns = set(scores.columns)
    kept = [p for p in probes if p.id in columns]
    if not kept:
        raise InputError(f"none of the probes has a score column (columns: {scores.columns[:8]}...)")
    return sorted(kept, key=lambda p: (set_rank(p.set), p.set, p.id))


def ordered_kinds(kinds: Iterable[str]) -> list[str]:
    """The distinct kinds given, in KINDS order (unknown kinds last)."""
    found = set(kinds)
    return [kind for kind in KINDS if kind in found] + sorted(found - set(KINDS))


def probe_values(scores: pl.DataFrame, probe: Probe) -> np.ndarray:
    """A probe's per-nat scores as float64, NaN (a document that failed to score) counted as 0."""
    return np.nan_to_num(scores[probe.id].to_numpy().astype(np.float64), nan=0.0)


def aggregate_scores(scores: pl.DataFrame, probe_columns: list[str], method: str = "rank") -> np.ndarray:
    """One aggregate per document over the given probes' per-nat score columns: "magnitude" (mean
    |score / rms|, how the classifier's labels rank documents: `curate.classify.labels` says why), "signed"
    (mean score / rms: pushes towards the completion count, pulls away against it), "breadth" (the share of the
    probes in whose top tenth by |score| the document is: Ruis et al.'s procedural documents are shared across
    a task's probes, where one probe's outlier counts once), "rank" (mean rank percentile) or "zscore" (mean
    signed z)."""
    if not probe_columns:
        raise InputError("no probes to aggregate over")
    matrix = scores.select(probe_columns).to_numpy().astype(np.float64)
    if method == "rank":
        ranks = matrix.argsort(axis=0).argsort(axis=0)
        return (ranks / max(1, len(matrix) - 1)).mean(axis=1)
    if method == "zscore":
        std = matrix.std(axis=0)
        return ((matrix - matrix.mean(axis=0)) / np.where(std > 0, std, 1)).mean(axis=1)
    if method in ("magnitude", "signed"):  # scaled, not centred: zero influence stays in the middle or bottom
        rms = np.sqrt((matrix**2).mean(axis=0))
        scaled = matrix / np.where(rms > 0, rms, 1)
        return (np.abs(scaled) if method == "magnitude" else scaled).mean(axis=1)
    if method == "breadth":
        magnitude = np.abs(matrix)
        return (magnitude >= np.quantile(magnitude, 0.9, axis=0)).mean(axis=1)
    raise InputError(f"unknown aggregation {method!r}; choose {', '.join(AGGREGATIONS)}")


def percentiles(values: np.ndarray) -> np.ndarray:
    """Each value's rank among them, 0 (lowest) to 1 (highest); tied values share their mean rank."""
    from scipy.stats import rankdata

    return (rankdata(values, method="average") - 1) / max(1, len(values) - 1)


def against_factual(reasoning: np.ndarray, factual: np.ndarray) -> np.ndarray:
    """Ruis et al.'s contrast per document: its rank percentile by a reasoning aggregate minus its rank percentile
    by the factual aggregate, how much more it moves the reasoning probes than the factual ones."""
    return percentiles(reasoning) - percentiles(factual)


def top_order(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values, largest first (ties among them in position order)."""
    k = min(k, len(values))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if k < len(values):
        # argpartition keeps this O(N) for the large corpora where only the top matters.
        candidates = np.argpartition(-values, k - 1)[:k]
    else:
        candidates = np.arange(len(values))
    return candidates[np.lexsort((candidates, -values[candidates]))]


def capped(ks: Iterable[int], n: int) -> list[int]:
    """The ks, each capped at the corpus size n, without duplicates, ascending."""
    return sorted({max(1, min(int(k), n)) for k in ks}) if n else []


def snippet(text: str | None, chars: int = 300) -> str:
    if not text:
        return ""
    flat = " ".join(text.split())
    return flat if len(flat) <= chars else flat[: chars - 1] + "…"


def load_documents(
    corpus_path: str | Path,
    text_ids: set[str] | None = None,
    text_key: str = "text",
    id_key: str = "id",
    truth_keys: tuple[str, ...] = ("procedural", "task"),
) -> pl.DataFrame:
    """Per document: `doc_id`, `source` ("unknown" where missing), each of `truth_keys` that some document
    carries, and `text` for the documents in `text_ids` (all of them when None; null for the rest, so a large
    corpus's text never has to fit in memory)."""
    from curate.corpus.io import read_documents  # datatrove: needed only to read a corpus, not to analyse

    rows: dict[str, list] = {"doc_id": [], "source": [], "text": [], **{key: [] for key in truth_keys}}
    for document in read_documents(corpus_path, text_key, id_key):
        doc_id = str(document.id)
        rows["doc_id"].append(doc_id)
        rows["source"].append(str(document.metadata.get("source") or UNKNOWN))
        rows["text"].append(document.text if text_ids is None or doc_id in text_ids else None)
        for key in truth_keys:
            rows[key].append(document.metadata.get(key))
    if not rows["doc_id"]:
        raise InputError(f"{corpus_path}: the corpus has no documents")
    frame = pl.DataFrame(rows, schema_overrides={"text": pl.String, "doc_id": pl.String, "source": pl.String},
                         strict=False)
    absent = [key for key in truth_keys if frame[key].null_count() == frame.height]
    return frame.drop(absent)


def with_documents(scores: pl.DataFrame, documents: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """`columns` of `documents` aligned row by row with `scores`: documents missing from the corpus get nulls,
    and an id the corpus repeats takes its first document, so rows never multiply."""
    unique = documents.select("doc_id", *columns).unique("doc_id", keep="first", maintain_order=True)
    return scores.select("doc_id").join(unique, on="doc_id", how="left", maintain_order="left")
