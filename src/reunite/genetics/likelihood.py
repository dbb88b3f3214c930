"""Exact likelihood of one marker's genotypes on a pedigree.

The numeric kernel of reunite.  Each person carries a paternal and a maternal allele.
Founder alleles are drawn from the population by the Balding-Nichols urn

    P(next allele = a) = (m_a θ + (1 - θ) p_a) / (1 + (m - 1) θ),

(m alleles drawn so far, m_a of them a), jointly over all founders of the pedigree; a child
receives each parent's paternal or maternal allele with probability 1/2, changed by that
parent's sex-specific mutation matrix M[i, j].  The likelihood sums over every untyped
allele and every phase by variable elimination (sum-product over a factor graph whose
variables are allele states), which is exact for any pedigree, loops included.

With θ > 0 the untyped founder alleles are coupled.  Conditioning on the typed founders
(counts c_a, m draws), the urn probability of K untyped founder alleles x_1..x_K is

    prod_k (w_{x_k} + θ n_{<k}(x_k)) / prod_k (1 + (m + k - 1) θ),   w_a = θ c_a + (1 - θ) p_a,

and expanding the products over the Chinese-restaurant seating of the K slots turns it into
a sum over set partitions of the slots: slots in one block share one allele drawn with
weight w, and a block of size s carries θ^(s-1) (s-1)!.  Each partition is an ordinary
(θ-free) elimination problem; partitions equivalent under swapping the two alleles of an
untyped founder are computed once.

Data layout: a *group* of B markers that share the pruned pedigree shape and the set of typed
people is computed at once; arrays carry the batch in their first axis, alleles are padded
to the largest allele count of the group with frequency 0.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from reunite.errors import ReuniteError
from reunite.genetics.mutation import lump_matrix

#: Largest number of untyped founder alleles coupled by θ > 0 (Bell(10) = 115,975 partitions).
MAX_THETA_SLOTS = 10

#: Batch size target, in allele-state cells of the largest factor, of one vectorised run.
CHUNK_ELEMENTS = 4e6


@dataclass
class MarkerData:
    """One marker prepared for the kernel.

    afreq : (n,) allele frequencies.
    male, female : (n, n) transition matrices of fathers and mothers, or None (no mutation).
    genotypes : person position -> (allele index, allele index).
    theta : Balding-Nichols θ for this marker.
    lumpable : whether the matrices allow merging unseen alleles into one (equal,
        proportional and no mutation do; it is checked, so True is always safe).
    """

    afreq: np.ndarray
    male: np.ndarray | None
    female: np.ndarray | None
    genotypes: dict[int, tuple[int, int]]
    theta: float = 0.0
    lumpable: bool = True


# Structure: tuple over persons (father position or -1, mother position or -1, sex, inbreeding)


def pedigree_likelihoods(structure: tuple, markers: list[MarkerData]) -> np.ndarray:
    """Likelihood of each marker's genotypes on the pedigree ``structure``.

    ``structure`` is :meth:`Pedigree.structure_key`; people appear after their parents.
    Returns an array with one likelihood per marker (0 where the data are impossible).
    """
    return likelihoods_many([(structure, m) for m in markers])


def likelihoods_many(jobs: list[tuple[tuple, MarkerData]]) -> np.ndarray:
    """Likelihoods of many (structure, marker) jobs, batched over jobs of the same shape."""
    return likelihoods_prepared([_prune_and_lump(structure, md) for structure, md in jobs])


def likelihoods_prepared(preps: list[tuple]) -> np.ndarray:
    """Likelihoods of prepared jobs (see :func:`prepare_job`), batched by shape and size."""
    out = np.empty(len(preps))
    groups: dict[tuple, list[int]] = {}
    for j, prep in enumerate(preps):
        n = len(prep[1])
        # shapes come from the _pruned_shape cache, so identity stands for equality here
        key = (id(prep[0]), n if n <= 8 else -(-n // 8) * 8, prep[5] > 0.0)
        members = groups.get(key)
        if members is None:
            groups[key] = [j]
        else:
            members.append(j)
    for members in groups.values():
        shape = preps[members[0]][0]
        # chunks keep the largest factor (about n^3 per marker) small enough for the cache
        n = max(len(preps[j][1]) for j in members)
        chunk = max(16, int(CHUNK_ELEMENTS // max(1, n**3)))
        for start in range(0, len(members), chunk):
            part = members[start:start + chunk]
            out[part] = _group_likelihood(shape, [preps[j] for j in part])
    return out


def joint_tables(jobs: list[tuple[tuple, MarkerData, int]]) -> list[np.ndarray]:
    """For each (structure, marker, person) job: ``T[x, y] = P(genotypes, person's paternal
    allele = x, maternal allele = y)`` over the marker's alleles (``person`` untyped).

    ``T.sum()`` is the likelihood of the genotypes; ``T[x, y] + T[y, x]`` (``T[x, x]``) is the
    likelihood with the person typed ``x/y`` (``x/x``).  No lumping: every allele is kept.
    """
    out: list[np.ndarray] = [None] * len(jobs)  # type: ignore[list-item]
    groups: dict[tuple, list[int]] = {}
    preps = []
    for j, (structure, md, person) in enumerate(jobs):
        if person in md.genotypes:
            raise ReuniteError("joint_tables: the person whose alleles are kept must be untyped")
        shape, local = pruned_shape(structure, tuple(sorted(md.genotypes)), (person,))
        flat = [-1] * (2 * len(shape))
        for g, (a, b) in md.genotypes.items():
            flat[2 * local[g]] = a
            flat[2 * local[g] + 1] = b
        preps.append((shape, md.afreq, md.male, md.female, flat, md.theta))
        n = len(md.afreq)
        key = (id(shape), n if n <= 8 else -(-n // 8) * 8, md.theta > 0.0, local[person])
        groups.setdefault(key, []).append(j)
    for key, members in groups.items():
        shape = preps[members[0]][0]
        n = max(len(preps[j][1]) for j in members)
        chunk = max(16, int(CHUNK_ELEMENTS // max(1, n**3)))
        for start in range(0, len(members), chunk):
            part = members[start:start + chunk]
            tables = _group_likelihood(shape, [preps[j] for j in part], keep=key[3])
            for b, j in enumerate(part):
                k = len(preps[j][1])
                out[j] = tables[b, :k, :k]
    return out


def prepare_job(shape: tuple, flat: list[int], md: MarkerData) -> tuple:
    """A job for :func:`likelihoods_prepared`.

    ``shape`` comes from :func:`pruned_shape`; ``flat`` holds the allele indices of the
    pruned people, two per person in shape order, -1 for untyped.  ``md.genotypes`` is not
    read.
    """
    if not md.lumpable:
        return shape, md.afreq, md.male, md.female, flat, md.theta
    return _lump(shape, md, np.array(flat, dtype=np.int64))


def theta_slots_message(num_slots: int) -> str:
    return (f"theta > 0 couples {num_slots} untyped founder alleles in one marker; at most "
            f"{MAX_THETA_SLOTS} are supported. Type more relatives, or use theta = 0")


def theta_slots(shape: tuple) -> int:
    """Number of untyped founder alleles that θ couples in a pruned shape.

    An untyped founder with one child counts once (only the allele it transmits matters),
    any other untyped founder twice.
    """
    children = [0] * len(shape)
    for f, m, _, _ in shape:
        if f >= 0:
            children[f] += 1
            children[m] += 1
    return sum(1 if children[i] == 1 else 2
               for i, (f, _, _, typed) in enumerate(shape) if f < 0 and not typed)


@lru_cache(maxsize=4096)
def pruned_shape(structure: tuple, typed: tuple[int, ...], also: tuple[int, ...] = ()):
    """Typed people and their ancestors (untyped people without typed descendants add a
    factor 1 and are dropped), renumbered; returns ``(shape, position -> local index)``.

    ``also`` names untyped people to keep all the same (with their ancestors).
    ``shape`` entries are ``(father, mother, founder inbreeding, typed)``.
    """
    keep: set[int] = set()
    stack = list(typed) + list(also)
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
    kept = sorted(keep)  # structure is in topological order, so this one is too
    local = {g: k for k, g in enumerate(kept)}
    typed_set = set(typed)
    shape = tuple(
        (local.get(structure[g][0], -1), local.get(structure[g][1], -1),
         structure[g][3] if structure[g][0] < 0 else 0.0, g in typed_set)
        for g in kept
    )
    return shape, local


def _prune_and_lump(structure: tuple, md: MarkerData):
    """Prune the pedigree for this marker and lump unseen alleles when the model allows."""
    shape, local = pruned_shape(structure, tuple(sorted(md.genotypes)))
    flat = [-1] * (2 * len(shape))
    for g, (a, b) in md.genotypes.items():
        flat[2 * local[g]] = a
        flat[2 * local[g] + 1] = b
    return prepare_job(shape, flat, md)


def _lump(shape: tuple, md: MarkerData, genos: np.ndarray) -> tuple:
    """Merge the alleles nobody carries into one, if the matrices are exactly lumpable."""
    afreq = md.afreq
    n = len(afreq)
    male, female = md.male, md.female
    seen = np.unique(genos[genos >= 0])
    if len(seen) + 1 < n:
        lm = None if male is None else lump_matrix(male, seen)
        lf = None if female is None else (lm if female is male else lump_matrix(female, seen))
        if (male is None or lm is not None) and (female is None or lf is not None):
            rest = np.ones(n, dtype=bool)
            rest[seen] = False
            afreq = np.concatenate([afreq[seen], [afreq[rest].sum()]])
            male, female = lm, lf
            remap = np.full(n, -1, dtype=np.int64)
            remap[seen] = np.arange(len(seen))
            genos = np.where(genos >= 0, remap[genos], -1)
    return shape, afreq, male, female, genos, md.theta


def _group_likelihood(shape: tuple, preps: list, keep: int | None = None) -> np.ndarray:
    """Likelihoods of a group of prepared markers sharing ``shape``, padded to one size.

    With ``keep`` (a local person index) the result is, per marker, the table
    ``P(genotypes, keep's paternal allele = x, maternal allele = y)``, shape (B, n, n).
    """
    batch = len(preps)
    n = max(len(p[1]) for p in preps)
    genos = np.array([p[4] for p in preps], dtype=np.int64).reshape(batch, len(shape), 2)
    theta = np.array([p[5] for p in preps])
    # frequencies and matrices are shared by many markers: store each distinct one once
    tables: dict[int, int] = {}
    table_list: list[np.ndarray] = []
    mats: dict[int, int] = {id(None): 0}
    mat_list: list[np.ndarray | None] = [None]
    afreq_idx = np.empty(batch, dtype=np.int64)
    male_idx = np.empty(batch, dtype=np.int64)
    female_idx = np.empty(batch, dtype=np.int64)
    for b, (_, af, ma, fe, _, _) in enumerate(preps):
        afreq_idx[b] = tables.setdefault(id(af), len(tables))
        if afreq_idx[b] == len(table_list):
            table_list.append(af)
        for mat, out in ((ma, male_idx), (fe, female_idx)):
            k = mats.setdefault(id(mat), len(mats))
            if k == len(mat_list):
                mat_list.append(mat)
            out[b] = k
    afreq_u = np.zeros((len(table_list), n))
    for k, af in enumerate(table_list):
        afreq_u[k, : len(af)] = af
    mats_u = np.zeros((len(mat_list), n, n))
    mats_u[0] = np.eye(n)
    for k, mat in enumerate(mat_list[1:], start=1):
        mats_u[k, : len(mat), : len(mat)] = mat
    ctx = _Context(shape, afreq_u[afreq_idx], mats_u, male_idx, female_idx, genos, theta, keep)
    return ctx.likelihood()


class _Context:
    def __init__(self, shape, afreq, mats, male_idx, female_idx, genos, theta, keep=None):
        self.shape = shape
        self.keep = keep  # a person whose two alleles are left in the result
        self.afreq = afreq
        self.mats = mats  # distinct transition matrices; markers index them
        self.male_idx = male_idx
        self.female_idx = female_idx
        self.genos = genos
        self.theta = theta
        self.B, self.n = afreq.shape
        self.bidx = np.arange(self.B)

    def likelihood(self) -> np.ndarray:
        shape = self.shape
        founders = [i for i, s in enumerate(shape) if s[0] < 0]
        self.num_children = [0] * len(shape)
        for f, m, _, _ in shape:
            if f >= 0:
                self.num_children[f] += 1
                self.num_children[m] += 1
        # An untyped founder with one child is represented by the one allele it transmits
        # (by exchangeability the other allele sums out of the urn), so its inbreeding and
        # the mixture over its two alleles do not matter.
        self.single = {i for i in founders if not shape[i][3] and self.num_children[i] == 1
                       and i != self.keep}
        inbred = [i for i in founders if shape[i][2] > 0 and i not in self.single]
        total = 0.0
        for ties in itertools.product((False, True), repeat=len(inbred)):
            tied = {i for i, t in zip(inbred, ties) if t}
            weight = 1.0
            for i, t in zip(inbred, ties):
                weight *= shape[i][2] if t else 1.0 - shape[i][2]
            if weight == 0.0:
                continue
            total += weight * self._given_ties(founders, tied)
        return total

    def _given_ties(self, founders: list[int], tied: set[int]) -> np.ndarray:
        shape, genos, theta, p = self.shape, self.genos, self.theta, self.afreq
        B = self.B
        factor = np.ones(B)
        counts = np.zeros((B, self.n))
        prob_typed = np.ones(B)
        drawn = 0
        # (founder, 0 = paternal / 1 = maternal / 2 = one allele standing for both)
        slots: list[tuple[int, int]] = []
        for i in founders:
            if shape[i][3]:
                a, b = genos[:, i, 0], genos[:, i, 1]
                het = a != b
                draws = [a] if i in tied else [a, b]
                factor *= np.where(het, 0.0, 1.0) if i in tied else np.where(het, 2.0, 1.0)
                for y in draws:
                    num = theta * counts[self.bidx, y] + (1.0 - theta) * p[self.bidx, y]
                    prob_typed *= num / (1.0 + (drawn - 1) * theta)
                    counts[self.bidx, y] += 1.0
                    drawn += 1
            elif i in tied or i in self.single:
                slots.append((i, 2))
            else:
                slots.extend([(i, 0), (i, 1)])
        w = theta[:, None] * counts + (1.0 - theta[:, None]) * p
        num_slots = len(slots)
        denom = np.ones(B)
        for k in range(num_slots):
            denom *= 1.0 + (drawn + k - 1) * theta
        if np.all(theta == 0.0):
            partitions = [(tuple((k,) for k in range(num_slots)), 1)]
        else:
            if num_slots > MAX_THETA_SLOTS:
                raise ReuniteError(theta_slots_message(num_slots))
            pairs = tuple((k, k + 1) for k in range(num_slots - 1)
                          if slots[k][0] == slots[k + 1][0] and slots[k][1] == 0)
            partitions = _partition_orbits(num_slots, pairs)
        acc = 0.0
        for blocks, mult in partitions:
            coef = np.full(B, float(mult))
            for block in blocks:
                s = len(block)
                if s > 1:
                    coef = coef * theta ** (s - 1) * math.factorial(s - 1)
            if not np.any(coef):
                continue
            value = self._eliminate(founders, slots, blocks, w)
            acc = acc + _bc(coef, value) * value
        scale = factor * prob_typed / denom
        return _bc(scale, acc) * acc

    # -- building and eliminating the factor graph --------------------------------------

    def _eliminate(self, founders, slots, blocks, w) -> np.ndarray:
        shape, genos, B, n = self.shape, self.genos, self.B, self.n
        doms: dict[int, int] = {}
        factors: list[tuple[tuple[int, ...], np.ndarray]] = []
        scalar = np.ones(B)
        arange = np.broadcast_to(np.arange(n), (B, n))
        slot_var: dict[tuple[int, int], int] = {}
        # A single-allele founder (one child) whose allele is a block of its own is summed
        # out at once: the child's allele from it has weight (w M)_x.
        marginal = {slots[block[0]][0] for block in blocks
                    if len(block) == 1 and slots[block[0]][0] in self.single}
        for block in blocks:
            if len(block) == 1 and slots[block[0]][0] in marginal:
                continue
            v = len(doms)
            doms[v] = n
            factors.append(((v,), w))
            for k in block:
                slot_var[slots[k]] = v
        refs: list[tuple] = [None] * len(shape)  # type: ignore[list-item]
        kept = None
        if self.keep is not None and shape[self.keep][0] < 0:  # a founder: its allele slots
            k = self.keep
            kept = ((slot_var[(k, 2)],) * 2 if (k, 2) in slot_var
                    else (slot_var[(k, 0)], slot_var[(k, 1)]))
        for i, (f, m, _, typed) in enumerate(shape):
            if f < 0:
                if i in marginal:
                    refs[i] = None
                elif typed:
                    refs[i] = ((None, genos[:, i, 0]), (None, genos[:, i, 1]))
                elif (i, 2) in slot_var:
                    v = slot_var[(i, 2)]
                    refs[i] = ((v, arange), (v, arange))
                else:
                    refs[i] = ((slot_var[(i, 0)], arange), (slot_var[(i, 1)], arange))
                continue
            if typed:
                v = len(doms)
                doms[v] = 2
                a, b = genos[:, i, 0], genos[:, i, 1]
                refs[i] = ((v, np.stack([a, b], axis=1)), (v, np.stack([b, a], axis=1)))
                factors.append(((v,), np.stack([np.ones(B), (a != b).astype(float)], axis=1)))
            else:
                vp, vm = len(doms), len(doms) + 1
                doms[vp] = doms[vm] = n
                refs[i] = ((vp, arange), (vm, arange))
                if i == self.keep:
                    kept = (vp, vm)
            for parent, child_ref, mat_idx in ((f, refs[i][0], self.male_idx),
                                               (m, refs[i][1], self.female_idx)):
                if refs[parent] is None:  # a summed-out founder
                    q = np.einsum("ba,bax->bx", w, self.mats[mat_idx])
                    v, mp = child_ref
                    if v is None:
                        scalar = scalar * q[self.bidx, mp]
                    else:
                        factors.append(((v,), q[self.bidx[:, None], mp]))
                    continue
                pp, pm = refs[parent]
                vars_ = tuple(dict.fromkeys(v for v, _ in (pp, pm, child_ref) if v is not None))
                nd = len(vars_)

                def index(ref, vars_=vars_, nd=nd):
                    v, mp = ref
                    if v is None:
                        return mp.reshape((B,) + (1,) * nd)
                    shp = [B] + [1] * nd
                    shp[1 + vars_.index(v)] = mp.shape[1]
                    return mp.reshape(shp)

                mi = mat_idx.reshape((B,) + (1,) * nd)
                xi = index(child_ref)
                arr = 0.5 * (self.mats[mi, index(pp), xi] + self.mats[mi, index(pm), xi])
                if nd == 0:
                    scalar = scalar * arr
                else:
                    factors.append((vars_, arr))
        value = _variable_elimination(factors, doms, B, keep=kept)
        return _bc(scalar, value) * value


def _bc(a: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``a`` (B,) reshaped to broadcast against ``like`` (B, ...)."""
    a = np.asarray(a)
    if np.ndim(like) <= 1 or a.ndim == 0:
        return a
    return a.reshape(a.shape + (1,) * (like.ndim - a.ndim))


def _variable_elimination(factors, doms: dict[int, int], batch: int, keep=None) -> np.ndarray:
    """Sum the product of ``factors`` over every variable (greedy min-size order).

    ``keep=(u, v)`` leaves two variables (possibly the same one) in the result, which then
    has shape (batch, dom u, dom v).
    """
    factors = list(factors)
    remaining = set(doms) - set(keep or ())
    result = np.ones(batch)
    while remaining:
        best, best_cost = None, None
        for v in remaining:
            scope = set()
            for vs, _ in factors:
                if v in vs:
                    scope.update(vs)
            cost = math.prod(doms[u] for u in scope)
            if best_cost is None or cost < best_cost:
                best, best_cost = v, cost
        v = best
        remaining.discard(v)
        involved = [f for f in factors if v in f[0]]
        factors = [f for f in factors if v not in f[0]]
        if not involved:
            continue
        scope = list(dict.fromkeys(u for vs, _ in involved for u in vs))
        out_vars = tuple(u for u in scope if u != v)
        letters = {u: chr(ord("a") + k) for k, u in enumerate(scope)}
        subs = ",".join("z" + "".join(letters[u] for u in vs) for vs, _ in involved)
        subs += "->z" + "".join(letters[u] for u in out_vars)
        big = math.prod(doms[u] for u in scope) * batch > 200_000
        new = np.einsum(subs, *[a for _, a in involved], optimize=len(involved) > 2 and big)
        if out_vars:
            factors.append((out_vars, new))
        else:
            result = result * new
    if keep is None:
        for vs, arr in factors:  # factors left with no variables
            result = result * arr
        return result
    u, v = keep
    kept = list(dict.fromkeys((u, v)))
    letters = {w: chr(ord("a") + k) for k, w in enumerate(kept)}
    subs = ",".join("z" + "".join(letters[w] for w in vs) for vs, _ in factors)
    out = np.einsum((subs + "," if subs else "") + "z->z" + "".join(letters[w] for w in kept),
                    *[a for _, a in factors], result)
    if u == v:  # one allele variable standing for both: the table is diagonal
        table = np.zeros((batch, doms[u], doms[u]))
        idx = np.arange(doms[u])
        table[:, idx, idx] = out
        return table
    return out


@lru_cache(maxsize=256)
def _partition_orbits(num_slots: int, swaps: tuple[tuple[int, int], ...]):
    """Set partitions of ``range(num_slots)`` up to the given slot swaps, with orbit sizes."""
    group = []
    for choice in itertools.product((False, True), repeat=len(swaps)):
        perm = list(range(num_slots))
        for (a, b), on in zip(swaps, choice):
            if on:
                perm[a], perm[b] = perm[b], perm[a]
        group.append(perm)
    orbits: dict[tuple, int] = {}
    for part in _set_partitions(list(range(num_slots))):
        canon = min(
            tuple(sorted(tuple(sorted(g[k] for k in block)) for block in part)) for g in group
        )
        orbits[canon] = orbits.get(canon, 0) + 1
    return tuple(orbits.items())


def _set_partitions(items: list[int]):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in _set_partitions(rest):
        yield [[first]] + part
        for k in range(len(part)):
            yield part[:k] + [[first] + part[k]] + part[k + 1:]
