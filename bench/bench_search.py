"""Database search benchmark: import, one-to-many and many-to-many search, accuracy.

Run with ``make bench`` (or ``python bench/bench_search.py [--families N] [--unidentified M]``).
Prints absolute figures and the ratio of the search to the naive baseline (the kinship engine
pair by pair, ``brute_force_search``) measured in the same run, plus accuracy per family type.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

from rich.console import Console  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from reunite.demo import accuracy_by_family_type  # noqa: E402
from reunite.search.engine import brute_force_search, search  # noqa: E402
from reunite.search.service import load_families, load_unidentified  # noqa: E402
from reunite.simulate import simulate_database, write_database  # noqa: E402
from reunite.store.db import make_engine, upgrade  # noqa: E402
from reunite.store.importers import import_families, import_genotypes, import_unidentified  # noqa: E402
from reunite.store.profiles import GeneticModel  # noqa: E402


def _simulated(tmp: str, num_families: int, num_unidentified: int, *, seed: int):
    """Simulate a database into ``tmp``; returns (simulation, CSV paths, empty migrated engine,
    seconds spent simulating and writing)."""
    t = time.perf_counter()
    db = simulate_database(num_families, num_unidentified, seed=seed)
    paths = write_database(db, Path(tmp) / "sim")
    sim_s = time.perf_counter() - t
    engine = make_engine(f"sqlite:///{tmp}/bench.db")
    upgrade(engine)
    return db, paths, engine, sim_s


def big_import(num_families: int, *, seed: int) -> None:
    """Time the import of a large simulated genotype file into a fresh SQLite database."""
    model = GeneticModel("CHN_national_GBT37223")
    with tempfile.TemporaryDirectory() as tmp:
        _, paths, engine, sim_s = _simulated(tmp, num_families, num_families // 10, seed=seed)
        t = time.perf_counter()
        with Session(engine) as s, s.begin():
            g = import_genotypes(s, paths["genotypes"], model=model)
        dt = time.perf_counter() - t
        engine.dispose()
    print(f"large import: {g.num_records:,} profiles ({g.num_rows:,} genotypes) in {dt:.1f} s = "
          f"{g.num_records / dt:,.0f} profiles/s (target: 1,000,000 in 120 s); simulation and CSV "
          f"writing took {sim_s:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", type=int, default=2000)
    parser.add_argument("--unidentified", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--import-families", type=int, default=0,
                        help="also time the import of the genotypes of this many simulated families "
                             "(520,000 gives about 945,000 profiles; takes minutes)")
    args = parser.parse_args()
    if args.import_families:
        big_import(args.import_families, seed=args.seed)
    console = Console()
    model = GeneticModel("CHN_national_GBT37223")
    with tempfile.TemporaryDirectory() as tmp:
        db, paths, engine, sim_s = _simulated(tmp, args.families, args.unidentified, seed=args.seed)
        t = time.perf_counter()
        with Session(engine) as s, s.begin():
            g = import_genotypes(s, paths["genotypes"], model=model)
        import_s = time.perf_counter() - t
        with Session(engine) as s, s.begin():
            import_families(s, paths["families"], model=model)
            import_unidentified(s, paths["unidentified"])
        with Session(engine) as s:
            families = load_families(s)
            unidentified = load_unidentified(s)
    num_fm = sum(len(f.missing) for f in families)
    print(f"reunite search benchmark: {len(families):,} families, {len(unidentified):,} unidentified, "
          f"{model.describe()}, one thread")
    print(f"simulation {sim_s:.2f} s; genotype import {g.num_records:,} profiles in {import_s:.2f} s "
          f"= {g.num_records / import_s:,.0f} profiles/s (target for 1,000,000 in 2 min: 8,333/s)")
    # one-to-many: one unidentified person against every family
    t = time.perf_counter()
    one = search(unidentified[:1], families, model=model, min_lr=1.0, top_k=20)
    one_s = time.perf_counter() - t
    print(f"one-to-many: 1 profile vs {num_fm:,} families in {one_s * 1000:,.0f} ms "
          f"({num_fm / one_s:,.0f} families/s; target 1,000,000 families in 50 ms)")
    # many-to-many, one process and every core
    t = time.perf_counter()
    many = search(unidentified, families, model=model, min_lr=1.0, top_k=5)
    many_s = time.perf_counter() - t
    print(f"many-to-many: {many.num_compared:,} pairs compared ({many.num_pairs:,} in all) in {many_s:.1f} s "
          f"= {many.num_compared / many_s:,.0f} pairs/s on one core (target: 10,000 x 1,000,000 in "
          f"15 min = {10_000 * 1_000_000 / 900 / 2:,.0f} pairs/s per core)")
    cores = os.cpu_count() or 1
    if cores > 1:
        t = time.perf_counter()
        search(unidentified, families, model=model, min_lr=1.0, top_k=5, workers=cores)
        par_s = time.perf_counter() - t
        print(f"many-to-many on {cores} processes: {par_s:.1f} s = {many.num_compared / par_s:,.0f} pairs/s "
              f"({many_s / par_s:.2f}x one process)")
    # naive baseline: the kinship engine pair by pair, on a sample of families
    sample = families[: max(20, len(families) // 20)]
    t = time.perf_counter()
    brute = brute_force_search(unidentified[:1], sample, model=model)
    brute_s = time.perf_counter() - t
    naive_rate = len(brute) / brute_s
    one_rate = one.num_compared / one_s
    print(f"naive baseline (engine pair by pair): {naive_rate:,.0f} pairs/s; one-to-many is "
          f"{one_rate / naive_rate:,.1f}x it, many-to-many {many.num_compared / many_s / naive_rate:,.1f}x")
    acc = accuracy_by_family_type(db, many.candidates)
    console.print("accuracy (share of true matches ranked first; false candidates with LR >= 10,000):")
    for kind, n, first, false_high in acc:
        console.print(f"  {kind:<22}{first:>5}/{n:<5} ranked first   {false_high} false >= 10,000")


if __name__ == "__main__":
    main()
