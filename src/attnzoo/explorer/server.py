"""``attnzoo serve RUN``: the explorer page as a local web app (FastAPI + uvicorn, 127.0.0.1 by default).

    GET  /              the explorer page of the run, with a form: a text box (text models) or a PNG
                        upload (image models); the page posts it and redraws the views it gets back
    POST /api/explore   multipart form ``text=...`` or ``image=<PNG file>`` → ``{"views": [VIEW, ...]}``;
                        bad input → 4xx with ``{"error": "one line"}``

Requests are bounded: :data:`MAX_REQUEST_BYTES` per request (413 past it), :data:`~attnzoo.explorer.page.MAX_TEXT`
characters of text (413), :data:`TIMEOUT_SECONDS` per answer (504), one model call at a time. A bad
input (empty, not a PNG, too long for the model) is a 4xx with one line, never a server crash.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from attnzoo.explorer.page import MAX_TEXT, page_html, run_page_data

MAX_REQUEST_BYTES = 2_000_000  # bytes of one request (an uploaded PNG included)
TIMEOUT_SECONDS = 30.0  # seconds one answer may take
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class BadInput(ValueError):
    """A request the app refuses: ``status`` (4xx) and one line for the page."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def make_app(run: Any) -> FastAPI:
    """The FastAPI app of a run (:class:`attnzoo.training.Run`): its model and data loaded once."""
    recipe = run.recipe()
    model, task = run.load_model(), run.build_task(recipe)
    page = page_html(run_page_data(run, live=True))
    lock = threading.Lock()
    app = FastAPI(title=f"attnzoo explorer: {run.model_name}", docs_url=None, redoc_url=None, openapi_url=None)

    def views_of(inputs: list[str] | None) -> list[dict]:
        """The views (in a worker thread); an uploaded image is deleted once the model is done with it,
        also when the answer has already timed out (the thread cannot be stopped, only outlived)."""
        try:
            with lock:
                return recipe.attention_views(model, task, inputs)
        finally:
            for path in inputs or []:
                if recipe.explore_input == "image":
                    Path(path).unlink(missing_ok=True)

    @app.middleware("http")
    async def bounded(request: Request, call_next: Any) -> Any:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_REQUEST_BYTES):
            return JSONResponse({"error": f"the request is larger than {MAX_REQUEST_BYTES:,} bytes"}, status_code=413)
        return await call_next(request)

    @app.get("/", response_class=HTMLResponse)
    async def index() -> str:
        return page

    @app.post("/api/explore")
    async def explore(request: Request) -> Any:
        try:
            inputs = await read_input(request, recipe.explore_input)
            try:
                views = await asyncio.wait_for(run_in_threadpool(views_of, inputs), TIMEOUT_SECONDS)
            except asyncio.TimeoutError:
                raise BadInput(f"the model took longer than {TIMEOUT_SECONDS:g} s on this input", 504) from None
            except ValueError as error:
                raise BadInput(str(error).strip().splitlines()[0]) from None
        except BadInput as error:
            return JSONResponse({"error": str(error)}, status_code=error.status)
        return {"views": views}

    return app


async def read_input(request: Request, kind: str) -> list[str] | None:
    """The model's input from the posted form: ``[text]``, ``[path of the uploaded PNG]`` (a temporary
    file the caller deletes), or None for a model that takes no input; :class:`BadInput` otherwise."""
    try:
        form = await request.form(max_files=1, max_fields=4, max_part_size=MAX_REQUEST_BYTES)
    except Exception as error:  # the multipart parser's own errors: malformed or too large
        raise BadInput(f"could not read the form ({error})") from None
    if kind == "none":
        return None
    if kind == "text":
        text = form.get("text")
        if not isinstance(text, str) or not text.strip():
            raise BadInput("type a text to explore (the form's text field is empty)")
        if len(text) > MAX_TEXT:
            raise BadInput(f"the text has {len(text):,} characters; at most {MAX_TEXT:,} are accepted", 413)
        return [text.strip()]
    upload = form.get("image")
    if not isinstance(upload, UploadFile):
        raise BadInput("choose a PNG image to explore (the form has no image file)")
    content = await upload.read(MAX_REQUEST_BYTES + 1)
    if not content.startswith(PNG_SIGNATURE):
        raise BadInput(f"{upload.filename or 'the upload'}: not a PNG image", 415)
    with tempfile.NamedTemporaryFile(suffix=".png", delete=False) as handle:
        handle.write(content)
    return [handle.name]


def serve_run(run: Any, host: str, port: int) -> None:
    """Serve the app of ``run`` on ``host:port`` until interrupted (Ctrl-C)."""
    import uvicorn

    app = make_app(run)
    print(f"attnzoo serve: {run.model_name} run {run.path} at http://{host}:{port}/ (Ctrl-C stops it)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", limit_concurrency=8, timeout_keep_alive=5)
