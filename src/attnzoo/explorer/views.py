"""Attention views: the JSON-able records a recipe exports for the explorer, and their scores.

A view is a plain dict with a ``"kind"`` and the data of one picture (the schemas are in
``src/attnzoo/explorer/README.md``). Recipes build them with the functions below (never by hand),
so every view is checked and its numbers rounded the same way:

    alignment_view  a target × source heat map (any sequence model; Bahdanau et al. 2015, Fig. 3)
    heads_view      layer × head grids of several attention groups (Vaswani et al. 2017)
    image_view      an image with one map and/or boxes per step (Xu et al. 2015, Mnih et al. 2014)
    memory_view     weightings over memory slots, one row per step (Graves et al. 2014, Fig. 6)
    pointer_view    distributions over the inputs with the chosen one per step (Vinyals et al. 2015)

:func:`view_scores` measures a view: the mean entropy of its attention distributions and, when
the view carries gold alignments, the alignment accuracy. This module needs only torch: the
recipes (below the trainer) import it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

KINDS = ("alignment", "heads", "image", "memory", "pointer")
DIGITS = 4  # decimals kept of every weight (the page shows 3)


def rounded(matrix: Tensor) -> list:
    """A tensor as nested lists of floats rounded to :data:`DIGITS` decimals."""
    return torch.round(matrix.detach().double().cpu(), decimals=DIGITS).tolist()


def check_matrix(name: str, matrix: Tensor, rows: int | None, columns: int | None) -> Tensor:
    """``matrix`` if it is 2-D with ``rows`` × ``columns`` (None: any), else ``ValueError`` naming it."""
    if (
        matrix.dim() != 2
        or (rows is not None and matrix.size(0) != rows)
        or (columns is not None and matrix.size(1) != columns)
    ):
        expected = f"({rows if rows is not None else 'any'}, {columns if columns is not None else 'any'})"
        raise ValueError(f"{name}: expected shape {expected}, got {tuple(matrix.shape)}")
    return matrix


def alignment_view(
    weights: Tensor, source: Sequence[str], target: Sequence[str], *, title: str, gold: Sequence[int] | None = None
) -> dict[str, Any]:
    """A target × source alignment (row ``t``: the weights ``α_t`` over the source tokens).

    Args:
        weights: ``(T, S)``; source: ``S`` token labels; target: ``T`` token labels.
        title: one line above the picture (e.g. ``"input → output"``).
        gold: ``T`` gold source indices (``-1``: no gold for that target token), or None.
    """
    check_matrix("weights", weights, len(target), len(source))
    view = {"kind": "alignment", "title": title, "source": list(source), "target": list(target)}
    view["weights"] = rounded(weights)
    if gold is not None:
        if len(gold) != len(target) or any(not -1 <= int(index) < len(source) for index in gold):
            raise ValueError(f"gold: expected {len(target)} indices in [-1, {len(source)}), got {list(gold)}")
        view["gold"] = [int(index) for index in gold]
    return view


def heads_view(
    groups: Mapping[str, Sequence[Tensor]], tokens: Mapping[str, tuple[Sequence[str], Sequence[str]]], *, title: str
) -> dict[str, Any]:
    """Every layer's and head's weights of several attention groups (e.g. encoder self, decoder self, cross).

    Args:
        groups: ``{group: [layer weights (H, Tq, Tk), ...]}``.
        tokens: ``{group: (Tq query labels, Tk key labels)}``.
        title: one line above the picture.
    """
    view: dict[str, Any] = {"kind": "heads", "title": title, "groups": {}}
    for name, layers in groups.items():
        queries, keys = tokens[name]
        matrices = []
        for number, layer in enumerate(layers):
            if layer.dim() != 3 or layer.shape[1:] != (len(queries), len(keys)):
                expected = f"(H, {len(queries)}, {len(keys)})"
                raise ValueError(f"groups[{name!r}][{number}]: expected shape {expected}, got {tuple(layer.shape)}")
            matrices.append([rounded(head) for head in layer])
        view["groups"][name] = {"queries": list(queries), "keys": list(keys), "weights": matrices}
    return view


def image_view(
    image: Tensor,
    steps: Sequence[str],
    *,
    title: str,
    maps: Sequence[Tensor] | None = None,
    boxes: Sequence[Sequence[Sequence[float]]] | None = None,
    gold: Sequence[Sequence[float] | None] | None = None,
) -> dict[str, Any]:
    """An image with, per step (a word, a glimpse, a query point), an attention map and/or boxes.

    Args:
        image: ``(H, W)`` grey levels in [0, 1] (darker is higher: ink on paper), or ``(3, H, W)`` RGB in [0, 1].
        steps: ``T`` labels (the word generated, "glimpse 2", ...).
        title: one line above the picture.
        maps: ``T`` maps ``(h, w)`` stretched over the image (e.g. the 14 × 14 of a CNN grid), or None.
        boxes: per step, the boxes ``[top, left, height, width]`` in pixels (may leave the image), or None.
        gold: per step, the box ``[top, left, height, width]`` the step should attend to (e.g. the
            object a word names), or None for a step without one; scored by :func:`view_scores`.
    """
    if image.dim() not in (2, 3) or (image.dim() == 3 and image.size(0) != 3):
        raise ValueError(f"image: expected shape (H, W) or (3, H, W), got {tuple(image.shape)}")
    if maps is None and boxes is None:
        raise ValueError("image_view: give maps, boxes or both")
    for name, items in (("maps", maps), ("boxes", boxes), ("gold", gold)):
        if items is not None and len(items) != len(steps):
            raise ValueError(f"{name}: expected {len(steps)} (one per step), got {len(items)}")
    pixels = image.detach().float().clamp(0, 1)
    view = {"kind": "image", "title": title, "image": rounded(pixels if pixels.dim() == 3 else pixels[None])}
    view["steps"] = []
    for step, label in enumerate(steps):
        entry: dict[str, Any] = {"label": label}
        if maps is not None:
            entry["map"] = rounded(check_matrix(f"maps[{step}]", maps[step], None, None))
        if boxes is not None:
            entry["boxes"] = [[round(float(value), 2) for value in box] for box in boxes[step]]
            if any(len(box) != 4 for box in entry["boxes"]):
                raise ValueError(f"boxes[{step}]: expected [top, left, height, width] boxes, got {entry['boxes']}")
        if gold is not None and gold[step] is not None:
            if len(gold[step]) != 4 or maps is None:
                raise ValueError(
                    f"gold[{step}]: expected a [top, left, height, width] box scoring a map, got {gold[step]}"
                )
            entry["gold"] = [round(float(value), 2) for value in gold[step]]
        view["steps"].append(entry)
    return view


def memory_view(
    weightings: Mapping[str, Tensor], steps: Sequence[str], slots: Sequence[str], *, title: str
) -> dict[str, Any]:
    """Weightings over memory slots through time: one ``(T, N)`` matrix per head (``"write"``, ``"read"``, ``"hop 1"``).

    Args:
        weightings: ``{name: (T, N)}``; steps: ``T`` labels; slots: ``N`` labels (rows of memory, sentences).
        title: one line above the picture.
    """
    matrices = {name: rounded(check_matrix(name, value, len(steps), len(slots))) for name, value in weightings.items()}
    return {"kind": "memory", "title": title, "steps": list(steps), "slots": list(slots), "weightings": matrices}


def pointer_view(
    points: Tensor, weights: Tensor, chosen: Sequence[int], *, title: str, candidates: Sequence[str] | None = None
) -> dict[str, Any]:
    """The pointer's distribution over the ``K`` candidates at each of ``T`` steps, and the chosen one.

    Args:
        points: ``(n, F)`` the inputs (``F = 2``: drawn on the plane); weights: ``(T, K)`` with ``K >= n``
            (``K = n + 1``: an end candidate); chosen: ``T`` indices in ``[0, K)``.
        title: one line above the picture. candidates: ``K`` labels (default: ``0 .. n-1`` and ``end``).
    """
    check_matrix("points", points, None, None)
    check_matrix("weights", weights, len(chosen), None)
    count = weights.size(1)
    if count < points.size(0) or any(not 0 <= int(index) < count for index in chosen):
        raise ValueError(f"chosen: expected {len(chosen)} indices in [0, {count}) with K >= n, got {list(chosen)}")
    labels = list(candidates) if candidates is not None else [*map(str, range(points.size(0))), "end"][:count]
    view = {"kind": "pointer", "title": title, "points": rounded(points), "candidates": labels}
    return view | {"weights": rounded(weights), "chosen": [int(index) for index in chosen]}


def distributions(view: Mapping[str, Any]) -> list[list[float]]:
    """Every attention distribution (row) a view holds: alignment and pointer rows, memory rows,
    every head's rows, and each step's map flattened (an image view with boxes only has none)."""
    kind = view["kind"]
    if kind in ("alignment", "pointer"):
        return list(view["weights"])
    if kind == "memory":
        return [row for matrix in view["weightings"].values() for row in matrix]
    if kind == "heads":
        groups = view["groups"].values()
        return [row for group in groups for layer in group["weights"] for head in layer for row in head]
    if kind == "image":
        return [[value for row in step["map"] for value in row] for step in view["steps"] if "map" in step]
    raise ValueError(f"view kind: expected one of {', '.join(KINDS)}; got {kind!r}")


def entropy(row: Sequence[float]) -> float:
    """Shannon entropy (nats) of one distribution, renormalised (rounding) and ``0 log 0 = 0``."""
    total = sum(row)
    if total <= 0:
        return 0.0
    return -sum(value / total * math.log(value / total) for value in row if value > 0)


def view_scores(view: Mapping[str, Any]) -> dict[str, float]:
    """``{"entropy": mean entropy (nats) of the view's distributions}``, plus ``"accuracy"`` where
    the view has gold: the fraction of an alignment's target tokens with a gold index whose largest
    weight falls on it, or of an image's steps with a gold box whose map's largest cell has its
    centre in the box (the argmax-in-box of Show, Attend and Tell's measures). ``{}`` for a view
    without distributions."""
    rows = [row for row in distributions(view) if sum(row) > 0]
    scores = {"entropy": sum(entropy(row) for row in rows) / len(rows)} if rows else {}
    hits = gold_hits(view)
    if hits:
        scores["accuracy"] = sum(hits) / len(hits)
    return scores


def argmax(values: Sequence[float]) -> int:
    """The index of the largest value (the first of ties)."""
    return max(range(len(values)), key=values.__getitem__)


def gold_hits(view: Mapping[str, Any]) -> list[bool]:
    """Per gold item of a view, whether the attention's largest weight falls on it (see :func:`view_scores`)."""
    if view["kind"] == "alignment":
        pairs = zip(view["weights"], view.get("gold", []), strict=False)
        return [argmax(row) == index for row, index in pairs if index >= 0]
    if view["kind"] != "image":
        return []
    height, width = len(view["image"][0]), len(view["image"][0][0])
    hits = []
    for step in (item for item in view["steps"] if "gold" in item):
        rows, columns = len(step["map"]), len(step["map"][0])
        row, column = divmod(argmax([value for line in step["map"] for value in line]), columns)
        y, x = (row + 0.5) * height / rows, (column + 0.5) * width / columns  # the cell's centre, in pixels
        top, left, box_height, box_width = step["gold"]
        hits.append(top <= y < top + box_height and left <= x < left + box_width)
    return hits


def check_view(view: Any) -> dict[str, Any]:
    """``view`` if it is a view of a known kind with its fields; else ``ValueError`` naming what is wrong."""
    required = {
        "alignment": ("source", "target", "weights"),
        "heads": ("groups",),
        "image": ("image", "steps"),
        "memory": ("steps", "slots", "weightings"),
        "pointer": ("points", "candidates", "weights", "chosen"),
    }
    if not isinstance(view, dict) or view.get("kind") not in required:
        kind = view.get("kind") if isinstance(view, dict) else type(view).__name__
        raise ValueError(f"view kind: expected one of {', '.join(KINDS)}; got {kind!r}")
    missing = [name for name in ("title", *required[view["kind"]]) if name not in view]
    if missing:
        raise ValueError(f"{view['kind']} view: the field(s) {', '.join(missing)} are missing")
    return view
