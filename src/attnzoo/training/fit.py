"""The one way anything trains: ``train("seq2seq", "runs/dates", preset="bahdanau")``.

:func:`train` builds the settings (the config's defaults, then the preset, then the overrides),
the recipe's data, the model, and fits it with Lightning: safe checkpoints (no pickle) every
``checkpoint_every`` steps, ``resume=True`` continuing a stopped run exactly, data-parallel
processes with ``devices`` / ``num_nodes`` (DDP; gloo on the CPU, under ``torchrun`` across
nodes), an exponential moving average of the weights, a wall-clock budget, validation rows in
``metrics.csv``. It writes the run directory (:mod:`attnzoo.training.run`) and returns it.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint, WeightAveraging
from torch.optim.swa_utils import get_ema_multi_avg_fn

from attnzoo.recipes.base import Recipe, Training, split_seed
from attnzoo.registry import load_recipe, make_config, preset, replace_fields
from attnzoo.training.callbacks import EpochStart, StepProgress, Validation
from attnzoo.training.checkpoint import SafeCheckpointIO
from attnzoo.training.machine import set_threads
from attnzoo.training.module import RecipeModule
from attnzoo.training.run import Run


def quiet_lightning() -> None:
    """Hide Lightning's start-up chatter (GPU notices, adverts, advice about workers, deprecations)."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    for message in (
        ".*does not have many workers.*",
        ".*Checkpoint directory .* exists and is not empty.*",
        r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",
        ".*GPU available but not used.*",
        ".*litlogger.*",
        ".*The number of training batches .* is smaller than the logging interval.*",
        ".*Your `IterableDataset` has `__len__` defined.*",
    ):
        warnings.filterwarnings("ignore", message=message)


def settings_for(
    name: str,
    preset_name: str | None,
    model: Mapping[str, Any] | None,
    task: Mapping[str, Any] | None,
    training: Mapping[str, Any] | None,
) -> tuple[Any, Recipe, Training]:
    """The model config, the recipe (with its task settings) and the training settings of a new run."""
    chosen = preset(name, preset_name)
    config = make_config(name, preset_name, **(model or {}))
    recipe = load_recipe(name, {**chosen.task, **(task or {})})
    fields = {**chosen.training, **(training or {})}
    return config, recipe, replace_fields(recipe.training, fields, what=f"{name} training")


def planned_steps(training: Training, batches_per_epoch: int | None) -> int:
    """The steps the run plans: ``steps``, or ``epochs`` of the data, whichever is fewer."""
    by_epochs = None if training.epochs is None or batches_per_epoch is None else training.epochs * batches_per_epoch
    options = [count for count in (training.steps if training.steps > 0 else None, by_epochs) if count]
    return min(options) if options else max(training.steps, 1)


class RunCheckpoint(ModelCheckpoint):
    """Lightning's checkpoint callback that restores no file path from a checkpoint.

    Lightning's own restores ``last_model_path`` / ``best_model_path`` from the file and deletes
    that path at its next save: a crafted checkpoint could name any file. This one keeps only
    its own ``dirpath`` (``<run>/checkpoints``) and writes ``last.ckpt`` there.
    """

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore nothing: the run's checkpoint paths are fixed names, not data from the file."""


def make_trainer(run: Run, training: Training, total_steps: int, callbacks: list, **options: Any) -> L.Trainer:
    """The Lightning ``Trainer``: safe checkpoints, clipping, EMA, step-counting progress, no logger."""
    checkpoint = RunCheckpoint(
        dirpath=run.path / "checkpoints",
        save_last=True,
        enable_version_counter=False,
        save_top_k=0,
        every_n_train_steps=training.checkpoint_every,
    )
    if training.ema_decay is not None:
        callbacks = [*callbacks, WeightAveraging(multi_avg_fn=get_ema_multi_avg_fn(training.ema_decay))]
    progress = options.pop("progress", True)
    return L.Trainer(
        default_root_dir=str(run.path),
        max_epochs=training.epochs if training.epochs is not None else -1,
        max_steps=total_steps,
        gradient_clip_val=training.clip,
        precision=training.precision,
        enable_progress_bar=progress,
        enable_model_summary=False,
        logger=False,
        num_sanity_val_steps=0,
        plugins=[SafeCheckpointIO()],
        callbacks=[checkpoint, *([StepProgress(total_steps)] if progress else []), *callbacks],
        **options,
    )


def refuse_resized_fields(config: Any, sized: Any, overrides: Mapping[str, Any]) -> Any:
    """``sized`` (the config with the data's sizes), unless it replaced a field the user set:
    ``--set ways=3`` on a 5-way task must be an error, not silently 5."""
    for key, value in overrides.items():
        if getattr(sized, key) != getattr(config, key):
            raise ValueError(
                f"--set {key}={value}: the task sets this field ({key}={getattr(sized, key)}); "
                "change the task's option instead (see: attnzoo train MODEL --help)"
            )
    return sized


