"""Input checks at the package's public boundary: bad input raises a clear ``ValueError``, never a NaN."""

from __future__ import annotations

import math
import numbers

import torch


def check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    """Return ``value`` as an int if it is an integer in ``[low, high]``; else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if value < low or (high is not None and value > high):
        expected = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be {expected}, got {value}")
    return value


def check_real(name: str, value: object, low: float | None = None, high: float | None = None,
               low_inclusive: bool = True) -> float:
    """Return ``value`` as a float if it is finite and within the bounds; else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and (value < low or (value == low and not low_inclusive)):
        sign = ">=" if low_inclusive else ">"
        raise ValueError(f"{name} must be {sign} {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return value


def check_finite_tensor(name: str, tensor: object, ndim: int | None = None) -> torch.Tensor:
    """Return ``tensor`` if it is a floating torch tensor with only finite entries (and ``ndim`` dims)."""
    if not isinstance(tensor, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if not tensor.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {tensor.dtype}")
    if ndim is not None and tensor.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(tensor.shape)}")
    if tensor.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(tensor.shape)}")
    # A finite sum proves every entry finite (NaN and inf propagate through a sum), and costs one pass without the
    # boolean tensor isfinite() allocates; only a sum that overflowed needs the entry-by-entry check.
    total = tensor.detach().sum()
    if not bool(torch.isfinite(total)) and not bool(torch.isfinite(tensor.detach()).all()):
        raise ValueError(f"{name} must contain only finite values (found NaN or inf)")
    return tensor
