"""record_attention: the weights the fused kernels never form, recomputed, equal to the unfused ones."""

import pytest
import torch

import attnzoo
from attnzoo import Attention, DotScore, KVCache, MultiHeadAttention, ScaledDotScore, record_attention
from attnzoo.decoding import greedy_decode
from attnzoo.models.transformer.model import TransformerConfig


def small_transformer():
    torch.manual_seed(0)
    config = TransformerConfig(
        source_vocab_size=11, target_vocab_size=13, d_model=16, num_heads=4, d_ff=32, dropout=0.0
    )
    return attnzoo.create_model("transformer", config).eval()


def test_recorded_weights_equal_the_unfused_weights_and_leave_the_outputs_alone():
    model = small_transformer()
    source, lengths, target = torch.randint(4, 11, (3, 7)), torch.tensor([7, 4, 2]), torch.randint(4, 13, (3, 5))
    with torch.no_grad():
        plain = model(source, lengths, target).logits  # the fused path, no weights
        reference = model(source, lengths, target, need_weights=True)  # the unfused path
        with record_attention(model, chunk_size=2) as seen:
            recorded = model(source, lengths, target).logits
    assert torch.equal(recorded, plain)
    assert len(seen) == 6 and all(len(calls) == 1 for calls in seen.values())
    for layer in range(2):
        torch.testing.assert_close(seen[f"encoder_layers.{layer}.self_attention"][0], reference.encoder_weights[layer])
        torch.testing.assert_close(
            seen[f"decoder_layers.{layer}.self_attention"][0], reference.decoder_self_weights[layer]
        )
        torch.testing.assert_close(seen[f"decoder_layers.{layer}.cross_attention"][0], reference.cross_weights[layer])
    cross = seen["decoder_layers.0.cross_attention"][0]
    assert torch.all(cross[2, :, :, 2:] == 0)  # the third source has 2 tokens: its padding gets no weight
    torch.testing.assert_close(cross.sum(-1), torch.ones(3, 4, 5))


def test_glob_patterns_and_heads_choose_what_is_kept():
    model = small_transformer()
    source, lengths, target = torch.randint(4, 11, (2, 6)), torch.tensor([6, 3]), torch.randint(4, 13, (2, 4))
    with torch.no_grad(), record_attention(model, layers="decoder_layers.*.cross_attention", heads=[3, 1]) as seen:
        model(source, lengths, target)
    reference = model(source, lengths, target, need_weights=True)
    assert sorted(seen) == ["decoder_layers.0.cross_attention", "decoder_layers.1.cross_attention"]
    torch.testing.assert_close(seen["decoder_layers.1.cross_attention"][0], reference.cross_weights[1][:, [3, 1]])


def test_cached_generation_records_one_step_per_call_and_joins_them():
    model = small_transformer()
    source, lengths = torch.randint(4, 11, (2, 6)), torch.tensor([6, 4])
    with torch.no_grad(), record_attention(model, layers=["decoder_layers.1.*"]) as seen:
        decoded = greedy_decode(model.step, model.start_decoding(source, lengths), 2, bos_id=1, max_len=5)
    steps = decoded.tokens.size(1)
    prefix = torch.cat([torch.ones(2, 1, dtype=torch.long), decoded.tokens[:, :-1]], dim=1)
    reference = model(source, lengths, prefix, need_weights=True)
    assert len(seen["decoder_layers.1.self_attention"]) == steps
    torch.testing.assert_close(seen.weights("decoder_layers.1.cross_attention"), reference.cross_weights[1])
    # step t saw t + 1 keys: the joined self-attention is padded with zeros, i.e. the causal weights
    torch.testing.assert_close(seen.weights("decoder_layers.1.self_attention"), reference.decoder_self_weights[1])


def test_soft_attention_fused_path_and_a_fully_masked_query():
    torch.manual_seed(1)
    layer = Attention(DotScore())
    model = torch.nn.ModuleDict({"attend": layer})
    query, keys = torch.randn(2, 3, 5), torch.randn(2, 4, 5)
    mask = torch.ones(2, 3, 4, dtype=torch.bool)
    mask[0, 1] = False  # a query with no allowed key
    mask[1, :, 3] = False
    with record_attention(model, chunk_size=1) as seen:
        fused = layer(query, keys, mask=mask, need_weights=False)
    unfused = layer(query, keys, mask=mask)
    torch.testing.assert_close(fused.context, unfused.context)
    weights = seen["attend"][0]
    torch.testing.assert_close(weights, unfused.weights)
    assert torch.all(weights[0, 1] == 0) and not weights.isnan().any()
    assert torch.all(weights[1, :, 3] == 0)
    expected = torch.softmax((query[1] @ keys[1, :3].T), dim=-1)  # eq.: softmax over the allowed keys
    torch.testing.assert_close(weights[1, :, :3], expected)


def test_a_single_query_and_weights_a_layer_returns_anyway():
    torch.manual_seed(2)
    layer = MultiHeadAttention(8, 2, score=ScaledDotScore())
    query = torch.randn(2, 3, 8)
    with record_attention(layer) as seen:
        returned = layer(query).weights  # need_weights=True: recorded as returned
        layer(query, need_weights=False, causal=True)
    assert torch.equal(seen[""][0], returned)
    torch.testing.assert_close(seen[""][1], layer(query, causal=True).weights)
    soft = Attention(DotScore())
    with record_attention(soft) as seen:
        soft(torch.randn(2, 5), torch.randn(2, 4, 5), need_weights=False)  # (B, Dq): one query
    assert seen[""][0].shape == (2, 4)


def test_a_static_cache_call_without_keys_is_recomputed_from_the_cache():
    torch.manual_seed(3)
    layer = MultiHeadAttention(8, 2)
    memory, cache = torch.randn(1, 5, 8), KVCache(static=True)
    with record_attention(layer) as seen:
        layer(torch.randn(1, 1, 8), memory, cache=cache, need_weights=False)
        second = torch.randn(1, 1, 8)
        layer(second, None, cache=cache, need_weights=False)
    torch.testing.assert_close(seen[""][1], layer(second, memory).weights)


def test_hooks_are_removed_and_bad_choices_are_one_line():
    model = small_transformer()
    source, lengths, target = torch.randint(4, 11, (1, 4)), torch.tensor([4]), torch.randint(4, 13, (1, 3))
    with record_attention(model) as seen:
        pass
    model(source, lengths, target)
    assert all(calls == [] for calls in seen.values())
    with pytest.raises(ValueError, match="names no attention layer.*encoder_layers.0.self_attention"):
        with record_attention(model, layers=["decoder.*"]):
            pass
    with pytest.raises(ValueError, match=r"heads: expected indices in 0..3"):
        with record_attention(model, heads=[4]):
            pass
    with pytest.raises(ValueError, match="has no MultiHeadAttention or Attention layer"):
        with record_attention(torch.nn.Linear(2, 2)):
            pass
    with pytest.raises(KeyError, match="no attention was recorded"):
        seen.weights("nothing")
