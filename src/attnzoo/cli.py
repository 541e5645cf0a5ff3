"""The ``attnzoo`` command (Typer).

Each model folder with a command line keeps it in ``attnzoo/models/<name>/cli.py``, which
provides:

- ``register(train_app)``: adds ``attnzoo train <name> ...``;
- ``evaluate(run_dir, *, split, length)``: prints the model's evaluation of a run;
- ``plot(run_dir, *, picture, path)``: draws ``picture`` (``"alignment"``, ``"memory"``,
  ``"glimpses"``, ``"tours"`` or ``"heads"``) of a run to ``path``, raising ``typer.BadParameter`` if the
  model has no such picture;
- ``translate(run_dir, text, *, beam, plot)`` (sequence-to-sequence models only).

``evaluate``, ``plot`` and ``translate`` read the run directory's ``config.json`` to find the
model, then call that module.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from pathlib import Path
from types import ModuleType

import typer

import attnzoo.models

app = typer.Typer(help="attnzoo: attention mechanisms and the models built on them.", no_args_is_help=True)
train_app = typer.Typer(help="Train a model: attnzoo train MODEL --help.", no_args_is_help=True)
app.add_typer(train_app, name="train")

RunDir = typer.Argument(..., exists=True, file_okay=False, help="A run directory written by `attnzoo train`.")


def model_cli(run_dir: Path) -> ModuleType:
    """The ``cli`` module of the model saved in ``run_dir``."""
    from attnzoo.models.registry import model_package
    from attnzoo.training.checkpoint import read_model_config

    name, _ = read_model_config(run_dir)
    return importlib.import_module(f"{model_package(name)}.cli")


@app.command()
def demo() -> None:
    """Train Bahdanau attention on the dates task, print accuracy and examples, draw the alignment."""
    from attnzoo.models.seq2seq.cli import demo as seq2seq_demo

    seq2seq_demo()


@app.command()
def evaluate(
    run_dir: Path = RunDir,
    split: str = typer.Option("test", help="Which split to evaluate: train, valid or test."),
    length: int | None = typer.Option(None, help="Sequence length to evaluate at (models that take one)."),
) -> None:
    """Evaluate a trained run and print its table."""
    model_cli(run_dir).evaluate(run_dir, split=split, length=length)


@app.command()
def translate(
    run_dir: Path = RunDir,
    text: str = typer.Argument(..., help="The source text."),
    beam: int = typer.Option(1, help="Beam size (1: greedy)."),
    plot: Path | None = typer.Option(None, help="Write the attention picture to this PNG."),
) -> None:
    """Translate one input with a trained sequence-to-sequence run."""
    if beam < 1:
        raise typer.BadParameter(f"expected a beam size >= 1, got {beam}", param_hint="--beam")
    module = model_cli(run_dir)
    if not hasattr(module, "translate"):
        raise typer.BadParameter(f"{run_dir} holds a model that does not translate text", param_hint="RUN_DIR")
    module.translate(run_dir, text, beam=beam, plot=plot)


@app.command()
def plot(
    run_dir: Path = RunDir,
    alignment: Path | None = typer.Option(None, help="Alignment heatmap (sequence-to-sequence models)."),
    memory: Path | None = typer.Option(None, help="Memory read/write weightings (NTM)."),
    glimpses: Path | None = typer.Option(None, help="Glimpse paths on test images (RAM)."),
    tours: Path | None = typer.Option(None, help="Predicted vs optimal tours (Pointer Network)."),
    heads: Path | None = typer.Option(None, help="Every layer's and head's attention (Transformer)."),
) -> None:
    """Draw one picture of a trained run."""
    pictures = {"alignment": alignment, "memory": memory, "glimpses": glimpses, "tours": tours, "heads": heads}
    chosen = {name: path for name, path in pictures.items() if path is not None}
    if len(chosen) != 1:
        raise typer.BadParameter(f"expected exactly one picture option, got {len(chosen)}")
    ((picture, path),) = chosen.items()
    model_cli(run_dir).plot(run_dir, picture=picture, path=path)
    typer.echo(f"wrote {path}")


def _register_model_commands() -> None:
    """Let every model folder with a ``cli`` module add its ``train`` sub-command."""
    for package in pkgutil.iter_modules(attnzoo.models.__path__):
        if package.ispkg and importlib.util.find_spec(f"attnzoo.models.{package.name}.cli"):
            importlib.import_module(f"attnzoo.models.{package.name}.cli").register(train_app)


_register_model_commands()
