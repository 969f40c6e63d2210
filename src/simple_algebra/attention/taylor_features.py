"""Taylor (polynomial) features whose inner product is the truncated exponential series.

For ``u in R^d`` and a degree ``g``, the feature vector has one entry per multi-index ``alpha in N^d`` with
``|alpha| = alpha_1 + ... + alpha_d <= g``,

    phi_g(u)_alpha = u^alpha / sqrt(alpha!),   u^alpha = prod_i u_i^alpha_i,   alpha! = prod_i alpha_i!,

and by the multinomial theorem ``sum_{|alpha| = j} (u v)^alpha / alpha! = <u, v>^j / j!``, so

    <phi_g(u), phi_g(v)> = sum_{j <= g} <u, v>^j / j!  ->  exp(<u, v>)  as g grows.

The feature dimension is ``C(d + g, g)``. Entries are ordered by degree, and within one degree by the sorted
variable tuple ``i_1 <= ... <= i_j`` of the monomial ``u_{i_1} ... u_{i_j}``; entry 0 is the constant 1.

Chapter: Infinite-long prefixes (Gu, Liang, Shi, Song, Yang; arXiv 2406.14036), reused by later attention
chapters that replace ``exp(q.k)`` by a finite feature map.
"""

from __future__ import annotations

import functools
import math

import torch

from ..core.validation import (
    check_allocation,
    check_degree,
    check_finite_tensor,
    check_int,
    check_same_kind,
    check_shape,
)

MAX_FEATURES = 1 << 24  # 16M features per vector: beyond this a batch of them would not fit in memory anyway


def feature_dimension(dim: int, degree: int) -> int:
    """The number of multi-indices ``alpha in N^dim`` with ``|alpha| <= degree``: ``C(dim + degree, degree)``."""
    dim = check_int("dim", dim, 1)
    degree = check_degree("degree", degree)  # capped: C(d + g, g) for a huge g would take minutes to compute
    return math.comb(dim + degree, degree)


def _check_features(dim: int, degree: int, rows: tuple[int, ...], dtype: torch.dtype,
                    device: torch.device) -> None:
    count = feature_dimension(dim, degree)
    if count > MAX_FEATURES:
        raise ValueError(f"C(d + g, g) = {count} features for d = {dim}, g = {degree}: more than {MAX_FEATURES}; "
                         "lower the degree")
    check_allocation(f"the degree-{degree} Taylor features of {math.prod(rows)} vectors of dimension {dim}",
                     (*rows, count), dtype, device)


@functools.cache
def _monomial_tree(dim: int, degree: int) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor]:
    """For each degree j >= 1: (parent index among degree j-1 monomials, new variable); and log(alpha!) of all.

    A degree-j monomial ``u_{i_1} ... u_{i_j}`` (sorted indices) is its parent ``u_{i_1} ... u_{i_{j-1}}`` times
    ``u_{i_j}``, so the features of one degree are one gather and one multiply away from the previous degree.
    """
    steps = []
    last = [-1]          # last (largest) variable of each monomial of the previous degree; -1 for the constant
    run = [0]            # how many times that last variable repeats at the end of the monomial
    log_factorial = [0.0]
    previous_log = [0.0]
    for _ in range(degree):
        parents, variables, new_last, new_run, new_log = [], [], [], [], []
        for parent, (tail, count, logf) in enumerate(zip(last, run, previous_log)):
            for variable in range(max(tail, 0), dim):
                repeat = count + 1 if variable == tail else 1
                parents.append(parent)
                variables.append(variable)
                new_last.append(variable)
                new_run.append(repeat)
                new_log.append(logf + math.log(repeat))  # alpha! gains the factor (alpha_i + 1)
        steps.append((torch.tensor(parents, dtype=torch.long), torch.tensor(variables, dtype=torch.long)))
        last, run, previous_log = new_last, new_run, new_log
        log_factorial.extend(new_log)
    return steps, torch.tensor(log_factorial, dtype=torch.float64)


