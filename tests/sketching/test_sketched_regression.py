import math

import pytest
import torch

import simple_algebra as sa
from simple_algebra.sketching import sketched_regression as sr
from simple_algebra.sketching.leverage_scores import leverage_scores, sample_rows


@pytest.fixture(scope="module")
def problem():
    return sr.coherent_regression(2048, 8, kappa=1e3, seed=0)


def test_coherent_regression_has_the_requested_condition_number_and_kappa_free_leverage():
    A1, _ = sr.coherent_regression(1024, 6, kappa=1.0, seed=3)
    A2, b2 = sr.coherent_regression(1024, 6, kappa=1e6, seed=3)
    assert float(torch.linalg.cond(A2)) == pytest.approx(1e6, rel=1e-6)
    assert torch.allclose(leverage_scores(A1), leverage_scores(A2), atol=1e-9)
    assert b2.shape == (1024,)
    assert sr.coherent_regression(64, 4, responses=3)[1].shape == (64, 3)
    # coherent: the largest 1% of rows hold a large share of the total leverage d
    top = leverage_scores(A1).sort(descending=True).values[:10].sum() / 6
    assert top > 0.3


def test_least_squares_matches_normal_equations(problem):
    A, b = problem
    x = sr.least_squares(A, b)
    assert torch.allclose(A.T @ (A @ x - b), torch.zeros(8, dtype=A.dtype), atol=1e-10)
    x_ridge = sr.least_squares(A, b, ridge=0.5)
    expected = torch.linalg.solve(A.T @ A + 0.5 * torch.eye(8, dtype=A.dtype), A.T @ b)
    assert torch.allclose(x_ridge, expected, atol=1e-10)


@pytest.mark.parametrize("ridge", [0.0, 1e-2])
@pytest.mark.parametrize("responses", [None, 3])
def test_sketch_and_solve_matches_reference(ridge, responses):
    A, b = sr.coherent_regression(1024, 5, kappa=10.0, responses=responses, seed=1)
    p = sr.sampling_probabilities(A, "exact")
    x = sr.sketch_and_solve(A, b, 200, p, ridge=ridge, seed=4)
    indices, weights = sample_rows(p.to(torch.float64), 200, seed=4 + 7919)
    reference = sr.sketch_and_solve_reference(A, b, indices, weights, ridge=ridge)
    assert torch.allclose(x, reference, atol=1e-8, rtol=1e-8)


def test_full_sample_of_all_rows_with_exact_weights_recovers_the_solution(problem):
    A, b = problem
    n = A.shape[0]
    reference = sr.sketch_and_solve_reference(A, b, torch.arange(n), torch.ones(n, dtype=A.dtype))
    assert torch.allclose(reference, sr.least_squares(A, b), atol=1e-9)


def test_leverage_beats_uniform_and_is_kappa_free():
    results = {}
    for kappa in (1.0, 1e8):
        A, b = sr.coherent_regression(4096, 8, kappa=kappa, seed=0)
        x_star = sr.least_squares(A, b)
        results[kappa] = [sr.excess_residual(A, b, sr.sketch_and_solve(A, b, 256, scheme, seed=s), x_star)
                          for scheme in ("exact", "uniform") for s in range(3)]
    assert max(abs(a - c) for a, c in zip(results[1.0], results[1e8])) < 1e-6
    leverage, uniform = sorted(results[1.0][:3])[1], sorted(results[1.0][3:])[1]
    assert leverage < 0.05 and uniform > 3 * leverage


def test_approximate_scores_are_accurate_enough(problem):
    A, b = problem
    x_star = sr.least_squares(A, b)
    excess = sr.excess_residual(A, b, sr.sketch_and_solve(A, b, 512, "approximate", projection_dim=16), x_star)
    assert 0 <= excess < 0.05


def test_excess_residual_is_nonnegative_and_zero_at_the_optimum(problem):
    A, b = problem
    x_star = sr.least_squares(A, b)
    assert abs(sr.excess_residual(A, b, x_star, x_star)) < 1e-12
    assert sr.excess_residual(A, b, x_star + 0.01, x_star) > 0
    assert sr.excess_residual(A, b, x_star + 0.01, x_star, ridge=0.1) > 0


