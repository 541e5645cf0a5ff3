"""Regression tests of the issue "Reliability", numerics part (N1-N5 and non-finite inputs).

Each test failed before its fix; the comment on each says what it used to give.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from attnzoo import (
    Attention,
    CosineScore,
    DotScore,
    GeneralScore,
    HardAttention,
    KVCache,
    LocalAttention,
    MultiHeadAttention,
    ScaledDotScore,
)
from attnzoo.models.ntm import addressing

# N1 -------------------------------------------------------------------------------------------


def test_hard_entropy_gradient_is_finite_when_a_probability_underflows():
    # query 1.0, keys 0 and 110: probs [0, 1] in float32; the entropy's gradient used to be NaN
    query = torch.ones(1, 1, requires_grad=True)
    keys = torch.tensor([[[0.0], [110.0]]], requires_grad=True)
    out = HardAttention(DotScore())(query, keys, sample=False)
    assert out.probs[0, 0] == 0.0
    out.entropy.sum().backward()
    assert torch.isfinite(query.grad).all() and torch.isfinite(keys.grad).all()
    assert out.entropy.item() == 0.0


def test_hard_entropy_gradient_is_finite_with_realistic_scores():
    # scores of std 20 over 49 keys, float32: most batches used to get a NaN gradient
    torch.manual_seed(0)
    score = GeneralScore(8, 8)
    with torch.no_grad():
        score.W_a.weight.copy_(torch.eye(8))
    for _ in range(5):
        query = (torch.randn(16, 8) * 20 / math.sqrt(8)).requires_grad_()  # q . k of std 20
        keys = torch.randn(16, 49, 8)
        out = HardAttention(score)(query, keys, sample=True)
        out.entropy.sum().backward()
        assert torch.isfinite(query.grad).all()
        assert torch.isfinite(score.W_a.weight.grad).all()
        score.zero_grad()


def test_hard_entropy_equals_the_definition():
    torch.manual_seed(1)
    query, keys = torch.randn(2, 3, 4, dtype=torch.float64), torch.randn(2, 5, 4, dtype=torch.float64)
    mask = torch.rand(2, 3, 5) < 0.6
    mask[0, 0] = False  # a query with no allowed key: entropy 0
    out = HardAttention(DotScore())(query, keys, mask=mask, sample=False)
    probs = out.probs
    expected = -(probs * probs.clamp_min(1e-300).log()).sum(-1)
    torch.testing.assert_close(out.entropy, expected)
    assert out.entropy[0, 0] == 0


# N2 -------------------------------------------------------------------------------------------


def test_cosine_of_a_zero_vector_in_float16_is_zero_not_nan():
    # eps 1e-8 rounds to 0 in float16: 0 / 0 used to give NaN
    query = torch.zeros(1, 1, 4, dtype=torch.float16)
    keys = torch.randn(1, 3, 4).to(torch.float16)
    scores = CosineScore()(query, keys)
    assert torch.equal(scores, torch.zeros_like(scores))


def test_cosine_clamps_each_norm_separately_like_torch():
    # vectors of norm 5e-5 with cosine 0.36: clamping the product of norms used to give 0.09
    u = torch.tensor([1.0, 0.0]) * 5e-5
    v = torch.tensor([0.36, math.sqrt(1 - 0.36**2)]) * 5e-5
    got = CosineScore()(u[None, None], v[None, None])[0, 0, 0]
    assert got.item() == pytest.approx(0.36, rel=1e-5)
    assert got.item() == pytest.approx(F.cosine_similarity(u, v, dim=0, eps=1e-8).item(), rel=1e-5)


def test_ntm_addressing_uses_the_per_norm_cosine_forward_and_backward():
    # the NTM's hand-written addressing must follow CosineScore's per-norm clamp, forward and backward
    torch.manual_seed(2)
    memory, key = torch.randn(2, 5, 3, dtype=torch.float64) * 5e-5, torch.randn(2, 2, 3, dtype=torch.float64) * 5e-5
    memory[0, 1] = 0.0  # a zero row
    key[1, 0] = 1e-9  # a key of norm below eps
    beta, gate = torch.rand(2, 2, dtype=torch.float64) * 5 + 0.5, torch.rand(2, 2, dtype=torch.float64)
    shift = torch.softmax(torch.randn(2, 2, 3, dtype=torch.float64), -1)
    gamma = 1 + torch.rand(2, 2, dtype=torch.float64)
    previous = torch.softmax(torch.randn(2, 2, 5, dtype=torch.float64), -1)

    def by_autograd(memory, key, beta, gate, torch_cosine=False):  # eqs. (5)-(9) by autograd
        if torch_cosine:
            cosine = F.cosine_similarity(key[:, :, None], memory[:, None], dim=-1, eps=addressing.COSINE_EPS)
        else:  # the same values; its gradient at a clamped norm is 0, F.cosine_similarity's is not
            cosine = CosineScore(eps=addressing.COSINE_EPS).cosine(key, memory, memory.norm(dim=-1))
        interpolated = torch.lerp(previous, torch.softmax(beta[..., None] * cosine, -1), gate[..., None])
        shifted = sum(shift[..., k, None] * torch.roll(interpolated, o, -1) for k, o in enumerate((-1, 0, 1)))
        return torch.softmax(gamma[..., None] * shifted.clamp_min(addressing.SHARPEN_FLOOR).log(), -1)

    ours_in = [t.clone().requires_grad_() for t in (memory, key, beta, gate)]
    theirs_in = [t.clone().requires_grad_() for t in (memory, key, beta, gate)]
    ours = addressing.ntm_address(*ours_in, shift, gamma, previous)
    theirs = by_autograd(*theirs_in)
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(ours, by_autograd(memory, key, beta, gate, torch_cosine=True))
    grad = torch.randn_like(ours)
    ours_grads, theirs_grads = torch.autograd.grad(ours, ours_in, grad), torch.autograd.grad(theirs, theirs_in, grad)
    for mine, reference in zip(ours_grads, theirs_grads, strict=True):
        torch.testing.assert_close(mine, reference, rtol=1e-7, atol=1e-9 * reference.abs().max().item())


# N3 -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("score", [DotScore(), ScaledDotScore()])
def test_float16_large_scores_unfused_equals_fused(score):
    # q = k = 300 in float16: q . k = 90000 overflows; need_weights=True used to give NaN
    query = torch.full((1, 1, 1), 300.0, dtype=torch.float16)
    keys = torch.tensor([[[300.0], [299.0]]], dtype=torch.float16)
    values = torch.tensor([[[1.0], [2.0]]], dtype=torch.float16)
    attention = Attention(score)
    unfused = attention(query, keys, values, need_weights=True)
    fused = attention(query, keys, values, need_weights=False)
    assert unfused.weights.dtype == torch.float16
    torch.testing.assert_close(unfused.context, fused.context)
    torch.testing.assert_close(unfused.context, values[:, :1])


def test_float16_large_scores_in_multihead_attention():
    mha = MultiHeadAttention(2, 1, bias=False, dtype=torch.float16)
    with torch.no_grad():
        for projection in (mha.q_proj, mha.k_proj, mha.v_proj, mha.out_proj):
            projection.weight.copy_(torch.eye(2))
    x = torch.tensor([[[300.0, 300.0], [1.0, 2.0]]], dtype=torch.float16)
    unfused = mha(x, need_weights=True)
    fused = mha(x, need_weights=False)
    assert unfused.weights.dtype == torch.float16
    assert torch.isfinite(unfused.context).all()
    torch.testing.assert_close(unfused.context, fused.context)


# N4 -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("dtype", "step"), [(torch.bfloat16, 2999), (torch.bfloat16, 257), (torch.float16, 2049)])
def test_local_m_window_is_exact_in_half_precision(dtype, step):
    # bfloat16, D = 2, t = 2999 used to put weight on 15 keys; float16 was shifted at t = 2049
    tk = 3000
    attention = LocalAttention(DotScore(), mode="monotonic", window=2)
    query = torch.zeros(1, 1, 2, dtype=dtype)
    keys = torch.zeros(1, tk, 2, dtype=dtype)
    weights = attention(query, keys, offset=step).weights[0, 0]
    allowed = [s for s in range(tk) if abs(s - step) <= 2]
    assert weights.nonzero().flatten().tolist() == allowed
    torch.testing.assert_close(
        weights[allowed].float(), torch.full((len(allowed),), 1 / len(allowed)), atol=1e-2, rtol=0
    )


def test_local_p_centre_is_float32_in_half_precision():
    attention = LocalAttention(DotScore(), mode="predictive", window=2, query_dim=2, dtype=torch.bfloat16)
    query = torch.randn(1, 1, 2, dtype=torch.bfloat16)
    centres = attention.centres(query, torch.tensor([3000]), 0)
    assert centres.dtype == torch.float32


# N5 -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["monotonic", "predictive"])
def test_local_gives_no_weight_beyond_the_source_length(mode):
    # source_lengths without a mask used to give weight to positions >= S
    torch.manual_seed(3)
    attention = LocalAttention(DotScore(), mode=mode, window=3, query_dim=4)
    if mode == "predictive":
        with torch.no_grad():
            attention.v_p.weight.fill_(10.0)  # p_t close to S
            attention.W_p.weight.copy_(torch.eye(4))
    query, keys = torch.ones(2, 6, 4), torch.randn(2, 8, 4)
    lengths = torch.tensor([4, 8])
    weights = attention(query, keys, source_lengths=lengths).weights
    assert (weights[0, :, 4:] == 0).all()
    assert weights[0, :, :4].sum() > 0


# non-finite inputs ------------------------------------------------------------------------------


def mechanisms():
    return {
        "attention": Attention(GeneralScore(4, 4)),
        "attention_fused": Attention(ScaledDotScore()),
        "local_m": LocalAttention(DotScore(), mode="monotonic", window=2),
        "local_p": LocalAttention(DotScore(), window=2, query_dim=4),
        "hard": HardAttention(DotScore()),
        "multihead": MultiHeadAttention(4, 2),
    }


@pytest.mark.parametrize("name", list(mechanisms()))
@pytest.mark.parametrize("argument", ["query", "keys", "values"])
@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_non_finite_inputs_raise_naming_the_argument(name, argument, bad):
    module = mechanisms()[name]
    inputs = {"query": torch.randn(2, 3, 4), "keys": torch.randn(2, 5, 4), "values": torch.randn(2, 5, 4)}
    inputs[argument][1, 2, 3] = bad
    shown = {math.inf: "inf", -math.inf: "-inf"}.get(bad, "nan")
    with pytest.raises(ValueError, match=rf"^{argument}: expected finite values, got {shown} at \(1, 2, 3\)"):
        module(inputs["query"], inputs["keys"], inputs["values"], need_weights=name != "attention_fused")


@pytest.mark.parametrize("name", ["attention_fused", "multihead"])
def test_finite_check_compiles_without_graph_breaks(name):
    module = mechanisms()[name]
    compiled = torch.compile(module, fullgraph=True, backend="eager")  # fullgraph: a graph break raises
    query = torch.randn(2, 3, 4)
    expected = module(query, query, need_weights=False).context
    torch.testing.assert_close(compiled(query, query, need_weights=False).context, expected)
    query[0, 1, 2] = math.nan
    with pytest.raises(RuntimeError, match="query: expected finite values"):
        compiled(query, query, need_weights=False)


def test_a_filled_static_cache_does_not_check_the_keys_again(monkeypatch):
    from attnzoo.attention import multihead

    mha, cache, memory = MultiHeadAttention(4, 2), KVCache(static=True), torch.randn(2, 5, 4)
    mha(torch.randn(2, 1, 4), memory, cache=cache)
    checked = []
    monkeypatch.setattr(multihead, "check_finite", lambda name, tensor: checked.append(name))
    mha(torch.randn(2, 1, 4), memory, cache=cache)
    assert checked == ["query"]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("size", [1, 4095, 4096, 100_000])
def test_all_finite_finds_every_kind_of_non_finite_value(dtype, size):
    from attnzoo.attention.functional import all_finite

    x = torch.randn(size).to(dtype)
    assert all_finite(x)
    assert all_finite(torch.zeros(0, 3, dtype=dtype))
    for bad in (math.inf, -math.inf, math.nan):
        y = x.clone()
        y[size // 2] = bad
        assert not all_finite(y)
