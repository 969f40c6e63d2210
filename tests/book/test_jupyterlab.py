"""The live path, the way a reader uses it: JupyterLab on a local port, one chapter opened and run from the Run
menu, its explorer's slider moved with the keyboard, and the picture watched.

The server is bounded: it is killed when the test ends and shuts itself down after ten idle minutes if the test
process dies first. A request to any address outside the local server fails the test.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

from .test_browser import browser, chromium_path  # noqa: F401  (the browser fixture)

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
CHAPTER = "book/part3/kronecker_spectral.ipynb"  # one of the quickest chapters to run (about 10 s)
RUN_ALL_SECONDS = 180
CACHED_FRAME_SECONDS = 0.5  # a value drawn before comes from the explorer's cache
NEW_FRAME_SECONDS = 10.0  # a new value draws one figure: a few sampled Gram matrices at the chapter's sizes


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    if chromium_path() is None and os.environ.get("CI") != "true":
        pytest.skip("no Chromium found (install Debian's chromium package)")
    port, token = free_port(), secrets.token_hex(16)
    # The server sees a copy of the chapter: JupyterLab saves what it runs, and the tree must keep its notebooks
    # without outputs.
    notebooks = tmp_path_factory.mktemp("lab-notebooks")
    shutil.copy(ROOT / CHAPTER, notebooks / Path(CHAPTER).name)
    # Every cell in the page (JupyterLab 4 otherwise renders only the cells in view), so the test sees them all.
    settings = tmp_path_factory.mktemp("lab-settings")
    (settings / "@jupyterlab" / "notebook-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        '{"windowingMode": "none"}')
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("SIMPLE_ALGEBRA_") and key != "MPLBACKEND"}  # as a reader starts it
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={notebooks}",
               "--ServerApp.shutdown_no_activity_timeout=600", "--LabApp.news_url=None",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.extension_manager=readonly",
               "--allow-root",
               f"--LabServerApp.workspaces_dir={tmp_path_factory.mktemp('lab-workspaces')}",
               f"--LabServerApp.user_settings_dir={settings}"]
    server = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"JupyterLab did not start: {server.stderr.read().decode()[-2000:]}")
            time.sleep(0.5)
    yield base, token, notebooks
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()


def picture_source(page):
    return page.locator(".jp-OutputArea .widget-image").last.get_attribute("src")


def seconds_until_the_picture_changes(page, before, limit):
    start = time.monotonic()
    while time.monotonic() - start < limit + 5:
        if picture_source(page) not in (None, before):
            return time.monotonic() - start
        page.wait_for_timeout(20)
    return float("inf")


def test_explorer_slider_redraws_in_jupyterlab(jupyterlab, browser):  # noqa: F811
    base, token, notebooks = jupyterlab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    outside = []

    # Watched, not intercepted: routing every request through Playwright stalled JupyterLab's run-all after the first
    # cell. A request to any other host fails the test below.
    page.on("request", lambda request: urlparse(request.url).hostname not in (None, "127.0.0.1")
            and outside.append(request.url))
    page.goto(f"{base}/lab/tree/{Path(CHAPTER).name}?token={token}", wait_until="load")
    page.locator(".jp-Notebook").first.wait_for(timeout=60_000)
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for(timeout=60_000)

    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.locator(".lm-Menu-item[data-command='runmenu:run-all']").first.click()
    start = time.monotonic()
    # Done when the kernel is idle again and no cell is queued or running ("[*]").
    page.wait_for_function(
        """() => {
            const idle = document.querySelector(".jp-Notebook-ExecutionIndicator[data-status='idle']");
            const prompts = [...document.querySelectorAll(".jp-CodeCell .jp-InputPrompt")].map(p => p.textContent);
            return idle && prompts.length > 0 && prompts.every(text => !text.includes("*"))
                   && prompts.filter(text => /\\[\\d+\\]/.test(text)).length === prompts.length;
        }""", timeout=RUN_ALL_SECONDS * 1000, polling=250)
    run_seconds = time.monotonic() - start
    code_cells = sum(cell["cell_type"] == "code" for cell in json.loads((ROOT / CHAPTER).read_text())["cells"])
    assert page.locator(".jp-CodeCell").count() == code_cells, "not every cell of the chapter is on the page"
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                          has_text="Traceback").count()
    assert errors == 0, "a cell raised while running the chapter in JupyterLab"

    slider = page.locator(".jp-OutputArea .widget-slider").last
    slider.scroll_into_view_if_needed()
    handle = slider.locator(".noUi-handle").first
    label = slider.locator(".widget-readout").first
    first_picture, first_label = picture_source(page), label.text_content()
    assert first_picture, "the explorer shows no picture"

    handle.focus()
    page.keyboard.press("ArrowRight")
    new_seconds = seconds_until_the_picture_changes(page, first_picture, NEW_FRAME_SECONDS)
    assert label.text_content() != first_label, "the slider's value did not move"
    assert new_seconds <= NEW_FRAME_SECONDS, f"a new frame took {new_seconds:.2f} s"

    second_picture = picture_source(page)
    page.keyboard.press("ArrowLeft")  # back to the first value: drawn before, so it comes from the cache
    cached_seconds = seconds_until_the_picture_changes(page, second_picture, CACHED_FRAME_SECONDS)
    print(f"JupyterLab: {CHAPTER} ran in {run_seconds:.1f} s; new frame {new_seconds:.2f} s, "
          f"cached frame {cached_seconds:.3f} s")
    assert label.text_content() == first_label
    assert cached_seconds <= CACHED_FRAME_SECONDS, f"a cached frame took {cached_seconds:.2f} s"
    assert not outside, f"JupyterLab requested third-party addresses: {outside}"
    page.close()
