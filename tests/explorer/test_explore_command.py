"""`attnzoo explore` and the formation picture on the command line: inputs, bad input, the recorded file."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from attnzoo.cli import app
from attnzoo.training import formation


def run_cli(*args):
    return CliRunner().invoke(app, [str(arg) for arg in args])


def embedded(page: str) -> dict:
    """The JSON data embedded in a page."""
    start = page.index('id="attnzoo-data">') + len('id="attnzoo-data">')
    return json.loads(page[start : page.index("</script>", start)])


def test_explore_shows_the_inputs_of_a_file_one_per_line(seq2seq_run, tmp_path):
    inputs = tmp_path / "inputs.txt"
    inputs.write_text("ba zi no\n\nqu ye </script> zi\n", encoding="utf-8")  # an empty line is skipped
    out = tmp_path / "page.html"
    result = run_cli("explore", seq2seq_run.path, "--inputs", inputs, "--out", out)
    assert result.exit_code == 0, result.output
    assert f"wrote {out} (2 views)" in result.output
    page = out.read_text(encoding="utf-8")
    assert "<script src" not in page and "<link" not in page and "<img" not in page  # everything inlined
    views = embedded(page)["views"]
    assert [view["source"][:-1] for view in views] == [
        ["ba", "zi", "no"],
        ["qu", "ye", "<", "/", "script", ">", "zi"],
    ]  # </script> survived the embedding


def test_bad_input_is_one_line_and_exit_2(seq2seq_run, tmp_path):
    for args, message in [
        (["--inputs", tmp_path / "missing.txt"], "missing.txt: no such file"),
        (["--inputs", tmp_path / "empty.txt"], "no input in it"),
        (["--inputs", tmp_path / "latin1.txt"], "not valid UTF-8"),
    ]:
        (tmp_path / "empty.txt").write_text("\n \n", encoding="utf-8")
        (tmp_path / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
        result = run_cli("explore", seq2seq_run.path, *args, "--out", tmp_path / "page.html")
        assert result.exit_code == 2 and message in result.output and len(result.output.splitlines()) == 1
    result = run_cli("explore", tmp_path / "not-a-run")
    assert result.exit_code == 2 and "no such file" in result.output


def test_training_records_bounded_snapshots_and_the_formation_picture_draws_them(seq2seq_run, tmp_path):
    document = json.loads(seq2seq_run.file("formation.json").read_text(encoding="utf-8"))
    assert document["format"] == formation.FORMAT
    assert [item["step"] for item in document["snapshots"]] == [2, 4]  # one per validation
    for item in document["snapshots"]:
        assert 1 <= len(item["views"]) <= formation.MAX_VIEWS and len(json.dumps(item)) <= formation.MAX_SNAPSHOT_BYTES
        assert set(item["scores"]) == {"entropy", "accuracy"}  # reversal: gold alignments
    result = run_cli("plot", seq2seq_run.path, "--picture", "formation", "--out", tmp_path / "formation.png")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "formation.png").stat().st_size > 5000
