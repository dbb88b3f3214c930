"""Security review of the web pages: every route's permission and CSRF dependencies, names and
contacts never shown outside their jurisdiction (pages and PDFs), text escaped everywhere
(names, codes, places), redirects only to local paths, cookies and cache headers, uploads,
error pages without internals.

Every name is simulated; the secrets below are markers the pages must not show."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date, timedelta
from urllib.parse import quote

import pytest
from sqlalchemy import select, update

from reunite.store.models import ImportBatch, MatchCandidate, PersonDetail, Unidentified
from reunite.store.models_workflow import AuditEntry, MissingReport, Outcome, RegistrationCheck, RescueOperation
from review_fixtures import build, second_child_sample, to_confirmation_requested
from web_client import follow, post_form, web_client, web_login

XSS = "<script>alert(1)</script>"
ATTR = '"><svg onload=alert(2)>'
BUTUO = "BUTUO-SECRET"  # in names, contacts, circumstances, notes of Butuo records
LINYI = "LINYI-SECRET"  # in the names and notes of Linyi's children
LANLING = "LANLING-SECRET"  # the registration check's given name


@pytest.fixture(scope="module")
def rw(tmp_path_factory):
    """The review world (Butuo reports, Linyi children, candidates), with a confirmed child, its
    outcome, a Butuo operation and a Lanling registration check; every personal field holds a
    marker of its jurisdiction and markup that must come out escaped."""
    from reunite.cases import operations, outcomes, registration, review, unidentified
    from reunite.cases.confirmation import add_confirmation_sample

    rw = build(tmp_path_factory.mktemp("security"))

    def mark(s):
        for d in s.execute(select(PersonDetail)).scalars():
            secret = LINYI if d.subject_kind == "unidentified" else BUTUO
            d.name = f"{secret} {XSS}{ATTR} 王"
            if d.contact:
                d.contact = f"{secret} contact {XSS}"
        s.execute(update(MissingReport).values(circumstances=f"{BUTUO} circumstances {XSS}"))
        s.execute(update(Unidentified).values(placement_name=f"{LINYI} foster family {XSS}",
                                              found_place=f"market {XSS}{ATTR}"))

    rw.write(mark)
    u, _f, _m, cid = rw.true_pairs()[0]
    to_confirmation_requested(rw, cid)
    second_child_sample(rw, u, "SCONFIRM")
    rw.write(lambda s: add_confirmation_sample(s, cid, actor=rw.actor("analyst"), sample_code="SCONFIRM",
                                               target="child", model=rw.model))
    rw.write(lambda s: review.confirm(s, cid, actor=rw.actor("reviewer2")))
    rw.write(lambda s: outcomes.record_outcome(s, actor=rw.actor("welfare_linyi"), child_code=u, kind="returned_home",
                                               outcome_date=date.today() - timedelta(days=10),
                                               notes=f"{LINYI} outcome {XSS}", follow_up_days=[30]))
    rw.write(lambda s: operations.create_operation(s, actor=rw.actor("inv_butuo"), code="OP-BT-1", name="night raid",
                                                   operation_date=date(2024, 1, 5), place_code="513429",
                                                   place_detail=f"{BUTUO} place {XSS}", notes=f"{BUTUO} op {XSS}",
                                                   suspects_case_number=f"{BUTUO}-case"))
    rw.import_samples({"REG-CHILD": rw.profile_of(rw.true_pairs()[1][0]),
                       "REG-FATHER": rw.profile_of(rw.true_pairs()[2][0])}, name="registration")
    rw.write(lambda s: registration.run_check(s, actor=rw.actor("registrar"), model=rw.model, code="REG-LL-1",
                                              child_sample_code="REG-CHILD", father_sample_code="REG-FATHER", child_given_name=f"{LANLING} {XSS}",
                                              registration_number=f"{LANLING}-number"))
    rw.import_samples({f"S{ATTR}": rw.profile_of(rw.true_pairs()[3][0])}, name="markup")
    rw.write(lambda s: operations.create_operation(s, actor=rw.actor("inv_butuo"), code=f"OP{ATTR}",
                                                   place_code="513429", place_detail=f"{ATTR}"))
    rw.write(lambda s: unidentified.create_unidentified(s, actor=rw.actor("inv_butuo"), code=f"U{ATTR}",
                                                        sample_code=f"S{ATTR}", found_place_code="513429",
                                                        found_place_detail=XSS, operation_code=f"OP{ATTR}",
                                                        given_name=f"{BUTUO} {XSS}"))
    rw.confirmed = cid
    rw.child = u
    return rw


def page_urls(rw) -> list[str]:
    """Every GET page route, with its path parameters filled from the world's records."""
    from reunite.web.routes import ROUTERS

    def ids(work):
        return rw.read(work)

    values = {
        "code": {"/reports": ids(lambda s: s.execute(select(MissingReport.code).limit(2)).scalars().all()),
                 "/operations": ids(lambda s: s.execute(select(RescueOperation.code)).scalars().all()),
                 "/unidentified": ids(lambda s: s.execute(select(Unidentified.code).limit(3)).scalars().all())
                 + [rw.child, f"U{ATTR}"],
                 "/registration": ids(lambda s: s.execute(select(RegistrationCheck.code)).scalars().all())},
        "candidate_id": [rw.confirmed] + ids(lambda s: s.execute(select(MatchCandidate.id).limit(2)).scalars().all()),
        "outcome_id": ids(lambda s: s.execute(select(Outcome.id)).scalars().all()),
        "batch_id": ids(lambda s: s.execute(select(ImportBatch.id).limit(2)).scalars().all()),
        "username": ["inv_butuo"], "population": [],
    }
    urls = []
    for router in ROUTERS:
        for route in router.routes:
            if "GET" not in route.methods or route.path in ("/language/{lang}", "/login") or route.path.endswith(".pdf"):
                continue
            params = re.findall(r"{(\w+)(?::\w+)?}", route.path)
            if not params:
                urls.append(route.path)
                continue
            if len(params) > 1:
                continue
            name = params[0]
            options = values.get(name, [])
            if isinstance(options, dict):
                options = next((v for prefix, v in options.items() if route.path.startswith(prefix)), [])
            for value in options:
                urls.append(re.sub(r"{\w+(?::\w+)?}", lambda _m, v=value: quote(str(v), safe=""), route.path))
    urls += ["/candidates?limit=500", "/reports?limit=500", "/unidentified?limit=500", "/outcomes/follow-ups?within=400",
             "/audit?limit=500", f"/outcomes/new?child={rw.child}", "/documents?kind=kinship",
             f"/unidentified?operation={quote('OP' + ATTR)}"]
    return urls


