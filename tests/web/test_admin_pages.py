"""Administration and audit pages: users (create, roles, disable, password, second factor,
tokens), jurisdictions and agencies, kits, frequency tables and the genetic model; the audit
log with its filters and the chain check (also after a row is tampered with)."""

import re

import pytest
from sqlalchemy import text

from reunite.security import totp
from reunite.store.db import write_transaction
from web_client import LOGIN_CSRF, follow, post_form, web_client, web_login
from workflow_world import make_world

NEW_PASSWORD = "a long enough new password"


@pytest.fixture(autouse=True)
def _fresh_login_limits():
    """These tests log in often from one address: each starts under the per-minute limit."""
    from reunite.security.login import GUARD

    GUARD.clear()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return make_world(f"sqlite:///{tmp_path_factory.mktemp('web-admin') / 'w.db'}")


def try_login(world, username, password, *, totp_code=None):
    client = web_client(world)
    token = LOGIN_CSRF.search(client.get("/login").text).group(1)
    data = {"username": username, "password": password, "login_csrf": token, "next": "/dashboard"}
    if totp_code:
        data["totp"] = totp_code
    return client, client.post("/login", data=data)


def test_admin_creates_a_user_who_logs_in(world):
    admin = web_login(world, "admin")
    form = admin.get("/admin/users/new")
    assert form.status_code == 200 and 'name="roles"' in form.text and "513429" in form.text
    made = post_form(admin, "/admin/users/new", {
        "username": "inv_new", "display_name": "王小明", "email": "new@example.org", "jurisdiction": "513429",
        "agency": "PSB-513429", "password": NEW_PASSWORD, "roles": ["investigator", "reviewer"]})
    assert made.status_code == 303 and made.headers["location"] == "/admin/users/inv_new"
    page = follow(admin, made)
    assert "User inv_new added." in page.text and "王小明" in page.text and "investigator, reviewer" in page.text
    client, response = try_login(world, "inv_new", NEW_PASSWORD)
    assert response.status_code == 303
    assert client.get("/account").status_code == 200
    # the list shows them; filters narrow it
    listed = admin.get("/admin/users?role=reviewer&jurisdiction=513400&active=1")
    assert listed.status_code == 200 and "inv_new" in listed.text and "inv_zhaojue" not in listed.text
    # errors keep the input and name the field
    bad = post_form(admin, "/admin/users/new", {"username": "inv_new", "jurisdiction": "513429",
                                                "password": NEW_PASSWORD, "roles": ["investigator"]})
    assert bad.status_code == 409 and "already exists" in bad.text and 'value="inv_new"' in bad.text
    short = post_form(admin, "/admin/users/new", {"username": "x_short", "jurisdiction": "513429",
                                                  "password": "short", "roles": ["investigator"]})
    assert short.status_code == 400 and "password" in short.text


def test_roles_edit_disable_and_password_reset(world):
    admin = web_login(world, "admin")
    post_form(admin, "/admin/users/new", {"username": "wel_tmp", "jurisdiction": "371300", "password": NEW_PASSWORD,
                                          "roles": ["welfare"]})
    saved = post_form(admin, "/admin/users/wel_tmp/roles", {"roles": ["welfare", "investigator"]})
    assert saved.status_code == 303 and "investigator, welfare" in follow(admin, saved).text
    none = post_form(admin, "/admin/users/wel_tmp/roles", {})
    assert none.status_code == 400 and "roles: expected one or more" in none.text
    own = post_form(admin, "/admin/users/admin/roles", {"roles": ["auditor"]})
    assert own.status_code == 403 and "own roles" in own.text
    # disable: login refused, sessions ended; enable again
    client, ok = try_login(world, "wel_tmp", NEW_PASSWORD)
    assert ok.status_code == 303
    off = post_form(admin, "/admin/users/wel_tmp/active", {"active": "0"})
    assert off.status_code == 303 and "disabled" in follow(admin, off).text
    assert client.get("/account").status_code == 303  # the session is gone
    assert try_login(world, "wel_tmp", NEW_PASSWORD)[1].status_code == 401
    assert post_form(admin, "/admin/users/wel_tmp/active", {"active": "1"}).status_code == 303
    assert try_login(world, "wel_tmp", NEW_PASSWORD)[1].status_code == 303
    # a password reset
    reset = post_form(admin, "/admin/users/wel_tmp/password", {"password": "another long password"})
    assert reset.status_code == 303
    assert try_login(world, "wel_tmp", NEW_PASSWORD)[1].status_code == 401
    assert try_login(world, "wel_tmp", "another long password")[1].status_code == 303
    # tokens: listed, revoked
    page = admin.get("/admin/users/wel_tmp")
    assert page.status_code == 200 and "/tokens/revoke" in page.text
    assert post_form(admin, "/admin/users/wel_tmp/tokens/revoke").status_code == 303
    assert "No active sessions or tokens." in admin.get("/admin/users/wel_tmp").text


def test_totp_enrolment_shows_the_secret_and_a_qr_code(world):
    admin = web_login(world, "admin")
    post_form(admin, "/admin/users/new", {"username": "two_factor", "jurisdiction": "510000",
                                          "password": NEW_PASSWORD, "roles": ["analyst"]})
    page = post_form(admin, "/admin/users/two_factor/totp")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    secret = re.search(r"<dt>Secret</dt><dd>([A-Z2-7]+)</dd>", page.text).group(1)
    assert "otpauth://totp/" in page.text and "<svg" in page.text and "style=" not in page.text
    assert try_login(world, "two_factor", NEW_PASSWORD)[1].status_code == 401  # the code is needed now
    code = totp.totp(totp.secret_bytes(secret))
    assert try_login(world, "two_factor", NEW_PASSWORD, totp_code=code)[1].status_code == 303
    removed = post_form(admin, "/admin/users/two_factor/totp/remove")
    assert removed.status_code == 303 and "The second factor is removed." in follow(admin, removed).text
    assert try_login(world, "two_factor", NEW_PASSWORD)[1].status_code == 303


