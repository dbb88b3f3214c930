"""Review of the search layer (issue 7): the age filter's listed pairs, research provenance,
and other defects found by reading the code.  Every profile and date is simulated."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from reunite.search import engine as E
from reunite.search import index as ix
from reunite.search.engine import index_search, search

from test_age_filter import MODEL, _dated


@pytest.fixture(scope="module")
def dated():
    return _dated(23)


def _loader(families, calls):
    by_id = {f.id: f for f in families}

    def load(ids):
        calls.append(None if ids is None else list(ids))
        return list(by_id.values()) if ids is None else [by_id[i] for i in ids]
    return load


def test_pairs_left_out_for_their_dates_read_no_family(dated):
    """The index path lists the pairs the age filter leaves out with their reason, from the
    index's own dates: the families of those pairs are not read from the database (at a
    million families that was up to 10,000 families per search, for a list nobody printed)."""
    families, unidentified = dated
    index = ix.FamilyIndex(MODEL)
    index.add(families)
    calls = []
    got = index_search(unidentified, index, model=MODEL, min_lr=1.0, top_k=3, load_families=_loader(families, calls))
    plain = search(unidentified, families, model=MODEL, min_lr=1.0, top_k=3)
    assert got.skipped_age == plain.skipped_age > 50
    aged = lambda r: sorted(p for p in r.skipped_pairs if p[3].startswith("dates:"))  # noqa: E731
    assert aged(got) == aged(plain)
    read = {i for ids in calls if ids is not None for i in ids}
    assert read == {c.family.id for c in got.candidates}


def test_pairs_listed_for_their_dates_are_bounded_across_persons(dated, monkeypatch):
    """Each person's rows left out for their dates were all kept until the end of a search of
    every person (memory and families read grew with persons x MAX_LISTED_SKIPPED)."""
    families, unidentified = dated
    monkeypatch.setattr(E, "MAX_LISTED_SKIPPED", 7)
    index = ix.FamilyIndex(MODEL)
    index.add(families)
    calls = []
    got = index_search(unidentified, index, model=MODEL, min_lr=1.0, top_k=3, load_families=_loader(families, calls))
    assert got.skipped_age > 50 and len(got.skipped_pairs) == 7
    assert len({i for ids in calls if ids is not None for i in ids}) <= len(got.candidates)


def test_a_huge_age_tolerance_excludes_nothing_and_raises_nothing(dated):
    """--age-tolerance 1e300 (a way to turn the filter off) ended in an OverflowError."""
    families, unidentified = dated
    assert E.tolerance_days(1e300) == E.tolerance_days(10_000) == 3_652_500
    index = ix.FamilyIndex(MODEL)
    index.add(families)
    got = index_search(unidentified, index, model=MODEL, min_lr=1.0, top_k=3, age_tolerance=1e300,
                       load_families=_loader(families, []))
    plain = search(unidentified, families, model=MODEL, min_lr=1.0, top_k=3, age_tolerance=1e300)
    found_before_birth = sum(1 for p in plain.skipped_pairs if "before the missing person's birth" in p[3])
    assert got.skipped_age == plain.skipped_age == found_before_birth  # found dates still apply


def test_earlier_candidates_computed_again_record_the_age_filter_used(tmp_path):
    """Research after a correction stored the earlier candidates it computed again with the
    provenance of an age filter of 0 years (the search used the default of 3)."""
    from test_corrections import C, R, WHO, _store, correct, true_match

    from reunite.store.models import MatchCandidate, Sample
    from reunite.store.profiles import unpack_profile

    db, engine = _store(f"sqlite:///{tmp_path / 'r.db'}", tmp_path)
    u, sample, f, m, uid = true_match(db, engine)
    with Session(engine) as s:
        other = s.execute(select(Sample.profile).where(Sample.code != sample, Sample.code.like("SU%"))
                          ).scalars().first()
    correct(engine, C.retype_sample, sample, profile=unpack_profile(other), model=MODEL, **WHO)
    with Session(engine) as s:
        rows = s.execute(select(MatchCandidate).where(MatchCandidate.unidentified_id == uid)).scalars().all()
    again = [r for r in rows if R.superseded_reason(r.flags)]
    assert again
    for r in rows:
        assert json.loads(r.provenance)["age_filter"] == {"tolerance_years": 3.0, "tolerance_days": 1096}
    engine.dispose()


def test_one_person_search_without_candidates_still_shows_its_identity_flags(tmp_path):
    """A child's sample that is in truth its mother's gives no LR >= 1 against a family with
    both parents typed: the search showed 'no candidates' and nothing of the mix-up (the
    flags lived on candidates only)."""
    import csv

    from typer.testing import CliRunner

    from reunite.cli import app
    from reunite.simulate import simulate_database, write_database

    db = simulate_database(12, 4, seed=31)
    paths = write_database(db, tmp_path / "sim")
    mother = next(r for r in db["families"] if r[5] == "reference" and r[1].endswith("-MO"))
    rows = [("SUMIX", *g[1:]) for g in db["genotypes"] if g[0] == mother[6]]
    with open(paths["genotypes"], "a", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    with open(paths["unidentified"], "a", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerow(["UMIX", "SUMIX", "U", "rescued_child", "", "", ""])
    env = {"REUNITE_DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}", "COLUMNS": "250"}
    runner = CliRunner()
    for args in (["db", "init"], ["import", "genotypes", str(paths["genotypes"])],
                 ["import", "families", str(paths["families"]), "--no-search"],
                 ["import", "unidentified", str(paths["unidentified"]), "--no-search"]):
        done = runner.invoke(app, args, env=env)
        assert done.exit_code == 0, done.output
    shown = runner.invoke(app, ["search", "--unidentified", "UMIX", "--min-lr", "1e30", "--no-store"], env=env)
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.output.split())
    assert "identity flags: UMIX has no candidate" in text
    assert f"identical to reference {mother[0]}/{mother[1]} (sample {mother[6]})" in text
    plain = runner.invoke(app, ["search", "--unidentified", "U0000001", "--min-lr", "1e30", "--no-store"], env=env)
    assert plain.exit_code == 0 and "identity flags" not in plain.output


def test_an_import_without_search_still_flags_earlier_candidates_of_a_twin(tmp_path, monkeypatch):
    """U1's candidates are stored; U1's twin (the same child registered again) is imported
    with --no-search: U1's stored candidates get the identity flag all the same."""
    import csv as _csv
    import json as _json

    from sqlalchemy import select as _select
    from sqlalchemy.orm import Session as _Session
    from typer.testing import CliRunner

    from reunite.cli import app
    from reunite.simulate import simulate_database, write_database
    from reunite.store.db import make_engine
    from reunite.store.models import MatchCandidate, Unidentified

    db = simulate_database(40, 10, seed=21)
    paths = write_database(db, tmp_path / "sim")
    monkeypatch.setenv("REUNITE_DATABASE_URL", f"sqlite:///{tmp_path / 'r.db'}")
    runner = CliRunner()
    assert runner.invoke(app, ["db", "init"]).exit_code == 0
    for kind in ("genotypes", "families", "unidentified"):
        result = runner.invoke(app, ["import", kind, str(paths[kind])])
        assert result.exit_code == 0, result.output
    u1 = db["truth"][0][0]
    sample = next(r[1] for r in db["unidentified"] if r[0] == u1)
    rows = [r for r in db["genotypes"] if r[0] == sample]
    twin_g, twin_u = tmp_path / "twin_g.csv", tmp_path / "twin_u.csv"
    with twin_g.open("w", newline="") as fh:
        w = _csv.writer(fh)
        w.writerow(("sample_id", "locus", "allele1", "allele2"))
        w.writerows(("SU-TWIN", *r[1:]) for r in rows)
    twin_u.write_text("person_id,sample_id\nU-TWIN,SU-TWIN\n")
    assert runner.invoke(app, ["import", "genotypes", str(twin_g)]).exit_code == 0
    result = runner.invoke(app, ["import", "unidentified", str(twin_u), "--no-search"])
    assert result.exit_code == 0, result.output
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    with _Session(engine) as s:
        uid = s.execute(_select(Unidentified.id).where(Unidentified.code == u1)).scalar_one()
        flags = [_json.loads(f) for f in s.execute(_select(MatchCandidate.flags)
                                                   .where(MatchCandidate.unidentified_id == uid)).scalars()]
    assert flags and all(any(f.get("sample") == "SU-TWIN" and f["kind"] == "identical" for f in fl)
                         for fl in flags)
