"""The pointer-generator (See et al. 2017) against its equations: eq. 9's mixture, coverage (eq. 10-12),
extended-vocabulary ids through beam search, the generated news and the summary pairs loader."""

from __future__ import annotations

import json

import pytest
import torch

from attnzoo.attention import AdditiveScore, Attention, CoverageAttention, coverage_loss
from attnzoo.decoding import beam_search
from attnzoo.models.pointer_generator.model import (
    BiLSTMEncoder,
    PointerGenerator,
    PointerGeneratorConfig,
    final_distribution,
)
from attnzoo.models.pointer_generator.scores import Summary, repeated_trigrams, summary_scores
from attnzoo.models.seq2seq.model import Encoder
from attnzoo.tasks.news import generate_news
from attnzoo.tasks.summaries import collate_summaries, encode_example, read_summary_pairs
from attnzoo.tasks.vocab import Vocabulary


def test_eq9_an_oov_word_gets_exactly_its_copy_mass():
    vocab_probs = torch.tensor([[0.1, 0.2, 0.3, 0.15, 0.25]])  # V = 5
    weights = torch.tensor([[0.5, 0.2, 0.3, 0.0]])  # the last position is padding
    source_extended = torch.tensor([[5, 2, 5, 0]])  # id 5: an article OOV word, twice; id 2 in the vocabulary
    p_gen = torch.tensor([0.7])
    final = final_distribution(vocab_probs, weights, p_gen, source_extended, extended_size=7)
    expected = [0.7 * p for p in vocab_probs[0].tolist()] + [0.0, 0.0]  # eq. 9 written out by hand
    for position, word in enumerate(source_extended[0].tolist()):
        expected[word] += 0.3 * weights[0, position].item()
    assert final[0].tolist() == pytest.approx(expected)
    assert final[0, 5].item() == pytest.approx(0.3 * (0.5 + 0.3))  # the OOV word: (1 - p_gen) sum a_i, no more
    assert final[0, 6].item() == 0.0  # a slot no article word fills
    assert final.sum().item() == pytest.approx(1.0)


def test_eq9_over_many_steps_equals_each_step():
    torch.manual_seed(0)
    vocab_probs, weights = torch.rand(2, 3, 6).softmax(-1), torch.rand(2, 3, 4).softmax(-1)
    p_gen, source_extended = torch.rand(2, 3), torch.tensor([[7, 1, 7, 6], [2, 6, 3, 2]])
    every = final_distribution(vocab_probs, weights, p_gen, source_extended, 8)
    for t in range(3):
        one = final_distribution(vocab_probs[:, t], weights[:, t], p_gen[:, t], source_extended, 8)
        assert torch.allclose(every[:, t], one)
    with pytest.raises(ValueError, match="p_gen"):
        final_distribution(vocab_probs, weights, p_gen[:, :2], source_extended, 8)


def tiny_model(pointer=True, coverage=False, vocab_size=12) -> PointerGenerator:
    torch.manual_seed(0)
    config = PointerGeneratorConfig(vocab_size, 6, 5, 7, pointer=pointer, coverage=coverage)
    return PointerGenerator(config).eval()


def batch_of(articles: list[list[int]], vocab_size=12) -> dict[str, torch.Tensor]:
    """A batch of articles given as extended ids (>= vocab_size: OOV), with one summary token each."""
    from attnzoo.tasks.summaries import Encoded

    items = []
    for ids in articles:
        known = [i if i < vocab_size else 3 for i in ids]
        items.append(Encoded([*known, 2], [*ids, 2], [known[0]], [ids[0]], []))
    return collate_summaries(items)


