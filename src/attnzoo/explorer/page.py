"""The explorer page: ONE self-contained HTML file (CSS, JS and data inlined; no network request).

:func:`page_html` fills ``static/page.html`` with ``static/page.css``, ``static/draw.js`` +
``static/views.js`` and the data as JSON; :func:`run_page_data` gathers a run's data: its
model's views (the recipe's :meth:`~attnzoo.recipes.Recipe.attention_views`) and its formation
record. The page draws every view with SVG (hover, highlight, step buttons, the time slider) and
downloads each as PNG or SVG, opened from disk.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from attnzoo.explorer.views import check_view

MAX_TEXT = 1_000  # characters of one typed input (the page's text box and `attnzoo serve`)


def static(name: str) -> str:
    """The text of ``attnzoo/explorer/static/<name>``."""
    return resources.files("attnzoo.explorer").joinpath("static", name).read_text(encoding="utf-8")


def page_html(data: dict[str, Any]) -> str:
    """The page for ``data``: ``{"name", "subtitle", "views": [VIEW...], "formation": {...} | None,
    "live": bool, "input": "text" | "image" | "none"}`` (views checked with :func:`check_view`)."""
    for view in data["views"]:
        check_view(view)
    embedded = json.dumps(data, ensure_ascii=False, allow_nan=False).replace("<", "\\u003c")  # no </script> or <!--
    parts = {
        "__TITLE__": escape(data["name"]),
        "__CSS__": static("page.css"),
        "__MAX_TEXT__": str(MAX_TEXT),
        "__JS__": static("draw.js") + "\n" + static("views.js"),
        "__DATA__": embedded,
    }
    page = static("page.html")
    for marker, text in parts.items():
        page = page.replace(marker, text)
    return page


def escape(text: str) -> str:
    """``text`` safe inside HTML."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def read_inputs(path: Path) -> list[str]:
    """The inputs of ``--inputs FILE``: one per non-empty line (a text, or a PNG's path), UTF-8."""
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not valid UTF-8 ({error.reason} at byte {error.start})") from None
    inputs = [line for line in lines if line]
    if not inputs:
        raise ValueError(f"{path}: no input in it (expected one input per line)")
    too_long = next((number for number, line in enumerate(lines, 1) if len(line) > MAX_TEXT), None)
    if too_long is not None:
        raise ValueError(f"{path}:{too_long}: longer than {MAX_TEXT} characters")
    return inputs


def run_page_data(run: Any, inputs: list[str] | None = None, *, live: bool = False) -> dict[str, Any]:
    """The page data of a run (:class:`attnzoo.training.Run`): its views of ``inputs`` (None: its
    probe examples) and, for the probe examples, how they formed during training."""
    recipe = run.recipe()
    model, task = run.load_model(), run.build_task(recipe)
    views = recipe.attention_views(model, task, inputs)
    formation = run.read_formation()
    done = run.read_json("training.json").get("done", {})
    subtitle = f"{run.model_name} run {run.path} ({done.get('steps', '?')} steps); preset {run.preset or 'none'}"
    return {
        "name": run.model_name,
        "subtitle": subtitle,
        "views": views,
        "formation": formation if formation["snapshots"] else None,
        "live": live,
        "input": recipe.explore_input,
    }


def write_page(run: Any, out: Path, inputs: list[str] | None = None) -> int:
    """Write the explorer page of ``run`` to ``out``; returns the number of views."""
    data = run_page_data(run, inputs)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page_html(data), encoding="utf-8")
    return len(data["views"])
