"""Every registered model with every preset, through its recipe and the generic trainer.

A model registered tomorrow is tested here with no new test code: it is built from its recipe's
tiny example, run forward and backward, trained three steps by ``attnzoo.training.train``,
saved and loaded back, and each of its pictures is drawn.
"""

from __future__ import annotations

import math

import pytest
import torch

from attnzoo.registry import create_model, list_models, load_recipe, make_config, presets
from attnzoo.training import Run, train

CASES = [(name, preset) for name in list_models() for preset in [None, *presets(name)]]


def tiny(name: str, preset: str | None):
    """The recipe (with its example's task settings) and the model config (preset, then example sizes);
    the test is skipped when the recipe cannot build its data here (``Recipe.unavailable``)."""
    if reason := load_recipe(name).unavailable():
        pytest.skip(reason)
    model_overrides, task_overrides = load_recipe(name).example()
    recipe = load_recipe(name, {**presets(name)[preset].task, **task_overrides} if preset else task_overrides)
    return recipe, make_config(name, preset, **model_overrides)


def test_every_model_has_a_recipe_and_a_paper():
    assert {"seq2seq", "transformer", "pointer", "ntm", "ram"} <= set(list_models())
    for name in list_models():
        recipe = load_recipe(name)
        assert recipe.model_name == name
        assert recipe.selection[1] in ("min", "max")


@pytest.mark.parametrize(("name", "preset"), CASES, ids=[f"{n}-{p or 'defaults'}" for n, p in CASES])
def test_forward_backward_without_nan(name, preset):
    torch.manual_seed(0)
    recipe, config = tiny(name, preset)
    task = recipe.build_task(0)
    model = create_model(name, recipe.sized_config(config, task))
    batch = next(iter(recipe.train_batches(task, 4, 0)))
    loss, logs = recipe.loss(model, batch, {})
    assert loss.dim() == 0 and torch.isfinite(loss), f"loss {loss}"
    assert all(torch.isfinite(value) for value in logs.values())
    loss.backward()
    gradients = [p.grad for p in model.parameters() if p.grad is not None]
    assert gradients, "no parameter received a gradient"
    assert all(torch.isfinite(g).all() for g in gradients)
    assert any(g.abs().sum() > 0 for g in gradients)


@pytest.mark.parametrize(("name", "preset"), CASES, ids=[f"{n}-{p or 'defaults'}" for n, p in CASES])
def test_three_steps_save_load_and_pictures(name, preset, tmp_path):
    if reason := load_recipe(name).unavailable():
        pytest.skip(reason)
    model_overrides, task_overrides = load_recipe(name).example()
    steps = {"steps": 3, "epochs": None, "batch_size": 4, "val_every": 3, "checkpoint_every": 3, "minutes": None}
    run = train(
        name,
        tmp_path / "run",
        preset=preset,
        model=model_overrides,
        task=task_overrides,
        training=steps,
        progress=False,
        threads=1,
    )
    assert run.read_json("training.json")["done"]["steps"] == 3
    assert len(run.metrics_rows()) == 1
    recipe = run.recipe()
    model, task = run.load_model(), run.build_task(recipe)
    again = Run(tmp_path / "run").load_model()
    for key, value in model.state_dict().items():
        assert torch.equal(again.state_dict()[key], value), key
    saved = run.read_json("metrics.json")
    torch.manual_seed(0)
    metrics = recipe.evaluate(model, task, "valid")
    assert metrics and all(math.isfinite(value) for value in metrics.values())
    for key, value in metrics.items():  # the loaded model measures what the trained one did
        assert value == pytest.approx(saved[key], rel=1e-4, abs=1e-6), key
    for picture, draw in recipe.pictures(run.config()).items():
        path = tmp_path / f"{picture}.png"
        draw(model, task, path)
        assert path.stat().st_size > 1000, picture
