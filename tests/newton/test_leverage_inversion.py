"""The leverage-score gradient g(x), its Jacobian, the inversion objective and the sampled Gauss-Newton Hessian."""

import math

import pytest
import torch

import simple_algebra as sa
from simple_algebra.newton import iteration as newton
from simple_algebra.newton import leverage_inversion as li
from simple_algebra.sketching import leverage_scores as ls


@pytest.fixture(autouse=True)
def single_thread():
    # Many tiny matrix products: two spin-waiting threads on a busy machine only slow them down.
    with sa.one_thread():
        yield


@pytest.fixture(scope="module")
def problem():
    return li.planted_instance(80, 5, seed=3, heavy_rows=3)


def point(problem, shift=0.01):
    return li.perturbed_start(problem, problem.x_star, shift, seed=1)


def test_jacobian_matches_autograd_and_reference(problem):
    x = point(problem)
    closed = li.leverage_gradient_jacobian(problem.A, problem.b, x)
    automatic = torch.func.jacrev(lambda y: li.leverage_gradient(problem.A, problem.b, y))(x)
    reference = li.leverage_gradient_jacobian_reference(problem.A, problem.b, x)
    assert (closed - automatic).abs().max() < 1e-8 * max(1.0, float(closed.abs().max()))
    assert torch.allclose(closed, reference, rtol=1e-10, atol=1e-10)
    assert torch.allclose(closed, closed.T, atol=1e-10)
    assert torch.linalg.eigvalsh(closed).max() < 0  # minus the Hessian of the (convex) volumetric barrier


def test_g_is_minus_the_volumetric_barrier_gradient(problem):
    x = point(problem)
    barrier = lambda y: 0.5 * torch.logdet(li.rescaled_matrix(problem.A, problem.b, y).T
                                           @ li.rescaled_matrix(problem.A, problem.b, y))
    assert torch.allclose(li.leverage_gradient(problem.A, problem.b, x), -torch.func.grad(barrier)(x), atol=1e-10)


def test_leverage_scores_sum_to_d_and_sigma_derivative(problem):
    x = point(problem)
    sigma = li.leverage_scores_at(problem.A, problem.b, x)
    assert abs(float(sigma.sum()) - problem.dimension) < 1e-10
    scaled = li.rescaled_matrix(problem.A, problem.b, x)
    P = scaled @ torch.linalg.solve(scaled.T @ scaled, scaled.T)
    predicted = -2 * (torch.diag(sigma) - P * P) @ scaled
    automatic = torch.func.jacrev(lambda y: li.leverage_scores_at(problem.A, problem.b, y))(x)
    assert torch.allclose(predicted, automatic, atol=1e-10)


