"""ConvS2S (Gehring et al. 2017) on dates and on a reordering task: attention in every decoder layer
against the top layer only, each layer's alignment against the gold one, and training / decoding
speed against the library's Bahdanau model and Transformer.

1. Trains ``convs2s --preset matched`` (about 140k parameters) with attention in all 3 decoder
   layers and in the top one only (``--set attention_layers=top``) on the dates task (the
   translation recipe's defaults: 20,000 generated dates, characters) for the same steps and seed,
   on one CPU thread, through ``attnzoo.training.train``; scores the 2,000 test dates (exact match,
   as ``attnzoo evaluate RUN --split test``), and draws the every-layer run's alignment of each
   decoder layer (``attnzoo plot RUN --picture layers``).
2. Speed, in this process, one thread, untrained models in two pairs of about equal parameters
   (``convs2s --preset matched`` and ``seq2seq --preset bahdanau``; ``convs2s`` and
   ``transformer`` at their defaults): training throughput (target tokens per second of forward +
   backward + Adam step on batches of 128 dates) and greedy decoding throughput (generated tokens
   per second, batches of 128) of ``convs2s``, ``seq2seq --preset bahdanau`` and ``transformer``.

3. The same two models on the generated reordering task (``--kind reorder``: SVO → SOV with
   adjective–noun swap, 3 to 40 source words, gold alignments from the generator,
   :mod:`attnzoo.tasks.reorder`): exact match and BLEU of the 2,000 test sentences by source
   length; for each decoder layer, the share of target words whose most-attended source word is
   the gold one (teacher-forced on the reference), and the mean attention weight on it. Picture:
   the every-layer run's attention of each decoder layer on a long test sentence, and the gold one.

Writes ``docs/results/convs2s.md`` and ``docs/results/convs2s.png`` (reordering) and
``docs/results/convs2s_dates.png``. A run whose directory already holds a model is not trained
again; ``--train RUN`` trains one run and stops (to train two at once on two cores):

    nohup python experiments/convs2s.py --train reorder-all > runs/convs2s-reorder-all.log 2>&1 &
    nohup python experiments/convs2s.py > runs/convs2s.log 2>&1 &
    python experiments/convs2s.py --steps 2 --speed-steps 2 --out /tmp/smoke --results /tmp/smoke  # a smoke run
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import torch

from attnzoo.models.convs2s.recipe import alignment_scores
from attnzoo.recipes import count_parameters
from attnzoo.recipes.translation import bleu_chrf, decode_dataset, exact_match
from attnzoo.registry import create_model, load_recipe
from attnzoo.tasks.reorder import reorder_splits
from attnzoo.training import Run, train

ROOT = Path(__file__).resolve().parent.parent
STEPS = {"dates": 800, "reorder": 1000}  # optimiser steps of 128 pairs for each ConvS2S run, per task
REORDER_MAX_LEN = 40  # longest reordering source, in training and test (words)
TASKS = {"dates": {}, "reorder": {"kind": "reorder", "train_max_len": REORDER_MAX_LEN, "test_max_len": REORDER_MAX_LEN}}
LOAD_FILE = "load_at_end.txt"  # written into a run directory when its training ends: the 1-minute load average
LAYERS = {"all": "every layer", "top": "top layer only"}
SHORT_BUDGETS, SHORT_SEEDS = (150, 250, 400), (0, 1, 2)  # reordering runs stopped early: steps; one pair per seed
RUNS = [f"{task}-{layers}" for task in TASKS for layers in LAYERS] + [  # dates-all, ..., reorder-all-150steps-seed0
    f"reorder-{layers}-{steps}steps-seed{seed}" for steps in SHORT_BUDGETS for seed in SHORT_SEEDS for layers in LAYERS
]
BUCKETS = ((3, 10), (11, 25), (26, REORDER_MAX_LEN))  # source lengths (words) of the reordering tables
SPEED_MODELS = {  # label: (model, preset); in pairs of about equal parameters
    "convs2s --preset matched": ("convs2s", "matched"),
    "seq2seq --preset bahdanau": ("seq2seq", "bahdanau"),
    "convs2s": ("convs2s", None),
    "transformer": ("transformer", None),
}

REPORT = """# ConvS2S on dates and on reordering: multi-step attention, alignments, and speed

