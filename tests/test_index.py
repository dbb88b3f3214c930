"""The family index: exact against the kinship engine on every kind of pedigree, the same
top-k as brute force, the compiled scan against its NumPy version, and the stored index."""

import math

import numpy as np
import pytest
from conftest import simulated_store
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from reunite.genetics import pedigree as ped
from reunite.search import index as ix
from reunite.search.engine import FamilyRecord, UnidentifiedRecord, brute_force_search, index_search, search
from reunite.search.service import (
    family_index,
    index_path,
    iter_family_rows,
    load_families,
    load_unidentified,
    run_search,
)
from reunite.simulate import simulate_database, simulate_genotypes
from reunite.store.models import Family
from reunite.store.profiles import GeneticModel

from test_search import _brute, _records, big  # noqa: F401  (fixture)

POP = "CHN_national_GBT37223"
MODEL = GeneticModel(POP)


def _p(pid, father=None, mother=None, sex="U"):
    return {"id": pid, "father": father, "mother": mother, "sex": sex}


#: (name, people, missing, references): shapes beyond the simulated family types
SHAPES = [
    ("half_sib_paternal", [_p("FA", sex="M"), _p("MO", sex="F"), _p("MO2", sex="F"), _p("M", "FA", "MO"),
                           _p("HS", "FA", "MO2")], ["M"], ["HS"]),
    ("half_sib_and_mother", [_p("FA", sex="M"), _p("MO", sex="F"), _p("MO2", sex="F"), _p("M", "FA", "MO"),
                             _p("HS", "FA", "MO2")], ["M"], ["HS", "MO"]),
    ("uncle_and_mother", [_p("GF", sex="M"), _p("GM", sex="F"), _p("FA", "GF", "GM", "M"), _p("UN", "GF", "GM", "M"),
                          _p("MO", sex="F"), _p("M", "FA", "MO")], ["M"], ["UN", "MO"]),
    ("grandfather_and_uncle", [_p("GF", sex="M"), _p("GM", sex="F"), _p("FA", "GF", "GM", "M"),
                               _p("UN", "GF", "GM", "M"), _p("MO", sex="F"), _p("M", "FA", "MO")], ["M"], ["UN", "GF"]),
    ("first_cousin", [_p("GF", sex="M"), _p("GM", sex="F"), _p("FA", "GF", "GM", "M"), _p("AU", "GF", "GM", "F"),
                      _p("UF", sex="M"), _p("MO", sex="F"), _p("M", "FA", "MO"), _p("CO", "UF", "AU")], ["M"], ["CO"]),
    ("three_sibs", [_p("FA", sex="M"), _p("MO", sex="F"), _p("S1", "FA", "MO"), _p("S2", "FA", "MO"),
                    _p("S3", "FA", "MO"), _p("M", "FA", "MO")], ["M"], ["S1", "S2", "S3"]),
    ("sibs_and_mother", [_p("FA", sex="M"), _p("MO", sex="F"), _p("S1", "FA", "MO"), _p("S2", "FA", "MO"),
                         _p("M", "FA", "MO")], ["M"], ["S1", "S2", "MO"]),
    ("parents_and_sibs", [_p("FA", sex="M"), _p("MO", sex="F"), _p("S1", "FA", "MO"), _p("S2", "FA", "MO"),
                          _p("M", "FA", "MO")], ["M"], ["S1", "S2", "MO", "FA"]),
    ("missing_father_with_child", [_p("M", sex="M"), _p("MO", sex="F"), _p("CH", "M", "MO")], ["M"], ["CH", "MO"]),
    ("missing_father_with_parents_and_child", [_p("GF", sex="M"), _p("GM", sex="F"), _p("M", "GF", "GM", "M"),
                                              _p("MO", sex="F"), _p("CH", "M", "MO")], ["M"], ["CH", "GF"]),
    ("parents_are_cousins", [_p("A", sex="M"), _p("B", sex="F"), _p("C", "A", "B", "M"), _p("D", "A", "B", "F"),
                             _p("E", sex="F"), _p("F", sex="M"), _p("FA", "C", "E", "M"), _p("MO", "F", "D", "F"),
                             _p("S1", "FA", "MO"), _p("M", "FA", "MO")], ["M"], ["S1", "A"]),
    ("two_missing", [_p("FA", sex="M"), _p("MO", sex="F"), _p("M1", "FA", "MO", "M"), _p("M2", "FA", "MO", "F")],
     ["M1", "M2"], ["MO"]),
    ("nobody_typed_for_m", [_p("FA", sex="M"), _p("MO", sex="F"), _p("M", "FA", "MO"), _p("X", sex="M")],
     ["M"], ["X"]),
]


