"""Neural tangent kernels: empirical (any model, via ``torch.func``) and analytic (deep ReLU networks).

Part I of the book ("Width") looks at every network through its kernel. This module is the one toolkit its
chapters share:

- :func:`empirical_ntk` (fast: ``vmap`` of ``jacrev``, one contraction) next to
  :func:`empirical_ntk_reference` (plain per-sample autograd loop), tested against each other;
- :func:`relu_kernels`, the infinite-width NNGP and NTK of a deep ReLU network (the arc-cosine recursion);
- :class:`NTKMLP` / :func:`ntk_mlp`, a fully connected network in the NTK parametrisation whose kernel
  converges to :func:`relu_kernels` as the width grows;
- :func:`kernel_movement`, :func:`eigenvalues`, :func:`smallest_eigenvalue` and :func:`train_recording_kernel`.

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
from ..core.runtime import generator, progress
from ..core.validation import check_finite_tensor, check_int, check_real

Model = nn.Module | Callable[[Mapping[str, torch.Tensor], torch.Tensor], torch.Tensor]


def _trainable(model: Model, params: Mapping[str, torch.Tensor] | None) -> dict[str, torch.Tensor]:
    if params is not None:
        if not params:
            raise ValueError("params must name at least one tensor")
        return {name: value.detach() for name, value in params.items()}
    if not isinstance(model, nn.Module):
        raise ValueError("a functional model f(params, x) needs its params passed explicitly")
    found = {name: value.detach() for name, value in model.named_parameters() if value.requires_grad}
    if not found:
        raise ValueError("the model has no trainable parameters, so its tangent kernel is zero")
    return found


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


def relu_kernels(x1: torch.Tensor, x2: torch.Tensor | None = None, depth: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Infinite-width NNGP and NTK of a ReLU network with ``depth`` hidden layers, NTK parametrisation.

    The network is :class:`NTKMLP` (no biases, activation ``sqrt(2) relu``). With ``Sigma^1 = <x, x'> / d`` and
    ``Theta^1 = Sigma^1``, for each hidden layer, with ``t`` the angle given by ``Sigma^l``:

        Sigma^{l+1} = sqrt(Sigma^l(x,x) Sigma^l(x',x')) (sin t + (pi - t) cos t) / pi
        Theta^{l+1} = Theta^l (pi - t) / pi + Sigma^{l+1}

    Returns ``(nngp, ntk)``, each (n1, n2), for inputs ``x1`` (n1, d) and ``x2`` (n2, d).
    Chapter: The Neural Tangent Kernel (arXiv 1806.07572).
    """
    depth = check_int("depth", depth, 1, 64)
    x2 = _check_inputs(x1, x2)
    if x1.ndim != 2:
        raise ValueError(f"x1 must have shape (n, d), got {tuple(x1.shape)}")
    if (x1.norm(dim=1) == 0).any() or (x2.norm(dim=1) == 0).any():
        raise ValueError("the arc-cosine kernel needs nonzero inputs (the angle to a zero vector is undefined)")
    d = x1.shape[1]
    cross = x1 @ x2.T / d
    diag1, diag2 = (x1 * x1).sum(1) / d, (x2 * x2).sum(1) / d
    ntk = cross
    for _ in range(depth):
        scale = torch.sqrt(diag1[:, None] * diag2[None, :])
        angle = torch.arccos((cross / scale).clamp(-1.0, 1.0))
        cross = scale * (torch.sin(angle) + (math.pi - angle) * torch.cos(angle)) / math.pi
        ntk = ntk * (math.pi - angle) / math.pi + cross
        # The sqrt(2) in the activation keeps the diagonal fixed: Sigma^{l+1}(x, x) = Sigma^l(x, x).
    return cross, ntk


