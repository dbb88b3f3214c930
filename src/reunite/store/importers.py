"""Imports: genotypes (long CSV, wide CSV, GeneMapper TSV), families, unidentified persons.

Every import is one transaction: a file with any bad row is rejected whole, with the file,
line and reason of every problem (up to a limit), and nothing is written.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from reunite.errors import PedigreeError, ReuniteError
from reunite.genetics.loci import sex_from_amelogenin
from reunite.genetics.pedigree import make_pedigree
from reunite.store.models import Family, FamilyMember, ImportBatch, Sample, Unidentified
from reunite.store.profiles import GeneticModel
from reunite.store.textio import (
    MAX_TEXT_LENGTH,
    FileFormatError,
    check_text,
    normalise_text,
    read_table,
    storable,
)

MAX_REPORTED = 50
MAX_ID_LENGTH = 128
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ROLES = ("reference", "missing", "untyped")
CATEGORIES = ("rescued_child", "unclear_origin", "begging_child", "registration_check")


class ImportRejected(ReuniteError):
    """A file was rejected; ``problems`` lists 'file:line: reason' strings."""

    def __init__(self, path, problems: list[str]):
        problems = sorted(problems, key=lambda text: _line_key(path, text))  # stable: file order
        self.problems = problems
        shown = problems[:MAX_REPORTED]
        more = f"\n... and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
        super().__init__(
            f"{path}: {len(problems)} problem(s); nothing was imported:\n  " + "\n  ".join(shown) + more
        )


def _line_key(path, text: str) -> int:
    """The line a problem names (``file:LINE: ...``), 0 for none: problems are listed in file order."""
    m = re.match(re.escape(str(path)) + r":(\d+):", text)
    return int(m.group(1)) if m else 0


def column_key(name: str) -> str:
    """A header name as columns are matched: NFKC, case-folded, spaces and dashes as ``_``
    (``Person ID``, ``person-id`` and ``PERSON_ID`` are ``person_id``)."""
    return re.sub(r"[\s\-]+", "_", normalise_text(name).casefold()).strip("_")


@dataclass
class ImportReport:
    kind: str
    source: str
    num_rows: int
    num_records: int
    new_ids: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # kept in the batch's report (e.g. --lenient)
    file_sha256: str | None = None
    encoding: str | None = None
    batch_id: int | None = None
    details: dict = field(default_factory=dict)  # the JSON kept in import_batches.report


# Genotype files (long, wide, run exports): reunite.store.genotype_import
from reunite.store.genotype_import import import_genotypes, read_genotypes  # noqa: E402,F401


def today() -> date:
    """Today's date: the one place where the importers ask (tests fix it)."""
    return date.today()


FAMILY_TYPE_LENGTH = 64  # families.family_type is VARCHAR(64)


class _PersonFile:
    """A families or unidentified file read for import: the columns matched by name
    (:func:`column_key`), records checked against the header, problems and warnings."""

    def __init__(self, path: Path, *, kind: str, required: tuple[str, ...], optional: tuple[str, ...],
                 encoding: str | None, lenient: bool):
        self.path, self.kind = path, kind
        try:
            self.table = read_table(path, encoding=encoding)
            self.sha256 = self.table.sha256  # of the bytes read_table decoded
        except FileFormatError as exc:
            raise ImportRejected(path, [str(exc)]) from None
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.ignored_columns: list[str] = []
        self.unfit: list[tuple[int, list[str]]] = []  # records refused for their field count
        line = self.table.header_line
        expected = ",".join(required) + "".join(f"[,{c}]" for c in optional)
        names = [column_key(h) for h in self.table.header]
        self.columns: dict[str, int] = {}
        header_problems = []
        for k, name in enumerate(names):
            if name in self.columns:
                header_problems.append(f"{path}:{line}: column {k + 1} {name!r} repeats column "
                                       f"{self.columns[name] + 1}; each column may appear once")
            elif name in required or name in optional:
                self.columns[name] = k
        absent = [c for c in required if c not in self.columns]
        if absent:
            header_problems.insert(0, f"{path}:{line}: expected the header {expected}, found "
                                      f"{','.join(self.table.header)}; missing: {', '.join(absent)}")
        for k, name in enumerate(names):
            if name in required or name in optional:
                continue
            label = f"column {k + 1} {self.table.header[k]!r}" if name else f"column {k + 1} (no name)"
            if lenient:
                self.ignored_columns.append(self.table.header[k])
                self.warnings.append(f"{path}:{line}: {label} is not a column of the {kind} file; "
                                     "its values were not imported (--lenient)")
            else:
                header_problems.append(f"{path}:{line}: expected the header {expected}; {label} is "
                                       "not one of them: rename or remove it, or import with --lenient "
                                       "to leave it out (reported)")
        if header_problems:
            raise ImportRejected(path, header_problems)

    def records(self):
        """``(line, _Row)`` of every record whose fields fit the header; the others are problems."""
        for line, fields in self.table.rows:
            why = self.table.width_problem(line, fields)
            if why:
                self.problems.append(why)
                self.unfit.append((line, fields))
                continue
            yield line, _Row(self, line, fields)


