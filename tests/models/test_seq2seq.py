"""Seq2Seq: decoder shapes and masking, padding, learning, checkpoints, the CLI and resume."""

import json

import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from attnzoo import create_model
from attnzoo.models.seq2seq import Seq2SeqConfig
from attnzoo.tasks.text import collate_pairs, make_translation_data
from attnzoo.tasks.vocab import Vocabulary
from attnzoo.training import load_checkpoint_file, load_model, save_model
from attnzoo.training.translation import sequence_counts

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
    save_model(tmp_path, "seq2seq", model, model.config)
    loaded, config = load_model(tmp_path)
    assert config == model.config
    assert torch.equal(model(source, lengths, target_in).logits, loaded(source, lengths, target_in).logits)
    for beam in (1, 3):
        first, second = model.generate(source, lengths, 8, beam), loaded.generate(source, lengths, 8, beam)
        assert torch.equal(first.tokens, second.tokens) and torch.equal(first.alignments, second.alignments)


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


# ---------------------------------------------------------------------------- command line

TINY = ["--train-size", "200", "--valid-size", "40", "--test-size", "40", "--batch-size", "32"]
TINY += ["--embedding", "8", "--hidden", "16", "--attention-dim", "16", "--no-progress", "--threads", "1"]


@pytest.fixture
def runner():
    return CliRunner()


def invoke(runner, *args):
    from attnzoo.cli import app

    result = runner.invoke(app, [str(arg) for arg in args])
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result.output


def test_cli_train_evaluate_translate_plot(runner, tmp_path):
    out = tmp_path / "run"
    output = invoke(runner, "train", "seq2seq", "--out", out, "--steps", "4", *TINY)
    assert "valid: exact match" in output
    for name in ("model.safetensors", "config.json", "source_vocab.json", "target_vocab.json", "task.json"):
        assert (out / name).is_file(), name
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == "seq2seq"
    assert len(Vocabulary.load(out / "source_vocab.json")) == config["config"]["source_vocab_size"]
    assert "test (40 pairs): exact match" in invoke(runner, "evaluate", out)
    picture = tmp_path / "one.png"
    output = invoke(runner, "translate", out, "3 марта 2015 г.", "--beam", "2", "--plot", picture)
    assert picture.stat().st_size > 0 and f"wrote {picture}" in output
    invoke(runner, "plot", out, "--alignment", tmp_path / "two.png")
    assert (tmp_path / "two.png").stat().st_size > 0


def test_cli_rejects_bad_options(runner, tmp_path):
    from attnzoo.cli import app

    result = runner.invoke(app, ["train", "seq2seq", "--out", str(tmp_path), "--task", "corpus"])
    assert result.exit_code != 0 and "--data" in result.output
    result = runner.invoke(
        app, ["train", "seq2seq", "--out", str(tmp_path), "--attention", "luong", "--score", "dot", "--bidirectional"]
    )  # refused before any data are generated
    assert result.exit_code != 0 and "score: 'dot' needs" in result.output
    result = runner.invoke(app, ["translate", str(tmp_path), "3 March 2015", "--beam", "0"])
    assert result.exit_code != 0 and "expected a beam size >= 1, got 0" in result.output


def test_cli_resume_continues_the_global_step(runner, tmp_path):
    out = tmp_path / "run"
    invoke(runner, "train", "seq2seq", "--out", out, "--steps", "4", "--checkpoint-every", "2", *TINY)
    assert load_checkpoint_file(out / "checkpoints" / "last.ckpt")["global_step"] == 4
    invoke(runner, "train", "seq2seq", "--out", out, "--steps", "8", "--checkpoint-every", "2", "--resume", *TINY)
    checkpoint = load_checkpoint_file(out / "checkpoints" / "last.ckpt")
    assert checkpoint["global_step"] == 8
    assert checkpoint["hyper_parameters"]["model"]["hidden_size"] == 16  # plain dicts, stored as JSON


def test_cli_resume_without_a_checkpoint_fails_clearly(runner, tmp_path):
    from attnzoo.cli import app

    result = runner.invoke(app, ["train", "seq2seq", "--out", str(tmp_path), "--steps", "2", "--resume", *TINY])
    assert result.exit_code != 0 and "nothing to resume from" in str(result.exception)


def test_demo_with_tiny_settings(runner, tmp_path, monkeypatch):
    """The demo's code path end to end (the real settings take ~2 minutes: see the README)."""
    from attnzoo.models.seq2seq import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "DEMO_DATA", {"train_size": 200, "valid_size": 20, "test_size": 40, "seed": 0})
    monkeypatch.setattr(cli, "DEMO_MODEL", {"embedding_dim": 8, "hidden_size": 16, "attention_dim": 16})
    monkeypatch.setattr(cli, "DEMO_TRAINING", {"batch_size": 32, "max_steps": 3, "lr": 3e-3})
    lines = invoke(runner, "demo").strip().splitlines()
    assert lines[-1].startswith("Exact match on 40 held-out test dates: ")
    assert lines[-1].endswith("alignment heatmap written to alignment.png")
    assert (tmp_path / "alignment.png").stat().st_size > 0
    assert (tmp_path / "runs" / "demo" / "model.safetensors").is_file()
    assert sum(line.startswith("  ") and " → " in line for line in lines) == 5  # five examples
