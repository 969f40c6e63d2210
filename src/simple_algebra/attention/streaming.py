"""One-pass streaming attention in space independent of the number of tokens, with a CountSketch of its outputs.

Chapter: One pass streaming algorithm for super long token attention approximation in sublinear space (Addanki,
Li, Song, Yang; arXiv 2311.14652). The construction here is the book's (the paper keeps three sketch matrices
and proves its own guarantee); it follows the abstract: read ``(q_i, k_i, v_i)`` once, never store ``K`` or
``V``, and keep a state whose size does not depend on ``n``.

With Taylor features ``phi`` of degree ``g`` (``t = C(d + g, g)`` of them, :mod:`.taylor_features`) and
``exp(s <q, k>) ~ <phi(sqrt(s) q), phi(sqrt(s) k)>``, causal attention becomes

    M_i = M_{i-1} + phi(k_i) v_i^T  (t x e),   z_i = z_{i-1} + phi(k_i)  (t),
    T_i = phi(q_i)^T M_i / phi(q_i)^T z_i,

and the outputs ``T_i`` stream into a CountSketch ``Y (R, W, e)``: ``Y[r, h_r(i), :] += s_r(i) T_i`` with
hashes ``h_r`` and signs ``s_r`` computed from seeds on the fly (no sketching matrix is ever stored). Each output
column ``T[:, j]`` is recovered as a k-sparse vector: the median over ``r`` of ``s_r(i) Y[r, h_r(i), j]``, keeping
the ``k`` largest. Memory: ``t e + t + R W e`` numbers, whatever ``n``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..core.runtime import generator
from ..core.validation import (
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
)
from .taylor_features import feature_dimension, taylor_features_by_row, truncated_exp_kernel

PRIME = 2**31 - 1  # hash arithmetic modulo a Mersenne prime: a * i + b < 2^62 never overflows int64
MAX_TOKENS = PRIME - 1


def _hash_parameters(seed: int, repetitions: int) -> torch.Tensor:
    """(R, 4) int64: ``(a, b)`` of the bucket hash and ``(c, e)`` of the sign hash of each repetition."""
    return torch.randint(1, PRIME, (repetitions, 4), generator=generator(seed), dtype=torch.int64)


def bucket_and_sign(positions: torch.Tensor, parameters: torch.Tensor,
                    width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pairwise-independent hashes of token positions: ``h_r(i) = ((a_r i + b_r) mod p) mod W`` and
    ``s_r(i) = +-1`` from ``((c_r i + e_r) mod p)``'s lowest bit, ``p = 2^31 - 1``.

    Shapes: ``positions`` (m,) int64, ``parameters`` (R, 4) -> buckets (R, m) int64 and signs (R, m) int64.
    Computed on ``positions``' device each time they are needed: the sketch stores only ``parameters``.
    """
    if not isinstance(positions, torch.Tensor) or positions.dtype != torch.int64 or positions.ndim != 1:
        raise ValueError(f"positions must be a 1-D int64 tensor, got "
                         f"{_describe(positions)}")
    if positions.numel() and (int(positions.min()) < 0 or int(positions.max()) > MAX_TOKENS):
        raise ValueError(f"positions must lie in [0, {MAX_TOKENS}], got values in [{int(positions.min())}, "
                         f"{int(positions.max())}]")
    if not isinstance(parameters, torch.Tensor) or parameters.dtype != torch.int64 or parameters.ndim != 2 \
            or parameters.shape[1] != 4:
        raise ValueError(f"parameters must be an (R, 4) int64 tensor of hash parameters, got {_describe(parameters)}")
    if parameters.numel() and (int(parameters.min()) < 1 or int(parameters.max()) >= PRIME):
        raise ValueError(f"parameters must lie in [1, {PRIME - 1}], got values in [{int(parameters.min())}, "
                         f"{int(parameters.max())}]")
    width = check_int("width", width, 1)
    return _bucket_and_sign(positions, parameters, width)