def test_deterministic_and_follows_dtype(problem):
    A, b = problem
    x1 = sr.sketch_and_solve(A, b, 100, "approximate", seed=2)
    x2 = sr.sketch_and_solve(A, b, 100, "approximate", seed=2)
    assert torch.equal(x1, x2)
    assert sr.sketch_and_solve(A.float(), b.float(), 100, seed=2).dtype == torch.float32


def test_cost_models():
    assert sr.classical_exact_cost(100, 4) == 1600
    assert sr.classical_sketch_cost(1e6, 10, 0.01) == pytest.approx(1e7 * math.log(100) + 1000)
    assert sr.quantum_claimed_cost(1e6, 4, 0.1) == pytest.approx(1e3 * 8 / 0.1 + 64 / 0.1)
    crossing = sr.cost_crossover(16, 0.01)
    assert sr.quantum_claimed_cost(crossing * 1.01, 16, 0.01) < sr.classical_sketch_cost(crossing * 1.01, 16, 0.01)
    assert sr.quantum_claimed_cost(crossing * 0.99, 16, 0.01) > sr.classical_sketch_cost(crossing * 0.99, 16, 0.01)
    assert sr.cost_crossover(16, 0.001) > sr.cost_crossover(16, 0.01)


def test_bad_inputs(problem):
    A, b = problem
    with pytest.raises(ValueError, match="scores"):
        sr.sketch_and_solve(A, b, 100, "leverage")
    with pytest.raises(ValueError, match="samples"):
        sr.sketch_and_solve(A, b, 0)
    with pytest.raises(ValueError, match="samples must be >= d"):
        sr.sketch_and_solve(A, b, 4)
    with pytest.raises(ValueError, match="b must have shape"):
        sr.sketch_and_solve(A, b[:10], 100)
    with pytest.raises(ValueError, match="ridge"):
        sr.least_squares(A, b, ridge=-1.0)
    with pytest.raises(ValueError, match="kappa"):
        sr.coherent_regression(100, 4, kappa=0.5)
    with pytest.raises(ValueError, match="n must be >= d"):
        sr.coherent_regression(3, 4)
    with pytest.raises(ValueError, match="finite"):
        sr.least_squares(A, torch.full_like(b, float("nan")))
    with pytest.raises(ValueError, match="eps"):
        sr.quantum_claimed_cost(100, 4, 0.0)
    with pytest.raises(ValueError, match="zero"):
        sr.excess_residual(A, A[:, 0], torch.eye(8, dtype=A.dtype)[0], torch.eye(8, dtype=A.dtype)[0])



def test_mean_squared_excess_of_leverage_sampling_is_d_over_s():
    """First order, E ||A x~ - b||^2 / ||A x* - b||^2 - 1 = (1/s) sum_i sigma_i r_i^2 / (p_i ||r||^2) = d/s for
    leverage sampling (p_i = sigma_i / d); the neglected second-order term is of relative size d/s."""
    n, d, s, seeds = 2048, 8, 256, 200
    A, b = sr.coherent_regression(n, d, kappa=10.0, seed=2)
    x_star, p = sr.least_squares(A, b), sr.sampling_probabilities(A, "exact")
    with sa.one_thread():
        squared = torch.tensor([(1 + sr.excess_residual(A, b, sr.sketch_and_solve(A, b, s, p, seed=k), x_star)) ** 2
                                - 1 for k in range(seeds)])
    standard_error = float(squared.std()) / math.sqrt(seeds)
    assert abs(float(squared.mean()) - d / s) < 4 * standard_error + (d / s) ** 2
    mixed = 0.5 * p + 0.5 / n  # a different (valid) sampler has a different constant: the check can fail
    with sa.one_thread():
        squared = torch.tensor([(1 + sr.excess_residual(A, b, sr.sketch_and_solve(A, b, s, mixed, seed=k), x_star))
                                ** 2 - 1 for k in range(seeds)])
    assert abs(float(squared.mean()) - d / s) > 4 * float(squared.std()) / math.sqrt(seeds) + (d / s) ** 2
