"""Each score function against its paper's equation, written out directly; prepared keys; gradcheck."""

import math

import pytest
import torch
from torch.func import functional_call

from attnzoo import (
    AdditiveScore,
    Attention,
    CosineScore,
    DotScore,
    GeneralScore,
    LocationScore,
    ScaledDotScore,
)

B, TQ, TK, DQ, DK, HIDDEN = 2, 3, 5, 4, 6, 7


def test_dot_score_luong_eq8():
    """score(h_t, h_s) = h_t^T h_s."""
    q, k = torch.randn(B, TQ, DK), torch.randn(B, TK, DK)
    expected = torch.tensor([[[float(q[b, i] @ k[b, j]) for j in range(TK)] for i in range(TQ)] for b in range(B)])
    torch.testing.assert_close(DotScore()(q, k), expected)


def test_scaled_dot_score_vaswani_eq1():
    """score(q, k) = q^T k / sqrt(d_k)."""
    q, k = torch.randn(B, TQ, DK), torch.randn(B, TK, DK)
    expected = torch.einsum("bid,bjd->bij", q, k) / math.sqrt(DK)
    torch.testing.assert_close(ScaledDotScore()(q, k), expected)


@pytest.mark.parametrize("bias", [False, True])
def test_general_score_luong_eq8(bias):
    """score(h_t, h_s) = h_t^T W_a h_s (+ h_t^T b with a bias)."""
    score = GeneralScore(DQ, DK, bias=bias)
    q, k = torch.randn(B, TQ, DQ), torch.randn(B, TK, DK)
    W = score.W_a.weight  # (Dq, Dk)
    expected = torch.einsum("bqi,ij,bkj->bqk", q, W, k)
    if bias:
        expected = expected + (q @ score.W_a.bias)[:, :, None]
    torch.testing.assert_close(score(q, k), expected)


def test_additive_score_bahdanau_eq6():
    """e_ij = v_a^T tanh(W_a s_{i-1} + U_a h_j), written out one (i, j) pair at a time."""
    score = AdditiveScore(DQ, DK, HIDDEN)
    q, k = torch.randn(B, TQ, DQ), torch.randn(B, TK, DK)
    W_a, U_a, b, v_a = score.W_a.weight, score.U_a.weight, score.U_a.bias, score.v_a.weight[0]
    expected = torch.empty(B, TQ, TK)
    for n in range(B):
        for i in range(TQ):
            for j in range(TK):
                expected[n, i, j] = v_a @ torch.tanh(W_a @ q[n, i] + U_a @ k[n, j] + b)
    torch.testing.assert_close(score(q, k), expected)


def test_additive_score_is_luong_concat():
    """Luong's concat score v_a^T tanh(W_a [h_t; h_s]) with W_a = [W_q | W_k] is the additive score."""
    score = AdditiveScore(DQ, DK, HIDDEN)
    q, k = torch.randn(B, TQ, DQ), torch.randn(B, TK, DK)
    W_concat = torch.cat([score.W_a.weight, score.U_a.weight], dim=1)  # (hidden, Dq + Dk)
    pairs = torch.cat([q[:, :, None, :].expand(-1, -1, TK, -1), k[:, None, :, :].expand(-1, TQ, -1, -1)], dim=-1)
    expected = torch.tanh(pairs @ W_concat.T + score.U_a.bias) @ score.v_a.weight[0]
    torch.testing.assert_close(score(q, k), expected)


def test_cosine_score_graves_eqs5_6():
    """w_i = beta * K[k, M_i] with K[u, v] = u.v / (|u| |v|); beta a scalar, per example or per query."""
    q, k = torch.randn(B, TQ, DK), torch.randn(B, TK, DK)
    cosine = torch.tensor(
        [
            [[float(q[n, i] @ k[n, j] / (q[n, i].norm() * k[n, j].norm())) for j in range(TK)] for i in range(TQ)]
            for n in range(B)
        ]
    )
    torch.testing.assert_close(CosineScore()(q, k), cosine)
    torch.testing.assert_close(CosineScore(strength=3.0)(q, k), 3.0 * cosine)
    beta = torch.tensor([2.0, 5.0])  # (B,)
    torch.testing.assert_close(CosineScore()(q, k, beta), beta[:, None, None] * cosine)
    beta_per_query = torch.rand(B, TQ) * 10  # (B, Tq)
    torch.testing.assert_close(CosineScore()(q, k, beta_per_query), beta_per_query[:, :, None] * cosine)
    torch.testing.assert_close(CosineScore().cosine(q, k, k.norm(dim=-1)), cosine)  # eq. (6) alone


