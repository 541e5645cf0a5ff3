"""Attention (global soft attention) against the equations; fused path, chunks, properties, gradcheck."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.func import functional_call

from attnzoo import (
    AdditiveScore,
    Attention,
    CosineScore,
    DotScore,
    GeneralScore,
    ScaledDotScore,
    lengths_to_mask,
)


def test_bahdanau_context_eqs5_6():
    """alpha_ij = exp(e_ij) / sum_k exp(e_ik) over the source (padding excluded), c_i = sum_j alpha_ij h_j."""
    B, TQ, TK, DQ, DK, DV = 2, 3, 4, 5, 6, 7
    score = AdditiveScore(DQ, DK, 8)
    s, h, v = torch.randn(B, TQ, DQ), torch.randn(B, TK, DK), torch.randn(B, TK, DV)
    lengths = torch.tensor([4, 2])
    out = Attention(score)(s, h, v, mask=lengths_to_mask(lengths)[:, None, :])
    for n in range(B):
        for i in range(TQ):
            e = torch.stack([score.v_a(torch.tanh(score.W_a(s[n, i]) + score.U_a(h[n, j])))[0] for j in range(TK)])
            e = e[: lengths[n]]
            alpha = e.exp() / e.exp().sum()
            torch.testing.assert_close(out.weights[n, i, : lengths[n]], alpha)
            assert torch.equal(out.weights[n, i, lengths[n] :], torch.zeros(TK - lengths[n]))
            torch.testing.assert_close(out.context[n, i], (alpha[:, None] * v[n, : lengths[n]]).sum(0))


def test_luong_global_general_eq7():
    """a_t(s) = softmax_s(h_t^T W_a h_s); c_t = sum_s a_t(s) h_s; values default to the keys."""
    score = GeneralScore(4, 6)
    h_t, h_s = torch.randn(2, 4), torch.randn(2, 5, 6)
    out = Attention(score)(h_t, h_s)  # a single query
    scores = torch.einsum("bi,ij,bsj->bs", h_t, score.W_a.weight, h_s)
    weights = torch.softmax(scores, dim=-1)
    torch.testing.assert_close(out.weights, weights)
    torch.testing.assert_close(out.context, torch.einsum("bs,bsd->bd", weights, h_s))


def test_single_query_shapes():
    attention = Attention(AdditiveScore(4, 6, 5))
    out = attention(torch.randn(3, 4), torch.randn(3, 7, 6), torch.randn(3, 7, 2), mask=torch.rand(3, 7) > 0.3)
    assert out.context.shape == (3, 2)
    assert out.weights.shape == (3, 7)
    fused = Attention(ScaledDotScore())(torch.randn(3, 4), torch.randn(3, 7, 4), need_weights=False)
    assert fused.context.shape == (3, 4)
    assert fused.weights is None


@pytest.mark.parametrize("score", [DotScore(), ScaledDotScore()], ids=["dot", "scaled_dot"])
@pytest.mark.parametrize("mask_shape", [None, (2, 3, 5), (2, 1, 5), (3, 5)])
def test_fused_path_equals_weights_path(score, mask_shape):
    attention = Attention(score)
    q, k, v = torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 6)
    mask = None if mask_shape is None else torch.rand(mask_shape) > 0.4
    full = attention(q, k, v, mask=mask)
    fused = attention(q, k, v, mask=mask, need_weights=False)
    assert fused.weights is None
    torch.testing.assert_close(fused.context, full.context)


@pytest.mark.parametrize("need_weights", [True, False])
def test_fully_masked_query_gives_zero_context_zero_weights_finite_gradients(need_weights):
    for score in (ScaledDotScore(), AdditiveScore(4, 4, 3)):
        q = torch.randn(2, 3, 4, requires_grad=True)
        k = torch.randn(2, 5, 4, requires_grad=True)
        v = torch.randn(2, 5, 6, requires_grad=True)
        mask = torch.ones(2, 3, 5, dtype=torch.bool)
        mask[1, 2] = False
        out = Attention(score)(q, k, v, mask=mask, need_weights=need_weights)
        assert torch.equal(out.context[1, 2], torch.zeros(6))
        if need_weights:
            assert torch.equal(out.weights[1, 2], torch.zeros(5))
        (out.context * torch.randn_like(out.context)).sum().backward()
        for tensor in (q, k, v, *score.parameters()):
            assert torch.isfinite(tensor.grad).all()
        assert torch.equal(q.grad[1, 2], torch.zeros(4))


def test_all_keys_masked_for_every_query():
    out = Attention(AdditiveScore(4, 4, 3))(torch.randn(2, 4), torch.randn(2, 5, 4), mask=torch.zeros(2, 5).bool())
    assert torch.equal(out.context, torch.zeros(2, 4))
    assert torch.equal(out.weights, torch.zeros(2, 5))


def mask_from(data, shape):
    size = 1
    for n in shape:
        size *= n
    return torch.tensor(data.draw(st.lists(st.booleans(), min_size=size, max_size=size))).view(shape)


SCORE_NAMES = ["dot", "scaled_dot", "general", "additive", "cosine"]


def make_score(name, dim):
    return {
        "dot": DotScore,
        "scaled_dot": ScaledDotScore,
        "general": lambda: GeneralScore(dim, dim),
        "additive": lambda: AdditiveScore(dim, dim, 5),
        "cosine": lambda: CosineScore(strength=3.0),
    }[name]()


@settings(max_examples=25, deadline=None)
@given(
    name=st.sampled_from(SCORE_NAMES),
    batch=st.integers(1, 3),
    tq=st.integers(1, 4),
    tk=st.integers(1, 5),
    data=st.data(),
)
def test_weights_sum_to_one_over_allowed_keys_and_zero_on_masked(name, batch, tq, tk, data):
    torch.manual_seed(data.draw(st.integers(0, 2**16)))
    mask = mask_from(data, (batch, tq, tk))
    q, k, v = (torch.randn(batch, tq, 4), torch.randn(batch, tk, 4), torch.randn(batch, tk, 3))
    inputs = [t.requires_grad_() for t in (q, k, v)]
    attention = Attention(make_score(name, 4))
    out = attention(q, k, v, mask=mask)
    assert torch.equal(out.weights[~mask], torch.zeros_like(out.weights[~mask]))
    torch.testing.assert_close(out.weights.sum(-1), mask.any(-1).float())
    # a query with no allowed key: zero context (fused path too), finite gradients everywhere
    empty = ~mask.any(-1)
    fused = attention(q, k, v, mask=mask, need_weights=False).context
    for context in (out.context, fused):
        assert torch.equal(context[empty], torch.zeros_like(context[empty]))
    (out.context.sum() + out.weights.square().sum() + fused.sum()).backward()
    assert all(torch.isfinite(t.grad).all() for t in (*inputs, *attention.parameters()))


@settings(max_examples=25, deadline=None)
@given(
    name=st.sampled_from(SCORE_NAMES),
    tq=st.integers(1, 9),
    chunk_size=st.integers(1, 10),
    mask_kind=st.sampled_from(["none", "full", "padding", "2d"]),
    data=st.data(),
)
def test_chunked_equals_unchunked(name, tq, chunk_size, mask_kind, data):
    torch.manual_seed(data.draw(st.integers(0, 2**16)))
    batch, tk = 2, 5
    shapes = {"none": None, "full": (batch, tq, tk), "padding": (batch, 1, tk), "2d": (tq, tk)}
    mask = None if shapes[mask_kind] is None else mask_from(data, shapes[mask_kind])
    q, k, v = torch.randn(batch, tq, 4), torch.randn(batch, tk, 4), torch.randn(batch, tk, 3)
    score = make_score(name, 4)
    whole = Attention(score)(q, k, v, mask=mask)
    chunked = Attention(score, chunk_size=chunk_size)(q, k, v, mask=mask)
    torch.testing.assert_close(chunked.context, whole.context, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(chunked.weights, whole.weights, rtol=1e-6, atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(
    name=st.sampled_from(SCORE_NAMES),
    length=st.integers(2, 7),
    need_weights=st.booleans(),
    data=st.data(),
)
def test_self_attention_is_permutation_equivariant(name, length, need_weights, data):
    """Without positions, permuting the sequence permutes the outputs (and both axes of the weights)."""
    torch.manual_seed(data.draw(st.integers(0, 2**16)))
    perm = torch.tensor(data.draw(st.permutations(range(length))))
    x = torch.randn(2, length, 4)
    mask = mask_from(data, (2, length, length))
    attention = Attention(make_score(name, 4))
    out = attention(x, x, mask=mask, need_weights=need_weights)
    permuted = attention(x[:, perm], x[:, perm], mask=mask[:, perm][:, :, perm], need_weights=need_weights)
    torch.testing.assert_close(permuted.context, out.context[:, perm], rtol=1e-5, atol=1e-6)
    if need_weights:
        torch.testing.assert_close(permuted.weights, out.weights[:, perm][:, :, perm], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", SCORE_NAMES)
@pytest.mark.parametrize("need_weights", [True, False])
def test_gradcheck_attention_float64(name, need_weights):
    score = make_score(name, 3).double()
    attention = Attention(score, chunk_size=2)
    q, k, v = (
        torch.randn(2, 3, 3, dtype=torch.float64),
        torch.randn(2, 4, 3, dtype=torch.float64),
        torch.randn(2, 4, 2, dtype=torch.float64),
    )
    mask = torch.ones(2, 3, 4, dtype=torch.bool)
    mask[0, 1, 2:] = False
    mask[1, 2] = False  # a query with no key
    names = [n for n, _ in attention.named_parameters()]
    params = [p.detach().clone().requires_grad_() for _, p in attention.named_parameters()]

    def run(q, k, v, *params):
        kwargs = {"mask": mask, "need_weights": need_weights}
        out = functional_call(attention, dict(zip(names, params, strict=True)), (q, k, v), kwargs)
        return tuple(out) if need_weights else out.context

    assert torch.autograd.gradcheck(run, (q.requires_grad_(), k.requires_grad_(), v.requires_grad_(), *params))


def test_values_default_to_keys():
    attention = Attention(AdditiveScore(4, 6, 5))
    q, k = torch.randn(2, 3, 4), torch.randn(2, 5, 6)
    torch.testing.assert_close(attention(q, k).context, attention(q, k, k).context)
