"""End-to-end memory networks against Sukhbaatar et al. 2015, eqs. 1-3 and §4.1-4.2, written out here."""

from __future__ import annotations

import math

import pytest
import torch

from attnzoo.models.memn2n import MemN2N, MemN2NConfig, position_encoding
from attnzoo.models.memn2n.recipe import EXAMPLE_STORY, BabiData, BabiTask, MemN2NRecipe, answer, hop_support


def reference_pe(J: int, width: int, d: int) -> torch.Tensor:
    """§4.1, word by word: l_kj = (1 - j/J) - (k/d)(1 - 2j/J), j = 1..J, k = 1..d; zero past J."""
    weights = torch.zeros(width, d)
    for j in range(1, J + 1):
        for k in range(1, d + 1):
            weights[j - 1, k - 1] = (1 - j / J) - (k / d) * (1 - 2 * j / J)
    return weights


def reference_answer(model: MemN2N, memories, question, linear=False):
    """Eqs. 1-3 with adjacent tying, one question at a time, with explicit sums."""
    config, E = model.config, [e.weight.detach().double() for e in model.embeddings]
    T = model.temporal.detach().double()

    def sentence(words, matrix):
        words = [w for w in words.tolist() if w != 0]
        pe = reference_pe(len(words), len(words), config.embed_dim).double() if config.position_encoding else None
        return sum((pe[j] if pe is not None else 1.0) * E[matrix][w] for j, w in enumerate(words))

    u = sentence(question, 0)  # u = B q, B = A^1 = E_0
    slots = [i for i in range(memories.size(0)) if (memories[i] != 0).any()]
    hops = []
    for k in range(1, config.hops + 1):
        m = [sentence(memories[i], k - 1) + (T[k - 1, i] if config.temporal_encoding else 0) for i in slots]
        c = [sentence(memories[i], k) + (T[k, i] if config.temporal_encoding else 0) for i in slots]
        scores = [float(u @ m_i) for m_i in m]  # u^T m_i
        if linear:
            p = scores
        else:
            total = sum(math.exp(s) for s in scores)
            p = [math.exp(s) / total for s in scores]  # eq. 1
        u = u + sum(p_i * c_i for p_i, c_i in zip(p, c, strict=True))  # u^{k+1} = u^k + o^k, eq. 2
        weights = torch.zeros(memories.size(0), dtype=torch.float64)
        weights[slots] = torch.tensor(p, dtype=torch.float64)
        hops.append(weights)
    return u @ E[config.hops].T, torch.stack(hops)  # W = (C^K)^T, eq. 3


def story_batch(batch=3, slots=5, words=6, vocab=30, empty_from=4):
    torch.manual_seed(1)
    memories = torch.randint(1, vocab, (batch, slots, words))
    memories[:, :, 4:] = 0  # sentences of 4 words
    memories[1, :, 2:] = 0  # and of 2
    memories[:, empty_from:] = 0  # empty slots
    question = torch.randint(1, vocab, (batch, 3))
    question[0, 2] = 0
    return memories, question


@pytest.mark.parametrize("pe", [False, True])
@pytest.mark.parametrize("te", [False, True])
@pytest.mark.parametrize("linear", [False, True])
def test_hops_follow_eqs_1_to_3_with_adjacent_tying(pe, te, linear):
    config = MemN2NConfig(vocab_size=30, memory_size=5, embed_dim=6, hops=3, position_encoding=pe, temporal_encoding=te)
    model = MemN2N(config).double()
    memories, question = story_batch()
    logits, weights = model(memories, question, linear=linear)
    for row in range(memories.size(0)):
        want_logits, want_weights = reference_answer(model, memories[row], question[row], linear)
        torch.testing.assert_close(logits[row], want_logits)
        torch.testing.assert_close(weights[row], want_weights)
    assert len(model.embeddings) == 4  # E_0 .. E_K: B = A^1, A^{k+1} = C^k, W^T = C^K


def test_position_encoding_is_the_papers_formula():
    lengths = torch.tensor([[1, 4], [7, 0]])
    got = position_encoding(lengths, width=7, dim=5)
    assert got.shape == (2, 2, 7, 5)
    for index in [(0, 0), (0, 1), (1, 0), (1, 1)]:
        torch.testing.assert_close(got[index], reference_pe(int(lengths[index]), 7, 5))
    assert (got[1, 1] == 0).all()  # an empty sentence has no words


