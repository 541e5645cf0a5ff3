"""Visual question answering on generated scenes: baseline, stacked attention (1 and 2 hops), and
parallel / alternating co-attention, measured against the generator's ground truth.

Trains, on one CPU thread, through ``attnzoo.training.train`` with the five registered presets of
``vqa`` (batches of 32, Adam at 2e-3 with a cosine schedule, the weights of the best validation
kept), each for the same wall-clock budget, then evaluates each on the 2,000 test questions (the
five kinds in equal shares) and writes ``docs/results/vqa.md`` (accuracy by question category;
image attention mass on the gold objects and the question attention's top word against the gold
keywords, per hop and level; the issue's goals), ``docs/results/vqa.png`` (co-attention: image
maps and question-word bars per level for one test question of each kind) and
``docs/results/vqa_san.png`` (the two hops of stacked attention on the same questions).

A run whose directory already holds a model is not trained again (delete it to retrain); an
interrupted run resumes from its checkpoint. ``--only`` trains some presets (two shells can train
two at once); the report is written once all five are trained. ``--side-form yes-no`` asks the side
questions in the earlier yes / no form (the default is Sort-of-CLEVR's "left or right" choice).

    nohup python experiments/vqa.py > runs/vqa.log 2>&1 &          # 5 x 11 min of training
    python experiments/vqa.py --scale 0.01 --out runs/vqa_smoke     # a quick smoke run
"""

from __future__ import annotations

import argparse
import platform
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from attnzoo.models.vqa.recipe import gold_regions, images_and_texts
from attnzoo.recipes import count_parameters
from attnzoo.tasks import questions
from attnzoo.training import Run, train_once

ROOT = Path(__file__).resolve().parent.parent
PRESETS = ("baseline", "san-1", "san-2", "coatt-parallel", "coatt-alternating")
SANS = ("san-1", "san-2")  # trained on three seeds for the hops comparison
MINUTES = 14.0  # wall-clock minutes of optimisation per preset at most (scaled by --scale)
STEPS = 6_000  # and at most this many steps (scaled by --scale): equal steps for every model, whatever the load
CPU_FILE = "cpu_minutes.txt"  # the CPU minutes a training took (beside its run; wall minutes are the budget)
VAL_EVERY = 250  # optimiser steps between validations (500 questions)
VARIANTS = {  # runs beyond the presets: (preset, model overrides, added to the seed)
    "san-1-no-object-loss": ("san-1", {"object_loss": 0.0}, 0),
    "coatt-alternating-no-object-loss": ("coatt-alternating", {"object_loss": 0.0}, 0),
    **{f"{hops}-seed{k}": (hops, {}, k) for hops in SANS for k in (1, 2)},  # the hops, on 3 seeds
}
MAPS = {  # preset: its image maps (and question maps for co-attention), as metric suffixes
    "baseline": (),
    "san-1": ("hop1",),
    "san-2": ("hop1", "hop2"),
    "coatt-parallel": ("word", "phrase", "question"),
    "coatt-alternating": ("word", "phrase", "question"),
    "san-1-no-object-loss": ("hop1",),
    **{f"san-{hops}-seed{k}": ("hop1", "hop2")[:hops] for hops in (1, 2) for k in (1, 2)},
    "coatt-alternating-no-object-loss": ("word", "phrase", "question"),
}

