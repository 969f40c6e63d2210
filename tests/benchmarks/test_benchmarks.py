"""The benchmark harness runs (quick mode) and writes the records the README's Performance table is made from."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIELDS = {"name", "baseline", "ours", "baseline_seconds", "ours_seconds", "ratio", "target_ratio", "error",
          "device", "sizes"}


def run(*arguments, output):
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), *arguments, "--output", str(output)],
                          capture_output=True, text=True, timeout=120)


def test_quick_mode_runs_every_benchmark_and_they_agree(tmp_path):
    output = tmp_path / "results.json"
    finished = run("--quick", output=output)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    records = json.loads(output.read_text())
    assert {"ntk-torch-func", "ntk-factorised-mlp"} <= {record["name"] for record in records}
    for record in records:
        assert FIELDS <= set(record), f"{record['name']} lacks {FIELDS - set(record)}"
        assert record["baseline_seconds"] > 0 and record["ours_seconds"] > 0
        assert abs(record["ratio"] - record["baseline_seconds"] / record["ours_seconds"]) < 1e-9
        assert record["error"] <= record["tolerance"], f"{record['name']}: implementations disagree"
        assert record["name"] in finished.stdout


def test_only_selects_and_unknown_names_are_refused(tmp_path):
    output = tmp_path / "results.json"
    assert run("--quick", "--only", "ntk-torch-func", output=output).returncode == 0
    assert [record["name"] for record in json.loads(output.read_text())] == ["ntk-torch-func"]
    refused = run("--quick", "--only", "no-such-benchmark", output=output)
    assert refused.returncode == 2 and "unknown benchmark" in refused.stderr
