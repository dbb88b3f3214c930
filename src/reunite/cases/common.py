"""What every workflow service shares: the audit call, jurisdictions by code, cursor pages."""

from __future__ import annotations

import base64
import binascii
import json
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from reunite.audit.chain import append
from reunite.errors import NotFound, ReuniteError
from reunite.security.actor import Actor
from reunite.settings import get_settings
from reunite.store.models_workflow import Agency, Jurisdiction, User

#: the audit key of the server handling the current request (set by the API for each request
#: from the settings it was created with); elsewhere the key of the environment's settings
AUDIT_KEY: ContextVar[str | None] = ContextVar("reunite_audit_key", default=None)

MAX_PAGE = 500
DEFAULT_PAGE = 50


def audit(session: Session, actor: Actor, action: str, *, entity: str | None = None, entity_id=None,
          details: dict | None = None) -> None:
    """Record ``action`` by ``actor`` in the audit chain, in the caller's transaction.

    Actions are ``<entity>.<verb>``: ``report.create``, ``report.read_personal``,
    ``candidate.confirm``, ``consent.withdraw``, ``user.login_failed``, ...
    """
    append(session, key=AUDIT_KEY.get() or get_settings().audit_key, actor=actor.username, action=action, entity=entity,
           entity_id=entity_id, details={"via": actor.via, **(details or {})}, address=actor.address)


def jurisdiction_by_code(session: Session, code: str, *, what: str = "jurisdiction") -> Jurisdiction:
    row = session.execute(select(Jurisdiction).where(Jurisdiction.code == code)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"{what}: no jurisdiction with code {code!r}; the known ones: 'reunite jurisdiction list' "
                       "(GET /api/v1/jurisdictions); an administrator adds one with 'reunite jurisdiction add CODE "
                       "NAME --parent CODE' (POST /api/v1/jurisdictions)")
    return row


def jurisdiction_path(session: Session, jurisdiction_id: int | None) -> str | None:
    if jurisdiction_id is None:
        return None
    return session.execute(select(Jurisdiction.path).where(Jurisdiction.id == jurisdiction_id)).scalar_one_or_none()


def agency_by_code(session: Session, code: str) -> Agency:
    row = session.execute(select(Agency).where(Agency.code == code)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"agency: no agency with code {code!r}")
    return row


def user_by_name(session: Session, username: str, *, what: str = "user") -> User:
    row = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"{what}: no user {username!r}")
    return row


@dataclass
class Page:
    """One page of a list: ``items`` and the cursor of the next page (None at the end)."""

    items: list[Any]
    next_cursor: str | None = None
    extra: dict = field(default_factory=dict)


def encode_cursor(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict | None:
    """The position a cursor stands for; a malformed cursor is an error naming ``cursor``."""
    if not cursor:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        value = None
    if not isinstance(value, dict):
        raise ReuniteError(f"cursor: not a cursor this server gave ({cursor[:40]!r}); start again without it")
    return value


def check_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_PAGE
    if not 1 <= limit <= MAX_PAGE:
        raise ReuniteError(f"limit: expected 1 to {MAX_PAGE}, found {limit}")
    return limit


def keyset_page(session: Session, query: Select, id_column, *, cursor: str | None, limit: int | None,
                descending: bool = False) -> Page:
    """A page of ``query`` ordered by ``id_column`` (unique), after the cursor's id."""
    limit = check_limit(limit)
    after = decode_cursor(cursor)
    if after is not None:
        last = after.get("id")
        if not isinstance(last, int) or isinstance(last, bool) or not -2**62 < last < 2**62:
            raise ReuniteError("cursor: not a cursor this server gave; start again without it")
        query = query.where(id_column < last if descending else id_column > last)
    query = query.order_by(id_column.desc() if descending else id_column).limit(limit + 1)
    rows = session.execute(query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    items = [r[0] if len(r) == 1 else r for r in rows]
    next_cursor = None
    if more:
        last_row = rows[-1]
        last_id = getattr(last_row[0], "id", None) if len(last_row) >= 1 else None
        next_cursor = encode_cursor({"id": last_id if last_id is not None else last_row[0]})
    return Page(items, next_cursor)


def read_then_audit(engine, actor, compute):
    """``compute(session) -> (result, entry)`` in a read-only session, then ``entry``
    (``((action,), keywords)`` for :func:`audit`, or None: nothing to record) audited in a
    short write transaction before the result is returned.  On SQLite a write transaction
    holds the database's write lock from its start, so a long computation must not run in one."""
    from reunite.store.db import read_only, write_transaction

    with Session(read_only(engine)) as session:
        result, entry = compute(session)
    if entry is not None:
        write_transaction(engine, lambda s: audit(s, actor, *entry[0], **entry[1]))
    return result
