"""The numeric core of joint identification: every family's likelihood for every way of
placing victims on its missing persons, at once.

For one family and one marker, give each missing person j a *choice* variable c_j: 0 leaves
j untyped, k places the k-th candidate victim's genotype on j.  The table

    T[c_1, ..., c_K] = P(references' genotypes, genotype of c_j on j for every j)

is one sum-product over the pedigree's allele variables (founder alleles drawn from the
frequencies, each child's allele from its parent's two alleles through the parent's
sex-specific mutation matrix, exact for any pedigree), with the choice variables kept.
Entries where two missing persons hold the same victim are computed too and never used.
The log-likelihood of a family sub-assignment is the sum over markers of ln T at its choice
vector; a joint assignment's log-likelihood adds these over the families and the
log-likelihoods of the victims left alone (Hardy-Weinberg genotype probabilities).

Theta is 0 here (dvir's definitions); founder inbreeding is honoured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from reunite.errors import ReuniteError
from reunite.genetics.likelihood import pruned_shape
from reunite.genetics.mutation import lump_matrix

#: Largest table (entries per marker) of one family computed in one piece, and the largest
#: intermediate factor of its elimination; beyond them the table is split (see
#: :func:`family_log_values`).
MAX_TABLE = 4_000_000
MAX_FACTOR = 16_000_000


class _TooBig(Exception):
    """An elimination would build a factor above :data:`MAX_FACTOR` entries."""


@dataclass
class PreparedMarker:
    """One marker, prepared once for all families and victims (indices into ``afreq``)."""

    name: str
    alleles: list[str]
    afreq: np.ndarray
    male: np.ndarray | None
    female: np.ndarray | None
    lumpable: bool
    victims: dict[str, tuple[int, int]]  # victim id -> allele indices
    references: dict[tuple[str, str], tuple[int, int]]  # (family, person) -> allele indices
    notes: list[str]


def victim_loglik(markers: list[PreparedMarker], victim: str) -> float:
    """ln of the victim's genotype probabilities (Hardy-Weinberg, theta 0), over markers."""
    total = 0.0
    for m in markers:
        g = m.victims.get(victim)
        if g is None:
            continue
        a, b = g
        p = m.afreq[a] * m.afreq[b] * (1.0 if a == b else 2.0)
        total += math.log(p) if p > 0 else -math.inf
    return total


def family_log_table(structure: tuple, family: str, missing_pos: list[int], reference_pos: dict[str, int],
                     fixed: dict[int, str], candidates: list[list[str]], markers: list[PreparedMarker], *,
                     per_marker: bool = False):
    """``sum over markers of ln T`` (see the module docstring), shape ``(1 + len(candidates[j]))``
    over the missing persons of ``missing_pos`` in order.

    ``structure``: :meth:`Pedigree.structure_key`; ``reference_pos``: typed reference id ->
    position; ``fixed``: position -> victim whose genotypes sit there for good;
    ``candidates[j]``: the victims that may be placed on missing person j (choice k is
    ``candidates[j][k - 1]``).  With ``per_marker`` also the list of each marker's ln T.
    """
    dims = tuple(1 + len(c) for c in candidates)
    total = np.zeros(dims)
    tables = []
    untyped_founders = _untyped_founders(structure, list(reference_pos.values()) + list(fixed), missing_pos)
    for m in markers:
        refs = {pos: m.references[(family, pid)] for pid, pos in reference_pos.items()
                if (family, pid) in m.references}
        refs.update({pos: m.victims[v] for pos, v in fixed.items() if v in m.victims})
        vic_genos = [[m.victims.get(v) for v in cands] for cands in candidates]
        if not refs and all(g is None for gs in vic_genos for g in gs):
            if per_marker:
                tables.append(np.zeros(dims))
            continue  # nobody typed: T = 1
        table, total_freq = marker_table(structure, m, refs, list(missing_pos), vic_genos)
        with np.errstate(divide="ignore"):
            log_table = np.log(table)
        log_table = log_table - _pruning_correction(untyped_founders, total_freq, dims)
        total += log_table
        if per_marker:
            tables.append(log_table)
    return (total, tables) if per_marker else total


