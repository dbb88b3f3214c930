"""Corrections of imported data: a profile re-typed, a sample withdrawn, a family's pedigree
corrected, a person's sex corrected.

Nothing is overwritten without a trace.  Each correction runs in the caller's transaction,
locks the record it changes (``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite the first
statement takes the database's write lock), and writes one ``record_versions`` row:

    entity ('sample' | 'family' | 'unidentified'), entity_id, version (the version the
    correction creates: 2 for the first correction; version 1 is the import), action
    ('retype' | 'withdraw' | 'pedigree' | 'sex'), data (JSON: ``before``, the record as it
    was, ``after``, as it became, and ``changes``, what changed, in words), changed_by,
    changed_at (UTC), reason.

``(entity, entity_id, version)`` is UNIQUE, so two corrections of one record that both read
version n cannot both write version n + 1: the database refuses the second
(:class:`CorrectionConflict`).  A family member's sex is a correction of the family (one
version sequence per pedigree).  Samples also carry their version in ``samples.version``.

Each correction returns the unidentified persons and families whose candidates it affects;
:func:`research` searches them again and updates their candidates (see its doc).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from reunite.errors import PedigreeError, ReuniteError
from reunite.genetics.loci import normalise_locus
from reunite.genetics.pedigree import make_pedigree
from reunite.store.models import (
    Family,
    FamilyMember,
    ImportBatch,
    PendingSearch,
    RecordVersion,
    Sample,
    Unidentified,
)
from reunite.store.profiles import GeneticModel, pack_profile, unpack_profile
from reunite.store.textio import MAX_TEXT_LENGTH, check_text, normalise_text

ENTITIES = ("sample", "family", "unidentified")
ACTIONS = ("retype", "withdraw", "pedigree", "sex")
SEXES = ("M", "F", "U")
MAX_NAME_LENGTH = 128  # record_versions.changed_by is VARCHAR(128)


class CorrectionError(ReuniteError):
    """A correction is malformed, changes nothing, or names a record that does not exist."""


class CorrectionConflict(CorrectionError):
    """Another correction of the same record ran at the same time; this one was refused."""


class CorrectionRejected(CorrectionError):
    """A correction file was rejected; ``problems`` lists 'file:line: reason' strings."""

    def __init__(self, problems: list[str]):
        from reunite.store.importers import MAX_REPORTED

        self.problems = problems
        shown = problems[:MAX_REPORTED]
        more = f"\n... and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
        super().__init__(f"{len(problems)} problem(s); nothing was changed:\n  " + "\n  ".join(shown) + more)


@dataclass
class Correction:
    """What one correction did: the record, its new version, what changed, and the
    unidentified persons and families (database ids) whose candidates it affects."""

    entity: str
    entity_id: int
    code: str
    version: int
    action: str
    changes: list[str]
    unidentified_ids: list[int] = field(default_factory=list)
    family_ids: list[int] = field(default_factory=list)
    record_version_id: int | None = None

    def describe(self) -> str:
        return f"{self.entity} {self.code!r} version {self.version} ({self.action})"


# ----------------------------------------------------------------------------------------
# shared steps: who and why, locks, versions


def _who_and_why(changed_by: str, reason: str) -> tuple[str, str]:
    """``changed_by`` and ``reason`` checked: required, one line of at most 128 characters
    for the name, free text of at most MAX_TEXT_LENGTH for the reason."""
    changed_by = normalise_text(changed_by or "")
    reason = (reason or "").strip()
    if not changed_by:
        raise CorrectionError("changed_by: who makes the correction is required (--by NAME, or set "
                              "REUNITE_USER)")
    if not reason:
        raise CorrectionError("reason: why the data are corrected is required (--reason TEXT), e.g. "
                              "'re-typed after a sample mix-up, lab report 2024-117'")
    for value, what, limit in ((changed_by, "changed_by", MAX_NAME_LENGTH), (reason, "reason", MAX_TEXT_LENGTH)):
        why = check_text(value, what=what, where="correction", max_length=limit)
        if why:
            raise CorrectionError(why)
    return changed_by, reason


def _locked(session: Session, table, code: str, *, what: str, extra=()):
    """The row of ``table`` with this code, locked for this transaction; CorrectionError if
    there is none.  On PostgreSQL a row lock (a concurrent correction waits, then reads the
    version this one wrote); on SQLite a no-op update first, which takes the database's
    write lock before anything is read."""
    where = [table.code == code, *extra]
    if session.get_bind().dialect.name == "sqlite":
        session.execute(update(table).where(*where).values(code=table.code)
                        .execution_options(synchronize_session=False))
        q = select(table).where(*where)
    else:
        q = select(table).where(*where).with_for_update()
    row = session.execute(q.execution_options(populate_existing=True)).scalar_one_or_none()
    if row is None:
        raise CorrectionError(f"no {what} {code!r} in the database")
    return row


def _current_version(session: Session, entity: str, row) -> int:
    """The version a record has now: ``samples.version``; for families and unidentified
    persons 1 (the import) plus their corrections."""
    if entity == "sample":
        return row.version
    top = session.execute(select(func.max(RecordVersion.version)).where(
        RecordVersion.entity == entity, RecordVersion.entity_id == row.id)).scalar()
    return top or 1


def _record(session: Session, *, entity: str, row, action: str, before: dict, after: dict,
            changes: list[str], changed_by: str, reason: str) -> RecordVersion:
    """Write the record_versions row of a correction (the next version of ``row``).

    Raises
    ------
    CorrectionConflict
        when the database refuses the version: another correction wrote it meanwhile.
    """
    version = _current_version(session, entity, row) + 1
    code = row.code
    entry = RecordVersion(entity=entity, entity_id=row.id, version=version, action=action,
                          data=json.dumps({"before": before, "after": after, "changes": changes},
                                          sort_keys=True, default=str),
                          changed_by=changed_by, reason=reason, changed_at=datetime.now(timezone.utc))
    session.add(entry)
    try:
        session.flush()
    except IntegrityError:
        raise CorrectionConflict(
            f"{entity} {code!r}: version {version} was written by another correction at the same "
            "time; nothing was changed. Look at its history ('reunite correct history "
            f"{code}') and correct again if still needed") from None
    return entry


def _conflicts(fn):
    """Database refusals during a correction (a lock that cannot be taken, a version written
    by another session) become :class:`CorrectionConflict`."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from reunite.store.importers import ImportRejected

        try:
            return fn(*args, **kwargs)
        except ImportRejected as exc:  # a file read as an import reads it: nothing was imported, nor changed
            raise CorrectionRejected(exc.problems) from None
        except OperationalError as exc:
            text = str(exc.orig).lower()
            if "locked" in text or "lock" in text or "could not serialize" in text:
                raise CorrectionConflict(
                    "another transaction is changing the same data right now; nothing was changed. "
                    "Try again when it has finished") from None
            raise
        except IntegrityError as exc:
            raise CorrectionConflict(
                f"the database refused the correction ({str(exc.orig).strip().splitlines()[0]}); "
                "another correction or import changed the same data at the same time; nothing was "
                "changed. Try again") from None
    return wrapper


