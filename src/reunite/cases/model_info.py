"""Reference data for the administration pages (read-only): the typing kits, the shipped
allele-frequency tables with their sources (``reunite/data/SOURCES.md``), and the genetic
model the database was created with (θ, mutation model and rates, population).

Any logged-in user may read these (they hold no personal data); the CLI's ``reunite
populations`` prints the same tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from sqlalchemy.orm import Session

from reunite.errors import NotFound
from reunite.genetics.frequencies import get_population, list_populations
from reunite.genetics.kits import KITS
from reunite.genetics.rates import locus_rates
from reunite.security.actor import Actor
from reunite.store.db import read_settings
from reunite.store.profiles import GeneticModel

_SOURCE_HEADING = re.compile(r"^### ([A-Z0-9_]+): (.+)$")


@dataclass
class KitInfo:
    name: str
    loci: list[str]


@dataclass
class SourceInfo:
    id: str
    title: str  # the heading of its section in SOURCES.md ('' when it has none)


@dataclass
class TableInfo:
    """One shipped population table: how many loci and alleles, the sample size, the sources."""

    population: str
    loci: int
    alleles: int
    sample_size: str  # e.g. '203', '38-43' or 'not stated'
    sources: list[SourceInfo]


@dataclass
class LocusInfo:
    locus: str
    alleles: int
    total: float  # the sum of the frequencies
    n_individuals: int | None
    source: str


@dataclass
class TableDetail:
    table: TableInfo
    loci: list[LocusInfo]


@dataclass
class LocusRateInfo:
    locus: str
    female: float
    male: float
    source: str


@dataclass
class ModelInfo:
    """The database's genetic model, as recorded at ``reunite db init``."""

    population: str
    theta: float
    mutation: str  # equal | proportional | stepwise | onestep | none
    mutation_rate: float | None  # None: the shipped per-locus, per-sex rates (``rates``)
    rate2: float
    range: float
    min_common_loci: int
    description: str
    rates: list[LocusRateInfo] = field(default_factory=list)
    unusable_loci: dict[str, str] = field(default_factory=dict)


@lru_cache(maxsize=1)
def _source_titles() -> dict[str, str]:
    text = (resources.files("reunite") / "data" / "SOURCES.md").read_text(encoding="utf-8")
    out = {}
    for line in text.splitlines():
        m = _SOURCE_HEADING.match(line.strip())
        if m:
            out.setdefault(m.group(1), m.group(2).strip())
    return out


def _sources(ids) -> list[SourceInfo]:
    titles = _source_titles()
    return [SourceInfo(i, titles.get(i, "")) for i in ids]


def list_kits(*, actor: Actor) -> list[KitInfo]:
    """The typing kits (sets of loci) reunite knows."""
    return [KitInfo(name, list(loci)) for name, loci in sorted(KITS.items())]


def _table_info(pop) -> TableInfo:
    return TableInfo(pop.name, len(pop.loci), sum(len(t.afreq) for t in pop.loci.values()), pop.sample_size,
                     _sources(pop.sources))


def list_frequency_tables(*, actor: Actor) -> list[TableInfo]:
    """Every allele-frequency table: the shipped ones, then the laboratory's imported ones
    (``reunite populations import``), each sorted by name."""
    from reunite.genetics.table_registry import scan_imported

    imported, _damaged = scan_imported()  # a damaged file is named by 'reunite populations'
    return [_table_info(p) for p in list_populations()] + [_table_info(p) for p in imported]


def frequency_table(*, actor: Actor, population: str) -> TableDetail:
    """One shipped or imported table with its loci (alleles, sum of frequencies, sample size, source)."""
    try:
        pop = get_population(population)
    except Exception:
        raise NotFound(f"population: no frequency table {population!r} (the list: /admin/frequencies, "
                       "'reunite populations')") from None
    loci = [LocusInfo(t.locus, len(t.afreq), round(sum(t.afreq.values()), 6), t.n_individuals, t.source_id)
            for _, t in sorted(pop.loci.items())]
    return TableDetail(_table_info(pop), loci)


def genetic_model(session: Session, *, actor: Actor) -> ModelInfo:
    """The genetic model in use: the database's population, θ, mutation model and rates (the
    per-locus, per-sex rates of the first kit's loci when the shipped rates are used), and
    the loci of the table that cannot be used."""
    model = GeneticModel.from_json(read_settings(session)["genetic_model"])
    rates = []
    if model.mutation != "none":
        usable = model.loci()
        for locus in next(iter(KITS.values())):
            if locus in usable:
                if model.mutation_rate is None:
                    r = locus_rates(locus)
                    rates.append(LocusRateInfo(r.locus, r.female, r.male, r.source))
                else:
                    rates.append(LocusRateInfo(locus, model.mutation_rate, model.mutation_rate, "--mutation-rate"))
    return ModelInfo(model.population, model.theta, model.mutation, model.mutation_rate, model.rate2, model.range,
                     model.min_common_loci, model.describe(), rates, dict(model.unusable_loci()))
