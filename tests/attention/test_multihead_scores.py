"""MultiHeadAttention with any score: against the equations, SDPA only for dot products, cache, gradcheck."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.func import functional_call

from attnzoo import (
    AdditiveScore,
    CosineScore,
    DotScore,
    GeneralScore,
    KVCache,
    MultiHeadAttention,
    ScaledDotScore,
)

B, E, H = 2, 8, 2
HD = E // H


def make_score(name: str, dtype=torch.float32):
    """A score over ``head_dim`` features, with every parameter (biases too) random."""
    score = {
        "additive": lambda: AdditiveScore(HD, HD, 5, dtype=dtype),
        "general": lambda: GeneralScore(HD, HD, bias=True, dtype=dtype),
        "cosine": lambda: CosineScore(strength=3.0),
        "dot": lambda: DotScore(),
        "scaled_dot": lambda: ScaledDotScore(),
    }[name]()
    with torch.no_grad():
        for parameter in score.parameters():
            parameter.normal_()
    return score


def make_mha(name: str, dtype=torch.float32, **kwargs) -> MultiHeadAttention:
    mha = MultiHeadAttention(E, H, score=make_score(name, dtype), dtype=dtype, **kwargs)
    with torch.no_grad():
        for parameter_name, parameter in mha.named_parameters():
            if parameter_name.endswith("bias"):
                parameter.normal_()
    return mha


def score_from_equations(score, q, k) -> float:
    """One head's score of query ``q`` (hd,) and key ``k`` (hd,), written from the papers."""
    if isinstance(score, AdditiveScore):  # Bahdanau eq. (6): v_a^T tanh(W_a q + U_a k + b)
        hidden = score.W_a.weight @ q + score.U_a.weight @ k + score.U_a.bias
        return float(score.v_a.weight[0] @ torch.tanh(hidden))
    if isinstance(score, GeneralScore):  # Luong eq. (8): q^T (W_a k + b)
        return float(q @ (score.W_a.weight @ k + score.W_a.bias))
    if isinstance(score, CosineScore):  # Graves eqs. (5)-(6): beta * cos(q, k)
        return score.strength * float(q @ k) / max(float(q.norm() * k.norm()), score.eps)
    if isinstance(score, ScaledDotScore):  # Vaswani eq. (1)
        return float(q @ k) / math.sqrt(q.numel())
    return float(q @ k)  # Luong eq. (8) "dot"


def reference_multihead(mha, query, keys, values, mask):
    """Vaswani §3.2.2 with ``score`` in every head, one example, head, query and key at a time.

    query (B, Tq, E), keys (B, Tk, Dk), values (B, Tk, Dv), mask (B, Tq, Tk) bool True = may attend.
    Returns context (B, Tq, E) and weights (B, H, Tq, Tk).
    """
    batch, tq, tk = query.size(0), query.size(1), keys.size(1)
    q_all, k_all, v_all = mha.q_proj(query), mha.k_proj(keys), mha.v_proj(values)  # (B, T, E) each
    weights = torch.zeros(batch, H, tq, tk, dtype=query.dtype)
    heads = torch.zeros(batch, tq, E, dtype=query.dtype)
    for b in range(batch):
        for h in range(H):
            part = slice(h * HD, (h + 1) * HD)  # head h's columns of Q W^Q, K W^K, V W^V
            for i in range(tq):
                allowed = [j for j in range(tk) if mask[b, i, j]]
                scores = {j: score_from_equations(mha.score, q_all[b, i, part], k_all[b, j, part]) for j in allowed}
                exps = {j: math.exp(value) for j, value in scores.items()}
                total = sum(exps.values())
                for j in allowed:  # masked softmax: zero weight on masked keys, all zero without keys
                    weights[b, h, i, j] = exps[j] / total
                    heads[b, i, part] += weights[b, h, i, j] * v_all[b, j, part]
    return mha.out_proj(heads), weights  # Concat(head_1, ..., head_H) W^O


def random_mask(*shape):
    mask = torch.rand(shape) > 0.4
    mask[..., 0] = True
    return mask


@pytest.mark.parametrize("name", ["additive", "general", "cosine", "dot", "scaled_dot"])
@pytest.mark.parametrize("chunk_size", [None, 2])
def test_matches_the_equations(name, chunk_size):
    mha = make_mha(name, torch.float64, kdim=3, vdim=5, chunk_size=chunk_size).eval()
    query = torch.randn(B, 5, E, dtype=torch.float64)
    keys, values = torch.randn(B, 4, 3, dtype=torch.float64), torch.randn(B, 4, 5, dtype=torch.float64)
    mask = random_mask(B, 5, 4)
    mask[1, 3] = False  # a query with no key
    with torch.no_grad():
        expected_context, expected_weights = reference_multihead(mha, query, keys, values, mask)
        for need_weights in (True, False):
            out = mha(query, keys, values, mask=mask, need_weights=need_weights)
            torch.testing.assert_close(out.context, expected_context, rtol=1e-10, atol=1e-10)
            if need_weights:
                torch.testing.assert_close(out.weights, expected_weights, rtol=1e-10, atol=1e-10)
            else:
                assert out.weights is None


