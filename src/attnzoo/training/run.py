"""A run directory: the only code that reads and writes one.

    <run>/config.json        {"model": registry name, "preset": name or null, "config": the model config}
    <run>/task.json          {"task": the recipe's task settings}
    <run>/documents.json     what the recipe keeps of its data (vocabularies, tokenisers, a corpus's pairs)
    <run>/training.json      the Training settings, and the steps and seconds done
    <run>/model.safetensors  the final weights (never pickle)
    <run>/metrics.csv        one row per validation: step, seconds, training loss, valid_* metrics
    <run>/metrics.json       the final model's validation metrics
    <run>/formation.json     the probe inputs' attention at every validation (attnzoo.training.formation)
    <run>/checkpoints/       Lightning's training checkpoints (safetensors + JSON), for --resume

Every path is a fixed name inside the run directory; nothing outside it is read, written or deleted.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import shutil
import types
import typing
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from attnzoo.recipes.base import Recipe, Training
from attnzoo.registry import config_class, create_model, load_recipe

CONFIG_FILE = "config.json"
TASK_FILE = "task.json"
DOCUMENTS_FILE = "documents.json"
TRAINING_FILE = "training.json"
WEIGHTS_FILE = "model.safetensors"
METRICS_CSV = "metrics.csv"
METRICS_FILE = "metrics.json"
FORMATION_FILE = "formation.json"
CHECKPOINTS = "checkpoints"
RUN_FILES = (
    CONFIG_FILE, TASK_FILE, DOCUMENTS_FILE, TRAINING_FILE, WEIGHTS_FILE, METRICS_CSV, METRICS_FILE, FORMATION_FILE
)  # fmt: skip


def read_safetensors(path: Path) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Tensors and metadata of a safetensors file; ``ValueError`` for anything else (a pickle, say)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        return load_file(str(path)), metadata
    except (SafetensorError, OSError) as error:
        raise ValueError(
            f"{path}: not a safetensors file ({error}); attnzoo never loads pickled checkpoints"
        ) from error


class RunError(ValueError):
    """A run directory that cannot be used as asked (missing, not a run, already there)."""


def from_json(cls: type, values: Any, source: Path) -> Any:
    """Dataclass ``cls`` from its JSON dict in file ``source``: every field present, of its type.

    Lists come back as tuples; a missing, unknown or mistyped field raises :class:`RunError`
    naming the file (never a silent default), except a field the class lists in
    ``fields_added_later``: a run written before it existed gets the value it was trained with.
    """
    if not isinstance(values, dict):
        raise RunError(f"{source}: expected an object of {cls.__name__} fields, got {type(values).__name__}")
    values = getattr(cls, "fields_added_later", {}) | values
    hints = typing.get_type_hints(cls)
    names = [item.name for item in dataclasses.fields(cls)]
    for name in names:
        if name not in values:
            raise RunError(f"{source}: the {cls.__name__} field {name!r} is missing")
    for key, value in values.items():
        if key not in hints:
            raise RunError(f"{source}: {cls.__name__} has no field {key!r}")
        if not json_matches(value, hints[key]):
            raise RunError(f"{source}: {cls.__name__} field {key!r} expected {hints[key]}, got {value!r}")
    try:
        return cls(**{key: tuple(value) if isinstance(value, list) else value for key, value in values.items()})
    except (TypeError, ValueError) as error:
        raise RunError(f"{source}: {error}") from None


def json_matches(value: Any, annotation: Any) -> bool:
    """Whether a JSON value fits a field's annotation (``int``, ``float | None``, ``tuple[int, ...]``)."""
    options = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) else ()
    if options:
        return any(json_matches(value, option) for option in options)
    if annotation is type(None):
        return value is None
    if typing.get_origin(annotation) is tuple:
        return isinstance(value, list) and all(json_matches(item, typing.get_args(annotation)[0]) for item in value)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, annotation) if isinstance(annotation, type) else True


