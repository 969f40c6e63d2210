"""Property tests of the plotting helpers: exact slopes of power laws, styles that cycle, bad points named."""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from simple_algebra.core import plotting  # noqa: E402
from tests.properties import bad_integers, covers, refuses  # noqa: E402


@covers(plotting.fit_loglog_slope, plotting.loglog_with_slope)
@given(st.floats(-3, 3), st.floats(0.1, 10), st.lists(st.floats(0.01, 1e4), min_size=2, max_size=8, unique=True),
       st.sampled_from([(math.nan, "nan"), (math.inf, "inf"), (0.0, "0."), (-2.0, "-2.")]))
def test_a_power_law_has_its_exponent_as_slope(exponent, constant, x, bad):
    y = [constant * value**exponent for value in x]
    slope, intercept = plotting.fit_loglog_slope(x, y)
    assert math.isclose(slope, exponent, abs_tol=1e-7) and math.isclose(intercept, math.log(constant), abs_tol=1e-6)
    figure, ax = plt.subplots()
    try:
        assert math.isclose(plotting.loglog_with_slope(ax, x, y, label="law", index=3), slope)
        assert f"slope {slope:.2f}" in ax.lines[0].get_label()
        refuses(plotting.loglog_with_slope, None, x, y, argument="ax", shows="NoneType")
    finally:
        plt.close(figure)
    value, shown = bad
    refuses(plotting.fit_loglog_slope, [*x[:-1], value], y, argument="x", shows=shown)
    refuses(plotting.fit_loglog_slope, x, [value, *y[1:]], argument="y", shows=shown)
    refuses(plotting.fit_loglog_slope, [x[0]] * len(x), y, argument="x", shows="distinct")
    refuses(plotting.fit_loglog_slope, x, y[:-1], argument="shapes")
    refuses(plotting.fit_loglog_slope, ["a"] * len(x), y, argument="x", shows="'a'")


@covers(plotting.style, plotting.use_house_style)
@given(st.integers(0, 100), bad_integers)
def test_styles_cycle_every_eight_curves_and_the_house_style_sets_the_palette(index, bad):
    look = plotting.style(index)
    assert look == plotting.style(index + 8) and look["color"] == plotting.OKABE_ITO[index % 8]
    assert plotting.style(index) != plotting.style(index + 1)
    value, shown = bad
    if value != 0:
        refuses(plotting.style, value, argument="index", shows=shown)
    with matplotlib.rc_context():
        plotting.use_house_style()
        cycle = matplotlib.rcParams["axes.prop_cycle"].by_key()
        assert tuple(cycle["color"]) == plotting.OKABE_ITO and matplotlib.rcParams["image.cmap"] == plotting.HEATMAP
