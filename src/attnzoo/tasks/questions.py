"""Generated scenes with questions (Sort-of-CLEVR style): the data of the VQA models in attnzoo.

An image (``image_size`` × ``image_size`` RGB, default 64) holds 4 to 6 objects, one per colour
(red, green, blue, yellow, magenta, cyan), each a circle, square or triangle of one size, on the
dark textured background of :mod:`attnzoo.tasks.scenes` (whose shape masks and renderer draw them).
The image is cut into a 4 × 4 layout of cells and each object lies inside its own cell, so objects
never overlap and every relation is exact.

Each example is one scene and one question, in words, from templates with paraphrases and
optional filler words (``please tell me what shape is the red object in this image``). The kinds:

- non-relational: ``shape`` ("what shape is the red object") and ``side``, in one of two forms
  (``side_form``): ``"choice"``, Sort-of-CLEVR's (Santoro et al. 2017, §4: "is the red object on the
  left or the right" -> left / right; the vertical one -> top / bottom), and ``"yes-no"`` ("is the
  green object on the left" -> yes / no); either way by the object's box centre against the halves of
  the image;
- relational: ``closest`` ("what colour is the object closest to the blue square") and
  ``furthest`` ("what shape is the object furthest from the blue square"), by the distance between
  box centres (scenes with a tie closer than one pixel are redrawn);
- ``count`` ("how many circles are there").

Every question comes with its answer, the **gold objects** it refers to (the named object; for a
relation the named and the answer object; for a count every object of the shape) and the **gold
keyword** positions (the words that name the queried object: colour and shape words). Attention
is scored against the objects' boxes and these positions. Several thousand examples per second on
one core; example ``i`` of a split depends on ``(seed, epoch, i)`` alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnzoo.tasks.scenes import COLOURS, SceneObject, object_side, render, scene_rng, shape_mask

SHAPES = ("circle", "square", "triangle")  # the shapes of these scenes (a subset of scenes.SHAPES)
PLURALS = {shape: shape + "s" for shape in SHAPES}  # "how many circles"
LAYOUT = 4  # the image is a LAYOUT x LAYOUT layout of cells, one object at most per cell
OBJECT_SIZE = "small"  # scenes.SIZES: the object side is 0.19 of the image side (12 px of 64)
SIDES = ("left", "right", "top", "bottom")
AXES = (("left", "right"), ("top", "bottom"))  # the two sides a choice-form side question offers
SIDE_FORMS = ("choice", "yes-no")  # the side question's forms: answered by a side, or by yes / no
KINDS = ("shape", "side", "closest", "furthest", "count")
CATEGORY = {"shape": "nonrel", "side": "nonrel", "closest": "rel", "furthest": "rel", "count": "count"}
CATEGORIES = ("nonrel", "rel", "count")
ANSWERS = (*SHAPES, *COLOURS, "yes", "no", *(str(n) for n in range(len(COLOURS) + 1)))  # every yes-no form answer

# Question templates: each kind's paraphrases. {c}: the named object's colour; {s}: a shape (the
# named object's, or the counted one's plural); {side}: one of SIDES.
TEMPLATES = {
    "shape": (
        "what shape is the {c} object",
        "what is the shape of the {c} thing",
        "the {c} object has which shape",
        "which shape does the {c} one have",
    ),
    "side": (
        "is the {c} object on the {side}",
        "is the {c} thing in the {side} half",
        "does the {c} object lie on the {side} side",
    ),
    "closest": (
        "what colour is the object closest to the {c} {s}",
        "which colour has the thing nearest to the {c} {s}",
        "the object nearest the {c} {s} is what colour",
    ),
    "furthest": (
        "what shape is the object furthest from the {c} {s}",
        "which shape has the thing farthest from the {c} {s}",
        "the object farthest from the {c} {s} has what shape",
    ),
    "count": (
        "how many {s} are there",
        "what number of {s} are in the picture",
        "count the {s}",
    ),
}
# The choice form of the side question (Sort-of-CLEVR's); {a} and {b}: the two sides of one of AXES.
SIDE_CHOICES = (
    "is the {c} object on the {a} or the {b}",
    "is the {c} thing in the {a} half or the {b} half",
    "does the {c} object lie on the {a} side or the {b} side",
    "which side is the {c} one on {a} or {b}",
)
PREFIXES = ((), (), ("please",), ("hey",), ("ok", "so"), ("tell", "me"), ("now",))  # () twice: none more often
SUFFIXES = ((), (), ("please",), ("in", "the", "picture"), ("in", "this", "image"), ("here",))
WORDS = tuple(
    dict.fromkeys(
        word
        for text in (
            *(t for ts in TEMPLATES.values() for t in ts),
            *(" ".join(p) for p in (*PREFIXES, *SUFFIXES)),
            " ".join((*COLOURS, *SHAPES, *PLURALS.values(), *SIDES)),
        )
        for word in text.replace("{c}", "").replace("{s}", "").replace("{side}", "").split()
    )
)  # every word a yes-no form question may use, in a fixed order
CHOICE_WORDS = ("or",)  # the words the choice form adds to WORDS


def vocabulary(side_form: str) -> tuple[str, ...]:
    """Every word a question of ``side_form`` may use: :data:`WORDS` (the yes-no form's, so the choice form's
    vocabulary still reads the yes-no questions), then the choice form's new words."""
    return WORDS if check_side_form(side_form) == "yes-no" else (*WORDS, *CHOICE_WORDS)


