"""The callbacks of the one fit: validation rows, the best weights, the budget, the epoch hook, progress."""

from __future__ import annotations

import math
import os
import sys
import time
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar

from attnzoo.recipes.base import EpochShuffle
from attnzoo.training.formation import FormationRecorder
from attnzoo.training.run import Run


class Validation(L.Callback):
    """Every ``every`` steps (and at the end): evaluate on the validation split and write a row.

    The row goes to ``metrics.csv`` (and TensorBoard when installed): step, epoch, seconds of
    optimisation, the means of the training logs since the last row, ``valid_*`` metrics, and
    the machine's load average (is the CPU shared?), and a snapshot of the recipe's probe views
    in ``formation.json`` (:mod:`attnzoo.training.formation`). Keeps the weights of the best validation
    (``recipe.selection``) when ``keep_best``; stops once the selection metric reaches ``target``
    or the ``minutes`` budget is spent.
    """

    def __init__(
        self, run: Run, task: Any, every: int, *, keep_best: bool, target: float | None, minutes: float | None
    ):
        self.run, self.task, self.every = run, task, every
        self.keep_best, self.target, self.minutes = keep_best, target, minutes
        self.best: dict[str, Any] | None = None  # {"value", "step", "state"}
        self.last_metrics: dict[str, float] = {}
        self.validated_step = -1
        self.tensorboard = None
        self.formation = FormationRecorder(run)

    def on_train_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        if trainer.is_global_zero:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tensorboard = SummaryWriter(str(self.run.path / "tensorboard"))
            except ImportError:  # tensorboard is optional
                self.tensorboard = None

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, index: int) -> None:
        step = trainer.global_step
        pl_module.tick()  # callbacks run before the module's own hook
        out_of_time = self.minutes is not None and pl_module.seconds >= 60 * self.minutes
        out_of_time = trainer.strategy.reduce_boolean_decision(out_of_time, all=False)
        if step % self.every == 0 or out_of_time:
            reached = self.validate(trainer, pl_module)
            if trainer.strategy.reduce_boolean_decision(reached or out_of_time, all=False):
                trainer.should_stop = True

    def on_train_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        if trainer.global_step != self.validated_step:
            self.validate(trainer, pl_module)
        if self.tensorboard is not None:
            self.tensorboard.close()

    def validate(self, trainer: L.Trainer, pl_module: Any) -> bool:
        """Evaluate, write the row, keep the best weights; whether the target is reached."""
        recipe, step = pl_module.recipe, trainer.global_step
        metrics = recipe.evaluate(pl_module.model, self.task, "valid")
        self.last_metrics, self.validated_step = metrics, step
        metric, direction = recipe.selection
        value = metrics.get(metric, math.nan)
        sign = 1 if direction == "min" else -1
        if self.keep_best and (self.best is None or sign * value <= sign * self.best["value"]):
            state = {key: tensor.detach().clone() for key, tensor in pl_module.model.state_dict().items()}
            self.best = {"value": value, "step": step, "state": state}
        if trainer.is_global_zero:
            row = {"step": step, "epoch": trainer.current_epoch, "seconds": round(pl_module.seconds, 2)}
            row |= pl_module.running_means() | {f"valid_{key}": value for key, value in metrics.items()}
            row["load"] = os.getloadavg()[0]
            self.run.append_metrics(row)
            self.formation.record(step, recipe, pl_module.model, self.task)
            if self.tensorboard is not None:
                for key, number in row.items():
                    self.tensorboard.add_scalar(key, number, step)
            report(trainer, row)
        return self.target is not None and sign * value <= sign * self.target

    def state_dict(self) -> dict[str, Any]:
        return {} if self.best is None else {"best": self.best}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best = state_dict.get("best")


def report(trainer: L.Trainer, row: dict[str, Any]) -> None:
    """Print a validation row as one line (above the progress bar when there is one)."""
    parts = [f"step {row['step']}/{trainer.max_steps}", f"{row['seconds']:.0f} s"]
    parts += [f"{key} {value:.4g}" for key, value in row.items() if key not in ("step", "epoch", "seconds", "load")]
    line = "  ".join(parts)
    bar = next((callback for callback in trainer.callbacks if isinstance(callback, StepProgress)), None)
    if bar is not None and bar.train_progress_bar is not None and bar.interactive:
        bar.train_progress_bar.write(line)
    else:
        print(line, flush=True)


