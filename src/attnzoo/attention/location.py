"""Location-aware attention (Chorowski et al. 2015, "Attention-Based Models for Speech Recognition").

Content-only attention scores each encoder frame ``h_j`` by what it contains, so on a long
utterance with repeated sounds it cannot tell *which* "seven" comes next and loses its place. The
location-aware score also sees where the previous step attended, through convolutional features
of the previous alignment ``α_{i-1}``:

    f_i  = F * α_{i-1}                                            eq. (8)   (k filters of width r)
    e_ij = w^T tanh(W s_{i-1} + V h_j + U f_ij + b)               eq. (9)

and the paper's §2.3 changes how the scores become weights:

    sharpening:  α_ij = exp(β e_ij) / Σ_j exp(β e_ij)     (β > 1)
    smoothing:   α_ij = σ(e_ij) / Σ_j σ(e_ij)              (the logistic sigmoid instead of exp)

:class:`LocationAwareScore` is eq. (9) (``V h_j + b`` prepared once per utterance);
:class:`LocationAwareAttention` is the mechanism with sharpening (``sharpening=β``);
:class:`SmoothedLocationAwareAttention` overrides :meth:`LocationAwareAttention.normalise` with
the sigmoid.

Shape legend: ``B`` batch, ``Tq`` queries (decoder steps), ``Tk`` encoder frames, ``Dq`` decoder
state, ``Dk`` encoder state, ``Dv`` values, ``A`` attention units, ``k`` location filters.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from attnzoo.attention.functional import (
    AttentionOutput,
    attend,
    check_shape,
    finish_output,
    masked_softmax,
    standardise_inputs,
)
from attnzoo.attention.scores import AdditiveScore


class LocationAwareScore(AdditiveScore):
    """Chorowski et al. 2015, eqs. (8)-(9): ``e_ij = w^T tanh(W s_{i-1} + V h_j + U f_ij + b)``,
    ``f_i = F * α_{i-1}``.

    The content part is :class:`AdditiveScore`'s (its ``W_a`` is ``W``, ``U_a`` is ``V`` with the
    bias ``b``, ``v_a`` is ``w``); this class adds the convolution ``F`` (``filters`` filters of
    width ``width``, odd, zero-padded so ``f_i`` has one row per frame) and its projection ``U``.

    Args:
        query_dim: ``Dq``. key_dim: ``Dk``. hidden_dim: ``A``, the size of ``w``.
        filters: ``k``, the number of location features per frame. width: ``r``, odd.
    """

    def __init__(self, query_dim: int, key_dim: int, hidden_dim: int, filters: int = 10, width: int = 31) -> None:
        super().__init__(query_dim, key_dim, hidden_dim)
        if width % 2 == 0 or width < 1 or filters < 1:
            raise ValueError(f"width, filters: expected an odd width and filters >= 1, got {width}, {filters}")
        self.F = nn.Conv1d(1, filters, width, padding=width // 2, bias=False)  # F: (k, 1, r)
        self.U = nn.Linear(filters, hidden_dim, bias=False)  # U: (A, k)

    def location_features(self, previous: Tensor) -> Tensor:
        """Eq. (8), ``f_i = F * α_{i-1}``: previous weights ``(B, Tq, Tk)`` -> ``(B, Tq, Tk, k)``."""
        B, Tq, Tk = previous.shape
        convolved = self.F(previous.reshape(B * Tq, 1, Tk))  # (B·Tq, k, Tk)
        return convolved.transpose(1, 2).reshape(B, Tq, Tk, -1)  # (B, Tq, Tk, k)

    def score(self, query: Tensor, prepared_keys: Tensor, previous: Tensor | None = None) -> Tensor:
        """Eq. (9): query ``(B, Tq, Dq)``, prepared keys ``V h + b`` ``(B, Tk, A)`` and the previous
        weights ``α_{i-1}`` ``(B, Tq, Tk)`` (None: zeros, the content-only score) -> ``(B, Tq, Tk)``."""
        hidden = self.W_a(query)[:, :, None, :] + prepared_keys[:, None, :, :]  # W s + V h + b: (B, Tq, Tk, A)
        if previous is not None:
            hidden = hidden + self.U(self.location_features(previous.to(prepared_keys.dtype)))  # + U f_ij
        return self.v_a(torch.tanh(hidden)).squeeze(-1)  # w^T tanh(...): (B, Tq, Tk)

    def forward(self, query: Tensor, keys: Tensor, previous: Tensor | None = None) -> Tensor:
        """Scores ``(B, Tq, Tk)`` of query ``(B, Tq, Dq)`` against keys ``(B, Tk, Dk)`` given the
        previous weights ``(B, Tq, Tk)``."""
        self.check_inputs(query, keys)
        if previous is not None:
            check_shape("previous", previous, (query.size(0), query.size(1), keys.size(1)), "(B, Tq, Tk)")
        return self.score(query, self.prepare_keys(keys), previous)


class LocationAwareAttention(nn.Module):
    """Chorowski et al. 2015's attention: location-aware scores (eqs. 8-9) normalised by a softmax,
    sharpened by ``β`` (§2.3: ``α_ij ∝ exp(β e_ij)``; β = 1 is the plain softmax).

    One call shape with the library's other mechanisms, plus the previous alignment::

        attention(query, keys, values, previous=α_{i-1}, mask=..., prepared_keys=...)

    Args:
        score: a :class:`LocationAwareScore`.
        sharpening: ``β`` (> 0).
    """

    def __init__(self, score: LocationAwareScore, sharpening: float = 1.0) -> None:
        super().__init__()
        if not isinstance(score, LocationAwareScore):
            raise ValueError(f"score: expected a LocationAwareScore, got {type(score).__name__}")
        if not sharpening > 0:
            raise ValueError(f"sharpening: expected β > 0, got {sharpening}")
        self.score = score
        self.sharpening = sharpening

    def prepare_keys(self, keys: Tensor) -> Tensor:
        """``V h_j + b``, to pass as ``prepared_keys`` at every decoding step: ``(B, Tk, Dk) -> (B, Tk, A)``."""
        return self.score.prepare_keys(keys)

    def normalise(self, scores: Tensor, mask: Tensor | None) -> Tensor:
        """Scores ``(B, Tq, Tk)`` -> weights: ``softmax(β e)`` over the allowed frames (§2.3, sharpening)."""
        return masked_softmax(scores * self.sharpening, mask)

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        values: Tensor | None = None,
        *,
        previous: Tensor,
        mask: Tensor | None = None,
        need_weights: bool = True,
        prepared_keys: Tensor | None = None,
    ) -> AttentionOutput:
        """Attend from each query to the keys, the score reading the previous alignment.

        Args:
            query: ``(B, Tq, Dq)``, or ``(B, Dq)`` for one decoder step: ``s_{i-1}``.
            keys: ``(B, Tk, Dk)``: the encoder states ``h_j``. values: ``(B, Tk, Dv)``; default keys.
            previous: ``α_{i-1}``, ``(B, Tq, Tk)`` (``(B, Tk)`` for a single query).
            mask: bool broadcastable to ``(B, Tq, Tk)`` (``(B, Tk)`` for a single query); True = may
                attend. A query with no allowed frame gets zero weights and context.
            prepared_keys: ``self.prepare_keys(keys)``, once per utterance.

        Returns:
            ``AttentionOutput(context (B, Tq, Dv), weights (B, Tq, Tk))``; ``(B, Dv)`` and ``(B, Tk)``
            for a single query.
        """
        query, keys, values, mask, single = standardise_inputs(self.score, query, keys, values, mask)
        previous = previous[:, None] if single and previous.dim() == 2 else previous
        check_shape("previous", previous, (keys.size(0), query.size(1), keys.size(1)), "(B, Tq, Tk)")
        prepared = self.score.prepare_keys(keys) if prepared_keys is None else prepared_keys
        scores = self.score.score(query, prepared, previous)  # e_ij: (B, Tq, Tk)
        weights = self.normalise(scores, mask).to(values.dtype)  # α_ij
        return finish_output(attend(weights, values), weights if need_weights else None, single)


class SmoothedLocationAwareAttention(LocationAwareAttention):
    """§2.3's smoothing: ``α_ij = σ(e_ij) / Σ_j σ(e_ij)``, the logistic sigmoid instead of ``exp``
    (the alignment can spread over several frames instead of peaking on one; ``sharpening`` still
    scales the scores inside the sigmoid)."""

    def normalise(self, scores: Tensor, mask: Tensor | None) -> Tensor:
        gates = torch.sigmoid(scores * self.sharpening)  # σ(β e_ij): (B, Tq, Tk)
        if mask is not None:
            gates = gates.masked_fill(~mask, 0.0)
        return gates / gates.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(gates.dtype).tiny)
