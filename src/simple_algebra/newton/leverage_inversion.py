"""Inverting the leverage-score gradient by approximate Newton with a leverage-sampled Hessian.

Chapter "Inverting the Leverage Score Gradient" (Part III) of the book, after C. Li, Z. Song, Z. Xu, J. Yin,
*Inverting the Leverage Score Gradient: An Efficient Approximate Newton Method* (arXiv 2408.11267).

For ``A (n, d)``, ``b (n,)`` and ``x`` in the domain ``{x : A x > b}``:

    s(x) = A x - b,   A(x) = diag(s)^{-1} A,   sigma(x) = leverage scores of A(x),
    P = A(x) (A(x)^T A(x))^{-1} A(x)^T,      g(x) = A(x)^T sigma(x),

the book's g (a reconstruction): minus the gradient of the volumetric barrier ``0.5 log det(A(x)^T A(x))``. Then

    d sigma = -2 (Sigma - P o P) A(x) dx,     J_g = -A(x)^T (3 Sigma - 2 P o P) A(x)   (symmetric, (d, d)).

The inverse problem: ``min_x L(x) = 0.5 ||g(x) - c||^2 + 0.5 ||diag(w) A x||^2`` with gradient
``J_g (g - c) + A^T diag(w^2) A x`` and Gauss-Newton Hessian ``H = J_g^T J_g + A^T diag(w^2) A``. The n-row sums
inside ``J_g`` (and the regulariser's Gram) are sampled by leverage scores (``leverage_scores.sampled_gram``),
which gives the approximate Hessian of the chapter; the Newton loop itself is ``iteration.approximate_newton``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

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
    check_shape,
    check_steps,
)
from ..sketching import leverage_scores as ls
from ..sketching.leverage_scores import _check_full_rank
from . import iteration

# Slacks below this (relative to the largest) count as "on the boundary": A(x) would blow up there.
MIN_RELATIVE_SLACK = 1e-10


def _check_problem(A: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> None:
    check_finite_tensor("A", A, ndim=2)
    check_finite_tensor("b", b, ndim=1)
    check_finite_tensor("x", x, ndim=1)
    n, d = A.shape
    if n < d:
        raise ValueError(f"A must have at least as many rows as columns (n >= d), got shape {tuple(A.shape)}")
    if b.shape != (n,):
        raise ValueError(f"b must have shape ({n},), got {tuple(b.shape)}")
    if x.shape != (d,):
        raise ValueError(f"x must have shape ({d},), got {tuple(x.shape)}")
    check_same_kind(A=A, b=b, x=x)


def slack(A: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``s(x) = A x - b`` (n,), checked to be positive: ``x`` must lie in the domain ``{x : A x > b}``.

    Raises ValueError when some slack is not positive (or is tiny relative to the largest one), because then
    ``A(x) = diag(s)^{-1} A`` is undefined; the Newton loop's backtracking treats that as a rejected step.
    """
    _check_problem(A, b, x)
    s = A @ x - b
    if not bool((s > MIN_RELATIVE_SLACK * s.abs().max()).all()):
        raise ValueError(f"x is outside the domain A x > b: the smallest slack s(x) = A x - b is {float(s.min()):.3e}"
                         " (every slack must stay positive; start closer to the solution or take shorter steps)")
    return s


