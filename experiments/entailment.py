"""Rocktäschel et al. 2016 on the generated inference set: the four readers (and two-way), compared.

Trains, on one CPU thread, through ``attnzoo.training.train`` with the registered presets
``independent``, ``conditional``, ``attention``, ``word-by-word`` and ``two-way`` on the same data
(the recipe's defaults: 20,000 generated pairs, premises of 1..3 clauses; the same seed, steps and
batch size for each), keeping each run's best validation. Then it measures, in-process:

- accuracy on ``test`` (in distribution) and on ``heldout`` (verbs, places and added colours never
  seen in training), and test accuracy by the premise's number of clauses;
- the word-by-word attention's alignment accuracy: of the hypothesis content words, the share whose
  most attended premise word is the generator's gold alignment (the goal: >= 85%);

and writes ``docs/results/entailment.md`` and ``docs/results/entailment.png`` (the word-by-word
attention of one test pair of each label: the paper's Figure 3). A run whose directory already
holds a model is not trained again (delete it to retrain); one whose directory exists without
weights is being trained by another process and is waited for (up to 40 minutes), so the slowest
run can be started beside the script:

    attnzoo train entailment --preset two-way --steps 2000 --val-every 400 --checkpoint-every 2000 \
        --threads 1 --out runs/entailment/two-way &

    nohup python experiments/entailment.py > runs/entailment.log 2>&1 &      # ~15 min of training

With ``--seeds`` it instead trains (or reuses) independent, conditional, attention and word-by-word at
seeds 0, 1 and 2 into ``runs/entailment-seeds/PRESET-seedN`` (seed 0 = the table's runs, retrained
identically: the same numbers) and writes ``docs/results/entailment_seeds.md``: the ordering goal
judged on the means over seeds, with the spread (~25 min of training at load ~4):

    nohup python experiments/entailment.py --seeds > runs/entailment-seeds.log 2>&1 &
    python experiments/entailment.py --steps 4 --out /tmp/smoke --results /tmp/smoke  # a smoke run
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from attnzoo.models.entailment.recipe import alignment_accuracy, predict
from attnzoo.recipes import count_parameters
from attnzoo.tasks.entailment import LABELS
from attnzoo.training import Run, train, train_once

ROOT = Path(__file__).resolve().parent.parent
PRESETS = ("independent", "conditional", "attention", "word-by-word", "two-way")
STEPS = 2_000  # optimiser steps of 64 pairs for every model (6.4 epochs of the 20,000 pairs)
SEED_PRESETS = PRESETS[:4]  # the models of the ordering goal, compared over seeds (--seeds)
SEEDS = (0, 1, 2)  # each seed draws other data (train, valid, test, held-out) and other initial weights
WAIT_MINUTES = 40  # how long to wait for a run that another process is training

REPORT = """# Entailment with attention (Rocktäschel et al. 2016) on generated data

Written by `experiments/entailment.py` (`python experiments/entailment.py`): each model is
`attnzoo train entailment --preset NAME --steps {steps}` (batches of 64, Adam 1e-3 with cosine decay,
weight decay 1e-4, embeddings and k = 64, dropout 0.1, seed 0), the best of {validations}
validations kept. Data: the recipe's generated set (`attnzoo.tasks.entailment`): 20,000 training
pairs, 2,000 test pairs, 2,000 held-out pairs whose verbs, places and added colours never occur in
training; premises of 1 to 3 clauses joined by "and" (6 to 29 words), the hypothesis about one
clause.

| model | parameters | test % | held-out % | test by clauses 1 / 2 / 3 % | alignment % test / held-out | train min |
| --- | ---: | ---: | ---: | --- | --- | ---: |
{rows}

Goals of the issue, as measured:

- the paper's ordering independent < conditional < attention <= word-by-word (test): **{ordering}**;
  on held-out: **{ordering_heldout}**;
