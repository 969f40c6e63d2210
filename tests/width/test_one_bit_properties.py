"""Property tests of the 1-bit network: quantisers, the straight-through gradient against autograd, the paired
init, training (same seed, same numbers) and every bad input refused by name."""

import dataclasses
import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from simple_algebra.width import one_bit as ob
from tests.properties import bad_tensors, covers, finite, huge_sizes, refuses, seeds, tensors


@covers(ob.quantize)
@given(tensors(3, 4), st.floats(0.01, 100), bad_tensors(3, 4))
def test_quantisers_are_one_bit_and_scale_as_promised(W, scale, bad):
    assert torch.equal(ob.quantize(W, "full"), W)
    signs = ob.quantize(W, "sign")
    assert set(signs.unique().tolist()) <= {-1.0, 1.0} and torch.equal(ob.quantize(scale * W, "sign"), signs)
    bitnet = ob.quantize(W, "bitnet")
    assert torch.allclose(bitnet.abs(), W.abs().mean().expand_as(W))
    assert torch.allclose(ob.quantize(scale * W, "bitnet"), scale * bitnet)
    tensor, shown = bad
    refuses(ob.quantize, tensor, "sign", argument="W", shows=shown)
    refuses(ob.quantize, W, "ternary", argument="scheme", shows="'ternary'")


@covers(ob.forward, ob.loss_and_gradient)
@given(tensors(5, 3), tensors(5), tensors(3, 4), st.sampled_from(ob.SCHEMES), st.sampled_from(ob.ACTIVATIONS),
       bad_tensors(5))
def test_the_straight_through_gradient_is_autograd_at_the_quantised_weights(X, y, W, scheme, activation, bad):
    a = torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=torch.float64)
    quantised = ob.quantize(W, scheme).clone().requires_grad_(True)
    hidden = X @ quantised
    hidden = hidden.clamp(min=0) if activation == "relu" else hidden
    output = hidden @ a / 2.0  # sqrt(m) = 2
    assert torch.allclose(ob.forward(X, W, a, scheme, activation), output)
    loss = 0.5 * (output - y).square().mean()
    loss.backward()
    value, gradient = ob.loss_and_gradient(X, y, W, a, scheme, activation)
    assert math.isclose(value, float(loss.detach()), rel_tol=1e-12) and torch.allclose(gradient, quantised.grad)
    tensor, shown = bad
    refuses(ob.loss_and_gradient, X, tensor, W, a, argument="y", shows=shown)
    refuses(ob.loss_and_gradient, X, y.float(), W, a, argument="y", shows="float32")
    refuses(ob.loss_and_gradient, X, y, W, a, activation="tanh", argument="activation", shows="'tanh'")
    refuses(ob.forward, X, W.float(), a, argument="W", shows="float32")
    refuses(ob.forward, X, W[:, 0], a, argument="W", shows="shape (3,)")
    refuses(ob.forward, X, W[:2], a, argument="expected X", shows="W (2, 4)")


