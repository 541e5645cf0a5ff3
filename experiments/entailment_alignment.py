"""Why the word-by-word attention of Rocktäschel et al. 2016 does not align words here, and what was tried.

For word-by-word runs (the seed runs of ``experiments/entailment.py --seeds`` and the tries of
:data:`TRIES`, each trained once into ``runs/entailment-alignment/NAME`` and reused after), it
measures on the test pairs, over the hypothesis content words that have a gold premise word:

- ``exact``: the issue's alignment accuracy (the argmax of ``α_t`` is the gold premise word);
- ``±1``: the argmax is at most one position from it (diagnosis only: the unidirectional premise
  LSTM's state one word later still holds the word);
- ``clause``: the argmax is inside the gold word's clause (the right clause, whatever the word);
- ``on is``, ``on noun``: the argmax is an "is" (the state that closes a clause's subject), a noun;
  ``peak``: the mean largest weight of a row;
- ``exact`` by the gold word's slot (adjective, colour, noun, verb, place); the place is always
  the last hypothesis word, whose ``α_N`` is the only one eq. 14 reads directly (through ``r_N``);

and writes ``docs/results/entailment_alignment.md``.

    nohup python experiments/entailment_alignment.py > runs/entailment-alignment.log 2>&1 &
    python experiments/entailment_alignment.py --steps 4 --out /tmp/smoke --results /tmp/smoke  # smoke
"""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path
from typing import NamedTuple

import torch

from attnzoo.models.entailment.recipe import alignment_accuracy, predict
from attnzoo.tasks import entailment as lexicon
from attnzoo.training import Run, train_once

ROOT = Path(__file__).resolve().parent.parent
STEPS = 2_000  # the main table's steps
SLOTS = ("adjective", "colour", "noun", "verb", "place")  # the scored slots of the generator's template
KIND = {word: "noun" for word in lexicon.NOUNS} | {word: "adjective" for word in lexicon.ADJECTIVES}
KIND |= {word: "colour" for word in lexicon.COLOURS + lexicon.HELDOUT_COLOURS}
KIND |= {word: "verb" for word in lexicon.VERBS + lexicon.HELDOUT_VERBS}
KIND |= {word: "place" for word in lexicon.PLACES + lexicon.HELDOUT_PLACES}  # premise word -> its slot


class Try(NamedTuple):
    """One word-by-word run: what changes from the recipe, as train() overrides."""

    about: str
    model: dict
    task: dict
    times: int = 1  # training steps: this many times STEPS


TRIES = {
    "recipe": Try("none (the main table's run, seed 0)", {}, {}),
    "steps x3": Try("3 times the training: 6,000 steps", {}, {}, 3),
    "dropout 0": Try("no dropout (embeddings, h*)", {"dropout": 0.0}, {}),
    "k 32": Try("k = 32: less room for clause summaries", {"hidden_size": 32}, {}),
    "1 clause": Try("premises of one clause (--clauses 1)", {}, {"clauses": 1}),
    "swaps 1": Try("contradictions by a word of another clause (--swaps 1)", {}, {"swaps": 1.0}),
}

REPORT = """# Entailment: where the word-by-word attention goes

Written by `python experiments/entailment_alignment.py` (part of [entailment.md](entailment.md)). Every
run is `attnzoo train entailment --preset word-by-word --steps {steps}` (the main table's settings,
seed 0) with the change of its row. Test pairs; the content words of the hypothesis that have a
gold premise word ({words:,} words in the recipe's test split).

| run | change | test % | exact % | ±1 % | clause % | on "is" % | on noun % | peak | exact % a/c/n/v/p | grad |
| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |
{rows}

`exact` is the issue's alignment accuracy (goal >= 85%), and by the gold word's slot: adjective, colour,
noun, verb, place; `±1` and `clause` are diagnoses only: the argmax at most one word from the gold word,
and inside the gold word's clause. `grad`: the mean norm
of the loss's gradient on the attention query `[h_t; r_(t-1)]` of the words before the last,
divided by the same at the last word (eq. 14 reads `r_N` only; 500 test pairs, the trained model).
`test %` is each run's accuracy on its own test split ("1 clause" and "swaps 1" generate other pairs).

{discussion}

Machine: {machine}; one torch thread per training, one training at a time; the CPU was shared with
other jobs (load average {load} as the runs were measured).
"""


