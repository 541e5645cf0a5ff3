"""Where a document classifier looked: sentence bars and word highlights (Yang et al. 2016, Fig. 5),
and the ``r x T`` heat map of structured self-attention's hops (Lin et al. 2017, Fig. 2).

In :func:`plot_evidence` each row is a sentence: a bar on the left for its weight, its words on the
right on a background whose strength is the word's weight times its sentence's, the
paper's ``sqrt(p_s) p_w`` normalisation to the document's largest (so words of an ignored sentence
stay pale). Gold evidence sentences, when known, are marked with a star.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

CHAR_INCHES = 0.085  # width of one character of the 9-point monospace font, with its box's padding
BAR_INCHES = 1.6  # width of the sentence bars' panel


def plot_evidence(
    sentences: Sequence[Sequence[str]],
    sentence_weights: Sequence[float],
    word_weights: Sequence[Sequence[float]],
    path: str | Path,
    *,
    gold: Sequence[int] = (),
    title: str | None = None,
) -> None:
    """Draw one document's attention and write it to ``path``.

    Args:
        sentences: ``S`` sentences, each a list of words.
        sentence_weights: ``(S,)`` α_i. word_weights: per sentence, its words' α_it.
        gold: indices of the gold evidence sentences (starred). title: text above the picture.
    """
    from matplotlib.figure import Figure  # lazily: `import attnzoo` must not load matplotlib

    weights = np.asarray(sentence_weights, dtype=float)
    strength = [np.sqrt(weights[s]) * np.asarray(word_weights[s][: len(words)]) for s, words in enumerate(sentences)]
    top = max((float(row.max()) for row in strength if row.size), default=1.0) or 1.0
    width = max(len(" ".join(words)) for words in sentences) + 4
    text_inches = CHAR_INCHES * width  # one x unit of the text panel is one character of the monospace font
    figure = Figure(figsize=(BAR_INCHES + text_inches + 0.5, 0.3 * len(sentences) + 0.8), layout="constrained")
    bars, text = figure.subplots(1, 2, width_ratios=[BAR_INCHES, text_inches], sharey=True)
    rows = np.arange(len(sentences))
    bars.barh(rows, weights, color="tab:blue")
    bars.set_xlim(weights.max() * 1.05 if weights.max() > 0 else 1, 0)  # bars grow leftwards, towards the text
    bars.set_xlabel("sentence weight")
    text.set_xlim(0, width)
    text.axis("off")
    for s, words in enumerate(sentences):
        column = 2
        text.text(0, s, "*" if s in gold else "", va="center", family="monospace", color="tab:red")
        for word, value in zip(words, strength[s], strict=False):
            box = {"facecolor": (1.0, 0.3, 0.0, float(value / top)), "edgecolor": "none", "pad": 1}
            text.text(column, s, word, va="center", family="monospace", fontsize=9, bbox=box)
            column += len(word) + 1
    bars.set_ylim(len(sentences) - 0.5, -0.5)
    bars.set_yticks(rows, [str(s + 1) for s in rows], fontsize=7)
    if title:
        figure.suptitle(title, fontsize=10)
    figure.savefig(path, dpi=110)


def plot_hops(
    weights: np.ndarray,
    tokens: Sequence[str],
    path: str | Path,
    *,
    rows: Sequence[str] | None = None,
    title: str | None = None,
) -> None:
    """Heat map of ``r`` hops over ``T`` tokens (Lin et al. 2017, Fig. 2).

    Args:
        weights: ``(r, T)``. tokens: the ``T`` labels. path: the PNG to write.
        rows: the ``r`` row labels (default ``hop 1`` ...). title: above the map.
    """
    from matplotlib.figure import Figure

    weights = np.asarray(weights, dtype=float)
    figure = Figure(figsize=(1.5 + 0.45 * len(tokens), 0.8 + 0.35 * weights.shape[0]), layout="constrained")
    axis = figure.subplots()
    image = axis.imshow(weights, cmap="Reds", vmin=0, aspect="auto")
    axis.set_xticks(range(len(tokens)), tokens, rotation=90, fontsize=7, family="monospace")
    axis.set_yticks(range(weights.shape[0]), rows or [f"hop {r + 1}" for r in range(weights.shape[0])], fontsize=8)
    figure.colorbar(image, ax=axis, fraction=0.03)
    if title:
        axis.set_title(title, fontsize=9)
    figure.savefig(path, dpi=110)
