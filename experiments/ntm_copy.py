"""Neural Turing Machine (Graves et al. 2014): the copy task against an LSTM, and repeat copy.

Trains, on one CPU thread, through ``attnzoo.training.train`` with the registered presets
(batches of 32, Adam at a constant 1e-3, gradient norm clipped at 1):

- ``ntm --preset paper``: the NTM (LSTM controller of 100, memory 128 x 20, one read and one write
  head) on copy with lengths 1..20, and ``lstm-baseline --preset matched`` (3 x 56 units, about
  the NTM's parameter count) on the same data for the same time budget;
- ``ntm --preset repeat-copy``: the NTM on repeat copy (lengths 1..10, 1..10 repeats), for its
  training curve (its episodes are longer: up to 113 steps against 41).

Then it writes ``docs/results/ntm_copy.md`` (time to <= 0.1 bits wrong per sequence at length 20,
bits wrong per sequence at lengths 10..100 for both models: the paper's Figs. 3-4 claim),
``docs/results/ntm_copy.png`` (read and write weightings of one test sequence: the paper's Fig. 6),
``docs/results/ntm_copy_curves.png`` (validation cost against training time) and
``docs/results/ntm_repeat_copy.png`` (the repeat-copy training curve), from each run's
``metrics.csv``. Each run ends with the weights of its best validation.

Budgets are wall-clock minutes of training (``Training.minutes``; validation passes excluded); the
machine's load average is recorded beside them, because the CPU is shared. A run whose directory
already holds a model is not trained again (delete it to retrain); an interrupted run resumes from
its checkpoint.

    nohup python experiments/ntm_copy.py > runs/ntm_copy.log 2>&1 &    # ~50 min of training
    python experiments/ntm_copy.py --scale 0.02 --out runs/ntm_smoke   # a quick smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import numpy as np
import torch

from attnzoo.recipes import count_parameters
from attnzoo.training import Run, train_once

ROOT = Path(__file__).resolve().parent.parent
RUNS = {  # name: (model, preset, wall-clock minutes of training (scaled by --scale), steps between validations)
    "copy-ntm": ("ntm", "paper", 12.0, 100),
    "copy-lstm": ("lstm-baseline", "matched", 12.0, 100),
    "repeat-copy-ntm": ("ntm", "repeat-copy", 25.0, 20),
}
TEST_LENGTHS = (10, 20, 40, 60, 80, 100)
TEST_SEQUENCES = 256
TARGET = 0.1  # bits wrong per sequence at length 20: the goal
PICTURE_LENGTH = 30  # the test sequence drawn in ntm_copy.png (beyond the training lengths)
COPY_COLUMNS = (  # the copy table's columns (right-aligned but for the first-reaching one)
    "model",
    "parameters",
    "steps",
    "sequences",
    "wall min",
    "load avg (mean / max)",
    f"first <= {TARGET} bits at length 20 (wall min / sequences)",
    "last validation, bits at length 20",
    "kept weights (step: bits)",
)
COPY_RULE = " |\n| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |"  # ends the header row, then the rule

REPORT = """# Neural Turing Machine: copy and repeat copy

Graves et al. 2014, §4.1-4.2. Written by `experiments/ntm_copy.py`{smoke}

Setup: `attnzoo.training.train` with the presets `ntm/paper`, `lstm-baseline/matched` and
`ntm/repeat-copy`: batches of 32, Adam (constant lr 1e-3), gradient norm clipped at 1, one torch
thread, torch {torch}, Python {python}, {cpus} CPUs. Training time counts the optimisation only
(validation passes on 128 sequences of the longest training length every 100 steps, 20 for repeat
copy, excluded). Each run keeps the weights of its best validation. **The CPU may be shared with
other jobs**: the load averages below are those of the whole machine, so a wall-clock minute may
buy less than a minute of one core.

## Copy: training on lengths 1-20

{copy_header}
{copy_rows}

## Copy: bits wrong per sequence by length ({sequences} test sequences each)

| model | {length_header} |
| --- | {length_rule} |
{length_rows}

A sequence of length L has 8 L output bits (800 at length 100); chance is half of them.

![validation cost while training; generalisation by length](ntm_copy_curves.png)

Read and write weightings of the NTM on one test sequence of length {picture_length} ({wrong} bits
wrong), as in the paper's Fig. 6:

![NTM memory access on copy](ntm_copy.png)

## Repeat copy

NTM, {repeat[steps]:,} steps ({repeat[sequences]:,} sequences) in {repeat[minutes]:.1f} wall minutes
(load average {repeat[load_mean]:.1f}); validation (length 10, 10 repeats: 801 output bits) ends at
{repeat[final_bits]:.2f} bits wrong per sequence (kept weights, step {repeat[kept_step]}:
{repeat[kept_bits]:.2f}).

![repeat copy training curve](ntm_repeat_copy.png)

Reproduce: `python experiments/ntm_copy.py` (runs under `runs/ntm_copy/`; a finished run is reused).
"""


def run(name: str, out: Path, scale: float, seed: int) -> Run:
    """Train run ``name`` into ``out/name`` (a finished run is reused, a stopped one resumed); return it."""
    model, preset, minutes, every = RUNS[name]
    print(f"{name}: {model} (preset {preset}), {minutes * scale:.1f} min of training")
    every = max(1, round(every * min(scale * 10, 1)))
    training = {"steps": 1_000_000, "minutes": minutes * scale, "val_every": every, "seed": seed}
    return train_once(model, out / name, preset=preset, training=training, threads=1, progress=False)


def rows_of(directory: Path) -> list[dict[str, float]]:
    """The validation rows of a run's ``metrics.csv``, as numbers, with ``sequences`` (steps x batch size)."""
    run = Run(directory)
    batch_size = run.training().batch_size
    rows = [{key: float(value) for key, value in row.items()} for row in run.metrics_rows()]
    return [{**row, "sequences": int(row["step"]) * batch_size} for row in rows]


