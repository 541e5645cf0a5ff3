"""Seq2Seq with and without attention as the input grows (Cho 2014; Bahdanau 2015, Fig. 2), and Luong 2015's
variants on dates.

The claim: an encoder-decoder that squeezes the source into one fixed vector degrades as the input grows; with
attention, quality holds. Task: the translation recipe's ``transduction`` (reverse the words and translate each
through a 20-word lexicon), trained on 5..40 words, tested on 5..60. Four seq2seq presets, ``fixed-context``,
``bahdanau``, ``luong-general`` and ``luong-local-p`` (window D = 10), each with the same bidirectional GRU
encoder, about :data:`BUDGET` parameters (the hidden size chosen to match) and the same steps; each is also
trained on dates. Third table: Luong's score x window grid on dates (a unidirectional GRU encoder, as Luong's).

Every run trains on one CPU thread through ``attnzoo.training.train`` into ``runs/seq2seq_length/<name>``; a run
whose directory holds a model is not trained again (delete it to retrain). Writes ``docs/results/seq2seq_length.md``
and ``.png``.

    nohup python experiments/seq2seq_length.py > runs/seq2seq_length.log 2>&1 &
    python experiments/seq2seq_length.py --scale 0.02 --out /tmp/smoke --results /tmp/smoke  # a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from attnzoo.recipes import count_parameters
from attnzoo.recipes.translation import bleu_chrf, decode_dataset
from attnzoo.registry import create_model, load_recipe, make_config
from attnzoo.training import train
from attnzoo.training.run import Run

REPORT = """# Seq2Seq: input length with and without attention; Luong's variants on dates

Written by `experiments/seq2seq_length.py` (steps scaled by {scale}). One CPU thread per run,
on a CPU shared with other jobs: wall times vary with the load, shown beside them.

## Exact match and BLEU per source length (reverse-and-translate, trained on 5-40 words)

{length_tables}
Test sentences per bucket: {counts}.

![length](seq2seq_length.png)

