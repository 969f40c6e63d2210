"""Tests of the shared kernel toolkit: fast vs reference NTK, the analytic limit, movement and training."""

import math

import pytest
import torch
from torch import nn

from simple_algebra.width import kernels as K
from simple_algebra.width import relu_mlp


def circle(count):
    angles = torch.linspace(-math.pi, math.pi, count + 1, dtype=torch.float64)[:-1]
    return torch.stack([angles.cos(), angles.sin()], dim=1)


@pytest.mark.parametrize("outputs", [1, 3])
def test_fast_kernels_match_the_per_sample_loop(outputs):
    x1 = torch.randn(7, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    x2 = torch.randn(5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    model = relu_mlp.ntk_mlp(4, 24, 2, outputs=outputs, seed=3)
    reference = K.empirical_ntk_reference(model, x1, x2)
    expected_shape = (7, 5) if outputs == 1 else (7, 5, outputs, outputs)
    assert reference.shape == expected_shape
    torch.testing.assert_close(K.empirical_ntk(model, x1, x2), reference, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(model.tangent_kernel(x1, x2), reference, rtol=1e-12, atol=1e-12)


def test_empirical_ntk_works_for_any_module_and_functional_models():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 1)).double()
    x = torch.randn(6, 3, dtype=torch.float64)
    kernel = K.empirical_ntk(model, x)
    torch.testing.assert_close(kernel, K.empirical_ntk_reference(model, x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(kernel, kernel.T)
    assert K.smallest_eigenvalue(kernel) >= -1e-10  # a Gram matrix is positive semi-definite

    params = {"w": torch.randn(3, dtype=torch.float64)}
    kernel = K.empirical_ntk(lambda p, batch: torch.sin(batch @ p["w"]), x, params=params)
    jacobian = torch.cos(x @ params["w"])[:, None] * x  # d sin(w.x)/dw
    torch.testing.assert_close(kernel, jacobian @ jacobian.T)


def test_frozen_parameters_are_not_differentiated():
    model = relu_mlp.ntk_mlp(2, 8, 1, seed=0)
    model.weights[0].requires_grad_(False)
    x = circle(5)
    last_layer_only = K.empirical_ntk(model, x)
    features = math.sqrt(2) * torch.relu(x @ model.weights[0].T / math.sqrt(2)) / math.sqrt(8)
    torch.testing.assert_close(last_layer_only, features @ features.T)


def test_training_records_kernels_and_wider_moves_less():
    x = circle(8)
    y = torch.linspace(-0.5, 0.5, 8, dtype=torch.float64)
    movements = {}
    for width in (32, 512):
        record = K.train_recording_kernel(relu_mlp.ntk_mlp(2, width, 1, seed=0), x, y, steps=30, lr=1.0, record_every=10)
        assert record.steps == [0, 10, 20, 30]
        assert len(record.losses) == 31 and record.losses[-1] < record.losses[0] * 0.1
        movements[width] = record.movement
    assert movements[512] < movements[32]


def test_kernel_helpers():
    block = torch.randn(3, 3, 2, 2, dtype=torch.float64)
    assert K.as_matrix(block).shape == (6, 6)
    assert K.as_matrix(block)[1, 3].item() == block[0, 1, 1, 1].item()
    assert K.smallest_eigenvalue(torch.diag(torch.tensor([3.0, 1.0, 2.0]))) == pytest.approx(1.0)
    assert K.kernel_movement(torch.eye(2), 2 * torch.eye(2)) == pytest.approx(1.0)


@pytest.mark.parametrize("call, message", [
    (lambda: relu_mlp.ntk_mlp(2, 0, 1), "width"),
    (lambda: relu_mlp.ntk_mlp(2, 8, 0), "depth"),
    (lambda: relu_mlp.relu_kernels(torch.zeros(2, 2, dtype=torch.float64)), "nonzero"),
    (lambda: relu_mlp.relu_kernels(torch.ones(3), depth=1), "batch"),
    (lambda: K.empirical_ntk(relu_mlp.ntk_mlp(2, 4, 1), torch.ones(3, 2), torch.ones(3, 5)), "same shape"),
    (lambda: K.empirical_ntk(relu_mlp.ntk_mlp(2, 4, 1), torch.tensor([[float("nan"), 1.0]])), "finite"),
    (lambda: K.empirical_ntk(lambda p, x: x.sum(1), torch.ones(3, 2)), "params"),
    (lambda: K.kernel_movement(torch.zeros(2, 2), torch.eye(2)), "zero"),
    (lambda: K.kernel_movement(torch.eye(2), torch.eye(3)), "same shape"),
    (lambda: K.smallest_eigenvalue(torch.ones(2, 3)), "square"),
    (lambda: K.train_recording_kernel(relu_mlp.ntk_mlp(2, 4, 1), torch.ones(3, 2), torch.ones(2), 5, 0.1), "rows"),
    (lambda: K.train_recording_kernel(relu_mlp.ntk_mlp(2, 4, 1), torch.ones(3, 2), torch.ones(3), 5, -1.0), "lr"),
])
def test_bad_input_raises_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_diverging_training_raises_instead_of_returning_nan():
    x = circle(8)
    with pytest.raises(ValueError, match="learning rate"):
        K.train_recording_kernel(relu_mlp.ntk_mlp(2, 64, 2, seed=0), x, torch.ones(8, dtype=torch.float64), 200, lr=1e3)
