"""The Recurrent Attention Model (Mnih et al. 2014), Table 1 on scikit-learn's digits, and its cost claim.

Trains, on one CPU thread each, RAM with 2, 4 and 6 glimpses, a fully connected net and a small
convnet on the digit variants (centred 28×28, translated 60×60, cluttered 60×60; see
:mod:`attnzoo.tasks.digits`), with new random placements of the training digits every epoch,
and writes the files below. RAM is trained with the recipe chosen on the validation error of
500-epoch runs (``--screen``): an LSTM core, AdamW's weight decay 0.1 and the REINFORCE gradient
into the core; ``--ram-core rnn --ram-weight-decay 0 --no-ram-policy-trains-core`` trains the
paper's ReLU core with the policy gradient stopped at the location network. It writes:

- ``docs/results/ram.md``: test error (%) of every model on every variant (the paper's Table 1
  layout), and the cost per image (ms and FLOPs) of RAM with 6 glimpses (the table's and the
  paper's RNN-core one) and of the convnet on 60², 100² and 200² canvases;
- ``docs/results/ram.png``: the error table as bars, ms and FLOPs per image against canvas side;
- ``docs/results/ram_glimpses_<variant>.png``: glimpse paths of RAM-6 on test images.

A run whose directory already holds ``results.json`` is not trained again (delete it to retrain),
and the cost per image is measured once into ``<out>/costs.json`` (delete it to measure again),
so the grid may be trained by several processes in parallel (``--only-train`` with disjoint
``--variants``/``--models``) and reported by a last call (``--report-only`` reports the finished
runs and leaves the others out of the table, marked "–").

    python experiments/ram.py                                # the whole grid and the report
    python experiments/ram.py --variants translated60 --only-train
    python experiments/ram.py --scale 0.02                   # a quick smoke run of the pipeline
    python experiments/ram.py --report-only --more-runs runs/ram-seed1  # with the pair trained on seed 1
    python experiments/ram.py --report-only --screen runs/screen/wd runs/screen/base  # recipes on valid
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from attnzoo import create_model
from attnzoo.models.ram import cli as ram_cli
from attnzoo.models.ram.model import RAMConfig
from attnzoo.models.ram.module import (
    count_parameters,
    default_config,
    eval_copies,
    evaluate_model,
    read_task,
    train,
)
from attnzoo.tasks import digits

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ("centred28", "translated60", "cluttered60")
GLIMPSES = (2, 4, 6)
SAMPLES = (0, 1, 10)  # Monte-Carlo paths averaged at test (0: the policy's mean path)
MAIN_SAMPLES = 10  # the M reported in the main table
MAIN_PAIR = ("ram-6", "digits-convnet")  # the goal's pair on translated60, repeated in --more-runs
CANVASES = (60, 100, 200)
COST_BATCH = 32


def run_names(glimpses: tuple[int, ...]) -> list[str]:
    return ["digits-mlp", "digits-convnet", *(f"ram-{count}" for count in glimpses)]


def run_config(name: str, variant: str, args: argparse.Namespace) -> Any:
    """The config of run ``name`` ("ram-6", "digits-convnet", ...) on ``variant``; RAM's as ``args`` say."""
    if not name.startswith("ram-"):
        return default_config(name, variant)
    return dataclasses.replace(
        default_config("ram", variant),
        glimpses=int(name.split("-")[1]),
        core=args.ram_core,
        core_hidden=args.ram_core_hidden,
        dropout=args.ram_dropout,
        policy_trains_core=args.ram_policy_trains_core,
        combine=args.ram_combine,
    )


def run_one(out: Path, variant: str, name: str, epochs: dict[str, int], args: argparse.Namespace) -> dict:
    """Train and evaluate run ``name`` on ``variant`` unless ``results.json`` exists; return the results."""
    run_dir = out / variant / name
    results_file = run_dir / "results.json"
    if results_file.is_file():
        return json.loads(results_file.read_text(encoding="utf-8"))
    model = "ram" if name.startswith("ram-") else name
    config = run_config(name, variant, args)
    weight_decay = args.ram_weight_decay if model == "ram" else 0.0
    ema_decay = args.ram_ema_decay if model == "ram" else None
    start = time.perf_counter()
    trained = train(
        run_dir,
        variant=variant,
        model=model,
        config=config,
        epochs=epochs[model],
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=weight_decay,
        ema_decay=ema_decay,
        seed=args.seed,
        progress=False,
    )
    seconds = time.perf_counter() - start
    results = {
        "variant": variant,
        "name": name,
        "epochs": epochs[model],
        "train_seconds": round(seconds, 1),
        "parameters": count_parameters(trained.model),
        "config": dataclasses.asdict(config),
        "weight_decay": weight_decay,
        "ema_decay": ema_decay,
        "valid": evaluate_model(trained.model, variant, split="valid", seed=args.seed, samples=SAMPLES),
        "test": evaluate_model(trained.model, variant, split="test", seed=args.seed, samples=SAMPLES),
    }
    results_file.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"{variant} {name}: test {results['test']} ({seconds:.0f} s)", flush=True)
    return results


