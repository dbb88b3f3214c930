"""What the record services (reports, operations, unidentified persons, registration checks)
share: text and date checks, the owner of a new record, jurisdiction scope, samples and
their claims (one owner per sample, named when it is taken)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from reunite.cases.common import agency_by_code, jurisdiction_by_code
from reunite.errors import Conflict, NotFound, PermissionDenied, ReuniteError
from reunite.security.actor import Actor
from reunite.store.models import Family, FamilyMember, PersonDetail, Sample
from reunite.store.models_workflow import Agency, Jurisdiction, MissingReport
from reunite.store.textio import MAX_TEXT_LENGTH, check_text, normalise_text

SEXES = ("M", "F", "U")
MAX_CODE = 128
MAX_NAME = 255


def clean(value, *, what: str, max_length: int = MAX_TEXT_LENGTH, required: bool = False) -> str | None:
    """Free text or a code, stripped (codes NFKC-normalised); None when empty and not required."""
    if value is None or not str(value).strip():
        if required:
            raise ReuniteError(f"{what}: required, found nothing")
        return None
    value = normalise_text(str(value)) if max_length <= MAX_CODE else str(value).strip()
    why = check_text(value, what=what, where=what, max_length=max_length)
    if why:
        raise ReuniteError(f"{what}: {why.split(': ', 1)[1]}")
    return value


def check_sex(sex: str | None, *, what: str) -> str:
    value = normalise_text(sex or "U").upper()
    if value not in SEXES:
        raise ReuniteError(f"{what}: expected M, F or U, found {sex!r}")
    return value


EARLIEST = date(1900, 1, 1)


def check_past(day: date | None, *, what: str) -> date | None:
    """A date of the records (birth, missing, found, operation): from 1900 to today."""
    if day is not None and day < EARLIEST:
        raise ReuniteError(f"{what}: {day} is before {EARLIEST.year}; check the year")
    if day is not None and day > date.today():
        raise ReuniteError(f"{what}: {day} is in the future (today is {date.today()}); check the year")
    return day


def owner(session: Session, actor: Actor, *, jurisdiction_code: str | None, agency_code: str | None,
          what: str = "record") -> tuple[Jurisdiction, Agency | None]:
    """The owning jurisdiction and agency of a new record: those given, else the actor's; a
    record can only be owned inside the actor's jurisdiction."""
    if jurisdiction_code:
        where = jurisdiction_by_code(session, jurisdiction_code, what="jurisdiction")
    else:
        if actor.jurisdiction_id is None:
            raise ReuniteError("jurisdiction: the acting user has no jurisdiction; name the owning jurisdiction")
        where = session.get(Jurisdiction, actor.jurisdiction_id)
    if not actor.in_scope(where.path):
        raise PermissionDenied(f"jurisdiction: {actor.username} may not register a {what} owned by "
                               f"{where.code} ({where.name}), outside their jurisdiction")
    agency = None
    if agency_code:
        agency = agency_by_code(session, agency_code)
    elif actor.agency_id is not None:
        agency = session.get(Agency, actor.agency_id)
    return where, agency


def require_scope(actor: Actor, path: str | None, *, what: str) -> None:
    if not actor.in_scope(path):
        raise PermissionDenied(f"{actor.username} may not change {what}: it is owned by another jurisdiction")


def agency_code(session: Session, agency_id: int | None) -> str | None:
    """The code of an agency id (from the session's identity map when already loaded: a list
    of records asks once per agency, not once per row)."""
    if agency_id is None:
        return None
    row = session.get(Agency, agency_id)
    return row.code if row is not None else None


def details_of(session: Session, kind: str, subject_id: int) -> PersonDetail | None:
    return session.execute(select(PersonDetail).where(PersonDetail.subject_kind == kind,
                                                      PersonDetail.subject_id == subject_id)
                           .order_by(PersonDetail.id)).scalars().first()


def path_code(path: str | None) -> str | None:
    """The jurisdiction code a path ends with (``"CN/510000/513400/"`` → ``"513400"``)."""
    return path.strip("/").split("/")[-1] if path else None


def iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def date_range_filter(column, start: date | None, end: date | None, *, what: str) -> list:
    if start is not None and end is not None and end < start:
        raise ReuniteError(f"{what}_to: {end} is before {what}_from {start}")
    out = []
    if start is not None:
        out.append(column >= start)
    if end is not None:
        out.append(column <= end)
    return out


def scope_filter(session: Session, path_column, jurisdiction_code: str | None) -> list:
    """Records owned in the subtree of ``jurisdiction_code`` (a filter, not a permission)."""
    if not jurisdiction_code:
        return []
    where = jurisdiction_by_code(session, jurisdiction_code, what="jurisdiction")
    return [path_column.startswith(where.path, autoescape=True)]


