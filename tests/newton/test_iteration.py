"""The approximate-Newton loop and gradient descent: exact steps, backtracking, bad input."""

import pytest
import torch

from simple_algebra.newton import iteration as newton


def quadratic(d=5, seed=0):
    draw = torch.Generator().manual_seed(seed)
    M = torch.randn(3 * d, d, generator=draw, dtype=torch.float64)
    H, target = M.T @ M, torch.randn(d, generator=draw, dtype=torch.float64)
    return H, target, (lambda x: 0.5 * (x - target) @ H @ (x - target)), (lambda x: H @ (x - target))


def test_exact_newton_solves_a_quadratic_in_one_step_and_gd_converges():
    H, target, loss, gradient = quadratic()
    run = newton.approximate_newton(torch.zeros(5, dtype=torch.float64), gradient, lambda x, k: H, 5, loss=loss,
                                reference=target, tolerance=1e-12)
    assert run.errors[1] < 1e-12 and len(run.iterates) == 2 and run.steps == [1.0]
    step = 1 / float(torch.linalg.eigvalsh(H).max())
    slow = newton.gradient_descent(torch.zeros(5, dtype=torch.float64), gradient, step, 200, loss=loss, reference=target)
    assert slow.errors[-1] < slow.errors[0] and all(b <= a + 1e-12 for a, b in zip(slow.losses, slow.losses[1:]))


def test_backtracking_keeps_the_loss_from_rising():
    H, target, loss, gradient = quadratic()
    bad = 0.05 * H  # twenty times too small a Hessian: full steps overshoot
    run = newton.approximate_newton(torch.zeros(5, dtype=torch.float64), gradient, lambda x, k: bad, 10, loss=loss)
    assert all(b <= a for a, b in zip(run.losses, run.losses[1:])) and min(run.steps) < 1


@pytest.mark.parametrize("bad", [
    lambda: newton.approximate_newton(torch.ones(2), lambda x: x, lambda x, k: torch.eye(3), 1),
    lambda: newton.gradient_descent(torch.zeros(2), lambda x: x, -1.0, 3),
])
def test_bad_input_is_refused(bad):
    with pytest.raises(ValueError):
        bad()