def main_error(results: dict) -> float:
    test = results["test"]
    return test.get(f"error M={MAIN_SAMPLES}", test.get("error"))


@torch.no_grad()
def measure_costs(name: str, config: Any, repeats: int, trials: int) -> dict[int, dict]:
    """ms and FLOPs per image of untrained model ``name`` ("ram" or "digits-convnet") of ``config`` per canvas side.

    ``trials`` times :func:`time_per_image` (each with new images), all the canvases of
    :data:`CANVASES` in the same process: ``"ms"`` is the median of the trials, ``"ms trials"``
    each trial's; ``"ms cached"`` the same median with one batch per canvas, timed again and again
    (its images stay in the cache, so their reads cost less). FLOPs: the matrix multiplications and
    convolutions counted by ``torch.utils.flop_counter`` (RAM's sensor adds 8 FLOPs per bilinear
    sample: 6 g² = 864 samples per glimpse, see the report).
    """
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(0)
    model = create_model(name, config).eval()
    flops = {}
    for side in CANVASES:
        with FlopCounterMode(display=False) as counter:
            model(torch.rand(COST_BATCH, 1, side, side))
        flops[side] = counter.get_total_flops() / COST_BATCH
    found = [time_per_image(model, repeats, fresh=True) for _ in range(trials)]
    cached = [time_per_image(model, repeats, fresh=False) for _ in range(trials)]
    return {
        side: {
            "ms": statistics.median(trial[side] for trial in found),
            "ms trials": [trial[side] for trial in found],
            "ms cached": statistics.median(trial[side] for trial in cached),
            "flops": flops[side],
            "rounds": repeats,
        }
        for side in CANVASES
    }


