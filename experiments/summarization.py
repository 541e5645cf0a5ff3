"""See et al. 2017 on generated news: the baseline, the pointer-generator and coverage, measured.

Trains four runs through ``attnzoo.training.train`` (one thread each, one after another) on the
same generated news (:mod:`attnzoo.tasks.news`):

- ``baseline`` (preset ``baseline``, ``--steps N``): attention, no copying;
- ``pointer`` (preset ``pointer``, ``--steps N``): the pointer-generator;
- ``pointer, N + M steps`` (preset ``pointer``): the control for coverage's extra steps;
- ``+ coverage`` (preset ``coverage``, ``N + M`` steps, coverage and its loss from step ``N``).

Each is scored on the test split (beam 4): ROUGE-1/2/L (``rouge-score``), the OOV entity copy rate,
repeated trigrams against the references', mean p_gen, coverage loss. Writes
``docs/results/summarization.md`` and the pictures ``summarization*.png``.

    nohup python experiments/summarization.py > runs/summarization.log 2>&1 &
    python experiments/summarization.py --steps 2 --coverage-steps 2 --train-size 64 --out /tmp/s --results /tmp/s
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from attnzoo.training import train
from attnzoo.training.run import Run

ROOT = Path(__file__).resolve().parent.parent

REPORT = """# Summarization: the pointer-generator and coverage (See et al. 2017)

Written by `experiments/summarization.py` (R-1, R-2, R-L: ROUGE F1 in %;
{train_size:,} generated news articles, vocabulary of
the training words seen at least 20 times: {vocab} words; every model 64 hidden units, batch 32,
Adam 2e-3 with cosine decay; one torch thread per run). Scores on the {test_size} test articles,
beam search of width 4; the references repeat {reference:.2f}% of their trigrams. The same runs
from the command line:

    {commands}

| model | steps | R-1 | R-2 | R-L | OOV copy % | repeated trigrams % | p_gen | cov. loss | unk % | words | train min |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
{rows}

The same runs decoded greedily (beam 1):

| model | steps | R-1 | R-2 | R-L | OOV copy % | repeated trigrams % | p_gen | cov. loss | unk % | words | train min |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
{greedy_rows}

Validation during training (300 articles, greedy), the control and the coverage run (coverage
from step {steps:,}):

| run | step | R-1 | OOV copy % | repeated trigrams % | cov. loss |
| --- | ---: | ---: | ---: | ---: | ---: |
{curve_rows}

