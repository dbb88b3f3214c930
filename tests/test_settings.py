"""Settings: production refuses a missing, default, short or shared secret or audit key."""

from __future__ import annotations

import pytest

from reunite.settings import DEVELOPMENT_AUDIT_KEY, DEVELOPMENT_SECRET, SettingsError, load_settings

GOOD_SECRET = "5f1c0e7a9b2d4c6e8f0a1b3c5d7e9f1a"  # 32 characters
GOOD_AUDIT = "0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ("REUNITE_ENV", "REUNITE_SECRET_KEY", "REUNITE_AUDIT_KEY", "REUNITE_SESSION_HOURS",
                 "REUNITE_LOCKOUT_FAILURES"):
        monkeypatch.delenv(name, raising=False)


def test_development_accepts_the_defaults():
    settings = load_settings()
    assert settings.development and settings.secret_key == DEVELOPMENT_SECRET
    assert settings.totp_required_roles == frozenset()


@pytest.mark.parametrize("secret, audit, variable, why", [
    (None, GOOD_AUDIT, "REUNITE_SECRET_KEY", "development default"),
    (GOOD_SECRET, None, "REUNITE_AUDIT_KEY", "development default"),
    ("", GOOD_AUDIT, "REUNITE_SECRET_KEY", "missing"),
    (GOOD_SECRET, "", "REUNITE_AUDIT_KEY", "missing"),
    ("short-secret", GOOD_AUDIT, "REUNITE_SECRET_KEY", "at least 32"),
    (GOOD_SECRET, "x" * 31, "REUNITE_AUDIT_KEY", "at least 32"),
    (DEVELOPMENT_SECRET, GOOD_AUDIT, "REUNITE_SECRET_KEY", "development default"),
    (GOOD_SECRET, DEVELOPMENT_AUDIT_KEY, "REUNITE_AUDIT_KEY", "development default"),
    ("my-own-secret-please-change-me-now!!", GOOD_AUDIT, "REUNITE_SECRET_KEY", "development default"),
    (GOOD_SECRET, GOOD_SECRET, "REUNITE_AUDIT_KEY", "must differ"),
])
def test_production_refuses_weak_keys(monkeypatch, secret, audit, variable, why):
    monkeypatch.setenv("REUNITE_ENV", "production")
    if secret is not None:
        monkeypatch.setenv("REUNITE_SECRET_KEY", secret)
    if audit is not None:
        monkeypatch.setenv("REUNITE_AUDIT_KEY", audit)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert variable in str(caught.value) and why in str(caught.value)


def test_production_accepts_good_keys(monkeypatch):
    monkeypatch.setenv("REUNITE_ENV", "production")
    monkeypatch.setenv("REUNITE_SECRET_KEY", GOOD_SECRET)
    monkeypatch.setenv("REUNITE_AUDIT_KEY", GOOD_AUDIT)
    settings = load_settings()
    assert not settings.development and settings.audit_key == GOOD_AUDIT
    assert settings.totp_required_roles == {"reviewer", "administrator"}
    assert load_settings(env="production", secret_key=GOOD_SECRET, audit_key=GOOD_AUDIT).secret_key == GOOD_SECRET


def test_bad_values_name_the_variable(monkeypatch):
    monkeypatch.setenv("REUNITE_SESSION_HOURS", "-1")
    with pytest.raises(SettingsError, match="REUNITE_SESSION_HOURS"):
        load_settings()
    monkeypatch.setenv("REUNITE_SESSION_HOURS", "8")
    monkeypatch.setenv("REUNITE_ENV", "staging")
    with pytest.raises(SettingsError, match="REUNITE_ENV"):
        load_settings()


def test_app_refuses_to_start_with_weak_keys(tmp_path):
    from reunite.api.app import create_app

    settings = load_settings()
    object.__setattr__(settings, "env", "production")
    with pytest.raises(SettingsError, match="REUNITE_SECRET_KEY"):
        create_app(settings=settings, engine=object())