def family_log_values(structure: tuple, family: str, missing_pos: list[int], reference_pos: dict[str, int],
                      fixed: dict[int, str], candidates: list[list[str]], markers: list[PreparedMarker],
                      subs: np.ndarray) -> np.ndarray:
    """ln L of the family for each row of ``subs`` (choice indices, one column per missing
    person; see :func:`family_log_table`).

    The whole table is computed at once when it is small enough; otherwise the missing
    person with the most candidates is fixed to each of its choices in turn (the victim
    placed there, or nobody) and the rest computed for the rows with that choice, whose
    candidates no longer include that victim.
    """
    dims = tuple(1 + len(c) for c in candidates)
    if math.prod(dims) <= MAX_TABLE:
        try:
            table = family_log_table(structure, family, missing_pos, reference_pos, fixed, candidates, markers)
            return table[tuple(subs.T)] if dims else np.full(len(subs), float(table))
        except _TooBig:
            if not any(d > 1 for d in dims):
                raise ReuniteError(f"family {family!r}: the pedigree is too large for an exact likelihood "
                                   "(an elimination step above 16 million entries)") from None
    j = max(range(len(dims)), key=lambda k: dims[k])
    out = np.empty(len(subs))
    rest = [k for k in range(len(dims)) if k != j]
    for value in np.unique(subs[:, j]):
        rows = np.flatnonzero(subs[:, j] == value)
        part = subs[rows][:, rest]
        new_fixed = dict(fixed)
        if value > 0:
            new_fixed[missing_pos[j]] = candidates[j][value - 1]
        new_cands, new_part = [], np.empty_like(part)
        for c, k in enumerate(rest):
            used = np.unique(part[:, c])
            keep = [x for x in used if x > 0]
            new_cands.append([candidates[k][x - 1] for x in keep])
            remap = np.zeros(dims[k], dtype=np.int64)
            remap[keep] = np.arange(1, len(keep) + 1)
            new_part[:, c] = remap[part[:, c]]
        out[rows] = family_log_values(structure, family, [missing_pos[k] for k in rest], reference_pos,
                                      new_fixed, new_cands, markers, new_part)
    return out


def _untyped_founders(structure: tuple, typed: list[int], missing_pos: list[int]):
    """The founders that are ancestors of some missing persons but of no typed person, each
    with the indices (into ``missing_pos``) of the missing persons descending from it and its
    inbreeding."""
    def ancestors(i: int) -> set[int]:
        out, stack = set(), [i]
        while stack:
            k = stack.pop()
            if k in out:
                continue
            out.add(k)
            f, m = structure[k][0], structure[k][1]
            if f >= 0:
                stack.append(f)
            if m >= 0:
                stack.append(m)
        return out

    typed_anc = set().union(*[ancestors(i) for i in typed]) if typed else set()
    below: dict[int, list[int]] = {}
    for j, p in enumerate(missing_pos):
        for a in ancestors(p):
            if a not in typed_anc and structure[a][0] < 0:
                below.setdefault(a, []).append(j)
    return [(tuple(js), structure[a][3] or 0.0) for a, js in sorted(below.items())]


def _pruning_correction(founders, total_freq: float, dims: tuple) -> np.ndarray | float:
    """ln of the factor that untyped founders with no typed descendant add to T: the sum of
    their allele frequencies (1 up to rounding of the table).  Removing it gives every
    entry the value on the pedigree pruned to the typed persons' ancestors, as pedprobr
    computes it, whatever the rounding of the frequencies."""
    if total_freq == 1.0 or not founders:
        return 0.0
    corr = np.zeros(dims)
    for js, inbreeding in founders:
        value = math.log((1.0 - inbreeding) * total_freq ** 2 + inbreeding * total_freq)
        ind = np.ones(dims, dtype=bool)
        for j in js:
            shp = [1] * len(dims)
            shp[j] = dims[j]
            ind = ind & (np.arange(dims[j]) == 0).reshape(shp)
        corr += value * ind
    return corr


