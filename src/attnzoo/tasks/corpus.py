"""Parallel corpora from TSV files, and a synthetic transduction task with inputs of 5..60 words.

TSV format: one sentence pair per line, ``source<TAB>target``, UTF-8 (a leading byte-order mark
is ignored; ``\\n`` or ``\\r\\n`` line ends). Choices:

- A blank line (empty or only whitespace) is **skipped**, so a trailing newline or a blank line
  between blocks is harmless; it still counts for the line numbers in error messages.
- Each side is stripped of surrounding whitespace. ``columns`` (default ``(1, 2)``) says which
  tab-separated columns hold the source and the target; other columns (e.g. Tatoeba's
  attribution) are ignored, with a warning saying how many. A line with too few columns or with
  an empty side raises ``ValueError("<file>:<line>: ...")``, the line 1-based.
- A missing file raises ``FileNotFoundError`` naming the path; a file without a single pair
  ``ValueError("<file>: no sentence pairs")``; bytes that are not UTF-8
  ``ValueError("<file>:<line>: not valid UTF-8 ...")``.
- ``max_len`` drops every pair whose tokenised source or target has more than ``max_len`` tokens
  (``<eos>`` not counted). :func:`filter_by_length` does it and returns the number dropped;
  :func:`read_parallel_tsv` logs that number at INFO level on the ``attnzoo.tasks`` logger, and
  raises ``ValueError`` if nothing is left.
"""

from __future__ import annotations

import logging
import math
import os
import random
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path

from attnzoo.tasks.text import Level, TranslationData, _check_level, make_translation_data, tokenize

logger = logging.getLogger("attnzoo.tasks")

Pair = tuple[str, str]


def filter_by_length(pairs: Sequence[Pair], max_len: int | None, level: Level = "word") -> tuple[list[Pair], int]:
    """``(kept, dropped)``: the pairs whose source and target both have at most ``max_len`` tokens."""
    _check_level(level)
    if max_len is None:
        return list(pairs), 0
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1 or None, got {max_len}")
    kept = [
        (source, target)
        for source, target in pairs
        if len(tokenize(source, level)) <= max_len and len(tokenize(target, level)) <= max_len
    ]
    return kept, len(pairs) - len(kept)


def default_max_len(pairs: Sequence[Pair], level: Level = "word") -> int:
    """1.5 × the 99th percentile of the pairs' lengths (the longer side, in ``level`` tokens).

    The limit a corpus gets without ``max_len``: the rare outlier (a stray 1 MB line) is dropped
    instead of exhausting memory, and ordinary long sentences are kept.
    """
    lengths = sorted(max(len(tokenize(source, level)), len(tokenize(target, level))) for source, target in pairs)
    percentile = lengths[int(0.99 * (len(lengths) - 1))]
    return max(math.ceil(1.5 * percentile), 1)


def read_parallel_tsv(
    path: str | os.PathLike[str],
    level: Level = "word",
    max_len: int | None = None,
    columns: tuple[int, int] = (1, 2),
) -> list[Pair]:
    """Sentence pairs of a ``source<TAB>target`` UTF-8 file (format and errors: module doc).

    ``level`` is the tokenisation ``max_len`` counts in (``"word"`` or ``"char"``); the pairs are
    returned as text. Without ``max_len``, pairs longer than :func:`default_max_len` are dropped;
    how many is logged as a warning.
    """
    _check_level(level)
    pairs = read_whole_tsv(path, columns)
    chosen = default_max_len(pairs, level) if max_len is None else max_len
    kept, dropped = filter_by_length(pairs, chosen, level)
    if dropped and max_len is None:
        logger.warning(
            "%s: dropped %d of %d pairs longer than %d %s tokens (1.5x the 99th percentile; set max_len to change)",
            path,
            dropped,
            len(pairs),
            chosen,
            level,
        )
    elif dropped:
        logger.info("%s: dropped %d of %d pairs longer than %d %s tokens", path, dropped, len(pairs), max_len, level)
    if not kept:
        raise ValueError(f"{path}: no sentence pairs of at most {chosen} {level} tokens (all {len(pairs)} dropped)")
    return kept


def read_whole_tsv(
    path: str | os.PathLike[str],
    columns: tuple[int, int] = (1, 2),
    names: tuple[str, str] = ("source", "target"),
    what: str = "sentence pairs",
) -> list[Pair]:
    """Every pair of a TSV file, none dropped for its length (a file to score whole).

    ``names`` and ``what`` word the errors for other two-column files (``("label", "text")``,
    ``"labelled texts"``).
    """
    if len(columns) != 2 or min(columns) < 1 or columns[0] == columns[1]:
        raise ValueError(f"columns: expected two different column numbers from 1, got {columns}")
    pairs: list[Pair] = []
    extra = 0
    for number, line in text_lines(path):
        pair, fields = parse_line(path, number, line, columns, names)
        if pair is not None:
            pairs.append(pair)
            extra = max(extra, fields - 2)
    if not pairs:
        raise ValueError(f"{path}: no {what}")
    if extra:
        logger.warning("%s: ignored %d column(s) beyond the %s and the %s (columns %s)", path, extra, *names, columns)
    return pairs


