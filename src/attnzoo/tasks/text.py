"""Tokens, datasets of id sequences and batching for sequence-to-sequence tasks.

Conventions (shared by every task and model in attnzoo):

- A dataset item is ``(source_ids, target_ids)``. ``source_ids`` ends with ``<eos>`` (so no
  source is empty and the encoder sees where the input stops); ``target_ids`` is the bare target,
  without ``<bos>`` / ``<eos>``: :func:`collate_pairs` adds them.
- A batch is a dict of padded ``long`` tensors, batch first:
  ``source (B, S)``, ``source_lengths (B,)``, ``target_in (B, T)`` = ``<bos>`` + target,
  ``target_out (B, T)`` = target + ``<eos>``, ``target_lengths (B,)`` = len(target) + 1
  (the non-padding positions of ``target_in`` and of ``target_out``). Padding is ``pad_id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch.utils.data import Dataset

from attnzoo.tasks.tokenizers import LEVELS, SubwordTokenizer, make_tokenizer
from attnzoo.tasks.vocab import BOS_ID, EOS_ID, PAD_ID, Vocabulary

Level = Literal["char", "word", "subword"]
Tokenizer = Any  # attnzoo.tasks.tokenizers: CharTokenizer, WordTokenizer or SubwordTokenizer


def _check_level(level: str) -> None:
    if level not in LEVELS:
        raise ValueError(f"level: expected one of {', '.join(LEVELS)}, got {level!r}")


def tokenize(text: str, level: Level | Tokenizer) -> list[str]:
    """Split ``text`` into characters (``"char"``, spaces included), or words and punctuation marks
    (``"word"``: ``"Go."`` is ``Go .``); or with a tokeniser object (:mod:`attnzoo.tasks.tokenizers`)."""
    return _tokenizer(level).tokenize(text)


def detokenize(tokens: Sequence[str], level: Level | Tokenizer) -> str:
    """Inverse of :func:`tokenize`: characters joined as is, words joined as written text spaces them."""
    return _tokenizer(level).detokenize(tokens)


def _tokenizer(level: Level | Tokenizer) -> Tokenizer:
    if isinstance(level, str):
        _check_level(level)
        return make_tokenizer(level)
    return level


@dataclass
class PairDataset(Dataset):
    """Parallel id sequences: item ``i`` is ``(source_ids[i], target_ids[i])``.

    ``pairs`` optionally keeps the text pairs the ids came from (for examples, BLEU, exact match
    against the reference string); it is empty when unknown.
    """

    source_ids: list[list[int]]
    target_ids: list[list[int]]
    pairs: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.source_ids) != len(self.target_ids):
            raise ValueError(
                f"source_ids and target_ids differ in length: {len(self.source_ids)} != {len(self.target_ids)}"
            )
        if self.pairs and len(self.pairs) != len(self.source_ids):
            raise ValueError(f"pairs has {len(self.pairs)} entries for {len(self.source_ids)} id sequences")

    def __len__(self) -> int:
        return len(self.source_ids)

    def __getitem__(self, index: int) -> tuple[list[int], list[int]]:
        return self.source_ids[index], self.target_ids[index]


def _pad(sequences: Sequence[Sequence[int]], pad_id: int) -> torch.Tensor:
    """``(N, longest)`` int64: each sequence padded with ``pad_id`` on the right (one tensor call)."""
    width = max((len(s) for s in sequences), default=0)
    rows = [[*sequence, *[pad_id] * (width - len(sequence))] for sequence in sequences]
    return torch.tensor(rows, dtype=torch.long).view(len(sequences), width)


def collate_pairs(
    batch: Sequence[tuple[Sequence[int], Sequence[int]]],
    pad_id: int = PAD_ID,
    bos_id: int = BOS_ID,
    eos_id: int = EOS_ID,
) -> dict[str, torch.Tensor]:
    """Pad a list of ``(source_ids, target_ids)`` into the batch dict described in the module doc.

    Use ``functools.partial(collate_pairs, pad_id=vocab.pad_id)`` as a DataLoader's ``collate_fn``.
    Items are not reordered; lengths are CPU ``long`` tensors as ``pack_padded_sequence`` wants.
    """
    if len(batch) == 0:
        raise ValueError("collate_pairs: empty batch")
    sources = [list(source) for source, _ in batch]
    targets = [list(target) for _, target in batch]
    return {
        "source": _pad(sources, pad_id),
        "source_lengths": torch.tensor([len(s) for s in sources], dtype=torch.long),
        "target_in": _pad([[bos_id, *t] for t in targets], pad_id),
        "target_out": _pad([[*t, eos_id] for t in targets], pad_id),
        "target_lengths": torch.tensor([len(t) + 1 for t in targets], dtype=torch.long),
    }


@dataclass(frozen=True)
class TranslationData:
    """A task ready for training: tokenisers and vocabularies (from ``train`` only) and three datasets.

    ``source_tokenizer`` / ``target_tokenizer`` default to the tokeniser of ``level`` (char, word).
    """

    source_vocab: Vocabulary
    target_vocab: Vocabulary
    train: PairDataset
    valid: PairDataset
    test: PairDataset
    level: Level
    source_tokenizer: Tokenizer = None
    target_tokenizer: Tokenizer = None

    def __post_init__(self) -> None:
        for side in ("source_tokenizer", "target_tokenizer"):
            if getattr(self, side) is None:
                object.__setattr__(self, side, make_tokenizer(self.level))

    def encode_source(self, text: str) -> list[int]:
        """Source ids exactly as the datasets hold them (tokens + ``<eos>``)."""
        return encode_source(text, self.source_vocab, self.source_tokenizer)

    def encode_target(self, text: str) -> list[int]:
        """Bare target ids, as the datasets hold them (no ``<bos>`` / ``<eos>``)."""
        return encode_target(text, self.target_vocab, self.target_tokenizer)

    def decode_target(self, ids) -> str:
        """Text of target ids, cut at the first ``<eos>`` (model output → string)."""
        return decode_target(ids, self.target_vocab, self.target_tokenizer)

    def source_tokens(self, text: str) -> list[str]:
        """The source tokens the model reads (the labels of an alignment's columns)."""
        return self.source_tokenizer.tokenize(text)


def encode_source(text: str, vocab: Vocabulary, level: Level | Tokenizer) -> list[int]:
    """Source text → ids: tokens then ``<eos>``. Use this for any input given to a trained model."""
    return vocab.encode(tokenize(text, level), add_bos=False, add_eos=True)


def encode_target(text: str, vocab: Vocabulary, level: Level | Tokenizer) -> list[int]:
    """Target text → bare ids (no ``<bos>`` / ``<eos>``; :func:`collate_pairs` adds them)."""
    return vocab.encode(tokenize(text, level), add_bos=False, add_eos=False)


def decode_target(ids, vocab: Vocabulary, level: Level | Tokenizer) -> str:
    """Target ids → text, cut at the first ``<eos>``, ``<pad>`` / ``<bos>`` dropped."""
    return detokenize(vocab.decode(ids, strip_special=True), level)


def make_pair_dataset(
    pairs: Sequence[tuple[str, str]],
    source_vocab: Vocabulary,
    target_vocab: Vocabulary,
    level: Level | Tokenizer,
    target_level: Level | Tokenizer | None = None,
) -> PairDataset:
    """Encode text pairs with the given vocabularies (unknown tokens become ``<unk>``)."""
    pairs = [(str(s), str(t)) for s, t in pairs]
    target_level = level if target_level is None else target_level
    return PairDataset(
        source_ids=[encode_source(s, source_vocab, level) for s, _ in pairs],
        target_ids=[encode_target(t, target_vocab, target_level) for _, t in pairs],
        pairs=pairs,
    )


def make_tokenizers(
    train_pairs: Sequence[tuple[str, str]],
    level: Level,
    *,
    lowercase: bool = False,
    vocab_size: int = 8000,
    subword: str = "unigram",
) -> tuple[Tokenizer, Tokenizer]:
    """The source and target tokenisers of ``level``; subwords are learned from ``train_pairs`` only."""
    _check_level(level)
    if level != "subword":
        return make_tokenizer(level, lowercase=lowercase), make_tokenizer(level, lowercase=lowercase)
    sources, targets = [s for s, _ in train_pairs], [t for _, t in train_pairs]
    return (
        SubwordTokenizer.train(sources, vocab_size, lowercase=lowercase, model=subword),
        SubwordTokenizer.train(targets, vocab_size, lowercase=lowercase, model=subword),
    )


def make_translation_data(
    train_pairs: Sequence[tuple[str, str]],
    valid_pairs: Sequence[tuple[str, str]],
    test_pairs: Sequence[tuple[str, str]],
    level: Level,
    min_count: int = 1,
    *,
    lowercase: bool = False,
    vocab_size: int = 8000,
    max_vocab: int | None = None,
    subword: str = "unigram",
    tokenizers: tuple[Tokenizer, Tokenizer] | None = None,
) -> TranslationData:
    """Tokenisers and source / target vocabularies from ``train_pairs`` only, then all three splits encoded.

    Args:
        level: ``"char"``, ``"word"`` or ``"subword"`` (``vocab_size`` pieces per side, learned).
        min_count / max_vocab: keep tokens seen at least ``min_count`` times, at most ``max_vocab``
            of them (the most frequent; specials not counted).
        lowercase: lowercase before tokenising (word and subword levels).
        subword: the subword model, ``"unigram"`` or ``"bpe"``.
        tokenizers: ``(source, target)`` tokenisers to use instead of building them (a saved run's).
    """
    _check_level(level)
    if len(train_pairs) == 0:
        raise ValueError("make_translation_data: no training pairs")
    options = {"lowercase": lowercase, "vocab_size": vocab_size, "subword": subword}
    source, target = tokenizers or make_tokenizers(train_pairs, level, **options)
    source_vocab = Vocabulary.build(
        (source.tokenize(s) for s, _ in train_pairs), min_count=min_count, max_size=max_vocab
    )
    target_vocab = Vocabulary.build(
        (target.tokenize(t) for _, t in train_pairs), min_count=min_count, max_size=max_vocab
    )
    return TranslationData(
        source_vocab=source_vocab,
        target_vocab=target_vocab,
        train=make_pair_dataset(train_pairs, source_vocab, target_vocab, source, target),
        valid=make_pair_dataset(valid_pairs, source_vocab, target_vocab, source, target),
        test=make_pair_dataset(test_pairs, source_vocab, target_vocab, source, target),
        level=level,
        source_tokenizer=source,
        target_tokenizer=target,
    )
