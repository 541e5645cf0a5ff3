"""The NTM model, its recipe, training and command line (Graves et al. 2014, §4.1 copy task)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from attnzoo import create_model
from attnzoo.models.ntm import NTM, LSTMBaseline, NTMConfig, NTMOutput
from attnzoo.models.ntm.recipe import NTMTask, measure
from attnzoo.recipes import count_parameters
from attnzoo.registry import load_recipe
from attnzoo.tasks.algorithmic import CopyTask


def test_paper_presets_and_similar_parameter_counts():
    ntm, lstm = create_model("ntm", preset="paper"), create_model("lstm-baseline", preset="matched")
    assert isinstance(ntm, NTM) and isinstance(lstm, LSTMBaseline)
    assert ntm.config.memory_rows == 128 and ntm.config.memory_width == 20 and ntm.config.controller_size == 100
    assert 0.8 < count_parameters(lstm) / count_parameters(ntm) < 1.25


def test_ntm_returns_weightings_that_are_distributions():
    model = create_model("ntm", NTMConfig(memory_rows=16, memory_width=6, controller_size=12, read_heads=2))
    output = model(torch.rand(3, 5, 9), return_weights=True)
    assert output.logits.shape == (3, 5, 8)
    assert output.read_weights.shape == (3, 5, 2, 16) and output.write_weights.shape == (3, 5, 1, 16)
    for weights in (output.read_weights, output.write_weights):
        assert torch.allclose(weights.sum(-1), torch.ones(weights.shape[:-1]), atol=1e-5)
    with pytest.raises(ValueError, match="inputs"):
        model(torch.rand(3, 5, 4))


def test_batched_run_equals_one_sequence_at_a_time():
    torch.manual_seed(0)
    model = create_model("ntm", NTMConfig(memory_rows=16, memory_width=6, controller_size=12))
    inputs = torch.rand(4, 6, 9)
    together = model(inputs).logits
    alone = torch.cat([model(inputs[i : i + 1]).logits for i in range(4)])
    assert torch.allclose(together, alone, atol=1e-6)


@pytest.mark.parametrize("name", ["ntm", "lstm-baseline"])
def test_registry_smoke_forward_backward_no_nan_over_100_steps(name):
    torch.manual_seed(0)
    small = {"memory_rows": 16, "memory_width": 8, "controller_size": 16} if name == "ntm" else {"hidden_size": 16}
    model = create_model(name, **small)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(100):
        inputs = torch.randn(4, 7, 9) * 3  # not binary: larger and negative inputs too
        logits = model(inputs).logits
        loss = F.binary_cross_entropy_with_logits(logits, torch.rand(4, 7, 8).round())
        optimiser.zero_grad()
        loss.backward()
        assert torch.isfinite(loss)
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
        optimiser.step()
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_task_settings_resolve_from_the_task():
    copy, recall = NTMTask(), NTMTask(task="recall")
    assert (copy.min_length, copy.max_length, copy.eval_length, copy.eval_repeats) == (1, 20, 20, None)
    assert (recall.min_length, recall.max_length, recall.eval_length) == (2, 6, 6)
    repeat = NTMTask(task="repeat-copy", max_length=5, eval_length=8)
    assert (repeat.max_length, repeat.eval_length, repeat.eval_repeats) == (5, 8, 10)
    assert repeat.eval_episode() == {"length": 8, "repeats": 10}
    with pytest.raises(ValueError, match="task: expected one of"):
        NTMTask(task="sort")
    with pytest.raises(ValueError, match="min_length, max_length"):
        NTMTask(min_length=5, max_length=3)
    with pytest.raises(ValueError, match="eval_length"):
        NTMTask(eval_length=0)


def test_recipe_sizes_the_model_and_fixes_the_evaluation_sets():
    recipe = load_recipe("ntm", {"task": "repeat-copy", "max_length": 3, "eval_repeats": 2, "valid_size": 5})
    data = recipe.build_task(seed=0)
    config = recipe.sized_config(NTMConfig(), data)
    assert (config.input_size, config.output_size) == (10, 9)
    valid = data.split("valid")
    assert valid.inputs.shape == (5, 3 + 2 + 3 * 2 + 1, 10)  # length 3, 2 repeats
    again = recipe.build_task(seed=0).split("valid")
    assert all(torch.equal(first, second) for first, second in zip(valid, again, strict=True))
    assert not torch.equal(recipe.build_task(seed=1).split("valid").inputs, valid.inputs)
    assert not torch.equal(data.split("test").inputs[:5], valid.inputs)


def test_every_epoch_draws_new_training_sequences():
    recipe = load_recipe("ntm", {"min_length": 10, "max_length": 10})
    data = recipe.build_task(seed=0)
    batches = recipe.train_batches(data, 4, 0)
    first = next(iter(batches))
    assert torch.equal(next(iter(batches)).inputs, first.inputs)  # the same epoch again: the same sequences
    recipe.on_epoch_start(data, 1)
    assert not torch.equal(next(iter(batches)).inputs, first.inputs)


def test_cost_is_bits_wrong_per_sequence():
    """A model that outputs the targets has no bits wrong; one that outputs their complement, every one."""

    class Oracle(torch.nn.Module):
        def __init__(self, batch, sign):
            super().__init__()
            self.batch, self.sign, self.weight = batch, sign, torch.nn.Parameter(torch.zeros(()))

        def forward(self, inputs):
            return NTMOutput(self.sign * (2 * self.batch.targets[: inputs.size(0)] - 1) * 10)

    data = load_recipe("ntm", {"max_length": 4, "valid_size": 6}).build_task(0)
    batch = data.split("valid")
    assert measure(Oracle(batch, 1), batch)["bits"] == 0
    worst = measure(Oracle(batch, -1), batch)
    assert worst["bits"] == 4 * 8 and worst["bit_error"] == 1  # every bit of the 4 answer steps


def test_training_keeps_the_best_weights_and_resumes(tmp_path):
    from attnzoo.training import train

    options = {"model": {"memory_rows": 8, "memory_width": 4, "controller_size": 8}, "progress": False, "threads": 1}
    options["task"] = {"max_length": 3, "valid_size": 4}
    steps = {"batch_size": 2, "val_every": 2, "checkpoint_every": 2, "lr": 3e-2}
    run = train("ntm", tmp_path, training={"steps": 4, **steps}, **options)
    rows = run.metrics_rows()
    assert [int(row["step"]) for row in rows] == [2, 4]
    best = min(float(row["valid_bits"]) for row in rows)
    kept = run.read_json("metrics.json")["kept_step"]
    assert float(rows[kept // 2 - 1]["valid_bits"]) == best
    run = train("ntm", tmp_path, training={"steps": 6}, resume=True, progress=False, threads=1)
    rows = run.metrics_rows()
    assert [int(row["step"]) for row in rows] == [2, 4, 6]
    assert float(rows[2]["seconds"]) >= float(rows[1]["seconds"])
    kept = run.read_json("metrics.json")
    assert float(rows[kept["kept_step"] // 2 - 1]["valid_bits"]) == min(float(row["valid_bits"]) for row in rows)
    assert measure(run.load_model(), run.build_task().split("valid"))["bits"] == pytest.approx(kept["bits"])


def test_cli_trains_evaluates_and_plots(tmp_path):
    from attnzoo.cli import app

    runner = CliRunner()
    run = tmp_path / "run"
    common = ["--steps", "3", "--batch-size", "2", "--max-length", "3", "--valid-size", "4", "--test-size", "4"]
    common += ["--no-progress", "--out", str(run)]
    small = ["--set", "memory_rows=8", "--set", "memory_width=4", "--set", "controller_size=8"]
    result = runner.invoke(app, ["train", "ntm", "--task", "copy", *small, *common])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["evaluate", str(run), "--task", "eval_length=5"])
    assert result.exit_code == 0, result.output
    assert "bits" in result.output
    picture = tmp_path / "memory.png"
    result = runner.invoke(app, ["plot", str(run), "--picture", "memory", "--out", str(picture)])
    assert result.exit_code == 0, result.output
    assert picture.stat().st_size > 0
    baseline = tmp_path / "lstm"
    common[-1] = str(baseline)
    result = runner.invoke(app, ["train", "lstm-baseline", "--task", "recall", "--set", "hidden_size=8", *common])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["plot", str(baseline), "--picture", "memory", "--out", str(picture)])
    assert result.exit_code != 0 and "no attention picture" in result.output


def test_compiled_step_equals_the_eager_step():
    """``compile_step`` (torch.compile of one time step) changes the speed, not the numbers."""
    torch.manual_seed(0)
    config = NTMConfig(controller_size=8, memory_rows=8, memory_width=4)
    eager = create_model("ntm", config)
    compiled = create_model("ntm", config)
    compiled.load_state_dict(eager.state_dict())
    compiled.compile_step()
    inputs = CopyTask(min_length=3, max_length=3).sample(2, torch.Generator().manual_seed(0)).inputs
    expected, got = eager(inputs).logits, compiled(inputs).logits
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    expected.sum().backward()
    got.sum().backward()
    for (name, first), second in zip(eager.named_parameters(), compiled.parameters(), strict=True):
        torch.testing.assert_close(second.grad, first.grad, atol=1e-5, rtol=1e-4, msg=name)
    assert set(compiled.state_dict()) == set(eager.state_dict())  # checkpoints are unchanged