def _record_pending(session: Session, correction: Correction) -> None:
    """Searches the correction owes, recorded in its own transaction (done by
    :func:`research`; left over if the process dies, ``reunite search --pending`` runs them)."""
    why = f"correction: {correction.describe()}"
    for kind, ids in (("unidentified", correction.unidentified_ids), ("family", correction.family_ids)):
        for subject in ids:
            exists = session.execute(select(PendingSearch.id).where(
                PendingSearch.kind == kind, PendingSearch.subject_id == subject)).scalar()
            if exists is None:
                session.add(PendingSearch(kind=kind, subject_id=subject, reason=why))
    session.flush()


def _owner(session: Session, sample_id: int) -> tuple[list[int], list[int]]:
    """The unidentified persons and families whose candidates a sample's data affect."""
    uids = list(session.execute(select(Unidentified.id).where(Unidentified.sample_id == sample_id)).scalars())
    fids = list(session.execute(select(FamilyMember.family_id).where(FamilyMember.sample_id == sample_id))
                .scalars())
    return uids, fids


# ----------------------------------------------------------------------------------------
# samples: re-typed, withdrawn


def _sample_data(sample: Sample) -> dict:
    return {"code": sample.code, "profile": sample.profile, "num_loci": sample.num_loci,
            "status": sample.status, "version": sample.version, "amelogenin": sample.amelogenin,
            "y_profile": sample.y_profile, "lab": sample.lab,
            "typed_on": sample.typed_on.isoformat() if sample.typed_on else None}


