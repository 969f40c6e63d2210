"""Fourier circuits: one-hidden-layer networks that learn modular addition of k inputs, and their spectra.

The data set ``D_p`` holds every tuple ``(a_1, ..., a_k)`` in ``Z_p^k`` with label ``(a_1 + ... + a_k) mod p``.
Neuron ``i`` has one embedding ``u_{i,j} in R^p`` per input position and an output vector ``w_i in R^p``:

    f(theta, a) = sum_{i=1}^m (u_{i,1}[a_1] + ... + u_{i,k}[a_k])^k w_i        (no biases),

so ``f`` is ``(k+1)``-homogeneous in ``theta``. The book stores ``u`` as ``(m, k, p)`` and ``w`` as ``(m, p)``;
a one-hot input times ``u`` is a lookup, so the code gathers by index instead of multiplying one-hot matrices.

This module holds the data, the network, its margins and its training. The largest margin ``gamma*`` of Theorem 4.1
and Lemma 4.3's construction are in :mod:`simple_algebra.width.fourier_construction`; the networks' Fourier spectra
in :mod:`simple_algebra.width.fourier_spectra`.

Chapter: Fourier circuits (Li, Liang, Shi, Song, Zhou; arXiv 2402.09469).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from ..core.runtime import generator, one_thread, progress
from ..core.validation import (
    check_allocation,
    check_device,
    check_finite_tensor,
    check_float_dtype,
    check_gradient,
    check_int,
    check_real,
    check_same_kind,
    check_seed,
    check_steps,
)

MAX_PRIME = 10_007
MAX_TUPLES = 1 << 26
EVALUATION_CHUNK = 1 << 15


def _check_prime(p: object) -> int:
    p = check_int("p", p, 3, MAX_PRIME)
    if any(p % divisor == 0 for divisor in range(2, math.isqrt(p) + 1)):
        raise ValueError(f"p must be an odd prime, got {p}")
    return p


def _check_problem(p: object, k: object) -> tuple[int, int]:
    p = _check_prime(p)
    k = check_int("k", k, 2, 16)
    if p**k > MAX_TUPLES:
        raise ValueError(f"p^k = {p}^{k} tuples is more than the {MAX_TUPLES} this module enumerates")
    return p, k


def _check_parameters(u: torch.Tensor, w: torch.Tensor) -> tuple[int, int, int]:
    """Validate ``u (m, k, p)`` and ``w (m, p)``; return ``(m, k, p)``."""
    check_finite_tensor("u", u, ndim=3)
    check_finite_tensor("w", w, ndim=2)
    check_same_kind(u=u, w=w)
    m, k, p = u.shape
    if w.shape != (m, p):
        raise ValueError(f"w must have shape (m, p) = ({m}, {p}) to match u of shape {tuple(u.shape)}, "
                         f"got {tuple(w.shape)}")
    if k < 2:
        raise ValueError(f"u must have k >= 2 input positions, got shape {tuple(u.shape)}")
    if p < 3:
        raise ValueError(f"u must have p >= 3 residues (the last axis), got shape {tuple(u.shape)}")
    return m, k, p


def modular_addition_data(p: int, k: int,
                          device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The full data set ``D_p``: all ``p^k`` tuples ``(p^k, k)`` (long) and labels ``sum_j a_j mod p`` ``(p^k,)``.

    Tuples are listed in lexicographic order (the last position changes fastest).
    Chapter: Fourier circuits (Li, Liang, Shi, Song, Zhou; arXiv 2402.09469).
    """
    p, k = _check_problem(p, k)
    device = check_device("device", device) if device is not None else None
    residues = torch.arange(p, device=device)
    tuples = torch.cartesian_prod(*([residues] * k)).reshape(-1, k)
    return tuples, tuples.sum(dim=1) % p


def network_output(u: torch.Tensor, w: torch.Tensor, tuples: torch.Tensor) -> torch.Tensor:
    """``f(theta, a) = sum_i (sum_j u_{i,j}[a_j])^k w_i`` for a batch of tuples.

    Shapes: ``u (m, k, p)``, ``w (m, p)``, ``tuples (n, k)`` (long, entries in ``0..p-1``) -> logits ``(n, p)``.
    Chapter: Fourier circuits (Li, Liang, Shi, Song, Zhou; arXiv 2402.09469).
    """
    m, k, p = _check_parameters(u, w)
    _check_tuples(tuples, k, p)
    return _output(u.permute(1, 2, 0), w, tuples)