Goals of the issue (the paper's orderings), as measured:

{goals}

The machine (2 cores) was shared with other jobs: {load}. "train min" is each run's optimisation
time (validation excluded), as its `training.json` records it.

The first test article, its reference and each model's summary:

{examples}

The pointer-generator with coverage on that article (See et al. Fig. 1 style: the article shaded
by the attention it received, the summary by `1 - p_gen`, and each output word's attention):

![copy attention](summarization.png)

The baseline on the same article (it cannot write the out-of-vocabulary names and numbers):

![baseline attention](summarization_baseline.png)

Coverage `c^t` over time for the pointer-generator trained as long without coverage, and with it
(a cell above 1: that article word was attended to again):

![coverage, pointer](summarization_coverage_pointer.png)
![coverage, + coverage](summarization_coverage.png)
"""


def trained(out: Path, preset: str, task: dict, steps: int, reuse: bool) -> Run:
    """Train one run, or with ``reuse`` read the finished run in ``out``."""
    if reuse and (out / "model.safetensors").is_file():
        return Run(out)
    training = {"steps": steps, "val_every": max(steps // 4, 1), "checkpoint_every": steps}
    options = {"preset": preset, "task": task, "training": training, "overwrite": True, "threads": 1}
    return train("pointer-generator", out, **options, progress=False)


def timing(run: Run) -> tuple[float, float]:
    """The run's optimisation minutes (validation excluded) and the load average at its last validation."""
    seconds = run.read_json("training.json")["done"]["seconds"]
    return seconds / 60, float(run.metrics_rows()[-1]["load"])


def curve_rows(out: Path, keys: dict[str, str]) -> list[str]:
    """The validation rows of each run's ``metrics.csv``."""
    rows = []
    for key, label in keys.items():
        with open(out / key / "metrics.csv", encoding="utf-8") as handle:
            for line in csv.DictReader(handle):
                values = [float(line[f"valid_{name}"]) for name in ("rouge1", "oov_copy", "repeat_trigrams")]
                numbers = " | ".join(f"{value:.2f}" for value in values)
                rows.append(
                    f"| {label} | {int(line['step']):,} | {numbers} | {float(line['valid_coverage_loss']):.3f} |"
                )
    return rows


def row(label: str, steps: int, metrics: dict, minutes: float) -> str:
    """One table row."""
    values = [metrics[key] for key in ("rouge1", "rouge2", "rougeL", "oov_copy", "repeat_trigrams")]
    numbers = " | ".join(f"{value:.2f}" for value in values)
    tail = f"{metrics['p_gen']:.3f} | {metrics['coverage_loss']:.3f} | {metrics['unk']:.2f} | {metrics['length']:.1f}"
    return f"| {label} | {steps:,} | {numbers} | {tail} | {minutes:.1f} |"


def goals(results: dict[str, dict]) -> str:
    """The three goals, each with the numbers that decide it."""
    base, pointer, covered = results["baseline"], results["pointer"], results["coverage"]
    control = results["pointer-long"]
    reference = covered["reference_repeat_trigrams"]
    lines = [
        f"- pointer-generator copies >= 90% of OOV entities: {pointer['oov_copy']:.1f}% "
        f"({'met' if pointer['oov_copy'] >= 90 else 'not met'}); the baseline ~0: {base['oov_copy']:.1f}%.",
        f"- pointer-generator gains >= 5 ROUGE-1 over the baseline: {pointer['rouge1'] - base['rouge1']:+.2f} "
        f"({'met' if pointer['rouge1'] - base['rouge1'] >= 5 else 'not met'}).",
        f"- coverage brings repeated trigrams within 1.5x the references' ({1.5 * reference:.2f}%): "
        f"{covered['repeat_trigrams']:.2f}% ({'met' if covered['repeat_trigrams'] <= 1.5 * reference else 'not met'}); "
        f"without coverage {pointer['repeat_trigrams']:.2f}% (same steps as its first phase) and "
        f"{control['repeat_trigrams']:.2f}% (as many steps as the coverage run).",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "summarization", help="folder of the four runs")
    parser.add_argument("--results", type=Path, default=ROOT / "docs" / "results", help="where to write md + png")
    parser.add_argument("--steps", type=int, default=800, help="N: steps of the baseline and the pointer-generator")
    parser.add_argument("--coverage-steps", type=int, default=200, help="M: the coverage phase's steps")
    parser.add_argument("--train-size", type=int, default=20_000, help="generated training articles")
    parser.add_argument("--reuse", action="store_true", help="read the runs this script trained before (report only)")
    args = parser.parse_args()
    args.results.mkdir(parents=True, exist_ok=True)
    task = {"train_size": args.train_size}
    total = args.steps + args.coverage_steps
    plans = {
        "baseline": ("baseline", args.steps, {}),
        "pointer": ("pointer", args.steps, {}),
        "pointer-long": ("pointer", total, {}),
        "coverage": ("coverage", total, {"coverage_from": args.steps}),
    }
    labels = {"pointer-long": "pointer-generator (control)", "coverage": "+ coverage", "pointer": "pointer-generator"}
    runs, results, rows, greedy, loads, commands = {}, {}, [], [], [], []
    for key, (preset, steps, extra) in plans.items():
        run = trained(args.out / key, preset, {**task, **extra}, steps, args.reuse)
        minutes, load = timing(run)
        model, data = run.load_model(), run.build_task()
        results[key] = run.recipe().evaluate(model, data, "test")
        runs[key] = (run, model, data)
        rows.append(row(labels.get(key, key), steps, results[key], minutes))
        greedy.append(row(labels.get(key, key), steps, run.recipe(beam=1).evaluate(model, data, "test"), minutes))
        loads.append(f"load average {load:.1f} at the last validation of {labels.get(key, key)}")
        options = " ".join(f"--{name.replace('_', '-')} {value}" for name, value in {**task, **extra}.items())
        command = f"attnzoo train pointer-generator --preset {preset} --steps {steps} {options}"
        commands.append(f"{command} --out runs/summarization/{key}")
        print(key, {name: round(value, 3) for name, value in results[key].items()}, flush=True)
    draw_pictures(runs, args.results)
    curves = curve_rows(args.out, {"pointer-long": labels["pointer-long"], "coverage": labels["coverage"]})
    write_report(args, runs, results, {"rows": rows, "greedy_rows": greedy, "curve_rows": curves}, loads, commands)


def draw_pictures(runs: dict, results: Path) -> None:
    """The copy pictures of the coverage run and the baseline, the coverage of the control and the coverage run."""
    for key, picture, name in (
        ("coverage", "copy", "summarization.png"),
        ("baseline", "copy", "summarization_baseline.png"),
        ("pointer-long", "coverage", "summarization_coverage_pointer.png"),
        ("coverage", "coverage", "summarization_coverage.png"),
    ):
        run, model, data = runs[key]
        run.recipe().pictures(run.config())[picture](model, data, results / name)


def write_report(args, runs: dict, results: dict, tables: dict[str, list], loads: list, commands: list) -> None:
    """``summarization.md``: the table, the goals, an example and the pictures."""
    run, model, data = runs["coverage"]
    example = data.test.examples[0]
    lines = [f"- article: {' '.join(example.article)}", f"- reference: {' '.join(example.summary)}"]
    for key, (run, model, data) in runs.items():
        lines.append(
            f"- {key}: {' '.join(run.recipe().summarize_text(model, data, ' '.join(example.article))[1].tokens)}"
        )
    report = REPORT.format(
        train_size=args.train_size,
        vocab=len(data.vocab),
        test_size=len(data.test),
        commands="\n    ".join(commands),
        reference=results["coverage"]["reference_repeat_trigrams"],
        **{name: "\n".join(lines) for name, lines in tables.items()},
        steps=args.steps,
        goals=goals(results),
        load="; ".join(loads),
        examples="\n".join(lines),
    )
    (args.results / "summarization.md").write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
