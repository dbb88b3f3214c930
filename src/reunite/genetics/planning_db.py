"""Planning for a database: expected false candidates and the share of true children found,
by family type, against the LR threshold.

For each family type (a pedigree, its typed references and its missing person) families are
simulated: the references' genotypes are gene-dropped from the population through the
pedigree (with the kit's mutation models; seeded).  For each simulated family the exact
per-marker distributions of :mod:`reunite.genetics.planning` give, by simulation,

    P(LR >= t | true child, type)      
    P(LR >= t | unrelated child, type)  (both by importance sampling with tilted
                                         distributions, :mod:`reunite.genetics.planning_is`)

averaged over the simulated families.  For a database of ``n_pairs(type)`` compared
(family, unidentified person) pairs (sex-compatible pairs),

    expected false candidates(t) = sum_types n_pairs(type) * P(LR >= t | unrelated, type)

(every compared pair counted as unrelated: a slight overcount by the true pairs), and the
share of true children found is P(LR >= t | true child, type), by type and weighted by the
number of families of each type.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from reunite.errors import ReuniteError
from reunite.genetics.frequencies import DEFAULT_FLOOR, prepare_afreq
from reunite.genetics.kinship import Marker
from reunite.genetics.pedigree import Pedigree
from reunite.genetics.planning import (
    _check_seed,
    _check_simulations,
    _check_thresholds,
    _draw,
    marker_distributions,
)
from reunite.genetics.planning_is import tilted_exceedance

#: default threshold grid (LR), 10^0 to 10^12
DEFAULT_THRESHOLDS = tuple(10.0 ** k for k in range(0, 13))
#: simulated families per type, and simulated totals per type, by default
DEFAULT_FAMILIES_PER_TYPE = 20
DEFAULT_SIMULATIONS_PER_TYPE = 20_000


@dataclass
class FamilyType:
    """One kind of family of a database: its pedigree, typed references and missing person,
    how many families of the kind the database holds, and how many (family, unidentified)
    pairs the search compares for them (``num_pairs``, e.g. families x sex-compatible
    unidentified persons)."""

    name: str
    pedigree: Pedigree
    missing: str
    references: tuple[str, ...]
    num_families: int = 0
    num_pairs: int = 0


def gene_drop(pedigree: Pedigree, markers: list[Marker], *, num_families: int, typed: tuple[str, ...],
              seed: int, floor: float = DEFAULT_FLOOR) -> list[list[Marker]]:
    """``num_families`` copies of ``markers`` with the ``typed`` people's genotypes drawn by
    gene dropping through ``pedigree`` (founders from the frequencies, each child one allele
    of each parent, changed by that parent's sex-specific mutation matrix).  Seeded."""
    rng = np.random.default_rng(_check_seed(seed))
    people = pedigree.individuals
    out: list[list[Marker]] = [[] for _ in range(num_families)]
    rows = np.arange(num_families)
    for marker in markers:
        alleles, freqs, _ = prepare_afreq(marker.afreq, n_individuals=marker.n_individuals, floor=floor,
                                          where=f"marker {marker.name!r}")
        cdf = np.cumsum(freqs)
        mats = [None, None]
        if marker.mutation is not None:
            mats = [np.cumsum(m.transition_matrix(alleles, freqs), axis=1)
                    for m in (marker.mutation.male, marker.mutation.female)]
        genos = np.empty((num_families, len(people), 2), dtype=np.int64)
        for k, p in enumerate(people):
            if p.is_founder:
                genos[:, k] = _draw(cdf, rng.random((num_families, 2)))
                continue
            for side, parent, mat in ((0, p.father, mats[0]), (1, p.mother, mats[1])):
                a = genos[rows, pedigree.index[parent], rng.integers(2, size=num_families)]
                if mat is not None:
                    u = rng.random(num_families) * mat[a, -1]
                    a = np.minimum((mat[a] < u[:, None]).sum(axis=1), len(alleles) - 1)
                genos[:, k, side] = a
        for f in range(num_families):
            g = {pid: (alleles[genos[f, pedigree.index[pid], 0]], alleles[genos[f, pedigree.index[pid], 1]])
                 for pid in typed}
            out[f].append(Marker(marker.name, marker.afreq, g, marker.mutation, marker.n_individuals, marker.source))
    return out


@dataclass
class TypePower:
    """P(LR >= t) of one family type over the thresholds (averaged over simulated families);
    ``se_*``: standard errors from the spread over the simulated families."""

    name: str
    num_families: int
    num_pairs: int
    p_h1: list[float]
    se_h1: list[float]
    p_h2: list[float]
    se_h2: list[float]
    mean_log10_lr_h1: float
    num_simulated_families: int
    num_simulations: int


def type_power(ftype: FamilyType, *, markers: list[Marker], thresholds, theta: float = 0.0,
               num_simulated_families: int = DEFAULT_FAMILIES_PER_TYPE,
               num_simulations: int = DEFAULT_SIMULATIONS_PER_TYPE, seed: int,
               floor: float = DEFAULT_FLOOR) -> TypePower:
    """:class:`TypePower` of ``ftype`` from ``num_simulated_families`` simulated families and
    ``num_simulations`` simulated totals in all (split evenly among the families)."""
    ts = _check_thresholds(thresholds)
    n = _check_simulations(num_simulations)
    seed = _check_seed(seed)
    if not (isinstance(num_simulated_families, int) and 1 <= num_simulated_families <= 10_000):
        raise ReuniteError(f"num_simulated_families: expected 1 to 10,000, found {num_simulated_families!r}")
    per = max(100, n // num_simulated_families)
    logs = np.log10(np.array(ts))
    families = gene_drop(ftype.pedigree, markers, num_families=num_simulated_families, typed=ftype.references,
                         seed=seed, floor=floor)
    rng = np.random.default_rng([seed, 1])
    p1 = np.zeros((num_simulated_families, len(ts)))
    p2 = np.zeros((num_simulated_families, len(ts)))
    means = np.zeros(num_simulated_families)
    for f, fam in enumerate(families):
        dists = [d for d in marker_distributions(ftype.pedigree, missing=ftype.missing, markers=fam, theta=theta,
                                                 floor=floor, where=f"family type {ftype.name!r}") if d.usable]
        means[f] = math.fsum(d.mean_log10_lr("h1") for d in dists)
        est = tilted_exceedance(dists, logs, num_simulations=per, rng=rng)
        p1[f], p2[f] = est["p_h1"], est["p_h2"]
    k = num_simulated_families

    def se(x):
        return list(x.std(axis=0, ddof=1) / math.sqrt(k)) if k > 1 else [math.nan] * len(ts)

    return TypePower(ftype.name, ftype.num_families, ftype.num_pairs, list(p1.mean(axis=0)), se(p1),
                     list(p2.mean(axis=0)), se(p2), float(means.mean()), k, per * k)


@dataclass
class DatabasePlan:
    """Expected false candidates and share of true children found, per threshold."""

    thresholds: list[float]
    types: list[TypePower]
    expected_false: list[float]
    se_expected_false: list[float]
    share_found: list[float]
    num_families: int
    num_pairs: int
    seed: int
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "thresholds": self.thresholds,
            "log10_thresholds": [math.log10(t) for t in self.thresholds],
            "expected_false_candidates": self.expected_false,
            "se_expected_false_candidates": self.se_expected_false,
            "share_true_found": self.share_found,
            "num_families": self.num_families, "num_pairs": self.num_pairs, "seed": self.seed,
            "family_types": [dict(t.__dict__) for t in self.types],
            "notes": self.notes,
        }


def database_plan(types: list[FamilyType], *, markers: list[Marker], thresholds=DEFAULT_THRESHOLDS,
                  theta: float = 0.0, num_simulated_families: int = DEFAULT_FAMILIES_PER_TYPE,
                  num_simulations: int = DEFAULT_SIMULATIONS_PER_TYPE, seed: int,
                  floor: float = DEFAULT_FLOOR, progress=None) -> DatabasePlan:
    """The database's expected false candidates and share of true children found (see the
    module's docstring).  Each type draws from its own seeded stream (``[seed, k]``), so a
    type's numbers do not depend on the others.  ``progress(done, total)`` after each type.

    Raises
    ------
    ReuniteError
        no family types, a bad threshold, seed or number of simulations.
    """
    ts = sorted(_check_thresholds(thresholds))
    seed = _check_seed(seed)
    if not types:
        raise ReuniteError("types: the database has no families with typed references to plan for; import "
                           "families (or plan for the simulated mix)")
    rows = []
    for k, ftype in enumerate(types):
        sub = int(np.random.SeedSequence([seed, k]).generate_state(1)[0])
        rows.append(type_power(ftype, markers=markers, thresholds=ts, theta=theta,
                               num_simulated_families=num_simulated_families, num_simulations=num_simulations,
                               seed=sub, floor=floor))
        if progress is not None:
            progress(k + 1, len(types))
    expected, se, share = [], [], []
    num_families = sum(t.num_families for t in rows)
    for j in range(len(ts)):
        expected.append(float(sum(t.num_pairs * t.p_h2[j] for t in rows)))
        parts = [t.num_pairs * t.se_h2[j] for t in rows if t.num_pairs]
        # a type simulated from one family has no standard error (NaN): neither has the sum
        se.append(math.nan if any(math.isnan(x) for x in parts) else float(math.sqrt(sum(x * x for x in parts))))
        share.append(float(sum(t.num_families * t.p_h1[j] for t in rows) / num_families) if num_families
                     else math.nan)
    return DatabasePlan(ts, rows, expected, se, share, num_families, sum(t.num_pairs for t in rows), seed)
