"""Multi-dimensional (feature-wise) attention: one weight per key *and feature*.

Shen et al. 2018, *DiSAN: Directional Self-Attention Network*, §3 "multi-dimensional attention",
eq. (7): the score of key ``x_j`` for query ``q`` is a vector with one entry per feature,

    f(x_j, q) = W^T σ(W^(1) x_j + W^(2) q + b^(1)) + b                  (7)

and the softmax runs over the keys separately for each feature ``k``:

    p(z_k = j | x, q) = softmax_j( [f(x_j, q)]_k )                       (8)
    s_k = sum_j p(z_k = j | x, q) x_jk                                   (9)

so feature ``k`` of the context may come from another key than feature ``k'``: one scalar weight
per key (additive attention) must take every feature of a key in the same proportion. DiSAN's
source2token pooling (eq. 15) is eq. (7) without a query; a model passes a learned query vector.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from attnzoo.attention.functional import (
    AttentionOutput,
    check_shape,
    finish_output,
    masked_softmax,
    query_chunks,
    rows_of,
    standardise_inputs,
)


class MultiDimensionalAttention(nn.Module):
    """Feature-wise additive attention (Shen et al. 2018, eqs. 7-9): weights ``(B, Tq, Tk, Dv)``.

    Args:
        query_dim: ``Dq``. key_dim: ``Dk``. value_dim: ``Dv``, the features scored one by one
            (``W`` is ``(hidden, Dv)``).
        hidden: size of ``σ(W^(1) x_j + W^(2) q + b^(1))``.
        activation: ``σ`` (DiSAN: ELU).
        chunk_size: at most this many queries at a time (the hidden tensor is
            ``(B, chunk, Tk, hidden)``); ``None``: all at once. Results do not depend on it.
    """

    def __init__(
        self,
        query_dim: int,
        key_dim: int,
        value_dim: int,
        hidden: int,
        activation: nn.Module | None = None,
        chunk_size: int | None = None,
    ) -> None:
        super().__init__()
        self.query_dim, self.key_dim, self.value_dim = query_dim, key_dim, value_dim
        self.W1 = nn.Linear(key_dim, hidden)  # W^(1), b^(1)
        self.W2 = nn.Linear(query_dim, hidden, bias=False)  # W^(2)
        self.W = nn.Linear(hidden, value_dim)  # W^T, b: one score per feature
        self.activation = nn.ELU() if activation is None else activation
        self.chunk_size = chunk_size

    def check_inputs(self, query: Tensor, keys: Tensor) -> None:
        """Raise ``ValueError`` on a query ``(B, Tq, Dq)`` or keys ``(B, Tk, Dk)`` of the wrong sizes."""
        check_shape("keys", keys, (None, None, self.key_dim), "(B, Tk, Dk)")
        check_shape("query", query, (keys.size(0), None, self.query_dim), "(B, Tq, Dq)")

    def feature_scores(self, query: Tensor, prepared_keys: Tensor) -> Tensor:
        """Eq. (7): ``f(x_j, q_i)`` ``(B, Tq, Tk, Dv)``.

        From query ``(B, Tq, Dq)`` and ``prepared_keys`` = ``W^(1) x_j + b^(1)`` ``(B, Tk, h)``.
        """
        hidden = self.activation(prepared_keys[:, None] + self.W2(query)[:, :, None])  # (B, Tq, Tk, h)
        return self.W(hidden)  # (B, Tq, Tk, Dv)

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        values: Tensor | None = None,
        *,
        mask: Tensor | None = None,
        need_weights: bool = True,
    ) -> AttentionOutput:
        """Attend from each query to the keys, feature by feature.

        Args:
            query: ``(B, Tq, Dq)``, or ``(B, Dq)`` for a single query.
            keys: ``(B, Tk, Dk)``.
            values: ``(B, Tk, Dv)``; default ``keys`` (then ``Dk`` must be ``Dv``).
            mask: bool broadcastable to ``(B, Tq, Tk)`` (``(B, Tk)`` for a single query); True =
                may attend. A query with no allowed key gets zero weights and a zero context.
            need_weights: return the weights.

        Returns:
            ``AttentionOutput(context (B, Tq, Dv), weights (B, Tq, Tk, Dv) or None)``, each
            ``weights[b, i, :, k]`` summing to 1 over the allowed keys; for a single query
            ``(B, Dv)`` and ``(B, Tk, Dv)``.
        """
        query, keys, values, mask, single = standardise_inputs(self, query, keys, values, mask)
        check_shape("values", values, (keys.size(0), keys.size(1), self.value_dim), "(B, Tk, Dv)")
        prepared = self.W1(keys)  # (B, Tk, h): W^(1) x_j + b^(1), once for every query
        contexts, all_weights = [], []
        for rows in query_chunks(query.size(1), self.chunk_size):
            scores = self.feature_scores(query[:, rows], prepared)  # (B, chunk, Tk, Dv)
            row_mask = rows_of(mask, rows)
            feature_mask = None if row_mask is None else row_mask[..., None]  # (B, chunk | 1, Tk, 1)
            weights = masked_softmax(scores, feature_mask, dim=-2)  # eq. (8): over keys, per feature
            contexts.append((weights * values[:, None]).sum(dim=-2))  # eq. (9): (B, chunk, Dv)
            all_weights.append(weights)
        context, weights = torch.cat(contexts, dim=1), torch.cat(all_weights, dim=1)
        return finish_output(context, weights if need_weights else None, single)
