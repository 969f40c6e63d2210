"""Leverage-score sketch-and-solve least squares, and the cost models of classical and quantum regression.

Chapter (Part III): revisiting quantum algorithms for linear regression (Song, Yin, Zhang; arXiv 2311.14823). The
paper's quantum algorithm draws rows of ``A (n, d)`` from the leverage-score distribution (with ``~sqrt(n)`` queries
to a quantum row oracle), reweights them and solves the small problem. Here the SAME sample is drawn classically
(from exact or fast approximate leverage scores, :mod:`simple_algebra.sketching.leverage_scores`); no quantum computation is
run. The quantum algorithm's running time appears only as a cost model (:func:`quantum_claimed_cost`).

Sketch and solve: with ``s`` rows ``i_j`` drawn i.i.d. from ``p`` and weights ``w_j = 1 / (s p_{i_j})``,

    x~ = argmin_x  sum_j w_j (a_{i_j}^T x - b_{i_j})^2   (+ lambda ||x||^2 for ridge),

and ``||A x~ - b|| <= (1 + eps) ||A x* - b||`` once ``s ~ d log d + d / eps`` rows are drawn by leverage scores,
whatever the condition number of ``A``.
"""

from __future__ import annotations

import math

import torch

from ..core.runtime import generator
from ..core.validation import (
    check_allocation,
    check_choice,
    check_device,
    check_finite_tensor,
    check_float_dtype,
    check_index_tensor,
    check_int,
    check_real,
    check_same_kind,
    check_seed,
    check_shape,
)
from .leverage_scores import _sample_rows, approximate_leverage_scores, conditioned_matrix, leverage_scores

SCORES = ("exact", "approximate", "uniform")


def _check_problem(A: torch.Tensor, b: torch.Tensor, check_A: bool = True) -> None:
    if check_A:
        check_finite_tensor("A", A, ndim=2)
    elif not isinstance(A, torch.Tensor) or A.ndim != 2:
        raise ValueError(f"A must be a 2-dimensional torch.Tensor, got {getattr(A, 'shape', type(A).__name__)}")
    check_finite_tensor("b", b)
    if b.ndim not in (1, 2) or b.shape[0] != A.shape[0]:
        raise ValueError(f"b must have shape ({A.shape[0]},) or ({A.shape[0]}, k), got {tuple(b.shape)}")
    if A.shape[0] < A.shape[1]:
        raise ValueError(f"A must have at least as many rows as columns (n >= d), got shape {tuple(A.shape)}")
    check_same_kind(A=A, b=b)


