"""Reading a laboratory's allele-frequency table: long or wide CSV (UTF-8 with or without a
byte-order mark, GB18030, UTF-16), or the frequency database of a Familias ``.fam`` file.

Long layout, one row per allele::

    population,locus,allele,frequency,n_individuals      (population, n_individuals optional)
    Han_Guangdong,D8S1179,13,0.2015,2068

Wide layout, as STRidER and most papers publish it: the first column holds the alleles, one
column per locus, and an optional row ``N`` (individuals typed; ``2N``: alleles counted)::

    Allele,D8S1179,TH01,...
    9,,0.1165,...
    N,2068,2068,...

A blank, ``-`` or ``0`` cell in the wide layout is an allele not observed at that locus.  Rows
of forensic statistics that papers print under the table (``Ho``, ``He``, ``PIC``, ``PD``,
``PE``, ``MP``, ``TPI``, ``p``) are left out and reported.  Every value is then validated as
the shipped table is (:func:`reunite.genetics.frequencies.check_rows`); every problem names
the file, line and column.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

from reunite.errors import FrequencyError
from reunite.genetics.frequencies import CheckedTable, RawRow, check_rows, parse_sample_size

#: Header spellings of the long layout's columns (after lower-casing and ``_`` for spaces).
LONG_COLUMNS = {
    "population": ("population", "pop", "群体", "人群"),
    "locus": ("locus", "marker", "基因座", "位点"),
    "allele": ("allele", "等位基因"),
    "frequency": ("frequency", "freq", "频率", "等位基因频率"),
    "n_individuals": ("n_individuals", "n", "sample_size", "individuals", "样本量", "样本数"),
    "source_id": ("source_id", "source"),
}
#: First-column headers of the wide layout.
WIDE_FIRST = ("allele", "alleles", "等位基因", "allele/locus", "locus/allele", "alleles/loci")
#: Wide rows giving the sample size (individuals); ``2N`` rows give alleles counted.
N_ROWS = ("n", "sample_size", "n_individuals", "individuals", "样本量", "样本数", "个体数")
N2_ROWS = ("2n", "alleles", "n_alleles", "等位基因数")
#: Statistics rows printed under published tables: not frequencies, left out (reported).
STAT_ROWS = ("ho", "he", "hobs", "hexp", "het", "het_obs", "het_exp", "pic", "pd", "dp", "pe", "mp", "pm",
             "tpi", "pi", "p", "p_value", "p-value", "hwe", "hwe_p", "gd", "h")
ABSENT = ("", "-", "–", "—", "0", "0.0", "0.00", "0.000", "0.0000", "0.00000", "0.000000", "n/a", "na")

ENCODINGS = ("utf-8", "gb18030", "utf-16")


@dataclass
class ReadTable:
    """A laboratory table read and validated (see :func:`read_table_csv`)."""

    table: CheckedTable
    layout: str  # "long", "wide" or "fam"
    encoding: str  # as read: "utf-8", "utf-8 (with BOM)", "gb18030", "utf-16"
    file_sha256: str  # of the file's bytes, as given
    notes: list[str] = field(default_factory=list)
    population: str | None = None  # the long layout's population column, when it has one
    mutation_models: dict = field(default_factory=dict)  # .fam: locus -> the file's models
    familias: dict = field(default_factory=dict)  # .fam: database name, theta, sizes (recorded)


def _key(text: str) -> str:
    return "_".join(str(text).strip().lower().split())


def decode(data: bytes, *, path: str, encoding: str | None = None) -> tuple[str, str]:
    """The text of a file and the encoding it was read with: UTF-8 (with or without BOM),
    else GB18030 (Chinese Windows, a superset of GBK), else UTF-16 with a BOM; ``encoding``
    forces one.

    Raises
    ------
    FrequencyError
        the bytes are not valid in that encoding (or in any of the three).
    """
    if encoding:
        try:
            return data.decode(encoding), encoding
        except (LookupError, UnicodeDecodeError) as exc:
            raise FrequencyError(f"{path}: cannot be read as {encoding} ({exc}); try --encoding utf-8 or "
                                 "gb18030") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            pass
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8 (with BOM)"
        except UnicodeDecodeError as exc:
            raise FrequencyError(f"{path}: starts with a UTF-8 byte-order mark but byte {exc.start + 3} is not "
                                 "UTF-8; save the file again as UTF-8") from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError:
        raise FrequencyError(f"{path}: neither UTF-8 nor GB18030 (GBK); save it as UTF-8 or give "
                             "--encoding") from None


def _rows(text: str, *, path: str) -> list[tuple[int, list[str]]]:
    """(line number, cells) of the non-blank lines; the delimiter (comma, tab or semicolon)
    is the one of the header line."""
    lines = text.splitlines()
    header = next((ln for ln in lines if ln.strip()), "")
    if not header:
        raise FrequencyError(f"{path}: the file is empty; expected a long or a wide frequency table")
    delimiter = max((",", "\t", ";"), key=header.count)
    out = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    for cells in reader:
        if any(c.strip() for c in cells):
            out.append((reader.line_num, [c.strip().lstrip("\ufeff") for c in cells]))
    return out


def read_table_csv(path: str | Path, *, encoding: str | None = None, only: str | None = None,
                   sample_size: int | None = None) -> ReadTable:
    """Read and validate a long or wide frequency CSV (the layout is detected).

    ``only``: the population to take from a long file whose ``population`` column names
    several.  ``sample_size``: the individuals typed, for loci whose file gives none.

    Raises
    ------
    FrequencyError
        the file cannot be read, its layout is neither long nor wide, or any value is
        invalid: the message lists every problem with its line and column.
    """
    path = Path(path)
    shown = path.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FrequencyError(f"{path}: cannot read the file ({exc.strerror})") from None
    text, used = decode(data, path=shown, encoding=encoding)
    rows = _rows(text, path=shown)
    header = rows[0][1]
    keys = [_key(h) for h in header]
    notes: list[str] = []
    population = None
    if any(k in LONG_COLUMNS["locus"] for k in keys) and any(k in LONG_COLUMNS["frequency"] for k in keys):
        raw, population = _long(rows, path=shown, only=only, notes=notes)  # (its columns in any order)
        layout = "long"
    elif keys and keys[0] in WIDE_FIRST:
        raw = _wide(rows, path=shown, notes=notes)
        layout = "wide"
    else:
        raise FrequencyError(
            f"{shown} line {rows[0][0]}: the header {header!r} is neither layout: a long table has the columns "
            "locus, allele, frequency (and optionally population, n_individuals); a wide table starts with a "
            "column 'Allele' followed by one column per locus")
    if only is not None and layout == "wide":
        raise FrequencyError(f"--only {only}: a wide table holds one population; --only is for a long table "
                             "with a population column")
    raw, size_errors = _fill_sample_size(raw, sample_size, path=shown)
    table = check_rows(raw, source=shown)
    errors = size_errors + table.errors
    if not table.afreq and not errors:
        errors.append(f"{shown}: no frequencies found")
    if errors:
        more = f"\n  ... and {len(errors) - 50} more" if len(errors) > 50 else ""
        raise FrequencyError(f"{shown}: {len(errors)} problem(s), nothing imported:\n  "
                             + "\n  ".join(errors[:50]) + more)
    notes += unknown_locus_notes(table.afreq)
    return ReadTable(table, layout, used, hashlib.sha256(data).hexdigest(), notes, population)


def unknown_locus_notes(loci) -> list[str]:
    """A note for each locus that no shipped table and no kit knows (a typo such as D8S1197 for
    D8S1179 would otherwise be imported silently and then be missing from every kit)."""
    from difflib import get_close_matches

    from reunite.genetics.frequencies import list_populations
    from reunite.genetics.kits import KITS

    known = {locus for pop in list_populations() for locus in pop.loci} | {l for loci in KITS.values() for l in loci}
    notes = []
    for locus in sorted(loci):
        if locus not in known:
            close = get_close_matches(locus, sorted(known), n=1, cutoff=0.8)
            notes.append(f"locus {locus} is in no shipped table and no kit: check its name"
                         + (f" (did you mean {close[0]}?)" if close else ""))
    return notes


def _fill_sample_size(raw: list[RawRow], sample_size: int | None, *, path: str):
    """Rows with ``sample_size`` where the file gives none; a file value that differs is an
    error (the option fills gaps, it never overrides the file)."""
    if sample_size is None:
        return raw, []
    if sample_size < 1:
        return raw, [f"--sample-size: expected a positive whole number of individuals, found {sample_size}"]
    errors, out, reported = [], [], set()
    for r in raw:
        try:
            given = parse_sample_size(r.n_individuals)
        except ValueError:
            given = None  # reported by check_rows
        if given is not None and given != sample_size and r.locus not in reported:
            reported.add(r.locus)
            errors.append(f"{path} line {r.line}, column {r.columns.get('n_individuals')}: locus {r.locus} has "
                          f"sample size {given} in the file but --sample-size {sample_size} was given; drop the "
                          "option or correct the file")
        out.append(r if r.n_individuals.strip() else RawRow(r.locus, r.allele, r.frequency, str(sample_size),
                                                            r.line, {**r.columns, "n_individuals": "--sample-size"}))
    return out, errors


def _long(rows, *, path: str, only: str | None, notes: list[str]):
    line0, header = rows[0]
    where: dict[str, int] = {}
    unknown = []
    for j, h in enumerate(header):
        k = _key(h)
        field_name = next((f for f, names in LONG_COLUMNS.items() if k in names), None)
        if field_name is None:
            unknown.append(f"column {j + 1} {h!r}")
        elif field_name in where:
            raise FrequencyError(f"{path} line {line0}, column {j + 1} {h!r}: a second {field_name} column (the "
                                 f"first is column {where[field_name] + 1}); keep one")
        else:
            where[field_name] = j
    if unknown:
        raise FrequencyError(f"{path} line {line0}: unknown column(s) {', '.join(unknown)}; a long table has "
                             "locus, allele, frequency and optionally population, n_individuals, source_id "
                             "(rename or remove the others)")
    missing = [f for f in ("locus", "allele", "frequency") if f not in where]
    if missing:
        raise FrequencyError(f"{path} line {line0}: missing column(s) {', '.join(missing)}; a long table has "
                             "locus, allele, frequency")
    labels = {f: f"{j + 1} {header[j]!r}" for f, j in where.items()}

    def cell(cells, f):
        j = where.get(f)
        return cells[j] if j is not None and j < len(cells) else ""

    body = rows[1:]
    population = None
    if "population" in where:
        names = list(dict.fromkeys(cell(c, "population") for _, c in body))
        if only is not None:
            if only not in names:
                raise FrequencyError(f"--only {only}: the file has no such population; it has "
                                     f"{', '.join(repr(n) for n in names)}")
            body = [(ln, c) for ln, c in body if cell(c, "population") == only]
            population = only
            notes.append(f"population {only!r} taken from the file's {len(names)} populations")
        elif len(names) > 1:
            raise FrequencyError(f"{path}: the population column holds {len(names)} populations "
                                 f"({', '.join(repr(n) for n in names[:10])}); import one at a time with "
                                 "--only POPULATION")
        else:
            population = names[0] if names else None
    elif only is not None:
        raise FrequencyError(f"--only {only}: {path} has no population column")
    raw = []
    for line, cells in body:
        if len(cells) > len(header) and any(c for c in cells[len(header):]):
            raise FrequencyError(f"{path} line {line}: {len(cells)} cells but the header has {len(header)} "
                                 "columns (an unquoted comma in a value?)")
        raw.append(RawRow(cell(cells, "locus"), cell(cells, "allele"), cell(cells, "frequency"),
                          cell(cells, "n_individuals"), line, labels))
    return raw, population


def _wide(rows, *, path: str, notes: list[str]):
    line0, header = rows[0]
    loci = header[1:]
    empty = [j + 2 for j, h in enumerate(loci) if not h]
    if empty:
        raise FrequencyError(f"{path} line {line0}: column(s) {', '.join(map(str, empty))} have no locus name "
                             "in the header")
    sizes: dict[int, tuple[str, int, str]] = {}  # column -> (value, line, label)
    skipped = []
    body = []
    for line, cells in rows[1:]:
        label = _key(cells[0]) if cells else ""
        if len(cells) > len(header) and any(c for c in cells[len(header):]):
            raise FrequencyError(f"{path} line {line}: {len(cells)} cells but the header has {len(header)} "
                                 "columns")
        if label in N_ROWS or label in N2_ROWS:
            for j in range(1, len(header)):
                value = cells[j] if j < len(cells) else ""
                if label in N2_ROWS and value.strip():
                    try:
                        alleles = parse_sample_size(value)
                    except ValueError:
                        alleles = None
                    value = str(alleles // 2) if alleles and alleles % 2 == 0 else value
                if value.strip():
                    sizes[j] = (value, line, cells[0])
            continue
        if label in STAT_ROWS:
            skipped.append(f"{cells[0]} (line {line})")
            continue
        body.append((line, cells))
    if skipped:
        notes.append(f"statistics rows left out (not frequencies): {', '.join(skipped)}")
    raw = []
    for line, cells in body:
        for j in range(1, len(header)):
            value = cells[j] if j < len(cells) else ""
            if value.strip().lower() in ABSENT:
                continue
            n_value, _, _ = sizes.get(j, ("", 0, ""))
            raw.append(RawRow(header[j], cells[0], value, n_value, line,
                              {"locus": f"{j + 1} {header[j]!r} of the header (line {line0})",
                               "allele": f"1 {header[0]!r}",
                               "frequency": f"{j + 1} {header[j]!r}",
                               "n_individuals": f"{j + 1} {header[j]!r} (row {sizes[j][2]!r}, line {sizes[j][1]})"
                               if j in sizes else "n_individuals"}))
    return raw


def read_table_fam(path: str | Path, *, sample_size: int | None = None) -> ReadTable:
    """The frequency database of a Familias ``.fam`` file, validated like a CSV table; its
    mutation models, θ and database sizes are recorded (not used: a database's genetic model
    is chosen at ``reunite db init``).

    Raises
    ------
    FrequencyError
        the file cannot be read (the reader's error), or a frequency is invalid (e.g. a
        Familias "rest allele", which is not a repeat number).
    """
    from reunite.genetics.familias import read_fam

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FrequencyError(f"{path}: cannot read the file ({exc.strerror})") from None
    fam = read_fam(path)
    db = fam.database
    raw, models = [], {}
    for k, marker in enumerate(db.markers, start=1):
        label = {"locus": f"marker {k} {marker.name!r}", "allele": f"marker {k} {marker.name!r}",
                 "frequency": f"marker {k} {marker.name!r}", "n_individuals": "--sample-size"}
        for allele, freq in marker.afreq.items():
            raw.append(RawRow(marker.name, str(allele), repr(float(freq)),
                              "" if sample_size is None else str(sample_size), 0, label))
        if marker.mutation is not None:
            models[marker.name] = {"female": _model_json(marker.mutation.female),
                                   "male": _model_json(marker.mutation.male)}
    table = check_rows(raw, source=path.name)
    if table.errors:
        errors = [e.replace(" lines 0-0,", ",").replace(" line 0,", ",") for e in table.errors]
        if any("rest allele" in e.lower() for e in errors):
            errors.append("a Familias 'rest allele' stands for every allele not listed; a frequency table lists "
                          "alleles: replace it by the alleles it stands for (in Familias or in a CSV export)")
        raise FrequencyError(f"{path.name}: the Familias database has {len(errors)} problem(s), nothing "
                             "imported:\n  " + "\n  ".join(errors[:50]))
    notes = [f"Familias database {db.name!r}; mutation models recorded for {len(models)} of "
             f"{len(db.markers)} markers (not used: the database's model is chosen at 'reunite db init')"]
    if db.db_size and sample_size is None:
        notes.append("the file's database sizes are recorded but not used as sample sizes (Familias counts "
                     "alleles or persons depending on how the database was entered); give --sample-size N to "
                     "use the 5/2N rule for unseen alleles")
    familias = {"database_name": db.name, "theta": db.theta, "db_size": dict(db.db_size),
                "version": getattr(fam, "version", None)}
    return ReadTable(table, "fam", "familias", hashlib.sha256(data).hexdigest(), notes + list(fam.warnings),
                     None, models, familias)


def _model_json(model) -> dict:
    out = {"model": model.model, "rate": model.rate}
    if model.model == "stepwise":
        out.update(rate2=model.rate2, range=model.range)
    if model.matrix is not None:
        out["matrix"] = [list(r) for r in model.matrix]
    if getattr(model, "transform", None):
        out["transform"] = model.transform  # Familias's stationary stepwise: pedmut's PM
    return out