def _check_profile(profile: dict, *, model: GeneticModel, where: str) -> dict[str, tuple[str, str]]:
    """A profile given in Python (``{locus: (a, b)}`` or ``{locus: "a/b"}``) checked as an
    import checks it: loci of the database's table (names normalised, a locus under two
    spellings refused), alleles plausible repeat numbers, two at most."""
    from reunite.genetics.loci import call_str

    known = model.loci()
    out: dict[str, tuple[str, str]] = {}
    spelled: dict[str, str] = {}
    problems = []
    for raw, genotype in profile.items():
        try:
            locus = normalise_locus(str(raw))  # digits of any script are ASCII there
        except ReuniteError as exc:
            problems.append(f"locus {raw!r}: {exc}")
            continue
        if locus not in known:
            problems.append(f"locus {raw!r} is not in the database's frequency table {model.population!r}")
            continue
        if locus in spelled:
            problems.append(f"locus {locus} is given twice, as {spelled[locus]!r} and {raw!r}")
            continue
        spelled[locus] = str(raw)
        parts = genotype.replace(",", "/").split("/") if isinstance(genotype, str) else list(genotype)
        cells = tuple(str(c).strip() for c in parts if str(c).strip())
        try:
            call = call_str(cells)
        except ReuniteError as exc:
            problems.append(f"locus {locus}: {exc}")
            continue
        if call.status != "typed":
            why = call.reason or {"empty": "no allele", "off_ladder": "an off-ladder call",
                                  "extra": "more than two alleles (a mixture)"}.get(call.status, call.status)
            problems.append(f"locus {locus}: {why} (found {genotype!r})")
            continue
        out[locus] = tuple(call.value)
    if not out and not problems:
        problems.append("the profile has no typed locus")
    if problems:
        raise CorrectionError(f"{where}: " + "; ".join(problems))
    return out


def _profile_from_file(path, code: str, *, model: GeneticModel,
                       encoding: str | None = None) -> tuple[dict, dict, list[str]]:
    """The profile of sample ``code`` in a genotype file (any import format, checked as an
    import checks it), the sample's other values in it (``amelogenin``, ``y_profile``), and
    notes on what else the file held."""
    from reunite.store.genotype_import import pack_y_profile, read_genotype_file

    gf = read_genotype_file(Path(path), model=model, encoding=encoding)
    code = normalise_text(code)
    if code not in gf.profiles:
        why = gf.outcomes.get(code)
        shown = ", ".join(repr(c) for c in sorted(gf.profiles)[:10])
        raise CorrectionError(
            f"{path}: sample {code!r} is not in the file" + (
                f" as a profile to import ({why.outcome.replace('_', ' ')}: {'; '.join(why.notes)})" if why else
                f" (it holds {len(gf.profiles)} sample(s): {shown}{', ...' if len(gf.profiles) > 10 else ''})"))
    others = sorted(c for c in gf.profiles if c != code)
    notes = [f"{len(others)} other sample(s) in {path} were not used ({', '.join(others[:5])}"
             f"{', ...' if len(others) > 5 else ''}); a correction changes one sample"] if others else []
    extra = {}
    if code in gf.amelogenin:
        extra["amelogenin"] = gf.amelogenin[code]
    if gf.y_profiles.get(code):
        extra["y_profile"] = pack_y_profile(gf.y_profiles[code])
    return gf.profiles[code], extra, notes


