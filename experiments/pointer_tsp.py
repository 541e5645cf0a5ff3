"""Pointer Networks (Vinyals et al. 2015): TSP against an exact solver, sorting and convex hull.

Trains, on one CPU thread, a Pointer Network per task and writes
``docs/results/pointer_tsp.md`` (the paper's Table 2 layout for TSP with n = 5 and 10: average
tour length of optimal, Ptr-Net greedy and beam, nearest neighbour and random tours, gap to the
optimum; sorting and convex hull accuracy for n = 10) and ``docs/results/pointer_tsp.png``
(predicted vs optimal TSP-10 tours).

TSP targets are Held–Karp optimal tours written canonically (start at node 0, counter-clockwise),
cached as ``.npz`` under ``<out>/cache``. A run whose
directory already holds a model is not trained again (delete it to retrain).

    python experiments/pointer_tsp.py                    # about an hour on a busy 2-core CPU
    python experiments/pointer_tsp.py --scale 0.02       # a quick smoke run of the whole pipeline
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from attnzoo.models.pointer.module import (
    evaluate_model,
    format_rows,
    predict,
    read_task,
    split_seed,
    task_config,
    train,
)
from attnzoo.tasks import geometry
from attnzoo.training import load_model
from attnzoo.viz.tours import plot_tours

ROOT = Path(__file__).resolve().parent.parent
RUNS = {  # name: training settings (steps, minutes and train_size are scaled by --scale)
    "tsp10": {"task": "tsp", "n": 10, "steps": 8000, "batch_size": 256, "train_size": 400_000, "minutes": 40},
    "tsp5": {"task": "tsp", "n": 5, "steps": 1500, "batch_size": 256, "train_size": 200_000, "minutes": 5},
    "sort10": {"task": "sort", "n": 10, "steps": 1500, "batch_size": 128, "train_size": 200_000, "minutes": 5},
    "hull10": {"task": "hull", "n": 10, "steps": 1500, "batch_size": 128, "train_size": 200_000, "minutes": 5},
    "tsp5-rl": {
        "task": "tsp",
        "n": 5,
        "steps": 1000,
        "batch_size": 128,
        "train_size": 200_000,
        "minutes": 5,
        "rl": True,
    },
}
MODEL = {"hidden_size": 128, "embed_dim": 128, "attention_dim": 128, "n_glimpses": 0}  # shared by every run
TEST_COUNT = 1000
BEAM = 8


def run(name: str, settings: dict, out: Path, scale: float) -> dict:
    """Train run ``name`` unless its directory holds a model already; return its settings and time."""
    run_dir = out / name
    if (run_dir / "model.safetensors").is_file() and (run_dir / "task.json").is_file():
        return read_task(run_dir)
    settings = dict(settings)
    settings["steps"] = max(10, int(settings["steps"] * scale))
    settings["train_size"] = max(2000, int(settings["train_size"] * scale))
    if "minutes" in settings:
        settings["minutes"] *= scale
    started = time.time()
    train(
        run_dir,
        config=task_config(settings["task"], **MODEL),
        cache_dir=out / "cache",
        progress=False,
        **settings,
    )
    task = read_task(run_dir)
    task["seconds"] = round(time.time() - started)
    (run_dir / "task.json").write_text(json.dumps(task, indent=2) + "\n", encoding="utf-8")
    return task


def tour_picture(run_dir: Path, path: Path, count: int = 8) -> None:
    """Greedy Ptr-Net tours vs Held–Karp optimal tours of the first test instances."""
    model, _ = load_model(run_dir)
    n = read_task(run_dir)["n"]
    points = geometry.tsp_instances(count, n, split_seed("test", 0))
    optimal, tours = geometry.held_karp(points)
    predicted, _ = predict(model, torch.from_numpy(points))
    lengths = geometry.tour_length(points, predicted.numpy())
    titles = [f"Ptr-Net {p:.3f} / optimal {o:.3f}" for p, o in zip(lengths, optimal, strict=True)]
    plot_tours(points, predicted.tolist(), tours.tolist(), path, titles=titles)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "pointer_tsp", help="run directories and cache")
    parser.add_argument("--results", type=Path, default=ROOT / "docs" / "results", help="where the .md/.png go")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every run's steps, minutes, data")
    parser.add_argument("--only", nargs="*", default=list(RUNS), help="train these runs only")
    args = parser.parse_args()
    torch.set_num_threads(1)

    trained = {name: run(name, RUNS[name], args.out, args.scale) for name in args.only}
    results: dict[str, list[dict]] = {}
    for name, task in trained.items():
        model, _ = load_model(args.out / name)
        seed = split_seed("test", 0)
        results[name] = evaluate_model(model, task["task"], task["n"], count=TEST_COUNT, seed=seed, beam_size=BEAM)
        print(name, *format_rows(task["task"], task["n"], results[name]), sep="\n")

    args.results.mkdir(parents=True, exist_ok=True)
    if "tsp10" in trained:
        tour_picture(args.out / "tsp10", args.results / "pointer_tsp.png")
    write_report(args.results / "pointer_tsp.md", trained, results)


def write_report(path: Path, trained: dict[str, dict], results: dict[str, list[dict]]) -> None:
    tables = {name: format_rows(trained[name]["task"], trained[name]["n"], rows) for name, rows in results.items()}

    def training(name: str) -> str:
        task = trained[name]
        how = f"REINFORCE, {task['baseline']} baseline" if task["rl"] else "supervised"
        minutes = f"{task['seconds'] / 60:.1f} min" if "seconds" in task else "time not recorded"
        return (
            f"{how}; {task['steps']} steps of batch {task['batch_size']}, Adam {task['lr']:g} with cosine decay, "
            f"{task['train_size']:,} training instances; {minutes} on one CPU thread"
        )

    lines = [
        "# Pointer Networks: TSP, sorting and convex hull",
        "",
        "Vinyals, Fortunato & Jaitly 2015, *Pointer Networks*: the decoder's additive attention over the",
        "inputs is the output distribution, `u_j = v^T tanh(W1 e_j + W2 d_i)`, `p = softmax(u)` (eq. 3).",
        "Written by `python experiments/pointer_tsp.py` (model code: `src/attnzoo/models/pointer/`).",
        "",
        f"Model (every run): LSTM encoder and decoder, {MODEL['hidden_size']} units, inputs embedded linearly "
        f"({MODEL['embed_dim']}), attention size {MODEL['attention_dim']}, {MODEL['n_glimpses']} glimpses "
        "(Bello et al. 2016; 0 = the plain pointer of eq. 3), already-chosen inputs masked. "
        f"Test sets: {TEST_COUNT} instances (seed {split_seed('test', 0)}, never seen in training); "
        f"beam search keeps {BEAM} hypotheses and returns the most probable one.",
        "",
    ]
    if any(name.startswith("tsp") for name in tables):
        lines += [
            "## TSP (Table 2 layout)",
            "",
            "Cities uniform in the unit square. *optimal*: Held–Karp dynamic programming (exact), which also",
            "gives the supervised targets. The gap is `mean(length) / mean(optimal length) - 1`; *optimal tours*",
            "is the share of instances where the tour is optimal. Vinyals et al. report 2.87 (optimal) vs 2.88",
            "(Ptr-Net) for n = 10 and 2.12 vs 2.12 for n = 5.",
            "",
        ]
        for name in ("tsp5", "tsp10", "tsp5-rl"):
            if name in tables:
                lines += [f"**{name}** ({training(name)})", "", *tables[name], ""]
        if "tsp10" in trained:
            gap = next(row["gap"] for row in results["tsp10"] if row["method"] == "Ptr-Net greedy")
            verdict = "met" if gap <= 1.0 else "not met"
            lines += [f"Goal TSP-10 greedy gap <= 1%: **{verdict}** ({gap:.2f}%).", ""]
            lines += ["![predicted vs optimal TSP-10 tours](pointer_tsp.png)", ""]
    for name, title, note in [
        ("sort10", "Sorting", "n numbers uniform in [0, 1); accuracy = the whole permutation is right."),
        (
            "hull10",
            "Convex hull",
            "n points uniform in the unit square; target = hull vertices counter-clockwise from the lowest "
            "index, then an end input (monotone chain). Accuracy = the exact sequence; area coverage = mean of "
            "(area of the predicted polygon) / (area of the true hull).",
        ),
    ]:
        if name in tables:
            lines += [f"## {title}", "", note, "", f"({training(name)})", "", *tables[name], ""]
    lines += [
        "## Notes from development",
        "",
        "Measured with short side runs while building this (same model and data, one CPU thread; not",
        "re-run by this script):",
        "",
        "- **Initialisation of the attention.** With every weight in U(-0.08, 0.08) (Vinyals et al.) the",
        "  pre-activations of `tanh(W1 e_j + W2 d_i)` are ~0.05; since `W2 d_i` is added to every key alike, the",
        "  gradient reaching the decoder cancels over the softmax except for tanh's curvature, and TSP-10",
        "  training sat at the uniform distribution (loss 1.23 nats/step at step 300 = uniform over the",
        "  unvisited cities) and had a greedy gap of 42.5% after 400 steps. `W1`, `W2` in U(-0.8, 0.8)",
        "  (`score_init`) left the plateau by step 150: greedy gap 4.9% after 400 steps (300 test instances).",
        "  With a glimpse",
        "  (Bello et al.) and the small initialisation the decoder's gradient was ~1e-12.",
        "- **Canonical tour direction.** Starting at node 0 and taking the direction whose second node has",
        "  the smaller index makes step 2 a comparison of indices: TSP-5 loss 0.36 nats/step after 500 steps",
        "  (a 915-step run: greedy gap 11.4%), against 0.13 after 400 steps for counter-clockwise tours",
        "  (a 1,355-step run: 0.50%). With the index rule, TSP-10 reached a 2.85% greedy / 2.19% beam gap",
        "  after 1,729 steps.",
        "- TSP-10 with counter-clockwise targets and a 15-minute budget on a busier machine got 669 steps:",
        "  3.78% greedy / 2.59% beam gap.",
        "",
        "Runs with a time limit decay the learning rate over whichever of steps and minutes runs out first,",
        "so a rerun on a less busy machine takes more steps. Reproduce one run and its table with the",
        "command line, e.g.",
        "",
        "```bash",
        "attnzoo train pointer --task tsp --n 10 --steps 8000 --batch-size 256 --train-size 400000 "
        "--minutes 40 --out runs/tsp10",
        "attnzoo evaluate runs/tsp10",
        "attnzoo plot runs/tsp10 --tours tours.png",
        "```",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
