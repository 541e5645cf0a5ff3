"""The Lightning ``Trainer`` every attnzoo model trains with.

It checkpoints every ``checkpoint_every`` optimiser steps to ``<out>/checkpoints/last.ckpt``
through :class:`~attnzoo.training.checkpoint.SafeCheckpointIO` (no pickle), so a run that
is stopped loses at most the steps since then; :func:`fit_resuming` (or
``trainer.fit(module, ..., ckpt_path="last")``) resumes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint, WeightAveraging
from torch.optim.swa_utils import get_ema_multi_avg_fn

from attnzoo.training.checkpoint import SafeCheckpointIO


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (in every worker process too)."""
    L.seed_everything(seed, workers=True, verbose=False)


def make_trainer(
    out_dir: str | Path,
    *,
    max_epochs: int | None = None,
    max_steps: int = -1,
    checkpoint_every: int = 100,
    gradient_clip: float | None = 1.0,
    progress: bool = True,
    devices: int | str = 1,
    strategy: str = "auto",
    accelerator: str = "cpu",
    callbacks: list[Any] | None = None,
    ema_decay: float | None = None,
    **trainer_options: Any,
) -> L.Trainer:
    """A ``lightning.Trainer`` with safe checkpoints, gradient clipping and a progress bar.

    Args:
        out_dir: the run directory; checkpoints go to ``out_dir/checkpoints``.
        max_epochs / max_steps: when to stop (Lightning's meaning).
        checkpoint_every: optimiser steps between checkpoints (``last.ckpt`` is overwritten).
        gradient_clip: clip the gradient norm to this value (None: no clipping).
        progress: show Lightning's progress bar.
        devices, strategy, accelerator: Lightning's; ``devices=2, strategy="ddp"`` runs
            data-parallel processes (gloo on the CPU).
        callbacks: more Lightning callbacks.
        ema_decay: keep an exponential moving average of the weights,
            ``average = ema_decay · average + (1 - ema_decay) · weights`` after every optimiser step
            (Polyak averaging; the first average is the weights after step 1), and end training
            with the average in the module (Lightning's ``WeightAveraging``; checkpoints hold both,
            so a resumed run continues the same average). None: no averaging.
        trainer_options: passed on to ``lightning.Trainer``.
    """
    checkpoint = ModelCheckpoint(
        dirpath=Path(out_dir) / "checkpoints",
        save_last=True,
        save_top_k=0,
        every_n_train_steps=checkpoint_every,
    )
    if ema_decay is not None:
        if not 0 < ema_decay < 1:
            raise ValueError(f"ema_decay: expected a decay in (0, 1), got {ema_decay}")
        callbacks = [*(callbacks or []), WeightAveraging(multi_avg_fn=get_ema_multi_avg_fn(ema_decay))]
    return L.Trainer(
        default_root_dir=str(out_dir),
        max_epochs=max_epochs,
        max_steps=max_steps,
        gradient_clip_val=gradient_clip,
        enable_progress_bar=progress,
        enable_model_summary=False,
        logger=False,
        devices=devices,
        strategy=strategy,
        accelerator=accelerator,
        plugins=[SafeCheckpointIO()],
        callbacks=[checkpoint, *(callbacks or [])],
        **trainer_options,
    )


def fit_resuming(trainer: L.Trainer, module: L.LightningModule, *loaders: Any) -> None:
    """``trainer.fit(module, *loaders)``, resuming from ``checkpoints/last.ckpt`` if a stopped run left one."""
    last = Path(trainer.checkpoint_callback.dirpath) / "last.ckpt"
    trainer.fit(module, *loaders, ckpt_path=last if last.is_file() else None)
