"""A generated cloze reading task in the style of CNN/Daily Mail (Hermann et al. 2015).

A document is a list of facts ``@entity3 praised @entity7 in paris on monday .`` about ``n``
entities; the entity markers are drawn afresh for every document (so a marker means nothing across
documents, as in the anonymised CNN/Daily Mail set). The query restates one fact with one entity
blanked, ``@placeholder praised @entity7 on monday``, keeping the verb, the other entity and some
of the place and day. The candidates are the document's entities; exactly one fits the query.

Each query records its *disambiguating words*: the query words without which another candidate
would fit too (removing the verb, the other entity, the place or the day from the query and
matching the facts again). Documents hold other facts with the same verb, the same entities,
places and days, so usually more than one query word is needed.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass

import torch
from torch import Tensor

from attnzoo.tasks.vocab import Vocabulary

MARKERS = tuple(f"@entity{i}" for i in range(16))  # the entity markers a document draws from
PLACEHOLDER = "@placeholder"
VERBS = ("met", "praised", "hired", "sued", "visited", "called", "thanked", "warned")
PLACES = ("paris", "london", "rome", "berlin", "madrid")
DAYS = ("monday", "tuesday", "friday", "sunday")
NEAR_MISS_CHANCE = 0.7  # chance of adding, for each clue of the query, a fact that only that clue rules out
FACTS_PER_ENTITY = 1.5  # facts in a document with n entities: about 1.5 n (at least n: each entity appears)


@dataclass(frozen=True)
class Fact:
    subject: str
    verb: str
    object: str
    place: str
    day: str

    def words(self) -> tuple[str, ...]:
        return (self.subject, self.verb, self.object, "in", self.place, "on", self.day, ".")


@dataclass(frozen=True)
class ClozeQuestion:
    """document: the words of the facts; query: the words, with :data:`PLACEHOLDER`; answer: a
    marker; candidates: the document's markers, in order of first mention; disambiguating: the
    query's words that the answer depends on (see the module's docstring)."""

    document: tuple[str, ...]
    query: tuple[str, ...]
    answer: str
    candidates: tuple[str, ...]
    disambiguating: tuple[str, ...]


def matches(facts: list[Fact], blank: str, clues: dict[str, str]) -> set[str]:
    """The entities that fit role ``blank`` ("subject" or "object") of a fact agreeing with ``clues``
    (``{"verb": ..., "other": ..., "place": ..., "day": ...}``, any subset)."""
    other = "object" if blank == "subject" else "subject"
    found = set()
    for fact in facts:
        fields = {"verb": fact.verb, "other": getattr(fact, other), "place": fact.place, "day": fact.day}
        if all(fields[name] == value for name, value in clues.items()):
            found.add(getattr(fact, blank))
    return found


def query_words(blank: str, clues: dict[str, str]) -> tuple[str, ...]:
    """``@placeholder VERB OTHER [in PLACE] [on DAY]`` (or ``OTHER VERB @placeholder ...``)."""
    pair = (PLACEHOLDER, clues["verb"], clues["other"])
    if blank == "object":
        pair = (clues["other"], clues["verb"], PLACEHOLDER)
    place = ("in", clues["place"]) if "place" in clues else ()
    return pair + place + (("on", clues["day"]) if "day" in clues else ())


def make_question(rng: random.Random, count: int) -> ClozeQuestion:
    """One document with ``count`` entities and one query whose answer is unique among them."""
    while True:
        markers = rng.sample(MARKERS, count)  # re-permuted for every document
        facts = []
        for index in range(max(count, round(FACTS_PER_ENTITY * count))):
            subject = markers[index] if index < count else rng.choice(markers)
            other = rng.choice([m for m in markers if m != subject])
            pair = (subject, other) if rng.random() < 0.5 else (other, subject)
            facts.append(Fact(pair[0], rng.choice(VERBS), pair[1], rng.choice(PLACES), rng.choice(DAYS)))
        target, blank = rng.choice(facts), rng.choice(["subject", "object"])
        clues = {"verb": target.verb, "other": getattr(target, "object" if blank == "subject" else "subject")}
        clues |= {name: getattr(target, name) for name in ("place", "day") if rng.random() < 0.5}
        facts += [near_miss(rng, target, blank, name, markers) for name in clues if rng.random() < NEAR_MISS_CHANCE]
        rng.shuffle(facts)
        if matches(facts, blank, clues) != {getattr(target, blank)}:
            continue
        needed = [clues[name] for name in clues if len(matches(facts, blank, without(clues, name))) > 1]
        document = tuple(word for fact in facts for word in fact.words())
        candidates = tuple(dict.fromkeys(word for word in document if word.startswith("@")))
        return ClozeQuestion(document, query_words(blank, clues), getattr(target, blank), candidates, tuple(needed))


def near_miss(rng: random.Random, target: Fact, blank: str, clue: str, markers: list[str]) -> Fact:
    """A fact like ``target`` with another entity in role ``blank`` and ``clue`` changed: it fits the
    query without that clue, so the clue becomes disambiguating."""
    other = "object" if blank == "subject" else "subject"
    fields = {"verb": VERBS, "place": PLACES, "day": DAYS, "other": markers}
    changed = rng.choice(
        [value for value in fields[clue] if value not in (getattr(target, blank), getattr(target, other))]
    )
    names = {"verb": "verb", "place": "place", "day": "day", "other": other}
    fact = dataclasses.replace(target, **{names[clue]: changed})
    impostor = rng.choice([m for m in markers if m not in (getattr(fact, other), getattr(target, blank))])
    return dataclasses.replace(fact, **{blank: impostor})


def without(clues: dict[str, str], name: str) -> dict[str, str]:
    return {key: value for key, value in clues.items() if key != name}


def generate(count: int, seed: int, min_candidates: int = 3, max_candidates: int = 12) -> list[ClozeQuestion]:
    """``count`` questions, each over a document of ``min_candidates .. max_candidates`` entities (uniform)."""
    if not 2 <= min_candidates <= max_candidates <= len(MARKERS):
        raise ValueError(
            f"candidates: expected 2 <= min_candidates <= max_candidates <= {len(MARKERS)}, "
            f"got {min_candidates} and {max_candidates}"
        )
    rng = random.Random(seed)
    return [make_question(rng, rng.randint(min_candidates, max_candidates)) for _ in range(count)]


def vocabulary() -> Vocabulary:
    """Every word of the task (fixed ids)."""
    return Vocabulary([*MARKERS, PLACEHOLDER, *VERBS, *PLACES, *DAYS, "in", "on", "."])


@dataclass
class ClozeTensors:
    """documents ``(N, T)`` and queries ``(N, Q)`` word ids (0: padding); candidates ``(N, C)`` marker
    ids (0: none); answers ``(N,)`` the answer's index in ``candidates``; gold ``(N, Q)`` bool: the
    query word is disambiguating."""

    documents: Tensor
    queries: Tensor
    candidates: Tensor
    answers: Tensor
    gold: Tensor

    def tensors(self) -> tuple[Tensor, ...]:
        return self.documents, self.queries, self.candidates, self.answers, self.gold


def padded(rows: list[list[int]]) -> Tensor:
    width = max(len(row) for row in rows)
    return torch.tensor([row + [0] * (width - len(row)) for row in rows])


def encode(questions: list[ClozeQuestion], vocab: Vocabulary) -> ClozeTensors:
    """:class:`ClozeTensors` of ``questions``."""

    def ids(words):
        return [vocab.token_to_id(word) for word in words]

    gold = [[word in q.disambiguating for word in q.query] for q in questions]
    width = max(len(row) for row in gold)
    return ClozeTensors(
        padded([ids(q.document) for q in questions]),
        padded([ids(q.query) for q in questions]),
        padded([ids(q.candidates) for q in questions]),
        torch.tensor([q.candidates.index(q.answer) for q in questions]),
        torch.tensor([row + [False] * (width - len(row)) for row in gold]),
    )