def _profile_changes(old: dict, new: dict) -> list[str]:
    out = []
    for locus in sorted(set(old) | set(new)):
        a, b = old.get(locus), new.get(locus)
        if a == b:
            continue
        if a is None:
            out.append(f"{locus}: untyped -> {'/'.join(b)}")
        elif b is None:
            out.append(f"{locus}: {'/'.join(a)} -> untyped")
        else:
            out.append(f"{locus}: {'/'.join(a)} -> {'/'.join(b)}")
    return out


@_conflicts
def retype_sample(session: Session, code: str, *, model: GeneticModel, changed_by: str, reason: str,
                  profile: dict | None = None, path=None, encoding: str | None = None) -> Correction:
    """Replace the profile of sample ``code`` by a re-typed one: ``profile``
    (``{locus: (a, b)}``) or the sample's profile in the genotype file ``path`` (with its
    Amelogenin and Y-STRs when the file has them).

    The old profile is kept in record_versions; the sample's version goes up by one.

    Raises
    ------
    CorrectionError
        unknown or withdrawn sample, neither or both of profile and path, a bad profile, a
        profile identical to the stored one.
    CorrectionConflict
        another correction of the sample at the same time.
    """
    changed_by, reason = _who_and_why(changed_by, reason)
    if (profile is None) == (path is None):
        raise CorrectionError("give the re-typed profile or a genotype file holding it (one of the two)")
    sample = _locked(session, Sample, normalise_text(code), what="sample")
    if sample.status != "active":
        raise CorrectionError(f"sample {sample.code!r} was withdrawn (version {sample.version}); a "
                              "withdrawn sample is not re-typed: import the new typing as a new sample")
    if path is not None:
        new, extra, notes = _profile_from_file(path, sample.code, model=model, encoding=encoding)
    else:
        new, extra, notes = _check_profile(profile, model=model, where=f"sample {sample.code!r}"), {}, []
    old = unpack_profile(sample.profile)
    changes = _profile_changes(old, new)
    for key, value in extra.items():
        if getattr(sample, key) != value:
            changes.append(f"{key}: {getattr(sample, key) or '-'} -> {value}")
    if not changes:
        raise CorrectionError(f"the new profile of sample {sample.code!r} is the stored one (version "
                              f"{sample.version}); nothing to correct")
    if "amelogenin" in extra:
        _owner_sex_agrees(session, sample, extra["amelogenin"])
    before = _sample_data(sample)
    values = {"profile": pack_profile(new), "num_loci": len(new), **extra}
    entry = _record(session, entity="sample", row=sample, action="retype", before=before,
                    after={**before, **values, "version": sample.version + 1},
                    changes=changes + notes, changed_by=changed_by, reason=reason)
    _bump_sample(session, sample, **values)
    uids, fids = _owner(session, sample.id)
    out = Correction("sample", sample.id, sample.code, entry.version, "retype", changes + notes, uids, fids,
                     entry.id)
    _record_pending(session, out)
    return out


def _owner_sex_agrees(session: Session, sample: Sample, amelogenin: str) -> None:
    """A re-typed Amelogenin must agree with the sex of the sample's person."""
    from reunite.genetics.loci import sex_from_amelogenin

    shown = sex_from_amelogenin(amelogenin)
    if shown is None:
        return
    for who, sex in [*((f"unidentified person {c!r}", x) for c, x in session.execute(
            select(Unidentified.code, Unidentified.sex).where(Unidentified.sample_id == sample.id))),
                     *((f"{p!r} of family {f!r}", x) for p, f, x in session.execute(
                         select(FamilyMember.person_code, Family.code, FamilyMember.sex)
                         .join(Family, Family.id == FamilyMember.family_id)
                         .where(FamilyMember.sample_id == sample.id)))]:
        if sex in ("M", "F") and sex != shown:
            raise CorrectionError(f"sample {sample.code!r}: the re-typed Amelogenin {amelogenin} "
                                  f"({'male' if shown == 'M' else 'female'}) disagrees with sex {sex} of {who}; "
                                  "correct the sex first if it is wrong, or check the sample for a mix-up")


