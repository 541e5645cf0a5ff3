"""Pictures of a GAN with self-attention (Zhang et al. 2018): sample grids, attention maps over samples
(the paper's Fig. 5), and the γ curve."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from torch import Tensor

QUERY_COLOURS = ("white", "cyan", "magenta")


def to_pixels(images: Tensor) -> np.ndarray:
    """``(N, C, H, W)`` in [-1, 1] → ``(N, H, W, 3)`` in [0, 1] for ``imshow`` (grey images repeated)."""
    pixels = ((images.detach().float().clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).numpy()
    return np.repeat(pixels, 3, axis=-1) if pixels.shape[-1] == 1 else pixels


def plot_samples(images: Tensor, path: str | Path, *, verdicts: Tensor | None = None, title: str = "") -> None:
    """A square grid of images ``(N, C, H, W)``; ``verdicts`` ``(N,)`` bool frames each green (True) or red."""
    from matplotlib.figure import Figure

    pixels, count = to_pixels(images), images.size(0)
    columns = int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / columns))
    figure = Figure(figsize=(columns * 0.8, rows * 0.8 + (0.4 if title else 0)))
    for index in range(rows * columns):
        axis = figure.add_subplot(rows, columns, index + 1)
        axis.set_xticks([])
        axis.set_yticks([])
        if index >= count:
            axis.axis("off")
            continue
        axis.imshow(pixels[index], interpolation="nearest")
        if verdicts is not None:
            for spine in axis.spines.values():
                spine.set_color("green" if bool(verdicts[index]) else "red")
                spine.set_linewidth(2)
    if title:
        figure.suptitle(title)
    figure.savefig(path, dpi=100, bbox_inches="tight")


def plot_attention_maps(images: Tensor, weights: Tensor, path: str | Path, *, queries: int = 3) -> None:
    """Per image, the image with ``queries`` query points, then each query's attention map over the image.

    Args:
        images: ``(B, C, S, S)`` in [-1, 1]. weights: ``(B, N, N)`` with ``N = s²`` (the map's side
            ``s`` may be smaller than ``S``: cells are drawn as ``S / s`` pixel squares).
        queries: query points per image, spread along the image's diagonal.
    """
    from matplotlib.figure import Figure

    batch, side = images.size(0), images.size(-1)
    cells = int(round(weights.size(-1) ** 0.5))
    if weights.shape != (batch, cells * cells, cells * cells):
        raise ValueError(f"weights: expected (B, N, N) with B = {batch} and N a square, got {tuple(weights.shape)}")
    pixels, scale = to_pixels(images), side / cells
    points = [
        (int(cells * (k + 1) / (queries + 1)), int(cells * (queries - k) / (queries + 1))) for k in range(queries)
    ]
    figure = Figure(figsize=(2 * (queries + 1), 2 * batch))
    for row in range(batch):
        axis = figure.add_subplot(batch, queries + 1, row * (queries + 1) + 1)
        axis.imshow(pixels[row], interpolation="nearest")
        for (y, x), colour in zip(points, QUERY_COLOURS, strict=False):
            axis.plot((x + 0.5) * scale - 0.5, (y + 0.5) * scale - 0.5, "o", color=colour, markeredgecolor="black")
        axis.axis("off")
        for k, ((y, x), colour) in enumerate(zip(points, QUERY_COLOURS, strict=False)):
            attention = weights[row, y * cells + x].reshape(cells, cells).float().numpy()
            axis = figure.add_subplot(batch, queries + 1, row * (queries + 1) + k + 2)
            axis.imshow(pixels[row].mean(-1), cmap="gray", extent=(0, side, side, 0))
            axis.imshow(attention, cmap="inferno", alpha=0.7, extent=(0, side, side, 0), interpolation="nearest")
            axis.plot((x + 0.5) * scale, (y + 0.5) * scale, "o", color=colour, markeredgecolor="black")
            axis.axis("off")
    figure.suptitle("where each query point looks (attention weights over the image)")
    figure.savefig(path, dpi=100, bbox_inches="tight")


def plot_gamma_curves(steps: Sequence[int], curves: Mapping[str, Sequence[float]], axis) -> None:
    """γ (eq. 3) against training steps on a matplotlib ``axis``, one line per ``{label: values}``."""
    for label, values in curves.items():
        axis.plot(steps, values, label=label)
    axis.axhline(0.0, color="grey", linewidth=0.5)
    axis.set_xlabel("step")
    axis.set_ylabel("γ")
    axis.legend()


def plot_query_maps(image: Tensor, weights: Tensor, axes: Sequence, points: Sequence[tuple[int, int]]) -> None:
    """One image and where each query cell looks, on given matplotlib ``axes`` (the paper's Fig. 5).

    Args:
        image: ``(C, S, S)`` in [-1, 1]. weights: ``(N, N)``, row = a query cell of the ``s × s`` map.
        axes: ``1 + len(points)`` axes: the image with the query points, then one map per point.
        points: query cells ``(row, column)`` on the ``s × s`` map.
    """
    cells, side = int(round(weights.size(-1) ** 0.5)), image.size(-1)
    if weights.shape != (cells * cells, cells * cells) or len(axes) != len(points) + 1:
        raise ValueError(
            f"weights, axes: expected (N, N) with N a square and {len(points) + 1} axes, "
            f"got {tuple(weights.shape)} and {len(axes)}"
        )
    pixels, scale = to_pixels(image[None])[0], side / cells
    axes[0].imshow(pixels, interpolation="nearest", extent=(0, side, side, 0))
    for k, (y, x) in enumerate(points):
        colour = QUERY_COLOURS[k % len(QUERY_COLOURS)]
        for axis in (axes[0], axes[k + 1]):
            axis.plot((x + 0.5) * scale, (y + 0.5) * scale, "o", color=colour, markeredgecolor="black")
        axes[k + 1].imshow(pixels.mean(-1), cmap="gray", extent=(0, side, side, 0))
        attention = weights[y * cells + x].reshape(cells, cells).float().numpy()
        axes[k + 1].imshow(attention, cmap="inferno", alpha=0.7, extent=(0, side, side, 0), interpolation="nearest")
        axes[k + 1].set_title(f"query ({y}, {x})", fontsize=8)
    for axis in axes:
        axis.axis("off")
