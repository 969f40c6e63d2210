"""Property tests of the NTK toolkit: fast kernel = autograd loop = factorised kernel, the arc-cosine recursion's
diagonal and homogeneity, and every bad input (NaN inputs or weights, mixed dtypes, huge sizes) refused by name."""

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from simple_algebra.width import kernels as K
from simple_algebra.width import relu_mlp
from tests.properties import bad_tensors, covers, finite, refuses, seeds, tensors


@covers(K.empirical_ntk, K.empirical_ntk_reference, relu_mlp.NTKMLP, relu_mlp.ntk_mlp)
@given(seeds, st.integers(1, 4), st.integers(1, 6), st.integers(1, 2), st.integers(1, 2), tensors(3, 4),
       tensors(2, 4), bad_tensors(3, 4))
def test_the_three_kernels_agree_and_are_symmetric_positive(seed, d, width, depth, outputs, x1, x2, bad):
    net = relu_mlp.ntk_mlp(d, width, depth, outputs=outputs, seed=seed)
    x1, x2 = x1[:, :d], x2[:, :d]
    fast, loop, factorised = K.empirical_ntk(net, x1, x2), K.empirical_ntk_reference(net, x1, x2), \
        net.tangent_kernel(x1, x2)
    shape = (3, 2) if outputs == 1 else (3, 2, outputs, outputs)
    assert fast.shape == shape and finite(fast)
    assert torch.allclose(fast, loop, atol=1e-10) and torch.allclose(fast, factorised, atol=1e-10)
    square = K.as_matrix(K.empirical_ntk(net, x1))
    assert torch.allclose(square, square.T, atol=1e-10) and float(K.eigenvalues(square)[0]) > -1e-9
    assert net(x1).shape == ((3,) if outputs == 1 else (3, outputs))
    same = relu_mlp.ntk_mlp(d, width, depth, outputs=outputs, seed=seed)
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), same.parameters()))  # same seed, same weights
    assert isinstance(relu_mlp.NTKMLP(d, width, depth, outputs, seed), relu_mlp.NTKMLP)

    tensor, shown = bad
    for function in (K.empirical_ntk, K.empirical_ntk_reference):
        refuses(function, net, tensor if tensor.ndim != 2 else tensor[:, :d], argument="x1", shows=shown)
        refuses(function, net, x1, x2.float(), argument="x2", shows="float32")
        refuses(function, net, x1, params={"nope": torch.ones(2)}, argument="params", shows="'nope'")
        poisoned = {name: value.detach().clone() for name, value in net.named_parameters()}
        first = next(iter(poisoned))
        poisoned[first].view(-1)[0] = math.nan
        refuses(function, net, x1, params=poisoned, argument=f"parameter {first!r}", shows="finite")
    refuses(net, x1.float(), argument="x", shows="float32")
    refuses(net, torch.ones(3, d + 1, dtype=torch.float64), argument="x", shows=f"(3, {d + 1})")
    refuses(net.tangent_kernel, x1[:, :1].expand(3, d + 1).contiguous(), argument="x1", shows=f"(3, {d + 1})")
    with torch.no_grad():
        net.weights[0][0, 0] = math.inf
    refuses(net, x1, argument="weights[0]", shows="finite")
    refuses(K.empirical_ntk, net, x1, argument="weights.0", shows="finite")


@covers(K.as_matrix, K.eigenvalues, K.smallest_eigenvalue, K.kernel_movement)
@given(tensors(3, 3, 2, 2), tensors(3, 3), bad_tensors(3, 3))
def test_block_kernels_spectra_and_movement(blocks, square, bad):
    gram = square @ square.T + 0.1 * torch.eye(3, dtype=torch.float64)
    values = K.eigenvalues(gram)
    assert torch.all(values[1:] >= values[:-1]) and math.isclose(float(values.sum()), float(gram.trace()),
                                                                 rel_tol=1e-10)
    assert K.smallest_eigenvalue(gram) == float(values[0]) > 0
    matrix = K.as_matrix(blocks)
    assert matrix.shape == (6, 6) and torch.equal(matrix[2:4, 0:2], blocks[1, 0])  # block (1, 0) is K(x_1, x_0)
    assert torch.equal(K.as_matrix(gram), gram)
    assert K.kernel_movement(gram, gram) == 0.0
    assert math.isclose(K.kernel_movement(gram, 3 * gram), 2.0, rel_tol=1e-12)
    tensor, shown = bad
    for function in (K.as_matrix, K.eigenvalues, K.smallest_eigenvalue):
        refuses(function, tensor, argument="kernel", shows=shown)
    refuses(K.eigenvalues, square[:, :2], argument="square", shows="(3, 2)")
    refuses(K.as_matrix, torch.ones(2, 2, 2, 3, dtype=torch.float64), argument="block kernel", shows="(2, 2, 2, 3)")
    refuses(K.kernel_movement, tensor, gram, argument="initial", shows=shown)
    refuses(K.kernel_movement, gram, tensor, argument="final", shows=shown)
    refuses(K.kernel_movement, gram, gram.float(), argument="final", shows="float32")
    refuses(K.kernel_movement, torch.zeros_like(gram), gram, argument="exact", shows="zero")