- word-by-word >= 3 points above conditional: **{gap:+.2f} points on test, {gap_heldout:+.2f} on held-out**;
- word-by-word alignment accuracy >= 85%: **{alignment:.1f}%** (test content words: adjectives,
  colours, nouns, verbs, places whose gold premise word exists).

One seed per model here; [entailment_seeds.md](entailment_seeds.md) (`python experiments/entailment.py
--seeds`) trains the first four at seeds 0, 1, 2 (seed 0: these runs) and judges the ordering on the means;
[entailment_seeds_6000.md](entailment_seeds_6000.md) (`--seeds --steps 6000`) does the same with three times
the training.

{discussion}

Machine: {machine}; one torch thread per training (the trainer's optimisation time, validation
excluded); two-way trained beside the others (the command in the script's docstring), the others
one after another; the CPU was shared with other jobs (load average {load} as each run was
measured), so the times are indicative only.

The word-by-word attention of the first test pair of each label (`attnzoo plot RUN --picture attention`):

![word-by-word attention](entailment.png)
"""

SEEDS_REPORT = """# Entailment: the ordering of the readers over seeds

Written by `python experiments/entailment.py --seeds{steps_option}` (part of [entailment.md](entailment.md)): each
model is `attnzoo train entailment --preset NAME --steps {steps} --seed SEED` with the settings of the
main table (batches of 64, Adam 1e-3 with cosine decay, embeddings and k = 64, dropout 0.1, the best of
5 validations kept), at seeds {seeds}. A seed draws both the data (training, test and held-out pairs of
the generator) and the initial weights; seed 0 is the main table's setting.

| model | test % by seed | test mean ± sd [min, max] | held-out % by seed | held-out mean ± sd [min, max] |
| --- | --- | --- | --- | --- |
{rows}

Goals of the issue, judged on the means over seeds:

- independent < conditional < attention <= word-by-word (test): **{ordering}**;
  on held-out: **{ordering_heldout}**;
- word-by-word >= 3 points above conditional: **{gap:+.2f} points on test, {gap_heldout:+.2f} on held-out**.

Each step of the ordering, seed by seed (test): {steps_by_seed}. A step whose mean difference is smaller
than the spread between seeds (the standard deviations above) is not settled by three seeds.

Machine: {machine}; one torch thread per training, one training at a time, {minutes} min of
optimisation each (it varies with the other jobs on the shared CPU; load average {load} when the
script measured the runs, which may have been trained earlier by the same command).
"""


def measure(run: Run) -> dict[str, object]:
    """Accuracy (test, held-out, test by clauses) and alignment of a trained run."""
    model, task = run.load_model(), run.build_task()
    result: dict[str, object] = {"parameters": count_parameters(model)}
    for split in ("test", "heldout"):
        pairs = task.pairs[split]
        probabilities, weights = predict(model, pairs)
        right = probabilities.argmax(-1) == pairs.labels
        result[split] = float(right.float().mean() * 100)
        if weights is not None and weights.dim() == 3:
            result[f"{split}_alignment"] = alignment_accuracy(weights, pairs)
            scored = pairs.content & (pairs.alignment >= 0)  # (P, N)
            attended = pairs.premise.gather(1, weights.argmax(-1))  # (P, N) the most attended premise word
            result[f"{split}_on_is"] = float((attended == task.vocab.token_to_id("is"))[scored].float().mean() * 100)
            result[f"{split}_peak"] = float(weights.max(-1).values[scored].mean())
        if split == "test":
            clauses = torch.tensor([example.premise.count("and") + 1 for example in task.examples[split]])
            result["by_clauses"] = [float(right[clauses == n].float().mean() * 100) for n in (1, 2, 3)]
            result["by_label"] = [float(right[pairs.labels == label].float().mean() * 100) for label in range(3)]
    return result


def row(name: str, result: dict, minutes: float) -> str:
    alignment = "–"
    if "test_alignment" in result:
        alignment = f"{result['test_alignment']:.1f} / {result['heldout_alignment']:.1f}"
    clauses = " / ".join(f"{value:.1f}" for value in result["by_clauses"])
    return (
        f"| {name} | {result['parameters']:,} | {result['test']:.2f} | {result['heldout']:.2f} | {clauses} "
        f"| {alignment} | {minutes:.1f} |"
    )


def ordered(results: dict[str, dict], split: str) -> str:
    """Whether independent < conditional < attention <= word-by-word on ``split``, with the numbers."""
    values = [results[name][split] for name in PRESETS[:4]]
    holds = values[0] < values[1] < values[2] <= values[3]
    return ("met" if holds else "not met") + " (" + " / ".join(f"{value:.2f}" for value in values) + ")"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="the runs' directory (default: runs/entailment[-seeds])")
    parser.add_argument("--results", type=Path, default=ROOT / "docs" / "results", help="where to write md + png")
    parser.add_argument("--steps", type=int, default=STEPS, help="optimiser steps per model")
    parser.add_argument("--seeds", action="store_true", help="the seed comparison (entailment_seeds.md) instead")
    args = parser.parse_args()
    if args.seeds:
        compare_seeds(args.out or ROOT / "runs" / "entailment-seeds", args.results, args.steps)
        return
    args.out = args.out or ROOT / "runs" / "entailment"
    results, minutes, loads = {}, {}, []
    for name in PRESETS:
        path = args.out / name
        waited = 0
        while path.is_dir() and not (path / "model.safetensors").is_file() and waited < WAIT_MINUTES * 60:
            time.sleep(30)  # another process is training this run (e.g. the two-way command above)
            waited += 30
        if (path / "model.safetensors").is_file():
            run = Run(path)
        else:
            training = {"steps": args.steps, "val_every": max(1, args.steps // 5), "checkpoint_every": args.steps}
            run = train("entailment", path, preset=name, training=training, progress=False, threads=1, overwrite=True)
        minutes[name] = run.read_json("training.json")["done"]["seconds"] / 60  # the trainer's optimisation time
        loads.append(os.getloadavg()[0])
        results[name] = measure(run)
        print(name, minutes[name], results[name], flush=True)
    args.results.mkdir(parents=True, exist_ok=True)
    wbw = Run(args.out / "word-by-word")
    wbw.recipe().draw_attention(wbw.load_model(), wbw.build_task(), args.results / "entailment.png")
    text = REPORT.format(
        steps=args.steps,
        validations=5,
        rows="\n".join(row(name, results[name], minutes[name]) for name in PRESETS),
        ordering=ordered(results, "test"),
        ordering_heldout=ordered(results, "heldout"),
        gap=results["word-by-word"]["test"] - results["conditional"]["test"],
        gap_heldout=results["word-by-word"]["heldout"] - results["conditional"]["heldout"],
        alignment=results["word-by-word"]["test_alignment"],
        discussion=discussion(results),
        machine=f"{platform.machine()}, {os.cpu_count()} CPUs",
        load=", ".join(f"{load:.1f}" for load in loads),
    )
    (args.results / "entailment.md").write_text(text, encoding="utf-8")
    print(text)


def discussion(results: dict[str, dict]) -> str:
    """Test accuracy by gold label for every model, and where the word-by-word attention goes."""
    lines = ["Test accuracy by gold label (" + " / ".join(LABELS) + "):", ""]
    for name in PRESETS:
        lines.append(f"- {name}: " + " / ".join(f"{value:.1f}" for value in results[name]["by_label"]))
    wbw = results["word-by-word"]
    lines += [
        "",
        f"Where the word-by-word attention goes (test content words): {wbw['test_on_is']:.1f}% of them attend",
        'most to an "is" of the premise (the LSTM state that closes a clause\'s subject), and the largest',
        f"weight of a row is {wbw['test_peak']:.2f} on average: a soft spread over the premise, peaked on the",
        "states that close a clause's subject, rather than the aligned word; attention still raises the",
        "accuracy on premises of 2 and 3 clauses. [entailment_alignment.md](entailment_alignment.md)",
        "(`python experiments/entailment_alignment.py`) measures where the attention goes and what was tried.",
    ]
    return "\n".join(lines)


def compare_seeds(out: Path, results_dir: Path, steps: int) -> None:
    """Train (or reuse) each of :data:`SEED_PRESETS` at each of :data:`SEEDS` into ``out/PRESET-seedN``
    and write ``entailment_seeds.md`` (``entailment_seeds_STEPS.md`` for other steps than :data:`STEPS`): the
    test and held-out accuracy of every run, their mean and spread."""
    results: dict[str, list[dict]] = {name: [] for name in SEED_PRESETS}
    loads, minutes = [], []
    for seed in SEEDS:
        for name in SEED_PRESETS:
            training = {"steps": steps, "val_every": max(1, steps // 5), "checkpoint_every": steps, "seed": seed}
            run = train_once(
                "entailment", out / f"{name}-seed{seed}", preset=name, training=training, progress=False, threads=1
            )
            minutes.append(run.read_json("training.json")["done"]["seconds"] / 60)
            loads.append(os.getloadavg()[0])
            results[name].append(measure(run))
            print(name, seed, results[name][-1]["test"], results[name][-1]["heldout"], flush=True)
    rows = []
    for name in SEED_PRESETS:
        cells = [" / ".join(f"{result[split]:.2f}" for result in results[name]) for split in ("test", "heldout")]
        spreads = [spread([result[split] for result in results[name]]) for split in ("test", "heldout")]
        rows.append(f"| {name} | {cells[0]} | {spreads[0]} | {cells[1]} | {spreads[1]} |")
    means = {name: {split: mean_of(results[name], split) for split in ("test", "heldout")} for name in SEED_PRESETS}
    text = SEEDS_REPORT.format(
        steps=steps,
        steps_option="" if steps == STEPS else f" --steps {steps}",
        seeds=", ".join(map(str, SEEDS)),
        rows="\n".join(rows),
        ordering=ordered(means, "test"),
        ordering_heldout=ordered(means, "heldout"),
        gap=means["word-by-word"]["test"] - means["conditional"]["test"],
        gap_heldout=means["word-by-word"]["heldout"] - means["conditional"]["heldout"],
        steps_by_seed=steps_by_seed(results),
        minutes=f"{min(minutes):.1f} to {max(minutes):.1f}",
        machine=f"{platform.machine()}, {os.cpu_count()} CPUs",
        load=f"{min(loads):.1f} to {max(loads):.1f}",
    )
    results_dir.mkdir(parents=True, exist_ok=True)
    filename = "entailment_seeds.md" if steps == STEPS else f"entailment_seeds_{steps}.md"  # another length: its own
    (results_dir / filename).write_text(text, encoding="utf-8")
    print(text)


def steps_by_seed(results: dict[str, list[dict]]) -> str:
    """For each adjacent pair of :data:`SEED_PRESETS`: the mean test difference and on how many seeds it holds."""
    parts = []
    for low, high in zip(SEED_PRESETS, SEED_PRESETS[1:], strict=False):
        differences = [b["test"] - a["test"] for a, b in zip(results[low], results[high], strict=True)]
        strict = high != "word-by-word"  # the goal: attention <= word-by-word, the other steps strict
        holds = sum(d > 0 or (not strict and d >= 0) for d in differences)
        sign = "<" if strict else "<="
        mean = statistics.mean(differences)
        parts.append(f"{low} {sign} {high} on {holds} of {len(differences)} seeds (mean {mean:+.2f})")
    return "; ".join(parts)


def mean_of(results: list[dict], split: str) -> float:
    return statistics.mean(result[split] for result in results)


def spread(values: list[float]) -> str:
    """``mean ± sample standard deviation [min, max]``."""
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f} [{min(values):.2f}, {max(values):.2f}]"


if __name__ == "__main__":
    main()
