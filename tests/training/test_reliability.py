"""The generic layer under hostile input: crafted checkpoints, broken run directories, bad options."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from attnzoo.cli import app
from attnzoo.training import Run, RunError, train
from attnzoo.training.checkpoint import load_checkpoint_file, save_checkpoint_file

MODEL = {"embedding_dim": 8, "hidden_size": 8, "attention_dim": 8}
TASK = {"train_size": 64, "valid_size": 16, "test_size": 16}
STEPS = {"batch_size": 16, "steps": 2, "val_every": 2, "checkpoint_every": 2}


def tiny_run(out, **training):
    return train("seq2seq", out, model=MODEL, task=TASK, training=STEPS | training, progress=False, threads=1)


def test_a_crafted_checkpoint_cannot_make_resume_delete_a_file(tmp_path):
    run = tiny_run(tmp_path / "run")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    checkpoint = load_checkpoint_file(run.checkpoint)
    outside = str(run.path / "checkpoints" / ".." / ".." / "victim.txt")
    for state in checkpoint["callbacks"].values():
        if "last_model_path" in state:
            state |= {"last_model_path": outside, "best_model_path": outside, "kth_best_model_path": outside}
            state["best_k_models"] = {outside: 0.0}
    save_checkpoint_file(checkpoint, run.checkpoint)
    train("seq2seq", run.path, training={"steps": 4}, resume=True, progress=False, threads=1)
    assert victim.read_text() == "keep me"
    assert load_checkpoint_file(run.checkpoint)["global_step"] == 4


def test_resume_reads_exactly_last_ckpt(tmp_path):
    run = tiny_run(tmp_path / "run")
    (run.path / "checkpoints" / "last-v1.ckpt").write_bytes(b"an unrelated file")
    train("seq2seq", run.path, training={"steps": 4}, resume=True, progress=False, threads=1)
    assert load_checkpoint_file(run.checkpoint)["global_step"] == 4


def test_a_training_set_smaller_than_a_batch_is_refused(tmp_path):
    with pytest.raises(ValueError, match="smaller than one batch"):
        train("ram", tmp_path / "run", training={"batch_size": 100_000, "steps": 2}, progress=False)


def broken(run: Run, case: str) -> str:
    """Break ``run`` the way ``case`` says; the file the error must name."""
    config = run.file("config.json")
    document = json.loads(config.read_text())
    if case == "config not JSON":
        config.write_text("{not json")
    elif case == "config without model":
        config.write_text(json.dumps({"config": document["config"]}))
    elif case == "config field of the wrong type":
        document["config"]["hidden_size"] = "eight"
        config.write_text(json.dumps(document))
    elif case == "config field missing":
        del document["config"]["hidden_size"]
        config.write_text(json.dumps(document))
    elif case == "weights of another size":
        document["config"]["hidden_size"] = 12
        config.write_text(json.dumps(document))
        return "model.safetensors"
    elif case == "flipped byte in the weights":
        data = bytearray(run.file("model.safetensors").read_bytes())
        data[3] ^= 0xFF  # inside the header length
        run.file("model.safetensors").write_bytes(bytes(data))
        return "model.safetensors"
    elif case == "task not JSON":
        run.file("task.json").write_text("[")
        return "task.json"
    return "config.json"


CASES = [
    "config not JSON",
    "config without model",
    "config field of the wrong type",
    "config field missing",
    "weights of another size",
    "flipped byte in the weights",
    "task not JSON",
]


@pytest.mark.parametrize("case", CASES)
def test_a_broken_run_directory_is_one_line_naming_the_file(tmp_path, case):
    run = tiny_run(tmp_path / "run")
    name = broken(run, case)
    result = CliRunner().invoke(app, ["evaluate", str(run.path)])
    assert result.exit_code == 2, f"{result.output}\n{result.exception!r}"
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("attnzoo: error: ") and name in lines[0], result.output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--batch-size", "0"], "training batch_size: got 0"),
        (["--epochs", "-2"], "training epochs: got -2"),
        (["--steps", "-1"], "training steps: got -1"),
        (["--checkpoint-every", "0"], "training checkpoint_every: got 0"),
        (["--devices", "0"], "devices: expected >= 1, got 0"),
        (["--num-nodes", "0"], "num_nodes: expected >= 1, got 0"),
        (["--train-size", "0"], "task train_size: expected >= 1, got 0"),
        (["--set", "dropout=1.5"], "dropout: expected a probability in [0, 1), got 1.5"),
        (["--model", "ntm", "--set", "memory_rows=0"], "memory_rows: expected a positive integer, got 0"),
        (["--model", "lstm-baseline", "--set", "num_layers=0"], "num_layers: expected a positive integer, got 0"),
        (["--model", "pointer", "--n", "30"], "supervised tsp needs Held–Karp targets: n <= 12, or rl"),
        (["--model", "pointer", "--steps", "-1", "--train-size", "64"], "training steps: got -1"),
        (["--model", "ram", "--epochs", "-1"], "training epochs: got -1"),
        (["--set", "source_vocab_size=7"], "--set source_vocab_size=7: the task sets this field"),
    ],
)
def test_bad_options_are_one_line_naming_the_option(tmp_path, arguments, message):
    name = arguments[1] if arguments[0] == "--model" else "seq2seq"
    arguments = arguments[2:] if arguments[0] == "--model" else arguments
    result = CliRunner().invoke(app, ["train", name, "--out", str(tmp_path / "run"), *arguments])
    assert result.exit_code == 2, f"{result.output}\n{result.exception!r}"
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.output


def test_out_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(RunError, match="is a file, not a directory"):
        tiny_run(tmp_path / "file")


def test_plot_refuses_a_file_type_it_cannot_write(tmp_path):
    run = tiny_run(tmp_path / "run")
    result = CliRunner().invoke(app, ["plot", str(run.path), "--picture", "alignment", "--out", str(tmp_path / "dir")])
    assert result.exit_code == 2 and "expected a file name ending in .png, .svg or .pdf" in result.output


def test_translate_refuses_an_input_longer_than_any_training_source(tmp_path):
    run = tiny_run(tmp_path / "run")
    result = CliRunner().invoke(app, ["translate", str(run.path), "3 March 2015 " * 50])
    assert result.exit_code == 2 and "more than twice the longest training source" in result.output


def test_a_run_written_before_a_training_field_existed_still_loads(tmp_path):
    """``Training.fields_added_later`` fills a later field with the value older runs trained with;
    any other missing training field is still one line naming the file."""
    run = tiny_run(tmp_path / "run")
    path = run.file("training.json")
    document = json.loads(path.read_text())
    del document["training"]["precision"]
    path.write_text(json.dumps(document))
    assert Run(run.path).training().precision == "32"
    assert CliRunner().invoke(app, ["evaluate", str(run.path)]).exit_code == 0
    del document["training"]["lr"]
    path.write_text(json.dumps(document))
    result = CliRunner().invoke(app, ["evaluate", str(run.path), "--split", "valid"])
    assert result.exit_code == 2 and "training.json" in result.output and "'lr' is missing" in result.output
