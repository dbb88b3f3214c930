"""Joint identification (genetics/dvi.py) against dvir 3.4.2's numbers for its 12 datasets
(tests/data/familias/expected.json, see REFERENCE.md there), and against a naive oracle: every
assignment's LR computed directly on one big pedigree per assignment with kinship_lr."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest

from reunite.errors import ReuniteError
from reunite.genetics.dvi import (
    DviProblem,
    ReferenceFamily,
    Victim,
    count_assignments,
    find_undisputed,
    joint_identification,
    pairwise_lr,
)
from reunite.genetics.dvi_io import DviFormatError, dvi_problem_from_json, read_dvi_json
from reunite.genetics.kinship import Marker, Mutation, kinship_lr
from reunite.genetics.mutation import MutationModel
from reunite.genetics.pedigree import Individual, make_pedigree

DATA = Path(__file__).parent / "data" / "familias"
EXPECTED = json.loads((DATA / "expected.json").read_text())
DATASETS = sorted(EXPECTED["dvi_datasets"])
FAM_DVI = sorted(f for f, e in EXPECTED["fam_files"].items() if e.get("is_dvi"))
CASES = DATASETS + FAM_DVI  # dvir's datasets, then the DVI .fam files (read by genetics/familias.py)
REL = 1e-9


def num(x):
    return {"Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}.get(x, x) if isinstance(x, str) else x


def close(a: float, b: float, rel: float = REL) -> bool:
    a, b = float(a), float(b)
    if math.isinf(a) or math.isinf(b) or a == 0 or b == 0:
        return a == b
    return abs(a - b) <= rel * max(abs(a), abs(b))


def close_lr(mine: float, mine_log10: float, exp: float, exp_log10) -> bool:
    """LRs at 1e-9 relative; tiny or huge ones (beyond 1e±100) in log10."""
    if exp == 0:
        return mine == 0
    if abs(float(exp_log10)) > 100:
        return abs(mine_log10 - exp_log10) <= REL * abs(exp_log10)
    return close(mine, exp)


_cache: dict = {}


def solved(name: str):
    """(problem, expected dvi block, the joint block, its limit, the full JointResult)."""
    if name not in _cache:
        if name.endswith(".fam"):
            from reunite.genetics.familias import read_fam

            problem = read_fam(DATA / "fam" / name).dvi
            dvi = EXPECTED["fam_files"][name]["dvi"]
        else:
            problem = read_dvi_json(DATA / "dvi" / f"{name}.json")
            dvi = EXPECTED["dvi_datasets"][name]["dvi"]
        block, limit = dvi["joint_exhaustive"], None
        if "n_assignments" not in block:  # exclusionExample: 4.0e13 assignments, dvir reduced with limit 1
            block, limit = dvi["joint_reduced_LRge1"], 1
        _cache[name] = (problem, dvi, block, limit, joint_identification(problem, limit=limit, top=None))
    return _cache[name]


@pytest.mark.parametrize("name", CASES)
def test_pairwise_lr_matrix_matches_dvir(name):
    problem, dvi, _, _, result = solved(name)
    pw = pairwise_lr(problem)
    exp, exp10 = dvi["pairwise"]["LR"], dvi["pairwise"]["log10_LR"]
    assert pw.victims == exp["rows"] and pw.missing == exp["cols"]
    for i, v in enumerate(exp["rows"]):
        for j, m in enumerate(exp["cols"]):
            x, x10 = exp["values"][i][j], exp10["values"][i][j]
            mine, mine10 = pw.lr[i, j], pw.log10_lr[i, j]
            if x is None:
                assert math.isnan(mine) and "sex" in pw.reasons[(v, m)], (v, m)
            else:
                assert close_lr(mine, mine10, num(x), num(x10)), (v, m, mine, x)
                if x == 0:
                    assert pw.reasons[(v, m)].startswith("exclusion"), (v, m)
    # the joint result carries the same matrix
    np.testing.assert_array_equal(np.isnan(result.pairwise.lr), np.isnan(pw.lr))


@pytest.mark.parametrize("name", CASES)
def test_joint_search_matches_dvir(name):
    problem, dvi, exp, limit, result = solved(name)
    assert result.n_assignments == exp["n_assignments"]
    assert close(result.loglik_null, exp["loglik_null"])
    assert close(result.log_sum_lr, exp["log_sum_LR_vs_null"])
    if "n_tied_with_best" in exp:
        assert result.n_tied_with_best == exp["n_tied_with_best"]
    rows = {tuple(sorted((v, m or "*") for v, m in a.pairs.items())): a for a in result.assignments}
    best = result.assignments[0].loglik
    for row in exp["top"]:
        key = tuple(sorted(row["assignment"].items()))
        a = rows[key]  # tied rows come in another order: found by the assignment itself
        assert close(a.loglik, num(row["loglik"])), row
        assert close(result.assignments[row["rank"] - 1].loglik, num(row["loglik"])), row  # same order
        assert close_lr(a.lr, a.log10_lr, num(row["LR_vs_null"]), num(row["log10_LR_vs_null"])), row
        if num(row["loglik"]) == -math.inf:
            assert a.posterior == 0 and a.lr == 0
            continue
        assert close(a.posterior, row["posterior"]) or abs(a.posterior - row["posterior"]) < 1e-300, row
        assert close(math.exp(best - a.loglik), row["LR_best_vs_this"]), row
    if limit is not None:
        assert {v: sorted(m or "*" for m in ms) for v, ms in result.pairings.items()} == \
            {v: sorted(ms) for v, ms in exp["pairings"].items()}
    marg = exp.get("posterior_pairing_marginals")
    if marg:
        for i, v in enumerate(marg["rows"]):
            for j, m in enumerate(marg["cols"]):
                mine = result.marginals[v].get(None if m == "*" else m, 0.0)
                assert abs(mine - marg["values"][i][j]) <= 1e-9 * max(1e-300, marg["values"][i][j]) + 1e-14, (v, m)
    total = sum(sum(p.values()) for p in result.marginals.values())
    assert total == pytest.approx(len(problem.victims), rel=1e-12)


@pytest.mark.parametrize("name", CASES)
def test_undisputed_as_dvir_dvisolve_finds_them(name):
    """dviSolve's "Undisputed" rows (threshold 1e4) are dvir's findUndisputed rule."""
    problem, dvi, _, _, result = solved(name)
    exp = {(r["Sample"], r["Missing"]): r["LR"] for r in dvi["dviSolve_default"]["PM"]
           if r["Conclusion"] == "Undisputed"}
    mine = {(u.victim, u.missing): u.lr for u in result.undisputed}
    assert set(mine) == set(exp)
    for key, lr in exp.items():
        assert close(mine[key], lr)


def test_key_numbers_of_the_reference():
    _, _, _, _, r = solved("example2")
    best = r.assignments[0]
    assert best.pairs == {"V1": "M1", "V2": "M2", "V3": "M3"}
    assert best.lr == pytest.approx(250, rel=1e-12)
    assert best.posterior == pytest.approx(0.718390804597702, rel=1e-12)
    _, _, _, _, r = solved("planecrash")
    best = r.assignments[0]
    assert best.pairs == {"V1": "M1", "V2": "M3", "V3": "M4", "V4": "M5", "V5": None, "V6": "M2",
                          "V7": None, "V8": None}
    assert best.lr == pytest.approx(5.26538589881676e23, rel=1e-9)
    assert best.posterior == pytest.approx(0.994742348274319, rel=1e-9)
    assert r.n_assignments == 19081
    second = r.assignments[1]
    assert second.pairs == {**best.pairs, "V3": None}
    assert math.exp(best.loglik - second.loglik) == pytest.approx(249.31, rel=1e-4)
    _, _, _, _, r = solved("fire")  # M2 and M3 are symmetric sibs: two tied best rows
    assert r.n_tied_with_best == 2
    assert {r.assignments[0].pairs["V2"], r.assignments[1].pairs["V2"]} == {"M2", "M3"}
    assert r.assignments[0].lr == pytest.approx(1.81762e12, rel=1e-5)
    row = r.pairwise.lr[r.pairwise.victims.index("V1")]
    assert row == pytest.approx([121.35, 398.58, 398.58], rel=1e-4)
    _, _, _, _, r = solved("icmp")
    assert r.n_tied_with_best == 2 and r.n_assignments == 9847
    assert {a.pairs["V2"] for a in r.assignments[:2]} == {"M10", "M11"}
    assert r.assignments[0].lr == pytest.approx(4.45771e22, rel=1e-5)
    assert r.assignments[0].posterior == pytest.approx(0.49997, rel=1e-4)
    _, _, _, _, r = solved("grave")
    assert r.n_assignments == 52564
    assert r.assignments[0].pairs == {**{f"V{k}": f"MP{k}" for k in range(1, 8)}, "V8": None}
    assert r.assignments[0].lr == pytest.approx(1.29083e95, rel=1e-5)
    assert r.assignments[0].posterior == pytest.approx(0.690473, rel=1e-5)
    _, _, _, _, r = solved("exclusionExample")
    assert r.assignments[0].pairs["V5"] == "M13" and r.assignments[0].pairs["V15"] == "M6"
    assert r.assignments[0].lr == pytest.approx(5.35595e23, rel=1e-5)


def test_key_numbers_of_the_fam_files():
    r = solved("planecrash.fam")[4]  # no mutation model: V3 = M4 is excluded
    best = r.assignments[0]
    assert best.pairs == {"V1": "M1", "V2": "M3", "V3": None, "V4": "M5", "V5": None, "V6": "M2",
                          "V7": None, "V8": None}
    assert best.lr == pytest.approx(2.17232613137684e21, rel=1e-9)
    assert best.posterior == pytest.approx(0.998909, rel=1e-6)
    problem, _, _, _, r = solved("Solution3_3.fam")  # pedFamilias's sex rule: only PM7, PM8 female
    pw = r.pairwise
    for v in ("PM1", "PM2", "PM3", "PM4", "PM5", "PM6"):
        assert np.isnan(pw.lr[pw.victims.index(v)]).all()
        assert r.marginals[v] == {None: pytest.approx(1.0)}
    best = r.assignments[0]
    assert {v: m for v, m in best.pairs.items() if m} == {"PM7": "M3"}
    assert best.lr == pytest.approx(4.98225, rel=1e-5)
    assert best.posterior == pytest.approx(0.634, rel=1e-3)


def test_max_assignments_refuses_with_the_count_and_advice():
    problem = read_dvi_json(DATA / "dvi" / "planecrash.json")
    assert count_assignments(problem) == 19081
    with pytest.raises(ReuniteError, match=r"19081 assignments.*limit"):
        joint_identification(problem, max_assignments=1000)
    problem = read_dvi_json(DATA / "dvi" / "exclusionExample.json")
    with pytest.raises(ReuniteError, match="40[0-9]{12} assignments"):
        joint_identification(problem)
    assert count_assignments(problem, limit=1) == 4


def test_limit_follows_dvir_pairwise_limit():
    problem = read_dvi_json(DATA / "dvi" / "planecrash.json")
    r0 = joint_identification(problem, limit=0, top=3)
    r1 = joint_identification(problem, limit=1, top=3)
    full = solved("planecrash")[4]
    assert r1.n_assignments < r0.n_assignments == full.n_assignments  # mutation: no LR is 0
    ex = read_dvi_json(DATA / "dvi" / "example2.json")  # V1 = M2 is excluded
    assert joint_identification(ex, limit=0).n_assignments < solved("example2")[4].n_assignments
    for v, ms in r0.pairings.items():  # limit 0 drops exactly the exclusions
        i = full.pairwise.victims.index(v)
        assert {m for m in ms if m} == {m for j, m in enumerate(full.pairwise.missing)
                                        if full.pairwise.lr[i, j] > 0}
        assert None in ms
    assert r1.assignments[0].pairs == full.assignments[0].pairs
    assert r1.assignments[0].loglik == pytest.approx(full.assignments[0].loglik, rel=1e-12)


def test_provenance_and_notes():
    r = solved("planecrash")[4]
    p = r.provenance
    assert p["software"].startswith("reunite ") and p["theta"] == 0.0
    assert p["kit"] == [m.name for m in read_dvi_json(DATA / "dvi" / "planecrash.json").markers]
    assert set(p["mutation_models"]) == set(p["kit"])


def test_markers_matched_by_name_in_any_order():
    """exclusionExample's victims list the markers in another order; reversing the table's
    order and the victims' own changes nothing."""
    problem = read_dvi_json(DATA / "dvi" / "example1.json")
    doc = json.loads((DATA / "dvi" / "KETPchap484.json").read_text())
    a = joint_identification(dvi_problem_from_json(doc), top=5)
    doc["markers"] = doc["markers"][::-1]
    for v in doc["victims"]:
        v["genotypes"] = dict(reversed(list(v["genotypes"].items())))
    b = joint_identification(dvi_problem_from_json(doc), top=5)
    assert [x.pairs for x in a.assignments] == [x.pairs for x in b.assignments]
    assert [x.loglik for x in a.assignments] == pytest.approx([x.loglik for x in b.assignments], rel=1e-12)
    assert problem.markers[0].name == "L1"


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(extra=1), "unknown key 'extra'"),
    (lambda d: d["victims"][0].update(sex=7), r"victims\[0\]\.sex"),
    (lambda d: d["victims"][0]["genotypes"].update(L1=["1"]), r"victims\[0\]\.genotypes\.L1"),
    (lambda d: d["families"][0].pop("missing"), r"families\[0\]: the key 'missing' is required"),
    (lambda d: d["markers"][0].update(afreq=["x"] * 10), r"markers\[0\]\.afreq\[0\]"),
    (lambda d: d["families"][0]["individuals"][0].update(colour="red"), r"individuals\[0\]: unknown key"),
])
def test_json_reader_names_the_key(mutate, message):
    doc = json.loads((DATA / "dvi" / "example2.json").read_text())
    mutate(doc)
    with pytest.raises(DviFormatError, match=message):
        dvi_problem_from_json(doc, where="case.json")


