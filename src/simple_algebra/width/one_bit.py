"""A two-layer network with 1-bit hidden weights, trained through a straight-through estimator.

Chapter "Scaling 1-bit networks" (Part I), after Daliri, Song and Yang, *Unlocking the Theory Behind Scaling
1-Bit Neural Networks*, arXiv 2411.01663.

The network is ``f(X) = act(X Wq) a / sqrt(m)`` with a latent real matrix ``W (d, m)``, its quantised copy
``Wq`` and fixed output signs ``a``. Gradient descent updates the latent ``W`` with the gradient taken at
``Wq`` (the straight-through estimator). The model details are the book's reconstruction of the paper's
setting; see the chapter's Reconstruction note.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..core.runtime import generator, one_thread, progress
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

SCHEMES = ("full", "sign", "bitnet")
ACTIVATIONS = ("relu", "linear")


def quantize(W: torch.Tensor, scheme: str) -> torch.Tensor:
    """The hidden weights the forward pass uses: ``W`` (full), ``sign(W)``, or ``beta sign(W - alpha)``.

    BitNet: ``alpha = mean(W)``, ``beta = mean(|W|)`` over the whole matrix. ``sign(0)`` is taken as ``+1`` so
    every entry is one bit. Shapes: ``W (d, m) -> (d, m)``. Chapter: Scaling 1-bit networks (Daliri, Song,
    Yang; arXiv 2411.01663).
    """
    W = check_finite_tensor("W", W, ndim=2)
    scheme = check_choice("scheme", scheme, SCHEMES)
    if scheme == "full":
        return W
    if scheme == "sign":
        return torch.where(W >= 0, 1.0, -1.0).to(W)
    if scheme == "bitnet":
        alpha, beta = W.mean(), W.abs().mean()
        return beta * torch.where(W - alpha >= 0, 1.0, -1.0).to(W)
    raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")


def _activate(Z: torch.Tensor, activation: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``act(Z)`` and its derivative ``act'(Z)`` (the ReLU derivative at 0 is taken as 0)."""
    if activation == "relu":
        return Z.clamp(min=0), (Z > 0).to(Z)
    if activation == "linear":
        return Z, torch.ones_like(Z)
    raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")


def forward(X: torch.Tensor, W: torch.Tensor, a: torch.Tensor, scheme: str = "sign",
            activation: str = "relu") -> torch.Tensor:
    """Network output ``f(X) = act(X Wq) a / sqrt(m)`` with ``Wq = quantize(W, scheme)``.

    Shapes: ``X (n, d), W (d, m), a (m,) -> (n,)``. Chapter: Scaling 1-bit networks (Daliri, Song, Yang;
    arXiv 2411.01663).
    """
    _check_shapes(X, W, a)
    activation = check_choice("activation", activation, ACTIVATIONS)
    hidden, _ = _activate(X @ quantize(W, scheme), activation)
    return hidden @ a / math.sqrt(W.shape[1])


def _check_shapes(X: torch.Tensor, W: torch.Tensor, a: torch.Tensor, y: torch.Tensor | None = None) -> None:
    X, a = check_finite_tensor("X", X, ndim=2), check_finite_tensor("a", a, ndim=1)
    check_finite_tensor("W", W, ndim=2)
    if y is not None:
        check_finite_tensor("y", y)
    if X.shape[1] != W.shape[0] or a.shape[0] != W.shape[1] or (y is not None and y.shape != (X.shape[0],)):
        raise ValueError(f"expected X (n, d), W (d, m), a (m,), y (n,); got shapes X {tuple(X.shape)}, W {tuple(W.shape)}, "
                         f"a {tuple(a.shape)}" + (f", y {tuple(y.shape)}" if y is not None else ""))
    check_same_kind(X=X, W=W, a=a, y=y)