class Run:
    """The run directory ``path`` (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def checkpoint(self) -> Path:
        """``<run>/checkpoints/last.ckpt``: where training resumes from."""
        return self.path / CHECKPOINTS / "last.ckpt"

    # ---- creating ------------------------------------------------------------------------------

    def prepare(self, *, resume: bool, overwrite: bool) -> None:
        """Check the directory for a new run (or a resumed one); ``--overwrite`` clears a finished run."""
        if resume and overwrite:
            raise RunError("--resume continues a run and --overwrite replaces it: give one of them")
        started = self.file(CONFIG_FILE).is_file() or self.checkpoint.is_file()
        if resume:
            if not self.checkpoint.is_file():
                raise RunError(f"{self.checkpoint}: no checkpoint to resume from")
            return
        if started and not overwrite:
            raise RunError(f"{self.path} holds a run already: --resume continues it, --overwrite replaces it")
        if self.path.exists() and not self.path.is_dir():
            raise RunError(f"{self.path} is a file, not a directory")
        if not started and self.path.is_dir() and any(self.path.iterdir()):
            raise RunError(f"{self.path} is not empty and holds no attnzoo run: choose another --out")
        self.clear()
        self.path.mkdir(parents=True, exist_ok=True)

    def clear(self) -> None:
        """Delete the files a run writes (only those names, only inside the run directory)."""
        for name in RUN_FILES:
            self.file(name).unlink(missing_ok=True)
        checkpoints = self.path / CHECKPOINTS
        if checkpoints.is_dir() and not checkpoints.is_symlink():
            shutil.rmtree(checkpoints)

    def write_settings(self, name: str, preset: str | None, config: Any, task: Any, documents: dict) -> None:
        """Write ``config.json`` and ``task.json``."""
        self._write_json(CONFIG_FILE, {"model": name, "preset": preset, "config": dataclasses.asdict(config)})
        self._write_json(TASK_FILE, {"task": dataclasses.asdict(task)})
        self._write_json(DOCUMENTS_FILE, documents)

    def write_training(self, training: Training, **progress: Any) -> None:
        """Write ``training.json``: the settings and how far training went (steps, seconds)."""
        self._write_json(TRAINING_FILE, {"training": dataclasses.asdict(training), "done": progress})

    def save_model(self, model: nn.Module) -> None:
        """Write the weights to ``model.safetensors``."""
        state = {key: value.detach().cpu().contiguous().clone() for key, value in model.state_dict().items()}
        save_file(state, str(self.file(WEIGHTS_FILE)))

    def write_metrics(self, metrics: dict[str, float]) -> None:
        self._write_json(METRICS_FILE, metrics)

    def append_metrics(self, row: dict[str, Any]) -> None:
        """Add one validation row to ``metrics.csv`` (the header is written with the first row)."""
        path = self.file(METRICS_CSV)
        new = not path.is_file()
        with path.open("a", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(row), extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(row)

    def write_formation(self, document: dict[str, Any]) -> None:
        """Write ``formation.json`` (its format: :mod:`attnzoo.training.formation`)."""
        self._write_json(FORMATION_FILE, document)

    def read_formation(self) -> dict[str, Any]:
        """``formation.json``, or an empty record (``{"snapshots": []}``) for a run without one."""
        if not self.file(FORMATION_FILE).is_file():
            return {"snapshots": []}
        document = self.read_json(FORMATION_FILE)
        if not isinstance(document, dict) or not isinstance(document.get("snapshots"), list):
            raise RunError(f"{self.file(FORMATION_FILE)}: expected an object with a list of snapshots")
        return document

    def _write_json(self, name: str, document: Any) -> None:
        temporary = self.file(name + ".tmp")
        temporary.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        temporary.replace(self.file(name))

    # ---- reading -------------------------------------------------------------------------------

    def read_json(self, name: str) -> Any:
        path = self.file(name)
        if not path.is_file():
            raise RunError(f"{path}: no such file; is {self.path} a run directory written by `attnzoo train`?")
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise RunError(f"{path}: not valid JSON ({error})") from None

    def entry(self, name: str, key: str) -> Any:
        """``document[key]`` of the run's JSON file ``name``; its absence names the file."""
        document = self.read_json(name)
        if not isinstance(document, dict) or key not in document:
            raise RunError(f"{self.file(name)}: expected a key {key!r}, which is missing")
        return document[key]

    @property
    def model_name(self) -> str:
        name = self.entry(CONFIG_FILE, "model")
        try:
            config_class(name)
        except ValueError as error:
            raise RunError(f"{self.file(CONFIG_FILE)}: {error}") from None
        return name

    @property
    def preset(self) -> str | None:
        return self.read_json(CONFIG_FILE).get("preset")

    def config(self) -> Any:
        """The model's config dataclass."""
        return from_json(config_class(self.model_name), self.entry(CONFIG_FILE, "config"), self.file(CONFIG_FILE))

    def training(self) -> Training:
        return from_json(Training, self.entry(TRAINING_FILE, "training"), self.file(TRAINING_FILE))

    def recipe(self, **task_overrides: Any) -> Recipe:
        """The model's recipe with the run's task settings (and ``task_overrides``)."""
        recipe = load_recipe(self.model_name)
        settings = from_json(recipe.Task, self.entry(TASK_FILE, "task"), self.file(TASK_FILE))
        return load_recipe(self.model_name, dataclasses.replace(settings, **task_overrides))

    def load_model(self, map_location: str | torch.device = "cpu") -> nn.Module:
        """The final model, in eval mode. Never unpickles."""
        model = create_model(self.model_name, self.config())
        state, _ = read_safetensors(self.file(WEIGHTS_FILE))
        try:
            model.load_state_dict({key: value.to(map_location) for key, value in state.items()})
        except RuntimeError as error:
            problem = str(error).strip().splitlines()[-1].strip()
            raise RunError(f"{self.file(WEIGHTS_FILE)}: the weights do not fit config.json ({problem})") from None
        return model.to(map_location).eval()

    def build_task(self, recipe: Recipe | None = None) -> Any:
        """The run's data, rebuilt from its settings and seed; refused if they no longer give its vocabularies."""
        recipe = recipe or self.recipe()
        saved = self.read_json(DOCUMENTS_FILE) if self.file(DOCUMENTS_FILE).is_file() else {}
        try:
            return recipe.restore_task(self.training().seed, saved)
        except ValueError as error:
            raise RunError(f"{self.path}: {error}") from None

    # ---- using a trained run from Python --------------------------------------------------------

    @functools.cached_property
    def model(self) -> nn.Module:
        """The final model (loaded once), in eval mode."""
        return self.load_model()

    @functools.cached_property
    def task(self) -> Any:
        """The run's data (built once)."""
        return self.build_task()

    def translate(self, texts: list[str], beam: int = 1) -> list[Any]:
        """Text models: ``Translation(output, source_tokens, output_tokens, alignment)`` per text."""
        recipe = self.recipe()
        if not hasattr(recipe, "translate"):
            raise RunError(f"{self.path} holds a {self.model_name} model, which does not translate text")
        return recipe.translate(self.model, self.task, list(texts), beam)

    def evaluate(
        self,
        pairs: list[tuple[str, str]] | None = None,
        *,
        split: str = "test",
        beam: int = 1,
        task_settings: dict[str, Any] | None = None,
    ) -> dict:
        """The recipe's metrics on ``split``, or (text models) on ``(source, reference)`` ``pairs`` or
        with a beam; ``task_settings`` evaluate on other task settings (e.g. a longer length)."""
        recipe = self.recipe(**(task_settings or {}))
        task = recipe.build_task(self.training().seed) if task_settings else self.task
        if pairs is None and beam == 1:
            return recipe.evaluate(self.model, task, split)
        if not hasattr(recipe, "evaluate_pairs"):
            raise RunError(
                f"--data and --beam are for text models; {self.model_name} evaluates with a split and --task"
            )
        return recipe.evaluate_pairs(self.model, task, pairs or getattr(task, split).pairs, beam)

    def metrics_rows(self) -> list[dict[str, str]]:
        """The rows of ``metrics.csv``."""
        path = self.file(METRICS_CSV)
        if not path.is_file():
            return []
        with path.open(encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))
