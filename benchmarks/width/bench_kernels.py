"""Empirical NTK: ``torch.func`` Jacobian contraction and the factorised MLP kernel vs a per-sample loop.

Chapter: The Neural Tangent Kernel (arXiv 1806.07572). Model: a 2-layer MLP (one hidden layer of width 1024,
NTK parametrisation) on 256 inputs of dimension 16, float64.
"""

from __future__ import annotations

import torch
from harness import Benchmark

import simple_algebra as sa
from simple_algebra.width import kernels as K
from simple_algebra.width import relu_mlp


def _mlp_and_inputs(quick: bool):
    width, inputs, dim = (128, 32, 16) if quick else (1024, 256, 16)
    model = relu_mlp.ntk_mlp(dim, width, depth=1, seed=0, device=sa.device())
    x = torch.randn(inputs, dim, dtype=torch.float64, generator=sa.generator(1)).to(sa.device())
    return model, x, {"width": width, "inputs": inputs, "input_dim": dim, "hidden_layers": 1, "dtype": "float64"}


def torch_func_setup(quick: bool):
    model, x, sizes = _mlp_and_inputs(quick)
    return (lambda: K.empirical_ntk_reference(model, x)), (lambda: K.empirical_ntk(model, x)), sizes


def factorised_setup(quick: bool):
    model, x, sizes = _mlp_and_inputs(quick)
    return (lambda: K.empirical_ntk_reference(model, x)), (lambda: model.tangent_kernel(x)), sizes


BENCHMARKS = [
    Benchmark("ntk-torch-func", baseline="per-sample autograd loop", ours="vmap(jacrev) + contraction",
              target_ratio=10.0, tolerance=1e-10, setup=torch_func_setup),
    Benchmark("ntk-factorised-mlp", baseline="per-sample autograd loop", ours="layer-wise factorised kernel",
              target_ratio=10.0, tolerance=1e-10, setup=factorised_setup),
]
