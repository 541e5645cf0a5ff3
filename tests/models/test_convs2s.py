"""ConvS2S (Gehring et al. 2017): causality by perturbation, cached = full decoding, multi-step attention
against eqs. 1–2 written out, source padding, top-only attention, the §3.4 initialisation, gradcheck;
the agreement of each layer's attention with a gold alignment, counted by hand."""

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from attnzoo import create_model
from attnzoo.models.convs2s import ConvS2SConfig, MultiStepAttention
from attnzoo.models.convs2s.recipe import alignment_scores, gold_agreement
from attnzoo.registry import load_recipe
from attnzoo.tasks.reorder import reorder_splits

SMALL = {"source_vocab_size": 20, "target_vocab_size": 15, "embed_dim": 8, "channels": 6, "encoder_layers": 2}


def model(**overrides):
    torch.manual_seed(0)
    return create_model("convs2s", **{**SMALL, "decoder_layers": 3, "dropout": 0.0, **overrides}).eval()


def batch(generator_seed=0):
    generator = torch.Generator().manual_seed(generator_seed)
    source = torch.randint(3, 20, (2, 7), generator=generator)
    source[1, 4:] = 0  # padding
    return source, torch.tensor([7, 4]), torch.randint(3, 15, (2, 6), generator=generator)


@pytest.mark.parametrize("attention_layers", ["all", "top"])
def test_decoder_is_causal_by_perturbation(attention_layers):
    net, (source, lengths, target) = model(attention_layers=attention_layers), batch()
    logits = net(source, lengths, target).logits
    for t in range(target.size(1)):
        changed = target.clone()
        changed[:, t] = (changed[:, t] + 1 - 3) % 12 + 3
        other = net(source, lengths, changed).logits
        torch.testing.assert_close(other[:, :t], logits[:, :t])  # outputs before t do not see input t
        assert not torch.allclose(other[:, t], logits[:, t])  # output t does


@pytest.mark.parametrize("attention_layers", ["all", "top"])
def test_cached_decoding_equals_full_decoding(attention_layers):
    """Each layer keeps its last k-1 inputs: step-by-step log-probabilities and attention equal the full pass."""
    net, (source, lengths, target) = model(attention_layers=attention_layers, kernel_size=5), batch(1)
    full = net(source, lengths, target, need_weights=True)
    state, steps, alignments = net.start_decoding(source, lengths), [], []
    for t in range(target.size(1)):
        log_probs, state, alignment = net.step(target[:, t], state)
        steps.append(log_probs)
        alignments.append(alignment)
        assert all(window.shape == (2, 4, 6) for window in state["windows"])  # k - 1 inputs, whatever t
    torch.testing.assert_close(torch.stack(steps, 1), full.logits.log_softmax(-1))
    torch.testing.assert_close(torch.stack(alignments, 1), full.weights[-1])


def test_multi_step_attention_is_eqs_1_and_2():
    torch.manual_seed(0)
    attention = MultiStepAttention(ConvS2SConfig(embed_dim=4, channels=3))
    h, g = torch.randn(2, 5, 3), torch.randn(2, 5, 4)
    z, e = torch.randn(2, 6, 4), torch.randn(2, 6, 4)
    lengths = torch.tensor([6, 3])
    mask = (torch.arange(6) < lengths[:, None])[:, None, :]
    out, a = attention(h, g, z, z + e, mask, lengths)
    for b in range(2):
        m = int(lengths[b])
        for i in range(5):
            d = attention.W_d.weight @ h[b, i] + attention.W_d.bias + g[b, i]  # d_i = W_d h_i + b_d + g_i
            scores = torch.stack([d @ z[b, j] for j in range(m)])
            weights = torch.exp(scores) / torch.exp(scores).sum()  # eq. 1
            c = sum(weights[j] * (z[b, j] + e[b, j]) for j in range(m))  # eq. 2
            torch.testing.assert_close(a[b, i, :m], weights)
            assert (a[b, i, m:] == 0).all()  # padding gets zero weight
            torch.testing.assert_close(out[b, i], attention.out(c * m * math.sqrt(1 / m)))  # §3.4 scaling


def test_multi_step_attention_gradcheck_in_float64():
    torch.manual_seed(0)
    attention = MultiStepAttention(ConvS2SConfig(embed_dim=3, channels=2)).double()
    lengths = torch.tensor([4, 2])
    mask = (torch.arange(4) < lengths[:, None])[:, None, :]
    inputs = [torch.randn(2, 3, 2), torch.randn(2, 3, 3), torch.randn(2, 4, 3), torch.randn(2, 4, 3)]
    inputs = [tensor.double().requires_grad_() for tensor in inputs]
    assert torch.autograd.gradcheck(lambda h, g, z, v: attention(h, g, z, v, mask, lengths), inputs)


def test_source_padding_changes_nothing():
    net, (source, lengths, target) = model(), batch(2)
    short = net(source[1:, :4], lengths[1:], target[1:], need_weights=True)
    padded = source[1:].clone()
    padded[:, 4:] = torch.randint(3, 20, (1, 3))  # whatever the padding holds
    long = net(padded, lengths[1:], target[1:], need_weights=True)
    torch.testing.assert_close(long.logits, short.logits)
    assert all((weights[..., 4:] == 0).all() for weights in long.weights)


