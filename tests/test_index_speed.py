"""The fused, pruned ranking (search/index/fast.py) against the unpruned scan and selection:
the same rows, counts and listed rows, every score bit for bit the compiled scan's."""

import math

import numpy as np
import pytest

from reunite.search import index as ix
from reunite.search.index import fast
from reunite.simulate import simulate_database
from reunite.store.profiles import GeneticModel

from test_search import _records

MODEL = GeneticModel("CHN_national_GBT37223")


def _random_tables(rng, *, n_rows, n_loci, zeros=0.0, nan=0.0, inf=0.0):
    """Combined-style keys and one query's (ab, offsets, inv, loci): per locus, side keys
    paired as (p, q) and dense keys paired with the unit entry (a = 0, b = 1)."""
    n_sides = rng.integers(2, 60, n_loci)
    n_dense = rng.integers(1, 40, n_loci)
    sizes = n_sides + n_dense + 1
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    ab = rng.gamma(0.7, 0.4, 2 * int(sizes.sum()))
    special = rng.random(len(ab))
    ab[special < zeros] = 0.0
    ab[(special >= zeros) & (special < zeros + nan)] = np.nan
    ab[(special >= zeros + nan) & (special < zeros + nan + inf)] = np.inf
    kp = np.empty((n_loci, n_rows), dtype=np.uint16)
    kq = np.empty((n_loci, n_rows), dtype=np.uint16)
    for li in range(n_loci):
        dense = rng.random(n_rows) < 0.3
        kp[li] = np.where(dense, n_sides[li] + rng.integers(0, n_dense[li], n_rows), rng.integers(0, n_sides[li], n_rows))
        kq[li] = np.where(dense, sizes[li] - 1, rng.integers(0, n_sides[li], n_rows))
        o = 2 * offsets[li]
        ab[o + 2 * n_sides[li] + 1:o + 2 * (n_sides[li] + n_dense[li]):2] = 0.0
        ab[o + 2 * (sizes[li] - 1)] = 0.0
        ab[o + 2 * (sizes[li] - 1) + 1] = 1.0
    inv = rng.uniform(0.5, 40.0, n_loci)
    loci = np.sort(rng.choice(n_loci, int(rng.integers(1, n_loci + 1)), replace=False)).astype(np.int64)
    return kp, kq, sizes, (ab, offsets, inv, loci)


def _rank(kp, kq, sizes, q, start, stop, sel, *, prune=True, order_rng=None):
    """rank_range as search_rows calls it; ``order_rng``: a random order of pruning instead."""
    keys = fast.PairKeys(kp, kq, sizes)
    vals, wq, wmax, deficit = fast.pair_prepare(q[0], q[1], q[2], q[3], keys.pair_off, keys.pair_p, keys.pair_q,
                                                keys.counts, fast.W_LUT)
    if order_rng is not None:
        deficit = order_rng.random(len(deficit))
    porder, remw, check = fast.pruning_order(wmax, deficit, prune=prune)
    ref_mask, u_mask = sel[1], sel[3]
    typed = sum(np.bitwise_count(ref_mask[:, w]).astype(np.uint16) for w in range(ref_mask.shape[1]))
    full = not (np.bitwise_or.reduce(ref_mask, axis=0) & ~u_mask).any()
    return fast.rank_range(keys.narrow, keys.wide, keys.slot, vals, wq, keys.pair_off, q[3], porder, remw, check,
                           start, stop, *sel, prune, typed, full)


