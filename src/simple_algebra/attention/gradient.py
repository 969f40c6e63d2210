"""The gradient of the attention loss: the exact n x n formula and the almost-linear low-rank algorithm.

For ``X, Y`` of shape (d, d) and ``A1, E`` (n, d), ``A2, A3`` (m, d) the attention loss is

    L(X) = 1/2 || D(X)^{-1} exp(A1 X A2^T / d) A3 Y - E ||_F^2,   D(X) = diag(exp(A1 X A2^T / d) 1_m).

With ``f = softmax_rows(A1 X A2^T / d)`` (n, m), ``h = A3 Y`` (m, d), ``c = f h - E`` and ``q = c h^T`` (n, m),

    p = f o q - diag((f o q) 1_m) f,      dL/dX = (1/d) A1^T p A2.

:func:`attention_gradient_reference` evaluates this formula in float64 with the n x m matrices;
:func:`attention_gradient_low_rank` replaces ``exp(<u, v>)`` by the degree-g Taylor kernel
``<phi_g(u), phi_g(v)>`` (rank r = C(d + g, g)) and never forms an n x m matrix: O((n + m) r d^2) time.

Chapter: The fine-grained complexity of gradient computation for training large language models (Alman, Song;
NeurIPS 2024; arXiv 2402.04497).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ..core.metrics import relative_error
from ..core.validation import (
    check_allocation,
    check_degree,
    check_device,
    check_finite_tensor,
    check_float_dtype,
    check_int,
    check_real,
    check_same_kind,
    check_seed,
    check_shape,
)
from .exact import attention_matrix, exact_attention
from .taylor_features import taylor_features


class AttentionLossProblem(NamedTuple):
    """One instance of the attention loss: ``X`` (d, d), ``A1`` (n, d), ``A2`` (m, d), ``A3`` (m, d), ``Y`` (d, d),
    ``E`` (n, d). Pass it unpacked: ``attention_gradient_reference(*problem)``."""

    X: torch.Tensor
    A1: torch.Tensor
    A2: torch.Tensor
    A3: torch.Tensor
    Y: torch.Tensor
    E: torch.Tensor


def _check_problem(X: torch.Tensor, A1: torch.Tensor, A2: torch.Tensor, A3: torch.Tensor, Y: torch.Tensor,
                   E: torch.Tensor) -> None:
    for name, tensor in (("X", X), ("A1", A1), ("A2", A2), ("A3", A3), ("Y", Y), ("E", E)):
        check_finite_tensor(name, tensor, ndim=2)
    d = X.shape[0]
    if X.shape != (d, d) or Y.shape[0] != d:
        raise ValueError(f"X must be (d, d) and Y (d, e), got X {tuple(X.shape)} and Y {tuple(Y.shape)}")
    if A1.shape[1] != d or A2.shape[1] != d or A3.shape[1] != d:
        raise ValueError(f"A1, A2, A3 must have d = {d} columns, got {tuple(A1.shape)}, {tuple(A2.shape)}, "
                         f"{tuple(A3.shape)}")
    if A2.shape[0] != A3.shape[0]:
        raise ValueError(f"A2 and A3 must have the same number of rows (keys), got {A2.shape[0]} and {A3.shape[0]}")
    if E.shape != (A1.shape[0], Y.shape[1]):
        raise ValueError(f"E must have shape (n, e) = {(A1.shape[0], Y.shape[1])}, got {tuple(E.shape)}")
    check_same_kind(X=X, A1=A1, A2=A2, A3=A3, Y=Y, E=E)


def _check_dense(X: torch.Tensor, A1: torch.Tensor, A2: torch.Tensor, A3: torch.Tensor, Y: torch.Tensor,
                 E: torch.Tensor) -> None:
    """:func:`_check_problem`, and the n x m float64 matrices of the dense formulas must fit in memory."""
    _check_problem(X, A1, A2, A3, Y, E)
    check_allocation(f"the n x m attention matrix for A1 {tuple(A1.shape)} and A2 {tuple(A2.shape)}",
                     (A1.shape[0], A2.shape[0]), torch.float64, X.device)


class _NonPositiveNormaliser(ValueError):
    """A Taylor kernel of odd degree gave a query a non-positive row sum (the documented NaN of the sweeps)."""


def _unpack(problem: object) -> AttentionLossProblem:
    if not isinstance(problem, tuple) or len(problem) != 6:
        raise ValueError(f"problem must be an AttentionLossProblem (X, A1, A2, A3, Y, E), got "
                         f"{type(problem).__name__} of length {len(problem) if hasattr(problem, '__len__') else '?'}")
    problem = AttentionLossProblem(*problem)
    _check_problem(*problem)
    return problem


def random_problem(n: int, d: int, bound: float, *, seed: int = 0, dtype: torch.dtype = torch.float64,
                   device: torch.device | str | None = None) -> AttentionLossProblem:
    """A random attention-loss instance whose queries ``A1 X`` and keys ``A2`` have largest entry exactly ``bound``.

    All six matrices are drawn uniform on [-1, 1] from ``seed``; then ``X`` and ``A2`` are rescaled so that
    ``max |A1 X| = max |A2| = B``, the paper's entry bound (every score ``<(A1 X)_i, (A2)_j>/d`` is then at most
    ``B^2`` in size). ``A3``, ``Y``, ``E`` keep entries in [-1, 1]. Shapes: n x d matrices, ``X, Y`` (d, d).
    Chapter: attention gradients (Alman, Song; arXiv 2402.04497).
    """
    n = check_int("n", n, 1)
    d = check_int("d", d, 1)
    bound = check_real("bound", bound, 0.0, low_inclusive=False)
    seed = check_seed("seed", seed)
    dtype = check_float_dtype("dtype", dtype)
    device = check_device("device", device)
    check_allocation(f"n x d matrices for n = {n}, d = {d}", (max(n, d), d))
    source = torch.Generator().manual_seed(seed)

    def uniform(rows: int, cols: int) -> torch.Tensor:
        return 2 * torch.rand(rows, cols, dtype=torch.float64, generator=source) - 1

    X, A1, A2, A3, Y, E = uniform(d, d), uniform(n, d), uniform(n, d), uniform(n, d), uniform(d, d), uniform(n, d)
    X = X * (bound / (A1 @ X).abs().max())
    A2 = A2 * (bound / A2.abs().max())
    return AttentionLossProblem(*(t.to(dtype=dtype, device=device) for t in (X, A1, A2, A3, Y, E)))


def attention_loss(X: torch.Tensor, A1: torch.Tensor, A2: torch.Tensor, A3: torch.Tensor, Y: torch.Tensor,
                   E: torch.Tensor) -> torch.Tensor:
    """``L(X) = 1/2 ||D^{-1} exp(A1 X A2^T / d) A3 Y - E||_F^2`` through :func:`attention.exact_attention`.

    A scalar in ``X``'s dtype (float64 inside, max-subtracted softmax); autograd through it in ``X`` is the
    reference gradient. Shapes as in :class:`AttentionLossProblem`. Costs O(n m d) time and O(n m) memory.
    Chapter: attention gradients (Alman, Song; arXiv 2402.04497).
    """
    _check_dense(X, A1, A2, A3, Y, E)
    output = exact_attention(A1 @ X, A2, A3 @ Y, scale=1.0 / X.shape[0])
    return 0.5 * ((output - E) ** 2).sum()


def attention_gradient_autograd(X: torch.Tensor, A1: torch.Tensor, A2: torch.Tensor, A3: torch.Tensor,
                                Y: torch.Tensor, E: torch.Tensor) -> torch.Tensor:
    """``dL/dX`` (d, d) by autograd through dense float64 attention (:func:`attention_loss`): the baseline.
    Chapter: attention gradients (Alman, Song; arXiv 2402.04497)."""
    _check_dense(X, A1, A2, A3, Y, E)
    variable = X.detach().to(torch.float64).requires_grad_(True)
    loss = attention_loss(variable, *(t.detach().to(torch.float64) for t in (A1, A2, A3, Y, E)))
    (gradient,) = torch.autograd.grad(loss, variable)
    return gradient.to(X.dtype)


def finite_difference_gradient(X: torch.Tensor, A1: torch.Tensor, A2: torch.Tensor, A3: torch.Tensor,
                               Y: torch.Tensor, E: torch.Tensor, step: float = 1e-5) -> torch.Tensor:
    """``dL/dX`` (d, d) by central differences ``(L(X + s e_ij) - L(X - s e_ij)) / 2s`` in float64: 2 d^2 loss
    evaluations, an independent check of the formula. Chapter: attention gradients (arXiv 2402.04497)."""
    _check_dense(X, A1, A2, A3, Y, E)
    step = check_real("step", step, 0.0, low_inclusive=False)
    X64, rest = X.to(torch.float64), [t.to(torch.float64) for t in (A1, A2, A3, Y, E)]
    gradient = torch.zeros_like(X64)
    for i in range(X.shape[0]):
        for j in range(X.shape[1]):
            shift = torch.zeros_like(X64)
            shift[i, j] = step
            gradient[i, j] = (attention_loss(X64 + shift, *rest) - attention_loss(X64 - shift, *rest)) / (2 * step)
    return gradient.to(X.dtype)


def attention_gradient_reference(X: torch.Tensor, A1: torch.Tensor, A2: torch.Tensor, A3: torch.Tensor,
                                 Y: torch.Tensor, E: torch.Tensor) -> torch.Tensor:
    """The exact gradient by the paper's formula, in float64 with the n x m matrices (returned in ``X``'s dtype).

    ``f = softmax_rows(A1 X A2^T / d)``, ``h = A3 Y``, ``c = f h - E``, ``q = c h^T``,
    ``p = f o q - diag((f o q) 1) f`` and ``dL/dX = (1/d) A1^T p A2`` (d, d). Note ``q = c h^T``, not ``h c^T``,
    and the factor ``1/d`` (the paper's text slips on both in places). O(n m d) time, O(n m) memory.
    Chapter: attention gradients (Alman, Song; arXiv 2402.04497).
    """
    _check_dense(X, A1, A2, A3, Y, E)
    X64, A1, A2, A3, Y, E = (t.to(torch.float64) for t in (X, A1, A2, A3, Y, E))
    d = X64.shape[0]
    f = attention_matrix(A1 @ X64, A2, scale=1.0 / d)  # max-subtracted: exact for any bound B
    h = A3 @ Y
    c = f @ h - E
    q = c @ h.T
    fq = f * q
    p = fq - fq.sum(dim=1, keepdim=True) * f
    return (A1.T @ p @ A2 / d).to(X.dtype)


def low_rank_attention_factors(X: torch.Tensor, A1: torch.Tensor, A2: torch.Tensor, degree: int
                               ) -> tuple[torch.Tensor, torch.Tensor]:
    """``U1`` (n, r), ``V1`` (m, r) with ``U1 V1^T ~ f = softmax_rows(A1 X A2^T / d)``, ``r = C(d + g, g)``.

    ``U0 = phi_g(A1 X / sqrt d)``, ``V1 = phi_g(A2 / sqrt d)`` (Taylor features, ``<phi_g(u), phi_g(v)> =
    sum_{j <= g} <u, v>^j / j!``), ``U1 = diag(U0 V1^T 1)^{-1} U0``, the normaliser computed as ``U0 (V1^T 1)``.
    The feature map cannot subtract a row maximum, which is why the entry bound B matters. Raises ``ValueError``
    when a normaliser is not positive (possible for odd g and large B; even g never). Chapter: attention
    gradients (Alman, Song; arXiv 2402.04497).
    """
    check_finite_tensor("X", X, ndim=2)
    d = X.shape[0]
    check_shape("X", X, (d, d))
    check_shape("A1", A1, (None, d))
    check_shape("A2", A2, (None, d))
    check_same_kind(X=X, A1=A1, A2=A2)
    degree = check_degree("degree", degree)
    scale = X.shape[0] ** -0.5
    U0 = taylor_features((A1 @ X) * scale, degree)
    V1 = taylor_features(A2 * scale, degree)
    normaliser = U0 @ V1.sum(dim=0)
    if not bool((normaliser > 0).all()):
        raise _NonPositiveNormaliser(f"the degree-{degree} Taylor kernel gives a query a non-positive row sum: use an even "
                         "degree or a smaller entry bound")
    return U0 / normaliser[:, None], V1


def attention_gradient_low_rank(X: torch.Tensor, A1: torch.Tensor, A2: torch.Tensor, A3: torch.Tensor,
                                Y: torch.Tensor, E: torch.Tensor, degree: int) -> torch.Tensor:
    """The almost-linear approximation of ``dL/dX`` (d, d) from rank-r factors, never forming an n x m matrix.

    With ``f ~ U1 V1^T`` (:func:`low_rank_attention_factors`): ``c~ = U1 (V1^T h) - E``, ``U2 = c~``, ``V2 = h``
    (``q ~ U2 V2^T``); ``f o q ~ U3 V3^T`` with the row-wise Kronecker products ``U3 = U1 (x) U2``,
    ``V3 = V1 (x) V2`` (rank r e); ``r_i = (U1)_i (V1^T V2) (U2)_i^T``, ``U4 = diag(r) U1``, ``V4 = V1``; and
    ``dL/dX ~ (1/d) [(A1^T U3)(V3^T A2) - (A1^T U4)(V4^T A2)]``. ``A1^T U3`` is contracted as
    ``(A1 (x) U2)^T U1`` (an (n, d e) and an (n, r) matrix), so ``U3`` (n, r e) is never stored either.
    O((n + m) r d e) time, O((n + m)(r + d e)) memory; dtype and device follow the inputs.
    Chapter: attention gradients (Alman, Song; arXiv 2402.04497).
    """
    _check_problem(X, A1, A2, A3, Y, E)
    degree = check_degree("degree", degree)
    d, e = X.shape[0], Y.shape[1]
    U1, V1 = low_rank_attention_factors(X, A1, A2, degree)
    h = A3 @ Y
    U2, V2 = U1 @ (V1.T @ h) - E, h
    # first term: sum_{a, b} [sum_i A1_ik U2_ib U1_ia] [sum_j V1_ja V2_jb A2_jl]
    left = ((A1[:, :, None] * U2[:, None, :]).reshape(-1, d * e).T @ U1).reshape(d, e, -1)  # (d, e, r)
    right = (V1.T @ (V2[:, :, None] * A2[:, None, :]).reshape(-1, e * d)).reshape(-1, e, d)  # (r, e, d)
    first = torch.einsum("kba,abl->kl", left, right)
    row_sums = ((U1 @ (V1.T @ V2)) * U2).sum(dim=1)  # r_i = ((f o q) 1)_i
    second = (A1.T @ (row_sums[:, None] * U1)) @ (V1.T @ A2)
    return (first - second) / d


def low_rank_errors(problem: AttentionLossProblem, degrees: list[int] | range) -> list[float]:
    """Relative (Frobenius) error of :func:`attention_gradient_low_rank` against the reference, per degree;
    ``nan`` where a degree gives a non-positive normaliser. Chapter: attention gradients (arXiv 2402.04497)."""
    problem = _unpack(problem)
    if isinstance(degrees, (str, bytes)) or not hasattr(degrees, "__iter__"):
        raise ValueError(f"degrees must be a list of integers, got {degrees!r}")
    degrees = [check_degree("degrees[i]", degree) for degree in degrees]  # all checked before any work
    if not degrees:
        raise ValueError(f"degrees must not be empty, got {degrees!r}")
    exact = attention_gradient_reference(*problem)
    errors = []
    for degree in degrees:
        try:
            errors.append(relative_error(attention_gradient_low_rank(*problem, degree).to(exact.dtype), exact))
        except _NonPositiveNormaliser:  # only this: every other bad input was refused above
            errors.append(float("nan"))
    return errors


def smallest_degree(problem: AttentionLossProblem, tolerance: float, max_degree: int = 30
                    ) -> tuple[int, float] | None:
    """The smallest degree g whose low-rank gradient has relative error at most ``tolerance``, with that error;
    ``None`` if no g <= ``max_degree`` reaches it. Chapter: attention gradients (Alman, Song; arXiv 2402.04497)."""
    problem = _unpack(problem)
    tolerance = check_real("tolerance", tolerance, 0.0, low_inclusive=False)
    max_degree = check_degree("max_degree", max_degree)
    exact = attention_gradient_reference(*problem)
    for degree in range(max_degree + 1):
        try:
            error = relative_error(attention_gradient_low_rank(*problem, degree).to(exact.dtype), exact)
        except _NonPositiveNormaliser:
            continue
        if error <= tolerance:
            return degree, error
    return None


__all__ = ["AttentionLossProblem", "attention_gradient_autograd", "attention_gradient_low_rank",
           "attention_gradient_reference", "attention_loss", "finite_difference_gradient",
           "low_rank_attention_factors", "low_rank_errors", "random_problem", "smallest_degree"]
