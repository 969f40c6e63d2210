"""Polynomial attention and the planted-token separation experiment.

Chapter "The expressibility of polynomial attention" (Part II), after Song, Xu and Yin, *The Expressibility of
Polynomial based Attention Scheme*, arXiv 2310.20051.

Polynomial attention of degree ``beta`` normalises ``|s|^beta`` over the keys instead of ``exp(s)``:

    w_i = |s_i|^beta / sum_j |s_j|^beta.

The planted-token data sets D0/D1 and the readout rule are the book's own reconstruction (the paper's exact
data sets were not available); see the chapter's Reconstruction note.
"""

from __future__ import annotations

import functools
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
MAX_INVERSE_TEMPERATURE = 1e3
BERRY_ESSEEN = 0.4748  # Shevtsova (2011): sup |F_k - Phi| <= 0.4748 rho / (sigma^3 sqrt k) for k i.i.d. terms
_QUADRATURE = 1 << 14  # midpoints on (0, 1) for the moments of the CLT prediction


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


def softmax_attention(scores: torch.Tensor, inverse_temperature: float = 1.0) -> torch.Tensor:
    """Softmax attention weights ``exp(theta s_i) / sum_j exp(theta s_j)`` over the last axis (max-subtracted).

    ``theta = inverse_temperature`` (default 1, plain softmax) is softmax's sharpness knob, the counterpart of the
    polynomial degree: ``|s|^beta = exp(beta log|s|)``.
    """
    scores = check_finite_tensor("scores", scores)
    theta = check_real("inverse_temperature", inverse_temperature, low=0.0, high=MAX_INVERSE_TEMPERATURE,
                       low_inclusive=False)
    return torch.softmax(theta * scores, dim=-1)


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


def temperature_sweep(data: PlantedTokens, inverse_temperatures: Sequence[float], margin: float = 0.5) -> list[float]:
    """Accuracy of softmax attention at each inverse temperature in ``inverse_temperatures`` on ``data``."""
    _check_data(data)
    thetas = _check_thetas(inverse_temperatures)
    margin = check_real("margin", margin, low=0.0, high=1.0)
    return [accuracy(softmax_attention(data.scores, theta), data, margin) for theta in thetas]


def tuned_inverse_temperature(data: PlantedTokens, inverse_temperatures: Sequence[float],
                              margin: float = 0.5) -> float:
    """The inverse temperature of ``inverse_temperatures`` with the best softmax accuracy on ``data`` (the
    smallest among ties). Tune on one draw and report the accuracy on another, so the baseline is not fitted to
    its test data."""
    thetas = _check_thetas(inverse_temperatures)
    found = temperature_sweep(data, thetas, margin)
    return max(zip(found, thetas), key=lambda pair: (pair[0], -pair[1]))[1]


@dataclass(frozen=True)
class AccuracyPrediction:
    """The central-limit prediction of an accuracy and the Berry-Esseen bound on its error (both in [0, 1])."""

    accuracy: float
    error_bound: float


