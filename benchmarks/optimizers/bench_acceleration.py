"""Per-step overhead of Reject Accelerating (RA) and Random Vector Accelerating (RVA) over their base optimizers.

Chapter: Gradient plus an acceleration term (Deng, Song, Yang; arXiv 2402.01515). One call trains a fresh copy of the
digits 64-32-10 tanh MLP (float64, one CPU thread, or the book's device) for 300 steps on batches of 32 (quick: 20
steps), forward, backward and optimizer step included: the time a user pays per training step.

Meaning of the ratio, kept honest: *baseline* is the base optimizer as PyTorch ships it (``torch.optim.SGD`` with
momentum 0.9, ``torch.optim.Adam``), *ours* the same base inside ``acceleration.Accelerated`` with RA or RVA, so
``ratio = base seconds / accelerated seconds`` is at most about 1 and **higher is better**; the target 1 / 1.3 = 0.77
says the accelerated step costs at most 1.3 times the base step. ``measurements`` gives the overhead factor
(accelerated / base time) itself for every base optimizer and both rules.

The two runs follow different rules, so their weights and losses differ (at the small losses reached after 300 steps
the relative loss difference is large and says little): the returned tensor is the final training accuracy, and the
tolerance 0.05 asserts only that the accelerated run learns the task as well (accuracies within 5% of each other),
not that it computes the same numbers.
"""

from __future__ import annotations

import functools
import time

from harness import Benchmark

import simple_algebra as sa
from simple_algebra.optimizers import acceleration as acc
from simple_algebra.optimizers import runs

TORCH_BASES = {"sgd": ("SGD", dict(lr=0.3)), "momentum": ("SGD", dict(lr=0.05, momentum=0.9)),
               "adam": ("Adam", dict(lr=0.01))}
LR = {"sgd": 0.3, "momentum": 0.05, "adam": 0.01}


@functools.cache
def _data():
    return runs.digits(seed=0, device=sa.device())


def _trainer(make_optimizer, steps: int):
    """Train a fresh MLP for ``steps`` batches of 32 (``optimizer_runs.train``: one CPU thread, seeded batches);
    return its final accuracy on the training set."""
    import torch

    data = _data()

    def train() -> torch.Tensor:
        model = runs.mlp(seed=0, device=data.x_train.device)
        runs.train(model, make_optimizer, data, budget=32 * steps, batch_size=32, record_every=32 * steps)
        return torch.tensor([runs.accuracy(model, data.x_train, data.y_train)])

    return train


def _torch_base(base: str):
    import torch

    name, options = TORCH_BASES[base]
    return lambda params: getattr(torch.optim, name)(params, **options)


def _accelerated(base: str, rule: str):
    return lambda params: acc.Accelerated(params, base=base, rule=rule, lr=LR[base], seed=1)


def _steps(quick: bool) -> int:
    return 20 if quick else 300


def _setup(base: str, rule: str):
    def setup(quick: bool):
        steps = _steps(quick)
        sizes = {"model": "64-32-10 tanh MLP", "parameters": 2410, "batch": 32, "steps": steps, "base": base,
                 "rule": rule, "dtype": "float64"}
        return _trainer(_torch_base(base), steps), _trainer(_accelerated(base, rule), steps), sizes
    return setup


def _best_seconds(function, repeats: int) -> float:
    function()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def _measurements(rule: str):
    def measurements(quick: bool) -> dict[str, float]:
        steps, repeats = _steps(quick), 1 if quick else 5
        found = {}
        for base in acc.BASES:
            plain = _best_seconds(_trainer(_torch_base(base), steps), repeats)
            ours = _best_seconds(_trainer(_accelerated(base, rule), steps), repeats)
            found[f"overhead_{rule}_{base}"] = ours / plain
        return found
    return measurements


BENCHMARKS = [
    Benchmark("acceleration-ra-momentum", baseline="torch.optim.SGD momentum 0.9 (training steps)",
              ours="Accelerated(momentum, RA)", target_ratio=1 / 1.3, tolerance=0.05, setup=_setup("momentum", "ra"),
              measurements=_measurements("ra")),
    Benchmark("acceleration-rva-adam", baseline="torch.optim.Adam (training steps)",
              ours="Accelerated(adam, RVA)", target_ratio=1 / 1.3, tolerance=0.05, setup=_setup("adam", "rva"),
              measurements=_measurements("rva")),
]
