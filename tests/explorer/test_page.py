"""`attnzoo explore` pages in a real headless Chromium, opened from file:// with no network.

The seq2seq page comes from a tiny trained run through the command line (with its formation
record); the other kinds' pages from tiny untrained models of their recipes (the same page code,
built in-process: training each kind would triple the time).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("selenium", reason="selenium is not installed (pip install -e '.[test]')")

from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from attnzoo.cli import app  # noqa: E402
from attnzoo.explorer import browser  # noqa: E402
from attnzoo.explorer.page import page_html  # noqa: E402

from .test_views import tiny  # noqa: E402

KIND_MODELS = {
    "heads": ("transformer", {"kind": "transduction", "train_max_len": 5, "test_max_len": 5}),
    "pointer": ("pointer", {}),
    "memory": ("ntm", {}),
    "image": ("ram", {}),
}


@pytest.fixture(scope="module")
def seq2seq_page(seq2seq_run, chromium):
    """The seq2seq run's page, written by `attnzoo explore`, loaded in the browser; the requests it made."""
    out = seq2seq_run.path / "page.html"
    result = CliRunner().invoke(app, ["explore", str(seq2seq_run.path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    browser.network_requests(chromium)  # drain the log
    chromium.get(out.resolve().as_uri())
    return chromium.execute_script("return window.attnzoo.data"), browser.network_requests(chromium)


def open_page(driver, tmp_path, kind):
    """Build and load the page of a tiny model of ``kind``; returns its data."""
    name, task = KIND_MODELS[kind]
    recipe, model, data = tiny(name, **task)
    views = recipe.attention_views(model, data)
    path = tmp_path / f"{kind}.html"
    page = {"name": name, "subtitle": "test", "views": views, "formation": None, "live": False, "input": "none"}
    path.write_text(page_html(page), encoding="utf-8")
    browser.network_requests(driver)
    driver.get(path.as_uri())
    assert browser.network_requests(driver) == [path.as_uri()]  # the page itself, nothing else
    return views


def cells(element):
    return element.find_elements(By.CSS_SELECTOR, "rect.cell")


def not_blank(driver, path) -> float:
    """The pixel variance of a screenshot of the page (a blank page has 0)."""
    import matplotlib.image

    browser.screenshot(driver, path)
    return float((255 * np.asarray(matplotlib.image.imread(path))[..., :3]).var())  # 0..255 grey levels


def test_the_page_loads_from_disk_with_no_network_request(seq2seq_page, seq2seq_run, chromium):
    data, requests = seq2seq_page
    assert requests == [(seq2seq_run.path / "page.html").resolve().as_uri()]  # only the file itself
    assert not [entry for entry in chromium.get_log("browser") if entry["level"] == "SEVERE"]  # no script error
    assert data["formation"] and len(data["formation"]["snapshots"]) == 2  # validations at steps 2 and 4


def test_alignment_cells_and_hovering_a_target_token_highlights_its_source_tokens(seq2seq_page, chromium):
    data, _ = seq2seq_page
    boxes = chromium.find_elements(By.CSS_SELECTOR, "#views .view[data-kind=alignment]")
    assert len(boxes) == len(data["views"]) == 3
    for box, view in zip(boxes, data["views"], strict=True):
        assert len(cells(box)) == len(view["target"]) * len(view["source"])
    view, box = data["views"][0], boxes[0]
    for row in (0, len(view["target"]) - 1):
        weights = view["weights"][row]
        expected = {j for j, value in enumerate(weights) if value >= max(weights) / 2}
        label = box.find_element(By.CSS_SELECTOR, f"text.row-label[data-row='{row}']")
        ActionChains(chromium).move_to_element(label).perform()
        lit = box.find_elements(By.CSS_SELECTOR, "text.column-label.highlight")
        assert {int(node.get_attribute("data-col")) for node in lit} == expected
        lit_cells = box.find_elements(By.CSS_SELECTOR, "rect.cell.highlight")
        assert {(int(c.get_attribute("data-row")), int(c.get_attribute("data-col"))) for c in lit_cells} == {
            (row, j) for j in expected
        }
    cell = cells(box)[1]
    ActionChains(chromium).move_to_element(cell).perform()
    tip = chromium.find_element(By.ID, "tooltip").text
    assert tip.endswith(f"{view['weights'][0][1]:.3f}") and view["source"][1] in tip


def test_the_time_slider_replays_the_recorded_snapshots(seq2seq_page, chromium):
    data, _ = seq2seq_page
    snapshots = data["formation"]["snapshots"]
    before = [c.get_attribute("data-weight") for c in cells(chromium.find_element(By.ID, "formation-views"))]
    chromium.execute_script(
        "const s = document.getElementById('formation-slider'); s.value = 0; s.dispatchEvent(new Event('input'))"
    )
    after = [c.get_attribute("data-weight") for c in cells(chromium.find_element(By.ID, "formation-views"))]
    assert chromium.find_element(By.ID, "formation-step").text.startswith(f"step {snapshots[0]['step']}:")
    weights = [value for view in snapshots[0]["views"] for row in view["weights"] for value in row]
    assert [float(value) for value in after] == weights
    assert before != after  # the picture changed with the slider
    chromium.find_element(By.ID, "formation-play").click()  # plays from the first snapshot to the last
    WebDriverWait(chromium, 10).until(
        lambda driver: driver.find_element(By.ID, "formation-slider").get_attribute("value") == str(len(snapshots) - 1)
    )


def test_downloads_give_an_svg_document_and_a_png(seq2seq_page, chromium):
    svg = chromium.execute_script("return window.attnzoo.svgText(document.querySelector('#views svg'))")
    assert svg.startswith('<?xml version="1.0"') and "<svg" in svg and "rect" in svg
    png = chromium.execute_async_script(
        "const done = arguments[0]; window.attnzoo.pngBlob(document.querySelector('#views svg'))"
        ".then(b => done([b.type, b.size]), e => done(['error', String(e)]))"
    )
    assert png[0] == "image/png" and png[1] > 1000
    assert (
        len(chromium.find_elements(By.CSS_SELECTOR, "button.download-png"))
        == len(chromium.find_elements(By.CSS_SELECTOR, "button.download-svg"))
        >= 3
    )


def test_the_seq2seq_page_screenshot_is_not_blank(seq2seq_page, chromium, tmp_path):
    assert not_blank(chromium, tmp_path / "alignment.png") > 100


def test_heads_grid_draws_every_layer_and_head_and_the_selector_switches_groups(chromium, tmp_path):
    views = open_page(chromium, tmp_path, "heads")
    heads = next(view for view in views if view["kind"] == "heads")
    box = chromium.find_element(By.CSS_SELECTOR, ".view[data-kind=heads]")
    select = box.find_element(By.CSS_SELECTOR, "select.group")
    for name, group in heads["groups"].items():
        script = "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('change'))"
        chromium.execute_script(script, select, name)
        per_head = len(group["queries"]) * len(group["keys"])
        layers, count = len(group["weights"]), len(group["weights"][0])
        assert len(box.find_elements(By.CSS_SELECTOR, "rect.head-grid")) == layers * count
        assert len(cells(box)) == (layers * count + 1) * per_head  # the grid, and the chosen head large
    assert not_blank(chromium, tmp_path / "heads.png") > 100


def test_image_view_step_buttons_move_the_glimpse(chromium, tmp_path):
    views = open_page(chromium, tmp_path, "image")
    box = chromium.find_element(By.CSS_SELECTOR, ".view[data-kind=image]")
    buttons = box.find_elements(By.CSS_SELECTOR, "button.step")
    steps = views[0]["steps"]
    assert len(buttons) == len(steps) >= 2
    height, width = len(views[0]["image"][0]), len(views[0]["image"][0][0])
    pixel = max(2, 280 // max(height, width))  # the page's pixel size
    for number in (len(steps) - 1, 0):
        buttons[number].click()
        drawn = box.find_elements(By.CSS_SELECTOR, "rect.box")
        lefts = [float(rect.get_attribute("x")) / pixel for rect in drawn]
        assert lefts == pytest.approx([left for _, left, _, _ in steps[number]["boxes"]])  # each scale's square
    assert not_blank(chromium, tmp_path / "image.png") > 100


def test_memory_and_pointer_views_draw_a_cell_per_weight_and_mark_the_chosen_points(chromium, tmp_path):
    views = open_page(chromium, tmp_path, "memory")
    box = chromium.find_element(By.CSS_SELECTOR, ".view[data-kind=memory]")
    assert len(cells(box)) == sum(len(m) * len(m[0]) for m in views[0]["weightings"].values())
    views = open_page(chromium, tmp_path, "pointer")
    box = chromium.find_element(By.CSS_SELECTOR, ".view[data-kind=pointer]")
    assert len(cells(box)) == len(views[0]["weights"]) * len(views[0]["candidates"])
    assert len(box.find_elements(By.CSS_SELECTOR, "rect.mark")) == len(views[0]["chosen"])
    assert len(box.find_elements(By.CSS_SELECTOR, "circle.point")) == len(views[0]["points"])
    assert not_blank(chromium, tmp_path / "pointer.png") > 100
