"""A reader's view: open every chapter of the built site in headless Chromium and move its explorer's slider."""

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.browser
# The only third-party request a page may make (and may fail, offline): the math renderer.
ALLOWED_HOSTS = {"cdn.jsdelivr.net"}
ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = sorted(str(path.relative_to(ROOT).with_suffix(".html")) for path in (ROOT / "book").rglob("*.ipynb")
                  if ".ipynb_checkpoints" not in path.parts)


def chromium_path():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def site(built_book):
    if built_book["returncode"] != 0:
        pytest.fail("the book did not build; see test_book_builds_with_warnings_as_errors")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(built_book["html"]))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    executable = chromium_path()
    if executable is None:
        message = "no Chromium found (install Debian's chromium package)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + "; the browser test must run in CI")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield launched
        launched.close()


def visible_frames(page):
    return page.locator(".sa-explorer img.sa-frame:visible")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda chapter: Path(chapter).stem)
def test_explorer_slider_changes_the_frame(site, browser, tmp_path, chapter):
    page = browser.new_page()
    problems = []

    def third_party(url):
        host = urlparse(url).hostname
        return host not in (None, "127.0.0.1") and host not in ALLOWED_HOSTS

    def console(message):
        # A failed load of an allowed CDN shows up as a console error too; its location names the URL.
        if message.type == "error" and urlparse(message.location.get("url", "")).hostname not in ALLOWED_HOSTS:
            problems.append(f"console: {message.text} ({message.location.get('url')})")

    page.on("console", console)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("requestfailed", lambda request: urlparse(request.url).hostname not in ALLOWED_HOSTS
            and problems.append(f"failed request: {request.url}"))
    page.on("request", lambda request: third_party(request.url) and problems.append(f"third party: {request.url}"))
    page.on("response", lambda response: response.status >= 400 and problems.append(
        f"HTTP {response.status}: {response.url}"))
    page.goto(f"{site}/{chapter}", wait_until="load")

    explorer = page.locator(".sa-explorer").first
    explorer.scroll_into_view_if_needed()
    slider = explorer.locator("input[type=range]").first
    label = explorer.locator("output").first
    assert visible_frames(page).count() == 1
    before_src = visible_frames(page).first.get_attribute("src")
    before_alt = visible_frames(page).first.get_attribute("alt")
    before_label = label.text_content()

    at_end = slider.get_attribute("value") == slider.get_attribute("max")
    slider.focus()
    page.keyboard.press("ArrowLeft" if at_end else "ArrowRight")  # a keyboard reader moves the slider one step
    assert visible_frames(page).count() == 1
    assert visible_frames(page).first.get_attribute("src") != before_src
    assert visible_frames(page).first.get_attribute("alt") != before_alt
    assert label.text_content() != before_label
    page.screenshot(path=str(tmp_path / "explorer.png"))

    assert not problems, "\n".join(problems)
    page.close()
