"""The toolkit of the property-based tests: which public function each test covers, and strategies for inputs.

Every public function and class of ``simple_algebra`` has at least one Hypothesis test marked ``@covers(...)``;
``tests/test_api_coverage.py`` enumerates the package and fails on any name that no such test covers. A property
test checks both halves of the contract:

- valid inputs (drawn by the strategies below): the call succeeds, the output is finite, and it matches the
  reference implementation where one exists;
- invalid inputs: :func:`refuses` asserts a ``ValueError`` that arrives quickly and whose message names the
  argument and shows the value.

The number of examples comes from the Hypothesis profile that ``conftest.py`` loads (``ci`` by default: few,
derandomized examples, so the suite is fast and reproducible; ``HYPOTHESIS_PROFILE=dev`` runs more).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import pytest
import torch
from hypothesis import strategies as st

COVERED: dict[str, set[str]] = {}
REFUSAL_SECONDS = 2.0


def public_name(thing: Any) -> str:
    """``module.qualname`` of a function or class: the key under which coverage is recorded."""
    return f"{thing.__module__}.{thing.__qualname__}"


def covers(*things: Any) -> Callable:
    """Mark a test as the property test of these public functions or classes."""
    def mark(test: Callable) -> Callable:
        for thing in things:
            COVERED.setdefault(public_name(thing), set()).add(f"{test.__module__}.{test.__name__}")
        return test
    return mark


def refuses(call: Callable[..., Any], *args: Any, argument: str, shows: str | None = None, **kwargs: Any) -> str:
    """``call(*args, **kwargs)`` raises ``ValueError`` within a second or two, naming ``argument`` (and ``shows``,
    a piece of the given value's text, such as ``"-3"``, ``"nan"`` or ``"(2, 5)"``). Returns the message."""
    start = time.perf_counter()
    with pytest.raises(ValueError) as caught:
        call(*args, **kwargs)
    seconds = time.perf_counter() - start
    message = str(caught.value)
    assert seconds < REFUSAL_SECONDS, f"refusing took {seconds:.2f} s: {message}"
    assert argument in message, f"the message does not name {argument!r}: {message}"
    if shows is not None:
        assert shows.lower() in message.lower(), f"the message does not show the value {shows!r}: {message}"
    return message


def finite(tensor: Any) -> bool:
    """Every tensor in a (nested) result is finite."""
    if isinstance(tensor, torch.Tensor):
        return not tensor.is_floating_point() or bool(torch.isfinite(tensor).all())
    if isinstance(tensor, (tuple, list)):
        return all(finite(part) for part in tensor)
    if isinstance(tensor, dict):
        return all(finite(part) for part in tensor.values())
    if isinstance(tensor, float):
        return math.isfinite(tensor)
    return True


# --- strategies ----------------------------------------------------------------------------------------------------

seeds = st.integers(0, 2**31 - 1)
small_sizes = st.integers(1, 8)


def tensors(*shape: int, low: float = -3.0, high: float = 3.0, dtype: torch.dtype = torch.float64):
    """A strategy for tensors of ``shape`` with entries drawn from a seed (fast, and shrinks to a small seed)."""
    def build(seed: int) -> torch.Tensor:
        draw = torch.Generator().manual_seed(seed)
        return (low + (high - low) * torch.rand(shape, generator=draw, dtype=torch.float64)).to(dtype)
    return seeds.map(build)


def bad_tensors(*shape: int, dtype: torch.dtype = torch.float64):
    """Tensors that every public function must refuse in place of a valid ``shape`` one, with a text the message
    must show: a NaN entry, an inf entry, an integer dtype, a complex dtype, a missing dimension, an empty tensor."""
    def with_entry(value: float) -> torch.Tensor:
        tensor = torch.ones(shape, dtype=dtype)
        tensor.view(-1)[0] = value
        return tensor
    cases = [
        (with_entry(math.nan), "finite"),
        (with_entry(math.inf), "finite"),
        (torch.ones(shape, dtype=torch.long), "int64"),
        (torch.ones(shape, dtype=torch.complex128), "complex"),
        (torch.ones(shape[1:] if len(shape) > 1 else (), dtype=dtype), "shape"),
        (torch.ones((0, *shape[1:]), dtype=dtype), "shape"),
    ]
    return st.sampled_from(cases)


# Bad for a size that must be >= 1 (0 is a valid seed or count elsewhere: filter it there), with the text to show.
bad_integers = st.sampled_from([(-1, "-1"), (0, "0"), (2.5, "2.5"), (True, "True"), ("3", "'3'"), (None, "None")])
bad_reals = st.sampled_from([(math.nan, "nan"), (math.inf, "inf"), (-math.inf, "-inf"), ("1.0", "'1.0'"),
                             (None, "None")])
huge_sizes = st.sampled_from([10**12, 2**40, 10**18])
