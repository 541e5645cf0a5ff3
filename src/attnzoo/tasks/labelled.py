"""Labelled text from a TSV file: one ``label<TAB>text`` per line, UTF-8.

The file is read by :func:`attnzoo.tasks.corpus.read_whole_tsv`, so it follows the corpus loader's
rules and errors (module doc of :mod:`attnzoo.tasks.corpus`): a blank line is skipped, a leading
byte-order mark ignored, columns beyond the second ignored with a warning; a missing file, a line
without a tab, an empty label or text and bytes that are not UTF-8 raise one-line errors naming
``<file>:<line>``, here worded for labels and texts.

A text is split into sentences at ``.``, ``!`` and ``?`` and into lower-cased words
(:func:`split_text`), the shape :class:`attnzoo.models.han.HAN` reads.
"""

from __future__ import annotations

import os
import re

from attnzoo.tasks.corpus import read_whole_tsv

WORDING = (  # the corpus loader's words for a sentence pair, and ours for a labelled text
    ("the source in column 1 and the target in column 2", "the label in column 1 and the text in column 2"),
    ("empty source", "empty label"),
    ("empty target", "empty text"),
    ("no sentence pairs", "no labelled texts"),
)


def read_labelled_tsv(path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """``[(label, text), ...]`` of a ``label<TAB>text`` file, in file order (errors: module doc)."""
    try:
        return read_whole_tsv(path)
    except ValueError as error:
        message = str(error)
        for theirs, ours in WORDING:
            message = message.replace(theirs, ours)
        raise ValueError(message) from None


def split_text(text: str) -> list[list[str]]:
    """Sentences (at ``.``, ``!``, ``?``) of lower-cased words (letters, digits, apostrophes), each ending in ``.``."""
    sentences = [re.findall(r"[\w']+", part.lower()) for part in re.split(r"[.!?]+", text)]
    return [[*words, "."] for words in sentences if words]