def count_sdpa_calls(monkeypatch) -> list:
    """Replace ``F.scaled_dot_product_attention`` by a wrapper that records each call."""
    calls = []
    original = F.scaled_dot_product_attention

    def counting(*args, **kwargs):
        calls.append(args[0].shape)
        return original(*args, **kwargs)

    monkeypatch.setattr(F, "scaled_dot_product_attention", counting)
    return calls


@pytest.mark.parametrize("name", ["additive", "general", "cosine", "dot", "scaled_dot"])
@pytest.mark.parametrize("need_weights", [True, False])
def test_sdpa_only_for_dot_scores_without_weights(monkeypatch, name, need_weights):
    mha = make_mha(name).eval()
    x, mask = torch.randn(B, 5, E), random_mask(B, 1, 5)
    expected = mha(x, mask=mask, causal=True, need_weights=True).context  # never SDPA
    calls = count_sdpa_calls(monkeypatch)
    out = mha(x, mask=mask, causal=True, need_weights=need_weights)
    uses_sdpa = name in ("dot", "scaled_dot") and not need_weights
    assert calls == ([(B, H, 5, HD)] if uses_sdpa else [])
    torch.testing.assert_close(out.context, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["additive", "cosine"])
@pytest.mark.parametrize("need_weights", [True, False])
def test_kv_cache_with_a_non_dot_score(name, need_weights):
    mha = make_mha(name).eval()
    x = torch.randn(B, 6, E)
    full = mha(x, causal=True)
    cache = KVCache()
    for start, stop in [(0, 3), (3, 4), (4, 6)]:
        step = mha(x[:, start:stop], causal=True, need_weights=need_weights, cache=cache)
        torch.testing.assert_close(step.context, full.context[:, start:stop], rtol=1e-5, atol=1e-5)
        if need_weights:
            torch.testing.assert_close(step.weights, full.weights[:, :, start:stop, :stop], rtol=1e-5, atol=1e-6)
    static = KVCache(static=True)
    memory = torch.randn(B, 7, E)
    whole = mha(x, memory)
    for t in range(3):
        step = mha(x[:, t : t + 1], memory if t == 0 else None, cache=static)
        torch.testing.assert_close(step.context, whole.context[:, t : t + 1], rtol=1e-5, atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(tq=st.integers(1, 5), tk=st.integers(1, 6), name=st.sampled_from(["additive", "cosine"]), data=st.data())
def test_weights_sum_to_one_over_allowed_keys_and_empty_rows_are_zero(tq, tk, name, data):
    torch.manual_seed(data.draw(st.integers(0, 2**16)))
    mask = torch.tensor(data.draw(st.lists(st.booleans(), min_size=B * tq * tk, max_size=B * tq * tk)))
    mask = mask.view(B, tq, tk)
    mha = MultiHeadAttention(E, H, score=make_score(name), bias=False)
    query, keys = torch.randn(B, tq, E, requires_grad=True), torch.randn(B, tk, E, requires_grad=True)
    out = mha(query, keys, mask=mask)
    heads_mask = mask[:, None].expand(-1, H, -1, -1)
    assert torch.equal(out.weights[~heads_mask], torch.zeros_like(out.weights[~heads_mask]))
    torch.testing.assert_close(out.weights.sum(-1), heads_mask.any(-1).float())
    empty = ~mask.any(-1)  # no bias: a query without keys gets a zero context
    assert torch.equal(out.context[empty], torch.zeros_like(out.context[empty]))
    assert torch.isfinite(out.context).all()
    (out.context.sum() + out.weights.square().sum()).backward()
    assert all(torch.isfinite(t.grad).all() for t in (query, keys, *mha.parameters()))


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("name", ["additive", "general"])
def test_gradcheck_non_dot_score_float64(name, need_weights):
    mha = make_mha(name, torch.float64, kdim=3, vdim=2, chunk_size=2)
    query = torch.randn(2, 3, E, dtype=torch.float64, requires_grad=True)
    keys = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    values = torch.randn(2, 4, 2, dtype=torch.float64, requires_grad=True)
    mask = random_mask(2, 3, 4)
    mask[1, 2] = False  # a query without keys
    names = [n for n, _ in mha.named_parameters()]
    params = [p.detach().clone().requires_grad_() for _, p in mha.named_parameters()]

    def run(q, k, v, *tensors):
        state = dict(zip(names, tensors, strict=True))
        out = functional_call(mha, state, (q, k, v), {"mask": mask, "need_weights": need_weights})
        return tuple(out) if need_weights else out.context

    assert torch.autograd.gradcheck(run, (query, keys, values, *params))


def test_score_of_another_size_is_refused():
    with pytest.raises(ValueError, match=r"^score: expected query_dim = head_dim = 4 \(or None\), got 8"):
        MultiHeadAttention(E, H, score=AdditiveScore(8, HD, 5))
    with pytest.raises(ValueError, match=r"^score: expected key_dim = head_dim = 4 \(or None\), got 3"):
        MultiHeadAttention(E, H, score=GeneralScore(HD, 3))


def test_default_score_is_scaled_dot_product_without_parameters():
    mha = MultiHeadAttention(E, H)
    assert isinstance(mha.score, ScaledDotScore)
    assert sorted(mha.state_dict()) == sorted(
        f"{p}_proj.{w}" for p in ("q", "k", "v", "out") for w in ("weight", "bias")
    )
