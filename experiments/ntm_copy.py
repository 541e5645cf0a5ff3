"""Neural Turing Machine (Graves et al. 2014): the copy task against an LSTM, and repeat copy.

Trains, on one CPU thread, with batches of 32 and Adam (lr 1e-3, gradient norm clipped at 1):

- the NTM (LSTM controller of 100, memory 128 x 20, one read and one write head) on copy with
  lengths 1..20, and the LSTM baseline (3 x 56 units, about the NTM's parameter count) on the
  same data for the same time budget;
- the NTM on repeat copy (lengths 1..10, 1..10 repeats), for its training curve (its episodes
  are longer: up to 113 steps against 41).

Then it writes ``docs/results/ntm_copy.md`` (time to <= 0.1 bits wrong per sequence at length 20,
bits wrong per sequence at lengths 10..100 for both models: the paper's Figs. 3-4 claim),
``docs/results/ntm_copy.png`` (read and write weightings of one test sequence: the paper's Fig. 6),
``docs/results/ntm_copy_curves.png`` (validation cost against training time) and
``docs/results/ntm_repeat_copy.png`` (the repeat-copy training curve).

Budgets are wall-clock minutes of training (validation passes excluded); the CPU time of the
same span and the machine's load average are recorded beside them, because the CPU is shared.
A run whose directory already holds a model is not trained again (delete it to retrain); an
interrupted run resumes from its checkpoint.

    nohup python experiments/ntm_copy.py > runs/ntm_copy.log 2>&1 &    # ~50 min of training
    python experiments/ntm_copy.py --scale 0.02                        # a quick smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import numpy as np
import torch

from attnzoo.models.ntm.module import (
    count_parameters,
    draw_memory_access,
    evaluate_model,
    fixed_batch,
    read_history,
    read_task,
    train,
)
from attnzoo.tasks.algorithmic import CopyTask, RepeatCopyTask
from attnzoo.training import load_model

ROOT = Path(__file__).resolve().parent.parent
RUNS = {  # name: (task, model, wall-clock minutes of training (scaled by --scale), steps between validations)
    "copy-ntm": (CopyTask(), "ntm", 12.0, 100),
    "copy-lstm": (CopyTask(), "lstm-baseline", 12.0, 100),
    "repeat-copy-ntm": (RepeatCopyTask(), "ntm", 25.0, 20),
}
TEST_LENGTHS = (10, 20, 40, 60, 80, 100)
TEST_SEQUENCES = 256
TARGET = 0.1  # bits wrong per sequence at length 20: the goal
PICTURE_LENGTH = 30  # the test sequence drawn in ntm_copy.png (beyond the training lengths)


def run(name: str, out: Path, scale: float, seed: int) -> Path:
    """Train run ``name`` into ``out/name`` unless it is finished; return the run directory."""
    task, model, minutes, every = RUNS[name]
    directory = out / name
    if (directory / "model.safetensors").is_file():
        print(f"{name}: already trained, {directory}")
        return directory
    print(f"{name}: training {model} on {type(task).__name__} for {minutes * scale:.1f} min")
    train(
        directory,
        task=task,
        model=model,
        steps=1_000_000,
        batch_size=32,
        lr=1e-3,
        gradient_clip=1.0,
        seed=seed,
        minutes=minutes * scale,
        log_every=max(1, round(every * min(scale * 10, 1))),
        valid_size=128,
        progress=False,
    )
    return directory


def first_reaching(history: list[dict], target: float) -> dict | None:
    """The first history line whose validation cost is at most ``target``."""
    return next((line for line in history if line["valid_bits"] <= target), None)


def generalisation(directory: Path, seed: int) -> list[float]:
    """Bits wrong per sequence of a copy run at each of :data:`TEST_LENGTHS` (test split)."""
    model, _ = load_model(directory)
    task, _ = read_task(directory)
    return [
        evaluate_model(model, fixed_batch(task, TEST_SEQUENCES, seed, "test", length=length), chunk=128)[0]
        for length in TEST_LENGTHS
    ]


def plot_curves(histories: dict[str, list[dict]], costs: dict[str, list[float]], path: Path) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4), layout="constrained")
    left, right = figure.subplots(1, 2)
    for label, history in histories.items():
        left.plot([line["seconds"] / 60 for line in history], [line["valid_bits"] for line in history], label=label)
    left.axhline(TARGET, color="grey", linestyle=":", label=f"{TARGET} bits")
    left.set_yscale("symlog", linthresh=0.1)
    left.set_ylim(bottom=0)
    left.set_xlabel("training time (wall clock, minutes)")
    left.set_ylabel("bits wrong per sequence (length 20)")
    left.set_title("Copy: validation cost while training on lengths 1-20")
    left.legend()
    for label, values in costs.items():
        right.plot(TEST_LENGTHS, values, marker="o", label=label)
    right.axvline(20, color="grey", linestyle=":", label="longest training length")
    right.set_xlabel("sequence length")
    right.set_ylabel("bits wrong per sequence")
    right.set_title("Copy: generalisation to longer sequences")
    right.legend()
    figure.savefig(path, dpi=120)


def plot_repeat_copy(history: list[dict], path: Path) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4), layout="constrained")
    axis = figure.subplots()
    thousands = [line["sequences"] / 1000 for line in history]
    axis.plot(thousands, [line["train_bits"] for line in history], label="training (lengths 1-10, 1-10 repeats)")
    axis.plot(thousands, [line["valid_bits"] for line in history], label="validation (length 10, 10 repeats)")
    axis.set_xlabel("training sequences (thousands)")
    axis.set_ylabel("bits wrong per sequence")
    axis.set_title("NTM on repeat copy")
    axis.legend()
    figure.savefig(path, dpi=120)


def picture(directory: Path, seed: int, path: Path) -> int:
    """Draw the NTM's weightings on one test copy sequence of :data:`PICTURE_LENGTH`; its bits wrong."""
    model, _ = load_model(directory)
    batch = fixed_batch(CopyTask(), 1, seed, "test", length=PICTURE_LENGTH)
    title = f"NTM copying a sequence of length {PICTURE_LENGTH} (trained on 1-20)"
    return draw_memory_access(model, batch, path, title)


