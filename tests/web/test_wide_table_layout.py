"""A wide table scrolls inside its .table-wrap, never the whole page: screen-reader text
(.visually-hidden, absolutely placed) in its cells must not escape the scrolling box (the joint
identification's pairwise matrix made the page 4,000 px wide on a 390 px phone)."""

from __future__ import annotations

from pathlib import Path

import pytest

from browser_support import launch_browser

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")

CSS = Path(__file__).resolve().parents[2] / "src" / "reunite" / "web" / "static" / "reunite.css"


def test_a_wide_table_does_not_widen_the_page():
    cells = "".join(f'<td>-1.{k:02d}<span class="visually-hidden"> not compared</span></td>' for k in range(40))
    html = (f"<!doctype html><html><head><style>{CSS.read_text(encoding='utf-8')}</style></head><body>"
            f'<div class="layout"><main><div class="table-wrap"><table><tr>{cells}</tr></table></div></main>'
            "</div></body></html>")
    with playwright_api.sync_playwright() as p:
        browser = launch_browser(p)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 800})
            page.set_content(html)
            assert page.evaluate("document.querySelector('.table-wrap').scrollWidth") > 390  # the table is wide
            assert page.evaluate("document.documentElement.scrollWidth") <= 390  # the page is not
        finally:
            browser.close()
