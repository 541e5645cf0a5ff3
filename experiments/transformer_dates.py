"""``attnzoo train transformer --task dates`` with its defaults: test accuracy, time, and the head picture.

Runs the command line exactly as a user would (one torch thread, so the time is that of one
core), then ``attnzoo evaluate`` on the 2,000 test dates and ``attnzoo plot --heads`` for a test
example. Writes ``docs/results/transformer_dates.md`` and ``transformer_heads.png``.

    nohup python experiments/transformer_dates.py > runs/transformer_dates.log 2>&1 &
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def attnzoo(*arguments: str) -> str:
    """Run the ``attnzoo`` command and return what it printed (it must succeed)."""
    return subprocess.run(["attnzoo", *arguments], check=True, capture_output=True, text=True).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "transformer_dates", help="the run directory")
    parser.add_argument("--results", type=Path, default=ROOT / "docs" / "results", help="where to write md + png")
    parser.add_argument("--steps", type=int, default=None, help="override the command's default (smoke runs)")
    args = parser.parse_args()
    command = ["train", "transformer", "--task", "dates", "--out", str(args.out), "--threads", "1", "--no-progress"]
    command += [] if args.steps is None else ["--steps", str(args.steps)]
    started = time.perf_counter()
    training = attnzoo(*command)
    wall = time.perf_counter() - started
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    load = os.getloadavg()[0]
    test = attnzoo("evaluate", str(args.out), "--split", "test")
    args.results.mkdir(parents=True, exist_ok=True)
    picture = args.results / "transformer_heads.png"
    attnzoo("plot", str(args.out), "--heads", str(picture))
    shown = " ".join(["attnzoo", *command]).replace(str(ROOT) + "/", "")
    lines = [
        "# The Transformer on dates",
        "",
        "Written by `experiments/transformer_dates.py`, which runs",
        "",
        f"    {shown}",
        f"    attnzoo evaluate {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}",
        "",
        "(the command's defaults: d_model 128, 4 heads, 2 + 2 layers, d_ff 512, dropout 0.1, post-LN,",
        "label smoothing 0.1, warm-up 400 steps, 3,000 steps of 128 dates).",
        "",
        "| split | result |",
        "| --- | --- |",
        f"| valid (1,000 dates, after training) | {training.strip().splitlines()[-2].split(': ', 1)[1]} |",
        f"| test | {test.strip().split(': ', 1)[1]} |",
        "",
        f"Training: {wall / 60:.1f} min wall, {cpu / 60:.1f} min CPU, one thread; load average {load:.1f} at the end",
        "(the CPU was shared with other jobs).",
        "",
        "Every layer and head of the encoder's self-attention, the decoder's self-attention and the",
        "cross-attention for a test date (`attnzoo plot RUN --heads FILE`):",
        "",
        f"![every head]({picture.name})",
        "",
    ]
    (args.results / "transformer_dates.md").write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    main()
