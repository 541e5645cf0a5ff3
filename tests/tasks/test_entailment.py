"""The generated inference set: labels against an independent rule, gold alignments, the held-out
split's words, and the TSV loader's errors."""

import pytest

from attnzoo.tasks import entailment as nli
from attnzoo.tasks.entailment import LABELS, generate_nli, read_nli_tsv

# The lexicon written out again, independently of the generator's tables.
IS_A = {
    "poodle": "dog", "beagle": "dog", "terrier": "dog", "collie": "dog",
    "siamese": "cat", "persian": "cat", "tabby": "cat", "kitten": "cat",
    "robin": "bird", "sparrow": "bird", "parrot": "bird", "crow": "bird",
    "pony": "horse", "stallion": "horse", "mare": "horse", "foal": "horse",
    "dog": "animal", "cat": "animal", "bird": "animal", "horse": "animal",
}  # fmt: skip
OPPOSITE = {"small": "big", "young": "old", "happy": "sad", "wet": "dry", "quiet": "loud"}
OPPOSITE |= {b: a for a, b in OPPOSITE.items()}
NOUNS = set(IS_A) | {"animal"}


def is_a(noun: str, other: str) -> bool:
    """``noun`` is ``other`` or one of its kinds."""
    while noun is not None:
        if noun == other:
            return True
        noun = IS_A.get(noun)
    return False


def parse(words: tuple[str, ...]) -> dict:
    """The sentence's noun, modifiers, verb, place and negation, read off the words' positions."""
    if words[0] != "the" or "in" not in words:
        return {"unrelated": True}
    noun_at = next(i for i, word in enumerate(words) if word in NOUNS)
    return {
        "unrelated": False,
        "noun": words[noun_at],
        "modifiers": set(words[1:noun_at]),
        "negated": "not" in words,
        "verb": words[-4],
        "place": words[-1],
    }


def category(noun: str) -> str | None:
    """The noun's kind of animal (dog for poodle and for dog); None for "animal"."""
    while noun is not None and IS_A.get(noun) != "animal":
        noun = IS_A.get(noun)
    return noun


def referent(clauses: list[dict], h: dict) -> dict:
    """The premise clause the hypothesis speaks of: the one sharing most of its category, verb and place."""
    return max(
        clauses,
        key=lambda c: (
            (category(c["noun"]) == category(h["noun"]) is not None)
            + (c["verb"] == h["verb"])
            + (c["place"] == h["place"])
        ),
    )


def rule(premise: tuple[str, ...], hypothesis: tuple[str, ...]) -> str:
    """The label by logic: a changed or opposed fact contradicts, new information is neutral."""
    h = parse(hypothesis)
    if h["unrelated"]:
        return "neutral"
    text = " ".join(premise).split(" and ")
    p = referent([parse(tuple(clause.split())) for clause in text], h)
    opposed = any(OPPOSITE.get(word) in p["modifiers"] for word in h["modifiers"])
    related = is_a(p["noun"], h["noun"]) or is_a(h["noun"], p["noun"])
    if h["negated"] or opposed or not related or h["verb"] != p["verb"] or h["place"] != p["place"]:
        return "contradiction"
    if not is_a(p["noun"], h["noun"]) or not h["modifiers"] <= p["modifiers"]:
        return "neutral"
    return "entailment"


@pytest.mark.parametrize("heldout", [False, True])
def test_labels_follow_the_independent_rule_and_are_balanced(heldout):
    examples = generate_nli(1200, seed=5, max_clauses=3, heldout=heldout)
    for example in examples:
        assert LABELS[example.label] == rule(example.premise, example.hypothesis), example
    counts = [sum(example.label == label for example in examples) for label in range(3)]
    assert min(counts) > 350
    operations = {example.operation for example in examples}
    assert operations == {op for ops in nli.OPERATIONS.values() for op in ops}


def test_swaps_take_the_changed_word_from_another_clause_and_keep_the_rule():
    """``swaps=1``: every co-hyponym change in a premise of several clauses writes a noun, verb or place of
    another clause (``swaps=0``: never), and the labels still follow the independent rule."""

    def swapped(example) -> bool:
        clauses = [parse(tuple(clause.split())) for clause in " ".join(example.premise).split(" and ")]
        h, own = parse(example.hypothesis), referent(clauses, parse(example.hypothesis))
        others = [clause for clause in clauses if clause is not own]
        return any(h[slot] == clause[slot] for clause in others for slot in ("noun", "verb", "place"))

    for swaps, expected in ((1.0, True), (0.0, False)):
        examples = generate_nli(1200, seed=6, max_clauses=3, swaps=swaps)
        for example in examples:
            assert LABELS[example.label] == rule(example.premise, example.hypothesis), example
        changed = [e for e in examples if e.operation == "cohyponym" and "and" in e.premise]
        assert len(changed) > 50 and all(swapped(example) == expected for example in changed)
        assert not any(swapped(e) for e in examples if e.operation not in ("cohyponym", "unrelated"))


def test_gold_alignment_points_at_the_same_slot():
    """An aligned hypothesis word is the premise word itself, or its replacement in the same role."""
    for example in generate_nli(800, seed=1, max_clauses=3):
        p, h = example.premise, example.hypothesis
        for t, (j, content) in enumerate(zip(example.alignment, example.content, strict=True)):
            if j < 0:
                assert not content
                assert h[t] == "not" or example.operation in ("modifier", "unrelated")
                continue
            same_role = (h[t] in NOUNS) == (p[j] in NOUNS) and (h[t] in OPPOSITE) == (p[j] in OPPOSITE)
            assert h[t] == p[j] or (
                same_role and example.operation in ("hypernym", "hypernym+drop", "cohyponym", "hyponym", "antonym")
            )
            assert content == (h[t] not in ("the", "is", "in"))
        aligned = [j for j in example.alignment if j >= 0]
        assert aligned == sorted(aligned)  # in order,
        assert not aligned or "and" not in p[aligned[0] : aligned[-1] + 1]  # within one clause


def test_heldout_words_only_in_the_heldout_split():
    heldout_words = set(nli.HELDOUT_VERBS + nli.HELDOUT_PLACES + nli.HELDOUT_COLOURS)
    ordinary = {
        word for example in generate_nli(800, seed=2, max_clauses=3) for word in example.premise + example.hypothesis
    }
    held = [
        set(example.premise + example.hypothesis) for example in generate_nli(200, seed=2, max_clauses=3, heldout=True)
    ]
    assert not ordinary & heldout_words
    assert all(words & heldout_words for words in held if len(words) > 4)
    assert set(nli.lexicon()) >= ordinary | heldout_words


def test_tsv_loader_reads_pairs_and_names_the_bad_line(tmp_path):
    path = tmp_path / "nli.tsv"
    path.write_text("A man is sleeping.\tA person rests.\tentailment\n\nDogs run\tCats run\tContradiction\n")
    examples = read_nli_tsv(path)
    assert [example.label for example in examples] == [0, 2]
    assert examples[0].premise == ("a", "man", "is", "sleeping", ".")
    assert examples[1].alignment == (-1, -1)
    path.write_text("a\tb\tentailment\na\tb\tmaybe\n")
    with pytest.raises(ValueError, match=r"nli.tsv:2: label 'maybe'"):
        read_nli_tsv(path)
    path.write_text("a\tentailment\n")
    with pytest.raises(ValueError, match=r"nli.tsv:1: expected premise<TAB>hypothesis<TAB>label, found 2 columns"):
        read_nli_tsv(path)
    with pytest.raises(ValueError, match="no such file"):
        read_nli_tsv(tmp_path / "missing.tsv")