def summary(history: list[dict]) -> dict[str, float]:
    last = history[-1]
    loads = [line["load"] for line in history]
    return {
        "steps": last["step"],
        "sequences": last["sequences"],
        "minutes": last["seconds"] / 60,
        "cpu_minutes": last["cpu_seconds"] / 60,
        "load_mean": float(np.mean(loads)),
        "load_max": float(np.max(loads)),
        "final_bits": last["valid_bits"],
    }


def report(out: Path, seed: int, scale: float) -> str:
    results = ROOT / "docs" / "results"
    results.mkdir(parents=True, exist_ok=True)
    copy_runs = {"NTM": out / "copy-ntm", "LSTM": out / "copy-lstm"}
    histories = {label: read_history(directory) for label, directory in copy_runs.items()}
    costs = {label: generalisation(directory, seed) for label, directory in copy_runs.items()}
    parameters = {label: count_parameters(load_model(directory)[0]) for label, directory in copy_runs.items()}
    plot_curves(histories, costs, results / "ntm_copy_curves.png")
    wrong = picture(copy_runs["NTM"], seed, results / "ntm_copy.png")
    repeat_history = read_history(out / "repeat-copy-ntm")
    plot_repeat_copy(repeat_history, results / "ntm_repeat_copy.png")

    lines = [
        "# Neural Turing Machine: copy and repeat copy",
        "",
        "Graves et al. 2014, §4.1-4.2. Written by `experiments/ntm_copy.py`"
        + (f" with `--scale {scale}` (a smoke run, not the result)." if scale != 1 else "."),
        "",
        "Setup: batches of 32, Adam (lr 1e-3), gradient norm clipped at 1, one torch thread, "
        f"torch {torch.__version__}, Python {platform.python_version()}, {os.cpu_count()} CPUs. "
        "Training time counts the optimisation only (validation passes on 128 sequences every 100 steps, "
        "20 for repeat copy, excluded); the CPU time of this process over the same span is given beside it. "
        "**The CPU was shared with other jobs**: the load averages below are those of the whole machine "
        "(2 cores), so a wall-clock minute here bought well under a minute of one core.",
        "",
        "## Copy: training on lengths 1-20",
        "",
        "| model | parameters | steps | sequences | wall min | CPU min | load avg (mean / max) "
        f"| first <= {TARGET} bits at length 20 (wall min / CPU min / sequences) | final bits, length 20 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for label, history in histories.items():
        stats = summary(history)
        hit = first_reaching(history, TARGET)
        reached = "not reached"
        if hit:
            reached = f"{hit['seconds'] / 60:.1f} / {hit['cpu_seconds'] / 60:.1f} / {hit['sequences']:,}"
        lines.append(
            f"| {label} | {parameters[label]:,} | {stats['steps']:,} | {stats['sequences']:,} | {stats['minutes']:.1f} "
            f"| {stats['cpu_minutes']:.1f} | {stats['load_mean']:.1f} / {stats['load_max']:.1f} | {reached} "
            f"| {stats['final_bits']:.3f} |"
        )
    lines += [
        "",
        f"## Copy: bits wrong per sequence by length ({TEST_SEQUENCES} test sequences each)",
        "",
        "| model | " + " | ".join(str(length) for length in TEST_LENGTHS) + " |",
        "| --- | " + " | ".join("---:" for _ in TEST_LENGTHS) + " |",
    ]
    for label, values in costs.items():
        lines.append(f"| {label} | " + " | ".join(f"{value:.2f}" for value in values) + " |")
    repeat = summary(repeat_history)
    lines += [
        "",
        "A sequence of length L has 8 L output bits (800 at length 100); chance is half of them.",
        "",
        "![validation cost while training; generalisation by length](ntm_copy_curves.png)",
        "",
        f"Read and write weightings of the NTM on one test sequence of length {PICTURE_LENGTH} "
        f"({wrong} bits wrong), as in the paper's Fig. 6:",
        "",
        "![NTM memory access on copy](ntm_copy.png)",
        "",
        "## Repeat copy",
        "",
        f"NTM, {repeat['steps']:,} steps ({repeat['sequences']:,} sequences) in {repeat['minutes']:.1f} wall minutes "
        f"({repeat['cpu_minutes']:.1f} CPU minutes, load average {repeat['load_mean']:.1f}); validation "
        f"(length 10, 10 repeats: 801 output bits) ends at {repeat['final_bits']:.2f} bits wrong per sequence.",
        "",
        "![repeat copy training curve](ntm_repeat_copy.png)",
        "",
        "Reproduce: `python experiments/ntm_copy.py` (runs under `runs/ntm_copy/`; a finished run is reused).",
        "",
    ]
    text = "\n".join(lines)
    (results / "ntm_copy.md").write_text(text, encoding="utf-8")
    (out / "results.json").write_text(json.dumps({"costs": costs, "parameters": parameters}, indent=2) + "\n")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "ntm_copy", help="run directories")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every time budget (0.02: smoke run)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=sorted(RUNS), nargs="*", help="train only these runs, no report")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.only or RUNS:
        run(name, args.out, args.scale, args.seed)
    if not args.only:
        print(report(args.out, args.seed, args.scale))


if __name__ == "__main__":
    main()
