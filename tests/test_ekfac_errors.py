"""Bad input to the EK-FAC engine: a clear InputError, or for documents a skip that is counted."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch import nn
from transformers import LlamaConfig, LlamaForCausalLM

from attribution.ekfac import (
    FactorArguments,
    Factors,
    ScoreArguments,
    find_modules,
    fit_covariances,
    fit_factors,
    precondition_queries,
    score_corpus,
    score_documents,
)
from attribution.ekfac import scoring as scoring_module
from attribution.ekfac.scoring import part_path
from attribution.task import IGNORE, Encoded
from curate.errors import InputError

QUIET = {"progress": False}


def tiny_llama(seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=64)
    return LlamaForCausalLM(config).eval()


def documents(count: int = 12) -> list[Encoded]:
    generator = torch.Generator().manual_seed(0)
    return [Encoded(ids, list(ids)) for ids in
            (torch.randint(0, 32, (int(n),), generator=generator).tolist()
             for n in torch.randint(3, 10, (count,), generator=generator))]


PROBES = [Encoded([1, 2, 3, 4], [IGNORE, IGNORE, 3, 4]), Encoded([5, 6, 7], [IGNORE, IGNORE, 7])]


@dataclass
class TextProbe:
    id: str
    prompt: str
    completion: str


@pytest.fixture(scope="module")
def fitted():
    model = tiny_llama()
    return model, fit_factors(model, None, documents(), FactorArguments(batch_size=4, **QUIET))


def test_empty_completion_is_refused(fitted):
    model, factors = fitted
    with pytest.raises(InputError, match="probe p1 has an empty completion"):
        precondition_queries(model, object(), [TextProbe("p1", "What is 2+2?", "")], factors)
    with pytest.raises(InputError, match="no completion token"):
        precondition_queries(model, None, [Encoded([1, 2, 3], [IGNORE] * 3)], factors)


def test_short_documents_are_skipped_and_counted(fitted):
    model, factors = fitted
    corpus = documents(6)
    corpus[2:2] = [Encoded([5], [5]), []]  # one token: no next-token loss; no token at all
    stats = fit_covariances(model, None, corpus, FactorArguments(batch_size=4, **QUIET))
    assert (stats.documents, stats.skipped.too_short) == (6, 2)
    queries = precondition_queries(model, None, PROBES, factors, ScoreArguments(**QUIET))
    result = score_documents(model, None, corpus, queries)
    assert result.skipped.too_short == 2
    assert result.doc_ids == ["0", "1", "4", "5", "6", "7"]  # positions in the input, gaps where skipped


def test_pattern_matching_nothing_names_the_layers_there_are():
    with pytest.raises(InputError, match=r"matches no linear layer.*mlp\.gate_proj"):
        find_modules(tiny_llama(), r"attention_is_all_you_need")
    with pytest.raises(InputError, match="not a valid regular expression"):
        find_modules(tiny_llama(), r"mlp(")


class NoMLP(nn.Module):
    """A causal LM without MLP blocks: embeddings straight to the unembedding."""

    def __init__(self):
        super().__init__()
        self.embed, self.head = nn.Embedding(32, 8), nn.Linear(8, 32)

    def forward(self, input_ids, attention_mask=None):
        return type("Output", (), {"logits": self.head(self.embed(input_ids))})


def test_model_without_mlp_layers_is_refused():
    with pytest.raises(InputError, match="NoMLP; its linear layers include: head"):
        fit_factors(NoMLP(), None, documents(), FactorArguments(**QUIET))
    # while a pattern naming a layer it has works
    factors = fit_factors(NoMLP(), None, documents(), FactorArguments(modules="^head$", **QUIET))
    assert list(factors.layers) == ["head"]


def test_factors_from_another_model_are_refused(fitted, tmp_path):
    _, factors = fitted
    factors.save(tmp_path)
    with pytest.raises(InputError, match="fitted on another model"):
        precondition_queries(tiny_llama(seed=1), None, PROBES, Factors.load(tmp_path), ScoreArguments(**QUIET))
    with pytest.raises(InputError, match="no factors at"):
        Factors.load(tmp_path / "missing")


def test_non_finite_statistics_are_refused(fitted, tmp_path):
    model = tiny_llama()
    with torch.no_grad():
        model.model.layers[0].mlp.up_proj.weight[0, 0] = float("inf")
    with pytest.raises(InputError, match="non-finite values"):
        fit_factors(model, None, documents(), FactorArguments(**QUIET))

    _, factors = fitted
    broken = Factors(factors.header, dict(factors.layers))
    name = next(iter(broken.layers))
    layer = broken.layers[name]
    broken.layers[name] = type(layer)(layer.activation_vectors, layer.gradient_vectors,
                                      torch.full_like(layer.corrected_eigenvalues, float("nan")))
    broken.save(tmp_path)
    with pytest.raises(InputError, match=f"non-finite values in the factors of layer {name}"):
        Factors.load(tmp_path)


def test_one_pass_iterators_are_refused_for_two_pass_fitting():
    with pytest.raises(InputError, match="reads the documents twice"):
        fit_factors(tiny_llama(), None, iter(documents()), FactorArguments(**QUIET))


def test_bad_arguments_are_refused():
    with pytest.raises(InputError, match="fisher must be"):
        FactorArguments(fisher="exact")
    with pytest.raises(InputError, match="method must be"):
        ScoreArguments(method="tracin")
    with pytest.raises(InputError, match="rank must be"):
        ScoreArguments(rank=0)


def test_a_failure_mid_corpus_keeps_finished_parts_and_resumes(fitted, tmp_path, monkeypatch):
    model, factors = fitted
    queries = precondition_queries(model, None, PROBES, factors, ScoreArguments(**QUIET))
    corpus = documents(12)
    real, calls = scoring_module.score_query_sets, []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(scoring_module, "score_query_sets", failing)
    with pytest.raises(RuntimeError, match="killed"):
        score_corpus(model, None, corpus, queries, tmp_path, documents_per_part=4)
    assert [part_path(tmp_path, i).exists() for i in range(3)] == [True, True, False]
    assert not list(tmp_path.glob(".*tmp"))  # no half-written file left behind

    monkeypatch.setattr(scoring_module, "score_query_sets", real)
    summary = score_corpus(model, None, corpus, queries, tmp_path, documents_per_part=4)
    assert (summary["parts_kept"], summary["parts_written"]) == (2, 1)

    other = precondition_queries(model, None, PROBES, factors, ScoreArguments(method="dot", **QUIET))
    with pytest.raises(InputError, match="scores from other settings"):
        score_corpus(model, None, corpus, other, tmp_path, documents_per_part=4)


def test_documents_with_non_finite_gradients_are_skipped_and_counted():
    model = tiny_llama()
    with torch.no_grad():
        model.model.embed_tokens.weight[31] = float("inf")  # token 31 poisons any document containing it
    clean = [Encoded(ids, list(ids)) for ids in ([1, 2, 3, 4], [5, 6, 7], [8, 9, 10, 11, 12])]
    factors = fit_factors(model, None, clean, FactorArguments(**QUIET))
    queries = precondition_queries(model, None, PROBES, factors, ScoreArguments(**QUIET))
    corpus = [clean[0], Encoded([1, 31, 2], [1, 31, 2]), clean[1], clean[2]]
    result = score_documents(model, None, corpus, queries)
    assert result.doc_ids == ["0", "2", "3"] and result.skipped.non_finite == 1
    assert torch.isfinite(result.scores).all()
