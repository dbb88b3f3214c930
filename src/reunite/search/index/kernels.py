"""The numeric kernels of the family index: the scan (log10 LR per row) and the selection
(sex, dates, loci in common, top k), compiled with Numba, with the NumPy versions they equal."""

from __future__ import annotations

import math

import numpy as np

try:  # the compiled scan; a NumPy version is used when Numba is not installed
    import numba
except ImportError:  # pragma: no cover - numba is a dependency, this is a safety net
    numba = None

#: A date not known, as a day number (days since 1970-01-01; see engine.day_number).
NO_DATE = int(np.iinfo(np.int32).min)


def _common_py(words, u_mask):
    return sum(int(w & u).bit_count() for w, u in zip(words.tolist(), u_mask.tolist()))


def _age_py(m_birth, m_missing, u_birth, u_found, tol):
    """Rows whose dates exclude U (:func:`reunite.search.engine.age_conflicts`)."""
    from reunite.search.engine import age_conflicts

    return age_conflicts(u_birth, u_found, m_birth, m_missing, tol)


def _no_dates(n: int) -> np.ndarray:
    return np.full(n, NO_DATE, dtype=np.int32)


def _select_py(scores, m_sex, ref_mask, u_sex, u_mask, min_common, min_log, top_k, max_listed,
               m_birth=None, m_missing=None, u_birth=NO_DATE, u_found=NO_DATE, tol=0, max_listed_age=0):
    """NumPy version of the compiled selection (see :meth:`FamilyIndex.search_rows`):
    (rows kept, number skipped for sex, for loci, rows listed for loci, number skipped for
    dates, rows listed for dates).  Rows without dates given: none known."""
    m_birth = _no_dates(len(scores)) if m_birth is None else m_birth
    m_missing = _no_dates(len(scores)) if m_missing is None else m_missing
    sex_conflict = (m_sex != u_sex) & (m_sex != 0) & (u_sex != 0)
    aged = ~sex_conflict & _age_py(m_birth, m_missing, u_birth, u_found, tol)
    common = np.array([_common_py(words, u_mask) for words in ref_mask], dtype=np.int64)
    few = ~sex_conflict & ~aged & (common < min_common)
    ok = ~sex_conflict & ~aged & ~few & (scores >= min_log)
    rows = np.flatnonzero(ok)
    if top_k >= 0 and len(rows) > top_k:
        if top_k == 0:
            rows = rows[:0]
        else:
            kth = np.partition(scores[rows], len(rows) - top_k)[len(rows) - top_k]
            rows = rows[scores[rows] >= kth]
    return (rows, int(sex_conflict.sum()), int(few.sum()), np.flatnonzero(few)[:max_listed], int(aged.sum()),
            np.flatnonzero(aged)[:max_listed_age])


def _scan_py(kp, kq, ab, offsets, inv, loci, out):
    """log10 LR per row: the sum over U's typed loci (NumPy version of the compiled scan)."""
    logs = np.zeros(kp.shape[1])
    for li in loci:
        o = 2 * offsets[li]
        p = o + 2 * kp[li].astype(np.int64)
        q = o + 2 * kq[li].astype(np.int64)
        with np.errstate(divide="ignore", invalid="ignore"):
            logs += np.log10((ab[p] * ab[q + 1] + ab[p + 1] * ab[q]) * inv[li])
    out[:] = logs


LOG10_2 = math.log10(2.0)

