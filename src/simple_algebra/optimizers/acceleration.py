"""A unified view of first-order directions as "gradient + acceleration term", and two plug-in accelerations.

Chapter: Enhancing stochastic gradient descent (Deng, Song, Yang; arXiv 2402.01515). The paper writes the update
direction of any first-order method as the stochastic gradient plus an acceleration term,

    g = grad + 2 |<v, grad>| / ||v||^2 v,

so that the sign of ``<v, grad>`` decides the geometry: ``<v, grad> < 0`` gives the Householder reflection
``(I - 2 v v^T / ||v||^2) grad`` (same length, less descent: *decelerating*), ``<v, grad> >= 0`` the stretch
``(I + 2 v v^T / ||v||^2) grad`` (longer, more descent: *accelerating*). Only the abstract was available; the rules of
Reject Accelerating (RA) and Random Vector Accelerating (RVA) in :class:`Accelerated` are the book's reading of it:

- every base optimizer has a *plain* direction ``r`` (the gradient for SGD and SGD with momentum; Adam's
  preconditioned gradient ``grad / (sqrt(v_hat) + eps)``, which has the units of Adam's own direction), and the
  acceleration term of its direction ``d`` is ``a = d - r``; the step is accelerating when ``<a, r> > 0``;
- RA: when ``<a, r> < 0`` the step uses ``r`` instead of ``d``; the base optimizer's buffers (momentum, Adam's
  moments) are updated as usual either way;
- RVA: the minibatch gradient is replaced by ``grad + 2 <u, grad> / ||u||^2 u`` with ``u ~ N(0, I)`` drawn from an
  explicit seed before the base optimizer sees it (always accelerating; the expected gain is ``2 / dimension``).

The label depends on how momentum is *written*. ``base="momentum"`` is torch's sum form ``b = beta b + g``, step
``lr b``: it decelerates exactly when ``<b_prev, g> < 0``, when the new gradient points against the previous step, a
property of the weight trajectory alone. ``base="average"`` is the average form ``m = beta m + (1 - beta) g``, step
``lr m``: at ``lr / (1 - beta)`` it moves the weights identically, but it decelerates when ``<m_prev, g> < ||g||^2``.
:func:`deceleration_forecast` predicts the sum form's labels step by step.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

from ..core.runtime import generator, one_thread
from ..core.validation import (
    check_allocation,
    check_choice,
    check_finite_tensor,
    check_gradient,
    check_int,
    check_real,
    check_same_kind,
    check_seed,
    check_steps,
)

BASES = ("sgd", "momentum", "adam")
WRITINGS = BASES + ("average",)  # "average": heavy ball in average form
RULES = ("none", "ra", "rva")


def _pair(gradient: torch.Tensor, v: torch.Tensor) -> None:
    check_finite_tensor("gradient", gradient)
    check_finite_tensor("v", v)
    check_same_kind(gradient=gradient, v=v)
    if gradient.shape[-1:] != v.shape[-1:] or gradient.ndim != 1:
        raise ValueError(f"gradient must be a vector (d,) and v of shape (..., d), got {tuple(gradient.shape)} and "
                         f"{tuple(v.shape)}")
    zero = (v * v).sum(dim=-1) == 0  # ||v||^2, the very number the direction divides by (it underflows first)
    if bool(zero.any()):
        raise ValueError(f"v must be non-zero: the acceleration term divides by ||v||^2, got {int(zero.sum())} "
                         f"zero vector(s) of {zero.numel()}")


def framework_direction(gradient: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The paper's direction ``grad + 2 |<v, grad>| / ||v||^2 v`` for a gradient ``(d,)`` and vectors ``v (..., d)``.

    Returns the shape of ``v``. Chapter: Enhancing SGD (Deng, Song, Yang; arXiv 2402.01515).
    """
    _pair(gradient, v)
    inner = (v * gradient).sum(dim=-1, keepdim=True)
    return gradient + 2 * inner.abs() / (v * v).sum(dim=-1, keepdim=True) * v


def householder(v: torch.Tensor) -> torch.Tensor:
    """The Householder reflection ``I - 2 v v^T / ||v||^2`` (d, d) across the hyperplane orthogonal to ``v (d,)``."""
    check_finite_tensor("v", v, ndim=1)
    if float(v @ v) == 0:
        raise ValueError(f"v must be non-zero (the reflection divides by ||v||^2), got ||v||^2 = {float(v @ v)}")
    check_allocation(f"the d x d reflection for d = {len(v)}", (len(v), len(v)), v.dtype, v.device)
    return torch.eye(len(v), dtype=v.dtype, device=v.device) - 2 * torch.outer(v, v) / (v @ v)


