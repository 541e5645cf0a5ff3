"""Numerical sweep: every mechanism x dtype (float64, float32, bfloat16, float16) on hypothesis cases.

Shapes down to 1, no mask / random masks / fully masked rows / everything masked, zero or equal
keys, and input scales from 1e-6 to 1e4. For each case it asserts:

- outputs and gradients are finite wherever the exact (float64) ones are representable in the
  dtype (at scale 1e4 a float16 gradient of 1e8 cannot be: that is not a NaN of ours). In
  float16 the gradients are checked only when a bound of their intermediates,
  ``value_scale * max(scale, 1)^2 * D * max(Tq, Tk)``, is below float16's largest number / 8
  (the gradient of ``W_a h_s`` overflows before ``W_a^T`` brings it back into range);
- masked keys get zero weight, rows sum to 1 over their allowed keys (local-p: at most 1),
  a query with no allowed key gets zero weights and a zero context;
- the fused path (SDPA) equals the unfused one within a dtype-appropriate tolerance, and
  cached decoding equals the full causal pass, wherever the comparison is well conditioned:
  when a score's rounding error, ``eps(dtype) * scale^2 * D``, exceeds 1e-2 (e.g. float32 at
  scale 1e4: scores of 1e9 with an ulp of 64), equal keys can legitimately get weights 0 and 1
  in one path and 1/2 each in the other, and the comparison is skipped (and counted).

The default run is short. ``ATTNZOO_SLOW=1`` runs 2000 cases per mechanism x dtype
(``ATTNZOO_SLOW_EXAMPLES`` overrides the number); ``ATTNZOO_SWEEP_REPORT=path`` appends one JSON
line per test there with the cases tried and the non-finite values found on finite input.
"""

import copy
import json
import os
from typing import NamedTuple

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attnzoo import (
    AdditiveScore,
    Attention,
    CosineScore,
    DotScore,
    GeneralScore,
    HardAttention,
    KVCache,
    LocalAttention,
    LocationScore,
    MultiHeadAttention,
    ScaledDotScore,
    causal_mask,
)

SLOW = os.environ.get("ATTNZOO_SLOW") == "1"
EXAMPLES = int(os.environ.get("ATTNZOO_SLOW_EXAMPLES", "2000")) if SLOW else 6
SWEEP = settings(
    max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck), derandomize=not SLOW
)
DTYPES = [torch.float64, torch.float32, torch.bfloat16, torch.float16]
TOL = {torch.float64: 1e-9, torch.float32: 1e-4, torch.bfloat16: 4e-2, torch.float16: 5e-3}  # x the values' scale
SUM_TOL = {torch.float64: 1e-12, torch.float32: 1e-5, torch.bfloat16: 4e-2, torch.float16: 5e-3}
STATS = {"cases": 0, "nonfinite": 0, "grads_unchecked": 0, "fused_unchecked": 0}


class Case(NamedTuple):
    batch: int
    tq: int
    tk: int
    dim: int  # Dq = Dk = Dv (MultiHeadAttention: head_dim)
    heads: int
    scale: float  # of queries and keys
    value_scale: float
    mask: str  # "none", "random", "rows" (some fully masked rows), "all"
    special: str  # "none", "zero_keys", "equal_keys", "zero_query"
    seed: int


@st.composite
def cases(draw) -> Case:
    tq, tk = draw(st.integers(1, 4)), draw(st.integers(1, 6))
    return Case(
        draw(st.integers(1, 3)),
        tq,
        tk,
        draw(st.integers(1, 5)),
        draw(st.integers(1, 2)),
        10 ** draw(st.floats(-6, 4)),
        10 ** draw(st.floats(-6, 4)),
        draw(st.sampled_from(["none", "random", "rows", "all"])),
        draw(st.sampled_from(["none", "zero_keys", "equal_keys", "zero_query"])),
        draw(st.integers(0, 2**31 - 1)),
    )


def make_inputs(case: Case, tq: int, tk: int, dim: int) -> tuple[torch.Tensor, ...]:
    """Float64 ``query (B, tq, dim)``, ``keys``, ``values (B, tk, dim)`` and the mask ``(B, tq, tk)`` or None."""
    gen = torch.Generator().manual_seed(case.seed)
    query = torch.randn(case.batch, tq, dim, generator=gen, dtype=torch.float64) * case.scale
    keys = torch.randn(case.batch, tk, dim, generator=gen, dtype=torch.float64) * case.scale
    values = torch.randn(case.batch, tk, dim, generator=gen, dtype=torch.float64) * case.value_scale
    if case.special == "zero_keys":
        keys[:, ::2] = 0
    elif case.special == "equal_keys":
        keys[:] = keys[:, :1]
    elif case.special == "zero_query":
        query[:, :1] = 0
    mask = None
    if case.mask != "none":
        mask = torch.rand(case.batch, tq, tk, generator=gen) < 0.7
        if case.mask == "rows":
            mask[:, :: max(1, tq - 1)] = False
        elif case.mask == "all":
            mask[:] = False
    return query, keys, values, mask