@pytest.mark.parametrize("seed", range(16))
def test_fused_ranking_equals_scan_then_selection(seed, monkeypatch):
    rng = np.random.default_rng(seed)
    n_rows = int(rng.integers(1, 6000))
    n_loci = int(rng.integers(1, 30))
    kp, kq, sizes, q = _random_tables(rng, n_rows=n_rows, n_loci=n_loci, zeros=[0, 0.02, 0.1][seed % 3],
                                      nan=0.002 * (seed % 2), inf=0.001 * (seed % 4 == 3))
    if seed % 4 == 1:
        monkeypatch.setattr(fast, "NARROW_PAIRS", 40)  # some loci in 32 bits
    scores = np.empty(n_rows)
    ix.scan(kp, kq, *q, scores)
    m_sex = rng.integers(0, 3, n_rows).astype(np.int8)
    words = 1
    ref_mask = rng.integers(0, 1 << 40, (n_rows, words)).astype(np.uint64)
    # U typed at every locus of the references (loci in common: the rows' own counts), or not
    u_mask = np.array([(1 << 40) - 1 if seed % 3 else int(rng.integers(0, 1 << 40))], dtype=np.uint64)
    dated = seed % 2 == 0
    m_birth = np.where(rng.random(n_rows) < 0.5, rng.integers(0, 20000, n_rows), ix.NO_DATE).astype(np.int32)
    m_missing = np.where(rng.random(n_rows) < 0.5, rng.integers(0, 20000, n_rows), ix.NO_DATE).astype(np.int32)
    start = int(rng.integers(0, n_rows))
    stop = int(rng.integers(start, n_rows + 1))
    med = float(np.nanmedian(scores[np.isfinite(scores)])) if np.isfinite(scores).any() else 0.0
    for top_k in (-1, 0, 1, 20, 300):
        for min_log in (-np.inf, med, med + 3.0):
            u_sex = int(rng.integers(0, 3))
            min_common = int(rng.integers(0, 25))
            dates = (int(rng.integers(0, 20000)), int(rng.integers(0, 20000)), 3000) if dated \
                else (ix.NO_DATE, ix.NO_DATE, 0)
            sel = (m_sex, ref_mask, u_sex, u_mask, min_common, min_log, top_k, 7, m_birth, m_missing, *dates, 5)
            want = ix._select_py(scores[start:stop], m_sex[start:stop], ref_mask[start:stop], u_sex, u_mask,
                                 min_common, min_log, top_k, 7, m_birth[start:stop], m_missing[start:stop],
                                 *dates, 5)
            for prune, order_rng in ((True, None), (False, None), (True, rng)):
                rows, vals, n_sex, n_few, few, n_age, aged = _rank(kp, kq, sizes, q, start, stop, sel, prune=prune,
                                                                   order_rng=order_rng)
                assert rows.tolist() == (start + want[0]).tolist()
                assert np.array_equal(vals, scores[rows], equal_nan=True)  # bit for bit the scan's
                assert (n_sex, n_few, n_age) == (want[1], want[2], want[4])
                assert few.tolist() == (start + want[3]).tolist() and aged.tolist() == (start + want[5]).tolist()


@pytest.mark.parametrize("seed", range(3))
def test_pair_values_and_bounds(seed):
    rng = np.random.default_rng(seed)
    kp, kq, sizes, q = _random_tables(rng, n_rows=3000, n_loci=12, zeros=0.05, nan=0.01, inf=0.002 * (seed == 2))
    keys = fast.PairKeys(kp, kq, sizes)
    vals, bounds = fast.pair_values(q[0], q[1], q[2], q[3], keys.pair_off, keys.pair_p, keys.pair_q)
    want_vals, want_bounds = fast.pair_values_py(q[0], q[1], q[2], q[3], keys.pair_off, keys.pair_p, keys.pair_q)
    np.testing.assert_array_equal(vals, want_vals)
    np.testing.assert_array_equal(bounds, want_bounds)
    # the fused values and bounds: the same values on U's loci; w as the Python version
    pvals, wq, wmax, deficit = fast.pair_prepare(q[0], q[1], q[2], q[3], keys.pair_off, keys.pair_p, keys.pair_q,
                                                 keys.counts, fast.W_LUT)
    want_wq, want_wmax, want_deficit = fast.pair_bounds_py(want_vals, q[3], keys.pair_off, keys.counts)
    ab, offsets, inv, loci = q
    for j, li in enumerate(loci):
        a, b = keys.pair_off[li], keys.pair_off[li + 1]
        np.testing.assert_array_equal(pvals[a:b], want_vals[a:b])
        np.testing.assert_array_equal(wq[a:b], want_wq[a:b])
    np.testing.assert_array_equal(wmax, want_wmax)
    np.testing.assert_array_equal(deficit, want_deficit)
    assert keys.counts.sum() == len(loci) * 0 + kp.shape[0] * kp.shape[1]  # every (row, locus) uses one pair
    # every row's value at every locus is its pair's, and no more than the locus' bound
    for j, li in enumerate(loci):
        s = keys.slot[li]
        ids = keys.narrow[s] if s >= 0 else keys.wide[-1 - s]
        o = 2 * offsets[li]
        p, qq = o + 2 * kp[li].astype(np.int64), o + 2 * kq[li].astype(np.int64)
        with np.errstate(invalid="ignore"):
            direct = (ab[p] * ab[qq + 1] + ab[p + 1] * ab[qq]) * inv[li]
        got = vals[keys.pair_off[li] + ids.astype(np.int64)]
        np.testing.assert_array_equal(got, direct)
        assert not (direct[~np.isnan(direct)] > bounds[j]).any()
        w = wq[keys.pair_off[li] + ids.astype(np.int64)].astype(np.int64)
        assert (w <= wmax[j]).all()
        finite = np.isfinite(direct) & (direct != 0)
        with np.errstate(divide="ignore"):
            assert (w[finite] >= fast.W_SCALE * np.log2(np.abs(direct[finite]))).all()
        assert (w[np.isinf(direct)] == fast.W_HIGH).all()


