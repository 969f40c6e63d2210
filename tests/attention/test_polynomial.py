import math

import pytest
import torch

from simple_algebra.attention import polynomial as pa

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("degree", [1, 2, 3, 7, 16])
def test_stable_matches_reference(seed, degree):
    generator = torch.Generator().manual_seed(seed)
    shape = tuple(torch.randint(1, 6, (2,), generator=generator).tolist()) + (int(torch.randint(2, 50, (1,), generator=generator)),)
    scores = torch.randn(shape, generator=generator, dtype=torch.float64) * 3
    stable = pa.polynomial_attention(scores, degree)
    reference = pa.polynomial_attention_reference(scores, degree)
    torch.testing.assert_close(stable, reference, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(stable.sum(-1), torch.ones(shape[:-1], dtype=torch.float64))


def test_odd_degree_uses_absolute_value():
    scores = torch.tensor([[-2.0, 1.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(pa.polynomial_attention(scores, 3), torch.tensor([[0.8, 0.1, 0.1]], dtype=torch.float64))


def test_degree_one_is_linear_attention():
    scores = torch.tensor([1.0, 3.0], dtype=torch.float64)
    torch.testing.assert_close(pa.polynomial_attention(scores, 1), torch.tensor([0.25, 0.75], dtype=torch.float64))


def test_softmax_matches_its_formula():
    scores = torch.tensor([0.0, math.log(3.0)], dtype=torch.float64)
    torch.testing.assert_close(pa.softmax_attention(scores), torch.tensor([0.25, 0.75], dtype=torch.float64))


def test_stable_form_survives_where_the_direct_form_overflows():
    scores = torch.tensor([1e6, 2e6], dtype=torch.float64)
    with pytest.raises(ValueError, match="overflows"):
        pa.polynomial_attention_reference(scores, 64)
    weights = pa.polynomial_attention(scores, 64)
    assert torch.isfinite(weights).all()
    assert weights[0].item() == pytest.approx(2.0**-64, rel=1e-9)


@pytest.mark.parametrize("scores, degree, message", [
    (torch.tensor([1.0, math.nan]), 2, "finite"),
    (torch.tensor([0.0, 0.0]), 2, "all zero"),
    (torch.tensor([1.0, 2.0]), 0, "degree"),
    (torch.tensor([1.0, 2.0]), pa.MAX_DEGREE + 1, "degree"),
    (torch.tensor([1.0, 2.0]), 2.5, "degree"),
    (torch.tensor([1, 2]), 2, "floating"),
])
def test_bad_input_raises(scores, degree, message):
    with pytest.raises(ValueError, match=message):
        pa.polynomial_attention(scores, degree)


def test_planted_tokens_is_deterministic_and_well_formed():
    first = pa.planted_tokens(32, 10, large_value=5.0, seed=4)
    second = pa.planted_tokens(32, 10, large_value=5.0, seed=4)
    assert torch.equal(first.scores, second.scores) and torch.equal(first.values, second.values)
    assert first.labels.tolist() == [0] * 5 + [1] * 5
    assert (first.scores[:5] < 1).all() and (first.scores > 0).all()
    rows = torch.arange(5, 10)
    assert (first.scores[rows, first.planted[5:]] == 5.0).all()
    assert (first.planted[:5] == -1).all()
    assert set(first.values.unique().tolist()) == {-1.0, 1.0}


@pytest.mark.parametrize("kwargs, message", [
    (dict(n=1, samples=4), "n"), (dict(n=8, samples=3), "even"), (dict(n=8, samples=4, large_value=1.0), "large_value"),
    (dict(n=8, samples=4, large_value=math.inf), "large_value"),
])
def test_planted_tokens_rejects_bad_sizes(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pa.planted_tokens(**kwargs)


def test_predicted_threshold_values_and_growth():
    assert [pa.predicted_threshold(n, 4.0) for n in (64, 512, 4096)] == [3, 4, 5]
    thresholds = [pa.predicted_threshold(2**k, 4.0) for k in range(1, 20)]
    assert thresholds == sorted(thresholds)
    # the threshold is the least degree with b^beta > (n - 1) / (beta + 1)
    for n in (10, 100, 1000):
        beta = pa.predicted_threshold(n, 3.0)
        assert 3.0**beta > (n - 1) / (beta + 1)
        assert beta == 1 or 3.0 ** (beta - 1) <= (n - 1) / beta


def test_empirical_threshold():
    assert pa.empirical_threshold([1, 2, 3, 4], [0.5, 0.6, 0.95, 0.99]) == 3
    assert pa.empirical_threshold([1, 2], [0.5, 0.6]) is None
    with pytest.raises(ValueError, match="accuracies"):
        pa.empirical_threshold([1, 2], [0.5])


@pytest.mark.parametrize("device", DEVICES)
def test_high_degree_separates_and_low_degree_does_not(device):
    # A small version of the chapter's claim, n = 512: chance below the predicted threshold 4, perfect above.
    data = pa.planted_tokens(512, 400, seed=11, device=device)
    low, high = pa.degree_sweep(data, [2, 6])
    assert low <= 0.55 and high >= 0.99
    assert pa.accuracy(pa.softmax_attention(data.scores), data) <= 0.55


def test_readout_and_classify_shapes():
    with pytest.raises(ValueError, match="same shape"):
        pa.readout(torch.ones(2, 3), torch.ones(2, 4))
    weights = torch.tensor([[0.9, 0.1], [0.5, 0.5]])
    values = torch.tensor([[1.0, -1.0], [1.0, -1.0]])
    assert pa.classify(weights, values).tolist() == [1, 0]


def test_softmax_inverse_temperature_scales_the_scores():
    scores = torch.tensor([[0.0, 1.0, 2.0]], dtype=torch.float64)
    torch.testing.assert_close(pa.softmax_attention(scores, 2.0), torch.softmax(2.0 * scores, dim=-1))
    torch.testing.assert_close(pa.softmax_attention(scores), torch.softmax(scores, dim=-1))
    with pytest.raises(ValueError, match="inverse_temperature"):
        pa.softmax_attention(scores, 0.0)


def test_tuned_softmax_separates_where_plain_softmax_cannot():
    # The chapter's baseline: at n = 512 plain softmax (theta = 1) is at chance, and the temperature tuned on one draw
    # separates an independent draw, as the central-limit prediction says (theta ~ log n / (b - 1)).
    tuning, test = pa.planted_tokens(512, 400, seed=1), pa.planted_tokens(512, 400, seed=2)
    thetas = [0.5, 1.0, 2.0, 4.0]
    theta = pa.tuned_inverse_temperature(tuning, thetas)
    assert theta >= 2.0
    assert pa.accuracy(pa.softmax_attention(test.scores, theta), test) >= 0.99
    assert pa.temperature_sweep(test, [1.0])[0] <= 0.55
    assert pa.predicted_softmax_accuracy(512, 1.0).accuracy <= 0.55 <= 0.99 <= pa.predicted_softmax_accuracy(512, theta).accuracy


def test_tuned_temperature_takes_the_smallest_of_ties():
    data = pa.planted_tokens(512, 200, seed=3)
    assert pa.tuned_inverse_temperature(data, [4.0, 5.0, 6.0]) == 4.0  # all three separate perfectly


@pytest.mark.parametrize("n", [64, 256, 1024])
def test_predicted_accuracy_matches_a_measurement_within_its_bound(n):
    # Four standard errors of the measured accuracy plus the Berry-Esseen bound of the prediction, at every degree.
    samples = 2000
    data = pa.planted_tokens(n, samples, seed=100 + n)
    measured = pa.degree_sweep(data, list(range(1, 9)))
    for degree, value in zip(range(1, 9), measured):
        predicted = pa.predicted_accuracy(n, degree)
        assert abs(value - predicted.accuracy) <= 4 / (2 * math.sqrt(samples)) + predicted.error_bound


def test_the_central_limit_threshold_corrects_the_one_line_rule_at_n_256():
    # 4^3 = 64 only just exceeds the mean ordinary mass 255 / 4: the one-line rule says 3, the fluctuations say 4.
    predicted = [pa.predicted_accuracy(256, degree).accuracy for degree in range(1, 9)]
    assert pa.predicted_threshold(256) == 3 and pa.empirical_threshold(range(1, 9), predicted, 0.9) == 4
    assert 0.7 < predicted[2] < 0.8  # about half of the D1 inputs cross at degree 3


def test_predicted_accuracy_limits():
    assert pa.predicted_accuracy(10**6, 1).accuracy == pytest.approx(0.5, abs=1e-6)  # linear attention: chance
    assert pa.predicted_accuracy(10**6, 16).accuracy == pytest.approx(1.0, abs=1e-6)
    assert pa.predicted_accuracy(10**6, 16).error_bound < pa.predicted_accuracy(10**3, 16).error_bound
    with pytest.raises(ValueError, match="margin"):
        pa.predicted_accuracy(64, 3, margin=1.0)
