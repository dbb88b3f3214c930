"""Exact kinship search of unidentified persons against families.

For an unidentified person U and a family F with missing person M,

    LR = P(F's references, U | U is M) / P(F's references, U | U unrelated to F),

computed per locus with the database's genetic model, exactly as :func:`kinship_lr` computes
it for F's pedigree with U placed as M against U as an unrelated founder.

With θ = 0 the denominator is P(references) P(U), so for every family, missing person and
locus one elimination gives the joint table T[x, y] = P(references, M = x/y ordered), and
every unidentified person is scored by a lookup:

    LR_locus(U = x/y) = (T[x, y] + T[y, x]) / (ΣT · 2 p_x p_y),   (T[x, x] / (ΣT · p_x²) if x = y).

With few queries (θ = 0) the batched engine computes P(references, M = U) per family and
locus, and P(references) once.  Pairs that need more (θ > 0, or an allele of U that the table
lacks) are computed with the kinship engine pair by pair.  The same passes without mutation
give the loci that are inconsistent without mutation.

:func:`search` is the engine's search (and every path of it equals :func:`brute_force_search`);
:func:`index_search` searches unidentified persons against a
:class:`~reunite.search.index.FamilyIndex` (θ = 0), the national-scale path.
"""

from __future__ import annotations

import heapq
import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from functools import partial

import numpy as np

from reunite.errors import ReuniteError
from reunite.genetics.frequencies import prepare_afreq
from reunite.genetics.kinship import LUMPABLE, Marker, kinship_lr_many
from reunite.genetics.likelihood import MarkerData, joint_tables, likelihoods_many
from reunite.genetics.pedigree import Individual, Pedigree, make_pedigree
from reunite.search.index import NO_DATE  # a date not known, as a day number
from reunite.store.profiles import GeneticModel


@dataclass
class FamilyRecord:
    """A family as the search sees it: pedigree, missing persons, references' profiles, and
    what is known of each missing person's dates: ``dates[m] = (birth_date, missing_date)``
    (either None when unknown; a missing person absent from ``dates`` has none)."""

    id: int
    code: str
    pedigree: Pedigree
    missing: list[str]
    references: dict[str, dict[str, tuple[str, str]]]  # person code -> profile
    dates: dict[str, tuple[date | None, date | None]] = field(default_factory=dict)


@dataclass
class UnidentifiedRecord:
    id: int
    code: str
    sex: str
    profile: dict[str, tuple[str, str]]
    estimated_birth_date: date | None = None
    found_date: date | None = None


@dataclass
class Candidate:
    """A ranked pair; ``flags``: the unidentified person's identity flags (dicts, see
    :func:`reunite.search.identity.flag_dict`), to be read before the LR."""

    unidentified: UnidentifiedRecord
    family: FamilyRecord
    missing: str
    lr: float
    log10_lr: float
    loci_compared: int
    lr_per_locus: dict[str, float] = field(default_factory=dict)
    inconsistent_loci: list[str] = field(default_factory=list)
    rank: int = 0
    flags: list[dict] = field(default_factory=list)


@dataclass
class SearchResult:
    candidates: list[Candidate]
    num_pairs: int = 0
    num_compared: int = 0
    skipped_sex: int = 0
    skipped_age: int = 0
    skipped_loci: int = 0
    skipped_pairs: list[tuple[str, str, str, str]] = field(default_factory=list)  # (u, f, m, reason)
    age_tolerance: float = 0.0  # years (the age filter's tolerance this search used)


# ----------------------------------------------------------------------------------------
# The age filter

#: Default tolerance of the age filter, in years (``reunite search --age-tolerance``).
DEFAULT_AGE_TOLERANCE = 3.0

_EPOCH = date(1970, 1, 1).toordinal()


def day_number(d: date | None) -> int:
    """Days since 1970-01-01 (``NO_DATE`` for None)."""
    return NO_DATE if d is None else d.toordinal() - _EPOCH


def tolerance_days(years: float) -> int:
    """The age filter's tolerance in whole days: ``round(years * 365.25)`` (3 years: 1,096).
    Tolerances over 10,000 years (wider than any two dates are apart, so excluding nothing)
    count as 10,000 years: the day numbers stay within 64-bit integers.

    Raises
    ------
    ReuniteError
        If ``years`` is negative or not finite.
    """
    if not (isinstance(years, (int, float)) and math.isfinite(years) and years >= 0):
        raise ReuniteError(f"--age-tolerance: expected a number of years >= 0, found {years!r}")
    return int(round(min(years, 10_000) * 365.25))


