"""Natural-language inference data: a generated set with gold alignments, and a TSV loader.

The generated set (for Rocktäschel et al. 2016's entailment models) lives on a small lexicon
with a hypernym hierarchy (a poodle is a dog is an animal), antonymous adjectives and negation.
A premise is one template,

    the [ADJECTIVE] [COLOUR] NOUN is VERB in the PLACE        (brackets: optional)

and a hypothesis is the premise changed by one operation whose label follows from the lexicon:

    entailment     "hypernym" (the noun becomes one of its ancestors: poodle -> dog, animal), and
                   "drop" (modifiers removed), alone or together;
    contradiction  "cohyponym" (the noun becomes a noun that is neither its ancestor nor its
                   descendant: poodle -> beagle, cat; or the verb or the place becomes another
                   one: sleeping -> running, park -> barn), "antonym" (small -> big),
                   "negation" (``is`` -> ``is not``);
    neutral        "hyponym" (dog -> poodle), "modifier" (an adjective or a colour added),
                   "unrelated" (a fixed sentence about something else: "the sky is clear").

Every hypothesis word records the premise word it comes from (its *gold alignment*; -1 for an
added word). The ``heldout`` split draws its verbs, places and added colours from words that
no other split uses (a changed verb or place is another held-out one), which the models have
only as untrained embeddings: copied words a word-by-word reader can still match, a changed one
it can still see as changed, and a new colour is still an added modifier.

Real data: :func:`read_nli_tsv` reads ``premise<TAB>hypothesis<TAB>label`` lines.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from attnzoo.tasks.tokenizers import WordTokenizer

LABELS = ("entailment", "neutral", "contradiction")  # label ids 0, 1, 2

# category -> kinds: every kind is a dog/cat/..., every category is an animal
HIERARCHY = {
    "dog": ("poodle", "beagle", "terrier", "collie"),
    "cat": ("siamese", "persian", "tabby", "kitten"),
    "bird": ("robin", "sparrow", "parrot", "crow"),
    "horse": ("pony", "stallion", "mare", "foal"),
}
ROOT = "animal"
PARENT = {ROOT: None} | {category: ROOT for category in HIERARCHY}
PARENT |= {kind: category for category, kinds in HIERARCHY.items() for kind in kinds}
NOUNS = tuple(PARENT)
ANTONYMS = dict(
    [pair for a, b in (("small", "big"), ("young", "old"), ("happy", "sad"), ("wet", "dry"), ("quiet", "loud"))
     for pair in ((a, b), (b, a))]
)  # fmt: skip
ADJECTIVES = tuple(ANTONYMS)
COLOURS = ("brown", "black", "white", "grey", "spotted")
VERBS = ("sleeping", "running", "eating", "playing", "sitting", "jumping", "resting", "hiding")
PLACES = ("park", "garden", "kitchen", "field", "yard", "forest", "street", "barn", "meadow", "house")
HELDOUT_VERBS = ("swimming", "waiting", "barking")
HELDOUT_PLACES = ("cellar", "orchard", "stable")
HELDOUT_COLOURS = ("golden", "striped")
UNRELATED = ("the sky is clear", "a bell is ringing", "music is playing", "the door is open", "it is raining outside")
FUNCTION_WORDS = ("the", "is", "in", "not")

# The template's slots in order; words of the same slot in premise and hypothesis are aligned.
SLOTS = ("det", "adjective", "colour", "noun", "is", "not", "verb", "in", "det2", "place")
CONTENT_SLOTS = ("adjective", "colour", "noun", "verb", "place")  # slots whose alignment is scored

OPERATIONS = {
    "entailment": ("hypernym", "drop", "hypernym+drop"),
    "contradiction": ("cohyponym", "antonym", "negation"),
    "neutral": ("hyponym", "modifier", "unrelated"),
}


@dataclass(frozen=True)
class NLIExample:
    """One premise–hypothesis pair.

    ``alignment[t]``: the index of the premise word that hypothesis word ``t`` comes from, or -1
    (an added word, or real data without alignments); ``content[t]``: word ``t`` is a content word
    (adjective, colour, noun, verb, place) whose alignment is scored.
    """

    premise: tuple[str, ...]
    hypothesis: tuple[str, ...]
    label: int  # index into LABELS
    alignment: tuple[int, ...]
    content: tuple[bool, ...]
    operation: str = ""  # the generator's operation ("" for real data)


def ancestors(noun: str) -> list[str]:
    """The strict hypernyms of ``noun``, nearest first (poodle -> [dog, animal])."""
    found, parent = [], PARENT[noun]
    while parent is not None:
        found.append(parent)
        parent = PARENT[parent]
    return found


def descendants(noun: str) -> list[str]:
    """The strict hyponyms of ``noun``."""
    return [other for other in NOUNS if noun in ancestors(other)]


def disjoint(noun: str) -> list[str]:
    """Nouns that are neither ``noun``, its ancestors nor its descendants (poodle -> beagle, cat, ...)."""
    related = {noun, *ancestors(noun), *descendants(noun)}
    return [other for other in NOUNS if other not in related]


def lexicon() -> list[str]:
    """Every word the generator can write, held-out words included, in a fixed order."""
    words = [*FUNCTION_WORDS, *NOUNS, *ADJECTIVES, *COLOURS, *VERBS, *PLACES]
    words += [*HELDOUT_VERBS, *HELDOUT_PLACES, *HELDOUT_COLOURS]
    words += [word for sentence in UNRELATED for word in sentence.split()]
    return list(dict.fromkeys(words))


def verbs(heldout: bool) -> tuple[str, ...]:
    """The verbs of the held-out split, or of the others."""
    return HELDOUT_VERBS if heldout else VERBS


def places(heldout: bool) -> tuple[str, ...]:
    """The places of the held-out split, or of the others."""
    return HELDOUT_PLACES if heldout else PLACES


def random_premise(rng: random.Random, heldout: bool) -> dict[str, str]:
    """A premise as ``{slot: word}``; ``heldout`` draws the verb and place from the held-out words."""
    slots = {"det": "the", "noun": rng.choice(NOUNS), "is": "is", "in": "in", "det2": "the"}
    slots["verb"] = rng.choice(verbs(heldout))
    slots["place"] = rng.choice(places(heldout))
    if rng.random() < 0.7:
        slots["adjective"] = rng.choice(ADJECTIVES)
    if rng.random() < 0.4:
        slots["colour"] = rng.choice(COLOURS)
    return slots


def apply(operation: str, premise: dict[str, str], rng: random.Random, heldout: bool) -> dict[str, str] | None:
    """The hypothesis slots made from ``premise`` by ``operation``; None where it does not apply."""
    hypothesis, noun = dict(premise), premise["noun"]
    modifiers = [slot for slot in ("adjective", "colour") if slot in premise]
    if operation in ("hypernym", "hypernym+drop"):
        if not ancestors(noun):
            return None
        hypothesis["noun"] = rng.choice(ancestors(noun))
    if operation in ("drop", "hypernym+drop"):
        if not modifiers:
            return None
        for slot in rng.sample(modifiers, rng.randint(1, len(modifiers))):
            del hypothesis[slot]
    if operation == "cohyponym":  # another noun, verb or place: they exclude one another
        slot = rng.choice(("noun", "verb", "place") if disjoint(noun) else ("verb", "place"))
        others = {"noun": disjoint(noun), "verb": verbs(heldout), "place": places(heldout)}[slot]
        hypothesis[slot] = rng.choice([word for word in others if word != premise[slot]])
    if operation == "antonym":
        if "adjective" not in premise:
            return None
        hypothesis["adjective"] = ANTONYMS[premise["adjective"]]
    if operation == "negation":
        hypothesis["not"] = "not"
    if operation == "hyponym":
        if not descendants(noun):
            return None
        hypothesis["noun"] = rng.choice(descendants(noun))
    if operation == "modifier":
        free = [slot for slot in ("adjective", "colour") if slot not in premise]
        if not free:
            return None
        slot = rng.choice(free)
        hypothesis[slot] = rng.choice(ADJECTIVES if slot == "adjective" else HELDOUT_COLOURS if heldout else COLOURS)
    return hypothesis


def example_from_slots(premise: dict[str, str], hypothesis: dict[str, str], label: str, operation: str) -> NLIExample:
    """The words of both sentences in template order, and each hypothesis word's premise position."""
    premise_slots = [slot for slot in SLOTS if slot in premise]
    hypothesis_slots = [slot for slot in SLOTS if slot in hypothesis]
    alignment = tuple(premise_slots.index(slot) if slot in premise else -1 for slot in hypothesis_slots)
    return NLIExample(
        premise=tuple(premise[slot] for slot in premise_slots),
        hypothesis=tuple(hypothesis[slot] for slot in hypothesis_slots),
        label=LABELS.index(label),
        alignment=alignment,
        content=tuple(slot in CONTENT_SLOTS and slot in premise for slot in hypothesis_slots),
        operation=operation,
    )


