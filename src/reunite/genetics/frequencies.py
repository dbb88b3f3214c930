"""Allele-frequency tables: the shipped population tables and the rare-allele rule.

Tables ship inside the package (``reunite/data/allele_frequencies.csv``, provenance in
``reunite/data/SOURCES.md``).  An allele absent from a table gets a minimum frequency,
5/2N when the table's sample size N is known (NRC II), otherwise a floor (default 0.001),
and the table is then renormalised; every result reports that choice.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np

from reunite.errors import FrequencyError
from reunite.genetics.loci import normalise_allele, normalise_locus

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
    """Every shipped population, sorted by name."""
    return [p for _, p in sorted(_load_all().items())]


def get_population(name: str) -> Population:
    """The shipped population ``name`` (see ``reunite populations``)."""
    pops = _load_all()
    if name not in pops:
        raise FrequencyError(
            f"unknown population {name!r}; expected one of: {', '.join(sorted(pops))}"
        )
    return pops[name]


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
    alleles: list[str] = []
    freqs: list[float] = []
    for label, value in afreq.items():
        try:
            f = float(value)
        except (TypeError, ValueError, OverflowError):  # OverflowError: an integer beyond any float
            raise FrequencyError(f"{where}: frequency of allele {label!r} is not a number: {value!r}") from None
        if not np.isfinite(f) or f < 0:
            raise FrequencyError(f"{where}: frequency of allele {label!r} must be >= 0, found {value!r}")
        alleles.append(str(label))
        freqs.append(f)
    if not alleles:
        raise FrequencyError(f"{where}: the frequency table is empty")
    notes: list[str] = []
    total = sum(freqs)
    if abs(total - 1.0) > SUM_TOLERANCE and not normalise:
        raise FrequencyError(
            f"{where}: frequencies sum to {total:.6g}, expected 1 within {SUM_TOLERANCE}; "
            "fix the table or ask for normalisation (--normalise / normalise=True)"
        )
    missing = [a for a in dict.fromkeys(observed) if a not in set(alleles)]
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
