"""Polynomial attention and the planted-token separation experiment.

Chapter "The expressibility of polynomial attention" (Part II), after Song, Xu and Yin, *The Expressibility of
Polynomial based Attention Scheme*, arXiv 2310.20051.

Polynomial attention of degree ``beta`` normalises ``|s|^beta`` over the keys instead of ``exp(s)``:

    w_i = |s_i|^beta / sum_j |s_j|^beta.

The planted-token data sets D0/D1 and the readout rule are the book's own reconstruction (the paper's exact
data sets were not available); see the chapter's Reconstruction note.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..core.runtime import generator
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
)

MAX_DEGREE = 64
MAX_THRESHOLD = 10**6  # predicted_threshold's search stops here (the loop would otherwise run for hours)


def polynomial_attention_reference(scores: torch.Tensor, degree: int) -> torch.Tensor:
    """Reference: ``|s|^beta / sum |s|^beta`` over the last axis, computed directly in float64.

    Plain and obviously right, but ``|s|^beta`` overflows for large scores or degrees: then it raises
    ``ValueError`` rather than return NaN. Use :func:`polynomial_attention` in practice.
    Shapes: ``scores (..., n)`` -> weights ``(..., n)``.
    """
    degree = check_degree("degree", degree, 1, MAX_DEGREE)
    scores = _check_scores(scores)
    powered = scores.to(torch.float64).abs() ** degree
    if not torch.isfinite(powered).all():
        raise ValueError(f"|s|^{degree} overflows float64 for these scores; use polynomial_attention, "
                         "which works in the log domain")
    return (powered / powered.sum(dim=-1, keepdim=True)).to(scores.dtype)


def polynomial_attention(scores: torch.Tensor, degree: int) -> torch.Tensor:
    """Polynomial attention weights ``|s|^beta / sum |s|^beta`` over the last axis, computed stably.

    Uses the identity ``|s|^beta / sum |s|^beta = softmax(beta * log|s|)``, which never forms ``|s|^beta``
    and so cannot overflow. The absolute value makes odd degrees well defined for negative scores (the paper's
    even-degree scheme is unchanged). Shapes: ``scores (..., n)`` -> weights ``(..., n)``; dtype and device
    follow ``scores``.
    """
    degree = check_degree("degree", degree, 1, MAX_DEGREE)
    scores = _check_scores(scores)
    return torch.softmax(degree * torch.log(scores.abs()), dim=-1)


def softmax_attention(scores: torch.Tensor) -> torch.Tensor:
    """Softmax attention weights ``exp(s_i) / sum_j exp(s_j)`` over the last axis (max-subtracted)."""
    scores = check_finite_tensor("scores", scores)
    return torch.softmax(scores, dim=-1)


def _check_scores(scores: torch.Tensor) -> torch.Tensor:
    scores = check_finite_tensor("scores", scores)
    if scores.ndim < 1:
        raise ValueError(f"scores must have a last axis of keys (..., n), got shape {tuple(scores.shape)}")
    zero = scores.abs().amax(dim=-1) == 0
    if zero.any():
        raise ValueError(f"polynomial attention is undefined for a row of scores that are all zero, got "
                         f"{int(zero.sum())} such row(s) in scores of shape {tuple(scores.shape)}")
    return scores


@dataclass(frozen=True)
class PlantedTokens:
    """A balanced sample of D0 and D1 score vectors with their values and labels.

    ``scores (samples, n)``: D0 rows are i.i.d. U(0, 1); D1 rows are the same with one random token raised to
    ``large_value``. ``values (samples, n)``: random signs that the attention reads out. ``labels (samples,)``:
    0 for D0, 1 for D1. ``planted (samples,)``: index of the planted token (-1 for D0 rows).
    """

    scores: torch.Tensor
    values: torch.Tensor
    labels: torch.Tensor
    planted: torch.Tensor


def planted_tokens(n: int, samples: int, large_value: float = 4.0, seed: int = 0,
                   dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu") -> PlantedTokens:
    """Draw ``samples`` score vectors of length ``n``, half from D0 and half from D1 (the book's construction).

    Same ``seed``, same data, on every device: the numbers are drawn on the CPU and then moved.
    """
    n = check_int("n", n, 2, 1 << 24)
    samples = check_int("samples", samples, 2, 1 << 24)
    large_value = check_real("large_value", large_value, low=1.0, low_inclusive=False)
    if samples % 2:
        raise ValueError(f"samples must be even (half D0, half D1), got {samples}")
    seed = check_seed("seed", seed)
    dtype = check_float_dtype("dtype", dtype)
    device = check_device("device", device)
    check_allocation(f"samples x n scores for samples = {samples}, n = {n}", (samples, n))
    draw = generator(seed)
    scores = torch.rand(samples, n, generator=draw, dtype=torch.float64)
    # U(0, 1) can return exactly 0, which polynomial attention cannot normalise if a whole row were zero and
    # which log() maps to -inf; nudging zeros up keeps every score in (0, 1).
    scores.clamp_(min=torch.finfo(torch.float64).tiny)
    values = torch.randint(0, 2, (samples, n), generator=draw).to(torch.float64) * 2 - 1
    labels = torch.zeros(samples, dtype=torch.long)
    labels[samples // 2:] = 1
    planted = torch.full((samples,), -1, dtype=torch.long)
    planted[samples // 2:] = torch.randint(0, n, (samples // 2,), generator=draw)
    rows = torch.arange(samples // 2, samples)
    scores[rows, planted[samples // 2:]] = large_value
    return PlantedTokens(scores.to(device=device, dtype=dtype), values.to(device=device, dtype=dtype),
                         labels.to(device), planted.to(device))


def readout(weights: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """The attention output ``c = <w, v>`` for each row: shapes ``(..., n), (..., n) -> (...)``."""
    check_finite_tensor("weights", weights)
    check_finite_tensor("values", values)
    check_same_kind(weights=weights, values=values)
    if weights.shape != values.shape:
        raise ValueError(f"weights and values must have the same shape, got {tuple(weights.shape)} "
                         f"and {tuple(values.shape)}")
    return (weights * values).sum(dim=-1)


def classify(weights: torch.Tensor, values: torch.Tensor, margin: float = 0.5) -> torch.Tensor:
    """Predict D1 (1) where ``|<w, v>| > margin``, else D0 (0)."""
    margin = check_real("margin", margin, low=0.0, high=1.0)
    return (readout(weights, values).abs() > margin).long()


def accuracy(weights: torch.Tensor, data: PlantedTokens, margin: float = 0.5) -> float:
    """Fraction of rows of ``data`` that :func:`classify` labels correctly with these attention weights."""
    _check_data(data)
    return (classify(weights, data.values, margin) == data.labels).double().mean().item()


def degree_sweep(data: PlantedTokens, degrees: Sequence[int], margin: float = 0.5) -> list[float]:
    """Accuracy of polynomial attention of each degree in ``degrees`` on ``data``."""
    _check_data(data)
    degrees = _check_degrees(degrees)
    margin = check_real("margin", margin, low=0.0, high=1.0)
    return [accuracy(polynomial_attention(data.scores, degree), data, margin) for degree in degrees]


def predicted_threshold(n: int, large_value: float = 4.0) -> int:
    """The book's predicted threshold: the least degree with ``b^beta > (n - 1) / (beta + 1)``.

    ``(n - 1) / (beta + 1)`` is the expected value of ``sum_j s_j^beta`` over the ``n - 1`` uniform tokens, so
    above this degree the planted token holds more than half of the attention mass.
    """
    n = check_int("n", n, 2, 2**53)
    large_value = check_real("large_value", large_value, low=1.0, low_inclusive=False)
    # b^g >= n - 1 > (n - 1) / (g + 1) at g = ceil(log(n - 1) / log b), and (n - 1) / (g + 1) < 1 < b^g at g = n - 1:
    # the loop stops by the smaller of the two, so refuse at once when that is beyond the cap.
    bound = min(n - 1, math.ceil(math.log(max(n - 1, 1)) / math.log(large_value)) if n > 2 else 1)
    if bound > MAX_THRESHOLD:
        raise ValueError(f"the threshold for n = {n} and large_value = {large_value!r} may lie near degree {bound}, "
                         f"beyond the {MAX_THRESHOLD} this search allows; use a larger large_value or a smaller n")
    degree = 1
    while _power_or_inf(large_value, degree) <= (n - 1) / (degree + 1):
        degree += 1
    return degree


def _power_or_inf(base: float, exponent: int) -> float:
    try:
        return base**exponent
    except OverflowError:  # a Python float power past 1.8e308 raises instead of giving inf
        return math.inf


def empirical_threshold(degrees: Sequence[int], accuracies: Sequence[float], level: float = 0.9) -> int | None:
    """The least degree in ``degrees`` whose accuracy reaches ``level``, or ``None`` if none does."""
    degrees = [check_int("degrees[i]", degree, 0) for degree in degrees]
    accuracies = [check_real("accuracies[i]", value, low=0.0, high=1.0) for value in accuracies]
    if len(degrees) != len(accuracies):
        raise ValueError(f"got {len(degrees)} degrees but {len(accuracies)} accuracies")
    level = check_real("level", level, low=0.0, high=1.0)
    reached = [degree for degree, value in zip(degrees, accuracies) if value >= level]
    return min(reached) if reached else None


def _check_data(data: object) -> None:
    if not isinstance(data, PlantedTokens):
        raise ValueError(f"data must be a PlantedTokens (from planted_tokens), got {type(data).__name__}")


def _check_degrees(degrees: object) -> list[int]:
    if isinstance(degrees, (str, bytes)) or not hasattr(degrees, "__len__"):
        raise ValueError(f"degrees must be a sequence of integers, got {degrees!r}")
    if len(degrees) == 0:
        raise ValueError(f"degrees must not be empty, got {degrees!r}")
    return [check_degree("degrees[i]", degree, 1, MAX_DEGREE) for degree in degrees]
