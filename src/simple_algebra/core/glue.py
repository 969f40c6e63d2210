"""Numbers the prose quotes come from the computation: ``glue`` records a computed value for the page.

A chapter computes ``slope = ...`` and calls ``sa.glue("ntk_gap_slope", slope)``; its text then says
``{glue:text}`ntk_gap_slope:.2f``` and the built page shows the number the run produced, so a changed seed or size
cannot leave a stale number in the text (a missing name fails the build, which runs with warnings as errors).
Under MyST-NB (the book build, nbval) the value is recorded in the cell's output; elsewhere (Colab, a plain
Jupyter without MyST-NB) nothing is recorded.
"""

from __future__ import annotations

import math
import numbers
import re

import torch

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def glue(name: str, value: object) -> None:
    """Record ``value`` (a finite number, a 0-d tensor or a string) under ``name`` for ``{glue:text}``.

    Returns nothing, so that a cell ending in a ``glue`` call shows no stray value on the page.

    ``name`` is lower-case letters, digits and underscores, starting with a letter, so that every chapter's names
    read alike (``ntk_gap_slope``). Numbers are stored as Python floats or ints, so format specs such as ``.2f``,
    ``.1e`` or ``.0%`` apply. Shared by every chapter.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"name must be lower_case_with_underscores (a letter first), got {name!r}")
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"value for {name!r} must be a number, got a tensor of shape {tuple(value.shape)}")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, str)):
        raise ValueError(f"value for {name!r} must be a real number or a string, got {type(value).__name__}")
    if isinstance(value, numbers.Real):
        value = int(value) if isinstance(value, numbers.Integral) else float(value)
        if not math.isfinite(value):
            raise ValueError(f"value for {name!r} must be finite, got {value}")
    try:
        from myst_nb import glue as record
    except ImportError:
        return
    record(name, value, display=False)
