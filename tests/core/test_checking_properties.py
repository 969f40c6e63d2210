"""Property tests of the exercise checker: the reference passes, the stub and typical mistakes fail, by name."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from simple_algebra.core.checking import Exercise, check, diagnose, exercise_inputs, exercises, register
from tests.properties import covers, refuses

shapes = st.sampled_from([(), (3,), (2, 4)])
scales = st.sampled_from([0.5, 2.0, 3.0, 10.0])


def _reference(label):
    exercise = exercises()[label]
    return exercise.reference(**exercise.inputs())


@covers(diagnose)
@given(shapes, scales, st.integers(0, 2**16))
def test_diagnose_names_the_mistake(shape, scale, seed):
    expected = np.random.default_rng(seed).uniform(1.0, 2.0, size=shape)
    assert diagnose(expected.copy(), expected, rtol=1e-9) is None
    assert diagnose(torch.from_numpy(expected), expected, rtol=1e-9) is None
    assert "No answer yet" in diagnose(..., expected, rtol=1e-9)
    assert "sign is flipped" in diagnose(-expected, expected, rtol=1e-9)
    assert f"{scale:.4g} times the reference" in diagnose(scale * expected, expected, rtol=1e-9)
    assert "NaN" in diagnose(np.full(shape, np.nan), expected, rtol=1e-9)
    assert "got a str" in diagnose("42", expected, rtol=1e-9)
    if shape:
        assert "shape (7,)" in diagnose(np.ones(7), expected, rtol=1e-9)
        wrong = expected.copy()
        wrong.flat[-1] += 1.0
        assert "1 of" in diagnose(wrong, expected, rtol=1e-9)


@covers(check, exercises, exercise_inputs)
@given(st.sampled_from(sorted(exercises())), scales)
def test_every_exercise_passes_its_reference_and_fails_the_stub_and_a_wrong_scale(label, scale):
    reference = _reference(label)
    first, second = exercise_inputs(label), exercise_inputs(label)  # same seed, same numbers
    assert first.keys() == second.keys()
    assert all(np.array_equal(np.asarray(first[key]), np.asarray(second[key])) for key in first)
    assert check(label, reference).passed
    stub = check(label, ...)
    assert not stub.passed and "No answer yet" in stub.message
    wrong = check(label, scale * torch.as_tensor(reference, dtype=torch.float64))
    assert not wrong.passed and "times the reference" in wrong.message
    refuses(check, label + "-typo", reference, argument="label", shows=label + "-typo")
    refuses(exercise_inputs, 3, argument="label", shows="3")


@covers(register)
def test_a_label_is_registered_once():
    label = sorted(exercises())[0]
    with pytest.raises(ValueError, match=label):
        register(Exercise(label=label, question="again", reference=lambda: 0.0))