def age_conflicts(u_birth, u_found, m_birth, m_missing, tol: int):
    """Whether U (estimated birth, found) cannot be M (birth, missing date), on day numbers
    (arrays broadcast; ``NO_DATE`` never excludes):

    - |U's estimated birth − M's birth| > tol;
    - U found before M was born;
    - U's estimated birth more than tol after M went missing (M was born by then).
    """
    ub, uf = np.asarray(u_birth, dtype=np.int64), np.asarray(u_found, dtype=np.int64)
    mb, mm = np.asarray(m_birth, dtype=np.int64), np.asarray(m_missing, dtype=np.int64)
    kb, kf, kmb, kmm = ub != NO_DATE, uf != NO_DATE, mb != NO_DATE, mm != NO_DATE
    return ((kb & kmb & (np.abs(ub - mb) > tol)) | (kf & kmb & (uf < mb))
            | (kb & kmm & (ub > mm + tol)))


def age_reason(u: UnidentifiedRecord, f: FamilyRecord, m: str, tol: int) -> str:
    """Why a pair was left out by the age filter (the first rule that excludes it)."""
    birth, missing = f.dates.get(m, (None, None))
    return _age_reason(u, birth, missing, tol)


def _day_date(day) -> date | None:
    """The date of a day number (None for ``NO_DATE``)."""
    day = int(day)
    return None if day == NO_DATE else date.fromordinal(day + _EPOCH)


def _age_reason(u: UnidentifiedRecord, birth: date | None, missing: date | None, tol: int) -> str:
    ub, mb = u.estimated_birth_date, birth
    if ub is not None and mb is not None and abs(day_number(ub) - day_number(mb)) > tol:
        return (f"dates: estimated birth {ub.isoformat()} and the missing person's birth {mb.isoformat()} "
                f"are more than {tol} days apart")
    if u.found_date is not None and mb is not None and u.found_date < mb:
        return f"dates: found {u.found_date.isoformat()}, before the missing person's birth {mb.isoformat()}"
    return (f"dates: estimated birth {ub.isoformat()} more than {tol} days after the missing person went "
            f"missing ({missing.isoformat()})")


def _u_days(u: UnidentifiedRecord) -> tuple[int, int]:
    return day_number(u.estimated_birth_date), day_number(u.found_date)


def _m_days(f: FamilyRecord, m: str) -> tuple[int, int]:
    birth, missing = f.dates.get(m, (None, None))
    return day_number(birth), day_number(missing)


def _common_loci(u: UnidentifiedRecord, f: FamilyRecord) -> int:
    typed = set()
    for prof in f.references.values():
        typed.update(prof)
    return len(typed & set(u.profile))


def _pair_pedigrees(f: FamilyRecord, missing: str, u_id: str):
    """H1: F's pedigree with U in M's place; H2: F's pedigree and U as an unrelated founder."""
    people = f.pedigree.individuals
    h1 = [Individual(u_id if p.id == missing else p.id,
                     u_id if p.father == missing else p.father,
                     u_id if p.mother == missing else p.mother, p.sex, p.inbreeding) for p in people]
    sex_m = f.pedigree[missing].sex
    h2 = list(people) + [Individual(u_id, None, None, sex_m)]
    return make_pedigree(h1), make_pedigree(h2)


def pair_markers(u: UnidentifiedRecord, f: FamilyRecord, u_id: str, model: GeneticModel) -> list[Marker]:
    """The markers of one pair: every locus typed in U (loci typed only in the references
    give LR 1 and are left out)."""
    markers = []
    for locus, g in u.profile.items():
        genos = {pid: prof[locus] for pid, prof in f.references.items() if locus in prof}
        genos[u_id] = g
        markers.append(model.marker(locus, genos))
    return markers


U_ID = "__unidentified__"

#: Fewest unidentified persons (θ = 0, no rare alleles) for which the joint-table pass is used.
TABLES_MIN_QUERIES = 8


def exact_pairs(pairs: list[tuple[UnidentifiedRecord, FamilyRecord, str]], *, model: GeneticModel,
                mutation: bool = True):
    """Kinship-engine results for (U, F, missing) pairs (the reference computation)."""
    cases = []
    for u, f, m in pairs:
        h1, h2 = _pair_pedigrees(f, m, U_ID)
        markers = pair_markers(u, f, U_ID, model)
        if not mutation:
            markers = [Marker(mk.name, mk.afreq, mk.genotypes, None, mk.n_individuals, mk.source)
                       for mk in markers]
        cases.append((f"{u.code}|{f.code}|{m}", h1, h2, markers, model.theta))
    return kinship_lr_many(cases)


