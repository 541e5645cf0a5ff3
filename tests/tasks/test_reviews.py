"""Generated reviews: the gold evidence determines the rating (checked by an independent rule, and by
flipping it), the recorded polarity words and cues, lengths, the vocabulary, parsing a user's text."""

import pytest
import torch

from attnzoo.tasks.reviews import (
    NEGATIVE,
    POSITIVE,
    WORDS,
    Review,
    flatten_documents,
    generate_reviews,
    parse_review,
    review_vocabulary,
    reviews_to_tensors,
)

INTENSIFIERS = {"very", "really", "truly"}


def rule_score(words: list[str]) -> int | None:
    """An independent reading of one sentence: its opinion score, or None for a sentence without one
    (hearsay about another place, "my friend said ...", has none)."""
    if "said" in words:
        return None
    if "but" in words:
        return 0  # a mixed verdict
    for index, word in enumerate(words):
        base = 1 if word in POSITIVE else -1 if word in NEGATIVE else None
        if base is None:
            continue
        if words[index + 1 : index + 3] == ["for", "nothing"]:
            return -2
        before = words[index - 1] if index else ""
        if before == "not":
            return -base
        return 2 * base if before in INTENSIFIERS else base
    return None


def test_the_rating_is_what_the_evidence_says_and_nothing_else():
    reviews, _ = generate_reviews(300, 8, 30, seed=1)
    for review in reviews:
        scores = {s: rule_score(sentence) for s, sentence in enumerate(review.sentences)}
        assert sorted(s for s, score in scores.items() if score is not None) == review.evidence
        assert {scores[s] + 2 for s in review.evidence} == {review.rating}
        for s in review.evidence:
            sentence = review.sentences[s]
            assert all(sentence[index] in POSITIVE + NEGATIVE for index in review.polarity[s])
            assert set(review.polarity[s]) <= set(review.cues[s])


def flip(sentence: list[str]) -> list[str]:
    """Negate (or un-negate) the opinion of an evidence sentence."""
    if "but" in sentence:  # mixed -> only its first verdict
        return sentence[: sentence.index("but")] + ["."]
    for index, word in enumerate(sentence):
        if word in POSITIVE + NEGATIVE:
            if sentence[index + 1 : index + 3] == ["for", "nothing"]:
                return [*sentence[: index + 1], *sentence[index + 3 :]]
            if index and sentence[index - 1] == "not":
                return [*sentence[: index - 1], *sentence[index:]]
            return [*sentence[:index], "not", *sentence[index:]]
    raise AssertionError(f"no opinion in {sentence}")


def test_flipping_the_evidence_changes_the_rating():
    reviews, _ = generate_reviews(200, 8, 12, seed=2)
    for review in reviews:
        flipped = [flip(s) if i in review.evidence else s for i, s in enumerate(review.sentences)]
        assert all(rule_score(flipped[s]) + 2 != review.rating for s in review.evidence), "each says another rating"
        assert any(len(review.polarity[s]) == 2 for s in review.evidence) == (review.rating == 2)
        hearsay = [s for s in review.sentences if "said" in s]
        assert all(rule_score([w for w in s if w != "said"]) is not None for s in hearsay), "hearsay holds opinions"


def test_lengths_tensors_and_vocabulary():
    reviews, data = generate_reviews(100, 10, 14, seed=3, max_evidence=2)
    assert all(10 <= len(review.sentences) <= 14 for review in reviews)
    assert all(1 <= len(review.evidence) <= 2 for review in reviews)
    real = data.words != 0
    assert real.any(-1).sum(1).tolist() == [len(review.sentences) for review in reviews]
    assert (data.words != 3).all(), "no <unk>: the vocabulary covers every generated word"
    assert data.evidence.sum(1).tolist() == [len(review.evidence) for review in reviews]
    assert ((data.polarity.sum(-1) > 0) == data.evidence).all() and (data.cues & ~real).sum() == 0
    vocabulary = review_vocabulary()
    n, s = 0, reviews[0].evidence[0]
    assert vocabulary.decode(data.words[n, s][data.polarity[n, s]].tolist()) == [
        reviews[0].sentences[s][index] for index in reviews[0].polarity[s]
    ]
    again = generate_reviews(100, 10, 14, seed=3, max_evidence=2)[1]
    assert torch.equal(again.words, data.words) and len(set(WORDS)) == len(WORDS)


def test_parse_review_and_its_errors():
    vocabulary = review_vocabulary()
    assert parse_review("The food was NOT good! We paid by card.", vocabulary) == [
        ["the", "food", "was", "not", "good", "."],
        ["we", "paid", "by", "card", "."],
    ]
    with pytest.raises(ValueError, match="unknown word 'delicious'"):
        parse_review("the food was delicious", vocabulary)
    with pytest.raises(ValueError, match="at least one word"):
        parse_review(" . ! ", vocabulary)


def test_flatten_documents_keeps_the_words_in_order():
    review = Review([["a", "."], ["the", "food", "."]], 2, [], {}, {})
    words = reviews_to_tensors([review, Review([["we", "."]], 2, [], {}, {})], review_vocabulary()).words
    tokens, positions = flatten_documents(words)
    assert review_vocabulary().decode(tokens[0].tolist()) == ["a", ".", "the", "food", "."]
    assert (tokens[1, 2:] == 0).all()
    assert torch.equal(words.flatten(1).gather(1, positions), tokens)
