"""The ops page for tests: `importd web` as a real process, and a real headless Chromium to look at it.

Chromium is Debian's (`.ci/run` installs it); Playwright only drives it and is
never allowed to download a browser of its own. The page listens on loopback.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed "
                                    "(.ci/run installs it: apt-get install chromium)")


def start_web(config: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    """Start `importd web` on a free loopback port; the process and the page's address."""
    web = subprocess.Popen([sys.executable, "-m", "importd", "web", "-c", str(config), "--port", "0", *extra],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in web.stdout:
        event = json.loads(line)
        if event["event"] == "web.listening":
            return web, event["url"]
    web.wait(timeout=10)
    raise AssertionError(f"importd web did not start: {web.stderr.read()}")


def stop_web(web: subprocess.Popen) -> int:
    web.terminate()
    web.communicate(timeout=10)
    return web.returncode


@contextmanager
def browser(viewport=(1280, 900)):
    """A fresh headless Chromium profile; yields a page."""
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="importd-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
                viewport={"width": viewport[0], "height": viewport[1]})
            context.set_default_timeout(10_000)
            try:
                yield context.pages[0] if context.pages else context.new_page()
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