# ---------------------------------------------------------------------------------------
# 1. permissions and CSRF of every route


def _dependencies(dependant) -> list:
    out = []
    for sub in dependant.dependencies:
        out.append(sub.call)
        out += _dependencies(sub)
    return out


def test_every_route_checks_login_and_every_post_its_csrf_field():
    from reunite.web.pages import checked_form, web_user
    from reunite.web.routes import ROUTERS

    public = {("GET", "/login"), ("POST", "/login"), ("GET", "/language/{lang}")}
    seen = 0
    for router in ROUTERS:
        for route in router.routes:
            calls = _dependencies(route.dependant)
            for method in route.methods:
                seen += 1
                if (method, route.path) in public:
                    continue
                assert any(c is web_user or hasattr(c, "permission") for c in calls), \
                    f"{method} {route.path}: no web_user / page_requires dependency"
                if method not in ("GET", "HEAD"):
                    assert checked_form in calls, f"{method} {route.path}: the form's CSRF field is not checked"
    assert seen > 60


def test_posts_without_the_csrf_field_are_refused(rw):
    client = web_login(rw.world, "inv_butuo")
    for url in ("/logout", "/reports/new", "/account/language", "/inbox/read-all", f"/candidates/{rw.confirmed}/assign"):
        for data in ({}, {"csrf": "forged"}):
            response = client.post(url, data=data)
            assert response.status_code == 403, (url, response.status_code)
    assert client.get("/dashboard").status_code == 200, "still logged in: the forged logout did nothing"
    assert client.get("/logout").status_code == 405, "log out by POST only"


# ---------------------------------------------------------------------------------------
# 2. jurisdiction: names, contacts, circumstances only in their jurisdiction


