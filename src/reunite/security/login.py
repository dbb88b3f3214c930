"""Logging in: password (Argon2id), lockout, rate limiting, TOTP; web sessions and API tokens.

:func:`authenticate` checks a user name and password (an unknown user costs the same Argon2
verification as a known one), then the second factor.  It records every attempt in the audit
chain (``user.login`` / ``user.login_failed`` with a reason; never the password) and the
failure count on the user row: ``lockout_failures`` failures in a row lock the account for
``lockout_minutes``.  Attempts from one address are limited to ``rate_limit_per_minute``
(an in-process sliding window: each server process counts its own).

A refusal raises a :class:`LoginRefused` *after* writing its bookkeeping to the session, so
callers run logins through :func:`login_transaction`, which commits that bookkeeping and then
re-raises the refusal.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from reunite.cases.common import audit, user_by_name
from reunite.errors import AuthenticationError, NotFound, ReuniteError
from reunite.security import tokens
from reunite.security.actor import Actor
from reunite.security.passwords import DUMMY_HASH, hash_password, needs_rehash, verify_password
from reunite.security.totp import matching_step
from reunite.security.users import USERNAME, _managed, in_actors_subtree
from reunite.settings import Settings
from reunite.store.models_workflow import AuthToken, User, UserRole

RATE_WINDOW_SECONDS = 60.0
MAX_TOKEN_NAME = 128


class LoginRefused(AuthenticationError):
    """A login was refused; the failure is recorded in the session (commit it)."""


class AccountLocked(LoginRefused):
    """Too many failed logins in a row: the account is locked for a while (HTTP 423)."""


class RateLimited(LoginRefused):
    """Too many login attempts from one address in the last minute (HTTP 429)."""

    retry_after = int(RATE_WINDOW_SECONDS)


def _now() -> datetime:
    """The current time (tests replace it to move the clock)."""
    return datetime.now(timezone.utc)


def _utc(at: datetime | None) -> datetime | None:
    if at is None:
        return None
    return at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at


class LoginGuard:
    """In-process state of logins: attempts per address (sliding window) and the last TOTP
    step used per secret (a code is accepted once: RFC 6238 section 5.2)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hits: dict[str, deque] = {}
        self._refused_logged: dict[str, float] = {}
        self._steps: dict[str, int] = {}
        self._unknown: dict[str, tuple[int, float]] = {}  # name -> (failures, locked until)

    def clear(self) -> None:
        with self._lock:
            self._hits.clear()
            self._refused_logged.clear()
            self._steps.clear()
            self._unknown.clear()

    def unknown_name_fails(self, name: str, *, now: float, failures: int, minutes: float) -> tuple[str, float]:
        """Count a failed login of a name that is no user as if it were one, so that lockout
        does not tell which accounts exist: ``("failed" | "now_locked" | "locked", locked
        until)``; a locked name counts nothing until its lock runs out."""
        with self._lock:
            if len(self._unknown) > 10_000:
                self._unknown.clear()
            count, until = self._unknown.get(name, (0, 0.0))
            if until > now:
                return "locked", until
            count = 1 if until else count + 1
            until = now + minutes * 60 if count >= failures else 0.0
            self._unknown[name] = (count, until)
            return ("now_locked" if until else "failed"), until

    def allow(self, address: str, limit: int, now: float) -> tuple[bool, bool]:
        """``(allowed, first refusal in this window)`` for one attempt from ``address``."""
        with self._lock:
            if len(self._hits) > 10_000:  # forget idle addresses
                for key in [k for k, q in self._hits.items() if not q or q[-1] <= now - RATE_WINDOW_SECONDS]:
                    self._hits.pop(key, None)
                    self._refused_logged.pop(key, None)
            hits = self._hits.setdefault(address, deque())
            while hits and hits[0] <= now - RATE_WINDOW_SECONDS:
                hits.popleft()
            if len(hits) >= limit:
                last = self._refused_logged.get(address)
                first = last is None or last <= now - RATE_WINDOW_SECONDS
                if first:
                    self._refused_logged[address] = now
                return False, first
            hits.append(now)
            return True, False

    def use_step(self, secret: str, step: int) -> bool:
        """Mark a TOTP step used; False when it (or a later one) was used already."""
        key = tokens.digest(secret)
        with self._lock:
            if self._steps.get(key, -1) >= step:
                return False
            self._steps[key] = step
            return True


