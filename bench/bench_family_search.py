"""A new family against every unidentified person: the unidentified index at 1,000,000 persons.

Run with ``make bench`` (or ``python bench/bench_family_search.py [--persons N] [--repeat R]
[--subset S]``).  Simulates (never real people) one family of each simulated type with its
found child, and N unidentified persons typed at the 24 loci of the CHN24 kit (genotypes
drawn from the GB/T table, 5% with 1 to 9 loci missing, sex and dates drawn), puts them in
an :class:`~reunite.search.unidentified_index.UnidentifiedIndex` and prints:

- the index: rows, memory, and the rate at which it reads packed profiles (rows/s, on 100,000);
- per family type, the median time of one family against every person (top 20, LR >= 1,
  per-locus LRs and inconsistent loci of the candidates; target <= 1 s), and the rank of
  the family's found child;
- the current path (the engine's joint-table pass, :func:`reunite.search.engine.search`
  with ``per="family"``) timed on ``--subset`` persons and scaled to N (it also reads every
  person from the database first, not counted here), and the ratio;
- exactness on the subset: the index's top 20 against the engine's (same candidates, same
  order, log10 LR equal).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import numpy as np  # noqa: E402

from reunite.genetics import pedigree as ped  # noqa: E402
from reunite.genetics.kits import kit_markers  # noqa: E402
from reunite.search.engine import FamilyRecord, UnidentifiedRecord, search  # noqa: E402
from reunite.search.unidentified_index import UnidentifiedIndex, search_families  # noqa: E402
from reunite.simulate import simulate_database  # noqa: E402
from reunite.store.profiles import GeneticModel, pack_profile  # noqa: E402

MODEL = GeneticModel("CHN_national_GBT37223")


def _families_and_children(*, seed: int):
    """One family of each simulated type (FamilyRecords, with dates) and its found child."""
    from datetime import date

    db = simulate_database(60, 60, seed=seed, dates=True, share_found=1.0, share_partial=0.0)
    profiles: dict = {}
    for sample, locus, a, b in db["genotypes"]:
        profiles.setdefault(sample, {})[locus] = (a, b)
    rows: dict = {}
    for row in db["families"]:
        rows.setdefault(row[0], []).append(row)
    child = {f: u for u, f, _ in db["truth"]}
    people = {r[0]: r for r in db["unidentified"]}
    chosen, seen = [], set()
    for code, members in sorted(rows.items()):
        kind = members[0][7]
        if kind in seen or code not in child:
            continue
        seen.add(kind)
        day = (lambda s: date.fromisoformat(s) if s else None)
        pedigree = ped.make_pedigree([{"id": r[1], "father": r[2] or None, "mother": r[3] or None, "sex": r[4]}
                                      for r in members])
        f = FamilyRecord(len(chosen) + 1, code, pedigree, [r[1] for r in members if r[5] == "missing"],
                         {r[1]: profiles[r[6]] for r in members if r[5] == "reference"},
                         {r[1]: (day(r[8]), day(r[9])) for r in members if r[5] == "missing" and r[8]})
        u = people[child[code]]
        chosen.append((kind, f, (u[0], u[2], day(u[4]), day(u[5]), profiles[u[1]])))
    return chosen


def simulated_index(num: int, children, *, seed: int) -> UnidentifiedIndex:
    """An index of ``num`` persons: the found children first (read as profiles, as the
    database gives them), then persons drawn at random, their codes drawn directly (the
    arrays :meth:`UnidentifiedIndex.add_rows` builds, checked on the first 2,000)."""
    rng = np.random.default_rng(seed)
    index = UnidentifiedIndex(MODEL)
    index.add_rows((k + 1, code, sex, birth, found, pack_profile(profile))
                   for k, (code, sex, birth, found, profile) in enumerate(children))
    n = num - len(index)
    loci = [m.name for m in kit_markers(MODEL.population, kit="CHN24", mutation="stepwise")]
    codes = np.full((n, len(index.columns)), index.untyped, dtype=index.dtype)
    for locus in loci:
        c = index.col_idx[locus]
        freqs = index.tables.base[locus][2]
        cdf = np.cumsum(freqs)
        x = np.minimum(np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right"), len(freqs) - 1)
        y = np.minimum(np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right"), len(freqs) - 1)
        codes[:, c] = np.minimum(x, y) * len(freqs) + np.maximum(x, y)
    partial = np.flatnonzero(rng.random(n) < 0.05)
    for r in partial.tolist():
        drop = rng.choice([index.col_idx[l] for l in loci], size=int(rng.integers(1, 10)), replace=False)
        codes[r, drop] = index.untyped
    birth = rng.integers(12_000, 18_000, size=n).astype(np.int32)  # days since 1970: 2002 to 2019
    found = (birth + rng.integers(4, 6 * 365, size=n)).astype(np.int32)
    index.ids = np.concatenate([index.ids, np.arange(len(index) + 1, num + 1, dtype=np.int64)])
    index.codes = np.concatenate([index.codes, codes])
    index.sex = np.concatenate([index.sex, rng.integers(1, 3, size=n).astype(np.uint8)])
    index.birth = np.concatenate([index.birth, birth])
    index.found = np.concatenate([index.found, found])
    index.flags = np.concatenate([index.flags, np.zeros(n, dtype=np.uint8)])
    index.codes_text = index.codes_text + [f"U{k:07d}" for k in range(len(index.codes_text) + 1, num + 1)]
    index.typed_count = index.typed_count + (codes != index.untyped).sum(axis=0)
    check = UnidentifiedIndex(MODEL)
    records = [record(index, r) for r in range(min(2000, num))]
    check.add(records)
    assert np.array_equal(check.codes, index.codes[:len(records)]), "the drawn codes are not add_rows' codes"
    return index


def record(index: UnidentifiedIndex, r: int) -> UnidentifiedRecord:
    """The person of row r as the database would give it (its profile decoded)."""
    from reunite.search.engine import _day_date

    profile = {}
    for c in np.flatnonzero(index.codes[r] != index.untyped).tolist():
        alleles = index.tables.base[index.columns[c]][1]
        x, y = divmod(int(index.codes[r, c]), int(index.sizes[c]))
        profile[index.columns[c]] = (alleles[x], alleles[y])
    sex = {1: "M", 2: "F"}.get(int(index.sex[r]), "U")
    return UnidentifiedRecord(int(index.ids[r]), index.codes_text[r], sex, profile, _day_date(index.birth[r]),
                              _day_date(index.found[r]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--subset", type=int, default=20_000, help="persons the current path is timed on")
    args = parser.parse_args()

    chosen = _families_and_children(seed=3)
    t = time.perf_counter()
    index = simulated_index(args.persons, [c for _, _, c in chosen], seed=4)
    made = time.perf_counter() - t
    sample = [record(index, r) for r in range(min(100_000, len(index)))]
    rows = [(u.id, u.code, u.sex, u.estimated_birth_date, u.found_date, pack_profile(u.profile)) for u in sample]
    t = time.perf_counter()
    UnidentifiedIndex(MODEL).add_rows(rows)
    rate = len(rows) / (time.perf_counter() - t)
    print(f"unidentified index: {len(index):,} persons, {len(index.columns)} columns ({index.dtype.__name__} codes), "
          f"{index.memory_bytes() / 2**20:,.0f} MiB; simulated in {made:.1f} s; reads packed profiles at "
          f"{rate:,.0f} persons/s")

    def load(ids):
        return [record(index, r) for r in range(len(index))] if ids is None else [record(index, i - 1) for i in ids]

    search_families(index, [chosen[0][1]], model=MODEL, load_unidentified=load)  # compiles the scan
    subset = [record(index, r) for r in range(min(args.subset, len(index)))]
    sub_index = UnidentifiedIndex(MODEL)
    sub_index.add(subset)
    medians, scaled = [], []
    print(f"{'family type':<22}{'index (median)':>16}{'current path, scaled':>22}{'ratio':>8}   child's rank   "
          "top 20 on the subset")
    for kind, f, child in chosen:
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            result = search_families(index, [f], model=MODEL, load_unidentified=load, top_k=20)
            times.append(time.perf_counter() - t)
        rank = next((c.rank for c in result.candidates if c.unidentified.code == child[0]), None)
        t = time.perf_counter()
        engine = search(subset, [f], model=MODEL, per="family", top_k=20)
        old = (time.perf_counter() - t) * len(index) / len(subset)
        ours = search_families(sub_index, [f], model=MODEL, load_unidentified=lambda ids: [subset[i - 1] for i in ids],
                               top_k=20)
        same = ([(c.unidentified.id, c.missing, c.log10_lr) for c in ours.candidates]
                == [(c.unidentified.id, c.missing, c.log10_lr) for c in engine.candidates])
        medians.append(statistics.median(times))
        scaled.append(old)
        print(f"{kind:<22}{medians[-1] * 1000:>13.0f} ms{old:>20.1f} s{old / medians[-1]:>7.0f}x   "
              f"{rank if rank else 'not in top 20':>12}   {'identical' if same else 'DIFFERENT'}")
    print(f"one family against {len(index):,} unidentified persons: median {statistics.median(medians) * 1000:.0f} ms "
          f"over the types (worst {max(medians) * 1000:.0f} ms; target <= 1 s); the current path "
          f"~{statistics.median(scaled):.1f} s scaled from {len(subset):,} persons "
          f"(~{statistics.median(scaled) / statistics.median(medians):.0f}x)")


if __name__ == "__main__":
    main()
