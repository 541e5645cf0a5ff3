"""SNAIL's blocks against Mishra et al. 2018's Algorithms 1-3, the few-shot model and ProtoNet, and the episodes."""

from __future__ import annotations

import math

import pytest
import torch

from attnzoo.models.snail import SNAIL, AttentionBlock, DenseBlock, ProtoNet, SNAILConfig, TCBlock
from attnzoo.models.snail.recipe import same_class_share
from attnzoo.tasks import digits, fewshot, glyphs

TINY = {"channels": 4, "key_sizes": (4, 4, 4), "value_sizes": (3, 3, 3), "tc_filters": 3}


def dense_reference(block: DenseBlock, x: torch.Tensor) -> torch.Tensor:
    """Algorithm 1 written step by step: tanh(xf) ⊙ σ(xg), xf/xg from steps t - R and t (zero before 0)."""
    weight, bias, filters = block.conv.weight, block.conv.bias, block.filters  # (2D, D_in, 2), (2D,)
    rows = []
    for t in range(x.size(1)):
        past = x[:, t - block.dilation] if t >= block.dilation else torch.zeros_like(x[:, t])
        both = past @ weight[:, :, 0].T + x[:, t] @ weight[:, :, 1].T + bias  # (B, 2D)
        rows.append(torch.tanh(both[:, :filters]) * torch.sigmoid(both[:, filters:]))
    return torch.cat([x, torch.stack(rows, 1)], -1)


def attention_reference(block: AttentionBlock, x: torch.Tensor) -> torch.Tensor:
    """Algorithm 3 written step by step: step t reads softmax_{j <= t}(q_t · k_j / √K) v_j."""
    q, k, v = block.query(x), block.keys(x), block.values(x)
    reads = []
    for t in range(x.size(1)):
        scores = (q[:, t : t + 1] * k[:, : t + 1]).sum(-1) / math.sqrt(k.size(-1))  # (B, t + 1)
        reads.append((torch.softmax(scores, -1)[:, :, None] * v[:, : t + 1]).sum(1))
    return torch.cat([x, torch.stack(reads, 1)], -1)


def test_dense_block_is_algorithm_1():
    torch.manual_seed(0)
    block, x = DenseBlock(3, 4, dilation=2), torch.randn(2, 7, 3)
    torch.testing.assert_close(block(x), dense_reference(block, x))


def test_attention_block_is_algorithm_3_and_masks_the_future():
    torch.manual_seed(0)
    block, x = AttentionBlock(5, 4, 3, tied_start=False), torch.randn(2, 6, 5)  # q ≠ k: a swap would show
    output, weights = block(x)
    torch.testing.assert_close(output, attention_reference(block, x))
    assert weights.shape == (2, 6, 6) and torch.all(weights.triu(1) == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 6))


def test_keys_start_as_a_copy_of_the_query_map_and_train_apart():
    torch.manual_seed(0)
    block, x = AttentionBlock(5, 4, 3), torch.randn(2, 6, 5)
    torch.testing.assert_close(block.keys(x), block.query(x))
    assert block.keys.weight is not block.query.weight  # two parameters, not one shared
    block(x)[0].pow(2).sum().backward()
    with torch.no_grad():
        for parameter in block.parameters():
            parameter -= 0.1 * parameter.grad
    assert not torch.allclose(block.keys(x), block.query(x))
    untied = AttentionBlock(5, 4, 3, tied_start=False)
    assert not torch.allclose(untied.keys(x), untied.query(x))


def test_gradcheck_float64():
    torch.manual_seed(0)
    dense, attention = DenseBlock(2, 2, 1).double(), AttentionBlock(3, 2, 2).double()
    assert torch.autograd.gradcheck(dense, torch.randn(1, 4, 2, dtype=torch.float64, requires_grad=True))
    assert torch.autograd.gradcheck(
        lambda x: attention(x)[0], torch.randn(1, 4, 3, dtype=torch.float64, requires_grad=True)
    )


def sequence_blocks() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    model = SNAIL(SNAILConfig(ways=3, shots=2, **TINY)).eval()
    attention = AttentionBlock(4, 3, 3)
    return {
        "dense": DenseBlock(4, 3, dilation=4),
        "tc": TCBlock(4, 7, 3),
        "attention": lambda x: attention(x)[0],
        "snail-stack": lambda x: model.read(torch.cat([x, x[..., :3]], -1))[0],  # channels 4 + ways 3
    }


@pytest.mark.parametrize("name", ["dense", "tc", "attention", "snail-stack"])
def test_causal_an_output_never_changes_when_a_later_input_changes(name):
    block = sequence_blocks()[name]
    x = torch.randn(2, 7, 4)
    before = block(x)
    for step in range(7):
        changed = x.clone()
        changed[:, step] += torch.randn(2, 4)
        after = block(changed)
        torch.testing.assert_close(after[:, :step], before[:, :step])  # the past is untouched
        assert not torch.allclose(after[:, step], before[:, step])  # the step itself is read


