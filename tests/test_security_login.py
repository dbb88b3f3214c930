"""Logging in (password, lockout, rate limit, TOTP), tokens, and user administration, through
the services and the 'reunite user' commands."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from workflow_world import PASSWORD, make_world

from reunite.errors import AuthenticationError, Conflict, NotFound, PermissionDenied, ReuniteError
from reunite.security import login, tokens, totp
from reunite.security import users as users_service
from reunite.settings import load_settings
from reunite.store.db import write_transaction
from reunite.store.models_workflow import AuditEntry, AuthToken, User

# ---------------------------------------------------------------------------------------------
# TOTP: RFC 6238 appendix B (SHA-1, 8 digits, key "12345678901234567890")

RFC_KEY = b"12345678901234567890"
RFC_VECTORS = [(59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"), (1234567890, "89005924"),
               (2000000000, "69279037"), (20000000000, "65353130")]


@pytest.mark.parametrize("at, code", RFC_VECTORS)
def test_totp_rfc6238_vectors(at, code):
    assert totp.totp(RFC_KEY, at, digits=8) == code
    assert totp.totp(RFC_KEY, at) == code[-6:]  # 6 digits: the same value mod 10^6


def test_hotp_rfc4226_vectors():
    expected = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"]
    assert [totp.hotp(RFC_KEY, i) for i in range(10)] == expected


def test_totp_window_and_uri():
    secret = totp.new_secret()
    assert len(secret) == 32 and totp.secret_bytes(secret.lower()) == totp.secret_bytes(secret)
    key = totp.secret_bytes(secret)
    now = 1_700_000_000
    assert totp.matching_step(secret, totp.totp(key, now), at=now) == now // 30
    assert totp.matching_step(secret, totp.totp(key, now - 30), at=now) == now // 30 - 1
    assert totp.matching_step(secret, totp.totp(key, now + 30), at=now) == now // 30 + 1
    assert totp.matching_step(secret, totp.totp(key, now - 90), at=now) is None
    assert totp.matching_step(secret, "12345", at=now) is None
    assert totp.matching_step(secret, "abcdef", at=now) is None
    uri = totp.provisioning_uri(secret, "reviewer1")
    assert uri.startswith("otpauth://totp/reunite:reviewer1?") and f"secret={secret}" in uri and "period=30" in uri
    with pytest.raises(ReuniteError, match="totp_secret"):
        totp.secret_bytes("not base32 !!")


# ---------------------------------------------------------------------------------------------
# login


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return make_world(f"sqlite:///{tmp_path_factory.mktemp('login') / 'r.db'}")


@pytest.fixture(autouse=True)
def _fresh_guard():
    login.GUARD.clear()
    yield
    login.GUARD.clear()


SETTINGS = load_settings(env="development", lockout_failures=3, lockout_minutes=10, rate_limit_per_minute=1000)
PRODUCTION = load_settings(env="production", secret_key="s" * 40, audit_key="a" * 40, lockout_failures=3,
                           rate_limit_per_minute=1000)


def attempt(world, username, password=PASSWORD, *, settings=SETTINGS, **kw):
    return login.login_transaction(world.engine, lambda s: login.authenticate(
        s, username=username, password=password, settings=settings, **kw).username)


def last_entries(world, n=3):
    with Session(world.engine) as s:
        rows = s.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(n)).scalars().all()
        return [(e.action, e.entity_id, json.loads(e.details)) for e in rows]


def user_row(world, username):
    with Session(world.engine) as s:
        return s.execute(select(User).where(User.username == username)).scalar_one()


def reset(world, username):
    admin = world.actor("admin")
    write_transaction(world.engine, lambda s: users_service.set_active(s, actor=admin, username=username, active=True))


def test_login_success_is_audited(world):
    assert attempt(world, "analyst", address="10.1.1.1") == "analyst"
    action, who, details = last_entries(world, 1)[0]
    assert (action, who, details["purpose"]) == ("user.login", "analyst", "login")


def test_wrong_password_and_unknown_user(world):
    with pytest.raises(login.LoginRefused, match="wrong user name or password"):
        attempt(world, "analyst", "not the password at all")
    with pytest.raises(login.LoginRefused, match="wrong user name or password"):
        attempt(world, "nobody", "not the password at all")
    entries = last_entries(world, 2)
    assert [(a, d["reason"]) for a, _, d in entries] == [("user.login_failed", "unknown_user"),
                                                         ("user.login_failed", "wrong_password")]
    with Session(world.engine) as s:
        text = " ".join(e.details + e.actor for e in s.execute(select(AuditEntry)).scalars())
    assert "not the password" not in text and PASSWORD not in text
    assert user_row(world, "analyst").failed_logins == 1
    assert attempt(world, "analyst") == "analyst"
    assert user_row(world, "analyst").failed_logins == 0  # a success resets the count


def test_lockout_and_unlock_after_time(world, monkeypatch):
    t0 = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)
    monkeypatch.setattr(login, "_now", lambda: t0)
    for _ in range(2):
        with pytest.raises(login.LoginRefused) as caught:
            attempt(world, "inv_zhaojue", "wrong password!!")
        assert not isinstance(caught.value, login.AccountLocked)
    with pytest.raises(login.AccountLocked, match="now locked for 10 minutes"):
        attempt(world, "inv_zhaojue", "wrong password!!")
    with pytest.raises(login.AccountLocked, match="locked until 2030-01-01 12:10 UTC"):
        attempt(world, "inv_zhaojue")  # even the right password
    assert last_entries(world, 1)[0][2]["reason"] == "locked"
    monkeypatch.setattr(login, "_now", lambda: t0 + timedelta(minutes=9))
    with pytest.raises(login.AccountLocked):
        attempt(world, "inv_zhaojue")
    monkeypatch.setattr(login, "_now", lambda: t0 + timedelta(minutes=10, seconds=1))
    assert attempt(world, "inv_zhaojue") == "inv_zhaojue"
    row = user_row(world, "inv_zhaojue")
    assert row.failed_logins == 0 and row.locked_until is None


def test_administrator_unlocks(world):
    for _ in range(3):
        with pytest.raises(login.LoginRefused):
            attempt(world, "inv_linyi", "wrong password!!")
    with pytest.raises(login.AccountLocked):
        attempt(world, "inv_linyi")
    reset(world, "inv_linyi")
    assert attempt(world, "inv_linyi") == "inv_linyi"
    assert last_entries(world, 2)[1][0] == "user.enable"


def test_rate_limit_per_address(world, monkeypatch):
    limited = load_settings(env="development", rate_limit_per_minute=3)
    t0 = datetime(2030, 1, 1, tzinfo=timezone.utc)
    monkeypatch.setattr(login, "_now", lambda: t0)
    for _ in range(3):
        attempt(world, "analyst", settings=limited, address="192.0.2.7")
    before = len(last_entries(world, 1000))
    for _ in range(3):
        with pytest.raises(login.RateLimited, match="at most 3 a minute"):
            attempt(world, "analyst", settings=limited, address="192.0.2.7")
    assert len(last_entries(world, 1000)) == before + 1  # one audit entry per flood, not one per request
    assert attempt(world, "analyst", settings=limited, address="192.0.2.8") == "analyst"  # another address
    monkeypatch.setattr(login, "_now", lambda: t0 + timedelta(seconds=61))
    assert attempt(world, "analyst", settings=limited, address="192.0.2.7") == "analyst"


def test_disabled_user_cannot_log_in(world):
    admin = world.actor("admin")
    write_transaction(world.engine, lambda s: users_service.set_active(s, actor=admin, username="registrar",
                                                                       active=False))
    with pytest.raises(login.LoginRefused, match="disabled"):
        attempt(world, "registrar")
    with pytest.raises(login.LoginRefused, match="wrong user name or password"):
        attempt(world, "registrar", "wrong password!!")  # no hint without the password
    reset(world, "registrar")


def test_totp_second_factor(world, monkeypatch):
    admin = world.actor("admin")
    enrolment = write_transaction(world.engine, lambda s: users_service.enrol_totp(s, actor=admin,
                                                                                   username="welfare_linyi"))
    key = totp.secret_bytes(enrolment.secret)
    t0 = datetime(2030, 6, 1, 8, 0, 10, tzinfo=timezone.utc)
    monkeypatch.setattr(login, "_now", lambda: t0)
    with pytest.raises(login.LoginRefused, match="totp: this account needs"):
        attempt(world, "welfare_linyi")
    wrong = str((int(totp.totp(key, t0.timestamp())) + 1) % 1_000_000).zfill(6)
    with pytest.raises(login.LoginRefused):
        attempt(world, "welfare_linyi", totp_code=wrong)
    assert last_entries(world, 1)[0][2]["reason"] == "wrong_totp"
    assert user_row(world, "welfare_linyi").failed_logins == 1  # a wrong code counts towards the lockout
    code = totp.totp(key, t0.timestamp())
    assert attempt(world, "welfare_linyi", totp_code=code) == "welfare_linyi"
    with pytest.raises(login.LoginRefused):
        attempt(world, "welfare_linyi", totp_code=code)  # a code is used once
    login.GUARD.clear()  # another server process, or a restart: the database still refuses it
    with pytest.raises(login.LoginRefused):
        attempt(world, "welfare_linyi", totp_code=code)
    assert user_row(world, "welfare_linyi").totp_last_step == int(t0.timestamp()) // 30
    later = totp.totp(key, t0.timestamp() + 30)
    monkeypatch.setattr(login, "_now", lambda: t0 + timedelta(seconds=30))
    assert attempt(world, "welfare_linyi", totp_code=later) == "welfare_linyi"
    write_transaction(world.engine, lambda s: users_service.remove_totp(s, actor=admin, username="welfare_linyi"))
    assert attempt(world, "welfare_linyi") == "welfare_linyi"


def test_totp_required_roles_outside_development(world, monkeypatch):
    assert PRODUCTION.totp_required_roles == {"reviewer", "administrator"}
    with pytest.raises(login.LoginRefused, match="reunite user totp reviewer2"):
        attempt(world, "reviewer2", settings=PRODUCTION)
    assert last_entries(world, 1)[0][2]["reason"] == "totp_not_enrolled"
    assert attempt(world, "analyst", settings=PRODUCTION) == "analyst"  # analysts need no second factor
    assert attempt(world, "reviewer2", settings=SETTINGS) == "reviewer2"  # nor anyone in development
    own = world.actor("reviewer2")
    enrolment = write_transaction(world.engine, lambda s: users_service.enrol_totp(s, actor=own,
                                                                                   username="reviewer2"))
    t0 = datetime(2030, 6, 1, tzinfo=timezone.utc)
    monkeypatch.setattr(login, "_now", lambda: t0)
    code = totp.totp(totp.secret_bytes(enrolment.secret), t0.timestamp())
    assert attempt(world, "reviewer2", settings=PRODUCTION, totp_code=code) == "reviewer2"
    with pytest.raises(PermissionDenied):  # someone else's second factor needs user:write
        write_transaction(world.engine, lambda s: users_service.enrol_totp(s, actor=own, username="reviewer1"))


def test_password_rehash(world):
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    write_transaction(world.engine, lambda s: s.execute(update(User).where(User.username == "auditor")
                                                        .values(password_hash=weak)))
    assert attempt(world, "auditor") == "auditor"
    stored = user_row(world, "auditor").password_hash
    assert stored != weak and "t=3" in stored
    assert attempt(world, "auditor") == "auditor"


# ---------------------------------------------------------------------------------------------
# tokens


def test_session_and_api_tokens_expire_and_revoke(world):
    done = login.login_transaction(world.engine, lambda s: login.login_token(
        s, username="analyst", password=PASSWORD, settings=SETTINGS, name="ci", days=2))
    assert done.expires_at - datetime.now(timezone.utc) > timedelta(days=1, hours=23)
    session = login.login_transaction(world.engine, lambda s: login.login_session(
        s, username="analyst", password=PASSWORD, settings=SETTINGS))
    assert session.csrf_token and session.expires_at - datetime.now(timezone.utc) < timedelta(hours=8, minutes=1)
    with Session(world.engine) as s:
        actor, row = tokens.resolve(s, done.token, kind="api")
        assert actor.username == "analyst" and row.name == "ci"
        with pytest.raises(AuthenticationError):
            tokens.resolve(s, done.token, kind="session")  # a token is not a session
        _, srow = tokens.resolve(s, session.token, kind="session")
        assert tokens.check_csrf(srow, session.csrf_token) and not tokens.check_csrf(srow, "forged")
    with pytest.raises(ReuniteError, match="days: expected"):
        login.login_transaction(world.engine, lambda s: login.login_token(
            s, username="analyst", password=PASSWORD, settings=SETTINGS, days=1000))
    write_transaction(world.engine, lambda s: s.execute(update(AuthToken).where(AuthToken.id == done.token_id)
                                                        .values(expires_at=datetime.now(timezone.utc)
                                                                - timedelta(seconds=1))))
    with Session(world.engine) as s, pytest.raises(AuthenticationError, match="expired"):
        tokens.resolve(s, done.token, kind="api")
    analyst = world.actor("analyst")
    write_transaction(world.engine, lambda s: login.logout(s, actor=analyst, token_id=session.token_id))
    with Session(world.engine) as s, pytest.raises(AuthenticationError, match="revoked"):
        tokens.resolve(s, session.token, kind="session")


def test_issue_list_and_revoke_tokens(world):
    analyst, admin, auditor = world.actor("analyst"), world.actor("admin"), world.actor("auditor")
    own = write_transaction(world.engine, lambda s: login.issue_api_token(s, actor=analyst, settings=SETTINGS,
                                                                          name="laptop"))
    with pytest.raises(PermissionDenied):
        write_transaction(world.engine, lambda s: login.issue_api_token(s, actor=analyst, settings=SETTINGS,
                                                                        username="admin"))
    theirs = write_transaction(world.engine, lambda s: login.issue_api_token(s, actor=admin, settings=SETTINGS,
                                                                             username="analyst", days=1))
    with Session(world.engine) as s:
        listed = {t.id for t in login.list_tokens(s, actor=analyst)}
        assert {own.token_id, theirs.token_id} <= listed
        assert {t.id for t in login.list_tokens(s, actor=auditor, username="analyst")} == listed
        with pytest.raises(PermissionDenied):
            login.list_tokens(s, actor=analyst, username="admin")
    with pytest.raises(NotFound):  # someone else's token: not found for a plain user
        write_transaction(world.engine, lambda s: login.revoke_token(s, actor=world.actor("inv_butuo"),
                                                                     token_id=own.token_id))
    assert write_transaction(world.engine, lambda s: login.revoke_token(s, actor=analyst, token_id=own.token_id))
    assert not write_transaction(world.engine, lambda s: login.revoke_token(s, actor=analyst, token_id=own.token_id))
    n = write_transaction(world.engine, lambda s: users_service.revoke_user_tokens(s, actor=admin,
                                                                                   username="analyst"))
    assert n >= 1
    with Session(world.engine) as s:
        assert login.list_tokens(s, actor=analyst) == []


# ---------------------------------------------------------------------------------------------
# user administration


def test_user_admin_permissions_and_scope(world):
    admin, analyst, auditor = world.actor("admin"), world.actor("analyst"), world.actor("auditor")
    with Session(world.engine) as s:
        page = users_service.list_users(s, actor=auditor, limit=4)
        assert len(page.items) == 4 and page.next_cursor
        rest = users_service.list_users(s, actor=auditor, cursor=page.next_cursor, limit=100)
        assert len(page.items) + len(rest.items) == 10
        assert [u.username for u in users_service.list_users(s, actor=admin, role="investigator").items] == [
            "inv_butuo", "inv_zhaojue", "inv_linyi"]
        assert {u.username for u in users_service.list_users(s, actor=admin, jurisdiction="371300").items} == {
            "inv_linyi", "welfare_linyi", "registrar"}
        with pytest.raises(PermissionDenied, match="user:read"):
            users_service.list_users(s, actor=analyst)
        with pytest.raises(ReuniteError, match="role"):
            users_service.list_users(s, actor=admin, role="king")
        info = users_service.get_user(s, actor=auditor, username="inv_butuo")
        assert info.agency == "PSB-513429" and info.jurisdiction == "513429" and not info.totp
    with pytest.raises(PermissionDenied, match="user:write"):
        write_transaction(world.engine, lambda s: users_service.set_active(s, actor=auditor, username="analyst",
                                                                           active=False))


def test_provincial_administrator_manages_own_province(world):
    boot = users_service.bootstrap_actor()
    world.user_ids["admin_sc"] = write_transaction(world.engine, lambda s: users_service.create_user(
        s, actor=boot, username="admin_sc", password=PASSWORD, roles=["administrator"],
        jurisdiction_code="510000").id)
    sc = world.actor("admin_sc")
    with Session(world.engine) as s:
        assert {u.username for u in users_service.list_users(s, actor=sc).items} == {"inv_butuo", "inv_zhaojue",
                                                                                     "admin_sc"}
        with pytest.raises(NotFound):
            users_service.get_user(s, actor=sc, username="inv_linyi")
    with pytest.raises(PermissionDenied, match="jurisdiction"):
        write_transaction(world.engine, lambda s: users_service.create_user(
            s, actor=sc, username="someone", password=PASSWORD, roles=["analyst"], jurisdiction_code="371300"))


def test_roles_password_and_last_administrator(world):
    admin = world.actor("admin")
    info = write_transaction(world.engine, lambda s: users_service.set_roles(
        s, actor=admin, username="reviewer1", roles=["reviewer", "auditor"]))
    assert info.roles == ["auditor", "reviewer"]
    with pytest.raises(ReuniteError, match="roles: expected"):
        write_transaction(world.engine, lambda s: users_service.set_roles(s, actor=admin, username="reviewer1",
                                                                          roles=["wizard"]))
    with pytest.raises(PermissionDenied, match="their own roles"):
        write_transaction(world.engine, lambda s: users_service.set_roles(s, actor=admin, username="admin",
                                                                          roles=["analyst"]))
    with pytest.raises(ReuniteError, match="your own account"):
        write_transaction(world.engine, lambda s: users_service.set_active(s, actor=admin, username="admin",
                                                                           active=False))
    with pytest.raises(ReuniteError, match="password: at least 12"):
        write_transaction(world.engine, lambda s: users_service.reset_password(s, actor=admin, username="reviewer1",
                                                                               password="short"))
    token = world.token("reviewer1")
    write_transaction(world.engine, lambda s: users_service.reset_password(s, actor=admin, username="reviewer1",
                                                                           password="a brand new passphrase"))
    with Session(world.engine) as s, pytest.raises(AuthenticationError, match="revoked"):
        tokens.resolve(s, token, kind="api")
    assert attempt(world, "reviewer1", "a brand new passphrase") == "reviewer1"
    me = world.actor("reviewer1")
    with pytest.raises(PermissionDenied, match="old_password"):
        write_transaction(world.engine, lambda s: users_service.change_own_password(
            s, actor=me, old_password="wrong one", new_password="another passphrase!"))
    write_transaction(world.engine, lambda s: users_service.change_own_password(
        s, actor=me, old_password="a brand new passphrase", new_password=PASSWORD + "!"))
    assert attempt(world, "reviewer1", PASSWORD + "!") == "reviewer1"
    with pytest.raises(Conflict):
        write_transaction(world.engine, lambda s: users_service.create_user(
            s, actor=admin, username="analyst", password=PASSWORD, roles=["analyst"], jurisdiction_code="CN"))


def test_last_active_administrator_is_kept(tmp_path):
    solo = make_world(f"sqlite:///{tmp_path / 'solo.db'}", users=[("admin", ["administrator"], "CN", None),
                                                                  ("admin2", ["administrator"], "CN", None)])
    a2 = solo.actor("admin2")
    write_transaction(solo.engine, lambda s: users_service.set_roles(s, actor=a2, username="admin", roles=["auditor"]))
    a1 = solo.actor("admin")
    with pytest.raises(PermissionDenied):
        write_transaction(solo.engine, lambda s: users_service.set_active(s, actor=a1, username="admin2",
                                                                          active=False))
    write_transaction(solo.engine, lambda s: users_service.set_roles(s, actor=a2, username="admin",
                                                                     roles=["auditor", "administrator"]))
    a1 = solo.actor("admin")
    write_transaction(solo.engine, lambda s: users_service.set_active(s, actor=a1, username="admin2", active=False))
    with pytest.raises(Conflict, match="last active administrator"):
        write_transaction(solo.engine, lambda s: users_service.set_roles(s, actor=a2, username="admin",
                                                                         roles=["auditor"]))


# ---------------------------------------------------------------------------------------------
# reunite user / jurisdiction


def test_cli_users(tmp_path, monkeypatch):
    from reunite.cli import app

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("REUNITE_DATABASE_URL", url)
    monkeypatch.delenv("REUNITE_USER", raising=False)
    runner = CliRunner()
    assert runner.invoke(app, ["db", "init"]).exit_code == 0
    first = runner.invoke(app, ["user", "add", "boss", "--role", "analyst", "--jurisdiction", "CN",
                                "--password-stdin"], input=PASSWORD + "\n")
    assert first.exit_code == 1 and "must be an administrator" in first.output
    ok = runner.invoke(app, ["user", "add", "boss", "--role", "administrator", "--jurisdiction", "CN"],
                       input=f"{PASSWORD}\n{PASSWORD}\n")
    assert ok.exit_code == 0, ok.output
    second = runner.invoke(app, ["user", "add", "ana", "--role", "analyst", "--jurisdiction", "CN",
                                 "--password-stdin"], input=PASSWORD + "\n")
    assert second.exit_code == 1 and "--as" in second.output
    for args in (["jurisdiction", "add", "510000", "Sichuan", "--name-zh", "四川省"],
                 ["jurisdiction", "add", "513400", "Liangshan", "--parent", "510000"],
                 ["jurisdiction", "agency-add", "PSB-1", "Police", "--jurisdiction", "513400", "--kind", "police"],
                 ["user", "add", "ana", "--role", "analyst", "--role", "auditor", "--jurisdiction", "513400",
                  "--agency", "PSB-1", "--name", "安娜", "--password-stdin"]):
        result = runner.invoke(app, [*args, "--as", "boss"], input=PASSWORD + "\n")
        assert result.exit_code == 0, result.output
    tree = runner.invoke(app, ["jurisdiction", "list"])
    assert tree.exit_code == 0 and "四川省" in tree.output and "  513400" in tree.output
    assert "PSB-1" in runner.invoke(app, ["jurisdiction", "agencies", "--as", "ana"]).output
    listed = runner.invoke(app, ["user", "list", "--as", "boss"])
    assert listed.exit_code == 0 and "ana" in listed.output and "安娜" in listed.output
    denied = runner.invoke(app, ["user", "disable", "boss", "--as", "ana"])
    assert denied.exit_code == 1 and "user:write" in denied.output and "Traceback" not in denied.output
    created = runner.invoke(app, ["user", "token", "create", "--as", "ana", "--name", "script"])
    assert created.exit_code == 0
    raw = created.stdout.strip().splitlines()[-1]
    assert len(raw) >= 40
    tokens_listed = runner.invoke(app, ["user", "token", "list", "--as", "ana"])
    assert "script" in tokens_listed.output
    assert runner.invoke(app, ["user", "token", "revoke", "1", "--as", "ana"]).exit_code == 0
    assert runner.invoke(app, ["user", "roles", "ana", "--role", "analyst", "--as", "boss"]).exit_code == 0
    enrolled = runner.invoke(app, ["user", "totp", "ana", "--as", "boss"])
    assert enrolled.exit_code == 0 and "otpauth://totp/reunite:ana?" in enrolled.output
    assert runner.invoke(app, ["user", "totp", "ana", "--remove", "--as", "boss"]).exit_code == 0
    assert runner.invoke(app, ["user", "password", "ana", "--password-stdin", "--as", "boss"],
                         input="a new passphrase for her\n").exit_code == 0
    assert runner.invoke(app, ["user", "password", "ana", "--password-stdin", "--as", "ana"],
                         input="a new passphrase for her\nyet another passphrase\n").exit_code == 0
    assert runner.invoke(app, ["user", "disable", "ana", "--as", "boss"]).exit_code == 0
    gone = runner.invoke(app, ["user", "list", "--as", "ana"])
    assert gone.exit_code == 1 and "disabled" in gone.output
    assert runner.invoke(app, ["user", "enable", "ana", "--as", "boss"]).exit_code == 0
    unknown = runner.invoke(app, ["jurisdiction", "add", "X1", "Nowhere", "--parent", "999", "--as", "boss"])
    assert unknown.exit_code == 1 and "parent_code" in unknown.output


def test_lockout_and_tokens_on_both_backends(db_url, monkeypatch):
    """Lockout state, token expiry and the audit entries of logins, on SQLite and PostgreSQL."""
    w = make_world(db_url, users=[("admin", ["administrator"], "CN", None), ("ana", ["analyst"], "CN", None)])
    t0 = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)
    monkeypatch.setattr(login, "_now", lambda: t0)
    for _ in range(2):
        with pytest.raises(login.LoginRefused):
            attempt(w, "ana", "wrong password!!")
    with pytest.raises(login.AccountLocked):
        attempt(w, "ana", "wrong password!!")
    with pytest.raises(login.AccountLocked):
        attempt(w, "ana")
    monkeypatch.setattr(login, "_now", lambda: t0 + timedelta(minutes=11))
    assert attempt(w, "ana") == "ana"
    monkeypatch.undo()
    done = login.login_transaction(w.engine, lambda s: login.login_token(
        s, username="ana", password=PASSWORD, settings=SETTINGS, days=1))
    ana = w.actor("ana")
    with Session(w.engine) as s:
        assert tokens.resolve(s, done.token, kind="api")[0].username == "ana"
        assert [t.id for t in login.list_tokens(s, actor=ana)] == [done.token_id]
    reasons = [d.get("reason") for a, _, d in last_entries(w, 6) if a == "user.login_failed"]
    assert reasons == ["locked", "wrong_password", "wrong_password", "wrong_password"]
    from reunite.audit.service import verify_chain
    from reunite.settings import get_settings

    from reunite.security.actor import Actor

    auditor = Actor(username="x", user_id=None, roles=frozenset({"auditor"}))
    with Session(w.engine) as s:
        assert verify_chain(s, actor=auditor, key=get_settings().audit_key).ok
