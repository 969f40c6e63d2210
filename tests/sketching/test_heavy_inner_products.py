"""Tests of simple_algebra.sketching.heavy_inner_products (chapter: Fast heavy inner product identification)."""

import math

import pytest
import torch

import simple_algebra as sa
from simple_algebra.sketching import heavy_inner_products as h


@pytest.fixture(scope="module")
def planted():
    return h.plant_heavy_pairs(256, 128, 4, 0.6, seed=3, dtype=torch.float64)


def test_planted_pairs_have_the_stated_inner_product(planted):
    A, B, pairs = planted
    inner = (A[pairs[:, 0]] * B[pairs[:, 1]]).sum(dim=1)
    assert torch.all(inner == h.planted_inner_product(128, 0.6))
    assert torch.all(inner >= 0.6 * 128)
    assert set(A.unique().tolist()) == {-1.0, 1.0} and set(B.unique().tolist()) == {-1.0, 1.0}
    assert pairs[:, 0].unique().numel() == 4 and pairs[:, 1].unique().numel() == 4


def test_brute_force_finds_exactly_the_planted_pairs(planted):
    A, B, pairs = planted
    assert torch.equal(h.heavy_pairs_brute_force(A, B, 0.6), pairs)
    assert h.recall(pairs, pairs) == 1.0


@pytest.mark.parametrize("group_size", [1, 2, 4])
def test_small_groups_equal_brute_force_with_recall_one(planted, group_size):
    A, B, pairs = planted
    with sa.one_thread():
        result = h.heavy_pairs_grouped(A, B, 0.6, k=4, group_size=group_size, seed=1)
    assert torch.equal(result.pairs, h.heavy_pairs_brute_force(A, B, 0.6))
    assert h.recall(result.pairs, pairs) == 1.0
    assert result.inner_products == 8 * group_size**2


def test_float32_gives_the_same_pairs(planted):
    A, B, pairs = planted
    with sa.one_thread():
        result = h.heavy_pairs_grouped(A.float(), B.float(), 0.6, k=4, group_size=4, seed=1)
    assert torch.equal(result.pairs, pairs)


def test_group_scores_are_the_signed_sums_of_e_q():
    A, B, _ = h.plant_heavy_pairs(8, 10, 1, 0.5, seed=0, dtype=torch.float64)
    result = h.heavy_pairs_grouped(A, B, 0.5, k=1, group_size=1, seed=0, oversample=64)
    inner = (A @ B.T).round().long()
    e2 = (inner.double() ** 2 - 10) / 2
    assert torch.allclose(result.scores.sort().values.flatten().sort().values, e2.abs().flatten().sort().values)
    assert torch.equal(result.pairs, h.heavy_pairs_brute_force(A, B, 0.5))


def test_multilinear_features_match_reference():
    x = torch.randn(5, 7, dtype=torch.float64)
    for degree in (1, 2, 3):
        assert torch.allclose(h.multilinear_features(x, degree), h.multilinear_features_reference(x, degree))
        assert h.multilinear_features(x, degree).shape == (5, math.comb(7, degree))


@pytest.mark.parametrize("degree", [1, 2, 3])
def test_elementary_symmetric_matches_features(degree):
    A, B, _ = h.plant_heavy_pairs(6, 9, 2, 0.5, seed=2, dtype=torch.float64)
    gram = h.multilinear_features(A, degree) @ h.multilinear_features(B, degree).T
    inner = (A @ B.T).round().long()
    expected = torch.tensor([[h.elementary_symmetric_of_signs(9, int(t), degree) for t in row] for row in inner],
                            dtype=torch.float64)
    assert torch.equal(gram.round(), expected)


def test_predicted_snr_halves_when_group_doubles():
    assert h.predicted_snr(128, 0.6, 8, 2) == pytest.approx(h.predicted_snr(128, 0.6, 4, 2) / 2)
    assert h.predicted_snr(128, 0.6, 4, 2) == pytest.approx(8.26, abs=0.01)


def test_operation_count_model():
    assert h.matmul_cost(4, 4, 4, 3.0) == 64
    assert h.matmul_cost(2, 8, 2, 3.0) == 32
    model = h.operation_count_model(2**30, 30, 2**10, 2**20, 2.371, 10)
    assert model["grouped"] < model["brute"]
    model = h.operation_count_model(2**30, 30, 2**10, 2**20, 3.0, 10)
    assert model["grouped"] > model["brute"] / 100  # no asymptotic gain with cubic multiplication


def test_relu_from_heavy_pairs_equals_dense(planted):
    A, B, pairs = planted
    sparse = h.relu_from_pairs(A, B, pairs, 0.6 * 128)
    assert torch.equal(sparse.double(), h.relu_layer_reference(A, B, 0.6 * 128))