def brute_force_search(unidentified, families, *, model: GeneticModel,
                       age_tolerance: float = DEFAULT_AGE_TOLERANCE) -> dict[tuple[int, int, str], float]:
    """log10 LR of every compared pair by the kinship engine, pair by pair (the naive search)."""
    pairs = []
    tol = tolerance_days(age_tolerance)
    for u in unidentified:
        for f in families:
            for m in f.missing:
                if _eligible(u, f, m, model, tol=tol) is None:
                    pairs.append((u, f, m))
    out = {}
    for (u, f, m), r in zip(pairs, exact_pairs(pairs, model=model)):
        out[(u.id, f.id, m)] = r.log10_lr_total
    return out


def _eligible(u: UnidentifiedRecord, f: FamilyRecord, m: str, model: GeneticModel, *, tol: int) -> str | None:
    """Why a pair is not compared ("sex", "age", "loci", checked in that order), or None."""
    sex_m = f.pedigree[m].sex
    if u.sex in ("M", "F") and sex_m in ("M", "F") and u.sex != sex_m:
        return "sex"
    if bool(age_conflicts(*_u_days(u), *_m_days(f, m), tol)):
        return "age"
    if _common_loci(u, f) < model.min_common_loci:
        return "loci"
    return None


class _Reversed:
    """Wraps a tuple so that it compares in reverse order (for the top-k heap)."""

    __slots__ = ("key",)

    def __init__(self, key):
        self.key = key

    def __lt__(self, other):
        return self.key > other.key

    def __gt__(self, other):
        return self.key < other.key

    def __eq__(self, other):
        return self.key == other.key


class _LocusTables:
    """Per locus: the population table, its allele index, and the mutation model."""

    def __init__(self, model: GeneticModel, loci):
        self.model = model
        self._cache: dict[tuple, tuple] = {}
        self.base = {}
        for locus in loci:
            marker = model.marker(locus)
            alleles, freqs, _ = prepare_afreq(marker.afreq, n_individuals=marker.n_individuals,
                                              where=f"locus {locus}")
            self.base[locus] = (marker, alleles, freqs, {a: k for k, a in enumerate(alleles)})

    def family_table(self, locus: str, extra: list[str]):
        """Alleles, frequencies and matrices with the family's rare alleles added (engine rule)."""
        key = (locus, tuple(extra))
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = self._family_table(locus, extra)
        return hit

    def family_index(self, locus: str, extra: list[str]) -> dict[str, int]:
        key = ("index", locus, tuple(extra))
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = {a: k for k, a in enumerate(self.family_table(locus, extra)[0])}
        return hit

    def _family_table(self, locus: str, extra: list[str]):
        marker, alleles, freqs, index = self.base[locus]
        if extra:
            alleles, freqs, _ = prepare_afreq(dict(zip(alleles, freqs)), observed=extra,
                                              n_individuals=marker.n_individuals, where=f"locus {locus}")
        male = female = None
        if marker.mutation is not None:
            male = marker.mutation.male.transition_matrix(alleles, freqs)
            female = marker.mutation.female.transition_matrix(alleles, freqs)
        return alleles, np.asarray(freqs), male, female


