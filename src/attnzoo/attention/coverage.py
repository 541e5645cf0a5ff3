"""Coverage attention and the coverage loss (See et al. 2017, §2.3; Tu et al. 2016).

The coverage vector is the sum of the attention distributions of all previous decoder steps,

    c^t = sum_{t' < t} a^{t'}                                   (eq. 10; c^0 = 0)

a (not normalised) record of how much attention each source word has received so far. It is an
extra input of the additive score, so the mechanism can see what it has already covered:

    e_i^t = v^T tanh(W_h h_i + W_s s_t + w_c c_i^t + b_attn)     (eq. 11)

and the coverage loss penalises attending again to what is already covered:

    covloss_t = sum_i min(a_i^t, c_i^t)                          (eq. 12)

bounded by 1 (``sum_i a_i^t = 1``), unlike Tu et al.'s or machine translation's coverage losses.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from attnzoo.attention.functional import AttentionOutput, check_shape, finish_output, standardise_inputs
from attnzoo.attention.scores import AdditiveScore
from attnzoo.attention.soft import Attention


class CoverageAttention(Attention):
    """Additive attention whose score also reads the coverage vector (See et al. 2017, eq. 11).

    ``W_h h_i + b_attn`` is the score's ``U_a h_j`` (:class:`AdditiveScore`, prepared once per
    source), ``W_s s_t`` its ``W_a`` applied to the query; this module adds ``w_c c_i^t`` to the
    prepared keys before the ``tanh``. ``w_c`` starts at zero, so a model given coverage in a last
    training phase (as the paper does) starts that phase computing exactly what it computed before.

    Args:
        score: the :class:`AdditiveScore` (``v``, ``W_h``, ``W_s``, ``b_attn``).
        chunk_size: as :class:`Attention`.
    """

    def __init__(self, score: AdditiveScore, chunk_size: int | None = None) -> None:
        if not isinstance(score, AdditiveScore):
            raise ValueError(f"score: expected an AdditiveScore (eq. 11 is additive), got {type(score).__name__}")
        super().__init__(score, chunk_size)
        self.w_c = nn.Linear(1, score.v_a.in_features, bias=False)  # w_c: one vector of the attention size
        nn.init.zeros_(self.w_c.weight)

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        values: Tensor | None = None,
        *,
        coverage: Tensor,
        mask: Tensor | None = None,
        need_weights: bool = True,
        prepared_keys: Tensor | None = None,
    ) -> AttentionOutput:
        """Attend from each query to the keys, the score reading the coverage ``c^t``.

        Args:
            query: ``(B, Tq, Dq)`` or ``(B, Dq)``: the decoder state ``s_t``.
            keys: ``(B, Tk, Dk)``: the encoder states ``h_i``. values: ``(B, Tk, Dv)``; default keys.
            coverage: ``(B, Tk)``: ``c^t``, the same for every query.
            mask: as :class:`Attention` (True = may attend).
            prepared_keys: ``self.prepare_keys(keys)`` (``W_h h_i + b_attn``), once per source.

        Returns:
            ``AttentionOutput(context, weights)`` as :class:`Attention`.
        """
        query, keys, values, mask, single = standardise_inputs(self.score, query, keys, values, mask)
        check_shape("coverage", coverage, (keys.size(0), keys.size(1)), "(B, Tk)")
        prepared = self.score.prepare_keys(keys) if prepared_keys is None else prepared_keys  # (B, Tk, A)
        prepared = prepared + self.w_c(coverage[..., None].to(prepared.dtype))  # + w_c c_i^t: (B, Tk, A)
        context, weights = self.attend_in_chunks(query, prepared, values, mask)
        return finish_output(context, weights if need_weights else None, single)


def coverage_loss(weights: Tensor, coverage: Tensor, mask: Tensor | None = None) -> Tensor:
    """See et al. 2017, eq. (12): ``covloss_t = sum_i min(a_i^t, c_i^t)`` for every step.

    Args:
        weights: ``(..., Tk)`` attention distributions ``a^t``.
        coverage: ``(..., Tk)`` coverage vectors ``c^t`` (the sum of the earlier steps' weights).
        mask: bool ``(..., Tk)``, True at the positions that count (default: all).

    Returns:
        ``(...)``: the loss of each step (in ``[0, 1]`` for distributions summing to 1).
    """
    if weights.shape != coverage.shape:
        raise ValueError(f"coverage: expected the weights' shape {tuple(weights.shape)}, got {tuple(coverage.shape)}")
    overlap = torch.minimum(weights, coverage)
    if mask is not None:
        overlap = overlap.masked_fill(~mask, 0.0)
    return overlap.sum(dim=-1)