def _families(model, *, seed, partial=True, skip=()):
    """Each shape gene-dropped a few times (with mutation), M's profile kept as a related U;
    references partly untyped at random loci."""
    from reunite.genetics.kits import kit_markers

    rng = np.random.default_rng(seed)
    markers = kit_markers(POP)[:16]
    families, unidentified = [], []
    fid = 0
    for name, people, missing, refs in SHAPES:
        if name in skip:
            continue
        pedigree = ped.make_pedigree(people)
        for rep in range(3):
            fid += 1
            sim = simulate_genotypes(pedigree, markers=markers, seed=int(rng.integers(1 << 30)))
            profiles = {pid: {mk.name: mk.genotypes[pid] for mk in sim} for pid in pedigree.ids}
            references = {r: dict(profiles[r]) for r in refs}
            if partial and rep == 2:
                for r in references:
                    for locus in rng.choice(sorted(references[r]), size=3, replace=False):
                        del references[r][locus]
            families.append(FamilyRecord(fid, f"{name}-{rep}", pedigree, list(missing), references))
            sex = pedigree[missing[0]].sex
            unidentified.append(UnidentifiedRecord(fid, f"U-{name}-{rep}", sex if sex in "MF" else "U",
                                                   profiles[missing[0]]))
    return families, unidentified


def _index_equals_brute(families, unidentified, model):
    index = ix.FamilyIndex(model)
    index.add(families)
    brute = brute_force_search(unidentified, families, model=model)
    n = 0
    for u in unidentified:
        scores = index.scores(u.profile)
        for r in range(len(index)):
            key = (u.id, int(index.family_id[r]), index.missing[r])
            if key not in brute:
                continue
            want, got = brute[key], scores[r]
            n += 1
            if math.isnan(want):
                assert math.isnan(got), key
            else:
                assert got == want or abs(got - want) < 1e-9, (key, got, want)
            per_locus = index.lr_per_locus(u.profile, r)
            with np.errstate(divide="ignore"):
                total = float(np.sum(np.log10(np.array(list(per_locus.values())))))
            assert total == want or abs(total - want) < 1e-9 or (math.isnan(want) and math.isnan(total))
    return n


@pytest.mark.parametrize("kw", [
    {}, {"mutation": "none"}, {"mutation": "equal"}, {"mutation": "proportional"},
    {"mutation_rate": 0.01}, {"mutation": "stepwise", "rate2": 0.1, "range": 0.5},
])
def test_index_equals_the_engine_on_every_kind_of_pedigree(kw):
    model = GeneticModel(POP, **kw)
    families, unidentified = _families(model, seed=len(str(kw)))
    for f in families[::4]:  # an allele the table lacks: that family's locus gets its own table
        ref = sorted(f.references)[0]
        locus = sorted(f.references[ref])[1]
        f.references[ref][locus] = ("45", f.references[ref][locus][1])
    # every U against every family: related pairs (large LRs) and unrelated ones
    assert _index_equals_brute(families, unidentified, model) > 1000


def test_index_plans_cover_both_kinds():
    index = ix.FamilyIndex(MODEL)
    families, _ = _families(MODEL, seed=1)
    index.add(families)
    kinds = {p.kind for p in index._plans.values()}
    assert kinds == {"sides", "dense"}
    assert sum(len(t.dense) for t in index.tables) > 0 and sum(len(t.sides) for t in index.tables) > 0


def test_closed_forms_equal_the_engine(monkeypatch):
    db = simulate_database(300, 5, seed=21)
    families, _ = _records(db, num_queries=2)
    a = ix.FamilyIndex(MODEL)
    a.add(families)
    monkeypatch.setattr(ix.table, "_closed_form_siblings", lambda *args: None)
    monkeypatch.setattr(ix.table, "_closed_form_sides", lambda *args: None)
    b = ix.FamilyIndex(MODEL)
    b.add(families)
    for ta, tb in zip(a.tables, b.tables):
        assert ta.side_keys == tb.side_keys and ta.dense_keys == tb.dense_keys
        for x, y in zip(ta.sides + ta.dense, tb.sides + tb.dense):
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=0)


