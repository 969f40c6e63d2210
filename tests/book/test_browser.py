"""A reader's view: open every chapter of the built site in headless Chromium, offline: its formulas render, it
passes the WCAG 2 A/AA rules of axe-core, and its explorer's slider changes the picture."""

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.browser
# Findings of these impacts fail the test; "minor" and "moderate" ones are printed. No rule is excluded.
FAILING_IMPACTS = {"serious", "critical"}
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


def open_offline(browser, site, chapter):
    """A page of the site with every request outside the local server refused, as on a machine without network;
    ``problems`` collects what the reader would see go wrong (failed or third-party requests, console errors)."""
    page = browser.new_page()
    problems = []

    def route(request_route):
        if urlparse(request_route.request.url).hostname in (None, "127.0.0.1"):
            request_route.continue_()
        else:
            problems.append(f"third party: {request_route.request.url}")
            request_route.abort()

    page.route("**/*", route)
    page.on("console", lambda message: message.type == "error" and problems.append(
        f"console: {message.text} ({message.location.get('url')})"))
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("requestfailed", lambda request: problems.append(f"failed request: {request.url}"))
    page.on("response", lambda response: response.status >= 400 and problems.append(
        f"HTTP {response.status}: {response.url}"))
    page.goto(f"{site}/{chapter}", wait_until="load")
    return page, problems


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda chapter: Path(chapter).stem)
def test_page_renders_its_formulas_offline_and_passes_axe(site, browser, chapter):
    from axe_playwright_python.sync_playwright import Axe

    page, problems = open_offline(browser, site, chapter)
    page.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=20_000)
    page.evaluate("MathJax.startup.promise")
    assert page.locator("mjx-container").count() > 0, "no formula was rendered (MathJax did not typeset the page)"
    assert page.locator("mjx-container mjx-merror").count() == 0, "a formula did not parse"
    assert not problems, "\n".join(problems)
    # axe fetches stylesheets itself for one rule, resolving an @import against the site root; its 404 is not the
    # reader's, so the page's requests are judged above, before axe runs.
    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa"]}})
    findings = [(violation["impact"], violation["id"], len(violation["nodes"]), violation["nodes"][0]["target"])
                for violation in results.response["violations"]]
    print(f"{Path(chapter).stem}: axe findings {findings}")
    failing = [finding for finding in findings if finding[0] in FAILING_IMPACTS]
    assert not failing, f"serious or critical accessibility findings: {failing}"
    page.close()


def visible_frames(page):
    return page.locator(".sa-explorer img.sa-frame:visible")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda chapter: Path(chapter).stem)
def test_explorer_slider_changes_the_frame(site, browser, tmp_path, chapter):
    page, problems = open_offline(browser, site, chapter)

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
