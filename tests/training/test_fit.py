"""The one fit: run directories, resume, budget, target, best weights, EMA, validation rows, DDP."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from attnzoo.models.seq2seq.recipe import Seq2SeqRecipe
from attnzoo.recipes import Training
from attnzoo.training import Run, RunError, train, train_once
from attnzoo.training.fit import make_trainer, planned_steps

MODEL = {"embedding_dim": 8, "hidden_size": 8, "attention_dim": 8}
TASK = {"train_size": 64, "valid_size": 16, "test_size": 16}


def tiny_run(out, **training):
    settings = {"batch_size": 16, "steps": 8, "val_every": 4, "checkpoint_every": 4, "schedule": "constant"}
    return train("seq2seq", out, model=MODEL, task=TASK, training=settings | training, progress=False, threads=1)


def weights(run: Run) -> dict[str, torch.Tensor]:
    return run.load_model().state_dict()


def test_a_stopped_run_resumed_at_an_epoch_boundary_ends_as_an_uninterrupted_one(tmp_path):
    straight = tiny_run(tmp_path / "straight", steps=8)
    tiny_run(tmp_path / "stopped", steps=4)  # 4 batches of 16 = one epoch
    resumed = train("seq2seq", tmp_path / "stopped", training={"steps": 8}, resume=True, progress=False, threads=1)
    assert resumed.read_json("training.json")["done"]["steps"] == 8
    expected = weights(straight)
    for key, value in weights(resumed).items():
        assert torch.allclose(value, expected[key], atol=1e-6), key
    steps = [int(row["step"]) for row in resumed.metrics_rows()]
    assert steps == [4, 8]  # the validation rows continue the stopped run's file


def test_a_run_resumed_in_the_middle_of_an_epoch_ends_as_an_uninterrupted_one(tmp_path):
    straight = tiny_run(tmp_path / "straight", steps=12, batch_size=8)  # 8 batches an epoch
    tiny_run(tmp_path / "stopped", steps=4, batch_size=8)  # stopped half-way through epoch 0
    resumed = train("seq2seq", tmp_path / "stopped", training={"steps": 12}, resume=True, progress=False, threads=1)
    expected = weights(straight)
    for key, value in weights(resumed).items():  # the rest of epoch 0, then epoch 1: the same batches
        assert torch.equal(value, expected[key]), key


def test_train_once_reuses_a_finished_run_and_resumes_a_stopped_one(tmp_path, monkeypatch):
    import attnzoo.training.fit as fit

    options = {"model": MODEL, "task": TASK, "progress": False, "threads": 1}
    first = train_once("seq2seq", tmp_path / "run", training={"steps": 4, "batch_size": 16}, **options)
    assert first.read_json("training.json")["done"]["steps"] == 4
    (tmp_path / "run" / "model.safetensors").unlink()  # as if stopped after its checkpoint at step 4
    resumed = train_once("seq2seq", tmp_path / "run", training={"steps": 8, "batch_size": 16}, **options)
    assert resumed.read_json("training.json")["done"]["steps"] == 8
    monkeypatch.setattr(fit, "train", lambda *args, **kwargs: pytest.fail("trained a finished run again"))
    again = train_once("seq2seq", tmp_path / "run", training={"steps": 100}, **options)
    assert again.path == resumed.path and again.read_json("training.json")["done"]["steps"] == 8


def test_metrics_csv_has_one_row_per_validation(tmp_path):
    run = tiny_run(tmp_path / "run", steps=8, val_every=2)
    rows = run.metrics_rows()
    assert [int(row["step"]) for row in rows] == [2, 4, 6, 8]
    assert {"step", "epoch", "seconds", "loss", "valid_exact", "valid_token_acc", "load"} <= set(rows[0])
    assert float(rows[-1]["seconds"]) > 0


def test_an_existing_run_is_never_overwritten_silently(tmp_path):
    tiny_run(tmp_path / "run", steps=2, val_every=2)
    with pytest.raises(RunError, match="holds a run already: --resume continues it, --overwrite replaces it"):
        tiny_run(tmp_path / "run", steps=2)
    with pytest.raises(RunError, match="give one of them"):
        train("seq2seq", tmp_path / "run", resume=True, overwrite=True)
    with pytest.raises(RunError, match="no checkpoint to resume from"):
        train("seq2seq", tmp_path / "elsewhere", resume=True)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("not a run")
    with pytest.raises(RunError, match="is not empty and holds no attnzoo run"):
        tiny_run(tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "not a run"


def test_overwrite_replaces_only_the_files_a_run_writes(tmp_path):
    run = tiny_run(tmp_path / "run", steps=2, val_every=2)
    (run.path / "notes.txt").write_text("mine")
    again = train(
        "seq2seq",
        run.path,
        model=MODEL,
        task=TASK,
        training={"steps": 2, "batch_size": 16},
        overwrite=True,
        progress=False,
    )
    assert (again.path / "notes.txt").read_text() == "mine"
    assert [int(row["step"]) for row in again.metrics_rows()] == [2]


def test_resume_refuses_new_model_settings(tmp_path):
    tiny_run(tmp_path / "run", steps=4)
    with pytest.raises(ValueError, match="give only training options"):
        train("seq2seq", tmp_path / "run", model={"hidden_size": 4}, resume=True)


def test_target_stops_training_at_the_first_validation_that_reaches_it(tmp_path):
    run = tiny_run(tmp_path / "run", steps=40, val_every=2, target=0.0)  # exact match >= 0: reached at once
    assert run.read_json("training.json")["done"]["steps"] == 2


def test_minutes_budget_stops_training(tmp_path):
    run = tiny_run(tmp_path / "run", steps=400, val_every=100, minutes=1e-6)
    assert run.read_json("training.json")["done"]["steps"] == 1


def test_keep_best_saves_the_weights_of_the_best_validation(tmp_path, monkeypatch):
    monkeypatch.setattr(Seq2SeqRecipe, "keep_best", True)
    monkeypatch.setattr(Seq2SeqRecipe, "selection", ("token_acc", "min"))  # "best" = worst, to be sure it differs
    run = tiny_run(tmp_path / "run", steps=8, val_every=2, lr=3e-2)
    rows = run.metrics_rows()
    worst = min(rows, key=lambda row: float(row["valid_token_acc"]))
    metrics = run.read_json("metrics.json")
    assert metrics["kept_step"] == int(worst["step"])
    assert metrics["token_acc"] == pytest.approx(float(worst["valid_token_acc"]))
    assert metrics["kept_step"] != 8 or len({row["valid_token_acc"] for row in rows}) == 1


def test_bf16_mixed_precision_trains_fp32_weights_with_bf16_matrix_products(tmp_path, monkeypatch):
    """``precision="bf16-mixed"``: autocast runs the products in bfloat16; the weights stay float32."""
    seen = []
    loss = Seq2SeqRecipe.loss
    monkeypatch.setattr(Seq2SeqRecipe, "loss", lambda *a: seen.append(torch.is_autocast_enabled("cpu")) or loss(*a))
    run = tiny_run(tmp_path / "bf16", steps=4, precision="bf16-mixed")
    assert run.training().precision == "bf16-mixed"
    assert all(value.dtype == torch.float32 for value in weights(run).values())
    assert seen and all(seen)  # every training loss ran under bfloat16 autocast
    assert all(math.isfinite(float(row["loss"])) for row in run.metrics_rows())


def test_planned_steps_is_the_fewer_of_steps_and_epochs():
    assert planned_steps(Training(steps=100, epochs=None), 7) == 100
    assert planned_steps(Training(steps=100, epochs=3), 7) == 21
    assert planned_steps(Training(steps=-1, epochs=3), 7) == 21


@pytest.mark.parametrize(
    ("field", "value"),
    [("ema_decay", 1.0), ("lr", 0.0), ("schedule", "linear"), ("steps", -1), ("precision", "16")],
)
def test_out_of_range_training_settings_are_refused(field, value):
    with pytest.raises(ValueError, match=f"training {field}: got .* out of range"):
        Training(**{field: value})


class CountingModule(L.LightningModule):
    """One weight, trained towards 0 by SGD; records the optimiser steps it saw."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(()))

    def training_step(self, batch, batch_idx):
        return (self.weight * batch).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_weight_average_is_the_ema_of_the_weights(tmp_path):
    batches = DataLoader(torch.ones(8, 2), batch_size=None)
    trajectory = []

    class Record(L.Callback):
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            trajectory.append(module.weight.detach().clone())

    settings = Training(steps=6, clip=None, checkpoint_every=100)
    make_trainer(Run(tmp_path / "plain"), settings, 6, [Record()], progress=False).fit(CountingModule(), batches)
    expected = trajectory[0]  # the average starts at the weights after step 1
    for weight in trajectory[1:]:
        expected = 0.9 * expected + 0.1 * weight
    assert not torch.allclose(expected, trajectory[-1])
    averaged = CountingModule()
    ema = Training(steps=6, clip=None, checkpoint_every=100, ema_decay=0.9)
    make_trainer(Run(tmp_path / "ema"), ema, 6, [], progress=False).fit(averaged, batches)
    assert torch.allclose(averaged.weight, expected)


