import math

import pytest
import torch

from simple_algebra.diffusion import gaussian_mixture as gm
from simple_algebra.width import softmax_networks as sn
from simple_algebra.width.kernels import empirical_ntk, empirical_ntk_reference


def test_exact_softmax_gradient_matches_autograd():
    network = sn.TwoLayerNetwork(5, 37, "softmax", seed=3)
    x = torch.randn(6, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    exact = sn.softmax_network_gradient(network.weight.detach(), network.signs, x)
    for index in range(x.shape[0]):
        (autograd,) = torch.autograd.grad(network(x[index:index + 1])[0], network.weight)
        torch.testing.assert_close(exact[index], autograd, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("activation", sn.ACTIVATIONS)
def test_kernel_of_the_module_matches_the_reference_and_is_order_one(activation):
    network = sn.TwoLayerNetwork(4, 512, activation, seed=1)
    x, _ = sn.sphere_regression(5, 4, seed=2)
    kernel = empirical_ntk(network, x)
    torch.testing.assert_close(kernel, empirical_ntk_reference(network, x), rtol=1e-10, atol=1e-12)
    assert 0.05 < float(kernel.diagonal().mean()) < 20  # the kappa convention keeps H_0 of order one
    assert float(network(x).detach().abs().max()) < 10


def test_softmax_kernel_formula():
    network = sn.TwoLayerNetwork(3, 64, "softmax", seed=4)
    x, _ = sn.sphere_regression(4, 3, seed=5)
    gradients = sn.softmax_network_gradient(network.weight.detach(), network.signs, x).reshape(4, -1)
    torch.testing.assert_close(empirical_ntk(network, x), gradients @ gradients.T, rtol=1e-12, atol=1e-12)


def test_exp_overflow_raises_instead_of_nan():
    network = sn.TwoLayerNetwork(2, 8, "exp", seed=0)
    with pytest.raises(ValueError, match="overflows"):
        network(torch.full((1, 2), 1e4, dtype=torch.float64))
    softmax = sn.TwoLayerNetwork(2, 8, "softmax", seed=0)
    assert torch.isfinite(softmax(torch.full((1, 2), 1e4, dtype=torch.float64))).all()


@pytest.mark.parametrize("call, message", [
    (lambda: sn.TwoLayerNetwork(3, 0), "width"),
    (lambda: sn.TwoLayerNetwork(3, 8, "tanh"), "activation"),
    (lambda: sn.TwoLayerNetwork(3, 8, init_scale=0.0), "init_scale"),
    (lambda: sn.TwoLayerNetwork(3, 8)(torch.zeros(2, 4, dtype=torch.float64)), "shape"),
    (lambda: sn.softmax_network_gradient(torch.zeros(3, 4), torch.ones(5), torch.zeros(2, 3)), "shapes"),
    (lambda: sn.circle_features(torch.zeros(3, 2)), "1-D"),
    (lambda: sn.summarise([], "speed"), "quantity"),
])
def test_bad_input_raises(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_same_seed_same_numbers_and_width_trend():
    runs = sn.width_sweep([32, 2048], ["softmax", "relu"], seeds=[0], n=12, input_dim=4, steps=60)
    again = sn.width_sweep([32, 2048], ["softmax", "relu"], seeds=[0], n=12, input_dim=4, steps=60)
    assert [run.losses for run in runs] == [run.losses for run in again]
    movement = sn.summarise(runs, "movement")
    for activation in ("softmax", "relu"):
        assert movement[activation][2048] < movement[activation][32]
    for run in runs:
        assert run.losses[-1] < 1e-2 * run.losses[0]


def test_step_size_puts_the_top_mode_at_one():
    kernel = torch.diag(torch.tensor([4.0, 1.0], dtype=torch.float64))
    assert sn.gradient_descent_step_size(kernel, n=8) == pytest.approx(2.0)


def test_learn_score_beats_the_untrained_network():
    mixture = gm.gaussian_mixture([0.4, 0.6], [-2.0, 1.5], 0.25)
    fit = sn.learn_score(mixture, 0.5, n=32, width=256, steps=100, seed=0, test_samples=500)
    assert fit.relative_error < 0.5 * fit.initial_relative_error
    assert fit(torch.zeros(3, 1, dtype=torch.float64)).shape == (3,)
    assert math.isfinite(fit.relative_error)
