"""Corrections: a profile re-typed, a sample withdrawn, a pedigree or a sex corrected.

Each is checked end to end: the old version kept with who, when and why; the candidates of the
corrected records searched again with the LR the engine gives for the corrected data (or
flagged superseded, never deleted); the family index not stale; withdrawn samples never
searched; two corrections of one record at once refused by the database.  Every profile is
simulated.
"""

from __future__ import annotations

import csv
import json
import threading

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from reunite.cli import app
from reunite.search.engine import search
from reunite.search.service import index_path, load_families, load_unidentified, run_search
from reunite.simulate import simulate_database, write_database
from reunite.search import research as R
from reunite.store import corrections as C
from reunite.store.db import make_engine, upgrade
from reunite.store.importers import import_all
from reunite.store.models import (
    Family,
    FamilyMember,
    MatchCandidate,
    PendingSearch,
    RecordVersion,
    Sample,
    Unidentified,
)
from reunite.store.profiles import GeneticModel, pack_profile, unpack_profile

MODEL = GeneticModel("CHN_national_GBT37223")
WHO = {"changed_by": "analyst-1", "reason": "lab report 2024-117: sample mix-up"}


# ---------------------------------------------------------------------------------------
# helpers


def _store(url, tmp_path, *, families: int = 24, unidentified: int = 12, seed: int = 11):
    """A migrated database holding a simulated database, searched once (candidates stored)."""
    db = simulate_database(families, unidentified, seed=seed)
    paths = write_database(db, tmp_path / "sim")
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as s, s.begin():
        import_all(s, paths, model=MODEL)
    with Session(engine) as s, s.begin():
        run_search(s, MODEL, min_lr=1.0, top_k=20)
    return db, engine


@pytest.fixture
def store(tmp_path):
    db, engine = _store(f"sqlite:///{tmp_path / 'r.db'}", tmp_path)
    yield db, engine
    engine.dispose()


def correct(engine, fn, *args, **kwargs) -> C.Correction:
    """A correction in its own transaction, then the re-search in another (as the CLI)."""
    with Session(engine) as s, s.begin():
        done = fn(s, *args, **kwargs)
    with Session(engine) as s, s.begin():
        R.apply(s, done, MODEL)
    return done


def engine_pairs(session) -> dict:
    """The engine's LR of every pair the search compares, with the data now in the database."""
    result = search(load_unidentified(session), load_families(session), model=MODEL, min_lr=0.0, top_k=None)
    return {(c.unidentified.id, c.family.id, c.missing): c for c in result.candidates}


def check_candidates(engine, *, unidentified_ids=(), family_ids=(), min_lr: float = 1.0):
    """Every stored candidate of these persons and families shows the LR the engine gives for
    the corrected data (flagged superseded when below ``min_lr``), or is flagged superseded
    because the pair is no longer compared; every pair at LR >= min_lr is stored.
    Returns the candidates checked."""
    with Session(engine) as s:
        truth = engine_pairs(s)
        rows = s.execute(select(MatchCandidate).where(
            MatchCandidate.unidentified_id.in_(list(unidentified_ids)) | MatchCandidate.family_id.in_(list(family_ids))
        )).scalars().all()
        for row in rows:
            key = (row.unidentified_id, row.family_id, row.missing_code)
            why = R.superseded_reason(row.flags)
            if key in truth:
                assert row.lr == pytest.approx(truth[key].lr, rel=1e-9, abs=1e-300), key
                assert json.loads(row.lr_per_locus).keys() == truth[key].lr_per_locus.keys()
                assert (why is not None) == (truth[key].lr < min_lr), (key, why)
            else:
                assert why is not None and "no longer compared" in why, (key, row.flags)
        stored = {(r.unidentified_id, r.family_id, r.missing_code) for r in rows}
        for key, c in truth.items():
            if (key[0] in unidentified_ids or key[1] in family_ids) and c.lr >= min_lr:
                assert key in stored, key
        return rows


def ids_of(engine, table, code) -> int:
    with Session(engine) as s:
        return s.execute(select(table.id).where(table.code == code)).scalar_one()


