import math

import pytest
import torch

from simple_algebra.core.runtime import one_thread
from simple_algebra.width import one_bit as ob

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    # The matrices here are tiny; on a shared CPU two torch threads spin-wait for each other and run 100x slower.
    with one_thread():
        yield


@pytest.fixture(scope="module")
def data():
    return ob.regression_data(n=16, d=8, n_test=32, seed=0)


def test_sign_quantiser_gives_one_bit():
    W = torch.tensor([[-2.0, 0.0], [0.3, -1e-9]], dtype=torch.float64)
    torch.testing.assert_close(ob.quantize(W, "sign"), torch.tensor([[-1.0, 1.0], [1.0, -1.0]], dtype=torch.float64))
    assert ob.quantize(W, "full") is W


def test_bitnet_quantiser_uses_mean_and_mean_absolute_value():
    W = torch.tensor([[1.0, 2.0], [3.0, -2.0]], dtype=torch.float64)  # alpha = 1, beta = 2
    expected = 2.0 * torch.tensor([[1.0, 1.0], [1.0, -1.0]], dtype=torch.float64)
    torch.testing.assert_close(ob.quantize(W, "bitnet"), expected)
    W = torch.randn(7, 40, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    values = ob.quantize(W, "bitnet").abs().unique()
    assert values.numel() == 1 and values.item() == pytest.approx(W.abs().mean().item())


@pytest.mark.parametrize("scheme", ob.SCHEMES)
@pytest.mark.parametrize("activation", ob.ACTIVATIONS)
def test_straight_through_gradient_is_the_gradient_at_the_quantised_weights(data, scheme, activation):
    W, a = ob.initial_weights(8, 20, seed=3, paired=False)
    loss, gradient = ob.loss_and_gradient(data.X_train, data.y_train, W, a, scheme, activation)
    Wq = ob.quantize(W, scheme).clone().requires_grad_(True)
    output = ob.forward(data.X_train, Wq, a, "full", activation)
    reference = 0.5 * (output - data.y_train).square().mean()
    reference.backward()
    assert loss == pytest.approx(reference.item(), rel=1e-12)
    torch.testing.assert_close(gradient, Wq.grad, rtol=1e-10, atol=1e-12)


def test_paired_init_starts_at_zero_for_every_quantiser(data):
    W, a = ob.initial_weights(8, 32, seed=0)
    for scheme in ob.SCHEMES:
        assert ob.forward(data.X_test, W, a, scheme).abs().max().item() < 1e-12


def test_data_are_on_the_sphere_and_deterministic():
    first, second = ob.regression_data(seed=4), ob.regression_data(seed=4)
    torch.testing.assert_close(first.X_train.norm(dim=1), torch.ones(64, dtype=torch.float64))
    torch.testing.assert_close(first.y_test, second.y_test, rtol=0, atol=0)
    assert not torch.equal(first.y_train, ob.regression_data(seed=5).y_train)


def test_same_seed_same_numbers(data):
    first, second = ob.compare(data, 32, steps=20, seed=2), ob.compare(data, 32, steps=20, seed=2)
    assert first.one_bit.losses == second.one_bit.losses
    assert first.generalization_difference == second.generalization_difference


def test_full_precision_fits_and_reports_consistent_numbers(data):
    result = ob.train(data, 256, "full", steps=100)
    assert len(result.losses) == 101 and result.train_mse == result.losses[-1]
    assert result.train_mse < 0.1 * result.losses[0]
    assert result.flip_fraction < 0.2 and result.test_outputs.shape == (32,)
    mse = (result.test_outputs - data.y_test).square().mean().item()
    assert result.test_mse == pytest.approx(mse)


def test_generalization_difference_is_mean_squared_output_gap(data):
    found = ob.compare(data, 16, "bitnet", "linear", steps=10)
    gap = (found.one_bit.test_outputs - found.full.test_outputs).square().mean().item()
    assert found.generalization_difference == pytest.approx(gap)


def test_flip_fraction_falls_with_width():
    data = ob.regression_data(n=32, d=8, n_test=8, seed=1)
    sweep = ob.width_sweep(data, [32, 512], seeds=[0, 1], steps=60)
    flips = sweep["flip_fraction"]
    assert flips[512] < 0.6 * flips[32]
    assert all(sweep["one_bit_train"][m] > sweep["full_train"][m] for m in (32, 512))


@pytest.mark.parametrize("device", DEVICES)
def test_runs_on_every_device_and_dtype(device):
    data = ob.regression_data(n=8, d=4, n_test=4, dtype=torch.float32, device=device)
    result = ob.train(data, 16, steps=5)
    assert result.test_outputs.dtype == torch.float32 and result.test_outputs.device.type == device


@pytest.mark.parametrize("call, message", [
    (lambda d: ob.train(d, 0), "width"),
    (lambda d: ob.train(d, 31), "even width"),
    (lambda d: ob.train(d, 16.5), "width"),
    (lambda d: ob.train(d, 16, lr=0.0), "lr"),
    (lambda d: ob.train(d, 16, lr=math.nan), "lr"),
    (lambda d: ob.train(d, 16, steps=-1), "steps"),
    (lambda d: ob.train(d, 16, scheme="ternary"), "scheme"),
    (lambda d: ob.train(d, 16, activation="tanh"), "activation"),
    (lambda d: ob.compare(d, 16, scheme="full"), "1-bit scheme"),
    (lambda d: ob.width_sweep(d, [], [0]), "not be empty"),
    (lambda d: ob.quantize(torch.tensor([[1.0, math.inf]]), "sign"), "finite"),
    (lambda d: ob.forward(d.X_train, torch.ones(3, 4), torch.ones(4)), "expected X"),
    (lambda d: ob.loss_and_gradient(d.X_train, d.y_test, torch.ones(8, 4), torch.ones(4)), "expected X"),
])
def test_bad_input_raises(data, call, message):
    with pytest.raises(ValueError, match=message):
        call(data)


def test_too_large_step_raises_instead_of_returning_nan(data):
    with pytest.raises(ValueError, match="lower the learning rate"):
        ob.train(data, 64, "full", lr=1e6, steps=50)


def test_without_a_bias_no_sign_vector_moves_a_neurons_mean_over_the_sphere():
    # For x uniform on the sphere, mean relu(<x, s>) depends on s only through |s| = sqrt(d): every sign vector gives
    # the same mean, so flips cannot move the network's mean. With the constant input the bias sign moves it.
    points = ob.regression_data(n=8, d=8, n_test=40000, seed=7).X_test
    signs = ob.quantize(torch.randn(8, 12, generator=torch.Generator().manual_seed(0), dtype=torch.float64), "sign")
    means = torch.stack([ob.forward(points, signs[:, [j]], torch.ones(1, dtype=torch.float64), "sign") for j in range(12)]).mean(dim=1)
    spread = means.max() - means.min()
    assert spread < 0.03, f"neuron means differ by {spread:.3f}"  # Monte Carlo error ~0.006 per mean
    biased = torch.cat([points, torch.ones(points.shape[0], 1, dtype=torch.float64)], dim=1)
    plus = torch.cat([signs[:, :1], torch.ones(1, 1, dtype=torch.float64)])
    minus = torch.cat([signs[:, :1], -torch.ones(1, 1, dtype=torch.float64)])
    shift = (ob.forward(biased, plus, torch.ones(1, dtype=torch.float64), "sign") - ob.forward(biased, minus, torch.ones(1, dtype=torch.float64), "sign")).mean()
    assert shift > 0.5  # relu(z + 1) - relu(z - 1) >= 0, and it is 2 for |z| < 1


def test_the_bias_lets_the_one_bit_network_fit_the_targets_mean():
    plain = ob.regression_data(n=64, d=8, n_test=512, seed=0)
    biased = ob.regression_data(n=64, d=8, n_test=512, seed=0, bias=True)
    target_mean = plain.y_test.mean().item()
    assert target_mean > 0.3
    stuck = ob.train(plain, 512, "sign", steps=150)
    moved = ob.train(biased, 512, "sign", steps=150)
    assert abs(stuck.test_outputs.mean().item()) < 0.1 * target_mean  # pinned at zero by the paired init
    assert stuck.test_mse > 0.9 * target_mean ** 2  # the floor mean(f - y)^2 >= (mean f - mean y)^2
    assert abs(moved.test_outputs.mean().item() - target_mean) < 0.25 * target_mean
    assert moved.test_mse < 0.5 * target_mean ** 2
