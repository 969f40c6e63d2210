"""Shared pytest setup: quiet, headless runs; the built book as a session fixture; per-notebook durations."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent
NOTEBOOK_BUDGET_SECONDS = 30.0

# Set before nbval starts any kernel, so that kernels inherit them: no progress bars, no GUI backend.
os.environ.setdefault("SIMPLE_ALGEBRA_QUIET", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

# Property tests: "ci" (the default) draws few examples, derandomized, so the suite is fast and every run sees the
# same inputs; "dev" (HYPOTHESIS_PROFILE=dev) searches harder. No example database: nothing is written to the tree.
settings.register_profile("ci", max_examples=20, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=300, deadline=None, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

_notebook_seconds: dict[str, float] = defaultdict(float)
_build_seconds: list[float] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _notebook_seconds[path] += report.duration


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if _build_seconds:
        terminalreporter.section("book build")
        terminalreporter.write_line(f"{_build_seconds[0]:7.1f} s  jupyter-book build (every notebook, static explorers)")
    if not _notebook_seconds:
        return
    terminalreporter.section("notebook durations (nbval, CPU profile; budget 30 s each)")
    for path, seconds in sorted(_notebook_seconds.items(), key=lambda item: -item[1]):
        flag = "  OVER BUDGET" if seconds > NOTEBOOK_BUDGET_SECONDS else ""
        terminalreporter.write_line(f"{seconds:7.1f} s  {path}{flag}")


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> dict:
    """Build the whole book once per session, with warnings as errors, into a temporary folder."""
    output = tmp_path_factory.mktemp("book")
    # The jupyter-book script beside this Python: the build must use the same environment as the tests.
    command = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(ROOT), "--path-output", str(output),
               "-W", "-n", "--keep-going"]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    _build_seconds.append(seconds)
    return {"returncode": done.returncode, "log": done.stdout + done.stderr, "html": output / "_build" / "html",
            "seconds": seconds}
