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


def test_learn_score_beats_the_untrained_network_and_tracks_its_kernel_limit():
    mixture = gm.gaussian_mixture([0.4, 0.6], [-2.0, 1.5], 0.25)
    fit = sn.learn_score(mixture, 0.5, n=32, width=256, steps=100, seed=0, test_samples=500)
    assert fit.relative_error < 0.5 * fit.initial_relative_error
    assert fit.relative_error < 0.5  # the zero predictor has relative error 1
    assert 0.75 < fit.relative_error / fit.kernel_relative_error < 1.25  # the limit of the same training
    assert fit(torch.zeros(3, 1, dtype=torch.float64)).shape == (3,)
    assert math.isfinite(fit.relative_error)


@pytest.mark.parametrize("activation", sn.ACTIVATIONS)
def test_limiting_kernel_is_the_wide_empirical_kernel(activation):
    # Monte-Carlo over m neurons: the relative error falls as m^{-1/2} (about 0.02-0.04 at m = 65536, 0.06-0.13
    # at 4096, over seeds 0-2); the softmax limit is the exp limit over e on the sphere, an error of 1.7 if swapped.
    x, _ = sn.sphere_regression(6, 4, seed=2)
    limit = sn.limiting_kernel(activation, x)
    errors = {m: float((empirical_ntk(sn.TwoLayerNetwork(4, m, activation, seed=0), x) - limit).norm() / limit.norm())
              for m in (4096, 65536)}
    assert errors[65536] < 0.06
    assert errors[4096] > 2 * errors[65536]  # the gap is Monte-Carlo noise, not a bias
    torch.testing.assert_close(sn.limiting_kernel("exp", x), math.e * sn.limiting_kernel("softmax", x))


def test_limiting_kernel_with_an_init_scale_and_off_the_sphere():
    x = 0.7 * torch.randn(5, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for activation in ("softmax", "exp"):
        net = sn.TwoLayerNetwork(3, 65536, activation, seed=1, init_scale=0.6)
        limit = sn.limiting_kernel(activation, x, init_scale=0.6)
        assert float((empirical_ntk(net, x) - limit).norm() / limit.norm()) < 0.06


def test_train_network_records_the_function_on_probe_points():
    runs = sn.width_sweep([256], ["softmax"], seeds=[0], n=8, input_dim=4, steps=20, probes=5, output_steps=(3,))
    run = runs[0]
    assert run.output_steps == [0, 3, 20] and [tuple(o.shape) for o in run.outputs] == [(13,)] * 3
    assert run.cross_initial.shape == (13, 8) and run.probe.shape == (13, 4)
    network = sn.TwoLayerNetwork(4, 256, "softmax", seed=sn.NETWORK_SEED_OFFSET)
    x, y = sn.sphere_regression(8, 4, seed=0)
    torch.testing.assert_close(run.probe[5:], x)
    assert float((run.outputs[-1][5:] - y).norm()) < float((run.outputs[0][5:] - y).norm())
    torch.testing.assert_close(run.cross_initial, empirical_ntk(network, run.probe, x))
    torch.testing.assert_close(run.outputs[0], network(run.probe).detach())