def test_non_admins_are_refused(world):
    investigator = web_login(world, "inv_butuo")
    assert investigator.get("/admin").status_code == 403
    assert investigator.get("/admin/users").status_code == 403
    assert post_form(investigator, "/admin/users/new", {"username": "x", "password": "y"}).status_code == 403
    assert investigator.get("/audit").status_code == 403
    auditor = web_login(world, "auditor")  # reads users, changes nothing
    assert auditor.get("/admin/users").status_code == 200
    assert "Add a user" not in auditor.get("/admin/users").text
    assert post_form(auditor, "/admin/users/inv_butuo/active", {"active": "0"}).status_code == 403
    assert post_form(auditor, "/admin/jurisdictions", {"code": "X", "name": "X", "parent": "CN"}).status_code == 403


def test_jurisdictions_and_agencies(world):
    admin = web_login(world, "admin", lang="zh_CN")
    page = admin.get("/admin/jurisdictions")
    assert page.status_code == 200 and "管辖区" in page.text and "布拖县" in page.text and "PSB-513429" in page.text
    added = post_form(admin, "/admin/jurisdictions", {"code": "371302", "name": "Lanshan", "name_zh": "兰山区",
                                                      "parent": "371300"})
    assert added.status_code == 303 and "兰山区" in follow(admin, added).text
    agency = post_form(admin, "/admin/agencies", {"code": "PSB-371302", "name": "Lanshan PSB",
                                                  "jurisdiction": "371302", "kind": "police"})
    assert agency.status_code == 303 and "PSB-371302" in follow(admin, agency).text
    county = post_form(admin, "/admin/jurisdictions", {"code": "X1", "name": "X", "parent": "371324"})
    assert county.status_code == 400 and "371324" in county.text


def test_kits_frequency_tables_and_the_model(world):
    admin = web_login(world, "admin")
    kits = admin.get("/admin/kits")
    assert kits.status_code == 200 and "CHN24" in kits.text and "D6S1043" in kits.text
    tables = admin.get("/admin/frequencies")
    assert tables.status_code == 200 and "CHN_national_GBT37223" in tables.text and "CN_GBT37223_APPD" in tables.text
    one = admin.get("/admin/frequencies/CHN_national_GBT37223")
    assert one.status_code == 200 and "PENTA_D" in one.text
    assert admin.get("/admin/frequencies/NOPE").status_code == 404
    model = admin.get("/admin/model")
    assert model.status_code == 200 and "stepwise" in model.text and "CHN_national_GBT37223" in model.text
    assert "D3S1358" in model.text  # per-locus rates
    zh = web_login(world, "admin", lang="zh_CN").get("/admin/model")
    assert "遗传模型" in zh.text and "逐步" in zh.text


def test_audit_log_lists_filters_and_verifies(world):
    auditor = web_login(world, "auditor")
    page = auditor.get("/audit")
    assert page.status_code == 200 and "user.create" in page.text and "Verify the chain" in page.text
    only = auditor.get("/audit?action=jurisdiction.*")
    assert only.status_code == 200 and "jurisdiction.create" in only.text and "user.create" not in only.text
    by = auditor.get("/audit?actor=bootstrap&since=2000-01-01&until=2999-12-31")
    assert by.status_code == 200 and "bootstrap" in by.text
    assert auditor.get("/audit?since=yesterday").status_code == 400
    ok = auditor.get("/audit/verify")
    assert ok.status_code == 200 and "The audit chain is intact." in ok.text
    zh = web_login(world, "auditor", lang="zh_CN").get("/audit/verify")
    assert "审计日志" in zh.text and "完整" in zh.text


def test_a_tampered_entry_is_reported(tmp_path):
    world = make_world(f"sqlite:///{tmp_path / 'tamper.db'}")
    write_transaction(world.engine, lambda s: s.execute(text(
        "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3")))
    auditor = web_login(world, "auditor")
    page = auditor.get("/audit/verify")
    assert page.status_code == 200 and "BROKEN at entry 3" in page.text and "its MAC does not match" in page.text


def test_a_regional_administrator_sees_only_their_subtree(world):
    from reunite.security.users import bootstrap_actor, create_user
    from workflow_world import PASSWORD

    write_transaction(world.engine, lambda s: create_user(s, actor=bootstrap_actor(), username="admin_linyi",
                                                          password=PASSWORD, roles=["administrator"],
                                                          jurisdiction_code="371300"))
    admin = web_login(world, "admin_linyi")
    listed = admin.get("/admin/users")
    assert listed.status_code == 200 and "welfare_linyi" in listed.text and "inv_butuo" not in listed.text
    assert admin.get("/admin/users/inv_butuo").status_code == 404
    assert post_form(admin, "/admin/users/inv_butuo/active", {"active": "0"}).status_code == 404
    outside = post_form(admin, "/admin/users/new", {"username": "x_butuo", "jurisdiction": "513429",
                                                    "password": "a long enough password", "roles": ["investigator"]})
    assert outside.status_code == 403 and "manages users of" in outside.text