REPORT = """# Visual question answering: stacked attention and co-attention

Yang et al. 2016 (SAN), Lu et al. 2016 (hierarchical co-attention). Written by `experiments/vqa.py`{smoke}

Setup: `attnzoo.training.train` with the presets of `vqa`, each for {steps:,} steps or {minutes:g}
wall-clock minutes of optimisation (validation excluded), whichever comes first, batches of 32
new examples (a 64 × 64 scene of 4-6 objects and one question; the five kinds in equal shares),
Adam at a constant 2e-3, the weights of the best validation (500 questions) kept; one torch
thread, torch {torch}, Python {python}, {cpus} CPUs, two trainings at a time. The load averages
are the whole machine's (the CPU minutes each training process got are in the table).

Every preset trains with the **object loss** (`object_loss=1`, the model's docstring): a linear
classifier on each region vector names the colour and shape of the object in that cell, standing
in for the papers' ImageNet-trained CNN. It teaches the encoder what the objects are, not where
to look: the attention learns from the answer alone. The two `-no-object-loss` rows are the
ablation, trained from the answer alone as the earlier version of this table was (where no model
left chance on the non-relational questions in 4,000 steps).

Test: {test} questions ({per_kind} of each kind: shape and side are non-relational, closest and
furthest relational, and count).

Side questions in the **{side_form}** form (`side_form`). {side_note}

## Accuracy by question category (test)

| model | params | steps | CPU min | load | kept | all | non-rel. | rel. | count | shape, side | closest, furthest |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
{accuracy_rows}

Load: the machine's load average during the run, mean / max. Chance: non-relational about 0.42
(a third of shapes, half of the sides), relational about 0.25,
count about 0.3 (the most common count).

## Attention against the ground truth (test)

Image mass: the share of an image map's attention on the regions (of 4 × 4, one per cell of the
scenes' layout) that overlap a gold object's box: on the non-relational questions (one gold object
in one region: a uniform map puts 1/16 = 0.06 there), on each kind of question (relations: the
named and the answer object; counts: every counted object), and on all questions with a gold
object. Top word: the share of questions whose most attended word is a gold keyword (the colour
or shape word naming the queried object).

| model | map | mass: non-rel. | shape | side | closest | furthest | count | all | top word = keyword |
| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
{attention_rows}

Where the image mass goes, per kind of question ({mass_model}, map {mass_map}: the share on the
gold objects' regions, on the other objects' regions, on the empty regions; a uniform map puts
about 1/16 per object):

| kind | gold objects | other objects | empty regions |
| --- | ---: | ---: | ---: |
{mass_split}

Where the question attention goes instead (the most common top words of the question-level map,
test, with their share of the questions of that kind): {top_words}

## The issue's goals

{goals}

Reading the tables:

{side_reading}
- *Shape* questions are where attention is read cleanly: the attention models answer them (the
  *shape* accuracy column, against the baseline's), and their image maps put most of their mass on
  the named object (the *shape* mass column).
- *Hops*: one hop already answers most *closest* questions: the CNN's receptive field spans
  the neighbouring cells, so a region can say "next to a blue square" by itself. Read the hops
  goal per seed, not only by its mean: a mean can rest on one 1-hop run that did not learn the
  *closest* questions (the *closest* column of the seed rows). Runs that hit the wall-clock limit
  before 6,000 steps (the *steps* column; the machine was shared, see *load*) trained less.
- *Question maps*: the co-attention's question attention peaks on the words that say what to
  answer, or on function words (see the top words above), more often than on the colour word that
  names the object, which the gold keywords are.

Co-attention, one test question of each kind (white boxes: the gold objects; the image maps per
level, then the question attention per level):

![co-attention maps](vqa.png)

Stacked attention, the same questions (the two hops):

![stacked attention hops](vqa_san.png)

Reproduce: `python experiments/vqa.py` (runs under `runs/vqa/`; a finished run is reused).
"""


