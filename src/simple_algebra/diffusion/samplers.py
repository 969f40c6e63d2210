"""Sampling a diffusion model from a score, and measuring how far the samples are from the target.

Chapter: "Smoothness of Gaussian-mixture diffusions" (Gu, Liang, Shi, Song, Zhou; "Unraveling the Smoothness
Properties of Diffusion Models: A Gaussian Mixture Perspective", arXiv 2405.16418).

The forward process is ``dx = -beta(t) x / 2 dt + sqrt(beta(t)) dW`` (:class:`~simple_algebra.diffusion.gaussian_mixture.
NoiseSchedule`; ``None`` means OU, ``beta = 2``). Given any score ``score(x, t) ~ grad log p_t(x)`` -- the exact
mixture score, the exact score plus an error, or a learned network -- two samplers run time backwards from
``horizon`` to ``delta > 0`` (stopping early: the score's Lipschitz constant grows like ``1 / t`` near ``t = 0``):

- DDPM as the reverse SDE ``dx = [beta x / 2 + beta s(x, t)] dt' + sqrt(beta) dW'`` (``t' = -t``), Euler-Maruyama;
- the probability-flow ODE ``dx/dt' = beta x / 2 + beta s(x, t) / 2``, Euler.

Two sample-based distances compare the output with the target: the sliced Wasserstein distance (exact 1-D optimal
transport along random directions) and the maximum mean discrepancy with a Gaussian kernel. Both stay meaningful
beyond two dimensions, where densities (and so TV or KL) are out of reach.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..core.runtime import generator as make_generator
from ..core.validation import (
    check_allocation,
    check_choice,
    check_device,
    check_finite_tensor,
    check_float_dtype,
    check_int,
    check_real,
    check_same_kind,
    check_seed,
    check_shape,
    check_steps,
)
from .gaussian_mixture import GaussianMixture, NoiseSchedule, _check_generator, _check_schedule, ou_schedule

ScoreFunction = Callable[[torch.Tensor, float], torch.Tensor]
SPACINGS = ("geometric", "uniform")
REFERENCE_WORK = 10**7  # the pure-Python references do at most this many elementary terms (a few seconds)


def _check_reference_work(what: str, work: int) -> None:
    """The float64 references loop in Python: refuse inputs that would keep them busy for minutes."""
    if work > REFERENCE_WORK:
        raise ValueError(f"{what} = {work} is more than the reference's {REFERENCE_WORK} terms (it loops in "
                         "Python: use the fast function for large inputs)")


def time_grid(horizon: float, delta: float, steps: int, spacing: str = "geometric") -> list[float]:
    """``steps + 1`` decreasing times from ``horizon`` to ``delta``: uniform, or geometric (``t_j / t_{j+1}`` fixed).

    Geometric steps are proportional to ``t``, i.e. small where the score is stiff (Lipschitz constant about
    ``1 / sigma_t^2``), which keeps explicit steps stable near ``delta``.
    """
    horizon = check_real("horizon", horizon, 0.0, low_inclusive=False)
    delta = check_real("delta", delta, 0.0, low_inclusive=False)
    steps = check_steps("steps", steps)
    if delta >= horizon:
        raise ValueError(f"delta must be smaller than horizon, got delta={delta} and horizon={horizon}")
    spacing = check_choice("spacing", spacing, SPACINGS)
    if spacing == "uniform":
        return [horizon + (delta - horizon) * j / steps for j in range(steps + 1)]
    ratio = math.log(delta / horizon)
    return [horizon * math.exp(ratio * j / steps) for j in range(steps + 1)]


def _check_sampler(score: ScoreFunction, x_start: torch.Tensor, schedule: object = None,
                   generator: object = None) -> None:
    if not callable(score):
        raise ValueError(f"score must be a function score(x, t), got {type(score).__name__}")
    check_finite_tensor("x_start", x_start, ndim=2)
    _check_schedule(schedule)
    _check_generator(generator)


def _checked_score(score: ScoreFunction, x: torch.Tensor, t: float) -> torch.Tensor:
    value = score(x, t)
    if not isinstance(value, torch.Tensor) or value.shape != x.shape:
        raise ValueError(f"score(x, t) must return a tensor of shape {tuple(x.shape)}, got "
                         f"{tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__}")
    if not value.is_floating_point():
        raise ValueError(f"score(x, t) must return a real floating tensor, got dtype {value.dtype}")
    if not torch.isfinite(value).all():
        raise ValueError(f"score(x, t) returned non-finite values at t={t:.4g} (is the step size too large?)")
    return value


def ddpm_sample(score: ScoreFunction, x_start: torch.Tensor, steps: int, horizon: float = 5.0, delta: float = 1e-3,
                schedule: NoiseSchedule | None = None, generator: torch.Generator | None = None,
                spacing: str = "geometric") -> torch.Tensor:
    """DDPM sampling: the reverse SDE from ``x_start ~ N(0, I)`` at ``horizon`` down to ``delta``, Euler-Maruyama.

    Each step of length ``h`` from ``t`` does ``x += h beta(t) (x / 2 + s(x, t)) + sqrt(h beta(t)) z``.
    Shapes: ``x_start (n, d)`` -> ``(n, d)``; dtype/device follow ``x_start``; noise from the CPU ``generator``.
    Chapter: Smoothness of Gaussian-mixture diffusions (arXiv 2405.16418).
    """
    _check_sampler(score, x_start, schedule, generator)
    schedule = ou_schedule() if schedule is None else schedule

    def step(x: torch.Tensor, h: float, beta: float, s: torch.Tensor) -> torch.Tensor:
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        return x + h * beta * (0.5 * x + s) + math.sqrt(h * beta) * noise

    return _reverse(score, x_start, time_grid(horizon, delta, steps, spacing), schedule, step)


def probability_flow_sample(score: ScoreFunction, x_start: torch.Tensor, steps: int, horizon: float = 5.0,
                            delta: float = 1e-3, schedule: NoiseSchedule | None = None,
                            spacing: str = "geometric") -> torch.Tensor:
    """Probability-flow ODE sampling from ``x_start`` at ``horizon`` down to ``delta``, Euler steps.

    Each step of length ``h`` from ``t`` does ``x += h beta(t) (x + s(x, t)) / 2`` (deterministic: the flow moves
    ``p_horizon`` onto ``p_delta`` exactly when the score is exact and the steps are small).
    Shapes: ``x_start (n, d)`` -> ``(n, d)``. Chapter: Smoothness of Gaussian-mixture diffusions (arXiv 2405.16418).
    """
    _check_sampler(score, x_start, schedule)
    schedule = ou_schedule() if schedule is None else schedule

    def step(x: torch.Tensor, h: float, beta: float, s: torch.Tensor) -> torch.Tensor:
        return x + 0.5 * h * beta * (x + s)

    return _reverse(score, x_start, time_grid(horizon, delta, steps, spacing), schedule, step)


def _reverse(score: ScoreFunction, x: torch.Tensor, times: list[float], schedule: NoiseSchedule,
             step: Callable[[torch.Tensor, float, float, torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Walk the grid ``times`` backwards: ``x <- step(x, h, beta(t), score(x, t))`` with ``h = t - t_next``."""
    for t, t_next in zip(times, times[1:]):
        x = step(x, t - t_next, schedule.beta(t), _checked_score(score, x, t))
    return x


