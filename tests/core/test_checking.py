"""Examples of what ``check`` tells a student, on the Kronecker chapter's exercise."""

import torch

from simple_algebra import check, exercise_inputs
from simple_algebra.sketching.leverage_scores import leverage_scores


def test_check_explains_the_shape_and_the_entry_that_differs():
    factors = exercise_inputs("ex-kron-factor-scores")
    right = torch.outer(leverage_scores(factors["A1"]), leverage_scores(factors["A2"]))
    verdict = check("ex-kron-factor-scores", right)
    assert verdict and repr(verdict).startswith("Correct (ex-kron-factor-scores)")
    flat = check("ex-kron-factor-scores", right.ravel())
    assert not flat and "shape (30,)" in flat.message and "(6, 5)" in flat.message and "Hint:" in flat.message
    bumped = right.clone()
    bumped[2, 3] += 0.5
    assert "1 of 30 entries differ" in check("ex-kron-factor-scores", bumped).message
    assert "index (2, 3)" in check("ex-kron-factor-scores", bumped).message
