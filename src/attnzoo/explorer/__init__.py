"""The attention explorer: a self-contained HTML page of a run's attention (``attnzoo explore``),
a local web app (``attnzoo serve``), and the views recipes export (:mod:`attnzoo.explorer.views`).
The views' JSON schemas: ``src/attnzoo/explorer/README.md``."""

from attnzoo.explorer.views import (
    alignment_view,
    check_view,
    heads_view,
    image_view,
    memory_view,
    pointer_view,
    view_scores,
)

__all__ = ["alignment_view", "check_view", "heads_view", "image_view", "memory_view", "pointer_view", "view_scores"]
