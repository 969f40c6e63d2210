"""Tests of the softmax-first regression and its exact / leverage-sampled Newton methods (arXiv 2311.15390)."""

import math

import pytest
import torch

from simple_algebra.newton import softmax_regression as sr
from simple_algebra.sketching import leverage_scores as ls

N, D = 300, 6
W0 = 0.1 / N


@pytest.fixture(scope="module")
def problem():
    instance = sr.random_instance(N, D, condition=5.0, seed=0)
    x_star = sr.minimizer(instance.C, instance.b, W0, instance.x_true)
    return instance, x_star


def test_instance_shapes_condition_and_determinism():
    first = sr.random_instance(50, 4, condition=30.0, seed=3)
    second = sr.random_instance(50, 4, condition=30.0, seed=3)
    assert first.C.shape == (50, 4) and first.b.shape == (50,) and first.x_true.shape == (4,)
    assert torch.equal(first.C, second.C) and torch.equal(first.b, second.b)
    singular = torch.linalg.svdvals(first.C)
    assert math.isclose(float(singular[0] / singular[-1]), 30.0, rel_tol=1e-9)
    assert math.isclose(float(first.b.sum()), 1.0, rel_tol=1e-12)
    with_intercept = sr.random_instance(50, 4, intercept=True, seed=3)
    assert torch.equal(with_intercept.C[:, -1], torch.ones(50, dtype=torch.float64))


def test_gradient_matches_autograd(problem):
    instance, x_star = problem
    x = sr.perturbed_start(x_star, 0.3, seed=1).requires_grad_(True)
    loss = sr.softmax_regression_loss(instance.C, instance.b, x, W0)
    (expected,) = torch.autograd.grad(loss, x)
    got = sr.softmax_regression_gradient(instance.C, instance.b, x.detach(), W0)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-18)


@pytest.mark.parametrize("distance", [0.0, 0.3, 1.0])
def test_closed_form_hessian_matches_autograd(problem, distance):
    instance, x_star = problem
    x = sr.perturbed_start(x_star, distance, seed=2)
    closed = sr.softmax_regression_hessian(instance.C, instance.b, x, W0)
    reference = sr.softmax_regression_hessian_reference(instance.C, instance.b, x, W0)
    assert float((closed - reference).abs().max() / reference.abs().max()) < 1e-10
    x.requires_grad_(True)
    (gradient,) = torch.autograd.grad(sr.softmax_regression_loss(instance.C, instance.b, x, W0), x, create_graph=True)
    rows = [torch.autograd.grad(gradient[i], x, retain_graph=True)[0] for i in range(D)]
    torch.testing.assert_close(torch.stack(rows), closed, rtol=1e-9, atol=1e-18)


def test_hessian_parts_reassemble(problem):
    instance, x_star = problem
    diagonal, a, c, gamma = sr.hessian_parts(instance.C, instance.b, x_star, W0)
    C = instance.C
    H = C.T @ (diagonal[:, None] * C) - torch.outer(c, a) - torch.outer(a, c) + gamma * torch.outer(a, a)
    torch.testing.assert_close(H, sr.softmax_regression_hessian(instance.C, instance.b, x_star, W0))
    assert bool((diagonal > 0).all())  # at the optimum the diagonal part is positive


def test_sampled_hessian_is_unbiased_and_uses_sampled_gram(problem):
    instance, x_star = problem
    H = sr.softmax_regression_hessian(instance.C, instance.b, x_star, W0)
    mean = sum(sr.sampled_hessian(instance.C, instance.b, x_star, W0, 200, seed=k) for k in range(40)) / 40
    assert ls.spectral_error(H, mean) < 0.1
    diagonal, a, c, gamma = sr.hessian_parts(instance.C, instance.b, x_star, W0)
    B = diagonal.sqrt()[:, None] * instance.C
    gram = ls.sampled_gram(B, 500, seed=4)
    expected = gram - torch.outer(c, a) - torch.outer(a, c) + gamma * torch.outer(a, a)
    torch.testing.assert_close(sr.sampled_hessian(instance.C, instance.b, x_star, W0, 500, seed=4),
                               0.5 * (expected + expected.T))
    # More rows, a smaller spectral error; leverage scores beat uniform sampling at equal s.
    errors = {s: ls.spectral_error(H, sr.sampled_hessian(instance.C, instance.b, x_star, W0, s, seed=1))
              for s in (50, 2000)}
    assert errors[2000] < errors[50]


