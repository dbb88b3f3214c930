"""The audit log: append-only, each entry chained to the previous one by HMAC-SHA256.

    mac_n = HMAC-SHA256(key, mac_{n-1} ‖ "\\n" ‖ canonical JSON of entry n),  mac_0 = "0" × 64

The canonical JSON covers seq, time (UTC, ISO 8601 with microseconds), actor, address,
action, entity, entity id and details, with sorted keys.  Appends lock the one-row
``audit_head`` (seq, mac) in the caller's transaction, so concurrent writers are serialised
and the entry commits or rolls back with the change it records.

:func:`verify` recomputes the chain: an edited entry fails its MAC, a deleted one leaves a
gap in ``seq`` and a broken link, an inserted one (without the key) fails its MAC, a
reordering breaks the links; the head row catches a deleted last entry.  Deleting the tail
*and* rewriting the head is only caught against a head recorded elsewhere
(``reunite audit head``, ``verify(expected_head=...)``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from reunite.errors import ReuniteError
from reunite.store.models_workflow import AuditEntry, AuditHead

GENESIS_MAC = "0" * 64


class AuditError(ReuniteError):
    """The audit log cannot be written (no head row: the database is not upgraded)."""


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at.astimezone(timezone.utc)


def canonical(*, seq: int, at: datetime, actor: str, address: str | None, action: str, entity: str | None,
              entity_id: str | None, details: str) -> str:
    """The text an entry's MAC covers (``details`` is the stored JSON text)."""
    return json.dumps({"seq": seq, "at": _utc(at).isoformat(timespec="microseconds"), "actor": actor,
                       "address": address, "action": action, "entity": entity, "entity_id": entity_id,
                       "details": details}, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def compute_mac(key: bytes, prev_mac: str, text: str) -> str:
    return hmac.new(key, (prev_mac + "\n" + text).encode("utf-8"), hashlib.sha256).hexdigest()


def _key(key: str | bytes) -> bytes:
    return key.encode("utf-8") if isinstance(key, str) else key


def append(session: Session, *, key: str | bytes, actor: str, action: str, entity: str | None = None,
           entity_id=None, details: dict | None = None, address: str | None = None,
           at: datetime | None = None) -> AuditEntry:
    """Append one entry in the caller's transaction (locks the head row until commit)."""
    head = session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one_or_none()
    if head is None:
        raise AuditError("the audit log has no head row: upgrade the database ('reunite db init' runs the migrations)")
    at = _utc(at or datetime.now(timezone.utc))
    seq = head.seq + 1
    details_text = json.dumps(details or {}, sort_keys=True, ensure_ascii=False, default=str)
    entity_id = None if entity_id is None else str(entity_id)
    text = canonical(seq=seq, at=at, actor=actor, address=address, action=action, entity=entity,
                     entity_id=entity_id, details=details_text)
    mac = compute_mac(_key(key), head.mac, text)
    entry = AuditEntry(seq=seq, at=at, actor=actor, address=address, action=action, entity=entity,
                       entity_id=entity_id, details=details_text, prev_mac=head.mac, mac=mac)
    session.add(entry)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=seq, mac=mac))
    session.flush()
    return entry


@dataclass
class Verification:
    ok: bool
    checked: int
    head_seq: int
    head_mac: str
    broken_seq: int | None = None  # the first entry whose link is broken (or the head)
    problem: str | None = None

    def describe(self) -> str:
        if self.ok:
            return f"audit chain intact: {self.checked:,} entries, head {self.head_seq}:{self.head_mac}"
        return f"audit chain BROKEN at entry {self.broken_seq}: {self.problem} ({self.checked:,} entries checked before it)"


def verify(session: Session, *, key: str | bytes, expected_head: tuple[int, str] | None = None,
           chunk: int = 10_000) -> Verification:
    """Recompute the chain from the first entry; report the first broken link."""
    key = _key(key)
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one_or_none()
    if head is None:
        return Verification(False, 0, 0, GENESIS_MAC, 0, "the head row is missing")
    prev_mac, expected_seq, checked = GENESIS_MAC, 1, 0
    last_id = -1
    while True:
        rows = session.execute(select(AuditEntry).where(AuditEntry.id > last_id).order_by(AuditEntry.id)
                               .limit(chunk)).scalars().all()
        if not rows:
            break
        for e in rows:
            last_id = e.id
            if e.seq != expected_seq:
                what = "missing" if e.seq > expected_seq else "out of order or repeated"
                return Verification(False, checked, head.seq, head.mac, expected_seq,
                                    f"expected entry {expected_seq}, found entry {e.seq} (entries {what})")
            if e.prev_mac != prev_mac:
                return Verification(False, checked, head.seq, head.mac, e.seq,
                                    "its link to the previous entry does not match (an entry before it was "
                                    "deleted, inserted or reordered)")
            text = canonical(seq=e.seq, at=e.at, actor=e.actor, address=e.address, action=e.action, entity=e.entity,
                             entity_id=e.entity_id, details=e.details)
            if not hmac.compare_digest(compute_mac(key, prev_mac, text), e.mac):
                why = ("the very first entry fails, so most likely REUNITE_AUDIT_KEY is not the key the log was "
                       "written with (set the right key and verify again); else the entry was edited"
                       if checked == 0 else "edited, or written without the key")
                return Verification(False, checked, head.seq, head.mac, e.seq,
                                    f"its MAC does not match its content ({why})")
            prev_mac, expected_seq, checked = e.mac, expected_seq + 1, checked + 1
    if head.seq != checked or head.mac != prev_mac:
        return Verification(False, checked, head.seq, head.mac, checked + 1 if head.seq > checked else head.seq,
                            f"the head says {head.seq} entries ending {head.mac[:12]}…, the log has {checked} "
                            f"ending {prev_mac[:12]}… (entries at the end were deleted, or the head was edited)")
    if expected_head is not None and (head.seq < expected_head[0] or (
            head.seq == expected_head[0] and head.mac != expected_head[1])):
        return Verification(False, checked, head.seq, head.mac, expected_head[0],
                            f"the head recorded elsewhere was {expected_head[0]}:{expected_head[1][:12]}…; "
                            f"the log now ends at {head.seq} (the end of the log was cut or rewritten)")
    if expected_head is not None and head.seq > expected_head[0]:
        row = session.execute(select(AuditEntry.mac).where(AuditEntry.seq == expected_head[0])).scalar_one_or_none()
        if expected_head[0] > 0 and row != expected_head[1]:
            return Verification(False, checked, head.seq, head.mac, expected_head[0],
                                "the entry at the head recorded elsewhere differs from it (the log was rewritten)")
    return Verification(True, checked, head.seq, head.mac)
