"""Self-Attention GAN (Zhang et al. 2018): does the attention block help, on long-range structure and on digits?

Trains, through ``attnzoo.training.train`` on one CPU thread each, ``sagan --preset attention`` and
``sagan --preset no-attention`` (the same networks with a γ-gated 1×1 block of exactly the same
parameter count in place of the attention) for the same number of steps, on

- the mirror set (``--data mirror``: a shape on the left and the same shape, same colour, mirrored on
  the right, over random grey texture), two seeds: the rule's consistency rate of 1,024 samples, γ
  against the steps, and the attention mass a query on the left object puts on its mirrored partner;
- scikit-learn's digits at 32×32 (``--data digits``), two seeds: the digit-classifier Fréchet
  distance of 1,024 samples to the training digits (:mod:`attnzoo.tasks.digit_frechet`, a small
  classifier trained here, not Inception), that classifier's confidence and the diversity of its
  predicted classes.

Then it writes ``docs/results/sagan.md`` and ``docs/results/sagan.png``. A run whose directory
already holds a model is not trained again (delete it to retrain). One run at a time:

    nohup python experiments/sagan.py > runs/sagan.log 2>&1 &
    python experiments/sagan.py --only mirror-attention-0     # one run
    python experiments/sagan.py --report-only                 # the report, once they are trained
    python experiments/sagan.py --scale 0.02 --out runs/sagan_smoke   # a quick smoke run
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
from pathlib import Path

import numpy as np
import torch

from attnzoo.models.sagan.model import SAGANConfig
from attnzoo.models.sagan.recipe import discriminator_weights, generate, partner_mass
from attnzoo.recipes import count_parameters
from attnzoo.tasks.digit_frechet import digit_quality
from attnzoo.tasks.digits32 import digits32
from attnzoo.tasks.mirror import mirror_consistency, mirror_images, object_masks
from attnzoo.training import Run, train_once

ROOT = Path(__file__).resolve().parent.parent
PRESETS = ("attention", "no-attention")
DATASETS = ("mirror", "digits")
SEEDS = (0, 1)
RUNS = {f"{data}-{preset}-{seed}": (data, preset, seed) for data in DATASETS for seed in SEEDS for preset in PRESETS}
STEPS = {"mirror": 2_500, "digits": 1_500}  # optimiser steps of every run (batches of 32), per data set
MINUTES = 15.0  # the most wall-clock minutes of optimisation a run may take (the limit)
VAL_EVERY = 100  # steps between validations (γ, consistency or Fréchet distance in metrics.csv)
SAMPLES = 1024  # samples (and real mirror images, for D's partner mass) the final models are judged on
TUNED = {"batch_std_group": 4}  # settings of the comparison runs, chosen by the probes below
PROBE_STEPS = 1_500
PROBES = {  # mirror, no-attention, seed 0: the optimiser settings tried against mode hopping
    "probe-paper": {},  # the paper's: D 4e-4, G 1e-4, Adam β = (0, 0.9)
    "probe-equal-1e-4": {"lr": 1e-4, "generator_rate": 1.0},  # D and G both at 1e-4: a weaker D
    "probe-batch-std": {"batch_std_group": 4},  # D sees the spread of groups of 4 images (ProGAN)
}
MODEL_FIELDS = {field.name for field in dataclasses.fields(SAGANConfig)}  # the rest are training settings

REPORT = """# Self-Attention GAN: mirrored shapes and digits

Zhang et al. 2018. Written by `experiments/sagan.py`{smoke}.

Setup: `attnzoo.training.train` with the presets `sagan/attention` (the block on the 16×16 feature
maps of G and D) and `sagan/no-attention` (a γ-gated 1×1 block of exactly the same parameter
count), width 16, noise 256, hinge loss (eq. 5), spectral norm on both networks, Adam β = (0, 0.9),
TTUR (D 4e-4, G 1e-4) unless a probe says otherwise, batches of 32, simultaneous D and G updates,
samples drawn from an exponential moving average of G's weights (decay 0.999, `average_decay`;
Yazıcı et al. 2019) and from the live G, {steps} steps, seeds {seeds}, one torch thread, torch
{torch}, Python {python}. Comparison runs: {tuned}. **The machine is shared** (2 cores, the lead's
jobs running beside these): the load averages are those of the whole machine (1 ≈ one busy core).