**The claim, measured.** Within the training lengths, the fixed-context model falls from {none_first} exact \
match ({first}) to {none_last} ({last}), while every attention model stays at or above {worst:.1f}% in every \
bucket up to 40 words. Past the longest training input (51-60 words: {beyond}) the models extrapolate to \
lengths never trained on, and they differ. A likely reason, not tested here: the decoder's state has never \
counted that far, and attention whose query is that state before it reads (Bahdanau's s_{{i-1}}) or that \
predicts a position from it (local-p's p_t = S · sigmoid(...)) loses its place, while Luong's global \
attention from h_t keeps most of it. BLEU shows that most output words stay right where exact match fails.

## Dates: exact match on {dates_count:,} held-out test dates

| model | hidden | parameters | exact match | training (wall / CPU, load) |
| --- | --- | --- | --- | --- |
{dates_rows}

## Luong et al. 2015 on dates: score x window (unidirectional GRU encoder, hidden 64, window D = 10)

| score | global | local-m | local-p |
| --- | --- | --- | --- |
{grid_rows}

## Setup

- transduction: {transduction_task}; {transduction_training}
- dates: {dates_task}; {dates_training}
- every model: a GRU, embeddings 32, additive-score and deep-output sizes = hidden; gradient norm clipped at 1; \
greedy decoding.
"""

ROOT = Path(__file__).resolve().parent.parent
BUDGET = 100_000  # parameters of each model on the transduction task (hidden size chosen to match)
COMMON = {"rnn": "gru", "embedding_dim": 32, "window": 10}  # overrides of every preset (Luong's D = 10)
LENGTH_MODELS = {  # name: (seq2seq preset, overrides); the same bidirectional GRU encoder for all four
    "none": ("fixed-context", {"bidirectional": True}),
    "bahdanau": ("bahdanau", {"bidirectional": True}),
    "luong-general": ("luong-general", {"bidirectional": True}),
    "luong-local-p": ("luong-local-p", {"bidirectional": True}),
}
LOCAL_NAMES = {"none": "global", "monotonic": "local-m", "predictive": "local-p"}
SCORES = ("dot", "general", "concat", "location")
LUONG_GRID = {
    f"luong-{score}-{local}": ("luong-general", {"score": score, "local": local, "bidirectional": False})
    for score in SCORES
    for local in LOCAL_NAMES
}
TASKS = {  # the translation recipe's task settings (data seed: the training seed, 0)
    "transduction": {"kind": "transduction", "train_size": 20_000, "valid_size": 500, "test_size": 3_000}
    | {"train_max_len": 40, "test_max_len": 60},
    "dates": {"kind": "dates", "train_size": 20_000, "valid_size": 500, "test_size": 2_000},
}
TRAINING = {  # per task: optimiser steps (scaled by --scale), batch size, Adam's rate (cosine decay to 5%)
    "transduction": {"steps": 800, "batch_size": 64, "lr": 3e-3},
    "dates": {"steps": 400, "batch_size": 128, "lr": 3e-3},
}
BUCKETS = [(5, 10), (11, 20), (21, 30), (31, 40), (41, 50), (51, 60)]  # source words; training stops at 40


def model_settings(variant: tuple[str, dict], hidden: int) -> tuple[str, dict]:
    """``(preset, model overrides)`` of a variant with RNN, additive-score and deep-output sizes ``hidden``."""
    preset, overrides = variant
    return preset, {**COMMON, **overrides, "hidden_size": hidden, "attention_dim": hidden, "output_dim": hidden}


def hidden_for_budget(data, variant: tuple[str, dict], budget: int) -> int:
    """The hidden size (a multiple of 4) whose model on ``data`` has the parameter count closest to ``budget``."""
    recipe = load_recipe("seq2seq", TASKS["transduction"])

    def parameters(hidden: int) -> int:
        preset, overrides = model_settings(variant, hidden)
        config = recipe.sized_config(make_config("seq2seq", preset, **overrides), data)
        return count_parameters(create_model("seq2seq", config))

    return min(range(16, 257, 4), key=lambda hidden: abs(parameters(hidden) - budget))


def timed_train(run_dir: Path, name: str, preset: str, model: dict, task: str, training: dict) -> Path:
    """Train ``name`` on ``TASKS[task]`` into ``run_dir`` unless done (resuming), timed in ``timing.json``."""
    if (run_dir / "model.safetensors").is_file():
        return run_dir
    print(f"[{time.strftime('%H:%M:%S')}] {run_dir.name}: {name}, {training['steps']} steps", flush=True)
    started, cpu = time.perf_counter(), time.process_time()
    resume = (run_dir / "checkpoints" / "last.ckpt").is_file()
    settings = {} if resume else {"preset": preset, "model": model, "task": TASKS[task]}
    train(name, run_dir, **settings, training=training, resume=resume, overwrite=not resume, threads=1, progress=False)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    timing = {"wall_s": wall, "cpu_s": cpu, "steps": training["steps"], "load_average": os.getloadavg()[0]}
    (run_dir / "timing.json").write_text(json.dumps(timing, indent=2) + "\n")
    return run_dir


def training_for(task: str, scale: float, factor: float = 1.0) -> dict:
    """``TRAINING[task]`` with its steps times ``scale * factor`` (at least 2), checkpoints every 100."""
    steps = max(2, round(TRAINING[task]["steps"] * scale * factor))
    return {**TRAINING[task], "steps": steps, "checkpoint_every": 100, "seed": 0}


def train_run(name: str, task: str, variant: tuple[str, dict], hidden: int, out: Path, scale: float) -> Path:
    """Train one Seq2Seq model (unless ``out/name`` already holds one); returns its run directory."""
    preset, model = model_settings(variant, hidden)
    return timed_train(out / name, "seq2seq", preset, model, task, training_for(task, scale))


def bucket_scores(run_dir: Path, data) -> list[dict]:
    """Exact match and BLEU of greedy decoding per source-length bucket of the test set."""
    _, outputs = decode_dataset(Run(run_dir).load_model(), data, "test")
    rows = []
    for low, high in BUCKETS:
        chosen = [i for i, (source, _) in enumerate(data.test.pairs) if low <= len(source.split()) <= high]
        hypotheses = [outputs[i] for i in chosen]
        references = [data.test.pairs[i][1] for i in chosen]
        exact = sum(h == r for h, r in zip(hypotheses, references, strict=True)) / max(len(chosen), 1)
        rows.append(
            {"bucket": f"{low}-{high}", "count": len(chosen), "exact": exact, **bleu_chrf(hypotheses, references)}
        )
    return rows


def dates_accuracy(run_dir: Path, data) -> float:
    """Exact match of greedy decoding on the test dates (the recipe's evaluation)."""
    run = Run(run_dir)
    return run.recipe().evaluate(run.load_model(), data, "test")["exact"]


def describe(run_dir: Path) -> dict:
    """Hidden size, parameters (and both as table cells) and the timing of a run."""
    timing = json.loads((run_dir / "timing.json").read_text()) if (run_dir / "timing.json").is_file() else {}
    run = Run(run_dir)
    hidden = getattr(run.config(), "hidden_size", None)
    parameters = count_parameters(run.load_model())
    return {"hidden": hidden, "parameters": parameters, "sizes": f"{hidden} | {parameters:,}", **timing}


def timing_cell(info: dict) -> str:
    """``wall s / CPU s, load L`` of a run's training (— for a run trained without timing)."""
    if "wall_s" not in info:
        return "—"
    return f"{info['wall_s']:.0f} s / {info['cpu_s']:.0f} s, load {info['load_average']:.1f}"


def plot(results: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 3.8), layout="constrained")
    axes = figure.subplots(1, 2)
    centres = [(low + high) / 2 for low, high in BUCKETS]
    for name, rows in results.items():
        axes[0].plot(centres, [100 * row["exact"] for row in rows], "o-", label=name)
        axes[1].plot(centres, [row["bleu"] for row in rows], "o-", label=name)
    for axis, label in zip(axes, ["exact match (%)", "BLEU"], strict=True):
        axis.axvline(40.5, color="grey", linestyle="--", linewidth=1)
        axis.text(40.8, 5, "longer than\nany training input", fontsize=8, color="grey")
        axis.set_xlabel("source length (words)")
        axis.set_ylabel(label)
        axis.set_ylim(-2, 102)
        axis.grid(alpha=0.3)
    axes[0].legend()
    figure.suptitle("Reverse-and-translate: trained on 5-40 words, tested on 5-60 (same parameter budget and steps)")
    figure.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "seq2seq_length", help="run directories")
    parser.add_argument("--results", type=Path, default=ROOT / "docs" / "results", help="where to write md + png")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every run's steps (smoke runs)")
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=("length", "dates", "grid"),
        default=["length", "dates", "grid"],
        help="which runs to train (run two processes with different parts to use two cores)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    transduction = load_recipe("seq2seq", TASKS["transduction"]).build_task(0)  # as its runs build it
    hidden = {name: hidden_for_budget(transduction, variant, BUDGET) for name, variant in LENGTH_MODELS.items()}
    runs = {
        "length": {f"length-{name}": ("transduction", v, hidden[name]) for name, v in LENGTH_MODELS.items()},
        "dates": {f"dates-{name}": ("dates", v, hidden[name]) for name, v in LENGTH_MODELS.items()},
        "grid": {f"dates-{name}": ("dates", v, 64) for name, v in LUONG_GRID.items()},
    }
    for part in args.parts:
        for name, (task, variant, size) in runs[part].items():
            train_run(name, task, variant, size, args.out, args.scale)
    missing = [name for part in runs.values() for name in part if not (args.out / name / "model.safetensors").is_file()]
    if missing:
        print(f"not writing the report yet: {len(missing)} runs to train ({', '.join(missing)})")
        return
    length_runs = {name: args.out / f"length-{name}" for name in LENGTH_MODELS}
    length_results = {name: bucket_scores(run_dir, transduction) for name, run_dir in length_runs.items()}
    args.results.mkdir(parents=True, exist_ok=True)
    plot(length_results, args.results / "seq2seq_length.png")
    report = REPORT.format(**report_fields(args, length_runs, length_results))
    (args.results / "seq2seq_length.md").write_text(report, encoding="utf-8")


