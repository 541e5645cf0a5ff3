"""Wrong shapes and dtypes raise ValueError naming the argument, the expected and the received shape."""

import re

import pytest
import torch

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
)

B, TQ, TK, DQ, DK, DV = 2, 3, 5, 4, 6, 7


def mechanisms():
    """Every module that takes (query, keys, values, mask), with the query/key sizes it expects."""
    return {
        "attention_additive": (Attention(AdditiveScore(DQ, DK, 8)), DQ, DK),
        "attention_general": (Attention(GeneralScore(DQ, DK), chunk_size=2), DQ, DK),
        "attention_location": (Attention(LocationScore(DQ, max_source_len=8)), DQ, DK),
        "attention_dot_fused": (Attention(ScaledDotScore()), DK, DK),
        "attention_cosine": (Attention(CosineScore()), DK, DK),
        "local_m": (LocalAttention(DotScore(), mode="monotonic", window=2), DK, DK),
        "local_p": (LocalAttention(GeneralScore(DQ, DK), window=2, query_dim=DQ), DQ, DK),
        "hard": (HardAttention(AdditiveScore(DQ, DK, 8)), DQ, DK),
    }


def call(module, query, keys, values, mask):
    if isinstance(module, Attention) and isinstance(module.score, ScaledDotScore):
        return module(query, keys, values, mask=mask, need_weights=False)  # the fused SDPA path
    return module(query, keys, values, mask=mask)


def raises(argument: str, expected: str, received: tuple):
    """``pytest.raises`` for a message that names the argument, the expected and the received shape."""
    return pytest.raises(
        ValueError, match=rf"^{argument}: expected .*{re.escape(expected)}.*{re.escape(str(received))}"
    )


NAMES = list(mechanisms())


@pytest.mark.parametrize("name", NAMES)
def test_good_input_works(name):
    module, dq, dk = mechanisms()[name]
    out = call(
        module,
        torch.randn(B, TQ, dq),
        torch.randn(B, TK, dk),
        torch.randn(B, TK, DV),
        torch.ones(B, TQ, TK, dtype=torch.bool),
    )
    assert out.context.shape == (B, TQ, DV)


@pytest.mark.parametrize("name", NAMES)
def test_mismatched_batch_sizes(name):
    module, dq, dk = mechanisms()[name]
    with raises("query", "(B, Tq, Dq", (B + 1, TQ, dq)):
        call(module, torch.randn(B + 1, TQ, dq), torch.randn(B, TK, dk), None, None)
    with raises("values", "(B, Tk, Dv) = (2, 5, ?)", (B + 1, TK, DV)):
        call(module, torch.randn(B, TQ, dq), torch.randn(B, TK, dk), torch.randn(B + 1, TK, DV), None)


@pytest.mark.parametrize("name", NAMES)
def test_mismatched_lengths_of_keys_and_values(name):
    module, dq, dk = mechanisms()[name]
    with raises("values", "(B, Tk, Dv) = (2, 5, ?)", (B, TK + 1, DV)):
        call(module, torch.randn(B, TQ, dq), torch.randn(B, TK, dk), torch.randn(B, TK + 1, DV), None)


@pytest.mark.parametrize("name", NAMES)
def test_mismatched_feature_sizes(name):
    module, dq, dk = mechanisms()[name]
    if dq == dk:  # scores that need Dq == Dk blame the query for not matching the keys
        with raises("query", f"(B, Tq, Dq = Dk) = (2, ?, {dk + 1})", (B, TQ, dq)):
            call(module, torch.randn(B, TQ, dq), torch.randn(B, TK, dk + 1), None, None)
    elif name != "attention_location":  # the location score never looks at the keys' features
        with raises("keys", f"(B, Tk, Dk) = (?, ?, {dk})", (B, TK, dk + 1)):
            call(module, torch.randn(B, TQ, dq), torch.randn(B, TK, dk + 1), None, None)
    with raises("query", "(B, Tq, Dq", (B, TQ, dq + 1)):
        call(module, torch.randn(B, TQ, dq + 1), torch.randn(B, TK, dk), None, None)


@pytest.mark.parametrize("name", NAMES)
def test_wrong_number_of_dims(name):
    module, dq, dk = mechanisms()[name]
    with raises("keys", "(B, Tk, Dk)", (TK, dk)):
        call(module, torch.randn(B, TQ, dq), torch.randn(TK, dk), None, None)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mask_shape", [(B, TQ, TK + 1), (B + 1, TQ, TK), (B, TQ + 1, TK), (TK - 1,)])
def test_mask_of_wrong_shape(name, mask_shape):
    module, dq, dk = mechanisms()[name]
    with raises("mask", f"broadcasts to {(B, TQ, TK)}", mask_shape):
        call(module, torch.randn(B, TQ, dq), torch.randn(B, TK, dk), None, torch.ones(mask_shape, dtype=torch.bool))