def _check_tuples(tuples: object, k: int, p: int) -> None:
    """``tuples`` is a non-empty integer tensor ``(n, k)`` of residues in ``0..p-1``."""
    if not isinstance(tuples, torch.Tensor):
        raise ValueError(f"tuples must be an integer tensor of shape (n, {k}), got {type(tuples).__name__}")
    if tuples.ndim != 2 or tuples.shape[1] != k or tuples.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"tuples must be an integer tensor of shape (n, {k}), "
                         f"got {tuple(tuples.shape)} {tuples.dtype}")
    if tuples.shape[0] == 0:
        raise ValueError(f"tuples must not be empty, got shape {tuple(tuples.shape)}")
    if int(tuples.min()) < 0 or int(tuples.max()) >= p:
        raise ValueError(f"tuple entries must lie in 0..{p - 1}, got entries from {int(tuples.min())} to "
                         f"{int(tuples.max())}")


def _output(embedding: torch.Tensor, w: torch.Tensor, tuples: torch.Tensor) -> torch.Tensor:
    # embedding is u laid out as (k, p, m): row a_j of position j is a contiguous lookup.
    k = embedding.shape[0]
    hidden = embedding[0][tuples[:, 0]]
    for j in range(1, k):
        hidden = hidden + embedding[j][tuples[:, j]]
    return hidden.pow(k) @ w


