"""The browser can log in, sees the dashboard in both languages, and the login and dashboard
pages pass axe-core with no serious violations; the login form works from the keyboard."""

from urllib.parse import urlparse

import pytest

from browser_support import LiveServer, check_accessible, launch_browser, screenshot
from workflow_world import PASSWORD, make_world

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    world = make_world(f"sqlite:///{tmp_path_factory.mktemp('browser') / 'w.db'}")
    with LiveServer(world.app()) as live:
        yield live


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = launch_browser(p)
        yield b
        b.close()


@pytest.mark.parametrize("lang,heading", [("en", "Dashboard"), ("zh-CN", "仪表板")])
def test_login_by_keyboard_and_dashboard(server, browser, lang, heading):
    context = browser.new_context(locale=lang, extra_http_headers={"Accept-Language": lang})
    page = context.new_page()
    page.goto(f"{server.url}/dashboard")
    assert "/login" in page.url
    check_accessible(page, f"login ({lang})")
    screenshot(page, f"login-{lang}")
    page.focus("#username")
    page.keyboard.type("inv_butuo")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: urlparse(url).path == "/dashboard")
    assert page.locator("h1").first.inner_text() == heading
    check_accessible(page, f"dashboard ({lang})")
    screenshot(page, f"dashboard-{lang}")
    context.close()
