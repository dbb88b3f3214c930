"""Every main page in a real browser (Debian's Chromium), in English and in Chinese, opened by a
user allowed to see it on the demo's simulated data: it answers 200 with its heading, passes
axe-core with no serious or critical violation, and is saved as a screenshot
(``test-artifacts/screenshots/pages-<lang>-<page>.png``).  Then the keyboard: the report form
is filled and sent with Tab and Enter only, and a candidate's transition form likewise.
"""

from __future__ import annotations

import pytest

from browser_support import LiveServer, check_accessible, launch_browser, log_in, path_is, screenshot, tr
from journey_world import make_demo_world

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")

LANGS = ("en", "zh-CN")
OPERATION = "OP-371300-2024-03"
REPORT = "R-513429-2023-017"
CHILD = "LY24-C03"
CHECK = "REG-371324-2024-002"

#: (name, user, path): {confirmed}, {under_review}, {outcome} and {batch} are filled in from the demo world
PAGES = [
    ("dashboard-investigator", "inv_butuo", "/dashboard"),
    ("dashboard-reviewer", "reviewer1", "/dashboard"),
    ("dashboard-welfare", "welfare_linyi", "/dashboard"),
    ("charts", "reviewer1", "/charts"),
    ("reports", "inv_butuo", "/reports"),
    ("report-new", "inv_butuo", "/reports/new"),
    ("report", "inv_butuo", f"/reports/{REPORT}"),
    ("report-edit", "inv_butuo", f"/reports/{REPORT}/edit"),
    ("imports", "analyst", "/imports"),
    ("import-upload", "analyst", "/imports/upload"),
    ("import", "analyst", "/imports/{batch}"),
    ("operations", "inv_linyi", "/operations"),
    ("operation-new", "inv_linyi", "/operations/new"),
    ("operation", "inv_linyi", f"/operations/{OPERATION}"),
    ("operation-edit", "inv_linyi", f"/operations/{OPERATION}/edit"),
    ("operation-identification", "reviewer1", f"/operations/{OPERATION}/identification"),
    ("unidentified", "inv_linyi", "/unidentified"),
    ("unidentified-new", "inv_linyi", "/unidentified/new"),
    ("unidentified-child", "inv_linyi", f"/unidentified/{CHILD}"),
    ("unidentified-edit", "inv_linyi", f"/unidentified/{CHILD}/edit"),
    ("candidates", "reviewer1", "/candidates"),
    ("candidate-confirmed", "inv_butuo", "/candidates/{confirmed}"),
    ("candidate-under-review", "reviewer2", "/candidates/{under_review}"),
    ("outcomes", "welfare_linyi", "/outcomes"),
    ("outcome", "welfare_linyi", "/outcomes/{outcome}"),
    ("outcome-new", "welfare_linyi", f"/outcomes/new?child={CHILD}"),
    ("follow-ups", "welfare_linyi", "/outcomes/follow-ups"),
    ("registration", "registrar", "/registration"),
    ("registration-new", "registrar", "/registration/new"),
    ("registration-check", "registrar", f"/registration/{CHECK}"),
    ("documents", "reviewer1", "/documents"),
    ("documents-verify", "reviewer1", "/documents/verify"),
    ("account", "inv_butuo", "/account"),
    ("inbox", "inv_butuo", "/inbox"),
    ("admin", "admin", "/admin"),
    ("admin-users", "admin", "/admin/users"),
    ("admin-user-new", "admin", "/admin/users/new"),
    ("admin-user", "admin", "/admin/users/inv_butuo"),
    ("admin-jurisdictions", "admin", "/admin/jurisdictions"),
    ("admin-kits", "admin", "/admin/kits"),
    ("admin-frequencies", "admin", "/admin/frequencies"),
    ("admin-frequency-table", "admin", "/admin/frequencies/CHN_national_GBT37223"),
    ("admin-model", "admin", "/admin/model"),
    ("audit", "auditor", "/audit"),
    ("audit-verified", "auditor", "/audit/verify"),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    demo = make_demo_world(tmp_path_factory.mktemp("pages"))
    with LiveServer(demo.app()) as server:
        yield demo, server


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = launch_browser(p)
        yield b
        b.close()


@pytest.fixture(scope="module")
def users(site, browser):
    """A logged-in page per (user, language), made when first asked for and kept for the module."""
    demo, server = site
    pages = {}

    def page_of(username: str, lang: str):
        if (username, lang) not in pages:
            pages[username, lang] = log_in(browser, server, username, demo.password(username), lang)
        return pages[username, lang]

    yield page_of
    for page in pages.values():
        page.context.close()


def _path(demo, path: str) -> str:
    from sqlalchemy import text

    with demo.engine.connect() as c:
        batch = c.execute(text("SELECT max(id) FROM import_batches")).scalar()
    r = demo.result
    return path.format(confirmed=r.confirmed_candidate, under_review=r.under_review_candidate, outcome=r.outcome_id,
                       batch=batch)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name,username,path", PAGES, ids=[p[0] for p in PAGES])
def test_page_is_accessible(site, users, name, username, path, lang):
    demo, server = site
    page = users(username, lang)
    response = page.goto(f"{server.url}{_path(demo, path)}")
    assert response is not None and response.status == 200, (path, response and response.status,
                                                            page.locator("main").inner_text()[:1000])
    assert page.locator("h1").first.inner_text().strip(), path
    assert page.locator("html").get_attribute("lang") == lang
    assert tr(lang, "Dashboard") in page.locator("nav.sidenav").inner_text()  # the menu speaks the language
    check_accessible(page, f"{name} ({lang}, {path})")
    screenshot(page, f"pages-{lang}-{name}")


def _tab_order(page, stop_at: str, limit: int = 60) -> list[str]:
    """The ids (or names) focus passes through on Tab, until the element ``stop_at`` (an id) or ``limit``."""
    seen: list[str] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        here = page.evaluate("() => { const e = document.activeElement; return e.id || e.name || e.tagName; }")
        if not seen or seen[-1] != here:  # a date input keeps the focus through its parts
            seen.append(here)
        if here == stop_at:
            break
    return seen


@pytest.mark.parametrize("lang", LANGS)
def test_report_form_by_keyboard(site, users, lang, tmp_path):
    """Tab visits the form's fields in the order they are shown; typing and Enter register the report."""
    from reunite.demo_workflow import simulate_unrelated

    demo, server = site
    code = f"R-513429-2024-9{len(lang)}"
    sample = f"{code}-MO"
    demo.upload_as_lab(simulate_unrelated([(sample, "F")], seed=len(lang)), tmp_path / "mother.csv")

    page = users("inv_butuo", lang)
    page.goto(f"{server.url}/reports/new")
    fields = page.evaluate("() => Array.from(document.querySelectorAll('main form input:not([type=hidden]), "
                           "main form select, main form textarea, main form button')).map(e => e.id || e.name || e.tagName)")
    page.locator("#f-code").focus()
    order = ["f-code", *_tab_order(page, fields[-1])]
    assert order == fields[:len(order)] and order[-1] == fields[-1], (order, fields)

    page.locator("#f-code").focus()
    page.keyboard.type(code)
    assert _tab_order(page, "f-ref1_relation")[-1] == "f-ref1_relation"
    page.locator("#f-ref1_relation").select_option("mother")  # a select's choice: its own keys, per browser
    page.keyboard.press("Tab")
    page.keyboard.type(sample)
    page.keyboard.press("Enter")
    page.wait_for_url(path_is(f"/reports/{code}"))
    assert tr(lang, "Report %(code)s registered.", code=code) in page.content()
    check_accessible(page, f"report registered by keyboard ({lang})")


@pytest.mark.parametrize("lang", LANGS)
def test_candidate_transition_by_keyboard(site, users, lang):
    """On the candidate page the reviewer reaches a step's comment and button with Tab and sends it with Enter."""
    demo, server = site
    cid = demo.result.under_review_candidate
    page = users("reviewer2", lang)
    page.goto(f"{server.url}/candidates/{cid}")
    if lang == "en":
        step, button = "request_confirmation", "Request confirmation"
    else:  # the English run asked for confirmation; the second reviewer (the same here) may not confirm
        step, button = "reject", "Reject"
    form = page.locator(f"#step-{step}")
    assert form.count() == 1, page.locator("main").inner_text()[:2000]
    page.locator(f"#step-{step} textarea").first.focus()
    page.keyboard.type("checked from the keyboard (simulated)")
    page.keyboard.press("Tab")
    focused = page.evaluate("() => [document.activeElement.tagName, document.activeElement.textContent.trim()]")
    assert focused == ["BUTTON", tr(lang, button)], focused
    # the step posts and is redirected back to this same URL: wait for that navigation itself
    # (waiting for the URL alone returns at once, before the page is replaced)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_url(path_is(f"/candidates/{cid}"))
    assert page.locator(".alert-error").count() == 0, page.locator(".alert-error").all_inner_texts()
    status = "confirmation requested" if lang == "en" else "rejected"
    assert tr(lang, status) in page.locator("h1").inner_text()
    check_accessible(page, f"candidate after a keyboard step ({lang})")
