"""Genotype files in: long CSV, wide CSV and run exports (GeneMapper and the like).

The format is recognised from the header:

- long: ``sample_id,locus,allele1,allele2`` (``allele3``... may follow: a third allele is a
  mixture and an error), one row per sample and locus;
- wide: ``sample_id,<locus>,<locus>,...`` with cells ``a/b`` (``a`` alone: a homozygote);
- run export: ``Sample Name``, ``Marker``, ``Allele 1``..``Allele N`` (tab-separated, see
  :mod:`reunite.store.runexport`).

Every file is read through :mod:`reunite.store.textio` (UTF-8, GBK/GB18030, UTF-16 with a BOM,
or ``encoding``).  Locus names are normalised (``vWA`` = ``VWA``, ``THO1`` = ``TH01``) and one
locus under two spellings for one sample is an error naming both; alleles are normalised
(``９.３`` = ``9.3``) and must be repeat numbers from 1 to 99.  Amelogenin is kept as
``samples.amelogenin`` and Y-STRs as ``samples.y_profile``.  Long and wide files are imported
whole or not at all; a run export drops its ladders, controls and unusable loci and samples
into the import report instead (unless ``strict``).  What was imported, skipped and why, and
each profile's quality (:mod:`reunite.store.quality`), is kept in ``import_batches.report``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from reunite.errors import ReuniteError
from reunite.genetics.loci import (
    ascii_digits,
    call_marker,
    call_str,
    marker_kind,
    normalise_locus,
    sex_from_amelogenin,
)
from reunite.store.models import ImportBatch, Sample
from reunite.store.profiles import GeneticModel, pack_profile, unpack_profile
from reunite.store.quality import QualityRules, summarise
from reunite.store.runexport import (
    CONTROL_KINDS,
    ControlPatterns,
    SampleOutcome,
    controls_from_options,
    line_ranges,
    read_run,
)
from reunite.store.textio import FileFormatError, check_text, normalise_text, storable, stream_table

__all__ = ["GenotypeFile", "import_genotypes", "pack_y_profile", "read_genotype_file", "read_genotypes",
           "sex_from_amelogenin", "unpack_y_profile"]

MAX_SAMPLE_ID_LENGTH = 128  # samples.code is VARCHAR(128)
MAX_REPORT_ROWS = 10_000    # samples listed one by one in a stored report; the rest counted
LONG_COLUMNS = ("sample_id", "locus", "allele1", "allele2")
_EXTRA_ALLELE = re.compile(r"allele([3-9]|[1-9]\d+)")


def _column_key(name: str) -> str:
    """A column name as matched: case, spaces, dashes and underscores ignored."""
    return re.sub(r"[\s_\-]+", "", name.strip().lower())


def _rejected(path, problems):
    from reunite.store.importers import ImportRejected  # importers re-exports this module

    return ImportRejected(path, problems)


def pack_y_profile(profile: dict[str, tuple[str, ...]]) -> str:
    """``{"DYS385": ("13", "17"), "DYS19": ("14",)}`` -> ``"DYS19=14;DYS385=13/17"``."""
    return ";".join(f"{locus}={'/'.join(alleles)}" for locus, alleles in sorted(profile.items()))


def unpack_y_profile(text: str | None) -> dict[str, tuple[str, ...]]:
    return {locus: tuple(v.split("/")) for locus, _, v in (p.partition("=") for p in (text or "").split(";") if p)}


@dataclass
class GenotypeFile:
    """A genotype file read and checked: the profiles to import and what became of the rest."""

    path: Path
    format: str
    encoding: str
    sha256: str
    profiles: dict[str, dict[str, tuple[str, str]]]
    amelogenin: dict[str, str] = field(default_factory=dict)
    y_profiles: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    outcomes: dict[str, SampleOutcome] = field(default_factory=dict)  # samples with something to say
    untyped: list[dict] = field(default_factory=list)
    controls: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    num_rows: int = 0
    lines: dict[str, list[int]] = field(default_factory=dict)  # where each sample is (its first line, or all)
    options: dict = field(default_factory=dict)
    markers_left_out: dict[str, dict] = field(default_factory=dict)


class _Reader:
    """What every format shares: sample ids, locus names, problems."""

    def __init__(self, path: Path, model: GeneticModel):
        self.path = path
        self.model = model
        self.known = model.loci()
        self.problems: list[str] = []
        self._loci: dict[str, tuple[str, str] | str] = {}
        self._samples: dict[str, str | None] = {}

    def sample_id(self, raw: str, where: str) -> str | None:
        """NFKC-normalised, checked sample id; None (problem recorded) if empty or refused."""
        hit = self._samples.get(raw, False)
        if hit is not False:
            if hit is None and not raw.strip():
                self.problems.append(f"{where}: empty sample id")
            return hit  # a refused id is reported on its first line only
        value = normalise_text(raw)
        why = check_text(value, what="sample id", where=where, max_length=MAX_SAMPLE_ID_LENGTH) if value \
            else f"{where}: empty sample id"
        self._samples[raw] = None if why else value
        if why:
            self.problems.append(why)
        return None if why else value

    def classify(self, raw: str) -> tuple[str, str] | str:
        """``(kind, canonical locus)`` of a marker name, or why it cannot be used."""
        hit = self._loci.get(raw)
        if hit is None:
            hit = self._loci[raw] = self._classify(raw)
        return hit

    def _classify(self, raw: str) -> tuple[str, str] | str:
        try:
            locus = normalise_locus(raw)  # full-width names and digits are ASCII there
        except ReuniteError:
            return "empty locus name"
        kind = marker_kind(locus)
        if kind != "str":
            return kind, locus
        if locus in self.known:
            return kind, locus
        why = self.model.unusable_loci().get(locus)
        if why:
            return f"locus {raw!r} cannot be used: {why}"
        return (f"locus {raw!r} is not in the database's frequency table {self.model.population!r}; use "
                f"one of its loci ({', '.join(sorted(self.known))}) or a database with another table")


def read_genotype_file(path, *, model: GeneticModel, encoding: str | None = None, strict: bool = False,
                       lenient: bool = False, controls: ControlPatterns | str | Path | None = None,
                       control_profiles: dict | str | Path | None = None) -> GenotypeFile:
    """Read and check a genotype file (see the module docstring).

    ``strict``: a run export is imported whole or not at all, as long and wide files are.
    ``lenient``: unknown columns are warnings (the column is left out) instead of errors.
    ``controls``: name patterns of ladders and controls (a CSV ``kind,pattern`` or a
    :class:`~reunite.store.runexport.ControlPatterns`; default the shipped patterns).
    ``control_profiles``: the known profiles of the positive controls (a CSV
    ``control,locus,allele1,allele2`` or ``{name: {locus: "a/b"}}``).

    Raises
    ------
    ImportRejected
        every problem of the file, each with its file and line.
    """
    path = Path(path)
    patterns, known_controls = controls_from_options(controls, control_profiles)
    try:
        table = stream_table(path, encoding=encoding)
        reader = _Reader(path, model)
        lower = [h.strip().lower() for h in table.header]
        options = {"strict": strict, "lenient": lenient}
        if control_profiles is None or isinstance(control_profiles, dict):
            profiles_source = "given" if control_profiles else None
        else:
            profiles_source = str(control_profiles)
        keys = [_column_key(h) for h in lower]  # "Sample ID", "sample-id" and "SampleID" are sample_id
        if keys[:4] == [_column_key(c) for c in LONG_COLUMNS]:
            gf = _read_long(table, reader, lenient=lenient)
        elif ("sample name" in lower and "marker" in lower and "allele 1" in lower) or \
                (lower[0] == "sample" and len(lower) > 1):
            fmt = "genemapper" if "marker" in lower else "osiris"
            if fmt == "genemapper" and "sample name" not in lower:
                raise _rejected(path, [(
                    f"{path}:{table.header_line}: a run export with a 'Marker' column names its samples in a "
                    f"'Sample Name' column; found {table.header!r} (rename the sample column 'Sample Name')")])
            run_table = table if fmt == "genemapper" else _osiris_as_run(table, reader)
            run = read_run(run_table, path=path, classify=reader.classify, sample_id=reader.sample_id,
                           strict=strict, lenient=lenient, patterns=patterns, control_profiles=known_controls)
            reader.problems += run.problems
            if fmt == "osiris":
                run.num_rows = run_table.num_records
            gf = GenotypeFile(path, fmt, table.encoding, table.sha256, run.profiles,
                              amelogenin=run.amelogenin, y_profiles=run.y_profiles, outcomes=run.outcomes,
                              untyped=run.untyped, controls=run.controls, warnings=run.warnings,
                              ignored_columns=run.ignored_columns, num_rows=run.num_rows, lines=run.lines,
                              markers_left_out={m: {"reason": why, "lines": line_ranges(ls)}
                                                for m, (why, ls) in run.markers_left_out.items()})
            options.update(controls=patterns.source, control_profiles=profiles_source)
        elif keys and keys[0] == "sampleid" and len(keys) > 1:
            gf = _read_wide(table, reader, lenient=lenient)
        else:
            raise _rejected(path, [
                f"{path}:{table.header_line}: unrecognised header {table.header!r}; expected "
                "'sample_id,locus,allele1,allele2' (long), 'sample_id,<locus>,...' (wide) or a run export: "
                "GeneMapper with 'Sample Name', 'Marker', 'Allele 1', 'Allele 2', or OSIRIS "
                "'Sample', '<locus>', ..."])
    except FileFormatError as exc:
        raise _rejected(path, [str(exc)]) from None
    gf.options = options
    problems = reader.problems
    if not problems and not gf.profiles:
        skipped = [f"{path}:{o.lines[0]}: sample {o.sample!r}: {o.outcome.replace('_', ' ')}: {'; '.join(o.notes)}"
                   for o in gf.outcomes.values()]
        problems = skipped + [f"{path}:{table.header_line + 1}: the file has a header but no genotypes"
                              + (" to import (every sample above was skipped or rejected)" if skipped else "")]
    if problems:
        raise _rejected(path, _by_line(problems))
    return gf


def _osiris_as_run(table, reader: _Reader):
    """An OSIRIS "Spreadsheet" export (``Sample``, then one column per locus, optionally named
    ``<locus>-<channel>``; cells ``a, b``, an off-ladder allele written ``OL`` before its name)
    as a run export table: one row ``Sample Name, Marker, Allele 1..N`` per sample and locus,
    on the line of the sample's record, so that ladders, controls, OL calls, tri-alleles and
    re-injections are handled as in a GeneMapper export."""
    from dataclasses import replace

    path = table.path
    loci = list(table.header[1:])
    if loci and all(re.search(r".-\d{1,2}$", h) for h in loci if h):  # "Show channel numbers in column headings"
        loci = [re.sub(r"-\d{1,2}$", "", h) for h in loci]
    where = f"{path}:{table.header_line}"
    first: dict[str, int] = {}
    for k, raw in enumerate(loci, start=2):
        if not raw.strip():
            continue
        named = reader.classify(raw)
        locus = named[1] if isinstance(named, tuple) else raw.strip().upper()
        if locus in first:
            j = first[locus]
            reader.problems.append(
                f"{where}: locus {locus} is typed twice: column {j} {table.header[j - 1]!r} and column {k} "
                f"{table.header[k - 1]!r} are the same locus after names are normalised; keep one")
        first.setdefault(locus, k)
    width = len(table.header)
    rows, most, records = [], 2, 0
    for line, fields in (() if reader.problems else table.rows):
        records += 1
        if len(fields) > width and "".join(fields[width:]).strip():
            reader.problems.append(table.width_problem(line, fields))
            continue
        fields = fields + [""] * (width - len(fields))
        for k, locus in enumerate(loci, start=1):
            if not locus.strip():
                if fields[k].strip():
                    reader.problems.append(f"{path}:{line}: column {k + 1} has the value {fields[k][:40]!r} but no "
                                           "name in the header; name the column or remove the value")
                continue
            cells = [c.strip() for c in re.split(r"[,/]", fields[k]) if c.strip()]
            cells = ["OL" if c[:2].upper() == "OL" else c for c in cells]
            most = max(most, len(cells))
            rows.append((line, [fields[0], locus] + cells))
    header = ["Sample Name", "Marker"] + [f"Allele {k}" for k in range(1, most + 1)]
    out = replace(table, header=header, rows=[(line, f + [""] * (most + 2 - len(f))) for line, f in rows])
    out.num_records = records
    return out


def _by_line(problems: list[str]) -> list[str]:
    """Problems in file order (header first), stable."""
    def key(p: str) -> int:
        m = re.match(r".*?:(\d+): ", p)
        return int(m.group(1)) if m else 0
    return sorted(problems, key=key)


def _unknown_column(reader: _Reader, gf_warnings: list[str], ignored: list[str], *, where: str, column: int,
                    name: str, expected: str, lenient: bool) -> None:
    label = f"column {column} {name!r}" if name else f"column {column} (no name)"
    if lenient:
        ignored.append(name)
        gf_warnings.append(f"{where}: {label} is not a column of the {expected}; its values were not "
                           "imported (--lenient)")
    else:
        reader.problems.append(f"{where}: {label} is not a column of the {expected}; remove or rename it, "
                               "or import with --lenient to leave it out (reported)")


def _read_long(table, reader: _Reader, *, lenient: bool) -> GenotypeFile:
    """``sample_id,locus,allele1,allele2[,allele3...]``: one row per sample and locus."""
    path = reader.path
    gf = GenotypeFile(path, "long", table.encoding, table.sha256, {})
    header = [_column_key(h) for h in table.header]
    where = f"{path}:{table.header_line}"
    extra_alleles = []
    for k, name in enumerate(header[4:], start=4):
        if _EXTRA_ALLELE.fullmatch(name):
            extra_alleles.append(k)
        else:
            _unknown_column(reader, gf.warnings, gf.ignored_columns, where=where, column=k + 1,
                            name=table.header[k], expected="long genotype format "
                            "(sample_id,locus,allele1,allele2[,allele3...])", lenient=lenient)
    if reader.problems:
        return gf
    width = len(header)
    profiles, amel, ys = gf.profiles, gf.amelogenin, gf.y_profiles
    twice: set[tuple[str, str]] = set()
    other_lines: dict[str, int] = {}  # first line of a sample's Amelogenin / Y rows
    problems = reader.problems
    samples, loci = reader._samples, reader._loci  # caches, read inline: this loop is the hot path
    num_rows = 0
    for line, fields in table.rows:
        num_rows += 1
        if len(fields) != width:
            why = table.width_problem(line, fields)
            if len(fields) > width:
                why += " (if it is a third allele: a mixture; single-source profiles only)"
            problems.append(why)
            continue
        sample = samples.get(fields[0])
        if sample is None:
            sample = reader.sample_id(fields[0], f"{path}:{line}")
            if sample is None:
                continue
        named = loci.get(fields[1]) or reader.classify(fields[1])
        if named.__class__ is str:
            problems.append(f"{path}:{line}: {named}")
            continue
        kind, locus = named
        if extra_alleles:
            extra = [k for k in extra_alleles if fields[k].strip()]
            if extra:
                problems.append(f"{path}:{line}: sample {sample!r}, locus {locus}: a third allele "
                                f"{fields[extra[0]].strip()!r} in column {extra[0] + 1} "
                                f"({table.header[extra[0]]!r}): a mixture or an artefact; single-source "
                                "profiles only")
                continue
        a, b = fields[2].strip(), fields[3].strip()
        if not a:
            problems.append(f"{path}:{line}: sample {sample!r}, locus {locus}: no allele"
                            + (f" in allele1 (allele2 is {b!r})" if b else " (leave an untyped locus out)"))
            continue
        cells = (a, b) if b else (a,)
        call = call_str(cells) if kind == "str" else call_marker(kind, cells)
        if call.status != "typed":
            problems.append(f"{path}:{line}: sample {sample!r}, locus {locus}: {_not_typed(call)}")
            continue
        if kind == "str":
            profile = profiles.get(sample)
            if profile is None:
                profile = profiles[sample] = {}
                gf.lines[sample] = [line]
            if locus in profile:
                twice.add((sample, locus))
                continue
            profile[locus] = call.value
        elif kind == "amelogenin":
            other_lines.setdefault(sample, line)
            if sample in amel:
                twice.add((sample, locus))
                continue
            amel[sample] = call.value
        else:
            other_lines.setdefault(sample, line)
            y = ys.setdefault(sample, {})
            if locus in y:
                twice.add((sample, locus))
                continue
            y[locus] = call.value
    gf.num_rows = num_rows
    if twice:
        _report_twice(reader, twice, encoding=table.encoding)
    _no_str_loci(reader, gf, other_lines)
    return gf


def _not_typed(call) -> str:
    """Why a call of a long or wide file is refused (these formats take typed calls only)."""
    if call.status == "off_ladder":
        return (f"alleles must be repeat numbers such as 15 or 9.3, found {'/'.join(repr(a) for a in call.value)} "
                "(OL: an off-ladder call; leave an untyped locus out)")
    if call.status == "extra":
        return f"{call.reason}; single-source profiles only"
    return call.reason


def _report_twice(reader: _Reader, twice: set[tuple[str, str]], *, encoding: str) -> None:
    """A locus typed twice for one sample (long format): read the file again for the lines and
    spellings of every occurrence."""
    path = reader.path
    seen: dict[tuple[str, str], tuple[int, str]] = {}
    for line, fields in stream_table(path, encoding=encoding).rows:
        if len(fields) < 2:
            continue
        sample = normalise_text(fields[0])
        named = reader.classify(fields[1])
        if isinstance(named, str) or (sample, named[1]) not in twice:
            continue
        key = (sample, named[1])
        raw = fields[1].strip()
        if key not in seen:
            seen[key] = (line, raw)
            continue
        first_line, first_raw = seen[key]
        spelling = (f": {first_raw!r} on line {first_line} and {raw!r} on line {line} are the same locus after "
                    "names are normalised" if raw != first_raw else f" (lines {first_line} and {line})")
        reader.problems.append(f"{path}:{line}: sample {sample!r}, locus {named[1]} is typed twice{spelling}; "
                               "keep one")


def _no_str_loci(reader: _Reader, gf: GenotypeFile, lines: dict[str, int]) -> None:
    for sample in sorted(set(gf.amelogenin) | set(gf.y_profiles)):
        if not gf.profiles.get(sample):
            reader.problems.append(f"{reader.path}:{lines[sample]}: sample {sample!r} has Amelogenin or Y-STRs but "
                                   "no autosomal STR locus; nothing of it can be searched")


def _read_wide(table, reader: _Reader, *, lenient: bool) -> GenotypeFile:
    """``sample_id,<locus>,...`` with ``a/b`` cells."""
    path = reader.path
    gf = GenotypeFile(path, "wide", table.encoding, table.sha256, {})
    where = f"{path}:{table.header_line}"
    columns: list[tuple[int, str, str]] = []   # (index, kind, locus)
    first: dict[str, int] = {}
    for k, raw in enumerate(table.header[1:], start=1):
        named = reader.classify(raw) if raw.strip() else "a column with no name"
        if isinstance(named, str):
            if lenient:
                gf.ignored_columns.append(raw)
                gf.warnings.append(f"{where}: column {k + 1} {raw!r}: {named}; its values were not imported "
                                   "(--lenient)")
            else:
                reader.problems.append(f"{where}: column {k + 1}: {named}"
                                       + ("" if raw.strip() else "; name it or remove it")
                                       + " (or import with --lenient to leave the column out, reported)")
            continue
        kind, locus = named
        if locus in first:
            j = first[locus]
            reader.problems.append(
                f"{where}: locus {locus} is typed twice: column {j + 1} {table.header[j]!r} and column {k + 1} "
                f"{raw!r} are the same locus after names are normalised; keep one")
            continue
        first[locus] = k
        columns.append((k, kind, locus))
    if reader.problems:
        return gf
    seen: dict[str, int] = {}
    problems = reader.problems
    for line, fields in table.rows:
        gf.num_rows += 1
        why = table.width_problem(line, fields)
        if why:
            problems.append(why)
            continue
        sample = reader.sample_id(fields[0], f"{path}:{line}")
        if sample is None:
            continue
        if sample in seen:
            problems.append(f"{path}:{line}: sample {sample!r} is listed twice (first on line {seen[sample]})")
            continue
        seen[sample] = line
        profile: dict[str, tuple[str, str]] = {}
        bad_before = len(problems)
        for k, kind, locus in columns:
            cell = fields[k].strip()
            if not cell:
                continue
            parts = [p.strip() for p in re.split(r"[/,]", ascii_digits(cell))]
            if kind == "str" and len(parts) > 2:
                problems.append(f"{path}:{line}: sample {sample!r}, locus {locus}: expected 'a/b', found {cell!r} "
                                "(a third allele is a mixture: single-source profiles only)")
                continue
            if not all(parts):
                problems.append(f"{path}:{line}: sample {sample!r}, locus {locus}: expected 'a/b', found {cell!r}")
                continue
            call = call_marker(kind, tuple(parts))
            if call.status != "typed":
                problems.append(f"{path}:{line}: sample {sample!r}, locus {locus}: {_not_typed(call)}")
            elif kind == "str":
                profile[locus] = call.value
            elif kind == "amelogenin":
                gf.amelogenin[sample] = call.value
            else:
                gf.y_profiles.setdefault(sample, {})[locus] = call.value
        if profile:
            gf.profiles[sample] = profile
            gf.lines[sample] = [line]
        elif len(problems) == bad_before and not (sample in gf.amelogenin or sample in gf.y_profiles):
            problems.append(f"{path}:{line}: sample {sample!r} has no typed locus; leave it out")
    _no_str_loci(reader, gf, seen)
    return gf


def read_genotypes(path, *, model: GeneticModel, **options) -> tuple[dict[str, dict[str, tuple[str, str]]], str]:
    """``({sample: {locus: (a, b)}}, format)`` of a genotype file (see :func:`read_genotype_file`,
    which takes the same options and keeps Amelogenin, Y-STRs and the report)."""
    gf = read_genotype_file(path, model=model, **options)
    return gf.profiles, gf.format


def intake_report(gf: GenotypeFile, *, model: GeneticModel) -> dict:
    """The import report (JSON) of a genotype file: what was imported, skipped and why, the
    controls, the untyped loci, each flagged profile's quality and the quality summary.
    Adds each profile's quality flags to ``gf.outcomes``."""
    rules = QualityRules(model)
    qualities = {}
    for sample, profile in gf.profiles.items():
        quality = qualities[sample] = rules.check(profile, amelogenin=gf.amelogenin.get(sample))
        if quality.flags:
            outcome = gf.outcomes.get(sample)
            if outcome is None:
                outcome = gf.outcomes[sample] = SampleOutcome(sample, "imported", gf.lines.get(sample, []))
            outcome.notes.extend(quality.flags)
    counts = {"imported": len(gf.profiles)}
    for outcome in gf.outcomes.values():
        if outcome.outcome != "imported":
            counts[outcome.outcome] = counts.get(outcome.outcome, 0) + 1
    listed = list(gf.outcomes.values())
    report = {
        "kind": "genotypes", "format": gf.format, "source": str(gf.path), "file_sha256": gf.sha256,
        "encoding": gf.encoding, "options": gf.options, "num_rows": gf.num_rows,
        "num_records": len(gf.profiles), "num_genotypes": sum(len(p) for p in gf.profiles.values()),
        "samples": counts,
        "amelogenin_typed": len(gf.amelogenin), "y_profiles": len(gf.y_profiles),
        "outcomes": [o.to_json() for o in listed[:MAX_REPORT_ROWS]],
        "outcomes_not_listed": max(0, len(listed) - MAX_REPORT_ROWS),
        "untyped_loci": gf.untyped[:MAX_REPORT_ROWS],
        "controls": gf.controls,
        "ignored_columns": gf.ignored_columns,
        "markers_left_out": gf.markers_left_out,
        "warnings": gf.warnings,
        "quality": summarise(qualities, amelogenin={s: gf.amelogenin.get(s) for s in gf.profiles},
                             num_y_profiles=sum(1 for s in gf.y_profiles if s in gf.profiles), model=model),
    }
    return report


