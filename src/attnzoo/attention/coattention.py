"""Co-attention (Lu et al. 2016, "Hierarchical Question-Image Co-Attention for VQA", §3.3).

The question guides attention over the image and the image guides attention over the question.
With question features ``Q = (q_1 .. q_T)`` and image features ``V = (v_1 .. v_N)`` (the paper
writes them as columns, ``Q ∈ R^{d×T}``, ``V ∈ R^{d×N}``; here batch first, ``(B, T, d)`` and
``(B, N, d)``), two schemes:

Parallel co-attention, through the affinity matrix (eqs. 3-4)::

    C   = tanh(Qᵀ W_b V)                                  (B, T, N)   the affinity; GeneralScore(Q, V)
    H^v = tanh(W_v V + (W_q Q) C),   H^q = tanh(W_q Q + (W_v V) Cᵀ)
    a^v = softmax(w_hvᵀ H^v),        a^q = softmax(w_hqᵀ H^q)
    v̂   = Σ_n a^v_n v_n,             q̂   = Σ_t a^q_t q_t

Alternating co-attention (eq. 6), three applications of ``x̂ = A(X; g)``::

    H = tanh(W_x X + (W_g g) 1ᵀ),  a^x = softmax(w_hxᵀ H),  x̂ = Σ_i a^x_i x_i   (AdditiveScore, query g)
    1. ŝ = A(Q; 0)    2. v̂ = A(V; ŝ)    3. q̂ = A(Q; v̂)

Question padding: the ``query_mask`` (``(B, T)``, True = a real word) gives padded words zero
question attention, and their rows of ``C`` are zeroed so they never reach the image attention.
The affinity is the library's :class:`GeneralScore` (``q^T W k``) under a tanh; every softmax is
:func:`masked_softmax`; the alternating steps are :class:`Attention` with an :class:`AdditiveScore`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from attnzoo.attention.functional import attend, check_shape, masked_softmax
from attnzoo.attention.scores import AdditiveScore, GeneralScore
from attnzoo.attention.soft import Attention


class CoAttentionOutput(NamedTuple):
    """What a co-attention returns (the first two fields as every mechanism's).

    context: ``(B, d)`` v̂, the attended image. weights: ``(B, N)`` a^v over the image.
    question_context: ``(B, d)`` q̂, the attended question. question_weights: ``(B, T)`` a^q
    (zero at padding).
    """

    context: Tensor
    weights: Tensor
    question_context: Tensor
    question_weights: Tensor


def check_inputs(question: Tensor, image: Tensor, query_mask: Tensor | None) -> None:
    """Raise ``ValueError`` unless question ``(B, T, d)``, image ``(B, N, d)`` and mask ``(B, T)`` agree."""
    check_shape("image", image, (None, None, None), "(B, N, d)")
    check_shape("question", question, (image.size(0), None, image.size(2)), "(B, T, d)")
    if query_mask is not None:
        check_shape("query_mask", query_mask, tuple(question.shape[:2]), "(B, T)")
        if query_mask.dtype != torch.bool:
            raise ValueError(f"query_mask: expected a bool tensor (True = a real word), got dtype {query_mask.dtype}")


def affinity(score: GeneralScore, question: Tensor, image: Tensor, query_mask: Tensor | None = None) -> Tensor:
    """Lu et al. 2016, eq. (3): the affinity matrix ``C = tanh(Qᵀ W_b V)``, ``(B, T, N)``.

    Args:
        score: a :class:`GeneralScore` (its ``W_a`` is ``W_b``): ``score(Q, V) = Q W_b Vᵀ``.
        question: ``(B, T, d)``. image: ``(B, N, d)``.
        query_mask: ``(B, T)`` bool, True = a real word; rows of padded words are zero.
    """
    check_inputs(question, image, query_mask)
    c = torch.tanh(score(question, image))  # (B, T, N)
    return c if query_mask is None else c * query_mask[:, :, None]


class ParallelCoAttention(nn.Module):
    """Lu et al. 2016, eqs. (3)-(4): image and question attended at once, through the affinity ``C``.

    Args:
        dim: ``d``, the features of both the question and the image.
        hidden_dim: ``k``, the rows of ``W_q`` and ``W_v``.
        average: divide ``(W_q Q) C`` by the number of real words and ``(W_v V) Cᵀ`` by ``N`` (means,
            not the paper's sums, which grow with ``T`` and ``N`` and can saturate the tanh).
    """

    def __init__(self, dim: int, hidden_dim: int, average: bool = False) -> None:
        super().__init__()
        self.average = average
        self.W_b = GeneralScore(dim, dim)  # C = tanh(Qᵀ W_b V)
        self.W_q = nn.Linear(dim, hidden_dim, bias=False)
        self.W_v = nn.Linear(dim, hidden_dim, bias=False)
        self.w_hq = nn.Linear(hidden_dim, 1, bias=False)
        self.w_hv = nn.Linear(hidden_dim, 1, bias=False)

    def forward(self, question: Tensor, image: Tensor, *, query_mask: Tensor | None = None) -> CoAttentionOutput:
        """Args: question ``(B, T, d)``, image ``(B, N, d)``, query_mask ``(B, T)`` (True = a real word)."""
        c = affinity(self.W_b, question, image, query_mask)  # (B, T, N)
        question_in, image_in = self.W_q(question), self.W_v(image)  # W_q Q: (B, T, k); W_v V: (B, N, k)
        from_question, from_image = c.transpose(1, 2) @ question_in, c @ image_in  # (W_q Q) C, (W_v V) Cᵀ
        if self.average:
            words = question.size(1) if query_mask is None else query_mask.sum(1).clamp(min=1)[:, None, None]
            from_question, from_image = from_question / words, from_image / image.size(1)
        h_v = torch.tanh(image_in + from_question)  # H^v = tanh(W_v V + (W_q Q) C): (B, N, k)
        h_q = torch.tanh(question_in + from_image)  # H^q = tanh(W_q Q + (W_v V) Cᵀ): (B, T, k)
        a_v = masked_softmax(self.w_hv(h_v).squeeze(-1))  # a^v: (B, N)
        a_q = masked_softmax(self.w_hq(h_q).squeeze(-1), query_mask)  # a^q: (B, T)
        v_hat = attend(a_v[:, None, :], image).squeeze(1)  # v̂ = Σ a^v_n v_n: (B, d)
        q_hat = attend(a_q[:, None, :], question).squeeze(1)  # q̂ = Σ a^q_t q_t: (B, d)
        return CoAttentionOutput(v_hat, a_v, q_hat, a_q)


class AlternatingCoAttention(nn.Module):
    """Lu et al. 2016, eq. (6): summarise the question, attend the image from it, then the question
    from the attended image; each step ``x̂ = A(X; g)`` is :class:`Attention` with an :class:`AdditiveScore`.

    Args:
        dim: ``d``, the features of both the question and the image (and of the guidance ``g``).
        hidden_dim: ``k``, the units of each step's ``H``.
    """

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.summarise = Attention(AdditiveScore(dim, dim, hidden_dim))  # step 1: ŝ = A(Q; 0)
        self.look = Attention(AdditiveScore(dim, dim, hidden_dim))  # step 2: v̂ = A(V; ŝ)
        self.read = Attention(AdditiveScore(dim, dim, hidden_dim))  # step 3: q̂ = A(Q; v̂)

    def forward(self, question: Tensor, image: Tensor, *, query_mask: Tensor | None = None) -> CoAttentionOutput:
        """Args: question ``(B, T, d)``, image ``(B, N, d)``, query_mask ``(B, T)`` (True = a real word)."""
        check_inputs(question, image, query_mask)
        no_guidance = question.new_zeros(question.size(0), question.size(2))  # g = 0: (B, d)
        summary, _ = self.summarise(no_guidance, question, mask=query_mask)  # ŝ: (B, d)
        v_hat, a_v = self.look(summary, image)  # v̂: (B, d), a^v: (B, N)
        q_hat, a_q = self.read(v_hat, question, mask=query_mask)  # q̂: (B, d), a^q: (B, T)
        return CoAttentionOutput(v_hat, a_v, q_hat, a_q)
