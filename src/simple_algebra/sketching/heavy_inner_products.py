"""Heavy inner product identification: find the few pairs (a, b) in A x B with <a, b> >= rho d.

``A, B`` are ``n`` sign vectors in ``{-1, +1}^d`` each; a handful of pairs are heavy (``<a, b> >= rho d``) and all
others look random (``<a, b>`` of order ``sqrt(d)``). Brute force computes all ``n^2`` inner products ``A B^T``.
The grouped algorithm hides ``g`` vectors in each of ``n / g`` groups: each group is summarised by the signed sum
of the degree-``q`` multilinear monomial features of its members, ``Phi_G = sum_{x in G} s_x psi_q(x)``, so that
``<Phi_G, Phi_H> = sum_{a in G, b in H} s_a s_b e_q(a o b)``. A heavy pair makes ``|e_q|`` of order
``rho^q C(d, q)``, the ``g^2`` random pairs only add noise of standard deviation ``g sqrt(C(d, q))``: one product
``Phi_A Phi_B^T`` of side ``n / g`` finds the heavy group pairs, and brute force inside them finds the pairs.

Chapter: Fast heavy inner product identification (Qin, Mitra, Song, Yang, Zhou; IEEE BigData 2023;
arXiv 2311.11429). The grouped construction is the book's version (Valiant-style light-bulb grouping).
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from statistics import NormalDist

import torch

from ..attention.taylor_features import MAX_FEATURES, taylor_features_by_row
from ..core.runtime import generator
from ..core.validation import (
    MAX_DEGREE,
    check_allocation,
    check_device,
    check_finite_tensor,
    check_float_dtype,
    check_index_tensor,
    check_int,
    check_real,
    check_same_kind,
    check_seed,
)

_CHUNK = 1024  # vectors per block of feature computation: bounds memory at C(d, q) * 1024 numbers


def _check_signs(name: str, x: object) -> torch.Tensor:
    x = check_finite_tensor(name, x, ndim=2)
    if not bool(((x == 1) | (x == -1)).all()):
        raise ValueError(f"{name} must contain only -1 and +1 entries (sign vectors in {{-1, +1}}^d)")
    return x


def _check_pair(A: object, B: object, names: tuple[str, str] = ("A", "B")) -> tuple[torch.Tensor, torch.Tensor]:
    first, second = names
    A, B = _check_signs(first, A), _check_signs(second, B)
    if A.shape[1] != B.shape[1]:
        raise ValueError(f"{first} and {second} must have the same dimension d, got {A.shape[1]} and {B.shape[1]}")
    if A.dtype != B.dtype or A.device != B.device:
        raise ValueError(f"{first} and {second} must share dtype and device, got {A.dtype}/{A.device} and "
                         f"{B.dtype}/{B.device}")
    return A, B


def _threshold(rho: float, dim: int) -> float:
    # inner products of sign vectors are integers: the small slack makes "<a, b> >= rho d" robust to rounding
    return rho * dim - 1e-6


def plant_heavy_pairs(n: int, dim: int, k: int, rho: float, seed: int = 0, dtype: torch.dtype = torch.float32,
                      device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random sign vectors ``A, B`` (n, d) with ``k`` planted heavy pairs ``<a_i, b_j> = d - 2 floor(d (1 - rho) / 2)``.

    Each planted ``b_j`` is a copy of ``a_i`` with exactly ``floor(d (1 - rho) / 2)`` coordinates flipped, so its
    inner product is at least ``rho d``; all other entries are independent fair signs. The planted rows are
    distinct on both sides and placed at random. Returns ``(A, B, planted)`` with ``planted`` (k, 2) long, the
    pairs ``(i, j)`` sorted. Chapter: Heavy inner products (Qin et al.; arXiv 2311.11429).
    """
    n = check_int("n", n, 1)
    dim = check_int("dim", dim, 1)
    k = check_int("k", k, 0, n)
    rho = check_real("rho", rho, 0.0, 1.0, low_inclusive=False)
    seed = check_seed("seed", seed)
    check_float_dtype("dtype", dtype)
    device = check_device("device", device) if device is not None else None
    check_allocation(f"the sign vectors for n = {n}, dim = {dim}", (2 * n, dim), torch.float64)
    made = generator(seed)
    A = torch.randint(0, 2, (n, dim), generator=made, dtype=torch.float64) * 2 - 1
    B = torch.randint(0, 2, (n, dim), generator=made, dtype=torch.float64) * 2 - 1
    rows_a = torch.randperm(n, generator=made)[:k]
    rows_b = torch.randperm(n, generator=made)[:k]
    flips = math.floor(dim * (1 - rho) / 2)
    for i, j in zip(rows_a.tolist(), rows_b.tolist()):
        flipped = torch.randperm(dim, generator=made)[:flips]
        B[j] = A[i]
        B[j, flipped] = -A[i, flipped]
    planted = _sorted_pairs(torch.stack([rows_a, rows_b], dim=1))
    return A.to(dtype=dtype, device=device), B.to(dtype=dtype, device=device), planted.to(device=device)


