"""The low-rank truncation of preconditioned queries against torch's exact SVD, on spectra as flat as SmolLM2's."""

from __future__ import annotations

import torch

from attribution.ekfac.precondition import low_rank, token_low_rank


def flat_spectrum_matrices(batch: int, rows: int, columns: int, seed: int = 0) -> torch.Tensor:
    """Random singular vectors, singular values falling from 1 to 0.03: σ₃₃/σ₃₂ ≈ 0.98, as in a real model's MLPs."""
    generator = torch.Generator().manual_seed(seed)
    short = min(rows, columns)
    u = torch.linalg.qr(torch.randn(batch, rows, short, generator=generator, dtype=torch.float64)).Q
    v = torch.linalg.qr(torch.randn(batch, columns, short, generator=generator, dtype=torch.float64)).Q
    values = torch.logspace(0, -1.5, short, dtype=torch.float64)
    return ((u * values) @ v.mT).float()


def truncated(matrices: torch.Tensor, rank: int) -> torch.Tensor:
    u, s, vh = torch.linalg.svd(matrices.double(), full_matrices=False)
    return (u[..., :rank] * s[..., None, :rank]) @ vh[..., :rank, :]


def test_krylov_truncation_equals_the_exact_one_on_tall_and_wide_matrices():
    for rows, columns in ((300, 120), (120, 300)):
        matrices = flat_spectrum_matrices(3, rows, columns)
        query = low_rank(matrices, 8)
        assert query.left.shape == (3, rows, 8) and query.right.shape == (3, 8, columns)
        expected = truncated(matrices, 8)
        error = (query.left.double() @ query.right.double() - expected).norm(dim=(1, 2)) / expected.norm(dim=(1, 2))
        assert float(error.max()) < 1e-4
    again = low_rank(matrices, 8)  # a fixed start: the same factors every time
    assert torch.equal(again.left, query.left) and torch.equal(again.right, query.right)


def test_narrow_matrices_take_the_whole_gram_and_give_the_same_truncation():
    from attribution.ekfac.precondition import EXACT_WIDTH_PER_RANK

    rank = 40
    for rows, columns in ((300, 120), (120, 300)):  # 120 ≤ EXACT_WIDTH_PER_RANK × 40: no Krylov blocks
        assert min(rows, columns) <= EXACT_WIDTH_PER_RANK * rank
        matrices = flat_spectrum_matrices(3, rows, columns, seed=1)
        query = low_rank(matrices, rank)
        expected = truncated(matrices, rank)
        error = (query.left.double() @ query.right.double() - expected).norm(dim=(1, 2)) / expected.norm(dim=(1, 2))
        assert float(error.max()) < 1e-5


def test_full_rank_keeps_the_matrix_and_rank_deficient_matrices_converge():
    matrices = flat_spectrum_matrices(2, 40, 24)
    for rank in (None, 24, 100):
        query = low_rank(matrices, rank)
        torch.testing.assert_close(query.left @ query.right, matrices)
    # a per-token gradient sum of 5 tokens has rank 5: the Krylov basis stops growing and the result is exact
    tokens = torch.randn(2, 5, 200).mT @ torch.randn(2, 5, 90)
    query = low_rank(tokens, 8)
    torch.testing.assert_close(query.left @ query.right, tokens, rtol=1e-4, atol=1e-4)
    zero = low_rank(torch.zeros(1, 200, 90), 8)
    assert not (zero.left @ zero.right).any()


def test_token_factors_give_the_exact_truncation_of_a_gradient_sum_and_its_norm():
    generator = torch.Generator().manual_seed(1)
    for tokens in (12, 40):  # fewer tokens than the rank (zero-padded), and more
        a, g = torch.randn(3, tokens, 90, generator=generator), torch.randn(3, tokens, 60, generator=generator)
        gradient = g.mT @ a  # (3, 60, 90)
        query, squared = token_low_rank(a, g, 16)
        assert query.left.shape == (3, 60, 16) and query.right.shape == (3, 16, 90)
        expected = truncated(gradient, 16)
        error = (query.left.double() @ query.right.double() - expected).norm(dim=(1, 2)) / expected.norm(dim=(1, 2))
        assert float(error.max()) < 1e-5
        torch.testing.assert_close(squared, gradient.double().square().sum(dim=(1, 2)), rtol=1e-5, atol=0)


def test_decompositions_run_on_one_thread_and_give_the_thread_count_back():
    from attribution.ekfac.threads import one_thread

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with one_thread():
            assert torch.get_num_threads() == 1
        low_rank(flat_spectrum_matrices(2, 200, 90), 8)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