@pytest.mark.parametrize("username, hidden", [
    ("inv_zhaojue", (BUTUO, LINYI, LANLING)), ("inv_linyi", (BUTUO,)),  # Lanling is in Linyi
    ("welfare_linyi", (BUTUO,)), ("registrar", (BUTUO, LINYI)),
    ("reviewer1", (BUTUO, LINYI, LANLING)), ("analyst", (BUTUO, LINYI, LANLING)),
    ("auditor", (BUTUO, LINYI, LANLING)), ("admin", (BUTUO, LINYI, LANLING))])
def test_no_page_shows_personal_data_outside_the_jurisdiction(rw, username, hidden):
    client = web_login(rw.world, username)
    opened = 0
    for url in page_urls(rw):
        response = client.get(url)
        assert response.status_code < 500, (url, response.text[:1500])
        opened += response.status_code == 200
        for secret in hidden:
            assert secret not in response.text, f"{username} sees {secret} on {url}"
        assert XSS not in response.text and ATTR not in response.text, f"unescaped text on {url}"
    assert opened >= 3


def test_a_name_search_finds_no_report_of_another_jurisdiction(rw):
    rows = re.compile(r'href="/reports/R-[^"]+"')
    assert rows.findall(web_login(rw.world, "inv_butuo").get(f"/reports?text={quote(BUTUO)}").text)
    for username in ("inv_zhaojue", "inv_linyi", "reviewer1"):
        page = web_login(rw.world, username).get(f"/reports?text={quote(BUTUO)}")
        assert page.status_code == 200 and not rows.findall(page.text), username


def test_in_scope_pages_show_names_escaped_and_audit_the_reading(rw):
    client = web_login(rw.world, "inv_butuo")
    before = rw.read(lambda s: s.execute(select(AuditEntry.id).order_by(AuditEntry.id.desc())).scalars().first())
    for url in page_urls(rw):
        response = client.get(url)
        assert response.status_code < 500, (url, response.text[:1500])
        assert XSS not in response.text and ATTR not in response.text, f"unescaped text on {url}"
        assert "<svg onload" not in response.text
    report = rw.read(lambda s: s.execute(select(MissingReport.code)).scalars().first())
    page = client.get(f"/reports/{report}").text
    assert BUTUO in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    actions = rw.read(lambda s: s.execute(select(AuditEntry.action).where(AuditEntry.id > before)).scalars().all())
    assert {"report.read_personal", "operation.read_personal", "candidate.read_personal"} <= set(actions)


def pdf_text(data: bytes, tmp_path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    path = tmp_path / "r.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


def test_pdfs_show_personal_data_only_in_the_jurisdiction(rw, tmp_path):
    for username, hidden in (("inv_linyi", BUTUO), ("inv_butuo", LINYI), ("reviewer1", None)):
        client = web_login(rw.world, username)
        response = client.get(f"/candidates/{rw.confirmed}/report.pdf?lang=en")
        assert response.status_code == 200, response.text[:1000]
        assert response.headers["cache-control"] == "no-store"
        text = pdf_text(response.content, tmp_path)
        for secret in ((hidden,) if hidden else (BUTUO, LINYI)):
            assert secret not in text, f"{username} reads {secret} in the kinship PDF"
    other = web_login(rw.world, "inv_zhaojue").get(f"/candidates/{rw.confirmed}/report.pdf")
    assert other.status_code in (403, 404)
    summary = web_login(rw.world, "inv_linyi").get("/operations/OP-BT-1/summary.pdf")
    assert summary.status_code in (403, 404) or BUTUO not in pdf_text(summary.content, tmp_path)
    marked = web_login(rw.world, "inv_butuo").get(f"/operations/{quote(f'OP{ATTR}', safe='')}/summary.pdf")
    assert marked.status_code == 200, marked.text[:1000]
    assert "<svg" not in marked.headers["content-disposition"] and marked.headers["content-disposition"].count('"') == 2
    assert f"OP{ATTR}" in pdf_text(marked.content, tmp_path)


# ---------------------------------------------------------------------------------------
# 3./4. escaping, redirects, cookies, headers


def test_templates_autoescape():
    from reunite.web.pages import environment

    env = environment()
    assert env.from_string("{{ x }}").render(x=XSS) == "&lt;script&gt;alert(1)&lt;/script&gt;"
    for name in env.list_templates():
        assert env.autoescape(name), f"{name}: not escaped"


def test_svg_drawings_escape_codes_and_names():
    from reunite.reports import charts
    from reunite.reports.pedigree import Person, pedigree_svg

    people = [Person(id=f'FA{ATTR}', sex="M", label=XSS, typed=True),
              Person(id="MO", sex="F", label=ATTR, note=XSS),
              Person(id=f"C{XSS}", sex="M", father=f'FA{ATTR}', mother="MO", missing=True)]
    svg = pedigree_svg(people, title=XSS, description=ATTR)
    assert XSS not in svg and ATTR not in svg and "<svg onload" not in svg
    flows = charts.flows_svg([{"from_code": "1", "to_code": "2", "from_name": XSS, "to_name": ATTR, "count": 3,
                               "years": {}}], title=XSS)
    assert XSS not in flows and "<svg onload" not in flows


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "\\\\evil",
                                    "/%0d%0aSet-Cookie:x=1", " //evil.example", "/\t/evil.example", "javascript:x"])
