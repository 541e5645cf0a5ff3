"""RAM's cost claim (Mnih et al. 2014): its time per image does not grow with the canvas; a convnet's does.

Measures, on untrained weights, ms and FLOPs per image of RAM with 6 glimpses (the ``ram-lstm``
preset and the paper's ``ram-paper``) and of the convnet on 60², 100² and 200² canvases, with the
timing functions of ``benchmarks/ram.py``, and keeps them in ``<out>/costs.json`` (measured once:
delete the file to measure again). ``experiments/ram.py`` reports them.

    python experiments/ram_costs.py --out runs/ram                 # what experiments/ram.py calls
    python experiments/ram_costs.py --out /tmp/costs --repeats 3 --convnet-repeats 1 --cost-trials 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # benchmarks/ is a folder of scripts, not an installed package

from attnzoo.registry import create_model, make_config  # noqa: E402
from benchmarks.ram import time_per_image  # noqa: E402

CANVASES = (60, 100, 200)
COST_BATCH = 32
GLIMPSES = 6
# name in the report: (registered model, preset); RAM at the glimpse settings of 60×60 (12×12, 3 scales)
MODELS = {"ram": ("ram", "ram-lstm"), "ram (rnn)": ("ram", "ram-paper"), "digits-convnet": ("digits-convnet", None)}


def flops_per_image(model: torch.nn.Module, side: int) -> float:
    """FLOPs per image of the matrix multiplications and convolutions (``torch.utils.flop_counter``)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        model(torch.rand(COST_BATCH, 1, side, side))
    return counter.get_total_flops() / COST_BATCH


@torch.no_grad()
def measure_costs(model: torch.nn.Module, repeats: int, trials: int) -> dict[int, dict[str, Any]]:
    """ms and FLOPs per image of ``model`` per canvas side of :data:`CANVASES`.

    ``trials`` times :func:`benchmarks.ram.time_per_image` (each with new images), every canvas in
    the same process: ``"ms"`` is the median of the trials, ``"ms trials"`` each trial's; ``"ms
    cached"`` the same median with one batch per canvas, timed again and again (its images stay in
    the cache, so their reads cost less). RAM's sensor adds 8 FLOPs per bilinear sample
    (6 g² = 864 samples per glimpse), which the counter leaves out.
    """
    torch.manual_seed(0)
    model.eval()
    flops = {side: flops_per_image(model, side) for side in CANVASES}
    found = [time_per_image(model, CANVASES, COST_BATCH, repeats, fresh=True) for _ in range(trials)]
    cached = [time_per_image(model, CANVASES, COST_BATCH, repeats, fresh=False) for _ in range(trials)]
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


def cost_model(name: str) -> torch.nn.Module:
    """The untrained model ``name`` of :data:`MODELS` (RAM: 6 glimpses), built from its preset."""
    model, preset = MODELS[name]
    overrides = {"glimpses": GLIMPSES} if model == "ram" else {}
    return create_model(model, make_config(model, preset, **overrides))


def costs(out: Path, repeats: int, convnet_repeats: int, trials: int) -> dict[str, dict[int, dict]]:
    """The costs kept in ``out/costs.json``, measured now if the file is missing."""
    path = out / "costs.json"
    if path.is_file():
        saved = json.loads(path.read_text(encoding="utf-8"))
        return {name: {int(side): found for side, found in series.items()} for name, series in saved.items()}
    measured = {
        name: measure_costs(cost_model(name), convnet_repeats if name == "digits-convnet" else repeats, trials)
        for name in MODELS
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(measured, indent=2) + "\n", encoding="utf-8")
    return measured


def growth(series: dict[int, dict], key: str) -> float:
    """A model's cost ``key`` ("ms", "ms cached" or "flops") on the largest canvas over the smallest."""
    return series[CANVASES[-1]][key] / series[CANVASES[0]][key]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the measurement (shared with ``experiments/ram.py``)."""
    parser.add_argument("--repeats", type=int, default=200, help="timed rounds of RAM's cost per image")
    parser.add_argument("--convnet-repeats", type=int, default=9, help="timed rounds of the convnet's (slow at 200²)")
    parser.add_argument("--cost-trials", type=int, default=5, help="times the costs are measured, the median kept")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "ram", help="where costs.json goes")
    parser.add_argument("--threads", type=int, default=1)
    add_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    found = costs(args.out, args.repeats, args.convnet_repeats, args.cost_trials)
    for name, series in found.items():
        ms = " / ".join(f"{series[side]['ms']:.3f}" for side in CANVASES)
        print(f"{name}: {ms} ms per image on {CANVASES} canvases, {growth(series, 'ms'):.2f}x")


if __name__ == "__main__":
    main()
