"""Luong et al. 2015 §3.2 local attention, local-m and local-p, against the paper's equations."""

import math

import pytest
import torch
from torch.func import functional_call

from attnzoo import DotScore, GeneralScore, LocalAttention, ScaledDotScore

B, TQ, TK, D = 2, 4, 9, 6


def window_softmax(scores, centre, half_width, allowed=None):
    """Eq. (7) restricted to the positions s with |s - p_t| <= D (and allowed): a plain loop."""
    inside = [s for s in range(len(scores)) if abs(s - centre) <= half_width and (allowed is None or allowed[s])]
    weights = torch.zeros(len(scores), dtype=scores.dtype)
    if inside:
        weights[inside] = torch.softmax(scores[inside], dim=0)
    return weights


def test_local_m_monotonic_window():
    """local-m: p_t = t, weights = softmax of the scores inside [t - D, t + D], zero outside."""
    score = GeneralScore(D, D)
    attention = LocalAttention(score, mode="monotonic", window=2)
    h_t, h_s = torch.randn(B, TQ, D), torch.randn(B, TK, D)
    out = attention(h_t, h_s, offset=3)
    scores = score(h_t, h_s)
    for n in range(B):
        for i in range(TQ):
            expected = window_softmax(scores[n, i], centre=3 + i, half_width=2)
            torch.testing.assert_close(out.weights[n, i], expected)
            torch.testing.assert_close(out.context[n, i], expected @ h_s[n])
            assert int((out.weights[n, i] > 0).sum()) == 5  # 2D + 1 positions


def test_local_m_single_query_step_by_step_equals_all_queries():
    attention = LocalAttention(DotScore(), mode="monotonic", window=1)
    h_t, h_s = torch.randn(B, TQ, D), torch.randn(B, TK, D)
    mask = torch.rand(B, TK) > 0.3
    whole = attention(h_t, h_s, mask=mask[:, None, :])
    for t in range(TQ):
        step = attention(h_t[:, t], h_s, mask=mask, offset=t)
        assert step.context.shape == (B, D) and step.weights.shape == (B, TK)
        torch.testing.assert_close(step.context, whole.context[:, t])
        torch.testing.assert_close(step.weights, whole.weights[:, t])


def test_local_p_predictive_eqs9_10():
    """p_t = S * sigmoid(v_p^T tanh(W_p h_t)); a_t(s) = align(h_t, h_s) exp(-(s - p_t)^2 / (2 sigma^2)), sigma = D/2."""
    half_width = 3
    score = ScaledDotScore()
    attention = LocalAttention(score, mode="predictive", window=half_width, query_dim=D, hidden_dim=5)
    h_t, h_s, values = torch.randn(B, TQ, D), torch.randn(B, TK, D), torch.randn(B, TK, 2)
    lengths = torch.tensor([TK, 6])
    padding = torch.arange(TK)[None, :] < lengths[:, None]  # (B, Tk)
    out = attention(h_t, h_s, values, mask=padding[:, None, :], source_lengths=lengths)
    W_p, v_p = attention.W_p.weight, attention.v_p.weight[0]
    sigma = half_width / 2
    s = torch.arange(TK, dtype=torch.float32)
    with torch.no_grad():
        for n in range(B):
            for i in range(TQ):
                p_t = float(lengths[n]) * torch.sigmoid(v_p @ torch.tanh(W_p @ h_t[n, i]))
                align = window_softmax(h_s[n] @ h_t[n, i] / math.sqrt(D), float(p_t), half_width, padding[n])
                expected = align * torch.exp(-((s - p_t) ** 2) / (2 * sigma**2))
                torch.testing.assert_close(out.weights[n, i], expected)
                torch.testing.assert_close(out.context[n, i], expected @ values[n])
    assert (out.weights.sum(-1) <= 1 + 1e-6).all()  # not renormalised, as in the paper
    assert torch.equal(out.weights[1, :, 6:], torch.zeros(TQ, TK - 6))  # padding keeps weight 0


def test_local_p_gradient_reaches_the_position_predictor():
    attention = LocalAttention(DotScore(), mode="predictive", window=2, query_dim=D)
    out = attention(torch.randn(B, TQ, D), torch.randn(B, TK, D))
    out.context.sum().backward()
    assert attention.W_p.weight.grad.abs().sum() > 0
    assert attention.v_p.weight.grad.abs().sum() > 0


def test_window_with_no_allowed_key_gives_zeros():
    attention = LocalAttention(DotScore(), mode="monotonic", window=1)
    mask = torch.ones(B, TQ, TK, dtype=torch.bool)
    mask[0, 1, :3] = False  # the window of query 1 is [0, 2]: all masked
    h_t = torch.randn(B, TQ, D, requires_grad=True)
    out = attention(h_t, torch.randn(B, TK, D), mask=mask)
    assert torch.equal(out.weights[0, 1], torch.zeros(TK))
    assert torch.equal(out.context[0, 1], torch.zeros(D))
    out.context.sum().backward()
    assert torch.isfinite(h_t.grad).all()


def test_constructor_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"mode: expected 'monotonic' or 'predictive', got 'global'"):
        LocalAttention(DotScore(), mode="global")
    with pytest.raises(ValueError, match=r"window: expected a half-width D >= 1, got 0"):
        LocalAttention(DotScore(), mode="monotonic", window=0)
    with pytest.raises(ValueError, match=r"query_dim: local-p needs the query size"):
        LocalAttention(DotScore(), mode="predictive")


def test_source_lengths_shape_is_checked():
    attention = LocalAttention(DotScore(), mode="predictive", window=2, query_dim=D)
    with pytest.raises(ValueError, match=r"source_lengths: expected \(B,\) = \(2\), got \(3,\)"):
        attention(torch.randn(B, TQ, D), torch.randn(B, TK, D), source_lengths=torch.tensor([1, 2, 3]))


@pytest.mark.parametrize("mode", ["monotonic", "predictive"])
def test_gradcheck_local_attention_float64(mode):
    attention = LocalAttention(
        GeneralScore(3, 3, dtype=torch.float64), mode=mode, window=1, query_dim=3, dtype=torch.float64
    )
    q, k, v = (
        torch.randn(2, 3, 3, dtype=torch.float64),
        torch.randn(2, 5, 3, dtype=torch.float64),
        torch.randn(2, 5, 2, dtype=torch.float64),
    )
    names = [n for n, _ in attention.named_parameters()]
    params = [p.detach().clone().requires_grad_() for _, p in attention.named_parameters()]

    def run(q, k, v, *params):
        return tuple(functional_call(attention, dict(zip(names, params, strict=True)), (q, k, v)))

    assert torch.autograd.gradcheck(run, (q.requires_grad_(), k.requires_grad_(), v.requires_grad_(), *params))