GUARD = LoginGuard()


def _login_actor(username: str, user: User | None, address: str | None, via: str) -> Actor:
    return Actor(username=username or "?", user_id=user.id if user else None, roles=frozenset(), address=address,
                 via=via)


def _recorded_name(name: str) -> str:
    """The name a failed login is recorded under: a text that cannot be a user name (a
    password typed into the wrong field, say) is not kept, only its length."""
    return name if USERNAME.match(name) else f"(not a user name, {len(name)} characters)"


def totp_refusal(roles, user: User, settings: Settings) -> str | None:
    """Why ``user`` (with ``roles``) may not hold a token or session now: a role that needs a
    second factor outside development, and none enrolled; None when they may."""
    needing = frozenset(roles) & settings.totp_required_roles
    if user.totp_secret or not needing:
        return None
    return (f"totp: the role {', '.join(sorted(needing))} needs a second factor outside development; an "
            f"administrator enrols it with 'reunite user totp {user.username}'")


def authenticate(session: Session, *, username: str, password: str, totp_code: str | None = None,
                 address: str | None = None, settings: Settings, via: str = "api", purpose: str = "login",
                 guard: LoginGuard | None = None) -> User:
    """The user whose password (and one-time code) this is; raises a :class:`LoginRefused`
    (after recording the failure in ``session``) otherwise."""
    guard = guard or GUARD
    now = _now()
    name = (username or "").strip().lower()[:64]
    password = password or ""

    def refuse(reason: str, message: str, *, user: User | None = None, cls=LoginRefused, **details):
        recorded = name if user is not None else _recorded_name(name)
        audit(session, _login_actor(recorded, user, address, via), "user.login_failed", entity="user",
              entity_id=recorded, details={"reason": reason, "purpose": purpose, **details})
        session.flush()
        raise cls(message)

    if address is not None:
        allowed, first = guard.allow(address, settings.rate_limit_per_minute, now.timestamp())
        if not allowed:
            message = (f"too many login attempts from {address}: at most {settings.rate_limit_per_minute} a minute; "
                       "wait a minute and try again")
            if first:  # one audit entry per address and minute, not one per request of a flood
                refuse("rate_limited", message, cls=RateLimited)
            raise RateLimited(message)
    user = session.execute(select(User).where(User.username == name).with_for_update()).scalar_one_or_none()
    wrong = ("wrong user name or password (after "
             f"{settings.lockout_failures} failures in a row an account is locked for {settings.lockout_minutes:g} minutes)")
    def locked(until: datetime) -> str:
        return (f"the account {name!r} is locked until {until:%Y-%m-%d %H:%M} UTC after "
                f"{settings.lockout_failures} failed logins in a row; try again then, or ask an administrator to "
                f"unlock it ('reunite user enable {name}')")

    now_locked = f"{wrong}; the account {name!r} is now locked for {settings.lockout_minutes:g} minutes"
    if user is None:  # refused exactly as a known account would be (lockout included)
        verify_password(DUMMY_HASH, password)
        state, until = guard.unknown_name_fails(name, now=now.timestamp(), failures=settings.lockout_failures,
                                                minutes=settings.lockout_minutes)
        if state == "locked":
            refuse("unknown_user", locked(datetime.fromtimestamp(until, timezone.utc)), cls=AccountLocked)
        refuse("unknown_user", now_locked if state == "now_locked" else wrong,
               cls=AccountLocked if state == "now_locked" else LoginRefused)
    locked_until = _utc(user.locked_until)
    if locked_until is not None and locked_until > now:
        verify_password(DUMMY_HASH, password)
        refuse("locked", locked(locked_until), user=user, cls=AccountLocked)
    if locked_until is not None:  # the lock has run out: a fresh count
        user.locked_until = None
        user.failed_logins = 0

    def fail(reason: str) -> None:
        user.failed_logins = (user.failed_logins or 0) + 1
        if user.failed_logins >= settings.lockout_failures:
            user.locked_until = now + timedelta(minutes=settings.lockout_minutes)
            refuse(reason, now_locked, user=user, cls=AccountLocked, failures=user.failed_logins, locked=True)
        refuse(reason, wrong, user=user, failures=user.failed_logins)

    if not verify_password(user.password_hash, password):
        fail("wrong_password")
    if not user.active:
        refuse("disabled", f"the account {name!r} is disabled; ask an administrator", user=user)
    roles = frozenset(session.execute(select(UserRole.role).where(UserRole.user_id == user.id)).scalars())
    if user.totp_secret:
        if not (totp_code or "").strip():
            refuse("totp_missing", "totp: this account needs the 6-digit code of its authenticator app", user=user)
        step = matching_step(user.totp_secret, totp_code, at=now.timestamp())
        # a code is accepted once (RFC 6238 section 5.2), across processes and restarts: the last
        # step used is kept on the user's row, which this transaction holds locked
        if step is None or (user.totp_last_step is not None and step <= user.totp_last_step) \
                or not guard.use_step(user.totp_secret, step):
            fail("wrong_totp")
        user.totp_last_step = step
    elif (why := totp_refusal(roles, user, settings)) is not None:
        refuse("totp_not_enrolled", why, user=user)
    user.failed_logins = 0
    user.locked_until = None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    audit(session, _login_actor(name, user, address, via), "user.login", entity="user", entity_id=name,
          details={"purpose": purpose, "totp": bool(user.totp_secret)})
    session.flush()
    return user