def _score_chunk(task, *, loci, tables: "_LocusTables", ux, uy, typed, min_log):
    """Joint tables for a chunk of (family, missing) pairs, then every unidentified person
    by lookup.  Returns (person row, pair in chunk, log10 LR, (lr per locus, inconsistent))
    for the eligible pairs with log10 LR >= ``min_log``."""
    part, eligible = task
    li_idx = np.arange(len(loci))[None, :]
    jobs, where = [], []
    for p, (f, m) in enumerate(part):
        structure = f.pedigree.structure_key()
        for li, l in enumerate(loci):
            genos = {pid: prof[l] for pid, prof in f.references.items() if l in prof}
            extra = sorted({a for g in genos.values() for a in g if a not in tables.base[l][3]})
            alleles, freqs, male, female = tables.family_table(l, extra)
            index = tables.family_index(l, extra)
            genos_idx = {f.pedigree.index[pid]: (index[a], index[b]) for pid, (a, b) in genos.items()}
            jobs.append((structure, MarkerData(freqs, male, female, genos_idx), f.pedigree.index[m]))
            mutation = male is not None or female is not None
            if mutation:  # the same without mutation: where it is 0 the locus is inconsistent
                jobs.append((structure, MarkerData(freqs, None, None, genos_idx), f.pedigree.index[m]))
            where.append((p, li, freqs, len(jobs) - 1 - mutation, len(jobs) - 1))
    tabs = joint_tables(jobs)
    n_max = max(len(t) for t in tabs)
    lr_tab = np.zeros((len(part), len(loci), n_max, n_max))
    compatible = np.zeros((len(part), len(loci), n_max, n_max), dtype=bool)
    for p, li, freqs, j, j0 in where:
        t, t0 = tabs[j], tabs[j0]
        size = len(t)
        total = t.sum()
        pop = 2.0 * np.outer(freqs, freqs)
        np.fill_diagonal(pop, freqs * freqs)
        with np.errstate(divide="ignore", invalid="ignore"):  # impossible references: NaN
            pred = (t + t.T) / total
            np.fill_diagonal(pred, np.diag(t) / total)
            lr_tab[p, li, :size, :size] = pred / pop
        # inconsistent: impossible without mutation with U in M's place (LR 0, or 0/0
        # when the references alone already need a mutation there)
        compatible[p, li, :size, :size] = (t0 + t0.T) > 0
    out = []
    for p in range(len(part)):
        vals = np.where(typed, lr_tab[p][li_idx, ux, uy], 1.0)  # (unidentified, loci)
        with np.errstate(divide="ignore"):
            logs = np.log10(vals).sum(axis=1)
        for r in np.flatnonzero(eligible[:, p] & (logs >= min_log)):
            incompatible = typed[r] & ~compatible[p][li_idx[0], ux[r], uy[r]]
            out.append((int(r), p, float(logs[r]),
                        ({loci[li]: float(vals[r, li]) for li in np.flatnonzero(typed[r])},
                         [loci[li] for li in np.flatnonzero(incompatible)])))
    return out


def _direct_scores(pairs, *, model: GeneticModel, tables: "_LocusTables"):
    """θ = 0, U without rare alleles: LR_locus = P(refs, M = U) / (P(refs) P(U)), the two
    likelihoods from the batched engine, P(U) = 2 p_x p_y (p_x² for a homozygote).

    Returns (log10 LR, lr per locus) per pair."""
    jobs, meta = [], []
    lumpable = model.mutation == "none" or model.mutation in LUMPABLE
    refs_done: dict[tuple, int] = {}  # (family id, locus) -> job index of P(references)
    for u, f, m in pairs:
        structure = f.pedigree.structure_key()
        m_idx = f.pedigree.index[m]
        for l, (a, b) in u.profile.items():
            genos = {pid: prof[l] for pid, prof in f.references.items() if l in prof}
            extra = sorted({x for g in genos.values() for x in g if x not in tables.base[l][3]})
            alleles, freqs, male, female = tables.family_table(l, extra)
            index = tables.family_index(l, extra)
            refs = {f.pedigree.index[pid]: (index[x], index[y]) for pid, (x, y) in genos.items()}
            key = (f.id, l)
            if key not in refs_done:
                refs_done[key] = len(jobs)
                jobs.append((structure, MarkerData(freqs, male, female, refs, 0.0, lumpable)))
            ia, ib = index[a], index[b]
            jobs.append((structure, MarkerData(freqs, male, female, {**refs, m_idx: (ia, ib)}, 0.0, lumpable)))
            p_u = freqs[ia] ** 2 if ia == ib else 2.0 * freqs[ia] * freqs[ib]
            meta.append((l, refs_done[key], len(jobs) - 1, p_u))
    values = likelihoods_many(jobs) if jobs else np.empty(0)
    out, k = [], 0
    for u, f, m in pairs:
        lr_loc = {}
        for _ in u.profile:
            l, j_refs, j_pair, p_u = meta[k]
            k += 1
            denominator = values[j_refs] * p_u
            lr_loc[l] = (values[j_pair] / denominator if denominator > 0
                         else (math.nan if values[j_pair] == 0 else math.inf))
        with np.errstate(divide="ignore", invalid="ignore"):
            log10_lr = float(np.sum(np.log10(np.array(list(lr_loc.values()))))) if lr_loc else 0.0
        out.append((log10_lr, lr_loc))
    return out


