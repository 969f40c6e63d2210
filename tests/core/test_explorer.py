import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from simple_algebra.core import explorer as explorer_module  # noqa: E402
from simple_algebra.core.explorer import explorer, explorer_mode, figure_to_png  # noqa: E402


def make_draw(calls):
    def draw(width, depth):
        calls.append((width, depth))
        figure, ax = plt.subplots(figsize=(2, 1.5))
        ax.plot([0, 1], [0, width * depth])
        ax.set_title(f"{width}x{depth}")
        return figure
    return draw


def alt(width, depth):
    return f"width {width}, depth {depth}"


CONTROLS = {"width": [1, 2, 4], "depth": [1, 3]}


def test_mode_comes_from_environment(monkeypatch):
    monkeypatch.delenv(explorer_module.MODE_VARIABLE, raising=False)
    assert explorer_mode() == "live"
    monkeypatch.setenv(explorer_module.MODE_VARIABLE, "static")
    assert explorer_mode() == "static"
    monkeypatch.setenv(explorer_module.MODE_VARIABLE, "sometimes")
    with pytest.raises(ValueError, match="must be one of"):
        explorer_mode()


def test_static_explorer_html_contract():
    calls = []
    page = explorer(make_draw(calls), CONTROLS, title="Demo", alt=alt, initial={"width": 2, "depth": 3},
                    mode="static").data
    assert sorted(calls) == sorted((w, d) for w in CONTROLS["width"] for d in CONTROLS["depth"])
    assert 'class="sa-explorer"' in page
    assert len(re.findall(r'<input type="range"', page)) == 2
    frames = re.findall(r"<img class=\"sa-frame\"[^>]*>", page)
    assert len(frames) == 6
    visible = [frame for frame in frames if " hidden" not in frame]
    # product order: width varies slowest; (2, 3) is index 1 * 2 + 1 = 3
    assert len(visible) == 1 and visible[0] == frames[3]
    assert 'alt="width 2, depth 3"' in visible[0]
    assert "http" not in page.replace("data:image/png", "")  # no CDN, no server


def test_static_explorer_respects_its_byte_budget():
    with pytest.raises(ValueError, match="more than 1000 bytes"):
        explorer(make_draw([]), CONTROLS, title="Too big", alt=alt, mode="static", max_bytes=1000)


def test_live_explorer_caches_frames():
    calls = []
    box = explorer(make_draw(calls), CONTROLS, title="Live", alt=alt, mode="live")
    sliders = [child for child in box.children if hasattr(child, "options")]
    picture = next(child for child in box.children if type(child).__name__ == "Image")
    assert calls == [(1, 1)] and picture.value[:4] == b"\x89PNG"
    sliders[0].value = 4
    sliders[0].value = 1
    sliders[0].value = 4
    assert calls == [(1, 1), (4, 1)]


@pytest.mark.parametrize("controls, initial, message", [
    ({}, None, "at least one control"),
    ({"width": []}, None, "no values"),
    ({"width": [1, 1]}, None, "repeated"),
    ({"not a name": [1]}, None, "identifiers"),
    ({"width": [1, 2]}, {"width": 3}, "not one of"),
    ({"width": [1, 2]}, {"depth": 1}, "unknown control"),
])
def test_bad_controls_raise(controls, initial, message):
    with pytest.raises(ValueError, match=message):
        explorer(make_draw([]), controls, title="Bad", alt=alt, initial=initial, mode="static")


def test_figure_to_png_closes_the_figure():
    figure, ax = plt.subplots()
    ax.plot([0, 1])
    png = figure_to_png(figure)
    assert png[:4] == b"\x89PNG"
    assert not plt.fignum_exists(figure.number)