@pytest.mark.parametrize("name", NAMES)
def test_mask_of_wrong_shape_for_a_single_query(name):
    module, dq, dk = mechanisms()[name]
    with raises("mask", f"broadcasts to {(B, TK)}", (B, TK + 1)):
        call(module, torch.randn(B, dq), torch.randn(B, TK, dk), None, torch.ones(B, TK + 1, dtype=torch.bool))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.int64, torch.uint8])
def test_non_bool_mask(name, dtype):
    module, dq, dk = mechanisms()[name]
    with pytest.raises(ValueError, match=rf"^mask: expected a bool tensor .*got dtype {dtype}"):
        call(module, torch.randn(B, TQ, dq), torch.randn(B, TK, dk), None, torch.ones(B, TQ, TK, dtype=dtype))


@pytest.mark.parametrize("score", [DotScore(), ScaledDotScore(), GeneralScore(DQ, DK), AdditiveScore(DQ, DK, 3)])
def test_scores_check_their_inputs(score):
    same = isinstance(score, DotScore)
    dq = DK if same else DQ
    with raises("query", "(B, Tq, Dq", (B + 1, TQ, dq)):
        score(torch.randn(B + 1, TQ, dq), torch.randn(B, TK, DK))
    with raises("query" if same else "keys", "= (", (B, TQ, dq) if same else (B, TK, DK + 1)):
        score(torch.randn(B, TQ, dq), torch.randn(B, TK, DK + 1))


class TestMultiHead:
    mha = MultiHeadAttention(16, 4, kdim=DK, vdim=DV)

    def test_query(self):
        with raises("query", "(B, Tq, E) = (?, ?, 16)", (B, TQ, 15)):
            self.mha(torch.randn(B, TQ, 15), torch.randn(B, TK, DK), torch.randn(B, TK, DV))
        with raises("query", "(B, Tq, E)", (B, 16)):
            self.mha(torch.randn(B, 16), torch.randn(B, TK, DK), torch.randn(B, TK, DV))

    def test_keys_and_values(self):
        query = torch.randn(B, TQ, 16)
        with raises("keys", "(B, Tk, Dk) = (2, ?, 6)", (B, TK, DK + 1)):
            self.mha(query, torch.randn(B, TK, DK + 1), torch.randn(B, TK, DV))
        with raises("keys", "(B, Tk, Dk) = (2, ?, 6)", (B + 1, TK, DK)):
            self.mha(query, torch.randn(B + 1, TK, DK), torch.randn(B + 1, TK, DV))
        with raises("values", "(B, Tk, Dv) = (2, 5, 7)", (B, TK + 1, DV)):
            self.mha(query, torch.randn(B, TK, DK), torch.randn(B, TK + 1, DV))
        with raises("values", "(B, Tk, Dv) = (2, 5, 7)", (B, TK, DV - 1)):
            self.mha(query, torch.randn(B, TK, DK), torch.randn(B, TK, DV - 1))
        with raises("keys", "(B, Tk, Dk) = (2, ?, 6)", (B, TQ, 16)):  # self-attention needs kdim == E
            self.mha(query)

    @pytest.mark.parametrize("mask_shape", [(B, TQ, TK + 1), (B + 1, 1, TK), (B, 3, TQ, TK), (B, 4, 1, TK, 1)])
    def test_mask_shape(self, mask_shape):
        expected = (B, 4, TQ, TK) if len(mask_shape) == 4 else (B, TQ, TK)
        with raises("mask", f"broadcasts to {expected}", mask_shape):
            self.mha(
                torch.randn(B, TQ, 16),
                torch.randn(B, TK, DK),
                torch.randn(B, TK, DV),
                mask=torch.ones(mask_shape, dtype=torch.bool),
            )

    @pytest.mark.parametrize("need_weights", [True, False])
    def test_non_bool_mask(self, need_weights):
        with pytest.raises(ValueError, match=r"^mask: expected a bool tensor .*got dtype torch.float32"):
            self.mha(
                torch.randn(B, TQ, 16),
                torch.randn(B, TK, DK),
                torch.randn(B, TK, DV),
                mask=torch.zeros(B, TQ, TK),
                need_weights=need_weights,
            )

    def test_cache_of_another_batch(self):
        mha = MultiHeadAttention(16, 4)
        cache = KVCache()
        mha(torch.randn(B, 2, 16), cache=cache, causal=True)
        with raises("cache", f"(B, H, T, head_dim) = ({B + 1}, 4, ?, 4)", (B, 4, 2, 4)):
            mha(torch.randn(B + 1, 1, 16), cache=cache, causal=True)
        static = KVCache(static=True)
        mha(torch.randn(B, 1, 16), torch.randn(B, TK, 16), cache=static)
        with raises("cache", f"(B, H, T, head_dim) = ({B + 1}, 4, ?, 4)", (B, 4, TK, 4)):
            mha(torch.randn(B + 1, 1, 16), cache=static)