class _Row:
    """One record of a :class:`_PersonFile`: values by column name, each checked before it is
    stored (problems name the file, line and column)."""

    def __init__(self, file: _PersonFile, line: int, fields: list[str]):
        self.file, self.line, self.fields = file, line, fields
        self.where = f"{file.path}:{line}"

    def column(self, name: str) -> str:
        return f"column {self.file.columns[name] + 1}" if name in self.file.columns else f"no {name} column"

    def raw(self, name: str) -> str:
        k = self.file.columns.get(name)
        return self.fields[k].strip() if k is not None else ""

    def problem(self, message: str, name: str | None = None) -> None:
        self.file.problems.append(f"{self.where}: {message}" + (f" ({self.column(name)})" if name else ""))

    def code(self, name: str, *, max_length: int = MAX_ID_LENGTH) -> str | None:
        """An id or code: NFKC-normalised (``ＦＡＭ１`` is ``FAM1``), one line, at most
        ``max_length`` characters, no control characters; None if empty or refused."""
        value = self.raw(name)
        if value.isascii() and value.isprintable() and len(value) <= max_length:
            return value or None  # the common case: nothing to normalise or refuse
        value = normalise_text(value)
        if not value:
            if self.raw(name):  # only invisible characters (zero-width spaces): never dropped in silence
                self.problem(f"{name} {self.raw(name)!r} holds only invisible characters; type the id", name)
            return None
        why = check_text(value, what=name, where=self.where, max_length=max_length)
        if why:
            self.file.problems.append(f"{why} ({self.column(name)})")
            return None
        return value

    def text(self, name: str) -> str | None:
        """Free text (a place) as written, checked for control characters and length."""
        value = self.raw(name)
        if not value:
            return None
        why = check_text(value, what=name, where=self.where, max_length=MAX_TEXT_LENGTH)
        if why:
            self.file.problems.append(f"{why} ({self.column(name)})")
            return None
        return value

    def choice(self, name: str, options: tuple[str, ...]) -> str | None:
        value = normalise_text(self.raw(name)).lower()
        if value and value not in options:
            self.problem(f"{name} must be one of {', '.join(options)}, found {self.raw(name)!r}", name)
            return None
        return value or None

    def sex(self) -> str:
        value = normalise_text(self.raw("sex")).upper()
        if value in ("M", "F", "U", ""):
            return value or "U"
        self.problem(f"sex must be M, F or U, found {self.raw('sex')!r}", "sex")
        return "U"

    def date(self, name: str) -> date | None:
        """A date ``YYYY-MM-DD`` (full-width digits accepted), not after today."""
        value = normalise_text(self.raw(name))
        if not value:
            return None
        try:
            if not _ISO_DATE.match(value):
                raise ValueError(value)
            day = date.fromisoformat(value)
        except ValueError:
            self.problem(f"{name} must be a date YYYY-MM-DD, found {self.raw(name)!r}", name)
            return None
        now = today()
        if day > now:
            self.problem(f"{name} {day} is in the future (today is {now}); check the year", name)
            return None
        return day