def test_requisite_references_by_bayes_ball():
    trio_sib = ped.make_pedigree([_p("FA", sex="M"), _p("MO", sex="F"), _p("S", "FA", "MO"), _p("M", "FA", "MO"),
                                  _p("GF", sex="M"), _p("X", "GF", None, "M")])
    s, i = trio_sib.structure_key(), trio_sib.index
    typed = frozenset(i[k] for k in ("FA", "MO", "S"))
    assert ix.requisite_typed(s, i["M"], typed) == tuple(sorted((i["FA"], i["MO"])))
    typed = frozenset(i[k] for k in ("MO", "S"))  # the sibling tells about the untyped father
    assert ix.requisite_typed(s, i["M"], typed) == tuple(sorted((i["MO"], i["S"])))
    typed = frozenset((i["X"],))  # unrelated
    assert ix.requisite_typed(s, i["M"], typed) == ()
    plan = ix.make_plan(s, i["M"], frozenset(i[k] for k in ("MO", "S")))
    assert plan.kind == "dense"
    plan = ix.make_plan(s, i["M"], frozenset(i[k] for k in ("FA", "MO", "S")))
    assert plan.kind == "sides" and [p.people for p in plan.parts] == [(i["FA"],), (i["MO"],)]


def test_compiled_scan_equals_numpy_and_wide_keys(monkeypatch):
    db = simulate_database(400, 30, seed=4)
    families, unidentified = _records(db, num_queries=5)
    index = ix.FamilyIndex(MODEL)
    index.add(families)
    kp, kq = index.combined()[:2]
    assert kp.dtype == np.uint16
    for u in unidentified:
        q = index.query(u.profile)
        a, b = np.empty(len(index)), np.empty(len(index))
        ix.scan(kp, kq, *q, a)
        ix._scan_py(kp, kq, *q, b)
        np.testing.assert_allclose(a, b, rtol=1e-12)
        order = index.combined()[6]
        want = np.empty(len(index))
        want[order] = a  # the combined arrays are in the order of the missing persons' sex
        np.testing.assert_array_equal(index.scores(u.profile), want)
        index._combined = None
        monkeypatch.setattr(ix.table, "NARROW_KEYS", 0)  # force 32-bit keys
        np.testing.assert_allclose(index.scores(u.profile), want, rtol=1e-13)
        assert index.combined()[0].dtype == np.uint32
        monkeypatch.undo()
        index._combined = None


def test_index_search_top_k_equals_brute_force(big):  # noqa: F811
    _, families, unidentified = big
    brute = _brute(unidentified, families)
    index = ix.FamilyIndex(MODEL)
    index.add(families)
    by_id = {f.id: f for f in families}
    result = index_search(unidentified, index, model=MODEL, min_lr=0.0, top_k=10,
                          load_families=lambda ids: list(by_id.values()) if ids is None else [by_id[i] for i in ids])
    for u in unidentified:
        want = sorted(((v, k) for k, v in brute.items() if k[0] == u.id), key=lambda t: -t[0])[:10]
        got = [c for c in result.candidates if c.unidentified.id == u.id]
        assert [c.rank for c in got] == list(range(1, 11))
        assert {(c.family.id, c.missing) for c in got} == {k[1:] for _, k in want}
        for c in got:
            assert abs(c.log10_lr - brute[(u.id, c.family.id, c.missing)]) < 1e-9
            assert c.lr == pytest.approx(10 ** c.log10_lr, rel=1e-9)