def test_next_is_a_local_path_only(rw, target):
    from reunite.web.pages import safe_next

    assert not safe_next(target).startswith("//") and "evil" not in safe_next(target).split("/")[0]
    from workflow_world import PASSWORD

    client = web_client(rw.world)
    page = client.get("/login", params={"next": target})
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)
    response = client.post("/login", data={"username": "inv_butuo", "password": PASSWORD,
                                           "login_csrf": token, "next": target})
    assert response.status_code == 303
    logged_in = client.get("/login", params={"next": target})
    switched = client.get("/language/zh_CN", params={"next": target})
    for location in (response.headers["location"], logged_in.headers["location"], switched.headers["location"]):
        assert location.startswith("/") and not location.startswith("//") and "\\" not in location \
            and "\t" not in location and "evil" not in location, location


def test_login_cookies_and_session_fixation(rw):
    from workflow_world import PASSWORD

    client = web_client(rw.world)
    client.cookies.set("reunite_session", "planted-by-an-attacker")
    page = client.get("/login")
    assert page.headers["cache-control"] == "no-store"
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)
    refused = client.post("/login", data={"username": "inv_butuo", "password": PASSWORD, "login_csrf": "x" + token})
    assert refused.status_code == 403
    done = client.post("/login", data={"username": "inv_butuo", "password": PASSWORD, "login_csrf": token})
    assert done.status_code == 303
    cookies = done.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("reunite_session="))
    assert "planted" not in session and "httponly" in session.lower() and "samesite=strict" in session.lower()
    first = session.split(";")[0].split("=", 1)[1]
    again = web_login(rw.world, "inv_butuo")
    assert again.cookies.get("reunite_session") not in (first, None), "a new session token at each login"
    for c in cookies:
        assert "httponly" in c.lower() or "max-age=0" in c.lower(), c


def test_secure_cookies_outside_development(rw):
    from workflow_world import PASSWORD

    app = rw.world.app()
    settings = app.state.settings
    app.state.settings = settings.model_copy(update={"env": "production"})
    try:
        from fastapi.testclient import TestClient

        client = TestClient(app, base_url="https://testserver", follow_redirects=False)
        token = re.search(r'name="login_csrf" value="([^"]+)"', client.get("/login").text).group(1)
        done = client.post("/login", data={"username": "inv_butuo", "password": PASSWORD, "login_csrf": token})
        assert done.status_code == 303
        cookies = [c for c in done.headers.get_list("set-cookie") if "max-age=0" not in c.lower()]
        assert {c.split("=")[0] for c in cookies} >= {"reunite_session", "reunite_csrf"}
        for c in cookies:
            assert "; secure" in c.lower() and "httponly" in c.lower(), c
    finally:
        app.state.settings = settings


def test_logout_ends_the_session(rw):
    client = web_login(rw.world, "inv_butuo")
    raw = client.cookies.get("reunite_session")
    assert post_form(client, "/logout").status_code == 303
    replay = web_client(rw.world)
    replay.cookies.set("reunite_session", raw)
    assert replay.get("/dashboard").headers["location"].startswith("/login")


