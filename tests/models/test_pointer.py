"""Pointer Network: eq. 3 against a hand-written reference, teacher forcing == step-by-step decoding,
masks, the recipe (supervised and REINFORCE losses, the EMA baseline in the checkpoints, metrics
against exact answers, evaluation at another n), the presets and the command line."""

import math

import pytest
import torch
from typer.testing import CliRunner

from attnzoo import create_model
from attnzoo.decoding import greedy_decode
from attnzoo.models.pointer import START, PointerConfig
from attnzoo.models.pointer.recipe import (
    Instances,
    PointerData,
    reverse_tours,
    sequence_metrics,
    square_symmetries,
    tour_lengths,
    tsp_metrics,
)
from attnzoo.registry import load_recipe
from attnzoo.tasks import geometry
from attnzoo.training import train
from attnzoo.training.checkpoint import SafeCheckpointIO

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


@pytest.mark.parametrize("clip", [None, 2.0])
def test_first_step_is_eq3_softmax_of_additive_scores(clip):
    """p(C_1 | P) = softmax(u), u_j = v^T tanh(W1 e_j + W2 d_1) (Vinyals eq. 3), C·tanh(u) with clipping."""
    torch.manual_seed(7)
    model = create_model("pointer", PointerConfig(**SMALL, logit_clip=clip)).eval().double()
    inputs = torch.rand(3, 6, 2, dtype=torch.float64)
    with torch.no_grad():
        log_probs, _, _ = model.step(torch.full((3,), START), model.initial_state(inputs))
        e, (h, c) = model.encoder(model.embed(inputs))  # e_j: (3, 6, H)
        d, _ = model.decoder(model.start.expand(3, 1, -1), (h, c))  # d_1: (3, 1, H)
        W1, W2, v = model.pointer.U_a, model.pointer.W_a, model.pointer.v_a
        u = v(torch.tanh(W1(e) + W2(d))).squeeze(-1)  # (3, 6)
        u = u if clip is None else clip * torch.tanh(u)
    torch.testing.assert_close(log_probs, torch.log_softmax(u, dim=-1))


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


def test_tour_lengths_match_the_task_module():
    points = geometry.tsp_instances(16, 7, seed=3)
    tours = geometry.random_tours(16, 7, seed=4)
    expected = torch.from_numpy(geometry.tour_length(points, tours)).float()
    torch.testing.assert_close(tour_lengths(torch.from_numpy(points), torch.from_numpy(tours)), expected)


def tiny_recipe(**task):
    recipe = load_recipe("pointer", {"n": 5, "train_size": 16, "eval_size": 8, "beam": 2, **task})
    return recipe, PointerData(recipe.settings, seed=0)


def tiny_model(recipe, data, **overrides):
    config = recipe.sized_config(PointerConfig(**SMALL, **overrides), data)
    return create_model("pointer", config)


@pytest.mark.parametrize("task", [{}, {"rl": True}, {"rl": True, "baseline": "ema"}, {"problem": "hull"}])
def test_recipe_losses_are_finite_and_train(task):
    recipe, data = tiny_recipe(**task)
    model = tiny_model(recipe, data)
    batch = next(iter(recipe.train_batches(data, 8, seed=0)))
    assert len(batch) == (1 if recipe.settings.rl else 3) and batch[0].shape == (8, 5, 2)
    state = {}
    loss, logs = recipe.loss(model, batch, state)
    assert math.isfinite(loss.item())
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert set(logs) == ({"length"} if recipe.settings.rl else set())
    assert set(state) == ({"baseline"} if task.get("baseline") == "ema" else set())


def test_ema_baseline_is_a_moving_average_of_the_sampled_lengths():
    """Bello et al. §4: b <- decay · b + (1 - decay) · mean L; the first batch sets b = mean L."""
    recipe, data = tiny_recipe(rl=True, baseline="ema", baseline_decay=0.75)
    model = tiny_model(recipe, data)
    batch = next(iter(recipe.train_batches(data, 8, seed=0)))
    state = {}
    first = recipe.loss(model, batch, state)[1]["length"]
    torch.testing.assert_close(state["baseline"], first)
    second = recipe.loss(model, batch, state)[1]["length"]
    torch.testing.assert_close(state["baseline"], 0.75 * first + 0.25 * second)


@pytest.mark.parametrize(
    "task,message",
    [
        ({"problem": "sort", "rl": True}, "rl"),
        ({"problem": "graph"}, "problem"),
        ({"baseline": "critic"}, "baseline"),
        ({"n": 1}, "n"),
    ],
)
def test_task_settings_are_checked(task, message):
    with pytest.raises(ValueError, match=message):
        load_recipe("pointer", task)