def report_rows(report: dict) -> list[tuple[str, str, str, str]]:
    """``(sample, outcome, lines, notes)`` of every sample the report has something to say
    about (skipped, rejected, merged, with untyped loci or quality flags), controls first."""
    order = {kind: k for k, kind in enumerate(CONTROL_KINDS + ("rejected", "imported"))}
    rows = sorted(report.get("outcomes", []), key=lambda o: order.get(o["outcome"], 99))
    return [(o["sample"], o["outcome"].replace("_", " "), o["lines"], "; ".join(o["notes"])) for o in rows]


def import_genotypes(session: Session, path, *, model: GeneticModel, lab: str | None = None,
                     encoding: str | None = None, strict: bool = False, lenient: bool = False,
                     controls=None, control_profiles=None, created_by: str | None = None):
    """Import a genotype file in one transaction (see :func:`read_genotype_file`): the
    profiles with their Amelogenin and Y-STRs, and an import batch holding the report.

    Raises
    ------
    ImportRejected
        a bad file, or samples already in the database (nothing is written).
    """
    from reunite.store.importers import ImportReport

    path = Path(path)
    if lab is not None:
        why = check_text(lab, what="--lab", where="--lab", max_length=128)
        if why:
            raise ReuniteError(why)
    gf = read_genotype_file(path, model=model, encoding=encoding, strict=strict, lenient=lenient,
                            controls=controls, control_profiles=control_profiles)
    existing = _existing_samples(session, gf.profiles)
    if existing:
        raise _rejected(path, _already_imported(session, gf, existing))
    report = intake_report(gf, model=model)
    batch = ImportBatch(kind=f"genotypes ({gf.format})", source=storable(str(path)), num_rows=len(gf.profiles),
                        report=storable(json.dumps(report, ensure_ascii=False)), file_sha256=gf.sha256,
                        created_by=created_by)
    session.add(batch)
    session.flush()
    rows = [{"code": code, "profile": pack_profile(prof), "num_loci": len(prof), "lab": lab, "batch_id": batch.id,
             "amelogenin": gf.amelogenin.get(code),
             "y_profile": pack_y_profile(gf.y_profiles[code]) if code in gf.y_profiles else None}
            for code, prof in gf.profiles.items()]
    for start in range(0, len(rows), 50_000):  # a concurrent import of the same codes: the database refuses
        session.execute(insert(Sample), rows[start:start + 50_000])
    notes = [f"format: {gf.format}"]
    return ImportReport("genotypes", str(path), report["num_genotypes"], len(gf.profiles), notes=notes,
                        warnings=list(gf.warnings), file_sha256=gf.sha256, encoding=gf.encoding,
                        batch_id=batch.id, details=report)