@dataclass
class _SampleFacts:
    id: int
    amelogenin: str | None
    status: str


def _samples_by_code(session: Session, codes) -> dict[str, _SampleFacts]:
    codes = sorted(set(codes))
    out: dict[str, _SampleFacts] = {}
    for start in range(0, len(codes), 900):
        for code, id_, amel, status in session.execute(
                select(Sample.code, Sample.id, Sample.amelogenin, Sample.status)
                .where(Sample.code.in_(codes[start:start + 900]))).all():
            out[code] = _SampleFacts(id_, amel, status)
    return out


def _check_sample_sex(file: _PersonFile, line: int, *, who: str, sex: str, sample: str,
                      facts: _SampleFacts, indicated: list[dict], entry: dict) -> None:
    """A sex given in the file must agree with the sample's Amelogenin; an unknown sex that
    Amelogenin indicates is listed in the report (the stored sex is not changed)."""
    shown = sex_from_amelogenin(facts.amelogenin)
    if shown is None:
        return
    if sex == "U":
        indicated.append({"line": line, **entry, "sample": sample, "amelogenin": facts.amelogenin,
                          "sex": shown})
    elif sex != shown:
        column = f"column {file.columns['sex'] + 1}" if "sex" in file.columns else "no sex column"
        file.problems.append(
            f"{file.path}:{line}: {who} has sex {sex!r} in the file, but sample {sample!r} has "
            f"Amelogenin {facts.amelogenin} ({'male' if shown == 'M' else 'female'}); correct the sex, "
            f"or check the sample for a mix-up ({column})")


def _batch_report(file: _PersonFile, *, kind: str, num_rows: int, num_records: int, counts: dict,
                  indicated: list[dict]) -> tuple[dict, list[str]]:
    """The import report kept in ``import_batches.report`` and the notes printed with it."""
    notes = []
    if indicated:
        notes.append(f"{len(indicated):,} person(s) with sex U in the file have a sample whose "
                     "Amelogenin indicates their sex (listed in the import report; the stored sex "
                     "was not changed: where it is known, correct it with 'reunite correct sex')")
    report = {"kind": kind, "source": str(file.path), "file_sha256": file.sha256,
              "encoding": file.table.encoding, "num_rows": num_rows, "num_records": num_records,
              "imported": counts, "ignored_columns": file.ignored_columns, "warnings": file.warnings,
              "sex_indicated_by_amelogenin": indicated, "notes": notes}
    return report, notes


FAMILY_COLUMNS = ("family_id", "person_id", "father_id", "mother_id", "sex", "role", "sample_id")
FAMILY_OPTIONAL_COLUMNS = ("family_type", "birth_date", "missing_date", "missing_place")
MISSING_PERSON_COLUMNS = ("birth_date", "missing_date", "missing_place")


