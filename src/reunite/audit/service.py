"""Reading and checking the audit log: list entries (auditors), verify the chain, its head."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from reunite.audit.chain import Verification, verify
from reunite.cases.common import Page, keyset_page
from reunite.errors import ReuniteError
from reunite.security.actor import Actor
from reunite.store.models_workflow import AuditEntry, AuditHead

_HEAD = re.compile(r"^(\d{1,18}):([0-9a-f]{64})$")


@dataclass
class EntryView:
    seq: int
    at: datetime
    actor: str
    address: str | None
    action: str
    entity: str | None
    entity_id: str | None
    details: dict
    mac: str


def _view(e: AuditEntry) -> EntryView:
    try:
        details = json.loads(e.details or "{}")
    except ValueError:
        details = {"unreadable": e.details}
    at = e.at.replace(tzinfo=timezone.utc) if e.at.tzinfo is None else e.at
    return EntryView(e.seq, at, e.actor, e.address, e.action, e.entity, e.entity_id, details, e.mac)


def parse_head(text: str) -> tuple[int, str]:
    """``SEQ:MAC`` as printed by ``reunite audit head``."""
    m = _HEAD.match((text or "").strip().lower())
    if not m:
        raise ReuniteError(f"expect_head: expected SEQ:MAC (a number, ':', 64 hex digits) as printed by "
                           f"'reunite audit head', found {text[:80]!r}")
    return int(m.group(1)), m.group(2)


def _day_start(value: date | datetime, *, end: bool = False) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    start = datetime.combine(value, time(0), tzinfo=timezone.utc)
    return start + timedelta(days=1) if end else start


def list_entries(session: Session, *, actor: Actor, by: str | None = None, action: str | None = None,
                 entity: str | None = None, entity_id: str | None = None, since: date | datetime | None = None,
                 until: date | datetime | None = None, cursor: str | None = None, limit: int | None = None,
                 newest_first: bool = True) -> Page:
    """A page of :class:`EntryView`; ``action`` ending in ``*`` is a prefix (``user.*``);
    ``until`` as a date includes that whole day."""
    actor.require("audit:read")
    query = select(AuditEntry)
    if by:
        query = query.where(AuditEntry.actor == by)
    if action:
        if action.endswith("*"):
            query = query.where(AuditEntry.action.startswith(action[:-1], autoescape=True))
        else:
            query = query.where(AuditEntry.action == action)
    if entity:
        query = query.where(AuditEntry.entity == entity)
    if entity_id:
        query = query.where(AuditEntry.entity_id == entity_id)
    if since is not None:
        query = query.where(AuditEntry.at >= _day_start(since))
    if until is not None:
        query = query.where(AuditEntry.at < _day_start(until, end=True) if not isinstance(until, datetime)
                            else AuditEntry.at <= _day_start(until))
    if since is not None and until is not None and _day_start(since) > _day_start(until, end=True):
        raise ReuniteError("until: the end of the period is before its start")
    page = keyset_page(session, query, AuditEntry.id, cursor=cursor, limit=limit, descending=newest_first)
    page.items = [_view(e) for e in page.items]
    return page


def verify_chain(session: Session, *, actor: Actor, key: str | bytes,
                 expected_head: tuple[int, str] | str | None = None) -> Verification:
    """Recompute the chain (``audit:verify``); ``expected_head`` is a head recorded elsewhere."""
    actor.require("audit:verify")
    if isinstance(expected_head, str):
        expected_head = parse_head(expected_head)
    return verify(session, key=key, expected_head=expected_head)


def chain_head(session: Session, *, actor: Actor) -> tuple[int, str]:
    """``(seq, mac)`` of the last entry: print it and keep it elsewhere."""
    actor.require("audit:verify")
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one_or_none()
    if head is None:
        raise ReuniteError("the audit log has no head row: upgrade the database ('reunite db init')")
    return head.seq, head.mac