def generate_example(rng: random.Random, heldout: bool = False) -> NLIExample:
    """One example: a label drawn uniformly, then an operation of that label that applies."""
    label = rng.choice(LABELS)
    while True:
        premise = random_premise(rng, heldout)
        operation = rng.choice(OPERATIONS[label])
        if operation == "unrelated":
            words = tuple(rng.choice(UNRELATED).split())
            premise_words = [premise[slot] for slot in SLOTS if slot in premise]
            return NLIExample(
                tuple(premise_words), words, LABELS.index(label), (-1,) * len(words), (False,) * len(words), operation
            )
        hypothesis = apply(operation, premise, rng, heldout)
        if hypothesis is not None:
            return example_from_slots(premise, hypothesis, label, operation)


def generate_nli(count: int, seed: int, heldout: bool = False) -> list[NLIExample]:
    """``count`` generated examples from ``seed`` (``heldout``: with the held-out verbs, places, colours)."""
    rng = random.Random(seed)
    return [generate_example(rng, heldout) for _ in range(count)]


def read_nli_tsv(path: str | Path) -> list[NLIExample]:
    """Examples of a ``premise<TAB>hypothesis<TAB>label`` file (UTF-8; words lowercased; no alignments).

    Raises ``ValueError`` naming the file and line for a missing file, a line without three
    columns, an empty sentence or a label other than entailment / neutral / contradiction.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file (expected premise<TAB>hypothesis<TAB>label lines)")
    tokenizer, examples = WordTokenizer(lowercase=True), []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split("\t")]
        if len(fields) != 3:
            raise ValueError(f"{path}:{number}: expected premise<TAB>hypothesis<TAB>label, found {len(fields)} columns")
        premise, hypothesis = tokenizer.tokenize(fields[0]), tokenizer.tokenize(fields[1])
        if not premise or not hypothesis:
            raise ValueError(f"{path}:{number}: the premise and the hypothesis must have at least one word")
        if fields[2].lower() not in LABELS:
            raise ValueError(f"{path}:{number}: label {fields[2]!r} is not one of {', '.join(LABELS)}")
        none = (-1,) * len(hypothesis)
        examples.append(
            NLIExample(tuple(premise), tuple(hypothesis), LABELS.index(fields[2].lower()), none, (False,) * len(none))
        )
    if not examples:
        raise ValueError(f"{path}: no examples (expected premise<TAB>hypothesis<TAB>label lines)")
    return examples
