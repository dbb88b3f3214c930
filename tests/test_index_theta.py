"""The family index at θ > 0: exact against the kinship engine pair by pair on every kind of
pedigree and mutation model, the same top k as brute force, and the plans it rests on."""

import math

import numpy as np
import pytest
from test_index import SHAPES, _families, _p
from test_search import _records

from reunite.genetics import pedigree as ped
from reunite.search import index as ix
from reunite.search.engine import index_search, search
from reunite.search.index.theta import make_plan_theta, requisite_theta, urn_probability
from reunite.simulate import FAMILY_TYPES, simulate_database
from reunite.store.profiles import GeneticModel

POP = "CHN_national_GBT37223"


def _structure(people):
    pedigree = ped.make_pedigree(people)
    return pedigree, pedigree.structure_key()


def _index_equals_brute(families, unidentified, model, *, others=None, seed=0):
    """Every index score (and its per-locus LRs) equals the engine pair by pair: each person
    against its own family and ``others`` random families (all of them if None)."""
    from reunite.search.engine import _eligible, exact_pairs, tolerance_days

    index = ix.FamilyIndex(model)
    index.add(families)
    rng = np.random.default_rng(seed)
    pairs = []
    for k, u in enumerate(unidentified):
        chosen = families if others is None else (
            [families[k]] + [families[j] for j in rng.choice(len(families), size=others, replace=False)])
        for f in chosen:
            for m in f.missing:
                if _eligible(u, f, m, model, tol=tolerance_days(3.0)) is None:
                    pairs.append((u, f, m))
    brute = {(u.id, f.id, m): r.log10_lr_total for (u, f, m), r in zip(pairs, exact_pairs(pairs, model=model))}
    rows = {(int(index.family_id[r]), index.missing[r]): r for r in range(len(index))}
    n = 0
    by_u = {}
    for (uid, fid, m), want in brute.items():
        by_u.setdefault(uid, []).append((fid, m, want))
    for u in unidentified:
        scores = index.scores(u.profile)
        for fid, m, want in by_u.get(u.id, []):
            r = rows[(fid, m)]
            got = scores[r]
            n += 1
            if math.isnan(want):
                assert math.isnan(got), (u.id, fid, m)
            else:
                assert got == want or abs(got - want) < 1e-9, ((u.id, fid, m), got, want)
            per_locus = index.lr_per_locus(u.profile, r)
            with np.errstate(divide="ignore"):
                total = float(np.sum(np.log10(np.array(list(per_locus.values())))))
            assert total == want or abs(total - want) < 1e-9 or (math.isnan(want) and math.isnan(total))
    return n


#: At θ > 0 a cousin's tables couple many untyped founder alleles (seconds per key): the
#: default run leaves those shapes to the stress test below.
SLOW_SHAPES = ("first_cousin", "parents_are_cousins")

THETA_MODELS = [
    {"theta": 0.01}, {"theta": 0.03, "mutation": "none"}, {"theta": 0.02, "mutation": "equal"},
    {"theta": 0.05, "mutation": "proportional"}, {"theta": 0.01, "mutation": "stepwise", "rate2": 0.1, "range": 0.5},
]


@pytest.mark.parametrize("kw", [THETA_MODELS[0], THETA_MODELS[2], THETA_MODELS[4]])
def test_theta_index_equals_the_engine_on_every_kind_of_pedigree(kw):
    model = GeneticModel(POP, **kw)
    families, unidentified = _families(model, seed=7 + len(str(kw)), skip=SLOW_SHAPES)
    for f in families[::5]:  # an allele the table lacks: that family's locus gets its own table
        ref = sorted(f.references)[0]
        locus = sorted(f.references[ref])[1]
        f.references[ref][locus] = ("45", f.references[ref][locus][1])
    # every U against its family (large LRs) and four others
    assert _index_equals_brute(families, unidentified, model, others=4) > 120


@pytest.mark.stress
@pytest.mark.parametrize("kw", THETA_MODELS)
def test_theta_index_equals_the_engine_every_person_against_every_family(kw):
    model = GeneticModel(POP, **kw)
    families, unidentified = _families(model, seed=3 + len(str(kw)))
    for f in families[::5]:
        ref = sorted(f.references)[0]
        locus = sorted(f.references[ref])[1]
        f.references[ref][locus] = ("45", f.references[ref][locus][1])
    assert _index_equals_brute(families, unidentified, model, others=8) > 250