def import_families(session: Session, path, *, model: GeneticModel, encoding: str | None = None,
                    lenient: bool = False) -> ImportReport:
    """Import family pedigrees (PED-like CSV, see the README) in one transaction.

    Columns are matched by name; every record must have as many fields as the header.  The
    missing person's row may carry ``birth_date``, ``missing_date`` and ``missing_place``.

    Raises
    ------
    ImportRejected
        with every problem (file, line, column): a record that does not fit the header, an
        unknown column (a warning with ``lenient``), a bad id, sex, role or date, a pedigree
        error, a sample that is unknown, withdrawn, already someone's or whose Amelogenin
        contradicts the sex given.
    """
    path = Path(path)
    file = _PersonFile(path, kind="families", required=FAMILY_COLUMNS, optional=FAMILY_OPTIONAL_COLUMNS,
                       encoding=encoding, lenient=lenient)
    problems = file.problems
    families, types, incomplete = family_rows(file)
    if not families and not problems:
        problems.append(f"{path}:{file.table.header_line + 1}: the file has a header but no people")
    samples, indicated = check_family_samples(session, file, families)
    existing = _existing_codes(session, Family, families)
    for fam, members in families.items():
        if fam in existing:
            problems.append(f"{path}:{members[0][0]}: family {fam!r} is already in the database")
        if fam not in incomplete:  # a refused row: its pedigree would be judged without it
            check_family_shape(path, fam, members, problems)
    if problems:
        raise ImportRejected(path, problems)
    people = [p for ms in families.values() for _, p in ms]
    counts = {"families": len(families), "people": len(people),
              "references": sum(p["role"] == "reference" for p in people),
              "missing": sum(p["role"] == "missing" for p in people),
              "untyped": sum(p["role"] == "untyped" for p in people)}
    report, notes = _batch_report(file, kind="families", num_rows=len(people), num_records=len(families),
                                  counts=counts, indicated=indicated)
    batch = ImportBatch(kind="families", source=storable(str(path)), num_rows=len(people),
                        report=json.dumps(report, default=str), file_sha256=file.sha256)
    session.add(batch)
    session.flush()
    session.execute(insert(Family.__table__), [  # Core: one executemany, NULLs as given
        {"code": fam, "population": model.population, "family_type": types.get(fam),
         "batch_id": batch.id} for fam in families])
    ids = _codes_to_ids(session, Family, list(families))
    claim_samples(session, path, [samples[p["sample"]].id for p in people if p["sample"]], "family_member")
    session.execute(insert(FamilyMember.__table__), [
        {"family_id": ids[fam], "person_code": p["id"], "father_code": p["father"],
         "mother_code": p["mother"], "sex": p["sex"], "role": p["role"],
         "sample_id": samples[p["sample"]].id if p["sample"] else None,
         "sample_owner_kind": "family_member" if p["sample"] else None,
         "birth_date": p["birth_date"], "missing_date": p["missing_date"], "missing_place": p["missing_place"]}
        for fam, members in families.items() for _, p in members])
    return ImportReport("families", str(path), len(people), len(families), new_ids=[ids[f] for f in families],
                        notes=notes, warnings=list(file.warnings), file_sha256=file.sha256,
                        encoding=file.table.encoding, batch_id=batch.id, details=report)


def family_rows(file: "_PersonFile") -> tuple[dict[str, list[tuple[int, dict]]], dict[str, str], set[str]]:
    """Every record of a families file checked as a row (ids, role, sample only on references,
    sex, the missing person's dates and place, one family_type per family), problems added to
    ``file.problems`` with line and column.

    Returns ``({family: [(line, person)]}, {family: family_type}, families with a refused
    row)``; ``person`` holds id, father, mother, sex, role, sample, birth_date, missing_date,
    missing_place."""
    families: dict[str, list[tuple[int, dict]]] = {}
    types: dict[str, tuple[str, int]] = {}
    incomplete: set[str] = set()
    for line, row in file.records():
        fam, pid = row.code("family_id"), row.code("person_id")
        if not fam or not pid:
            incomplete.add(fam or normalise_text(row.raw("family_id")))
            if not (row.raw("family_id") and row.raw("person_id")):
                empty = "family_id" if not row.raw("family_id") else "person_id"
                row.problem(f"family_id and person_id are required; {empty} is empty", empty)
            continue
        role = row.choice("role", ROLES)
        if role is None and not row.raw("role"):
            row.problem(f"role must be one of {', '.join(ROLES)}, found ''", "role")
        sample = row.code("sample_id")
        if role == "reference" and not sample and not row.raw("sample_id"):
            row.problem(f"reference {pid!r} of family {fam!r} has no sample_id", "sample_id")
        if role in ("missing", "untyped") and sample:
            row.problem(f"{pid!r} has a sample_id but role {role!r}; typed relatives are references",
                        "sample_id")
        person = {"id": pid, "father": row.code("father_id"), "mother": row.code("mother_id"),
                  "sex": row.sex(), "role": role, "sample": sample}
        for name in MISSING_PERSON_COLUMNS:
            if row.raw(name) and role != "missing":
                row.problem(f"{name} is given for {pid!r}, whose role is {role or row.raw('role')!r}; "
                            "it describes the missing person only: move it to the row of role "
                            "'missing'", name)
        person["birth_date"], person["missing_date"] = row.date("birth_date"), row.date("missing_date")
        person["missing_place"] = row.text("missing_place")
        if person["birth_date"] and person["missing_date"] and person["missing_date"] < person["birth_date"]:
            row.problem(f"missing_date {person['missing_date']} is before the birth_date "
                        f"{person['birth_date']} of {pid!r}", "missing_date")
        families.setdefault(fam, []).append((line, person))
        family_type = row.code("family_type", max_length=FAMILY_TYPE_LENGTH)
        if family_type:
            first = types.setdefault(fam, (family_type, line))
            if first[0] != family_type:
                row.problem(f"family {fam!r} has family_type {family_type!r} here but {first[0]!r} on "
                            f"line {first[1]}; one family has one type", "family_type")
    incomplete.update(normalise_text(fields[file.columns["family_id"]]) for _, fields in file.unfit
                      if len(fields) > file.columns["family_id"])
    return families, {fam: t for fam, (t, _) in types.items()}, incomplete


