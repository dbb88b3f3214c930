"""The family index at θ > 0: plans, the closed-form denominator and the scan.

With θ > 0 (Balding–Nichols) every founder allele of a hypothesis is drawn from one urn,
the unrelated person U of H2 included (README, "The subpopulation correction θ"), so

    LR_locus(x/y) = P(refs, M = x/y) / P(refs, U = x/y) = P(M = x/y | refs) / P(U = x/y | refs).

The urn is a Bayesian network with one more, never observed, node Z (the subpopulation's
allele frequencies, Dirichlet((1 − θ)/θ · p)) that is a parent of every founder: given Z the
founders' alleles are independent draws.  Everything the θ = 0 index rests on carries over
with Z in the graph (d-separation, Bayes ball):

- *Requisite references.*  P(M | refs) depends only on the typed people d-connected to M
  given the others (Bayes ball from M in the pedigree plus Z); P(U | refs) only on those
  d-connected to U (a child of Z alone).  Through Z, a typed founder is requisite for any
  untyped founder's allele (the urn has seen its alleles); a typed parent still blocks
  everything above it.
- *Sides.*  When M's paternal allele (a child of M's father P) and maternal allele (a child
  of M's mother Q) are d-separated given the references, P(M_pat = a, M_mat = b | refs) =
  s_P(a) s_Q(b), with s_P(a) = P(M_pat = a | the typed people d-connected to M_pat), each
  computed by the engine at θ on the sub-pedigree of those people and their ancestors.
  Example: a duo (father F typed, mother untyped): s_P = F's transmission, s_Q(b) =
  Σ_a P(Q's allele = a | F's alleles in the urn) M[a, b] — keyed by F's genotype.
- *Closed-form denominator.*  When every typed person d-connected to U is a founder (not
  inbred), their 2k alleles are known draws of the urn and

      P(U = x/y | refs) = (2 − [x = y]) (θ c_x + (1 − θ) p_x) / (1 + (m − 1) θ)
                                         · (θ (c_y + [x = y]) + (1 − θ) p_y) / (1 + m θ),

  c_a the count of allele a among those m = 2k alleles (m = 0: p_x p_y, or p_x², times 2
  for a heterozygote).  The row keeps, per locus, a key of the sorted alleles (a "D key").
- *Dense.*  Otherwise (siblings with untyped parents, an uncle, M's sides connected through
  the urn) the row's table is the LR of every genotype of U, from two engine tables on the
  sub-pedigree of the union of both requisite sets: T1 of M's alleles and T2 of U's alleles
  (U added as a founder): LR(x/y) = (S1[x, y] / ΣT1) / (S2[x, y] / ΣT2), S = T + Tᵀ.
- *By formula.*  Both tables (and any side vector the formulas below do not cover) come from
  :mod:`.theta_closed` where it applies (no inbred founder, no untyped branching: siblings,
  uncles and aunts, grandparents, half siblings, cousins, M's descendants), for all new keys
  of a sub-pedigree at once: the engine's own expansion over the urn's set partitions, summed
  symbolically once per sub-pedigree; the engine computes the rest.

Every value is the engine's (or the urn formula above), so the index's scores are the exact
θ-corrected LRs; the tests compare them with the engine pair by pair on every kind of
pedigree (docs/theta-index.md has the proofs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from reunite.search.index.plan import Part, _ancestors, _canonical, bayes_ball
from reunite.search.index.theta_closed import dense_tables_theta, side_vectors_theta

try:
    import numba
except ImportError:  # pragma: no cover - numba is a dependency
    numba = None


def _urn_graph(structure: tuple, *, drop=frozenset(), extra=()):
    """(parents, children) of the pedigree's genotype network with the urn node Z (index
    len(structure)) as the parent of every founder; people in ``drop`` left out; ``extra``
    nodes appended after Z, each given as its list of parents ("Z" for the urn)."""
    n = len(structure)
    z = n
    parents: list[list[int]] = []
    for i, (f, m, *_rest) in enumerate(structure):
        if i in drop:
            parents.append([])
        elif f < 0:
            parents.append([z])
        else:
            parents.append([p for p in (f, m) if p >= 0 and p not in drop])
    parents.append([])  # Z
    for ps in extra:
        parents.append([z if p == "Z" else p for p in ps])
    children: list[list[int]] = [[] for _ in parents]
    for i, ps in enumerate(parents):
        for p in ps:
            children[p].append(i)
    return parents, children


def _descendants(structure: tuple, person: int) -> set[int]:
    out: set[int] = set()
    stack = [person]
    while stack:
        i = stack.pop()
        for c, (f, m, *_rest) in enumerate(structure):
            if (f == i or m == i) and c not in out:
                out.add(c)
                stack.append(c)
    return out


@dataclass(frozen=True)
class ThetaPlan:
    """How one (pedigree shape, missing person, typed people at a locus) is indexed at θ > 0.

    ``kind`` "sides": parts P and Q and the closed-form denominator over the typed founders
    ``d_people`` (original positions); "dense": one part, the LR table of every genotype."""

    kind: str
    requisite: tuple[int, ...]
    parts: tuple[Part, ...]
    d_people: tuple[int, ...] = ()


def requisite_theta(structure: tuple, missing: int, typed: frozenset[int]) -> tuple[tuple, tuple]:
    """(typed people d-connected to M, typed people d-connected to U) in the pedigree with
    the urn: the references that change P(M | refs) and P(U | refs)."""
    n = len(structure)
    parents, children = _urn_graph(structure)
    for_m = tuple(sorted(bayes_ball(parents, children, missing, typed) & typed))
    parents2, children2 = _urn_graph(structure, extra=(["Z"],))
    for_u = tuple(sorted(bayes_ball(parents2, children2, n + 1, typed) & typed))
    return for_m, for_u


def make_plan_theta(structure: tuple, missing: int, typed: frozenset[int], *, prune: bool = True) -> ThetaPlan:
    """The θ > 0 plan (module doc).  Without ``prune`` (a zero mutation probability, or a
    fully inbred founder) every typed person is kept in one dense table."""
    typed = frozenset(typed)
    if any(person[0] < 0 and person[3] >= 1.0 for person in structure):
        prune = False
    if not prune:
        return _dense(structure, missing, tuple(sorted(typed)))
    for_m, for_u = requisite_theta(structure, missing, typed)
    union = tuple(sorted(set(for_m) | set(for_u)))
    father, mother = structure[missing][0], structure[missing][1]
    below = _descendants(structure, missing)
    if father < 0 or mother < 0 or below & typed:
        return _dense(structure, missing, union)
    if not all(structure[i][0] < 0 and structure[i][3] == 0.0 for i in for_u):
        return _dense(structure, missing, union)
    # M's two alleles as two nodes, children of P and of Q; M and its (untyped) descendants out
    n = len(structure)
    drop = frozenset(below | {missing})
    parents, children = _urn_graph(structure, drop=drop, extra=([father], [mother]))
    m_pat, m_mat = n + 1, n + 2
    seen_p = bayes_ball(parents, children, m_pat, typed)
    if m_mat in seen_p:
        return _dense(structure, missing, union)
    seen_q = bayes_ball(parents, children, m_mat, typed)
    parts = []
    for kind, seen in (("P", seen_p), ("Q", seen_q)):
        people = tuple(sorted(seen & typed))
        keep = _ancestors(structure, people + (missing,))
        sub, m, local, exch = _canonical(structure, keep, missing, people)
        parts.append(Part(kind, sub, m, people, local, exch))
    return ThetaPlan("sides", union, tuple(parts), tuple(for_u))


def _dense(structure: tuple, missing: int, people: tuple[int, ...]) -> ThetaPlan:
    keep = _ancestors(structure, people + (missing,))
    sub, m, local, exch = _canonical(structure, keep, missing, people)
    return ThetaPlan("dense", people, (Part("dense", sub, m, people, local, exch),))


def with_unrelated(sub: tuple) -> tuple:
    """The sub-pedigree with U appended as a founder (H2's unrelated person)."""
    return sub + ((-1, -1, "U", 0.0),)


def lr_table(t1: np.ndarray, t2: np.ndarray) -> np.ndarray:
    """LR of every genotype of U from the joint tables of M (t1) and of U (t2):
    (S1 / ΣT1) / (S2 / ΣT2), S = T + Tᵀ (both doubled on the diagonal: the ratio is right)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return ((t1 + t1.T) / t1.sum()) / ((t2 + t2.T) / t2.sum())


def part_value(kind: str, t: np.ndarray, t2: np.ndarray | None = None, afreq=None) -> np.ndarray:
    """A part's stored values from the engine's joint table ``t`` of M's alleles: the side
    vector (kind "P": Σ_b t[a, b] / Σt; "Q": Σ_a t[a, b] / Σt), or the dense LR table:
    :func:`lr_table` with U's table ``t2`` (θ > 0), else (S / Σt) / (2 p pᵀ), S = t + tᵀ with
    the diagonal t[x, x] (θ = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "P":
            return t.sum(axis=1) / t.sum()
        if kind == "Q":
            return t.sum(axis=0) / t.sum()
        if t2 is not None:
            return lr_table(t, t2)
        pred = (t + t.T) / t.sum()
        np.fill_diagonal(pred, 2.0 * np.diag(t) / t.sum())
        return pred / (2.0 * np.outer(afreq, afreq))


def urn_probability(counts_x, counts_y, m, px: float, py: float, theta: float, same: bool):
    """P(U = x/y | m known alleles of the urn, c_x and c_y of them x and y) (module doc);
    ``counts_*`` and ``m`` may be arrays (one per D key)."""
    first = (theta * counts_x + (1.0 - theta) * px) / (1.0 + (m - 1) * theta)
    if same:
        return first * (theta * (counts_y + 1) + (1.0 - theta) * py) / (1.0 + m * theta)
    return 2.0 * first * (theta * counts_y + (1.0 - theta) * py) / (1.0 + m * theta)


def closed_form_sides_theta(kind, structure, m_pos, local, new, tab, theta: float):
    """Side vectors and dense tables at θ > 0 by formula (else None: the engine), with
    ``last`` the parent's (father's or mother's) mutation matrix:

    - the parent typed u/v: s = (M[u] + M[v]) / 2 (a transmission: θ plays no part);
    - the parent untyped, its parents typed founders u/v and w/z and the part's only typed
      people: s = ((Mf[u] + Mf[v]) / 2 + (Mm[w] + Mm[z]) / 2) / 2 · M (likewise);
    - the parent an untyped founder (not inbred) and every typed person of the part a founder
      (not inbred), their m alleles counting c_a copies of a: the allele it transmits is the
      urn's next draw, s = w · M with w_a = (θ c_a + (1 − θ) p_a) / (1 + (m − 1) θ);
    - otherwise the margin of M's joint table by :func:`.theta_closed.side_vectors_theta`;

    and dense LR tables by :func:`.theta_closed.dense_tables_theta` (None where it does not
    apply: the engine)."""
    if len(new) < 1:
        return None
    codes = np.array([row for _, row in new], dtype=np.int64).reshape(len(new), -1)
    if kind == "dense":
        return dense_tables_theta(structure, m_pos, local, codes, tab, theta)
    n = len(tab.afreq)
    eye = np.eye(n)
    male = tab.male if tab.male is not None else eye
    female = tab.female if tab.female is not None else eye
    last = male if kind == "P" else female
    parent = structure[m_pos][0 if kind == "P" else 1]
    founder = (lambda i: structure[i][0] < 0 and structure[i][3] == 0.0)
    if local == (parent,):
        u, v = codes[:, 0] // n, codes[:, 0] % n
        return 0.5 * (last[u] + last[v])
    gf, gm = structure[parent][0], structure[parent][1]
    if gf >= 0 and sorted(local) == sorted((gf, gm)) and founder(gf) and founder(gm):
        cf, cm = local.index(gf), local.index(gm)
        u, v = codes[:, cf] // n, codes[:, cf] % n
        w, z = codes[:, cm] // n, codes[:, cm] % n
        return (0.25 * (male[u] + male[v] + female[w] + female[z])) @ last
    if founder(parent) and parent not in local and all(founder(i) for i in local):
        m = 2 * len(local)
        counts = np.zeros((len(new), n))
        rows = np.arange(len(new))
        for c in range(codes.shape[1]):
            np.add.at(counts, (rows, codes[:, c] // n), 1.0)
            np.add.at(counts, (rows, codes[:, c] % n), 1.0)
        w = (theta * counts + (1.0 - theta) * tab.afreq[None, :]) / (1.0 + (m - 1) * theta)
        return w @ last
    return side_vectors_theta(kind, structure, m_pos, local, codes, tab, theta)


def d_arrays(tab) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """The D keys of a locus grouped by length: m -> (ids, (keys, m) allele array), kept
    on the table while no key is added."""
    cached = tab.__dict__.get("_d_arrays")
    if cached is None or cached[0] != len(tab.d_list):
        by_len: dict[int, list[int]] = {}
        for k, key in enumerate(tab.d_list):
            by_len.setdefault(len(key), []).append(k)
        groups = {}
        for m, ids in by_len.items():
            arr = np.array([tab.d_list[k] for k in ids], dtype=np.int64).reshape(len(ids), m)
            groups[m] = (np.array(ids, dtype=np.int64), arr)
        cached = tab.__dict__["_d_arrays"] = (len(tab.d_list), groups)
    return cached[1]


def d_values_of(tab, x: int, y: int, afreq: np.ndarray, theta: float) -> np.ndarray:
    """:func:`d_values` of a locus table's D keys (their arrays cached, :func:`d_arrays`)."""
    out = np.ones(len(tab.d_list) + 1)
    for m, (ids, arr) in d_arrays(tab).items():
        cx = (arr == x).sum(axis=1) if m else np.zeros(len(ids))
        cy = (arr == y).sum(axis=1) if m else np.zeros(len(ids))
        with np.errstate(divide="ignore"):
            out[ids] = 1.0 / sides_denominator(cx, cy, m, afreq[x], afreq[y], theta, x == y)
    return out


def d_values(keys: list, x: int, y: int, afreq: np.ndarray, theta: float) -> np.ndarray:
    """1 / :func:`sides_denominator` for every D key of a locus (a key: the sorted allele
    indices of the typed founders U depends on), then 1.0 (the unit entry of dense rows)."""
    out = np.ones(len(keys) + 1)
    if not keys:
        return out
    by_len: dict[int, list[int]] = {}
    for k, key in enumerate(keys):
        by_len.setdefault(len(key), []).append(k)
    for m, ids in by_len.items():
        ids = np.array(ids, dtype=np.int64)
        if m:
            arr = np.array([keys[k] for k in ids.tolist()], dtype=np.int64).reshape(len(ids), m)
            cx = (arr == x).sum(axis=1)
            cy = (arr == y).sum(axis=1)
        else:
            cx = cy = np.zeros(len(ids))
        with np.errstate(divide="ignore"):
            out[ids] = 1.0 / sides_denominator(cx, cy, m, afreq[x], afreq[y], theta, x == y)
    return out


def sides_denominator(counts_x, counts_y, m, px: float, py: float, theta: float, same: bool):
    """What a sides row's s_P(x) s_Q(y) + s_P(y) s_Q(x) is divided by: P(U = x/y | refs),
    twice that for a homozygote (the sum counts P(M = x/x) twice)."""
    return urn_probability(counts_x, counts_y, m, px, py, theta, same) * (2.0 if same else 1.0)


def _scan_theta_py(kp, kq, kd, ab, offsets, dv, d_offsets, loci, out):
    """log10 LR per row at θ > 0: Σ over U's loci of log10((a_p b_q + b_p a_q) · d[k_d])."""
    logs = np.zeros(kp.shape[1])
    for li in loci:
        o = 2 * offsets[li]
        p = o + 2 * kp[li].astype(np.int64)
        q = o + 2 * kq[li].astype(np.int64)
        d = dv[d_offsets[li] + kd[li].astype(np.int64)]
        with np.errstate(divide="ignore", invalid="ignore"):
            logs += np.log10((ab[p] * ab[q + 1] + ab[p + 1] * ab[q]) * d)
    out[:] = logs


if numba is not None:
    @numba.njit(cache=True, nogil=True)
    def scan_theta(kp, kq, kd, ab, offsets, dv, d_offsets, loci, out):  # pragma: no cover - compiled
        """Compiled :func:`_scan_theta_py` (the product of 8 loci at a time, then its log)."""
        n_rows = kp.shape[1]
        for r in range(n_rows):
            total = 0.0
            prod = 1.0
            k = 0
            for li in loci:
                o = 2 * offsets[li]
                p = o + 2 * np.int64(kp[li, r])
                q = o + 2 * np.int64(kq[li, r])
                prod *= (ab[p] * ab[q + 1] + ab[p + 1] * ab[q]) * dv[d_offsets[li] + np.int64(kd[li, r])]
                k += 1
                if k == 8:
                    total += math.log10(prod) if prod > 0.0 else (-math.inf if prod == 0.0 else math.nan)
                    prod = 1.0
                    k = 0
            if k:
                total += math.log10(prod) if prod > 0.0 else (-math.inf if prod == 0.0 else math.nan)
            out[r] = total
else:  # pragma: no cover
    scan_theta = _scan_theta_py
