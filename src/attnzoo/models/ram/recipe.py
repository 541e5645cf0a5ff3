"""How RAM (Mnih et al. 2014) and its two baselines train and are measured on digits on a canvas.

The hybrid loss of RAM (§3.2 "Training" and §4 "hybrid supervised loss")::

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
  that happens only with ``RAMConfig.policy_trains_core=True`` (preset ``ram-lstm``): by default
  ``f_l`` reads ``h_t.detach()``, which keeps the high-variance policy gradient out of the
  representation that the classifier needs (on translated 60×60 digits, letting it in together
  with a weight decay of 0.1 measured better: ``docs/results/ram.md``);
- the advantage ``R - b_t`` is detached in the REINFORCE term, and the baseline reads
  ``h_t.detach()``, so the squared error trains the baseline network alone (the paper's
  baseline is likewise fitted by "reducing the squared error between R^i and b_t").

The baselines (Table 1's FC net and a small convnet) train on the plain cross-entropy. Every epoch
draws new canvases of the 1,258 training digits (:meth:`DigitsRecipe.on_epoch_start`). At test
time RAM's class probabilities are averaged over ``M`` sampled glimpse paths (:meth:`RAM.predict`,
Monte Carlo; ``M = 0`` follows the policy's means): the error (%) is reported per ``M``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

from attnzoo.attention import reinforce_loss
from attnzoo.models.ram.model import RAM, RAMOutput
from attnzoo.recipes.base import Recipe, Training, device_of, evaluating, shuffled_batches
from attnzoo.tasks import digits

EPOCHS = {"ram": 260, "digits-mlp": 100, "digits-convnet": 30}  # each model's epochs (docs/results/ram.md)


@dataclass(frozen=True)
class DigitsTask:
    """Which digits on which canvas, and how they are measured."""

    variant: str = "translated60"  # digits on a canvas: centred28, translated60, cluttered60 or cluttered100
    eval_copies: int | None = None  # canvases per valid/test digit (None: 1 on the fixed centred28, else 5)
    samples: tuple[int, ...] = (0, 1, 10)  # RAM: the M of each error (M paths averaged; 0: mean path); the last selects

    def __post_init__(self) -> None:
        digits.variant(self.variant)  # a ValueError naming the variants
        if self.eval_copies is not None and self.eval_copies < 1:
            raise ValueError(f"task eval_copies: expected >= 1, got {self.eval_copies}")
        if not self.samples or min(self.samples) < 0:
            raise ValueError(f"task samples: expected one or more M >= 0, got {self.samples}")


@dataclass
class DigitsData:
    """The digits of one run: training canvases drawn anew every epoch, fixed evaluation canvases.

    ``split(name)`` gives the evaluation canvases of ``"train"``, ``"valid"`` or ``"test"``
    (``copies`` random canvases per digit, fixed by ``seed``), built on first use.
    """

    variant: str
    seed: int
    copies: int
    train: digits.DigitCanvas
    fixed: dict[str, digits.DigitCanvas] = field(default_factory=dict)

    @property
    def canvas(self) -> int:
        """Side of the square canvas in pixels."""
        return digits.variant(self.variant).canvas

    def split(self, name: str) -> digits.DigitCanvas:
        if name not in self.fixed:
            self.fixed[name] = digits.digits_dataset(self.variant, name, seed=self.seed, copies=self.copies)
        return self.fixed[name]


def hybrid_loss(output: RAMOutput, labels: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
    """RAM's hybrid loss (Mnih et al. 2014 §3.2, see the module docstring) and its parts for logging.

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


@torch.no_grad()
def predict(model: nn.Module, images: Tensor, *, samples: int = 1, batch_size: int = 500) -> Tensor:
    """Predicted classes ``(N,)`` of ``images`` ``(N, C, H, W)``, in batches on the model's device.

    RAM averages its class probabilities over ``samples`` glimpse paths (0: the mean path).
    """
    device, parts = device_of(model), []
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size].to(device)
        scores = model.predict(chunk, samples) if isinstance(model, RAM) else model(chunk)
        parts.append(scores.argmax(-1).cpu())
    return torch.cat(parts)


def error_key(samples: int) -> str:
    """The metric name of RAM's error (%) with ``samples`` paths averaged: ``"error_m10"``."""
    return f"error_m{samples}"


