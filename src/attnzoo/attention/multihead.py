"""Multi-head attention of Vaswani et al. 2017, §3.2.2:

    MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O
    head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V),   Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V   (eq. 1)

The score ``Q K^T / sqrt(d_k)`` is the default; any score module can take its place in every
head (``softmax(score(Q W_i^Q, K W_i^K)) V W_i^V``). Self-attention is ``Q = K = V = x``;
cross-attention takes keys/values from another sequence (the encoder output). With a
dot-product score and ``need_weights=False`` the heads run through
``F.scaled_dot_product_attention`` and ``(B, H, Tq, Tk)`` is never materialised.

Incremental decoding keeps a :class:`KVCache` per layer: each new query step projects only
its own key and value, appends them, and attends to everything cached.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnzoo.attention.functional import (
    AttentionOutput,
    attend,
    causal_mask,
    check_finite,
    check_mask,
    check_shape,
    fused_dot_product,
    in_query_chunks,
    lean_chunks,
    masked_softmax,
    rows_of,
)
from attnzoo.attention.scores import ScaledDotScore, Score


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

    Every head scores its projected queries against its projected keys with the same
    ``score`` module (eq. (1)'s ``Q K^T / sqrt(d_k)`` by default; any
    :class:`~attnzoo.attention.scores.Score` of ``head_dim`` features, e.g.
    ``AdditiveScore(head_dim, head_dim, hidden)`` for Bahdanau's score in each head).

    Args:
        embed_dim: ``E``, the query size and the output size.
        num_heads: ``H``; ``E`` must be divisible by ``H`` (``head_dim = E / H``).
        score: the score of each head, shared by the heads; default ``ScaledDotScore()``.
            A dot-product score (``score.is_dot_product``) runs through
            ``F.scaled_dot_product_attention`` when no weights are asked for.
        kdim: key size ``Dk`` (default ``E``). vdim: value size ``Dv`` (default ``E``).
        dropout: dropout on the attention weights, in training mode.
        bias: biases on the four projections.
        chunk_size: scores of other than dot products are computed for at most this many
            queries at a time, so their intermediates stay ``O(B * H * chunk_size * Tk * ...)``
            (in training too: each chunk is recomputed in the backward pass);
            the results equal the unchunked ones. ``None``: all queries at once.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        *,
        score: Score | None = None,
        kdim: int | None = None,
        vdim: int | None = None,
        dropout: float = 0.0,
        bias: bool = True,
        chunk_size: int | None = None,
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
        self.chunk_size = chunk_size
        self.score = ScaledDotScore() if score is None else score
        for name in ("query_dim", "key_dim"):
            size = getattr(self.score, name)
            if size not in (None, self.head_dim):
                raise ValueError(f"score: expected {name} = head_dim = {self.head_dim} (or None), got {size}")
        factory = {"device": device, "dtype": dtype}
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **factory)  # W^Q for all heads
        self.k_proj = nn.Linear(self.kdim, embed_dim, bias=bias, **factory)  # W^K
        self.v_proj = nn.Linear(self.vdim, embed_dim, bias=bias, **factory)  # W^V
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **factory)  # W^O
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform projections with zero biases (the score keeps its own initialisation)."""
        for projection in (self.q_proj, self.k_proj, self.v_proj, self.out_proj):
            nn.init.xavier_uniform_(projection.weight)
            if projection.bias is not None:
                nn.init.zeros_(projection.bias)

    def split_heads(self, x: Tensor) -> Tensor:
        """``(B, T, E) -> (B, H, T, head_dim)``."""
        batch, length, _ = x.shape
        return x.view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)

    def project_keys_values(
        self, keys: Tensor, values: Tensor, cache: KVCache | None, batch: int
    ) -> tuple[Tensor, Tensor]:
        """Projected keys and values ``(B, H, Tk, hd)`` for a batch of ``batch`` queries, through the cache."""
        if cache is not None and cache.is_filled:
            check_shape("cache", cache.keys, (batch, self.num_heads, None, self.head_dim), "(B, H, T, head_dim)")
            if cache.static:
                return cache.keys, cache.values
        check_shape("keys", keys, (batch, None, self.kdim), "(B, Tk, Dk)")
        check_shape("values", values, (keys.size(0), keys.size(1), self.vdim), "(B, Tk, Dv)")
        head_keys = self.split_heads(self.k_proj(keys))  # K W^K: (B, H, Tk_new, hd)
        head_values = self.split_heads(self.v_proj(values))  # V W^V: (B, H, Tk_new, hd)
        return (head_keys, head_values) if cache is None else cache.extend(head_keys, head_values)

    def forward(
        self,
        query: Tensor,
        keys: Tensor | None = None,
        values: Tensor | None = None,
        *,
        mask: Tensor | None = None,
        need_weights: bool = True,
        causal: bool = False,
        cache: KVCache | None = None,
    ) -> AttentionOutput:
        """Multi-head attention from ``query`` to ``keys``/``values`` (Vaswani et al. 2017, §3.2.2).

        Args:
            query: ``(B, Tq, E)``.
            keys: ``(B, Tk, Dk)``; default ``query`` (self-attention). May be ``None`` with a
                filled static cache.
            values: ``(B, Tk, Dv)``; default ``keys``.
            mask: bool broadcastable to ``(B, Tq, Tk)`` (or ``(B, H, Tq, Tk)``), True = may attend;
                for key padding pass ``lengths_to_mask(lengths)[:, None, :]``. ``Tk`` counts
                the cached keys too. A query with no allowed key gets zero heads.
            need_weights: also return the per-head weights; False takes the fused SDPA path
                for a dot-product score.
            causal: query ``i`` attends only keys up to its own position (queries are the last
                ``Tq`` positions of the ``Tk`` keys, as in cached decoding).
            cache: a :class:`KVCache` for incremental decoding.

        Returns:
            ``AttentionOutput(context (B, Tq, E), weights (B, H, Tq, Tk) or None)``.

        Raises:
            ValueError: on a wrong shape, or an inf or NaN in ``query``, ``keys`` or ``values``.
        """
        check_shape("query", query, (None, None, self.embed_dim), "(B, Tq, E)")
        check_finite("query", query)
        if not (cache is not None and cache.static and cache.is_filled):  # else keys/values are not read
            for name, given, previous in (("keys", keys, query), ("values", values, keys)):
                if given is not None and given is not previous:
                    check_finite(name, given)
        keys = query if keys is None else keys
        values = keys if values is None else values
        batch, tq = query.size(0), query.size(1)
        head_keys, head_values = self.project_keys_values(keys, values, cache, batch)  # (B, H, Tk, hd)
        tk = head_keys.size(2)
        queries = self.split_heads(self.q_proj(query))  # Q W^Q: (B, H, Tq, hd)
        fused = self.score.is_dot_product and not need_weights
        sdpa_causal = fused and causal and mask is None and tq == tk  # SDPA's own flag suffices
        mask = self.head_mask(mask, causal and not sdpa_causal, batch, tq, tk, query.device)  # (B|1, H|1, Tq, Tk)
        dropout = self.dropout if self.training else 0.0
        if fused:
            scale = self.score.dot_product_scale(self.head_dim)
            context = fused_dot_product(
                queries, head_keys, head_values, mask, scale, dropout=dropout, is_causal=sdpa_causal
            )  # (B, H, Tq, hd)
            weights = None
        else:
            context, weights = self.attend_heads(queries, head_keys, head_values, mask, dropout)
        context = context.transpose(1, 2).reshape(batch, tq, self.embed_dim)  # Concat(head_1..head_H): (B, Tq, E)
        return AttentionOutput(self.out_proj(context), weights if need_weights else None)  # W^O

    def attend_heads(
        self, queries: Tensor, keys: Tensor, values: Tensor, mask: Tensor | None, dropout: float
    ) -> tuple[Tensor, Tensor]:
        """Every head's ``softmax(score(q W_i^Q, k W_i^K)) (v W_i^V)``, ``chunk_size`` queries at a time.

        The heads are folded into the batch, ``(B * H, T, hd)``, for the score.

        Args:
            queries: ``(B, H, Tq, hd)``. keys: ``(B, H, Tk, hd)``. values: ``(B, H, Tk, hd)``.
            mask: bool broadcastable to ``(B, H, Tq, Tk)`` or ``None``. dropout: on the weights.

        Returns:
            context ``(B, H, Tq, hd)`` and weights ``(B, H, Tq, Tk)`` (before dropout), in the
            values' dtype; half-precision scores and softmax are computed in float32.
        """
        lean = lean_chunks(self.score, queries.size(2), self.chunk_size)
        weights_of = self.chunk_weights(queries, keys, mask, lean)

        def one_chunk(rows: slice) -> tuple[Tensor, Tensor]:
            weights = weights_of(rows).to(values.dtype)  # (B, H, c, Tk), float32 inside
            return attend(F.dropout(weights, dropout), values), weights  # (B, H, c, hd), (B, H, c, Tk)

        return in_query_chunks(one_chunk, queries.size(2), self.chunk_size, dim=2, checkpointed=not lean)

    def chunk_weights(
        self, queries: Tensor, keys: Tensor, mask: Tensor | None, lean: bool = False
    ) -> Callable[[slice], Tensor]:
        """``weights_of(rows)``: every head's ``softmax(score(q W_i^Q, k W_i^K))`` for the query rows ``rows``.

        The key-only work of the score is done once, here; the heads are folded into the batch,
        ``(B * H, T, hd)``, for the score. Also used by :func:`attnzoo.record_attention`.

        Args:
            queries: ``(B, H, Tq, hd)``. keys: ``(B, H, Tk, hd)``.
            mask: bool broadcastable to ``(B, H, Tq, Tk)`` or ``None``.
            lean: through ``score.score_recomputing`` (chunked training).

        Returns:
            a function of a slice of the ``Tq`` rows giving weights ``(B, H, rows, Tk)`` (float32 for half inputs).
        """
        batch, heads, tk = queries.size(0), queries.size(1), keys.size(2)
        flat_queries, flat_keys = queries.flatten(0, 1), keys.flatten(0, 1)  # (B*H, Tq, hd), (B*H, Tk, hd)
        self.score.check_inputs(flat_queries, flat_keys)
        prepared = self.score.prepare_keys(flat_keys)  # (B*H, Tk, *), once for every chunk
        score = self.score.score_recomputing if lean else self.score.score

        def weights_of(rows: slice) -> Tensor:
            scores = score(flat_queries[:, rows], prepared).view(batch, heads, -1, tk)  # (B, H, c, Tk)
            return masked_softmax(scores, rows_of(mask, rows))

        return weights_of

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
