"""The one-to-many ranking at θ = 0 in one pass: the scan and the selection fused, with exact
pruning by per-locus upper bounds.

For one person U, row r's score is the compiled scan's (:func:`.kernels.scan`)

    S_r = log10( Π_j f_j(r) ),   f_j(r) = (a_p b_q + b_p a_q) c_j   (loci j in ascending order),

computed with the same operations in the same order (the running product renormalised by
``frexp`` after every 8th locus), so every score is bit for bit the scan's.  What changes is
which rows are computed to the end:

*Eligibility first.*  Sex, dates and loci in common do not depend on the score; a row that
fails them is counted (and listed) as :func:`.kernels._select_py` does, and never scored.

*The threshold.*  A row is reported only when S_r >= t, where t starts at ``min_log`` and,
with ``top_k``, rises to the k-th best score among the rows kept so far (never above the
k-th best of all rows, so a row below t can never be in the final top k or tied with it).

*Pair keys.*  Each (row, locus) holds one id of its (p, q) pair of keys (:class:`PairKeys`: the
distinct pairs of a locus, numbered by how many rows use them, 16 bits when a locus has at most
65,536); per query f of every pair of U's loci is computed once, with the scan's arithmetic, and
a row multiplies its running product by f(pair): the scan's product, one look-up instead of four.

*Pruning (exact).*  M_j = the largest f over the pairs of locus j (NaN skipped) is a true bound:
f_j(r) <= M_j for every row r whose f_j(r) is not NaN (a NaN makes S_r NaN, and such a row is
never reported anyway).  After locus j the running product is R = acc 2^e with acc < 2^E (E
from acc's exponent field), and S_r <= log10 R + Σ_{j' > j} log10 M_j' up to rounding: each of
the at most n remaining products has relative error <= 2^-52, and the logarithms and sums in the
score and in the bound add errors far below 1e-12 for any |S| < 10^3.  A row is dropped when
(e + E) log10 2 + Σ_{j' > j} log10 M_j' is below t - MARGIN (MARGIN = 1e-9 + 1e-12 |t|), so a
dropped row has S_r < t: the unpruned scan and selection do not report it either.  Rows with a
NaN or infinite product or bound are never dropped.  The same test, without the remaining
bounds, skips the log10 of a row certainly below t.  Tests compare the rows, scores, counts and
listed rows with the unpruned scan and :func:`.kernels._select_py` on random cases.

*Details.*  The reported rows' per-locus LRs (:func:`lr_per_locus_rows`, one locus at a time
over all of them) and inconsistent loci (:func:`inconsistent_loci_rows`, from the rows' keys)
are the index's own, computed with the same operations.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from reunite.search.index.kernels import LOG10_2, NO_DATE, numba

#: Whether the index ranks and reports by this module (the old path, scan then selection,
#: when False: the benchmark's baseline; the results are the same either way).
ENABLED = True

#: Most pairs of a locus numbered in 16 bits (the others in 32).
NARROW_PAIRS = 1 << 16

#: Rows per block: the keys and running products of a block stay in the first-level cache.
BLOCK = 1024

#: Prune after these many loci (and every PRUNE_EVERY after): until the first check every row of a
#: block is scored in one contiguous loop (the fastest); earlier checks drop too few rows to pay for
#: the indirect loop after them (measured on 100,000 rows: about 30 % of the rows fall below the bound after
#: 8 loci, 60 % after 12, 80 % after 16, 92 % after 20).
PRUNE_FIRST = 12
PRUNE_EVERY = 4


def remaining_log10(bounds: np.ndarray) -> np.ndarray:
    """rem[j] = Σ_{j' >= j} log10 M_j' (rem[n] = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log10(bounds)
    rem = np.zeros(len(bounds) + 1)
    for j in range(len(bounds) - 1, -1, -1):
        rem[j] = rem[j + 1] + logs[j]
    return rem


def prune_points(n_loci: int) -> np.ndarray:
    """Whether to check the bound after locus j (j = 0 .. n_loci - 1)."""
    out = np.zeros(n_loci, dtype=np.bool_)
    for j in range(PRUNE_FIRST - 1, n_loci - 1, PRUNE_EVERY):
        out[j] = True
    return out


if numba is not None:
    @numba.njit(cache=True, nogil=True)
    def _grow(a, n):  # pragma: no cover
        out = np.empty(2 * a.size, dtype=a.dtype)
        out[:n] = a[:n]
        return out

    @numba.njit(cache=True, nogil=True, inline="always")
    def _renormalise(acc, bits, expo, i):  # pragma: no cover
        """acc[i], expo[i] = frexp(acc[i]) with expo[i] += the exponent; bit for bit
        ``math.frexp`` (the mantissa's exponent field set to 1022), which is called for
        zero, subnormal, infinite and NaN values."""
        b = bits[i]
        field = (b >> np.uint64(52)) & np.uint64(0x7FF)
        if field == np.uint64(0) or field == np.uint64(0x7FF):
            m, e = math.frexp(acc[i])
            acc[i] = m
            expo[i] += e
        else:
            bits[i] = (b & np.uint64(0x800FFFFFFFFFFFFF)) | np.uint64(1022 << 52)
            expo[i] += np.float64(np.int64(field) - 1022)

    @numba.njit(cache=True, nogil=True, inline="always")
    def _log2_above(bits, expo, i):  # pragma: no cover
        """A number > log2(acc[i] 2^expo[i]) for a finite acc[i] (from its exponent field);
        +inf for an infinite or NaN one."""
        field = (bits[i] >> np.uint64(52)) & np.uint64(0x7FF)
        if field == np.uint64(0x7FF):
            return math.inf
        return expo[i] + np.float64(np.int64(field) - 1022)

    @numba.njit(cache=True, nogil=True, inline="always")
    def _common_nb(ref_mask, r, u_mask):  # pragma: no cover
        """Loci typed in row r's references and in U (popcount, word by word)."""
        total = 0
        for w in range(u_mask.size):
            x = ref_mask[r, w] & u_mask[w]
            x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
            x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
            x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
            total += np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))
        return total

    @numba.njit(cache=True, nogil=True)
    def rank_range(narrow, wide, slot, vals, pair_off, loci, rem, check, start, stop, m_sex, ref_mask, u_sex, u_mask,
                   min_common, min_log, top_k, max_listed, m_birth, m_missing, u_birth, u_found, tol,
                   max_listed_age, prune):  # pragma: no cover
        """Rows ``start`` .. ``stop`` of the combined arrays: the scan and
        :func:`.kernels._select_nb` in one pass (see the module doc).  Returns (rows kept,
        their scores, number skipped for sex, for loci, rows listed for loci, number skipped
        for dates, rows listed for dates); rows are absolute, ascending."""
        acc = np.empty(BLOCK)
        bits = acc.view(np.uint64)
        expo = np.empty(BLOCK)
        act = np.empty(BLOCK, dtype=np.int64)
        ok = np.empty(BLOCK, dtype=np.bool_)
        cap = max(1024, 8 * top_k) if top_k > 0 else 4096
        buf = np.empty(cap, dtype=np.int64)
        bval = np.empty(cap)
        listed = np.empty(max_listed, dtype=np.int64)
        listed_age = np.empty(max_listed_age, dtype=np.int64)
        limit = max(64, 4 * top_k) if top_k > 0 else -1
        nb = 0
        n_sex = 0
        n_age = 0
        n_few = 0
        n_listed = 0
        n_listed_age = 0
        threshold = min_log
        no_date = np.int64(NO_DATE)
        top = np.int64(np.iinfo(np.int64).max)
        ub = np.int64(u_birth)
        uf = np.int64(u_found)
        tl = np.int64(tol)
        lo = ub - tl if ub != no_date else no_date
        hi = ub + tl if ub != no_date else top
        if uf != no_date and uf < hi:
            hi = uf
        lo3 = lo
        dated = ub != no_date or uf != no_date
        for b0 in range(start, stop, BLOCK):
            b1 = min(stop, b0 + BLOCK)
            n_ok = 0
            for r in range(b0, b1):
                ok[r - b0] = False
                ms = m_sex[r]
                if u_sex != 0 and ms != 0 and ms != u_sex:
                    n_sex += 1
                    continue
                if dated:
                    mb = np.int64(m_birth[r])
                    mm = np.int64(m_missing[r])
                    if (mb > no_date and (mb < lo or mb > hi)) or (mm > no_date and mm < lo3):
                        if n_listed_age < max_listed_age:
                            listed_age[n_listed_age] = r
                            n_listed_age += 1
                        n_age += 1
                        continue
                if min_common > 0 and _common_nb(ref_mask, r, u_mask) < min_common:
                    if n_listed < max_listed:
                        listed[n_listed] = r
                        n_listed += 1
                    n_few += 1
                    continue
                ok[r - b0] = True
                n_ok += 1
            if n_ok == 0:
                continue
            cut = threshold - (1e-9 + 1e-12 * abs(threshold)) if prune else -math.inf
            na = _pairs_block(narrow, wide, slot, vals, pair_off, loci, rem, check, b0, b1 - b0, ok, act, acc, bits,
                              expo, cut)
            below = (threshold - (1e-9 + 1e-12 * abs(threshold))) / LOG10_2
            for i in range(na):
                if _log2_above(bits, expo, i) < below:  # certainly below the threshold: no log10
                    continue
                v = math.log10(acc[i]) + expo[i] * LOG10_2
                if not (v >= threshold):
                    continue
                if nb == buf.size:
                    buf = _grow(buf, nb)
                    bval = _grow(bval, nb)
                buf[nb] = act[i]
                bval[nb] = v
                nb += 1
                if limit > 0 and nb >= limit:  # keep the best top_k and their ties; raise the threshold
                    kth = np.partition(bval[:nb], nb - top_k)[nb - top_k]
                    m = 0
                    for k in range(nb):
                        if bval[k] >= kth:
                            buf[m] = buf[k]
                            bval[m] = bval[k]
                            m += 1
                    nb = m
                    if kth > threshold:
                        threshold = kth
                    if nb >= limit:  # all tied
                        limit = 2 * nb
        rows = buf[:nb].copy()
        scores = bval[:nb].copy()
        if top_k >= 0 and nb > top_k:
            if top_k == 0:
                rows = rows[:0]
                scores = scores[:0]
            else:
                kth = np.partition(scores, nb - top_k)[nb - top_k]
                keep = scores >= kth
                rows = rows[keep]
                scores = scores[keep]
        return rows, scores, n_sex, n_few, listed[:n_listed].copy(), n_age, listed_age[:n_listed_age].copy()

