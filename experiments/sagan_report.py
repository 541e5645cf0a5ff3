"""The report of ``experiments/sagan.py``: ``docs/results/sagan.md`` and ``sagan.png`` from the measured runs.

Every function reads ``stats``: run name → the numbers :func:`sagan.measure` took from it, with its
``probe`` flag, ``data``, ``preset`` and ``seed``. The prose is in the templates below.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from attnzoo.tasks.mirror import mirror_consistency, object_masks

PRESETS = ("attention", "no-attention")
FIGURE_SEED = 0  # the seed whose samples and attention maps the figure shows

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
    "spread (live / real)": (("spread", "real_spread"), lambda value: f"{value:.3f}"),
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
        (
            "**probes** (mirror, no-attention, seed 0)",
            [name for name, s in stats.items() if s["probe"]],
            MIRROR_COLUMNS,
        ),
        ("**mirror**, per run", runs_of(stats, "mirror"), MIRROR_COLUMNS),
        ("**digits**, per run", runs_of(stats, "digits"), DIGIT_COLUMNS),
    ):
        if names:
            lines += ["", f"{title}:", "", *table(stats, names, columns)]
    return "\n".join(lines).strip()


def runs_of(stats: dict[str, dict], data: str, preset: str | None = None) -> list[str]:
    """The comparison runs (not the probes) on ``data``, of ``preset`` if given."""
    return [
        name
        for name, s in stats.items()
        if not s["probe"] and s["data"] == data and (preset is None or s["preset"] == preset)
    ]


def by_preset(stats: dict[str, dict], data: str, preset: str, key: str) -> list[float]:
    """The values of ``key`` over the seeds of one (data, preset)."""
    return [stats[name][key] for name in runs_of(stats, data, preset)]


def verdict(met: bool) -> str:
    return f"**{'met' if met else 'not met'}**"


def consistency_line(stats: dict[str, dict], key: str, label: str) -> str:
    ours, theirs = (by_preset(stats, "mirror", preset, key) for preset in PRESETS)
    gain = 100 * (np.mean(ours) - np.mean(theirs))
    return (
        f"- {label}, attention {spread(ours, True)} vs no-attention {spread(theirs, True)}: "
        f"{gain:+.1f} points (goal ≥ +10: {verdict(gain >= 10)})."
    )


def goal_lines(stats: dict[str, dict], samples: int) -> list[str]:
    """The issue's goals against the measured means over seeds."""
    lines = []
    if all(by_preset(stats, "mirror", preset, "consistency") for preset in PRESETS):
        lines.append(consistency_line(stats, "consistency", f"Consistency of G's average ({samples:,} samples)"))
        lines.append(consistency_line(stats, "live_consistency", f"Consistency of the live G ({samples:,} samples)"))
        lines.append(consistency_line(stats, "late_consistency", "Late-mean consistency of G's average"))
        lines.append(consistency_line(stats, "late_live_consistency", "Late-mean consistency of the live G"))
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
            f"G's on its samples: {spread(g_mass, True)}; uniform attention would put "
            f"{spread(by_preset(stats, 'mirror', 'attention', 'chance_mass'), True)} there."
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
    pooled = torch.nn.functional.adaptive_avg_pool2d(object_masks(image[None]).float()[:, None], cells)[0, 0] >= 0.5
    pooled[:, cells // 2 :] = False
    found = pooled.nonzero().float()
    centre = (cells // 2, cells // 4) if len(found) == 0 else tuple(int(v) for v in found.mean(0).round())
    return [centre, (cells // 2, 3 * cells // 4 - 1), (1, 1)]


def sample_rows(stats: dict[str, dict], fig, grid) -> None:
    """Rows 0-3: eight samples of G's average for each (data, preset) at the first seed."""
    from attnzoo.viz.gan import to_pixels

    shown = [
        name for name in (f"{d}-{p}-{FIGURE_SEED}" for d in ("mirror", "digits") for p in PRESETS) if name in stats
    ]
    for row, name in enumerate(shown):
        images = stats[name]["images"][:8]
        verdicts = mirror_consistency(images) if stats[name]["data"] == "mirror" else None
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
    for name in runs_of(stats, "mirror", preset):
        rows = stats[name]["rows"]
        steps = [row["step"] for row in rows]
        for label, key in keys.items():
            lines[f"{label} s{stats[name]['seed']}"] = [row.get(key, np.nan) for row in rows]
    return steps, lines


def figure(stats: dict[str, dict], path: Path) -> None:
    """Samples; where G's (on a sample) and D's (on a real image) query cells look; γ and consistency curves."""
    from matplotlib.figure import Figure

    from attnzoo.viz.gan import plot_gamma_curves, plot_query_maps

    fig = Figure(figsize=(13, 13))
    grid = fig.add_gridspec(7, 8)
    sample_rows(stats, fig, grid)
    attention = stats.get(f"mirror-attention-{FIGURE_SEED}")
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


def write(stats: dict[str, dict], fields: dict, results: Path) -> str:
    """Fill the template with ``fields`` and the tables and goals of ``stats``; write ``sagan.md`` and ``sagan.png``."""
    text = REPORT.format(
        **fields, tables=tables(stats), goals="\n".join(goal_lines(stats, fields["samples"])), observations=OBSERVATIONS
    )
    results.mkdir(parents=True, exist_ok=True)
    (results / "sagan.md").write_text(text)
    figure(stats, results / "sagan.png")
    return text
