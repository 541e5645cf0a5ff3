"""The tables the command line prints (Rich): the models, one model's settings, a run's metrics."""

from __future__ import annotations

import dataclasses

from rich.console import Console
from rich.table import Table

from attnzoo.recipes.base import Recipe
from attnzoo.registry import entry, field_comments, list_models, load_recipe


def model_table() -> None:
    """``attnzoo models``: name, paper, presets, pictures of every registered model."""
    table = Table(title="attnzoo models (attnzoo models NAME for one model's presets and settings)")
    for column in ("model", "paper", "presets", "pictures"):
        table.add_column(column, overflow="fold")
    for name in list_models():
        pictures = picture_names(load_recipe(name))
        table.add_row(name, entry(name).paper, ", ".join(entry(name).presets) or "–", ", ".join(pictures) or "–")
    Console().print(table)


def picture_names(recipe: Recipe) -> list[str]:
    """The ``--picture`` names of ``attnzoo plot``: the recipe's own and, for a model with attention
    pictures whose recipe has explorer views, ``formation`` (training records the attention as it forms)."""
    pictures = list(recipe.pictures())
    records = type(recipe).attention_views is not Recipe.attention_views
    return [*pictures, "formation"] if pictures and records else pictures


def fields_table(title: str, instance: object) -> Table:
    """A table of a dataclass instance's fields: name, value, the comment of its definition."""
    table = Table(title=title)
    for column in ("field", "default", "meaning"):
        table.add_column(column)
    comments = field_comments(type(instance))
    for item in dataclasses.fields(instance):
        table.add_row(item.name, repr(getattr(instance, item.name)), comments.get(item.name, ""))
    return table


def model_details(name: str) -> None:
    """``attnzoo models NAME``: presets, model config (``--set``), task and training options."""
    console = Console()
    registered = entry(name)
    recipe = load_recipe(name)
    presets = Table(title=f"{name} presets (--preset)")
    for column in ("preset", "what", "overrides"):
        presets.add_column(column)
    for key, preset in registered.presets.items():
        parts = {"model": preset.model, "task": preset.task, "training": preset.training}
        overrides = "; ".join(
            f"{part}: " + ", ".join(f"{k}={v}" for k, v in d.items()) for part, d in parts.items() if d
        )
        presets.add_row(key, preset.about, overrides or "–")
    console.print(presets)
    console.print(fields_table(f"{name} config (--set FIELD=VALUE)", registered.config()))
    console.print(fields_table(f"{name} task (--FIELD VALUE)", recipe.Task()))
    console.print(fields_table(f"{name} training (--FIELD VALUE)", recipe.training))


def print_metrics(title: str, metrics: dict[str, float]) -> None:
    """A two-column table of metrics."""
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    Console().print(table)
