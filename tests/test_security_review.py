"""A security review of logins, tokens, user administration, the audit log and API hygiene:
each test is an attack (or an edge) that must fail safely."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow_world import PASSWORD, make_world

from reunite.errors import NotFound, PermissionDenied, ReuniteError
from reunite.security import login, tokens
from reunite.security import users as users_service
from reunite.settings import SettingsError, load_settings
from reunite.store.db import write_transaction
from reunite.store.models_workflow import AuditEntry, User

API = "/api/v1"
PRODUCTION = load_settings(env="production", secret_key="k3y-" + "s7Qx" * 10, audit_key="aud-" + "Zp9w" * 10,
                           lockout_failures=3, rate_limit_per_minute=1000)
DEVELOPMENT = load_settings(env="development", lockout_failures=3, rate_limit_per_minute=1000)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = make_world(f"sqlite:///{tmp_path_factory.mktemp('review') / 'r.db'}")
    w.settings = load_settings(env="development", database_url=w.url, lockout_failures=3,
                               rate_limit_per_minute=1000)
    admin = w.actor("admin")
    for name, roles, where in (("admin_butuo", ["administrator"], "513429"), ("clerk_butuo", ["analyst"], "513429"),
                               ("rev_notp", ["reviewer"], "CN")):
        w.user_ids[name] = write_transaction(w.engine, lambda s: users_service.create_user(
            s, actor=admin, username=name, password=PASSWORD, roles=roles, jurisdiction_code=where).id)
    return w


@pytest.fixture(autouse=True)
def _fresh_guard():
    login.GUARD.clear()
    yield
    login.GUARD.clear()


def run(world, work):
    return write_transaction(world.engine, work)


# ---------------------------------------------------------------------------------------------
# tokens without a password: scope and second factor


def test_county_admin_cannot_mint_a_token_for_a_national_admin(world):
    county = world.actor("admin_butuo")
    with pytest.raises((NotFound, PermissionDenied)):
        run(world, lambda s: login.issue_api_token(s, actor=county, settings=DEVELOPMENT, username="admin"))
    done = run(world, lambda s: login.issue_api_token(s, actor=county, settings=DEVELOPMENT,
                                                      username="clerk_butuo"))
    assert done.actor.username == "clerk_butuo"


def test_no_token_for_a_role_that_needs_totp_without_it(world):
    own = world.actor("rev_notp")
    with pytest.raises(ReuniteError, match="totp"):
        run(world, lambda s: login.issue_api_token(s, actor=own, settings=PRODUCTION))
    admin = world.actor("admin")
    with pytest.raises(ReuniteError, match="totp"):
        run(world, lambda s: login.issue_api_token(s, actor=admin, settings=PRODUCTION, username="rev_notp"))


def test_existing_token_stops_when_its_role_needs_totp(world):
    from fastapi.testclient import TestClient

    from reunite.api.app import create_app

    prod = load_settings(env="production", database_url=world.url, secret_key=PRODUCTION.secret_key,
                         audit_key=PRODUCTION.audit_key)
    client = TestClient(create_app(settings=prod, engine=world.engine), raise_server_exceptions=False)
    raw = world.new_token("rev_notp")  # issued in development, or before the role was granted
    r = client.get(f"{API}/auth/me", headers={"Authorization": f"Bearer {raw}"})
    assert r.status_code == 401 and "totp" in r.json()["message"]
    ok = client.get(f"{API}/auth/me", headers={"Authorization": f"Bearer {world.new_token('analyst')}"})
    assert ok.status_code == 200


def test_tokens_of_others_need_scope(world):
    county = world.actor("admin_butuo")
    national_token = run(world, lambda s: tokens.issue(s, s.get(User, world.user_ids["admin"]), kind="api",
                                                        lifetime=__import__("datetime").timedelta(days=1))[2].id)
    with pytest.raises((NotFound, PermissionDenied)):
        run(world, lambda s: login.revoke_token(s, actor=county, token_id=national_token))
    with pytest.raises((NotFound, PermissionDenied)):
        run(world, lambda s: login.list_tokens(s, actor=county, username="admin"))
    auditor = world.actor("inv_butuo")
    with pytest.raises((NotFound, PermissionDenied)):
        run(world, lambda s: login.revoke_token(s, actor=auditor, token_id=national_token))


def test_revoking_another_users_token_through_the_api_is_404(world):
    client = world.client("inv_butuo")
    other = run(world, lambda s: tokens.issue(s, s.get(User, world.user_ids["inv_zhaojue"]), kind="api",
                                               lifetime=__import__("datetime").timedelta(days=1))[2].id)
    r = client.delete(f"{API}/auth/tokens/{other}")
    assert r.status_code == 404
    with Session(world.engine) as s:
        assert s.get(tokens.AuthToken, other).revoked_at is None


# ---------------------------------------------------------------------------------------------
# roles


def test_no_one_changes_their_own_roles(world):
    admin = world.actor("admin")
    with pytest.raises(PermissionDenied, match="own"):
        run(world, lambda s: users_service.set_roles(s, actor=admin, username="admin",
                                                     roles=["administrator", "auditor"]))
    r = world.client("admin").patch(f"{API}/users/admin", json={"roles": ["administrator", "auditor"]})
    assert r.status_code == 403


def test_county_admin_cannot_create_or_promote_outside_the_county(world):
    county = world.actor("admin_butuo")
    with pytest.raises(PermissionDenied):
        run(world, lambda s: users_service.create_user(s, actor=county, username="natl", password=PASSWORD,
                                                       roles=["analyst"], jurisdiction_code="CN"))
    with pytest.raises(NotFound):
        run(world, lambda s: users_service.set_roles(s, actor=county, username="analyst", roles=["administrator"]))


def test_own_second_factor_is_not_removed_by_oneself(world):
    admin = world.actor("admin")
    with pytest.raises(PermissionDenied, match="own"):
        run(world, lambda s: users_service.remove_totp(s, actor=admin, username="admin"))


# ---------------------------------------------------------------------------------------------
# logins


def test_forwarded_for_is_ignored_unless_behind_a_proxy_and_then_the_proxys_entry_counts(world):
    from fastapi.testclient import TestClient

    from reunite.api.app import create_app

    def addresses(behind_proxy):
        settings = load_settings(env="development", database_url=world.url, behind_proxy=behind_proxy)
        app = create_app(settings=settings, engine=world.engine)
        client = TestClient(app, raise_server_exceptions=False)
        client.post(f"{API}/auth/token", json={"username": "nobody", "password": "x" * 12},
                    headers={"X-Forwarded-For": "6.6.6.6, 10.0.0.7"})
        with Session(world.engine) as s:
            return s.execute(select(AuditEntry.address).order_by(AuditEntry.seq.desc()).limit(1)).scalar_one()

    assert addresses(False) == "testclient"
    assert addresses(True) == "10.0.0.7"  # what the proxy saw; the client wrote the rest


def test_a_password_typed_as_user_name_is_not_kept(world):
    with pytest.raises(login.LoginRefused):
        login.login_transaction(world.engine, lambda s: login.authenticate(
            s, username="Tr0ub4dor&3 secret!", password="x", settings=DEVELOPMENT))
    with Session(world.engine) as s:
        last = s.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).scalar_one()
    assert "Tr0ub4dor" not in (last.entity_id or "") and "Tr0ub4dor" not in last.details
    assert "tr0ub4dor" not in (last.entity_id or "") and "tr0ub4dor" not in last.details


def test_case_and_lookalike_names_share_or_miss_the_lockout(world):
    for name in ("CLERK_BUTUO", " clerk_butuo ", "Clerk_Butuo"):
        with pytest.raises(login.LoginRefused):
            login.login_transaction(world.engine, lambda s: login.authenticate(
                s, username=name, password="wrong password!", settings=DEVELOPMENT))
    with Session(world.engine) as s:
        assert s.get(User, world.user_ids["clerk_butuo"]).locked_until is not None
    with pytest.raises(login.LoginRefused, match="wrong user name"):  # a fullwidth look-alike is no user
        login.login_transaction(world.engine, lambda s: login.authenticate(
            s, username="ｃｌｅｒｋ_ｂｕｔｕｏ", password=PASSWORD, settings=DEVELOPMENT))
    run(world, lambda s: users_service.set_active(s, actor=world.actor("admin"), username="clerk_butuo",
                                                  active=True))


def test_session_cookie_is_not_a_bearer_token_and_back(world):
    client = world.client()
    r = client.post(f"{API}/auth/login", json={"username": "analyst", "password": PASSWORD})
    cookie = r.cookies.get("reunite_session") or client.cookies.get("reunite_session")
    client.cookies.clear()
    assert client.get(f"{API}/auth/me", headers={"Authorization": f"Bearer {cookie}"}).status_code == 401
    bearer = world.new_token("analyst")
    client.cookies.set("reunite_session", bearer)
    assert client.get(f"{API}/auth/me").status_code == 401


# ---------------------------------------------------------------------------------------------
# API hygiene


def test_wrong_content_type_and_formless_login_are_refused(world):
    client = world.client()
    body = json.dumps({"username": "analyst", "password": PASSWORD})
    for headers in ({"Content-Type": "text/plain"}, {"Content-Type": "application/x-www-form-urlencoded"}, {}):
        r = client.post(f"{API}/auth/login", content=body, headers=headers)
        assert r.status_code == 415, (headers, r.status_code, r.text)
        assert r.json()["error"] == "unsupported_media_type"
        assert "set-cookie" not in r.headers


def test_huge_bodies_are_413(world):
    client = world.client()
    big = b'{"username": "analyst", "password": "' + b"x" * (2 * 2**20) + b'"}'
    r = client.post(f"{API}/auth/token", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    assert r.headers["x-content-type-options"] == "nosniff"


def test_malformed_json_is_422(world):
    r = world.client().post(f"{API}/auth/token", content=b'{"username": ', headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and set(r.json()) >= {"error", "message", "field"}


def test_security_headers_on_errors(world):
    client = world.client()
    for r in (client.get(f"{API}/no/such/path"), client.get(f"{API}/nothing"), client.get(f"{API}/auth/me")):
        assert r.headers["x-content-type-options"] == "nosniff", r.status_code
        assert "content-security-policy" in r.headers
        assert set(r.json()) >= {"error", "message", "field"}
    page = client.get("/nothing")  # outside the API: an error page, with the same headers
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert page.headers["x-content-type-options"] == "nosniff" and "content-security-policy" in page.headers
    assert client.get(f"{API}/auth/me").headers["www-authenticate"] == "Bearer"


def test_unexpected_errors_carry_security_headers(world, monkeypatch):
    from reunite.api.routers import auth

    def boom(**kw):
        raise RuntimeError("secret detail")

    monkeypatch.setattr(auth, "MeOut", boom)
    r = world.client("analyst").get(f"{API}/auth/me")
    assert r.status_code == 500 and r.json()["error"] == "internal" and "secret" not in r.text
    assert r.headers["x-content-type-options"] == "nosniff" and "content-security-policy" in r.headers


def test_docs_are_served_from_the_package_without_a_cdn(world):
    client = world.client()
    page = client.get(f"{API}/docs")
    assert page.status_code == 200 and "cdn" not in page.text.lower() and "<script>" not in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    import re

    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets
    for asset in assets:
        assert asset.startswith(f"{API}/docs/"), asset
        r = client.get(asset)
        assert r.status_code == 200, asset
        assert len(r.content) > 10


# ---------------------------------------------------------------------------------------------
# settings and the audit log


def test_unknown_env_names_the_variable(monkeypatch):
    monkeypatch.setenv("REUNITE_ENV", "prod")
    with pytest.raises(SettingsError, match="REUNITE_ENV") as caught:
        load_settings()
    assert "development" in str(caught.value) and "production" in str(caught.value)


def test_verify_with_a_wrong_key_says_so(world):
    from reunite.audit.service import verify_chain

    with Session(world.engine) as s:  # closed at once: an open reader would hold up later writers
        result = verify_chain(s, actor=world.actor("auditor"), key="not-the-key")
    assert not result.ok and result.broken_seq == 1 and "REUNITE_AUDIT_KEY" in result.describe()


def test_verify_an_empty_log(tmp_path):
    from reunite.audit.chain import verify
    from reunite.store import db

    engine = db.make_engine(f"sqlite:///{tmp_path / 'e.db'}")
    db.upgrade(engine)
    with Session(engine) as s:
        result = verify(s, key="k")
    assert result.ok and result.checked == 0 and "0 entries" in result.describe()


def test_cli_verify_with_a_wrong_key_and_on_an_empty_log(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from reunite.cli import app
    from reunite.settings import get_settings

    url = f"sqlite:///{tmp_path / 'k.db'}"
    make_world(url)
    monkeypatch.setenv("REUNITE_DATABASE_URL", url)
    monkeypatch.setenv("REUNITE_AUDIT_KEY", "a different audit key than the one it was written with")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["audit", "verify", "--as", "auditor"])
    finally:
        monkeypatch.delenv("REUNITE_AUDIT_KEY")
        get_settings.cache_clear()
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "BROKEN at entry 1" in result.output and "REUNITE_AUDIT_KEY" in result.output


def test_chunked_huge_body_is_413(world):
    def chunks():
        for _ in range(3):
            yield b"x" * 2**20

    r = world.client().post(f"{API}/auth/token", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "too_large"


def test_parallel_failed_logins_all_count(db_url):
    """Failed logins racing on one account each count (the row is locked while counting), and
    the audit chain stays one chain."""
    from concurrent.futures import ThreadPoolExecutor

    from reunite.audit.chain import verify
    from reunite.settings import get_settings

    w = make_world(db_url, users=[("admin", ["administrator"], "CN", None), ("ana", ["analyst"], "CN", None)])
    settings = load_settings(env="development", lockout_failures=100, rate_limit_per_minute=1000)

    def attempt(_):
        try:
            login.login_transaction(w.engine, lambda s: login.authenticate(
                s, username="ana", password="wrong password!", settings=settings, address="10.1.1.1"))
        except login.LoginRefused:
            return True
        return False

    n = 8
    with ThreadPoolExecutor(max_workers=n) as pool:
        assert all(pool.map(attempt, range(n)))
    with Session(w.engine) as s:
        assert s.execute(select(User.failed_logins).where(User.username == "ana")).scalar_one() == n
        failed = s.execute(select(AuditEntry).where(AuditEntry.action == "user.login_failed")).scalars().all()
        assert len(failed) == n and all(e.address == "10.1.1.1" for e in failed)
        assert verify(s, key=get_settings().audit_key).ok


def test_an_unknown_name_locks_like_a_known_one(world):
    """Lockout must not tell which accounts exist: an unknown name 'locks' after as many failures."""
    def refusal(name):
        try:
            login.login_transaction(world.engine, lambda s: login.authenticate(
                s, username=name, password="wrong password!", settings=DEVELOPMENT, address=None))
        except login.LoginRefused as exc:
            return type(exc).__name__, re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d", "TIME", str(exc).replace(name, "NAME"))
        raise AssertionError("accepted")

    known = [refusal("welfare_linyi") for _ in range(4)]
    unknown = [refusal("no_such_person") for _ in range(4)]
    assert [k[0] for k in known] == [u[0] for u in unknown] == ["LoginRefused", "LoginRefused", "AccountLocked",
                                                                 "AccountLocked"]
    assert [k[1] for k in known] == [u[1] for u in unknown]
    run(world, lambda s: users_service.set_active(s, actor=world.actor("admin"), username="welfare_linyi",
                                                  active=True))


@pytest.mark.parametrize("origins", [["*"], ["https://a.example", "null"]])
def test_cors_open_to_every_site_is_refused(origins):
    with pytest.raises(SettingsError, match="REUNITE_CORS_ORIGINS"):
        load_settings(env="development", cors_origins=origins)
