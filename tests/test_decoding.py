"""Greedy decoding and beam search: k = 1 equals greedy, EOS handling, the length limit."""

import math

import pytest
import torch

from attnzoo import create_model
from attnzoo.decoding import beam_search, greedy_decode

BOS, EOS, PAD = 1, 2, 0


def markov_step(table: torch.Tensor):
    """A step function whose next-token distribution depends on the previous token only.

    The state counts the steps; the "alignment" is a one-hot of the step number over 8
    positions, so a test can see that alignments follow their hypotheses.
    """

    def step(tokens, state):
        alignment = torch.nn.functional.one_hot(state.clamp_max(7), 8).float()  # (N, 8)
        return table[tokens], state + 1, alignment

    return step


def probabilities_to_table(rows: dict[int, dict[int, float]], vocab: int = 6) -> torch.Tensor:
    """Log-probability table ``(V, V)``: ``rows[previous][next] = p``, the rest spread evenly."""
    table = torch.full((vocab, vocab), 1.0 / vocab)
    for previous, row in rows.items():
        rest = max(1.0 - sum(row.values()), 1e-6) / (vocab - len(row))
        table[previous] = rest
        for token, p in row.items():
            table[previous, token] = p
    return (table / table.sum(-1, keepdim=True)).log()


def counters(batch: int) -> torch.Tensor:
    return torch.zeros(batch, dtype=torch.long)


def test_greedy_stops_at_eos_and_pads_after_it():
    # BOS -> 3 -> 4 -> EOS for row 0 ... every row follows the same chain
    table = probabilities_to_table({BOS: {3: 0.9}, 3: {4: 0.9}, 4: {EOS: 0.9}, EOS: {5: 0.9}})
    decoded = greedy_decode(markov_step(table), counters(2), 2, BOS, max_len=10, eos_id=EOS, pad_id=PAD)
    assert decoded.tokens.tolist() == [[3, 4, EOS]] * 2  # stopped when every row had finished
    assert decoded.lengths.tolist() == [3, 3]
    assert torch.allclose(decoded.scores, torch.full((2,), 3 * math.log(0.9)), atol=1e-3)
    assert decoded.alignments.shape == (2, 3, 8)


def test_greedy_writes_padding_after_eos_while_other_rows_continue():
    short = probabilities_to_table({BOS: {3: 0.9}, 3: {EOS: 0.9}})  # row 0: 3 EOS
    long = probabilities_to_table({BOS: {4: 0.9}, 4: {5: 0.9}, 5: {EOS: 0.9}})  # row 1: 4 5 EOS
    tables = torch.stack([short, long])  # (rows, V, V)

    def step(tokens, rows):
        return tables[rows, tokens], rows, None

    decoded = greedy_decode(step, torch.tensor([0, 1]), 2, BOS, max_len=10, eos_id=EOS, pad_id=PAD)
    assert decoded.tokens.tolist() == [[3, EOS, PAD], [4, 5, EOS]]
    assert decoded.lengths.tolist() == [2, 3]
    assert decoded.alignments is None
    beam = beam_search(step, torch.tensor([0, 1]), 2, BOS, max_len=10, beam_size=3, eos_id=EOS, pad_id=PAD)
    assert beam.tokens[:, :3].tolist() == [[3, EOS, PAD], [4, 5, EOS]]
    assert beam.lengths.tolist() == [2, 3]


def test_without_eos_decoding_runs_to_max_len():
    table = probabilities_to_table({BOS: {3: 0.9}, 3: {3: 0.9}})
    for decode in (greedy_decode, beam_search):
        decoded = decode(markov_step(table), counters(3), 3, BOS, max_len=7, eos_id=EOS, pad_id=PAD)
        assert decoded.tokens.shape == (3, 7)
        assert decoded.lengths.tolist() == [7, 7, 7]
        assert (decoded.tokens == 3).all()


