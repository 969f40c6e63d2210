"""Leverage scores, row sampling, the spectral error and the approximate-Newton loop."""

import pytest
import torch

from simple_algebra.sketching import leverage_scores as ls


def matrix(n=400, d=6, seed=0, heavy=0.0):
    draw = torch.Generator().manual_seed(seed)
    A = torch.randn(n, d, generator=draw, dtype=torch.float64)
    A[:5] *= 1 + heavy  # a few heavy rows make leverage and uniform sampling differ
    return A


def test_exact_scores_match_the_definition():
    A = matrix(n=50)
    expected = torch.einsum("ij,jk,ik->i", A, torch.linalg.inv(A.T @ A), A)
    sigma = ls.leverage_scores(A)
    torch.testing.assert_close(sigma, expected, rtol=1e-10, atol=1e-12)
    assert abs(float(sigma.sum()) - 6) < 1e-10 and bool(((sigma >= 0) & (sigma <= 1 + 1e-12)).all())


def test_approximate_scores_are_within_a_constant_factor():
    A = matrix(n=3000, d=8, heavy=20.0)
    exact, fast = ls.leverage_scores(A), ls.approximate_leverage_scores(A, seed=3)
    ratio = fast / exact
    assert 0.3 < float(ratio.min()) and float(ratio.max()) < 3.0
    torch.testing.assert_close(ls.approximate_leverage_scores(A, seed=3), fast)  # same seed, same numbers


def test_count_sketch_is_linear_and_preserves_the_gram_matrix_roughly():
    A, B = matrix(n=2000, d=4, seed=1), matrix(n=2000, d=4, seed=2)
    together = ls.count_sketch(A + B, 64, seed=5)
    torch.testing.assert_close(together, ls.count_sketch(A, 64, 5) + ls.count_sketch(B, 64, 5))
    gram, sketched = A.T @ A, ls.count_sketch(A, 400, seed=5)
    assert ls.spectral_error(gram, sketched.T @ sketched) < 0.5


def test_sampled_gram_is_unbiased_and_leverage_beats_uniform_on_heavy_rows():
    A = matrix(heavy=30.0)
    H = A.T @ A
    mean = sum(ls.sampled_gram(A, 60, seed=s) for s in range(400)) / 400
    assert ls.spectral_error(H, mean) < 0.1
    uniform = torch.ones(A.shape[0], dtype=torch.float64)
    leverage_errors = [ls.spectral_error(H, ls.sampled_gram(A, 120, seed=s)) for s in range(10)]
    uniform_errors = [ls.spectral_error(H, ls.sampled_gram(A, 120, uniform, seed=s)) for s in range(10)]
    assert max(leverage_errors) < min(uniform_errors)
    small = [ls.spectral_error(H, ls.sampled_gram(A, 30, seed=s)) for s in range(10)]
    large = [ls.spectral_error(H, ls.sampled_gram(A, 300, seed=s)) for s in range(10)]
    assert sorted(large)[5] < sorted(small)[5]


@pytest.mark.parametrize("bad", [
    lambda: ls.leverage_scores(torch.ones(3, 5, dtype=torch.float64)),
    lambda: ls.leverage_scores(torch.ones(6, 2, dtype=torch.float64)),
    lambda: ls.sample_rows(torch.tensor([1.0, -1.0]), 3),
    lambda: ls.sample_rows(torch.tensor([1.0, 1.0]), 0),
    lambda: ls.spectral_error(-torch.eye(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64)),
    lambda: ls.sampled_gram(matrix(), 10, torch.ones(3)),
])
def test_bad_input_is_refused(bad):
    with pytest.raises(ValueError):
        bad()


def test_conditioned_matrix_has_the_condition_number_and_the_column_space_of_its_basis():
    basis = matrix(n=200, d=5, heavy=10.0)
    A = ls.conditioned_matrix(basis, 1e4, torch.Generator().manual_seed(0))
    singular = torch.linalg.svdvals(A)
    assert abs(float(singular[0] / singular[-1]) / 1e4 - 1) < 1e-8
    torch.testing.assert_close(ls.leverage_scores(A), ls.leverage_scores(basis), rtol=1e-8, atol=1e-12)
    with pytest.raises(ValueError):
        ls.conditioned_matrix(basis, 0.5, torch.Generator())
