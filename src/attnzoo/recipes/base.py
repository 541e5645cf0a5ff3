"""What every recipe has: the training settings and the :class:`Recipe` base class.

A recipe is how a paper trains and measures its model: the task (data) it builds, the batches,
the loss and what it logs, the evaluation, the pictures, and a tiny example for tests. It is
torch + tasks + viz only: no Lightning, no Typer, no file I/O. The generic trainer
(:mod:`attnzoo.training`) and the command line (:mod:`attnzoo.cli`) drive any recipe through
the methods below; a paper overrides the ones it needs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Sampler, TensorDataset

# Seeds of the data splits, added to the run's seed: one table for every recipe.
SPLIT_SEEDS = {"train": 0, "valid": 1_000_003, "test": 2_000_003}


def split_seed(split: str, seed: int) -> int:
    """The generator seed of data split ``split`` of a run seeded ``seed``."""
    if split not in SPLIT_SEEDS:
        raise ValueError(f"split: expected one of {', '.join(SPLIT_SEEDS)}; got {split!r}")
    return SPLIT_SEEDS[split] + seed


@dataclass(frozen=True)
class Training:
    """How long and how fast to train: the shared options of every ``attnzoo train`` command."""

    steps: int = 2_000  # optimiser steps (with epochs: whichever ends first; -1: until epochs)
    epochs: int | None = None  # passes over the training data (None: until steps)
    batch_size: int = 128  # examples per optimiser step
    lr: float = 1e-3  # the learning rate (schedule "warmup": the factor of d_model^-0.5 · min(...))
    betas: tuple[float, float] = (0.9, 0.999)  # Adam's β1, β2 (the Transformer paper: 0.9, 0.98)
    weight_decay: float = 0.0  # decoupled weight decay (AdamW); 0: plain Adam
    schedule: str = "cosine"  # "constant", "cosine" (to final_lr_fraction) or "warmup" (Vaswani §5.3)
    final_lr_fraction: float = 0.05  # cosine: the last rate as a fraction of lr
    warmup_steps: int = 400  # warmup: steps of linear increase before the inverse square-root decay
    clip: float | None = 1.0  # clip the gradient's global norm to this (None: no clipping)
    ema_decay: float | None = None  # end with an exponential moving average of the weights (None: no)
    minutes: float | None = None  # wall-clock budget of the optimisation (validation excluded)
    val_every: int = 200  # optimiser steps between validations (each logged to metrics.csv)
    checkpoint_every: int = 200  # optimiser steps between checkpoints (checkpoints/last.ckpt)
    target: float | None = None  # stop once the recipe's selection metric reaches this on validation
    precision: str = "32"  # "32", or "bf16-mixed": matrix products in bfloat16 (pays on CPUs with AVX512-BF16/AMX)
    seed: int = 0  # seed of the data and the weights

    # Fields added after runs were first written, and the value those older runs trained with:
    # reading such a run's training.json fills them in (any other missing field is an error).
    fields_added_later = {"precision": "32"}

    def __post_init__(self) -> None:
        checks = {
            "batch_size": self.batch_size >= 1,
            "lr": self.lr > 0,
            "weight_decay": self.weight_decay >= 0,
            "schedule": self.schedule in ("constant", "cosine", "warmup"),
            "ema_decay": self.ema_decay is None or 0 < self.ema_decay < 1,
            "minutes": self.minutes is None or self.minutes > 0,
            "val_every": self.val_every >= 1,
            "checkpoint_every": self.checkpoint_every >= 1,
            "steps": self.steps >= 1 or (self.steps == -1 and self.epochs is not None),
            "epochs": self.epochs is None or self.epochs >= 1,
            "precision": self.precision in ("32", "bf16-mixed"),
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(
                    f"training {name}: got {getattr(self, name)!r}, which is out of range ({_RANGES[name]})"
                )


_RANGES = {
    "batch_size": ">= 1",
    "lr": "> 0",
    "weight_decay": ">= 0",
    "schedule": "constant, cosine or warmup",
    "ema_decay": "in (0, 1)",
    "minutes": "> 0",
    "val_every": ">= 1",
    "checkpoint_every": ">= 1",
    "steps": ">= 1, or -1 with epochs",
    "epochs": ">= 1",
    "precision": "32 or bf16-mixed",
}

Picture = Callable[[nn.Module, Any, Path], None]  # (model, task, path): draws one picture to path


@dataclass(frozen=True)
class Command:
    """A command a recipe adds to ``attnzoo``: ``attnzoo NAME RUN ARGUMENT... [--out FILE] [--example]``.

    ``run(model, task, arguments, out)`` answers one user input (``arguments``: the positional
    strings, as many as ``arguments`` names) and returns the text to print; it raises ``ValueError``
    with one clear line on bad input (an unreadable file, an unknown word). ``out``, when given, is
    where to draw the input's attention (or the command's picture). ``example(task, arguments)``
    writes a working example input at the file arguments' paths: ``--example`` runs it first, so a
    user (and the README test) can try the command without an input of their own.
    """

    run: Callable[[nn.Module, Any, list[str], Path | None], str]
    arguments: tuple[str, ...]  # the positional arguments' names as help shows them, e.g. ("IMAGE",)
    help: str  # one line: what the command does
    example: Callable[[Any, list[str]], None] | None = None  # writes example inputs at these paths


class Recipe:
    """How a paper trains and measures its models (the base: override what the paper needs).

    A recipe object is bound to one model name and its task settings (``self.settings``).

    Class attributes a recipe sets:
        Task: the frozen dataclass of the task settings (data sizes, variant, loss options).
        training: its default :class:`Training`.
        selection: ``(metric, "min" | "max")``: the validation metric that ``--target`` and
            ``keep_best`` read (e.g. ``("exact", "max")``).
        keep_best: end training with the weights of the best validation so far, not the last.
    """

    Task: type = type(None)
    training = Training()
    selection: tuple[str, str] = ("loss", "min")
    keep_best = False

    def __init__(self, model_name: str, settings: Any = None) -> None:
        self.model_name = model_name
        self.settings = settings if isinstance(settings, self.Task) else self.task_settings(settings)

    # ---- data ------------------------------------------------------------------------------

    @classmethod
    def unavailable(cls) -> str | None:
        """Why this recipe cannot build its data on this machine (e.g. a program it runs is not
        installed: how to install it), or None. Tests that build the data skip with this reason."""
        return None

    def build_task(self, seed: int) -> Any:
        """The task's data (an object the other methods read) for ``self.settings`` (a ``Task``)."""
        raise NotImplementedError

    def restore_task(self, seed: int, documents: dict[str, Any]) -> Any:
        """A saved run's task: rebuilt from the settings and seed, refused if it no longer gives the
        run's documents (e.g. its vocabularies); a recipe that keeps its data in the documents
        rebuilds from them instead."""
        import json

        task = self.build_task(seed)
        if json.loads(json.dumps(self.task_documents(task))) != documents:
            raise ValueError(f"the task's data no longer give the run's {', '.join(documents)} (did the data change?)")
        return task

    def sized_config(self, config: Any, task: Any) -> Any:
        """The model config with the sizes that come from the data (vocabularies, features)."""
        return config

    def task_documents(self, task: Any) -> dict[str, Any]:
        """JSON documents the run keeps beside the task (e.g. vocabularies); checked on reload."""
        return {}

    def train_batches(self, task: Any, batch_size: int, seed: int) -> Iterable:
        """The training batches of one epoch (a ``DataLoader``, seeded by ``seed``)."""
        raise NotImplementedError

    def on_epoch_start(self, task: Any, epoch: int) -> None:
        """Called before each training epoch (e.g. to draw new canvases)."""

    # ---- training --------------------------------------------------------------------------

    def loss(self, model: nn.Module, batch: Any, state: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """The training loss of one batch and what to log beside it (``{"nll": ...}``).

        ``state`` is the recipe's own training state (e.g. a moving-average baseline): a dict of
        tensors kept in the checkpoints.
        """
        raise NotImplementedError

    def parameter_groups(self, model: nn.Module, training: Training) -> list[dict[str, Any]] | None:
        """Optimiser parameter groups with their own options, e.g. a generator and a discriminator at
        two learning rates (``[{"params": ..., "lr": ...}, ...]``); None: one group, ``training.lr``."""
        return None

    def optimizer_settings(self, training: Training, config: Any) -> Training:
        """The settings the optimiser is built with (e.g. a rate scaled by the model's width)."""
        return training

    # ---- measuring -------------------------------------------------------------------------

    def evaluate(self, model: nn.Module, task: Any, split: str) -> dict[str, float]:
        """The paper's metrics of ``model`` on ``split`` (``"train"``, ``"valid"`` or ``"test"``)."""
        raise NotImplementedError

    def pictures(self, config: Any = None) -> dict[str, Picture]:
        """The pictures this recipe draws for a model of ``config`` (None: every picture it can draw):
        ``{name: draw(model, task, path)}``."""
        return {}

    explore_input = "none"  # what `attnzoo serve` lets a user give this model: "text", "image" (a PNG) or "none"

    def attention_views(self, model: nn.Module, task: Any, inputs: list[str] | None = None) -> list[dict[str, Any]]:
        """The model's attention as explorer views (:mod:`attnzoo.explorer.views`; built with its
        ``*_view`` functions), for ``attnzoo explore``, ``attnzoo serve`` and the formation record.

        ``inputs``: the user's inputs, one string each (a text, or a PNG's path for
        ``explore_input = "image"``); None: the recipe's fixed probe examples (e.g. the first test
        examples), the same at every call, since training records them at every validation. Bad
        input raises ``ValueError`` with one line. ``[]``: the model has no attention to show.
        """
        return []

    def commands(self) -> dict[str, Command]:
        """The commands this recipe adds to ``attnzoo`` (e.g. ``{"caption": Command(...)}``); several
        recipes may offer the same command name, each for its own runs."""
        return {}

    def example(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """A tiny ``(model config overrides, task settings overrides)`` for the registry test."""
        return {}, {}

    # ---- helpers ---------------------------------------------------------------------------

    def task_settings(self, overrides: Mapping[str, Any] | None = None) -> Any:
        """The ``Task`` dataclass with ``overrides``."""
        from attnzoo.registry import build_dataclass

        return build_dataclass(self.Task, dict(overrides or {}), what=f"{self.model_name} task")


class EpochShuffle(Sampler[int]):
    """A new random order every epoch, drawn from ``(seed, epoch)`` alone.

    Lightning calls ``set_epoch`` before each epoch, so a run resumed at an epoch boundary sees
    the same order as one that was never stopped. A run resumed in the middle of an epoch
    continues that epoch's order after the examples it had trained on (:meth:`resume_within`).
    """

    def __init__(self, size: int, seed: int) -> None:
        self.size, self.seed, self.epoch = size, seed, 0
        self.resumed: tuple[int, int] | None = None  # (epoch, examples of it already trained on)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def resume_within(self, epoch: int, served: int) -> None:
        """Start the next pass, if it is epoch ``epoch``, after that epoch's first ``served`` examples."""
        self.resumed = (epoch, served)

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.size, generator=generator).tolist()
        skipped = self.resumed[1] if self.resumed is not None and self.resumed[0] == self.epoch else 0
        self.resumed = None
        return iter(order[skipped:])

    def __len__(self) -> int:
        return self.size


def shuffled_batches(
    dataset: Dataset,
    batch_size: int,
    seed: int,
    *,
    collate_fn: Callable | None = None,
    drop_last: bool = False,
    generator: torch.Generator | None = None,
) -> DataLoader:
    """A DataLoader of ``dataset`` in an order that depends on ``(seed, epoch)`` only (:class:`EpochShuffle`).

    ``generator``: the DataLoader's own (its workers' seeds), so that iterating it leaves torch's
    global generator alone. A ``TensorDataset`` without a ``collate_fn`` is batched by one index
    operation per tensor (:class:`IndexedTensors`), not example by example.
    """
    if isinstance(dataset, TensorDataset) and collate_fn is None:
        dataset, collate_fn = IndexedTensors(*dataset.tensors), as_batch
    sampler = EpochShuffle(len(dataset), seed)
    options = {"collate_fn": collate_fn, "drop_last": drop_last, "generator": generator}
    return EpochLoader(dataset, batch_size=batch_size, sampler=sampler, **options)


class IndexedTensors(TensorDataset):
    """A ``TensorDataset`` whose batch is one index operation per tensor (the DataLoader calls
    ``__getitems__`` with a batch's indices), the same list of tensors as the default collation."""

    def __getitems__(self, indices: list[int]) -> list[Tensor]:
        chosen = torch.tensor(indices)
        return [tensor[chosen] for tensor in self.tensors]


def as_batch(batch: list[Tensor]) -> list[Tensor]:
    """The collation of :class:`IndexedTensors`: its batch is already made."""
    return batch


class EpochLoader(DataLoader):
    """A DataLoader over an :class:`EpochShuffle` that a run can resume in the middle of an epoch.

    Lightning restarts a loader from the start of its epoch on resume; the trainer's
    ``EpochStart`` callback tells the sampler how many of the epoch's batches the run had
    already trained on (:meth:`EpochShuffle.resume_within`), so nothing is seen twice or skipped.
    The position comes from the trainer's restored step count, so the loader keeps no state of its
    own (``state_dict`` is Lightning's sign that the loader is resumable).
    """

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Nothing to restore: the position is the trainer's step (see the class docstring)."""


def device_of(model: nn.Module) -> torch.device:
    """The device of a model's first parameter (CPU for a model without parameters)."""
    return next(model.parameters(), torch.empty(0)).device


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """``with evaluating(model) as model:`` the model in eval mode inside the block (dropout off, batch
    norm on its running statistics); its mode before is restored after, also when the block raises."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def to_device(value: Any, device: torch.device) -> Any:
    """``value`` (a tensor, or a tuple/list/dict/dataclass of them) moved to ``device``."""
    if isinstance(value, Tensor):
        return value.to(device)
    if isinstance(value, dict):
        return {key: to_device(item, device) for key, item in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(to_device(item, device) for item in value))
    if isinstance(value, (list, tuple)):
        return type(value)(to_device(item, device) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {item.name: to_device(getattr(value, item.name), device) for item in dataclasses.fields(value)}
        return dataclasses.replace(value, **fields)
    return value


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)
