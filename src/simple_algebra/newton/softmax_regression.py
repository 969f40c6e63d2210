"""Softmax-first two-layer regression, its closed-form Hessian, and exact vs leverage-sampled Newton.

Chapter: Local convergence of approximate Newton for two-layer nonlinear regression (Z. Li, Song, Z. Wang, Yin;
arXiv 2311.15390). The book's instance of the paper's setting (the exact loss was not available to the book):

    L(x) = 0.5 ||softmax(C x) - b||^2 + 0.5 w0^2 ||C x||^2,        C (n, d), b (n,), x (d,),

where the softmax runs over the n entries of ``C x`` (max-subtracted, float64). With ``f = softmax(Cx)``,
``r = f - b``, ``q = r o f``, ``s = sum q``, ``u = f o f + q``:

    grad L = C^T (q - s f + w0^2 C x),
    H      = C^T [ diag(f o f + q - s f + w0^2) - u f^T - f u^T + (||f||^2 + 2 s) f f^T ] C.

The diagonal part ``C^T diag(D) C`` costs ``O(n d^2)`` exactly; the rest is rank 2 and costs ``O(n d)``. The
approximate Newton method samples only the diagonal part, by leverage scores of ``D^{1/2} C``
(:mod:`simple_algebra.sketching.leverage_scores`), and adds the rank-2 part exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..core.runtime import generator
from ..core.validation import (
    check_allocation,
    check_choice,
    check_device,
    check_finite_tensor,
    check_float_dtype,
    check_int,
    check_real,
    check_same_kind,
    check_seed,
    check_steps,
)
from ..sketching.leverage_scores import (
    approximate_leverage_scores,
    conditioned_matrix,
    leverage_scores,
    sample_rows,
    sampled_gram,
)
from .iteration import (
    NewtonRun,
    approximate_newton,
    gradient_descent,
    perturbed_start,  # noqa: F401  (the chapter's sr.perturbed_start)
)

SCORES = ("exact", "approximate", "uniform")


def _check_problem(C: torch.Tensor, b: torch.Tensor, x: torch.Tensor | None, w0: float) -> float:
    check_finite_tensor("C", C, ndim=2)
    check_finite_tensor("b", b, ndim=1)
    if b.shape[0] != C.shape[0]:
        raise ValueError(f"b must have C's {C.shape[0]} rows, got shape {tuple(b.shape)}")
    if x is not None:
        check_finite_tensor("x", x, ndim=1)
        if x.shape[0] != C.shape[1]:
            raise ValueError(f"x must have C's {C.shape[1]} columns, got shape {tuple(x.shape)}")
    check_same_kind(C=C, b=b, x=x)
    return check_real("w0", w0, low=0.0)


@dataclass
class SoftmaxState:
    """Everything the loss, gradient and Hessian share at one point ``x``: ``y = Cx``, ``f = softmax(y)``,
    ``r = f - b``, ``q = r o f``, ``s = sum q``."""

    y: torch.Tensor
    f: torch.Tensor
    r: torch.Tensor
    q: torch.Tensor
    s: torch.Tensor


def _state(C: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> SoftmaxState:
    y = C @ x
    f = torch.softmax(y, dim=0)  # subtracts the maximum inside: no overflow for large C x
    r = f - b
    q = r * f
    return SoftmaxState(y, f, r, q, q.sum())


def softmax_regression_loss(C: torch.Tensor, b: torch.Tensor, x: torch.Tensor, w0: float) -> torch.Tensor:
    """``L(x) = 0.5 ||softmax(Cx) - b||^2 + 0.5 w0^2 ||Cx||^2`` (a 0-dim tensor). Shapes: C (n, d), b (n,), x (d,).

    Chapter: approximate Newton for two-layer regression (arXiv 2311.15390)."""
    return _loss(C, b, x, _check_problem(C, b, x, w0))


def _loss(C: torch.Tensor, b: torch.Tensor, x: torch.Tensor, w0: float) -> torch.Tensor:
    y = C @ x
    return 0.5 * ((torch.softmax(y, dim=0) - b) ** 2).sum() + 0.5 * w0**2 * (y * y).sum()


def softmax_regression_gradient(C: torch.Tensor, b: torch.Tensor, x: torch.Tensor, w0: float) -> torch.Tensor:
    """``grad L = C^T (q - s f + w0^2 C x)`` with ``f = softmax(Cx)``, ``q = (f - b) o f``, ``s = sum q``: (d,).

    Chapter: approximate Newton for two-layer regression (arXiv 2311.15390)."""
    w0 = _check_problem(C, b, x, w0)
    state = _state(C, b, x)
    return C.T @ (state.q - state.s * state.f + w0**2 * state.y)


def hessian_parts(C: torch.Tensor, b: torch.Tensor, x: torch.Tensor,
                  w0: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The split ``H = C^T diag(D) C - c a^T - a c^T + gamma a a^T`` of the Hessian at ``x``.

    Returns ``D = f o f + q - s f + w0^2`` (n,), ``a = C^T f`` (d,), ``c = C^T u`` (d,) with ``u = f o f + q``, and
    ``gamma = ||f||^2 + 2 s`` (0-dim). Everything but ``C^T diag(D) C`` costs ``O(n d)``.
    Chapter: approximate Newton for two-layer regression (arXiv 2311.15390)."""
    w0 = _check_problem(C, b, x, w0)
    return _parts(C, _state(C, b, x), w0)


