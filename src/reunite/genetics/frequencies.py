"""Allele-frequency tables: the shipped population tables, the laboratory's imported tables,
and the rare-allele rule.

Tables ship inside the package (``reunite/data/allele_frequencies.csv``, provenance in
``reunite/data/SOURCES.md``); a laboratory adds its own with ``reunite populations import``
(stored in the table registry, :mod:`reunite.genetics.table_registry`).  :func:`get_population`
finds both.  An allele absent from a table gets a minimum frequency, 5/2N when the table's
sample size N is known (NRC II), otherwise a floor (default 0.001), and the table is then
renormalised; every result reports that choice.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np

from reunite.errors import FrequencyError, ReuniteError
from reunite.genetics.loci import ascii_digits, marker_kind, normalise_allele, normalise_locus, repeat_problem

#: Largest allowed |sum of frequencies - 1| before a table is rejected (unless normalised).
SUM_TOLERANCE = 0.005
DEFAULT_FLOOR = 0.001


@dataclass(frozen=True)
class LocusTable:
    """Frequencies of one locus in one population."""

    population: str
    locus: str
    afreq: dict[str, float]
    n_individuals: int | None
    source_id: str


@dataclass
class Population:
    """A population's frequency tables, one per locus."""

    name: str
    loci: dict[str, LocusTable] = field(default_factory=dict)
    origin: str = "shipped"  # "shipped", "imported" (the registry) or "database" (a database's own copy)
    sha256: str | None = None  # imported tables: the checksum of their normalised content
    metadata: dict = field(default_factory=dict)  # imported tables: who, when, from what file

    @property
    def sources(self) -> list[str]:
        return sorted({t.source_id for t in self.loci.values()})

    @property
    def sample_size(self) -> str:
        ns = sorted({t.n_individuals for t in self.loci.values() if t.n_individuals})
        if not ns:
            return "not stated"
        return str(ns[0]) if ns[0] == ns[-1] else f"{ns[0]}-{ns[-1]}"

    def locus(self, name: str) -> LocusTable:
        key = normalise_locus(name)
        try:
            return self.loci[key]
        except KeyError:
            raise FrequencyError(
                f"population {self.name!r} has no table for locus {name!r} (normalised {key!r}); "
                f"it has {len(self.loci)} loci: {', '.join(sorted(self.loci))}"
            ) from None


