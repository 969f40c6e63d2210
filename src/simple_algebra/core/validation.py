"""Input checks at the package's public boundary: bad input raises a clear ``ValueError``, never a NaN or a hang.

There is one check for each kind of input, and every message names the argument, says what was expected and shows
what was given (``"degree must be in [0, 32], got 1000"``):

- numbers: :func:`check_int`, :func:`check_real`, :func:`check_seed`, :func:`check_degree`, :func:`check_rank`,
  :func:`check_steps` (the cap on a loop's length), :func:`check_choice` (one of a few strings);
- tensors: :func:`check_finite_tensor` (floating, finite, not empty, optionally of a given ``ndim``),
  :func:`check_shape`, :func:`check_tall_matrix`, :func:`check_same_kind` (one dtype and one device for several
  tensors), :func:`check_index_tensor` (integer indices in range), :func:`check_gradient` (an optimizer's gradient);
- dtypes: :func:`check_float_dtype` (a ``dtype=`` argument);
- memory: :func:`check_allocation` refuses sizes whose tensors would not fit in :func:`memory_budget`, so that a
  typo such as ``n=10**12`` is an error message instead of a request to the allocator for terabytes;
- devices: :func:`check_device`.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable, Sequence

import torch

MAX_SEED = 2**63 - 1
MAX_DEGREE = 64
MAX_STEPS = 10_000_000
BUDGET_VARIABLE = "SIMPLE_ALGEBRA_MAX_BYTES"
_FALLBACK_BUDGET = 8 * 2**30


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    """Return ``value`` as an int if it is an integer in ``[low, high]``; else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {_shown(value)} ({type(value).__name__})")
    value = int(value)
    if value < low or (high is not None and value > high):
        expected = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be {expected}, got {value}")
    return value


def check_real(name: str, value: object, low: float | None = None, high: float | None = None,
               low_inclusive: bool = True, high_inclusive: bool = True) -> float:
    """Return ``value`` as a float if it is finite and within the bounds; else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {_shown(value)} ({type(value).__name__})")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and (value < low or (value == low and not low_inclusive)):
        sign = ">=" if low_inclusive else ">"
        raise ValueError(f"{name} must be {sign} {low}, got {value}")
    if high is not None and (value > high or (value == high and not high_inclusive)):
        sign = "<=" if high_inclusive else "<"
        raise ValueError(f"{name} must be {sign} {high}, got {value}")
    return value


def check_seed(name: str, value: object) -> int:
    """A seed: an integer in ``[0, 2^63 - 1]`` (what ``torch.Generator.manual_seed`` accepts without wrapping)."""
    return check_int(name, value, 0, MAX_SEED)


def check_degree(name: str, value: object, low: int = 0, high: int = MAX_DEGREE) -> int:
    """A polynomial or Taylor degree in ``[low, high]``: the cap keeps feature counts and loops finite."""
    return check_int(name, value, low, high)


def check_rank(name: str, value: object, high: int) -> int:
    """A rank (or a number of components) in ``[1, high]``, ``high`` being the largest rank the shapes allow."""
    return check_int(name, value, 1, high)


def check_steps(name: str, value: object, low: int = 1, high: int = MAX_STEPS) -> int:
    """The length of a loop (training steps, sampler steps, iterations): capped so that no call runs for days."""
    return check_int(name, value, low, high)


def check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    """One of a few named options (``"exact"``, ``"approximate"``, ...)."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {_shown(value)}")
    return value


def check_finite_tensor(name: str, tensor: object, ndim: int | None = None) -> torch.Tensor:
    """Return ``tensor`` if it is a real floating torch tensor with only finite entries (and ``ndim`` dims)."""
    if not isinstance(tensor, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if not tensor.is_floating_point():
        raise ValueError(f"{name} must be a real floating-point tensor, got dtype {tensor.dtype}")
    if ndim is not None and tensor.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(tensor.shape)}")
    if tensor.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(tensor.shape)}")
    if torch._C._functorch.is_functorch_wrapped_tensor(tensor):
        # Inside a torch.func transform (vmap, jacrev: a module's forward under width.kernels.empirical_ntk) the
        # values cannot be read; the caller checked them outside the transform.
        return tensor
    # A finite sum proves every entry finite (NaN and inf propagate through a sum), and costs one pass without the
    # boolean tensor isfinite() allocates; only a sum that overflowed needs the entry-by-entry check.
    total = tensor.detach().sum()
    if not bool(torch.isfinite(total)) and not bool(torch.isfinite(tensor.detach()).all()):
        bad = int((~torch.isfinite(tensor.detach())).sum())
        raise ValueError(f"{name} must contain only finite values, got {bad} NaN or inf of {tensor.numel()} entries")
    return tensor


def check_shape(name: str, tensor: object, shape: Sequence[int | None]) -> torch.Tensor:
    """:func:`check_finite_tensor`, and the shape must match ``shape`` (``None`` matches any length there)."""
    check_finite_tensor(name, tensor, ndim=len(shape))
    if any(want is not None and got != want for got, want in zip(tensor.shape, shape)):
        expected = str(tuple("*" if want is None else want for want in shape)).replace("'*'", "*")
        raise ValueError(f"{name} must have shape {expected}, got {tuple(tensor.shape)}")
    return tensor


