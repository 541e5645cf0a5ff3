"""Multi-head attention of Vaswani et al. 2017, §3.2.2:

    MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O
    head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V),   Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V   (eq. 1)

Self-attention is ``Q = K = V = x``; cross-attention takes keys/values from another
sequence (the encoder output). With ``need_weights=False`` the heads run through
``F.scaled_dot_product_attention`` and ``(B, H, Tq, Tk)`` is never materialised.

Incremental decoding keeps a :class:`KVCache` per layer: each new query step projects only
its own key and value, appends them, and attends to everything cached.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnzoo.attention.functional import (
    AttentionOutput,
    attend,
    causal_mask,
    check_mask,
    check_shape,
    masked_softmax,
)
from attnzoo.attention.soft import fused_dot_product


class KVCache:
    """Projected keys and values of one attention layer, ``(B, H, T, head_dim)`` each.

    Args:
        static: the keys/values come from a fixed memory (cross-attention over the encoder
            output): they are projected on the first call and reused afterwards. Otherwise
            (self-attention) every call appends its new keys/values.
    """

    def __init__(self, static: bool = False) -> None:
        self.static = static
        self.keys: Tensor | None = None
        self.values: Tensor | None = None

    def __len__(self) -> int:
        return 0 if self.keys is None else self.keys.size(2)

    @property
    def is_filled(self) -> bool:
        return self.keys is not None

    def extend(self, keys: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        """Append ``(B, H, T_new, hd)`` keys/values; return all ``(B, H, T, hd)`` so far."""
        if self.keys is None:
            self.keys, self.values = keys, values
        else:
            self.keys = torch.cat([self.keys, keys], dim=2)
            self.values = torch.cat([self.values, values], dim=2)
        return self.keys, self.values

    def reorder(self, batch_indices: Tensor) -> None:
        """Keep the batch rows ``batch_indices`` ``(B',)`` (beam search reorders hypotheses)."""
        if self.keys is not None:
            self.keys = self.keys.index_select(0, batch_indices)
            self.values = self.values.index_select(0, batch_indices)


class MultiHeadAttention(nn.Module):
    """Vaswani et al. 2017 multi-head attention; batch first, boolean masks True = may attend.

    Args:
        embed_dim: ``E``, the query size and the output size.
        num_heads: ``H``; ``E`` must be divisible by ``H`` (``head_dim = E / H``).
        kdim: key size ``Dk`` (default ``E``). vdim: value size ``Dv`` (default ``E``).
        dropout: dropout on the attention weights, in training mode.
        bias: biases on the four projections.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        *,
        kdim: int | None = None,
        vdim: int | None = None,
        dropout: float = 0.0,
        bias: bool = True,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim: expected a multiple of num_heads = {num_heads}, got {embed_dim}")
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.kdim = embed_dim if kdim is None else kdim
        self.vdim = embed_dim if vdim is None else vdim
        self.dropout = dropout
        factory = {"device": device, "dtype": dtype}
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **factory)  # W^Q for all heads
        self.k_proj = nn.Linear(self.kdim, embed_dim, bias=bias, **factory)  # W^K
        self.v_proj = nn.Linear(self.vdim, embed_dim, bias=bias, **factory)  # W^V
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **factory)  # W^O
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for projection in (self.q_proj, self.k_proj, self.v_proj, self.out_proj):
            nn.init.xavier_uniform_(projection.weight)
            if projection.bias is not None:
                nn.init.zeros_(projection.bias)

    def split_heads(self, x: Tensor) -> Tensor:
        """``(B, T, E) -> (B, H, T, head_dim)``."""
        batch, length, _ = x.shape
        return x.view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)

    def project_keys_values(
        self, key: Tensor, value: Tensor, cache: KVCache | None, batch: int
    ) -> tuple[Tensor, Tensor]:
        """Projected keys and values ``(B, H, Tk, hd)`` for a batch of ``batch`` queries, through the cache."""
        if cache is not None and cache.is_filled:
            check_shape("cache", cache.keys, (batch, self.num_heads, None, self.head_dim), "(B, H, T, head_dim)")
            if cache.static:
                return cache.keys, cache.values
        check_shape("key", key, (batch, None, self.kdim), "(B, Tk, Dk)")
        check_shape("value", value, (key.size(0), key.size(1), self.vdim), "(B, Tk, Dv)")
        keys = self.split_heads(self.k_proj(key))  # (B, H, Tk_new, hd)
        values = self.split_heads(self.v_proj(value))  # (B, H, Tk_new, hd)
        return (keys, values) if cache is None else cache.extend(keys, values)

    def forward(
        self,
        query: Tensor,
        key: Tensor | None = None,
        value: Tensor | None = None,
        *,
        mask: Tensor | None = None,
        causal: bool = False,
        need_weights: bool = True,
        cache: KVCache | None = None,
    ) -> AttentionOutput:
        """Multi-head attention from ``query`` to ``key``/``value``.

        Args:
            query: ``(B, Tq, E)``.
            key: ``(B, Tk, Dk)``; default ``query`` (self-attention). May be ``None`` with a
                filled static cache.
            value: ``(B, Tk, Dv)``; default ``key``.
            mask: bool broadcastable to ``(B, Tq, Tk)`` (or ``(B, H, Tq, Tk)``), True = may attend;
                for key padding pass ``lengths_to_mask(lengths)[:, None, :]``. ``Tk`` counts
                the cached keys too.
            causal: query ``i`` attends only keys up to its own position (queries are the last
                ``Tq`` positions of the ``Tk`` keys, as in cached decoding).
            need_weights: also return the per-head weights; False takes the fused SDPA path.
            cache: a :class:`KVCache` for incremental decoding.

        Returns:
            ``AttentionOutput(context (B, Tq, E), weights (B, H, Tq, Tk) or None)``.
        """
        check_shape("query", query, (None, None, self.embed_dim), "(B, Tq, E)")
        key = query if key is None else key
        value = key if value is None else value
        batch, tq = query.size(0), query.size(1)
        keys, values = self.project_keys_values(key, value, cache, batch)  # (B, H, Tk, hd)
        tk = keys.size(2)
        queries = self.split_heads(self.q_proj(query))  # (B, H, Tq, hd)
        sdpa_causal = causal and mask is None and tq == tk and not need_weights  # SDPA's own flag suffices
        mask = self.head_mask(mask, causal and not sdpa_causal, batch, tq, tk, query.device)  # (B|1, H|1, Tq, Tk)
        dropout = self.dropout if self.training else 0.0
        scale = 1.0 / math.sqrt(self.head_dim)
        if need_weights:
            weights = masked_softmax(queries @ keys.transpose(-2, -1) * scale, mask)  # (B, H, Tq, Tk)
            context = attend(F.dropout(weights, dropout), values)  # (B, H, Tq, hd)
        else:
            weights = None
            context = fused_dot_product(queries, keys, values, mask, scale, dropout=dropout, is_causal=sdpa_causal)
        context = context.transpose(1, 2).reshape(batch, tq, self.embed_dim)  # (B, Tq, E)
        return AttentionOutput(self.out_proj(context), weights)

    def head_mask(
        self, mask: Tensor | None, causal: bool, batch: int, tq: int, tk: int, device: torch.device
    ) -> Tensor | None:
        """Check ``mask``, give it a head dim, and combine it with the causal mask if asked."""
        if mask is not None and mask.dim() == 4:
            check_mask(mask, torch.Size((batch, self.num_heads, tq, tk)))
        elif mask is not None:
            check_mask(mask, torch.Size((batch, tq, tk)))
            mask = mask.unsqueeze(-3) if mask.dim() == 3 else mask  # (B, 1, Tq, Tk)
        if not causal:
            return mask
        causal_part = causal_mask(tq, tk, device=device)  # (Tq, Tk)
        return causal_part if mask is None else mask & causal_part
