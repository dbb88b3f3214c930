"""Missing-child reports: the child, the missing date and place, the reporting family's
contact, and the family references whose DNA is searched against unidentified persons.

A report owns a pedigree (a ``families`` row coded like the report, ``family_type``
'report'): the missing child ``M`` with untyped parents ``FA`` and ``MO``, and each reference
placed by its relation to the child (:data:`RELATIONS`), with the untyped founders that
connect it (a paternal grandmother when only the grandfather is typed, a half-sibling's other
parent, ...).  Creating the report claims the references' samples (one owner per sample,
enforced by the database), records each reference's consent and a pending family search, in
one transaction; adding a reference later writes the pedigree's previous version to
``record_versions`` (entity 'family', action 'pedigree') and searches the family again.
An imported family can be linked instead (``family_code``).

Names, contacts, circumstances and the missing place's detail are personal: only a user with
``personal:read`` whose jurisdiction holds the report sees them, and each such read is
audited (``report.read_personal``).  Other users see codes, status, owning agency and
jurisdiction; users whose jurisdiction holds the report also see dates, places and the
references' codes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session

from reunite.cases.common import Page, audit, agency_by_code, keyset_page, user_by_name
from reunite.cases.places import code_of, place_label, resolve_place
from reunite.cases.records import (
    agency_code,
    check_past,
    check_sex,
    claim,
    clean,
    created_filter,
    date_range_filter,
    details_of,
    iso,
    path_code,
    MAX_CODE,
    MAX_NAME,
    owner,
    require_scope,
    sample_for,
    scope_filter,
)
from reunite.errors import Conflict, NotFound, PermissionDenied, ReuniteError
from reunite.security.actor import Actor
from reunite.store.models import Family, FamilyMember, PersonDetail, Sample
from reunite.store.models_workflow import REPORT_STATUSES, Jurisdiction, MissingReport, ReferenceConsent, User
from reunite.store.textio import MAX_TEXT_LENGTH, normalise_text

REPORT_FAMILY_TYPE = "report"
MISSING = "M"

#: relation to the missing child -> (fixed sex or None, person-code prefix, numbered)
RELATIONS: dict[str, tuple[str | None, str, bool]] = {
    "father": ("M", "FA", False),
    "mother": ("F", "MO", False),
    "full_sibling": (None, "S", True),
    "half_sibling_paternal": (None, "HP", True),
    "half_sibling_maternal": (None, "HM", True),
    "paternal_grandfather": ("M", "PGF", False),
    "paternal_grandmother": ("F", "PGM", False),
    "maternal_grandfather": ("M", "MGF", False),
    "maternal_grandmother": ("F", "MGM", False),
    "paternal_uncle": ("M", "PU", True),
    "paternal_aunt": ("F", "PA", True),
    "maternal_uncle": ("M", "MU", True),
    "maternal_aunt": ("F", "MA", True),
}

#: allowed status changes (closing needs a reason); 'identified' only by a confirmed
#: candidate (:func:`reunite.cases.review.confirm`), never by hand
TRANSITIONS = {
    "open": ("candidate_under_review", "closed"),
    "candidate_under_review": ("open", "identified", "closed"),
    "identified": ("closed",),
    "closed": ("open",),
}


# ----------------------------------------------------------------------------------------
# the pedigree of a report


@dataclass
class Reference:
    """A family reference of a report: relation to the missing child, sample, consent form."""

    relation: str
    sample_code: str
    sex: str | None = None
    consent_document: str | None = None

    @classmethod
    def of(cls, value) -> "Reference":
        if isinstance(value, Reference):
            return value
        if isinstance(value, dict):
            unknown = set(value) - {"relation", "sample_code", "sex", "consent_document"}
            if unknown:
                raise ReuniteError(f"references: unknown field(s) {', '.join(sorted(unknown))}")
            return cls(**value)
        raise ReuniteError(f"references: expected relation, sample code, sex and consent document, found {value!r}")


def _member(person, father=None, mother=None, sex="U", role="untyped") -> dict:
    return {"person": person, "father": father, "mother": mother, "sex": sex, "role": role, "sample_id": None}


def base_pedigree(child_sex: str) -> dict[str, dict]:
    return {"FA": _member("FA", sex="M"), "MO": _member("MO", sex="F"),
            MISSING: _member(MISSING, "FA", "MO", child_sex, "missing")}


def _founders(members: dict, child: str, father: str, mother: str) -> None:
    """Make ``father`` and ``mother`` (untyped founders if new) the parents of ``child``."""
    for code, sex in ((father, "M"), (mother, "F")):
        members.setdefault(code, _member(code, sex=sex))
    members[child]["father"], members[child]["mother"] = father, mother


def place_reference(members: dict[str, dict], relation: str, sex: str, sample_id: int) -> str:
    """Add a typed reference of ``relation`` to ``members`` (with the founders connecting it);
    returns its person code."""
    fixed, prefix, numbered = RELATIONS[relation]
    if not numbered:
        person = prefix
        if person in members and members[person]["role"] == "reference":
            raise Conflict(f"relation: the report already has a {relation.replace('_', ' ')}")
    else:
        k = 1
        while f"{prefix}{k}" in members:
            k += 1
        person = f"{prefix}{k}"
    if relation in ("paternal_grandfather", "paternal_grandmother", "paternal_uncle", "paternal_aunt"):
        _founders(members, "FA", "PGF", "PGM")
    if relation in ("maternal_grandfather", "maternal_grandmother", "maternal_uncle", "maternal_aunt"):
        _founders(members, "MO", "MGF", "MGM")
    parents = {"full_sibling": ("FA", "MO"), "half_sibling_paternal": ("FA", f"{person}_MO"),
               "half_sibling_maternal": (f"{person}_FA", "MO"), "paternal_uncle": ("PGF", "PGM"),
               "paternal_aunt": ("PGF", "PGM"), "maternal_uncle": ("MGF", "MGM"),
               "maternal_aunt": ("MGF", "MGM")}.get(relation)
    row = members.get(person) or _member(person)
    row.update(sex=fixed or sex, role="reference", sample_id=sample_id)
    members[person] = row
    if parents:
        _founders(members, person, *parents)
    return person


def _check_relation(ref: Reference) -> tuple[str, str]:
    relation = normalise_text(ref.relation or "").lower()
    if relation not in RELATIONS:
        raise ReuniteError(f"relation: expected one of {', '.join(RELATIONS)}, found {ref.relation!r}")
    fixed = RELATIONS[relation][0]
    sex = check_sex(ref.sex or fixed or "U", what="sex")
    if fixed and sex != fixed:
        raise ReuniteError(f"sex: a {relation.replace('_', ' ')} has sex {fixed}, found {sex}")
    return relation, sex


def _check_pedigree(members: dict, code: str) -> None:
    from reunite.errors import PedigreeError
    from reunite.genetics.pedigree import make_pedigree

    try:
        make_pedigree([{"id": m["person"], "father": m["father"], "mother": m["mother"], "sex": m["sex"]}
                       for m in members.values()], where=f"report {code!r}")
    except PedigreeError as exc:
        raise ReuniteError(f"references: {exc}") from None


# ----------------------------------------------------------------------------------------
# create, add a reference, change status


def _report(session: Session, code: str, *, lock: bool = False) -> MissingReport:
    code = clean(code, what="code", max_length=MAX_CODE, required=True)
    q = select(MissingReport).where(MissingReport.code == code)
    if lock and session.get_bind().dialect.name != "sqlite":
        q = q.with_for_update()
    row = session.execute(q).scalar_one_or_none()
    if row is None:
        raise NotFound(f"code: no report {code!r}")
    return row


def report_path(session: Session, report: MissingReport) -> str:
    return session.execute(select(Jurisdiction.path).where(Jurisdiction.id == report.jurisdiction_id)).scalar_one()


def _consents(session: Session, refs: list[tuple[Reference, str, str, Sample]], members: dict, *, family_id: int,
              report_id: int, actor: Actor, codes: dict[str, str]) -> list[ReferenceConsent]:
    ids = dict(session.execute(select(FamilyMember.person_code, FamilyMember.id)
                               .where(FamilyMember.family_id == family_id)).all())
    out = []
    for ref, relation, _, sample in refs:
        row = ReferenceConsent(family_member_id=ids[codes[sample.code]], report_id=report_id, relation=relation,
                               state="given", document=clean(ref.consent_document, what="consent_document",
                                                             max_length=MAX_TEXT_LENGTH),
                               recorded_by=actor.username, given_at=datetime.now(timezone.utc))
        session.add(row)
        out.append(row)
    session.flush()
    return out


def _write_members(session: Session, family_id: int, members: dict, existing: dict[str, FamilyMember],
                   report: MissingReport) -> None:
    for person, m in members.items():
        row = existing.get(person)
        if row is None:
            row = FamilyMember(family_id=family_id, person_code=person)
            session.add(row)
        row.father_code, row.mother_code, row.sex, row.role = m["father"], m["mother"], m["sex"], m["role"]
        row.sample_id = m["sample_id"]
        row.sample_owner_kind = "family_member" if m["sample_id"] is not None else None
        if m["role"] == "missing":
            row.birth_date = _birth_point(report.child_birth_date, report.child_birth_date_latest)
            row.missing_date = report.missing_date
            row.missing_place = place_label(session, report.missing_place_id)
    session.flush()


def _birth_point(earliest: date | None, latest: date | None) -> date | None:
    """The birth date the search's age filter uses: the date, or the middle of a range."""
    if earliest is None or latest is None or latest == earliest:
        return earliest or latest
    return earliest + timedelta(days=(latest - earliest).days // 2)


def _investigator(session: Session, username: str, where: Jurisdiction) -> User:
    """The named investigator of a report: an active user with the investigator role whose
    jurisdiction holds the report (they are told of its candidates and read its names)."""
    from reunite.store.models_workflow import UserRole

    user = user_by_name(session, clean(username, what="investigator", max_length=MAX_CODE, required=True),
                        what="investigator")
    roles = set(session.execute(select(UserRole.role).where(UserRole.user_id == user.id)).scalars())
    home = session.execute(select(Jurisdiction.path).where(Jurisdiction.id == user.jurisdiction_id)).scalar()
    if not user.active or "investigator" not in roles:
        raise ReuniteError(f"investigator: {user.username!r} is not an active user with the investigator role")
    if not where.path.startswith(home or "CN/"):
        raise PermissionDenied(f"investigator: {user.username!r} works outside {where.code} ({where.name}), the "
                               "report's jurisdiction; name an investigator of that jurisdiction")
    return user


def create_report(session: Session, *, actor: Actor, code: str, child_name: str | None = None,
                  child_sex: str = "U", child_birth_date: date | None = None,
                  child_birth_date_latest: date | None = None, missing_date: date | None = None,
                  missing_place_code: str | None = None, missing_place_detail: str | None = None,
                  circumstances: str | None = None, contact_name: str | None = None, contact: str | None = None,
                  jurisdiction_code: str | None = None, agency_code: str | None = None,
                  investigator: str | None = None, references=(), family_code: str | None = None,
                  missing_code: str | None = None) -> MissingReport:
    """Register a missing-child report with its references (each a :class:`Reference` or a
    dict), or linked to the imported family ``family_code``; the family search is recorded
    as pending in the same transaction (run it after the commit)."""
    actor.require("report:write")
    code = clean(code, what="code", max_length=MAX_CODE, required=True)
    if session.execute(select(MissingReport.id).where(MissingReport.code == code)).first():
        raise Conflict(f"code: a report {code!r} already exists (a duplicate? 'reunite report show {code}'; "
                       "otherwise choose another code)")
    child_sex = check_sex(child_sex, what="child_sex")
    check_past(child_birth_date, what="child_birth_date")
    check_past(child_birth_date_latest, what="child_birth_date_latest")
    check_past(missing_date, what="missing_date")
    if child_birth_date_latest is not None and child_birth_date is None:
        raise ReuniteError("child_birth_date: the earliest date of the range is needed with child_birth_date_latest")
    if child_birth_date and child_birth_date_latest and child_birth_date_latest < child_birth_date:
        raise ReuniteError(f"child_birth_date_latest: {child_birth_date_latest} is before child_birth_date "
                           f"{child_birth_date}")
    if missing_date and child_birth_date and missing_date < child_birth_date:
        raise ReuniteError(f"missing_date: {missing_date} is before the child's birth date {child_birth_date}")
    references = [Reference.of(r) for r in references or ()]
    if family_code and references:
        raise ReuniteError("references: give references or link an imported family (family_code), not both")
    if not family_code and not references:
        raise ReuniteError("references: a report needs at least one family reference (relation and sample "
                           "code), or an imported family to link (family_code)")
    where, agency = owner(session, actor, jurisdiction_code=jurisdiction_code, agency_code=agency_code,
                          what="report")
    place = resolve_place(session, missing_place_code, actor=actor, what="missing_place_code", county=True)
    officer = _investigator(session, investigator, where) if investigator else None
    report = MissingReport(
        code=code, child_sex=child_sex, child_birth_date=child_birth_date,
        child_birth_date_latest=child_birth_date_latest, missing_date=missing_date,
        missing_place_id=place.id if place else None,
        missing_place_detail=clean(missing_place_detail, what="missing_place_detail"),
        circumstances=clean(circumstances, what="circumstances", max_length=10_000),
        jurisdiction_id=where.id, agency_id=agency.id if agency else None,
        investigator_id=officer.id if officer else actor.user_id, status="open", created_by=actor.username)
    child_name = clean(child_name, what="child_name", max_length=MAX_NAME)
    contact_name = clean(contact_name, what="contact_name", max_length=MAX_NAME)
    contact = clean(contact, what="contact", max_length=MAX_TEXT_LENGTH)
    session.add(report)
    session.flush()
    if family_code:
        _link_family(session, report, family_code, missing_code, actor=actor)
    else:
        _build_family(session, report, references, actor=actor)
    if child_name:
        session.add(PersonDetail(subject_kind="report_child", subject_id=report.id, name=child_name))
    if contact_name or contact:
        session.add(PersonDetail(subject_kind="report_contact", subject_id=report.id, name=contact_name,
                                 contact=contact))
    session.flush()
    audit(session, actor, "report.create", entity="report", entity_id=code,
          details={"jurisdiction": where.code, "agency": agency.code if agency else None,
                   "family": session.get(Family, report.family_id).code, "references": len(references),
                   "linked": bool(family_code)})
    return report


def _build_family(session: Session, report: MissingReport, references: list[Reference], *, actor: Actor) -> None:
    from reunite.search.service import record_pending

    if session.execute(select(Family.id).where(Family.code == report.code)).first():
        raise Conflict(f"code: a family {report.code!r} is already in the database; a report's pedigree takes "
                       "the report's code (link it with family_code, or choose another report code)")
    checked = []
    members = base_pedigree(report.child_sex)
    codes: dict[str, str] = {}
    for ref in references:
        relation, sex = _check_relation(ref)
        sample = sample_for(session, ref.sample_code, what="sample_code", sex=sex)
        if sample.code in codes:
            raise ReuniteError(f"sample_code: sample {sample.code!r} is given to two references")
        codes[sample.code] = place_reference(members, relation, sex, sample.id)
        checked.append((ref, relation, sex, sample))
    _check_pedigree(members, report.code)
    family = Family(code=report.code, family_type=REPORT_FAMILY_TYPE,
                    population=_population(session))
    session.add(family)
    session.flush()
    claim(session, [s for *_, s in checked], "family_member", where=f"report {report.code}")
    _write_members(session, family.id, members, {}, report)
    report.family_id, report.missing_code = family.id, MISSING
    session.flush()
    _consents(session, checked, members, family_id=family.id, report_id=report.id, actor=actor, codes=codes)
    record_pending(session, "family", [family.id], reason=f"report {report.code}: new family references")


def _population(session: Session) -> str | None:
    from reunite.store.models import Setting

    row = session.get(Setting, "genetic_model")
    return json.loads(row.value).get("population") if row is not None else None


def _link_family(session: Session, report: MissingReport, family_code: str, missing_code: str | None, *,
                 actor: Actor) -> None:
    family_code = clean(family_code, what="family_code", max_length=MAX_CODE, required=True)
    family = session.execute(select(Family).where(Family.code == family_code)).scalar_one_or_none()
    if family is None:
        raise NotFound(f"family_code: no family {family_code!r}; import it first ('reunite import families', or POST "
                           "/api/v1/imports/families)")
    if session.execute(select(MissingReport.code).where(MissingReport.family_id == family.id)).first():
        raise Conflict(f"family_code: family {family_code!r} already belongs to another report")
    members = list(session.execute(select(FamilyMember).where(FamilyMember.family_id == family.id)).scalars())
    missing = [m.person_code for m in members if m.role == "missing"]
    if missing_code is None:
        if len(missing) != 1:
            raise ReuniteError(f"missing_code: family {family_code!r} has {len(missing)} missing persons "
                               f"({', '.join(missing)}); name the one this report is about")
        missing_code = missing[0]
    elif missing_code not in missing:
        raise ReuniteError(f"missing_code: family {family_code!r} has no missing person {missing_code!r} "
                           f"(its missing: {', '.join(missing) or 'none'})")
    report.family_id, report.missing_code = family.id, missing_code
    for m in members:
        if m.sample_id is not None:
            session.add(ReferenceConsent(family_member_id=m.id, report_id=report.id, relation=None, state="given",
                                         recorded_by=actor.username, given_at=datetime.now(timezone.utc)))
    session.flush()


def add_reference(session: Session, code: str, *, actor: Actor, relation: str, sample_code: str,
                  sex: str | None = None, consent_document: str | None = None,
                  reason: str | None = None) -> ReferenceConsent:
    """Add a family reference to report ``code``: the pedigree's previous version is kept in
    record_versions, the sample claimed, the consent recorded and the family searched again
    (pending, run after the commit)."""
    from reunite.search.service import record_pending
    from reunite.store.corrections import _family_data, _locked, _record

    actor.require("report:write")
    report = _report(session, code, lock=True)
    require_scope(actor, report_path(session, report), what=f"report {report.code!r}")
    if report.status in ("identified", "closed"):
        raise Conflict(f"code: report {report.code!r} is {report.status}; reopen it before adding references")
    family = _locked(session, Family, session.get(Family, report.family_id).code, what="family")
    if family.family_type != REPORT_FAMILY_TYPE:
        raise ReuniteError(f"code: the pedigree of report {report.code!r} is the imported family {family.code!r}; "
                           "correct it with 'reunite correct pedigree'")
    ref = Reference(relation, sample_code, sex, consent_document)
    relation, sex = _check_relation(ref)
    sample = sample_for(session, sample_code, what="sample_code", sex=sex)
    existing = {m.person_code: m for m in session.execute(
        select(FamilyMember).where(FamilyMember.family_id == family.id)
        .execution_options(populate_existing=True)).scalars()}
    members = {p: {"person": p, "father": m.father_code, "mother": m.mother_code, "sex": m.sex, "role": m.role,
                   "sample_id": m.sample_id} for p, m in existing.items()}
    person = place_reference(members, relation, sex, sample.id)
    _check_pedigree(members, report.code)
    before = _family_data(session, family)
    claim(session, [sample], "family_member", where=f"report {report.code}")
    _write_members(session, family.id, members, existing, report)
    after = _family_data(session, family)
    changes = [f"{person}: added ({relation}, sample {sample.code})"]
    why = clean(reason, what="reason") or f"reference added to report {report.code}"
    _record(session, entity="family", row=family, action="pedigree", before=before, after=after,
            changes=changes, changed_by=actor.username, reason=why)
    [consent] = _consents(session, [(ref, relation, sex, sample)], members, family_id=family.id,
                          report_id=report.id, actor=actor, codes={sample.code: person})
    report.version += 1
    report.updated_at = datetime.now(timezone.utc)
    # a correction's search: earlier candidates of the family recomputed (research), not only new ones
    record_pending(session, "family", [family.id], reason=f"correction: report {report.code}: {changes[0]}")
    audit(session, actor, "report.reference_add", entity="report", entity_id=report.code,
          details={"relation": relation, "sample": sample.code, "person": person})
    return consent


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


def _prune(members: dict[str, dict]) -> list[str]:
    """Drop untyped members nobody descends from, except the missing child and its parents
    (the founders a removed reference alone needed); returns the removed person codes."""
    gone = []
    while True:
        parents = {m[k] for m in members.values() for k in ("father", "mother") if m[k]}
        drop = [p for p, m in members.items() if p not in (MISSING, "FA", "MO") and m["role"] == "untyped"
                and m["sample_id"] is None and p not in parents]
        if not drop:
            return gone
        for p in drop:
            del members[p]
        gone += drop


def remove_reference(session: Session, code: str, *, actor: Actor, sample_code: str,
                     reason: str) -> dict:
    """Remove the reference with ``sample_code`` from report ``code``'s pedigree (a reference
    given by mistake): a pedigree correction whose earlier version is kept in record_versions;
    the sample belongs to nobody again and the family is searched again (pending).

    Refused when a stored candidate of the family was computed since the reference joined
    the pedigree (its LR used the sample): then withdraw the consent ('reunite report
    consent-withdraw') or correct the record ('reunite correct ...') instead."""
    from reunite.search.service import record_pending
    from reunite.store.corrections import _family_data, _locked, _record
    from reunite.store.models import MatchCandidate

    actor.require("report:write")
    report = _report(session, code, lock=True)
    require_scope(actor, report_path(session, report), what=f"report {report.code!r}")
    sample_code = clean(sample_code, what="sample_code", max_length=MAX_CODE, required=True)
    reason = clean(reason, what="reason", required=True)
    if report.status == "identified":
        raise Conflict(f"code: report {report.code!r} is identified; its pedigree is evidence of the "
                       "identification and is not changed here ('reunite correct pedigree' records a correction)")
    family = _locked(session, Family, session.get(Family, report.family_id).code, what="family")
    if family.family_type != REPORT_FAMILY_TYPE:
        raise ReuniteError(f"code: the pedigree of report {report.code!r} is the imported family {family.code!r}; "
                           "correct it with 'reunite correct pedigree'")
    row = session.execute(
        select(ReferenceConsent, FamilyMember, Sample)
        .join(FamilyMember, FamilyMember.id == ReferenceConsent.family_member_id)
        .join(Sample, Sample.id == FamilyMember.sample_id)
        .where(ReferenceConsent.report_id == report.id, Sample.code == sample_code)).first()
    if row is None:
        raise NotFound(f"sample_code: report {report.code!r} has no reference with sample {sample_code!r} (its "
                       f"references: 'reunite report show {report.code}', GET /api/v1/reports/{report.code})")
    consent, member, sample = row
    since = _aware(consent.given_at)
    used = [cid for cid, at in session.execute(
        select(MatchCandidate.id, MatchCandidate.updated_at).where(MatchCandidate.family_id == family.id)).all()
        if since is None or _aware(at) >= since]
    if used:
        shown = ", ".join(map(str, sorted(used)[:10])) + (" ..." if len(used) > 10 else "")
        raise Conflict(f"sample_code: sample {sample_code!r} ({member.person_code!r} of report {report.code!r}) was "
                       f"used in the LR of {len(used)} stored candidate(s) ({shown}), so it cannot be given to "
                       "anyone else. If the person withdrew consent: 'reunite report consent-withdraw "
                       f"{report.code} --sample {sample_code} --reason ...'; if the record is wrong: 'reunite "
                       "correct pedigree' / 'reunite correct withdraw' (the history is kept)")
    existing = {m.person_code: m for m in session.execute(
        select(FamilyMember).where(FamilyMember.family_id == family.id)
        .execution_options(populate_existing=True)).scalars()}
    members = {p: {"person": p, "father": m.father_code, "mother": m.mother_code, "sex": m.sex, "role": m.role,
                   "sample_id": m.sample_id} for p, m in existing.items()}
    person = member.person_code
    members[person].update(role="untyped", sample_id=None)
    pruned = _prune(members)
    before = _family_data(session, family)
    session.delete(consent)
    session.flush()
    for p in pruned:
        existing[p].sample_id, existing[p].sample_owner_kind = None, None
    session.flush()
    for p in pruned:
        session.delete(existing.pop(p))
    session.flush()
    _write_members(session, family.id, members, existing, report)
    session.execute(update(Sample).where(Sample.id == sample.id, Sample.owner_kind == "family_member")
                    .values(owner_kind=None).execution_options(synchronize_session=False))
    session.expire(sample)
    after = _family_data(session, family)
    relation = consent.relation or "reference"
    changes = [f"{person}: reference removed ({relation}, sample {sample_code}); the sample belongs to nobody now"]
    changes += [f"{p}: removed (an untyped founder only {person} needed)" for p in pruned if p != person]
    _record(session, entity="family", row=family, action="pedigree", before=before, after=after,
            changes=changes, changed_by=actor.username, reason=reason)
    report.version += 1
    report.updated_at = datetime.now(timezone.utc)
    record_pending(session, "family", [family.id], reason=f"correction: report {report.code}: {changes[0]}")
    left = sum(1 for m in members.values() if m["sample_id"] is not None)
    audit(session, actor, "report.reference_remove", entity="report", entity_id=report.code,
          details={"relation": consent.relation, "sample": sample_code, "person": person, "reason": reason,
                   "consent_document": consent.document, "references_left": left})
    return {"report": report.code, "person": person, "relation": consent.relation, "sample": sample_code,
            "references_left": left}


def set_report_status(session: Session, code: str, *, actor: Actor, status: str,
                      reason: str | None = None) -> MissingReport:
    """Move report ``code`` to ``status`` (see :data:`TRANSITIONS`); closing needs a reason.

    Closing sets the open candidates of the report's missing child aside (reason "report
    closed: <reason>", an event each; their assignees are told).  Reopening does not bring
    them back: they stay set aside, and the family's next search makes new candidates only
    for new pairs."""
    actor.require("report:write")
    if status not in REPORT_STATUSES:
        raise ReuniteError(f"status: expected one of {', '.join(REPORT_STATUSES)}, found {status!r}")
    report = _report(session, code, lock=True)
    require_scope(actor, report_path(session, report), what=f"report {report.code!r}")
    if status == "identified":
        raise Conflict(f"status: report {report.code!r} becomes identified only when a confirmed candidate (four "
                       "eyes, with a confirmation test) identifies its child ('reunite candidates confirm')")
    if status not in TRANSITIONS[report.status]:
        raise Conflict(f"status: report {report.code!r} is {report.status}; it can become "
                       f"{' or '.join(TRANSITIONS[report.status])}, not {status}")
    reason = clean(reason, what="reason")
    if status == "closed" and not reason:
        raise ReuniteError("reason: closing a report needs a reason (e.g. 'child found alive by the family')")
    old = report.status
    report.status = status
    report.closed_reason = reason if status == "closed" else None
    report.version += 1
    report.updated_at = datetime.now(timezone.utc)
    session.flush()
    aside = _set_aside_candidates(session, report, actor=actor, reason=reason) if status == "closed" else []
    audit(session, actor, "report.close" if status == "closed" else "report.status", entity="report",
          entity_id=report.code, details={"from": old, "to": status, "reason": reason,
                                          **({"set_aside": aside} if aside else {})})
    return report


def _set_aside_candidates(session: Session, report: MissingReport, *, actor: Actor, reason: str) -> list[int]:
    """Set aside the open candidates of a closed report's missing child (the review's system step)."""
    from reunite.cases.review import OPEN_STATUSES, set_aside
    from reunite.store.models import MatchCandidate

    if report.family_id is None:
        return []
    ids = session.execute(select(MatchCandidate.id).where(
        MatchCandidate.family_id == report.family_id, MatchCandidate.missing_code == report.missing_code,
        MatchCandidate.status.in_(OPEN_STATUSES)).order_by(MatchCandidate.id)).scalars().all()
    for cid in ids:
        set_aside(session, cid, actor=actor, reason=f"report closed: {reason}")
    return list(ids)


def close_report(session: Session, code: str, *, actor: Actor, reason: str) -> MissingReport:
    return set_report_status(session, code, actor=actor, status="closed", reason=reason)


# ----------------------------------------------------------------------------------------
# read


def _restricted(session: Session, r: MissingReport, path: str) -> dict:
    return {"code": r.code, "status": r.status, "jurisdiction": path_code(path),
            "agency": agency_code(session, r.agency_id), "restricted": True}


def _references(session: Session, report: MissingReport) -> list[dict]:
    rows = session.execute(
        select(ReferenceConsent, FamilyMember.person_code, FamilyMember.sex, Sample.code, Sample.status)
        .join(FamilyMember, FamilyMember.id == ReferenceConsent.family_member_id)
        .outerjoin(Sample, Sample.id == FamilyMember.sample_id)
        .where(ReferenceConsent.report_id == report.id).order_by(ReferenceConsent.id)).all()
    return [{"person": person, "relation": c.relation, "sex": sex, "sample": sample, "sample_status": status,
             "consent": c.state, "consent_document": c.document, "given_at": iso(c.given_at),
             "recorded_by": c.recorded_by, "withdrawn_at": iso(c.withdrawn_at), "withdrawn_by": c.withdrawn_by,
             "withdrawn_reason": c.withdrawn_reason} for c, person, sex, sample, status in rows]


def _view(session: Session, r: MissingReport, path: str, actor: Actor, *, full: bool) -> dict:
    family = session.get(Family, r.family_id) if r.family_id is not None else None
    out = {"code": r.code, "status": r.status, "jurisdiction": path_code(path),
           "agency": agency_code(session, r.agency_id), "restricted": False, "child_sex": r.child_sex,
           "child_birth_date": iso(r.child_birth_date), "child_birth_date_latest": iso(r.child_birth_date_latest),
           "missing_date": iso(r.missing_date), "missing_place": code_of(session, r.missing_place_id),
           "family": family.code if family is not None else None,
           "missing_code": r.missing_code, "closed_reason": r.closed_reason, "version": r.version,
           "created_by": r.created_by, "created_at": iso(r.created_at)}
    if full:
        out["missing_place_name"] = place_label(session, r.missing_place_id)
        out["investigator"] = session.execute(select(User.username).where(User.id == r.investigator_id)).scalar()
        out["references"] = _references(session, r)
    if actor.sees_personal(path):
        child = details_of(session, "report_child", r.id)
        out["child_name"] = child.name if child else None
        if full:
            contact = details_of(session, "report_contact", r.id)
            out.update(contact_name=contact.name if contact else None, contact=contact.contact if contact else None,
                       circumstances=r.circumstances, missing_place_detail=r.missing_place_detail)
    return out


def show_report(session: Session, code: str, *, actor: Actor) -> dict:
    """Report ``code`` as the actor may see it (personal fields only in their jurisdiction,
    with ``personal:read``; that read is audited)."""
    actor.require("report:read")
    report = _report(session, code)
    path = report_path(session, report)
    if not actor.in_scope(path):
        return _restricted(session, report, path)
    out = _view(session, report, path, actor, full=True)
    if actor.sees_personal(path):
        audit(session, actor, "report.read_personal", entity="report", entity_id=report.code)
    return out


def _text_filter(actor: Actor, text: str):
    """Reports whose code holds ``text`` (any case), or whose child's name does where the
    actor may read names (a name search never finds a report of another jurisdiction)."""
    from sqlalchemy import exists, func, or_

    by_code = func.lower(MissingReport.code).contains(text.lower(), autoescape=True)
    if not actor.can("personal:read"):
        return by_code
    named = exists().where(PersonDetail.subject_kind == "report_child", PersonDetail.subject_id == MissingReport.id,
                           PersonDetail.name.contains(text, autoescape=True))
    return or_(by_code, and_(named, Jurisdiction.path.startswith(actor.jurisdiction_path, autoescape=True)))


def list_reports(session: Session, *, actor: Actor, status: str | None = None, jurisdiction_code: str | None = None,
                 agency_code_: str | None = None, missing_from: date | None = None, missing_to: date | None = None,
                 created_from: date | None = None, created_to: date | None = None, cursor: str | None = None,
                 limit: int | None = None, text: str | None = None) -> Page:
    """Reports, newest first: out-of-scope ones with code, status, agency and jurisdiction
    only.  Filters on dates apply to reports in the actor's jurisdiction only (a date filter
    must not reveal a report it may not read).  ``text``: part of the code, or (with
    ``personal:read``, reports in the actor's jurisdiction only) of the child's name."""
    actor.require("report:read")
    q = select(MissingReport, Jurisdiction.path).join(Jurisdiction, Jurisdiction.id == MissingReport.jurisdiction_id)
    if status is not None:
        if status not in REPORT_STATUSES:
            raise ReuniteError(f"status: expected one of {', '.join(REPORT_STATUSES)}, found {status!r}")
        q = q.where(MissingReport.status == status)
    q = q.where(*scope_filter(session, Jurisdiction.path, jurisdiction_code))
    if agency_code_:
        q = q.where(MissingReport.agency_id == agency_by_code(session, agency_code_).id)
    dated = date_range_filter(MissingReport.missing_date, missing_from, missing_to, what="missing")
    dated += created_filter(MissingReport.created_at, created_from, created_to)
    if dated:
        q = q.where(and_(*dated, Jurisdiction.path.startswith(actor.jurisdiction_path, autoescape=True)))
    if text is not None and text.strip():
        q = q.where(_text_filter(actor, clean(text, what="text", max_length=MAX_CODE)))
    page = keyset_page(session, q, MissingReport.id, cursor=cursor, limit=limit, descending=True)
    family_ids = {report.family_id for report, _ in page.items if report.family_id is not None}
    if family_ids:  # the page's families in one query (then read from the identity map)
        session.execute(select(Family).where(Family.id.in_(family_ids))).scalars().all()
    items, personal = [], []
    for report, path in page.items:
        if not actor.in_scope(path):
            items.append(_restricted(session, report, path))
            continue
        items.append(_view(session, report, path, actor, full=False))
        if actor.sees_personal(path):
            personal.append(report.code)
    if personal:
        audit(session, actor, "report.read_personal", entity="report", entity_id=None,
              details={"list": personal})
    page.items = items
    return page


# editing lives in its own module; imported here so callers find it beside create_report
from reunite.cases.report_edit import EDITABLE, PERSONAL_FIELDS, SEARCHED_FIELDS, update_report  # noqa: E402,F401