def test_index_search_equals_search_with_filters_fallback_and_rare_alleles():
    """Same candidates, LRs, ranks, inconsistent loci and counts as the engine's search:
    a family with a rare allele (not indexable), a person with a rare allele, sex 'U',
    partial profiles, the min-common-loci filter, min LR and top-k."""
    db = simulate_database(150, 60, seed=8)
    families, unidentified = _records(db, num_queries=12)
    f0 = families[0]
    ref = sorted(f0.references)[0]
    locus = sorted(f0.references[ref])[0]
    rare_family = FamilyRecord(9001, "RARE-F", f0.pedigree, f0.missing,
                               {**f0.references, ref: {**f0.references[ref], locus: ("45", "46")}})
    u0 = unidentified[0]
    rare_u = UnidentifiedRecord(9002, "RARE-U", u0.sex, {**u0.profile, locus: ("45", u0.profile[locus][1])})
    partial_u = UnidentifiedRecord(9003, "PART-U", "U", dict(sorted(unidentified[1].profile.items())[:11]))
    families = families + [rare_family]
    queries = unidentified + [rare_u, partial_u]
    index = ix.FamilyIndex(MODEL)
    index.add(families)
    assert index.fallback == [] and 9001 in index.family_id  # indexed, with an extended table
    by_id = {f.id: f for f in families}
    load = (lambda ids: list(by_id.values()) if ids is None else [by_id[i] for i in ids])
    for min_lr, top_k in ((1.0, 5), (0.0, None), (1e3, 20)):
        want = search(queries, families, model=MODEL, min_lr=min_lr, top_k=top_k)
        got = index_search(queries, index, model=MODEL, min_lr=min_lr, top_k=top_k, load_families=load)
        assert (got.num_pairs, got.num_compared, got.skipped_sex, got.skipped_loci) == (
            want.num_pairs, want.num_compared, want.skipped_sex, want.skipped_loci)
        assert sorted(got.skipped_pairs) == sorted(want.skipped_pairs)
        key = (lambda c: (c.unidentified.code, c.rank))
        assert [(c.unidentified.code, c.family.code, c.missing, c.rank) for c in sorted(got.candidates, key=key)] \
            == [(c.unidentified.code, c.family.code, c.missing, c.rank) for c in sorted(want.candidates, key=key)]
        for a, b in zip(sorted(got.candidates, key=key), sorted(want.candidates, key=key)):
            assert abs(a.log10_lr - b.log10_lr) < 1e-9
            assert a.inconsistent_loci == b.inconsistent_loci
            assert a.loci_compared == b.loci_compared
            assert a.lr_per_locus.keys() == b.lr_per_locus.keys()
            for locus_name, v in a.lr_per_locus.items():
                assert v == pytest.approx(b.lr_per_locus[locus_name], rel=1e-9)


def test_theta_has_an_index_too():  # tests/test_index_theta.py compares it with the engine
    index = ix.FamilyIndex(GeneticModel(POP, theta=0.01))
    assert index.theta == 0.01 and index.key_d is not None


def test_stored_index_is_reused_updated_and_rebuilt(tmp_path):
    db, engine = simulated_store(tmp_path, 120, 20, seed=3, model=MODEL)
    path = index_path(engine)
    if engine.dialect.name == "sqlite":  # beside the file (PostgreSQL, make test-pg: the cache folder)
        assert path == tmp_path / "r.db.index"
    with Session(engine) as s:
        a = family_index(s, MODEL)
        n_fam = s.execute(select(func.count(Family.id))).scalar()
        assert len(a.indexed) == n_fam and path.exists()
        mtime = path.stat().st_mtime_ns
        b = family_index(s, MODEL)  # up to date: loaded, not written again
        assert path.stat().st_mtime_ns == mtime
        assert len(b) == len(a) and np.array_equal(b.key_p, a.key_p)
        # the rows streamed from the database equal the FamilyRecords
        c = ix.FamilyIndex(MODEL)
        c.add(load_families(s))
        assert sorted(zip(c.family_id.tolist(), c.missing)) == sorted(zip(a.family_id.tolist(), a.missing))
    # a new family is added to the stored index
    from reunite.store.importers import import_families, import_genotypes

    (tmp_path / "g.csv").write_text("sample_id,locus,allele1,allele2\nNEW1,D3S1358,15,16\nNEW1,VWA,17,18\n")
    (tmp_path / "f.csv").write_text("family_id,person_id,father_id,mother_id,sex,role,sample_id\n"
                                    "NEWF,NEWF-FA,,,M,reference,NEW1\nNEWF,NEWF-MO,,,F,untyped,\n"
                                    "NEWF,NEWF-M,NEWF-FA,NEWF-MO,M,missing,\n")
    with Session(engine) as s, s.begin():
        import_genotypes(s, tmp_path / "g.csv", model=MODEL)
        import_families(s, tmp_path / "f.csv", model=MODEL)
    with Session(engine) as s:
        d = family_index(s, MODEL)
        assert len(d.indexed) == n_fam + 1 and "NEWF" in d.family_code
        # another genetic model: rebuilt, not reused
        other = GeneticModel(POP, mutation="equal", mutation_rate=0.002)
        e = family_index(s, other)
        assert e.model == other and len(e.indexed) == n_fam + 1
    # an unreadable file is rebuilt
    path.write_bytes(b"not an index")
    with Session(engine) as s:
        assert len(family_index(s, MODEL).indexed) == n_fam + 1
    assert len(ix.FamilyIndex.load(path, MODEL).indexed) == n_fam + 1