def _parts(C: torch.Tensor, state: SoftmaxState, w0: float):
    f, q, s = state.f, state.q, state.s
    diagonal = f * f + q - s * f + w0**2
    # One pass over C for both rank-2 factors.
    a, c = (C.T @ torch.stack([f, f * f + q], dim=1)).unbind(dim=1)
    return diagonal, a, c, (f * f).sum() + 2 * s


def _assemble(diagonal_part: torch.Tensor, a: torch.Tensor, c: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    H = diagonal_part - torch.outer(c, a) - torch.outer(a, c) + gamma * torch.outer(a, a)
    return 0.5 * (H + H.T)


def softmax_regression_hessian(C: torch.Tensor, b: torch.Tensor, x: torch.Tensor, w0: float) -> torch.Tensor:
    """The closed-form Hessian ``C^T [diag(D) - u f^T - f u^T + (||f||^2 + 2 s) f f^T] C`` in ``O(n d^2)``: (d, d).

    Chapter: approximate Newton for two-layer regression (arXiv 2311.15390)."""
    w0 = _check_problem(C, b, x, w0)
    diagonal, a, c, gamma = _parts(C, _state(C, b, x), w0)
    return _assemble(C.T @ (diagonal[:, None] * C), a, c, gamma)


def softmax_regression_hessian_reference(C: torch.Tensor, b: torch.Tensor, x: torch.Tensor,
                                         w0: float) -> torch.Tensor:
    """The Hessian by automatic differentiation (``torch.autograd.functional.hessian`` of the loss, float64): the
    reference for the closed form. (``torch.func.hessian`` agrees, but its vmap of the softmax backward goes through
    ``torch.jit.script`` and warns on stderr.)"""
    w0 = _check_problem(C, b, x, w0)
    C64, b64 = C.to(torch.float64), b.to(torch.float64)

    return torch.autograd.functional.hessian(lambda z: _loss(C64, b64, z, w0), x.to(torch.float64)).to(C.dtype)


def _probabilities(B: torch.Tensor, scores: str, seed: int) -> torch.Tensor:
    if scores == "exact":
        return leverage_scores(B)
    if scores == "approximate":
        return approximate_leverage_scores(B, seed=seed)
    if scores == "uniform":
        return torch.ones(B.shape[0], dtype=B.dtype, device=B.device)
    raise ValueError(f"scores must be one of {SCORES}, got {scores!r}")


def _signed_sampled_gram(C: torch.Tensor, diagonal: torch.Tensor, probabilities: torch.Tensor, samples: int,
                         seed: int) -> torch.Tensor:
    """``sum_j w_j D_ij c_ij c_ij^T``: unbiased for ``C^T diag(D) C`` whatever the signs of ``D``; only the ``s``
    drawn rows are scaled (``D^{1/2} C`` is never formed). Equals ``sampled_gram(D^{1/2} C, ...)`` when D > 0."""
    indices, weights = sample_rows(probabilities, samples, seed)
    rows = C[indices]
    return (rows * (weights * diagonal[indices])[:, None]).T @ rows


def sampled_hessian(C: torch.Tensor, b: torch.Tensor, x: torch.Tensor, w0: float, samples: int,
                    scores: str = "exact", seed: int = 0) -> torch.Tensor:
    """``H~ = sampled_gram(D^{1/2} C, samples) - c a^T - a c^T + gamma a a^T``: the diagonal part sampled by
    leverage scores of ``D^{1/2} C`` (``scores``: "exact", "approximate" or "uniform"), the rank-2 part exact.

    ``D > 0`` near the optimum when ``w0 > 0``; farther away some ``D_i < 0``, and then rows are drawn by the
    leverage scores of ``|D|^{1/2} C`` and weighted by ``D_i`` (still unbiased). Shapes: C (n, d) -> (d, d).
    Chapter: approximate Newton for two-layer regression (arXiv 2311.15390)."""
    w0 = _check_problem(C, b, x, w0)
    samples = check_int("samples", samples, 1)
    check_seed("seed", seed)
    check_choice("scores", scores, SCORES)
    diagonal, a, c, gamma = _parts(C, _state(C, b, x), w0)
    B = diagonal.abs().sqrt()[:, None] * C
    probabilities = _probabilities(B, scores, seed)
    if bool((diagonal > 0).all()):
        return _assemble(sampled_gram(B, samples, probabilities, seed=seed), a, c, gamma)
    return _assemble(_signed_sampled_gram(C, diagonal, probabilities, samples, seed), a, c, gamma)


@dataclass
class Instance:
    """A planted regression: ``C`` (n, d) with condition number ``condition``, ``x_true`` (d,), and
    ``b = softmax(C x_true)`` (n,)."""

    C: torch.Tensor
    b: torch.Tensor
    x_true: torch.Tensor


def random_instance(n: int, d: int, condition: float = 1.0, intercept: bool = False, seed: int = 0,
                    dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> Instance:
    """A seeded instance: ``C = sqrt(n) Q diag(sigma) V^T`` with ``Q`` (n, d) orthonormal, ``V`` orthogonal and
    ``sigma`` log-spaced from 1 to ``1 / condition`` (so ``cond(C) = condition`` and a unit-scale ``C x``);
    ``x_true ~ N(0, I_d / d)`` (so ``C x_true`` has entries of order 1), ``b = softmax(C x_true)``. With
    ``intercept`` the last column of ``C`` is all ones, the direction along which softmax is shift invariant (then
    ``condition`` shapes the other columns).
    Chapter: approximate Newton for two-layer regression (arXiv 2311.15390)."""
    n = check_int("n", n, 2)
    d = check_int("d", d, 1, n)
    condition = check_real("condition", condition, low=1.0)
    if not isinstance(intercept, bool):
        raise ValueError(f"intercept must be True or False, got {intercept!r}")
    check_float_dtype("dtype", dtype)
    device = check_device("device", device) if device is not None else None
    check_allocation(f"the instance for n = {n}, d = {d}", (n, d), torch.float64, device)
    draw = generator(check_seed("seed", seed))
    features = d - 1 if intercept else d
    basis = torch.randn(n, max(features, 1), generator=draw, dtype=torch.float64)
    C = math.sqrt(n) * conditioned_matrix(basis, condition, draw)
    if intercept:
        C = torch.cat([C[:, :features], torch.ones(n, 1, dtype=torch.float64)], dim=1)
    x_true = torch.randn(d, generator=draw, dtype=torch.float64) / math.sqrt(d)
    b = torch.softmax(C @ x_true, dim=0)
    return Instance(C.to(dtype=dtype, device=device), b.to(dtype=dtype, device=device),
                    x_true.to(dtype=dtype, device=device))


class _Cached:
    """Shares one pass over ``C`` between the gradient and the Hessian at the same ``x``: ``Cx`` once, then
    ``C^T [q - s f + w0^2 y, f, f o f + q]`` as one (n, d)^T (n, 3) product (gradient, ``a`` and ``c`` together)."""

    def __init__(self, C: torch.Tensor, b: torch.Tensor, w0: float):
        self.C, self.b, self.w0 = C, b, w0
        self.x: torch.Tensor | None = None

    def at(self, x: torch.Tensor) -> None:
        if self.x is not None and torch.equal(self.x, x):
            return
        self.x = x.clone()
        state = _state(self.C, self.b, x)
        f, q, s = state.f, state.q, state.s
        self.diagonal = f * f + q - s * f + self.w0**2
        columns = torch.stack([q - s * f + self.w0**2 * state.y, f, f * f + q], dim=1)
        self.gradient_value, self.a, self.c = (self.C.T @ columns).unbind(dim=1)
        self.gamma = (f * f).sum() + 2 * s

    def gradient(self, x: torch.Tensor) -> torch.Tensor:
        self.at(x)
        return self.gradient_value

    def parts_at(self, x: torch.Tensor):
        self.at(x)
        return self.diagonal, self.a, self.c, self.gamma

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        return _loss(self.C, self.b, x, self.w0)


def newton_solve(C: torch.Tensor, b: torch.Tensor, w0: float, x0: torch.Tensor, iterations: int, *,
                 samples: int | None = None, scores: str = "exact", refresh_scores: bool = True, seed: int = 0,
                 reference: torch.Tensor | None = None, tolerance: float = 0.0,
                 backtracking: bool = False) -> NewtonRun:
    """Exact Newton (``samples=None``) or leverage-sampled Newton on ``L`` from ``x0``, via
    :func:`simple_algebra.newton.iteration.approximate_newton`.

    Sampled: at iteration ``k`` draw ``samples`` rows of ``D(x)^{1/2} C`` with probabilities from ``scores`` and
    seed ``seed + k``; the rank-2 part is exact. ``refresh_scores=False`` computes the sampling probabilities once,
    at ``x0``, and reuses them (rows are still drawn afresh with the weights of the current ``D``): near the
    optimum ``D`` hardly changes, and the per-iteration cost drops from ``O(nnz(C) log n)`` to ``O(n d + s d^2)``.
    Plain steps by default (a local method); ``backtracking`` halves a step while the loss rises (the shared loop
    then raises at the rounding floor, so pair it with a ``tolerance``). Errors are ``||x_t - reference||``.
    Chapter: approximate Newton for two-layer regression (arXiv 2311.15390)."""
    w0 = _check_problem(C, b, x0, w0)
    if samples is not None:
        samples = check_int("samples", samples, 1)
    check_choice("scores", scores, SCORES)
    check_seed("seed", seed)
    check_steps("iterations", iterations, low=0)
    if not isinstance(refresh_scores, bool) or not isinstance(backtracking, bool):
        raise ValueError(f"refresh_scores and backtracking must be True or False, got {refresh_scores!r} and "
                         f"{backtracking!r}")
    cache = _Cached(C, b, w0)
    fixed: list[torch.Tensor] = []

    def hessian(x: torch.Tensor, k: int) -> torch.Tensor:
        diagonal, a, c, gamma = cache.parts_at(x)
        if samples is None:
            return _assemble(C.T @ (diagonal[:, None] * C), a, c, gamma)
        if refresh_scores or not fixed:
            fixed[:] = [_probabilities(diagonal.abs().sqrt()[:, None] * C, scores, seed + k)]
        return _assemble(_signed_sampled_gram(C, diagonal, fixed[0], samples, seed + k), a, c, gamma)

    return approximate_newton(x0, cache.gradient, hessian, iterations, loss=cache.loss if backtracking else None,
                              reference=reference, tolerance=tolerance, backtracking=backtracking)


def gradient_descent_solve(C: torch.Tensor, b: torch.Tensor, w0: float, x0: torch.Tensor, iterations: int, *,
                           step: float | None = None, reference: torch.Tensor | None = None,
                           tolerance: float = 0.0) -> NewtonRun:
    """Gradient descent on ``L`` with step ``1 / lambda_max(H(x0))`` by default (the first-order baseline).

    Chapter: approximate Newton for two-layer regression (arXiv 2311.15390)."""
    w0 = _check_problem(C, b, x0, w0)
    check_steps("iterations", iterations, low=0)
    if step is None:
        largest = float(torch.linalg.eigvalsh(softmax_regression_hessian(C, b, x0, w0)).max())
        if not largest > 0:
            raise ValueError(f"the Hessian at x0 has no positive eigenvalue (largest {largest:.3g}), so the default "
                             "step 1 / lambda_max is undefined: give step")
        step = 1.0 / largest
    cache = _Cached(C, b, w0)
    return gradient_descent(x0, cache.gradient, step, iterations, reference=reference, tolerance=tolerance)


def minimizer(C: torch.Tensor, b: torch.Tensor, w0: float, x0: torch.Tensor, iterations: int = 50) -> torch.Tensor:
    """The minimiser near ``x0`` to float64 accuracy: damped exact Newton until the step is below ``1e-6 ||x||``,
    then three plain Newton steps (quadratic convergence takes them to rounding level; damping there would stall,
    since at the rounding floor no step lowers the computed loss).

    Raises ValueError if the damped phase does not get there in ``iterations`` steps.
    Chapter: approximate Newton for two-layer regression (arXiv 2311.15390)."""
    _check_problem(C, b, x0, w0)
    iterations = check_steps("iterations", iterations)
    x = x0.detach().clone()
    for _ in range(iterations):
        trial = newton_solve(C, b, w0, x, 1, backtracking=True).iterates[-1]
        step = float(torch.linalg.vector_norm(trial - x))
        x = trial
        if step <= 1e-6 * float(torch.linalg.vector_norm(x)):
            return newton_solve(C, b, w0, x, 3).iterates[-1]
    raise ValueError(f"damped Newton did not converge from x0 in {iterations} steps: start closer to the optimum")


def smallest_hessian_eigenvalue(C: torch.Tensor, b: torch.Tensor, x: torch.Tensor, w0: float) -> float:
    """``lambda_min(H(x))`` from the closed-form Hessian (float64): positive iff the loss is strictly convex at x.

    Chapter: approximate Newton for two-layer regression (arXiv 2311.15390)."""
    H = softmax_regression_hessian(C, b, x, w0).to(torch.float64)
    return float(torch.linalg.eigvalsh(H).min())