def gaussian_flow_reference(x_start: torch.Tensor, mean: torch.Tensor, variance: float, horizon: float,
                            delta: float, schedule: NoiseSchedule | None = None) -> torch.Tensor:
    """The exact probability-flow map for a Gaussian target ``N(mean, variance I)`` (float64 reference).

    Along the flow ``(x_t - a_t m) / sigma_t`` is constant, ``sigma_t^2 = a_t^2 variance + b_t^2``, so
    ``x_delta = a_delta m + sigma_delta / sigma_horizon (x_horizon - a_horizon m)``. Shapes ``(n, d)`` -> ``(n, d)``.
    """
    check_finite_tensor("x_start", x_start, ndim=2)
    check_shape("mean", mean, (x_start.shape[1],))
    variance = check_real("variance", variance, 0.0, low_inclusive=False)
    time_grid(horizon, delta, 1)  # the same times as the samplers: 0 < delta < horizon
    _check_schedule(schedule)
    schedule = ou_schedule() if schedule is None else schedule
    a_end, b_end = schedule.coefficients(delta)
    a_start, b_start = schedule.coefficients(horizon)
    sigma_end = math.sqrt(a_end**2 * variance + b_end**2)
    sigma_start = math.sqrt(a_start**2 * variance + b_start**2)
    x, mean = x_start.double(), mean.double().to(x_start.device)
    return a_end * mean + sigma_end / sigma_start * (x - a_start * mean)