def search(unidentified: list[UnidentifiedRecord], families: list[FamilyRecord], *,
           model: GeneticModel, min_lr: float = 1.0, top_k: int | None = 20,
           per: str = "unidentified", chunk_pairs: int = 128, workers: int = 1,
           progress=None, age_tolerance: float = DEFAULT_AGE_TOLERANCE, identity=None) -> SearchResult:
    """Rank (unidentified, family, missing) pairs by exact LR.

    Keeps, per query (each unidentified person with ``per="unidentified"``, each family with
    ``per="family"``), the ``top_k`` pairs with LR >= ``min_lr`` (all of them if ``top_k`` is
    None), ranked by LR.  Sex known on both sides must agree; dates known on both sides
    must be compatible within ``age_tolerance`` years (:func:`age_conflicts`); and pairs with
    fewer than ``model.min_common_loci`` loci typed in both U and a reference are not
    compared; all three are counted in the result (a pair under the first filter it fails),
    the last two also listed in ``skipped_pairs``.  ``identity``: an
    :class:`~reunite.search.identity.IdentityLookup` that flags the candidates.
    ``workers`` > 1 spreads the joint-table pass over that many processes (results are
    identical).
    """
    tol = tolerance_days(age_tolerance)
    result = SearchResult([], age_tolerance=float(age_tolerance))
    loci = sorted({l for u in unidentified for l in u.profile}
                  | {l for f in families for p in f.references.values() for l in p})
    tables = _LocusTables(model, loci)
    min_log = math.log10(min_lr) if min_lr > 0 else -math.inf
    heaps: dict[int, list] = {}
    counter = 0

    def offer(u, f, m, log10_lr, lr_loc):
        nonlocal counter
        if not (log10_lr >= min_log):
            return
        key = u.id if per == "unidentified" else f.id
        heap = heaps.setdefault(key, [])
        counter += 1
        # the heap's smallest item is the worst ranked: lowest LR, then last in the final order
        item = (log10_lr, _Reversed((f.code, u.code, m)), counter, u, f, m, lr_loc)
        if top_k is None or len(heap) < top_k:
            heapq.heappush(heap, item)
        elif item[:2] > heap[0][:2]:
            heapq.heapreplace(heap, item)

    # which unidentified persons carry an allele absent from the population table
    u_rare = np.array([any(a not in tables.base[l][3] for l, g in u.profile.items() for a in g)
                       for u in unidentified], dtype=bool)
    pairs_fm = [(f, m) for f in families for m in f.missing]
    # filters, vectorised: sex known on both sides must agree; enough common loci
    locus_idx = {l: k for k, l in enumerate(loci)}
    u_loci = np.zeros((len(unidentified), len(loci)), dtype=np.int32)
    for i, u in enumerate(unidentified):
        u_loci[i, [locus_idx[l] for l in u.profile]] = 1
    f_loci = np.zeros((len(pairs_fm), len(loci)), dtype=np.int32)
    for j, (f, _) in enumerate(pairs_fm):
        f_loci[j, [locus_idx[l] for p in f.references.values() for l in p]] = 1
    common = u_loci @ f_loci.T  # (U, pairs)
    u_sex = np.array([u.sex for u in unidentified])
    m_sex = np.array([f.pedigree[m].sex for f, m in pairs_fm])
    known = np.isin(u_sex, ["M", "F"])[:, None] & np.isin(m_sex, ["M", "F"])[None, :]
    sex_conflict = known & (u_sex[:, None] != m_sex[None, :])
    u_days = np.array([_u_days(u) for u in unidentified], dtype=np.int64).reshape(len(unidentified), 2)
    m_days = np.array([_m_days(f, m) for f, m in pairs_fm], dtype=np.int64).reshape(len(pairs_fm), 2)
    age_conflict = ~sex_conflict & age_conflicts(u_days[:, :1], u_days[:, 1:], m_days[None, :, 0],
                                                 m_days[None, :, 1], tol)
    few_loci = ~sex_conflict & ~age_conflict & (common < model.min_common_loci)
    eligible = ~sex_conflict & ~age_conflict & ~few_loci
    result.num_pairs = eligible.size
    result.skipped_sex = int(sex_conflict.sum())
    result.skipped_age = int(age_conflict.sum())
    result.skipped_loci = int(few_loci.sum())
    result.num_compared = int(eligible.sum())
    for i, j in zip(*np.nonzero(age_conflict)):
        f, m = pairs_fm[j]
        result.skipped_pairs.append((unidentified[i].code, f.code, m, age_reason(unidentified[i], f, m, tol)))
    for i, j in zip(*np.nonzero(few_loci)):
        f, m = pairs_fm[j]
        result.skipped_pairs.append((unidentified[i].code, f.code, m,
                                     f"{int(common[i, j])} common loci, fewer than {model.min_common_loci}"))
    # joint tables pay off when many unidentified persons share them; a few go pair by pair
    fast = ~u_rare if model.theta == 0.0 else np.zeros(len(unidentified), dtype=bool)
    if fast.sum() < TABLES_MIN_QUERIES:
        fast[:] = False
    # the others: θ = 0 and no rare allele in U -> the engine on U placed as M, batched over
    # families (P(references) P(U) below); otherwise the engine on both hypotheses, pair by pair
    direct = (~u_rare & ~fast) if model.theta == 0.0 else np.zeros(len(unidentified), dtype=bool)
    direct_pairs = [(unidentified[i], *pairs_fm[j]) for i, j in zip(*np.nonzero(eligible & direct[:, None]))]
    slow_pairs = [(unidentified[i], *pairs_fm[j])
                  for i, j in zip(*np.nonzero(eligible & ~fast[:, None] & ~direct[:, None]))]
    fast_idx = np.flatnonzero(fast)
    # fast path: joint tables per (family, missing, locus), lookups for every unidentified person
    if len(fast_idx):
        ux = np.zeros((len(fast_idx), len(loci)), dtype=np.int64)
        uy = np.zeros((len(fast_idx), len(loci)), dtype=np.int64)
        typed = u_loci[fast_idx].astype(bool)
        for r, i in enumerate(fast_idx):
            for l, (a, b) in unidentified[i].profile.items():
                index = tables.base[l][3]
                ux[r, locus_idx[l]], uy[r, locus_idx[l]] = index[a], index[b]
        tasks = [(pairs_fm[start:start + chunk_pairs], eligible[fast_idx, start:start + chunk_pairs])
                 for start in range(0, len(pairs_fm), chunk_pairs)]
        score = partial(_score_chunk, loci=loci, tables=tables, ux=ux, uy=uy, typed=typed,
                        min_log=min_log)
        if workers > 1 and len(tasks) > 1:
            ctx = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                scored = pool.map(score, tasks)
                for (part, _), offers in zip(tasks, scored):
                    for r, p, log10_lr, detail in offers:
                        offer(unidentified[fast_idx[r]], *part[p], log10_lr, detail)
                    if progress is not None:
                        progress(len(part) * len(fast_idx))
        else:
            for task in tasks:
                for r, p, log10_lr, detail in score(task):
                    offer(unidentified[fast_idx[r]], *task[0][p], log10_lr, detail)
                if progress is not None:
                    progress(len(task[0]) * len(fast_idx))
    for start in range(0, len(direct_pairs), 512):
        part = direct_pairs[start:start + 512]
        for (u, f, m), (log10_lr, lr_loc) in zip(part, _direct_scores(part, model=model, tables=tables)):
            offer(u, f, m, log10_lr, (lr_loc, None))
        if progress is not None:
            progress(len(part))
    # slow path: θ > 0, or rare alleles in the unidentified person's profile
    for start in range(0, len(slow_pairs), 256):
        part = slow_pairs[start:start + 256]
        for (u, f, m), r in zip(part, exact_pairs(part, model=model)):
            offer(u, f, m, r.log10_lr_total, (dict(r.lr_per_marker), None))
        if progress is not None:
            progress(len(part))
    # reported candidates: the per-locus LRs and the loci inconsistent without mutation
    # pairs computed one by one learn their inconsistent loci now, for the kept ones only
    pending = [(u, f, m) for heap in heaps.values() for (*_, u, f, m, (_, inc)) in heap if inc is None]
    plain = {}
    if pending:
        lr_loc_of = {(u.id, f.id, m): lr_loc for heap in heaps.values()
                     for (*_, u, f, m, (lr_loc, _)) in heap}
        results = exact_pairs(pending, model=model, mutation=False) if model.mutation != "none" else None
        for k, (u, f, m) in enumerate(pending):
            per_locus = results[k].lr_per_marker if results is not None else lr_loc_of[(u.id, f.id, m)]
            plain[(u.id, f.id, m)] = [l for l, v in per_locus.items() if v == 0.0 or math.isnan(v)]
    for heap in heaps.values():
        for log10_lr, _, _, u, f, m, (lr_loc, inconsistent) in heap:
            if inconsistent is None:
                inconsistent = plain[(u.id, f.id, m)]
            lr = math.prod(lr_loc.values())
            result.candidates.append(Candidate(u, f, m, lr, log10_lr, _common_loci(u, f), lr_loc,
                                               sorted(inconsistent)))
    result.candidates = _ranked(result.candidates, top_k, per=per)
    if identity is not None:
        identity.flag(result.candidates)
    return result


