"""Defences against gradient leakage: clip and noise (the Gaussian mechanism), its privacy cost, and noisy SGD.

The defence clips the shared gradient to a *fixed* norm ``C`` and adds ``N(0, sigma^2 C^2)`` noise: the Gaussian
mechanism. :func:`gaussian_epsilon` is the classical one-release bound; :func:`dp_sgd_epsilon` accounts for many
(subsampled) releases with Opacus' Renyi-DP accountant, a maintained implementation, not composition by hand.
:func:`noisy_sgd` trains the attention layer of :mod:`simple_algebra.privacy.attention_model` with per-sequence
clipping and noise (DP-SGD).

Chapter: A theoretical insight into attack and defense of gradient leakage in transformer
(C. Li, Z. Song, W. Wang, C. Yang; arXiv 2311.13624).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch

from ..core.runtime import generator, progress
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
    check_steps,
)
from .attention_model import _check_gradients, _check_model, _gradients, _loss, attention_output, gradient_norm

CONVENTIONS = ("add_remove", "replace_one")



def clip_and_noise(gradients: tuple[torch.Tensor, ...], clip: float, noise_multiplier: float,
                   seed: int) -> tuple[torch.Tensor, ...]:
    """The defence: ``g~ = g min(1, C / ||g||) + N(0, sigma^2 C^2 I)``, the Gaussian mechanism on a clipped gradient.

    ``||g||`` is the norm over all parts together (:func:`gradient_norm`); ``sigma = noise_multiplier``. The noise
    is drawn from ``seed`` on the CPU and moved to the gradients' device, so the same seed gives the same noise
    everywhere. Returns parts of the same shapes. Chapter: gradient leakage in transformer (arXiv 2311.13624).
    """
    gradients = _check_gradients("gradients", gradients)
    clip = check_real("clip", clip, 0.0, low_inclusive=False)
    noise_multiplier = check_real("noise_multiplier", noise_multiplier, 0.0)
    if not math.isfinite(noise_multiplier * clip):
        raise ValueError(f"noise_multiplier * clip (the noise's standard deviation) must be finite, got "
                         f"noise_multiplier={noise_multiplier}, clip={clip}")
    seed = check_seed("seed", seed)
    norm = float(gradient_norm(gradients))
    factor = min(1.0, clip / norm) if norm > 0 else 1.0
    source = generator(seed)
    noisy = []
    for part in gradients:
        noise = torch.randn(part.shape, generator=source, dtype=torch.float64).to(dtype=part.dtype, device=part.device)
        noisy.append(part * factor + noise_multiplier * clip * noise)
    return tuple(noisy)


def _sensitivity_factor(convention: str) -> float:
    check_choice("convention", convention, CONVENTIONS)
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
    epsilon = _sensitivity_factor(convention) * math.sqrt(2.0 * math.log(1.25 / delta)) / noise_multiplier
    if not math.isfinite(epsilon):
        raise ValueError(f"noise_multiplier is too small: epsilon overflows, got noise_multiplier={noise_multiplier}")
    return epsilon


def dp_sgd_epsilon(noise_multiplier: float, steps: int, delta: float, sample_rate: float = 1.0) -> float:
    """The ``epsilon`` of ``steps`` releases of the Gaussian mechanism, by Opacus' Renyi-DP accountant, at ``delta``.

    Each release is a sum of per-example gradients clipped to a fixed norm ``C`` plus ``N(0, sigma^2 C^2 I)``
    (``sigma = noise_multiplier``), on a batch that holds each example with probability ``sample_rate`` (Poisson
    subsampling; ``sample_rate = 1`` uses every example, no amplification, and bounds any batching under the
    add/remove convention). The accountant (``opacus.accountants.RDPAccountant``; Mironov 2017, Mironov, Talwar and
    Zhang 2019) composes the Renyi divergences order by order and converts to ``(epsilon, delta)`` by Balle et al.
    (2020, Thm. 21), over Opacus' default orders. Chapter: gradient leakage in transformer (arXiv 2311.13624).
    """
    from opacus.accountants import RDPAccountant  # imported here: only the accountant needs it

    noise_multiplier = check_real("noise_multiplier", noise_multiplier, 0.0, low_inclusive=False)
    steps = check_steps("steps", steps)
    delta = check_real("delta", delta, 0.0, 1.0, low_inclusive=False)
    if delta >= 1.0:
        raise ValueError(f"delta must be in (0, 1), got {delta}")
    sample_rate = check_real("sample_rate", sample_rate, 0.0, 1.0, low_inclusive=False)
    accountant = RDPAccountant()
    # The accountant's record of ``steps`` identical calls to accountant.step(): (sigma, q, count).
    accountant.history = [(noise_multiplier, sample_rate, steps)]
    with warnings.catch_warnings():  # "optimal order is the smallest alpha": the bound is valid, only loose
        warnings.simplefilter("ignore", UserWarning)
        epsilon = float(accountant.get_epsilon(delta))
    if not math.isfinite(epsilon):
        raise ValueError(f"noise_multiplier is too small for the accountant: epsilon is not finite, got "
                         f"noise_multiplier={noise_multiplier}")
    return epsilon


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
    seed = check_seed("seed", seed)
    label_noise = check_real("label_noise", label_noise, 0.0)
    dtype = check_float_dtype("dtype", dtype)
    device = check_device("device", device) if device is not None else None
    check_allocation(f"the task (sequences x tokens x max(tokens, dim) for sequences = {sequences}, tokens = {tokens}, "
                     f"dim = {dim})", (sequences, tokens, max(tokens, dim)), torch.float64)
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
    if not isinstance(task, RegressionTask):
        raise ValueError(f"task must be a RegressionTask (see teacher_task()), got {type(task).__name__}")
    X, Y = task.X, task.Y
    check_finite_tensor("task.X", X, ndim=3)
    check_finite_tensor("task.Y", Y, ndim=3)
    check_same_kind(**{"task.X": X, "task.Y": Y})
    noise_multiplier = check_real("noise_multiplier", noise_multiplier, 0.0)
    clip = check_real("clip", clip, 0.0, low_inclusive=False)
    if not math.isfinite(noise_multiplier * clip):
        raise ValueError(f"noise_multiplier * clip (the noise's standard deviation) must be finite, got "
                         f"noise_multiplier={noise_multiplier}, clip={clip}")
    lr = check_real("lr", lr, 0.0, low_inclusive=False)
    steps = check_steps("steps", steps, high=1_000_000)
    batch = check_int("batch", batch, 1, X.shape[0])
    seed = check_seed("seed", seed)
    d, k = X.shape[-1], Y.shape[-1]
    W = torch.zeros(d, d, dtype=X.dtype, device=X.device)
    V = torch.zeros(d, k, dtype=X.dtype, device=X.device)
    _check_model(X, W, V, Y)
    source = generator(seed)
    losses = [_loss(X, W, V, Y).mean()]
    for _ in progress(range(steps), desc="noisy SGD"):
        chosen = torch.randperm(X.shape[0], generator=source)[:batch].to(X.device)
        grad_W, grad_V = _gradients(X[chosen], W, V, Y[chosen])  # checked once above; a diverged run is reported below
        norms = torch.sqrt(grad_W.square().sum(dim=(1, 2)) + grad_V.square().sum(dim=(1, 2)))
        factors = torch.clamp(clip / norms.clamp_min(torch.finfo(X.dtype).tiny), max=1.0)
        noise_W = torch.randn(d, d, generator=source, dtype=torch.float64).to(dtype=X.dtype, device=X.device)
        noise_V = torch.randn(d, k, generator=source, dtype=torch.float64).to(dtype=X.dtype, device=X.device)
        W = W - lr * ((factors[:, None, None] * grad_W).sum(0) + noise_multiplier * clip * noise_W) / batch
        V = V - lr * ((factors[:, None, None] * grad_V).sum(0) + noise_multiplier * clip * noise_V) / batch
        losses.append(_loss(X, W, V, Y).mean())
    losses_tensor = torch.stack(losses)
    if not torch.isfinite(losses_tensor).all():
        raise ValueError("noisy SGD diverged (non-finite loss); use a smaller lr")
    return NoisySGDResult(W, V, losses_tensor)
