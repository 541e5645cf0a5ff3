"""How Self-Attention GAN trains and is measured (Zhang et al. 2018).

- Data: ``mirror`` (generated images whose halves must agree, :mod:`attnzoo.tasks.mirror`, with a
  rule that checks a sample) or ``digits`` (scikit-learn's digits at 32×32, :mod:`attnzoo.tasks.digits32`).
- Loss: the hinge loss (eq. 5), ``L_D = E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]`` and
  ``L_G = -E[D(G(z))]``, as one sum the generic trainer minimises with one optimiser: ``L_D`` sees
  the samples detached (no gradient into G) and ``L_G`` sees D through detached parameters (no
  gradient into D), so each network gets exactly its own loss's gradient and both step together
  (simultaneous, not alternating, updates). TTUR: two optimiser parameter groups (:meth:`SAGANRecipe.parameter_groups`).
- Sampling: from the moving average of G's weights (``average_decay``), updated at every step.
- Measures: both γ; on mirror, the rule's consistency rate of ``samples`` generated images (of G's
  average and of the live G) and the share of attention mass a query on the left object puts on its
  mirrored partner, in G (generated images) and in D (real and generated images); on digits, the
  digit-classifier Fréchet distance to the training digits, with that classifier's confidence and
  the diversity of its predicted classes (:mod:`attnzoo.tasks.digit_frechet`, not the Inception FID).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.func import functional_call
from torch.utils.data import TensorDataset

from attnzoo.models.sagan.model import SAGAN, SAGANConfig
from attnzoo.recipes.base import Command, Recipe, Training, device_of, evaluating, shuffled_batches
from attnzoo.tasks import digit_frechet, mirror
from attnzoo.tasks.digits32 import digits32

EVAL_SEED = 1234  # the noise of every evaluation's samples (the same images at every validation)
MAX_SAMPLES = 256  # the most samples `attnzoo sample` draws


@dataclass(frozen=True)
class GANTask:
    data: str = "mirror"  # "mirror" (halves that must agree, checked by a rule) or "digits" (scikit-learn's)
    train_size: int = 4096  # mirror: training images generated (digits: the 1,258 training digits)
    samples: int = 256  # images generated at each evaluation

    def __post_init__(self) -> None:
        if self.data not in ("mirror", "digits"):
            raise ValueError(f"data: expected 'mirror' or 'digits', got {self.data!r}")


@dataclass(frozen=True)
class GANData:
    """The training images ``(N, C, 32, 32)`` in [-1, 1] and the settings."""

    settings: GANTask
    images: Tensor

    @property
    def channels(self) -> int:
        return self.images.size(1)


def hinge_losses(model: SAGAN, real: Tensor, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Eq. (5): ``(L_D, L_G, samples)`` for real images ``(B, C, S, S)`` and noise ``(B, Z)``.

    ``L_D`` reaches only D's parameters and ``L_G`` only G's (see the module), so their sum's
    gradient is each network's own.
    """
    samples = model.generator(z).context  # G(z): (B, C, S, S)
    scores = model.discriminator(torch.cat([real, samples.detach()])).context  # (2B,)
    real_scores, fake_scores = scores.split([real.size(0), samples.size(0)])
    d_loss = F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean()
    frozen = {name: tensor.detach() for name, tensor in model.discriminator.named_parameters()}
    g_loss = -functional_call(model.discriminator, frozen, (samples,)).context.mean()
    return d_loss, g_loss, samples


@torch.no_grad()
def generate(model: SAGAN, count: int, seed: int = EVAL_SEED, live: bool = False) -> tuple[Tensor, Tensor | None]:
    """``count`` samples from fixed noise, in eval mode, of G's moving average (``live``: of the live G).

    Returns images ``(count, C, S, S)`` and G's attention weights ``(count, N, N)`` (None without the block).
    """
    with evaluating(model):
        z = torch.randn(count, model.config.noise, generator=torch.Generator().manual_seed(seed))
        images, weights = model(z.to(device_of(model)), need_weights=True, live=live)
    return images.cpu(), None if weights is None else weights.cpu()


@torch.no_grad()
def discriminator_weights(model: SAGAN, images: Tensor) -> Tensor | None:
    """D's attention weights ``(B, N, N)`` on images ``(B, C, S, S)``, in eval mode (None without the block)."""
    with evaluating(model):
        return model.discriminator(images.to(device_of(model)), need_weights=True).weights


