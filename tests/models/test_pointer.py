"""Pointer Network: registry smoke test, teacher forcing == step-by-step decoding, masks, REINFORCE, CLI."""

import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from attnzoo import create_model
from attnzoo.decoding import greedy_decode
from attnzoo.models.pointer import START, PointerConfig
from attnzoo.models.pointer.module import (
    PointerModule,
    reverse_tours,
    square_symmetries,
    task_config,
    tour_lengths,
)
from attnzoo.tasks import geometry

SMALL = {"embed_dim": 16, "hidden_size": 24, "attention_dim": 20}
CONFIGS = {
    "plain": PointerConfig(**SMALL),
    "glimpse+clip": PointerConfig(**SMALL, n_glimpses=2, logit_clip=10.0),
    "end": PointerConfig(**SMALL, end_token=True),
    "unmasked": PointerConfig(**SMALL, mask_chosen=False, input_dim=1),
}


def random_targets(config: PointerConfig, batch: int, n: int) -> torch.Tensor:
    targets = torch.stack([torch.randperm(n) for _ in range(batch)])  # (B, n)
    if config.end_token:  # a few inputs, the end index, padding with the end index
        return torch.cat([targets[:, :3], torch.full((batch, 2), n)], dim=1)
    return targets


@pytest.mark.parametrize("name", list(CONFIGS))
def test_registry_smoke_forward_backward_no_nan(name):
    torch.manual_seed(0)
    config = CONFIGS[name]
    model = create_model("pointer", config)
    inputs = torch.rand(4, 6, config.input_dim)
    targets = random_targets(config, 4, 6)
    log_probs = model(inputs, targets)
    width = 7 if config.end_token else 6
    assert log_probs.shape == (4, targets.size(1), width)
    picked = log_probs.gather(-1, targets[..., None])
    assert torch.isfinite(picked).all()
    (-picked.mean()).backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert not torch.isnan(log_probs).any()


