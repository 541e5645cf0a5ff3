"""Rocktäschel et al. 2016: the attention readers against eqs. 7–14 written out with loops, gradcheck,
padding, conditional encoding, the two-way reading, shape errors, and the recipe's measures and
``attnzoo entail`` command."""

import pytest
import torch

from attnzoo import create_model
from attnzoo.models.entailment import AttentionReader, WordByWordReader
from attnzoo.models.entailment.model import Encoded
from attnzoo.models.entailment.recipe import Pairs, alignment_accuracy
from attnzoo.registry import load_recipe

K, B, L, N = 5, 3, 6, 4


def encoded(dtype=torch.float32, k=K, premise_lengths=(6, 4, 1), hypothesis_lengths=(4, 2, 3)) -> Encoded:
    """Random encodings with padding: outputs are zero beyond each length, as the LSTMs give them."""
    torch.manual_seed(0)
    p, h = torch.tensor(premise_lengths), torch.tensor(hypothesis_lengths)
    Y = torch.randn(B, L, k, dtype=dtype) * (torch.arange(L) < p[:, None])[..., None]
    H = torch.randn(B, N, k, dtype=dtype) * (torch.arange(N) < h[:, None])[..., None]
    h_N = H[torch.arange(B), h - 1]
    return Encoded(Y, torch.arange(L) < p[:, None], torch.randn(B, k, dtype=dtype), H, h, h_N)


def attend_reference(score, Y: torch.Tensor, length: int, query: torch.Tensor):
    """``α = softmax_j(w^T tanh(W^y y_j + W_q q))`` over the first ``length`` words, ``r = Σ_j α_j y_j``, by loops."""
    terms = [score.v_a(torch.tanh(score.U_a(Y[j]) + score.W_a(query))).squeeze() for j in range(length)]
    alpha = torch.softmax(torch.stack(terms), 0)
    return alpha, sum(alpha[j] * Y[j] for j in range(length))


def test_attention_reader_is_eqs_7_to_10():
    reader, e = AttentionReader(K), encoded()
    pair, weights = reader(e)
    score = reader.attention.score
    for b in range(B):
        length = int(e.premise_mask[b].sum())
        alpha, r = attend_reference(score, e.premise[b], length, e.hypothesis_last[b])  # eqs. 7-9
        h_star = torch.tanh(reader.W_p(r) + reader.W_x(e.hypothesis_last[b]))  # eq. 10
        torch.testing.assert_close(weights[b, :length], alpha)
        assert (weights[b, length:] == 0).all()  # padding gets zero weight
        torch.testing.assert_close(pair[b], h_star)


def test_word_by_word_reader_is_eqs_11_to_14():
    reader, e = WordByWordReader(K), encoded()
    pair, weights = reader(e)
    score = reader.attention.score
    for b in range(B):
        length, n = int(e.premise_mask[b].sum()), int(e.hypothesis_lengths[b])
        r = torch.zeros(K)
        for t in range(n):
            query = torch.cat([e.hypothesis[b, t], r])  # W^h h_t + W^r r_{t-1} = [W^h | W^r] [h_t; r_{t-1}]
            alpha, read = attend_reference(score, e.premise[b], length, query)  # eqs. 11-12
            r = read + torch.tanh(reader.W_t(r))  # eq. 13
            torch.testing.assert_close(weights[b, t, :length], alpha)
            assert (weights[b, t, length:] == 0).all()
        assert (weights[b, n:] == 0).all()  # padded hypothesis rows
        torch.testing.assert_close(pair[b], torch.tanh(reader.W_p(r) + reader.W_x(e.hypothesis[b, n - 1])))  # eq. 14


@pytest.mark.parametrize("Reader", [AttentionReader, WordByWordReader])
def test_readers_gradcheck_in_float64(Reader):
    reader = Reader(3).double()
    e = encoded(torch.float64, k=3)

    def read(Y, H, h_N):
        return reader(e._replace(premise=Y, hypothesis=H, hypothesis_last=h_N))

    inputs = tuple(tensor.clone().requires_grad_() for tensor in (e.premise, e.hypothesis, e.hypothesis_last))
    assert torch.autograd.gradcheck(read, inputs)


def words(lengths, width, generator):
    ids = torch.randint(4, 30, (len(lengths), width), generator=generator)
    return ids * (torch.arange(width) < torch.tensor(lengths)[:, None])


