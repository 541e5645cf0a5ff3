"""Translation on a real corpus, as a user does it: BLEU/chrF against the real references.

Draws a 10,000-pair training sample, a 500-pair validation and a 500-pair test set (disjoint)
from a TSV corpus (default: the Tatoeba English–Dutch sample in ../shared/data), writes them as
three TSV files, and trains Bahdanau, Luong and the Transformer on them at word and subword
level with the ``corpus-small`` presets, each for a budget of training minutes. Then it scores
each run on the test set (greedy and beam 4; sacrebleu, raw references), measures batch
translation throughput, and writes docs/results/real_corpus.{md,png}.

    nohup python experiments/real_corpus.py > runs/real_corpus.log 2>&1 &
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path
from string import Template

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "data" / "nld-eng-tatoeba-20k.tsv"
MODELS = {  # label: (registered model, preset)
    "Bahdanau": ("seq2seq", "corpus-small"),
    "Luong": ("seq2seq", "corpus-small-luong"),
    "Transformer": ("transformer", "corpus-small"),
}
LEVELS = ("word", "subword")
COLUMNS = ["model", "tokens", "vocabulary (src / tgt)", "parameters", "steps", "training min", "BLEU greedy"]
COLUMNS += ["chrF greedy", "BLEU beam 4", "chrF beam 4", "exact (beam 4)", "sentences/s beam 1", "sentences/s beam 4"]
COLUMNS += ["mean load while training"]

REPORT = Template("""# Translation on a real corpus

