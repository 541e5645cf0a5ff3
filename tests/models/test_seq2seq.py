"""Seq2Seq: decoder shapes and masking, padding, learning, checkpoints, presets."""

import pytest
import torch
import torch.nn.functional as F

from attnzoo import create_model
from attnzoo.models.seq2seq import Seq2SeqConfig
from attnzoo.recipes.translation import sequence_counts
from attnzoo.tasks.text import collate_pairs, make_translation_data
from attnzoo.training.run import Run

VARIANTS = [
    {"attention": "none"},
    {"attention": "bahdanau"},
    {"attention": "bahdanau", "rnn": "lstm", "num_layers": 2},
    *[
        {"attention": "luong", "score": score, "local": local, "bidirectional": False}
        for score in ("dot", "general", "concat", "location")
        for local in ("none", "monotonic", "predictive")
    ],
    {"attention": "luong", "score": "general", "rnn": "lstm", "input_feeding": False},
]


def variant_id(variant: dict) -> str:
    return "-".join(str(value) for value in variant.values())


def tiny_model(**overrides):
    options = {"source_vocab_size": 20, "target_vocab_size": 12, "embedding_dim": 8, "hidden_size": 16}
    options |= {"attention_dim": 16, "output_dim": 16, "window": 2, "max_source_len": 16}
    torch.manual_seed(0)
    return create_model("seq2seq", **(options | overrides)).eval()


def padded_batch():
    """Three sources of lengths 7, 4, 2, padded with 0 to width 7; targets of width 5."""
    generator = torch.Generator().manual_seed(1)
    lengths = torch.tensor([7, 4, 2])
    source = torch.randint(4, 20, (3, 7), generator=generator)
    source[torch.arange(7) >= lengths[:, None]] = 0
    target_in = torch.randint(3, 12, (3, 5), generator=generator)
    return source, lengths, target_in


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_decoder_shapes_and_zero_weight_on_padding(variant):
    model = tiny_model(**variant)
    source, lengths, target_in = padded_batch()
    logits, alignments = model(source, lengths, target_in)
    assert logits.shape == (3, 5, 12)
    assert torch.isfinite(logits).all()
    if variant["attention"] == "none":
        assert alignments is None
        return
    assert alignments.shape == (3, 5, 7)
    padding = torch.arange(7) >= lengths[:, None]  # (B, S)
    assert (alignments.masked_select(padding[:, None, :].expand_as(alignments)) == 0).all()
    sums = alignments.sum(-1)
    if variant.get("local") == "predictive":  # eq. (10): the Gaussian factor is not renormalised
        assert (sums <= 1 + 1e-5).all() and (sums > 0).all()
    elif variant.get("local") == "monotonic":  # p_t = t: a window past the source's end holds nothing
        reaches = torch.arange(5)[None, :] - 2 <= lengths[:, None] - 1  # t - D <= S - 1
        assert torch.allclose(sums, reaches.float(), atol=1e-5)
    else:
        assert torch.allclose(sums, torch.ones_like(sums), atol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS[:4] + VARIANTS[-2:], ids=variant_id)
def test_padding_never_leaks_into_a_real_position(variant):
    """A source decodes to the same logits alone as in a batch padded for a longer source."""
    model = tiny_model(**variant)
    source, lengths, target_in = padded_batch()
    batched = model(source, lengths, target_in).logits[2]
    alone = model(source[2:, :2], lengths[2:], target_in[2:]).logits[0]
    assert torch.allclose(batched, alone, atol=1e-5)
    garbage = source.clone()
    garbage[2, 2:] = 5  # other tokens behind the length: invisible
    assert torch.allclose(model(garbage, lengths, target_in).logits[2], alone, atol=1e-5)


def test_bahdanau_decoder_precomputes_keys_once_per_source(monkeypatch):
    model = tiny_model()
    calls = []
    score = model.decoder.attention.score
    original = score.prepare_keys
    monkeypatch.setattr(score, "prepare_keys", lambda keys: calls.append(keys.shape) or original(keys))
    source, lengths, target_in = padded_batch()
    model(source, lengths, target_in)
    assert len(calls) == 1  # U_a h_j for 5 target steps, computed once


def test_bad_configs_name_the_field():
    with pytest.raises(ValueError, match="attention"):
        Seq2SeqConfig(attention="transformer")
    with pytest.raises(ValueError, match="score: 'dot' needs"):
        Seq2SeqConfig(attention="luong", score="dot", bidirectional=True)
    with pytest.raises(ValueError, match="source_lengths"):
        tiny_model()(torch.ones(2, 3, dtype=torch.long), torch.tensor([3, 0]), torch.ones(2, 2, dtype=torch.long))


