"""Checkable exercises of Part III (Newton and sketching), registered for :func:`simple_algebra.core.checking.check`.

Each entry names its chapter. The reference takes another route than the one the exercise asks for: where the
student multiplies the factors' leverage scores, the reference factors the materialised product.
"""

from __future__ import annotations

import torch

from ..core.checking import Exercise, register
from ..core.runtime import generator
from ..sketching.kronecker_sampling import kronecker_leverage_scores_reference, query_cost_model


def _kronecker_factors() -> dict:
    draw = generator(7)
    return {"A1": torch.randn(6, 2, generator=draw, dtype=torch.float64),
            "A2": torch.randn(5, 3, generator=draw, dtype=torch.float64)}


def _crossover_by_counts(d: float, eps: float, constant: float) -> float:
    """The n where the modelled classical and quantum counts are equal, found by bisection on the counts."""
    low, high = 1.0, 1e15
    for _ in range(200):
        middle = (low * high) ** 0.5
        counts = query_cost_model(middle, d, eps, constant)
        low, high = (middle, high) if counts["quantum"] >= counts["classical"] else (low, middle)
    return (low * high) ** 0.5


# Part III, "Quantum Speedup for Spectral Approximation of Kronecker Products" (book/part3/kronecker_spectral).
register(Exercise(
    label="ex-kron-factor-scores",
    question="The leverage scores of A1 (x) A2, as a 6 x 5 array (entry (i, j) is row i * 5 + j), from the factors.",
    inputs=_kronecker_factors,
    reference=kronecker_leverage_scores_reference,
    rtol=1e-8, atol=1e-12,
    hint="each row's score of the product is the product of one score of each factor; sigma_i = ||U_i||^2 for "
         "an orthonormal basis U of the factor's columns."))

register(Exercise(
    label="ex-kron-crossover",
    question="In the cost model of Figure 3, the rows per factor n* at which 2n = 2 c sqrt(n d) / eps, for d = 6, "
             "eps = 0.05, c = 10.",
    inputs=lambda: {"d": 6.0, "eps": 0.05, "constant": 10.0},
    reference=_crossover_by_counts,
    rtol=1e-6,
    hint="square both sides of n = c sqrt(n d) / eps."))