def text_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of a UTF-8 file: a leading byte-order mark dropped, ``\r\n`` ends
    taken; a missing file, a folder or bytes that are not UTF-8 raise one line naming the file
    (and the line)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except IsADirectoryError:
        kind = path.suffix[1:].upper() or "text"  # "TSV", "JSONL"
        raise IsADirectoryError(f"{path}: is a directory, expected a {kind} file") from None
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    for number, line_bytes in enumerate(raw.split(b"\n"), start=1):
        try:
            line = line_bytes.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(
                f"{path}:{number}: not valid UTF-8 (byte 0x{line_bytes[error.start]:02x} is byte"
                f" {error.start + 1} of the line); save the file as UTF-8"
            ) from None
        yield number, line.rstrip("\r")


def parse_line(
    path: str | os.PathLike[str], number: int, line: str, columns: tuple[int, int], names: tuple[str, str]
) -> tuple[Pair | None, int]:
    """``((first, second), number of columns)`` of one TSV line; ``(None, 0)`` for a blank line."""
    if not line.strip():
        return None, 0
    fields = line.split("\t")
    if len(fields) < max(columns):
        what = "no tab" if len(fields) == 1 else f"{len(fields)} columns"
        raise ValueError(
            f"{path}:{number}: expected the {names[0]} in column {columns[0]} and the {names[1]} in column "
            f"{columns[1]} (tab-separated), found {what}: {_preview(line)}"
        )
    first, second = fields[columns[0] - 1].strip(), fields[columns[1] - 1].strip()
    if not first or not second:
        raise ValueError(f"{path}:{number}: empty {names[0] if not first else names[1]}: {_preview(line)}")
    return (first, second), len(fields)


def _preview(line: str, width: int = 60) -> str:
    return repr(line if len(line) <= width else line[: width - 3] + "...")


def parse_split(split: str) -> tuple[float, float, float]:
    """``"0.8/0.1/0.1"`` → the train/valid/test fractions; one clear line if they do not sum to 1."""
    try:
        parts = tuple(float(part) for part in split.split("/"))
    except ValueError:
        parts = ()
    if len(parts) != 3 or min(parts) < 0 or parts[0] <= 0 or abs(sum(parts) - 1) > 1e-6:
        raise ValueError(f"task split: expected train/valid/test fractions summing to 1, got {split!r}")
    return parts


def split_pairs(
    pairs: Sequence[Pair], valid_fraction: float = 0.05, test_fraction: float = 0.05, seed: int = 0
) -> tuple[list[Pair], list[Pair], list[Pair]]:
    """Shuffle (deterministically from ``seed``) and cut into train / valid / test.

    Each non-zero fraction gets at least one pair; the training split must keep at least one.
    """
    if not (0 <= valid_fraction < 1 and 0 <= test_fraction < 1 and valid_fraction + test_fraction < 1):
        raise ValueError(f"bad fractions valid={valid_fraction}, test={test_fraction}")
    shuffled = list(pairs)
    random.Random(f"attnzoo.split:{seed}").shuffle(shuffled)
    n = len(shuffled)
    n_valid = max(1, round(n * valid_fraction)) if valid_fraction > 0 else 0
    n_test = max(1, round(n * test_fraction)) if test_fraction > 0 else 0
    if n - n_valid - n_test < 1:
        raise ValueError(f"{n} pairs are too few to split into train / valid / test")
    return (
        shuffled[n_valid + n_test :],
        shuffled[:n_valid],
        shuffled[n_valid : n_valid + n_test],
    )


def corpus_data(
    path: str | os.PathLike[str],
    level: Level = "word",
    max_len: int | None = None,
    valid_fraction: float = 0.05,
    test_fraction: float = 0.05,
    seed: int = 0,
    min_count: int = 1,
) -> TranslationData:
    """A TSV corpus ready for training: read, length-filter, split, vocabularies from train."""
    pairs = read_parallel_tsv(path, level=level, max_len=max_len)
    train, valid, test = split_pairs(pairs, valid_fraction, test_fraction, seed)
    return make_translation_data(train, valid, test, level=level, min_count=min_count)