def diagnose(run: Run) -> dict[str, object]:
    """Accuracy and the attention's destination (see the module docstring) on ``run``'s test pairs."""
    model, task = run.load_model(), run.build_task()
    pairs, examples = task.pairs["test"], task.examples["test"]
    probabilities, weights = predict(model, pairs)  # (P, 3), (P, N, L)
    attended = weights.argmax(-1)  # (P, N)
    scored = pairs.content & (pairs.alignment >= 0)
    gold = pairs.alignment.clamp_min(0)
    noun_ids = torch.tensor([task.vocab.token_to_id(noun) for noun in lexicon.NOUNS])
    clause_of = (pairs.premise == task.vocab.token_to_id("and")).long().cumsum(1)  # (P, L) each word's clause
    same_clause = clause_of.gather(1, attended) == clause_of.gather(1, gold)
    width = pairs.alignment.size(1)
    slot = torch.full((len(examples), width), -1)  # (P, N) the gold premise word's slot index
    for p, example in enumerate(examples):
        for t, i in enumerate(example.alignment):
            slot[p, t] = SLOTS.index(KIND[example.premise[i]]) if KIND.get(example.premise[i]) in SLOTS else -1
    exact = (attended == pairs.alignment) & scored
    return {
        "accuracy": float((probabilities.argmax(-1) == pairs.labels).float().mean() * 100),
        "exact": alignment_accuracy(weights, pairs),
        "near": alignment_accuracy(weights, pairs, tolerance=1),
        "clause": float(same_clause[scored].float().mean() * 100),
        "on_is": share(pairs.premise.gather(1, attended) == task.vocab.token_to_id("is"), scored),
        "on_noun": share(torch.isin(pairs.premise.gather(1, attended), noun_ids), scored),
        "peak": float(weights.max(-1).values[scored].mean()),
        "by_slot": [share(exact, scored & (slot == i)) for i in range(len(SLOTS))],
        "words": int(scored.sum()),
        "gradient": query_gradients(model, pairs),
    }


def query_gradients(model: torch.nn.Module, pairs, count: int = 500) -> float:
    """How much the loss trains the attention before the last hypothesis word: the mean norm of
    ``∂loss/∂q_t`` (``q_t = [h_t; r_{t-1}]``, the query of eq. 11, used by nothing but the score) over
    the words before each pair's last, divided by the same at its last word, on ``count`` test pairs."""
    queries = []
    hook = model.reader.attention.register_forward_pre_hook(lambda module, args: queries.append(args[0]))
    inputs = [tensor[:count] for tensor in (pairs.premise, pairs.premise_lengths, pairs.hypothesis)]
    lengths = pairs.hypothesis_lengths[:count]
    model.eval()
    try:
        logits = model(*inputs, lengths).logits
    finally:
        hook.remove()
    loss = torch.nn.functional.cross_entropy(logits, pairs.labels[:count])
    norms = torch.stack([grad.norm(dim=-1) for grad in torch.autograd.grad(loss, queries)], 1)  # (count, N)
    position = torch.arange(norms.size(1))
    before, last = position < (lengths - 1)[:, None], position == (lengths - 1)[:, None]
    return float(norms[before].mean() / norms[last].mean())


def share(hits: torch.Tensor, where: torch.Tensor) -> float:
    """% of ``where`` that ``hits``; nan where there is nothing to count."""
    return float(hits[where].float().mean() * 100) if bool(where.any()) else float("nan")


