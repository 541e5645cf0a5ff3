"""Glyphs of many scripts drawn by many "drawers": an Omniglot-like few-shot benchmark that exists offline.

Omniglot (Lake et al. 2015; the few-shot benchmark of Mishra et al. 2018, §5.1) has 1,623 characters
from 50 alphabets, each drawn by 20 people, as 28×28 grey images. It cannot be downloaded here, so
this module builds the same structure from the fonts that matplotlib ships:

- a **class** is one character: Latin, Greek, Cyrillic, Armenian, Georgian and Hebrew letters,
  mathematical operators, arrows and geometric shapes (:data:`SCRIPTS`), kept when at least
  :data:`MIN_FONTS` fonts draw it; characters whose drawings look alike (Latin ``A``, Greek ``Α``,
  Cyrillic ``А``) are merged into the first (:func:`near_duplicates`). ASCII digits are left out,
  so that scikit-learn's digits (:mod:`attnzoo.tasks.fewshot`) are new classes for a model trained here;
- a **drawer** is a font (DejaVu Sans/Serif/Mono and STIX in four styles each, Computer Modern in
  five for Latin letters) plus a random distortion drawn anew for every image (:func:`jitter`):
  an affine map (rotation, shear, scale, shift), an elastic displacement field, and a thinner or
  thicker stroke.

Every (class, font) pair is rendered once with ``matplotlib.ft2font.FT2Font`` at twice the final
resolution, centred on its ink (the font size fixed, so ``o`` stays smaller than ``O``), and kept in
memory (:func:`glyph_bank`, cached per process): a batch of distorted 28×28 images is then one
``grid_sample`` call. The classes are split 60 / 10 / 30 % into train / valid / test by a fixed
permutation (:func:`split_classes`): the test classes are never seen in training.
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

IMAGE_SIZE = 28  # side of one image, as Omniglot's downsampled images (Mishra et al. 2018 §5.1)
RENDER_SCALE = 2  # glyphs are rendered and distorted at this multiple of IMAGE_SIZE, then averaged down
EM_PIXELS = 36  # font size in pixels at the render resolution (56×56): a capital letter is ~26 px tall
MIN_FONTS = 4  # a character is a class only when at least this many fonts draw it
DUPLICATE_CORRELATION = 0.9  # two characters whose DejaVu Sans drawings correlate above this are one class
SPLIT_FRACTIONS = (0.6, 0.1, 0.3)  # train / valid / test share of the classes
RENDER_VERSION = 1  # bump when render() changes, so that cached banks are rendered anew
SPLIT_SEED = 0  # the class split is fixed: every run and seed uses the same held-out classes

# Code-point ranges of each script (inclusive); letters of both cases where the script has them.
SCRIPTS: dict[str, tuple[tuple[int, int], ...]] = {
    "latin": ((0x41, 0x5A), (0x61, 0x7A)),
    "greek": ((0x391, 0x3A9), (0x3B1, 0x3C9)),
    "cyrillic": ((0x410, 0x44F),),
    "armenian": ((0x531, 0x556), (0x561, 0x586)),
    "georgian": ((0x10D0, 0x10FA),),
    "hebrew": ((0x5D0, 0x5EA),),
    "math": ((0x2200, 0x22FF),),
    "arrows": ((0x2190, 0x21FF),),
    "shapes": ((0x25A0, 0x25FF),),
}
UNICODE_FONTS = tuple(
    f"{family}{style}.ttf"
    for family, styles in (
        ("DejaVuSans", ("", "-Bold", "-Oblique", "-BoldOblique")),
        ("DejaVuSerif", ("", "-Bold", "-Italic", "-BoldItalic")),
        ("DejaVuSansMono", ("", "-Bold", "-Oblique", "-BoldOblique")),
        ("STIXGeneral", ("", "Bol", "Italic", "BolIta")),
    )
    for style in styles
)
LATIN_FONTS = ("cmr10.ttf", "cmb10.ttf", "cmss10.ttf", "cmti10.ttf", "cmtt10.ttf")  # Computer Modern: ASCII only


@dataclass(frozen=True)
class GlyphBank:
    """Every (class, font) rendering, ready to be distorted.

    Attributes:
        images: ``(G, 56, 56)`` uint8 grey renderings (0 background, 255 ink), class by class.
        first: ``(C,)`` int64 index in ``images`` of each class's first font.
        fonts: ``(C,)`` int64 number of fonts (drawings) of each class.
        characters: the ``C`` characters, in class order.
        scripts: the script of each class.
        font_names: the file names of the fonts that drew anything.
    """

    images: Tensor
    first: Tensor
    fonts: Tensor
    characters: tuple[str, ...]
    scripts: tuple[str, ...]
    font_names: tuple[str, ...]

    @property
    def classes(self) -> int:
        return len(self.characters)


def font_path(name: str) -> Path:
    """The path of one of matplotlib's bundled fonts."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name


