"""Training and evaluating RAM and its baselines on the digit canvases.

The hybrid loss of RAM (Mnih et al. 2014, §3.2 "Training" and §4 "hybrid supervised loss")::

    L = -log p(y* | h_T)                               cross-entropy of the action network
        - mean_t (R - b_t) log π(l_t | h_t)            REINFORCE on the locations, eq. (2) with a baseline
        + mean_t (R - b_t)²                            the baseline's squared error

with the reward ``R = 1`` if the class after the last glimpse is right and ``0`` otherwise (one
reward per episode, the same for every step), computed by
:func:`attnzoo.attention.reinforce_loss`. Where the gradients flow, against the paper:

- the sampled location ``l_t`` is detached (a sample has no gradient; the paper's sensor is not
  differentiable in ``l`` either), so the cross-entropy trains the action, core and glimpse
  networks through the patch contents and the location encoding ``h_l`` of the *given* locations,
  never the location network;
- the REINFORCE term trains the location network ``f_l`` through ``∂ log π / ∂ f_l(h_t)``; the
  paper lets it reach the core and glimpse networks too (its θ is all of RAM's parameters), here
  that happens only with ``RAMConfig.policy_trains_core=True``: by default ``f_l`` reads
  ``h_t.detach()``, which keeps the high-variance policy gradient out of the representation that
  the classifier needs (on translated 60×60 digits, letting it in together with a weight decay of
  0.1 measured better: the policy then looks near the digit; ``docs/results/ram.md``);
- the advantage ``R - b_t`` is detached in the REINFORCE term, and the baseline reads
  ``h_t.detach()``, so the squared error trains the baseline network alone (the paper's
  baseline is likewise fitted by "reducing the squared error between R^i and b_t").

At test time the class probabilities are averaged over ``M`` sampled glimpse paths
(:meth:`RAM.predict`, Monte Carlo); ``M = 0`` follows the policy's means instead.

:func:`train` writes a run directory (``model.safetensors``, ``config.json``, ``task.json``)
and :func:`evaluate_model` gives the test error.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

from attnzoo.attention import reinforce_loss
from attnzoo.models.ram.model import RAM, DigitsConvNetConfig, DigitsMLPConfig, RAMConfig, RAMOutput
from attnzoo.models.registry import create_model
from attnzoo.tasks import digits

MODELS = ("ram", "digits-mlp", "digits-convnet")


def default_config(model: str, variant: str) -> Any:
    """The config of ``model`` for ``variant``: the paper's glimpse settings, an FC net as in Table 1.

    RAM: 8×8, 1 scale on 28×28 and 12×12, 3 scales on 60×60 (Table 1); 12×12, 4 scales on 100×100.
    FC: 2 hidden layers of 256 on 28×28 and of 64 on larger canvases (Table 1). Convnet: its defaults.
    """
    canvas = digits.variant(variant).canvas
    if model == "ram":
        if canvas == digits.DIGIT_SIZE:
            return RAMConfig(glimpse_size=8, scales=1)
        return RAMConfig(glimpse_size=12, scales=3 if canvas <= 60 else 4)
    if model == "digits-mlp":
        return DigitsMLPConfig(canvas=canvas, hidden=(256, 256) if canvas == digits.DIGIT_SIZE else (64, 64))
    if model == "digits-convnet":
        return DigitsConvNetConfig()
    raise ValueError(f"model: expected one of {MODELS}, got {model!r}")


def hybrid_loss(output: RAMOutput, labels: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
    """RAM's hybrid loss (see the module docstring) and its parts for logging.

    Args:
        output: :class:`RAMOutput` of a batch of ``B`` images with sampled locations.
        labels: ``(B,)`` int64 classes.

    Returns:
        ``(loss, {"nll": ..., "reinforce": ..., "reward": ...})``; ``reinforce`` includes the
        baseline's squared error, and is 0 with a single glimpse (no location is drawn).
    """
    nll = F.nll_loss(output.log_probs, labels)
    reward = (output.log_probs.argmax(-1) == labels).to(output.log_probs.dtype)  # (B,) R: 1 if right
    if output.log_pi.size(1):
        policy = reinforce_loss(output.log_pi, reward, output.baselines)
    else:
        policy = nll.new_zeros(())
    return nll + policy, {"nll": nll.detach(), "reinforce": policy.detach(), "reward": reward.mean()}


class DigitsModule(L.LightningModule):
    """LightningModule for RAM (hybrid loss) and for the baselines (cross-entropy).

    Args:
        name: registry name, one of :data:`MODELS`. config: its config dataclass.
        lr: Adam's learning rate, decayed along a cosine to ``lr * final_lr_ratio`` over ``max_steps``.
        max_steps: the run's length (for the schedule; None: constant rate).
        weight_decay: decoupled weight decay (AdamW, Loshchilov & Hutter 2019) on every parameter;
            0 is plain Adam. It also keeps RAM's location network from drifting into tanh's flat
            ends, where its policy stays at the border.
    """

    def __init__(
        self,
        name: str,
        config: Any,
        *,
        lr: float = 1e-3,
        max_steps: int | None = None,
        final_lr_ratio: float = 0.02,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__()
        if name not in MODELS:
            raise ValueError(f"name: expected one of {MODELS}, got {name!r}")
        self.name, self.config = name, config
        self.model: nn.Module = create_model(name, config)
        if weight_decay < 0:
            raise ValueError(f"weight_decay: expected >= 0, got {weight_decay}")
        self.lr, self.max_steps, self.final_lr_ratio = lr, max_steps, final_lr_ratio
        self.weight_decay = weight_decay

    def training_step(self, batch: list[Tensor], batch_idx: int) -> Tensor:
        images, labels = batch
        if isinstance(self.model, RAM):
            loss, parts = hybrid_loss(self.model(images), labels)
            self.log("reward", parts["reward"], prog_bar=True)
        else:
            loss = F.nll_loss(self.model(images), labels)
        self.log("loss", loss, prog_bar=True)
        return loss

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        if not self.max_steps:
            return optimizer

        def factor(step: int) -> float:
            progress = min(step / self.max_steps, 1.0)
            return self.final_lr_ratio + (1 - self.final_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


class Resample(L.Callback):
    """Draws new training canvases (new positions and clutter) at the start of every epoch."""

    def __init__(self, dataset: digits.DigitCanvas) -> None:
        self.dataset = dataset

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.dataset.set_epoch(trainer.current_epoch)


def eval_copies(variant: str) -> int:
    """Canvases per test digit: 5 random ones on a larger canvas, 1 for the (deterministic) centred digits."""
    chosen = digits.variant(variant)
    return 1 if chosen.canvas == digits.DIGIT_SIZE and not chosen.clutter else 5


def train(
    out_dir: str | Path,
    *,
    variant: str,
    model: str = "ram",
    config: Any | None = None,
    epochs: int = 150,
    batch_size: int = 32,
    lr: float = 2e-3,
    weight_decay: float = 0.0,
    ema_decay: float | None = None,
    seed: int = 0,
    minutes: float | None = None,
    progress: bool = True,
) -> DigitsModule:
    """Train ``model`` on the training digits of ``variant`` and write the run directory ``out_dir``.

    Every epoch draws new canvases of the 1,258 training digits (augmentation by placement).
    Checkpoints every 200 steps to ``out_dir/checkpoints/last.ckpt`` and resumes from it if
    present; ``minutes`` stops early (the learning-rate schedule still assumes ``epochs``).
    ``ema_decay`` ends training with an exponential moving average of the weights instead of
    the last ones (see :func:`attnzoo.training.make_trainer`).
    """
    from attnzoo.training import fit_resuming, make_trainer, save_model, seed_everything, write_task

    seed_everything(seed)
    config = config or default_config(model, variant)
    data = digits.digits_dataset(variant, "train", seed=seed, resample=True)
    loader = DataLoader(
        data, batch_size=batch_size, shuffle=True, drop_last=True, generator=torch.Generator().manual_seed(seed)
    )
    steps = epochs * len(loader)
    module = DigitsModule(model, config, lr=lr, max_steps=steps, weight_decay=weight_decay)
    out_dir = Path(out_dir)
    trainer = make_trainer(
        out_dir,
        max_epochs=epochs,
        checkpoint_every=200,
        progress=progress,
        callbacks=[Resample(data)],
        max_time=None if minutes is None else {"minutes": minutes},
        ema_decay=ema_decay,
    )
    fit_resuming(trainer, module, loader)
    save_model(out_dir, model, module.model, config)
    settings = {"variant": variant, "seed": seed, "epochs": trainer.current_epoch, "steps": trainer.global_step}
    recipe = {"batch_size": batch_size, "lr": lr, "weight_decay": weight_decay, "ema_decay": ema_decay}
    write_task(out_dir, settings | recipe)
    return module


def read_task(run_dir: str | Path) -> dict[str, Any]:
    """The ``task.json`` of a run directory written by :func:`train`."""
    from attnzoo.training import read_task as read_task_file

    return read_task_file(run_dir, "attnzoo train ram")


@torch.no_grad()
def predict(model: nn.Module, images: Tensor, *, samples: int = 1, batch_size: int = 500) -> Tensor:
    """Predicted classes ``(N,)`` of ``images`` ``(N, C, H, W)``, in batches.

    RAM averages its class probabilities over ``samples`` glimpse paths (0: the mean path).
    """
    model.eval()
    parts = []
    for lo in range(0, len(images), batch_size):
        chunk = images[lo : lo + batch_size]
        scores = model.predict(chunk, samples) if isinstance(model, RAM) else model(chunk)
        parts.append(scores.argmax(-1))
    return torch.cat(parts)


def evaluate_model(
    model: nn.Module, variant: str, *, split: str = "test", seed: int = 0, samples: tuple[int, ...] = (0, 1, 10)
) -> dict[str, float]:
    """Classification error (%) on ``split`` of ``variant``: ``{"error": ...}`` for a baseline,
    ``{"error M=0": ..., "error M=1": ..., ...}`` for RAM (``M`` sampled paths averaged; 0: the mean path).

    The canvases are those of ``seed`` with :func:`eval_copies` canvases per digit; the random
    paths of RAM are drawn from a generator seeded with ``seed`` too.
    """
    data = digits.digits_dataset(variant, split, seed=seed, copies=eval_copies(variant))
    labels = data.labels
    if not isinstance(model, RAM):
        return {"error": float((predict(model, data.images) != labels).float().mean() * 100)}
    results = {}
    for count in samples:
        torch.manual_seed(seed)
        results[f"error M={count}"] = float((predict(model, data.images, samples=count) != labels).float().mean() * 100)
    return results


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)
