"""Labelled text from a TSV file: one ``label<TAB>text`` per line, UTF-8.

The file is read by :func:`attnzoo.tasks.corpus.read_whole_tsv`, so it follows the corpus loader's
rules and errors (module doc of :mod:`attnzoo.tasks.corpus`): a blank line is skipped, a leading
byte-order mark ignored, columns beyond the second ignored with a warning; a missing file, a line
without a tab, an empty label or text and bytes that are not UTF-8 raise one-line errors naming
``<file>:<line>``, here worded for labels and texts.

A text is split into sentences at ``.``, ``!`` and ``?`` and into lower-cased words
(:func:`split_text`), the shape :class:`attnzoo.models.han.HAN` reads; :func:`labelled_reviews`
turns a file into train / valid / test reviews with a vocabulary (``attnzoo train han --data FILE``).
"""

from __future__ import annotations

import os
import re

from attnzoo.tasks.corpus import read_whole_tsv, split_pairs
from attnzoo.tasks.reviews import Review
from attnzoo.tasks.vocab import Vocabulary


def read_labelled_tsv(path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """``[(label, text), ...]`` of a ``label<TAB>text`` file, in file order (errors: module doc)."""
    return read_whole_tsv(path, names=("label", "text"), what="labelled texts")


def split_text(text: str) -> list[list[str]]:
    """Sentences (at ``.``, ``!``, ``?``) of lower-cased words (letters, digits, apostrophes), each ending in ``.``."""
    sentences = [re.findall(r"[\w']+", part.lower()) for part in re.split(r"[.!?]+", text)]
    return [[*words, "."] for words in sentences if words]


def labelled_reviews(
    path: str | os.PathLike[str], seed: int, min_count: int = 2, fractions: tuple[float, float] = (0.1, 0.1)
) -> tuple[dict[str, list[Review]], Vocabulary, list[str]]:
    """A ``label<TAB>text`` file as train / valid / test :class:`~attnzoo.tasks.reviews.Review` lists.

    The split is :func:`attnzoo.tasks.corpus.split_pairs` (``fractions``: valid, test; seeded by
    ``seed``); the vocabulary holds the training words seen at least ``min_count`` times (others
    become ``<unk>``); the labels are sorted and a review's ``rating`` is its label's index. Real
    text has no gold evidence: the reviews' evidence lists are empty.

    Returns:
        ``({"train": [...], "valid": [...], "test": [...]}, vocabulary, labels)``.
    """
    pairs = read_labelled_tsv(path)
    empty = next((text for _, text in pairs if not split_text(text)), None)
    if empty is not None:
        raise ValueError(f"{path}: a text without a word: {empty!r}")
    labels = sorted({label for label, _ in pairs})
    if len(labels) < 2:
        raise ValueError(f"{path}: expected at least 2 different labels, got {labels}")
    parts = dict(zip(("train", "valid", "test"), split_pairs(pairs, *fractions, seed=seed), strict=True))
    reviews = {
        name: [Review(split_text(text), labels.index(label), [], {}, {}) for label, text in part]
        for name, part in parts.items()
    }
    vocabulary = Vocabulary.build(
        [sentence for review in reviews["train"] for sentence in review.sentences], min_count=min_count
    )
    return reviews, vocabulary, labels
