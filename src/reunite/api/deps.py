"""Dependencies of every route: the database, the settings, and the acting user.

``requires("report:read")`` authenticates the request (bearer token, or a cookie session
with its CSRF token on requests that change anything) and checks the permission; the
permission is kept on the dependency (``.permission``), so the permission matrix test reads
every route's permission from the app itself.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Depends, Request
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from reunite.errors import AuthenticationError, PermissionDenied
from reunite.security import tokens
from reunite.security.actor import Actor
from reunite.settings import Settings
from reunite.store.db import read_only

SESSION_COOKIE = "reunite_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_model(request: Request):
    """The database's genetic model (read once when the app starts)."""
    return request.app.state.model


def reader(request: Request) -> Iterator[Session]:
    """A session that only reads (on SQLite it never waits for a writer)."""
    with Session(read_only(request.app.state.engine)) as session:
        yield session


def client_address(request: Request) -> str:
    """The client's address: the connection's peer, or behind a proxy (REUNITE_BEHIND_PROXY)
    the last X-Forwarded-For entry, the one the proxy itself added (the entries before it are
    whatever the client sent, so they never count)."""
    if request.app.state.settings.behind_proxy:
        forwarded = [part.strip() for part in request.headers.get("x-forwarded-for", "").split(",")]
        if forwarded[-1]:
            return forwarded[-1][:64]
    return request.client.host if request.client and request.client.host else "unknown"


def current_actor(request: Request) -> Actor:
    """The user of a bearer token (``Authorization: Bearer ...``) or of a cookie session."""
    cached = getattr(request.state, "actor", None)
    if cached is not None:
        return cached
    address = client_address(request)
    needing_totp = request.app.state.settings.totp_required_roles
    header = request.headers.get("authorization", "")
    with Session(read_only(request.app.state.engine)) as session:
        if header:
            scheme, _, raw = header.partition(" ")
            if scheme.lower() != "bearer" or not raw.strip():
                raise AuthenticationError("Authorization: expected 'Bearer <token>'")
            actor, row = tokens.resolve(session, raw.strip(), kind="api", address=address, via="api",
                                        totp_required_roles=needing_totp)
        else:
            raw = request.cookies.get(SESSION_COOKIE)
            if not raw:
                raise AuthenticationError("not logged in: send 'Authorization: Bearer <token>' (POST /api/v1/auth/token) "
                                          "or log in (POST /api/v1/auth/login)")
            actor, row = tokens.resolve(session, raw, kind="session", address=address, via="web",
                                        totp_required_roles=needing_totp)
            if request.method not in SAFE_METHODS and not tokens.check_csrf(row, request.headers.get(CSRF_HEADER)):
                raise PermissionDenied(f"{CSRF_HEADER}: missing or wrong CSRF token (a cookie session must send the "
                                       "token it was given at login with every request that changes anything)")
    request.state.actor = actor
    request.state.token_id = row.id  # POST /auth/logout revokes it
    return actor


def requires(permission: str):
    """A dependency giving the actor after checking ``permission``."""

    def dependency(actor: Actor = Depends(current_actor)) -> Actor:
        actor.require(permission)
        return actor

    dependency.permission = permission  # read by the permission matrix test
    dependency.__name__ = f"requires_{permission.replace(':', '_')}"
    return dependency


def authenticated(actor: Actor = Depends(current_actor)) -> Actor:
    """Any logged-in user (their own inbox, their own tokens)."""
    return actor


authenticated.permission = None