def time_per_image(model: torch.nn.Module, repeats: int, *, fresh: bool) -> dict[int, float]:
    """ms per image of ``model`` on every canvas side, the median over ``repeats`` rounds.

    Batches of :data:`COST_BATCH` images; ``fresh``: cycled through ≥ 64 MB of them per canvas, so
    that a batch is not already in the cache, as with a data loader (else one batch per canvas).
    One warm-up batch per canvas, then rounds that time one batch of every canvas in turn (the
    sizes interleaved, so a change of the shared machine's load hits them alike).
    """
    batches, times = {}, {side: [] for side in CANVASES}
    for side in CANVASES:
        count = max(2, -(-64 * 2**20 // (COST_BATCH * side * side * 4))) if fresh else 1
        batches[side] = [torch.rand(COST_BATCH, 1, side, side) for _ in range(count)]
        model(batches[side][0])  # warm-up
    for index in range(1, repeats + 1):
        for side in CANVASES:
            images = batches[side][index % len(batches[side])]
            start = time.perf_counter()
            model(images)
            times[side].append(time.perf_counter() - start)
    return {side: statistics.median(times[side]) * 1e3 / COST_BATCH for side in CANVASES}


@torch.no_grad()
def policy_diagnostics(run_dir: Path, variant: str, seed: int) -> dict[str, list[float] | float]:
    """Where the trained policy of ``run_dir`` looks on the test canvases of ``variant``, against the digit.

    On the policy's mean path: the mean distance from each glimpse to the digit's centre (in
    ``[-1, 1]`` units, so 1 is half the canvas) and the share of glimpses at the border (a
    coordinate at ±0.95 or beyond, where ``tanh`` saturates). And the test error (%) of the same
    trained networks on three paths: the policy's means, every later glimpse on the digit's centre
    (the first stays at the canvas centre, as in training), every glimpse at the canvas centre.
    """
    from attnzoo.training import load_model

    model, _ = load_model(run_dir)
    model.eval()
    data = digits.digits_dataset(variant, "test", seed=seed, copies=eval_copies(variant))
    centres = data.digit_centres()  # (N, 2)
    steps = model.config.glimpses
    output = model(data.images, sample=False)
    on_digit = centres[:, None, :].repeat(1, steps, 1)  # (N, T, 2)
    on_digit[:, 0] = 0.0

    def error(log_probs: torch.Tensor) -> float:
        return float((log_probs.argmax(-1) != data.labels).float().mean() * 100)

    return {
        "distance": (output.locations - centres[:, None, :]).norm(dim=-1).mean(0).tolist(),
        "border": ((output.locations.abs() >= 0.95).any(-1).float().mean(0) * 100).tolist(),
        "mean path": error(output.log_probs),
        "on the digit": error(model(data.images, path=on_digit).log_probs),
        "at the centre": error(model(data.images, path=torch.zeros_like(on_digit)).log_probs),
    }


def glimpse_pictures(out: Path, variants: list[str], results_dir: Path, glimpses: int) -> list[str]:
    written = []
    for variant in variants:
        run_dir = out / variant / f"ram-{glimpses}"
        if (run_dir / "model.safetensors").is_file():
            written.append(glimpse_picture(run_dir, results_dir / f"ram_glimpses_{variant}.png"))
    return written


def glimpse_picture(run_dir: Path, path: Path) -> str:
    """Draw the glimpse paths of the RAM run ``run_dir`` into ``path`` (sampling seeded); its file name."""
    torch.manual_seed(0)
    ram_cli.plot(run_dir, picture="glimpses", path=path)
    return path.name


def recipe_pictures(pairs: list[dict], results_dir: Path) -> list[str]:
    """Glimpse paths of the first translated60 RAM-6 run of every recipe in ``pairs`` other than the main run's."""
    written, seen = [], {run_recipe(pairs[0]["ram"])} if pairs else set()
    for entry in pairs:
        settings = run_recipe(entry["ram"])
        if settings in seen:
            continue
        seen.add(settings)
        name = f"ram_glimpses_translated60_{settings.file_stem()}.png"
        written.append(glimpse_picture(entry["folder"] / "ram-6", results_dir / name))
    return written


def draw(path: Path, table: dict[str, dict[str, dict]], names: list[str], costs: dict[str, dict[int, dict]]) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(14, 4.2), layout="constrained")
    bars, times, flops = figure.subplots(1, 3)
    variants = list(table)
    width = 0.8 / len(names)
    for index, name in enumerate(names):
        values = [main_error(table[v][name]) if name in table[v] else np.nan for v in variants]
        positions = np.arange(len(variants)) + (index - (len(names) - 1) / 2) * width
        bars.bar(positions, values, width, label=label(name))
    bars.set_xticks(np.arange(len(variants)), variants)
    bars.set_ylabel("test error (%)")
    bars.set_title("test error")
    bars.legend(fontsize=8)
    for name, series in costs.items():
        sides = sorted(series)
        times.plot(sides, [series[s]["ms"] for s in sides], "-o", label=label(name))
        flops.plot(sides, [series[s]["flops"] / 1e6 for s in sides], "-o", label=label(name))
    for axis, title in [(times, "ms per image (1 thread)"), (flops, "MFLOPs per image")]:
        axis.set_xlabel("canvas side (pixels)")
        axis.set_yscale("log")
        axis.set_xticks(CANVASES, [str(side) for side in CANVASES])
        axis.set_title(title)
        axis.legend(fontsize=8)
    figure.savefig(path, dpi=110)


def label(name: str) -> str:
    """The name in tables and legends of a run ("ram-4", "digits-mlp") or of a model of the costs."""
    if name.startswith("ram-"):
        return f"RAM, {name.split('-')[1]} glimpses"
    return {
        "ram": "RAM, 6 glimpses",
        "ram (rnn)": "RAM, 6 glimpses, the paper's RNN core",
        "digits-mlp": "FC net",
        "digits-convnet": "convnet",
    }[name]


def write_report(
    path: Path,
    table: dict[str, dict[str, dict]],
    names: list[str],
    costs: dict[str, dict[int, dict]],
    pictures: list[str],
    args: argparse.Namespace,
    epochs: dict[str, int],
    diagnostics: dict[tuple[str, str], dict],
    pairs: list[dict],
) -> None:
    variants = list(table)
    per_epoch = 1258 // args.batch_size
    ram_epochs = sorted({run["epochs"] for runs in table.values() for name, run in runs.items() if "ram-" in name})
    ram_updates = " or ".join(f"{count * per_epoch:,}" for count in ram_epochs) or "no"
    lines = [
        "# Recurrent Attention Model (Mnih et al. 2014) on scikit-learn's digits",
        "",
        f"Produced by `{' '.join(['python experiments/ram.py', *sys.argv[1:]])}`"
        + " on a shared 2-core CPU, one torch thread per process (runs trained by earlier calls are reused).",
        "",
        "## Table 1 layout: test error (%)",
        "",
        "| model | parameters | " + " | ".join(variants) + " |",
        "|---|---|" + "---|" * len(variants),
    ]
    for name in names:
        cells = [f"{main_error(table[v][name]):.2f}" if name in table[v] else "–" for v in variants]
        params = sorted({f"{table[v][name]['parameters']:,}" for v in variants if name in table[v]})
        lines.append(f"| {label(name)} | {' / '.join(params)} | " + " | ".join(cells) + " |")
    lines += [
        "",
        *missing_runs(table, names),
        f"RAM's error is that of class probabilities averaged over M = {MAIN_SAMPLES} sampled glimpse paths "
        "(Monte Carlo). Parameters: one count per canvas size where it differs (28×28 / 60×60).",
        "",
        "RAM with other evaluations (test error %, mean path = the policy's means, no sampling) and the settings "
        "of each run (epochs of 1,258 training digits, location σ, then the recipe: " + RECIPE + "):",
        "",
        *table_header(
            "variant | glimpses | mean path | 1 sampled path | 10 sampled paths averaged | valid (10 paths) "
            f"| epochs | σ | {RECIPE_COLUMNS}"
        ),
    ]
    for variant in variants:
        for name in names:
            if name.startswith("ram-") and name in table[variant]:
                run = table[variant][name]
                test, valid, config = run["test"], run["valid"], run["config"]
                lines.append(
                    f"| {variant} | {name.split('-')[1]} | {test['error M=0']:.2f} | {test['error M=1']:.2f} | "
                    f"{test['error M=10']:.2f} | {valid['error M=10']:.2f} | {run['epochs']} | "
                    f"{config['location_std']} | {run_recipe(run).cells()} |"
                )
    lines += policy_lines(diagnostics)
    lines += [
        "",
        *cost_lines(costs),
    ]
    lines += more_runs_lines(pairs)
    lines += screen_lines(args.screen)
    lines += goals(table, costs, pairs)
    lines += [
        "",
        "RAM's sensor adds 6·g² = 864 bilinear samples per glimpse (about 8 FLOPs each, 7 kFLOPs) at every "
        "canvas size; the table's FLOPs leave them out.",
        "",
        "![error and cost](ram.png)",
        "",
        *(f"![glimpse paths]({picture})" for picture in pictures),
        "",
        "## Settings",
        "",
        "- Training: Adam (AdamW where a weight decay is given), "
        f"learning rate {args.lr} with cosine decay, batch {args.batch_size}, seed {args.seed}; "
        f"epochs: RAM as in the table above, FC net {epochs['digits-mlp']}, convnet {epochs['digits-convnet']}; "
        "each epoch draws new canvases for the 1,258 training digits.",
        "- Test: the 360 test digits (20 % of each class); on 60×60 canvases 5 random canvases per digit "
        "(1,800 images), fixed by the seed.",
        f"- One seed per run (seed {args.seed})"
        + (f"; {len(pairs) - 1} more translated60 RAM-6 / convnet runs (More runs)" if len(pairs) > 1 else "")
        + "; one misclassified test image is 0.28 pp at 28×28 (360 images) and 0.056 pp at 60×60 (1,800).",
        f"- The budget is small for RAM: {ram_updates} updates of "
        f"{args.batch_size} images per run (the paper trains on MNIST's "
        "60,000 digits for many epochs); the FC net and the convnet need far fewer updates to converge. RAM's "
        "location policy after this budget is visible in the glimpse pictures (the policy's mean path).",
        "- Train seconds per run (shared CPU): "
        + ", ".join(f"{v}/{n} {table[v][n]['train_seconds']:.0f}" for v in variants for n in names if n in table[v])
        + ".",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def cost_lines(costs: dict[str, dict[int, dict]]) -> list[str]:
    """The report's section on the cost per image against the canvas size (see :func:`measure_costs`)."""
    first, last = CANVASES[0], CANVASES[-1]
    lines = [
        "## Cost per image against the canvas size",
        "",
        f"Inference, batches of {COST_BATCH} fresh images, untrained weights, one warm-up batch per canvas, then "
        "rounds that time one batch of every canvas in turn in the same process ("
        + "; ".join(f"{label(name)}: {series[first]['rounds']} rounds" for name, series in costs.items())
        + f"), the median per canvas; all that done {len(costs['ram'][first]['ms trials'])} times with new "
        "images (trials, measured once and kept in costs.json under --out), the median of the trials given; "
        "FLOPs of the matrix multiplications and convolutions (torch.utils.flop_counter). RAM: 6 glimpses of "
        "12×12, 3 scales. The last column: the same ratio when one batch per canvas is timed again and again, "
        "so that its images are already in the cache.",
        "",
        *table_header(
            " | ".join(["model", *(f"{side}² ms" for side in CANVASES), *(f"{side}² MFLOPs" for side in CANVASES)])
            + f" | ms {last}²/{first}² | same, images in the cache"
        ),
    ]
    for name, series in costs.items():
        ms = [f"{series[side]['ms']:.3f}" for side in CANVASES]
        mflops = [f"{series[side]['flops'] / 1e6:.2f}" for side in CANVASES]
        ratios = f"{growth(series, 'ms'):.2f}x | {growth(series, 'ms cached'):.2f}x"
        lines.append(f"| {label(name)} | {' | '.join(ms + mflops)} | {ratios} |")
    return lines


def policy_lines(diagnostics: dict[tuple[str, str], dict]) -> list[str]:
    """The report's section on where the trained policies look (see :func:`policy_diagnostics`)."""
    if not diagnostics:
        return []
    lines = [
        "",
        "## Where the policy looks",
        "",
        "On the test canvases, the policy's mean path: the mean distance from glimpse 1, 2, ... to the digit's "
        "centre in [-1, 1] units (1 = half the canvas; glimpse 1 is always the canvas centre), and the share of "
        "glimpses at the border (a coordinate at ±0.95 or beyond). Then the test error (%) of the same trained "
        "networks on three paths: the policy's means; every later glimpse put on the digit's centre; every "
        "glimpse at the canvas centre. The location network is trained by REINFORCE (which reaches the core too "
        "where the recipe says so) and the classifier by the cross-entropy on the glimpses the policy takes: "
        "when the error on the digit is no lower than on the policy's own path, the classifier has adapted to "
        "where the policy looks, so the reward gives the policy no reason to move to the digit.",
        "",
        "| variant | glimpses | distance to the digit | at the border (%) | error, mean path | "
        "error, on the digit | error, at the centre |",
        "|---|---|---|---|---|---|---|",
    ]
    for (variant, name), found in diagnostics.items():
        lines.append(
            f"| {variant} | {name.split('-')[1]} | {' '.join(f'{value:.2f}' for value in found['distance'])} | "
            f"{' '.join(f'{value:.0f}' for value in found['border'])} | {found['mean path']:.2f} | "
            f"{found['on the digit']:.2f} | {found['at the centre']:.2f} |"
        )
    return lines


RECIPE = (
    "the core network, AdamW's weight decay, dropout on g_t, whether the REINFORCE gradient reaches the core "
    "(as the paper), how g_t joins what and where (+ as the paper, or ⊙), "
    "the decay of the weights' moving average (– none)"
)
RECIPE_COLUMNS = "core | weight decay | dropout | policy trains core | g_t | EMA"


class Recipe(NamedTuple):
    """How a RAM run was trained, beyond its sizes (see :data:`RECIPE`)."""

    core: str  # the core network, with its size where it is not the default ("lstm96")
    weight_decay: float
    dropout: float
    trains_core: bool
    combine: str
    ema_decay: float | None

    def cells(self) -> str:
        """The report's table cells, in the order of :data:`RECIPE_COLUMNS`."""
        combine = "+" if self.combine == "add" else "⊙"
        ema = "–" if self.ema_decay is None else self.ema_decay
        return f"{self.core} | {self.weight_decay} | {self.dropout} | {yes_no(self.trains_core)} | {combine} | {ema}"

    def file_stem(self) -> str:
        """A file name part that tells the recipe apart."""
        parts = [] if self.core == "rnn" else [self.core]
        parts += [f"wd{self.weight_decay}", f"dropout{self.dropout}", f"core-{yes_no(self.trains_core)}"]
        if self.combine != "add":
            parts.append(self.combine)
        if self.ema_decay is not None:
            parts.append(f"ema{self.ema_decay}")
        return "_".join(parts)


def yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def recipe(settings: dict, config: dict) -> Recipe:
    """A RAM run's recipe from its ``results.json`` or ``task.json`` (``settings``) and its config;
    an option a run predates is at its default. A core of another size than the default is named
    with its size ("lstm96")."""
    size = config["core_hidden"]
    return Recipe(
        config["core"] if size == RAMConfig.core_hidden else f"{config['core']}{size}",
        settings.get("weight_decay", 0.0),
        config.get("dropout", 0.0),
        config["policy_trains_core"],
        config.get("combine", "add"),
        settings.get("ema_decay"),
    )


def run_recipe(run: dict) -> Recipe:
    """:func:`recipe` of a RAM run's ``results.json``."""
    return recipe(run, run["config"])


def table_header(columns: str) -> list[str]:
    """A markdown table's header and separator lines for ``columns`` ("a | b | c")."""
    return [f"| {columns} |", "|" + "---|" * (columns.count("|") + 1)]


def missing_runs(table: dict[str, dict[str, dict]], names: list[str]) -> list[str]:
    """A note on the runs of the grid that were not trained (empty if none)."""
    missing = [f"{variant}/{name}" for variant in table for name in names if name not in table[variant]]
    if not missing:
        return []
    return [
        f"–: not trained. The grid was cut to fit the time of a shared 2-core CPU (about 5 to 7 jobs of other "
        f"engineers were running): {', '.join(missing)}.",
        "",
    ]


def pair_runs(table: dict[str, dict[str, dict]], args: argparse.Namespace) -> list[dict]:
    """translated60 RAM-6 and convnet results of this run (first) and of the ``--more-runs`` folders.

    Each entry: ``{"seed", "folder", "ram", "convnet", "ram train", "policy"}``: the runs'
    ``results.json``, RAM's error (%) on its training digits (on the canvases of the test protocol,
    10 sampled paths), to tell overfitting from underfitting, and :func:`policy_diagnostics` of
    RAM; empty unless the main table has both runs.
    """
    from attnzoo.training import load_model

    runs = table.get("translated60", {})
    if "ram-6" not in runs or "digits-convnet" not in runs:
        return []
    folders = [args.out / "translated60", *(out / "translated60" for out in args.more_runs)]
    found = []
    for folder in folders:
        ram, convnet = (json.loads((folder / name / "results.json").read_text(encoding="utf-8")) for name in MAIN_PAIR)
        seed = read_task(folder / "ram-6")["seed"]
        model, _ = load_model(folder / "ram-6")
        train = evaluate_model(model, "translated60", split="train", seed=seed, samples=(MAIN_SAMPLES,))
        found.append(
            {
                "seed": seed,
                "folder": folder,
                "ram": ram,
                "convnet": convnet,
                "ram train": train[f"error M={MAIN_SAMPLES}"],
                "policy": policy_diagnostics(folder / "ram-6", "translated60", seed),
            }
        )
    return found


def screen_lines(run_dirs: list[Path]) -> list[str]:
    """The report's table of the ``--screen`` runs: RAM recipes compared on their validation error.

    Each directory is an ``attnzoo train ram`` run; its validation error (10 sampled paths) is
    measured here, on the canvases of its seed. The test split is not looked at.
    """
    from attnzoo.training import load_model

    if not run_dirs:
        return []
    lines = [
        "",
        "## Choosing the recipe: short runs on the validation split",
        "",
        "`attnzoo train ram --variant translated60` runs, each reported by its validation error (%, 10 sampled "
        "paths averaged, 5 canvases per validation digit); a recipe was then trained longer on every seed "
        "(More runs).",
        "",
        *table_header(f"run | seed | epochs | learning rate | σ | {RECIPE_COLUMNS} | valid"),
    ]
    by_setting: dict[tuple, dict[int, float]] = {}
    for run_dir in run_dirs:
        model, config = load_model(run_dir)
        task = read_task(run_dir)
        valid = evaluate_model(model, task["variant"], split="valid", seed=task["seed"], samples=(MAIN_SAMPLES,))
        settings = recipe(task, dataclasses.asdict(config))
        lines.append(
            f"| {run_dir.name} | {task['seed']} | {task['epochs']} | {task['lr']} | "
            f"{config.location_std} | {settings.cells()} | {valid[f'error M={MAIN_SAMPLES}']:.2f} |"
        )
        setting = (task["epochs"], task["lr"], config.location_std, settings)
        by_setting.setdefault(setting, {})[task["seed"]] = valid[f"error M={MAIN_SAMPLES}"]
    return lines + setting_means(by_setting)


def setting_means(by_setting: dict[tuple, dict[int, float]]) -> list[str]:
    """The screens grouped by setting (epochs, learning rate, σ, recipe) run on more than one seed:
    the mean validation error over the seeds that every such setting ran on."""
    repeated = {setting: errors for setting, errors in by_setting.items() if len(errors) > 1}
    shared = set.intersection(*(set(errors) for errors in repeated.values())) if repeated else set()
    if not shared:
        return []
    lines = [
        "",
        f"The settings screened on more than one seed, by their mean validation error on seeds "
        f"{', '.join(map(str, sorted(shared)))} (the seeds all of them ran on):",
        "",
        *table_header(f"epochs | learning rate | σ | {RECIPE_COLUMNS} | mean valid"),
    ]
    means = {setting: statistics.mean(errors[seed] for seed in shared) for setting, errors in repeated.items()}
    for (epochs, lr, std, settings), mean in sorted(means.items(), key=lambda item: item[1]):
        lines.append(f"| {epochs} | {lr} | {std} | {settings.cells()} | {mean:.2f} |")
    return lines


def more_runs_lines(pairs: list[dict]) -> list[str]:
    """The report's table of the translated60 RAM-6 / convnet pair of every run (empty with one run)."""
    if len(pairs) < 2:
        return []
    lines = [
        "",
        "## More runs: translated 60×60, RAM-6 against the convnet",
        "",
        "The same two runs with other `--seed` values, or RAM trained for other numbers of epochs or with "
        "another recipe (the first row is the table's; the recipes are compared on the validation error of "
        '500-epoch runs in "Choosing the recipe"): each seed draws its own train / valid / test split of '
        "the digits, its own canvases and its own initial weights. Test error (%), RAM with 10 sampled paths "
        "averaged; RAM's validation error beside it, and its error on its own training digits (5 canvases each, "
        "as for the test).",
        "",
        "The last two columns: where RAM-6's policy looks on the test canvases, glimpses 2 to 6 of its mean path "
        '(glimpse 1 is at the canvas centre, 0.42 from the digit on average), as in "Where the policy looks".',
        "",
        *table_header(
            f"seed | RAM-6 epochs | {RECIPE_COLUMNS} | RAM-6 test | RAM-6 valid | RAM-6 train | convnet test "
            "| difference (pp) | distance to the digit | at the border (%)"
        ),
    ]
    for entry in pairs:
        ram, convnet = main_error(entry["ram"]), main_error(entry["convnet"])
        lines.append(
            f"| {entry['seed']} | {entry['ram']['epochs']} | {run_recipe(entry['ram']).cells()} | {ram:.2f} | "
            f"{entry['ram']['valid']['error M=10']:.2f} | "
            f"{entry['ram train']:.2f} | {convnet:.2f} | {ram - convnet:+.2f} | "
            f"{statistics.mean(entry['policy']['distance'][1:]):.2f} | "
            f"{statistics.mean(entry['policy']['border'][1:]):.0f} |"
        )
    return lines


def goals(table: dict[str, dict[str, dict]], costs: dict[str, dict[int, dict]], pairs: list[dict]) -> list[str]:
    """The issue's two goals, measured: RAM-6 near the convnet on translated60 (per run); RAM's cost flat."""
    lines = ["", "## The goals, measured", ""]
    if pairs:
        gaps = [main_error(entry["ram"]) - main_error(entry["convnet"]) for entry in pairs]
        main = pairs[0]
        lines.append(
            f"- translated 60×60, RAM with 6 glimpses within 0.5 percentage points of the convnet: "
            f"{'met' if gaps[0] <= 0.5 else 'missed'} on seed {main['seed']} (RAM {main_error(main['ram']):.2f} %, "
            f"convnet {main_error(main['convnet']):.2f} %, difference {gaps[0]:+.2f} pp)."
        )
        if len(pairs) > 1:
            lines.append(
                f"  Over all {len(pairs)} runs (More runs): met on {sum(gap <= 0.5 for gap in gaps)}; mean difference "
                f"{statistics.mean(gaps):+.2f} pp (from {min(gaps):+.2f} to {max(gaps):+.2f})."
            )
            by_recipe: dict[tuple[int, Recipe], list[float]] = {}
            for entry, gap in zip(pairs, gaps, strict=True):
                by_recipe.setdefault((entry["ram"]["epochs"], run_recipe(entry["ram"])), []).append(gap)
            for (epochs, settings), found in by_recipe.items() if len(by_recipe) > 1 else ():
                lines.append(
                    f"  {epochs} epochs, recipe ({RECIPE_COLUMNS}) {settings.cells()}: {len(found)} runs, met on "
                    f"{sum(gap <= 0.5 for gap in found)}, mean difference {statistics.mean(found):+.2f} pp."
                )
    first, last = CANVASES[0], CANVASES[-1]
    if "ram" in costs and "digits-convnet" in costs:
        ram, convnet = costs["ram"], costs["digits-convnet"]
        trials = [a / b for a, b in zip(ram[last]["ms trials"], ram[first]["ms trials"], strict=True)]
        paper = f"the paper's RNN core {growth(costs['ram (rnn)'], 'ms'):.3f}×; " if "ram (rnn)" in costs else ""
        lines.append(
            f"- RAM's time per image flat (≤ 1.1×) from {first}² to {last}² while the convnet's grows: "
            f"{'met' if growth(ram, 'ms') <= 1.1 else 'missed'} (RAM {growth(ram, 'ms'):.3f}×, from "
            f"{min(trials):.3f}× to {max(trials):.3f}× in the {len(trials)} trials, {growth(ram, 'ms cached'):.2f}× "
            f"with the images in the cache, FLOPs {growth(ram, 'flops'):.2f}×; {paper}"
            f"convnet {growth(convnet, 'ms'):.1f}×, FLOPs {growth(convnet, 'flops'):.1f}×)."
        )
    return lines


def growth(series: dict[int, dict], key: str) -> float:
    """A model's cost ``key`` ("ms", "ms cached" or "flops") on the largest canvas over the smallest."""
    return series[CANVASES[-1]][key] / series[CANVASES[0]][key]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "ram", help="run directories")
    parser.add_argument("--results", type=Path, default=ROOT / "docs" / "results", help="where the .md/.png go")
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    parser.add_argument("--models", nargs="*", default=run_names(GLIMPSES), help="e.g. digits-mlp ram-6")
    parser.add_argument("--ram-epochs", type=int, default=260)
    parser.add_argument("--mlp-epochs", type=int, default=100)
    parser.add_argument("--convnet-epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    # RAM's recipe: the defaults are the one chosen on validation error (docs/results/ram.md, "Choosing the recipe")
    parser.add_argument("--ram-weight-decay", type=float, default=0.1, help="RAM: AdamW's decoupled weight decay")
    parser.add_argument("--ram-dropout", type=float, default=0.0, help="RAM: dropout on the glimpse features g_t")
    parser.add_argument(
        "--ram-policy-trains-core",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="RAM: REINFORCE gradient into the core (paper)",
    )
    parser.add_argument("--ram-core", default="lstm", help="RAM: core network, rnn (paper's MNIST runs) or lstm")
    parser.add_argument(
        "--ram-core-hidden", type=int, default=RAMConfig.core_hidden, help="RAM: size of the core state h_t"
    )
    parser.add_argument("--ram-combine", default="add", help="RAM: g_t from what and where, add (paper) or multiply")
    parser.add_argument(
        "--ram-ema-decay", type=float, default=None, help="RAM: end with a moving average of the weights (decay/step)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every run's epochs")
    parser.add_argument("--repeats", type=int, default=200, help="timed rounds of RAM's cost per image")
    parser.add_argument("--convnet-repeats", type=int, default=9, help="timed rounds of the convnet's (slow at 200²)")
    parser.add_argument("--cost-trials", type=int, default=5, help="times the costs are measured, the median kept")
    parser.add_argument("--only-train", action="store_true", help="train the runs, write no report")
    parser.add_argument("--report-only", action="store_true", help="report the finished runs, train nothing")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--more-runs",
        nargs="*",
        type=Path,
        default=[],
        help="--out folders of more translated60 ram-6 and digits-convnet runs (other --seed values: another "
        "split and other weights; or other --ram-epochs), reported beside this one",
    )
    parser.add_argument(
        "--screen",
        nargs="*",
        type=Path,
        default=[],
        help="attnzoo train ram run directories that compared RAM recipes; reported by their validation error",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    epochs = {
        model: max(1, round(count * args.scale))
        for model, count in [
            ("ram", args.ram_epochs),
            ("digits-mlp", args.mlp_epochs),
            ("digits-convnet", args.convnet_epochs),
        ]
    }
    if args.report_only:
        table = {
            variant: {
                name: json.loads((args.out / variant / name / "results.json").read_text(encoding="utf-8"))
                for name in args.models
                if (args.out / variant / name / "results.json").is_file()
            }
            for variant in args.variants
        }
    else:
        table = {
            variant: {name: run_one(args.out, variant, name, epochs, args) for name in args.models}
            for variant in args.variants
        }
    if args.only_train:
        return
    costs_file = args.out / "costs.json"
    if costs_file.is_file():
        costs = {
            name: {int(side): found for side, found in series.items()}
            for name, series in json.loads(costs_file.read_text(encoding="utf-8")).items()
        }
    else:
        measured = {  # the table's RAM-6, the paper's (ReLU RNN core, its default config), the convnet
            "ram": ("ram", run_config("ram-6", "translated60", args), args.repeats),
            "ram (rnn)": ("ram", default_config("ram", "translated60"), args.repeats),
            "digits-convnet": (
                "digits-convnet",
                default_config("digits-convnet", "translated60"),
                args.convnet_repeats,
            ),
        }
        costs = {
            name: measure_costs(model, config, repeats, args.cost_trials)
            for name, (model, config, repeats) in measured.items()
        }
        costs_file.parent.mkdir(parents=True, exist_ok=True)
        costs_file.write_text(json.dumps(costs, indent=2) + "\n", encoding="utf-8")
    args.results.mkdir(parents=True, exist_ok=True)
    largest = max((int(name.split("-")[1]) for name in args.models if name.startswith("ram-")), default=6)
    pictures = glimpse_pictures(args.out, [v for v in args.variants if v != "centred28"], args.results, largest)
    diagnostics = {
        (variant, name): policy_diagnostics(args.out / variant / name, variant, args.seed)
        for variant in table
        for name in table[variant]
        if name.startswith("ram-") and variant != "centred28"
    }
    draw(args.results / "ram.png", table, args.models, costs)
    pairs = pair_runs(table, args)
    pictures += recipe_pictures(pairs, args.results)
    write_report(args.results / "ram.md", table, args.models, costs, pictures, args, epochs, diagnostics, pairs)
    print(f"wrote {args.results / 'ram.md'}")


if __name__ == "__main__":
    main()
