"""Self-Attention GAN (Zhang, Goodfellow, Metaxas & Odena 2018), small: 32×32 images on a CPU.

A DCGAN-like generator and discriminator, both with spectral normalisation on every convolution and
linear layer (§4, Miyato et al. 2018), and SAGAN's self-attention block
(:class:`attnzoo.attention.SpatialSelfAttention`, eqs. 1–3) after the stage whose feature map is
``attention_size`` pixels wide. The baseline (``block="pointwise"``) puts a :class:`PointwiseBlock`
there instead: the same γ-gated residual with exactly the same parameter count, but each position
sees only itself, so the comparison isolates the non-local mixing.

Two time-scale learning rates (TTUR, §4: D 4e-4, G 1e-4): the recipe gives the optimiser two
parameter groups, the generator's at ``generator_rate`` times the discriminator's rate.

Sampling reads an exponential moving average of the generator's weights (``average_decay``; Yazıcı et
al. 2019, BigGAN), updated by the recipe before every step: the live generator hops between modes
from one step to the next, its average much less. ``average_decay=0`` samples the live generator.

Shape legend: B batch, Z noise size, C image channels, S = 32 the image side, N positions of the
attention's feature map.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from attnzoo.attention import SpatialSelfAttention
from attnzoo.registry import Preset, register_model

IMAGE_SIDE = 32  # generated images are IMAGE_SIDE × IMAGE_SIDE
STAGE_SIDES = (8, 16, 32)  # the feature-map sides of the generator's upsampling stages (and D's, reversed)


@dataclass(frozen=True)
class SAGANConfig:
    image_channels: int = 3  # channels of the images (set from the data: 3 for mirror, 1 for digits)
    noise: int = 256  # Z, the generator's input noise (>= the mirror texture's 256 free values; 64 collapsed)
    width: int = 16  # channels of the 16- and 32-pixel stages (the 8-pixel stage and 4×4 input: 2× and 4×)
    block: str = "attention"  # what sits at attention_size: "attention" (SAGAN §3) or "pointwise" (baseline)
    attention_size: int = 16  # side of the feature map the block sees, in both networks: 8, 16 or 32
    reduction: int = 8  # f and g reduce the channels to width / reduction (paper: 8)
    generator_rate: float = 0.25  # G's learning rate as a fraction of D's (TTUR, §4: 1e-4 / 4e-4)
    batch_std_group: int = 0  # D sees the feature spread within groups of this many images (ProGAN; 0: off)
    average_decay: float = 0.999  # sample from a moving average of G's weights with this decay (0: the live G)

    def __post_init__(self) -> None:
        if self.block not in ("attention", "pointwise"):
            raise ValueError(f"block: expected 'attention' or 'pointwise', got {self.block!r}")
        if self.attention_size not in STAGE_SIDES:
            raise ValueError(f"attention_size: expected one of {STAGE_SIDES}, got {self.attention_size}")
        if self.batch_std_group < 0:
            raise ValueError(f"batch_std_group: expected 0 (off) or a group size >= 1, got {self.batch_std_group}")
        if not 0 <= self.average_decay < 1:
            raise ValueError(f"average_decay: expected a number in [0, 1), got {self.average_decay}")
        if self.width % 8 or self.width < 8:
            raise ValueError(f"width: expected a positive multiple of 8, got {self.width}")


class BlockOutput(NamedTuple):
    """What the block at ``attention_size`` returns: the map ``(B, C', H, W)`` and ``(B, N, N)`` weights or None."""

    context: Tensor
    weights: Tensor | None


class PointwiseBlock(nn.Module):
    """The baseline's block: ``y = γ · W_2 W_1 x + x`` with 1×1 convolutions, γ initialised to 0.

    ``W_1`` maps C to 5C/8 channels and ``W_2`` back, ``1.25 C²`` weights: exactly SAGAN's f, g
    (C²/8 each), h (C²/2) and v (C²/2). Every position sees only itself.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = channels * 5 // 8
        self.down = nn.Conv2d(channels, hidden, 1, bias=False)
        self.up = nn.Conv2d(hidden, channels, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: Tensor, need_weights: bool = True) -> BlockOutput:
        return BlockOutput(self.gamma * self.up(self.down(x)) + x, None)  # (B, C, H, W)


def make_block(config: SAGANConfig, channels: int) -> nn.Module:
    """The block at ``attention_size``: SAGAN's self-attention or the matched pointwise baseline."""
    if config.block == "attention":
        return SpatialSelfAttention(channels, reduction=config.reduction)
    return PointwiseBlock(channels)


def stage_channels(config: SAGANConfig) -> dict[int, int]:
    """Channels of the feature map of each side: ``{4: 4w, 8: 2w, 16: w, 32: w}``."""
    return {4: 4 * config.width, 8: 2 * config.width, 16: config.width, 32: config.width}


class Generator(nn.Module):
    """z ``(B, Z)`` → a 4×4 map → three (BatchNorm, ReLU, 2× upsampling, 3×3 conv) stages → tanh image.

    Returns ``BlockOutput(images (B, C, S, S) in [-1, 1], attention weights (B, N, N) or None)``.
    """

    def __init__(self, config: SAGANConfig) -> None:
        super().__init__()
        channels = stage_channels(config)
        self.noise, self.start = config.noise, channels[4]
        self.project = nn.Linear(config.noise, channels[4] * 16)
        self.stages = nn.ModuleList()
        for side in STAGE_SIDES:
            before, after = channels[side // 2], channels[side]
            layers = [nn.BatchNorm2d(before), nn.ReLU(), nn.Upsample(scale_factor=2), nn.Conv2d(before, after, 3, 1, 1)]
            self.stages.append(nn.Sequential(*layers))
        self.attention_size = config.attention_size
        self.block = make_block(config, channels[config.attention_size])
        self.to_image = nn.Sequential(
            nn.BatchNorm2d(channels[32]), nn.ReLU(), nn.Conv2d(channels[32], config.image_channels, 3, 1, 1), nn.Tanh()
        )

    def forward(self, z: Tensor, need_weights: bool = False) -> BlockOutput:
        if z.dim() != 2 or z.size(1) != self.noise:
            raise ValueError(f"z: expected (B, Z) with Z = {self.noise}, got {tuple(z.shape)}")
        x = self.project(z).view(z.size(0), self.start, 4, 4)  # (B, 4w, 4, 4)
        weights = None
        for side, stage in zip(STAGE_SIDES, self.stages, strict=True):
            x = stage(x)  # (B, C_side, side, side)
            if side == self.attention_size:
                x, weights = self.block(x, need_weights=need_weights)
        return BlockOutput(self.to_image(x), weights)  # (B, C, S, S)


def batch_std(x: Tensor, group: int) -> Tensor:
    """Minibatch standard deviation (Karras et al. 2018, ProGAN §3): ``x`` ``(B, C, H, W)`` → ``(B, C + 1, H, W)``.

    The extra channel holds, for each image, the standard deviation of every feature over its group of
    ``group`` consecutive images, averaged over features and positions: a collapsed generator's
    samples are alike, so their spread is small and the discriminator can see it. Groups are
    consecutive, so the real and generated halves of a batch never share one (the largest divisor
    of B up to ``group`` is used).
    """
    size = max(k for k in range(1, min(group, x.size(0)) + 1) if x.size(0) % k == 0)
    grouped = x.view(-1, size, *x.shape[1:])  # (B / size, size, C, H, W)
    spread = (grouped.var(dim=1, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (B / size,)
    channel = spread.repeat_interleave(size)[:, None, None, None].expand(-1, 1, *x.shape[2:])  # (B, 1, H, W)
    return torch.cat([x, channel], dim=1)


class Discriminator(nn.Module):
    """An image ``(B, C, S, S)`` → a 3×3 conv → three (LeakyReLU, 4×4 stride-2 conv) stages → a score ``(B,)``.

    The score is unbounded (the hinge loss, eq. 5, reads it); returns ``BlockOutput(score, weights)``.
    """

    def __init__(self, config: SAGANConfig) -> None:
        super().__init__()
        channels = stage_channels(config)
        self.image_channels = config.image_channels
        self.first = nn.Conv2d(config.image_channels, channels[32], 3, 1, 1)
        self.stages = nn.ModuleList(
            nn.Sequential(nn.LeakyReLU(0.1), nn.Conv2d(channels[side], channels[side // 2], 4, 2, 1))
            for side in reversed(STAGE_SIDES)
        )
        self.attention_size = config.attention_size
        self.block = make_block(config, channels[config.attention_size])
        self.batch_std_group = config.batch_std_group
        extra = 1 if config.batch_std_group else 0  # the batch-spread channel
        self.last = nn.Conv2d(channels[4] + extra, channels[4], 3, 1, 1) if extra else None
        self.score = nn.Linear(channels[4], 1)

    def forward(self, images: Tensor, need_weights: bool = False) -> BlockOutput:
        expected = (self.image_channels, IMAGE_SIDE, IMAGE_SIDE)
        if images.dim() != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(f"images: expected (B, {', '.join(map(str, expected))}), got {tuple(images.shape)}")
        x, weights = self.first(images), None  # (B, w, 32, 32)
        if self.attention_size == IMAGE_SIDE:
            x, weights = self.block(x, need_weights=need_weights)
        for side, stage in zip(reversed(STAGE_SIDES), self.stages, strict=True):
            x = stage(x)  # (B, C_{side/2}, side/2, side/2)
            if side // 2 == self.attention_size:
                x, weights = self.block(x, need_weights=need_weights)
        if self.last is not None:  # ProGAN's place for it: before D's last convolution
            x = self.last(torch.nn.functional.leaky_relu(batch_std(x, self.batch_std_group), 0.1))  # (B, 4w, 4, 4)
        features = torch.relu(x).sum(dim=(2, 3))  # (B, 4w), global sum pooling as in SAGAN's code
        return BlockOutput(self.score(features).squeeze(1), weights)  # (B,)


def apply_spectral_norm(network: nn.Module) -> None:
    """Spectral normalisation (Miyato et al. 2018; SAGAN §4) on every convolution and linear layer."""
    for module in list(network.modules()):
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            spectral_norm(module)


class SAGAN(nn.Module):
    """The generator, the discriminator and (``average_decay > 0``) the generator's moving average.

    Calling it samples from the average (the live generator when there is none):
    ``z (B, Z)`` → ``BlockOutput(images, weights)``.
    """

    def __init__(self, config: SAGANConfig) -> None:
        super().__init__()
        self.config = config
        self.generator, self.discriminator = Generator(config), Discriminator(config)
        apply_spectral_norm(self.generator)
        apply_spectral_norm(self.discriminator)
        self.average: Generator | None = None
        if config.average_decay > 0:
            self.average = copy.deepcopy(self.generator).requires_grad_(False)  # not trained: averaged
            self.register_buffer("average_updates", torch.zeros((), dtype=torch.long))

    def forward(self, z: Tensor, need_weights: bool = False, live: bool = False) -> BlockOutput:
        sampler = self.generator if live or self.average is None else self.average
        return sampler(z, need_weights=need_weights)

    @torch.no_grad()
    def update_average(self) -> None:
        """``a ← d·a + (1 − d)·g`` for every float tensor of G's state (weights, BatchNorm statistics,
        spectral norm's u and v, as BigGAN's code), with ``d = min(decay, (1 + t) / (10 + t))`` after
        ``t`` updates so that the early average does not remember the initial weights for long."""
        if self.average is None:
            return
        updates = int(self.average_updates)
        decay = min(self.config.average_decay, (1 + updates) / (10 + updates))
        live = self.generator.state_dict()
        for name, averaged in self.average.state_dict().items():
            if averaged.is_floating_point():
                averaged.lerp_(live[name], 1 - decay)
            else:
                averaged.copy_(live[name])
        self.average_updates += 1

    def gammas(self) -> dict[str, float]:
        """γ of the generator's and the discriminator's block (eq. 3)."""
        gammas = (self.generator.block.gamma, self.discriminator.block.gamma)
        return {name: float(gamma.detach()) for name, gamma in zip(("gamma_g", "gamma_d"), gammas, strict=True)}


@register_model(
    "sagan",
    config=SAGANConfig,
    paper="Zhang et al. 2018, Self-Attention Generative Adversarial Networks",
    presets={
        "attention": Preset(model={"block": "attention"}, about="SAGAN: self-attention at 16×16 in G and D"),
        "no-attention": Preset(
            model={"block": "pointwise"}, about="the baseline: a γ-gated 1×1 block of the same parameter count"
        ),
    },
)
def build_sagan(config: SAGANConfig) -> SAGAN:
    return SAGAN(config)
