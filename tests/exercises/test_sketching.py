"""Part III's exercise references: each agrees with the package's other route to the same answer."""

import math

import torch

from simple_algebra.core.checking import check, exercise_inputs
from simple_algebra.sketching.kronecker_sampling import kronecker_leverage_scores, quantum_crossover


def test_factor_scores_reference_is_the_outer_product_of_the_factor_scores():
    factors = exercise_inputs("ex-kron-factor-scores")
    assert check("ex-kron-factor-scores", kronecker_leverage_scores(factors["A1"], factors["A2"])).passed
    # Pairing the rows the other way round, (j, i) instead of (i, j), is a typical mistake; it must fail.
    swapped = kronecker_leverage_scores(factors["A2"], factors["A1"]).T.reshape(5, 6).T
    assert swapped.shape == (6, 5) and not check("ex-kron-factor-scores", swapped).passed


def test_crossover_by_bisection_on_the_counts_matches_the_closed_form():
    inputs = exercise_inputs("ex-kron-crossover")
    closed_form = quantum_crossover(inputs["d"], inputs["eps"], constant=inputs["constant"])
    assert math.isclose(closed_form, 240_000.0)
    assert check("ex-kron-crossover", closed_form).passed
    # Forgetting to square c: 10x too small.
    assert "0.1 times" in check("ex-kron-crossover", inputs["constant"] * inputs["d"] / inputs["eps"] ** 2).message
