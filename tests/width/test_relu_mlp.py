"""The NTK-parametrised ReLU network: the arc-cosine limit's closed forms, wide networks approach it, same seed same kernel."""

import math

import pytest
import torch

from simple_algebra.width import relu_mlp


def circle(count):
    angles = torch.linspace(-math.pi, math.pi, count + 1, dtype=torch.float64)[:-1]
    return torch.stack([angles.cos(), angles.sin()], dim=1)


def test_arc_cosine_recursion_closed_forms():
    x = circle(16)
    for depth in (1, 2, 4):
        nngp, ntk = relu_mlp.relu_kernels(x, depth=depth)
        # Sigma is preserved on the diagonal and Theta(x, x) = (depth + 1) |x|^2 / d.
        torch.testing.assert_close(nngp.diagonal(), torch.full((16,), 0.5, dtype=torch.float64))
        torch.testing.assert_close(ntk.diagonal(), torch.full((16,), (depth + 1) / 2, dtype=torch.float64))
    # One hidden layer, orthogonal inputs (t = pi/2): Sigma^2 = 1/(2 pi), Theta^2 = 0 * 1/2 + 1/(2 pi) ... + 0.
    e = torch.eye(2, dtype=torch.float64)
    nngp, ntk = relu_mlp.relu_kernels(e, depth=1)
    assert nngp[0, 1].item() == pytest.approx(0.5 / math.pi)
    assert ntk[0, 1].item() == pytest.approx(0.5 / math.pi)


def test_wide_networks_approach_the_analytic_kernel():
    x = circle(24)
    limit = relu_mlp.relu_kernels(x, depth=2)[1]

    def median_gap(width):
        gaps = [torch.linalg.norm(relu_mlp.ntk_mlp(2, width, 2, seed=s).tangent_kernel(x) - limit) / torch.linalg.norm(limit)
                for s in range(5)]
        return torch.stack(gaps).median().item()

    narrow, wide = median_gap(64), median_gap(1024)
    assert wide < 0.1
    assert wide < narrow / 2.5  # sqrt(16) = 4 expected; leave room for Monte-Carlo noise


def test_same_seed_same_kernel():
    x = circle(6)
    first = relu_mlp.ntk_mlp(2, 32, 2, seed=7).tangent_kernel(x)
    again = relu_mlp.ntk_mlp(2, 32, 2, seed=7).tangent_kernel(x)
    other = relu_mlp.ntk_mlp(2, 32, 2, seed=8).tangent_kernel(x)
    assert torch.equal(first, again) and not torch.equal(first, other)
