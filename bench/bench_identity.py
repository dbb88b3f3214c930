"""Identity-check benchmark: the lookup kept beside the family index against building it
for every search.

Run with ``python bench/bench_identity.py [--sizes 200000 1000000] [--database 100000]``
(several minutes: not part of ``make bench``).  Two parts:

1. Reference profiles simulated directly with NumPy (unrelated persons drawn from the
   shipped CHN allele frequencies at the 24 CHN loci, a tenth typed at 16 loci only; no
   database): the lookup built from rows, saved (file size), read back, and one person
   checked against it (the one-to-many case: the compiled single pass) — against the NumPy
   scan every search ran before, with the same matches.
2. Through SQLite: a simulated database of ``--database`` families imported (or ``--db``, an
   existing one), then a whole ``run_search`` for one person (family index loaded, flags,
   nothing stored) with the lookup built from the database for the search (as before) and
   with the kept lookup (now); the lookup brought up to date after a small import; ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import numpy as np  # noqa: E402

from reunite.search import identity  # noqa: E402
from reunite.search.identity import IdentityLookup  # noqa: E402
from reunite.store.profiles import GeneticModel  # noqa: E402

MODEL = GeneticModel("CHN_national_GBT37223")


def _locus_tables():
    """Per CHN24 locus: name, allele labels and their frequencies (normalised)."""
    from reunite.genetics.kits import CHN24
    from reunite.genetics.frequencies import get_population

    population = get_population(MODEL.population)
    out = []
    for locus in CHN24:
        table = population.locus(locus)
        alleles = list(table.afreq)
        p = np.array([table.afreq[a] for a in alleles], dtype=float)
        out.append((table.locus, alleles, p / p.sum()))
    return out


def simulated_rows(n: int, *, seed: int, chunk: int = 100_000):
    """Rows for :meth:`IdentityLookup.add_rows` in chunks: ``n`` unrelated reference
    profiles (a tenth typed at the first 16 loci only)."""
    rng = np.random.default_rng(seed)
    tables = _locus_tables()
    made = 0
    while made < n:
        m = min(chunk, n - made)
        parts = []
        for k, (locus, alleles, p) in enumerate(tables):
            a = rng.choice(len(alleles), size=m, p=p)
            b = rng.choice(len(alleles), size=m, p=p)
            lo, hi = np.minimum(a, b), np.maximum(a, b)
            labels = np.array([f"{locus}={x}/{y}" for x in alleles for y in alleles], dtype=object)
            column = labels[lo * len(alleles) + hi]
            if k >= 16:
                column = np.where(rng.random(m) < 0.1, None, column)
            parts.append(column)
        for j in range(m):
            code = made + j
            packed = ";".join(filter(None, (col[j] for col in parts)))
            yield ("reference", f"S{code:08d}", "FA", code // 3 + 1, f"F{code // 3 + 1:08d}", None, packed)
        made += m


def _median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def part_simulated(n: int, *, seed: int, repeats: int, tmp: Path) -> None:
    lookup = IdentityLookup(min_common_loci=MODEL.min_common_loci)
    rows = simulated_rows(n, seed=seed)
    build_s = 0.0
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == 100_000:
            t = time.perf_counter()
            lookup.add_rows(batch)
            build_s += time.perf_counter() - t
            batch = []
    t = time.perf_counter()
    lookup.add_rows(batch)
    lookup.genotypes()
    lookup.holders.compact()
    build_s += time.perf_counter() - t
    path = tmp / f"sim{n}.identity.npz"
    t = time.perf_counter()
    lookup.save(path)
    save_s = time.perf_counter() - t
    t = time.perf_counter()
    back = IdentityLookup.load(path, min_common_loci=MODEL.min_common_loci)
    load_s = time.perf_counter() - t
    g = back.genotypes()
    rng = np.random.default_rng(seed + 1)
    picks = rng.integers(0, n, size=repeats)
    queries = []
    for k, row in enumerate(picks.tolist()):  # entries, one in two changed at one locus
        profile = {back.loci[li]: sorted(next(key for key, c in back._geno[li].items() if c == code))
                   for li, code in enumerate(g[row].tolist()) if code >= 0}
        if k % 2:
            locus = sorted(profile)[0]
            profile[locus] = ("99", "99")
        queries.append({locus: tuple(v) for locus, v in profile.items()})
    back.matches(queries[:1])  # compile (cached on disk after the first run)
    found = [back.matches([q])[0] for q in queries]
    assert all(found), "every query is an entry or one locus from one"
    new_ms = _median_ms(lambda: back.matches([queries[0]]), repeats)
    qg, extra = back._matrix([back._encode(q, grow=False) for q in queries[:3]])
    old_ms = _median_ms(lambda: identity.scan_numpy(g.astype(np.int64), qg[:1], extra[:1], MODEL.min_common_loci),
                        max(3, repeats // 5))
    assert sorted(identity.scan_numpy(g.astype(np.int64), qg, extra, MODEL.min_common_loci)) == \
        sorted(identity.scan_compiled(g, qg, extra, MODEL.min_common_loci))
    size = path.stat().st_size
    path.unlink()
    print(f"{n:>9,} reference profiles: built from rows in {build_s:.1f} s ({n / build_s:,.0f}/s); "
          f"file {size / 2**20:,.0f} MiB written in {save_s:.2f} s, read back in {load_s:.2f} s; "
          f"one person checked in {new_ms:.1f} ms (median of {repeats}), the NumPy scan {old_ms:.0f} ms "
          f"({old_ms / new_ms:.0f}x); read back + one check {load_s * 1000 + new_ms:,.0f} ms")


def part_database(num_families: int, *, db: str | None, seed: int, repeats: int, tmp: Path) -> None:
    from sqlalchemy.orm import Session

    from reunite.search import service
    from reunite.search.service import family_index, identity_cache, identity_lookup, identity_path, run_search
    from reunite.simulate import simulate_database, write_database
    from reunite.store.db import make_engine, upgrade
    from reunite.store.importers import import_all, import_genotypes, import_unidentified

    if db is None:
        db_path = tmp / "bench.db"
        t = time.perf_counter()
        paths = write_database(simulate_database(num_families, 200, seed=seed), tmp / "sim")
        engine = make_engine(f"sqlite:///{db_path}")
        upgrade(engine)
        with Session(engine) as s, s.begin():
            import_all(s, paths, model=MODEL)
        print(f"simulated and imported {num_families:,} families in {time.perf_counter() - t:.0f} s")
    else:
        db_path = Path(db)
        engine = make_engine(f"sqlite:///{db_path}")
    os.environ["REUNITE_INDEX"] = str(tmp / "bench.index")  # the index and lookup of this run only
    with Session(engine) as s:
        family_index(s, MODEL)  # built once, as a deployed database has it
        people = [u.id for u in service.load_unidentified(s)][:repeats]
        t = time.perf_counter()
        fresh = identity_lookup(s, MODEL)
        fresh_s = time.perf_counter() - t
        t = time.perf_counter()
        identity_cache(s, MODEL)
        build_s = time.perf_counter() - t
        size = identity_path(engine).stat().st_size
        service._IDENTITY_CACHE.clear()
        t = time.perf_counter()
        identity_cache(s, MODEL)
        load_s = time.perf_counter() - t

        def before(uid):
            run_search(s, MODEL, unidentified_ids=[uid], store=False, identity=identity_lookup(s, MODEL))

        def after(uid):
            run_search(s, MODEL, unidentified_ids=[uid], store=False)

        after(people[0])
        before_ms = statistics.median(_median_ms(lambda: before(u), 1) for u in people[:max(3, repeats // 4)])
        after_ms = statistics.median(_median_ms(lambda: after(u), 1) for u in people)
        service._IDENTITY_CACHE.clear()
        cold_ms = _median_ms(lambda: after(people[0]), 1)
    # a small import: the lookup brought up to date with the new batches only
    profile = next(iter(fresh.holders)).sample
    with Session(engine) as s:
        from sqlalchemy import select

        from reunite.store.models import Sample
        packed = s.execute(select(Sample.profile).where(Sample.code == profile)).scalar()
    g_csv, u_csv = tmp / "g_new.csv", tmp / "u_new.csv"
    items = [item.partition("=") for item in packed.split(";")]
    g_csv.write_text("sample_id,locus,allele1,allele2\n" + "".join(
        f"SNEW{k},{locus},{g.replace('/', ',')}\n" for k in range(10) for locus, _, g in items))
    u_csv.write_text("person_id,sample_id,sex\n" + "".join(f"UNEW{k},SNEW{k},U\n" for k in range(10)))
    with Session(engine) as s, s.begin():
        import_genotypes(s, g_csv, model=MODEL)
        import_unidentified(s, u_csv)
    with Session(engine) as s:
        t = time.perf_counter()
        lookup = identity_cache(s, MODEL)
        update_s = time.perf_counter() - t
    engine.dispose()
    print(f"SQLite, {len(fresh):,} profiles ({num_families:,} families): the lookup built from the database in "
          f"{fresh_s:.1f} s as before every search; kept lookup built and saved in {build_s:.1f} s "
          f"(file {size / 2**20:,.0f} MiB), read back in {load_s * 1000:,.0f} ms; after an import of 10 "
          f"persons brought up to date in {update_s * 1000:,.0f} ms ({len(lookup):,} profiles)")
    print(f"run_search for one person (index loaded from its file, flags, not stored): before {before_ms:,.0f} ms, "
          f"now {after_ms:,.0f} ms with the lookup kept in the process ({before_ms / after_ms:.1f}x), "
          f"{cold_ms:,.0f} ms in a new process reading the file ({before_ms / cold_ms:.1f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[200_000, 1_000_000],
                        help="reference profiles simulated with NumPy (part 1; none: skipped)")
    parser.add_argument("--database", type=int, default=100_000,
                        help="families simulated and imported into SQLite (part 2; 0: skipped)")
    parser.add_argument("--db", help="an existing SQLite database for part 2 instead (not changed: "
                                     "it is copied)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for n in args.sizes:
            part_simulated(n, seed=args.seed, repeats=args.repeats, tmp=tmp)
        if args.database or args.db:
            db = None
            if args.db:
                import shutil
                db = str(tmp / "copy.db")
                shutil.copy(args.db, db)
            part_database(args.database, db=db, seed=args.seed, repeats=args.repeats, tmp=tmp)


if __name__ == "__main__":
    main()
