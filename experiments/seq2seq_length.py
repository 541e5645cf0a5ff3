"""Seq2Seq with and without attention as the input grows (Cho et al. 2014; Bahdanau et al. 2015, Fig. 2),
and Luong et al. 2015's attention variants on dates.

The claim: an encoder-decoder that squeezes the source into one fixed vector degrades as the input
grows; with attention, quality holds. Task: the transduction of ``attnzoo.tasks.corpus`` (reverse
the words and translate each through a 20-word lexicon), trained on 5..40 words and tested on
5..60. Four decoders with the same bidirectional GRU encoder, about the same parameter count
(the hidden size of each is chosen to match :data:`BUDGET`) and the same steps:

- ``none``: fixed context (Cho 2014);
- ``bahdanau``: additive attention from s_{i-1} (Bahdanau 2015);
- ``luong-general``: Luong 2015, general score, global;
- ``luong-local-p``: Luong 2015, general score, local-p (window D = 10).

Each is also trained on dates (``attnzoo.tasks.dates``) for the second table. The third table is
Luong's grid on dates: score dot / general / concat / location x global / local-m / local-p, with a
unidirectional GRU encoder (as in Luong's paper; the dot score needs annotations as wide as the
decoder state).

Every run trains on one CPU thread through the library's own Lightning path
(``attnzoo.models.seq2seq.cli.fit``) into ``runs/seq2seq_length/<name>``; a run whose directory
already holds a model is not trained again (delete it to retrain). Writes
``docs/results/seq2seq_length.md`` and ``docs/results/seq2seq_length.png``.

    nohup python experiments/seq2seq_length.py > runs/seq2seq_length.log 2>&1 &
    python experiments/seq2seq_length.py --scale 0.02 --out /tmp/smoke    # a quick smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from attnzoo import create_model
from attnzoo.models.seq2seq.cli import Run, fit, load_task
from attnzoo.models.seq2seq.model import Seq2SeqConfig
from attnzoo.training.translation import bleu_chrf, evaluate_dataset

ROOT = Path(__file__).resolve().parent.parent
BUDGET = 100_000  # parameters of each model on the transduction task (hidden size chosen to match)
LENGTH_MODELS = {
    "none": {"attention": "none"},
    "bahdanau": {"attention": "bahdanau"},
    "luong-general": {"attention": "luong", "score": "general"},
    "luong-local-p": {"attention": "luong", "score": "general", "local": "predictive"},
}
LUONG_GRID = {
    f"luong-{score}-{local}": {"attention": "luong", "score": score, "local": local, "bidirectional": False}
    for score in ("dot", "general", "concat", "location")
    for local in ("none", "monotonic", "predictive")
}
LOCAL_NAMES = {"none": "global", "monotonic": "local-m", "predictive": "local-p"}
TASKS = {
    "transduction": {"task": "transduction", "level": "word", "train_size": 20_000, "valid_size": 500}
    | {"test_size": 3_000, "train_max_len": 40, "test_max_len": 60, "seed": 0},
    "dates": {"task": "dates", "level": "char", "train_size": 20_000, "valid_size": 500, "test_size": 2_000, "seed": 0},
}
TRAINING = {  # per task: optimiser steps (scaled by --scale), batch size, Adam's rate (cosine decay to 5%)
    "transduction": {"steps": 800, "batch_size": 64, "lr": 3e-3},
    "dates": {"steps": 400, "batch_size": 128, "lr": 3e-3},
}
BUCKETS = [(5, 10), (11, 20), (21, 30), (31, 40), (41, 50), (51, 60)]  # source words; training stops at 40


def count_parameters(model: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def base_config(translation, variant: dict, hidden: int) -> Seq2SeqConfig:
    return Seq2SeqConfig(
        source_vocab_size=len(translation.source_vocab),
        target_vocab_size=len(translation.target_vocab),
        embedding_dim=32,
        hidden_size=hidden,
        attention_dim=hidden,
        output_dim=hidden,
        window=10,  # Luong et al.'s D
        max_source_len=max(len(ids) for ids in translation.test.source_ids),
        **variant,
    )


def hidden_for_budget(translation, variant: dict, budget: int) -> int:
    """The hidden size (a multiple of 4) whose model has the parameter count closest to ``budget``."""
    sizes = range(16, 257, 4)
    return min(
        sizes,
        key=lambda h: abs(count_parameters(create_model("seq2seq", base_config(translation, variant, h))) - budget),
    )


def train_run(name: str, task: str, variant: dict, hidden: int, out: Path, scale: float, data_cache: dict) -> Path:
    """Train one Seq2Seq model (unless ``out/name`` already holds one); returns its run directory."""
    if task not in data_cache:
        data_cache[task] = load_task(TASKS[task])
    training = TRAINING[task]
    optimizer = {"lr": training["lr"], "decay_steps": max(2, round(training["steps"] * scale))}
    config = base_config(data_cache[task], variant, hidden)
    return timed_fit(out / name, data_cache[task], config, "seq2seq", task, optimizer, scale)


def timed_fit(
    run_dir: Path,
    translation,
    config,
    model: str,
    task: str,
    optimizer: dict,
    scale: float,
    label_smoothing: float = 0.0,
) -> Path:
    """Train registered ``model`` for ``TRAINING[task]`` steps (times ``scale``) on one thread into
    ``run_dir``, unless it already holds a model; record wall and CPU time in ``timing.json``."""
    if (run_dir / "model.safetensors").is_file():
        return run_dir
    training = TRAINING[task]
    steps = max(2, round(training["steps"] * scale))
    print(f"[{time.strftime('%H:%M:%S')}] {run_dir.name}: {model}, {steps} steps", flush=True)
    started, cpu = time.perf_counter(), time.process_time()
    fit(
        translation,
        config,
        run_dir,
        TASKS[task],
        model=model,
        optimizer=optimizer,
        label_smoothing=label_smoothing,
        batch_size=training["batch_size"],
        max_steps=steps,
        seed=0,
        checkpoint_every=100,
        progress=False,
        resume=(run_dir / "checkpoints" / "last.ckpt").is_file(),
    )
    timing = {"wall_s": time.perf_counter() - started, "cpu_s": time.process_time() - cpu, "steps": steps}
    timing["load_average"] = os.getloadavg()[0]
    (run_dir / "timing.json").write_text(json.dumps(timing, indent=2) + "\n")
    return run_dir


def bucket_scores(run_dir: Path, translation) -> list[dict]:
    """Exact match and BLEU of greedy decoding per source-length bucket of the test set."""
    run = Run(run_dir)
    _, outputs = evaluate_dataset(run.model, translation.test, translation.decode_target)
    rows = []
    for low, high in BUCKETS:
        chosen = [i for i, (source, _) in enumerate(translation.test.pairs) if low <= len(source.split()) <= high]
        hypotheses = [outputs[i] for i in chosen]
        references = [translation.test.pairs[i][1] for i in chosen]
        exact = sum(h == r for h, r in zip(hypotheses, references, strict=True)) / max(len(chosen), 1)
        rows.append(
            {"bucket": f"{low}-{high}", "count": len(chosen), "exact": exact, **bleu_chrf(hypotheses, references)}
        )
    return rows


def dates_accuracy(run_dir: Path, translation) -> float:
    metrics, _ = evaluate_dataset(Run(run_dir).model, translation.test, translation.decode_target)
    return metrics["exact"]


def describe(run_dir: Path) -> dict:
    timing = json.loads((run_dir / "timing.json").read_text()) if (run_dir / "timing.json").is_file() else {}
    config = json.loads((run_dir / "config.json").read_text())["config"]
    parameters = count_parameters(Run(run_dir).model)
    return {"hidden": config.get("hidden_size"), "parameters": parameters, **timing}


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
    cache: dict = {"transduction": load_task(TASKS["transduction"])}
    hidden = {name: hidden_for_budget(cache["transduction"], v, BUDGET) for name, v in LENGTH_MODELS.items()}
    runs = {
        "length": {f"length-{name}": ("transduction", v, hidden[name]) for name, v in LENGTH_MODELS.items()},
        "dates": {f"dates-{name}": ("dates", v, hidden[name]) for name, v in LENGTH_MODELS.items()},
        "grid": {f"dates-{name}": ("dates", v, 64) for name, v in LUONG_GRID.items()},
    }
    for part in args.parts:
        for name, (task, variant, size) in runs[part].items():
            train_run(name, task, variant, size, args.out, args.scale, cache)
    missing = [name for part in runs.values() for name in part if not (args.out / name / "model.safetensors").is_file()]
    if missing:
        print(f"not writing the report yet: {len(missing)} runs to train ({', '.join(missing)})")
        return
    length_runs = {name: args.out / f"length-{name}" for name in LENGTH_MODELS}
    dates_runs = {name: args.out / f"dates-{name}" for name in LENGTH_MODELS}
    grid_runs = {name: args.out / f"dates-{name}" for name in LUONG_GRID}
    transduction = cache["transduction"]
    dates = cache.get("dates") or load_task(TASKS["dates"])
    length_results = {name: bucket_scores(run_dir, transduction) for name, run_dir in length_runs.items()}
    args.results.mkdir(parents=True, exist_ok=True)
    plot(length_results, args.results / "seq2seq_length.png")
    write_report(args, length_runs, length_results, dates_runs, grid_runs, dates)


def write_report(args, length_runs, length_results, dates_runs, grid_runs, dates) -> None:
    lines = ["# Seq2Seq: input length with and without attention; Luong's variants on dates", ""]
    lines += [
        f"Written by `experiments/seq2seq_length.py` (steps scaled by {args.scale}). One CPU thread per run,",
        "on a CPU shared with other jobs: wall times vary with the load, shown beside them.",
        "",
    ]
    lines += ["## Exact match and BLEU per source length (reverse-and-translate, trained on 5-40 words)", ""]
    header = "| model | hidden | parameters | " + " | ".join(f"{low}-{high}" for low, high in BUCKETS) + " |"
    for metric, title in [("exact", "exact match (%)"), ("bleu", "BLEU")]:
        lines += [f"**{title}**", "", header, "|" + " --- |" * (3 + len(BUCKETS))]
        for name, rows in length_results.items():
            info = describe(length_runs[name])
            cells = [f"{100 * row['exact']:.1f}" if metric == "exact" else f"{row['bleu']:.1f}" for row in rows]
            lines.append(f"| {name} | {info['hidden']} | {info['parameters']:,} | " + " | ".join(cells) + " |")
        lines.append("")
    counts = ", ".join(f"{row['bucket']}: {row['count']}" for row in next(iter(length_results.values())))
    lines += [f"Test sentences per bucket: {counts}.", "", "![length](seq2seq_length.png)", ""]
    lines += claim_lines(length_results)
    lines += [
        f"## Dates: exact match on {len(dates.test):,} held-out test dates",
        "",
        "| model | hidden | parameters | exact match | training (wall / CPU, load) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, run_dir in dates_runs.items():
        info = describe(run_dir)
        accuracy = f"{100 * dates_accuracy(run_dir, dates):.2f}%"
        lines.append(f"| {name} | {info['hidden']} | {info['parameters']:,} | {accuracy} | {timing_cell(info)} |")
    lines.append("")
    if grid_runs:
        lines += [
            "## Luong et al. 2015 on dates: score x window (unidirectional GRU encoder, hidden 64, window D = 10)",
            "",
        ]
        lines += ["| score | " + " | ".join(LOCAL_NAMES.values()) + " |", "| --- | --- | --- | --- |"]
        for score in ("dot", "general", "concat", "location"):
            cells = [
                f"{100 * dates_accuracy(grid_runs[f'luong-{score}-{local}'], dates):.2f}%" for local in LOCAL_NAMES
            ]
            lines.append(f"| {score} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [
        "## Setup",
        "",
        f"- transduction: {json.dumps(TASKS['transduction'])}; {json.dumps(TRAINING['transduction'])}",
        f"- dates: {json.dumps(TASKS['dates'])}; {json.dumps(TRAINING['dates'])}",
        "- every model: GRU, embeddings 32, additive-score and deep-output sizes = hidden;"
        " gradient norm clipped at 1; greedy decoding.",
        "",
    ]
    (args.results / "seq2seq_length.md").write_text("\n".join(lines), encoding="utf-8")


def claim_lines(length_results: dict[str, list[dict]]) -> list[str]:
    """The claim of Cho 2014 / Bahdanau 2015 Fig. 2, read off the measured exact match."""
    trained = [index for index, (_, high) in enumerate(BUCKETS) if high <= 40]

    def exact(name: str, index: int) -> str:
        return f"{100 * length_results[name][index]['exact']:.1f}%"

    first, last = trained[0], trained[-1]
    attention = [name for name in length_results if name != "none"]
    worst = min(100 * length_results[name][index]["exact"] for name in attention for index in trained)
    beyond = ", ".join(f"{name} {exact(name, len(BUCKETS) - 1)}" for name in attention)
    return [
        "**The claim, measured.** Within the training lengths, the fixed-context model falls from"
        f" {exact('none', first)} exact match ({BUCKETS[first][0]}-{BUCKETS[first][1]} words) to"
        f" {exact('none', last)} ({BUCKETS[last][0]}-{BUCKETS[last][1]}), while every attention model stays at or"
        f" above {worst:.1f}% in every bucket up to 40 words. Past the longest training input (51-60 words:"
        f" {beyond}) the models extrapolate to lengths never trained on, and they differ. A likely reason,"
        " not tested here: the decoder's state has never counted that far, and attention whose query is that"
        " state before it reads (Bahdanau's s_{i-1}) or that predicts a position from it (local-p's"
        " p_t = S · sigmoid(...)) loses its place, while Luong's global attention from h_t keeps most of it."
        " BLEU shows that most output words stay right where exact match fails.",
        "",
    ]


def timing_cell(info: dict) -> str:
    if "wall_s" not in info:
        return "—"
    return f"{info['wall_s']:.0f} s / {info['cpu_s']:.0f} s, load {info['load_average']:.1f}"


if __name__ == "__main__":
    main()
