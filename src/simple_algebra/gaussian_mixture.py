"""Gaussian mixtures with isotropic components, and their diffusion under the Ornstein-Uhlenbeck process.

The forward process is ``x_t = a_t x_0 + b_t z`` with ``a_t = exp(-t)``, ``b_t^2 = 1 - exp(-2t)`` and
``z ~ N(0, I)``. If ``x_0 ~ sum_i alpha_i N(mu_i, s_i^2 I)`` then, exactly,

    x_t ~ sum_i alpha_i N(a_t mu_i, (a_t^2 s_i^2 + b_t^2) I),

so the density, the score ``grad log p_t`` and its Jacobian (the Hessian of ``log p_t``) stay in closed form
at every time. Components are *isotropic* (one variance per component): that covers every mixture the book
draws, keeps the score a few tensor operations, and makes the ``k``-independent smoothness bound simple.

Chapters: "The frontiers of softmax" (Gu, Li, Liang, Shi, Song; arXiv 2405.03251), which learns such a score
with a softmax network, and "Smoothness of Gaussian-mixture diffusions" (Gu, Liang, Shi, Song, Zhou;
arXiv 2405.16418), which bounds its Lipschitz constant and second moment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .validation import check_finite_tensor, check_int, check_real


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
    a, b = ou_coefficients(t)
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

    @property
    def components(self) -> int:
        """The number of components ``k``."""
        return self.means.shape[0]

    @property
    def dim(self) -> int:
        """The dimension ``d``."""
        return self.means.shape[1]

    def at_time(self, t: float) -> GaussianMixture:
        """The law of ``x_t`` under the OU forward process: means ``a_t mu_i``, variances ``a_t^2 s_i^2 + b_t^2``."""
        a, b = ou_coefficients(t)
        return GaussianMixture(self.weights, a * self.means, a * a * self.variances + b * b)

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
        return torch.softmax(self._component_log_terms(self._check_points(x)), dim=1)

    def log_density(self, x: torch.Tensor) -> torch.Tensor:
        """``log p(x) = logsumexp_i(log alpha_i + log N_i(x))``: ``(n, d) -> (n,)``, stable far from the means."""
        return torch.logsumexp(self._component_log_terms(self._check_points(x)), dim=1)

    def _component_scores(self, x: torch.Tensor) -> torch.Tensor:
        """Each component's score ``-(x - mu_i) / s_i^2``: ``(n, k, d)``."""
        return -(x[:, None, :] - self.means[None]) / self.variances[None, :, None]

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """The score ``grad log p(x) = -sum_i w_i(x) (x - mu_i) / s_i^2``: ``(n, d) -> (n, d)``."""
        x = self._check_points(x)
        w = torch.softmax(self._component_log_terms(x), dim=1)
        return torch.einsum("nk,nkd->nd", w, self._component_scores(x))

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
        return second - mean[:, :, None] * mean[:, None, :] - curvature[:, None, None] * identity

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

    def mean(self) -> torch.Tensor:
        """The mixture mean ``sum_i alpha_i mu_i``: ``(d,)``."""
        return self.weights @ self.means

    def second_moment(self) -> float:
        """``E ||x||^2 = sum_i alpha_i (||mu_i||^2 + d s_i^2)``."""
        return float(self.weights @ ((self.means**2).sum(dim=1) + self.dim * self.variances))

    def sample(self, n: int, generator: torch.Generator | None = None,
               return_components: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """``n`` independent draws ``(n, d)`` (and their component labels ``(n,)`` if asked).

        Randomness comes from ``generator`` (CPU); the draws are moved to the mixture's device.
        """
        n = check_int("n", n, 1)
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
    value = value if isinstance(value, torch.Tensor) else torch.tensor(value, dtype=dtype)
    check_finite_tensor(name, value, ndim=1)
    if value.shape[0] != k:
        raise ValueError(f"{name} must have one entry per component ({k}), got {value.shape[0]}")
    if (value <= 0).any():
        raise ValueError(f"{name} must be positive")
    return value


def gaussian_mixture(weights: torch.Tensor | list[float], means: torch.Tensor | list,
                     variances: torch.Tensor | list[float] | float, dtype: torch.dtype = torch.float64,
                     device: torch.device | str | None = None) -> GaussianMixture:
    """A validated :class:`GaussianMixture`; ``weights`` are normalised to sum to 1.

    ``means`` is ``(k, d)``, or ``(k,)`` for a 1-D mixture; ``variances`` is ``(k,)`` or one number shared by
    all components. Tensors keep their dtype/device when given as floating tensors; lists use ``dtype``/``device``.
    """
    means = means if isinstance(means, torch.Tensor) else torch.tensor(means, dtype=dtype, device=device)
    if means.ndim == 1:
        means = means[:, None]
    check_finite_tensor("means", means, ndim=2)
    k = means.shape[0]
    weights = _positive_per_component("weights", weights, k, means.dtype)
    variances = _positive_per_component("variances", variances, k, means.dtype)
    weights = weights.to(dtype=means.dtype, device=means.device)
    return GaussianMixture(weights / weights.sum(), means, variances.to(dtype=means.dtype, device=means.device))


def ring_mixture(components: int, radius: float = 2.0, std: float = 0.3, dtype: torch.dtype = torch.float64,
                 device: torch.device | str | None = None) -> GaussianMixture:
    """``k`` equally weighted 2-D components with means evenly spaced on a circle and a shared ``std``."""
    components = check_int("components", components, 1)
    radius = check_real("radius", radius, 0.0)
    std = check_real("std", std, 0.0, low_inclusive=False)
    angles = 2 * math.pi * torch.arange(components, dtype=dtype) / components
    means = radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    return gaussian_mixture(torch.ones(components, dtype=dtype), means.to(device), std**2)