def test_w_bound_is_an_upper_bound_of_log2():
    """w >= 4096 log2 |f| (within 4 of it in the safe range 2^-100 .. 2^100, W_HIGH outside), for
    every kind of float."""
    rng = np.random.default_rng(5)
    xs = np.concatenate([rng.lognormal(0, 30, 20000), -rng.lognormal(0, 5, 100),
                         2.0 ** rng.integers(-1070, 1020, 500).astype(float),
                         np.nextafter(2.0 ** rng.integers(-1000, 1000, 500).astype(float), 0),
                         [5e-324, 2.0 ** -1022, np.nextafter(2.0 ** -1022, 0), 1.0, np.finfo(float).max,
                          2.0 ** -100, np.nextafter(2.0 ** -100, 0), 2.0 ** 100, np.nextafter(2.0 ** 100, 0)]])
    for f in xs.tolist():
        w = fast.w_bound(f)
        exact = fast.W_SCALE * math.log2(abs(f))
        assert w >= exact, f
        if 2.0 ** -100 <= abs(f) < 2.0 ** 100:
            assert w - exact < 4, f
        else:  # outside the safe range: never dropped
            assert w == fast.W_HIGH, f
    assert fast.w_bound(0.0) == fast.w_bound(math.nan) == fast.W_LOW
    assert fast.w_bound(math.inf) == fast.W_HIGH
    # the compiled version agrees
    vals = np.array(xs.tolist() + [0.0, math.nan, math.inf])
    loci = np.array([0], dtype=np.int64)
    off = np.array([0, len(vals)], dtype=np.int64)
    ab = np.zeros(2 * len(vals) + 2)
    ab[0:2 * len(vals):2] = vals
    ab[-1] = 1.0
    idx = np.arange(len(vals), dtype=np.int32)
    got = fast.pair_prepare(ab, np.zeros(1, dtype=np.int64), np.ones(1), loci, off, idx,
                            np.full(len(vals), len(vals), dtype=np.int32), np.ones(len(vals), dtype=np.int32),
                            fast.W_LUT)
    np.testing.assert_array_equal(got[0], vals)
    assert got[1].tolist() == [fast.w_bound(f) for f in vals.tolist()]


def test_threshold_cut_is_below_every_score_it_drops():
    """B < threshold_w(t) implies a score below t: B = the w's of the factors of a product."""
    rng = np.random.default_rng(9)
    for _ in range(3000):
        n = int(rng.integers(1, 30))
        fs = rng.lognormal(0, float(rng.choice([0.5, 3, 20, 80])), n)
        acc, expo = 1.0, 0.0
        for j, f in enumerate(fs.tolist()):  # the scan's product
            acc *= f
            if (j & 7) == 7:
                m, e = math.frexp(acc)
                acc, expo = m, expo + e
        score = math.log10(acc) + expo * ix.LOG10_2 if acc > 0 else -math.inf
        b = sum(fast.w_bound(f) for f in fs.tolist())
        for t in (score, np.nextafter(score, -math.inf), score + 1e-10, score - 1e-6):
            if b < fast.threshold_w(t):
                assert score < t
        assert not b < fast.threshold_w(score)  # a row at the threshold is never dropped
    assert fast.threshold_w(math.inf) == fast.threshold_w(-math.inf) == fast.threshold_w(math.nan) == -(1 << 62)


