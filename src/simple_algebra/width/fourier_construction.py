"""The largest margin of a Fourier-circuit network, and the paper's construction that attains it.

Theorem 4.1 shows that with ``m >= 2^{2k-2}(p-1)`` neurons (:func:`construction_width`) the largest normalised
margin of the networks of :mod:`simple_algebra.width.fourier_circuits` is

    gamma*(p, k) = 2 k! / ((2k+2)^{(k+1)/2} (p-1) p^{(k-1)/2}),

attained when every neuron is a single-frequency cosine and every frequency is used; Lemma 4.3 builds such a
network explicitly (:func:`max_margin_construction`).

Chapter: Fourier circuits (Li, Liang, Shi, Song, Zhou; arXiv 2402.09469).
"""

from __future__ import annotations

import math

import torch

from ..core.validation import check_device, check_float_dtype, check_int
from .fourier_circuits import _check_prime, _check_problem

MAX_CONSTRUCTION_WIDTH = 1 << 16


def max_margin(p: int, k: int) -> float:
    """Theorem 4.1's ``gamma* = 2 k! / ((2k+2)^{(k+1)/2} (p-1) p^{(k-1)/2})``, the largest normalised margin.

    It is attained once the width is at least :func:`construction_width`.
    Chapter: Fourier circuits (Li, Liang, Shi, Song, Zhou; arXiv 2402.09469).
    """
    p, k = _check_prime(p), check_int("k", k, 2, 64)
    return 2 * math.factorial(k) / ((2 * k + 2) ** ((k + 1) / 2) * (p - 1) * p ** ((k - 1) / 2))


def construction_width(p: int, k: int) -> int:
    """The width ``2^{2k-2} (p-1)`` of Theorem 4.1 and of Lemma 4.3's construction.

    Chapter: Fourier circuits (Li, Liang, Shi, Song, Zhou; arXiv 2402.09469).
    """
    p, k = _check_prime(p), check_int("k", k, 2, 64)
    return 2 ** (2 * k - 2) * (p - 1)


def max_margin_construction(p: int, k: int, dtype: torch.dtype = torch.float64,
                            device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Lemma 4.3's network with exactly ``2^{2k-2}(p-1)`` cosine neurons whose normalised margin is ``gamma*``.

    For each frequency ``zeta in 1..(p-1)/2`` and each ``b in {0,1}^k`` let ``t_j = sin_zeta`` if ``b_j = 1`` else
    ``cos_zeta`` (``cos_zeta(a) = cos(2 pi zeta a / p)``). The output factor is ``(-1)^{|b|/2} cos_zeta`` for
    even ``|b|`` and ``(-1)^{(|b|-1)/2} sin_zeta`` for odd ``|b|``. For each sign vector ``c in {+1} x {+-1}^{k-1}``
    one neuron has ``u_j = c_j t_j`` and ``w = (prod_j c_j) * (output factor)``; summing over ``c`` isolates
    ``k! 2^{k-1} prod_j t_j(a_j)``, and summing over ``b`` gives ``cos(2 pi zeta (a_1 + ... + a_k - y) / p)``.
    Returns ``u (m, k, p)`` and ``w (m, p)``.
    Chapter: Fourier circuits (Li, Liang, Shi, Song, Zhou; arXiv 2402.09469).
    """
    p, k = _check_problem(p, k)
    dtype = check_float_dtype("dtype", dtype)
    device = check_device("device", device) if device is not None else None
    width = construction_width(p, k)
    if width > MAX_CONSTRUCTION_WIDTH:
        raise ValueError(f"the construction builds 2^(2k-2) (p-1) = {width} neurons one by one for p = {p}, k = {k}, "
                         f"more than {MAX_CONSTRUCTION_WIDTH}; lower p or k")
    residues = torch.arange(p, dtype=dtype, device=device)
    u_rows, w_rows = [], []
    for zeta in range(1, (p - 1) // 2 + 1):
        angle = 2 * math.pi * zeta * residues / p
        cosine, sine = torch.cos(angle), torch.sin(angle)
        for b in range(2**k):
            bits = [(b >> j) & 1 for j in range(k)]
            ones = sum(bits)
            factors = [sine if bit else cosine for bit in bits]
            output = (-1) ** (ones // 2) * (cosine if ones % 2 == 0 else sine)
            for c in range(2 ** (k - 1)):
                signs = [1] + [-1 if (c >> j) & 1 else 1 for j in range(k - 1)]
                u_rows.append(torch.stack([s * t for s, t in zip(signs, factors)]))
                w_rows.append(math.prod(signs) * output)
    return torch.stack(u_rows), torch.stack(w_rows)
