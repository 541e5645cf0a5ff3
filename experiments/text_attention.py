"""Attention for text classification: does it find the evidence? (HAN, structured and multi-dimensional attention)

Trains, on one CPU thread, through ``attnzoo.training.train`` with the registered presets:

- ``han`` (Yang et al. 2016), ``han --preset mean`` (HN-AVE) and ``han --preset flat`` (one bi-GRU
  with word attention) on generated reviews of 8-30 sentences, then measures accuracy and whether
  the attention's top sentence / word is gold evidence, by review length (test reviews of 8-15,
  16-30 and, beyond the training lengths, 31-60 and 61-120 sentences);
- ``self-attentive`` on feature routing: multi-dimensional attention (Shen et al. 2018), one scalar
  hop, r = 4 hops without and with Lin et al. 2017's penalty: accuracy, the marked tokens found,
  and the mean overlap between hops.

Writes ``docs/results/text_attention.md`` (the tables), ``text_attention.png`` (accuracy and
evidence by length), ``text_attention_evidence.png`` (one review: sentence bars and word
highlights, HAN's Fig. 5) and ``text_attention_hops.png`` (the hops over one routing example, Lin's
heat map). A run whose directory already holds a model is reused (delete it to retrain).

    nohup python experiments/text_attention.py > runs/text_attention.log 2>&1 &    # ~25 min
    python experiments/text_attention.py --scale 0.05 --out runs/text_smoke         # a smoke run
"""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path

import numpy as np
import torch

from attnzoo.training import Run, train

ROOT = Path(__file__).resolve().parent.parent
PENALTY_1 = {"problem": "routing", "penalty": 1.0}  # Lin et al.'s coefficient
RUNS = {  # name: (model, preset, optimiser steps (scaled by --scale), task and config settings over the preset's)
    "han": ("han", None, 800, {}, {}),
    "han-mean": ("han", "mean", 800, {}, {}),
    "han-flat": ("han", "flat", 800, {}, {}),
    "routing-multidim": ("self-attentive", "routing-multidim", 2000, {}, {}),
    "routing-scalar": ("self-attentive", "routing-scalar", 2000, {}, {}),
    "routing-hops": ("self-attentive", "routing-hops", 2000, {}, {}),
    "routing-hops-penalty": ("self-attentive", "routing-hops-penalty", 2000, {}, {}),
    "routing-hops-penalty-1": ("self-attentive", "routing-hops-penalty", 2000, PENALTY_1, {}),
    "routing-2hops-penalty-1": ("self-attentive", "routing-hops-penalty", 2000, PENALTY_1, {"hops": 2}),
}
HAN_RUNS = {"HAN (attention)": "han", "HN-AVE (mean pooling)": "han-mean", "flat bi-GRU + attention": "han-flat"}
ROUTING_RUNS = {
    "multi-dimensional": "routing-multidim",
    "scalar, 1 hop": "routing-scalar",
    "r = 4 hops, no penalty": "routing-hops",
    "r = 4 hops, penalty 0.1": "routing-hops-penalty",
    "r = 4 hops, penalty 1.0 (Lin's value)": "routing-hops-penalty-1",
    "r = 2 hops, penalty 1.0": "routing-2hops-penalty-1",
}
BUCKETS = ((8, 15), (16, 30), (31, 60), (61, 120))  # test review lengths in sentences (training: 8-30)
BUCKET_SIZE = 500  # test reviews per bucket

