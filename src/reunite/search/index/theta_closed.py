"""Joint tables at θ > 0 by formula, vectorised over every key of a sub-pedigree.

The θ index needs, per key (a canonical sub-pedigree and the typed people's genotypes at one
locus), the engine's joint table T[a, b] of a kept person K's two alleles: K = M (the
missing person, T1) or K = U (the unrelated person added as a founder, T2).  The dense LR
table is ``lr_table(T1, T2)``, where every table enters only as T / ΣT, so any positive
factor common to all entries of one key's table may be dropped.  (docs/theta-index.md,
"Dense tables by formula", has the derivation.)

The method, for pedigrees where no untyped non-founder passes one allele to two relevant
descendants (every untyped non-founder on a path is a chain link: siblings, an uncle or
aunt, a grandparent, a parent and sibling, half siblings, cousins):

1. *Inheritance.*  Enumerate, for every relevant non-founder, which parental slot each of
   its two alleles came from, and for every typed non-founder its phase.  Each choice has
   the same probability 2^-(transmissions) (a common factor).  Following the choices back,
   every *leaf* (an allele of a typed non-founder, of M, or U's own alleles) has a source:
   an untyped founder's slot (a *draw* of the urn), a typed person's allele (a known
   value) or, for M's typed descendants, one of M's alleles (the free index), and a path
   matrix (the product of the sex-specific mutation matrices along the chain of
   transmissions).  Untyped founder slots no leaf uses are summed out of the urn
   (exchangeability), so a choice is summarised by the draws' leaf sets and the
   fixed-source leaves; equal summaries are merged (their counts added).
2. *The urn.*  Given m typed founder alleles with counts c, k further draws have
   P(x_1..x_k) = Σ_σ Π_{blocks β of σ} θ^(|β|-1) (|β|-1)! w_{x_β} / Π_{i<k}(1 + (m+i-1)θ)
   over the set partitions σ of the k draws with x constant on blocks, w = θc + (1-θ)p
   (the rising-factorial expansion of the Pólya urn; likelihood.py).  So each summary and
   σ give a product over blocks of Σ_v w_v Π_{leaves l in the block} P_l[v, x_l], the
   free leaves (K's alleles a, b) kept as indices, times the fixed-source factors
   P_l[x_src, x_l].
3. *Evaluation.*  Terms are merged per (scalar blocks, fixed factors, free part), their
   coefficients computed once per (sub-pedigree, kept person, θ).  For a group of keys, each
   distinct leaf set's block sum is computed once (numpy over the keys), the scalar products
   of all terms in one gather, and the free parts (vectors over a and b, or an n x n block
   when a and b share a block) in a few outer products.

Everything is exact (finite sums of products, no subtraction); the tests compare it with the
engine table by table.
"""

from __future__ import annotations

import math
from collections import defaultdict
from functools import lru_cache
from itertools import product

import numpy as np

from reunite.genetics.likelihood import _set_partitions

#: Most urn draws (untyped founder slots used by one inheritance choice) handled by formula
#: (Bell(7) = 877 partitions); beyond, the engine.
MAX_DRAWS = 7

#: Most enumerated inheritance choices (2^(transmissions + phases)) handled by formula.
MAX_CHOICES = 1 << 13

#: Keys per vectorised pass: about this many cells in its largest arrays.
CHUNK_ELEMENTS = 4e6

#: Set False to send every dense table to the engine (the tests compare both ways).
ENABLED = True


class Unsupported(Exception):
    """The sub-pedigree is not one the formula covers (an untyped branching, an inbred
    founder, too many draws): the engine computes it."""


def _relevant(structure: tuple, people) -> set[int]:
    keep: set[int] = set()
    stack = list(people)
    while stack:
        i = stack.pop()
        if i in keep:
            continue
        keep.add(i)
        f, m = structure[i][0], structure[i][1]
        if f >= 0:
            stack.append(f)
        if m >= 0:
            stack.append(m)
    return keep


