"""The Recurrent Attention Model (Mnih, Heess, Graves, Kavukcuoglu 2014) and its two baselines.

RAM looks at an image through a few glimpses, one per step, and decides where to look next:

    glimpse network   g_t = f_g(x, l_{t-1}) = ReLU(Linear(h_g) + Linear(h_l))            §3.1, §4.1
                      h_g = ReLU(Linear(ρ(x, l_{t-1}))),  h_l = ReLU(Linear(l_{t-1}))
                      (or, what ⊙ where, g_t = ReLU(Linear(h_g)) ⊙ ReLU(Linear(h_l)), as Ba et al. 2015)
    core network      h_t = f_h(h_{t-1}, g_t) = ReLU(Linear(h_{t-1}) + Linear(g_t))      (or an LSTM)
    location network  l_t ~ N(f_l(h_t), σ² I),  f_l(h_t) = tanh(Linear(h_t)),  σ fixed   §3.1, §4.1
    action network    p(y | h_T) = softmax(Linear(h_T))                                  (after the last glimpse)
    baseline network  b_t = Linear(h_t)                                                  §3.2

ρ is :class:`~attnzoo.models.ram.glimpse.GlimpseSensor`. The first glimpse is at the centre,
``l_0 = (0, 0)``; ``T`` glimpses sample ``T - 1`` locations. Its cost per image is fixed by
``(g, k, T)`` and the layer sizes, not by the image size.

The baselines of the paper's Table 1: a fully connected net (:class:`DigitsMLP`) and a small
convolutional net (:class:`DigitsConvNet`) whose cost grows with the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnzoo.models.ram.glimpse import GlimpseSensor
from attnzoo.registry import Preset, register_model

DIGIT_CANVAS = 28  # a centred digit's canvas (attnzoo.tasks.digits.DIGIT_SIZE, MNIST's); larger: translated


class CanvasDefaults:
    """A config whose fields left ``None`` take defaults that depend on ``canvas`` (resolved in ``__post_init__``).

    :meth:`on_canvas` moves the config to another canvas: the fields that were left to their
    default follow the new canvas, the ones that were set keep their value.
    """

    def _resolve(self, defaults: dict[str, Any]) -> None:
        unset = tuple(name for name in defaults if getattr(self, name) is None)
        for name in unset:
            object.__setattr__(self, name, defaults[name])
        object.__setattr__(self, "_canvas_defaults", unset)  # not a field: not saved, not compared

    def on_canvas(self, canvas: int) -> Any:
        """This config for square images of side ``canvas`` (the recipe sets it from the task)."""
        if canvas == self.canvas:
            return self
        return replace(self, canvas=canvas, **dict.fromkeys(getattr(self, "_canvas_defaults", ())))


@dataclass(frozen=True)
class RAMConfig(CanvasDefaults):
    """Sizes of RAM; defaults are the paper's translated-MNIST model (§4.1) for its ``canvas``."""

    canvas: int = 60  # side of the square images the glimpse defaults are chosen for (the recipe sets it)
    glimpse_size: int | None = None  # g: side of the finest patch in pixels (None: 8 on 28×28, else 12; Table 1)
    scales: int | None = None  # k: patches per glimpse, each twice as wide (None: 1 on 28×28, 3 to 60×60, 4 beyond)
    channels: int = 1  # image channels (grey digits)
    glimpses: int = 6  # T: glimpses per image, the first at the centre; paper Table 1: 2 to 8
    patch_hidden: int = 128  # size of h_g, the "what" features of the patches (paper: 128)
    location_hidden: int = 128  # size of h_l, the "where" features of the location (paper: 128)
    glimpse_hidden: int = 256  # size of g_t, the glimpse representation (paper: 256)
    core_hidden: int = 256  # size of the core state h_t (paper: 256)
    core: str = "rnn"  # "rnn": ReLU(Linear(h) + Linear(g)) as the paper's MNIST runs; "lstm": an LSTM cell
    location_std: float = 0.2  # σ of the Gaussian location policy in [-1, 1] units (0.2 = 6 px on 60×60)
    classes: int = 10  # number of classes (digits)
    policy_trains_core: bool = False  # REINFORCE gradient into the core too (paper: yes); default: policy only
    dropout: float = 0.0  # dropout on the glimpse representation g_t in training (not in the paper; 0: none)
    combine: str = "add"  # g_t from what and where: "add" (the paper's sum) or "multiply" (⊙, Ba et al. 2015)

    def __post_init__(self) -> None:
        if self.canvas == DIGIT_CANVAS:  # Table 1, 28×28: 8×8 glimpses of one scale
            self._resolve({"glimpse_size": 8, "scales": 1})
        else:  # Table 1, 60×60: 12×12 glimpses of 3 scales; a larger canvas: one more scale
            self._resolve({"glimpse_size": 12, "scales": 3 if self.canvas <= 60 else 4})


