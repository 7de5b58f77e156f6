"""The browser every browser test drives: Debian's Chromium (scripts/bootstrap.sh --browser), headless, one per module."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright


def _chromium() -> str | None:
    """The browser scripts/bootstrap.sh installs (Debian's chromium), or the user's own off Debian."""
    if os.environ.get("CHROMIUM_PATH"):
        return os.environ["CHROMIUM_PATH"]
    found = (shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome"))
    return next((path for path in found if path), None)


CHROMIUM = _chromium()
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Skipped only where bootstrap cannot install Chromium (no apt-get), as it says when it runs; on Debian a missing
    # browser is a failure, not a skip.
    if CHROMIUM is None and shutil.which("apt-get") is None:
        pytest.skip("no Chromium here and no apt-get to install it: install Chromium or Chrome, or set CHROMIUM_PATH")
    assert CHROMIUM and Path(CHROMIUM).exists(), f"Chromium not found ({CHROMIUM or 'not on PATH'}): run scripts/bootstrap.sh --browser"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()