class DigitsRecipe(Recipe):
    """RAM (hybrid loss) and its baselines (cross-entropy) on :mod:`attnzoo.tasks.digits`.

    Metrics: the error (%) on the split, ``error`` for a baseline, ``error_mM`` per ``M`` of
    ``samples`` for RAM. Pictures: ``glimpses`` (RAM only).
    """

    Task = DigitsTask

    @property
    def training(self) -> Training:  # the same recipe for the three models, each its epochs
        epochs = EPOCHS.get(self.model_name, EPOCHS["ram"])
        return Training(steps=-1, epochs=epochs, batch_size=32, lr=2e-3, final_lr_fraction=0.02, val_every=1000)

    @property
    def selection(self) -> tuple[str, str]:
        return (error_key(self.settings.samples[-1]) if self.model_name == "ram" else "error", "min")

    # ---- data ------------------------------------------------------------------------------

    def build_task(self, seed: int) -> DigitsData:
        chosen = digits.variant(self.settings.variant)
        copies = self.settings.eval_copies or (1 if chosen.canvas == digits.DIGIT_SIZE and not chosen.clutter else 5)
        train = digits.digits_dataset(self.settings.variant, "train", seed=seed, resample=True)
        return DigitsData(self.settings.variant, seed, copies, train)

    def sized_config(self, config: Any, task: DigitsData) -> Any:
        """RAM's glimpse defaults and the FC net's input follow the canvas (``on_canvas``)."""
        return config.on_canvas(task.canvas) if hasattr(config, "on_canvas") else config

    def train_batches(self, task: DigitsData, batch_size: int, seed: int) -> DataLoader:
        """Batches in an order drawn from ``(seed, epoch)``, the last incomplete one dropped.

        The loader draws its workers' seed from its own generator, not torch's, which
        :meth:`on_epoch_start` reseeds for RAM's glimpse paths.
        """
        generator = torch.Generator().manual_seed(seed)
        return shuffled_batches(task.train, batch_size, seed, drop_last=True, generator=generator)

    def on_epoch_start(self, task: DigitsData, epoch: int) -> None:
        """New canvases (positions, clutter) of the training digits: the augmentation of every epoch.

        And torch's generator reseeded from ``(seed, epoch)``: RAM's sampled glimpse paths of an
        epoch do not depend on whether the run was resumed, so a resumed run ends as an
        uninterrupted one.
        """
        task.train.set_epoch(epoch)
        torch.manual_seed(task.seed * 1_000_003 + epoch)

    # ---- training --------------------------------------------------------------------------

    def loss(self, model: nn.Module, batch: list[Tensor], state: dict[str, Tensor]) -> tuple[Tensor, dict]:
        images, labels = batch  # (B, 1, S, S), (B,)
        if isinstance(model, RAM):
            return hybrid_loss(model(images), labels)
        return F.nll_loss(model(images), labels), {}

    # ---- measuring -------------------------------------------------------------------------

    def evaluate(self, model: nn.Module, task: DigitsData, split: str) -> dict[str, float]:
        """Error (%) on ``split``: ``{"error"}`` for a baseline, ``{"error_m0", "error_m1", ...}`` for RAM.

        RAM's random paths come from a generator seeded with the run's seed before each ``M``
        (the training's random stream is left as it was), so an evaluation is repeatable.
        """
        data = task.split(split)
        with evaluating(model):
            if not isinstance(model, RAM):
                return {"error": percent_wrong(predict(model, data.images), data.labels)}
            device = device_of(model)
            errors = {}
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                for count in self.settings.samples:
                    torch.manual_seed(task.seed)
                    errors[error_key(count)] = percent_wrong(predict(model, data.images, samples=count), data.labels)
            return errors

    def pictures(self, config: Any = None) -> dict[str, Any]:
        return {"glimpses": self.draw_glimpses} if self.model_name == "ram" else {}  # the baselines take no glimpses

    @torch.no_grad()
    def draw_glimpses(self, model: RAM, task: DigitsData, path: Any, count: int = 6) -> None:
        """The glimpses of the policy's mean path on the first ``count`` test images (Figure 3 style)."""
        from attnzoo.models.ram.glimpse import glimpse_boxes
        from attnzoo.viz.glimpses import plot_glimpse_paths

        data = task.split("test")
        images, labels = data.images[:count], data.labels[:count]
        with evaluating(model):
            output = model(images.to(device_of(model)), sample=False)
        steps, (height, width) = output.locations.size(1), images.shape[-2:]
        config = model.config
        boxes = glimpse_boxes(output.locations.flatten(0, 1).cpu(), height, width, config.glimpse_size, config.scales)
        predictions = output.log_probs.argmax(-1).cpu()
        titles = [f"label {int(y)}, predicted {int(p)}" for y, p in zip(labels, predictions, strict=True)]
        boxes = boxes.view(len(images), steps, config.scales, 3).numpy()
        plot_glimpse_paths(images[:, 0].numpy(), boxes, path, titles=titles)

    explore_input = "image"
    probes = 3  # test images the formation record follows

    @torch.no_grad()
    def attention_views(self, model: nn.Module, task: DigitsData, inputs: list[str] | None = None) -> list[dict]:
        """RAM's glimpses on each image (default: the first test images; or PNG files, shrunk to the
        canvas): one step per glimpse, its ``k`` squares as boxes (Mnih et al. 2014, Fig. 3)."""
        from attnzoo.explorer.views import image_view
        from attnzoo.models.ram.glimpse import glimpse_boxes

        if self.model_name != "ram":
            return []  # the baselines take no glimpses
        data = task.split("test")
        images = data.images[: self.probes] if inputs is None else read_images(inputs, data.images.shape[-2:])
        with evaluating(model):
            output = model(images.to(device_of(model)), sample=False)
        steps, (height, width), config = output.locations.size(1), images.shape[-2:], model.config
        boxes = glimpse_boxes(output.locations.flatten(0, 1).cpu(), height, width, config.glimpse_size, config.scales)
        boxes = boxes.view(len(images), steps, config.scales, 3).tolist()  # (N, T, k, [top, left, side])
        predictions = output.log_probs.argmax(-1).cpu().tolist()
        labels = [f"glimpse {step + 1}" for step in range(steps)]
        views = []
        for number, image in enumerate(images[:, 0]):
            squares = [[[top, left, side, side] for top, left, side in step] for step in boxes[number]]
            title = f"image {number + 1}: predicted {predictions[number]}"
            if inputs is None:
                title += f", label {int(data.labels[number])}"
            views.append(image_view(image / max(float(image.max()), 1e-6), labels, boxes=squares, title=title))
        return views

    def example(self) -> tuple[dict[str, Any], dict[str, Any]]:
        sizes = {
            "ram": {"glimpses": 2, "patch_hidden": 8, "location_hidden": 8, "glimpse_hidden": 8, "core_hidden": 8},
            "digits-mlp": {"hidden": (8,)},
            "digits-convnet": {"widths": (4, 4), "kernels": (3, 3), "hidden": 8},
        }
        return sizes[self.model_name], {"variant": "centred28", "samples": (0, 2)}


def read_images(paths: list[str], size: tuple[int, int]) -> Tensor:
    """PNG files as a batch ``(N, 1, H, W)`` of ``size``: grey, ink bright (as the canvases), scaled to [0, 1].

    A dark digit on a light background is inverted; an unreadable file raises ``ValueError``.
    """
    import matplotlib.image

    images = []
    for path in paths:
        try:
            pixels = torch.as_tensor(matplotlib.image.imread(path, format="png"), dtype=torch.float32)
        except (OSError, ValueError, SyntaxError) as error:
            raise ValueError(f"{path}: not a readable PNG image ({error})") from None
        grey = pixels[..., :3].mean(dim=-1) if pixels.dim() == 3 else pixels  # (H, W)
        grey = 1 - grey if grey.mean() > 0.5 else grey  # ink is bright on the canvases
        grey = grey / max(float(grey.max()), 1e-6)
        images.append(F.interpolate(grey[None, None], size=tuple(size), mode="area")[0])
    return torch.stack(images)


def percent_wrong(predicted: Tensor, labels: Tensor) -> float:
    """Classification error (%) of predictions ``(N,)`` against labels ``(N,)``."""
    return float((predicted != labels).float().mean() * 100)


RECIPE = DigitsRecipe