def cast(tensors, dtype):
    return [t.to(dtype).requires_grad_() for t in tensors]


def gradients(outputs, inputs, module):
    """Gradients of ``sum(outputs)`` (as ones times each output, so no sum overflows) w.r.t. inputs and parameters."""
    wrt = [*inputs, *[p for p in module.parameters() if p.requires_grad]]
    outputs = [o for o in outputs if o is not None and o.requires_grad]
    grads = torch.autograd.grad(outputs, wrt, [torch.ones_like(o) for o in outputs], allow_unused=True)
    return [torch.zeros_like(w) if g is None else g for w, g in zip(wrt, grads, strict=True)]


def check_finite(tensors, references, dtype, what):
    """Non-finite values where the float64 reference is representable in ``dtype`` fail the case (and are counted)."""
    limit = torch.finfo(dtype).max / 8
    for index, (got, ref) in enumerate(zip(tensors, references, strict=True)):
        bad = ~torch.isfinite(got) & (ref.abs() <= limit)
        if bad.any():
            STATS["nonfinite"] += 1
            raise AssertionError(f"{what}[{index}] ({dtype}): {int(bad.sum())} non-finite values on finite input")


def check_weights(weights, allowed, context, dtype, at_most=False):
    """Zero on masked keys, rows summing to 1 (``at_most``: <= 1) over allowed keys, zero rows with none allowed."""
    weights = weights.double()
    assert (weights[~allowed] == 0).all(), "weight on a masked key"
    assert (weights >= 0).all()
    sums, has_key = weights.sum(-1), allowed.any(-1)
    assert (sums[~has_key] == 0).all(), "weight in a fully masked row"
    assert (sums <= 1 + SUM_TOL[dtype]).all()
    if not at_most:
        assert ((sums[has_key] - 1).abs() <= SUM_TOL[dtype]).all(), f"rows sum to {sums[has_key]}"
    if context is not None:
        assert (context.double()[~has_key.expand(context.shape[:-1])] == 0).all(), "context of a fully masked row"


def assert_paths_agree(got, expected, case, dtype, size, value_scale):
    """``got`` = ``expected`` within ``TOL[dtype]`` plus ten scores' rounding errors, times the values' scale."""
    score_error = torch.finfo(dtype).eps * case.scale**2 * size  # rounding error of a score ~ its weight's
    if score_error > 1e-2:
        STATS["fused_unchecked"] += 1
        return
    atol = (TOL[dtype] + 10 * score_error) * max(1.0, value_scale)
    torch.testing.assert_close(got.double(), expected.double(), atol=atol, rtol=TOL[dtype])


def run(name, case, dtype):
    """Build ``name`` in ``dtype`` and in float64 (same parameters) and check one case."""
    STATS["cases"] += 1
    torch.manual_seed(case.seed % 2**16)
    builder, check = MECHANISMS[name]
    module = builder(case).to(dtype)
    reference = copy.deepcopy(module).double()
    outputs, grads = check(module, case, dtype)
    expected, expected_grads = check(reference, case, torch.float64) if dtype != torch.float64 else (outputs, grads)
    check_finite(outputs, expected, dtype, name)
    size = case.dim * (case.heads if name.startswith("multihead") else 1)
    bound = case.value_scale * max(case.scale, 1.0) ** 2 * size * max(case.tq, case.tk)
    if bound <= torch.finfo(dtype).max / 8:
        check_finite(grads, expected_grads, dtype, f"{name} gradient")
    else:
        STATS["grads_unchecked"] += 1


def soft_check(module, case, dtype):
    query, keys, values, mask = make_inputs(case, case.tq, case.tk, case.dim)
    inputs = cast((query, keys, values), dtype)
    out = module(*inputs, mask=mask)
    allowed = torch.ones(out.weights.shape, dtype=torch.bool) if mask is None else mask
    check_weights(out.weights, allowed, out.context, dtype)
    if module.score.is_dot_product:  # fused = unfused
        fused = module(*inputs, mask=mask, need_weights=False).context
        assert_paths_agree(fused, out.context, case, dtype, case.dim, case.value_scale)
    return [out.context, out.weights], gradients([out.context], inputs, module)


def hard_check(module, case, dtype):
    query, keys, values, mask = make_inputs(case, case.tq, case.tk, case.dim)
    inputs = cast((query, keys, values), dtype)
    out = module(*inputs, mask=mask, sample=False)
    allowed = torch.ones(out.probs.shape, dtype=torch.bool) if mask is None else mask
    check_weights(out.probs, allowed, out.context, dtype)
    check_weights(out.weights, allowed, out.context, dtype)
    has_key = allowed.any(-1)
    assert (out.log_prob[~has_key] == 0).all() and (out.entropy[~has_key] == 0).all()
    assert (out.entropy.double() >= -SUM_TOL[dtype]).all()
    grads = gradients([out.context, out.log_prob, out.entropy], inputs, module)
    return [out.context, out.log_prob, out.entropy], grads


