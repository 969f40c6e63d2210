"""Numbers the chapters report: one definition each, shared by every chapter that measures them."""

from __future__ import annotations

import torch

from .validation import check_finite_tensor


def relative_error(estimate: torch.Tensor, exact: torch.Tensor) -> float:
    """``||estimate - exact||_F / ||exact||_F`` (for vectors of samples, the relative root-mean-square error).

    Used for kernel movement (``estimate = K_T``, ``exact = K_0``), attention approximations and learned scores.
    Raises ``ValueError`` for different shapes, non-finite values or an all-zero ``exact``.
    """
    check_finite_tensor("estimate", estimate)
    check_finite_tensor("exact", exact)
    if estimate.shape != exact.shape:
        raise ValueError(f"estimate and exact must have the same shape, got {tuple(estimate.shape)} and "
                         f"{tuple(exact.shape)}")
    scale = torch.linalg.norm(exact)
    if scale == 0:
        raise ValueError("the exact tensor is zero, so a relative error is undefined")
    return float(torch.linalg.norm(estimate - exact) / scale)
