"""Property tests of the softmax / exp / ReLU networks: the closed-form gradient against autograd, the output
scale, the step size rule, training, sweeps, score learning, and every bad input refused by name."""

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.func import functional_call, jacrev

from simple_algebra.diffusion.gaussian_mixture import gaussian_mixture
from simple_algebra.width import softmax_networks as sn
from tests.properties import bad_tensors, covers, finite, huge_sizes, refuses, seeds, tensors


@covers(sn.hidden_activation, sn.output_scale)
@given(tensors(3, 4), st.floats(-5, 5), st.integers(1, 4096), bad_tensors(3, 4))
def test_activations_and_the_output_scale(u, shift, width, bad):
    softmax = sn.hidden_activation(u, "softmax")
    assert torch.allclose(softmax.sum(-1), torch.ones(3, dtype=torch.float64))
    assert torch.allclose(sn.hidden_activation(u + shift, "softmax"), softmax)  # shift-invariant over the neurons
    assert torch.allclose(sn.hidden_activation(u, "exp"), torch.exp(u))
    assert torch.equal(sn.hidden_activation(u, "relu"), torch.relu(u))
    assert math.isclose(sn.output_scale("softmax", width) * sn.output_scale("exp", width), 1.0)
    assert math.isclose(sn.output_scale("relu", width), 1 / math.sqrt(width))
    tensor, shown = bad
    for activation in sn.ACTIVATIONS:
        if tensor.numel() == 0 or shown != "shape":  # any (..., m) is valid: only the empty one is bad
            refuses(sn.hidden_activation, tensor, activation, argument="preactivation", shows=shown)
    refuses(sn.hidden_activation, u, "tanh", argument="activation", shows="'tanh'")
    refuses(sn.hidden_activation, torch.full_like(u, 1000.0), "exp", argument="exp overflows", shows="1000.0")
    refuses(sn.output_scale, "relu", 0, argument="width", shows="0")


@covers(sn.TwoLayerNetwork, sn.softmax_network_gradient)
@given(seeds, st.integers(1, 4), st.integers(1, 6), tensors(3, 4), bad_tensors(3, 4), huge_sizes)
def test_the_closed_form_softmax_gradient_is_autograd_and_forward_is_the_formula(seed, d, width, x, bad, huge):
    x = x[:, :d]
    for activation in sn.ACTIVATIONS:
        net = sn.TwoLayerNetwork(d, width, activation, seed=seed)
        expected = net.kappa * sn.hidden_activation(x @ net.weight, activation) @ net.signs
        assert torch.allclose(net(x), expected) and finite(net(x))
        again = sn.TwoLayerNetwork(d, width, activation, seed=seed)
        assert torch.equal(again.weight, net.weight) and torch.equal(again.signs, net.signs)
    net = sn.TwoLayerNetwork(d, width, "softmax", seed=seed)
    weights = {"weight": net.weight.detach()}
    per_sample = jacrev(lambda p, one: functional_call(net, p, (one[None],))[0])
    autograd = torch.stack([per_sample(weights, row)["weight"] for row in x])
    closed = sn.softmax_network_gradient(net.weight.detach(), net.signs, x)
    assert closed.shape == (3, d, width) and torch.allclose(closed, autograd)
    net = sn.TwoLayerNetwork(4, width, seed=seed)
    tensor, shown = bad
    refuses(net, tensor, argument="x", shows=shown)
    refuses(net, x.float()[:, :1].expand(3, 4).contiguous(), argument="x", shows="float32")
    refuses(sn.softmax_network_gradient, net.weight.detach(), net.signs, tensor, argument="x", shows=shown)
    refuses(sn.softmax_network_gradient, net.weight.detach().float(), net.signs, torch.ones(3, 4),
            argument="signs", shows="float64")
    refuses(sn.TwoLayerNetwork, huge, 4, argument="input_dim", shows="GiB")
    refuses(sn.TwoLayerNetwork, 3, 4, seed=-1, argument="seed", shows="-1")
    refuses(sn.TwoLayerNetwork, 3, 4, dtype=torch.int64, argument="dtype", shows="int64")
    if not torch.cuda.is_available():
        refuses(sn.TwoLayerNetwork, 3, 4, device="cuda", argument="device", shows="cuda")
    with torch.no_grad():
        net.weight[0, 0] = math.nan
    refuses(net, torch.ones(2, 4, dtype=torch.float64), argument="weight", shows="finite")


