"""Numbers the chapters report: one definition each, shared by every chapter that measures them."""

from __future__ import annotations

import torch

from .validation import check_finite_tensor, check_same_kind


def relative_error(estimate: torch.Tensor, exact: torch.Tensor) -> float:
    """``||estimate - exact||_F / ||exact||_F`` (for vectors of samples, the relative root-mean-square error).

    Used for kernel movement (``estimate = K_T``, ``exact = K_0``), attention approximations and learned scores.
    Raises ``ValueError`` for different shapes, dtypes or devices, non-finite values or an all-zero ``exact``.
    Entries so large (or so small) that a norm overflows (or underflows) are rescaled first, so a finite input
    never gives NaN.
    """
    check_finite_tensor("estimate", estimate)
    check_finite_tensor("exact", exact)
    check_same_kind(estimate=estimate, exact=exact)
    if estimate.shape != exact.shape:
        raise ValueError(f"estimate and exact must have the same shape, got {tuple(estimate.shape)} and "
                         f"{tuple(exact.shape)}")
    scale = torch.linalg.norm(exact)
    error = torch.linalg.norm(estimate - exact) / scale if scale != 0 else None
    if error is None or not bool(torch.isfinite(error)):
        # The plain formula overflowed or underflowed: the ratio is scale-free, so divide both by the largest entry.
        peak = torch.maximum(exact.abs().max(), estimate.abs().max())
        if float(exact.abs().max()) == 0.0:
            raise ValueError(f"the exact tensor is zero, so a relative error is undefined, got shape "
                             f"{tuple(exact.shape)} of zeros")
        error = torch.linalg.norm(estimate / peak - exact / peak) / torch.linalg.norm(exact / peak)
        if not bool(torch.isfinite(error)):
            raise ValueError(f"the relative error overflows {exact.dtype}: ||exact|| is {float(exact.abs().max()):.3g} "
                             f"at most per entry against {float(estimate.abs().max()):.3g} for the estimate")
    return float(error)
