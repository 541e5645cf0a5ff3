"""``attnzoo train MODEL``: one sub-command per registered model, generated from the registry.

Every command takes the same options: the run (``--out``, ``--resume``, ``--overwrite``), the model
(``--preset``, ``--set field=value`` checked against the config dataclass), the training settings
(one typed option per field of :class:`attnzoo.recipes.Training`, defaulting to the recipe's or
the preset's value), the machine (``--threads``, ``--devices``, ``--num-nodes``, ``--accelerator``);
and one typed option per field of the recipe's task dataclass. Help texts are the comments of
the dataclass fields, so no default is written twice.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import typing
from pathlib import Path
from typing import Any

import typer

from attnzoo.registry import convert, field_comments

DEFAULT_THREADS = 1  # measured: on a shared 2-core machine 2 threads made training 5-8x slower than 1

SHARED_OPTIONS = {
    "out": (Path, typer.Option(..., help="The run directory to write (required; never overwritten silently).")),
    "preset": (str | None, typer.Option(None, help="A named preset of the model (see: attnzoo models MODEL).")),
    "set": (
        list[str] | None,
        typer.Option(None, "--set", help="FIELD=VALUE of the model config, e.g. --set hidden_size=128 (repeatable)."),
    ),
    "resume": (bool, typer.Option(False, "--resume", help="Continue the stopped run in --out from its checkpoint.")),
    "overwrite": (bool, typer.Option(False, "--overwrite", help="Replace the run in --out.")),
    "threads": (int, typer.Option(DEFAULT_THREADS, help="torch CPU threads per process (1 is fastest on a busy CPU).")),
    "devices": (int, typer.Option(1, help="Data-parallel processes on this node (DDP; gloo on the CPU).")),
    "num_nodes": (int, typer.Option(1, help="Nodes, each running --devices processes (start each under torchrun).")),
    "accelerator": (str, typer.Option("cpu", help="cpu, gpu or auto.")),
    "progress": (bool, typer.Option(True, help="Show the progress bar (on a terminal).")),
}


def option_type(annotation: Any) -> tuple[Any, bool]:
    """The Typer type for a dataclass field's annotation, and whether the text must be converted."""
    options = [item for item in typing.get_args(annotation) if item is not type(None)] or [annotation]
    if len(options) == 1 and options[0] in (int, float, str, bool):
        return options[0] | None, False
    return str | None, True  # tuples, unions: parsed by attnzoo.registry.convert


def dataclass_parameters(
    cls: type, defaults: Any, panel: str, prefix: str = ""
) -> tuple[list[inspect.Parameter], dict]:
    """One keyword parameter (a Typer option, default None) per field of ``cls``; help = the field's comment.

    Returns the parameters and ``{parameter name: (field name, annotation, needs conversion)}``.
    """
    hints, comments = typing.get_type_hints(cls), field_comments(cls)
    parameters, fields = [], {}
    for item in dataclasses.fields(cls):
        kind, converted = option_type(hints[item.name])
        default = getattr(defaults, item.name)
        name = prefix + item.name
        flag = "--" + name.replace("_", "-")
        declarations = [f"{flag}/--no-{flag[2:]}"] if kind == bool | None else [flag]
        help_text = f"{comments.get(item.name, '')} (default: {default})"
        option = typer.Option(None, *declarations, help=help_text, show_default=False, rich_help_panel=panel)
        parameters.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind))
        fields[name] = (item.name, hints[item.name], converted)
    return parameters, fields


def chosen_values(values: dict[str, Any], fields: dict[str, tuple[str, Any, bool]], what: str) -> dict[str, Any]:
    """The options given on the command line (not None), converted to their fields' types."""
    chosen = {}
    for name, (field_name, annotation, converted) in fields.items():
        value = values.get(name)
        if value is not None:
            chosen[field_name] = (
                convert(value, annotation, f"{what} --{name.replace('_', '-')}") if converted else value
            )
    return chosen


def make_train_command(name: str, recipe: Any, config_class: type, run_training: Any) -> Any:
    """The ``attnzoo train NAME`` function, with a signature Typer reads."""
    from attnzoo.recipes.base import Training
    from attnzoo.registry import entry, parse_assignments

    training_parameters, training_fields = dataclass_parameters(Training, recipe.training, "Training")
    task_parameters, task_fields = dataclass_parameters(recipe.Task, recipe.Task(), "Task")
    clashes = set(task_fields) & (set(training_fields) | set(SHARED_OPTIONS))
    if clashes:
        raise TypeError(f"{name}: task fields {sorted(clashes)} clash with the shared options")
    shared = [
        inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind)
        for key, (kind, option) in SHARED_OPTIONS.items()
    ]

    def command(**values: Any) -> None:
        model = parse_assignments(config_class, values.pop("set") or [], what=f"{name} --set")
        run_training(
            name,
            values,
            model=model,
            task=chosen_values(values, task_fields, name),
            training=chosen_values(values, training_fields, name),
        )

    command.__signature__ = inspect.Signature([*shared, *training_parameters, *task_parameters])
    command.__name__ = f"train_{name.replace('-', '_')}"
    about = (importlib.import_module(entry(name).package).__doc__ or name).strip().splitlines()[0]
    command.__doc__ = f"Train {name}: {about}"
    return command