def predicted_accuracy(n: int, degree: int, large_value: float = 4.0, margin: float = 0.5) -> AccuracyPrediction:
    """The accuracy that polynomial attention of degree ``degree`` should reach on n-token planted data.

    With ``f = s^beta`` the readout labels a row D1 when ``|sum v_j f_j| > margin sum f_j``. Each way of being
    right or wrong is one event ``Z_k < x`` for ``Z_k = sum_{j <= k} (margin - v_j) f(s_j)``, a sum of ``k``
    i.i.d. terms: D0 is right unless ``Z_n < 0`` (or its mirror), D1 is right when ``Z_{n-1} < (1 - margin) b^beta``
    or ``Z_{n-1} < -(1 + margin) b^beta``. The prediction replaces the law of ``Z_k`` by the normal law with the
    same mean and variance (moments of ``f`` by quadrature); ``error_bound`` is the Berry-Esseen bound on that
    replacement, ``0.4748 rho / (sigma^3 sqrt k)`` per event, summed with the events' weights. It sharpens
    :func:`predicted_threshold`, which compares ``b^beta`` with the mean mass only. The book's construction
    (chapter "The expressibility of polynomial attention"; Song, Xu and Yin, arXiv 2310.20051).
    """
    n = check_int("n", n, 2, 1 << 40)
    degree = check_degree("degree", degree, 1, MAX_DEGREE)
    large_value = check_real("large_value", large_value, low=1.0, low_inclusive=False)
    margin = check_real("margin", margin, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    return _clt_accuracy(n, _power_or_inf(large_value, degree), _moments("polynomial", degree, margin), margin)


def predicted_softmax_accuracy(n: int, inverse_temperature: float, large_value: float = 4.0,
                               margin: float = 0.5) -> AccuracyPrediction:
    """:func:`predicted_accuracy` for softmax attention at inverse temperature ``theta``: ``f = exp(theta s)``.

    The readout's events are homogeneous in ``(b, f)``, so ``f`` is taken as ``exp(theta (s - 1)) <= 1`` and the
    planted weight as ``exp(theta (b - 1))``, which keeps every number finite.
    """
    n = check_int("n", n, 2, 1 << 40)
    theta = check_real("inverse_temperature", inverse_temperature, low=0.0, high=MAX_INVERSE_TEMPERATURE,
                       low_inclusive=False)
    large_value = check_real("large_value", large_value, low=1.0, low_inclusive=False)
    margin = check_real("margin", margin, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    exponent = theta * (large_value - 1)
    planted = math.exp(exponent) if exponent < 700 else math.inf
    return _clt_accuracy(n, planted, _moments("softmax", theta, margin), margin)


@functools.lru_cache(maxsize=1024)
def _moments(kind: str, parameter: float, margin: float) -> tuple[float, float, float]:
    """Mean, standard deviation and third absolute central moment of ``(margin - v) f(s)``, ``v = +-1``,
    ``s ~ U(0, 1)``, by the midpoint rule; ``f = s^parameter`` or ``exp(parameter (s - 1))``."""
    midpoints = (torch.arange(_QUADRATURE, dtype=torch.float64) + 0.5) / _QUADRATURE
    f = midpoints**parameter if kind == "polynomial" else torch.exp(parameter * (midpoints - 1))
    mean = margin * float(f.mean())  # E[(margin - v) f] with v = +-1 equally likely
    sd = math.sqrt((margin**2 + 1) * float((f * f).mean()) - mean**2)
    rho = float(0.5 * ((((margin - 1) * f - mean).abs() ** 3).mean() + (((margin + 1) * f - mean).abs() ** 3).mean()))
    return mean, sd, rho


def _clt_accuracy(n: int, planted: float, moments: tuple[float, float, float], margin: float) -> AccuracyPrediction:
    """Normal approximation of the accuracy from the moments of one term (see predicted_accuracy)."""
    mean, sd, rho = moments

    def cdf(k: int, x: float) -> float:
        return 0.5 * (1 + math.erf((x - k * mean) / (sd * math.sqrt(2 * k))))

    def bound(k: int) -> float:
        return BERRY_ESSEEN * rho / (sd**3 * math.sqrt(k))

    d0 = 1 - 2 * cdf(n, 0.0)
    d1 = cdf(n - 1, (1 - margin) * planted) + cdf(n - 1, -(1 + margin) * planted)
    value = min(max(0.5 * (d0 + d1), 0.0), 1.0)
    return AccuracyPrediction(value, min(bound(n) + bound(n - 1), 1.0))


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


def _check_thetas(thetas: object) -> list[float]:
    if isinstance(thetas, (str, bytes)) or not hasattr(thetas, "__len__"):
        raise ValueError(f"inverse_temperatures must be a sequence of positive numbers, got {thetas!r}")
    if len(thetas) == 0:
        raise ValueError(f"inverse_temperatures must not be empty, got {thetas!r}")
    return [check_real("inverse_temperatures[i]", theta, low=0.0, high=MAX_INVERSE_TEMPERATURE, low_inclusive=False)
            for theta in thetas]