SIDE_READINGS = {
    "choice": """- *Side* questions (choice form: "is the green object on the left or the right") need the named
  object's position along the axis the question names: the SAN's linear answer layer reads it off
  the attended region's coordinate tags once the question vector says which axis, so the stacked
  attention models answer them (the *side* accuracy column) and their maps land on the named object
  (the *side* mass column; in the yes-no form, at chance, the mass there was near a uniform map's
  0.06). Co-attention, whose answer (eq. 7) sums the attended question and image vectors through
  tanh layers, did not learn them in these runs (see the *side* column).""",
    "yes-no": """- *Side* questions (yes-no form: "is the green object on the left") need an exclusive-or of a
  question word (left or right, top or bottom) and the attended object's position, and neither
  alone says anything about it. The SAN's answer is linear in `u = v_Q + ṽ` (eq. 19), and a
  linear function of a sum cannot compute an exclusive-or at all; co-attention's eq. 7 stacks
  tanh layers and could, but from the answer alone it found no gradient towards it in the
  earlier runs: every model was at chance on them.""",
}
SIDE_NOTES = {
    "choice": 'They changed form: they were asked yes / no ("is the green object on the left"), whose '
    "answer, an exclusive-or of the asked side and the object's position, the SAN's linear answer layer "
    "(eq. 19) cannot read off the attended region; they are now Sort-of-CLEVR's (Santoro et al. 2017, §4): "
    '"is the green object on the left or the right" -> left / right (the vertical ones: top / bottom). '
    "In the yes-no form (the earlier version of this file, `--side-form yes-no`), every model was at "
    "chance on side questions (0.47-0.51), the best model (san-2) put 0.453 of its best map on the "
    "non-relational questions' object (0.826 on shape, 0.080 on side questions), 2 hops trailed 1 on "
    "relational questions by 1.7 points (mean of 3 seeds), and the best question top word = keyword "
    "was 0.375.",
    "yes-no": 'The earlier form ("is the green object on the left" -> yes / no); the default is '
    'Sort-of-CLEVR\'s choice ("... on the left or the right" -> left / right).',
}


def run(preset: str, out: Path, minutes: float, seed: int, side_form: str = "choice") -> Run:
    """Train ``preset`` into ``out/preset`` unless it is finished (resuming a stopped one); return it."""
    directory = out / preset
    if (directory / "model.safetensors").is_file():  # reused as it is, with the CPU minutes it recorded
        print(f"{preset}: already trained, {directory}")
        return Run(directory)
    print(f"{preset}: training for {minutes:.2f} min", flush=True)
    base, model, offset = VARIANTS.get(preset, (preset, {}, 0))
    every = max(1, round(VAL_EVERY * min(minutes / MINUTES * 10, 1)))
    steps = max(1, round(STEPS * minutes / MINUTES))
    training = {"steps": steps, "minutes": minutes, "schedule": "constant", "val_every": every, "seed": seed + offset}
    start = time.process_time()
    options = {"preset": base, "model": model, "task": {"side_form": side_form}, "threads": 1, "progress": False}
    trained = train_once("vqa", directory, training=training | {"checkpoint_every": every}, **options)
    (directory / CPU_FILE).write_text(f"{(time.process_time() - start) / 60:.2f}\n")  # this process's CPU time
    return trained


def measure(directory: Path) -> dict:
    """Test metrics of a finished run, with its steps, load and kept step from ``metrics.csv``."""
    run_ = Run(directory)
    model, recipe = run_.load_model(), run_.recipe()
    metrics = recipe.evaluate(model, run_.build_task(recipe), "test")
    rows = [{key: float(value) for key, value in row.items() if value != ""} for row in run_.metrics_rows()]
    loads = [row["load"] for row in rows if "load" in row]
    kept = max(rows, key=lambda row: row.get("valid_accuracy", -1))
    return {
        **metrics,
        "parameters": count_parameters(model),
        "steps": int(rows[-1]["step"]),
        "load": f"{np.mean(loads):.1f} / {np.max(loads):.1f}",
        "kept": int(kept["step"]),
        "cpu": float((directory / CPU_FILE).read_text()) if (directory / CPU_FILE).is_file() else float("nan"),
    }


def tables(results: dict[str, dict]) -> tuple[str, str]:
    """The accuracy rows and the attention rows."""
    accuracy, attention = [], []
    for preset, m in results.items():
        accuracy.append(
            f"| {preset} | {m['parameters']:,} | {m['steps']:,} | {m['cpu']:.1f} | {m['load']} | {m['kept']:,} "
            f"| {m['accuracy']:.3f} | {m['accuracy_nonrel']:.3f} | {m['accuracy_rel']:.3f} "
            f"| {m['accuracy_count']:.3f} | {m['accuracy_shape']:.2f}, {m['accuracy_side']:.2f} "
            f"| {m['accuracy_closest']:.2f}, {m['accuracy_furthest']:.2f} |"
        )
        for name in MAPS[preset]:
            keyword = f"{m[f'keyword_{name}']:.3f}" if f"keyword_{name}" in m else "–"
            masses = [m[f"mass_{group}{name}"] for group in ("nonrel_", *(f"{k}_" for k in questions.KINDS), "")]
            attention.append(f"| {preset} | {name} | {' | '.join(f'{x:.3f}' for x in masses)} | {keyword} |")
    return "\n".join(accuracy), "\n".join(attention)