def planted_inner_product(dim: int, rho: float) -> int:
    """The inner product ``d - 2 floor(d (1 - rho) / 2)`` of every pair planted by :func:`plant_heavy_pairs`."""
    dim = check_int("dim", dim, 1)
    rho = check_real("rho", rho, 0.0, 1.0, low_inclusive=False)
    return dim - 2 * math.floor(dim * (1 - rho) / 2)


def _sorted_pairs(pairs: torch.Tensor) -> torch.Tensor:
    if pairs.numel() == 0:
        return pairs.reshape(0, 2).long()
    key = pairs[:, 0].long() * (int(pairs[:, 1].max()) + 1) + pairs[:, 1].long()
    return pairs[torch.argsort(key)].long()


def heavy_pairs_brute_force(A: torch.Tensor, B: torch.Tensor, rho: float) -> torch.Tensor:
    """All pairs ``(i, j)`` with ``<a_i, b_j> >= rho d``, from the full product ``A B^T`` (the reference).

    Shapes: ``A`` (n_a, d), ``B`` (n_b, d), sign entries -> (m, 2) long, sorted. Cost ``n_a n_b d``.
    Chapter: Heavy inner products (Qin et al.; arXiv 2311.11429).
    """
    A, B = _check_pair(A, B)
    rho = check_real("rho", rho, 0.0, 1.0, low_inclusive=False)
    threshold = _threshold(rho, A.shape[1])
    found = []
    for start in range(0, A.shape[0], _CHUNK):  # row blocks: the n x n product need not fit in memory at once
        rows, cols = torch.nonzero(A[start:start + _CHUNK] @ B.T >= threshold, as_tuple=True)
        found.append(torch.stack([rows + start, cols], dim=1))
    return _sorted_pairs(torch.cat(found))


@functools.cache
def _multilinear_rows(dim: int, degree: int, device: torch.device) -> torch.Tensor:
    """Rows of the degree-``q`` block of :func:`taylor_features_by_row` that are multilinear monomials.

    The block holds ``u^alpha / sqrt(alpha!)`` for ``|alpha| = q``; at ``u = 1`` an entry equals 1 exactly when
    ``alpha! = 1``, that is when no variable repeats: those are the ``C(d, q)`` multilinear monomials.
    """
    ones = torch.ones(1, dim, dtype=torch.float64)
    start = math.comb(dim + degree - 1, degree - 1)  # features of degree < q come first
    block = taylor_features_by_row(ones, degree)[start:, 0]
    return (torch.nonzero(block == 1.0).flatten() + start).to(device)


def _check_feature_degree(x: torch.Tensor, degree: object) -> int:
    degree = check_int("degree", degree, 1, x.shape[1])
    if math.comb(x.shape[1], degree) > MAX_FEATURES:
        raise ValueError(f"degree = {degree} gives C(d, q) = {math.comb(x.shape[1], degree)} features for d = "
                         f"{x.shape[1]}: more than {MAX_FEATURES}; lower the degree")
    return degree


