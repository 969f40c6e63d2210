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
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from PIL import Image

from .runtime import progress
from .validation import check_allocation, check_choice, check_int

MODE_VARIABLE = "SIMPLE_ALGEBRA_EXPLORER"
MODES = ("live", "static")
MAX_STATIC_BYTES = 2_000_000
MAX_DPI = 1200
MAX_FRAMES = 10_000
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
    static explorer with dozens of frames under its size budget. ``dpi`` is in ``[1, 1200]`` and the rendered
    picture must fit in memory; ``colors`` is in ``[1, 256]`` (a PNG palette).
    """
    if not isinstance(figure, Figure):
        raise ValueError(f"figure must be a matplotlib Figure, got {type(figure).__name__}")
    dpi = check_int("dpi", dpi, 1, MAX_DPI)
    colors = check_int("colors", colors, 1, 256)
    inches = figure.get_size_inches()
    check_allocation(f"a {inches[0]:.3g} x {inches[1]:.3g} inch figure at dpi={dpi}",
                     (math.ceil(inches[1] * dpi), math.ceil(inches[0] * dpi), 4), dtype=torch.uint8)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    plt.close(figure)
    buffer.seek(0)
    picture = Image.open(buffer).convert("RGB").quantize(colors=colors)
    packed = io.BytesIO()
    picture.save(packed, format="PNG", optimize=True)
    return packed.getvalue()


def _validate(controls: Mapping[str, Sequence[Any]], initial: Mapping[str, Any] | None) -> dict[str, Any]:
    """The start value of every control: ``initial``'s where given, else the control's first value."""
    if not isinstance(controls, Mapping) or not controls:
        raise ValueError(f"an explorer needs at least one control (a dict of name -> values), got {controls!r}"[:200])
    if initial is not None and not isinstance(initial, Mapping):
        raise ValueError(f"initial must be a dict of control name -> value, got {type(initial).__name__}")
    start = {}
    for name, values in controls.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"control names must be Python identifiers (they are passed to draw), got {name!r}")
        try:
            count = len(values)
            listed = list(values)
        except TypeError as error:
            raise ValueError(f"control {name!r} needs a sequence of values, got {type(values).__name__}") from error
        if count < 1:
            raise ValueError(f"control {name!r} has no values")
        if len(set(map(repr, listed))) != count:
            raise ValueError(f"control {name!r} has repeated values: {listed}")
        start[name] = listed[0]
    for name, value in (initial or {}).items():
        if name not in controls:
            raise ValueError(f"initial value for unknown control {name!r}; controls are {list(controls)}")
        if value not in list(controls[name]):
            raise ValueError(f"initial {name}={value!r} is not one of {list(controls[name])}")
        start[name] = value
    return start


def _prepared(draw: Any, alt: Any, title: Any, controls: Mapping[str, Sequence[Any]],
              labels: Mapping[str, str] | None, initial: Mapping[str, Any] | None) -> tuple[dict, dict]:
    """Check the arguments every explorer shares; return the full start values and a label for every control."""
    if not callable(draw):
        raise ValueError(f"draw must be a function of the controls that returns a Figure, got {type(draw).__name__}")
    if not callable(alt):
        raise ValueError(f"alt must be a function of the controls that returns a text, got {type(alt).__name__}")
    if not isinstance(title, str):
        raise ValueError(f"title must be a string, got {type(title).__name__}")
    if labels is not None and not isinstance(labels, Mapping):
        raise ValueError(f"labels must be a dict of control name -> text, got {type(labels).__name__}")
    start = _validate(controls, initial)
    return start, {name: str((labels or {}).get(name, name)) for name in controls}


def _drawn(draw: Callable[..., Figure], values: Mapping[str, Any]) -> Figure:
    figure = draw(**values)
    if not isinstance(figure, Figure):
        shown = ", ".join(f"{name}={value!r}" for name, value in values.items())
        raise ValueError(f"draw({shown}) must return a matplotlib Figure, got {type(figure).__name__}")
    return figure


def explorer(draw: Callable[..., Figure], controls: Mapping[str, Sequence[Any]], *, title: str,
             alt: Callable[..., str], labels: Mapping[str, str] | None = None,
             initial: Mapping[str, Any] | None = None, mode: str | None = None, dpi: int = 80,
             max_bytes: int = MAX_STATIC_BYTES) -> Any:
    """Sliders over the values in ``controls``; ``draw(**values)`` returns the matplotlib figure to show.

    ``alt(**values)`` describes a frame in words (the image's alt text). ``labels`` maps a control name to the
    text beside its slider. ``draw`` should read precomputed results (compute once, draw many): a static
    explorer draws every combination. Returns an ipywidgets box (live) or an ``IPython.display.HTML`` (static).
    """
    start, labels = _prepared(draw, alt, title, controls, labels, initial)
    chosen = explorer_mode() if mode is None else check_choice("mode", mode, MODES)
    dpi = check_int("dpi", dpi, 1, MAX_DPI)
    if chosen == "static":
        return static_explorer(draw, controls, title=title, alt=alt, labels=labels, initial=start, dpi=dpi,
                               max_bytes=max_bytes)
    return live_explorer(draw, controls, title=title, alt=alt, labels=labels, initial=start, dpi=dpi)


def live_explorer(draw: Callable[..., Figure], controls: Mapping[str, Sequence[Any]], *, title: str,
                  alt: Callable[..., str], labels: Mapping[str, str] | None = None,
                  initial: Mapping[str, Any] | None = None, dpi: int = 80) -> Any:
    """ipywidgets sliders over a picture; frames are drawn on demand and cached by their values.

    ``labels`` and ``initial`` may name only some controls: the others get their name and their first value.
    """
    import ipywidgets as widgets

    initial, labels = _prepared(draw, alt, title, controls, labels, initial)
    dpi = check_int("dpi", dpi, 1, MAX_DPI)
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
            cache[key] = figure_to_png(_drawn(draw, values), dpi=dpi)
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
                    alt: Callable[..., str], labels: Mapping[str, str] | None = None,
                    initial: Mapping[str, Any] | None = None, dpi: int = 80,
                    max_bytes: int = MAX_STATIC_BYTES) -> Any:
    """Every combination drawn now and packed into one self-contained HTML block (no kernel needed).

    ``labels`` and ``initial`` may name only some controls (see :func:`live_explorer`). At most 10,000
    combinations (``MAX_FRAMES``), counted before any is drawn.
    """
    from IPython.display import HTML

    initial, labels = _prepared(draw, alt, title, controls, labels, initial)
    dpi = check_int("dpi", dpi, 1, MAX_DPI)
    max_bytes = check_int("max_bytes", max_bytes, 1)
    names = list(controls)
    count = math.prod(len(controls[name]) for name in names)
    if count > MAX_FRAMES:
        raise ValueError(f"the static explorer {title!r} would draw {count} combinations "
                         f"({' x '.join(str(len(controls[name])) for name in names)} values of {names}), more than "
                         f"{MAX_FRAMES}; use fewer values")
    combinations = list(itertools.product(*(controls[name] for name in names)))
    frames, total = [], 0
    for combination in progress(combinations, desc=f"explorer frames: {title}"):
        values = dict(zip(names, combination))
        encoded = base64.b64encode(figure_to_png(_drawn(draw, values), dpi=dpi)).decode("ascii")
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
