"""Kinship LR throughput: 24-locus cases with the stepwise mutation model.

Run with ``make bench`` (or ``python bench/bench_lr.py [--cases N]``).  Prints, for duo,
trio, full-sibling and grandparents-and-mother cases simulated on the CHN24 kit:
cases per second batched (``kinship_lr_many``), one case per call (``kinship_lr``), and
the naive brute-force reference (``tests/naive.py``) on a few cases, with the ratios
measured in this run.  Single-threaded: the figures are per core.

Then (alone with ``--casework-only``) ``reunite lr FILE --json`` on 2,000 duo cases, each with
its own frequency table: the casework path (``reunite.console``, ``genetics/duo_cases.py``) and
the general path end to end and in process, in wall and CPU seconds, outputs compared byte for
byte.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from naive import naive_likelihood  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lr_casework import make_duo_cases  # noqa: E402

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


def _run(args: list[str], *, repeat: int = 1) -> tuple[float, float, bytes]:
    """Best wall-clock and CPU seconds (user + system) of a command over ``repeat`` runs, and
    its output (the machine may be shared: the CPU time is what the command itself costs)."""
    best_wall = best_cpu = math.inf
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        done = subprocess.run(args, capture_output=True, check=True)
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        best_wall, best_cpu = min(best_wall, wall), min(best_cpu, cpu)
    return best_wall, best_cpu, done.stdout


#: the general path end to end: the full command line, as ``reunite`` ran before the casework path
GENERAL_PATH = "import sys; from reunite.cli import main; sys.argv[0] = 'reunite'; sys.exit(main())"


def casework(num_cases: int, *, repeat: int = 5) -> None:
    """``reunite lr`` casework: duo cases on 23 loci, stepwise model, each case with its own
    frequency table; end to end (a subprocess: start, parse, compute, JSON out) and in process,
    the casework path and the general path timed in the same run on the same file."""
    from reunite.cli_lr_fast import lr_json_text
    from reunite.genetics import duo_cases

    print(f"\nreunite lr casework: {num_cases:,} duo cases, 23 loci (HuaxiaPlatinum), stepwise model, "
          "each case with its own frequency table (bench/lr_casework.py)")
    env_clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("REUNITE_")}
    os.environ.clear()
    os.environ.update(env_clean)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "duo_cases.json"
        path.write_text(json.dumps(make_duo_cases(num_cases, seed=11)), encoding="utf-8")
        exe = str(Path(sys.executable).with_name("reunite"))
        fast_wall, fast_cpu, fast_out = _run([exe, "lr", str(path), "--json"], repeat=repeat)
        _, start_cpu, _ = _run([sys.executable, "-c", "import reunite.cli_lr_fast, reunite.genetics.duo_cases"],
                               repeat=repeat)
        old_wall, old_cpu, old_out = _run([sys.executable, "-c", GENERAL_PATH, "lr", str(path), "--json"])
        # in process, the casework path in its steps
        import orjson

        t, c = time.perf_counter(), time.process_time()
        text = lr_json_text([str(path), "--json"])
        fast_in, fast_in_cpu = time.perf_counter() - t, time.process_time() - c
        # its steps, in CPU seconds (a second run: the matrices and parsed genotypes are cached)
        gc.disable()
        c = time.process_time()
        data = path.read_bytes()
        doc = orjson.loads(data)
        parse = time.process_time() - c
        c = time.process_time()
        batch = duo_cases._read(doc, num_colons=data.count(b":"), dumps=orjson.dumps)
        read = time.process_time() - c
        c = time.process_time()
        computed = duo_cases._compute(batch)
        compute = time.process_time() - c
        c = time.process_time()
        duo_cases._render(batch, computed, scale=duo_cases.ENFSI_2015, prior=None)
        render = time.process_time() - c
        gc.enable()
        del doc, batch
        # in process, the general path: read, kinship_lr_many, reports, JSON
        t, c = time.perf_counter(), time.process_time()
        case_file = read_cases(load_case_document(path), source=str(path))
        cases = [(e.case.id, e.case.h1, e.case.h2, e.case.markers, e.case.theta) for e in case_file.entries]
        results = kinship_lr_many(cases)
        needing = loci_needing_mutation_many(cases, results)
        reports = [make_report(r, loci_needing_mutation=loci).to_json() for r, loci in zip(results, needing)]
        json.dumps({"results": reports}, indent=1)
        old_in, old_in_cpu = time.perf_counter() - t, time.process_time() - c
    assert fast_out == old_out, "the casework path's output differs from the general path's"
    assert text == fast_out.decode()
    header = f"{'path':<62}{'cases/s':>9}{'CPU s':>8}{'wall s':>8}"
    print(header)
    print("-" * len(header))
    for name, wall, cpu in (("end to end: reunite lr FILE --json (casework path)", fast_wall, fast_cpu),
                            ("end to end: the general path (the full command line)", old_wall, old_cpu),
                            ("in process: casework path (read, parse, compute, JSON)", fast_in, fast_in_cpu),
                            ("in process: general path (read, kinship_lr_many, JSON)", old_in, old_in_cpu)):
        print(f"{name:<62}{num_cases / wall:>9,.0f}{cpu:>8.2f}{wall:>8.2f}")
    print(f"end to end {old_wall / fast_wall:.1f}x the general path (CPU {old_cpu / fast_cpu:.1f}x); "
          f"{num_cases / fast_cpu:,.0f} cases per CPU second; output byte-identical")
    print(f"where the casework path's CPU time goes: python start and imports {start_cpu:.2f} s, "
          f"read + JSON parse {parse:.2f} s, reading the cases into arrays {read:.2f} s, LRs {compute:.2f} s, "
          f"JSON out {render:.2f} s (end to end: best of {repeat} runs; the machine may be shared, so the CPU "
          "time is the command's own cost, the wall time also what it waited for)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000, help="cases per kind (batched run)")
    parser.add_argument("--casework", type=int, default=2000, help="duo cases of the casework measurement")
    parser.add_argument("--casework-only", action="store_true", help="only the casework measurement")
    args = parser.parse_args()
    if args.casework_only:
        casework(args.casework)
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
    casework(args.casework)


if __name__ == "__main__":
    main()
