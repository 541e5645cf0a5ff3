"""The report of ``experiments/ram.py``: ``docs/results/ram.md`` and ``ram.png`` from the runs' ``results.json``.

The prose is in the templates below (``string.Template``); the code fills in the tables.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from string import Template
from typing import Any

import numpy as np
from ram_costs import CANVASES, COST_BATCH, growth

from attnzoo.models.ram.model import RAMConfig

MAIN_KEY = "error_m10"  # RAM's error in the main table: 10 sampled paths averaged (Monte Carlo)

REPORT = Template("""# Recurrent Attention Model (Mnih et al. 2014) on scikit-learn's digits

Produced by `$command` on a shared CPU, one torch thread per process (runs trained by earlier calls are reused).

## Table 1 layout: test error (%)

$main_table

${missing}RAM's error is that of class probabilities averaged over M = 10 sampled glimpse paths (Monte Carlo). \
Parameters: one count per canvas size where it differs (28×28 / 60×60).

RAM with other evaluations (test error %, mean path = the policy's means, no sampling) and the settings of each \
run (epochs of 1,258 training digits, location σ, then the recipe: the core network, AdamW's weight decay, dropout \
on g_t, whether the REINFORCE gradient reaches the core (as the paper), how g_t joins what and where (+ as the \
paper, or ⊙), the decay of the weights' moving average (– none)):

$ram_table
$policy
## Cost per image against the canvas size

Inference, batches of $batch fresh images, untrained weights, one warm-up batch per canvas, then rounds that time \
one batch of every canvas in turn in the same process ($rounds), the median per canvas; all that done $trials times \
with new images (trials, measured once and kept in costs.json under --out), the median of the trials given; FLOPs \
of the matrix multiplications and convolutions (torch.utils.flop_counter). RAM: 6 glimpses of 12×12, 3 scales. \
The last column: the same ratio when one batch per canvas is timed again and again, so that its images are already \
in the cache.

$cost_table
$more_runs$screen
## The goals, measured

$goals

RAM's sensor adds 6·g² = 864 bilinear samples per glimpse (about 8 FLOPs each, 7 kFLOPs) at every canvas size; the \
table's FLOPs leave them out.

![error and cost](ram.png)

$pictures

## Settings

- Training: `attnzoo.training.train` with each model's recipe (`attnzoo models ram`): Adam (AdamW where a weight \
decay is given), learning rate 0.002 with cosine decay, batch 32, seed $seed; RAM with the preset named in its \
table row; epochs: RAM as in the table above, FC net $mlp_epochs, convnet $convnet_epochs; each epoch draws new \
canvases for the 1,258 training digits.
- Test: the 360 test digits (20 % of each class); on 60×60 canvases 5 random canvases per digit (1,800 images), \
fixed by the seed; one misclassified test image is 0.28 pp at 28×28 (360 images) and 0.056 pp at 60×60 (1,800).
- Train seconds per run (shared CPU): $seconds.
""")

POLICY = Template("""
## Where the policy looks

On the test canvases, the policy's mean path: the mean distance from glimpse 1, 2, ... to the digit's centre in \
[-1, 1] units (1 = half the canvas; glimpse 1 is always the canvas centre), and the share of glimpses at the border \
(a coordinate at ±0.95 or beyond). Then the test error (%) of the same trained networks on three paths: the \
policy's means; every later glimpse put on the digit's centre; every glimpse at the canvas centre. When the error \
on the digit is no lower than on the policy's own path, the classifier has adapted to where the policy looks, so \
the reward gives the policy no reason to move to the digit.

$table
""")

MORE_RUNS = Template("""
## More runs: translated 60×60, RAM-6 against the convnet

The same two runs with other seeds, or RAM trained for other numbers of epochs or with another recipe (the first \
row is the table's): each seed draws its own train / valid / test split of the digits, its own canvases and its \
own initial weights. Test error (%), RAM with 10 sampled paths averaged; RAM's validation error beside it, and its \
error on its own training digits (5 canvases each, as for the test). The last two columns: where RAM-6's policy \
looks on the test canvases, glimpses 2 to 6 of its mean path, as in "Where the policy looks".

$table
""")

SCREEN = Template("""
## Choosing the recipe: short runs on the validation split

`attnzoo train ram --variant translated60` runs, each reported by its validation error (%, 10 sampled paths \
averaged, 5 canvases per validation digit); the test split is not looked at.

$table
""")

RECIPE_COLUMNS = "core | weight decay | dropout | policy trains core | g_t | EMA"


def main_error(results: dict) -> float:
    """The main table's error of a run: RAM's with 10 sampled paths, a baseline's."""
    return results["test"].get(MAIN_KEY, results["test"].get("error"))


def label(name: str) -> str:
    """The name in tables and legends of a run ("ram-4", "digits-mlp") or of a model of the costs."""
    if name.startswith("ram-"):
        return f"RAM, {name.split('-')[1]} glimpses"
    names = {"ram": "RAM, 6 glimpses", "ram (rnn)": "RAM, 6 glimpses, the paper's RNN core"}
    return {**names, "digits-mlp": "FC net", "digits-convnet": "convnet"}[name]


def recipe_cells(results: dict) -> str:
    """A RAM run's recipe, in the order of :data:`RECIPE_COLUMNS`; a core of another size is named with it."""
    config, training = results["config"], results["training"]
    core = config["core"] + ("" if config["core_hidden"] == RAMConfig.core_hidden else str(config["core_hidden"]))
    combine = "+" if config["combine"] == "add" else "⊙"
    ema = "–" if training["ema_decay"] is None else training["ema_decay"]
    trains_core = "yes" if config["policy_trains_core"] else "no"
    return f"{core} | {training['weight_decay']} | {config['dropout']} | {trains_core} | {combine} | {ema}"


def table(columns: str, rows: list[str]) -> str:
    """A markdown table of ``columns`` ("a | b") and rows (already "| x | y |")."""
    return "\n".join([f"| {columns} |", "|" + "---|" * (columns.count("|") + 1), *rows])


def main_table(grid: dict[str, dict[str, dict]], names: list[str]) -> str:
    rows = []
    for name in names:
        cells = [f"{main_error(grid[v][name]):.2f}" if name in grid[v] else "–" for v in grid]
        params = sorted({f"{grid[v][name]['parameters']:,}" for v in grid if name in grid[v]})
        rows.append(f"| {label(name)} | {' / '.join(params)} | " + " | ".join(cells) + " |")
    return table("model | parameters | " + " | ".join(grid), rows)


def ram_table(grid: dict[str, dict[str, dict]]) -> str:
    rows = []
    for variant, runs in grid.items():
        for name, run in ((n, r) for n, r in runs.items() if n.startswith("ram-")):
            test, valid = run["test"], run["valid"]
            errors = " | ".join(f"{test[key]:.2f}" for key in ("error_m0", "error_m1", MAIN_KEY))
            rows.append(
                f"| {variant} | {name.split('-')[1]} | {run['preset']} | {errors} | {valid[MAIN_KEY]:.2f} | "
                f"{run['training']['epochs']} | {run['config']['location_std']} | {recipe_cells(run)} |"
            )
    columns = "variant | glimpses | preset | mean path | 1 sampled path | 10 sampled paths averaged | valid (10 paths)"
    return table(f"{columns} | epochs | σ | {RECIPE_COLUMNS}", rows)


def policy_section(diagnostics: dict[tuple[str, str], dict]) -> str:
    rows = [
        f"| {variant} | {name.split('-')[1]} | {' '.join(f'{value:.2f}' for value in found['distance'])} | "
        f"{' '.join(f'{value:.0f}' for value in found['border'])} | {found['mean path']:.2f} | "
        f"{found['on the digit']:.2f} | {found['at the centre']:.2f} |"
        for (variant, name), found in diagnostics.items()
    ]
    columns = "variant | glimpses | distance to the digit | at the border (%) | error, mean path | error, on the digit"
    return POLICY.substitute(table=table(f"{columns} | error, at the centre", rows)) if rows else ""


def cost_table(costs: dict[str, dict[int, dict]]) -> str:
    rows = []
    for name, series in costs.items():
        cells = [f"{series[side]['ms']:.3f}" for side in CANVASES]
        cells += [f"{series[side]['flops'] / 1e6:.2f}" for side in CANVASES]
        cells += [f"{growth(series, 'ms'):.2f}x", f"{growth(series, 'ms cached'):.2f}x"]
        rows.append(f"| {label(name)} | {' | '.join(cells)} |")
    sides = [f"{side}² ms" for side in CANVASES] + [f"{side}² MFLOPs" for side in CANVASES]
    ratio = f"ms {CANVASES[-1]}²/{CANVASES[0]}²"
    return table(" | ".join(["model", *sides, ratio, "same, images in the cache"]), rows)


def more_runs_section(pairs: list[dict]) -> str:
    if len(pairs) < 2:
        return ""
    rows = []
    for entry in pairs:
        ram, convnet = main_error(entry["ram"]), main_error(entry["convnet"])
        rows.append(
            f"| {entry['seed']} | {entry['ram']['training']['epochs']} | {recipe_cells(entry['ram'])} | {ram:.2f} | "
            f"{entry['ram']['valid'][MAIN_KEY]:.2f} | {entry['ram train']:.2f} | {convnet:.2f} | "
            f"{ram - convnet:+.2f} | {statistics.mean(entry['policy']['distance'][1:]):.2f} | "
            f"{statistics.mean(entry['policy']['border'][1:]):.0f} |"
        )
    columns = f"seed | RAM-6 epochs | {RECIPE_COLUMNS} | RAM-6 test | RAM-6 valid | RAM-6 train | convnet test"
    return MORE_RUNS.substitute(
        table=table(f"{columns} | difference (pp) | distance to the digit | at the border (%)", rows)
    )


def screen_section(screens: list[dict]) -> str:
    rows = [
        f"| {entry['run']} | {entry['training']['seed']} | {entry['training']['epochs']} | {entry['training']['lr']} "
        f"| {entry['config']['location_std']} | {recipe_cells(entry)} | {entry['valid'][MAIN_KEY]:.2f} |"
        for entry in screens
    ]
    columns = f"run | seed | epochs | learning rate | σ | {RECIPE_COLUMNS} | valid"
    return SCREEN.substitute(table=table(columns, rows)) if rows else ""


def goals(costs: dict[str, dict[int, dict]], pairs: list[dict]) -> str:
    """The two goals: RAM-6 within 0.5 pp of the convnet on translated60 (per run); RAM's cost flat."""
    lines = []
    if pairs:
        gaps = [main_error(entry["ram"]) - main_error(entry["convnet"]) for entry in pairs]
        first = pairs[0]
        lines.append(
            f"- translated 60×60, RAM with 6 glimpses within 0.5 percentage points of the convnet: "
            f"{'met' if gaps[0] <= 0.5 else 'missed'} on seed {first['seed']} (RAM {main_error(first['ram']):.2f} %, "
            f"convnet {main_error(first['convnet']):.2f} %, difference {gaps[0]:+.2f} pp)."
        )
        if len(pairs) > 1:
            lines.append(
                f"  Over all {len(pairs)} runs (More runs): met on {sum(gap <= 0.5 for gap in gaps)}; mean difference "
                f"{statistics.mean(gaps):+.2f} pp (from {min(gaps):+.2f} to {max(gaps):+.2f})."
            )
    if "ram" in costs and "digits-convnet" in costs:
        ram, convnet = costs["ram"], costs["digits-convnet"]
        first_side, last_side = CANVASES[0], CANVASES[-1]
        trials = [a / b for a, b in zip(ram[last_side]["ms trials"], ram[first_side]["ms trials"], strict=True)]
        paper = f"the paper's RNN core {growth(costs['ram (rnn)'], 'ms'):.3f}×; " if "ram (rnn)" in costs else ""
        lines.append(
            f"- RAM's time per image flat (≤ 1.1×) from {first_side}² to {last_side}² while the convnet's grows: "
            f"{'met' if growth(ram, 'ms') <= 1.1 else 'missed'} (RAM {growth(ram, 'ms'):.3f}×, from "
            f"{min(trials):.3f}× to {max(trials):.3f}× in the {len(trials)} trials, {growth(ram, 'ms cached'):.2f}× "
            f"with the images in the cache, FLOPs {growth(ram, 'flops'):.2f}×; {paper}"
            f"convnet {growth(convnet, 'ms'):.1f}×, FLOPs {growth(convnet, 'flops'):.1f}×)."
        )
    return "\n".join(lines)


def draw(path: Path, grid: dict[str, dict[str, dict]], names: list[str], costs: dict[str, dict[int, dict]]) -> None:
    """``ram.png``: the error table as bars; ms and FLOPs per image against the canvas side."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(14, 4.2), layout="constrained")
    bars, times, flops = figure.subplots(1, 3)
    variants, width = list(grid), 0.8 / len(names)
    for index, name in enumerate(names):
        values = [main_error(grid[v][name]) if name in grid[v] else np.nan for v in variants]
        bars.bar(np.arange(len(variants)) + (index - (len(names) - 1) / 2) * width, values, width, label=label(name))
    bars.set_xticks(np.arange(len(variants)), variants)
    bars.set(ylabel="test error (%)", title="test error")
    bars.legend(fontsize=8)
    for name, series in costs.items():
        times.plot(CANVASES, [series[s]["ms"] for s in CANVASES], "-o", label=label(name))
        flops.plot(CANVASES, [series[s]["flops"] / 1e6 for s in CANVASES], "-o", label=label(name))
    for axis, title in [(times, "ms per image (1 thread)"), (flops, "MFLOPs per image")]:
        axis.set(xlabel="canvas side (pixels)", yscale="log", title=title)
        axis.set_xticks(CANVASES, [str(side) for side in CANVASES])
        axis.legend(fontsize=8)
    figure.savefig(path, dpi=110)


def write_report(path: Path, grid: dict[str, dict[str, dict]], names: list[str], **parts: Any) -> None:
    """Write the report ``path`` from the grid's results and ``parts`` (see ``experiments/ram.py``)."""
    costs, pairs = parts["costs"], parts["pairs"]
    missing = [f"{variant}/{name}" for variant in grid for name in names if name not in grid[variant]]
    seconds = [f"{v}/{n} {grid[v][n]['train_seconds']:.0f}" for v in grid for n in names if n in grid[v]]
    first = next(iter(costs.values()))[CANVASES[0]]
    text = REPORT.substitute(
        command=parts["command"],
        main_table=main_table(grid, names),
        missing=f"–: not trained: {', '.join(missing)}.\n\n" if missing else "",
        ram_table=ram_table(grid),
        policy=policy_section(parts["diagnostics"]),
        batch=COST_BATCH,
        rounds="; ".join(f"{label(name)}: {series[CANVASES[0]]['rounds']} rounds" for name, series in costs.items()),
        trials=len(first["ms trials"]),
        cost_table=cost_table(costs),
        more_runs=more_runs_section(pairs),
        screen=screen_section(parts["screens"]),
        goals=goals(costs, pairs),
        pictures="\n".join(f"![glimpse paths]({picture})" for picture in parts["pictures"]),
        seed=parts["seed"],
        mlp_epochs=parts["epochs"]["digits-mlp"],
        convnet_epochs=parts["epochs"]["digits-convnet"],
        seconds=", ".join(seconds),
    )
    path.write_text(text, encoding="utf-8")
