"""Packed STR profiles and the database's genetic model."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from reunite.errors import ReuniteError
from reunite.genetics.caseio import step_rate_problem
from reunite.genetics.frequencies import get_population, prepare_afreq
from reunite.genetics.kinship import Marker, Mutation
from reunite.genetics.kits import DEFAULT_RANGE, DEFAULT_RATE2
from reunite.genetics.loci import normalise_locus
from reunite.genetics.mutation import MODELS, MutationModel
from reunite.genetics.rates import locus_rates


def pack_profile(profile: dict[str, tuple[str, str]]) -> str:
    """``{"VWA": ("14", "17")}`` -> ``"VWA=14/17"`` (loci sorted, joined by ``;``), so that
    equal profiles have equal text."""
    return ";".join(f"{locus}={a}/{b}" for locus, (a, b) in sorted(profile.items()))


def unpack_profile(text: str) -> dict[str, tuple[str, str]]:
    out = {}
    for part in text.split(";") if text else []:
        locus, _, g = part.partition("=")
        a, _, b = g.partition("/")
        out[locus] = (a, b)
    return out


@dataclass(frozen=True)
class GeneticModel:
    """The genetic model a database was created with (recorded in every candidate).

    ``mutation_rate`` None means the shipped per-locus, per-sex rates.
    """

    population: str
    mutation: str = "stepwise"
    mutation_rate: float | None = None
    rate2: float = DEFAULT_RATE2
    range: float = DEFAULT_RANGE
    theta: float = 0.0
    min_common_loci: int = 12

    def __post_init__(self) -> None:
        get_population(self.population)  # raises for an unknown population
        if self.mutation not in MODELS + ("none",) or self.mutation == "custom":
            raise ReuniteError(
                f"--mutation: expected one of equal, proportional, stepwise, onestep, none; "
                f"found {self.mutation!r}"
            )
        if not 0.0 <= self.theta < 1.0:
            raise ReuniteError(f"--theta: expected 0 <= theta < 1, found {self.theta}")
        for option, rate in (("--mutation-rate", self.mutation_rate), ("--rate2", self.rate2)):
            problem = None if rate is None else step_rate_problem(rate, model=self.mutation, what="rate")
            if problem:
                raise ReuniteError(f"{option}: {problem}")

    def to_json(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, d: dict) -> "GeneticModel":
        return cls(**d)

    def describe(self) -> str:
        if self.mutation == "none":
            mut = "no mutation"
        else:
            rate = "per-locus per-sex rates (shipped table)" if self.mutation_rate is None \
                else f"rate {self.mutation_rate:g}"
            mut = f"{self.mutation} mutation, {rate}"
            if self.mutation == "stepwise":
                mut += f", rate2 {self.rate2:g}, range {self.range:g}"
        return f"{self.population}; {mut}; theta {self.theta:g}"

    @lru_cache(maxsize=512)
    def locus_mutation(self, locus: str) -> Mutation | None:
        if self.mutation == "none":
            return None
        if self.mutation_rate is None:
            r = locus_rates(locus)
            female, male = r.female, r.male
        else:
            female = male = self.mutation_rate
        kw = {"rate2": self.rate2, "range": self.range} if self.mutation == "stepwise" else {}
        return Mutation(MutationModel(self.mutation, rate=female, **kw),
                        MutationModel(self.mutation, rate=male, **kw))

    def marker(self, locus: str, genotypes: dict | None = None) -> Marker:
        """The Marker of ``locus`` (frequency table, mutation) with the given genotypes."""
        table = get_population(self.population).locus(locus)
        return Marker(table.locus, table.afreq, genotypes or {}, self.locus_mutation(table.locus),
                      table.n_individuals, self.population)

    def loci(self) -> set[str]:
        """Loci whose frequency table can be used (sums to 1 within the tolerance)."""
        return set(get_population(self.population).loci) - set(self.unusable_loci())

    def check(self) -> None:
        """Build every locus's mutation matrices once, so that a model that cannot work with
        the frequency table (e.g. onestep with microvariant alleles) fails at creation."""
        for locus in sorted(self.loci()):
            mutation = self.locus_mutation(locus)
            if mutation is None:
                continue
            alleles, freqs = _table(self.marker(locus))
            try:
                for model in (mutation.female, mutation.male):
                    model.transition_matrix(alleles, freqs)
            except ReuniteError as exc:
                raise ReuniteError(f"--mutation {self.mutation}: locus {locus}: {exc}") from None

    @lru_cache(maxsize=8)
    def unusable_loci(self) -> dict[str, str]:
        """Loci of the table that cannot be used, with the reason (e.g. SE33 in the GB/T table)."""
        out = {}
        for locus, table in get_population(self.population).loci.items():
            try:
                prepare_afreq(table.afreq, where=f"{self.population} {locus}")
            except ReuniteError as exc:
                # a database never renormalises a table in silence: the locus is not used
                out[locus] = str(exc).split("; fix the table")[0] + (
                    "; a database does not renormalise a shipped table, so this locus is not "
                    "searched (choose another table at 'reunite db init' to use it)")
        return out


def _table(marker: Marker):
    alleles, freqs, _ = prepare_afreq(marker.afreq, n_individuals=marker.n_individuals)
    return alleles, freqs


def canonical_locus(name: str) -> str:
    return normalise_locus(name)
