"""Word-by-word attention matrices of premise–hypothesis pairs (Rocktäschel et al. 2016, Figure 3).

One panel per pair, side by side: premise words on x, hypothesis words on y, ``α_t`` of
hypothesis word ``t`` as row ``t``; each panel's title names the gold and predicted labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from attnzoo.viz.alignment import draw_panel


def plot_entailment(
    matrices: Sequence,
    premises: Sequence[Sequence[str]],
    hypotheses: Sequence[Sequence[str]],
    titles: Sequence[str],
    path: str | Path,
) -> None:
    """Draw one attention panel per pair and write the figure to ``path``.

    Args:
        matrices: per pair a ``(N, L)`` array or tensor (``N`` hypothesis rows, ``L`` premise columns;
            rows and columns beyond the words are cut off).
        premises: per pair its ``L`` premise words. hypotheses: per pair its ``N`` row labels.
        titles: per pair a title (e.g. ``gold: neutral / predicted: neutral 0.97``).
    """
    from matplotlib.figure import Figure  # lazily: `import attnzoo` must not load matplotlib

    if not len(matrices) == len(premises) == len(hypotheses) == len(titles) >= 1:
        raise ValueError(
            f"matrices, premises, hypotheses, titles: expected one or more of each, as many of each; got "
            f"{len(matrices)}, {len(premises)}, {len(hypotheses)}, {len(titles)}"
        )
    widest = max(len(words) for words in premises)
    tallest = max(len(words) for words in hypotheses)
    figure = Figure(figsize=(len(matrices) * (0.4 * widest + 1.8) + 1.0, 0.4 * tallest + 2.4), layout="constrained")
    axes = figure.subplots(1, len(matrices), squeeze=False)[0]
    for axis, weights, premise, hypothesis, title in zip(axes, matrices, premises, hypotheses, titles, strict=True):
        matrix = np.asarray(weights.detach().cpu() if hasattr(weights, "detach") else weights, dtype=float)
        matrix = matrix[: len(hypothesis), : len(premise)]
        image = draw_panel(axis, matrix, list(premise), list(hypothesis), range(len(premise)), rotate=True)
        axis.set_xlabel("premise")
        axis.set_ylabel("hypothesis")
        axis.set_title(title, fontsize=9)
    figure.colorbar(image, ax=list(axes), shrink=0.8, label="attention weight α", location="right")
    figure.savefig(path, dpi=120)
