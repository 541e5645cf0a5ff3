"""Handwritten digits on a canvas: the data of the Recurrent Attention Model (Mnih et al. 2014, §4.1).

The digits are real: scikit-learn's bundled ``load_digits`` (1,797 scans of 8×8 pixels, 16 grey
levels), upscaled bilinearly to 28×28 like an MNIST digit, with values in ``[0, 1]``. A
*variant* puts them on a canvas, as the paper's experiments do with MNIST:

================  ======  ===================================================================
variant           canvas  what is on it
================  ======  ===================================================================
``centred28``     28×28   the digit alone, centred (paper: "28×28 MNIST")
``translated60``  60×60   the digit at a uniformly random position (paper: "translated MNIST")
``cluttered60``   60×60   as translated, plus 4 random 8×8 crops of other digits (paper §4.1)
``cluttered100``  100×100 as translated, plus 8 random 8×8 crops of other digits
================  ======  ===================================================================

Splits are deterministic: every class is split 70 / 10 / 20 % into train / valid / test by a
permutation seeded with ``seed``, so a test digit is never seen in training (not even as clutter:
the clutter of a split is cut from that split's own digits). Training canvases can be drawn anew
every epoch (:meth:`DigitCanvas.set_epoch`), which is the augmentation that keeps 1,258 training
digits from being memorised; evaluation canvases are fixed by the seed.

MNIST itself can be used by path: :func:`load_mnist` reads its IDX files (the four files of
``http://yann.lecun.com/exdb/mnist``, gzipped or not) and :class:`DigitCanvas` takes its arrays.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

DIGIT_SIZE = 28  # side of one digit image, as MNIST's
CLUTTER_SIZE = 8  # side of one piece of clutter (Mnih et al. 2014 §4.1: "random 8×8 subpatches")
SPLITS = ("train", "valid", "test")
SPLIT_FRACTIONS = (0.7, 0.1, 0.2)  # train / valid / test share of every class


@dataclass(frozen=True)
class CanvasVariant:
    """How digits are put on a canvas: its side and the number of clutter pieces."""

    canvas: int  # side of the square canvas in pixels; DIGIT_SIZE means centred, no translation
    clutter: int  # number of random CLUTTER_SIZE × CLUTTER_SIZE crops of other digits added


VARIANTS: dict[str, CanvasVariant] = {
    "centred28": CanvasVariant(canvas=28, clutter=0),
    "translated60": CanvasVariant(canvas=60, clutter=0),
    "cluttered60": CanvasVariant(canvas=60, clutter=4),
    "cluttered100": CanvasVariant(canvas=100, clutter=8),
}


def variant(name: str) -> CanvasVariant:
    """The :class:`CanvasVariant` called ``name``; ``ValueError`` naming the choices otherwise."""
    if name not in VARIANTS:
        raise ValueError(f"variant: expected one of {sorted(VARIANTS)}, got {name!r}")
    return VARIANTS[name]


@lru_cache(maxsize=1)
def _digit_images() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    small = torch.from_numpy(bunch.images.astype(np.float32) / 16.0)[:, None]  # (N, 1, 8, 8) in [0, 1]
    large = F.interpolate(small, size=(DIGIT_SIZE, DIGIT_SIZE), mode="bilinear", align_corners=False)
    images = large[:, 0].clamp(0.0, 1.0).numpy()  # (N, 28, 28)
    images.setflags(write=False)
    labels = bunch.target.astype(np.int64)
    labels.setflags(write=False)
    return images, labels


def load_digit_images() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 handwritten digits upscaled to 28×28.

    Returns:
        images: ``(1797, 28, 28)`` float32 in ``[0, 1]`` (read-only). labels: ``(1797,)`` int64 in 0..9.
    """
    return _digit_images()


def split_indices(labels: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """Stratified deterministic split: ``{"train": idx, "valid": idx, "test": idx}`` (sorted indices).

    Each class is permuted with ``seed`` and cut by :data:`SPLIT_FRACTIONS`.
    """
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in SPLITS}
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        first = round(len(members) * SPLIT_FRACTIONS[0])
        second = first + round(len(members) * SPLIT_FRACTIONS[1])
        for name, chunk in zip(SPLITS, (members[:first], members[first:second], members[second:]), strict=True):
            parts[name].append(chunk)
    return {name: np.sort(np.concatenate(chunks)) for name, chunks in parts.items()}