def marker_table(structure: tuple, m: PreparedMarker, refs: dict[int, tuple[int, int]],
                 missing_pos: list[int], vic_genos: list[list[tuple[int, int] | None]]) -> np.ndarray:
    """T of one marker (see the module docstring), and the sum of the frequencies used."""
    shape, local = pruned_shape(structure, tuple(sorted(refs)), tuple(sorted(missing_pos)))
    afreq, male, female, remap = _lumped(m, refs, vic_genos)
    n = len(afreq)
    eye = None
    if male is None or female is None:
        eye = np.eye(n)
    male = eye if male is None else male
    female = eye if female is None else female
    genos = {local[p]: (remap[a], remap[b]) for p, (a, b) in refs.items()}
    choice_of = {local[p]: j for j, p in enumerate(missing_pos)}
    g = _Graph()
    const = 1.0
    slots: list[tuple] = [None] * len(shape)  # type: ignore[list-item]
    children = [0] * len(shape)
    for f, mo, _, _ in shape:
        if f >= 0:
            children[f] += 1
            children[mo] += 1
    arange = np.arange(n)
    for i, (f, mo, inbr, _typed) in enumerate(shape):
        typed = genos.get(i)
        if typed is not None:
            a, b = typed
            if a == b:
                pat = mat = (None, a)
            else:
                v = g.var(2)
                pat, mat = (v, np.array([a, b])), (v, np.array([b, a]))
        else:
            vp, vm = g.var(n), g.var(n)
            pat, mat = (vp, arange), (vm, arange)
        slots[i] = (pat, mat)
        if f < 0:  # founder
            if typed is not None:
                a, b = typed
                ib = inbr or 0.0
                if a == b:
                    const *= afreq[a] * (ib + (1.0 - ib) * afreq[a])
                else:
                    g.add((pat[0],), np.full(2, (1.0 - ib) * afreq[a] * afreq[b]))
            else:
                ib = inbr or 0.0
                if ib:
                    joint = (1.0 - ib) * np.outer(afreq, afreq) + ib * np.diag(afreq)
                    g.add((pat[0], mat[0]), joint)
                else:
                    g.add((pat[0],), afreq.copy())
                    g.add((mat[0],), afreq.copy())
        else:
            for parent, child_slot, mat_ in ((f, pat, male), (mo, mat, female)):
                pp, pm = slots[parent]
                const *= g.transmission(pp, pm, child_slot, mat_)
        j = choice_of.get(i)
        if j is not None:
            genos_j = vic_genos[j]
            c = g.var(1 + len(genos_j), kept=j)
            e = np.zeros((1 + len(genos_j), n, n))
            e[0] = 1.0
            for k, gv in enumerate(genos_j, start=1):
                if gv is None:
                    e[k] = 1.0
                else:
                    x, y = remap[gv[0]], remap[gv[1]]
                    e[k, x, y] = e[k, y, x] = 1.0
            g.add((c, pat[0], mat[0]), e)
    dims = tuple(1 + len(gs) for gs in vic_genos)
    out = g.eliminate(dims)
    return const * out, float(afreq.sum())


def _lumped(m: PreparedMarker, refs, vic_genos):
    """Frequencies and matrices with the alleles nobody here carries merged into one
    (exact for the lumpable models), and the index map."""
    n = len(m.afreq)
    seen = sorted({a for g in refs.values() for a in g}
                  | {a for gs in vic_genos for g in gs if g is not None for a in g})
    identity = {a: a for a in range(n)}
    # (lumping is tried for every model: lump_matrix refuses a matrix that does not allow it)
    if len(seen) + 1 >= n:
        return m.afreq, m.male, m.female, identity
    keep = np.array(seen, dtype=np.int64)
    lm = None if m.male is None else lump_matrix(m.male, keep)
    lf = None if m.female is None else (lm if m.female is m.male else lump_matrix(m.female, keep))
    if (m.male is not None and lm is None) or (m.female is not None and lf is None):
        return m.afreq, m.male, m.female, identity
    # the merged allele takes 1 - (the others), as pedprobr lumps: a table whose frequencies
    # sum to 1 only up to rounding then gives exactly pedprobr's likelihoods
    afreq = np.concatenate([m.afreq[keep], [max(0.0, 1.0 - float(m.afreq[keep].sum()))]])
    return afreq, lm, lf, {a: k for k, a in enumerate(seen)}


