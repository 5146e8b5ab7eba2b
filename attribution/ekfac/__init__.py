"""EK-FAC influence functions for causal LMs (Grosse et al. 2023, as used by Ruis et al. 2024).

    factors = fit_factors(model, tokenizer, documents, FactorArguments())
    queries = precondition_queries(model, tokenizer, probes, factors, ScoreArguments(rank=32))
    scores = score_documents(model, tokenizer, documents, queries)   # scores.scores: (documents, probes)

A positive score means the document raises the probe's log p(completion | prompt); see `precondition`.
"""

from attribution.lazy import lazy_exports

_MODULES = {  # module -> names; torch takes seconds to import, so the engine loads when a name is first used
    "arguments": ("DEFAULT_MODULES", "FactorArguments", "ScoreArguments"),
    "data": ("Skipped", "sample_labels"),
    "factors": ("Eigenbasis", "Factors", "Statistics", "eigendecompose", "fit_covariances", "fit_factors",
                "fit_lambdas", "merge", "model_fingerprint"),
    "modules": ("find_modules",),
    "precondition": ("Queries", "precondition_queries"),
    "scoring": ("DocumentScores", "Scorer", "score_corpus", "score_documents"),
}
__all__, __getattr__ = lazy_exports(__name__, _MODULES)
