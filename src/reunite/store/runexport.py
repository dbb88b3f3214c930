"""Whole-run exports of genotyping software (GeneMapper, GeneMapper ID-X, OSIRIS-like tables).

One row per sample and marker: ``Sample Name``, ``Marker``, ``Allele 1`` .. ``Allele N`` (any
N), and usually ``Sample File``, ``Sample Type``, ``Panel``, ``Dye``, ``Size n``, ``Height n``
and quality flags.  A run holds more than the samples: allelic ladders, positive controls,
negative controls and blanks, failed loci (rows without alleles), off-ladder (``OL``) calls,
tri-allelic patterns and re-injections of a sample.  :func:`read_run` sorts them out:

- a marker the database's frequency table lacks (or cannot use) is left out of every sample
  and reported;
- ladders and controls are recognised by the ``Sample Type`` column or by name patterns
  (:data:`DEFAULT_CONTROL_PATTERNS`, or a laboratory's own with :func:`load_control_patterns`)
  and never imported; positive controls are compared with their known profiles (the
  laboratory's, :func:`load_control_profiles`); negative controls and blanks with any allele
  are reported as possible contamination;
- a locus with no call, an ``OL`` call or more than two alleles is left untyped for that
  sample and listed; a sample with more than two alleles at two or more loci is a mixture and
  is not imported;
- the rows of one sample in several sample files (re-injections) are merged when their calls
  agree; a sample whose re-injections disagree at any locus is not imported, both calls named.

With ``strict`` every such row is a problem and the file is rejected whole.  Malformed data
(an allele that is not a repeat number, ``0`` or over 99, a locus spelt two ways for one sample,
an unknown column, a row wider than the header) rejects the file in every mode.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from reunite.errors import ReuniteError
from reunite.genetics.loci import Call, call_marker, marker_kind, normalise_locus
from reunite.store.textio import normalise_text, read_table

CONTROL_KINDS = ("ladder", "positive_control", "negative_control", "blank")
CONTROL_WORDS = {"ladder": "an allelic ladder", "positive_control": "a positive control",
                 "negative_control": "a negative control", "blank": "a blank"}

# Matched against the whole sample name (NFKC-normalised), ignoring case.
DEFAULT_CONTROL_PATTERNS: tuple[tuple[str, str], ...] = (
    ("ladder", r".*ladder.*"),
    ("ladder", r"ldr([ _-]?\d{1,2})?([ _-].*)?"),
    ("positive_control", r"(pos(itive)?|pc)([ _-]?(ctrl|control|con))?([ _-]?\d{1,2})?([ _-].*)?"),
    ("positive_control", r"((ctrl|control)[ _-]?(dna)?[ _-]?)?(9947a?|9948|2800m|007|k562)([ _-].*)?"),
    ("positive_control", r"阳性.*"),
    ("negative_control", r"(neg(ative)?|nc|ntc)([ _-]?(ctrl|control|con))?([ _-]?\d{1,2})?([ _-].*)?"),
    ("negative_control", r"(h2o|water)([ _-].*)?"),
    ("negative_control", r"阴性.*"),
    ("blank", r"((reagent|extraction|amp(lification)?)[ _-]?)?blank([ _-]?\d{1,2})?([ _-].*)?"),
    ("blank", r"rb([ _-]?\d{1,2})?"),
    ("blank", r"空白.*"),
)

# Columns of run exports that reunite knows and does not need (matched in lower case).
_KNOWN_COLUMNS = {
    "sample file", "sample file name", "sample name", "sample type", "panel", "marker", "dye",
    "run name", "run date", "comments", "comment", "analysis method", "size standard",
    "size standard name", "ud1", "ud2", "ud3", "sq", "gq", "ado", "ae", "imb", "phr", "lph",
    "mnf", "os", "oba", "shp", "bin", "pup", "omr", "cc", "bd", "sspk", "spu", "split", "ac", "an",
    "quality", "sizing quality", "plate name", "well", "instrument name", "capillary",
    "cgq", "mph", "ovl", "xtlk", "sos", "spk", "instrument type",  # more GeneMapper ID-X PQVs
}
_NUMBERED_COLUMNS = re.compile(r"(allele|size|height|peak area|area|data point|mutation) ?(\d+)")


@dataclass(frozen=True)
class ControlPatterns:
    """Name patterns of ladders and controls (regular expressions matched against the whole
    sample name, ignoring case) and where they come from."""

    patterns: tuple[tuple[str, str], ...] = DEFAULT_CONTROL_PATTERNS
    source: str = "default patterns"

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", tuple(
            (kind, re.compile(p, re.IGNORECASE)) for kind, p in self.patterns))

    def kind(self, sample: str, sample_types: set[str] = frozenset()) -> tuple[str, str] | None:
        """``(kind, why)`` if ``sample`` is a ladder or a control, else None.  The export's
        own ``Sample Type`` ("Allelic Ladder", "Positive Control", ...) decides first."""
        for value in sample_types:
            low = value.lower()
            for kind, word in (("ladder", "ladder"), ("positive_control", "positive"),
                               ("negative_control", "negative"), ("blank", "blank")):
                if word in low:
                    return kind, f"Sample Type {value!r}"
        for kind, rx in self._compiled:
            if rx.fullmatch(sample):
                return kind, f"name matched by the {self.source}"
        return None


def load_control_patterns(path) -> ControlPatterns:
    """A laboratory's control names: a CSV ``kind,pattern`` (kind ladder, positive_control,
    negative_control or blank; pattern a regular expression matched against the whole sample
    name, ignoring case).  It replaces the defaults.

    Raises
    ------
    ReuniteError
        an unreadable file, an unknown kind or an invalid pattern, with its line.
    """
    table = read_table(path)
    names = [h.lower() for h in table.header]
    if names[:2] != ["kind", "pattern"] or len(names) > 2:
        raise ReuniteError(f"{path}:{table.header_line}: --controls: expected the header "
                           f"kind,pattern, found {','.join(table.header)}")
    patterns, problems = [], []
    for line, fields in table.rows:
        why = table.width_problem(line, fields)
        if why:
            problems.append(why)
            continue
        kind, pattern = fields[0].strip().lower(), fields[1].strip()
        if kind not in CONTROL_KINDS:
            problems.append(f"{path}:{line}: kind must be one of {', '.join(CONTROL_KINDS)}, found {kind!r}")
            continue
        try:
            re.compile(pattern)
        except re.error as exc:
            problems.append(f"{path}:{line}: pattern {pattern!r} is not a regular expression ({exc})")
            continue
        if not pattern:
            problems.append(f"{path}:{line}: empty pattern")
            continue
        patterns.append((kind, pattern))
    if not patterns and not problems:
        problems.append(f"{path}:{table.header_line + 1}: no patterns")
    if problems:
        raise ReuniteError("--controls: " + "; ".join(problems))
    return ControlPatterns(tuple(patterns), f"patterns of {path}")


def load_control_profiles(path) -> dict[str, dict[str, str]]:
    """Known profiles of a laboratory's positive controls: a CSV
    ``control,locus,allele1,allele2[,allele3...]`` -> ``{control: {locus: "a/b"}}`` (loci
    normalised; Amelogenin as ``X/Y``, ``X/X``; Y-STRs with all their alleles).

    Raises
    ------
    ReuniteError
        an unreadable file, a bad header, allele or a locus given twice, with its line.
    """
    table = read_table(path)
    names = [h.lower() for h in table.header]
    if names[:3] != ["control", "locus", "allele1"] or any(
            not re.fullmatch(r"allele\d+", n) for n in names[2:]):
        raise ReuniteError(f"{path}:{table.header_line}: --control-profiles: expected the header "
                           f"control,locus,allele1,allele2[,allele3...], found {','.join(table.header)}")
    out: dict[str, dict[str, str]] = {}
    problems = []
    for line, fields in table.rows:
        why = table.width_problem(line, fields)
        if why:
            problems.append(why)
            continue
        name = normalise_text(fields[0])
        try:
            locus = normalise_locus(fields[1])
        except ReuniteError:
            problems.append(f"{path}:{line}: empty locus")
            continue
        call = call_marker(marker_kind(locus), tuple(c.strip() for c in fields[2:] if c.strip()))
        if call.status != "typed" or not name:
            why = (call.reason or "expected the control's alleles") if name else "empty control name"
            problems.append(f"{path}:{line}: control {name!r}, locus {locus}: {why}")
            continue
        profile = out.setdefault(name, {})
        if locus in profile:
            problems.append(f"{path}:{line}: control {name!r}, locus {locus} is given twice")
        profile[locus] = call_text(call)
    if not out and not problems:
        problems.append(f"{path}:{table.header_line + 1}: no control profiles")
    if problems:
        raise ReuniteError("--control-profiles: " + "; ".join(problems))
    return out


def call_text(call: Call) -> str:
    """A typed call as text: ``"14/17"``, ``"X/Y"``, ``"13/17"`` (a Y-STR's alleles)."""
    return call.value if isinstance(call.value, str) else "/".join(call.value)


@dataclass
class RunRow:
    line: int
    sample_file: str
    marker: str        # as spelt in the file
    cells: tuple[str, ...]  # the non-empty allele cells, stripped


@dataclass
class SampleOutcome:
    """What became of one sample of a file: ``outcome`` is ``imported``, ``rejected`` or a
    control kind (:data:`CONTROL_KINDS`); ``notes`` say why, or what was left untyped."""

    sample: str
    outcome: str
    lines: list[int]
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"sample": self.sample, "outcome": self.outcome, "lines": line_ranges(self.lines),
                "notes": self.notes}


