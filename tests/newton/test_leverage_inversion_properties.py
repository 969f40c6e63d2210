"""Property tests of leverage_inversion: g is minus the gradient of the volumetric barrier, the closed-form
Jacobian and Hessians match autograd and the formula, the sampled Hessian is reproducible, and bad input is
refused by name."""

import math

import torch
from hypothesis import given
from hypothesis import strategies as st

from simple_algebra.newton import leverage_inversion as li
from simple_algebra.sketching import leverage_scores as ls
from tests.properties import bad_tensors, covers, finite, huge_sizes, refuses, seeds, tensors

sizes = st.tuples(st.integers(6, 12), st.integers(1, 3))


def barrier(A, b):
    return lambda x: 0.5 * torch.logdet(li.rescaled_matrix(A, b, x).T @ li.rescaled_matrix(A, b, x))


@covers(li.slack, li.rescaled_matrix, li.leverage_scores_at, li.leverage_gradient, li.planted_instance)
@given(sizes, seeds, bad_tensors(6, 2), huge_sizes)
def test_g_is_minus_the_barrier_gradient_at_the_planted_point(size, seed, bad, huge):
    n, d = size
    problem = li.planted_instance(n, d, seed=seed)
    A, b, x = problem.A, problem.b, problem.x_star
    s = li.slack(A, b, x)
    assert bool(((s >= 1) & (s <= 2)).all())  # b = A x* - u with u ~ U[1, 2]
    assert torch.allclose(li.rescaled_matrix(A, b, x), A / s[:, None])
    sigma = li.leverage_scores_at(A, b, x)
    assert math.isclose(float(sigma.sum()), d, rel_tol=1e-10)
    g = li.leverage_gradient(A, b, x)
    assert torch.allclose(g, -torch.func.grad(barrier(A, b))(x), atol=1e-9) and torch.equal(g, problem.c)
    again = li.planted_instance(n, d, seed=seed)
    assert torch.equal(again.A, A) and torch.equal(again.c, problem.c)
    tensor, shown = bad
    refuses(li.slack, tensor, torch.ones(6), torch.ones(2), argument="A", shows=shown)
    refuses(li.leverage_gradient, A, b, x.float(), argument="x", shows="float32")
    refuses(li.rescaled_matrix, A, b[:-1], x, argument="b", shows=f"({n - 1},)")
    refuses(li.slack, A, b, x - 1e3 * A[0], argument="x", shows="smallest slack")
    refuses(li.planted_instance, huge, d, argument="n", shows=str(huge))
    refuses(li.planted_instance, d + 2, d + 3, argument="n >= d", shows=f"d = {d + 3}")
    refuses(li.planted_instance, n, d, seed=-1, argument="seed", shows="-1")
    refuses(li.planted_instance, n, d, dtype=torch.int64, argument="dtype", shows="int64")
    refuses(li.planted_instance, n, d, weight=math.nan, argument="weight", shows="nan")
    if not torch.cuda.is_available():
        refuses(li.planted_instance, n, d, device="cuda", argument="device", shows="cuda")


@covers(li.leverage_gradient_jacobian, li.leverage_gradient_jacobian_reference, li.leverage_gradient_jvp)
@given(sizes, seeds, tensors(3), bad_tensors(3))
def test_closed_form_jacobian_matches_autograd_the_formula_and_the_jvp(size, seed, v, bad):
    n, d = size
    problem = li.planted_instance(n, d, seed=seed)
    A, b, x = problem.A, problem.b, problem.x_star
    J = li.leverage_gradient_jacobian(A, b, x)
    assert J.shape == (d, d) and finite(J) and torch.allclose(J, J.T, atol=1e-10)
    assert float(torch.linalg.eigvalsh(J).max()) < 0  # negative definite
    assert torch.allclose(J, li.leverage_gradient_jacobian_reference(A, b, x), atol=1e-9)
    assert torch.allclose(J, torch.autograd.functional.jacobian(lambda y: li.leverage_gradient(A, b, y), x),
                          atol=1e-8)
    assert torch.allclose(li.leverage_gradient_jvp(A, b, x, v[:d]), J @ v[:d], atol=1e-9)
    tensor, shown = bad
    if d == 3:
        refuses(li.leverage_gradient_jvp, A, b, x, tensor, argument="v", shows=shown)
    refuses(li.leverage_gradient_jvp, A, b, x, v[:d].float(), argument="v", shows="float32")
    refuses(li.leverage_gradient_jacobian_reference, A.tolist(), b, x, argument="A", shows="list")
    big = torch.ones(10**6, 1, dtype=torch.float64)
    refuses(li.leverage_gradient_jacobian_reference, big, big[:, 0] - 1, torch.ones(1, dtype=torch.float64),
            argument="n = 1000000", shows="GiB")
    repeated, origin = torch.cat([A[:, :1], A[:, :1]], dim=1), torch.zeros(2, dtype=A.dtype)
    refuses(li.leverage_gradient_jvp, repeated, -torch.ones_like(b), origin, v[:2], argument="full column rank",
            shows=f"({n}, 2)")


@covers(li.LeverageInversion)
@given(sizes, seeds, st.integers(1, 40), st.sampled_from(["leverage", "uniform"]), st.sampled_from([0.0, 1e-2]),
       huge_sizes)
