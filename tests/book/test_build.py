"""The whole book builds with warnings as errors, and what it builds is complete and self-contained."""

import html
import importlib.util
import os
import re

import pytest

from .test_book_contract import CHAPTERS, ROOT, alt_text, figure_cells, load, toc_files

pytestmark = pytest.mark.build
EXPLORER_BUDGET = 2_000_000


def test_book_builds_with_warnings_as_errors(built_book):
    assert built_book["returncode"] == 0, built_book["log"][-5000:]


def test_every_page_is_built(built_book):
    for entry in toc_files():
        page = built_book["html"] / f"{entry}.html"
        assert page.is_file(), f"{page} missing"


def test_static_explorers_are_embedded_and_small(built_book):
    pages = [built_book["html"] / f"{entry}.html" for entry in toc_files() if entry.startswith("book/part")]
    for page in pages:
        text = page.read_text()
        assert 'class="sa-explorer"' in text, f"{page.name}: no static explorer"
        assert "jupyter-widgets" not in text and "require.js" not in text, "no ipywidgets CDN scripts"
        for block in re.findall(r'<div class="sa-explorer".*?</script>', text, re.S):
            size = len(block.encode())
            print(f"{page.name}: explorer payload {size / 1e6:.2f} MB")
            assert size <= EXPLORER_BUDGET


def test_no_directive_is_left_unparsed(built_book):
    # A directive MyST failed to parse (say, a backtick inside a backtick fence's title) shows up as raw text.
    for entry in toc_files():
        text = (built_book["html"] / f"{entry}.html").read_text()
        body = re.sub(r"<(pre|code)[^>]*>.*?</\1>", "", text, flags=re.S)
        for marker in ("```{", ":::{", "{prf:", "{exercise}", "{solution}"):
            assert marker not in body, f"{entry}: unparsed directive {marker!r}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda path: path.stem)
def test_every_figure_is_on_the_page_with_its_alt_text(built_book, path):
    """The figures really are on the built page (outside the explorer), each with the alt text of its cell.

    The build runs with ``MPLBACKEND=Agg`` inherited from the test session (conftest.py), the setting that once
    left every page without its figures; the local extension makes the kernels draw inline whatever the caller set.
    """
    page = (built_book["html"] / path.relative_to(ROOT).with_suffix(".html")).read_text()
    outside_explorers = re.sub(r'<div class="sa-explorer".*?</script>', "", page, flags=re.S)
    images = re.findall(r"<img\b[^>]*>", outside_explorers)
    alts = [html.unescape(match.group(1)) for tag in images
            if (match := re.search(r'alt="([^"]*)"', tag)) and "_images/" in tag]
    expected = [alt_text(cell) for cell, _ in figure_cells(load(path))]
    assert len(alts) >= len(expected), f"{path.stem}: {len(alts)} figures on the page, the notebook draws " \
                                       f"{len(expected)}"
    missing = [alt for alt in expected if alt not in alts]
    assert not missing, f"{path.stem}: figures without their alt text on the page: {missing}"


def test_the_extension_draws_figures_inline_whatever_the_caller_set(monkeypatch):
    spec = importlib.util.spec_from_file_location("simple_algebra_build", ROOT / "_ext" / "simple_algebra_build.py")
    extension = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(extension)

    class App:
        def connect(self, *args, **kwargs):
            pass

        def add_css_file(self, *args, **kwargs):
            pass

    for caller in ("Agg", "pdf", None):
        if caller is None:
            monkeypatch.delenv("MPLBACKEND", raising=False)
        else:
            monkeypatch.setenv("MPLBACKEND", caller)
        extension.setup(App())
        assert os.environ["MPLBACKEND"] == extension.INLINE_BACKEND