def line_ranges(lines) -> str:
    """``[3, 4, 5, 9]`` -> ``"3-5, 9"``."""
    out, run = [], []
    for n in sorted(set(lines)):
        if run and n == run[-1] + 1:
            run.append(n)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [n]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ", ".join(out)


@dataclass
class RunResult:
    """What :func:`read_run` found (``problems`` non-empty: the file must be rejected)."""

    profiles: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    lines: dict[str, list[int]] = field(default_factory=dict)  # every line of each sample
    amelogenin: dict[str, str] = field(default_factory=dict)
    y_profiles: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    outcomes: dict[str, SampleOutcome] = field(default_factory=dict)
    untyped: list[dict] = field(default_factory=list)
    controls: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    markers_left_out: dict[str, tuple[str, list[int]]] = field(default_factory=dict)  # marker -> (why, lines)
    num_rows: int = 0


class _Columns:
    """The columns of a run export by role."""

    def __init__(self, header: list[str], *, path: Path, header_line: int, lenient: bool,
                 result: RunResult):
        lower = [h.strip().lower() for h in header]
        self.width = len(header)
        self.sample = lower.index("sample name")
        self.marker = lower.index("marker")
        self.sample_file = next((k for k, h in enumerate(lower) if h in ("sample file", "sample file name")), None)
        self.sample_type = lower.index("sample type") if "sample type" in lower else None
        alleles = []
        self.unnamed: list[int] = []
        seen: dict[str, int] = {}
        for k, h in enumerate(lower):
            where = f"{path}:{header_line}"
            if not h:
                self.unnamed.append(k)
                continue
            if h in seen:
                result.problems.append(f"{where}: column {k + 1} {header[k]!r} repeats column {seen[h] + 1}; "
                                       "each column may appear once")
                continue
            seen[h] = k
            m = _NUMBERED_COLUMNS.fullmatch(h)
            if m and m.group(1) == "allele":
                alleles.append((int(m.group(2)), k))
            elif not m and h not in _KNOWN_COLUMNS:
                if lenient:
                    result.ignored_columns.append(header[k])
                    result.warnings.append(f"{where}: column {k + 1} {header[k]!r} is not a column of a run "
                                           "export that reunite knows; its values were not imported (--lenient)")
                else:
                    result.problems.append(
                        f"{where}: column {k + 1} {header[k]!r} is not a column of a run export that reunite "
                        "knows (Sample File, Sample Name, Sample Type, Panel, Marker, Dye, Allele n, Size n, "
                        "Height n, quality flags); remove it, or import with --lenient to leave it out (reported)")
        self.alleles = [k for _, k in sorted(alleles)]


