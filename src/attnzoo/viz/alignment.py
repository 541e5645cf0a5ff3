"""Alignment heatmaps: which source token each output token attended to.

Bahdanau et al. 2015, Figure 3 style: source tokens on x, output tokens on y, weight ``a_ij``
as the brightness of cell ``(j, i)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def plot_alignment(
    weights,
    source_tokens: Sequence[str],
    output_tokens: Sequence[str],
    path: str | Path,
    *,
    title: str | None = None,
) -> None:
    """Draw one alignment matrix as a heatmap and write it to ``path``.

    Args:
        weights: ``(T_out, T_in)`` array or tensor, row ``i`` the weights of output token ``i``;
            rows and columns beyond the given tokens are cut off (e.g. padding).
        source_tokens: ``T_in`` labels of the x axis (a space is shown as ``␣``).
        output_tokens: ``T_out`` labels of the y axis.
        path: the PNG (or any format matplotlib writes) to write.
        title: text above the picture.
    """
    from matplotlib.figure import Figure  # lazily: `import attnzoo` must not load matplotlib

    matrix = np.asarray(weights.detach().cpu() if hasattr(weights, "detach") else weights, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] < len(output_tokens) or matrix.shape[1] < len(source_tokens):
        raise ValueError(
            f"weights: expected (T_out, T_in) with T_out >= {len(output_tokens)} and T_in >= {len(source_tokens)},"
            f" got {matrix.shape}"
        )
    matrix = matrix[: len(output_tokens), : len(source_tokens)]

    height, width = matrix.shape
    figure = Figure(figsize=(max(3.0, 0.32 * width + 1.6), max(2.5, 0.32 * height + 1.2)), layout="constrained")
    axis = figure.subplots()
    image = axis.imshow(matrix, cmap="viridis", vmin=0.0, vmax=1.0, aspect="equal")
    axis.set_xticks(range(width), token_labels(source_tokens), fontfamily=font_families())
    axis.set_yticks(range(height), token_labels(output_tokens), fontfamily=font_families())
    axis.tick_params(axis="x", top=True, labeltop=True, bottom=False, labelbottom=False)
    axis.set_xlabel("source")
    axis.set_ylabel("output")
    if title:
        axis.set_title(title, fontsize=10)
    figure.colorbar(image, ax=axis, shrink=0.8, label="attention weight")
    figure.savefig(path, dpi=120)


def token_labels(tokens: Sequence[str]) -> list[str]:
    """Tick labels of tokens: a space is shown as ``␣``."""
    return ["␣" if token == " " else token for token in tokens]


def font_families() -> list[str]:
    """Fonts to try in order, so CJK and Cyrillic source characters draw where such a font exists."""
    from matplotlib import font_manager

    wanted = ["DejaVu Sans", "Noto Sans CJK JP", "Noto Sans CJK SC", "WenQuanYi Zen Hei", "Droid Sans Fallback"]
    installed = {font.name for font in font_manager.fontManager.ttflist}
    return [name for name in wanted if name in installed] or ["sans-serif"]
