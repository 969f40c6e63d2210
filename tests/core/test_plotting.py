import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from simple_algebra.core.plotting import OKABE_ITO, fit_loglog_slope, loglog_with_slope, style, use_house_style  # noqa: E402


def test_fit_recovers_a_power_law():
    x = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    slope, intercept = fit_loglog_slope(x, 3.0 * x**-1.5)
    assert slope == pytest.approx(-1.5, abs=1e-12)
    assert np.exp(intercept) == pytest.approx(3.0, rel=1e-12)


@pytest.mark.parametrize("x, y", [([1.0], [1.0]), ([1.0, 2.0], [1.0]), ([1.0, -2.0], [1.0, 2.0]),
                                  ([1.0, 2.0], [1.0, np.nan]), ([1.0, 2.0], [0.0, 1.0])])
def test_fit_rejects_bad_input(x, y):
    with pytest.raises(ValueError):
        fit_loglog_slope(x, y)


def test_loglog_with_slope_plots_and_labels():
    use_house_style()
    figure, ax = plt.subplots()
    x = np.array([10.0, 100.0, 1000.0])
    slope = loglog_with_slope(ax, x, x**0.5, label="error")
    assert slope == pytest.approx(0.5)
    assert "slope 0.50" in ax.get_legend_handles_labels()[1][0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    plt.close(figure)


def test_house_style_uses_colour_blind_safe_cycle():
    use_house_style()
    colours = [entry["color"] for entry in matplotlib.rcParams["axes.prop_cycle"]]
    assert colours == list(OKABE_ITO)
    assert style(len(OKABE_ITO))["color"] == OKABE_ITO[0]