@pytest.mark.stress  # the same check as every pedigree shape's (default run), on simulated databases
def test_theta_index_on_the_simulated_family_types():
    model = GeneticModel(POP, theta=0.01)
    db = simulate_database(50, 30, seed=3)
    families, unidentified = _records(db, num_queries=12)
    assert _index_equals_brute(families, unidentified, model) > 200


def _plan(people, missing, refs):
    pedigree, structure = _structure(people)
    typed = frozenset(pedigree.index[r] for r in refs)
    return pedigree, make_plan_theta(structure, pedigree.index[missing], typed)


def test_plans_of_the_common_families():
    fa, mo = _p("FA", sex="M"), _p("MO", sex="F")
    child = _p("M", "FA", "MO")
    # a duo: sides, the untyped mother's side depends on the father's alleles through the urn
    pedigree, plan = _plan([fa, mo, child], "M", ["FA"])
    assert plan.kind == "sides"
    assert [p.people for p in plan.parts] == [(pedigree.index["FA"],), (pedigree.index["FA"],)]
    assert plan.d_people == (pedigree.index["FA"],)
    # a trio and a sibling: the sibling adds nothing (both parents typed)
    pedigree, plan = _plan([fa, mo, child, _p("S1", "FA", "MO")], "M", ["FA", "MO", "S1"])
    assert plan.kind == "sides" and plan.requisite == tuple(sorted((pedigree.index["FA"], pedigree.index["MO"])))
    # siblings only: dense (both sides reach the same untyped parents)
    _, plan = _plan([fa, mo, child, _p("S1", "FA", "MO"), _p("S2", "FA", "MO")], "M", ["S1", "S2"])
    assert plan.kind == "dense"
    # an uncle: M's father's side and the untyped mother meet in the urn
    people = [_p("GF", sex="M"), _p("GM", sex="F"), _p("UN", "GF", "GM", "M"), _p("FA", "GF", "GM", "M"),
              mo, child]
    _, plan = _plan(people, "M", ["UN"])
    assert plan.kind == "dense"
    # typed grandparents: sides; the untyped mother's side sees the grandparents' alleles
    people = [_p("GF", sex="M"), _p("GM", sex="F"), _p("FA", "GF", "GM", "M"), mo, child]
    pedigree, plan = _plan(people, "M", ["GF", "GM"])
    assert plan.kind == "sides" and len(plan.d_people) == 2


def test_requisite_references_through_the_urn():
    people = [_p("FA", sex="M"), _p("MO", sex="F"), _p("M", "FA", "MO"), _p("X", sex="M")]
    pedigree, structure = _structure(people)
    typed = frozenset({pedigree.index["X"]})
    for_m, for_u = requisite_theta(structure, pedigree.index["M"], typed)
    # an unrelated typed person shares the urn with M's untyped parents, and with U
    assert for_m == (pedigree.index["X"],) and for_u == (pedigree.index["X"],)


def test_urn_probability_by_hand():
    # one a/a founder seen, then U = a/a: (2θ + (1-θ)p)/(1+θ) · (3θ + (1-θ)p)/(1+2θ)
    t, p = 0.01, 0.3
    want = (2 * t + (1 - t) * p) / (1 + t) * (3 * t + (1 - t) * p) / (1 + 2 * t)
    assert urn_probability(2, 2, 2, p, p, t, True) == pytest.approx(want, rel=1e-15)
    # nothing seen: Hardy-Weinberg with the θ draw for the second allele
    assert urn_probability(0, 0, 0, 0.2, 0.1, t, False) == pytest.approx(2 * 0.2 * (1 - t) * 0.1, rel=1e-15)