def compose_canvases(
    digits: np.ndarray,
    canvas: int,
    rng: np.random.Generator,
    *,
    clutter: int = 0,
    clutter_pool: np.ndarray | None = None,
    pool_index: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Put each digit on its own canvas at a random position, with optional clutter.

    Args:
        digits: ``(N, 28, 28)`` the digits to place.
        canvas: side of the canvas; ``28`` centres the digit (no translation).
        rng: where positions and clutter come from.
        clutter: number of ``8×8`` crops of other digits pasted at random places (pixel-wise max).
        clutter_pool: ``(M, 28, 28)`` digits to cut clutter from (default ``digits``).
        pool_index: ``(N,)`` where each digit stands in ``clutter_pool`` (default ``arange(N)``
            when the pool is ``digits``), so that no digit is cluttered with pieces of itself.

    Returns:
        canvases: ``(N, canvas, canvas)`` float32. positions: ``(N, 2)`` int64, (row, col) of the
        digit's top-left pixel.
    """
    count, height, width = digits.shape
    if canvas < max(height, width):
        raise ValueError(f"canvas: expected at least the digit size {max(height, width)}, got {canvas}")
    pool = digits if clutter_pool is None else clutter_pool
    if pool_index is None:
        pool_index = np.arange(count) if clutter_pool is None else np.full(count, -1)
    if clutter and len(pool) < 2:
        raise ValueError(f"clutter_pool: expected at least 2 digits to cut clutter from, got {len(pool)}")
    canvases = np.zeros((count, canvas, canvas), dtype=np.float32)
    positions = rng.integers(0, canvas - height + 1, size=(count, 2))  # (N, 2) top-left (row, col)
    for index in range(count):
        for _ in range(clutter):
            source = int(rng.integers(len(pool)))
            while source == pool_index[index]:
                source = int(rng.integers(len(pool)))
            top, left = rng.integers(0, height - CLUTTER_SIZE + 1), rng.integers(0, width - CLUTTER_SIZE + 1)
            piece = pool[source, top : top + CLUTTER_SIZE, left : left + CLUTTER_SIZE]
            row, col = rng.integers(0, canvas - CLUTTER_SIZE + 1, size=2)
            window = canvases[index, row : row + CLUTTER_SIZE, col : col + CLUTTER_SIZE]
            np.maximum(window, piece, out=window)
        row, col = positions[index]
        window = canvases[index, row : row + height, col : col + width]
        np.maximum(window, digits[index], out=window)
    return canvases, positions.astype(np.int64)


class DigitCanvas(Dataset):
    """Digits on canvases: items are ``(image (1, S, S) float32, label () int64)``.

    Args:
        digits: ``(N, 28, 28)`` float in ``[0, 1]``. labels: ``(N,)`` ints.
        canvas, clutter: see :class:`CanvasVariant`.
        seed: seeds every canvas drawn.
        copies: each digit appears this many times, on independently drawn canvases.
        resample: draw new canvases at every :meth:`set_epoch` (training augmentation); otherwise
            the canvases are drawn once and fixed.
    """

    def __init__(
        self,
        digits: np.ndarray,
        labels: np.ndarray,
        *,
        canvas: int,
        clutter: int = 0,
        seed: int = 0,
        copies: int = 1,
        resample: bool = False,
    ) -> None:
        if digits.ndim != 3 or labels.shape != digits.shape[:1]:
            raise ValueError(f"digits, labels: expected (N, H, W) and (N,), got {digits.shape} and {labels.shape}")
        self.digits = np.repeat(np.asarray(digits, dtype=np.float32), copies, axis=0)
        self.labels = torch.from_numpy(np.repeat(np.asarray(labels, dtype=np.int64), copies))
        self.canvas, self.clutter, self.seed, self.resample = canvas, clutter, seed, resample
        self.clutter_pool = np.asarray(digits, dtype=np.float32)
        self.pool_index = np.repeat(np.arange(len(digits)), copies)
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Draw the canvases of ``epoch`` (only ``resample`` datasets change after epoch 0)."""
        if epoch and not self.resample and hasattr(self, "images"):
            return
        rng = np.random.default_rng([self.seed, epoch if self.resample else 0])
        canvases, self.positions = compose_canvases(
            self.digits,
            self.canvas,
            rng,
            clutter=self.clutter,
            clutter_pool=self.clutter_pool,
            pool_index=self.pool_index,
        )
        self.images = torch.from_numpy(canvases)[:, None]  # (N, 1, S, S)

    def digit_centres(self) -> Tensor:
        """Where each digit's centre pixel is, as a glimpse location: ``(N, 2)`` ``(x, y)`` in ``[-1, 1]²``.

        The inverse of :func:`attnzoo.models.ram.glimpse.glimpse_centres`: pixel ``(row, col)``
        is ``(x, y) = (2 col / S - 1, 2 row / S - 1)`` on an ``S × S`` canvas.
        """
        rows, cols = (torch.from_numpy(self.positions) + self.digits.shape[1] // 2).unbind(-1)  # (N,) each
        return torch.stack([cols, rows], dim=-1).float() * (2 / self.canvas) - 1

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.images[index], self.labels[index]


def digits_dataset(
    variant_name: str, split: str, *, seed: int = 0, copies: int = 1, resample: bool = False
) -> DigitCanvas:
    """The ``split`` of scikit-learn's digits on the canvases of ``variant_name`` (see the module doc).

    ``seed`` fixes the split as well as the canvases; the canvases of each split use a different
    stream, so valid and test placements differ from each other.
    """
    if split not in SPLITS:
        raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
    chosen = variant(variant_name)
    images, labels = load_digit_images()
    indices = split_indices(labels, seed)[split]
    return DigitCanvas(
        images[indices],
        labels[indices],
        canvas=chosen.canvas,
        clutter=chosen.clutter,
        seed=seed * 1000 + SPLITS.index(split),
        copies=copies,
        resample=resample,
    )


# ---- MNIST IDX files --------------------------------------------------------------------------

_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (LeCun's format of the MNIST files), gzipped (``.gz``) or not.

    Header: two zero bytes, a type byte (0x08 unsigned byte ... 0x0E float64), the number of
    dimensions, then each dimension as a big-endian uint32; then the data, big-endian.

    Raises:
        ValueError: naming ``path``, if the magic bytes are wrong or the file is truncated or too long.
    """
    path = Path(path)
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise ValueError(f"{path}: cannot read as a gzipped IDX file ({error})") from error
    if len(data) < 4:
        raise ValueError(f"{path}: truncated IDX file: {len(data)} bytes, expected a 4-byte magic number")
    if data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES or data[3] == 0:
        raise ValueError(
            f"{path}: not an IDX file: magic bytes {data[:4].hex()}, expected 0000 then a type byte "
            f"in {[f'{code:02x}' for code in _IDX_TYPES]} and a dimension count >= 1"
        )
    ndim, dtype = data[3], np.dtype(_IDX_TYPES[data[2]])
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated IDX header: {len(data)} bytes, expected {header} for {ndim} dimensions")
    shape = tuple(int(size) for size in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(data) - header
    if found != expected:
        kind = "truncated IDX data" if found < expected else "IDX data too long"
        raise ValueError(f"{path}: {kind}: shape {shape} needs {expected} bytes of data, found {found}")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def load_mnist(images_path: str | Path, labels_path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """MNIST (or any digits in its format) from an images IDX file and a labels IDX file.

    Returns:
        images: ``(N, H, W)`` float32 in ``[0, 1]`` (bytes divided by 255). labels: ``(N,)`` int64.

    Raises:
        ValueError: naming the file, for a malformed file or when the two files do not match.
    """
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"{images_path}: expected unsigned bytes of shape (N, H, W), got {images.dtype} {images.shape}"
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise ValueError(f"{labels_path}: expected unsigned bytes of shape (N,), got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{labels_path}: {len(labels)} labels for the {len(images)} images of {images_path}")
    return images.astype(np.float32) / 255.0, labels.astype(np.int64)
