"""Gradient leakage in one attention layer: the DLG attack, and trials of it against the clip-and-noise defence.

The attack (Deep Leakage from Gradients, Zhu et al. 2019) looks for an ``X'`` whose gradient matches the shared one
(the model and its gradients: :mod:`simple_algebra.privacy.attention_model`),

    X^ = argmin_{X'} ||dL/dW(X') - g_W||_F^2 + ||dL/dV(X') - g_V||_F^2,

by L-BFGS with a strong-Wolfe line search, differentiating through the gradient (double backward) and keeping,
over *all* its random restarts, the restart with the lowest *matching* loss (the attacker never sees the true ``X``).
Why more than ``n d = d^2 + d k`` unknowns cannot be recovered is the counting argument of R-GAP (Zhu and Blaschko,
ICLR 2021): :func:`gradient_jacobian_rank` measures it, :func:`linearised_reconstruction` gives the first-order
best match under noise.

The book's setup (the paper's exact model and theorems were not available): the attacker knows ``W``, ``V``
(it is the server) and the target ``Y`` (as in iDLG, where the label is inferred first); only ``X`` is secret.

Chapter: A theoretical insight into attack and defense of gradient leakage in transformer
(C. Li, Z. Song, W. Wang, C. Yang; arXiv 2311.13624).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..core.metrics import relative_error
from ..core.runtime import generator
from ..core.validation import (
    check_allocation,
    check_device,
    check_float_dtype,
    check_int,
    check_real,
    check_same_kind,
    check_seed,
    check_steps,
)
from .attention_model import _check_gradients, _check_model, _gradients, gradient_norm, shared_gradients
from .defences import clip_and_noise

# The attacker's random starts come from their own stream: with the instance's seed they would start at the secret X.
ATTACK_SEED_OFFSET = 7_919_000_003


@dataclass(frozen=True)
class LeakageInstance:
    """One client's private input ``X (n, d)`` and target ``Y (n, k)``; the shared model ``W (d, d)``, ``V (d, k)``."""

    X: torch.Tensor
    W: torch.Tensor
    V: torch.Tensor
    Y: torch.Tensor


