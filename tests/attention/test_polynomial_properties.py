"""Property tests of polynomial attention and the planted-token experiment: the stable weights equal the direct
formula, are scale invariant and sum to one; the data are seeded; the thresholds satisfy their definitions."""

import math

import torch
from hypothesis import given
from hypothesis import strategies as st

from simple_algebra.attention import polynomial as pa
from tests.attention.prop_helpers import rand, sizes
from tests.properties import bad_integers, bad_reals, bad_tensors, covers, huge_sizes, refuses, seeds

degrees = st.integers(1, 12)


@covers(pa.polynomial_attention, pa.polynomial_attention_reference, pa.softmax_attention)
@given(sizes, st.integers(2, 8), degrees, seeds, st.floats(0.1, 10.0), bad_tensors(2, 4), bad_integers)
def test_polynomial_weights_match_the_direct_formula(rows, n, degree, seed, factor, bad, bad_degree):
    scores = rand(seed, rows, n, scale=3.0)
    weights = pa.polynomial_attention(scores, degree)
    torch.testing.assert_close(weights, pa.polynomial_attention_reference(scores, degree), rtol=1e-10, atol=1e-12)
    powered = scores.abs() ** degree
    torch.testing.assert_close(weights, powered / powered.sum(dim=-1, keepdim=True), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(weights.sum(dim=-1), torch.ones(rows, dtype=torch.float64))
    torch.testing.assert_close(pa.polynomial_attention(factor * scores, degree), weights)  # scale invariant
    soft = pa.softmax_attention(scores)
    torch.testing.assert_close(soft, torch.exp(scores) / torch.exp(scores).sum(dim=-1, keepdim=True))
    torch.testing.assert_close(pa.softmax_attention(scores + factor), soft)  # shift invariant

    tensor, shown = bad
    for function in (pa.polynomial_attention, pa.polynomial_attention_reference):
        if "shape" not in shown or tensor.numel() == 0:
            refuses(function, tensor, degree, argument="scores", shows=shown)
        refuses(function, torch.zeros(rows, n, dtype=torch.float64), degree, argument="scores", shows=f"{rows} such row")
        refuses(function, scores, pa.MAX_DEGREE + degree, argument="degree", shows=str(pa.MAX_DEGREE + degree))
        value, shown_degree = bad_degree
        refuses(function, scores, value, argument="degree", shows=shown_degree)
    if "shape" not in shown or tensor.numel() == 0:
        refuses(pa.softmax_attention, tensor, argument="scores", shows=shown)
    refuses(pa.polynomial_attention_reference, 1e300 * (scores.abs() + 1), 64, argument="overflows")


@covers(pa.planted_tokens, pa.readout, pa.classify, pa.accuracy, pa.degree_sweep)
@given(st.integers(2, 8), st.integers(1, 4), st.floats(1.5, 6.0), seeds, st.floats(0.0, 1.0), huge_sizes)
def test_planted_tokens_are_seeded_and_accuracy_counts_correct_labels(n, half, large, seed, margin, huge):
    data = pa.planted_tokens(n, 2 * half, large_value=large, seed=seed)
    again = pa.planted_tokens(n, 2 * half, large_value=large, seed=seed)
    assert torch.equal(data.scores, again.scores) and torch.equal(data.values, again.values)
    assert data.labels.tolist() == [0] * half + [1] * half
    assert ((data.scores > 0) & (data.scores <= large)).all()
    assert (data.scores[torch.arange(half, 2 * half), data.planted[half:]] == large).all()
    weights = pa.polynomial_attention(data.scores, 3)
    torch.testing.assert_close(pa.readout(weights, data.values), (weights * data.values).sum(dim=-1))
    predicted = pa.classify(weights, data.values, margin)
    assert set(predicted.tolist()) <= {0, 1}
    assert pa.accuracy(weights, data, margin) == (predicted == data.labels).double().mean().item()
    assert pa.degree_sweep(data, [1, 3], margin) == [pa.accuracy(pa.polynomial_attention(data.scores, g), data,
                                                                 margin) for g in (1, 3)]

    refuses(pa.planted_tokens, huge, 4, argument="n", shows=str(huge))
    refuses(pa.planted_tokens, n, 2 * half + 1, argument="samples", shows=str(2 * half + 1))
    refuses(pa.planted_tokens, n, 4, seed=-1 - seed, argument="seed", shows=str(-1 - seed))
    refuses(pa.planted_tokens, n, 4, dtype=torch.long, argument="dtype", shows="int64")
    refuses(pa.planted_tokens, n, 4, large_value=1.0, argument="large_value", shows="1.0")
    nan_weights = weights.clone()
    nan_weights[0, 0] = math.nan
    refuses(pa.readout, nan_weights, data.values, argument="weights", shows="finite")
    refuses(pa.classify, weights, data.values.long(), argument="values", shows="int64")
    refuses(pa.readout, weights[:, :1], data.values, argument="weights", shows=f"({2 * half}, 1)")
    refuses(pa.classify, weights, data.values, margin=1.5, argument="margin", shows="1.5")
    refuses(pa.accuracy, weights, data.scores, argument="data", shows="Tensor")
    refuses(pa.degree_sweep, data, [3, huge], argument="degrees", shows=str(huge))
    refuses(pa.degree_sweep, data, [], argument="degrees", shows="[]")


@covers(pa.predicted_threshold, pa.empirical_threshold)
@given(st.integers(2, 10**5), st.floats(1.05, 10.0), st.lists(st.floats(0.0, 1.0), min_size=1, max_size=6),
       st.floats(0.0, 1.0), bad_reals)
def test_thresholds_satisfy_their_definitions(n, large, accuracies, level, bad):
    g = pa.predicted_threshold(n, large)
    assert g >= 1 and large**g > (n - 1) / (g + 1)
    assert g == 1 or large ** (g - 1) <= (n - 1) / g  # the least such degree
    assert pa.predicted_threshold(n + 1000, large) >= g  # longer sequences need at least the same degree
    degrees = list(range(1, len(accuracies) + 1))
    reached = [d for d, a in zip(degrees, accuracies) if a >= level]
    assert pa.empirical_threshold(degrees, accuracies, level) == (min(reached) if reached else None)

    value, shown = bad
    refuses(pa.predicted_threshold, n, value, argument="large_value", shows=shown)
    refuses(pa.predicted_threshold, 10**18, large, argument="n", shows=str(10**18))
    refuses(pa.predicted_threshold, 10**15, 1 + 1e-12, argument="large_value")  # was a loop of 10^15 steps
    refuses(pa.empirical_threshold, degrees, [value] * len(degrees), argument="accuracies", shows=shown)
    refuses(pa.empirical_threshold, degrees, accuracies + [0.5], argument="accuracies",
            shows=str(len(accuracies) + 1))
    refuses(pa.empirical_threshold, degrees, accuracies, level=1.5, argument="level", shows="1.5")


@covers(pa.predicted_accuracy, pa.predicted_softmax_accuracy)
@given(st.integers(2, 10**6), degrees, st.floats(0.1, 20.0), st.floats(1.5, 8.0), st.floats(0.05, 0.95), bad_reals)
def test_predictions_are_probabilities_with_bounds_that_shrink_with_n(n, degree, theta, large, margin, bad):
    for predict, knob in ((pa.predicted_accuracy, degree), (pa.predicted_softmax_accuracy, theta)):
        here, longer = predict(n, knob, large, margin), predict(4 * n, knob, large, margin)
        assert isinstance(here, pa.AccuracyPrediction)
        assert 0.0 <= here.accuracy <= 1.0 and 0.0 <= here.error_bound <= 1.0
        assert longer.error_bound <= here.error_bound  # Berry-Esseen: proportional to 1 / sqrt(n)
        value, shown = bad
        refuses(predict, n, knob, value, argument="large_value", shows=shown)
        refuses(predict, n, knob, large, value, argument="margin", shows=shown)
        refuses(predict, 1, knob, argument="n", shows="1")
    refuses(pa.predicted_accuracy, n, pa.MAX_DEGREE + 1, argument="degree", shows=str(pa.MAX_DEGREE + 1))
    refuses(pa.predicted_softmax_accuracy, n, -theta, argument="inverse_temperature", shows=str(-theta))


@covers(pa.temperature_sweep, pa.tuned_inverse_temperature)
@given(st.integers(2, 16), st.integers(1, 8), seeds, st.lists(st.floats(0.1, 20.0), min_size=1, max_size=5), bad_reals)
def test_temperature_sweep_is_softmax_accuracy_and_the_tuned_one_is_best(n, half, seed, thetas, bad):
    data = pa.planted_tokens(n, 2 * half, seed=seed)
    found = pa.temperature_sweep(data, thetas)
    assert found == [pa.accuracy(pa.softmax_attention(data.scores, theta), data) for theta in thetas]
    tuned = pa.tuned_inverse_temperature(data, thetas)
    assert tuned in thetas and found[thetas.index(tuned)] == max(found)
    assert tuned == min(theta for theta, value in zip(thetas, found) if value == max(found))  # smallest of ties
    value, shown = bad
    refuses(pa.temperature_sweep, data, [1.0, value], argument="inverse_temperatures", shows=shown)
    refuses(pa.tuned_inverse_temperature, data, [], argument="inverse_temperatures", shows="[]")
    refuses(pa.temperature_sweep, data.scores, thetas, argument="data", shows="Tensor")
    refuses(pa.softmax_attention, data.scores, value, argument="inverse_temperature", shows=shown)
