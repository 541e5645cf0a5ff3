"""Mirrored shapes: 32×32 images whose two halves must agree, with a rule that checks a generated one.

The data of the Self-Attention GAN experiment (Zhang et al. 2018): long-range structure that a rule
can check. Each image is grey, locally random texture (independent 2×2 blocks, no colour), with one
coloured shape (a square, a disc or a plus, 5–8 pixels wide, one of four saturated colours) in the
left half and the *same* shape, in the same colour, at the mirrored position in the right half:
pixel ``(row, column)`` of the shape appears at ``(row, 31 - column)`` too. The two shapes are
16–30 pixels apart, far outside the few-pixel receptive field of a generator's first convolutions.

The rule (:func:`mirror_consistency`) reads only the pixels: an object is the set of strongly
coloured pixels (saturation ``max - min`` over RGB above :data:`SATURATION`); an image is consistent
when each half holds one (at least :data:`MIN_PIXELS`), the left object and the mirrored right one
overlap with IoU ≥ :data:`MIN_IOU`, and their mean colours differ by less than :data:`MAX_COLOUR_GAP`.

Images are ``(N, 3, 32, 32)`` float32 in ``[-1, 1]`` (a tanh generator's range).
"""

from __future__ import annotations

import torch
from torch import Tensor

SIDE = 32  # image side in pixels; the mirror axis is between columns 15 and 16
HALF = SIDE // 2
SHAPES = ("square", "disc", "plus")
COLOURS = torch.tensor(
    [[1.0, -1.0, -1.0], [-1.0, 1.0, -1.0], [-1.0, -1.0, 1.0], [1.0, 1.0, -1.0]]
)  # red green blue yellow
SATURATION = 0.8  # a pixel belongs to an object when max - min over its RGB exceeds this (texture: 0)
MIN_PIXELS = 6  # an object has at least this many pixels
MIN_IOU = 0.7  # the left object and the mirrored right object overlap at least this much (a plus in a square: 0.56)
MAX_COLOUR_GAP = 0.5  # largest difference of the two objects' mean colours (any channel)


def shape_mask(kind: str, size: int, top: int, left: int) -> Tensor:
    """A ``(SIDE, SIDE)`` bool mask of one shape of width ``size`` whose bounding box starts at ``(top, left)``."""
    rows, columns = torch.meshgrid(torch.arange(SIDE), torch.arange(SIDE), indexing="ij")
    y, x = rows - top, columns - left  # coordinates inside the bounding box
    inside = (y >= 0) & (y < size) & (x >= 0) & (x < size)
    centre = (size - 1) / 2
    if kind == "disc":
        return inside & ((y - centre) ** 2 + (x - centre) ** 2 <= (size / 2) ** 2)
    if kind == "plus":
        arm = max(size // 3, 1)
        low = (size - arm) // 2
        return inside & (((y >= low) & (y < low + arm)) | ((x >= low) & (x < low + arm)))
    if kind == "square":
        return inside
    raise ValueError(f"kind: expected one of {', '.join(SHAPES)}, got {kind!r}")


def mirror_images(count: int, seed: int) -> tuple[Tensor, Tensor]:
    """``count`` mirrored-shape images drawn from ``seed``.

    Returns:
        images: ``(count, 3, 32, 32)`` float32 in ``[-1, 1]``.
        masks: ``(count, 32, 32)`` bool, the pixels of both shapes (the ground truth).
    """
    generator = torch.Generator().manual_seed(seed)
    grey = torch.rand(count, 1, HALF, HALF, generator=generator) * 0.8 - 0.6  # texture in [-0.6, 0.2]
    images = grey.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3).repeat(1, 3, 1, 1)  # 2×2 blocks, grey
    masks = torch.zeros(count, SIDE, SIDE, dtype=torch.bool)
    for index in range(count):
        kind = SHAPES[int(torch.randint(len(SHAPES), (), generator=generator))]
        size = int(torch.randint(5, 9, (), generator=generator))
        top = int(torch.randint(1, SIDE - size, (), generator=generator))
        left = int(torch.randint(1, HALF - size, (), generator=generator))
        half = shape_mask(kind, size, top, left)
        masks[index] = half | half.flip(-1)  # the shape and its mirror image
        colour = COLOURS[int(torch.randint(len(COLOURS), (), generator=generator))]
        images[index] = torch.where(masks[index], colour[:, None, None], images[index])
    return images, masks


def object_masks(images: Tensor) -> Tensor:
    """The strongly coloured pixels of ``images`` ``(N, 3, H, W)``: ``(N, H, W)`` bool."""
    return (images.amax(dim=1) - images.amin(dim=1)) > SATURATION


def mirror_consistency(images: Tensor) -> Tensor:
    """The rule: whether each image's right half mirrors its left half's object (see the module).

    Args:
        images: ``(N, 3, 32, 32)`` in ``[-1, 1]``.

    Returns:
        ``(N,)`` bool, True for a consistent image.
    """
    if images.dim() != 4 or tuple(images.shape[1:]) != (3, SIDE, SIDE):
        raise ValueError(f"images: expected (N, 3, {SIDE}, {SIDE}), got {tuple(images.shape)}")
    masks = object_masks(images)
    left, right = masks[..., :HALF], masks[..., HALF:].flip(-1)  # (N, 32, 16) each, right mirrored
    left_pixels, right_pixels = left.sum(dim=(1, 2)), right.sum(dim=(1, 2))
    union = (left | right).sum(dim=(1, 2)).clamp(min=1)
    iou = (left & right).sum(dim=(1, 2)) / union
    halves = images[..., :HALF], images[..., HALF:].flip(-1)
    means = [
        (half * mask[:, None]).sum(dim=(2, 3)) / mask.sum(dim=(1, 2)).clamp(min=1)[:, None]
        for half, mask in zip(halves, (left, right), strict=True)
    ]  # the objects' mean colours: (N, 3) each
    colour_gap = (means[0] - means[1]).abs().amax(dim=1)
    both = (left_pixels >= MIN_PIXELS) & (right_pixels >= MIN_PIXELS)
    return both & (iou >= MIN_IOU) & (colour_gap < MAX_COLOUR_GAP)