class _Graph:
    """Factors over integer variables; ``eliminate`` sums out all but the kept ones."""

    def __init__(self):
        self.doms: list[int] = []
        self.kept: dict[int, int] = {}  # var -> output axis
        self.factors: list[tuple[tuple[int, ...], np.ndarray]] = []

    def var(self, dom: int, kept: int | None = None) -> int:
        self.doms.append(dom)
        v = len(self.doms) - 1
        if kept is not None:
            self.kept[v] = kept
        return v

    def add(self, vars_: tuple, arr: np.ndarray) -> None:
        vars_ = tuple(vars_)
        if len(set(vars_)) != len(vars_):  # a repeated variable: take the diagonal
            uniq = tuple(dict.fromkeys(vars_))
            letters = {v: chr(97 + k) for k, v in enumerate(uniq)}
            arr = np.einsum("".join(letters[v] for v in vars_) + "->" + "".join(letters[v] for v in uniq), arr)
            vars_ = uniq
        self.factors.append((vars_, arr))

    def transmission(self, pp, pm, child, mat) -> float:
        """Add P(child's allele | parent's alleles pp, pm) = (M[pp, x] + M[pm, x]) / 2;
        returns a constant factor when no variable is involved (else 1)."""
        refs = (pp, pm, child)
        vars_ = tuple(dict.fromkeys(v for v, _ in refs if v is not None))
        nd = len(vars_)

        def index(ref):
            v, mp = ref
            if v is None:
                return np.asarray(mp).reshape((1,) * nd) if nd else mp
            shp = [1] * nd
            shp[vars_.index(v)] = len(mp)
            return np.asarray(mp).reshape(shp)

        xi = index(child)
        arr = 0.5 * (mat[index(pp), xi] + mat[index(pm), xi])
        if nd == 0:
            return float(arr)
        self.add(vars_, np.ascontiguousarray(arr))
        return 1.0

    def plan(self) -> list[int]:
        """The elimination order (greedy: the variable whose sum makes the smallest factor
        next), found on the scopes alone; raises :class:`_TooBig` before any arithmetic
        when a factor would exceed :data:`MAX_FACTOR` entries."""
        doms = self.doms
        scopes: dict[int, set] = {k: set(vs) for k, (vs, _) in enumerate(self.factors)}
        var_f: dict[int, set] = {}
        for k, sc in scopes.items():
            for u in sc:
                var_f.setdefault(u, set()).add(k)
        remaining = {v for v in range(len(doms)) if v not in self.kept}

        def cost(v: int) -> int:
            scope: set = set()
            for k in var_f.get(v, ()):
                scope |= scopes[k]
            return math.prod(doms[u] for u in scope)

        costs = {v: cost(v) for v in remaining}
        order: list[int] = []
        next_id = len(scopes)
        while remaining:
            v = min(remaining, key=lambda u: (costs[u], u))
            if costs[v] > MAX_FACTOR:
                raise _TooBig(costs[v])
            remaining.discard(v)
            order.append(v)
            ids = var_f.pop(v, set())
            merged: set = set()
            for k in ids:
                merged |= scopes.pop(k)
            merged.discard(v)
            for u in merged:
                var_f[u] -= ids
                var_f[u].add(next_id)
            scopes[next_id] = merged
            next_id += 1
            for u in merged:
                if u in remaining:
                    costs[u] = cost(u)
        return order

    def eliminate(self, dims: tuple) -> np.ndarray:
        order = self.plan()
        factors = self.factors
        scalar = 1.0
        for v in order:
            involved = [fa for fa in factors if v in fa[0]]
            factors = [fa for fa in factors if v not in fa[0]]
            if not involved:
                continue
            scope = list(dict.fromkeys(u for vs, _ in involved for u in vs))
            out_vars = tuple(u for u in scope if u != v)
            letters = {u: _letter(k) for k, u in enumerate(scope)}
            subs = ",".join("".join(letters[u] for u in vs) for vs, _ in involved)
            subs += "->" + "".join(letters[u] for u in out_vars)
            new = np.einsum(subs, *[a for _, a in involved], optimize=len(involved) > 2)
            if out_vars:
                factors.append((out_vars, new))
            else:
                scalar *= float(new)
        out = np.full(dims, scalar)
        if factors:
            kept_vars = sorted(self.kept, key=self.kept.get)
            letters = {u: _letter(k) for k, u in enumerate(kept_vars)}
            subs = ",".join("".join(letters[u] for u in vs) for vs, _ in factors)
            subs += "->" + "".join(letters[u] for u in kept_vars)
            out = scalar * np.einsum(subs, *[a for _, a in factors], optimize=len(factors) > 2)
        return out


def _letter(k: int) -> str:
    if k >= 52:
        raise ReuniteError("joint identification: more than 52 variables in one elimination step")
    return chr(97 + k) if k < 26 else chr(65 + k - 26)
