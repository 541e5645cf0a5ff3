"""The Transformer against torch.nn.Transformer with copied weights, KV-cached generation, attention maps."""

import pytest
import torch
from torch import nn

from attnzoo import create_model, lengths_to_mask
from attnzoo.decoding import greedy_decode
from attnzoo.models.transformer import Transformer, TransformerConfig

D_MODEL, HEADS, FF = 32, 4, 64


def copy_attention(ours, theirs: nn.MultiheadAttention) -> None:
    q, k, v = theirs.in_proj_weight.chunk(3)
    qb, kb, vb = theirs.in_proj_bias.chunk(3)
    for projection, weight, bias in ((ours.q_proj, q, qb), (ours.k_proj, k, kb), (ours.v_proj, v, vb)):
        projection.weight.copy_(weight)
        projection.bias.copy_(bias)
    ours.out_proj.load_state_dict(theirs.out_proj.state_dict())


def copy_common(ours, theirs) -> None:
    """Feed-forward and norms, shared by encoder and decoder layers."""
    ours.feed_forward.linear1.load_state_dict(theirs.linear1.state_dict())
    ours.feed_forward.linear2.load_state_dict(theirs.linear2.state_dict())


@torch.no_grad()
def copy_from_torch(model: Transformer, reference: nn.Transformer) -> None:
    for ours, theirs in zip(model.encoder_layers, reference.encoder.layers, strict=True):
        copy_attention(ours.self_attention, theirs.self_attn)
        copy_common(ours, theirs)
        ours.attention_block.norm.load_state_dict(theirs.norm1.state_dict())
        ours.feed_forward_block.norm.load_state_dict(theirs.norm2.state_dict())
    for ours, theirs in zip(model.decoder_layers, reference.decoder.layers, strict=True):
        copy_attention(ours.self_attention, theirs.self_attn)
        copy_attention(ours.cross_attention, theirs.multihead_attn)
        copy_common(ours, theirs)
        ours.self_block.norm.load_state_dict(theirs.norm1.state_dict())
        ours.cross_block.norm.load_state_dict(theirs.norm2.state_dict())
        ours.feed_forward_block.norm.load_state_dict(theirs.norm3.state_dict())
    model.encoder_norm.load_state_dict(reference.encoder.norm.state_dict())
    model.decoder_norm.load_state_dict(reference.decoder.norm.state_dict())


@pytest.mark.parametrize("norm_first", [False, True])
def test_equals_torch_transformer_with_copied_weights(norm_first):
    torch.manual_seed(0)
    config = TransformerConfig(
        d_model=D_MODEL,
        num_heads=HEADS,
        d_ff=FF,
        dropout=0.0,
        norm_first=norm_first,
        num_encoder_layers=2,
        num_decoder_layers=2,
    )
    model = Transformer(config).eval()
    reference = nn.Transformer(D_MODEL, HEADS, 2, 2, FF, dropout=0.0, batch_first=True, norm_first=norm_first).eval()
    copy_from_torch(model, reference)
    source, target = torch.randn(3, 7, D_MODEL), torch.randn(3, 5, D_MODEL)
    source_lengths, target_lengths = torch.tensor([7, 4, 6]), torch.tensor([5, 5, 3])
    source_keep = lengths_to_mask(source_lengths, 7)
    target_keep = lengths_to_mask(target_lengths, 5)
    expected = reference(
        source,
        target,
        tgt_mask=torch.ones(5, 5, dtype=torch.bool).triu(1),  # True = blocked, as torch expects
        src_key_padding_mask=~source_keep,
        tgt_key_padding_mask=~target_keep,
        memory_key_padding_mask=~source_keep,
    )
    memory, _ = model.encode_embedded(source, source_keep[:, None, :])
    decoded, _, _ = model.decode_embedded(target, memory, source_keep[:, None, :], target_keep[:, None, :])
    keep = target_keep[:, :, None]  # rows of padded target positions are not compared: both are arbitrary there
    torch.testing.assert_close(decoded * keep, expected * keep, atol=1e-5, rtol=1e-5)


def small_model(**overrides) -> Transformer:
    torch.manual_seed(0)
    config = TransformerConfig(
        source_vocab_size=11, target_vocab_size=13, d_model=D_MODEL, num_heads=HEADS, d_ff=FF, dropout=0.0, **overrides
    )
    return create_model("transformer", config).eval()


