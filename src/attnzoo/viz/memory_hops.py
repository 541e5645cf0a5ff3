"""A story beside each memory hop's attention (Sukhbaatar et al. 2015, Figure 2 style).

One row per sentence (oldest at the top), the sentence's text on the left and one column of bars
per hop: the weight ``p_i`` that hop gave the sentence. Gold supporting facts are marked.
matplotlib is imported inside the function.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_hop_attention(
    sentences: list[str],
    question: str,
    answer: str,
    predicted: str,
    weights: np.ndarray,
    path: str | Path,
    *,
    support: list[int] | None = None,
) -> None:
    """Draw a story and its hops' attention.

    Args:
        sentences: the ``n`` sentences, oldest first. question, answer, predicted: shown in the title
            (``answer`` "?" when unknown).
        weights: ``(K, n)`` the attention of hop ``k`` over the sentences, in the same order.
        path: the PNG (or any format matplotlib writes) to write.
        support: indices into ``sentences`` of the gold supporting facts (marked with ``*``, in red).
    """
    from matplotlib.figure import Figure

    weights = np.asarray(weights, dtype=float)
    if weights.ndim != 2 or weights.shape[1] != len(sentences):
        raise ValueError(f"weights: expected (K, n) with n = {len(sentences)} sentences, got {weights.shape}")
    hops, rows = weights.shape
    support = list(support or [])
    figure = Figure(figsize=(4 + 1.3 * hops, 0.8 + 0.28 * rows))
    grid = figure.add_gridspec(1, hops + 1, width_ratios=[4] + [1] * hops, wspace=0.08)
    text_axes = figure.add_subplot(grid[0])
    text_axes.set_xlim(0, 1)
    text_axes.set_ylim(rows - 0.5, -0.5)
    text_axes.axis("off")
    for row, sentence in enumerate(sentences):
        gold = row in support
        label = f"{row + 1:>2}  {'*' if gold else ' '} {sentence}"
        text_axes.text(0, row, label, va="center", family="monospace", fontsize=8, color="tab:red" if gold else "black")
    for k in range(hops):
        axes = figure.add_subplot(grid[k + 1], sharey=text_axes)
        axes.barh(np.arange(rows), weights[k], color="tab:blue", height=0.7)
        axes.set_xlim(0, 1)
        axes.set_xticks([0, 0.5])
        axes.set_title(f"hop {k + 1}", fontsize=9)
        axes.tick_params(left=False, labelleft=False, labelsize=7)
    verdict = "" if answer == "?" else f" (answer: {answer})"
    text_axes.set_title(f"Q: {question}?\npredicted: {predicted}{verdict}", fontsize=9, loc="left")
    figure.savefig(path, dpi=120, bbox_inches="tight")
