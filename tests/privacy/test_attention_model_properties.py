"""Property tests of the leakage chapter's model: the closed-form shared gradient equals autograd for every draw and
every batch, the norm is scale-equivariant, and bad tensors, mixed dtypes and overflowing scores are refused by name."""

import math

import torch
from hypothesis import given
from hypothesis import strategies as st

from simple_algebra.privacy import attention_model as am
from simple_algebra.privacy.gradient_leakage import random_instance
from tests.properties import bad_tensors, covers, finite, refuses, seeds


@covers(am.attention_output, am.attention_loss, am.shared_gradients, am.shared_gradients_reference)
@given(st.integers(1, 4), st.integers(1, 3), seeds, bad_tensors(3, 2))
def test_closed_form_gradients_equal_autograd_and_batches_are_per_sequence(tokens, dim, seed, bad):
    one, two = random_instance(tokens, dim, seed), random_instance(tokens, dim, seed + 1)
    W, V = one.W, one.V
    out = am.attention_output(one.X, W, V)
    assert out.shape == (tokens, dim) and finite(out)
    grads = am.shared_gradients(one.X, W, V, one.Y)
    for fast, reference in zip(grads, am.shared_gradients_reference(one.X, W, V, one.Y)):
        torch.testing.assert_close(fast, reference, rtol=1e-10, atol=1e-12)
    X, Y = torch.stack([one.X, two.X]), torch.stack([one.Y, two.Y])
    batched = am.shared_gradients(X, W, V, Y)
    second = am.shared_gradients(two.X, W, V, two.Y)
    torch.testing.assert_close(batched[0][1], second[0])
    torch.testing.assert_close(batched[1][0], grads[1])
    losses = am.attention_loss(X, W, V, Y)
    torch.testing.assert_close(losses[0], am.attention_loss(one.X, W, V, one.Y))
    assert float(am.attention_loss(one.X, W, V, out)) == 0.0  # the model's own output has zero loss
    refuses(am.attention_output, one.X, W.float(), V, argument="W", shows="float32")
    refuses(am.shared_gradients, one.X, W, V, one.Y[:, :0] if dim > 1 else one.Y[:0], argument="Y")
    refuses(am.attention_output, one.X[None, None], W, V, argument="X", shows=f"(1, 1, {tokens}, {dim})")
    big = 1e200 * one.X / one.X.abs().max()  # finite, largest entry exactly 1e200: the scores overflow
    refuses(am.attention_output, big, W + 1, V, argument="attention_output", shows="1e+200")
    refuses(am.shared_gradients_reference, X, W, V, Y, argument="X", shows=f"(2, {tokens}, {dim})")
    tensor, shown = bad
    W2 = torch.ones(2, 2, dtype=torch.float64)
    refuses(am.attention_output, tensor, W2, W2, argument="X", shows=shown)
    refuses(am.attention_loss, torch.ones(3, 2, dtype=torch.float64), W2, W2, tensor, argument="Y", shows=shown)


@covers(am.gradient_norm)
@given(seeds, st.floats(-100.0, 100.0).filter(lambda c: c != 0))
def test_the_gradient_norm_is_the_euclidean_norm_of_all_parts_and_scale_equivariant(seed, scale):
    draw = torch.Generator().manual_seed(seed)
    parts = (torch.randn(3, 3, generator=draw, dtype=torch.float64), torch.randn(3, 2, generator=draw,
                                                                                 dtype=torch.float64))
    norm = am.gradient_norm(parts)
    torch.testing.assert_close(norm, torch.cat([p.reshape(-1) for p in parts]).norm())
    torch.testing.assert_close(am.gradient_norm(tuple(scale * p for p in parts)), abs(scale) * norm)
    refuses(am.gradient_norm, (), argument="gradients", shows="empty")
    refuses(am.gradient_norm, parts[0], argument="gradients", shows="Tensor")
    refuses(am.gradient_norm, (parts[0] * math.nan,), argument="gradients[0]", shows="NaN")
    refuses(am.gradient_norm, (parts[0], parts[1].float()), argument="gradients[1]", shows="float32")
    refuses(am.gradient_norm, (torch.full((3,), 1e200, dtype=torch.float64),), argument="gradients", shows="inf")