def test_impossible_family_and_unknown_marker_are_refused():
    doc = json.loads((DATA / "dvi" / "example2.json").read_text())
    doc["victims"][0]["genotypes"]["L9"] = ["1", "2"]
    with pytest.raises(ReuniteError, match="marker 'L9' is not among"):
        pairwise_lr(dvi_problem_from_json(doc))
    doc = json.loads((DATA / "dvi" / "example2.json").read_text())
    fam = doc["families"][1]  # R2 3/3 father of M3: add a typed mother of M3 and a typed M3 sib
    fam["individuals"].append({"id": "S", "father": "R2", "mother": "MO2", "sex": 1})
    fam["genotypes"]["S"] = {"L1": ["5", "6"]}  # not R2's child without mutation
    fam["typed"] = ["R2", "S"]
    with pytest.raises(ReuniteError, match=r"family 'F2'.*impossible.*L1"):
        pairwise_lr(dvi_problem_from_json(doc))


# ----------------------------------------------------------------------------------------
# the naive oracle: one big pedigree per assignment


def _gene_drop(ped, afreq, rng):
    alleles = list(afreq)
    p = np.array(list(afreq.values()))
    g = {}
    for ind in ped.individuals:
        if ind.is_founder:
            g[ind.id] = tuple(rng.choice(alleles, size=2, p=p))
        else:
            g[ind.id] = (g[ind.father][rng.integers(2)], g[ind.mother][rng.integers(2)])
    return g


