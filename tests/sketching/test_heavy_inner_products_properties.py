"""Property tests of heavy_inner_products: planted pairs are found, the features realise e_q, grouping with
groups of one is brute force, the cost models add up, and bad input is refused by name."""

import math

import torch
from hypothesis import given
from hypothesis import strategies as st

from simple_algebra.sketching import heavy_inner_products as h
from tests.properties import bad_reals, bad_tensors, covers, finite, huge_sizes, refuses, seeds

rhos = st.floats(0.3, 0.95)


@covers(h.plant_heavy_pairs, h.planted_inner_product, h.heavy_pairs_brute_force, h.recall)
@given(st.integers(2, 16), st.integers(4, 24), st.integers(0, 3), rhos, seeds, huge_sizes, bad_reals)
def test_planted_pairs_are_heavy_and_brute_force_finds_exactly_the_heavy_pairs(n, dim, k, rho, seed, huge, bad):
    k = min(k, n)
    A, B, planted = h.plant_heavy_pairs(n, dim, k, rho, seed=seed)
    assert A.shape == B.shape == (n, dim) and planted.shape == (k, 2)
    assert bool(((A == 1) | (A == -1)).all()) and bool(((B == 1) | (B == -1)).all())
    inner = A.double() @ B.double().T
    t = h.planted_inner_product(dim, rho)
    assert t >= rho * dim and all(inner[i, j] == t for i, j in planted.tolist())
    found = h.heavy_pairs_brute_force(A, B, rho)
    assert torch.equal(found, torch.nonzero(inner >= rho * dim - 1e-6))
    assert h.recall(found, planted) == 1.0 and h.recall(planted, planted) == 1.0
    assert h.recall(found[:0], planted) == (1.0 if k == 0 else 0.0)
    again = h.plant_heavy_pairs(n, dim, k, rho, seed=seed)
    assert all(torch.equal(x, y) for x, y in zip(again, (A, B, planted)))
    value, shown = bad
    refuses(h.plant_heavy_pairs, huge, dim, k, rho, argument="n", shows="GiB")
    refuses(h.plant_heavy_pairs, n, dim, n + 1, rho, argument="k", shows=str(n + 1))
    refuses(h.plant_heavy_pairs, n, dim, k, value, argument="rho", shows=shown)
    refuses(h.plant_heavy_pairs, n, dim, k, rho, seed=-1, argument="seed", shows="-1")
    refuses(h.plant_heavy_pairs, n, dim, k, rho, dtype=torch.int8, argument="dtype", shows="int8")
    refuses(h.planted_inner_product, dim, 1.5, argument="rho", shows="1.5")
    refuses(h.heavy_pairs_brute_force, 2 * A, B, rho, argument="A", shows="-1 and +1")
    refuses(h.heavy_pairs_brute_force, A, B[:, :-1], rho, argument="A and B", shows=f"{dim - 1}")
    refuses(h.recall, found.double(), planted, argument="found", shows="float64")
    refuses(h.recall, found, planted.flatten(), argument="planted", shows="shape")


@covers(h.multilinear_features, h.multilinear_features_reference, h.elementary_symmetric_of_signs)
@given(st.integers(1, 7), st.integers(1, 4), seeds, bad_tensors(3, 5))
def test_features_match_the_loop_and_their_products_are_elementary_symmetric(dim, degree, seed, bad):
    degree = min(degree, dim)
    signs = torch.randint(0, 2, (3, dim), generator=torch.Generator().manual_seed(seed)).double() * 2 - 1
    features = h.multilinear_features(signs, degree)
    assert features.shape == (3, math.comb(dim, degree))
    assert torch.allclose(features, h.multilinear_features_reference(signs, degree), atol=1e-12)
    products = features @ features.T
    inner = (signs @ signs.T).long()
    expected = [[h.elementary_symmetric_of_signs(dim, int(t), degree) for t in row] for row in inner]
    assert torch.allclose(products, torch.tensor(expected, dtype=torch.float64), atol=1e-9)
    assert h.elementary_symmetric_of_signs(dim, dim, degree) == math.comb(dim, degree)  # a o a = all ones
    tensor, shown = bad
    refuses(h.multilinear_features, tensor, 2, argument="x", shows=shown)
    refuses(h.multilinear_features_reference, tensor, 2, argument="x", shows=shown)
    refuses(h.multilinear_features, signs, dim + 1, argument="degree", shows=str(dim + 1))
    refuses(h.multilinear_features_reference, torch.ones(1, 64), 32, argument="degree", shows="32")
    refuses(h.elementary_symmetric_of_signs, 10**8, 0, 10**7, argument="degree", shows=str(10**7))
    refuses(h.elementary_symmetric_of_signs, dim, dim - 1, degree, argument="inner", shows=str(dim - 1))
    refuses(h.elementary_symmetric_of_signs, dim, dim + 2, degree, argument="inner", shows=str(dim + 2))


