"""Settings from the environment (``REUNITE_*``, pydantic-settings).

Outside development mode (``REUNITE_ENV=production``) :func:`get_settings` refuses a missing,
default or short secret key or audit key, so a server cannot start with a secret that anyone
reading this file knows.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from reunite.errors import ReuniteError

DEVELOPMENT_SECRET = "development-only-secret-key-change-me"
DEVELOPMENT_AUDIT_KEY = "development-only-audit-key-change-me"
MIN_SECRET_LENGTH = 32


class SettingsError(ReuniteError):
    """A setting is missing, malformed or insecure outside development mode."""


class Settings(BaseSettings):
    """Every setting, read from ``REUNITE_<NAME>`` (e.g. ``REUNITE_ENV``, ``REUNITE_SECRET_KEY``)."""

    model_config = SettingsConfigDict(env_prefix="REUNITE_", extra="ignore")

    env: Literal["development", "production"] = "development"
    database_url: str | None = None  # default: reunite.store.db.database_url()
    secret_key: str = DEVELOPMENT_SECRET  # signs nothing user-visible; keys CSRF and tokens
    audit_key: str = DEVELOPMENT_AUDIT_KEY  # the HMAC key of the audit chain
    session_hours: float = Field(8.0, gt=0)
    token_days: float = Field(30.0, gt=0)
    lockout_failures: int = Field(5, ge=1)  # failed logins in a row that lock an account
    lockout_minutes: float = Field(15.0, gt=0)
    rate_limit_per_minute: int = Field(30, ge=1)  # login attempts per address per minute
    notify_log10_lr: float = 4.0  # a new candidate at or above notifies its report's owner
    review_log10_lr: float = 4.0  # a reviewed candidate falling below is flagged
    registration_lr_threshold: float = Field(10_000.0, gt=0)  # below: the registration is flagged
    prior: float | None = Field(None, gt=0, lt=1)  # None: 1 / (number of compatible families)
    verbal_scale: str = "enfsi2015"  # reunite lr: a scale of reunite.genetics.verbal, or a CSV/JSON scale file
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "reunite@localhost"
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    webhook_url: str | None = None
    cors_origins: list[str] = []
    behind_proxy: bool = False  # trust X-Forwarded-For for the client's address
    language: Literal["zh_CN", "en"] = "zh_CN"  # the web pages' language when neither user nor browser says
    data_dir: str | None = None  # imported frequency tables; default $XDG_DATA_HOME/reunite or ~/.local/share/reunite

    @property
    def development(self) -> bool:
        return self.env == "development"

    @property
    def totp_required_roles(self) -> frozenset[str]:
        """Roles that must use a second factor (none in development mode)."""
        return frozenset() if self.development else frozenset({"reviewer", "administrator"})

    def check_secure(self) -> None:
        """Raise :class:`SettingsError` for CORS open to every site (cookie sessions would be
        readable from any page), and outside development mode for a default or weak secret."""
        if any(origin.strip() in ("*", "null") for origin in self.cors_origins):
            raise SettingsError("REUNITE_CORS_ORIGINS: name the web origins allowed (e.g. "
                                "'[\"https://reunite.example.gov.cn\"]'), never '*' or 'null': with cookie sessions "
                                "any page could act as the logged-in user")
        if self.development:
            return
        for name, value, default in (("REUNITE_SECRET_KEY", self.secret_key, DEVELOPMENT_SECRET),
                                     ("REUNITE_AUDIT_KEY", self.audit_key, DEVELOPMENT_AUDIT_KEY)):
            if not value or value == default or "change-me" in value:
                raise SettingsError(f"{name} is missing or the development default; REUNITE_ENV=production needs a "
                                    f"secret of its own (e.g. python -c 'import secrets; print(secrets.token_hex(32))')")
            if len(value) < MIN_SECRET_LENGTH:
                raise SettingsError(f"{name} is {len(value)} characters; at least {MIN_SECRET_LENGTH} are needed")
        if self.secret_key == self.audit_key:
            raise SettingsError("REUNITE_SECRET_KEY and REUNITE_AUDIT_KEY must differ")


def load_settings(**overrides) -> Settings:
    """Settings from the environment (and ``overrides``), checked; errors name the variable."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(f"REUNITE_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']} (found {e.get('input')!r})"
                             for e in exc.errors())
        raise SettingsError(f"bad setting: {problems}") from None
    settings.check_secure()
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings (cached; tests build their own with :func:`load_settings`)."""
    return load_settings()