def goals(results: dict[str, dict]) -> str:
    """The issue's goals, each as measured and met or not."""

    def verdict(ok: bool) -> str:
        return "**met**" if ok else "**not met**"

    best_san = max(("san-1", "san-2"), key=lambda p: results[p]["accuracy_nonrel"])
    names = {k: ("san-1", "san-2") if k == 0 else (f"san-1-seed{k}", f"san-2-seed{k}") for k in (0, 1, 2)}
    seeds = [k for k, pair in names.items() if all(name in results for name in pair)]  # those trained for both
    one, two = ([results[names[k][h]]["accuracy_rel"] for k in seeds] for h in (0, 1))
    gain = results[best_san]["accuracy_nonrel"] - results["baseline"]["accuracy_nonrel"]
    hops, ahead, listed = np.mean(two) - np.mean(one), sum(b > a for a, b in zip(one, two, strict=True)), len(seeds)
    best, index = best_map(results)
    mass_name = MAPS[best][index]
    mass = results[best][f"mass_nonrel_{mass_name}"]
    keywords = {(p, n): results[p][f"keyword_{n}"] for p in PRESETS for n in MAPS[p] if f"keyword_{n}" in results[p]}
    (keyword_model, keyword_map), keyword = max(keywords.items(), key=lambda item: item[1])
    parallel, alternating = results["coatt-parallel"], results["coatt-alternating"]
    return "\n".join(
        [
            f"- Spatial attention beats the baseline by >= 15 points on non-relational questions: {best_san} "
            f"{results[best_san]['accuracy_nonrel']:.3f} against {results['baseline']['accuracy_nonrel']:.3f}, "
            f"{100 * gain:+.1f} points: {verdict(gain >= 0.15)}.",
            f"- 2 hops beat 1 hop on relational questions (seeds {', '.join(map(str, seeds))}, each on its own seed's "
            f"test questions): {' / '.join(f'{x:.3f}' for x in two)} against {' / '.join(f'{x:.3f}' for x in one)}, "
            f"mean {100 * hops:+.1f} points, ahead on {ahead} of {listed} "
            f"seeds: {verdict(hops > 0)}.",
            f"- Image attention mass on the queried object >= 0.7 for the best model ({best}, by test accuracy): "
            f"its best map ({mass_name}) puts {mass:.3f} on the object of the non-relational questions "
            f"({results[best][f'mass_shape_{mass_name}']:.3f} on shape questions, "
            f"{results[best][f'mass_side_{mass_name}']:.3f} on side questions): {verdict(mass >= 0.7)}.",
            f"- Question attention's top word = gold keyword >= 80%: best {keyword:.3f} ({keyword_model}, "
            f"{keyword_map} level): {verdict(keyword >= 0.8)}.",
            f"- Parallel vs alternating co-attention, side by side: accuracy {parallel['accuracy']:.3f} / "
            f"{alternating['accuracy']:.3f} (non-relational {parallel['accuracy_nonrel']:.3f} / "
            f"{alternating['accuracy_nonrel']:.3f}, relational {parallel['accuracy_rel']:.3f} / "
            f"{alternating['accuracy_rel']:.3f}, count {parallel['accuracy_count']:.3f} / "
            f"{alternating['accuracy_count']:.3f}).",
        ]
    )


def top_words(directory: Path) -> str:
    """The two most common top words of a co-attention run's question-level map on each kind of test question."""
    run_ = Run(directory)
    model, recipe = run_.load_model(), run_.recipe()
    task = run_.build_task(recipe)
    items = task.split("test")
    weights = recipe.run_model(model, task, *images_and_texts(items)).question_weights[:, -1]  # (n, T)
    parts = []
    for kind in questions.KINDS:
        asked = [(i, item) for i, item in enumerate(items) if item.question.kind == kind]
        counts = Counter(item.question.words[int(weights[i].argmax())] for i, item in asked)
        shares = ", ".join(f"*{word}* {count / len(asked):.0%}" for word, count in counts.most_common(2))
        parts.append(f"{kind}: {shares}")
    return "; ".join(parts) + "."


