"""The data of the translation recipe: its task settings, and building or restoring the task.

Four kinds of task: ``dates`` (dates in 20 locales → ISO 8601, generated, characters),
``transduction`` (the length experiment's generated word task), ``reorder`` (SVO → SOV with
adjective–noun swap and gold alignments, generated words: :mod:`attnzoo.tasks.reorder`) and ``corpus`` (your TSV files:
one file cut into train / valid / test, or separate files). A corpus run keeps everything it
needs in its run directory: the tokenisers, the vocabularies and the pairs of each split, so
``evaluate``, ``translate`` and ``plot`` never read the original files again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from attnzoo.tasks.corpus import parse_split
from attnzoo.tasks.text import PairDataset, TranslationData, make_pair_dataset, make_translation_data
from attnzoo.tasks.tokenizers import LEVELS, tokenizer_from_dict
from attnzoo.tasks.vocab import SPECIALS, Vocabulary

KINDS = ("dates", "corpus", "transduction", "reorder")
DEFAULT_LEVEL = {"dates": "char", "corpus": "subword", "transduction": "word", "reorder": "word"}


@dataclass(frozen=True)
class TranslationTask:
    """The data of a translation run, its tokenisation, and the options of its loss."""

    kind: str | None = (
        None  # "dates", "corpus", "transduction" or "reorder" (None: corpus when a file is given, else dates)
    )
    data: str | None = None  # corpus: one source<TAB>target file, cut into train/valid/test by split
    train: str | None = None  # corpus: the training file (instead of data), with valid and test or cut from it
    valid: str | None = None  # corpus: the validation file (None: cut from train by split)
    test: str | None = None  # corpus: the test file (None: cut from train by split)
    split: str = "0.9/0.05/0.05"  # corpus: train/valid/test fractions of the file that is cut
    split_seed: int = 0  # corpus: seed of that cut (--seed seeds the model and the batches)
    columns: str = "1,2"  # corpus: the source and target columns of the TSV (others are ignored)
    level: str | None = None  # "char", "word" or "subword" tokens (None: subword for corpora, char for dates)
    lowercase: bool = False  # word, subword: lowercase the text first
    vocab_size: int = 8000  # subword: pieces per side, learned from the training split
    subword: str = "unigram"  # subword model: "unigram" (Kudo 2018, as SentencePiece) or "bpe" (Sennrich et al. 2016)
    min_count: int = 1  # keep tokens seen at least this often in training (others: <unk>)
    max_vocab: int | None = None  # keep at most this many tokens per side, the most frequent
    max_len: int | None = None  # corpus: drop pairs longer than this (None: 1.5x the 99th percentile)
    train_size: int = 20_000  # dates, transduction, reorder: training pairs generated
    valid_size: int = 1_000  # dates, transduction, reorder: validation pairs generated
    test_size: int = 2_000  # dates, transduction, reorder: test pairs generated
    train_max_len: int = 40  # transduction, reorder: longest training source (words)
    test_max_len: int = 60  # transduction, reorder: longest test source (words)
    label_smoothing: float = 0.0  # ε_ls of the training loss (Szegedy et al. 2016; Vaswani §5.4: 0.1)

    def __post_init__(self) -> None:
        if self.kind is None:
            object.__setattr__(self, "kind", "corpus" if self.data or self.train else "dates")
        if self.level is None:
            object.__setattr__(self, "level", DEFAULT_LEVEL.get(self.kind, "word"))
        if self.kind not in KINDS:
            raise ValueError(f"task kind: expected one of {', '.join(KINDS)}; got {self.kind!r}")
        if self.kind == "corpus" and not (self.data or self.train):
            raise ValueError("task kind 'corpus' needs data=FILE (one file) or train=FILE (a source<TAB>target file)")
        if self.kind != "corpus" and (self.data or self.train or self.valid or self.test):
            raise ValueError(f"task kind {self.kind!r} generates its data: a file is for kind 'corpus'")
        if self.subword not in ("unigram", "bpe"):
            raise ValueError(f"task subword: expected unigram or bpe, got {self.subword!r}")
        if self.level not in LEVELS:
            raise ValueError(f"task level: expected one of {', '.join(LEVELS)}; got {self.level!r}")
        for name in ("train_size", "valid_size", "test_size", "train_max_len", "test_max_len", "vocab_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"task {name}: expected >= 1, got {getattr(self, name)}")
        for name in ("max_len", "max_vocab"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"task {name}: expected >= 1, got {getattr(self, name)}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"task label_smoothing: expected a value in [0, 1), got {self.label_smoothing}")
        self.fractions(), self.column_numbers()  # checked now, before any data are read

    def fractions(self) -> tuple[float, float, float]:
        """``split`` as three floats."""
        return parse_split(self.split)

    def column_numbers(self) -> tuple[int, int]:
        """``columns`` as two 1-based column numbers."""
        try:
            source, target = (int(part) for part in self.columns.split(","))
        except ValueError:
            raise ValueError(f"task columns: expected two column numbers like 1,2, got {self.columns!r}") from None
        if min(source, target) < 1 or source == target:
            raise ValueError(f"task columns: expected two different column numbers from 1, got {self.columns!r}")
        return source, target


def build_translation_data(settings: TranslationTask, seed: int) -> TranslationData:
    """The :class:`TranslationData` that ``settings`` describe (generated tasks use ``seed``)."""
    if settings.kind == "dates":
        from attnzoo.tasks.dates import dates_data

        sizes = {"train_size": settings.train_size, "valid_size": settings.valid_size}
        return dates_data(**sizes, test_size=settings.test_size, seed=seed)
    if settings.kind == "transduction":
        from attnzoo.tasks.corpus import transduction_data

        sizes = (settings.train_size, settings.valid_size, settings.test_size)
        lengths = {"train_max_len": settings.train_max_len, "test_max_len": settings.test_max_len}
        return transduction_data(*sizes, **lengths, seed=seed)
    if settings.kind == "reorder":
        from attnzoo.tasks.reorder import reorder_data

        sizes = (settings.train_size, settings.valid_size, settings.test_size)
        return reorder_data(*sizes, settings.train_max_len, settings.test_max_len, seed=seed)
    from attnzoo.tasks.corpus import corpus_splits

    files = {"data": settings.data, "train": settings.train, "valid": settings.valid, "test": settings.test}
    splits = corpus_splits(
        **files,
        fractions=settings.fractions(),
        split_seed=settings.split_seed,
        level=settings.level,
        max_len=settings.max_len,
        columns=settings.column_numbers(),
    )
    return make_translation_data(*splits, **vocabulary_options(settings))


def vocabulary_options(settings: TranslationTask) -> dict[str, Any]:
    """The keywords of :func:`make_translation_data` that ``settings`` set."""
    return {
        "level": settings.level,
        "min_count": settings.min_count,
        "lowercase": settings.lowercase,
        "vocab_size": settings.vocab_size,
        "max_vocab": settings.max_vocab,
        "subword": settings.subword,
    }


def task_documents(task: TranslationData, settings: TranslationTask) -> dict[str, Any]:
    """What a run keeps of its task: tokenisers, vocabularies, and a corpus's pairs of every split."""
    documents: dict[str, Any] = {
        "source_vocab": task.source_vocab.tokens,
        "target_vocab": task.target_vocab.tokens,
        "source_tokenizer": task.source_tokenizer.to_dict(),
        "target_tokenizer": task.target_tokenizer.to_dict(),
    }
    if settings.kind == "corpus":
        documents["pairs"] = {split: getattr(task, split).pairs for split in ("train", "valid", "test")}
    return documents


def restore_translation_data(settings: TranslationTask, documents: dict[str, Any]) -> TranslationData:
    """A corpus task from a run's documents alone: its tokenisers, vocabularies and pairs."""
    source, target = (tokenizer_from_dict(documents[f"{side}_tokenizer"]) for side in ("source", "target"))
    source_vocab, target_vocab = (
        Vocabulary(documents[f"{side}_vocab"][len(SPECIALS) :]) for side in ("source", "target")
    )

    def split(name: str) -> PairDataset:
        pairs = [tuple(pair) for pair in documents["pairs"][name]]
        return make_pair_dataset(pairs, source_vocab, target_vocab, source, target)

    return TranslationData(
        source_vocab, target_vocab, split("train"), split("valid"), split("test"), settings.level, source, target
    )
