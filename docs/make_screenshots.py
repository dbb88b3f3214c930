"""Regenerate the README's screenshots (docs/screenshots/*.png) from the demo's simulated data.

    .venv/bin/python docs/make_screenshots.py            # English, 1280x900
    .venv/bin/python docs/make_screenshots.py --lang zh-CN --out /tmp/shots

Makes the demo's world (``make demo``'s users, reports, rescue operation, candidates, a return
home: every person simulated) in a temporary folder, serves it on a free local port, and saves
what a user sees in Debian's Chromium (``/usr/bin/chromium`` or ``$REUNITE_CHROMIUM``): the
dashboard, a confirmed candidate's page and the charts.  The viewport only, not the whole page.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "web")]

from browser_support import LiveServer, chromium_path, log_in  # noqa: E402
from journey_world import make_demo_world  # noqa: E402

VIEWPORT = {"width": 1280, "height": 900}


def shots(demo) -> list[tuple[str, str, str]]:
    """(file name, user, path, the element scrolled to the top or None) of each screenshot."""
    return [("dashboard.png", "reviewer1", "/dashboard", None),
            ("candidate.png", "inv_butuo", f"/candidates/{demo.result.confirmed_candidate}", "#h-pedigrees"),
            ("charts.png", "reviewer1", "/charts", None)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--lang", default="en", choices=("en", "zh-CN"))
    parser.add_argument("--families", type=int, default=600,
                        help="families of the simulated national database searched first (as make demo does)")
    args = parser.parse_args(argv)
    if chromium_path() is None:
        print("no Chromium: install Debian's package (apt-get install chromium) or set REUNITE_CHROMIUM",
              file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="reunite-shots-") as temp:
        demo = make_demo_world(Path(temp), families=args.families, unidentified=args.families // 4)
        with LiveServer(demo.app()) as server, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu",
                                                                               "--disable-dev-shm-usage"])
            for name, user, path, top in shots(demo):
                page = log_in(browser, server, user, demo.password(user), args.lang, next_path=path,
                              viewport=VIEWPORT)
                page.evaluate("async () => { await document.fonts.load('16px \"Noto Sans CJK SC\"', '中文'); "
                              "await document.fonts.ready; }")
                if top:
                    page.locator(top).evaluate("e => window.scrollTo(0, e.getBoundingClientRect().top + "
                                               "window.scrollY - 16)")
                target = args.out / name
                page.screenshot(path=str(target), full_page=False)
                print(f"{target}: {target.stat().st_size // 1024} KB")
                page.context.close()
            browser.close()
        demo.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