def test_saved_index_reads_back_the_same(tmp_path):
    db = simulate_database(300, 20, seed=14)
    families, unidentified = _records(db, num_queries=4)
    index = ix.FamilyIndex(MODEL)
    index.add(families[:200])
    index.database_id, index.family_imports = "abc", ["7|x"]
    index.save(tmp_path / "i.npz")
    back = ix.FamilyIndex.load(tmp_path / "i.npz", MODEL)
    for name in ("key_p", "key_q", "row_shape", "family_id", "m_sex", "ref_mask"):
        assert np.array_equal(getattr(back, name), getattr(index, name)), name
    assert (back.loci, back.family_code, back.missing, back.indexed, back.fallback, back.shapes) == (
        index.loci, index.family_code, index.missing, index.indexed, index.fallback, index.shapes)
    assert (back.database_id, back.family_imports) == ("abc", ["7|x"])
    for u in unidentified:
        np.testing.assert_array_equal(back.scores(u.profile), index.scores(u.profile))
    # adding to what was read back gives what adding to the original gives
    back.add(families[200:])
    index.add(families[200:])
    assert np.array_equal(back.key_p, index.key_p) and np.array_equal(back.key_q, index.key_q)
    for u in unidentified:
        np.testing.assert_array_equal(back.scores(u.profile), index.scores(u.profile))
    with pytest.raises(Exception, match="made for"):
        ix.FamilyIndex.load(tmp_path / "i.npz", GeneticModel(POP, mutation="equal"))


def test_run_search_uses_the_index_and_equals_the_engine(tmp_path):
    db, engine = simulated_store(tmp_path, 150, 30, seed=6, model=MODEL)
    with Session(engine) as s:
        a = run_search(s, MODEL, store=False, top_k=5, use_index=True)
        b = run_search(s, MODEL, store=False, top_k=5, use_index=False)
    key = (lambda c: (c.unidentified.code, c.rank))
    assert [(c.unidentified.code, c.family.code, c.missing) for c in sorted(a.candidates, key=key)] == \
        [(c.unidentified.code, c.family.code, c.missing) for c in sorted(b.candidates, key=key)]
    assert a.num_compared == b.num_compared


def test_iter_family_rows_of_some_families(tmp_path):
    db, engine = simulated_store(tmp_path, 30, 5, seed=2, model=MODEL)
    with Session(engine) as s:
        ids = sorted(s.execute(select(Family.id)).scalars())[3:9:2]
        rows = list(iter_family_rows(s, ids))
        assert [r[0] for r in rows] == ids
        recs = {f.id: f for f in load_families(s, ids)}
        for fid, code, structure, positions, profiles, missing in rows:
            f = recs[fid]
            assert code == f.code and structure == f.pedigree.structure_key()
            assert [m for m, _, _ in missing] == f.missing


@pytest.mark.parametrize("seed", range(6))
def test_compiled_selection_equals_numpy(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 5000))
    scores = np.round(rng.normal(0, 3, n), 1)  # many ties
    scores[rng.random(n) < 0.05] = np.nan
    scores[rng.random(n) < 0.02] = -np.inf
    m_sex = rng.integers(0, 3, n).astype(np.int8)
    words = int(rng.integers(1, 3))
    ref_mask = rng.integers(0, 1 << 62, (n, words)).astype(np.uint64) | (
        rng.integers(0, 2, (n, words)).astype(np.uint64) << np.uint64(63))
    u_mask = rng.integers(0, 1 << 62, words).astype(np.uint64)
    for top_k in (-1, 0, 1, 7, 300, 5000):
        for min_log in (-np.inf, 0.0, 2.0):
            args = (scores, m_sex, ref_mask, int(rng.integers(0, 3)), u_mask, int(rng.integers(0, 70)),
                    min_log, top_k, 50)
            a, b = ix._select(*args), ix._select_py(*args)
            assert sorted(a[0].tolist()) == sorted(b[0].tolist())
            assert a[1:3] == b[1:3] and a[3].tolist() == b[3].tolist()


def test_scores_with_threads_equal_one_thread(monkeypatch):
    monkeypatch.setattr(ix.query, "MIN_ROWS_PER_THREAD", 10)
    db = simulate_database(600, 10, seed=12)
    families, unidentified = _records(db, num_queries=3)
    index = ix.FamilyIndex(MODEL)
    index.add(families)
    for u in unidentified:
        np.testing.assert_array_equal(index.scores(u.profile), index.scores(u.profile, threads=2))


