"""A missing-child report as its page shows it: the report (:func:`reunite.cases.reports.show_report`),
its missing place named in English and Chinese, the candidates of its family, and its history
(the report's audited steps and the versions of its record and pedigree).

Nothing here is shown beyond what :func:`show_report` allows: a report of another
jurisdiction comes back restricted, without candidates or history.
"""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from reunite.cases.reports import _report, show_report
from reunite.security.actor import Actor
from reunite.store.models import Family, RecordVersion
from reunite.store.models_workflow import AuditEntry, Jurisdiction

#: the audited steps a report's history shows (reads of names are left out)
HISTORY_ACTIONS = ("report.create", "report.update", "report.status", "report.close", "report.reference_add",
                   "report.reference_remove", "consent.withdraw")


def place_names(session: Session, code: str | None) -> dict | None:
    """A place's code with its names from the county up, in English and Chinese:
    ``{"code": "513429", "en": "Butuo, Liangshan, Sichuan", "zh": "四川省凉山彝族自治州布拖县"}``."""
    if not code:
        return None
    row = session.execute(select(Jurisdiction).where(Jurisdiction.code == code)).scalar_one_or_none()
    if row is None:
        return {"code": code, "en": code, "zh": code}
    codes = [c for c in row.path.strip("/").split("/")[1:]]
    rows = {j.code: j for j in session.execute(select(Jurisdiction).where(Jurisdiction.code.in_(codes))).scalars()}
    chain = [rows[c] for c in codes if c in rows]
    return {"code": code, "en": ", ".join(j.name for j in reversed(chain)),
            "zh": "".join(j.name_zh or j.name for j in chain)}


def report_history(session: Session, report_code: str, family_id: int | None) -> list[dict]:
    """The report's audited steps and record versions, oldest first: ``{"at", "by", "action",
    "reason", "changes"}`` (codes and field names only; names are never in either)."""
    out = []
    for e in session.execute(select(AuditEntry).where(AuditEntry.entity == "report",
                                                      AuditEntry.entity_id == report_code,
                                                      AuditEntry.action.in_(HISTORY_ACTIONS))
                             .order_by(AuditEntry.seq)).scalars():
        try:
            details = json.loads(e.details or "{}")
        except ValueError:
            details = {}
        changes = []
        if e.action == "report.update":
            changes = [f"{k}: {details.get('old', {}).get(k) or '-'} → {details.get('new', {}).get(k) or '-'}"
                       for k in details.get("changed", [])]
        elif e.action in ("report.reference_add", "report.reference_remove", "consent.withdraw"):
            changes = [f"{details.get('person') or ''} {details.get('relation') or ''} {details.get('sample') or ''}"
                       .strip()]
        elif e.action in ("report.status", "report.close"):
            changes = [f"{details.get('from')} → {details.get('to')}"]
        out.append({"at": e.at, "by": e.actor, "action": e.action, "reason": details.get("reason"),
                    "changes": [c for c in changes if c]})
    if family_id is not None:
        family = session.get(Family, family_id)
        for rv in session.execute(select(RecordVersion).where(RecordVersion.entity == "family",
                                                              RecordVersion.entity_id == family_id)
                                  .order_by(RecordVersion.version)).scalars():
            if rv.action == "pedigree":
                continue  # the reference steps above say the same
            changes = json.loads(rv.data).get("changes", [])
            out.append({"at": rv.changed_at, "by": rv.changed_by, "action": f"family.{rv.action}",
                        "reason": rv.reason, "changes": [f"{family.code}: {c}" for c in changes]})
    return sorted(out, key=lambda h: (h["at"] is None, _naive(h["at"])))


def _naive(at):
    return at.replace(tzinfo=None) if at is not None and at.tzinfo is not None else at


def report_overview(session: Session, code: str, *, actor: Actor) -> dict:
    """Everything the report page shows: ``report`` (as :func:`show_report` gives it; the read
    of names audited there), ``place`` and ``jurisdiction`` (named by :func:`place_names`), ``candidates`` (the family's,
    highest LR first, for users with ``candidate:read``; else None) and ``history``.  Needs
    ``report:read``; a report of another jurisdiction has neither candidates nor history."""
    from reunite.cases.candidates import list_candidates

    report = show_report(session, code, actor=actor)
    out = {"report": report, "place": None, "jurisdiction": place_names(session, report.get("jurisdiction")),
           "candidates": None, "more_candidates": False, "history": []}
    if report.get("restricted"):
        return out
    out["place"] = place_names(session, report.get("missing_place"))
    if actor.can("candidate:read"):
        page = list_candidates(session, actor=actor, report=report["code"], limit=50)
        out["candidates"], out["more_candidates"] = page.items, page.next_cursor is not None
    row = _report(session, report["code"])
    out["history"] = report_history(session, row.code, row.family_id)
    return out