@covers(sn.sphere_regression, sn.circle_features, sn.gradient_descent_step_size)
@given(st.integers(1, 8), st.integers(1, 5), seeds, st.floats(0, 10), tensors(6), tensors(4), st.floats(0.1, 1.9),
       huge_sizes)
def test_data_features_and_the_step_size_rule(n, d, seed, frequency, line, spectrum, factor, huge):
    x, y = sn.sphere_regression(n, d, seed=seed, frequency=frequency)
    assert torch.allclose(x.norm(dim=1), torch.ones(n, dtype=torch.float64)) and bool((y.abs() <= 1).all())
    again = sn.sphere_regression(n, d, seed=seed, frequency=frequency)
    assert torch.equal(again[0], x) and torch.equal(again[1], y)
    features = sn.circle_features(line, scale=1.5)
    assert features.shape == (6, 3) and torch.allclose(features.norm(dim=1), torch.ones(6, dtype=torch.float64))
    assert torch.allclose(features[:, 0] * math.sqrt(2), torch.cos(line / 1.5))
    kernel = torch.diag(spectrum + 3.5)  # eigenvalues in [0.5, 6.5]
    assert math.isclose(sn.gradient_descent_step_size(kernel, n, factor), factor * n / float(kernel.max()))
    refuses(sn.sphere_regression, huge, d, argument="n = ", shows="GiB")
    refuses(sn.sphere_regression, n, d, seed=-5, argument="seed", shows="-5")
    refuses(sn.sphere_regression, n, d, dtype=torch.complex64, argument="dtype", shows="complex64")
    refuses(sn.sphere_regression, n, d, frequency=math.nan, argument="frequency", shows="nan")
    refuses(sn.circle_features, line, 0.0, argument="scale", shows="0.0")
    refuses(sn.circle_features, torch.ones(3, 2, dtype=torch.float64), argument="1-D", shows="(3, 2)")
    refuses(sn.gradient_descent_step_size, kernel, -n, argument="n", shows=str(-n))
    refuses(sn.gradient_descent_step_size, -kernel, n, argument="positive eigenvalue", shows="-")
    refuses(sn.gradient_descent_step_size, kernel, n, factor=0.0, argument="factor", shows="0.0")


@covers(sn.train_network, sn.width_sweep, sn.summarise)
@settings(max_examples=5)
@given(seeds, st.sampled_from(sn.ACTIVATIONS), st.integers(1, 3))
def test_training_and_sweeps_are_reproducible_and_summaries_reduce_them(seed, activation, steps):
    x, y = sn.sphere_regression(6, 2, seed=seed)
    network, run = sn.train_network(activation, 4, x, y, steps, seed=seed)
    assert len(run.losses) == steps + 1 and finite(run.losses) and run.lambda_min <= run.lambda_max
    assert math.isclose(run.lr, 6 / run.lambda_max) and run.movement >= 0
    assert run.losses == sn.train_network(activation, 4, x, y, steps, seed=seed)[1].losses
    runs = sn.width_sweep([2, 4], [activation], seeds=(seed, seed + 1), n=6, input_dim=2, steps=steps)
    assert [(r.width, r.seed) for r in runs] == [(2, seed), (4, seed), (2, seed + 1), (4, seed + 1)]
    table = sn.summarise(runs, "lr", "max")
    assert table == {activation: {width: max(r.lr for r in runs if r.width == width) for width in (2, 4)}}
    geometric = sn.summarise(runs, "final_loss")[activation][4]
    pair = [r.losses[-1] for r in runs if r.width == 4]
    assert math.isclose(geometric, math.sqrt(pair[0] * pair[1]))
    refuses(sn.train_network, activation, 4, x, y.float(), steps, argument="y", shows="float32")
    refuses(sn.train_network, activation, 4, x, y[:-1], steps, argument="y", shows="(5,)")
    refuses(sn.train_network, activation, 4, x, y, 10**12, argument="steps", shows=str(10**12))
    refuses(sn.width_sweep, [], argument="widths", shows="[]")
    refuses(sn.width_sweep, [4], "relu", argument="activations", shows="'relu'")
    refuses(sn.width_sweep, [4], seeds=(-1,), argument="seeds", shows="-1")
    refuses(sn.width_sweep, [4], n=10**12, argument="n = ", shows="GiB")
    refuses(sn.summarise, runs, "speed", argument="quantity", shows="'speed'")
    refuses(sn.summarise, runs, "lr", "mode", argument="statistic", shows="'mode'")
    refuses(sn.summarise, [], "lr", argument="runs", shows="[]")
    negative = [sn.WidthRun(activation, 4, 0, 0.1, 0.0, -1e-3, 1.0, [0.1])]
    refuses(sn.summarise, negative, "lambda_min", argument="lambda_min", shows="-0.001")


