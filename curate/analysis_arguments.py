"""`curate influence report`'s settings and the defaults of the analyses in `curate.analysis` (nothing heavy imported,
so the CLI builds its flags from them quickly; polars and numpy load with the analyses)."""

from __future__ import annotations

from dataclasses import dataclass

from attribution.options import option

# Each analysis module's default, kept here so that the report's flags show them without loading the analyses.
PERCENTILES = (0.01, 0.1, 1.0, 5.0, 10.0, 20.0, 50.0)  # topk_mass
TOP_FRACTION = 1e-4  # power_law
MIN_DOCS = 20  # power_law
TOP_K = 500  # answers
KS = (50, 100, 500, 1000, 5000, 10000, 50000)  # sources
TOP_N = 10  # top_documents
AGGREGATIONS = ("magnitude", "signed", "breadth", "rank", "zscore")  # aggregate_scores: labels, separation


@dataclass
class ReportArguments:
    percentiles: tuple[float, ...] = PERCENTILES  # top-k mass (a comma-separated flag, added by the command)
    top_fraction: float = option(TOP_FRACTION, "power-law fit over this share of the top of each ranking ...")
    min_docs: int = option(MIN_DOCS, "... but over at least this many documents", flag="--min-documents")
    answer_top_k: int = option(TOP_K, "search each probe's answer in its top k documents")
    source_ks: tuple[int, ...] = KS  # over-representation (a comma-separated flag, added by the command)
    headline_k: int = option(100, "the k whose over-representation is printed")
    top_documents: int = option(TOP_N, "documents shown per probe")
    snippet_chars: int = 300
    truth_key: str = option("procedural", "ground-truth metadata field to report on, if the corpus has it")
    seed: int = option(0, "seed of the answer search's random-documents baseline")
    text_key: str = option("text", "field holding the document text")
    id_key: str = option("id", "field holding the document id")