def check_family_samples(session: Session, file: "_PersonFile", families: dict[str, list[tuple[int, dict]]], *,
                         own_samples=frozenset()) -> tuple[dict, list[dict]]:
    """The references' samples of ``families``: in the database, active, given to one person
    of the file and to nobody else (``own_samples``: sample ids the family being corrected
    already holds), agreeing with their Amelogenin; problems added to ``file.problems``.
    Returns ``({sample code: facts}, [persons whose sex Amelogenin indicates])``."""
    path, problems = file.path, file.problems
    samples = _samples_by_code(session, [p["sample"] for ms in families.values() for _, p in ms
                                         if p["sample"]])
    used = _samples_in_use(session, [s.id for s in samples.values()])
    seen_samples: dict[str, int] = {}
    indicated: list[dict] = []
    for fam, members in families.items():
        for line, p in members:
            sample = p["sample"]
            if not sample:
                continue
            if sample in seen_samples:
                problems.append(f"{path}:{line}: sample {sample!r} is given to two people (first on line "
                                f"{seen_samples[sample]}); a sample is one person")
            seen_samples.setdefault(sample, line)
            facts = samples.get(sample)
            if facts is None:
                problems.append(f"{path}:{line}: sample {sample!r} of {p['id']!r} is not in the "
                                "database; import the genotypes first")
                continue
            if facts.id in used and facts.id not in own_samples:
                problems.append(f"{path}:{line}: sample {sample!r} already belongs to {used[facts.id]}")
            if facts.status != "active" and facts.id not in own_samples:  # a withdrawn link may stay
                problems.append(f"{path}:{line}: sample {sample!r} of {p['id']!r} was withdrawn; it "
                                "cannot be given to a person (import the re-typed sample)")
            _check_sample_sex(file, line, who=f"{p['id']!r} of family {fam!r}", sex=p["sex"],
                              sample=sample, facts=facts, indicated=indicated,
                              entry={"family": fam, "person": p["id"]})
    return samples, indicated


def check_family_shape(path, fam: str, members: list[tuple[int, dict]], problems: list[str]) -> None:
    """A family needs a missing person and a reference, and a valid pedigree (people listed
    once, parents of the right sex, nobody their own ancestor); problems appended."""
    first = members[0][0]
    roles = [p["role"] for _, p in members]
    if "missing" not in roles:
        problems.append(f"{path}:{first}: family {fam!r} has no missing person (role 'missing')")
    if "reference" not in roles:
        problems.append(f"{path}:{first}: family {fam!r} has no reference (typed relative)")
    try:
        make_pedigree([{k: p[k] for k in ("id", "father", "mother", "sex")} for _, p in members],
                      where=f"{path}:{first}: family {fam!r}")
    except PedigreeError as exc:
        problems.append(str(exc))