def versions(engine, entity, entity_id) -> list[RecordVersion]:
    with Session(engine) as s:
        return list(s.execute(select(RecordVersion).where(RecordVersion.entity == entity,
                                                          RecordVersion.entity_id == entity_id)
                              .order_by(RecordVersion.version)).scalars())


def write_long(path, code, profile: dict) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["sample_id", "locus", "allele1", "allele2"])
        for locus, (a, b) in profile.items():
            w.writerow([code, locus, a, b])


def family_rows(db, code) -> list[list[str]]:
    return [list(r) for r in db["families"] if r[0] == code]


def write_families(path, rows) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["family_id", "person_id", "father_id", "mother_id", "sex", "role", "sample_id", "family_type"])
        w.writerows(rows)


def index_equals_engine(engine) -> None:
    """The stored family index, brought up to date, ranks exactly as the engine."""
    with Session(engine) as s:
        indexed = run_search(s, MODEL, min_lr=0.0, top_k=None, store=False, use_index=True)
        plain = run_search(s, MODEL, min_lr=0.0, top_k=None, store=False, use_index=False)
    a = {(c.unidentified.id, c.family.id, c.missing): c.log10_lr for c in indexed.candidates}
    b = {(c.unidentified.id, c.family.id, c.missing): c.log10_lr for c in plain.candidates}
    assert a.keys() == b.keys()
    for key in a:
        assert a[key] == pytest.approx(b[key], abs=1e-9), key


def true_match(db, engine):
    """(unidentified code, its sample code, family code, missing code, unidentified id) of a
    simulated true match stored as a candidate."""
    with Session(engine) as s:
        for u, f, m in db["truth"]:
            uid = ids_of(engine, Unidentified, u)
            fid = ids_of(engine, Family, f)
            row = s.execute(select(MatchCandidate).where(MatchCandidate.unidentified_id == uid,
                                                         MatchCandidate.family_id == fid)).scalar_one_or_none()
            if row is not None and row.lr > 1000:
                sample = s.execute(select(Sample.code).join(Unidentified, Unidentified.sample_id == Sample.id)
                                   .where(Unidentified.id == uid)).scalar_one()
                return u, sample, f, m, uid
    raise AssertionError("the simulation has no stored true match")


# ---------------------------------------------------------------------------------------
# re-typed profiles


def test_retype_from_a_file_keeps_the_old_profile_and_researches(store, tmp_path):
    db, engine = store
    u, sample, f, m, uid = true_match(db, engine)
    with Session(engine) as s:
        old = s.execute(select(Sample).where(Sample.code == sample)).scalar_one()
        old_profile, old_id = old.profile, old.id
        other = s.execute(select(Sample.profile).where(Sample.code != sample, Sample.code.like("SU%"))
                          ).scalars().first()
    new = unpack_profile(other)
    new.pop("TH01", None)  # a locus the re-typing did not give: untyped now
    path = tmp_path / "retyped.csv"
    write_long(path, sample, new)
    done = correct(engine, C.retype_sample, sample, path=path, model=MODEL, **WHO)
    assert (done.entity, done.version, done.action, done.unidentified_ids, done.family_ids) == (
        "sample", 2, "retype", [uid], [])
    [rv] = versions(engine, "sample", old_id)
    data = json.loads(rv.data)
    assert (rv.version, rv.action, rv.changed_by, rv.reason) == (2, "retype", "analyst-1", WHO["reason"])
    assert rv.changed_at is not None
    assert data["before"]["profile"] == old_profile and data["before"]["version"] == 1
    assert data["after"]["profile"] == pack_profile(new)
    assert any(c.startswith("TH01: ") and c.endswith("-> untyped") for c in data["changes"])
    with Session(engine) as s:
        now = s.get(Sample, old_id)
        assert (now.profile, now.version, now.num_loci) == (pack_profile(new), 2, len(new))
        assert s.execute(select(func.count()).select_from(PendingSearch)).scalar() == 0
    rows = check_candidates(engine, unidentified_ids=[uid])
    fid = ids_of(engine, Family, f)
    [was] = [r for r in rows if r.family_id == fid and r.missing_code == m]
    assert was.status == "new"  # kept, never deleted; its LR is now the corrected data's
    assert "below 1" in R.superseded_reason(was.flags)  # another person's profile: no longer a match
    # the history lists the import and the correction, with who, when, why and what changed
    with Session(engine) as s:
        entries = C.history(s, sample)
    assert [(e.version, e.action) for e in entries] == [(1, "import"), (2, "retype")]
    assert entries[1].changed_by == "analyst-1" and entries[1].reason == WHO["reason"]