Written by `experiments/real_corpus.py` ($command). Data: $corpus, $train training pairs, $valid
validation and $test test pairs drawn disjointly with seed $seed (the corpus: Tatoeba, CC-BY 2.0 (France);
attribution per sentence in the TSV's third column, see `../shared/data/README.md`). Source →
target: column 1 → column 2.

Every model is its `corpus-small` preset (`attnzoo models seq2seq`, `attnzoo models transformer`),
trained for at most $minutes minutes of optimisation on $threads thread(s) (validation excluded),
the model of the best validation BLEU kept. Scores: sacrebleu against the raw reference strings,
detokenised outputs ($signature). Machine: 2 cores; load average $load when the table was written.

$header
$rows

One sentence through the command line (`attnzoo translate RUN "How are you?"`, start-up, model
and data loading included): $one_sentence s for the Transformer (subword) run.

Goals: BLEU ≥ 25 on the held-out test set with ≤ 10 minutes of training for the best model —
$goal_bleu; subwords ahead of words — $goal_subwords; batch translation ≥ 50 sentences/s at beam 4
for the Transformer — $goal_speed.

![validation BLEU during training](real_corpus.png)

The runs above use one thread each (two ran side by side on the two cores). The best model on both
cores, 10 minutes: `python experiments/real_corpus.py --models Transformer --levels subword --threads 2
--out runs/real_corpus_2threads --name real_corpus_2threads` → `real_corpus_2threads.md` (when it exists).

To reproduce one row: `attnzoo train transformer --preset corpus-small --train $folder/train.tsv
--valid $folder/valid.tsv --test $folder/test.tsv --out runs/tatoeba-transformer`, then
`attnzoo evaluate runs/tatoeba-transformer --beam 4`.
""")


def write_splits(corpus: Path, folder: Path, sizes: tuple[int, int, int], seed: int) -> dict[str, str]:
    """Three disjoint TSV files of ``sizes`` pairs drawn from ``corpus`` (extra columns kept)."""
    lines = [line for line in corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    random.Random(seed).shuffle(lines)
    folder.mkdir(parents=True, exist_ok=True)
    files, start = {}, 0
    for name, size in zip(("train", "valid", "test"), sizes, strict=True):
        path = folder / f"{name}.tsv"
        path.write_text("\n".join(lines[start : start + size]) + "\n", encoding="utf-8")
        files[name], start = str(path), start + size
    return files


def train_one(label: str, level: str, files: dict, out: Path, minutes: float, threads: int) -> Path:
    """Train one model (resuming a stopped run, keeping a finished one)."""
    from attnzoo.training import Run, train

    name, preset = MODELS[label]
    run_dir = out / f"{label.lower()}-{level}"
    if Run(run_dir).file("metrics.json").is_file():
        return run_dir
    resume = Run(run_dir).checkpoint.is_file()
    task = None if resume else {**files, "level": level}
    training = {"minutes": minutes}
    train(name, run_dir, preset=None if resume else preset, task=task, training=training,
          resume=resume, threads=threads, progress=False)  # fmt: skip
    return run_dir


def throughput(run, texts: list[str], beam: int) -> float:
    """Sentences per second of ``attnzoo translate --input`` (batches of 64, sorted by length)."""
    recipe = run.recipe()
    started = time.perf_counter()
    recipe.translate_many(run.model, run.task, texts, beam, 64)
    return len(texts) / (time.perf_counter() - started)


def measure(run_dir: Path) -> dict:
    """Test scores (greedy, beam 4), sizes, steps, minutes and throughput of one run (cached)."""
    from attnzoo.recipes import count_parameters
    from attnzoo.training import Run

    cache = run_dir / "real_corpus.json"
    if cache.is_file():
        return json.loads(cache.read_text())
    run = Run(run_dir)
    pairs = run.task.test.pairs
    greedy, beam = run.evaluate(pairs, beam=1), run.evaluate(pairs, beam=4)
    done = run.read_json("training.json")["done"]
    texts = [source for source, _ in pairs]
    result = {
        "greedy": greedy,
        "beam": beam,
        "vocab": [len(run.task.source_vocab), len(run.task.target_vocab)],
        "parameters": count_parameters(run.model),
        "steps": done["steps"],
        "minutes": done["seconds"] / 60,
        "speed": [throughput(run, texts, 1), throughput(run, texts, 4)],
        "curve": [(int(row["step"]), float(row.get("valid_bleu", "nan"))) for row in run.metrics_rows()],
    }
    cache.write_text(json.dumps(result, indent=2))
    return result


def row(label: str, level: str, r: dict) -> str:
    cells = [label, level, f"{r['vocab'][0]:,} / {r['vocab'][1]:,}", f"{r['parameters']:,}", f"{r['steps']:,}"]
    cells += [f"{r['minutes']:.1f}", f"{r['greedy']['bleu']:.1f}", f"{r['greedy']['chrf']:.1f}"]
    cells += [f"{r['beam']['bleu']:.1f}", f"{r['beam']['chrf']:.1f}", f"{r['beam']['exact']:.1%}"]
    cells += [f"{r['speed'][0]:.0f}", f"{r['speed'][1]:.0f}", f"{r['load']:.1f}"]
    return "| " + " | ".join(cells) + " |"


def mean_load(run_dir: Path) -> float:
    """The machine's mean 1-minute load average over a run's validation rows (2 cores: 2 is full)."""
    from attnzoo.training import Run

    loads = [float(row["load"]) for row in Run(run_dir).metrics_rows()]
    return sum(loads) / max(len(loads), 1)


def one_sentence_seconds(run_dir: Path) -> float:
    """Wall seconds of one ``attnzoo translate RUN TEXT`` command, start-up included."""
    import subprocess

    started = time.perf_counter()
    subprocess.run(["attnzoo", "translate", str(run_dir), "How are you?"], check=True, capture_output=True)
    return time.perf_counter() - started


def draw_curves(results: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4), layout="constrained")
    axis = figure.subplots()
    for (label, level), result in results.items():
        steps, bleu = zip(*result["curve"], strict=True) if result["curve"] else ((), ())
        axis.plot(steps, bleu, marker=".", linestyle="-" if level == "subword" else "--", label=f"{label}, {level}")
    axis.set_xlabel("optimiser step")
    axis.set_ylabel("validation BLEU (greedy)")
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    figure.savefig(path, dpi=110)


def verdicts(results: dict, minutes: float) -> dict[str, str]:
    """The three goal lines, from the measured table."""
    best_label, best = max(results.items(), key=lambda item: item[1]["beam"]["bleu"])
    bleu = best["beam"]["bleu"]
    met = "met" if bleu >= 25 and minutes <= 10 else "not met"
    wins = [(label, r["beam"]["bleu"], results[(label, "word")]["beam"]["bleu"])
            for (label, level), r in results.items() if level == "subword" and (label, "word") in results]  # fmt: skip
    ahead = sum(subword > word for _, subword, word in wins)
    transformer = results.get(("Transformer", "subword"), {}).get("speed", [0, 0])[1]
    return {
        "goal_bleu": f"{met}: best {bleu:.2f} ({best_label[0]}, {best_label[1]}, beam 4)",
        "goal_subwords": f"{'met' if wins and ahead == len(wins) else 'not met'}: subwords ahead for {ahead} of "
        f"{len(wins)} models",
        "goal_speed": f"{'met' if transformer >= 50 else 'not met'}: {transformer:.0f} sentences/s (subword run)",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="a source<TAB>target[<TAB>...] file")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "real_corpus", help="run directories")
    parser.add_argument("--results", type=Path, default=ROOT / "docs" / "results", help="where to write md + png")
    parser.add_argument("--sizes", type=int, nargs=3, default=(10_000, 500, 500), help="train, valid, test pairs")
    parser.add_argument("--minutes", type=float, default=10.0, help="training minutes per run")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--levels", nargs="+", default=list(LEVELS), choices=list(LEVELS))
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample")
    parser.add_argument("--name", default="real_corpus", help="file stem of the report and its figure")
    args = parser.parse_args()
    files = write_splits(args.corpus, args.out / "data", tuple(args.sizes), args.seed)
    results = {}
    for label in args.models:
        for level in args.levels:
            run_dir = train_one(label, level, files, args.out, args.minutes, args.threads)
            results[(label, level)] = measure(run_dir) | {"load": mean_load(run_dir)}
    write_report(args, results)


def write_report(args: argparse.Namespace, results: dict) -> None:
    from attnzoo.recipes.translation import signature

    args.results.mkdir(parents=True, exist_ok=True)
    draw_curves(results, args.results / f"{args.name}.png")
    shown = lambda path: str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)  # noqa: E731
    text = REPORT.substitute(
        command=f"`--minutes {args.minutes:g} --threads {args.threads}`",
        corpus=f"`{shown(args.corpus)}`" if args.corpus != CORPUS else "`../shared/data/nld-eng-tatoeba-20k.tsv`",
        train=f"{args.sizes[0]:,}",
        valid=args.sizes[1],
        test=args.sizes[2],
        seed=args.seed,
        minutes=f"{args.minutes:g}",
        threads=args.threads,
        signature=signature(),
        load=f"{os.getloadavg()[0]:.1f}",
        header="| " + " | ".join(COLUMNS) + " |\n|" + " --- |" * len(COLUMNS),
        rows="\n".join(row(label, level, result) for (label, level), result in results.items()),
        folder=shown(args.out / "data"),
        one_sentence=f"{one_sentence_seconds(args.out / 'transformer-subword'):.1f}"
        if (args.out / "transformer-subword" / "model.safetensors").is_file()
        else "(not measured: no Transformer subword run)",
        **verdicts(results, args.minutes),
    )
    text = text.replace("(real_corpus.png)", f"({args.name}.png)")
    (args.results / f"{args.name}.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
