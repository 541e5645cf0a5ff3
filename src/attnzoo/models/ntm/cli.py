"""``attnzoo train ntm``, and the NTM's ``evaluate`` and ``plot --memory`` (see :mod:`attnzoo.cli`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer

EVAL_SEQUENCES = 256  # sequences per evaluated length


def register(train_app: typer.Typer) -> None:
    """Add ``attnzoo train ntm``."""

    @train_app.command("ntm")
    def train_ntm(
        task: str = typer.Option("copy", help="copy, repeat-copy or recall (Graves et al. 2014, §4.1-4.3)."),
        model: str = typer.Option("ntm", help="ntm, or the baseline: lstm-baseline."),
        min_length: int | None = typer.Option(None, help="Shortest training sequence (recall: fewest items)."),
        max_length: int | None = typer.Option(None, help="Longest training sequence (recall: most items)."),
        controller_size: int = typer.Option(100, help="NTM: LSTM controller units."),
        memory_rows: int = typer.Option(128, help="NTM: memory locations N."),
        memory_width: int = typer.Option(20, help="NTM: width M of a location."),
        hidden_size: int = typer.Option(56, help="LSTM baseline: units per layer (3 layers)."),
        steps: int = typer.Option(20_000, help="Most optimiser steps."),
        batch_size: int = typer.Option(32, help="Sequences per batch."),
        lr: float = typer.Option(1e-3, help="Adam learning rate."),
        clip: float = typer.Option(1.0, help="Clip the gradient norm to this (the loss is a mean over bits)."),
        minutes: float | None = typer.Option(None, help="Stop after this many minutes of training."),
        cpu_minutes: float | None = typer.Option(None, help="Stop after this many CPU minutes of training."),
        target: float | None = typer.Option(None, help="Stop once validation bits wrong per sequence <= this."),
        seed: int = typer.Option(0, help="Seed of the sequences and the weights."),
        threads: int | None = typer.Option(None, help="torch threads (default: torch's choice)."),
        out: Path = typer.Option(Path("runs/ntm"), help="Run directory to write (resumes from its checkpoint)."),
        progress: bool = typer.Option(True, help="Show the progress bar."),
        compile_step: bool = typer.Option(
            False, "--compile", help="NTM: torch.compile its time step (~2x faster after a minute or two)."
        ),
    ) -> None:
        """Train the NTM (or the LSTM baseline) on an algorithmic task, then print the validation cost."""
        import torch

        from attnzoo.models.ntm import module
        from attnzoo.tasks.algorithmic import make_task

        if threads is not None:
            torch.set_num_threads(threads)
        if compile_step and model != "ntm":
            raise typer.BadParameter(f"only the NTM has a compiled step, not {model!r}", param_hint="--compile")
        lengths = {}
        if min_length is not None:
            lengths["min_items" if task == "recall" else "min_length"] = min_length
        if max_length is not None:
            lengths["max_items" if task == "recall" else "max_length"] = max_length
        try:
            chosen = make_task(task, **lengths)
            config = module.default_config(model, chosen)
        except ValueError as error:
            raise typer.BadParameter(str(error)) from error
        if model == "ntm":
            config = dataclasses.replace(
                config, controller_size=controller_size, memory_rows=memory_rows, memory_width=memory_width
            )
        else:
            config = dataclasses.replace(config, hidden_size=hidden_size)
        trained = module.train(
            out,
            task=chosen,
            model=model,
            config=config,
            steps=steps,
            batch_size=batch_size,
            lr=lr,
            gradient_clip=clip,
            seed=seed,
            minutes=minutes,
            cpu_minutes=cpu_minutes,
            target=target,
            progress=progress,
            compile_step=compile_step,
        )
        typer.echo(f"wrote {out}")
        valid = module.fixed_batch(chosen, EVAL_SEQUENCES, seed, **module.longest(chosen))
        bits, loss = module.evaluate_model(trained.model, valid)
        typer.echo(f"valid, longest training length: {bits:.3f} bits wrong per sequence, loss {loss:.4f}")


def evaluate(run_dir: Path, *, split: str, length: int | None) -> None:
    """Print bits wrong per sequence of a run at ``length`` (default: the longest training length)."""
    from rich.console import Console
    from rich.table import Table

    from attnzoo.models.ntm import module
    from attnzoo.training import load_model

    if split not in module.SPLIT_SEEDS:
        raise typer.BadParameter(f"expected one of {sorted(module.SPLIT_SEEDS)}, got {split!r}", param_hint="--split")
    model, _ = load_model(run_dir)
    task, settings = module.read_task(run_dir)
    lengths = module.longest(task)
    if length is not None:
        lengths["length"] = length
    bits, loss = module.evaluate_model(
        model, module.fixed_batch(task, EVAL_SEQUENCES, settings["seed"], split, **lengths)
    )
    table = Table(title=f"{settings['task']}, {split}, {EVAL_SEQUENCES} sequences")
    for column in [*lengths, "bits wrong per sequence", "loss"]:
        table.add_column(column, justify="right")
    table.add_row(*(str(value) for value in lengths.values()), f"{bits:.3f}", f"{loss:.4f}")
    Console().print(table)


def plot(run_dir: Path, *, picture: str, path: Path) -> None:
    """Draw the read and write weightings of one test sequence of the longest training length."""
    from attnzoo.models.ntm import NTM, module
    from attnzoo.training import load_model

    if picture != "memory":
        raise typer.BadParameter(f"an NTM run draws the memory picture (--memory), not {picture!r}")
    model, _ = load_model(run_dir)
    if not isinstance(model, NTM):
        raise typer.BadParameter(
            f"{run_dir} holds the LSTM baseline, which has no memory to draw", param_hint="RUN_DIR"
        )
    task, settings = module.read_task(run_dir)
    batch = module.fixed_batch(task, 1, settings["seed"], "test", **module.longest(task))
    module.draw_memory_access(model, batch, path, settings["task"])
