"""The model of the gradient-leakage chapter: one attention layer, its loss, and the gradient a client shares.

The model is one attention layer with the input ``X (n, d)`` also serving as queries, keys and values,

    F(X) = softmax(X W X^T) X V,      L = 0.5 ||F(X) - Y||_F^2,

(softmax over each row) with trained parameters ``W (d, d)`` and ``V (d, k)``. A client in federated learning
shares the gradient ``g = (dL/dW, dL/dV)``: ``d^2 + d k`` numbers computed from its private ``X``. The attack is in
:mod:`simple_algebra.privacy.gradient_leakage`, the defences in :mod:`simple_algebra.privacy.defences`.

Chapter: A theoretical insight into attack and defense of gradient leakage in transformer
(C. Li, Z. Song, W. Wang, C. Yang; arXiv 2311.13624).
"""

from __future__ import annotations

import torch

from ..core.validation import check_finite_tensor, check_same_kind


def _finite_output(name: str, value: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """Refuse a NaN or inf made from finite input: scores ``X W X^T`` beyond the dtype's range."""
    total = value.detach().sum()
    if not bool(torch.isfinite(total)) and not bool(torch.isfinite(value.detach()).all()):
        raise ValueError(f"{name} overflowed (NaN or inf) for finite X (largest |X| = {float(X.detach().abs().max()):.3g})"
                         ": the attention scores X W X^T are beyond the dtype's range; scale X or W down")
    return value


def _check_gradients(name: str, gradients: object) -> tuple[torch.Tensor, ...]:
    """A tuple (or list) of finite floating tensors of one dtype and device: the parts of a shared gradient."""
    if not isinstance(gradients, (tuple, list)) or len(gradients) == 0:
        given = "an empty tuple" if isinstance(gradients, (tuple, list)) else f"a {type(gradients).__name__}"
        raise ValueError(f"{name} must be a non-empty tuple of tensors such as (dL/dW, dL/dV), got {given}")
    for index, part in enumerate(gradients):
        check_finite_tensor(f"{name}[{index}]", part)
    check_same_kind(**{f"{name}[{index}]": part for index, part in enumerate(gradients)})
    return tuple(gradients)


def _check_model(X: torch.Tensor, W: torch.Tensor, V: torch.Tensor, Y: torch.Tensor) -> None:
    check_finite_tensor("X", X)
    check_finite_tensor("W", W, ndim=2)
    check_finite_tensor("V", V, ndim=2)
    check_finite_tensor("Y", Y)
    check_same_kind(X=X, W=W, V=V, Y=Y)
    if X.ndim not in (2, 3):
        raise ValueError(f"X must have shape (n, d) or (batch, n, d), got {tuple(X.shape)}")
    d = X.shape[-1]
    if W.shape != (d, d):
        raise ValueError(f"W must have shape ({d}, {d}) for X of width {d}, got {tuple(W.shape)}")
    if V.shape[0] != d:
        raise ValueError(f"V must have {d} rows for X of width {d}, got shape {tuple(V.shape)}")
    if Y.shape != (*X.shape[:-1], V.shape[1]):
        raise ValueError(f"Y must have shape {(*X.shape[:-1], V.shape[1])}, got {tuple(Y.shape)}")


def attention_output(X: torch.Tensor, W: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """``F(X) = softmax(X W X^T) X V`` (softmax over each row). ``X (n, d)`` or ``(b, n, d)`` -> ``(..., n, k)``.

    Chapter: gradient leakage in transformer (arXiv 2311.13624).
    """
    _check_model(X, W, V, torch.zeros(*X.shape[:-1], V.shape[-1], dtype=X.dtype, device=X.device))
    attention = torch.softmax(X @ W @ X.transpose(-1, -2), dim=-1)
    return _finite_output("attention_output", attention @ X @ V, X)


def attention_loss(X: torch.Tensor, W: torch.Tensor, V: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """``L = 0.5 ||F(X) - Y||_F^2`` (one value per sequence for a batch ``X (b, n, d)``).

    Chapter: gradient leakage in transformer (arXiv 2311.13624).
    """
    _check_model(X, W, V, Y)
    return _finite_output("attention_loss", _loss(X, W, V, Y), X)


def _loss(X: torch.Tensor, W: torch.Tensor, V: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    # Unchecked: noisy SGD evaluates it every step on inputs checked once, and reports a diverged run by name.
    attention = torch.softmax(X @ W @ X.transpose(-1, -2), dim=-1)
    return 0.5 * (attention @ X @ V - Y).square().sum(dim=(-2, -1))


def shared_gradients(X: torch.Tensor, W: torch.Tensor, V: torch.Tensor,
                     Y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The gradient a client shares, in closed form: ``(dL/dW, dL/dV)``, differentiable in ``X`` (double backward).

    With ``A = softmax(X W X^T)``, ``R = A X V - Y`` and ``G = R (X V)^T`` (the gradient in ``A``),

        dL/dV = (A X)^T R,      dL/dS = A * (G - rowsum(G * A)),      dL/dW = X^T (dL/dS) X.

    Shapes: ``X (n, d)`` -> ``((d, d), (d, k))``; a batch ``X (b, n, d)`` gives per-sequence gradients
    ``((b, d, d), (b, d, k))``. Chapter: gradient leakage in transformer (arXiv 2311.13624).
    """
    _check_model(X, W, V, Y)
    grad_W, grad_V = _gradients(X, W, V, Y)
    return _finite_output("shared_gradients", grad_W, X), _finite_output("shared_gradients", grad_V, X)


def _gradients(X: torch.Tensor, W: torch.Tensor, V: torch.Tensor, Y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # Unchecked: the attack's inner loop calls this thousands of times on inputs checked once.
    transposed = X.transpose(-1, -2)
    attention = torch.softmax(X @ W @ transposed, dim=-1)
    values = X @ V
    residual = attention @ values - Y
    grad_attention = residual @ values.transpose(-1, -2)
    grad_scores = attention * (grad_attention - (grad_attention * attention).sum(dim=-1, keepdim=True))
    return transposed @ grad_scores @ X, (attention @ X).transpose(-1, -2) @ residual


def shared_gradients_reference(X: torch.Tensor, W: torch.Tensor, V: torch.Tensor,
                               Y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`shared_gradients` by autograd on the loss, in float64, for one sequence ``X (n, d)``.

    Chapter: gradient leakage in transformer (arXiv 2311.13624).
    """
    _check_model(X, W, V, Y)
    if X.ndim != 2:
        raise ValueError(f"the reference takes one sequence X (n, d), got shape {tuple(X.shape)}")
    W64 = W.detach().double().requires_grad_(True)
    V64 = V.detach().double().requires_grad_(True)
    loss = attention_loss(X.detach().double(), W64, V64, Y.detach().double())
    grad_W, grad_V = torch.autograd.grad(loss, (W64, V64))
    return grad_W, grad_V


def gradient_norm(gradients: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """``||g|| = sqrt(sum_j ||g_j||_F^2)`` over the parts of a shared gradient (a tensor, differentiable)."""
    gradients = _check_gradients("gradients", gradients)
    norm = torch.sqrt(sum(part.square().sum() for part in gradients))
    if not bool(torch.isfinite(norm)):
        raise ValueError(f"gradients are too large: their squared norm overflows the dtype, got {float(norm)}")
    return norm
