"""Attention with a prefix, and NTK-Attention: the prefix summarised in a fixed number of numbers.

A prefix of ``m`` key/value pairs ``(KP, VP)`` is prepended to the ``L`` input keys/values ``(K, V)``; queries ``Q``
attend to all ``L + m`` of them:

    Out = (exp(Q K^T / sqrt d) V + exp(Q KP^T / sqrt d) VP) / (exp(Q K^T / sqrt d) 1 + exp(Q KP^T / sqrt d) 1).

If ``exp(q . p / sqrt d) ~ phi(q)^T phi(p)`` for a feature map ``phi : R^d -> R^r``, the prefix terms collapse to
``phi(Q) Z`` and ``phi(Q) k`` with the summary ``Z = sum_i phi(kP_i) vP_i^T`` (r, d) and ``k = sum_i phi(kP_i)`` (r,):

    NTK-Attention:  Out = (exp(Q K^T / sqrt d) V + phi(Q) Z) / (exp(Q K^T / sqrt d) 1 + phi(Q) k),

whose cost does not depend on ``m``. Here ``phi(x) = taylor_features(x / d^{1/4}, g)``, so that
``phi(q)^T phi(p) = sum_{j <= g} (q . p / sqrt d)^j / j!``. The module also trains ``(Z, k)`` directly
(:class:`NTKAttention`), and trains the prefix itself in a one-layer attention (:class:`PrefixAttentionLayer`),
where the prefix length plays the role of the width, with its infinite-length tangent kernel
(:func:`prefix_limit_kernel`).

Chapter: Infinite-long prefixes (Gu, Liang, Shi, Song, Yang; arXiv 2406.14036).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..core.metrics import relative_error  # also the chapter's pa.relative_error
from ..core.runtime import generator, progress
from ..core.validation import (
    MAX_SEED,
    check_allocation,
    check_degree,
    check_device,
    check_finite_tensor,
    check_float_dtype,
    check_int,
    check_real,
    check_same_kind,
    check_seed,
    check_shape,
    check_steps,
)
from .taylor_features import taylor_features

FEATURE_MAPS = ("taylor", "elu")


def _check_attention_inputs(Q: torch.Tensor, K: torch.Tensor, V: torch.Tensor) -> int:
    for name, tensor in (("Q", Q), ("K", K), ("V", V)):
        check_finite_tensor(name, tensor)
        if tensor.ndim < 2:
            raise ValueError(f"{name} must have shape (..., L, d), got {tuple(tensor.shape)}")
    if K.shape != V.shape:
        raise ValueError(f"K and V must have the same shape, got {tuple(K.shape)} and {tuple(V.shape)}")
    check_same_kind(Q=Q, K=K, V=V)
    if Q.shape[-1] != K.shape[-1] or Q.shape[:-2] != K.shape[:-2]:
        raise ValueError(f"Q (..., L, d) and K (..., L', d) must share d and the batch axes, got "
                         f"{tuple(Q.shape)} and {tuple(K.shape)}")
    return Q.shape[-1]


def _check_prefix(KP: torch.Tensor, VP: torch.Tensor, dim: int) -> None:
    check_finite_tensor("KP", KP, ndim=2)
    check_finite_tensor("VP", VP, ndim=2)
    if KP.shape != VP.shape or KP.shape[1] != dim:
        raise ValueError(f"KP and VP must both have shape (m, {dim}), got {tuple(KP.shape)} and {tuple(VP.shape)}")
    check_same_kind(KP=KP, VP=VP)


def prefix_attention(Q: torch.Tensor, K: torch.Tensor, V: torch.Tensor, KP: torch.Tensor,
                     VP: torch.Tensor) -> torch.Tensor:
    """Exact attention of ``Q`` over the input keys and a prefix: ``softmax([Q K^T, Q KP^T] / sqrt d) [V; VP]``.

    The softmax subtracts the row maximum over *all* ``L + m`` scores, so neither term overflows or is lost.
    Shapes: ``Q`` (..., L, d), ``K``, ``V`` (..., L', d), ``KP``, ``VP`` (m, d) -> (..., L, d).
    Chapter: Infinite-long prefixes (Gu, Liang, Shi, Song, Yang; arXiv 2406.14036).
    """
    dim = _check_attention_inputs(Q, K, V)
    _check_prefix(KP, VP, dim)
    check_same_kind(Q=Q, KP=KP)
    check_allocation(f"the L x (L' + m) scores for Q {tuple(Q.shape)}, K {tuple(K.shape)} and m = {KP.shape[0]}",
                     (*Q.shape[:-1], K.shape[-2] + KP.shape[0]), Q.dtype, Q.device)
    scale = 1.0 / math.sqrt(dim)
    scores = torch.cat([Q @ K.transpose(-1, -2), Q @ KP.T], dim=-1) * scale
    weights = torch.softmax(scores, dim=-1)
    values_input = weights[..., :K.shape[-2]] @ V
    return values_input + weights[..., K.shape[-2]:] @ VP


def feature_map(x: torch.Tensor, degree: int | None) -> torch.Tensor:
    """``phi(x)``: Taylor features of ``x / d^{1/4}`` of degree ``g = degree``, or the paper's ``ELU(x / d^{1/4}) + 1``.

    With Taylor features ``phi(q)^T phi(p) = sum_{j <= g} (q . p / sqrt d)^j / j! ~ exp(q . p / sqrt d)``; with
    ``degree=None`` the map is ``ELU(x / d^{1/4}) + 1`` (r = d, positive, no such identity). Shapes: (..., d) ->
    (..., r) with r = C(d + g, g) or d. Chapter: Infinite-long prefixes (arXiv 2406.14036).
    """
    check_finite_tensor("x", x)
    if x.ndim < 1:
        raise ValueError(f"x must have a last axis of coordinates (..., d), got shape {tuple(x.shape)}")
    scaled = x / x.shape[-1] ** 0.25
    if degree is None:
        return torch.nn.functional.elu(scaled) + 1.0
    return taylor_features(scaled, degree)


def prefix_summary(KP: torch.Tensor, VP: torch.Tensor, degree: int,
                   chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """The closed-form summary of a prefix: ``Z = sum_i phi(kP_i) vP_i^T`` (r, d) and ``k = sum_i phi(kP_i)`` (r,).

    Computed in chunks of ``chunk`` prefix rows so that the (m, r) feature matrix never exists at once.
    ``phi`` is :func:`feature_map` with Taylor degree ``degree``. Shapes: ``KP``, ``VP`` (m, d).
    Chapter: Infinite-long prefixes (Gu, Liang, Shi, Song, Yang; arXiv 2406.14036).
    """
    _check_prefix(KP, VP, KP.shape[-1] if isinstance(KP, torch.Tensor) and KP.ndim == 2 else -1)
    degree = check_degree("degree", degree)
    chunk = check_int("chunk", chunk, 1)
    Z = k = None
    for start in range(0, KP.shape[0], chunk):
        features = feature_map(KP[start:start + chunk], degree)
        part_Z, part_k = features.T @ VP[start:start + chunk], features.sum(0)
        Z, k = (part_Z, part_k) if Z is None else (Z + part_Z, k + part_k)
    return Z, k


def _check_summary(Q: torch.Tensor, Z: torch.Tensor, k: torch.Tensor, features: int, dim: int) -> None:
    check_shape("Z", Z, (features, dim))
    check_shape("k", k, (features,))
    check_same_kind(Q=Q, Z=Z, k=k)


def ntk_attention(Q: torch.Tensor, K: torch.Tensor, V: torch.Tensor, Z: torch.Tensor, k: torch.Tensor,
                  degree: int | None) -> torch.Tensor:
    """NTK-Attention ``(exp(Q K^T/sqrt d) V + phi(Q) Z) / (exp(Q K^T/sqrt d) 1 + phi(Q) k)``, computed stably.

    With ``c = max(row max of Q K^T / sqrt d, log(phi(Q) k))`` every exponential is ``exp(score - c) <= 1`` and the
    prefix enters with weight ``exp(log(phi(Q) k) - c)`` and value ``phi(Q) Z / phi(Q) k``: a large score can
    neither overflow nor silently zero the prefix. ``phi(Q) k`` must be positive (Taylor features of even degree,
    a positive map, or a trained ``k`` that keeps it so); otherwise ``ValueError``. Shapes: ``Q`` (..., L, d),
    ``K``, ``V`` (..., L', d), ``Z`` (r, d), ``k`` (r,) -> (..., L, d). ``degree`` as in :func:`feature_map`.
    Chapter: Infinite-long prefixes (Gu, Liang, Shi, Song, Yang; arXiv 2406.14036).
    """
    dim = _check_attention_inputs(Q, K, V)
    features = feature_map(Q, degree)
    _check_summary(Q, Z, k, features.shape[-1], dim)
    prefix_mass = features @ k  # (..., L)
    if not bool((prefix_mass > 0).all()):
        raise ValueError("phi(Q) k is not positive for every query, so the prefix has no valid softmax weight: "
                         "use an even Taylor degree (odd degrees make the kernel negative) or a positive feature map")
    scores = (Q @ K.transpose(-1, -2)) / math.sqrt(dim)
    log_prefix = torch.log(prefix_mass)
    shift = torch.maximum(scores.amax(dim=-1), log_prefix).detach()[..., None]
    weights = torch.exp(scores - shift)
    prefix_weight = torch.exp(log_prefix[..., None] - shift)
    prefix_value = (features @ Z) / prefix_mass[..., None]
    return (weights @ V + prefix_weight * prefix_value) / (weights.sum(-1, keepdim=True) + prefix_weight)


def ntk_attention_naive(Q: torch.Tensor, K: torch.Tensor, V: torch.Tensor, Z: torch.Tensor, k: torch.Tensor,
                        degree: int | None) -> torch.Tensor:
    """The same formula as :func:`ntk_attention` with no shift at all: for comparison only.

    ``exp(Q K^T / sqrt d)`` overflows to ``inf`` once a score passes ``log(max float)`` (88.7 in float32) and the
    output becomes ``inf / inf = NaN``. Shapes as :func:`ntk_attention`.
    Chapter: Infinite-long prefixes (Gu, Liang, Shi, Song, Yang; arXiv 2406.14036).
    """
    dim = _check_attention_inputs(Q, K, V)
    features = feature_map(Q, degree)
    _check_summary(Q, Z, k, features.shape[-1], dim)
    weights = torch.exp((Q @ K.transpose(-1, -2)) / math.sqrt(dim))
    return (weights @ V + features @ Z) / (weights.sum(-1, keepdim=True) + (features @ k)[..., None])


def random_prefix(length: int, dim: int, seed: int = 0, noise: float = 0.5, scale: float = 1.0,
                  dtype: torch.dtype = torch.float64, device: torch.device | str | None = None,
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """A structured random prefix: keys ``kP_i = scale * N(0, I_d)``, values ``vP_i = M^T g_i + noise * N(0, I_d)``.

    ``g_i`` is the unscaled Gaussian of key ``i``; ``scale`` sets the size of the attention scores only.

    ``M`` (d, d) has ``N(0, 1/d)`` entries, fixed by ``dim`` alone (seed 0), so prefixes of every length share it:
    as ``m`` grows the prefix's attention output tends to a smooth function of the query, the "infinitely long
    prefix". Returns ``(KP, VP)``, each (m, d). Chapter: Infinite-long prefixes (arXiv 2406.14036).
    """
    length = check_int("length", length, 1)
    dim = check_int("dim", dim, 1)
    noise = check_real("noise", noise, 0.0)
    scale = check_real("scale", scale, 0.0, low_inclusive=False)
    seed = check_seed("seed", seed)
    dtype = check_float_dtype("dtype", dtype)
    device = check_device("device", device)
    check_allocation(f"the m x d prefix for length = {length}, dim = {dim}", (max(length, dim), dim))
    mixing = torch.randn(dim, dim, dtype=torch.float64, generator=generator(0)) / math.sqrt(dim)
    draw = generator(check_int("seed", seed, 0))
    keys = torch.randn(length, dim, dtype=torch.float64, generator=draw)
    values = keys @ mixing + noise * torch.randn(length, dim, dtype=torch.float64, generator=draw)
    return (scale * keys).to(dtype=dtype, device=device), values.to(dtype=dtype, device=device)


def random_inputs(batch: int, length: int, dim: int, seed: int = 0, scale: float = 1.0,
                  dtype: torch.dtype = torch.float64, device: torch.device | str | None = None,
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Independent Gaussian ``Q``, ``K``, ``V``, each (batch, length, dim): frozen projections of the input.

    ``Q`` and ``K`` have standard deviation ``scale`` (the size of the attention scores), ``V`` standard deviation 1.

    Chapter: Infinite-long prefixes (arXiv 2406.14036).
    """
    draw = generator(check_seed("seed", seed))
    shape = (check_int("batch", batch, 1), check_int("length", length, 1), check_int("dim", dim, 1))
    scale = check_real("scale", scale, 0.0, low_inclusive=False)
    dtype = check_float_dtype("dtype", dtype)
    device = check_device("device", device)
    check_allocation(f"Q, K and V of shape (batch, length, dim) = {shape}", (3, *shape))
    Q, K, V = (torch.randn(*shape, dtype=torch.float64, generator=draw) for _ in range(3))
    return tuple(x.to(dtype=dtype, device=device) for x in (scale * Q, scale * K, V))


class NTKAttention(nn.Module):
    """NTK-Attention with a trainable summary ``(Z, k)`` and the paper's map ``phi(x) = ELU(x / d^{1/4}) + 1``.

    ``Z = e^s Z_raw`` (d, d) and ``k = e^s softplus(k_raw)`` (d,) with a trainable log-scale ``s``: ``k > 0`` and
    ``phi > 0`` keep ``phi(Q) k`` positive (a valid softmax weight) at every step, and Adam reaches the size of a
    long prefix (``k ~ m``) through ``s`` in few steps. At the start ``Z = 0`` and ``phi(0) k = 1``: one neutral
    prefix token. ``d^2 + d + 1`` numbers, whatever the prefix length. ``forward(Q, K, V)`` is :func:`ntk_attention`
    with ``degree=None``. Chapter: Infinite-long prefixes (Gu, Liang, Shi, Song, Yang; arXiv 2406.14036).
    """

    def __init__(self, dim: int, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> None:
        super().__init__()
        dim = check_int("dim", dim, 1)
        dtype = check_float_dtype("dtype", dtype)
        device = check_device("device", device)
        check_allocation(f"the d x d summary Z for dim = {dim}", (dim, dim), dtype, device)
        self.Z_raw = nn.Parameter(torch.zeros(dim, dim, dtype=dtype, device=device))
        self.k_raw = nn.Parameter(torch.full((dim,), math.log(math.expm1(1.0 / dim)), dtype=dtype, device=device))
        self.log_scale = nn.Parameter(torch.zeros((), dtype=dtype, device=device))

    @property
    def Z(self) -> torch.Tensor:
        return self.log_scale.exp() * self.Z_raw

    @property
    def k(self) -> torch.Tensor:
        return self.log_scale.exp() * torch.nn.functional.softplus(self.k_raw)

    def forward(self, Q: torch.Tensor, K: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
        return ntk_attention(Q, K, V, self.Z, self.k, None)


@dataclass
class SummaryFit:
    """What :func:`fit_summary` measured: the trained module, its losses, and test errors."""

    model: NTKAttention
    losses: list[float]
    test_error: float
    no_prefix_error: float


def fit_summary(KP: torch.Tensor, VP: torch.Tensor, steps: int = 1500, lr: float = 0.05, train_batch: int = 32,
                test_batch: int = 32, length: int = 32, input_scale: float = 1.0, seed: int = 0) -> SummaryFit:
    """Train ``(Z, k)`` of :class:`NTKAttention` with Adam to match :func:`prefix_attention` with prefix ``(KP, VP)``.

    Training and test inputs are :func:`random_inputs` (``train_batch`` / ``test_batch`` sequences of ``length``
    tokens, queries and keys times ``input_scale``, seeds ``seed`` and ``seed + 1``); the loss is the mean squared
    output difference. Returns the test :func:`relative_error`, and that of plain attention without the prefix
    (``Z = 0, k = 0``) for scale. Deterministic for a given ``seed``.
    Chapter: Infinite-long prefixes (Gu, Liang, Shi, Song, Yang; arXiv 2406.14036).
    """
    steps = check_steps("steps", steps, low=0)
    lr = check_real("lr", lr, 0.0, low_inclusive=False)
    seed = check_int("seed", seed, 0, MAX_SEED - 1)  # the test inputs use seed + 1
    dim = KP.shape[-1] if isinstance(KP, torch.Tensor) and KP.ndim == 2 else -1
    _check_prefix(KP, VP, dim)
    options = dict(dtype=KP.dtype, device=KP.device)
    train = random_inputs(train_batch, length, dim, seed=seed, scale=input_scale, **options)
    test = random_inputs(test_batch, length, dim, seed=seed + 1, scale=input_scale, **options)
    train_target = prefix_attention(*train, KP, VP)
    test_target = prefix_attention(*test, KP, VP)
    model = NTKAttention(dim, **options)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in progress(range(steps), desc="fitting (Z, k)", leave=False):
        optimizer.zero_grad()
        loss = ((model(*train) - train_target) ** 2).mean()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    with torch.no_grad():
        error = relative_error(model(*test), test_target)
        no_prefix = relative_error(torch.softmax(test[0] @ test[1].transpose(-1, -2) / math.sqrt(dim), -1) @ test[2],
                                   test_target)
    return SummaryFit(model, losses, error, no_prefix)


class PrefixAttentionLayer(nn.Module):
    """One attention layer whose prefix ``(P_K, P_V)`` (m, d each) is the only trained parameter: length as width.

    For a sequence ``X`` (L, d) the last token ``x_L`` queries the keys ``[P_K; X]`` and values ``[P_V; X]``; the output
    is read out along a fixed unit vector ``a`` and scaled by ``sqrt(m)`` so that it is O(1) at initialisation (each
    softmax weight is about 1/m, as in a softmax network of width m):

        f(X) = sqrt(m) a^T softmax([P_K; X] x_L / sqrt d)^T [P_V; X].

    ``P_K``, ``P_V`` have i.i.d. N(0, 1) entries and ``a`` is a random unit vector, all from ``seed``. Input (n, L, d)
    -> output (n,); an ``nn.Module``, so :func:`simple_algebra.width.kernels.empirical_ntk` gives its tangent kernel.
    Chapter: Infinite-long prefixes (Gu, Liang, Shi, Song, Yang; arXiv 2406.14036).
    """

    def __init__(self, dim: int, prefix_length: int, seed: int = 0, dtype: torch.dtype = torch.float64,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        self.dim = check_int("dim", dim, 1)
        self.prefix_length = check_int("prefix_length", prefix_length, 1, 1 << 20)
        dtype = check_float_dtype("dtype", dtype)
        device = check_device("device", device)
        check_allocation(f"the m x d prefix for prefix_length = {prefix_length}, dim = {dim}", (2 * prefix_length + 1, dim), dtype,
                         device)
        draw = generator(check_int("seed", seed, 0))
        keys, values = (torch.randn(prefix_length, dim, dtype=torch.float64, generator=draw) for _ in range(2))
        readout = torch.randn(dim, dtype=torch.float64, generator=draw)
        self.prefix_keys = nn.Parameter(keys.to(dtype=dtype, device=device))
        self.prefix_values = nn.Parameter(values.to(dtype=dtype, device=device))
        self.register_buffer("readout", (readout / readout.norm()).to(dtype=dtype, device=device))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        check_finite_tensor("X", X)
        if X.ndim != 3 or X.shape[-1] != self.dim:
            raise ValueError(f"X must have shape (n, L, {self.dim}), got {tuple(X.shape)}")
        check_same_kind(X=X, prefix_keys=self.prefix_keys)
        batch = X.shape[0]
        keys = torch.cat([self.prefix_keys.expand(batch, -1, -1), X], dim=1)      # (n, m + L, d)
        values = torch.cat([self.prefix_values.expand(batch, -1, -1), X], dim=1)  # (n, m + L, d)
        query = X[:, -1:, :]                                                      # (n, 1, d)
        weights = torch.softmax(query @ keys.transpose(1, 2) / math.sqrt(self.dim), dim=-1)
        return math.sqrt(self.prefix_length) * (weights @ values)[:, 0, :] @ self.readout


def prefix_limit_kernel(x1: torch.Tensor, x2: torch.Tensor | None = None) -> torch.Tensor:
    """The tangent kernel of :class:`PrefixAttentionLayer` in the limit of an infinitely long prefix.

    With ``q = x_L`` and ``m -> infinity`` the softmax denominator concentrates at ``m exp(|q|^2 / 2d)`` (Gaussian
    prefix keys), the input tokens' share vanishes like ``1/m``, and the gradients with respect to the prefix values
    and keys contribute ``exp(c)`` and ``exp(c) c``, with ``c = <q, q'> / d``:

        Theta(X, X') = exp(<x_L, x'_L> / d) (1 + <x_L, x'_L> / d)      (only the last tokens enter).

    The empirical kernel at initialisation tends to it like ``m^{-1/2}``. Shapes: ``x1`` (n1, L, d), ``x2``
    (n2, L', d) (default ``x1``) -> (n1, n2). Chapter: Infinite-long prefixes (arXiv 2406.14036); the limit is the
    book's derivation, not the paper's.
    """
    check_finite_tensor("x1", x1, ndim=3)
    x2 = x1 if x2 is None else check_finite_tensor("x2", x2, ndim=3)
    if x2.shape[-1] != x1.shape[-1]:
        raise ValueError(f"x1 (n1, L, d) and x2 (n2, L', d) must share d, got {tuple(x1.shape)} and {tuple(x2.shape)}")
    check_same_kind(x1=x1, x2=x2)
    check_allocation(f"the n1 x n2 kernel for x1 {tuple(x1.shape)} and x2 {tuple(x2.shape)}",
                     (x1.shape[0], x2.shape[0]), x1.dtype, x1.device)
    overlap = x1[:, -1, :] @ x2[:, -1, :].T / x1.shape[-1]
    return torch.exp(overlap) * (1 + overlap)