@covers(K.train_recording_kernel)
@settings(max_examples=8)
@given(seeds, st.integers(0, 4), st.sampled_from([None, 1, 2]), tensors(5, 2), tensors(5))
def test_gradient_descent_records_the_kernel_and_lowers_the_loss(seed, steps, every, x, y):
    net = relu_mlp.ntk_mlp(2, 8, 1, seed=seed)
    start = net.tangent_kernel(x)
    record = K.train_recording_kernel(net, x, y, steps, lr=0.05, record_every=every, output_steps=(steps // 2,))
    assert len(record.losses) == steps + 1 and record.steps[0] == 0 and record.steps[-1] == steps
    assert record.output_steps == sorted(set(record.steps) | {steps // 2}) and len(record.outputs) == len(
        record.output_steps)
    assert torch.allclose(record.outputs[-1], net(x).detach())
    assert torch.allclose(record.kernels[0], start) and finite(record.kernels)
    if every is not None and steps:
        assert record.steps == sorted(set([0, *range(every, steps, every), steps]))
    if steps:
        assert record.losses[-1] < record.losses[0]  # a small step of gradient descent goes down
    assert torch.allclose(record.kernels[-1], net.tangent_kernel(x))  # the last kernel is the trained network's
    refuses(K.train_recording_kernel, net, x, y.float(), 2, 0.05, argument="y", shows="float32")
    refuses(K.train_recording_kernel, net, x, y[:, None], 2, 0.05, argument="y", shows="(5, 1)")
    refuses(K.train_recording_kernel, net, x, y, 10**12, 0.05, argument="steps", shows=str(10**12))
    refuses(K.train_recording_kernel, net, x, y, 2, -0.5, argument="lr", shows="-0.5")
    refuses(K.train_recording_kernel, net, x, y, 2, 0.05, output_steps=(3,), argument="output_steps", shows="3")
    refuses(K.train_recording_kernel, net, x, y, 2, 0.05, output_steps=3, argument="output_steps", shows="int")
    refuses(K.train_recording_kernel, net, x, y, 2, 0.05, probe=torch.ones(4, 3, dtype=torch.float64),
            argument="x1 and x2", shows="(4, 3)")
    broken = y.clone()
    broken[0] = math.nan
    refuses(K.train_recording_kernel, net, x, broken, 2, 0.05, argument="y", shows="finite")
    with torch.no_grad():
        net.weights[1][0, 0] = math.nan
    refuses(K.train_recording_kernel, net, x, y, 2, 0.05, argument="parameter 'weights.1'", shows="finite")


@covers(K.kernel_gradient_descent)
@given(tensors(5, 3), tensors(5), tensors(5), tensors(2, 3), st.integers(0, 30), st.floats(0.05, 1.9),
       st.sampled_from(["steps", "flow"]), bad_tensors(5, 5), bad_tensors(5))
def test_kernel_gradient_descent_contracts_the_residual_and_ends_in_kernel_regression(features, y, f0, new, steps,
                                                                                       rate, mode, bad, bad_vector):
    kernel = features @ features.T / 3 + 0.01 * torch.eye(5, dtype=torch.float64)
    cross = new @ features.T / 3
    lr = rate * 5 / float(K.eigenvalues(kernel)[-1])
    fitted = K.kernel_gradient_descent(kernel, y, lr, steps, initial=f0, mode=mode)
    assert fitted.shape == (5,) and finite(fitted)
    assert float((fitted - y).norm()) <= float((f0 - y).norm()) * (1 + 1e-9)  # every eigen-direction contracts
    if steps == 0:
        assert torch.allclose(fitted, f0)
    later = K.kernel_gradient_descent(kernel, y, lr, steps + 1, initial=f0, cross=cross, initial_cross=new[:, 0],
                                      mode=mode)
    assert later.shape == (2,) and finite(later)
    limit = K.kernel_gradient_descent(kernel, y, lr, math.inf, initial=f0, cross=cross, initial_cross=new[:, 0])
    assert torch.allclose(limit, new[:, 0] + cross @ torch.linalg.solve(kernel, y - f0), atol=1e-8)
    tensor, shown = bad
    refuses(K.kernel_gradient_descent, tensor, y, lr, steps, argument="kernel", shows=shown)
    tensor, shown = bad_vector
    refuses(K.kernel_gradient_descent, kernel, tensor, lr, steps, argument="targets", shows=shown)
    refuses(K.kernel_gradient_descent, kernel, y, lr, steps, initial=tensor, argument="initial", shows=shown)
    refuses(K.kernel_gradient_descent, kernel, y, lr, steps, cross=kernel.float(), argument="cross",
            shows="float32")
    refuses(K.kernel_gradient_descent, kernel, y, lr, steps, cross=cross, initial_cross=y, argument="initial_cross",
            shows="(5,)")
    refuses(K.kernel_gradient_descent, kernel, y, -lr, steps, argument="lr", shows=f"{-lr}"[:6])
    refuses(K.kernel_gradient_descent, kernel, y, lr, -1, argument="steps", shows="-1")
    refuses(K.kernel_gradient_descent, kernel, y, lr, steps, mode="euler", argument="mode", shows="'euler'")
    refuses(K.kernel_gradient_descent, kernel, y, 2.5 * lr / rate, steps, argument="lr", shows="diverge")