def test_determinism():
    first = h.plant_heavy_pairs(64, 32, 2, 0.7, seed=5)
    second = h.plant_heavy_pairs(64, 32, 2, 0.7, seed=5)
    assert all(torch.equal(x, y) for x, y in zip(first, second))
    A, B, _ = first
    one = h.heavy_pairs_grouped(A, B, 0.7, 2, 4, seed=9)
    two = h.heavy_pairs_grouped(A, B, 0.7, 2, 4, seed=9)
    assert torch.equal(one.scores, two.scores) and torch.equal(one.pairs, two.pairs)


def test_value_errors():
    A, B, _ = h.plant_heavy_pairs(16, 8, 1, 0.5)
    with pytest.raises(ValueError, match="rho"):
        h.plant_heavy_pairs(16, 8, 1, 1.5)
    with pytest.raises(ValueError, match="k"):
        h.plant_heavy_pairs(16, 8, 17, 0.5)
    with pytest.raises(ValueError, match="-1 and \\+1"):
        h.heavy_pairs_brute_force(A * 2, B, 0.5)
    with pytest.raises(ValueError, match="same dimension"):
        h.heavy_pairs_brute_force(A, B[:, :4], 0.5)
    with pytest.raises(ValueError, match="group_size"):
        h.heavy_pairs_grouped(A, B, 0.5, 1, 17)
    with pytest.raises(ValueError, match="degree"):
        h.heavy_pairs_grouped(A, B, 0.5, 1, 2, degree=0)
    with pytest.raises(ValueError, match="omega"):
        h.matmul_cost(2, 2, 2, 3.5)
    with pytest.raises(ValueError, match="parity"):
        h.elementary_symmetric_of_signs(8, 3, 2)
    with pytest.raises(ValueError, match="finite"):
        h.heavy_pairs_brute_force(A * float("nan"), B, 0.5)


def test_precomputed_features_give_the_same_search(planted):
    A, B, _ = planted
    with sa.one_thread():
        plain = h.heavy_pairs_grouped(A, B, 0.6, 4, 8, seed=2)
        reused = h.heavy_pairs_grouped(A, B, 0.6, 4, 8, seed=2, features_a=h.multilinear_features(A, 2),
                                       features_b=h.multilinear_features(B, 2))
    assert torch.equal(plain.scores, reused.scores) and torch.equal(plain.pairs, reused.pairs)
    assert torch.equal(plain.group_of_a.bincount(), torch.full((32,), 8))
    with pytest.raises(ValueError, match="features"):
        h.heavy_pairs_grouped(A, B, 0.6, 4, 8, features_a=h.multilinear_features(A[:, :10], 2))


def test_snr_threshold_is_the_level_that_k_noise_scores_exceed():
    # 2 M (1 - Phi(tau)) = (oversample - 1) k noise scores above tau, M = (n / g)^2 group pairs
    tau = h.snr_threshold(256, 256, 16, 4)
    assert math.erfc(tau / math.sqrt(2)) * (16 * 16) == pytest.approx(4)
    assert h.snr_threshold(1024, 1024, 16, 4) > tau  # more group pairs: a larger largest noise score
    assert h.snr_threshold(256, 256, 16, 4, oversample=1) > tau  # no slot for noise: beat the largest score
    assert h.snr_threshold(8, 8, 4, 4) == 0.0  # 4 group pairs, 8 candidates: every group pair is checked
    assert math.sqrt(2 * math.log(2 * 65536 / 4)) > h.snr_threshold(1024, 1024, 4, 4) > 3.5  # ~ sqrt(2 ln(2M/k))


def test_predicted_recall_is_the_normal_tail_of_the_heavy_score():
    assert h.predicted_recall(5.0, 3.0) == pytest.approx(0.5 * math.erfc(-2 / math.sqrt(2)) + 0.5 * math.erfc(8 / math.sqrt(2)))
    assert h.predicted_recall(3.0, 3.0) == pytest.approx(0.5, abs=1e-6)
    assert h.predicted_recall(0.0, 0.0) == pytest.approx(1.0)
    assert h.predicted_recall(1.0, 4.0) < 0.01 < 0.99 < h.predicted_recall(7.0, 4.0)


def test_cost_model_scales_as_n_to_two_omega_over_three():
    # a property of the formula (not a measurement): with g = n^(1/3), D = n^(2/3) the product dominates for
    # omega >= 2.5, the group sums n^(5/3) below
    for omega, slope in ((3.0, 2.0), (2.807, 2 * 2.807 / 3), (2.371, 5 / 3)):
        low, high = (h.operation_count_model(n, 128, n ** (1 / 3), n ** (2 / 3), omega, 8)["grouped"]
                     for n in (2.0**36, 2.0**40))
        assert math.log2(high / low) / 4 == pytest.approx(slope, abs=0.02)
