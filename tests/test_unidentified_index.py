"""The unidentified index: a family against every unidentified person by one scan, equal to
the engine's search (``per="family"``) and to the pair-by-pair brute force."""

import math
from datetime import date

import numpy as np
import pytest
from conftest import simulated_store
from sqlalchemy import select
from sqlalchemy.orm import Session

from reunite.errors import ReuniteError
from reunite.genetics import pedigree as ped
from reunite.search import unidentified_index as ui
from reunite.search.engine import (
    MAX_LISTED_SKIPPED,
    FamilyRecord,
    UnidentifiedRecord,
    brute_force_search,
    search,
)
from reunite.search.index import DamagedFileError
from reunite.search.unidentified_index import UnidentifiedIndex, search_families
from reunite.simulate import simulate_database, write_database
from reunite.store.profiles import GeneticModel

MODEL = GeneticModel("CHN_national_GBT37223")
NO_MUTATION = GeneticModel("CHN_national_GBT37223", mutation="none")
THETA = GeneticModel("CHN_national_GBT37223", theta=0.02)


def _records(db):
    """FamilyRecords and UnidentifiedRecords (with their dates) of a simulated database."""
    profiles: dict = {}
    for sample, locus, a, b in db["genotypes"]:
        profiles.setdefault(sample, {})[locus] = (a, b)
    fams: dict = {}
    for row in db["families"]:
        fams.setdefault(row[0], []).append(row)

    def day(text):
        return date.fromisoformat(text) if text else None

    families = []
    for k, (code, rows) in enumerate(sorted(fams.items())):
        pedigree = ped.make_pedigree([{"id": r[1], "father": r[2] or None, "mother": r[3] or None, "sex": r[4]}
                                      for r in rows])
        dated = len(rows[0]) > 8
        families.append(FamilyRecord(
            k + 1, code, pedigree, [r[1] for r in rows if r[5] == "missing"],
            {r[1]: dict(profiles[r[6]]) for r in rows if r[5] == "reference"},
            {r[1]: (day(r[8]), day(r[9])) for r in rows if dated and r[5] == "missing" and (r[8] or r[9])}))
    unidentified = [UnidentifiedRecord(k + 1, r[0], r[2], dict(profiles[r[1]]), day(r[4]), day(r[5]))
                    for k, r in enumerate(db["unidentified"])]
    return families, unidentified


def _world(num_families, num_unidentified, *, seed, dates):
    """A simulated world with a few rare alleles (persons and references) and unknown sexes."""
    families, unidentified = _records(simulate_database(num_families, num_unidentified, seed=seed, dates=dates))
    for u in unidentified[3:8]:  # alleles absent from the table: the engine's, pair by pair
        locus = sorted(u.profile)[1]
        u.profile[locus] = ("41.2", u.profile[locus][1])
    for f in families[:5]:
        person = sorted(f.references)[0]
        locus = sorted(f.references[person])[2]
        f.references[person][locus] = (f.references[person][locus][0], "3.3")
    for u in unidentified[10:20]:
        u.sex = "U"
    return families, unidentified


@pytest.fixture(scope="module")
def dated():
    return _world(60, 300, seed=7, dates=True)


@pytest.fixture(scope="module")
def undated():
    return _world(40, 250, seed=8, dates=False)


def _loader(unidentified):
    by_id = {u.id: u for u in unidentified}
    return lambda ids: list(unidentified) if ids is None else [by_id[i] for i in ids]


def _same(ours, engine, *, rel=1e-12):
    """The same candidates in the same order with the same LRs, counts and skipped pairs."""
    assert [(c.unidentified.id, c.family.id, c.missing, c.rank, c.inconsistent_loci, c.loci_compared)
            for c in ours.candidates] == [
           (c.unidentified.id, c.family.id, c.missing, c.rank, c.inconsistent_loci, c.loci_compared)
            for c in engine.candidates]
    for a, b in zip(ours.candidates, engine.candidates):
        assert a.lr == pytest.approx(b.lr, rel=rel, abs=0.0, nan_ok=True)
        assert a.log10_lr == pytest.approx(b.log10_lr, rel=rel, abs=1e-13)
        assert sorted(a.lr_per_locus) == sorted(b.lr_per_locus)
        for locus, v in a.lr_per_locus.items():
            assert v == pytest.approx(b.lr_per_locus[locus], rel=rel, abs=0.0, nan_ok=True)
        assert math.prod(a.lr_per_locus.values()) == pytest.approx(a.lr, rel=1e-12)
    for name in ("num_pairs", "num_compared", "skipped_sex", "skipped_age", "skipped_loci", "age_tolerance"):
        assert getattr(ours, name) == getattr(engine, name), name
    assert ours.skipped_pairs == engine.skipped_pairs[:MAX_LISTED_SKIPPED]  # the first of the engine's list