def read_run(table, *, path: Path, classify, sample_id, strict: bool, lenient: bool,
             patterns: ControlPatterns, control_profiles: dict[str, dict[str, str]] | None) -> RunResult:
    """Read a run export (see the module docstring).

    ``classify(raw_marker) -> (kind, locus) | str`` names a marker (``kind`` from
    :func:`~reunite.genetics.loci.marker_kind`, or why it cannot be used);
    ``sample_id(raw, where) -> str | None`` normalises and checks a sample name (None: the
    problem is recorded).
    """
    result = RunResult()
    cols = _Columns(table.header, path=path, header_line=table.header_line, lenient=lenient, result=result)
    rows: dict[str, list[RunRow]] = {}
    types: dict[str, set[str]] = {}
    short = last = None
    for line, fields in table.rows:
        result.num_rows += 1
        last = line
        if len(fields) > cols.width:
            if any(c.strip() for c in fields[cols.width:]):
                result.problems.append(table.width_problem(line, fields))
                continue
            fields = fields[:cols.width]
        elif len(fields) < cols.width:  # trailing empty cells left out by the writer
            short = (line, len(fields))
            fields = fields + [""] * (cols.width - len(fields))
        named = [k for k in cols.unnamed if fields[k].strip()]
        if named:
            result.problems.append(f"{path}:{line}: column {named[0] + 1} has the value {fields[named[0]][:40]!r} "
                                   "but no name in the header; name the column or remove the value")
            continue
        sample = sample_id(fields[cols.sample], f"{path}:{line}")
        if sample is None:
            continue
        cells = tuple(c for c in (fields[k].strip() for k in cols.alleles) if c)
        sample_file = fields[cols.sample_file].strip() if cols.sample_file is not None else ""
        rows.setdefault(sample, []).append(RunRow(line, sample_file, fields[cols.marker], cells))
        if cols.sample_type is not None and fields[cols.sample_type].strip():
            types.setdefault(sample, set()).add(fields[cols.sample_type].strip())
    if short is not None and short[0] == last and not getattr(table, "final_newline", True):
        # a last line shorter than the header and without a line break: the file was cut off
        # there (a call could be lost: 13 with its 14 cut would read as a homozygote 13)
        result.problems.append(f"{path}:{last}: the file ends in the middle of this line ({short[1]} of the "
                               f"header's {cols.width} fields, no line break): it looks cut off; export "
                               "or copy it again")
    for sample, sample_rows in rows.items():
        control = patterns.kind(sample, types.get(sample, set()))
        lines = result.lines[sample] = [r.line for r in sample_rows]
        if control is None:
            _resolve_sample(sample, sample_rows, path=path, classify=classify, strict=strict, result=result,
                            has_sample_file=cols.sample_file is not None)
            continue
        kind, why = control
        if strict:
            result.problems.append(
                f"{path}:{lines[0]}: sample {sample!r} is {CONTROL_WORDS[kind]} ({why}); --strict imports "
                "sample rows only: remove the ladder and control rows, or import without --strict")
            continue
        outcome = SampleOutcome(sample, kind, lines, [f"{CONTROL_WORDS[kind]} ({why}): not imported"])
        result.outcomes[sample] = outcome
        if kind == "positive_control":
            _check_positive_control(sample, sample_rows, path=path, profiles=control_profiles or {},
                                    outcome=outcome, result=result)
        elif kind in ("negative_control", "blank"):
            called = [r for r in sample_rows if r.cells]
            check = {"sample": sample, "kind": kind, "lines": line_ranges(lines),
                     "status": "contaminated" if called else "clean",
                     "markers_with_alleles": sorted({r.marker.strip() for r in called})}
            result.controls.append(check)
            if called:
                message = (f"{path}:{called[0].line}: {CONTROL_WORDS[kind].split(' ', 1)[1]} {sample!r} shows "
                           f"alleles at {len(check['markers_with_alleles'])} marker(s) "
                           f"({', '.join(check['markers_with_alleles'][:8])}): possible contamination; review "
                           "the run before its profiles are used")
                result.warnings.append(message)
                outcome.notes.append("alleles called: possible contamination")
            else:
                outcome.notes.append("no alleles (clean)")
    for marker, (why, lines) in result.markers_left_out.items():
        result.warnings.append(f"{path}:{lines[0]}: {why}; marker {marker!r} was left out of every sample "
                               f"(lines {line_ranges(lines)}; --strict refuses the file instead)")
    return result