def _bump_sample(session: Session, sample: Sample, **values) -> None:
    """Write the sample's new values and version, only if it is still the version read."""
    done = session.execute(update(Sample).where(Sample.id == sample.id, Sample.version == sample.version)
                           .values(version=sample.version + 1, **values)
                           .execution_options(synchronize_session=False)).rowcount
    if done != 1:
        raise CorrectionConflict(f"sample {sample.code!r} was changed by another correction at the same "
                                 "time; nothing was changed. Look at its history and correct again")
    session.expire(sample)


@_conflicts
def withdraw_sample(session: Session, code: str, *, changed_by: str, reason: str) -> Correction:
    """Withdraw sample ``code``: it stays in the database, linked to its person, but no search
    uses it (an unidentified person with it is not searched; a family searches without that
    reference).  Its candidates are re-searched or marked superseded by :func:`research`.

    Raises
    ------
    CorrectionError
        unknown sample, or already withdrawn.
    """
    changed_by, reason = _who_and_why(changed_by, reason)
    sample = _locked(session, Sample, normalise_text(code), what="sample")
    if sample.status == "withdrawn":
        raise CorrectionError(f"sample {sample.code!r} is already withdrawn (version {sample.version})")
    before = _sample_data(sample)
    changes = ["status: active -> withdrawn (no longer searched)"]
    entry = _record(session, entity="sample", row=sample, action="withdraw", before=before,
                    after={**before, "status": "withdrawn", "version": sample.version + 1},
                    changes=changes, changed_by=changed_by, reason=reason)
    _bump_sample(session, sample, status="withdrawn")
    uids, fids = _owner(session, sample.id)
    out = Correction("sample", sample.id, sample.code, entry.version, "withdraw", changes, uids, fids, entry.id)
    _record_pending(session, out)
    return out


# ----------------------------------------------------------------------------------------
# families: pedigree, a member's sex


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def _family_data(session: Session, family: Family) -> dict:
    rows = session.execute(select(FamilyMember, Sample.code)
                           .outerjoin(Sample, Sample.id == FamilyMember.sample_id)
                           .where(FamilyMember.family_id == family.id)
                           .order_by(FamilyMember.id)
                           .execution_options(populate_existing=True)).all()
    return {"code": family.code, "family_type": family.family_type, "members": [
        {"person": m.person_code, "father": m.father_code, "mother": m.mother_code, "sex": m.sex,
         "role": m.role, "sample": s, "birth_date": _iso(m.birth_date), "missing_date": _iso(m.missing_date),
         "missing_place": m.missing_place} for m, s in rows]}


def _member_changes(old: dict, new: dict) -> list[str]:
    out = []
    before = {m["person"]: m for m in old["members"]}
    after = {m["person"]: m for m in new["members"]}
    for person in before:
        if person not in after:
            out.append(f"{person}: removed (was {_member_text(before[person])})")
    for person, m in after.items():
        if person not in before:
            out.append(f"{person}: added ({_member_text(m)})")
            continue
        diffs = [f"{k} {before[person][k] or '-'} -> {m[k] or '-'}" for k in m if k != "person"
                 and before[person].get(k) != m[k]]
        if diffs:
            out.append(f"{person}: " + ", ".join(diffs))
    if old.get("family_type") != new.get("family_type"):
        out.append(f"family_type: {old.get('family_type') or '-'} -> {new.get('family_type') or '-'}")
    return out


def _member_text(m: dict) -> str:
    parts = [f"{m['role']}", f"sex {m['sex']}"]
    if m["father"] or m["mother"]:
        parts.append(f"parents {m['father'] or '-'}/{m['mother'] or '-'}")
    if m["sample"]:
        parts.append(f"sample {m['sample']}")
    return ", ".join(parts)


