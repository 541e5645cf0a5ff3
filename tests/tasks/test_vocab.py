import functools

import pytest
import torch
from torch.utils.data import DataLoader

from attnzoo.tasks import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    UNK_ID,
    PairDataset,
    Vocabulary,
    collate_pairs,
    detokenize,
    make_translation_data,
    tokenize,
)


def test_special_ids_and_build_order():
    vocab = Vocabulary.build([["b", "a", "b"], ["c", "b", "a"]])
    assert (vocab.pad_id, vocab.bos_id, vocab.eos_id, vocab.unk_id) == (0, 1, 2, 3) == (PAD_ID, BOS_ID, EOS_ID, UNK_ID)
    assert vocab.tokens == ["<pad>", "<bos>", "<eos>", "<unk>", "b", "a", "c"]  # by count, then text
    assert len(vocab) == 7
    assert Vocabulary.build([["x", "y", "x"]], min_count=2).tokens[4:] == ["x"]


def test_encode_decode_round_trip():
    vocab = Vocabulary.build([list("hello world")])
    tokens = list("hello")
    ids = vocab.encode(tokens)
    assert ids[-1] == EOS_ID and len(ids) == 6
    assert vocab.encode(tokens, add_bos=True, add_eos=False)[0] == BOS_ID
    assert vocab.decode(ids) == tokens
    assert vocab.decode(torch.tensor([BOS_ID, *ids, PAD_ID, PAD_ID])) == tokens  # tensors, cut at EOS
    assert vocab.decode(ids + [PAD_ID], strip_special=False) == [*tokens, "<eos>", "<pad>"]
    assert vocab.encode(["h", "Z"]) == [vocab.token_to_id("h"), UNK_ID, EOS_ID]
    assert vocab.decode([vocab.token_to_id("h"), UNK_ID]) == ["h", "<unk>"]
    with pytest.raises(ValueError, match="outside"):
        vocab.decode([len(vocab)])
    with pytest.raises(TypeError):
        vocab.encode("hello")


def test_save_load_utf8(tmp_path):
    vocab = Vocabulary.build([list("März 2015年3月 вторник"), ["<eos>", "word"]])
    path = tmp_path / "vocab.json"
    vocab.save(path)
    assert "年" in path.read_text(encoding="utf-8")
    loaded = Vocabulary.load(path)
    assert loaded == vocab and loaded.tokens == vocab.tokens
    assert loaded.tokens.count("<eos>") == 1


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.json"):
        Vocabulary.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"tokens": ["a"]}', encoding="utf-8")
    with pytest.raises(ValueError, match="bad.json"):
        Vocabulary.load(bad)
    bad.write_text("not json", encoding="utf-8")
    with pytest.raises(ValueError, match="bad.json"):
        Vocabulary.load(bad)


@pytest.mark.parametrize(
    ("text", "level", "tokens"),
    [
        ("a b", "char", ["a", " ", "b"]),
        ("  Go  home. ", "word", ["Go", "home", "."]),
        ("", "word", []),
        ("Où es-tu, Zoë? «Ici!» (dit-elle) I don't know.", "word", None),
    ],
)
def test_tokenize(text, level, tokens):
    """Words and punctuation marks apart; detokenising gives back written text's spacing."""
    if tokens is not None:
        assert tokenize(text, level) == tokens
    assert detokenize(tokenize(text, level), level) == (text if level == "char" else " ".join(text.split()))


def test_tokenize_bad_level():
    with pytest.raises(ValueError, match="level"):
        tokenize("x", "byte")


def test_collate_shapes_and_padding():
    batch = [([4, 5, 6, EOS_ID], [7, 8]), ([4, EOS_ID], [9, 10, 11, 12])]
    out = collate_pairs(batch, pad_id=PAD_ID)
    assert out["source"].tolist() == [[4, 5, 6, 2], [4, 2, 0, 0]]
    assert out["source_lengths"].tolist() == [4, 2]
    assert out["target_in"].tolist() == [[1, 7, 8, 0, 0], [1, 9, 10, 11, 12]]
    assert out["target_out"].tolist() == [[7, 8, 2, 0, 0], [9, 10, 11, 12, 2]]
    assert out["target_lengths"].tolist() == [3, 5]
    assert all(t.dtype == torch.long for t in out.values())
    # A different pad id is honoured.
    assert collate_pairs(batch, pad_id=-1)["source"][1, 2:].tolist() == [-1, -1]
    empty = collate_pairs([([], [7]), ([], [])])  # empty sources: a (2, 0) tensor, not a 1-d one
    assert empty["source"].shape == (2, 0) and empty["target_out"].tolist() == [[7, 2], [2, 0]]


def test_dataset_and_dataloader():
    data = make_translation_data([("ab", "x"), ("ba", "yx")], [("ab", "x")], [("abc", "xz")], level="char")
    assert data.source_vocab.tokens[4:] == ["a", "b"] and data.target_vocab.tokens[4:] == ["x", "y"]
    # Test-only characters are unknown: the vocabularies come from the training pairs.
    assert data.test[0] == ([4, 5, UNK_ID, EOS_ID], [4, UNK_ID])
    assert data.test.pairs == [("abc", "xz")]
    assert data.encode_source("ab") == data.train[0][0]
    assert data.decode_target([4, 5, EOS_ID, 4]) == "xy"
    loader = DataLoader(data.train, batch_size=2, collate_fn=functools.partial(collate_pairs, pad_id=0))
    batch = next(iter(loader))
    assert batch["source"].shape == (2, 3) and batch["target_out"].shape == (2, 3)
    with pytest.raises(ValueError, match="differ"):
        PairDataset([[1]], [])


@pytest.mark.parametrize("model", ["unigram", "bpe"])
def test_subword_tokenisers_are_learned_from_train_and_restore_the_text(model):
    from attnzoo.tasks.tokenizers import tokenizer_from_dict

    words = ["house", "houses", "mouse", "mice", "housing", "blue", "bluer", "green", "greener"]
    pairs = [(f"The {a} and the {b}!", f"{b} {a}") for a in words for b in words]
    data = make_translation_data(pairs, pairs[:3], pairs[:3], level="subword", vocab_size=60, subword=model)
    assert len(data.source_vocab) <= 60 and "<unk>" not in data.source_tokens("The houses and the mice!")
    restored = tokenizer_from_dict(data.source_tokenizer.to_dict())
    for source, _ in pairs[:10]:
        assert restored.tokenize(source) == data.source_tokens(source)
        assert restored.detokenize(restored.tokenize(source)) == source
    assert data.decode_target(data.encode_target(pairs[5][1])) == pairs[5][1]