def multilinear_features(x: torch.Tensor, degree: int) -> torch.Tensor:
    """Degree-``q`` multilinear monomials ``psi_q(x)_S = prod_{i in S} x_i`` for all ``|S| = q`` (``q = degree``).

    ``<psi_q(a), psi_q(b)> = e_q(a o b)``, the elementary symmetric polynomial of the products ``a_i b_i``; for
    sign vectors with ``<a, b> = t`` and ``q = 2`` this is ``(t^2 - d) / 2``. Built from the Taylor feature map
    (:func:`simple_algebra.attention.taylor_features.taylor_features_by_row`). Shapes: ``x`` (n, d) -> (n, C(d, q)), dtype and
    device follow ``x``. Chapter: Heavy inner products (Qin et al.; arXiv 2311.11429).
    """
    x = check_finite_tensor("x", x, ndim=2)
    degree = _check_feature_degree(x, degree)
    check_allocation(f"the degree-{degree} features of {x.shape[0]} vectors",
                     (x.shape[0], math.comb(x.shape[1] + degree, degree)), x.dtype, x.device)
    return taylor_features_by_row(x, degree)[_multilinear_rows(x.shape[1], degree, x.device)].T.contiguous()


def multilinear_features_reference(x: torch.Tensor, degree: int) -> torch.Tensor:
    """Plain float64 loop version of :func:`multilinear_features` (subsets in lexicographic order)."""
    x = check_finite_tensor("x", x, ndim=2).double()
    degree = _check_feature_degree(x, degree)
    check_allocation(f"the degree-{degree} features of {x.shape[0]} vectors",
                     (x.shape[0], math.comb(x.shape[1], degree)), torch.float64, x.device)
    columns = [x[:, list(subset)].prod(dim=1) for subset in itertools.combinations(range(x.shape[1]), degree)]
    return torch.stack(columns, dim=1)


def elementary_symmetric_of_signs(dim: int, inner: int, degree: int) -> int:
    """``e_q(a o b)`` for sign vectors with ``<a, b> = inner``: ``sum_j (-1)^j C(m, q - j) C(d - m, j)``, m = (d+t)/2.

    This is the signal a pair contributes to ``<Phi_G, Phi_H>`` (a Krawtchouk polynomial in ``inner``).
    """
    dim = check_int("dim", dim, 1)
    inner = check_int("inner", inner, -dim, dim)
    degree = check_int("degree", degree, 0, min(dim, MAX_DEGREE))  # the sum has degree + 1 terms
    if (dim + inner) % 2:
        raise ValueError(f"inner = {inner} has the wrong parity for sign vectors of dimension {dim}")
    agree = (dim + inner) // 2
    return sum((-1) ** j * math.comb(agree, degree - j) * math.comb(dim - agree, j) for j in range(degree + 1))


def predicted_snr(dim: int, rho: float, group_size: int, degree: int) -> float:
    """Signal-to-noise ratio of a heavy group pair: ``|e_q(t)| / (g sqrt(C(d, q)))`` with t the planted inner product.

    Random pairs have ``E e_q(a o b) = 0`` and variance ``C(d, q)`` (the monomials are orthonormal under fair signs),
    and the random signs ``s_a s_b`` make the ``g^2`` terms of a group pair uncorrelated: noise ``g sqrt(C(d, q))``.
    For large ``d`` this is about ``rho^q sqrt(C(d, q)) / g``.
    """
    group_size = check_int("group_size", group_size, 1)
    dim = check_int("dim", dim, 1)
    degree = check_int("degree", degree, 0, min(dim, MAX_DEGREE))
    signal = abs(elementary_symmetric_of_signs(dim, planted_inner_product(dim, rho), degree))
    return signal / (group_size * math.sqrt(math.comb(dim, degree)))