def generalisation(directory: Path) -> list[float]:
    """Bits wrong per sequence of a copy run at each of :data:`TEST_LENGTHS` (test split)."""
    run = Run(directory)
    model, costs = run.load_model(), []
    for length in TEST_LENGTHS:
        recipe = run.recipe(eval_length=length, test_size=TEST_SEQUENCES)
        costs.append(recipe.evaluate(model, run.build_task(recipe), "test")["bits"])
    return costs


def picture(directory: Path, path: Path) -> int:
    """Draw the NTM's weightings on one test copy sequence of :data:`PICTURE_LENGTH`; its bits wrong."""
    run = Run(directory)
    recipe = run.recipe(eval_length=PICTURE_LENGTH, test_size=1)
    title = f"NTM copying a sequence of length {PICTURE_LENGTH} (trained on 1-20)"
    return recipe.pictures()["memory"](run.load_model(), run.build_task(recipe), path, title=title)


def summary(directory: Path) -> dict[str, float]:
    """Steps, sequences, minutes, load, last and kept validation cost of a finished run."""
    rows, metrics = rows_of(directory), Run(directory).read_json("metrics.json")
    last, loads = rows[-1], [row["load"] for row in rows]
    return {
        "steps": int(last["step"]),
        "sequences": last["sequences"],
        "minutes": last["seconds"] / 60,
        "load_mean": float(np.mean(loads)),
        "load_max": float(np.max(loads)),
        "final_bits": last["valid_bits"],
        "kept_step": metrics["kept_step"],
        "kept_bits": metrics["bits"],
    }


def plot_curves(histories: dict[str, list[dict]], costs: dict[str, list[float]], path: Path) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4), layout="constrained")
    left, right = figure.subplots(1, 2)
    for label, rows in histories.items():
        left.plot([row["seconds"] / 60 for row in rows], [row["valid_bits"] for row in rows], label=label)
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


def plot_repeat_copy(rows: list[dict], path: Path) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4), layout="constrained")
    axis = figure.subplots()
    thousands = [row["sequences"] / 1000 for row in rows]
    axis.plot(thousands, [row["bits"] for row in rows], label="training (lengths 1-10, 1-10 repeats)")
    axis.plot(thousands, [row["valid_bits"] for row in rows], label="validation (length 10, 10 repeats)")
    axis.set_xlabel("training sequences (thousands)")
    axis.set_ylabel("bits wrong per sequence")
    axis.set_title("NTM on repeat copy")
    axis.legend()
    figure.savefig(path, dpi=120)


def copy_row(label: str, parameters: int, stats: dict, rows: list[dict]) -> str:
    """One row of the copy table."""
    hit = next((row for row in rows if row["valid_bits"] <= TARGET), None)
    reached = f"{hit['seconds'] / 60:.1f} / {hit['sequences']:,}" if hit else "not reached"
    return (
        f"| {label} | {parameters:,} | {stats['steps']:,} | {stats['sequences']:,} | {stats['minutes']:.1f} "
        f"| {stats['load_mean']:.1f} / {stats['load_max']:.1f} | {reached} | {stats['final_bits']:.3f} "
        f"| {stats['kept_step']}: {stats['kept_bits']:.3f} |"
    )


def report(out: Path, scale: float) -> str:
    results = ROOT / "docs" / "results"
    results.mkdir(parents=True, exist_ok=True)
    copy_runs = {"NTM": out / "copy-ntm", "LSTM": out / "copy-lstm"}
    histories = {label: rows_of(directory) for label, directory in copy_runs.items()}
    costs = {label: generalisation(directory) for label, directory in copy_runs.items()}
    parameters = {label: count_parameters(Run(directory).load_model()) for label, directory in copy_runs.items()}
    plot_curves(histories, costs, results / "ntm_copy_curves.png")
    wrong = picture(copy_runs["NTM"], results / "ntm_copy.png")
    plot_repeat_copy(rows_of(out / "repeat-copy-ntm"), results / "ntm_repeat_copy.png")
    copy_rows = [
        copy_row(label, parameters[label], summary(directory), histories[label])
        for label, directory in copy_runs.items()
    ]
    text = REPORT.format(
        smoke=f" with `--scale {scale}` (a smoke run, not the result)." if scale != 1 else ".",
        torch=torch.__version__,
        python=platform.python_version(),
        cpus=os.cpu_count(),
        copy_header="| " + " | ".join(COPY_COLUMNS) + COPY_RULE,
        copy_rows="\n".join(copy_rows),
        sequences=TEST_SEQUENCES,
        length_header=" | ".join(str(length) for length in TEST_LENGTHS),
        length_rule=" | ".join("---:" for _ in TEST_LENGTHS),
        length_rows="\n".join(
            f"| {label} | " + " | ".join(f"{value:.2f}" for value in values) + " |" for label, values in costs.items()
        ),
        picture_length=PICTURE_LENGTH,
        wrong=wrong,
        repeat=summary(out / "repeat-copy-ntm"),
    )
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
        print(report(args.out, args.scale))


if __name__ == "__main__":
    main()