def answers(side_form: str) -> tuple[str, ...]:
    """Every answer of ``side_form``: :data:`ANSWERS`, or with the choice form the four sides for yes and no."""
    if check_side_form(side_form) == "yes-no":
        return ANSWERS
    return (*SHAPES, *COLOURS, *SIDES, *(str(n) for n in range(len(COLOURS) + 1)))


def check_side_form(side_form: str) -> str:
    """``side_form`` if it is one of :data:`SIDE_FORMS`, else ValueError."""
    if side_form not in SIDE_FORMS:
        raise ValueError(f"side_form: expected one of {', '.join(SIDE_FORMS)}; got {side_form!r}")
    return side_form


@dataclass(frozen=True)
class Question:
    """One question about a scene, its answer and its ground truth.

    objects: indices (into the scene's objects) of the gold objects it refers to.
    keywords: positions in ``words`` of the words that name the queried object(s).
    """

    words: tuple[str, ...]
    kind: str  # one of KINDS
    answer: str  # one of ANSWERS
    objects: tuple[int, ...]
    keywords: tuple[int, ...]

    @property
    def category(self) -> str:
        """``"nonrel"``, ``"rel"`` or ``"count"``."""
        return CATEGORY[self.kind]


@dataclass
class Example:
    """A scene and one question about it. image: ``(S, S, 3)`` uint8."""

    image: np.ndarray
    objects: list[SceneObject]
    question: Question


def place_objects(rng: np.random.Generator, count: int, image_size: int) -> list[SceneObject]:
    """``count`` objects of distinct colours in distinct layout cells, each at a random place inside its cell."""
    cell, side = image_size // LAYOUT, object_side(OBJECT_SIZE, image_size)
    colours = list(COLOURS)
    objects = []
    for colour_index, cell_index in zip(
        rng.permutation(len(colours))[:count], rng.permutation(LAYOUT**2)[:count], strict=True
    ):
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        height, width = shape_mask(shape, side).shape  # the shape's tight box
        row, col = divmod(int(cell_index), LAYOUT)
        top = row * cell + int(rng.integers(cell - height + 1))
        left = col * cell + int(rng.integers(cell - width + 1))
        box = (top, left, top + height, left + width)
        objects.append(SceneObject(shape, colours[colour_index], OBJECT_SIZE, box, (row, col)))
    return objects


def centre(item: SceneObject) -> np.ndarray:
    """``(y, x)`` centre of an object's box in pixels."""
    top, left, bottom, right = item.box
    return np.array([(top + bottom) / 2, (left + right) / 2])


def ranked_by_distance(objects: list[SceneObject], index: int) -> tuple[list[int], bool]:
    """The other objects' indices, nearest to ``objects[index]`` first, and whether the nearest and the
    furthest are unambiguous (at least one pixel from the runner-up)."""
    distances = {
        other: float(np.linalg.norm(centre(objects[other]) - centre(objects[index])))
        for other in range(len(objects))
        if other != index
    }
    order = sorted(distances, key=distances.get)
    clear = distances[order[1]] - distances[order[0]] >= 1 and distances[order[-1]] - distances[order[-2]] >= 1
    return order, clear


def is_on_side(item: SceneObject, side: str, image_size: int) -> bool:
    """Whether the object's box centre is in the ``side`` half of the image."""
    y, x = centre(item)
    half = image_size / 2
    return {"left": x < half, "right": x >= half, "top": y < half, "bottom": y >= half}[side]