def test_sizes_come_from_the_problem():
    for problem, input_dim, end_token in [("sort", 1, False), ("hull", 2, True), ("tsp", 2, False)]:
        recipe, data = tiny_recipe(problem=problem)
        config = recipe.sized_config(PointerConfig(), data)
        assert (config.input_dim, config.end_token) == (input_dim, end_token)
        assert bool(recipe.pictures(config)) == (problem != "sort")


def test_metrics_of_exact_answers():
    recipe, data = tiny_recipe()
    test = data.split("test")
    metrics = tsp_metrics(test, {"greedy": test.targets}, seed=0)
    assert metrics["greedy_gap"] == pytest.approx(0.0, abs=1e-9) and metrics["greedy_optimal"] == 100.0
    assert metrics["greedy_length"] == pytest.approx(metrics["optimal_length"])
    assert metrics["nearest_gap"] >= 0 and metrics["random_gap"] > 0
    for problem in ("sort", "hull"):
        recipe, data = tiny_recipe(problem=problem)
        test = data.split("test")
        metrics = sequence_metrics(test, {"greedy": (test.targets, test.lengths)}, hull=problem == "hull")
        assert metrics["greedy_accuracy"] == 100.0
        if problem == "hull":
            assert metrics["greedy_area"] == pytest.approx(100.0)


def test_evaluation_at_a_larger_n_needs_no_optimum_and_no_training_set():
    recipe, data = tiny_recipe(n=14)
    model = tiny_model(recipe, data)
    metrics = recipe.evaluate(model, data, "test")
    assert set(metrics) == {f"{name}_length" for name in ("greedy", "beam", "nearest", "random")}
    assert "train" not in data.splits and data.split("test").optimal is None
    assert recipe.selection == ("greedy_length", "min")
    assert set(recipe.evaluate(model, data, "valid")) == {"greedy_length", "nearest_length", "random_length"}
    with pytest.raises(ValueError, match="n <= 12"):
        data.split("train")  # supervised TSP needs Held–Karp targets


def test_instances_head():
    instances = Instances(torch.zeros(5, 3, 2), None, torch.full((5,), 3), torch.ones(5))
    head = instances.head(2)
    assert head.inputs.shape == (2, 3, 2) and head.targets is None and head.optimal.shape == (2,)


@pytest.mark.parametrize("preset", ["vinyals", "bello-rl"])
def test_presets_train_through_the_generic_trainer(tmp_path, preset):
    model, task = load_recipe("pointer").example()
    run = train(
        "pointer",
        tmp_path / preset,
        preset=preset,
        model=model,
        task={**task, "baseline": "ema"} if preset == "bello-rl" else task,
        training={"steps": 2, "batch_size": 8, "checkpoint_every": 2},
        threads=1,
        progress=False,
    )
    config = run.config()
    assert (config.n_glimpses, config.logit_clip) == ((1, 10.0) if preset == "bello-rl" else (0, None))
    assert run.recipe().settings.rl == (preset == "bello-rl")
    saved = SafeCheckpointIO().load_checkpoint(run.checkpoint)["attnzoo"]["recipe_state"]
    if preset == "bello-rl":  # the EMA baseline is kept in the checkpoint
        assert math.isfinite(float(saved["baseline"]))
    metrics = run.read_json("metrics.json")
    assert "valid_greedy_gap" in run.metrics_rows()[-1] and math.isfinite(metrics["greedy_gap"])


def test_cli_train_evaluate_at_another_n_and_plot(tmp_path):
    from attnzoo.cli import app

    runner = CliRunner()
    run_dir = tmp_path / "run"
    options = ["--preset", "vinyals", "--problem", "tsp", "--n", "5", "--steps", "3", "--batch-size", "8"]
    options += ["--train-size", "32", "--eval-size", "16", "--beam", "2", "--cache-dir", str(tmp_path / "cache")]
    options += ["--set", "hidden_size=16", "--set", "embed_dim=8", "--set", "attention_dim=8"]
    result = runner.invoke(app, ["train", "pointer", *options, "--out", str(run_dir), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert any(path.name.startswith("tsp_n5_32_") for path in (tmp_path / "cache").iterdir())
    result = runner.invoke(app, ["evaluate", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert "greedy_gap" in result.output and "beam_gap" in result.output
    result = runner.invoke(app, ["evaluate", str(run_dir), "--task", "n=14"])
    assert result.exit_code == 0, result.output
    assert "greedy_length" in result.output and "gap" not in result.output
    result = runner.invoke(app, ["plot", str(run_dir), "--picture", "tours", "--out", str(tmp_path / "tours.png")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "tours.png").stat().st_size > 0