def loss_and_gradient(X: torch.Tensor, y: torch.Tensor, W: torch.Tensor, a: torch.Tensor, scheme: str = "sign",
                      activation: str = "relu") -> tuple[float, torch.Tensor]:
    """Mean squared error ``L = mean((f(X) - y)^2) / 2`` and its straight-through gradient for the latent ``W``.

    The gradient is ``dL/dWq = X^T [(r a^T / sqrt(m)) * act'(X Wq)] / n`` with residual ``r = f(X) - y``: the
    gradient at the quantised weights, applied to ``W`` as if ``quantize`` were the identity. Shapes:
    ``X (n, d), y (n,), W (d, m), a (m,) -> (float, (d, m))``. Chapter: Scaling 1-bit networks (Daliri, Song,
    Yang; arXiv 2411.01663).
    """
    _check_shapes(X, W, a, y)
    activation = check_choice("activation", activation, ACTIVATIONS)
    n, m = X.shape[0], W.shape[1]
    Z = X @ quantize(W, scheme)
    hidden, slope = _activate(Z, activation)
    residual = hidden @ a / math.sqrt(m) - y
    # (X^T diag(r) S) diag(a) equals X^T (r a^T * S) with one pass over the (n, m) matrix instead of three.
    gradient = (X * residual[:, None]).T @ slope * (a / (n * math.sqrt(m)))
    return 0.5 * residual.square().mean().item(), gradient


@dataclass(frozen=True)
class RegressionData:
    """Inputs on the unit sphere and a smooth target: ``X_train (n, d), y_train (n,), X_test, y_test``."""

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor


def regression_data(n: int = 64, d: int = 16, n_test: int = 256, seed: int = 0, dtype: torch.dtype = torch.float64,
                    device: torch.device | str = "cpu", bias: bool = False) -> RegressionData:
    """Unit-norm inputs and the target ``y = sin(3 <u, x>) + 0.5 cos(2 <v, x>)`` for random unit ``u, v``.

    ``bias``: append a constant coordinate 1 to every input (``X`` then has ``d + 1`` columns, the first ``d``
    still on the unit sphere), so that each hidden neuron gets a bias weight, quantised like the others. Without
    it a 1-bit network cannot move its mean: for ``x`` uniform on the sphere the mean of ``relu(<x, s>)`` depends
    on ``s`` only through ``|s| = sqrt(d)``, the same for every sign vector, so sign flips leave the mean of
    ``f`` at ``sum(a) / sqrt(m)`` times a constant (zero for the paired init), while the target's mean is about
    ``0.5 E cos(2 <v, x>) ~ 0.43`` at ``d = 16``. Drawn on the CPU from ``seed`` and then moved, so the data are
    the same on every device. Chapter: Scaling 1-bit networks (Daliri, Song, Yang; arXiv 2411.01663).
    """
    n, d, n_test = check_int("n", n, 1), check_int("d", d, 1), check_int("n_test", n_test, 1)
    seed, dtype, device = check_seed("seed", seed), check_float_dtype("dtype", dtype), check_device("device", device)
    if not isinstance(bias, bool):
        raise ValueError(f"bias must be True or False, got {bias!r}")
    check_allocation(f"the (n + n_test, d) inputs for n = {n}, n_test = {n_test}, d = {d}", (n + n_test, d))
    draw = generator(seed)
    X = torch.randn(n + n_test, d, generator=draw, dtype=torch.float64)
    X /= X.norm(dim=1, keepdim=True)
    u, v = torch.randn(2, d, generator=draw, dtype=torch.float64)
    y = torch.sin(3 * X @ (u / u.norm())) + 0.5 * torch.cos(2 * X @ (v / v.norm()))
    if bias:
        X = torch.cat([X, torch.ones(n + n_test, 1, dtype=torch.float64)], dim=1)
    X, y = X.to(device=device, dtype=dtype), y.to(device=device, dtype=dtype)
    return RegressionData(X[:n], y[:n], X[n:], y[n:])


