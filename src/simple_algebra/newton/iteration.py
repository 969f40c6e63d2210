"""The iteration loop of Part III: approximate Newton with backtracking, and gradient descent as the baseline.

Approximate Newton takes ``x <- x - t H~(x, k)^{-1} grad(x)`` with any symmetric positive definite ``H~``: the exact
Hessian, or one built from rows sampled by leverage scores (``sketching.leverage_scores``), drawn afresh each
iteration. Both solvers record the same :class:`NewtonRun`.

Chapters (Part III): inverting the leverage-score gradient (Li, Song, Xu, Yin; arXiv 2408.11267) and approximate
Newton for a two-layer regression (Li, Song, Wang, Yin; arXiv 2311.15390).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ..core.runtime import generator
from ..core.validation import (
    check_finite_tensor,
    check_gradient,
    check_real,
    check_same_kind,
    check_seed,
    check_shape,
    check_steps,
)

Vector = torch.Tensor
LOSS_NOISE = 1e-13  # relative rise of the loss that backtracking treats as rounding, not as a worse point


def perturbed_start(x_star: torch.Tensor, relative_distance: float, seed: int = 0) -> torch.Tensor:
    """``x0 = x* + r ||x*|| g / ||g||`` with a seeded Gaussian direction ``g``: a start at relative distance ``r``
    from ``x*``, for the local convergence experiments of Part III."""
    check_finite_tensor("x_star", x_star, ndim=1)
    relative_distance = check_real("relative_distance", relative_distance, low=0.0)
    g = torch.randn(x_star.shape[0], generator=generator(check_seed("seed", seed)), dtype=torch.float64)
    g = g.to(dtype=x_star.dtype, device=x_star.device)
    return x_star + relative_distance * torch.linalg.vector_norm(x_star) * g / torch.linalg.vector_norm(g)


@dataclass
class NewtonRun:
    """The record of an iterative solve: one entry per iterate (``iterates[0]`` is the start).

    ``losses`` (if a loss was given), ``errors`` = ``||x_t - reference||`` (if a reference was given), ``steps`` =
    the step length t taken at each iteration, ``seconds`` = wall time of each iteration.
    """

    iterates: list[torch.Tensor] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    errors: list[float] = field(default_factory=list)
    steps: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def record(self, x: torch.Tensor, loss: Callable[[Vector], torch.Tensor] | None,
               reference: torch.Tensor | None) -> None:
        self.iterates.append(x.detach().clone())
        if loss is not None:
            self.losses.append(float(loss(x)))
        if reference is not None:
            self.errors.append(float(torch.linalg.vector_norm(x - reference)))


def _check_start(x0: torch.Tensor, iterations: int, reference: torch.Tensor | None, tolerance: float,
                 **functions: object) -> None:
    check_finite_tensor("x0", x0, ndim=1)
    check_steps("iterations", iterations, low=0)
    check_real("tolerance", tolerance, low=0.0)
    if reference is not None:
        check_shape("reference", reference, tuple(x0.shape))
        check_same_kind(x0=x0, reference=reference)
    for name, function in functions.items():
        if function is not None and not callable(function):
            raise ValueError(f"{name} must be a callable, got {type(function).__name__}")


def _gradient_at(gradient: Callable[[Vector], Vector], x: torch.Tensor) -> torch.Tensor:
    """``gradient(x)``, checked: a tensor of x's shape, finite (a NaN gradient stops the solve, it is not a step)."""
    g = gradient(x)
    if not isinstance(g, torch.Tensor) or g.shape != x.shape:
        raise ValueError(f"gradient(x) must return a tensor of shape {tuple(x.shape)}, got "
                         f"{tuple(g.shape) if isinstance(g, torch.Tensor) else type(g).__name__}")
    return check_gradient("gradient(x)", g)


Update = Callable[[torch.Tensor, int, NewtonRun], tuple[torch.Tensor, float] | None]


def _iterate(x0: torch.Tensor, update: Update, iterations: int, loss: Callable[[Vector], torch.Tensor] | None,
             reference: torch.Tensor | None, tolerance: float) -> NewtonRun:
    """The loop both solvers share: ``update(x, k, run)`` returns ``(x_next, step length)``, or None to stop."""
    run = NewtonRun()
    x = x0.detach().clone()
    run.record(x, loss, reference)
    for k in range(iterations):
        if run.errors and run.errors[-1] <= tolerance:
            break
        start = time.perf_counter()
        moved = update(x, k, run)
        if moved is None:
            break
        x, t = moved
        run.steps.append(t)
        run.seconds.append(time.perf_counter() - start)
        run.record(x, loss, reference)
    return run