def _read_family(path: Path, family_code: str, *, encoding: str | None, lenient: bool):
    """The rows of ``family_code`` in a families file, checked as the families import checks
    each row.  Returns (file, [(line, person)], family_type)."""
    from reunite.store import importers as imp

    file = imp._PersonFile(path, kind="families", required=imp.FAMILY_COLUMNS,
                           optional=imp.FAMILY_OPTIONAL_COLUMNS, encoding=encoding, lenient=lenient)
    families, types, _ = imp.family_rows(file)
    members = families.pop(family_code, [])
    others = {fam: rows[0][0] for fam, rows in families.items()}
    family_type = (types[family_code], None) if family_code in types else None
    for fam, line in others.items():
        file.problems.append(f"{path}:{line}: family {fam!r} is not the family being corrected "
                             f"({family_code!r}); a pedigree correction file holds that family's rows only")
    if not members and not file.problems:
        file.problems.append(f"{path}: the file has no rows of family {family_code!r}")
    return file, members, family_type[0] if family_type else None


@_conflicts
def correct_pedigree(session: Session, family_code: str, *, path, changed_by: str, reason: str,
                     model: GeneticModel | None = None, encoding: str | None = None,
                     lenient: bool = False) -> Correction:
    """Replace the pedigree of family ``family_code`` by the rows of that family in the
    families file ``path`` (the import's columns; checked as the import checks them: roles,
    sexes, dates, samples known, active, nobody else's and agreeing with their Amelogenin,
    the pedigree itself).  Members are matched by person id: changed in place, added or
    removed; the family as it was (every member) is kept in record_versions.  A
    ``family_type`` column, when given, corrects the family's type.

    Raises
    ------
    CorrectionError
        unknown family; a file with problems (every one listed, with line and column); a
        pedigree identical to the stored one.
    """
    from reunite.store import importers as imp

    changed_by, reason = _who_and_why(changed_by, reason)
    path = Path(path)
    family = _locked(session, Family, normalise_text(family_code), what="family")
    file, people, family_type = _read_family(path, family.code, encoding=encoding, lenient=lenient)
    problems = file.problems
    current = {m.person_code: m for m in session.execute(
        select(FamilyMember).where(FamilyMember.family_id == family.id)
        .execution_options(populate_existing=True)).scalars()}
    own_samples = {m.sample_id for m in current.values() if m.sample_id is not None}
    samples, _ = imp.check_family_samples(session, file, {family.code: people},
                                          own_samples=own_samples)
    if people:
        imp.check_family_shape(path, family.code, people, problems)
    if problems:
        raise CorrectionRejected(problems)

    before = _family_data(session, family)
    new_type = family_type if "family_type" in file.columns else family.family_type
    after = {"code": family.code, "family_type": new_type, "members": [
        {"person": p["id"], "father": p["father"], "mother": p["mother"], "sex": p["sex"], "role": p["role"],
         "sample": p["sample"], "birth_date": _iso(p["birth_date"]), "missing_date": _iso(p["missing_date"]),
         "missing_place": p["missing_place"]} for _, p in people]}
    changes = _member_changes(before, after)
    if not changes:
        raise CorrectionError(f"{path}: the pedigree of family {family.code!r} is the stored one; "
                              "nothing to correct")
    changes += [f"{path}: {w}" for w in file.warnings]
    entry = _record(session, entity="family", row=family, action="pedigree", before=before, after=after,
                    changes=changes, changed_by=changed_by, reason=reason)

    # apply: sample links that change are cleared first (UNIQUE sample_id), removed members
    # deleted, samples the family no longer uses released, new ones claimed, members written
    wanted = {p["id"]: p for _, p in people}
    new_sample = {pid: samples[p["sample"]].id for pid, p in wanted.items() if p["sample"]}
    for pid, m in current.items():
        if m.sample_id is not None and new_sample.get(pid) != m.sample_id:
            m.sample_id, m.sample_owner_kind = None, None
    session.flush()
    for pid, m in current.items():
        if pid not in wanted:
            session.delete(m)
    session.flush()
    released = sorted(own_samples - set(new_sample.values()))
    if released:
        session.execute(update(Sample).where(Sample.id.in_(released)).values(owner_kind=None)
                        .execution_options(synchronize_session=False))
    claimed = sorted(set(new_sample.values()) - own_samples)
    if claimed:
        imp.claim_samples(session, path, claimed, "family_member")
    for pid, p in wanted.items():
        m = current.get(pid)
        if m is None:
            m = FamilyMember(family_id=family.id, person_code=pid)
            session.add(m)
        m.father_code, m.mother_code, m.sex, m.role = p["father"], p["mother"], p["sex"], p["role"]
        m.sample_id = new_sample.get(pid)
        m.sample_owner_kind = "family_member" if m.sample_id is not None else None
        m.birth_date, m.missing_date, m.missing_place = p["birth_date"], p["missing_date"], p["missing_place"]
    family.family_type = new_type
    session.flush()
    out = Correction("family", family.id, family.code, entry.version, "pedigree", changes, [], [family.id],
                     entry.id)
    _record_pending(session, out)
    return out


