"""Property tests of the shared Newton loop: on a quadratic, exact Newton lands on the minimiser in one step and
gradient descent contracts; the record has one entry per iterate; NaN gradients, singular Hessians and huge loops
are refused by name."""

import math

import torch
from hypothesis import given
from hypothesis import strategies as st

from simple_algebra.newton import iteration as it
from tests.properties import bad_tensors, covers, finite, refuses, seeds, tensors


def quadratic(M: torch.Tensor, c: torch.Tensor):
    """f(x) = 0.5 x^T Q x - c^T x with Q = M^T M + I: gradient, Hessian, loss, minimiser."""
    Q = M.T @ M + torch.eye(M.shape[1], dtype=M.dtype)
    return (lambda x: Q @ x - c, lambda x, k: Q, lambda x: 0.5 * x @ Q @ x - c @ x, torch.linalg.solve(Q, c), Q)


@covers(it.approximate_newton, it.NewtonRun)
@given(tensors(5, 3), tensors(3), tensors(3), st.integers(1, 4), st.booleans(), bad_tensors(3))
def test_exact_newton_solves_a_quadratic_in_one_step(M, c, x0, iterations, backtracking, bad):
    gradient, hessian, loss, x_star, _ = quadratic(M, c)
    run = it.approximate_newton(x0, gradient, hessian, iterations, loss=loss, reference=x_star,
                                backtracking=backtracking)
    assert isinstance(run, it.NewtonRun) and finite(run.iterates)
    assert torch.allclose(run.iterates[1], x_star, atol=1e-9) and run.steps[0] == 1.0
    assert len(run.iterates) == len(run.losses) == len(run.errors) == len(run.steps) + 1 == len(run.seconds) + 1
    assert run.errors[-1] <= 1e-9 and run.losses[-1] <= run.losses[0] + 1e-12
    record = it.NewtonRun()
    record.record(x0, loss, x_star)
    assert torch.equal(record.iterates[0], x0) and record.losses == [float(loss(x0))]
    tensor, shown = bad
    refuses(it.approximate_newton, tensor, gradient, hessian, 2, argument="x0", shows=shown)
    refuses(it.approximate_newton, x0, gradient, hessian, 2, reference=tensor, argument="reference", shows=shown)
    refuses(it.approximate_newton, x0, lambda x: x * math.nan, hessian, 2, argument="gradient(x)", shows="NaN")
    refuses(it.approximate_newton, x0, lambda x: x[:2], hessian, 2, argument="gradient(x)", shows="(2,)")
    refuses(it.approximate_newton, x0 + 1, gradient, lambda x, k: torch.zeros(3, 3, dtype=x.dtype), 2,
            argument="hessian(x, k)", shows="singular")
    refuses(it.approximate_newton, x0 + 1, gradient, lambda x, k: torch.eye(2), 2, argument="hessian(x, k)",
            shows="(2, 2)")
    refuses(it.approximate_newton, x0, gradient, hessian, 10**12, argument="iterations", shows=str(10**12))
    refuses(it.approximate_newton, x0, gradient, hessian, 2, tolerance=-1.0, argument="tolerance", shows="-1")
    refuses(it.approximate_newton, x0, "gradient", hessian, 2, argument="gradient", shows="str")
    refuses(it.approximate_newton, x0 + 1, gradient, hessian, 2, loss=lambda x: torch.tensor(math.nan),
            argument="loss(x)", shows="nan")


@covers(it.gradient_descent)
@given(tensors(5, 3), tensors(3), tensors(3), st.integers(1, 20), st.floats(0.1, 1.0))
def test_gradient_descent_contracts_towards_the_minimiser(M, c, x0, iterations, fraction):
    gradient, _, loss, x_star, Q = quadratic(M, c)
    step = fraction / float(torch.linalg.eigvalsh(Q).max())
    run = it.gradient_descent(x0, gradient, step, iterations, loss=loss, reference=x_star)
    assert len(run.iterates) == iterations + 1 and finite(run.iterates) and set(run.steps) == {step}
    assert all(later <= earlier + 1e-12 for earlier, later in zip(run.errors, run.errors[1:]))
    assert all(later <= earlier + 1e-12 for earlier, later in zip(run.losses, run.losses[1:]))
    assert torch.allclose(run.iterates[1], x0 - step * gradient(x0))
    refuses(it.gradient_descent, x0, gradient, 0.0, iterations, argument="step", shows="0.0")
    refuses(it.gradient_descent, x0, gradient, math.inf, iterations, argument="step", shows="inf")
    refuses(it.gradient_descent, x0, lambda x: x * math.inf, step, iterations, argument="gradient(x)", shows="NaN")
    refuses(it.gradient_descent, x0, gradient, 1e300, 5, argument="step", shows="1e+300")  # diverges
    refuses(it.gradient_descent, x0, gradient, step, -1, argument="iterations", shows="-1")


@covers(it.perturbed_start)
@given(tensors(4), st.floats(0.0, 2.0), seeds, bad_tensors(4))
def test_perturbed_start_is_at_the_requested_relative_distance(x_star, relative, seed, bad):
    x0 = it.perturbed_start(x_star, relative, seed)
    distance = float(torch.linalg.vector_norm(x0 - x_star))
    assert finite(x0) and math.isclose(distance, relative * float(torch.linalg.vector_norm(x_star)), rel_tol=1e-9,
                                       abs_tol=1e-12)
    assert torch.equal(it.perturbed_start(x_star, relative, seed), x0)
    tensor, shown = bad
    refuses(it.perturbed_start, tensor, relative, argument="x_star", shows=shown)
    refuses(it.perturbed_start, x_star, -relative - 1, argument="relative_distance", shows=str(-relative - 1))
    refuses(it.perturbed_start, x_star, relative, -seed - 1, argument="seed", shows=str(-seed - 1))