@pytest.mark.parametrize("preset", ["independent", "conditional", "attention", "word-by-word", "two-way"])
def test_padding_changes_nothing(preset):
    """Extra padding columns, whatever ids they hold, leave the logits and the attention unchanged."""
    torch.manual_seed(0)
    model = create_model("entailment", preset=preset, vocab_size=30, embed_dim=6, hidden_size=K).eval()
    generator = torch.Generator().manual_seed(1)
    p_len, h_len = torch.tensor([5, 2, 3]), torch.tensor([3, 4, 1])
    premise, hypothesis = words(p_len.tolist(), 5, generator), words(h_len.tolist(), 4, generator)
    short = model(premise, p_len, hypothesis, h_len)
    junk = torch.randint(4, 30, (B, 3), generator=generator)
    long = model(torch.cat([premise, junk], 1), p_len, torch.cat([hypothesis, junk], 1), h_len)
    torch.testing.assert_close(long.logits, short.logits)
    if short.weights is not None:
        cut = long.weights[:, :4, :5] if long.weights.dim() == 3 else long.weights[:, :5]
        torch.testing.assert_close(cut, short.weights)
        assert (long.weights[..., 5:] == 0).all()


def test_conditional_encoding_starts_from_the_premise_cell_and_independent_from_zero():
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(2)
    premise, hypothesis = words([4, 4, 4], 4, generator), words([3, 3, 3], 3, generator)
    lengths = (torch.tensor([4, 4, 4]), torch.tensor([3, 3, 3]))
    for preset, conditioned in (("conditional", True), ("independent", False)):
        model = create_model("entailment", preset=preset, vocab_size=30, embed_dim=6, hidden_size=K, dropout=0.0)
        e = model.encode(premise, lengths[0], hypothesis, lengths[1])
        _, (_, c) = model.premise_lstm(model.embed(premise))
        start = (torch.zeros_like(c), c) if conditioned else None
        expected, _ = model.hypothesis_lstm(model.embed(hypothesis), start)  # paper §2.2: c_0 = premise's last cell
        torch.testing.assert_close(e.hypothesis, expected)


@pytest.mark.parametrize("preset", ["independent", "conditional"])
def test_the_baselines_see_only_the_last_states(preset):
    """Independent (Bowman et al. 2015): y = softmax(W^s tanh(W [u; v])) of the two encoders' last states,
    nothing else (no |u - v|, u * v); conditional (§2.2): y = softmax(W^s tanh(W h_N)) of the conditioned h_N."""
    torch.manual_seed(0)
    model = create_model("entailment", preset=preset, vocab_size=30, embed_dim=6, hidden_size=K).eval()
    generator = torch.Generator().manual_seed(4)
    premise, hypothesis = words([5, 5, 5], 5, generator), words([3, 3, 3], 3, generator)
    _, (u, c) = model.premise_lstm(model.embed(premise))  # (1, B, k): the premise's last output and cell
    start = None if preset == "independent" else (torch.zeros_like(c), c)
    _, (v, _) = model.hypothesis_lstm(model.embed(hypothesis), start)
    if preset == "independent":
        pair = torch.tanh(model.reader.combine(torch.cat([u[0], v[0]], -1)))
    else:
        pair = torch.tanh(model.reader.project(v[0]))
    logits = model(premise, torch.tensor([5, 5, 5]), hypothesis, torch.tensor([3, 3, 3])).logits
    torch.testing.assert_close(logits, model.classify(pair))
    inputs = 2 * K if preset == "independent" else K  # the reader's only parameters: W and its bias
    assert sum(p.numel() for p in model.reader.parameters()) == inputs * K + K


def test_two_way_reads_the_swapped_pair_with_the_same_parameters():
    torch.manual_seed(0)
    model = create_model("entailment", preset="two-way", vocab_size=30, embed_dim=6, hidden_size=K).eval()
    generator = torch.Generator().manual_seed(3)
    p_len, h_len = torch.tensor([5, 2, 3]), torch.tensor([3, 4, 1])
    premise, hypothesis = words(p_len.tolist(), 5, generator), words(h_len.tolist(), 4, generator)
    forward = model.reader(model.encode(premise, p_len, hypothesis, h_len)).pair
    backward = model.reader(model.encode(hypothesis, h_len, premise, p_len)).pair
    expected = model.classify(torch.cat([forward, backward], -1))
    torch.testing.assert_close(model(premise, p_len, hypothesis, h_len).logits, expected)


