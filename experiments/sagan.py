"""Self-Attention GAN (Zhang et al. 2018): does the attention block help, on long-range structure and on digits?

First three probes (mirror, no-attention, seed 0, 1,500 steps): the optimiser settings tried
against the generator's mode hopping (:data:`PROBES`). Then, through ``attnzoo.training.train`` on
one CPU thread each, ``sagan --preset attention`` and ``sagan --preset no-attention`` (the same
networks with a γ-gated 1×1 block of exactly the same parameter count in place of the attention)
with the setting the probes chose (:data:`TUNED`), for the same number of steps, on

- the mirror set (``--data mirror``: a shape on the left and the same shape, same colour, mirrored on
  the right, over random grey texture), two seeds: the rule's consistency rate of 1,024 samples of
  G's moving average and of the live G, γ against the steps, and the attention mass a query on the
  left object puts on its mirrored partner, in D (on real images) and in G;
- scikit-learn's digits at 32×32 (``--data digits``), two seeds: the digit-classifier Fréchet
  distance of 1,024 samples to the training digits (:mod:`attnzoo.tasks.digit_frechet`, a small
  classifier trained here, not Inception), that classifier's confidence and the diversity of its
  predicted classes.

Then it writes ``docs/results/sagan.md`` and ``docs/results/sagan.png`` (``experiments/sagan_report.py``).
A run whose directory already holds a model is not trained again (delete it to retrain). One run at a time:

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
import sagan_report
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
SEEDS = (0, 1, 2)
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


def chance_mass(images: torch.Tensor, cells: int = 16) -> float:
    """Uniform attention's partner mass: the share of the map's cells on the right object (images with a left one)."""
    pooled = torch.nn.functional.adaptive_avg_pool2d(object_masks(images).float()[:, None], cells)[:, 0] >= 0.5
    left, right = pooled[..., : cells // 2].flatten(1).any(1), pooled[..., cells // 2 :].flatten(1).sum(1)
    return float((right[left] / cells**2).mean())


def measured(directory: Path) -> dict:
    """:func:`measure`, kept in the run's ``measured.pt`` so that a report measures each run once."""
    cache = directory / "measured.pt"
    if cache.is_file() and cache.stat().st_mtime > (directory / "model.safetensors").stat().st_mtime:
        return torch.load(cache, weights_only=True)
    stats = measure(directory)
    torch.save(stats, cache)
    return stats


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
    probe = directory.name in PROBES
    data, preset, seed = ("mirror", "no-attention", 0) if probe else RUNS[directory.name]
    stats |= {"probe": probe, "data": data, "preset": preset, "seed": seed}
    if data == "digits":
        live = {f"live_{key}": value for key, value in digit_quality(live_images, digits32("train", 0)[0]).items()}
        return stats | digit_quality(images, digits32("train", 0)[0]) | live
    real = mirror_images(4096, seed)[0][:SAMPLES]  # the first SAMPLES training images of the run (train_size 4,096)
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
            "spread": float(live_images.std(dim=0).mean()),
            "real_spread": float(real.std(dim=0).mean()),
            "chance_mass": chance_mass(real),
            "consistency": float(mirror_consistency(images).float().mean()),
            "live_consistency": float(mirror_consistency(live_images).float().mean()),
            "late_consistency": late_mean(rows, "valid_consistency"),
            "late_live_consistency": late_mean(rows, "valid_live_consistency"),
            "d_loss": late_mean(rows, "d_loss"),
        }
    )


def report(out: Path, scale: float, results: Path) -> str:
    """Measure the finished runs, write ``sagan.md`` and ``sagan.png`` to ``results``; return the text."""
    names = [*PROBES, *RUNS]
    stats = {name: measured(out / name) for name in names if (out / name / "model.safetensors").is_file()}
    test_images, test_labels = digits32("test", 0)
    floor = digit_quality(test_images, digits32("train", 0)[0])
    from attnzoo.tasks.digit_frechet import trained_classifier

    accuracy = float((trained_classifier(0)(test_images).argmax(-1) == test_labels).float().mean())
    fields = dict(
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
    )
    return sagan_report.write(stats, fields, results)


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
