"""Every ``attnzoo`` command in the READMEs runs as written.

Train commands go through the real command line with the trainer replaced by a check of their
settings (the preset, every ``--set`` field, the task and training options must build), so long
trainings cost nothing here. The commands that read a run (evaluate, plot, translate, a recipe's
own commands, whose ``--example`` writes their input files) run for real,
against a tiny run of the same model at the path the README names. ``attnzoo demo`` has its own test.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

import attnzoo.training
from attnzoo.cli import app
from attnzoo.registry import load_recipe
from attnzoo.training.fit import settings_for

REAL_TRAIN = attnzoo.training.train
ROOT = Path(__file__).resolve().parent.parent
READMES = [ROOT / "README.md", *sorted((ROOT / "src" / "attnzoo" / "models").glob("*/README.md"))]


def commands(readme: Path) -> list[list[str]]:
    """The ``attnzoo ...`` lines of the bash blocks of ``readme``, split into arguments."""
    blocks = re.findall(r"```bash\n(.*?)```", readme.read_text(encoding="utf-8"), flags=re.S)
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    found = []
    for line in lines:
        for part in line.split("&&"):
            words = shlex.split(part, comments=True)
            if words[:1] == ["attnzoo"] and words[1:2] != ["demo"]:
                found.append(words[1:])
    return found


def option(words: list[str], name: str) -> str | None:
    return words[words.index(name) + 1] if name in words else None


class FakeRun:
    """What ``attnzoo train`` gets back from the checked, not run, trainer."""

    def __init__(self, out: Path) -> None:
        self.path = Path(out)

    def file(self, name: str) -> Path:
        return self.path / "not-written" / name


def check_settings(trained: list, name, out, *, preset=None, model=None, task=None, training=None, resume=False, **_):
    if not resume:
        settings_for(name, preset, model, task, training)  # raises on anything that would not build
    trained.append((name, Path(out)))
    return FakeRun(out)


@pytest.mark.parametrize(
    "readme", READMES, ids=lambda path: path.parent.name if path.name == "README.md" else path.name
)
def test_readme_commands_run_as_written(readme, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    trained: list[tuple[str, Path]] = []
    monkeypatch.setattr(attnzoo.training, "train", lambda *a, **k: check_settings(trained, *a, **k))
    found = commands(readme)
    runs = {Path(option(words, "--out")): words[1] for words in found if words[0] == "train"}
    for words in found:
        if words[0] not in ("train", "models") and len(words) > 1 and Path(words[1]) in runs:
            make_tiny_run(Path(words[1]), runs)  # evaluate, plot, translate and the recipes' commands
            make_inputs(words)
        result = CliRunner().invoke(app, words)
        assert result.exit_code == 0, f"attnzoo {shlex.join(words)}\n{result.output}\n{result.exception!r}"


def make_inputs(words: list[str]) -> None:
    """The input files a command reads (``--data``, ``--input``), as dates the tiny runs know."""
    for flag, text in (("--data", "3 March 2015\t2015-03-03\n"), ("--input", "3 March 2015\n")):
        name = option(words, flag)
        if name and name != "-" and not Path(name).exists():
            Path(name).write_text(text, encoding="utf-8")


def make_tiny_run(path: Path, runs: dict[Path, str]) -> None:
    """A tiny trained run of the model the README trains at ``path`` (once per path)."""
    if (path / "model.safetensors").is_file():
        return
    name = runs.get(path)
    assert name is not None, f"the README reads the run {path} but trains no model there"
    if reason := load_recipe(name).unavailable():
        pytest.skip(reason)  # e.g. the data's program is not installed here
    model, task = load_recipe(name).example()
    steps = {"steps": 2, "epochs": None, "batch_size": 4, "val_every": 2, "checkpoint_every": 2, "minutes": None}
    REAL_TRAIN(name, path, model=model, task=task, training=steps, progress=False, overwrite=True, threads=1)


def test_readme_python_examples_that_need_no_run_execute_as_written():
    """The top README's Python blocks (the mechanisms' examples) run as written, in order; the blocks
    that train or load a run (they name a ``runs/`` directory) are the commands' business above."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), flags=re.S)
    runnable = [block for block in blocks if "runs/" not in block]
    assert runnable, "the README shows no Python example"
    namespace: dict = {}
    for block in runnable:
        exec(compile(block, "README.md", "exec"), namespace)