def test_renormalising_equals_frexp():
    """The exponent-field renormalisation is math.frexp bit for bit (normal, subnormal, 0, inf, NaN)."""
    xs = np.array([1.0, 0.75, 3e-300, 5e-320, 0.0, 1e300, np.inf, np.nan, 2.0**-1022, 123.456])
    rows = np.arange(len(xs))
    kp = np.zeros((1, len(xs)), dtype=np.uint16)
    kp[0] = rows
    kq = np.full((1, len(xs)), len(xs), dtype=np.uint16)
    ab = np.zeros(2 * (len(xs) + 1))
    ab[0:2 * len(xs):2] = xs
    ab[-1] = 1.0
    for n_loci in (8, 9):  # renormalised after the 8th locus
        kpn, kqn = np.repeat(kp, n_loci, axis=0), np.repeat(kq, n_loci, axis=0)
        sizes = np.full(n_loci, len(xs) + 1)
        offsets = np.arange(n_loci, dtype=np.int64) * (len(xs) + 1)
        abn = np.tile(ab, n_loci)
        q = (abn, offsets, np.ones(n_loci), np.arange(n_loci, dtype=np.int64))
        want = np.empty(len(xs))
        ix.scan(kpn, kqn, *q, want)
        sel = (np.zeros(len(xs), dtype=np.int8), np.zeros((len(xs), 1), dtype=np.uint64), 0,
               np.zeros(1, dtype=np.uint64), 0, -math.inf, -1, 0, ix._no_dates(len(xs)), ix._no_dates(len(xs)),
               ix.NO_DATE, ix.NO_DATE, 0, 0)
        rows_got, vals, *_ = _rank(kpn, kqn, sizes, q, 0, len(xs), sel)
        finite_or_inf = ~np.isnan(want)
        assert rows_got.tolist() == np.flatnonzero(want >= -math.inf).tolist()
        np.testing.assert_array_equal(vals, want[finite_or_inf])


@pytest.fixture(scope="module")
def small_index():
    db = simulate_database(300, 40, seed=11)
    families, unidentified = _records(db, num_queries=8)
    index = ix.FamilyIndex(MODEL)
    index.add(families)
    return index, unidentified


@pytest.mark.parametrize("sex", ["M", "F", "U"])
def test_fast_search_rows_equals_the_index(small_index, sex):
    index, unidentified = small_index
    for k, u in enumerate(unidentified):
        for top_k in (None, 0, 3, 20):
            for min_log in (-math.inf, 0.0, 4.0):
                kw = dict(sex=sex, min_common=[0, 8, 15][k % 3], min_log=min_log, top_k=top_k, max_listed=4,
                          dates=(9000, 12000, 2000) if k % 2 else (ix.NO_DATE, ix.NO_DATE, 0))
                want = index.search_rows(u.profile, **kw)
                got = fast.search_rows(index, u.profile, **kw)
                assert sorted(zip(got[0].tolist(), got[1].tolist())) == sorted(zip(want[0].tolist(),
                                                                                   want[1].tolist()))
                assert got[2:5] == want[2:5]
                assert got[5].tolist() == want[5].tolist() and got[6].tolist() == want[6].tolist()


@pytest.mark.parametrize("seed", range(3))
def test_pairs_numbered_as_numpy(seed):
    rng = np.random.default_rng(seed)
    n, size = int(rng.integers(1, 50_000)), int(rng.integers(1, 400))
    kp = rng.integers(0, size, n).astype(np.uint16)
    kq = rng.integers(0, size, n).astype(np.uint16)
    ids, uniq = fast._number_pairs(kp, kq, size)
    want_ids, want_uniq = fast._number_pairs_py(kp, kq, size)
    assert ids.tolist() == want_ids.tolist() and uniq.tolist() == want_uniq.tolist()


def test_lr_per_locus_rows_equal_row_by_row(small_index):
    index, unidentified = small_index
    rows = np.random.default_rng(3).choice(len(index), size=min(40, len(index)), replace=False)
    for u in unidentified:
        index.__dict__.pop("_fast_queries", None)
        got = fast.lr_per_locus_rows(index, u.profile, rows)  # one locus at a time
        index.query(u.profile)
        assert fast.recall_query(index, u.profile) is not None
        kept = fast.lr_per_locus_rows(index, u.profile, rows)  # from the kept query
        want = [index.lr_per_locus(u.profile, int(r)) for r in rows]
        assert [list(d.items()) for d in got] == [list(d.items()) for d in want]  # NaN-free here
        assert [list(d.items()) for d in kept] == [list(d.items()) for d in want]