def _family(kind: int, k: int, rng):
    """Four shapes: a child missing (father typed), two missing full sibs (mother typed),
    a missing grandchild with a typed grandmother and aunt, a missing father of a typed
    child (the missing person a founder)."""
    f = f"f{k}_"
    sx = lambda: "M" if rng.random() < 0.5 else "F"  # noqa: E731
    if kind == 0:
        people = [Individual(f + "FA", sex="M"), Individual(f + "MO", sex="F"),
                  Individual(f + "M1", f + "FA", f + "MO", sx())]
        return people, [f + "FA"], [f + "M1"]
    if kind == 1:
        people = [Individual(f + "FA", sex="M"), Individual(f + "MO", sex="F"),
                  Individual(f + "M1", f + "FA", f + "MO", sx()), Individual(f + "M2", f + "FA", f + "MO", sx())]
        return people, [f + "MO"], [f + "M1", f + "M2"]
    if kind == 2:
        people = [Individual(f + "GF", sex="M"), Individual(f + "GM", sex="F"),
                  Individual(f + "P", f + "GF", f + "GM", "M"), Individual(f + "AU", f + "GF", f + "GM", "F"),
                  Individual(f + "SP", sex="F"), Individual(f + "M1", f + "P", f + "SP", sx())]
        return people, [f + "GM", f + "AU"], [f + "M1"]
    people = [Individual(f + "M1", sex="M"), Individual(f + "MO", sex="F"), Individual(f + "CH", f + "M1", f + "MO", "F")]
    return people, [f + "CH"], [f + "M1"]