def _index(model, unidentified):
    index = UnidentifiedIndex(model)
    index.add(unidentified)
    return index


# -- the summation and the scan ----------------------------------------------------------

def test_pairwise_sum_is_numpys_sum_term_for_term():
    rng = np.random.default_rng(1)
    for n in range(0, ui.MAX_LOCI + 1):
        rows = rng.normal(size=(20, n)) * 10.0 ** rng.uniform(-4, 4, size=(20, n))
        want = rows.sum(axis=1)
        for r in range(20):
            assert ui._pairwise_sum_py(rows[r], n) == want[r]
            assert ui._pairwise_sum(rows[r], n) == want[r]  # compiled


def test_compiled_scan_equals_the_python_scan(dated):
    families, unidentified = dated
    index = _index(MODEL, unidentified)
    rng = np.random.default_rng(2)
    cols = len(index.columns)
    width = int((index.sizes ** 2).max())
    logtab = rng.normal(size=(cols, width))
    pos = rng.permutation(cols).astype(np.int64)
    f_typed = rng.random(cols) < 0.8
    out = []
    for fn in (ui._scan, ui.scan):  # Python (its sum compiled), compiled
        score, status = np.full(len(index), np.nan), np.zeros(len(index), dtype=np.int8)
        fn(index.codes, np.arange(cols), index.sex, index.birth, index.found, index.flags, logtab, pos, cols, f_typed, 1,
           index.birth[0], index.found[0], 400, 10, index.untyped, score, status)
        out.append((score, status))
    assert np.array_equal(out[0][1], out[1][1])
    assert set(np.unique(out[0][1])) >= {ui.OK, ui.SKIP_SEX, ui.SKIP_AGE}
    ok = out[0][1] == ui.OK
    assert np.array_equal(out[0][0][ok], out[1][0][ok])


# -- equal to the engine, and to brute force ----------------------------------------------

@pytest.mark.parametrize("model", [MODEL, NO_MUTATION], ids=["stepwise", "no-mutation"])
@pytest.mark.parametrize("world", ["dated", "undated"])
@pytest.mark.parametrize("options", [dict(min_lr=1.0, top_k=20), dict(min_lr=0.0, top_k=None),
                                     dict(min_lr=0.0, top_k=3, age_tolerance=0.5)])
def test_family_search_equals_the_engine(model, world, options, request):
    families, unidentified = request.getfixturevalue(world)
    index = _index(model, unidentified)
    some = families[:12]
    ours = search_families(index, some, model=model, load_unidentified=_loader(unidentified), **options)
    engine = search(unidentified, some, model=model, per="family", **options)
    assert ours.candidates
    _same(ours, engine)


def test_every_compared_pair_equals_brute_force(undated):
    families, unidentified = undated
    some, people = families[5:8], unidentified[:120]
    ours = search_families(_index(MODEL, people), some, model=MODEL, load_unidentified=_loader(people),
                           min_lr=0.0, top_k=None)
    brute = brute_force_search(people, some, model=MODEL)
    assert len(ours.candidates) == len(brute) == ours.num_compared
    for c in ours.candidates:
        want = brute[(c.unidentified.id, c.family.id, c.missing)]
        assert c.log10_lr == pytest.approx(want, abs=5e-10)
        assert c.lr == pytest.approx(10 ** want, rel=1e-9)


def test_theta_above_zero_equals_the_engine_pair_by_pair(dated, undated):
    """θ > 0: LR = P(M = x/y, refs) / P(U = x/y, refs), U an extra founder in the θ urn; the
    engine computes every pair with the kinship engine."""
    for families, unidentified in (dated, undated):
        people, some = unidentified[:40], families[3:5]
        ours = search_families(_index(THETA, people), some, model=THETA, load_unidentified=_loader(people),
                               min_lr=0.0, top_k=None)
        engine = search(people, some, model=THETA, per="family", min_lr=0.0, top_k=None)
        assert len(ours.candidates) > 20
        _same(ours, engine, rel=1e-12)


def test_families_with_several_missing_persons_rank_across_them(undated):
    """Two missing persons (M and a full sibling of M, or a second founder): ranked together."""
    from dataclasses import replace

    from reunite.genetics.pedigree import Individual

    families, unidentified = undated
    several = []
    for f in families[:6]:
        m = f.pedigree[f.missing[0]]
        extra = Individual("X2", m.father, m.mother, "F") if m.father and m.mother else Individual("X2", None, None, "F")
        several.append(replace(f, pedigree=ped.make_pedigree(list(f.pedigree.individuals) + [extra]),
                               missing=[*f.missing, "X2"]))
    ours = search_families(_index(MODEL, unidentified), several, model=MODEL,
                           load_unidentified=_loader(unidentified), min_lr=0.0, top_k=5)
    assert {c.missing for c in ours.candidates} >= {"X2"}
    _same(ours, search(unidentified, several, model=MODEL, per="family", min_lr=0.0, top_k=5))


