"""The Recurrent Attention Model (Mnih et al. 2014), Table 1 on scikit-learn's digits, and its cost claim.

Trains, through ``attnzoo.training.train`` on one CPU thread each, RAM with 2, 4 and 6 glimpses, a
fully connected net and a small convnet on the digit variants (centred 28×28, translated 60×60,
cluttered 60×60; see :mod:`attnzoo.tasks.digits`), each with its recipe's settings
(``attnzoo models ram``: epochs, learning rate, new canvases every epoch), RAM with a registered
preset (``--ram-preset``: ``ram-lstm``, the recipe chosen on the validation error of 500-epoch
runs, by default; ``ram-paper`` the paper's RNN core), and writes:

- ``docs/results/ram.md``: test error (%) of every model on every variant (the paper's Table 1
  layout), where the policies look, and the cost per image (``experiments/ram_costs.py``);
- ``docs/results/ram.png``: the error table as bars, ms and FLOPs per image against canvas side;
- ``docs/results/ram_glimpses_<variant>.png``: glimpse paths of RAM-6 on test images.

Every run is a run directory ``<out>/<variant>/<name>`` (``attnzoo evaluate`` / ``plot`` read it);
its measured errors go to ``results.json`` beside its files. A run that has ``results.json`` is not
trained again (delete it to retrain), a stopped one resumes from its checkpoint, so the grid may be
trained by several processes in parallel (``--only-train`` with disjoint ``--variants`` /
``--models``) and reported by a last call (``--report-only``).

    python experiments/ram.py                                # the whole grid and the report
    python experiments/ram.py --variants translated60 --only-train
    python experiments/ram.py --scale 0.02 --out /tmp/ram --results /tmp/ram  # a quick smoke run
    python experiments/ram.py --report-only --more-runs runs/ram-seed1  # with the pair trained on seed 1
    python experiments/ram.py --report-only --screen runs/screen/wd runs/screen/base  # recipes on valid
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import ram_costs
import ram_report
import torch

from attnzoo.recipes.base import count_parameters
from attnzoo.registry import load_recipe, parse_assignments
from attnzoo.training import Run, train

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ("centred28", "translated60", "cluttered60")
GLIMPSES = (2, 4, 6)
MAIN_PAIR = ("ram-6", "digits-convnet")  # the goal's pair on translated60, repeated in --more-runs


def run_names(glimpses: tuple[int, ...]) -> list[str]:
    return ["digits-mlp", "digits-convnet", *(f"ram-{count}" for count in glimpses)]


def model_of(name: str) -> str:
    """The registered model of run ``name`` ("ram-6" → "ram")."""
    return "ram" if name.startswith("ram-") else name


def epochs_of(model: str, args: argparse.Namespace) -> int:
    """The epochs of ``model``: ``--<model>-epochs`` or the recipe's, times ``--scale``."""
    chosen = {"ram": args.ram_epochs, "digits-mlp": args.mlp_epochs, "digits-convnet": args.convnet_epochs}[model]
    return max(1, round((chosen or load_recipe(model).training.epochs) * args.scale))


def run_one(out: Path, variant: str, name: str, args: argparse.Namespace) -> dict:
    """Train and measure run ``name`` on ``variant`` unless its ``results.json`` exists; its results."""
    run_dir = out / variant / name
    if (run_dir / "results.json").is_file():
        return Run(run_dir).read_json("results.json")
    model = model_of(name)
    start = time.perf_counter()
    if not (run_dir / "model.safetensors").is_file():
        resume = Run(run_dir).checkpoint.is_file()
        settings = {
            "preset": args.ram_preset if model == "ram" else None,
            "model": {"glimpses": int(name.split("-")[1]), **args.ram_set} if model == "ram" else {},
            "task": {"variant": variant},
        }
        train(
            model,
            run_dir,
            **({} if resume else settings),
            training={"epochs": epochs_of(model, args), "seed": args.seed},
            resume=resume,
            progress=False,
            threads=args.threads,
        )
    results = measure(Run(run_dir), seconds=time.perf_counter() - start)
    (run_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"{variant} {name}: test {results['test']} ({results['train_seconds']:.0f} s)", flush=True)
    return results


def measure(run: Run, *, seconds: float | None = None) -> dict:
    """A run's settings and its valid and test errors (``results.json``)."""
    recipe, model = run.recipe(), run.load_model()
    task = run.build_task(recipe)
    done = run.read_json("training.json")["done"]
    return {
        "variant": recipe.settings.variant,
        "model": run.model_name,
        "preset": run.preset,
        "train_seconds": round(seconds if seconds is not None else done.get("seconds", 0.0), 1),
        "parameters": count_parameters(model),
        "config": run.read_json("config.json")["config"],
        "training": run.read_json("training.json")["training"],
        "valid": recipe.evaluate(model, task, "valid"),
        "test": recipe.evaluate(model, task, "test"),
    }


@torch.no_grad()
def policy_diagnostics(run_dir: Path) -> dict[str, list[float] | float]:
    """Where the trained policy of RAM run ``run_dir`` looks on its test canvases, against the digit.

    On the policy's mean path: the mean distance from each glimpse to the digit's centre (in
    ``[-1, 1]`` units, so 1 is half the canvas) and the share of glimpses at the border (a
    coordinate at ±0.95 or beyond, where ``tanh`` saturates). And the test error (%) of the same
    trained networks on three paths: the policy's means, every later glimpse on the digit's centre
    (the first stays at the canvas centre, as in training), every glimpse at the canvas centre.
    """
    run = Run(run_dir)
    model, data = run.load_model(), run.build_task().split("test")
    centres = data.digit_centres()  # (N, 2)
    output = model(data.images, sample=False)
    on_digit = centres[:, None, :].repeat(1, model.config.glimpses, 1)  # (N, T, 2)
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


