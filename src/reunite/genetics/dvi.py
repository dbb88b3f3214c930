"""Joint identification of several unidentified persons against several families (DVI).

The definitions are those of the R package dvir (Vigeland & Egeland): victims (here the
unidentified, e.g. the children of one rescue operation) are singletons; each reference family
is a pedigree with typed references and one or more missing persons.  An *assignment* gives each
victim a missing person or nobody (``None``, dvir's ``"*"``), never one missing person to two
victims, and only pairings of compatible sex.

    loglik(a) = sum over families f of ln L(f with the victims a places in it)
                + sum over victims v left unassigned of ln L(v alone)
    LR(a)     = exp(loglik(a) - loglik(null)),  null = every victim unassigned
    posterior(a) = LR(a) / sum over all assignments of LR (flat prior over assignments)

Pairwise LR_ij = LR of the assignment {victim i -> missing j} alone.  Siblings among the victims
need no special case: two victims placed in one family as two missing siblings are scored
jointly by that family's likelihood.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from reunite import __version__
from reunite.errors import MarkerError, PedigreeError, ReuniteError
from reunite.genetics.dvi_kernel import PreparedMarker, family_log_table, family_log_values, victim_loglik
from reunite.genetics.frequencies import DEFAULT_FLOOR
from reunite.genetics.kinship import Marker, _check_loci_once, _describe_mutation, _prepare_marker
from reunite.genetics.loci import normalise_locus
from reunite.genetics.pedigree import SEX_CODES, Pedigree

#: The missing person of an unassigned victim (dvir writes "*").
NOT_IDENTIFIED = None


@dataclass(frozen=True)
class Victim:
    """An unidentified person: id, sex ('M', 'F' or 'U') and genotypes {marker: (a1, a2)}."""

    id: str
    sex: str
    genotypes: dict[str, tuple[str, str]]


@dataclass(frozen=True)
class ReferenceFamily:
    """A family: its pedigree, its missing persons (ids in the pedigree) and the genotypes of
    its typed references {person: {marker: (a1, a2)}}."""

    name: str
    pedigree: Pedigree
    missing: tuple[str, ...]
    genotypes: dict[str, dict[str, tuple[str, str]]]


@dataclass
class DviProblem:
    """Victims, families and the markers (name, afreq, mutation; their ``genotypes`` unused).

    ``pairings``: optional {victim: [missing ids, or None for not identified]} restricting the
    candidates; None means every missing person of compatible sex, plus None.
    """

    victims: list[Victim]
    families: list[ReferenceFamily]
    markers: list[Marker]
    pairings: dict[str, list[str | None]] | None = None
    name: str = "dvi"


@dataclass
class PairwiseLR:
    """LR_ij of victim i placed on missing person j (rows: victims, cols: missing persons).

    ``lr[i, j]`` is NaN where the pair is not a candidate (sex), 0 for an exclusion;
    ``reasons[(victim, missing)]`` says why for every non-finite or zero entry.
    """

    victims: list[str]
    missing: list[str]
    lr: np.ndarray
    log10_lr: np.ndarray
    reasons: dict[tuple[str, str], str] = field(default_factory=dict)


@dataclass
class Assignment:
    """One joint assignment: victim -> missing person (None = not identified)."""

    pairs: dict[str, str | None]
    loglik: float
    log10_lr: float  # against the null assignment
    lr: float  # against the null assignment (may overflow to inf; log10_lr stays exact)
    posterior: float  # flat prior over all assignments searched


@dataclass
class Undisputed:
    """An identification that needs no joint search: pairwise LR >= threshold and at least
    threshold times every other LR in its row and column (dvir's rule)."""

    victim: str
    missing: str
    lr: float
    step: int = 1  # the round of dvir's iteration in which it was found
    family: str = ""


@dataclass
class JointResult:
    """The result of :func:`joint_identification`; ``assignments`` best first (top rows)."""

    assignments: list[Assignment]
    n_assignments: int
    loglik_null: float
    log_sum_lr: float  # ln of the sum over all assignments of LR against null
    marginals: dict[str, dict[str | None, float]]  # P(victim -> missing) summed over assignments
    undisputed: list[Undisputed]
    pairwise: PairwiseLR
    notes: list[str] = field(default_factory=list)
    provenance: dict = field(default_factory=dict)
    n_tied_with_best: int = 0  # rows whose loglik equals the best within 1e-9 relative
    n_finite: int = 0  # assignments with a likelihood above 0
    pairings: dict[str, list[str | None]] = field(default_factory=dict)  # searched, after ``limit``


#: dvir's slack on the undisputed threshold: LR >= threshold - sqrt(.Machine$double.eps).
_SQRT_EPS = math.sqrt(2.0 ** -52)

#: Relative tolerance under which two assignments' logliks count as tied.
TIE_TOLERANCE = 1e-9


class ImpossibleFamily(ReuniteError):
    """A family whose references' genotypes are impossible on its pedigree (likelihood 0)
    at ``markers``, so no assignment can be scored; the caller may leave it out and say so."""

    def __init__(self, message: str, *, family: str, markers: list[str]):
        super().__init__(message)
        self.family = family
        self.markers = markers


def sexes_compatible(victim_sex: str, missing_sex: str) -> bool:
    """A victim may be a missing person of the same sex; an unknown sex ('U') on either side
    excludes nobody.  (dvir's ``generatePairings`` compares the codes, so there an unknown
    sex pairs only with an unknown sex; none of its datasets has one.)"""
    return victim_sex == missing_sex or "U" in (victim_sex, missing_sex)


# ----------------------------------------------------------------------------------------
# preparation: validation, markers matched by name, candidate pairings


@dataclass
class _Family:
    name: str
    structure: tuple
    missing: list[str]
    missing_pos: list[int]
    reference_pos: dict[str, int]


@dataclass
class _Prepared:
    problem: DviProblem
    victims: list[str]
    victim_sex: dict[str, str]
    missing: list[str]  # all missing persons, family by family
    family_of: dict[str, int]  # missing -> family index
    missing_sex: dict[str, str]
    families: list[_Family]
    markers: list[PreparedMarker]
    candidates: dict[str, list[str]]  # victim -> missing persons it may be (no None)
    not_candidate: dict[tuple[str, str], str]  # (victim, missing) -> why not
    victim_ll: dict[str, float]
    family_null: list[float]  # ln L(family alone)
    notes: list[str]


def _sex(value, where: str) -> str:
    try:
        return SEX_CODES[value]
    except (KeyError, TypeError):
        raise PedigreeError(f"{where}: sex must be 'M', 'F', 'U' (or 1, 2, 0), found {value!r}") from None


def _prepare(problem: DviProblem) -> _Prepared:
    if not isinstance(problem, DviProblem):
        raise ReuniteError(f"joint identification: expected a DviProblem, found {type(problem).__name__}")
    where = f"DVI problem {problem.name!r}"
    victims = [v.id for v in problem.victims]
    if not victims:
        raise ReuniteError(f"{where}: no victims (unidentified persons) to identify")
    if len(set(victims)) != len(victims):
        dup = next(v for v in victims if victims.count(v) > 1)
        raise ReuniteError(f"{where}: victim {dup!r} is listed twice; victim ids must be unique")
    if len(victims) > 64:
        raise ReuniteError(f"{where}: {len(victims)} victims; the joint search handles at most 64 at once. "
                           "Split the group, or fix the undisputed identifications first")
    victim_sex = {v.id: _sex(v.sex, f"{where}, victim {v.id!r}") for v in problem.victims}
    names = [f.name for f in problem.families]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ReuniteError(f"{where}: family {dup!r} is listed twice; family names must be unique")
    if not problem.families:
        raise ReuniteError(f"{where}: no reference families")
    families: list[_Family] = []
    missing: list[str] = []
    family_of: dict[str, int] = {}
    missing_sex: dict[str, str] = {}
    for k, fam in enumerate(problem.families):
        fw = f"{where}, family {fam.name!r}"
        ped = fam.pedigree
        if not isinstance(ped, Pedigree):
            raise ReuniteError(f"{fw}: pedigree must be a Pedigree, found {type(ped).__name__}")
        if not fam.missing:
            raise ReuniteError(f"{fw}: no missing person; name the missing persons of the family")
        for pid in fam.missing:
            if pid not in ped:
                raise PedigreeError(f"{fw}: missing person {pid!r} is not in the pedigree")
            if pid in fam.genotypes:
                raise PedigreeError(f"{fw}: missing person {pid!r} is typed; a missing person has no "
                                    "genotypes of their own (the victims' are placed on them)")
            if pid in family_of:
                other = problem.families[family_of[pid]].name
                raise ReuniteError(f"{fw}: missing person {pid!r} also belongs to family {other!r}; "
                                   "missing persons' ids must be unique across families")
            if pid in victim_sex:
                raise ReuniteError(f"{fw}: missing person {pid!r} has a victim's id; use distinct ids")
            family_of[pid] = k
            missing.append(pid)
            missing_sex[pid] = ped[pid].sex
        if len(set(fam.missing)) != len(fam.missing):
            raise ReuniteError(f"{fw}: a missing person is listed twice")
        for pid in fam.genotypes:
            if pid not in ped:
                raise PedigreeError(f"{fw}: reference {pid!r} is typed but is not in the pedigree")
        structure = ped.structure_key()
        families.append(_Family(fam.name, structure, list(fam.missing), [ped.index[m] for m in fam.missing],
                                {pid: ped.index[pid] for pid in fam.genotypes}))
    markers, notes = _prepare_markers(problem, where)
    # candidate pairings
    not_candidate: dict[tuple[str, str], str] = {}
    candidates: dict[str, list[str]] = {}
    if problem.pairings is not None:
        unknown = [v for v in problem.pairings if v not in victim_sex]
        if unknown:
            raise ReuniteError(f"{where}: pairings name {unknown[0]!r}, which is not a victim")
    for v in victims:
        if problem.pairings is not None and v in problem.pairings:
            given = problem.pairings[v]
            for m in given:
                if m is not None and m not in family_of:
                    raise ReuniteError(f"{where}: pairings of victim {v!r} name {m!r}, which is not a "
                                       "missing person (use None for 'not identified')")
            allowed = [m for m in missing if m in set(given)]
            for m in missing:
                if m not in allowed:
                    not_candidate[(v, m)] = (
                        "not among the given pairings of this victim" if sexes_compatible(
                            victim_sex[v], missing_sex[m]) else
                        f"sex: the victim is {victim_sex[v]}, the missing person {missing_sex[m]}")
        else:
            allowed = []
            for m in missing:
                if sexes_compatible(victim_sex[v], missing_sex[m]):
                    allowed.append(m)
                else:
                    not_candidate[(v, m)] = (f"sex: the victim is {victim_sex[v]}, the missing person "
                                             f"{missing_sex[m]}")
        candidates[v] = allowed
    victim_ll = {v: victim_loglik(markers, v) for v in victims}
    prep = _Prepared(problem, victims, victim_sex, missing, family_of, missing_sex, families, markers,
                     candidates, not_candidate, victim_ll, [], notes)
    for k, fam in enumerate(families):
        table, per_marker = _table(prep, k, {}, [[] for _ in fam.missing], per_marker=True)
        ll = float(table.reshape(-1)[0])
        if ll == -math.inf:
            bad = [m.name for m, t in zip(markers, per_marker) if t.reshape(-1)[0] == -math.inf]
            raise ImpossibleFamily(
                f"{where}, family {fam.name!r}: the references' genotypes are impossible on the pedigree "
                f"(likelihood 0) at {', '.join(bad)}; check the pedigree and the typing, or give these "
                "markers a mutation model", family=fam.name, markers=bad)
        prep.family_null.append(ll)
    return prep


def _prepare_markers(problem: DviProblem, where: str) -> tuple[list[PreparedMarker], list[str]]:
    if not problem.markers:
        raise MarkerError(f"{where}: no markers")
    _check_loci_once(problem.markers, where=where)
    by_name: dict[str, int] = {}
    for k, m in enumerate(problem.markers):
        by_name[m.name] = k
    by_locus = {normalise_locus(m.name): k for k, m in enumerate(problem.markers)}
    genotypes: list[dict[str, tuple]] = [{} for _ in problem.markers]

    def lookup(name: str, who: str) -> int:
        k = by_name.get(name)
        if k is None:
            try:
                k = by_locus.get(normalise_locus(name))
            except MarkerError:
                k = None
        if k is None:
            raise MarkerError(f"{where}, {who}: marker {name!r} is not among the problem's markers "
                              f"({', '.join(m.name for m in problem.markers)}); add its frequencies or "
                              "remove the genotype")
        return k

    for v in problem.victims:
        for name, g in v.genotypes.items():
            genotypes[lookup(name, f"victim {v.id!r}")][f"V\x00{v.id}"] = g
    for fam in problem.families:
        for pid, gmap in fam.genotypes.items():
            for name, g in gmap.items():
                genotypes[lookup(name, f"family {fam.name!r}, reference {pid!r}")][f"F\x00{fam.name}\x00{pid}"] = g
    prepared: list[PreparedMarker] = []
    notes: list[str] = []
    for m, genos in zip(problem.markers, genotypes):
        tmp = Marker(m.name, m.afreq, genos, m.mutation, m.n_individuals, m.source)
        p = _prepare_marker(tmp, theta=0.0, floor=DEFAULT_FLOOR, normalise=False, where=where)
        vic, refs = {}, {}
        for key, pair in p.data.genotypes.items():
            parts = key.split("\x00")
            if parts[0] == "V":
                vic[parts[1]] = pair
            else:
                refs[(parts[1], parts[2])] = pair
        prepared.append(PreparedMarker(m.name, p.alleles, np.asarray(p.data.afreq, dtype=float), p.data.male,
                                       p.data.female, bool(p.data.lumpable), vic, refs, list(p.frequency_notes)))
        notes.extend(f"marker {m.name}: {n}" for n in p.notes)
    return prepared, notes


def _table(prep: _Prepared, k: int, placed: dict[str, str], candidates: list[list[str]],
           per_marker: bool = False):
    """ln T of family ``k`` (see :mod:`reunite.genetics.dvi_kernel`), with the victims of
    ``placed`` {missing: victim} fixed on their missing persons."""
    fam = prep.families[k]
    pos = [p for m, p in zip(fam.missing, fam.missing_pos) if m not in placed]
    cands = [c for m, c in zip(fam.missing, candidates) if m not in placed]
    fixed = {fam.missing_pos[fam.missing.index(m)]: v for m, v in placed.items()}
    return family_log_table(fam.structure, fam.name, pos, fam.reference_pos, fixed, cands, prep.markers,
                            per_marker=per_marker)


# ----------------------------------------------------------------------------------------
# pairwise LRs


def pairwise_lr(problem: DviProblem) -> PairwiseLR:
    """The pairwise LR matrix (see :class:`PairwiseLR`).

    LR_ij = L(victim i placed on missing person j, everything else unchanged) / L(null).

    Raises
    ------
    ReuniteError
        malformed input, or a family whose references are impossible on its pedigree.
    """
    return _pairwise(_prepare(problem), {})


def _pairwise(prep: _Prepared, placed: dict[str, str]) -> PairwiseLR:
    """Pairwise LRs, given the victims ``placed`` {missing: victim} (dvir's reduced problem:
    their data moved into the families; their rows and columns are NaN)."""
    victims, missing = prep.victims, prep.missing
    vi = {v: i for i, v in enumerate(victims)}
    log_lr = np.full((len(victims), len(missing)), np.nan)
    reasons: dict[tuple[str, str], str] = {}
    used = set(placed.values())
    for k, fam in enumerate(prep.families):
        here = {m: v for m, v in placed.items() if prep.family_of[m] == k}
        base = None
        for m in fam.missing:
            if m in placed:
                continue
            cands = [v for v in victims if m in prep.candidates[v] and v not in used]
            if not cands:
                continue
            lists = [cands if mm == m else [] for mm in fam.missing]
            table, per_marker = _table(prep, k, here, lists, per_marker=True)
            flat = table.reshape(-1)
            if base is None:
                base = float(flat[0])
            j = missing.index(m)
            for c, v in enumerate(cands, start=1):
                value = float(flat[c]) - base - prep.victim_ll[v]
                log_lr[vi[v], j] = value
                if value == -math.inf:
                    bad = [mk.name for mk, t in zip(prep.markers, per_marker)
                           if t.reshape(-1)[c] == -math.inf]
                    reasons[(v, m)] = ("exclusion: the victim's genotypes are impossible as this missing "
                                       f"person at {', '.join(bad)} (LR 0)"
                                       + ("" if _has_mutation(prep, bad) else
                                          "; no mutation model at these markers"))
    for (v, m), why in prep.not_candidate.items():
        reasons[(v, m)] = "not a candidate pairing: " + why
    for m, v in placed.items():
        for mm in missing:
            reasons.setdefault((v, mm), f"already identified as {m}")
    with np.errstate(over="ignore"):
        lr = np.exp(log_lr)
    return PairwiseLR(list(victims), list(missing), lr, log_lr / math.log(10), reasons)


def _has_mutation(prep: _Prepared, names: list[str]) -> bool:
    return any(m.male is not None or m.female is not None for m in prep.markers if m.name in names)


# ----------------------------------------------------------------------------------------
# undisputed identifications


def find_undisputed(problem: DviProblem, *, threshold: float = 1e4,
                    pairwise: PairwiseLR | None = None) -> list[Undisputed]:
    """dvir's undisputed identifications (``findUndisputed``, its default, not strict):
    V_i = M_j is undisputed when LR_ij >= threshold (less sqrt(machine epsilon), as dvir's
    ``undisputedEntries``) and every other pairwise LR in row i and
    column j is at most LR_ij / threshold.  All found in one round are fixed (their data
    moved into the families), the pairwise LRs of the rest recomputed, and so on until a
    round finds none.  Pairs that are not candidates (NaN) are no competitors.  Beyond dvir:
    LR 0 is never undisputed, and with a threshold of 1 or less two pairs of one round that
    share a victim or a missing person dispute each other (neither is kept)."""
    return _undisputed(_prepare(problem), threshold, pairwise)


def _undisputed(prep: _Prepared, threshold: float, pairwise: PairwiseLR | None) -> list[Undisputed]:
    out: list[Undisputed] = []
    placed: dict[str, str] = {}
    step = 0
    while True:
        step += 1
        pw = pairwise if (step == 1 and pairwise is not None) else _pairwise(prep, placed)
        lr = pw.lr
        found = []
        for i, v in enumerate(pw.victims):
            if v in placed.values():
                continue
            for j, m in enumerate(pw.missing):
                x = lr[i, j]
                if m in placed or not (x > 0 and x >= threshold - _SQRT_EPS):  # dvir: LR >= T
                    continue
                others = np.concatenate([np.delete(lr[i], j), np.delete(lr[:, j], i)])
                others = others[~np.isnan(others)]
                lx = float(pw.log10_lr[i, j])
                if math.isinf(x) and math.isfinite(lx):  # beyond the float range: in log10
                    logs = np.concatenate([np.delete(pw.log10_lr[i], j), np.delete(pw.log10_lr[:, j], i)])
                    logs = logs[~np.isnan(logs)]
                    bound = lx - math.log10(threshold) if threshold > 0 else math.inf
                    if np.all(logs <= bound):
                        found.append((v, m, float(x)))
                else:
                    with np.errstate(divide="ignore"):
                        if np.all(others <= x / threshold):
                            found.append((v, m, float(x)))
        # a threshold of 1 or less lets a victim (or a missing person) pass twice, e.g. two
        # missing siblings with equal LRs: such pairs dispute each other, none is undisputed
        # (with a threshold above 1 this cannot happen, and dvir's result is unchanged)
        victims_found = [v for v, _, _ in found]
        missing_found = [m for _, m, _ in found]
        found = [(v, m, x) for v, m, x in found if victims_found.count(v) == 1 and missing_found.count(m) == 1]
        if not found:
            break
        for v, m, x in found:
            placed[m] = v
            out.append(Undisputed(v, m, x, step, prep.problem.families[prep.family_of[m]].name))
        if len(placed) == len(prep.victims) or len(placed) == len(prep.missing):
            break
    return out


# ----------------------------------------------------------------------------------------
# counting and enumerating assignments


def count_assignments(problem: DviProblem, *, limit: float | None = None) -> int:
    """How many assignments the joint search would cover (with ``limit`` as in
    :func:`joint_identification`), counted without listing them."""
    prep = _prepare(problem)
    searched = _apply_limit(prep, _pairwise(prep, {}), limit)
    return _count(prep, searched)


def _apply_limit(prep: _Prepared, pw: PairwiseLR, limit: float | None) -> dict[str, list[str]]:
    """The candidate missing persons of each victim kept for the joint search (dvir's
    ``pairwiseLR(limit=)``: LR > 0 for limit 0, else LR >= limit; None keeps every one)."""
    if limit is None:
        return {v: list(c) for v, c in prep.candidates.items()}
    if not (isinstance(limit, (int, float)) and limit >= 0 and math.isfinite(limit)):
        raise ReuniteError(f"limit: expected a pairwise LR of 0 or more (e.g. 1), found {limit!r}")
    out = {}
    for i, v in enumerate(pw.victims):
        keep = []
        for m in prep.candidates[v]:
            x = pw.lr[i, pw.missing.index(m)]
            if (x > 0) if limit == 0 else (x >= limit):
                keep.append(m)
        out[v] = keep
    return out


#: counts of assignments stop here (a lower bound beyond): 2**53
COUNT_CEILING = 2**53


def _count(prep: _Prepared, searched: dict[str, list[str]], cap: int = 2_000_000) -> int:
    """Exact count by a dynamic programme over the missing persons, the state being the set
    of victims used so far (bit masks; a dense array up to 22 victims, else a dictionary of
    the states reached, refused beyond ``cap`` of them).  A count reaching :data:`COUNT_CEILING`
    (2**53, where floats stop counting exactly) stops there: the search is refused anyway, and
    the remaining missing persons would only cost time (seconds each with 22 victims)."""
    nv = len(prep.victims)
    bit = {v: 1 << i for i, v in enumerate(prep.victims)}
    takers_of = [[bit[v] for v in prep.victims if m in searched[v]] for m in prep.missing]
    if nv <= 22:
        counts = np.zeros(1 << nv)
        counts[0] = 1.0
        for takers in takers_of:
            new = counts.copy()
            for b in takers:  # the states without victim b (bit i) move to those with it: a strided view
                i = b.bit_length() - 1
                new.reshape(-1, 2, 1 << i)[:, 1, :] += counts.reshape(-1, 2, 1 << i)[:, 0, :]
            counts = new
            if float(counts.sum()) >= COUNT_CEILING:
                return COUNT_CEILING
        return int(counts.sum())
    states_d = {0: 1}
    for takers in takers_of:
        if not takers:
            continue
        grown: dict[int, int] = {}
        for st, c in states_d.items():
            grown[st] = grown.get(st, 0) + c
            for b in takers:
                if not st & b:
                    grown[st | b] = grown.get(st | b, 0) + c
        states_d = grown
        if sum(states_d.values()) >= COUNT_CEILING:
            return COUNT_CEILING
        if len(states_d) > cap:
            raise ReuniteError(
                "joint identification: too many candidate pairings to count the assignments (more "
                f"than {cap} partial states); use a limit (e.g. 1) or fix the undisputed identifications")
    return sum(states_d.values())


def _family_subs(prep: _Prepared, k: int, searched: dict[str, list[str]]):
    """Every sub-assignment of family ``k``: (choice indices (S, K), victim masks (S,),
    victim index per missing (S, K), with -1 for nobody), and the candidate lists."""
    fam = prep.families[k]
    vi = {v: i for i, v in enumerate(prep.victims)}
    cands = [[v for v in prep.victims if m in searched[v]] for m in fam.missing]
    choice = np.zeros((1, 0), dtype=np.int64)
    masks = np.zeros(1, dtype=np.uint64)
    who = np.zeros((1, 0), dtype=np.int64)
    for cs in cands:
        parts_c, parts_m, parts_w = [], [], []
        for c, v in enumerate([None] + cs):
            if v is None:
                rows = np.arange(len(masks))
                b = np.uint64(0)
            else:
                b = np.uint64(1 << vi[v])
                rows = np.flatnonzero((masks & b) == 0)
            parts_c.append(np.column_stack([choice[rows], np.full(len(rows), c)]))
            parts_m.append(masks[rows] | b)
            parts_w.append(np.column_stack([who[rows], np.full(len(rows), -1 if v is None else vi[v])]))
        choice = np.concatenate(parts_c)
        masks = np.concatenate(parts_m)
        who = np.concatenate(parts_w)
    return choice, masks, who, cands


# ----------------------------------------------------------------------------------------
# the joint search


def joint_identification(problem: DviProblem, *, limit: float | None = None,
                         undisputed_threshold: float | None = 1e4, top: int | None = 20,
                         max_assignments: int = 5_000_000) -> JointResult:
    """Every assignment's joint LR and posterior, best first.

    loglik(a) = sum over families of ln L(family with the victims a places in it)
                + sum over victims a leaves unassigned of ln L(victim alone);
    LR(a) = exp(loglik(a) - loglik(null)); posterior(a) = LR(a) / sum of LR (flat prior over
    the assignments searched); marginals P(victim -> missing) are sums of posteriors.

    ``limit``: drop pairings whose pairwise LR is below it (dvir's ``pairwiseLR(limit=)``;
    0 drops the exclusions; None searches every candidate pairing, as dvir's ``dviJoint``);
    "not identified" is always kept.  ``undisputed_threshold``: report (not assume) dvir's
    undisputed identifications; None: none.  ``top``: rows kept (None: all).

    Raises
    ------
    ReuniteError
        malformed input, an impossible family, or more than ``max_assignments`` assignments
        (the message gives the count).
    """
    if top is not None and (not isinstance(top, int) or top < 1):
        raise ReuniteError(f"top: expected a number of rows of 1 or more, found {top!r}")
    if not isinstance(max_assignments, int) or max_assignments < 1:
        raise ReuniteError(f"max_assignments: expected a positive integer, found {max_assignments!r}")
    if undisputed_threshold is not None and not (
            isinstance(undisputed_threshold, (int, float)) and undisputed_threshold >= 0):
        raise ReuniteError("undisputed_threshold: expected a pairwise LR of 0 or more (dvir: 10000), "
                           f"found {undisputed_threshold!r}")
    prep = _prepare(problem)
    pw = _pairwise(prep, {})
    searched = _apply_limit(prep, pw, limit)
    n = _count(prep, searched)
    if n > max_assignments:
        raise ReuniteError(
            f"joint identification: {n if n < COUNT_CEILING else f'more than {COUNT_CEILING}'} assignments to "
            "search, "
            f"more than max_assignments "
            f"({max_assignments}); use a limit (pairings with a pairwise LR below it are dropped, "
            "e.g. limit 1), fix the undisputed identifications first, or raise max_assignments")
    nv = len(prep.victims)
    # every family's sub-assignments, scored once: w = ln L(f, s) - ln L(f) - sum ln L(v)
    vll = np.array([prep.victim_ll[v] for v in prep.victims])
    combos_mask = np.zeros(1, dtype=np.uint64)
    combos_who = np.full((1, nv), -1, dtype=np.int64)  # victim -> global missing index
    combos_score = np.zeros(1)
    missing_index = {m: j for j, m in enumerate(prep.missing)}
    for k, fam in enumerate(prep.families):
        choice, masks, who, cands = _family_subs(prep, k, searched)
        if len(masks) == 1:
            continue
        ll = family_log_values(fam.structure, fam.name, fam.missing_pos, fam.reference_pos, {}, cands,
                               prep.markers, choice)
        assigned = np.where(who >= 0, vll[np.maximum(who, 0)], 0.0).sum(axis=1)
        score = ll - prep.family_null[k] - assigned
        cols = np.array([missing_index[m] for m in fam.missing])
        combos_mask, combos_who, combos_score = _combine(combos_mask, combos_who, combos_score,
                                                         masks, who, cols, score)
    score = combos_score
    loglik_null = float(sum(prep.family_null) + vll.sum())
    finite = np.isfinite(score)
    best = float(score.max())
    log_sum = best + math.log(float(np.exp(score[finite] - best).sum())) if finite.any() else -math.inf
    with np.errstate(invalid="ignore"):
        posterior = np.exp(score - log_sum) if finite.any() else np.full(len(score), np.nan)
    order = np.lexsort((np.arange(len(score)), -score))
    loglik = loglik_null + score
    best_ll = float(loglik[order[0]])
    tied = int(np.sum(np.abs(loglik - best_ll) <= TIE_TOLERANCE * abs(best_ll))) if finite.any() else 0
    rows = order if top is None else order[:top]
    assignments = []
    for r in rows:
        pairs = {v: (None if combos_who[r, i] < 0 else prep.missing[combos_who[r, i]])
                 for i, v in enumerate(prep.victims)}
        s = float(score[r])
        with np.errstate(over="ignore"):
            lr = float(np.exp(s))
        assignments.append(Assignment(pairs, float(loglik[r]), s / math.log(10), lr, float(posterior[r])))
    marginals: dict[str, dict[str | None, float]] = {}
    nm = len(prep.missing)
    for i, v in enumerate(prep.victims):
        col = combos_who[:, i]
        sums = np.bincount(np.where(col < 0, nm, col), weights=posterior, minlength=nm + 1)
        marginals[v] = {m: float(sums[j]) for j, m in enumerate(prep.missing) if m in prep.candidates[v]}
        marginals[v][None] = float(sums[nm])
    undisputed = [] if undisputed_threshold is None else _undisputed(prep, float(undisputed_threshold), pw)
    notes = list(prep.notes)
    unknown = [v for v in prep.victims if prep.victim_sex[v] == "U" and problem.pairings is None]
    if unknown:
        notes.append(f"unknown sex, compared with missing persons of either sex: {', '.join(unknown)} "
                     "(dvir pairs an unknown sex only with an unknown sex)")
    if limit is not None:
        dropped = sum(len(prep.candidates[v]) - len(searched[v]) for v in prep.victims)
        notes.append(f"pairings with a pairwise LR below {limit:g} left out of the joint search: {dropped}"
                     if limit > 0 else f"excluded pairings (pairwise LR 0) left out of the joint search: {dropped}")
    if not finite.any():
        notes.append("every assignment has likelihood 0")
    return JointResult(
        assignments=assignments, n_assignments=int(len(score)), loglik_null=loglik_null,
        log_sum_lr=log_sum, marginals=marginals, undisputed=undisputed, pairwise=pw, notes=notes,
        provenance=_provenance(prep, limit=limit, threshold=undisputed_threshold),
        n_tied_with_best=tied, n_finite=int(finite.sum()),
        pairings={v: list(searched[v]) + [None] for v in prep.victims})


def _combine(c_mask, c_who, c_score, masks, who, cols, score, chunk: int = 1 << 22):
    """Every combination of the assignments so far with a family's sub-assignments that
    uses no victim twice."""
    out_m, out_w, out_s = [], [], []
    nc, ns = len(c_mask), len(masks)
    step = max(1, chunk // max(1, ns))
    for start in range(0, nc, step):
        cm = c_mask[start:start + step]
        ok = (cm[:, None] & masks[None, :]) == 0
        i, j = np.nonzero(ok)
        i = i + start
        w = c_who[i].copy()
        sub = who[j]  # (R, K): victim index per missing person of the family
        r_idx, k_idx = np.nonzero(sub >= 0)
        w[r_idx, sub[r_idx, k_idx]] = cols[k_idx]
        out_m.append(c_mask[i] | masks[j])
        out_w.append(w)
        out_s.append(c_score[i] + score[j])
    return np.concatenate(out_m), np.concatenate(out_w), np.concatenate(out_s)


def _provenance(prep: _Prepared, *, limit, threshold) -> dict:
    return {
        "software": f"reunite {__version__}",
        "method": ("joint identification with dvir's definitions (Vigeland & Egeland): exhaustive search "
                   "of the assignments, exact pedigree likelihoods, flat prior over the assignments"),
        "theta": 0.0,
        "kit": [m.name for m in prep.markers],
        "mutation_models": {m.name: _describe_mutation(pm.mutation)
                            for m, pm in zip(prep.markers, prep.problem.markers)},
        "frequency_tables": sorted({m.source for m in prep.problem.markers}),
        "frequency_notes": {m.name: "; ".join(m.notes) for m in prep.markers if m.notes},
        "sex_rule": "a victim pairs with a missing person of the same sex; unknown sex pairs with any",
        "limit": limit,
        "undisputed_threshold": threshold,
    }
