"""Sampled Newton with fast leverage scores vs exact Newton on the softmax-first regression, whole solves.

Chapter: approximate Newton for two-layer regression (Z. Li, Song, Z. Wang, Yin; arXiv 2311.15390). The planted
instance of ``simple_algebra.newton.softmax_regression`` with n = 10^6 rows, d = 50 weights, cond(C) = 10, w0 = 0.1 / n
(quick: n = 20000, d = 20), float64, on the CPU. Each timed call runs the whole solve from the same start (relative
distance 0.3 from the minimiser x*, computed once in setup and not timed) until ``||x - x*|| <= 1e-8 ||x*||``:

- baseline: exact Newton, Hessian ``C^T diag(D) C`` formed in O(n d^2) per iteration (quadratic convergence);
- ours: sampled Newton, s = 400 d rows of ``D^{1/2} C`` drawn by FAST approximate leverage scores
  (``leverage_scores.approximate_leverage_scores``: CountSketch + Gaussian JL) computed once at the start and reused,
  fresh rows and the current D every iteration, rank-2 part exact (linear convergence).

``measurements`` records the iteration counts, the variant that recomputes the fast scores every iteration (the
paper's scheme), and gradient descent's error after the same wall time as the sampled solve.
"""

from __future__ import annotations

import functools
import math
import time

from harness import Benchmark

TARGET = 1e-8
START = 0.3
CONDITION = 10.0


@functools.cache
def _problem(quick: bool):
    import torch

    from simple_algebra.newton import softmax_regression as sr

    n, d = (20_000, 20) if quick else (1_000_000, 50)
    instance = sr.random_instance(n, d, condition=CONDITION, seed=0, device="cpu")
    w0 = 0.1 / n
    x_star = sr.minimizer(instance.C, instance.b, w0, instance.x_true)
    x0 = sr.perturbed_start(x_star, START, seed=1)
    tolerance = TARGET * float(torch.linalg.vector_norm(x_star))
    return instance, w0, x_star, x0, tolerance, 400 * d


def _solve(quick: bool, **options):
    from simple_algebra.newton import softmax_regression as sr

    instance, w0, x_star, x0, tolerance, _ = _problem(quick)
    return sr.newton_solve(instance.C, instance.b, w0, x0, 60, reference=x_star, tolerance=tolerance, **options)


def setup(quick: bool):
    instance, _, _, _, _, samples = _problem(quick)
    n, d = instance.C.shape
    sizes = {"n": n, "d": d, "condition": CONDITION, "w0": 0.1 / n, "start_distance": START,
             "target_relative_error": TARGET, "samples": samples, "dtype": "float64", "device": "cpu"}
    exact = functools.partial(_solve, quick)
    sampled = functools.partial(_solve, quick, samples=samples, scores="approximate", refresh_scores=False)
    return (lambda: exact().iterates[-1]), (lambda: sampled().iterates[-1]), sizes


def measurements(quick: bool) -> dict:
    from simple_algebra.newton import softmax_regression as sr

    instance, w0, x_star, x0, _, samples = _problem(quick)
    norm = float(x_star.norm())
    exact = _solve(quick)
    start = time.perf_counter()
    sampled = _solve(quick, samples=samples, scores="approximate", refresh_scores=False)
    sampled_seconds = time.perf_counter() - start
    start = time.perf_counter()
    refreshed = _solve(quick, samples=samples, scores="approximate", refresh_scores=True)
    refreshed_seconds = time.perf_counter() - start
    # Gradient descent (step 1 / lambda_max(H(x0))) for as many iterations as fit in the sampled solve's time.
    probe = sr.gradient_descent_solve(instance.C, instance.b, w0, x0, 3, reference=x_star)
    per_iteration = sum(probe.seconds) / len(probe.seconds)
    iterations = max(1, int(sampled_seconds / per_iteration))
    descent = sr.gradient_descent_solve(instance.C, instance.b, w0, x0, iterations, reference=x_star)
    ratios = [after / before for before, after in zip(descent.errors[-11:], descent.errors[-10:])]
    rate = sum(ratios) / len(ratios)
    remaining = math.log(TARGET * norm / descent.errors[-1]) / math.log(rate) if 0 < rate < 1 else math.inf
    return {
        "exact_newton_iterations": len(exact.steps),
        "sampled_newton_iterations": len(sampled.steps),
        "sampled_newton_final_relative_error": sampled.errors[-1] / norm,
        "sampled_newton_seconds_single_run": sampled_seconds,
        "sampled_refresh_scores_every_iteration_seconds": refreshed_seconds,
        "sampled_refresh_scores_iterations": len(refreshed.steps),
        "gradient_descent_iterations_in_same_time": iterations,
        "gradient_descent_relative_error_after_same_time": descent.errors[-1] / norm,
        "gradient_descent_contraction_per_iteration": rate,
        "gradient_descent_iterations_to_target_estimate": len(descent.steps) + max(0.0, remaining),
    }


BENCHMARKS = [
    Benchmark("newton-regression", baseline="exact Newton (O(n d^2) Hessian per iteration)",
              ours="sampled Newton, fast approximate leverage scores", target_ratio=2.0, tolerance=1e-7,
              setup=setup, measurements=measurements),
]