def test_jvp_and_gradient_match_autograd(problem):
    x = point(problem)
    v = torch.randn(problem.dimension, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    J = li.leverage_gradient_jacobian(problem.A, problem.b, x)
    assert torch.allclose(li.leverage_gradient_jvp(problem.A, problem.b, x, v), J @ v, atol=1e-10)
    assert torch.allclose(problem.gradient(x), torch.func.grad(problem.loss)(x), atol=1e-10)


def test_pluggable_g_uses_its_own_jacobian(problem):
    x = point(problem)
    plugged = li.LeverageInversion(problem.A, problem.b, problem.c, problem.w,
                                   g_map=lambda A, b, y: li.leverage_gradient(A, b, y),
                                   jacobian=li.leverage_gradient_jacobian_reference)
    assert torch.allclose(plugged.gradient(x), problem.gradient(x), atol=1e-10)
    with pytest.raises(ValueError, match="default g"):
        plugged.sampled_hessian(x, 10)


def test_planted_instance_properties(problem):
    s = li.slack(problem.A, problem.b, problem.x_star)
    assert float(s.min()) >= 1 and float(s.max()) <= 2
    assert torch.allclose(li.leverage_gradient(problem.A, problem.b, problem.x_star), problem.c)
    row_norms = problem.A.norm(dim=1)
    assert float(row_norms[:3].min()) > float(row_norms[3:].max())  # the heavy rows
    assert problem.A.dtype == torch.float64


def test_sampled_hessian_is_consistent_and_leverage_beats_uniform(problem):
    x = problem.x_star
    H = problem.gauss_newton_hessian(x)
    assert torch.allclose(H, H.T) and torch.linalg.eigvalsh(H).min() > 0
    many = ls.spectral_error(H, problem.sampled_hessian(x, 20000, seed=0))
    assert many < 0.1
    leverage = li.hessian_spectral_errors(problem, x, [50], list(range(5)), "leverage").median()
    uniform = li.hessian_spectral_errors(problem, x, [50], list(range(5)), "uniform").median()
    assert leverage < uniform


def test_newton_converges_and_reference_is_stationary(problem):
    reference = li.reference_solution(problem)
    x0 = li.perturbed_start(problem, reference, 0.02, seed=0)
    assert float(problem.gradient(reference).norm()) < 1e-8 * float(problem.gradient(x0).norm())
    run = newton.approximate_newton(x0, problem.gradient, lambda y, k: problem.gauss_newton_hessian(y), 10,
                                loss=problem.loss, reference=reference, tolerance=1e-12)
    assert run.errors[-1] < 1e-10


def test_deterministic():
    first, second = li.planted_instance(50, 4, seed=7), li.planted_instance(50, 4, seed=7)
    assert torch.equal(first.A, second.A) and torch.equal(first.c, second.c)
    x = first.x_star
    assert torch.equal(first.sampled_hessian(x, 20, seed=2), second.sampled_hessian(x, 20, seed=2))
    assert not torch.equal(first.sampled_hessian(x, 20, seed=2), first.sampled_hessian(x, 20, seed=3))


def test_value_errors(problem):
    outside = problem.x_star - 10 * problem.A[:, 0].sign().new_ones(problem.dimension) * 100
    with pytest.raises(ValueError, match="outside the domain"):
        li.slack(problem.A, problem.b, outside)
    with pytest.raises(ValueError, match="outside the domain"):
        problem.loss(outside)
    with pytest.raises(ValueError, match="shape"):
        li.leverage_gradient(problem.A, problem.b[:-1], problem.x_star)
    with pytest.raises(ValueError, match="n >= d"):
        li.planted_instance(3, 5)
    with pytest.raises(ValueError, match="scheme"):
        problem.sampled_hessian(problem.x_star, 10, scheme="random")
    with pytest.raises(ValueError, match="samples"):
        problem.sampled_hessian(problem.x_star, 0)
    with pytest.raises(ValueError, match="shape"):
        li.LeverageInversion(problem.A, problem.b, problem.c[:-1], problem.w)


def test_backtracking_keeps_iterates_feasible(problem):
    reference = li.reference_solution(problem)
    x0 = li.perturbed_start(problem, reference, 0.1, seed=2)
    run = newton.approximate_newton(x0, problem.gradient, lambda y, k: problem.sampled_hessian(y, 10, seed=k), 5,
                                loss=problem.loss)
    for x in run.iterates:
        li.slack(problem.A, problem.b, x)
    assert run.losses[-1] <= run.losses[0]


def test_without_regulariser_the_sampled_hessian_still_works():
    problem = li.planted_instance(60, 4, seed=0, weight=0.0)
    x = problem.x_star
    H = problem.gauss_newton_hessian(x)
    assert ls.spectral_error(H, problem.sampled_hessian(x, 5000, seed=0)) < 0.2


def test_hessian_rows_give_the_diagonal_part_of_the_jacobian(problem):
    x = point(problem)
    B = problem.hessian_rows(x)
    scaled = li.rescaled_matrix(problem.A, problem.b, x)
    sigma = li.leverage_scores_at(problem.A, problem.b, x)
    assert torch.allclose(B.T @ B, scaled.T @ (sigma[:, None] * scaled), atol=1e-10)
    B_w = problem.regulariser_rows()
    assert torch.allclose(B_w.T @ B_w, problem.A.T @ (problem.w[:, None] ** 2 * problem.A))


def test_hessian_sample_size_is_the_chernoff_count_for_eps_sqrt2_minus_1():
    eps = 2**0.5 - 1
    assert li.hessian_sample_size(10) == math.ceil(10 * (2 + 2 * eps / 3) * math.log(40) / eps**2) == 490
    assert li.hessian_sample_size(20) / 20 > li.hessian_sample_size(10) / 10  # grows like d log d, faster than d
    assert li.hessian_sample_size(10, delta=0.01) > li.hessian_sample_size(10)


def test_spectral_error_at_the_chernoff_size_does_not_depend_on_n():
    # the chapter's n sweep in miniature: s = s*(d) rows keep the median eps0 below 1 at n and at 20 n, while
    # uniform sampling of as many rows misses the heavy rows at 20 n (eps0 near 1) and overshoots at n
    d = 4
    s = li.hessian_sample_size(d)
    for n in (400, 8000):
        problem = li.planted_instance(n, d, seed=0, heavy_rows=d, heavy_scale=10.0)
        assert float(li.hessian_spectral_errors(problem, problem.x_star, [s], list(range(9))).median()) < 0.9
    uniform = float(li.hessian_spectral_errors(problem, problem.x_star, [s], list(range(9)), "uniform").median())
    assert uniform > 0.95
