"""Alignment score functions: how well does each key match each query?

Every score is an ``nn.Module`` mapping a query ``(B, Tq, Dq)`` and keys ``(B, Tk, Dk)``
to scores ``(B, Tq, Tk)``; a mechanism turns them into weights with a (masked) softmax.

Work that depends on the keys only (``W_a h_s`` in Luong's general score, ``U_a h_j`` in
Bahdanau's additive score) is split out into :meth:`Score.prepare_keys`, so a decoder that
queries the same source at every step computes it once::

    prepared = score.prepare_keys(keys)           # once per source
    scores = score.score(query, prepared)         # at every decoding step

``score(query, keys)`` (``forward``) does both.

Half-precision inputs (float16, bfloat16): the dot-product, general and cosine scores multiply
in float32 and return float32 scores, as ``F.scaled_dot_product_attention`` does (``q . k``
overflows float16 from 65504); the mechanisms cast the weights back to the input dtype.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnzoo.attention.functional import check_shape, upcast


def check_same_features(query: Tensor, keys: Tensor) -> None:
    """Raise ``ValueError`` unless query ``(B, Tq, D)`` and keys ``(B, Tk, D)`` share B and D."""
    check_shape("keys", keys, (None, None, None), "(B, Tk, Dk)")
    check_shape("query", query, (keys.size(0), None, keys.size(-1)), "(B, Tq, Dq = Dk)")


class Score(nn.Module):
    """Base class. Subclasses override :meth:`score` and, if useful, :meth:`prepare_keys`.

    Attributes:
        query_dim: ``Dq`` the score accepts, or ``None`` for any.
        key_dim: ``Dk`` the score accepts, or ``None`` for any.
        is_dot_product: True if ``scores = scale * q @ k^T`` with ``scale`` given by
            :meth:`dot_product_scale`, so a mechanism may use the fused SDPA kernel.
    """

    is_dot_product = False
    recomputes_in_backward = False  # score_recomputing keeps no (B, Tq, Tk, *) tensor for the backward pass

    def __init__(self, query_dim: int | None = None, key_dim: int | None = None) -> None:
        super().__init__()
        self.query_dim = query_dim
        self.key_dim = key_dim

    def check_inputs(self, query: Tensor, keys: Tensor) -> None:
        """Raise ``ValueError`` on mismatched batch or feature sizes."""
        check_shape("keys", keys, (None, None, self.key_dim), "(B, Tk, Dk)")
        check_shape("query", query, (keys.size(0), None, self.query_dim), "(B, Tq, Dq)")

    def prepare_keys(self, keys: Tensor) -> Tensor:
        """Key-only work, done once per source. ``(B, Tk, Dk) -> (B, Tk, *)``."""
        return keys

    def score(self, query: Tensor, prepared_keys: Tensor) -> Tensor:
        """``(B, Tq, Dq)`` query and prepared keys ``-> (B, Tq, Tk)`` scores."""
        raise NotImplementedError

    def score_recomputing(self, query: Tensor, prepared_keys: Tensor) -> Tensor:
        """:meth:`score`, for chunked training: a score with ``recomputes_in_backward`` returns the same
        scores through an autograd function that recomputes its large intermediates in its backward
        pass instead of keeping them (the mechanisms then need no activation checkpointing)."""
        return self.score(query, prepared_keys)

    def forward(self, query: Tensor, keys: Tensor) -> Tensor:
        """Scores ``(B, Tq, Tk)`` of query ``(B, Tq, Dq)`` against keys ``(B, Tk, Dk)``."""
        self.check_inputs(query, keys)
        return self.score(query, self.prepare_keys(keys))


class DotScore(Score):
    """Luong et al. 2015, eq. (8) "dot": ``score(h_t, h_s) = h_t^T h_s``. Needs ``Dq == Dk``."""

    is_dot_product = True

    def check_inputs(self, query: Tensor, keys: Tensor) -> None:
        check_same_features(query, keys)

    def dot_product_scale(self, key_dim: int) -> float:
        return 1.0

    def score(self, query: Tensor, prepared_keys: Tensor) -> Tensor:
        return upcast(query) @ upcast(prepared_keys).transpose(-2, -1)  # (B, Tq, Tk), float32 for half


class ScaledDotScore(DotScore):
    """Vaswani et al. 2017, eq. (1): ``score(q, k) = q^T k / sqrt(d_k)``. Needs ``Dq == Dk``."""

    def dot_product_scale(self, key_dim: int) -> float:
        return 1.0 / math.sqrt(key_dim)

    def score(self, query: Tensor, prepared_keys: Tensor) -> Tensor:
        return super().score(query, prepared_keys) * self.dot_product_scale(prepared_keys.size(-1))


class GeneralScore(Score):
    """Luong et al. 2015, eq. (8) "general" (bilinear): ``score(h_t, h_s) = h_t^T W_a h_s``.

    ``prepare_keys`` computes ``W_a h_s``; ``score`` is then a dot product.

    Args:
        query_dim: ``Dq``. key_dim: ``Dk``. ``W_a`` is ``(Dq, Dk)``.
        bias: add a learned bias to ``W_a h_s`` (``h_t^T (W_a h_s + b)``).
    """

    def __init__(self, query_dim: int, key_dim: int, bias: bool = False, device=None, dtype=None) -> None:
        super().__init__(query_dim, key_dim)
        self.W_a = nn.Linear(key_dim, query_dim, bias=bias, device=device, dtype=dtype)

    def prepare_keys(self, keys: Tensor) -> Tensor:
        return self.W_a(keys)  # (B, Tk, Dq)

    def score(self, query: Tensor, prepared_keys: Tensor) -> Tensor:
        return upcast(query) @ upcast(prepared_keys).transpose(-2, -1)  # (B, Tq, Tk), float32 for half


class AdditiveScore(Score):
    """Bahdanau et al. 2015, eq. (6) and appendix A.1.2: ``e_ij = v_a^T tanh(W_a s_{i-1} + U_a h_j)``.

    This is also Luong et al. 2015's "concat" score ``v_a^T tanh(W_a [h_t; h_s])``: splitting
    the columns of ``W_a = [W_q | W_k]`` gives ``W_a [h_t; h_s] = W_q h_t + W_k h_s``, the
    same form with ``W_q = W_a`` and ``W_k = U_a`` above.

    ``prepare_keys`` computes ``U_a h_j`` (plus the bias) once per source. The score
    materialises ``(B, Tq, Tk, hidden_dim)``: use ``Attention(chunk_size=...)`` to bound it; in
    chunked training the score goes through :class:`AdditiveScores`, whose backward recomputes
    ``tanh(...)`` chunk by chunk instead of keeping it.

    Args:
        query_dim: ``Dq``. key_dim: ``Dk``. hidden_dim: size of ``v_a``.
    """

    def __init__(self, query_dim: int, key_dim: int, hidden_dim: int, device=None, dtype=None) -> None:
        super().__init__(query_dim, key_dim)
        self.W_a = nn.Linear(query_dim, hidden_dim, bias=False, device=device, dtype=dtype)
        self.U_a = nn.Linear(key_dim, hidden_dim, bias=True, device=device, dtype=dtype)
        self.v_a = nn.Linear(hidden_dim, 1, bias=False, device=device, dtype=dtype)

    def prepare_keys(self, keys: Tensor) -> Tensor:
        return self.U_a(keys)  # (B, Tk, H)

    @property
    def recomputes_in_backward(self) -> bool:
        """True for this score; a subclass that scores more than ``q_i + k_j`` (it overrides :meth:`score`,
        e.g. ``LocationAwareScore``) is not what :class:`AdditiveScores` computes, so its chunks checkpoint."""
        return type(self).score is AdditiveScore.score

    def score(self, query: Tensor, prepared_keys: Tensor) -> Tensor:
        hidden = torch.tanh(self.W_a(query)[:, :, None, :] + prepared_keys[:, None, :, :])  # (B, Tq, Tk, H)
        return self.v_a(hidden).squeeze(-1)  # (B, Tq, Tk)

    def score_recomputing(self, query: Tensor, prepared_keys: Tensor) -> Tensor:
        return AdditiveScores.apply(self.W_a(query), prepared_keys, self.v_a.weight[0])  # (B, Tq, Tk)


class AdditiveScores(torch.autograd.Function):
    """``e_ij = v^T tanh(q_i + k_j)`` (Bahdanau et al. 2015, eq. 6, with ``q = W_a s``, ``k = U_a h``)
    keeping only ``q``, ``k`` and ``v`` for the backward pass, which recomputes ``tanh(q_i + k_j)``.

    Autograd would keep two ``(B, Tq, Tk, H)`` tensors; this keeps ``O((Tq + Tk) H)``, at the price
    of one more add and tanh in the backward pass. The gradients, with ``t = tanh(q_i + k_j)`` and
    ``g = dL/de``: ``dv = Σ_ij g_ij t_ij``, ``dq_i = Σ_j g_ij v ⊙ (1 - t_ij²)``, ``dk_j = Σ_i (same)``.
    Shapes: q ``(B, Tq, H)``, k ``(B, Tk, H)``, v ``(H,)`` -> ``(B, Tq, Tk)``.
    """

    @staticmethod
    def forward(ctx, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        ctx.save_for_backward(q, k, v)
        return torch.tanh_(q[:, :, None, :] + k[:, None, :, :]) @ v

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        q, k, v = ctx.saved_tensors
        hidden = torch.tanh_(q[:, :, None, :] + k[:, None, :, :])  # t: (B, Tq, Tk, H), recomputed
        grad_v = (grad.reshape(1, -1) @ hidden.reshape(-1, hidden.size(-1))).reshape(-1)  # Σ_ij g_ij t_ij
        grad_hidden = torch.ops.aten.tanh_backward(grad[..., None] * v, hidden)  # g_ij v ⊙ (1 - t_ij²)
        return grad_hidden.sum(2), grad_hidden.sum(1), grad_v


class CosineScore(Score):
    """Graves et al. 2014, eqs. (5)-(6): content addressing ``beta * K[k, M_i]`` with cosine ``K``.

    ``K[u, v] = u . v / (max(||u||, eps) max(||v||, eps))``: each norm is clamped below by
    ``eps``, as ``F.cosine_similarity`` does, so a zero key or a zero memory row gives score 0,
    never NaN, and two short vectors keep their true cosine. Half-precision inputs are scored
    in float32 (``eps = 1e-8`` is 0 in float16). Needs ``Dq == Dk``.

    Args:
        strength: the key strength ``beta`` used when :meth:`forward` gets none.
        eps: lower bound of each norm ``||u||``, ``||v||``.
    """

    def __init__(self, strength: float = 1.0, eps: float = 1e-8) -> None:
        super().__init__()
        self.strength = strength
        self.eps = eps

    def check_inputs(self, query: Tensor, keys: Tensor) -> None:
        check_same_features(query, keys)

    def prepare_keys(self, keys: Tensor) -> Tensor:
        keys = upcast(keys)  # (B, Tk, Dk), float32 for half
        return torch.cat([keys, torch.linalg.vector_norm(keys, dim=-1, keepdim=True)], dim=-1)  # (B, Tk, Dk + 1)

    def cosine(self, query: Tensor, keys: Tensor, key_norms: Tensor) -> Tensor:
        """Eq. (6), ``K[u, v] = u . v / (max(||u||, eps) max(||v||, eps))``, for every query and key.

        Args:
            query: ``(B, Tq, D)``. keys: ``(B, Tk, D)``. key_norms: ``||keys||``, ``(B, Tk)``.

        Returns:
            cosine similarities ``(B, Tq, Tk)`` in ``[-1, 1]`` (float32 for half inputs); 0 where
            a norm is 0. The gradient passes through a norm only where it is at least ``eps``.
        """
        query, keys, key_norms = upcast(query), upcast(keys), upcast(key_norms)
        dots = query @ keys.transpose(-2, -1)  # (B, Tq, Tk)
        query_norms = torch.linalg.vector_norm(query, dim=-1).clamp_min(self.eps)  # max(||u||, eps): (B, Tq)
        norms = query_norms[..., None] * key_norms.clamp_min(self.eps)[:, None, :]  # (B, Tq, Tk)
        return dots / norms

    def score(self, query: Tensor, prepared_keys: Tensor, strength: Tensor | None = None) -> Tensor:
        keys, key_norms = prepared_keys[..., :-1], prepared_keys[..., -1]  # (B, Tk, Dk), (B, Tk)
        cosine = self.cosine(query, keys, key_norms)  # (B, Tq, Tk)
        if strength is None:
            return self.strength * cosine
        return strength.reshape(*strength.shape, *[1] * (cosine.dim() - strength.dim())) * cosine

    def forward(self, query: Tensor, keys: Tensor, strength: Tensor | None = None) -> Tensor:
        """Scores ``(B, Tq, Tk)``; ``strength`` (beta) is ``(B,)`` or ``(B, Tq)``, default ``self.strength``."""
        self.check_inputs(query, keys)
        if strength is not None and strength.shape not in ((query.size(0),), query.shape[:2]):
            raise ValueError(
                f"strength: expected (B,) or (B, Tq) = {tuple(query.shape[:2])}, got {tuple(strength.shape)}"
            )
        return self.score(query, self.prepare_keys(keys), strength)


class LocationScore(Score):
    """Luong et al. 2015, eq. (9) "location": ``a_t = softmax(W_a h_t)``.

    The scores depend on the query only: ``W_a`` maps ``h_t`` to one score per source
    position up to ``max_source_len``, cropped to the ``Tk`` keys at hand (so the softmax,
    with any padding mask, runs over the positions that exist).

    Args:
        query_dim: ``Dq``. max_source_len: the longest source it can score.
    """

    def __init__(self, query_dim: int, max_source_len: int, device=None, dtype=None) -> None:
        super().__init__(query_dim, None)
        self.max_source_len = max_source_len
        self.W_a = nn.Linear(query_dim, max_source_len, device=device, dtype=dtype)

    def check_inputs(self, query: Tensor, keys: Tensor) -> None:
        super().check_inputs(query, keys)
        if keys.size(1) > self.max_source_len:
            raise ValueError(
                f"keys: expected at most max_source_len = {self.max_source_len} positions, got {keys.size(1)}"
            )

    def prepare_keys(self, keys: Tensor) -> Tensor:
        return keys[..., :0]  # (B, Tk, 0): only the number of keys matters

    def score(self, query: Tensor, prepared_keys: Tensor) -> Tensor:
        return F.linear(query, self.W_a.weight[: prepared_keys.size(1)], self.W_a.bias[: prepared_keys.size(1)])