@pytest.mark.parametrize("kw", [{}, {"mutation_rate": 0.01}])
def test_inconsistent_loci_from_row_keys_equal_the_index(kw):
    """Every shape of test_index (references left out, alleles absent from the table, a
    sibling inconsistent with both parents): the loci the index's method finds."""
    from reunite.search.engine import Candidate

    from test_index import _families

    model = GeneticModel("CHN_national_GBT37223", **kw)
    families, unidentified = _families(model, seed=7)
    for f in families[1::4]:  # an allele the table lacks
        ref = sorted(f.references)[-1]
        locus = sorted(f.references[ref])[2]
        f.references[ref][locus] = ("45", f.references[ref][locus][1])
    index = ix.FamilyIndex(model)
    index.add(families)
    row_of = {(int(index.family_id[r]), index.missing[r]): r for r in range(len(index))}
    pairs = [(u, f, m) for u in unidentified[::3] for f in families for m in f.missing]
    want = [Candidate(u, f, m, 0.0, 0.0, 0) for u, f, m in pairs]
    index.inconsistent_loci(want)
    got = [Candidate(u, f, m, 0.0, 0.0, 0) for u, f, m in pairs]
    fast.inconsistent_loci_rows(index, got, [row_of[(f.id, m)] for _, f, m in pairs])
    assert [c.inconsistent_loci for c in got] == [c.inconsistent_loci for c in want]
    assert sum(bool(c.inconsistent_loci) for c in want) > len(want) // 4


@pytest.mark.stress
def test_fast_search_equals_the_old_path_on_a_larger_database():
    """3,000 simulated families, every person, dates and sexes: index_search by the fused
    ranking and row-key details equals the old path (scan, selection, row-by-row details)."""
    from reunite.search.engine import index_search

    db = simulate_database(3000, 120, seed=21)
    families, unidentified = _records(db, num_queries=60)
    by_id = {f.id: f for f in families}
    index = ix.FamilyIndex(MODEL)
    index.add(families)

    def run():
        res = index_search(unidentified, index, model=MODEL, min_lr=1.0, top_k=20,
                           load_families=lambda ids: [by_id[i] for i in (ids if ids is not None else by_id)])
        return [(c.unidentified.id, c.family.id, c.missing, c.log10_lr, c.lr_per_locus, c.inconsistent_loci)
                for c in res.candidates], res.skipped_pairs, res.num_compared

    new = run()
    try:
        fast.ENABLED = False
        old = run()
    finally:
        fast.ENABLED = True
    assert new == old


def test_fast_search_rows_with_threads(small_index, monkeypatch):
    """Pieces ranked on threads: the same counts and listed rows; the rows of each piece's top
    k, among which the caller's top k is the one-thread top k, scores equal."""
    monkeypatch.setattr(fast, "MIN_ROWS_PER_THREAD", 7)
    index, unidentified = small_index
    for u in unidentified:
        for top_k in (None, 3):
            kw = dict(sex="U", min_common=8, min_log=0.0, top_k=top_k, max_listed=5)
            one = fast.search_rows(index, u.profile, **kw)
            many = fast.search_rows(index, u.profile, threads=3, **kw)
            assert one[2:5] == many[2:5] and one[5].tolist() == many[5].tolist()
            got = dict(zip(many[0].tolist(), many[1].tolist()))
            want = dict(zip(one[0].tolist(), one[1].tolist()))
            assert all(got[r] == v for r, v in want.items())
            if top_k is None:
                assert got == want
            else:
                best = sorted(got.values(), reverse=True)[:top_k]
                assert best == sorted(want.values(), reverse=True)[:top_k]


def test_compiled_query_gathers_equal_numpy(small_index, monkeypatch):
    """The compiled gathers (θ = 0, no absent allele) equal the NumPy ones on U's loci, and so
    do the values kept for the details."""
    index, unidentified = small_index
    _, _, n_sides, n_dense, offsets, _ = index.combined()[:6]
    for u in unidentified:
        got = fast.query_gathers(index, u.profile)
        kept = fast.recall_query(index, u.profile)
        monkeypatch.setattr(fast, "gather_query", None)  # the NumPy gathers
        want = index.query(u.profile)
        want_kept = fast.recall_query(index, u.profile)
        monkeypatch.undo()
        np.testing.assert_array_equal(got[2], want[2])
        np.testing.assert_array_equal(got[3], want[3])
        for li in want[3]:
            a, b = offsets[li], offsets[li] + n_sides[li] + n_dense[li] + 1
            np.testing.assert_array_equal(got[0][2 * a:2 * b], want[0][2 * a:2 * b])
            d = slice(offsets[li] + n_sides[li], offsets[li] + n_sides[li] + n_dense[li])
            np.testing.assert_array_equal(kept[1][d], want_kept[1][d])
        np.testing.assert_array_equal(kept[2], want_kept[2])
        assert index.query(u.profile)[0] is not got[0]  # the compiled path again (a new array)