def partner_mass(masks: Tensor, weights: Tensor) -> Tensor:
    """Per image, the mean attention mass that query cells on the left object put on the right object's cells.

    The objects are given as pixel masks (the rule's coloured pixels,
    :func:`attnzoo.tasks.mirror.object_masks`, which on training images are exactly the generator's
    ground-truth boxes), pooled to the attention's map: a cell belongs to an object when half its pixels do.

    Args: masks ``(B, 32, 32)`` bool; weights ``(B, N, N)`` with ``N = side²``, row = query.
    Returns ``(B,)``, NaN for an image whose left half has no object cell.
    """
    side = int(round(weights.size(-1) ** 0.5))
    if masks.dim() != 3 or weights.dim() != 3 or side * side != weights.size(-1) or masks.size(0) != weights.size(0):
        shapes = f"{tuple(masks.shape)} and {tuple(weights.shape)}"
        raise ValueError(f"masks, weights: expected (B, S, S) and (B, N, N) with N a square, got {shapes}")
    pooled = F.adaptive_avg_pool2d(masks.float()[:, None], side)[:, 0] >= 0.5  # (B, s, s)
    columns = torch.arange(side)
    left, right = pooled & (columns < side // 2), pooled & (columns >= side // 2)
    on_right = (weights * right.flatten(1)[:, None, :].float()).sum(-1)  # mass on the right object: (B, N)
    queries = left.flatten(1).float()  # (B, N)
    return (on_right * queries).sum(-1) / queries.sum(-1)  # NaN where no query


def mean_mass(masks: Tensor, weights: Tensor | None) -> float | None:
    """The partner mass averaged over the images that have a left object (0 if none has; None without weights)."""
    if weights is None:
        return None
    mass = partner_mass(masks, weights)
    return float(mass.nanmean()) if mass.isfinite().any() else 0.0


def mirror_measures(model: SAGAN, real: Tensor, count: int) -> dict[str, float]:
    """On mirror data: the rule's consistency of ``count`` samples of G's average and of the live G,
    and the partner mass of G's attention and of D's on real (``real`` ``(B, 3, S, S)``) and generated images."""
    images, weights = generate(model, count)
    live_images, _ = generate(model, count, live=True)
    masks, real_masks = mirror.object_masks(images), mirror.object_masks(real)
    measures = {
        "consistency": float(mirror.mirror_consistency(images).float().mean()),
        "live_consistency": float(mirror.mirror_consistency(live_images).float().mean()),
        "partner_mass": mean_mass(masks, weights),
        "d_partner_mass_real": mean_mass(real_masks, discriminator_weights(model, real)),
        "d_partner_mass_fake": mean_mass(masks, discriminator_weights(model, images)),
    }
    return {name: value for name, value in measures.items() if value is not None}


class SAGANRecipe(Recipe):
    Task = GANTask
    training = Training(steps=1_000, batch_size=32, lr=4e-4, betas=(0.0, 0.9), schedule="constant", clip=None)

    @property
    def selection(self) -> tuple[str, str]:  # type: ignore[override]
        """What ``--target`` reads: the rule's consistency on mirror, the Fréchet distance on digits."""
        return ("frechet", "min") if self.settings.data == "digits" else ("consistency", "max")

    def build_task(self, seed: int) -> GANData:
        if self.settings.data == "digits":
            return GANData(self.settings, digits32("train", seed)[0])
        return GANData(self.settings, mirror.mirror_images(self.settings.train_size, seed)[0])

    def parameter_groups(self, model: SAGAN, training: Training) -> list[dict[str, Any]]:
        """TTUR (§4): the discriminator at ``lr`` (4e-4), the generator at ``generator_rate · lr`` (1e-4)."""
        generator_lr = training.lr * model.config.generator_rate
        return [
            {"params": model.discriminator.parameters()},
            {"params": model.generator.parameters(), "lr": generator_lr},
        ]

    def sized_config(self, config: SAGANConfig, task: GANData) -> SAGANConfig:
        return dataclasses.replace(config, image_channels=task.channels)

    def train_batches(self, task: GANData, batch_size: int, seed: int) -> Any:
        return shuffled_batches(TensorDataset(task.images), batch_size, seed, drop_last=True)

    def loss(self, model: SAGAN, batch: Any, state: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        (real,) = batch
        model.update_average()  # the weights of the previous step enter G's moving average
        z = torch.randn(real.size(0), model.config.noise, device=real.device)
        d_loss, g_loss, _ = hinge_losses(model, real, z)
        gammas = {name: torch.tensor(value) for name, value in model.gammas().items()}
        return d_loss + g_loss, {"d_loss": d_loss, "g_loss": g_loss, **gammas}

    def evaluate(self, model: SAGAN, task: GANData, split: str) -> dict[str, float]:
        metrics = dict(model.gammas())
        if self.settings.data == "mirror":
            return metrics | mirror_measures(model, task.images[: self.settings.samples], self.settings.samples)
        for prefix, live in (("", False), ("live_", True)):
            quality = digit_frechet.digit_quality(generate(model, self.settings.samples, live=live)[0], task.images)
            metrics |= {prefix + name: quality[name] for name in ("frechet", "confidence", "diversity")}
        return metrics

    def attention_views(self, model: SAGAN, task: GANData, inputs: list[str] | None = None) -> list[dict]:
        return query_views(model, task, inputs)

    def pictures(self, config: Any = None) -> dict[str, Any]:
        pictures = {"samples": draw_samples}
        if config is None or config.block == "attention":
            pictures["attention"] = draw_attention
            pictures["discriminator"] = draw_discriminator_attention
        return pictures

    def commands(self) -> dict[str, Command]:
        return {"sample": Command(sample, ("COUNT",), "Draw COUNT generated images in a grid (--out F.png).")}

    def example(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return {"width": 8, "noise": 8}, {"train_size": 16, "samples": 8}


def draw_samples(model: SAGAN, task: GANData, path: Any, count: int = 64) -> float | None:
    """A grid of ``count`` samples, framed by the rule's verdict on mirror data; returns the consistent share."""
    from attnzoo.viz.gan import plot_samples

    images, _ = generate(model, count)
    verdicts = mirror.mirror_consistency(images) if task.settings.data == "mirror" else None
    plot_samples(images, path, verdicts=verdicts)
    return None if verdicts is None else float(verdicts.float().mean())


@torch.no_grad()
def query_views(model: SAGAN, task: GANData, inputs: list[str] | None = None) -> list[dict]:
    """Where 9 query points (a 3 × 3 grid) of the generator's attention block look, on 3 samples
    from fixed noise (the paper's Fig. 5): one step per query point, its map over the image and a
    box on the query's cell. A model without the block has no view."""
    from attnzoo.explorer.views import image_view

    if inputs is not None:
        raise ValueError("a SAGAN run shows samples from fixed noise: it takes no input")
    images, weights = generate(model, 3)
    if weights is None:
        return []
    cells, side = int(round(weights.size(-1) ** 0.5)), images.size(-1)
    points = [(cells * (2 * row + 1) // 6, cells * (2 * col + 1) // 6) for row in range(3) for col in range(3)]
    scale, views = side / cells, []
    for number, image in enumerate(images):
        maps = [weights[number, y * cells + x].view(cells, cells) for y, x in points]  # (s, s) per query
        boxes = [[[y * scale, x * scale, scale, scale]] for y, x in points]  # the query's cell
        labels = [f"query ({y}, {x})" for y, x in points]
        pixels = (image.clamp(-1, 1) + 1) / 2  # (C, S, S) in [0, 1]
        pixels = pixels if pixels.size(0) == 3 else 1 - pixels[0]  # grey: ink is 1
        views.append(image_view(pixels, labels, maps=maps, boxes=boxes, title=f"sample {number + 1}"))
    return views


def draw_attention(model: SAGAN, task: GANData, path: Any) -> None:
    """Where chosen query points of the generator look (the paper's Fig. 5), over four samples."""
    from attnzoo.viz.gan import plot_attention_maps

    images, weights = generate(model, 4)
    if weights is None:
        raise ValueError("this run's model has no attention block (trained with --preset no-attention)")
    plot_attention_maps(images, weights, path)


def draw_discriminator_attention(model: SAGAN, task: GANData, path: Any) -> None:
    """Where chosen query points of the discriminator look, over four training images."""
    from attnzoo.viz.gan import plot_attention_maps

    images = task.images[:4]
    weights = discriminator_weights(model, images)
    if weights is None:
        raise ValueError("this run's model has no attention block (trained with --preset no-attention)")
    plot_attention_maps(images, weights, path)


def sample(model: SAGAN, task: GANData, arguments: list[str], out: Path | None) -> str:
    """``attnzoo sample RUN COUNT --out F.png``: draw COUNT samples; on mirror data, the rule's consistent share."""
    if not arguments[0].isdigit() or not 1 <= int(arguments[0]) <= MAX_SAMPLES:
        raise ValueError(f"COUNT: expected a whole number of samples from 1 to {MAX_SAMPLES}, got {arguments[0]!r}")
    if out is None:
        raise ValueError("sample: give --out FILE.png, where to draw the samples")
    count = int(arguments[0])
    consistent = draw_samples(model, task, out, count)
    if consistent is None:
        return f"{count} samples drawn to {out}"
    return f"{count} samples drawn to {out}; {consistent:.0%} mirror-consistent by the rule"


RECIPE = SAGANRecipe