@pytest.mark.parametrize("name", list(CONFIGS))
def test_teacher_forcing_equals_step_by_step(name):
    torch.manual_seed(1)
    config = CONFIGS[name]
    model = create_model("pointer", config).eval()
    inputs = torch.rand(3, 5, config.input_dim)
    targets = random_targets(config, 3, 5)
    parallel = model(inputs, targets)
    state, tokens, steps = model.initial_state(inputs), torch.full((3,), START), []
    for i in range(targets.size(1)):
        log_probs, state, alignment = model.step(tokens, state)
        torch.testing.assert_close(alignment, log_probs.exp())
        steps.append(log_probs)
        tokens = targets[:, i]
    sequential = torch.stack(steps, dim=1)
    assert torch.equal(parallel.isinf(), sequential.isinf())
    finite = parallel.isfinite()
    torch.testing.assert_close(parallel[finite], sequential[finite], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("beam_size", [1, 3, 9])
def test_permutation_decoding_never_chooses_a_point_twice(beam_size):
    torch.manual_seed(2)
    model = create_model("pointer", PointerConfig(**SMALL)).eval()
    # a biased pointer: without the mask it would point at the same input again and again
    with torch.no_grad():
        model.pointer.U_a.bias.add_(3.0)
    inputs = torch.rand(16, 7, 2)
    decoded = model.decode(inputs, beam_size=beam_size)
    assert decoded.tokens.shape == (16, 7)
    assert (decoded.tokens.sort(dim=1).values == torch.arange(7)).all()
    assert torch.isfinite(decoded.scores).all()
    sampled = model.decode(inputs, sample=True)
    assert (sampled.tokens.sort(dim=1).values == torch.arange(7)).all()


def test_unmasked_decoding_may_repeat():
    torch.manual_seed(2)
    model = create_model("pointer", PointerConfig(**SMALL, mask_chosen=False)).eval()
    with torch.no_grad():  # make input 0 by far the most attractive
        model.embed.bias.zero_()
        model.pointer.U_a.weight.zero_()
    decoded = model.decode(torch.rand(4, 6, 2))
    assert (decoded.tokens == decoded.tokens[:, :1]).all()


@pytest.mark.parametrize("beam_size", [1, 4])
def test_end_token_decoding_stops_without_repeats(beam_size):
    torch.manual_seed(3)
    model = create_model("pointer", PointerConfig(**SMALL, end_token=True)).eval()
    decoded = model.decode(torch.rand(10, 6, 2), beam_size=beam_size)
    assert decoded.tokens.size(1) <= 7
    for row, length in zip(decoded.tokens.tolist(), decoded.lengths.tolist(), strict=True):
        assert row[length - 1] == 6 and all(token == 6 for token in row[length:])  # end, then padding
        assert len(set(row[: length - 1])) == length - 1 and max(row[: length - 1], default=0) < 6


def test_greedy_score_is_the_teacher_forced_log_likelihood():
    torch.manual_seed(4)
    model = create_model("pointer", PointerConfig(**SMALL, n_glimpses=1)).eval()
    inputs = torch.rand(5, 6, 2)
    decoded = greedy_decode(model.step, model.initial_state(inputs), batch_size=5, bos_id=START, max_len=6)
    with torch.no_grad():
        log_probs = model(inputs, decoded.tokens)
    torch.testing.assert_close(log_probs.gather(-1, decoded.tokens[..., None]).sum((1, 2)), decoded.scores)


def test_sampled_scores_are_differentiable():
    torch.manual_seed(5)
    model = create_model("pointer", PointerConfig(**SMALL))
    decoded = model.decode(torch.rand(6, 5, 2), sample=True)
    assert decoded.scores.requires_grad
    decoded.scores.sum().backward()
    assert model.pointer.v_a.weight.grad.abs().sum() > 0


def test_square_symmetries_keep_tour_lengths_and_canonical_targets():
    points = geometry.tsp_instances(64, 8, seed=0)
    _, optimal = geometry.held_karp(points)
    tours = torch.from_numpy(optimal)
    moved, mirrored = square_symmetries(torch.from_numpy(points), torch.Generator().manual_seed(0))
    assert 0 < mirrored.sum() < 64 and ((moved >= 0) & (moved <= 1)).all()
    assert not torch.allclose(moved, torch.from_numpy(points))
    torch.testing.assert_close(tour_lengths(moved, tours), tour_lengths(torch.from_numpy(points), tours))
    targets = reverse_tours(tours, mirrored)  # what training uses: still canonical (counter-clockwise)
    assert torch.equal(targets, torch.from_numpy(geometry.canonical_tours(moved.numpy(), optimal)))


@pytest.mark.parametrize("rl,baseline", [(False, "greedy"), (True, "greedy"), (True, "ema")])
def test_module_losses_are_finite_and_train(rl, baseline):
    torch.manual_seed(6)
    module = PointerModule(task_config("tsp", **SMALL), "tsp", rl=rl, baseline=baseline)
    points = geometry.tsp_instances(16, 5, seed=0)
    _, tours = geometry.held_karp(points)
    batch = [torch.from_numpy(points), torch.from_numpy(tours), torch.full((16,), 5)]
    module.log = lambda *args, **kwargs: None  # outside a Trainer
    loss = module.training_step(batch, 0)
    assert math.isfinite(loss.item())
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in module.parameters() if p.grad is not None)
    if baseline == "ema":
        assert torch.isfinite(module.ema)


def test_rl_needs_tsp():
    with pytest.raises(ValueError, match="tsp"):
        PointerModule(task_config("sort"), "sort", rl=True)


def test_cli_train_evaluate_plot(tmp_path, monkeypatch):
    from attnzoo.cli import app
    from attnzoo.models.pointer import cli

    monkeypatch.setattr(cli, "TEST_COUNT", 100)

    runner = CliRunner()
    run_dir = tmp_path / "run"
    options = ["--task", "tsp", "--n", "5", "--steps", "3", "--batch-size", "8", "--train-size", "32"]
    result = runner.invoke(
        app, ["train", "pointer", *options, "--hidden", "16", "--out", str(run_dir), "--cache-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["evaluate", str(run_dir)])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line.startswith("| 5 |")]
    assert [row.split("|")[2].strip() for row in rows][:2] == ["optimal", "Ptr-Net greedy"]
    assert float(rows[0].split("|")[4]) == 0.0  # optimal: gap 0
    result = runner.invoke(app, ["plot", str(run_dir), "--tours", str(tmp_path / "tours.png")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "tours.png").stat().st_size > 0
    assert np.isfinite(float(rows[1].split("|")[3]))