def claim_samples(session: Session, path, sample_ids: list[int], owner_kind: str) -> None:
    """Assign samples to persons of ``owner_kind`` ('family_member' or 'unidentified').

    The database holds the rule (migration 0003): the UPDATE only takes active samples that
    nobody owns, and rows of the other kind cannot reference them.  A sample taken (or
    withdrawn) by a concurrent command since this one read the database is reported, and the
    transaction must roll back.
    """
    ids = sorted(set(sample_ids))
    taken = 0
    for start in range(0, len(ids), 900):
        part = ids[start:start + 900]
        taken += session.execute(update(Sample).where(Sample.id.in_(part), Sample.owner_kind.is_(None),
                                                      Sample.status == "active")
                                 .values(owner_kind=owner_kind)
                                 .execution_options(synchronize_session=False)).rowcount
    if taken != len(ids):
        owners = _samples_in_use(session, ids)
        codes = dict(session.execute(select(Sample.id, Sample.code).where(Sample.id.in_(ids[:900]))).all())
        clash = [f"sample {codes.get(i, i)!r} already belongs to {who}" for i, who in sorted(owners.items())]
        clash += [(f"sample {code!r} was withdrawn by a correction that ran at the same time; it cannot be "
                   "given to a person") for code in session.execute(select(Sample.code).where(
                       Sample.id.in_(ids[:900]), Sample.status != "active")).scalars()]
        raise ImportRejected(path, clash or [
            f"{path}: {len(ids) - taken} sample(s) were given to another person by an import that "
            "ran at the same time; nothing was imported (check both files, then import again)"])


def _samples_in_use(session: Session, sample_ids) -> dict[int, str]:
    """Samples already given to a family member or an unidentified person -> who has them."""
    ids = list(sample_ids)
    out: dict[int, str] = {}
    for start in range(0, len(ids), 900):
        part = ids[start:start + 900]
        for sid, person, fam in session.execute(
                select(FamilyMember.sample_id, FamilyMember.person_code, Family.code)
                .join(Family, Family.id == FamilyMember.family_id)
                .where(FamilyMember.sample_id.in_(part))).all():
            out[sid] = f"{person!r} of family {fam!r}"
        for sid, person in session.execute(
                select(Unidentified.sample_id, Unidentified.code).where(Unidentified.sample_id.in_(part))).all():
            out[sid] = f"unidentified person {person!r}"
    return out


def _existing_codes(session: Session, model, codes) -> set[str]:
    codes = list(codes)
    out: set[str] = set()
    for start in range(0, len(codes), 900):
        out.update(session.execute(select(model.code).where(model.code.in_(codes[start:start + 900]))).scalars())
    return out


def _codes_to_ids(session: Session, model, codes) -> dict[str, int]:
    out: dict[str, int] = {}
    for start in range(0, len(codes), 900):
        out.update(session.execute(select(model.code, model.id).where(model.code.in_(codes[start:start + 900])))
                   .all())
    return out


UNIDENTIFIED_COLUMNS = ("person_id", "sample_id", "sex", "category", "estimated_birth_date",
                        "found_date", "found_place")


