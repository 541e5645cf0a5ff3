"""MultiHeadAttention: equal to torch.nn.MultiheadAttention, KV cache, masks, properties, gradcheck."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.func import functional_call

from attnzoo import KVCache, MultiHeadAttention, causal_mask

B, E, H = 3, 16, 4


def torch_twin(ours: MultiHeadAttention) -> nn.MultiheadAttention:
    """``nn.MultiheadAttention(batch_first=True)`` with our weights copied in."""
    bias = ours.q_proj.bias is not None
    ref = nn.MultiheadAttention(
        ours.embed_dim,
        ours.num_heads,
        bias=bias,
        kdim=ours.kdim,
        vdim=ours.vdim,
        batch_first=True,
        dtype=ours.q_proj.weight.dtype,
    )
    with torch.no_grad():
        if ref._qkv_same_embed_dim:
            ref.in_proj_weight.copy_(torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight]))
        else:
            ref.q_proj_weight.copy_(ours.q_proj.weight)
            ref.k_proj_weight.copy_(ours.k_proj.weight)
            ref.v_proj_weight.copy_(ours.v_proj.weight)
        ref.out_proj.weight.copy_(ours.out_proj.weight)
        if bias:
            ref.in_proj_bias.copy_(torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias]))
            ref.out_proj.bias.copy_(ours.out_proj.bias)
    return ref


def random_biases(module: nn.Module) -> None:
    """The default init zeroes the biases; give them values so the comparison sees them."""
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            if name.endswith("bias"):
                parameter.normal_()


def random_mask(*shape: int) -> torch.Tensor:
    """A bool mask, True = may attend, with at least one allowed key per query (torch gives NaN otherwise)."""
    mask = torch.rand(shape) > 0.4
    mask[..., 0] = True
    return mask


# (name, kdim, vdim, Tk, mask kind): self- and cross-attention, each mask form our API accepts
CASES = [
    ("self", None, None, None, "none"),
    ("self", None, None, None, "padding"),
    ("self", None, None, None, "causal"),
    ("self", None, None, None, "full"),
    ("self", None, None, None, "2d"),
    ("self", None, None, None, "per_head"),
    ("self", None, None, None, "padding+causal"),
    ("cross", None, None, 7, "none"),
    ("cross", None, None, 7, "padding"),
    ("cross", None, None, 7, "full"),
    ("cross", 10, 12, 7, "none"),
    ("cross", 10, 12, 7, "padding"),
    ("cross", 10, 12, 7, "per_head"),
]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize(("kind", "kdim", "vdim", "tk", "mask_kind"), CASES)
def test_equals_torch_multihead_attention(kind, kdim, vdim, tk, mask_kind, need_weights, bias):
    tq = 5
    ours = MultiHeadAttention(E, H, kdim=kdim, vdim=vdim, bias=bias).eval()
    if bias:
        random_biases(ours)
    ref = torch_twin(ours).eval()
    query = torch.randn(B, tq, E)
    if kind == "self":
        tk, key, value = tq, query, query
    else:
        key, value = torch.randn(B, tk, kdim or E), torch.randn(B, tk, vdim or E)

    # ours: True = may attend; torch: True = blocked, per head as (B * H, Tq, Tk)
    ours_kwargs, ref_kwargs = {}, {}
    if "padding" in mask_kind:
        padding = random_mask(B, tk)
        ours_kwargs["mask"] = padding[:, None, :]
        ref_kwargs["key_padding_mask"] = ~padding
    if "causal" in mask_kind:
        ours_kwargs["causal"] = True
        ref_kwargs["attn_mask"] = ~causal_mask(tq, tk)
    if mask_kind == "full":
        mask = random_mask(B, tq, tk)
        ours_kwargs["mask"] = mask
        ref_kwargs["attn_mask"] = (~mask).repeat_interleave(H, dim=0)
    if mask_kind == "2d":
        mask = random_mask(tq, tk)
        ours_kwargs["mask"] = mask
        ref_kwargs["attn_mask"] = ~mask
    if mask_kind == "per_head":
        mask = random_mask(B, H, tq, tk)
        ours_kwargs["mask"] = mask
        ref_kwargs["attn_mask"] = (~mask).reshape(B * H, tq, tk)

    got = ours(
        query,
        None if kind == "self" else key,
        None if kind == "self" else value,
        need_weights=need_weights,
        **ours_kwargs,
    )
    expected, expected_weights = ref(
        query, key, value, need_weights=need_weights, average_attn_weights=False, **ref_kwargs
    )
    torch.testing.assert_close(got.context, expected, rtol=1e-5, atol=1e-5)
    if need_weights:
        assert got.weights.shape == (B, H, tq, tk)
        torch.testing.assert_close(got.weights, expected_weights, rtol=1e-5, atol=1e-5)
    else:
        assert got.weights is None


def test_equals_torch_in_inference_mode_and_with_gradients():
    """torch takes its fused fast path under no_grad in eval mode; the training path has autograd."""
    ours = MultiHeadAttention(E, H)
    random_biases(ours)
    ref = torch_twin(ours)
    x = torch.randn(B, 6, E)
    padding = random_mask(B, 6)
    with torch.no_grad():
        torch.testing.assert_close(
            ours.eval()(x, mask=padding[:, None, :], need_weights=False).context,
            ref.eval()(x, x, x, key_padding_mask=~padding, need_weights=False)[0],
            rtol=1e-5,
            atol=1e-5,
        )
    ours.train()
    ref.train()
    ours(x, mask=padding[:, None, :]).context.square().sum().backward()
    ref(x, x, x, key_padding_mask=~padding)[0].square().sum().backward()
    torch.testing.assert_close(ours.out_proj.weight.grad, ref.out_proj.weight.grad, rtol=1e-4, atol=1e-5)
    ours_in_proj = torch.cat([ours.q_proj.weight.grad, ours.k_proj.weight.grad, ours.v_proj.weight.grad])
    torch.testing.assert_close(ours_in_proj, ref.in_proj_weight.grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("need_weights", [True, False])
def test_causal_flag_equals_explicit_causal_mask(need_weights):
    mha = MultiHeadAttention(E, H)
    x = torch.randn(B, 6, E)
    flagged = mha(x, causal=True, need_weights=need_weights)
    explicit = mha(x, mask=causal_mask(6), need_weights=need_weights)
    torch.testing.assert_close(flagged.context, explicit.context)
    if need_weights:
        torch.testing.assert_close(flagged.weights, explicit.weights)
        assert torch.equal(flagged.weights.triu(1), torch.zeros_like(flagged.weights))


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("step_sizes", [[1] * 7, [3, 1, 1, 2]], ids=["one_at_a_time", "prefix_then_steps"])
def test_kv_cache_incremental_decoding_equals_full_causal_pass(need_weights, step_sizes):
    mha = MultiHeadAttention(E, H).eval()
    random_biases(mha)
    x = torch.randn(B, 7, E)
    padding = random_mask(B, 7)
    full = mha(x, mask=padding[:, None, :], causal=True, need_weights=True)
    cache = KVCache()
    start = 0
    for size in step_sizes:
        stop = start + size
        step = mha(x[:, start:stop], mask=padding[:, None, :stop], causal=True, need_weights=need_weights, cache=cache)
        assert len(cache) == stop
        torch.testing.assert_close(step.context, full.context[:, start:stop], rtol=1e-5, atol=1e-5)
        if need_weights:
            torch.testing.assert_close(step.weights, full.weights[:, :, start:stop, :stop], rtol=1e-5, atol=1e-5)
        start = stop
    assert cache.keys.shape == cache.values.shape == (B, H, 7, E // H)


@pytest.mark.parametrize("need_weights", [True, False])
def test_static_cache_for_cross_attention(need_weights):
    mha = MultiHeadAttention(E, H, kdim=10, vdim=12).eval()
    random_biases(mha)
    queries, memory, memory_values = torch.randn(B, 5, E), torch.randn(B, 9, 10), torch.randn(B, 9, 12)
    padding = random_mask(B, 9)
    full = mha(queries, memory, memory_values, mask=padding[:, None, :], need_weights=need_weights)
    cache = KVCache(static=True)
    for t in range(5):
        key, value = (memory, memory_values) if t == 0 else (None, None)  # projected once, then reused
        step = mha(queries[:, t : t + 1], key, value, mask=padding[:, None, :], need_weights=need_weights, cache=cache)
        assert len(cache) == 9
        torch.testing.assert_close(step.context, full.context[:, t : t + 1], rtol=1e-5, atol=1e-5)
        if need_weights:
            torch.testing.assert_close(step.weights, full.weights[:, :, t : t + 1], rtol=1e-5, atol=1e-5)


def test_kv_cache_reorder_follows_the_batch():
    mha = MultiHeadAttention(E, H).eval()
    x = torch.randn(B, 4, E)
    order = torch.tensor([2, 0, 0])
    cache = KVCache()
    mha(x[:, :3], causal=True, cache=cache)
    cache.reorder(order)
    step = mha(x[order, 3:], causal=True, cache=cache)
    full = mha(x[order], causal=True)
    torch.testing.assert_close(step.context, full.context[:, 3:], rtol=1e-5, atol=1e-5)
    empty = KVCache()
    empty.reorder(order)  # nothing cached yet: nothing to do
    assert len(empty) == 0 and not empty.is_filled


@pytest.mark.parametrize("need_weights", [True, False])
def test_fully_masked_query_gives_zero_heads_and_finite_gradients(need_weights):
    mha = MultiHeadAttention(E, H)
    random_biases(mha)
    x = torch.randn(B, 4, E, requires_grad=True)
    mask = random_mask(B, 4, 4)
    mask[1, 2] = False
    out = mha(x, mask=mask, need_weights=need_weights)
    # every head's context is zero, so the output is the output projection of zero: its bias
    torch.testing.assert_close(out.context[1, 2], mha.out_proj.bias, rtol=0, atol=1e-6)
    if need_weights:
        assert torch.equal(out.weights[1, :, 2], torch.zeros(H, 4))
    out.context.square().sum().backward()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in mha.parameters())


def test_dropout_only_in_training():
    mha = MultiHeadAttention(E, H, dropout=0.5)
    x = torch.randn(B, 6, E)
    mha.eval()
    torch.testing.assert_close(mha(x).context, mha(x, need_weights=False).context, rtol=1e-5, atol=1e-6)
    mha.train()
    for need_weights in (True, False):
        first, second = mha(x, need_weights=need_weights).context, mha(x, need_weights=need_weights).context
        assert torch.isfinite(first).all() and not torch.allclose(first, second)


def test_constructor():
    with pytest.raises(ValueError, match=r"embed_dim: expected a multiple of num_heads = 3, got 16"):
        MultiHeadAttention(16, 3)
    mha = MultiHeadAttention(8, 2, kdim=3, vdim=5, bias=False, dtype=torch.float64)
    assert mha.head_dim == 4 and mha.k_proj.in_features == 3 and mha.v_proj.in_features == 5
    assert all(p.dtype == torch.float64 for p in mha.parameters())
    assert mha.q_proj.bias is None


@settings(max_examples=25, deadline=None)
@given(tq=st.integers(1, 5), tk=st.integers(1, 6), data=st.data())
def test_weights_sum_to_one_over_allowed_keys(tq, tk, data):
    torch.manual_seed(data.draw(st.integers(0, 2**16)))
    mask = torch.tensor(data.draw(st.lists(st.booleans(), min_size=2 * tq * tk, max_size=2 * tq * tk)))
    mask = mask.view(2, tq, tk)
    mha = MultiHeadAttention(8, 2, bias=False)
    query, key = torch.randn(2, tq, 8, requires_grad=True), torch.randn(2, tk, 8, requires_grad=True)
    out = mha(query, key, mask=mask)
    heads_mask = mask[:, None].expand(-1, 2, -1, -1)
    assert torch.equal(out.weights[~heads_mask], torch.zeros_like(out.weights[~heads_mask]))
    torch.testing.assert_close(out.weights.sum(-1), heads_mask.any(-1).float())
    # no bias: a query without keys has zero context, on both paths, and every gradient is finite
    empty = ~mask.any(-1)
    fused = mha(query, key, mask=mask, need_weights=False).context
    for context in (out.context, fused):
        assert torch.equal(context[empty], torch.zeros_like(context[empty]))
    (out.context.sum() + out.weights.square().sum() + fused.sum()).backward()
    assert all(torch.isfinite(t.grad).all() for t in (query, key, *mha.parameters()))


@settings(max_examples=25, deadline=None)
@given(length=st.integers(2, 7), need_weights=st.booleans(), data=st.data())
def test_self_attention_is_permutation_equivariant(length, need_weights, data):
    torch.manual_seed(data.draw(st.integers(0, 2**16)))
    perm = torch.tensor(data.draw(st.permutations(range(length))))
    mha = MultiHeadAttention(8, 2)
    x = torch.randn(2, length, 8)
    mask = random_mask(2, 1, length)
    out = mha(x, mask=mask, need_weights=need_weights)
    permuted = mha(x[:, perm], mask=mask[..., perm], need_weights=need_weights)
    torch.testing.assert_close(permuted.context, out.context[:, perm], rtol=1e-5, atol=1e-5)
    if need_weights:
        torch.testing.assert_close(permuted.weights, out.weights[:, :, perm][..., perm], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("kind", ["self_causal", "cross_kdim_vdim"])
def test_gradcheck_multihead_attention_float64(kind, need_weights):
    double = torch.float64
    if kind == "self_causal":
        mha = MultiHeadAttention(4, 2, dtype=double)
        query = torch.randn(2, 3, 4, dtype=double)
        key = value = None
        mask, causal = torch.tensor([[True, True, True], [False, True, True]])[:, None, :], True
        mask = mask.clone()
    else:
        mha = MultiHeadAttention(4, 2, kdim=3, vdim=2, dtype=double)
        query = torch.randn(2, 3, 4, dtype=double)
        key, value = torch.randn(2, 4, 3, dtype=double), torch.randn(2, 4, 2, dtype=double)
        mask, causal = random_mask(2, 3, 4), False
        mask[1, 2] = False  # a query without keys
    random_biases(mha)
    names = [n for n, _ in mha.named_parameters()]
    params = [p.detach().clone().requires_grad_() for _, p in mha.named_parameters()]
    inputs = [t.requires_grad_() for t in (query, key, value) if t is not None]

    def run(*tensors):
        given = list(tensors[: len(inputs)]) + [None] * (3 - len(inputs))
        state = dict(zip(names, tensors[len(inputs) :], strict=True))
        kwargs = {"mask": mask, "causal": causal, "need_weights": need_weights}
        out = functional_call(mha, state, tuple(given), kwargs)
        return tuple(out) if need_weights else out.context

    assert torch.autograd.gradcheck(run, (*inputs, *params))
