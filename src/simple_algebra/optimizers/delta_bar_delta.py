"""Delta-bar-delta and its regret-corrected version RDBD: per-weight learning rates that adapt to sign agreement.

Chapter: An automatic learning-rate schedule (Zhao Song, Chiwun Yang; arXiv 2310.11291), Part IV of the book.

Classic delta-bar-delta (Jacobs 1988) keeps one learning rate ``eps_i`` per weight. With ``delta_t`` the current
update direction (the gradient, or a base optimizer's direction) and ``bar_delta`` its exponential average,

    eps_i <- eps_i + kappa            if bar_delta_{t-1, i} * delta_{t, i} > 0   (the direction persists)
    eps_i <- (1 - phi) eps_i          if bar_delta_{t-1, i} * delta_{t, i} < 0   (it flipped: overshoot)
    bar_delta_t = (1 - theta) delta_t + theta bar_delta_{t-1},      w <- w - eps o delta_t.

RDBD ("Regrettable Delta-Bar-Delta") is the paper's correction for noisy mini-batch gradients. The paper's exact
rule was not available to the book; :class:`RegrettableDeltaBarDelta` implements the book's reconstruction: when
the next comparison contradicts the previous learning-rate change of a weight (an increase followed by a sign
flip, or a decrease followed by agreement), that change is *undone* (``eps_i`` goes back to its value before the
change) instead of being compounded, and every learning rate is clipped to ``[clip[0] lr, clip[1] lr]``.

Also here: the 2-D test problems of the chapter's trajectory figure (an ill-conditioned quadratic, Rosenbrock's
valley) with seeded gradient noise, a trajectory recorder, and a plain float64 per-weight reference of both rules.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

from ..core.runtime import generator
from ..core.validation import (
    check_choice,
    check_device,
    check_finite_tensor,
    check_float_dtype,
    check_gradient,
    check_int,
    check_real,
    check_seed,
    check_steps,
)

BASES = ("sgd", "momentum", "adam")
Rows = list[list[float]]
LOG_KEYS = ("step", "lr_min", "lr_q25", "lr_median", "lr_q75", "lr_max", "regrets")


def _check_rule(lr: object, theta: object, kappa: object, phi: object,
                clip: object) -> tuple[float, float, float, float, tuple[float, float]]:
    """The rule's numbers, checked once for the optimizer and its reference: ``lr > 0``, ``theta`` in [0, 1],
    ``kappa >= 0``, ``phi`` in [0, 1), ``clip = (low, high)`` with ``0 <= low <= 1 <= high`` (``high`` may be inf)."""
    lr = check_real("lr", lr, low=0.0, low_inclusive=False)
    theta = check_real("theta", theta, low=0.0, high=1.0)
    kappa = check_real("kappa", kappa, low=0.0)
    phi = check_real("phi", phi, low=0.0, high=1.0, high_inclusive=False)  # phi = 1 zeroes a rate for good
    if not isinstance(clip, Sequence) or isinstance(clip, str) or len(clip) != 2:
        raise ValueError(f"clip must be a pair (low, high), got {clip!r}")
    low = check_real("clip[0]", clip[0], low=0.0)
    high = math.inf if clip[1] == math.inf else check_real("clip[1]", clip[1], low=0.0, low_inclusive=False)
    if not high > low:
        raise ValueError(f"clip must satisfy 0 <= low < high with high > 0, got {clip!r}")
    if not low <= 1.0 <= high:
        raise ValueError(f"clip must contain 1 (the initial learning rate lr), got {clip!r}")
    return lr, theta, kappa, phi, (low, high)


class DeltaBarDelta(torch.optim.Optimizer):
    """Delta-bar-delta with a per-weight learning rate, optionally around a base direction (SGD, momentum, Adam).

    ``lr`` is every weight's initial learning rate; ``theta`` the averaging weight of ``bar_delta``; ``kappa`` the
    additive increase; ``phi`` the multiplicative decrease; ``clip = (low, high)`` keeps each learning rate in
    ``[low lr, high lr]`` (default: no clipping). ``base`` picks the direction ``delta`` that the rule compares and
    steps along: ``"sgd"`` the gradient (Jacobs' rule), ``"momentum"`` the heavy-ball buffer ``m <- mu m + g``,
    ``"adam"`` Adam's bias-corrected ``m_hat / (sqrt(v_hat) + 1e-8)``. ``regret=True`` is RDBD (see the module
    docstring; use :class:`RegrettableDeltaBarDelta`).

    ``log`` records, every ``log_every`` steps, the minimum, quartiles and maximum of all per-weight learning
    rates and the cumulative number of regrets (undone learning-rate changes, RDBD only), as lists.
    Each parameter group is handled as one flat vector, so a step costs a fixed two dozen tensor operations however
    many parameter tensors the model has.
    """

    def __init__(self, params: Iterable[torch.Tensor] | Iterable[dict[str, Any]], lr: float = 1e-2,
                 theta: float = 0.7, kappa: float = 1e-3, phi: float = 0.2, base: str = "sgd",
                 momentum: float = 0.9, betas: tuple[float, float] = (0.9, 0.999),
                 clip: tuple[float, float] = (0.0, math.inf), regret: bool = False, log_every: int = 10) -> None:
        lr, theta, kappa, phi, (low, high) = _check_rule(lr, theta, kappa, phi, clip)
        base = check_choice("base", base, BASES)
        momentum = check_real("momentum", momentum, low=0.0, high=1.0, high_inclusive=False)
        if not isinstance(betas, Sequence) or isinstance(betas, str) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        betas = tuple(check_real(f"betas[{i}]", b, low=0.0, high=1.0, high_inclusive=False) for i, b in enumerate(betas))
        self.log_every = check_int("log_every", log_every, 1)
        defaults = dict(lr=lr, theta=theta, kappa=kappa, phi=phi, base=base, momentum=momentum,
                        betas=tuple(float(b) for b in betas), clip=(low, high), regret=bool(regret))
        super().__init__(params, defaults)
        self.steps = 0
        self.log: dict[str, list[float]] = {key: [] for key in LOG_KEYS}

    def _flat_state(self, group: dict[str, Any], like: torch.Tensor) -> dict[str, Any]:
        state = self.state[group["params"][0]]
        if not state:
            zeros = torch.zeros_like(like)
            state.update(lr=torch.full_like(like, group["lr"]), bar=zeros.clone(), buffer=zeros.clone(),
                         second=zeros.clone(), change=zeros.clone(), before=torch.full_like(like, group["lr"]),
                         steps=0, regrets=torch.zeros_like(like, dtype=torch.int32))
        return state

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:  # type: ignore[override]
        """One update; ``closure`` (optional) recomputes the loss and its gradients, as in ``torch.optim``."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"]]
            if any(p.grad is None for p in params):
                raise ValueError("every parameter needs a gradient before step(); call backward() first")
            # One flat vector per group; torch's C++ (un)flatten helpers save a Python dispatch per parameter tensor.
            grad = _flatten_dense_tensors([p.grad for p in params])
            check_gradient("gradient", grad)  # before the state moves: a refused step changes nothing
            state = self._flat_state(group, grad)
            state["steps"] += 1
            delta = self._direction(group, state, grad)
            eps, bar = state["lr"], state["bar"]
            agreement = bar.mul(delta).sign_()  # +1 persists, -1 flipped, 0 no information (first step, zero)
            if group["regret"]:
                # A change is regretted when the very next comparison says the opposite: undo it, change nothing else.
                regretted = state["change"].mul(agreement) < 0
                agreement.masked_fill_(regretted, 0.0)
                eps = torch.where(regretted, state["before"], eps)
                state["before"] = torch.where(agreement != 0, eps, state["before"])
                state["change"] = agreement
                state["regrets"].add_(regretted)  # per weight, summed when the log reads it: no sync per step
            # agreement is -1, 0 or +1: eps (1 - phi) where it flipped, eps + kappa where it persisted, else eps
            eps = torch.addcmul(eps, eps, agreement.clamp(max=0), value=group["phi"])
            eps.add_(agreement.clamp(min=0), alpha=group["kappa"])
            low, high = group["clip"]
            if low > 0 or high < math.inf:
                eps = eps.clamp(group["lr"] * low, group["lr"] * high)
            state["lr"] = eps
            bar.mul_(group["theta"]).add_(delta, alpha=1 - group["theta"])
            torch._foreach_sub_(params, _unflatten_dense_tensors(eps * delta, params))
        self.steps += 1
        if self.steps % self.log_every == 0 or self.steps == 1:
            self._record()
        return loss

    def _direction(self, group: dict[str, Any], state: dict[str, Any], grad: torch.Tensor) -> torch.Tensor:
        if group["base"] == "sgd":
            return grad
        if group["base"] == "momentum":
            return state["buffer"].mul_(group["momentum"]).add_(grad)
        beta1, beta2 = group["betas"]
        state["buffer"].mul_(beta1).add_(grad, alpha=1 - beta1)
        state["second"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        t = state["steps"]
        return (state["buffer"] / (1 - beta1**t)) / ((state["second"] / (1 - beta2**t)).sqrt() + 1e-8)

    def learning_rates(self) -> torch.Tensor:
        """All per-weight learning rates as one flat vector (the initial ``lr`` before the first step)."""
        parts = []
        for group in self.param_groups:
            state = self.state[group["params"][0]]
            if state:
                parts.append(state["lr"])
            else:
                parts.extend(torch.full((p.numel(),), group["lr"], dtype=p.dtype, device=p.device)
                             for p in group["params"])
        return torch.cat(parts)

    def _record(self) -> None:
        low, q25, median, q75, high = _quartiles(self.learning_rates())
        states = [self.state[g["params"][0]] for g in self.param_groups]
        values = dict(step=self.steps, lr_min=low, lr_q25=q25, lr_median=median, lr_q75=q75, lr_max=high,
                      regrets=sum(int(s["regrets"].sum()) for s in states if s))
        for key in LOG_KEYS:
            self.log[key].append(values[key])


def _quartiles(values: torch.Tensor) -> list[float]:
    """Minimum, quartiles and maximum of a flat tensor (linear interpolation, as ``torch.quantile``).

    One sort and one transfer to the host: ``torch.quantile`` costs about ten times more on these small vectors,
    and the log reads them every few steps.
    """
    ordered = values.sort().values
    last = values.numel() - 1
    positions = [level * last for level in (0.0, 0.25, 0.5, 0.75, 1.0)]
    below = [math.floor(x) for x in positions]
    picked = ordered[torch.tensor(below + [min(i + 1, last) for i in below], device=values.device)].tolist()
    return [picked[j] + (x - i) * (picked[j + 5] - picked[j]) for j, (x, i) in enumerate(zip(positions, below))]


class RegrettableDeltaBarDelta(DeltaBarDelta):
    """RDBD, the book's reconstruction: delta-bar-delta that undoes a learning-rate change the next step contradicts.

    Same arguments as :class:`DeltaBarDelta`; regret is on and learning rates are clipped to
    ``[clip[0] lr, clip[1] lr]``, by default ``[lr / 100, 100 lr]``.
    """

    def __init__(self, params: Iterable[torch.Tensor] | Iterable[dict[str, Any]], lr: float = 1e-2,
                 theta: float = 0.7, kappa: float = 1e-3, phi: float = 0.2, base: str = "sgd",
                 momentum: float = 0.9, betas: tuple[float, float] = (0.9, 0.999),
                 clip: tuple[float, float] = (0.01, 100.0), log_every: int = 10) -> None:
        super().__init__(params, lr=lr, theta=theta, kappa=kappa, phi=phi, base=base, momentum=momentum,
                         betas=betas, clip=clip, regret=True, log_every=log_every)


def delta_bar_delta_reference(gradients: Sequence[Sequence[float]], start: Sequence[float], lr: float, theta: float,
                              kappa: float, phi: float, regret: bool = False,
                              clip: tuple[float, float] = (0.0, math.inf)) -> tuple[Rows, Rows]:
    """Plain float64 delta-bar-delta (``regret=True``: RDBD) on a given gradient sequence, weight by weight.

    ``gradients[t]`` is the gradient seen at step ``t`` (length d each); returns the weights after each step and
    the learning rates used in it, both lists of ``len(gradients)`` lists of d floats. The gradients are given,
    not computed from the weights, so that the rule alone is tested (base direction: the plain gradient).
    """
    lr, theta, kappa, phi, clip = _check_rule(lr, theta, kappa, phi, clip)
    w = _finite_numbers("start", start)
    d = len(w)
    if isinstance(gradients, (str, bytes)) or not isinstance(gradients, Sequence) or len(gradients) == 0:
        raise ValueError(f"gradients must be a non-empty sequence of gradients, got {_brief(gradients)}")
    check_steps("len(gradients)", len(gradients))
    rows = []
    for t, row in enumerate(gradients):
        rows.append(_finite_numbers(f"gradients[{t}]", row))
        if len(rows[-1]) != d:
            raise ValueError(f"every gradient must have {d} entries (as start), got {len(rows[-1])} in gradients[{t}]")
    eps, before = [float(lr)] * d, [float(lr)] * d
    bar, change = [0.0] * d, [0] * d
    weights, rates = [], []
    for g in rows:
        for i in range(d):
            product = bar[i] * float(g[i])
            agree = (product > 0) - (product < 0)
            if regret and change[i] * agree < 0:
                eps[i], change[i] = before[i], 0
            else:
                if agree != 0:
                    before[i] = eps[i]
                    eps[i] = eps[i] + kappa if agree > 0 else eps[i] * (1 - phi)
                change[i] = agree
            eps[i] = min(max(eps[i], lr * clip[0]), lr * clip[1])
            bar[i] = (1 - theta) * float(g[i]) + theta * bar[i]
            w[i] -= eps[i] * float(g[i])
        weights.append(list(w))
        rates.append(list(eps))
    return weights, rates


def _brief(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _finite_numbers(name: str, values: object) -> list[float]:
    """``values`` (a sequence of numbers, or a 1-D tensor) as a non-empty list of finite floats."""
    if isinstance(values, torch.Tensor):
        values = check_finite_tensor(name, values, ndim=1).tolist()
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ValueError(f"{name} must be a sequence of numbers, got {_brief(values)}")
    if len(values) == 0:
        raise ValueError(f"{name} must not be empty, got {_brief(values)}")
    return [check_real(f"{name}[{i}]", value) for i, value in enumerate(values)]


def _check_points(name: str, w: object, size: int | None) -> torch.Tensor:
    """A floating tensor ``(..., size)`` of points for a test problem (finite, so that the loss is)."""
    check_finite_tensor(name, w)
    if size is not None and w.shape[-1] != size:
        raise ValueError(f"{name} must have shape (..., {size}), got {tuple(w.shape)}")
    return w


# --- 2-D test problems and trajectories (the chapter's analogue of the paper's Fig. 1) -------------------------


def ill_conditioned_quadratic(w: torch.Tensor, condition: float = 25.0) -> torch.Tensor:
    """``f(w) = (w_1^2 + condition w_2^2) / 2``, minimum 0 at the origin; ``w`` of shape (2,) or (..., 2)."""
    _check_points("w", w, 2)
    condition = check_real("condition", condition, low=0.0, low_inclusive=False)
    return 0.5 * (w[..., 0] ** 2 + condition * w[..., 1] ** 2)


def rosenbrock(w: torch.Tensor) -> torch.Tensor:
    """Rosenbrock's valley ``f(w) = (1 - w_1)^2 + 100 (w_2 - w_1^2)^2``, minimum 0 at (1, 1); ``w`` (..., 2)."""
    _check_points("w", w, 2)
    return (1 - w[..., 0]) ** 2 + 100 * (w[..., 1] - w[..., 0] ** 2) ** 2


def diagonal_quadratic(curvatures: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """``f(w) = sum_i h_i w_i^2 / 2`` for the given positive curvatures ``h`` (shape (d,)); ``L = max h``."""
    curvatures = check_finite_tensor("curvatures", curvatures, ndim=1)
    if (curvatures <= 0).any():
        raise ValueError(f"curvatures must be positive, got smallest {float(curvatures.min())}")
    size = len(curvatures)

    def quadratic(w: torch.Tensor) -> torch.Tensor:
        _check_points("w", w, size)
        return 0.5 * (curvatures.to(w) * w**2).sum(-1)

    return quadratic


@dataclass
class Trajectory:
    """Points ``(steps + 1, d)`` and losses ``(steps + 1,)`` of one run (float64), and the optimizer's log."""

    points: torch.Tensor
    losses: torch.Tensor
    log: dict[str, Any] = field(default_factory=dict)


def trajectory(loss: Callable[[torch.Tensor], torch.Tensor],
               make_optimizer: Callable[[list[torch.Tensor]], torch.optim.Optimizer], start: Sequence[float],
               steps: int, sigma: float = 0.0, seed: int = 0, dtype: torch.dtype = torch.float64,
               device: torch.device | str = "cpu") -> Trajectory:
    """Run ``make_optimizer([w])`` for ``steps`` steps on ``loss(w)`` from ``start``, with gradient noise ``sigma``.

    Each step's gradient is ``grad f(w) + sigma xi`` with ``xi ~ N(0, I)`` drawn from ``seed``: a stand-in for
    mini-batch noise. A run whose loss becomes non-finite raises ``ValueError``.
    """
    if not callable(loss) or not callable(make_optimizer):
        raise ValueError(f"loss and make_optimizer must be functions, got {type(loss).__name__} and "
                         f"{type(make_optimizer).__name__}")
    steps = check_steps("steps", steps)
    sigma = check_real("sigma", sigma, low=0.0)
    seed = check_seed("seed", seed)
    dtype = check_float_dtype("dtype", dtype)
    device = check_device("device", device)
    w = torch.tensor(_finite_numbers("start", start), dtype=dtype, device=device, requires_grad=True)
    optimizer = make_optimizer([w])
    draw = generator(seed)
    points, losses = [w.detach().clone()], []

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        value = loss(w)
        value.backward()
        if sigma > 0:
            w.grad.add_(sigma * torch.randn(w.shape, generator=draw, dtype=dtype).to(device))
        return value.detach()

    # The closure's loss is f at the point before the step (the noise enters the gradient only): no extra forward.
    for _ in range(steps):
        losses.append(float(optimizer.step(closure)))
        points.append(w.detach().clone())
        if not (math.isfinite(losses[-1]) and math.isfinite(float(points[-1].sum()))):
            raise ValueError("the loss diverged; lower the learning rate or kappa")
    with torch.no_grad():
        losses.append(float(loss(w)))
    if not math.isfinite(losses[-1]):
        raise ValueError("the loss diverged; lower the learning rate or kappa")
    log = {key: list(value) for key, value in getattr(optimizer, "log", {}).items()}
    return Trajectory(torch.stack(points).double(), torch.tensor(losses, dtype=torch.float64), log)


def steps_to_reach(losses: torch.Tensor | Sequence[float], target: float) -> int | None:
    """The first step whose loss is at most ``target`` (``None`` if the run never gets there)."""
    target = check_real("target", target)
    losses = _finite_numbers("losses", losses)
    for index, value in enumerate(losses):
        if float(value) <= target:
            return index
    return None


def constant_rate(params: Iterable[torch.Tensor] | Iterable[dict[str, Any]], lr: float = 1e-2,
                  base: str = "sgd", log_every: int = 10) -> DeltaBarDelta:
    """Plain gradient descent (or momentum / Adam with ``base``) as delta-bar-delta with ``kappa = phi = 0``.

    Every per-weight learning rate stays ``lr``, so this is the base optimizer itself, logged the same way as
    :class:`DeltaBarDelta` (its learning-rate spread is zero): the chapter's baseline.
    """
    return DeltaBarDelta(params, lr=lr, kappa=0.0, phi=0.0, base=base, log_every=log_every)


def noise_stationary_rate(kappa: float, phi: float, regret: bool = False) -> float:
    """Mean per-weight learning rate that DBD (``kappa / phi``) or RDBD (``kappa / phi + kappa``) settles at when the
    directions are pure symmetric noise (chapter "Delta-bar-delta with regret", Song and Yang, arXiv 2310.11291).

    ``delta_t`` is independent of ``bar delta_{t-1}``, so each sign comparison is a fair coin. DBD: the mean obeys
    ``m = (m + kappa) / 2 + (1 - phi) m / 2``. RDBD (the book's regret rule): the last change ``c`` is +, - or none
    with probability 1/3 each, and the chain's stationary mean is ``kappa / phi + kappa``. Clipping is ignored.
    """
    kappa = check_real("kappa", kappa, low=0.0)
    phi = check_real("phi", phi, low=0.0, low_inclusive=False, high=1.0, high_inclusive=False)
    return kappa / phi + (kappa if regret else 0.0)
