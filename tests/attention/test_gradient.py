"""The attention-loss gradient: the paper's formula against autograd and finite differences, the low-rank
algorithm against the formula (Alman, Song; arXiv 2402.04497)."""

import math

import pytest
import torch

import simple_algebra as sa
from simple_algebra.attention import gradient as ag
from simple_algebra.core.metrics import relative_error


@pytest.fixture(autouse=True)
def _one_thread():
    # small matrix products on a busy two-core machine: two torch threads spin-wait (60x slower here)
    with sa.one_thread():
        yield


@pytest.mark.parametrize("n,d,bound", [(32, 2, 0.5), (64, 4, 1.0), (48, 3, 3.0)])
def test_formula_matches_autograd(n, d, bound):
    problem = ag.random_problem(n, d, bound, seed=1)
    formula = ag.attention_gradient_reference(*problem)
    assert relative_error(formula, ag.attention_gradient_autograd(*problem)) < 1e-12


def test_formula_matches_finite_differences():
    problem = ag.random_problem(16, 3, 1.5, seed=2)
    numeric = ag.finite_difference_gradient(*problem)
    assert relative_error(numeric, ag.attention_gradient_reference(*problem)) < 1e-6


def test_formula_with_more_keys_than_queries_and_rectangular_values():
    source = torch.Generator().manual_seed(3)
    X, Y = torch.randn(3, 3, generator=source, dtype=torch.float64), torch.randn(3, 5, generator=source,
                                                                               dtype=torch.float64)
    A1, E = torch.randn(7, 3, generator=source, dtype=torch.float64), torch.randn(7, 5, generator=source,
                                                                                dtype=torch.float64)
    A2, A3 = torch.randn(11, 3, generator=source, dtype=torch.float64), torch.randn(11, 3, generator=source,
                                                                                  dtype=torch.float64)
    problem = (0.3 * X, A1, A2, A3, Y, E)
    exact = ag.attention_gradient_reference(*problem)
    assert relative_error(exact, ag.attention_gradient_autograd(*problem)) < 1e-12
    assert relative_error(ag.attention_gradient_low_rank(*problem, 12), exact) < 1e-8


def test_low_rank_error_falls_with_the_degree():
    problem = ag.random_problem(256, 4, 1.0, seed=0)
    errors = ag.low_rank_errors(problem, range(0, 11))
    assert all(later <= earlier for earlier, later in zip(errors, errors[1:]))
    assert errors[6] < 1e-5 and errors[10] < 1e-11


def test_low_rank_is_exact_for_the_truncated_kernel():
    # with a tiny bound the Taylor kernel is exp to machine precision, so the algebra of U1..U4 is all that is left
    problem = ag.random_problem(100, 3, 0.05, seed=4)
    assert relative_error(ag.attention_gradient_low_rank(*problem, 8), ag.attention_gradient_reference(*problem)) \
        < 1e-12


def test_factors_approximate_the_attention_matrix():
    from simple_algebra.attention.exact import attention_matrix

    problem = ag.random_problem(64, 4, 1.0, seed=5)
    U1, V1 = ag.low_rank_attention_factors(problem.X, problem.A1, problem.A2, 6)
    assert U1.shape == (64, 210) and V1.shape == (64, 210)
    exact = attention_matrix(problem.A1 @ problem.X, problem.A2, scale=1 / 4)
    assert relative_error(U1 @ V1.T, exact) < 1e-6


def test_no_n_by_n_matrix_at_large_n():
    # 2^17 queries: an n x n float64 matrix would need 137 GB, so finishing at all shows none is formed
    problem = ag.random_problem(1 << 17, 2, 0.5, seed=0)
    gradient = ag.attention_gradient_low_rank(*problem, 2)
    assert gradient.shape == (2, 2) and torch.isfinite(gradient).all()


def test_smallest_degree_grows_with_the_bound():
    degrees = [ag.smallest_degree(ag.random_problem(128, 2, bound, seed=0), 1e-3)[0] for bound in (0.5, 1.0, 2.0)]
    assert degrees[0] < degrees[1] < degrees[2]
    assert ag.smallest_degree(ag.random_problem(64, 2, 3.0, seed=0), 1e-3, max_degree=2) is None


def test_random_problem_bound_and_determinism():
    problem = ag.random_problem(50, 4, 2.5, seed=7)
    assert float((problem.A1 @ problem.X).abs().max()) == pytest.approx(2.5)
    assert float(problem.A2.abs().max()) == pytest.approx(2.5)
    again = ag.random_problem(50, 4, 2.5, seed=7)
    assert all(torch.equal(a, b) for a, b in zip(problem, again))
    assert torch.equal(ag.attention_gradient_low_rank(*problem, 5), ag.attention_gradient_low_rank(*again, 5))
    assert not torch.equal(problem.A1, ag.random_problem(50, 4, 2.5, seed=8).A1)


def test_dtype_follows_the_input():
    problem = ag.random_problem(64, 4, 1.0, seed=0, dtype=torch.float32)
    assert ag.attention_gradient_low_rank(*problem, 4).dtype == torch.float32
    assert ag.attention_gradient_reference(*problem).dtype == torch.float32
    assert ag.attention_gradient_autograd(*problem).dtype == torch.float32


def test_odd_degree_with_a_large_bound_raises_instead_of_dividing_by_zero():
    base = ag.random_problem(64, 1, 1.0, seed=0)
    # scores X a1 a2 / d from -30 to 0: the degree-1 kernel 1 + s is negative for most keys
    problem = base._replace(X=torch.tensor([[30.0]], dtype=torch.float64),
                            A1=torch.ones(64, 1, dtype=torch.float64),
                            A2=-torch.linspace(0, 1, 64, dtype=torch.float64)[:, None])
    with pytest.raises(ValueError, match="non-positive"):
        ag.attention_gradient_low_rank(*problem, 1)
    errors = ag.low_rank_errors(problem, [1, 2])
    assert math.isnan(errors[0]) and math.isfinite(errors[1])  # even degrees are always positive


@pytest.mark.parametrize("bad,match", [
    (dict(X=torch.ones(3, 2, dtype=torch.float64)), "X must be"),
    (dict(A1=torch.ones(8, 3, dtype=torch.float64)), "columns"),
    (dict(A3=torch.ones(9, 2, dtype=torch.float64)), "same number of rows"),
    (dict(E=torch.ones(8, 3, dtype=torch.float64)), "E must have shape"),
    (dict(A2=torch.full((8, 2), float("nan"), dtype=torch.float64)), "finite"),
    (dict(Y=torch.ones(2, 2, dtype=torch.long)), "floating"),
])
def test_bad_inputs_raise(bad, match):
    problem = ag.random_problem(8, 2, 1.0, seed=0)._replace(**bad)
    for function in (ag.attention_gradient_reference, ag.attention_gradient_autograd):
        with pytest.raises(ValueError, match=match):
            function(*problem)
    with pytest.raises(ValueError, match=match):
        ag.attention_gradient_low_rank(*problem, 2)


def test_bad_parameters_raise():
    problem = ag.random_problem(8, 2, 1.0, seed=0)
    with pytest.raises(ValueError, match="degree"):
        ag.attention_gradient_low_rank(*problem, -1)
    with pytest.raises(ValueError, match="bound"):
        ag.random_problem(8, 2, 0.0)
    with pytest.raises(ValueError, match="n must"):
        ag.random_problem(0, 2, 1.0)
    with pytest.raises(ValueError, match="tolerance"):
        ag.smallest_degree(problem, -1.0)
