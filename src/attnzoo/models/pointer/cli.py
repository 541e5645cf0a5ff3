"""Command line of the Pointer Network: ``attnzoo train pointer``, and its ``evaluate`` and ``plot``.

Lightning and the model are imported inside the commands, so ``attnzoo --help`` stays quick.
"""

from __future__ import annotations

from pathlib import Path

import typer

TEST_COUNT = 1000  # instances evaluated per split
PICTURE_COUNT = 8  # instances drawn by `attnzoo plot --tours`


def register(train_app: typer.Typer) -> None:
    """Add ``attnzoo train pointer``."""

    @train_app.command("pointer")
    def train_pointer(
        task: str = typer.Option("tsp", help="sort, hull or tsp."),
        n: int = typer.Option(10, help="Inputs per instance (TSP targets need n <= 12 unless --rl)."),
        rl: bool = typer.Option(False, "--rl", help="REINFORCE on tour length (TSP) instead of optimal targets."),
        baseline: str = typer.Option("greedy", help="REINFORCE baseline: greedy (self-critical) or ema."),
        steps: int = typer.Option(2000, help="Optimiser steps."),
        batch_size: int = typer.Option(128, help="Instances per step."),
        lr: float = typer.Option(1e-3, help="Adam learning rate (cosine decay to 1% over the steps)."),
        train_size: int = typer.Option(100_000, help="Training instances generated (and solved for TSP)."),
        hidden: int = typer.Option(128, help="LSTM units."),
        glimpses: int = typer.Option(0, help="Glimpses before pointing (Bello et al. 2016)."),
        clip: float | None = typer.Option(None, help="Logit clipping C in C*tanh(u) (Bello et al. use 10)."),
        seed: int = typer.Option(0, help="Seed of the training data and the model."),
        minutes: float | None = typer.Option(None, help="Stop training after this many minutes."),
        threads: int = typer.Option(1, help="torch CPU threads."),
        out: Path | None = typer.Option(None, help="Run directory (default runs/pointer-TASK-N)."),
        cache_dir: Path = typer.Option(Path("runs/cache"), help="Where solved TSP training sets are cached."),
    ) -> None:
        """Train a Pointer Network (Vinyals et al. 2015) on sorting, convex hull or TSP."""
        import torch

        from attnzoo.models.pointer.module import BASELINES, TASKS, task_config, train

        if task not in TASKS:
            raise typer.BadParameter(f"expected one of {TASKS}, got {task!r}", param_hint="--task")
        if rl and task != "tsp":
            raise typer.BadParameter(f"--rl trains on tour length: use it with --task tsp, not {task!r}")
        if baseline not in BASELINES:
            raise typer.BadParameter(f"expected one of {BASELINES}, got {baseline!r}", param_hint="--baseline")
        torch.set_num_threads(threads)
        out = out or Path("runs") / f"pointer-{task}-{n}"
        config = task_config(task, hidden_size=hidden, n_glimpses=glimpses, logit_clip=clip)
        train(
            out,
            task=task,
            n=n,
            config=config,
            steps=steps,
            batch_size=batch_size,
            lr=lr,
            train_size=train_size,
            rl=rl,
            baseline=baseline,
            seed=seed,
            minutes=minutes,
            cache_dir=cache_dir,
        )
        typer.echo(f"wrote {out}; evaluate with: attnzoo evaluate {out}")


def evaluate(run_dir: Path, *, split: str, length: int | None) -> None:
    """Print the run's table (TSP: Table 2 rows; sort/hull: accuracy) on ``split`` at ``length`` inputs."""
    from attnzoo.models.pointer.module import evaluate_model, format_rows, read_task, split_seed
    from attnzoo.training import load_model

    task = read_task(run_dir)
    model, _ = load_model(run_dir)
    n = length or task["n"]
    rows = evaluate_model(model, task["task"], n, count=TEST_COUNT, seed=split_seed(split, task["seed"]))
    for line in format_rows(task["task"], n, rows):
        typer.echo(line)


def plot(run_dir: Path, *, picture: str, path: Path) -> None:
    """``picture="tours"``: greedy Ptr-Net tours (TSP) or hulls (convex hull) vs the optimal ones."""
    from attnzoo.models.pointer.module import make_task_data, predict, read_task, split_seed
    from attnzoo.tasks import geometry
    from attnzoo.training import load_model
    from attnzoo.viz.tours import plot_tours

    task = read_task(run_dir)
    if picture != "tours" or task["task"] == "sort":
        raise typer.BadParameter(f"a pointer run on {task['task']!r} draws --tours (tsp and hull runs only)")
    model, _ = load_model(run_dir)
    data = make_task_data(task["task"], PICTURE_COUNT, task["n"], split_seed("test", task["seed"]))
    points = data.inputs.numpy()
    tokens, lengths = predict(model, data.inputs)
    if task["task"] == "tsp":
        predicted, reference = tokens.tolist(), data.targets.tolist()
        ours, best = geometry.tour_length(points, tokens.numpy()), data.optimal.numpy()
        titles = [f"Ptr-Net {p:.3f} / optimal {o:.3f}" for p, o in zip(ours, best, strict=True)]
        labels = ("Ptr-Net", "optimal")
    else:  # hull: drop the end index
        predicted = [row[: size - 1] for row, size in zip(tokens.tolist(), lengths.tolist(), strict=True)]
        reference = [row[: size - 1] for row, size in zip(data.targets.tolist(), data.lengths.tolist(), strict=True)]
        titles = ["exact" if p == r else "wrong" for p, r in zip(predicted, reference, strict=True)]
        labels = ("Ptr-Net", "true hull")
    plot_tours(points, predicted, reference, path, titles=titles, labels=labels)
