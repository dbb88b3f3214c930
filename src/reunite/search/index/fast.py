"""The one-to-many ranking at θ = 0 in one pass: the scan and the selection fused, with exact
pruning by integer upper bounds of the rows' log2 LRs.

For one person U, row r's score is the compiled scan's (:func:`.kernels.scan`)

    S_r = log10( Π_j f_j(r) ),   f_j(r) = (a_p b_q + b_p a_q) c_j   (loci j in ascending order),

and every reported score is computed with the same operations in the same order (the running
product renormalised by ``frexp`` after every 8th locus, :func:`_score`), so it is bit for bit
the scan's.  What changes is which rows are scored at all:

*Eligibility first.*  Sex, dates and loci in common do not depend on the score; a row that
fails them is counted (and listed) as :func:`.kernels._select_py` does, and never scored.  When
U is typed at every locus typed in any row's references, a row's loci in common are its own
count of typed loci (:func:`typed_counts`, kept with the combined arrays).

*The threshold.*  A row is reported only when S_r >= t, where t starts at ``min_log`` and,
with ``top_k``, rises to the k-th best score among the rows kept so far (never above the
k-th best of all rows, so a row below t can never be in the final top k or tied with it).

*Pair keys.*  Each (row, locus) holds one id of its (p, q) pair of keys (:class:`PairKeys`: the
distinct pairs of a locus, numbered by how many rows use them, 16 bits when a locus has at most
65,536); per query f of every pair of U's loci is computed once (:func:`pair_prepare`), with the
scan's arithmetic, so the scan's product is one look-up per locus instead of four.

*Bounds.*  With f, each pair gets an integer w(f) >= 4096 log2 |f|: for |f| = 2^e m (m in
[1, 2), its top 12 mantissa bits k, so m < 1 + (k + 1)/4096), w = 4096 e + LUT[k] with LUT[k]
= ceil(4096 log2(1 + (k + 1)/4096)) + 1 (the +1 covers the rounding of log2 in the table).
Outside the safe range 2^-100 <= |f| < 2^100, and for an infinite f, w = W_HIGH = 2^30 (such a
row is never dropped); for f = 0 or NaN, w = W_LOW = -2^30 (its score is -inf or NaN).  W_j is
the largest w of locus j's pairs, an upper bound of w_j(r) for every row.  The loci are visited
in any order (per query: the largest total shortfall Σ rows x (W_j - w) first, over the most
used pairs: the loci that drop most rows soonest), and after some of them a row's bound is
B = Σ_{visited} w_j(r) + Σ_{others} W_j, an exact integer sum.

*Pruning (exact).*  With t finite and |t| <= 10^4 (otherwise nothing is dropped) and at most
200 loci, the cut is T = floor((t - MARGIN) 4096 / log10 2) - 1, MARGIN = 1e-9 + 1e-12 |t|, and
a row is dropped (at a checked position, and after the last locus) when B < T.  Then S_r < t
or S_r is not a number, so the unpruned scan and selection do not report it either:

- some f_j(r) is 0 or NaN: the scan's product is 0 or NaN (0 x inf is NaN), S_r is -inf or
  NaN, below any finite t;
- some w_j(r) = W_HIGH: then B >= 2^30 - 199 x 4096 x 100 > 1.36e8 >= T (|t| <= 10^4), never
  dropped;
- otherwise every |f_j| is in [2^-100, 2^100) and the scan's running product (renormalised to
  [1/2, 1) after every 8th locus) stays between 2^-801 and 2^800: no underflow or overflow, so
  each of the n <= 200 products has relative error <= 2^-53 and log10 of the product is at
  most Σ_j log10 |f_j| + 1e-13; the log10 and the exponent's term add < 1e-12 for |S| < 10^3.
  So S_r <= log10(2) B / 4096 + 2e-12 < t - MARGIN + 2e-12 < t (T <= the exact value of
  (t - MARGIN) 4096 / log10 2 - 1, as the floating-point error of that quotient is below 1e-6).

A row that is not dropped after the last locus is scored exactly (:func:`_score`) and kept when
S_r >= t, as the unpruned selection keeps it.  Rows are bounded a block at a time: every row
of the block in one contiguous loop up to the first checked position (``PRUNE_FIRST``), then
only the rows still in.  Tests compare the rows, scores, counts and listed rows with the
unpruned scan and :func:`.kernels._select_py` on random cases (zeros, NaN, infinities, random
orders of the loci), w with 4096 log2 |f|, and the cut with the scan's scores.

*Gathers* (:mod:`.gathers`, re-exported here).  :meth:`FamilyIndex.query`'s per-key values at
U's alleles in one compiled pass, from the side vectors kept allele by allele.

*Details* (:mod:`.details`, re-exported here).  The reported rows' per-locus LRs
(:func:`lr_per_locus_rows`: from the person's query, kept a while (:func:`remember_query`),
every row and locus at once) and inconsistent loci (:func:`inconsistent_loci_rows`, from the
rows' keys and per-slot flat arrays, a person's candidates at once) are the index's own,
computed with the same operations.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from reunite.search.index.details import (  # noqa: F401 (the details, re-exported)
    inconsistent_loci_rows,
    lr_per_locus_rows,
    recall_query,
    remember_query,
)
from reunite.search.index.gathers import gather_query, query_gathers, sides_by_allele  # noqa: F401 (re-exported)
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


#: Quantised log2 bounds: a pair's bound w = an integer >= 4096 log2 |f| (:func:`pair_bounds`).
W_SCALE = 4096
#: w of a pair whose f is 0 or NaN (its rows are never reported: any value is a bound), and of
#: one whose f is infinite (larger than any sum of finite w's could cancel).
W_LOW = -(1 << 30)
W_HIGH = 1 << 30
#: The exponent fields of the safe range 2^-100 <= |f| < 2^100 (others: W_HIGH).
W_FIELDS = (1023 - 100, 1023 + 99)
#: Most loci the bounds are used for (more: nothing is dropped; see the module doc).
MAX_PRUNED_LOCI = 200


def _w_table() -> np.ndarray:
    """LUT[k] >= 4096 log2(m) for every mantissa m in [1 + k/4096, 1 + (k + 1)/4096)."""
    k = np.arange(W_SCALE, dtype=np.float64)
    return (np.ceil(W_SCALE * np.log2(1.0 + (k + 1.0) / W_SCALE)) + 1.0).astype(np.int64)


W_LUT = _w_table().astype(np.int32)


def w_bound(f: float) -> int:
    """Python version of the compiled pair bound (see the module doc)."""
    f = abs(float(f))
    if math.isnan(f) or f == 0.0:
        return W_LOW
    if math.isinf(f):
        return W_HIGH
    bits = int(np.float64(f).view(np.uint64))
    field, mant = (bits >> 52) & 0x7FF, bits & ((1 << 52) - 1)
    if not W_FIELDS[0] <= field <= W_FIELDS[1]:  # outside [2^-100, 2^100): never dropped
        return W_HIGH
    return (field - 1023) * W_SCALE + int(W_LUT[mant >> 40])


def prune_points(n_loci: int) -> np.ndarray:
    """Whether to check the bound after the j-th locus of the pruning order (j = 0 .. n_loci - 1;
    the last is always checked, by the final test)."""
    out = np.zeros(n_loci, dtype=np.bool_)
    for j in range(PRUNE_FIRST - 1, n_loci - 1, PRUNE_EVERY):
        out[j] = True
    return out


def threshold_w(t: float) -> int:
    """The integer cut T for a threshold t: a row whose bound B (sum of w's) is below T has a
    score below t (see the module doc); no cut (the smallest int64) when t is not a finite
    number of moderate size."""
    if not (abs(t) <= 1e4):
        return -(1 << 62)
    return int(math.floor((t - (1e-9 + 1e-12 * abs(t))) / LOG10_2 * W_SCALE)) - 1


if numba is not None:
    @numba.njit(cache=True, nogil=True)
    def _grow(a, n):  # pragma: no cover
        out = np.empty(2 * a.size, dtype=a.dtype)
        out[:n] = a[:n]
        return out

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

    @numba.njit(cache=True, nogil=True, inline="always")
    def _threshold_w(t):  # pragma: no cover
        """Compiled :func:`threshold_w`."""
        if not (abs(t) <= 1e4):
            return np.int64(-(1 << 62))
        return np.int64(math.floor((t - (1e-9 + 1e-12 * abs(t))) / LOG10_2 * W_SCALE)) - 1

    @numba.njit(cache=True, nogil=True, boundscheck=False)
    def _score(narrow, wide, slot, vals, pair_off, loci, r):  # pragma: no cover
        """Row r's score by the scan's operations in the scan's order (loci ascending, the
        running product renormalised by frexp after every 8th): bit for bit
        :func:`.kernels.scan`."""
        acc = 1.0
        expo = 0.0
        for j in range(loci.size):
            li = loci[j]
            s = slot[li]
            k = np.int64(narrow[s, r]) if s >= 0 else np.int64(wide[-1 - s, r])
            acc *= vals[pair_off[li] + k]
            if (j & 7) == 7:
                m, e = math.frexp(acc)
                acc = m
                expo += e
        return math.log10(acc) + expo * LOG10_2

    @numba.njit(cache=True, nogil=True, boundscheck=False)
    def _bounds_block(narrow, wide, slot, wq, pair_off, loci, porder, remw, check, b0, n, ok, act, bsum,
                      cut):  # pragma: no cover
        """The bounds B of rows ``b0`` .. ``b0 + n`` (sums of w over U's loci in the pruning
        order ``porder``, positions into ``loci``): every row of the block up to the first
        checked position (one contiguous loop), then only the rows ``ok`` whose B plus the
        remaining bound ``remw`` is not below ``cut`` at each checked position and at the end.
        Returns the number of rows left, first in ``act`` (rows relative to b0), ``bsum``."""
        n_loci = loci.size
        first = n_loci
        for j in range(n_loci):
            if check[j]:
                first = j + 1
                break
        un = np.uint64(n)
        for i in range(un):
            bsum[i] = 0
        j = 0
        while j < first:
            if j + 1 < first and slot[loci[porder[j]]] >= 0 and slot[loci[porder[j + 1]]] >= 0:
                l0, l1 = loci[porder[j]], loci[porder[j + 1]]
                w0 = wq[pair_off[l0]:pair_off[l0 + 1]]
                w1 = wq[pair_off[l1]:pair_off[l1 + 1]]
                r0 = narrow[slot[l0], b0:b0 + n]
                r1 = narrow[slot[l1], b0:b0 + n]
                for i in range(un):
                    bsum[i] += np.int64(w0[np.uint64(r0[i])]) + np.int64(w1[np.uint64(r1[i])])
                j += 2
                continue
            li = loci[porder[j]]
            s = slot[li]
            w = wq[pair_off[li]:pair_off[li + 1]]
            if s >= 0:
                row = narrow[s, b0:b0 + n]
                for i in range(un):
                    bsum[i] += w[np.uint64(row[i])]
            else:
                roww = wide[-1 - s, b0:b0 + n]
                for i in range(un):
                    bsum[i] += w[np.uint64(roww[i])]
            j += 1
        c = cut - remw[first]
        na = 0
        for i in range(n):
            if ok[i] and bsum[i] >= c:
                act[na] = i
                bsum[na] = bsum[i]
                na += 1
        j = first
        while j < n_loci and na > 0:
            li = loci[porder[j]]
            s = slot[li]
            w = wq[pair_off[li]:pair_off[li + 1]]
            una = np.uint64(na)
            if s >= 0:
                row = narrow[s, b0:b0 + n]
                for i in range(una):
                    bsum[i] += w[np.uint64(row[np.uint64(act[i])])]
            else:
                roww = wide[-1 - s, b0:b0 + n]
                for i in range(una):
                    bsum[i] += w[np.uint64(roww[np.uint64(act[i])])]
            if check[j] or j == n_loci - 1:
                c = cut - remw[j + 1]
                kept = 0
                for i in range(na):
                    if bsum[i] >= c:
                        act[kept] = act[i]
                        bsum[kept] = bsum[i]
                        kept += 1
                na = kept
            j += 1
        return na

    @numba.njit(cache=True, nogil=True)
    def rank_range(narrow, wide, slot, vals, wq, pair_off, loci, porder, remw, check, start, stop, m_sex, ref_mask,
                   u_sex, u_mask, min_common, min_log, top_k, max_listed, m_birth, m_missing, u_birth, u_found, tol,
                   max_listed_age, prune, typed, full):  # pragma: no cover
        """Rows ``start`` .. ``stop`` of the combined arrays: the scan and
        :func:`.kernels._select_nb` in one pass (see the module doc).  ``full``: U is typed
        at every locus typed in any row's references, so a row's loci in common are its
        ``typed`` count (:func:`typed_counts`).  Returns (rows kept,
        their scores, number skipped for sex, for loci, rows listed for loci, number skipped
        for dates, rows listed for dates); rows are absolute, ascending."""
        bsum = np.empty(BLOCK, dtype=np.int64)
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
            if full and not dated:  # the common case in one loop without branches
                n_bad_sex = 0
                n_bad_few = 0
                for r in range(b0, b1):
                    ms = m_sex[r]
                    bad_sex = (u_sex != 0) & (ms != 0) & (ms != u_sex)
                    bad_few = (not bad_sex) & (np.int64(typed[r]) < min_common)
                    ok[r - b0] = not (bad_sex or bad_few)
                    n_bad_sex += np.int64(bad_sex)
                    n_bad_few += np.int64(bad_few)
                n_sex += n_bad_sex
                n_few += n_bad_few
                n_ok = (b1 - b0) - n_bad_sex - n_bad_few
                if n_bad_few > 0 and n_listed < max_listed:
                    for r in range(b0, b1):
                        ms = m_sex[r]
                        if not ok[r - b0] and not ((u_sex != 0) & (ms != 0) & (ms != u_sex)) \
                                and n_listed < max_listed:
                            listed[n_listed] = r
                            n_listed += 1
            else:
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
                    if min_common > 0 and (typed[r] < min_common if full
                                           else _common_nb(ref_mask, r, u_mask) < min_common):
                        if n_listed < max_listed:
                            listed[n_listed] = r
                            n_listed += 1
                        n_few += 1
                        continue
                    ok[r - b0] = True
                    n_ok += 1
            if n_ok == 0:
                continue
            cut = _threshold_w(threshold) if prune else np.int64(-(1 << 62))
            na = _bounds_block(narrow, wide, slot, wq, pair_off, loci, porder, remw, check, b0, b1 - b0, ok, act,
                               bsum, cut)
            for i in range(na):
                r = b0 + act[i]
                v = _score(narrow, wide, slot, vals, pair_off, loci, r)
                if not (v >= threshold):
                    continue
                if nb == buf.size:
                    buf = _grow(buf, nb)
                    bval = _grow(bval, nb)
                buf[nb] = r
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
        ids, pp, pq, counts, uses = [], [], [], [], []
        for li in range(n_loci):
            inverse, uniq = _number_pairs(kp[li], kq[li], int(sizes[li]))
            # numbered by decreasing use: the values most rows read share few cache lines
            used = np.bincount(inverse, minlength=len(uniq))
            by_use = np.argsort(-used, kind="stable")
            rank = np.empty(len(uniq), dtype=np.int64)
            rank[by_use] = np.arange(len(uniq))
            ids.append(rank[inverse])
            uses.append(used[by_use])
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
        cat = (lambda xs: np.concatenate(xs).astype(np.int32) if xs else np.zeros(0, dtype=np.int32))
        self.pair_p, self.pair_q = cat(pp), cat(pq)
        self.counts = cat(uses)  # rows per pair (the order of pruning)

    @property
    def nbytes(self) -> int:
        return (self.narrow.nbytes + self.wide.nbytes + self.pair_p.nbytes + self.pair_q.nbytes + self.slot.nbytes
                + self.counts.nbytes)


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

else:  # pragma: no cover
    pair_values = pair_values_py


def pair_bounds_py(vals, loci, pair_off, counts):
    """NumPy version of the bounds of :func:`pair_prepare` (w per pair, the largest per locus
    of ``loci``, the rows' shortfall per locus)."""
    wq = np.full(len(vals), W_LOW, dtype=np.int32)
    wmax = np.full(len(loci), W_LOW, dtype=np.int64)
    deficit = np.zeros(len(loci))
    for j, li in enumerate(loci):
        a, b = pair_off[li], pair_off[li + 1]
        w = np.array([w_bound(f) for f in vals[a:b]], dtype=np.int64)
        wq[a:b] = w
        if b > a:
            wmax[j] = w.max()
            top = slice(a, min(b, a + DEFICIT_PAIRS))
            capped = np.clip(w[:top.stop - a], -DEFICIT_CAP, DEFICIT_CAP)
            deficit[j] = float(int(counts[top].sum()) * min(int(wmax[j]), DEFICIT_CAP)
                               - int((counts[top].astype(np.int64) * capped).sum()))
    return wq, wmax, deficit


#: A pair's w counts as within +-DEFICIT_CAP when ordering the loci (0, NaN and infinity would
#: swamp the others); only the DEFICIT_PAIRS most used pairs of a locus are counted.
DEFICIT_CAP = 256 * W_SCALE
DEFICIT_PAIRS = 1024

if numba is not None:
    @numba.njit(cache=True, nogil=True, boundscheck=False)
    def pair_prepare(ab, offsets, inv, loci, pair_off, pair_p, pair_q, counts, lut):  # pragma: no cover
        """Per pair of U's loci: f = (a_p b_q + b_p a_q) c, the scan's arithmetic, and its
        bound w (an integer >= 4096 log2 |f|, from the exponent and a table of the top 12
        mantissa bits; W_LOW for 0 and NaN, W_HIGH for infinity and outside the safe range;
        see the module doc); per locus of ``loci`` the
        largest w, and the rows' total shortfall below it over the DEFICIT_PAIRS most used
        pairs (each pair's w clipped to +-DEFICIT_CAP, times the rows using it): the order of
        pruning.  Pairs of other loci are left unset (no row reads them)."""
        vals = np.empty(pair_off[-1])
        bits = vals.view(np.uint64)
        wq = np.empty(pair_off[-1], dtype=np.int32)
        wmax = np.empty(loci.size, dtype=np.int64)
        deficit = np.zeros(loci.size)
        for j in range(loci.size):
            li = loci[j]
            c = inv[li]
            o = 2 * offsets[li]
            k0, k1 = pair_off[li], pair_off[li + 1]
            for k in range(k0, k1):
                p = o + 2 * np.int64(pair_p[k])
                q = o + 2 * np.int64(pair_q[k])
                vals[k] = (ab[p] * ab[q + 1] + ab[p + 1] * ab[q]) * c
            m = np.int64(W_LOW)
            for k in range(k0, k1):
                b = bits[k] & np.uint64(0x7FFFFFFFFFFFFFFF)
                field = np.int64(b >> np.uint64(52))
                w = (field - 1023) * W_SCALE + np.int64(lut[np.int64((b >> np.uint64(40)) & np.uint64(4095))])
                if field < W_FIELDS[0] or field > W_FIELDS[1]:  # 0, NaN; else outside the safe range
                    mant = b & np.uint64(0xFFFFFFFFFFFFF)
                    if (field == 0 and mant == np.uint64(0)) or (field == 0x7FF and mant != np.uint64(0)):
                        w = np.int64(W_LOW)
                    else:
                        w = np.int64(W_HIGH)
                wq[k] = np.int32(w)
                m = max(m, w)
            wmax[j] = m
            n_rows = np.int64(0)
            total = np.int64(0)
            for k in range(k0, min(k1, k0 + DEFICIT_PAIRS)):
                cnt = np.int64(counts[k])
                n_rows += cnt
                total += cnt * min(max(np.int64(wq[k]), -DEFICIT_CAP), DEFICIT_CAP)
            deficit[j] = np.float64(n_rows * min(m, DEFICIT_CAP) - total)
        return vals, wq, wmax, deficit
else:  # pragma: no cover
    def pair_prepare(ab, offsets, inv, loci, pair_off, pair_p, pair_q, counts, lut):
        vals, _ = pair_values_py(ab, offsets, inv, loci, pair_off, pair_p, pair_q)
        return (vals, *pair_bounds_py(vals, loci, pair_off, counts))


def pruning_order(wmax: np.ndarray, deficit: np.ndarray, *, prune: bool = True) -> tuple:
    """(porder, remw, check): U's loci by decreasing shortfall (positions into ``loci``), the
    remaining bound after each position (remw[j] = sum of wmax over positions >= j, remw[n]
    = 0) and where to check it."""
    n = len(wmax)
    porder = np.argsort(-deficit, kind="stable").astype(np.int64)
    remw = np.zeros(n + 1, dtype=np.int64)
    remw[:n] = np.cumsum(wmax[porder][::-1])[::-1]
    check = prune_points(n) if prune else np.zeros(n, dtype=np.bool_)
    return porder, remw, check


def prunable(n_loci: int) -> bool:
    """Whether the bounds may drop rows of a profile with this many loci (see the module doc)."""
    return n_loci <= MAX_PRUNED_LOCI


def prepare(index, q, *, prune: bool = True) -> tuple:
    """Per query ``q`` (:meth:`FamilyIndex.query`): the pair keys, the value of every pair
    of U's loci and its bound, the pruning order, the remaining bounds and where to check
    them."""
    keys = pair_keys(index)
    ab, offsets, inv, loci = q
    vals, wq, wmax, deficit = pair_prepare(ab, offsets, inv, loci, keys.pair_off, keys.pair_p, keys.pair_q,
                                           keys.counts, W_LUT)
    return (keys, vals, wq, *pruning_order(wmax, deficit, prune=prune))


def typed_counts(index) -> tuple[np.ndarray, np.ndarray]:
    """(loci typed in each combined row's references (uint16), the loci typed in any row: the
    OR of the rows' masks), kept with the combined arrays."""
    combined = index.combined()
    cached = getattr(index, "_fast_typed", None)
    if cached is None or cached[0] is not combined[0]:
        ref_mask = combined[9]
        counts = np.zeros(len(ref_mask), dtype=np.uint16)
        for w in range(ref_mask.shape[1]):
            counts += np.bitwise_count(ref_mask[:, w]).astype(np.uint16) if hasattr(np, "bitwise_count") \
                else np.array([int(v).bit_count() for v in ref_mask[:, w].tolist()], dtype=np.uint16)
        any_typed = np.bitwise_or.reduce(ref_mask, axis=0) if len(ref_mask) else np.zeros(ref_mask.shape[1],
                                                                                           dtype=np.uint64)
        cached = index._fast_typed = (combined[0], counts, any_typed)
    return cached[1], cached[2]


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
    prune = prune and prunable(len(q[3]))
    keys, pvals, wq, porder, remw, check = prepare(index, q, prune=prune)
    typed, any_typed = typed_counts(index)
    full = not (any_typed & ~u_mask).any()
    loci = q[3]
    pieces = []
    for a, b in ranges:
        step = max(MIN_ROWS_PER_THREAD, -(-(b - a) // max(1, threads)))
        pieces += [(k, min(b, k + step)) for k in range(a, b, step)]

    def rank(piece):
        a, b = piece
        return rank_range(keys.narrow, keys.wide, keys.slot, pvals, wq, keys.pair_off, loci, porder, remw, check, a, b,
                          m_sex, ref_mask, code, u_mask, min_common, min_log, -1 if top_k is None else top_k,
                          max_listed, m_birth, m_missing, u_birth, u_found, tol, max_listed, prune, typed, full)

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


__all__ = ["BLOCK", "PairKeys", "W_LUT", "inconsistent_loci_rows", "lr_per_locus_rows", "pair_bounds_py", "pair_keys",
           "gather_query", "pair_prepare", "pair_values", "pair_values_py", "prepare", "prunable", "prune_points", "pruning_order", "query_gathers", "rank_range",
           "recall_query", "remember_query", "search_rows", "sides_by_allele", "threshold_w", "typed_counts", "w_bound"]