def created_filter(column, created_from: date | None, created_to: date | None) -> list:
    """Timestamps from the start of ``created_from`` to the end of ``created_to`` (UTC days)."""
    if created_from and created_to and created_to < created_from:
        raise ReuniteError(f"created_to: {created_to} is before created_from {created_from}")
    out = []
    if created_from:
        out.append(column >= datetime.combine(created_from, datetime.min.time(), timezone.utc))
    if created_to and created_to < date.max:  # the last day there is: no upper bound
        out.append(column < datetime.combine(created_to + timedelta(days=1), datetime.min.time(), timezone.utc))
    return out


def sample_for(session: Session, code: str, *, what: str, sex: str | None = None) -> Sample:
    """An imported sample that is active, given to nobody, and whose Amelogenin agrees with ``sex``."""
    from reunite.genetics.loci import sex_from_amelogenin

    code = clean(code, what=what, max_length=MAX_CODE, required=True)
    sample = session.execute(select(Sample).where(Sample.code == code)).scalar_one_or_none()
    if sample is None:
        raise NotFound(f"{what}: no sample {code!r}; import its genotypes first ('reunite import genotypes', or POST "
                       "/api/v1/imports/genotypes)")
    if sample.status != "active":
        raise Conflict(f"{what}: sample {code!r} was withdrawn; it cannot be given to a person")
    if sample.owner_kind is not None:
        raise Conflict(f"{what}: sample {code!r} already belongs to {holder_of(session, sample)}; a sample is one "
                       f"person. {_release_hint(session, sample)}")
    shown = sex_from_amelogenin(sample.amelogenin)
    if sex in ("M", "F") and shown is not None and shown != sex:
        raise ReuniteError(f"{what}: sample {code!r} has Amelogenin {sample.amelogenin} "
                           f"({'male' if shown == 'M' else 'female'}) but the person's sex is {sex}; check the "
                           "sample for a mix-up")
    return sample


def _holding_report(session: Session, sample: Sample) -> tuple[str | None, str | None, str | None]:
    """(family code, report code or None, person code) of the family member holding ``sample``."""
    row = session.execute(select(Family.code, FamilyMember.person_code, Family.id)
                          .join(Family, Family.id == FamilyMember.family_id)
                          .where(FamilyMember.sample_id == sample.id)).first()
    if row is None:
        return None, None, None
    report = session.execute(select(MissingReport.code).where(MissingReport.family_id == row[2])).scalar()
    return row[0], report, row[1]


def holder_of(session: Session, sample: Sample) -> str:
    """Who holds ``sample``, in codes: a report's or a family's member, an unidentified person,
    a registration check's claimed parent, a candidate's confirmation test."""
    from reunite.store.models import Unidentified
    from reunite.store.models_workflow import ClaimedParent, ConfirmationTest, RegistrationCheck

    if sample.owner_kind == "family_member":
        family, report, person = _holding_report(session, sample)
        if report is not None:
            return f"reference {person!r} of report {report!r}"
        if family is not None:
            return f"member {person!r} of family {family!r}"
    elif sample.owner_kind == "unidentified":
        code = session.execute(select(Unidentified.code).where(Unidentified.sample_id == sample.id)).scalar()
        if code is not None:
            return f"unidentified person {code!r}"
    elif sample.owner_kind == "claimed_parent":
        row = session.execute(select(RegistrationCheck.code, ClaimedParent.role)
                              .join(RegistrationCheck, RegistrationCheck.id == ClaimedParent.check_id)
                              .where(ClaimedParent.sample_id == sample.id)).first()
        if row is not None:
            return f"the claimed {row[1]} of registration check {row[0]!r}"
    elif sample.owner_kind == "confirmation":
        cid = session.execute(select(ConfirmationTest.candidate_id)
                              .where(ConfirmationTest.sample_id == sample.id)).scalar()
        if cid is not None:
            return f"a confirmation test of candidate {cid}"
    return f"a person ({sample.owner_kind})"


def _release_hint(session: Session, sample: Sample) -> str:
    if sample.owner_kind == "family_member":
        family, report, _ = _holding_report(session, sample)
        if report is not None:
            return (f"If it was given to report {report!r} by mistake, release it first: 'reunite report "
                    f"reference-remove {report} --sample {sample.code} --reason ...' (API: POST "
                    f"/api/v1/reports/{report}/references/{sample.code}/remove); otherwise check the sample code")
        if family is not None:
            return (f"If family {family!r} has it by mistake, correct that pedigree ('reunite correct pedigree "
                    f"{family} ...'); otherwise check the sample code")
    return "Check the sample code (a mix-up?), or type the person again under a new sample code"


def claim(session: Session, samples: list[Sample], owner_kind: str, *, where: str) -> None:
    """Give the samples to their persons (the database refuses a sample owned twice)."""
    from reunite.store.importers import claim_samples

    claim_samples(session, where, [s.id for s in samples], owner_kind)