def _random_problem(seed: int):
    rng = np.random.default_rng(seed)
    markers = []
    for m in range(int(rng.integers(1, 4))):
        n = int(rng.integers(3, 6))
        p = rng.dirichlet(np.ones(n) * 2)
        afreq = {str(10 + a): float(x) for a, x in enumerate(p)}
        mut = None
        if rng.random() < 0.5:
            model = ["equal", "proportional", "stepwise"][int(rng.integers(3))]
            mut = Mutation(MutationModel(model, 0.02), MutationModel(model, 0.05))
        markers.append(Marker(f"L{m + 1}", afreq, {}, mut))
    kinds = [1] + [int(rng.integers(4)) for _ in range(int(rng.integers(0, 3)))]  # always two missing sibs
    families, truth = [], []
    for k, kind in enumerate(kinds):
        people, typed, missing = _family(kind, k, rng)
        ped = make_pedigree(people)
        genos = [_gene_drop(ped, m.afreq, rng) for m in markers]
        refs = {pid: {m.name: g[pid] for m, g in zip(markers, genos)} for pid in typed}
        families.append(ReferenceFamily(f"F{k + 1}", ped, tuple(missing), refs))
        truth += [(ped[mp].sex, {m.name: g[mp] for m, g in zip(markers, genos)}) for mp in missing]
    victims = []
    order = rng.permutation(len(truth))
    for i in range(int(rng.integers(2, 5))):
        if i < len(order) and rng.random() < 0.7:
            sex, g = truth[order[i]]
        else:
            sex = "M" if rng.random() < 0.5 else "F"
            g = {m.name: tuple(rng.choice(list(m.afreq), size=2, p=list(m.afreq.values()))) for m in markers}
        if rng.random() < 0.2:
            sex = "U"
        victims.append(Victim(f"V{i + 1}", sex, {k: tuple(str(a) for a in v) for k, v in g.items()}))
    return DviProblem(victims, families, markers, name=f"random{seed}")