def corpus_splits(
    *,
    data: str | None = None,
    train: str | None = None,
    valid: str | None = None,
    test: str | None = None,
    fractions: tuple[float, float, float] = (0.9, 0.05, 0.05),
    split_seed: int = 0,
    level: Level = "word",
    max_len: int | None = None,
    columns: tuple[int, int] = (1, 2),
) -> tuple[list[Pair], list[Pair], list[Pair]]:
    """Train / valid / test pairs from one file ``data`` cut by ``fractions``, or from ``train``
    with optional ``valid`` and ``test`` files (a missing one is cut from ``train`` by its fraction).

    The cut is shuffled by ``split_seed`` (not the model's seed). Length filtering (``max_len``, or
    :func:`default_max_len`) applies to the file that is cut, never to a given valid or test file.
    """
    if (data is None) == (train is None):
        raise ValueError("corpus: give either data=FILE (one file, split) or train=FILE [valid=FILE] [test=FILE]")
    total = sum(fractions)
    if len(fractions) != 3 or min(fractions) < 0 or fractions[0] <= 0 or abs(total - 1) > 1e-6:
        raise ValueError(f"split: expected three fractions train/valid/test summing to 1, got {fractions}")
    read = {"level": "char" if level == "char" else "word", "max_len": max_len, "columns": columns}
    pairs = read_parallel_tsv(data or train, **read)
    valid_pairs = read_whole_tsv(valid, columns) if valid else None  # a given valid or test file is scored whole
    test_pairs = read_whole_tsv(test, columns) if test else None
    cut_valid = 0.0 if valid_pairs is not None else fractions[1]
    cut_test = 0.0 if test_pairs is not None else fractions[2]
    train_pairs, cut_valid_pairs, cut_test_pairs = split_pairs(pairs, cut_valid, cut_test, split_seed)
    return train_pairs, valid_pairs or cut_valid_pairs, test_pairs or cut_test_pairs


# -- the length experiment's task ------------------------------------------------------------

#: Source words of the transduction task, and their fixed translations (a bijection).
TRANSDUCTION_SOURCE_WORDS: tuple[str, ...] = (
    "ba", "de", "fi", "go", "hu", "ka", "le", "mi", "no", "pu",
    "ra", "se", "ti", "vo", "wu", "xa", "ye", "zi", "jo", "qu",
)  # fmt: skip
TRANSDUCTION_TARGET_WORDS: tuple[str, ...] = (
    "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE", "TEN",
    "ELEVEN", "TWELVE", "THIRTEEN", "FOURTEEN", "FIFTEEN", "SIXTEEN", "SEVENTEEN", "EIGHTEEN", "NINETEEN", "TWENTY",
)  # fmt: skip
TRANSDUCTION_LEXICON: dict[str, str] = dict(zip(TRANSDUCTION_SOURCE_WORDS, TRANSDUCTION_TARGET_WORDS, strict=True))


def transduce(source: str) -> str:
    """The task's target: the source words in reverse order, each replaced by its lexicon entry."""
    try:
        return " ".join(TRANSDUCTION_LEXICON[word] for word in reversed(source.split()))
    except KeyError as error:
        raise ValueError(f"{error.args[0]!r} is not a source word of the transduction task") from None


def generate_transduction(
    size: int, min_len: int = 5, max_len: int = 60, seed: int = 0, exclude: Collection[str] = ()
) -> list[Pair]:
    """``size`` pairs ``(source, transduce(source))`` of whitespace-separated words.

    Lengths are uniform over ``min_len .. max_len`` words, words uniform over the 20 of
    :data:`TRANSDUCTION_SOURCE_WORDS`; the same arguments give the same pairs. Sources in
    ``exclude`` (e.g. the training sources, when drawing a test set) and repeats are redrawn.

    Why this task: every output word depends on one input word far from it (position
    ``n - 1 - i``), so a fixed-size context must hold the whole input, while attention only has to
    find one position: the setting of Cho 2014 / Bahdanau 2015 Fig. 2, small enough (20-word
    vocabularies, one-to-one alignment) for a CPU model to learn in minutes.
    """
    if not 1 <= min_len <= max_len:
        raise ValueError(f"need 1 <= min_len <= max_len, got {min_len}, {max_len}")
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    rng = random.Random(f"attnzoo.transduction:{seed}:{min_len}:{max_len}")
    excluded = set(exclude)
    seen: set[str] = set()
    pairs: list[Pair] = []
    attempts = 0
    while len(pairs) < size:
        attempts += 1
        if attempts > 100 * size + 1000:
            raise ValueError(f"cannot draw {size} distinct sources of {min_len}..{max_len} words")
        length = rng.randint(min_len, max_len)
        source = " ".join(rng.choices(TRANSDUCTION_SOURCE_WORDS, k=length))
        if source in seen or source in excluded:
            continue
        seen.add(source)
        pairs.append((source, transduce(source)))
    return pairs


def transduction_data(
    train_size: int = 20_000,
    valid_size: int = 1_000,
    test_size: int = 2_000,
    train_max_len: int = 40,
    test_max_len: int = 60,
    min_len: int = 5,
    seed: int = 0,
) -> TranslationData:
    """The length experiment's data at word level: train / valid with ``min_len .. train_max_len``
    words, test with ``min_len .. test_max_len`` words, no test or valid source seen in training."""
    train = generate_transduction(train_size, min_len, train_max_len, seed=seed)
    train_sources = {source for source, _ in train}
    valid = generate_transduction(valid_size, min_len, train_max_len, seed=seed + 1, exclude=train_sources)
    test = generate_transduction(test_size, min_len, test_max_len, seed=seed + 2, exclude=train_sources)
    return make_translation_data(train, valid, test, level="word")