def date_pairs():
    return [
        ("3 March 2015", "2015-03-03"),
        ("Dienstag, 3. März 2015", "2015-03-03"),
        ("12/25/99", "1999-12-25"),
        ("1 janvier 2001", "2001-01-01"),
        ("7 июля 1977 г.", "1977-07-07"),
        ("2039年1月8日", "2039-01-08"),
        ("lördag 24 januari 1998", "1998-01-24"),
        ("19 tháng 6, 2023", "2023-06-19"),
    ]


def test_overfits_one_tiny_batch():
    pairs = date_pairs()
    data = make_translation_data(pairs, pairs[:1], pairs[:1], level="char")
    batch = collate_pairs([data.train[i] for i in range(len(pairs))])
    model = tiny_model(source_vocab_size=len(data.source_vocab), target_vocab_size=len(data.target_vocab)).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(80):  # all 8 exact after ~50 steps
        logits = model(batch["source"], batch["source_lengths"], batch["target_in"]).logits
        loss = F.cross_entropy(logits.flatten(0, 1), batch["target_out"].flatten(), ignore_index=0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    decoded = model.eval().generate(batch["source"], batch["source_lengths"], max_len=15)
    assert sequence_counts(decoded.tokens, batch["target_out"], 0) == (len(pairs), len(pairs))
    assert [data.decode_target(row) for row in decoded.tokens] == [target for _, target in pairs]


@pytest.mark.parametrize("variant", [VARIANTS[1], VARIANTS[5]], ids=variant_id)
def test_checkpoint_round_trip_gives_identical_outputs(tmp_path, variant):
    model = tiny_model(**variant)
    source, lengths, target_in = padded_batch()
    run = Run(tmp_path / "run")
    run.prepare(resume=False, overwrite=False)
    run.write_settings("seq2seq", None, model.config, run_task(), {})
    run.save_model(model)
    loaded = run.load_model()
    assert run.config() == model.config
    assert torch.equal(model(source, lengths, target_in).logits, loaded(source, lengths, target_in).logits)
    for beam in (1, 3):
        first, second = model.generate(source, lengths, 8, beam), loaded.generate(source, lengths, 8, beam)
        assert torch.equal(first.tokens, second.tokens) and torch.equal(first.alignments, second.alignments)


def run_task():
    from attnzoo.recipes.translation import TranslationTask

    return TranslationTask()


def test_luong_presets_resolve_the_encoder_direction():
    """A default that depends on another field resolves anew: Luong's encoder is one-directional."""
    assert create_model("seq2seq", preset="bahdanau").config.bidirectional
    assert not create_model("seq2seq", preset="luong-general").config.bidirectional
    assert create_model("seq2seq", attention="luong", bidirectional=True, score="general").config.bidirectional
    assert create_model("seq2seq", hidden_size=24).config.output_dim == 24


def test_step_by_step_decoding_matches_teacher_forcing():
    """Greedy decoding through the step function sees what the teacher-forced pass sees."""
    model = tiny_model(attention="luong", score="general", local="predictive", bidirectional=False)
    source, lengths, _ = padded_batch()
    decoded = model.generate(source, lengths, max_len=6)
    bos = torch.full((3, 1), model.config.bos_id)
    replay = model(source, lengths, torch.cat([bos, decoded.tokens[:, :-1]], dim=1))
    alive = torch.arange(decoded.tokens.size(1)) < decoded.lengths[:, None]  # up to EOS
    assert torch.equal(replay.logits.argmax(-1)[alive], decoded.tokens[alive])
    assert torch.allclose(replay.alignments[alive], decoded.alignments[alive], atol=1e-6)


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_teacher_forcing_reads_out_all_steps_as_one_step_at_a_time(variant):
    """The teacher-forced pass reads every step out in one call; one token at a time gives the same logits."""
    model = tiny_model(**variant)
    source, lengths, target_in = padded_batch()
    state = model.start_decoding(source, lengths)
    stepped = []
    for t in range(target_in.size(1)):
        logits, state, _ = model.decoder(target_in[:, t], state)
        stepped.append(logits)
    teacher_forced = model(source, lengths, target_in).logits
    assert torch.allclose(teacher_forced, torch.stack(stepped, dim=1), atol=1e-6)
