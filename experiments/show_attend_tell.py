"""Show, Attend and Tell (Xu et al. 2015) on generated scenes: soft and hard attention against none.

Trains, each on one CPU thread for the same wall-clock budget, through ``attnzoo.training.train``:

- ``no-attention``: Show and Tell (the image vector at the first step only);
- ``soft``: soft attention, the recipe's λ = 0 (no doubly stochastic term);
- ``hard``: hard attention trained by REINFORCE (§4.1) as the authors' code does (each sampled
  location rewarded by its own word's log-likelihood, λ_r = 0.1, λ_e = 0.002);
- ``hard-caption``: the same with the paper's caption-level reward (per word), λ_r = 1, λ_e = 0.01;
- ``soft-ds``: soft attention with the paper's doubly stochastic term, λ = 1 (eq. 14).

All train on reading-order captions (the task's default ``order``), see the model's README.

Then it measures each on the test scenes (600, 1-3 objects in equal shares) and on as many scenes
with held-out colour-shape pairs, and writes ``docs/results/show_attend_tell.md`` (BLEU-1..4, object
recall, BLEU-4 on 3-object scenes, attention correctness against the boxes, coverage) and
``docs/results/show_attend_tell.png`` / ``show_attend_tell_hard.png`` (each word's α over the
image, Figs. 2-3 style). A run whose directory holds a model is reused; a stopped one resumes.

    nohup python experiments/show_attend_tell.py --only hard soft no-attention soft-ds > runs/sat.log 2>&1 &
    python experiments/show_attend_tell.py          # trains what is missing, then the report
    python experiments/show_attend_tell.py --minutes 0.3 --out runs/sat_smoke   # a smoke run
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch

from attnzoo.models.show_attend_tell import measures
from attnzoo.recipes import count_parameters
from attnzoo.tasks import scenes
from attnzoo.training import Run, train_once

ROOT = Path(__file__).resolve().parent.parent
AUTHORS_CODE = {"reward": "word", "reward_weight": 0.1, "entropy_weight": 0.002}  # arctic-captions' REINFORCE
RUNS = {  # name: (preset, task overrides)
    "no-attention": ("no-attention", {}),
    "soft": ("soft", {}),
    "hard": ("hard", AUTHORS_CODE),
    "hard-caption": ("hard", {"reward": "caption", "reward_weight": 1.0, "entropy_weight": 0.01}),
    "soft-ds": ("soft", {"doubly_stochastic": 1.0}),
}
LABELS = {
    "no-attention": "no attention (Show and Tell)",
    "soft": "soft attention, λ = 0 (the recipe)",
    "hard": "hard attention (REINFORCE, word reward, λ_r = 0.1, λ_e = 0.002)",
    "hard-caption": "hard attention (REINFORCE, caption reward, λ_r = 1, λ_e = 0.01)",
    "soft-ds": "soft attention, λ = 1 (the paper's eq. 14)",
}
CAPTION_COLUMNS = ("bleu1", "bleu2", "bleu3", "bleu4", "object_recall", "bleu4_3objects")
ATTENTION_COLUMNS = ("correctness", "uniform", "argmax_in_box", "penalty", "max_coverage")

REPORT = """# Show, Attend and Tell: soft and hard attention on generated scenes

Xu et al. 2015. Written by `experiments/show_attend_tell.py`{smoke}

Data: `attnzoo.tasks.scenes`, 48 × 48 RGB scenes of 1-3 objects (6 shapes × 6 colours × 2
sizes) in a 3 × 3 layout, captions from a grammar naming every object and one relation, all
paraphrases (2 to 12 per scene) as references. New training scenes every epoch; 600 test scenes
(200 each with 1, 2, 3 objects) and 600 scenes with a held-out colour-shape pair (never in
training). Training captions: one random paraphrase among those naming the objects in reading
order (top row first, left to right; two per scene). Model: a 4-layer CNN (16-32-64-64, kernels
4-3-3-1, strides 2-3-1-1, padding (kernel − stride) / 2, batch normalisation: an 8 × 8 grid of
64-d annotations, annotation (r, c) centred on grid cell (r, c) and seeing 20 × 20 pixels; two
coordinate channels appended to the image), LSTM of 128, attention MLP of 64, deep output; greedy
decoding through `attnzoo.decoding`. Training: batches of 64, Adam 3e-3 with cosine decay, the
weights of the best validation BLEU-4 kept, **{minutes} wall-clock minutes per model on one
thread of a shared 2-core machine**, one model at a time (validation passes excluded; the load
averages below are the whole machine's: other jobs ran beside), torch {torch}, Python {python},
{cpus} CPUs.

| run | parameters | steps | scenes seen | weights kept (best validation BLEU-4) | load avg (mean) |
| --- | ---: | ---: | ---: | ---: | ---: |
{runs}

## Captions (greedy; BLEU by sacrebleu, corpus level)

In-distribution test scenes:

| model | BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | object recall | BLEU-4, 3 objects |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
{test}

Held-out colour-shape pairs (compositional split):

| model | BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | object recall | BLEU-4, 3 objects |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
{novel}

Object recall: the share of a scene's objects named with the right colour and shape.

## Where it looks (teacher-forced on caption 0 of each test scene)

| model | attention correctness | uniform α | argmax in box | penalty Σ_i (1 − Σ_t α_ti)² | largest Σ_t α_ti |
| --- | ---: | ---: | ---: | ---: | ---: |
{attention}

Attention correctness: for every word naming an object (its size, colour and shape words), the
share of α's mass inside that object's box, α spread evenly over its cell's 6 × 6 pixels; "uniform
α" is the box's share of the image, what a uniform α scores. Argmax in the box: how often the
centre of α's largest cell lies in the box (for hard attention: the location it uses at test
time). The coverage columns are those of eq. (14), per caption (lower penalty: α spread more evenly
over the image over the caption).