def _describe(call: Call) -> str:
    if call.status == "empty":
        return "no call"
    if call.status == "off_ladder":
        return "off-ladder (OL)"
    if call.status == "extra":
        return f"{len(call.value)} alleles {'/'.join(call.value)}"
    return call_text(call)


def _resolve_sample(sample: str, sample_rows: list[RunRow], *, path: Path, classify, strict: bool,
                    result: RunResult, has_sample_file: bool) -> None:
    """Merge one sample's rows into a profile, or reject it (see the module docstring)."""
    by_locus: dict[str, list[tuple[RunRow, str, Call]]] = {}
    problems_before = len(result.problems)
    for row in sample_rows:
        where = f"{path}:{row.line}"
        named = classify(row.marker)
        if isinstance(named, str):
            if strict:
                result.problems.append(f"{where}: {named}")
            else:
                result.markers_left_out.setdefault(row.marker.strip(), (named, []))[1].append(row.line)
            continue
        kind, locus = named
        call = call_marker(kind, row.cells)
        if call.status == "bad":
            result.problems.append(f"{where}: sample {sample!r}, locus {locus}: {call.reason}")
            continue
        entries = by_locus.setdefault(locus, [])
        for other, _, _ in entries:
            if other.marker.strip() != row.marker.strip():
                result.problems.append(
                    f"{where}: sample {sample!r}, locus {locus} is typed twice: {other.marker.strip()!r} on "
                    f"line {other.line} and {row.marker.strip()!r} on line {row.line} are the same locus "
                    "after names are normalised; keep one")
                break
            if has_sample_file and other.sample_file == row.sample_file:
                result.problems.append(
                    f"{where}: sample {sample!r}, locus {locus} is typed twice in sample file "
                    f"{row.sample_file!r} (lines {other.line} and {row.line}); keep one")
                break
        else:
            entries.append((row, kind, call))
            if strict:
                _strict_problem(sample, locus, kind, row, call, entries, where=where, result=result)
    if len(result.problems) > problems_before:
        return
    lines = [r.line for r in sample_rows]
    if strict:
        _keep(sample, by_locus, result=result, where=f"{path}:{lines[0]}")
    else:
        _merge(sample, by_locus, result=result, lines=lines)


