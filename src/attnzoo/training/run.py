"""A run directory: the only code that reads and writes one.

    <run>/config.json        {"model": registry name, "preset": name or null, "config": the model config}
    <run>/task.json          {"task": the recipe's task settings, "documents": e.g. vocabularies}
    <run>/training.json      the Training settings, and the steps and seconds done
    <run>/model.safetensors  the final weights (never pickle)
    <run>/metrics.csv        one row per validation: step, seconds, training loss, valid_* metrics
    <run>/metrics.json       the final model's validation metrics
    <run>/checkpoints/       Lightning's training checkpoints (safetensors + JSON), for --resume

Every path is a fixed name inside the run directory; nothing outside it is read, written or deleted.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import nn

from attnzoo.recipes.base import Recipe, Training
from attnzoo.registry import config_class, create_model, load_recipe

CONFIG_FILE = "config.json"
TASK_FILE = "task.json"
TRAINING_FILE = "training.json"
WEIGHTS_FILE = "model.safetensors"
METRICS_CSV = "metrics.csv"
METRICS_FILE = "metrics.json"
CHECKPOINTS = "checkpoints"
RUN_FILES = (CONFIG_FILE, TASK_FILE, TRAINING_FILE, WEIGHTS_FILE, METRICS_CSV, METRICS_FILE)


class RunError(ValueError):
    """A run directory that cannot be used as asked (missing, not a run, already there)."""


def from_json(cls: type, values: dict[str, Any]) -> Any:
    """Dataclass ``cls`` from its JSON dict (lists back to tuples where the default is a tuple)."""
    fields = {item.name: item for item in dataclasses.fields(cls)}
    unknown = [key for key in values if key not in fields]
    if unknown:
        raise RunError(f"{cls.__name__}: the run has a field {unknown[0]!r} this version does not know")
    return cls(**{key: tuple(value) if isinstance(value, list) else value for key, value in values.items()})


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
        self._write_json(TASK_FILE, {"task": dataclasses.asdict(task), "documents": documents})

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

    @property
    def model_name(self) -> str:
        return self.read_json(CONFIG_FILE)["model"]

    @property
    def preset(self) -> str | None:
        return self.read_json(CONFIG_FILE).get("preset")

    def config(self) -> Any:
        """The model's config dataclass."""
        document = self.read_json(CONFIG_FILE)
        return from_json(config_class(document["model"]), document["config"])

    def training(self) -> Training:
        return from_json(Training, self.read_json(TRAINING_FILE)["training"])

    def recipe(self, **task_overrides: Any) -> Recipe:
        """The model's recipe with the run's task settings (and ``task_overrides``)."""
        recipe = load_recipe(self.model_name)
        settings = from_json(recipe.Task, self.read_json(TASK_FILE)["task"])
        return load_recipe(self.model_name, dataclasses.replace(settings, **task_overrides))

    def load_model(self, map_location: str | torch.device = "cpu") -> nn.Module:
        """The final model, in eval mode. Never unpickles."""
        from attnzoo.training.checkpoint import read_safetensors

        model = create_model(self.model_name, self.config())
        state, _ = read_safetensors(self.file(WEIGHTS_FILE))
        model.load_state_dict({key: value.to(map_location) for key, value in state.items()})
        return model.to(map_location).eval()

    def build_task(self, recipe: Recipe | None = None) -> Any:
        """The run's data, rebuilt from its settings and seed; refused if they no longer give its vocabularies."""
        recipe = recipe or self.recipe()
        task = recipe.build_task(self.training().seed)
        saved = self.read_json(TASK_FILE).get("documents", {})
        if json.loads(json.dumps(recipe.task_documents(task))) != saved:
            raise RunError(
                f"{self.path}: the task's data no longer give the run's {', '.join(saved)} (did the data change?)"
            )
        return task

    def metrics_rows(self) -> list[dict[str, str]]:
        """The rows of ``metrics.csv``."""
        path = self.file(METRICS_CSV)
        if not path.is_file():
            return []
        with path.open(encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))
