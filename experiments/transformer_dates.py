"""``attnzoo train transformer`` with its defaults (the dates task): test accuracy, time, and the head picture.

Runs the command line exactly as a user would (one torch thread, so the time is that of one
core), reads the run's validation metrics from its ``metrics.json``, scores the 2,000 test dates
in-process with the run's recipe (what ``attnzoo evaluate RUN --split test`` prints), and draws
every head for a test example with ``attnzoo plot RUN --picture heads``. Writes
``docs/results/transformer_dates.md`` and ``transformer_heads.png``.

    nohup python experiments/transformer_dates.py > runs/transformer_dates.log 2>&1 &
    python experiments/transformer_dates.py --steps 2 --out /tmp/smoke/run --results /tmp/smoke  # a smoke run
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import time
from pathlib import Path

import torch

from attnzoo.training.run import Run

ROOT = Path(__file__).resolve().parent.parent

REPORT = """# The Transformer on dates

Written by `experiments/transformer_dates.py`, which runs

    {train}
    attnzoo evaluate {run} --split test

(the command's defaults: d_model 128, 4 heads, 2 + 2 layers, d_ff 512, dropout 0.1, post-LN,
label smoothing 0.1, warm-up 400 steps, {steps:,} steps of 128 dates).

| split | result |
| --- | --- |
| valid ({valid:,} dates, after training) | {valid_result} |
| test ({test:,} dates) | {test_result} |

Training: {wall:.1f} min wall, {cpu:.1f} min CPU, one thread; load average {load:.1f} at the end
(the CPU was shared with other jobs).

Every layer and head of the encoder's self-attention, the decoder's self-attention and the
cross-attention for a test date (`attnzoo plot RUN --picture heads --out FILE`):

![every head]({picture})
"""


def attnzoo(*arguments: str) -> str:
    """Run the ``attnzoo`` command and return what it printed (it must succeed)."""
    return subprocess.run(["attnzoo", *arguments], check=True, capture_output=True, text=True).stdout


def result(metrics: dict[str, float]) -> str:
    """``exact match 99.60%  token accuracy 99.95%`` of the translation recipe's metrics."""
    return f"exact match {metrics['exact']:.2%}  token accuracy {metrics['token_acc']:.2%}"


def shown(path: Path) -> str:
    """``path`` relative to the repository when it lies inside it."""
    return str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "transformer_dates", help="the run directory")
    parser.add_argument("--results", type=Path, default=ROOT / "docs" / "results", help="where to write md + png")
    parser.add_argument("--steps", type=int, default=None, help="override the command's default (smoke runs)")
    args = parser.parse_args()
    args.out = args.out.resolve()
    command = ["train", "transformer", "--out", str(args.out), "--threads", "1", "--no-progress"]
    command += [] if args.steps is None else ["--steps", str(args.steps)]
    started = time.perf_counter()
    attnzoo(*command)
    wall = time.perf_counter() - started
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    load = os.getloadavg()[0]
    torch.set_num_threads(1)
    run = Run(args.out)
    recipe = run.recipe()
    data = run.build_task(recipe)
    test = recipe.evaluate(run.load_model(), data, "test")  # what `attnzoo evaluate RUN --split test` prints
    args.results.mkdir(parents=True, exist_ok=True)
    picture = args.results / "transformer_heads.png"
    attnzoo("plot", str(args.out), "--picture", "heads", "--out", str(picture))
    report = REPORT.format(
        train=" ".join(["attnzoo", *command]).replace(str(args.out), shown(args.out)),
        run=shown(args.out),
        steps=run.read_json("training.json")["done"]["steps"],
        valid=len(data.valid),
        valid_result=result(run.read_json("metrics.json")),
        test=len(data.test),
        test_result=result(test),
        wall=wall / 60,
        cpu=cpu / 60,
        load=load,
        picture=picture.name,
    )
    (args.results / "transformer_dates.md").write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