class NTKMLP(nn.Module):
    """A bias-free fully connected ReLU network in the NTK parametrisation.

    ``h^1 = W^0 x / sqrt(d)``, ``h^{l+1} = W^l phi(h^l) / sqrt(width)``, ``f = W^L phi(h^L) / sqrt(width)``,
    all weights standard normal, ``phi = sqrt(2) relu``. Its empirical NTK tends to :func:`relu_kernels` as the
    width grows (Jacot et al., Theorem 1). Input (n, d) -> output (n, outputs), or (n,) when ``outputs == 1``.
    """

    def __init__(self, input_dim: int, width: int, depth: int, outputs: int = 1, seed: int = 0,
                 dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> None:
        super().__init__()
        input_dim = check_int("input_dim", input_dim, 1)
        width = check_int("width", width, 1, 1 << 20)
        depth = check_int("depth", depth, 1, 64)
        self.outputs = check_int("outputs", outputs, 1)
        sizes = [input_dim] + [width] * depth + [self.outputs]
        draw = generator(seed)
        self.weights = nn.ParameterList(
            nn.Parameter(torch.randn(fan_out, fan_in, generator=draw, dtype=dtype).to(device))
            for fan_in, fan_out in zip(sizes[:-1], sizes[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x)[0]

    def _run(self, x: torch.Tensor, shifts: tuple[torch.Tensor, ...] | None = None
             ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Output and the input of every layer; ``shifts`` are added to the pre-activations (for their gradients)."""
        hidden, layer_inputs = x, []
        for index, weight in enumerate(self.weights):
            if index > 0:
                hidden = math.sqrt(2.0) * torch.relu(hidden)
            layer_inputs.append(hidden)
            hidden = hidden @ weight.T / math.sqrt(weight.shape[1])
            if shifts is not None:
                hidden = hidden + shifts[index]
        return (hidden[..., 0] if self.outputs == 1 else hidden), layer_inputs

    def tangent_kernel(self, x1: torch.Tensor, x2: torch.Tensor | None = None) -> torch.Tensor:
        """The exact empirical NTK of this network, fast: it factorises layer by layer.

        The gradient of ``f`` with respect to ``W^l`` is the outer product ``delta_l a_l^T / sqrt(fan_in)`` of the
        gradient ``delta_l`` with respect to the layer's pre-activation and the layer's input ``a_l``, so

            Theta(x, x') = sum_l <delta_l(x), delta_l(x')> <a_l(x), a_l(x')> / fan_in_l,

        which costs ``O(n^2 width)`` per layer instead of ``O(n^2 width^2)`` for contracting full Jacobians.
        The ``delta_l`` come from ``torch.func.jacrev`` with respect to zero shifts of the pre-activations,
        ``vmap``-ed over inputs. Same shapes as :func:`empirical_ntk`, which it equals to rounding.
        """
        x2 = _check_inputs(x1, x2)
        with torch.no_grad():  # torch.func still differentiates inside; the result carries no autograd graph
            return self._factorised_kernel(x1, x2)

    def _factorised_kernel(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        zeros = tuple(torch.zeros(w.shape[0], dtype=w.dtype, device=w.device) for w in self.weights)

        def output(shifts: tuple[torch.Tensor, ...], x: torch.Tensor) -> torch.Tensor:
            return self._run(x.unsqueeze(0), shifts)[0].reshape(-1)

        gradients = vmap(jacrev(output), in_dims=(None, 0))

        def pieces(inputs: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], list[torch.Tensor]]:
            return gradients(zeros, inputs), self._run(inputs)[1]

        deltas1, inputs1 = pieces(x1)
        deltas2, inputs2 = (deltas1, inputs1) if x2 is x1 else pieces(x2)
        kernel = None
        for delta1, delta2, a1, a2 in zip(deltas1, deltas2, inputs1, inputs2):
            term = torch.einsum("nao,mbo->nmab", delta1, delta2) * (a1 @ a2.T / a1.shape[1])[:, :, None, None]
            kernel = term if kernel is None else kernel + term
        return _shape_kernel(kernel)


def ntk_mlp(input_dim: int, width: int, depth: int, outputs: int = 1, seed: int = 0,
            dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> NTKMLP:
    """An :class:`NTKMLP` with ``depth`` hidden layers of ``width`` units, initialised from ``seed``."""
    return NTKMLP(input_dim, width, depth, outputs=outputs, seed=seed, dtype=dtype, device=device)


def kernel_movement(initial: torch.Tensor, final: torch.Tensor) -> float:
    """Relative kernel movement ``||K_T - K_0||_F / ||K_0||_F`` (0 means the kernel did not move)."""
    return relative_error(final, initial)


def as_matrix(kernel: torch.Tensor) -> torch.Tensor:
    """A kernel as one square matrix: (n, n) stays, (n, n, k, k) becomes the (n k, n k) block matrix."""
    if kernel.ndim == 4:
        n, m, k, _ = kernel.shape
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
    """What :func:`train_recording_kernel` saw: the loss at every step and the kernel at recorded steps."""

    losses: list[float] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    kernels: list[torch.Tensor] = field(default_factory=list)

    @property
    def movement(self) -> float:
        """Relative movement of the last recorded kernel from the first."""
        return kernel_movement(self.kernels[0], self.kernels[-1])


def train_recording_kernel(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float,
                           probe: torch.Tensor | None = None, record_every: int | None = None,
                           kernel: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None,
                           ) -> KernelTraining:
    """Full-batch gradient descent on ``L = (1/2n) sum_i (f(x_i) - y_i)^2``, recording the NTK on ``probe``.

    The kernel (on ``probe``, default ``x``) is recorded before the first step, every ``record_every`` steps
    (default: only at the end) and after the last step. ``model`` is trained in place. Raises ``ValueError`` when
    the loss stops being finite (learning rate too large). Shapes: ``x`` (n, d), ``y`` (n,) or (n, k).
    ``kernel(model, inputs)`` computes the NTK: default the model's own ``tangent_kernel`` when it has one
    (:class:`NTKMLP`), else :func:`empirical_ntk`.
    """
    steps = check_int("steps", steps, 0)
    lr = check_real("lr", lr, 0.0, low_inclusive=False)
    check_finite_tensor("x", x)
    check_finite_tensor("y", y)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"x and y must have as many rows, got {x.shape[0]} and {y.shape[0]}")
    probe = x if probe is None else probe
    every = steps if record_every is None else check_int("record_every", record_every, 1)
    record = KernelTraining()
    if kernel is None:
        kernel = (lambda net, inputs: net.tangent_kernel(inputs)) if hasattr(model, "tangent_kernel") else empirical_ntk

    def remember(step: int) -> None:
        record.steps.append(step)
        record.kernels.append(kernel(model, probe).detach())

    remember(0)
    parameters = [value for value in model.parameters() if value.requires_grad]
    for step in progress(range(1, steps + 1), desc="gradient descent", leave=False):
        loss = 0.5 * ((model(x) - y) ** 2).sum() / x.shape[0]
        if not torch.isfinite(loss):
            raise ValueError(f"the loss became {loss.item()} at step {step}: lower the learning rate (lr={lr})")
        grads = torch.autograd.grad(loss, parameters)
        with torch.no_grad():
            for value, grad in zip(parameters, grads):
                value.add_(grad, alpha=-lr)
        record.losses.append(float(loss.detach()))
        if step % every == 0 and step != steps:
            remember(step)
    with torch.no_grad():
        record.losses.append(float(0.5 * ((model(x) - y) ** 2).sum() / x.shape[0]))
    if steps > 0:
        remember(steps)
    return record
