"""Attention as it formed during training: a strip of snapshots of one probe input and its scores.

The snapshots are those of ``<run>/formation.json`` (:mod:`attnzoo.training.formation`): the top
row shows the first probe view at up to ``columns`` validations spread over the run, the bottom
row the mean entropy of the probe attention (nats) and, where the task has gold alignments, the
alignment accuracy, per validation step. "The loss falls but the alignment never forms" reads as
an entropy that stays near ``log(source length)`` and an accuracy that stays near chance.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def view_picture(view: dict[str, Any]) -> tuple[np.ndarray, list[np.ndarray]]:
    """What a strip panel shows of a view: a matrix (or the image), and boxes ``(k, 4)`` to draw on it."""
    kind = view["kind"]
    if kind in ("alignment", "pointer"):
        return np.asarray(view["weights"]), []
    if kind == "memory":
        return np.asarray(next(iter(view["weightings"].values()))).T, []  # slots × steps, as Graves Fig. 6
    if kind == "heads":
        group = view["groups"].get("cross") or next(iter(view["groups"].values()))
        return np.asarray(group["weights"][-1]).mean(axis=0), []  # last layer, mean over heads
    image = np.asarray(view["image"])
    first = view["steps"][0]
    if "map" in first:
        return np.asarray(first["map"]), []
    return image.mean(axis=0), [np.asarray(step.get("boxes", np.zeros((0, 4)))) for step in view["steps"]]


def spread(count: int, columns: int) -> list[int]:
    """Up to ``columns`` indices spread over ``range(count)``, the first and the last included."""
    if count <= columns:
        return list(range(count))
    return sorted({round(i * (count - 1) / (columns - 1)) for i in range(columns)})


def plot_formation(snapshots: Sequence[dict[str, Any]], path: str | Path, *, title: str = "", columns: int = 6) -> None:
    """Draw the strip of the first view of ``snapshots`` (each ``{"step", "scores", "views"}``) and their scores.

    Args:
        snapshots: the recorded snapshots in step order (at least one, each with a view).
        path: the file to write (PNG, SVG or PDF).
        title: the figure's title. columns: most snapshots shown.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    shown = [snapshots[i] for i in spread(len(snapshots), columns) if snapshots[i]["views"]]
    if not shown:
        raise ValueError("formation: no recorded snapshot has a view to draw")
    figure = Figure(figsize=(2.3 * max(len(shown), 3), 5.2), layout="constrained")
    grid = figure.add_gridspec(2, len(shown), height_ratios=(1.4, 1))
    for column, item in enumerate(shown):
        axis = figure.add_subplot(grid[0, column])
        matrix, boxes = view_picture(item["views"][0])
        axis.imshow(matrix, cmap="gray_r" if boxes else "Blues", aspect="auto", vmin=0, vmax=None if boxes else 1)
        for step, squares in enumerate(boxes):
            for top, left, height, width in squares[:1]:
                colour = "tab:red" if step == len(boxes) - 1 else "tab:orange"
                axis.add_patch(Rectangle((left - 0.5, top - 0.5), width, height, fill=False, edgecolor=colour))
        scores = ", ".join(f"{name[:3]} {value:.2f}" for name, value in item["scores"].items())
        axis.set_title(f"step {item['step']}\n{scores}", fontsize=8)
        axis.set_xticks([])
        axis.set_yticks([])
    chart = figure.add_subplot(grid[1, :])
    steps = [item["step"] for item in snapshots]
    for name in sorted({name for item in snapshots for name in item["scores"]}):
        values = [item["scores"].get(name, np.nan) for item in snapshots]
        chart.plot(steps, values, "-o", markersize=3, label=name + (" (nats)" if name == "entropy" else ""))
    chart.set_xlabel("training step")
    chart.legend(fontsize=8)
    chart.grid(alpha=0.3)
    figure.suptitle(title or "attention as it formed", fontsize=10)
    figure.savefig(path, dpi=110)
