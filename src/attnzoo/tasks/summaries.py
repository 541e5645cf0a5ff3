"""Summarization data: (article, summary) pairs, one shared vocabulary, extended-vocabulary ids.

A summarizer that copies (See et al. 2017, §2.2) reads and writes words outside its fixed
vocabulary. Each example therefore carries, beside the ordinary ids (an out-of-vocabulary word is
``<unk>``), *extended* ids: the ``k``-th distinct out-of-vocabulary word of the article gets id
``V + k`` (``V`` the vocabulary size), its own per-example slot of the output distribution; a
summary word outside the vocabulary that the article contains gets that same id, and one the
article lacks stays ``<unk>`` (See et al.'s ``article2ids`` / ``abstract2ids``).

Real pairs come from a two-column TSV file (``article<TAB>summary``, the errors of
:mod:`attnzoo.tasks.corpus`) or a JSONL file (one ``{"article": ..., "summary": ...}`` object per
line; errors ``<file>:<line>: ...``). Their gold copy positions are derived: the first article
position of each summary word, ``-1`` when the article lacks it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from attnzoo.tasks.corpus import read_whole_tsv, split_pairs, text_lines
from attnzoo.tasks.news import NewsExample
from attnzoo.tasks.tokenizers import WordTokenizer
from attnzoo.tasks.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID, Vocabulary


def read_summary_pairs(path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """``(article, summary)`` text pairs of a ``.jsonl`` file, or of a TSV file (any other name)."""
    path = Path(path)
    if path.suffix.lower() != ".jsonl":
        return read_whole_tsv(path)
    pairs = []
    for number, line in text_lines(path):  # the corpus loader's file and UTF-8 errors, byte-order mark
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{number}: not a JSON object ({error.msg})") from None
        if not isinstance(record, dict) or not all(isinstance(record.get(key), str) for key in ("article", "summary")):
            raise ValueError(f'{path}:{number}: expected {{"article": "...", "summary": "..."}} with two strings')
        article, summary = record["article"].strip(), record["summary"].strip()
        if not article or not summary:
            raise ValueError(f"{path}:{number}: empty {'article' if not article else 'summary'}")
        pairs.append((article, summary))
    if not pairs:
        raise ValueError(f"{path}: no (article, summary) pairs")
    return pairs


def example_from_text(
    article: str, summary: str, tokenizer: WordTokenizer, max_article_len: int, max_summary_len: int
) -> NewsExample:
    """A real pair as a :class:`NewsExample`: tokenised, cut to the lengths, derived copy positions.

    ``entities``: the summary's tokens that contain a letter or digit and are not plain lower-case
    words (names, numbers), in order: what the OOV copy rate counts when they are out of vocabulary.
    """
    article_tokens = tuple(tokenizer.tokenize(article)[:max_article_len])
    summary_tokens = tuple(tokenizer.tokenize(summary)[:max_summary_len])
    first = {}
    for position, token in enumerate(article_tokens):
        first.setdefault(token, position)
    positions = tuple(first.get(token, -1) for token in summary_tokens)
    entities = tuple(dict.fromkeys(t for t in summary_tokens if any(c.isalnum() for c in t) and not t.islower()))
    return NewsExample(article_tokens, summary_tokens, positions, entities)


def real_splits(
    path: str, fractions: tuple[float, float, float], split_seed: int, max_article_len: int, max_summary_len: int
) -> tuple[list[NewsExample], list[NewsExample], list[NewsExample]]:
    """Train / valid / test examples of a TSV or JSONL file, cut by ``fractions`` with ``split_seed``."""
    tokenizer = WordTokenizer()
    pairs = read_summary_pairs(path)
    train, valid, test = split_pairs(pairs, fractions[1], fractions[2], split_seed)
    return tuple(
        [example_from_text(a, s, tokenizer, max_article_len, max_summary_len) for a, s in split]
        for split in (train, valid, test)
    )


@dataclass(frozen=True)
class Encoded:
    """One example's ids. source: article ids + ``<eos>`` (OOV: ``<unk>``); source_extended: the same
    with the article's OOV words as ``V + k``; target: summary ids (OOV: ``<unk>``); target_extended:
    summary ids with the article's OOV words as ``V + k``; oovs: the article's OOV words, in order."""

    source: list[int]
    source_extended: list[int]
    target: list[int]
    target_extended: list[int]
    oovs: list[str]


def encode_example(article: Sequence[str], summary: Sequence[str], vocab: Vocabulary) -> Encoded:
    """Ordinary and extended ids of one tokenised pair (See et al.'s ``article2ids`` / ``abstract2ids``)."""
    oovs: list[str] = []
    source, source_extended = [], []
    for token in article:
        index = vocab.token_to_id(token)
        if index == UNK_ID and token != "<unk>":
            if token not in oovs:
                oovs.append(token)
            source_extended.append(len(vocab) + oovs.index(token))
        else:
            source_extended.append(index)
        source.append(index)
    target = [vocab.token_to_id(token) for token in summary]
    target_extended = [
        len(vocab) + oovs.index(token) if index == UNK_ID and token in oovs else index
        for token, index in zip(summary, target, strict=True)
    ]
    return Encoded(source + [EOS_ID], source_extended + [EOS_ID], target, target_extended, oovs)


def decode_extended(ids: Sequence[int], vocab: Vocabulary, oovs: Sequence[str]) -> list[str]:
    """Tokens of extended ids, cut at the first ``<eos>`` (``V + k`` is the ``k``-th article OOV)."""
    tokens = []
    for index in (int(i) for i in ids):
        if index == EOS_ID:
            break
        if index in (PAD_ID, BOS_ID):
            continue
        tokens.append(vocab.id_to_token(index) if index < len(vocab) else oovs[index - len(vocab)])
    return tokens


class SummaryDataset(Dataset):
    """Examples and their encodings under one vocabulary: item ``i`` is ``encoded[i]``."""

    def __init__(self, examples: Sequence[NewsExample], vocab: Vocabulary) -> None:
        self.examples = list(examples)
        self.encoded = [encode_example(example.article, example.summary, vocab) for example in self.examples]

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> Encoded:
        return self.encoded[index]


def pad_rows(rows: Sequence[Sequence[int]]) -> torch.Tensor:
    """``(B, longest)`` long tensor of ``rows``, padded with ``<pad>``."""
    out = torch.full((len(rows), max(len(row) for row in rows)), PAD_ID, dtype=torch.long)
    for index, row in enumerate(rows):
        out[index, : len(row)] = torch.tensor(row, dtype=torch.long)
    return out


def collate_summaries(items: Sequence[Encoded]) -> dict[str, torch.Tensor]:
    """A batch: ``source``, ``source_extended`` ``(B, S)``, ``source_lengths`` ``(B,)``, ``target_in``
    ``(B, T)`` (``<bos>`` + summary, OOV ``<unk>``: what the decoder reads), ``target_out`` and
    ``target_out_extended`` ``(B, T)`` (summary + ``<eos>``, ordinary or extended ids)."""
    if not items:
        raise ValueError("collate_summaries: empty batch")
    return {
        "source": pad_rows([item.source for item in items]),
        "source_extended": pad_rows([item.source_extended for item in items]),
        "source_lengths": torch.tensor([len(item.source) for item in items], dtype=torch.long),
        "target_in": pad_rows([[BOS_ID, *item.target] for item in items]),
        "target_out": pad_rows([[*item.target, EOS_ID] for item in items]),
        "target_out_extended": pad_rows([[*item.target_extended, EOS_ID] for item in items]),
    }


@dataclass(frozen=True)
class SummaryData:
    """A summarization task: the shared vocabulary (from the training split) and three datasets."""

    vocab: Vocabulary
    train: SummaryDataset
    valid: SummaryDataset
    test: SummaryDataset


def make_summary_data(
    train: Sequence[NewsExample],
    valid: Sequence[NewsExample],
    test: Sequence[NewsExample],
    min_count: int = 1,
    max_vocab: int | None = None,
    vocab: Vocabulary | None = None,
) -> SummaryData:
    """Build the shared vocabulary from the training articles and summaries (unless ``vocab`` is given)."""
    if vocab is None:
        vocab = Vocabulary.build([(*e.article, *e.summary) for e in train], min_count=min_count, max_size=max_vocab)
    return SummaryData(vocab, *(SummaryDataset(split, vocab) for split in (train, valid, test)))