def test_retype_with_a_profile_checks_it_as_an_import(store):
    db, engine = store
    u, sample, f, m, uid = true_match(db, engine)
    with Session(engine) as s, s.begin():
        prof = unpack_profile(s.execute(select(Sample.profile).where(Sample.code == sample)).scalar_one())
        for bad, what in [({"XYZ99": ("1", "2")}, "not in the database's frequency table"),
                          ({"TH01": "9/9.3", "THO1": "9/9"}, "given twice, as 'TH01' and 'THO1'"),
                          ({"VWA": ("14", "x")}, "repeat numbers"),
                          ({}, "no typed locus")]:
            with pytest.raises(C.CorrectionError, match=what):
                C.retype_sample(s, sample, profile=bad, model=MODEL, **WHO)
        with pytest.raises(C.CorrectionError, match="is the stored one"):
            C.retype_sample(s, sample, profile=prof, model=MODEL, **WHO)
        with pytest.raises(C.CorrectionError, match="no sample 'NOPE'"):
            C.retype_sample(s, "NOPE", profile=prof, model=MODEL, **WHO)
        with pytest.raises(C.CorrectionError, match="one of the two"):
            C.retype_sample(s, sample, model=MODEL, **WHO)
        for who in ({"changed_by": " ", "reason": "x"}, {"changed_by": "a", "reason": ""},
                    {"changed_by": "a\x00b", "reason": "x"}):
            with pytest.raises(C.CorrectionError):
                C.retype_sample(s, sample, profile=prof, model=MODEL, **who)
    with Session(engine) as s:
        assert s.execute(select(func.count()).select_from(RecordVersion)).scalar() == 0


def test_retyped_reference_updates_the_family_and_the_index(store):
    db, engine = store
    u, sample, f, m, uid = true_match(db, engine)
    fid = ids_of(engine, Family, f)
    index_equals_engine(engine)  # the index file is written before the correction
    with Session(engine) as s:
        ref_id, ref_code, ref_profile = s.execute(
            select(Sample.id, Sample.code, Sample.profile).join(FamilyMember, FamilyMember.sample_id == Sample.id)
            .where(FamilyMember.family_id == fid)).first()
    prof = unpack_profile(ref_profile)
    for locus in sorted(prof)[:6]:  # six loci re-typed: the true child no longer fits
        a, b = prof[locus]
        prof[locus] = (str(int(float(a)) + 1), str(int(float(b)) + 1)) if "." not in a + b else (a, a)
    done = correct(engine, C.retype_sample, ref_code, profile=prof, model=MODEL, **WHO)
    assert done.family_ids == [fid] and done.unidentified_ids == []
    check_candidates(engine, family_ids=[fid])
    index_equals_engine(engine)  # not stale: rebuilt for the correction
    from reunite.search.index import FamilyIndex

    stored = FamilyIndex.load(index_path(engine), MODEL)
    assert any(t.startswith("corrections|") for t in stored.family_imports)
    with Session(engine) as s:
        assert s.get(Sample, ref_id).version == 2


# ---------------------------------------------------------------------------------------
# withdrawn samples


