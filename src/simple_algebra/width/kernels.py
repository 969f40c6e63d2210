"""Neural tangent kernels of any model (via ``torch.func``), their movement and spectrum, and training that records them.

Part I of the book ("Width") looks at every network through its kernel. This module is the one toolkit its
chapters share:

- :func:`empirical_ntk` (fast: ``vmap`` of ``jacrev``, one contraction) next to
  :func:`empirical_ntk_reference` (plain per-sample autograd loop), tested against each other;
- the deep ReLU network in the NTK parametrisation and its analytic limit kernel are in
  :mod:`simple_algebra.width.relu_mlp`;
- :func:`kernel_movement`, :func:`eigenvalues`, :func:`smallest_eigenvalue` and :func:`train_recording_kernel`;
- :func:`kernel_gradient_descent`, the function-space half of the NTK theorem: what gradient descent on the
  squared loss does to a model whose kernel stays fixed, in closed form, on the training points and beyond
  (kernel regression is its limit of infinitely many steps).

Chapter: "The Neural Tangent Kernel" (Jacot, Gabriel, Hongler, NeurIPS 2018, arXiv 1806.07572), reused by
"Scaling 1-bit networks" and "The frontiers of softmax".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.func import functional_call, jacrev, vmap

from ..core.metrics import relative_error
from ..core.runtime import progress
from ..core.validation import (
    check_allocation,
    check_choice,
    check_finite_tensor,
    check_gradient,
    check_int,
    check_real,
    check_same_kind,
    check_steps,
)

Model = nn.Module | Callable[[Mapping[str, torch.Tensor], torch.Tensor], torch.Tensor]


def _trainable(model: Model, params: Mapping[str, torch.Tensor] | None) -> dict[str, torch.Tensor]:
    if params is not None:
        if not isinstance(params, Mapping) or not params:
            raise ValueError(f"params must name at least one tensor, got {params!r}"[:200])
        if isinstance(model, nn.Module):
            known = {name for name, _ in model.named_parameters()} | {name for name, _ in model.named_buffers()}
            unknown = sorted(set(params) - known)
            if unknown:
                raise ValueError(f"params names {unknown} are not parameters of the model; it has {sorted(known)}")
        found = {name: value for name, value in params.items()}
    elif not isinstance(model, nn.Module):
        raise ValueError(f"a functional model f(params, x) needs its params passed explicitly, got params=None "
                         f"for a {type(model).__name__}")
    else:
        found = {name: value for name, value in model.named_parameters() if value.requires_grad}
        if not found:
            raise ValueError("the model has no trainable parameters, so its tangent kernel is zero")
    if not callable(model):
        raise ValueError(f"model must be an nn.Module or a function f(params, x), got {type(model).__name__}")
    for name, value in found.items():
        check_finite_tensor(f"parameter {name!r}", value)
    return {name: value.detach() for name, value in found.items()}


def _check_jacobians(x1: torch.Tensor, x2: torch.Tensor, weights: Mapping[str, torch.Tensor]) -> None:
    """One dtype for inputs and weights, and per-sample Jacobians (n, P) that fit in memory."""
    first_name, first = next(iter(weights.items()))
    check_same_kind(x1=x1, x2=x2, **{f"parameter {first_name!r}": first})
    count = sum(value.numel() for value in weights.values())
    for name, inputs in (("x1", x1), ("x2", x2)):
        check_allocation(f"the per-sample Jacobians of {name} ({inputs.shape[0]} inputs x {count} parameters)",
                         (inputs.shape[0], count), x1.dtype, x1.device)


def _per_sample(model: Model) -> Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor]:
    """The model as a function of (params, one input) -> output vector of shape (k,)."""
    def call(params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        batch = x.unsqueeze(0)
        out = functional_call(model, params, (batch,)) if isinstance(model, nn.Module) else model(params, batch)
        return out.reshape(-1)
    return call


def _check_inputs(x1: torch.Tensor, x2: torch.Tensor | None) -> torch.Tensor:
    check_finite_tensor("x1", x1)
    if x1.ndim < 2:
        raise ValueError(f"x1 must be a batch of inputs (n, ...), got shape {tuple(x1.shape)}")
    if x2 is None:
        return x1
    check_finite_tensor("x2", x2)
    if x2.shape[1:] != x1.shape[1:]:
        raise ValueError(f"x1 and x2 must hold inputs of the same shape, got {tuple(x1.shape)} and {tuple(x2.shape)}")
    return x2


def _shape_kernel(kernel: torch.Tensor) -> torch.Tensor:
    """(n1, n2, k, k) -> (n1, n2) for scalar outputs (k = 1)."""
    return kernel[:, :, 0, 0] if kernel.shape[-1] == 1 else kernel


def empirical_ntk(model: Model, x1: torch.Tensor, x2: torch.Tensor | None = None,
                  params: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
    """Empirical NTK ``Theta(x, x') = sum_p d f(x)/d theta_p  d f(x')/d theta_p`` with ``torch.func``.

    ``model`` is an ``nn.Module`` (its trainable parameters are differentiated, or those in ``params``) or a
    function ``f(params, x)`` of a batch. Per-sample Jacobians come from ``vmap(jacrev(f))``, then one
    contraction. Shapes: ``x1`` (n1, ...), ``x2`` (n2, ...) (default ``x1``); the result is (n1, n2) for a
    scalar output and (n1, n2, k, k) for ``k > 1`` outputs. Chapter: The Neural Tangent Kernel (arXiv 1806.07572).
    """
    x2 = _check_inputs(x1, x2)
    weights = _trainable(model, params)
    _check_jacobians(x1, x2, weights)
    jacobian = vmap(jacrev(_per_sample(model)), in_dims=(None, 0))
    first = jacobian(weights, x1)
    second = first if x2 is x1 else jacobian(weights, x2)
    kernel = None
    for name in weights:
        a = first[name].reshape(*first[name].shape[:2], -1)
        b = second[name].reshape(*second[name].shape[:2], -1)
        term = torch.einsum("nap,mbp->nmab", a, b)
        kernel = term if kernel is None else kernel + term
    return _shape_kernel(kernel)


def empirical_ntk_reference(model: Model, x1: torch.Tensor, x2: torch.Tensor | None = None,
                            params: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
    """The same kernel as :func:`empirical_ntk`, by a plain loop: one ``autograd.grad`` per sample and output.

    Slow and obviously correct: the baseline of the NTK benchmark and the test oracle of the fast version.
    """
    x2 = _check_inputs(x1, x2)
    weights = {name: value.clone().requires_grad_(True) for name, value in _trainable(model, params).items()}
    _check_jacobians(x1, x2, weights)
    call = _per_sample(model)

    def jacobian_rows(inputs: torch.Tensor) -> torch.Tensor:
        rows = []
        for x in inputs:
            out = call(weights, x)
            per_output = []
            for index in range(out.numel()):
                grads = torch.autograd.grad(out[index], list(weights.values()), retain_graph=True, allow_unused=True)
                per_output.append(torch.cat([
                    (g if g is not None else torch.zeros_like(w)).reshape(-1) for g, w in zip(grads, weights.values())]))
            rows.append(torch.stack(per_output))
        return torch.stack(rows)  # (n, k, P)

    first = jacobian_rows(x1)
    second = first if x2 is x1 else jacobian_rows(x2)
    return _shape_kernel(torch.einsum("nap,mbp->nmab", first, second))


def kernel_movement(initial: torch.Tensor, final: torch.Tensor) -> float:
    """Relative kernel movement ``||K_T - K_0||_F / ||K_0||_F`` (0 means the kernel did not move)."""
    check_finite_tensor("initial", initial)
    check_finite_tensor("final", final)
    check_same_kind(initial=initial, final=final)
    if final.shape != initial.shape:
        raise ValueError(f"initial and final must have the same shape, got {tuple(initial.shape)} and "
                         f"{tuple(final.shape)}")
    return relative_error(final, initial)


def as_matrix(kernel: torch.Tensor) -> torch.Tensor:
    """A kernel as one square matrix: (n, n) stays, (n, n, k, k) becomes the (n k, n k) block matrix."""
    check_finite_tensor("kernel", kernel)
    if kernel.ndim == 4:
        n, m, k, k2 = kernel.shape
        if k != k2:
            raise ValueError(f"a block kernel has shape (n, m, k, k), got {tuple(kernel.shape)}")
        return kernel.permute(0, 2, 1, 3).reshape(n * k, m * k)
    if kernel.ndim != 2:
        raise ValueError(f"a kernel has shape (n, n) or (n, n, k, k), got {tuple(kernel.shape)}")
    return kernel


def eigenvalues(kernel: torch.Tensor) -> torch.Tensor:
    """The eigenvalues, ascending, of a square kernel matrix (symmetrised first; block kernels via :func:`as_matrix`)."""
    check_finite_tensor("kernel", kernel)
    matrix = as_matrix(kernel)
    if matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"the kernel must be square, got shape {tuple(matrix.shape)}")
    return torch.linalg.eigvalsh((matrix + matrix.T) / 2)


def smallest_eigenvalue(kernel: torch.Tensor) -> float:
    """The smallest eigenvalue of a square kernel matrix, e.g. ``lambda_min(H_0)``."""
    return float(eigenvalues(kernel)[0])


@dataclass
class KernelTraining:
    """What :func:`train_recording_kernel` saw: the loss at every step, the kernel and the model's outputs on the
    probe inputs at recorded steps."""

    losses: list[float] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    kernels: list[torch.Tensor] = field(default_factory=list)
    output_steps: list[int] = field(default_factory=list)
    outputs: list[torch.Tensor] = field(default_factory=list)

    @property
    def movement(self) -> float:
        """Relative movement of the last recorded kernel from the first."""
        return kernel_movement(self.kernels[0], self.kernels[-1])


def train_recording_kernel(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float,
                           probe: torch.Tensor | None = None, record_every: int | None = None,
                           kernel: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None,
                           output_steps: tuple[int, ...] = (),
                           ) -> KernelTraining:
    """Full-batch gradient descent on ``L = (1/2n) sum_i (f(x_i) - y_i)^2``, recording the NTK on ``probe``.

    The kernel and the model's outputs (on ``probe``, default ``x``) are recorded before the first step, every ``record_every`` steps
    (default: only at the end) and after the last step. ``model`` is trained in place. Raises ``ValueError`` when
    the loss stops being finite (learning rate too large). Shapes: ``x`` (n, d), ``y`` (n,) or (n, k).
    ``kernel(model, inputs)`` computes the NTK: default the model's own ``tangent_kernel`` when it has one
    (:class:`simple_algebra.width.relu_mlp.NTKMLP`), else :func:`empirical_ntk`. The outputs are also recorded
    after each step in ``output_steps`` (cheaper than a kernel: for comparing with :func:`kernel_gradient_descent`
    mid-training); ``record.output_steps`` lists every step at which ``record.outputs`` were taken.
    """
    steps = check_steps("steps", steps, 0)
    lr = check_real("lr", lr, 0.0, low_inclusive=False)
    check_finite_tensor("x", x)
    check_finite_tensor("y", y)
    check_same_kind(x=x, y=y)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"x and y must have as many rows, got {x.shape[0]} and {y.shape[0]}")
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
    for name, value in model.named_parameters():
        check_finite_tensor(f"parameter {name!r}", value)
    probe = x if probe is None else _check_inputs(x, probe)
    every = steps if record_every is None else check_int("record_every", record_every, 1)
    if not isinstance(output_steps, (tuple, list)):
        raise ValueError(f"output_steps must be a tuple of step numbers, got {type(output_steps).__name__}")
    extra = {check_int("an entry of output_steps", when, 0, steps) for when in output_steps}
    if kernel is not None and not callable(kernel):
        raise ValueError(f"kernel must be a function kernel(model, inputs), got {type(kernel).__name__}")
    with torch.no_grad():
        shape = tuple(model(x).shape)
    if tuple(y.shape) != shape:
        raise ValueError(f"y must have the shape of the model's output on x, {shape}, got {tuple(y.shape)}")
    record = KernelTraining()
    if kernel is None:
        kernel = (lambda net, inputs: net.tangent_kernel(inputs)) if hasattr(model, "tangent_kernel") else empirical_ntk

    def remember(step: int) -> None:
        record.steps.append(step)
        record.kernels.append(kernel(model, probe).detach())
        look(step)

    def look(step: int) -> None:
        if record.output_steps and record.output_steps[-1] == step:
            return
        record.output_steps.append(step)
        with torch.no_grad():
            record.outputs.append(model(probe).detach())

    remember(0)
    named = [(name, value) for name, value in model.named_parameters() if value.requires_grad]
    parameters = [value for _, value in named]
    for step in progress(range(1, steps + 1), desc="gradient descent", leave=False):
        loss = 0.5 * ((model(x) - y) ** 2).sum() / x.shape[0]
        if not torch.isfinite(loss):
            raise ValueError(f"the loss became {loss.item()} at step {step}: lower the learning rate (lr={lr})")
        grads = torch.autograd.grad(loss, parameters)
        for (name, _), grad in zip(named, grads):
            check_gradient(f"the gradient of {name!r} at step {step}", grad)
        with torch.no_grad():
            for value, grad in zip(parameters, grads):
                value.add_(grad, alpha=-lr)
        record.losses.append(float(loss.detach()))
        if step % every == 0 and step != steps:
            remember(step)
        elif step in extra and step != steps:
            look(step)
    with torch.no_grad():
        record.losses.append(float(0.5 * ((model(x) - y) ** 2).sum() / x.shape[0]))
    if steps > 0:
        remember(steps)
    return record


def _kernel_gd_inputs(kernel: torch.Tensor, targets: torch.Tensor, initial: torch.Tensor | None,
                      cross: torch.Tensor | None, initial_cross: torch.Tensor | None
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, tuple[int, ...]]:
    """Validate and flatten: the (n k, n k) matrix, the residual start, the (n* k, n k) cross matrix, its start."""
    check_finite_tensor("kernel", kernel)
    check_finite_tensor("targets", targets)
    if kernel.ndim not in (2, 4) or kernel.shape[0] != kernel.shape[1] or (
            kernel.ndim == 4 and kernel.shape[2] != kernel.shape[3]):
        raise ValueError(f"kernel must be a square (n, n) or block (n, n, k, k) kernel on the training points, "
                         f"got shape {tuple(kernel.shape)}")
    n = kernel.shape[0]
    outputs = kernel.shape[2] if kernel.ndim == 4 else None
    expected = (n,) if outputs is None else (n, outputs)
    if targets.ndim == 2 and outputs is None and targets.shape[0] == n:
        expected = (n, targets.shape[1])  # one scalar kernel applied to every output column
    if tuple(targets.shape) != expected:
        raise ValueError(f"targets must have shape {expected} for a kernel of shape {tuple(kernel.shape)}, "
                         f"got {tuple(targets.shape)}")
    initial = torch.zeros_like(targets) if initial is None else initial
    check_finite_tensor("initial", initial)
    if initial.shape != targets.shape:
        raise ValueError(f"initial must have the shape of targets, {tuple(targets.shape)}, got {tuple(initial.shape)}")
    cross = kernel if cross is None else cross
    check_finite_tensor("cross", cross)
    if cross.ndim != kernel.ndim or cross.shape[1:] != kernel.shape[1:]:
        raise ValueError(f"cross must be the kernel between new points and the {n} training points, of shape "
                         f"(n*, {', '.join(str(size) for size in kernel.shape[1:])}), got {tuple(cross.shape)}")
    shape = (cross.shape[0], *targets.shape[1:])
    if initial_cross is None:
        initial_cross = initial if cross is kernel else torch.zeros(shape, dtype=targets.dtype, device=targets.device)
    check_finite_tensor("initial_cross", initial_cross)
    if tuple(initial_cross.shape) != shape:
        raise ValueError(f"initial_cross must have shape {shape} (one output per row of cross), got "
                         f"{tuple(initial_cross.shape)}")
    check_same_kind(kernel=kernel, targets=targets, initial=initial, cross=cross, initial_cross=initial_cross)
    matrix, across = as_matrix(kernel), as_matrix(cross) if cross.ndim == 4 else cross
    columns = targets.shape[1] if targets.ndim == 2 and outputs is None else 1
    residual = (targets - initial).reshape(n * (outputs or 1), columns)
    return matrix, residual, across, initial_cross, shape


def kernel_gradient_descent(kernel: torch.Tensor, targets: torch.Tensor, lr: float, steps: float,
                            initial: torch.Tensor | None = None, cross: torch.Tensor | None = None,
                            initial_cross: torch.Tensor | None = None, mode: str = "steps") -> torch.Tensor:
    """The predictions of a model trained with a *fixed* kernel: kernel gradient descent, in closed form.

    Gradient descent with learning rate ``lr`` on ``L = (1/2n) sum_i |f(x_i) - y_i|^2`` moves a model whose tangent
    kernel ``K`` stays fixed (the infinite-width limit of Jacot et al., Theorem 2) by ``f <- f - (lr/n) K (f - y)``
    on the training points, and by ``(lr/n) K(x*, X) (f - y)`` at any other input ``x*``. With ``K = U diag(l) U^T``
    and ``r = y - f_0(X)`` the result after ``steps`` steps is

        f_t(x*) = f_0(x*) + K(x*, X) U diag(g(l)) U^T r,   g(l) = (1 - (1 - lr l / n)^t) / l     (mode "steps"),
                                                            g(l) = (1 - exp(-lr t l / n)) / l     (mode "flow"),

    so on the training points ``f_t = f_0 + (I - exp(-lr t K / n)) r`` for gradient flow, and ``steps = math.inf``
    gives kernel regression from ``f_0``: ``f_0(x*) + K(x*, X) K^+ (y - f_0(X))`` (directions with ``l = 0`` never
    move; ``g(0) = lr t / n`` for finite ``t``).

    ``kernel`` is ``K(X, X)``, (n, n), or a block kernel (n, n, k, k) with ``targets`` (n, k); a scalar kernel with
    targets (n, k) trains every column alike. ``initial`` is ``f_0(X)`` (default zero, the mean of the
    infinite-width prior). ``cross`` is ``K(X*, X)`` (n*, n) or (n*, n, k, k) (default ``kernel``: predict on the
    training points) and ``initial_cross`` is ``f_0(X*)`` (default zero, or ``initial`` on the training points).
    Returns the predictions at the rows of ``cross``, shaped like ``initial_cross``. Raises ``ValueError`` in mode
    "steps" when ``lr`` is so large that gradient descent on this kernel diverges (``lr l_max / n >= 2``).
    Chapter: The Neural Tangent Kernel (arXiv 1806.07572), reused by "The frontiers of softmax" and "Toward
    infinite-long prefix".
    """
    lr = check_real("lr", lr, 0.0, low_inclusive=False)
    if isinstance(steps, float) and math.isinf(steps) and steps > 0:
        steps = math.inf
    else:
        steps = check_steps("steps", steps, 0)
    mode = check_choice("mode", mode, ("steps", "flow"))
    matrix, residual, across, start, shape = _kernel_gd_inputs(kernel, targets, initial, cross, initial_cross)
    n = kernel.shape[0]
    values, vectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    largest = float(values.abs().max())
    if mode == "steps" and lr * largest / n >= 2:
        raise ValueError(f"lr = {lr} makes gradient descent on this kernel diverge: lr * lambda_max / n = "
                         f"{lr * largest / n:.4g} >= 2 (lambda_max = {largest:.4g}, n = {n}); use lr < "
                         f"{2 * n / largest:.4g} or mode='flow'")
    tiny = values.abs() <= matrix.shape[0] * torch.finfo(values.dtype).eps * max(largest, 1e-300)
    safe = torch.where(tiny, torch.ones_like(values), values)
    if steps == math.inf:
        gain = torch.where(tiny, torch.zeros_like(values), 1 / safe)
    else:
        rate = lr * safe / n
        if mode == "flow":
            moved = -torch.expm1(-rate * steps)
        else:  # 1 - (1 - rate)^t, accurately for small rates; a rate in (1, 2) gives an oscillating, converging step
            small = rate < 1
            logs = torch.log1p(-torch.where(small, rate, torch.zeros_like(rate)))
            moved = torch.where(small, -torch.expm1(steps * logs), 1 - (1 - rate) ** steps)
        gain = torch.where(tiny, torch.full_like(values, lr * steps / n), moved / safe)
    update = across @ (vectors @ (gain[:, None] * (vectors.T @ residual)))
    return start + update.reshape(shape)