def approximate_newton(x0: torch.Tensor, gradient: Callable[[Vector], Vector],
                       hessian: Callable[[Vector, int], torch.Tensor], iterations: int, *,
                       loss: Callable[[Vector], torch.Tensor] | None = None, reference: torch.Tensor | None = None,
                       tolerance: float = 0.0, backtracking: bool = True) -> NewtonRun:
    """Approximate Newton: ``x <- x - t H~(x, k)^{-1} grad(x)`` for ``k = 0, 1, ...``.

    ``hessian(x, k)`` returns any symmetric positive definite (d, d) approximation of the Hessian: exact, or sampled
    with seed ``k`` so each iteration draws fresh rows. ``t = 1`` unless ``loss`` is given and ``backtracking``: then
    ``t`` is halved (up to 40 times) until the loss no longer rises (beyond a relative ``1e-13`` of rounding),
    which keeps a local method safe outside its basin. A ``loss`` that raises ValueError at a trial point (e.g. an
    infeasible point) counts as a rise. Stops after ``iterations`` steps, or once ``||x - reference|| <= tolerance``,
    or at a zero gradient.
    """
    _check_start(x0, iterations, reference, tolerance, gradient=gradient, hessian=hessian, loss=loss)

    def newton_step(x: torch.Tensor, k: int, run: NewtonRun) -> tuple[torch.Tensor, float] | None:
        g = _gradient_at(gradient, x)
        if not bool(torch.any(g != 0)):
            return None
        H = hessian(x, k)
        if not isinstance(H, torch.Tensor) or H.shape != (x.shape[0], x.shape[0]) or not bool(torch.isfinite(H).all()):
            shown = f"shape {tuple(H.shape)}" if isinstance(H, torch.Tensor) else type(H).__name__
            raise ValueError(f"hessian(x, k) must return a finite ({x.shape[0]}, {x.shape[0]}) matrix, got {shown}"
                             + (" with NaN or inf entries" if isinstance(H, torch.Tensor) and
                                H.shape == (x.shape[0], x.shape[0]) else ""))
        try:
            direction = torch.linalg.solve(H, g)
        except RuntimeError as error:  # torch.linalg.LinAlgError
            raise ValueError(f"hessian(x, k) returned a singular matrix at iteration {k}: it must be positive "
                             "definite (sample more rows, or add a regulariser)") from error
        return _backtrack(x, direction, loss if backtracking else None, run.losses[-1] if run.losses else None)

    return _iterate(x0, newton_step, iterations, loss, reference, tolerance)


def _backtrack(x: torch.Tensor, direction: torch.Tensor, loss: Callable[[Vector], torch.Tensor] | None,
               current: float | None) -> tuple[torch.Tensor, float]:
    t = 1.0
    if loss is None or current is None:
        return x - direction, t
    if not math.isfinite(current):
        raise ValueError(f"loss(x) must be finite for backtracking, got {current} at the current point")
    for _ in range(40):
        trial = x - t * direction
        try:
            value = float(loss(trial))
        except ValueError:
            value = math.inf
        # Near the optimum the loss changes by less than its own rounding error; a rise within that noise is no
        # evidence against the step, and refusing it would halve steps at random and stall the solve.
        if value <= current + LOSS_NOISE * abs(current):
            return trial, t
        t /= 2
    raise ValueError("backtracking found no step that does not increase the loss: the Hessian approximation is not "
                     "a descent direction here (start closer to the optimum or sample more rows)")


def gradient_descent(x0: torch.Tensor, gradient: Callable[[Vector], Vector], step: float, iterations: int, *,
                     loss: Callable[[Vector], torch.Tensor] | None = None, reference: torch.Tensor | None = None,
                     tolerance: float = 0.0) -> NewtonRun:
    """The first-order baseline ``x <- x - step * grad(x)``, recorded like :func:`approximate_newton`."""
    _check_start(x0, iterations, reference, tolerance, gradient=gradient, loss=loss)
    step = check_real("step", step, low=0.0, low_inclusive=False)

    def descent_step(x: torch.Tensor, k: int, run: NewtonRun) -> tuple[torch.Tensor, float]:
        moved = x - step * _gradient_at(gradient, x)
        if not bool(torch.isfinite(moved).all()):
            raise ValueError(f"gradient descent diverged at iteration {k}: lower the step (got step = {step})")
        return moved, step

    return _iterate(x0, descent_step, iterations, loss, reference, tolerance)
