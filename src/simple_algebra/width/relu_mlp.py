"""Deep ReLU networks in the NTK parametrisation: the network, its factorised tangent kernel, and its limit.

- :func:`relu_kernels`, the infinite-width NNGP and NTK of a deep ReLU network (the arc-cosine recursion);
- :class:`NTKMLP` / :func:`ntk_mlp`, a fully connected network in the NTK parametrisation whose kernel
  (``tangent_kernel``, layer by layer without the per-parameter Jacobian) converges to :func:`relu_kernels` as the
  width grows. The kernels of any model, and training that records them, are in :mod:`simple_algebra.width.kernels`.

Chapter: "The Neural Tangent Kernel" (Jacot, Gabriel, Hongler, NeurIPS 2018, arXiv 1806.07572).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.func import jacrev, vmap

from ..core.runtime import generator
from ..core.validation import (
    check_allocation,
    check_device,
    check_finite_tensor,
    check_float_dtype,
    check_int,
    check_same_kind,
    check_seed,
)
from .kernels import _check_inputs, _shape_kernel


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
    check_same_kind(x1=x1, x2=x2)
    check_allocation(f"the (n1, n2) kernels for n1 = {x1.shape[0]}, n2 = {x2.shape[0]}", (x1.shape[0], x2.shape[0]),
                     x1.dtype, x1.device)
    d = x1.shape[1]
    cross = x1 @ x2.T / d
    diag1, diag2 = (x1 * x1).sum(1) / d, (x2 * x2).sum(1) / d
    for name, diagonal in (("x1", diag1), ("x2", diag2)):
        if not bool((diagonal > 0).all()):
            row = int((diagonal <= 0).nonzero()[0, 0])
            raise ValueError("the arc-cosine kernel needs nonzero inputs (the angle to a zero vector is undefined), "
                             f"got {name}[{row}] with squared norm {float(diagonal[row] * d):.3g}")
    if not (bool(torch.isfinite(diag1).all()) and bool(torch.isfinite(diag2).all())
            and bool(torch.isfinite(cross).all())):
        raise ValueError(f"inputs too large for {x1.dtype}: <x, x'> / d overflows (largest |entry| "
                         f"{float(max(x1.abs().max(), x2.abs().max())):.3g}); rescale x1 and x2 (the kernels are "
                         "2-homogeneous)")
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
        seed, dtype = check_seed("seed", seed), check_float_dtype("dtype", dtype)
        device = check_device("device", device) if device is not None else None
        sizes = [input_dim] + [width] * depth + [self.outputs]
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            check_allocation(f"a ({fan_out}, {fan_in}) weight for input_dim = {input_dim}, width = {width}, "
                             f"outputs = {self.outputs}", (fan_out, fan_in), dtype)
        self.input_dim = input_dim
        draw = generator(seed)
        self.weights = nn.ParameterList(
            nn.Parameter(torch.randn(fan_out, fan_in, generator=draw, dtype=dtype).to(device))
            for fan_in, fan_out in zip(sizes[:-1], sizes[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``f(x)`` for ``x (n, input_dim)``: ``(n,)`` for one output, ``(n, outputs)`` otherwise."""
        self._check_input("x", x)
        return self._run(x)[0]

    def _check_input(self, name: str, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            got = f"dtype {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{name} must be a real floating-point tensor, got {got}")
        if x.ndim != 2 or x.shape[1] != self.input_dim:
            raise ValueError(f"{name} must have shape (n, {self.input_dim}), got {tuple(x.shape)}")
        check_same_kind(**{name: x, "the weights": self.weights[0]})
        check_finite_tensor(name, x)
        for index, weight in enumerate(self.weights):
            check_finite_tensor(f"weights[{index}]", weight)

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
        self._check_input("x1", x1)
        self._check_input("x2", x2)
        width = max(weight.shape[0] for weight in self.weights)
        check_allocation(f"the layer gradients for {x1.shape[0]} inputs, width {width}, {self.outputs} outputs",
                         (x1.shape[0], self.outputs, width), x1.dtype, x1.device)
        check_allocation(f"the kernel for n1 = {x1.shape[0]}, n2 = {x2.shape[0]}, {self.outputs} outputs",
                         (x1.shape[0], x2.shape[0], self.outputs, self.outputs), x1.dtype, x1.device)
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
