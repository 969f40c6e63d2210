"""The explorer: vary width, degree or rank with sliders and watch a figure change.

One function, :func:`explorer`, serves both places a reader meets a chapter:

- in a live Jupyter kernel it returns ipywidgets sliders over a picture; each combination is drawn on demand
  and cached, so moving back to a value is instant;
- in the built book (no kernel) it draws every combination once at build time and returns plain HTML: range
  inputs whose script swaps pre-rendered frames. No CDN, no server.

The mode comes from ``$SIMPLE_ALGEBRA_EXPLORER`` (``live`` or ``static``). The book build sets ``static`` through
the local Sphinx extension in ``_ext/``; everywhere else the default is ``live``.

The static HTML has a root element of class ``sa-explorer``, one ``input[type=range]`` per control, a value
label (``output``) beside each, and one ``img`` per frame of which exactly one is visible.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import itertools
import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from PIL import Image

from .runtime import progress

MODE_VARIABLE = "SIMPLE_ALGEBRA_EXPLORER"
MODES = ("live", "static")
MAX_STATIC_BYTES = 2_000_000
_explorers_made = itertools.count()


def explorer_mode() -> str:
    """``static`` when building the book (``$SIMPLE_ALGEBRA_EXPLORER=static``), else ``live``."""
    mode = os.environ.get(MODE_VARIABLE, "live").strip().lower() or "live"
    if mode not in MODES:
        raise ValueError(f"{MODE_VARIABLE} must be one of {MODES}, got {mode!r}")
    return mode


def figure_to_png(figure: Figure, dpi: int = 80, colors: int = 96) -> bytes:
    """Render ``figure`` to PNG bytes with an adaptive palette of ``colors`` colours, then close it.

    Line plots and heat maps survive the palette well and shrink three- to fourfold, which is what keeps a
    static explorer with dozens of frames under its size budget.
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    plt.close(figure)
    buffer.seek(0)
    picture = Image.open(buffer).convert("RGB").quantize(colors=colors)
    packed = io.BytesIO()
    picture.save(packed, format="PNG", optimize=True)
    return packed.getvalue()


def _validate(controls: Mapping[str, Sequence[Any]], initial: Mapping[str, Any] | None) -> dict[str, Any]:
    if not controls:
        raise ValueError("an explorer needs at least one control")
    start = {}
    for name, values in controls.items():
        if not name.isidentifier():
            raise ValueError(f"control names must be Python identifiers (they are passed to draw), got {name!r}")
        if len(values) < 1:
            raise ValueError(f"control {name!r} has no values")
        if len(set(map(repr, values))) != len(values):
            raise ValueError(f"control {name!r} has repeated values: {list(values)}")
        start[name] = values[0]
    for name, value in (initial or {}).items():
        if name not in controls:
            raise ValueError(f"initial value for unknown control {name!r}; controls are {list(controls)}")
        if value not in list(controls[name]):
            raise ValueError(f"initial {name}={value!r} is not one of {list(controls[name])}")
        start[name] = value
    return start


def explorer(draw: Callable[..., Figure], controls: Mapping[str, Sequence[Any]], *, title: str,
             alt: Callable[..., str], labels: Mapping[str, str] | None = None,
             initial: Mapping[str, Any] | None = None, mode: str | None = None, dpi: int = 80,
             max_bytes: int = MAX_STATIC_BYTES) -> Any:
    """Sliders over the values in ``controls``; ``draw(**values)`` returns the matplotlib figure to show.

    ``alt(**values)`` describes a frame in words (the image's alt text). ``labels`` maps a control name to the
    text beside its slider. ``draw`` should read precomputed results (compute once, draw many): a static
    explorer draws every combination. Returns an ipywidgets box (live) or an ``IPython.display.HTML`` (static).
    """
    start = _validate(controls, initial)
    labels = {name: (labels or {}).get(name, name) for name in controls}
    chosen = explorer_mode() if mode is None else mode
    if chosen not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {chosen!r}")
    if chosen == "static":
        return static_explorer(draw, controls, title=title, alt=alt, labels=labels, initial=start, dpi=dpi,
                               max_bytes=max_bytes)
    return live_explorer(draw, controls, title=title, alt=alt, labels=labels, initial=start, dpi=dpi)


