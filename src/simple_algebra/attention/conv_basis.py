"""Conv-basis attention: causal softmax attention in O(k n d log n) when the scores have a k-conv basis.

Chapter (Part II): "Conv-Basis: A New Paradigm for Efficient Attention Inference and Gradient Computation in
Transformers" (Gu, Liang, Liu, Shi, Song, Yin; EMNLP 2025 Findings; arXiv 2405.05219).

Notation (rows and columns counted from 0). ``conv(b)`` is the lower-triangular Toeplitz matrix with first column
``b``; ``conv(b, m)`` is the n x n matrix that is zero except for its bottom-right m x m block, ``conv(b[:m])``:

    conv(b, m)_ij = b[i - j]   if  j >= n - m  and  i >= j,   else 0.

``H`` has a k-conv basis if ``H = sum_r conv(b_r, m_r)`` with ``n >= m_1 > ... > m_k >= 1``. The break points are
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
import math
import numbers
from collections.abc import Sequence

import torch

from ..core.runtime import one_thread
from ..core.validation import (
    check_allocation,
    check_finite_tensor,
    check_float_dtype,
    check_int,
    check_real,
    check_same_kind,
    check_shape,
)

# Entries of exp(H - shift) are at most 1; below this the normaliser D of some row has underflowed.
_TINY = {torch.float32: 1e-30, torch.float64: 1e-290}


# ---------------------------------------------------------------------------------------------------------------
# conv(b, m) matrices and their products with V
# ---------------------------------------------------------------------------------------------------------------

def _check_basis(b: torch.Tensor, m: Sequence[int]) -> tuple[torch.Tensor, list[int]]:
    check_finite_tensor("b", b)
    if b.ndim == 1:
        b = b[None]
    if b.ndim != 2:
        raise ValueError(f"b must have shape (n,) or (k, n), got {tuple(b.shape)}")
    k, n = b.shape
    if isinstance(m, numbers.Integral) and not isinstance(m, bool):
        m = [m]
    if isinstance(m, (str, bytes)) or not hasattr(m, "__iter__"):
        raise ValueError(f"m must be a size or a list of sizes in [1, {n}], got {m!r}")
    m = [check_int("m", value, 1, n) for value in m]
    if len(m) != k:
        raise ValueError(f"need one size m per basis vector: b has {k} rows, m has {len(m)} entries")
    return b, m


def conv_matrix(b: torch.Tensor, m: int | None = None) -> torch.Tensor:
    """Dense ``conv(b, m)``: the n x n matrix, zero except its bottom-right m x m block ``conv(b[:m])``.

    ``conv(b, m)_ij = b[i - j]`` for ``n - m <= j <= i``. Shapes: ``b (n,)`` -> ``(n, n)``; ``m`` defaults to n.
    For references and small figures only: O(n^2) memory. Chapter: conv-basis attention (arXiv 2405.05219).
    """
    check_finite_tensor("b", b, ndim=1)
    n = b.shape[0]
    m = n if m is None else check_int("m", m, 1, n)
    check_allocation(f"the dense n x n matrix conv(b, m) for n = {n}", (n, n), b.dtype, b.device)
    rows = torch.arange(n, device=b.device)
    offset = rows[:, None] - rows[None, :]
    keep = (offset >= 0) & (rows[None, :] >= n - m)
    return torch.where(keep, b[offset.clamp(min=0)], torch.zeros((), dtype=b.dtype, device=b.device))


def conv_basis_matrix(b: torch.Tensor, m: Sequence[int]) -> torch.Tensor:
    """Dense ``sum_r conv(b_r, m_r)`` for ``b (k, n)`` and sizes ``m`` (k of them) -> ``(n, n)``. Reference only."""
    b, m = _check_basis(b, m)
    check_allocation(f"the dense n x n matrix sum_r conv(b_r, m_r) for n = {b.shape[1]}", (b.shape[1],) * 2,
                     b.dtype, b.device)
    return sum(conv_matrix(row, size) for row, size in zip(b, m))


def _window(m: int, n: int) -> int:
    # The last w >= m rows (w a power of two, or n): a term of size m only touches them, so its FFT has length 2w.
    return min(n, 1 << (m - 1).bit_length())


def conv_basis_matmul(b: torch.Tensor, m: Sequence[int], V: torch.Tensor, *, chunk: int | None = None) -> torch.Tensor:
    """``sum_r conv(b_r, m_r) V`` by zero-padded real FFTs, without forming any n x n matrix.

    ``conv(b, m) V`` is the causal convolution of ``b`` with ``V`` whose rows ``< n - m`` are zeroed, and it only
    touches the last ``m`` rows: each term costs one rFFT of those rows of ``V``, zero-padded to twice a window
    ``w >= m`` (a power of two, or n). Terms with the same window are batched (``chunk`` at a time) and summed in
    the frequency domain before one inverse FFT per window: ``O(k n e log n)`` time in all.
    Shapes: ``b (k, n)`` (or ``(n,)``), ``V (n, e)`` -> ``(n, e)``. Differentiable (torch.fft); runs on the
    inputs' device in their dtype. Reference: :func:`conv_basis_matmul_reference`. Chapter: conv-basis attention.
    """
    b, m = _check_basis(b, m)
    _check_values(b, V)
    chunk = None if chunk is None else check_int("chunk", chunk, 1)
    return _conv_basis_matmul(b, m, V, chunk)


def _conv_basis_matmul(b: torch.Tensor, m: list[int], V: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
    n = b.shape[1]
    columns = V.shape[1]
    values = V.transpose(0, 1)  # FFTs along the last, contiguous axis
    output = None
    # Terms are grouped by window: conv(b, m) V lives in the last m rows, so a small block needs a short FFT.
    for width in sorted({_window(size, n) for size in m}):
        terms = [r for r, size in enumerate(m) if _window(size, n) == width]
        length = 2 * width  # linear convolution of two length-w sequences: no wrap-around
        step = chunk or max(1, (1 << 26) // (length * columns))  # about 2^26 spectrum entries per batch
        total = None
        for first in range(0, len(terms), step):
            batch = terms[first:first + step]
            # V's rows >= n - m_r at their offset in a window of twice the width, zero elsewhere: writing each
            # entry once, instead of zeroing the whole window and letting rfft pad it again.
            window = V.new_empty(len(batch), columns, length)
            window[..., width:] = 0
            for index, r in enumerate(batch):
                window[index, :, :width - m[r]] = 0
                window[index, :, width - m[r]:width] = values[:, n - m[r]:]
            kernels = torch.fft.rfft(b[batch, :width], n=length, dim=-1)[:, None, :]
            spectra = torch.fft.rfft(window, dim=-1)
            if torch.is_grad_enabled() and (b.requires_grad or V.requires_grad):
                spectra = spectra * kernels
            else:  # inference: no 2^26-entry temporary
                spectra *= kernels
            spectrum = spectra.sum(0)
            total = spectrum if total is None else total + spectrum
        part = torch.nn.functional.pad(torch.fft.irfft(total, n=length, dim=-1)[:, :width], (n - width, 0))
        output = part if output is None else output + part
    return output.transpose(0, 1)


def _check_values(b: torch.Tensor, V: torch.Tensor) -> None:
    check_shape("V", V, (b.shape[1], None))
    check_same_kind(b=b, V=V)


def conv_basis_matmul_reference(b: torch.Tensor, m: Sequence[int], V: torch.Tensor) -> torch.Tensor:
    """Dense float64 ``(sum_r conv(b_r, m_r)) V``, the reference for :func:`conv_basis_matmul`."""
    b, m = _check_basis(b, m)
    _check_values(b, V)
    return conv_basis_matrix(b.to(torch.float64), m) @ V.to(torch.float64)


# ---------------------------------------------------------------------------------------------------------------
# The exact k-conv decomposition of a lower-triangular matrix
# ---------------------------------------------------------------------------------------------------------------

def _check_lower_triangular(H: torch.Tensor) -> int:
    check_finite_tensor("H", H, ndim=2)
    if H.shape[0] != H.shape[1]:
        raise ValueError(f"H must be square (n, n), got {tuple(H.shape)}")
    if torch.any(H.triu(1) != 0):
        raise ValueError("H must be lower-triangular (zero above the diagonal)")
    return H.shape[0]


def conv_decomposition(H: torch.Tensor, *, tolerance: float = 0.0) -> tuple[torch.Tensor, list[int]]:
    """The exact conv basis of a lower-triangular ``H (n, n)``: ``H = sum_r conv(b_r, m_r)``; returns ``(b, m)``.

    A break point is a column ``j`` whose part on and below the diagonal, ``H[j:, j]``, differs (by more than
    ``tolerance`` times the largest |entry|) from the previous column's, ``H[j-1:n-1, j-1]``; column 0 always is.
    With ``s_1 = 0 < s_2 < ...`` the break points, ``c_r = H[s_r:, s_r]``, ``m_r = n - s_r`` and
    ``b_r = c_r - c_{r-1}[:m_r]`` (zero-padded to length n). A generic matrix needs all n columns (k = n), a
    Toeplitz one k = 1. O(n^2): the reference for the fast recovery from ``Q, K`` (:func:`find_break_points`).
    """
    n = _check_lower_triangular(H)
    tolerance = check_real("tolerance", tolerance, low=0.0)
    largest = float(H.abs().max())
    breaks = [0]
    for j in range(1, n):
        if float((H[j:, j] - H[j - 1:n - 1, j - 1]).abs().max()) > tolerance * largest:
            breaks.append(j)
    columns = [torch.nn.functional.pad(H[s:, s], (0, s)) for s in breaks]
    b = torch.stack([columns[0]] + [columns[r] - columns[r - 1] for r in range(1, len(columns))])
    # conv(b_r, m_r) only reads b_r[:m_r]; zero the tail so that the basis vectors are canonical.
    sizes = [n - s for s in breaks]
    tail = torch.arange(n, device=H.device)[None, :] >= torch.tensor(sizes, device=H.device)[:, None]
    return b.masked_fill(tail, 0.0), sizes


# ---------------------------------------------------------------------------------------------------------------
# Carrying the basis through exp
# ---------------------------------------------------------------------------------------------------------------

def telescoped_exp_basis(b: torch.Tensor, m: Sequence[int], *, shift: float | torch.Tensor | None = None
                         ) -> tuple[torch.Tensor, list[int], torch.Tensor]:
    """A conv basis of ``e^{-shift} M o exp(H)`` from ``H = sum_r conv(b_r, m_r)``; returns ``(a, sizes, shift)``.

    With ``c_r = b_1 + ... + b_r`` and ``c_0 = 0`` (the scores of the columns left of the first block):

        M o exp(H) = conv(1, n) + sum_r conv(exp(c_r) - exp(c_{r-1}), m_r).

    Everything is multiplied by ``e^{-shift}`` with ONE global scalar (default: the largest entry of ``H``), so
    every entry is at most 1; a row-wise maximum would break the Toeplitz structure. When ``m_1 = n`` the
    ``conv(1, n)`` term cancels against ``-exp(c_0)`` and both are left out (no ``e^{-shift}`` overflow for very
    negative scores). Shapes: ``b (k, n)`` -> ``a (k or k + 1, n)``. Differentiable in ``b``.
    """
    b, m = _check_basis(b, m)
    if any(later >= earlier for earlier, later in zip(m, m[1:])):
        raise ValueError(f"the block sizes must decrease strictly, n >= m_1 > m_2 > ... >= 1, got {m}")
    if shift is not None:
        if isinstance(shift, torch.Tensor):
            check_finite_tensor("shift", shift)
            if shift.numel() != 1:
                raise ValueError(f"shift must be a scalar, got a tensor of shape {tuple(shift.shape)}")
        else:
            check_real("shift", shift)
    n = b.shape[1]
    offsets = torch.arange(n, device=b.device)
    valid = offsets[None, :] < torch.tensor(m, device=b.device)[:, None]
    cumulative = torch.cumsum(b, dim=0)
    if m[0] < n:  # columns before the first block: scores 0, the conv(1, n) term
        cumulative = torch.cat([torch.zeros_like(cumulative[:1]), cumulative])
        valid = torch.cat([torch.ones_like(valid[:1]), valid])
        m = [n, *m]
    if shift is None:
        shift = cumulative.detach().masked_fill(~valid, -math.inf).max()
    shift = torch.as_tensor(shift, dtype=b.dtype, device=b.device)
    powers = torch.exp((cumulative - shift).masked_fill(~valid, -math.inf))
    a = torch.cat([powers[:1], powers[1:] - powers[:-1]]).masked_fill(~valid, 0.0)
    return a, list(m), shift


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
           "conv_basis_matmul", "conv_basis_matmul_reference", "conv_basis_matrix", "conv_decomposition",
           "conv_matrix", "default_tolerance", "find_break_points", "score_basis", "score_column",
           "telescoped_exp_basis"]