def perturbed_score(score: ScoreFunction, eps0: float, dim: int, seed: int = 0, features: int = 64,
                    frequency: float = 1.0) -> ScoreFunction:
    """``score + eps0 e``: the score with a fixed smooth error field ``e`` of root-mean-square size about 1.

    ``e(x) = sqrt(2 / F) cos(x W^T + c) V`` with ``W ~ N(0, frequency^2)``, ``c ~ U[0, 2 pi]``, ``V ~ N(0, 1/d)``
    (``F = features`` random Fourier features, drawn from ``seed``), so ``E ||e||^2 = 1`` over the draw: a model of
    a learned score with ``L2`` error ``eps0`` at every time, the assumption of the solver guarantees.
    """
    if not callable(score):
        raise ValueError(f"score must be a function score(x, t), got {type(score).__name__}")
    eps0 = check_real("eps0", eps0, 0.0)
    dim = check_int("dim", dim, 1)
    features = check_int("features", features, 1)
    frequency = check_real("frequency", frequency, 0.0, low_inclusive=False)
    seed = check_seed("seed", seed)
    check_allocation(f"features x dim random Fourier weights for features = {features}, dim = {dim}",
                     (features, dim), torch.float64)
    draw = make_generator(seed)
    weights = frequency * torch.randn(features, dim, generator=draw, dtype=torch.float64)
    phases = 2 * math.pi * torch.rand(features, generator=draw, dtype=torch.float64)
    values = torch.randn(features, dim, generator=draw, dtype=torch.float64) / math.sqrt(dim)

    def noisy(x: torch.Tensor, t: float) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != dim:
            raise ValueError(f"x must have shape (n, {dim}) (the dim of the error field), got "
                             f"{tuple(getattr(x, 'shape', ())) if isinstance(x, torch.Tensor) else type(x).__name__}")
        w, c, v = (tensor.to(dtype=x.dtype, device=x.device) for tensor in (weights, phases, values))
        return score(x, t) + eps0 * math.sqrt(2.0 / features) * torch.cos(x @ w.T + c) @ v

    return noisy


