"""Training and evaluating the NTM and its LSTM baseline on the algorithmic tasks.

The loss is the binary cross-entropy of the sigmoid outputs over the scored steps (the answer
phase), averaged over their bits; the reported cost is the paper's: bits wrong per sequence
(:func:`attnzoo.tasks.algorithmic.bits_wrong`). Training batches come from a generator seeded
with the run's seed, one sequence length per batch drawn from the task's range.

:func:`train` writes a run directory: ``model.safetensors`` and ``config.json`` (the model),
``task.json`` (the task and the training settings) and ``history.jsonl`` (one line per logging
interval: steps, sequences, training seconds (wall clock and this process's CPU time), loss,
bits wrong on the training batches and on a fixed validation set). Training seconds count the
optimisation only, not the validation passes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

from attnzoo.models.ntm.model import NTM, LSTMBaselineConfig, NTMConfig
from attnzoo.models.registry import create_model
from attnzoo.tasks.algorithmic import (
    AlgorithmicBatch,
    AlgorithmicTask,
    TaskStream,
    bits_wrong,
    make_task,
    task_name,
)

MODELS = ("ntm", "lstm-baseline")
HISTORY_FILE = "history.jsonl"
SPLIT_SEEDS = {"train": 0, "valid": 1_000_003, "test": 2_000_003}  # added to the run's seed


def default_config(model: str, task: AlgorithmicTask) -> Any:
    """The config of ``model`` with the input and output sizes of ``task`` (other fields: defaults)."""
    sizes = {"input_size": task.input_size, "output_size": task.output_size}
    if model == "ntm":
        return NTMConfig(**sizes)
    if model == "lstm-baseline":
        return LSTMBaselineConfig(**sizes)
    raise ValueError(f"model: expected one of {MODELS}, got {model!r}")


def sequence_loss(logits: Tensor, batch: AlgorithmicBatch) -> Tensor:
    """Binary cross-entropy averaged over the bits of the scored steps."""
    mask = batch.mask[..., None].expand_as(batch.targets)  # (B, T, O)
    return F.binary_cross_entropy_with_logits(logits[mask], batch.targets[mask])


class AlgorithmicModule(L.LightningModule):
    """LightningModule for the NTM and the LSTM baseline on an algorithmic task.

    Args:
        name: registry name, one of :data:`MODELS`. config: its config dataclass.
        lr: learning rate of Adam.
    """

    def __init__(self, name: str, config: Any, *, lr: float = 1e-3) -> None:
        super().__init__()
        if name not in MODELS:
            raise ValueError(f"name: expected one of {MODELS}, got {name!r}")
        self.name, self.config, self.lr = name, config, lr
        self.model: nn.Module = create_model(name, config)

    def training_step(self, batch: AlgorithmicBatch, batch_idx: int) -> Tensor:
        batch = AlgorithmicBatch(*batch)
        logits = self.model(batch.inputs).logits
        loss = sequence_loss(logits, batch)
        self.last_cost = (float(loss.detach()), float(bits_wrong(logits.detach(), batch).float().mean()))
        self.log("loss", loss, prog_bar=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr)


@torch.no_grad()
def evaluate_model(model: nn.Module, batch: AlgorithmicBatch, *, chunk: int = 256) -> tuple[float, float]:
    """Mean bits wrong per sequence and mean loss of ``model`` on ``batch`` (in chunks of ``chunk`` sequences)."""
    was_training = model.training
    model.eval()
    wrong, losses = [], []
    for lo in range(0, batch.inputs.size(0), chunk):
        part = AlgorithmicBatch(*(tensor[lo : lo + chunk] for tensor in batch))
        logits = model(part.inputs).logits
        wrong.append(bits_wrong(logits, part).float())
        losses.append(sequence_loss(logits, part) * part.inputs.size(0))
    model.train(was_training)
    return float(torch.cat(wrong).mean()), float(sum(losses) / batch.inputs.size(0))


def fixed_batch(task: AlgorithmicTask, size: int, seed: int, split: str = "valid", **lengths: int) -> AlgorithmicBatch:
    """``size`` sequences of ``task`` for evaluation, the same for every call with the same arguments."""
    generator = torch.Generator().manual_seed(seed + SPLIT_SEEDS[split])
    return task.sample(size, generator, **lengths)


class History(L.Callback):
    """Writes ``history.jsonl``; evaluates on a fixed validation batch; stops on a time budget or a target.

    Keeps a copy of the weights with the lowest validation loss so far (:attr:`best`), saved in
    the training checkpoints too: NTM training has loss spikes, and a run may end inside one.

    Args:
        path: the JSON-lines file (appended to, so a resumed run continues it).
        valid: the validation batch. every: optimiser steps between lines.
        minutes: stop once the training time (validation excluded) reaches this.
        cpu_minutes: stop once the CPU time of training (validation excluded) reaches this.
        target: stop once validation bits wrong per sequence are at most this (None: never).
    """

    def __init__(
        self,
        path: Path,
        valid: AlgorithmicBatch,
        *,
        every: int,
        minutes: float | None = None,
        cpu_minutes: float | None = None,
        target: float | None = None,
    ) -> None:
        self.path, self.valid, self.every, self.target = path, valid, every, target
        self.minutes, self.cpu_minutes = minutes, cpu_minutes
        self.seconds, self.cpu_seconds, self.sequences, self.losses, self.costs = 0.0, 0.0, 0, [], []
        self.best: dict[str, Any] | None = None  # {"valid_loss", "step", "state"}: the best weights so far
        if path.is_file():  # resuming: continue the clock and the counts
            lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
            if lines:
                last = lines[-1]
                self.seconds, self.cpu_seconds, self.sequences = last["seconds"], last["cpu_seconds"], last["sequences"]

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.started = time.perf_counter(), time.process_time()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.seconds += time.perf_counter() - self.started[0]
        self.cpu_seconds += time.process_time() - self.started[1]
        self.sequences += batch[0].size(0)
        loss, cost = pl_module.last_cost
        self.losses.append(loss)
        self.costs.append(cost)
        step = trainer.global_step
        out_of_time = (self.minutes is not None and self.seconds >= 60 * self.minutes) or (
            self.cpu_minutes is not None and self.cpu_seconds >= 60 * self.cpu_minutes
        )
        if step % self.every and not out_of_time:
            return
        valid_bits, valid_loss = evaluate_model(pl_module.model, self.valid)
        line = {
            "step": step,
            "sequences": self.sequences,
            "seconds": round(self.seconds, 2),
            "cpu_seconds": round(self.cpu_seconds, 2),
            "loss": sum(self.losses) / len(self.losses),
            "train_bits": sum(self.costs) / len(self.costs),
            "valid_loss": valid_loss,
            "valid_bits": valid_bits,
            "load": os.getloadavg()[0],  # the machine's 1-minute load average: is the CPU shared?
        }
        self.losses, self.costs = [], []
        if self.best is None or valid_loss <= self.best["valid_loss"]:
            state = {key: value.detach().clone() for key, value in pl_module.model.state_dict().items()}
            self.best = {"valid_loss": valid_loss, "step": step, "state": state}
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")
        if self.target is not None and valid_bits <= self.target:
            trainer.should_stop = True
        if out_of_time:
            trainer.should_stop = True

    def state_dict(self) -> dict[str, Any]:
        return {} if self.best is None else {"best": self.best}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best = state_dict.get("best")


def train(
    out_dir: str | Path,
    *,
    task: AlgorithmicTask,
    model: str = "ntm",
    config: Any | None = None,
    steps: int = 20_000,
    batch_size: int = 32,
    lr: float = 1e-3,
    gradient_clip: float = 1.0,
    seed: int = 0,
    minutes: float | None = None,
    cpu_minutes: float | None = None,
    target: float | None = None,
    log_every: int = 100,
    valid_size: int = 128,
    progress: bool = True,
    compile_step: bool = False,
) -> AlgorithmicModule:
    """Train ``model`` on ``task`` and write the run directory ``out_dir`` (see the module docstring).

    ``gradient_clip`` bounds the gradient's global norm. The loss is a mean over bits, so 1 here is
    about Collier & Beel's 50 on a per-sequence sum (50 / 8 bits / ~10 steps); with 10 instead, the
    copy task stalled near 2 bits wrong per sequence and then blew up (a run of 2,500 steps).

    Stops after ``steps`` optimiser steps, after ``minutes`` of training time (wall clock) or
    ``cpu_minutes`` of this process's CPU time (a fair budget on a shared CPU), or once the
    validation set (``valid_size`` sequences of the task's longest training length) has at
    most ``target`` bits wrong per sequence, whichever comes first. The saved model is the one
    with the lowest validation loss seen (``kept_step`` in ``task.json``), not necessarily the
    last. Checkpoints every ``log_every`` steps to ``out_dir/checkpoints/last.ckpt`` and resumes
    from it if present (drawing the training batches from the start of the seeded stream again).
    ``compile_step``: run the NTM's time step through ``torch.compile`` (:meth:`NTM.compile_step`).
    """
    from attnzoo.training import fit_resuming, make_trainer, save_model, seed_everything, write_task

    seed_everything(seed)
    config = config or default_config(model, task)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    module = AlgorithmicModule(model, config, lr=lr)
    if compile_step:
        if model != "ntm":
            raise ValueError(f"compile_step: only the NTM has a compiled step, not {model!r}")
        module.model.compile_step()
    loader = DataLoader(TaskStream(task, batch_size, steps, seed + SPLIT_SEEDS["train"]), batch_size=None)
    history = History(
        out_dir / HISTORY_FILE,
        fixed_batch(task, valid_size, seed, **longest(task)),
        every=log_every,
        minutes=minutes,
        cpu_minutes=cpu_minutes,
        target=target,
    )
    trainer = make_trainer(
        out_dir,
        max_epochs=None,  # the stream is the epoch; a run extended to more steps reads it again
        max_steps=steps,
        checkpoint_every=log_every,
        gradient_clip=gradient_clip,
        progress=progress,
        callbacks=[history],
    )
    fit_resuming(trainer, module, loader)
    if history.best is not None:
        module.model.load_state_dict(history.best["state"])
    save_model(out_dir, model, module.model, config)
    settings = {"task": task_name(task), "task_settings": dataclasses.asdict(task), "seed": seed}
    settings |= {"steps": trainer.global_step, "batch_size": batch_size, "lr": lr, "gradient_clip": gradient_clip}
    settings["kept_step"] = None if history.best is None else history.best["step"]
    write_task(out_dir, settings)
    return module


def longest(task: AlgorithmicTask) -> dict[str, int]:
    """Keyword arguments of ``task.sample`` for its longest training episode."""
    lengths = {"length": getattr(task, "max_length", getattr(task, "max_items", None))}
    if hasattr(task, "max_repeats"):
        lengths["repeats"] = task.max_repeats
    return lengths


def read_task(run_dir: str | Path) -> tuple[AlgorithmicTask, dict[str, Any]]:
    """The task and the training settings of a run directory written by :func:`train`."""
    from attnzoo.training import read_task as read_task_file

    settings = read_task_file(run_dir, "attnzoo train ntm")
    return make_task(settings["task"], **settings["task_settings"]), settings


def read_history(run_dir: str | Path) -> list[dict[str, float]]:
    """The lines of a run's ``history.jsonl``."""
    path = Path(run_dir) / HISTORY_FILE
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


@torch.no_grad()
def draw_memory_access(model: NTM, batch: AlgorithmicBatch, path: str | Path, title: str) -> int:
    """Draw the first read and write weightings of ``model`` on the first sequence of ``batch``.

    Returns the sequence's bits wrong, which ``title`` may show: ``"{title}: N bits wrong"``.
    """
    from attnzoo.viz.memory import plot_memory_access

    output = model(batch.inputs[:1], return_weights=True)
    wrong = int(bits_wrong(output.logits, AlgorithmicBatch(*(tensor[:1] for tensor in batch)))[0])
    plot_memory_access(
        batch.inputs[0].numpy(),
        torch.sigmoid(output.logits[0]).numpy(),
        output.write_weights[0, :, 0].numpy(),
        output.read_weights[0, :, 0].numpy(),
        path,
        title=f"{title}: {wrong} bits wrong",
    )
    return wrong


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)
