"""Memory networks on bAbI-style stories and readers on cloze questions: where the attention goes.

Trains, on one CPU thread each, through ``attnzoo.training.train``:

- end-to-end memory networks (Sukhbaatar et al. 2015, ``memn2n``) with 1 and 3 hops on tasks 1-3,
  and with and without position / temporal encoding, in the 10k regime (10,000 training questions);
- the Attention-Sum reader (Kadlec et al. 2016) and the Attention-over-Attention reader (Cui et al.
  2017) on the generated cloze task,

and writes ``docs/results/memory_reading.md`` (the tables, with the goals of the issue),
``docs/results/memory_reading.png`` (a task-2 story with each hop's attention) and
``docs/results/memory_reading_matching.png`` (the AoA reader's matching matrix with ``beta``).
Every run has seed 0 (so the same test questions); a run whose directory already holds a model is
not trained again (delete it to retrain).

    python experiments/memory_reading.py                       # about 40 minutes on a busy 2-core CPU
    python experiments/memory_reading.py --scale 0.02 --out /tmp/mr --results /tmp/mr   # a smoke test
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch

from attnzoo.models.memn2n.recipe import draw_hops, hop_support
from attnzoo.models.memn2n.recipe import predict as answer_questions
from attnzoo.training import train
from attnzoo.training.run import Run

ROOT = Path(__file__).resolve().parent.parent
LS = 1_000  # linear-start steps of the task 2, 3 and 6 runs
MEMORY_RUNS = {  # name: (task settings, model settings, training settings); steps and sizes scale with --scale
    "task1-1hop": ({"task": 1}, {"hops": 1}, {"steps": 2_000}),
    "task1-3hops": ({"task": 1}, {"hops": 3}, {"steps": 2_000}),
    "task2-1hop": ({"task": 2, "linear_start_steps": LS}, {"hops": 1}, {"steps": 5_000}),
    "task2-2hops": ({"task": 2, "linear_start_steps": LS}, {"hops": 2}, {"steps": 5_000}),
    "task2-3hops": ({"task": 2, "linear_start_steps": LS}, {"hops": 3}, {"steps": 5_000}),
    "task2-3hops-no-ls": ({"task": 2}, {"hops": 3}, {"steps": 5_000}),
    "task2-3hops-bow": (
        {"task": 2, "linear_start_steps": LS},
        {"hops": 3, "position_encoding": False},
        {"steps": 5_000},
    ),
    "task2-3hops-no-te": (
        {"task": 2, "linear_start_steps": LS},
        {"hops": 3, "temporal_encoding": False},
        {"steps": 5_000},
    ),
    "task3-1hop": ({"task": 3, "linear_start_steps": LS}, {"hops": 1}, {"steps": 5_000}),
    "task3-3hops": ({"task": 3, "linear_start_steps": LS}, {"hops": 3}, {"steps": 5_000}),
    "task4-pe": ({"task": 4}, {"hops": 3}, {"steps": 2_000}),
    "task4-bow": ({"task": 4}, {"hops": 3, "position_encoding": False}, {"steps": 2_000}),
    "task6-3hops-no-ls": ({"task": 6}, {"hops": 3}, {"steps": 2_000}),
    "task6-3hops": ({"task": 6, "linear_start_steps": LS}, {"hops": 3}, {"steps": 5_000}),
}
HOP_TABLES = ("task2-2hops", "task2-3hops", "task3-3hops")  # runs whose hops are compared with the facts
READER_RUNS = {"as-reader": "AS reader (Kadlec et al. 2016)", "aoa-reader": "AoA reader (Cui et al. 2017)"}
READER_TRAINING = {"steps": 800, "minutes": 7.0}
READER_TASK = {"train_size": 20_000}

REPORT = """\
# Memory networks and attention-over-attention: which memory, which word

Written by `python experiments/memory_reading.py` (model code: `src/attnzoo/models/memn2n/`,
`src/attnzoo/models/aoa/`; data: `src/attnzoo/tasks/babi.py`, `src/attnzoo/tasks/cloze.py`).
Every run trained on one CPU thread of a 2-core machine shared with four other jobs, so the minutes
are wall-clock under that load; *load* is the machine's 1-minute load average before/after the run
(2.0 = both cores busy). Runs with – trained before the script recorded it; `uptime` samples while
they trained read 5.9-7.5 (bAbI runs) and 11-14 (the readers). Test sets: {memory_test} questions per bAbI
task and {cloze_test} cloze questions, seed 0, never seen in training.

