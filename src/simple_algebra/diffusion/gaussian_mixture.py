"""Gaussian mixtures with isotropic components, and their diffusion under the Ornstein-Uhlenbeck process.

The forward process is ``x_t = a_t x_0 + b_t z`` with ``a_t = exp(-t)``, ``b_t^2 = 1 - exp(-2t)`` and
``z ~ N(0, I)``. If ``x_0 ~ sum_i alpha_i N(mu_i, s_i^2 I)`` then, exactly,

    x_t ~ sum_i alpha_i N(a_t mu_i, (a_t^2 s_i^2 + b_t^2) I),

so the density, the score ``grad log p_t`` and its Jacobian (the Hessian of ``log p_t``) stay in closed form
at every time. The variance-preserving (VP) process ``dx = -beta(t) x / 2 dt + sqrt(beta(t)) dW`` with a linear
``beta`` schedule (:class:`NoiseSchedule`) has the same form with ``a_t = exp(-B(t) / 2)``, ``b_t^2 = 1 - a_t^2``,
``B(t) = int_0^t beta``; the OU process is the constant schedule ``beta = 2``, so both share one code path.
Components are *isotropic* (one variance per component): that covers every mixture the book draws,
keeps the score a few tensor operations, and makes the ``k``-independent smoothness bound simple.

Chapters: "The frontiers of softmax" (Gu, Li, Liang, Shi, Song; arXiv 2405.03251), which learns such a score
with a softmax network, and "Smoothness of Gaussian-mixture diffusions" (Gu, Liang, Shi, Song, Zhou;
arXiv 2405.16418), which bounds its Lipschitz constant and second moment.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..core.validation import (
    check_allocation,
    check_device,
    check_finite_tensor,
    check_float_dtype,
    check_int,
    check_real,
    check_same_kind,
)


def _check_generator(generator: object) -> torch.Generator | None:
    """``None`` (torch's global stream) or a ``torch.Generator`` (a seed is not one: use ``runtime.generator``)."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None (make one with simple_algebra.generator(seed)), "
                         f"got {type(generator).__name__} {generator!r}"[:200])
    return generator


def _check_schedule(schedule: object) -> None:
    if schedule is not None and not isinstance(schedule, NoiseSchedule):
        raise ValueError(f"schedule must be a NoiseSchedule (vp_schedule(), ou_schedule()) or None for OU, got "
                         f"{type(schedule).__name__} {schedule!r}"[:200])


def _finite_result(name: str, value: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Refuse a NaN or inf made from finite input (points so far out, or variances so small, that squares overflow)."""
    total = value.detach().sum()
    if not bool(torch.isfinite(total)) and not bool(torch.isfinite(value.detach()).all()):
        raise ValueError(f"{name} overflowed at x (largest |x| = {float(x.detach().abs().max()):.3g}): the squared "
                         "distances to the means, over the variances, are beyond the dtype's range")
    return value


def ou_coefficients(t: float) -> tuple[float, float]:
    """``(a_t, b_t)`` of the OU forward process: ``a_t = exp(-t)``, ``b_t = sqrt(1 - exp(-2t))``, ``t >= 0``."""
    t = check_real("t", t, 0.0)
    return math.exp(-t), math.sqrt(-math.expm1(-2.0 * t))


def ou_forward(x0: torch.Tensor, t: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Simulate the forward process: ``x_t = a_t x_0 + b_t z`` with fresh ``z ~ N(0, I)``.

    Shapes: ``x0 (n, d)`` -> ``(n, d)``; dtype and device follow ``x0``; the noise comes from ``generator``
    (a CPU generator is fine: the noise is drawn on the CPU and moved).
    """
    check_finite_tensor("x0", x0, ndim=2)
    _check_generator(generator)
    a, b = ou_coefficients(t)
    noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype).to(x0.device)
    return a * x0 + b * noise


