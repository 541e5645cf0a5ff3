"""Few-shot episodes: N-way K-shot classification, as Vinyals et al. 2016 and Mishra et al. 2018 (§5.1) pose it.

An episode draws ``N`` classes from a pool, ``K`` labelled drawings of each (the support set, in a
random order, labelled 0..N-1 by a random assignment of the classes) and one more drawing of one of
the ``N`` classes (the query), whose label the model must give. Two pools:

- :class:`GlyphPool`: the glyphs of :mod:`attnzoo.tasks.glyphs`, one split's classes, a new font
  and distortion for every drawing;
- :class:`DigitsPool`: scikit-learn's handwritten digits (1,797 real scans, 10 classes), resized
  to 20×20 on a 28×28 canvas like the glyphs; every split has the 10 classes (there are only
  10), but its own scans. A model trained on glyphs meets these classes for the first time: the
  real-data check.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from attnzoo.tasks import digits, glyphs

DATASETS = ("glyphs", "digits")


class EpisodeBatch(NamedTuple):
    """``B`` episodes of ``N``-way ``K``-shot classification (``S = N * K`` support items).

    Attributes:
        support: ``(B, S, 1, 28, 28)`` the support images, in a random order.
        support_labels: ``(B, S)`` int64 labels in ``0..N-1``.
        query: ``(B, 1, 28, 28)`` the query image.
        query_labels: ``(B,)`` int64 label of the query (the target; never shown to the model).
        classes: ``(B, N)`` int64: the pool's class behind each label.
    """

    support: Tensor
    support_labels: Tensor
    query: Tensor
    query_labels: Tensor
    classes: Tensor


class GlyphPool:
    """The classes of one split of the glyphs; every drawing gets a random font and distortion."""

    def __init__(self, split: str, strength: float = 1.0) -> None:
        self.bank = glyphs.glyph_bank()
        self.classes = glyphs.split_classes(self.bank.classes)[split]  # (C,) the split's class ids
        self.strength = strength

    def draw(self, classes: Tensor, generator: torch.Generator) -> Tensor:
        """``(M, 1, 28, 28)``: one new drawing of each class id in ``classes`` ``(M,)``."""
        return glyphs.draw_glyphs(self.bank, classes, generator, strength=self.strength)

    def name(self, index: int) -> str:
        """The character of class ``index``."""
        return self.bank.characters[index]


class DigitsPool:
    """scikit-learn's digits of one split (:func:`attnzoo.tasks.digits.split_indices`), 20×20 on 28×28."""

    def __init__(self, split: str) -> None:
        images, labels = digits.load_digit_images()
        chosen = digits.split_indices(labels)[split]
        small = F.interpolate(torch.from_numpy(images[chosen])[:, None], size=(20, 20), mode="area")
        self.images = F.pad(small, (4, 4, 4, 4))  # (M, 1, 28, 28)
        self.labels = torch.from_numpy(np.asarray(labels[chosen]))  # (M,)
        self.classes = torch.arange(10)
        self.members = [torch.nonzero(self.labels == label).flatten() for label in range(10)]

    def draw(self, classes: Tensor, generator: torch.Generator) -> Tensor:
        """``(M, 1, 28, 28)``: a random scan of each class in ``classes`` ``(M,)``."""
        picks = [
            self.members[int(c)][torch.randint(len(self.members[int(c)]), (1,), generator=generator)] for c in classes
        ]
        return self.images[torch.cat(picks)]

    def name(self, index: int) -> str:
        return str(index)


def make_pool(dataset: str, split: str) -> GlyphPool | DigitsPool:
    """The pool of ``dataset`` (``"glyphs"`` or ``"digits"``) and ``split``."""
    if dataset not in DATASETS:
        raise ValueError(f"dataset: expected one of {', '.join(DATASETS)}, got {dataset!r}")
    return GlyphPool(split) if dataset == "glyphs" else DigitsPool(split)


def sample_episodes(
    pool: GlyphPool | DigitsPool, ways: int, shots: int, count: int, generator: torch.Generator
) -> EpisodeBatch:
    """``count`` episodes of ``ways``-way ``shots``-shot classification from ``pool``.

    Each episode: ``ways`` distinct classes of the pool in a random order (label ``i`` is the
    ``i``-th), ``shots`` drawings of each shuffled into the support set, and one query drawing of
    a uniformly chosen label.
    """
    available = len(pool.classes)
    if not 2 <= ways <= available:
        raise ValueError(f"ways: expected 2 to {available} (the pool's classes), got {ways}")
    if shots < 1:
        raise ValueError(f"shots: expected >= 1, got {shots}")
    chosen = torch.rand(count, available, generator=generator).argsort(dim=1)[:, :ways]  # (B, N)
    classes = pool.classes[chosen]  # (B, N) label i -> class classes[:, i]
    labels = torch.arange(ways).repeat_interleave(shots).expand(count, -1)  # (B, S) sorted
    order = torch.rand(count, ways * shots, generator=generator).argsort(dim=1)
    support_labels = labels.gather(1, order)  # (B, S) shuffled
    query_labels = torch.randint(ways, (count,), generator=generator)  # (B,)
    wanted = torch.cat([classes.gather(1, support_labels), classes.gather(1, query_labels[:, None])], 1)  # (B, S+1)
    images = pool.draw(wanted.flatten(), generator).view(count, ways * shots + 1, 1, *pool_image_size())
    return EpisodeBatch(images[:, :-1], support_labels, images[:, -1], query_labels, classes)


def pool_image_size() -> tuple[int, int]:
    """``(28, 28)``: the side of every pool's images."""
    return (glyphs.IMAGE_SIZE, glyphs.IMAGE_SIZE)
