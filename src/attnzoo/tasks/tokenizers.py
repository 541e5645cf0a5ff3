"""Tokenisers of the text tasks: characters, words, and subwords learned from the training split.

Every tokeniser turns text into a list of string tokens and back, and saves itself as a JSON
dict (kept in the run directory, so a run translates and scores without the original data):

- ``char``: every character is a token, spaces included; lossless.
- ``word``: Unicode-aware words and punctuation marks (``"Hello, world!"`` → ``Hello , world !``),
  optionally lowercased; :meth:`WordTokenizer.detokenize` puts the spaces back the way
  written text has them (no space before ``. , ! ? ; : )`` and after ``( ¿ ¡``).
- ``subword``: a unigram language model (Kudo 2018) or BPE (Sennrich et al. 2016) vocabulary
  trained on the training split with Hugging Face ``tokenizers``: NFKC normalisation, optional
  lowercasing, the SentencePiece word-boundary marker ``▁``, so decoding restores the spaces.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

LEVELS = ("char", "word", "subword")
SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]  # attnzoo.tasks.vocab's special tokens, in id order
WORDS = re.compile(r"\w+(?:['’-]\w+)*|[^\w\s]", re.UNICODE)  # words (with inner ' ’ -), or one mark
NO_SPACE_BEFORE = re.compile(r" ([.,!?;:%)\]}»”…])")
NO_SPACE_AFTER = re.compile(r"([(\[{«“¿¡]) ")


class CharTokenizer:
    """Every character is a token (spaces included)."""

    kind = "char"

    def tokenize(self, text: str) -> list[str]:
        return list(text)

    def detokenize(self, tokens: Sequence[str]) -> str:
        return "".join(tokens)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind}


class WordTokenizer:
    """Words and punctuation marks (Unicode ``\\w``), optionally lowercased."""

    kind = "word"

    def __init__(self, lowercase: bool = False) -> None:
        self.lowercase = lowercase

    def tokenize(self, text: str) -> list[str]:
        return WORDS.findall(text.lower() if self.lowercase else text)

    def detokenize(self, tokens: Sequence[str]) -> str:
        text = " ".join(tokens)
        return NO_SPACE_AFTER.sub(r"\1", NO_SPACE_BEFORE.sub(r"\1", text))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "lowercase": self.lowercase}


class SubwordTokenizer:
    """A trained Hugging Face ``tokenizers`` model (unigram or BPE) over SentencePiece-style pieces."""

    kind = "subword"

    def __init__(self, serialized: str) -> None:
        from tokenizers import Tokenizer

        self.serialized = serialized
        self.tokenizer = Tokenizer.from_str(serialized)

    @classmethod
    def train(
        cls, texts: Iterable[str], vocab_size: int, *, lowercase: bool = False, model: str = "unigram"
    ) -> SubwordTokenizer:
        """Learn a vocabulary of at most ``vocab_size`` pieces (specials included) from ``texts``."""
        from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

        if model not in ("unigram", "bpe"):
            raise ValueError(f"subword model: expected unigram or bpe, got {model!r}")
        if model == "unigram":
            tokenizer = Tokenizer(models.Unigram())
            trainer = trainers.UnigramTrainer(
                vocab_size=vocab_size, special_tokens=SPECIALS, unk_token="<unk>", show_progress=False
            )
        else:
            tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
            trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, show_progress=False)
        steps = [normalizers.NFKC(), *([normalizers.Lowercase()] if lowercase else [])]
        tokenizer.normalizer = normalizers.Sequence(steps)
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
        tokenizer.decoder = decoders.Metaspace()
        tokenizer.train_from_iterator(list(texts), trainer)
        return cls(tokenizer.to_str())

    def tokenize(self, text: str) -> list[str]:
        return self.tokenizer.encode(text, add_special_tokens=False).tokens

    def detokenize(self, tokens: Sequence[str]) -> str:
        return self.tokenizer.decoder.decode(list(tokens)).strip()

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "tokenizer": json.loads(self.serialized)}


def make_tokenizer(level: str, *, lowercase: bool = False) -> CharTokenizer | WordTokenizer:
    """The tokeniser of ``level`` ``"char"`` or ``"word"`` (subwords are trained: :meth:`SubwordTokenizer.train`)."""
    if level == "char":
        return CharTokenizer()
    if level == "word":
        return WordTokenizer(lowercase)
    raise ValueError(f"level: expected char or word here (subwords are trained on data), got {level!r}")


def tokenizer_from_dict(document: dict[str, Any]) -> CharTokenizer | WordTokenizer | SubwordTokenizer:
    """The tokeniser a :meth:`to_dict` document describes."""
    kind = document.get("kind")
    if kind == "subword":
        return SubwordTokenizer(json.dumps(document["tokenizer"]))
    if kind in ("char", "word"):
        return make_tokenizer(kind, lowercase=document.get("lowercase", False))
    raise ValueError(f"tokenizer: expected kind char, word or subword, got {kind!r}")
