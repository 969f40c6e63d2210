"""The exact attention reference: definition, causal masking, stability, gradients and input checks."""

import pytest
import torch

from simple_algebra.attention.exact import attention_matrix, causal_mask, exact_attention


def inputs(n=7, m=7, d=3, e=2, seed=0, scale=1.0):
    draw = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(n, d, generator=draw, dtype=torch.float64),
            scale * torch.randn(m, d, generator=draw, dtype=torch.float64),
            torch.randn(m, e, generator=draw, dtype=torch.float64))


def test_matches_the_definition():
    Q, K, V = inputs(n=5, m=9)
    A = torch.exp(0.5 * Q @ K.T)
    expected = (A / A.sum(dim=1, keepdim=True)) @ V
    torch.testing.assert_close(exact_attention(Q, K, V, scale=0.5), expected, rtol=1e-13, atol=1e-13)


def test_causal_rows_only_see_the_past():
    Q, K, V = inputs()
    out = exact_attention(Q, K, V, causal=True)
    for i in range(Q.shape[0]):
        torch.testing.assert_close(out[i], exact_attention(Q[i:i + 1], K[:i + 1], V[:i + 1])[0])
    weights = attention_matrix(Q, K, causal=True)
    assert torch.all(weights.triu(1) == 0)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(7, dtype=torch.float64))
    assert torch.equal(causal_mask(3), torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=torch.bool))


def test_large_scores_do_not_overflow_and_float32_comes_back():
    Q, K, V = inputs(scale=30.0)
    out = exact_attention(Q, K, V, causal=True)
    assert torch.isfinite(out).all()
    out32 = exact_attention(Q.float(), K.float(), V.float(), causal=True)
    assert out32.dtype == torch.float32
    torch.testing.assert_close(out32.double(), out, rtol=1e-4, atol=1e-4)


def test_batched_and_differentiable():
    Q, K, V = (x.expand(2, *x.shape).clone().requires_grad_() for x in inputs())
    out = exact_attention(Q, K, V, causal=True)
    assert out.shape == (2, 7, 2)
    assert torch.autograd.gradcheck(lambda q: exact_attention(q, K[0].detach(), V[0].detach(), causal=True),
                                    (Q[0].detach().clone().requires_grad_(),))


@pytest.mark.parametrize("bad", [
    lambda Q, K, V: exact_attention(Q, K[:, :2], V),
    lambda Q, K, V: exact_attention(Q[:3], K, V, causal=True),
    lambda Q, K, V: exact_attention(Q, K, V[:3]),
    lambda Q, K, V: exact_attention(Q[0], K, V),
    lambda Q, K, V: exact_attention(Q * float("nan"), K, V),
    lambda Q, K, V: exact_attention(Q, K, V, scale=float("inf")),
    lambda Q, K, V: causal_mask(0),
])
def test_bad_input_is_refused(bad):
    with pytest.raises(ValueError):
        bad(*inputs())