def _oracle_lr(problem: DviProblem, pairs: dict) -> float:
    """LR of one assignment against the null: the victims renamed into the families (H1)
    against families plus victims as singletons (H0), one kinship_lr over all markers."""
    placed = {m: v for v, m in pairs.items() if m is not None}
    h1, h0 = [], []
    for fam in problem.families:
        ren = lambda x: placed.get(x, x)  # noqa: E731
        for p in fam.pedigree.individuals:
            h1.append(Individual(ren(p.id), p.father and ren(p.father), p.mother and ren(p.mother), p.sex))
            h0.append(p)
    for v in problem.victims:
        h0.append(Individual(v.id, sex=v.sex if v.sex != "U" else "U"))
        if v.id not in placed.values():
            h1.append(Individual(v.id, sex=v.sex))
    markers = []
    for m in problem.markers:
        g = {pid: gm[m.name] for fam in problem.families for pid, gm in fam.genotypes.items()}
        g.update({v.id: v.genotypes[m.name] for v in problem.victims})
        markers.append(Marker(m.name, m.afreq, g, m.mutation))
    return kinship_lr(make_pedigree(h1), make_pedigree(h0), markers).lr_total


def _all_assignments(problem: DviProblem, candidates):
    victims = [v.id for v in problem.victims]
    for choice in itertools.product(*[[None] + candidates[v] for v in victims]):
        used = [m for m in choice if m is not None]
        if len(used) == len(set(used)):
            yield dict(zip(victims, choice))


