"""The document-query matching matrix of an attention-over-attention reader, with its query-level
attention ``beta`` and the document attention ``s`` (Cui et al. 2017, Figure 1 style).

Drawn wide: query words on the rows, document words on the columns. ``M`` (eq. 4) as a heatmap,
``beta`` (eq. 7) as bars beside each query word, ``s`` (eq. 8) as bars under each document word.
matplotlib is imported inside the function.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_matching(
    document: list[str],
    query: list[str],
    weights: np.ndarray,
    path: str | Path,
    *,
    matching: np.ndarray | None = None,
    beta: np.ndarray | None = None,
    title: str | None = None,
) -> None:
    """Draw a reader's attention over one document.

    Args:
        document: the ``T`` document words. query: the ``Q`` query words.
        weights: ``(T,)`` the attention ``s`` over the document.
        path: the PNG (or any format matplotlib writes) to write.
        matching: ``(T, Q)`` the matching matrix ``M`` (None: an AS reader, no matrix is drawn).
        beta: ``(Q,)`` the query-level attention (None: not drawn).
        title: a title over the figure.
    """
    from matplotlib.figure import Figure

    T, Q = len(document), len(query)
    if np.shape(weights) != (T,):
        raise ValueError(f"weights: expected (T,) = ({T},), got {np.shape(weights)}")
    if matching is not None and np.shape(matching) != (T, Q):
        raise ValueError(f"matching: expected (T, Q) = ({T}, {Q}), got {np.shape(matching)}")
    if beta is not None and np.shape(beta) != (Q,):
        raise ValueError(f"beta: expected (Q,) = ({Q},), got {np.shape(beta)}")
    rows = 1 if matching is None else 2
    figure = Figure(figsize=(max(6.0, 0.13 * T + 2), 1.8 + (0.3 * Q if matching is not None else 0)))
    grid = figure.add_gridspec(
        rows, 2, width_ratios=[T, max(T // 12, 3)], height_ratios=[Q, 3][-rows:], hspace=0.05, wspace=0.02
    )
    attention = figure.add_subplot(grid[rows - 1, 0])
    attention.bar(np.arange(T), weights, color="tab:blue", width=0.8)
    attention.set_xlim(-0.5, T - 0.5)
    attention.set_xticks(np.arange(T), document, rotation=90, fontsize=6)
    attention.set_ylabel("s", fontsize=8)
    attention.tick_params(axis="y", labelsize=6)
    if matching is not None:
        heat = figure.add_subplot(grid[0, 0], sharex=attention)
        heat.imshow(matching.T, aspect="auto", cmap="viridis", interpolation="nearest")
        heat.set_yticks(np.arange(Q), query, fontsize=7)
        heat.tick_params(labelbottom=False)
        heat.set_title("matching matrix M = h_doc^T h_query", fontsize=8)
        if beta is not None:
            side = figure.add_subplot(grid[0, 1], sharey=heat)
            side.barh(np.arange(Q), beta, color="tab:orange", height=0.7)
            side.set_title("beta", fontsize=8)
            side.tick_params(labelleft=False, labelsize=6)
    if title:
        figure.suptitle(title, fontsize=9)
    figure.savefig(path, dpi=110, bbox_inches="tight")
