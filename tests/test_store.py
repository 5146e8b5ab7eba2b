"""The gradient store's engine: a store that keeps every direction gives the full EK-FAC scores exactly, for
each compression, and compressed stores estimate them."""

from __future__ import annotations

import pytest
import torch
from test_ekfac_errors import PROBES, documents, tiny_llama

from attribution.ekfac import (
    FactorArguments,
    ScoreArguments,
    find_modules,
    fit_factors,
    precondition_queries,
    score_documents,
)
from attribution.store.arguments import IndexArguments
from attribution.store.compress import Compression
from attribution.store.index import compress_documents
from attribution.store.query import map_queries
from curate.errors import InputError

QUIET = {"progress": False}


@pytest.fixture(scope="module")
def fitted():
    model = tiny_llama()
    return model, fit_factors(model, None, documents(), FactorArguments(batch_size=4, **QUIET))


def store_scores(model, factors, compression: str, dims: int, method: str = "ekfac") -> torch.Tensor:
    """Scores of `documents()` against `PROBES` through a store held in memory, the way `query` scores a shard."""
    modules = find_modules(model, factors.header["module_pattern"])
    args = IndexArguments(compression=compression, dims=dims, batch_size=4, **QUIET)
    built = Compression.build(modules, args, factors, {"modules": [t.name for t in modules]})
    _, layers, _, _ = compress_documents(model, None, documents(), built, args)
    ekfac = method == "ekfac"
    queries = precondition_queries(model, None, PROBES, factors, ScoreArguments(method=method, rank=None, **QUIET),
                                   eigenbasis=ekfac)
    mapped = map_queries(queries, built, factors if ekfac else None)
    return sum(layers[name].flatten(1) @ query.mT for name, query in mapped.items())


@pytest.mark.parametrize("compression", ["logra", "eigen", "whitened"])
def test_queries_mapped_from_the_eigenbasis_equal_queries_mapped_from_the_layers(fitted, compression):
    model, factors = fitted
    modules = find_modules(model, factors.header["module_pattern"])
    built = Compression.build(modules, IndexArguments(compression=compression, dims=3, **QUIET), factors, {})
    args = ScoreArguments(rank=None, **QUIET)
    in_layers = precondition_queries(model, None, PROBES, factors, args)
    in_eigenbasis = precondition_queries(model, None, PROBES, factors, args, eigenbasis=True)
    assert in_eigenbasis.header["basis"] == "eigen" and in_layers.header["basis"] == "layer"
    got = map_queries(in_eigenbasis, built, factors)
    for name, expected in map_queries(in_layers, built, None).items():
        torch.testing.assert_close(got[name], expected, rtol=1e-4, atol=1e-5 * float(expected.abs().max()))


def test_scoring_refuses_queries_left_in_the_eigenbasis(fitted):
    model, factors = fitted
    queries = precondition_queries(model, None, PROBES, factors, ScoreArguments(rank=None, **QUIET), eigenbasis=True)
    with pytest.raises(InputError, match="eigenbasis"):
        score_documents(model, None, documents(), queries)


@pytest.mark.parametrize("compression", ["logra", "eigen", "whitened"])
def test_a_store_keeping_everything_gives_the_full_scores(fitted, compression):
    model, factors = fitted
    full = precondition_queries(model, None, PROBES, factors, ScoreArguments(rank=None, **QUIET))
    expected = score_documents(model, None, documents(), full).scores
    got = store_scores(model, factors, compression, dims=0)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6 * float(expected.abs().max()))


def test_dot_products_from_an_identity_store_equal_full_dot_scores(fitted):
    model, factors = fitted
    full = precondition_queries(model, None, PROBES, factors, ScoreArguments(method="dot", rank=None, **QUIET))
    expected = score_documents(model, None, documents(), full).scores
    got = store_scores(model, factors, "logra", dims=0, method="dot")
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6 * float(expected.abs().max()))


def test_compressed_stores_are_smaller_and_still_track_the_scores(fitted):
    """At k = 8 of the layers' 16 and 32 (a quarter of the numbers or less) the scores are estimates: they
    differ from the full scores, and the seed changes them, but they stay correlated with the full ones."""
    model, factors = fitted
    full = store_scores(model, factors, "eigen", dims=0)
    for compression in ("logra", "eigen", "whitened"):
        small = store_scores(model, factors, compression, dims=8)
        assert not torch.allclose(small, full)
        correlation = torch.corrcoef(torch.stack([small.flatten(), full.flatten()]))[0, 1]
        assert correlation > 0, compression


def test_eigen_and_whitened_need_factors():
    model = tiny_llama()
    modules = find_modules(model)
    with pytest.raises(InputError, match="fit factors first"):
        Compression.build(modules, IndexArguments(compression="eigen"), None, {})
    with pytest.raises(InputError, match="compression must be one of"):
        IndexArguments(compression="pca")


@pytest.mark.parametrize("precision", ["float32", "int8", "int4"])
def test_encoding_keeps_each_number_within_half_a_step_of_its_row(precision):
    from attribution.store.precision import LEVELS, bytes_per_layer, decode, encode

    values = torch.randn(6, 4, 7, generator=torch.Generator().manual_seed(0)) * torch.logspace(-6, 3, 6)[:, None, None]
    values[2, 1] = 0.0  # a row of zeros stays zeros
    stored = encode("layer", values, precision)
    assert sum(t[0].numel() * t.element_size() for t in stored.values()) == bytes_per_layer(4, 7, precision)
    back = decode(stored, "layer", precision, k_in=7)
    assert back.shape == values.shape and back.dtype == torch.float32
    step = 0 if precision == "float32" else values.abs().amax(-1, keepdim=True) / LEVELS[precision]
    assert ((back - values).abs() <= step / 2 + 1e-6 * values.abs()).all()
    assert (back[2, 1] == 0).all()