@pytest.mark.parametrize("seed", range(40))
def test_fast_search_equals_the_naive_oracle(seed):
    problem = _random_problem(seed)
    result = joint_identification(problem, top=None, undisputed_threshold=None)
    sexes = {m: fam.pedigree[m].sex for fam in problem.families for m in fam.missing}
    candidates = {v.id: [m for m in sexes if v.sex == sexes[m] or "U" in (v.sex, sexes[m])]
                  for v in problem.victims}
    oracle = {tuple(a.items()): _oracle_lr(problem, a) for a in _all_assignments(problem, candidates)}
    assert result.n_assignments == len(oracle) == count_assignments(problem)
    total = sum(oracle.values())
    for a in result.assignments:
        lr = oracle[tuple(a.pairs.items())]
        assert a.lr == pytest.approx(lr, rel=1e-9, abs=1e-300)
        assert a.posterior == pytest.approx(lr / total, rel=1e-9, abs=1e-15)
    assert result.log_sum_lr == pytest.approx(math.log(total), rel=1e-9, abs=1e-12)
    for v in problem.victims:
        for m in candidates[v.id] + [None]:
            expect = sum(lr for key, lr in oracle.items() if dict(key)[v.id] == m) / total
            assert result.marginals[v.id].get(m, 0.0) == pytest.approx(expect, rel=1e-9, abs=1e-15)
    pw = pairwise_lr(problem)
    null = {v.id: None for v in problem.victims}
    for i, v in enumerate(pw.victims):
        for j, m in enumerate(pw.missing):
            if m in candidates[v]:
                assert pw.lr[i, j] == pytest.approx(oracle[tuple({**null, v: m}.items())], rel=1e-9, abs=1e-300)
            else:
                assert math.isnan(pw.lr[i, j])


def test_split_tables_equal_whole_tables(monkeypatch):
    """A family too large for one table is computed in pieces, with the same numbers."""
    import reunite.genetics.dvi_kernel as kernel

    problem = read_dvi_json(DATA / "dvi" / "symmetricSibs.json")
    whole = joint_identification(problem, top=None, undisputed_threshold=None)
    monkeypatch.setattr(kernel, "MAX_TABLE", 3)
    split = joint_identification(problem, top=None, undisputed_threshold=None)
    assert [a.pairs for a in split.assignments][:5] == [a.pairs for a in whole.assignments][:5]
    assert [a.loglik for a in split.assignments] == pytest.approx([a.loglik for a in whole.assignments],
                                                                   rel=1e-12)


def test_undisputed_rule_is_relative_and_iterative():
    problem = read_dvi_json(DATA / "dvi" / "planecrash.json")
    strict = find_undisputed(problem, threshold=1e7)
    assert [(u.victim, u.missing) for u in strict] == [("V4", "M5")]
    assert find_undisputed(problem, threshold=1e30) == []


@pytest.mark.parametrize("name", FAM_DVI)
def test_fam_parsed_json_reads_as_the_fam_file(name):
    """The neutral JSON of what dvir read from each DVI .fam (fam_parsed/) is DVI JSON too."""
    entry = EXPECTED["fam_files"][name]
    problem = read_dvi_json(DATA / entry["parsed_file"])
    _, _, exp, limit, _ = solved(name)
    result = joint_identification(problem, limit=limit, top=3)
    assert result.n_assignments == exp["n_assignments"]
    assert close(result.log_sum_lr, exp["log_sum_LR_vs_null"])
    assert close(result.assignments[0].loglik, num(exp["top"][0]["loglik"]))


def test_unknown_sex_pairs_with_either_sex():
    doc = json.loads((DATA / "dvi" / "example2.json").read_text())
    doc.pop("pairings")
    doc["victims"][2]["sex"] = 0
    result = joint_identification(dvi_problem_from_json(doc))
    pw = result.pairwise
    assert not np.isnan(pw.lr[2]).any()  # V3 against M1, M2 (male) and M3 (female)
    assert np.isnan(pw.lr[0, 2]) and "sex" in pw.reasons[("V1", "M3")]
    assert any("unknown sex" in n and "V3" in n for n in result.notes)


def test_undisputed_at_exactly_the_threshold():
    """dvir's undisputedEntries keeps LR >= threshold (less sqrt(eps)): a pair whose LR equals
    the threshold is undisputed when every competitor is at most LR / threshold = 1."""
    problem = read_dvi_json(DATA / "dvi" / "planecrash.json")
    pw = pairwise_lr(problem)
    x = float(pw.lr[pw.victims.index("V4"), pw.missing.index("M5")])
    found = find_undisputed(problem, threshold=x)
    assert ("V4", "M5") in [(u.victim, u.missing) for u in found]
    assert ("V4", "M5") not in [(u.victim, u.missing) for u in find_undisputed(problem, threshold=x * 1.000001)]


