"""Headless Chromium for the explorer's tests and screenshots (selenium, Debian's ``chromium`` + ``chromium-driver``).

Never downloads a browser: :func:`missing` says why one cannot start (no selenium, no Chromium),
so tests skip with that reason. Background networking is off, and :func:`network_requests` lists
every request the page made (from the DevTools performance log), so a test can assert there is none.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMEDRIVER = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
)


def found(paths: tuple[str, ...], name: str) -> str | None:
    """The first of ``paths`` that exists, or ``name`` on the PATH, or None."""
    return next((path for path in paths if Path(path).is_file()), None) or shutil.which(name)


def missing() -> str | None:
    """Why no browser can start here (a line for ``pytest.skip``), or None when one can."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    if found(CHROMIUM, "chromium") is None:
        return "no Chromium installed (Debian: apt-get install chromium chromium-driver)"
    if found(CHROMEDRIVER, "chromedriver") is None:
        return "no chromedriver installed (Debian: apt-get install chromium-driver)"
    return None


def start_chromium(width: int = 1300, height: int = 900) -> Any:
    """A headless Chromium (a selenium ``WebDriver``) logging its network events; call ``.quit()`` after."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = found(CHROMIUM, "chromium")
    for flag in (*FLAGS, f"--window-size={width},{height}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    return webdriver.Chrome(service=Service(found(CHROMEDRIVER, "chromedriver")), options=options)


def network_requests(driver: Any) -> list[str]:
    """The URLs the page requested since the last call (the DevTools performance log drains on reading)."""
    events = [json.loads(entry["message"])["message"] for entry in driver.get_log("performance")]
    return [event["params"]["request"]["url"] for event in events if event["method"] == "Network.requestWillBeSent"]


def screenshot(driver: Any, path: str | Path, element: Any = None) -> None:
    """A PNG of the whole page (its full height) or of one element."""
    if element is not None:
        element.screenshot(str(path))
        return
    width, height = driver.execute_script("return [document.body.scrollWidth, document.body.scrollHeight]")
    driver.set_window_size(max(width + 40, 800), min(height + 40, 6000))
    driver.save_screenshot(str(path))
