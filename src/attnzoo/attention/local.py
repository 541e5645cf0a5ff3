"""Local attention of Luong et al. 2015, §3.2: attend to a window ``[p_t - D, p_t + D]``.

Two ways to choose the window centre ``p_t`` for the query of target step ``t``:

- local-m (monotonic): ``p_t = t``, and the weights are the softmax of eq. (7) inside the
  window (source and target assumed roughly aligned).
- local-p (predictive), eq. (9): ``p_t = S * sigmoid(v_p^T tanh(W_p h_t))`` with ``S`` the
  source length, and eq. (10): the softmax weights inside the window are multiplied by a
  Gaussian ``exp(-(s - p_t)^2 / (2 sigma^2))`` with ``sigma = D / 2``, so gradients reach
  ``p_t``. As in the paper the product is not renormalised: the weights of a query sum to
  at most 1.

Keys outside the window, and keys at or beyond the source length ``S``, are masked; the scores
are computed for all keys and then masked, which keeps the code short (the window saves no
compute here). Positions, ``p_t`` and the Gaussian are computed in float32 at least: in
bfloat16 the integers above 256 are not all representable (above 2048 in float16).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from attnzoo.attention.functional import (
    AttentionOutput,
    attend,
    check_shape,
    finish_output,
    masked_softmax,
    standardise_inputs,
    upcast,
)
from attnzoo.attention.scores import Score


class LocalAttention(nn.Module):
    """Luong et al. 2015 local attention, local-m or local-p.

    Args:
        score: a :class:`~attnzoo.attention.scores.Score` giving ``score(h_t, h_s)``.
        mode: ``"monotonic"`` (local-m) or ``"predictive"`` (local-p).
        window: the half-width ``D``; the window has ``2D + 1`` positions.
        query_dim: ``Dq``, needed by local-p for ``W_p``.
        hidden_dim: rows of ``W_p`` (local-p); default ``query_dim``.
    """

    def __init__(
        self,
        score: Score,
        mode: Literal["monotonic", "predictive"] = "predictive",
        window: int = 10,
        query_dim: int | None = None,
        hidden_dim: int | None = None,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        if mode not in ("monotonic", "predictive"):
            raise ValueError(f"mode: expected 'monotonic' or 'predictive', got {mode!r}")
        if window < 1:
            raise ValueError(f"window: expected a half-width D >= 1, got {window}")
        self.score = score
        self.mode = mode
        self.window = window
        if mode == "predictive":
            if query_dim is None:
                raise ValueError("query_dim: local-p needs the query size to build W_p, got None")
            hidden_dim = query_dim if hidden_dim is None else hidden_dim
            self.W_p = nn.Linear(query_dim, hidden_dim, bias=False, device=device, dtype=dtype)
            self.v_p = nn.Linear(hidden_dim, 1, bias=False, device=device, dtype=dtype)

    def centres(self, query: Tensor, source_lengths: Tensor, offset: int) -> Tensor:
        """Window centres ``p_t`` ``(B, Tq)``: eq. (9) for local-p, ``t`` for local-m.

        ``t = offset + i`` for the ``i``-th query, so a decoder that feeds one step at a time
        passes its step index as ``offset``. In float32 for half-precision queries (else the
        query's dtype), so every position is exact.
        """
        dtype = position_dtype(query.dtype)
        if self.mode == "monotonic":
            steps = offset + torch.arange(query.size(1), device=query.device, dtype=dtype)
            return steps.expand(query.size(0), -1)
        logit = self.v_p(torch.tanh(self.W_p(query))).squeeze(-1).to(dtype)  # v_p^T tanh(W_p h_t): (B, Tq)
        return source_lengths[:, None].to(dtype) * torch.sigmoid(logit)  # eq. (9): S sigmoid(...)

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        values: Tensor | None = None,
        *,
        mask: Tensor | None = None,
        need_weights: bool = True,
        source_lengths: Tensor | None = None,
        offset: int = 0,
    ) -> AttentionOutput:
        """Attend to a window of keys around ``p_t``.

        Args:
            query: ``(B, Tq, Dq)``, or ``(B, Dq)`` for a single query.
            keys: ``(B, Tk, Dk)``. values: ``(B, Tk, Dv)``, default ``keys``.
            mask: bool broadcastable to ``(B, Tq, Tk)`` (``(B, Tk)`` for a single query), True =
                may attend (e.g. padding); combined with the window.
            need_weights: return the weights (eq. (10)'s ``a_t``); False returns ``None`` instead.
            source_lengths: ``(B,)`` the source length ``S`` of each example; default ``Tk``.
            offset: target step of the first query (local-m's ``p_t = t``).

        Returns:
            ``AttentionOutput(context (B, Tq, Dv), weights (B, Tq, Tk) or None)`` (single query:
            ``(B, Dv)``, ``(B, Tk)``). A query with no allowed key in its window gets zeros; keys
            at positions ``>= S`` get no weight.
        """
        query, keys, values, mask, single = standardise_inputs(self.score, query, keys, values, mask)
        batch, tk = query.size(0), keys.size(1)
        if source_lengths is None:
            source_lengths = torch.full((batch,), tk, device=query.device)
        check_shape("source_lengths", source_lengths, (batch,), "(B,)")

        centres = self.centres(query, source_lengths, offset)  # (B, Tq)
        positions = torch.arange(tk, device=query.device, dtype=centres.dtype)  # (Tk,), exact integers
        distance = positions[None, None, :] - centres[:, :, None]  # (B, Tq, Tk)
        in_window = distance.detach().abs() <= self.window  # (B, Tq, Tk)
        in_window &= positions < source_lengths.to(positions.device)[:, None, None]  # nothing at or past S
        mask = in_window if mask is None else in_window & mask
        weights = masked_softmax(upcast(self.score(query, keys)), mask)  # eq. (7) inside the window
        if self.mode == "predictive":
            sigma = self.window / 2
            weights = weights * torch.exp(-(distance**2) / (2 * sigma**2))  # eq. (10)
        weights = weights.to(values.dtype)  # (B, Tq, Tk)
        return finish_output(attend(weights, values), weights if need_weights else None, single)


def position_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype of positions and window centres for queries of ``dtype``: float32 at least."""
    return torch.promote_types(dtype, torch.float32)