def test_withdrawn_unidentified_sample_is_not_searched_and_its_candidates_are_superseded(store):
    db, engine = store
    u, sample, f, m, uid = true_match(db, engine)
    with Session(engine) as s:
        before = {r.id: (r.lr, r.status) for r in s.execute(
            select(MatchCandidate).where(MatchCandidate.unidentified_id == uid)).scalars()}
    assert before
    done = correct(engine, C.withdraw_sample, sample, **WHO)
    assert (done.action, done.version, done.unidentified_ids) == ("withdraw", 2, [uid])
    with Session(engine) as s:
        rows = s.execute(select(MatchCandidate).where(MatchCandidate.unidentified_id == uid)).scalars().all()
        assert {r.id for r in rows} == set(before)  # none deleted
        for r in rows:
            assert (r.lr, r.status) == before[r.id]
            assert "withdrawn" in R.superseded_reason(r.flags)
        person = s.execute(select(Unidentified).where(Unidentified.id == uid)).scalar_one()
        assert s.get(Sample, person.sample_id).status == "withdrawn"  # the person keeps the link
        assert uid not in {x.id for x in load_unidentified(s)}
        everyone = run_search(s, MODEL, min_lr=0.0, top_k=None, store=False)
        assert uid not in {c.unidentified.id for c in everyone.candidates}
        with pytest.raises(C.CorrectionError, match="already withdrawn"):
            C.withdraw_sample(s, sample, **WHO)
        with pytest.raises(C.CorrectionError, match="withdrawn"):
            C.retype_sample(s, sample, profile={"TH01": "9/9"}, model=MODEL, **WHO)
    [rv] = versions(engine, "sample", person.sample_id)
    assert json.loads(rv.data)["before"]["status"] == "active"


def test_withdrawn_reference_leaves_the_family_searched_without_it(store):
    db, engine = store
    u, sample, f, m, uid = true_match(db, engine)
    fid = ids_of(engine, Family, f)
    index_equals_engine(engine)
    with Session(engine) as s:
        person, ref = s.execute(select(FamilyMember.person_code, Sample.code)
                                .join(Sample, Sample.id == FamilyMember.sample_id)
                                .where(FamilyMember.family_id == fid)).first()
    done = correct(engine, C.withdraw_sample, ref, **WHO)
    assert done.family_ids == [fid]
    with Session(engine) as s:
        [fam] = load_families(s, [fid])
        assert person not in fam.references
    check_candidates(engine, family_ids=[fid])
    index_equals_engine(engine)


# ---------------------------------------------------------------------------------------
# pedigrees


def test_corrected_pedigree_keeps_the_old_members_and_researches(store, tmp_path):
    db, engine = store
    u, sample, f, m, uid = true_match(db, engine)
    fid = ids_of(engine, Family, f)
    index_equals_engine(engine)
    rows = family_rows(db, f)
    refs = [r for r in rows if r[5] == "reference"]
    released = None
    assert len(refs) > 1
    refs[0][5], released, refs[0][6] = "untyped", refs[0][6], ""  # not a relative after all: untyped
    missing = next(r for r in rows if r[5] == "missing")
    missing[4] = "F" if missing[4] == "M" else "M"  # and the missing child's sex was wrong
    rows.append([f, f"{f}-X", "", "", "U", "untyped", "", rows[0][7]])  # a person added
    path = tmp_path / "fixed.csv"
    write_families(path, rows)
    with Session(engine) as s:
        old_members = {m.person_code for m in s.execute(
            select(FamilyMember).where(FamilyMember.family_id == fid)).scalars()}
    done = correct(engine, C.correct_pedigree, f, path=path, model=MODEL, **WHO)
    assert (done.entity, done.version, done.action, done.family_ids) == ("family", 2, "pedigree", [fid])
    [rv] = versions(engine, "family", fid)
    data = json.loads(rv.data)
    assert {x["person"] for x in data["before"]["members"]} == old_members
    assert {x["person"] for x in data["after"]["members"]} == old_members | {f"{f}-X"}
    assert any("sex" in c for c in data["changes"]) and any("added" in c for c in data["changes"])
    with Session(engine) as s:
        fam = {x.person_code: x for x in s.execute(select(FamilyMember).where(FamilyMember.family_id == fid)).scalars()}
        assert fam[missing[1]].sex == missing[4]
        assert s.execute(select(Sample.owner_kind).where(Sample.code == released)).scalar_one() is None
        assert fam[refs[0][1]].sample_id is None and fam[refs[0][1]].role == "untyped"
    check_candidates(engine, family_ids=[fid])
    index_equals_engine(engine)
    with Session(engine) as s:
        assert [e.action for e in C.history(s, f) if e.entity == "family"] == ["import", "pedigree"]
        # a family member's history shows the family's versions that changed that person
        assert [e.action for e in C.history(s, missing[1], family=f) if e.entity == "family"] == [
            "import", "pedigree"]


