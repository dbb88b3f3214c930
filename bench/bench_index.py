"""National-scale search benchmark: the family index at 1,000,000 families.

Run with ``make bench`` (or ``python bench/bench_index.py [--families N] [--queries Q]
[--many M]``).  Simulates families in parts of 50,000 (never real people), builds the index
from them (the rows the database loader gives: packed profiles), then prints:

- index build rate (families/s; target >= 50,000) and the index's memory (target <= 2 GB);
- the memory model: bytes per row and per stored key measured, the keys' growth fitted over
  the build's parts, extrapolated to 10,000,000 and 50,000,000 families (one 24 GiB machine?);
- one-to-many: median time of one 24-locus profile against every family, top 20 with their
  per-locus LRs and inconsistent loci (target <= 10 ms on one core), ranking and details
  apart, by the fused and pruned ranking (search/index/fast.py) and by the old path (the
  scan of every row, then the selection) measured in the same run on the same persons;
- many-to-many: ``--many`` persons against every family on every core, both paths, and the
  time that rate gives for 10,000 x 1,000,000 (target <= 2 minutes on 2 cores);
- exactness on a sample: the reported top 20 of a few persons against brute force (the
  kinship engine pair by pair) over a random sample of families plus the reported ones;
- the naive baseline (the engine pair by pair) in pairs/s, measured in the same run, and
  the ratio of the index to it.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import statistics
import sys
import time

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import numpy as np  # noqa: E402

from reunite.genetics.pedigree import make_pedigree  # noqa: E402
from reunite.search.engine import (  # noqa: E402
    FamilyRecord,
    UnidentifiedRecord,
    brute_force_search,
    index_search,
)
from reunite.search.index import FamilyIndex, fast, member_rows  # noqa: E402
from reunite.simulate import simulate_database  # noqa: E402
from reunite.store.profiles import GeneticModel, pack_profile, unpack_profile  # noqa: E402

PART = 50_000


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def simulated_parts(num_families: int, num_unidentified: int, *, seed: int):
    """Yield (member rows by family id, unidentified records, truth) per part of the database."""
    made_u = 0
    for k, start in enumerate(range(0, num_families, PART)):
        n = min(PART, num_families - start)
        n_u = (num_unidentified * (start + n)) // num_families - made_u
        db = simulate_database(n, n_u, seed=seed * 1000 + k, first_family=start + 1, first_unidentified=made_u + 1)
        made_u += n_u
        profiles: dict[str, dict] = {}
        for sample, locus, a, b in db["genotypes"]:
            profiles.setdefault(sample, {})[locus] = (a, b)
        families: dict[str, list] = {}
        for code, person, father, mother, sex, role, sample, _ in db["families"]:
            families.setdefault(code, []).append(
                (None, person, father or None, mother or None, sex, role,
                 pack_profile(profiles[sample]) if sample else None))
        unidentified = [UnidentifiedRecord(int(p[1:]), p, sex, profiles[sample])
                        for p, sample, sex, *_ in db["unidentified"]]
        yield families, unidentified, db["truth"]


def database_build(num_families: int, *, seed: int) -> None:
    """Import a simulated database into SQLite, then time the family index built from it
    (reading the families from the database included) and one search through the service."""
    import tempfile
    from pathlib import Path

    from sqlalchemy.orm import Session

    from reunite.search.service import family_index, run_search
    from reunite.simulate import write_database
    from reunite.store.db import make_engine, upgrade
    from reunite.store.importers import import_families, import_genotypes, import_unidentified

    model = GeneticModel("CHN_national_GBT37223")
    with tempfile.TemporaryDirectory() as tmp:
        db = simulate_database(num_families, 50, seed=seed)
        paths = write_database(db, Path(tmp) / "sim")
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        upgrade(engine)
        t = time.perf_counter()
        with Session(engine) as s, s.begin():
            g = import_genotypes(s, paths["genotypes"], model=model)
        with Session(engine) as s, s.begin():
            f = import_families(s, paths["families"], model=model)
            import_unidentified(s, paths["unidentified"])
        import_s = time.perf_counter() - t
        with Session(engine) as s:
            t = time.perf_counter()
            index = family_index(s, model)
            build_s = time.perf_counter() - t
            t = time.perf_counter()
            family_index(s, model)
            load_s = time.perf_counter() - t
            t = time.perf_counter()
            res = run_search(s, model, store=False, top_k=20, min_lr=1.0)
            search_s = time.perf_counter() - t
        size = Path(f"{tmp}/bench.db.index").stat().st_size
        engine.dispose()
    print(f"from SQLite: imported {g.num_records:,} profiles and {f.num_records:,} families in {import_s:.0f} s; "
          f"index built from the database in {build_s:.1f} s = {num_families / build_s:,.0f} families/s "
          f"(reading included; {len(index):,} rows; file {size / 2**20:,.0f} MiB); loaded again in {load_s:.1f} s; "
          f"{len({c.unidentified.id for c in res.candidates})} persons searched through the service in "
          f"{search_s:.1f} s (loading the index included)")


def _python_bytes(objects) -> int:
    """Bytes of a list of Python objects (the list's pointers and the objects, measured)."""
    import sys

    return sys.getsizeof(objects) + sum(sys.getsizeof(o) for o in objects)


def memory_model(index, growth) -> None:
    """Bytes per row and per stored key (side vector, dense table) measured on this index;
    the number of keys fitted as a power of the number of families over the build's parts
    (keys are shared by families whose references have the same genotypes, so they grow
    more slowly than rows); both extrapolated to 10,000,000 and 50,000,000 families."""
    kp, kq, *_, order, _, m_sex, ref_mask, m_birth, m_missing = index.combined()
    keys = fast.pair_keys(index)
    n_rows = len(index)
    n_fam = growth[-1][0]
    n_loci = len(index.loci)
    arrays = {  # per-row arrays: stored, and the combined (sex-ordered) copies the search reads
        "stored keys (key_p, key_q)": index.key_p.nbytes + index.key_q.nbytes,
        "search keys (p, q per locus)": kp.nbytes + kq.nbytes,
        "pair ids (fast path)": keys.narrow.nbytes + keys.wide.nbytes,
        "row attributes (family id, shape, sex, dates, loci typed; and sorted copies)":
            sum(a.nbytes for a in (index.family_id, index.row_shape, index.m_sex, index.m_birth, index.m_missing,
                                   index.ref_mask, order, m_sex, ref_mask, m_birth, m_missing)),
        "family and missing codes (Python strings)": _python_bytes(index.family_code) + _python_bytes(index.missing),
    }
    row_bytes = sum(arrays.values()) / n_rows
    side_n = sum(len(t.sides) for t in index.tables)
    dense_n = sum(len(t.dense) for t in index.tables)
    side_b = dense_b = 0
    for t in index.tables:
        sides, dense = t.stacked()  # the stacked copy and the per-key arrays in the lists
        side_b += 2 * sides.nbytes + len(t.sides) * 112
        dense_b += 2 * dense.nbytes + len(t.dense) * 112
        # the registries' entries ((canon, genotypes) -> slot), measured on the first keys
        for registry, n_keys in ((t.side_keys, len(t.sides)), (t.dense_keys, len(t.dense))):
            items = list(itertools.islice(registry.items(), 200))
            if items:
                per = sum(sys.getsizeof(k) + sys.getsizeof(k[1]) + 100 for k, _ in items) / len(items)
                if registry is t.side_keys:
                    side_b += per * n_keys
                else:
                    dense_b += per * n_keys
    pair_b = keys.pair_p.nbytes + keys.pair_q.nbytes + 16 * keys.pair_off[-1]  # + the query's values
    per_side = side_b / max(1, side_n)
    per_dense = dense_b / max(1, dense_n)
    # keys ~ families^b over the second half of the build's parts
    half = [g for g in growth if g[0] >= n_fam / 2] or growth[-1:]
    first, last = half[0], half[-1]

    def slope(i):
        if last[0] == first[0] or first[i] <= 0:
            return 1.0
        return math.log(last[i] / first[i]) / math.log(last[0] / first[0])

    b_side, b_dense, b_pairs = slope(1), slope(2), slope(3)
    print(f"memory model, measured at {n_fam:,} families ({n_rows:,} rows, {n_loci} loci): "
          f"{row_bytes:,.0f} bytes per row (" + "; ".join(f"{k} {v / n_rows:,.0f}" for k, v in arrays.items())
          + f"); {per_side:,.0f} bytes per side vector ({side_n:,}), {per_dense:,.0f} per dense table "
          f"({dense_n:,}), pairs {pair_b / 2**20:,.0f} MiB; keys grow as families^{b_side:.2f} (side), "
          f"^{b_dense:.2f} (dense) over the second half of the build")
    max_pairs = int(np.diff(keys.pair_off).max(initial=0))
    for target in (10_000_000, 50_000_000):
        f = target / n_fam
        rows = n_rows * f
        per_row = row_bytes
        # a locus with more than 65,536 keys (pairs) needs 32-bit ids: counted as if every locus did
        if growth[-1][3] * f ** b_pairs > 65_535 and kp.dtype == np.uint16:
            per_row += arrays["search keys (p, q per locus)"] / n_rows
        if max_pairs * f ** b_dense > fast.NARROW_PAIRS and not keys.wide.size:
            per_row += arrays["pair ids (fast path)"] / n_rows
        rows_b = rows * per_row
        keys_b = side_n * f ** b_side * per_side + dense_n * f ** b_dense * per_dense + pair_b * f ** b_dense
        total = rows_b + keys_b
        print(f"  {target:,} families: ~{rows:,.0f} rows x {per_row:,.0f} B = {rows_b / 2**30:,.1f} GiB "
              f"+ keys {keys_b / 2**30:,.1f} GiB = {total / 2**30:,.1f} GiB; "
              f"{'fits' if total < 20 * 2**30 else 'does NOT fit'} one 24 GiB machine (with 4 GiB left for "
              f"the process, the query buffers and the operating system)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=30, help="one-to-many searches timed")
    parser.add_argument("--many", type=int, default=200, help="persons in the many-to-many run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database", type=int, default=0,
                        help="only: import this many simulated families into SQLite and time the index "
                             "built from the database")
    args = parser.parse_args()
    if args.database:
        database_build(args.database, seed=args.seed)
        return
    model = GeneticModel("CHN_national_GBT37223")
    index = FamilyIndex(model)
    members: dict[int, tuple[str, list]] = {}
    unidentified: list[UnidentifiedRecord] = []
    shapes: dict = {}
    sim_s = rows_s = rows_cpu = outside_s = outside_cpu = 0.0
    growth: list[tuple[int, int, int, int]] = []  # (families, side keys, dense keys, largest locus) per part
    rss0 = _rss_mb()
    print(f"reunite index benchmark: {args.families:,} simulated families, {model.describe()}")

    def stream():
        """The families as the database loader streams them into one add_rows call
        (search/service.py): each part simulated, then its member rows made into index
        rows; the time spent here (simulation, member rows) is not the build's."""
        nonlocal sim_s, rows_s, rows_cpu, outside_s, outside_cpu
        parts = simulated_parts(args.families, max(args.queries, args.many) * 2, seed=args.seed)
        while True:
            t, c = time.perf_counter(), time.process_time()
            part = next(parts, None)
            if part is None:
                outside_s += time.perf_counter() - t
                outside_cpu += time.process_time() - c
                return
            families, unid, _ = part
            sim_s += time.perf_counter() - t
            t1, c1 = time.perf_counter(), time.process_time()
            rows = [member_rows(int(code[1:]), code, rows, shapes=shapes) for code, rows in families.items()]
            rows_s += time.perf_counter() - t1
            rows_cpu += time.process_time() - c1
            for code, family in families.items():
                members[int(code[1:])] = (code, family)
            unidentified.extend(unid)
            outside_s += time.perf_counter() - t
            outside_cpu += time.process_time() - c
            yield from rows

    def progress(n):  # after each batch of PART families: the keys' growth
        growth.append((len(members), sum(len(t.sides) for t in index.tables), sum(len(t.dense) for t in index.tables),
                       max((len(t.sides) + len(t.dense) + 1 for t in index.tables), default=0)))

    t, c = time.perf_counter(), time.process_time()
    index.add_rows(stream(), batch=PART, progress=progress)
    build_s = time.perf_counter() - t - outside_s
    build_cpu = time.process_time() - c - outside_cpu
    t = time.perf_counter()
    index.combined()
    combined_s = time.perf_counter() - t
    fast.PairKeys(np.zeros((1, 1), dtype=index.combined()[0].dtype), np.zeros((1, 1), dtype=index.combined()[0].dtype),
                  np.ones(1, dtype=np.int64))  # compiled before it is timed
    t = time.perf_counter()
    keys = fast.pair_keys(index)
    pairs_s = time.perf_counter() - t
    n_rows = len(index)
    mem = index.memory_bytes()  # the pair ids included
    print(f"index build: {args.families:,} families ({n_rows:,} family/missing rows) in {build_s:.1f} s = "
          f"{args.families / build_s:,.0f} families/s (target >= 50,000; CPU {build_cpu:.1f} s = "
          f"{args.families / build_cpu:,.0f} families/s), streamed into one add_rows call as the database loader "
          f"does; before it, member rows to index rows (pedigree shapes; part of reading from the database) "
          f"{rows_s:.1f} s (CPU {rows_cpu:.1f} s); simulation took {sim_s:.0f} s; "
          f"then the search arrays (rows by sex, locus-major keys) {combined_s:.1f} s and the fast path's pair "
          f"keys {pairs_s:.1f} s ({keys.pair_off[-1]:,} (p, q) pairs)")
    sides = sum(len(t.sides) for t in index.tables)
    dense = sum(len(t.dense) for t in index.tables)
    print(f"index memory: {mem / 2**20:,.0f} MiB (target <= 2,048 MiB): {sides:,} side vectors, {dense:,} dense "
          f"tables over {len(index.loci)} loci; process RSS grew {_rss_mb() - rss0:,.0f} MiB "
          f"(including the simulated database kept for the checks)")
    memory_model(index, growth)

    def load(ids):
        out = []
        for fid in (members if ids is None else ids):
            code, rows = members[fid]
            pedigree = make_pedigree([{"id": r[1], "father": r[2], "mother": r[3], "sex": r[4]} for r in rows])
            out.append(FamilyRecord(fid, code, pedigree, [r[1] for r in rows if r[5] == "missing"],
                                    {r[1]: unpack_profile(r[6]) for r in rows if r[5] == "reference" and r[6]}))
        return out

    full = [u for u in unidentified if len(u.profile) == 24]
    queries = full[:args.queries]
    # one-to-many, one thread, then every core; the fused ranking (fast) and the old path
    cores = os.cpu_count() or 1
    index.scores(queries[0].profile)  # compile
    for enabled in (False, True):
        fast.ENABLED = enabled
        index_search(queries[:1], index, model=model, min_lr=1.0, top_k=20, load_families=load)
    times: dict[str, list] = {}

    def timed(name, f):
        t, c = time.perf_counter(), time.thread_time()
        out = f()
        times.setdefault(name, []).append(((time.perf_counter() - t) * 1000, (time.thread_time() - c) * 1000))
        return out

    results = []
    for u in queries:
        kw = dict(sex=u.sex, min_common=model.min_common_loci, min_log=0.0, top_k=20)
        fast.ENABLED = False
        timed("scan", lambda: index.scores(u.profile))
        timed("rank old", lambda: index.search_rows(u.profile, **kw))
        old = timed("total old", lambda: index_search([u], index, model=model, min_lr=1.0, top_k=20,
                                                      load_families=load))
        fast.ENABLED = True
        q = timed("query", lambda: index.query(u.profile))
        timed("prepare", lambda: fast.prepare(index, q))
        timed("rank", lambda: fast.search_rows(index, u.profile, q=q, **kw))
        new = timed("total", lambda: index_search([u], index, model=model, min_lr=1.0, top_k=20, load_families=load))
        timed("threads", lambda: index_search([u], index, model=model, min_lr=1.0, top_k=20, load_families=load,
                                              workers=cores))
        same = [(c.family.id, c.missing, c.log10_lr, c.lr_per_locus, c.inconsistent_loci) for c in old.candidates] \
            == [(c.family.id, c.missing, c.log10_lr, c.lr_per_locus, c.inconsistent_loci) for c in new.candidates]
        if not same:
            raise SystemExit(f"{u.code}: the fast path's candidates differ from the old path's")
        results.append(new)

    def med(name, k=0):
        return statistics.median(x[k] for x in times[name])

    print(f"one-to-many (one core), median over {len(queries)} 24-locus profiles against {n_rows:,} rows, top 20 "
          f"with per-locus LRs and inconsistent loci (target <= 10 ms), wall (thread CPU):")
    ranking = med('query') + med('rank')
    print(f"  fused ranking (search/index/fast.py): {med('total'):.1f} ms ({med('total', 1):.1f}) in all; ranking "
          f"{ranking:.1f} ms ({med('query', 1) + med('rank', 1):.1f}) = query gathers {med('query'):.1f}, pair "
          f"values and bounds {med('prepare'):.1f}, fused scan and selection of the rows of the person's sex or "
          f"unknown sex {med('rank') - med('prepare'):.1f}; details {med('total') - ranking:.1f} ms "
          f"(reading the 20 families, per-locus LRs, inconsistent loci)")
    print(f"  old path (scan, then selection), same run, same persons: {med('total old'):.1f} ms "
          f"({med('total old', 1):.1f}) in all; ranking {med('rank old'):.1f} ms ({med('rank old', 1):.1f}); "
          f"details {med('total old') - med('rank old'):.1f} ms; scanning every row {med('scan'):.1f} ms; "
          f"candidates identical (rows, LRs bit for bit, per-locus LRs, inconsistent loci)")
    print(f"  speed-up {med('total old') / med('total'):.1f}x in all, {med('rank old') / ranking:.1f}x "
          f"ranking; with {cores} threads: median {med('threads'):.1f} ms")
    # many-to-many on every core, both paths
    many = unidentified[:args.many]
    rates = {}
    for enabled in (True, False):
        fast.ENABLED = enabled
        t = time.perf_counter()
        res = index_search(many, index, model=model, min_lr=1000.0, top_k=20, workers=cores, load_families=load)
        many_s = time.perf_counter() - t
        rate = rates[enabled] = res.num_pairs / many_s
        print(f"many-to-many ({cores} threads, {'fused ranking' if enabled else 'old path'}): {len(many):,} persons x "
              f"{n_rows:,} rows in {many_s:.1f} s = {rate:,.0f} pairs/s; 10,000 x 1,000,000 would take "
              f"{1e10 / rate / 60:.1f} min (target <= 2 min on 2 cores); {len(res.candidates):,} candidates with "
              f"LR >= 1,000")
    fast.ENABLED = True
    rate = rates[True]
    # exactness: the reported candidates and a random sample against brute force
    rng = np.random.default_rng(args.seed)
    worst = 0.0
    checked = 0
    for u, r in zip(queries[:3], results[:3]):
        ids = sorted({c.family.id for c in r.candidates}
                     | set(rng.choice(sorted(members), size=100, replace=False).tolist()))
        brute = brute_force_search([u], load(ids), model=model)
        top = sorted(brute.items(), key=lambda kv: -kv[1])[:20]
        got = {(c.family.id, c.missing): c.log10_lr for c in r.candidates}
        for (uid, fid, m), v in top:
            if (fid, m) in got:
                worst = max(worst, abs(got[(fid, m)] - v))
                checked += 1
            else:  # a sampled family beats the reported 20th: the index would be wrong
                assert v < min(got.values()) + 1e-9, (u.code, fid, m, v)
    print(f"exactness: {checked} reported candidates of 3 persons equal brute force within "
          f"{worst:.1e} in log10 (none of 100 sampled families per person ranks above the 20th reported)")
    # the naive baseline: the engine pair by pair
    sample = load(rng.choice(sorted(members), size=100, replace=False).tolist())
    t = time.perf_counter()
    brute = brute_force_search(queries[:1], sample, model=model)
    naive_rate = len(brute) / (time.perf_counter() - t)
    one_rate = n_rows / (med("total") / 1000)
    print(f"naive baseline (the engine pair by pair): {naive_rate:,.0f} pairs/s; one-to-many is "
          f"{one_rate / naive_rate:,.0f}x it, many-to-many {rate / naive_rate:,.0f}x "
          f"(1,000,000 families pair by pair: {1e6 / naive_rate / 60:,.0f} min per profile)")
    if not math.isfinite(worst):
        raise SystemExit("non-finite difference")


if __name__ == "__main__":
    main()
