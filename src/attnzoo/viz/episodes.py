"""A few-shot episode with the query's attention drawn under the images (SNAIL, Mishra et al. 2018)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def plot_episode(
    support: np.ndarray,
    support_labels: Sequence[int],
    query: np.ndarray,
    query_label: int,
    predicted: int,
    weights: np.ndarray,
    path: str | Path,
    *,
    class_names: Sequence[str] | None = None,
) -> None:
    """Draw the support images and the query in a row, and under them the query's attention of each block.

    Args:
        support: ``(S, H, W)`` the support images in their order. support_labels: their ``S`` labels.
        query: ``(H, W)``. query_label: its true label. predicted: the model's label.
        weights: ``(A, S + 1)``: for each of ``A`` attention blocks, the query's weights over the
            steps (the support items, then the query itself).
        path: the PNG (or any format matplotlib writes).
        class_names: the name of each label (e.g. the characters), shown in the titles.
    """
    from matplotlib.figure import Figure

    count = len(support)
    if len(support_labels) != count or weights.shape[-1] != count + 1:
        raise ValueError(
            f"support_labels, weights: expected {count} labels and (A, {count + 1}) weights, "
            f"got {len(support_labels)} and {weights.shape}"
        )
    name = (lambda label: f"{label}: {class_names[label]}") if class_names else str
    figure = Figure(figsize=(max(6.0, 1.0 * (count + 1)), 2.2 + 0.45 * len(weights)), layout="constrained")
    grid = figure.add_gridspec(2, count + 1, height_ratios=[1.6, 0.45 * len(weights) + 0.2])
    images = [*support, query]
    for column, image in enumerate(images):
        axis = figure.add_subplot(grid[0, column])
        axis.imshow(image, cmap="gray_r", vmin=0, vmax=1)
        axis.set_xticks([])
        axis.set_yticks([])
        if column < count:
            same = support_labels[column] == query_label
            axis.set_title(name(support_labels[column]), fontsize=8, color="tab:green" if same else "black")
        else:
            axis.set_title(f"query {name(query_label)}\npredicted {name(predicted)}", fontsize=8, color="tab:red")
    axis = figure.add_subplot(grid[1, :])
    top = max(float(weights.max()), 1e-6)
    axis.imshow(weights, cmap="Blues", aspect="auto", vmin=0, vmax=top)
    for (row, column), value in np.ndenumerate(weights):
        color = "white" if value > top / 2 else "black"
        axis.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=7, color=color)
    axis.set_yticks(range(len(weights)), [f"attention {index + 1}" for index in range(len(weights))], fontsize=8)
    axis.set_xticks([])
    axis.set_title("the query's attention weights (green titles: the query's class)", fontsize=8)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