def _describe(thing: object) -> str:
    if isinstance(thing, torch.Tensor):
        return f"shape {tuple(thing.shape)} of {thing.dtype}"
    return type(thing).__name__


def _bucket_and_sign(positions: torch.Tensor, parameters: torch.Tensor,
                     width: int) -> tuple[torch.Tensor, torch.Tensor]:
    parameters = parameters.to(positions.device)
    # both hashes in one pass: (a_r, c_r) * i + (b_r, e_r) modulo p, shape (R, 2, m)
    hashed = torch.remainder(torch.addcmul(parameters[:, 1::2, None], parameters[:, 0::2, None], positions), PRIME)
    return hashed[:, 0] % width, 1 - 2 * (hashed[:, 1] & 1)


@dataclass
class StreamingAttentionState:
    """Everything the one-pass algorithm keeps: ``M`` (t, e), ``z`` (t), the sketch ``Y`` (R, W, e), the hash
    parameters (R, 4) and the number of tokens read. Make one with :func:`new_state`, feed it with
    :func:`stream_update`; :func:`state_bytes` measures it."""

    M: torch.Tensor
    z: torch.Tensor
    sketch: torch.Tensor
    hash_parameters: torch.Tensor
    degree: int
    scale: float
    tokens: int = 0

    @property
    def width(self) -> int:
        return self.sketch.shape[1]

    @property
    def repetitions(self) -> int:
        return self.sketch.shape[0]


def new_state(dim: int, value_dim: int, degree: int, *, width: int = 512, repetitions: int = 5,
              scale: float = 1.0, seed: int = 0, dtype: torch.dtype = torch.float64,
              device: torch.device | str | None = None) -> StreamingAttentionState:
    """An empty streaming state for keys of dimension ``dim``, values of dimension ``value_dim``, Taylor degree
    ``degree`` and a CountSketch of ``repetitions`` x ``width`` buckets; ``scale`` multiplies the scores
    (``exp(scale <q, k>)``); hashes come from ``seed``.

    Chapter: streaming attention (Addanki, Li, Song, Yang; arXiv 2311.14652).
    """
    dim = check_int("dim", dim, 1)
    value_dim = check_int("value_dim", value_dim, 1)
    degree = check_degree("degree", degree)
    width = check_int("width", width, 1)
    repetitions = check_int("repetitions", repetitions, 1)
    scale = check_real("scale", scale, 0.0, low_inclusive=False)
    seed = check_seed("seed", seed)
    dtype = check_float_dtype("dtype", dtype)
    device = check_device("device", device)
    features = feature_dimension(dim, degree)
    check_allocation(f"the t x e state for C(d + g, g) = {features} features (dim = {dim}, degree = {degree}, value_dim = {value_dim})",
                     (features, value_dim + 1), dtype, device)
    check_allocation(f"the R x W x e sketch for repetitions = {repetitions}, width = {width}", (repetitions, width, value_dim),
                     dtype, device)
    options = dict(dtype=dtype, device=device)
    return StreamingAttentionState(
        M=torch.zeros(features, value_dim, **options), z=torch.zeros(features, **options),
        sketch=torch.zeros(repetitions, width, value_dim, **options),
        hash_parameters=_hash_parameters(seed, repetitions).to(device), degree=degree, scale=scale)


def _check_state(state: object) -> StreamingAttentionState:
    if not isinstance(state, StreamingAttentionState):
        raise ValueError(f"state must be a StreamingAttentionState (from new_state), got {type(state).__name__}")
    return state


