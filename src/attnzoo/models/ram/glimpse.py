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

Vectorised over the batch with one ``grid_sample`` for all the scales and no per-image loop:
patch 0 is sampled at its pixel centres (bilinear sampling at a pixel centre returns the pixel);
patch ``i >= 1`` is sampled bilinearly at the centre of every ``2 × 2`` block of its pixels, which
is the block's mean, and ``2^(i-1) × 2^(i-1)`` of those means are averaged (the samples are laid
out in ``g × g`` slabs so that this is a mean over one axis, see ``_sample_grid``). The work is
``O(B · g² · 4^(k-1))`` reads whatever the image size, because nothing is padded or copied at
image size. The result equals slicing the zero-padded image up to float32 rounding of the sampling
coordinates (differences up to about ``2e-5`` on images in ``[0, 1]`` at 200 × 200).
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


def _sample_grid(size: int, scales: int) -> Tensor:
    """``(x, y)`` pixel offsets ``(2, S, g²)`` of every sample, in slabs of ``g × g`` (float64).

    Patch ``i`` has ``n = g · b`` samples along each axis, where ``b = 2^(i-1)`` for ``i >= 1``
    (``b = 1`` for patch 0): output pixel ``(r, c)`` averages the samples ``(r b + u, c b + v)``
    for ``u, v < b``. Slab ``(u, v)`` holds those samples for every output pixel, row-major, so
    patch ``i`` is the mean of its ``b²`` slabs. Slabs of patch 0, then patch 1, ...: ``S = Σ b²``.
    """
    slabs = []
    for scale in range(scales):
        offsets = _sample_offsets(size, scale)
        block = len(offsets) // size
        rows, cols = torch.meshgrid(offsets, offsets, indexing="ij")  # (n, n) each
        grid = torch.stack([cols, rows], dim=-1).view(size, block, size, block, 2)  # (g, b, g, b, 2)
        slabs.append(grid.permute(1, 3, 0, 2, 4).reshape(block * block, size * size, 2))  # (b², g², 2)
    return torch.cat(slabs).permute(2, 0, 1).contiguous()  # coordinate first: see GlimpseSensor.forward


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
        self.slabs = [1 if scale == 0 else 4 ** (scale - 1) for scale in range(scales)]  # b² per patch
        self.register_buffer("offsets", _sample_grid(size, scales), persistent=False)  # (2, S, g²)

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
        # grid_sample (align_corners=False) reads pixel p at the normalised coordinate (2p + 1) / W - 1
        sides = torch.tensor([width, height], dtype=torch.float64, device=images.device)  # (2,)
        centres = (2 * torch.stack([cols, rows], dim=-1) + 1) / sides - 1  # (B, 2)
        steps = self.offsets * (2 / sides)[:, None, None]  # (2, S, g²): pixel offsets in normalised units
        # built coordinate first and handed over as a (B, S, g², 2) view: a sum over a last axis of
        # 2 is several times slower on the CPU, and grid_sample reads the view without a copy
        grid = centres.to(images.dtype)[:, :, None, None] + steps.to(images.dtype)  # (B, 2, S, g²)
        samples = F.grid_sample(
            images, grid.permute(0, 2, 3, 1), mode="bilinear", padding_mode="zeros", align_corners=False
        )  # (B, C, S, g²)
        patches = [slabs.mean(dim=2) for slabs in samples.split(self.slabs, dim=2)]  # (B, C, g²) each
        return torch.stack(patches, dim=1).unflatten(-1, (self.size, self.size))  # (B, k, C, g, g)