def _check_solution(name: str, x: object, A: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """A candidate solution: finite, of shape (d,) for one response or (d, k) for k, dtype and device of A."""
    shape = (A.shape[1],) if b.ndim == 1 else (A.shape[1], b.shape[1])
    check_shape(name, x, shape)
    check_same_kind(A=A, **{name: x})
    return x


def _check_solved(x: torch.Tensor, what: str) -> torch.Tensor:
    # gels on a rank-deficient system returns inf or NaN entries instead of raising
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{what} is rank deficient: the least-squares solution is not unique (got non-finite "
                         "entries); add a ridge, or draw more samples")
    return x


def _ridge_lstsq(A: torch.Tensor, b: torch.Tensor, ridge: float) -> torch.Tensor:
    """``argmin ||A x - b||^2 + ridge ||x||^2`` by a QR-based lstsq on ``[A; sqrt(ridge) I]`` (never the normal
    equations, which square the condition number)."""
    if ridge > 0:
        d = A.shape[1]
        A = torch.cat([A, math.sqrt(ridge) * torch.eye(d, dtype=A.dtype, device=A.device)])
        b = torch.cat([b, torch.zeros((d, *b.shape[1:]), dtype=b.dtype, device=b.device)])
    # gels (Householder QR) is the only driver on CUDA; on CPU it is also the fastest for full-rank tall A.
    column = b if b.ndim == 2 else b[:, None]
    x = torch.linalg.lstsq(A, column, driver="gels").solution
    return x if b.ndim == 2 else x[:, 0]


def least_squares(A: torch.Tensor, b: torch.Tensor, ridge: float = 0.0) -> torch.Tensor:
    """The exact solution ``x* = argmin_x ||A x - b||^2 + ridge ||x||^2`` (QR, ``O(n d^2)``), float64 inside.

    Shapes: ``A (n, d)``, ``b (n,)`` or ``(n, k)`` (multiple responses) -> ``(d,)`` or ``(d, k)``, in ``A``'s dtype.
    """
    _check_problem(A, b)
    ridge = check_real("ridge", ridge, low=0.0)
    if ridge == 0 and not bool(A.any()):
        raise ValueError(f"A must not be all zero without a ridge (every x is a minimiser), got an all-zero "
                         f"{tuple(A.shape)} matrix")
    x = _ridge_lstsq(A.to(torch.float64), b.to(torch.float64), ridge)
    return _check_solved(x, "A").to(A.dtype)


def sampling_probabilities(A: torch.Tensor, scores: str = "exact", projection_dim: int | None = None,
                           seed: int = 0) -> torch.Tensor:
    """Row-sampling probabilities ``p (n,)``: leverage scores / d (``exact``: thin QR, ``O(n d^2)``;
    ``approximate``: CountSketch + Johnson-Lindenstrauss, ``O(nnz(A) + d^3 + n d k)``), or ``1/n`` (``uniform``)."""
    check_finite_tensor("A", A, ndim=2)
    check_choice("scores", scores, SCORES)
    return _probabilities(A, scores, projection_dim, check_seed("seed", seed))


def _probabilities(A: torch.Tensor, scores: str, projection_dim: int | None, seed: int) -> torch.Tensor:
    if scores == "exact":
        sigma = leverage_scores(A)
    elif scores == "approximate":
        sigma = approximate_leverage_scores(A, projection_dim=projection_dim, seed=seed)
    elif scores == "uniform":
        sigma = torch.ones(A.shape[0], dtype=A.dtype, device=A.device)
    else:
        raise ValueError(f"scores must be one of {SCORES}, got {scores!r}")
    return sigma / sigma.sum()


def sketch_and_solve(A: torch.Tensor, b: torch.Tensor, samples: int, scores: str | torch.Tensor = "exact",
                     ridge: float = 0.0, seed: int = 0, projection_dim: int | None = None) -> torch.Tensor:
    """Sketch-and-solve least squares: draw ``samples`` rows by ``scores``, weight them by ``1/(s p_i)``, solve.

    ``x~ = argmin_x ||W^{1/2} (A_S x - b_S)||^2 + ridge ||x||^2`` with ``W = diag(1 / (s p_{i_j}))``. ``scores`` is
    ``"exact"`` or ``"approximate"`` leverage scores, ``"uniform"``, or a tensor of probabilities ``(n,)``. For
    ridge the ordinary leverage scores are used: they bound the ridge leverage scores from above, so the sample is
    (over)sufficient. The small solve is a QR lstsq on ``(s, d)``. Shapes: ``A (n, d)``, ``b (n,)`` or ``(n, k)``
    -> ``(d,)`` or ``(d, k)`` in ``A``'s dtype. Chapter: quantum regression (Song, Yin, Zhang; arXiv 2311.14823).
    """
    # The leverage-score routines check A themselves; one pass of isfinite over a large A costs as much as the
    # whole sampling step, so A is checked here only when no such routine will see it.
    _check_problem(A, b, check_A=not (isinstance(scores, str) and scores in ("exact", "approximate")))
    samples = check_int("samples", samples, 1)
    ridge = check_real("ridge", ridge, low=0.0)
    seed = check_seed("seed", seed)
    if samples < A.shape[1] and ridge == 0:
        raise ValueError(f"samples must be >= d = {A.shape[1]} without ridge (the small problem is underdetermined), "
                         f"got {samples}")
    check_allocation(f"the sampled problem for samples = {samples}", (samples, A.shape[1] + 1), torch.float64,
                     A.device)
    if isinstance(scores, torch.Tensor):
        check_finite_tensor("scores", scores, ndim=1)
        if scores.shape != (A.shape[0],):
            raise ValueError(f"scores (probabilities) must have shape ({A.shape[0]},), got {tuple(scores.shape)}")
        p = scores
    else:
        check_choice("scores", scores, SCORES)
        p = _probabilities(A, scores, projection_dim, seed)
    # a draw apart from the JL seed
    indices, weights = _sample_rows(p.to(torch.float64), samples, seed + 7919, "scores")
    root = weights.sqrt().to(A.device)
    rows, targets = A[indices].to(torch.float64), b[indices].to(torch.float64)
    scaled_targets = targets * (root if b.ndim == 1 else root[:, None])
    if ridge == 0 and not bool(rows.any()):
        raise ValueError(f"the {samples} sampled rows of A are all zero: every x is a minimiser (is A all zero? "
                         f"got A of shape {tuple(A.shape)}); add a ridge")
    x = _ridge_lstsq(rows * root[:, None], scaled_targets, ridge)
    return _check_solved(x, "the sampled problem").to(A.dtype)


def sketch_and_solve_reference(A: torch.Tensor, b: torch.Tensor, indices: torch.Tensor, weights: torch.Tensor,
                               ridge: float = 0.0) -> torch.Tensor:
    """The same weighted solve from given rows, by the normal equations in float64 (clear, for tests only):
    ``x~ = (A_S^T W A_S + ridge I)^{-1} A_S^T W b_S``."""
    _check_problem(A, b)
    indices = check_index_tensor("indices", indices, A.shape[0])
    check_shape("weights", weights, (indices.shape[0],))
    if bool((weights <= 0).any()):
        raise ValueError(f"weights must be positive, got minimum {float(weights.min()):.3g}")
    ridge = check_real("ridge", ridge, low=0.0)
    if indices.shape[0] < A.shape[1] and ridge == 0:
        raise ValueError(f"indices must hold >= d = {A.shape[1]} rows without ridge (the small problem is "
                         f"underdetermined), got {indices.shape[0]}")
    rows, targets = A[indices].to(torch.float64), b[indices].to(torch.float64)
    W = torch.diag(weights.to(torch.float64))
    gram = rows.T @ W @ rows + ridge * torch.eye(A.shape[1], dtype=torch.float64, device=A.device)
    try:
        return torch.linalg.solve(gram, rows.T @ W @ targets).to(A.dtype)
    except RuntimeError as error:  # torch.linalg.LinAlgError: a singular Gram matrix
        raise ValueError(f"the sampled rows (indices of {indices.shape[0]} rows) have a singular Gram matrix: "
                         "draw more rows, or add a ridge") from error


def regression_cost(A: torch.Tensor, b: torch.Tensor, x: torch.Tensor, ridge: float = 0.0) -> float:
    """``sqrt(||A x - b||^2 + ridge ||x||^2)`` (Frobenius norms for multiple responses), in float64."""
    _check_problem(A, b)
    _check_solution("x", x, A, b)
    ridge = check_real("ridge", ridge, low=0.0)
    A, b, x = A.to(torch.float64), b.to(torch.float64), x.to(torch.float64)
    return math.sqrt(float((A @ x - b).square().sum()) + ridge * float(x.square().sum()))


def excess_residual(A: torch.Tensor, b: torch.Tensor, x: torch.Tensor, x_star: torch.Tensor,
                    ridge: float = 0.0) -> float:
    """``||A x~ - b|| / ||A x* - b|| - 1`` (with the ridge term inside both norms when ``ridge > 0``); >= 0 when
    ``x*`` is the exact minimiser. A relative (1 + eps)-approximation in the paper's sense (on squared norms)
    corresponds to ``excess <= sqrt(1 + eps) - 1 ~ eps / 2``."""
    _check_problem(A, b)
    _check_solution("x", x, A, b)
    _check_solution("x_star", x_star, A, b)
    optimum = regression_cost(A, b, x_star, ridge)
    if optimum == 0:
        raise ValueError("the optimal residual is zero (b lies in the column space of A): the excess is undefined")
    return regression_cost(A, b, x, ridge) / optimum - 1.0


def coherent_regression(n: int, d: int, kappa: float = 1.0, responses: int | None = None, heavy_tail: float = 1.5,
                        noise: float = 1.0, seed: int = 0, dtype: torch.dtype = torch.float64,
                        device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A test problem ``A = U diag(sigma) V^T`` with condition number exactly ``kappa`` and coherent rows.

    ``U (n, d)`` is the orthonormal basis of a Gaussian matrix whose rows are scaled by ``|t_nu|`` draws
    (``nu = heavy_tail``; ``None`` or ``inf`` for no scaling): a few rows then carry most of the leverage, so uniform
    sampling misses them. ``sigma`` is log-spaced from 1 to ``1/kappa``; ``V`` is a random rotation. ``U`` (hence
    the leverage scores and the column space) depends only on ``seed``, not on ``kappa``. ``b = A x_true + noise *
    g`` with ``x_true, g`` Gaussian: ``(n,)``, or ``(n, responses)``. Returns ``(A, b)``.
    """
    n, d = check_int("n", n, 1), check_int("d", d, 1)
    if n < d:
        raise ValueError(f"n must be >= d, got n = {n}, d = {d}")
    kappa = check_real("kappa", kappa, low=1.0)
    noise = check_real("noise", noise, low=0.0, low_inclusive=False)
    if responses is not None:
        check_int("responses", responses, 1)
    seed = check_seed("seed", seed)
    check_float_dtype("dtype", dtype)
    device = check_device("device", device) if device is not None else None
    check_allocation(f"the problem for n = {n}, d = {d}", (n, max(d, responses or 1)), torch.float64, device)
    scaled = heavy_tail is not None and not (isinstance(heavy_tail, (int, float)) and heavy_tail == math.inf)
    if scaled:  # None or inf: no scaling; anything else must be a positive number of degrees of freedom
        nu = check_real("heavy_tail", heavy_tail, low=0.0, low_inclusive=False)
    draw = generator(seed)
    G = torch.randn(n, d, generator=draw, dtype=torch.float64)
    if scaled:
        chi2 = 2 * torch._standard_gamma(torch.full((n,), nu / 2, dtype=torch.float64), generator=draw)
        t = torch.randn(n, generator=draw, dtype=torch.float64) / (chi2 / nu).sqrt()
        G = G * t.abs()[:, None]
    A = conditioned_matrix(G, kappa, draw)
    shape = (d,) if responses is None else (d, responses)
    x_true = torch.randn(shape, generator=draw, dtype=torch.float64)
    b = A @ x_true + noise * torch.randn((n, *shape[1:]), generator=draw, dtype=torch.float64) / math.sqrt(n)
    return A.to(dtype=dtype, device=device), b.to(dtype=dtype, device=device)


# Cost models: operation counts up to constant factors, logarithms as stated. They are models, not measurements.

def _check_sizes(n: float, d: float) -> tuple[float, float]:
    return check_real("n", n, low=1.0), check_real("d", d, low=1.0)


def classical_exact_cost(n: float, d: float) -> float:
    """Classical direct solve by QR: ``n d^2`` operations."""
    n, d = _check_sizes(n, d)
    return float(n) * float(d) ** 2


def classical_sketch_cost(n: float, d: float, eps: float) -> float:
    """Classical sketch-preconditioned iterative solve (sketch, QR of the sketch, then LSQR preconditioned by it):
    ``n d log(1/eps) + d^3`` operations. Reads every entry of ``A`` at least once: ``Omega(n d)``."""
    n, d = _check_sizes(n, d)
    eps = check_real("eps", eps, low=0.0, low_inclusive=False)
    return float(n) * float(d) * max(1.0, math.log(1.0 / eps)) + float(d) ** 3


def quantum_claimed_cost(n: float, d: float, eps: float) -> float:
    """The paper's claimed quantum running time, with the logarithms of O~ dropped: ``sqrt(n) d^1.5 / eps +
    d^3 / eps``. The poly(d/eps) term is not specified in the abstract; the book takes ``d^3 / eps``, the cost of
    a QR of ``d / eps`` sampled rows. Assumes a quantum row oracle (QRAM-style access to ``A``). No quantum
    computation is run anywhere in this package."""
    n, d = _check_sizes(n, d)
    eps = check_real("eps", eps, low=0.0, low_inclusive=False)
    return math.sqrt(float(n)) * float(d) ** 1.5 / eps + float(d) ** 3 / eps


def cost_crossover(d: float, eps: float) -> float:
    """The smallest ``n`` (real, by bisection on ``log n``) at which :func:`quantum_claimed_cost` drops below
    :func:`classical_sketch_cost`; ``inf`` if it does not below ``n = 1e30``. Without the d^3 terms and the log,
    ``sqrt(n) d^1.5 / eps = n d`` gives ``n* = d / eps^2``."""
    d = check_real("d", d, low=1.0)
    eps = check_real("eps", eps, low=0.0, low_inclusive=False)

    def gap(log_n: float) -> float:
        n = math.exp(log_n)
        return quantum_claimed_cost(n, d, eps) - classical_sketch_cost(n, d, eps)

    low, high = math.log(max(float(d), 1.0)), math.log(1e30)
    if gap(high) >= 0:
        return math.inf
    if gap(low) < 0:
        return math.exp(low)
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if gap(middle) >= 0 else (low, middle)
    return math.exp(high)
