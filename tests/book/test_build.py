"""The whole book builds with warnings as errors, and what it builds is complete and self-contained."""

import re

import pytest

from .test_book_contract import toc_files

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