def ask_side(rng: np.random.Generator, item: SceneObject, image_size: int, side_form: str) -> tuple[dict, str, tuple]:
    """The template fill, answer and templates of a side question about ``item`` in ``side_form``."""
    if check_side_form(side_form) == "yes-no":
        side = SIDES[int(rng.integers(len(SIDES)))]
        return {"side": side}, "yes" if is_on_side(item, side, image_size) else "no", TEMPLATES["side"]
    first, second = AXES[int(rng.integers(len(AXES)))]
    return {"a": first, "b": second}, first if is_on_side(item, first, image_size) else second, SIDE_CHOICES


def ask(
    rng: np.random.Generator, kind: str, objects: list[SceneObject], image_size: int, side_form: str = "choice"
) -> Question | None:
    """A question of ``kind`` about ``objects`` (None if the scene has a distance tie for a relation); a side
    question in ``side_form`` (one of :data:`SIDE_FORMS`)."""
    named = int(rng.integers(len(objects)))
    item, fill = objects[named], {"c": objects[named].colour, "s": objects[named].shape}
    gold, keys, templates = (named,), (item.colour,), TEMPLATES.get(kind)
    if kind == "shape":
        answer = item.shape
    elif kind == "side":
        side_fill, answer, templates = ask_side(rng, item, image_size, side_form)
        fill |= side_fill
    elif kind in ("closest", "furthest"):
        order, clear = ranked_by_distance(objects, named)
        if not clear:
            return None
        target = objects[order[0] if kind == "closest" else order[-1]]
        answer = target.colour if kind == "closest" else target.shape
        gold, keys = (named, objects.index(target)), (item.colour, item.shape)
    elif kind == "count":
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        fill = {"s": PLURALS[shape]}
        gold = tuple(i for i, other in enumerate(objects) if other.shape == shape)
        answer, keys = str(len(gold)), (PLURALS[shape],)
    else:
        raise ValueError(f"kind: expected one of {', '.join(KINDS)}; got {kind!r}")
    body = templates[int(rng.integers(len(templates)))].format(**fill).split()
    words = (*PREFIXES[int(rng.integers(len(PREFIXES)))], *body, *SUFFIXES[int(rng.integers(len(SUFFIXES)))])
    keywords = tuple(position for position, word in enumerate(words) if word in keys)
    return Question(words, kind, answer, gold, keywords)


def generate_example(
    rng: np.random.Generator,
    *,
    kind: str | None = None,
    image_size: int = 64,
    objects: tuple[int, int] = (4, 6),
    side_form: str = "choice",
) -> Example:
    """One scene of ``objects[0]`` to ``objects[1]`` objects and a question of ``kind`` (None: at random; side
    questions in ``side_form``)."""
    if image_size < 32:
        raise ValueError(f"image_size: expected >= 32, got {image_size}")
    if not 2 <= objects[0] <= objects[1] <= len(COLOURS):
        raise ValueError(f"objects: expected 2 <= low <= high <= {len(COLOURS)}, got {objects}")
    check_side_form(side_form)
    kind = KINDS[int(rng.integers(len(KINDS)))] if kind is None else kind
    while True:
        placed = place_objects(rng, int(rng.integers(objects[0], objects[1] + 1)), image_size)
        question = ask(rng, kind, placed, image_size, side_form)
        if question is not None:
            return Example(render(placed, rng, image_size), placed, question)


def generate_examples(
    total: int,
    seed: int,
    *,
    epoch: int = 0,
    image_size: int = 64,
    objects: tuple[int, int] = (4, 6),
    side_form: str = "choice",
) -> list[Example]:
    """``total`` examples, their kinds cycling through :data:`KINDS` (equal shares); example ``i`` from
    ``scene_rng(seed, i, epoch)`` alone."""
    sizes = {"image_size": image_size, "objects": objects, "side_form": side_form}
    return [generate_example(scene_rng(seed, i, epoch), kind=KINDS[i % len(KINDS)], **sizes) for i in range(total)]


def tokenize(text: str) -> list[str]:
    """A user's question as words: lower case, punctuation dropped (``"What shape is it?"`` -> 4 words)."""
    kept = "".join(char if char.isalnum() or char.isspace() else " " for char in text.lower())
    return kept.split()