def check_tall_matrix(name: str, matrix: object) -> torch.Tensor:
    """Return ``matrix`` if it is a finite floating (n, d) tensor with ``n >= d`` (a regression design, say)."""
    check_finite_tensor(name, matrix, ndim=2)
    if matrix.shape[0] < matrix.shape[1]:
        raise ValueError(f"{name} must have at least as many rows as columns (n >= d), got shape {tuple(matrix.shape)}")
    return matrix


def check_index_tensor(name: str, indices: object, size: int, ndim: int = 1) -> torch.Tensor:
    """An integer index tensor of ``ndim`` dimensions whose entries lie in ``[0, size)``."""
    if not isinstance(indices, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of indices, got {type(indices).__name__}")
    if indices.is_floating_point() or indices.is_complex() or indices.dtype == torch.bool:
        raise ValueError(f"{name} must be an integer (long) tensor of indices, got dtype {indices.dtype}")
    if indices.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {tuple(indices.shape)}")
    if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= size):
        raise ValueError(f"{name} is out of range: its entries must lie in [0, {size}), got entries from "
                         f"{int(indices.min())} to {int(indices.max())}")
    return indices


def check_float_dtype(name: str, dtype: object) -> torch.dtype:
    """A ``dtype`` argument: a real floating torch dtype (an integer dtype would round the problem to integers)."""
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"{name} must be a real floating torch dtype (torch.float64, torch.float32), got {dtype!r}")
    return dtype


def check_same_kind(**tensors: torch.Tensor) -> None:
    """The tensors share one dtype and one device (float32 with float64 is refused, not silently promoted)."""
    named = [(name, tensor) for name, tensor in tensors.items() if tensor is not None]
    if not named:
        return
    first_name, first = named[0]
    for name, tensor in named[1:]:
        if tensor.dtype != first.dtype:
            raise ValueError(f"{name} and {first_name} must share one dtype, got {tensor.dtype} and {first.dtype}")
        if tensor.device != first.device:
            raise ValueError(f"{name} and {first_name} must be on one device, got {tensor.device} and {first.device}")


def check_gradient(name: str, gradient: torch.Tensor | None) -> torch.Tensor | None:
    """An optimizer step's gradient: ``None`` (the parameter had none) or finite; a NaN gradient stops the step."""
    if gradient is None:
        return None
    total = gradient.detach().sum()
    if not bool(torch.isfinite(total)) and not bool(torch.isfinite(gradient.detach()).all()):
        raise ValueError(f"{name} must be finite, got NaN or inf entries: the step was refused (lower the learning "
                         "rate, or check the loss)")
    return gradient


def memory_budget(device: torch.device | str | None = None) -> int:
    """Bytes one tensor may take: ``$SIMPLE_ALGEBRA_MAX_BYTES`` if set; else half of the GPU's memory on CUDA,
    half of the physical memory on the CPU (8 GiB where that cannot be read)."""
    requested = os.environ.get(BUDGET_VARIABLE, "").strip()
    if requested:
        try:
            return check_int(BUDGET_VARIABLE, int(requested), 1)
        except ValueError as error:
            raise ValueError(f"{BUDGET_VARIABLE} must be a positive integer of bytes, got {requested!r}") from error
    where = torch.device(device) if device is not None else torch.device("cpu")
    if where.type == "cuda" and torch.cuda.is_available():
        return torch.cuda.get_device_properties(where).total_memory // 2
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):
        return _FALLBACK_BUDGET


def check_allocation(what: str, shape: Iterable[int], dtype: torch.dtype = torch.float64,
                     device: torch.device | str | None = None) -> None:
    """Refuse a tensor of ``shape`` and ``dtype`` that would exceed :func:`memory_budget`, before allocating it.

    ``what`` says which inputs made the size (``"n x n scores for n = 10**6"``), so the message tells the reader
    which argument to lower.
    """
    elements = math.prod(int(size) for size in shape)
    needed = elements * torch.empty((), dtype=dtype).element_size()
    budget = memory_budget(device)
    if needed > budget:
        raise ValueError(f"{what} would need {needed / 2**30:.3g} GiB ({tuple(shape)} of {dtype}), more than the "
                         f"{budget / 2**30:.3g} GiB budget (set {BUDGET_VARIABLE} to raise it)")


def check_device(name: str, value: object) -> torch.device | None:
    """A torch device that exists here (``"cuda"`` on a machine without CUDA is a ``ValueError``, not an assert), or
    ``None``, which stands for the default device and is returned as it is."""
    if value is None:
        return None
    try:
        chosen = torch.device(value)  # type: ignore[arg-type]
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"{name} must be a torch device (\"cpu\", \"cuda\", \"cuda:1\"), "
                         f"got {_shown(value)}") from error
    if chosen.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{name} asks for CUDA ({_shown(value)}), but no CUDA device is available")
        if chosen.index is not None and chosen.index >= torch.cuda.device_count():
            raise ValueError(f"{name} asks for {chosen}, but only {torch.cuda.device_count()} CUDA device(s) exist")
    elif chosen.type not in ("cpu", "cuda", "mps", "meta"):
        raise ValueError(f"{name} must be a cpu or cuda device, got {_shown(value)}")
    return chosen
