"""The attention explorer: does the alignment form during training, and when? And a screenshot of each view.

1. Trains Bahdanau attention (``seq2seq``, additive score) on the reversal task (``kind=transduction``:
   output word ``i`` translates input word ``n - 1 - i``, so every output word has a gold source
   word), validating every ``VAL_EVERY`` steps. Each validation records the attention of the three
   probe test sentences in ``formation.json`` (:mod:`attnzoo.training.formation`). The script
   writes ``docs/results/explorer_formation.md``: per validation, the training loss, the
   validation exact match, the probes' mean attention entropy (nats) and their alignment accuracy
   (argmax on the gold source word), and ``docs/results/explorer_formation.png``
   (``attnzoo plot RUN --picture formation``).
2. Trains short runs of one model per kind of view (transformer heads, pointer, NTM memory, RAM
   glimpses, Show-Attend-Tell word maps, MemN2N hops), writes each run's explorer page and, with
   a headless Chromium (Debian ``chromium`` + ``chromium-driver``, selenium), screenshots the first
   view of each page to ``docs/explorer/<kind>.png`` (skipped, with a message, without Chromium).
   These runs are short: the pictures show what the views look like, not the papers' results.

One CPU thread; the machine's load average is recorded beside the times (the CPU may be shared).
A run whose directory already holds a model is not trained again (delete it to retrain).

    nohup python experiments/explorer_formation.py > runs/explorer.log 2>&1 &   # ~15 min on a busy 2-core machine
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

from attnzoo.explorer.page import write_page
from attnzoo.training import Run, train
from attnzoo.viz.formation import plot_formation

ROOT = Path(__file__).resolve().parent.parent
VAL_EVERY = 10
REVERSAL = {  # model, task and training overrides of the formation run
    "model": {"attention": "bahdanau", "embedding_dim": 32, "hidden_size": 64, "attention_dim": 64},
    "task": {"kind": "transduction", "train_size": 4000, "valid_size": 200, "test_size": 200}
    | {"train_max_len": 12, "test_max_len": 12},
    "training": {"steps": 400, "batch_size": 64, "lr": 3e-3, "val_every": VAL_EVERY, "checkpoint_every": 400},
}
SHOWN = {  # screenshot: the view kind shown, and the step button clicked first (None: none)
    "alignment": ("alignment", None),
    "heads": ("heads", None),
    "pointer": ("pointer", 3),
    "memory": ("memory", None),
    "image": ("image", -1),
    "words": ("image", 2),
    "hops": ("memory", None),
}
SHORT = {"batch_size": 32, "checkpoint_every": 1000}
SCREENSHOT_RUNS = {  # kind: (model, model overrides, task overrides, training overrides)
    "heads": (
        "transformer",
        {"d_model": 32, "num_heads": 2, "num_encoder_layers": 2, "num_decoder_layers": 2, "d_ff": 64},
        {"kind": "transduction", "train_size": 2000, "valid_size": 50, "test_size": 50}
        | {"train_max_len": 7, "test_max_len": 7},
        {"steps": 300, "val_every": 100, "warmup_steps": 100},
    ),
    "pointer": (
        "pointer",
        {"embed_dim": 32, "hidden_size": 32, "attention_dim": 32},
        {"problem": "tsp", "n": 6, "train_size": 2000, "eval_size": 50, "beam": 1},
        {"steps": 300, "val_every": 100},
    ),
    "memory": (
        "ntm",
        {"controller_size": 32, "memory_rows": 16, "memory_width": 8},
        {"max_length": 6, "valid_size": 16, "test_size": 16},
        {"steps": 300, "val_every": 100},
    ),
    "image": ("ram", {}, {"variant": "centred28", "samples": (0,)}, {"steps": 200, "val_every": 100}),
    "words": (
        "show-attend-tell",
        {},
        {"image_size": 32, "train_size": 2000, "valid_size": 30, "test_size": 30},
        {"steps": 800, "val_every": 100},
    ),
    "hops": (
        "memn2n",
        {},
        {"task": 2, "train_size": 1000, "valid_size": 50, "test_size": 50},
        {"steps": 200, "val_every": 100},
    ),
}


def trained(name: str, out: Path, model: dict, task: dict, training: dict, threads: int) -> tuple[Run, float, float]:
    """The run in ``out`` (trained now unless it holds a model): the run, its seconds of optimisation
    (training.json) and the mean load average of its validations (metrics.csv)."""
    run = Run(out)
    if not run.file("model.safetensors").is_file():
        options = {"threads": threads, "progress": False, "overwrite": True}
        run = train(name, out, model=model, task=task, training=training, **options)
    loads = [float(row["load"]) for row in run.metrics_rows()]
    return run, run.read_json("training.json")["done"]["seconds"], sum(loads) / max(len(loads), 1)


def describe(run: Run) -> str:
    """A run's steps and seconds of optimisation, for the screenshot list."""
    done = run.read_json("training.json")["done"]
    return f"{done['steps']} steps, {done['seconds']:.0f} s of optimisation"


def first_step(rows: list[tuple[int, float, float]], column: int, level: float) -> str:
    """The first step whose ``column`` (1: valid exact, 2: probe accuracy) reaches ``level``, or "never"."""
    return next((f"step {row[0]}" for row in rows if row[column] >= level), "never")


