"""A bAbI-style story simulator with gold supporting facts (Weston et al. 2015, *Towards AI-Complete
Question Answering*; no bAbI download exists here, so the stories are generated).

Agents move between places and pick up and drop objects; after every few statements a question is
asked about the story so far. The kinds of question follow bAbI's tasks:

    1  single supporting fact    "where is mary"                       -> her last move
    2  two supporting facts      "where is the apple"                  -> who has it (or dropped it), where they are
    3  three supporting facts    "where was the apple before the office" -> pick-up, the move there, the move before
    4  two-argument relations    "what is north of the kitchen" / "what is the kitchen north of"
    6  yes/no questions          "is mary in the kitchen"              -> her last move

Every :class:`Question` carries its gold supporting facts (indices into its story) in *reasoning
order*: the fact about what the question names first, then the fact that fact leads to (task 2:
the object's pick-up or drop, then the holder's move; task 3: the pick-up, the move to the current
place, the move to the place before it). Generation is deterministic given the seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
from torch import Tensor

from attnzoo.tasks.vocab import Vocabulary

TASKS = (1, 2, 3, 4, 6)
AGENTS = ("mary", "john", "sandra", "daniel")
PLACES = ("kitchen", "garden", "office", "hallway", "bathroom", "bedroom")
OBJECTS = ("apple", "football", "milk")
MOVE_VERBS = ("went to", "journeyed to", "travelled to", "moved to")
TAKE_VERBS = ("picked up", "got", "grabbed", "took")
DROP_VERBS = ("dropped", "discarded", "put down", "left")
OPPOSITE = {"north": "south", "south": "north", "east": "west", "west": "east"}
QUESTION_WORDS = ("where", "is", "was", "before", "in", "what", "of", "yes", "no")
# statements between two questions (low, high) and the chance that a statement handles an object
GAPS = {1: (1, 3), 2: (2, 5), 3: (2, 6), 6: (1, 3)}
OBJECT_ACTION_CHANCE = {1: 0.0, 2: 0.4, 3: 0.35, 6: 0.0}
QUESTIONS_PER_STORY = 5


@dataclass(frozen=True)
class Question:
    """One question about a story.

    story: the statements before the question, oldest first, each a tuple of lower-case words.
    words: the question's words. answer: one word. support: indices into ``story`` of the gold
    supporting facts, in reasoning order (see the module's docstring).
    """

    story: tuple[tuple[str, ...], ...]
    words: tuple[str, ...]
    answer: str
    support: tuple[int, ...]


def vocabulary() -> Vocabulary:
    """Every word the simulator writes (ids fixed by the word lists, so every run shares them)."""
    phrases = [*AGENTS, *PLACES, *OBJECTS, *MOVE_VERBS, *TAKE_VERBS, *DROP_VERBS, *OPPOSITE, *QUESTION_WORDS, "the"]
    words = sorted({word for phrase in phrases for word in phrase.split()})
    return Vocabulary(words)


class World:
    """The state of one story: where each agent is, who holds which object, and the facts behind it."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.story: list[tuple[str, ...]] = []
        self.place: dict[str, str] = {}  # agent -> place
        self.last_move: dict[str, int] = {}  # agent -> index of their last move
        self.holder: dict[str, str | None] = dict.fromkeys(OBJECTS)  # object -> agent holding it
        self.location: dict[str, str | None] = dict.fromkeys(OBJECTS)  # object -> place (None: never seen)
        self.object_fact: dict[str, tuple[int, int]] = {}  # object -> (last pick-up/drop, agent's move then)
        self.history: dict[str, list[tuple[str, int]]] = {o: [] for o in OBJECTS}  # (place, move that took it there)
        self.held_since: dict[str, int] = {}  # object -> index in its history where the current holding began

    def say(self, subject: str, verb: str, thing: str) -> int:
        self.story.append((subject, *verb.split(), "the", thing))
        return len(self.story) - 1

    def act(self, object_chance: float) -> None:
        """Add one statement: an object picked up or dropped (with ``object_chance``), else a move."""
        agents = [agent for agent in AGENTS if agent in self.place]
        takes = [
            (a, o)
            for a in agents
            for o in OBJECTS
            if self.holder[o] is None and self.location[o] in (None, self.place[a])
        ]
        drops = [(self.holder[o], o) for o in OBJECTS if self.holder[o] is not None]
        if self.rng.random() < object_chance and (takes or drops):
            agent, thing = self.rng.choice(takes + drops)
            self.take(agent, thing) if self.holder[thing] is None else self.drop(agent, thing)
        else:
            self.move(self.rng.choice(AGENTS))

    def move(self, agent: str) -> None:
        place = self.rng.choice([p for p in PLACES if p != self.place.get(agent)])
        index = self.say(agent, self.rng.choice(MOVE_VERBS), place)
        self.place[agent], self.last_move[agent] = place, index
        for thing in OBJECTS:
            if self.holder[thing] == agent:
                self.location[thing] = place
                self.history[thing].append((place, index))

    def take(self, agent: str, thing: str) -> None:
        index = self.say(agent, self.rng.choice(TAKE_VERBS), thing)
        place, history = self.place[agent], self.history[thing]
        if not history or history[-1][0] != place:
            history.append((place, self.last_move[agent]))
        else:
            history[-1] = (place, self.last_move[agent])  # the holder's move is what places it now
        self.holder[thing], self.location[thing] = agent, place
        self.object_fact[thing] = (index, self.last_move[agent])
        self.held_since[thing] = len(history) - 1

    def drop(self, agent: str, thing: str) -> None:
        index = self.say(agent, self.rng.choice(DROP_VERBS), thing)
        self.holder[thing] = None
        self.object_fact[thing] = (index, self.last_move[agent])

    def ask(self, task: int) -> tuple[tuple[str, ...], str, tuple[int, ...]] | None:
        """A question of bAbI task ``task`` about the story so far: (words, answer, support), or None."""
        agents = sorted(self.place)
        if task in (1, 6) and agents:
            agent = self.rng.choice(agents)
            if task == 1:
                return ("where", "is", agent), self.place[agent], (self.last_move[agent],)
            place = self.place[agent] if self.rng.random() < 0.5 else self.rng.choice(PLACES)
            answer = "yes" if place == self.place[agent] else "no"
            return ("is", agent, "in", "the", place), answer, (self.last_move[agent],)
        if task == 2:
            known = [o for o in OBJECTS if o in self.object_fact]
            if known:
                thing = self.rng.choice(known)
                holder, (object_fact, move) = self.holder[thing], self.object_fact[thing]
                support = (object_fact, move if holder is None else self.last_move[holder])  # held: where they are now
                return ("where", "is", "the", thing), self.location[thing], support
        if task == 3:
            moved = [o for o in OBJECTS if self.holder[o] and len(self.history[o]) - 1 > self.held_since[o]]
            if moved:
                thing = self.rng.choice(moved)
                (before, before_fact), (now, now_fact) = self.history[thing][-2:]
                support = (self.object_fact[thing][0], now_fact, before_fact)
                return ("where", "was", "the", thing, "before", "the", now), before, support
        return None


def story_questions(task: int, rng: random.Random, memory_size: int) -> list[Question]:
    """The questions of one story of task 1, 2, 3 or 6 whose facts lie in the last ``memory_size`` statements."""
    world, questions = World(rng), []
    low, high = GAPS[task]
    while len(questions) < QUESTIONS_PER_STORY:
        for _ in range(rng.randint(low, high)):
            world.act(OBJECT_ACTION_CHANCE[task])
        asked = world.ask(task)
        if asked is None:
            continue
        words, answer, support = asked
        start = max(0, len(world.story) - memory_size)
        if min(support) >= start:
            story = tuple(world.story[start:])
            questions.append(Question(story, words, answer, tuple(index - start for index in support)))
    return questions


def relation_questions(rng: random.Random) -> list[Question]:
    """Task 4: two statements ``the A is D of the B`` about three places; two questions about the first
    fact stated, one per form (``what is D of the B`` -> A, ``what is the A D of`` -> B), each unique."""
    while True:
        a, b, c = rng.sample(PLACES, 3)
        first, second = rng.choice(list(OPPOSITE)), rng.choice(list(OPPOSITE))
        facts = [(a, first, b), (b, second, c) if rng.random() < 0.5 else (c, second, b)]
        rng.shuffle(facts)
        relations = {(x, d, y) for x, d, y in facts} | {(y, OPPOSITE[d], x) for x, d, y in facts}
        story = tuple(("the", x, "is", d, "of", "the", y) for x, d, y in facts)
        index = rng.randrange(2)
        x, d, y = facts[index]
        above = [p for p in PLACES if (p, d, y) in relations]  # what is D of Y
        below = [p for p in PLACES if (x, d, p) in relations]  # what is X D of
        if len(above) == 1 and len(below) == 1:
            return [
                Question(story, ("what", "is", d, "of", "the", y), x, (index,)),
                Question(story, ("what", "is", "the", x, d, "of"), y, (index,)),
            ]


def generate(task: int, count: int, seed: int, memory_size: int = 50) -> list[Question]:
    """``count`` questions of bAbI-style task ``task`` (1, 2, 3, 4 or 6), from stories seeded by ``seed``."""
    if task not in TASKS:
        raise ValueError(f"task: expected one of {', '.join(map(str, TASKS))}; got {task!r}")
    rng, questions = random.Random(seed), []
    while len(questions) < count:
        questions += relation_questions(rng) if task == 4 else story_questions(task, rng, memory_size)
    return questions[:count]


@dataclass
class BabiTensors:
    """Questions as tensors, memories most recent first (the paper's ``x_1`` is the last sentence).

    memories ``(N, M, L)`` word ids (0: padding); questions ``(N, Lq)``; answers ``(N,)``;
    supports ``(N, S)`` memory slots of the supporting facts in reasoning order (-1: none).
    """

    memories: Tensor
    questions: Tensor
    answers: Tensor
    supports: Tensor

    def tensors(self) -> tuple[Tensor, ...]:
        return self.memories, self.questions, self.answers, self.supports


def word_ids(words: tuple[str, ...], vocab: Vocabulary, width: int) -> list[int]:
    """The ids of ``words``, padded with 0 to ``width``."""
    return [vocab.token_to_id(word) for word in words] + [0] * (width - len(words))


def encode(questions: list[Question], vocab: Vocabulary, memory_size: int) -> BabiTensors:
    """:class:`BabiTensors` of ``questions``: the last ``memory_size`` statements, most recent in slot 0."""
    slots = min(memory_size, max(len(q.story) for q in questions))
    length = max(len(sentence) for q in questions for sentence in q.story)
    question_length = max(len(q.words) for q in questions)
    facts = max(len(q.support) for q in questions)
    memories = torch.zeros(len(questions), slots, length, dtype=torch.long)
    supports = torch.full((len(questions), facts), -1, dtype=torch.long)
    for row, question in enumerate(questions):
        kept = question.story[-slots:]
        for slot, sentence in enumerate(reversed(kept)):
            memories[row, slot] = torch.tensor(word_ids(sentence, vocab, length))
        for k, index in enumerate(question.support):
            supports[row, k] = len(question.story) - 1 - index  # slot 0 is the last statement
    encoded = torch.tensor([word_ids(q.words, vocab, question_length) for q in questions])
    answers = torch.tensor([vocab.token_to_id(q.answer) for q in questions])
    return BabiTensors(memories, encoded, answers, supports)
