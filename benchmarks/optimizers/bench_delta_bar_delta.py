"""RDBD's per-step overhead over its base optimizer (plain SGD) on the digits MLP.

Chapter: Delta-bar-delta with regret (Song, Yang; arXiv 2310.11291). Both sides run the same training steps of the
64-32-10 tanh network on digits (batches of 32, float64; quick: 20 steps, full: 200 steps), each step a closure
(forward, backward) plus the optimizer's update: ``torch.optim.SGD(lr=0.1)`` against
``RegrettableDeltaBarDelta(lr=0.1)`` wrapping the plain gradient, with its default log every 10 steps.

Direction of the ratio: the harness reports ``ratio = baseline_seconds / ours_seconds`` ("higher is better"), so
here ``ratio = SGD time / RDBD time`` = 1 / overhead. The target is an overhead of at most 1.3x, that is
``target_ratio = 1 / 1.3 ~ 0.77``. The overhead factor itself (RDBD time / SGD time, lower is better; the median
over back-to-back pairs of runs) is stored in the record's measurements, together with the per-step times.

Tolerance: the two optimizers compute different parameters by design (RDBD changes its per-weight learning rates
from the first sign comparison on), so their results are not expected to agree and ``tolerance = inf``; the
correctness of RDBD is tested in ``tests/test_delta_bar_delta.py`` against a float64 reference instead.
"""

from __future__ import annotations

import statistics
import time

import torch
from harness import Benchmark

import simple_algebra as sa
from simple_algebra.optimizers import delta_bar_delta as dbd
from simple_algebra.optimizers import runs

BATCH = 32


def _trainer(make_optimizer, steps: int):
    """Train a fresh MLP for ``steps`` batches (``optimizer_runs.train``: one CPU thread, seeded batches); return
    its final accuracy on the training set."""
    data = runs.digits(seed=0, device=sa.device())

    def train() -> torch.Tensor:
        model = runs.mlp(seed=0, device=sa.device())
        runs.train(model, make_optimizer, data, budget=BATCH * steps, batch_size=BATCH, record_every=BATCH * steps)
        return torch.tensor([runs.accuracy(model, data.x_train, data.y_train)])

    return train


def _pair(steps: int):
    baseline = _trainer(lambda params: torch.optim.SGD(params, lr=0.1), steps)
    ours = _trainer(lambda params: dbd.RegrettableDeltaBarDelta(params, lr=0.1), steps)
    return baseline, ours


def _steps(quick: bool) -> int:
    return 20 if quick else 200


def setup(quick: bool):
    baseline, ours = _pair(_steps(quick))
    sizes = {"model": "64-32-10 tanh MLP", "batch_size": BATCH, "steps": _steps(quick), "dtype": "float64",
             "ratio": "SGD seconds / RDBD seconds (1 / overhead)", "tolerance": "inf: different parameters by design"}
    return baseline, ours, sizes


def measurements(quick: bool) -> dict[str, float]:
    steps = _steps(quick)
    baseline, ours = _pair(steps)
    baseline(), ours()  # warm-up
    times: dict[str, list[float]] = {"sgd": [], "rdbd": []}
    for _ in range(3 if quick else 7):
        for name, function in (("sgd", baseline), ("rdbd", ours)):  # interleaved: load changes hit both alike
            start = time.perf_counter()
            function()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - start)
    sgd, rdbd = statistics.median(times["sgd"]), statistics.median(times["rdbd"])
    # The median over back-to-back pairs of their time ratio: a load change on the shared machine hits both runs
    # of a pair alike, so this is steadier than a ratio of two medians taken minutes apart.
    paired = statistics.median(r / s for r, s in zip(times["rdbd"], times["sgd"]))
    return {"overhead_factor": paired, "sgd_seconds_per_step": sgd / steps, "rdbd_seconds_per_step": rdbd / steps,
            "target_overhead": 1.3}


BENCHMARKS = [
    Benchmark("rdbd-step-overhead", baseline="SGD (torch.optim), digits MLP, batch 32",
              ours="RDBD around the plain gradient, same steps", target_ratio=1 / 1.3, tolerance=float("inf"),
              setup=setup, measurements=measurements),
]
