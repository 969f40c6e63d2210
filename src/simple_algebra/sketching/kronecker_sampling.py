"""Spectral approximation of a Kronecker product by sampling from a product distribution.

Chapter: Quantum speedup for spectral approximation of Kronecker products (Gao, Song, Zhang; arXiv 2402.07027).

For ``A1 (n1, d1)`` and ``A2 (n2, d2)`` the Kronecker product ``A = A1 (x) A2`` has ``n1 n2`` rows; row ``(i, j)``
(row ``i n2 + j`` in ``torch.kron`` order) is ``a1_i (x) a2_j``. Two identities make it cheap to sample:

    A^T A = (A1^T A1) (x) (A2^T A2),        sigma_(i,j)(A) = sigma_i(A1) sigma_j(A2),

so the leverage-score distribution ``sigma_(i,j) / (d1 d2)`` is the product of the two factor distributions: draw
``i`` and ``j`` independently and the ``n1 n2``-row matrix is never built. The paper draws from these
distributions with quantum queries; this module (and the book) draws from exactly the same distributions
*classically*, from leverage scores computed by QR in ``O((n1 + n2) d^2)``. The query counts of the classical and
quantum routes are given only as a cost model (:func:`query_cost_model`); no quantum computation is run.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..core.validation import (
    check_allocation,
    check_choice,
    check_device,
    check_float_dtype,
    check_index_tensor,
    check_int,
    check_real,
    check_seed,
    check_tall_matrix,
)
from .leverage_scores import _sample_rows, leverage_scores, sample_rows, spectral_error

SCHEMES = ("leverage", "uniform", "sketches")


def _check_factors(A1: torch.Tensor, A2: torch.Tensor) -> None:
    check_tall_matrix("A1", A1)
    check_tall_matrix("A2", A2)
    if A1.dtype != A2.dtype or A1.device != A2.device:
        raise ValueError(f"A1 and A2 must share dtype and device, got {A1.dtype}/{A1.device} and "
                         f"{A2.dtype}/{A2.device}")


def _check_product_size(A1: torch.Tensor, A2: torch.Tensor) -> None:
    """The materialised product has ``n1 n2`` rows of ``d1 d2`` entries: refuse it before torch.kron allocates."""
    rows, columns = A1.shape[0] * A2.shape[0], A1.shape[1] * A2.shape[1]
    check_allocation(f"the materialised product of A1 {tuple(A1.shape)} and A2 {tuple(A2.shape)}", (rows, columns),
                     torch.float64, A1.device)


def kronecker_gram(A1: torch.Tensor, A2: torch.Tensor) -> torch.Tensor:
    """``(A1 (x) A2)^T (A1 (x) A2) = (A1^T A1) (x) (A2^T A2)`` from the two small Gram matrices.

    ``O((n1 + n2) d^2 + d1^2 d2^2)`` instead of ``O(n1 n2 d1^2 d2^2)``. Shapes: (n1, d1), (n2, d2) -> (d1 d2, d1 d2).
    """
    _check_factors(A1, A2)
    return torch.kron(A1.T @ A1, A2.T @ A2)


def kronecker_gram_reference(A1: torch.Tensor, A2: torch.Tensor) -> torch.Tensor:
    """The same Gram matrix from the materialised ``n1 n2``-row product, in float64 (small sizes only)."""
    _check_factors(A1, A2)
    _check_product_size(A1, A2)
    # torch.kron views its inputs: a transposed (column-major) factor must be made contiguous first
    A = torch.kron(A1.to(torch.float64).contiguous(), A2.to(torch.float64).contiguous())
    return A.T @ A


def kronecker_leverage_scores(A1: torch.Tensor, A2: torch.Tensor) -> torch.Tensor:
    """Leverage scores of ``A1 (x) A2`` as the outer product ``sigma(A1) sigma(A2)^T``: entry ``(i, j)`` belongs to
    row ``i n2 + j``. Two thin QRs, ``O((n1 + n2) d^2)``. Shapes: (n1, d1), (n2, d2) -> (n1, n2), summing to d1 d2.
    """
    _check_factors(A1, A2)
    return torch.outer(leverage_scores(A1), leverage_scores(A2))


def kronecker_leverage_scores_reference(A1: torch.Tensor, A2: torch.Tensor) -> torch.Tensor:
    """Leverage scores of the materialised product ``torch.kron(A1, A2)`` (float64, QR of n1 n2 x d1 d2), reshaped
    to (n1, n2). ``O(n1 n2 d1^2 d2^2)``: the cost the factorisation avoids."""
    _check_factors(A1, A2)
    _check_product_size(A1, A2)
    scores = leverage_scores(torch.kron(A1.to(torch.float64).contiguous(), A2.to(torch.float64).contiguous()))
    return scores.reshape(A1.shape[0], A2.shape[0])


def sample_kronecker_pairs(p1: torch.Tensor, p2: torch.Tensor, samples: int,
                           seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Draw ``samples`` pairs ``(i, j)`` i.i.d. from the product distribution ``P(i, j) = p1_i p2_j`` (each vector
    normalised here), with weights ``1 / (s p1_i p2_j)``: ``i`` and ``j`` are drawn independently, so the ``n1 n2``
    probabilities are never formed. Returns (i (s,), j (s,), weights (s,)) on ``p1``'s device, weights in float64.
    """
    samples = check_int("samples", samples, 1)
    seed = check_seed("seed", seed)
    rows, first = _sample_rows(p1, samples, seed, "p1")  # first = 1 / (s p1_i)
    columns, second = _sample_rows(p2, samples, seed + 1, "p2")  # second = 1 / (s p2_j)
    # 1 / (s p1_i p2_j) = s * (1 / (s p1_i)) * (1 / (s p2_j))
    weights = samples * first.to(torch.float64) * second.to(torch.float64).to(first.device)
    return rows, columns.to(rows.device), weights


