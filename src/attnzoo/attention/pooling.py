"""Attention pooling with learned queries: a sequence ``(B, T, D)`` to ``r`` vectors ``(B, r, D)``.

Lin et al. 2017, *A Structured Self-Attentive Sentence Embedding*, eq. (6) and §2.2:

    A = softmax(W_s2 tanh(W_s1 H^T))        A: (r, n), a softmax over the n tokens per row (6)
    M = A H                                  M: (r, 2u), one sentence vector per "hop"
    P = || A A^T - I ||_F^2                  the penalty that pushes the r hops apart

With ``r = 1`` this is Yang et al. 2016's word and sentence attention (HAN, eqs. 5-7 and 8-10):
``u_it = tanh(W_w h_it + b_w)``, ``α_it = softmax_t(u_it^T u_w)``, ``s_i = sum_t α_it h_it``,
the rows of ``W_s2`` being the context vectors ``u_w``. The keys ``tanh(W_s1 h_t)`` are scored
against the ``r`` learned queries by :class:`~attnzoo.attention.DotScore` in the library's
:class:`~attnzoo.attention.Attention`, so masking follows the library's rules.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from attnzoo.attention.functional import AttentionOutput, check_shape
from attnzoo.attention.scores import DotScore
from attnzoo.attention.soft import Attention


class StructuredSelfAttention(nn.Module):
    """``r`` hops of self-attentive pooling with learned queries (Lin et al. 2017, eq. 6; HAN with ``r = 1``).

    Args:
        input_dim: ``D``, the features of ``H``'s rows (``2u`` after a bi-RNN).
        attention_dim: ``d_a``, the rows of ``W_s1``.
        hops: ``r``, the rows of ``W_s2`` (the learned queries, HAN's ``u_w``).
        bias: a bias in ``W_s1`` (HAN's ``b_w``; Lin et al. have none).
    """

    def __init__(self, input_dim: int, attention_dim: int, hops: int = 1, bias: bool = True) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.W_s1 = nn.Linear(input_dim, attention_dim, bias=bias)  # HAN: W_w, b_w
        self.W_s2 = nn.Parameter(torch.empty(hops, attention_dim))  # HAN: u_w (one row per hop)
        nn.init.normal_(self.W_s2, std=attention_dim**-0.5)
        self.attention = Attention(DotScore())

    def forward(self, states: Tensor, mask: Tensor | None = None) -> AttentionOutput:
        """Pool ``states`` ``H`` ``(B, T, D)``; ``mask`` ``(B, T)`` bool, True = a real token.

        Returns:
            ``AttentionOutput(M (B, r, D), A (B, r, T))``; padded tokens get weight 0, and a
            sequence with no token at all a zero ``M`` and zero weights.
        """
        check_shape("states", states, (None, None, self.input_dim), "(B, T, D)")
        if mask is not None:
            check_shape("mask", mask, tuple(states.shape[:2]), "(B, T)")
            mask = mask[:, None, :]  # (B, 1, T): the same tokens for every hop
        keys = torch.tanh(self.W_s1(states))  # (B, T, d_a): u_it = tanh(W_w h_it + b_w)
        queries = self.W_s2.expand(states.size(0), -1, -1)  # (B, r, d_a)
        return self.attention(queries, keys, states, mask=mask)  # softmax_t(w_s2 . u_t), M = A H


def attention_penalty(weights: Tensor) -> Tensor:
    """Lin et al. 2017, §2.2: ``P = ||A A^T - I||_F^2`` for each example.

    Args:
        weights: ``A`` ``(B, r, T)``.

    Returns:
        ``(B,)`` penalties (0 when the hops attend to disjoint single tokens).
    """
    check_shape("weights", weights, (None, None, None), "(B, r, T)")
    gram = weights @ weights.transpose(1, 2)  # (B, r, r): A A^T
    identity = torch.eye(weights.size(1), dtype=weights.dtype, device=weights.device)
    return ((gram - identity) ** 2).sum(dim=(1, 2))


def hop_overlap(weights: Tensor) -> Tensor:
    """How much the ``r`` hops attend to the same tokens: ``sum_t min(A_it, A_jt)`` averaged over pairs ``i < j``.

    Args:
        weights: ``A`` ``(B, r, T)`` with ``r >= 2``.

    Returns:
        ``(B,)`` overlaps in [0, 1]: 1 for identical hops, 0 for hops on disjoint tokens.
    """
    check_shape("weights", weights, (None, None, None), "(B, r, T)")
    hops = weights.size(1)
    if hops < 2:
        raise ValueError(f"weights: expected r >= 2 hops to compare, got {hops}")
    common = torch.minimum(weights[:, :, None], weights[:, None]).sum(dim=-1)  # (B, r, r)
    pairs = torch.triu(torch.ones(hops, hops, dtype=torch.bool, device=weights.device), diagonal=1)
    return common[:, pairs].mean(dim=1)
