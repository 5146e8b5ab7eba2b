"""The paper's analyses of influence scores (Ruis et al. 2024), each a function returning a polars DataFrame
plus a plot function, usable from a notebook:

    from attribution.scores import load_per_nat_scores
    from curate.analysis import *
    from curate.probes.sets import read_probes
    scores, meta = load_per_nat_scores("runs/x/scores")
    probes = read_probes("runs/x/probes/probes.jsonl")
    documents = load_documents("runs/x/corpus")
    pairs = correlation_pairs(correlation_matrix(scores, probes), probes)
    correlation_summary(pairs)

`curate.report.build_report` runs them all and writes the HTML report.
"""

from curate.analysis.answers import (
    answer_search,
    answer_targets,
    plot_answers,
    searched_documents,
    step_equations,
    summarise_answers,
)
from curate.analysis.common import load_documents, ordered_probes, set_order
from curate.analysis.correlations import (
    correlation_matrix,
    correlation_pairs,
    correlation_summary,
    plot_correlation_matrix,
    within_task_by_set,
)
from curate.analysis.power_law import compare_slopes, plot_power_law, power_law_fits
from curate.analysis.separation import plot_separation, separation, summarise_separation
from curate.analysis.sources import over_representation, plot_representation, summarise_representation
from curate.analysis.top_documents import top_document_ids, top_documents
from curate.analysis.topk_mass import plot_topk_mass, summarise_topk_mass, topk_mass

__all__ = [
    "answer_search", "answer_targets", "compare_slopes", "correlation_matrix", "correlation_pairs",
    "correlation_summary", "load_documents", "ordered_probes", "over_representation", "plot_answers",
    "plot_correlation_matrix", "plot_power_law", "plot_representation", "plot_separation", "plot_topk_mass",
    "power_law_fits", "searched_documents", "separation", "set_order", "step_equations", "summarise_answers",
    "summarise_representation", "summarise_separation", "summarise_topk_mass", "top_document_ids", "top_documents",
    "topk_mass", "within_task_by_set",
]
