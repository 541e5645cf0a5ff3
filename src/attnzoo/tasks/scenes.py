"""Generated captioning scenes: the data of Show, Attend and Tell (Xu et al. 2015) in attnzoo.

An image (``size`` × ``size`` RGB, default 48) holds 1 to 3 objects, each a shape in a colour
and one of two sizes, on a dark, lightly textured background. The image is cut into a 3 × 3
layout of cells and every object lies inside its own cell, so objects never overlap and the
spatial relation of two objects is exact: different columns give "left of" / "right of", the
same column "above" / "below".

Every scene comes with:

- the objects in reading order (by their layout cell: top row first, left to right), each with
  its **box** ``(top, left, bottom, right)`` (bottom/right exclusive): the tight bounding box of
  its pixels;
- several **paraphrases** from a small grammar that names every object, in every order, e.g. ``a
  small red circle to the left of a big blue square and a big green star``; caption 0 names them
  in reading order (:meth:`Scene.reading_order` lists the captions that do);
- for each token of each paraphrase, the object it refers to (``-1`` for none): the size, colour
  and shape words of an object point at that object, the other words at none. Attention is
  scored against these links and boxes.

Compositional split: :data:`HELD_OUT` colour-shape pairs never occur in the ``"train"``,
``"valid"`` and ``"test"`` scenes; every ``"novel"`` scene contains at least one of them.
Drawing is by stamping precomputed shape masks (numpy slicing, no per-pixel loop): several
thousand scenes per second on one core.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

SHAPES = ("circle", "square", "triangle", "diamond", "cross", "star")
COLOURS = {  # name: RGB in [0, 255]
    "red": (230, 40, 40),
    "green": (40, 200, 60),
    "blue": (50, 90, 240),
    "yellow": (235, 220, 40),
    "magenta": (220, 50, 220),
    "cyan": (40, 220, 230),
}
SIZES = {"small": 0.19, "big": 0.30}  # object side as a fraction of the image side
HELD_OUT = (  # colour-shape pairs seen only in the "novel" split (one per shape and per colour)
    ("red", "square"),
    ("green", "circle"),
    ("blue", "triangle"),
    ("yellow", "cross"),
    ("magenta", "star"),
    ("cyan", "diamond"),
)
LAYOUT = 3  # the image is a LAYOUT x LAYOUT grid of cells, one object at most per cell
RELATIONS = {  # relation: its two wordings (paraphrases)
    "left": (("left", "of"), ("to", "the", "left", "of")),
    "right": (("right", "of"), ("to", "the", "right", "of")),
    "above": (("above",), ("over",)),
    "below": (("below",), ("under",)),
}
SPLITS = ("train", "valid", "test", "novel")
WORDS = tuple(
    dict.fromkeys(
        ("a", "there", "is", "and", *SIZES, *COLOURS, *SHAPES, *(w for ws in RELATIONS.values() for p in ws for w in p))
    )
)  # every word the grammar uses


@dataclass(frozen=True)
class SceneObject:
    """One object of a scene: what it is and where (pixels; bottom and right exclusive)."""

    shape: str
    colour: str
    size: str
    box: tuple[int, int, int, int]  # (top, left, bottom, right) of its pixels
    cell: tuple[int, int]  # (row, column) of its cell in the LAYOUT x LAYOUT grid

    def words(self) -> list[str]:
        """``["a", size, colour, shape]``."""
        return ["a", self.size, self.colour, self.shape]


@dataclass
class Scene:
    """An image, its objects and its paraphrases with the object each token names.

    image: ``(S, S, 3)`` uint8. captions: the paraphrases (lists of words). links: one list per
    caption, the index in ``objects`` of the object each word names, or -1.
    """

    image: np.ndarray
    objects: list[SceneObject]
    captions: list[list[str]]
    links: list[list[int]]

    def reading_order(self) -> list[int]:
        """The captions that name the objects in reading order (top row first, left to right), caption 0 first."""
        ordered = []
        for index, links in enumerate(self.links):
            named = [link for position, link in enumerate(links) if link >= 0 and link not in links[:position]]
            if named == sorted(named):
                ordered.append(index)
        return ordered


@cache
def shape_mask(shape: str, side: int) -> np.ndarray:
    """The bool mask of a shape drawn in a ``side`` × ``side`` square, cropped to its pixels (its tight box)."""
    centres = (np.arange(side) + 0.5) / side * 2 - 1  # pixel centres in [-1, 1]
    v, u = np.meshgrid(centres, centres, indexing="ij")  # v: down, u: right
    edge = 1 - 1 / side  # the outermost pixel centres
    if shape == "circle":
        mask = u**2 + v**2 <= edge**2 + 1e-9
    elif shape == "square":
        mask = np.ones((side, side), dtype=bool)
    elif shape == "triangle":  # apex up, base on the bottom row
        mask = np.abs(u) <= (v + 1) / 2 + 1 / side
    elif shape == "diamond":
        mask = np.abs(u) + np.abs(v) <= edge + 1e-9
    elif shape == "cross":
        mask = (np.abs(u) <= 0.34) | (np.abs(v) <= 0.34)
    elif shape == "star":  # five points, the inner corners at 0.45 of the outer radius
        angles = np.pi / 2 + np.arange(10) * np.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, 1.0, 0.45)
        corners = np.stack([radii * np.cos(angles), -radii * np.sin(angles)], axis=1)  # (u, v), apex up
        from matplotlib.path import Path

        mask = Path(corners).contains_points(np.stack([u.ravel(), v.ravel()], 1), radius=1e-9).reshape(side, side)
    else:
        raise ValueError(f"shape: expected one of {', '.join(SHAPES)}; got {shape!r}")
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def object_side(size: str, image_size: int) -> int:
    """The side in pixels of a ``size`` ("small" or "big") object on an ``image_size`` image."""
    return max(3, round(SIZES[size] * image_size))


def relation(first: SceneObject, second: SceneObject) -> str:
    """Where ``first`` is with respect to ``second``: "left"/"right" across columns, else "above"/"below"."""
    (row1, col1), (row2, col2) = first.cell, second.cell
    if col1 != col2:
        return "left" if col1 < col2 else "right"
    return "above" if row1 < row2 else "below"


def paraphrases(objects: list[SceneObject]) -> tuple[list[list[str]], list[list[int]]]:
    """Every caption of the grammar for ``objects`` and the object index each word names (-1: none).

    One object: ``D`` and ``there is D``. Two or more: ``D_x REL D_y [and D_z]`` for every ordered
    pair ``(x, y)``, in both wordings of the relation, where ``D = a SIZE COLOUR SHAPE``.
    """

    def describe(index: int) -> tuple[list[str], list[int]]:
        return objects[index].words(), [-1, index, index, index]

    if len(objects) == 1:
        words, links = describe(0)
        return [words, ["there", "is", *words]], [links, [-1, -1, *links]]
    captions, all_links = [], []
    for x in range(len(objects)):
        for y in range(len(objects)):
            if x == y:
                continue
            rest = [z for z in range(len(objects)) if z not in (x, y)]
            for wording in RELATIONS[relation(objects[x], objects[y])]:
                (words_x, links_x), (words_y, links_y) = describe(x), describe(y)
                words, links = [*words_x, *wording, *words_y], [*links_x, *[-1] * len(wording), *links_y]
                for z in rest:
                    words_z, links_z = describe(z)
                    words, links = [*words, "and", *words_z], [*links, -1, *links_z]
                captions.append(words)
                all_links.append(links)
    return captions, all_links


def draw_objects(rng: np.random.Generator, count: int, image_size: int, split: str) -> list[SceneObject]:
    """``count`` objects in distinct cells, at random places inside them; held-out pairs as ``split`` says."""
    cell = image_size // LAYOUT
    held_out, colours = set(HELD_OUT), list(COLOURS)
    cells = rng.permutation(LAYOUT * LAYOUT)[:count]
    objects = []
    for index, cell_index in enumerate(cells):
        while True:
            colour, shape = colours[rng.integers(len(colours))], SHAPES[rng.integers(len(SHAPES))]
            novel = (colour, shape) in held_out
            wanted = novel or index > 0 if split == "novel" else not novel  # novel: the first object is held out
            if wanted:
                break
        size = ("small", "big")[rng.integers(2)]
        height, width = shape_mask(shape, object_side(size, image_size)).shape
        row, col = divmod(int(cell_index), LAYOUT)
        top = row * cell + int(rng.integers(cell - height + 1))
        left = col * cell + int(rng.integers(cell - width + 1))
        objects.append(SceneObject(shape, colour, size, (top, left, top + height, left + width), (row, col)))
    return objects


def render(objects: list[SceneObject], rng: np.random.Generator, image_size: int) -> np.ndarray:
    """The ``(S, S, 3)`` uint8 image: a dark textured background with each object stamped in its box."""
    level = int(rng.integers(20, 70))  # the background's grey, with noise of +-8 (the texture)
    image = np.repeat(rng.integers(level - 8, level + 9, size=(image_size, image_size, 1), dtype=np.uint8), 3, axis=2)
    for item in objects:
        top, left, bottom, right = item.box
        patch = image[top:bottom, left:right]  # a view: writing it draws on the image
        patch[shape_mask(item.shape, object_side(item.size, image_size))] = COLOURS[item.colour]
    return image


def generate_scene(
    rng: np.random.Generator, *, image_size: int = 48, count: int | None = None, split: str = "train"
) -> Scene:
    """One scene of ``count`` objects (None: 1 to 3 at random).

    ``split``: ``"novel"`` makes the first object a held-out colour-shape pair (:data:`HELD_OUT`),
    any other split excludes them.
    """
    if split not in SPLITS:
        raise ValueError(f"split: expected one of {', '.join(SPLITS)}; got {split!r}")
    if image_size < 3 * LAYOUT:
        raise ValueError(f"image_size: expected >= {3 * LAYOUT}, got {image_size}")
    count = int(rng.integers(1, LAYOUT + 1)) if count is None else count
    if not 1 <= count <= LAYOUT:
        raise ValueError(f"count: expected 1 to {LAYOUT} objects, got {count}")
    objects = sorted(draw_objects(rng, count, image_size, split), key=lambda item: item.cell)  # reading order
    captions, links = paraphrases(objects)
    return Scene(render(objects, rng, image_size), objects, captions, links)


def scene_rng(seed: int, index: int, epoch: int = 0) -> np.random.Generator:
    """The generator of scene ``index`` of epoch ``epoch`` of a split seeded ``seed``: scenes are reproducible alone."""
    return np.random.default_rng([seed, epoch, index])


def generate_scenes(
    total: int, seed: int, *, image_size: int = 48, split: str = "train", counts: tuple[int, ...] = (1, 2, 3)
) -> list[Scene]:
    """``total`` scenes, their object counts cycling through ``counts`` (equal shares)."""
    return [
        generate_scene(scene_rng(seed, index), image_size=image_size, count=counts[index % len(counts)], split=split)
        for index in range(total)
    ]


def read_image(path: Path, size: int) -> np.ndarray:
    """A user's PNG (or any image Pillow reads) as a scene: ``(size, size, 3)`` uint8 RGB, a writable
    copy; ``ValueError`` with one clear line if it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            return np.array(opened.convert("RGB").resize((size, size), Image.BILINEAR))
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"{path}: not a readable image ({type(error).__name__})") from None