def test_review_steps_need_the_services_permission(rw):
    from reunite.cases import candidates as service

    before = rw.read(lambda s: service.candidate_detail(s, rw.confirmed, actor=rw.actor("reviewer1"))["status"])
    client = web_login(rw.world, "auditor")  # candidate:read only
    for step, data in (("reject", {"reason": "no"}), ("set-aside", {"reason": "no"}), ("assign", {"to": "reviewer2"})):
        response = post_form(client, f"/candidates/{rw.confirmed}/{step}", data)
        assert response.status_code in (403, 404), (step, response.status_code)
    after = rw.read(lambda s: service.candidate_detail(s, rw.confirmed, actor=rw.actor("reviewer1"))["status"])
    assert before == after == "confirmed"


def test_personal_pages_are_not_cached(rw):
    client = web_login(rw.world, "inv_butuo")
    for url in page_urls(rw)[:40]:
        response = client.get(url)
        if response.status_code == 200:
            assert response.headers.get("cache-control") == "no-store", url


def test_totp_enrolment_page_is_not_cached(rw):
    client = web_login(rw.world, "admin")
    response = post_form(client, "/admin/users/inv_zhaojue/totp")
    assert response.status_code in (200, 303), response.text[:1000]
    if response.status_code == 303:
        response = follow(client, response)
    assert response.headers.get("cache-control") == "no-store"


def test_pdf_file_name_cannot_inject_headers():
    from reunite.reports.pdf import IssuedDocument
    from reunite.web.routes.documents import pdf_response

    doc = IssuedDocument({"id": 7, "sha256": "0"}, b"%PDF", 'a"b\r\nSet-Cookie: x=1;报告.pdf')
    disposition = pdf_response(doc).headers["content-disposition"]
    assert "\r" not in disposition and "\n" not in disposition
    assert disposition.count('"') == 2, disposition


# ---------------------------------------------------------------------------------------
# 5./6. uploads, errors


def test_upload_names_cannot_leave_the_temp_folder(rw, tmp_path, monkeypatch):
    import tempfile

    made = []
    real = tempfile.TemporaryDirectory

    def spy(*args, **kwargs):
        folder = real(*args, **kwargs)
        made.append(folder.name)
        return folder

    monkeypatch.setattr(tempfile, "TemporaryDirectory", spy)
    client = web_login(rw.world, "analyst")
    response = post_form(client, "/imports/upload", {"kind": "genotypes", "lab": "LAB-510000"},
                         files={"file": ("../../../../tmp/evil.csv", b"sample_id,locus,allele1,allele2\n", "text/csv")})
    assert response.status_code < 500 and "../" not in response.text
    assert made and all(not __import__("os").path.exists(p) for p in made), "temp files removed"


def test_oversized_page_upload_is_refused(rw):
    from reunite.api.app import MAX_UPLOAD_BYTES

    client = web_login(rw.world, "analyst")
    response = client.post("/documents/verify", headers={"content-length": str(MAX_UPLOAD_BYTES + 1),
                                                          "content-type": "multipart/form-data; boundary=x"},
                           content=b"--x--")
    assert response.status_code == 413
    for url in ("/login", "/reports/new"):  # pages without a file: a form's limit, before any login
        response = web_client(rw.world).post(url, headers={"content-length": str(2**21),
                                                          "content-type": "multipart/form-data; boundary=x"},
                                             content=b"--x--")
        assert response.status_code == 413, url
        assert response.headers["content-type"].startswith("text/html") and "The file is too large" in response.text
    api = web_client(rw.world).post("/api/v1/auth/login", headers={"content-length": str(2**21),
                                                                   "content-type": "application/json"}, content=b"{}")
    assert api.status_code == 413 and api.json()["error"] == "too_large"  # the API's stays JSON


def test_a_500_on_a_page_is_the_error_page_without_internals(rw, monkeypatch):
    from reunite.cases import statistics

    def boom(*args, **kwargs):
        raise RuntimeError("secret internals /srv/reunite/db.py line 42")

    monkeypatch.setattr(statistics, "dashboard", boom)
    client = web_login(rw.world, "inv_butuo")
    response = client.get("/dashboard")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "secret internals" not in response.text and "Traceback" not in response.text
    assert response.headers.get("cache-control") == "no-store"