@dataclass(frozen=True)
class NoiseSchedule:
    """The forward SDE ``dx = -beta(t) x / 2 dt + sqrt(beta(t)) dW`` with ``beta`` linear in ``t``.

    ``beta(t) = beta_min + (beta_max - beta_min) t / horizon``; the marginal is ``x_t = a_t x_0 + b_t z`` with
    ``a_t = exp(-B(t) / 2)``, ``b_t^2 = 1 - exp(-B(t))``, ``B(t) = int_0^t beta`` (variance preserving). The OU
    process of :func:`ou_coefficients` is ``beta = 2`` (:func:`ou_schedule`); DDPM's usual choice is
    :func:`vp_schedule`. Chapter: Smoothness of Gaussian-mixture diffusions (arXiv 2405.16418).
    """

    beta_min: float
    beta_max: float
    horizon: float = 1.0

    def __post_init__(self) -> None:
        check_real("beta_min", self.beta_min, 0.0, low_inclusive=False)
        check_real("beta_max", self.beta_max, 0.0, low_inclusive=False)
        check_real("horizon", self.horizon, 0.0, low_inclusive=False)

    def beta(self, t: float) -> float:
        """The noise rate ``beta(t)`` (linear, extended past ``horizon``), ``t >= 0``."""
        t = check_real("t", t, 0.0)
        return self._finite("beta(t)", self.beta_min + (self.beta_max - self.beta_min) * t / self.horizon, t)

    def integrated_beta(self, t: float) -> float:
        """``B(t) = beta_min t + (beta_max - beta_min) t^2 / (2 horizon)``."""
        t = check_real("t", t, 0.0)
        return self._finite("B(t)", self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t * t / self.horizon, t)

    @staticmethod
    def _finite(what: str, value: float, t: float) -> float:
        if not math.isfinite(value):
            raise ValueError(f"t is too large for this schedule: {what} overflows, got t = {t}")
        return value

    def coefficients(self, t: float) -> tuple[float, float]:
        """``(a_t, b_t)`` with ``a_t = exp(-B(t) / 2)``, ``b_t = sqrt(1 - exp(-B(t)))`` (``expm1``: exact near 0)."""
        integral = self.integrated_beta(t)
        return math.exp(-0.5 * integral), math.sqrt(-math.expm1(-integral))

    def ou_time(self, t: float) -> float:
        """The OU time with the same marginal: ``B(t) / 2``."""
        return 0.5 * self.integrated_beta(t)


def ou_schedule() -> NoiseSchedule:
    """The OU process ``dx = -x dt + sqrt(2) dW`` as a schedule (``beta = 2``): ``a_t = exp(-t)``."""
    return NoiseSchedule(2.0, 2.0, 1.0)


def vp_schedule(beta_min: float = 0.1, beta_max: float = 20.0, horizon: float = 1.0) -> NoiseSchedule:
    """The VP schedule of DDPM / score SDEs: ``beta`` from ``beta_min`` to ``beta_max`` over ``[0, horizon]``."""
    return NoiseSchedule(beta_min, beta_max, horizon)


def _coefficients(t: float, schedule: NoiseSchedule | None) -> tuple[float, float]:
    _check_schedule(schedule)
    return ou_coefficients(t) if schedule is None else schedule.coefficients(t)


def diffuse(x0: torch.Tensor, t: float, generator: torch.Generator | None = None,
            schedule: NoiseSchedule | None = None) -> torch.Tensor:
    """Simulate ``x_t = a_t x_0 + b_t z`` under ``schedule`` (``None``: OU, as :func:`ou_forward`).

    Shapes: ``x0 (n, d)`` -> ``(n, d)``; dtype and device follow ``x0``; noise from the CPU ``generator``.
    """
    check_finite_tensor("x0", x0, ndim=2)
    _check_generator(generator)
    a, b = _coefficients(t, schedule)
    noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype).to(x0.device)
    return a * x0 + b * noise


