"""The reordering task: targets and gold alignments checked by an independent rule, determinism,
disjoint splits, lengths, and the translation recipe's ``reorder`` kind."""

import pytest

from attnzoo.registry import load_recipe
from attnzoo.tasks.reorder import (
    ADJECTIVES,
    CONJUNCTIONS,
    DETERMINERS,
    INTRANSITIVE_VERBS,
    NOUNS,
    TRANSITIVE_VERBS,
    generate_reorder,
    reorder_splits,
)

VERBS = set(TRANSITIVE_VERBS) | set(INTRANSITIVE_VERBS)


def reorder_by_rule(source: str) -> str:
    """The target written from the word classes alone: split at conjunctions; in each clause the verb
    goes last, and in each noun phrase the noun follows the determiner, then its adjectives."""
    clauses, current = [], []
    for word in source.split():
        if word in CONJUNCTIONS:
            clauses.extend([current, [word]])
            current = []
        else:
            current.append(word)
    output = []
    for words in [*clauses, current]:
        if words[0] in CONJUNCTIONS:
            output.append(words[0])
            continue
        verb = next(i for i, word in enumerate(words) if word in VERBS)
        for phrase in (words[:verb], words[verb + 1 :]):
            if phrase:
                assert phrase[0] in DETERMINERS and phrase[-1] in NOUNS and set(phrase[1:-1]) <= set(ADJECTIVES)
                output.extend([phrase[0], phrase[-1], *phrase[1:-1]])
        output.append(words[verb])
    return " ".join(output).upper()


def test_targets_and_alignments_follow_the_rule():
    examples = generate_reorder(300, max_len=40, seed=0)
    for example in examples:
        source, target = example.source.split(), example.target.split()
        assert example.target == reorder_by_rule(example.source)
        assert sorted(example.alignment) == list(range(len(source)))  # one target word per source word
        assert all(target[t] == source[s].upper() for t, s in enumerate(example.alignment))
    # the reordering is real: verbs move, and some sentences have several clauses
    assert sum(example.alignment != tuple(range(len(example.alignment))) for example in examples) > 250
    assert any(set(example.source.split()) & set(CONJUNCTIONS) for example in examples)


def test_same_arguments_same_examples_lengths_and_disjoint_splits():
    splits = reorder_splits(train_size=400, valid_size=50, test_size=100, train_max_len=30, test_max_len=40, seed=0)
    assert splits == reorder_splits(400, 50, 100, 30, 40, seed=0)
    assert splits["train"] != reorder_splits(400, 50, 100, 30, 40, seed=1)["train"]
    train = {example.source for example in splits["train"]}
    assert not train & {example.source for example in [*splits["valid"], *splits["test"]]}
    for name, longest in (("train", 30), ("valid", 30), ("test", 40)):
        lengths = [len(example.source.split()) for example in splits[name]]
        assert len(set(example.source for example in splits[name])) == len(lengths)  # no repeats
        assert 3 <= min(lengths) and max(lengths) <= longest
    test_lengths = [len(example.alignment) for example in splits["test"]]
    assert sum(length <= 10 for length in test_lengths) > 5 and sum(length > 25 for length in test_lengths) > 20


def test_the_translation_recipe_has_a_reorder_kind():
    sizes = {"train_size": 200, "valid_size": 20, "test_size": 30, "train_max_len": 30, "test_max_len": 30}
    recipe = load_recipe("convs2s", {"kind": "reorder", **sizes})
    task = recipe.build_task(seed=3)
    assert task.level == "word" and recipe.selection == ("bleu", "max")
    examples = reorder_splits(200, 20, 30, 30, 30, seed=3)
    assert task.test.pairs == [(example.source, example.target) for example in examples["test"]]
    assert task.source_tokens(examples["test"][0].source) == examples["test"][0].source.split()
    with pytest.raises(ValueError, match="generates its data"):
        load_recipe("convs2s", {"kind": "reorder", "data": "pairs.tsv"})


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="max_len"):
        generate_reorder(5, max_len=2)
    with pytest.raises(ValueError, match="size"):
        generate_reorder(-1)