#: At most this many skipped pairs are listed in a result (all are counted).
MAX_LISTED_SKIPPED = 10_000


def index_search(unidentified: list[UnidentifiedRecord], index, *, model: GeneticModel,
                 load_families, min_lr: float = 1.0, top_k: int | None = 20, workers: int = 1,
                 progress=None, age_tolerance: float = DEFAULT_AGE_TOLERANCE, identity=None) -> SearchResult:
    """:func:`search` per unidentified person against a :class:`~reunite.search.index.FamilyIndex`.

    Each person is scored against every indexed (family, missing person) by the compiled
    scan (the exact LR, see :mod:`reunite.search.index`); the ``top_k`` with LR >= ``min_lr``
    are kept (ties ranked by family code and missing id, as :func:`search` does).  Families
    the index does not hold (``index.fallback``) and persons with an allele missing from the
    frequency table go through :func:`search`.  ``load_families(ids)`` returns the
    FamilyRecords of database ids (for those and for the reported candidates'
    inconsistent loci).  ``workers`` threads share the persons (the scan releases the GIL).
    The sex, age and common-loci filters, ``age_tolerance`` and ``identity`` are as in
    :func:`search` (the index keeps every row's dates, so top-k stays exact).
    """
    from concurrent.futures import ThreadPoolExecutor

    tol = tolerance_days(age_tolerance)
    result = SearchResult([], age_tolerance=float(age_tolerance))
    min_log = math.log10(min_lr) if min_lr > 0 else -math.inf
    queries, rare = [], []
    for u in unidentified:
        (queries if index.accepts(u.profile) else rare).append(u)
    index.combined()  # built once, before any thread needs it
    n_rows = len(index)

    def one(u, threads=1):
        """(kept rows with their log10 LR, counts) for one person."""
        rows, vals, n_sex, n_age, n_few, few, aged = index.search_rows(
            u.profile, sex=u.sex, min_common=model.min_common_loci, min_log=min_log, top_k=top_k,
            max_listed=MAX_LISTED_SKIPPED, threads=threads, dates=(*_u_days(u), tol))
        return u, rows, vals, n_sex, n_age, n_few, few, aged

    kept = []
    aged_rows = []
    aged_listed = [0]  # rows in aged_rows

    def collect(out):
        u, rows, vals, n_sex, n_age, n_few, few, aged = out
        result.skipped_sex += n_sex
        result.skipped_age += n_age
        result.skipped_loci += n_few
        result.num_pairs += n_rows
        result.num_compared += n_rows - n_sex - n_age - n_few
        room = MAX_LISTED_SKIPPED - len(result.skipped_pairs) - aged_listed[0]
        if len(aged) and room > 0:  # only as many as are listed (not every person's, kept to the end)
            aged_rows.append((u, aged[:room]))
            aged_listed[0] += len(aged_rows[-1][1])
        if len(few) and len(result.skipped_pairs) < MAX_LISTED_SKIPPED:
            for r in few[:MAX_LISTED_SKIPPED - len(result.skipped_pairs)]:
                common = index.common_loci(r, u.profile)
                result.skipped_pairs.append((u.code, index.family_code[r], index.missing[r],
                                             f"{common} common loci, fewer than {model.min_common_loci}"))
        kept.append((u, rows, vals))
        if progress is not None:
            progress(n_rows)

    if workers > 1 and len(queries) > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for out in pool.map(one, queries):
                collect(out)
    else:
        for u in queries:
            collect(one(u, threads=workers))
    # ranking, ties as search() ranks them; then the reported candidates' details
    by_query: dict[int, list] = {}
    for u, rows, vals in kept:
        order = sorted(range(len(rows)), key=lambda k: (-vals[k], index.family_code[rows[k]], index.missing[rows[k]]))
        if top_k is not None:
            order = order[:top_k]
        by_query[u.id] = [(u, int(rows[k]), float(vals[k])) for k in order]
    aged_rows = [(u, rows[:max(0, MAX_LISTED_SKIPPED - len(result.skipped_pairs))]) for u, rows in aged_rows]
    wanted = sorted({int(index.family_id[r]) for items in by_query.values() for _, r, _ in items})
    records = {f.id: f for f in (load_families(wanted) if wanted else [])}
    gone = sorted(set(wanted) - set(records))
    if gone:
        raise ReuniteError(f"the family index holds families that are not in the database (ids {gone[:5]}); "
                           "rebuild it with 'reunite db index --rebuild'")
    for u, rows in aged_rows:  # the pairs left out for their dates, with the reason (the index's dates:
        for r in rows:         # no family is read from the database for them)
            if len(result.skipped_pairs) < MAX_LISTED_SKIPPED:
                result.skipped_pairs.append((u.code, index.family_code[r], index.missing[r],
                                             _age_reason(u, _day_date(index.m_birth[r]),
                                                         _day_date(index.m_missing[r]), tol)))
    cands, cand_rows = [], []
    rows_lr = getattr(index, "lr_per_locus_rows", None)  # one locus at a time over the person's rows
    for items in by_query.values():
        lrs = (rows_lr(items[0][0].profile, [r for _, r, _ in items]) if rows_lr is not None and items
               else [index.lr_per_locus(u.profile, r) for u, r, _ in items])
        for (u, r, log10_lr), lr_loc in zip(items, lrs):
            f = records[int(index.family_id[r])]
            c = Candidate(u, f, index.missing[r], math.prod(lr_loc.values()), log10_lr, _common_loci(u, f),
                          lr_loc)
            cands.append(c)
            cand_rows.append(r)
    _inconsistent_loci(cands, model=model, index=index, rows=cand_rows)
    # families the index does not hold, and persons with an allele missing from the table
    # (those against every family, pair by pair): the engine's search
    parts = []
    if index.fallback and queries:
        parts.append(search(queries, load_families(sorted(index.fallback)), model=model, min_lr=min_lr,
                            top_k=top_k, age_tolerance=age_tolerance))
    if rare:
        parts.append(search(rare, load_families(None), model=model, min_lr=min_lr, top_k=top_k,
                            age_tolerance=age_tolerance))
    for part in parts:
        result.num_pairs += part.num_pairs
        result.num_compared += part.num_compared
        result.skipped_sex += part.skipped_sex
        result.skipped_age += part.skipped_age
        result.skipped_loci += part.skipped_loci
        result.skipped_pairs += part.skipped_pairs
        cands += part.candidates
    result.candidates = _ranked(cands, top_k)
    if identity is not None:
        identity.flag(result.candidates)
    return result