@pytest.mark.parametrize("overrides", [{}, {"norm_first": True, "positions": "learned", "tie_embeddings": True}])
def test_cached_generation_equals_full_recomputation(overrides):
    model = small_model(**overrides)
    source = torch.randint(4, 11, (3, 6))
    source_lengths = torch.tensor([6, 3, 5])
    decoded = greedy_decode(model.step, model.start_decoding(source, source_lengths), 3, bos_id=1, max_len=8)
    prefix = torch.full((3, 1), 1)
    with torch.no_grad():
        for position in range(decoded.tokens.size(1)):
            logits = model(source, source_lengths, prefix).logits[:, -1]  # recompute the whole prefix
            full_choice = logits.argmax(dim=-1)
            assert torch.equal(full_choice, decoded.tokens[:, position])
            prefix = torch.cat([prefix, full_choice[:, None]], dim=1)
        state = model.start_decoding(source, source_lengths)
        for position in range(prefix.size(1) - 1):
            cached_log_probs, state, _ = model.step(prefix[:, position], state)
            full_logits = model(source, source_lengths, prefix[:, : position + 1]).logits[:, -1]
            torch.testing.assert_close(cached_log_probs, torch.log_softmax(full_logits, -1), atol=1e-5, rtol=1e-5)


def test_weights_are_returned_per_layer_and_head():
    model = small_model()
    source, target = torch.randint(4, 11, (2, 6)), torch.randint(4, 13, (2, 4))
    output = model(source, torch.tensor([6, 2]), target, need_weights=True)
    assert output.logits.shape == (2, 4, 13)
    assert [w.shape for w in output.encoder_weights] == [(2, HEADS, 6, 6)] * 2
    assert [w.shape for w in output.cross_weights] == [(2, HEADS, 4, 6)] * 2
    assert torch.all(output.cross_weights[0][1, :, :, 2:] == 0)  # source padding of example 2
    assert torch.all(output.decoder_self_weights[0].triu(diagonal=1) == 0)  # causal


def test_bad_source_shape_is_reported():
    model = small_model()
    with pytest.raises(ValueError, match=r"source_lengths: expected \(B,\)"):
        model(torch.randint(4, 11, (2, 6)), torch.tensor([6, 2, 3]), torch.randint(4, 13, (2, 4)))


def test_bad_configs_name_the_field():
    with pytest.raises(ValueError, match="d_model: expected a multiple of num_heads"):
        TransformerConfig(d_model=30, num_heads=4)
    with pytest.raises(ValueError, match="positions: expected 'sinusoidal' or 'learned', got 'rotary'"):
        TransformerConfig(positions="rotary")
    with pytest.raises(ValueError, match="dropout: expected a probability"):
        TransformerConfig(dropout=1.5)


def test_scaled_token_embeddings_have_the_size_of_the_positional_encoding():
    """§3.4 multiplies embeddings by sqrt(d_model): initialised N(0, 1/d_model), a scaled token vector
    has unit components like the sinusoids, and the first layer's attention is not one-hot at start."""
    torch.manual_seed(0)
    model = create_model("transformer", TransformerConfig(d_model=128, num_heads=4, dropout=0.0)).eval()
    scaled = model.source_embedding.tokens.weight[1:] * 128**0.5
    assert 0.9 < scaled.std().item() < 1.1
    assert torch.all(model.source_embedding.tokens.weight[0] == 0)  # padding
    source = torch.randint(4, 64, (4, 20))
    weights = model(source, torch.full((4,), 20), source[:, :5], need_weights=True).encoder_weights[0]
    assert weights.max(dim=-1).values.mean() < 0.5


def test_attention_maps_are_the_weights_generation_used(tmp_path):
    """The teacher-forced pass over the generated output reproduces each cached step's cross-attention."""
    from attnzoo.training import train

    model = {"d_model": 16, "num_heads": 2, "d_ff": 32, "num_encoder_layers": 1, "num_decoder_layers": 2}
    task = {"train_size": 200, "valid_size": 40, "test_size": 40}
    run = train("transformer", tmp_path / "run", model=model, task=task, training={"steps": 3}, progress=False)
    recipe, net = run.recipe(), run.load_model()
    data = run.build_task(recipe)
    text = "3 March 2015"
    maps = recipe.attention_maps(net, data, text)
    heads, layers = net.config.num_heads, net.config.num_decoder_layers
    length, source_length = len(maps["output_tokens"]), len(maps["source_tokens"])
    assert [tuple(w.shape) for w in maps["cross"]] == [(heads, length, source_length)] * layers
    assert [tuple(w.shape) for w in maps["decoder_self"]] == [(heads, length, length)] * layers
    source = torch.tensor([data.encode_source(text)])
    decoded = net.generate(source, torch.tensor([source.size(1)]), length, need_weights=True)
    torch.testing.assert_close(decoded.alignments[0, :length], maps["cross"][-1].mean(dim=0))
