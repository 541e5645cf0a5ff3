"""Alignment heatmaps: which source token each output token attended to.

Bahdanau et al. 2015, Figure 3 style: source tokens on x, output tokens on y, weight ``a_ij``
as the brightness of cell ``(j, i)``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np

PANEL_COLUMNS = 40  # source tokens per panel: a longer input is split across panels, one under another


def plot_alignment(
    weights,
    source_tokens: Sequence[str],
    output_tokens: Sequence[str],
    path: str | Path,
    *,
    title: str | None = None,
    reference: str | None = None,
) -> None:
    """Draw one alignment matrix as a heatmap and write it to ``path`` (see :func:`alignment_figure`)."""
    alignment_figure(weights, source_tokens, output_tokens, title=title, reference=reference).savefig(path, dpi=120)


def alignment_figure(
    weights,
    source_tokens: Sequence[str],
    output_tokens: Sequence[str],
    *,
    title: str | None = None,
    reference: str | None = None,
):
    """One alignment matrix as a matplotlib ``Figure``: source tokens on x (rotated when they are
    words), output tokens on y, the colour bar on the right, the title wrapped above everything.

    Args:
        weights: ``(T_out, T_in)`` array or tensor, row ``i`` the weights of output token ``i``;
            rows and columns beyond the given tokens are cut off (e.g. padding).
        source_tokens: ``T_in`` labels of the x axis (a space is shown as ``␣``).
        output_tokens: ``T_out`` labels of the y axis.
        title: text above the picture (e.g. ``source → output``), wrapped.
        reference: the reference translation, shown under the title (a wrong output then shows).
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
    panels = [range(lo, min(lo + PANEL_COLUMNS, width)) for lo in range(0, width, PANEL_COLUMNS)]
    words = any(len(token) > 1 for token in source_tokens if not (token.startswith("<") and token.endswith(">")))
    label_room = 0.09 * max((len(token) for token in source_tokens), default=1) if words else 0.5
    columns = min(width, PANEL_COLUMNS)
    size = (max(4.0, 0.32 * columns + 2.4), len(panels) * (0.32 * height + label_room + 0.6) + 0.9)
    figure = Figure(figsize=size, layout="constrained")
    axes = figure.subplots(len(panels), 1, squeeze=False)[:, 0]
    for axis, columns_shown in zip(axes, panels, strict=True):
        image = draw_panel(axis, matrix, source_tokens, output_tokens, columns_shown, rotate=words)
    figure.colorbar(image, ax=list(axes), shrink=0.8, label="attention weight", location="right")
    heading = [textwrap.fill(title, 70)] if title else []
    heading += [textwrap.fill(f"reference: {reference}", 70)] if reference is not None else []
    if heading:
        figure.suptitle("\n".join(heading), fontsize=10)
    return figure


def draw_panel(axis, matrix: np.ndarray, source_tokens, output_tokens, columns: range, *, rotate: bool):
    """One panel: the columns ``columns`` of the alignment, labelled; returns the image."""
    image = axis.imshow(matrix[:, columns.start : columns.stop], cmap="viridis", vmin=0.0, vmax=1.0, aspect="equal")
    labels = token_labels([source_tokens[i] for i in columns])
    axis.set_xticks(range(len(columns)), labels, fontfamily=font_families(), rotation=90 if rotate else 0)
    axis.set_yticks(range(len(output_tokens)), token_labels(output_tokens), fontfamily=font_families())
    axis.tick_params(axis="x", top=True, labeltop=True, bottom=False, labelbottom=False)
    axis.set_xlabel("source" if columns.start == 0 else f"source (from token {columns.start + 1})")
    axis.set_ylabel("output")
    return image


def token_labels(tokens: Sequence[str]) -> list[str]:
    """Tick labels of tokens: a space is shown as ``␣``."""
    return ["␣" if token == " " else token for token in tokens]


def font_families() -> list[str]:
    """Fonts to try in order, so CJK and Cyrillic source characters draw where such a font exists."""
    from matplotlib import font_manager

    wanted = ["DejaVu Sans", "Noto Sans CJK JP", "Noto Sans CJK SC", "WenQuanYi Zen Hei", "Droid Sans Fallback"]
    installed = {font.name for font in font_manager.fontManager.ttflist}
    return [name for name in wanted if name in installed] or ["sans-serif"]