def test_sampled_hessian_handles_negative_diagonal(problem):
    instance, x_star = problem
    x = sr.perturbed_start(x_star, 1.5, seed=5)
    diagonal, *_ = sr.hessian_parts(instance.C, instance.b, x, W0)
    assert bool((diagonal < 0).any())
    H = sr.softmax_regression_hessian(instance.C, instance.b, x, W0)
    mean = sum(sr.sampled_hessian(instance.C, instance.b, x, W0, 300, seed=k) for k in range(40)) / 40
    assert float((mean - H).abs().max() / H.abs().max()) < 0.15


def test_exact_newton_converges_quadratically(problem):
    instance, x_star = problem
    x0 = sr.perturbed_start(x_star, 0.3, seed=1)
    run = sr.newton_solve(instance.C, instance.b, W0, x0, 6, reference=x_star)
    relative = [e / float(x_star.norm()) for e in run.errors]
    assert relative[-1] < 1e-12
    assert relative[3] < 10 * relative[2] ** 2 / relative[0]  # error_{t+1} ~ error_t^2 (up to a constant)


def test_sampled_newton_converges_linearly_and_more_rows_converge_faster(problem):
    instance, x_star = problem
    x0 = sr.perturbed_start(x_star, 0.3, seed=1)
    final = {}
    for samples in (60, 240):
        run = sr.newton_solve(instance.C, instance.b, W0, x0, 10, samples=samples, reference=x_star, seed=3)
        final[samples] = run.errors[-1] / float(x_star.norm())
    assert final[240] < 1e-6 and final[240] < final[60]
    for scores in ("approximate", "uniform"):
        run = sr.newton_solve(instance.C, instance.b, W0, x0, 12, samples=240, scores=scores,
                              refresh_scores=False, reference=x_star, seed=3)
        assert run.errors[-1] / float(x_star.norm()) < 1e-5


def test_gradient_descent_baseline_and_minimizer(problem):
    instance, x_star = problem
    gradient = sr.softmax_regression_gradient(instance.C, instance.b, x_star, W0)
    assert float(gradient.norm()) < 1e-12
    x0 = sr.perturbed_start(x_star, 0.1, seed=1)
    run = sr.gradient_descent_solve(instance.C, instance.b, W0, x0, 50, reference=x_star)
    assert run.errors[-1] < run.errors[0]


def test_regulariser_sets_smallest_eigenvalue_with_intercept():
    instance = sr.random_instance(200, 5, intercept=True, seed=1)
    values = [sr.smallest_hessian_eigenvalue(instance.C, instance.b, instance.x_true, w0) for w0 in (1e-4, 1e-3)]
    # the all-ones column is the softmax's shift direction: only the regulariser curves the loss along it
    assert 50 < values[1] / values[0] < 200
    assert abs(sr.smallest_hessian_eigenvalue(instance.C, instance.b, instance.x_true, 0.0)) < 1e-12


def test_follows_dtype_and_is_deterministic(problem):
    instance, x_star = problem
    C32, b32, x32 = instance.C.float(), instance.b.float(), x_star.float()
    assert sr.softmax_regression_hessian(C32, b32, x32, W0).dtype == torch.float32
    first = sr.sampled_hessian(instance.C, instance.b, x_star, W0, 100, scores="approximate", seed=7)
    second = sr.sampled_hessian(instance.C, instance.b, x_star, W0, 100, scores="approximate", seed=7)
    assert torch.equal(first, second)


def test_value_errors(problem):
    instance, x_star = problem
    C, b = instance.C, instance.b
    with pytest.raises(ValueError, match="b must have"):
        sr.softmax_regression_loss(C, b[:-1], x_star, W0)
    with pytest.raises(ValueError, match="x must have"):
        sr.softmax_regression_gradient(C, b, x_star[:-1], W0)
    with pytest.raises(ValueError, match="w0"):
        sr.softmax_regression_hessian(C, b, x_star, -1.0)
    with pytest.raises(ValueError, match="finite"):
        sr.softmax_regression_hessian(C, b, torch.full_like(x_star, math.nan), W0)
    with pytest.raises(ValueError, match="scores"):
        sr.sampled_hessian(C, b, x_star, W0, 10, scores="magic")
    with pytest.raises(ValueError, match="samples"):
        sr.newton_solve(C, b, W0, x_star, 3, samples=0)
    with pytest.raises(ValueError, match="condition"):
        sr.random_instance(10, 3, condition=0.5)
    with pytest.raises(ValueError, match="d must be"):
        sr.random_instance(3, 10)