def row(name: str, change: str, result: dict) -> str:
    slots = " / ".join(f"{value:.1f}" for value in result["by_slot"])
    return (
        f"| {name} | {change} | {result['accuracy']:.2f} | {result['exact']:.1f} | {result['near']:.1f} "
        f"| {result['clause']:.1f} | {result['on_is']:.1f} | {result['on_noun']:.1f} | {result['peak']:.2f} | {slots} "
        f"| {result['gradient']:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "entailment-alignment", help="the tries' runs")
    parser.add_argument("--seed-runs", type=Path, default=ROOT / "runs" / "entailment-seeds", help="seed runs to add")
    parser.add_argument("--results", type=Path, default=ROOT / "docs" / "results", help="where to write the md")
    parser.add_argument("--steps", type=int, default=STEPS, help="optimiser steps of the recipe's run")
    args = parser.parse_args()
    rows, results, loads = [], {}, []
    for name, change in TRIES.items():
        steps = args.steps * change.times
        training = {"steps": steps, "val_every": max(1, steps // 5), "checkpoint_every": steps}
        path = args.seed_runs / "word-by-word-seed0" if name == "recipe" else args.out / name.replace(" ", "-")
        run = train_once(
            "entailment", path, preset="word-by-word", model=change.model, task=change.task, training=training,
            progress=False, threads=1,
        )  # fmt: skip
        loads.append(os.getloadavg()[0])
        results[name] = diagnose(run)
        rows.append(row(name, change.about, results[name]))
        print(rows[-1], flush=True)
    for seed in (1, 2):  # the other seeds of the recipe's run, where experiments/entailment.py --seeds made them
        path = args.seed_runs / f"word-by-word-seed{seed}"
        if (path / "model.safetensors").is_file():
            results[f"seed {seed}"] = diagnose(Run(path))
            rows.append(row(f"seed {seed}", "none; data and weights of seed " + str(seed), results[f"seed {seed}"]))
    text = REPORT.format(
        steps=args.steps,
        words=results["recipe"]["words"],
        rows="\n".join(rows),
        discussion=discussion(results),
        machine=f"{platform.machine()}, {os.cpu_count()} CPUs",
        load=f"{min(loads):.1f} to {max(loads):.1f}",
    )
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "entailment_alignment.md").write_text(text, encoding="utf-8")
    print(text)


def discussion(results: dict[str, dict]) -> str:
    """What the rows say, with their numbers: the diagnosis of the recipe's run, then each try."""
    recipe, seeds = results["recipe"], [results[name] for name in ("recipe", "seed 1", "seed 2") if name in results]
    best = max(results, key=lambda name: results[name]["exact"])
    gradients = ", ".join(f"{seed['gradient']:.2f}" for seed in seeds)
    return "\n".join(
        [
            "Diagnosis of the recipe's run (seeds 1 and 2: the last rows):",
            "",
            f"- **Not one word off.** The argmax is at most one word from the gold word for {recipe['near']:.1f}% of",
            f"  the words (exact: {recipe['exact']:.1f}%), and inside the gold word's clause for only"
            f" {recipe['clause']:.1f}%;",
            f'  {recipe["on_is"]:.1f}% of the rows peak on an "is", with a mean peak of {recipe["peak"]:.2f}: a soft'
            " spread over",
            "  the premise, not a pointer at a word or even at the right clause.",
            "- **The attention before the last word is trained.** Eq. 14 reads only `r_N`, but the gradient that",
            "  reaches the earlier queries through `r_t`'s recurrence is of the same order as the last word's"
            f" (ratio {gradients}; seeds 0, 1, 2).",
            "- **The last word's attention, the one eq. 14 reads, does not pick the place** it copies"
            f" ({recipe['by_slot'][4]:.1f}% exact):",
            "  the conditioned `h_N` already holds the hypothesis, and the attention adds a summary of the premise.",
            "  The place and verb of a hypothesis can be checked without aligning them: with the default data a",
            "  changed verb or place is one that no premise clause has, so a bag of the premise's words refutes it.",
            "",
            "Tries (one run each, seed 0):",
            "",
            f"- 3 times the training: test accuracy {results['steps x3']['accuracy']:.2f}% (from"
            f" {recipe['accuracy']:.2f}%), alignment {results['steps x3']['exact']:.1f}%;",
            f"- no dropout: {results['dropout 0']['exact']:.1f}% ({results['dropout 0']['on_is']:.1f}% of the rows"
            ' peak on an "is");',
            f"  k = 32: {results['k 32']['exact']:.1f}%;",
            f"- one clause per premise: {results['1 clause']['exact']:.1f}%, the nouns"
            f" {results['1 clause']['by_slot'][2]:.1f}% but the verbs and places"
            f" {results['1 clause']['by_slot'][3]:.1f}% and {results['1 clause']['by_slot'][4]:.1f}%, because"
            f" {results['1 clause']['on_noun']:.1f}% of all the rows peak on the noun: the subject, whatever the word;",
            f"- contradictions by a word of another clause (`--swaps 1`, so the bag shortcut fails for them):"
            f" {results['swaps 1']['exact']:.1f}%, clause {results['swaps 1']['clause']:.1f}%, test accuracy"
            f" {results['swaps 1']['accuracy']:.2f}%.",
            "",
            f"The goal (>= 85%) is {'met' if results[best]['exact'] >= 85 else 'not met'}: the best run is"
            f' "{best}" at {results[best]["exact"]:.1f}%. On this data the labels can be decided without the',
            "word-by-word alignment that eqs. 11-14 allow, and the equations do not reward it: a soft summary of",
            "the premise, peaked on the clause's subject and read with the conditioned last state, decides them.",
        ]
    )


if __name__ == "__main__":
    main()