def login_transaction(engine, work):
    """``work(session)`` in a write transaction; a :class:`LoginRefused` it raises is raised
    after the commit, so the failure count and its audit entry are kept."""
    from reunite.store.db import write_transaction

    refused: list[LoginRefused] = []

    def wrapped(session):
        try:
            return work(session)
        except LoginRefused as exc:
            refused.append(exc)
            return None

    result = write_transaction(engine, wrapped)
    if refused:
        raise refused[0]
    return result


@dataclass
class Login:
    """A token issued: the raw token (and CSRF token of a session), shown once."""

    token: str
    csrf_token: str | None
    expires_at: datetime
    token_id: int
    actor: Actor


def _issued(session: Session, user: User, raw: str, csrf: str | None, row: AuthToken, address, via) -> Login:
    return Login(raw, csrf, _utc(row.expires_at), row.id, tokens.actor_of(session, user, address=address, via=via))


def login_session(session: Session, *, username: str, password: str, totp_code: str | None = None,
                  address: str | None = None, settings: Settings, guard: LoginGuard | None = None) -> Login:
    """Log in for a web (cookie) session lasting ``settings.session_hours``."""
    user = authenticate(session, username=username, password=password, totp_code=totp_code, address=address,
                        settings=settings, via="web", purpose="session", guard=guard)
    raw, csrf, row = tokens.issue(session, user, kind="session", lifetime=timedelta(hours=settings.session_hours),
                                  address=address)
    return _issued(session, user, raw, csrf, row, address, "web")


def _lifetime_days(days: float | None, settings: Settings) -> float:
    if days is None:
        return settings.token_days
    if not 0 < days <= settings.token_days:
        raise ReuniteError(f"days: expected more than 0 and at most {settings.token_days:g} (REUNITE_TOKEN_DAYS), "
                           f"found {days:g}")
    return days


def _token_name(name: str | None) -> str | None:
    if name is not None and len(name) > MAX_TOKEN_NAME:
        raise ReuniteError(f"name: at most {MAX_TOKEN_NAME} characters, found {len(name)}")
    return name