def test_corrected_pedigree_is_checked_as_an_import(store, tmp_path):
    db, engine = store
    f, other = db["families"][0][0], next(r[0] for r in db["families"] if r[0] != db["families"][0][0])
    rows = family_rows(db, f)
    theirs = next(r for r in family_rows(db, other) if r[6])

    def rejected(rows, what):
        path = tmp_path / "bad.csv"
        write_families(path, rows)
        with Session(engine) as s, s.begin():
            with pytest.raises(C.CorrectionError, match=what) as info:
                C.correct_pedigree(s, f, path=path, model=MODEL, **WHO)
            assert "nothing was imported" not in str(info.value)

    rejected(rows + family_rows(db, other), f"family {other!r} is not the family being corrected")
    stolen = [list(r) for r in rows]
    ref = next(r for r in stolen if r[5] == "reference")
    ref[6] = theirs[6]
    rejected(stolen, f"sample {theirs[6]!r} already belongs to")
    no_missing = [r[:5] + (["untyped"] if r[5] == "missing" else [r[5]]) + r[6:] for r in rows]
    rejected(no_missing, "has no missing person")
    wrong_sex = [list(r) for r in rows]
    for r in wrong_sex:
        if r[2]:  # a child: its father becomes female
            father = r[2]
            break
    else:
        father = None
    assert father, "the simulated family should have a child with a father"
    for r in wrong_sex:
        if r[1] == father:
            r[4] = "F"
    rejected(wrong_sex, "father")
    rejected(rows, "is the stored one")
    rejected([r + ["extra"] for r in rows], "expected 8 fields as in the header, found 9")
    bad = tmp_path / "bad_genotypes.csv"
    bad.write_text("sample_id,locus,allele1,allele2\nSX,TH01,9,0\n", encoding="utf-8")
    with Session(engine) as s, s.begin():
        ref = next(r[6] for r in rows if r[6])
        with pytest.raises(C.CorrectionRejected, match="nothing was changed:\n  .*bad_genotypes.csv:2: .*allele 0"):
            C.retype_sample(s, ref, path=bad, model=MODEL, **WHO)
    with Session(engine) as s:
        assert s.execute(select(func.count()).select_from(RecordVersion)).scalar() == 0


# ---------------------------------------------------------------------------------------
# sexes


def test_corrected_sex_of_an_unidentified_person_supersedes_pairs_no_longer_compared(store):
    db, engine = store
    with Session(engine) as s:
        pairs = engine_pairs(s)
        fams = {x.id: x for x in load_families(s)}
        people = {x.id: x for x in load_unidentified(s)}
        rows = s.execute(select(MatchCandidate)).scalars().all()
        row = next(r for r in rows if fams[r.family_id].pedigree[r.missing_code].sex in ("M", "F")
                   and (r.unidentified_id, r.family_id, r.missing_code) in pairs)
        code, sex = people[row.unidentified_id].code, fams[row.family_id].pedigree[row.missing_code].sex
    new = "F" if sex == "M" else "M"
    assert people[row.unidentified_id].sex != new
    done = correct(engine, C.correct_sex, code, sex=new, **WHO)
    assert (done.entity, done.action, done.unidentified_ids) == ("unidentified", "sex", [row.unidentified_id])
    rows = check_candidates(engine, unidentified_ids=[row.unidentified_id])
    [was] = [r for r in rows if r.id == row.id]
    assert "sex" in R.superseded_reason(was.flags)
    with Session(engine) as s:
        assert s.execute(select(Unidentified.sex).where(Unidentified.code == code)).scalar_one() == new
        with pytest.raises(C.CorrectionError, match="already has sex"):
            C.correct_sex(s, code, sex=new, **WHO)
        with pytest.raises(C.CorrectionError, match="expected M, F or U"):
            C.correct_sex(s, code, sex="X", **WHO)
    [rv] = versions(engine, "unidentified", row.unidentified_id)
    assert (rv.version, json.loads(rv.data)["before"]["sex"]) == (2, people[row.unidentified_id].sex)