def glimpse_picture(run_dir: Path, path: Path) -> str:
    """Draw the ``glimpses`` picture of RAM run ``run_dir`` into ``path``; its file name."""
    run = Run(run_dir)
    recipe = run.recipe()
    recipe.pictures(run.config())["glimpses"](run.load_model(), run.build_task(recipe), path)
    return path.name


def pair_runs(folders: list[Path]) -> list[dict]:
    """The translated60 RAM-6 and convnet results of each ``<out>`` folder that has both.

    Each entry: ``{"seed", "ram", "convnet", "ram train", "policy"}``: the runs' ``results.json``,
    RAM's error (%) on its training digits (on the canvases of the test protocol, 10 sampled
    paths), to tell overfitting from underfitting, and :func:`policy_diagnostics` of RAM.
    """
    found = []
    for folder in (out / "translated60" for out in folders):
        if not all((folder / name / "results.json").is_file() for name in MAIN_PAIR):
            continue
        ram, convnet = (Run(folder / name).read_json("results.json") for name in MAIN_PAIR)
        run = Run(folder / "ram-6")
        recipe = run.recipe(samples=(10,))
        train_error = recipe.evaluate(run.load_model(), run.build_task(recipe), "train")[ram_report.MAIN_KEY]
        entry = {"ram": ram, "convnet": convnet, "ram train": train_error, "policy": policy_diagnostics(run.path)}
        found.append({"seed": ram["training"]["seed"], **entry})
    return found


def screen_runs(run_dirs: list[Path]) -> list[dict]:
    """The ``--screen`` runs (RAM recipes compared on the validation split): their settings and valid error."""
    screens = []
    for run_dir in run_dirs:
        run = Run(run_dir)
        recipe = run.recipe()
        valid = recipe.evaluate(run.load_model(), run.build_task(recipe), "valid")
        config, training = run.read_json("config.json")["config"], run.read_json("training.json")["training"]
        screens.append({"run": run_dir.name, "config": config, "training": training, "valid": valid})
    return screens


def collect(args: argparse.Namespace) -> dict[str, dict[str, dict]]:
    """``{variant: {run name: results}}``: trained now, or (``--report-only``) the finished runs."""
    if not args.report_only:
        return {
            variant: {name: run_one(args.out, variant, name, args) for name in args.models} for variant in args.variants
        }
    return {
        variant: {
            name: Run(args.out / variant / name).read_json("results.json")
            for name in args.models
            if (args.out / variant / name / "results.json").is_file()
        }
        for variant in args.variants
    }


def report(grid: dict[str, dict[str, dict]], args: argparse.Namespace) -> Path:
    """Measure the costs (once), the policies and the pictures, and write the report and its figure."""
    costs = ram_costs.costs(args.out, args.repeats, args.convnet_repeats, args.cost_trials)
    args.results.mkdir(parents=True, exist_ok=True)
    largest = f"ram-{max(GLIMPSES)}"
    pictures = [
        glimpse_picture(args.out / variant / largest, args.results / f"ram_glimpses_{variant}.png")
        for variant in grid
        if variant != "centred28" and largest in grid[variant]
    ]
    diagnostics = {
        (variant, name): policy_diagnostics(args.out / variant / name)
        for variant in grid
        for name in grid[variant]
        if name.startswith("ram-") and variant != "centred28"
    }
    ram_report.draw(args.results / "ram.png", grid, args.models, costs)
    path = args.results / "ram.md"
    ram_report.write_report(
        path,
        grid,
        args.models,
        command=" ".join(["python experiments/ram.py", *sys.argv[1:]]),
        costs=costs,
        diagnostics=diagnostics,
        pairs=pair_runs([args.out, *args.more_runs]),
        screens=screen_runs(args.screen),
        pictures=pictures,
        seed=args.seed,
        epochs={model: epochs_of(model, args) for model in ("digits-mlp", "digits-convnet")},
    )
    return path


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "ram", help="run directories")
    parser.add_argument("--results", type=Path, default=ROOT / "docs" / "results", help="where the .md/.png go")
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    parser.add_argument("--models", nargs="*", default=run_names(GLIMPSES), help="e.g. digits-mlp ram-6")
    parser.add_argument("--ram-preset", default="ram-lstm", help="RAM's preset: ram-lstm (the recipe) or ram-paper")
    parser.add_argument("--ram-set", nargs="*", default=[], help="RAM config FIELD=VALUE, e.g. core_hidden=96")
    for model, what in [("ram", "RAM"), ("mlp", "the FC net"), ("convnet", "the convnet")]:
        parser.add_argument(
            f"--{model}-epochs", type=int, default=None, help=f"epochs of {what} (default: its recipe's)"
        )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every run's epochs")
    ram_costs.add_arguments(parser)
    parser.add_argument("--only-train", action="store_true", help="train the runs, write no report")
    parser.add_argument("--report-only", action="store_true", help="report the finished runs, train nothing")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--more-runs", nargs="*", type=Path, default=[], help="--out folders of more translated60 pairs"
    )
    parser.add_argument("--screen", nargs="*", type=Path, default=[], help="RAM run directories compared on valid")
    args = parser.parse_args()
    from attnzoo.models.ram.model import RAMConfig

    args.ram_set = parse_assignments(RAMConfig, args.ram_set, what="--ram-set")
    return args


def main() -> None:
    args = parse_arguments()
    torch.set_num_threads(args.threads)
    grid = collect(args)
    if not args.only_train:
        print(f"wrote {report(grid, args)}")


if __name__ == "__main__":
    main()
