"""Gradient leakage in one attention layer: the DLG attack, the clip-and-noise defence, its privacy cost, noisy SGD.

The model is one attention layer with the input ``X (n, d)`` also serving as queries, keys and values,

    F(X) = softmax(X W X^T) X V,      L = 0.5 ||F(X) - Y||_F^2,

(softmax over each row) with trained parameters ``W (d, d)`` and ``V (d, k)``. A client in federated learning
shares the gradient ``g = (dL/dW, dL/dV)``: ``d^2 + d k`` numbers computed from its private ``X``. The attack
(Deep Leakage from Gradients, Zhu et al. 2019) looks for an ``X'`` whose gradient matches the shared one,

    X^ = argmin_{X'} ||dL/dW(X') - g_W||_F^2 + ||dL/dV(X') - g_V||_F^2,

by L-BFGS with a strong-Wolfe line search, differentiating through the gradient (double backward) and keeping,
over random restarts, the restart with the lowest *matching* loss (the attacker never sees the true ``X``).
The defence clips the shared gradient to norm ``C`` and adds ``N(0, sigma^2 C^2)`` noise: the Gaussian mechanism,
whose privacy cost :func:`gaussian_epsilon` and :func:`composed_privacy` account for.

The book's setup (the paper's exact model and theorems were not available): the attacker knows ``W``, ``V``
(it is the server) and the target ``Y`` (as in iDLG, where the label is inferred first); only ``X`` is secret.

Chapter: A theoretical insight into attack and defense of gradient leakage in transformer
(C. Li, Z. Song, W. Wang, C. Yang; arXiv 2311.13624).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .metrics import relative_error
from .runtime import generator, progress
from .validation import check_finite_tensor, check_int, check_real

CONVENTIONS = ("add_remove", "replace_one")
# The attacker's random starts come from their own stream: with the instance's seed they would start at the secret X.
ATTACK_SEED_OFFSET = 7_919_000_003
COMPOSITIONS = ("basic", "advanced")


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
    seed = check_int("seed", seed, 0)
    source = generator(seed)

    def draw(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return (scale * torch.randn(*shape, generator=source, dtype=torch.float64)).to(dtype=dtype, device=device)

    X = draw(tokens, dim)
    W = draw(dim, dim, scale=dim ** -0.5)
    V = draw(dim, dim, scale=dim ** -0.5)
    Y = draw(tokens, dim)
    return LeakageInstance(X, W, V, Y)


def _check_model(X: torch.Tensor, W: torch.Tensor, V: torch.Tensor, Y: torch.Tensor) -> None:
    check_finite_tensor("X", X)
    check_finite_tensor("W", W, ndim=2)
    check_finite_tensor("V", V, ndim=2)
    check_finite_tensor("Y", Y)
    if X.ndim not in (2, 3):
        raise ValueError(f"X must have shape (n, d) or (batch, n, d), got {tuple(X.shape)}")
    d = X.shape[-1]
    if W.shape != (d, d):
        raise ValueError(f"W must have shape ({d}, {d}) for X of width {d}, got {tuple(W.shape)}")
    if V.shape[0] != d:
        raise ValueError(f"V must have {d} rows for X of width {d}, got shape {tuple(V.shape)}")
    if Y.shape != (*X.shape[:-1], V.shape[1]):
        raise ValueError(f"Y must have shape {(*X.shape[:-1], V.shape[1])}, got {tuple(Y.shape)}")


def attention_output(X: torch.Tensor, W: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """``F(X) = softmax(X W X^T) X V`` (softmax over each row). ``X (n, d)`` or ``(b, n, d)`` -> ``(..., n, k)``.

    Chapter: gradient leakage in transformer (arXiv 2311.13624).
    """
    _check_model(X, W, V, torch.zeros(*X.shape[:-1], V.shape[-1], dtype=X.dtype, device=X.device))
    attention = torch.softmax(X @ W @ X.transpose(-1, -2), dim=-1)
    return attention @ X @ V


def attention_loss(X: torch.Tensor, W: torch.Tensor, V: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """``L = 0.5 ||F(X) - Y||_F^2`` (one value per sequence for a batch ``X (b, n, d)``).

    Chapter: gradient leakage in transformer (arXiv 2311.13624).
    """
    _check_model(X, W, V, Y)
    return 0.5 * (attention_output(X, W, V) - Y).square().sum(dim=(-2, -1))


def shared_gradients(X: torch.Tensor, W: torch.Tensor, V: torch.Tensor,
                     Y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The gradient a client shares, in closed form: ``(dL/dW, dL/dV)``, differentiable in ``X`` (double backward).

    With ``A = softmax(X W X^T)``, ``R = A X V - Y`` and ``G = R (X V)^T`` (the gradient in ``A``),

        dL/dV = (A X)^T R,      dL/dS = A * (G - rowsum(G * A)),      dL/dW = X^T (dL/dS) X.

    Shapes: ``X (n, d)`` -> ``((d, d), (d, k))``; a batch ``X (b, n, d)`` gives per-sequence gradients
    ``((b, d, d), (b, d, k))``. Chapter: gradient leakage in transformer (arXiv 2311.13624).
    """
    _check_model(X, W, V, Y)
    return _gradients(X, W, V, Y)


