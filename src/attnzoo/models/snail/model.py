"""SNAIL for few-shot classification (Mishra, Rohaninejad, Chen & Abbeel 2018, §4 and Appendix B.1), its
two ablations, and a Prototypical Network (Snell, Swersky & Zemel 2017) on the same embedding.

An ``N``-way ``K``-shot episode is one sequence of ``T = N K + 1`` steps: the ``N K`` support images,
each embedded and concatenated with the one-hot of its label, then the query, embedded and
concatenated with zeros (its label is what the model must say). SNAIL reads the sequence with causal
blocks (:mod:`attnzoo.models.snail.blocks`) and a 1×1 convolution (a linear map per step) gives the
class logits at the query's step (Appendix B.1, 5-way Omniglot)::

    AttentionBlock(64, 32) → TCBlock(T, 128) → AttentionBlock(256, 128) → TCBlock(T, 128)
    → AttentionBlock(512, 256) → 1×1 conv to N

The embedding (Appendix B.1, after Vinyals et al. 2016): 4 blocks of {3×3 conv, batch norm, leaky
ReLU (0.01), 2×2 max pool}, which takes 28×28 to 1×1 × ``channels`` (paper: 64).

Ablations (the paper's claim that both block kinds are needed): ``blocks = ("tc", "tc")`` (preset
``tc-only``) and ``("attention", "attention", "attention")`` (``attention-only``). ProtoNet
(``classifier="prototypes"``, preset ``protonet``) has no sequence model: the logit of class ``k`` is
``-||f(query) - c_k||²`` with ``c_k`` the mean embedding of the class's support images (Snell eqs. 1-2).

Shape legend: ``B`` episodes, ``N`` ways, ``K`` shots, ``S = N K`` support items, ``T = S + 1`` steps,
``E`` embedding size, ``D`` sequence features.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnzoo.attention.functional import check_shape
from attnzoo.models.snail.blocks import AttentionBlock, TCBlock
from attnzoo.registry import Preset, register_model

IMAGE_SIZE = 28  # side of the episode images (the glyphs', Omniglot's)


@dataclass(frozen=True)
class SNAILConfig:
    """Sizes of the few-shot SNAIL; defaults are the paper's 5-way Omniglot model, with a narrower embedding."""

    ways: int = 5  # N: classes per episode (the recipe sets it from the task)
    shots: int = 1  # K: support images per class (the recipe sets it); the sequence has N K + 1 steps
    channels: int = 32  # filters of each of the embedding's 4 conv layers, = the embedding size (paper: 64)
    classifier: str = "snail"  # "snail": causal blocks over the episode; "prototypes": ProtoNet's class means
    blocks: tuple[str, ...] = ("attention", "tc", "attention", "tc", "attention")  # the stack, "attention"/"tc"
    key_sizes: tuple[int, ...] = (64, 256, 512)  # K of the 1st, 2nd, ... attention block (paper: 64, 256, 512)
    value_sizes: tuple[int, ...] = (32, 128, 256)  # V of the 1st, 2nd, ... attention block (paper: 32, 128, 256)
    tc_filters: int = 128  # D of every DenseBlock of every TC block (paper: 128)
    normalise: bool = True  # batch-normalise the embeddings before the sequence (not in the paper; see README)
    tied_start: bool = True  # attention keys start as a copy of the query map (not in the paper; see README)

    def __post_init__(self) -> None:
        if self.classifier not in ("snail", "prototypes"):
            raise ValueError(f"classifier: expected 'snail' or 'prototypes', got {self.classifier!r}")
        unknown = [block for block in self.blocks if block not in ("attention", "tc")]
        if unknown or (self.classifier == "snail" and not self.blocks):
            raise ValueError(f"blocks: expected one or more of 'attention' and 'tc', got {self.blocks}")
        attention_blocks = self.blocks.count("attention")
        if min(len(self.key_sizes), len(self.value_sizes)) < attention_blocks:
            raise ValueError(
                f"key_sizes, value_sizes: expected {attention_blocks} sizes each (one per attention block), "
                f"got {self.key_sizes} and {self.value_sizes}"
            )
        if self.ways < 2 or self.shots < 1:
            raise ValueError(f"ways, shots: expected >= 2 and >= 1, got {self.ways} and {self.shots}")

    @property
    def length(self) -> int:
        """``T = N K + 1``: the steps of one episode's sequence."""
        return self.ways * self.shots + 1


class FewShotOutput(NamedTuple):
    """``logits (B, N)`` of the query's class; ``attention``: each attention block's weights ``(B, T, T)``."""

    logits: Tensor
    attention: tuple[Tensor, ...]


