"""Generated reviews whose rating is set by a few evidence sentences, with the evidence recorded.

A review is 8-30 sentences (``min_sentences``..``max_sentences``) of filler ("we came here on a
monday .") around 1-3 evidence sentences about an aspect ("the service was not rude ."). Some
filler is hearsay about another place ("my friend said the soup at home was very good ."): the
same polarity words, in a context where they do not count.
Every evidence sentence of a review has the same score in -2..2 and the rating (the class, 0..4)
is ``score + 2``. The score of an evidence sentence depends on the context of its polarity word:

    good / bad              +1 / -1          the polarity word alone
    very good / very bad    +2 / -2          an intensifier doubles it
    not good / not bad      -1 / +1          a negation flips it
    good for nothing        -2               an idiom turns a positive word strongly negative
    good but bland          0                a mixed verdict: a positive and a negative word

The generator records, for every review, which sentences are evidence and, in them, which words
are the polarity words (``polarity``: one, or two in a mixed verdict) and which words make their
meaning (``cues``: the polarity words, the intensifier, ``not``, ``for nothing``, ``but``), so a
model's attention can be checked against them. The vocabulary is fixed by the templates
(:data:`WORDS`), not by the data.

Shape legend: ``N`` reviews, ``S`` sentences (the longest review), ``W`` words per sentence (the
longest sentence), ``L`` words of a flattened review.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

import torch
from torch import Tensor

from attnzoo.tasks.vocab import PAD_ID, Vocabulary

ASPECTS = ("food", "service", "staff", "room", "view", "price", "music", "menu", "coffee", "bed")
POSITIVE = ("good", "great", "nice", "tasty", "friendly", "lovely")
NEGATIVE = ("bad", "awful", "poor", "bland", "rude", "dirty")
INTENSIFIERS = ("very", "really", "truly")
OPENINGS = ("the {aspect} was", "i found the {aspect}", "honestly the {aspect} is", "overall the {aspect} seemed")
FILLER = (  # sentences with no opinion; {aspect} words appear here too, so an aspect is no clue
    "we came here on a {day}",
    "my {person} ordered the {dish}",
    "we sat near the {place}",
    "the {aspect} is next to the {place}",
    "it was our {count} visit",
    "they open at {time} on {day}",
    "my {person} asked about the {aspect}",
    "we paid by card",
    "the {place} was on the left",
    "we read about the {aspect} on the {medium}",
)
FILL = {
    "aspect": ASPECTS,
    "day": ("monday", "tuesday", "friday", "sunday"),
    "person": ("friend", "sister", "brother", "partner", "colleague"),
    "dish": ("soup", "salad", "fish", "steak", "cake"),
    "place": ("window", "door", "bar", "kitchen", "garden"),
    "count": ("first", "second", "third"),
    "time": ("nine", "ten", "noon"),
    "medium": ("website", "radio", "menu"),
}
HEARSAY = "my {person} said the {dish} at home was"  # + an opinion that is not about this place: no evidence
HEARSAY_RATE = 0.15  # the share of filler sentences that are hearsay
NEGATION, IDIOM, CONTRAST = "not", ("for", "nothing"), "but"
CLASSES = 5  # ratings 0..4 = evidence score + 2


def _words() -> list[str]:
    words = {word for values in FILL.values() for word in values}
    words |= {*POSITIVE, *NEGATIVE, *INTENSIFIERS, NEGATION, *IDIOM, CONTRAST, "."}
    for template in (*OPENINGS, *FILLER, HEARSAY):
        words |= {word for word in template.split() if not word.startswith("{")}
    return sorted(words)


WORDS = tuple(_words())  # every word a review can hold (the vocabulary, after the 4 special tokens)


def evidence_phrase(score: int, rng: random.Random) -> tuple[list[str], list[int], list[int]]:
    """Words saying ``score`` (-2..2) about an aspect: ``(words, polarity word indices, cue indices)``."""
    forms = {2: ["very"], 1: ["", "not"], 0: ["but"], -1: ["", "not"], -2: ["very", "nothing"]}[score]
    modifier = rng.choice(forms)
    if modifier == "but":  # a mixed verdict, in either order
        first, second = rng.sample([rng.choice(POSITIVE), rng.choice(NEGATIVE)], 2)
        return [first, CONTRAST, second], [0, 2], [0, 1, 2]
    positive = (score > 0) != (modifier in ("not", "nothing"))  # a negation or the idiom turns the word over
    word = rng.choice(POSITIVE if positive else NEGATIVE)
    if modifier == "very":
        return [rng.choice(INTENSIFIERS), word], [1], [0, 1]
    if modifier == "not":
        return [NEGATION, word], [1], [0, 1]
    if modifier == "nothing":
        return [word, *IDIOM], [0], [0, 1, 2]
    return [word], [0], [0]


def evidence_sentence(score: int, rng: random.Random) -> tuple[list[str], list[int], list[int]]:
    """A sentence of score ``score``: ``(words, indices of the polarity words, indices of their cues)``."""
    opening = rng.choice(OPENINGS).format(aspect=rng.choice(ASPECTS)).split()
    phrase, polarity, cues = evidence_phrase(score, rng)
    start = len(opening)
    return [*opening, *phrase, "."], [start + index for index in polarity], [start + cue for cue in cues]


def filler_sentence(rng: random.Random) -> list[str]:
    """A sentence with no opinion about the place: plain filler, or (:data:`HEARSAY_RATE`) hearsay
    about another place, whose polarity words ("my friend said the soup at home was not good") do
    not count."""
    fill = {key: rng.choice(values) for key, values in FILL.items()}
    if rng.random() < HEARSAY_RATE:
        return [*HEARSAY.format(**fill).split(), *evidence_phrase(rng.randint(-2, 2), rng)[0], "."]
    return rng.choice(FILLER).format(**fill).split() + ["."]


@dataclass(frozen=True)
class Review:
    """One generated review: its sentences (lists of words), rating, and gold evidence."""

    sentences: list[list[str]]
    rating: int  # 0..4
    evidence: list[int]  # indices of the evidence sentences
    polarity: dict[int, list[int]]  # evidence sentence -> indices of its polarity words
    cues: dict[int, list[int]]  # evidence sentence -> indices of the polarity word and its modifiers


def generate_review(rng: random.Random, min_sentences: int, max_sentences: int, max_evidence: int = 3) -> Review:
    """One review of ``min_sentences``..``max_sentences`` sentences, 1..``max_evidence`` of them evidence."""
    count = rng.randint(min_sentences, max_sentences)
    rating = rng.randrange(CLASSES)
    evidence = sorted(rng.sample(range(count), rng.randint(1, min(max_evidence, count))))
    sentences, polarity, cues = [], {}, {}
    for index in range(count):
        if index in evidence:
            words, polarity[index], cues[index] = evidence_sentence(rating - 2, rng)
        else:
            words = filler_sentence(rng)
        sentences.append(words)
    return Review(sentences, rating, evidence, polarity, cues)


@dataclass(frozen=True)
class ReviewData:
    """Reviews as tensors. ``words`` ``(N, S, W)`` ids (0 = padding); ``labels`` ``(N,)`` ratings;
    ``evidence`` ``(N, S)`` bool; ``polarity`` and ``cues`` ``(N, S, W)`` bool (in evidence sentences only)."""

    words: Tensor
    labels: Tensor
    evidence: Tensor
    polarity: Tensor
    cues: Tensor

    def __len__(self) -> int:
        return self.labels.numel()


def review_vocabulary() -> Vocabulary:
    """The fixed vocabulary of the generated reviews: the 4 special tokens, then :data:`WORDS`."""
    return Vocabulary(WORDS)


def reviews_to_tensors(reviews: list[Review], vocabulary: Vocabulary) -> ReviewData:
    """Pad ``reviews`` into a :class:`ReviewData`."""
    S = max(len(review.sentences) for review in reviews)
    W = max(len(sentence) for review in reviews for sentence in review.sentences)
    empty = [PAD_ID] * W
    ids = [
        [vocabulary.encode(sentence, add_eos=False) + empty[len(sentence) :] for sentence in review.sentences]
        + [empty] * (S - len(review.sentences))
        for review in reviews
    ]
    evidence = torch.zeros(len(reviews), S, dtype=torch.bool)
    polarity, cues = (
        torch.zeros(len(reviews), S, W, dtype=torch.bool),
        torch.zeros(len(reviews), S, W, dtype=torch.bool),
    )
    for n, review in enumerate(reviews):
        for s in review.evidence:
            evidence[n, s] = True
            polarity[n, s, review.polarity[s]] = True
            cues[n, s, review.cues[s]] = True
    labels = torch.tensor([review.rating for review in reviews])
    return ReviewData(torch.tensor(ids), labels, evidence, polarity, cues)


def generate_reviews(
    count: int, min_sentences: int, max_sentences: int, seed: int, max_evidence: int = 3
) -> tuple[list[Review], ReviewData]:
    """``count`` reviews (from ``seed`` alone), as :class:`Review` objects and as tensors."""
    if not 1 <= min_sentences <= max_sentences:
        raise ValueError(
            f"sentences: expected 1 <= min_sentences <= max_sentences, got {min_sentences}, {max_sentences}"
        )
    rng = random.Random(f"attnzoo.reviews:{seed}")
    reviews = [generate_review(rng, min_sentences, max_sentences, max_evidence) for _ in range(count)]
    return reviews, reviews_to_tensors(reviews, review_vocabulary())


def parse_review(text: str, vocabulary: Vocabulary) -> list[list[str]]:
    """A user's review text as sentences of words (lower-cased; sentences end at ``.``, ``!``, ``?``).

    Raises ``ValueError`` with one line for an empty text or a word outside ``vocabulary``.
    """
    sentences = [re.findall(r"[a-z]+", part.lower()) for part in re.split(r"[.!?]", text)]
    sentences = [[*words, "."] for words in sentences if words]
    if not sentences:
        raise ValueError("text: expected at least one word")
    for sentence in sentences:
        for word in sentence:
            if word not in vocabulary:
                raise ValueError(
                    f"unknown word {word!r}: the reviews' vocabulary has {len(WORDS)} words, e.g. good, not, very"
                )
    return sentences


def flatten_documents(words: Tensor) -> tuple[Tensor, Tensor]:
    """Each document's words in one sequence: ``words`` ``(B, S, W)`` -> ``(tokens (B, L), positions (B, L))``.

    ``positions`` are the indices into the flattened ``S * W`` grid each token came from (padding
    positions after a document's last word, whose tokens are 0), so weights over ``L`` can be put
    back on the grid with ``scatter``.
    """
    flat = words.flatten(1)  # (B, S * W)
    real = flat != PAD_ID
    positions = torch.argsort((~real).to(torch.int8), dim=1, stable=True)  # real words first, in order
    length = int(real.sum(dim=1).max()) if flat.numel() else 0
    positions = positions[:, : max(length, 1)]  # (B, L)
    return flat.gather(1, positions), positions