def _strict_problem(sample, locus, kind, row, call, entries, *, where, result) -> None:
    if len(entries) > 1:
        result.problems.append(f"{where}: sample {sample!r}, locus {locus} is typed twice (lines "
                               f"{entries[0][0].line} and {row.line}: a re-injection?); --strict takes one "
                               "call per sample and locus")
    elif call.status == "empty":
        result.problems.append(f"{where}: sample {sample!r}, locus {locus}: no allele (a failed locus); "
                               "--strict takes typed loci only: remove the row, or import without --strict")
    elif call.status == "off_ladder":
        result.problems.append(f"{where}: sample {sample!r}, locus {locus}: {call.reason}; --strict takes "
                               "repeat numbers only (or import without --strict to leave the locus untyped)")
    elif call.status == "extra":
        result.problems.append(f"{where}: sample {sample!r}, marker {row.marker.strip()!r}: "
                               f"{len(call.value)} alleles (a mixture or an artefact); single-source "
                               "profiles only")


def _keep(sample, by_locus, *, result: RunResult, where: str) -> None:
    """--strict and nothing wrong: one typed call per locus."""
    for locus, [(row, kind, call)] in by_locus.items():
        _store(sample, locus, kind, call.value, result)
    if sample not in result.profiles:
        result.problems.append(f"{where}: sample {sample!r}: no autosomal STR locus typed")


