"""Property tests of sketched_regression: the fast solves match the normal-equation reference, the test problem
has the promised condition number, the cost models are finite, positive and cross where they say."""

import math

import torch
from hypothesis import given
from hypothesis import strategies as st

from simple_algebra.sketching import leverage_scores as ls
from simple_algebra.sketching import sketched_regression as sr
from tests.properties import bad_reals, bad_tensors, covers, finite, huge_sizes, refuses, seeds, tensors


@covers(sr.least_squares, sr.sketch_and_solve_reference, sr.regression_cost, sr.excess_residual)
@given(tensors(10, 3), tensors(10), tensors(3), st.sampled_from([0.0, 0.5, 3.0]), bad_tensors(10, 3))
def test_least_squares_matches_the_normal_equations_and_minimises_the_cost(A, b, other, ridge, bad):
    x = sr.least_squares(A, b, ridge)
    everything = torch.arange(10)
    assert finite(x) and torch.allclose(x, sr.sketch_and_solve_reference(A, b, everything, torch.ones(10), ridge),
                                        atol=1e-9)
    cost = sr.regression_cost(A, b, x, ridge)
    assert math.isclose(cost, math.sqrt(float((A @ x - b).square().sum() + ridge * x.square().sum())), rel_tol=1e-12)
    assert sr.excess_residual(A, b, x, x, ridge) == 0.0
    assert sr.excess_residual(A, b, x + other, x, ridge) >= -1e-12  # x* is the minimiser
    tensor, shown = bad
    refuses(sr.least_squares, tensor, b, argument="A", shows=shown)
    refuses(sr.least_squares, A, b, math.nan, argument="ridge", shows="nan")
    refuses(sr.least_squares, A, b.float(), argument="b", shows="float32")
    refuses(sr.least_squares, torch.zeros_like(A), b, argument="A", shows="all-zero")
    refuses(sr.regression_cost, A, b, other[:2], argument="x", shows="(2,)")
    refuses(sr.regression_cost, A, b, other * math.nan, argument="x", shows="finite")
    refuses(sr.excess_residual, A, b, x, x_star=other * math.inf, argument="x_star", shows="finite")
    refuses(sr.sketch_and_solve_reference, A, b, everything.double(), torch.ones(10), argument="indices",
            shows="float64")
    refuses(sr.sketch_and_solve_reference, A, b, everything + 5, torch.ones(10), argument="indices", shows="14")
    refuses(sr.sketch_and_solve_reference, A, b, everything, -torch.ones(10, dtype=torch.float64),
            argument="weights", shows="-1")
    refuses(sr.sketch_and_solve_reference, A, b, everything[:2], torch.ones(2, dtype=torch.float64),
            argument="indices", shows="got 2")


@covers(sr.sketch_and_solve, sr.sampling_probabilities)
@given(tensors(12, 3), tensors(12), st.sampled_from(sr.SCORES), st.integers(3, 30), st.sampled_from([0.0, 1.0]),
       seeds, bad_tensors(12), huge_sizes)
def test_sketch_and_solve_is_the_weighted_reference_on_its_own_sample(A, b, scores, samples, ridge, seed, bad, huge):
    p = sr.sampling_probabilities(A, scores, seed=seed)
    assert p.shape == (12,) and finite(p) and math.isclose(float(p.sum()), 1.0, rel_tol=1e-12)
    if scores == "exact":
        assert torch.allclose(p, ls.leverage_scores(A) / 3, atol=1e-12)
    x = sr.sketch_and_solve(A, b, samples, scores, ridge=ridge, seed=seed)
    indices, weights = ls.sample_rows(p.to(torch.float64), samples, seed=seed + 7919)
    rows = A[indices]
    if ridge > 0 or torch.linalg.matrix_rank(rows) == 3:
        assert finite(x)
        assert torch.allclose(x, sr.sketch_and_solve_reference(A, b, indices, weights, ridge), atol=1e-6, rtol=1e-6)
    assert torch.equal(sr.sketch_and_solve(A, b, samples, p, ridge=ridge, seed=seed), x)
    tensor, shown = bad
    refuses(sr.sketch_and_solve, A, tensor, samples, scores, argument="b", shows=shown)
    refuses(sr.sketch_and_solve, A, b, samples, tensor, argument="scores", shows=shown)
    refuses(sr.sketch_and_solve, A, b, huge, scores, argument="samples", shows="GiB")
    refuses(sr.sketch_and_solve, A, b, 2, scores, argument="samples", shows="got 2")
    refuses(sr.sketch_and_solve, A, b, samples, "leverage", argument="scores", shows="'leverage'")
    refuses(sr.sketch_and_solve, A, b, samples, scores, seed=-1, argument="seed", shows="-1")
    refuses(sr.sampling_probabilities, A, "magic", argument="scores", shows="'magic'")
    refuses(sr.sketch_and_solve, torch.zeros_like(A), b, samples, "uniform", argument="A", shows="all zero")


