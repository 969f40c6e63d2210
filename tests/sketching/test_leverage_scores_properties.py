"""Property tests of leverage_scores: exact scores match the projection's diagonal, the samplers are unbiased in
form (weights 1 / (s p_i)), and every bad input is refused by name."""

import math

import torch
from hypothesis import given
from hypothesis import strategies as st

from simple_algebra.sketching import leverage_scores as ls
from tests.properties import bad_tensors, covers, finite, huge_sizes, refuses, seeds, tensors


def projection_diagonal(A: torch.Tensor) -> torch.Tensor:
    """diag(A (A^T A)^{-1} A^T): the textbook formula, independent of the QR route."""
    return (A * torch.linalg.solve(A.T @ A, A.T).T).sum(dim=1)


@covers(ls.leverage_scores, ls.approximate_leverage_scores)
@given(tensors(8, 3), st.floats(0.1, 10.0), seeds, bad_tensors(8, 3))
def test_leverage_scores_are_the_projection_diagonal_and_scale_invariant(A, scale, seed, bad):
    sigma = ls.leverage_scores(A)
    assert sigma.shape == (8,) and finite(sigma)
    assert torch.allclose(sigma, projection_diagonal(A), atol=1e-10)
    assert math.isclose(float(sigma.sum()), 3.0, rel_tol=1e-10) and bool(((sigma >= -1e-12) & (sigma <= 1 + 1e-12)).all())
    fast = ls.approximate_leverage_scores(A, seed=seed)
    assert fast.shape == (8,) and finite(fast) and bool((fast > 0).all())
    # The scores depend only on the column space: rescaling A changes nothing (same seed, same sketch).
    assert torch.allclose(ls.approximate_leverage_scores(scale * A, seed=seed), fast, rtol=1e-8)
    assert torch.allclose(ls.leverage_scores(scale * A), sigma, atol=1e-10)
    assert torch.equal(ls.approximate_leverage_scores(A, seed=seed), fast)
    tensor, shown = bad
    refuses(ls.leverage_scores, tensor, argument="A", shows=shown)
    refuses(ls.approximate_leverage_scores, tensor, argument="A", shows=shown)
    refuses(ls.leverage_scores, torch.zeros(8, 3, dtype=torch.float64), argument="A", shows="(8, 3)")
    refuses(ls.leverage_scores, torch.cat([A[:, :2], A[:, :1]], dim=1), argument="full column rank")
    refuses(ls.leverage_scores, A.T, argument="A", shows="(3, 8)")
    refuses(ls.approximate_leverage_scores, A, projection_dim=10**12, argument="projection_dim", shows="GiB")
    refuses(ls.approximate_leverage_scores, A, sketch_rows=2, argument="sketch_rows", shows="2")
    refuses(ls.approximate_leverage_scores, A, seed=-seed - 1, argument="seed", shows=str(-seed - 1))


@covers(ls.count_sketch)
@given(tensors(8, 3), tensors(8, 3), st.integers(1, 12), st.integers(0, 7), seeds, huge_sizes)
def test_count_sketch_is_linear_and_sends_each_row_to_one_bucket(A, B, rows, which, seed, huge):
    sketch = ls.count_sketch(A, rows, seed)
    assert sketch.shape == (rows, 3) and finite(sketch)
    assert torch.allclose(ls.count_sketch(A + B, rows, seed), sketch + ls.count_sketch(B, rows, seed), atol=1e-12)
    one_row = torch.zeros_like(A)
    one_row[which] = A[which]
    single = ls.count_sketch(one_row, rows, seed)
    nonzero = single.abs().sum(dim=1) > 0
    assert int(nonzero.sum()) == 1
    assert torch.equal(single[nonzero][0].abs(), A[which].abs())
    refuses(ls.count_sketch, A, huge, seed, argument="rows", shows="GiB")
    refuses(ls.count_sketch, A, 0, argument="rows", shows="0")
    refuses(ls.count_sketch, A.to(torch.long), rows, argument="A", shows="int64")
    refuses(ls.count_sketch, A, rows, -1, argument="seed", shows="-1")


