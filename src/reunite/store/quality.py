"""The quality of STR profiles: what an analyst checks before a profile is searched.

Per profile: the loci typed (fewer than the database's ``min_common_loci`` cannot be compared
with anyone), alleles absent from the frequency table (they get the rare-allele frequency; a
typing error often looks like one), homozygous loci against what the table expects (far more
than expected points to allele dropout, degraded DNA or a typing problem), and the Amelogenin
call.  :func:`database_quality` summarises a whole database for ``reunite stats``.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass, field

from reunite.genetics.frequencies import get_population
from reunite.genetics.loci import amelogenin_flag
from reunite.store.profiles import GeneticModel

HOMOZYGOSITY_SIGMAS = 3.0
"""A profile is flagged when its homozygous loci exceed the expected number by more than
this many standard deviations (loci independent; per locus P(homozygous) = sum of p^2)."""


@dataclass
class ProfileQuality:
    """The quality figures of one profile."""

    num_loci: int
    num_homozygous: int
    expected_homozygous: float
    absent_alleles: list[str] = field(default_factory=list)  # "TPOX 13.1"
    flags: list[str] = field(default_factory=list)


class QualityRules:
    """The frequency table's alleles and per-locus homozygosity of a database's model."""

    def __init__(self, model: GeneticModel):
        self.model = model
        population = get_population(model.population)
        self.alleles: dict[str, set[str]] = {}
        self.homozygosity: dict[str, float] = {}
        for locus in model.loci():
            afreq = population.locus(locus).afreq
            self.alleles[locus] = set(afreq)
            total = sum(afreq.values())
            self.homozygosity[locus] = sum((p / total) ** 2 for p in afreq.values()) if total else 0.0

    def check(self, profile: dict[str, tuple[str, str]], *, amelogenin: str | None = None) -> ProfileQuality:
        """The figures and flags of ``profile`` (``{locus: (a, b)}``)."""
        num_homozygous, expected, variance, absent = 0, 0.0, 0.0, []
        alleles, homozygosity = self.alleles, self.homozygosity
        for locus, (a, b) in profile.items():
            h = homozygosity.get(locus, 0.0)
            expected += h
            variance += h * (1 - h)
            num_homozygous += a == b
            known = alleles.get(locus, ())
            if a not in known or b not in known:
                absent += [f"{locus} {x}" for x in sorted({a, b}, key=float) if x not in known]
        absent.sort()
        quality = ProfileQuality(len(profile), num_homozygous, expected, absent)
        minimum = self.model.min_common_loci
        if len(profile) < minimum:
            quality.flags.append(f"typed at {len(profile)} loci, fewer than the database's minimum of "
                                 f"{minimum} common loci: it cannot be compared with anyone")
        if absent:
            quality.flags.append(f"alleles absent from the frequency table {self.model.population}: "
                                 f"{', '.join(absent)} (the rare-allele rule applies; check the calls)")
        if num_homozygous >= 3 and num_homozygous > expected + HOMOZYGOSITY_SIGMAS * math.sqrt(variance):
            quality.flags.append(f"homozygous at {num_homozygous} of {len(profile)} loci (about {expected:.1f} "
                                 "expected): allele dropout, degraded DNA or a typing problem?")
        flag = amelogenin_flag(amelogenin)
        if flag:
            quality.flags.append(flag)
        return quality


def summarise(qualities: dict[str, ProfileQuality], *, amelogenin: dict[str, str | None],
              num_y_profiles: int, model: GeneticModel) -> dict:
    """A JSON summary of many profiles' quality (the import report's, and ``reunite stats``)."""
    loci = [q.num_loci for q in qualities.values()]
    flagged = lambda word: sorted(s for s, q in qualities.items() if any(word in f for f in q.flags))  # noqa: E731
    num_loci = sum(loci)
    return {
        "profiles": len(qualities),
        "loci_typed": ({"min": min(loci), "median": statistics.median(loci), "max": max(loci)} if loci else {}),
        "min_common_loci": model.min_common_loci,
        "too_few_loci": flagged("fewer than the database's minimum"),
        "with_absent_alleles": flagged("absent from the frequency table"),
        "high_homozygosity": flagged("homozygous at"),
        "homozygous_share": (sum(q.num_homozygous for q in qualities.values()) / num_loci) if num_loci else None,
        "expected_homozygous_share": (sum(q.expected_homozygous for q in qualities.values()) / num_loci)
        if num_loci else None,
        "amelogenin": dict(sorted(Counter(a or "not typed" for a in amelogenin.values()).items())),
        "y_profiles": num_y_profiles,
    }


def database_quality(session, model: GeneticModel) -> dict:
    """:func:`summarise` over every active sample of the database."""
    from sqlalchemy import select

    from reunite.store.models import Sample
    from reunite.store.profiles import unpack_profile

    rules = QualityRules(model)
    qualities: dict[str, ProfileQuality] = {}
    amelogenin: dict[str, str | None] = {}
    num_y = 0
    for code, profile, amel, y in session.execute(
            select(Sample.code, Sample.profile, Sample.amelogenin, Sample.y_profile)
            .where(Sample.status == "active")):
        qualities[code] = rules.check(unpack_profile(profile), amelogenin=amel)
        amelogenin[code] = amel
        num_y += bool(y)
    return summarise(qualities, amelogenin=amelogenin, num_y_profiles=num_y, model=model)
