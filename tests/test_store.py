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
from attribution.store.arguments import PRECISIONS, IndexArguments
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


@pytest.mark.parametrize("precision", PRECISIONS)
def test_each_number_decodes_to_the_nearest_level_of_its_row(precision):
    from attribution.store.precision import BITS, LEVELS, bytes_per_layer, decode, encode, row_steps

    values = torch.randn(6, 4, 7, generator=torch.Generator().manual_seed(0)) * torch.logspace(-6, 3, 6)[:, None, None]
    values[2, 1] = 0.0  # a row of zeros stays zeros
    stored = encode("layer", values, precision)
    assert sum(t[0].numel() * t.element_size() for t in stored.values()) == bytes_per_layer(4, 7, precision)
    back = decode(stored, "layer", precision, k_in=7)
    assert back.shape == values.shape and back.dtype == torch.float32
    assert (back[2, 1] == 0).all()
    if precision == "float32":
        assert torch.equal(back, values)
        return
    if precision in LEVELS:  # whole steps up to the row's largest magnitude: within half a step of each number
        steps = torch.arange(-LEVELS[precision], LEVELS[precision] + 1.0)
    else:  # ±½, ±1½ … steps
        steps = torch.arange(2.0 ** BITS[precision]) - (2 ** BITS[precision] - 1) / 2
    levels = row_steps(values, precision) * steps  # (6, 4, levels)
    nearest = (values[..., None] - levels[..., None, :]).abs().amin(-1)
    assert ((back - values).abs() <= nearest + 1e-6 * values.abs().amax(-1, keepdim=True)).all()
    if precision == "int1":  # the sign times the row's mean magnitude
        assert torch.allclose(back, values.sign() * values.abs().mean(-1, keepdim=True))


def test_by_default_each_layer_keeps_the_most_directions_within_its_share_of_bytes():
    from attribution.store.precision import bytes_per_layer

    assert IndexArguments().kept(512, 128) == (364, 128)  # int2: 364 · (32 + 4) bytes ≤ 5% of 512 · 128 · 4
    for shape in [(512, 128), (128, 512), (1536, 576), (96, 40)]:
        for precision in PRECISIONS:
            for share in (0.05, 0.2):
                args = IndexArguments(precision=precision, share=share)
                k_out, k_in = args.kept(*shape)
                budget = share * 4 * shape[0] * shape[1]
                assert bytes_per_layer(k_out, k_in, precision) <= budget
                k = max(k_out, k_in) + 1  # one more direction would not fit
                assert k > max(shape) or bytes_per_layer(min(k, shape[0]), min(k, shape[1]), precision) > budget
    assert IndexArguments(dims=0).kept(512, 128) == (512, 128) and IndexArguments(dims=200).kept(512, 128) == (200, 128)
    with pytest.raises(InputError, match="--share must be"):
        IndexArguments(share=0)


@pytest.mark.parametrize("precision", ["float32", "int2"])
def test_inner_products_in_blocks_equal_the_decoded_layers_times_the_queries(precision, monkeypatch):
    from attribution.store import precision as module

    generator = torch.Generator().manual_seed(1)
    values, queries = torch.randn(10, 3, 5, generator=generator), torch.randn(4, 15, generator=generator)
    stored = module.encode("layer", values, precision)
    whole = module.decode(stored, "layer", precision, k_in=5).flatten(1) @ queries.mT
    monkeypatch.setattr(module, "DECODE_BLOCK", 3 * 5 * 4)  # 4 documents a block: blocks of 4, 4 and 2
    assert torch.allclose(module.inner_products(stored, "layer", precision, 5, queries), whole, atol=1e-5)


def test_compressed_documents_keep_their_input_order_and_leave_out_skipped_ones(fitted):
    """Batches run sorted by length; each document's numbers still land at its input position, and a document
    with nothing to score is left out without shifting the others."""
    from test_ekfac_errors import Encoded

    model, factors = fitted
    modules = find_modules(model, factors.header["module_pattern"])
    args = IndexArguments(dims=3, batch_size=2, **QUIET)
    built = Compression.build(modules, args, factors, {})
    docs = documents()
    alone = [compress_documents(model, None, [doc], built, args) for doc in docs]
    ids, layers, norms, skipped = compress_documents(model, None, docs[:5] + [Encoded([7], [7])] + docs[5:], built,
                                                     args)
    assert skipped.too_short == 1 and ids == [str(i) for i in range(5)] + [str(i) for i in range(6, 13)]
    for key, value in layers.items():
        torch.testing.assert_close(value, torch.cat([one[1][key] for one in alone]))
    torch.testing.assert_close(norms, torch.cat([one[2] for one in alone]))


def test_documents_are_compressed_in_bfloat16_only_for_stores_of_four_bits_or_fewer(monkeypatch):
    from attribution.store import compress

    cpu = torch.device("cpu")
    monkeypatch.setattr(compress, "native_bfloat16", lambda device: True)
    chosen = [compress.compute_dtype(IndexArguments(precision=precision), cpu) for precision in PRECISIONS]
    assert chosen == ["float32", "float32", "bfloat16", "bfloat16", "bfloat16"]
    assert compress.compute_dtype(IndexArguments(compute_dtype="float32"), cpu) == "float32"
    monkeypatch.setattr(compress, "native_bfloat16", lambda device: False)  # emulated bfloat16 is slower
    assert {compress.compute_dtype(IndexArguments(precision=precision), cpu) for precision in PRECISIONS} == {"float32"}
    assert compress.compute_dtype(IndexArguments(precision="int8", compute_dtype="bfloat16"), cpu) == "bfloat16"
    with pytest.raises(InputError, match="compute_dtype must be one of"):
        IndexArguments(compute_dtype="float16")


def test_documents_compressed_in_bfloat16_keep_nearly_the_same_int2_numbers(fitted):
    """bfloat16 rounds each number by at most 2⁻⁹ of itself, far below an int2 step (the row's root mean square):
    only numbers within that of a level's edge change code, and the gradient norms agree closely."""
    from attribution.store.precision import decode

    model, factors = fitted
    modules = find_modules(model, factors.header["module_pattern"])
    args = IndexArguments(batch_size=4, **QUIET)
    results = {}
    for dtype in ("float32", "bfloat16"):
        built = Compression.build(modules, args, factors, {"compute_dtype": dtype})
        results[dtype] = (built, *compress_documents(model, None, documents(), built, args, precision="int2")[1:3])
    (built, exact, exact_norms), (_, rounded, rounded_norms) = results["float32"], results["bfloat16"]
    torch.testing.assert_close(rounded_norms, exact_norms, rtol=5e-3, atol=0)
    for name, maps in built.layers.items():
        assert (rounded[name] == exact[name]).float().mean() > 0.9  # bytes of four codes each
        back, reference = (decode(stored, name, "int2", maps.shape[1]).flatten() for stored in (rounded, exact))
        assert torch.corrcoef(torch.stack([back, reference]))[0, 1] > 0.98
