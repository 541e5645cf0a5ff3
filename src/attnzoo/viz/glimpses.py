"""Glimpse paths of the Recurrent Attention Model drawn on the images (Mnih et al. 2014, Figure 3 style).

One row per image, one column per glimpse: the path of glimpse centres so far, and the ``k``
squares that the current glimpse reads (finest scale solid, coarser ones dashed); grey is outside
the image (the sensor reads zeros there).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def plot_glimpse_paths(
    images: np.ndarray,
    boxes: np.ndarray,
    path: str | Path,
    *,
    titles: Sequence[str] | None = None,
) -> None:
    """Draw the glimpses of each image step by step.

    Args:
        images: ``(N, H, W)`` grey images.
        boxes: ``(N, T, k, 3)`` of (top row, left col, side) of each scale of each glimpse, as
            :func:`attnzoo.models.ram.glimpse.glimpse_boxes` gives them (boxes may leave the image).
        path: the PNG (or any format matplotlib writes) to write.
        titles: one line per image (e.g. its label and the prediction), shown on its first panel.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    count, height, width = images.shape
    if boxes.ndim != 4 or boxes.shape[0] != count or boxes.shape[-1] != 3:
        raise ValueError(f"boxes: expected (N, T, k, 3) with N = {count}, got {boxes.shape}")
    if titles is not None and len(titles) != count:
        raise ValueError(f"titles: expected {count} (one per image), got {len(titles)}")
    steps, scales = boxes.shape[1], boxes.shape[2]
    centres = boxes[:, :, 0, :2] + boxes[:, :, 0, 2:] // 2  # (N, T, 2) (row, col) of the centre pixel
    figure = Figure(figsize=(1.9 * steps, 1.9 * count + 0.2), layout="constrained")
    axes = figure.subplots(count, steps, squeeze=False)
    colours = ["tab:red", "tab:orange", "gold", "tab:green"]
    margin = 0.5 + boxes[..., 2].max() * 0.15
    for row in range(count):
        for step in range(steps):
            axis = axes[row, step]
            axis.set_facecolor("0.8")  # outside the canvas
            axis.imshow(images[row], cmap="gray_r", vmin=0, vmax=max(float(images[row].max()), 1e-6))
            trail = centres[row, : step + 1] + 0.5  # pixel centres
            axis.plot(trail[:, 1] - 0.5, trail[:, 0] - 0.5, "-o", color="tab:blue", markersize=3, linewidth=1.2)
            for scale in range(scales):
                top, left, side = boxes[row, step, scale]
                axis.add_patch(
                    Rectangle(
                        (left - 0.5, top - 0.5),
                        side,
                        side,
                        fill=False,
                        edgecolor=colours[min(scale, len(colours) - 1)],
                        linestyle="-" if scale == 0 else "--",
                        linewidth=1.5,
                    )
                )
            axis.set_xlim(-margin, width - 1 + margin)
            axis.set_ylim(height - 1 + margin, -margin)
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(f"glimpse {step + 1}", fontsize=9)
            if step == 0 and titles is not None:
                axis.set_ylabel(titles[row], fontsize=8)
    figure.savefig(path, dpi=110)