def initial_weights(d: int, width: int, seed: int = 0, paired: bool = True, dtype: torch.dtype = torch.float64,
                    device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Latent ``W ~ N(0, 1)^{d x m}`` and fixed output signs ``a ~ U{-1, +1}^m``, drawn on the CPU from ``seed``.

    ``paired``: neuron ``j + m/2`` copies neuron ``j``'s weights with the opposite output sign, so that
    ``f = 0`` at init for every quantiser (the 1-bit and full-precision networks then differ only through
    training, not through two different random initial functions). Shapes: ``W (d, m), a (m,)``. Chapter:
    Scaling 1-bit networks (Daliri, Song, Yang; arXiv 2411.01663).
    """
    d, width = check_int("d", d, 1), check_int("width", width, 2, 1 << 20)
    seed, dtype, device = check_seed("seed", seed), check_float_dtype("dtype", dtype), check_device("device", device)
    check_allocation(f"the (d, width) latent weights for d = {d}, width = {width}", (d, width))
    draw = generator(seed)
    W = torch.randn(d, width, generator=draw, dtype=torch.float64)
    a = torch.randint(0, 2, (width,), generator=draw).to(torch.float64) * 2 - 1
    if paired:
        if width % 2:
            raise ValueError(f"a paired init needs an even width, got {width}")
        W = torch.cat([W[:, :width // 2]] * 2, dim=1)
        a = torch.cat([a[:width // 2], -a[:width // 2]])
    return W.to(device=device, dtype=dtype), a.to(device=device, dtype=dtype)


@dataclass(frozen=True)
class TrainResult:
    """One training run: ``losses (steps + 1,)`` is the train loss ``mean((f - y)^2)`` before each step and at
    the end; ``flip_fraction`` is the fraction of latent entries whose quantised value changed sign from init;
    ``test_outputs (n_test,)`` are the trained network's outputs on the test inputs."""

    losses: list[float]
    train_mse: float
    test_mse: float
    flip_fraction: float
    test_outputs: torch.Tensor


def train(data: RegressionData, width: int, scheme: str = "sign", activation: str = "relu", lr: float = 4.0,
          steps: int = 200, seed: int = 0, paired: bool = True) -> TrainResult:
    """Full-batch gradient descent on the latent ``W`` with the straight-through gradient of :func:`loss_and_gradient`.

    ``W <- W - lr (1 - t / steps) dL/dWq`` for ``t = 0, ..., steps - 1``; the init comes from
    :func:`initial_weights` with ``seed``, on the data's device and dtype. The flip fraction compares the signs
    of ``quantize(W)`` at the end and at the start. Raises ``ValueError`` if the loss stops being finite (the
    step size is too large). Chapter: Scaling 1-bit networks (Daliri, Song, Yang; arXiv 2411.01663).
    """
    lr = check_real("lr", lr, low=0.0, low_inclusive=False)
    steps = check_steps("steps", steps, 0)
    if scheme not in SCHEMES or activation not in ACTIVATIONS:
        raise ValueError(f"scheme must be one of {SCHEMES} and activation one of {ACTIVATIONS}, "
                         f"got {scheme!r} and {activation!r}")
    _check_data(data)
    X, y = data.X_train, data.y_train
    W, a = initial_weights(X.shape[1], width, seed, paired=paired, dtype=X.dtype, device=X.device)
    start_signs = quantize(W, scheme) > 0
    losses = []
    for step in range(steps + 1):
        loss, gradient = loss_and_gradient(X, y, W, a, scheme, activation)
        if not math.isfinite(loss):
            raise ValueError(f"the loss became {loss} at step {len(losses)} (width {width}, {scheme}); "
                             f"lower the learning rate lr={lr}")
        losses.append(2 * loss)  # report the plain MSE
        if step < steps:
            # A step size that decays linearly to zero: near the end, latent entries sitting at zero would
            # otherwise flip back and forth (chatter) and keep the 1-bit loss from settling.
            W = W - lr * (1 - step / steps) * gradient
    test_outputs = forward(data.X_test, W, a, scheme, activation)
    test_mse = (test_outputs - data.y_test).square().mean().item()
    if not math.isfinite(test_mse):
        raise ValueError(f"the test MSE became {test_mse} (width {width}, {scheme}); lower the learning rate lr={lr}")
    flips = (quantize(W, scheme) > 0) != start_signs
    return TrainResult(losses, losses[-1], test_mse, flips.double().mean().item(), test_outputs)


def _check_data(data: RegressionData) -> None:
    """Four finite tensors of one dtype: ``X_train (n, d)``, ``y_train (n,)``, ``X_test (n_test, d)``, ``y_test``."""
    if not isinstance(data, RegressionData):
        raise ValueError(f"data must be a RegressionData (from regression_data), got {type(data).__name__}")
    X_train, y_train = check_finite_tensor("data.X_train", data.X_train, ndim=2), data.y_train
    X_test, y_test = check_finite_tensor("data.X_test", data.X_test, ndim=2), data.y_test
    check_finite_tensor("data.y_train", y_train, ndim=1)
    check_finite_tensor("data.y_test", y_test, ndim=1)
    check_same_kind(**{"data.X_train": X_train, "data.y_train": y_train, "data.X_test": X_test,
                       "data.y_test": y_test})
    if y_train.shape[0] != X_train.shape[0] or y_test.shape[0] != X_test.shape[0] or X_test.shape[1] != X_train.shape[1]:
        raise ValueError(f"data must hold X_train (n, d), y_train (n,), X_test (n_test, d), y_test (n_test,), got "
                         f"{tuple(X_train.shape)}, {tuple(y_train.shape)}, {tuple(X_test.shape)}, {tuple(y_test.shape)}")


@dataclass(frozen=True)
class Comparison:
    """A 1-bit run and a full-precision run from the same latent init, and their generalization difference
    ``mean over test x of (f_1bit(x) - f_full(x))^2``."""

    full: TrainResult
    one_bit: TrainResult
    generalization_difference: float


def compare(data: RegressionData, width: int, scheme: str = "sign", activation: str = "relu", lr: float = 4.0,
            steps: int = 200, seed: int = 0, paired: bool = True) -> Comparison:
    """Train the 1-bit network (``scheme``) and the full-precision one from the SAME init and compare them.

    Generalization difference: ``(1 / n_test) sum_x (f_1bit(x) - f_full(x))^2`` over the test inputs. Chapter:
    Scaling 1-bit networks (Daliri, Song, Yang; arXiv 2411.01663).
    """
    if scheme == "full":
        raise ValueError(f"scheme must be a 1-bit scheme ('sign' or 'bitnet') to compare with full precision, got {scheme!r}")
    full = train(data, width, "full", activation, lr, steps, seed, paired)
    one_bit = train(data, width, scheme, activation, lr, steps, seed, paired)
    difference = (one_bit.test_outputs - full.test_outputs).square().mean().item()
    return Comparison(full, one_bit, difference)


def width_sweep(data: RegressionData, widths: Sequence[int], seeds: Sequence[int], scheme: str = "sign",
                activation: str = "relu", lr: float = 4.0, steps: int = 200,
                paired: bool = True) -> dict[str, dict[int, float]]:
    """Medians over ``seeds`` of each width's numbers: ``{quantity: {width: median}}``.

    Quantities: ``full_train``, ``one_bit_train``, ``full_test``, ``one_bit_test`` (MSE at the end, after the
    step size has decayed to zero), ``full_train_half``, ``one_bit_train_half`` (train MSE half-way through the
    run, at step size ``lr / 2``), ``one_bit_test_mean`` (the mean of the 1-bit network's test outputs),
    ``generalization_difference`` and ``flip_fraction`` (of the 1-bit run). Chapter: Scaling 1-bit networks
    (Daliri, Song, Yang; arXiv 2411.01663).
    """
    try:
        widths, seeds = list(widths), list(seeds)
    except TypeError as error:
        raise ValueError(f"widths and seeds must be sequences of integers, got {widths!r} and {seeds!r}") from error
    if len(widths) == 0 or len(seeds) == 0:
        raise ValueError(f"widths and seeds must not be empty, got {widths} and {seeds}")
    for width in widths:
        check_int("widths", width, 2, 1 << 20)
    for seed in seeds:
        check_seed("seeds", seed)
    steps = check_steps("steps", steps, 0)
    with one_thread():  # many small matrix products: threads only add waiting
        runs = {(width, seed): compare(data, width, scheme, activation, lr, steps, seed, paired)
                for width in progress(widths, desc="widths") for seed in seeds}
    measures = {"full_train": lambda c: c.full.train_mse, "one_bit_train": lambda c: c.one_bit.train_mse,
                "full_test": lambda c: c.full.test_mse, "one_bit_test": lambda c: c.one_bit.test_mse,
                "full_train_half": lambda c: c.full.losses[steps // 2],
                "one_bit_train_half": lambda c: c.one_bit.losses[steps // 2],
                "one_bit_test_mean": lambda c: c.one_bit.test_outputs.mean().item(),
                "generalization_difference": lambda c: c.generalization_difference,
                "flip_fraction": lambda c: c.one_bit.flip_fraction}
    return {name: {width: statistics.median(measure(runs[width, seed]) for seed in seeds) for width in widths}
            for name, measure in measures.items()}