def rescaled_matrix(A: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``A(x) = diag(A x - b)^{-1} A`` (n, d): row i of A divided by its slack."""
    return A / slack(A, b, x)[:, None]


def leverage_scores_at(A: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``sigma(x)`` (n,): the leverage scores of ``A(x)``, summing to d (via ``leverage_scores.leverage_scores``)."""
    return ls.leverage_scores(rescaled_matrix(A, b, x))


def leverage_gradient(A: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``g(x) = A(x)^T sigma(x)`` (d,): minus the gradient of ``0.5 log det(A(x)^T A(x))`` (the book's g)."""
    scaled = rescaled_matrix(A, b, x)
    return scaled.T @ ls.leverage_scores(scaled)


def _basis(scaled: torch.Tensor) -> torch.Tensor:
    # Q of a thin QR: P = Q Q^T, and the sigma of leverage_scores are the squared row norms of this Q.
    Q, R = torch.linalg.qr(scaled, mode="reduced")
    _check_full_rank("A(x) = diag(A x - b)^-1 A", R, tuple(scaled.shape))
    return Q


def _pair_features(Q: torch.Tensor) -> torch.Tensor:
    # Row i is q_i (x) q_i, so that (P o P)_ij = P_ij^2 = <q_i (x) q_i, q_j (x) q_j>: P o P is never formed.
    return (Q[:, :, None] * Q[:, None, :]).reshape(Q.shape[0], -1)


def leverage_gradient_jacobian(A: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``J_g = -A(x)^T (3 Sigma - 2 P o P) A(x)`` (d, d), symmetric negative definite, in ``O(n d^3)``.

    ``A(x)^T (P o P) A(x) = K^T K`` with ``K = sum_i (q_i (x) q_i) a(x)_i^T`` (d^2, d), so the (n, n) matrix
    ``P o P`` is never formed.
    """
    scaled = rescaled_matrix(A, b, x)
    sigma = ls.leverage_scores(scaled)
    K = _pair_features(_basis(scaled)).T @ scaled
    return -(scaled.T @ (3 * sigma[:, None] * scaled) - 2 * K.T @ K)


def leverage_gradient_jacobian_reference(A: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The same Jacobian straight from the formula, with the (n, n) projection P formed (float64; small n)."""
    _check_problem(A, b, x)
    check_allocation(f"the projection P of n = {A.shape[0]} rows", (A.shape[0], A.shape[0]), torch.float64, A.device)
    scaled = rescaled_matrix(A.double(), b.double(), x.double())
    ls.leverage_scores(scaled)  # refuses a rank-deficient A(x), whose Gram matrix the solve below cannot invert
    P = scaled @ torch.linalg.solve(scaled.T @ scaled, scaled.T)
    middle = 3 * torch.diag(P.diagonal()) - 2 * P * P
    return -(scaled.T @ middle @ scaled)


def leverage_gradient_jvp(A: torch.Tensor, b: torch.Tensor, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``J_g v`` (d,) in ``O(n d^2)`` without forming J_g: ``(P o P) u`` has entries ``q_i^T (Q^T diag(u) Q) q_i``."""
    scaled = rescaled_matrix(A, b, x)
    check_shape("v", v, (A.shape[1],))
    check_same_kind(A=A, v=v)
    Q = _basis(scaled)
    sigma = (Q * Q).sum(dim=1)
    u = scaled @ v
    pair = ((Q @ (Q.T @ (u[:, None] * Q))) * Q).sum(dim=1)
    return -(scaled.T @ (3 * sigma * u - 2 * pair))


@dataclass
class LeverageInversion:
    """The inverse problem ``min_x 0.5 ||g(x) - c||^2 + 0.5 ||diag(w) A x||^2`` on the domain ``A x > b``.

    ``g_map(A, b, x)`` and ``jacobian(A, b, x)`` are pluggable (default: the book's g and its closed-form J_g;
    J_g is assumed symmetric only by :meth:`gradient`'s fast path, which is used with the defaults).
    ``x_star`` is the planted parameter (``c = g(x_star)``) when known. Shapes: A (n, d), b (n,), c (d,), w (n,).
    """

    A: torch.Tensor
    b: torch.Tensor
    c: torch.Tensor
    w: torch.Tensor
    x_star: torch.Tensor | None = None
    g_map: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] = field(default=leverage_gradient)
    jacobian: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] = field(
        default=leverage_gradient_jacobian)
    _regulariser_probabilities: torch.Tensor | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        check_finite_tensor("A", self.A, ndim=2)
        n, d = self.A.shape
        if n < d:
            raise ValueError(f"A must have at least as many rows as columns (n >= d), got shape {tuple(self.A.shape)}")
        for name, value, shape in (("b", self.b, (n,)), ("c", self.c, (d,)), ("w", self.w, (n,))):
            check_finite_tensor(name, value, ndim=1)
            if value.shape != shape:
                raise ValueError(f"{name} must have shape {shape}, got {tuple(value.shape)}")
        if self.x_star is not None:
            check_shape("x_star", self.x_star, (d,))
        check_same_kind(A=self.A, b=self.b, c=self.c, w=self.w, x_star=self.x_star)
        for name in ("g_map", "jacobian"):
            if not callable(getattr(self, name)):
                raise ValueError(f"{name} must be a callable (A, b, x) -> tensor, got "
                                 f"{type(getattr(self, name)).__name__}")

    @property
    def dimension(self) -> int:
        return self.A.shape[1]

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """``g(x) - c`` (d,)."""
        return self.g_map(self.A, self.b, x) - self.c

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """``L(x) = 0.5 ||g(x) - c||^2 + 0.5 ||diag(w) A x||^2`` (a 0-d tensor); ValueError outside the domain."""
        r = self.residual(x)
        return 0.5 * (r @ r) + 0.5 * ((self.w * (self.A @ x)) ** 2).sum()

    def gradient(self, x: torch.Tensor) -> torch.Tensor:
        """``J_g^T (g(x) - c) + A^T diag(w^2) A x`` (d,), in ``O(n d^2)`` for the default g."""
        r = self.residual(x)
        regulariser = self.A.T @ (self.w**2 * (self.A @ x))
        if self.jacobian is leverage_gradient_jacobian:
            return leverage_gradient_jvp(self.A, self.b, x, r) + regulariser  # J_g is symmetric
        return self.jacobian(self.A, self.b, x).T @ r + regulariser

    def regulariser_rows(self) -> torch.Tensor:
        """``B_w = diag(w) A`` (n, d): the regulariser's Hessian is ``B_w^T B_w``."""
        return self.w[:, None] * self.A

    def hessian_rows(self, x: torch.Tensor) -> torch.Tensor:
        """``B = Sigma^{1/2} A(x)`` (n, d): ``B^T B`` is the diagonal part ``A(x)^T Sigma A(x)`` of ``-J_g / 3``."""
        scaled = rescaled_matrix(self.A, self.b, x)
        return ls.leverage_scores(scaled).sqrt()[:, None] * scaled

    def gauss_newton_hessian(self, x: torch.Tensor) -> torch.Tensor:
        """``H = J_g^T J_g + A^T diag(w^2) A`` (d, d), exact (``O(n d^3)``)."""
        J = self.jacobian(self.A, self.b, x)
        B_w = self.regulariser_rows()
        return J.T @ J + B_w.T @ B_w

    def sampled_hessian(self, x: torch.Tensor, samples: int, seed: int = 0, scheme: str = "leverage") -> torch.Tensor:
        """``H~ = J~^T J~ + B_w~^T B_w~`` (d, d) from ``samples`` rows of A(x) and ``samples`` rows of diag(w) A.

        ``J~ = -(3 B^T B~ - 2 K~^T K~)``: ``B^T B~ = sampled_gram(B, s)`` with ``B = Sigma^{1/2} A(x)``, and the
        same rows (weights ``1 / (s p_i)``) give ``K~ = sum_j w_j (q_j (x) q_j) a(x)_j^T``. ``scheme`` is
        ``"leverage"`` (``p`` = leverage scores of ``B``, resp. of ``diag(w) A``) or ``"uniform"`` (``p_i = 1/n``).
        Cost ``O(n d^2 + s d^3)``. Default g only.
        """
        samples = check_int("samples", samples, 1)
        seed = check_seed("seed", seed)
        check_choice("scheme", scheme, ("leverage", "uniform"))
        check_allocation(f"the pair features of samples = {samples}", (samples, self.dimension**2), self.A.dtype,
                         self.A.device)
        if self.jacobian is not leverage_gradient_jacobian:
            raise ValueError("sampled_hessian needs the default g and J_g (its rows are those of A(x))")
        scaled = rescaled_matrix(self.A, self.b, x)
        Q = _basis(scaled)
        B = (Q * Q).sum(dim=1).sqrt()[:, None] * scaled
        B_w = self.regulariser_rows()
        if scheme == "leverage":
            # diag(w) A does not change with x: its scores are computed once
            if self._regulariser_probabilities is None and bool(torch.any(self.w != 0)):
                self._regulariser_probabilities = ls.leverage_scores(B_w)
            p, p_w = ls.leverage_scores(B), self._regulariser_probabilities
        else:
            p = p_w = torch.ones(B.shape[0], dtype=B.dtype, device=B.device)
        diagonal_part = ls.sampled_gram(B, samples, probabilities=p, seed=seed)
        indices, weights = ls.sample_rows(p, samples, seed=seed)  # the very rows sampled_gram drew
        rows = scaled[indices]
        K = (_pair_features(Q[indices]) * weights[:, None]).T @ rows
        # K~^T K~ also pairs each draw with itself; removing those terms (and rescaling) makes it unbiased.
        pair_part = K.T @ K - (rows * ((weights * (Q[indices] ** 2).sum(dim=1)) ** 2)[:, None]).T @ rows
        pair_part = pair_part * (samples / (samples - 1)) if samples > 1 else K.T @ K
        J = -(3 * diagonal_part - 2 * pair_part)
        if not bool(torch.any(self.w != 0)):  # no regulariser: nothing to sample (its leverage is undefined)
            return J.T @ J
        return J.T @ J + ls.sampled_gram(B_w, samples, probabilities=p_w, seed=seed + 1_000_003)


def planted_instance(n: int, d: int, seed: int = 0, *, weight: float = 1e-2, heavy_rows: int = 0,
                     heavy_scale: float = 10.0, dtype: torch.dtype = torch.float64,
                     device: torch.device | str | None = None) -> LeverageInversion:
    """A planted problem: ``A ~ N(0, 1)`` (n, d) with ``heavy_rows`` rows scaled by ``heavy_scale``,
    ``x* ~ N(0, I/d)``, ``b = A x* - u`` with ``u ~ U[1, 2]`` (so ``s(x*) = u > 0``), ``c = g(x*)``, ``w = weight``.

    With ``w > 0`` the minimiser is near, not at, ``x*``; :func:`reference_solution` finds it.
    """
    n = check_int("n", n, 2)
    d = check_int("d", d, 1)
    if n < d:
        raise ValueError(f"need n >= d, got n = {n}, d = {d}")
    heavy_rows = check_int("heavy_rows", heavy_rows, 0, n)
    weight = check_real("weight", weight, low=0.0)
    heavy_scale = check_real("heavy_scale", heavy_scale, low=0.0, low_inclusive=False)
    seed = check_seed("seed", seed)
    check_float_dtype("dtype", dtype)
    device = check_device("device", device) if device is not None else None
    check_allocation(f"the problem for n = {n}, d = {d}", (n, d), torch.float64, device)
    draw = generator(seed)
    A = torch.randn(n, d, generator=draw, dtype=torch.float64)
    x_star = torch.randn(d, generator=draw, dtype=torch.float64) / d**0.5
    u = 1 + torch.rand(n, generator=draw, dtype=torch.float64)
    A[:heavy_rows] *= heavy_scale
    b = A @ x_star - u
    A, b, x_star = (t.to(dtype=dtype, device=device) for t in (A, b, x_star))
    c = leverage_gradient(A, b, x_star)
    w = torch.full((n,), weight, dtype=dtype, device=A.device)
    return LeverageInversion(A, b, c, w, x_star=x_star)


def _check_instance(problem: object) -> LeverageInversion:
    if not isinstance(problem, LeverageInversion):
        raise ValueError(f"problem must be a LeverageInversion (see planted_instance), got {type(problem).__name__}")
    return problem


def reference_solution(problem: LeverageInversion, x0: torch.Tensor | None = None, iterations: int = 50,
                       tolerance: float = 1e-14) -> torch.Tensor:
    """The minimiser ``x^`` by exact Gauss-Newton from ``x0`` (default ``x_star``), run until the step is below
    ``tolerance`` (relative) or ``iterations`` are spent.

    A full step is taken when it stays in the domain and shrinks the gradient norm; otherwise the shared loop's
    backtracking on the loss. (Near the minimiser the loss changes by less than its rounding error, so a
    loss-based line search alone stalls around 1e-12; the gradient norm still measures progress there.)
    """
    _check_instance(problem)
    if x0 is None:
        if problem.x_star is None:
            raise ValueError("give x0: the problem has no planted x_star (got x0 = None)")
        x0 = problem.x_star
    check_shape("x0", x0, (problem.dimension,))
    check_same_kind(A=problem.A, x0=x0)
    check_steps("iterations", iterations)
    tolerance = check_real("tolerance", tolerance, low=0.0)
    hessian = lambda y, k: problem.gauss_newton_hessian(y)
    x = x0.clone()
    for _ in range(iterations):
        gradient_norm = float(torch.linalg.vector_norm(problem.gradient(x)))
        if gradient_norm == 0:
            break
        trial = iteration.approximate_newton(x, problem.gradient, hessian, 1, backtracking=False).iterates[-1]
        try:
            accepted = float(torch.linalg.vector_norm(problem.gradient(trial))) < gradient_norm
        except ValueError:  # the full step left the domain
            accepted = False
        if not accepted:
            trial = iteration.approximate_newton(x, problem.gradient, hessian, 1, loss=problem.loss).iterates[-1]
        step = float(torch.linalg.vector_norm(trial - x))
        x = trial
        if step <= tolerance * max(1.0, float(torch.linalg.vector_norm(x))):
            break
    return x


def perturbed_start(problem: LeverageInversion, reference: torch.Tensor, relative: float = 0.02,
                    seed: int = 0) -> torch.Tensor:
    """``x0 = x^ + relative * ||x^|| * z / ||z||`` for a Gaussian direction ``z``; ValueError if outside the domain."""
    _check_instance(problem)
    check_shape("reference", reference, (problem.dimension,))
    check_same_kind(A=problem.A, reference=reference)
    x0 = iteration.perturbed_start(reference, relative, seed)
    slack(problem.A, problem.b, x0)  # raises outside the domain Ax > b
    return x0


def _integer_list(name: str, values: object) -> list:
    """A non-empty list (tuple, range, 1-D array) of numbers; its entries are checked by the caller."""
    if isinstance(values, (str, bytes, torch.Tensor)) or not isinstance(values, Iterable):
        raise ValueError(f"{name} must be a non-empty list of integers, got {type(values).__name__}")
    values = list(values)
    if not values:
        raise ValueError(f"{name} must be a non-empty list of integers, got []")
    return values


def hessian_spectral_errors(problem: LeverageInversion, x: torch.Tensor, samples: list[int], seeds: list[int],
                            scheme: str = "leverage") -> torch.Tensor:
    """``eps0 = ||H^{-1/2} H~ H^{-1/2} - I||_2`` of :meth:`LeverageInversion.sampled_hessian` at ``x``:
    (len(samples), len(seeds)) float64."""
    _check_instance(problem)
    samples = [check_int("samples", s, 1) for s in _integer_list("samples", samples)]
    seeds = [check_seed("seeds", seed) for seed in _integer_list("seeds", seeds)]
    check_choice("scheme", scheme, ("leverage", "uniform"))
    H = problem.gauss_newton_hessian(x)
    return torch.tensor([[ls.spectral_error(H, problem.sampled_hessian(x, s, seed, scheme)) for seed in seeds]
                         for s in samples], dtype=torch.float64)



def hessian_sample_size(d: int, delta: float = 0.5) -> int:
    """Rows ``s*(d)`` after which the matrix Chernoff bound keeps the sampled Hessian's ``eps0`` below 1.

    Leverage sampling of ``s`` rows gives ``(1 - eps) B^T B <= B~^T B~ <= (1 + eps) B^T B`` with probability
    ``1 - delta`` once ``s >= d (2 + 2 eps / 3) ln(2 d / delta) / eps^2`` (Tropp 2015, Thm 1.1, row norms
    ``d / s`` under leverage weights); ``H~ = J~^T J~`` squares that error, ``(1 + eps)^2 - 1 < 1`` needs
    ``eps < sqrt(2) - 1``. The book's heuristic reading (the ``K`` part of ``J`` is sampled from the same rows and
    treated alike); it grows like ``d log d`` and does not depend on ``n``. ``delta = 0.5``: for the median.
    Chapter "Inverting the Leverage Score Gradient" (Li, Song, Xu, Yin; arXiv 2408.11267).
    """
    d = check_int("d", d, 1)
    delta = check_real("delta", delta, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    eps = 2**0.5 - 1
    return math.ceil(d * (2 + 2 * eps / 3) * math.log(2 * d / delta) / eps**2)

__all__ = ["LeverageInversion", "hessian_sample_size", "hessian_spectral_errors", "leverage_gradient", "leverage_gradient_jacobian",
           "leverage_gradient_jacobian_reference", "leverage_gradient_jvp", "leverage_scores_at",
           "perturbed_start", "planted_instance", "reference_solution", "rescaled_matrix", "slack"]
