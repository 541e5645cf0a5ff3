"""Soft (global) attention: score, masked softmax, weighted sum.

Bahdanau et al. 2015, eqs. (5)-(6); Luong et al. 2015, eq. (7); Xu et al. 2015, §4.2
("deterministic soft attention"):

    scores_ij  = score(q_i, k_j)                       (any Score module)
    weights_ij = exp(scores_ij) / sum_j' exp(scores_ij')   over the allowed keys
    context_i  = sum_j weights_ij v_j
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from attnzoo.attention.functional import (
    AttentionOutput,
    attend,
    finish_output,
    fused_dot_product,
    in_query_chunks,
    lean_chunks,
    masked_softmax,
    rows_of,
    standardise_inputs,
)
from attnzoo.attention.scores import Score


class Attention(nn.Module):
    """Global soft attention over all keys with a pluggable score function.

    Args:
        score: a :class:`~attnzoo.attention.scores.Score` (``AdditiveScore`` for Bahdanau,
            ``GeneralScore`` for Luong, ...).
        chunk_size: process at most this many queries at a time, so the score's
            intermediate tensors stay ``O(B * chunk_size * Tk * ...)``, in training too (each
            chunk is recomputed in the backward pass); results are the same as unchunked. ``None``: all queries at once.

    Dot-product scores with ``need_weights=False`` run through
    ``F.scaled_dot_product_attention`` and never materialise ``(B, Tq, Tk)``.
    """

    def __init__(self, score: Score, chunk_size: int | None = None) -> None:
        super().__init__()
        self.score = score
        self.chunk_size = chunk_size

    def prepare_keys(self, keys: Tensor) -> Tensor:
        """Key-only work of the score, to pass as ``prepared_keys`` at every decoding step."""
        return self.score.prepare_keys(keys)

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        values: Tensor | None = None,
        *,
        mask: Tensor | None = None,
        need_weights: bool = True,
        prepared_keys: Tensor | None = None,
    ) -> AttentionOutput:
        """Attend from each query to the keys.

        Args:
            query: ``(B, Tq, Dq)``, or ``(B, Dq)`` for a single query.
            keys: ``(B, Tk, Dk)``.
            values: ``(B, Tk, Dv)``; default ``keys``.
            mask: bool broadcastable to ``(B, Tq, Tk)`` (``(B, Tk)`` for a single query);
                True = may attend. A query with no allowed key gets zero weights and context.
            need_weights: return the weights; False allows the fused kernel.
            prepared_keys: ``self.prepare_keys(keys)``, computed once per source.

        Returns:
            ``AttentionOutput(context (B, Tq, Dv), weights (B, Tq, Tk) or None)``;
            for a single query ``(B, Dv)`` and ``(B, Tk)``.
        """
        query, keys, values, mask, single = standardise_inputs(self.score, query, keys, values, mask)
        if self.score.is_dot_product and not need_weights and prepared_keys is None:
            scale = self.score.dot_product_scale(keys.size(-1))
            context = fused_dot_product(query, keys, values, mask, scale)
            return finish_output(context, None, single)
        prepared = self.score.prepare_keys(keys) if prepared_keys is None else prepared_keys
        context, weights = self.attend_in_chunks(query, prepared, values, mask)
        return finish_output(context, weights if need_weights else None, single)

    def attend_in_chunks(
        self, query: Tensor, prepared_keys: Tensor, values: Tensor, mask: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """Score, softmax and weighted sum, ``chunk_size`` queries at a time.

        Half-precision scores and softmax are computed in float32; the weights are cast to
        ``values.dtype``. In training each chunk is recomputed in the backward pass
        (:func:`~attnzoo.attention.functional.in_query_chunks`).
        Returns context ``(B, Tq, Dv)`` and weights ``(B, Tq, Tk)``.
        """

        lean = lean_chunks(self.score, query.size(1), self.chunk_size)
        weights_of = self.chunk_weights(query, prepared_keys, mask, lean)

        def one_chunk(rows: slice) -> tuple[Tensor, Tensor]:
            weights = weights_of(rows).to(values.dtype)  # (B, chunk, Tk), in the input dtype
            return attend(weights, values), weights  # (B, chunk, Dv), (B, chunk, Tk)

        return in_query_chunks(one_chunk, query.size(1), self.chunk_size, dim=1, checkpointed=not lean)

    def chunk_weights(
        self, query: Tensor, prepared_keys: Tensor, mask: Tensor | None, lean: bool = False
    ) -> Callable[[slice], Tensor]:
        """``weights_of(rows)``: the weights ``(B, rows, Tk)`` of the query rows ``rows`` (float32 for half).

        Args: query ``(B, Tq, Dq)``; prepared_keys ``self.prepare_keys(keys)``; mask bool broadcastable
        to ``(B, Tq, Tk)`` or ``None``; lean: through ``score.score_recomputing`` (chunked training).
        Also used by :func:`attnzoo.record_attention`.
        """
        score = self.score.score_recomputing if lean else self.score.score

        def weights_of(rows: slice) -> Tensor:
            scores = score(query[:, rows], prepared_keys)  # (B, chunk, Tk), float32 for half
            return masked_softmax(scores, rows_of(mask, rows))

        return weights_of
