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


def step_by_step(kernel, cross, targets, initial, initial_cross, lr, steps):
    """The reference of kernel gradient descent: the update f <- f - (lr/n) K (f - y), one step at a time."""
    n = kernel.shape[0]
    train, test = initial.clone(), initial_cross.clone()
    for _ in range(steps):
        residual = train - targets
        train, test = train - lr / n * kernel @ residual, test - lr / n * cross @ residual
    return train, test


def gram(count, seed, rank=None):
    features = torch.randn(count, rank or count, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    return features @ features.T / features.shape[1]


@pytest.mark.parametrize("steps", [0, 1, 7, 60])
def test_kernel_gradient_descent_matches_the_step_by_step_reference(steps):
    points = torch.randn(9, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    full = relu_mlp.relu_kernels(points, depth=2)[1]  # a real tangent kernel: 6 training, 3 test points
    kernel, cross = full[:6, :6], full[6:, :6]
    y, f0, f0_test = (torch.randn(6, dtype=torch.float64), torch.randn(6, dtype=torch.float64),
                      torch.randn(3, dtype=torch.float64))
    lr = 1.7 * 6 / float(torch.linalg.eigvalsh(kernel)[-1])  # rate 1.7: the top direction oscillates and converges
    train, test = step_by_step(kernel, cross, y, f0, f0_test, lr, steps)
    torch.testing.assert_close(K.kernel_gradient_descent(kernel, y, lr, steps, initial=f0), train, rtol=1e-10,
                               atol=1e-10)
    torch.testing.assert_close(K.kernel_gradient_descent(kernel, y, lr, steps, f0, cross, f0_test), test,
                               rtol=1e-10, atol=1e-10)


def test_gradient_flow_is_the_limit_of_small_steps_and_kernel_regression_of_many():
    kernel, y = gram(5, 0), torch.linspace(-1, 1, 5, dtype=torch.float64)
    fine = step_by_step(kernel, kernel, y, torch.zeros(5, dtype=torch.float64), torch.zeros(5, dtype=torch.float64),
                        1e-3, 20_000)[0]  # lr t = 20 in steps of 1e-3
    flow = K.kernel_gradient_descent(kernel, y, 20.0, 1, mode="flow")
    assert (flow - fine).abs().max() < 1e-3 * y.abs().max()  # Euler's error is O(lr)
    assert (flow - K.kernel_gradient_descent(kernel, y, 1.0, 1, mode="flow")).abs().max() > 0.1  # time matters
    # closed form on the training points: f_t = (I - exp(-lr t K / n)) y
    torch.testing.assert_close(flow, (torch.eye(5, dtype=torch.float64) - torch.linalg.matrix_exp(-20 * kernel / 5))
                               @ y)
    regression = K.kernel_gradient_descent(kernel, y, 1.0, math.inf)
    torch.testing.assert_close(regression, y)  # an invertible kernel interpolates
    cross = gram(8, 0, rank=5)[5:, :5]
    torch.testing.assert_close(K.kernel_gradient_descent(kernel, y, 1.0, math.inf, cross=cross),
                               cross @ torch.linalg.solve(kernel, y))


def test_a_singular_kernel_gives_the_minimum_norm_fit_and_block_kernels_match_scalar_ones():
    kernel = gram(6, 1, rank=2)  # rank 2: only two directions can be fitted
    y = torch.randn(6, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    regression = K.kernel_gradient_descent(kernel, y, 1.0, math.inf)
    torch.testing.assert_close(regression, kernel @ torch.linalg.pinv(kernel, hermitian=True) @ y)
    lr = 6 / float(torch.linalg.eigvalsh(kernel)[-1])
    torch.testing.assert_close(K.kernel_gradient_descent(kernel, y, lr, 40), step_by_step(
        kernel, kernel, y, torch.zeros(6, dtype=torch.float64), torch.zeros(6, dtype=torch.float64), lr, 40)[0])
    # a block kernel K(x, x') I_2 trains two outputs independently, like two scalar problems
    targets = torch.randn(6, 2, dtype=torch.float64)
    block = kernel[:, :, None, None] * torch.eye(2, dtype=torch.float64)
    together = K.kernel_gradient_descent(block, targets, lr, 5)
    torch.testing.assert_close(together, K.kernel_gradient_descent(kernel, targets, lr, 5))
    torch.testing.assert_close(together[:, 1], K.kernel_gradient_descent(kernel, targets[:, 1], lr, 5))


def test_kernel_gradient_descent_refuses_a_diverging_rate_and_bad_shapes():
    kernel, y = gram(4, 3), torch.ones(4, dtype=torch.float64)
    top = float(torch.linalg.eigvalsh(kernel)[-1])
    with pytest.raises(ValueError, match="diverge"):
        K.kernel_gradient_descent(kernel, y, 2.01 * 4 / top, 3)
    K.kernel_gradient_descent(kernel, y, 2.01 * 4 / top, 3, mode="flow")  # gradient flow has no step size limit
    with pytest.raises(ValueError, match="targets"):
        K.kernel_gradient_descent(kernel, torch.ones(3, dtype=torch.float64), 0.1, 3)
    with pytest.raises(ValueError, match="cross"):
        K.kernel_gradient_descent(kernel, y, 0.1, 3, cross=torch.ones(2, 3, dtype=torch.float64))


def test_training_records_outputs_at_kernel_steps_and_at_extra_steps():
    x, probe = circle(4), circle(9)
    y = torch.tensor([0.5, -0.5, 0.2, 0.1], dtype=torch.float64)
    model = relu_mlp.ntk_mlp(2, 16, 1, seed=1)
    start = model(probe).detach()
    record = K.train_recording_kernel(model, x, y, steps=6, lr=0.5, probe=probe, record_every=4, output_steps=(1, 4))
    assert record.steps == [0, 4, 6] and record.output_steps == [0, 1, 4, 6]
    torch.testing.assert_close(record.outputs[0], start)
    torch.testing.assert_close(record.outputs[-1], model(probe).detach())
    again = K.train_recording_kernel(relu_mlp.ntk_mlp(2, 16, 1, seed=1), x, y, steps=1, lr=0.5, probe=probe)
    torch.testing.assert_close(record.outputs[1], again.outputs[-1])  # the output after step 1
    with pytest.raises(ValueError, match="output_steps"):
        K.train_recording_kernel(relu_mlp.ntk_mlp(2, 16, 1), x, y, steps=6, lr=0.5, output_steps=(7,))