def framework_direction_reference(gradient: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Float64 matrix form of :func:`framework_direction` for one ``v (d,)``: reflect if ``<v, grad> < 0``, else
    stretch.

    Reflection ``H grad`` with ``H = I - 2 v v^T / ||v||^2``; stretch ``(2 I - H) grad = (I + 2 v v^T / ||v||^2) grad``.
    """
    _pair(gradient, v)
    gradient, v = gradient.double(), v.double()
    if v.ndim != 1:
        raise ValueError(f"the reference takes one vector v (d,), got shape {tuple(v.shape)}")
    reflection = householder(v)
    matrix = reflection if float(v @ gradient) < 0 else 2 * torch.eye(len(v), dtype=v.dtype) - reflection
    return matrix @ gradient


def cos_squared(gradient: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``<v, grad>^2 / (||v||^2 ||grad||^2)`` for ``v (..., d)``; shape ``v.shape[:-1]``."""
    _pair(gradient, v)
    size = float(gradient @ gradient)
    if size == 0:
        raise ValueError(f"gradient must be non-zero: cos^2 divides by ||gradient||^2, got ||gradient||^2 = {size}")
    inner = (v * gradient).sum(dim=-1)
    return inner**2 / ((v * v).sum(dim=-1) * (gradient @ gradient))


def acceleration_split(direction: torch.Tensor, plain: torch.Tensor) -> tuple[torch.Tensor, float, float]:
    """Split a direction ``d (d,)`` into ``plain + a``; returns ``(a, <a, plain> / ||plain||^2, cos^2(a, plain))``.

    The middle number is positive for an accelerating step, negative for a decelerating one, 0 when ``a = 0``. For a
    direction of the paper's form (``a = 2 |<v, g>| / ||v||^2 v``) it equals ``+-2 cos^2(v, g)``.
    """
    check_finite_tensor("direction", direction, ndim=1)
    check_finite_tensor("plain", plain, ndim=1)
    check_same_kind(direction=direction, plain=plain)
    if direction.shape != plain.shape:
        raise ValueError(f"direction and plain must have the same shape, got {tuple(direction.shape)} and "
                         f"{tuple(plain.shape)}")
    size = float(plain @ plain)
    if size == 0:
        raise ValueError(f"plain (the gradient) must be non-zero: the split divides by ||plain||^2, got {size}")
    term = direction - plain
    inner, term_size = float(term @ plain), float(term @ term)
    return term, inner / size, (inner * inner / (term_size * size) if term_size > 0 else 0.0)


def random_vector_gain(dimension: int) -> float:
    """RVA's expected extra descent ``E <d - g, g> / ||g||^2 = 2 E cos^2(u, g) = 2 / dimension``, ``u ~ N(0, I)``."""
    return 2.0 / check_int("dimension", dimension, 1)


def bound_factor(steps: int, accelerating: int, decelerating: int, u_a: float, u_b: float, b: float) -> float:
    """``sqrt(T + 8 k B) / (T + 2 k u_a - 2 l u_b)`` with ``T = steps``, ``k = accelerating``, ``l = decelerating``.

    The factor in front of ``sqrt(2 (f(x_0) - f*) L sigma^2)`` in the convergence bound as reported by a secondary
    summary of arXiv 2402.01515; ``k = l = 0`` gives SGD's ``1 / sqrt(T)``. Returns ``inf`` when the denominator is
    not positive (the bound says nothing).
    """
    steps = check_int("steps", steps, 1)
    accelerating = check_int("accelerating", accelerating, 0, steps)
    decelerating = check_int("decelerating", decelerating, 0, steps - accelerating)
    u_a, u_b, b = (check_real(name, value, low=0.0) for name, value in (("u_a", u_a), ("u_b", u_b), ("b", b)))
    denominator = steps + 2 * accelerating * u_a - 2 * decelerating * u_b
    return math.sqrt(steps + 8 * accelerating * b) / denominator if denominator > 0 else math.inf


def _log_columns(log: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``gain`` and ``stretch`` columns of an :class:`Accelerated` log, checked: one finite number per step."""
    if not isinstance(log, Mapping):
        raise ValueError(f"log must be an Accelerated optimizer's log (a dict), got {type(log).__name__}")
    columns = []
    for key in ("gain", "stretch"):
        if key not in log:
            raise ValueError(f"log must have a {key!r} list (an Accelerated optimizer's log), got keys {sorted(log)}")
        try:
            column = torch.tensor(list(log[key]), dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError) as error:
            raise ValueError(f"log[{key!r}] must be a list of numbers, got {str(log[key])[:60]}") from error
        if column.ndim != 1:
            raise ValueError(f"log[{key!r}] must be a flat list of numbers, got shape {tuple(column.shape)}")
        columns.append(column)
    gains, stretch = columns
    if len(gains) == 0:
        raise ValueError("log must hold at least one step, got an empty 'gain' list")
    if len(gains) != len(stretch):
        raise ValueError(f"log['gain'] and log['stretch'] must have one entry per step, got {len(gains)} and "
                         f"{len(stretch)}")
    check_finite_tensor("log['gain']", gains)
    check_finite_tensor("log['stretch']", stretch)
    return gains, stretch


def bound_estimates(log: Mapping[str, Any]) -> dict[str, float]:
    """Running estimates of the bound's ``T, k, l, u_a, u_b, B`` from an :class:`Accelerated` log, and its factor.

    The book's reading (its derivation is in the chapter): ``u_a`` and ``u_b`` are the mean of
    ``|<a, r>| / (2 ||r||^2)`` over accelerating and decelerating steps (``cos^2`` in the paper's form), ``B`` the
    mean of ``(||d||^2 - ||r||^2) / (8 ||r||^2)`` over accelerating steps (also ``cos^2`` for a
    stretch). Adds ``factor`` and ``sgd_factor = 1 / sqrt(T)``.
    """
    gains, stretch = _log_columns(log)
    up, down = gains > 0, gains < 0
    k, l = int(up.sum()), int(down.sum())
    u_a = float(gains[up].mean()) / 2 if k else 0.0
    u_b = float(-gains[down].mean()) / 2 if l else 0.0
    b = max(float(stretch[up].mean()) / 8, 0.0) if k else 0.0
    steps = len(gains)
    return {"T": steps, "k": k, "l": l, "u_a": u_a, "u_b": u_b, "B": b,
            "factor": bound_factor(steps, k, l, u_a, u_b, b), "sgd_factor": 1 / math.sqrt(steps)}


def bound_factor_curve(log: Mapping[str, Any], points: int = 50) -> tuple[list[int], list[float]]:
    """The factor divided by SGD's ``1 / sqrt(t)`` after ``t`` steps, at ``points`` values of ``t`` (from the log)."""
    points = check_steps("points", points)
    total = len(_log_columns(log)[0])
    if points >= total:  # then the grid below hits every step: t = 1, ..., total (no loop over a huge points)
        times = list(range(1, total + 1))
    else:
        times = sorted({max(1, round(total * (j + 1) / points)) for j in range(points)})
    ratios = []
    for t in times:
        partial = {"gain": log["gain"][:t], "stretch": log["stretch"][:t]}
        ratios.append(bound_estimates(partial)["factor"] * math.sqrt(t))
    return times, ratios


def flip_probability(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, direction: torch.Tensor,
                     batch_size: int, draws: int = 2048, seed: int = 0) -> float:
    """``P(<direction, minibatch gradient> < 0)`` for a batch of ``batch_size`` rows drawn without replacement from
    ``(x, y)``, under the cross-entropy of ``model`` (its parameters, flattened in order, are ``direction``'s layout).

    One forward-mode pass gives every row's ``c_i = <direction, grad loss_i>``; the batch's inner product is their
    mean over a uniform subset, counted over ``draws`` subsets (disjoint batches of random orders of the rows, from
    ``seed``; error at most ``0.5 / sqrt(draws)``). A normal approximation overstated small probabilities here.
    Chapter: Enhancing SGD (arXiv 2402.01515): the chance that minibatch noise makes a momentum step decelerate.
    """
    from torch.func import functional_call, jvp

    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_finite_tensor("x", x, ndim=2)
    check_finite_tensor("direction", direction, ndim=1)
    names, weights = zip(*((name, p.detach()) for name, p in model.named_parameters()))
    if direction.numel() != sum(w.numel() for w in weights):
        raise ValueError(f"direction must have one entry per model weight ({sum(w.numel() for w in weights)}), "
                         f"got {direction.numel()}")
    check_same_kind(x=x, direction=direction, weights=weights[0])
    if not isinstance(y, torch.Tensor) or y.shape != x.shape[:1] or y.is_floating_point():
        raise ValueError(f"y must hold one integer label per row of x ({x.shape[0]},), got {getattr(y, 'shape', y)}")
    batch_size = check_int("batch_size", batch_size, 1, len(x))
    draws, draw = check_steps("draws", draws), generator(check_seed("seed", seed))
    tangents = {name: t.view_as(w) for name, t, w in zip(names, direction.split([w.numel() for w in weights]), weights)}

    def losses(params: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(functional_call(model, params, (x,)), y, reduction="none")

    with torch.enable_grad():
        inner = jvp(losses, (dict(zip(names, weights)),), (tangents,))[1].double()
    check_finite_tensor("the per-row inner products", inner)
    per_order = len(inner) // batch_size  # disjoint batches in one random order of the rows: each a uniform subset
    orders = torch.rand(-(-draws // per_order), len(inner), generator=draw).argsort(dim=1)[:, :per_order * batch_size]
    means = inner.cpu()[orders].view(-1, batch_size).mean(dim=1)[:draws]
    return float((means < 0).double().mean())


def deceleration_forecast(model: torch.nn.Module, data: Any, lr: float, budget: int, batch_size: int,
                          seed: int = 0, momentum: float = 0.9, rule: str = "none") -> dict[str, Any]:
    """Train ``model`` with sum-form heavy ball (``Accelerated(base="momentum", rule=rule)``) exactly as
    :func:`runs.train` does (same batches for ``seed``), and forecast each step's label before it is drawn.

    A step decelerates when ``<b_prev, g_t> < 0``; given the past, the batch is a uniform draw from the epoch's
    unused rows, so it does with probability ``p_t = flip_probability(...)`` on them (seed ``t``), and ``sum(labels -
    p)`` is a martingale of variance ``sum p (1 - p)``. Returns ``probability``, ``decelerating`` (per step; under RA:
    rejected) and the optimizer's ``log``.
    """
    from .runs import Dataset  # the loop below repeats runs.train's batch order; a test holds the two equal

    if not isinstance(data, Dataset):
        raise ValueError(f"data must be a runs.Dataset, got {type(data).__name__}")
    rule = check_choice("rule", rule, ("none", "ra"))
    n = len(data.y_train)
    batch_size = check_int("batch_size", batch_size, 1, n)
    steps = check_steps("budget // batch_size", check_int("budget", budget, batch_size) // batch_size)
    optimizer = Accelerated(model.parameters(), base="momentum", rule=rule, lr=lr, momentum=momentum)
    draw = generator(check_seed("seed", seed))
    order, position, probability, labels = torch.randperm(n, generator=draw), 0, [], []
    with one_thread():
        for _ in range(steps):
            if position + batch_size > n:
                order, position = torch.randperm(n, generator=draw), 0
            pool, position = order[position:].to(data.y_train.device), position + batch_size
            buffer = optimizer.state[next(iter(model.parameters()))].get("buffer")
            probability.append(0.0 if buffer is None else flip_probability(
                model, data.x_train[pool], data.y_train[pool], buffer, batch_size, seed=len(probability)))
            before = optimizer.log["decelerating"] + optimizer.log["rejected"]
            optimizer.zero_grad()
            x, y = data.x_train[pool[:batch_size]], data.y_train[pool[:batch_size]]
            torch.nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
            labels.append(optimizer.log["decelerating"] + optimizer.log["rejected"] > before)
    return {"probability": probability, "decelerating": labels, "log": optimizer.log}


class Accelerated(torch.optim.Optimizer):
    """SGD, SGD with momentum (``base="average"``: written in average form) or Adam, optionally with Reject
    Accelerating (``ra``) or Random Vector Accelerating (``rva``).

    ``Accelerated(params, base="momentum", rule="ra", lr=0.01)`` drops into any training loop (``step(closure)`` or
    ``step()`` after ``backward``). With ``rule="none"`` the steps equal ``torch.optim.SGD`` (with ``momentum``,
    no dampening) and ``torch.optim.Adam``. All parameters are treated as one vector of dimension ``d``.

    ``log`` (a dict) holds per step: ``gain`` ``<a, r> / ||r||^2`` of the step taken, ``cos_squared`` ``cos^2(a, r)``,
    ``stretch`` ``(||d||^2 - ||r||^2) / ||r||^2``, and counts ``steps``, ``accelerating``, ``decelerating`` (steps
    taken) and ``rejected`` (RA's replaced steps). RVA draws its vectors from ``seed`` on the parameters' device.
    Chapter: Enhancing SGD (Deng, Song, Yang; arXiv 2402.01515); the RA / RVA rules are the book's reading.
    """

    def __init__(self, params: Iterable[torch.nn.Parameter], base: str = "sgd", rule: str = "none",
                 lr: float = 0.1, momentum: float = 0.9, betas: Sequence[float] = (0.9, 0.999), eps: float = 1e-8,
                 seed: int = 0) -> None:
        base = check_choice("base", base, WRITINGS)
        rule = check_choice("rule", rule, RULES)
        lr = check_real("lr", lr, low=0.0, low_inclusive=False)
        momentum = check_real("momentum", momentum, low=0.0, high=0.999)
        if not isinstance(betas, Sequence) or isinstance(betas, str) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        betas = tuple(check_real(f"betas[{i}]", beta, low=0.0, high=0.9999) for i, beta in enumerate(betas))
        eps = check_real("eps", eps, low=0.0, low_inclusive=False)
        self.seed = check_seed("seed", seed)
        super().__init__(params, dict(lr=lr, momentum=momentum, betas=betas, eps=eps))
        if len(self.param_groups) != 1:
            raise ValueError("Accelerated treats all parameters as one vector: give one parameter group")
        self.base, self.rule = base, rule
        self.log: dict[str, Any] = {"gain": [], "cos_squared": [], "stretch": [], "steps": 0, "accelerating": 0,
                                    "decelerating": 0, "rejected": 0}
        self._draw: torch.Generator | None = None
        self._count = 0

    def _parameters(self) -> list[torch.Tensor]:
        return [p for group in self.param_groups for p in group["params"] if p.grad is not None]

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        params = self._parameters()
        if not params:
            return loss
        group = self.param_groups[0]
        lr, eps = group["lr"], group["eps"]
        gradient = torch.cat([p.grad.reshape(-1) for p in params])
        check_gradient("gradient", gradient)  # before any buffer moves: a refused step leaves the optimizer as it was
        raw = gradient
        if self.rule == "rva":
            if self._draw is None:
                self._draw = generator(self.seed, on=gradient.device)
            # float32 draws: a random direction needs no float64 precision, and float64 normals cost 4x on a CPU
            u = torch.randn(gradient.shape, generator=self._draw, device=gradient.device).to(gradient.dtype)
            along, length = (torch.stack((gradient, u)) @ u).tolist()  # <g, u> and ||u||^2 in one product
            gradient = gradient.add(u, alpha=2 * along / length)
        state = self.state[params[0]]  # one flat state for the whole parameter vector
        self._count += 1
        if self.base == "sgd":
            direction, plain = gradient, raw
        elif self.base == "momentum":
            if "buffer" not in state:
                state["buffer"] = gradient.clone()
            else:
                state["buffer"].mul_(group["momentum"]).add_(gradient)
            direction, plain = state["buffer"], raw
        elif self.base == "average":  # m = (1 - beta) b for the sum form's buffer b: the same steps at lr / (1 - beta)
            if "m" not in state:
                state["m"] = gradient * (1 - group["momentum"])
            else:
                state["m"].mul_(group["momentum"]).add_(gradient, alpha=1 - group["momentum"])
            direction, plain = state["m"], raw
        else:
            beta1, beta2 = group["betas"]
            if "m" not in state:
                state["m"], state["v"] = torch.zeros_like(gradient), torch.zeros_like(gradient)
            state["m"].lerp_(gradient, 1 - beta1)
            state["v"].mul_(beta2).addcmul_(gradient, gradient, value=1 - beta2)
            denominator = (state["v"] / (1 - beta2**self._count)).sqrt_().add_(eps)
            direction = state["m"] / (1 - beta1**self._count) / denominator
            plain = raw / denominator
        term = direction - plain
        plain_size = plain @ plain
        numbers = torch.stack([term @ plain, term @ term, plain_size]).tolist()  # one host sync per step
        inner, term_size, size = numbers
        if not all(map(math.isfinite, numbers)):
            raise ValueError("the gradient or the optimizer's direction contains NaN or inf")
        if term_size <= 1e-24 * size:  # a rounding-level term (Adam's first step, m_hat = grad) is no term at all
            inner, term_size = 0.0, 0.0
        if self.rule == "ra" and inner < 0:
            direction, inner, term_size = plain, 0.0, 0.0
            self.log["rejected"] += 1
        offset = 0
        for p in params:
            p.add_(direction[offset:offset + p.numel()].view_as(p), alpha=-lr)
            offset += p.numel()
        size = size if size > 0 else math.inf  # a zero gradient: every ratio below is 0
        gain = inner / size
        self.log["gain"].append(gain)
        self.log["cos_squared"].append(inner * inner / (term_size * size) if term_size > 0 else 0.0)
        self.log["stretch"].append((term_size + 2 * inner) / size)
        self.log["steps"] += 1
        self.log["accelerating"] += gain > 0
        self.log["decelerating"] += gain < 0
        return loss


__all__ = ["BASES", "RULES", "WRITINGS", "Accelerated", "acceleration_split", "bound_estimates", "bound_factor",
           "bound_factor_curve", "cos_squared", "deceleration_forecast", "flip_probability", "framework_direction",
           "framework_direction_reference", "householder", "random_vector_gain"]