def test_beam_search_finds_a_better_sequence_than_greedy():
    """Greedy takes 3 (p = 0.6), then at best 0.3; beam search keeps 4 (p = 0.4) then EOS (p = 1)."""
    table = probabilities_to_table({BOS: {3: 0.6, 4: 0.4}, 3: {5: 0.3, 3: 0.25, 4: 0.25, EOS: 0.2}, 4: {EOS: 1.0}})
    table[5] = probabilities_to_table({5: {EOS: 1.0}})[5]
    step = markov_step(table)
    greedy = greedy_decode(step, counters(1), 1, BOS, max_len=5, eos_id=EOS)
    beam = beam_search(step, counters(1), 1, BOS, max_len=5, beam_size=2, eos_id=EOS, length_penalty=0.0)
    assert greedy.tokens.tolist() == [[3, 5, EOS]]
    assert beam.tokens[0, :2].tolist() == [4, EOS]
    assert beam.scores.item() == pytest.approx(math.log(0.4), abs=1e-3)
    assert beam.scores.item() > greedy.scores.item()
    assert beam.alignments[0, :2].argmax(-1).tolist() == [0, 1]  # the alignments of the kept hypothesis


def test_beam_size_one_equals_greedy_on_random_chains():
    generator = torch.Generator().manual_seed(0)
    for _ in range(5):
        table = torch.randn(8, 8, generator=generator).mul(3).log_softmax(-1)
        step = markov_step(table)
        greedy = greedy_decode(step, counters(4), 4, BOS, max_len=9, eos_id=EOS, pad_id=PAD)
        beam = beam_search(step, counters(4), 4, BOS, max_len=9, beam_size=1, eos_id=EOS, pad_id=PAD)
        width = greedy.tokens.size(1)
        assert torch.equal(beam.tokens[:, :width], greedy.tokens)
        assert (beam.tokens[:, width:] == PAD).all()
        assert torch.equal(beam.lengths, greedy.lengths)
        normalised = greedy.scores / greedy.lengths.float()  # beam search divides by length ** 1.0
        assert torch.allclose(beam.scores, normalised, atol=1e-5)


@pytest.mark.parametrize("attention", ["bahdanau", "luong"])
def test_beam_size_one_equals_greedy_on_seq2seq(attention):
    torch.manual_seed(0)
    model = create_model(
        "seq2seq", source_vocab_size=20, target_vocab_size=12, hidden_size=16, embedding_dim=8, attention=attention
    ).eval()
    source = torch.randint(4, 20, (4, 6))
    lengths = torch.tensor([6, 3, 5, 1])
    source[torch.arange(6) >= lengths[:, None]] = 0
    greedy = model.generate(source, lengths, max_len=8)
    beam = model.generate(source, lengths, max_len=8, beam_size=1)
    width = greedy.tokens.size(1)
    assert torch.equal(beam.tokens[:, :width], greedy.tokens)
    assert torch.equal(beam.lengths, greedy.lengths)
    assert torch.allclose(beam.alignments[:, :width], greedy.alignments, atol=1e-6)


def test_beam_search_rows_are_independent_of_the_batch():
    torch.manual_seed(0)
    model = create_model("seq2seq", source_vocab_size=20, target_vocab_size=12, hidden_size=16).eval()
    source = torch.randint(4, 20, (3, 5))
    lengths = torch.tensor([5, 5, 5])
    together = model.generate(source, lengths, max_len=6, beam_size=3)
    for row in range(3):
        alone = model.generate(source[row : row + 1], lengths[row : row + 1], max_len=6, beam_size=3)
        assert torch.equal(alone.tokens[0], together.tokens[row, : alone.tokens.size(1)])
        assert torch.allclose(alone.scores[0], together.scores[row], atol=1e-5)


@pytest.mark.parametrize("beam_size", [1, 3])
def test_seq2seq_eos_and_max_len(beam_size):
    torch.manual_seed(0)
    model = create_model("seq2seq", source_vocab_size=20, target_vocab_size=12, hidden_size=16).eval()
    source, lengths = torch.randint(4, 20, (2, 5)), torch.tensor([5, 4])
    with torch.no_grad():
        model.decoder.output.bias[EOS] = 100.0  # EOS is always the most likely token
    decoded = model.generate(source, lengths, max_len=6, beam_size=beam_size)
    assert decoded.lengths.tolist() == [1, 1] and (decoded.tokens[:, 0] == EOS).all()
    with torch.no_grad():
        model.decoder.output.bias[EOS] = -100.0  # EOS never wins: stop at max_len
    decoded = model.generate(source, lengths, max_len=6, beam_size=beam_size)
    assert decoded.lengths.tolist() == [6, 6] and decoded.tokens.shape == (2, 6)
    assert not (decoded.tokens == EOS).any()