def kronecker_rows(A1: torch.Tensor, A2: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
    """The rows ``a1_i (x) a2_j`` of ``A1 (x) A2`` for index vectors ``i``, ``j`` of length s, built from the factors.

    Shapes: (n1, d1), (n2, d2), (s,), (s,) -> (s, d1 d2), the same rows as ``torch.kron(A1, A2)[i * n2 + j]``.
    """
    _check_factors(A1, A2)
    check_index_tensor("i", i, A1.shape[0])
    check_index_tensor("j", j, A2.shape[0])
    if i.shape != j.shape:
        raise ValueError(f"i and j must be 1-D of the same length, got shapes {tuple(i.shape)} and {tuple(j.shape)}")
    check_allocation(f"the product rows for {i.shape[0]} index pairs", (i.shape[0], A1.shape[1] * A2.shape[1]),
                     A1.dtype, A1.device)
    return (A1[i][:, :, None] * A2[j][:, None, :]).reshape(i.shape[0], -1)


def _probabilities(A1: torch.Tensor, A2: torch.Tensor, scheme: str) -> tuple[torch.Tensor, torch.Tensor]:
    if scheme == "leverage":
        return leverage_scores(A1), leverage_scores(A2)
    return (torch.ones(A1.shape[0], dtype=A1.dtype, device=A1.device),
            torch.ones(A2.shape[0], dtype=A2.dtype, device=A2.device))


def sampled_kronecker_gram(A1: torch.Tensor, A2: torch.Tensor, samples: int, scheme: str = "leverage",
                           seed: int = 0) -> torch.Tensor:
    """``H~ = sum_k w_k (a1_ik (x) a2_jk)(a1_ik (x) a2_jk)^T``, an estimate of ``(A1 (x) A2)^T (A1 (x) A2)``.

    ``scheme``:
    - ``"leverage"``: ``s`` pairs from the product of the leverage-score distributions ``sigma(A1)/d1 x
      sigma(A2)/d2`` (the distribution the paper's quantum routine samples from), weights ``1 / (s p_ij)``;
    - ``"uniform"``: ``s`` pairs uniformly from the ``n1 n2`` rows, weights ``n1 n2 / s``;
    - ``"sketches"``: the Kronecker product of two separate leverage-score sketches of the factors,
      ``(A1^T S1^T S1 A1) (x) (A2^T S2^T S2 A2)`` with ``ceil(sqrt(s))`` rows each, i.e. all pairs of the sampled
      factor rows (about ``s`` product rows, but only ``2 sqrt(s)`` independent draws).
    The first two are unbiased; the third too (the two sketches are independent). Shapes: -> (d1 d2, d1 d2), float64.
    """
    _check_factors(A1, A2)
    samples = check_int("samples", samples, 1)
    check_choice("scheme", scheme, SCHEMES)
    seed = check_seed("seed", seed)
    check_allocation(f"the sampled product rows for samples = {samples}", (samples, A1.shape[1] * A2.shape[1]),
                     torch.float64, A1.device)
    first, second = A1.to(torch.float64), A2.to(torch.float64)
    if scheme == "sketches":
        per_factor = math.isqrt(samples - 1) + 1  # ceil(sqrt(s))
        grams = []
        for index, factor in enumerate((first, second)):
            rows, weights = sample_rows(leverage_scores(factor), per_factor, seed + 2 * index)
            picked = factor[rows]
            grams.append((picked * weights.to(torch.float64)[:, None]).T @ picked)
        return torch.kron(*grams)
    p1, p2 = _probabilities(first, second, scheme)
    i, j, weights = sample_kronecker_pairs(p1, p2, samples, seed)
    rows = kronecker_rows(first, second, i, j)
    return (rows * weights[:, None]).T @ rows


def kronecker_spectral_error(A1: torch.Tensor, A2: torch.Tensor, samples: int, scheme: str = "leverage",
                             seed: int = 0) -> float:
    """``eps = ||H^{-1/2} H~ H^{-1/2} - I||_2`` of :func:`sampled_kronecker_gram` against the exact
    ``H = (A1^T A1) (x) (A2^T A2)`` (formed from the factors); ``(1 - eps) H <= H~ <= (1 + eps) H``."""
    _check_factors(A1, A2)
    H = kronecker_gram(A1.to(torch.float64), A2.to(torch.float64))
    return spectral_error(H, sampled_kronecker_gram(A1, A2, samples, scheme, seed))


def kronecker_error_norms(A1: torch.Tensor, A2: torch.Tensor, samples: int, scheme: str = "leverage",
                          seed: int = 0) -> tuple[float, float]:
    """``(||E||_2, ||E||_F^2)`` for the whitened error ``E = H^{-1/2} H~ H^{-1/2} - I`` of
    :func:`sampled_kronecker_gram`: the spectral error of :func:`kronecker_spectral_error` and the squared Frobenius
    norm, whose expectation :func:`expected_frobenius_error` gives exactly. Both norms are invariant to which square
    root of ``H`` whitens. Chapter: Kronecker spectral approximation (Gao, Song, Zhang; arXiv 2402.07027)."""
    _check_factors(A1, A2)
    H = kronecker_gram(A1.to(torch.float64), A2.to(torch.float64))
    estimate = sampled_kronecker_gram(A1, A2, samples, scheme, seed)
    values, vectors = torch.linalg.eigh(H)
    if values.min() <= 0:
        raise ValueError(f"A1 (x) A2 must have full column rank, got Gram eigenvalue {float(values.min()):.3g}")
    root = vectors / values.sqrt()
    error = root.T @ estimate @ root - torch.eye(H.shape[0], dtype=torch.float64, device=H.device)
    return float(torch.linalg.matrix_norm(error, ord=2)), float(error.square().sum())


def expected_frobenius_error(A1: torch.Tensor, A2: torch.Tensor, samples: int, scheme: str = "leverage") -> float:
    """The exact ``E ||H^{-1/2} H~ H^{-1/2} - I||_F^2`` of :func:`sampled_kronecker_gram`, from the factors' scores.

    One pair drawn with probability ``p_ij = p1_i p2_j`` gives ``X = u u^T / p_ij`` (``u`` the whitened row, ``||u||^2
    = sigma_i sigma_j``), so ``E ||X - I||_F^2 = sum sigma_ij^2 / p_ij - D`` with ``D = d1 d2``; the mean of ``s``
    independent pairs divides it by ``s``, and the sum factors:

    - ``"leverage"`` (``p = sigma / D``): ``(D^2 - D) / s``, whatever the data;
    - ``"uniform"`` (``p = 1 / (n1 n2)``): ``(n1 n2 sum_i sigma_i(A1)^2 sum_j sigma_j(A2)^2 - D) / s``, large on
      coherent rows (and carried by rare draws of the heavy rows, so a few seeds rarely reach it);
    - ``"sketches"`` (``m = ceil(sqrt s)`` rows per factor): ``(I + E1) (x) (I + E2) - I`` with independent
      zero-mean ``E_k``, ``E ||E_k||_F^2 = (d_k^2 - d_k) / m``, gives ``d2 e1 + d1 e2 + e1 e2``.
    """
    _check_factors(A1, A2)
    samples = check_int("samples", samples, 1)
    check_choice("scheme", scheme, SCHEMES)
    (n1, d1), (n2, d2) = A1.shape, A2.shape
    if scheme == "sketches":
        per_factor = math.isqrt(samples - 1) + 1
        e1, e2 = (d1 * d1 - d1) / per_factor, (d2 * d2 - d2) / per_factor
        return d2 * e1 + d1 * e2 + e1 * e2
    if scheme == "leverage":
        return ((d1 * d2) ** 2 - d1 * d2) / samples
    s1, s2 = leverage_scores(A1.to(torch.float64)), leverage_scores(A2.to(torch.float64))
    return (n1 * n2 * float(s1.square().sum()) * float(s2.square().sum()) - d1 * d2) / samples


def marchenko_pastur_edge(dimension: int, samples: int) -> float:
    """``2 sqrt(D/s) + D/s``: the Marchenko-Pastur prediction of ``||H^{-1/2} H~ H^{-1/2} - I||_2`` for ``s`` rows
    drawn by leverage scores in dimension ``D``. Leverage sampling makes each whitened term ``D v v^T`` with ``||v|| =
    1`` and ``E v v^T = I / D``, the normalised sample covariance whose largest eigenvalue tends to ``(1 +
    sqrt(D/s))^2`` as ``D, s`` grow at a fixed ratio (a limit law for isotropic vectors; for the book's coherent rows
    it is a prediction to test, not a theorem)."""
    dimension = check_int("dimension", dimension, 1)
    samples = check_int("samples", samples, 1)
    ratio = dimension / samples
    return 2.0 * math.sqrt(ratio) + ratio


def coherent_factor(n: int, d: int, tail: float = 1.5, seed: int = 0, dtype: torch.dtype = torch.float64,
                    device: torch.device | str | None = None) -> torch.Tensor:
    """A test factor with coherent rows: Gaussian rows, each scaled by ``|t|`` for a Student-t draw with ``tail``
    degrees of freedom. Small ``tail`` (heavy tails) gives a few rows with leverage near 1; ``tail = inf`` gives
    plain Gaussian (incoherent) rows, on which uniform sampling works as well as leverage sampling. Shape (n, d).
    """
    n = check_int("n", n, 1)
    d = check_int("d", d, 1, n)
    if not (isinstance(tail, (int, float)) and not isinstance(tail, bool) and tail > 0):
        raise ValueError(f"tail must be a positive number of degrees of freedom (or inf), got {tail!r}")
    seed = check_seed("seed", seed)
    check_float_dtype("dtype", dtype)
    device = check_device("device", device) if device is not None else None
    check_allocation(f"a factor of n = {n}, d = {d}", (n, d), torch.float64)  # NumPy draws it in float64 first
    draw = np.random.default_rng(seed)  # NumPy's Student-t takes a seeded generator; torch's does not
    rows = draw.standard_normal((n, d))
    if math.isfinite(tail):
        rows *= np.abs(draw.standard_t(tail, size=(n, 1)))
    return torch.as_tensor(rows, dtype=dtype, device=device)


def query_cost_model(n: float, d: float, eps: float, constant: float = 1.0) -> dict[str, float]:
    """Row queries needed to build a spectral approximation of ``A1 (x) A2`` (``A1, A2`` of shape (n, d)): a
    *cost model*, stated, not measured.

    - ``"materialised"``: ``n^2`` rows of the product read (leverage scores of the materialised product);
    - ``"classical"``: ``2 n`` factor rows (every row of each factor must be read to find its leverage scores;
      the product distribution then needs nothing more);
    - ``"quantum"``: ``2 c sqrt(n d) / eps`` factor-row queries, the leading term of the paper's
      ``O_{d,eps}(sqrt n)`` (quantum leverage-score sampling with Grover search per factor), assuming a row oracle
      (QRAM-type access); logarithmic factors and the ``poly(d / eps)`` post-processing are dropped, ``c`` is an
      unknown constant (1 by default).
    The classical and quantum lines cross at ``n* = c^2 d / eps^2`` (:func:`quantum_crossover`).
    """
    n = check_real("n", n, low=1.0)
    d = check_real("d", d, low=1.0)
    eps = check_real("eps", eps, low=0.0, low_inclusive=False)
    constant = check_real("constant", constant, low=0.0, low_inclusive=False)
    return {"materialised": n * n, "classical": 2.0 * n, "quantum": 2.0 * constant * math.sqrt(n * d) / eps}


def quantum_crossover(d: float, eps: float, constant: float = 1.0) -> float:
    """``n* = c^2 d / eps^2``: above it the modelled quantum query count ``2 c sqrt(n d)/eps`` is below ``2 n``."""
    d = check_real("d", d, low=1.0)
    eps = check_real("eps", eps, low=0.0, low_inclusive=False)
    constant = check_real("constant", constant, low=0.0, low_inclusive=False)
    return constant**2 * d / eps**2


__all__ = ["SCHEMES", "coherent_factor", "expected_frobenius_error", "kronecker_error_norms", "kronecker_gram",
           "kronecker_gram_reference", "kronecker_leverage_scores", "kronecker_leverage_scores_reference",
           "kronecker_rows", "kronecker_spectral_error", "marchenko_pastur_edge", "quantum_crossover",
           "query_cost_model", "sample_kronecker_pairs", "sampled_kronecker_gram"]