@lru_cache(maxsize=1)
def _load_all() -> dict[str, Population]:
    pops: dict[str, Population] = {}
    raw: dict[tuple[str, str], list] = {}
    ref = resources.files("reunite") / "data" / "allele_frequencies.csv"
    with ref.open("r", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        for line, row in enumerate(reader, start=2):
            try:
                pop, locus = row["population"], normalise_locus(row["locus"])
                allele = normalise_allele(row["allele"])
                freq = float(row["frequency"])
                n = int(row["n_individuals"]) if row["n_individuals"] else None
            except (KeyError, ValueError) as exc:
                raise FrequencyError(f"allele_frequencies.csv line {line}: {exc}") from None
            raw.setdefault((pop, locus), []).append((allele, freq, n, row["source_id"]))
    for (pop, locus), rows in raw.items():
        ns = [r[2] for r in rows if r[2]]
        table = LocusTable(pop, locus, {r[0]: r[1] for r in rows}, max(ns) if ns else None, rows[0][3])
        pops.setdefault(pop, Population(pop)).loci[locus] = table
    return pops


def list_populations() -> list[Population]:
    """Every shipped population, sorted by name (imported ones:
    :func:`reunite.genetics.table_registry.list_imported`)."""
    return [p for _, p in sorted(_load_all().items())]


def is_shipped(name: str) -> bool:
    """Whether ``name`` is a table shipped with reunite."""
    return name in _load_all()


def get_population(name: str) -> Population:
    """The population table ``name``: a shipped one, the copy recorded in the database that
    is open (see :func:`reunite.genetics.table_registry.use_recorded_table`), or one imported
    with ``reunite populations import``.

    Raises
    ------
    FrequencyError
        no table has that name (the message lists the shipped and imported ones), or the
        imported table's file was changed by hand (its checksum no longer matches).
    """
    pops = _load_all()
    if name in pops:
        return pops[name]
    from reunite.genetics import table_registry

    found = table_registry.find(name)
    if found is not None:
        return found
    imported = table_registry.imported_names()
    raise FrequencyError(
        f"unknown population {name!r}; expected one of: {', '.join(sorted(pops))}"
        + (f"; or one imported here: {', '.join(imported)}" if imported else "")
        + " ('reunite populations' lists them; 'reunite populations import' adds a laboratory's table)"
    )


# ----------------------------------------------------------------------------------------
# Validation of a table, the same for the shipped file and for a laboratory's import.

#: Autosomal STR names that do not follow the D<chromosome>S<number> pattern.
NAMED_LOCI = frozenset({"TH01", "TPOX", "CSF1PO", "FGA", "VWA", "SE33", "D22GATA198B05", "D12ATA63",
                        "D1GATA113", "F13A01", "F13B", "FESFPS", "LPL", "APOAI1", "HPRTB"})
#: Loci whose published tables (Familias/norSTR) label alleles by fragment length (e.g. 252).
SIZE_LABELLED_LOCI = frozenset({"APOAI1", "D11S554", "D17S906"})
_LOCUS_PATTERN = re.compile(r"D([1-9]|1[0-9]|2[0-2])S[0-9]+[A-Z]?|PENTA_[A-Z]", re.ASCII)


def locus_name_problem(locus: str) -> str | None:
    """Why a normalised name is not an autosomal STR locus (None if it is): Amelogenin,
    Y markers and X-STRs are not used for autosomal kinship; anything else must look like
    ``D8S1179`` or be a known name (``TH01``, ``Penta D``, ``SE33``, ...)."""
    kind = marker_kind(locus)
    if kind != "str" or locus.startswith("DX"):
        return (f"{locus} is not an autosomal STR (Amelogenin, Y and X markers are not used for "
                "autosomal kinship); leave it out of the frequency table")
    if locus in NAMED_LOCI or _LOCUS_PATTERN.fullmatch(locus):
        return None
    return (f"{locus!r} is not a locus name (expected e.g. D8S1179, TH01, vWA, Penta D, SE33, "
            "D22GATA198B05)")


@dataclass(frozen=True)
class RawRow:
    """One frequency as read from a file, before validation: the cells as written, and
    where each came from (``line``; ``columns``: field -> a column label such as
    ``"4 'frequency'"``)."""

    locus: str
    allele: str
    frequency: str
    n_individuals: str
    line: int
    columns: dict


@dataclass
class CheckedTable:
    """A validated table: ``afreq[locus][allele]``, ``n_individuals[locus]`` (None when not
    stated) and every problem found (``errors``, each naming file, line and column)."""

    afreq: dict[str, dict[str, float]] = field(default_factory=dict)
    n_individuals: dict[str, int | None] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def parse_sample_size(text: str) -> int | None:
    """A sample size cell: a positive whole number (``"203"``, ``"203.0"``); None if empty.

    Raises
    ------
    ValueError
        not a positive whole number.
    """
    text = ascii_digits(str(text)).strip().replace(",", "") if text is not None else ""
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value != int(value) or value < 1:
        raise ValueError(f"expected a positive whole number of individuals, found {text!r}")
    return int(value)


def check_rows(rows, *, source: str, sum_tolerance: float = SUM_TOLERANCE) -> CheckedTable:
    """Validate frequency rows as the shipped table is validated.

    Locus names and allele labels are normalised (:func:`normalise_locus`,
    :func:`normalise_allele`); a locus must be an autosomal STR, an allele a repeat number
    (1 to 99, e.g. ``15`` or ``9.3``; a fragment length at the few loci published that way,
    :data:`SIZE_LABELLED_LOCI`), a frequency a number in (0, 1], a sample size a
    positive whole number, the same on every row of a locus; a (locus, allele) pair appears
    once; each locus's frequencies sum to 1 within ``sum_tolerance`` (0.005).

    Returns the table and the list of problems (never raises for bad data).
    """
    out = CheckedTable()
    seen: dict[tuple[str, str], int] = {}
    lines: dict[str, list[int]] = {}
    sizes: dict[str, tuple[int, int]] = {}
    bad_loci: set[str] = set()
    bad_sizes: set[tuple[str, str]] = set()

    def where(row: RawRow, what: str) -> str:
        return f"{source} line {row.line}, column {row.columns.get(what, what)}"

    for row in rows:
        try:
            locus = normalise_locus(row.locus)
        except ReuniteError as exc:
            out.errors.append(f"{where(row, 'locus')}: {exc}")
            continue
        problem = locus_name_problem(locus)
        if problem:
            if locus not in bad_loci:
                out.errors.append(f"{where(row, 'locus')}: {problem}")
            bad_loci.add(locus)
            continue
        try:
            allele = normalise_allele(row.allele)
        except ReuniteError as exc:
            out.errors.append(f"{where(row, 'allele')}: {exc}")
            continue
        why = repeat_problem(allele)
        if why and locus in SIZE_LABELLED_LOCI and re.fullmatch(r"[0-9]{2,3}(\.[0-9])?", allele):
            why = None  # these loci are labelled by fragment length in the published tables
        if why:
            out.errors.append(f"{where(row, 'allele')}: allele {row.allele!r}: {why}")
            continue
        text = ascii_digits(str(row.frequency)).strip()
        try:
            freq = float(text)
        except ValueError:
            hint = " (a percentage? write 0.125 for 12.5%)" if text.endswith("%") else (
                " (a decimal comma? write 0.123)" if "," in text else "")
            out.errors.append(f"{where(row, 'frequency')}: expected a frequency such as 0.125, found "
                              f"{row.frequency!r}{hint}")
            continue
        if not (math.isfinite(freq) and 0.0 < freq <= 1.0):
            out.errors.append(f"{where(row, 'frequency')}: expected a frequency in (0, 1], found {row.frequency!r}"
                              + (" (leave out alleles not observed)" if freq == 0 else ""))
            continue
        try:
            n = parse_sample_size(row.n_individuals)
        except ValueError as exc:
            if (locus, row.n_individuals) not in bad_sizes:  # a wide table's N cell: once per locus
                out.errors.append(f"{where(row, 'n_individuals')}: {exc}")
            bad_sizes.add((locus, row.n_individuals))
            n = None
        key = (locus, allele)
        if key in seen:
            out.errors.append(f"{where(row, 'allele')}: locus {locus} allele {allele} appears twice (first on "
                              f"line {seen[key]}); keep one row per allele")
            continue
        seen[key] = row.line
        out.afreq.setdefault(locus, {})[allele] = freq
        lines.setdefault(locus, []).append(row.line)
        out.n_individuals.setdefault(locus, None)
        if n is not None:
            if locus in sizes and sizes[locus][0] != n:
                out.errors.append(f"{where(row, 'n_individuals')}: locus {locus} has sample size {n} here but "
                                  f"{sizes[locus][0]} on line {sizes[locus][1]}; one locus has one sample size")
            else:
                sizes.setdefault(locus, (n, row.line))
                out.n_individuals[locus] = n
    for locus, afreq in out.afreq.items():
        total = math.fsum(afreq.values())
        if abs(total - 1.0) > sum_tolerance:
            span = lines[locus]
            out.errors.append(f"{source} lines {min(span)}-{max(span)}, locus {locus}: frequencies sum to "
                              f"{total:.6g}, expected 1 within {sum_tolerance} (an allele missing, a typing "
                              "error, or counts instead of frequencies?)")
    return out


def prepare_afreq(
    afreq: dict[str, float],
    *,
    observed=(),
    n_individuals: int | None = None,
    floor: float = DEFAULT_FLOOR,
    normalise: bool = False,
    where: str = "afreq",
) -> tuple[list[str], np.ndarray, list[str]]:
    """Validate a frequency table and add the observed alleles it lacks.

    Returns ``(alleles, frequencies, notes)``.  Missing alleles get ``5 / (2 N)`` when
    ``n_individuals`` (N) is known, else ``floor``.  The returned frequencies always sum to
    1: a table off by at most 0.005 (or any table, with ``normalise``) is rescaled.

    Raises
    ------
    FrequencyError
        a negative or non-numeric frequency, or a sum off 1 by more than 0.005 when
        ``normalise`` is false.
    """
    values = list(afreq.values())
    if values and set(map(type, values)) == {float} and math.isfinite(sum(values)) and min(values) >= 0:
        # every frequency a finite float >= 0 (a finite sum has no inf or nan): read as is
        alleles, freqs = list(map(str, afreq)), values
    else:
        alleles, freqs = _checked_frequencies(afreq, where=where)
    if not alleles:
        raise FrequencyError(f"{where}: the frequency table is empty")
    notes: list[str] = []
    total = sum(freqs)
    if abs(total - 1.0) > SUM_TOLERANCE and not normalise:
        raise FrequencyError(
            f"{where}: frequencies sum to {total:.6g}, expected 1 within {SUM_TOLERANCE}; "
            "fix the table or ask for normalisation (--normalise / normalise=True)"
        )
    missing = [a for a in dict.fromkeys(observed) if a not in set(alleles)] if observed else []
    if missing:
        minimum = 5.0 / (2.0 * n_individuals) if n_individuals else floor
        rule = f"5/2N with N={n_individuals}" if n_individuals else f"floor {floor:g}"
        for a in missing:
            alleles.append(a)
            freqs.append(minimum)
        notes.append(f"alleles {', '.join(missing)} absent from the table: frequency {minimum:.6g} "
                     f"({rule}), table renormalised")
        normalise = True
    arr = np.asarray(freqs, dtype=float)
    # The model needs a probability distribution: a table within the tolerance is rescaled
    # to sum to 1; deviations up to 1e-9 are float rounding in the source and left alone.
    if abs(arr.sum() - 1.0) > 1e-9:
        if not missing and abs(total - 1.0) > 1e-9:
            notes.append(f"frequencies summed to {total:.6g}; renormalised")
        arr = arr / arr.sum()
    return alleles, arr, notes


def _checked_frequencies(afreq: dict, *, where: str) -> tuple[list[str], list[float]]:
    """Allele labels and frequencies of ``afreq``, each frequency checked.

    Raises
    ------
    FrequencyError
        a frequency that is not a number, negative, infinite or NaN.
    """
    alleles: list[str] = []
    freqs: list[float] = []
    for label, value in afreq.items():
        try:
            f = float(value)
        except (TypeError, ValueError, OverflowError):  # OverflowError: an integer beyond any float
            raise FrequencyError(f"{where}: frequency of allele {label!r} is not a number: {value!r}") from None
        if not math.isfinite(f) or f < 0:
            raise FrequencyError(f"{where}: frequency of allele {label!r} must be >= 0, found {value!r}")
        alleles.append(str(label))
        freqs.append(f)
    return alleles, freqs