def test_corrected_sex_of_a_family_member(store):
    db, engine = store
    index_equals_engine(engine)
    f = db["families"][0][0]
    fid = ids_of(engine, Family, f)
    rows = family_rows(db, f)
    missing = next(r for r in rows if r[5] == "missing")
    new = "F" if missing[4] == "M" else "M"
    done = correct(engine, C.correct_sex, missing[1], f, sex=new, **WHO)
    assert (done.entity, done.version, done.family_ids) == ("family", 2, [fid])
    check_candidates(engine, family_ids=[fid])
    index_equals_engine(engine)  # the missing person's sex is in the index: rebuilt
    father = next((r[2] for r in rows if r[2]), None)
    assert father, "the simulated family should have a father"
    with Session(engine) as s, s.begin():
        with pytest.raises(C.CorrectionError, match="father"):
            C.correct_sex(s, father, f, sex="F", **WHO)
        with pytest.raises(C.CorrectionError, match="has no person 'nobody'"):
            C.correct_sex(s, "nobody", f, sex="F", **WHO)
    with Session(engine) as s:
        assert [e.version for e in C.history(s, missing[1], family=f)] == [1, 2]


def test_amelogenin_contradicting_a_corrected_sex_is_refused(store):
    db, engine = store
    u = db["unidentified"][0]
    with Session(engine) as s, s.begin():
        s.execute(Sample.__table__.update().where(Sample.code == u[1]).values(amelogenin="X/Y"))
    with Session(engine) as s, s.begin():
        with pytest.raises(C.CorrectionError, match="Amelogenin X/Y"):
            C.correct_sex(s, u[0], sex="F", **WHO)


# ---------------------------------------------------------------------------------------
# concurrent corrections


def test_the_database_refuses_a_second_correction_writing_the_same_version(db_url, tmp_path, monkeypatch):
    """Two corrections that both read version 1: the second writes version 2 as well, and
    the database's UNIQUE (entity, entity_id, version) refuses it (simulated by a stale read
    of the version, as a process that read before the other committed)."""
    db, engine = _store(db_url, tmp_path, families=6, unidentified=3)
    try:
        code = db["unidentified"][0][1]
        with Session(engine) as s, s.begin():
            first = C.retype_sample(s, code, profile={"TH01": "6/7"}, model=MODEL, **WHO)
        assert first.version == 2
        monkeypatch.setattr(C, "_current_version", lambda session, entity, row: 1)
        with Session(engine) as s, s.begin():
            with pytest.raises(C.CorrectionConflict, match="version 2 was written by another correction"):
                C.withdraw_sample(s, code, changed_by="analyst-2", reason="a second, concurrent correction")
        sid = ids_of(engine, Sample, code)
        assert [(v.version, v.changed_by) for v in versions(engine, "sample", sid)] == [(2, "analyst-1")]
        # the rule is the database's, whatever the Python code does
        with Session(engine) as s:
            with pytest.raises(IntegrityError):
                s.execute(insert(RecordVersion).values(entity="sample", entity_id=sid, version=2, action="retype",
                                                       data="{}", changed_by="x", reason="y",
                                                       changed_at=func.now()))
    finally:
        engine.dispose()


def test_a_correction_waiting_on_another_is_refused_clearly_then_succeeds(db_url, tmp_path, monkeypatch):
    """A correction holds the record (uncommitted); a second one cannot take it and is refused
    with a clear message; once the first has committed, the second is version 3."""
    monkeypatch.setenv("REUNITE_SQLITE_BUSY_TIMEOUT", "0")
    db, engine = _store(db_url, tmp_path, families=6, unidentified=3)
    try:
        code = db["unidentified"][0][1]
        first = Session(engine)
        first.begin()
        C.retype_sample(first, code, profile={"TH01": "6/7"}, model=MODEL, **WHO)
        with Session(engine) as second:
            if engine.dialect.name == "postgresql":
                second.execute(text("SET lock_timeout = '200ms'"))
            with pytest.raises(C.CorrectionConflict, match="right now"):
                C.withdraw_sample(second, code, changed_by="analyst-2", reason="withdrawn meanwhile")
        first.commit()
        first.close()
        with Session(engine) as s, s.begin():
            again = C.withdraw_sample(s, code, changed_by="analyst-2", reason="withdrawn meanwhile")
        assert again.version == 3
        sid = ids_of(engine, Sample, code)
        assert [(v.version, v.action) for v in versions(engine, "sample", sid)] == [(2, "retype"), (3, "withdraw")]
    finally:
        engine.dispose()


