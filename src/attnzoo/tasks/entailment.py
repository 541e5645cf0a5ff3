"""Natural-language inference data: a generated set with gold alignments, and a TSV loader.

The generated set (for Rocktäschel et al. 2016's entailment models) lives on a small lexicon
with a hypernym hierarchy (a poodle is a dog is an animal), antonymous adjectives and negation.
A premise is one to ``max_clauses`` clauses joined by "and", each of the template

    the [ADJECTIVE] [COLOUR] NOUN is VERB in the PLACE        (brackets: optional)

about different categories (dogs, cats, birds, horses), verbs and places, and a hypothesis is
one of its clauses changed by one operation whose label follows from the lexicon:

    entailment     "hypernym" (the noun becomes one of its ancestors: poodle -> dog, animal), and
                   "drop" (modifiers removed), alone or together;
    contradiction  "cohyponym" (the noun becomes a noun that is neither its ancestor nor its
                   descendant, in its own category when there are other clauses: poodle ->
                   beagle; or the verb or the place becomes one no clause has: sleeping ->
                   running, park -> barn; with ``swaps``, sometimes the noun, verb or place of
                   another clause instead), "antonym" (small -> big),
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

from attnzoo.tasks.corpus import text_lines
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
HELDOUT_VERBS = ("swimming", "waiting", "barking", "digging")
HELDOUT_PLACES = ("cellar", "orchard", "stable", "attic")
HELDOUT_COLOURS = ("golden", "striped")
UNRELATED = ("the sky is clear", "a bell is ringing", "music is playing", "the door is open", "it is raining outside")
FUNCTION_WORDS = ("the", "is", "in", "not", "and")

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


def branch(noun: str) -> str | None:
    """The category of ``noun`` (dog for poodle and for dog); None for the root."""
    return noun if PARENT[noun] == ROOT else PARENT[noun] if noun != ROOT else None


def random_clauses(rng: random.Random, count: int, heldout: bool) -> list[dict[str, str]]:
    """A premise of ``count`` clauses, each ``{slot: word}``, about different categories, verbs and places
    (so a hypothesis about one of them is about that one alone); ``heldout``: held-out verbs and places."""
    chosen = zip(
        rng.sample(list(HIERARCHY), count),
        rng.sample(verbs(heldout), count),
        rng.sample(places(heldout), count),
        strict=True,
    )
    clauses = []
    for category, verb, place in chosen:
        nouns = [category, *HIERARCHY[category], *([ROOT] if count == 1 else [])]
        slots = {"det": "the", "noun": rng.choice(nouns), "is": "is", "verb": verb, "in": "in", "det2": "the"}
        slots["place"] = place
        if rng.random() < 0.7:
            slots["adjective"] = rng.choice(ADJECTIVES)
        if rng.random() < 0.4:
            slots["colour"] = rng.choice(COLOURS)
        clauses.append(slots)
    return clauses


def replacements(slot: str, clauses: list[dict[str, str]], target: int, heldout: bool, swap: bool = False) -> list[str]:
    """Words that make clause ``target``'s ``slot`` false without making it about another clause: a noun
    disjoint from it (in its own category when there are other clauses), a verb or place no clause has;
    ``swap``: the nouns, verbs or places of the *other* clauses (the hypothesis then binds a word of
    another clause to two words of this one, which a bag of the premise's words cannot refute)."""
    if swap:
        return [clause[slot] for i, clause in enumerate(clauses) if i != target]
    if slot == "noun":
        noun = clauses[target]["noun"]
        return [other for other in disjoint(noun) if len(clauses) == 1 or branch(other) == branch(noun)]
    used = {clause[slot] for clause in clauses}
    return [word for word in (verbs(heldout) if slot == "verb" else places(heldout)) if word not in used]


def apply(
    operation: str, clauses: list[dict[str, str]], target: int, rng: random.Random, heldout: bool, swaps: float = 0.0
) -> dict[str, str] | None:
    """The hypothesis slots made from clause ``target`` by ``operation``; None where it does not apply.
    ``swaps``: the probability that a co-hyponym change takes its word from another clause (:func:`replacements`)."""
    premise = clauses[target]
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
        swap = swaps > 0 and len(clauses) > 1 and rng.random() < swaps  # no draw at 0: the default data unchanged
        options = {slot: replacements(slot, clauses, target, heldout, swap) for slot in ("noun", "verb", "place")}
        slot = rng.choice([slot for slot, words in options.items() if words])
        hypothesis[slot] = rng.choice(options[slot])
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


def premise_words(clauses: list[dict[str, str]]) -> tuple[list[str], list[list[str]], list[int]]:
    """The premise's words (clauses joined by "and"), each clause's slots in order, and where each clause starts."""
    words, slots, starts = [], [], []
    for i, clause in enumerate(clauses):
        words += ["and"] if i else []
        starts.append(len(words))
        slots.append([slot for slot in SLOTS if slot in clause])
        words += [clause[slot] for slot in slots[-1]]
    return words, slots, starts


def example_from_slots(
    clauses: list[dict[str, str]], target: int, hypothesis: dict[str, str], label: str, operation: str
) -> NLIExample:
    """The words of both sentences, and each hypothesis word's position in the premise (in clause ``target``)."""
    words, slots, starts = premise_words(clauses)
    premise_slots = slots[target]
    hypothesis_slots = [slot for slot in SLOTS if slot in hypothesis]
    alignment = [
        starts[target] + premise_slots.index(slot) if slot in premise_slots else -1 for slot in hypothesis_slots
    ]
    return NLIExample(
        premise=tuple(words),
        hypothesis=tuple(hypothesis[slot] for slot in hypothesis_slots),
        label=LABELS.index(label),
        alignment=tuple(alignment),
        content=tuple(slot in CONTENT_SLOTS and slot in premise_slots for slot in hypothesis_slots),
        operation=operation,
    )


def generate_example(rng: random.Random, max_clauses: int = 1, heldout: bool = False, swaps: float = 0.0) -> NLIExample:
    """One example: a label drawn uniformly, a premise of 1 .. ``max_clauses`` clauses, then an
    operation of that label that applies to one of its clauses (``swaps``: see :func:`apply`)."""
    label = rng.choice(LABELS)
    while True:
        clauses = random_clauses(rng, rng.randint(1, max_clauses), heldout)
        operation = rng.choice(OPERATIONS[label])
        if operation == "unrelated":
            words = tuple(rng.choice(UNRELATED).split())
            none = (-1,) * len(words)
            return NLIExample(
                tuple(premise_words(clauses)[0]), words, LABELS.index(label), none, (False,) * len(words), operation
            )
        target = rng.randrange(len(clauses))
        hypothesis = apply(operation, clauses, target, rng, heldout, swaps)
        if hypothesis is not None:
            return example_from_slots(clauses, target, hypothesis, label, operation)


def generate_nli(
    count: int, seed: int, max_clauses: int = 1, heldout: bool = False, swaps: float = 0.0
) -> list[NLIExample]:
    """``count`` generated examples from ``seed``, premises of 1 .. ``max_clauses`` clauses
    (``heldout``: with the held-out verbs, places and colours; ``swaps``: see :func:`apply`)."""
    rng = random.Random(seed)
    return [generate_example(rng, max_clauses, heldout, swaps) for _ in range(count)]


def read_nli_tsv(path: str | Path) -> list[NLIExample]:
    """Examples of a ``premise<TAB>hypothesis<TAB>label`` file (UTF-8; words lowercased; no alignments).

    Raises ``ValueError`` naming the file and line for a missing file, a line without three
    columns, an empty sentence, a label other than entailment / neutral / contradiction or bytes
    that are not UTF-8 (read by :func:`attnzoo.tasks.corpus.text_lines`, which drops a byte-order mark).
    """
    if not Path(path).is_file():
        raise ValueError(f"{path}: no such file (expected premise<TAB>hypothesis<TAB>label lines)")
    tokenizer, examples = WordTokenizer(lowercase=True), []
    for number, line in text_lines(path):  # the corpus loader's file and UTF-8 errors, byte-order mark
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
