"""The generated command line: train / evaluate / plot / translate / models / demo, and bad input."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from attnzoo.cli import app
from attnzoo.cli.tables import picture_names
from attnzoo.registry import load_recipe

SEQ2SEQ = ["--train-size", "200", "--valid-size", "40", "--test-size", "40", "--batch-size", "32", "--no-progress"]
SEQ2SEQ += ["--set", "embedding_dim=8", "--set", "hidden_size=16", "--set", "attention_dim=16"]
TRANSFORMER = ["--train-size", "200", "--valid-size", "40", "--test-size", "40", "--batch-size", "32"]
TRANSFORMER += ["--set", "d_model=16", "--set", "num_heads=2", "--set", "d_ff=32", "--set", "num_encoder_layers=1"]
TRANSFORMER += ["--warmup-steps", "2", "--no-progress"]


def invoke(*args):
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result.output


def refused(*args) -> str:
    """The one line a refused command prints; it must exit with status 2 and no traceback."""
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    assert result.exit_code == 2, f"{result.output}\n{result.exception!r}"
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


def test_seq2seq_train_evaluate_translate_plot(tmp_path):
    out = tmp_path / "run"
    output = invoke("train", "seq2seq", "--out", out, "--steps", "4", "--val-every", "2", *SEQ2SEQ)
    assert "exact" in output and f"wrote {out}" in output
    for name in ("model.safetensors", "config.json", "task.json", "training.json", "metrics.csv", "metrics.json"):
        assert (out / name).is_file(), name
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == "seq2seq" and config["config"]["hidden_size"] == 16
    documents = json.loads((out / "documents.json").read_text())
    assert len(documents["source_vocab"]) == config["config"]["source_vocab_size"]
    assert "token_acc" in invoke("evaluate", out, "--split", "test")
    picture = tmp_path / "one.png"
    output = invoke("translate", out, "3 марта 2015 г.", "--beam", "2", "--plot", picture)
    assert picture.stat().st_size > 0 and f"wrote {picture}" in output
    invoke("plot", out, "--picture", "alignment", "--out", tmp_path / "two.png")
    assert (tmp_path / "two.png").stat().st_size > 0


def test_resume_continues_the_global_step(tmp_path):
    from attnzoo.training.checkpoint import load_checkpoint_file

    out = tmp_path / "run"
    invoke("train", "seq2seq", "--out", out, "--steps", "4", "--checkpoint-every", "2", *SEQ2SEQ)
    assert load_checkpoint_file(out / "checkpoints" / "last.ckpt")["global_step"] == 4
    invoke("train", "seq2seq", "--out", out, "--steps", "8", "--checkpoint-every", "2", "--resume", "--no-progress")
    assert load_checkpoint_file(out / "checkpoints" / "last.ckpt")["global_step"] == 8


WORDS = ["one", "two", "three", "four", "five", "six", "seven"]


def write_corpus(path, rows):
    """A TSV of word pairs (the target swaps the two words), with Tatoeba's third attribution column."""
    lines = [f"{a} {b}.\t{b} {a}.\tCC-BY 2.0 (France) Attribution: tatoeba.org #{i}" for i, (a, b) in enumerate(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_transformer_on_a_tsv_corpus_with_subwords_is_a_self_contained_run(tmp_path):
    corpus = write_corpus(tmp_path / "pairs.tsv", [(a, b) for a in WORDS for b in WORDS])
    out = tmp_path / "run"
    options = ["--data", corpus, "--vocab-size", "40", "--steps", "2", *TRANSFORMER]
    output = invoke("train", "transformer", "--out", out, *options)
    assert "bleu" in output and "chrf" in output
    assert json.loads((out / "task.json").read_text())["task"]["level"] == "subword"  # the corpus default
    corpus.rename(tmp_path / "moved.tsv")  # the run keeps its tokenisers, vocabularies and pairs
    evaluated = invoke("evaluate", out, "--beam", "2")
    assert "bleu" in evaluated and "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp" in evaluated
    for picture in ("heads", "alignment"):
        invoke("plot", out, "--picture", picture, "--out", tmp_path / f"{picture}.png")
    other = write_corpus(tmp_path / "other.tsv", [("two", "five"), ("six", "one")])
    assert "other.tsv, beam 1" in invoke("evaluate", out, "--data", other)


def test_translate_a_file_and_stdin_in_order(tmp_path):
    corpus = write_corpus(tmp_path / "pairs.tsv", [(a, b) for a in WORDS for b in WORDS])
    out = tmp_path / "run"
    invoke("train", "seq2seq", "--out", out, "--data", corpus, "--level", "word", "--steps", "2", *SEQ2SEQ[-6:])
    sources = tmp_path / "in.txt"
    sources.write_text("two five .\none two .\nsix .\n", encoding="utf-8")
    invoke("translate", out, "--input", sources, "--output", tmp_path / "out.txt", "--batch-size", "2")
    assert len((tmp_path / "out.txt").read_text(encoding="utf-8").splitlines()) == 3
    result = CliRunner().invoke(app, ["translate", str(out), "--input", "-"], input="two five .\nsix .\n")
    assert result.exit_code == 0 and len(result.output.splitlines()) == 2


def test_split_seed_cuts_the_corpus_and_seed_only_the_model(tmp_path):
    from attnzoo.training import Run

    corpus = write_corpus(tmp_path / "pairs.tsv", [(a, b) for a in WORDS for b in WORDS])
    common = ["--data", corpus, "--level", "word", "--steps", "1", *SEQ2SEQ[-6:]]
    invoke("train", "seq2seq", "--out", tmp_path / "a", "--seed", "1", *common)
    invoke("train", "seq2seq", "--out", tmp_path / "b", "--seed", "2", *common)
    invoke("train", "seq2seq", "--out", tmp_path / "c", "--seed", "1", "--split-seed", "5", *common)
    tests = {name: Run(tmp_path / name).build_task().test.pairs for name in "abc"}
    assert tests["a"] == tests["b"] and tests["a"] != tests["c"]


def test_models_table_and_details():
    output = invoke("models")
    for name in ("seq2seq", "transformer", "pointer", "ntm", "ram"):
        assert name in output
    assert "formation" in output  # every --picture name of attnzoo plot, the formation strip included
    assert picture_names(load_recipe("seq2seq")) == ["alignment", "formation"]
    assert picture_names(load_recipe("digits-mlp")) == []  # no attention pictures: no formation recorded
    details = invoke("models", "seq2seq")
    assert "luong-local-p" in details and "hidden_size" in details and "label_smoothing" in details


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--set", "hidden=3"], "no field 'hidden'; the fields are source_vocab_size, "),
        (["--set", "hidden_size=abc"], "hidden_size: expected int, got 'abc'"),
        (["--set", "hidden_size"], "expected FIELD=VALUE, got 'hidden_size'"),
        (["--set", "attention=luong", "--set", "score=dot", "--set", "bidirectional=true"], "score: 'dot' needs"),
        (["--kind", "corpus"], "task kind 'corpus' needs data=FILE"),
        (["--data", "x.tsv", "--split", "0.9/0.2/0.1"], "task split: expected train/valid/test fractions"),
        (["--data", "x.tsv", "--columns", "2,2"], "task columns: expected two different column numbers"),
        (["--kind", "dates", "--data", "x.tsv"], "a file is for kind 'corpus'"),
        (["--data", "missing.tsv"], "missing.tsv: no such file"),
        (["--preset", "nope"], "preset: model 'seq2seq' has presets bahdanau, "),
        (["--lr", "-1"], "training lr: got -1.0, which is out of range (> 0)"),
        (["--threads", "0"], "threads: expected >= 1, got 0"),
    ],
)
def test_bad_training_input_is_one_line_and_exit_2(tmp_path, arguments, message):
    line = refused("train", "seq2seq", "--out", tmp_path / "run", *arguments)
    assert line.startswith("attnzoo: error: ") and message in line
    assert not (tmp_path / "run" / "config.json").exists()  # nothing that blocks a corrected rerun