def local_check(module, case, dtype):
    query, keys, values, mask = make_inputs(case, case.tq, case.tk, case.dim)
    inputs = cast((query, keys, values), dtype)
    lengths = torch.randint(1, case.tk + 1, (case.batch,), generator=torch.Generator().manual_seed(case.seed))
    offset = case.seed % 4
    out = module(*inputs, mask=mask, source_lengths=lengths, offset=offset)
    allowed = torch.arange(case.tk) < lengths[:, None, None]  # (B, 1, Tk)
    allowed = allowed & (torch.ones_like(out.weights, dtype=torch.bool) if mask is None else mask)
    if module.mode == "monotonic":
        steps = offset + torch.arange(case.tq)[:, None]
        allowed = allowed & ((torch.arange(case.tk) - steps).abs() <= module.window)
        check_weights(out.weights, allowed, out.context, dtype)
    else:  # the window depends on p_t: check the padding and the sums only
        check_weights(out.weights, allowed, None, dtype, at_most=True)
    return [out.context, out.weights], gradients([out.context], inputs, module)


def mha_check(module, case, dtype, causal=False):
    size = case.dim * case.heads
    query, keys, values, mask = make_inputs(case, case.tq, case.tq if causal else case.tk, size)
    inputs = cast((query,) if causal else (query, keys, values), dtype)  # causal: self-attention
    args = inputs
    out = module(*args, mask=mask, causal=causal)
    allowed = torch.ones(out.weights.shape[-2:], dtype=torch.bool) if mask is None else mask[:, None]
    allowed = allowed & causal_mask(case.tq) if causal else allowed
    allowed = allowed.expand(out.weights.shape)
    check_weights(out.weights, allowed, None, dtype)  # the heads' contexts are not returned
    fused = module(*args, mask=mask, causal=causal, need_weights=False).context
    assert_paths_agree(fused, out.context, case, dtype, size, case.scale if causal else case.value_scale)
    return [out.context, out.weights], gradients([out.context], inputs, module)


def mha_cached_check(module, case, dtype):
    """Causal self-attention step by step through a KVCache equals the full causal pass."""
    outputs = mha_check(module, case, dtype, causal=True)
    query, _, _, mask = make_inputs(case, case.tq, case.tq, case.dim * case.heads)
    padding = None if mask is None else mask[:, -1:, :]  # (B, 1, T): a key-padding mask
    x = query.to(dtype)
    full = module(x, mask=padding, causal=True, need_weights=False).context
    cache, steps = KVCache(), []
    for t in range(case.tq):
        step_mask = None if padding is None else padding[:, :, : t + 1]
        steps.append(module(x[:, t : t + 1], mask=step_mask, causal=True, cache=cache, need_weights=False).context)
    assert_paths_agree(torch.cat(steps, 1), full, case, dtype, case.dim * case.heads, case.scale)
    return outputs


def location(case):
    return Attention(LocationScore(case.dim, max_source_len=8))


MECHANISMS = {
    "attention_dot": (lambda c: Attention(DotScore()), soft_check),
    "attention_scaled_dot": (lambda c: Attention(ScaledDotScore(), chunk_size=2), soft_check),
    "attention_general": (lambda c: Attention(GeneralScore(c.dim, c.dim)), soft_check),
    "attention_additive": (lambda c: Attention(AdditiveScore(c.dim, c.dim, 3), chunk_size=1), soft_check),
    "attention_cosine": (lambda c: Attention(CosineScore(strength=5.0)), soft_check),
    "attention_location": (location, soft_check),
    "local_m": (lambda c: LocalAttention(ScaledDotScore(), mode="monotonic", window=1), local_check),
    "local_p": (lambda c: LocalAttention(GeneralScore(c.dim, c.dim), window=2, query_dim=c.dim), local_check),
    "hard": (lambda c: HardAttention(GeneralScore(c.dim, c.dim)), hard_check),
    "multihead": (lambda c: MultiHeadAttention(c.dim * c.heads, c.heads), mha_check),
    "multihead_causal": (
        lambda c: MultiHeadAttention(c.dim * c.heads, c.heads),
        lambda m, c, d: mha_check(m, c, d, causal=True),
    ),
    "multihead_cached": (lambda c: MultiHeadAttention(c.dim * c.heads, c.heads).eval(), mha_cached_check),
}


@pytest.fixture(autouse=True)
def report(request):
    """Count the cases of each test; append them to ``ATTNZOO_SWEEP_REPORT`` if set."""
    STATS.update(cases=0, nonfinite=0, grads_unchecked=0, fused_unchecked=0)
    yield
    path = os.environ.get("ATTNZOO_SWEEP_REPORT")
    if path:
        with open(path, "a") as file:
            file.write(json.dumps({"test": request.node.callspec.id, **STATS}) + "\n")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", list(MECHANISMS))
@SWEEP
@given(case=cases())
def test_sweep(name, dtype, case):
    run(name, case, dtype)