def _inconsistent_loci(cands: list[Candidate], *, model: GeneticModel, index, rows=None) -> None:
    """The loci where each candidate is impossible without mutation (U in M's place): where
    P(references, M = U) = 0 without mutation (the no-mutation LR is then 0, or 0/0).
    ``rows``: the candidates' index rows, when known (their keys are read from them)."""
    if not cands:
        return
    if model.mutation == "none":
        for c in cands:
            c.inconsistent_loci = sorted(l for l, v in c.lr_per_locus.items() if v == 0.0 or math.isnan(v))
        return
    from reunite.search.index.rare import absent_alleles

    # a person with an allele absent from the table: the engine without mutation, pair by pair
    has_absent: dict[int, bool] = {}  # per person (its candidates share the answer)
    for c in cands:
        if id(c.unidentified) not in has_absent:
            has_absent[id(c.unidentified)] = bool(absent_alleles(index, c.unidentified.profile))
    rare = [c for c in cands if has_absent[id(c.unidentified)]]
    if rare:
        plain = exact_pairs([(c.unidentified, c.family, c.missing) for c in rare], model=model, mutation=False)
        for c, r in zip(rare, plain):
            c.inconsistent_loci = sorted(l for l, v in r.lr_per_marker.items() if v == 0.0 or math.isnan(v))
    keep = [k for k, c in enumerate(cands) if not has_absent[id(c.unidentified)]]
    by_rows = getattr(index, "inconsistent_loci_rows", None)
    if rows is not None and by_rows is not None:
        by_rows([cands[k] for k in keep], [rows[k] for k in keep])
    else:
        index.inconsistent_loci([cands[k] for k in keep])


def _ranked(cands: list[Candidate], top_k, *, per: str = "unidentified") -> list[Candidate]:
    """Per query (unidentified person, or family with ``per="family"``): ranked by LR, ties
    by family code, unidentified code and missing id; the first ``top_k`` kept."""
    by_query: dict[int, list[Candidate]] = {}
    for c in cands:
        by_query.setdefault(c.unidentified.id if per == "unidentified" else c.family.id, []).append(c)
    out = []
    for group in by_query.values():
        group.sort(key=lambda c: (-c.log10_lr, c.family.code, c.unidentified.code, c.missing))
        if top_k is not None:
            group = group[:top_k]
        for k, c in enumerate(group, start=1):
            c.rank = k
        out.extend(group)
    out.sort(key=lambda c: (c.unidentified.code if per == "unidentified" else c.family.code, c.rank))
    return out