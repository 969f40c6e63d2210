"""Leverage scores, row sampling and the spectral error of a sampled Gram matrix, which Part III builds on.

The leverage score of row ``i`` of ``A (n, d)`` (full column rank) is

    sigma_i = a_i^T (A^T A)^{-1} a_i = ||Q_i||^2   (A = Q R, a thin QR),

so ``0 <= sigma_i <= 1`` and ``sum_i sigma_i = d``. Sampling ``s`` rows i.i.d. with ``p_i = sigma_i / d`` and
weighting each by ``1 / (s p_i)`` gives ``H~ = sum_j B_ij^T B_ij / (s p_ij)``, an unbiased estimate of ``B^T B``
whose spectral error ``eps0 = ||H^{-1/2} H~ H^{-1/2} - I||_2`` is small once ``s ~ d log d / eps0^2`` rows are
drawn, whatever ``n`` is. An approximate Newton method (``newton.iteration``) replaces the Hessian by such an
``H~`` at each step.

Chapters (Part III): inverting the leverage-score gradient (Li, Song, Xu, Yin; arXiv 2408.11267) and approximate
Newton for a two-layer regression (Li, Song, Wang, Yin; arXiv 2311.15390).
"""

from __future__ import annotations

import math

import torch

from ..core.runtime import generator
from ..core.validation import (
    check_allocation,
    check_finite_tensor,
    check_int,
    check_real,
    check_same_kind,
    check_seed,
    check_tall_matrix,
)


def _check_full_rank(name: str, R: torch.Tensor, shape: tuple[int, ...], what: str = "") -> None:
    """The triangular factor of a thin QR has no (relatively) zero diagonal entry: the matrix has full column rank."""
    diagonal = R.detach().diagonal().abs()
    largest = float(diagonal.max())
    if float(diagonal.min()) <= 1e-12 * largest:
        ratio = float(diagonal.min()) / largest if largest > 0 else 0.0
        raise ValueError(f"{name} does not have full column rank{what}: got shape {shape} with smallest/largest "
                         f"|R_ii| = {ratio:.3g} (an all-zero or repeated column?)")






def leverage_scores(A: torch.Tensor) -> torch.Tensor:
    """Exact leverage scores ``sigma_i = ||Q_i||^2`` from a thin QR of ``A (n, d)``: (n,), summing to d.

    ``O(n d^2)``; float64 inside, returned in ``A``'s dtype. ``A`` must have full column rank (else ValueError).
    """
    check_tall_matrix("A", A)
    Q, R = torch.linalg.qr(A.to(torch.float64), mode="reduced")
    _check_full_rank("A", R, tuple(A.shape), ": its leverage scores are not defined")
    return (Q * Q).sum(dim=1).to(A.dtype)


def count_sketch(A: torch.Tensor, rows: int, seed: int = 0) -> torch.Tensor:
    """``S A`` for a CountSketch ``S (rows, n)``: each row of ``A`` is added, with a random sign, to one random
    bucket. ``O(nnz(A))``; ``S`` is never formed. Shapes: (n, d) -> (rows, d)."""
    check_finite_tensor("A", A, ndim=2)
    rows = check_int("rows", rows, 1)
    check_allocation(f"the sketch of rows = {rows}", (rows, A.shape[1]), A.dtype, A.device)
    return _count_sketch(A, rows, check_seed("seed", seed))


def _count_sketch(A: torch.Tensor, rows: int, seed: int) -> torch.Tensor:
    draw = generator(seed)
    buckets = torch.randint(rows, (A.shape[0],), generator=draw).to(A.device)
    signs = (torch.randint(2, (A.shape[0],), generator=draw) * 2 - 1).to(device=A.device, dtype=A.dtype)
    return torch.zeros(rows, A.shape[1], dtype=A.dtype, device=A.device).index_add_(0, buckets, A * signs[:, None])


def approximate_leverage_scores(A: torch.Tensor, sketch_rows: int | None = None, projection_dim: int | None = None,
                                seed: int = 0) -> torch.Tensor:
    """Fast leverage scores: ``R`` from a QR of the CountSketch ``S A``, then ``||(A R^{-1}) G||^2`` row by row with a
    Gaussian ``G (d, k) / sqrt(k)`` (Johnson-Lindenstrauss), so ``A R^{-1}`` (n x d) is never formed.

    ``S A`` with ``4 d^2`` rows (default) is a subspace embedding, so ``A R^{-1}`` has singular values near 1 and its
    row norms are the leverage scores up to a constant factor; ``k = 8 log n`` (default) keeps every one of them
    within a constant factor. Cost ``O(nnz(A) + d^3 + n d k)``; good enough for sampling, not for exact values.
    Shapes: (n, d) -> (n,), in ``A``'s dtype.
    """
    check_tall_matrix("A", A)
    n, d = A.shape
    sketch_rows = check_int("sketch_rows", sketch_rows, d) if sketch_rows is not None else max(4 * d * d, 2 * d)
    projection_dim = (check_int("projection_dim", projection_dim, 1) if projection_dim is not None
                      else max(8, math.ceil(8 * math.log(n))))
    seed = check_seed("seed", seed)
    check_allocation(f"the projection of projection_dim = {projection_dim}", (n, projection_dim), torch.float64,
                     A.device)
    check_allocation(f"the sketch of sketch_rows = {sketch_rows}", (min(sketch_rows, 16 * n), d), torch.float64,
                     A.device)
    work = A.to(torch.float64)
    _, R = torch.linalg.qr(_count_sketch(work, min(sketch_rows, 16 * n), seed), mode="reduced")  # A checked
    _check_full_rank("A", R, tuple(A.shape), " (its sketch is rank deficient; or raise sketch_rows)")
    gaussian = torch.randn(d, projection_dim, generator=generator(seed + 1), dtype=torch.float64).to(A.device)
    # R^{-1} G first (d x k, cheap), then one (n x d) @ (d x k) product.
    directions = torch.linalg.solve_triangular(R, gaussian, upper=True) / math.sqrt(projection_dim)
    projected = work @ directions
    return (projected * projected).sum(dim=1).to(A.dtype)