def _gradients(X: torch.Tensor, W: torch.Tensor, V: torch.Tensor, Y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # Unchecked: the attack's inner loop calls this thousands of times on inputs checked once.
    transposed = X.transpose(-1, -2)
    attention = torch.softmax(X @ W @ transposed, dim=-1)
    values = X @ V
    residual = attention @ values - Y
    grad_attention = residual @ values.transpose(-1, -2)
    grad_scores = attention * (grad_attention - (grad_attention * attention).sum(dim=-1, keepdim=True))
    return transposed @ grad_scores @ X, (attention @ X).transpose(-1, -2) @ residual


def shared_gradients_reference(X: torch.Tensor, W: torch.Tensor, V: torch.Tensor,
                               Y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`shared_gradients` by autograd on the loss, in float64, for one sequence ``X (n, d)``.

    Chapter: gradient leakage in transformer (arXiv 2311.13624).
    """
    _check_model(X, W, V, Y)
    if X.ndim != 2:
        raise ValueError(f"the reference takes one sequence X (n, d), got shape {tuple(X.shape)}")
    W64 = W.detach().double().requires_grad_(True)
    V64 = V.detach().double().requires_grad_(True)
    loss = attention_loss(X.detach().double(), W64, V64, Y.detach().double())
    grad_W, grad_V = torch.autograd.grad(loss, (W64, V64))
    return grad_W, grad_V


def gradient_norm(gradients: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """``||g|| = sqrt(sum_j ||g_j||_F^2)`` over the parts of a shared gradient (a tensor, differentiable)."""
    if not gradients:
        raise ValueError("gradients must contain at least one tensor")
    return torch.sqrt(sum(part.square().sum() for part in gradients))


def matching_loss(X: torch.Tensor, W: torch.Tensor, V: torch.Tensor, Y: torch.Tensor,
                  target: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """The attacker's objective ``||dL/dW(X) - g_W||_F^2 + ||dL/dV(X) - g_V||_F^2`` (differentiable in ``X``).

    Chapter: gradient leakage in transformer (arXiv 2311.13624).
    """
    _check_model(X, W, V, Y)
    grad_W, grad_V = _gradients(X, W, V, Y)
    if grad_W.shape != target[0].shape or grad_V.shape != target[1].shape:
        raise ValueError(f"target gradients must have shapes {tuple(grad_W.shape)} and {tuple(grad_V.shape)}, "
                         f"got {tuple(target[0].shape)} and {tuple(target[1].shape)}")
    return (grad_W - target[0]).square().sum() + (grad_V - target[1]).square().sum()


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
               init_scale: float = 1.0, stop_below: float = 0.0) -> AttackResult:
    """Deep Leakage from Gradients: ``X^ = argmin_X' ||g(X') - target||^2`` by L-BFGS, best of ``restarts``.

    Each restart starts from ``X' ~ N(0, init_scale^2)`` (``tokens x d``, drawn from ``seed``) and runs L-BFGS
    with a strong-Wolfe line search for at most ``iterations`` iterations, differentiating through
    :func:`shared_gradients` (double backward). The restart with the lowest matching loss is returned: the
    attacker chooses by what it can compute, never by the (unknown) reconstruction error. Restarts stop early
    once one reaches a matching loss ``<= stop_below`` (a level the attacker can set from public numbers, e.g.
    the expected energy of the defence's noise).
    ``target``: ``((d, d), (d, k))``; result ``X (tokens, d)``. Chapter: gradient leakage (arXiv 2311.13624).
    """
    check_finite_tensor("target[0]", target[0], ndim=2)
    check_finite_tensor("target[1]", target[1], ndim=2)
    tokens = check_int("tokens", tokens, 1, 4096)
    restarts = check_int("restarts", restarts, 1, 10_000)
    iterations = check_int("iterations", iterations, 1, 100_000)
    seed = check_int("seed", seed, 0)
    init_scale = check_real("init_scale", init_scale, 0.0, low_inclusive=False)
    stop_below = check_real("stop_below", stop_below, 0.0)
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
        if best_loss <= stop_below:
            break
    if best_X is None:  # every restart diverged: return the last start rather than NaN
        best_X = guess.detach().clone()
    return AttackResult(best_X, best_loss, tuple(losses), best_restart, evaluations[0])


def gradient_jacobian_rank(instance: LeakageInstance, tolerance: float = 1e-9) -> tuple[int, int, int]:
    """Local identifiability: the rank of the Jacobian of ``X -> (dL/dW, dL/dV)`` at the secret ``X``.

    Returns ``(rank, unknowns, equations)`` with ``unknowns = n d`` and ``equations = d^2 + d k``. Where the rank is
    below ``n d`` some direction moves ``X`` without changing the shared gradient (to first order), so no attack
    can tell the points on it apart; ``rank <= equations`` forces this once ``n d > d^2 + d k``. Singular values
    below ``tolerance`` times the largest count as zero. Chapter: gradient leakage (arXiv 2311.13624).
    """
    tolerance = check_real("tolerance", tolerance, 0.0, 1.0, low_inclusive=False)
    X, W, V, Y = instance.X, instance.W, instance.V, instance.Y
    _check_model(X, W, V, Y)
    if X.ndim != 2:
        raise ValueError(f"instance.X must have shape (n, d), got {tuple(X.shape)}")

    def flat(points: torch.Tensor) -> torch.Tensor:
        return torch.cat([part.reshape(-1) for part in _gradients(points, W, V, Y)])

    jacobian = torch.autograd.functional.jacobian(flat, X.detach()).reshape(-1, X.numel())
    singular = torch.linalg.svdvals(jacobian)
    rank = int((singular > tolerance * singular.max()).sum()) if float(singular.max()) > 0 else 0
    return rank, X.numel(), jacobian.shape[0]


@dataclass(frozen=True)
class LeakageTrial:
    """One attack on one instance: the instance, the shared (noised) gradient, the attack, the relative error."""

    instance: LeakageInstance
    shared: tuple[torch.Tensor, torch.Tensor]
    attack: AttackResult
    error: float


def leakage_trial(tokens: int, dim: int, seed: int, noise_multiplier: float = 0.0, *, restarts: int = 8,
                  iterations: int = 100) -> LeakageTrial:
    """Draw :func:`random_instance`, share its gradient through the defence, attack it, measure the error.

    The clip is ``C = ||g||`` (clipping inactive), so the noise ``N(0, sigma^2 ||g||^2)`` per entry is relative to
    the gradient's size. The attack stops its restarts once the matching loss falls below twice the noise's
    expected energy, ``2 p sigma^2 C^2`` (``p`` numbers shared; the truth itself scores ``p sigma^2 C^2`` give or
    take ``sqrt(2 p) sigma^2 C^2``), since any such candidate is as consistent with the shared gradient as the truth;
    at ``sigma = 0`` the level is ``1e-20 ||g||^2``. The error is
    ``||X^ - X||_F / ||X||_F``. Chapter: gradient leakage in transformer (arXiv 2311.13624).
    """
    instance = random_instance(tokens, dim, seed)
    noise_multiplier = check_real("noise_multiplier", noise_multiplier, 0.0)
    exact = shared_gradients(instance.X, instance.W, instance.V, instance.Y)
    clip = float(gradient_norm(exact))
    if clip == 0:
        raise ValueError("the shared gradient is zero: nothing leaks and nothing can be clipped")
    shared = clip_and_noise(exact, clip, noise_multiplier, seed)
    numbers = sum(part.numel() for part in exact)
    floor = 2 * numbers * (noise_multiplier * clip) ** 2 + 1e-20 * clip**2
    attack = dlg_attack(shared, instance.W, instance.V, instance.Y, tokens, restarts=restarts, iterations=iterations,
                        seed=seed, stop_below=floor)
    return LeakageTrial(instance, shared, attack, relative_error(attack.X, instance.X))


def clip_and_noise(gradients: tuple[torch.Tensor, ...], clip: float, noise_multiplier: float,
                   seed: int) -> tuple[torch.Tensor, ...]:
    """The defence: ``g~ = g min(1, C / ||g||) + N(0, sigma^2 C^2 I)``, the Gaussian mechanism on a clipped gradient.

    ``||g||`` is the norm over all parts together (:func:`gradient_norm`); ``sigma = noise_multiplier``. The noise
    is drawn from ``seed`` on the CPU and moved to the gradients' device, so the same seed gives the same noise
    everywhere. Returns parts of the same shapes. Chapter: gradient leakage in transformer (arXiv 2311.13624).
    """
    if not gradients:
        raise ValueError("gradients must contain at least one tensor")
    for index, part in enumerate(gradients):
        check_finite_tensor(f"gradients[{index}]", part)
    clip = check_real("clip", clip, 0.0, low_inclusive=False)
    noise_multiplier = check_real("noise_multiplier", noise_multiplier, 0.0)
    seed = check_int("seed", seed, 0)
    norm = float(gradient_norm(gradients))
    factor = min(1.0, clip / norm) if norm > 0 else 1.0
    source = generator(seed)
    noisy = []
    for part in gradients:
        noise = torch.randn(part.shape, generator=source, dtype=torch.float64).to(dtype=part.dtype, device=part.device)
        noisy.append(part * factor + noise_multiplier * clip * noise)
    return tuple(noisy)


def _sensitivity_factor(convention: str) -> float:
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    # A clipped gradient changes by at most C when one example is added or removed (the other side's gradient is
    # zero), and by at most 2C when one example is replaced by another.
    return 1.0 if convention == "add_remove" else 2.0


def gaussian_noise_multiplier(epsilon: float, delta: float, convention: str = "add_remove") -> float:
    """The classical Gaussian mechanism: ``sigma = (Delta / C) sqrt(2 ln(1.25 / delta)) / epsilon``.

    Noise ``N(0, sigma^2 C^2)`` on a gradient clipped to norm ``C`` is ``(epsilon, delta)``-DP per release
    (Dwork and Roth 2014, Theorem A.1, valid for ``0 < epsilon < 1``). ``Delta = C`` for neighbours that add or
    remove one example (``convention="add_remove"``), ``Delta = 2C`` for neighbours that replace one
    (``"replace_one"``). Chapter: gradient leakage in transformer (arXiv 2311.13624).
    """
    epsilon = check_real("epsilon", epsilon, 0.0, 1.0, low_inclusive=False)
    if epsilon >= 1.0:
        raise ValueError(f"the classical Gaussian mechanism needs epsilon < 1, got {epsilon}")
    delta = check_real("delta", delta, 0.0, 1.0, low_inclusive=False)
    if delta >= 1.0:
        raise ValueError(f"delta must be in (0, 1), got {delta}")
    return _sensitivity_factor(convention) * math.sqrt(2.0 * math.log(1.25 / delta)) / epsilon


def gaussian_epsilon(noise_multiplier: float, delta: float, convention: str = "add_remove") -> float:
    """The per-release ``epsilon = (Delta / C) sqrt(2 ln(1.25 / delta)) / sigma``: the inverse of the formula above.

    The classical theorem guarantees ``(epsilon, delta)``-DP only where the value is below 1; larger values are
    returned as the formula's number (a guide, not a guarantee). Chapter: gradient leakage (arXiv 2311.13624).
    """
    noise_multiplier = check_real("noise_multiplier", noise_multiplier, 0.0, low_inclusive=False)
    delta = check_real("delta", delta, 0.0, 1.0, low_inclusive=False)
    if delta >= 1.0:
        raise ValueError(f"delta must be in (0, 1), got {delta}")
    return _sensitivity_factor(convention) * math.sqrt(2.0 * math.log(1.25 / delta)) / noise_multiplier


def composed_privacy(epsilon: float, delta: float, releases: int, composition: str = "advanced",
                     delta_slack: float = 1e-6) -> tuple[float, float]:
    """The privacy of ``T = releases`` ``(epsilon, delta)``-DP releases; returns ``(epsilon_total, delta_total)``.

    ``basic``: ``(T epsilon, T delta)``. ``advanced`` (Dwork, Rothblum, Vadhan 2010):
    ``epsilon_total = sqrt(2 T ln(1 / delta')) epsilon + T epsilon (e^epsilon - 1)``, ``delta_total = T delta + delta'``
    with ``delta' = delta_slack``. Chapter: gradient leakage in transformer (arXiv 2311.13624).
    """
    epsilon = check_real("epsilon", epsilon, 0.0, low_inclusive=False)
    delta = check_real("delta", delta, 0.0, 1.0)
    releases = check_int("releases", releases, 1)
    if composition not in COMPOSITIONS:
        raise ValueError(f"composition must be one of {COMPOSITIONS}, got {composition!r}")
    if composition == "basic":
        return releases * epsilon, min(1.0, releases * delta)
    delta_slack = check_real("delta_slack", delta_slack, 0.0, 1.0, low_inclusive=False)
    if delta_slack >= 1.0:
        raise ValueError(f"delta_slack must be in (0, 1), got {delta_slack}")
    total = math.sqrt(2.0 * releases * math.log(1.0 / delta_slack)) * epsilon + releases * epsilon * math.expm1(epsilon)
    return total, min(1.0, releases * delta + delta_slack)


@dataclass(frozen=True)
class RegressionTask:
    """A training set of ``b`` sequences ``X (b, n, d)`` with targets ``Y (b, n, k)`` from a teacher attention layer."""

    X: torch.Tensor
    Y: torch.Tensor


def teacher_task(sequences: int, tokens: int, dim: int, seed: int, label_noise: float = 0.1, *,
                 dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> RegressionTask:
    """``Y = softmax(X W* X^T) X V* + label_noise * xi`` for a random teacher ``(W*, V*)`` (entries ``N(0, 1/d)``).

    Shapes ``X: (sequences, tokens, dim)``, ``Y`` the same. Chapter: gradient leakage (arXiv 2311.13624).
    """
    sequences = check_int("sequences", sequences, 1, 1 << 20)
    tokens = check_int("tokens", tokens, 1, 4096)
    dim = check_int("dim", dim, 1, 4096)
    seed = check_int("seed", seed, 0)
    label_noise = check_real("label_noise", label_noise, 0.0)
    source = generator(seed)
    X = torch.randn(sequences, tokens, dim, generator=source, dtype=torch.float64)
    W = dim ** -0.5 * torch.randn(dim, dim, generator=source, dtype=torch.float64)
    V = dim ** -0.5 * torch.randn(dim, dim, generator=source, dtype=torch.float64)
    Y = attention_output(X, W, V) + label_noise * torch.randn(X.shape, generator=source, dtype=torch.float64)
    return RegressionTask(X.to(dtype=dtype, device=device), Y.to(dtype=dtype, device=device))


@dataclass(frozen=True)
class NoisySGDResult:
    """Trained ``W``, ``V`` and the mean training loss before every step and after the last (``steps + 1`` values)."""

    W: torch.Tensor
    V: torch.Tensor
    losses: torch.Tensor


def noisy_sgd(task: RegressionTask, *, noise_multiplier: float, clip: float = 1.0, lr: float = 0.1,
              steps: int = 200, batch: int = 8, seed: int = 0) -> NoisySGDResult:
    """DP-SGD on the attention regression: per-sequence gradients clipped to ``C``, summed, noised, averaged.

    Each step draws ``batch`` sequences without replacement, and updates
    ``theta <- theta - lr (sum_i clip(g_i, C) + N(0, sigma^2 C^2 I)) / batch`` with ``sigma = noise_multiplier``.
    Starts at ``W = V = 0``. Records the mean loss over the whole task. Every draw comes from ``seed``.
    Chapter: gradient leakage in transformer (arXiv 2311.13624).
    """
    X, Y = task.X, task.Y
    check_finite_tensor("task.X", X, ndim=3)
    check_finite_tensor("task.Y", Y, ndim=3)
    noise_multiplier = check_real("noise_multiplier", noise_multiplier, 0.0)
    clip = check_real("clip", clip, 0.0, low_inclusive=False)
    lr = check_real("lr", lr, 0.0, low_inclusive=False)
    steps = check_int("steps", steps, 1, 1_000_000)
    batch = check_int("batch", batch, 1, X.shape[0])
    seed = check_int("seed", seed, 0)
    d, k = X.shape[-1], Y.shape[-1]
    W = torch.zeros(d, d, dtype=X.dtype, device=X.device)
    V = torch.zeros(d, k, dtype=X.dtype, device=X.device)
    _check_model(X, W, V, Y)
    source = generator(seed)
    losses = [attention_loss(X, W, V, Y).mean()]
    for _ in progress(range(steps), desc="noisy SGD"):
        chosen = torch.randperm(X.shape[0], generator=source)[:batch].to(X.device)
        grad_W, grad_V = shared_gradients(X[chosen], W, V, Y[chosen])
        norms = torch.sqrt(grad_W.square().sum(dim=(1, 2)) + grad_V.square().sum(dim=(1, 2)))
        factors = torch.clamp(clip / norms.clamp_min(torch.finfo(X.dtype).tiny), max=1.0)
        noise_W = torch.randn(d, d, generator=source, dtype=torch.float64).to(dtype=X.dtype, device=X.device)
        noise_V = torch.randn(d, k, generator=source, dtype=torch.float64).to(dtype=X.dtype, device=X.device)
        W = W - lr * ((factors[:, None, None] * grad_W).sum(0) + noise_multiplier * clip * noise_W) / batch
        V = V - lr * ((factors[:, None, None] * grad_V).sum(0) + noise_multiplier * clip * noise_V) / batch
        losses.append(attention_loss(X, W, V, Y).mean())
    losses_tensor = torch.stack(losses)
    if not torch.isfinite(losses_tensor).all():
        raise ValueError("noisy SGD diverged (non-finite loss); use a smaller lr")
    return NoisySGDResult(W, V, losses_tensor)
