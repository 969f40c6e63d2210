"""Two-layer softmax, exp and ReLU networks in the NTK regime, and the width sweep that compares them.

The network is ``F(W, x) = kappa <a, act(W^T x)>`` with ``W in R^{d x m}`` trained and ``a in {-1, +1}^m``
fixed. For the softmax activation the ``m`` neurons are normalised against each other,

    S(x) = softmax(W^T x)  (over the m neurons),   F(W, x) = sqrt(m) <a, S(x)>,

and the gradient of one neuron is ``dF/dw_r = kappa S_r (a_r - <a, S>) x``. The scale ``kappa`` is the book's
convention, so that ``F = O(1)`` and an ``O(1)`` tangent kernel at initialisation (``W`` standard normal, inputs of
norm about 1): ``kappa = sqrt(m)`` for softmax (each ``S_r`` is about ``1/m``), ``1/sqrt(m)`` for exp and ReLU.

Chapter: The frontiers of softmax (Gu, Li, Liang, Shi, Song; arXiv 2405.03251).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from ..core.metrics import relative_error
from ..core.runtime import generator, one_thread, progress
from ..core.validation import (
    MAX_SEED,
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
from .kernels import eigenvalues, empirical_ntk, kernel_gradient_descent, train_recording_kernel

ACTIVATIONS = ("softmax", "exp", "relu")
MAX_WIDTH = 1 << 20
NETWORK_SEED_OFFSET = 1000


def output_scale(activation: str, width: int) -> float:
    """The book's ``kappa``: ``sqrt(m)`` for softmax, ``1/sqrt(m)`` for exp and ReLU (``F = O(1)`` at init)."""
    activation = _check_activation(activation)
    width = check_int("width", width, 1, MAX_WIDTH)
    return math.sqrt(width) if activation == "softmax" else 1.0 / math.sqrt(width)


def _check_activation(activation: str) -> str:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    return activation


def limiting_kernel(activation: str, x1: torch.Tensor, x2: torch.Tensor | None = None,
                    init_scale: float = 1.0) -> torch.Tensor:
    """The infinite-width NTK ``H(x, x') = lim_m H_m(x, x')`` of :class:`TwoLayerNetwork`, in closed form.

    With ``w ~ N(0, s^2 I)`` (``s = init_scale``) and ``u = <x, x'>``: exp gives ``E e^{<w, x + x'>} u =
    e^{s^2 |x + x'|^2 / 2} u``; softmax, whose normaliser concentrates at ``m e^{s^2 |x|^2 / 2}``, gives
    ``e^{s^2 u} u`` (the exp kernel divided by ``e^{s^2 (|x|^2 + |x'|^2) / 2}``: ``/ e`` on the unit sphere);
    ReLU gives the arc-cosine kernel ``u (pi - theta) / (2 pi)``. Shapes: ``(n, d), (k, d) -> (n, k)``.
    Chapter: The frontiers of softmax (arXiv 2405.03251).
    """
    activation = _check_activation(activation)
    scale = check_real("init_scale", init_scale, 0.0, low_inclusive=False) ** 2
    x2 = x1 if x2 is None else check_finite_tensor("x2", x2, ndim=2)
    check_shape("x1", check_finite_tensor("x1", x1, ndim=2), (None, x2.shape[1]))
    check_same_kind(x1=x1, x2=x2)
    inner = x1 @ x2.T
    if activation == "relu":
        norms = (x1.norm(dim=1)[:, None] * x2.norm(dim=1)[None, :]).clamp_min(torch.finfo(inner.dtype).tiny)
        return inner * (math.pi - torch.arccos((inner / norms).clamp(-1, 1))) / (2 * math.pi)
    if activation == "softmax":
        return torch.exp(scale * inner) * inner
    return torch.exp(scale * ((x1 * x1).sum(1)[:, None] + (x2 * x2).sum(1)[None, :] + 2 * inner) / 2) * inner


def hidden_activation(preactivation: torch.Tensor, activation: str) -> torch.Tensor:
    """``act(u)`` over the last axis (the ``m`` neurons): softmax (max-subtracted), exp or ReLU.

    ``exp`` has no normalisation to subtract a maximum against, so it raises ``ValueError`` when ``e^u``
    overflows the dtype instead of returning ``inf`` / NaN. Shapes: ``(..., m) -> (..., m)``.
    """
    activation = _check_activation(activation)
    check_finite_tensor("preactivation", preactivation)
    if activation == "softmax":
        return torch.softmax(preactivation, dim=-1)
    if activation == "relu":
        return torch.relu(preactivation)
    try:
        largest = float(preactivation.detach().max())
    except RuntimeError:
        # Inside torch.func transforms (vmap in empirical_ntk) a value cannot be read; the plain forward pass
        # that precedes every kernel computation in this module has already checked the same inputs.
        largest = -math.inf
    if largest >= math.log(torch.finfo(preactivation.dtype).max):
        raise ValueError(f"exp overflows {preactivation.dtype}: the largest pre-activation is {largest:.1f}; "
                         "use smaller inputs or init_scale, or the softmax activation")
    return torch.exp(preactivation)


