"""Conv-basis attention: FFT products, the exact decomposition, the telescoping identity, break points, attention
and its gradients against the dense references, input checks and determinism."""

import pytest
import torch

from simple_algebra.attention import conv_basis as cb
from simple_algebra.attention import conv_matrices as cm
from simple_algebra.attention import rope
from simple_algebra.attention.exact import causal_mask, exact_attention
from simple_algebra.core.metrics import relative_error


def draw(seed=0):
    return torch.Generator().manual_seed(seed)


def random_basis(n=48, sizes=(48, 31, 12, 3), seed=0):
    return torch.randn(len(sizes), n, generator=draw(seed), dtype=torch.float64), list(sizes)


def test_very_negative_scores_do_not_overflow():
    b, sizes = random_basis()
    V = torch.randn(48, 2, generator=draw(7), dtype=torch.float64)
    shifted = b.clone()
    shifted[0] -= 800.0  # every score near -800: e^{-shift} would overflow with a separate conv(1, n) term
    out = cb.conv_basis_attention_from_basis(shifted, sizes, V)
    torch.testing.assert_close(out, cb.conv_basis_attention_reference(b, sizes, V), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("k_true", [1, 3, 8])
def test_break_points_are_recovered(k_true):
    Q, K, _, points = rope.rope_inputs(256, 8, k_true, seed=k_true)
    assert cb.find_break_points(Q, K, 16) == points
    assert cb.find_break_points(Q, K, 2) == points[:2]
    scores = (Q @ K.T) * causal_mask(256)
    assert cm.conv_decomposition(scores, tolerance=1e-12)[1] == [256 - s for s in points]
    Q32, K32 = Q.float(), K.float()
    assert cb.find_break_points(Q32, K32, 16) == points


@pytest.mark.parametrize("dtype,tolerance", [(torch.float64, 1e-11), (torch.float32, 1e-5)])
def test_attention_matches_exact_attention(dtype, tolerance):
    Q, K, V, _ = rope.rope_inputs(300, 8, 5, seed=2, dtype=dtype)
    for scale in (1.0, 0.35):
        exact = exact_attention(Q.double(), K.double(), V.double(), causal=True, scale=scale)
        out = cb.conv_basis_attention(Q, K, V, 5, scale=scale)
        assert out.dtype == dtype and out.shape == V.shape
        assert relative_error(out.double(), exact) < tolerance


def test_error_is_non_increasing_in_k_and_vanishes_at_k_true():
    # One seed can go up (the last segment's scores may fit the columns to its right worse than an earlier
    # segment's did); the mean over seeds falls with k, and from k = k_true on the output is exact.
    errors = []
    for seed in range(4):
        Q, K, V, _ = rope.rope_inputs(256, 8, 6, seed=seed)
        exact = exact_attention(Q, K, V, causal=True)
        errors.append([relative_error(cb.conv_basis_attention(Q, K, V, k), exact) for k in (1, 2, 4, 6, 8)])
    mean = torch.tensor(errors).mean(0)
    assert torch.all(mean[1:] <= mean[:-1]), mean
    assert mean[0] > 0.1 and mean[-2:].max() < 1e-12


def test_noise_with_a_matching_tolerance():
    Q, K, V, points = rope.rope_inputs(256, 8, 4, eps=1e-6, seed=4)
    assert cb.find_break_points(Q, K, 8, tolerance=1e-3) == points
    error = relative_error(cb.conv_basis_attention(Q, K, V, 8, tolerance=1e-3), exact_attention(Q, K, V, causal=True))
    assert 1e-9 < error < 1e-4


def test_gradients_match_dense_autograd_for_the_basis_and_values():
    b, sizes = random_basis(40, (40, 25, 9))
    V = torch.randn(40, 3, generator=draw(8), dtype=torch.float64)
    weight = torch.randn(40, 3, generator=draw(9), dtype=torch.float64)
    grads = []
    for function in (cb.conv_basis_attention_from_basis, cb.conv_basis_attention_reference):
        x, y = b.clone().requires_grad_(), V.clone().requires_grad_()
        (function(x, sizes, y) * weight).sum().backward()
        grads.append((x.grad, y.grad))
    for fast, dense in zip(*grads):
        assert relative_error(fast, dense) < 1e-10


def test_gradients_match_dense_autograd_through_rope_parameters():
    points, n, d = [0, 17, 40, 41], 64, 8
    query = torch.randn(d, generator=draw(10), dtype=torch.float64) / d**0.25
    keys = torch.randn(4, d, generator=draw(11), dtype=torch.float64) / d**0.25
    V = torch.randn(n, 4, generator=draw(12), dtype=torch.float64)
    weight = torch.randn(n, 4, generator=draw(13), dtype=torch.float64)
    grads = []
    for fast in (True, False):
        q, k, v = (x.clone().requires_grad_() for x in (query, keys, V))
        Q, K = rope.rope_queries_keys(q, k, points, n)
        out = cb.conv_basis_attention(Q, K, v, 4) if fast else exact_attention(Q, K, v, causal=True)
        (out * weight).sum().backward()
        grads.append((q.grad, k.grad, v.grad))
    for fast, dense in zip(*grads):
        assert relative_error(fast, dense) < 1e-10


def test_deterministic():
    first = rope.rope_inputs(128, 8, 3, eps=0.01, seed=5)
    second = rope.rope_inputs(128, 8, 3, eps=0.01, seed=5)
    assert first[3] == second[3] and all(torch.equal(x, y) for x, y in zip(first[:3], second[:3]))
    assert torch.equal(cb.conv_basis_attention(*first[:3], 3), cb.conv_basis_attention(*second[:3], 3))
    assert not torch.equal(first[0], rope.rope_inputs(128, 8, 3, eps=0.01, seed=6)[0])


def _inputs():
    return rope.rope_inputs(16, 4, 2, seed=0)


@pytest.mark.parametrize("bad", [
    lambda: cb.find_break_points(*_inputs()[:2], 0),
    lambda: cb.find_break_points(_inputs()[0], _inputs()[1][:, :2], 2),
    lambda: cb.score_basis(*_inputs()[:2], [3, 1]),
    lambda: cb.conv_basis_attention(*_inputs()[:3], 2, scale=float("inf")),
    lambda: cb.conv_basis_attention(*_inputs()[:2], _inputs()[2][:5], 2),
    lambda: cb.conv_basis_attention_from_basis(  # row 1 underflows: all its scores are 2000 below the maximum
        torch.tensor([[0.0, -2000.0, -2000.0], [-2000.0, 0.0, 0.0]], dtype=torch.float64), [3, 2],
        torch.ones(3, 1, dtype=torch.float64)),
    lambda: rope.rope_inputs(16, 5, 2),
    lambda: rope.rope_inputs(16, 4, 17),
    lambda: rope.rope_inputs(16, 4, 2, eps=-1.0),
    lambda: rope.rope_queries_keys(torch.ones(4, dtype=torch.float64), torch.ones(2, 4, dtype=torch.float64), [1, 3], 8),
])
def test_bad_input_is_refused(bad):
    with pytest.raises(ValueError):
        bad()
