"""What several papers' image encoders share: (y, x) coordinate channels.

A few stride-2 convolutions do not encode where a feature is as a deep network's padding effects
do, so the image models here append each pixel's (y, x) position in [-1, 1] to the image (as
CoordConv, and as Santoro et al. 2017 tag Sort-of-CLEVR cells), and a grid of regions can carry
its cells' positions the same way.
"""

from __future__ import annotations

import torch
from torch import Tensor


def coordinate_grid(side: int, like: Tensor) -> Tensor:
    """``(2, side, side)``: the (y, x) coordinates in [-1, 1] of each cell of a ``side`` × ``side`` grid,
    on ``like``'s device and in its dtype."""
    axis = torch.linspace(-1, 1, side, device=like.device, dtype=like.dtype)
    return torch.stack(torch.meshgrid(axis, axis, indexing="ij"))


def append_coordinates(images: Tensor) -> Tensor:
    """Images ``(B, C, S, S)`` -> ``(B, C + 2, S, S)``: each pixel's (y, x) in [-1, 1] appended as two channels."""
    size = images.size(-1)
    return torch.cat([images, coordinate_grid(size, images).expand(images.size(0), 2, size, size)], dim=1)
