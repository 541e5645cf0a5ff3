"""Speech alignments: the log-mel spectrogram with the decoder's attention under it, on one time axis.

Chorowski et al. 2015, Figure 2 style: output characters on y, encoder frames on x, weight ``α_ij``
as brightness; above it the utterance's spectrogram with the gold word segments marked, so a
reader sees whether each character looks at the word it spells.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LABELLED_STEPS = 60  # label every output character on the y axis up to this many steps
TITLE_CHARACTERS = 110  # each title line is cut to this many characters (a looping transcript is long)


@dataclass(frozen=True)
class SpeechPanel:
    """One utterance to draw.

    frames: ``(T, M)`` log-mel features. alignment: ``(L, Tk)`` α of each output step over the encoder
    states, each state covering ``reduction`` frames. text: the ``L`` output characters (the last step
    may be ``<eos>``). title: above the panel. segments: ``(K, 2)`` gold word ``[start, end)`` frames,
    or None. words: the ``K`` words, written in their segments.
    """

    frames: np.ndarray
    alignment: np.ndarray
    reduction: int
    text: str
    title: str = ""
    segments: np.ndarray | None = None
    words: Sequence[str] = ()


def plot_speech_alignment(panels: Sequence[SpeechPanel], path: str | Path, columns: int = 1) -> None:
    """Draw ``panels`` in rows of ``columns``, each a spectrogram over its alignment, to ``path``."""
    from matplotlib.figure import Figure  # lazily: `import attnzoo` must not load matplotlib

    rows = (len(panels) + columns - 1) // columns
    figure = Figure(figsize=(7 * columns, 5.2 * rows), layout="constrained")
    grid = figure.add_gridspec(2 * rows, columns, height_ratios=[1, 2.2] * rows)
    for index, panel in enumerate(panels):
        row, column = divmod(index, columns)
        spectrogram = figure.add_subplot(grid[2 * row, column])
        alignment = figure.add_subplot(grid[2 * row + 1, column], sharex=spectrogram)
        draw_panel(spectrogram, alignment, panel)
    figure.savefig(path, dpi=110)


def draw_panel(spectrogram, alignment, panel: SpeechPanel) -> None:
    """One utterance on two axes: the spectrogram (with segments) and α stretched to frames."""
    T = len(panel.frames)
    spectrogram.imshow(
        panel.frames.T, origin="lower", aspect="auto", cmap="magma", extent=(0, T, 0, panel.frames.shape[1])
    )
    spectrogram.set_ylabel("mel")
    lines = [textwrap.shorten(line, TITLE_CHARACTERS, placeholder=" …") for line in panel.title.split("\n")]
    spectrogram.set_title("\n".join(lines), fontsize=8, loc="left")
    if panel.segments is not None:
        for (start, end), word in zip(panel.segments, panel.words, strict=False):
            spectrogram.axvspan(start, end, color="cyan", alpha=0.12)
            spectrogram.text((start + end) / 2, panel.frames.shape[1] * 0.92, word, ha="center", fontsize=6, color="w")
    steps = np.repeat(np.asarray(panel.alignment), panel.reduction, axis=1)[:, :T]  # (L, T): α per 10 ms frame
    labels = [*panel.text, "<eos>"][: len(steps)]
    alignment.imshow(
        steps, aspect="auto", cmap="gray_r", interpolation="nearest", extent=(0, steps.shape[1], len(steps), 0)
    )
    if len(steps) <= LABELLED_STEPS:
        alignment.set_yticks(
            np.arange(len(steps)) + 0.5, [label if label != " " else "␣" for label in labels], fontsize=6
        )
    alignment.set_ylabel("output step")
    alignment.set_xlabel("10 ms frame")
