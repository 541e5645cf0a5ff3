"""What the captions and the attention of a captioner are measured by, against the scenes' ground truth.

- BLEU-1..4 (sacrebleu, corpus level, every paraphrase of an image as a reference);
- object recall: the share of an image's objects that the caption names with the right colour
  and shape (:func:`named_objects` reads ``COLOUR SHAPE`` pairs from the words);
- attention correctness: for each word that names an object (its size, colour or shape word), the
  share of α's mass inside that object's box, α spread evenly over the pixels of its cell (the
  nearest-neighbour upsampling of the grid to the image), against the box's share of the image,
  which is what a uniform α would give; and how often α's largest cell has its centre in the box;
- coverage: Σ_t α_ti per location, summarised by eq. (14)'s penalty and its largest value.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from attnzoo.tasks.scenes import COLOURS, SHAPES, Scene


def bleu_scores(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, float]:
    """Corpus BLEU-1..4 (sacrebleu's defaults, ``max_ngram_order`` n) of ``hypotheses`` against
    ``references`` (one list of paraphrases per hypothesis, any number each)."""
    from sacrebleu.metrics import BLEU

    most = max(len(refs) for refs in references)
    padded = [list(refs) + [refs[0]] * (most - len(refs)) for refs in references]  # a repeated reference adds nothing
    streams = [list(stream) for stream in zip(*padded, strict=True)]  # sacrebleu: one stream per reference index
    return {f"bleu{n}": BLEU(max_ngram_order=n).corpus_score(list(hypotheses), streams).score for n in (1, 2, 3, 4)}


def named_objects(words: Sequence[str]) -> set[tuple[str, str]]:
    """The ``(colour, shape)`` pairs a caption names: a colour word followed by a shape word."""
    return {
        (first, second)
        for first, second in zip(words, words[1:], strict=False)
        if first in COLOURS and second in SHAPES
    }


def object_recall(captions: Sequence[Sequence[str]], scenes: Sequence[Scene]) -> float:
    """Share of the scenes' objects that their captions name with the right colour and shape."""
    found = total = 0
    for words, scene in zip(captions, scenes, strict=True):
        named = named_objects(words)
        found += sum((item.colour, item.shape) in named for item in scene.objects)
        total += len(scene.objects)
    return found / max(total, 1)


def cell_overlaps(boxes: np.ndarray, grid: int, image_size: int) -> np.ndarray:
    """The share of each grid cell's pixels inside each box: boxes ``(M, 4)`` -> ``(M, grid, grid)``."""
    cell = image_size / grid
    edges = np.arange(grid + 1) * cell  # cell borders in pixels

    def along(start: np.ndarray, stop: np.ndarray) -> np.ndarray:  # (M, grid) overlap / cell side
        return (
            np.clip(np.minimum(stop[:, None], edges[None, 1:]) - np.maximum(start[:, None], edges[None, :-1]), 0, None)
            / cell
        )

    rows, cols = along(boxes[:, 0], boxes[:, 2]), along(boxes[:, 1], boxes[:, 3])
    return rows[:, :, None] * cols[:, None, :]


def attention_correctness(weights: np.ndarray, scenes: Sequence[Scene], image_size: int) -> dict[str, float]:
    """α against the box of the object each word names, over every object word of caption 0.

    Args:
        weights: ``(N, T, L)`` α of teacher-forced caption 0 of each scene (``T`` >= its length,
            ``L = grid²``); α of step ``t`` is the one that produced word ``t``.
        scenes: the ``N`` scenes.

    Returns:
        ``correctness`` (mean α mass in the box), ``uniform`` (mean box area share: a uniform α),
        ``argmax_in_box`` (share of words whose α's largest cell has its centre in the box),
        ``words`` (object words counted).
    """
    grid = round(weights.shape[-1] ** 0.5)
    rows, steps, boxes = [], [], []
    for index, scene in enumerate(scenes):
        for step, link in enumerate(scene.links[0]):
            if link >= 0:
                rows.append(index)
                steps.append(step)
                boxes.append(scene.objects[link].box)
    boxes = np.asarray(boxes, dtype=np.float64)  # (M, 4)
    alpha = weights[rows, steps].reshape(-1, grid, grid)  # (M, grid, grid)
    inside = (alpha * cell_overlaps(boxes, grid, image_size)).sum(axis=(1, 2))  # (M,)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) / image_size**2
    best_row, best_col = np.divmod(alpha.reshape(len(boxes), -1).argmax(axis=1), grid)
    cell = image_size / grid
    centre_y, centre_x = (best_row + 0.5) * cell, (best_col + 0.5) * cell
    hit = (boxes[:, 0] <= centre_y) & (centre_y < boxes[:, 2]) & (boxes[:, 1] <= centre_x) & (centre_x < boxes[:, 3])
    return {
        "correctness": float(inside.mean()),
        "uniform": float(area.mean()),
        "argmax_in_box": float(hit.mean()),
        "words": float(len(boxes)),
    }


def coverage(weights: np.ndarray, lengths: np.ndarray) -> dict[str, float]:
    """Eq. (14)'s penalty Σ_i (1 − Σ_t α_ti)² (mean per caption) and the mean largest Σ_t α_ti.

    Args:
        weights: ``(N, T, L)`` α. lengths: ``(N,)`` steps that count in each caption.
    """
    mask = np.arange(weights.shape[1])[None, :] < lengths[:, None]  # (N, T)
    total = (weights * mask[..., None]).sum(axis=1)  # Σ_t α_ti: (N, L)
    return {"penalty": float(((1 - total) ** 2).sum(axis=1).mean()), "max_coverage": float(total.max(axis=1).mean())}