def test_ties_are_ranked_by_code(undated):
    """Persons with the same profile tie: ranked by code, the top k cut among them as the engine cuts."""
    families, unidentified = undated
    twin = unidentified[30]
    people = list(unidentified[:60]) + [UnidentifiedRecord(1000 + k, f"A{k:03d}", twin.sex, dict(twin.profile))
                                        for k in range(6)]
    ours = search_families(_index(MODEL, people), families[:4], model=MODEL, load_unidentified=_loader(people),
                           min_lr=0.0, top_k=4)
    _same(ours, search(people, families[:4], model=MODEL, per="family", min_lr=0.0, top_k=4))


# -- the index: building, storing ---------------------------------------------------------

def _arrays(index):
    return {name: getattr(index, name) for name in ("ids", "codes", "sex", "birth", "found", "flags", "typed_count")}


def test_built_in_parts_in_any_order_equals_built_at_once(dated):
    _, unidentified = dated
    whole = _index(MODEL, unidentified)
    parts = UnidentifiedIndex(MODEL)
    parts.add(unidentified[150:])
    parts.add(unidentified[:150])
    parts.add(unidentified[:10])  # held already: skipped
    for name, a in _arrays(whole).items():
        assert np.array_equal(a, _arrays(parts)[name]), name
    assert whole.codes_text == parts.codes_text == [u.code for u in unidentified]
    assert np.count_nonzero(whole.flags & ui.RARE) == 5


def test_saved_and_loaded_checked(dated, tmp_path):
    _, unidentified = dated
    index = _index(MODEL, unidentified)
    index.token = {"database_id": "x", "imports": [], "correction": None}
    path = tmp_path / "u.npz"
    index.save(path)
    back = UnidentifiedIndex.load(path, MODEL)
    for name, a in _arrays(index).items():
        assert np.array_equal(a, _arrays(back)[name]), name
    assert back.codes_text == index.codes_text and back.token == index.token
    with pytest.raises(ReuniteError, match="made for"):
        UnidentifiedIndex.load(path, NO_MUTATION)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DamagedFileError):
        UnidentifiedIndex.load(path, MODEL)
    path.write_bytes(b"")
    with pytest.raises(DamagedFileError):
        UnidentifiedIndex.load(path, MODEL)


# -- in the database ----------------------------------------------------------------------

def _keys(result):
    return [(c.unidentified.id, c.family.id, c.missing, c.rank, round(c.log10_lr, 9)) for c in result.candidates]


def test_run_search_uses_the_index_kept_beside_the_database(tmp_path, monkeypatch):
    from reunite.search.service import load_unidentified, run_search
    from reunite.store.corrections import retype_sample, withdraw_sample
    from reunite.store.importers import import_all
    from reunite.store.models import Family, Sample, Unidentified

    _, engine = simulated_store(tmp_path, 30, 120, seed=4, model=MODEL)
    path = ui.unidentified_index_path(engine)
    with Session(engine) as s:
        fids = list(s.execute(select(Family.id).order_by(Family.id).limit(4)).scalars())
        got = run_search(s, MODEL, family_ids=fids, per="family", min_lr=0.0, top_k=10, store=False)
        want = run_search(s, MODEL, family_ids=fids, per="family", min_lr=0.0, top_k=10, store=False,
                          use_index=False)
        assert _keys(got) == _keys(want) and got.num_compared == want.num_compared
        assert path.exists()
    # more persons imported: read alone, added to the index (not rebuilt)
    more = simulate_database(10, 40, seed=5, first_family=500, first_unidentified=500)
    with Session(engine) as s, s.begin():
        import_all(s, write_database(more, tmp_path / "more"), model=MODEL)
    read = []
    original = ui._read_rows

    def spy(index, session, **kw):
        read.append(kw)
        return original(index, session, **kw)

    monkeypatch.setattr(ui, "_read_rows", spy)
    ui._CACHE.clear()  # from the file, as a new process
    with Session(engine) as s:
        index = ui.unidentified_index(s, MODEL)
        assert len(index) == 160 and read and read[0].get("after") is not None
        got = run_search(s, MODEL, family_ids=fids, per="family", min_lr=0.0, top_k=10, store=False)
        want = run_search(s, MODEL, family_ids=fids, per="family", min_lr=0.0, top_k=10, store=False,
                          use_index=False)
        assert _keys(got) == _keys(want)
        assert got.num_pairs == want.num_pairs and got.num_pairs % 160 == 0
        read.clear()
        ui._CACHE.clear()
        assert len(ui.unidentified_index(s, MODEL)) == 160 and not read  # up to date: nothing read
    # corrections: a sample withdrawn (no longer searched), another re-typed: those persons
    # alone are read again
    read.clear()
    with Session(engine) as s, s.begin():
        (uid1, code1), (uid2, code2) = s.execute(
            select(Unidentified.id, Sample.code).join(Sample, Unidentified.sample_id == Sample.id)
            .order_by(Unidentified.id).limit(2)).all()
        withdraw_sample(s, code1, changed_by="test", reason="contaminated")
        profile = load_unidentified(s, [uid2])[0].profile
        locus = sorted(profile)[0]
        profile[locus] = (profile[locus][1], "41.2")  # an allele the table lacks: the engine's, pair by pair
        retype_sample(s, code2, model=MODEL, changed_by="test", reason="re-typed", profile=profile)
    with Session(engine) as s:
        index = ui.unidentified_index(s, MODEL)
        assert len(index) == 159 and read == [{"ids": [uid1, uid2], "progress": None}]
        assert uid1 not in index.ids and index.flags[index.ids.tolist().index(uid2)] == ui.RARE
        got = run_search(s, MODEL, family_ids=fids, per="family", min_lr=0.0, top_k=10, store=False)
        want = run_search(s, MODEL, family_ids=fids, per="family", min_lr=0.0, top_k=10, store=False,
                          use_index=False)
        assert _keys(got) == _keys(want)
        assert got.num_pairs == want.num_pairs and got.num_pairs % 159 == 0