REPORT = """# Attention for text classification: does it find the evidence?

Written by `experiments/text_attention.py`{smoke}. Setup: `attnzoo.training.train`, batches of 64,
Adam (lr 2e-3, cosine decay), one torch thread, torch {torch}, Python {python}, {cpus} CPUs.
**The CPU was shared with other jobs**: the load averages (whole machine, from `metrics.csv`) are
in the tables; a wall-clock second buys less than a second of one core.

## Generated reviews (8-30 sentences; 1-3 evidence sentences set the 5-class rating)

{han_steps} steps of 64 reviews (10,000 training reviews), the weights of the best validation kept.
Test: {bucket_size} new reviews per length bucket (the model was trained on 8-30 sentences).
"evidence sentence": % of reviews whose most-attended sentence is gold evidence (goal >= 85%);
"polarity word": % of gold evidence sentences whose most-attended word is the polarity word
(goal >= 80%); "cue word": ... is the polarity word or a word that sets its meaning (`not`, `very`,
`for nothing`, `but`); "unmodified": the polarity word on the evidence sentences where it has no
modifier ("the food was good"). Mean pooling attends uniformly: its "top" sentence and word are the first (chance).

| model | wall min | load avg | valid acc. at step {first_step} | {bucket_header} | evidence sentence | polarity word \
| cue word | polarity word, unmodified |
| --- | ---: | ---: | ---: | {bucket_rule} | ---: | ---: | ---: | ---: |
{han_rows}

Accuracy (%) by review length (test) is in the middle columns; evidence, polarity and cue words
are measured on the test split of the training lengths (8-30 sentences). Evidence by length (HAN):

| measure | {length_header} |
| --- | {bucket_rule} |
{evidence_rows}

Reproduce one run: `attnzoo train han [--preset mean | --preset flat] --steps {han_steps} --threads 1 --out runs/han`,
then `attnzoo evaluate runs/han --split test --task min_sentences=31 --task max_sentences=60 --task eval_size=500`.

![accuracy and evidence found by review length](text_attention.png)

One test review (* = gold evidence; bars: sentence weights α_i; highlights: √α_i · α_it):

![HAN evidence](text_attention_evidence.png)

## Feature routing (label = colour of the colour-marked token + shape of the shape-marked token, mod 8)

{routing_steps} steps of 64 sequences of 10 tokens, the embedded feature bundles pooled directly
(`encoder=none`). "routed": % of test sequences whose top attended tokens include both marked tokens.
"overlap": mean over pairs of hops of `Σ_t min(A_it, A_jt)` (1 = the same tokens, 0 = disjoint).
For one hop, "routed" asks whether its two most attended tokens are the marked ones.
Goal: multi-dimensional >= 95%; overlap down >= 50% with the penalty. The penalty's coefficient
is 0.1 in the preset: with Lin et al.'s 1.0 (the last two rows) the penalty pushes the hops apart
before they find the marked tokens, and training stalls.

| model (preset) | wall min | load avg | accuracy % | routed % | overlap | penalty `‖AAᵀ−I‖²` |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
{routing_rows}

Overlap with the penalty: {overlap_change}.

Reproduce: `attnzoo train self-attentive --preset routing-multidim --steps {routing_steps} --threads 1 --out runs/r`
(presets `routing-scalar`, `routing-hops`, `routing-hops-penalty`), `attnzoo evaluate runs/r --split test`.

Hops over one test sequence, without (top) and with (bottom) the penalty:

![hops](text_attention_hops.png)
"""


def run(name: str, out: Path, scale: float) -> Run:
    """Train run ``name`` into ``out/name`` unless it is finished; return it."""
    model, preset, steps, task, config = RUNS[name]
    directory = out / name
    if (directory / "model.safetensors").is_file():
        print(f"{name}: already trained, {directory}")
        return Run(directory)
    steps = max(2, round(steps * scale))
    training = {"steps": steps, "val_every": max(1, steps // 4), "checkpoint_every": max(1, steps // 4)}
    print(f"{name}: training {model} (preset {preset}) for {steps} steps", flush=True)
    options = {"preset": preset, "task": task or None, "model": config or None, "training": training}
    return train(model, directory, **options, threads=1, progress=False, overwrite=True)


def timing(directory: Path) -> tuple[float, float]:
    """(wall minutes of training, mean load average) from a run's metrics.csv."""
    rows = Run(directory).metrics_rows()
    return float(rows[-1]["seconds"]) / 60, float(np.mean([float(row["load"]) for row in rows]))


def by_length(directory: Path) -> list[dict[str, float]]:
    """The test metrics of a HAN run on each length bucket."""
    run = Run(directory)
    return [
        run.evaluate(task_settings={"min_sentences": low, "max_sentences": high, "eval_size": BUCKET_SIZE})
        for low, high in BUCKETS
    ]


def plot_lengths(results: dict[str, list[dict]], path: Path) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4), layout="constrained")
    left, right = figure.subplots(1, 2)
    labels = [f"{low}-{high}" for low, high in BUCKETS]
    for label, rows in results.items():
        left.plot(labels, [row["accuracy"] for row in rows], marker="o", label=label)
    left.axvspan(-0.5, 1.5, color="grey", alpha=0.1, label="training lengths")
    left.set_xlabel("sentences per review")
    left.set_ylabel("test accuracy (%)")
    left.set_title("Accuracy by review length")
    left.legend()
    for key, label in (("evidence_sentence", "top sentence is evidence"), ("cue_word", "top word is a cue")):
        right.plot(labels, [row[key] for row in results["HAN (attention)"]], marker="o", label=f"HAN: {label}")
        right.plot(labels, [row[key] for row in results["flat bi-GRU + attention"]], marker="s", label=f"flat: {label}")
    right.set_ylim(0, 101)
    right.set_xlabel("sentences per review")
    right.set_ylabel("%")
    right.set_title("Evidence found by the attention")
    right.legend(fontsize=8)
    figure.savefig(path, dpi=120)