Written by `experiments/convs2s.py` (`python experiments/convs2s.py`).

## Dates: attention in every decoder layer against the top layer only (Table 4's question)

`attnzoo train convs2s --preset matched [--set attention_layers=top] --steps {dates_steps}` (the
translation recipe's dates task: 20,000 generated dates, characters; batches of 128, Adam 3e-3 with
cosine decay; embeddings 40, 48 channels, 4 encoder + 3 decoder layers, kernel 3, dropout 0.1),
then the 2,000 test dates decoded greedily:

| model | parameters | test exact match % | test token accuracy % | train min (wall) |
| --- | ---: | ---: | ---: | ---: |
{dates_rows}

Goal "dates >= 99% exact match": **{dates_goal}**.

## Reordering: SVO → SOV with adjective–noun swap, by source length

`attnzoo train convs2s --preset matched --kind reorder --train-max-len {max_len} --test-max-len {max_len}
--steps {reorder_steps} [--set attention_layers=top]` (20,000 generated sentences of 3 to {max_len} words,
one to several clauses joined by *and* / *but*, `the big dog sees a small cat` → `THE DOG BIG A CAT
SMALL SEES`; same model sizes and training as on dates), then the 2,000 test sentences (none seen in
training) decoded greedily; BLEU is sacrebleu's corpus BLEU of each length bucket:

| model | source words | test sentences | exact match % | BLEU | train min (wall) |
| --- | --- | ---: | ---: | ---: | ---: |
{reorder_rows}

Goal "every-layer attention ahead of top-only on sentences > 25 tokens": **{reorder_goal}**.

### Stopped early: {short_steps} steps, three seeds