@covers(ls.conditioned_matrix)
@given(tensors(8, 3), st.floats(1.0, 1e6), seeds)
def test_conditioned_matrix_has_the_condition_and_keeps_the_column_space(basis, condition, seed):
    M = ls.conditioned_matrix(basis, condition, torch.Generator().manual_seed(seed))
    values = torch.linalg.svdvals(M)
    assert finite(M) and math.isclose(float(values[0] / values[-1]), condition, rel_tol=1e-8)
    assert torch.allclose(ls.leverage_scores(M), ls.leverage_scores(basis), atol=1e-9)
    refuses(ls.conditioned_matrix, basis, 0.5, torch.Generator(), argument="condition", shows="0.5")
    refuses(ls.conditioned_matrix, basis, math.nan, torch.Generator(), argument="condition", shows="nan")
    refuses(ls.conditioned_matrix, basis.T, condition, torch.Generator(), argument="basis", shows="(3, 8)")
    refuses(ls.conditioned_matrix, basis, condition, seed, argument="draw", shows="int")


@covers(ls.sample_rows, ls.sampled_gram)
@given(tensors(8, 3), tensors(8, low=0.0, high=1.0), st.integers(1, 50), seeds, bad_tensors(8), huge_sizes)
def test_samplers_weight_by_inverse_probability_and_agree(B, p, samples, seed, bad, huge):
    p = p + 0.01
    indices, weights = ls.sample_rows(p, samples, seed)
    assert indices.shape == weights.shape == (samples,) and finite(weights)
    assert bool(((indices >= 0) & (indices < 8)).all())
    assert torch.allclose(weights, 1.0 / (samples * (p / p.sum())[indices]), rtol=1e-12)
    again = ls.sample_rows(p, samples, seed)
    assert torch.equal(again[0], indices) and torch.equal(again[1], weights)
    gram = ls.sampled_gram(B, samples, p, seed)
    rows = B[indices]
    assert torch.allclose(gram, (rows * weights[:, None]).T @ rows, atol=1e-10)
    assert torch.allclose(gram, gram.T) and float(torch.linalg.eigvalsh(gram).min()) >= -1e-9
    tensor, shown = bad
    refuses(ls.sample_rows, tensor, samples, argument="probabilities", shows=shown)
    refuses(ls.sampled_gram, B, samples, tensor, argument="probabilities", shows=shown)
    refuses(ls.sample_rows, p, huge, argument="samples", shows="GiB")
    refuses(ls.sampled_gram, B, huge, p, argument="samples", shows="GiB")
    refuses(ls.sample_rows, p - 2.0, samples, argument="probabilities", shows="minimum")
    refuses(ls.sample_rows, torch.zeros(8, dtype=torch.float64), samples, argument="probabilities", shows="sum 0")
    refuses(ls.sample_rows, p, 0, argument="samples", shows="0")
    refuses(ls.sample_rows, p, samples, -1, argument="seed", shows="-1")
    refuses(ls.sampled_gram, B, samples, p.float(), argument="probabilities", shows="float32")
    refuses(ls.sampled_gram, B, samples, p[:5], argument="probabilities", shows="(5,)")


@covers(ls.spectral_error)
@given(tensors(6, 3), st.floats(0.0, 3.0), bad_tensors(3, 3))
def test_spectral_error_of_a_multiple_is_the_distance_of_the_factor(B, factor, bad):
    H = B.T @ B
    assert ls.spectral_error(H, H) < 1e-10
    assert math.isclose(ls.spectral_error(H, factor * H), abs(factor - 1), abs_tol=1e-9)
    tensor, shown = bad
    refuses(ls.spectral_error, tensor, H, argument="H", shows=shown)
    refuses(ls.spectral_error, H, tensor, argument="H_approx", shows=shown)
    refuses(ls.spectral_error, -H, H, argument="H", shows="eigenvalue -")
    refuses(ls.spectral_error, H, H[:2], argument="H_approx", shows="(2, 3)")