else:  # pragma: no cover
    rank_range = None


def _number_pairs_py(kp_row, kq_row, size):
    """NumPy version of :func:`_number_pairs` (pairs numbered in order of first appearance)."""
    packed = kp_row.astype(np.int64) * size + kq_row
    uniq, first, inverse = np.unique(packed, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty(len(uniq), dtype=np.int64)
    rank[order] = np.arange(len(uniq))
    return rank[inverse.reshape(-1)], uniq[order]


if numba is not None:
    @numba.njit(cache=True, nogil=True)
    def _number_pairs(kp_row, kq_row, size):  # pragma: no cover
        """(id per row, packed pair p * size + q per id): the pairs numbered in order of first
        appearance, by an open-addressing hash table doubled at half full."""
        n = kp_row.size
        cap = 1 << 12
        keys = np.full(cap, -1, dtype=np.int64)
        slots = np.empty(cap, dtype=np.int64)
        ids = np.empty(n, dtype=np.int64)
        uniq = np.empty(min(n, 1 << 12), dtype=np.int64)
        m = 0
        mult = np.uint64(0x9E3779B97F4A7C15)
        for i in range(n):
            k = np.int64(kp_row[i]) * size + np.int64(kq_row[i])
            h = np.int64((np.uint64(k) * mult) >> np.uint64(40)) & (cap - 1)
            while keys[h] != k and keys[h] != -1:
                h = (h + 1) & (cap - 1)
            if keys[h] == k:
                ids[i] = slots[h]
                continue
            keys[h] = k
            slots[h] = m
            if m == uniq.size:
                grown = np.empty(2 * uniq.size, dtype=np.int64)
                grown[:m] = uniq[:m]
                uniq = grown
            uniq[m] = k
            ids[i] = m
            m += 1
            if 2 * m > cap:  # rehash into twice the room
                cap *= 2
                keys = np.full(cap, -1, dtype=np.int64)
                slots = np.empty(cap, dtype=np.int64)
                for t in range(m):
                    kk = uniq[t]
                    h = np.int64((np.uint64(kk) * mult) >> np.uint64(40)) & (cap - 1)
                    while keys[h] != -1:
                        h = (h + 1) & (cap - 1)
                    keys[h] = kk
                    slots[h] = t
        return ids, uniq[:m].copy()
else:  # pragma: no cover
    _number_pairs = _number_pairs_py


class PairKeys:
    """The rows' keys as one id per (row, locus): the distinct (p, q) pairs of each locus,
    numbered.  ``narrow`` (uint16) holds the loci with at most 65,536 pairs, ``wide``
    (uint32) the others; ``slot[li]`` is the locus' row in ``narrow`` (>= 0) or
    ``-1 - row`` in ``wide``; locus li's pairs are ``pair_p[pair_off[li]:pair_off[li + 1]]``
    (and ``pair_q``), as keys of the combined tables."""

    def __init__(self, kp, kq, sizes):
        n_loci, n_rows = kp.shape
        ids, pp, pq, counts = [], [], [], []
        for li in range(n_loci):
            inverse, uniq = _number_pairs(kp[li], kq[li], int(sizes[li]))
            # numbered by decreasing use: the values most rows read share few cache lines
            by_use = np.argsort(-np.bincount(inverse, minlength=len(uniq)), kind="stable")
            rank = np.empty(len(uniq), dtype=np.int64)
            rank[by_use] = np.arange(len(uniq))
            ids.append(rank[inverse])
            uniq = uniq[by_use]
            pp.append(uniq // int(sizes[li]))
            pq.append(uniq % int(sizes[li]))
            counts.append(len(uniq))
        wide = [li for li in range(n_loci) if counts[li] > NARROW_PAIRS]
        narrow = [li for li in range(n_loci) if counts[li] <= NARROW_PAIRS]
        self.slot = np.zeros(n_loci, dtype=np.int64)
        self.narrow = np.empty((len(narrow), n_rows), dtype=np.uint16)
        self.wide = np.empty((len(wide), n_rows), dtype=np.uint32)
        for k, li in enumerate(narrow):
            self.slot[li] = k
            self.narrow[k] = ids[li]
        for k, li in enumerate(wide):
            self.slot[li] = -1 - k
            self.wide[k] = ids[li]
        self.pair_off = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        cat = (lambda xs: np.concatenate(xs).astype(np.int64) if xs else np.zeros(0, dtype=np.int64))
        self.pair_p, self.pair_q = cat(pp), cat(pq)

    @property
    def nbytes(self) -> int:
        return self.narrow.nbytes + self.wide.nbytes + self.pair_p.nbytes + self.pair_q.nbytes + self.slot.nbytes


_PAIRS_LOCK = threading.Lock()


def pair_keys(index) -> PairKeys:
    """The :class:`PairKeys` of the index' combined arrays (made once, by one thread, and
    kept with them)."""
    combined = index.combined()
    cached = getattr(index, "_fast_pairs", None)
    if cached is not None and cached[0] is combined[0]:
        return cached[1]
    with _PAIRS_LOCK:
        cached = getattr(index, "_fast_pairs", None)
        if cached is not None and cached[0] is combined[0]:
            return cached[1]
        kp, kq, n_sides, n_dense = combined[:4]
        keys = PairKeys(kp, kq, n_sides + n_dense + 1)
        index._fast_pairs = (combined[0], keys)
        return keys


def pair_values_py(ab, offsets, inv, loci, pair_off, pair_p, pair_q):
    """NumPy version of :func:`pair_values`."""
    vals = np.zeros(pair_off[-1])
    bounds = np.zeros(len(loci))
    for j, li in enumerate(loci):
        a, b = pair_off[li], pair_off[li + 1]
        p = 2 * (offsets[li] + pair_p[a:b])
        q = 2 * (offsets[li] + pair_q[a:b])
        with np.errstate(invalid="ignore"):
            vals[a:b] = (ab[p] * ab[q + 1] + ab[p + 1] * ab[q]) * inv[li]
        bounds[j] = np.nanmax(vals[a:b], initial=0.0) if b > a else 0.0
    return vals, bounds


if numba is not None:
    @numba.njit(cache=True, nogil=True, boundscheck=False)
    def pair_values(ab, offsets, inv, loci, pair_off, pair_p, pair_q):  # pragma: no cover
        """Per pair of the loci of U: f = (a_p b_q + b_p a_q) c, the scan's arithmetic; and
        per locus of ``loci`` the largest (NaN skipped), M_j."""
        vals = np.zeros(pair_off[-1])
        bounds = np.zeros(loci.size)
        for j in range(loci.size):
            li = loci[j]
            c = inv[li]
            o = 2 * offsets[li]
            m = 0.0
            for k in range(pair_off[li], pair_off[li + 1]):
                p = o + 2 * pair_p[k]
                q = o + 2 * pair_q[k]
                v = (ab[p] * ab[q + 1] + ab[p + 1] * ab[q]) * c
                vals[k] = v
                if v > m:
                    m = v
            bounds[j] = m
        return vals, bounds

    @numba.njit(cache=True, nogil=True, boundscheck=False)
    def _prune(act, acc, bits, expo, na, cut):  # pragma: no cover
        """Keep (in order) the rows whose bound on acc 2^expo (in log2) is not below ``cut``
        (in log10)."""
        kept = 0
        cut2 = cut / LOG10_2
        for i in range(na):
            if _log2_above(bits, expo, i) < cut2:
                continue
            act[kept] = act[i]
            acc[kept] = acc[i]
            expo[kept] = expo[i]
            kept += 1
        return kept

    @numba.njit(cache=True, nogil=True, inline="always")
    def _quad(slot, loci, check, j, end):  # pragma: no cover
        """Whether loci j .. j + 3 can be multiplied in one loop: all before ``end``, in 16-bit
        ids, and no renormalisation or bound check after any but the last."""
        if j + 4 > end:
            return False
        for t in range(j, j + 4):
            if slot[loci[t]] < 0:
                return False
            if t < j + 3 and (check[t] or (t & 7) == 7):
                return False
        return True

    @numba.njit(cache=True, nogil=True, boundscheck=False)
    def _pairs_block(narrow, wide, slot, vals, pair_off, loci, rem, check, b0, n, ok, act, acc, bits, expo,
                     limit):  # pragma: no cover
        """The scan of rows ``b0`` .. ``b0 + n`` by pair ids, acc *= f(pair): the same
        products as :func:`.kernels.scan` in the same order.  Every row of the block up to
        the first checked locus (contiguous, the fastest loop), then only the rows ``ok``
        and, at each checked locus, not dropped by their bound against ``limit``.  Returns
        the number of rows left, first in ``act`` (absolute rows), ``acc``, ``expo``."""
        un = np.uint64(n)
        for i in range(un):
            acc[i] = 1.0
            expo[i] = 0.0
        n_loci = loci.size
        first = n_loci
        for j in range(n_loci):
            if check[j]:
                first = j + 1
                break
        j = 0
        while j < first:
            if _quad(slot, loci, check, j, first):  # four loci in one loop: (((acc f0) f1) f2) f3, the same products
                s0, s1, s2, s3 = slot[loci[j]], slot[loci[j + 1]], slot[loci[j + 2]], slot[loci[j + 3]]
                v0 = vals[pair_off[loci[j]]:pair_off[loci[j] + 1]]
                v1 = vals[pair_off[loci[j + 1]]:pair_off[loci[j + 1] + 1]]
                v2 = vals[pair_off[loci[j + 2]]:pair_off[loci[j + 2] + 1]]
                v3 = vals[pair_off[loci[j + 3]]:pair_off[loci[j + 3] + 1]]
                r0, r1 = narrow[s0, b0:b0 + n], narrow[s1, b0:b0 + n]
                r2, r3 = narrow[s2, b0:b0 + n], narrow[s3, b0:b0 + n]
                for i in range(un):
                    acc[i] = (((acc[i] * v0[np.uint64(r0[i])]) * v1[np.uint64(r1[i])]) * v2[np.uint64(r2[i])]) \
                        * v3[np.uint64(r3[i])]
                j += 3
            else:
                li = loci[j]
                s = slot[li]
                v = vals[pair_off[li]:pair_off[li + 1]]
                if s >= 0:
                    row = narrow[s, b0:b0 + n]
                    for i in range(un):
                        acc[i] *= v[np.uint64(row[i])]
                else:
                    roww = wide[-1 - s, b0:b0 + n]
                    for i in range(un):
                        acc[i] *= v[np.uint64(roww[i])]
            if (j & 7) == 7:
                for i in range(un):
                    _renormalise(acc, bits, expo, i)
            j += 1
        na = 0
        for i in range(n):
            if ok[i]:
                act[na] = b0 + i
                acc[na] = acc[i]
                expo[na] = expo[i]
                na += 1
        if first < n_loci or (first > 0 and check[first - 1]):
            cut = limit - rem[first]
            if cut > -math.inf:  # (limit -inf: nothing can be dropped; a NaN bound: neither)
                na = _prune(act, acc, bits, expo, na, cut)
        j = first
        while j < n_loci:
            if na == 0:
                break
            una = np.uint64(na)
            if _quad(slot, loci, check, j, n_loci):
                s0, s1, s2, s3 = slot[loci[j]], slot[loci[j + 1]], slot[loci[j + 2]], slot[loci[j + 3]]
                v0 = vals[pair_off[loci[j]]:pair_off[loci[j] + 1]]
                v1 = vals[pair_off[loci[j + 1]]:pair_off[loci[j + 1] + 1]]
                v2 = vals[pair_off[loci[j + 2]]:pair_off[loci[j + 2] + 1]]
                v3 = vals[pair_off[loci[j + 3]]:pair_off[loci[j + 3] + 1]]
                r0, r1, r2, r3 = narrow[s0], narrow[s1], narrow[s2], narrow[s3]
                for i in range(una):
                    r = np.uint64(act[i])
                    acc[i] = (((acc[i] * v0[np.uint64(r0[r])]) * v1[np.uint64(r1[r])]) * v2[np.uint64(r2[r])]) \
                        * v3[np.uint64(r3[r])]
                j += 3
            else:
                li = loci[j]
                s = slot[li]
                v = vals[pair_off[li]:pair_off[li + 1]]
                if s >= 0:
                    row = narrow[s]
                    for i in range(una):
                        acc[i] *= v[np.uint64(row[np.uint64(act[i])])]
                else:
                    roww = wide[-1 - s]
                    for i in range(una):
                        acc[i] *= v[np.uint64(roww[np.uint64(act[i])])]
            if (j & 7) == 7:
                for i in range(una):
                    _renormalise(acc, bits, expo, i)
            if check[j]:
                cut = limit - rem[j + 1]
                if cut > -math.inf:
                    na = _prune(act, acc, bits, expo, na, cut)
            j += 1
        return na


def prepare(index, q, *, prune: bool = True) -> tuple:
    """Per query ``q`` (:meth:`FamilyIndex.query`): the pair keys, the value of every pair
    of U's loci, the remaining bounds in log10 and where to check them."""
    keys = pair_keys(index)
    ab, offsets, inv, loci = q
    vals, bounds = pair_values(ab, offsets, inv, loci, keys.pair_off, keys.pair_p, keys.pair_q)
    check = prune_points(len(loci)) if prune else np.zeros(len(loci), dtype=np.bool_)
    return keys, vals, remaining_log10(bounds), check


#: With threads, a row range is split only into pieces of at least this many rows.
MIN_ROWS_PER_THREAD = 65_536


def search_rows(index, profile, *, sex: str, min_common: int, min_log: float, top_k: int | None,
                max_listed: int = 0, threads: int = 1, q=None, dates=(NO_DATE, NO_DATE, 0), prune: bool = True):
    """:meth:`FamilyIndex.search_rows` by the fused, pruned ranking: the same counts and
    listed rows, and every reported score bit for bit the scan's.  ``threads`` > 1 splits
    each sex block into pieces ranked at once (the kernel releases the GIL); as for the sex
    blocks, each piece keeps its own top ``top_k`` with their ties and the caller ranks
    them (so with threads more rows may come back; the caller's top k is the same)."""
    from reunite.search.index.table import SEX_CODE

    q = index.query(profile) if q is None else q
    if q is None:
        return None
    _, _, _, _, _, _, order, bounds, m_sex, ref_mask, m_birth, m_missing = index.combined()
    code = SEX_CODE.get(sex, 0)
    ranges = [bounds[0], bounds[code]] if code else [(0, len(index))]
    n_sex = 0 if not code else bounds[3 - code][1] - bounds[3 - code][0]
    u_mask = index.locus_words(profile)
    u_birth, u_found, tol = (int(x) for x in dates)
    if not index._any_dated(m_birth, m_missing):
        u_birth = u_found = NO_DATE
    keys, pvals, rem, check = prepare(index, q, prune=prune)
    loci = q[3]
    pieces = []
    for a, b in ranges:
        step = max(MIN_ROWS_PER_THREAD, -(-(b - a) // max(1, threads)))
        pieces += [(k, min(b, k + step)) for k in range(a, b, step)]

    def rank(piece):
        a, b = piece
        return rank_range(keys.narrow, keys.wide, keys.slot, pvals, keys.pair_off, loci, rem, check, a, b, m_sex,
                          ref_mask, code, u_mask, min_common, min_log, -1 if top_k is None else top_k, max_listed,
                          m_birth, m_missing, u_birth, u_found, tol, max_listed, prune)

    if threads > 1 and len(pieces) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=threads) as pool:
            results = list(pool.map(rank, pieces))
    else:
        results = [rank(piece) for piece in pieces]
    rows, vals, n_few, few, n_age, aged = [], [], 0, [], 0, []
    for r, v, _, nf, lf, na, la in results:  # in row order: the first rows skipped are listed
        rows.append(order[r])
        vals.append(v)
        n_few += nf
        n_age += na
        few += order[lf[:max(0, max_listed - len(few))]].tolist()
        aged += order[la[:max(0, max_listed - len(aged))]].tolist()
    cat = (lambda xs, dtype: np.concatenate(xs) if xs else np.zeros(0, dtype=dtype))
    return (cat(rows, np.int64), cat(vals, float), n_sex, n_age, n_few, np.array(few, dtype=np.int64),
            np.array(aged, dtype=np.int64))


def lr_per_locus_rows(index, profile, rows) -> list[dict[str, float]]:
    """``[index.lr_per_locus(profile, r) for r in rows]``, bit for bit (the same operations
    on the same numbers), one locus at a time over every row (θ = 0; θ > 0 row by row)."""
    rows = np.asarray(rows, dtype=np.int64)
    values = getattr(index, "_locus_values", None)
    if getattr(index, "theta", 0.0) > 0 or values is None or not len(rows):
        return [index.lr_per_locus(profile, int(r)) for r in rows]
    from reunite.search.index.rare import absent_alleles

    absent = absent_alleles(index, profile)
    cols = {}
    for locus, (a, b) in profile.items():
        li = index.locus_idx[locus]
        x, y, sides, dense, afreq = values(li, a, b, absent.get(locus))
        p = index.key_p[rows, li].astype(np.int64)
        q = index.key_q[rows, li].astype(np.int64)
        side = q >= 0
        v = np.empty(len(rows))
        ps, qs = p[side], q[side]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            v[side] = (sides[ps, x] * sides[qs, y] + sides[ps, y] * sides[qs, x]) / (2.0 * afreq[x] * afreq[y])
        v[~side] = dense[p[~side], x, y]
        cols[locus] = v.tolist()
    return [{locus: cols[locus][k] for locus in profile} for k in range(len(rows))]


def _slot_parts(index, li: int) -> tuple[list, list]:
    """Per side and per dense slot of locus ``li``: its (canon, genotype row) key (the
    registries inverted; kept while they do not grow)."""
    tab = index.tables[li]
    cache = index.__dict__.setdefault("_fast_slots", {})
    size = (len(tab.side_keys), len(tab.dense_keys), id(tab.side_keys), id(tab.dense_keys))
    hit = cache.get(li)
    if hit is None or hit[0] != size:
        sides, dense = [None] * len(tab.sides), [None] * len(tab.dense)
        for key, slot in tab.side_keys.items():
            sides[slot] = key
        for key, slot in tab.dense_keys.items():
            dense[slot] = key
        hit = cache[li] = (size, sides, dense)
    return hit[1], hit[2]


def inconsistent_loci_rows(index, cands, rows) -> None:
    """:meth:`FamilyIndex.inconsistent_loci` (the same loci) with each candidate's requisite
    genotypes read from its row's keys (``rows[k]``: the index row of ``cands[k]``) instead
    of rebuilt from the family: a side or dense key is one (canon, genotypes) of the
    registries, whose no-mutation support the index computes once and keeps.  A locus
    where some references were left out of the plan (fewer requisite than typed) also
    needs P0(all references) > 0, from the engine as the index does it.  Candidates with
    an extended table (an allele absent from the table) go through the index's method."""
    from reunite.genetics.likelihood import MarkerData, likelihoods_many

    if getattr(index, "theta", 0.0) > 0:
        index.inconsistent_loci(cands)
        return
    slow, checks, refs_jobs = [], [], []
    slots: dict[int, tuple] = {}  # locus -> (side keys, dense keys) by slot
    locus_idx, tables = index.locus_idx, index.tables
    for k, (c, r) in enumerate(zip(cands, rows)):
        c.inconsistent_loci = []
        f = c.family
        typed_at: dict[str, int] = {}
        for prof in f.references.values():
            for locus in prof:
                typed_at[locus] = typed_at.get(locus, 0) + 1
        key_p, key_q = index.key_p[r].tolist(), index.key_q[r].tolist()
        mine = []
        for locus, (a, b) in c.unidentified.profile.items():
            li = locus_idx[locus]
            tab = tables[li]
            x, y = tab.index.get(a), tab.index.get(b)
            p, q = key_p[li], key_q[li]
            hit = slots.get(li)
            if hit is None:
                hit = slots[li] = _slot_parts(index, li)
            if x is None or y is None:
                break
            if q < 0:
                canon, row = hit[1][p]
                if canon[0] == "extended":
                    break
                parts = (("dense", li, canon, row),)
                n_req = len(row)
            else:
                (cp, rp), (cq, rq) = hit[0][p], hit[0][q]
                parts = (("P", li, cp, rp), ("Q", li, cq, rq))
                n_req = len(rp) + len(rq)
            if n_req != typed_at.get(locus, 0):  # references left out of the plan
                pedigree = f.pedigree
                genos = {}
                for pid, prof in f.references.items():
                    g = prof.get(locus)
                    if g is not None:
                        ia, ib = tab.index[g[0]], tab.index[g[1]]
                        genos[pedigree.index[pid]] = (min(ia, ib), max(ia, ib))
                mine.append((k, locus, (pedigree.structure_key(), MarkerData(tab.afreq, None, None, genos, 0.0,
                                                                             True)), None))
            mine.append((k, locus, x, y, parts))
        else:
            for item in mine:
                (checks if item[-1] is not None else refs_jobs).append(item)
            continue
        slow.append(c)
    index._fill_support0([parts for *_, parts in checks]) if hasattr(index, "_fill_support0") \
        else _fill_support0(index, [parts for *_, parts in checks])
    support = index._support0
    for k, locus, x, y, parts in checks:
        if parts[0][0] == "dense":
            ok = bool(support[(parts[0][1], parts[0][2], parts[0][3])][x, y])
        else:
            sp = support[(parts[0][1], parts[0][2], parts[0][3])]
            sq = support[(parts[1][1], parts[1][2], parts[1][3])]
            ok = bool((sp[x] and sq[y]) or (sp[y] and sq[x]))
        if not ok:
            cands[k].inconsistent_loci.append(locus)
    if refs_jobs:
        values = likelihoods_many([job for _, _, job, _ in refs_jobs])
        for (k, locus, _, _), v in zip(refs_jobs, values):
            if v == 0.0 and locus not in cands[k].inconsistent_loci:
                cands[k].inconsistent_loci.append(locus)
    for c in cands:
        c.inconsistent_loci.sort()
    if slow:
        index.inconsistent_loci(slow)


def _fill_support0(index, wanted) -> None:
    """The no-mutation support of every (li, canon, genotypes) of ``wanted`` (lists of
    parts (kind, li, canon, row)) not yet in ``index._support0``: by the closed forms, else
    the engine's joint tables (as :meth:`FamilyIndex.inconsistent_loci` computes them)."""
    from reunite.genetics.likelihood import MarkerData, joint_tables
    from reunite.search.index.closed_forms import _closed_form_siblings, _closed_form_sides
    from reunite.search.index.table import LocusTables

    missing: dict = {}
    for parts in wanted:
        for kind, li, canon, row in parts:
            if (li, canon, row) not in index._support0:
                missing.setdefault((li, canon), set()).add(row)
    for (li, (kind, structure, m_pos, local)), rows in missing.items():
        tab = index.tables[li]
        n = len(tab.afreq)
        rows = sorted(rows)
        plain = LocusTables(tab.alleles, tab.afreq, None, None, tab.index)  # no mutation
        new = list(enumerate(rows))
        closed = (_closed_form_siblings(structure, m_pos, local, new, plain) if kind == "dense"
                  else _closed_form_sides(kind, structure, m_pos, local, new, plain))
        if closed is not None:
            for row, vec in zip(rows, closed):
                with np.errstate(invalid="ignore"):
                    index._support0[(li, (kind, structure, m_pos, local), row)] = vec > 0
            continue
        jobs = [(structure, MarkerData(tab.afreq, None, None, {p: divmod(c, n) for p, c in zip(local, row)}), m_pos)
                for row in rows]
        for row, t in zip(rows, joint_tables(jobs)):
            if kind == "P":
                sup = t.sum(axis=1) > 0
            elif kind == "Q":
                sup = t.sum(axis=0) > 0
            else:
                sup = (t + t.T) > 0
            index._support0[(li, (kind, structure, m_pos, local), row)] = sup


__all__ = ["BLOCK", "PairKeys", "inconsistent_loci_rows", "lr_per_locus_rows", "pair_keys", "pair_values", "pair_values_py", "prepare", "prune_points",
           "rank_range", "remaining_log10", "search_rows"]
