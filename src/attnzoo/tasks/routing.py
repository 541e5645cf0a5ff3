"""Feature routing: a task where one attention weight per token is not enough.

Each token is a bundle of features ``(colour, shape, size, mark)``, the first three drawn uniformly
from ``0..values-1``. Exactly one token is marked "colour" and another "shape"; the label is

    label = (colour of the colour-marked token + shape of the shape-marked token) mod values

so the answer needs the colour features of one token and the shape features of another. A
multi-dimensional attention (a weight per token and feature, :class:`attnzoo.attention.MultiDimensionalAttention`)
can send the colour features to one token and the shape features to the other; a single scalar
weight per token mixes both tokens' colours (and shapes) into one average. Structured
self-attention with ``r >= 2`` hops can give each token a hop.

Ids are shifted by one so that 0 stays padding: feature ``f`` of value ``x`` is id ``x + 1``.
Shape legend: ``N`` examples, ``T`` tokens, ``F = 4`` fields.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

FIELDS = ("colour", "shape", "size", "mark")
NO_MARK, COLOUR_MARK, SHAPE_MARK = 0, 1, 2  # values of the mark field (before the +1 shift)


@dataclass(frozen=True)
class RoutingData:
    """``tokens`` ``(N, T, 4)`` ids (feature value + 1); ``labels`` ``(N,)``; ``colour_token`` and
    ``shape_token`` ``(N,)``: the positions of the two marked tokens (the gold evidence)."""

    tokens: Tensor
    labels: Tensor
    colour_token: Tensor
    shape_token: Tensor

    def __len__(self) -> int:
        return self.labels.numel()


def field_size(values: int) -> int:
    """Ids per field: padding, then ``max(values, 3)`` feature values (the mark has 3)."""
    return max(values, 3) + 1


def generate_routing(count: int, length: int, values: int, seed: int) -> RoutingData:
    """``count`` sequences of ``length`` tokens with features in ``0..values-1`` (from ``seed`` alone)."""
    if length < 2 or values < 2:
        raise ValueError(f"length, values: expected >= 2 each, got {length}, {values}")
    generator = torch.Generator().manual_seed(seed)
    features = torch.randint(0, values, (count, length, 3), generator=generator)  # colour, shape, size
    order = torch.rand(count, length, generator=generator).argsort(dim=1)
    colour_token, shape_token = order[:, 0], order[:, 1]  # two different positions
    rows = torch.arange(count)
    marks = torch.full((count, length), NO_MARK)
    marks[rows, colour_token] = COLOUR_MARK
    marks[rows, shape_token] = SHAPE_MARK
    labels = (features[rows, colour_token, 0] + features[rows, shape_token, 1]) % values
    tokens = torch.cat([features, marks[..., None]], dim=-1) + 1  # (N, T, 4); 0 = padding
    return RoutingData(tokens, labels, colour_token, shape_token)


def describe_token(token: Tensor) -> str:
    """A token ``(4,)`` of ids as text, e.g. ``"c3 s1 z0 colour"``."""
    colour, shape, size, mark = (int(value) - 1 for value in token)
    marks = {NO_MARK: "", COLOUR_MARK: " colour", SHAPE_MARK: " shape"}
    return f"c{colour} s{shape} z{size}{marks[mark]}"
