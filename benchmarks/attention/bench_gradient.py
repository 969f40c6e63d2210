"""Low-rank attention-loss gradient vs the exact gradient (autograd through dense attention).

Chapter: the fine-grained complexity of attention gradients (Alman, Song; arXiv 2402.04497). n = 8192 queries and
keys (quick: n = 512), d = 4, entry bound B = 1 (``max |A1 X| = max |A2| = 1``), float64. The baseline forms the
n x n attention matrix and backpropagates through it (O(n^2 d)); ours builds the degree-6 Taylor factors
(rank C(10, 6) = 210) and assembles the gradient from them (O(n r d^2)), never forming an n x n matrix. At B = 1
degree 6 approximates the gradient to about 1e-7 (relative); the tolerance 1e-5 says so. Both run on one CPU
thread (``sa.one_thread``; no effect on the GPU's work): on the shared two-core machine two torch threads
spin-wait on each other and slow both sides down two- to fivefold.
"""

from __future__ import annotations

from harness import Benchmark

import simple_algebra as sa
from simple_algebra.attention import gradient as ag
from simple_algebra.core.metrics import relative_error

DEGREE = 6
DIM = 4
BOUND = 1.0


def _one_thread(function):
    def run():
        with sa.one_thread():
            return function()
    return run


def _problem(quick: bool):
    return ag.random_problem(512 if quick else 8192, DIM, BOUND, seed=0, device=sa.device())


def setup(quick: bool):
    problem = _problem(quick)
    sizes = {"n": problem.A1.shape[0], "d": DIM, "degree": DEGREE, "rank": 210, "bound": BOUND, "dtype": "float64"}
    return _one_thread(lambda: ag.attention_gradient_autograd(*problem)), \
        _one_thread(lambda: ag.attention_gradient_low_rank(*problem, DEGREE)), sizes


def measurements(quick: bool) -> dict[str, float]:
    """Matrix-product FLOPs of both (PyTorch's FlopCounterMode) and the relative Frobenius error."""
    from torch.utils.flop_counter import FlopCounterMode

    problem = _problem(quick)
    counts = {}
    for name, function in (("exact", ag.attention_gradient_autograd), ("low_rank", ag.attention_gradient_low_rank)):
        arguments = (DEGREE,) if name == "low_rank" else ()
        with FlopCounterMode(display=False) as counter, sa.one_thread():
            result = function(*problem, *arguments)
        counts[f"flops_{name}"] = float(counter.get_total_flops())
        counts[f"gradient_{name}"] = result
    error = relative_error(counts.pop("gradient_low_rank"), counts.pop("gradient_exact"))
    return {**counts, "flop_ratio": counts["flops_exact"] / counts["flops_low_rank"], "relative_frobenius_error": error}


BENCHMARKS = [
    Benchmark("attention-gradient-low-rank", baseline="autograd through dense float64 attention",
              ours="low-rank gradient (degree-6 Taylor factors)", target_ratio=20.0, tolerance=1e-5, setup=setup,
              measurements=measurements),
]