def train(
    name: str,
    out: Any,
    *,
    preset: str | None = None,
    model: Mapping[str, Any] | None = None,
    task: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    devices: int = 1,
    num_nodes: int = 1,
    accelerator: str = "cpu",
    threads: int | None = None,
    progress: bool = True,
) -> Run:
    """Train registered model ``name`` into the run directory ``out`` and return the :class:`Run`.

    Args:
        name: the registry name. preset: one of its presets (None: the config's defaults).
        model / task / training: overrides of the model config, the recipe's task settings and
            :class:`~attnzoo.recipes.Training` (``{"steps": 500, "lr": 1e-3}``).
        resume: continue the stopped run in ``out`` from its checkpoint (its saved settings; only
            ``training`` may change, e.g. more steps). overwrite: replace a finished run in ``out``.
        devices, num_nodes: data-parallel processes per node and nodes (DDP).
        accelerator: ``"cpu"``, ``"gpu"`` or ``"auto"``. threads: torch CPU threads per process.
        progress: show the progress bar (on a terminal).
    """
    quiet_lightning()
    set_threads(threads)
    for option, value in (("devices", devices), ("num_nodes", num_nodes)):
        if value < 1:
            raise ValueError(f"{option}: expected >= 1, got {value}")
    run = Run(out)
    if not resume:  # bad settings are refused before the directory is touched
        config, recipe, settings = run_settings(run, name, preset, model, task, training, resume)
    if not is_child_process():
        run.prepare(resume=resume, overwrite=overwrite)
    if resume:
        config, recipe, settings = run_settings(run, name, preset, model, task, training, resume)
    L.seed_everything(settings.seed, workers=True, verbose=False)
    data = run.build_task(recipe) if resume else recipe.build_task(settings.seed)
    config = refuse_resized_fields(config, recipe.sized_config(config, data), {} if resume else model or {})
    batches, total = training_batches(recipe, data, settings)
    module = RecipeModule(recipe, config, settings, total)
    validation = Validation(
        run, data, settings.val_every, keep_best=recipe.keep_best, target=settings.target, minutes=settings.minutes
    )
    saved_preset = run.preset if resume else preset
    written = SettingsWriter(run, saved_preset, config, recipe, data, settings)
    machine = {"devices": devices, "num_nodes": num_nodes, "accelerator": accelerator}
    strategy = "ddp" if devices * num_nodes > 1 else "auto"
    callbacks = [written, validation, EpochStart(data)]
    trainer = make_trainer(run, settings, total, callbacks, progress=progress, strategy=strategy, **machine)
    trainer.fit(module, batches, ckpt_path=str(run.checkpoint) if resume else None)
    if trainer.is_global_zero:
        finish(run, module, validation, settings, trainer.global_step)
    return run


def train_once(name: str, out: Any, *, training: Mapping[str, Any], **settings: Any) -> Run:
    """:func:`train`, for scripts that are rerun: the finished run in ``out`` as it is; a stopped one
    resumed from its checkpoint (its own settings, ``training``'s budget); else a new run of ``name``
    with ``training`` and ``settings`` (preset, model, task, threads, progress...). So an experiment
    script that is stopped and started again trains nothing twice."""
    run = Run(out)
    if run.file("model.safetensors").is_file():
        print(f"{run.path}: already trained", flush=True)
        return run
    machine = {key: settings[key] for key in ("threads", "progress", "devices", "num_nodes") if key in settings}
    if run.checkpoint.is_file():
        print(f"{run.path}: resuming from its checkpoint", flush=True)
        return train(name, out, training=training, resume=True, **machine)
    return train(name, out, training=training, **settings)


class SettingsWriter(L.Callback):
    """Writes the run's settings (config, task, documents, training) when training starts, in the first process."""

    def __init__(self, run: Run, preset: str | None, config: Any, recipe: Recipe, data: Any, settings: Training):
        self.run, self.preset, self.config, self.recipe, self.data, self.settings = (
            run, preset, config, recipe, data, settings
        )  # fmt: skip

    def on_train_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        if trainer.is_global_zero:
            documents = self.recipe.task_documents(self.data)
            self.run.write_settings(self.recipe.model_name, self.preset, self.config, self.recipe.settings, documents)
            self.run.write_training(self.settings, steps=trainer.global_step, seconds=0.0)


def run_settings(
    run: Run, name: str, preset: str | None, model: Any, task: Any, training: Any, resume: bool
) -> tuple[Any, Recipe, Training]:
    """The model config, recipe and training settings: a resumed run's own (its training settings
    may change, e.g. more steps), or a new run's from the preset and the overrides."""
    if not resume:
        return settings_for(name, preset, model, task, training)
    if preset is not None or model or task:
        raise ValueError("--resume continues a run with its own model and task: give only training options")
    settings = replace_fields(run.training(), dict(training or {}), what=f"{name} training")
    return run.config(), run.recipe(), settings


def training_batches(recipe: Recipe, data: Any, settings: Training) -> tuple[Any, int]:
    """The recipe's training batches and the steps the run plans; refuses a set smaller than a batch."""
    batches = recipe.train_batches(data, settings.batch_size, split_seed("train", settings.seed))
    per_epoch = len(batches) if hasattr(batches, "__len__") else None
    if per_epoch == 0:
        raise ValueError(
            f"the training set is smaller than one batch ({settings.batch_size}): lower --batch-size or add data"
        )
    return batches, planned_steps(settings, per_epoch)


def finish(run: Run, module: RecipeModule, validation: Validation, settings: Training, steps: int) -> None:
    """Save the final weights (the best validation's with ``keep_best``), metrics and progress."""
    metrics = validation.last_metrics
    if validation.best is not None:
        module.model.load_state_dict(validation.best["state"])
        metrics = module.recipe.evaluate(module.model, validation.task, "valid")
    run.save_model(module.model)
    kept = None if validation.best is None else validation.best["step"]
    run.write_metrics({**metrics, "step": steps, "kept_step": kept})
    run.write_training(settings, steps=steps, seconds=round(module.seconds, 2), kept_step=kept)


def is_child_process() -> bool:
    """Whether this is a data-parallel process other than the first (Lightning's or torchrun's)."""
    return os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")) != "0"
