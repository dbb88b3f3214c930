"""Web sessions and API bearer tokens: random secrets of which only SHA-256 digests are kept.

A token is valid while not revoked and not expired (``last_used_at`` is not kept per request:
the audit log records what each token did).  A
session also carries a CSRF token (double submit: the cookie session's requests that change
anything must send it in ``X-CSRF-Token``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta, timezone

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from reunite.errors import AuthenticationError
from reunite.security.actor import NATIONAL_PATH, Actor
from reunite.store.models_workflow import AuthToken, Jurisdiction, User, UserRole

TOKEN_BYTES = 32


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _utc(at: datetime | None) -> datetime | None:
    if at is None:
        return None
    return at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at


def issue(session: Session, user: User, *, kind: str, lifetime: timedelta, name: str | None = None,
          address: str | None = None) -> tuple[str, str | None, AuthToken]:
    """A new token for ``user``: ``(raw token, raw CSRF token or None, row)``; the raw values
    are shown once and never stored."""
    raw = secrets.token_urlsafe(TOKEN_BYTES)
    csrf = secrets.token_urlsafe(TOKEN_BYTES) if kind == "session" else None
    row = AuthToken(user_id=user.id, kind=kind, token_hash=digest(raw), csrf_hash=digest(csrf) if csrf else None,
                    name=name, address=address, expires_at=datetime.now(timezone.utc) + lifetime)
    session.add(row)
    session.flush()
    return raw, csrf, row


def revoke(session: Session, token_id: int, *, by: str) -> bool:
    """Revoke one token (idempotent); True when it was valid until now."""
    result = session.execute(update(AuthToken).where(AuthToken.id == token_id, AuthToken.revoked_at.is_(None))
                             .values(revoked_at=datetime.now(timezone.utc), revoked_by=by))
    return result.rowcount > 0


def revoke_all(session: Session, user_id: int, *, by: str) -> int:
    result = session.execute(update(AuthToken).where(AuthToken.user_id == user_id, AuthToken.revoked_at.is_(None))
                             .values(revoked_at=datetime.now(timezone.utc), revoked_by=by))
    return result.rowcount


def csrf_matches(csrf_hash: str | None, csrf: str | None) -> bool:
    """Whether ``csrf`` is the raw CSRF token of a session whose digest is ``csrf_hash``."""
    return bool(csrf_hash and isinstance(csrf, str) and csrf and hmac.compare_digest(csrf_hash, digest(csrf)))


def check_csrf(row: AuthToken, csrf: str | None) -> bool:
    return csrf_matches(row.csrf_hash, csrf)


def actor_of(session: Session, user: User, *, address: str | None = None, via: str = "cli") -> Actor:
    """The :class:`Actor` of a user: roles, jurisdiction path, agency (one query: every request
    through the API builds one)."""
    rows = session.execute(
        select(Jurisdiction.path, UserRole.role).select_from(User)
        .outerjoin(Jurisdiction, Jurisdiction.id == User.jurisdiction_id)
        .outerjoin(UserRole, UserRole.user_id == User.id).where(User.id == user.id)).all()
    roles = frozenset(role for _, role in rows if role is not None)
    path = rows[0][0] if rows else None
    return Actor(username=user.username, user_id=user.id, roles=roles, jurisdiction_path=path or NATIONAL_PATH,
                 jurisdiction_id=user.jurisdiction_id, agency_id=user.agency_id, address=address, via=via)


def resolve(session: Session, raw: str, *, kind: str, address: str | None = None, via: str = "api",
            totp_required_roles: frozenset[str] = frozenset()) -> tuple[Actor, AuthToken]:
    """The actor of a raw token of ``kind``; :class:`AuthenticationError` when it is unknown,
    expired, revoked, its user is disabled, or the user holds one of ``totp_required_roles``
    without a second factor (a role granted, or the factor removed, after the token was issued)."""
    found = session.execute(select(AuthToken, User).outerjoin(User, User.id == AuthToken.user_id)
                            .where(AuthToken.token_hash == digest(raw))).one_or_none()
    row, user = found if found is not None else (None, None)
    now = datetime.now(timezone.utc)
    if row is None or row.kind != kind:
        raise AuthenticationError("invalid token: log in again")
    if row.revoked_at is not None:
        raise AuthenticationError("this token was revoked: log in again")
    if _utc(row.expires_at) <= now:
        raise AuthenticationError("this token has expired: log in again")
    if user is None or not user.active:
        raise AuthenticationError("this account is disabled")
    actor = actor_of(session, user, address=address, via=via)
    needing = actor.roles & totp_required_roles
    if needing and not user.totp_secret:
        raise AuthenticationError(f"totp: the role {', '.join(sorted(needing))} needs a second factor outside "
                                  f"development; an administrator enrols it ('reunite user totp "
                                  f"{user.username}'), then log in again")
    return actor, row