class RAMOutput(NamedTuple):
    """What :class:`RAM` returns for a batch of ``B`` images and ``T`` glimpses.

    log_probs: ``(B, classes)`` class log-probabilities after the last glimpse.
    locations: ``(B, T, 2)`` where each glimpse looked, ``(x, y)`` in ``[-1, 1]²``; ``[:, 0]`` is the centre.
    means: ``(B, T-1, 2)`` the policy means ``f_l(h_t)`` that the later locations were drawn around.
    log_pi: ``(B, T-1)`` ``log π(l_t | h_t)`` of the drawn locations (before clamping to ``[-1, 1]``).
    baselines: ``(B, T-1)`` the baseline ``b_t`` of each drawn location.
    """

    log_probs: Tensor
    locations: Tensor
    means: Tensor
    log_pi: Tensor
    baselines: Tensor


class RNNCore(nn.Module):
    """The paper's core for MNIST: ``h_t = ReLU(Linear(h_{t-1}) + Linear(g_t))``; the state is ``h``."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.input = nn.Linear(input_size, hidden_size)
        self.recurrent = nn.Linear(hidden_size, hidden_size)

    def initial_state(self, reference: Tensor) -> Tensor:
        return reference.new_zeros(reference.size(0), self.hidden_size)

    def forward(self, glimpse: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        hidden = F.relu(self.input(glimpse) + self.recurrent(state))  # (B, H)
        return hidden, hidden


class LSTMCore(nn.Module):
    """An LSTM core (the paper's choice for its dynamic environment); the state is ``(h, c)``."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.cell = nn.LSTMCell(input_size, hidden_size)

    def initial_state(self, reference: Tensor) -> tuple[Tensor, Tensor]:
        zeros = reference.new_zeros(reference.size(0), self.hidden_size)
        return zeros, zeros

    def forward(self, glimpse: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        hidden, cell = self.cell(glimpse, state)  # (B, H) each
        return hidden, (hidden, cell)


CORES = {"rnn": RNNCore, "lstm": LSTMCore}


class RAM(nn.Module):
    """Recurrent Attention Model (Mnih et al. 2014): glimpse, core, location, action, baseline networks.

    Gradients (see :mod:`attnzoo.models.ram.recipe` for the loss): the sampled location ``l_t`` is
    detached, so the classification loss reaches the glimpse and core networks through the patches
    and ``h_l`` only, as in the paper, where the sensor is not differentiable in ``l``. The
    location network gets the REINFORCE gradient through ``log π(l_t | f_l(h_t))``; with
    ``policy_trains_core=False`` (default) it reads ``h_t.detach()``, so that gradient stops at the
    location network, whereas the paper lets it reach every parameter. The baseline reads
    ``h_t.detach()`` (its squared error trains the baseline network only).
    """

    def __init__(self, config: RAMConfig) -> None:
        super().__init__()
        if config.core not in CORES:
            raise ValueError(f"core: expected one of {sorted(CORES)}, got {config.core!r}")
        if config.glimpses < 1:
            raise ValueError(f"glimpses: expected >= 1, got {config.glimpses}")
        if config.location_std <= 0:
            raise ValueError(f"location_std: expected > 0, got {config.location_std}")
        if config.combine not in ("add", "multiply"):
            raise ValueError(f"combine: expected 'add' or 'multiply', got {config.combine!r}")
        if not 0 <= config.dropout < 1:
            raise ValueError(f"dropout: expected a probability in [0, 1), got {config.dropout}")
        self.config = config
        self.sensor = GlimpseSensor(config.glimpse_size, config.scales)
        retina = config.scales * config.channels * config.glimpse_size**2
        self.patch_encoder = nn.Linear(retina, config.patch_hidden)  # h_g = ReLU(Linear(ρ))
        self.location_encoder = nn.Linear(2, config.location_hidden)  # h_l = ReLU(Linear(l))
        self.what = nn.Linear(config.patch_hidden, config.glimpse_hidden)  # Linear(h_g) of g_t
        self.where = nn.Linear(config.location_hidden, config.glimpse_hidden)  # Linear(h_l) of g_t
        self.core = CORES[config.core](config.glimpse_hidden, config.core_hidden)
        self.locator = nn.Linear(config.core_hidden, 2)  # f_l
        self.classifier = nn.Linear(config.core_hidden, config.classes)  # action network
        self.baseline = nn.Linear(config.core_hidden, 1)  # b_t
        self.dropout = nn.Dropout(config.dropout)  # on g_t, in training mode only

    def glimpse(self, images: Tensor, locations: Tensor) -> Tensor:
        """``g_t = f_g(x, l)``: ``(B, C, H, W)``, ``(B, 2)`` -> ``(B, glimpse_hidden)``, dropout in training."""
        patches = self.sensor(images, locations).flatten(1)  # (B, k·C·g·g)
        what = F.relu(self.patch_encoder(patches))  # h_g (B, patch_hidden)
        where = F.relu(self.location_encoder(locations))  # h_l (B, location_hidden)
        if self.config.combine == "multiply":
            joined = F.relu(self.what(what)) * F.relu(self.where(where))
        else:
            joined = F.relu(self.what(what) + self.where(where))
        return self.dropout(joined)  # (B, glimpse_hidden)

    def forward(
        self, images: Tensor, *, sample: bool = True, glimpses: int | None = None, path: Tensor | None = None
    ) -> RAMOutput:
        """Take ``glimpses`` (default ``config.glimpses``) glimpses of each image and classify it.

        Args:
            images: ``(B, C, H, W)``.
            sample: draw each location from the policy (training, Monte-Carlo evaluation); False
                looks at the policy's means (a deterministic path).
            glimpses: override of ``T``.
            path: ``(B, T, 2)`` look at these locations instead of the policy's (``path[:, 0]``
                replaces the centre too); ``log_pi`` is then that of ``path[:, 1:]`` under the policy.
                For diagnostics, e.g. the error when every glimpse is on the object.

        Returns:
            :class:`RAMOutput`.
        """
        if images.dim() != 4 or images.size(1) != self.config.channels:
            raise ValueError(
                f"images: expected (B, C, H, W) with C = {self.config.channels}, got {tuple(images.shape)}"
            )
        steps = self.config.glimpses if glimpses is None else glimpses
        if path is not None and path.shape != (images.size(0), steps, 2):
            raise ValueError(f"path: expected (B, T, 2) = ({images.size(0)}, {steps}, 2), got {tuple(path.shape)}")
        std = self.config.location_std
        location = images.new_zeros(images.size(0), 2) if path is None else path[:, 0]  # l_0: the centre
        state = self.core.initial_state(images)
        locations, means, log_pis, baselines = [location], [], [], []
        for step in range(steps):
            hidden, state = self.core(self.glimpse(images, location), state)  # h_t (B, H)
            if step == steps - 1:
                break
            mean = torch.tanh(self.locator(hidden if self.config.policy_trains_core else hidden.detach()))  # (B, 2)
            drawn = (mean + std * torch.randn_like(mean) if sample else mean).detach()  # l_t ~ N(mean, σ²)
            if path is not None:
                drawn = path[:, step + 1].detach()
            log_pi = (-((drawn - mean) ** 2) / (2 * std**2) - math.log(std * math.sqrt(2 * math.pi))).sum(-1)
            location = drawn.clamp(-1.0, 1.0)
            locations.append(location)
            means.append(mean)
            log_pis.append(log_pi)
            baselines.append(self.baseline(hidden.detach()).squeeze(-1))
        log_probs = F.log_softmax(self.classifier(hidden), dim=-1)  # (B, classes)
        empty = images.new_zeros(images.size(0), 0)
        return RAMOutput(
            log_probs,
            torch.stack(locations, dim=1),
            torch.stack(means, dim=1) if means else empty[..., None].expand(-1, 0, 2),
            torch.stack(log_pis, dim=1) if log_pis else empty,
            torch.stack(baselines, dim=1) if baselines else empty,
        )

    @torch.no_grad()
    def predict(self, images: Tensor, samples: int = 1) -> Tensor:
        """Class probabilities ``(B, classes)`` averaged over ``samples`` glimpse paths (Monte Carlo).

        ``samples=0`` follows the policy's means once (deterministic).
        """
        if samples == 0:
            return self(images, sample=False).log_probs.exp()
        return torch.stack([self(images).log_probs.exp() for _ in range(samples)]).mean(0)


register_model(
    "ram",
    config=RAMConfig,
    paper="Mnih et al. 2014",
    presets={
        "ram-paper": Preset(
            model={"core": "rnn", "policy_trains_core": False},
            training={"weight_decay": 0.0},
            about="the paper's model: ReLU RNN core of 256, Adam; the policy gradient stops at the location net",
        ),
        "ram-lstm": Preset(
            model={"core": "lstm", "policy_trains_core": True},
            training={"weight_decay": 0.1},
            about="the measured recipe (docs/results/ram.md): LSTM core, AdamW decay 0.1, policy gradient in the core",
        ),
    },
)(RAM)


# ---- the baselines of Table 1 -----------------------------------------------------------------


@dataclass(frozen=True)
class DigitsMLPConfig(CanvasDefaults):
    """A fully connected net on the whole canvas (Mnih et al. 2014, Table 1: "FC, 2 layers")."""

    canvas: int = 60  # side of the square input image (the recipe sets it from the task)
    channels: int = 1  # image channels
    hidden: tuple[int, ...] | None = None  # hidden layer sizes (None: Table 1's 256, 256 on 28×28, else 64, 64)
    classes: int = 10  # number of classes

    def __post_init__(self) -> None:
        self._resolve({"hidden": (256, 256) if self.canvas == DIGIT_CANVAS else (64, 64)})


class DigitsMLP(nn.Module):
    """Flatten the image, ``len(hidden)`` ReLU layers, a linear classifier; returns ``(B, classes)`` log-probs."""

    def __init__(self, config: DigitsMLPConfig) -> None:
        super().__init__()
        self.config = config
        sizes = [config.channels * config.canvas**2, *config.hidden]
        layers: list[nn.Module] = []
        for inputs, outputs in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(inputs, outputs), nn.ReLU()]
        self.layers = nn.Sequential(*layers, nn.Linear(sizes[-1], config.classes))

    def forward(self, images: Tensor) -> Tensor:
        expected = (self.config.channels, self.config.canvas, self.config.canvas)
        if images.dim() != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(
                f"images: expected (B, C, H, W) = (?, {', '.join(map(str, expected))}), got {tuple(images.shape)}"
            )
        return F.log_softmax(self.layers(images.flatten(1)), dim=-1)


register_model("digits-mlp", config=DigitsMLPConfig, paper="Mnih et al. 2014 (baseline)")(DigitsMLP)


@dataclass(frozen=True)
class DigitsConvNetConfig:
    """A small convnet that takes any canvas size (global max pooling at the end)."""

    channels: int = 1  # image channels
    widths: tuple[int, ...] = (16, 32, 64, 128)  # output channels of each conv layer
    kernels: tuple[int, ...] = (5, 3, 3, 3)  # kernel side of each conv layer ("same" padding)
    hidden: int = 128  # size of the fully connected layer after pooling
    classes: int = 10  # number of classes


class DigitsConvNet(nn.Module):
    """Conv + batch norm + ReLU layers, 2×2 max pooling between them, global max pooling, a 2-layer classifier.

    Returns ``(B, classes)`` log-probabilities. Its cost grows with the image area. (Without batch
    norm, training on the mostly empty 60×60 canvases at Adam's 2e-3 could kill every ReLU.)
    """

    def __init__(self, config: DigitsConvNetConfig) -> None:
        super().__init__()
        if len(config.widths) != len(config.kernels):
            raise ValueError(f"kernels: expected one per width ({len(config.widths)}), got {len(config.kernels)}")
        self.config = config
        layers: list[nn.Module] = []
        inputs = config.channels
        for index, (width, kernel) in enumerate(zip(config.widths, config.kernels, strict=True)):
            if index:
                layers.append(nn.MaxPool2d(2))
            layers += [nn.Conv2d(inputs, width, kernel, padding=kernel // 2), nn.BatchNorm2d(width), nn.ReLU()]
            inputs = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(inputs, config.hidden), nn.ReLU(), nn.Linear(config.hidden, config.classes))

    def forward(self, images: Tensor) -> Tensor:
        if images.dim() != 4 or images.size(1) != self.config.channels:
            raise ValueError(
                f"images: expected (B, C, H, W) with C = {self.config.channels}, got {tuple(images.shape)}"
            )
        features = self.features(images).amax(dim=(2, 3))  # (B, widths[-1])
        return F.log_softmax(self.head(features), dim=-1)


register_model("digits-convnet", config=DigitsConvNetConfig, paper="Mnih et al. 2014 (baseline)")(DigitsConvNet)