def test_racing_corrections_never_share_a_version(db_url, tmp_path):
    """Four threads correct one sample at once: every correction that succeeds has its own
    version, the others are refused with CorrectionConflict; nothing is lost."""
    db, engine = _store(db_url, tmp_path, families=6, unidentified=3)
    try:
        code = db["unidentified"][0][1]
        barrier = threading.Barrier(4)
        outcomes: list = []

        def work(k):
            barrier.wait()
            try:
                with Session(engine) as s, s.begin():
                    outcomes.append(C.retype_sample(s, code, profile={"TH01": f"{6 + k}/{11 + k}"}, model=MODEL,
                                                    changed_by=f"analyst-{k}", reason="race").version)
            except C.CorrectionConflict as exc:
                outcomes.append(exc)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        won = sorted(v for v in outcomes if isinstance(v, int))
        assert len(outcomes) == 4 and won == list(range(2, 2 + len(won))) and won
        sid = ids_of(engine, Sample, code)
        assert [v.version for v in versions(engine, "sample", sid)] == won
        with Session(engine) as s:
            assert s.get(Sample, sid).version == 1 + len(won)
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------------------
# PostgreSQL end to end, and the command line


def test_corrections_end_to_end_on_postgresql(pg_url, tmp_path):
    db, engine = _store(pg_url, tmp_path)
    try:
        u, sample, f, m, uid = true_match(db, engine)
        fid = ids_of(engine, Family, f)
        with Session(engine) as s:
            prof = unpack_profile(s.execute(select(Sample.profile).where(Sample.code == sample)).scalar_one())
        prof["FGA"] = ("30", "31")
        correct(engine, C.retype_sample, sample, profile=prof, model=MODEL, **WHO)
        check_candidates(engine, unidentified_ids=[uid])
        missing = next(r for r in family_rows(db, f) if r[5] == "missing")
        correct(engine, C.correct_sex, missing[1], f, sex="F" if missing[4] == "M" else "M", **WHO)
        check_candidates(engine, family_ids=[fid])
        index_equals_engine(engine)
        correct(engine, C.withdraw_sample, sample, **WHO)
        with Session(engine) as s:
            assert uid not in {x.id for x in load_unidentified(s)}
            assert [(e.version, e.action) for e in C.history(s, sample)] == [
                (1, "import"), (2, "retype"), (3, "withdraw")]
    finally:
        engine.dispose()