def han_section(out: Path, results: Path) -> dict[str, str]:
    lengths = {label: by_length(out / name) for label, name in HAN_RUNS.items()}
    rows = []
    for label, name in HAN_RUNS.items():
        minutes, load = timing(out / name)
        test = Run(out / name).evaluate()
        first = float(Run(out / name).metrics_rows()[0]["valid_accuracy"])
        accuracy = " | ".join(f"{row['accuracy']:.1f}" for row in lengths[label])
        rows.append(
            f"| {label} (`{name}`) | {minutes:.1f} | {load:.1f} | {first:.1f} | {accuracy} "
            f"| {test['evidence_sentence']:.1f} | {test['polarity_word']:.1f} | {test['cue_word']:.1f} "
            f"| {test['plain_polarity_word']:.1f} |"
        )
    evidence_rows = [
        f"| {measure} | " + " | ".join(f"{row[key]:.1f}" for row in lengths["HAN (attention)"]) + " |"
        for measure, key in (
            ("evidence sentence", "evidence_sentence"),
            ("polarity word", "polarity_word"),
            ("cue word", "cue_word"),
            ("polarity word, unmodified", "plain_polarity_word"),
        )
    ]
    plot_lengths(lengths, results / "text_attention.png")
    han = Run(out / "han")
    han.recipe().pictures()["evidence"](han.model, han.task, results / "text_attention_evidence.png")
    return {"han_rows": "\n".join(rows), "evidence_rows": "\n".join(evidence_rows)}


def routing_section(out: Path, results: Path) -> dict[str, str]:
    rows, overlaps = [], {}
    for label, name in ROUTING_RUNS.items():
        minutes, load = timing(out / name)
        test = Run(out / name).evaluate()
        overlaps[name] = test.get("overlap")
        overlap = f"{test['overlap']:.3f}" if "overlap" in test else "—"
        penalty = f"{test['penalty']:.3f}" if "penalty" in test else "—"
        rows.append(
            f"| {label} (`{name}`) | {minutes:.1f} | {load:.1f} | {test['accuracy']:.1f} | {test['routed']:.1f} "
            f"| {overlap} | {penalty} |"
        )
    before, after = overlaps["routing-hops"], overlaps["routing-hops-penalty"]
    change = f"{before:.3f} → {after:.3f}, down {(1 - after / before) * 100:.0f}%"
    draw_hops([out / "routing-hops", out / "routing-hops-penalty"], results / "text_attention_hops.png")
    return {"routing_rows": "\n".join(rows), "overlap_change": change}


def draw_hops(directories: list[Path], path: Path) -> None:
    """Both runs' hops over the first test sequence, one above the other."""
    from matplotlib.figure import Figure

    from attnzoo.models.self_attentive.recipe import predict
    from attnzoo.tasks.routing import describe_token

    figure = Figure(figsize=(9, 4.5), layout="constrained")
    for axis, directory in zip(figure.subplots(2, 1), directories, strict=True):
        run = Run(directory)
        inputs = run.task.split("test").inputs[:1]
        weights = predict(run.model, inputs).weights[0].numpy()
        image = axis.imshow(weights, cmap="Reds", vmin=0, vmax=1, aspect="auto")
        axis.set_xticks(range(inputs.size(1)), [describe_token(token) for token in inputs[0]], fontsize=7, rotation=30)
        axis.set_yticks(range(weights.shape[0]), [f"hop {r + 1}" for r in range(weights.shape[0])], fontsize=8)
        axis.set_title(f"{directory.name}: {int(run.task.split('test').labels[0])} = colour + shape mod 8", fontsize=9)
        figure.colorbar(image, ax=axis, fraction=0.02)
    figure.savefig(path, dpi=120)


def report(out: Path, scale: float) -> str:
    results = ROOT / "docs" / "results"
    results.mkdir(parents=True, exist_ok=True)
    labels = [f"{low}-{high}" for low, high in BUCKETS]
    text = REPORT.format(
        smoke=f" with `--scale {scale}` (a smoke run, not the result)" if scale != 1 else "",
        torch=torch.__version__,
        python=platform.python_version(),
        cpus=os.cpu_count(),
        han_steps=max(2, round(RUNS["han"][2] * scale)),
        first_step=max(1, max(2, round(RUNS["han"][2] * scale)) // 4),
        routing_steps=max(2, round(RUNS["routing-multidim"][2] * scale)),
        bucket_size=BUCKET_SIZE,
        bucket_header=" | ".join(f"acc. {label}" for label in labels),
        length_header=" | ".join(labels),
        bucket_rule=" | ".join("---:" for _ in labels),
        **han_section(out, results),
        **routing_section(out, results),
    )
    (results / "text_attention.md").write_text(text, encoding="utf-8")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "text_attention", help="run directories")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every step budget (0.05: smoke run)")
    parser.add_argument("--only", choices=sorted(RUNS), nargs="*", help="train only these runs, no report")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.only or RUNS:
        run(name, args.out, args.scale)
    if not args.only:
        print(report(args.out, args.scale))


if __name__ == "__main__":
    main()