def report_fields(args, length_runs: dict, length_results: dict) -> dict:
    """The values the :data:`REPORT` template reads, measured from the runs in ``args.out``."""
    dates = load_recipe("seq2seq", TASKS["dates"]).build_task(0)
    header = "| model | hidden | parameters | " + " | ".join(f"{low}-{high}" for low, high in BUCKETS) + " |"
    tables = []
    for metric, title in [("exact", "exact match (%)"), ("bleu", "BLEU")]:
        tables += [f"**{title}**", "", header, "|" + " --- |" * (3 + len(BUCKETS))]
        for name, rows in length_results.items():
            cells = [f"{100 * row['exact']:.1f}" if metric == "exact" else f"{row['bleu']:.1f}" for row in rows]
            info = describe(length_runs[name])
            tables.append(f"| {name} | {info['sizes']} | " + " | ".join(cells) + " |")
        tables.append("")

    def accuracy(name: str) -> str:
        return f"{100 * dates_accuracy(args.out / f'dates-{name}', dates):.2f}%"

    dates_rows = []
    for name in LENGTH_MODELS:
        info = describe(args.out / f"dates-{name}")
        dates_rows.append(f"| {name} | {info['sizes']} | {accuracy(name)} | {timing_cell(info)} |")
    grid_rows = [
        f"| {score} | " + " | ".join(accuracy(f"luong-{score}-{local}") for local in LOCAL_NAMES) + " |"
        for score in SCORES
    ]
    return {
        "scale": args.scale,
        "length_tables": "\n".join(tables),
        "counts": ", ".join(f"{row['bucket']}: {row['count']}" for row in next(iter(length_results.values()))),
        **claim_fields(length_results),
        "dates_count": len(dates.test),
        "dates_rows": "\n".join(dates_rows),
        "grid_rows": "\n".join(grid_rows),
        **{f"{task}_task": json.dumps(TASKS[task]) for task in TASKS},
        **{f"{task}_training": json.dumps(TRAINING[task]) for task in TRAINING},
    }


def claim_fields(length_results: dict[str, list[dict]]) -> dict:
    """The claim of Cho 2014 / Bahdanau 2015 Fig. 2, read off the measured exact match."""
    trained = [index for index, (_, high) in enumerate(BUCKETS) if high <= 40]
    first, last = trained[0], trained[-1]

    def exact(name: str, index: int) -> str:
        return f"{100 * length_results[name][index]['exact']:.1f}%"

    attention = [name for name in length_results if name != "none"]
    return {
        "none_first": exact("none", first),
        "none_last": exact("none", last),
        "first": "{}-{} words".format(*BUCKETS[first]),
        "last": "{}-{}".format(*BUCKETS[last]),
        "worst": min(100 * length_results[name][index]["exact"] for name in attention for index in trained),
        "beyond": ", ".join(f"{name} {exact(name, len(BUCKETS) - 1)}" for name in attention),
    }


if __name__ == "__main__":
    main()
