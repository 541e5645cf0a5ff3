"""The package itself: a light import, the public names, the command line."""

import inspect
import shutil
import subprocess
import sys
from pathlib import Path

import attnzoo


def test_import_attnzoo_loads_no_training_plotting_or_cli_stack():
    """``import attnzoo`` must stay light: Lightning, matplotlib and Typer are imported lazily."""
    code = (
        "import sys, attnzoo\n"
        "heavy = ('lightning', 'pytorch_lightning', 'lightning_fabric', 'matplotlib', 'typer')\n"
        "print(' '.join(sorted(name for name in sys.modules if name.split('.')[0] in heavy)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "", f"import attnzoo imported: {result.stdout.strip()}"


def test_public_names_exist_and_are_documented():
    for name in attnzoo.__all__:
        thing = getattr(attnzoo, name)
        if inspect.isclass(thing) or inspect.isfunction(thing):
            assert inspect.getdoc(thing), f"attnzoo.{name} has no docstring"
    for name in ("Attention", "MultiHeadAttention", "AdditiveScore", "lengths_to_mask", "KVCache", "reinforce_loss"):
        assert name in attnzoo.__all__


def attnzoo_command() -> list[str]:
    """The installed ``attnzoo`` console script (``pip install -e .`` puts it beside the interpreter)."""
    beside = Path(sys.executable).with_name("attnzoo")
    found = str(beside) if beside.exists() else shutil.which("attnzoo")
    assert found, "the attnzoo command is not installed: pip install -e ."
    return [found]


def test_attnzoo_help():
    result = subprocess.run([*attnzoo_command(), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for command in ("demo", "train", "evaluate"):
        assert command in result.stdout