def _check_chunk(state: StreamingAttentionState, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    _check_state(state)
    for name, x in (("q", q), ("k", k), ("v", v)):
        check_finite_tensor(name, x, ndim=2)
    check_same_kind(q=q, k=k, v=v)
    if q.device != state.M.device:
        raise ValueError(f"q and the state must be on one device, got {q.device} and {state.M.device}")
    if q.shape != k.shape or v.shape[0] != q.shape[0]:
        raise ValueError(f"q, k must have the same shape (m, d) and v (m, e), got {tuple(q.shape)}, "
                         f"{tuple(k.shape)}, {tuple(v.shape)}")
    features = feature_dimension(q.shape[1], state.degree)
    if features != state.M.shape[0] or v.shape[1] != state.M.shape[1]:
        raise ValueError(f"the state was made for C(d + g, g) = {state.M.shape[0]} features and e = "
                         f"{state.M.shape[1]}, got d = {q.shape[1]} ({features} features) and e = {v.shape[1]}")
    if state.tokens + q.shape[0] > MAX_TOKENS:
        raise ValueError(f"at most {MAX_TOKENS} tokens can be hashed, the stream would reach "
                         f"{state.tokens + q.shape[0]}")


def _update(state: StreamingAttentionState, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
            sketch: bool) -> torch.Tensor:
    """:func:`stream_update` without the input checks (its callers have made them)."""
    root = math.sqrt(state.scale)
    phi_q, phi_k = taylor_features_by_row(root * torch.cat((q, k)).to(state.M.dtype), state.degree).split(q.shape[0], 1)
    values = v.to(state.M.dtype)
    within = (phi_q.T @ phi_k).tril_()  # the causal kernel inside the chunk
    numerator = torch.addmm(within @ values, phi_q.T, state.M)
    denominator = torch.addmv(within.sum(dim=1), phi_q.T, state.z)
    if not bool((denominator > 0).all()):
        raise ValueError("a polynomial attention denominator phi(q)^T z is not positive: the degree is odd and the "
                         "scores too negative; use an even degree or smaller entries")
    outputs = numerator / denominator[:, None]
    state.M.addmm_(phi_k, values)
    state.z += phi_k.sum(dim=1)
    if sketch:
        _sketch(state, outputs, state.tokens)
    state.tokens += q.shape[0]
    return outputs


def stream_update(state: StreamingAttentionState, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                  *, sketch: bool = True) -> torch.Tensor:
    """Read a chunk of ``m`` consecutive tokens, return their causal outputs ``T`` (m, e) and update the state.

    Inside the chunk, ``T_i = (phi(q_i)^T M + sum_{j <= i} <phi(q_i), phi(k_j)> v_j^T) / (phi(q_i)^T z + sum_{j <= i}
    <phi(q_i), phi(k_j)>)`` with ``M, z`` the state before the chunk: the same outputs as token by token, in
    ``O(m t (m + e))`` time. With ``sketch``, ``Y[r, h_r(i), :] += s_r(i) T_i`` (``index_add_``: colliding tokens
    add up). Raises ``ValueError`` when a denominator is not positive (an odd degree with large negative scores).
    Chapter: streaming attention (Addanki, Li, Song, Yang; arXiv 2311.14652).
    """
    _check_chunk(state, q, k, v)
    return _update(state, q, k, v, sketch)


def streaming_attention(Q: torch.Tensor, K: torch.Tensor, V: torch.Tensor, degree: int, *, chunk: int = 256,
                        width: int = 512, repetitions: int = 5, scale: float = 1.0, seed: int = 0,
                        keep_outputs: bool = True, sketch: bool = True,
                        ) -> tuple[torch.Tensor | None, StreamingAttentionState]:
    """Stream ``Q, K (n, d)``, ``V (n, e)`` through a fresh state, ``chunk`` tokens at a time.

    Returns the outputs ``T`` (n, e) (``None`` unless ``keep_outputs``: a true stream hands each chunk on and
    forgets it) and the final state. ``chunk = 1`` is the token-by-token algorithm; every chunk size gives the
    same outputs. Chapter: streaming attention (Addanki, Li, Song, Yang; arXiv 2311.14652).
    """
    check_finite_tensor("Q", Q, ndim=2)
    check_finite_tensor("V", V, ndim=2)
    chunk = check_int("chunk", chunk, 1)
    state = new_state(Q.shape[1], V.shape[1], degree, width=width, repetitions=repetitions,
                      scale=scale, seed=seed, dtype=Q.dtype, device=Q.device)
    _check_chunk(state, Q, K, V)  # once for the whole stream, not per chunk
    pieces = []
    for start in range(0, Q.shape[0], chunk):
        stop = start + chunk
        out = _update(state, Q[start:stop], K[start:stop], V[start:stop], sketch)
        if keep_outputs:
            pieces.append(out)
    return (torch.cat(pieces) if keep_outputs else None), state


def sketch_outputs(state: StreamingAttentionState, outputs: torch.Tensor, start: int) -> None:
    """Add output rows ``T_i`` (m, e) at positions ``start .. start + m - 1`` to the CountSketch:
    ``Y[r, h_r(i), :] += s_r(i) T_i`` for every repetition ``r`` (in place; linear in ``outputs``).

    Hashes are recomputed from the state's hash parameters, never stored. :func:`stream_update` calls it per
    chunk; calling it on all outputs at once gives the same sketch. Chapter: streaming attention (arXiv 2311.14652).
    """
    _check_state(state)
    check_finite_tensor("outputs", outputs, ndim=2)
    if outputs.device != state.sketch.device:
        raise ValueError(f"outputs and the state must be on one device, got {outputs.device} and "
                         f"{state.sketch.device}")
    if outputs.shape[1] != state.sketch.shape[2]:
        raise ValueError(f"outputs must have e = {state.sketch.shape[2]} columns, got shape {tuple(outputs.shape)}")
    _sketch(state, outputs, check_int("start", start, 0, MAX_TOKENS - outputs.shape[0]))


def _sketch(state: StreamingAttentionState, outputs: torch.Tensor, start: int) -> None:
    positions = torch.arange(start, start + outputs.shape[0], device=outputs.device)
    buckets, signs = _bucket_and_sign(positions, state.hash_parameters, state.width)
    # one index_add_ for all R rows of the sketch, seen as R W buckets; colliding tokens add up
    rows = buckets + state.width * torch.arange(state.repetitions, device=buckets.device)[:, None]
    signed = signs[:, :, None].to(state.sketch.dtype) * outputs.to(state.sketch.dtype)
    state.sketch.view(-1, state.sketch.shape[2]).index_add_(0, rows.flatten(), signed.flatten(0, 1))


def polynomial_attention_reference(Q: torch.Tensor, K: torch.Tensor, V: torch.Tensor, degree: int,
                                   scale: float = 1.0) -> torch.Tensor:
    """The plain float64 reference: ``T = D^{-1} (L o P) V`` with ``P_ij = sum_{j' <= g} (s <q_i, k_j>)^{j'} / j'!``,
    ``L`` the causal mask and ``D = diag((L o P) 1)``; (m, d), (n, d), (n, e) -> (m, e), O(m n) memory. With
    ``m < n`` the queries are the *last* m tokens (rows ``n - m .. n - 1``), which checks a continued stream at any n.
    Chapter: streaming attention (Addanki, Li, Song, Yang; arXiv 2311.14652).
    """
    check_finite_tensor("Q", Q, ndim=2)
    check_finite_tensor("K", K, ndim=2)
    check_shape("K", K, (None, Q.shape[1]))
    if K.shape[0] < Q.shape[0]:
        raise ValueError(f"K must have at least as many rows as Q (the queries are its last tokens), got "
                         f"{tuple(K.shape)} and {tuple(Q.shape)}")
    check_shape("V", V, (K.shape[0], None))
    check_same_kind(Q=Q, K=K, V=V)
    degree = check_degree("degree", degree)  # the kernel's Taylor loop runs `degree` times
    scale = check_real("scale", scale, 0.0, low_inclusive=False)
    check_allocation(f"the m x n kernel for m = {Q.shape[0]}, n = {K.shape[0]}", (Q.shape[0], K.shape[0]),
                     torch.float64, Q.device)
    kernel = torch.tril(truncated_exp_kernel(scale * Q.to(torch.float64), K.to(torch.float64), degree),
                        diagonal=K.shape[0] - Q.shape[0])
    denominator = kernel.sum(dim=1, keepdim=True)
    if not bool((denominator > 0).all()):
        raise ValueError(f"a polynomial attention denominator is not positive (smallest {float(denominator.min()):.3g}): "
                         f"the degree {degree} is odd and the scores too negative; use an even degree or smaller "
                         "entries")
    return (kernel @ V.to(torch.float64)) / denominator


def count_sketch_reference(X: torch.Tensor, width: int, repetitions: int, seed: int = 0) -> torch.Tensor:
    """CountSketch of the rows of ``X`` (n, e) in one go: ``Y[r, h_r(i), :] = sum_i s_r(i) X_i`` -> (R, W, e).

    Built with an explicit dense (W, n) sketching matrix per repetition: the reference that the streamed
    ``index_add_`` sketch is tested against (never used in the streaming algorithm).
    """
    check_finite_tensor("X", X, ndim=2)
    width = check_int("width", width, 1)
    repetitions = check_int("repetitions", repetitions, 1)
    if X.shape[0] > MAX_TOKENS:
        raise ValueError(f"at most {MAX_TOKENS} rows can be hashed, got X of shape {tuple(X.shape)}")
    check_allocation(f"the dense W x n sketching matrix for width = {width}, n = {X.shape[0]}", (width, X.shape[0]),
                     X.dtype, X.device)
    check_allocation(f"the R x W x e sketch for repetitions = {repetitions}, width = {width}", (repetitions, width, X.shape[1]),
                     X.dtype, X.device)
    positions = torch.arange(X.shape[0], device=X.device)
    buckets, signs = _bucket_and_sign(positions, _hash_parameters(check_seed("seed", seed), repetitions), width)
    out = []
    for r in range(repetitions):
        matrix = torch.zeros(width, X.shape[0], dtype=X.dtype, device=X.device)
        matrix[buckets[r], positions] = signs[r].to(X.dtype)
        out.append(matrix @ X)
    return torch.stack(out)


def sketch_estimates(state: StreamingAttentionState, n: int, *, block: int = 1 << 16) -> torch.Tensor:
    """CountSketch estimates ``x^_i = median_r s_r(i) Y[r, h_r(i), :]`` of every output row ``i < n`` -> (n, e)."""
    _check_state(state)
    n = check_int("n", n, 1, MAX_TOKENS)
    block = check_int("block", block, 1)
    check_allocation(f"the n x e estimates for n = {n}", (n, state.sketch.shape[2]), state.sketch.dtype,
                     state.sketch.device)
    pieces = []
    for start in range(0, n, block):
        positions = torch.arange(start, min(start + block, n), device=state.sketch.device)
        buckets, signs = _bucket_and_sign(positions, state.hash_parameters, state.width)
        rows = torch.stack([signs[r, :, None].to(state.sketch.dtype) * state.sketch[r, buckets[r]]
                            for r in range(state.repetitions)])
        pieces.append(rows.median(dim=0).values if state.repetitions % 2 else rows.quantile(0.5, dim=0))
    return torch.cat(pieces)


def recover_sparse(state: StreamingAttentionState, n: int, k: int) -> torch.Tensor:
    """k-sparse recovery of each output column from the sketch: the ``k`` largest CountSketch estimates of the
    column kept, the rest set to zero -> (n, e) with at most ``k`` nonzeros per column.
    Chapter: streaming attention (Addanki, Li, Song, Yang; arXiv 2311.14652).
    """
    _check_state(state)
    k = check_int("k", k, 1)
    estimates = sketch_estimates(state, n)
    return best_k_sparse(estimates, min(k, estimates.shape[0]))


def best_k_sparse(X: torch.Tensor, k: int) -> torch.Tensor:
    """``(X_j)_k``: each column of ``X`` (n, e) with all but its ``k`` largest-magnitude entries set to zero."""
    check_finite_tensor("X", X, ndim=2)
    k = check_int("k", k, 1, X.shape[0])
    kept = X.abs().topk(k, dim=0).indices
    return torch.zeros_like(X).scatter(0, kept, X.gather(0, kept))


def recovery_ratio(T: torch.Tensor, recovered: torch.Tensor, k: int) -> torch.Tensor:
    """Per column ``j``: ``||T_j - y^_j|| / ||T_j - (T_j)_k||``, the factor in the k-sparse guarantee (1 is ideal)."""
    check_finite_tensor("T", T, ndim=2)
    check_finite_tensor("recovered", recovered, ndim=2)
    check_same_kind(T=T, recovered=recovered)
    if T.shape != recovered.shape:
        raise ValueError(f"T and recovered must have the same shape, got {tuple(T.shape)} and {tuple(recovered.shape)}")
    tail = torch.linalg.norm(T - best_k_sparse(T, k), dim=0)
    if bool((tail == 0).any()):
        raise ValueError("a column of T is exactly k-sparse: the ratio is undefined (its error should be 0)")
    return torch.linalg.norm(T - recovered, dim=0) / tail


def state_bytes(state: StreamingAttentionState) -> int:
    """Bytes held by the state's tensors (``M``, ``z``, the sketch and the hash parameters), measured from them."""
    _check_state(state)
    tensors = (state.M, state.z, state.sketch, state.hash_parameters)
    return sum(x.numel() * x.element_size() for x in tensors)


def kv_cache_bytes(n: int, dim: int, value_dim: int, dtype: torch.dtype = torch.float64) -> int:
    """Bytes of a KV cache of ``n`` tokens: ``n (d + e)`` numbers of ``dtype``."""
    numbers = check_int("n", n, 1) * (check_int("dim", dim, 1) + check_int("value_dim", value_dim, 1))
    return numbers * torch.empty(0, dtype=check_float_dtype("dtype", dtype)).element_size()


def bounded_inputs(n: int, dim: int, bound: float, *, value_dim: int | None = None, active: int | None = 8,
                   seed: int = 0, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None,
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Queries and keys uniform in ``[-B, B]`` (so ``|<q, k>| <= d B^2``), values standard normal on the first
    ``active`` tokens and zero after them (``active=None``: on every token). Compressible outputs: after the
    active tokens, ``T_i`` decays like ``1/i``. Drawn on the CPU from ``seed``, then moved: same numbers on every
    device. Returns ``Q, K`` (n, dim) and ``V`` (n, value_dim, default dim).
    """
    n = check_int("n", n, 1)
    dim = check_int("dim", dim, 1)
    bound = check_real("bound", bound, 0.0)
    value_dim = dim if value_dim is None else check_int("value_dim", value_dim, 1)
    active = n if active is None else min(check_int("active", active, 1), n)
    dtype = check_float_dtype("dtype", dtype)
    device = check_device("device", device)
    check_allocation(f"n x d inputs for n = {n}, dim = {dim}, value_dim = {value_dim}", (n, 2 * dim + value_dim))
    made = generator(check_seed("seed", seed))
    Q = bound * (2 * torch.rand(n, dim, generator=made, dtype=torch.float64) - 1)
    K = bound * (2 * torch.rand(n, dim, generator=made, dtype=torch.float64) - 1)
    V = torch.zeros(n, value_dim, dtype=torch.float64)
    V[:active] = torch.randn(active, value_dim, generator=made, dtype=torch.float64)
    return tuple(x.to(dtype=dtype, device=device) for x in (Q, K, V))
