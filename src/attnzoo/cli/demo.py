"""``attnzoo demo``: Bahdanau attention learns to read dates in 20 locales; the main job, end to end.

It trains the ``seq2seq`` preset ``demo`` through the one generic trainer (the same as
``attnzoo train seq2seq --preset demo --out runs/demo``), evaluates the 2,000 held-out test
dates, prints examples and draws the alignment of one of them; its last line tells how to explore
the run (``attnzoo explore runs/demo``: the attention of test dates and how it formed).
"""

from __future__ import annotations

import time
from pathlib import Path

import typer


def run_demo(out: Path, picture: Path, threads: int, **overrides: dict) -> None:
    """Train, evaluate, print and draw (see the module docstring).

    ``overrides``: ``model=``, ``task=``, ``training=`` overrides of the preset (tests make it tiny).
    """
    import torch

    from attnzoo.recipes.translation import decode_dataset, drawable
    from attnzoo.training import Run, train
    from attnzoo.training.fit import settings_for

    start = time.perf_counter()
    if Run(out).file("config.json").is_file() and Run(out).preset != "demo":
        raise ValueError(f"{out} holds a run that is not a demo: choose another --out")
    torch.set_num_threads(threads)
    parts = (overrides.get(part) for part in ("model", "task", "training"))
    _, planned, settings = settings_for("seq2seq", "demo", *parts)  # what train() will resolve
    typer.echo(
        "attnzoo demo: Bahdanau attention learns to read dates in 20 locales and write them as ISO 8601.\n"
        f"Generating {planned.settings.train_size:,} training and {planned.settings.test_size:,} test dates "
        f"(disjoint by date), training {settings.steps} steps of {settings.batch_size} on {threads} CPU thread(s) ..."
    )
    run = train("seq2seq", out, preset="demo", overwrite=True, threads=threads, progress=False, **overrides)
    recipe = run.recipe()
    model, task = run.load_model(), run.build_task(recipe)
    metrics, outputs = decode_dataset(model, task, "test")
    typer.echo(f"\nHeld-out test dates: exact match {metrics['exact']:.2%}, token accuracy {metrics['token_acc']:.2%}")
    typer.echo("Examples (source → output, reference):")
    for (source, reference), output in list(zip(task.test.pairs, outputs, strict=True))[:5]:
        mark = "✓" if output == reference else f"✗ (expected {reference})"
        typer.echo(f"  {source:<32} → {output} {mark}")
    source = next(source for source, _ in task.test.pairs if drawable(source) and len(source) > 12)
    recipe.draw_alignment(model, task, picture, text=source)
    typer.echo(f'Run saved to {out} (try: attnzoo translate {out} "3 марта 2015 г." --plot a.png).')
    typer.echo(f"Total time {time.perf_counter() - start:.0f} s.")
    typer.echo(
        f"Exact match on {len(task.test):,} held-out test dates: {metrics['exact']:.2%}; "
        f"alignment heatmap written to {picture}"
    )
    typer.echo(f"See its attention, and how it formed during training, in one offline page: attnzoo explore {out}")
