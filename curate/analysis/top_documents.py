"""Each probe's most influential documents, for reading (Ruis et al. 2024's qualitative analysis).

Ranked by per-nat score divided by the document's gradient norm, as in the paper: raw influence favours
documents with large gradients (long or unusual text) whatever their content; the normalised score asks
how well aligned a document is with the probe.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from curate.analysis.common import ordered_probes, probe_values, snippet, top_order, with_documents
from curate.analysis_arguments import TOP_N
from curate.probes.sets import Probe


def normalised_values(scores: pl.DataFrame, probe: Probe) -> np.ndarray:
    """A probe's per-nat scores over the documents' gradient norms (documents with no gradient rank last)."""
    norms = scores["doc_grad_norm"].to_numpy().astype(np.float64)
    values = probe_values(scores, probe)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(norms > 0, values / norms, -np.inf)


def top_document_ids(scores: pl.DataFrame, probes: list[Probe], n: int = TOP_N) -> set[str]:
    """Ids of every probe's top n documents by normalised score (the texts `top_documents` will need)."""
    doc_ids = scores["doc_id"].to_numpy()
    return {str(i) for p in ordered_probes(scores, probes) for i in doc_ids[top_order(normalised_values(scores, p), n)]}


def top_documents(
    scores: pl.DataFrame, probes: list[Probe], documents: pl.DataFrame, n: int = TOP_N, snippet_chars: int = 300
) -> pl.DataFrame:
    """Per probe, its top n documents: rank, doc_id, per-nat `score`, `normalised_score`, the `documents`
    columns other than text (source, ground truth), and a text `snippet`."""
    extra = [c for c in documents.columns if c not in ("doc_id", "text")]
    aligned = with_documents(scores, documents, [*extra, "text"])
    rows = []
    for probe in ordered_probes(scores, probes):
        normalised = normalised_values(scores, probe)
        order = top_order(normalised, n)
        raw = probe_values(scores, probe)
        for rank, index in enumerate(order, start=1):
            row = aligned.row(int(index), named=True)
            rows.append({"probe": probe.id, "set": probe.set, "kind": probe.kind, "rank": rank,
                         "doc_id": row["doc_id"], "score": float(raw[index]),
                         "normalised_score": float(normalised[index]),
                         **{c: row[c] for c in extra}, "snippet": snippet(row["text"], snippet_chars)})
    return pl.DataFrame(rows, schema_overrides={"doc_id": pl.String, "snippet": pl.String}, infer_schema_length=None)