class TwoLayerNetwork(nn.Module):
    """``F(W, x) = kappa <a, act(W^T x)>``: ``W (d, m)`` is the only parameter, ``a`` a fixed sign buffer.

    ``W`` has i.i.d. ``N(0, init_scale^2)`` entries and ``a`` i.i.d. uniform signs, both drawn from ``seed``;
    ``kappa`` is :func:`output_scale`. Input ``(n, d)`` -> output ``(n,)``. dtype/device as given.
    Chapter: The frontiers of softmax (arXiv 2405.03251).
    """

    def __init__(self, input_dim: int, width: int, activation: str = "softmax", seed: int = 0,
                 init_scale: float = 1.0, dtype: torch.dtype = torch.float64,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        self.input_dim = check_int("input_dim", input_dim, 1)
        self.width = check_int("width", width, 1, MAX_WIDTH)
        self.activation = _check_activation(activation)
        init_scale = check_real("init_scale", init_scale, 0.0, low_inclusive=False)
        seed, dtype = check_seed("seed", seed), check_float_dtype("dtype", dtype)
        device = check_device("device", device) if device is not None else None
        check_allocation(f"the (input_dim, width) weight for input_dim = {self.input_dim}, width = {self.width}",
                         (self.input_dim, self.width), dtype)
        self.kappa = output_scale(activation, width)
        draw = generator(seed)
        weight = init_scale * torch.randn(self.input_dim, self.width, generator=draw, dtype=dtype)
        signs = 2.0 * torch.randint(0, 2, (self.width,), generator=draw).to(dtype) - 1.0
        self.weight = nn.Parameter(weight.to(device))
        self.register_buffer("signs", signs.to(device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_shape("x", x, (None, self.input_dim))
        check_same_kind(x=x, weight=self.weight)
        check_finite_tensor("weight", self.weight)
        return self.kappa * hidden_activation(x @ self.weight, self.activation) @ self.signs


def softmax_network_gradient(weight: torch.Tensor, signs: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Exact gradient of the softmax network, ``dF/dw_r = sqrt(m) S_r (a_r - <a, S>) x``, ``S = softmax(W^T x)``.

    The reference that autograd is tested against. Shapes: ``weight (d, m)``, ``signs (m,)``, ``x (n, d)``
    -> ``(n, d, m)`` (the gradient of ``F(W, x_i)`` with respect to ``W`` for every input).
    """
    check_finite_tensor("weight", weight, ndim=2)
    check_finite_tensor("signs", signs, ndim=1)
    check_finite_tensor("x", x, ndim=2)
    d, m = weight.shape
    if signs.shape[0] != m or x.shape[1] != d:
        raise ValueError(f"shapes must be weight (d, m), signs (m,), x (n, d); got {tuple(weight.shape)}, "
                         f"{tuple(signs.shape)}, {tuple(x.shape)}")
    check_same_kind(weight=weight, signs=signs, x=x)
    check_allocation(f"the (n, d, m) gradients for n = {x.shape[0]}, d = {d}, m = {m}", (x.shape[0], d, m),
                     x.dtype, x.device)
    probabilities = torch.softmax(x @ weight, dim=1)  # (n, m)
    centred = signs[None, :] - (probabilities @ signs)[:, None]
    return math.sqrt(m) * x[:, :, None] * (probabilities * centred)[:, None, :]


def sphere_regression(n: int, input_dim: int, seed: int = 0, frequency: float = 3.0,
                      dtype: torch.dtype = torch.float64,
                      device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The chapter's regression task: ``x_i`` uniform on the unit sphere, ``y_i = sin(frequency <v, x_i>)``.

    ``v`` is a random unit vector drawn from the same seed: a smooth single-index target of size ``O(1)``,
    which every kernel of the chapter can fit. Returns ``x (n, d)``, ``y (n,)``.
    Chapter: The frontiers of softmax (arXiv 2405.03251).
    """
    n, input_dim = check_int("n", n, 1), check_int("input_dim", input_dim, 1)
    frequency = check_real("frequency", frequency, 0.0)
    seed, dtype = check_seed("seed", seed), check_float_dtype("dtype", dtype)
    device = check_device("device", device) if device is not None else None
    check_allocation(f"the (n, input_dim) inputs for n = {n}, input_dim = {input_dim}", (n, input_dim), dtype)
    draw = generator(seed)
    x = torch.randn(n, input_dim, generator=draw, dtype=dtype)
    x = x / x.norm(dim=1, keepdim=True)
    direction = torch.randn(input_dim, generator=draw, dtype=dtype)
    y = torch.sin(frequency * x @ (direction / direction.norm()))
    return x.to(device), y.to(device)


def gradient_descent_step_size(kernel: torch.Tensor, n: int, factor: float = 1.0) -> float:
    """``lr = factor * n / lambda_max(H_0)`` for the loss ``(1/2n) sum (f - y)^2``.

    With this loss the residual moves as ``r <- (I - lr H_0 / n) r``, so ``factor = 1`` takes the fastest
    kernel direction to zero in one step and ``factor < 2`` is the stability limit of the linearised dynamics.
    """
    factor = check_real("factor", factor, 0.0, low_inclusive=False)
    n = check_int("n", n, 1)
    largest = float(eigenvalues(kernel)[-1])
    if largest <= 0:
        raise ValueError(f"the kernel has no positive eigenvalue, got largest eigenvalue {largest:.3g}")
    return factor * n / largest


@dataclass
class WidthRun:
    """One training run of :func:`width_sweep`."""

    activation: str
    width: int
    seed: int
    lr: float
    movement: float
    lambda_min: float
    lambda_max: float
    losses: list[float] = field(default_factory=list)
    spectrum_initial: torch.Tensor | None = None
    spectrum_final: torch.Tensor | None = None
    probe: torch.Tensor | None = None  # with probes: [probe; x], H_0([probe; x], x), outputs there (steps 0, .., T)
    cross_initial: torch.Tensor | None = None
    output_steps: list[int] = field(default_factory=list)
    outputs: list[torch.Tensor] = field(default_factory=list)


def train_network(activation: str, width: int, x: torch.Tensor, y: torch.Tensor, steps: int, seed: int = 0,
                  lr_factor: float = 1.0, init_scale: float = 1.0, probe: torch.Tensor | None = None,
                  output_steps: tuple[int, ...] = ()) -> tuple[TwoLayerNetwork, WidthRun]:
    """Train one :class:`TwoLayerNetwork` by full-batch GD with ``lr = lr_factor * n / lambda_max(H_0)``.

    Returns the trained network and a :class:`WidthRun` with the relative NTK movement
    ``||H_T - H_0||_F / ||H_0||_F``, ``lambda_min(H_0)``, ``lambda_max(H_0)``, the loss at every step and the
    eigenvalues (descending) of ``H_0`` and ``H_T``. With ``probe`` (k, d) it keeps ``run.probe = [probe; x]``,
    ``H_0([probe; x], x)`` and the outputs on ``[probe; x]`` at steps 0, ``output_steps`` and ``steps``.
    """
    check_same_kind(x=check_finite_tensor("x", x, ndim=2), y=check_shape("y", y, (x.shape[0],)))
    steps = check_steps("steps", steps, 0)
    network = TwoLayerNetwork(x.shape[1], width, activation, seed=seed, init_scale=init_scale,
                              dtype=x.dtype, device=x.device)
    initial = empirical_ntk(network, x)
    lr = gradient_descent_step_size(initial, x.shape[0], lr_factor)
    probe = None if probe is None else torch.cat([check_shape("probe", probe, (None, x.shape[1])), x])
    cross = None if probe is None else empirical_ntk(network, probe, x)
    record = train_recording_kernel(network, x, y, steps, lr, probe=probe, output_steps=output_steps,
                                    kernel=lambda net, _: empirical_ntk(net, x))  # the kernel stays on x
    spectrum = eigenvalues(initial)
    run = WidthRun(activation, width, seed, lr, record.movement, float(spectrum[0]), float(spectrum[-1]),
                   record.losses, spectrum.flip(0).cpu(), eigenvalues(record.kernels[-1]).flip(0).cpu())
    if probe is not None:
        run.probe, run.cross_initial, run.output_steps, run.outputs = probe, cross, record.output_steps, record.outputs
    return network, run


def width_sweep(widths: Sequence[int], activations: Sequence[str] = ACTIVATIONS, seeds: Sequence[int] = (0,),
                n: int = 32, input_dim: int = 8, steps: int = 500, lr_factor: float = 1.0,
                init_scale: float = 1.0, dtype: torch.dtype = torch.float64,
                device: torch.device | str | None = None, probes: int = 0,
                output_steps: tuple[int, ...] = ()) -> list[WidthRun]:
    """Train every (activation, width, seed) on :func:`sphere_regression`; one :class:`WidthRun` each.

    ``probes > 0`` records the function on that many fresh points of the sphere (``run.probe``).

    The data depend on the seed only, so all activations and widths of one seed fit the same task.
    Chapter: The frontiers of softmax (arXiv 2405.03251).
    """
    steps = check_steps("steps", steps, 1)
    n, input_dim = check_int("n", n, 1), check_int("input_dim", input_dim, 1)
    lists = {}
    for name, values in (("widths", widths), ("activations", activations), ("seeds", seeds)):
        try:
            lists[name] = list(values) if not isinstance(values, str) else None
        except TypeError as error:
            raise ValueError(f"{name} must be a sequence, got {values!r}") from error
        if not lists[name]:
            raise ValueError(f"{name} must be a non-empty sequence (write [{values!r}] for one), got {values!r}")
    widths, activations, seeds = lists["widths"], lists["activations"], lists["seeds"]
    for activation in activations:
        _check_activation(activation)
    for width in widths:
        check_int("widths", width, 1, MAX_WIDTH)
    for seed in seeds:
        # The network's stream is seed + NETWORK_SEED_OFFSET (probes: + 2 offsets), which must stay a valid seed too.
        check_int("seeds", seed, 0, MAX_SEED - 2 * NETWORK_SEED_OFFSET)
    runs = []
    jobs = [(seed, activation, width) for seed in seeds for activation in activations for width in widths]
    with one_thread():
        for seed, activation, width in progress(jobs, desc="width sweep"):
            x, y = sphere_regression(n, input_dim, seed=seed, dtype=dtype, device=device)
            # The network gets its own stream (seed + NETWORK_SEED_OFFSET) so W is independent of the data.
            probe = sphere_regression(probes, input_dim, seed + 2 * NETWORK_SEED_OFFSET, dtype=dtype,
                                      device=device)[0] if probes else None
            _, run = train_network(activation, width, x, y, steps, seed=seed + NETWORK_SEED_OFFSET,
                                   lr_factor=lr_factor, init_scale=init_scale, probe=probe,
                                   output_steps=output_steps)
            run.seed = seed
            runs.append(run)
    return runs


def summarise(runs: Sequence[WidthRun], quantity: str,
              statistic: str = "geometric_mean") -> dict[str, dict[int, float]]:
    """``quantity`` (``movement``, ``lambda_min``, ``lambda_max``, ``final_loss``, ``lr``) over seeds, per
    activation and width: ``{activation: {width: value}}``. Chapter: The frontiers of softmax (arXiv 2405.03251).

    ``statistic`` is ``"geometric_mean"`` (the default: the mean on the log scale of a log-log plot, and robust to
    the occasional seed whose largest softmax neuron runs away at moderate width), ``"median"``, ``"mean"`` or
    ``"max"`` (the worst seed).
    """
    if quantity not in ("movement", "lambda_min", "lambda_max", "final_loss", "lr"):
        raise ValueError(f"unknown quantity {quantity!r}; expected one of ('movement', 'lambda_min', 'lambda_max', "
                         "'final_loss', 'lr')")
    reducers = {"geometric_mean": statistics.geometric_mean, "median": statistics.median,
                "mean": statistics.fmean, "max": max}
    statistic = check_choice("statistic", statistic, tuple(reducers))
    runs = list(runs)
    if not runs or not all(isinstance(run, WidthRun) for run in runs):
        raise ValueError(f"runs must be a non-empty list of WidthRun (from width_sweep), got {runs!r}"[:200])
    table: dict[str, dict[int, list[float]]] = {}
    for run in runs:
        value = run.losses[-1] if quantity == "final_loss" else getattr(run, quantity)
        value = check_real(f"{quantity} of the {run.activation} run of width {run.width}", value)
        if statistic == "geometric_mean" and value <= 0:
            raise ValueError(f"the geometric mean needs positive values, got {quantity} = {value} for the "
                             f"{run.activation} run of width {run.width}; use statistic='median'")
        table.setdefault(run.activation, {}).setdefault(run.width, []).append(value)
    return {activation: {width: reducers[statistic](values) for width, values in sorted(by_width.items())}
            for activation, by_width in table.items()}


def circle_features(x: torch.Tensor, scale: float = 2.0) -> torch.Tensor:
    """Embed a 1-D input on a circle with a bias: ``phi(x) = (cos(x/scale), sin(x/scale), 1) / sqrt(2)``.

    On these features neuron ``r`` computes ``A_r cos(x/scale - theta_r) + b_r``, a bump at angle
    ``theta_r``, so the softmax over neurons becomes a smooth partition of the line (``|x| < pi scale``).
    Shapes: ``x (n, 1)`` or ``(n,)`` -> ``(n, 3)``; every row has norm 1.
    Chapter: The frontiers of softmax (arXiv 2405.03251).
    """
    scale = check_real("scale", scale, 0.0, low_inclusive=False)
    check_finite_tensor("x", x)
    if not (x.ndim == 1 or (x.ndim == 2 and x.shape[1] == 1)):
        raise ValueError(f"circle_features expects 1-D inputs of shape (n,) or (n, 1), got {tuple(x.shape)}")
    x = x.reshape(-1, 1)
    angle = x / scale
    return torch.cat([torch.cos(angle), torch.sin(angle), torch.ones_like(angle)], dim=1) / math.sqrt(2.0)


@dataclass
class ScoreFit:
    """A softmax network trained on the score of a 1-D mixture at one time (see :func:`learn_score`)."""

    network: TwoLayerNetwork
    scale: float
    train_x: torch.Tensor
    train_score: torch.Tensor
    run: WidthRun
    relative_error: float
    initial_relative_error: float
    kernel_relative_error: float = math.nan  # limit-kernel GD from 0: the same steps, lr = lr_factor n / lambda_max

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """The learned score at ``x (n, 1)`` -> ``(n,)``."""
        with torch.no_grad():
            return self.network(circle_features(x, self.scale))


def learn_score(mixture, t: float, n: int = 64, width: int = 1024, steps: int = 400, seed: int = 0,
                scale: float = 2.0, test_samples: int = 4000, lr_factor: float = 1.0) -> ScoreFit:
    """Train a softmax network to regress the exact score ``s_t = d/dx log p_t`` of a 1-D Gaussian mixture.

    ``mixture`` is a 1-D :class:`~simple_algebra.diffusion.gaussian_mixture.GaussianMixture` at time 0; ``n`` training
    inputs are drawn from ``p_t`` (its OU diffusion at time ``t``) with targets ``s_t(x_i)``; the network sees
    :func:`circle_features`. The relative error on ``test_samples`` fresh draws of ``p_t`` is kept for the trained
    and the untrained network and for kernel gradient descent from zero with :func:`limiting_kernel` (the network's
    infinite-width limit without its random ``f_0``: the same steps and step rule). Chapter: The frontiers of softmax (arXiv 2405.03251).
    """
    from ..diffusion.gaussian_mixture import GaussianMixture

    if not isinstance(mixture, GaussianMixture):
        raise ValueError(f"mixture must be a GaussianMixture, got {type(mixture).__name__}")
    if mixture.dim != 1:
        raise ValueError(f"learn_score needs a 1-D mixture, got dimension {mixture.dim}")
    t = check_real("t", t, 0.0)
    n, width = check_int("n", n, 1), check_int("width", width, 1, MAX_WIDTH)
    steps, seed = check_steps("steps", steps, 0), check_int("seed", seed, 0, MAX_SEED - NETWORK_SEED_OFFSET)
    scale = check_real("scale", scale, 0.0, low_inclusive=False)
    test_samples = check_int("test_samples", test_samples, 1)
    check_allocation(f"the {test_samples} test samples", (test_samples, 1))
    diffused, draw = mixture.at_time(t), generator(seed)
    train_x, test_x = diffused.sample(n, draw), diffused.sample(test_samples, draw)
    train_score, test_score = diffused.score(train_x)[:, 0], diffused.score(test_x)[:, 0]
    features, test_features = circle_features(train_x, scale), circle_features(test_x, scale)
    untrained = TwoLayerNetwork(3, width, "softmax", seed=seed + NETWORK_SEED_OFFSET, dtype=features.dtype,
                                device=features.device)
    with torch.no_grad():
        initial_error = relative_error(untrained(test_features), test_score)
    limit = limiting_kernel("softmax", features)
    regression = kernel_gradient_descent(limit, train_score, gradient_descent_step_size(limit, n, lr_factor), steps,
                                         cross=limiting_kernel("softmax", test_features, features))
    with one_thread():
        network, run = train_network("softmax", width, features, train_score, steps,
                                     seed=seed + NETWORK_SEED_OFFSET, lr_factor=lr_factor)
    run.seed = seed
    fit = ScoreFit(network, scale, train_x, train_score, run, 0.0, initial_error,
                   relative_error(regression, test_score))
    fit.relative_error = relative_error(fit(test_x), test_score)
    return fit