def test_a_damaged_file_is_rebuilt_and_said(tmp_path):
    _, engine = simulated_store(tmp_path, 10, 40, seed=6, model=MODEL)
    with Session(engine) as s:
        ui.unidentified_index(s, MODEL)
    path = ui.unidentified_index_path(engine)
    path.write_bytes(path.read_bytes()[:100])
    ui._CACHE.clear()
    with Session(engine) as s, pytest.warns(UserWarning, match="unidentified index"):
        assert len(ui.unidentified_index(s, MODEL)) == 40
    assert len(UnidentifiedIndex.load(path, MODEL)) == 40


# -- bigger (make stress) -----------------------------------------------------------------

@pytest.mark.stress
def test_many_families_against_thousands_of_persons_equal_the_engine():
    families, unidentified = _world(400, 3000, seed=21, dates=True)
    index = _index(MODEL, unidentified)
    for options in (dict(min_lr=1.0, top_k=20), dict(min_lr=0.0, top_k=50)):
        ours = search_families(index, families, model=MODEL, load_unidentified=_loader(unidentified), **options)
        _same(ours, search(unidentified, families, model=MODEL, per="family", **options))


def test_cli_family_search_and_db_index(tmp_path):
    from typer.testing import CliRunner

    from reunite.cli import app
    from reunite.search.service import load_families, load_unidentified
    from reunite.store.db import make_engine

    db = simulate_database(20, 60, seed=9, dates=True)
    paths = write_database(db, tmp_path / "sim")
    env = {"REUNITE_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}", "COLUMNS": "200"}
    runner = CliRunner()

    def ok(*args):
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == 0, (result.output, result.exception)
        return result.output

    ok("db", "init")
    for kind in ("genotypes", "families", "unidentified"):
        ok("import", kind, str(paths[kind]))
    from reunite.search.unidentified_index import unidentified_index_path

    engine = make_engine(env["REUNITE_DATABASE_URL"])
    kept = unidentified_index_path(engine)  # beside the .db file; PostgreSQL: in the cache folder
    engine.dispose()
    assert kept.exists()  # kept up to date by the searches
    code = db["truth"][0][1]
    ok("search", "--family", code, "--min-lr", "0", "--out", str(tmp_path / "m.csv"))
    rows = [r.split(",") for r in (tmp_path / "m.csv").read_text().splitlines()[1:]]
    engine = make_engine(env["REUNITE_DATABASE_URL"])
    with Session(engine) as s:
        family = [f for f in load_families(s) if f.code == code]
        want = search(load_unidentified(s), family, model=MODEL, per="family", min_lr=0.0, top_k=20)
    engine.dispose()
    assert [(r[0], r[1], r[2], int(r[7])) for r in rows] == [
        (c.unidentified.code, c.family.code, c.missing, c.rank) for c in want.candidates]
    for r, c in zip(rows, want.candidates):
        assert abs(float(r[4]) - c.log10_lr) < 1e-5
    out = ok("db", "index", "--rebuild")
    assert "unidentified index at" in out and "60 unidentified persons" in out
