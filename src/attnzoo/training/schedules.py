"""The optimiser and its learning-rate schedule, built from :class:`attnzoo.recipes.Training`.

- ``constant``: the rate ``lr`` throughout;
- ``cosine``: from ``lr`` down to ``lr * final_lr_fraction`` along half a cosine over the run's
  progress (steps done / steps planned, or the share of the ``minutes`` budget used, the larger);
- ``warmup``: Vaswani et al. 2017, eq. (3): ``lr · min(n^-0.5, n · warmup^-1.5)`` (the paper's
  ``lr`` is ``d_model^-0.5``).

Adam when ``weight_decay`` is 0, AdamW (decoupled decay, Loshchilov & Hutter 2019) otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch

from attnzoo.recipes.base import Training


def cosine_factor(progress: float, final_fraction: float) -> float:
    """The cosine schedule's factor of ``lr`` at ``progress`` in [0, 1]: 1 → ``final_fraction``."""
    progress = min(max(progress, 0.0), 1.0)
    return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress))


def warmup_factor(step: int, warmup_steps: int) -> float:
    """Vaswani et al. 2017, eq. (3) without ``d_model^-0.5``: ``min(n^-0.5, n · warmup^-1.5)``.

    ``step`` counts from 0 here (the scheduler's), the paper's ``n`` from 1.
    """
    step += 1
    return min(step**-0.5, step * warmup_steps**-1.5)


def rate_factor(training: Training, progress: Callable[[int], float]) -> Callable[[int], float] | None:
    """``step -> factor of lr`` for ``training.schedule`` (None for a constant rate)."""
    if training.schedule == "warmup":
        return lambda step: warmup_factor(step, training.warmup_steps)
    if training.schedule == "cosine":
        return lambda step: cosine_factor(progress(step), training.final_lr_fraction)
    return None


def make_optimizer(
    parameters: Iterable[torch.nn.Parameter], training: Training, progress: Callable[[int], float]
) -> dict[str, Any] | torch.optim.Optimizer:
    """What ``LightningModule.configure_optimizers`` returns: the optimiser and a per-step schedule.

    Args:
        parameters: the model's parameters, or parameter groups (dicts with their own ``lr``, ...).
        training: the settings (``lr``, ``betas``, ``weight_decay``, ``schedule``, ...).
        progress: ``step -> fraction of the run done`` in [0, 1] (the cosine schedule reads it).
    """
    options = {"lr": training.lr, "betas": tuple(training.betas)}
    if training.weight_decay:
        optimizer = torch.optim.AdamW(parameters, weight_decay=training.weight_decay, **options)
    else:
        optimizer = torch.optim.Adam(parameters, **options)
    factor = rate_factor(training, progress)
    if factor is None:
        return optimizer
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
