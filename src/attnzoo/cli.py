"""The ``attnzoo`` command (Typer).

Each model folder that has a command line keeps it in ``attnzoo/models/<name>/cli.py``,
exposing ``register(train_app)``, which adds ``attnzoo train <name>``. ``evaluate``,
``translate`` and ``plot`` read the run directory's config to find the model.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

import attnzoo.models

app = typer.Typer(help="attnzoo: attention mechanisms and the models built on them.", no_args_is_help=True)
train_app = typer.Typer(help="Train a model: attnzoo train MODEL --help.", no_args_is_help=True)
app.add_typer(train_app, name="train")


@app.command()
def demo() -> None:
    """Train Bahdanau attention on the dates task, print accuracy and examples, draw the alignment."""
    typer.echo("attnzoo demo is not there yet: it arrives with the Seq2Seq model.")
    raise typer.Exit(code=1)


def _register_model_commands() -> None:
    """Let every model folder with a ``cli`` module add its ``train`` sub-command."""
    for package in pkgutil.iter_modules(attnzoo.models.__path__):
        if package.ispkg and importlib.util.find_spec(f"attnzoo.models.{package.name}.cli"):
            importlib.import_module(f"attnzoo.models.{package.name}.cli").register(train_app)


_register_model_commands()
