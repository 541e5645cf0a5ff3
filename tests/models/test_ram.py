"""RAM: the glimpse sensor against slicing, where REINFORCE pushes the policy, the recipe, presets, the CLI."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from attnzoo.models.ram import RAM, DigitsMLPConfig, GlimpseSensor, RAMConfig, glimpse_boxes
from attnzoo.models.ram.model import DIGIT_CANVAS
from attnzoo.models.ram.recipe import hybrid_loss
from attnzoo.registry import create_model, load_recipe, make_config
from attnzoo.tasks.digits import DIGIT_SIZE

MODELS = ("ram", "digits-mlp", "digits-convnet")

CORNERS = [(-1.0, -1.0), (1.0, -1.0), (-1.0, 1.0), (1.0, 1.0)]


def sliced_glimpse(image: np.ndarray, location: tuple[float, float], size: int, scales: int) -> np.ndarray:
    """Reference: slice each patch out of the zero-padded image, then average 2^i × 2^i blocks."""
    channels, height, width = image.shape
    col, row = math.floor((location[0] + 1) * width / 2), math.floor((location[1] + 1) * height / 2)
    pad = size << scales
    padded = np.pad(image, ((0, 0), (pad, pad), (pad, pad)))
    patches = []
    for scale in range(scales):
        side, factor = size << scale, 1 << scale
        top, left = row - side // 2 + pad, col - side // 2 + pad
        patch = padded[:, top : top + side, left : left + side]
        patches.append(patch.reshape(channels, size, factor, size, factor).mean(axis=(2, 4)))
    return np.stack(patches)  # (k, C, g, g)


def numbered_image(channels: int, height: int, width: int) -> np.ndarray:
    """Every pixel different, in (0, 1]."""
    return (np.arange(channels * height * width, dtype=np.float64).reshape(channels, height, width) + 1) / (
        channels * height * width
    )


def test_glimpse_at_the_centre_is_the_middle_pixels():
    image = numbered_image(1, 16, 16)
    glimpse = GlimpseSensor(size=4, scales=2)(torch.tensor(image[None], dtype=torch.float32), torch.zeros(1, 2))
    assert glimpse.shape == (1, 2, 1, 4, 4)
    np.testing.assert_allclose(glimpse[0, 0, 0].numpy(), image[0, 6:10, 6:10], rtol=0, atol=1e-6)
    expected = image[0, 4:12, 4:12].reshape(4, 2, 4, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(glimpse[0, 1, 0].numpy(), expected, rtol=0, atol=1e-6)


def test_glimpse_at_the_top_left_corner_is_zero_padded():
    image = numbered_image(1, 16, 16)
    glimpse = GlimpseSensor(size=4, scales=1)(torch.tensor(image[None], dtype=torch.float32), -torch.ones(1, 2))
    expected = np.zeros((4, 4))
    expected[2:, 2:] = image[0, :2, :2]
    np.testing.assert_allclose(glimpse[0, 0, 0].numpy(), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("location", [(0.0, 0.0), *CORNERS, (0.3, -0.55), (-0.9, 0.12)])
@pytest.mark.parametrize(("size", "scales"), [(4, 3), (5, 2), (12, 3)])
def test_glimpse_matches_slicing(location, size, scales):
    image = numbered_image(2, 30, 22)  # two channels, not square: catches an x/y swap
    batch = torch.tensor(image[None], dtype=torch.float32)
    glimpse = GlimpseSensor(size, scales)(batch, torch.tensor([location]))
    expected = sliced_glimpse(image, location, size, scales)
    np.testing.assert_allclose(glimpse[0].numpy(), expected, rtol=0, atol=2e-6)


def test_glimpse_batch_is_vectorised_per_image():
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(5, 1, 40, 40, generator=generator)
    locations = torch.rand(5, 2, generator=generator) * 2.4 - 1.2  # some outside the image
    glimpses = GlimpseSensor(6, 3)(images, locations)
    for index in range(5):
        expected = sliced_glimpse(images[index].double().numpy(), tuple(locations[index].tolist()), 6, 3)
        np.testing.assert_allclose(glimpses[index].numpy(), expected, rtol=0, atol=2e-6)


def test_glimpse_boxes_match_the_patches():
    boxes = glimpse_boxes(torch.tensor([[0.0, 0.0], [-1.0, 1.0]]), 16, 20, 4, 2)
    assert boxes.tolist() == [[[6, 8, 4], [4, 6, 8]], [[14, -2, 4], [12, -4, 8]]]


def test_glimpse_checks_shapes():
    sensor = GlimpseSensor(4, 1)
    with pytest.raises(ValueError, match=r"locations: expected \(B, 2\) = \(2, 2\), got \(2, 3\)"):
        sensor(torch.zeros(2, 1, 8, 8), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="images: expected"):
        sensor(torch.zeros(8, 8), torch.zeros(1, 2))


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("variant", ["centred28", "translated60"])
def test_registry_smoke(name, variant):
    torch.manual_seed(0)
    side = 28 if variant == "centred28" else 60
    config = load_recipe(name, {"variant": variant}).sized_config(make_config(name), SimpleNamespace(canvas=side))
    model = create_model(name, config)
    images, labels = torch.rand(3, 1, side, side), torch.tensor([1, 5, 9])
    output = model(images)
    log_probs = output.log_probs if isinstance(model, RAM) else output
    assert log_probs.shape == (3, 10) and torch.isfinite(log_probs).all()
    loss = hybrid_loss(output, labels)[0] if isinstance(model, RAM) else -log_probs[range(3), labels].mean()
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize(("canvas", "size", "scales"), [(28, 8, 1), (60, 12, 3), (100, 12, 4)])
def test_glimpse_defaults_follow_the_canvas_as_table_1(canvas, size, scales):
    config = create_model("ram", canvas=canvas).config
    assert (config.glimpse_size, config.scales) == (size, scales)
    moved = RAMConfig().on_canvas(canvas)  # what the recipe does with the task's canvas
    assert (moved.canvas, moved.glimpse_size, moved.scales) == (canvas, size, scales)
    kept = RAMConfig(glimpse_size=10).on_canvas(canvas)  # a value that was set is kept
    assert (kept.glimpse_size, kept.scales) == (10, scales)
    assert DIGIT_CANVAS == DIGIT_SIZE  # the model's 28 is the data's
    assert DigitsMLPConfig().on_canvas(canvas).hidden == ((256, 256) if canvas == 28 else (64, 64))
    assert DigitsMLPConfig(hidden=(8,)).on_canvas(canvas).hidden == (8,)


def test_presets_are_the_paper_and_the_measured_recipe():
    from attnzoo.training.fit import settings_for

    paper, _, paper_training = settings_for("ram", "ram-paper", None, None, None)
    assert (paper.core, paper.policy_trains_core, paper_training.weight_decay) == ("rnn", False, 0.0)
    config, recipe, training = settings_for("ram", "ram-lstm", {"glimpses": 4}, {"variant": "cluttered60"}, None)
    assert (config.core, config.policy_trains_core, config.glimpses) == ("lstm", True, 4)
    assert (training.weight_decay, training.steps, training.epochs, training.lr) == (0.1, -1, 260, 2e-3)
    assert recipe.settings.variant == "cluttered60" and recipe.selection == ("error_m10", "min")
    assert load_recipe("digits-convnet").training.epochs == 30
    assert load_recipe("digits-mlp").selection == ("error", "min")
    assert load_recipe("digits-mlp").pictures(DigitsMLPConfig()) == {} and "glimpses" in load_recipe("ram").pictures()


def test_evaluation_is_repeatable_and_leaves_the_training_stream_alone():
    recipe = load_recipe("ram", {"variant": "centred28", "samples": (0, 1, 3)})
    task = recipe.build_task(0)
    model = create_model("ram", recipe.sized_config(make_config("ram", glimpses=2, core_hidden=16), task))
    torch.manual_seed(11)
    expected_draw = torch.rand(3)
    torch.manual_seed(11)
    first = recipe.evaluate(model, task, "valid")
    assert torch.equal(torch.rand(3), expected_draw)  # evaluation forks the random stream
    assert list(first) == ["error_m0", "error_m1", "error_m3"] and model.training
    assert recipe.evaluate(model, task, "valid") == first
    assert len(task.split("valid")) == 179  # centred28: one canvas per validation digit


def test_every_epoch_draws_new_training_canvases():
    recipe = load_recipe("ram", {"variant": "translated60"})
    task = recipe.build_task(0)
    before = task.train.images.clone()
    recipe.on_epoch_start(task, 1)
    assert not torch.equal(before, task.train.images)
    assert torch.equal(task.split("test").images, recipe.build_task(0).split("test").images)  # fixed by the seed
    assert len(task.split("test")) == 5 * 360


def test_ram_output_shapes_and_locations():
    model = RAM(RAMConfig(glimpses=4, glimpse_size=6, scales=2))
    output = model(torch.rand(5, 1, 40, 40))
    assert output.locations.shape == (5, 4, 2) and output.means.shape == (5, 3, 2)
    assert output.log_pi.shape == (5, 3) and output.baselines.shape == (5, 3)
    assert torch.equal(output.locations[:, 0], torch.zeros(5, 2))  # the first glimpse is at the centre
    assert output.locations.abs().max() <= 1
    single = RAM(RAMConfig(glimpses=1))(torch.rand(2, 1, 60, 60))
    assert single.log_pi.shape == (2, 0) and hybrid_loss(single, torch.tensor([0, 1]))[1]["reinforce"] == 0


def test_ram_follows_a_given_path():
    torch.manual_seed(5)
    model = RAM(RAMConfig(glimpses=3, glimpse_size=6, scales=2, location_std=0.2))
    images = torch.rand(4, 1, 40, 40)
    path = torch.rand(4, 3, 2) * 2 - 1  # (B, T, 2)
    output = model(images, path=path)
    torch.testing.assert_close(output.locations, path)
    expected = -((path[:, 1:] - output.means) ** 2 / (2 * 0.2**2) + math.log(0.2 * math.sqrt(2 * math.pi))).sum(-1)
    torch.testing.assert_close(output.log_pi, expected)
    assert not torch.equal(output.log_probs, model(images, path=torch.zeros_like(path)).log_probs)
    with pytest.raises(ValueError, match="path: expected"):
        model(images, path=path[:, :2])


def policy_at_zero(config: RAMConfig, baseline: float) -> RAM:
    """A RAM whose location policy has mean 0 everywhere and whose baseline is ``baseline``."""
    model = RAM(config)
    with torch.no_grad():
        model.locator.weight.zero_()
        model.locator.bias.zero_()
        model.baseline.weight.zero_()
        model.baseline.bias.fill_(baseline)
    return model


@pytest.mark.parametrize("rewarded", [True, False])
def test_reinforce_pushes_the_policy_towards_rewarded_locations(rewarded):
    torch.manual_seed(1)
    config = RAMConfig(glimpses=3, glimpse_size=4, scales=2, location_std=0.2)
    model = policy_at_zero(config, baseline=0.5)
    images = torch.rand(6, 1, 20, 20)
    output = model(images)
    predicted = output.log_probs.argmax(-1)
    labels = predicted if rewarded else (predicted + 1) % 10  # reward 1 everywhere, or 0 everywhere
    loss, parts = hybrid_loss(output, labels)
    assert parts["reward"] == (1.0 if rewarded else 0.0)
    loss.backward()
    advantage = (1.0 if rewarded else 0.0) - 0.5
    drawn = output.locations[:, 1:]  # (B, T-1, 2); the mean is 0 and nothing is clamped at std 0.2
    expected = -(advantage * drawn / config.location_std**2).sum((0, 1)) / drawn[..., 0].numel()
    torch.testing.assert_close(model.locator.bias.grad, expected)
    # a gradient step moves the mean towards the drawn locations when R > b, away when R < b
    step = -model.locator.bias.grad
    assert torch.sign(step @ drawn.sum((0, 1))) == (1 if rewarded else -1)


def test_classification_loss_does_not_reach_the_location_network():
    torch.manual_seed(2)
    model = RAM(RAMConfig(glimpses=3, glimpse_size=4, scales=2))
    output = model(torch.rand(4, 1, 20, 20))
    output.log_probs[:, 3].sum().backward()
    assert model.locator.weight.grad is None and model.baseline.weight.grad is None
    assert model.patch_encoder.weight.grad is not None and model.location_encoder.weight.grad.abs().sum() > 0


def test_policy_gradient_reaches_the_core_only_when_asked():
    torch.manual_seed(3)
    for trains_core in (False, True):
        model = RAM(RAMConfig(glimpses=3, glimpse_size=4, scales=2, policy_trains_core=trains_core))
        output = model(torch.rand(4, 1, 20, 20))
        output.log_pi.sum().backward()
        reached = model.core.input.weight.grad is not None and model.core.input.weight.grad.abs().sum() > 0
        assert reached == trains_core


def test_monte_carlo_prediction_averages_sampled_paths():
    torch.manual_seed(4)
    model = RAM(RAMConfig(glimpses=3, glimpse_size=4, scales=2, location_std=0.3)).eval()
    images = torch.rand(3, 1, 30, 30)
    torch.manual_seed(9)
    averaged = model.predict(images, samples=4)
    torch.manual_seed(9)
    paths = [model(images).log_probs.exp() for _ in range(4)]
    torch.testing.assert_close(averaged, torch.stack(paths).mean(0))
    torch.testing.assert_close(averaged.sum(-1), torch.ones(3))
    mean_path = model.predict(images, samples=0)
    torch.testing.assert_close(mean_path, model.predict(images, samples=0))


def test_lstm_core_and_bad_configs():
    output = RAM(RAMConfig(core="lstm", glimpses=2))(torch.rand(2, 1, 60, 60))
    assert torch.isfinite(output.log_probs).all()
    with pytest.raises(ValueError, match="core: expected one of"):
        RAM(RAMConfig(core="gru"))
    with pytest.raises(ValueError, match="location_std"):
        RAM(RAMConfig(location_std=0.0))
    with pytest.raises(ValueError, match=r"dropout: expected a probability in \[0, 1\), got 1.0"):
        RAM(RAMConfig(dropout=1.0))
    with pytest.raises(ValueError, match="combine: expected 'add' or 'multiply', got 'concat'"):
        RAM(RAMConfig(combine="concat"))


@pytest.mark.parametrize("combine", ["add", "multiply"])
def test_glimpse_network_is_the_papers_formula(combine):
    torch.manual_seed(6)
    model = RAM(RAMConfig(glimpse_size=4, scales=2, combine=combine))
    images, locations = torch.rand(3, 1, 20, 20), torch.rand(3, 2) * 2 - 1
    retina = model.sensor(images, locations).flatten(1)  # ρ(x, l)
    what = torch.relu(retina @ model.patch_encoder.weight.T + model.patch_encoder.bias)  # h_g
    where = torch.relu(locations @ model.location_encoder.weight.T + model.location_encoder.bias)  # h_l
    from_what = what @ model.what.weight.T + model.what.bias
    from_where = where @ model.where.weight.T + model.where.bias
    if combine == "add":
        expected = torch.relu(from_what + from_where)
    else:
        expected = torch.relu(from_what) * torch.relu(from_where)
    torch.testing.assert_close(model.glimpse(images, locations), expected)


def test_dropout_acts_on_the_glimpse_representation_in_training_only():
    torch.manual_seed(5)
    model = RAM(RAMConfig(glimpses=2, glimpse_size=4, scales=2, dropout=0.5))
    images, locations = torch.rand(4, 1, 20, 20), torch.zeros(4, 2)
    train_features = model.glimpse(images, locations)
    model.eval()
    eval_features = model.glimpse(images, locations)
    kept = train_features != 0
    assert 0 < kept.float().mean() < (eval_features != 0).float().mean()
    torch.testing.assert_close(train_features[kept], 2 * eval_features[kept])  # inverted dropout: kept ones × 1/(1-p)
    torch.testing.assert_close(model(images, sample=False).log_probs, model(images, sample=False).log_probs)


def test_the_lstm_recipes_weight_decay_shrinks_every_parameter_by_lr_times_decay():
    from attnzoo.training.fit import settings_for
    from attnzoo.training.schedules import make_optimizer

    config, _, training = settings_for("ram", "ram-lstm", {"glimpses": 2, "core_hidden": 8}, None, {"lr": 0.01})
    model = create_model("ram", config)
    optimizer = make_optimizer(model.parameters(), training, lambda step: 0.0)["optimizer"]
    before = [parameter.detach().clone() for parameter in model.parameters()]
    for parameter in model.parameters():
        parameter.grad = torch.zeros_like(parameter)
    optimizer.step()  # a zero gradient: Adam's update is 0, only the decoupled decay acts
    for old, new in zip(before, model.parameters(), strict=True):
        torch.testing.assert_close(new.detach(), old * (1 - 0.01 * 0.1))


def test_cli_trains_evaluates_and_plots(tmp_path):
    from attnzoo.cli import app

    run = tmp_path / "run"
    runner = CliRunner()
    options = ["--preset", "ram-lstm", "--variant", "centred28", "--set", "glimpses=2", "--set", "core_hidden=16"]
    options += ["--epochs", "1", "--batch-size", "128", "--ema-decay", "0.9", "--samples", "0,2"]
    result = runner.invoke(app, ["train", "ram", *options, "--out", str(run), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert (run / "model.safetensors").is_file()
    assert json.loads((run / "training.json").read_text())["training"]["ema_decay"] == 0.9
    config = json.loads((run / "config.json").read_text())["config"]
    assert (config["core"], config["core_hidden"], config["glimpse_size"], config["scales"]) == ("lstm", 16, 8, 1)
    result = runner.invoke(app, ["evaluate", str(run), "--split", "valid"])
    assert result.exit_code == 0, result.output
    assert "error_m0" in result.output and "error_m2" in result.output
    picture = tmp_path / "glimpses.png"
    result = runner.invoke(app, ["plot", str(run), "--picture", "glimpses", "--out", str(picture)])
    assert result.exit_code == 0, result.output
    assert picture.stat().st_size > 1000
    result = runner.invoke(app, ["plot", str(run), "--picture", "alignment", "--out", str(tmp_path / "a.png")])
    assert result.exit_code != 0