def _store(sample, locus, kind, value, result: RunResult) -> None:
    if kind == "str":
        result.profiles.setdefault(sample, {})[locus] = value
    elif kind == "amelogenin":
        result.amelogenin[sample] = value
    else:
        result.y_profiles.setdefault(sample, {})[locus] = value


def _merge(sample, by_locus, *, result: RunResult, lines) -> None:
    """Re-injections merged, failed/OL/tri-allelic loci left untyped, discordant or mixed
    samples rejected."""
    discordant, untyped, merged, extra_loci = [], [], [], []
    chosen: dict[str, tuple[str, object]] = {}
    for locus, entries in by_locus.items():
        typed = {}
        for row, kind, call in entries:
            if call.status == "typed":
                typed.setdefault(call.value, []).append(row)
        extras = [(row, call) for row, _, call in entries if call.status == "extra"]
        kind = entries[0][1]
        if len(typed) > 1:
            calls = [f"{call_text(Call('typed', value))} (line {', '.join(str(r.line) for r in rs)}"
                     + (f", {rs[0].sample_file}" if rs[0].sample_file else "") + ")"
                     for value, rs in typed.items()]
            discordant.append(f"{locus}: {' vs '.join(calls)}")
            continue
        if extras and kind == "str":
            extra_loci.append(locus)
            row, call = extras[0]
            untyped.append((locus, [r.line for r, _, _ in entries],
                            f"{_describe(call)} (a tri-allelic pattern or a mixture)"))
            continue
        if typed:
            value, rows_ = next(iter(typed.items()))
            chosen[locus] = (kind, value)
            if len(entries) > 1:
                others = [f"{_describe(call)} on line {row.line}" for row, _, call in entries
                          if call.status != "typed"]
                merged.append((locus, f"{locus} {call_text(Call('typed', value))} from line "
                               f"{', '.join(str(r.line) for r in rows_)} ({', '.join(others)})" if others else ""))
            continue
        if kind == "y" and all(call.status == "empty" for _, _, call in entries):
            continue  # no Y-STR call (a female, or a kit's Y marker not typed): nothing to report
        reasons = sorted({_describe(call) for _, _, call in entries})
        untyped.append((locus, [r.line for r, _, _ in entries], " / ".join(reasons)))
    outcome = SampleOutcome(sample, "imported", lines)
    if discordant:
        outcome.outcome = "rejected"
        outcome.notes.append("re-injections disagree: " + "; ".join(discordant) + "; not imported (type the "
                             "sample again, or import the injection you trust)")
    elif len(extra_loci) >= 2:
        outcome.outcome = "rejected"
        outcome.notes.append(f"more than two alleles at {len(extra_loci)} loci ({', '.join(extra_loci)}): a "
                             "mixture; single-source profiles only; not imported")
    elif not any(kind == "str" for kind, _ in chosen.values()):
        outcome.outcome = "rejected"
        outcome.notes.append("no autosomal STR locus typed; not imported")
    if outcome.outcome == "imported":
        for locus, (kind, value) in chosen.items():
            _store(sample, locus, kind, value, result)
        if merged:
            files = sorted({row.sample_file for entries in by_locus.values() for row, _, _ in entries} - {""})
            filled = [text for _, text in merged if text]
            outcome.notes.append(f"re-injections agree, merged ({', '.join(files) or 'rows of one sample'}): "
                                 f"{len(merged) - len(filled)} loci called alike in each"
                                 + (f"; {'; '.join(filled)}" if filled else ""))
    for locus, locus_lines, why in untyped:
        result.untyped.append({"sample": sample, "locus": locus, "lines": line_ranges(locus_lines),
                               "reason": why, "sample_imported": outcome.outcome == "imported"})
    if untyped and outcome.outcome == "imported":
        outcome.notes.append("untyped: " + "; ".join(f"{locus} ({why}, line {line_ranges(ls)})"
                                                     for locus, ls, why in untyped))
    if outcome.notes:
        result.outcomes[sample] = outcome


