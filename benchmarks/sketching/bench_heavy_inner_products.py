"""Grouped heavy-inner-product search vs brute force ``A B^T`` thresholding: no target; the chapter explains the result.

Chapter: Fast heavy inner product identification (Qin, Mitra, Song, Yang, Zhou; IEEE BigData 2023; arXiv
2311.11429). n = 4096 sign vectors per side in d = 128 (quick: n = 256), k = 4 planted pairs at rho = 0.6, group
size g = 4, degree q = 2 (C(128, 2) = 8128 features), float32. The paper's speed-up needs fast matrix
multiplication (omega < 3); with the cubic products that BLAS runs the grouped product (n/g) x 8128 x (n/g) is
*larger* than ``A B^T`` (n x 128 x n), so brute force is expected to win: target_ratio = 0.0 (no target), the ratio
is reported as measured. Both return, for each planted pair, 1.0 if it was found: the tolerance 0.0 asks the grouped
search to find every planted pair (its recall, with the predicted SNR, is in the measurements). Quick mode runs
both on one thread.
"""

from __future__ import annotations

import math

from harness import Benchmark

import simple_algebra as sa
from simple_algebra.sketching import heavy_inner_products as hip

DIM, K, RHO, GROUP, DEGREE = 128, 4, 0.6, 4, 2


def _inputs(quick: bool):
    import torch

    n = 256 if quick else 4096
    return n, hip.plant_heavy_pairs(n, DIM, K, RHO, seed=0, dtype=torch.float32, device=sa.device())


def _found(pairs, planted):
    import torch

    found = {tuple(pair) for pair in pairs.tolist()}
    return torch.tensor([float(tuple(pair) in found) for pair in planted.tolist()])


def setup(quick: bool):
    n, (A, B, planted) = _inputs(quick)
    sizes = {"n": n, "dim": DIM, "k": K, "rho": RHO, "group_size": GROUP, "degree": DEGREE,
             "features": math.comb(DIM, DEGREE), "dtype": "float32", "target": "none (target_ratio = 0.0)"}
    sizes["threads"] = "one (quick)" if quick else "default"

    def threads(function):
        # quick mode runs in the unit tests on a busy two-core machine, where two threads spin-wait on each other
        def run():
            if not quick:
                return function()
            with sa.one_thread():
                return function()
        return run

    return (threads(lambda: _found(hip.heavy_pairs_brute_force(A, B, RHO), planted)),
            threads(lambda: _found(hip.heavy_pairs_grouped(A, B, RHO, K, GROUP, DEGREE).pairs, planted)), sizes)


def measurements(quick: bool) -> dict:
    n, (A, B, planted) = _inputs(quick)
    with sa.one_thread():
        result = hip.heavy_pairs_grouped(A, B, RHO, K, GROUP, DEGREE)
    model = {f"model_ops_omega_{omega}": hip.operation_count_model(n, DIM, GROUP, math.comb(DIM, DEGREE), omega,
                                                                   2 * K) for omega in (3.0, 2.371)}
    return {"recall": hip.recall(result.pairs, planted), "predicted_snr": hip.predicted_snr(DIM, RHO, GROUP, DEGREE),
            "inner_products_checked": result.inner_products,
            **{f"{name}_{part}": value for name, counts in model.items() for part, value in counts.items()
               if part in ("brute", "grouped")}}


BENCHMARKS = [
    Benchmark("heavy-inner-products", baseline="brute force A B^T thresholding",
              ours="grouped search (polynomial features, g = 4)", target_ratio=0.0, tolerance=0.0, setup=setup,
              measurements=measurements),
]
