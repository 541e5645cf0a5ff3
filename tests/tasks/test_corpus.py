import logging

import pytest

from attnzoo.tasks import (
    TRANSDUCTION_SOURCE_WORDS,
    corpus_data,
    filter_by_length,
    generate_transduction,
    read_parallel_tsv,
    split_pairs,
    transduce,
    transduction_data,
)


def write(tmp_path, content, name="corpus.tsv"):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def test_reads_pairs_skipping_blank_lines(tmp_path):
    path = write(tmp_path, "\ufeffhello world\tbonjour le monde\r\n\n  \ngood night\t bonne nuit \n")
    assert read_parallel_tsv(path) == [("hello world", "bonjour le monde"), ("good night", "bonne nuit")]


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        ("a\tb\nno tab here\n", 2, "no tab"),
        ("a\tb\tc\n\nx\n", 3, "no tab"),
        ("a\tb\n\t target only\n", 2, "empty source"),
        ("source only\t   \n", 1, "empty target"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path, content, line, message):
    path = write(tmp_path, content)
    with pytest.raises(ValueError, match=rf"corpus\.tsv:{line}: .*{message}"):
        read_parallel_tsv(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.tsv"):
        read_parallel_tsv(tmp_path / "nowhere.tsv")


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_empty_file(tmp_path, content):
    with pytest.raises(ValueError, match=r"corpus\.tsv: no sentence pairs"):
        read_parallel_tsv(write(tmp_path, content))


def test_not_utf8(tmp_path):
    path = write(tmp_path, b"ok\tfine\n" + "café\tcoffee\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"corpus\.tsv:2: not valid UTF-8"):
        read_parallel_tsv(path)


def test_length_filter(tmp_path, caplog):
    path = write(tmp_path, "a b c\tx y\na\tx y z w\na b\tx\n")
    assert len(read_parallel_tsv(path)) == 3
    with caplog.at_level(logging.INFO, logger="attnzoo.tasks"):
        assert read_parallel_tsv(path, max_len=3) == [("a b c", "x y"), ("a b", "x")]
    assert "dropped 1 of 3" in caplog.text
    assert read_parallel_tsv(path, level="char", max_len=3) == [("a b", "x")]
    kept, dropped = filter_by_length([("a b", "x")] * 2 + [("a b c d", "x")], 2)
    assert (len(kept), dropped) == (2, 1)
    with pytest.raises(ValueError, match="all 3 dropped"):
        read_parallel_tsv(path, max_len=0 + 1, level="char")


def test_split_and_corpus_data(tmp_path):
    lines = "".join(f"s{i} w\tt{i} v\n" for i in range(40))
    path = write(tmp_path, lines)
    pairs = read_parallel_tsv(path)
    train, valid, test = split_pairs(pairs, 0.1, 0.1, seed=0)
    assert (len(train), len(valid), len(test)) == (32, 4, 4)
    assert sorted(train + valid + test) == sorted(pairs)
    assert split_pairs(pairs, 0.1, 0.1, seed=0) == (train, valid, test)
    data = corpus_data(path, valid_fraction=0.1, test_fraction=0.1)
    assert data.level == "word" and len(data.train) == 32 and "w" in data.source_vocab


def test_transduction():
    pairs = generate_transduction(200, min_len=5, max_len=60, seed=0)
    assert pairs == generate_transduction(200, min_len=5, max_len=60, seed=0)
    assert pairs != generate_transduction(200, min_len=5, max_len=60, seed=1)
    lengths = [len(s.split()) for s, _ in pairs]
    assert min(lengths) >= 5 and max(lengths) <= 60 and max(lengths) > 40
    for source, target in pairs:
        assert set(source.split()) <= set(TRANSDUCTION_SOURCE_WORDS)
        assert len(target.split()) == len(source.split()) and target == transduce(source)
    assert transduce("ba de fi") == "THREE TWO ONE"
    with pytest.raises(ValueError, match="not a source word"):
        transduce("ba hello")


def test_transduction_data_lengths_and_disjoint():
    data = transduction_data(train_size=300, valid_size=30, test_size=60, seed=0)
    train_sources = {s for s, _ in data.train.pairs}
    assert max(len(s.split()) for s in train_sources) <= 40
    assert max(len(s.split()) for s, _ in data.test.pairs) <= 60
    assert not train_sources & {s for s, _ in data.test.pairs}
    assert len(data.source_vocab) == 24 and len(data.target_vocab) == 24


def test_without_max_len_an_outlier_line_is_dropped_and_reported(tmp_path, caplog):
    from attnzoo.tasks.corpus import default_max_len

    lines = [f"word{i} two three\tmot{i} deux trois" for i in range(200)] + ["x " * 100_000 + "\ty"]
    path = tmp_path / "pairs.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with caplog.at_level("WARNING"):
        pairs = read_parallel_tsv(path)
    assert len(pairs) == 200 and all(len(source.split()) == 3 for source, _ in pairs)
    assert "dropped 1 of 201 pairs longer than 5 word tokens" in caplog.text
    assert default_max_len([("a b c d", "e")] * 99 + [("a " * 9, "e")]) == 6
