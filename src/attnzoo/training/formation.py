"""Attention as it forms: the views of fixed probe inputs, recorded at every validation.

At each validation the trainer asks the recipe for ``attention_views(model, task)`` (its fixed
probe examples: the same inputs every time) and appends a snapshot to ``<run>/formation.json``::

    {"format": "attnzoo-formation/1",
     "snapshots": [{"step": 200, "scores": {"entropy": 1.93, "accuracy": 0.12}, "views": [VIEW, ...]}, ...]}

``scores`` are :func:`attnzoo.explorer.views.view_scores` averaged over the snapshot's views (the
mean entropy in nats; the alignment accuracy where the task has gold alignments). The file is
bounded: at most :data:`MAX_VIEWS` views of at most :data:`MAX_SNAPSHOT_BYTES` of JSON per
snapshot, and at most :data:`MAX_SNAPSHOTS` snapshots (past that, every other older one is
dropped, keeping the first and the newest), so at most about 2.6 MB.
"""

from __future__ import annotations

import json
from typing import Any

import torch
from torch import nn

from attnzoo.explorer.views import view_scores
from attnzoo.recipes.base import evaluating
from attnzoo.training.run import Run

FORMAT = "attnzoo-formation/1"
MAX_VIEWS = 4  # views kept per snapshot (the first ones the recipe gives)
MAX_SNAPSHOT_BYTES = 64_000  # JSON bytes per snapshot: views past this are left out
MAX_SNAPSHOTS = 40  # snapshots kept; past this, every other older snapshot is dropped


def snapshot(step: int, views: list[dict[str, Any]]) -> dict[str, Any]:
    """A snapshot: the first views within :data:`MAX_VIEWS` and :data:`MAX_SNAPSHOT_BYTES`, and their mean scores."""
    kept, size = [], 0
    for view in views[:MAX_VIEWS]:
        size += len(json.dumps(view))
        if size > MAX_SNAPSHOT_BYTES:
            break
        kept.append(view)
    totals: dict[str, list[float]] = {}
    for view in kept:
        for name, value in view_scores(view).items():
            totals.setdefault(name, []).append(value)
    scores = {name: round(sum(values) / len(values), 4) for name, values in totals.items()}
    return {"step": step, "scores": scores, "views": kept}


def thinned(snapshots: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``snapshots`` if at most :data:`MAX_SNAPSHOTS`, else every other one, keeping the first and the newest."""
    if len(snapshots) <= MAX_SNAPSHOTS:
        return snapshots
    return snapshots[:-1][::2] + snapshots[-1:]


class FormationRecorder:
    """Appends a snapshot of the recipe's probe views to ``<run>/formation.json`` (see the module docstring)."""

    def __init__(self, run: Run) -> None:
        self.run = run

    @torch.no_grad()
    def record(self, step: int, recipe: Any, model: nn.Module, task: Any) -> None:
        """Record the views at ``step`` (nothing for a recipe without views); the model's mode is restored."""
        with evaluating(model), torch.random.fork_rng(devices=[]):  # draws nothing from the training's generator
            views = recipe.attention_views(model, task)
        if not views:
            return
        document = self.run.read_formation()
        snapshots = [item for item in document["snapshots"] if item["step"] < step]  # a resumed run redoes later ones
        self.run.write_formation({"format": FORMAT, "snapshots": thinned([*snapshots, snapshot(step, views)])})
