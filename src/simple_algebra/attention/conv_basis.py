"""Conv-basis attention: causal softmax attention in O(k n d log n) when the scores have a k-conv basis.

Chapter (Part II): "Conv-Basis: A New Paradigm for Efficient Attention Inference and Gradient Computation in
Transformers" (Gu, Liang, Liu, Shi, Song, Yin; EMNLP 2025 Findings; arXiv 2405.05219).

Notation (rows and columns counted from 0; the conv matrices themselves are in
:mod:`simple_algebra.attention.conv_matrices`). ``conv(b, m)`` is the n x n matrix that is zero except for its
bottom-right m x m block, the lower-triangular Toeplitz matrix with first column ``b[:m]``. ``H`` has a k-conv basis if ``H = sum_r conv(b_r, m_r)`` with ``n >= m_1 > ... > m_k >= 1``. The break points are
the first columns ``s_r = n - m_r`` of the blocks. Inside the column segment ``[s_r, s_{r+1})`` the part of ``H`` on
and below the diagonal is Toeplitz with first column ``c_r = b_1 + ... + b_r``, so ``exp`` carries the basis over
by telescoping:

    M o exp(H) = conv(1, n) + sum_r conv(exp(c_r) - exp(c_{r-1}), m_r),      c_0 = 0,

and ``conv(a, m) V`` is a causal convolution of ``a`` with ``V`` masked to rows ``>= n - m``: an FFT of length
``>= 2n`` computes it in ``O(n e log n)``. Attention ``D^{-1} A V`` with ``A = M o exp(Q K^T)`` then costs
``O(k n d log n)`` once the break points are found by binary search over ``O(k log n)`` columns of ``Q K^T``; the
n x n matrix is never formed. The float64 reference is :func:`simple_algebra.attention.exact.exact_attention`;
inputs with an exact conv basis come from :mod:`simple_algebra.attention.rope`.

Inputs are single heads: ``Q, K (n, d)``, ``V (n, e)``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch

from ..core.runtime import one_thread
from ..core.validation import (
    check_finite_tensor,
    check_float_dtype,
    check_int,
    check_real,
    check_same_kind,
)
from .conv_matrices import (
    _check_basis,
    _check_values,
    _conv_basis_matmul,
    conv_basis_matrix,
    telescoped_exp_basis,
)

# Entries of exp(H - shift) are at most 1; below this the normaliser D of some row has underflowed.
_TINY = {torch.float32: 1e-30, torch.float64: 1e-290}


# ---------------------------------------------------------------------------------------------------------------
# Break points from Q and K, and attention
# ---------------------------------------------------------------------------------------------------------------

def _check_qkv(Q: torch.Tensor, K: torch.Tensor, V: torch.Tensor | None = None) -> None:
    check_finite_tensor("Q", Q, ndim=2)
    check_finite_tensor("K", K, ndim=2)
    if Q.shape != K.shape:
        raise ValueError(f"Q and K must both have shape (n, d), got {tuple(Q.shape)} and {tuple(K.shape)}")
    if V is not None:
        check_finite_tensor("V", V, ndim=2)
        if V.shape[0] != Q.shape[0]:
            raise ValueError(f"V must have shape (n, e) with n = {Q.shape[0]}, got {tuple(V.shape)}")
    check_same_kind(Q=Q, K=K, V=V)


def default_tolerance(dtype: torch.dtype) -> float:
    """Relative tolerance at which two score columns count as equal: about 1000 units of rounding."""
    dtype = check_float_dtype("dtype", dtype)
    return 1000 * torch.finfo(dtype).eps


def score_column(Q: torch.Tensor, K: torch.Tensor, j: int, *, scale: float = 1.0) -> torch.Tensor:
    """Column ``j`` of ``scale Q K^T`` on and below the diagonal, ``scale Q[j:] K[j]`` (length n - j): O(n d)."""
    _check_qkv(Q, K)
    j = check_int("j", j, 0, Q.shape[0] - 1)
    scale = check_real("scale", scale)
    return _score_column(Q, K, j, scale)


def _score_column(Q: torch.Tensor, K: torch.Tensor, j: int, scale: float) -> torch.Tensor:
    return scale * (Q[j:] @ K[j])


def find_break_points(Q: torch.Tensor, K: torch.Tensor, k: int, *, scale: float = 1.0,
                      tolerance: float | None = None) -> list[int]:
    """Up to ``k`` break points ``0 = s_1 < s_2 < ...`` of ``M o (scale Q K^T)``, by binary search over columns.

    From a segment start ``s`` the search looks for the first column ``j > s`` whose diagonal-down part differs
    from column ``s``'s on their common offsets, ``max_t |H[j+t, j] - H[s+t, s]| > tolerance * max |H[s:, s]|``:
    it probes ``s + 1, s + 2, s + 4, ...`` for one that differs, then bisects (16 columns per step). Each column
    costs O(n d), so k break points cost ``O(k n d log n)``, and ``Q K^T`` is never formed; the probes of a step
    are batched into one (n, d) x (d, 16) product. Exact (equal to :func:`conv_decomposition`'s break
    points) when a column that differs from its segment keeps differing further right, e.g. when every break
    changes the diagonal entry; the RoPE-style inputs of :func:`rope_inputs` are such. Stops early when no break
    is left. Shapes: ``Q, K (n, d)``. Chapter: conv-basis attention (arXiv 2405.05219).
    """
    _check_qkv(Q, K)
    k = check_int("k", k, 1, Q.shape[0])
    scale = check_real("scale", scale)
    tolerance = default_tolerance(Q.dtype) if tolerance is None else check_real("tolerance", tolerance, low=0.0)
    return _find_break_points(Q, K, k, scale, tolerance)


def _columns_differ(Q: torch.Tensor, K: torch.Tensor, start: int, reference: torch.Tensor, columns: list[int],
                    scale: float, limit: float) -> list[bool]:
    # One (n - start, P) product gives the P columns at once: entry [i - start, p] is H[i, j_p]. Column j_p's
    # diagonal-down part starts at row j_p - start; compare it with the reference column on their common rows.
    n = Q.shape[0]
    index = torch.tensor(columns, device=Q.device)
    block = scale * (Q[start:] @ K[index].transpose(0, 1))
    rows = (index - start)[None, :] + torch.arange(n - start, device=Q.device)[:, None]
    inside = rows < n - start
    shifted = block.gather(0, rows.clamp(max=n - start - 1))
    gap = (shifted - reference[:, None]).abs_().masked_fill_(~inside, 0.0).amax(dim=0)
    return (gap > limit).tolist()


def _find_break_points(Q: torch.Tensor, K: torch.Tensor, k: int, scale: float, tolerance: float,
                       probes: int = 16) -> list[int]:
    n = Q.shape[0]
    breaks = [0]
    # A sequence of small O(n d) products: on a CPU, intra-op threads only spin-wait on each other (5-10x slower).
    threads = one_thread() if Q.device.type == "cpu" else contextlib.nullcontext()
    with torch.no_grad(), threads:
        while len(breaks) < k and breaks[-1] < n - 1:
            start = breaks[-1]
            reference = _score_column(Q, K, start, scale)
            limit = tolerance * float(reference.abs().max())
            # Galloping: columns s + 1, s + 2, s + 4, ..., n - 1 in one batch; short segments are caught near their
            # start, and the far right (columns of few rows, weak evidence) is only the last resort.
            candidates = sorted({min(start + 2**power, n - 1) for power in range((n - 1 - start).bit_length() + 1)})
            differs = _columns_differ(Q, K, start, reference, candidates, scale, limit)
            if not any(differs):
                break
            first = differs.index(True)
            low, high = (candidates[first - 1] if first else start), candidates[first]
            while high - low > 1:  # multisection, `probes` columns per batch; low agrees with the segment, high not
                candidates = sorted({low + (high - low) * step // (probes + 1) for step in range(1, probes + 1)}
                                    - {low, high})
                differs = _columns_differ(Q, K, start, reference, candidates, scale, limit) + [True]
                first = differs.index(True)
                low, high = (candidates[first - 1] if first else low), (candidates + [high])[first]
            breaks.append(high)
    return breaks


def score_basis(Q: torch.Tensor, K: torch.Tensor, break_points: Sequence[int], *, scale: float = 1.0
                ) -> tuple[torch.Tensor, list[int]]:
    """The conv basis ``(b, m)`` of ``M o (scale Q K^T)`` for given break points: ``c_r = scale Q[s_r:] K[s_r]``,
    ``b_r = c_r - c_{r-1}[:m_r]``, ``m_r = n - s_r``. O(k n d); differentiable in ``Q`` and ``K``. ``b (k, n)``."""
    _check_qkv(Q, K)
    n = Q.shape[0]
    scale = check_real("scale", scale)
    if isinstance(break_points, (str, bytes)) or not hasattr(break_points, "__iter__"):
        raise ValueError(f"break_points must be a list of column indices, got {break_points!r}")
    points = [check_int("break point", s, 0, n - 1) for s in break_points]
    if not points or any(later <= earlier for earlier, later in zip(points, points[1:])):
        raise ValueError(f"break points must be a non-empty increasing list in [0, n), got {list(break_points)}")
    return _score_basis(Q, K, points, scale)


def _score_basis(Q: torch.Tensor, K: torch.Tensor, points: list[int], scale: float) -> tuple[torch.Tensor, list[int]]:
    n = Q.shape[0]
    columns = [torch.nn.functional.pad(_score_column(Q, K, s, scale), (0, s)) for s in points]
    b = torch.stack([columns[0]] + [columns[r] - columns[r - 1] for r in range(1, len(columns))])
    sizes = [n - s for s in points]
    tail = torch.arange(n, device=Q.device)[None, :] >= torch.tensor(sizes, device=Q.device)[:, None]
    return b.masked_fill(tail, 0.0), sizes


def conv_basis_attention_from_basis(b: torch.Tensor, m: Sequence[int], V: torch.Tensor) -> torch.Tensor:
    """Causal softmax attention ``D^{-1} (M o exp(H)) V`` for scores ``H = sum_r conv(b_r, m_r)``, by FFT.

    The telescoped exp basis (one global shift) times ``[V, 1]`` gives ``A V`` and ``D = A 1`` in one
    :func:`conv_basis_matmul`: ``O(k n e log n)``. Shapes: ``b (k, n)``, ``V (n, e)`` -> ``(n, e)``.
    Differentiable in ``b`` and ``V``. Reference: :func:`conv_basis_attention_reference`.
    """
    b, m = _check_basis(b, m)
    _check_values(b, V)
    if any(later >= earlier for earlier, later in zip(m, m[1:])):
        raise ValueError(f"the block sizes must decrease strictly, n >= m_1 > m_2 > ... >= 1, got {m}")
    return _attention_from_basis(b, m, V)


def _attention_from_basis(b: torch.Tensor, m: list[int], V: torch.Tensor) -> torch.Tensor:
    a, sizes, _ = telescoped_exp_basis(b, m)
    ones = torch.ones(V.shape[0], 1, dtype=V.dtype, device=V.device)
    product = _conv_basis_matmul(a, sizes, torch.cat([V, ones], dim=1))
    normaliser = product[:, -1:]
    # Rows whose scores all lie far below the global maximum underflow; say so instead of returning NaN.
    if not bool(torch.all(normaliser > _TINY.get(V.dtype, 1e-30))):
        raise ValueError("a row's softmax normaliser underflowed: the scores span more than the dtype's exponent "
                         "range below their global maximum (one global shift keeps the conv structure)")
    return product[:, :-1] / normaliser


def conv_basis_attention_reference(b: torch.Tensor, m: Sequence[int], V: torch.Tensor) -> torch.Tensor:
    """Dense float64 reference of :func:`conv_basis_attention_from_basis`: ``exact_attention(H, I, V, causal)``,
    the max-subtracted softmax of the dense scores ``H = sum_r conv(b_r, m_r)`` (as ``Q = H``, ``K = I``)."""
    from .exact import exact_attention

    b, m = _check_basis(b, m)
    _check_values(b, V)
    scores = conv_basis_matrix(b.to(torch.float64), m)
    identity = torch.eye(scores.shape[0], dtype=torch.float64, device=scores.device)
    return exact_attention(scores, identity, V.to(torch.float64), causal=True)


def conv_basis_attention(Q: torch.Tensor, K: torch.Tensor, V: torch.Tensor, k: int, *, scale: float = 1.0,
                         tolerance: float | None = None, fft_dtype: torch.dtype | None = torch.float64
                         ) -> torch.Tensor:
    """Causal softmax attention ``D^{-1} (M o exp(scale Q K^T)) V`` through a k-conv basis, in O(k n d log n).

    Finds up to ``k`` break points by binary search (:func:`find_break_points`), reads the basis off those columns
    (:func:`score_basis`), telescopes it through exp and applies it to ``[V, 1]`` by FFT
    (:func:`conv_basis_attention_from_basis`). Exact, up to rounding, when ``M o Q K^T`` has a conv basis of at
    most k terms; with fewer terms the last segment's scores stand in for the columns to its right. The FFTs run in
    ``fft_dtype`` (default float64: an FFT's rounding is relative to the largest entry of the whole convolution,
    and ``D^{-1}`` then magnifies it by up to n in the first rows; float32 FFTs give errors near ``1e-7 n``).
    Shapes: ``Q, K (n, d)``, ``V (n, e)`` -> ``(n, e)`` in ``V``'s dtype. Differentiable in ``Q, K, V`` (the break
    points are locally constant). Reference: :func:`simple_algebra.attention.exact.exact_attention` with ``causal=True``.
    """
    _check_qkv(Q, K, V)
    k = check_int("k", k, 1, Q.shape[0])
    scale = check_real("scale", scale)
    tolerance = default_tolerance(Q.dtype) if tolerance is None else check_real("tolerance", tolerance, low=0.0)
    fft_dtype = None if fft_dtype is None else check_float_dtype("fft_dtype", fft_dtype)
    b, sizes = _score_basis(Q, K, _find_break_points(Q, K, k, scale, tolerance), scale)
    work = V.dtype if fft_dtype is None else fft_dtype
    return _attention_from_basis(b.to(work), sizes, V.to(work)).to(V.dtype)


__all__ = ["conv_basis_attention", "conv_basis_attention_from_basis", "conv_basis_attention_reference",
           "default_tolerance", "find_break_points", "score_basis", "score_column"]