def test_theta_index_top_k_equals_brute_force():
    model = GeneticModel(POP, theta=0.02)
    db = simulate_database(80, 20, seed=11)
    families, unidentified = _records(db, num_queries=6)
    index = ix.FamilyIndex(model)
    index.add(families)
    got = index_search(unidentified, index, model=model, load_families=lambda ids: [
        f for f in families if ids is None or f.id in set(ids)], min_lr=1.0, top_k=5)
    want = search(unidentified, families, model=model, min_lr=1.0, top_k=5)
    key = (lambda c: (c.unidentified.id, c.family.id, c.missing, c.rank))
    assert sorted(map(key, got.candidates)) == sorted(map(key, want.candidates))
    by = {(c.unidentified.id, c.family.id, c.missing): c for c in want.candidates}
    for c in got.candidates:
        w = by[(c.unidentified.id, c.family.id, c.missing)]
        assert abs(c.log10_lr - w.log10_lr) < 1e-9
        assert c.inconsistent_loci == w.inconsistent_loci
        for locus, v in c.lr_per_locus.items():
            assert v == pytest.approx(w.lr_per_locus[locus], rel=1e-9)


def test_every_family_type_is_covered():
    names = {name for name, *_ in FAMILY_TYPES}
    assert {"both_parents", "siblings_only", "uncle_aunt", "grandparents"} <= names
    assert {name for name, *_ in SHAPES} >= {"first_cousin", "parents_are_cousins", "three_sibs"}


def test_theta_closed_forms_equal_the_engine(monkeypatch):
    model = GeneticModel(POP, theta=0.03)
    db = simulate_database(25, 5, seed=23)
    families, _ = _records(db, num_queries=2)
    with_forms = ix.FamilyIndex(model)
    with_forms.add(families)
    monkeypatch.setattr(ix.table, "closed_form_sides_theta", lambda *a, **k: None)
    engine_only = ix.FamilyIndex(model)
    engine_only.add(families)
    for a, b in zip(with_forms.tables, engine_only.tables):
        assert a.side_keys == b.side_keys
        sa, sb = a.stacked()[0], b.stacked()[0]
        assert len(sa) > 10
        np.testing.assert_allclose(sa, sb, rtol=1e-12, atol=1e-300)


def test_cli_search_at_theta_uses_the_index_and_equals_the_engine(tmp_path):
    from sqlalchemy.orm import Session
    from typer.testing import CliRunner

    from reunite.cli import app
    from reunite.search.service import index_path, load_families, load_unidentified
    from reunite.simulate import write_database
    from reunite.store.db import make_engine

    db = simulate_database(30, 6, seed=8)
    paths = write_database(db, tmp_path / "sim")
    env = {"REUNITE_DATABASE_URL": f"sqlite:///{tmp_path / 't.db'}", "COLUMNS": "200"}
    runner = CliRunner()

    def ok(*args):
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == 0, (result.output, result.exception)
        return result.output

    ok("db", "init", "--theta", "0.01")
    ok("import", "genotypes", str(paths["genotypes"]))
    ok("import", "families", str(paths["families"]))
    ok("import", "unidentified", str(paths["unidentified"]))
    assert "30 families" in ok("db", "index")
    engine = make_engine(env["REUNITE_DATABASE_URL"])
    assert index_path(engine).exists()
    ok("search", "--all", "--min-lr", "100", "--out", str(tmp_path / "m.csv"))
    rows = (tmp_path / "m.csv").read_text().splitlines()[1:]
    got = {tuple(r.split(",")[:3]): float(r.split(",")[4]) for r in rows}
    with Session(engine) as s:
        want = search(load_unidentified(s), load_families(s), model=GeneticModel(POP, theta=0.01), min_lr=100,
                      top_k=None)
    engine.dispose()
    assert got.keys() == {(c.unidentified.code, c.family.code, c.missing) for c in want.candidates}
    for c in want.candidates:
        assert abs(got[(c.unidentified.code, c.family.code, c.missing)] - c.log10_lr) < 1e-6


def test_theta_tables_shared_between_processes_are_the_same(monkeypatch):
    model = GeneticModel(POP, theta=0.02)
    db = simulate_database(12, 2, seed=31)
    families, _ = _records(db, num_queries=2)
    serial = ix.FamilyIndex(model)
    serial.add(families)
    monkeypatch.setattr(ix.table, "PARALLEL_TABLES", 1)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    shared = ix.FamilyIndex(model)
    shared.add(families)
    for a, b in zip(serial.tables, shared.tables):
        sa, da = a.stacked()
        sb, db_ = b.stacked()
        assert len(da) and np.array_equal(sa, sb) and np.array_equal(da, db_, equal_nan=True)