@covers(sr.coherent_regression)
@given(st.integers(3, 12), st.integers(1, 3), st.floats(1.0, 1e4), st.sampled_from([None, 1, 2]),
       st.sampled_from([1.5, 3.0, None, math.inf]), seeds, huge_sizes, bad_reals)
def test_coherent_regression_has_condition_kappa_and_is_reproducible(n, d, kappa, responses, tail, seed, huge, bad):
    A, b = sr.coherent_regression(n, d, kappa, responses, tail, seed=seed)
    assert A.shape == (n, d) and b.shape == ((n,) if responses is None else (n, responses)) and finite((A, b))
    values = torch.linalg.svdvals(A)
    assert math.isclose(float(values[0] / values[-1]), kappa if d > 1 else 1.0, rel_tol=1e-6)  # one column: 1
    again = sr.coherent_regression(n, d, kappa, responses, tail, seed=seed)
    assert torch.equal(again[0], A) and torch.equal(again[1], b)
    refuses(sr.coherent_regression, huge, d, argument="n", shows=str(huge))
    refuses(sr.coherent_regression, d, d + 1, argument="n must be >= d", shows=f"d = {d + 1}")
    refuses(sr.coherent_regression, n, d, kappa=0.5, argument="kappa", shows="0.5")
    if bad[0] is not None and bad[0] != math.inf:  # None and inf mean "no heavy tail"
        refuses(sr.coherent_regression, n, d, heavy_tail=bad[0], argument="heavy_tail", shows=bad[1])
    refuses(sr.coherent_regression, n, d, noise=bad[0], argument="noise", shows=bad[1])
    refuses(sr.coherent_regression, n, d, seed=-1, argument="seed", shows="-1")
    refuses(sr.coherent_regression, n, d, dtype=torch.int64, argument="dtype", shows="int64")
    if not torch.cuda.is_available():
        refuses(sr.coherent_regression, n, d, device="cuda", argument="device", shows="cuda")


@covers(sr.classical_exact_cost, sr.classical_sketch_cost, sr.quantum_claimed_cost, sr.cost_crossover)
@given(st.floats(1.0, 1e12), st.floats(1.0, 1e3), st.floats(1e-4, 0.5), bad_reals)
def test_cost_models_are_positive_and_cross_where_cost_crossover_says(n, d, eps, bad):
    assert sr.classical_exact_cost(n, d) == n * d**2
    for model in (sr.classical_sketch_cost, sr.quantum_claimed_cost):
        value = model(n, d, eps)
        assert math.isfinite(value) and value > 0 and model(2 * n, d, eps) > value
    crossing = sr.cost_crossover(d, eps)
    if math.isfinite(crossing) and crossing > d:
        assert sr.quantum_claimed_cost(crossing * 1.01, d, eps) < sr.classical_sketch_cost(crossing * 1.01, d, eps)
        assert sr.quantum_claimed_cost(crossing * 0.99, d, eps) > sr.classical_sketch_cost(crossing * 0.99, d, eps)
    value, shown = bad
    refuses(sr.classical_exact_cost, value, d, argument="n", shows=shown)
    refuses(sr.classical_sketch_cost, n, value, eps, argument="d", shows=shown)
    refuses(sr.quantum_claimed_cost, n, d, value, argument="eps", shows=shown)
    refuses(sr.cost_crossover, value, eps, argument="d", shows=shown)
    refuses(sr.quantum_claimed_cost, -n, d, eps, argument="n", shows=str(-n))
    refuses(sr.cost_crossover, d, 0.0, argument="eps", shows="0.0")