def test_model_step_gives_an_oov_word_its_copy_mass():
    model = tiny_model()
    batch = batch_of([[12, 5, 12, 13], [6, 7]])
    state = model.start_decoding(batch["source"], batch["source_lengths"], batch["source_extended"])
    output, _ = model.decode_step(torch.tensor([1, 1]), state)
    copy = (1 - output.p_gen[0]) * (output.weights[0, 0] + output.weights[0, 2])
    assert torch.allclose(output.probs[0, 12], copy)
    assert output.probs.shape == (2, 14) and torch.allclose(output.probs.sum(-1), torch.ones(2))
    assert output.weights[1, 3:].abs().sum() == 0  # padding gets zero weight
    assert torch.all(output.probs[1, 12:] == 0)  # the second article has no OOV word


def test_baseline_has_no_copy_and_writes_unk_for_oov_targets():
    model = tiny_model(pointer=False)
    batch = batch_of([[12, 5, 12, 13]])
    output = model(batch["source"], batch["source_lengths"], batch["source_extended"], batch["target_in"])
    assert output.log_probs.shape[-1] == 12  # the fixed vocabulary only
    assert torch.all(output.p_gens == 1)


def test_coverage_is_the_sum_of_earlier_attention_and_its_loss_is_eq12():
    model = tiny_model(coverage=True)
    batch = batch_of([[12, 5, 12, 13, 4], [6, 7]])
    target_in = torch.tensor([[1, 5, 12, 4], [1, 6, 7, 2]])
    with torch.no_grad():
        output = model(batch["source"], batch["source_lengths"], batch["source_extended"], target_in)
    expected = torch.cumsum(output.attentions, dim=1) - output.attentions  # c^t = sum_{t' < t} a^t'
    assert torch.allclose(output.coverages, expected, atol=1e-6)
    loss = coverage_loss(output.attentions, output.coverages)
    for b in range(2):
        for t in range(4):
            by_hand = sum(min(a, c) for a, c in zip(output.attentions[b, t], output.coverages[b, t], strict=True))
            assert loss[b, t].item() == pytest.approx(float(by_hand), abs=1e-6)
    assert loss[:, 0].abs().sum() == 0  # c^0 = 0


def test_coverage_attention_is_eq11_and_gradchecks():
    torch.manual_seed(0)
    score = AdditiveScore(3, 4, 5).double()
    attention = CoverageAttention(score).double()
    torch.nn.init.normal_(attention.w_c.weight)
    query, keys = torch.randn(2, 3, dtype=torch.double), torch.randn(2, 6, 4, dtype=torch.double)
    coverage, mask = torch.rand(2, 6, dtype=torch.double), torch.tensor([[1] * 6, [1] * 4 + [0] * 2]).bool()
    context, weights = attention(query, keys, coverage=coverage, mask=mask)
    w_c = attention.w_c.weight[:, 0]
    for b in range(2):  # e_i = v^T tanh(W_s s + W_h h_i + w_c c_i + b_attn), softmax over the real positions
        real = int(mask[b].sum())
        e = torch.stack([score.v_a(torch.tanh(score.W_a(query[b]) + score.U_a(keys[b, i]) + w_c * coverage[b, i]))[0]
                         for i in range(real)])  # fmt: skip
        assert torch.allclose(weights[b, :real], e.softmax(0)) and weights[b, real:].abs().sum() == 0
        assert torch.allclose(context[b], e.softmax(0) @ keys[b, :real])
    inputs = (query.requires_grad_(), keys.requires_grad_(), coverage.requires_grad_())
    assert torch.autograd.gradcheck(lambda q, k, c: attention(q, k, coverage=c, mask=mask).context, inputs)
    with pytest.raises(ValueError, match="coverage"):
        attention(query, keys, coverage=coverage[:, :5])


def test_zero_w_c_is_the_plain_additive_attention():
    torch.manual_seed(0)
    score = AdditiveScore(3, 4, 5)
    query, keys, coverage = torch.randn(2, 3), torch.randn(2, 6, 4), torch.rand(2, 6)
    covered = CoverageAttention(score)(query, keys, coverage=coverage)
    plain = Attention(score)(query, keys)
    assert torch.allclose(covered.weights, plain.weights) and torch.allclose(covered.context, plain.context)


