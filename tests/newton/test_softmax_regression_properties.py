"""Property tests of softmax_regression: the closed-form gradient and Hessian match autograd, the sampled Hessian
is the sampled Gram plus the exact rank-2 part, Newton reaches the minimiser, and bad input is refused by name."""

import math

import torch
from hypothesis import given
from hypothesis import strategies as st

from simple_algebra.newton import softmax_regression as sr
from simple_algebra.sketching import leverage_scores as ls
from tests.properties import bad_reals, bad_tensors, covers, finite, huge_sizes, refuses, seeds, tensors

w0s = st.floats(0.0, 2.0)


@covers(sr.softmax_regression_loss, sr.softmax_regression_gradient, sr.softmax_regression_hessian,
        sr.softmax_regression_hessian_reference, sr.hessian_parts, sr.smallest_hessian_eigenvalue)
@given(tensors(8, 3), tensors(8, low=0.0, high=1.0), tensors(3, low=-1.0, high=1.0), w0s, bad_tensors(8, 3),
       bad_reals)
def test_closed_forms_match_autograd(C, b, x, w0, bad, bad_real):
    loss = sr.softmax_regression_loss(C, b, x, w0)
    expected = 0.5 * ((torch.softmax(C @ x, 0) - b) ** 2).sum() + 0.5 * w0**2 * ((C @ x) ** 2).sum()
    assert loss.ndim == 0 and math.isclose(float(loss), float(expected), rel_tol=1e-12)
    gradient = sr.softmax_regression_gradient(C, b, x, w0)
    assert torch.allclose(gradient, torch.func.grad(lambda z: sr.softmax_regression_loss(C, b, z, w0))(x), atol=1e-10)
    H = sr.softmax_regression_hessian(C, b, x, w0)
    assert torch.allclose(H, sr.softmax_regression_hessian_reference(C, b, x, w0), atol=1e-10)
    D, a, c, gamma = sr.hessian_parts(C, b, x, w0)
    assembled = C.T @ (D[:, None] * C) - torch.outer(c, a) - torch.outer(a, c) + gamma * torch.outer(a, a)
    assert torch.allclose(H, assembled, atol=1e-10)
    assert math.isclose(sr.smallest_hessian_eigenvalue(C, b, x, w0), float(torch.linalg.eigvalsh(H).min()),
                        rel_tol=1e-9, abs_tol=1e-12)
    tensor, shown = bad
    value, shown_value = bad_real
    for function in (sr.softmax_regression_loss, sr.softmax_regression_gradient, sr.softmax_regression_hessian,
                     sr.softmax_regression_hessian_reference, sr.hessian_parts, sr.smallest_hessian_eigenvalue):
        refuses(function, tensor, b, x, w0, argument="C", shows=shown)
        refuses(function, C, b, x, value, argument="w0", shows=shown_value)
    refuses(sr.softmax_regression_loss, C, b[:-1], x, w0, argument="b", shows="(7,)")
    refuses(sr.softmax_regression_gradient, C, b, x[:-1], w0, argument="x", shows="(2,)")
    refuses(sr.softmax_regression_hessian, C, b.float(), x, w0, argument="b", shows="float32")
    refuses(sr.softmax_regression_loss, C, b, x * math.nan, w0, argument="x", shows="finite")
    refuses(sr.softmax_regression_hessian, C, b, x, -1.0 - w0, argument="w0", shows=str(-1.0 - w0))


@covers(sr.sampled_hessian)
@given(tensors(10, 3), tensors(10, low=0.0, high=1.0), tensors(3, low=-1.0, high=1.0), st.floats(1.5, 3.0),
       st.integers(1, 40), st.sampled_from(sr.SCORES), seeds, huge_sizes)
def test_sampled_hessian_is_the_sampled_gram_plus_the_exact_rank_two_part(C, b, x, w0, samples, scores, seed, huge):
    H_tilde = sr.sampled_hessian(C, b, x, w0, samples, scores, seed)
    assert H_tilde.shape == (3, 3) and finite(H_tilde) and torch.allclose(H_tilde, H_tilde.T)
    assert torch.equal(sr.sampled_hessian(C, b, x, w0, samples, scores, seed), H_tilde)
    D, a, c, gamma = sr.hessian_parts(C, b, x, w0)
    assert bool((D > 0).all())  # w0 >= 1.5 and b in [0, 1] keep D positive
    if scores == "exact":
        B = D.sqrt()[:, None] * C
        gram = ls.sampled_gram(B, samples, ls.leverage_scores(B), seed=seed)
        expected = gram - torch.outer(c, a) - torch.outer(a, c) + gamma * torch.outer(a, a)
        assert torch.allclose(H_tilde, 0.5 * (expected + expected.T), atol=1e-10)
    refuses(sr.sampled_hessian, C, b, x, w0, huge, scores, seed, argument="samples", shows="GiB")
    refuses(sr.sampled_hessian, C, b, x, w0, 0, scores, seed, argument="samples", shows="0")
    refuses(sr.sampled_hessian, C, b, x, w0, samples, "magic", seed, argument="scores", shows="'magic'")
    refuses(sr.sampled_hessian, C, b, x, w0, samples, scores, -1, argument="seed", shows="-1")