def mass_split(directory: Path, map_index: int) -> str:
    """Rows of the table of where an image map's mass goes on each kind of test question: on the gold
    objects' regions, on the other objects' regions, on the empty regions."""
    run_ = Run(directory)
    model, recipe = run_.load_model(), run_.recipe()
    task = run_.build_task(recipe)
    items = task.split("test")
    maps = recipe.run_model(model, task, *images_and_texts(items)).image_weights[:, map_index].numpy()  # (n, N)
    size, grid, shares = model.config.image_size, model.config.grid, {}
    for i, item in enumerate(items):
        gold = gold_regions(item.objects, item.question.objects, size, grid)
        objects = gold_regions(item.objects, tuple(range(len(item.objects))), size, grid)
        split = (maps[i][gold].sum(), maps[i][objects & ~gold].sum(), maps[i][~objects].sum())
        shares.setdefault(item.question.kind, []).append(split)
    rows = [(kind, np.mean(shares[kind], axis=0)) for kind in questions.KINDS]
    return "\n".join(f"| {kind} | {' | '.join(f'{x:.3f}' for x in split)} |" for kind, split in rows)


def best_map(results: dict[str, dict]) -> tuple[str, int]:
    """The best attention model by test accuracy, and the index of its map with the most mass on the
    non-relational questions' object."""
    best = max((p for p in PRESETS if MAPS[p]), key=lambda p: results[p]["accuracy"])
    return best, max(range(len(MAPS[best])), key=lambda m: results[best][f"mass_nonrel_{MAPS[best][m]}"])


def draw(directory: Path, path: Path) -> None:
    """The run's attention picture (one test question of each kind) to ``path``."""
    run_ = Run(directory)
    recipe = run_.recipe()
    recipe.pictures()["attention"](run_.load_model(), run_.build_task(recipe), path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "vqa")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the training minutes (smoke runs)")
    parser.add_argument("--only", nargs="*", choices=[*PRESETS, *VARIANTS], help="train only these presets (no report)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--side-form", choices=questions.SIDE_FORMS, default="choice", help="the side questions' form")
    arguments = parser.parse_args()
    torch.set_num_threads(1)
    for preset in arguments.only or (*PRESETS, *VARIANTS):
        run(preset, arguments.out, MINUTES * arguments.scale, arguments.seed, arguments.side_form)
    if arguments.only:
        return
    results = {preset: measure(arguments.out / preset) for preset in (*PRESETS, *VARIANTS)}
    smoke = arguments.scale != 1.0
    results_dir = arguments.out / "results" if smoke else ROOT / "docs" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    draw(arguments.out / "coatt-alternating", results_dir / "vqa.png")
    draw(arguments.out / "san-2", results_dir / "vqa_san.png")
    accuracy_rows, attention_rows = tables(results)
    mass_model, mass_map = best_map(results)
    text = REPORT.format(
        smoke=f" (smoke run, --scale {arguments.scale})" if smoke else "",
        minutes=MINUTES * arguments.scale,
        steps=max(1, round(STEPS * arguments.scale)),
        torch=torch.__version__,
        python=platform.python_version(),
        cpus=__import__("os").cpu_count(),
        test=len(Run(arguments.out / "baseline").build_task().split("test")),
        per_kind=len(Run(arguments.out / "baseline").build_task().split("test")) // 5,
        accuracy_rows=accuracy_rows,
        attention_rows=attention_rows,
        goals=goals(results),
        side_form=arguments.side_form,
        side_note=SIDE_NOTES[arguments.side_form],
        side_reading=SIDE_READINGS[arguments.side_form],
        mass_model=mass_model,
        mass_map=MAPS[mass_model][mass_map],
        mass_split=mass_split(arguments.out / mass_model, mass_map),
        top_words=f"coatt-alternating: {top_words(arguments.out / 'coatt-alternating')}",
    )
    (results_dir / "vqa.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
