"""EK-FAC influence functions for causal LMs (Grosse et al. 2023, as used by Ruis et al. 2024).

    factors = fit_factors(model, tokenizer, documents, FactorArguments())
    queries = precondition_queries(model, tokenizer, probes, factors, ScoreArguments(rank=32))
    scores = score_documents(model, tokenizer, documents, queries)   # scores.scores: (documents, probes)

A positive score means the document raises the probe's log p(completion | prompt); see `precondition`.
"""

from attribution.ekfac.data import Skipped, sample_labels
from attribution.ekfac.factors import (
    Eigenbasis,
    FactorArguments,
    Factors,
    Statistics,
    eigendecompose,
    fit_covariances,
    fit_factors,
    fit_lambdas,
    merge,
    model_fingerprint,
)
from attribution.ekfac.modules import DEFAULT_MODULES, find_modules
from attribution.ekfac.precondition import Queries, ScoreArguments, precondition_queries
from attribution.ekfac.scoring import DocumentScores, Scorer, score_corpus, score_documents

__all__ = [
    "DEFAULT_MODULES",
    "DocumentScores",
    "Eigenbasis",
    "FactorArguments",
    "Factors",
    "Queries",
    "ScoreArguments",
    "Scorer",
    "Skipped",
    "Statistics",
    "eigendecompose",
    "find_modules",
    "fit_covariances",
    "fit_factors",
    "fit_lambdas",
    "merge",
    "model_fingerprint",
    "precondition_queries",
    "sample_labels",
    "score_corpus",
    "score_documents",
]
