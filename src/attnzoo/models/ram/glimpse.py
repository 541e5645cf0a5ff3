"""The glimpse sensor ρ(x, l) of the Recurrent Attention Model (Mnih et al. 2014, §3.1).

"Given the coordinates of the glimpse and an input image, the sensor extracts a retina-like
representation ρ(x_t, l_{t-1}) centered at l_{t-1} that contains multiple resolution patches":
``k`` square patches centred at ``l``, the first ``g × g`` pixels, each next one twice as wide,
all reduced to ``g × g`` (a ``2^i × 2^i`` block average for patch ``i``) and stacked. Pixels
outside the image read as zero.

Coordinates: ``l = (x, y)`` in ``[-1, 1]²``, ``(-1, -1)`` the top-left corner of the image and
``(0, 0)`` its centre. On an ``H × W`` image the centre pixel is
``(row, col) = (⌊(y + 1) H / 2⌋, ⌊(x + 1) W / 2⌋)`` and patch ``i`` (side ``s = g 2^i``) covers rows
``row - s//2 ... row - s//2 + s - 1`` and the same columns around ``col``; this is the convention
of the common PyTorch reimplementation, so both extract
the same pixels.

Vectorised over the batch with one ``grid_sample`` per scale and no per-image loop: patch 0 is
sampled at its pixel centres (bilinear sampling at a pixel centre returns the pixel); patch
``i >= 1`` is sampled bilinearly at the centre of every ``2 × 2`` block of its pixels, which is
the block's mean, and ``2^(i-1) × 2^(i-1)`` of those means are averaged. The work is
``O(B · g² · 4^(k-1))`` reads whatever the image size, because nothing is padded or copied at
image size. The result equals slicing the zero-padded image up to float rounding of the sampling
grid (about ``1e-6`` relative).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def glimpse_centres(locations: Tensor, height: int, width: int) -> tuple[Tensor, Tensor]:
    """Pixel ``(rows, cols)`` ``(B,)`` int64 at the centre of the glimpses at ``locations`` ``(B, 2)``."""
    cols = torch.floor((locations[:, 0] + 1) * (width / 2)).long()
    rows = torch.floor((locations[:, 1] + 1) * (height / 2)).long()
    return rows, cols


def glimpse_boxes(locations: Tensor, height: int, width: int, size: int, scales: int) -> Tensor:
    """The squares a glimpse reads, for pictures: ``(B, scales, 3)`` int64 of (top row, left col, side)."""
    rows, cols = glimpse_centres(locations, height, width)
    sides = torch.tensor([size << scale for scale in range(scales)], device=locations.device)  # (k,)
    tops = rows[:, None] - sides // 2  # (B, k)
    lefts = cols[:, None] - sides // 2  # (B, k)
    return torch.stack([tops, lefts, sides.expand_as(tops)], dim=-1)


def _sample_offsets(size: int, scale: int) -> Tensor:
    """Pixel offsets from the glimpse centre of the samples of patch ``scale`` along one axis (float64).

    Patch ``scale`` has side ``s = size · 2^scale`` and starts ``s // 2`` before the centre. Scale 0
    samples each pixel; a larger scale samples the centre of each 2-pixel pair (``+ 0.5``).
    """
    side = size << scale
    if scale == 0:
        return torch.arange(size, dtype=torch.float64) - side // 2
    return 2 * torch.arange(side // 2, dtype=torch.float64) + 0.5 - side // 2


class GlimpseSensor(nn.Module):
    """Retina-like glimpse ρ(x, l): ``scales`` patches of ``size × size`` (Mnih et al. 2014, §3.1).

    No parameters. Args:
        size: ``g``, the side of the first patch and of every returned patch (even or odd).
        scales: ``k``, the number of patches; patch ``i`` covers ``g 2^i × g 2^i`` pixels.
    """

    def __init__(self, size: int, scales: int) -> None:
        super().__init__()
        if size < 1 or scales < 1:
            raise ValueError(f"size, scales: expected both >= 1, got {size} and {scales}")
        self.size, self.scales = size, scales
        for scale in range(scales):
            self.register_buffer(f"offsets{scale}", _sample_offsets(size, scale), persistent=False)

    def forward(self, images: Tensor, locations: Tensor) -> Tensor:
        """Extract the glimpses.

        Args:
            images: ``(B, C, H, W)``.
            locations: ``(B, 2)`` ``(x, y)`` in ``[-1, 1]²`` (values outside read more zero padding).

        Returns:
            glimpses: ``(B, k, C, g, g)``; ``glimpses[:, i]`` is patch ``i`` reduced to ``g × g``.
        """
        if images.dim() != 4:
            raise ValueError(f"images: expected (B, C, H, W), got {tuple(images.shape)}")
        batch, _, height, width = images.shape
        if locations.shape != (batch, 2):
            raise ValueError(f"locations: expected (B, 2) = ({batch}, 2), got {tuple(locations.shape)}")
        rows, cols = glimpse_centres(locations.detach(), height, width)
        rows, cols = rows.to(images.dtype), cols.to(images.dtype)
        patches = []
        for scale in range(self.scales):
            offsets = getattr(self, f"offsets{scale}").to(images.dtype)  # (n,)
            count = offsets.numel()
            # grid_sample (align_corners=False) reads pixel p at the normalised coordinate (2p + 1) / W - 1
            grid_x = (2 * (cols[:, None] + offsets) + 1) / width - 1  # (B, n)
            grid_y = (2 * (rows[:, None] + offsets) + 1) / height - 1  # (B, n)
            grid = torch.stack(
                [grid_x[:, None, :].expand(batch, count, count), grid_y[:, :, None].expand(batch, count, count)],
                dim=-1,
            )  # (B, n, n, 2)
            patch = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
            if scale > 1:
                patch = F.avg_pool2d(patch, 1 << (scale - 1))  # (B, C, g, g): mean of the 2×2-block means
            patches.append(patch)
        return torch.stack(patches, dim=1)  # (B, k, C, g, g)
