"""Property tests of exact softmax attention: rows of the attention matrix sum to one, the output matches the
plain exp-normalise formula, and bad input is refused by name."""

import math

import torch
from hypothesis import given
from hypothesis import strategies as st

from simple_algebra.attention import exact as ex
from tests.attention.prop_helpers import rand, sizes
from tests.properties import bad_integers, bad_reals, bad_tensors, covers, huge_sizes, refuses, seeds


@covers(ex.causal_mask)
@given(sizes, bad_integers, huge_sizes)
def test_causal_mask_is_lower_triangular_and_refuses_bad_sizes(n, bad, huge):
    mask = ex.causal_mask(n)
    assert mask.dtype == torch.bool and mask.shape == (n, n)
    assert int(mask.sum()) == n * (n + 1) // 2
    assert torch.equal(mask, torch.ones(n, n, dtype=torch.bool).tril())
    value, shown = bad
    refuses(ex.causal_mask, value, argument="n", shows=shown)
    refuses(ex.causal_mask, huge, argument="n", shows=str(huge))
    if not torch.cuda.is_available():
        refuses(ex.causal_mask, n, device="cuda", argument="device", shows="cuda")


@covers(ex.attention_matrix, ex.exact_attention)
@given(sizes, sizes, sizes, sizes, seeds, st.floats(-2.0, 2.0), st.booleans(), bad_tensors(3, 2), bad_reals)
def test_exact_attention_is_the_normalised_exponential(n, m, d, e, seed, scale, causal, bad, bad_scale):
    if causal:
        m = n
    Q, K, V = rand(seed, n, d), rand(seed + 1, m, d), rand(seed + 2, m, e)
    weights = ex.attention_matrix(Q, K, causal=causal, scale=scale)
    out = ex.exact_attention(Q, K, V, causal=causal, scale=scale)
    assert weights.shape == (n, m) and out.shape == (n, e)
    assert torch.isfinite(out).all() and (weights >= 0).all()
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(n, dtype=torch.float64))
    plain = torch.exp(scale * Q @ K.T)  # |scores| <= 2 d: no overflow, the plain formula is exact enough
    if causal:
        plain = plain * torch.ones(n, n, dtype=torch.float64).tril()
    torch.testing.assert_close(out, (plain / plain.sum(dim=1, keepdim=True)) @ V, rtol=1e-12, atol=1e-12)
    # a non-contiguous view gives the same numbers
    torch.testing.assert_close(ex.exact_attention(Q.T.contiguous().T, K, V, causal=causal, scale=scale), out)

    tensor, shown = bad
    good = rand(seed, 3, 2)
    refuses(ex.exact_attention, tensor, good, good, argument="Q", shows=shown)
    refuses(ex.exact_attention, good, tensor, good, argument="K", shows=shown)
    refuses(ex.exact_attention, good, good, tensor, argument="V", shows=shown)
    refuses(ex.attention_matrix, good, good.float(), argument="K", shows="float32")
    refuses(ex.exact_attention, good, good, good.float(), argument="V", shows="float32")
    refuses(ex.exact_attention, good, rand(seed, 4, 2), rand(seed, 4, 2), causal=True, argument="causal",
            shows="3 and 4")
    value, shown_scale = bad_scale
    refuses(ex.exact_attention, good, good, good, scale=value, argument="scale", shows=shown_scale)
    assert math.isfinite(float(out.sum()))