def _check_sex(sex: str) -> str:
    value = normalise_text(sex or "").upper()
    if value not in SEXES:
        raise CorrectionError(f"--sex: expected M, F or U, found {sex!r}")
    return value


def _amelogenin_disagrees(session: Session, sample_id: int | None, sex: str, who: str) -> None:
    from reunite.genetics.loci import sex_from_amelogenin as _sex_from_amelogenin

    if sample_id is None or sex == "U":
        return
    code, amel = session.execute(select(Sample.code, Sample.amelogenin).where(Sample.id == sample_id)).one()
    shown = _sex_from_amelogenin(amel)
    if shown is not None and shown != sex:
        raise CorrectionError(f"{who}: sex {sex!r} disagrees with the Amelogenin {amel} of sample {code!r} "
                              f"({'male' if shown == 'M' else 'female'}); check the sample for a mix-up, or "
                              "re-type it")


@_conflicts
def correct_sex(session: Session, person: str, family: str | None = None, *, sex: str, changed_by: str,
                reason: str) -> Correction:
    """Correct the sex of an unidentified person (``family`` None) or of a member of a family
    (a correction of the family's pedigree: a father must stay male, a mother female).  A sex
    that disagrees with the person's sample's Amelogenin is refused.

    Raises
    ------
    CorrectionError
        unknown person or family, a sex that is not M, F or U, unchanged, contradicted by
        Amelogenin or by the pedigree.
    """
    changed_by, reason = _who_and_why(changed_by, reason)
    sex = _check_sex(sex)
    person = normalise_text(person)
    if family is None:
        u = _locked(session, Unidentified, person, what="unidentified person")
        if u.sex == sex:
            raise CorrectionError(f"unidentified person {u.code!r} already has sex {sex}; nothing to correct")
        _amelogenin_disagrees(session, u.sample_id, sex, f"unidentified person {u.code!r}")
        before = _unidentified_data(session, u)
        changes = [f"sex: {u.sex} -> {sex}"]
        entry = _record(session, entity="unidentified", row=u, action="sex", before=before,
                        after={**before, "sex": sex}, changes=changes, changed_by=changed_by, reason=reason)
        u.sex = sex
        session.flush()
        out = Correction("unidentified", u.id, u.code, entry.version, "sex", changes, [u.id], [], entry.id)
        _record_pending(session, out)
        return out
    fam = _locked(session, Family, normalise_text(family), what="family")
    members = list(session.execute(select(FamilyMember).where(FamilyMember.family_id == fam.id)
                                   .order_by(FamilyMember.id)
                                   .execution_options(populate_existing=True)).scalars())
    member = next((m for m in members if m.person_code == person), None)
    if member is None:
        raise CorrectionError(f"family {fam.code!r} has no person {person!r} (its people: "
                              f"{', '.join(m.person_code for m in members)})")
    if member.sex == sex:
        raise CorrectionError(f"{person!r} of family {fam.code!r} already has sex {sex}; nothing to correct")
    _amelogenin_disagrees(session, member.sample_id, sex, f"{person!r} of family {fam.code!r}")
    try:
        make_pedigree([{"id": m.person_code, "father": m.father_code, "mother": m.mother_code,
                        "sex": sex if m is member else m.sex} for m in members], where=f"family {fam.code!r}")
    except PedigreeError as exc:
        raise CorrectionError(f"sex {sex} for {person!r}: {exc}") from None
    before = _family_data(session, fam)
    changes = [f"{person}: sex {member.sex} -> {sex}"]
    after = {**before, "members": [{**m, "sex": sex} if m["person"] == person else m for m in before["members"]]}
    entry = _record(session, entity="family", row=fam, action="sex", before=before, after=after,
                    changes=changes, changed_by=changed_by, reason=reason)
    member.sex = sex
    session.flush()
    out = Correction("family", fam.id, fam.code, entry.version, "sex", changes, [], [fam.id], entry.id)
    _record_pending(session, out)
    return out