def _check_positive_control(sample: str, sample_rows: list[RunRow], *, path: Path,
                            profiles: dict[str, dict[str, str]], outcome: SampleOutcome,
                            result: RunResult) -> None:
    """Compare a positive control's calls with its known profile (named in the sample name,
    or the only one configured)."""
    check = {"sample": sample, "kind": "positive_control", "lines": line_ranges(r.line for r in sample_rows)}
    key = re.sub(r"[^0-9A-Z]", "", sample.upper())
    named = [name for name in profiles if re.sub(r"[^0-9A-Z]", "", name.upper()) in key
             and re.sub(r"[^0-9A-Z]", "", name.upper())]
    if named:
        name = max(named, key=len)
    elif len(profiles) == 1:
        name = next(iter(profiles))
    else:
        check.update(status="not checked", reason="no known profile configured (--control-profiles)"
                     if not profiles else "no known profile named in the sample name")
        result.controls.append(check)
        outcome.notes.append(f"not checked: {check['reason']}")
        return
    expected = profiles[name]
    calls: dict[str, list[tuple[int, str]]] = {}
    for row in sample_rows:
        try:
            locus = normalise_locus(row.marker)
        except ReuniteError:
            continue
        call = call_marker(marker_kind(locus), row.cells)
        calls.setdefault(locus, []).append((row.line, call_text(call) if call.status == "typed" else _describe(call)))
    differences, missing = [], []
    for locus, value in sorted(expected.items()):
        found = calls.get(locus)
        if not found:
            missing.append(f"{locus}: no row")
            continue
        wrong = [(line, v) for line, v in found if v != value]
        if not wrong:
            continue
        if all(v in ("no call", "off-ladder (OL)") for _, v in wrong) and len(wrong) < len(found):
            continue  # a failed injection, another one agrees
        line, v = wrong[0]
        if v in ("no call", "off-ladder (OL)"):
            missing.append(f"{locus}: {v} (line {line}), expected {value}")
        else:
            differences.append(f"{locus}: expected {value}, found {v} (line {line})")
    status = "discordant" if differences else "incomplete" if missing else "concordant"
    check.update(status=status, profile=name, loci_checked=len(expected), differences=differences,
                 missing=missing)
    result.controls.append(check)
    if status == "concordant":
        outcome.notes.append(f"concordant with {name} at {len(expected)} loci")
    else:
        detail = "; ".join(differences + missing)
        outcome.notes.append(f"{status} with {name}: {detail}")
        result.warnings.append(f"{path}:{sample_rows[0].line}: positive control {sample!r} is {status} with "
                               f"its known profile {name}: {detail}; review the run before its profiles are used")


def controls_from_options(controls, control_profiles) -> tuple[ControlPatterns, dict[str, dict[str, str]] | None]:
    """``--controls`` and ``--control-profiles`` (paths, loaded objects or None)."""
    patterns = controls if isinstance(controls, ControlPatterns) else (
        load_control_patterns(controls) if controls is not None else ControlPatterns())
    profiles = control_profiles if isinstance(control_profiles, dict) or control_profiles is None \
        else load_control_profiles(control_profiles)
    return patterns, profiles