def candidate_characters() -> list[tuple[str, str]]:
    """``(character, script)`` of every code point of :data:`SCRIPTS` that Unicode assigns (no marks)."""
    chosen = []
    for script, ranges in SCRIPTS.items():
        for low, high in ranges:
            for point in range(low, high + 1):
                character = chr(point)
                if unicodedata.category(character)[0] in "LS":  # letters and symbols: no marks, no gaps
                    chosen.append((character, script))
    return chosen


def render(font, character: str) -> np.ndarray | None:
    """One glyph of ``font`` (an ``FT2Font`` set to :data:`EM_PIXELS`) centred on its ink in a ``(56, 56)``
    float32 image in [0, 1].

    The font size is fixed, so glyphs keep their relative sizes; a glyph too large for the image is
    shrunk to fit. ``None`` for a glyph without ink.
    """
    from matplotlib.ft2font import LoadFlags

    side = IMAGE_SIZE * RENDER_SCALE
    font.set_text(character, 0.0, flags=LoadFlags.NO_HINTING)
    font.draw_glyphs_to_bitmap(antialiased=True)
    ink = np.asarray(font.get_image())
    rows, columns = np.nonzero(ink.max(1) > 25)[0], np.nonzero(ink.max(0) > 25)[0]
    if not len(rows):
        return None
    ink = ink[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1].astype(np.float32) / 255
    if max(ink.shape) > side - 2:  # too large: shrink to fit
        size = tuple(max(1, round(length * (side - 2) / max(ink.shape))) for length in ink.shape)
        ink = F.interpolate(torch.from_numpy(ink)[None, None], size=size, mode="area")[0, 0].numpy()
    image = np.zeros((side, side), dtype=np.float32)
    top, left = (side - ink.shape[0]) // 2, (side - ink.shape[1]) // 2
    image[top : top + ink.shape[0], left : left + ink.shape[1]] = ink
    return image


def near_duplicates(drawings: np.ndarray) -> np.ndarray:
    """``(C,)`` bool: True for a drawing that correlates above :data:`DUPLICATE_CORRELATION` with an earlier one.

    Args:
        drawings: ``(C, H, W)`` one drawing of each character in the same font.
    """
    flat = drawings.reshape(len(drawings), -1).astype(np.float64)
    flat = flat - flat.mean(1, keepdims=True)
    flat /= np.linalg.norm(flat, axis=1, keepdims=True) + 1e-9
    correlation = np.triu(flat @ flat.T, k=1)  # (C, C), only earlier-with-later pairs
    return (correlation > DUPLICATE_CORRELATION).any(0)


@lru_cache(maxsize=1)
def glyph_bank() -> GlyphBank:
    """Every candidate character in every font that has it: read from :func:`cache_path`, else rendered
    (:func:`render_bank`, 5-10 seconds) and written there. Cached per process."""
    path = cache_path()
    try:
        with np.load(path) as saved:
            fields = {name: saved[name] for name in ("images", "first", "fonts")}
            text = {name: tuple(str(item) for item in saved[name]) for name in ("characters", "scripts", "font_names")}
        return GlyphBank(**{name: torch.from_numpy(array) for name, array in fields.items()}, **text)
    except (OSError, KeyError, ValueError):  # no cache yet, or an unreadable one: render
        pass
    bank = render_bank()
    arrays = {name: getattr(bank, name).numpy() for name in ("images", "first", "fonts")}
    text = {name: np.array(getattr(bank, name)) for name in ("characters", "scripts", "font_names")}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.npz")
        np.savez_compressed(partial, **arrays, **text)
        partial.replace(path)  # atomic: a concurrent reader sees the whole file or none
    except OSError:  # a read-only home: render again next time
        pass
    return bank


def cache_path() -> Path:
    """``$XDG_CACHE_HOME/attnzoo/glyphs-<hash>.npz`` (default ``~/.cache``); the hash covers every
    constant of the rendering and matplotlib's version, so a change renders anew."""
    import hashlib

    import matplotlib

    constants = (SCRIPTS, UNICODE_FONTS, LATIN_FONTS, IMAGE_SIZE, RENDER_SCALE, EM_PIXELS, MIN_FONTS)
    key = repr((constants, DUPLICATE_CORRELATION, matplotlib.__version__, RENDER_VERSION))
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "attnzoo" / f"glyphs-{hashlib.sha256(key.encode()).hexdigest()[:12]}.npz"