if numba is not None:
    @numba.njit(cache=True, nogil=True, boundscheck=False)
    def scan(kp, kq, ab, offsets, inv, loci, out):  # pragma: no cover - compiled
        """Compiled :func:`_scan_py`: blocks of rows, loci in the inner loop over rows,
        the running product renormalised (frexp) every 8 loci.  Unsigned index arithmetic
        (no negative-index wraparound checks)."""
        block = 1024
        n_rows = kp.shape[1]
        acc = np.empty(block)
        expo = np.zeros(block)
        two = np.uint64(2)
        one = np.uint64(1)
        for start in range(0, n_rows, block):
            n = min(block, n_rows - start)
            for r in range(n):
                acc[r] = 1.0
                expo[r] = 0.0
            for j in range(loci.size):
                li = loci[j]
                base = np.uint64(2 * offsets[li])
                c = inv[li]
                kpl = kp[li, start:start + n]
                kql = kq[li, start:start + n]
                for r in range(np.uint64(n)):
                    p = base + two * np.uint64(kpl[r])
                    q = base + two * np.uint64(kql[r])
                    acc[r] *= (ab[p] * ab[q + one] + ab[p + one] * ab[q]) * c
                if (j & 7) == 7:
                    for r in range(n):
                        m, e = math.frexp(acc[r])
                        acc[r] = m
                        expo[r] += e
            for r in range(n):
                out[start + r] = math.log10(acc[r]) + expo[r] * LOG10_2

    @numba.njit(cache=True, nogil=True)
    def _common_nb(words, u_mask):  # pragma: no cover - compiled
        """Bits set in both (popcount, word by word)."""
        total = 0
        for w in range(u_mask.size):
            x = words[w] & u_mask[w]
            x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
            x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
            x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
            total += np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))
        return total

    @numba.njit(cache=True, nogil=True)
    def _select_nb(scores, m_sex, ref_mask, u_sex, u_mask, min_common, min_log, top_k, max_listed,
                   m_birth, m_missing, u_birth, u_found, tol, max_listed_age):  # pragma: no cover
        """Compiled :func:`_select_py`: one pass; rows at or above a threshold that rises to
        the k-th best whenever ``4 top_k`` rows are held (the buffer is never reallocated:
        a reassigned array in the loop costs more than the loop)."""
        n = scores.size
        buf = np.empty(n, dtype=np.int64)
        listed = np.empty(max_listed, dtype=np.int64)
        listed_age = np.empty(max_listed_age, dtype=np.int64)
        limit = max(1024, 4 * top_k) if top_k > 0 else n + 1
        nb = 0
        n_sex = 0
        n_age = 0
        n_few = 0
        n_listed = 0
        n_listed_age = 0
        threshold = min_log
        # M's birth must lie in [lo, hi] (U's estimated birth ± tol; not after U was found),
        # M's missing date not before lo3 (U's estimated birth − tol); unknown dates pass
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
        for r in range(n):
            ms = m_sex[r]
            if u_sex != 0 and ms != 0 and ms != u_sex:
                n_sex += 1
                continue
            if dated:
                mb = np.int64(m_birth[r])
                mm = np.int64(m_missing[r])
                conflict = (mb > no_date and (mb < lo or mb > hi)) or (mm > no_date and mm < lo3)
                if conflict:
                    if n_listed_age < max_listed_age:
                        listed_age[n_listed_age] = r
                        n_listed_age += 1
                    n_age += 1
                    continue
            if _common_nb(ref_mask[r], u_mask) < min_common:
                if n_listed < max_listed:
                    listed[n_listed] = r
                    n_listed += 1
                n_few += 1
                continue
            v = scores[r]
            if not (v >= threshold):
                continue
            buf[nb] = r
            nb += 1
            if nb >= limit:  # keep the best top_k and their ties; raise the threshold
                vals = np.empty(nb)
                for k in range(nb):
                    vals[k] = scores[buf[k]]
                kth = np.partition(vals, nb - top_k)[nb - top_k]
                m = 0
                for k in range(nb):
                    if vals[k] >= kth:
                        buf[m] = buf[k]
                        m += 1
                nb = m
                threshold = max(threshold, kth)
                if nb >= limit:  # all tied
                    limit = 2 * nb
        rows = buf[:nb].copy()
        if top_k >= 0 and nb > top_k:
            if top_k == 0:
                rows = rows[:0]
            else:
                vals = np.empty(nb)
                for k in range(nb):
                    vals[k] = scores[rows[k]]
                kth = np.partition(vals, nb - top_k)[nb - top_k]
                rows = rows[vals >= kth]
        return rows, n_sex, n_few, listed[:n_listed].copy(), n_age, listed_age[:n_listed_age].copy()

    def _select(scores, m_sex, ref_mask, u_sex, u_mask, min_common, min_log, top_k, max_listed,
                m_birth=None, m_missing=None, u_birth=NO_DATE, u_found=NO_DATE, tol=0, max_listed_age=0):
        """The compiled selection (:func:`_select_py`'s arguments and results)."""
        return _select_nb(scores, m_sex, ref_mask, u_sex, u_mask, min_common, min_log, top_k, max_listed,
                          _no_dates(len(scores)) if m_birth is None else m_birth,
                          _no_dates(len(scores)) if m_missing is None else m_missing,
                          int(u_birth), int(u_found), int(tol), int(max_listed_age))

else:  # pragma: no cover
    scan = _scan_py
    _select = _select_py
