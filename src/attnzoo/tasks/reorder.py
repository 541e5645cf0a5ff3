"""The reordering task: English-like SVO sentences → a verb-final (SOV) language with nouns before adjectives.

A sentence is one to several clauses joined by ``and`` / ``but``; a clause is a subject noun
phrase, a verb and, for transitive verbs, an object noun phrase; a noun phrase is a determiner,
zero to two adjectives and a noun. The target language puts the verb after its object (SOV) and
the adjectives after their noun; every word is translated by :data:`REORDER_LEXICON` (one target
word per source word, written in capitals so a heat map is easy to read)::

    the big dog sees a small cat        → THE DOG BIG A CAT SMALL SEES
    a cat sleeps and the dog chases ... → A CAT SLEEPS AND THE DOG ... CHASES

Every target word translates exactly one source word, so the generator records the **gold
alignment**: ``alignment[t]`` is the source position of target word ``t``. Reordering is local to
a clause, but a long sentence needs the verb of the right clause, possibly 8 words back, while
the model writes the object: the setting of ConvS2S's Table 4 question (does attention in every
decoder layer help on long sentences?).

Splits: the seed and the split name seed the generator, valid and test never repeat a training
sentence, and the same arguments give the same examples.
"""

from __future__ import annotations

import random
from collections.abc import Collection
from typing import NamedTuple

from attnzoo.tasks.text import TranslationData, make_translation_data

DETERMINERS: tuple[str, ...] = ("the", "a", "every", "some")
ADJECTIVES: tuple[str, ...] = (
    "big", "small", "red", "old", "young", "happy", "sad", "green", "quiet", "loud", "tall", "brave",
)  # fmt: skip
NOUNS: tuple[str, ...] = (
    "dog", "cat", "bird", "horse", "child", "farmer", "teacher", "king", "fox", "mouse",
    "baker", "sailor", "doctor", "wolf", "goat", "queen",
)  # fmt: skip
TRANSITIVE_VERBS: tuple[str, ...] = (
    "sees", "chases", "likes", "follows", "helps", "finds", "feeds", "calls", "watches", "meets",
)  # fmt: skip
INTRANSITIVE_VERBS: tuple[str, ...] = ("sleeps", "runs", "sings", "waits", "laughs", "falls")
CONJUNCTIONS: tuple[str, ...] = ("and", "but")
SOURCE_WORDS: tuple[str, ...] = (
    *DETERMINERS, *ADJECTIVES, *NOUNS, *TRANSITIVE_VERBS, *INTRANSITIVE_VERBS, *CONJUNCTIONS,
)  # fmt: skip
REORDER_LEXICON: dict[str, str] = {word: word.upper() for word in SOURCE_WORDS}
MIN_LEN = 3  # the shortest sentence: "the dog sleeps"


class ReorderExample(NamedTuple):
    """One pair: ``source`` and ``target`` text, and ``alignment[t]`` = the source position of target word ``t``."""

    source: str
    target: str
    alignment: tuple[int, ...]


def noun_phrase(rng: random.Random) -> list[str]:
    """Determiner, zero to two different adjectives, noun (source order)."""
    adjectives = rng.sample(ADJECTIVES, rng.randint(0, 2))
    return [rng.choice(DETERMINERS), *adjectives, rng.choice(NOUNS)]


def clause(rng: random.Random) -> tuple[list[str], list[int]]:
    """A random clause in source order and the source offsets (within it) of its words in target order.

    Target order: subject ``det noun adj*``, then object ``det noun adj*``, then the verb.
    """
    subject = noun_phrase(rng)
    transitive = rng.random() < 0.75
    verb = rng.choice(TRANSITIVE_VERBS if transitive else INTRANSITIVE_VERBS)
    obj = noun_phrase(rng) if transitive else []
    words = [*subject, verb, *obj]

    def phrase_order(start: int, phrase: list[str]) -> list[int]:
        """``det noun adj*``: the determiner, the noun (last), then the adjectives in their order."""
        return [start, start + len(phrase) - 1, *range(start + 1, start + len(phrase) - 1)]

    order = [*phrase_order(0, subject), *(phrase_order(len(subject) + 1, obj) if obj else []), len(subject)]
    return words, order


def reorder_example(rng: random.Random, length: int) -> ReorderExample:
    """A sentence of clauses added until it has at least ``length`` words, with its target and alignment."""
    source: list[str] = []
    alignment: list[int] = []
    while len(source) < length:
        if source:
            alignment.append(len(source))
            source.append(rng.choice(CONJUNCTIONS))
        words, order = clause(rng)
        alignment.extend(len(source) + offset for offset in order)
        source.extend(words)
    target = " ".join(REORDER_LEXICON[source[position]] for position in alignment)
    return ReorderExample(" ".join(source), target, tuple(alignment))


def generate_reorder(
    size: int, max_len: int = 40, seed: int = 0, split: str = "train", exclude: Collection[str] = ()
) -> list[ReorderExample]:
    """``size`` distinct examples of at most ``max_len`` source words (at least :data:`MIN_LEN`).

    A length is drawn uniformly from ``MIN_LEN .. max_len`` and clauses are added until the sentence
    reaches it (a sentence that overshoots ``max_len`` is redrawn), so lengths are spread over the
    whole range. Sources in ``exclude`` and repeats are redrawn. Same arguments, same examples.
    """
    if max_len < MIN_LEN:
        raise ValueError(f"max_len: expected at least {MIN_LEN} words, got {max_len}")
    if size < 0:
        raise ValueError(f"size: expected >= 0, got {size}")
    rng = random.Random(f"attnzoo.reorder:{seed}:{split}:{max_len}")
    seen, examples = set(exclude), []
    attempts = 0
    while len(examples) < size:
        attempts += 1
        if attempts > 100 * size + 1000:
            raise ValueError(f"cannot draw {size} distinct sentences of at most {max_len} words")
        example = reorder_example(rng, rng.randint(MIN_LEN, max_len))
        if len(example.alignment) > max_len or example.source in seen:
            continue
        seen.add(example.source)
        examples.append(example)
    return examples


def reorder_splits(
    train_size: int = 20_000,
    valid_size: int = 1_000,
    test_size: int = 2_000,
    train_max_len: int = 40,
    test_max_len: int = 40,
    seed: int = 0,
) -> dict[str, list[ReorderExample]]:
    """The examples of each split (with their gold alignments); valid and test repeat no training source."""
    train = generate_reorder(train_size, train_max_len, seed, "train")
    sources = {example.source for example in train}
    return {
        "train": train,
        "valid": generate_reorder(valid_size, train_max_len, seed, "valid", exclude=sources),
        "test": generate_reorder(test_size, test_max_len, seed, "test", exclude=sources),
    }


def reorder_data(
    train_size: int = 20_000,
    valid_size: int = 1_000,
    test_size: int = 2_000,
    train_max_len: int = 40,
    test_max_len: int = 40,
    seed: int = 0,
) -> TranslationData:
    """The reordering task at word level (vocabularies from the training pairs) for the translation recipe."""
    splits = reorder_splits(train_size, valid_size, test_size, train_max_len, test_max_len, seed)
    pairs = [[(example.source, example.target) for example in splits[name]] for name in ("train", "valid", "test")]
    return make_translation_data(*pairs, level="word")
