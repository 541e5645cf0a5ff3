"""The VQA question generator (``attnzoo.tasks.questions``), checked by an independent reading of the image:
answers, gold objects and keywords in both side-question forms, determinism, and the VQA recipe's object labels."""

from __future__ import annotations

import numpy as np
import pytest

from attnzoo.models.vqa.recipe import object_classes
from attnzoo.tasks import questions
from attnzoo.tasks.scenes import COLOURS


def objects_in_pixels(image: np.ndarray) -> dict[str, dict]:
    """Each colour present in ``image``: its pixels' bounding-box centre ``(y, x)`` and its shape,
    told from how much of its bounding box it fills (square 1, circle ~0.8, triangle ~0.5)."""
    found = {}
    for colour, rgb in COLOURS.items():
        ys, xs = np.nonzero((image == np.array(rgb, dtype=np.uint8)).all(-1))
        if len(ys):
            area = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
            fill = len(ys) / area
            shape = "square" if fill > 0.95 else "circle" if fill > 0.65 else "triangle"
            found[colour] = {
                "centre": np.array([(ys.min() + ys.max() + 1) / 2, (xs.min() + xs.max() + 1) / 2]),
                "shape": shape,
            }
    return found


def rule_answer(words: tuple[str, ...], seen: dict[str, dict], size: int) -> str:
    """The answer to ``words`` from the objects ``seen`` in the pixels, by the question's own words."""
    colour = next((word for word in words if word in COLOURS), None)
    if {"many", "count", "number"} & set(words):
        shape = next(word for word in words if word.endswith("s") and word[:-1] in questions.SHAPES)[:-1]
        return str(sum(item["shape"] == shape for item in seen.values()))
    if {"closest", "nearest", "furthest", "farthest"} & set(words):
        here = seen[colour]["centre"]
        others = sorted((c for c in seen if c != colour), key=lambda c: np.linalg.norm(seen[c]["centre"] - here))
        if {"closest", "nearest"} & set(words):
            return others[0]
        return seen[others[-1]]["shape"]
    sides = [word for word in words if word in questions.SIDES]
    if sides:
        y, x = seen[colour]["centre"]
        inside = {"left": x < size / 2, "right": x >= size / 2, "top": y < size / 2, "bottom": y >= size / 2}
        if "or" in words:  # "... on the left or the right": the named side the object's centre is in
            return next(side for side in sides if inside[side])
        return "yes" if inside[sides[0]] else "no"
    return seen[colour]["shape"]


@pytest.mark.parametrize("side_form", questions.SIDE_FORMS)
def test_generated_answers_match_a_rule_evaluation_of_the_pixels(side_form):
    examples = questions.generate_examples(300, seed=5, image_size=64, side_form=side_form)
    assert {example.question.kind for example in examples} == set(questions.KINDS)
    for example in examples:
        seen = objects_in_pixels(example.image)
        assert len(seen) == len(example.objects)  # one object per colour, none hidden
        assert rule_answer(example.question.words, seen, 64) == example.question.answer, example.question
        assert example.question.answer in questions.answers(side_form)
        assert set(example.question.words) <= set(questions.vocabulary(side_form))


def test_side_questions_in_each_form_offer_the_sides_of_one_axis_and_their_answers():
    choice = [e.question for e in questions.generate_examples(200, seed=8) if e.question.kind == "side"]
    yes_no = [
        e.question for e in questions.generate_examples(200, seed=8, side_form="yes-no") if e.question.kind == "side"
    ]
    for question in choice:  # the default: Sort-of-CLEVR's "left or right" / "top or bottom"
        named = [word for word in question.words if word in questions.SIDES]
        assert "or" in question.words and tuple(named) in questions.AXES and question.answer in named
    assert {q.answer for q in choice} == set(questions.SIDES) and {q.answer for q in yes_no} == {"yes", "no"}
    assert all("or" not in q.words and len([w for w in q.words if w in questions.SIDES]) == 1 for q in yes_no)
    assert questions.answers("yes-no") == questions.ANSWERS and questions.vocabulary("yes-no") == questions.WORDS
    assert set(questions.vocabulary("yes-no")) < set(questions.vocabulary("choice"))  # still reads yes-no questions
    assert not {"yes", "no"} & set(questions.answers("choice"))
    with pytest.raises(ValueError, match="side_form: expected one of choice, yes-no; got 'maybe'"):
        questions.generate_examples(1, seed=0, side_form="maybe")


@pytest.mark.parametrize("side_form", questions.SIDE_FORMS)
def test_gold_objects_and_keywords_name_what_the_question_asks(side_form):
    for example in questions.generate_examples(100, seed=6, side_form=side_form):
        question = example.question
        keywords = [question.words[i] for i in question.keywords]
        assert keywords and all(word in COLOURS or word.rstrip("s") in questions.SHAPES for word in keywords)
        gold = [example.objects[i] for i in question.objects]
        if question.kind == "count":
            assert len(gold) == int(question.answer) and {item.shape + "s" for item in gold} <= set(keywords)
        else:
            assert gold[0].colour in keywords  # the named object comes first
        for item in gold:  # the box holds the object's pixels
            top, left, bottom, right = item.box
            assert (example.image[top:bottom, left:right] == COLOURS[item.colour]).all(-1).any()


def test_splits_are_deterministic_and_tokenize_drops_punctuation():
    first, again = questions.generate_examples(5, seed=1), questions.generate_examples(5, seed=1)
    assert all((a.image == b.image).all() and a.question == b.question for a, b in zip(first, again, strict=True))
    assert questions.tokenize("What SHAPE is the red object?") == ["what", "shape", "is", "the", "red", "object"]


def test_object_labels_name_the_colour_and_shape_seen_in_each_layout_cell():
    examples = questions.generate_examples(20, seed=7)
    colours, shapes = object_classes(examples)  # (20, 16) each
    cell = 64 // questions.LAYOUT
    for row, example in enumerate(examples):
        seen = objects_in_pixels(example.image)
        expected_colours, expected_shapes = np.zeros(16, dtype=int), np.zeros(16, dtype=int)
        for colour, item in seen.items():  # the cell that holds the colour's pixels, read from the image
            y, x = (item["centre"] // cell).astype(int)
            expected_colours[y * questions.LAYOUT + x] = 1 + list(COLOURS).index(colour)
            expected_shapes[y * questions.LAYOUT + x] = 1 + questions.SHAPES.index(item["shape"])
        assert (colours[row].numpy() == expected_colours).all() and (shapes[row].numpy() == expected_shapes).all()