The same two models stopped after {short_steps} steps (batches of 128, the learning rate's cosine decay
planned over those steps; a seed draws other sentences and other initial weights; each pair is scored
on its own seed's 2,000 test sentences), test exact match %:

| steps | attention in | seed | {buckets} | all |
| ---: | --- | ---: | ---: | ---: | ---: | ---: |
{short_rows}

{short_summary}

### Each decoder layer's attention against the gold alignment

Teacher-forced on the reference, for every target word (EOS excluded) whose gold source word the
generator recorded: the share whose most-attended source word is the gold one, and the mean
attention weight on the gold word (chance: about 1 / source length):

| model | decoder layer | argmax = gold %, all | argmax = gold %, > 25 words | mean weight on gold, all |
| --- | ---: | ---: | ---: | ---: |
{alignment_rows}

The every-layer run's attention in each decoder layer on a test sentence of {example_words} words
(`attnzoo plot RUN --picture layers`), and the generator's gold alignment:

![alignment per decoder layer](convs2s.png)

## Speed (one thread, untrained models; two pairs of about equal parameters)

| model | parameters | training target tokens/s | greedy decoding tokens/s |
| --- | ---: | ---: | ---: |
{speed_rows}

Goal "ConvS2S training throughput above the RNN model's" (at about equal parameters): **{speed_goal}**.
Decoding generates up to 12 tokens for each of 128 dates with untrained weights.

Machine: {machine}; one torch thread per process, at most two training processes at once; the CPU
was shared with other jobs (load average when each run finished, then after the speed test: {load}),
so the times are indicative only.

The dates run's attention in each decoder layer for a test date: [convs2s_dates.png](convs2s_dates.png).
"""


def train_run(name: str, out: Path, steps: dict[str, int]) -> Run:
    """The run ``name`` of :data:`RUNS` in ``out / name``, trained unless it already exists: ``TASK-LAYERS``
    (``steps[TASK]`` steps, seed 0) or ``TASK-LAYERS-<N>steps-seed<SEED>``."""
    task, layers, *short = name.split("-")
    count = int(short[0].removesuffix("steps")) if short else steps[task]
    seed = int(short[1].removeprefix("seed")) if short else 0
    path = out / name
    if (path / "model.safetensors").is_file():
        return Run(path)
    validations = 1 if short else 3
    training = {"steps": count, "val_every": max(1, count // validations), "checkpoint_every": count, "seed": seed}
    options = {"preset": "matched", "model": {"attention_layers": layers}, "task": TASKS[task], "training": training}
    run = train("convs2s", path, **options, progress=False, threads=1, overwrite=True)
    (path / LOAD_FILE).write_text(f"{os.getloadavg()[0]:.2f}\n", encoding="utf-8")  # the machine's load at the end
    return run


def train_minutes(run: Run) -> float:
    """The run's training time as its trainer recorded it, in minutes."""
    return run.read_json("training.json")["done"]["seconds"] / 60


def measure_dates(out: Path, results: Path, steps: dict[str, int]) -> tuple[list[str], dict[str, float]]:
    """Table rows and exact match % of the two dates runs; draws the every-layer run's alignments."""
    rows, exact = [], {}
    for layers, label in LAYERS.items():
        run = train_run(f"dates-{layers}", out, steps)
        model, task = run.load_model(), run.build_task()
        metrics = run.recipe().evaluate(model, task, "test")
        exact[label] = metrics["exact"] * 100
        rows.append(
            f"| convs2s, attention in {label} | {count_parameters(model):,} | {metrics['exact'] * 100:.2f} "
            f"| {metrics['token_acc'] * 100:.2f} | {train_minutes(run):.1f} |"
        )
        print(rows[-1], flush=True)
    every = Run(out / "dates-all")
    every.recipe().draw_layers(every.load_model(), every.build_task(), results / "convs2s_dates.png")
    return rows, exact


def measure_speed(name: str, preset: str | None, steps: int) -> dict[str, float]:
    """Training and greedy decoding throughput of an untrained model on dates batches of 128."""
    recipe = load_recipe(name, {"train_size": 128 * (steps + 1), "valid_size": 16, "test_size": 16})
    task = recipe.build_task(seed=0)
    model = create_model(name, recipe.sized_config(create_model(name, preset=preset).config, task))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = iter(recipe.train_batches(task, 128, seed=0))
    first = next(batches)
    recipe.loss(model, first, {})[0].backward()  # warm-up
    tokens, started = 0, time.perf_counter()
    for _, batch in zip(range(steps), batches, strict=False):
        optimizer.zero_grad()
        recipe.loss(model, batch, {})[0].backward()
        optimizer.step()
        tokens += int((batch["target_out"] != 0).sum())
    training = tokens / (time.perf_counter() - started)
    model.eval()
    started = time.perf_counter()
    decoded = model.generate(first["source"], first["source_lengths"], max_len=12)
    decoding = int(decoded.tokens.numel()) / (time.perf_counter() - started)
    return {"parameters": count_parameters(model), "training": training, "decoding": decoding}


def bucket_of(words: int) -> str:
    """The label of the :data:`BUCKETS` range that holds ``words``."""
    low, high = next((low, high) for low, high in BUCKETS if low <= words <= high)
    return f"{low}–{high}"


def reorder_test(seed: int):
    """The test examples (with gold alignments) of a reordering run seeded ``seed``, as its task generates them."""
    return reorder_splits(train_max_len=REORDER_MAX_LEN, test_max_len=REORDER_MAX_LEN, seed=seed)["test"]


def score_by_length(run: Run, examples) -> dict[str, tuple[int, float, float]]:
    """Per source-length bucket (and ``"all"``): sentences, greedy exact match % and corpus BLEU of ``run``."""
    model, task = run.load_model(), run.build_task()
    if [(e.source, e.target) for e in examples] != list(task.test.pairs):
        raise RuntimeError(f"{run.path}: the regenerated test examples differ from the run's test split")
    hypotheses = decode_dataset(model, task, "test")[1]
    scores = {}
    for bucket in [*(bucket_of(low) for low, _ in BUCKETS), "all"]:
        chosen = [i for i, e in enumerate(examples) if bucket == "all" or bucket_of(len(e.alignment)) == bucket]
        outputs, references = [hypotheses[i] for i in chosen], [examples[i].target for i in chosen]
        scores[bucket] = (len(chosen), exact_match(outputs, references) * 100, bleu_chrf(outputs, references)["bleu"])
    return scores


def measure_reorder(out: Path, steps: dict[str, int]) -> tuple[list[str], list[str], dict[str, dict]]:
    """The reordering tables' rows (by length; per layer's alignment) and each model's scores by bucket."""
    examples = reorder_test(seed=0)
    long = torch.tensor([len(example.alignment) > 25 for example in examples])
    rows, alignment_rows, scores = [], [], {}
    for layers, label in LAYERS.items():
        run = train_run(f"reorder-{layers}", out, steps)
        scores[label] = score_by_length(run, examples)
        for bucket, (count, exact, bleu) in scores[label].items():
            rows.append(
                f"| convs2s, attention in {label} | {bucket} | {count:,} | {exact:.2f} | {bleu:.2f} "
                f"| {train_minutes(run):.1f} |"
            )
        model = run.load_model()
        agreement = alignment_scores(model, run.build_task(), examples)  # (N, L, 3): hits, mass on gold, words
        for index, name in enumerate(model.attention):
            everything, longer = agreement[:, index].sum(0), agreement[long, index].sum(0)
            alignment_rows.append(
                f"| convs2s, attention in {label} | {int(name) + 1} | {everything[0] / everything[2] * 100:.1f} "
                f"| {longer[0] / longer[2] * 100:.1f} | {everything[1] / everything[2]:.3f} |"
            )
        print("\n".join(rows[-4:] + alignment_rows[-len(model.attention) :]), flush=True)
    return rows, alignment_rows, scores


def measure_short(out: Path, steps: dict[str, int]) -> tuple[list[str], str]:
    """Rows of the early-stopped reordering runs (exact match % by source length, per budget and seed) and,
    per budget, how the two models compare on the longest bucket."""
    rows, summary, long_bucket = [], [], bucket_of(BUCKETS[-1][0])
    for budget in SHORT_BUDGETS:
        longest = {label: [] for label in LAYERS.values()}
        for seed in SHORT_SEEDS:
            examples = reorder_test(seed)
            for layers, label in LAYERS.items():
                scores = score_by_length(train_run(f"reorder-{layers}-{budget}steps-seed{seed}", out, steps), examples)
                exact = " | ".join(f"{exact:.2f}" for _, exact, _ in scores.values())
                rows.append(f"| {budget} | {label} | {seed} | {exact} |")
                longest[label].append(scores[long_bucket][1])
                print(rows[-1], flush=True)
        every, top = longest.values()
        pairs = list(zip(every, top, strict=True))
        wins, losses = sum(e > t for e, t in pairs), sum(e < t for e, t in pairs)
        summary.append(
            f"At {budget} steps, on {long_bucket} words, attention in every layer is ahead of the top layer only "
            f"in {wins} of {len(SHORT_SEEDS)} seeds and behind in {losses} (mean {sum(every) / len(every):.2f}% "
            f"against {sum(top) / len(top):.2f}%)."
        )
    return rows, "\n".join(summary)


def draw_reorder(out: Path, path: Path) -> int:
    """The every-layer reordering run's attention of each decoder layer on the first test sentence of
    20 to 25 words, next to the gold alignment; returns the sentence's length in words."""
    from attnzoo.viz.panels import plot_panels

    run = Run(out / "reorder-all")
    model, task = run.load_model(), run.build_task()
    example = next(e for e in reorder_test(seed=0) if 20 <= len(e.alignment) <= 25)
    translation, weights = run.recipe().layer_weights(model, task, example.source)
    gold = torch.zeros(len(example.alignment) + 1, len(example.alignment) + 1)  # EOS aligned with EOS
    gold[torch.arange(len(gold)), torch.tensor([*example.alignment, len(example.alignment)])] = 1.0
    correct = translation.output == example.target
    panels = [*weights, gold] if correct else weights
    titles = [f"decoder layer {int(name) + 1}" for name in model.attention] + (["gold"] if correct else [])
    tokens = [*example.target.split(), "<eos>"] if correct else translation.output_tokens
    plot_panels(
        panels,
        [translation.source_tokens] * len(panels),
        [tokens] * len(panels),
        titles,
        path,
        axes=("source", "output"),
    )
    return len(example.alignment)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "convs2s", help="the runs' directory")
    parser.add_argument("--results", type=Path, default=ROOT / "docs" / "results", help="where to write md + png")
    parser.add_argument("--train", choices=RUNS, help="only train this run (if missing) and stop")
    parser.add_argument("--steps", type=int, help="optimiser steps of every run (default: STEPS, per task)")
    parser.add_argument("--speed-steps", type=int, default=30, help="training steps timed per model")
    args = parser.parse_args()
    steps = {task: args.steps or default for task, default in STEPS.items()}
    torch.set_num_threads(1)
    if args.train:
        train_run(args.train, args.out, steps)
        return
    args.results.mkdir(parents=True, exist_ok=True)
    dates_rows, dates_exact = measure_dates(args.out, args.results, steps)
    reorder_rows, alignment_rows, reorder_scores = measure_reorder(args.out, steps)
    short_rows, short_summary = measure_short(args.out, steps)
    example_words = draw_reorder(args.out, args.results / "convs2s.png")
    speeds = {label: measure_speed(name, preset, args.speed_steps) for label, (name, preset) in SPEED_MODELS.items()}
    loads = [
        float((args.out / name / LOAD_FILE).read_text()) for name in RUNS if (args.out / name / LOAD_FILE).is_file()
    ]
    speed_rows = [
        f"| {label} | {s['parameters']:,} | {s['training']:,.0f} | {s['decoding']:,.0f} |"
        for label, s in speeds.items()
    ]
    convs2s, bahdanau = speeds["convs2s --preset matched"], speeds["seq2seq --preset bahdanau"]
    ratio = convs2s["training"] / bahdanau["training"]
    long_bucket = bucket_of(BUCKETS[-1][0])
    every, top = (reorder_scores[label][long_bucket][1] for label in LAYERS.values())
    text = REPORT.format(
        dates_steps=steps["dates"],
        reorder_steps=steps["reorder"],
        max_len=REORDER_MAX_LEN,
        dates_rows="\n".join(dates_rows),
        dates_goal=("met" if dates_exact["every layer"] >= 99 else "not met") + f" ({dates_exact['every layer']:.2f}%)",
        reorder_rows="\n".join(reorder_rows),
        reorder_goal=("met" if every > top else "not met: a tie" if every == top else "not met")
        + f" (exact match on {long_bucket} words: {every:.2f}% every layer, {top:.2f}% top only)",
        long_bucket=long_bucket,
        short_summary=short_summary,
        alignment_rows="\n".join(alignment_rows),
        short_steps=" and ".join(map(str, SHORT_BUDGETS)),
        short_rows="\n".join(short_rows),
        buckets=" | ".join(f"{bucket_of(low)} words" for low, _ in BUCKETS),
        example_words=example_words,
        speed_rows="\n".join(speed_rows),
        speed_goal=("met" if ratio > 1 else "not met")
        + f" (ConvS2S matched: {ratio:.2f}x the Bahdanau model's tokens/s)",
        machine=f"{platform.machine()}, {os.cpu_count()} CPUs",
        load=", ".join(f"{load:.1f}" for load in [*loads, os.getloadavg()[0]]),
    )
    (args.results / "convs2s.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