@covers(h.heavy_pairs_grouped, h.predicted_snr)
@given(st.integers(1, 3), rhos, seeds, st.sampled_from([1, 2, 4]))
def test_groups_of_one_are_brute_force_and_the_snr_halves_when_groups_double(k, rho, seed, group_size):
    A, B, planted = h.plant_heavy_pairs(8, 12, k, rho, seed=seed)
    brute = h.heavy_pairs_brute_force(A, B, rho)
    every = h.heavy_pairs_grouped(A, B, rho, k, 1, oversample=64, seed=seed)
    assert torch.equal(every.pairs, brute) and every.inner_products == 64 and every.scores.shape == (8, 8)
    grouped = h.heavy_pairs_grouped(A, B, rho, k, group_size, seed=seed)
    assert finite(grouped.scores) and grouped.scores.shape == (math.ceil(8 / group_size),) * 2
    assert all(tuple(pair) in set(map(tuple, brute.tolist())) for pair in grouped.pairs.tolist())  # no false hits
    assert torch.equal(grouped.group_of_a.bincount(), torch.full((8 // group_size,), group_size))
    reused = h.heavy_pairs_grouped(A, B, rho, k, group_size, seed=seed, features_a=h.multilinear_features(A, 2),
                                   features_b=h.multilinear_features(B, 2))
    assert torch.equal(reused.scores, grouped.scores) and torch.equal(reused.pairs, grouped.pairs)
    snr = h.predicted_snr(12, rho, group_size, 2)
    assert snr > 0 and math.isclose(h.predicted_snr(12, rho, 2 * group_size, 2), snr / 2)
    refuses(h.heavy_pairs_grouped, A, B, rho, k, 9, argument="group_size", shows="9")
    refuses(h.heavy_pairs_grouped, A, B, rho, k, 0, argument="group_size", shows="0")
    refuses(h.heavy_pairs_grouped, A, B, rho, k, 2, degree=13, argument="degree", shows="13")
    refuses(h.heavy_pairs_grouped, A, B, rho, k, 2, seed=-1, argument="seed", shows="-1")
    refuses(h.heavy_pairs_grouped, A, B, rho, k, 2, features_b=torch.ones(8, 5), argument="features_b",
            shows="(8, 5)")
    refuses(h.heavy_pairs_grouped, A, B, rho, k, 2, features_a=h.multilinear_features(A.double(), 2),
            argument="features_a", shows="float64")
    refuses(h.predicted_snr, 12, rho, 0, 2, argument="group_size", shows="0")
    refuses(h.predicted_snr, 12, rho, 1, 100, argument="degree", shows="100")


@covers(h.matmul_cost, h.operation_count_model)
@given(st.floats(1.0, 1e9), st.floats(1.0, 1e4), st.floats(1.0, 1e3), st.floats(2.0, 3.0), bad_reals)
def test_cost_models_add_up_and_cubic_multiplication_is_the_school_count(n, dim, group_size, omega, bad):
    assert math.isclose(h.matmul_cost(n, dim, n, 3.0), n * dim * n, rel_tol=1e-12)
    assert h.matmul_cost(n, dim, n, omega) <= h.matmul_cost(n, dim, n, 3.0) * (1 + 1e-12)
    model = h.operation_count_model(n, dim, group_size, n ** (2 / 3), omega, 10)
    parts = model["group sums"] + model["group product"] + model["inside groups"]
    assert all(map(math.isfinite, model.values())) and math.isclose(model["grouped"], parts, rel_tol=1e-12)
    value, shown = bad
    refuses(h.matmul_cost, value, dim, n, omega, argument="rows", shows=shown)
    refuses(h.matmul_cost, n, dim, n, 3.5, argument="omega", shows="3.5")
    refuses(h.operation_count_model, n, dim, 0, 10, omega, 10, argument="group_size", shows="0")
    refuses(h.operation_count_model, value, dim, group_size, 10, omega, 10, argument="n", shows=shown)
    refuses(h.operation_count_model, n, dim, group_size, 10, omega, -1, argument="candidates", shows="-1")


@covers(h.relu_from_pairs, h.relu_layer_reference)
@given(st.integers(1, 3), rhos, seeds, bad_reals)
def test_relu_from_the_heavy_pairs_is_the_dense_layer(k, rho, seed, bad):
    W, X, _ = h.plant_heavy_pairs(10, 16, k, rho, seed=seed)
    bias = rho * 16
    pairs = h.heavy_pairs_brute_force(W, X, rho)
    sparse = h.relu_from_pairs(W, X, pairs, bias)
    dense = h.relu_layer_reference(W, X, bias)
    assert sparse.shape == dense.shape == (10, 10) and finite(dense)
    assert torch.allclose(sparse.double(), dense, atol=1e-5)
    assert torch.equal(h.relu_from_pairs(W, X, pairs[:0], bias), torch.zeros_like(sparse))
    value, shown = bad
    refuses(h.relu_from_pairs, W, X, pairs, value, argument="bias", shows=shown)
    refuses(h.relu_layer_reference, W, X, value, argument="bias", shows=shown)
    refuses(h.relu_from_pairs, W, X, torch.tensor([[10, 0]]), bias, argument="pairs[:, 0]", shows="10")
    refuses(h.relu_from_pairs, W, X, torch.tensor([[0.0, 1.0]]), bias, argument="pairs", shows="float32")
    refuses(h.relu_layer_reference, W * math.nan, X, bias, argument="W", shows="finite")


@covers(h.snr_threshold, h.predicted_recall)
@given(st.integers(1, 4096), st.integers(1, 64), st.integers(1, 16), st.integers(1, 4), st.floats(0.0, 20.0),
       bad_reals)
def test_the_threshold_grows_with_the_number_of_group_pairs_and_recall_with_the_snr(n, group_size, k, oversample,
                                                                                     snr, bad):
    group_size = min(group_size, n)
    tau = h.snr_threshold(n, n, group_size, k, oversample)
    groups = math.ceil(n / group_size) ** 2
    assert math.isfinite(tau) and tau >= 0.0
    if tau > 0:  # the expected number of noise scores above tau is the number of slots left for noise
        assert math.isclose(groups * math.erfc(tau / math.sqrt(2)), max((oversample - 1) * k, 1), rel_tol=1e-6)
    assert h.snr_threshold(4 * n, 4 * n, group_size, k, oversample) >= tau
    recall = h.predicted_recall(snr, tau)
    assert 0.0 <= recall <= 1.0 + 1e-12 and h.predicted_recall(snr + 1.0, tau) >= recall - 1e-12
    value, shown = bad
    refuses(h.snr_threshold, n, n, group_size, 0, argument="k", shows="0")
    refuses(h.snr_threshold, n, n, n + 1, k, argument="group_size", shows=str(n + 1))
    refuses(h.snr_threshold, 0, n, 1, k, argument="n_a", shows="0")
    refuses(h.predicted_recall, value, tau, argument="snr", shows=shown)
    refuses(h.predicted_recall, snr, -1.0, argument="threshold", shows="-1")
