"""Conv matrices: ``conv(b, m)``, sums of them (a k-conv basis), their FFT products, and the exact decomposition.

Notation (rows and columns counted from 0). ``conv(b)`` is the lower-triangular Toeplitz matrix with first column
``b``; ``conv(b, m)`` is the n x n matrix that is zero except for its bottom-right m x m block, ``conv(b[:m])``:

    conv(b, m)_ij = b[i - j]   if  j >= n - m  and  i >= j,   else 0.

``H`` has a k-conv basis if ``H = sum_r conv(b_r, m_r)`` with ``n >= m_1 > ... > m_k >= 1``. ``conv(a, m) V`` is a
causal convolution of ``a`` with ``V`` masked to rows ``>= n - m``: an FFT of length ``>= 2n`` computes it in
``O(n e log n)``. Inside the column segment ``[s_r, s_{r+1})`` the part of ``H`` on and below the diagonal is Toeplitz
with first column ``c_r = b_1 + ... + b_r``, so ``exp`` carries the basis over by telescoping
(:func:`telescoped_exp_basis`). Conv-basis attention, which builds on these, is in
:mod:`simple_algebra.attention.conv_basis`.

Chapter (Part II): "Conv-Basis: A New Paradigm for Efficient Attention Inference and Gradient Computation in
Transformers" (Gu, Liang, Liu, Shi, Song, Yin; EMNLP 2025 Findings; arXiv 2405.05219).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch

from ..core.validation import (
    check_allocation,
    check_finite_tensor,
    check_int,
    check_real,
    check_same_kind,
    check_shape,
)

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


__all__ = ["conv_basis_matmul", "conv_basis_matmul_reference", "conv_basis_matrix", "conv_decomposition",
           "conv_matrix", "telescoped_exp_basis"]