@functools.cache
def _monomial_tree_on(dim: int, degree: int, dtype: torch.dtype, device: torch.device,
                      ) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor]:
    """:func:`_monomial_tree` moved to ``device`` once, with the normalisation ``1/sqrt(alpha!)`` in ``dtype``."""
    steps, log_factorial = _monomial_tree(dim, degree)
    moved = [(parents.to(device), variables.to(device)) for parents, variables in steps]
    return moved, torch.exp(-0.5 * log_factorial).to(dtype=dtype, device=device)


def taylor_features(u: torch.Tensor, degree: int) -> torch.Tensor:
    """Taylor features ``phi_g(u)_alpha = u^alpha / sqrt(alpha!)`` for all ``|alpha| <= g`` (``g = degree``).

    ``<phi_g(u), phi_g(v)> = sum_{j <= g} <u, v>^j / j!`` (:func:`truncated_exp_kernel`). Shapes: ``u`` (..., d)
    -> (..., C(d + g, g)); dtype and device follow ``u``; differentiable in ``u``.
    Chapter: Infinite-long prefixes (Gu, Liang, Shi, Song, Yang; arXiv 2406.14036).
    """
    check_finite_tensor("u", u)
    if u.ndim < 1:
        raise ValueError(f"u must have a last axis of coordinates (..., d), got shape {tuple(u.shape)}")
    degree = check_degree("degree", degree)
    dim = u.shape[-1]
    _check_features(dim, degree, tuple(u.shape[:-1]), u.dtype, u.device)
    steps, normalisation = _monomial_tree_on(dim, degree, u.dtype, u.device)
    current = torch.ones(*u.shape[:-1], 1, dtype=u.dtype, device=u.device)
    blocks = [current]
    for parents, variables in steps:
        current = current[..., parents] * u[..., variables]
        blocks.append(current)
    return torch.cat(blocks, dim=-1) * normalisation


def taylor_features_by_row(u: torch.Tensor, degree: int) -> torch.Tensor:
    """``taylor_features(u, degree).T``: the features of the rows of ``u`` (n, d) as the columns of an (r, n) tensor.

    The same monomial tree with the features on the first axis, so that each degree is a gather of whole contiguous
    rows: about twice as fast as :func:`taylor_features` for long, thin blocks of tokens (a stream's chunks).
    Chapter: One-pass streaming attention (Addanki, Li, Song, Yang; arXiv 2311.14652).
    """
    check_finite_tensor("u", u, ndim=2)
    degree = check_degree("degree", degree)
    _check_features(u.shape[1], degree, (u.shape[0],), u.dtype, u.device)
    steps, normalisation = _monomial_tree_on(u.shape[1], degree, u.dtype, u.device)
    coordinates = u.T.contiguous()
    current = torch.ones(1, u.shape[0], dtype=u.dtype, device=u.device)
    blocks = [current]
    for parents, variables in steps:
        current = current[parents] * coordinates[variables]
        blocks.append(current)
    return torch.cat(blocks) * normalisation[:, None]


def truncated_exp_kernel(u: torch.Tensor, v: torch.Tensor, degree: int) -> torch.Tensor:
    """The reference ``sum_{j <= g} <u_a, v_b>^j / j!`` for all pairs: ``u`` (n1, d), ``v`` (n2, d) -> (n1, n2).

    Equal to ``taylor_features(u, g) @ taylor_features(v, g).T`` (the test oracle of :func:`taylor_features`).
    Chapter: Infinite-long prefixes (Gu, Liang, Shi, Song, Yang; arXiv 2406.14036).
    """
    check_finite_tensor("u", u, ndim=2)
    check_shape("v", v, (None, u.shape[1]))
    check_same_kind(u=u, v=v)
    degree = check_degree("degree", degree)  # the loop below runs `degree` times
    check_allocation(f"the n1 x n2 kernel for u {tuple(u.shape)} and v {tuple(v.shape)}", (u.shape[0], v.shape[0]),
                     u.dtype, u.device)
    inner = u @ v.T
    total = torch.ones_like(inner)
    term = torch.ones_like(inner)
    for j in range(1, degree + 1):
        term = term * inner / j
        total = total + term
    if not bool(torch.isfinite(total).all()):
        raise ValueError(f"the degree-{degree} truncated exponential overflows {u.dtype} for these inputs "
                         f"(largest |<u, v>| = {float(inner.abs().max()):.3g}); lower the degree or scale the inputs")
    return total
