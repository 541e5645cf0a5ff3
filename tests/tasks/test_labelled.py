"""The label<TAB>text loader: the corpus loader's rules, with errors worded for labels and texts."""

import pytest

from attnzoo.tasks.labelled import read_labelled_tsv, split_text


def test_reads_labels_and_texts_skipping_blank_lines(tmp_path):
    path = tmp_path / "reviews.tsv"
    path.write_bytes("\ufeff4\tGreat food. Very friendly staff!\n\n0\tNever again\r\n".encode())
    assert read_labelled_tsv(path) == [("4", "Great food. Very friendly staff!"), ("0", "Never again")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("4 great food\n", r"reviews.tsv:1: expected the label in column 1 and the text in column 2 .*found no tab"),
        ("\tgreat food\n", r"reviews.tsv:1: empty label"),
        ("4\tgood\n3\t \n", r"reviews.tsv:2: empty text"),
        ("\n\n", r"reviews.tsv: no labelled texts"),
    ],
)
def test_bad_lines_name_the_file_and_line(tmp_path, content, message):
    path = tmp_path / "reviews.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        read_labelled_tsv(path)


def test_missing_file_and_bad_bytes(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_labelled_tsv(tmp_path / "missing.tsv")
    path = tmp_path / "latin1.tsv"
    path.write_bytes(b"1\tcaf\xe9\n")
    with pytest.raises(ValueError, match="latin1.tsv:1: not valid UTF-8"):
        read_labelled_tsv(path)


def test_split_text_into_sentences_of_words():
    assert split_text("Great food!! The staff wasn't rude... ok") == [
        ["great", "food", "."],
        ["the", "staff", "wasn't", "rude", "."],
        ["ok", "."],
    ]