def test_encoder_computes_the_packed_bilstm_of_seq2seq():
    torch.manual_seed(0)
    config = PointerGeneratorConfig(12, 6, 5).seq2seq()
    ours, packed = BiLSTMEncoder(config), Encoder(config)
    packed.embedding.load_state_dict(ours.embedding.state_dict())
    for direction, rnn in (("", ours.forward_rnn), ("_reverse", ours.backward_rnn)):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(packed.rnn, f"{name}_l0{direction}").data.copy_(getattr(rnn, f"{name}_l0"))
    source, lengths = torch.tensor([[4, 5, 6, 7, 2], [8, 9, 2, 0, 0]]), torch.tensor([5, 3])
    a, b = ours(source, lengths), packed(source, lengths)
    assert torch.allclose(a.annotations, b.annotations, atol=1e-6) and torch.allclose(a.final, b.final, atol=1e-6)


def test_extended_ids_go_through_beam_search():
    model = tiny_model()
    torch.nn.init.constant_(model.switch.bias, -30.0)  # p_gen ~ 0: every word is copied from the article
    batch = batch_of([[12, 13, 5, 14], [15, 6]])
    inputs = (batch["source"], batch["source_lengths"])
    decoded = model.generate(*inputs, 6, beam_size=3, source_extended=batch["source_extended"])
    for row in range(2):
        allowed = set(batch["source_extended"][row, : batch["source_lengths"][row]].tolist())
        words = decoded.tokens[row, : decoded.lengths[row]].tolist()
        assert set(words) <= allowed
    assert (decoded.tokens >= 12).any()  # copied OOV words came out as their extended ids
    # the beam's score is the model's own log-probability of the sequence it returns (teacher forced)
    target_in = torch.cat([torch.ones(2, 1, dtype=torch.long), decoded.tokens[:, :-1]], dim=1)
    log_probs = model(*inputs, batch["source_extended"], target_in).log_probs
    picked = log_probs.gather(-1, decoded.tokens[..., None]).squeeze(-1)
    steps = torch.arange(decoded.tokens.size(1))[None, :] < decoded.lengths[:, None]
    assert torch.allclose((picked * steps).sum(1) / decoded.lengths.float(), decoded.scores, atol=1e-4)
    greedy = model.generate(*inputs, 6, source_extended=batch["source_extended"])
    state = model.start_decoding(*inputs, batch["source_extended"])
    shared = beam_search(model.step, state, 2, 1, 6, beam_size=1, eos_id=2)
    assert torch.equal(greedy.tokens, shared.tokens)


def test_generated_news_ground_truth_by_an_independent_rule():
    examples = generate_news(200, seed=3)
    assert examples == generate_news(200, seed=3) and examples != generate_news(200, seed=4)
    vocab = Vocabulary.build([(*e.article, *e.summary) for e in generate_news(2000, 0)], min_count=20)
    oov_entities = 0
    for example in examples:
        assert 1 <= example.summary.count(".") <= 3  # one to three sentences
        for token, position in zip(example.summary, example.copy_positions, strict=True):
            if position >= 0:
                assert example.article[position] == token
        for entity in example.entities:
            assert entity in example.article and entity in example.summary
            assert example.copy_positions[example.summary.index(entity)] >= 0
            oov_entities += entity not in vocab
        assert any(c.isdigit() for c in "".join(example.entities))  # every summary carries a number
    assert oov_entities > 0.6 * sum(len(e.entities) for e in examples)  # mostly out of vocabulary


def test_encode_example_extended_ids():
    vocab = Vocabulary(["the", "said"])  # ids 4, 5; V = 6
    encoded = encode_example(["Zorb", "said", "the", "42", "Zorb"], ["Zorb", "said", "Quux", "42"], vocab)
    assert encoded.source == [3, 5, 4, 3, 3, 2]
    assert encoded.source_extended == [6, 5, 4, 7, 6, 2]
    assert encoded.target == [3, 5, 3, 3] and encoded.target_extended == [6, 5, 3, 7]  # Quux: not in the article
    assert encoded.oovs == ["Zorb", "42"]


