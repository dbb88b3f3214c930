"""Browser tests: the app served by Uvicorn on a free local port, Playwright driving Debian's
Chromium (``/usr/bin/chromium``, or ``$REUNITE_CHROMIUM``), axe-core accessibility checks, and
screenshots of every page saved as test artefacts (``test-artifacts/screenshots/``, or
``$REUNITE_TEST_ARTIFACTS``).

Tests skip, with the reason, where no browser can be had (no Chromium binary, or Playwright
missing); ``.ci/run`` installs Debian's chromium when it is absent.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

ARTIFACTS = Path(os.environ.get("REUNITE_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
SCREENSHOTS = ARTIFACTS / "screenshots"


def chromium_path() -> str | None:
    for candidate in (os.environ.get("REUNITE_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """``app`` served by Uvicorn in a thread of the test process; ``url`` is its root."""

    def __init__(self, app) -> None:
        import uvicorn

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def launch_browser(playwright):
    """Debian's Chromium, headless; skips the test with the reason where there is none."""
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium: install Debian's package (apt-get install chromium) or set REUNITE_CHROMIUM; "
                    ".ci/run installs it")
    try:
        return playwright.chromium.launch(executable_path=path, args=["--no-sandbox", "--disable-gpu",
                                                                      "--disable-dev-shm-usage"])
    except Exception as exc:  # noqa: BLE001 - a browser that cannot start is a skip with its reason
        pytest.skip(f"Chromium at {path} did not start: {str(exc).splitlines()[0]}")


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot as a test artefact; returns its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")
    path = SCREENSHOTS / f"{safe}.png"
    # the CJK font is fetched when first needed: wait for it, then for every font in use
    page.evaluate("async () => { await document.fonts.load('16px \"Noto Sans CJK SC\"', '中文'); "
                  "await document.fonts.ready; }")
    page.screenshot(path=str(path), full_page=True)
    return path


SERIOUS = ("serious", "critical")


def axe_problems(page, *, impacts=SERIOUS) -> list[str]:
    """The page's axe-core violations of at least serious impact, as readable lines."""
    from axe_playwright_python.sync_playwright import Axe

    result = Axe().run(page)
    out = []
    for v in result.response.get("violations", []):
        if v.get("impact") in impacts:
            targets = ", ".join(str(n.get("target")) for n in v.get("nodes", [])[:5])
            out.append(f"{v['id']} ({v['impact']}): {v.get('help')} at {targets}")
    return out


def check_accessible(page, where: str) -> None:
    problems = axe_problems(page)
    assert not problems, f"{where}: accessibility violations:\n" + "\n".join(problems)