def test_cosine_score_zero_vectors_give_zero_not_nan():
    q, k = torch.randn(B, TQ, DK), torch.randn(B, TK, DK)
    q[0, 1] = 0.0
    k[1, 2] = 0.0
    scores = CosineScore(strength=4.0)(q, k)
    assert torch.isfinite(scores).all()
    assert torch.equal(scores[0, 1], torch.zeros(TK))
    assert torch.equal(scores[1, :, 2], torch.zeros(TQ))


def test_cosine_score_rejects_wrong_strength_shape():
    q, k = torch.randn(B, TQ, DK), torch.randn(B, TK, DK)
    with pytest.raises(ValueError, match=r"strength: expected \(B,\) or \(B, Tq\) = \(2, 3\), got \(3,\)"):
        CosineScore()(q, k, torch.ones(3))


def test_location_score_luong_eq9():
    """a_t = softmax(W_a h_t), over a fixed max source length cropped to the Tk keys at hand."""
    score = LocationScore(DQ, max_source_len=9)
    q, k = torch.randn(B, TQ, DQ), torch.randn(B, TK, DK)
    full = q @ score.W_a.weight.T + score.W_a.bias  # (B, Tq, 9)
    torch.testing.assert_close(score(q, k), full[..., :TK])
    weights = Attention(score)(q, k).weights
    torch.testing.assert_close(weights, torch.softmax(full[..., :TK], dim=-1))
    with pytest.raises(ValueError, match=r"keys: expected at most max_source_len = 9 positions, got 10"):
        score(q, torch.randn(B, 10, DK))


def make_score(name, dtype=torch.float32):
    return {
        "dot": lambda: DotScore(),
        "scaled_dot": lambda: ScaledDotScore(),
        "general": lambda: GeneralScore(DQ, DK, bias=True, dtype=dtype),
        "additive": lambda: AdditiveScore(DQ, DK, HIDDEN, dtype=dtype),
        "cosine": lambda: CosineScore(strength=2.0),
        "location": lambda: LocationScore(DQ, max_source_len=8, dtype=dtype),
    }[name]()


def score_inputs(name, dtype=torch.float32):
    same = name in ("dot", "scaled_dot", "cosine")
    q = torch.randn(B, TQ, DK if same else DQ, dtype=dtype)
    k = torch.randn(B, TK, DK, dtype=dtype)
    return q, k


SCORES = ["dot", "scaled_dot", "general", "additive", "cosine", "location"]


@pytest.mark.parametrize("name", SCORES)
def test_prepared_keys_give_the_forward_scores(name):
    score = make_score(name)
    q, k = score_inputs(name)
    prepared = score.prepare_keys(k)
    torch.testing.assert_close(score.score(q, prepared), score(q, k))
    # and through Attention, the way a decoder reuses them at every step
    attention = Attention(score)
    expected = attention(q, k)
    for step in range(TQ):
        got = attention(q[:, step], k, prepared_keys=attention.prepare_keys(k))
        torch.testing.assert_close(got.context, expected.context[:, step])
        torch.testing.assert_close(got.weights, expected.weights[:, step])


@pytest.mark.parametrize("name", SCORES)
def test_gradcheck_scores_float64(name):
    """Gradients with respect to query, keys and every parameter."""
    score = make_score(name, torch.float64)
    q, k = score_inputs(name, torch.float64)
    names = [n for n, _ in score.named_parameters()]
    params = [p.detach().clone().requires_grad_() for _, p in score.named_parameters()]

    def run(q, k, *params):
        return functional_call(score, dict(zip(names, params, strict=True)), (q, k))

    assert torch.autograd.gradcheck(run, (q.requires_grad_(), k.requires_grad_(), *params))


def test_gradcheck_cosine_strength_float64():
    q, k = score_inputs("cosine", torch.float64)
    beta = torch.rand(B, TQ, dtype=torch.float64) + 0.5
    inputs = (q.requires_grad_(), k.requires_grad_(), beta.requires_grad_())
    assert torch.autograd.gradcheck(lambda q, k, beta: CosineScore()(q, k, beta), inputs)
