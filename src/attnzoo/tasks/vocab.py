"""A token vocabulary with the four special tokens every sequence task uses.

Ids 0..3 are always ``<pad>``, ``<bos>``, ``<eos>``, ``<unk>``; the other tokens follow in the
order :meth:`Vocabulary.build` gives them (most frequent first, ties broken by the token's text),
so the same data always gives the same ids. A vocabulary is saved as a small UTF-8 JSON file.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

PAD = "<pad>"
BOS = "<bos>"
EOS = "<eos>"
UNK = "<unk>"
SPECIALS: tuple[str, ...] = (PAD, BOS, EOS, UNK)
PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3

_FORMAT = "attnzoo.vocabulary"
_VERSION = 1


class Vocabulary:
    """Maps tokens to ids and back; ``<pad>`` = 0, ``<bos>`` = 1, ``<eos>`` = 2, ``<unk>`` = 3.

    Build one with :meth:`build` from tokenised sequences, or pass the ordinary (non-special)
    tokens in id order: ``Vocabulary(["a", "b"])`` gives ``a`` id 4 and ``b`` id 5.
    """

    pad_id = PAD_ID
    bos_id = BOS_ID
    eos_id = EOS_ID
    unk_id = UNK_ID

    def __init__(self, tokens: Iterable[str] = ()) -> None:
        self._tokens: list[str] = list(SPECIALS)
        self._index: dict[str, int] = {token: i for i, token in enumerate(SPECIALS)}
        for token in tokens:
            if not isinstance(token, str):
                raise TypeError(f"vocabulary tokens must be str, got {type(token).__name__}: {token!r}")
            if token in self._index:
                raise ValueError(f"vocabulary token {token!r} appears twice (or is a special token)")
            self._index[token] = len(self._tokens)
            self._tokens.append(token)

    @classmethod
    def build(cls, sequences: Iterable[Sequence[str]], min_count: int = 1, max_size: int | None = None) -> Vocabulary:
        """Vocabulary of the tokens occurring at least ``min_count`` times in ``sequences``.

        Tokens are ordered by decreasing count, then by their text; ``max_size`` keeps the most
        frequent ones (specials not counted); the special tokens' strings, if present in the data,
        are not added again (they keep ids 0..3).
        """
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        if max_size is not None and max_size < 1:
            raise ValueError(f"max_size must be >= 1 or None, got {max_size}")
        counts: Counter[str] = Counter()
        for sequence in sequences:
            if isinstance(sequence, str):
                raise TypeError("Vocabulary.build expects tokenised sequences (lists of str), got a str")
            counts.update(sequence)
        kept = [token for token, count in counts.items() if count >= min_count and token not in SPECIALS]
        kept.sort(key=lambda token: (-counts[token], token))
        return cls(kept[:max_size])

    # -- size and lookup -------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._index

    def __iter__(self):
        return iter(self._tokens)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self._tokens == other._tokens

    def __hash__(self) -> int:
        return hash(tuple(self._tokens))

    def __repr__(self) -> str:
        preview = ", ".join(repr(t) for t in self._tokens[len(SPECIALS) : len(SPECIALS) + 8])
        more = ", ..." if len(self) > len(SPECIALS) + 8 else ""
        return f"Vocabulary({len(self)} tokens: {preview}{more})"

    @property
    def tokens(self) -> list[str]:
        """All tokens in id order, the four special tokens first (a copy)."""
        return list(self._tokens)

    def token_to_id(self, token: str) -> int:
        """Id of ``token``; ``unk_id`` for a token not in the vocabulary."""
        return self._index.get(token, UNK_ID)

    def id_to_token(self, index: int) -> str:
        """Token with id ``index``; ``ValueError`` for an id outside ``0 .. len - 1``."""
        index = int(index)
        if not 0 <= index < len(self._tokens):
            raise ValueError(f"token id {index} is outside this vocabulary of {len(self._tokens)} tokens")
        return self._tokens[index]

    # -- sequences -------------------------------------------------------------------------

    def encode(self, tokens: Sequence[str], add_bos: bool = False, add_eos: bool = True) -> list[int]:
        """Ids of ``tokens`` (unknown tokens → ``unk_id``), optionally framed by BOS / EOS."""
        if isinstance(tokens, str):
            raise TypeError("Vocabulary.encode expects a list of tokens, got a str; tokenize it first")
        ids = [self._index.get(token, UNK_ID) for token in tokens]
        if add_bos:
            ids.insert(0, BOS_ID)
        if add_eos:
            ids.append(EOS_ID)
        return ids

    def decode(self, ids: Iterable[int] | Any, strip_special: bool = True) -> list[str]:
        """Tokens of ``ids`` (a list of ints or a 1-d tensor / array).

        With ``strip_special`` the sequence is cut at its first ``<eos>`` and ``<pad>`` / ``<bos>``
        are dropped, which turns a padded model output into its tokens; ``<unk>`` is kept (it
        stands for a real token). Without it every id is turned into its token as is.
        """
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        out: list[str] = []
        for index in ids:
            index = int(index)
            if strip_special:
                if index == EOS_ID:
                    break
                if index in (PAD_ID, BOS_ID):
                    continue
            out.append(self.id_to_token(index))
        return out

    # -- files -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {"format": _FORMAT, "version": _VERSION, "tokens": list(self._tokens)}

    @classmethod
    def from_dict(cls, data: Any, source: str = "vocabulary") -> Vocabulary:
        if not isinstance(data, dict) or data.get("format") != _FORMAT or not isinstance(data.get("tokens"), list):
            raise ValueError(f"{source}: not an attnzoo vocabulary (expected a JSON object with format {_FORMAT!r})")
        if data.get("version") != _VERSION:
            raise ValueError(f"{source}: unsupported vocabulary version {data.get('version')!r}")
        tokens = data["tokens"]
        if tuple(tokens[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"{source}: the first tokens must be {list(SPECIALS)}, got {tokens[: len(SPECIALS)]}")
        try:
            return cls(tokens[len(SPECIALS) :])
        except (TypeError, ValueError) as error:
            raise ValueError(f"{source}: {error}") from None

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the vocabulary to ``path`` as UTF-8 JSON (non-ASCII tokens written as is)."""
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=0) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Vocabulary:
        """Read a vocabulary written by :meth:`save`; a clear ``ValueError`` for anything else."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: no such vocabulary file") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: not a vocabulary JSON file ({error})") from None
        return cls.from_dict(data, source=str(path))
