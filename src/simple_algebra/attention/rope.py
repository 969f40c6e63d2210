"""Rotary position embeddings (RoPE), and queries and keys whose causal scores have an exact k-conv basis.

``R(i)`` rotates each coordinate pair by ``i * theta_l``. Since ``R(i)^T R(j) = R(j - i)``, a query ``R(i) q`` and a
key ``R(j) k`` score ``q^T R(j - i) k``, which depends on ``i - j`` alone: one key vector per column segment gives
scores with an exact conv basis (:mod:`simple_algebra.attention.conv_basis`).

Chapter (Part II): "Conv-Basis: A New Paradigm for Efficient Attention Inference and Gradient Computation in
Transformers" (Gu, Liang, Liu, Shi, Song, Yin; EMNLP 2025 Findings; arXiv 2405.05219).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..core.runtime import generator
from ..core.validation import (
    check_allocation,
    check_device,
    check_finite_tensor,
    check_float_dtype,
    check_int,
    check_real,
    check_same_kind,
    check_seed,
    check_shape,
)


def rope_frequencies(d: int, *, base: float = 10000.0, device: torch.device | str | None = None) -> torch.Tensor:
    """The d/2 rotary frequencies ``base^{-2l/d}``, rounded to multiples of ``2^-20`` so that ``i * theta`` is
    exact in float64 for every position below ``2^30``: then ``Q_i . K_j`` is Toeplitz up to one rounding."""
    d = check_int("d", d, 2)
    if d % 2:
        raise ValueError(f"d must be even (pairs of coordinates rotate together), got {d}")
    base = check_real("base", base, low=0.0, low_inclusive=False)  # base <= 0: base^(-x) is inf or NaN
    device = check_device("device", device)
    check_allocation(f"d/2 frequencies for d = {d}", (d // 2,), torch.float64, device)
    exponents = torch.arange(d // 2, dtype=torch.float64, device=device) * (2.0 / d)
    return torch.round(base ** (-exponents) * 2**20).clamp(min=1) / 2**20


def rotate(x: torch.Tensor, positions: torch.Tensor, frequencies: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding: rotate each coordinate pair of ``x (n, d)`` by ``positions[i] * theta_l``.

    ``x`` may carry leading batch axes, ``(..., n, d)``; ``positions (n,)`` are integer or real, ``frequencies``
    (d/2,) real (:func:`rope_frequencies`); the angles are computed in float64, the result is in ``x``'s dtype."""
    check_finite_tensor("x", x)
    if x.ndim < 2 or x.shape[-1] % 2:
        raise ValueError(f"x must have shape (..., n, d) with d even, got {tuple(x.shape)}")
    if not isinstance(positions, torch.Tensor) or positions.dtype == torch.bool or positions.is_complex():
        raise ValueError(f"positions must be an integer or real torch.Tensor, got "
                         f"{getattr(positions, 'dtype', type(positions).__name__)}")
    if positions.shape != (x.shape[-2],):
        raise ValueError(f"positions must have shape ({x.shape[-2]},), one per row of x, got {tuple(positions.shape)}")
    if positions.is_floating_point():
        check_finite_tensor("positions", positions)
    check_shape("frequencies", frequencies, (x.shape[-1] // 2,))
    if positions.device != x.device or frequencies.device != x.device:
        raise ValueError(f"x, positions and frequencies must be on one device, got {x.device}, {positions.device} "
                         f"and {frequencies.device}")
    angles = positions.to(torch.float64)[:, None] * frequencies[None, :]
    cos, sin = torch.cos(angles).to(x.dtype), torch.sin(angles).to(x.dtype)
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1).flatten(-2)


def rope_queries_keys(query: torch.Tensor, keys: torch.Tensor, break_points: Sequence[int], n: int
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """RoPE-style ``Q_i = R(i) q`` and ``K_j = R(j) k_r`` for ``j`` in segment r (``[s_r, s_{r+1})``).

    Since ``R(i)^T R(j) = R(j - i)``, ``Q_i . K_j = q^T R(j - i) k_r`` depends on ``i - j`` alone within a segment:
    ``M o Q K^T`` has an exact conv basis with these break points. Shapes: ``query (d,)``, ``keys (k, d)`` ->
    ``Q, K (n, d)``; differentiable in ``query`` and ``keys``.
    """
    check_finite_tensor("query", query, ndim=1)
    check_finite_tensor("keys", keys, ndim=2)
    check_same_kind(query=query, keys=keys)
    n = check_int("n", n, 1)
    check_allocation(f"n x d queries and keys for n = {n}, d = {query.shape[0]}", (4, n, query.shape[0]),
                     torch.float64, query.device)
    if isinstance(break_points, (str, bytes)) or not hasattr(break_points, "__iter__"):
        raise ValueError(f"break_points must be a list of column indices, got {break_points!r}")
    points = [check_int("break point", s, 0, n - 1) for s in break_points]
    if not points or points[0] != 0 or any(later <= earlier for earlier, later in zip(points, points[1:])):
        raise ValueError(f"break points must increase from 0 and stay below n = {n}, got {list(break_points)}")
    if keys.shape != (len(points), query.shape[0]):
        raise ValueError(f"keys must have shape ({len(points)}, {query.shape[0]}), got {tuple(keys.shape)}")
    positions = torch.arange(n, device=query.device)
    frequencies = rope_frequencies(query.shape[0], device=query.device)
    segment = torch.bucketize(positions, torch.tensor(points, device=query.device), right=True) - 1
    Q = rotate(query.expand(n, -1), positions, frequencies)
    K = rotate(keys[segment], positions, frequencies)
    return Q, K


def rope_inputs(n: int, d: int, k_true: int, *, e: int | None = None, eps: float = 0.0, seed: int = 0,
                dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[int]]:
    """Inputs whose causal scores ``M o Q K^T`` have an exact ``k_true``-conv basis, plus optional noise.

    Break points: 0 and ``k_true - 1`` distinct random columns; one query vector and one key vector per segment,
    entries ``N(0, 1/sqrt(d))`` (scores of standard deviation about 1), rotated by RoPE
    (:func:`rope_queries_keys`); ``eps`` adds ``eps N(0, 1)`` noise to every entry of ``Q`` and ``K``, which breaks
    the structure. ``V (n, e)`` is standard normal (``e = d`` by default). Returns ``(Q, K, V, break_points)``.
    """
    n = check_int("n", n, 1)
    d = check_int("d", d, 2)
    k_true = check_int("k_true", k_true, 1, n)
    e = d if e is None else check_int("e", e, 1)
    eps = check_real("eps", eps, low=0.0)
    seed = check_seed("seed", seed)
    dtype = check_float_dtype("dtype", dtype)
    device = check_device("device", device)
    check_allocation(f"n x d inputs for n = {n}, d = {d}, e = {e}", (4 * n, max(d, e)))
    draw = generator(seed)
    options = dict(dtype=torch.float64, generator=draw)
    points = [0] + sorted((1 + torch.randperm(n - 1, generator=draw)[:k_true - 1]).tolist())
    query = torch.randn(d, **options) / d**0.25
    keys = torch.randn(k_true, d, **options) / d**0.25
    Q, K = rope_queries_keys(query, keys, points, n)
    V = torch.randn(n, e, **options)
    if eps > 0:
        Q = Q + eps * torch.randn(n, d, **options)
        K = K + eps * torch.randn(n, d, **options)
    return Q.to(dtype=dtype, device=device), K.to(dtype=dtype, device=device), V.to(dtype=dtype, device=device), points


__all__ = ["rope_frequencies", "rope_inputs", "rope_queries_keys", "rotate"]