def test_inverse_problem_gradient_and_hessians_agree_with_their_definitions(size, seed, samples, scheme, weight, huge):
    n, d = size
    problem = li.planted_instance(n, d, seed=seed, weight=weight)
    x = problem.x_star * 1.01
    assert problem.dimension == d and float(torch.linalg.vector_norm(problem.residual(problem.x_star))) == 0.0
    assert torch.allclose(problem.gradient(x), torch.func.grad(problem.loss)(x), atol=1e-9)
    H = problem.gauss_newton_hessian(x)
    J, B_w, B = li.leverage_gradient_jacobian(problem.A, problem.b, x), problem.regulariser_rows(), problem.hessian_rows(x)
    assert torch.allclose(H, J.T @ J + B_w.T @ B_w, atol=1e-10) and float(torch.linalg.eigvalsh(H).min()) > 0
    scaled = li.rescaled_matrix(problem.A, problem.b, x)
    sigma = li.leverage_scores_at(problem.A, problem.b, x)
    assert torch.allclose(B.T @ B, scaled.T @ (sigma[:, None] * scaled), atol=1e-10)
    H_tilde = problem.sampled_hessian(x, samples, seed=seed, scheme=scheme)
    assert finite(H_tilde) and torch.allclose(H_tilde, H_tilde.T, atol=1e-8)
    assert torch.equal(problem.sampled_hessian(x, samples, seed=seed, scheme=scheme), H_tilde)
    refuses(problem.sampled_hessian, x, huge, argument="samples", shows="GiB")
    refuses(problem.sampled_hessian, x, samples, seed=-1, argument="seed", shows="-1")
    refuses(problem.sampled_hessian, x, samples, scheme="random", argument="scheme", shows="'random'")
    refuses(problem.loss, x * math.nan, argument="x", shows="finite")
    refuses(li.LeverageInversion, problem.A, problem.b, problem.c[:-1], problem.w, argument="c", shows=f"({d - 1},)")
    refuses(li.LeverageInversion, problem.A, problem.b, problem.c, problem.w.float(), argument="w", shows="float32")
    refuses(li.LeverageInversion, problem.A, problem.b, problem.c, problem.w, x_star=torch.ones(d + 1),
            argument="x_star", shows=f"({d + 1},)")
    refuses(li.LeverageInversion, problem.A, problem.b, problem.c, problem.w, g_map=3, argument="g_map", shows="int")


@covers(li.reference_solution, li.perturbed_start, li.hessian_spectral_errors)
@given(sizes, seeds, st.floats(0.0, 0.05), st.lists(st.integers(1, 30), min_size=1, max_size=3),
       st.lists(st.integers(0, 100), min_size=1, max_size=2))
def test_reference_solution_is_stationary_and_spectral_errors_are_the_sampled_hessians(size, seed, relative,
                                                                                        samples, spectral_seeds):
    n, d = size
    problem = li.planted_instance(n, d, seed=seed)
    x_hat = li.reference_solution(problem)
    assert finite(x_hat) and float(torch.linalg.vector_norm(problem.gradient(x_hat))) < 1e-10
    x0 = li.perturbed_start(problem, x_hat, relative, seed)
    assert math.isclose(float(torch.linalg.vector_norm(x0 - x_hat)),
                        relative * float(torch.linalg.vector_norm(x_hat)), rel_tol=1e-9, abs_tol=1e-14)
    errors = li.hessian_spectral_errors(problem, x_hat, samples, spectral_seeds)
    assert errors.shape == (len(samples), len(spectral_seeds)) and finite(errors) and bool((errors >= 0).all())
    H = problem.gauss_newton_hessian(x_hat)
    first = ls.spectral_error(H, problem.sampled_hessian(x_hat, samples[0], spectral_seeds[0]))
    assert math.isclose(float(errors[0, 0]), first, rel_tol=1e-12)
    refuses(li.reference_solution, "problem", argument="problem", shows="str")
    refuses(li.reference_solution, problem, iterations=10**12, argument="iterations", shows=str(10**12))
    refuses(li.reference_solution, problem, tolerance=math.nan, argument="tolerance", shows="nan")
    refuses(li.reference_solution, problem, x0=torch.ones(d + 1), argument="x0", shows=f"({d + 1},)")
    refuses(li.perturbed_start, problem, x_hat[:0], argument="reference", shows="(0,)")
    refuses(li.perturbed_start, problem, x_hat, relative, -1, argument="seed", shows="-1")
    refuses(li.hessian_spectral_errors, problem, x_hat, [], spectral_seeds, argument="samples", shows="[]")
    refuses(li.hessian_spectral_errors, problem, x_hat, samples, [-1], argument="seeds", shows="-1")
    refuses(li.hessian_spectral_errors, problem, x_hat, 10, spectral_seeds, argument="samples", shows="int")


@covers(li.hessian_sample_size)
@given(st.integers(1, 10**6), st.floats(1e-6, 0.999))
def test_the_chernoff_sample_size_grows_with_d_and_with_the_confidence(d, delta):
    s = li.hessian_sample_size(d, delta)
    assert isinstance(s, int) and s >= d
    assert li.hessian_sample_size(d + 1, delta) >= s and li.hessian_sample_size(d, delta / 2) >= s
    refuses(li.hessian_sample_size, 0, argument="d", shows="0")
    refuses(li.hessian_sample_size, d, 1.0, argument="delta", shows="1.0")
    refuses(li.hessian_sample_size, d, 0.0, argument="delta", shows="0.0")