def snr_threshold(n_a: int, n_b: int, group_size: int, k: int, oversample: int = 2) -> float:
    """The SNR a heavy group pair needs to be brute-forced: the level ``tau`` that ``(oversample - 1) k`` of the
    ``M = (n_a / g)(n_b / g)`` noise scores exceed on average, ``2 M (1 - Phi(tau)) = max((oversample - 1) k, 1)``.

    The search checks ``oversample k`` group pairs; ``k`` of them are the heavy ones, the rest go to the largest
    noise scores, each ``|N(0, 1)|`` in units of ``g sqrt(C(d, q))`` (Gaussian approximation of the ``g^2`` terms).
    Zero when every group pair is checked. Chapter: Heavy inner products (Qin et al.; arXiv 2311.11429).
    """
    n_a, n_b, k = check_int("n_a", n_a, 1), check_int("n_b", n_b, 1), check_int("k", k, 1)
    group_size = check_int("group_size", group_size, 1, min(n_a, n_b))
    oversample = check_int("oversample", oversample, 1)
    tail = max((oversample - 1) * k, 1) / (2 * math.ceil(n_a / group_size) * math.ceil(n_b / group_size))
    return NormalDist().inv_cdf(1 - tail) if tail < 0.5 else 0.0


def predicted_recall(snr: float, threshold: float) -> float:
    """``P(|snr + Z| > threshold)``, Z ~ N(0, 1): the chance that a heavy group pair's score, signal plus its own
    noise, clears the level :func:`snr_threshold` of the largest noise scores (near 1 for ``snr >> threshold``)."""
    snr, threshold = check_real("snr", snr, low=0.0), check_real("threshold", threshold, low=0.0)
    normal = NormalDist()
    return normal.cdf(snr - threshold) + normal.cdf(-snr - threshold)

@dataclass(frozen=True)
class GroupedSearch:
    """What :func:`heavy_pairs_grouped` found and what it looked at."""

    pairs: torch.Tensor          # (m, 2) long: the heavy pairs (i, j) found, sorted
    group_pairs: torch.Tensor    # (c, 2) long: the candidate group pairs that were brute-forced
    scores: torch.Tensor         # (n_a / g, n_b / g): |<Phi_G, Phi_H>| for every group pair
    inner_products: int          # how many <a, b> the brute-force step computed
    group_of_a: torch.Tensor     # (n_a,) long: the group of each row of A
    group_of_b: torch.Tensor     # (n_b,) long: the group of each row of B


def _group_features(X: torch.Tensor, order: torch.Tensor, signs: torch.Tensor, group_size: int, degree: int,
                    features: torch.Tensor | None) -> torch.Tensor:
    """``Phi`` (groups, C(d, q)): row ``G`` is ``sum_{x in G} s_x psi_q(x)``; group ``G`` holds
    ``order[G g : G g + g]``."""
    groups = math.ceil(X.shape[0] / group_size)
    rows = _multilinear_rows(X.shape[1], degree, X.device)
    group_of = torch.empty_like(order)
    group_of[order] = torch.arange(order.numel(), device=X.device) // group_size
    # row 2G of the buffer sums the members of G with s_x = -1, row 2G + 1 those with s_x = +1: the features are
    # added in place, never gathered or multiplied (a copy of n x C(d, q) numbers per call)
    slot = 2 * group_of + (signs > 0).long()
    sums = torch.zeros(2 * groups, rows.numel(), dtype=X.dtype, device=X.device)
    for start in range(0, X.shape[0], _CHUNK):
        if features is None:
            block = taylor_features_by_row(X[start:start + _CHUNK], degree)[rows].T.contiguous()
        else:
            block = features[start:start + _CHUNK]
        sums.index_add_(0, slot[start:start + _CHUNK], block)
    return sums[1::2] - sums[0::2]