def test_every_layer_or_the_top_one_attends():
    assert len(model().attention) == 3 and len(model(attention_layers="top").attention) == 1
    assert list(model(attention_layers="top").attention) == ["2"]
    source, lengths, target = batch()
    assert len(model(attention_layers="top")(source, lengths, target, need_weights=True).weights) == 1


@pytest.mark.parametrize("attention_layers, attending", [("all", 3), ("top", 1)])
def test_encoder_gradient_is_divided_by_the_attending_layers(attention_layers, attending):
    """§3.4: the same loss sends the encoder's layers 1 / (attending layers) of the unscaled gradient, the
    source embeddings (through z + e) and the decoder the same gradient; the forward pass is unchanged."""
    source, lengths, target = batch()
    gradients, logits = [], []
    for scale in (True, False):
        net = model(attention_layers=attention_layers, scale_encoder_gradient=scale)
        output = net(source, lengths, target).logits
        output.pow(2).sum().backward()
        logits.append(output)
        encoder = torch.cat([p.grad.flatten() for p in [*net.encoder.parameters(), *net.encoder_out.parameters()]])
        gradients.append((encoder, net.decoder[0].conv.weight.grad.clone()))
    torch.testing.assert_close(logits[0], logits[1])
    torch.testing.assert_close(gradients[0][0], gradients[1][0] / attending)
    torch.testing.assert_close(gradients[0][1], gradients[1][1])


def test_initialisation_is_dropout_aware():
    """§3.4: a convolution's weights have variance 4p / fan-in, a linear layer's p / fan-in (p = retain probability)."""
    torch.manual_seed(0)
    net = create_model("convs2s", **{**SMALL, "channels": 64, "embed_dim": 64, "dropout": 0.2})
    conv = net.decoder[0].conv.weight  # fan-in k * h = 192
    assert conv.std().item() == pytest.approx(math.sqrt(4 * 0.8 / 192), rel=0.05)
    assert net.decoder_in.weight.std().item() == pytest.approx(math.sqrt(0.8 / 64), rel=0.05)
    assert net.attention["0"].W_d.weight.std().item() == pytest.approx(math.sqrt(1 / 64), rel=0.05)


def test_bad_settings_and_shapes_are_refused():
    with pytest.raises(ValueError, match="attention_layers: expected 'all' or 'top'"):
        ConvS2SConfig(attention_layers="middle")
    with pytest.raises(ValueError, match="kernel_size: expected an odd width"):
        ConvS2SConfig(kernel_size=4)
    source, lengths, target = batch()
    with pytest.raises(ValueError, match=r"target_in: expected \(B, T\) = \(2, \?\)"):
        model()(source, lengths, target[:1])
    with pytest.raises(ValueError, match="at most max_len = 8"):
        model(max_len=8)(F.pad(source, (0, 3), value=3), lengths, target)


def test_gold_agreement_counts_argmax_hits_and_gold_mass():
    weights = torch.tensor(
        [
            [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3]],  # layer 1: argmax 0, 2, 1
            [[0.1, 0.8, 0.1], [0.5, 0.4, 0.1], [1 / 3, 1 / 3, 1 / 3]],  # layer 2: argmax 1, 0, (any)
        ]
    )[None]  # (1, 2, T=3, S=3)
    gold = torch.tensor([[0, 1, -1]])  # the third target word has no gold source word
    scores = gold_agreement(weights, gold)
    # layer 1: word 0 hit (0 = 0), word 1 missed (2 != 1); mass 0.7 + 0.3. Layer 2: both missed; 0.1 + 0.4.
    torch.testing.assert_close(scores, torch.tensor([[[1.0, 1.0, 2.0], [0.0, 0.5, 2.0]]]))
    with pytest.raises(ValueError, match=r"weights, gold: expected \(B, L, T, S\) and \(B, T\)"):
        gold_agreement(weights[0], gold)


def test_alignment_scores_batched_equal_one_sentence_at_a_time():
    """The batched scores (padding of sources and targets) equal a direct count over each sentence alone."""
    recipe = load_recipe("convs2s", {"kind": "reorder", "train_size": 60, "valid_size": 5, "test_size": 6})
    task = recipe.build_task(seed=0)
    torch.manual_seed(0)
    net = create_model("convs2s", **dataclasses.asdict(recipe.sized_config(ConvS2SConfig(**SMALL), task))).eval()
    examples = reorder_splits(60, 5, 6, 40, 60, seed=0)["test"]
    scores = alignment_scores(net, task, examples, batch_size=4)
    assert scores.shape == (6, 3, 3)
    for row, example in enumerate(examples):
        source = torch.tensor([task.encode_source(example.source)])
        target_in = torch.tensor([[net.config.bos_id, *task.encode_target(example.target)]])
        with torch.no_grad():
            weights = net(source, torch.tensor([source.size(1)]), target_in, need_weights=True).weights
        for layer, a in enumerate(weights):
            gold = torch.tensor(example.alignment)
            words = len(gold)
            hits = sum(int(a[0, t].argmax()) == int(gold[t]) for t in range(words))
            mass = sum(a[0, t, gold[t]] for t in range(words))
            torch.testing.assert_close(scores[row, layer], torch.tensor([float(hits), float(mass), float(words)]))