@lru_cache(maxsize=512)
def plan_terms(structure: tuple, keep: int, local: tuple, theta: float, symmetric: bool = False):
    """The merged terms of T[a, b] for ``keep`` on ``structure`` with ``local`` typed
    (module doc), or None when unsupported.  Returns
    ``(typed_founder_cols, terms)``; ``terms`` is a tuple of
    ``(coef, scalar_sets, fixed_scalars, free_key)``:

    - a leaf is ``(path, col, idx)`` (typed: allele ``idx`` of the genotype in column ``col``
      of the key) or ``(path, -1, j)`` (free: K's allele j, 0 = a, 1 = b); ``path`` a string
      of "M"/"F" (the matrices from the source to the leaf);
    - a free part ends with the typed leaves descending from that allele of K (K = M with
      typed descendants): factors P_l[a, x_l] over K's allele;
    - ``scalar_sets``: tuples of typed leaves, each a block whose value is summed;
    - ``fixed_scalars``: ``(src, leaf)`` with ``src = (col, idx)``, a typed person's allele;
    - ``free_key``: ``("both", S, (pa, Ea), (pb, Eb))`` (a and b in one block with typed
      leaves S) or ``(A, B)`` with each ``("blk", S, path, E)`` or ``("fix", src, path, E)``.

    With ``symmetric`` the terms give a table T' with T' + T'ᵀ = T + Tᵀ (each term's two free
    parts in one canonical order), all a dense LR table needs, with fewer terms.
    """
    try:
        return _plan_terms(structure, keep, local, theta, symmetric)
    except Unsupported:
        return None


def _plan_terms(structure: tuple, keep: int, local: tuple, theta: float, symmetric: bool):
    col = {p: c for c, p in enumerate(local)}
    relevant = _relevant(structure, tuple(local) + (keep,))
    founder = {i for i in relevant if structure[i][0] < 0}
    if any(structure[i][3] != 0.0 for i in founder):
        raise Unsupported("inbred founder")
    typed_founders = tuple(sorted(col[i] for i in founder if i in col))
    m = 2 * len(typed_founders)
    nonf = sorted(i for i in relevant if i not in founder)
    typed_nonf = [i for i in nonf if i in col]
    n_choices = 2 ** (2 * len(nonf) + len(typed_nonf))
    if n_choices > MAX_CHOICES:
        raise Unsupported("too many inheritance choices")
    summaries: dict[tuple, int] = defaultdict(int)
    for bits in product((0, 1), repeat=2 * len(nonf) + len(typed_nonf)):
        choice = {i: (bits[2 * k], bits[2 * k + 1]) for k, i in enumerate(nonf)}
        phase = {i: bits[2 * len(nonf) + k] for k, i in enumerate(typed_nonf)}

        def value_of(person, slot):  # a typed person's allele in (pat, mat) slot
            if person in founder:
                return (col[person], slot)
            return (col[person], slot ^ phase[person])

        used_links: set[tuple] = set()

        def source(person, side, path):
            parent = structure[person][side]
            slot = choice[person][side]
            path = ("M" if side == 0 else "F") + path
            if parent in col:
                return ("fix", value_of(parent, slot)), path
            if parent == keep and parent not in founder:  # K's allele: the free index
                return ("kept", slot), path
            if parent in founder:
                return ("draw", parent, slot), path
            if (parent, slot) in used_links:
                raise Unsupported("an untyped non-founder passes one allele to two leaves")
            used_links.add((parent, slot))
            return source(parent, slot, path)

        draws: dict[tuple, list] = defaultdict(list)
        fixed: list = []
        kept: list = []
        leaves = []
        for i in typed_nonf:
            for side in (0, 1):
                leaves.append((i, side, (col[i], side ^ phase[i])))
        if keep not in founder:
            leaves += [(keep, 0, (-1, 0)), (keep, 1, (-1, 1))]
        else:
            draws[("draw", keep, 0)].append(("", -1, 0))
            draws[("draw", keep, 1)].append(("", -1, 1))
        for person, side, (c, idx) in leaves:
            src, path = source(person, side, "")
            leaf = (path, c, idx)
            if src[0] == "fix":
                fixed.append((src[1], leaf))
            elif src[0] == "kept":
                kept.append((src[1], leaf))
            else:
                draws[src].append(leaf)
        summary = (tuple(sorted(tuple(sorted(v)) for v in draws.values())), tuple(sorted(fixed)), tuple(sorted(kept)))
        summaries[summary] += 1
    terms: dict[tuple, float] = defaultdict(float)
    for (draw_sets, fixed, kept), count in summaries.items():
        k = len(draw_sets)
        if k > MAX_DRAWS:
            raise Unsupported("too many urn draws")
        denom = math.prod(1.0 + (m + i - 1) * theta for i in range(k))
        fixed_scalars = tuple(f for f in fixed if f[1][1] >= 0)
        extra = {j: tuple(leaf for i, leaf in kept if i == j) for j in (0, 1)}
        free_fixed = {f[1][2]: ("fix", f[0], f[1][0], extra[f[1][2]]) for f in fixed if f[1][1] < 0}
        for part in _set_partitions(list(range(k))):
            coef = count / denom
            scalars = []
            free: dict[int, tuple] = dict(free_fixed)
            both = None
            for block in part:
                s = len(block)
                coef *= theta ** (s - 1) * math.factorial(s - 1)
                leaves = sorted(leaf for d in block for leaf in draw_sets[d])
                typed = tuple(leaf for leaf in leaves if leaf[1] >= 0)
                frees = {leaf[2]: leaf[0] for leaf in leaves if leaf[1] < 0}
                if not frees:
                    scalars.append(typed)
                elif len(frees) == 2:
                    both = ("both", typed, (frees[0], extra[0]), (frees[1], extra[1]))
                else:
                    (j, path), = frees.items()
                    free[j] = ("blk", typed, path, extra[j])
            key = both if both is not None else (free[0], free[1])
            if symmetric:
                key = ("both", key[1], *sorted(key[2:])) if both is not None else tuple(sorted(key))
            terms[(tuple(sorted(scalars)), fixed_scalars, key)] += coef
    return typed_founders, tuple((c, s, f, k) for (s, f, k), c in terms.items())