def test_a_stationary_or_reversible_flag_the_model_contradicts_is_refused():
    """"stationary"/"reversible" are never applied: a stepwise model built from parameters that
    says it is stationary would silently give other numbers; the flag must hold for the model."""
    doc = json.loads((DATA / "dvi" / "example2.json").read_text())
    doc["markers"][0]["afreq"] = [0.3, 0.2] + [0.0625] * 8  # not uniform: stepwise is not stationary
    stepwise = {"model": "stepwise", "rate": 0.01, "range": 0.5, "stationary": True}
    doc["markers"][0]["mutation"] = {"female": stepwise, "male": stepwise}
    with pytest.raises(DviFormatError, match=r"markers\[0\]\.mutation\.female\.stationary: true, but"):
        dvi_problem_from_json(doc, where="case.json")
    doc["markers"][0]["mutation"] = {"female": {"model": "equal", "rate": 0.01},
                                     "male": {"model": "stepwise", "rate": 0.01, "reversible": True}}
    with pytest.raises(DviFormatError, match=r"mutation\.male\.reversible: true, but"):
        dvi_problem_from_json(doc, where="case.json")
    proportional = {"model": "proportional", "rate": 0.01, "stationary": True, "reversible": True}
    doc["markers"][0]["mutation"] = {"female": proportional, "male": proportional}
    assert dvi_problem_from_json(doc).markers[0].mutation is not None  # proportional: both hold


def test_undisputed_compares_pairwise_lrs_beyond_the_float_range_in_log10():
    """Two pairwise LRs of one victim that overflow (10^330 each) are not each 'at least
    threshold times every other' (Inf <= Inf / T): the victim is not undisputed twice."""
    names = [f"S{k}" for k in range(110)]
    markers = [Marker(n, {"a": 0.001, "b": 0.999}, {}) for n in names]

    def family(name):
        ped = make_pedigree([{"id": f"R{name}", "sex": "M"}, {"id": f"W{name}", "sex": "F"},
                             {"id": f"M{name}", "father": f"R{name}", "mother": f"W{name}", "sex": "M"}])
        return ReferenceFamily(f"F{name}", ped, (f"M{name}",), {f"R{name}": {n: ("a", "a") for n in names}})

    victims = [Victim("V1", "M", {n: ("a", "a") for n in names}), Victim("V2", "M", {n: ("b", "b") for n in names})]
    problem = DviProblem(victims, [family("1"), family("2")], markers)
    pw = pairwise_lr(problem)
    assert np.isinf(pw.lr[0]).all() and pw.log10_lr[0] == pytest.approx([330.0, 330.0], rel=1e-9)
    assert find_undisputed(problem) == []
    victims[1] = Victim("V2", "M", {n: ("b", "b") for n in names[:5]})
    problem = DviProblem(victims, [family("1")], markers)  # one family: V1 = M1 undisputed, LR 10^330
    [u] = find_undisputed(problem)
    assert (u.victim, u.missing) == ("V1", "M1") and u.lr == math.inf


def test_a_threshold_of_one_or_less_never_places_a_victim_twice():
    """symmetricSibs: V2 has equal LRs as the missing siblings M1 and M2, and V5 and V6 both
    fit M5.  With a threshold of 1 or less both pairs of a tie pass dvir's test; they dispute
    each other, so neither is undisputed (never one victim for two missing persons, or two
    victims for one).  LR 0 pairs are never undisputed."""
    problem = read_dvi_json(DATA / "dvi" / "symmetricSibs.json")
    for threshold in (0.0, 0.5, 1.0):
        found = find_undisputed(problem, threshold=threshold)
        victims = [u.victim for u in found]
        missing = [u.missing for u in found]
        assert len(set(victims)) == len(victims) and len(set(missing)) == len(missing), threshold
        assert all(u.lr > 0 for u in found)
    assert [(u.victim, u.missing) for u in find_undisputed(problem, threshold=1.0)] == [("V5", "M5")]
    assert find_undisputed(problem, threshold=0.5) == []  # V5 and V6 dispute M5
