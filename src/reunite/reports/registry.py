"""The register of issued PDF reports: each issued file's SHA-256, size, kind, subject,
language, who issued it and when, in ``issued_reports`` and in the audit log
(``document.issue``, with the hash; the row keeps the entry's ``seq``).

A report is made once and its bytes hashed as they are served: :func:`issue_rendered`
reserves the report's number (the row's id, printed in the header), renders the document
with it, and registers the hash of exactly those bytes.  :func:`verify` answers whether a
file is an unaltered issued report: its hash is registered (and the audit entry of its
issue records the same hash); otherwise it says whether the file claims to be an issued
report (its number is in the PDF's metadata) and so was altered, or is unknown.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from reunite.cases.common import Page, audit, check_limit, decode_cursor, encode_cursor
from reunite.errors import Conflict, ReuniteError
from reunite.i18n import N_
from reunite.security.actor import Actor
from reunite.store.models_workflow import AuditEntry, AuditHead, IssuedReport

KINDS = ("kinship", "operation", "statistics")
#: the kinds' names as shown (translated where shown)
KIND_LABELS = {"kinship": N_("Kinship report"), "operation": N_("Rescue operation summary"),
               "statistics": N_("Statistics report")}
LANGUAGES = ("en", "zh_CN")
_NUMBER = re.compile(rb"reunite-report-number:(\d{1,12})")


def sha256_of(pdf_bytes: bytes) -> str:
    return hashlib.sha256(pdf_bytes).hexdigest()


def _check(kind: str, subject: str, language: str) -> None:
    if kind not in KINDS:
        raise ReuniteError(f"kind: expected one of {', '.join(KINDS)}, found {kind!r}")
    if language not in LANGUAGES:
        raise ReuniteError(f"language: expected one of {', '.join(LANGUAGES)}, found {language!r}")
    if not subject or len(subject) > 128:
        raise ReuniteError(f"subject: expected 1 to 128 characters, found {len(subject or '')}")


def _register(session: Session, row: IssuedReport, actor: Actor, pdf_bytes: bytes) -> IssuedReport:
    digest = sha256_of(pdf_bytes)
    same = session.execute(select(IssuedReport).where(IssuedReport.sha256 == digest,
                                                      IssuedReport.id != row.id)).scalar_one_or_none()
    if same is not None:
        raise Conflict(f"pdf: this file is already registered as report {same.id} ({same.kind}, "
                       f"{same.subject}, issued by {same.issued_by})")
    row.sha256, row.size_bytes = digest, len(pdf_bytes)
    session.flush()
    audit(session, actor, "document.issue", entity="document", entity_id=row.id,
          details={"kind": row.kind, "subject": row.subject, "language": row.language, "sha256": digest,
                   "size_bytes": row.size_bytes})
    row.audit_seq = session.execute(select(AuditHead.seq).where(AuditHead.id == 1)).scalar_one()
    session.flush()
    return row


def _reserve(session: Session, *, actor: Actor, kind: str, subject: str, language: str,
             issued_at: datetime | None) -> IssuedReport:
    actor.require("document:issue")
    _check(kind, subject, language)
    row = IssuedReport(kind=kind, subject=subject, language=language,
                       sha256="pending-" + uuid.uuid4().hex, size_bytes=0, issued_by=actor.username,
                       issued_at=issued_at or datetime.now(timezone.utc))
    session.add(row)
    session.flush()
    return row


def issue(session: Session, *, actor: Actor, kind: str, subject: str, language: str,
          pdf_bytes: bytes) -> IssuedReport:
    """Register ``pdf_bytes`` as an issued report (``document:issue``); audited
    ``document.issue`` with the hash.

    Raises
    ------
    Conflict
        the same bytes are already registered.
    """
    row = _reserve(session, actor=actor, kind=kind, subject=subject, language=language, issued_at=None)
    return _register(session, row, actor, pdf_bytes)


def issue_rendered(session: Session, *, actor: Actor, kind: str, subject: str, language: str,
                   render: Callable[[int, datetime], bytes]) -> tuple[IssuedReport, bytes]:
    """Reserve the next report number, make the document with it (``render(number,
    issued_at)``, called once) and register the bytes made: ``(row, pdf_bytes)``."""
    row = _reserve(session, actor=actor, kind=kind, subject=subject, language=language,
                   issued_at=datetime.now(timezone.utc).replace(microsecond=0))
    pdf_bytes = render(row.id, row.issued_at)
    return _register(session, row, actor, pdf_bytes), pdf_bytes


@dataclass
class Verification:
    """What :func:`verify` found: ``issued`` is True only for an unaltered issued report."""

    issued: bool
    sha256: str
    size_bytes: int
    status: str  # issued | altered | unknown | not_pdf | audit_mismatch
    report: dict | None = None  # the registered report (issued), or the one the file claims to be

    def describe(self) -> str:
        r = self.report or {}
        if self.status == "issued":
            return (f"an unaltered issued report: number {r['id']}, {r['kind']} report of {r['subject']} "
                    f"({r['language']}), issued by {r['issued_by']} at {r['issued_at']} (audit entry "
                    f"{r['audit_seq']})")
        if self.status == "audit_mismatch":
            return (f"NOT verified: the file is registered as report {r['id']}, but the audit entry of its issue "
                    "does not record this hash (the register was changed outside reunite)")
        if self.status == "altered":
            return (f"NOT an issued report: the file says it is report number {r['id']} ({r['kind']}, "
                    f"{r['subject']}, issued by {r['issued_by']}), but its bytes differ from the issued file "
                    "(it was altered, or re-saved by another program)")
        if self.status == "not_pdf":
            return "NOT an issued report: the file is not a PDF"
        return "NOT an issued report: no report with this file's SHA-256 was issued by this reunite database"


def report_dict(row: IssuedReport) -> dict:
    at = row.issued_at
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return {"id": row.id, "kind": row.kind, "subject": row.subject, "language": row.language,
            "sha256": row.sha256, "size_bytes": row.size_bytes, "issued_by": row.issued_by,
            "issued_at": at.isoformat() if at else None, "audit_seq": row.audit_seq}


def _audit_records(session: Session, row: IssuedReport) -> bool:
    if row.audit_seq is None:
        return False
    entry = session.execute(select(AuditEntry).where(AuditEntry.seq == row.audit_seq)).scalar_one_or_none()
    if entry is None or entry.action != "document.issue" or entry.entity_id != str(row.id):
        return False
    try:
        return json.loads(entry.details or "{}").get("sha256") == row.sha256
    except ValueError:
        return False


def verify(session: Session, pdf_bytes: bytes) -> Verification:
    """Whether ``pdf_bytes`` is an unaltered issued report (needs no permission: it tells no
    more than the file itself; the register's who and when are shown)."""
    digest = sha256_of(pdf_bytes)
    size = len(pdf_bytes)
    row = session.execute(select(IssuedReport).where(IssuedReport.sha256 == digest)).scalar_one_or_none()
    if row is not None:
        status = "issued" if _audit_records(session, row) else "audit_mismatch"
        return Verification(status == "issued", digest, size, status, report_dict(row))
    if not pdf_bytes.startswith(b"%PDF"):
        return Verification(False, digest, size, "not_pdf")
    m = _NUMBER.search(pdf_bytes)
    if m:
        claimed = session.get(IssuedReport, int(m.group(1)))
        if claimed is not None:
            return Verification(False, digest, size, "altered", report_dict(claimed))
    return Verification(False, digest, size, "unknown")


def list_issued(session: Session, *, actor: Actor, kind: str | None = None, cursor: str | None = None,
                limit: int | None = None) -> Page:
    """Issued reports, newest first: every report for a national user or an auditor, else the
    ones the actor issued and the ones whose subject is in the actor's jurisdiction
    (a candidate with a side there, an operation owned there)."""
    if not (actor.can("document:issue") or actor.can("audit:read")):
        actor.require("document:issue")
    if kind is not None and kind not in KINDS:
        raise ReuniteError(f"kind: expected one of {', '.join(KINDS)}, found {kind!r}")
    limit = check_limit(limit)
    after = decode_cursor(cursor)
    last = after.get("id") if after else None
    if after is not None and (not isinstance(last, int) or isinstance(last, bool)):
        raise ReuniteError("cursor: not a cursor this server gave; start again without it")
    everything = actor.can("audit:read") or actor.jurisdiction_path == "CN/"
    items: list[dict] = []
    more = False
    while True:
        q = select(IssuedReport).where(~IssuedReport.sha256.startswith("pending-"))
        if kind:
            q = q.where(IssuedReport.kind == kind)
        if last is not None:
            q = q.where(IssuedReport.id < last)
        rows = session.execute(q.order_by(IssuedReport.id.desc()).limit(200)).scalars().all()
        for row in rows:
            last = row.id
            if everything or row.issued_by == actor.username or _subject_in_scope(session, actor, row):
                if len(items) == limit:
                    more = True
                    break
                items.append(report_dict(row))
        if more or len(rows) < 200:
            break
    next_cursor = encode_cursor({"id": items[-1]["id"]}) if more and items else None
    return Page(items, next_cursor)


def _subject_in_scope(session: Session, actor: Actor, row: IssuedReport) -> bool:
    from reunite.cases.common import jurisdiction_path
    from reunite.store.models_workflow import RescueOperation

    if row.kind == "kinship" and row.subject.isdigit():
        from reunite.cases.review import sides
        from reunite.store.models import MatchCandidate

        cand = session.get(MatchCandidate, int(row.subject))
        if cand is None:
            return False
        s = sides(session, cand)
        return actor.in_scope(s.family_path) or actor.in_scope(s.child_path)
    if row.kind == "operation":
        op = session.execute(select(RescueOperation).where(RescueOperation.code == row.subject)).scalar_one_or_none()
        return op is not None and actor.in_scope(jurisdiction_path(session, op.jurisdiction_id))
    return False
