"""Editing a missing-child report: ``update_report`` (split from :mod:`reunite.cases.reports`).

The changed fields with a reason; personal ones in ``person_details``; the old values kept as a
record version and in the audit log; a changed sex or date searches the family again.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from reunite.cases.common import audit, agency_by_code
from reunite.cases.places import code_of, place_label, resolve_place
from reunite.cases.records import (
    agency_code,
    check_past,
    check_sex,
    clean,
    details_of,
    iso,
    MAX_CODE,
    MAX_NAME,
    require_scope,
)
from reunite.cases.reports import (
    REPORT_FAMILY_TYPE,
    _birth_point,
    _investigator,
    _report,
    report_path,
)
from reunite.errors import Conflict, ReuniteError
from reunite.security.actor import Actor
from reunite.store.models import Family, FamilyMember, PersonDetail
from reunite.store.models_workflow import Jurisdiction, MissingReport, User

#: the fields :func:`update_report` changes; the personal ones live in person_details
EDITABLE = ("child_name", "child_sex", "child_birth_date", "child_birth_date_latest", "missing_date",
            "missing_place_code", "missing_place_detail", "circumstances", "contact_name", "contact",
            "investigator", "agency_code")
PERSONAL_FIELDS = ("child_name", "contact_name", "contact", "circumstances", "missing_place_detail")
#: fields the family search uses (sex and age filters): a change searches the family again
SEARCHED_FIELDS = ("child_sex", "child_birth_date", "child_birth_date_latest", "missing_date")


def _editable_data(session: Session, r: MissingReport) -> dict:
    child = details_of(session, "report_child", r.id)
    contact = details_of(session, "report_contact", r.id)
    return {"child_name": child.name if child else None, "child_sex": r.child_sex,
            "child_birth_date": iso(r.child_birth_date), "child_birth_date_latest": iso(r.child_birth_date_latest),
            "missing_date": iso(r.missing_date), "missing_place_code": code_of(session, r.missing_place_id),
            "missing_place_detail": r.missing_place_detail, "circumstances": r.circumstances,
            "contact_name": contact.name if contact else None, "contact": contact.contact if contact else None,
            "investigator": session.execute(select(User.username).where(User.id == r.investigator_id)).scalar(),
            "agency_code": agency_code(session, r.agency_id)}


def _set_detail(session: Session, kind: str, report_id: int, **values) -> None:
    row = details_of(session, kind, report_id)
    if row is None:
        if any(values.values()):
            session.add(PersonDetail(subject_kind=kind, subject_id=report_id, **values))
        return
    for key, value in values.items():
        setattr(row, key, value)


def update_report(session: Session, code: str, *, actor: Actor, reason: str, **changed) -> MissingReport:
    """Change the details of report ``code`` (only the fields given, from :data:`EDITABLE`;
    None clears a field).  Needs ``report:write`` and the report in the actor's jurisdiction;
    the previous values go to record_versions (entity 'report', names hidden as "(set)") and
    the audit log records who, when, why and which fields.  A change of the child's sex or
    dates updates the missing child of the report's own pedigree and searches the family
    again (pending, run after the commit); on an identified or closed report those fields
    are refused (reopen it, or correct the record)."""
    from reunite.search.service import record_pending
    from reunite.store.corrections import _record

    actor.require("report:write")
    unknown = sorted(set(changed) - set(EDITABLE))
    if unknown:
        raise ReuniteError(f"{unknown[0]}: not a field of a report that can be edited (the fields: "
                           f"{', '.join(EDITABLE)})")
    why = clean(reason, what="reason", required=True)
    report = _report(session, code, lock=True)
    path = report_path(session, report)
    require_scope(actor, path, what=f"report {report.code!r}")
    if not changed:
        raise ReuniteError(f"code: nothing to change for report {report.code!r}")
    before = _editable_data(session, report)
    if "child_sex" in changed:
        report.child_sex = check_sex(changed["child_sex"], what="child_sex")
    for key in ("child_birth_date", "child_birth_date_latest", "missing_date"):
        if key in changed:
            value = changed[key]
            if value is not None and not isinstance(value, date):
                raise ReuniteError(f"{key}: expected a date (YYYY-MM-DD), found {value!r}")
            setattr(report, key, check_past(value, what=key))
    if report.child_birth_date_latest is not None and report.child_birth_date is None:
        raise ReuniteError("child_birth_date: the earliest date of the range is needed with child_birth_date_latest")
    if report.child_birth_date and report.child_birth_date_latest \
            and report.child_birth_date_latest < report.child_birth_date:
        raise ReuniteError(f"child_birth_date_latest: {report.child_birth_date_latest} is before child_birth_date "
                           f"{report.child_birth_date}")
    if report.missing_date and report.child_birth_date and report.missing_date < report.child_birth_date:
        raise ReuniteError(f"missing_date: {report.missing_date} is before the child's birth date "
                           f"{report.child_birth_date}")
    if "missing_place_code" in changed:
        place = resolve_place(session, changed["missing_place_code"], actor=actor, what="missing_place_code",
                              county=True)
        report.missing_place_id = place.id if place else None
    if "missing_place_detail" in changed:
        report.missing_place_detail = clean(changed["missing_place_detail"], what="missing_place_detail")
    if "circumstances" in changed:
        report.circumstances = clean(changed["circumstances"], what="circumstances", max_length=10_000)
    where = session.get(Jurisdiction, report.jurisdiction_id)
    if "investigator" in changed:
        officer = _investigator(session, changed["investigator"], where) if changed["investigator"] else None
        report.investigator_id = officer.id if officer else None
    if "agency_code" in changed:
        report.agency_id = agency_by_code(session, clean(changed["agency_code"], what="agency_code",
                                                         max_length=MAX_CODE)).id if changed["agency_code"] else None
    if "child_name" in changed:
        _set_detail(session, "report_child", report.id,
                    name=clean(changed["child_name"], what="child_name", max_length=MAX_NAME))
    if "contact_name" in changed or "contact" in changed:
        old = details_of(session, "report_contact", report.id)
        _set_detail(session, "report_contact", report.id,
                    name=clean(changed["contact_name"], what="contact_name", max_length=MAX_NAME)
                    if "contact_name" in changed else (old.name if old else None),
                    contact=clean(changed["contact"], what="contact") if "contact" in changed
                    else (old.contact if old else None))
    session.flush()
    after = _editable_data(session, report)
    fields = [k for k in EDITABLE if after[k] != before[k]]
    if not fields:
        raise ReuniteError(f"code: nothing to change for report {report.code!r} (the values given are the "
                           "report's already)")
    searched = [k for k in fields if k in SEARCHED_FIELDS]
    if searched and report.status in ("identified", "closed"):
        raise Conflict(f"{searched[0]}: report {report.code!r} is {report.status}; its child's sex and dates are "
                       "not changed here (reopen it, or record a correction with 'reunite correct')")
    family = session.get(Family, report.family_id) if report.family_id is not None else None
    if searched and family is not None:
        if family.family_type == REPORT_FAMILY_TYPE:
            child = session.execute(select(FamilyMember).where(FamilyMember.family_id == family.id,
                                                               FamilyMember.person_code == report.missing_code)
                                    ).scalar_one_or_none()
            if child is not None:
                child.sex = report.child_sex
                child.birth_date = _birth_point(report.child_birth_date, report.child_birth_date_latest)
                child.missing_date = report.missing_date
        record_pending(session, "family", [family.id],
                       reason=f"correction: report {report.code}: {', '.join(searched)} changed")
    if family is not None and family.family_type == REPORT_FAMILY_TYPE and "missing_place_code" in fields:
        session.execute(update(FamilyMember).where(FamilyMember.family_id == family.id,
                                                   FamilyMember.person_code == report.missing_code)
                        .values(missing_place=place_label(session, report.missing_place_id))
                        .execution_options(synchronize_session=False))

    def hidden(data: dict) -> dict:  # names stay out of the version's JSON and the audit log
        return {k: ("(set)" if v else None) if k in PERSONAL_FIELDS else v for k, v in data.items()}

    old, new = hidden(before), hidden(after)
    changes = [f"{k}: changed" if k in PERSONAL_FIELDS else f"{k}: {old[k] or '-'} -> {new[k] or '-'}"
               for k in fields]
    _record(session, entity="report", row=report, action="details", before=old, after=new, changes=changes,
            changed_by=actor.username, reason=why)
    report.version += 1
    report.updated_at = datetime.now(timezone.utc)
    session.flush()
    audit(session, actor, "report.update", entity="report", entity_id=report.code,
          details={"changed": fields, "reason": why, "old": {k: old[k] for k in fields},
                   "new": {k: new[k] for k in fields}})
    return report
