"""Kinship LR throughput: 24-locus cases with the stepwise mutation model.

Run with ``make bench`` (or ``python bench/bench_lr.py [--cases N]``).  Prints, for duo,
trio, full-sibling and grandparents-and-mother cases simulated on the CHN24 kit:
cases per second batched (``kinship_lr_many``), one case per call (``kinship_lr``), and
the naive brute-force reference (``tests/naive.py``) on a few cases, with the ratios
measured in this run.  Single-threaded: the figures are per core.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from naive import naive_likelihood  # noqa: E402
from test_mutation_vectorised import rowwise_matrix  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lr_casework import make_duo_cases  # noqa: E402

from reunite.genetics import mutation as mutation_module  # noqa: E402
from reunite.genetics.caseio import load_case_document, read_cases  # noqa: E402
from reunite.genetics.lr_report import loci_needing_mutation_many, make_report  # noqa: E402

from reunite.genetics import pedigree as ped  # noqa: E402
from reunite.genetics.frequencies import prepare_afreq  # noqa: E402
from reunite.genetics.kinship import kinship_lr, kinship_lr_many  # noqa: E402
from reunite.genetics.kits import CHN24, kit_markers  # noqa: E402
from reunite.simulate import simulate_genotypes  # noqa: E402

GRANDPARENTS_AND_MOTHER = ped.grandparents("GF", "GM", "CH", parent="FA", other_parent="MO")
NOT_FATHER = ped.make_pedigree([ped.Individual("AF", sex="M"), ped.Individual("MO", sex="F"),
                                ped.Individual("CH", None, "MO")])

KINDS = {
    "duo": (ped.duo("AF", "CH"), "unrelated", None),
    "trio": (ped.trio("AF", "MO", "CH"), NOT_FATHER, None),
    "full_sibs": (ped.full_sibs("S1", "S2"), "unrelated", None),
    "grandparents_and_mother": (GRANDPARENTS_AND_MOTHER, "unrelated", ["GF", "GM", "MO", "CH"]),
}


def make_cases(kind: str, num: int, *, seed: int):
    h1, h2, typed = KINDS[kind]
    markers = kit_markers("CHN_national_GBT37223", kit=CHN24, mutation="stepwise")
    return [(f"{kind}{k}", h1, h2, simulate_genotypes(h1, markers=markers, seed=seed + k, typed=typed), 0.0)
            for k in range(num)]


def naive_case(case, *, num_markers: int | None = None) -> float:
    """Brute-force LR of one case (the naive reference of the test suite), optionally on its
    first ``num_markers`` markers only."""
    _, h1, h2, markers, _ = case
    h2 = h2 if not isinstance(h2, str) else ped.unrelated(sorted(markers[0].genotypes))
    lr = 1.0
    for m in markers[:num_markers]:
        alleles, p, _ = prepare_afreq(m.afreq, observed=[a for g in m.genotypes.values() for a in g])
        idx = {a: k for k, a in enumerate(alleles)}
        male = m.mutation.male.transition_matrix(alleles, p)
        female = m.mutation.female.transition_matrix(alleles, p)
        genos = {i: (idx[a], idx[b]) for i, (a, b) in m.genotypes.items()}
        l1 = naive_likelihood(h1, afreq=p, male=male, female=female, genotypes=genos)
        l2 = naive_likelihood(h2, afreq=p, male=male, female=female, genotypes=genos)
        lr *= l1 / l2
    return lr


@contextmanager
def old_matrix_path():
    """The matrix construction before issue 11: row by row in Python, cached by the model,
    the alleles and the whole frequency table (so rebuilt for every case's own table)."""
    saved = mutation_module._cached_matrix
    cache: dict = {}

    def cached(model, alleles, afreq):
        key = (model, alleles, tuple(float(p) for p in afreq))
        hit = cache.get(key)
        if hit is None:
            hit = rowwise_matrix(model, list(alleles), __import__("numpy").asarray(key[2]))
            hit.setflags(write=False)
            cache[key] = hit
        return hit

    mutation_module._cached_matrix = cached
    mutation_module._CACHE.clear()
    try:
        yield
    finally:
        mutation_module._cached_matrix = saved
        mutation_module._CACHE.clear()


def casework(num_cases: int, *, baseline_cases: int) -> None:
    """``reunite lr`` casework: duo cases on 23 loci, stepwise model, each case with its own
    frequency table; end to end (a subprocess: start, parse, compute, JSON out) and in process."""
    print(f"\nreunite lr casework: {num_cases:,} duo cases, 23 loci (HuaxiaPlatinum), stepwise model, "
          "each case with its own frequency table (bench/lr_casework.py)")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "duo_cases.json"
        path.write_text(json.dumps(make_duo_cases(num_cases, seed=11)), encoding="utf-8")
        exe = Path(sys.executable).with_name("reunite")
        t = time.perf_counter()
        done = subprocess.run([str(exe), "lr", str(path), "--json"], capture_output=True, check=True)
        end_to_end = num_cases / (time.perf_counter() - t)
        cli_lrs = [r["lr_total"] for r in json.loads(done.stdout)["results"]]
        mutation_module._CACHE.clear()
        t = time.perf_counter()
        subprocess.run([str(exe), "--version"], capture_output=True, check=True)
        start = time.perf_counter() - t
        t = time.perf_counter()
        doc = load_case_document(path)
        parse = time.perf_counter() - t
        t = time.perf_counter()
        case_file = read_cases(doc, source=str(path))
        cases = [(e.case.id, e.case.h1, e.case.h2, e.case.markers, e.case.theta) for e in case_file.entries]
        read = parse + time.perf_counter() - t
        t = time.perf_counter()
        ours = kinship_lr_many(cases)
        compute = time.perf_counter() - t
        in_process = num_cases / (read + compute)
        t = time.perf_counter()
        needing = loci_needing_mutation_many(cases, ours)
        reports = [make_report(r, loci_needing_mutation=loci).to_json() for r, loci in zip(ours, needing)]
        json.dumps({"results": reports}, indent=1)
        report = time.perf_counter() - t
        with old_matrix_path():
            t = time.perf_counter()
            old = kinship_lr_many(cases[:baseline_cases])
            baseline = baseline_cases / (read * baseline_cases / num_cases + time.perf_counter() - t)
        mutation_module._CACHE.clear()
        t = time.perf_counter()
        for c in cases[:baseline_cases]:
            kinship_lr(c[1], c[2], c[3], theta=c[4], case_id=c[0])
        single = baseline_cases / (read * baseline_cases / num_cases + time.perf_counter() - t)
    assert [r.lr_total for r in old] == [r.lr_total for r in ours[:baseline_cases]]
    assert cli_lrs == [r.lr_total for r in ours]
    header = f"{'path':<58}{'cases/s':>10}{'vs old':>9}"
    print(header)
    print("-" * len(header))
    for name, value in (("end to end: reunite lr FILE --json (subprocess)", end_to_end),
                        ("in process: read the file + kinship_lr_many", in_process),
                        ("in process: read + one kinship_lr call per case", single),
                        (f"old matrix path (row by row, keyed by the table; {baseline_cases} cases)", baseline)):
        print(f"{name:<58}{value:>10,.0f}{value / baseline:>8.1f}x")
    print(f"where the time goes, {num_cases:,} cases: process start and imports {start:.2f} s, JSON parse "
          f"{parse:.2f} s, reading the cases {read - parse:.2f} s, LRs (kinship_lr_many) {compute:.2f} s, loci "
          f"needing a mutation + report + JSON out {report:.2f} s")
    print("(the old path's LRs equal ours bit for bit, "
          "and the CLI's equal ours; the old path here has the rest of today's code (allele labels and table "
          "checksums looked up once), so the whole gain is larger: run the same file through an older reunite "
          "for it; the issue's target is 2,000 cases/s end to end)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000, help="cases per kind (batched run)")
    parser.add_argument("--casework", type=int, default=2000, help="duo cases of the casework measurement")
    parser.add_argument("--casework-only", action="store_true", help="only the casework measurement")
    args = parser.parse_args()
    if args.casework_only:
        casework(args.casework, baseline_cases=min(300, args.casework))
        return
    print(f"reunite kinship LR benchmark: {len(CHN24)} loci (CHN24), stepwise mutation with the "
          "shipped per-locus per-sex rates, θ = 0, one thread")
    print("reference: the R pedsuite takes about 6-9 ms per 23-locus duo case on this machine "
          "(figure from the issue, not measured here)\n")
    header = f"{'kind':<24}{'batched cases/s':>17}{'single cases/s':>16}{'naive cases/s':>15}" \
             f"{'batched/naive':>15}{'single/naive':>14}"
    print(header)
    print("-" * len(header))
    for kind in KINDS:
        cases = make_cases(kind, args.cases, seed=1000)
        kinship_lr_many(cases[:5])  # warm caches (mutation matrices)
        t = time.perf_counter()
        kinship_lr_many(cases)
        batched = len(cases) / (time.perf_counter() - t)
        single_cases = cases[: max(50, args.cases // 10)]
        t = time.perf_counter()
        for c in single_cases:
            kinship_lr(c[1], c[2], c[3], theta=c[4], case_id=c[0])
        single = len(single_cases) / (time.perf_counter() - t)
        # brute force is slow: time it on a few markers and scale to the whole kit
        naive_markers = {"duo": 24, "trio": 24, "full_sibs": 1, "grandparents_and_mother": 6}[kind]
        c = cases[0]
        t = time.perf_counter()
        naive_lr = naive_case(c, num_markers=naive_markers)
        naive = naive_markers / len(c[3]) / (time.perf_counter() - t)
        ours = kinship_lr(c[1], c[2], c[3][:naive_markers]).lr_total
        assert abs(ours / naive_lr - 1) < 1e-9, (kind, ours, naive_lr)
        print(f"{kind:<24}{batched:>17,.0f}{single:>16,.0f}{naive:>15,.2f}"
              f"{batched / naive:>15,.0f}{single / naive:>14,.0f}")
    print("\nbatched: kinship_lr_many over all cases; single: one kinship_lr call per case; "
          "naive: brute-force enumeration (tests/naive.py) on one case, checked equal to 1e-9;\n"
          "for full siblings and grandparents it is timed on the first 1 and 6 markers and "
          "scaled to 24.")
    casework(args.casework, baseline_cases=min(300, args.casework))


if __name__ == "__main__":
    main()