def login_token(session: Session, *, username: str, password: str, totp_code: str | None = None,
                address: str | None = None, settings: Settings, name: str | None = None,
                days: float | None = None, guard: LoginGuard | None = None) -> Login:
    """Log in for an API bearer token lasting ``days`` (at most ``settings.token_days``)."""
    lifetime = _lifetime_days(days, settings)
    name = _token_name(name)
    user = authenticate(session, username=username, password=password, totp_code=totp_code, address=address,
                        settings=settings, via="api", purpose="token", guard=guard)
    raw, _, row = tokens.issue(session, user, kind="api", lifetime=timedelta(days=lifetime), name=name,
                               address=address)
    return _issued(session, user, raw, None, row, address, "api")


def issue_api_token(session: Session, *, actor: Actor, settings: Settings, username: str | None = None,
                    name: str | None = None, days: float | None = None) -> Login:
    """A bearer token for the actor (or, with ``user:write``, for ``username``) without a
    password: ``reunite user token create`` on the database's machine."""
    lifetime = _lifetime_days(days, settings)
    name = _token_name(name)
    target = username or actor.username
    # another user's token: user:write and that user in the actor's subtree (else "no user")
    user = user_by_name(session, target) if target == actor.username else _managed(session, actor, target)
    if not user.active:
        raise ReuniteError(f"user: the account {target!r} is disabled; enable it first")
    roles = session.execute(select(UserRole.role).where(UserRole.user_id == user.id)).scalars().all()
    why = totp_refusal(roles, user, settings)
    if why is not None:
        raise ReuniteError(f"{why}; only then may it hold a token")
    raw, _, row = tokens.issue(session, user, kind="api", lifetime=timedelta(days=lifetime), name=name,
                               address=actor.address)
    audit(session, actor, "token.create", entity="user", entity_id=target,
          details={"token_id": row.id, "name": name, "days": lifetime})
    return _issued(session, user, raw, None, row, None, "api")


def logout(session: Session, *, actor: Actor, token_id: int) -> bool:
    """Revoke the token or session the actor is using."""
    done = tokens.revoke(session, token_id, by=actor.username)
    audit(session, actor, "user.logout", entity="user", entity_id=actor.username, details={"token_id": token_id})
    return done


@dataclass
class TokenInfo:
    id: int
    username: str
    kind: str
    name: str | None
    address: str | None
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None

    @property
    def valid(self) -> bool:
        return self.revoked_at is None and self.expires_at > _now()


def list_tokens(session: Session, *, actor: Actor, username: str | None = None,
                include_inactive: bool = False) -> list[TokenInfo]:
    """The actor's tokens and sessions (another user's need ``user:read``); newest first."""
    target = username or actor.username
    user = user_by_name(session, target) if target == actor.username else _managed(session, actor, target,
                                                                                    "user:read")
    query = select(AuthToken).where(AuthToken.user_id == user.id).order_by(AuthToken.id.desc())
    if not include_inactive:
        query = query.where(AuthToken.revoked_at.is_(None), AuthToken.expires_at > _now())
    return [TokenInfo(t.id, target, t.kind, t.name, t.address, _utc(t.created_at), _utc(t.expires_at),
                      _utc(t.last_used_at), _utc(t.revoked_at), t.revoked_by)
            for t in session.execute(query.limit(1000)).scalars()]


def revoke_token(session: Session, *, actor: Actor, token_id: int, own_only: bool = False) -> bool:
    """Revoke one token: one's own, or (unless ``own_only``) anyone's with ``user:write``;
    True when it was valid."""
    row = session.get(AuthToken, token_id)
    own = row is not None and row.user_id == actor.user_id
    owner = session.get(User, row.user_id) if row is not None else None
    if row is None or (not own and (own_only or not actor.can("user:write")
                                    or owner is None or not in_actors_subtree(session, actor, owner))):
        raise NotFound(f"token_id: no token {token_id} of yours ('reunite user token list' shows them)")
    done = tokens.revoke(session, token_id, by=actor.username)
    audit(session, actor, "token.revoke", entity="user", entity_id=owner.username if owner else None,
          details={"token_id": token_id, "was_valid": done})
    return done