Attention correctness / argmax in the box, by the place in caption 0 of the object a word names
(the 200 3-object test scenes; caption 0 names the objects in reading order) and by the kind of
word (all test scenes):

| model | 1st object | 2nd object | 3rd object | size words | colour words | shape words |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
{places}

## Goals

{goals}

Soft attention (λ = 0), each word's α over the image (brightness) for 3-object test scenes:

![soft attention per word](show_attend_tell.png)

Hard attention: α (brightness) and the location it uses (the cross, α's argmax):

![hard attention per word](show_attend_tell_hard.png)

Reproduce: `python experiments/show_attend_tell.py` (runs under `runs/show_attend_tell/`).
"""


def run(name: str, out: Path, minutes: float, seed: int) -> Run:
    """Train run ``name`` into ``out/name`` (a finished run is reused, a stopped one resumed); return it."""
    preset, task = RUNS[name]
    print(f"{name}: preset {preset} {task}, {minutes:.1f} min of training", flush=True)
    every = 250 if minutes >= 2 else 20
    training = {"steps": 1_000_000, "minutes": minutes, "val_every": every, "checkpoint_every": every, "seed": seed}
    options = {"preset": preset, "task": task, "threads": 1, "progress": False}
    return train_once("show-attend-tell", out / name, training=training, **options)


def measure(directory: Path) -> dict[str, float]:
    """The test metrics (with ``novel_*``) of a finished run, and its steps, load and parameters."""
    run = Run(directory)
    recipe, model = run.recipe(), run.load_model()
    torch.manual_seed(0)
    metrics = recipe.evaluate(model, run.build_task(recipe), "test")
    rows = run.metrics_rows()
    steps = int(float(rows[-1]["step"])) if rows else 0
    load = float(np.mean([float(row["load"]) for row in rows])) if rows else float("nan")
    batch, kept = run.training().batch_size, run.read_json("metrics.json").get("kept_step")
    sizes = {"steps": steps, "scenes": steps * batch, "kept": kept, "parameters": count_parameters(model)}
    return {**metrics, **sizes, "load": load}


def where_it_looks(directory: Path) -> list[str]:
    """Attention correctness / argmax in the box of a run on the test scenes, for the words naming the
    1st, 2nd and 3rd object of caption 0 (3-object scenes), and for the size, colour and shape words:
    table cells. Each subset keeps its words' links in caption 0 and sets the others' to -1."""
    run = Run(directory)
    recipe, model = run.recipe(), run.load_model()
    task = run.build_task(recipe)
    items = task.split("test")
    forced = recipe.describe(model, task, items)["forced"]  # (T, L) each: caption 0 teacher-forced
    forced = np.stack([np.pad(item, ((0, max(len(f) for f in forced) - len(item)), (0, 0))) for item in forced])

    def place(item: scenes.Scene, position: int, link: int, nth: int) -> bool:
        named = list(dict.fromkeys(other for other in item.links[0] if other >= 0))  # objects in caption order
        return len(item.objects) == 3 and link == named[nth]

    def kind(item: scenes.Scene, position: int, link: int, words: Any) -> bool:
        return item.captions[0][position] in words

    tests = [(place, nth) for nth in range(3)] + [
        (kind, words) for words in (scenes.SIZES, scenes.COLOURS, scenes.SHAPES)
    ]
    shown = []
    for test, argument in tests:
        chosen = [
            dataclasses.replace(
                item,
                links=[
                    [
                        link if link >= 0 and test(item, t, link, argument) else -1
                        for t, link in enumerate(item.links[0])
                    ]
                ],
            )
            for item in items
        ]
        keep = [index for index, item in enumerate(chosen) if max(item.links[0]) >= 0]
        result = measures.attention_correctness(forced[keep], [chosen[index] for index in keep], task.image_size)
        shown.append(f"{result['correctness']:.3f} / {result['argmax_in_box']:.3f}")
    return shown


def cells(metrics: dict[str, float], columns: tuple[str, ...], prefix: str = "") -> str:
    """Table cells: BLEU and the penalty with one decimal, shares and coverage with three."""

    def shown(column: str) -> str:
        value = metrics.get(prefix + column)
        if value is None:
            return "–"
        return f"{value:.1f}" if column.startswith("bleu") or column == "penalty" else f"{value:.3f}"

    return " | ".join(shown(column) for column in columns)


def goals(results: dict[str, dict[str, float]]) -> str:
    """The issue's goals, each with the measured numbers and met / not met."""
    none, soft, ablated = results["no-attention"], results["soft"], results["soft-ds"]

    def verdict(ok: bool) -> str:
        return "**met**" if ok else "**not met**"

    lines = [
        f"- {LABELS[name]} beats no attention by >= 5 BLEU-4 on 3-object scenes: "
        f"{results[name]['bleu4_3objects']:.1f} against {none['bleu4_3objects']:.1f} "
        f"({results[name]['bleu4_3objects'] - none['bleu4_3objects']:+.1f}): "
        f"{verdict(results[name]['bleu4_3objects'] - none['bleu4_3objects'] >= 5)}."
        for name in ("soft", "hard", "hard-caption")
    ]
    lines += [
        f"- {LABELS[name]}: argmax inside the named object's box >= 70%: "
        f"{100 * results[name]['argmax_in_box']:.1f}%: {verdict(results[name]['argmax_in_box'] >= 0.7)}."
        for name in ("hard", "hard-caption")
    ]
    lines += [
        f"- Soft attention correctness >= 0.6 (uniform {soft['uniform']:.3f}): {soft['correctness']:.3f}: "
        f"{verdict(soft['correctness'] >= 0.6)}.",
        f"- The doubly stochastic term's effect on coverage: penalty {ablated['penalty']:.1f} with λ = 1 against "
        f"{soft['penalty']:.1f} with λ = 0, largest Σ_t α_ti {ablated['max_coverage']:.2f} against "
        f"{soft['max_coverage']:.2f}; attention correctness {ablated['correctness']:.3f} against "
        f"{soft['correctness']:.3f}, BLEU-4 {ablated['bleu4']:.1f} against {soft['bleu4']:.1f}.",
    ]
    return "\n".join(lines)


def report(out: Path, minutes: float, smoke: bool) -> str:
    results_dir = ROOT / "docs" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    results = {name: measure(out / name) for name in RUNS}
    for name, picture in (("soft", "show_attend_tell.png"), ("hard", "show_attend_tell_hard.png")):
        run = Run(out / name)
        recipe = run.recipe()
        recipe.draw_words(run.load_model(), run.build_task(recipe), results_dir / picture)
    text = REPORT.format(
        smoke=f" with `--minutes {minutes}` (a smoke run, not the result)." if smoke else ".",
        minutes=minutes,
        torch=torch.__version__,
        python=platform.python_version(),
        cpus=os.cpu_count(),
        runs="\n".join(
            f"| {LABELS[name]} | {r['parameters']:,} | {r['steps']:,} | {r['scenes']:,} | step {r['kept']} "
            f"| {r['load']:.1f} |"
            for name, r in results.items()
        ),
        test="\n".join(f"| {LABELS[name]} | {cells(r, CAPTION_COLUMNS)} |" for name, r in results.items()),
        novel="\n".join(f"| {LABELS[name]} | {cells(r, CAPTION_COLUMNS, 'novel_')} |" for name, r in results.items()),
        attention="\n".join(
            f"| {LABELS[name]} | {cells(r, ATTENTION_COLUMNS)} |" for name, r in results.items() if "correctness" in r
        ),
        goals=goals(results),
        places="\n".join(
            f"| {LABELS[name]} | " + " | ".join(where_it_looks(out / name)) + " |"
            for name in ("soft", "hard", "hard-caption", "soft-ds")
        ),
    )
    (results_dir / "show_attend_tell.md").write_text(text, encoding="utf-8")
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "show_attend_tell", help="run directories")
    parser.add_argument("--minutes", type=float, default=10.0, help="wall-clock training minutes per model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=sorted(RUNS), nargs="*", help="train only these runs, no report")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.only or RUNS:
        run(name, args.out, args.minutes, args.seed)
    if not args.only:
        print(report(args.out, args.minutes, smoke=args.minutes < 2))


if __name__ == "__main__":
    main()
