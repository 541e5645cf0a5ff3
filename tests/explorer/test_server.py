"""`attnzoo serve`: the app on a free local port, driven through its page in headless Chromium, and bad input."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("selenium", reason="selenium is not installed (pip install -e '.[test]')")
pytest.importorskip("fastapi", reason="fastapi is not installed (pip install -e .)")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from attnzoo.cli import app as cli  # noqa: E402
from attnzoo.explorer.page import MAX_TEXT  # noqa: E402
from attnzoo.explorer.server import make_app  # noqa: E402


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(run):
    """Serve ``run``'s app on a free port in a thread; returns (base URL, server)."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(make_app(run), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}/", server


@pytest.fixture(scope="module")
def text_server(seq2seq_run):
    url, server = start(seq2seq_run)
    yield url
    server.should_exit = True


def post(url: str, fields: dict[str, tuple[str, bytes, str]], headers: dict | None = None) -> tuple[int, dict]:
    """POST a multipart form (name -> (file name or "", content, type)); the status and the JSON answer."""
    boundary = "attnzoo-test-boundary"
    body = b""
    for name, (filename, content, kind) in fields.items():
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\nContent-Type: {kind}\r\n\r\n".encode()
        body += content + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    request = urllib.request.Request(url + "api/explore", data=body, method="POST")
    request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_typing_a_text_in_the_page_shows_its_output_and_redraws_the_view(text_server, chromium):
    chromium.get(text_server)
    first = chromium.find_element(By.CSS_SELECTOR, "#views .view h3").text
    chromium.find_element(By.CSS_SELECTOR, "textarea[name=text]").send_keys("ba zi no")
    chromium.find_element(By.ID, "live-submit").click()
    WebDriverWait(chromium, 20).until(lambda driver: "→" in driver.find_element(By.ID, "message").text)
    assert chromium.find_element(By.ID, "message").text.startswith("ba zi no →")
    views = chromium.find_elements(By.CSS_SELECTOR, "#views .view")
    assert len(views) == 1 and views[0].find_element(By.TAG_NAME, "h3").text != first
    assert len(views[0].find_elements(By.CSS_SELECTOR, "text.column-label")) == 4  # three words and <eos>


def test_bad_input_is_a_4xx_with_one_line_in_the_page(text_server, chromium):
    chromium.get(text_server)
    script = "document.querySelector('textarea[name=text]').value = arguments[0]"
    chromium.execute_script(script, "x" * (MAX_TEXT + 1))  # past the box's maxlength, as a script could send
    chromium.find_element(By.ID, "live-submit").click()
    message = chromium.find_element(By.ID, "message")
    WebDriverWait(chromium, 20).until(lambda driver: "error" in message.get_attribute("class"))
    assert f"at most {MAX_TEXT:,} are accepted" in message.text
    assert post(text_server, {"text": ("", b"   ", "text/plain")}) == (
        400,
        {"error": "type a text to explore (the form's text field is empty)"},
    )
    status, answer = post(text_server, {"text": ("", b"ba", "text/plain")}, {"Content-Length": str(10**9)})
    assert status == 413 and "larger than" in answer["error"]
    status, answer = post(text_server, {"text": ("", b"no ye", "text/plain")})
    assert status == 200 and answer["views"][0]["kind"] == "alignment"  # still serving after the bad ones


def test_an_image_model_takes_a_png_and_refuses_anything_else(ram_run, tmp_path):
    import matplotlib.image
    import numpy as np

    url, server = start(ram_run)
    try:
        status, answer = post(url, {"image": ("a.txt", b"hello, not an image", "text/plain")})
        assert status == 415 and answer == {"error": "a.txt: not a PNG image"}
        status, answer = post(url, {"text": ("", b"a text", "text/plain")})
        assert status == 400 and "PNG" in answer["error"]
        picture = np.ones((28, 28))
        picture[6:22, 12:16] = 0
        matplotlib.image.imsave(tmp_path / "one.png", picture, cmap="gray")
        status, answer = post(url, {"image": ("one.png", (tmp_path / "one.png").read_bytes(), "image/png")})
        assert status == 200 and answer["views"][0]["kind"] == "image"
    finally:
        server.should_exit = True


def test_a_slow_answer_is_a_504_and_the_upload_outlives_the_model_call(ram_run, tmp_path, monkeypatch):
    import matplotlib.image
    import numpy as np

    from attnzoo.explorer import server as module

    seen = []

    def slow_views(self, model, task, inputs=None):
        if inputs is None:  # the page's own views, drawn when the app starts
            return []
        time.sleep(1.0)  # past the answer's time limit
        seen.append((inputs[0], Path(inputs[0]).is_file()))  # the upload is still there for the model
        return []

    monkeypatch.setattr(module, "TIMEOUT_SECONDS", 0.2)
    monkeypatch.setattr(type(ram_run.recipe()), "attention_views", slow_views)
    matplotlib.image.imsave(tmp_path / "one.png", np.ones((28, 28)), cmap="gray")
    url, server = start(ram_run)
    try:
        status, answer = post(url, {"image": ("one.png", (tmp_path / "one.png").read_bytes(), "image/png")})
        assert status == 504 and answer == {"error": "the model took longer than 0.2 s on this input"}
        deadline = time.monotonic() + 10
        while not seen:
            assert time.monotonic() < deadline, "the model call never finished"
            time.sleep(0.05)
        time.sleep(0.1)
        path, was_there = seen[0]
        assert was_there and not Path(path).exists()  # deleted after the call, not under it
    finally:
        server.should_exit = True


def test_serve_refuses_a_run_of_an_unknown_model_in_one_line(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model": "no-such-model", "config": {}}))
    result = CliRunner().invoke(cli, ["serve", str(tmp_path), "--port", "8123"])
    assert result.exit_code == 2 and "no-such-model" in result.output and len(result.output.splitlines()) == 1