def conditioned_matrix(basis: torch.Tensor, condition: float, draw: torch.Generator) -> torch.Tensor:
    """``U diag(sigma) V^T`` with ``U`` the orthonormal Q factor of ``basis (n, d)``, ``V`` a random rotation drawn
    from ``draw``, and ``sigma`` log-spaced from 1 to ``1 / condition``: condition number exactly ``condition``,
    with the column space (so the leverage scores) of ``basis``. float64, (n, d).
    """
    check_tall_matrix("basis", basis)
    condition = check_real("condition", condition, low=1.0)
    if not isinstance(draw, torch.Generator):
        raise ValueError(f"draw must be a torch.Generator, got {type(draw).__name__}")
    U, _ = torch.linalg.qr(basis.to(torch.float64), mode="reduced")
    d = basis.shape[1]
    V, _ = torch.linalg.qr(torch.randn(d, d, generator=draw, dtype=torch.float64))
    sigma = torch.logspace(0.0, -math.log10(condition), d, dtype=torch.float64)
    return (U * sigma) @ V.T


def sample_rows(probabilities: torch.Tensor, samples: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``samples`` row indices i.i.d. from ``p`` (normalised here) with weights ``1 / (s p_i)``.

    With these weights ``sum_j w_j B_ij^T B_ij`` is an unbiased estimate of ``B^T B``. Returns (indices (s,),
    weights (s,)) on ``probabilities``' device.
    """
    return _sample_rows(probabilities, samples, seed, "probabilities")


def _sample_rows(probabilities: torch.Tensor, samples: int, seed: int,
                 name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`sample_rows`, the messages naming the caller's argument ``name`` (``p1``, ``scores``, ...)."""
    check_finite_tensor(name, probabilities, ndim=1)
    samples = check_int("samples", samples, 1)
    seed = check_seed("seed", seed)
    check_allocation(f"samples = {samples}", (samples, 3), torch.float64, probabilities.device)  # indices, p, weights
    if bool((probabilities < 0).any()) or not float(probabilities.sum()) > 0:
        raise ValueError(f"{name} must be non-negative with a positive sum, got minimum "
                         f"{float(probabilities.min()):.3g} and sum {float(probabilities.sum()):.3g}")
    if probabilities.shape[0] > 2**24:
        raise ValueError(f"{name} must have at most 2^24 entries (torch.multinomial's limit), got "
                         f"{probabilities.shape[0]}")
    p = probabilities.to(torch.float64) / probabilities.to(torch.float64).sum()
    indices = torch.multinomial(p.cpu(), samples, replacement=True, generator=generator(seed)).to(p.device)
    weights = 1.0 / (samples * p[indices])
    return indices, weights.to(probabilities.dtype)


def sampled_gram(B: torch.Tensor, samples: int, probabilities: torch.Tensor | None = None,
                 seed: int = 0) -> torch.Tensor:
    """``H~ = sum_j w_j B_ij^T B_ij`` from ``samples`` rows drawn by ``probabilities`` (default: the exact leverage
    scores of ``B``); an unbiased estimate of ``B^T B``. Shapes: ``B (n, d)`` -> (d, d)."""
    check_finite_tensor("B", B, ndim=2)
    samples = check_int("samples", samples, 1)
    check_allocation(f"the sampled rows for samples = {samples}", (samples, B.shape[1]), B.dtype, B.device)
    if probabilities is None:
        probabilities = leverage_scores(B)
    else:
        check_finite_tensor("probabilities", probabilities, ndim=1)
        if probabilities.shape != (B.shape[0],):
            raise ValueError(f"probabilities must have shape ({B.shape[0]},), got {tuple(probabilities.shape)}")
        check_same_kind(B=B, probabilities=probabilities)
    indices, weights = sample_rows(probabilities, samples, seed)
    rows = B[indices]
    return (rows * weights[:, None]).T @ rows


def spectral_error(H: torch.Tensor, H_approx: torch.Tensor) -> float:
    """``eps0 = ||H^{-1/2} H~ H^{-1/2} - I||_2`` for a symmetric positive definite ``H`` (float64)."""
    check_finite_tensor("H", H, ndim=2)
    check_finite_tensor("H_approx", H_approx, ndim=2)
    if H.shape != H_approx.shape or H.shape[0] != H.shape[1]:
        raise ValueError(f"H and H_approx must be square and of the same shape, got {tuple(H.shape)} and "
                         f"{tuple(H_approx.shape)}")
    values, vectors = torch.linalg.eigh(H.to(torch.float64))
    if values.min() <= 0:
        raise ValueError(f"H must be positive definite, got smallest eigenvalue {float(values.min()):.3g}")
    root = vectors / values.sqrt()  # H^{-1/2} = V diag(lambda^{-1/2}) V^T, applied as V diag(.) then V^T
    whitened = root.T @ H_approx.to(torch.float64) @ root
    return float(torch.linalg.matrix_norm(whitened - torch.eye(H.shape[0], dtype=torch.float64), ord=2))
