"""Property tests of the explorer: one frame per combination, the chosen start visible, bad controls named."""

import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from simple_algebra.core import explorer as ex  # noqa: E402
from tests.properties import bad_integers, covers, refuses  # noqa: E402


def draw(**values):
    figure, ax = plt.subplots(figsize=(1, 0.75))
    ax.plot([0, 1], [0, sum(values.values())])
    return figure


def alt(**values):
    return ", ".join(f"{name} {value}" for name, value in values.items())


controls_strategy = st.dictionaries(st.sampled_from(["width", "depth", "rank"]),
                                    st.lists(st.integers(1, 9), min_size=1, max_size=3, unique=True),
                                    min_size=1, max_size=2)


@covers(ex.explorer, ex.static_explorer, ex.live_explorer, ex.explorer_mode)
@given(controls_strategy, st.data())
def test_every_combination_is_one_frame_and_the_start_is_the_visible_one(controls, data):
    initial = {name: data.draw(st.sampled_from(values)) for name, values in controls.items()
               if data.draw(st.booleans())}
    page = ex.explorer(draw, controls, title="T", alt=alt, initial=initial, mode="static", dpi=20).data
    frames = re.findall(r'<img class="sa-frame"[^>]*>', page)
    count = 1
    for values in controls.values():
        count *= len(values)
    assert len(frames) == count and len(re.findall(r'type="range"', page)) == len(controls)
    start = {name: initial.get(name, values[0]) for name, values in controls.items()}
    visible = [frame for frame in frames if " hidden" not in frame]
    assert len(visible) == 1 and f'alt="{alt(**start)}"' in visible[0]
    # The static and live explorers accept the same partial initial values (no KeyError for a missing control).
    again = ex.static_explorer(draw, controls, title="T", alt=alt, initial=initial, dpi=20).data
    assert len(re.findall(r'<img class="sa-frame"', again)) == count
    box = ex.live_explorer(draw, controls, title="T", alt=alt, initial=initial, dpi=20)
    assert [slider.value for slider in box.children[1:-2]] == list(start.values())
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ex.MODE_VARIABLE, data.draw(st.sampled_from(["", "live", "STATIC", "sometimes"])))
        mode = __import__("os").environ[ex.MODE_VARIABLE].strip().lower() or "live"
        if mode in ex.MODES:
            assert ex.explorer_mode() == mode
        else:
            refuses(ex.explorer_mode, argument=ex.MODE_VARIABLE, shows=repr(mode))
    plt.close("all")


@covers(ex.explorer, ex.static_explorer, ex.live_explorer)
@given(st.sampled_from([
    (dict(controls={}), "control", "{}"),
    (dict(controls={"width": 3}), "control 'width'", "int"),
    (dict(controls={"width": []}), "control 'width'", "no values"),
    (dict(controls={"width": [1, 1]}), "control 'width'", "[1, 1]"),
    (dict(controls={1: [1]}), "control names", "1"),
    (dict(initial={"width": 5}), "initial width", "5"),
    (dict(initial={"depth": 1}), "unknown control", "'depth'"),
    (dict(initial=[("width", 1)]), "initial", "list"),
    (dict(draw=3), "draw", "int"),
    (dict(draw=lambda width: 3), "draw(width=1)", "int"),
    (dict(alt=None), "alt", "NoneType"),
    (dict(title=None), "title", "NoneType"),
    (dict(dpi=0), "dpi", "0"),
    (dict(dpi=10**6), "dpi", str(10**6)),
    (dict(controls={f"c{i}": list(range(100)) for i in range(8)}), "combinations", str(100**8)),
]), st.sampled_from(["explorer", "static_explorer", "live_explorer"]))
def test_bad_controls_and_arguments_are_refused_quickly_by_name(case, which):
    changes, argument, shown = case
    arguments = dict(draw=draw, controls={"width": [1, 2]}, title="T", alt=alt, initial=None) | changes
    function = getattr(ex, which)
    if which == "explorer":
        arguments["mode"] = "static"
    if which == "live_explorer" and argument == "combinations":
        return  # a live explorer draws one frame at a time: any number of combinations is fine
    refuses(function, **arguments, argument=argument, shows=shown)
    if which == "explorer":
        refuses(ex.explorer, draw, {"width": [1]}, title="T", alt=alt, mode="sometimes", argument="mode",
                shows="'sometimes'")
    plt.close("all")


@covers(ex.figure_to_png)
@given(st.integers(10, 60), st.integers(2, 256), bad_integers)
def test_a_figure_becomes_a_png_and_is_closed(dpi, colors, bad):
    figure, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1])
    png = ex.figure_to_png(figure, dpi=dpi, colors=colors)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and not plt.fignum_exists(figure.number)
    value, shown = bad
    other = plt.figure(figsize=(1, 1))
    refuses(ex.figure_to_png, other, dpi=value, argument="dpi", shows=shown)
    refuses(ex.figure_to_png, other, colors=257 + dpi, argument="colors", shows=str(257 + dpi))
    refuses(ex.figure_to_png, "figure", argument="figure", shows="str")
    plt.close("all")
