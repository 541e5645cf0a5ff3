"""The cloze task against an independent reading of each document's text."""

from __future__ import annotations

import re

import pytest

from attnzoo.tasks import cloze

FACT = re.compile(r"(@entity\d+) (\w+) (@entity\d+) in (\w+) on (\w+) \.")


def fitting(document, query):
    """Entities that fit the blank: a fact sentence holding every query word, in the query's roles."""
    facts = FACT.findall(" ".join(document))
    blank_first = query[0] == "@placeholder"
    verb, other = query[1], query[2] if blank_first else query[0]
    extra = {query[i + 1] for i, word in enumerate(query) if word in ("in", "on")}
    found = set()
    for subject, fact_verb, obj, place, day in facts:
        known, candidate = (obj, subject) if blank_first else (subject, obj)
        if fact_verb == verb and known == other and extra <= {place, day}:
            found.add(candidate)
    return found


def test_the_answer_is_the_only_candidate_that_fits():
    for q in cloze.generate(300, seed=5):
        assert fitting(q.document, q.query) == {q.answer}
        assert set(q.candidates) == {w for w in q.document if w.startswith("@")}
        assert q.answer in q.candidates and 3 <= len(q.candidates) <= 12


def test_disambiguating_words_are_those_the_answer_depends_on():
    for q in cloze.generate(300, seed=6):
        clue_words = [w for w in q.query if w not in ("@placeholder", "in", "on")]
        for word in clue_words:
            index = q.query.index(word)
            reduced = list(q.query)
            if index >= 3:  # "in PLACE" / "on DAY": drop both words
                del reduced[index - 1 : index + 1]
            else:  # the verb or the other entity: any word fits there
                reduced[index] = "*"
            fits = fitting_with_wildcard(q.document, reduced)
            assert (len(fits) > 1) == (word in q.disambiguating), (q.query, word, fits)


def fitting_with_wildcard(document, query):
    if "*" not in query:
        return fitting(document, query)
    index = query.index("*")
    options = set(cloze.VERBS) if index == 1 else {w for w in document if w.startswith("@")}
    return set().union(*(fitting(document, query[:index] + [word] + query[index + 1 :]) for word in options))


def test_markers_are_drawn_afresh_for_every_document():
    questions = cloze.generate(200, seed=0)
    answers = {q.answer for q in questions}
    assert len(answers) == len(cloze.MARKERS)  # every marker is an answer somewhere: none is special
    assert sum("@entity0" in q.candidates for q in questions) < 200
    assert cloze.generate(20, seed=1) == cloze.generate(20, seed=1)


def test_encoding_and_bad_ranges():
    questions = cloze.generate(10, seed=2)
    vocab = cloze.vocabulary()
    data = cloze.encode(questions, vocab)
    for row, q in enumerate(questions):
        assert vocab.id_to_token(int(data.candidates[row, data.answers[row]])) == q.answer
        gold = [vocab.id_to_token(int(i)) for i, g in zip(data.queries[row], data.gold[row], strict=True) if g]
        assert set(gold) == set(q.disambiguating)
    with pytest.raises(ValueError, match="min_candidates <= max_candidates"):
        cloze.generate(1, 0, min_candidates=5, max_candidates=4)
