"""Attention-over-attention against Cui et al. 2017, eqs. 4-8, written out word by word."""

from __future__ import annotations

import math

import pytest
import torch

from attnzoo.attention import attention_over_attention


def reference(document, query, T, Q):
    """Eqs. 4-8 for one example with T real document words and Q real query words, as plain sums."""
    M = [[float(document[i] @ query[j]) for j in range(Q)] for i in range(T)]  # eq. 4
    alpha = [[0.0] * Q for _ in range(T)]
    for j in range(Q):  # eq. 5: softmax over the document, one column per query word
        total = sum(math.exp(M[i][j]) for i in range(T))
        for i in range(T):
            alpha[i][j] = math.exp(M[i][j]) / total
    beta = [0.0] * Q
    for i in range(T):  # eq. 6: softmax over the query, one row per document word; eq. 7: their mean
        total = sum(math.exp(M[i][j]) for j in range(Q))
        for j in range(Q):
            beta[j] += math.exp(M[i][j]) / total / T
    s = [sum(alpha[i][j] * beta[j] for j in range(Q)) for i in range(T)]  # eq. 8
    return torch.tensor(s, dtype=torch.float64), torch.tensor(beta, dtype=torch.float64)


def test_matches_eqs_4_to_8_and_padding_gets_zero_weight():
    document, query = torch.randn(3, 7, 5, dtype=torch.float64), torch.randn(3, 4, 5, dtype=torch.float64)
    doc_lengths, query_lengths = [7, 5, 2], [4, 2, 3]
    doc_mask = torch.arange(7) < torch.tensor(doc_lengths)[:, None]
    query_mask = torch.arange(4) < torch.tensor(query_lengths)[:, None]
    out = attention_over_attention(document, query, doc_mask, query_mask)
    for b, (T, Q) in enumerate(zip(doc_lengths, query_lengths, strict=True)):
        s, beta = reference(document[b], query[b], T, Q)
        torch.testing.assert_close(out.weights[b, :T], s)
        torch.testing.assert_close(out.beta[b, :Q], beta)
        assert (out.weights[b, T:] == 0).all() and (out.beta[b, Q:] == 0).all()
        assert (out.alpha[b, T:] == 0).all() and (out.alpha[b, :, Q:] == 0).all()
    torch.testing.assert_close(out.weights.sum(1), torch.ones(3, dtype=torch.float64))  # s is a distribution
    torch.testing.assert_close(out.alpha[0].sum(0), torch.ones(4, dtype=torch.float64))  # columns of alpha


def test_without_masks_equals_all_true_masks():
    document, query = torch.randn(2, 6, 3), torch.randn(2, 3, 3)
    plain = attention_over_attention(document, query)
    masked = attention_over_attention(document, query, torch.ones(2, 6, dtype=torch.bool), torch.ones(2, 3).bool())
    torch.testing.assert_close(plain.weights, masked.weights)
    torch.testing.assert_close(plain.beta, masked.beta)


def test_gradcheck_float64():
    document = torch.randn(2, 5, 3, dtype=torch.float64, requires_grad=True)
    query = torch.randn(2, 3, 3, dtype=torch.float64, requires_grad=True)
    doc_mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    query_mask = torch.tensor([[True] * 3, [True, True, False]])

    def outputs(d, q):
        out = attention_over_attention(d, q, doc_mask, query_mask)
        return out.weights, out.beta

    assert torch.autograd.gradcheck(outputs, (document, query))


def test_shapes_are_checked():
    with pytest.raises(ValueError, match=r"query: expected \(B, Q, D\) = \(2, \?, 4\), got \(2, 3, 5\)"):
        attention_over_attention(torch.randn(2, 6, 4), torch.randn(2, 3, 5))
    with pytest.raises(ValueError, match=r"document_mask: expected \(B, T\) = \(2, 6\), got \(2, 5\)"):
        attention_over_attention(torch.randn(2, 6, 4), torch.randn(2, 3, 4), torch.ones(2, 5).bool())