@covers(sn.learn_score)
@settings(max_examples=3)
@given(seeds, st.floats(0.1, 1.0))
def test_score_learning_is_reproducible_and_its_errors_are_relative_errors(seed, t):
    mixture = gaussian_mixture(torch.tensor([0.5, 0.5], dtype=torch.float64),
                               torch.tensor([[-1.0], [1.0]], dtype=torch.float64),
                               torch.tensor([0.1, 0.1], dtype=torch.float64))
    fit = sn.learn_score(mixture, t, n=8, width=8, steps=2, seed=seed, test_samples=32)
    assert math.isfinite(fit.relative_error) and math.isfinite(fit.initial_relative_error) and fit.relative_error >= 0
    assert math.isfinite(fit.kernel_relative_error) and fit.kernel_relative_error >= 0
    assert fit(fit.train_x).shape == (8,) and finite(fit(fit.train_x))
    again = sn.learn_score(mixture, t, n=8, width=8, steps=2, seed=seed, test_samples=32)
    assert again.relative_error == fit.relative_error and torch.equal(again.train_x, fit.train_x)
    refuses(sn.learn_score, "mixture", t, argument="mixture", shows="str")
    refuses(sn.learn_score, mixture, t, steps=10**12, argument="steps", shows=str(10**12))
    refuses(sn.learn_score, mixture, t, test_samples=10**12, argument="test samples", shows="GiB")
    refuses(sn.learn_score, mixture, t, width=0, argument="width", shows="0")


@covers(sn.limiting_kernel)
@given(st.sampled_from(sn.ACTIVATIONS), st.integers(1, 6), st.integers(1, 4), seeds, st.floats(0.2, 1.5),
       bad_tensors(3, 4))
def test_limiting_kernels_are_symmetric_psd_and_related_by_the_normaliser(activation, n, d, seed, scale, bad):
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-6)
    kernel = sn.limiting_kernel(activation, x, init_scale=scale)
    torch.testing.assert_close(kernel, kernel.T)
    assert float(torch.linalg.eigvalsh(kernel).min()) > -1e-9 * max(1.0, float(kernel.abs().max()))
    torch.testing.assert_close(sn.limiting_kernel(activation, x[:1], x, init_scale=scale), kernel[:1])
    # On the unit sphere the exp kernel is the softmax kernel times e^{s^2}; ReLU's diagonal is |x|^2 / 2.
    torch.testing.assert_close(sn.limiting_kernel("exp", x, init_scale=scale),
                               math.exp(scale**2) * sn.limiting_kernel("softmax", x, init_scale=scale))
    torch.testing.assert_close(sn.limiting_kernel("relu", x).diagonal(), torch.full((n,), 0.5, dtype=torch.float64))
    refuses(sn.limiting_kernel, "tanh", x, argument="activation", shows="tanh")
    refuses(sn.limiting_kernel, activation, bad, argument="x1")
    refuses(sn.limiting_kernel, activation, x, torch.zeros(2, d + 1, dtype=torch.float64), argument="x1",
            shows=str(d + 1))
    refuses(sn.limiting_kernel, activation, x, init_scale=0.0, argument="init_scale", shows="0")
