"""Generated news for summarization (the setting of See et al. 2017), with gold copy positions.

Each article reports one event whose key facts are carried by entities that are mostly out of
any vocabulary: people (a common first name, a rare generated surname), organisations and places
(generated three-syllable names), and numbers. Around the key sentence the article has

- one or two further facts about the same event (a cost, a number of people, a share price),
- a *restatement* of the key facts later in the article (the same entities a second time: the
  spot where plain attention attends twice and repeats itself, See et al. §2.3),
- two to four *distractor* sentences about other, unrelated entities.

The reference summary states the key fact (in one of two wordings) and each further fact with
probability 1/2: one to three short sentences that must carry the key entities and numbers.
``copy_positions[j]`` is the article position the summary token ``j`` was copied from when it is
one of the key entities (its first occurrence in the facts' sentences), and ``-1`` for words a
summary writes anyway. Everything is whitespace tokenised.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

SYLLABLES = (
    "ka", "lo", "mi", "ren", "ta", "vo", "zu", "bel", "dor", "fin", "gar", "hal", "jun", "kel", "mar",
    "nor", "pel", "quin", "ros", "sal", "tor", "ul", "ven", "wil", "yan", "zer", "bri", "cas", "del", "em",
)  # fmt: skip
FIRST_NAMES = (
    "anna", "ben", "clara", "david", "elena", "felix", "grace", "hugo", "iris", "jonas", "karen", "leo",
    "maria", "nina", "omar", "paul", "rosa", "sam", "tara", "victor",
)  # fmt: skip
PLACE_ENDINGS = ("ville", "burg", "ton", "ia", "stad")
ORG_ENDINGS = ("corp", "tech", "bank", "air", "soft")
ROLES = ("chief executive", "spokesperson", "director", "chairman", "founder")
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")
MOODS = ("calm", "cold", "mild", "wet", "sunny")
MOVES = ("rose", "fell")
SURNAME_ENDINGS = ("", "son", "ez", "ov", "ski")

# The key sentence of each kind of event and two ways a summary states it; {p} a person (two
# tokens), {o} {o2} organisations, {l} a place, {n} a number, {d} a day, {r} a role.
EVENTS = (
    (
        "{p} , {r} of {o} , said on {d} that the company will open {n} new stores in {l} .",
        ("{p} said {o} will open {n} stores in {l} .", "{o} will open {n} new stores in {l} , {p} said ."),
    ),
    (
        "{o} announced on {d} that it will hire {n} workers in {l} , {p} , its {r} , told reporters .",
        ("{o} will hire {n} workers in {l} .", "{o} is to hire {n} workers in {l} , said {p} ."),
    ),
    (
        "{o} agreed on {d} to buy {o2} for {n} million dollars , {p} , the {r} of {o} , said .",
        ("{o} will buy {o2} for {n} million dollars .", "{o} agreed to buy {o2} for {n} million dollars ."),
    ),
    (
        "voters in {l} elected {p} as mayor on {d} with {n} votes .",
        ("{p} was elected mayor of {l} with {n} votes .", "{p} won {n} votes to become mayor of {l} ."),
    ),
    (
        "a storm hit {l} on {d} , leaving {n} homes without power , said {p} of {o} .",
        ("a storm left {n} homes in {l} without power .", "{n} homes in {l} lost power in a storm ."),
    ),
)
# Further facts about the same event: (article sentence, summary sentence); {m} a second number.
# An article states one or two of them; a summary reports each one with probability 1/2 (which
# facts a writer keeps is not in the article: the part of a summary no model can predict).
FACTS = (
    ("{p} said the plan would cost {m} million dollars .", "{p} said the plan will cost {m} million dollars ."),
    ("{p} added that {m} people had been told .", "{p} said {m} people were told ."),
    ("shares of {o} {move} {pct} percent on {d} .", "shares of {o} {move} {pct} percent ."),
)
RESTATEMENTS = (
    "{last} said again that the {n} new jobs in {l} matter .",
    "the {n} in {l} were confirmed by {o} later , {last} said .",
)
DISTRACTORS = (
    "{p2} , a {r2} at {o3} , said the weather in {l2} was {mood} .",
    "shares of {o3} {move} {pct} percent on {d2} .",
    "{l2} has a population of {k} people .",
    "{p2} of {o3} declined to comment on the report .",
    "the mayor of {l2} met {p2} on {d2} .",
)


@dataclass(frozen=True)
class NewsExample:
    """One (article, summary) pair, whitespace tokenised.

    article: the article's tokens. summary: the reference summary's tokens.
    copy_positions: for each summary token, the article position it was copied from when it is a
        key entity, else ``-1``. entities: the key entities (tokens) the summary must carry.
    """

    article: tuple[str, ...]
    summary: tuple[str, ...]
    copy_positions: tuple[int, ...]
    entities: tuple[str, ...]


def generated_name(rng: random.Random, syllables: int, ending: str = "") -> str:
    """A capitalised name of ``syllables`` random syllables and ``ending`` (``"Kalomi"``, ``"Renvotech"``)."""
    return ("".join(rng.choice(SYLLABLES) for _ in range(syllables)) + ending).capitalize()


def person(rng: random.Random) -> str:
    """A person: a common first name (in any vocabulary) and a rare generated surname."""
    return f"{rng.choice(FIRST_NAMES).capitalize()} {generated_name(rng, 3, rng.choice(SURNAME_ENDINGS))}"


def draw_entities(rng: random.Random) -> dict[str, str]:
    """The slots of one article: key entities (p, o, o2, l, n, m) and distractors' (p2, o3, l2, k), and words."""
    slots = {
        "p": person(rng),
        "p2": person(rng),
        "o": generated_name(rng, 3, rng.choice(ORG_ENDINGS)),
        "o2": generated_name(rng, 3, rng.choice(ORG_ENDINGS)),
        "o3": generated_name(rng, 3, rng.choice(ORG_ENDINGS)),
        "l": generated_name(rng, 3, rng.choice(PLACE_ENDINGS)),
        "l2": generated_name(rng, 3, rng.choice(PLACE_ENDINGS)),
        "n": str(rng.randint(100, 99_999)),
        "m": str(rng.randint(100, 99_999)),
        "k": str(rng.randint(100, 99_999)),
        "pct": str(rng.randint(2, 30)),
    }
    slots["last"] = slots["p"].split()[1]
    words = {"d": DAYS, "d2": DAYS, "r": ROLES, "r2": ROLES, "mood": MOODS, "move": MOVES}
    slots.update({name: rng.choice(choices) for name, choices in words.items()})
    return slots