class ConvEmbedding(nn.Module):
    """4 × {3×3 conv, batch norm, leaky ReLU 0.01, 2×2 max pool}: ``(M, 1, 28, 28) -> (M, channels)``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        layers, previous = [], 1
        for _ in range(4):
            layers += [nn.Conv2d(previous, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.LeakyReLU(0.01)]
            layers.append(nn.MaxPool2d(2))  # 28 → 14 → 7 → 3 → 1
            previous = channels
        self.layers = nn.Sequential(*layers)

    def forward(self, images: Tensor) -> Tensor:
        return self.layers(images).flatten(1)  # (M, channels)


def check_episode(support: Tensor, support_labels: Tensor, query: Tensor, config: SNAILConfig) -> None:
    """ValueError unless ``support (B, S, 1, 28, 28)``, ``support_labels (B, S)``, ``query (B, 1, 28, 28)``."""
    size, count = IMAGE_SIZE, config.ways * config.shots
    check_shape("support", support, (None, count, 1, size, size), f"(B, S = {count}, 1, 28, 28)")
    check_shape("support_labels", support_labels, (support.size(0), count), "(B, S)")
    check_shape("query", query, (support.size(0), 1, size, size), "(B, 1, 28, 28)")


class SNAIL(nn.Module):
    """The few-shot SNAIL (§4, Appendix B.1): embeddings ⊕ labels → causal blocks → logits at the query."""

    def __init__(self, config: SNAILConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = ConvEmbedding(config.channels)
        self.normalise = nn.BatchNorm1d(config.channels) if config.normalise else nn.Identity()  # centred inputs
        blocks, size, attention_index = [], config.channels + config.ways, 0
        for kind in config.blocks:
            if kind == "tc":
                blocks.append(TCBlock(size, config.length, config.tc_filters))
            else:
                key, value = config.key_sizes[attention_index], config.value_sizes[attention_index]
                blocks.append(AttentionBlock(size, key, value, config.tied_start))
                attention_index += 1
            size = blocks[-1].out_features
        self.blocks = nn.ModuleList(blocks)
        self.output = nn.Linear(size, config.ways)  # the 1×1 convolution to N logits

    def sequence(self, support: Tensor, support_labels: Tensor, query: Tensor) -> Tensor:
        """The episode as a sequence ``(B, T, E + N)``: support embeddings ⊕ one-hot labels, then query ⊕ zeros."""
        check_episode(support, support_labels, query, self.config)
        batch, count = support_labels.shape
        images = torch.cat([support, query[:, None]], dim=1).flatten(0, 1)  # (B T, 1, 28, 28)
        embedded = self.normalise(self.embedding(images)).view(batch, count + 1, -1)  # (B, T, E)
        labels = F.one_hot(support_labels, self.config.ways).to(embedded.dtype)  # (B, S, N)
        labels = torch.cat([labels, labels.new_zeros(batch, 1, self.config.ways)], dim=1)  # (B, T, N): query's zero
        return torch.cat([embedded, labels], dim=-1)

    def read(self, sequence: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
        """The blocks over ``sequence (B, T, E + N)``: features ``(B, T, D)`` and the attention weights."""
        weights = []
        for block in self.blocks:
            if isinstance(block, AttentionBlock):
                sequence, attention = block(sequence)
                weights.append(attention)  # (B, T, T)
            else:
                sequence = block(sequence)
        return sequence, tuple(weights)

    def forward(self, support: Tensor, support_labels: Tensor, query: Tensor) -> FewShotOutput:
        """Logits ``(B, N)`` of the query's class from ``support (B, S, 1, 28, 28)``, ``support_labels (B, S)``
        and ``query (B, 1, 28, 28)``, and each attention block's weights ``(B, T, T)``."""
        features, weights = self.read(self.sequence(support, support_labels, query))
        return FewShotOutput(self.output(features[:, -1]), weights)  # the query's step


class ProtoNet(nn.Module):
    """Prototypical Networks (Snell et al. 2017, eqs. 1-2) on SNAIL's embedding: the nearest class mean."""

    def __init__(self, config: SNAILConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = ConvEmbedding(config.channels)

    def forward(self, support: Tensor, support_labels: Tensor, query: Tensor) -> FewShotOutput:
        """Logits ``-||f(query) - c_k||²`` ``(B, N)``; ``c_k`` = mean embedding of class ``k``'s support (eq. 1)."""
        check_episode(support, support_labels, query, self.config)
        batch, count = support_labels.shape
        embedded = self.embedding(torch.cat([support, query[:, None]], 1).flatten(0, 1)).view(batch, count + 1, -1)
        one_hot = F.one_hot(support_labels, self.config.ways).to(embedded.dtype)  # (B, S, N)
        prototypes = one_hot.transpose(1, 2) @ embedded[:, :-1] / one_hot.sum(1)[:, :, None]  # (B, N, E) eq. 1
        distances = (embedded[:, -1:] - prototypes).pow(2).sum(-1)  # (B, N) squared Euclidean
        return FewShotOutput(-distances, ())  # eq. 2: p(y = k | x) = softmax(-d(f(x), c_k))


@register_model(
    "snail",
    config=SNAILConfig,
    paper="Mishra et al. 2018",
    presets={
        "snail": Preset(about="the paper's few-shot SNAIL: attention, TC, attention, TC, attention"),
        "tc-only": Preset(model={"blocks": ("tc", "tc")}, about="ablation: the two TC blocks, no attention"),
        "attention-only": Preset(
            model={"blocks": ("attention", "attention", "attention")}, about="ablation: the three attention blocks"
        ),
        "protonet": Preset(model={"classifier": "prototypes"}, about="Prototypical Networks on the same embedding"),
    },
)
def build_snail(config: SNAILConfig) -> nn.Module:
    return ProtoNet(config) if config.classifier == "prototypes" else SNAIL(config)