@dataclass(frozen=True)
class GaussianMixture:
    """``p(x) = sum_i alpha_i N(x; mu_i, s_i^2 I)`` in ``d`` dimensions (``d = 1`` included).

    ``weights (k,)``: positive, summing to 1. ``means (k, d)``. ``variances (k,)``: the isotropic variances
    ``s_i^2 > 0``. Device and dtype follow ``means``; inputs ``x`` of the methods are ``(n, d)``.
    Build one with :func:`gaussian_mixture`, which validates and normalises.
    Chapters: The frontiers of softmax (arXiv 2405.03251); Smoothness of Gaussian-mixture diffusions
    (arXiv 2405.16418).
    """

    weights: torch.Tensor
    means: torch.Tensor
    variances: torch.Tensor

    def __post_init__(self) -> None:
        check_finite_tensor("means", self.means, ndim=2)
        k = self.means.shape[0]
        for name in ("weights", "variances"):
            value = getattr(self, name)
            check_finite_tensor(name, value, ndim=1)
            if value.shape[0] != k:
                raise ValueError(f"{name} must have one entry per component ({k}), got shape {tuple(value.shape)}")
            if bool((value <= 0).any()):
                raise ValueError(f"{name} must be positive, got smallest {float(value.min())}")
        check_same_kind(means=self.means, weights=self.weights, variances=self.variances)

    @property
    def components(self) -> int:
        """The number of components ``k``."""
        return self.means.shape[0]

    @property
    def dim(self) -> int:
        """The dimension ``d``."""
        return self.means.shape[1]

    def at_time(self, t: float, schedule: NoiseSchedule | None = None) -> GaussianMixture:
        """The law of ``x_t``: means ``a_t mu_i``, variances ``a_t^2 s_i^2 + b_t^2``, the same weights.

        ``schedule``: ``None`` for the OU process (``a_t = exp(-t)``), or a :class:`NoiseSchedule` (VP).
        A ``k``-mixture stays a ``k``-mixture at every time (arXiv 2405.16418).
        """
        a, b = _coefficients(t, schedule)
        return GaussianMixture(self.weights, a * self.means, a * a * self.variances + b * b)

    def score_function(self, schedule: NoiseSchedule | None = None) -> Callable[[torch.Tensor, float], torch.Tensor]:
        """The exact time-dependent score ``(x (n, d), t) -> grad log p_t(x) (n, d)``, for the samplers."""

        def score(x: torch.Tensor, t: float) -> torch.Tensor:
            return self.at_time(t, schedule).score(x)

        return score

    def _check_points(self, x: torch.Tensor) -> torch.Tensor:
        check_finite_tensor("x", x, ndim=2)
        if x.shape[1] != self.dim:
            raise ValueError(f"x must have shape (n, {self.dim}), got {tuple(x.shape)}")
        return x.to(dtype=self.means.dtype, device=self.means.device)

    def _component_log_terms(self, x: torch.Tensor) -> torch.Tensor:
        """``log alpha_i + log N(x; mu_i, s_i^2 I)`` as an ``(n, k)`` tensor."""
        # Explicit differences rather than cdist: cdist has no double backward, and tests take Hessians.
        squared = ((x[:, None, :] - self.means[None]) ** 2).sum(dim=2)
        log_normal = -0.5 * squared / self.variances - 0.5 * self.dim * torch.log(2 * math.pi * self.variances)
        return torch.log(self.weights) + log_normal

    def responsibilities(self, x: torch.Tensor) -> torch.Tensor:
        """Posterior component probabilities ``w_i(x) = softmax_i(log alpha_i + log N_i(x))``: ``(n, k)``."""
        x = self._check_points(x)
        return _finite_result("responsibilities", torch.softmax(self._component_log_terms(x), dim=1), x)

    def log_density(self, x: torch.Tensor) -> torch.Tensor:
        """``log p(x) = logsumexp_i(log alpha_i + log N_i(x))``: ``(n, d) -> (n,)``, stable far from the means."""
        x = self._check_points(x)
        return _finite_result("log_density", torch.logsumexp(self._component_log_terms(x), dim=1), x)

    def _component_scores(self, x: torch.Tensor) -> torch.Tensor:
        """Each component's score ``-(x - mu_i) / s_i^2``: ``(n, k, d)``."""
        return -(x[:, None, :] - self.means[None]) / self.variances[None, :, None]

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """The score ``grad log p(x) = -sum_i w_i(x) (x - mu_i) / s_i^2``: ``(n, d) -> (n, d)``."""
        x = self._check_points(x)
        w = torch.softmax(self._component_log_terms(x), dim=1)
        return _finite_result("score", torch.einsum("nk,nkd->nd", w, self._component_scores(x)), x)

    def score_jacobian(self, x: torch.Tensor) -> torch.Tensor:
        """The Hessian of ``log p``: ``-sum_i w_i / s_i^2 I + Cov_w[component scores]``, ``(n, d) -> (n, d, d)``.

        Its operator norm is the local Lipschitz constant of the score.
        """
        x = self._check_points(x)
        w = torch.softmax(self._component_log_terms(x), dim=1)
        scores = self._component_scores(x)
        mean = torch.einsum("nk,nkd->nd", w, scores)
        second = torch.einsum("nk,nkd,nke->nde", w, scores, scores)
        curvature = (w / self.variances).sum(dim=1)
        identity = torch.eye(self.dim, dtype=x.dtype, device=x.device)
        hessian = second - mean[:, :, None] * mean[:, None, :] - curvature[:, None, None] * identity
        return _finite_result("score_jacobian", hessian, x)

    def hessian_bound(self) -> float:
        """The ``k``-independent bound ``||Hess log p|| <= 1/s^2 + D^2 / (4 s^4)`` for a shared variance ``s^2``.

        ``D`` is the largest distance between two means. The bound follows from ``Cov_w`` of points spread over
        a set of diameter ``D / s^2`` (Jung / Popoviciu: variance at most ``diameter^2 / 4``). Raises
        ``ValueError`` when the components do not share one variance.
        """
        variance = self.variances[0]
        if not torch.allclose(self.variances, variance.expand_as(self.variances)):
            raise ValueError("hessian_bound needs one variance shared by all components")
        diameter = float(torch.cdist(self.means, self.means).max()) if self.components > 1 else 0.0
        return float(1.0 / variance + diameter**2 / (4.0 * variance**2))

    def lipschitz_bound(self) -> float:
        """The sharp ``k``-independent bound ``||Hess log p|| <= max(1/s^2, D^2 / (4 s^4) - 1/s^2)`` (shared ``s^2``).

        The Hessian is ``-I / s^2 + C`` with ``0 <= C <= D^2 / (4 s^4) I`` (the covariance of the component scores,
        which differ only by ``mu_i / s^2``), so its eigenvalues lie in ``[-1/s^2, D^2 / (4 s^4) - 1/s^2]``.
        Two equally weighted components attain it at their midpoint. At most :meth:`hessian_bound`; raises
        ``ValueError`` without a shared variance. Chapter: Smoothness of Gaussian-mixture diffusions (arXiv 2405.16418).
        """
        loose = self.hessian_bound()
        inverse = float(1.0 / self.variances[0])
        return max(inverse, loose - 2.0 * inverse)

    def mean(self) -> torch.Tensor:
        """The mixture mean ``sum_i alpha_i mu_i``: ``(d,)``."""
        return self.weights @ self.means

    def second_moment(self) -> float:
        """``E ||x||^2 = sum_i alpha_i (||mu_i||^2 + d s_i^2)``."""
        return float(self.weights @ ((self.means**2).sum(dim=1) + self.dim * self.variances))

    def second_moment_bound(self) -> float:
        """A ``k``-free bound ``E ||x||^2 <= max_i (||mu_i||^2 + d s_i^2)`` (a weighted mean is at most its max).

        Along the diffusion the exact value is ``a_t^2 E ||x_0||^2 + d b_t^2``: ``at_time(t).second_moment()``.
        """
        return float(((self.means**2).sum(dim=1) + self.dim * self.variances).max())

    def sample(self, n: int, generator: torch.Generator | None = None,
               return_components: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """``n`` independent draws ``(n, d)`` (and their component labels ``(n,)`` if asked).

        Randomness comes from ``generator`` (CPU); the draws are moved to the mixture's device.
        """
        n = check_int("n", n, 1)
        _check_generator(generator)
        check_allocation(f"n x d draws for n = {n}, d = {self.dim}", (n, self.dim), self.means.dtype, self.means.device)
        labels = torch.multinomial(self.weights.detach().cpu().double(), n, replacement=True, generator=generator)
        noise = torch.randn((n, self.dim), generator=generator, dtype=self.means.dtype).to(self.means.device)
        labels = labels.to(self.means.device)
        points = self.means[labels] + self.variances[labels].sqrt()[:, None] * noise
        return (points, labels) if return_components else points


def _positive_per_component(name: str, value: torch.Tensor | list[float] | float, k: int,
                            dtype: torch.dtype) -> torch.Tensor:
    """``value`` as a length-``k`` tensor of positive numbers (one number is shared by all components)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = torch.full((k,), float(value), dtype=dtype)
    value = value if isinstance(value, torch.Tensor) else _as_tensor(name, value, dtype, None)
    check_finite_tensor(name, value, ndim=1)
    if value.shape[0] != k:
        raise ValueError(f"{name} must have one entry per component ({k}), got {value.shape[0]}")
    if (value <= 0).any():
        raise ValueError(f"{name} must be positive, got smallest {float(value.min())}")
    return value


def _as_tensor(name: str, value: object, dtype: torch.dtype, device: torch.device | None) -> torch.Tensor:
    try:
        return torch.tensor(value, dtype=dtype, device=device)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"{name} must be a tensor or a (nested) list of numbers, got {str(value)[:60]} "
                         f"({error})") from error


def gaussian_mixture(weights: torch.Tensor | list[float], means: torch.Tensor | list,
                     variances: torch.Tensor | list[float] | float, dtype: torch.dtype = torch.float64,
                     device: torch.device | str | None = None) -> GaussianMixture:
    """A validated :class:`GaussianMixture`; ``weights`` are normalised to sum to 1.

    ``means`` is ``(k, d)``, or ``(k,)`` for a 1-D mixture; ``variances`` is ``(k,)`` or one number shared by
    all components. Tensors keep their dtype/device when given as floating tensors; lists use ``dtype``/``device``.
    """
    dtype = check_float_dtype("dtype", dtype)
    device = check_device("device", device) if device is not None else None
    means = means if isinstance(means, torch.Tensor) else _as_tensor("means", means, dtype, device)
    if means.ndim == 1:
        means = means[:, None]
    check_finite_tensor("means", means, ndim=2)
    k = means.shape[0]
    weights = _positive_per_component("weights", weights, k, means.dtype)
    variances = _positive_per_component("variances", variances, k, means.dtype)
    weights = weights.to(dtype=means.dtype, device=means.device)
    if not math.isfinite(float(weights.sum())):
        raise ValueError(f"weights must have a finite sum (they are normalised by it), got {float(weights.sum())}")
    return GaussianMixture(weights / weights.sum(), means, variances.to(dtype=means.dtype, device=means.device))


def ring_mixture(components: int, radius: float = 2.0, std: float = 0.3, dtype: torch.dtype = torch.float64,
                 device: torch.device | str | None = None) -> GaussianMixture:
    """``k`` equally weighted 2-D components with means evenly spaced on a circle and a shared ``std``."""
    components = check_int("components", components, 1)
    radius = check_real("radius", radius, 0.0)
    std = check_real("std", std, 0.0, low_inclusive=False)
    dtype = check_float_dtype("dtype", dtype)
    device = check_device("device", device) if device is not None else None
    check_allocation(f"the means of components = {components}", (components, 2), dtype, device)
    angles = 2 * math.pi * torch.arange(components, dtype=dtype) / components
    means = radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    return gaussian_mixture(torch.ones(components, dtype=dtype), means.to(device), std**2)


def random_mixture(components: int, diameter: float = 4.0, std: float = 0.3, dim: int = 2,
                   generator: torch.Generator | None = None, dtype: torch.dtype = torch.float64,
                   device: torch.device | str | None = None) -> GaussianMixture:
    """``k >= 2`` components with random means of diameter exactly ``diameter`` and random weights.

    Two means sit at ``+-diameter/2`` along a random direction, the others uniformly in the ball of radius
    ``diameter / 2`` (so no pair is farther apart); weights are normalised ``Exp(1)`` draws. An asymmetric test case
    for the ``k``-free bound, which depends on the means only through their diameter. Chapter: Smoothness of
    Gaussian-mixture diffusions (arXiv 2405.16418).
    """
    components, dim = check_int("components", components, 2), check_int("dim", dim, 1)
    diameter = check_real("diameter", diameter, 0.0, low_inclusive=False)
    std = check_real("std", std, 0.0, low_inclusive=False)
    _check_generator(generator)
    dtype = check_float_dtype("dtype", dtype)
    check_allocation(f"the means of components = {components}", (components, dim), dtype, None)
    directions = torch.randn(components, dim, generator=generator, dtype=dtype)
    directions = directions / directions.norm(dim=1, keepdim=True).clamp_min(1e-300)
    radii = torch.rand(components, generator=generator, dtype=dtype) ** (1.0 / dim)
    means = 0.5 * diameter * radii[:, None] * directions
    means[1] = -0.5 * diameter * directions[0]
    means[0] = 0.5 * diameter * directions[0]
    weights = -torch.rand(components, generator=generator, dtype=dtype).clamp_min(1e-300).log()
    means = means.to(check_device("device", device)) if device is not None else means
    return gaussian_mixture(weights, means, std**2)