@covers(sr.random_instance)
@given(st.integers(2, 12), st.integers(1, 4), st.floats(1.0, 1e3), st.booleans(), seeds, huge_sizes)
def test_random_instance_has_the_condition_and_b_is_the_softmax(n, d, condition, intercept, seed, huge):
    d = min(d, n)
    instance = sr.random_instance(n, d, condition, intercept, seed)
    C, b, x_true = instance.C, instance.b, instance.x_true
    assert C.shape == (n, d) and b.shape == (n,) and x_true.shape == (d,) and finite((C, b, x_true))
    assert torch.allclose(b, torch.softmax(C @ x_true, 0), atol=1e-14)
    if intercept:
        assert torch.equal(C[:, -1], torch.ones(n, dtype=C.dtype))
    elif d > 1:
        values = torch.linalg.svdvals(C)
        assert math.isclose(float(values[0] / values[-1]), condition, rel_tol=1e-6)
    again = sr.random_instance(n, d, condition, intercept, seed)
    assert torch.equal(again.C, C) and torch.equal(again.b, b)
    refuses(sr.random_instance, huge, d, argument="n", shows=str(huge))
    refuses(sr.random_instance, n, n + 1, argument="d", shows=str(n + 1))
    refuses(sr.random_instance, n, d, 0.5, argument="condition", shows="0.5")
    refuses(sr.random_instance, n, d, intercept=1, argument="intercept", shows="1")
    refuses(sr.random_instance, n, d, seed=-1, argument="seed", shows="-1")
    refuses(sr.random_instance, n, d, dtype=torch.complex64, argument="dtype", shows="complex64")
    if not torch.cuda.is_available():
        refuses(sr.random_instance, n, d, device="cuda", argument="device", shows="cuda")


@covers(sr.newton_solve, sr.minimizer, sr.gradient_descent_solve)
@given(seeds, st.floats(0.3, 1.0), st.integers(5, 30))
def test_newton_reaches_the_minimiser_and_gradient_descent_moves_towards_it(seed, w0, samples):
    instance = sr.random_instance(12, 3, seed=seed)
    C, b, x0 = instance.C, instance.b, instance.x_true
    x_star = sr.minimizer(C, b, w0, x0)
    assert finite(x_star) and float(torch.linalg.vector_norm(sr.softmax_regression_gradient(C, b, x_star, w0))) < 1e-10
    exact = sr.newton_solve(C, b, w0, x0, 8, reference=x_star)
    assert exact.errors[-1] < 1e-9 * max(1.0, float(torch.linalg.vector_norm(x_star)))
    sampled = sr.newton_solve(C, b, w0, x0, 3, samples=samples, reference=x_star, seed=seed)
    assert len(sampled.iterates) == 4 and finite(sampled.iterates)
    again = sr.newton_solve(C, b, w0, x0, 3, samples=samples, reference=x_star, seed=seed)
    assert all(torch.equal(one, two) for one, two in zip(sampled.iterates, again.iterates))
    descent = sr.gradient_descent_solve(C, b, w0, x0, 20, reference=x_star)
    assert finite(descent.iterates) and descent.errors[-1] < descent.errors[0]
    refuses(sr.newton_solve, C, b, w0, x0, 10**12, argument="iterations", shows=str(10**12))
    refuses(sr.newton_solve, C, b, w0, x0, 3, samples=0, argument="samples", shows="0")
    refuses(sr.newton_solve, C, b, w0, x0, 3, scores="magic", argument="scores", shows="'magic'")
    refuses(sr.newton_solve, C, b, w0, x0, 3, seed=-1, argument="seed", shows="-1")
    refuses(sr.newton_solve, C, b, w0, x0.float(), 3, argument="x", shows="float32")
    refuses(sr.minimizer, C, b, w0, x0, iterations=10**12, argument="iterations", shows=str(10**12))
    refuses(sr.minimizer, C, b, math.inf, x0, argument="w0", shows="inf")
    refuses(sr.gradient_descent_solve, C, b, w0, x0, 3, step=-1.0, argument="step", shows="-1")
    zero = torch.zeros_like(C)
    refuses(sr.gradient_descent_solve, zero, b, 0.0, x0, 3, argument="step", shows="largest 0")
