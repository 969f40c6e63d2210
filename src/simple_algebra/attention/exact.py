"""Exact softmax attention: the float64 reference that every fast attention in Part II is tested against.

For queries ``Q (n, d)``, keys ``K (m, d)``, values ``V (m, e)`` and a score scale ``s``,

    A = M o exp(s Q K^T),   D = diag(A 1),   Attention(Q, K, V) = D^{-1} A V,

where ``M`` is all ones, or for causal attention the lower-triangular mask ``M_ij = 1[j <= i]`` (then ``m = n``).
The row maximum of the scores is subtracted before ``exp`` (it cancels in ``D^{-1} A``), so large scores neither
overflow nor lose the small ones. Everything is computed in float64 and returned in the inputs' dtype; autograd
through :func:`exact_attention` is the reference gradient.

Chapters (Part II): the fine-grained complexity of attention gradients (Alman, Song; arXiv 2402.04497),
conv-basis attention (Gu et al.; arXiv 2405.05219) and one-pass streaming attention (Addanki et al.;
arXiv 2311.14652).
"""

from __future__ import annotations

import torch

from ..core.validation import (
    check_allocation,
    check_device,
    check_finite_tensor,
    check_int,
    check_real,
    check_same_kind,
)


def causal_mask(n: int, device: torch.device | str | None = None) -> torch.Tensor:
    """The causal mask ``M_ij = 1[j <= i]`` as an (n, n) boolean tensor (True where a query may look)."""
    n = check_int("n", n, 1)
    device = check_device("device", device)
    check_allocation(f"the n x n causal mask for n = {n}", (n, n), torch.bool, device)
    return torch.ones(n, n, dtype=torch.bool, device=device).tril()


def _check_qk(Q: torch.Tensor, K: torch.Tensor, causal: bool) -> None:
    check_finite_tensor("Q", Q)
    check_finite_tensor("K", K)
    if Q.ndim < 2 or K.ndim < 2:
        raise ValueError(f"Q and K must have shape (..., n, d) and (..., m, d), got {tuple(Q.shape)} and "
                         f"{tuple(K.shape)}")
    if Q.shape[-1] != K.shape[-1] or Q.shape[:-2] != K.shape[:-2]:
        raise ValueError(f"Q (..., n, d) and K (..., m, d) must share d and the batch axes, got {tuple(Q.shape)} "
                         f"and {tuple(K.shape)}")
    if causal and Q.shape[-2] != K.shape[-2]:
        raise ValueError(f"causal attention needs as many queries as keys, got {Q.shape[-2]} and {K.shape[-2]}")
    check_same_kind(Q=Q, K=K)
    check_allocation(f"the n x m scores for Q {tuple(Q.shape)} and K {tuple(K.shape)}",
                     (*Q.shape[:-1], K.shape[-2]), torch.float64, Q.device)


def attention_matrix(Q: torch.Tensor, K: torch.Tensor, *, causal: bool = False, scale: float = 1.0) -> torch.Tensor:
    """The normalised attention matrix ``D^{-1} A`` with ``A = M o exp(scale Q K^T)``: (..., n, d), (..., m, d) ->
    (..., n, m), rows summing to one (float64 inside, returned in ``Q``'s dtype). Reference for Part II."""
    _check_qk(Q, K, causal)
    scale = check_real("scale", scale)
    scores = scale * (Q.to(torch.float64) @ K.to(torch.float64).transpose(-1, -2))
    if causal:
        scores = scores.masked_fill(~causal_mask(Q.shape[-2], Q.device), float("-inf"))
    # softmax subtracts each row's maximum over the unmasked scores; the diagonal keeps every causal row non-empty
    return torch.softmax(scores, dim=-1).to(Q.dtype)


def exact_attention(Q: torch.Tensor, K: torch.Tensor, V: torch.Tensor, *, causal: bool = False,
                    scale: float = 1.0) -> torch.Tensor:
    """Exact softmax attention ``D^{-1} (M o exp(scale Q K^T)) V``, computed in float64 with max-subtraction.

    Shapes: ``Q (..., n, d)``, ``K (..., m, d)``, ``V (..., m, e)`` -> ``(..., n, e)`` in ``Q``'s dtype; ``causal``
    needs ``m = n``. Differentiable: autograd through it is the reference gradient. Costs ``O(n m (d + e))`` time
    and ``O(n m)`` memory: the n x n matrix the fast Part II algorithms avoid.
    """
    _check_qk(Q, K, causal)
    check_finite_tensor("V", V)
    if V.ndim < 2 or V.shape[:-1] != K.shape[:-1]:
        raise ValueError(f"V must have shape (..., m, e) matching K (..., m, d), got {tuple(V.shape)} and "
                         f"{tuple(K.shape)}")
    check_same_kind(Q=Q, V=V)
    weights = attention_matrix(Q, K, causal=causal, scale=scale).to(torch.float64)
    return (weights @ V.to(torch.float64)).to(Q.dtype)