def test_an_index_of_another_database_is_not_used(tmp_path, monkeypatch):
    """Two databases with the same family ids: the index records which database it is of."""
    monkeypatch.setenv("REUNITE_INDEX", str(tmp_path / "shared.index"))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _, engine_a = simulated_store(tmp_path / "a", 40, 5, seed=1, model=MODEL)
    _, engine_b = simulated_store(tmp_path / "b", 40, 5, seed=2, model=MODEL)
    with Session(engine_a) as s:
        a = family_index(s, MODEL)
    with Session(engine_b) as s:
        b = family_index(s, MODEL)
        assert b.database_id != a.database_id
        fresh = ix.FamilyIndex(MODEL)
        fresh.add(load_families(s))
    assert sorted(b.family_code) == sorted(fresh.family_code)
    u = UnidentifiedRecord(1, "u", "U", next(iter(load_families(Session(engine_b))[0].references.values())))
    np.testing.assert_allclose(np.sort(b.scores(u.profile)), np.sort(fresh.scores(u.profile)))


def test_cli_db_index_and_search(tmp_path):
    from typer.testing import CliRunner

    from reunite.cli import app
    from reunite.simulate import write_database

    db = simulate_database(60, 10, seed=5)
    paths = write_database(db, tmp_path / "sim")
    env = {"REUNITE_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}", "COLUMNS": "200"}
    runner = CliRunner()

    def ok(*args):
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == 0, (result.output, result.exception)
        return result.output

    ok("db", "init")
    ok("import", "genotypes", str(paths["genotypes"]))
    ok("import", "families", str(paths["families"]))
    from reunite.store.db import make_engine

    stored = index_path(make_engine(env["REUNITE_DATABASE_URL"]))  # SQLite: c.db.index beside the file
    assert stored.exists()  # indexed on import
    out = ok("db", "index")
    assert "60 families" in out and stored.name in out
    out = ok("db", "index", "--rebuild")
    assert "60 families" in out
    ok("import", "unidentified", str(paths["unidentified"]))
    out = ok("search", "--all", "--min-lr", "1000", "--out", str(tmp_path / "m.csv"))
    rows = (tmp_path / "m.csv").read_text().splitlines()
    assert rows[0] == ("unidentified_id,family_id,missing_id,lr,log10_lr,loci_compared,inconsistent_loci,rank,flags,"
                       "reference_samples,category,found_place,found_date")
    got = {tuple(r.split(",")[:3]): float(r.split(",")[4]) for r in rows[1:]}
    from reunite.store.db import make_engine

    engine = make_engine(env["REUNITE_DATABASE_URL"])
    with Session(engine) as s:
        want = search(load_unidentified(s), load_families(s), model=MODEL, min_lr=1000, top_k=None)
    engine.dispose()
    assert got.keys() == {(c.unidentified.code, c.family.code, c.missing) for c in want.candidates}
    for c in want.candidates:
        assert abs(got[(c.unidentified.code, c.family.code, c.missing)] - c.log10_lr) < 1e-5
    assert len(got) >= len(db["truth"]) // 2


@pytest.mark.parametrize("kw", [{}, {"mutation": "equal", "mutation_rate": 0.05}])
def test_inconsistent_loci_equal_the_engine_on_every_kind_of_pedigree(kw):
    """Every person against every family of every shape (references left out of the index
    included), partial profiles, two mutation models."""
    from reunite.search.engine import Candidate, exact_pairs

    model = GeneticModel(POP, **kw)
    families, unidentified = _families(model, seed=7)
    for f in families[1::4]:  # an allele the table lacks
        ref = sorted(f.references)[-1]
        locus = sorted(f.references[ref])[2]
        f.references[ref][locus] = ("45", f.references[ref][locus][1])
    # a typed sibling that is inconsistent with both typed parents without mutation
    fam = next(f for f in families if f.code.startswith("parents_and_sibs"))
    locus = sorted(fam.references["S1"])[0]
    fa, mo = fam.references["FA"].get(locus), fam.references["MO"].get(locus)
    if fa and mo:
        odd = next(a for a in sorted(model.marker(locus).afreq) if a not in fa + mo)
        fam.references["S1"][locus] = (odd, odd)
    index = ix.FamilyIndex(model)
    index.add(families)
    cands = [Candidate(u, f, m, 0.0, 0.0, 0) for u in unidentified[::3] for f in families for m in f.missing]
    index.inconsistent_loci(cands)
    results = exact_pairs([(c.unidentified, c.family, c.missing) for c in cands], model=model, mutation=False)
    flagged = 0
    for c, r in zip(cands, results):
        want = sorted(l for l, v in r.lr_per_marker.items() if v == 0.0 or math.isnan(v))
        assert c.inconsistent_loci == want, (c.unidentified.code, c.family.code)
        flagged += bool(want)
    assert flagged > len(cands) // 4


