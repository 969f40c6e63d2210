"""The benchmark harness: time our implementation against the naive baseline in one process, report the ratio.

A benchmark is a :class:`Benchmark`: a name, the two implementations' names, a target ratio, a tolerance on
their disagreement, and ``setup(quick)`` which builds the inputs and returns ``(baseline, ours, sizes)``, two
zero-argument callables returning tensors, and the sizes used. A benchmark whose claim is not only a ratio (a
memory size, a throughput) also gives ``measurements(quick)``, a dict of named numbers stored in the record.
Each ``bench_*.py`` file in this folder lists its benchmarks in ``BENCHMARKS``; ``run.py`` finds them.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

import simple_algebra as sa

Setup = Callable[[bool], tuple[Callable[[], torch.Tensor], Callable[[], torch.Tensor], dict[str, Any]]]


@dataclass(frozen=True)
class Benchmark:
    name: str
    baseline: str
    ours: str
    target_ratio: float
    tolerance: float
    setup: Setup
    measurements: Callable[[bool], dict[str, Any]] | None = field(default=None)


def _synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def median_seconds(function: Callable[[], torch.Tensor], repeats: int) -> tuple[float, torch.Tensor]:
    """Median wall time of ``repeats`` calls after one warm-up call; also returns the last result."""
    result = function()  # warm-up: first-call overheads (allocations, torch.func tracing) are not timed
    _synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        _synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def relative_error(ours: torch.Tensor, baseline: torch.Tensor) -> float:
    """``max |ours - baseline| / max |baseline|``: how far apart the two implementations' answers are."""
    scale = baseline.abs().max().item() or 1.0
    return (ours - baseline).abs().max().item() / scale


def measure(benchmark: Benchmark, quick: bool = False) -> dict[str, Any]:
    """Run one benchmark; the record has the fields listed in the README's Performance section."""
    baseline, ours, sizes = benchmark.setup(quick)
    repeats = 3 if quick else 5
    baseline_seconds, baseline_result = median_seconds(baseline, repeats)
    ours_seconds, ours_result = median_seconds(ours, repeats)
    error = relative_error(ours_result, baseline_result)
    return {
        "name": benchmark.name,
        "baseline": benchmark.baseline,
        "ours": benchmark.ours,
        "baseline_seconds": baseline_seconds,
        "ours_seconds": ours_seconds,
        "ratio": baseline_seconds / ours_seconds,
        "target_ratio": benchmark.target_ratio,
        "meets_target": baseline_seconds / ours_seconds >= benchmark.target_ratio,
        "error": error,
        "tolerance": benchmark.tolerance,
        "agrees": error <= benchmark.tolerance,
        "device": str(sa.device()),
        "quick": quick,
        "sizes": sizes,
        "measurements": benchmark.measurements(quick) if benchmark.measurements else {},
    }
