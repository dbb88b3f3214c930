"""The age filter: pairs whose dates are incompatible are not compared.

Rules against hand-made dates at their boundaries; the engine's search, the brute force and
the family index skip exactly the same pairs (and so keep the same top k); the compiled
selection against its NumPy version; dates through the stored index, the database loaders,
the provenance and the CLI.  Every profile and date is simulated or hand-made.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from reunite.cli import app
from reunite.errors import ReuniteError
from reunite.genetics import pedigree as ped
from reunite.search import index as ix
from reunite.search.engine import (
    DEFAULT_AGE_TOLERANCE,
    NO_DATE,
    FamilyRecord,
    UnidentifiedRecord,
    age_conflicts,
    brute_force_search,
    day_number,
    index_search,
    search,
    tolerance_days,
)
from reunite.search.service import iter_family_rows, load_families, load_unidentified, run_search
from reunite.simulate import simulate_database, write_database
from reunite.store.db import make_engine
from reunite.store.importers import import_all
from reunite.store.models import FamilyMember, MatchCandidate, Unidentified
from reunite.store.profiles import GeneticModel

from test_search import _records

POP = "CHN_national_GBT37223"
MODEL = GeneticModel(POP)


def naive_excluded(u_birth, u_found, m_birth, m_missing, years):
    """The rules, on dates: estimated births more than the tolerance apart; found before
    the missing person's birth; estimated birth more than the tolerance after the missing
    date.  Unknown dates never exclude."""
    tol = timedelta(days=round(years * 365.25))
    if u_birth and m_birth and abs(u_birth - m_birth) > tol:
        return True
    if u_found and m_birth and u_found < m_birth:
        return True
    if u_birth and m_missing and u_birth > m_missing + tol:
        return True
    return False


def test_tolerance_in_days_and_refused_values():
    assert tolerance_days(3) == 1096 and tolerance_days(0) == 0 and tolerance_days(0.5) == 183
    assert DEFAULT_AGE_TOLERANCE == 3.0
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(ReuniteError, match="--age-tolerance"):
            tolerance_days(bad)


B = date(2010, 6, 15)


@pytest.mark.parametrize("u_birth,u_found,m_birth,m_missing,excluded", [
    (B + timedelta(days=1096), None, B, None, False),  # exactly the tolerance: kept
    (B + timedelta(days=1097), None, B, None, True),
    (B - timedelta(days=1096), None, B, None, False),
    (B - timedelta(days=1097), None, B, None, True),
    (None, B, B, None, False),  # found on the day of birth
    (None, B - timedelta(days=1), B, None, True),  # found before being born
    (B + timedelta(days=1096), None, None, B, False),  # born after going missing, within tolerance
    (B + timedelta(days=1097), None, None, B, True),
    (date(2016, 1, 1), date(2016, 3, 1), date(1989, 5, 2), date(1995, 7, 1), True),  # infant in 2016 vs 1995 at 6
    (date(1989, 1, 1), date(2016, 3, 1), date(1989, 5, 2), date(1995, 7, 1), False),
    (None, None, B, B, False),  # unknown dates never exclude
    (B, B, None, None, False),
    (date(1950, 1, 1), None, None, None, False),
])
def test_rules_at_their_boundaries(u_birth, u_found, m_birth, m_missing, excluded):
    assert naive_excluded(u_birth, u_found, m_birth, m_missing, 3.0) == excluded
    days = [day_number(d) for d in (u_birth, u_found, m_birth, m_missing)]
    assert bool(age_conflicts(*days, tolerance_days(3.0))) == excluded
    # the compiled selection and its NumPy version, on one row
    args = (np.zeros(1), np.zeros(1, dtype=np.int8), np.ones((1, 1), dtype=np.uint64), 0, np.ones(1, dtype=np.uint64),
            0, -np.inf, -1, 5, np.array([days[2]], dtype=np.int32), np.array([days[3]], dtype=np.int32),
            days[0], days[1], tolerance_days(3.0), 5)
    for select_rows in (ix._select, ix._select_py):
        rows, n_sex, n_few, few, n_age, aged = select_rows(*args)
        assert (n_age, len(rows), aged.tolist()) == ((1, 0, [0]) if excluded else (0, 1, []))


def _dated(seed: int):
    """Simulated families and persons with dates: the true pairs compatible or not, many
    pairs at the boundaries, some dates unknown."""
    db = simulate_database(250, 80, seed=seed)
    families, unidentified = _records(db, num_queries=14)
    rng = np.random.default_rng(seed)
    tol = tolerance_days(DEFAULT_AGE_TOLERANCE)
    base = date(2008, 1, 1)
    for f in families:
        for m in f.missing:
            birth = base + timedelta(days=int(rng.integers(0, 4000)))
            missing = birth + timedelta(days=int(rng.integers(0, 2500)))
            pick = rng.integers(4)
            f.dates[m] = (birth if pick != 1 else None, missing if pick != 2 else None)
    out = []
    for k, u in enumerate(unidentified):
        anchor = base + timedelta(days=int(rng.integers(0, 4000)))
        offset = [0, tol, tol + 1, -tol, -tol - 1, 5000][k % 6]
        birth = anchor + timedelta(days=offset) if k % 7 != 3 else None
        found = anchor + timedelta(days=int(rng.integers(-400, 3000))) if k % 5 != 2 else None
        out.append(UnidentifiedRecord(u.id, u.code, u.sex, u.profile, birth, found))
    # boundary pairs against the first family's missing person exactly
    f0 = families[0]
    m0 = f0.missing[0]
    f0.dates[m0] = (date(2012, 3, 1), date(2015, 3, 1))
    u0 = out[0]
    out += [UnidentifiedRecord(900 + k, f"EDGE{k}", u0.sex, u0.profile, b, fd) for k, (b, fd) in enumerate([
        (date(2012, 3, 1) + timedelta(days=tol), None), (date(2012, 3, 1) + timedelta(days=tol + 1), None),
        (None, date(2012, 2, 29)), (None, date(2012, 3, 1))])]
    return families, out


@pytest.fixture(scope="module")
def dated():
    return _dated(17)


def _by_id(families):
    by_id = {f.id: f for f in families}
    return lambda ids: list(by_id.values()) if ids is None else [by_id[i] for i in ids]


def test_engine_brute_force_and_index_skip_the_same_pairs(dated):
    families, unidentified = dated
    want = {(u.code, f.code, m) for u in unidentified for f in families for m in f.missing
            if not (u.sex in "MF" and f.pedigree[m].sex in "MF" and u.sex != f.pedigree[m].sex)
            and naive_excluded(u.estimated_birth_date, u.found_date, *f.dates.get(m, (None, None)), 3.0)}
    assert 50 < len(want)
    engine = search(unidentified, families, model=MODEL, min_lr=0.0, top_k=None)
    index = ix.FamilyIndex(MODEL)
    index.add(families)
    got = index_search(unidentified, index, model=MODEL, min_lr=0.0, top_k=None, load_families=_by_id(families))
    for result in (engine, got):
        assert result.skipped_age == len(want)
        assert {(u, f, m) for u, f, m, why in result.skipped_pairs if why.startswith("dates:")} == want
        assert result.num_compared + result.skipped_sex + result.skipped_age + result.skipped_loci == result.num_pairs
        assert not {(c.unidentified.code, c.family.code, c.missing) for c in result.candidates} & want
    assert (got.num_pairs, got.num_compared, got.skipped_sex, got.skipped_loci) == (
        engine.num_pairs, engine.num_compared, engine.skipped_sex, engine.skipped_loci)
    assert sorted(got.skipped_pairs) == sorted(engine.skipped_pairs)
    # the boundary persons against the first family
    f0 = families[0]
    edge = {u.code for u in unidentified if u.code.startswith("EDGE")}
    skipped = {u for u, f, m, _ in engine.skipped_pairs if f == f0.code and u in edge}
    assert skipped == {"EDGE1", "EDGE2"}


def test_top_k_is_exact_with_dates(dated):
    """Every path keeps the best k of the pairs the dates allow (brute force over them)."""
    families, unidentified = dated
    queries = unidentified[:6] + unidentified[-4:]
    brute = brute_force_search(queries, families, model=MODEL)
    index = ix.FamilyIndex(MODEL)
    index.add(families)
    engine = search(queries, families, model=MODEL, min_lr=0.0, top_k=4)
    got = index_search(queries, index, model=MODEL, min_lr=0.0, top_k=4, load_families=_by_id(families))
    by_code = {f.code: f.id for f in families}
    for u in queries:
        best = sorted(((v, f, m) for (uid, f, m), v in brute.items() if uid == u.id), key=lambda t: -t[0])[:4]
        for result in (engine, got):
            mine = [c for c in result.candidates if c.unidentified.id == u.id]
            assert [(by_code[c.family.code], c.missing) for c in mine] == [(f, m) for _, f, m in best]
            for c, (v, _, _) in zip(mine, best):
                assert abs(c.log10_lr - v) < 1e-9


def test_a_wider_tolerance_skips_fewer_and_none_when_no_dates(dated):
    families, unidentified = dated
    narrow = search(unidentified, families[:80], model=MODEL, min_lr=1.0, age_tolerance=0.5)
    wide = search(unidentified, families[:80], model=MODEL, min_lr=1.0, age_tolerance=30)
    assert narrow.skipped_age > wide.skipped_age and narrow.age_tolerance == 0.5
    plain = [UnidentifiedRecord(u.id, u.code, u.sex, u.profile) for u in unidentified]
    assert search(plain, families[:80], model=MODEL, min_lr=1.0).skipped_age == 0


@pytest.mark.parametrize("seed", range(4))
def test_compiled_selection_with_dates_equals_numpy(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(1, 4000))
    scores = np.round(rng.normal(0, 3, n), 1)
    m_sex = rng.integers(0, 3, n).astype(np.int8)
    ref_mask = rng.integers(0, 1 << 62, (n, 1)).astype(np.uint64)
    u_mask = rng.integers(0, 1 << 62, 1).astype(np.uint64)
    m_birth = rng.integers(14000, 16000, n).astype(np.int32)
    m_missing = (m_birth + rng.integers(0, 3000, n)).astype(np.int32)
    m_birth[rng.random(n) < 0.3] = NO_DATE
    m_missing[rng.random(n) < 0.3] = NO_DATE
    for u_birth, u_found in ((15000, 15500), (NO_DATE, 15000), (15000, NO_DATE), (NO_DATE, NO_DATE)):
        for top_k in (-1, 0, 3, 500):
            args = (scores, m_sex, ref_mask, int(rng.integers(0, 3)), u_mask, int(rng.integers(0, 40)), 0.0,
                    top_k, 20, m_birth, m_missing, u_birth, u_found, int(rng.integers(0, 1200)), 30)
            a, b = ix._select(*args), ix._select_py(*args)
            assert sorted(a[0].tolist()) == sorted(b[0].tolist())
            assert a[1:3] == b[1:3] and a[3].tolist() == b[3].tolist()
            assert a[4] == b[4] and a[5].tolist() == b[5].tolist()


def test_the_stored_index_keeps_the_dates(dated, tmp_path):
    families, unidentified = dated
    index = ix.FamilyIndex(MODEL)
    index.add(families)
    index.save(tmp_path / "i.npz")
    back = ix.FamilyIndex.load(tmp_path / "i.npz", MODEL)
    assert back.FORMAT == ix.FamilyIndex.FORMAT >= 3
    np.testing.assert_array_equal(back.m_birth, index.m_birth)
    np.testing.assert_array_equal(back.m_missing, index.m_missing)
    a = index_search(unidentified, index, model=MODEL, min_lr=1.0, top_k=3, load_families=_by_id(families))
    b = index_search(unidentified, back, model=MODEL, min_lr=1.0, top_k=3, load_families=_by_id(families))
    assert a.skipped_age == b.skipped_age > 0
    assert [(c.unidentified.code, c.family.code, c.rank) for c in a.candidates] == \
        [(c.unidentified.code, c.family.code, c.rank) for c in b.candidates]


def test_member_rows_with_dates_equal_family_rows():
    members = [(None, "CH", "DAD", "MUM", "F", "missing", None, date(2011, 2, 3), None),
               (None, "MUM", None, None, "F", "reference", "VWA=14/17", None, None),
               (None, "DAD", None, None, "M", "untyped", None, None, None)]
    row = ix.member_rows(1, "F1", members, shapes={})
    pedigree = ped.make_pedigree([{"id": m[1], "father": m[2], "mother": m[3], "sex": m[4]} for m in members])
    record = FamilyRecord(1, "F1", pedigree, ["CH"], {"MUM": {"VWA": ("14", "17")}},
                          {"CH": (date(2011, 2, 3), None)})
    assert row[5] == ix.family_rows(record)[5] == [("CH", pedigree.index["CH"], "F", day_number(date(2011, 2, 3)),
                                                    NO_DATE)]


# ---------------------------------------------------------------------------------------
# the database and the CLI (SQLite and PostgreSQL)

runner = CliRunner()


def _cli(url, *args):
    return runner.invoke(app, list(args), env={"REUNITE_DATABASE_URL": url, "COLUMNS": "250"})


def test_dates_from_the_database_filter_both_paths_and_are_recorded(db_url, tmp_path):
    assert _cli(db_url, "db", "init").exit_code == 0
    db = simulate_database(40, 20, seed=5)
    paths = write_database(db, tmp_path / "sim")
    engine = make_engine(db_url)
    with Session(engine) as s, s.begin():
        import_all(s, paths, model=MODEL)
    with Session(engine) as s, s.begin():
        # every missing child born in 1990; half the unidentified persons estimated born in 2015
        s.execute(update(FamilyMember).where(FamilyMember.role == "missing")
                  .values(birth_date=date(1990, 1, 1), missing_date=date(1995, 6, 1)))
        ids = sorted(s.execute(select(Unidentified.id)).scalars())
        s.execute(update(Unidentified).where(Unidentified.id.in_(ids[::2]))
                  .values(estimated_birth_date=date(2015, 1, 1), found_date=date(2016, 1, 1)))
        s.execute(update(Unidentified).where(Unidentified.id.in_(ids[1::2]))
                  .values(estimated_birth_date=date(1991, 1, 1), found_date=date(2003, 1, 1)))
    with Session(engine) as s:
        fams = load_families(s)
        assert all(f.dates[m] == (date(1990, 1, 1), date(1995, 6, 1)) for f in fams for m in f.missing)
        us = {u.id: u for u in load_unidentified(s)}
        assert us[ids[0]].estimated_birth_date == date(2015, 1, 1) and us[ids[1]].found_date == date(2003, 1, 1)
        for fid, _, _, _, _, missing in iter_family_rows(s):
            assert all(entry[3:] == (day_number(date(1990, 1, 1)), day_number(date(1995, 6, 1)))
                       for entry in missing)
    with Session(engine) as s, s.begin():
        with_index = run_search(s, MODEL, top_k=None, use_index=True, store=False)
        engine_path = run_search(s, MODEL, top_k=None, use_index=False, store=True, age_tolerance=2.5)
    n_missing = sum(len(f.missing) for f in fams)
    assert with_index.skipped_age == engine_path.skipped_age == len(ids[::2]) * n_missing - sum(
        1 for i in ids[::2] for f in fams for m in f.missing
        if us[i].sex in "MF" and f.pedigree[m].sex in "MF" and us[i].sex != f.pedigree[m].sex)
    assert {c.unidentified.id for c in with_index.candidates} <= set(ids[1::2])
    with Session(engine) as s:
        prov = json.loads(s.execute(select(MatchCandidate.provenance)).scalars().first())
        assert prov["age_filter"] == {"tolerance_years": 2.5, "tolerance_days": 913}
    shown = _cli(db_url, "search", "--all", "--no-store", "--age-tolerance", "40")
    assert shown.exit_code == 0, shown.output
    assert "0 for dates (tolerance 40 years)" in shown.output
    shown = _cli(db_url, "search", "--all", "--no-store")
    assert f"{with_index.skipped_age:,} for dates (tolerance 3 years)" in shown.output
    refused = _cli(db_url, "search", "--all", "--age-tolerance", "-1")
    assert isinstance(refused.exception, ReuniteError) and "--age-tolerance" in str(refused.exception)


def test_simulated_dates_keep_every_true_match_and_duplicates_are_flagged(tmp_path):
    """`simulate_database(dates=True, num_duplicates=...)` (what `make demo` imports): the
    age filter excludes many unrelated pairs but never a true match; each duplicate
    registration is flagged identical to its twin; the rest of the simulation is unchanged."""
    plain = simulate_database(120, 40, seed=8)
    db = simulate_database(120, 40, seed=8, dates=True, num_duplicates=3)
    assert [r[:8] for r in db["families"]] == plain["families"]
    assert db["genotypes"][:len(plain["genotypes"])] == plain["genotypes"]
    paths = write_database(db, tmp_path / "sim")
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    from reunite.store.db import upgrade

    upgrade(engine)
    model = GeneticModel("CHN_national_GBT37223")
    with Session(engine) as s, s.begin():
        import_all(s, paths, model=model)
    with Session(engine) as s:
        result = run_search(s, model, min_lr=0.0, top_k=None, store=False)
    assert result.skipped_age > 0
    found = {(c.unidentified.code, c.family.code) for c in result.candidates}
    assert {(u, f) for u, f, _ in db["truth"]} <= found
    twins = {c.unidentified.code for c in result.candidates
             if any(f["kind"] == "identical" and f["relation"] == "unidentified" for f in c.flags)}
    assert len(twins) == 6
