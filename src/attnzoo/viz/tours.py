"""Tours and polygons on the plane: a model's predicted order of points beside the reference one.

Used for the Pointer Network's TSP tours and convex hulls (Vinyals et al. 2015, Figure 2 style).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def plot_tours(
    points: np.ndarray,
    predicted: Sequence[Sequence[int]],
    reference: Sequence[Sequence[int]],
    path: str | Path,
    *,
    titles: Sequence[str] | None = None,
    labels: tuple[str, str] = ("Ptr-Net", "optimal"),
    columns: int = 4,
) -> None:
    """Draw each instance's points with the predicted (solid) and reference (dashed) closed tours.

    Args:
        points: ``(B, n, 2)`` instances.
        predicted: ``B`` index sequences (a tour, or a hull's vertices), drawn closed.
        reference: ``B`` index sequences, e.g. the optimal tours.
        path: the PNG (or any format matplotlib writes) to write.
        titles: one title per instance (e.g. the two lengths).
        labels: legend names of predicted and reference.
        columns: instances per row.
    """
    from matplotlib.figure import Figure

    count = len(points)
    if not (len(predicted) == len(reference) == count):
        raise ValueError(
            f"predicted, reference: expected {count} sequences each (one per instance), "
            f"got {len(predicted)} and {len(reference)}"
        )
    columns = min(columns, count)
    rows = -(-count // columns)
    figure = Figure(figsize=(3 * columns, 3 * rows + 0.3), layout="constrained")
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    for index, axis in enumerate(axes):
        if index >= count:
            axis.set_axis_off()
            continue
        for order, style, label in [(reference[index], "--", labels[1]), (predicted[index], "-", labels[0])]:
            closed = np.asarray(list(order) + list(order[:1]), dtype=int)
            axis.plot(*points[index][closed].T, style, linewidth=1.5 if style == "-" else 2.5, alpha=0.8, label=label)
        axis.scatter(*points[index].T, s=14, color="black", zorder=3)
        axis.set_xlim(-0.05, 1.05)
        axis.set_ylim(-0.05, 1.05)
        axis.set_aspect("equal")
        axis.set_xticks([])
        axis.set_yticks([])
        if titles is not None:
            axis.set_title(titles[index], fontsize=9)
    axes[0].legend(loc="upper right", fontsize=7)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