class _Evaluator:
    """Numbers of one group of keys (module doc, step 3)."""

    def __init__(self, codes: np.ndarray, tab, theta: float, typed_founders: tuple):
        n = len(tab.afreq)
        self.n = n
        self.B = codes.shape[0]
        self.alleles = np.stack([codes // n, codes % n], axis=2)  # (keys, cols, 2)
        eye = np.eye(n)
        self.mats = {"M": tab.male if tab.male is not None else eye,
                     "F": tab.female if tab.female is not None else eye}
        counts = np.zeros((self.B, n))
        rows = np.arange(self.B)
        for c in typed_founders:
            for idx in (0, 1):
                np.add.at(counts, (rows, self.alleles[:, c, idx]), 1.0)
        self.w = theta * counts + (1.0 - theta) * np.asarray(tab.afreq)[None, :]
        self._paths: dict[str, np.ndarray] = {}
        self._cols: dict[tuple, np.ndarray] = {}
        self._g: dict[tuple, np.ndarray] = {(): self.w}
        self._sums: dict[tuple, np.ndarray] = {}
        self._vectors: dict[tuple, np.ndarray] = {}

    def path(self, path: str) -> np.ndarray:
        mat = self._paths.get(path)
        if mat is None:
            mat = np.eye(self.n)
            for step in path:
                mat = mat @ self.mats[step]
            self._paths[path] = mat
        return mat

    def column(self, leaf) -> np.ndarray:
        """(keys, n): P_path[v, x_leaf] over v."""
        out = self._cols.get(leaf)
        if out is None:
            path, c, idx = leaf
            out = self._cols[leaf] = self.path(path)[:, self.alleles[:, c, idx]].T
        return out

    def g(self, leaves: tuple) -> np.ndarray:
        """(keys, n): w_v Π_l P_l[v, x_l]."""
        out = self._g.get(leaves)
        if out is None:
            out = self._g[leaves] = self.g(leaves[:-1]) * self.column(leaves[-1])
        return out

    def block_sum(self, leaves: tuple) -> np.ndarray:
        out = self._sums.get(leaves)
        if out is None:
            out = self._sums[leaves] = self.g(leaves).sum(axis=1)
        return out

    def fixed(self, src, leaf) -> np.ndarray:
        path, c, idx = leaf
        return self.path(path)[self.alleles[:, src[0], src[1]], self.alleles[:, c, idx]]

    def extra(self, leaves: tuple):
        """(keys, n) or None: Π_l P_l[a, x_l] over K's allele a, for the typed leaves that
        descend from it."""
        out = None
        for leaf in leaves:
            out = self.column(leaf) if out is None else out * self.column(leaf)
        return out

    def vector(self, part) -> np.ndarray:
        """(keys, n) of a free allele: its block's Σ_v g(v) P[v, a], or P[x_src, a]; times
        the factors of the typed leaves descending from it."""
        out = self._vectors.get(part)
        if out is None:
            out = self._vectors[part] = self._vector(part)
        return out

    def _vector(self, part) -> np.ndarray:
        if part[0] == "blk":
            out = self.g(part[1]) @ self.path(part[2])
        else:
            out = self.path(part[2])[self.alleles[:, part[1][0], part[1][1]]]
        more = self.extra(part[3])
        return out if more is None else out * more

    def table(self, compiled) -> np.ndarray:
        """Σ over the terms of a :func:`compiled_plan`: (keys, n, n)."""
        B, n = self.B, self.n
        specs, index, coefs, free_keys, indicator = compiled
        columns = [np.ones(B)]
        for spec in specs:
            columns.append(self.block_sum(spec[1]) if spec[0] == "s" else self.fixed(spec[1], spec[2]))
        fmat = np.stack(columns, axis=1)  # (keys, factors)
        prods = fmat[:, index].prod(axis=2) * coefs[None, :]  # (keys, terms)
        weights = prods @ indicator  # (keys, free keys)
        both: dict[tuple, np.ndarray] = {}  # (path a, path b) -> Σ weight · g (linear in g)
        by_a: dict[tuple, np.ndarray] = {}  # a's part -> Σ weight · b's vector
        for f, key in enumerate(free_keys):
            if key[0] == "both":
                g = self.g(key[1]) * weights[:, f][:, None]
                paths = (key[2], key[3])  # ((path a, leaves below a), (path b, leaves below b))
                both[paths] = both[paths] + g if paths in both else g
            else:
                vb = self.vector(key[1]) * weights[:, f][:, None]
                by_a[key[0]] = by_a[key[0]] + vb if key[0] in by_a else vb
        out = np.zeros((B, n, n))
        for ((pa, ea), (pb, eb)), g in both.items():  # Σ_v g(v) Pa[v, a] Pb[v, b] · Ea(a) Eb(b)
            block = (self.path(pa).T[None, :, :] * g[:, None, :]) @ self.path(pb)
            ea, eb = self.extra(ea), self.extra(eb)
            if ea is not None:
                block *= ea[:, :, None]
            if eb is not None:
                block *= eb[:, None, :]
            out += block
        if by_a:  # Σ over a's parts of outer(A, Σ B): one batched product
            va = np.stack([self.vector(a) for a in by_a], axis=1)  # (keys, parts, n)
            vb = np.stack(list(by_a.values()), axis=1)
            out += va.transpose(0, 2, 1) @ vb
        return out


def joint_tables_theta(structure: tuple, keep: int, local: tuple, codes: np.ndarray, tab, theta: float,
                       symmetric: bool = False):
    """(keys, n, n) tables proportional, key by key, to the engine's ``joint_tables`` of
    ``keep`` (each key's factor common to all its entries; with ``symmetric`` only T + Tᵀ
    is), or None (unsupported)."""
    plan = compiled_plan(structure, keep, tuple(local), float(theta), symmetric)
    if plan is None:
        return None
    typed_founders, compiled = plan
    n = len(tab.afreq)
    per_key = max(compiled[1].size, len(compiled[3]) * n, 4 * n * n)  # the largest arrays' cells per key
    chunk = max(16, int(CHUNK_ELEMENTS // per_key))
    if len(codes) <= chunk:
        return _Evaluator(codes, tab, theta, typed_founders).table(compiled)
    return np.concatenate([_Evaluator(codes[k:k + chunk], tab, theta, typed_founders).table(compiled)
                           for k in range(0, len(codes), chunk)])


@lru_cache(maxsize=512)
def compiled_plan(structure: tuple, keep: int, local: tuple, theta: float, symmetric: bool = False):
    """:func:`plan_terms` as arrays: ``(typed_founder_cols, (factor specs, (terms, width)
    factor index (0: the unit factor), coefficients, free keys, (terms, free keys)
    indicator))``, or None."""
    plan = plan_terms(structure, keep, local, theta, symmetric)
    if plan is None:
        return None
    typed_founders, terms = plan
    factors: dict[tuple, int] = {}
    rows = []
    for _, scalars, fixed, _ in terms:
        ids = [factors.setdefault(("s", sc), len(factors) + 1) for sc in scalars]
        ids += [factors.setdefault(("f", src, leaf), len(factors) + 1) for src, leaf in fixed]
        rows.append(ids)
    index = np.zeros((len(rows), max(1, max((len(r) for r in rows), default=0))), dtype=np.int64)
    for t, r in enumerate(rows):
        index[t, :len(r)] = r
    free_keys: dict[tuple, int] = {}
    which = np.array([free_keys.setdefault(term[3], len(free_keys)) for term in terms], dtype=np.int64)
    indicator = np.zeros((len(terms), len(free_keys)))
    indicator[np.arange(len(terms)), which] = 1.0
    coefs = np.array([term[0] for term in terms])
    return typed_founders, (tuple(factors), index, coefs, tuple(free_keys), indicator)


def dense_tables_theta(structure: tuple, m_pos: int, local: tuple, codes: np.ndarray, tab, theta: float):
    """The dense LR tables ``lr_table(T1, T2)`` of every key (rows of ``codes``), or None."""
    if not ENABLED:
        return None
    h2 = structure + ((-1, -1, "U", 0.0),)
    local = tuple(local)
    if (plan_terms(structure, m_pos, local, float(theta), True) is None
            or plan_terms(h2, len(structure), local, float(theta), True) is None):
        return None
    n = len(tab.afreq)
    out = np.empty((len(codes), n, n))
    step = max(16, int(CHUNK_ELEMENTS // (4 * n * n)))  # a few (keys, n, n) arrays at a time
    for k in range(0, len(codes), step):
        part = codes[k:k + step]
        t1 = joint_tables_theta(structure, m_pos, local, part, tab, theta, True)
        t2 = joint_tables_theta(h2, len(structure), local, part, tab, theta, True)
        with np.errstate(divide="ignore", invalid="ignore"):
            s1 = (t1 + t1.transpose(0, 2, 1)) / t1.sum(axis=(1, 2))[:, None, None]
            s2 = (t2 + t2.transpose(0, 2, 1)) / t2.sum(axis=(1, 2))[:, None, None]
            out[k:k + step] = s1 / s2
    return out


def side_vectors_theta(kind: str, structure: tuple, m_pos: int, local: tuple, codes: np.ndarray, tab, theta: float):
    """Side vectors (kind "P": Σ_b T1[a, b] / ΣT1, "Q": Σ_a) by formula, or None."""
    if not ENABLED:
        return None
    t1 = joint_tables_theta(structure, m_pos, tuple(local), codes, tab, theta)
    if t1 is None:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        total = t1.sum(axis=(1, 2))[:, None]
        return t1.sum(axis=2) / total if kind == "P" else t1.sum(axis=1) / total
