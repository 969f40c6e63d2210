"""The book's house style for figures, and log-log plots with a fitted slope.

Colours are the Okabe-Ito palette, which stays distinguishable under the common forms of colour blindness;
markers and line styles vary with the colour so that a curve can also be told apart in grey scale.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import numpy as np
from cycler import cycler
from matplotlib.axes import Axes

from .validation import check_int

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES = ("-", "--", "-.", ":", "-", "--", "-.", ":")
# A sequential colour map that reads in grey scale and for colour-blind readers.
HEATMAP = "cividis"


def use_house_style() -> None:
    """Set matplotlib's defaults to the book's style: readable fonts, colour-blind-safe cycle, light grid."""
    mpl.rcParams.update({
        "figure.figsize": (6.4, 4.0),
        "figure.dpi": 100,
        "savefig.dpi": 100,
        "figure.constrained_layout.use": True,
        "font.size": 11,
        "axes.titlesize": 12,
        "axes.labelsize": 11,
        "legend.fontsize": 9,
        "legend.frameon": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "image.cmap": HEATMAP,
        "axes.prop_cycle": cycler(color=OKABE_ITO) + cycler(marker=MARKERS) + cycler(linestyle=LINESTYLES),
        "lines.markersize": 5,
    })


def style(index: int) -> dict[str, str]:
    """Colour, marker and line style of the ``index``-th curve (``index >= 0``; the styles repeat after eight)."""
    index = check_int("index", index, 0)
    return {"color": OKABE_ITO[index % len(OKABE_ITO)], "marker": MARKERS[index % len(MARKERS)],
            "linestyle": LINESTYLES[index % len(LINESTYLES)]}


def fit_loglog_slope(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Least-squares fit of ``log y = slope * log x + intercept``; returns ``(slope, intercept)``.

    Raises ``ValueError`` unless there are at least two points and every value is finite and positive.
    """
    x_values, y_values = _positive_values("x", x), _positive_values("y", y)
    if x_values.shape != y_values.shape or x_values.ndim != 1 or x_values.size < 2:
        raise ValueError(f"need two 1-D sequences of equal length >= 2, got shapes {x_values.shape} and {y_values.shape}")
    if np.ptp(np.log(x_values)) == 0:
        raise ValueError(f"a log-log fit needs at least two distinct x values, got x = {_shown(x_values)}")
    slope, intercept = np.polyfit(np.log(x_values), np.log(y_values), 1)
    return float(slope), float(intercept)


def _shown(values: np.ndarray) -> str:
    text = np.array2string(values, threshold=6, precision=4)
    return text if len(text) <= 80 else text[:77] + "..."


def _positive_values(name: str, values: Sequence[float]) -> np.ndarray:
    """``values`` as a float array whose entries are finite and positive (a log-log fit takes their logarithm)."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a sequence of numbers, got {str(values)[:60]!r}") from error
    if not np.all(np.isfinite(array)):
        raise ValueError(f"a log-log fit needs finite values, got {name} = {_shown(array)}")
    if np.any(array <= 0):
        raise ValueError(f"a log-log fit needs positive values, got {name} = {_shown(array)}")
    return array


def loglog_with_slope(ax: Axes, x: Sequence[float], y: Sequence[float], label: str = "",
                      index: int = 0, show_fit: bool = True) -> float:
    """Plot ``y`` against ``x`` on log-log axes with the fitted slope in the legend; returns the slope."""
    if not isinstance(ax, Axes):
        raise ValueError(f"ax must be matplotlib Axes (from plt.subplots()), got {type(ax).__name__}")
    slope, intercept = fit_loglog_slope(x, y)
    look = style(index)
    ax.loglog(x, y, label=f"{label} (slope {slope:.2f})" if label else f"slope {slope:.2f}", **look)
    if show_fit:
        x_values = np.asarray(x, dtype=float)
        ax.loglog(x_values, np.exp(intercept) * x_values**slope, color=look["color"], linestyle=":",
                  marker="", alpha=0.7)
    return slope


__all__ = ["HEATMAP", "OKABE_ITO", "fit_loglog_slope", "loglog_with_slope", "style", "use_house_style"]
