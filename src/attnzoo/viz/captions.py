"""Where a captioner looked for each word (Xu et al. 2015, Figures 2-3 style).

One row per image: the image, then one panel per generated word with the word's attention
weights α (a grid) upsampled bilinearly over the image as a brighter overlay; for hard attention
a cross marks the location it chose (the argmax cell, as the model decodes).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def upsample(weights: np.ndarray, size: int) -> np.ndarray:
    """A ``(g, g)`` grid of weights bilinearly upsampled to ``(size, size)`` (cell centres kept)."""
    grid = weights.shape[0]
    centres = (np.arange(size) + 0.5) * grid / size - 0.5  # pixel centres in cell coordinates
    low = np.clip(np.floor(centres).astype(int), 0, grid - 1)
    high = np.clip(low + 1, 0, grid - 1)
    frac = np.clip(centres - low, 0, 1)
    rows = weights[low] * (1 - frac)[:, None] + weights[high] * frac[:, None]  # (size, g)
    return rows[:, low] * (1 - frac)[None, :] + rows[:, high] * frac[None, :]  # (size, size)


def plot_word_attention(
    images: np.ndarray,
    captions: Sequence[Sequence[str]],
    weights: np.ndarray | None,
    path: str | Path,
    *,
    mark_argmax: bool = False,
) -> None:
    """Draw each image with one panel per word of its caption.

    Args:
        images: ``(N, S, S, 3)`` uint8.
        captions: ``N`` lists of words (without ``<eos>``).
        weights: ``(N, T, g, g)`` α of each decoded step (a word or ``<eos>``), or None
            (no attention: the image and its caption only).
        path: where to write the figure.
        mark_argmax: mark the argmax cell of each α (hard attention's chosen location).
    """
    from matplotlib.figure import Figure

    count, size = images.shape[0], images.shape[1]
    if len(captions) != count or (weights is not None and weights.shape[0] != count):
        raise ValueError(f"captions and weights: expected {count} (one per image), got {len(captions)}")
    steps = 0 if weights is None else min(max(len(words) for words in captions) + 1, weights.shape[1])
    columns = 1 + steps  # the image, then one panel per step (the words and <eos>, up to the steps decoded)
    figure = Figure(figsize=(1.25 * columns, 1.45 * count + 0.3), layout="constrained")
    axes = figure.subplots(count, columns, squeeze=False)
    for row in range(count):
        words = [*captions[row], "<eos>"]
        axes[row, 0].imshow(images[row])
        axes[row, 0].set_title("image" if weights is not None else " ".join(captions[row]), fontsize=8)
        for column in range(1, columns):
            axis = axes[row, column]
            step = column - 1
            if weights is not None and step < min(len(words), weights.shape[1]):
                alpha = weights[row, step]
                shade = upsample(alpha / max(float(alpha.max()), 1e-12), size)  # brightest at the largest α
                axis.imshow((images[row] * (0.25 + 0.75 * shade[..., None])).astype(np.uint8))
                axis.set_title(words[step], fontsize=8)
                if mark_argmax:
                    cell_row, cell_col = np.unravel_index(alpha.argmax(), alpha.shape)
                    scale = size / alpha.shape[0]
                    axis.plot((cell_col + 0.5) * scale - 0.5, (cell_row + 0.5) * scale - 0.5, "w+", markersize=8)
            else:
                axis.set_axis_off()
        for axis in axes[row]:
            axis.set_xticks([])
            axis.set_yticks([])
    figure.savefig(path, dpi=80)
