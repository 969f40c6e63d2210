"""Exercises a student can check in the notebook: ``check("ex-label", answer)``.

Each checkable exercise is registered once (in :mod:`simple_algebra.exercises`) with its inputs and a *reference*
computed by the package, by another route than the one the exercise asks the student to take (the brute-force
reference where the exercise asks for the fast formula, the formula where it asks for a measurement). ``check``
compares the answer with it and says what is wrong: no answer yet, the wrong type or shape, a NaN, a flipped sign,
a wrong scale, or which entry differs most.

In a notebook the answer cell has the markers that Otter-Grader and nbgrader understand::

    answer = ...
    # BEGIN SOLUTION
    answer = ...the solution...
    # END SOLUTION
    sa.check("ex-label", answer)

The student edition (``tools/student_edition.py``) removes the lines between the markers, so the cell still runs
and ``check`` reports "no answer yet".
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from .validation import check_choice


@dataclass(frozen=True)
class Exercise:
    """One checkable exercise: ``reference(**inputs())`` is the answer; ``rtol``/``atol`` how close is right."""

    label: str
    question: str
    reference: Callable[..., object]
    inputs: Callable[[], dict] = dict
    rtol: float = 1e-6
    atol: float = 0.0
    hint: str = ""


@dataclass(frozen=True)
class Verdict:
    """What ``check`` found: ``passed`` and a sentence for the student. Shown as that sentence in a notebook."""

    label: str
    passed: bool
    message: str = field(default="")

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return f"{'Correct' if self.passed else 'Not yet'} ({self.label}): {self.message}"


_REGISTRY: dict[str, Exercise] = {}


def register(exercise: Exercise) -> Exercise:
    """Add ``exercise`` to the registry that :func:`check` reads; a label may be registered once."""
    if exercise.label in _REGISTRY:
        raise ValueError(f"label {exercise.label!r} is already registered")
    _REGISTRY[exercise.label] = exercise
    return exercise


def exercises() -> dict[str, Exercise]:
    """Every checkable exercise of the book, by label."""
    importlib.import_module("simple_algebra.exercises")
    return dict(_REGISTRY)


def exercise_inputs(label: str) -> dict:
    """The inputs of exercise ``label`` (fixed seeds: every student sees the same numbers)."""
    return _lookup(label).inputs()


def check(label: str, answer: object) -> Verdict:
    """Compare ``answer`` with the package's reference answer to exercise ``label`` and say what is wrong."""
    exercise = _lookup(label)
    expected = np.asarray(_as_array(exercise.reference(**exercise.inputs())), dtype=float)
    problem = diagnose(answer, expected, exercise.rtol, exercise.atol)
    if problem is None:
        return Verdict(label, True, f"within the tolerance (rtol {exercise.rtol:g}) of the reference.")
    return Verdict(label, False, problem + (f" Hint: {exercise.hint}" if exercise.hint else ""))


def diagnose(answer: object, expected: np.ndarray, rtol: float, atol: float = 0.0) -> str | None:
    """``None`` if ``answer`` matches ``expected`` within ``rtol``/``atol``; else a sentence saying what differs."""
    if answer is Ellipsis or answer is None:
        return "No answer yet: replace the `...` with your answer and run the cell again."
    try:
        got = np.asarray(_as_array(answer), dtype=float)
    except (TypeError, ValueError):
        return f"Expected a number or an array of shape {expected.shape}, got a {type(answer).__name__}."
    if got.shape != expected.shape and not (got.size == expected.size == 1):
        return f"The answer has shape {got.shape}; the reference has shape {expected.shape}."
    got = got.reshape(expected.shape)
    if not np.all(np.isfinite(got)):
        return f"The answer contains {int(np.sum(~np.isfinite(got)))} NaN or infinite entries."
    if np.allclose(got, expected, rtol=rtol, atol=atol):
        return None
    scale = _common_factor(got, expected)
    if scale is not None and math.isclose(scale, -1.0, rel_tol=rtol * 10):
        return "The sign is flipped: the answer is minus the reference."
    if scale is not None:
        return f"The answer is {scale:.4g} times the reference: a factor or a normalisation is off."
    if expected.size == 1:
        return f"The answer is {got.item():.6g}; the reference is {expected.item():.6g}."
    wrong = ~np.isclose(got, expected, rtol=rtol, atol=atol)
    worst = np.unravel_index(int(np.argmax(np.abs(got - expected))), expected.shape)
    return (f"{int(wrong.sum())} of {expected.size} entries differ; the largest difference is at index "
            f"{tuple(int(i) for i in worst)}: {got[worst]:.6g} against {expected[worst]:.6g}.")


def _lookup(label: str) -> Exercise:
    return _REGISTRY[check_choice("label", label, sorted(exercises()))]


def _as_array(value: object) -> object:
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", torch.float64).numpy()
    if isinstance(value, (str, bytes, dict)):
        raise TypeError(type(value).__name__)
    return value


def _common_factor(got: np.ndarray, expected: np.ndarray) -> float | None:
    """``c`` if ``got`` is ``c * expected`` (to 1e-6), for a reference that is not all zero."""
    norm = float(np.dot(expected.ravel(), expected.ravel()))
    if norm == 0.0:
        return None
    scale = float(np.dot(got.ravel(), expected.ravel())) / norm
    if scale == 0.0 or not np.allclose(got, scale * expected, rtol=1e-6, atol=1e-12 * math.sqrt(norm)):
        return None
    return scale


__all__ = ["Exercise", "Verdict", "check", "diagnose", "exercise_inputs", "exercises", "register"]
