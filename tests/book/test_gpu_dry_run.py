"""The gpu profile, run short on the CPU: every chapter's gpu shapes and allocations happen, so a shape error, a
missing key or a tensor over the memory budget shows here instead of on a reader's GPU.

A dry run (``SIMPLE_ALGEBRA_DRY_RUN=1``) takes each chapter's gpu sizes with the counts that only set how long it
runs (steps, seeds, restarts) replaced by the ``dry=`` entries of its ``sa.sizes`` call; where one gpu shape alone
takes minutes on two cores (the longest timing sweeps), ``dry`` lowers it too, and only a GPU machine runs it
(``SIMPLE_ALGEBRA_PROFILE=gpu``). The chapter's checks are calibrated for the full runs, so a failed ``assert`` is
expected here and only reported; any other error fails.
"""

from __future__ import annotations

import time

import nbformat
import pytest
from nbclient import NotebookClient

from .test_book_contract import CHAPTERS

CELL_TIMEOUT_SECONDS = 300


def errors(notebook):
    """(cell index, exception name, message) of every error output of an executed notebook."""
    found = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                found.append((index, output["ename"], output["evalue"]))
    return found


@pytest.mark.dry_run
@pytest.mark.parametrize("path", CHAPTERS, ids=lambda path: path.stem)
def test_gpu_profile_runs_short_without_errors(path, monkeypatch):
    for variable in ("SIMPLE_ALGEBRA_PROFILE", "SIMPLE_ALGEBRA_DEVICE", "SIMPLE_ALGEBRA_EXPLORER"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("SIMPLE_ALGEBRA_DRY_RUN", "1")
    monkeypatch.setenv("SIMPLE_ALGEBRA_DEVICE", "cpu")
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT_SECONDS, allow_errors=True, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    found = errors(notebook)
    failed_checks = [(index, message) for index, name, message in found if name == "AssertionError"]
    others = [(index, name, message) for index, name, message in found if name != "AssertionError"]
    print(f"{path.stem}: dry run of the gpu profile in {seconds:.1f} s; "
          f"{len(failed_checks)} check cell(s) not met at the short counts (expected): {failed_checks}")
    assert not others, f"{path.stem}: the gpu profile fails in a dry run: {others}"