DDP_SCRIPT = """
import sys
from attnzoo.training import train

run = train("seq2seq", sys.argv[1], model={"embedding_dim": 8, "hidden_size": 8, "attention_dim": 8},
            task={"train_size": 64, "valid_size": 16, "test_size": 16},
            training={"steps": 2, "batch_size": 8, "val_every": 2}, devices=2, progress=False, threads=1)
"""


def test_ddp_two_cpu_processes_train_one_run(tmp_path):
    script = tmp_path / "ddp_train.py"
    script.write_text(textwrap.dedent(DDP_SCRIPT))
    out = tmp_path / "run"
    try:
        result = subprocess.run(
            [sys.executable, str(script), str(out)], capture_output=True, text=True, timeout=600, cwd=tmp_path
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"DDP training did not finish in {error.timeout} s")
    assert result.returncode == 0, result.stderr[-3000:]
    run = Run(out)
    assert run.read_json("training.json")["done"]["steps"] == 2
    assert [int(row["step"]) for row in run.metrics_rows()] == [2]  # one row: only the first process writes
    assert "Traceback" not in result.stderr


def test_a_resumed_run_draws_the_epoch_it_restarts_in(tmp_path):
    """RAM draws new canvases every epoch: a run resumed after epoch 1 ends as one never stopped."""
    settings = {"epochs": 2, "steps": -1, "batch_size": 256, "val_every": 1000, "checkpoint_every": 4}
    settings["schedule"] = "constant"  # a cosine planned over 1 epoch differs from one over 2
    task = {"variant": "centred28"}
    straight = train("digits-mlp", tmp_path / "straight", task=task, training=settings, progress=False, threads=1)
    train("digits-mlp", tmp_path / "stopped", task=task, training=settings | {"epochs": 1}, progress=False, threads=1)
    resumed = train("digits-mlp", tmp_path / "stopped", training={"epochs": 2}, resume=True, progress=False, threads=1)
    expected = weights(straight)
    for key, value in weights(resumed).items():
        assert torch.equal(value, expected[key]), key
