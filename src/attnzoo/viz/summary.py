"""Summaries and where they came from: See et al. 2017 Fig. 1 style pictures, and coverage over time.

``plot_copy_attention``: the article with each word shaded by the attention it received over the
whole summary, the summary with each word shaded by ``1 - p_gen`` (how much it was copied), and
the attention of every output word over the article as a heatmap. ``plot_coverage``: the coverage
vector ``c^t`` (the attention summed over the earlier steps) at every output step.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

LINE_CHARACTERS = 180  # characters per line of flowed text (8 pt monospace across a 13-inch figure)
HEATMAP_COLUMNS = 60  # article tokens per heatmap panel


def as_array(values, rows: int, columns: int | None = None, name: str = "values") -> np.ndarray:
    """``values`` (tensor or array) as a float array cut to ``(rows[, columns])``; ValueError if smaller."""
    array = np.asarray(values.detach().cpu() if hasattr(values, "detach") else values, dtype=float)
    expected = (rows,) if columns is None else (rows, columns)
    if array.ndim != len(expected) or any(have < want for have, want in zip(array.shape, expected, strict=True)):
        raise ValueError(f"{name}: expected at least {expected}, got {array.shape}")
    return array[:rows] if columns is None else array[:rows, :columns]


def flowed_words(ax, words: Sequence[str], shades: np.ndarray, colour: str, title: str) -> None:
    """Write ``words`` as wrapped monospace text, each on a background of ``colour`` at alpha ``shade``."""
    ax.set_axis_off()
    ax.set_title(title, loc="left", fontsize=9)
    column, line = 0, 0
    lines = 1 + sum(len(word) + 1 for word in words) // LINE_CHARACTERS
    for word, shade in zip(words, shades, strict=True):
        if column + len(word) > LINE_CHARACTERS:
            column, line = 0, line + 1
        box = {"facecolor": colour, "alpha": float(np.clip(shade, 0, 1)), "edgecolor": "none", "pad": 1}
        ax.text(
            column / LINE_CHARACTERS, 1 - (line + 0.5) / (lines + 1), word, family="monospace", fontsize=8, bbox=box
        )
        column += len(word) + 1


def plot_copy_attention(
    article: Sequence[str],
    summary: Sequence[str],
    attention,
    p_gen,
    path: str | Path,
    pointer: bool = True,
) -> None:
    """See et al. Fig. 1: the article (shaded by attention received), the summary (shaded by ``1 - p_gen``)
    and the attention heatmap.

    Args:
        article: ``S`` article tokens. summary: ``T`` output words.
        attention: ``(T, S)`` the attention of each output word. p_gen: ``(T,)``.
        pointer: the model copies (False: the summary is shaded by nothing, p_gen is 1).
    """
    from matplotlib.figure import Figure  # lazily: `import attnzoo` must not load matplotlib

    rows, width = max(len(summary), 1), len(article)
    weights = as_array(attention, len(summary), width, "attention") if summary else np.zeros((1, width))
    generation = as_array(p_gen, len(summary), name="p_gen") if summary else np.ones(1)
    panels = [range(lo, min(lo + HEATMAP_COLUMNS, width)) for lo in range(0, width, HEATMAP_COLUMNS)]
    heights = [1.6, 0.7] + [max(1.5, 0.16 * rows + 0.9)] * len(panels)
    figure = Figure(figsize=(13, sum(heights) + 0.6), layout="constrained")
    axes = figure.subplots(len(heights), 1, gridspec_kw={"height_ratios": heights})
    received = weights.sum(axis=0)
    flowed_words(axes[0], article, received / max(received.max(), 1e-9), "tab:orange", "article (shade: attention)")
    copy_title = "summary (shade: 1 - p_gen, copied)" if pointer else "summary (baseline: no copying)"
    flowed_words(axes[1], summary, (1 - generation) if pointer else np.zeros(len(summary)), "tab:green", copy_title)
    for ax, columns in zip(axes[2:], panels, strict=True):
        ax.imshow(weights[:, columns.start : columns.stop], cmap="Greys", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(len(columns)), [article[i] for i in columns], rotation=90, fontsize=6)
        labels = [f"{word} ({p:.2f})" for word, p in zip(summary, generation, strict=True)] if pointer else summary
        ax.set_yticks(range(len(summary)), labels, fontsize=6)
    axes[2].set_title("attention a^t of each output word" + (" (p_gen)" if pointer else ""), fontsize=9, loc="left")
    figure.savefig(path, dpi=110)


def plot_coverage(article: Sequence[str], summary: Sequence[str], coverage, path: str | Path) -> None:
    """The coverage ``c^t`` ``(T, S)`` before each output word (rows) over the article tokens (columns)."""
    from matplotlib.figure import Figure

    width = len(article)
    values = as_array(coverage, len(summary), width, "coverage") if summary else np.zeros((1, width))
    figure = Figure(figsize=(13, 1.5 + 0.16 * max(len(summary), 1)), layout="constrained")
    ax = figure.subplots()
    image = ax.imshow(values, cmap="viridis", vmin=0, aspect="auto")
    ax.set_xticks(range(width), article, rotation=90, fontsize=5)
    ax.set_yticks(range(len(summary)), summary, fontsize=6)
    ax.set_title("coverage c^t = sum of earlier attention, before each output word (> 1: attended again)", fontsize=9)
    figure.colorbar(image, ax=ax, shrink=0.8)
    figure.savefig(path, dpi=110)