@pytest.mark.parametrize("length", [2, 3, 6, 11, 26])
def test_tc_block_receptive_field_is_2_to_the_number_of_layers(length):
    block = TCBlock(1, length, 2)
    layers = math.ceil(math.log2(length))
    assert [layer.dilation for layer in block.layers] == [2**i for i in range(layers)]
    assert block.receptive_field == 2**layers >= length
    x = torch.randn(1, 3 * block.receptive_field, 1, requires_grad=True)
    last = x.size(1) - 1
    block(x)[0, last, 1:].sum().backward()  # the added features of the last step
    reached = torch.nonzero(x.grad[0, :, 0] != 0).flatten()
    assert reached.tolist() == list(range(last - block.receptive_field + 1, last + 1))


def test_the_query_label_is_never_in_the_sequence():
    torch.manual_seed(0)
    config = SNAILConfig(ways=3, shots=2, **TINY)
    model = SNAIL(config).eval()
    batch = fewshot.sample_episodes(fewshot.make_pool("digits", "test"), 3, 2, 4, torch.Generator().manual_seed(0))
    sequence = model.sequence(batch.support, batch.support_labels, batch.query)  # (B, 7, 4 + 3)
    assert sequence.shape == (4, 7, 7)
    assert torch.all(sequence[:, -1, 4:] == 0)  # the query step's label channels
    torch.testing.assert_close(sequence[:, :-1, 4:], torch.nn.functional.one_hot(batch.support_labels, 3).float())


def test_protonet_is_the_nearest_class_mean():
    torch.manual_seed(0)
    model = ProtoNet(SNAILConfig(ways=3, shots=2, classifier="prototypes", **TINY)).eval()
    batch = fewshot.sample_episodes(fewshot.make_pool("digits", "test"), 3, 2, 2, torch.Generator().manual_seed(1))
    logits = model(batch.support, batch.support_labels, batch.query).logits
    for episode in range(2):
        support, query = model.embedding(batch.support[episode]), model.embedding(batch.query[episode : episode + 1])
        for label in range(3):
            prototype = support[batch.support_labels[episode] == label].mean(0)
            torch.testing.assert_close(logits[episode, label], -(query[0] - prototype).pow(2).sum())


def test_wrong_shapes_name_the_argument():
    model = SNAIL(SNAILConfig(ways=3, shots=1, **TINY))
    with pytest.raises(ValueError, match="support"):
        model(torch.zeros(1, 4, 1, 28, 28), torch.zeros(1, 4, dtype=torch.long), torch.zeros(1, 1, 28, 28))
    with pytest.raises(ValueError, match="x"):
        DenseBlock(3, 2, 1)(torch.zeros(1, 5, 4))
    with pytest.raises(ValueError, match="key_sizes"):
        SNAILConfig(key_sizes=(8,))


def test_same_class_share_against_hand_weights():
    weights = torch.zeros(1, 4, 4)
    weights[0, -1] = torch.tensor([0.2, 0.3, 0.1, 0.4])  # the query's row; 0.4 on itself
    batch = fewshot.EpisodeBatch(None, torch.tensor([[0, 1, 0]]), None, torch.tensor([0]), None)
    torch.testing.assert_close(same_class_share(weights, batch), torch.tensor([0.3 / 0.6]))


def test_glyph_classes_fonts_and_disjoint_splits():
    bank = glyphs.glyph_bank()
    assert bank.classes > 500 and len(set(bank.scripts)) == len(glyphs.SCRIPTS)
    assert bank.fonts.min() >= glyphs.MIN_FONTS and int(bank.fonts.sum()) == len(bank.images)
    assert not set("0123456789") & set(bank.characters)  # the digits stay new classes
    splits = glyphs.split_classes(bank.classes)
    members = [set(part.tolist()) for part in splits.values()]
    assert sum(map(len, members)) == bank.classes == len(set.union(*members))  # disjoint, and all of them


def test_glyph_episodes_draw_only_their_splits_classes():
    generator = torch.Generator().manual_seed(0)
    for split in ("train", "test"):
        pool = fewshot.make_pool("glyphs", split)
        batch = fewshot.sample_episodes(pool, 5, 2, 16, generator)
        assert set(batch.classes.flatten().tolist()) <= set(pool.classes.tolist())
        assert batch.support.shape == (16, 10, 1, 28, 28) and batch.query.shape == (16, 1, 28, 28)
        assert all(len(set(row.tolist())) == 5 for row in batch.classes)  # N distinct classes
        assert torch.all(torch.stack([(batch.support_labels == k).sum(1) for k in range(5)]) == 2)  # K shots each
        assert batch.support.min() >= 0 and batch.support.max() <= 1


def test_digit_episodes_show_the_labelled_digits():
    """Ground truth by an independent rule: every image is a scan of the digit its label stands for."""
    images, labels = digits.load_digit_images()
    chosen = digits.split_indices(labels)["test"]
    pool = fewshot.make_pool("digits", "test")
    batch = fewshot.sample_episodes(pool, 4, 3, 6, torch.Generator().manual_seed(2))
    scans = pool.images.flatten(1)  # (M, 784)
    for episode in range(6):
        shown = torch.cat([batch.support[episode], batch.query[episode : episode + 1]]).flatten(1)
        wanted = torch.cat([batch.support_labels[episode], batch.query_labels[episode : episode + 1]])
        for image, label in zip(shown, wanted, strict=True):
            index = int(torch.nonzero((scans == image).all(1)).flatten()[0])
            assert labels[chosen[index]] == batch.classes[episode, label]
