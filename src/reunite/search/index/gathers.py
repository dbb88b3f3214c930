"""The per-query gathers of :meth:`FamilyIndex.query` at θ = 0 in one compiled pass: per key
of U's loci the values at U's alleles, read from every locus' side vectors kept allele by
allele (contiguous) and its dense tables (the same numbers and operations as the NumPy
gathers, which a person with an allele absent from a table keeps)."""

from __future__ import annotations

import threading

import numpy as np

from reunite.search.index.details import remember_query
from reunite.search.index.kernels import numba

if numba is not None:
    @numba.njit(cache=True, nogil=True, boundscheck=False)
    def gather_query(ab, dxy, by_allele, dense, lis, xs, ys, cs, offsets, n_sides, n_dense):  # pragma: no cover
        """:meth:`FamilyIndex.query`'s gathers at θ = 0 for loci ``lis`` (U's alleles xs, ys;
        cs = 1/(2 p_x p_y)): per side key (a, b) = (its value at x, at y), per dense key
        (LR / c, 0) and the LR in ``dxy``, the unit entry (0, 1); the same numbers and
        operations as the NumPy gathers."""
        for k in range(lis.size):
            li = lis[k]
            x = xs[k]
            y = ys[k]
            c = cs[k]
            st = by_allele[li]
            o = 2 * offsets[li]
            ns = n_sides[li]
            for i in range(ns):
                ab[o + 2 * i] = st[x, i]
                ab[o + 2 * i + 1] = st[y, i]
            o += 2 * ns
            d = dense[li]
            base = offsets[li] + ns
            nd = n_dense[li]
            for i in range(nd):
                v = d[i, x, y]
                ab[o + 2 * i] = v / c
                ab[o + 2 * i + 1] = 0.0
                dxy[base + i] = v
            ab[o + 2 * nd] = 0.0
            ab[o + 2 * nd + 1] = 1.0
else:  # pragma: no cover
    gather_query = None


_GATHER_LOCK = threading.Lock()


def _stacked_lists(index):
    """Every locus' side vectors allele by allele and dense tables, as two numba typed lists
    (made again when a locus' stacked arrays change)."""
    from numba.typed import List

    stacked = [t.stacked() for t in index.tables]
    cached = getattr(index, "_fast_stacked_lists", None)
    if cached is not None and len(cached[0]) == len(stacked) and all(
            a is b for (a, _), (b, _) in zip(cached[0], stacked)) and all(
            a is b for (_, a), (_, b) in zip(cached[0], stacked)):
        return cached[1], cached[2]
    with _GATHER_LOCK:
        by_allele, dense = List(), List()
        for li, (sides, tables) in enumerate(stacked):
            by_allele.append(np.ascontiguousarray(sides_by_allele(index, li, sides), dtype=np.float64))
            dense.append(np.ascontiguousarray(tables, dtype=np.float64))
        index._fast_stacked_lists = (stacked, by_allele, dense)
        return by_allele, dense


def query_gathers(index, profile) -> tuple:
    """:meth:`FamilyIndex.query` at θ = 0 for a profile without absent alleles, by
    :func:`gather_query` (one compiled pass instead of a few NumPy calls per locus); kept for
    the details (:func:`remember_query`)."""
    _, _, n_sides, n_dense, offsets, total = index.combined()[:6]
    by_allele, dense = _stacked_lists(index)
    n = len(profile)
    lis = np.empty(n, dtype=np.int64)
    xs = np.empty(n, dtype=np.int64)
    ys = np.empty(n, dtype=np.int64)
    den = np.zeros(len(index.loci))
    inv = np.zeros(len(index.loci))
    for k, (locus, (a, b)) in enumerate(profile.items()):
        li = index.locus_idx[locus]
        tab = index.tables[li]
        x, y = tab.index[a], tab.index[b]
        lis[k], xs[k], ys[k] = li, x, y
        den[li] = 2.0 * tab.afreq[x] * tab.afreq[y]
        inv[li] = 1.0 / den[li]
    ab = np.empty(2 * total)
    dxy = np.empty(total)
    gather_query(ab, dxy, by_allele, dense, lis, xs, ys, inv[lis], offsets, n_sides, n_dense)
    q = ab, offsets, inv, np.sort(lis)
    remember_query(index, profile, q, dxy, den)
    return q


def sides_by_allele(index, li: int, sides: np.ndarray) -> np.ndarray:
    """Locus ``li``'s stacked side vectors (n_sides, n_alleles) transposed, contiguous: a
    query reads one allele's column of every side vector (the same numbers; kept while the
    stacked array is the same)."""
    cache = index.__dict__.setdefault("_fast_sides_by_allele", {})
    hit = cache.get(li)
    if hit is None or hit[0] is not sides:
        hit = cache[li] = (sides, np.ascontiguousarray(sides.T))
    return hit[1]


__all__ = ["gather_query", "query_gathers", "sides_by_allele"]
