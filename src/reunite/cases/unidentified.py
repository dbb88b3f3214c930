"""Unidentified persons registered one by one: a rescued child, a child of unclear origin, a
begging child, a child of a late birth-registration check.

Registering claims the person's sample (imported with ``reunite import genotypes``) and
records a pending search against every family, in one transaction.  Placement and details
change with a reason; the previous version is kept in ``record_versions`` (entity
'unidentified', action 'details').  A given name and the placement's name are personal
(``person_details`` subject 'unidentified'; shown only in the owning jurisdiction, audited as
``unidentified.read_personal``).  Files keep going through ``reunite import unidentified``.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import and_, func, select, true
from sqlalchemy.orm import Session

from reunite.cases.common import Page, audit, keyset_page
from reunite.cases.places import code_of, place_label, resolve_place
from reunite.cases.records import (
    MAX_CODE,
    MAX_NAME,
    agency_code,
    check_past,
    check_sex,
    claim,
    clean,
    date_range_filter,
    details_of,
    iso,
    path_code,
    owner,
    require_scope,
    sample_for,
    scope_filter,
)
from reunite.errors import Conflict, NotFound, ReuniteError
from reunite.security.actor import Actor
from reunite.store.models import PersonDetail, RecordVersion, Sample, Unidentified
from reunite.store.models_workflow import (
    PLACEMENT_KINDS,
    UNIDENTIFIED_CATEGORIES,
    UNIDENTIFIED_STATUSES,
    Jurisdiction,
    MissingReport,
    RescueOperation,
)

MAX_AGE_YEARS = 120


def _choice(value, options, *, what: str) -> str | None:
    if value is None or value == "":
        return None
    if value not in options:
        raise ReuniteError(f"{what}: expected one of {', '.join(options)}, found {value!r}")
    return value


def _birth(estimated_birth_date: date | None, estimated_age: float | None, found_date: date | None) -> date | None:
    if estimated_birth_date is not None and estimated_age is not None:
        raise ReuniteError("estimated_age: give the estimated birth date or the estimated age, not both")
    if estimated_age is None:
        return check_past(estimated_birth_date, what="estimated_birth_date")
    if not 0 <= estimated_age <= MAX_AGE_YEARS:
        raise ReuniteError(f"estimated_age: expected 0 to {MAX_AGE_YEARS} years, found {estimated_age}")
    base = found_date or date.today()
    try:
        return base - timedelta(days=round(estimated_age * 365.25))
    except OverflowError:
        raise ReuniteError(f"estimated_age: {estimated_age} years before {base} is before the year 1; check "
                           "the age and the found date") from None


def operation_by_code(session: Session, code: str | None) -> RescueOperation | None:
    if not code:
        return None
    row = session.execute(select(RescueOperation).where(RescueOperation.code == code)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"operation_code: no rescue operation {code!r} ('reunite operation add' or "
                       "POST /api/v1/operations registers one)")
    return row


def create_unidentified(session: Session, *, actor: Actor, code: str, sample_code: str, sex: str = "U",
                        category: str = "rescued_child", found_date: date | None = None,
                        found_place_code: str | None = None, found_place_detail: str | None = None,
                        estimated_birth_date: date | None = None, estimated_age: float | None = None,
                        placement_kind: str | None = None, placement_name: str | None = None,
                        jurisdiction_code: str | None = None, agency_code_: str | None = None,
                        operation_code: str | None = None, given_name: str | None = None,
                        permission: str = "unidentified:write", search: bool = True) -> Unidentified:
    """Register an unidentified person with their sample; the search against every family is
    recorded as pending in the same transaction (run it after the commit).  ``permission`` and
    ``search``: for the registration check, which registers its child itself."""
    from reunite.search.service import record_pending

    actor.require(permission)
    code = clean(code, what="code", max_length=MAX_CODE, required=True)
    if session.execute(select(Unidentified.id).where(Unidentified.code == code)).first():
        raise Conflict(f"code: an unidentified person {code!r} already exists")
    sex = check_sex(sex, what="sex")
    category = _choice(category, UNIDENTIFIED_CATEGORIES, what="category") or "rescued_child"
    placement_kind = _choice(placement_kind, PLACEMENT_KINDS, what="placement_kind")
    check_past(found_date, what="found_date")
    birth = _birth(estimated_birth_date, estimated_age, found_date)
    if birth and found_date and found_date < birth:
        raise ReuniteError(f"found_date: {found_date} is before the estimated birth date {birth}")
    where, agency = owner(session, actor, jurisdiction_code=jurisdiction_code, agency_code=agency_code_,
                          what="unidentified person")
    place = resolve_place(session, found_place_code, actor=actor, what="found_place_code")
    operation = operation_by_code(session, clean(operation_code, what="operation_code", max_length=MAX_CODE))
    sample = sample_for(session, sample_code, what="sample_code", sex=sex)
    detail = clean(found_place_detail, what="found_place_detail")
    label = place_label(session, place.id) if place else None
    claim(session, [sample], "unidentified", where=f"unidentified person {code}")
    row = Unidentified(code=code, sample_id=sample.id, sample_owner_kind="unidentified", sex=sex, category=category,
                       estimated_birth_date=birth, found_date=found_date,
                       found_place="; ".join(filter(None, [label, detail])) or None,
                       operation_id=operation.id if operation else None, found_place_id=place.id if place else None,
                       jurisdiction_id=where.id, agency_id=agency.id if agency else None,
                       placement_kind=placement_kind, placement_name=clean(placement_name, what="placement_name"),
                       status="unidentified")
    session.add(row)
    session.flush()
    given_name = clean(given_name, what="given_name", max_length=MAX_NAME)
    if given_name:
        session.add(PersonDetail(subject_kind="unidentified", subject_id=row.id, name=given_name))
        session.flush()
    if search:
        record_pending(session, "unidentified", [row.id], reason=f"unidentified person {code} registered")
    audit(session, actor, "unidentified.create", entity="unidentified", entity_id=code,
          details={"sample": sample.code, "category": category, "jurisdiction": where.code,
                   "operation": operation.code if operation else None})
    return row


def _person(session: Session, code: str) -> tuple[Unidentified, str | None]:
    code = clean(code, what="code", max_length=MAX_CODE, required=True)
    row = session.execute(select(Unidentified).where(Unidentified.code == code)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"code: no unidentified person {code!r}")
    path = session.execute(select(Jurisdiction.path).where(Jurisdiction.id == row.jurisdiction_id)).scalar() \
        if row.jurisdiction_id is not None else None
    return row, path


def _data(session: Session, u: Unidentified) -> dict:
    name = details_of(session, "unidentified", u.id)
    return {"code": u.code, "sex": u.sex, "category": u.category, "estimated_birth_date": iso(u.estimated_birth_date),
            "found_date": iso(u.found_date), "found_place": u.found_place,
            "found_place_code": code_of(session, u.found_place_id), "placement_kind": u.placement_kind,
            "placement_name": u.placement_name, "agency": agency_code(session, u.agency_id),
            "operation": _operation_code(session, u.operation_id), "given_name": name.name if name else None}


def _operation_code(session: Session, operation_id: int | None) -> str | None:
    if operation_id is None:
        return None
    row = session.get(RescueOperation, operation_id)
    return row.code if row is not None else None


UNSET = object()


def update_unidentified(session: Session, code: str, *, actor: Actor, reason: str, placement_kind=UNSET,
                        placement_name=UNSET, given_name=UNSET, category=UNSET, found_date=UNSET,
                        estimated_birth_date=UNSET, found_place_code=UNSET, found_place_detail=UNSET,
                        operation_code=UNSET, agency_code_=UNSET) -> Unidentified:
    """Change the placement or details of unidentified person ``code`` (only the arguments
    given); the previous version goes to record_versions.  A changed date searches the
    person again (pending: the age filter may now keep or drop families)."""
    from reunite.cases.common import agency_by_code
    from reunite.search.service import record_pending
    from reunite.store.corrections import _record

    actor.require("unidentified:write")
    why = clean(reason, what="reason", required=True)
    u, path = _person(session, code)
    require_scope(actor, path, what=f"unidentified person {u.code!r}")
    before = _data(session, u)
    if placement_kind is not UNSET:
        u.placement_kind = _choice(placement_kind, PLACEMENT_KINDS, what="placement_kind")
    if placement_name is not UNSET:
        u.placement_name = clean(placement_name, what="placement_name")
    if category is not UNSET:
        u.category = _choice(category, UNIDENTIFIED_CATEGORIES, what="category") or u.category
    if found_date is not UNSET:
        u.found_date = check_past(found_date, what="found_date")
    if estimated_birth_date is not UNSET:
        u.estimated_birth_date = check_past(estimated_birth_date, what="estimated_birth_date")
    if u.found_date and u.estimated_birth_date and u.found_date < u.estimated_birth_date:
        raise ReuniteError(f"found_date: {u.found_date} is before the estimated birth date {u.estimated_birth_date}")
    if found_place_code is not UNSET or found_place_detail is not UNSET:
        if found_place_code is not UNSET:
            place = resolve_place(session, found_place_code, actor=actor, what="found_place_code")
            u.found_place_id = place.id if place else None
        label = place_label(session, u.found_place_id)
        detail = clean(found_place_detail, what="found_place_detail") if found_place_detail is not UNSET else None
        u.found_place = "; ".join(filter(None, [label, detail])) or None
    if operation_code is not UNSET:
        op = operation_by_code(session, clean(operation_code, what="operation_code", max_length=MAX_CODE))
        u.operation_id = op.id if op else None
    if agency_code_ is not UNSET:
        u.agency_id = agency_by_code(session, agency_code_).id if agency_code_ else None
    if given_name is not UNSET:
        name = clean(given_name, what="given_name", max_length=MAX_NAME)
        row = details_of(session, "unidentified", u.id)
        if row is None and name:
            session.add(PersonDetail(subject_kind="unidentified", subject_id=u.id, name=name))
        elif row is not None:
            row.name = name
    session.flush()
    after = _data(session, u)
    changed = [k for k in after if after[k] != before[k]]
    if not changed:
        raise ReuniteError(f"code: nothing to change for unidentified person {u.code!r}")
    personal = {"given_name", "placement_name"}
    changes = [f"{k}: changed" if k in personal else f"{k}: {before[k] or '-'} -> {after[k] or '-'}"
               for k in changed]
    # the names stay out of the version's JSON (it is read without personal:read)
    hide = {k: ("(set)" if v else None) for k, v in before.items() if k in personal}
    _record(session, entity="unidentified", row=u, action="details", before={**before, **hide},
            after={**after, **{k: ("(set)" if after[k] else None) for k in personal}}, changes=changes,
            changed_by=actor.username, reason=why)
    if {"found_date", "estimated_birth_date"} & set(changed):
        record_pending(session, "unidentified", [u.id],
                       reason=f"correction: unidentified {u.code}: dates changed")
    audit(session, actor, "unidentified.update", entity="unidentified", entity_id=u.code,
          details={"changed": changed})
    return u


def _restricted(session: Session, u: Unidentified, path: str | None) -> dict:
    return {"code": u.code, "status": u.status, "category": u.category,
            "jurisdiction": path_code(path or "CN/"),
            "agency": agency_code(session, u.agency_id), "restricted": True}


def _view(session: Session, u: Unidentified, path: str | None, actor: Actor, *, full: bool) -> dict:
    out = _restricted(session, u, path)
    sample = session.execute(select(Sample.code, Sample.status).where(Sample.id == u.sample_id)).first()
    out.update(restricted=False, sex=u.sex, estimated_birth_date=iso(u.estimated_birth_date),
               found_date=iso(u.found_date), found_place_code=code_of(session, u.found_place_id),
               operation=_operation_code(session, u.operation_id), placement_kind=u.placement_kind,
               sample=sample.code if sample else None, sample_status=sample.status if sample else None,
               identified_report=session.execute(select(MissingReport.code).where(
                   MissingReport.id == u.identified_report_id)).scalar() if u.identified_report_id else None)
    if full:
        out["found_place"] = u.found_place
        if u.found_place_id is not None:  # the place named in Chinese, with the free-text detail
            label = place_label(session, u.found_place_id)
            detail = _place_detail(u.found_place, label)
            zh = place_label(session, u.found_place_id, language="zh_CN")
            out["found_place_zh"] = f"{zh}; {detail}" if detail else zh
        versions = session.execute(select(func.count(RecordVersion.id)).where(
            RecordVersion.entity == "unidentified", RecordVersion.entity_id == u.id)).scalar()
        out["version"] = 1 + (versions or 0)
    if actor.sees_personal(path):
        name = details_of(session, "unidentified", u.id)
        out.update(given_name=name.name if name else None, placement_name=u.placement_name)
    return out


def show_unidentified(session: Session, code: str, *, actor: Actor) -> dict:
    """Unidentified person ``code`` as the actor may see them (see the module doc)."""
    actor.require("unidentified:read")
    u, path = _person(session, code)
    if not actor.in_scope(path):
        return _restricted(session, u, path)
    out = _view(session, u, path, actor, full=True)
    if actor.sees_personal(path):
        audit(session, actor, "unidentified.read_personal", entity="unidentified", entity_id=u.code)
    return out


def list_unidentified(session: Session, *, actor: Actor, status: str | None = None, category: str | None = None,
                      jurisdiction_code: str | None = None, operation_code: str | None = None,
                      found_from: date | None = None, found_to: date | None = None, cursor: str | None = None,
                      limit: int | None = None) -> Page:
    """Unidentified persons, newest first (out-of-scope ones with codes, status, agency and
    jurisdiction only; date filters apply inside the actor's jurisdiction)."""
    actor.require("unidentified:read")
    q = select(Unidentified, Jurisdiction.path).outerjoin(Jurisdiction, Jurisdiction.id == Unidentified.jurisdiction_id)
    if status is not None:
        q = q.where(Unidentified.status == _choice(status, UNIDENTIFIED_STATUSES, what="status"))
    if category is not None:
        q = q.where(Unidentified.category == _choice(category, UNIDENTIFIED_CATEGORIES, what="category"))
    if jurisdiction_code:
        q = q.where(*scope_filter(session, Jurisdiction.path, jurisdiction_code))
    if operation_code:
        q = q.where(Unidentified.operation_id == operation_by_code(session, operation_code).id)
    dated = date_range_filter(Unidentified.found_date, found_from, found_to, what="found")
    if dated:
        mine = (true() if actor.jurisdiction_path == "CN/"
                else Jurisdiction.path.startswith(actor.jurisdiction_path, autoescape=True))
        q = q.where(and_(*dated, mine))
    page = keyset_page(session, q, Unidentified.id, cursor=cursor, limit=limit, descending=True)
    items, personal = [], []
    for u, path in page.items:
        if not actor.in_scope(path):
            items.append(_restricted(session, u, path))
            continue
        items.append(_view(session, u, path, actor, full=False))
        if actor.sees_personal(path):
            personal.append(u.code)
    if personal:
        audit(session, actor, "unidentified.read_personal", entity="unidentified", entity_id=None,
              details={"list": personal})
    page.items = items
    return page


EDITABLE = ("placement_kind", "placement_name", "given_name", "category", "found_date", "estimated_birth_date",
            "found_place_code", "found_place_detail", "operation_code")
PERSONAL_FIELDS = ("placement_name", "given_name")


def _place_detail(found_place: str | None, label: str | None) -> str | None:
    """The free-text part of ``found_place`` (stored as 'label; detail')."""
    if not found_place:
        return None
    if label and found_place.startswith(label):
        return found_place[len(label):].lstrip("; ").strip() or None
    return found_place


def unidentified_form(session: Session, code: str, *, actor: Actor) -> dict:
    """The editable fields of unidentified person ``code`` as they are now (an edit form):
    only in the actor's jurisdiction, with ``unidentified:write``; the personal ones only
    where the actor sees personal data (that read audited)."""
    actor.require("unidentified:write")
    u, path = _person(session, code)
    require_scope(actor, path, what=f"unidentified person {u.code!r}")
    personal = actor.sees_personal(path)
    name = details_of(session, "unidentified", u.id) if personal else None
    out = {"code": u.code, "sex": u.sex, "status": u.status, "jurisdiction": path_code(path or "CN/"),
           "placement_kind": u.placement_kind, "category": u.category, "found_date": u.found_date,
           "estimated_birth_date": u.estimated_birth_date, "found_place_code": code_of(session, u.found_place_id),
           "found_place_detail": _place_detail(u.found_place, place_label(session, u.found_place_id)),
           "operation_code": _operation_code(session, u.operation_id), "personal": personal,
           "placement_name": u.placement_name if personal else None, "given_name": name.name if name else None}
    if personal:
        audit(session, actor, "unidentified.read_personal", entity="unidentified", entity_id=u.code)
    return out


def edit_unidentified(session: Session, code: str, *, actor: Actor, reason: str, values: dict) -> Unidentified:
    """Apply an edit form to unidentified person ``code``: of ``values`` (field -> new value,
    None for empty; fields of :data:`EDITABLE`), only those that differ from the current
    ones change, through :func:`update_unidentified` (versioned, with ``reason``).  The
    personal fields are left alone where the actor does not see personal data."""
    current = unidentified_form(session, code, actor=actor)
    unknown = sorted(set(values) - set(EDITABLE))
    if unknown:
        raise ReuniteError(f"{unknown[0]}: not a field of an unidentified person that can be changed here")
    given = {k: v for k, v in values.items()
             if v != current[k] and (current["personal"] or k not in PERSONAL_FIELDS)}
    if "found_place_detail" in given and "found_place_code" not in given:
        given["found_place_code"] = current["found_place_code"]
    if "found_place_code" in given and "found_place_detail" not in given:
        given["found_place_detail"] = current["found_place_detail"]
    return update_unidentified(session, code, actor=actor, reason=reason, **given)


def child_overview(session: Session, code: str, *, actor: Actor, settings=None) -> dict:
    """Unidentified person ``code`` for their page: :func:`show_unidentified`, with (in the
    actor's jurisdiction) their candidates, best LR first (``candidate:read``), and their
    outcomes with follow-up visits (``outcome:read``); a list left out is None."""
    from reunite.cases.candidates import list_candidates
    from reunite.cases.outcomes import child_history

    out = show_unidentified(session, code, actor=actor)
    out["candidates"] = out["history"] = None
    if out["restricted"]:
        return out
    if actor.can("candidate:read"):
        out["candidates"] = list_candidates(session, actor=actor, unidentified=out["code"], limit=100,
                                            settings=settings).items
    if actor.can("outcome:read"):
        out["history"] = child_history(session, actor=actor, child_code=out["code"])
    return out