Mirror (`--data mirror`, 4,096 training images): the rule of `attnzoo.tasks.mirror.mirror_consistency`
on {samples:,} samples of the final G's average and of the final live G (the training images score
100 %); "late mean": the mean of the consistency measured on 256 samples at every validation of
the second half of the run (every 100 steps). Partner mass: for query cells (of the 16×16 map) on
the left object, the attention mass on the right object's cells, averaged over the images with a
left object; D's on {samples:,} real training images, whose object cells are the generator's ground
truth (the rule's coloured pixels are exactly the drawn shapes, tested), and on the samples; G's
on its samples (objects found by the rule). "late L_D": the mean hinge loss of D over the second
half (0: D separates every real image from every sample by the margin).

Probes ({probe_steps:,} steps each, no-attention, seed 0): the optimiser settings tried against
mode hopping, on the cheaper preset, before the comparison.

Digits (`--data digits`, the 1,258 training digits): the **digit-classifier Fréchet distance**
(`attnzoo.tasks.digit_frechet`: the Fréchet distance between Gaussians fitted to the 64 penultimate
features of a small convolutional digit classifier trained in the library, {accuracy:.1%} test
accuracy; not the Inception FID, not comparable with one) of {samples:,} samples to the training
digits; its confidence (mean largest class probability) and diversity (entropy of the predicted-class
histogram, bits; ten equal classes: 3.32). Real test digits against the training digits score
{floor}.

{tables}

Goals of issue 21 ({seed_count} seeds; mean ± half the range of the seeds):

{goals}

{observations}

![samples, attention maps, γ and consistency curves](sagan.png)
"""
OBSERVATIONS = """Observations (written after reading the numbers above, each run's `metrics.csv` and the samples):

- (to be written from the numbers)"""


def run(name: str, out: Path, scale: float) -> Run:
    """Train run ``name`` (a comparison run or a probe) into ``out/name``; a finished run is reused."""
    if name in PROBES:
        (data, preset, seed), steps = ("mirror", "no-attention", 0), PROBE_STEPS
        settings = dict(PROBES[name])
    else:
        (data, preset, seed), steps, settings = RUNS[name], STEPS[RUNS[name][0]], dict(TUNED)
    model = {key: settings.pop(key) for key in list(settings) if key in MODEL_FIELDS}
    training = {
        "steps": max(1, round(steps * scale)),
        "minutes": MINUTES,
        "val_every": max(1, round(VAL_EVERY * min(scale * 10, 1))),
        "seed": seed,
        **settings,
    }
    print(f"{name}: {training['steps']} steps", flush=True)
    return train_once(
        "sagan", out / name, preset=preset, task={"data": data}, model=model, training=training, threads=1,
        progress=False,
    )  # fmt: skip


def late_mean(rows: list[dict], key: str) -> float:
    """The mean of ``key`` over the validations of the run's second half."""
    return float(np.mean([row[key] for row in rows if row["step"] >= rows[-1]["step"] / 2]))


def measure(directory: Path) -> dict:
    """Steps, minutes, load, γ, and the data's quality numbers on SAMPLES samples of a finished run."""
    run = Run(directory)
    rows = [{key: float(value) for key, value in row.items() if value != ""} for row in run.metrics_rows()]
    model = run.load_model()
    images, weights = generate(model, SAMPLES)
    live_images, _ = generate(model, SAMPLES, live=True)
    stats = {
        "parameters": count_parameters(model),
        "steps": int(rows[-1]["step"]),
        "minutes": rows[-1]["seconds"] / 60,
        "load_mean": float(np.mean([row["load"] for row in rows])),
        "load_max": float(np.max([row["load"] for row in rows])),
        **model.gammas(),
        "rows": rows,
        "images": images[:16],
        "weights": None if weights is None else weights[:4],
    }
    data = "mirror" if directory.name in PROBES else RUNS[directory.name][0]
    if data == "digits":
        live = {f"live_{key}": value for key, value in digit_quality(live_images, digits32("train", 0)[0]).items()}
        return stats | digit_quality(images, digits32("train", 0)[0]) | live
    seed = 0 if directory.name in PROBES else RUNS[directory.name][2]
    real = mirror_images(SAMPLES, seed)[0]  # the first SAMPLES training images of the run's seed
    measures = {}
    if weights is not None:  # where the left object's cells look, in G (its samples) and in D (real and samples)
        real_weights = discriminator_weights(model, real)
        measures = {
            "partner_mass": float(partner_mass(object_masks(images), weights).nanmean()),
            "d_partner_mass_real": float(partner_mass(object_masks(real), real_weights).nanmean()),
            "d_partner_mass_fake": float(
                partner_mass(object_masks(images), discriminator_weights(model, images)).nanmean()
            ),
            "real": real[:4],
            "real_weights": real_weights[:4],
        }
    return (
        stats
        | measures
        | {
            "consistency": float(mirror_consistency(images).float().mean()),
            "live_consistency": float(mirror_consistency(live_images).float().mean()),
            "late_consistency": late_mean(rows, "valid_consistency"),
            "late_live_consistency": late_mean(rows, "valid_live_consistency"),
            "d_loss": late_mean(rows, "d_loss"),
        }
    )


def spread(values: list[float], percent: bool = False, digits: int = 1) -> str:
    """``mean ± half range`` of the seeds' values (one value: just it)."""
    scale = 100 if percent else 1
    unit = " %" if percent else ""
    mean, half = scale * float(np.mean(values)), scale * (max(values) - min(values)) / 2
    return f"{mean:.{digits}f}{unit}" if len(values) == 1 else f"{mean:.{digits}f} ± {half:.{digits}f}{unit}"


def percent(value: float) -> str:
    return "–" if np.isnan(value) else f"{100 * value:.1f} %"


MIRROR_COLUMNS = {  # column: (key, format)
    "consistency (average G)": ("consistency", percent),
    "consistency (live G)": ("live_consistency", percent),
    "late mean (average / live)": (("late_consistency", "late_live_consistency"), percent),
    "partner mass G": ("partner_mass", percent),
    "partner mass D (real / generated)": (("d_partner_mass_real", "d_partner_mass_fake"), percent),
    "late L_D": ("d_loss", lambda value: f"{value:.2f}"),
}
DIGIT_COLUMNS = {
    "Fréchet (average / live)": (("frechet", "live_frechet"), lambda value: f"{value:.2f}"),
    "confidence": ("confidence", lambda value: f"{value:.3f}"),
    "diversity": ("diversity", lambda value: f"{value:.2f}"),
}


def cell(stats: dict, key: str | tuple[str, ...], show) -> str:
    keys = (key,) if isinstance(key, str) else key
    return " / ".join(show(stats.get(name, float("nan"))) for name in keys)


def table(stats: dict[str, dict], names: list[str], columns: dict) -> list[str]:
    """One row per run: its size, time, machine load, γ and ``columns``."""
    head = ["run", "parameters", "steps", "wall min", "load avg (mean / max)", "γ_G", "γ_D", *columns]
    lines = ["| " + " | ".join(head) + " |", "| --- " + "| ---: " * (len(head) - 1) + "|"]
    for name in names:
        s = stats[name]
        cells = [
            name, f"{s['parameters']:,}", str(s["steps"]), f"{s['minutes']:.1f}",
            f"{s['load_mean']:.1f} / {s['load_max']:.1f}", f"{s['gamma_g']:+.3f}", f"{s['gamma_d']:+.3f}",
        ]  # fmt: skip
        cells += [cell(s, key, show) for key, show in columns.values()]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def tables(stats: dict[str, dict]) -> str:
    """The probes' rows, then the per-run rows of both data sets."""
    lines = []
    for title, names, columns in (
        ("**probes** (mirror, no-attention, seed 0)", [name for name in PROBES if name in stats], MIRROR_COLUMNS),
        ("**mirror**, per run", [name for name in RUNS if name in stats and RUNS[name][0] == "mirror"], MIRROR_COLUMNS),
        ("**digits**, per run", [name for name in RUNS if name in stats and RUNS[name][0] == "digits"], DIGIT_COLUMNS),
    ):
        if names:
            lines += ["", f"{title}:", "", *table(stats, names, columns)]
    return "\n".join(lines).strip()


def by_preset(stats: dict[str, dict], data: str, preset: str, key: str) -> list[float]:
    """The values of ``key`` over the seeds of one (data, preset)."""
    return [s[key] for name, s in stats.items() if name in RUNS and RUNS[name][:2] == (data, preset)]


def verdict(met: bool) -> str:
    return f"**{'met' if met else 'not met'}**"


def consistency_line(stats: dict[str, dict], key: str, label: str) -> str:
    ours, theirs = (by_preset(stats, "mirror", preset, key) for preset in PRESETS)
    gain = 100 * (np.mean(ours) - np.mean(theirs))
    return (
        f"- {label}, attention {spread(ours, True)} vs no-attention {spread(theirs, True)}: "
        f"{gain:+.1f} points (goal ≥ +10: {verdict(gain >= 10)})."
    )


def goal_lines(stats: dict[str, dict]) -> list[str]:
    """The issue's goals against the measured means over seeds."""
    lines = []
    if all(by_preset(stats, "mirror", preset, "consistency") for preset in PRESETS):
        lines.append(consistency_line(stats, "consistency", f"Consistency of G's average ({SAMPLES:,} samples)"))
        lines.append(consistency_line(stats, "live_consistency", f"Consistency of the live G ({SAMPLES:,} samples)"))
        lines.append(consistency_line(stats, "late_consistency", "Late-mean consistency of G's average"))
        gammas = by_preset(stats, "mirror", "attention", "gamma_g") + by_preset(stats, "mirror", "attention", "gamma_d")
        lines.append(
            f"- γ of the attention runs at the end (G then D, per seed): {', '.join(f'{g:+.3f}' for g in gammas)} "
            f"(goal: grows from 0: {verdict(min(gammas) > 0)}; the curves are in the figure)."
        )
        d_mass, g_mass = (
            by_preset(stats, "mirror", "attention", key) for key in ("d_partner_mass_real", "partner_mass")
        )
        lines.append(
            "- Partner mass, judged on D's attention on real images (ground-truth objects): "
            f"{spread(d_mass, True)} (goal ≥ 50 %: {verdict(np.mean(d_mass) >= 0.5)}); "
            f"G's on its samples: {spread(g_mass, True)}."
        )
    ours, theirs = (by_preset(stats, "digits", preset, "frechet") for preset in PRESETS)
    if ours and theirs:
        lines.append(
            f"- Digit-classifier Fréchet distance of G's average, attention {spread(ours, digits=2)} vs no-attention "
            f"{spread(theirs, digits=2)} (goal: attention lower: {verdict(np.mean(ours) < np.mean(theirs))})."
        )
    return lines


def query_points(image: torch.Tensor, cells: int = 16) -> list[tuple[int, int]]:
    """Three query cells of the ``cells × cells`` map: the left object's centre (if any), background, top left."""
    from attnzoo.tasks.mirror import object_masks

    pooled = torch.nn.functional.adaptive_avg_pool2d(object_masks(image[None]).float()[:, None], cells)[0, 0] >= 0.5
    pooled[:, cells // 2 :] = False
    found = pooled.nonzero().float()
    centre = (cells // 2, cells // 4) if len(found) == 0 else tuple(int(v) for v in found.mean(0).round())
    return [centre, (cells // 2, 3 * cells // 4 - 1), (1, 1)]


def sample_rows(stats: dict[str, dict], fig, grid) -> None:
    """Rows 0-3: eight samples of G's average for each (data, preset) at the first seed."""
    from attnzoo.viz.gan import to_pixels

    shown = [name for name in (f"{d}-{p}-{SEEDS[0]}" for d in DATASETS for p in PRESETS) if name in stats]
    for row, name in enumerate(shown):
        images = stats[name]["images"][:8]
        verdicts = mirror_consistency(images) if RUNS[name][0] == "mirror" else None
        for column, pixels in enumerate(to_pixels(images)):
            axis = fig.add_subplot(grid[row, column])
            axis.imshow(pixels, interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            for spine in axis.spines.values():
                spine.set_color("grey" if verdicts is None else "green" if bool(verdicts[column]) else "red")
            if column == 0:
                axis.set_ylabel(name, fontsize=7)


def curves(stats: dict[str, dict], preset: str, keys: dict[str, str]) -> tuple[list[float], dict[str, list]]:
    """Steps and ``{label: values}`` of the mirror runs of ``preset``, for each ``{label: metrics key}``."""
    lines, steps = {}, []
    for name, s in stats.items():
        if name in RUNS and RUNS[name][:2] == ("mirror", preset):
            steps = [row["step"] for row in s["rows"]]
            lines |= {
                f"{label} s{RUNS[name][2]}": [row.get(key, np.nan) for row in s["rows"]] for label, key in keys.items()
            }
    return steps, lines


def figure(stats: dict[str, dict], path: Path) -> None:
    """Samples; where G's (on a sample) and D's (on a real image) query cells look; γ and consistency curves."""
    from matplotlib.figure import Figure

    from attnzoo.viz.gan import plot_gamma_curves, plot_query_maps

    fig = Figure(figsize=(13, 13))
    grid = fig.add_gridspec(7, 8)
    sample_rows(stats, fig, grid)
    attention = stats.get(f"mirror-attention-{SEEDS[0]}")
    if attention is not None:
        for row, (image, weights) in enumerate(
            [(attention["images"][0], attention["weights"][0]), (attention["real"][0], attention["real_weights"][0])]
        ):
            axes = [fig.add_subplot(grid[4 + row, column]) for column in range(4)]
            plot_query_maps(image, weights, axes, query_points(image))
            axes[0].set_title("G, a sample" if row == 0 else "D, a real image", fontsize=8)
        steps, gammas = curves(stats, "attention", {"γ_G": "valid_gamma_g", "γ_D": "valid_gamma_d"})
        plot_gamma_curves(steps, gammas, fig.add_subplot(grid[4:6, 5:]))
    axis = fig.add_subplot(grid[6, :])
    for preset, style in zip(PRESETS, ("-", ":"), strict=True):
        steps, lines = curves(stats, preset, {f"{preset} live": "valid_live_consistency"})
        for label, values in lines.items():
            axis.plot(steps, values, style, label=label)
    axis.set_xlabel("step")
    axis.set_ylabel("consistency (live G, 256)")
    axis.legend(fontsize=7, ncol=4)
    fig.suptitle(
        "rows 1-4: samples of G's average (mirror: green frame = consistent by the rule); rows 5-6: where query "
        "cells look (mirror, attention, seed 0), γ; bottom: the live G's consistency at each validation",
        fontsize=9,
    )
    fig.savefig(path, dpi=100, bbox_inches="tight")


def report(out: Path, scale: float, results: Path) -> str:
    """Measure the finished runs, write ``sagan.md`` and ``sagan.png`` to ``results``; return the text."""
    names = [*PROBES, *RUNS]
    stats = {name: measure(out / name) for name in names if (out / name / "model.safetensors").is_file()}
    test_images, test_labels = digits32("test", 0)
    floor = digit_quality(test_images, digits32("train", 0)[0])
    from attnzoo.tasks.digit_frechet import trained_classifier

    accuracy = float((trained_classifier(0)(test_images).argmax(-1) == test_labels).float().mean())
    text = REPORT.format(
        smoke=f" (smoke run, --scale {scale})" if scale != 1 else "",
        steps=" and ".join(f"{max(1, round(steps * scale)):,} on {data}" for data, steps in STEPS.items()),
        probe_steps=max(1, round(PROBE_STEPS * scale)),
        tuned=", ".join(f"{key} = {value}" for key, value in TUNED.items()) or "the paper's settings",
        seeds=", ".join(map(str, SEEDS)),
        seed_count=len(SEEDS),
        torch=torch.__version__,
        python=platform.python_version(),
        samples=SAMPLES,
        accuracy=accuracy,
        floor=(
            f"Fréchet {floor['frechet']:.2f}, confidence {floor['confidence']:.3f}, "
            f"diversity {floor['diversity']:.2f} (360 test digits)"
        ),
        tables=tables(stats),
        goals="\n".join(goal_lines(stats)),
        observations=OBSERVATIONS,
    )
    results.mkdir(parents=True, exist_ok=True)
    (results / "sagan.md").write_text(text)
    figure(stats, results / "sagan.png")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "sagan", help="run directories")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the steps (0.02: smoke run)")
    parser.add_argument("--only", choices=sorted([*PROBES, *RUNS]), nargs="*", help="train only these runs, no report")
    parser.add_argument("--report-only", action="store_true", help="train nothing: report the finished runs")
    parser.add_argument("--results", type=Path, default=None, help="where to write the report (default: docs/results)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in [] if args.report_only else args.only or [*PROBES, *RUNS]:
        run(name, args.out, args.scale)
    if not args.only:
        results = args.results or (ROOT / "docs" / "results" if args.scale == 1 else args.out)
        print(report(args.out, args.scale, results))


if __name__ == "__main__":
    main()