@covers(ob.regression_data, ob.initial_weights)
@given(st.integers(1, 8), st.integers(1, 5), st.integers(1, 6), seeds, st.integers(1, 4), huge_sizes)
def test_data_on_the_sphere_and_a_paired_init_that_starts_at_zero(n, d, n_test, seed, half, huge):
    data = ob.regression_data(n, d, n_test, seed=seed)
    assert data.X_train.shape == (n, d) and data.y_test.shape == (n_test,) and finite(dataclasses.astuple(data))
    assert torch.allclose(torch.cat([data.X_train, data.X_test]).norm(dim=1), torch.ones(n + n_test,
                                                                                         dtype=torch.float64))
    assert torch.equal(ob.regression_data(n, d, n_test, seed=seed).y_train, data.y_train)  # same seed, same numbers
    W, a = ob.initial_weights(d, 2 * half, seed=seed)
    assert W.shape == (d, 2 * half) and set(a.tolist()) <= {-1.0, 1.0}
    for scheme in ob.SCHEMES:  # paired neurons cancel: f = 0 at init for every quantiser
        assert torch.allclose(ob.forward(data.X_train, W, a, scheme), torch.zeros(n, dtype=torch.float64))
    W2, a2 = ob.initial_weights(d, 2 * half, seed=seed)
    assert torch.equal(W, W2) and torch.equal(a, a2)
    biased = ob.regression_data(n, d, n_test, seed=seed, bias=True)  # the same points with a constant coordinate
    assert torch.equal(biased.X_train, torch.cat([data.X_train, torch.ones(n, 1, dtype=torch.float64)], dim=1))
    assert torch.equal(biased.X_test[:, :d], data.X_test) and torch.equal(biased.y_test, data.y_test)
    refuses(ob.regression_data, n, d, bias="yes", argument="bias", shows="'yes'")
    refuses(ob.regression_data, huge, argument="n = ", shows="GiB")
    refuses(ob.regression_data, n, huge, argument="d = ", shows="GiB")
    refuses(ob.regression_data, n, d, seed=-1 - seed, argument="seed", shows=str(-1 - seed))
    refuses(ob.regression_data, n, d, dtype=torch.int64, argument="dtype", shows="int64")
    refuses(ob.initial_weights, huge, 4, argument="d = ", shows="GiB")
    refuses(ob.initial_weights, d, 2 * half + 1, argument="even width", shows=str(2 * half + 1))
    refuses(ob.initial_weights, d, 4, dtype=torch.complex128, argument="dtype", shows="complex128")
    if not torch.cuda.is_available():
        refuses(ob.regression_data, n, d, device="cuda", argument="device", shows="cuda")
        refuses(ob.initial_weights, d, 4, device="cuda", argument="device", shows="cuda")


@covers(ob.train, ob.compare, ob.width_sweep)
@settings(max_examples=6)
@given(seeds, st.sampled_from(["sign", "bitnet"]), st.integers(1, 4), st.sampled_from(["y_test", "X_train"]))
def test_training_is_reproducible_starts_at_the_mean_square_and_refuses_bad_data(seed, scheme, steps, spoiled):
    data = ob.regression_data(8, 3, 4, seed=seed)
    result = ob.train(data, 4, scheme, lr=1.0, steps=steps, seed=seed)
    assert len(result.losses) == steps + 1 and finite(result.losses) and 0 <= result.flip_fraction <= 1
    assert math.isclose(result.losses[0], float(data.y_train.square().mean()), rel_tol=1e-12)  # f = 0 at init
    again = ob.train(data, 4, scheme, lr=1.0, steps=steps, seed=seed)  # same seed, same numbers
    assert again.losses == result.losses and torch.equal(again.test_outputs, result.test_outputs)
    comparison = ob.compare(data, 4, scheme, lr=1.0, steps=steps, seed=seed)
    assert comparison.one_bit.losses == result.losses
    difference = (comparison.one_bit.test_outputs - comparison.full.test_outputs).square().mean().item()
    assert math.isclose(comparison.generalization_difference, difference)
    table = ob.width_sweep(data, [4], [seed], scheme, lr=1.0, steps=steps)
    assert table["one_bit_train"] == {4: result.train_mse} and table["full_test"] == {4: comparison.full.test_mse}
    assert table["one_bit_train_half"] == {4: result.losses[steps // 2]}
    assert table["full_train_half"] == {4: comparison.full.losses[steps // 2]}
    assert math.isclose(table["one_bit_test_mean"][4], float(result.test_outputs.mean()), rel_tol=1e-12)
    broken = getattr(data, spoiled).clone()
    broken.view(-1)[0] = math.nan
    refuses(ob.train, dataclasses.replace(data, **{spoiled: broken}), 4, steps=1, argument=f"data.{spoiled}",
            shows="finite")
    refuses(ob.train, data, 4, steps=10**12, argument="steps", shows=str(10**12))
    refuses(ob.train, None, 4, argument="data", shows="NoneType")
    refuses(ob.train, data, 4, seed=-1, argument="seed", shows="-1")
    refuses(ob.compare, data, 4, scheme="full", argument="scheme", shows="'full'")
    refuses(ob.width_sweep, data, 4, [0], argument="widths", shows="4")
    refuses(ob.width_sweep, data, [4], [-3], argument="seeds", shows="-3")
    refuses(ob.width_sweep, data, [], [0], argument="widths", shows="[]")