def random_instance(tokens: int, dim: int, seed: int, *, dtype: torch.dtype = torch.float64,
                    device: torch.device | str | None = None) -> LeakageInstance:
    """A random instance: ``X``, ``Y`` standard normal, ``W``, ``V`` with ``N(0, 1/d)`` entries (scores are ``O(1)``).

    Shapes ``X, Y: (tokens, dim)``, ``W, V: (dim, dim)``; every draw comes from ``seed``.
    Chapter: gradient leakage in transformer (arXiv 2311.13624).
    """
    tokens = check_int("tokens", tokens, 1, 4096)
    dim = check_int("dim", dim, 1, 4096)
    seed = check_seed("seed", seed)
    dtype = check_float_dtype("dtype", dtype)
    device = check_device("device", device) if device is not None else None
    source = generator(seed)

    def draw(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return (scale * torch.randn(*shape, generator=source, dtype=torch.float64)).to(dtype=dtype, device=device)

    X = draw(tokens, dim)
    W = draw(dim, dim, scale=dim ** -0.5)
    V = draw(dim, dim, scale=dim ** -0.5)
    Y = draw(tokens, dim)
    return LeakageInstance(X, W, V, Y)


def matching_loss(X: torch.Tensor, W: torch.Tensor, V: torch.Tensor, Y: torch.Tensor,
                  target: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """The attacker's objective ``||dL/dW(X) - g_W||_F^2 + ||dL/dV(X) - g_V||_F^2`` (differentiable in ``X``).

    Chapter: gradient leakage in transformer (arXiv 2311.13624).
    """
    _check_model(X, W, V, Y)
    target = _check_target(target, X)
    grad_W, grad_V = _gradients(X, W, V, Y)
    if grad_W.shape != target[0].shape or grad_V.shape != target[1].shape:
        raise ValueError(f"target gradients must have shapes {tuple(grad_W.shape)} and {tuple(grad_V.shape)}, "
                         f"got {tuple(target[0].shape)} and {tuple(target[1].shape)}")
    return (grad_W - target[0]).square().sum() + (grad_V - target[1]).square().sum()


def _check_target(target: object, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The shared gradient an attack matches: a pair of finite tensors, of the model's dtype and device."""
    if not isinstance(target, (tuple, list)) or len(target) != 2:
        given = f"{len(target)} parts" if isinstance(target, (tuple, list)) else f"a {type(target).__name__}"
        raise ValueError(f"target must be the pair (dL/dW, dL/dV), got {given}")
    target = _check_gradients("target", target)
    check_same_kind(**{"target[0]": target[0], "the model": like})
    return target


@dataclass(frozen=True)
class AttackResult:
    """The DLG reconstruction: the chosen ``X`` (lowest matching loss), its matching loss, every restart's, and the
    number of gradient-matching evaluations (forward + double backward) the attack spent."""

    X: torch.Tensor
    matching_loss: float
    restart_losses: tuple[float, ...]
    chosen_restart: int
    evaluations: int


def dlg_attack(target: tuple[torch.Tensor, torch.Tensor], W: torch.Tensor, V: torch.Tensor, Y: torch.Tensor,
               tokens: int, *, restarts: int = 8, iterations: int = 200, seed: int = 0,
               init_scale: float = 1.0) -> AttackResult:
    """Deep Leakage from Gradients: ``X^ = argmin_X' ||g(X') - target||^2`` by L-BFGS, best of ``restarts``.

    Each restart starts from ``X' ~ N(0, init_scale^2)`` (``tokens x d``, drawn from ``seed``) and runs L-BFGS
    with a strong-Wolfe line search for at most ``iterations`` iterations, differentiating through
    :func:`shared_gradients` (double backward). The restart with the lowest matching loss is returned: the
    attacker chooses by what it can compute, never by the (unknown) reconstruction error. Every restart runs (no
    early stop: a level such as the noise's energy would accept a spurious basin that happens to fall below it).
    ``target``: ``((d, d), (d, k))``; result ``X (tokens, d)``. Chapter: gradient leakage (arXiv 2311.13624).
    """
    target = _check_target(target, W)
    for index, part in enumerate(target):
        if part.ndim != 2:
            raise ValueError(f"target[{index}] must have 2 dimensions, got shape {tuple(part.shape)}")
    tokens = check_int("tokens", tokens, 1, 4096)
    restarts = check_int("restarts", restarts, 1, 10_000)
    iterations = check_int("iterations", iterations, 1, 100_000)
    check_steps("restarts * iterations", restarts * iterations)  # the attack's total number of L-BFGS iterations
    seed = check_seed("seed", seed)
    init_scale = check_real("init_scale", init_scale, 0.0, low_inclusive=False)
    d = W.shape[-1]
    _check_model(torch.zeros(tokens, d, dtype=W.dtype, device=W.device), W, V, Y)
    if target[0].shape != W.shape or target[1].shape != V.shape:
        raise ValueError(f"target gradients must have the shapes of W {tuple(W.shape)} and V {tuple(V.shape)}, "
                         f"got {tuple(target[0].shape)} and {tuple(target[1].shape)}")
    evaluations = [0]
    W, V, Y = W.detach(), V.detach(), Y.detach()
    target = (target[0].detach(), target[1].detach())
    source = generator(seed + ATTACK_SEED_OFFSET)
    best_X, best_loss, best_restart, losses = None, math.inf, -1, []
    for restart in range(restarts):
        start = init_scale * torch.randn(tokens, d, generator=source, dtype=torch.float64)
        guess = start.to(dtype=W.dtype, device=W.device).requires_grad_(True)
        # Tolerances far below the defaults: the matching loss of an exact recovery is ~1e-20, and the default
        # tolerance_change (1e-9) would stop a restart that is still converging.
        optimizer = torch.optim.LBFGS([guess], lr=1.0, max_iter=iterations, max_eval=2 * iterations,
                                      tolerance_grad=1e-14, tolerance_change=1e-20, history_size=40,
                                      line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            grad_W, grad_V = _gradients(guess, W, V, Y)
            loss = (grad_W - target[0]).square().sum() + (grad_V - target[1]).square().sum()
            loss.backward()
            evaluations[0] += 1
            return loss

        optimizer.step(closure)
        with torch.no_grad():
            final = matching_loss(guess, W, V, Y, target)
        value = float(final) if torch.isfinite(final) else math.inf
        losses.append(value)
        if value < best_loss:
            best_X, best_loss, best_restart = guess.detach().clone(), value, restart
    if best_X is None:  # every restart diverged: return the last start rather than NaN
        best_X = guess.detach().clone()
    return AttackResult(best_X, best_loss, tuple(losses), best_restart, evaluations[0])


def _jacobian(X: torch.Tensor, W: torch.Tensor, V: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """The ``(d^2 + d k) x (n d)`` Jacobian of ``X -> (dL/dW, dL/dV)`` at ``X`` (inputs checked by the caller)."""
    equations = W.numel() + V.numel()
    # The Jacobian, and the SVD's (or least squares') copy of it; autograd builds it one backward pass per row.
    check_allocation(f"the (d^2 + d k) x (n d) Jacobian for n = {X.shape[0]}, d = {X.shape[1]}, k = {V.shape[1]}",
                     (3 * equations, X.numel()), X.dtype, X.device)
    check_steps("d^2 + d k (the Jacobian's rows, one backward pass each)", equations, high=100_000)

    def flat(points: torch.Tensor) -> torch.Tensor:
        return torch.cat([part.reshape(-1) for part in _gradients(points, W, V, Y)])

    return torch.autograd.functional.jacobian(flat, X.detach()).reshape(-1, X.numel())


def _check_instance(instance: LeakageInstance) -> tuple[torch.Tensor, ...]:
    """``(X, W, V, Y)`` of a valid instance with one sequence ``X`` of shape ``(n, d)``."""
    if not isinstance(instance, LeakageInstance):
        raise ValueError(f"instance must be a LeakageInstance (see random_instance()), got {type(instance).__name__}")
    X, W, V, Y = instance.X, instance.W, instance.V, instance.Y
    _check_model(X, W, V, Y)
    if X.ndim != 2:
        raise ValueError(f"instance.X must have shape (n, d), got {tuple(X.shape)}")
    return X, W, V, Y


def gradient_jacobian_rank(instance: LeakageInstance, tolerance: float = 1e-9) -> tuple[int, int, int]:
    """Local identifiability: the rank of the Jacobian of ``X -> (dL/dW, dL/dV)`` at the secret ``X``.

    Returns ``(rank, unknowns, equations)`` with ``unknowns = n d`` and ``equations = d^2 + d k``. Where the rank is
    below ``n d`` some direction moves ``X`` without changing the shared gradient (to first order), so no attack
    can tell the points on it apart; ``rank <= equations`` forces this once ``n d > d^2 + d k``. Singular values
    below ``tolerance`` times the largest count as zero. Chapter: gradient leakage (arXiv 2311.13624).
    """
    tolerance = check_real("tolerance", tolerance, 0.0, 1.0, low_inclusive=False)
    X, W, V, Y = _check_instance(instance)
    jacobian = _jacobian(X, W, V, Y)
    singular = torch.linalg.svdvals(jacobian)
    rank = int((singular > tolerance * singular.max()).sum()) if float(singular.max()) > 0 else 0
    return rank, X.numel(), jacobian.shape[0]


def linearised_reconstruction(instance: LeakageInstance, shared: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """First-order prediction of the best match to a perturbed gradient: ``X + J^+ (g~ - g)``, shape ``(n, d)``.

    Near the secret ``X`` the shared gradient is ``g(X + D) ~ g + J D`` (``J`` the Jacobian of
    :func:`gradient_jacobian_rank`), so the input whose gradient matches ``g~`` best (least squares, minimum norm
    step; ``J^+`` the pseudo-inverse) is ``X + J^+ (g~ - g)``. An attack that finds the secret's basin should land
    there, to within ``O(||J^+ (g~ - g)||^2)``, while that step is small; it says nothing once the step is of the
    order of ``X``. ``shared``: ``((d, d), (d, k))``. Chapter: gradient leakage in transformer (arXiv 2311.13624).
    """
    X, W, V, Y = _check_instance(instance)
    shared = _check_target(shared, X)
    exact = _gradients(X, W, V, Y)
    if any(a.shape != b.shape for a, b in zip(shared, exact)):
        raise ValueError(f"shared must have the shapes {[tuple(p.shape) for p in exact]}, "
                         f"got {[tuple(p.shape) for p in shared]}")
    jacobian = _jacobian(X, W, V, Y)
    perturbation = torch.cat([(a - b).reshape(-1) for a, b in zip(shared, exact)])
    step = torch.linalg.pinv(jacobian) @ perturbation  # the minimum-norm least-squares step
    return X.detach() + step.reshape(X.shape)


@dataclass(frozen=True)
class LeakageTrial:
    """One attack on one instance: the instance, the shared (noised) gradient, the attack, the relative error, and
    the clip ``C = ||g||`` (the noise's scale, and the unit in which to read the matching loss: ``M / C^2``)."""

    instance: LeakageInstance
    shared: tuple[torch.Tensor, torch.Tensor]
    attack: AttackResult
    error: float
    clip: float


def leakage_trial(tokens: int, dim: int, seed: int, noise_multiplier: float = 0.0, *, restarts: int = 8,
                  iterations: int = 100) -> LeakageTrial:
    """Draw :func:`random_instance`, share its gradient through the defence, attack it, measure the error.

    The clip is ``C = ||g||`` (clipping inactive), so the noise ``N(0, sigma^2 ||g||^2)`` per entry is relative to
    the gradient's size. That clip depends on the client's data, so this is a perturbation experiment, *not* a
    differentially private mechanism (which needs a fixed ``C``): no epsilon belongs to it. The attack runs all
    ``restarts`` and keeps the lowest matching loss. The error is ``||X^ - X||_F / ||X||_F``.
    Chapter: gradient leakage in transformer (arXiv 2311.13624).
    """
    noise_multiplier = check_real("noise_multiplier", noise_multiplier, 0.0)
    restarts = check_int("restarts", restarts, 1, 10_000)
    iterations = check_int("iterations", iterations, 1, 100_000)
    check_steps("restarts * iterations", restarts * iterations)
    instance = random_instance(tokens, dim, seed)
    exact = shared_gradients(instance.X, instance.W, instance.V, instance.Y)
    clip = float(gradient_norm(exact))
    if clip == 0:
        raise ValueError("the shared gradient is zero: nothing leaks and nothing can be clipped")
    shared = clip_and_noise(exact, clip, noise_multiplier, seed)
    attack = dlg_attack(shared, instance.W, instance.V, instance.Y, tokens, restarts=restarts, iterations=iterations,
                        seed=seed)
    return LeakageTrial(instance, shared, attack, relative_error(attack.X, instance.X), clip)
