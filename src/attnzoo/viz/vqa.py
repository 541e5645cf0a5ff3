"""Where a VQA model looked: image attention per hop or level, question attention per level.

One row per question: the image with the question, the answer and the gold objects' boxes
outlined; then one panel per image attention map (a hop of stacked attention, or a level of
co-attention), the map upsampled over the image as a brighter overlay; then, for co-attention,
one panel per level of horizontal bars, the weight of each question word (Lu et al. 2016, Fig. 4
style).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from attnzoo.viz.captions import upsample


def outline(axis, boxes: Sequence[tuple[int, int, int, int]]) -> None:
    """Draw each ``(top, left, bottom, right)`` box (bottom/right exclusive) as a white rectangle."""
    from matplotlib.patches import Rectangle

    for top, left, bottom, right in boxes:
        axis.add_patch(Rectangle((left - 0.5, top - 0.5), right - left, bottom - top, fill=False, ec="white", lw=1))


def word_bars(axis, words: Sequence[str], weights: np.ndarray, title: str) -> None:
    """Horizontal bars of ``weights`` ``(>= len(words),)``, one per word, the first word on top."""
    count = len(words)
    axis.barh(np.arange(count), weights[:count], color="tab:orange")
    axis.set_yticks(np.arange(count), words, fontsize=6)
    axis.invert_yaxis()
    axis.set_xlim(0, 1)
    axis.tick_params(axis="x", labelsize=6)
    axis.set_title(title, fontsize=8)


def plot_vqa_attention(
    images: np.ndarray,
    questions: Sequence[Sequence[str]],
    answers: Sequence[str],
    image_weights: np.ndarray | None,
    question_weights: np.ndarray | None,
    map_names: Sequence[str],
    path: str | Path,
    *,
    boxes: Sequence[Sequence[tuple[int, int, int, int]]] | None = None,
) -> None:
    """Draw each question's image and attention maps.

    Args:
        images: ``(N, S, S, 3)`` uint8.
        questions: ``N`` lists of words. answers: ``N`` strings shown under each question.
        image_weights: ``(N, M, g, g)``, one map per hop or level, or None (no attention).
        question_weights: ``(N, M, T)``, one map per level over the words (``T`` >= each
            question's length), or None.
        map_names: ``M`` names ("hop 1", "word", ...).
        path: where to write the figure.
        boxes: per question, the gold objects' boxes to outline (None: none).
    """
    from matplotlib.figure import Figure

    count, size = images.shape[0], images.shape[1]
    maps = 0 if image_weights is None else image_weights.shape[1]
    bars = 0 if question_weights is None else question_weights.shape[1]
    if len(questions) != count or len(answers) != count or (maps and image_weights.shape[0] != count):
        raise ValueError(f"questions, answers, image_weights: expected {count} (one per image)")
    if maps and len(map_names) != maps:
        raise ValueError(f"map_names: expected {maps} names, got {len(map_names)}")
    columns = 1 + maps + bars
    figure = Figure(figsize=(1.6 * columns + 0.8 * bars, 1.9 * count + 0.3), layout="constrained")
    axes = figure.subplots(count, columns, squeeze=False)
    for row in range(count):
        axes[row, 0].imshow(images[row])
        outline(axes[row, 0], [] if boxes is None else boxes[row])
        text = " ".join(questions[row])
        wrapped = "\n".join(text[i : i + 34] for i in range(0, len(text), 34))
        axes[row, 0].set_title(f"{wrapped}\n→ {answers[row]}", fontsize=6)
        for m in range(maps):
            weights = image_weights[row, m]
            shade = upsample(weights / max(float(weights.max()), 1e-12), size)  # brightest at the largest weight
            axes[row, 1 + m].imshow((images[row] * (0.2 + 0.8 * shade[..., None])).astype(np.uint8))
            axes[row, 1 + m].set_title(f"image: {map_names[m]}", fontsize=8)
        for m in range(bars):
            word_bars(axes[row, 1 + maps + m], questions[row], question_weights[row, m], f"question: {map_names[m]}")
        for axis in axes[row, : 1 + maps]:
            axis.set_xticks([])
            axis.set_yticks([])
    figure.savefig(path, dpi=90)