def formation_table(
    run: Run, metric: str, header: str, shown: str = "{:.1%}"
) -> tuple[str, list[tuple[int, float, float]]]:
    """The markdown table of a run's snapshots (step, training loss, the validation ``metric``, the
    probes' entropy and accuracy) and its rows ``(step, metric, accuracy)``."""
    rows = {int(row["step"]): row for row in run.metrics_rows()}
    lines = [
        f"| step | training loss | {header} | probe entropy (nats) | probe alignment accuracy |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    measured = []
    for snapshot in run.read_formation()["snapshots"]:
        row, scores = rows.get(snapshot["step"], {}), snapshot["scores"]
        loss, value = float(row.get("loss", "nan")), float(row.get(metric, "nan"))
        cells = f"{loss:.3f} | {shown.format(value)} | {scores['entropy']:.3f} | {scores['accuracy']:.1%}"
        lines.append(f"| {snapshot['step']} | {cells} |")
        measured.append((snapshot["step"], value, scores["accuracy"]))
    return "\n".join(lines) + "\n", measured


def timing(seconds: float, load: float) -> str:
    """One line: the seconds of optimisation and the machine's load."""
    note = f"one thread; the machine's load average, mean over the validations: {load:.1f} on 2 cores, shared"
    return f"Optimisation took {seconds:.0f} s ({note}).\n"


def screenshots(runs: dict[str, Run], out_dir: Path) -> list[str]:
    """Each run's explorer page, and a PNG of its first view in ``out_dir``; the lines written."""
    from attnzoo.explorer import browser

    reason = browser.missing()
    if reason is not None:
        return [f"screenshots skipped: {reason}"]
    from selenium.webdriver.common.by import By

    out_dir.mkdir(parents=True, exist_ok=True)
    driver, lines = browser.start_chromium(1400, 1000), []
    try:
        for kind, run in runs.items():
            page = run.file("explorer.html")
            write_page(run, page)
            driver.get(page.resolve().as_uri())
            target = out_dir / f"{kind}.png"
            lines.append(f"`{target.relative_to(ROOT)}`: {run.model_name}, {describe(run)}")
            if kind == "formation":
                browser.screenshot(driver, target, driver.find_element(By.ID, "formation"))
                continue
            view_kind, step = SHOWN[kind]
            view = driver.find_element(By.CSS_SELECTOR, f"#views .view[data-kind={view_kind}]")
            if step is not None:
                view.find_elements(By.CSS_SELECTOR, "button.step")[step].click()
            browser.screenshot(driver, target, view)
    finally:
        driver.quit()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "explorer", help="the runs' parent directory")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = ROOT / "docs" / "results"
    run, seconds, load = trained("seq2seq", args.out / "reversal", **REVERSAL, threads=args.threads)
    table, measured = formation_table(run, "valid_exact", "valid exact")
    table += f"\nFirst validation with probe alignment accuracy >= 90%: {first_step(measured, 2, 0.9)}; "
    table += f"with validation exact match >= 90%: {first_step(measured, 1, 0.9)}.\n\n" + timing(seconds, load)
    plot_formation(
        run.read_formation()["snapshots"],
        results / "explorer_formation.png",
        title="Bahdanau attention on reversal: attention as it formed",
    )
    runs, times = {"formation": run, "alignment": run}, {}
    for kind, (name, model, task, training) in SCREENSHOT_RUNS.items():
        runs[kind], *times[kind] = trained(name, args.out / kind, model, task, SHORT | training, args.threads)
        print(f"{kind}: {name}, {times[kind][0]:.0f} s of optimisation (load average {times[kind][1]:.1f})", flush=True)
    captions, _ = formation_table(runs["words"], "valid_bleu4", "valid BLEU-4", "{:.1f}")
    grid = len(runs["words"].read_formation()["snapshots"][0]["views"][0]["steps"][0]["map"])
    shots = screenshots(runs, ROOT / "docs" / "explorer")
    command = "python experiments/explorer_formation.py"
    text = f"# Attention as it forms (written by `{command}`)\n\n"
    text += "Bahdanau attention (`seq2seq`, additive score, 64 units) on the reversal task (`--kind transduction`, "
    text += "5-12 words, 4,000 training pairs, batches of 64, lr 3e-3), validated every "
    text += f"{VAL_EVERY} steps; entropy and accuracy are the means over the three probe test sentences "
    text += "recorded in `formation.json`.\n\n" + table
    text += "\nShow, Attend and Tell (soft attention, the screenshot run below: 32-pixel scenes, 2,000 per epoch, "
    text += "batches of 32) has probes with gold too (each object word of the reference caption, teacher-forced, "
    text += "scored by argmax-in-box; its training loss includes the doubly stochastic penalty); a uniform α over its "
    text += f"{grid} x {grid} grid has entropy log({grid * grid}) = {math.log(grid * grid):.3f} nats:\n\n"
    text += captions + "\n" + timing(*times["words"])
    text += "\nScreenshots (docs/explorer/; short runs: the pictures show the views, not the papers' results):\n\n"
    text += "".join(f"- {line}\n" for line in shots)
    (results / "explorer_formation.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
