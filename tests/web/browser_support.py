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
        warm_font()
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


def warm_font() -> None:
    """Make the pages' Chinese font subset before the first page asks for it (a page's load
    waits for it; tests keep their cache folder per session): made once in the user's cache
    folder, as ``reunite serve`` does, and copied into the session's."""
    from reunite.web import fonts

    session_folder = fonts.cache_folder()
    saved = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(Path.home() / ".cache")
    try:
        made = fonts.subset_path()
    finally:
        if saved is None:
            os.environ.pop("XDG_CACHE_HOME", None)
        else:
            os.environ["XDG_CACHE_HOME"] = saved
    if made is not None and not (session_folder / made.name).is_file():
        session_folder.mkdir(parents=True, exist_ok=True)
        partial = session_folder / f"{made.name}.tmp-{os.getpid()}"
        shutil.copyfile(made, partial)
        os.replace(partial, session_folder / made.name)


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


# ---------------------------------------------------------------------------------------
# journeys: users logged in through the login form, pages in either language


def tr(lang: str, message: str, **values) -> str:
    """``message`` as the pages show it in ``lang`` (``en`` or ``zh-CN``), from the catalogs."""
    from reunite import i18n

    with i18n.use_language(lang):
        text = i18n.gettext(message)
    return text % values if values else text


def path_is(path: str):
    """A ``wait_for_url`` test: the URL's path is ``path`` (a glob like ``**/x`` also matches ``/login?next=/x``)."""
    from urllib.parse import urlparse

    return lambda url: urlparse(url).path == path


def path_matches(pattern: str):
    """A ``wait_for_url`` test: the URL's path matches the regular expression ``pattern`` (whole)."""
    from urllib.parse import urlparse

    return lambda url: re.fullmatch(pattern, urlparse(url).path) is not None


def new_page(browser, lang: str, *, viewport=None):
    """A page of a fresh browser context (own cookies) that asks for ``lang``."""
    context = browser.new_context(locale=lang, extra_http_headers={"Accept-Language": lang},
                                  accept_downloads=True, viewport=viewport or {"width": 1280, "height": 900})
    context.set_default_timeout(45_000)
    return context.new_page()


def log_in(browser, server, username: str, password: str, lang: str, *, next_path: str = "/dashboard", viewport=None):
    """A page logged in as ``username`` through the login form (found by its labels), on ``next_path``."""
    from urllib.parse import quote

    page = new_page(browser, lang, viewport=viewport)
    page.goto(f"{server.url}/login?next={quote(next_path)}")
    page.get_by_label(tr(lang, "User name")).fill(username)
    page.get_by_label(tr(lang, "Password")).fill(password)
    page.get_by_role("button", name=tr(lang, "Log in")).click()
    page.wait_for_url(path_is(next_path.split("?")[0]))
    return page


def look(page, name: str, where: str | None = None) -> None:
    """The page passes axe-core (no serious or critical violations) and is saved as ``name``."""
    check_accessible(page, where or name)
    screenshot(page, name)
