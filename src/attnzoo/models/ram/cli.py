"""``attnzoo train ram``, and RAM's ``evaluate`` and ``plot --glimpses`` (see :mod:`attnzoo.cli`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer

from attnzoo.tasks.digits import VARIANTS

SAMPLES = (0, 1, 10)  # Monte-Carlo paths averaged at evaluation (0: the policy's mean path)


def register(train_app: typer.Typer) -> None:
    """Add ``attnzoo train ram``."""

    @train_app.command("ram")
    def train_ram(
        variant: str = typer.Option("translated60", help=f"Digits on a canvas: {', '.join(VARIANTS)}."),
        model: str = typer.Option("ram", help="ram, or a baseline: digits-mlp, digits-convnet."),
        glimpses: int = typer.Option(6, help="RAM: glimpses per image (the first at the centre)."),
        glimpse_size: int | None = typer.Option(None, help="RAM: side of the finest patch (default: 8 on 28x28, 12)."),
        scales: int | None = typer.Option(None, help="RAM: patches per glimpse (default: 1 on 28x28, 3 on 60, 4)."),
        std: float | None = typer.Option(None, help="RAM: std of the location policy in [-1, 1] units (default 0.2)."),
        core: str = typer.Option("rnn", help="RAM: core network, rnn or lstm."),
        core_hidden: int = typer.Option(256, help="RAM: size of the core state h_t (paper: 256)."),
        dropout: float = typer.Option(0.0, help="RAM: dropout on the glimpse representation g_t in training."),
        combine: str = typer.Option("add", help="RAM: g_t from what and where, add (paper) or multiply."),
        policy_trains_core: bool = typer.Option(
            False, help="RAM: let the REINFORCE gradient reach the core and glimpse networks (as the paper)."
        ),
        epochs: int = typer.Option(150, help="Epochs, each on newly drawn canvases of the training digits."),
        batch_size: int = typer.Option(32, help="Images per batch."),
        lr: float = typer.Option(2e-3, help="Adam learning rate (cosine decay)."),
        weight_decay: float = typer.Option(0.0, help="Decoupled weight decay (AdamW); 0: plain Adam."),
        ema_decay: float | None = typer.Option(
            None, help="End with an exponential moving average of the weights of this decay per step."
        ),
        seed: int = typer.Option(0, help="Seed of the split, the canvases and the weights."),
        minutes: float | None = typer.Option(None, help="Stop training after this many minutes."),
        threads: int | None = typer.Option(None, help="torch threads (default: torch's choice)."),
        out: Path = typer.Option(Path("runs/ram"), help="Run directory to write (resumes from its checkpoint)."),
        progress: bool = typer.Option(True, help="Show the progress bar."),
    ) -> None:
        """Train RAM (Mnih et al. 2014) or a baseline on digits on a canvas, then print the valid error."""
        import torch

        from attnzoo.models.ram import module

        if threads is not None:
            torch.set_num_threads(threads)
        try:
            config = module.default_config(model, variant)
        except ValueError as error:
            raise typer.BadParameter(str(error)) from error
        if model == "ram":
            config = dataclasses.replace(
                config,
                glimpses=glimpses,
                core=core,
                core_hidden=core_hidden,
                dropout=dropout,
                combine=combine,
                policy_trains_core=policy_trains_core,
            )
            if std is not None:
                config = dataclasses.replace(config, location_std=std)
            if glimpse_size is not None:
                config = dataclasses.replace(config, glimpse_size=glimpse_size)
            if scales is not None:
                config = dataclasses.replace(config, scales=scales)
        trained = module.train(
            out,
            variant=variant,
            model=model,
            config=config,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            weight_decay=weight_decay,
            ema_decay=ema_decay,
            seed=seed,
            minutes=minutes,
            progress=progress,
        )
        typer.echo(f"wrote {out}")
        _print_errors(module.evaluate_model(trained.model, variant, split="valid", seed=seed, samples=SAMPLES), "valid")


def _print_errors(errors: dict[str, float], split: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{split} error")
    table.add_column("evaluation")
    table.add_column("error (%)", justify="right")
    for name, value in errors.items():
        table.add_row(
            name.replace("error M=0", "mean path").replace("error M=", "sampled paths averaged: "), f"{value:.2f}"
        )
    Console().print(table)


def evaluate(run_dir: Path, *, split: str, length: int | None) -> None:
    """Print the classification error of a run on ``split`` (RAM: mean path and Monte-Carlo averages)."""
    from attnzoo.models.ram import module
    from attnzoo.training import load_model

    if length is not None:
        raise typer.BadParameter(
            "RAM and its baselines classify images; --length does not apply", param_hint="--length"
        )
    model, _ = load_model(run_dir)
    task = module.read_task(run_dir)
    try:
        errors = module.evaluate_model(model, task["variant"], split=split, seed=task["seed"], samples=SAMPLES)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--split") from error
    _print_errors(errors, split)


def plot(run_dir: Path, *, picture: str, path: Path, count: int = 6) -> None:
    """Draw the glimpse paths (the policy's mean path) of the first ``count`` test images of a RAM run."""
    import torch

    from attnzoo.models.ram import module
    from attnzoo.models.ram.glimpse import glimpse_boxes
    from attnzoo.models.ram.model import RAM
    from attnzoo.tasks import digits
    from attnzoo.training import load_model
    from attnzoo.viz.glimpses import plot_glimpse_paths

    if picture != "glimpses":
        raise typer.BadParameter(f"RAM runs draw --glimpses, not --{picture}")
    model, config = load_model(run_dir)
    if not isinstance(model, RAM):
        raise typer.BadParameter(
            f"{run_dir} holds a {type(model).__name__}, which takes no glimpses", param_hint="RUN_DIR"
        )
    task = module.read_task(run_dir)
    data = digits.digits_dataset(task["variant"], "test", seed=task["seed"])
    images, labels = data.images[:count], data.labels[:count]
    with torch.no_grad():
        output = model(images, sample=False)
    height, width = images.shape[-2:]
    steps = output.locations.size(1)
    boxes = glimpse_boxes(output.locations.flatten(0, 1), height, width, config.glimpse_size, config.scales)
    predictions = output.log_probs.argmax(-1)
    titles = [f"label {int(y)}, predicted {int(p)}" for y, p in zip(labels, predictions, strict=True)]
    plot_glimpse_paths(
        images[:, 0].numpy(), boxes.view(len(images), steps, config.scales, 3).numpy(), path, titles=titles
    )