def import_unidentified(session: Session, path, *, encoding: str | None = None,
                        lenient: bool = False) -> ImportReport:
    """Import unidentified persons (``person_id,sample_id`` required, see the README).

    Raises
    ------
    ImportRejected
        with every problem (file, line, column), as :func:`import_families`.
    """
    path = Path(path)
    file = _PersonFile(path, kind="unidentified", required=UNIDENTIFIED_COLUMNS[:2],
                       optional=UNIDENTIFIED_COLUMNS[2:], encoding=encoding, lenient=lenient)
    problems = file.problems
    records = []
    seen: dict[str, int] = {}
    for line, row in file.records():
        pid, sample = row.code("person_id"), row.code("sample_id")
        if not pid or not sample:
            if not (row.raw("person_id") and row.raw("sample_id")):
                empty = "person_id" if not row.raw("person_id") else "sample_id"
                row.problem(f"person_id and sample_id are required; {empty} is empty", empty)
            continue
        if pid in seen:
            row.problem(f"person {pid!r} is listed twice (first on line {seen[pid]})", "person_id")
            continue
        seen[pid] = line
        r = {"code": pid, "sample": sample, "sex": row.sex(), "category": row.choice("category", CATEGORIES),
             "estimated_birth_date": row.date("estimated_birth_date"), "found_date": row.date("found_date"),
             "found_place": row.text("found_place")}
        if r["found_date"] and r["estimated_birth_date"] and r["found_date"] < r["estimated_birth_date"]:
            row.problem(f"found_date {r['found_date']} is before the estimated birth date "
                        f"{r['estimated_birth_date']}", "found_date")
        records.append((line, r))
    if not records and not problems:
        problems.append(f"{path}:{file.table.header_line + 1}: the file has a header but no persons")
    samples = _samples_by_code(session, [r["sample"] for _, r in records])
    used = _samples_in_use(session, [s.id for s in samples.values()])
    existing = _existing_codes(session, Unidentified, [r["code"] for _, r in records])
    seen_samples: dict[str, int] = {}
    indicated: list[dict] = []
    for line, r in records:
        if r["sample"] in seen_samples:
            problems.append(f"{path}:{line}: sample {r['sample']!r} is given to two persons (first on "
                            f"line {seen_samples[r['sample']]}); a sample is one person")
        seen_samples.setdefault(r["sample"], line)
        facts = samples.get(r["sample"])
        if facts is None:
            problems.append(f"{path}:{line}: sample {r['sample']!r} is not in the database; import the "
                            "genotypes first")
        else:
            if facts.id in used:
                problems.append(f"{path}:{line}: sample {r['sample']!r} already belongs to {used[facts.id]}")
            if facts.status != "active":
                problems.append(f"{path}:{line}: sample {r['sample']!r} was withdrawn; it cannot be given "
                                "to a person (import the re-typed sample)")
            _check_sample_sex(file, line, who=f"unidentified person {r['code']!r}", sex=r["sex"],
                              sample=r["sample"], facts=facts, indicated=indicated,
                              entry={"person": r["code"]})
        if r["code"] in existing:
            problems.append(f"{path}:{line}: person {r['code']!r} is already in the database")
    if problems:
        raise ImportRejected(path, problems)
    counts = {"unidentified": len(records)}
    report, notes = _batch_report(file, kind="unidentified", num_rows=len(records),
                                  num_records=len(records), counts=counts, indicated=indicated)
    batch = ImportBatch(kind="unidentified", source=storable(str(path)), num_rows=len(records),
                        report=json.dumps(report, default=str), file_sha256=file.sha256)
    session.add(batch)
    session.flush()
    claim_samples(session, path, [samples[r["sample"]].id for _, r in records], "unidentified")
    session.execute(insert(Unidentified.__table__), [
        {"code": r["code"], "sample_id": samples[r["sample"]].id, "sample_owner_kind": "unidentified",
         "sex": r["sex"], "category": r["category"], "estimated_birth_date": r["estimated_birth_date"],
         "found_date": r["found_date"], "found_place": r["found_place"], "batch_id": batch.id}
        for _, r in records])
    ids = _codes_to_ids(session, Unidentified, [r["code"] for _, r in records])
    return ImportReport("unidentified", str(path), len(records), len(records),
                        new_ids=[ids[r["code"]] for _, r in records], notes=notes,
                        warnings=list(file.warnings), file_sha256=file.sha256,
                        encoding=file.table.encoding, batch_id=batch.id, details=report)


def import_all(session: Session, paths: dict, *, model: GeneticModel) -> tuple[ImportReport, ...]:
    """Import ``paths["genotypes"]``, ``["families"]`` and ``["unidentified"]`` in that order
    (the layout :func:`reunite.simulate.write_database` writes)."""
    return (import_genotypes(session, paths["genotypes"], model=model),
            import_families(session, paths["families"], model=model),
            import_unidentified(session, paths["unidentified"]))
