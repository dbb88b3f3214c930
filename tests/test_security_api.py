"""The API's security: /auth (tokens, cookie sessions with CSRF, lockout 423, rate limit 429),
/users for administrators, /audit for auditors, /jurisdictions, security headers, no CORS."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from workflow_world import PASSWORD, make_world

from reunite.security import login, totp
from reunite.settings import load_settings

API = "/api/v1"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = make_world(f"sqlite:///{tmp_path_factory.mktemp('api') / 'r.db'}")
    w.settings = load_settings(env="development", database_url=w.url, lockout_failures=3, rate_limit_per_minute=1000)
    return w


@pytest.fixture(autouse=True)
def _fresh_guard():
    login.GUARD.clear()
    yield
    login.GUARD.clear()


def token_for(client, username, password=PASSWORD, **extra):
    return client.post(f"{API}/auth/token", json={"username": username, "password": password, **extra})


def test_token_login_and_me(world):
    client = world.client()
    r = token_for(client, "inv_butuo", name="laptop", days=1)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer" and body["roles"] == ["investigator"]
    me = client.get(f"{API}/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.json()["jurisdiction_path"] == "CN/510000/513400/513429/" and "personal:read" in me.json()["permissions"]
    mine = client.get(f"{API}/auth/tokens", headers={"Authorization": f"Bearer {body['token']}"}).json()
    assert any(t["id"] == body["token_id"] and t["current"] and t["name"] == "laptop" for t in mine)


def test_bad_credentials_are_401(world):
    client = world.client()
    for body in ({"username": "inv_butuo", "password": "wrong password!"},
                 {"username": "nobody", "password": "wrong password!"}):
        r = client.post(f"{API}/auth/token", json=body)
        assert r.status_code == 401 and r.json()["error"] == "unauthenticated"
        assert "wrong user name or password" in r.json()["message"]
        assert r.headers["www-authenticate"] == "Bearer"
    assert client.get(f"{API}/auth/me").status_code == 401
    assert client.get(f"{API}/auth/me", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    assert client.get(f"{API}/auth/me", headers={"Authorization": "Basic abc"}).status_code == 401


def test_bad_bodies_are_422(world):
    client = world.client()
    assert client.post(f"{API}/auth/token", json={"username": "a", "password": "b", "role": "admin"}).status_code == 422
    assert client.post(f"{API}/auth/token", json={"username": "a"}).status_code == 422
    assert client.post(f"{API}/auth/token", json={"username": "a" * 65, "password": "b"}).status_code == 422
    assert client.post(f"{API}/auth/token", json={"username": "a", "password": "b", "days": 0}).status_code == 422
    assert client.post(f"{API}/auth/token", content=b"not json",
                       headers={"content-type": "application/json"}).status_code == 422


def test_lockout_is_423(world):
    client = world.client()
    for _ in range(2):
        assert token_for(client, "inv_zhaojue", "wrong password!").status_code == 401
    r = token_for(client, "inv_zhaojue", "wrong password!")
    assert r.status_code == 423 and r.json()["error"] == "locked" and "locked" in r.json()["message"]
    assert token_for(client, "inv_zhaojue").status_code == 423
    admin = world.client("admin")
    assert admin.patch(f"{API}/users/inv_zhaojue", json={"active": True}).status_code == 200  # no change: no unlock
    admin.patch(f"{API}/users/inv_zhaojue", json={"active": False})
    admin.patch(f"{API}/users/inv_zhaojue", json={"active": True})
    assert token_for(client, "inv_zhaojue").status_code == 200


def test_rate_limit_is_429(world):
    limited = load_settings(env="development", database_url=world.url, rate_limit_per_minute=3)
    from reunite.api.app import create_app

    client = TestClient(create_app(settings=limited, engine=world.engine), raise_server_exceptions=False)
    codes = [token_for(client, "analyst", "wrong password!").status_code for _ in range(5)]
    assert codes == [401, 401, 401, 429, 429]
    r = token_for(client, "analyst")
    assert r.status_code == 429 and r.json()["error"] == "rate_limited" and r.headers["retry-after"] == "60"


def test_cookie_session_needs_csrf(world):
    client = world.client()
    r = client.post(f"{API}/auth/login", json={"username": "admin", "password": PASSWORD})
    assert r.status_code == 200
    cookie = r.headers["set-cookie"]
    assert "reunite_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie  # development over http
    csrf = r.json()["csrf_token"]
    assert client.get(f"{API}/users").status_code == 200  # reading needs no CSRF token
    body = {"username": "newbie", "password": PASSWORD, "roles": ["analyst"], "jurisdiction": "CN"}
    no = client.post(f"{API}/users", json=body)
    assert no.status_code == 403 and "X-CSRF-Token" in no.json()["message"]
    wrong = client.post(f"{API}/users", json=body, headers={"X-CSRF-Token": "forged"})
    assert wrong.status_code == 403
    ok = client.post(f"{API}/users", json=body, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201, ok.text
    assert client.post(f"{API}/auth/logout").status_code == 403  # logout changes something too
    assert client.post(f"{API}/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    client.cookies.set("reunite_session", cookie.split("reunite_session=")[1].split(";")[0])
    assert client.get(f"{API}/users").status_code == 401  # the session was revoked


def test_bearer_needs_no_csrf(world):
    admin = world.client("admin")
    r = admin.post(f"{API}/users", json={"username": "bearer_made", "password": PASSWORD, "roles": ["welfare"],
                                         "jurisdiction": "371300", "agency": "WEL-371300"})
    assert r.status_code == 201 and r.json()["agency"] == "WEL-371300"


def test_production_cookie_is_secure_and_hsts(tmp_path):
    from reunite.api.app import create_app

    world = make_world(f"sqlite:///{tmp_path / 'prod.db'}")  # its own database: another audit key signs there
    prod = load_settings(env="production", database_url=world.url, secret_key="s" * 40, audit_key="a" * 40)
    client = TestClient(create_app(settings=prod, engine=world.engine), base_url="https://testserver",
                        raise_server_exceptions=False)
    r = client.post(f"{API}/auth/login", json={"username": "analyst", "password": PASSWORD})
    assert r.status_code == 200 and "Secure" in r.headers["set-cookie"]
    assert r.headers["strict-transport-security"].startswith("max-age=")
    denied = client.post(f"{API}/auth/token", json={"username": "admin", "password": PASSWORD})
    assert denied.status_code == 401 and "reunite user totp admin" in denied.json()["message"]


def test_security_headers_and_no_cors(world):
    client = world.client("analyst")
    r = client.get(f"{API}/auth/me", headers={"Origin": "https://evil.example"})
    assert r.status_code == 200
    for name in ("x-content-type-options", "x-frame-options", "referrer-policy", "content-security-policy",
                 "cache-control"):
        assert name in r.headers
    assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"
    assert not any(h.startswith("access-control-") for h in r.headers)
    pre = client.options(f"{API}/auth/token", headers={"Origin": "https://evil.example",
                                                       "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in pre.headers
    assert "strict-transport-security" not in r.headers  # development


def test_token_revocation_and_logout(world):
    client = world.client()
    raw = token_for(client, "welfare_linyi").json()
    headers = {"Authorization": f"Bearer {raw['token']}"}
    other = token_for(client, "welfare_linyi").json()
    assert client.delete(f"{API}/auth/tokens/{other['token_id']}", headers=headers).status_code == 204
    assert client.get(f"{API}/auth/me", headers={"Authorization": f"Bearer {other['token']}"}).status_code == 401
    someone = token_for(client, "analyst").json()
    assert client.delete(f"{API}/auth/tokens/{someone['token_id']}", headers=headers).status_code == 404
    assert client.delete(f"{API}/auth/tokens/0", headers=headers).status_code == 422
    assert client.delete(f"{API}/auth/tokens/99999999999", headers=headers).status_code == 422
    assert client.post(f"{API}/auth/logout", headers=headers).status_code == 204
    r = client.get(f"{API}/auth/me", headers=headers)
    assert r.status_code == 401 and "revoked" in r.json()["message"]


def test_expired_token_is_401(world):
    from datetime import datetime, timezone

    from sqlalchemy import update

    from reunite.store.db import write_transaction
    from reunite.store.models_workflow import AuthToken

    client = world.client()
    raw = token_for(client, "registrar").json()
    write_transaction(world.engine, lambda s: s.execute(update(AuthToken).where(AuthToken.id == raw["token_id"])
                                                        .values(expires_at=datetime.now(timezone.utc)
                                                                - timedelta(minutes=1))))
    r = client.get(f"{API}/auth/me", headers={"Authorization": f"Bearer {raw['token']}"})
    assert r.status_code == 401 and "expired" in r.json()["message"]


def test_disabled_user_tokens_stop_working(world):
    admin = world.client("admin")
    client = world.client()
    raw = token_for(client, "reviewer2").json()
    headers = {"Authorization": f"Bearer {raw['token']}"}
    assert client.get(f"{API}/auth/me", headers=headers).status_code == 200
    r = admin.patch(f"{API}/users/reviewer2", json={"active": False})
    assert r.status_code == 200 and r.json()["active"] is False
    assert client.get(f"{API}/auth/me", headers=headers).status_code == 401
    assert token_for(client, "reviewer2").status_code == 401
    admin.patch(f"{API}/users/reviewer2", json={"active": True})
    assert token_for(client, "reviewer2").status_code == 200


def test_users_admin_routes(world):
    admin, auditor, analyst = world.client("admin"), world.client("auditor"), world.client("analyst")
    assert analyst.get(f"{API}/users").status_code == 403
    assert auditor.get(f"{API}/users").status_code == 200  # auditors read users
    assert auditor.post(f"{API}/users", json={"username": "x1", "password": PASSWORD, "roles": ["analyst"],
                                              "jurisdiction": "CN"}).status_code == 403
    page = admin.get(f"{API}/users", params={"limit": 3}).json()
    assert len(page["items"]) == 3 and page["next_cursor"]
    assert "password_hash" not in page["items"][0] and "totp_secret" not in page["items"][0]
    more = admin.get(f"{API}/users", params={"limit": 3, "cursor": page["next_cursor"]}).json()
    assert {u["username"] for u in page["items"]}.isdisjoint(u["username"] for u in more["items"])
    only = admin.get(f"{API}/users", params={"role": "investigator", "jurisdiction": "510000"}).json()["items"]
    assert {u["username"] for u in only} == {"inv_butuo", "inv_zhaojue"}
    assert admin.get(f"{API}/users", params={"role": "king"}).status_code == 422
    assert admin.get(f"{API}/users", params={"limit": 0}).status_code == 422
    assert admin.get(f"{API}/users", params={"cursor": "zzz"}).status_code == 400
    assert admin.get(f"{API}/users/nobody").status_code == 404
    r = admin.patch(f"{API}/users/analyst", json={"roles": ["analyst", "auditor"], "display_name": "Ann"})
    assert r.status_code == 200 and r.json()["roles"] == ["analyst", "auditor"] and r.json()["display_name"] == "Ann"
    assert admin.patch(f"{API}/users/analyst", json={"roles": []}).status_code == 422
    assert admin.patch(f"{API}/users/analyst", json={"password": "x"}).status_code == 422
    admin.patch(f"{API}/users/analyst", json={"roles": ["analyst"]})
    weak = admin.post(f"{API}/users/analyst/password", json={"password": "short"})
    assert weak.status_code == 400 and weak.json()["field"] == "password"
    old = world.client("analyst")
    assert admin.post(f"{API}/users/analyst/password", json={"password": "a fresh passphrase!"}).status_code == 200
    assert old.get(f"{API}/auth/me").status_code == 401  # reset revokes tokens
    world._tokens.pop("analyst", None)
    assert token_for(world.client(), "analyst", "a fresh passphrase!").status_code == 200
    enrol = admin.post(f"{API}/users/analyst/totp")
    assert enrol.status_code == 200 and enrol.json()["uri"].startswith("otpauth://totp/reunite:analyst?")
    secret = enrol.json()["secret"]
    assert token_for(world.client(), "analyst", "a fresh passphrase!").status_code == 401
    code = totp.totp(totp.secret_bytes(secret))
    assert token_for(world.client(), "analyst", "a fresh passphrase!", totp=code).status_code == 200
    assert admin.delete(f"{API}/users/analyst/totp").json()["totp"] is False
    r = admin.post(f"{API}/users/analyst/revoke-tokens")
    assert r.status_code == 200 and r.json()["revoked"] >= 1
    assert admin.post(f"{API}/users/analyst/password", json={"password": PASSWORD}).status_code == 200


def test_change_own_password(world):
    client = world.client()
    raw = token_for(client, "inv_linyi").json()
    headers = {"Authorization": f"Bearer {raw['token']}"}
    other = token_for(client, "inv_linyi").json()
    bad = client.post(f"{API}/auth/password", json={"old_password": "nope", "new_password": "x" * 20},
                      headers=headers)
    assert bad.status_code == 403 and bad.json()["field"] == "old_password"
    ok = client.post(f"{API}/auth/password", json={"old_password": PASSWORD, "new_password": "brand new passphrase"},
                     headers=headers)
    assert ok.status_code == 204
    assert client.get(f"{API}/auth/me", headers=headers).status_code == 200  # the token in use is kept
    assert client.get(f"{API}/auth/me", headers={"Authorization": f"Bearer {other['token']}"}).status_code == 401
    client.post(f"{API}/auth/password", json={"old_password": "brand new passphrase", "new_password": PASSWORD},
                headers=headers)


def test_audit_routes(world):
    auditor, admin = world.client("auditor"), world.client("admin")
    assert admin.get(f"{API}/audit").status_code == 403
    assert admin.get(f"{API}/audit/verify").status_code == 403
    page = auditor.get(f"{API}/audit", params={"limit": 5}).json()
    assert len(page["items"]) == 5 and page["next_cursor"]
    seqs = [e["seq"] for e in page["items"]]
    assert seqs == sorted(seqs, reverse=True)
    nxt = auditor.get(f"{API}/audit", params={"limit": 5, "cursor": page["next_cursor"]}).json()
    assert nxt["items"][0]["seq"] == seqs[-1] - 1
    created = auditor.get(f"{API}/audit", params={"action": "user.create", "order": "oldest"}).json()["items"]
    assert created[0]["seq"] == min(e["seq"] for e in created) and created[0]["actor"] == "bootstrap"
    mine = auditor.get(f"{API}/audit", params={"by": "bootstrap", "entity": "user", "entity_id": "admin"}).json()
    assert [e["action"] for e in mine["items"]] == ["user.create"]
    assert auditor.get(f"{API}/audit", params={"since": "2000-01-01", "until": "2999-12-31",
                                               "limit": 1}).status_code == 200
    assert auditor.get(f"{API}/audit", params={"since": "yesterday"}).status_code == 422
    assert auditor.get(f"{API}/audit", params={"order": "random"}).status_code == 422
    v = auditor.get(f"{API}/audit/verify").json()
    assert v["ok"] is True and v["message"].startswith("audit chain intact")
    head = auditor.get(f"{API}/audit/head").json()
    assert head["head"] == f"{head['seq']}:{head['mac']}"
    assert auditor.get(f"{API}/audit/verify", params={"expect_head": head["head"]}).json()["ok"] is True
    bad = auditor.get(f"{API}/audit/verify", params={"expect_head": "12:zz"})
    assert bad.status_code == 400 and bad.json()["field"] == "expect_head"


def test_jurisdictions_and_agencies(world):
    analyst, admin = world.client("analyst"), world.client("admin")
    tree = analyst.get(f"{API}/jurisdictions").json()
    assert tree[0]["code"] == "CN" and tree[0]["depth"] == 0
    butuo = next(j for j in tree if j["code"] == "513429")
    assert butuo["parent"] == "513400" and butuo["depth"] == 3 and butuo["name_zh"] == "布拖县"
    assert world.client().get(f"{API}/jurisdictions").status_code == 401
    body = {"code": "371302", "name": "Lanshan", "parent": "371300", "name_zh": "兰山区"}
    assert analyst.post(f"{API}/jurisdictions", json=body).status_code == 403
    r = admin.post(f"{API}/jurisdictions", json=body)
    assert r.status_code == 201 and r.json()["level"] == "county" and r.json()["parent"] == "371300"
    assert admin.post(f"{API}/jurisdictions", json=body).status_code == 409
    assert admin.post(f"{API}/jurisdictions", json={**body, "code": "X", "parent": "371302"}).status_code == 400
    agencies = analyst.get(f"{API}/agencies", params={"jurisdiction": "510000"}).json()
    assert {a["code"] for a in agencies} == {"PSB-513429", "PSB-513431", "LAB-510000"}
    r = admin.post(f"{API}/agencies", json={"code": "PSB-371302", "name": "Lanshan PSB", "jurisdiction": "371302",
                                            "kind": "police"})
    assert r.status_code == 201
    assert admin.post(f"{API}/agencies", json={"code": "Y", "name": "Y", "jurisdiction": "CN",
                                               "kind": "spy"}).status_code == 422
    assert analyst.get(f"{API}/agencies", params={"jurisdiction": "nowhere"}).status_code == 404


def test_every_security_route_declares_a_permission():
    """Each route here uses requires(...) or authenticated (the lead's matrix test reads them).
    (FastAPI 0.165 keeps included routers whole in app.routes: read the routers themselves.)"""
    from fastapi.routing import APIRoute

    from reunite.api.routers import ROUTERS

    public = {"/auth/token", "/auth/login"}
    checked = 0
    for router in ROUTERS:
        for route in router.routes:
            if not isinstance(route, APIRoute) or not route.path.startswith(
                    ("/auth", "/users", "/audit", "/jurisdictions", "/agencies")):
                continue
            declared = [d.call for d in route.dependant.dependencies if hasattr(d.call, "permission")]
            assert declared or route.path in public, route.path
            checked += 1
    assert checked >= 20


def test_an_app_signs_the_audit_chain_with_its_own_key(tmp_path):
    """A server created with settings of its own (not the environment's) signs what it writes
    to the audit chain with its own audit key."""
    from fastapi.testclient import TestClient
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from reunite.api.app import create_app
    from reunite.audit.chain import canonical, compute_mac
    from reunite.settings import load_settings
    from reunite.store.models_workflow import AuditEntry
    from workflow_world import make_world

    world = make_world(f"sqlite:///{tmp_path / 'own-key.db'}")
    own = load_settings(env="development", audit_key="an-audit-key-of-this-server-only-0123456789")
    client = TestClient(create_app(settings=own, engine=world.engine), raise_server_exceptions=False)
    r = client.post("/api/v1/auth/token", json={"username": "auditor", "password": "correct horse battery staple"})
    assert r.status_code == 200, r.text
    with Session(world.engine) as s:
        login = s.execute(select(AuditEntry).where(AuditEntry.action == "user.login")).scalars().one()
    text = canonical(seq=login.seq, at=login.at, actor=login.actor, address=login.address, action=login.action,
                     entity=login.entity, entity_id=login.entity_id, details=login.details)
    assert compute_mac(own.audit_key.encode(), login.prev_mac, text) == login.mac
