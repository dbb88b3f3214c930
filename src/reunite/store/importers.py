"""Imports: genotypes (long CSV, wide CSV, GeneMapper TSV), families, unidentified persons.

Every import is one transaction: a file with any bad row is rejected whole, with the file,
line and reason of every problem (up to a limit), and nothing is written.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import date
from pathlib import Path

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from reunite.errors import PedigreeError, ReuniteError
from reunite.genetics.loci import normalise_allele, normalise_locus
from reunite.genetics.pedigree import make_pedigree
from reunite.store.models import Family, FamilyMember, ImportBatch, Sample, Unidentified
from reunite.store.profiles import GeneticModel, pack_profile

MAX_REPORTED = 50
MAX_ID_LENGTH = 128
_REPEAT = re.compile(r"^\d{1,3}(\.\d)?$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SKIPPED_MARKERS = ("AMELOGENIN", "AMEL")
ROLES = ("reference", "missing", "untyped")
CATEGORIES = ("rescued_child", "unclear_origin", "begging_child", "registration_check")


class ImportRejected(ReuniteError):
    """A file was rejected; ``problems`` lists 'file:line: reason' strings."""

    def __init__(self, path, problems: list[str]):
        self.problems = problems
        shown = problems[:MAX_REPORTED]
        more = f"\n... and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
        super().__init__(
            f"{path}: {len(problems)} problem(s); nothing was imported:\n  " + "\n  ".join(shown) + more
        )


@dataclass
class ImportReport:
    kind: str
    source: str
    num_rows: int
    num_records: int
    new_ids: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _open_rows(path: Path, delimiter: str | None = None):
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ReuniteError(f"{path}: cannot read the file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ReuniteError(f"{path}: not a UTF-8 text file") from None
    lines = text.splitlines()
    if not lines:
        raise ImportRejected(path, [f"{path}:1: the file is empty; expected a header line"])
    if delimiter is None:
        delimiter = "\t" if "\t" in lines[0] else ","
    reader = csv.reader(lines, delimiter=delimiter)
    header = [h.strip() for h in next(reader)]
    return header, ((k, row) for k, row in enumerate(reader, start=2) if row and any(row)
                    and any(c.strip() for c in row))


@lru_cache(maxsize=65536)
def _allele_pair(a: str, b: str) -> tuple[str, str] | str:
    """Two allele cells -> the sorted canonical pair, or the reason they are refused."""
    a, b = a.strip(), b.strip()
    if not a:
        return "no allele"
    b = b or a
    try:
        a, b = normalise_allele(a), normalise_allele(b)
    except ReuniteError:
        pass
    if not (_REPEAT.match(a) and _REPEAT.match(b)):
        return f"alleles must be repeat numbers such as 15 or 9.3, found {a!r}/{b!r}"
    return (a, b) if float(a) <= float(b) else (b, a)


def read_genotypes(path, *, model: GeneticModel) -> tuple[dict[str, dict[str, tuple[str, str]]], str]:
    """Parse a genotype file; returns ``({sample: {locus: (a, b)}}, format)``.

    Formats (detected from the header): long ``sample_id,locus,allele1,allele2``; wide
    ``sample_id,<locus>,...`` with ``a/b`` cells; GeneMapper tab-separated exports with
    ``Sample Name``, ``Marker``, ``Allele 1``, ``Allele 2`` (an empty Allele 2 is a homozygote).

    Raises
    ------
    ImportRejected
        with every bad line: unknown locus, bad allele, more than two alleles, a locus
        typed twice for one sample.
    """
    path = Path(path)
    header, rows = _open_rows(path)
    lower = [h.lower() for h in header]
    known = model.loci()
    problems: list[str] = []
    profiles: dict[str, dict[str, tuple[str, str]]] = {}

    loci_seen: dict[str, str | None] = {}  # raw locus name -> canonical, "" to skip, None unknown

    def canonical_locus(raw: str) -> str | None:
        hit = loci_seen.get(raw, False)
        if hit is False:
            try:
                locus = normalise_locus(raw)
            except ReuniteError:
                locus = None
            if locus is not None and (locus in SKIPPED_MARKERS or locus.startswith(("DYS", "Y"))):
                locus = ""
            elif locus is not None and locus not in known:
                locus = None
            hit = loci_seen[raw] = locus
        return hit

    def add(line: int, sample: str, locus_raw: str, a: str, b: str) -> None:
        if not sample:
            problems.append(f"{path}:{line}: empty sample id")
            return
        locus = canonical_locus(locus_raw)
        if locus == "":
            return
        if locus is None:
            try:
                why = model.unusable_loci().get(normalise_locus(locus_raw))
            except ReuniteError:
                why = None
            problems.append(f"{path}:{line}: locus {locus_raw!r} " + (
                f"cannot be used: {why}" if why else
                f"is not in the database's frequency table {model.population!r}; use one of its "
                f"loci ({', '.join(sorted(model.loci()))}) or a database with another table"))
            return
        pair = _allele_pair(a, b)
        if isinstance(pair, str):
            problems.append(f"{path}:{line}: sample {sample!r}, locus {locus}: {pair}")
            return
        if len(sample) > MAX_ID_LENGTH:
            problems.append(f"{path}:{line}: sample id longer than {MAX_ID_LENGTH} characters")
            return
        prof = profiles.setdefault(sample, {})
        if locus in prof:
            problems.append(f"{path}:{line}: sample {sample!r}, locus {locus} is typed twice")
            return
        prof[locus] = pair

    if lower[:4] == ["sample_id", "locus", "allele1", "allele2"]:
        fmt = "long"
        for line, row in rows:  # extra header columns (comments, quality flags) are ignored
            if len(row) != len(header):
                problems.append(f"{path}:{line}: expected {len(header)} fields as in the header, "
                                f"found {len(row)} (a third allele is a mixture: single-source "
                                "profiles only)" if len(row) > len(header) else
                                f"{path}:{line}: expected {len(header)} fields as in the header, "
                                f"found {len(row)}")
                continue
            add(line, row[0].strip(), row[1], row[2], row[3])
    elif "sample name" in lower and "marker" in lower and "allele 1" in lower:
        fmt = "genemapper"
        cs, cm, c1 = lower.index("sample name"), lower.index("marker"), lower.index("allele 1")
        c2 = lower.index("allele 2") if "allele 2" in lower else None
        c3 = lower.index("allele 3") if "allele 3" in lower else None
        for line, row in rows:
            row = row + [""] * (len(header) - len(row))
            if c3 is not None and row[c3].strip():
                problems.append(f"{path}:{line}: sample {row[cs]!r}, marker {row[cm]!r}: three alleles "
                                "(a mixture or an artefact); single-source profiles only")
                continue
            add(line, row[cs].strip(), row[cm], row[c1], row[c2] if c2 is not None else "")
    elif lower and lower[0] == "sample_id" and len(header) > 1:
        fmt = "wide"
        loci = header[1:]
        first_line: dict[str, int] = {}
        for line, row in rows:
            if len(row) != len(header):
                problems.append(f"{path}:{line}: expected {len(header)} fields, found {len(row)}")
                continue
            if row[0].strip() in first_line:
                problems.append(f"{path}:{line}: sample {row[0].strip()!r} is listed twice (first on "
                                f"line {first_line[row[0].strip()]})")
                continue
            first_line[row[0].strip()] = line
            for locus, cell in zip(loci, row[1:]):
                cell = cell.strip()
                if not cell:
                    continue
                parts = cell.replace(",", "/").split("/")
                if len(parts) > 2:
                    problems.append(f"{path}:{line}: sample {row[0]!r}, locus {locus}: expected 'a/b', "
                                    f"found {cell!r}")
                    continue
                add(line, row[0].strip(), locus, parts[0], parts[1] if len(parts) > 1 else "")
    else:
        raise ImportRejected(path, [
            f"{path}:1: unrecognised header {header!r}; expected 'sample_id,locus,allele1,allele2' "
            "(long), 'sample_id,<locus>,...' (wide) or a GeneMapper export with 'Sample Name', "
            "'Marker', 'Allele 1', 'Allele 2'"])
    if not problems and not profiles:
        problems.append(f"{path}:2: the file has a header but no genotypes")
    if problems:
        raise ImportRejected(path, problems)
    return profiles, fmt


def import_genotypes(session: Session, path, *, model: GeneticModel, lab: str | None = None) -> ImportReport:
    """Import a genotype file in one transaction (see :func:`read_genotypes`)."""
    path = Path(path)
    profiles, fmt = read_genotypes(path, model=model)
    existing = _existing_codes(session, Sample, profiles)
    if existing:
        raise ImportRejected(path, [f"{path}: sample {c!r} is already in the database" for c in sorted(existing)])
    batch = ImportBatch(kind=f"genotypes ({fmt})", source=str(path), num_rows=len(profiles))
    session.add(batch)
    session.flush()
    session.execute(insert(Sample), [
        {"code": code, "profile": pack_profile(prof), "num_loci": len(prof), "lab": lab, "batch_id": batch.id}
        for code, prof in profiles.items()
    ])
    return ImportReport("genotypes", str(path), sum(len(p) for p in profiles.values()), len(profiles),
                        notes=[f"format: {fmt}"])


def _sex(value: str, where: str, problems: list[str]) -> str:
    v = value.strip().upper()
    if v in ("M", "F", "U", ""):
        return v or "U"
    problems.append(f"{where}: sex must be M, F or U, found {value!r}")
    return "U"


def _date(value: str, where: str, what: str, problems: list[str]) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        if not _ISO_DATE.match(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        problems.append(f"{where}: {what} must be a date YYYY-MM-DD, found {value!r}")
        return None


def _sample_ids(session: Session, codes) -> dict[str, int]:
    return _codes_to_ids(session, Sample, sorted(set(codes)))


FAMILY_COLUMNS = ("family_id", "person_id", "father_id", "mother_id", "sex", "role", "sample_id")


def import_families(session: Session, path, *, model: GeneticModel) -> ImportReport:
    """Import family pedigrees (PED-like CSV, see the README) in one transaction."""
    path = Path(path)
    header, rows = _open_rows(path)
    lower = [h.lower() for h in header]
    if tuple(lower[:7]) != FAMILY_COLUMNS:
        raise ImportRejected(path, [f"{path}:1: expected the header {','.join(FAMILY_COLUMNS)}"
                                    f"[,family_type], found {','.join(header)}"])
    problems: list[str] = []
    families: dict[str, list[tuple[int, dict]]] = {}
    types: dict[str, str] = {}
    for line, row in rows:
        row = [c.strip() for c in row] + [""] * (len(header) - len(row))
        where = f"{path}:{line}"
        fam, pid, father, mother, sex, role, sample = row[:7]
        if not fam or not pid:
            problems.append(f"{where}: family_id and person_id are required")
            continue
        if role not in ROLES:
            problems.append(f"{where}: role must be one of {', '.join(ROLES)}, found {role!r}")
        if role == "reference" and not sample:
            problems.append(f"{where}: reference {pid!r} of family {fam!r} has no sample_id")
        if role != "reference" and sample:
            problems.append(f"{where}: {pid!r} has a sample_id but role {role!r}; typed relatives "
                            "are references")
        families.setdefault(fam, []).append((line, {
            "id": pid, "father": father or None, "mother": mother or None,
            "sex": _sex(sex, where, problems), "role": role, "sample": sample or None}))
        if len(row) > 7 and row[7]:
            types[fam] = row[7]
    if not families and not problems:
        problems.append(f"{path}:2: the file has a header but no people")
    for fam, members in families.items():
        for line, p in members:
            for key in ("id", "father", "mother"):
                if p[key] and len(p[key]) > MAX_ID_LENGTH:
                    problems.append(f"{path}:{line}: {key} id longer than {MAX_ID_LENGTH} characters")
        if len(fam) > MAX_ID_LENGTH:
            problems.append(f"{path}:{members[0][0]}: family id longer than {MAX_ID_LENGTH} characters")
    samples = _sample_ids(session, [p["sample"] for ms in families.values() for _, p in ms if p["sample"]])
    used = _samples_in_use(session, samples.values())
    seen_samples: dict[str, int] = {}
    for fam, members in families.items():
        for line, p in members:
            sample = p["sample"]
            if not sample:
                continue
            if sample in seen_samples:
                problems.append(f"{path}:{line}: sample {sample!r} is given to two people (first on line "
                                f"{seen_samples[sample]}); a sample is one person")
            seen_samples.setdefault(sample, line)
            if sample in samples and samples[sample] in used:
                problems.append(f"{path}:{line}: sample {sample!r} already belongs to {used[samples[sample]]}")
    existing = _existing_codes(session, Family, families)
    for fam, members in families.items():
        first = members[0][0]
        if fam in existing:
            problems.append(f"{path}:{first}: family {fam!r} is already in the database")
        roles = [p["role"] for _, p in members]
        if "missing" not in roles:
            problems.append(f"{path}:{first}: family {fam!r} has no missing person (role 'missing')")
        if "reference" not in roles:
            problems.append(f"{path}:{first}: family {fam!r} has no reference (typed relative)")
        for line, p in members:
            if p["sample"] and p["sample"] not in samples:
                problems.append(f"{path}:{line}: sample {p['sample']!r} of {p['id']!r} is not in the "
                                "database; import the genotypes first")
        try:
            make_pedigree([{k: p[k] for k in ("id", "father", "mother", "sex")} for _, p in members],
                          where=f"{path}:{first}: family {fam!r}")
        except PedigreeError as exc:
            problems.append(str(exc))
    if problems:
        raise ImportRejected(path, problems)
    batch = ImportBatch(kind="families", source=str(path), num_rows=sum(len(m) for m in families.values()))
    session.add(batch)
    session.flush()
    session.execute(insert(Family), [
        {"code": fam, "population": model.population, "family_type": types.get(fam), "batch_id": batch.id}
        for fam in families])
    ids = _codes_to_ids(session, Family, list(families))
    claim_samples(session, path, [samples[p["sample"]] for ms in families.values() for _, p in ms
                                  if p["sample"]], "family_member")
    session.execute(insert(FamilyMember), [
        {"family_id": ids[fam], "person_code": p["id"], "father_code": p["father"],
         "mother_code": p["mother"], "sex": p["sex"], "role": p["role"],
         "sample_id": samples.get(p["sample"]) if p["sample"] else None,
         "sample_owner_kind": "family_member" if p["sample"] else None}
        for fam, members in families.items() for _, p in members])
    return ImportReport("families", str(path), batch.num_rows, len(families),
                        new_ids=[ids[f] for f in families])


def claim_samples(session: Session, path, sample_ids: list[int], owner_kind: str) -> None:
    """Assign samples to persons of ``owner_kind`` ('family_member' or 'unidentified').

    The database holds the rule (migration 0003): the UPDATE only takes samples that nobody
    owns, and rows of the other kind cannot reference them.  A sample taken by a concurrent
    import since this one read the database is reported, and the transaction must roll back.
    """
    ids = sorted(set(sample_ids))
    taken = 0
    for start in range(0, len(ids), 900):
        part = ids[start:start + 900]
        taken += session.execute(update(Sample).where(Sample.id.in_(part), Sample.owner_kind.is_(None))
                                 .values(owner_kind=owner_kind)
                                 .execution_options(synchronize_session=False)).rowcount
    if taken != len(ids):
        owners = _samples_in_use(session, ids)
        codes = dict(session.execute(select(Sample.id, Sample.code).where(Sample.id.in_(ids[:900]))).all())
        clash = [f"sample {codes.get(i, i)!r} already belongs to {who}" for i, who in sorted(owners.items())]
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


def import_unidentified(session: Session, path) -> ImportReport:
    """Import unidentified persons (``person_id,sample_id`` required, see the README)."""
    path = Path(path)
    header, rows = _open_rows(path)
    lower = [h.lower() for h in header]
    if lower[:2] != ["person_id", "sample_id"] or any(h not in UNIDENTIFIED_COLUMNS for h in lower):
        raise ImportRejected(path, [f"{path}:1: expected the header person_id,sample_id[,"
                                    f"{','.join(UNIDENTIFIED_COLUMNS[2:])}], found {','.join(header)}"])
    col = {h: k for k, h in enumerate(lower)}
    problems: list[str] = []
    records = []
    seen: dict[str, int] = {}
    for line, row in rows:
        row = [c.strip() for c in row] + [""] * (len(header) - len(row))
        where = f"{path}:{line}"
        get = lambda name: row[col[name]] if name in col else ""  # noqa: E731
        pid, sample = get("person_id"), get("sample_id")
        if not pid or not sample:
            problems.append(f"{where}: person_id and sample_id are required")
            continue
        if pid in seen:
            problems.append(f"{where}: person {pid!r} is listed twice (first on line {seen[pid]})")
            continue
        seen[pid] = line
        category = get("category") or None
        if category and category not in CATEGORIES:
            problems.append(f"{where}: category must be one of {', '.join(CATEGORIES)}, found {category!r}")
        records.append((line, {
            "code": pid, "sample": sample, "sex": _sex(get("sex"), where, problems), "category": category,
            "estimated_birth_date": _date(get("estimated_birth_date"), where, "estimated_birth_date", problems),
            "found_date": _date(get("found_date"), where, "found_date", problems),
            "found_place": get("found_place") or None}))
    if not records and not problems:
        problems.append(f"{path}:2: the file has a header but no persons")
    samples = _sample_ids(session, [r["sample"] for _, r in records])
    used = _samples_in_use(session, samples.values())
    existing = _existing_codes(session, Unidentified, [r["code"] for _, r in records])
    seen_samples: dict[str, int] = {}
    for line, r in records:
        if len(r["code"]) > MAX_ID_LENGTH:
            problems.append(f"{path}:{line}: person id longer than {MAX_ID_LENGTH} characters")
        if r["sample"] in seen_samples:
            problems.append(f"{path}:{line}: sample {r['sample']!r} is given to two persons (first on "
                            f"line {seen_samples[r['sample']]}); a sample is one person")
        seen_samples.setdefault(r["sample"], line)
        if r["sample"] in samples and samples[r["sample"]] in used:
            problems.append(f"{path}:{line}: sample {r['sample']!r} already belongs to "
                            f"{used[samples[r['sample']]]}")
        if r["found_date"] and r["estimated_birth_date"] and r["found_date"] < r["estimated_birth_date"]:
            problems.append(f"{path}:{line}: found_date {r['found_date']} is before the estimated "
                            f"birth date {r['estimated_birth_date']}")
        if r["sample"] not in samples:
            problems.append(f"{path}:{line}: sample {r['sample']!r} is not in the database; import the "
                            "genotypes first")
        if r["code"] in existing:
            problems.append(f"{path}:{line}: person {r['code']!r} is already in the database")
    if problems:
        raise ImportRejected(path, problems)
    batch = ImportBatch(kind="unidentified", source=str(path), num_rows=len(records))
    session.add(batch)
    session.flush()
    claim_samples(session, path, [samples[r["sample"]] for _, r in records], "unidentified")
    session.execute(insert(Unidentified), [
        {"code": r["code"], "sample_id": samples[r["sample"]], "sample_owner_kind": "unidentified", "sex": r["sex"], "category": r["category"],
         "estimated_birth_date": r["estimated_birth_date"], "found_date": r["found_date"],
         "found_place": r["found_place"], "batch_id": batch.id} for _, r in records])
    ids = _codes_to_ids(session, Unidentified, [r["code"] for _, r in records])
    return ImportReport("unidentified", str(path), len(records), len(records),
                        new_ids=[ids[r["code"]] for _, r in records])


def import_all(session: Session, paths: dict, *, model: GeneticModel) -> tuple[ImportReport, ...]:
    """Import ``paths["genotypes"]``, ``["families"]`` and ``["unidentified"]`` in that order
    (the layout :func:`reunite.simulate.write_database` writes)."""
    return (import_genotypes(session, paths["genotypes"], model=model),
            import_families(session, paths["families"], model=model),
            import_unidentified(session, paths["unidentified"]))
