"""Every mechanism takes DESIGN's call shape ``mech(query, keys, values, *, mask=..., need_weights=...)``."""

import pytest
import torch

from attnzoo import (
    AdditiveScore,
    Attention,
    CosineScore,
    DotScore,
    GeneralScore,
    HardAttention,
    LocalAttention,
    MultiHeadAttention,
    ScaledDotScore,
)

B, TQ, TK, D, DV = 2, 3, 5, 4, 6


def mechanisms():
    """name: (mechanism, query size, output size); keys have ``D`` features, values ``DV``."""
    return {
        "attention_additive": (Attention(AdditiveScore(D, D, 3)), D, DV),
        "attention_dot": (Attention(ScaledDotScore()), D, DV),
        "attention_general_chunked": (Attention(GeneralScore(D, D), chunk_size=2), D, DV),
        "local_m": (LocalAttention(DotScore(), mode="monotonic", window=1), D, DV),
        "local_p": (LocalAttention(CosineScore(), window=2, query_dim=D), D, DV),
        "hard": (HardAttention(AdditiveScore(D, D, 3)), D, DV),
        "multihead_dot": (MultiHeadAttention(8, 2, kdim=D, vdim=DV), 8, 8),
        "multihead_additive": (MultiHeadAttention(8, 2, score=AdditiveScore(4, 4, 3), kdim=D, vdim=DV), 8, 8),
    }


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("name", list(mechanisms()))
def test_common_call_shape(name, need_weights):
    mechanism, dq, out_dim = mechanisms()[name]
    query, keys, values = torch.randn(B, TQ, dq), torch.randn(B, TK, D), torch.randn(B, TK, DV)
    mask = torch.rand(B, TQ, TK) > 0.3
    mask[1, 2] = False  # a query without keys: zeros, never NaN
    out = mechanism(query, keys, values, mask=mask, need_weights=need_weights)
    context, weights = out[:2]  # AttentionOutput, or a NamedTuple whose first two fields are these
    assert context.shape == (B, TQ, out_dim) and torch.isfinite(context).all()
    if not need_weights:
        assert weights is None
        return
    expected = (B, 2, TQ, TK) if isinstance(mechanism, MultiHeadAttention) else (B, TQ, TK)
    assert weights.shape == expected and torch.isfinite(weights).all()
    masked = ~mask[:, None] if weights.dim() == 4 else ~mask
    assert torch.equal(weights * masked, torch.zeros_like(weights))  # no weight on a masked key
    assert torch.equal(weights.select(-2, 2)[1], torch.zeros_like(weights.select(-2, 2)[1]))


@pytest.mark.parametrize("name", list(mechanisms()))
def test_mask_is_keyword_only(name):
    mechanism, dq, _ = mechanisms()[name]
    query, keys, values = torch.randn(B, TQ, dq), torch.randn(B, TK, D), torch.randn(B, TK, DV)
    with pytest.raises(TypeError):
        mechanism(query, keys, values, torch.ones(B, TQ, TK, dtype=torch.bool))


@pytest.mark.parametrize("name", ["attention_additive", "attention_dot", "local_m", "hard"])
@pytest.mark.parametrize("need_weights", [True, False])
def test_single_query(name, need_weights):
    mechanism, dq, out_dim = mechanisms()[name]
    query, keys, values, mask = torch.randn(B, dq), torch.randn(B, TK, D), torch.randn(B, TK, DV), torch.ones(B, TK) > 0
    out = mechanism(query, keys, values, mask=mask, need_weights=need_weights)
    assert out[0].shape == (B, out_dim)
    assert (out[1] is None) if not need_weights else out[1].shape == (B, TK)
