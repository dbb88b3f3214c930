"""Typing kits (sets of loci) and markers built from a shipped population table."""

from __future__ import annotations

from reunite.errors import ReuniteError
from reunite.genetics.frequencies import get_population
from reunite.genetics.kinship import Marker, Mutation
from reunite.genetics.mutation import MutationModel
from reunite.genetics.rates import locus_rates

#: A 24-locus panel of the loci shared by common Chinese forensic kits: the 20 expanded
#: CODIS core loci plus PENTA_D, PENTA_E, D6S1043 and D22GATA198B05 (all in the GB/T 37223
#: table; SE33 is left out because that table lacks its allele 30.2).
CHN24 = (
    "D3S1358", "VWA", "D16S539", "CSF1PO", "TPOX", "D8S1179", "D21S11", "D18S51",
    "PENTA_E", "D2S441", "D19S433", "TH01", "FGA", "D22S1045", "D5S818", "D13S317",
    "D7S820", "D6S1043", "D10S1248", "D1S1656", "D12S391", "D2S1338", "PENTA_D",
    "D22GATA198B05",
)

KITS = {"CHN24": CHN24}

#: Defaults of the stepwise model when the per-locus table gives only the total rate.
DEFAULT_RATE2 = 1e-6
DEFAULT_RANGE = 0.1


def default_mutation(locus: str, *, model: str = "stepwise") -> Mutation:
    """Per-sex mutation model of ``locus`` with the shipped default rates."""
    r = locus_rates(locus)
    if model == "stepwise":
        return Mutation(MutationModel("stepwise", rate=r.female, rate2=DEFAULT_RATE2, range=DEFAULT_RANGE),
                        MutationModel("stepwise", rate=r.male, rate2=DEFAULT_RATE2, range=DEFAULT_RANGE))
    return Mutation(MutationModel(model, rate=r.female), MutationModel(model, rate=r.male))


def kit_markers(population: str = "CHN_national_GBT37223", *, kit=CHN24,
                mutation: str | None = "stepwise") -> list[Marker]:
    """Untyped markers (no genotypes) for the loci of ``kit`` from a shipped population."""
    if isinstance(kit, str):
        if kit not in KITS:
            raise ReuniteError(f"unknown kit {kit!r}; expected one of {', '.join(KITS)}")
        kit = KITS[kit]
    pop = get_population(population)
    out = []
    for locus in kit:
        table = pop.locus(locus)
        out.append(Marker(table.locus, dict(table.afreq), {},
                          None if mutation is None else default_mutation(table.locus, model=mutation),
                          table.n_individuals, population))
    return out
