"""glue: computed numbers for the prose, recorded as MyST-NB outputs, refused when they could not be printed."""

import math

import torch
from hypothesis import given
from hypothesis import strategies as st

from simple_algebra.core import glue as glue_module
from simple_algebra.core.glue import glue
from tests.properties import covers, refuses


def test_glue_records_a_plain_number_for_the_page(monkeypatch):
    recorded = []
    monkeypatch.setattr("myst_nb.glue", lambda name, value, display=True: recorded.append((name, value, display)))
    glue("ntk_gap_slope", torch.tensor(-0.51, dtype=torch.float64))
    glue("steps", 40)
    assert recorded == [("ntk_gap_slope", -0.51, False), ("steps", 40, False)]
    assert isinstance(recorded[0][1], float) and isinstance(recorded[1][1], int)


@covers(glue_module.glue)
@given(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["ok_name", "Bad", "1st", "has-dash", "", 3]))
def test_glue_takes_finite_numbers_and_plain_names(value, name):
    if not isinstance(name, str) or not name or not name[0].isalpha() or not name.islower() or "-" in name:
        refuses(glue, name, 1.0, argument="name", shows=repr(name))
    elif math.isfinite(value):
        assert glue(name, value) is None
    else:
        refuses(glue, name, value, argument=name, shows=str(value))
    refuses(glue, "pair", torch.ones(2), argument="pair", shows="(2,)")
    refuses(glue, "flag", True, argument="flag", shows="bool")