class EpochStart(L.Callback):
    """Calls ``recipe.on_epoch_start(task, epoch)`` once before each training epoch.

    Also at the start of a resumed run, for which Lightning does not call ``on_train_epoch_start``
    in the epoch it restarts in (the recipe's new canvases would be missing there).
    """

    def __init__(self, task: Any) -> None:
        self.task, self.started = task, None

    def start(self, pl_module: Any, epoch: int) -> None:
        if self.started != epoch:
            pl_module.recipe.on_epoch_start(self.task, epoch)
            self.started = epoch

    def on_train_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        self.start(pl_module, trainer.current_epoch)
        resume_within_epoch(trainer)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        self.start(pl_module, trainer.current_epoch)


def resume_within_epoch(trainer: L.Trainer) -> None:
    """A run resumed in the middle of an epoch continues the epoch's order where it stopped.

    Lightning restarts the training loader from the start of the epoch; for an :class:`EpochShuffle`
    order (or a batch sampler with ``resume_within``), the sampler is told to pass over the batches
    the run has trained on (each step is one batch, every epoch the loader's length), so the resumed
    run sees what an uninterrupted one sees.
    """
    loader = trainer.train_dataloader
    sampler, batches = getattr(loader, "sampler", None), getattr(loader, "batch_sampler", None)
    per_epoch = trainer.num_training_batches  # Lightning's count: inf for a loader without a length (a stream)
    served = int(trainer.global_step % per_epoch) if math.isfinite(per_epoch) and per_epoch else 0
    if not served:  # batches of the current epoch already trained on
        return
    if isinstance(sampler, EpochShuffle):
        sampler.resume_within(trainer.current_epoch, served * loader.batch_size)  # in examples
    elif callable(getattr(batches, "resume_within", None)):  # a batch sampler (e.g. length buckets)
        batches.resume_within(trainer.current_epoch, served)  # in batches


class StepProgress(TQDMProgressBar):
    """Lightning's bar, counting global steps out of the run's total (not batches of an epoch).

    Shown on a terminal; elsewhere (``nohup``, a pipe) a plain line every tenth of the run or
    every 30 s, whichever comes first (step, seconds, loss), joins the validation lines.
    """

    def __init__(self, total_steps: int) -> None:
        super().__init__()
        self.total_steps = total_steps
        self.interactive = sys.stdout.isatty()
        self.printed = time.monotonic()
        if not self.interactive:
            self.disable()

    def on_train_epoch_start(self, trainer: L.Trainer, *_: Any) -> None:
        if self.train_progress_bar is None or not self.interactive:
            return
        self.train_progress_bar.reset(total=self.total_steps)
        self.train_progress_bar.initial = 0
        self.train_progress_bar.n = trainer.global_step
        self.train_progress_bar.set_description("training")

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, *_: Any) -> None:
        if not self.interactive:
            step, every = trainer.global_step, max(self.total_steps // 10, 1)
            due = step % every == 0 or time.monotonic() - self.printed >= 30
            if trainer.is_global_zero and due and step < self.total_steps:
                loss = trainer.progress_bar_metrics.get("loss", float("nan"))
                print(f"step {step}/{self.total_steps}  {pl_module.seconds:.0f} s  loss {loss:.4g}", flush=True)
                self.printed = time.monotonic()
            return
        if self.train_progress_bar is None:
            return
        self.train_progress_bar.n = trainer.global_step
        self.train_progress_bar.set_postfix(self.get_metrics(trainer, pl_module), refresh=False)
        self.train_progress_bar.refresh()

    def on_train_end(self, *args: Any) -> None:
        if self.train_progress_bar is not None:
            self.train_progress_bar.close()

    def get_metrics(self, trainer: L.Trainer, pl_module: Any) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics
