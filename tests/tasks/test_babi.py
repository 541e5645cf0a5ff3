"""The bAbI-style simulator against an independent rule evaluation of each story.

The checker below reads the story *text* (its own verb lists, not the simulator's), replays who is
where and who holds what, and answers the question. It must give the simulator's answer from the
whole story, and again from the gold supporting facts alone (so the facts suffice).
"""

from __future__ import annotations

import pytest

from attnzoo.tasks import babi

MOVES = {("went", "to"), ("journeyed", "to"), ("travelled", "to"), ("moved", "to")}
TAKES = {("picked", "up"), ("got",), ("grabbed",), ("took",)}
DROPS = {("dropped",), ("discarded",), ("put", "down"), ("left",)}
FLIP = {"north": "south", "south": "north", "east": "west", "west": "east"}


def replay(story):
    """Agents' places, objects' places and trails (the places each object passed through), relations."""
    place, holding, where, trail, relations = {}, {}, {}, {}, set()

    def arrive(thing, spot):
        where[thing] = spot
        if spot is not None and trail.setdefault(thing, [])[-1:] != [spot]:
            trail[thing].append(spot)

    for words in story:
        if words[0] == "the":  # the A is D of the B
            a, d, b = words[1], words[3], words[6]
            relations |= {(a, d, b), (b, FLIP[d], a)}
            continue
        agent, verb, thing = words[0], tuple(words[1:-2]), words[-1]
        if verb in MOVES:
            place[agent] = thing
            for item, holder in holding.items():
                if holder == agent:
                    arrive(item, thing)
        elif verb in TAKES:
            holding[thing] = agent
            arrive(thing, place.get(agent))
        else:
            assert verb in DROPS, words
            holding[thing] = None
            where[thing] = place.get(agent)
    return place, where, trail, relations


def rule_answer(story, question):
    place, where, trail, relations = replay(story)
    q = question
    if q[0] == "where" and q[1] == "is":
        return place[q[2]] if len(q) == 3 else where[q[3]]
    if q[0] == "where":  # where was the O before the P
        path = trail[q[3]]
        last = len(path) - 1 - path[::-1].index(q[6])
        return path[last - 1]
    if q[0] == "is":
        return "yes" if place.get(q[1]) == q[4] else "no"
    places = {p for r in relations for p in (r[0], r[2])}
    if q[2] == "the":  # what is the A D of
        found = [b for b in places if (q[3], q[4], b) in relations]
    else:  # what is D of the B
        found = [a for a in places if (a, q[2], q[5]) in relations]
    assert len(found) == 1, (story, question, found)
    return found[0]


@pytest.mark.parametrize("task", babi.TASKS)
def test_answers_follow_from_the_story_and_from_the_supporting_facts_alone(task):
    questions = babi.generate(task, 300, seed=7)
    assert len(questions) == 300
    for q in questions:
        assert rule_answer(q.story, q.words) == q.answer
        facts = [q.story[i] for i in sorted(q.support)]
        assert rule_answer(facts, q.words) == q.answer, (q.story, q.words, q.support)
        assert len(q.support) == {1: 1, 2: 2, 3: 3, 4: 1, 6: 1}[task]


def test_supporting_facts_come_in_reasoning_order():
    for q in babi.generate(2, 200, seed=1):
        object_fact, location_fact = (q.story[i] for i in q.support)
        assert object_fact[-1] == q.words[-1]  # the object's pick-up or drop first
        assert location_fact[0] == object_fact[0] and location_fact[-1] == q.answer  # then where that agent went
    for q in babi.generate(3, 200, seed=1):
        pick, now, before = (q.story[i] for i in q.support)
        assert pick[-1] == q.words[3] and now[-1] == q.words[-1] and before[-1] == q.answer
        assert pick[0] == now[0] == before[0]


def test_generation_is_deterministic_and_questions_vary():
    assert babi.generate(2, 50, seed=3) == babi.generate(2, 50, seed=3)
    assert babi.generate(2, 50, seed=3) != babi.generate(2, 50, seed=4)
    answers = [q.answer for q in babi.generate(6, 400, seed=0)]
    assert 0.4 < answers.count("yes") / len(answers) < 0.6
    forms = {q.words[2] == "the" for q in babi.generate(4, 50, seed=0)}
    assert forms == {True, False}  # both "what is D of the B" and "what is the A D of"


def test_memory_is_capped_and_every_fact_stays_in_it():
    for q in babi.generate(3, 100, seed=2, memory_size=12):
        assert len(q.story) <= 12 and all(0 <= i < len(q.story) for i in q.support)


def test_encoding_puts_the_last_sentence_in_slot_zero():
    vocab = babi.vocabulary()
    questions = babi.generate(2, 20, seed=0)
    data = babi.encode(questions, vocab, memory_size=50)
    for row, q in enumerate(questions):
        n = len(q.story)
        assert vocab.decode(data.memories[row, 0].tolist()) == list(q.story[-1])
        assert (data.memories[row, n:] == 0).all()  # empty slots beyond the story
        for k, index in enumerate(q.support):
            assert vocab.decode(data.memories[row, data.supports[row, k]].tolist()) == list(q.story[index])
        assert vocab.id_to_token(int(data.answers[row])) == q.answer


def test_unknown_task_is_refused():
    with pytest.raises(ValueError, match="task: expected one of 1, 2, 3, 4, 6; got 5"):
        babi.generate(5, 1, seed=0)