def test_cli_corrections_and_history(store, tmp_path, monkeypatch):
    db, engine = store
    monkeypatch.setenv("REUNITE_DATABASE_URL", str(engine.url))
    monkeypatch.setenv("REUNITE_USER", "analyst-9")
    from reunite.store.models import Setting

    with Session(engine) as s, s.begin():
        if s.get(Setting, "genetic_model") is None:
            s.add(Setting(key="genetic_model", value=json.dumps(MODEL.to_json())))
    u, sample, f, m, uid = true_match(db, engine)
    runner = CliRunner()
    with Session(engine) as s:
        prof = unpack_profile(s.execute(select(Sample.profile).where(Sample.code == sample)).scalar_one())
    prof["VWA"] = ("11", "12")
    path = tmp_path / "re.csv"
    write_long(path, sample, prof)
    out = runner.invoke(app, ["correct", "profile", sample, "--file", str(path), "--reason", "re-typed"])
    assert out.exit_code == 0, out.output
    assert "version 2 (retype)" in out.output and "VWA:" in out.output and "searched again" in out.output
    out = runner.invoke(app, ["correct", "withdraw", sample, "--reason", "contaminated", "--by", "lab-head"])
    assert out.exit_code == 0, out.output
    missing = next(r for r in family_rows(db, f) if r[5] == "missing")
    out = runner.invoke(app, ["correct", "sex", missing[1], "--family", f, "--sex",
                              "F" if missing[4] == "M" else "M", "--reason", "birth record"])
    assert out.exit_code == 0, out.output
    rows = family_rows(db, f)
    next(r for r in rows if r[5] == "missing")[4] = missing[4]  # the sex corrected back, by the pedigree
    fixed = tmp_path / "fixed.csv"
    write_families(fixed, rows)
    out = runner.invoke(app, ["correct", "pedigree", f, "--file", str(fixed), "--reason", "birth record was "
                              "wrong", "--no-search"])
    assert out.exit_code == 0, out.output
    assert "version 3 (pedigree)" in out.output and "search --pending" in out.output
    with Session(engine) as s:
        assert s.execute(select(PendingSearch.kind)).scalars().all() == ["family"]
    out = runner.invoke(app, ["correct", "history", missing[1], "--family", f], env={"COLUMNS": "200"})
    assert out.exit_code == 0 and "pedigree" in out.output and "sex" in out.output, out.output
    out = runner.invoke(app, ["correct", "history", sample], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    for word in ("import", "retype", "withdraw", "analyst-9", "lab-head", "re-typed", "contaminated"):
        assert word in out.output
    out = runner.invoke(app, ["correct", "withdraw", sample, "--reason", "again"])
    assert out.exit_code != 0 and "already withdrawn" in str(out.exception)
    out = runner.invoke(app, ["correct", "withdraw", sample])
    assert out.exit_code == 2  # --reason is required
    with Session(engine) as s:
        by = [v.changed_by for v in s.execute(select(RecordVersion).order_by(RecordVersion.id)).scalars()]
    assert by == ["analyst-9", "lab-head", "analyst-9", "analyst-9"]


def test_a_correction_left_pending_is_completed_as_a_correction(store):
    """A correction committed but not searched again (process killed, --no-search): the next
    run of the pending searches brings the earlier candidates up to date and flags them
    superseded exactly as the correction's own re-search would, not just a plain search."""
    from reunite.search.service import pending_searches, run_pending

    db, engine = store
    u, sample, f, m, uid = true_match(db, engine)
    with Session(engine) as s, s.begin():
        done = C.withdraw_sample(s, sample, **WHO)  # the re-search never runs
    with Session(engine) as s:
        assert uid in pending_searches(s).get("unidentified", [])
        assert all(R.superseded_reason(r.flags) is None for r in s.execute(
            select(MatchCandidate).where(MatchCandidate.unidentified_id == uid)).scalars())
    with Session(engine) as s, s.begin():
        ran = run_pending(s, MODEL)
    assert [k for k, _, _ in ran] == ["correction"] and uid in ran[0][1]
    with Session(engine) as s:
        assert pending_searches(s) == {}
        rows = s.execute(select(MatchCandidate).where(MatchCandidate.unidentified_id == uid)).scalars().all()
        assert rows and all("withdrawn" in R.superseded_reason(r.flags) for r in rows)
    assert done.unidentified_ids == [uid]


def test_pedigree_of_a_family_with_a_withdrawn_reference_can_be_corrected(store, tmp_path):
    """The person whose sample was withdrawn keeps the link; a pedigree correction that keeps
    that link is not refused for it (giving a withdrawn sample to someone new still is)."""
    db, engine = store
    u, sample, f, m, uid = true_match(db, engine)
    rows = family_rows(db, f)
    ref = next(r for r in rows if r[5] == "reference")
    correct(engine, C.withdraw_sample, ref[6], **WHO)
    rows.append([f, f"{f}-X", "", "", "U", "untyped", "", rows[0][7]])  # a person added
    path = tmp_path / "fixed.csv"
    write_families(path, rows)
    done = correct(engine, C.correct_pedigree, f, path=path, model=MODEL, **WHO)
    assert done.action == "pedigree"
    with Session(engine) as s:
        member = s.execute(select(FamilyMember).where(FamilyMember.person_code == ref[1])).scalar_one()
        assert s.get(Sample, member.sample_id).status == "withdrawn"