def test_member_rows_equal_family_rows_with_unlisted_parents():
    """A parent named but not listed (an untyped founder), in any order of the rows."""
    members = [(None, "CH", "DAD", "MUM", "F", "missing", None),
               (None, "MUM", None, None, "F", "reference", "VWA=14/17"),
               (None, "SIB", "DAD", "MUM", "M", "reference", "VWA=14/15")]
    shapes = {}
    row = ix.member_rows(1, "F1", members, shapes=shapes)
    pedigree = ped.make_pedigree([{"id": m[1], "father": m[2], "mother": m[3], "sex": m[4]} for m in members])
    record = FamilyRecord(1, "F1", pedigree, ["CH"], {"MUM": {"VWA": ("14", "17")}, "SIB": {"VWA": ("14", "15")}})
    want = ix.family_rows(record)
    assert row[:4] == want[:4] and row[5] == want[5]
    assert [dict(x.split("=") for x in p.split(";")) for p in row[4]] == [
        {loc: "/".join(g) for loc, g in p.items()} for p in want[4]]
    # another family of the same shape with other codes uses the cached shape
    other = [(None, m[1] + "2", m[2] and m[2] + "2", m[3] and m[3] + "2", m[4], m[5], m[6]) for m in members]
    assert ix.member_rows(2, "F2", other, shapes=shapes)[2:4] == row[2:4] and len(shapes) == 1


def test_typed_people_related_to_neither_parent_are_kept_without_mutation():
    """With no mutation nothing is left out: an unrelated typed pair that is inconsistent
    by itself makes the engine's LR 0/0, and so the index's (a review's finding)."""
    from reunite.genetics.kits import kit_markers

    model = GeneticModel(POP, mutation="none", min_common_loci=1)
    pedigree = ped.make_pedigree([_p("FA", sex="M"), _p("MO", sex="F"), _p("M", "FA", "MO", "M"),
                                  _p("GX", sex="M"), _p("WX", sex="F"), _p("X", "GX", "WX", "M")])
    markers = kit_markers(POP)[:15]
    sim = simulate_genotypes(pedigree, markers=markers, seed=5)
    prof = {pid: {mk.name: mk.genotypes[pid] for mk in sim} for pid in pedigree.ids}
    locus = markers[0].name
    refs = {"MO": prof["MO"], "GX": dict(prof["GX"]), "X": dict(prof["X"])}
    other = [a for a in sorted(model.marker(locus).afreq) if a not in prof["X"][locus]][:2]
    refs["GX"][locus] = (other[0], other[1])  # shares no allele with his son X
    f = FamilyRecord(1, "F1", pedigree, ["M"], refs)
    u = UnidentifiedRecord(1, "U1", "M", prof["M"])
    index = ix.FamilyIndex(model)
    index.add([f])
    assert math.isnan(brute_force_search([u], [f], model=model)[(1, 1, "M")])
    assert math.isnan(index.scores(u.profile)[0])
    got = index_search([u], index, model=model, min_lr=0, top_k=5, load_families=lambda ids: [f])
    assert got.candidates == [] == search([u], [f], model=model, min_lr=0, top_k=5).candidates


@pytest.mark.parametrize("people,refs", [
    ([_p("FA", sex="M"), _p("MO", sex="F"), _p("M", "FA", "MO", "M")], {"FA": ("15", "16")}),
    ([_p("GF", sex="M"), _p("GM", sex="F"), _p("FA", "GF", "GM", "M"), _p("MO", sex="F"), _p("M", "FA", "MO", "M")],
     {"FA": ("15", "16"), "GF": ("15", "17")}),
])
def test_a_fully_inbred_founder_typed_heterozygous_gives_nan_as_the_engine(people, refs):
    for person in people:
        person["inbreeding"] = 1.0 if person["id"] in ("FA", "GF") and person["father"] is None else 0.0
    model = GeneticModel(POP, min_common_loci=1)
    pedigree = ped.make_pedigree(people)
    f = FamilyRecord(1, "F", pedigree, ["M"], {k: {"D3S1358": g} for k, g in refs.items()})
    u = UnidentifiedRecord(1, "U", "M", {"D3S1358": ("15", "16")})
    index = ix.FamilyIndex(model)
    index.add([f])
    assert math.isnan(brute_force_search([u], [f], model=model)[(1, 1, "M")])
    assert math.isnan(index.scores(u.profile)[0])