## End-to-end memory networks (Sukhbaatar et al. 2015), 10k regime

{memory_train:,} generated training questions per task; embedding d = 20, adjacent weight tying,
Adam 0.01 with cosine decay, batch 32, gradient norm clipped at 40; LS = linear start for the first
{ls} steps (task 2, 3 and 6 runs). Error = % of test questions answered wrongly (the paper's measure).

{memory_table}
{goals}

### Where the hops look

% of test questions whose hop-k attention peaks on each gold supporting fact (facts in reasoning
order: task 2 = the object's pick-up or drop, then the holder's move; task 3 = the pick-up, the move
to the current place, the move to the place before).

{hop_tables}
![a task-2 story with each hop's attention](memory_reading.png)

## Cloze reading: AS reader vs AoA reader

Generated documents of 3-12 anonymised entities (markers re-drawn per document), a query restating
one fact with one entity blanked; {cloze_train:,} training questions. Embedding 64, bi-GRU 64 per
direction, Adam 0.001, batch 32, {reader_steps} steps (at most {reader_minutes:g} minutes).
Accuracy in % overall and by the number of candidates (the document's entities).
*top word gold*: % of test queries with at least one disambiguating word whose query-level
attention `beta` (eq. 7) peaks on one of them; *top word @placeholder*: % of queries whose `beta`
peaks on the blank itself; *top clue gold*: *top word gold* with the placeholder left out (AoA only;
the AS reader has no `beta`).

{reader_table}
{reader_goal}

![the AoA reader's matching matrix and beta](memory_reading_matching.png)

## Observations

- Temporal encoding is what marks an agent's *latest* move: without it (task2-3hops-no-te) nothing
  in a memory says which of two moves came last, and the error is several times higher. Without
  linear start (task2-3hops-no-ls) the 3-hop model stays on a plateau far above the LS run; one
  hop fails on tasks 2 and 3 with LS too.
- Where the hops look: the 2-hop task-2 model reads in the facts' order (hop 1 the object's
  pick-up or drop, hop 2 that agent's move); the 3-hop model spends hops 1 and 2 on the object's
  fact and hop 3 on the move. On task 3, hop 1 finds the move to the place the question names,
  hop 2 the pick-up, hop 3 the move before: the learned order is not the order the facts are listed in.
- Task 6 (yes/no) is not learned in these budgets, with or without linear start (not a goal of
  the issue; left as measured). A guess, not tested: "yes" needs the attended sentence's place to
  equal the question's, a comparison the sum `u + o` read by a linear `W` does not make by itself.
- Task 4's two question forms ("what is north of the kitchen", "what is the kitchen north of") have
  the same bag of words, but a bag-of-words model can only be misled where the story's other fact
  also holds the question's place and direction, which this generator produces in a minority of
  stories, so its error stays small here (PE: none).
- The AoA reader's query-level attention `beta` peaks on `@placeholder` for (almost) every query
  (the blank's bidirectional GRU states see the whole query), so *top word gold* is near 0: the
  issue's "top word is a gold disambiguating word" does not hold for the top word. With the
  placeholder left out, `beta` peaks on a disambiguating word for most queries (*top clue gold*).
  The AS and AoA readers stopped at the same 7-minute budget after about the same number of steps.

Reproduce one run with the command line, e.g.

```bash
attnzoo train memn2n --task 2 --set hops=3 --linear-start-steps 1000 --steps 5000 --out runs/babi2
attnzoo evaluate runs/babi2
attnzoo train aoa-reader --steps 800 --minutes 7 --out runs/aoa
attnzoo plot runs/aoa --picture matching --out matching.png
```
"""


def scaled(settings: dict, scale: float, keys: tuple[str, ...]) -> dict:
    return {key: max(16, int(value * scale)) if key in keys else value for key, value in settings.items()}


def run(model: str, path: Path, task: dict, config: dict, training: dict) -> Run:
    """Train unless ``path`` holds a model; the machine's 1-minute load average before and after
    training is kept in ``load.json`` beside it."""
    trained = Run(path)
    if trained.file("model.safetensors").is_file():
        return trained
    torch.manual_seed(0)
    print(f"training {path.name} ...", flush=True)
    before = os.getloadavg()[0]
    trained = train(model, path, model=config, task=task, training=training, threads=1, progress=False)
    loads = {"before": before, "after": os.getloadavg()[0]}
    trained.file("load.json").write_text(json.dumps(loads), encoding="utf-8")
    return trained


def load(trained: Run) -> str:
    """The load averages before/after training, or – for a run trained before they were recorded."""
    path = trained.file("load.json")
    if not path.is_file():
        return "–"
    loads = json.loads(path.read_text(encoding="utf-8"))
    return f"{loads['before']:.1f}/{loads['after']:.1f}"


def minutes(trained: Run) -> str:
    done = trained.read_json("training.json")["done"]
    return f"{done['seconds'] / 60:.1f}"


def memory_table(runs: dict[str, Run], results: dict[str, dict]) -> str:
    lines = ["| run | task | hops | PE | TE | LS | steps | minutes | load | test error (%) |", "|" + "---|" * 10]
    for name, trained in runs.items():
        config, settings = trained.config(), trained.recipe().settings
        yes = {True: "yes", False: "no"}
        cells = [name, settings.task, config.hops, yes[config.position_encoding], yes[config.temporal_encoding]]
        cells += [settings.linear_start_steps or "no", trained.read_json("training.json")["done"]["steps"]]
        cells += [minutes(trained), load(trained), f"{results[name]['error']:.1f}"]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines) + "\n"


def hop_table(trained: Run) -> str:
    """% of test questions whose hop k peaks on fact j, for every hop and fact."""
    recipe = trained.recipe()
    task = trained.build_task(recipe)
    data = task.split("test")
    _, weights = answer_questions(trained.load_model(), data)
    peaks = weights.argmax(-1)  # (N, K)
    facts = data.supports.size(1)
    lines = [
        "| hop | " + " | ".join(f"fact {j + 1}" for j in range(facts)) + " | any fact |",
        "|" + "---|" * (facts + 2),
    ]
    _, on_support = hop_support(weights, data.supports)
    for k in range(peaks.size(1)):
        cells = [f"{float((peaks[:, k] == data.supports[:, j]).float().mean() * 100):.1f}" for j in range(facts)]
        lines.append(f"| {k + 1} | " + " | ".join(cells) + f" | {float(on_support[:, k].float().mean() * 100):.1f} |")
    return f"task {recipe.settings.task}:\n\n" + "\n".join(lines) + "\n"


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def memory_goals(results: dict[str, dict]) -> str:
    error = {name: metrics["error"] for name, metrics in results.items()}
    lines = []
    if all(f"task{t}-{h}" in error for t in (1, 2, 3) for h in ("1hop", "3hops")):
        three = max(error[f"task{t}-3hops"] for t in (1, 2, 3))
        one = min(error[f"task{t}-1hop"] for t in (2, 3))
        lines.append(f"- Goal: 3 hops <= 5% error on tasks 1-3: {verdict(three <= 5)} (worst {three:.1f}%).")
        lines.append(f"- Goal: 1 hop fails (>= 30%) on tasks 2-3: {verdict(one >= 30)} (best {one:.1f}%).")
    for name in ("task2-2hops", "task2-3hops"):
        if name in results:
            hops = [results[name][f"hop{k}_fact{k}"] for k in (1, 2)]
            lines.append(
                f"- Goal: hop k peaks on the k-th supporting fact >= 90% on task 2 ({name}): "
                f"{verdict(min(hops) >= 90)} (hop 1 on fact 1: {hops[0]:.1f}%, hop 2 on fact 2: {hops[1]:.1f}%)."
            )
    if {"task4-pe", "task4-bow"} <= set(error):
        pe, bow = error["task4-pe"], error["task4-bow"]
        lines.append(f"- Goal: PE beats bag-of-words on task 4: {verdict(pe < bow)} ({pe:.1f}% vs {bow:.1f}% error).")
    return "\n".join(lines) + "\n"


def reader_table(runs: dict[str, Run], results: dict[str, dict]) -> str:
    columns = ["accuracy", "accuracy_3_5", "accuracy_6_8", "accuracy_9_12"]
    columns += ["top_word_gold", "top_word_placeholder", "top_clue_gold"]
    titles = ["reader", "steps", "minutes", "load", "all", "3-5 candidates", "6-8", "9-12"]
    titles += ["top word gold", "top word @placeholder", "top clue gold"]
    lines = ["| " + " | ".join(titles) + " |", "|" + "---|" * len(titles)]
    for name, trained in runs.items():
        steps = trained.read_json("training.json")["done"]["steps"]
        cells = [READER_RUNS[name], steps, minutes(trained), load(trained)]
        cells += [f"{results[name][c]:.1f}" if c in results[name] else "–" for c in columns]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines) + "\n"


def reader_goal(results: dict[str, dict]) -> str:
    if set(READER_RUNS) - set(results):
        return ""
    aoa, as_ = results["aoa-reader"], results["as-reader"]
    gaps = [aoa[f"accuracy_{b}"] - as_[f"accuracy_{b}"] for b in ("3_5", "6_8", "9_12")]
    ahead = aoa["accuracy"] > as_["accuracy"]
    growing = "**met**" if gaps[0] < gaps[1] < gaps[2] else "**partly met**" if gaps[0] < gaps[2] else "**not met**"
    shown = ", ".join(f"{gap:+.1f}" for gap in gaps)
    return (
        f"- Goal: AoA ahead of AS: {verdict(ahead)} ({aoa['accuracy']:.1f}% vs {as_['accuracy']:.1f}%); "
        f"by more with more candidates: {growing} (AoA - AS for 3-5, 6-8, 9-12 candidates: {shown} points; "
        "met = growing from bin to bin, partly = larger for the most candidates than for the fewest).\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "memory_reading", help="run directories")
    parser.add_argument("--results", type=Path, default=ROOT / "docs" / "results", help="where the report goes")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply steps and data sizes (smoke tests)")
    parser.add_argument("--only", nargs="*", default=None, help="train/measure only these runs")
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.results.mkdir(parents=True, exist_ok=True)
    memory_runs, memory_results, reader_runs, reader_results = {}, {}, {}, {}
    for name, (task, config, training) in MEMORY_RUNS.items():
        if args.only is None or name in args.only:
            task = scaled({"train_size": 10_000, "test_size": 1_000, **task}, args.scale, ("train_size", "test_size"))
            training = scaled({"val_every": 500, **training}, args.scale, ("steps", "val_every"))
            if "linear_start_steps" in task:
                task["linear_start_steps"] = int(task["linear_start_steps"] * args.scale)
            memory_runs[name] = run("memn2n", args.out / name, task, config, training)
            recipe = memory_runs[name].recipe()
            memory_results[name] = recipe.evaluate(
                memory_runs[name].load_model(), memory_runs[name].build_task(recipe), "test"
            )
            print(name, memory_results[name], flush=True)
    for name in READER_RUNS:
        if args.only is None or name in args.only:
            task = scaled({**READER_TASK, "test_size": 2_000}, args.scale, ("train_size", "test_size"))
            training = scaled({"val_every": 200, **READER_TRAINING}, args.scale, ("steps", "val_every"))
            training["minutes"] = READER_TRAINING["minutes"] * max(args.scale, 0.05)
            reader_runs[name] = run(name, args.out / name, task, {}, training)
            recipe = reader_runs[name].recipe()
            reader_results[name] = recipe.evaluate(
                reader_runs[name].load_model(), reader_runs[name].build_task(recipe), "test"
            )
            print(name, reader_results[name], flush=True)
    write(args, memory_runs, memory_results, reader_runs, reader_results)


def write(args, memory_runs, memory_results, reader_runs, reader_results) -> None:
    """Pictures and the report."""
    if "task2-3hops" in memory_runs:
        trained = memory_runs["task2-3hops"]
        draw_hops(trained.load_model(), trained.build_task(trained.recipe()), args.results / "memory_reading.png")
    if "aoa-reader" in reader_runs:
        trained = reader_runs["aoa-reader"]
        task = trained.build_task(trained.recipe())
        trained.recipe().pictures()["matching"](
            trained.load_model(), task, args.results / "memory_reading_matching.png"
        )
    text = REPORT.format(
        memory_test=next(iter(memory_runs.values())).recipe().settings.test_size if memory_runs else "–",
        cloze_test=next(iter(reader_runs.values())).recipe().settings.test_size if reader_runs else "–",
        memory_train=next(iter(memory_runs.values())).recipe().settings.train_size if memory_runs else 0,
        ls=int(LS * args.scale),
        memory_table=memory_table(memory_runs, memory_results),
        goals=memory_goals(memory_results),
        hop_tables="\n".join(
            hop_table(memory_runs[name]) for name in ("task2-3hops", "task3-3hops") if name in memory_runs
        ),
        cloze_train=next(iter(reader_runs.values())).recipe().settings.train_size if reader_runs else 0,
        reader_steps=int(READER_TRAINING["steps"] * args.scale),
        reader_minutes=READER_TRAINING["minutes"],
        reader_table=reader_table(reader_runs, reader_results),
        reader_goal=reader_goal(reader_results),
    )
    (args.results / "memory_reading.md").write_text(text, encoding="utf-8")
    print(f"wrote {args.results / 'memory_reading.md'}")


if __name__ == "__main__":
    main()