def test_empty_slots_get_zero_weight_and_change_nothing():
    model = MemN2N(MemN2NConfig(vocab_size=30, memory_size=8, embed_dim=6, hops=2)).eval()
    memories, question = story_batch(slots=5, empty_from=4)
    logits, weights = model(memories, question)
    assert (weights[:, :, 4:] == 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 2))
    longer = torch.cat([memories, torch.zeros(3, 3, memories.size(2), dtype=torch.long)], dim=1)  # 3 more empty slots
    more_logits, more_weights = model(longer, question)
    torch.testing.assert_close(more_logits, logits)
    torch.testing.assert_close(more_weights[:, :, :5], weights)


def test_word_order_matters_with_position_encoding_only():
    memories, question = story_batch()
    swapped = memories.clone()
    swapped[:, :, [0, 1]] = memories[:, :, [1, 0]]
    for pe in (False, True):
        model = MemN2N(MemN2NConfig(vocab_size=30, memory_size=5, embed_dim=6, position_encoding=pe))
        same = torch.allclose(model(memories, question).logits, model(swapped, question).logits)
        assert same != pe


def test_shapes_are_checked():
    model = MemN2N(MemN2NConfig(vocab_size=30, memory_size=4, embed_dim=6))
    memories, question = story_batch(slots=4)
    with pytest.raises(ValueError, match=r"question: expected \(B, Lq\) = \(3, \?\), got \(2, 3\)"):
        model(memories, question[:2])
    with pytest.raises(ValueError, match="memories: expected at most memory_size = 4 slots, got 5"):
        model(story_batch(slots=5)[0], question)
    with pytest.raises(ValueError, match="memn2n hops: expected >= 1, got 0"):
        MemN2NConfig(hops=0)


def test_hop_support_compares_each_hop_with_its_fact():
    weights = torch.zeros(2, 3, 4)
    weights[0, 0, 2] = weights[0, 1, 1] = weights[0, 2, 1] = 1  # peaks 2, 1, 1
    weights[1, 0, 0] = weights[1, 1, 3] = weights[1, 2, 2] = 1  # peaks 0, 3, 2
    supports = torch.tensor([[2, 1], [3, -1]])
    kth, on_support = hop_support(weights, supports)
    assert kth.tolist() == [[True, True], [False, False]]
    assert on_support.tolist() == [[True, True, True], [False, True, False]]


def test_linear_start_leaves_out_the_softmax_for_the_first_steps(monkeypatch):
    recipe = MemN2NRecipe("memn2n", BabiTask(task=1, train_size=8, linear_start_steps=2))
    task = recipe.build_task(0)
    model = MemN2N(recipe.sized_config(MemN2NConfig(embed_dim=4, hops=1), task))
    seen = []
    forward = model.forward
    monkeypatch.setattr(model, "forward", lambda *a, linear=False: seen.append(linear) or forward(*a, linear=linear))
    batch = next(iter(recipe.train_batches(task, 4, 0)))
    state = {}
    for _ in range(3):
        recipe.loss(model, batch, state)
    assert seen == [True, True, False] and int(state["step"]) == 3


def test_answer_reads_a_story_file_and_names_unknown_words(tmp_path):
    recipe = MemN2NRecipe("memn2n", BabiTask(task=1, train_size=8, test_size=8))
    task: BabiData = recipe.build_task(0)
    model = MemN2N(recipe.sized_config(MemN2NConfig(embed_dim=4, hops=2), task))
    story = tmp_path / "story.txt"
    recipe.commands()["answer"].example(task, [str(story)])
    text = answer(model, task, [str(story), "Where is Mary?"], tmp_path / "hops.png")
    lines = text.splitlines()
    assert lines[0].startswith("answer: ") and len([line for line in lines if line.startswith("hop ")]) == 2
    assert any(sentence in lines[1] for sentence in EXAMPLE_STORY)
    assert (tmp_path / "hops.png").stat().st_size > 1000
    story.write_text("mary went to the moon\n")
    with pytest.raises(ValueError, match=r"unknown words: 'moon' \(line 1\), 'zed' \(question\)"):
        answer(model, task, [str(story), "where is zed"], None)
    with pytest.raises(ValueError, match="STORY_FILE: no such file"):
        answer(model, task, [str(tmp_path / "none.txt"), "where is mary"], None)
