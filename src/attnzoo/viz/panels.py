"""Several attention matrices side by side, one titled panel each.

Word-by-word attention of premise–hypothesis pairs (Rocktäschel et al. 2016, Figure 3: premise
words on x, hypothesis words on y, one pair per panel), or the alignment of every attending
decoder layer of ConvS2S (Gehring et al. 2017, one layer per panel).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from attnzoo.viz.alignment import draw_panel


def plot_panels(
    matrices: Sequence,
    premises: Sequence[Sequence[str]],
    hypotheses: Sequence[Sequence[str]],
    titles: Sequence[str],
    path: str | Path,
    axes: tuple[str, str] = ("premise", "hypothesis"),
) -> None:
    """Draw one attention panel per matrix and write the figure to ``path``.

    Args:
        matrices: per panel a ``(N, L)`` array or tensor (``N`` rows, ``L`` columns; rows and
            columns beyond the labels are cut off).
        premises: per panel its ``L`` column labels. hypotheses: per panel its ``N`` row labels.
        titles: per panel a title (e.g. ``gold: neutral / predicted: neutral 0.97``).
        axes: the x and y axis names.
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
    panels = figure.subplots(1, len(matrices), squeeze=False)[0]
    for axis, weights, premise, hypothesis, title in zip(panels, matrices, premises, hypotheses, titles, strict=True):
        matrix = np.asarray(weights.detach().cpu() if hasattr(weights, "detach") else weights, dtype=float)
        matrix = matrix[: len(hypothesis), : len(premise)]
        image = draw_panel(axis, matrix, list(premise), list(hypothesis), range(len(premise)), rotate=True)
        axis.set_xlabel(axes[0])
        axis.set_ylabel(axes[1])
        axis.set_title(title, fontsize=9)
    figure.colorbar(image, ax=list(panels), shrink=0.8, label="attention weight α", location="right")
    figure.savefig(path, dpi=120)