def _already_imported(session: Session, gf: GenotypeFile, existing: set[str]) -> list[str]:
    """Why samples already in the database refuse the file: the same profile imported again,
    or a re-typing, which only a correction may store (nothing is ever overwritten)."""
    path = gf.path
    stored: dict[str, tuple] = {}
    codes = sorted(existing)
    for start in range(0, len(codes), 900):
        for row in session.execute(select(Sample.code, Sample.profile, Sample.batch_id, Sample.status, Sample.version)
                                   .where(Sample.code.in_(codes[start:start + 900]))).all():
            stored[row[0]] = row[1:]
    same_file = session.execute(select(ImportBatch.id, ImportBatch.source, ImportBatch.created_at)
                                .where(ImportBatch.file_sha256 == gf.sha256).order_by(ImportBatch.id)).first()
    problems = []
    if same_file is not None:
        problems.append(f"{path}: this file (SHA-256 {gf.sha256[:12]}...) was already imported as batch "
                        f"{same_file[0]} from {same_file[1]} on {str(same_file[2])[:10]}; nothing to import again")
    for code in codes:
        if code not in stored:  # written by an import that ran at the same time
            problems.append(f"{path}:{gf.lines[code][0]}: sample {code!r} is already in the database")
            continue
        profile, batch_id, status, version = stored[code]
        where = f"{path}:{gf.lines[code][0]}: sample {code!r}"
        batch = f"batch {batch_id}" if version == 1 else f"version {version}"
        if pack_profile(gf.profiles[code]) == profile:
            problems.append(f"{where} is already in the database with the same profile ({batch}); leave it out "
                            "of the file")
            continue
        old = unpack_profile(profile)
        new = gf.profiles[code]
        diff = [f"{locus} {'/'.join(old[locus]) if locus in old else 'untyped'} -> "
                f"{'/'.join(new[locus]) if locus in new else 'untyped'}"
                for locus in sorted(set(old) | set(new)) if old.get(locus) != new.get(locus)]
        shown = ", ".join(diff[:6]) + (f" and {len(diff) - 6} more" if len(diff) > 6 else "")
        differ = "locus differs" if len(diff) == 1 else "loci differ"
        problems.append(f"{where} is already in the database ({batch}{', withdrawn' if status != 'active' else ''}) "
                        f"with another profile ({len(diff)} {differ}: {shown}); a re-typing replaces a "
                        f"profile only as a correction, kept with the old one: reunite correct profile {code} "
                        f"--file {path} --reason '...'")
    return problems


def _existing_samples(session: Session, codes) -> set[str]:
    codes = list(codes)
    out: set[str] = set()
    for start in range(0, len(codes), 900):
        out.update(session.execute(select(Sample.code).where(Sample.code.in_(codes[start:start + 900]))).scalars())
    return out
