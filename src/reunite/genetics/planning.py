"""Planning and validation for one family: what its references can prove.

For a family (pedigree, typed references, a missing person M) and a kit of markers, every
genotype g of M at each marker is enumerated:

    P_H1(g) = L(refs, M = g) / L(refs)          (M is the family's child)
    P_H2(g) = L2(refs, U = g) / L2(refs)        (an unrelated child U: the population
                                                 genotype probability, 2 p_a p_b or p_a^2
                                                 at θ = 0, the Balding-Nichols urn given
                                                 the references' alleles at θ > 0)
    LR(g)   = P_H1(g) / P_H2(g),

the LR that the search gives a child of genotype g (one joint table per marker, as the
search's fast path computes).  From these exact per-marker distributions:

- the exact mean of log10 LR under H1 and under H2, and E_H1[LR] (E_H2[LR] = 1 is a check);
- the probability of exclusion of an unrelated child (forrel's ``exclusionPower``):
  PE = 1 - prod_m sum_{g compatible without mutation} P_H2(g);
- the distribution of the total log10 LR by simulation (markers independent; seeded):
  quantiles, and P(LR >= t) under H1 and H2 with standard errors, by importance sampling with
  exponentially tilted per-marker distributions (:mod:`reunite.genetics.planning_is`), which
  reaches the rare events plain simulation cannot;
- which untyped relatives would add most if they gave a sample (:func:`relative_gains`).

The naive oracle of the tests is the kinship engine itself: :func:`reunite.genetics.kinship.kinship_lr`
with M typed g, and brute-force sums over every genotype combination of a few markers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from reunite.errors import ReuniteError
from reunite.genetics.frequencies import DEFAULT_FLOOR, prepare_afreq
from reunite.genetics.kinship import Marker
from reunite.genetics.likelihood import MarkerData, joint_tables
from reunite.genetics.loci import normalise_allele
from reunite.genetics.pedigree import Individual, Pedigree, make_pedigree

#: the id of the unrelated child placed beside the family under H2 (θ > 0)
UNRELATED_ID = "__unrelated__"
#: the id of a full sibling of the missing person who is not in the pedigree yet
NEW_SIBLING_ID = "__new_full_sibling__"
#: quantiles of log10 LR reported
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
#: the default and largest number of simulated totals
DEFAULT_SIMULATIONS = 100_000
MAX_SIMULATIONS = 10_000_000


@dataclass
class MarkerDistribution:
    """The exact distribution of one marker's LR over the missing person's genotypes.

    ``genotypes``: (G, 2) allele indices into ``alleles`` (a <= b); ``p_h1``, ``p_h2``, ``lr``:
    (G,); ``compatible``: (G,) bool, whether g is possible under H1 without mutation.
    ``exclusion``: P_H2(g incompatible), NaN when the references alone need a mutation at
    this marker (``note`` says why).  A marker whose references are impossible even with
    mutation has ``usable`` False and is left out of the totals (with its ``note``).
    """

    name: str
    alleles: list[str]
    genotypes: np.ndarray
    p_h1: np.ndarray
    p_h2: np.ndarray
    lr: np.ndarray
    compatible: np.ndarray
    exclusion: float
    usable: bool = True
    note: str = ""
    frequency_notes: list[str] = field(default_factory=list)

    @property
    def log10_lr(self) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log10(self.lr)

    def mean_log10_lr(self, hypothesis: str = "h1") -> float:
        """E[log10 LR] under ``h1`` (the true child) or ``h2`` (an unrelated child); -inf
        under H2 when an unrelated child can be excluded (LR 0) at this marker."""
        p = _probabilities(self, hypothesis)
        on = p > 0
        if not on.any():
            return math.nan
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.sum(p[on] * self.log10_lr[on]))

    def expected_lr(self, hypothesis: str = "h1") -> float:
        """E[LR] under ``h1`` (sum p1^2/p2) or ``h2`` (sum p1 over g with p2 > 0: 1, a check)."""
        p = _probabilities(self, hypothesis)
        on = p > 0
        return float(np.sum(p[on] * self.lr[on]))

    def genotype_label(self, k: int) -> str:
        a, b = self.genotypes[k]
        return f"{self.alleles[a]}/{self.alleles[b]}"


def _probabilities(d: MarkerDistribution, hypothesis: str) -> np.ndarray:
    if hypothesis not in ("h1", "h2"):
        raise ReuniteError(f"hypothesis: expected 'h1' (true child) or 'h2' (unrelated), found {hypothesis!r}")
    return d.p_h1 if hypothesis == "h1" else d.p_h2


# ----------------------------------------------------------------------------------------
# preparing markers and jobs


@dataclass
class _Table:
    name: str
    alleles: list[str]
    freqs: np.ndarray
    male: np.ndarray | None
    female: np.ndarray | None
    index: dict[str, int]
    notes: list[str]


def _parse(g, *, where: str) -> tuple[str, str]:
    parts = g.replace(",", "/").split("/") if isinstance(g, str) else g
    if not isinstance(parts, (list, tuple)) or len(parts) != 2:
        raise ReuniteError(f"{where}: genotype must be two alleles such as '12/14', found {g!r}")
    return normalise_allele(parts[0]), normalise_allele(parts[1])


def _table(marker: Marker, genotypes: dict, *, floor: float, where: str) -> _Table:
    """The marker's alleles and frequencies with the references' rare alleles added (the
    kinship engine's rule: 5/2N or the floor, renormalised) and its mutation matrices."""
    afreq = {normalise_allele(a): f for a, f in marker.afreq.items()}
    alleles, freqs, notes = prepare_afreq(afreq, n_individuals=marker.n_individuals, floor=floor,
                                          where=f"{where}, marker {marker.name!r}")
    seen = sorted({a for g in genotypes.values() for a in g if a not in set(alleles)})
    if seen:
        alleles, freqs, more = prepare_afreq(dict(zip(alleles, freqs)), observed=seen,
                                             n_individuals=marker.n_individuals, floor=floor, normalise=True,
                                             where=f"{where}, marker {marker.name!r}")
        notes = notes + more
    male = female = None
    if marker.mutation is not None:
        mats = []
        for model in (marker.mutation.male, marker.mutation.female):
            if model.model != "custom" and model.rate == 0.0 and model.rate2 == 0.0:
                mats.append(None)
            else:
                mats.append(model.transition_matrix(alleles, freqs))
        male, female = mats
    return _Table(marker.name, alleles, np.asarray(freqs, dtype=float), male, female,
                  {a: k for k, a in enumerate(alleles)}, notes)


def _genotypes_of(marker: Marker, pedigree: Pedigree, *, missing: str, where: str) -> dict:
    out = {}
    for pid, g in marker.genotypes.items():
        if pid not in pedigree:
            raise ReuniteError(f"{where}, marker {marker.name!r}: person {pid!r} is typed but is not in the "
                               "pedigree; add them to the pedigree or remove the genotype")
        if pid == missing:
            raise ReuniteError(f"{where}, marker {marker.name!r}: the missing person {missing!r} is typed; "
                               "planning asks what the references alone can prove, so leave M untyped")
        out[pid] = _parse(g, where=f"{where}, marker {marker.name!r}, person {pid!r}")
    return out


def _with_unrelated(pedigree: Pedigree, missing: str) -> Pedigree:
    """H2: the family's pedigree and an unrelated person of M's sex beside it."""
    return make_pedigree(list(pedigree.individuals) + [Individual(UNRELATED_ID, None, None,
                                                                  pedigree[missing].sex)])


def _check(pedigree: Pedigree, missing: str, theta: float, *, where: str) -> None:
    if not isinstance(pedigree, Pedigree):
        raise ReuniteError(f"{where}: pedigree must be a Pedigree (make_pedigree), found {type(pedigree).__name__}")
    if missing not in pedigree:
        raise ReuniteError(f"{where}: the missing person {missing!r} is not in the pedigree "
                           f"(its people: {', '.join(pedigree.ids)})")
    if not (isinstance(theta, (int, float)) and 0.0 <= theta < 1.0):
        raise ReuniteError(f"{where}: theta must be in [0, 1), found {theta!r}")


def _genotype_probs(table: np.ndarray, iu) -> tuple[np.ndarray, float]:
    """Unordered genotype probabilities from an ordered joint table, and the table's sum."""
    total = float(table.sum())
    sym = table + table.T
    idx = np.arange(len(table))
    sym[idx, idx] = table[idx, idx]
    if total <= 0.0:
        return np.full(len(iu[0]), math.nan), total
    return sym[iu] / total, total


def _hwe(freqs: np.ndarray, iu) -> np.ndarray:
    a, b = iu
    return np.where(a == b, freqs[a] * freqs[a], 2.0 * freqs[a] * freqs[b])


def marker_distributions(pedigree: Pedigree, *, missing: str, markers: list[Marker], theta: float = 0.0,
                         floor: float = DEFAULT_FLOOR, where: str = "family") -> list[MarkerDistribution]:
    """The exact per-marker distributions of M's genotype and LR (see the module's docstring).

    ``markers``: the kit, each with the references' genotypes (person id -> (a, b)) and its
    frequencies and mutation model.  Genotypes of probability 0 under both hypotheses are
    left out of the arrays (they cannot occur).

    Raises
    ------
    ReuniteError
        M not in the pedigree or typed, a typed person outside the pedigree, theta outside
        [0, 1), a malformed frequency table.
    """
    _check(pedigree, missing, theta, where=where)
    return _distributions(pedigree, missing, markers, theta=float(theta), floor=floor, where=where)


def _distributions(pedigree, missing, markers, *, theta, floor, where, extra=None):
    """``extra``: per marker, (person id, allele pair) added to the references (relatives)."""
    structure = pedigree.structure_key()
    index = pedigree.index
    h2 = _with_unrelated(pedigree, missing) if theta > 0 else None
    jobs, plan = [], []
    for k, marker in enumerate(markers):
        genos = _genotypes_of(marker, pedigree, missing=missing, where=where)
        table = _table(marker, genos, floor=floor, where=where)
        refs = {index[pid]: (table.index[a], table.index[b]) for pid, (a, b) in genos.items()}
        entries = [refs] if extra is None else [{**refs, index[pid]: pair} for pid, pair in extra[k]]
        mutation = table.male is not None or table.female is not None
        for refs_k in entries:
            j1 = len(jobs)
            jobs.append((structure, MarkerData(table.freqs, table.male, table.female, refs_k, theta), index[missing]))
            j0 = j1  # without mutation (exclusion): the same job when there is no mutation model
            if mutation and extra is None:  # a relative's genotypes (extra) need no exclusion
                j0 = len(jobs)
                jobs.append((structure, MarkerData(table.freqs, None, None, refs_k, theta), index[missing]))
            j2 = None
            if h2 is not None:
                j2 = len(jobs)
                refs2 = {h2.index[pedigree.ids[i]]: pair for i, pair in refs_k.items()}
                jobs.append((h2.structure_key(), MarkerData(table.freqs, table.male, table.female, refs2, theta),
                             h2.index[UNRELATED_ID]))
            plan.append((table, j1, j0, j2))
    tables = joint_tables(jobs) if jobs else []
    out = []
    for table, j1, j0, j2 in plan:
        n = len(table.alleles)
        iu = np.triu_indices(n)
        p1, total = _genotype_probs(tables[j1], iu)
        p0, total0 = _genotype_probs(tables[j0], iu)
        p2 = _genotype_probs(tables[j2], iu)[0] if j2 is not None else _hwe(table.freqs, iu)
        genotypes = np.stack(iu, axis=1)
        note, usable = "", True
        if not total > 0.0:
            usable = False
            note = ("the references' genotypes are impossible on this pedigree even with mutation: "
                    "check the typing and the pedigree; the marker is left out of the totals")
            p1 = np.zeros_like(p2)
        keep = (p1 > 0) | (p2 > 0)
        genotypes, p1, p2 = genotypes[keep], p1[keep], p2[keep]
        compatible = (p0[keep] > 0) if total0 > 0 else np.zeros(len(p2), dtype=bool)
        with np.errstate(divide="ignore", invalid="ignore"):
            lr = np.where(p2 > 0, p1 / np.where(p2 > 0, p2, 1.0), np.inf)
        if not usable:
            exclusion = math.nan
        elif not total0 > 0.0:
            exclusion = math.nan
            note = ("the references alone need a mutation at this marker, so an unrelated child cannot be "
                    "excluded here without one: probability of exclusion undefined (NaN), left out of the "
                    "combined exclusion")
        else:
            exclusion = float(np.sum(p2[~compatible]))
        out.append(MarkerDistribution(table.name, table.alleles, genotypes, p1, p2, lr, compatible,
                                      exclusion, usable, note, table.notes))
    return out


# ----------------------------------------------------------------------------------------
# exact summaries


def exclusion_power(distributions: list[MarkerDistribution]) -> float:
    """P(an unrelated child is incompatible with the pedigree without mutation at some marker)
    = 1 - prod_m (1 - PE_m), over the markers where PE_m is defined (forrel's
    ``exclusionPower`` with the population as the alternative)."""
    keep = [d.exclusion for d in distributions if d.usable and not math.isnan(d.exclusion)]
    return float(1.0 - math.prod(1.0 - pe for pe in keep))


def mean_log10_lr(distributions: list[MarkerDistribution], hypothesis: str = "h1") -> float:
    """Exact E[log10 LR] of the total (the sum of the markers' means)."""
    return float(math.fsum(d.mean_log10_lr(hypothesis) for d in distributions if d.usable))


# ----------------------------------------------------------------------------------------
# simulation


def _check_simulations(num_simulations) -> int:
    if isinstance(num_simulations, bool) or not isinstance(num_simulations, (int, np.integer)) \
            or not 100 <= num_simulations <= MAX_SIMULATIONS:
        raise ReuniteError(f"num_simulations: expected a whole number from 100 to {MAX_SIMULATIONS:,}, "
                           f"found {num_simulations!r}")
    return int(num_simulations)


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ReuniteError(f"seed: expected a whole number >= 0, found {seed!r}")
    return int(seed)


def _draw(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    return np.minimum(np.searchsorted(cdf, u * cdf[-1], side="right"), len(cdf) - 1)


def simulate_log10_lr(distributions: list[MarkerDistribution], *, hypothesis: str = "h1",
                      num_simulations: int = DEFAULT_SIMULATIONS, seed: int) -> np.ndarray:
    """``num_simulations`` totals log10 LR of children drawn under ``hypothesis`` (``h1``:
    the true child, ``h2``: an unrelated child), markers drawn independently from their exact
    distributions.  Seeded: the same seed gives the same draws."""
    n = _check_simulations(num_simulations)
    rng = np.random.default_rng(_check_seed(seed))
    total = np.zeros(n)
    for d in distributions:
        if not d.usable:
            continue
        p = _probabilities(d, hypothesis)
        k = _draw(np.cumsum(p), rng.random(n))
        with np.errstate(invalid="ignore"):
            total += d.log10_lr[k]
    return total


def exceedance(log10_h1: np.ndarray, log10_threshold: float, *, log10_h2: np.ndarray | None = None) -> dict:
    """P(LR >= t) from simulated totals: ``p_h1`` (plain Monte Carlo under H1, with ``se_h1``),
    ``p_h2`` by importance sampling from the H1 draws (E_H1[1{LR >= t} 10^-log10 LR], with
    ``se_h2``) and, given ``log10_h2`` (draws under H2), ``p_h2_plain`` (plain Monte Carlo).

    Importance sampling from H1 alone is good only for thresholds within the true child's
    LRs; :func:`family_power` uses the tilted sampler, which is good for every threshold."""
    n = len(log10_h1)
    hit = log10_h1 >= log10_threshold
    p1 = float(hit.mean())
    with np.errstate(over="ignore"):
        w = np.where(hit, 10.0 ** -np.where(hit, log10_h1, 0.0), 0.0)
    p2 = float(w.mean())
    out = {"log10_threshold": float(log10_threshold), "p_h1": p1, "se_h1": math.sqrt(p1 * (1 - p1) / n),
           "p_h2": p2, "se_h2": float(w.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan}
    if log10_h2 is not None:
        out["p_h2_plain"] = float(np.mean(log10_h2 >= log10_threshold))
    return out


def quantiles(values: np.ndarray, probs=QUANTILES) -> dict[str, float]:
    """Quantiles of simulated log10 LRs (``inverted_cdf``: -inf stays -inf)."""
    q = np.quantile(values, probs, method="inverted_cdf")
    return {f"{p:g}": float(x) for p, x in zip(probs, q)}


@dataclass
class FamilyPower:
    """What :func:`family_power` finds for one family (see the module's docstring)."""

    markers: list[MarkerDistribution]
    mean_log10_lr_h1: float
    mean_log10_lr_h2: float
    exclusion_power: float
    thresholds: list[dict]
    quantiles_h1: dict[str, float]
    quantiles_h2: dict[str, float]
    num_simulations: int
    seed: int
    notes: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        from reunite.genetics.kinship import json_number

        def clean(v):
            return json_number(v) if isinstance(v, float) else v

        return {
            "mean_log10_lr_h1": clean(self.mean_log10_lr_h1), "mean_log10_lr_h2": clean(self.mean_log10_lr_h2),
            "exclusion_power": clean(self.exclusion_power),
            "thresholds": [{k: clean(v) for k, v in t.items()} for t in self.thresholds],
            "quantiles_log10_lr_h1": {k: clean(v) for k, v in self.quantiles_h1.items()},
            "quantiles_log10_lr_h2": {k: clean(v) for k, v in self.quantiles_h2.items()},
            "per_marker": [{"marker": d.name, "mean_log10_lr_h1": clean(d.mean_log10_lr("h1")),
                            "mean_log10_lr_h2": clean(d.mean_log10_lr("h2")),
                            "exclusion": clean(d.exclusion), "usable": d.usable, "note": d.note}
                           for d in self.markers],
            "num_simulations": self.num_simulations, "seed": self.seed, "notes": self.notes,
        }


def _check_thresholds(thresholds) -> list[float]:
    values = [thresholds] if isinstance(thresholds, (int, float)) else list(thresholds)
    out = []
    for t in values:
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not (t > 0 and math.isfinite(t)):
            raise ReuniteError(f"threshold: expected an LR > 0 (e.g. 10000), found {t!r}")
        out.append(float(t))
    if not out:
        raise ReuniteError("threshold: expected at least one LR threshold (e.g. 10000)")
    return out


def family_power(distributions: list[MarkerDistribution], *, thresholds=(10_000.0,),
                 num_simulations: int = DEFAULT_SIMULATIONS, seed: int) -> FamilyPower:
    """Exact means and exclusion; P(LR >= t) for the true and an unrelated child at every
    threshold by importance sampling with tilted distributions
    (:func:`reunite.genetics.planning_is.tilted_exceedance`: reaches rare events, and equals
    plain simulation where that is enough); quantiles of log10 LR from plain draws under H1
    and under H2 (a quarter of the simulations each when tilts are needed, else half)."""
    from reunite.genetics.planning_is import tilted_exceedance

    ts = _check_thresholds(thresholds)
    seed = _check_seed(seed)
    n = _check_simulations(num_simulations)
    est = tilted_exceedance(distributions, [math.log10(t) for t in ts], num_simulations=n,
                            rng=np.random.default_rng(seed))
    rows = []
    for j, t in enumerate(ts):
        rows.append({"threshold": t, "log10_threshold": math.log10(t),
                     "p_h1": est["p_h1"][j], "se_h1": est["se_h1"][j],
                     "p_h2": est["p_h2"][j], "se_h2": est["se_h2"][j], "tilt": est["tilt"][j],
                     "p_h1_plain": float(np.mean(est["h1"] >= math.log10(t))),
                     "p_h2_plain": float(np.mean(est["h2"] >= math.log10(t)))})
    notes = {d.name: d.note for d in distributions if d.note}
    return FamilyPower(distributions, mean_log10_lr(distributions, "h1"), mean_log10_lr(distributions, "h2"),
                       exclusion_power(distributions), rows, quantiles(est["h1"]), quantiles(est["h2"]), n, seed,
                       notes)


# ----------------------------------------------------------------------------------------
# which relatives would add most


def relation_to(pedigree: Pedigree, person: str, missing: str) -> str:
    """A short name of ``person``'s relation to the missing person (``father``, ``full
    sibling``, ``paternal grandfather`` ...; ``relative`` when none of these)."""
    ped = pedigree
    m = ped[missing]
    p = ped[person]
    if person == m.father:
        return "father"
    if person == m.mother:
        return "mother"
    if missing in (p.father, p.mother):
        return "child"
    if p.father is not None and (p.father, p.mother) == (m.father, m.mother):
        return "full sibling"
    if p.father is not None and (p.father == m.father or p.mother == m.mother):
        return "half sibling"
    for side, parent in (("paternal", m.father), ("maternal", m.mother)):
        if parent is None:
            continue
        pp = ped[parent]
        if person == pp.father:
            return f"{side} grandfather"
        if person == pp.mother:
            return f"{side} grandmother"
        if p.father is not None and (p.father, p.mother) == (pp.father, pp.mother):
            return f"{side} uncle/aunt"
    return "relative"


def candidate_relatives(pedigree: Pedigree, *, missing: str, typed: set[str]) -> list[tuple[str, str, bool]]:
    """``(person, relation, hypothetical)``: every untyped person of the pedigree other than
    the missing person, and a further full sibling of M (not in the pedigree) when M has both
    parents and not both are typed."""
    out = [(pid, relation_to(pedigree, pid, missing), False) for pid in pedigree.ids
           if pid != missing and pid not in typed]
    m = pedigree[missing]
    if m.father is not None and not {m.father, m.mother} <= typed:
        out.append((NEW_SIBLING_ID, "a further full sibling", True))
    return out


@dataclass
class RelativeGain:
    """What typing one more relative would give (averaged over their genotype given the
    references, under H1)."""

    person: str
    relation: str
    hypothetical: bool  # not in the pedigree yet (e.g. a further full sibling)
    mean_log10_lr_h1: float  # E[log10 LR] for the true child with the relative typed (exact)
    gain_mean_log10_lr: float
    p_h1: float  # P(LR >= t | true child) with the relative typed (simulation)
    gain_p_h1: float
    se_p_h1: float = 0.0

    def to_json(self) -> dict:
        return dict(self.__dict__)


def _relative_terms(pedigree, missing, markers, person, *, theta, floor, where, genotypes_per_marker=None,
                    rng=None):
    """Per marker: the relative's genotype probabilities given the references (q, (R,)), and
    for each of its genotypes the M distributions given refs and the relative.  With
    ``genotypes_per_marker`` K, a marker with more possible genotypes than K is represented
    by K genotypes drawn from q (weights: their share of the K draws)."""
    structure = pedigree.structure_key()
    jobs, tables = [], []
    for marker in markers:
        genos = _genotypes_of(marker, pedigree, missing=missing, where=where)
        table = _table(marker, genos, floor=floor, where=where)
        refs = {pedigree.index[pid]: (table.index[a], table.index[b]) for pid, (a, b) in genos.items()}
        jobs.append((structure, MarkerData(table.freqs, table.male, table.female, refs, theta),
                     pedigree.index[person]))
        tables.append(table)
    q_tables = joint_tables(jobs)
    extra, qs = [], []
    for table, t in zip(tables, q_tables):
        iu = np.triu_indices(len(table.alleles))
        q, total = _genotype_probs(t, iu)
        if not total > 0:
            q = np.zeros(len(iu[0]))
        on = np.flatnonzero(q > 0)
        weights = q[on]
        if genotypes_per_marker and len(on) > genotypes_per_marker:
            drawn = on[_draw(np.cumsum(weights), rng.random(genotypes_per_marker))]
            on, counts = np.unique(drawn, return_counts=True)
            weights = counts / genotypes_per_marker
        qs.append(weights)
        extra.append([(person, (int(iu[0][k]), int(iu[1][k]))) for k in on])
    dists = _distributions(pedigree, missing, markers, theta=theta, floor=floor, where=where, extra=extra)
    out, start = [], 0
    for q, e in zip(qs, extra):
        out.append((q, dists[start:start + len(e)]))
        start += len(e)
    return out


def relative_gains(pedigree: Pedigree, *, missing: str, markers: list[Marker], threshold: float = 10_000.0,
                   theta: float = 0.0, num_simulations: int = 20_000, seed: int, floor: float = DEFAULT_FLOOR,
                   relatives: list[tuple[str, str, bool]] | None = None, baseline: FamilyPower | None = None,
                   where: str = "family", progress=None, genotypes_per_marker: int | None = None) -> list[RelativeGain]:
    """Rank the untyped relatives (:func:`candidate_relatives`, or ``relatives``) by the gain
    in E[log10 LR] for the true child if they gave a sample.

    For relative R, per marker, every genotype r of R with P(r | refs) > 0 is enumerated:
    E[log10 LR | R typed] = sum_m sum_r P(r | refs) E_H1[log10 LR_m | refs, R = r] (exact);
    P(LR >= t) with R typed is simulated from the exact joint distribution of (r, g), seeded.
    ``genotypes_per_marker`` K (for pages that must answer quickly): a marker with more than K
    possible genotypes of R is averaged over K genotypes drawn from P(r | refs) instead (a
    seeded Monte Carlo estimate of the same mean).  ``progress(done, total)`` is called after
    each relative.
    """
    _check(pedigree, missing, theta, where=where)
    [t] = _check_thresholds(threshold)
    n = _check_simulations(num_simulations)
    seed = _check_seed(seed)
    typed = {pid for m in markers for pid in m.genotypes}
    if relatives is None:
        relatives = candidate_relatives(pedigree, missing=missing, typed=typed)
    if baseline is None:
        base_dists = marker_distributions(pedigree, missing=missing, markers=markers, theta=theta, floor=floor,
                                          where=where)
        baseline = family_power(base_dists, thresholds=[t], num_simulations=n, seed=seed)
    base_p1 = baseline.thresholds[0]["p_h1"] if baseline.thresholds else math.nan
    out = []
    for k, (person, relation, hypothetical) in enumerate(relatives):
        ped = pedigree
        if hypothetical:
            m = pedigree[missing]
            ped = make_pedigree(list(pedigree.individuals) + [Individual(person, m.father, m.mother, "U")])
        rng = np.random.default_rng([seed, k])
        terms = _relative_terms(ped, missing, markers, person, theta=float(theta), floor=floor, where=where,
                                genotypes_per_marker=genotypes_per_marker, rng=rng)
        mean = 0.0
        total = np.zeros(n)
        for q, dists in terms:
            if not len(dists) or not all(d.usable for d in dists):
                continue
            mean += float(sum(qr * d.mean_log10_lr("h1") for qr, d in zip(q, dists)))
            # the joint (r, g) distribution, flattened
            probs = np.concatenate([qr * d.p_h1 for qr, d in zip(q, dists)])
            logs = np.concatenate([d.log10_lr for d in dists])
            total += logs[_draw(np.cumsum(probs), rng.random(n))]
        row = exceedance(total, math.log10(t))
        out.append(RelativeGain(person, relation, hypothetical, mean, mean - baseline.mean_log10_lr_h1,
                                row["p_h1"], row["p_h1"] - base_p1, row["se_h1"]))
        if progress is not None:
            progress(k + 1, len(relatives))
    out.sort(key=lambda g: (-g.gain_mean_log10_lr, g.person))
    return out