def render_bank() -> GlyphBank:
    """Render every candidate character in every font that has it, and merge look-alikes."""
    from matplotlib.ft2font import FT2Font

    fonts = {name: FT2Font(str(font_path(name))) for name in UNICODE_FONTS + LATIN_FONTS}
    for font in fonts.values():
        font.set_size(EM_PIXELS, 72)  # 72 dpi: the size is in pixels
    maps = {name: set(font.get_charmap()) for name, font in fonts.items()}
    kept, drawings = [], []
    for character, script in candidate_characters():
        names = [name for name in UNICODE_FONTS if ord(character) in maps[name]]
        if script == "latin":
            names += list(LATIN_FONTS)
        images = [image for image in (render(fonts[name], character) for name in names) if image is not None]
        if len(images) >= MIN_FONTS and ord(character) in maps[UNICODE_FONTS[0]]:
            kept.append((character, script, names))
            drawings.append(np.stack(images))
    duplicate = near_duplicates(np.stack([images[0] for images in drawings]))  # each class's DejaVu Sans drawing
    keep = [index for index in range(len(kept)) if not duplicate[index]]
    counts = torch.tensor([len(drawings[index]) for index in keep])
    images = torch.from_numpy(np.concatenate([drawings[index] for index in keep]) * 255).round().to(torch.uint8)
    used = sorted({name for index in keep for name in kept[index][2]})
    return GlyphBank(
        images=images,
        first=torch.cumsum(counts, 0) - counts,
        fonts=counts,
        characters=tuple(kept[index][0] for index in keep),
        scripts=tuple(kept[index][1] for index in keep),
        font_names=tuple(used),
    )


def split_classes(classes: int) -> dict[str, Tensor]:
    """Disjoint class ids of ``"train"``, ``"valid"`` and ``"test"``: a permutation seeded with
    :data:`SPLIT_SEED`, cut by :data:`SPLIT_FRACTIONS` (the same for every run)."""
    order = torch.randperm(classes, generator=torch.Generator().manual_seed(SPLIT_SEED))
    first = round(classes * SPLIT_FRACTIONS[0])
    second = first + round(classes * SPLIT_FRACTIONS[1])
    return {
        "train": order[:first].sort().values,
        "valid": order[first:second].sort().values,
        "test": order[second:].sort().values,
    }


def jitter(images: Tensor, generator: torch.Generator, *, strength: float = 1.0) -> Tensor:
    """Distort a batch of renderings like different hands, then average down to 28×28.

    Per image: an affine map (rotation ±12°, shear ±0.15, scale 0.85-1.1 per axis, shift ±2 px),
    an elastic displacement (a 4×4 grid of offsets, ±1.5 px at 28×28, smoothly interpolated) and
    a stroke change (eroded or dilated by one render pixel, or unchanged). ``strength``
    multiplies the affine and elastic ranges (0: the font's drawing, only averaged down).

    Args:
        images: ``(N, 56, 56)`` float renderings in [0, 1].
        generator: where the distortions come from.

    Returns:
        ``(N, 1, 28, 28)`` float32 in [0, 1].
    """
    count, side = images.size(0), images.size(-1)

    def uniform(*shape: int) -> Tensor:  # in [-1, 1]
        return torch.rand(*shape, generator=generator) * 2 - 1

    angle, shear = uniform(count) * 0.21 * strength, uniform(count) * 0.15 * strength
    scale = 1 + uniform(count, 2) * 0.1 * strength - 0.025 * strength
    shift = uniform(count, 2) * (4 / side) * strength  # ±2 px of 28 (grid units: 2 = the side)
    cos, sin = torch.cos(angle), torch.sin(angle)
    matrix = torch.stack([torch.stack([cos, -sin + shear], -1), torch.stack([sin, cos], -1)], -2)  # (N, 2, 2)
    matrix = matrix / scale[:, None, :]  # the grid samples the source: dividing enlarges the glyph
    theta = torch.cat([matrix, shift[:, :, None]], -1)  # (N, 2, 3)
    grid = F.affine_grid(theta, (count, 1, side, side), align_corners=False)  # (N, S, S, 2)
    offsets = uniform(count, 2, 4, 4) * (3 / side) * strength  # ±1.5 px of 28
    grid = grid + F.interpolate(offsets, size=(side, side), mode="bicubic", align_corners=True).permute(0, 2, 3, 1)
    warped = F.grid_sample(images[:, None].float(), grid, align_corners=False)  # (N, 1, S, S)
    strokes = torch.stack(
        [-F.max_pool2d(-warped, 3, 1, 1), warped, F.max_pool2d(warped, 3, 1, 1)]
    )  # thin, as is, thick
    choice = torch.multinomial(torch.tensor([0.25, 0.5, 0.25]), count, replacement=True, generator=generator)
    chosen = strokes[choice, torch.arange(count)]  # (N, 1, S, S)
    return F.avg_pool2d(chosen, RENDER_SCALE).clamp(0, 1)


def draw_glyphs(bank: GlyphBank, classes: Tensor, generator: torch.Generator, *, strength: float = 1.0) -> Tensor:
    """One new drawing of each class in ``classes``: a random font of the class, then :func:`jitter`.

    Args:
        bank: the :class:`GlyphBank`. classes: ``(M,)`` int64 class ids.

    Returns:
        ``(M, 1, 28, 28)`` float32 in [0, 1].
    """
    fonts = (torch.rand(classes.shape, generator=generator) * bank.fonts[classes]).long()  # (M,) a font of each
    renderings = bank.images[bank.first[classes] + fonts].float() / 255  # (M, 56, 56)
    return jitter(renderings, generator, strength=strength)