def live_explorer(draw: Callable[..., Figure], controls: Mapping[str, Sequence[Any]], *, title: str,
                  alt: Callable[..., str], labels: Mapping[str, str], initial: Mapping[str, Any],
                  dpi: int = 80) -> Any:
    """ipywidgets sliders over a picture; frames are drawn on demand and cached by their values."""
    import ipywidgets as widgets

    cache: dict[tuple, bytes] = {}
    sliders = {
        name: widgets.SelectionSlider(options=[(str(value), value) for value in values], value=initial[name],
                                      description=labels[name], continuous_update=False,
                                      style={"description_width": "initial"},
                                      layout=widgets.Layout(width="32em"))
        for name, values in controls.items()
    }
    picture = widgets.Image(format="png")
    caption = widgets.HTML()

    def show(_change: object = None) -> None:
        values = {name: slider.value for name, slider in sliders.items()}
        key = tuple(values.values())
        if key not in cache:
            cache[key] = figure_to_png(draw(**values), dpi=dpi)
        picture.value = cache[key]
        caption.value = f"<small>{html.escape(alt(**values))}</small>"

    for slider in sliders.values():
        slider.observe(show, names="value")
    show()
    heading = widgets.HTML(f"<b>{html.escape(title)}</b>")
    return widgets.VBox([heading, *sliders.values(), picture, caption])


_SCRIPT = """
(function () {
  var root = document.getElementById(%(id)s);
  var values = %(values)s;
  var inputs = root.querySelectorAll("input[type=range]");
  var frames = root.querySelectorAll("img.sa-frame");
  function update() {
    var index = 0;
    inputs.forEach(function (input, k) {
      var position = parseInt(input.value, 10);
      index = index * values[k].length + position;
      var text = String(values[k][position]);
      input.setAttribute("aria-valuetext", text);
      input.parentNode.querySelector("output").textContent = text;
    });
    frames.forEach(function (frame, k) { frame.hidden = (k !== index); });
  }
  inputs.forEach(function (input) { input.addEventListener("input", update); });
  update();
})();
"""


def static_explorer(draw: Callable[..., Figure], controls: Mapping[str, Sequence[Any]], *, title: str,
                    alt: Callable[..., str], labels: Mapping[str, str], initial: Mapping[str, Any],
                    dpi: int = 80, max_bytes: int = MAX_STATIC_BYTES) -> Any:
    """Every combination drawn now and packed into one self-contained HTML block (no kernel needed)."""
    from IPython.display import HTML

    names = list(controls)
    combinations = list(itertools.product(*(controls[name] for name in names)))
    frames, total = [], 0
    for combination in progress(combinations, desc=f"explorer frames: {title}"):
        values = dict(zip(names, combination))
        encoded = base64.b64encode(figure_to_png(draw(**values), dpi=dpi)).decode("ascii")
        total += len(encoded)
        if total > max_bytes:
            raise ValueError(f"the static explorer {title!r} needs more than {max_bytes} bytes of frames "
                             f"({len(combinations)} combinations); use fewer values, a smaller figure or a lower dpi")
        frames.append((values, encoded))

    digest = hashlib.sha1(f"{title}|{names}".encode()).hexdigest()[:10]
    root_id = f"sa-explorer-{digest}-{next(_explorers_made)}"
    start_index = combinations.index(tuple(initial[name] for name in names))
    sliders = []
    for name in names:
        values = list(controls[name])
        position = values.index(initial[name])
        sliders.append(
            f'<label style="display:block;margin:0.2em 0">{html.escape(labels[name])} '
            f'<input type="range" min="0" max="{len(values) - 1}" step="1" value="{position}" '
            f'data-control="{html.escape(name)}" aria-label="{html.escape(labels[name])}" '
            f'aria-valuetext="{html.escape(str(initial[name]))}" style="width:20em;vertical-align:middle"> '
            f'<output>{html.escape(str(initial[name]))}</output></label>')
    images = [
        f'<img class="sa-frame" src="data:image/png;base64,{encoded}" alt="{html.escape(alt(**values))}"'
        f' style="max-width:100%"{"" if index == start_index else " hidden"}>'
        for index, (values, encoded) in enumerate(frames)
    ]
    script = _SCRIPT % {"id": json.dumps(root_id),
                        "values": json.dumps([[str(value) for value in controls[name]] for name in names])}
    page = (
        f'<div class="sa-explorer" id="{root_id}" role="group" aria-label="{html.escape(title)}">'
        f'<p><strong>{html.escape(title)}</strong></p>{"".join(sliders)}'
        f'<div class="sa-frames">{"".join(images)}</div>'
        f'<p><small>Frames rendered when the book was built ({len(frames)} combinations). Open the notebook '
        f'in Jupyter for live sliders over any value.</small></p></div>'
        f"<script>{script}</script>"
    )
    return HTML(page)