def test_bad_run_input_is_one_line_and_exit_2(tmp_path):
    assert "no such file; is" in refused("evaluate", tmp_path / "nothing")
    out = tmp_path / "run"
    invoke("train", "seq2seq", "--out", out, "--steps", "2", *SEQ2SEQ)
    assert "holds a run already" in refused("train", "seq2seq", "--out", out, "--steps", "2")
    wrong_picture = refused("plot", out, "--picture", "x", "--out", tmp_path / "x.png")
    assert "expected one of alignment, formation; got 'x'" in wrong_picture
    assert "--beam and --batch-size: expected >= 1, got 0" in refused("translate", out, "3 March 2015", "--beam", "0")
    assert "give the TEXT to translate or --input" in refused("translate", out)
    assert "expected train, valid or test" in refused("evaluate", out, "--split", "dev")
    assert "no field 'nope'" in refused("evaluate", out, "--task", "nope=3")


def test_demo_with_tiny_settings(tmp_path, monkeypatch, capsys):
    """The demo's code path end to end (the real settings take about a minute: see the README)."""
    from attnzoo.cli.demo import run_demo

    monkeypatch.chdir(tmp_path)
    run_demo(
        tmp_path / "runs" / "demo",
        tmp_path / "alignment.png",
        1,
        model={"embedding_dim": 8, "hidden_size": 16, "attention_dim": 16},
        task={"train_size": 200, "valid_size": 20, "test_size": 40},
        training={"steps": 3, "batch_size": 32},
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert "training 3 steps of 32 on 1 CPU thread(s)" in lines[1]  # what it trains, overrides included
    assert lines[-2].startswith("Exact match on 40 held-out test dates: ")
    assert lines[-2].endswith(f"alignment heatmap written to {tmp_path / 'alignment.png'}")
    assert lines[-1].endswith(f"attnzoo explore {tmp_path / 'runs' / 'demo'}")
    assert (tmp_path / "alignment.png").stat().st_size > 0
    assert sum(line.startswith("  ") and " → " in line for line in lines) == 5  # five examples
    invoke("explore", tmp_path / "runs" / "demo")  # what the last line suggests works right after
    assert "attnzoo-data" in (tmp_path / "runs" / "demo" / "explorer.html").read_text(encoding="utf-8")


def test_python_api_load_run_translate_evaluate(tmp_path):
    import attnzoo

    corpus = write_corpus(tmp_path / "pairs.tsv", [(a, b) for a in WORDS for b in WORDS])
    out = tmp_path / "run"
    invoke("train", "seq2seq", "--out", out, "--data", corpus, "--level", "word", "--steps", "2", *SEQ2SEQ[-6:])
    run = attnzoo.load_run(out)
    translation = run.translate(["two five ."], beam=2)[0]
    assert isinstance(translation.output, str) and translation.source_tokens == ["two", "five", ".", "<eos>"]
    assert translation.alignment.shape == (len(translation.output_tokens), 4)
    metrics = run.evaluate([("two five .", "five two ."), ("six one .", "one six .")])
    assert set(metrics) == {"exact", "token_acc", "bleu", "chrf"}
    with pytest.raises(ValueError, match="config.json: no such file"):
        attnzoo.load_run(tmp_path / "nothing")


def test_a_recipe_command_runs_on_a_run_with_its_example(tmp_path, monkeypatch):
    """``Recipe.commands()`` becomes ``attnzoo NAME RUN ARGUMENT...``; other models' runs are refused."""
    import typer

    from attnzoo.cli import make_recipe_command, one_line_errors
    from attnzoo.models.seq2seq.recipe import RECIPE
    from attnzoo.recipes import Command

    def shout(model, task, arguments, out):
        text = (tmp_path / arguments[0]).read_text() if arguments[0].endswith(".txt") else arguments[0]
        return f"{type(model).__name__}: {text.upper()} {arguments[1]}"

    def write_example(task, arguments):
        (tmp_path / arguments[0]).write_text("example")

    shout_command = Command(shout, ("TEXT", "WORD"), "Shout the text.", write_example)
    monkeypatch.setattr(RECIPE, "commands", lambda self: {"shout": shout_command})
    shout_app = typer.Typer()
    shout_app.command("shout")(one_line_errors(make_recipe_command("shout", {"seq2seq": shout_command})))
    shout_app.command("other")(lambda: None)  # two commands: Typer keeps the name
    run = tmp_path / "run"
    invoke("train", "seq2seq", "--out", run, "--steps", "2", *SEQ2SEQ)

    def call(*args):
        return CliRunner().invoke(shout_app, [str(arg) for arg in args])

    assert "Seq2Seq: HELLO there" in call("shout", run, "hello", "there").output
    assert "Seq2Seq: EXAMPLE x" in call("shout", run, "input.txt", "x", "--example").output
    result = call("shout", run, "hello")
    assert result.exit_code == 2 and "expected 2 argument(s) after RUN, got 1" in result.output
    result = call("shout", run)
    assert result.exit_code == 2 and "expected 2 argument(s) after RUN, got 0" in result.output
    monkeypatch.setattr(RECIPE, "commands", lambda self: {})
    result = call("shout", run, "hello", "there")
    assert result.exit_code == 2 and "which has no `shout` command" in result.output