def _check_pair(x: torch.Tensor, y: torch.Tensor, same_size: bool) -> None:
    check_finite_tensor("x", x, ndim=2)
    check_finite_tensor("y", y, ndim=2)
    check_same_kind(x=x, y=y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same dimension, got {x.shape[1]} and {y.shape[1]}")
    if same_size and x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must have the same number of samples, got {x.shape[0]} and {y.shape[0]}")


def random_directions(count: int, dim: int, seed: int = 0, dtype: torch.dtype = torch.float64,
                      device: torch.device | str | None = None) -> torch.Tensor:
    """``count`` directions uniform on the unit sphere in ``R^dim``: ``(count, dim)``, drawn from ``seed``."""
    count, dim = check_int("count", count, 1), check_int("dim", dim, 1)
    seed = check_seed("seed", seed)
    dtype = check_float_dtype("dtype", dtype)
    device = check_device("device", device) if device is not None else None
    check_allocation(f"count x dim directions for count = {count}, dim = {dim}", (count, dim), torch.float64)
    directions = torch.randn(count, dim, generator=make_generator(seed), dtype=torch.float64)
    return (directions / directions.norm(dim=1, keepdim=True)).to(dtype=dtype, device=device)


def sliced_wasserstein(x: torch.Tensor, y: torch.Tensor, projections: int = 256, seed: int = 0) -> float:
    """The sliced 2-Wasserstein distance ``sqrt(E_theta W_2^2(theta^T x, theta^T y))`` of two sample sets.

    In 1-D, optimal transport between two sets of ``n`` points matches them in sorted order, so each projection
    costs a sort. ``x, y (n, d)`` with the same ``n``; ``projections`` directions from ``seed`` (same seed, same
    directions). Chapter: Smoothness of Gaussian-mixture diffusions (arXiv 2405.16418).
    """
    _check_pair(x, y, same_size=True)
    projections = check_int("projections", projections, 1)
    check_allocation(f"n x projections sorted projections for n = {x.shape[0]}, projections = {projections}",
                     (2 * x.shape[0], projections), x.dtype, x.device)
    directions = random_directions(projections, x.shape[1], seed, dtype=x.dtype, device=x.device)
    x_sorted = torch.sort(x @ directions.T, dim=0).values
    y_sorted = torch.sort(y.to(x.dtype) @ directions.T, dim=0).values
    return float(((x_sorted - y_sorted) ** 2).mean().sqrt())


def sliced_wasserstein_reference(x: torch.Tensor, y: torch.Tensor, projections: int = 256, seed: int = 0) -> float:
    """Float64 reference of :func:`sliced_wasserstein`: each 1-D transport solved as an assignment problem (SciPy)."""
    from scipy.optimize import linear_sum_assignment

    _check_pair(x, y, same_size=True)
    projections = check_int("projections", projections, 1)
    _check_reference_work("projections x n^2 (n the number of samples)", projections * x.shape[0] ** 2)
    directions = random_directions(projections, x.shape[1], seed)
    total = 0.0
    for theta in directions:
        u, v = (x.double().cpu() @ theta).tolist(), (y.double().cpu() @ theta).tolist()
        cost = [[(a - b) ** 2 for b in v] for a in u]
        rows, columns = linear_sum_assignment(cost)
        total += sum(cost[i][j] for i, j in zip(rows, columns)) / len(u)
    return math.sqrt(total / projections)


def mmd(x: torch.Tensor, y: torch.Tensor, bandwidth: float = 1.0) -> float:
    """Maximum mean discrepancy with the Gaussian kernel ``k(u, v) = exp(-||u - v||^2 / (2 bandwidth^2))``.

    The biased (V-statistic) estimate ``sqrt(mean K_xx + mean K_yy - 2 mean K_xy)``, never negative; ``x (n, d)``
    and ``y (m, d)``. Memory ``O((n + m)^2)``. Chapter: Smoothness of Gaussian-mixture diffusions (arXiv 2405.16418).
    """
    _check_pair(x, y, same_size=False)
    bandwidth = check_real("bandwidth", bandwidth, 0.0, low_inclusive=False)
    size = max(x.shape[0], y.shape[0])
    check_allocation(f"the kernel matrices for n = {x.shape[0]}, m = {y.shape[0]} samples", (size, size), x.dtype,
                     x.device)
    y = y.to(dtype=x.dtype, device=x.device)

    def mean_kernel(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        squared = (u * u).sum(1)[:, None] + (v * v).sum(1)[None, :] - 2 * u @ v.T
        return torch.exp(-squared.clamp_min(0) / (2 * bandwidth**2)).mean()

    squared_mmd = float(mean_kernel(x, x) + mean_kernel(y, y) - 2 * mean_kernel(x, y))
    if not math.isfinite(squared_mmd):
        raise ValueError(f"x and y are too large for the kernel: squared distances overflow (largest |x| = "
                         f"{float(x.abs().max()):.3g}, |y| = {float(y.abs().max()):.3g})")
    return math.sqrt(max(squared_mmd, 0.0))


def mmd_reference(x: torch.Tensor, y: torch.Tensor, bandwidth: float = 1.0) -> float:
    """Float64 reference of :func:`mmd` by explicit double sums over pairs (small inputs only)."""
    _check_pair(x, y, same_size=False)
    bandwidth = check_real("bandwidth", bandwidth, 0.0, low_inclusive=False)
    _check_reference_work("(n + m)^2 x d (n, m the numbers of samples)", (x.shape[0] + y.shape[0]) ** 2 * x.shape[1])
    u_points, v_points = x.double().cpu().tolist(), y.double().cpu().tolist()

    def mean_kernel(first: list, second: list) -> float:
        total = sum(math.exp(-sum((p - q) ** 2 for p, q in zip(a, b)) / (2 * bandwidth**2))
                    for a in first for b in second)
        return total / (len(first) * len(second))

    value = mean_kernel(u_points, u_points) + mean_kernel(v_points, v_points) - 2 * mean_kernel(u_points, v_points)
    if not math.isfinite(value):
        raise ValueError("x and y are too large for the kernel: squared distances overflow")
    return math.sqrt(max(value, 0.0))


def mixture_kl_to_standard(mixture: GaussianMixture) -> float:
    """An upper bound on ``KL(p_0 || N(0, I))`` for an isotropic mixture, by joint convexity of KL.

    ``KL(sum_i alpha_i N_i || N(0, I)) <= sum_i alpha_i KL(N(mu_i, s_i^2 I) || N(0, I))`` with
    ``KL(N(mu, s^2 I) || N(0, I)) = (d s^2 + ||mu||^2 - d - d log s^2) / 2``: the start term of the solver bounds.
    Chapter: Smoothness of Gaussian-mixture diffusions (arXiv 2405.16418).
    """
    if not isinstance(mixture, GaussianMixture):
        raise ValueError(f"mixture must be a GaussianMixture, got {type(mixture).__name__}")
    d, variances = mixture.dim, mixture.variances
    per_component = 0.5 * (d * variances + (mixture.means**2).sum(dim=1) - d - d * variances.log())
    return float(mixture.weights @ per_component)


def sde_error_bound(lipschitz: float, second_moment: float, dim: int, steps: int, horizon: float = 5.0,
                    delta: float = 1e-3, score_error: float = 0.0, initial_kl: float = 0.0) -> dict[str, float]:
    """The DDPM guarantee of Chen et al. (2023, Thm. 2) with every hidden constant set to 1 (OU, uniform steps).

    With ``h = (horizon - delta) / steps``, ``L`` the score's Lipschitz constant on ``[delta, horizon]``,
    ``m2^2 = E ||x_0||^2`` and ``eps`` the score's ``L2`` error:
    ``KL <= KL(p_0 || N(0, I)) e^{-2T} + (L^2 d h + L^2 m2^2 h^2 + eps^2) T`` and
    ``TV <= sqrt(KL(p_0 || N(0, I))) e^{-T} + (L sqrt(d h) + L m2 h + eps) sqrt(T)``; the theorem needs
    ``h <= 1 / L`` (``step_condition``). Returns the terms and totals (TV is not capped at 1, so a value above 1
    shows how far from useful the bound is). Chapter: Smoothness of Gaussian-mixture diffusions (arXiv 2405.16418),
    which supplies ``L`` and ``m2`` for Gaussian mixtures.
    """
    lipschitz = check_real("lipschitz", lipschitz, 0.0, low_inclusive=False)
    second_moment = check_real("second_moment", second_moment, 0.0)
    dim, steps = check_int("dim", dim, 1), check_int("steps", steps, 1)
    score_error = check_real("score_error", score_error, 0.0)
    initial_kl = check_real("initial_kl", initial_kl, 0.0)
    time_grid(horizon, delta, 1)  # validates 0 < delta < horizon
    h, moment = (horizon - delta) / steps, math.sqrt(second_moment)
    discretisation = lipschitz * math.sqrt(dim * h) + lipschitz * moment * h
    tv_terms = dict(tv_start=math.sqrt(initial_kl) * math.exp(-horizon),
                    tv_discretisation=discretisation * math.sqrt(horizon), tv_score=score_error * math.sqrt(horizon))
    kl_terms = dict(kl_start=initial_kl * math.exp(-2 * horizon),
                    kl_discretisation=(lipschitz**2 * dim * h + (lipschitz * moment * h) ** 2) * horizon,
                    kl_score=score_error**2 * horizon)
    return dict(step=h, step_condition=lipschitz * h, **tv_terms, tv=sum(tv_terms.values()), **kl_terms,
                kl=sum(kl_terms.values()))