def test_more_than_64_loci():
    """A table with 70 usable loci: locus bits span two words (a review's finding)."""
    from reunite.genetics.frequencies import get_population

    pop = "CHN_Han_HGDP"
    model = GeneticModel(pop, min_common_loci=3)
    loci = sorted(model.loci())
    assert len(loci) > 64
    table = get_population(pop)

    def geno(locus, k):
        alleles = sorted(table.locus(locus).afreq, key=lambda a: -table.locus(locus).afreq[a])
        return (alleles[k % 2], alleles[1 + k % 3])

    trio = ped.make_pedigree([_p("FA", sex="M"), _p("MO", sex="F"), _p("M", "FA", "MO", "M")])
    families = [FamilyRecord(2, "F0", trio, ["M"], {"MO": {l: geno(l, 0) for l in loci[:66]}}),
                FamilyRecord(1, "F1", trio, ["M"], {"MO": {l: geno(l, 1) for l in loci[-4:]}}),
                FamilyRecord(3, "F2", trio, ["M"], {"MO": {l: geno(l, 2) for l in loci[-2:]}})]
    u = UnidentifiedRecord(1, "U1", "M", {l: geno(l, 1) for l in loci[-4:]})
    index = ix.FamilyIndex(model)
    index.add(families)
    assert len(index.loci) == 70 and index.ref_mask.shape == (3, 2)
    want = search([u], families, model=model, min_lr=0, top_k=None)
    got = index_search([u], index, model=model, min_lr=0, top_k=None,
                       load_families=lambda ids: [f for f in families if ids is None or f.id in ids])
    assert (got.num_compared, got.skipped_loci) == (want.num_compared, want.skipped_loci) == (1, 2)
    assert sorted(got.skipped_pairs) == sorted(want.skipped_pairs)
    assert [(c.family.code, round(c.log10_lr, 9)) for c in got.candidates] == \
        [(c.family.code, round(c.log10_lr, 9)) for c in want.candidates]


def test_an_index_saved_inside_a_rolled_back_import_is_not_trusted(tmp_path):
    """SQLite reuses the ids of a rolled-back import: the index records the import itself."""
    from reunite.store.importers import import_families, import_genotypes

    _, engine = simulated_store(tmp_path, 20, 2, seed=3, model=MODEL)
    (tmp_path / "g.csv").write_text("sample_id,locus,allele1,allele2\nNEW1,D3S1358,15,16\nNEW1,VWA,17,18\n"
                                    "NEW2,D3S1358,14,15\nNEW2,VWA,16,17\n")
    with Session(engine) as s, s.begin():
        import_genotypes(s, tmp_path / "g.csv", model=MODEL)

    def family_file(name, sample):
        path = tmp_path / f"{name}.csv"
        path.write_text("family_id,person_id,father_id,mother_id,sex,role,sample_id\n"
                        f"{name},{name}-FA,,,M,reference,{sample}\n{name},{name}-MO,,,F,untyped,\n"
                        f"{name},{name}-M,{name}-FA,{name}-MO,M,missing,\n")
        return path

    s = Session(engine)
    s.begin()
    import_families(s, family_file("AAA", "NEW1"), model=MODEL)
    assert "AAA" in family_index(s, MODEL).family_code  # saved while uncommitted
    s.rollback()
    s.close()
    with Session(engine) as s, s.begin():
        import_families(s, family_file("BBB", "NEW2"), model=MODEL)
    with Session(engine) as s:
        index = family_index(s, MODEL)
        assert "AAA" not in index.family_code and "BBB" in index.family_code
        fresh = ix.FamilyIndex(MODEL)
        fresh.add(load_families(s))
    u = UnidentifiedRecord(1, "u", "M", {"D3S1358": ("14", "15"), "VWA": ("16", "17")})
    np.testing.assert_array_equal(np.sort(index.scores(u.profile)), np.sort(fresh.scores(u.profile)))