def heavy_pairs_grouped(A: torch.Tensor, B: torch.Tensor, rho: float, k: int, group_size: int, degree: int = 2,
                        oversample: int = 2, seed: int = 0, features_a: torch.Tensor | None = None,
                        features_b: torch.Tensor | None = None) -> GroupedSearch:
    """Find the ``k`` heavy pairs ``<a, b> >= rho d`` by grouping: score group pairs, brute-force the best
    ``oversample k``.

    1. Split ``A`` and ``B`` at random into groups of ``g`` rows, draw a random sign ``s_x`` for every row.
    2. ``Phi_A = [sum_{x in G} s_x psi_q(x)]_G`` and likewise ``Phi_B``; ``C = Phi_A Phi_B^T`` ((n/g) x (n/g)).
    3. Brute-force the ``g^2`` pairs of each of the ``oversample k`` largest entries of ``|C|``.
    Cost: features ``n C(d, q)``, one (n/g) x C(d, q) x (n/g) product, ``oversample k g^2 d`` for step 3. With
    ``group_size = 1`` and ``oversample k >= n^2`` it is brute force. Shapes: ``A`` (n_a, d), ``B`` (n_b, d).
    Chapter: Heavy inner products (Qin, Mitra, Song, Yang, Zhou; arXiv 2311.11429); grouping is the book's version.
    """
    A, B = _check_pair(A, B)
    rho = check_real("rho", rho, 0.0, 1.0, low_inclusive=False)
    k = check_int("k", k, 1)
    group_size = check_int("group_size", group_size, 1, min(A.shape[0], B.shape[0]))
    degree = check_int("degree", degree, 1, A.shape[1])
    oversample = check_int("oversample", oversample, 1)
    if math.comb(A.shape[1], degree) > MAX_FEATURES:
        raise ValueError(f"degree = {degree} gives C(d, q) = {math.comb(A.shape[1], degree)} features: more than "
                         f"{MAX_FEATURES}; lower q")
    seed = check_seed("seed", seed)
    for name, X, features in (("features_a", A, features_a), ("features_b", B, features_b)):
        if features is not None:
            check_finite_tensor(name, features, ndim=2)
            if features.shape != (X.shape[0], math.comb(X.shape[1], degree)):
                raise ValueError(f"{name} must be multilinear_features(X, {degree}) of shape "
                                 f"({X.shape[0]}, {math.comb(X.shape[1], degree)}), got {tuple(features.shape)}")
            check_same_kind(A=A, **{name: features})
    made = generator(seed)
    orders, phis = [], []
    for X, features in ((A, features_a), (B, features_b)):
        order = torch.randperm(X.shape[0], generator=made).to(X.device)
        signs = (torch.randint(0, 2, (X.shape[0],), generator=made) * 2 - 1).to(dtype=X.dtype, device=X.device)
        orders.append(order)
        phis.append(_group_features(X, order, signs, group_size, degree, features))
    scores = (phis[0] @ phis[1].T).abs()
    candidates = min(oversample * k, scores.numel())
    best = torch.topk(scores.flatten(), candidates).indices
    group_pairs = torch.stack([best // scores.shape[1], best % scores.shape[1]], dim=1)
    threshold = _threshold(rho, A.shape[1])
    found, computed = [], 0
    for group_a, group_b in group_pairs.tolist():
        rows = orders[0][group_a * group_size:(group_a + 1) * group_size]
        cols = orders[1][group_b * group_size:(group_b + 1) * group_size]
        inner = A[rows] @ B[cols].T
        computed += inner.numel()
        hit_rows, hit_cols = torch.nonzero(inner >= threshold, as_tuple=True)
        found.append(torch.stack([rows[hit_rows], cols[hit_cols]], dim=1))
    group_of = [torch.empty_like(order) for order in orders]
    for where, order in zip(group_of, orders):
        where[order] = torch.arange(order.numel(), device=order.device) // group_size
    return GroupedSearch(_sorted_pairs(torch.cat(found)), group_pairs, scores, computed, *group_of)


def _check_pairs(name: str, pairs: object, rows: int | None = None, columns: int | None = None) -> torch.Tensor:
    """Index pairs: an integer (m, 2) tensor (m may be 0), optionally with ``i < rows`` and ``j < columns``."""
    check_index_tensor(name, pairs, 2**63 - 1, ndim=2)
    if pairs.shape[1] != 2:
        raise ValueError(f"{name} must have shape (m, 2) (pairs (i, j)), got {tuple(pairs.shape)}")
    if rows is not None:
        check_index_tensor(f"{name}[:, 0]", pairs[:, 0], rows)
        check_index_tensor(f"{name}[:, 1]", pairs[:, 1], columns)
    return pairs


def recall(found: torch.Tensor, planted: torch.Tensor) -> float:
    """The fraction of the ``planted`` pairs (k, 2) that appear among the ``found`` pairs (m, 2); 1.0 if k = 0."""
    for name, pairs in (("found", found), ("planted", planted)):
        _check_pairs(name, pairs)
    if planted.numel() == 0:
        return 1.0
    found_set = {tuple(pair) for pair in found.tolist()}
    return sum(tuple(pair) in found_set for pair in planted.tolist()) / planted.shape[0]


def matmul_cost(rows: float, inner: float, cols: float, omega: float) -> float:
    """Operation-count model of a (rows x inner) by (inner x cols) product with exponent ``omega``.

    Cut it into square blocks of the smallest side ``s``: ``(rows inner cols / s^3)`` block products of cost
    ``s^omega`` each. ``omega = 3`` is the school (BLAS) algorithm, 2.807 Strassen, 2.371 the current record.
    A model, not a measurement: fast algorithms with ``omega < 2.8`` are not run in practice.
    """
    omega = check_real("omega", omega, 2.0, 3.0)
    for name, value in (("rows", rows), ("inner", inner), ("cols", cols)):
        check_real(name, value, low=0.0, low_inclusive=False)  # the values stay as given: exact int products
    side = min(rows, inner, cols)
    return rows * inner * cols / side**3 * side**omega


def operation_count_model(n: float, dim: float, group_size: float, features: float, omega: float,
                          candidates: float) -> dict[str, float]:
    """Operation counts (a cost model) of brute force and of the grouped algorithm for n vectors of dimension d.

    ``brute = matmul_cost(n, d, n)``; ``grouped = n features`` (group sums) ``+ matmul_cost(n/g, features, n/g)``
    ``+ candidates g^2 d`` (brute force inside the candidate group pairs). With ``g = n^{1/3}`` and
    ``features = n^{2/3}`` the middle term is ``n^{2 omega / 3}``: below ``n^2`` only when ``omega < 3``.
    """
    for name, value in (("n", n), ("dim", dim), ("group_size", group_size), ("features", features)):
        check_real(name, value, low=0.0, low_inclusive=False)
    check_real("candidates", candidates, low=0.0)
    omega = check_real("omega", omega, 2.0, 3.0)
    groups = n / group_size
    parts = {"group sums": n * features, "group product": matmul_cost(groups, features, groups, omega),
             "inside groups": candidates * group_size**2 * dim}
    return {"brute": matmul_cost(n, dim, n, omega), "grouped": sum(parts.values()), **parts}


def relu_from_pairs(W: torch.Tensor, X: torch.Tensor, pairs: torch.Tensor, bias: float) -> torch.Tensor:
    """ReLU layer ``relu(<w_i, x_j> - bias)`` computed only at ``pairs`` (m, 2) and zero elsewhere: (n_w, n_x).

    When ``pairs`` holds every pair with ``<w_i, x_j> > bias`` (the heavy pairs for ``bias = rho d``) this equals
    the dense :func:`relu_layer_reference`: only the neurons that fire need an inner product.
    Chapter: Heavy inner products (Qin et al.; arXiv 2311.11429).
    """
    W, X = _check_pair(W, X, ("W", "X"))
    bias = check_real("bias", bias)
    _check_pairs("pairs", pairs, W.shape[0], X.shape[0])
    check_allocation(f"the layer of {W.shape[0]} x {X.shape[0]} neurons", (W.shape[0], X.shape[0]), W.dtype, W.device)
    out = torch.zeros(W.shape[0], X.shape[0], dtype=W.dtype, device=W.device)
    if pairs.numel():
        rows, cols = pairs[:, 0], pairs[:, 1]
        # in float64: the bias (say 0.7 * 128 = 89.6) is not a float32 number, and the margins are small
        out[rows, cols] = torch.relu((W[rows].double() * X[cols].double()).sum(dim=1) - bias).to(W.dtype)
    return out


def relu_layer_reference(W: torch.Tensor, X: torch.Tensor, bias: float) -> torch.Tensor:
    """The dense ReLU layer ``relu(W X^T - bias)`` (n_w, n_x) in float64: every neuron against every input."""
    W, X = _check_pair(W, X, ("W", "X"))
    check_allocation(f"the layer of {W.shape[0]} x {X.shape[0]} neurons", (W.shape[0], X.shape[0]), torch.float64,
                     W.device)
    return torch.relu(W.double() @ X.double().T - check_real("bias", bias))