def neuron_norms(u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``||theta_i||_2 = sqrt(sum_j ||u_{i,j}||^2 + ||w_i||^2)`` for every neuron: ``(m, k, p), (m, p) -> (m,)``.

    Chapter: Fourier circuits (Li, Liang, Shi, Song, Zhou; arXiv 2402.09469).
    """
    _check_parameters(u, w)
    return (u.pow(2).sum(dim=(1, 2)) + w.pow(2).sum(dim=1)).sqrt()


def parameter_norm(u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The ``(2, k+1)`` norm ``||theta||_{2,k+1} = (sum_i ||theta_i||_2^{k+1})^{1/(k+1)}`` (a 0-d tensor).

    Chapter: Fourier circuits (Li, Liang, Shi, Song, Zhou; arXiv 2402.09469).
    """
    _, k, _ = _check_parameters(u, w)
    size = neuron_norms(u, w).pow(k + 1).sum().pow(1.0 / (k + 1))
    if not bool(torch.isfinite(size)):
        # The norm is 1-homogeneous: compute it for theta / s (s the largest entry), then multiply by s.
        scale = torch.maximum(u.abs().max(), w.abs().max())
        size = neuron_norms(u / scale, w / scale).pow(k + 1).sum().pow(1.0 / (k + 1)) * scale
        if not bool(torch.isfinite(size)):
            raise ValueError(f"the (2, k+1) norm of theta overflows {u.dtype} (largest |entry| {float(scale):.3g})")
    return size


def margins(u: torch.Tensor, w: torch.Tensor, tuples: torch.Tensor | None = None,
            labels: torch.Tensor | None = None) -> torch.Tensor:
    """Margins ``f[y] - max_{y' != y} f[y']`` on every example (default: all of ``D_p``); shape ``(n,)``.

    The data are evaluated in chunks, so the full ``D_p`` of a large problem fits in memory.
    Chapter: Fourier circuits (Li, Liang, Shi, Song, Zhou; arXiv 2402.09469).
    """
    m, k, p = _check_parameters(u, w)
    if tuples is None:
        tuples, labels = modular_addition_data(p, k, device=u.device)
    _check_tuples(tuples, k, p)
    if not isinstance(labels, torch.Tensor) or labels.shape != tuples.shape[:1]:
        got = tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise ValueError(f"labels must be given with tuples, one per tuple: shape ({tuples.shape[0]},), got {got}")
    if labels.dtype not in (torch.int64, torch.int32) or int(labels.min()) < 0 or int(labels.max()) >= p:
        raise ValueError(f"labels must be integers in 0..{p - 1}, got {labels.dtype} from {labels.min().item()} "
                         f"to {labels.max().item()}")
    embedding = u.permute(1, 2, 0).contiguous()
    pieces = []
    with torch.no_grad():
        for start in range(0, tuples.shape[0], EVALUATION_CHUNK):
            logits = _output(embedding, w, tuples[start:start + EVALUATION_CHUNK])
            pieces.append(_margin_of_logits(logits, labels[start:start + EVALUATION_CHUNK]))
    return torch.cat(pieces)


def _margin_of_logits(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    correct = logits.gather(1, labels[:, None])[:, 0]
    others = logits.scatter(1, labels[:, None], -math.inf)
    return correct - others.max(dim=1).values


def normalised_margin(u: torch.Tensor, w: torch.Tensor) -> float:
    """``min_{(a, y) in D_p} margin / ||theta||_{2,k+1}^{k+1}``: scale-free, comparable with :func:`max_margin`.

    Shapes: ``u (m, k, p)``, ``w (m, p)``. Chapter: Fourier circuits (Li, Liang, Shi, Song, Zhou; arXiv 2402.09469).
    """
    _, k, _ = _check_parameters(u, w)
    size = parameter_norm(u, w).pow(k + 1)
    if float(size) == 0.0:
        raise ValueError("the normalised margin of the zero network is undefined, got u and w all zero")
    margin = float(margins(u, w).min() / size)
    if not math.isfinite(margin):
        # Margin and size are both (k+1)-homogeneous: the ratio of theta / s is the same, and does not overflow.
        scale = torch.maximum(u.abs().max(), w.abs().max())
        u, w = u / scale, w / scale
        margin = float(margins(u, w).min() / parameter_norm(u, w).pow(k + 1))
        if not math.isfinite(margin):
            raise ValueError(f"the normalised margin is not finite for entries of size {float(scale):.3g}")
    return margin


def initial_parameters(p: int, k: int, width: int, seed: int = 0, dtype: torch.dtype = torch.float64,
                       device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Random ``u (m, k, p)`` and ``w (m, p)`` with i.i.d. ``N(0, 1/k)`` entries, drawn from ``seed``.

    Variance ``1/k`` makes each hidden pre-activation ``sum_j u_{i,j}[a_j]`` standard normal for every ``k``.
    Chapter: Fourier circuits (Li, Liang, Shi, Song, Zhou; arXiv 2402.09469).
    """
    p, k = _check_problem(p, k)
    width = check_int("width", width, 1, 1 << 20)
    seed, dtype = check_seed("seed", seed), check_float_dtype("dtype", dtype)
    device = check_device("device", device) if device is not None else None
    check_allocation(f"the (width, k, p) embeddings for width = {width}, k = {k}, p = {p}", (width, k, p), dtype)
    draw = generator(seed)
    scale = 1.0 / math.sqrt(k)
    u = torch.randn(width, k, p, generator=draw, dtype=dtype) * scale
    w = torch.randn(width, p, generator=draw, dtype=dtype) * scale
    return u.to(device), w.to(device)


@dataclass
class FourierRun:
    """One training run: final parameters, initial parameters, and the history of the normalised margin."""

    p: int
    k: int
    width: int
    seed: int
    u: torch.Tensor
    w: torch.Tensor
    initial_u: torch.Tensor
    initial_w: torch.Tensor
    recorded_steps: list[int] = field(default_factory=list)
    normalised_margins: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    train_accuracies: list[float] = field(default_factory=list)
    test_accuracies: list[float] = field(default_factory=list)

    @property
    def gamma_star(self) -> float:
        from .fourier_construction import max_margin  # that module builds on this one's checks

        return max_margin(self.p, self.k)

    @property
    def margin_ratio(self) -> float:
        """Final normalised margin over ``gamma*`` (at most 1 by Theorem 4.1)."""
        return self.normalised_margins[-1] / self.gamma_star


def train(p: int, k: int, width: int, steps: int, lr: float = 0.02, penalty: float = 0.005, seed: int = 0,
          record_every: int = 500, warmup: int = 10, betas: tuple[float, float] = (0.9, 0.98),
          weight_decay: float = 0.0, train_fraction: float = 1.0, batch_size: int | None = None,
          dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> FourierRun:
    """AdamW on ``mean cross-entropy + penalty * ||theta||_{2,k+1}`` over ``D_p``; returns a :class:`FourierRun`.

    Full batch on the whole ``D_p`` by default (the theorem is about the full data set). With
    ``train_fraction < 1`` a seeded random split trains on that fraction and records test accuracy (grokking);
    ``batch_size`` draws minibatches from the training part. The learning rate warms up linearly over ``warmup``
    steps. Every ``record_every`` steps (and at 0 and ``steps``) it records the normalised margin on all of
    ``D_p``, the loss and the accuracies. Initialisation: :func:`initial_parameters`.
    Chapter: Fourier circuits (Li, Liang, Shi, Song, Zhou; arXiv 2402.09469).
    """
    p, k = _check_problem(p, k)
    width = check_int("width", width, 1, 1 << 20)
    steps = check_steps("steps", steps, 0)
    seed = check_int("seed", seed, 0, 2**63 - 3)  # the split and the batches use seed + 1 and seed + 2
    dtype = check_float_dtype("dtype", dtype)
    device = check_device("device", device) if device is not None else None
    if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    for index, beta in enumerate(betas):
        check_real(f"betas[{index}]", beta, 0.0, 1.0, high_inclusive=False)
    record_every = check_int("record_every", record_every, 1)
    warmup = check_int("warmup", warmup, 0)
    lr = check_real("lr", lr, 0.0, low_inclusive=False)
    penalty = check_real("penalty", penalty, 0.0)
    weight_decay = check_real("weight_decay", weight_decay, 0.0)
    train_fraction = check_real("train_fraction", train_fraction, 0.0, 1.0, low_inclusive=False)
    if batch_size is not None:
        batch_size = check_int("batch_size", batch_size, 1)

    tuples, labels = modular_addition_data(p, k, device=device)
    split = generator(seed + 1)
    order = torch.randperm(tuples.shape[0], generator=split).to(tuples.device)
    n_train = max(1, round(train_fraction * tuples.shape[0]))
    train_index, test_index = order[:n_train], order[n_train:]
    if train_fraction == 1.0:
        train_index = torch.arange(tuples.shape[0], device=tuples.device)
    train_tuples, train_labels = tuples[train_index], labels[train_index]
    batch = n_train if batch_size is None else min(batch_size, n_train)
    check_allocation(f"the (batch, width) hidden layer for {batch} tuples and width = {width}", (batch, width), dtype,
                     device)
    check_allocation(f"the (chunk, width) hidden layer of the margins for width = {width}",
                     (min(EVALUATION_CHUNK, tuples.shape[0]), width), dtype, device)

    u0, w0 = initial_parameters(p, k, width, seed=seed, dtype=dtype, device=device)
    # Training works on u laid out as (k, p, m), so that looking up row a_j of position j is contiguous.
    embedding = u0.permute(1, 2, 0).contiguous().requires_grad_(True)
    w = w0.clone().requires_grad_(True)
    optimiser = torch.optim.AdamW([embedding, w], lr=lr, betas=betas, weight_decay=weight_decay)
    batches = generator(seed + 2)
    run = FourierRun(p, k, width, seed, u0, w0, u0, w0)

    def record(step: int, loss: float) -> None:
        with torch.no_grad():
            u_now = embedding.detach().permute(2, 0, 1)
            all_margins = margins(u_now, w.detach(), tuples, labels)
            size = parameter_norm(u_now, w.detach()).pow(k + 1)
        run.recorded_steps.append(step)
        run.normalised_margins.append(float(all_margins.min() / size))
        run.losses.append(loss)
        correct = all_margins > 0
        run.train_accuracies.append(float(correct[train_index].double().mean()))
        run.test_accuracies.append(float(correct[test_index].double().mean()) if len(test_index) else float("nan"))

    def objective() -> torch.Tensor:
        if batch_size is None or batch_size >= n_train:
            batch_tuples, batch_labels = train_tuples, train_labels
        else:
            pick = torch.randint(n_train, (batch_size,), generator=batches).to(train_tuples.device)
            batch_tuples, batch_labels = train_tuples[pick], train_labels[pick]
        logits = _output(embedding, w, batch_tuples)
        norms = (embedding.pow(2).sum(dim=(0, 1)) + w.pow(2).sum(dim=1)).sqrt()
        return (torch.nn.functional.cross_entropy(logits, batch_labels)
                + penalty * norms.pow(k + 1).sum().pow(1.0 / (k + 1)))

    with one_thread():
        with torch.no_grad():
            initial_loss = float(objective())
        record(0, initial_loss)
        for step in progress(range(1, steps + 1), desc=f"Fourier circuit p={p} k={k} m={width}"):
            for group in optimiser.param_groups:
                group["lr"] = lr * min(1.0, step / warmup) if warmup else lr
            optimiser.zero_grad(set_to_none=True)
            loss = objective()
            loss.backward()
            check_gradient(f"the gradient of u at step {step}", embedding.grad)
            check_gradient(f"the gradient of w at step {step}", w.grad)
            optimiser.step()
            if step % record_every == 0 or step == steps:
                record(step, float(loss.detach()))
    run.u = embedding.detach().permute(2, 0, 1).contiguous()
    run.w = w.detach().clone()
    if not all(math.isfinite(value) for value in run.normalised_margins):
        raise ValueError("training diverged (non-finite margin); use a smaller lr")
    return run
