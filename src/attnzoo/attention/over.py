"""Attention-over-attention (Cui, Chen, Wei, Wang, Liu & Hu 2017, *Attention-over-Attention Neural
Networks for Reading Comprehension*, §3, eqs. 4-8).

Given contextual document vectors ``h_doc`` ``(B, T, D)`` and query vectors ``h_query`` ``(B, Q, D)``:

    M(i, j) = h_doc(i)^T h_query(j)                       (eq. 4) pair-wise matching matrix
    alpha(t) = softmax(M(1, t), ..., M(|D|, t))           (eq. 5) column-wise: a document-level
                                                                  attention for each query word t
    beta(t)  = softmax(M(t, 1), ..., M(t, |Q|))           (eq. 6) row-wise: a query-level attention
                                                                  for each document word t
    beta     = (1/n) sum_t beta(t)                        (eq. 7) averaged over the document
    s        = alpha^T beta                               (eq. 8) attention over the document

Padding of the document and of the query is masked (True = a real word); ``beta`` averages over
the real document words only, and padded positions get exactly zero weight in ``s``.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from attnzoo.attention.functional import check_shape, masked_softmax


class AttentionOverAttention(NamedTuple):
    """``weights`` ``s`` ``(B, T)`` over the document (eq. 8); ``alpha`` ``(B, T, Q)`` one document
    attention per query word (eq. 5, columns sum to 1); ``beta`` ``(B, Q)`` the averaged query-level
    attention (eq. 7); ``matching`` ``M`` ``(B, T, Q)`` (eq. 4)."""

    weights: Tensor
    alpha: Tensor
    beta: Tensor
    matching: Tensor


def attention_over_attention(
    document: Tensor, query: Tensor, document_mask: Tensor | None = None, query_mask: Tensor | None = None
) -> AttentionOverAttention:
    """Cui et al. 2017, eqs. 4-8.

    Args:
        document: ``(B, T, D)`` contextual vectors of the document words (``h_doc``).
        query: ``(B, Q, D)`` contextual vectors of the query words (``h_query``).
        document_mask: ``(B, T)`` bool, True = a real word (None: all).
        query_mask: ``(B, Q)`` bool, True = a real word (None: all).

    Returns:
        :class:`AttentionOverAttention`: ``s`` ``(B, T)``, ``alpha`` ``(B, T, Q)``, ``beta`` ``(B, Q)``, ``M``.
    """
    check_shape("document", document, (None, None, None), "(B, T, D)")
    batch, _, features = document.shape
    check_shape("query", query, (batch, None, features), "(B, Q, D)")
    if document_mask is not None:
        check_shape("document_mask", document_mask, document.shape[:2], "(B, T)")
    if query_mask is not None:
        check_shape("query_mask", query_mask, (batch, query.size(1)), "(B, Q)")
    matching = document @ query.transpose(1, 2)  # (B, T, Q): M = h_doc^T h_query (eq. 4)
    both = None
    if document_mask is not None or query_mask is not None:
        rows = document_mask[:, :, None] if document_mask is not None else matching.new_ones(1, 1, 1).bool()
        columns = query_mask[:, None, :] if query_mask is not None else matching.new_ones(1, 1, 1).bool()
        both = rows & columns  # (B, T, Q)
    alpha = masked_softmax(matching, both, dim=1)  # (B, T, Q): column-wise softmax over the document (eq. 5)
    row_beta = masked_softmax(matching, both, dim=2)  # (B, T, Q): row-wise softmax over the query (eq. 6)
    real = row_beta.new_full(document.shape[:2], 1.0) if document_mask is None else document_mask.to(row_beta.dtype)
    beta = row_beta.sum(1) / real.sum(1, keepdim=True).clamp_min(1)  # (B, Q): average of beta(t) (eq. 7)
    weights = (alpha @ beta[:, :, None]).squeeze(-1)  # (B, T): s = alpha beta (eq. 8)
    return AttentionOverAttention(weights, alpha, beta, matching)