def test_shapes_and_lengths_are_checked():
    model = create_model("entailment", vocab_size=30, embed_dim=6, hidden_size=K)
    premise, hypothesis = torch.ones(2, 3, dtype=torch.long), torch.ones(2, 4, dtype=torch.long)
    with pytest.raises(ValueError, match=r"hypothesis: expected \(B, N\) = \(2, \?\), got \(3, 4\)"):
        model(premise, torch.tensor([3, 3]), torch.ones(3, 4, dtype=torch.long), torch.tensor([4, 4, 4]))
    with pytest.raises(ValueError, match=r"premise_lengths: expected values in 1 .. 3, got \[0, 3\]"):
        model(premise, torch.tensor([0, 3]), hypothesis, torch.tensor([4, 4]))
    with pytest.raises(ValueError, match="reader: expected one of"):
        create_model("entailment", reader="bag-of-words")


def test_alignment_accuracy_counts_scored_words_only():
    weights = torch.zeros(1, 3, 4)
    weights[0, 0, 1] = weights[0, 1, 2] = weights[0, 2, 0] = 1.0  # argmax: 1, 2, 0
    pairs = Pairs(*[None] * 5, alignment=torch.tensor([[1, 3, 0]]), content=torch.tensor([[True, True, False]]))
    assert alignment_accuracy(weights, pairs) == 50.0  # word 0 right, word 1 wrong, word 2 not scored
    assert alignment_accuracy(weights, pairs, tolerance=1) == 100.0  # word 1: argmax 2, gold 3, one off
    weights[0, 1] = torch.tensor([0.0, 1.0, 0.0, 0.0])  # argmax 1, gold 3: two off
    assert alignment_accuracy(weights, pairs, tolerance=1) == 50.0


def test_entail_command_prints_label_and_attention(tmp_path):
    recipe = load_recipe("entailment", {"train_size": 8, "eval_size": 8})
    task = recipe.build_task(seed=0)
    config = recipe.sized_config(create_model("entailment", embed_dim=6, hidden_size=K).config, task)
    model = create_model("entailment", config)
    pair = ["the small poodle is sleeping in the park", "The big dog is sleeping in the park"]
    text = recipe.entail(model, task, pair, tmp_path / "a.png")
    lines = text.splitlines()
    assert lines[0].split()[0] in ("entailment", "neutral", "contradiction")
    probabilities = [float(word) for word in lines[1].split()[1::2]]
    assert abs(sum(probabilities) - 1) < 1e-3 and max(probabilities) == float(lines[0].split()[-1].rstrip(")"))
    assert len(lines) == 3 + 8 and lines[5].startswith("  dog → ")  # one line per hypothesis word
    assert (tmp_path / "a.png").stat().st_size > 0
    with pytest.raises(ValueError, match="unknown word 'zebra' in the premise"):
        recipe.entail(model, task, ["the zebra is here", "the dog"], None)


def test_a_tsv_file_trains_and_evaluates_without_alignments(tmp_path):
    lines = [
        f"a man number {i} sleeps\ta person sleeps\t{('entailment', 'neutral', 'contradiction')[i % 3]}"
        for i in range(40)
    ]
    (tmp_path / "nli.tsv").write_text("\n".join(lines) + "\n")
    recipe = load_recipe("entailment", {"data": str(tmp_path / "nli.tsv")})
    task = recipe.build_task(seed=0)
    assert [len(task.examples[name]) for name in ("train", "valid", "test")] == [
        36,
        2,
        2,
    ] and "heldout" not in task.pairs
    assert "person" in task.vocab and (task.pairs["train"].alignment == -1).all()
    model = create_model("entailment", recipe.sized_config(create_model("entailment", hidden_size=K).config, task))
    metrics = recipe.evaluate(model, task, "test")
    assert set(metrics) == {"accuracy"} and metrics["accuracy"] in (0.0, 50.0, 100.0)


def test_task_swaps_is_checked_and_older_runs_load_without_it(tmp_path):
    from attnzoo.models.entailment.recipe import EntailmentTask
    from attnzoo.training.run import from_json

    old = {"train_size": 10, "eval_size": 5, "clauses": 2, "data": ""}  # a task.json written before swaps
    assert from_json(EntailmentTask, old, tmp_path / "task.json").swaps == 0.0
    with pytest.raises(ValueError, match=r"swaps: expected a probability in \[0, 1\], got 1.5"):
        EntailmentTask(swaps=1.5)