ENTITY_SLOTS = ("p", "o", "o2", "l", "n", "m", "pct")


def slot_tokens(template: str, slots: dict[str, str]) -> tuple[list[str], set[str]]:
    """The tokens of ``template`` filled from ``slots``, and the tokens that came from entity slots."""
    tokens, entities = [], set()
    for word in template.split():
        if word.startswith("{") and word.endswith("}"):
            value = slots[word[1:-1]].split()
            tokens.extend(value)
            if word[1:-1] in ENTITY_SLOTS:
                entities.update(value)
        else:
            tokens.append(word)
    return tokens, entities


def news_example(rng: random.Random) -> NewsExample:
    """One generated article and its summary (see the module docstring)."""
    slots = draw_entities(rng)
    event, summaries = rng.choice(EVENTS)
    facts = [(slot_tokens(event, slots)[0], slot_tokens(rng.choice(summaries), slots), True)]
    for fact, fact_summary in rng.sample(FACTS, rng.randint(1, 2)):
        facts.append((slot_tokens(fact, slots)[0], slot_tokens(fact_summary, slots), rng.random() < 0.5))
    summary = [token for _, (tokens, _), kept in facts if kept for token in tokens]
    entities = set().union(*(found for _, (_, found), kept in facts if kept))
    distractors = [slot_tokens(text, slots)[0] for text in rng.sample(DISTRACTORS, rng.randint(2, 4))]
    lead = rng.randint(0, 1)  # the key sentence opens the article, or follows one distractor
    restatement = slot_tokens(rng.choice(RESTATEMENTS), slots)[0]
    sentences = distractors[:lead] + [tokens for tokens, _, _ in facts] + distractors[lead:]
    sentences.insert(rng.randint(lead + len(facts), len(sentences)), restatement)
    article = [token for sentence in sentences for token in sentence]
    fact_start = sum(len(sentence) for sentence in distractors[:lead])
    fact_tokens = article[fact_start : fact_start + sum(len(tokens) for tokens, _, _ in facts)]
    positions = tuple(
        fact_start + fact_tokens.index(token) if token in entities else -1 for token in summary
    )  # the first occurrence in the facts' sentences
    ordered = tuple(dict.fromkeys(token for token in summary if token in entities))
    return NewsExample(tuple(article), tuple(summary), positions, ordered)


def generate_news(size: int, seed: int = 0) -> list[NewsExample]:
    """``size`` generated news examples; the same ``(size, seed)`` gives the same examples."""
    if size < 0:
        raise ValueError(f"size: expected >= 0, got {size}")
    rng = random.Random(f"attnzoo.news:{seed}")
    return [news_example(rng) for _ in range(size)]