def test_summary_pairs_loader_reads_jsonl_and_tsv_with_clear_errors(tmp_path):
    good = tmp_path / "pairs.jsonl"
    good.write_text(json.dumps({"article": "A b c .", "summary": "A ."}) + "\n\n", encoding="utf-8")
    assert read_summary_pairs(good) == [("A b c .", "A .")]
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("A b c .\tA .\n", encoding="utf-8")
    assert read_summary_pairs(tsv) == [("A b c .", "A .")]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"article": "x", "summary": "y"}\n{"article": "x"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.jsonl:2: expected"):
        read_summary_pairs(bad)
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_summary_pairs(tmp_path / "missing.jsonl")
    tsv.write_text("no tab here\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"pairs.tsv:1:"):
        read_summary_pairs(tsv)


def test_scores_count_copies_and_repeats():
    examples = generate_news(2, seed=0)
    vocab = Vocabulary(["said", "."])
    perfect = [Summary(list(e.summary), torch.zeros(0, 1), torch.zeros(0), torch.zeros(0, 1)) for e in examples]
    scores = summary_scores(perfect, examples, vocab)
    assert scores["rouge1"] == pytest.approx(100) and scores["oov_copy"] == pytest.approx(100)
    empty = [Summary([], torch.zeros(0, 1), torch.zeros(0), torch.zeros(0, 1)) for _ in examples]
    assert summary_scores(empty, examples, vocab)["oov_copy"] == 0
    assert repeated_trigrams([["a", "b", "c", "a", "b", "c", "a"]]) == (2, 5)  # "a b c" again, "b c a" again


def test_coverage_phase_starts_at_coverage_from():
    from attnzoo.registry import load_recipe

    recipe = load_recipe("pointer-generator", {"train_size": 16, "valid_size": 2, "test_size": 2, "coverage_from": 1})
    task = recipe.build_task(0)
    model = PointerGenerator(PointerGeneratorConfig(len(task.vocab), 6, 5, coverage=True))
    torch.nn.init.normal_(model.attention.w_c.weight)
    batch = collate_summaries(task.train.encoded[:4])
    state: dict = {}
    loss, logs = recipe.loss(model, batch, state)  # step 0: before the coverage phase
    assert torch.allclose(loss, logs["nll"])
    loss.backward()
    assert model.attention.w_c.weight.grad is None or model.attention.w_c.weight.grad.abs().sum() == 0
    loss, logs = recipe.loss(model, batch, state)  # step 1: c^t fed and its loss added (lambda = 1)
    assert torch.allclose(loss, logs["nll"] + logs["coverage_loss"]) and int(state["step"]) == 2


def test_summarize_command_writes_its_example_and_refuses_a_missing_file(tmp_path):
    from attnzoo.registry import create_model, load_recipe, make_config

    model_overrides, task_overrides = load_recipe("pointer-generator").example()
    recipe = load_recipe("pointer-generator", task_overrides)
    task = recipe.build_task(0)
    model = create_model(
        "pointer-generator", recipe.sized_config(make_config("pointer-generator", **model_overrides), task)
    )
    command, article = recipe.commands()["summarize"], tmp_path / "article.txt"
    command.example(task, [str(article)])
    assert article.read_text(encoding="utf-8").split() == list(task.test.examples[0].article)
    summary = command.run(model, task, [str(article)], None)
    assert isinstance(summary, str)
    with pytest.raises(ValueError, match="none.txt: no such file"):
        command.run(model, task, [str(tmp_path / "none.txt")], None)
    (tmp_path / "empty.txt").write_text(" \n", encoding="utf-8")
    with pytest.raises(ValueError, match="empty"):
        command.run(model, task, [str(tmp_path / "empty.txt")], None)