def _unidentified_data(session: Session, u: Unidentified) -> dict:
    sample = session.execute(select(Sample.code).where(Sample.id == u.sample_id)).scalar()
    return {"code": u.code, "sample": sample, "sex": u.sex, "category": u.category,
            "estimated_birth_date": _iso(u.estimated_birth_date), "found_date": _iso(u.found_date),
            "found_place": u.found_place}


# ----------------------------------------------------------------------------------------
# history


@dataclass
class HistoryEntry:
    """One version of a record: version 1 is the import, later ones corrections."""

    entity: str
    code: str
    version: int
    action: str
    changed_by: str | None
    changed_at: datetime | None
    reason: str
    changes: list[str]


def history(session: Session, code: str, *, family: str | None = None) -> list[HistoryEntry]:
    """Every version of the records called ``code``: a sample, a family (with its members'
    samples), an unidentified person (with their sample), or with ``family`` a member of that
    family (the family's versions that changed that person, and their sample's).

    Raises
    ------
    CorrectionError
        if nothing in the database is called ``code``.
    """
    code = normalise_text(code)
    subjects: list[tuple[str, object, str | None]] = []  # (entity, row, person filter)
    if family is not None:
        fam = session.execute(select(Family).where(Family.code == normalise_text(family))).scalar_one_or_none()
        if fam is None:
            raise CorrectionError(f"no family {family!r} in the database")
        member = session.execute(select(FamilyMember).where(FamilyMember.family_id == fam.id,
                                                            FamilyMember.person_code == code)).scalar_one_or_none()
        subjects.append(("family", fam, code))
        if member is not None and member.sample_id is not None:
            subjects.append(("sample", session.get(Sample, member.sample_id), None))
    else:
        for entity, table in (("sample", Sample), ("family", Family), ("unidentified", Unidentified)):
            row = session.execute(select(table).where(table.code == code)).scalar_one_or_none()
            if row is None:
                continue
            subjects.append((entity, row, None))
            if entity == "family":
                for sid in session.execute(select(FamilyMember.sample_id).where(
                        FamilyMember.family_id == row.id, FamilyMember.sample_id.is_not(None))).scalars():
                    subjects.append(("sample", session.get(Sample, sid), None))
            if entity == "unidentified":
                subjects.append(("sample", session.get(Sample, row.sample_id), None))
    if not subjects:
        where = f" in family {family!r}" if family else ""
        raise CorrectionError(f"nothing called {code!r}{where} in the database (a sample, family or "
                              "unidentified person code; a family member needs --family)")
    out: list[HistoryEntry] = []
    seen = set()
    for entity, row, person in subjects:
        if (entity, row.id) in seen:
            continue
        seen.add((entity, row.id))
        batch = session.get(ImportBatch, row.batch_id) if row.batch_id is not None else None
        out.append(HistoryEntry(entity, row.code, 1, "import", batch.created_by if batch else None,
                                batch.created_at if batch else None,
                                f"imported from {batch.source}" if batch else "imported", []))
        for rv in session.execute(select(RecordVersion).where(
                RecordVersion.entity == entity, RecordVersion.entity_id == row.id)
                .order_by(RecordVersion.version)).scalars():
            data = json.loads(rv.data)
            changes = data.get("changes", [])
            if person is not None:
                changes = [c for c in changes if c.startswith(f"{person}:")]
                if not changes:
                    continue
            out.append(HistoryEntry(entity, row.code, rv.version, rv.action, rv.changed_by, rv.changed_at,
                                    rv.reason, changes))
    return out
