"""Rescue operations: when, where, which agency, the suspects' case number; the children
rescued are unidentified persons registered with the operation's code.

The place's detail, the suspects' case number and the notes are shown only in the owning
jurisdiction to users with ``personal:read`` (audited ``operation.read_personal``): they may
name people.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from reunite.cases.common import Page, audit, keyset_page
from reunite.cases.places import code_of, place_label, resolve_place
from reunite.cases.records import (
    MAX_CODE,
    agency_code,
    check_past,
    clean,
    date_range_filter,
    iso,
    path_code,
    owner,
    scope_filter,
)
from reunite.errors import Conflict, NotFound, ReuniteError
from reunite.security.actor import Actor
from reunite.store.models import Unidentified
from reunite.store.models_workflow import Jurisdiction, RescueOperation


def create_operation(session: Session, *, actor: Actor, code: str, name: str | None = None,
                     operation_date: date | None = None, place_code: str | None = None,
                     place_detail: str | None = None, jurisdiction_code: str | None = None,
                     agency_code_: str | None = None, suspects_case_number: str | None = None,
                     notes: str | None = None) -> RescueOperation:
    """Register a rescue operation (owned by the actor's jurisdiction unless another one in
    their subtree is named)."""
    actor.require("operation:write")
    code = clean(code, what="code", max_length=MAX_CODE, required=True)
    if session.execute(select(RescueOperation.id).where(RescueOperation.code == code)).first():
        raise Conflict(f"code: a rescue operation {code!r} already exists")
    check_past(operation_date, what="operation_date")
    where, agency = owner(session, actor, jurisdiction_code=jurisdiction_code, agency_code=agency_code_,
                          what="rescue operation")
    place = resolve_place(session, place_code, actor=actor, what="place_code")
    row = RescueOperation(code=code, name=clean(name, what="name"), operation_date=operation_date,
                          place_id=place.id if place else None, place_detail=clean(place_detail, what="place_detail"),
                          jurisdiction_id=where.id, agency_id=agency.id if agency else None,
                          suspects_case_number=clean(suspects_case_number, what="suspects_case_number",
                                                     max_length=MAX_CODE),
                          notes=clean(notes, what="notes", max_length=10_000), created_by=actor.username)
    session.add(row)
    session.flush()
    audit(session, actor, "operation.create", entity="operation", entity_id=code,
          details={"jurisdiction": where.code, "agency": agency.code if agency else None,
                   "place": place.code if place else None})
    return row


def _operation(session: Session, code: str) -> tuple[RescueOperation, str]:
    code = clean(code, what="code", max_length=MAX_CODE, required=True)
    row = session.execute(select(RescueOperation).where(RescueOperation.code == code)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"code: no rescue operation {code!r}")
    path = session.execute(select(Jurisdiction.path).where(Jurisdiction.id == row.jurisdiction_id)).scalar_one()
    return row, path


def _restricted(session: Session, op: RescueOperation, path: str) -> dict:
    return {"code": op.code, "jurisdiction": path_code(path),
            "agency": agency_code(session, op.agency_id), "restricted": True}


def _view(session: Session, op: RescueOperation, path: str, actor: Actor) -> dict:
    out = _restricted(session, op, path)
    count = session.execute(select(func.count(Unidentified.id)).where(Unidentified.operation_id == op.id)).scalar()
    out.update(restricted=False, name=op.name, operation_date=iso(op.operation_date),
               place=code_of(session, op.place_id), place_name=place_label(session, op.place_id),
               place_name_zh=place_label(session, op.place_id, language="zh_CN"),
               created_by=op.created_by, created_at=iso(op.created_at), children_count=count)
    if actor.sees_personal(path):
        out.update(place_detail=op.place_detail, suspects_case_number=op.suspects_case_number, notes=op.notes)
    return out


def show_operation(session: Session, code: str, *, actor: Actor) -> dict:
    """Operation ``code`` with the children rescued (codes, sex, category, status)."""
    actor.require("operation:read")
    op, path = _operation(session, code)
    if not actor.in_scope(path):
        return _restricted(session, op, path)
    out = _view(session, op, path, actor)
    out["children"] = [{"code": u.code, "sex": u.sex, "category": u.category, "status": u.status,
                        "estimated_birth_date": iso(u.estimated_birth_date), "placement_kind": u.placement_kind}
                       for u in session.execute(select(Unidentified).where(Unidentified.operation_id == op.id)
                                                .order_by(Unidentified.code)).scalars()]
    if actor.sees_personal(path):
        audit(session, actor, "operation.read_personal", entity="operation", entity_id=op.code)
    return out


def list_operations(session: Session, *, actor: Actor, jurisdiction_code: str | None = None,
                    date_from: date | None = None, date_to: date | None = None, cursor: str | None = None,
                    limit: int | None = None) -> Page:
    """Rescue operations, newest first (out-of-scope ones with code, agency and jurisdiction only)."""
    actor.require("operation:read")
    q = select(RescueOperation, Jurisdiction.path).join(Jurisdiction, Jurisdiction.id == RescueOperation.jurisdiction_id)
    q = q.where(*scope_filter(session, Jurisdiction.path, jurisdiction_code))
    dated = date_range_filter(RescueOperation.operation_date, date_from, date_to, what="date")
    if dated:
        q = q.where(and_(*dated, Jurisdiction.path.startswith(actor.jurisdiction_path, autoescape=True)))
    page = keyset_page(session, q, RescueOperation.id, cursor=cursor, limit=limit, descending=True)
    items = []
    for op, path in page.items:
        if not actor.in_scope(path):
            items.append(_restricted(session, op, path))
            continue
        view = _view(session, op, path, actor)
        for key in ("notes", "suspects_case_number", "place_detail"):  # show gives them (audited)
            view.pop(key, None)
        items.append(view)
    page.items = items
    return page


UNSET = object()


def _op_data(session: Session, op: RescueOperation) -> dict:
    return {"name": op.name, "operation_date": iso(op.operation_date), "place": code_of(session, op.place_id),
            "place_detail": op.place_detail, "agency": agency_code(session, op.agency_id),
            "suspects_case_number": op.suspects_case_number, "notes": op.notes}


def update_operation(session: Session, code: str, *, actor: Actor, reason: str, name=UNSET, operation_date=UNSET,
                     place_code=UNSET, place_detail=UNSET, agency_code_=UNSET, suspects_case_number=UNSET,
                     notes=UNSET) -> RescueOperation:
    """Change rescue operation ``code`` (only the arguments given), inside the actor's
    jurisdiction, with a reason; the previous version goes to record_versions (entity
    'operation'; the personal fields as '(set)' only), audited ``operation.update``."""
    from reunite.cases.common import agency_by_code
    from reunite.cases.records import require_scope
    from reunite.store.corrections import _record

    actor.require("operation:write")
    why = clean(reason, what="reason", required=True)
    op, path = _operation(session, code)
    require_scope(actor, path, what=f"rescue operation {op.code!r}")
    before = _op_data(session, op)
    if name is not UNSET:
        op.name = clean(name, what="name")
    if operation_date is not UNSET:
        op.operation_date = check_past(operation_date, what="operation_date")
    if place_code is not UNSET:
        place = resolve_place(session, place_code, actor=actor, what="place_code")
        op.place_id = place.id if place else None
    if place_detail is not UNSET:
        op.place_detail = clean(place_detail, what="place_detail")
    if agency_code_ is not UNSET:
        op.agency_id = agency_by_code(session, agency_code_).id if agency_code_ else None
    if suspects_case_number is not UNSET:
        op.suspects_case_number = clean(suspects_case_number, what="suspects_case_number", max_length=MAX_CODE)
    if notes is not UNSET:
        op.notes = clean(notes, what="notes", max_length=10_000)
    session.flush()
    after = _op_data(session, op)
    changed = [k for k in after if after[k] != before[k]]
    if not changed:
        raise ReuniteError(f"code: nothing to change for rescue operation {op.code!r}")
    personal = {"place_detail", "suspects_case_number", "notes"}
    changes = [f"{k}: changed" if k in personal else f"{k}: {before[k] or '-'} -> {after[k] or '-'}"
               for k in changed]

    def hidden(data: dict) -> dict:
        return {**data, **{k: ("(set)" if data[k] else None) for k in personal}}

    _record(session, entity="operation", row=op, action="details", before=hidden(before), after=hidden(after),
            changes=changes, changed_by=actor.username, reason=why)
    audit(session, actor, "operation.update", entity="operation", entity_id=op.code,
          details={"changed": changed, "reason": why})
    return op


def operation_form(session: Session, code: str, *, actor: Actor) -> dict:
    """The editable fields of operation ``code`` as they are now (for an edit form): only in
    the actor's jurisdiction, with ``operation:write`` (the personal ones audited)."""
    from reunite.cases.records import require_scope

    actor.require("operation:write")
    op, path = _operation(session, code)
    require_scope(actor, path, what=f"rescue operation {op.code!r}")
    out = {"code": op.code, "jurisdiction": path_code(path), **_op_data(session, op),
           "personal": actor.sees_personal(path)}
    if not out["personal"]:
        for key in ("place_detail", "suspects_case_number", "notes"):
            out[key] = None
    else:
        audit(session, actor, "operation.read_personal", entity="operation", entity_id=op.code)
    return out
