"""Run the registered benchmarks and write ``benchmarks/results.json``.

    python benchmarks/run.py               # every benchmark, full sizes
    python benchmarks/run.py --quick       # small sizes, under a minute (a unit test runs this)
    python benchmarks/run.py --only ntk-torch-func

Each benchmark times the naive baseline and our implementation in the same process (one warm-up, then the
median of several repeats) and records the ratio baseline/ours against its target. A ratio below target is
reported, not hidden: the table marks it and the process still exits 0. Disagreement beyond a benchmark's
tolerance is a bug, and makes the process exit 1.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import Benchmark, measure  # noqa: E402


def _load(path: Path):
    """Import ``FAMILY/bench_NAME.py`` by its path, as ``bench_FAMILY_NAME`` (the folders are not packages)."""
    spec = importlib.util.spec_from_file_location(f"bench_{path.parent.name}_{path.stem[len('bench_'):]}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def registered() -> dict[str, Benchmark]:
    """Every benchmark listed in a ``FAMILY/bench_*.py`` file below this folder (one folder per subpackage)."""
    found: dict[str, Benchmark] = {}
    for path in sorted(HERE.glob("*/bench_*.py")):
        for benchmark in _load(path).BENCHMARKS:
            if benchmark.name in found:
                raise ValueError(f"two benchmarks are called {benchmark.name!r}")
            found[benchmark.name] = benchmark
    return found


def table(records: list[dict]) -> str:
    lines = [f"{'benchmark':24} {'baseline s':>11} {'ours s':>9} {'ratio':>8} {'target':>7} {'error':>9}  device",
             "-" * 86]
    for r in records:
        flag = "" if r["meets_target"] else "  (below target)"
        lines.append(f"{r['name']:24} {r['baseline_seconds']:11.4f} {r['ours_seconds']:9.4f} {r['ratio']:7.1f}x "
                     f"{r['target_ratio']:6.1f}x {r['error']:9.1e}  {r['device']}{flag}")
        for key, value in r.get("measurements", {}).items():
            lines.append(f"{'':24}   {key} = {value:.4g}" if isinstance(value, float) else f"{'':24}   {key} = {value}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test, under a minute)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these benchmarks")
    parser.add_argument("--output", type=Path, default=HERE / "results.json", help="where to write the records")
    options = parser.parse_args(argv)
    benchmarks = registered()
    names = options.only or list(benchmarks)
    unknown = sorted(set(names) - set(benchmarks))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; known: {sorted(benchmarks)}")
    records = [measure(benchmarks[name], quick=options.quick) for name in names]
    options.output.write_text(json.dumps(records, indent=2) + "\n")
    print(table(records))
    print(f"\nwrote {options.output}")
    return 0 if all(record["agrees"] for record in records) else 1


if __name__ == "__main__":
    sys.exit(main())
