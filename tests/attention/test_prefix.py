"""Prefix attention: the closed-form summary against exact attention, stability, training, and the prefix layer."""

import math

import pytest
import torch

from simple_algebra.attention import prefix as pa
from simple_algebra.width import kernels


def _setup(m=256, d=4, length=16, scale=0.6, seed=0):
    Q, K, V = (x[0] for x in pa.random_inputs(1, length, d, seed=seed, scale=scale))
    KP, VP = pa.random_prefix(m, d, seed=seed, scale=scale)
    return Q, K, V, KP, VP


def test_exact_prefix_attention_is_softmax_over_all_keys():
    Q, K, V, KP, VP = _setup(m=8)
    scores = Q @ torch.cat([K, KP]).T / 2.0
    expected = torch.softmax(scores, -1) @ torch.cat([V, VP])
    torch.testing.assert_close(pa.prefix_attention(Q, K, V, KP, VP), expected)


def test_closed_form_matches_exact_attention_and_improves_over_even_degrees():
    Q, K, V, KP, VP = _setup()
    exact = pa.prefix_attention(Q, K, V, KP, VP)
    errors = [pa.relative_error(pa.ntk_attention(Q, K, V, *pa.prefix_summary(KP, VP, g), g), exact)
              for g in (2, 4, 6, 8, 12)]
    assert all(later < earlier for earlier, later in zip(errors, errors[1:]))
    assert errors[-1] < 1e-6


def test_summary_chunks_do_not_change_it():
    _, _, _, KP, VP = _setup(m=100)
    whole, pieces = pa.prefix_summary(KP, VP, 3, chunk=1000), pa.prefix_summary(KP, VP, 3, chunk=7)
    for a, b in zip(whole, pieces):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-10)


def test_stable_formula_survives_scores_that_overflow_the_naive_one():
    Q, K, V, KP, VP = (x.float() for x in _setup(m=64))
    Z, k = pa.prefix_summary(KP, VP, 2)
    torch.testing.assert_close(pa.ntk_attention(Q, K, V, Z, k, 2), pa.ntk_attention_naive(Q, K, V, Z, k, 2),
                               rtol=1e-4, atol=1e-5)
    big_Q, big_K = 30 * Q, 30 * K  # scores of several hundred: exp overflows float32
    stable = pa.ntk_attention(big_Q, big_K, V, Z, k, 2)
    assert torch.isfinite(stable).all()
    assert not torch.isfinite(pa.ntk_attention_naive(big_Q, big_K, V, Z, k, 2)).all()
    # A huge prefix mass with moderate input scores: the stable form weighs the prefix correctly.
    reference = pa.ntk_attention(Q.double(), K.double(), V.double(), 1e30 * Z.double(), 1e30 * k.double(), 2)
    torch.testing.assert_close(pa.ntk_attention(Q, K, V, 1e30 * Z, 1e30 * k, 2), reference.float(),
                               rtol=1e-3, atol=1e-4)


def test_large_scores_in_float32_match_the_float64_reference():
    Q, K, V, KP, VP = _setup(m=64)
    Z, k = pa.prefix_summary(KP, VP, 2)
    reference = pa.ntk_attention(20 * Q, 20 * K, V, Z, k, 2)
    low = pa.ntk_attention(*(x.float() for x in (20 * Q, 20 * K, V, Z, k)), 2)
    torch.testing.assert_close(low, reference.float(), rtol=1e-4, atol=1e-5)


def test_odd_degree_with_negative_kernel_raises():
    Q, K, V, KP, VP = _setup(m=4, scale=3.0)
    Z, k = pa.prefix_summary(KP, VP, 1)
    with pytest.raises(ValueError, match="not positive"):
        pa.ntk_attention(Q, K, V, Z, -k, 1)


def test_bad_inputs_raise():
    Q, K, V, KP, VP = _setup(m=4)
    with pytest.raises(ValueError):
        pa.prefix_attention(Q, K, V[:3], KP, VP)
    with pytest.raises(ValueError):
        pa.prefix_attention(Q, K, V, KP[:, :2], VP)
    with pytest.raises(ValueError):
        pa.prefix_attention(Q * float("nan"), K, V, KP, VP)
    with pytest.raises(ValueError):
        pa.ntk_attention(Q, K, V, *pa.prefix_summary(KP, VP, 2), 4)
    with pytest.raises(ValueError):
        pa.random_prefix(0, 4)
    with pytest.raises(ValueError):
        pa.PrefixAttentionLayer(4, 8)(torch.zeros(2, 4))


def test_same_seed_same_numbers_and_training_helps():
    KP, VP = pa.random_prefix(64, 4, seed=3, scale=0.6)
    first = pa.fit_summary(KP, VP, steps=150, train_batch=8, test_batch=8, length=8, input_scale=0.6, seed=1)
    second = pa.fit_summary(KP, VP, steps=150, train_batch=8, test_batch=8, length=8, input_scale=0.6, seed=1)
    assert first.losses == second.losses and first.test_error == second.test_error
    assert first.losses[-1] < 0.2 * first.losses[0]
    assert first.test_error < 0.5 * first.no_prefix_error


def test_prefix_layer_has_an_empirical_ntk_and_is_seeded():
    X = torch.randn(5, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    layer = pa.PrefixAttentionLayer(4, 16, seed=2)
    assert layer(X).shape == (5,)
    torch.testing.assert_close(layer(X), pa.PrefixAttentionLayer(4, 16, seed=2)(X))
    kernel = kernels.empirical_ntk(layer, X)
    reference = kernels.empirical_ntk_reference(layer, X)
    assert kernel.shape == (5, 5)
    torch.testing.assert_close(kernel, reference)
    assert torch.linalg.eigvalsh(kernel)[0] > 0


def test_limit_kernel_is_where_the_empirical_ntk_goes_as_the_prefix_grows():
    # The book's derivation of the m -> infinity kernel: the empirical NTK at initialisation approaches it (like
    # m^{-1/2} asymptotically; slower at these m, the softmax weights being log-normal). Geometric mean over four
    # seeds of ||H_0 - Theta|| / ||Theta|| (the zero kernel scores 1). Dropping the key term (1 + c) or the value
    # term of the formula leaves a distance above 0.8 at m = 4096 that does not shrink.
    X = torch.randn(12, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    limit = pa.prefix_limit_kernel(X)

    def distance(m):
        logs = [math.log(float((kernels.empirical_ntk(pa.PrefixAttentionLayer(4, m, seed=s), X) - limit).norm()
                               / limit.norm())) for s in range(4)]
        return math.exp(sum(logs) / len(logs))

    distances = [distance(m) for m in (16, 256, 4096)]
    assert distances[0] > distances[1] > distances[2], distances
    assert distances[2] < 0.25, distances
