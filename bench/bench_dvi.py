"""Joint identification (DVI) speed: reunite's search against the naive computation.

Run with ``make bench`` (or ``python bench/bench_dvi.py [--sample N]``).  For dvir's planecrash,
grave and icmp datasets (test fixtures in tests/data/familias/dvi/): the whole
``joint_identification`` call (pairwise matrix, undisputed rounds, every assignment), and the
naive computation of the test suite (``tests/test_dvi.py``: one pedigree holding every family and
victim per assignment, one ``kinship_lr`` each) timed on ``--sample`` assignments in this run and
scaled to all of them.  The sampled LRs are checked to agree (1e-9).  Single-threaded.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))

from test_dvi import _oracle_lr  # noqa: E402

from reunite.genetics.dvi import DviProblem, ReferenceFamily, joint_identification  # noqa: E402
from reunite.genetics.dvi_io import read_dvi_json  # noqa: E402
from reunite.genetics.pedigree import Individual, make_pedigree  # noqa: E402

DATASETS = ("planecrash", "grave", "icmp")


def _unique_ids(problem: DviProblem) -> DviProblem:
    """The same problem with every person renamed ``family:person`` (dvir's datasets reuse
    reference names across families; the naive computation joins them in one pedigree)."""
    families = []
    for fam in problem.families:
        ren = lambda x, f=fam.name: x and f"{f}:{x}"  # noqa: E731
        ped = make_pedigree([Individual(ren(p.id), ren(p.father), ren(p.mother), p.sex)
                             for p in fam.pedigree.individuals])
        families.append(ReferenceFamily(fam.name, ped, tuple(ren(m) for m in fam.missing),
                                        {ren(p): g for p, g in fam.genotypes.items()}))
    return DviProblem(problem.victims, families, problem.markers, name=problem.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=30, help="assignments timed with the naive computation")
    args = parser.parse_args()
    print(f"{'dataset':<12}{'assignments':>12}{'reunite s':>11}{'naive s/assignment':>20}"
          f"{'naive s (all, scaled)':>23}{'ratio':>10}")
    for name in DATASETS:
        problem = read_dvi_json(TESTS / "data" / "familias" / "dvi" / f"{name}.json")
        start = time.perf_counter()
        result = joint_identification(problem, top=None)
        ours = time.perf_counter() - start
        rows = [a for a in result.assignments if math.isfinite(a.log10_lr)][:args.sample]
        renamed = _unique_ids(problem)
        family_of = {m: fam.name for fam in problem.families for m in fam.missing}
        start = time.perf_counter()
        for a in rows:
            pairs = {v: m and f"{family_of[m]}:{m}" for v, m in a.pairs.items()}
            lr = _oracle_lr(renamed, pairs)
            assert math.isclose(math.log10(lr), a.log10_lr, rel_tol=1e-9, abs_tol=1e-9), (name, a.pairs)
        per = (time.perf_counter() - start) / len(rows)
        naive = per * result.n_assignments
        print(f"{name:<12}{result.n_assignments:>12,}{ours:>11.2f}{per:>20.4f}{naive:>23.0f}{naive / ours:>9.0f}x")


if __name__ == "__main__":
    main()
