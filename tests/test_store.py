"""The database layer: migrations, imports (atomic, with file:line errors), the CLI end to end.

Every profile, family and person here is hand-made or simulated; none is a real person.
SQLite runs always; the PostgreSQL tests need a server at 127.0.0.1:5432 (user postgres,
no password; override with REUNITE_TEST_POSTGRES) and skip with a reason if there is none.
"""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from conftest import DATA
from sqlalchemy import text, func, inspect, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from reunite.cli import app
from reunite.errors import ReuniteError
from reunite.simulate import simulate_database, write_database
from reunite.store.db import StoreError, current_revision, make_engine, read_settings, upgrade
from reunite.store.importers import (
    ImportRejected,
    import_families,
    import_genotypes,
    import_unidentified,
    read_genotypes,
)
from reunite.store.models import (
    Base,
    Family,
    FamilyMember,
    ImportBatch,
    MatchCandidate,
    Sample,
    Setting,
    Unidentified,
)
from reunite.store.profiles import GeneticModel, pack_profile, unpack_profile

STORE = DATA / "store"
POPULATION = "CHN_national_GBT37223"

# The profiles of tests/data/store/genotypes_*: same data in three formats and spellings.
S1 = "D3S1358=15/16;VWA=14/17;PENTA_D=9/12;TH01=9.3/9.3;FGA=22/24;D21S11=30/32.2"
S2 = "D3S1358=16/16;VWA=18/19;PENTA_D=10/13;TH01=7/9;FGA=21/25;D21S11=29/31"


# ---------------------------------------------------------------------------------------
# helpers and fixtures


@pytest.fixture(scope="module")
def model() -> GeneticModel:
    return GeneticModel(POPULATION)


def _engine(url):
    engine = make_engine(url)
    upgrade(engine)
    return engine


@pytest.fixture
def engine(tmp_path):
    """A migrated, empty SQLite database."""
    engine = _engine(f"sqlite:///{tmp_path / 'reunite.db'}")
    yield engine
    engine.dispose()


def counts(engine) -> dict[str, int]:
    """Rows in every table of the models, besides what the migrations write: the database's
    identity (settings), the audit chain's head and the national jurisdiction."""
    with engine.connect() as conn:
        out = {t.name: conn.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables}
        out["settings"] -= conn.scalar(select(func.count()).select_from(Setting).where(Setting.key == "database_id"))
        out["audit_head"] -= conn.scalar(text("SELECT COUNT(*) FROM audit_head WHERE seq = 0"))
        out["jurisdictions"] -= conn.scalar(text("SELECT COUNT(*) FROM jurisdictions WHERE code = 'CN'"))
        return out


def run(engine, fn, *args, **kwargs):
    """Run an importer in one transaction, as the CLI does (commit, or roll back on error)."""
    with Session(engine) as session, session.begin():
        return fn(session, *args, **kwargs)


def rejected(engine, fn, *args, **kwargs) -> ImportRejected:
    """Run an importer that must be rejected; check it left nothing behind."""
    before = counts(engine)
    with pytest.raises(ImportRejected) as info:
        run(engine, fn, *args, **kwargs)
    assert counts(engine) == before, "a rejected file must leave nothing in the database"
    assert "nothing was imported" in str(info.value)
    return info.value


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def profiles_in(engine) -> dict[str, str]:
    """Stored profiles, re-packed in the canonical (sorted) locus order."""
    with Session(engine) as session:
        return {code: profile for code, profile in session.execute(select(Sample.code, Sample.profile))}


def canonical(packed: str) -> str:
    return pack_profile(unpack_profile(packed))


def long_csv(profiles: dict[str, str]) -> str:
    lines = ["sample_id,locus,allele1,allele2"]
    for code, packed in profiles.items():
        for locus, (a, b) in unpack_profile(packed).items():
            lines.append(f"{code},{locus},{a},{b}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------
# migrations


def test_upgrade_creates_every_table_and_is_idempotent(db_url):
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        assert tables - set(Base.metadata.tables) == {"alembic_version"}
        head = current_revision(engine)
        assert head is not None
        upgrade(engine)  # again: harmless
        assert current_revision(engine) == head
        assert set(inspect(engine).get_table_names()) == tables
        assert all(n == 0 for n in counts(engine).values())
        with Session(engine) as session:
            assert len(json.loads(session.get(Setting, "database_id").value)) == 32
    finally:
        engine.dispose()


def test_models_and_migrations_agree(db_url):
    """Alembic autogenerate finds nothing to add: the migrations build exactly the models."""
    engine = _engine(db_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, Base.metadata)
        assert diff == []
    finally:
        engine.dispose()


def test_read_settings_on_an_uninitialised_database(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with Session(engine) as session, pytest.raises(StoreError, match="not initialised.*db init"):
        read_settings(session)
    upgrade(engine)  # tables, but no genetic model yet
    with Session(engine) as session, pytest.raises(StoreError, match="no genetic model"):
        read_settings(session)


def test_genetic_model_round_trip(model):
    other = GeneticModel(POPULATION, mutation="equal", mutation_rate=0.002, theta=0.01)
    for m in (model, other):
        assert GeneticModel.from_json(json.loads(json.dumps(m.to_json()))) == m
    assert "theta 0.01" in other.describe() and POPULATION in other.describe()
    with pytest.raises(ReuniteError):
        GeneticModel("NO_SUCH_POPULATION")
    with pytest.raises(ReuniteError, match="--theta"):
        GeneticModel(POPULATION, theta=1.0)
    with pytest.raises(ReuniteError, match="--mutation"):
        GeneticModel(POPULATION, mutation="zigzag")


def test_pack_unpack_round_trip():
    prof = {"D3S1358": ("15", "16"), "TH01": ("9.3", "9.3"), "PENTA_D": ("9", "12")}
    assert pack_profile(prof) == "D3S1358=15/16;PENTA_D=9/12;TH01=9.3/9.3"
    assert unpack_profile(pack_profile(prof)) == prof
    assert unpack_profile("") == {} and pack_profile({}) == ""


# ---------------------------------------------------------------------------------------
# genotypes


@pytest.mark.parametrize("name,fmt", [("genotypes_long.csv", "long"), ("genotypes_wide.csv", "wide"),
                                      ("genotypes_genemapper.txt", "genemapper")])
def test_three_formats_give_the_same_profiles(tmp_path, model, name, fmt):
    engine = _engine(f"sqlite:///{tmp_path / 'reunite.db'}")
    report = run(engine, import_genotypes, STORE / name, model=model, lab="SimLab")
    assert report.notes == [f"format: {fmt}"]
    assert report.num_records == 2 and report.num_rows == 12  # Amelogenin is skipped
    # loci normalised (vWA -> VWA, Penta D -> PENTA_D, THO1 -> TH01), alleles sorted and
    # canonical (24.0 -> 24), homozygotes written twice
    assert profiles_in(engine) == {"S1": canonical(S1), "S2": canonical(S2)}
    with Session(engine) as session:
        samples = session.execute(select(Sample)).scalars().all()
        assert {s.num_loci for s in samples} == {6} and {s.lab for s in samples} == {"SimLab"}
        batch = session.execute(select(ImportBatch)).scalar_one()
        assert batch.kind == f"genotypes ({fmt})" and batch.source.endswith(name)
        assert {s.batch_id for s in samples} == {batch.id}
    engine.dispose()


def test_read_genotypes_normalises_and_handles_homozygotes(model):
    for name in ("genotypes_long.csv", "genotypes_wide.csv", "genotypes_genemapper.txt"):
        profiles, _ = read_genotypes(STORE / name, model=model)
        assert profiles["S1"]["TH01"] == ("9.3", "9.3")  # empty second allele: homozygote
        assert profiles["S2"]["D3S1358"] == ("16", "16")
        assert set(profiles["S1"]) == {"D3S1358", "VWA", "PENTA_D", "TH01", "FGA", "D21S11"}


BAD_GENOTYPES = [
    pytest.param("g.csv", "sample_id,locus,allele1,allele2\nS1,VWA,14,17\nS1,D99S999,10,11\n",
                 [":3:", "'D99S999'", "not in the database's frequency table"], id="unknown-locus"),
    pytest.param("g.csv", "sample_id,D3S1358,Nonsense\nS1,15/16,10/11\n",
                 [":1:", "'Nonsense'", "frequency table"], id="unknown-locus-wide"),
    pytest.param("g.csv", "sample_id,locus,allele1,allele2\nS1,VWA,14,17\nS1,TH01,9.3,OL\n",
                 [":3:", "TH01", "repeat numbers", "'OL'"], id="bad-allele"),
    pytest.param("g.csv", "sample_id,locus,allele1,allele2\nS1,VWA,14,17\nS1,TH01,,\n",
                 [":3:", "TH01: no allele"], id="no-allele"),
    pytest.param("g.csv", "sample_id,locus,allele1,allele2\nS1,VWA,14,17\nS1,D3S1358,15,16\nS1,vWA,14,17\n",
                 [":4:", "'S1'", "VWA is typed twice"], id="locus-typed-twice"),
    pytest.param("g.csv", "sample_id,vWA,VWA\nS1,14/17,14/17\n",
                 [":1:", "VWA is typed twice"], id="locus-typed-twice-wide"),
    pytest.param("g.csv", "sample_id,VWA,TH01\nS1,14/17,6/9.3/10\n",
                 [":2:", "expected 'a/b'", "'6/9.3/10'"], id="three-alleles-wide"),
    pytest.param("g.csv", "sample_id,locus,allele1,allele2\nS1,VWA,14,17,18\n",
                 [":2:", "expected 4 fields as in the header, found 5"], id="three-alleles-long"),
    pytest.param("g.csv", "id,marker,a,b\nS1,VWA,14,17\n",
                 [":1:", "unrecognised header"], id="unknown-header"),
    pytest.param("g.csv", "", [":1:", "empty"], id="empty-file"),
]


@pytest.mark.parametrize("name,text,expected", BAD_GENOTYPES)
def test_bad_genotype_files_are_rejected_with_file_and_line(tmp_path, engine, model, name, text, expected):
    run(engine, import_genotypes, STORE / "genotypes_long.csv", model=model)  # something already there
    path = write(tmp_path, name, text)
    exc = rejected(engine, import_genotypes, path, model=model)
    assert exc.problems, "at least one problem"
    message = exc.problems[0]
    assert message.startswith(f"{path}:"), message
    for part in expected:
        assert part in message, (part, message)


def test_every_bad_line_is_reported(tmp_path, engine, model):
    lines = ["sample_id,locus,allele1,allele2"] + [f"S{k},VWA,14,x{k}" for k in range(60)]
    path = write(tmp_path, "many.csv", "\n".join(lines) + "\n")
    exc = rejected(engine, import_genotypes, path, model=model)
    assert len(exc.problems) == 60
    assert [p.split(": ")[0] for p in exc.problems] == [f"{path}:{k}" for k in range(2, 62)]
    assert "and 10 more" in str(exc)  # the message shows the first 50


def test_one_bad_line_rejects_the_whole_file(tmp_path, engine, model):
    good = {f"G{k:03d}": S1 for k in range(200)}
    text = long_csv(good) + "G999,VWA,14,17\nG999,TPOX,8,banana\n"
    path = write(tmp_path, "g.csv", text)
    exc = rejected(engine, import_genotypes, path, model=model)
    assert exc.problems == [f"{path}:{len(text.splitlines())}: sample 'G999', locus TPOX: alleles must be "
                            "repeat numbers such as 15 or 9.3, found '8'/'banana'"]
    assert all(n == 0 for n in counts(engine).values())


def test_the_same_sample_twice_is_rejected(tmp_path, engine, model):
    run(engine, import_genotypes, STORE / "genotypes_long.csv", model=model)
    before = counts(engine)
    assert before["samples"] == 2 and before["import_batches"] == 1
    # the same file again, the same samples in another format, one old sample among new ones
    again = write(tmp_path, "again.csv", long_csv({"NEW1": S2, "S2": S2}))
    for path in (STORE / "genotypes_long.csv", STORE / "genotypes_wide.csv", again):
        exc = rejected(engine, import_genotypes, path, model=model)
        assert all("already in the database" in p or "was already imported as batch 1" in p for p in exc.problems)
    exc = rejected(engine, import_genotypes, again, model=model)
    assert len(exc.problems) == 1 and exc.problems[0].startswith(f"{again}:")
    assert "sample 'S2' is already in the database with the same profile (batch 1)" in exc.problems[0]
    assert counts(engine) == before


def test_importers_do_not_commit(engine, model, tmp_path):
    """An import is part of the caller's transaction: rolling it back leaves nothing."""
    with Session(engine) as session:
        import_genotypes(session, write(tmp_path, "refs.csv", long_csv(REF_SAMPLES)), model=model)
        import_families(session, _families_file(tmp_path), model=model)
        import_unidentified(session, write(tmp_path, "u.csv", "person_id,sample_id\nU1,SU1\n"))
        assert session.scalar(select(func.count()).select_from(Family)) == 1
        session.rollback()
    assert all(n == 0 for n in counts(engine).values())


def test_failure_after_writing_rolls_back_the_batch(engine, model, monkeypatch):
    """A database error in the middle of an import leaves no import_batches row behind."""
    import reunite.store.genotype_import as genotype_import

    calls = []

    def exploding_pack(profile):
        calls.append(profile)
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        return pack_profile(profile)

    monkeypatch.setattr(genotype_import, "pack_profile", exploding_pack)
    with pytest.raises(RuntimeError, match="disk on fire"):
        run(engine, import_genotypes, STORE / "genotypes_long.csv", model=model)
    assert all(n == 0 for n in counts(engine).values())


@pytest.mark.parametrize("allele", ["inf", "-1", "1e3"])
def test_non_repeat_number_alleles_are_rejected(tmp_path, model, allele):
    path = write(tmp_path, "g.csv", f"sample_id,locus,allele1,allele2\nS1,VWA,{allele},14\n")
    with pytest.raises(ImportRejected, match=r"g\.csv:2: .*repeat numbers"):
        read_genotypes(path, model=model)


@pytest.mark.parametrize("kind", ["genotypes", "families", "unidentified"])
def test_header_only_file_is_handled_cleanly(tmp_path, engine, model, kind):
    header = {"genotypes": "sample_id,locus,allele1,allele2",
              "families": "family_id,person_id,father_id,mother_id,sex,role,sample_id",
              "unidentified": "person_id,sample_id"}[kind]
    path = write(tmp_path, f"{kind}.csv", header + "\n")
    fn = {"genotypes": import_genotypes, "families": import_families,
          "unidentified": import_unidentified}[kind]
    kwargs = {} if kind == "unidentified" else {"model": model}
    before = counts(engine)
    try:
        report = run(engine, fn, path, **kwargs)
    except ImportRejected:
        pass
    else:
        assert report.num_records == 0
    assert counts(engine)["samples"] == before["samples"]


# ---------------------------------------------------------------------------------------
# families

REF_SAMPLES = {"SFA": S1, "SMO": S2, "SU1": S1, "SSIB": S2}
FAMILIES_HEADER = "family_id,person_id,father_id,mother_id,sex,role,sample_id,family_type\n"
GOOD_FAMILY = ("FAM1,FAM1-FA,,,M,reference,SFA,both_parents\n"
               "FAM1,FAM1-MO,,,F,reference,SMO,both_parents\n"
               "FAM1,FAM1-M,FAM1-FA,FAM1-MO,F,missing,,both_parents\n")


def _families_file(tmp_path) -> Path:
    return write(tmp_path, "families_good.csv", FAMILIES_HEADER + GOOD_FAMILY)


@pytest.fixture
def typed(engine, model, tmp_path):
    """A database holding the reference samples of the families below."""
    run(engine, import_genotypes, write(tmp_path, "refs.csv", long_csv(REF_SAMPLES)), model=model)
    return engine


def test_families_import(typed, model, tmp_path):
    text = FAMILIES_HEADER + GOOD_FAMILY + (
        "FAM2,FAM2-FA,,,M,untyped,,siblings_only\n"
        "FAM2,FAM2-MO,,,F,untyped,,siblings_only\n"
        "FAM2,FAM2-S1,FAM2-FA,FAM2-MO,U,reference,SSIB,siblings_only\n"
        "FAM2,FAM2-M1,FAM2-FA,FAM2-MO,m,missing,,siblings_only\n"
        "FAM2,FAM2-M2,FAM2-FA,FAM2-MO,,missing,,\n")
    report = run(typed, import_families, write(tmp_path, "f.csv", text), model=model)
    assert report.num_records == 2 and report.num_rows == 8
    with Session(typed) as session:
        fams = {f.code: f for f in session.execute(select(Family)).scalars()}
        assert set(fams) == {"FAM1", "FAM2"} and sorted(report.new_ids) == sorted(f.id for f in fams.values())
        assert fams["FAM2"].family_type == "siblings_only" and fams["FAM1"].population == POPULATION
        members = {m.person_code: m for m in session.execute(select(FamilyMember)).scalars()}
        assert len(members) == 8
        sample_ids = {code: id_ for code, id_ in session.execute(select(Sample.code, Sample.id))}
        assert members["FAM1-FA"].sample_id == sample_ids["SFA"]
        assert members["FAM2-S1"].sample_id == sample_ids["SSIB"] and members["FAM2-S1"].sex == "U"
        assert members["FAM2-M1"].sex == "M" and members["FAM2-M2"].sex == "U"
        assert members["FAM1-M"].father_code == "FAM1-FA" and members["FAM1-M"].role == "missing"
        assert members["FAM1-M"].sample_id is None
        assert session.execute(select(ImportBatch.kind).order_by(ImportBatch.id)).scalars().all() == [
            "genotypes (long)", "families"]


BAD_FAMILIES = [  # the good family FAM1 takes lines 2-4; FAM9 starts on line 5
    pytest.param("FAM9,FAM9-FA,,,M,reference,SFA\nFAM9,FAM9-MO,,,F,reference,SMO\n",
                 ":5:", "family 'FAM9' has no missing person", id="no-missing"),
    pytest.param("FAM9,FAM9-FA,,,M,untyped,\nFAM9,FAM9-M,FAM9-FA,,F,missing,\n",
                 ":5:", "family 'FAM9' has no reference", id="no-reference"),
    pytest.param("FAM9,FAM9-FA,,,M,reference,SFA\nFAM9,FAM9-MO,,,F,reference,\n"
                 "FAM9,FAM9-M,FAM9-FA,FAM9-MO,F,missing,\n",
                 ":6:", "reference 'FAM9-MO' of family 'FAM9' has no sample_id", id="reference-without-sample"),
    pytest.param("FAM9,FAM9-FA,,,M,reference,SFA\nFAM9,FAM9-MO,,,F,reference,NOPE\n"
                 "FAM9,FAM9-M,FAM9-FA,FAM9-MO,F,missing,\n",
                 ":6:", "sample 'NOPE' of 'FAM9-MO' is not in the database", id="unknown-sample"),
    pytest.param("FAM9,FAM9-FA,,,F,reference,SFA\nFAM9,FAM9-MO,,,F,reference,SMO\n"
                 "FAM9,FAM9-M,FAM9-FA,FAM9-MO,F,missing,\n",
                 ":5: family 'FAM9':", "'FAM9-FA' is the father of 'FAM9-M' but has sex 'F'", id="female-father"),
    pytest.param("FAM9,FAM9-A,FAM9-B,FAM9-MO,M,reference,SFA\nFAM9,FAM9-B,FAM9-A,FAM9-MO,M,untyped,\n"
                 "FAM9,FAM9-MO,,,F,reference,SMO\nFAM9,FAM9-M,FAM9-A,FAM9-MO,F,missing,\n",
                 ":5: family 'FAM9':", "is their own ancestor", id="cycle"),
    pytest.param("FAM9,FAM9-FA,,,M,reference,SFA\nFAM9,FAM9-FA,,,M,untyped,\n"
                 "FAM9,FAM9-M,FAM9-FA,,F,missing,\n",
                 ":5: family 'FAM9':", "'FAM9-FA' is listed twice", id="duplicate-person"),
    pytest.param("FAM9,FAM9-FA,,,M,reference,SFA\nFAM9,FAM9-M,FAM9-FA,,F,lost,\n",
                 ":6:", "role must be one of reference, missing, untyped, found 'lost'", id="bad-role"),
    pytest.param("FAM9,FAM9-FA,,,M,reference,SFA\nFAM9,FAM9-M,FAM9-FA,,Q,missing,\n",
                 ":6:", "sex must be M, F or U, found 'Q'", id="bad-sex"),
    pytest.param("FAM9,FAM9-FA,,,M,reference,SFA\nFAM9,FAM9-M,FAM9-FA,,F,missing,SMO\n",
                 ":6:", "'FAM9-M' has a sample_id but role 'missing'", id="missing-with-sample"),
    pytest.param("FAM9,,,,M,reference,SFA\n", ":5:", "family_id and person_id are required", id="no-person-id"),
]


@pytest.mark.parametrize("rows,where,reason", BAD_FAMILIES)
def test_bad_families_are_rejected_with_file_line_and_family(typed, model, tmp_path, rows, where, reason):
    # the good family first: it must not be imported either
    path = write(tmp_path, "f.csv", FAMILIES_HEADER.replace(",family_type", "")
                 + GOOD_FAMILY.replace(",both_parents", "") + rows)
    exc = rejected(typed, import_families, path, model=model)
    hits = [p for p in exc.problems if reason in p]
    assert hits, exc.problems
    assert hits[0].startswith(f"{path}{where}"), hits[0]
    assert counts(typed)["families"] == counts(typed)["family_members"] == 0


def test_families_header_and_duplicates(typed, model, tmp_path):
    bad = write(tmp_path, "bad.csv", "family,person,father,mother,sex,role,sample\n")
    exc = rejected(typed, import_families, bad, model=model)
    assert exc.problems[0].startswith(f"{bad}:1: expected the header family_id,person_id")
    run(typed, import_families, _families_file(tmp_path), model=model)
    exc = rejected(typed, import_families, _families_file(tmp_path), model=model)
    assert f"{tmp_path / 'families_good.csv'}:2: family 'FAM1' is already in the database" in exc.problems
    # and its samples already belong to FAM1's people: a sample is one person
    assert any("sample 'SFA' already belongs to 'FAM1-FA'" in p for p in exc.problems)


# ---------------------------------------------------------------------------------------
# unidentified persons

UNIDENTIFIED_HEADER = "person_id,sample_id,sex,category,estimated_birth_date,found_date,found_place\n"


def test_unidentified_import(typed, tmp_path):
    path = write(tmp_path, "u.csv", UNIDENTIFIED_HEADER
                 + "U1,SU1,f,rescued_child,2015-06-01,2019-03-14,\"Kunming, Yunnan\"\n"
                 + "U2,SSIB,,,,,\n")
    report = run(typed, import_unidentified, path)
    assert report.num_records == 2 and len(report.new_ids) == 2
    with Session(typed) as session:
        rows = {u.code: u for u in session.execute(select(Unidentified)).scalars()}
        u1, u2 = rows["U1"], rows["U2"]
        assert (u1.sex, u1.category, u1.found_place) == ("F", "rescued_child", "Kunming, Yunnan")
        assert (u1.estimated_birth_date, u1.found_date) == (date(2015, 6, 1), date(2019, 3, 14))
        assert (u2.sex, u2.category, u2.found_date) == ("U", None, None)
        assert sorted(report.new_ids) == sorted(u.id for u in rows.values())
    # only the two required columns
    with Session(typed) as session, session.begin():
        session.add(Sample(code="SU3", profile=S1, num_loci=6))
    report = run(typed, import_unidentified, write(tmp_path, "u2.csv", "person_id,sample_id\nU3,SU3\n"))
    assert report.num_records == 1
    # a sample already given to someone is refused: a sample is one person
    with pytest.raises(ImportRejected, match="already belongs to unidentified person 'U1'"):
        run(typed, import_unidentified, write(tmp_path, "u3.csv", "person_id,sample_id\nU4,SU1\n"))


BAD_UNIDENTIFIED = [
    pytest.param("U1,SU1,F,rescued_child,2015-02-30,,\n", ":3:",
                 "estimated_birth_date must be a date YYYY-MM-DD, found '2015-02-30'", id="impossible-date"),
    pytest.param("U1,SU1,F,rescued_child,,14/03/2019,\n", ":3:",
                 "found_date must be a date YYYY-MM-DD, found '14/03/2019'", id="bad-date-format"),
    pytest.param("U1,SU1,F,orphan,,,\n", ":3:",
                 "category must be one of rescued_child, unclear_origin, begging_child, registration_check, "
                 "found 'orphan'", id="bad-category"),
    pytest.param("U0,SU1,F,,,,\n", ":3:", "person 'U0' is listed twice (first on line 2)", id="duplicate-person"),
    pytest.param("U1,NOPE,F,,,,\n", ":3:", "sample 'NOPE' is not in the database", id="unknown-sample"),
    pytest.param("U1,,F,,,,\n", ":3:", "person_id and sample_id are required", id="no-sample"),
    pytest.param("U1,SU1,X,,,,\n", ":3:", "sex must be M, F or U, found 'X'", id="bad-sex"),
]


@pytest.mark.parametrize("row,where,reason", BAD_UNIDENTIFIED)
def test_bad_unidentified_are_rejected_with_file_and_line(typed, tmp_path, row, where, reason):
    path = write(tmp_path, "u.csv", UNIDENTIFIED_HEADER + "U0,SSIB,M,begging_child,2012-01-01,2020-05-05,\n" + row)
    exc = rejected(typed, import_unidentified, path)
    assert any(p.startswith(f"{path}{where} {reason}") for p in exc.problems), exc.problems
    assert counts(typed)["unidentified"] == 0


def test_unidentified_header_and_already_imported(typed, tmp_path):
    bad = write(tmp_path, "bad.csv", "person_id,sample_id,name\nU1,SU1,Somebody\n")
    exc = rejected(typed, import_unidentified, bad)
    assert exc.problems[0].startswith(f"{bad}:1: expected the header person_id,sample_id[,")
    path = write(tmp_path, "u.csv", "person_id,sample_id\nU1,SU1\n")
    run(typed, import_unidentified, path)
    exc = rejected(typed, import_unidentified, path)
    assert f"{path}:2: person 'U1' is already in the database" in exc.problems


# ---------------------------------------------------------------------------------------
# the CLI end to end on a small simulated database (SQLite and PostgreSQL)

runner = CliRunner()


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    out = tmp_path_factory.mktemp("simulated")
    db = simulate_database(40, 20, seed=20240611)
    paths = write_database(db, out)
    return db, paths


def cli(url, *args):
    return runner.invoke(app, list(args), env={"REUNITE_DATABASE_URL": url, "COLUMNS": "200"})


def ok(result):
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_cli_end_to_end(db_url, simulated, model):
    db, paths = simulated
    assert "database ready" in ok(cli(db_url, "db", "init"))
    ok(cli(db_url, "db", "init"))  # again, same model: harmless
    n_samples = len({row[0] for row in db["genotypes"]})
    out = ok(cli(db_url, "import", "genotypes", str(paths["genotypes"])))
    assert f"imported {n_samples} profiles ({len(db['genotypes']):,} genotypes, format: long)" in out
    out = ok(cli(db_url, "import", "families", str(paths["families"]), "--no-search"))
    assert f"imported 40 families ({len(db['families'])} people)" in out and "searched" not in out
    out = ok(cli(db_url, "import", "unidentified", str(paths["unidentified"])))
    assert "imported 20 unidentified persons" in out and "searched" in out

    engine = make_engine(db_url)
    try:
        n = counts(engine)
        assert (n["samples"], n["families"], n["family_members"], n["unidentified"]) == (
            n_samples, 40, len(db["families"]), 20)
        assert n["import_batches"] == 3 and n["settings"] == 1
        assert n["match_candidates"] > 0
        with Session(engine) as session:
            assert GeneticModel.from_json(read_settings(session)["genetic_model"]) == model
            rows = session.execute(
                select(MatchCandidate, Unidentified.code, Family.code)
                .join(Unidentified, Unidentified.id == MatchCandidate.unidentified_id)
                .join(Family, Family.id == MatchCandidate.family_id)).all()
        found = {}
        for cand, ucode, fcode in rows:
            prov = json.loads(cand.provenance)
            assert prov["frequency_table"] == POPULATION
            assert prov["theta"] == 0.0
            assert prov["genetic_model"] == model.describe()
            per_locus = json.loads(cand.lr_per_locus)
            assert len(per_locus) == cand.loci_compared >= model.min_common_loci
            assert set(prov["mutation"]) == set(per_locus) == set(prov["kit"])
            assert prov["mutation"] == {l: model.locus_mutation(l).describe() for l in per_locus}
            assert all("stepwise(rate=" in d for d in prov["mutation"].values())
            assert cand.lr >= 1.0 and cand.status == "new"
            found.setdefault(ucode, []).append((cand.log10_lr, fcode, cand.missing_code))
        # every simulated found child is a candidate of its own family, ranked first
        for uid, fam, missing in db["truth"]:
            assert uid in found, uid
            assert max(found[uid])[1:] == (fam, missing), (uid, found[uid])
    finally:
        engine.dispose()

    # a different genetic model on an initialised database: refused, clearly, nothing changed
    result = cli(db_url, "db", "init", "--theta", "0.02")
    assert result.exit_code != 0
    assert isinstance(result.exception, ReuniteError)
    message = str(result.exception)
    assert "already initialised with" in message and model.describe() in message
    assert "fixed when it is created" in message
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            stored = json.loads(session.get(Setting, "genetic_model").value)
        assert stored == model.to_json()
    finally:
        engine.dispose()


def test_cli_rejected_import_changes_nothing(tmp_path, simulated):
    _, paths = simulated
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    ok(cli(url, "db", "init"))
    ok(cli(url, "import", "genotypes", str(paths["genotypes"])))
    engine = make_engine(url)
    before = counts(engine)
    rows = list(csv.reader(paths["families"].open()))
    rows[-1][4] = "Q"  # a bad sex on the last line
    bad = tmp_path / "families.csv"
    with bad.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    result = cli(url, "import", "families", str(bad))
    assert result.exit_code != 0 and isinstance(result.exception, ImportRejected)
    assert f"{bad}:{len(rows)}: sex must be M, F or U, found 'Q'" in str(result.exception)
    assert counts(engine) == before
    engine.dispose()


@pytest.mark.sqlite_only(reason="a missing SQLite file (PostgreSQL's missing database: tests/test_integrity.py)")
def test_cli_on_an_uninitialised_database(tmp_path):
    path = tmp_path / "nothing.db"
    result = cli(f"sqlite:///{path}", "import", "genotypes", str(STORE / "genotypes_long.csv"))
    assert isinstance(result.exception, StoreError)
    assert "there is no database at" in str(result.exception) and "reunite db init" in str(result.exception)
    assert not path.exists()  # nothing created
    with make_engine(f"sqlite:///{path}").connect():
        pass  # an empty SQLite file
    result = cli(f"sqlite:///{path}", "import", "genotypes", str(STORE / "genotypes_long.csv"))
    assert isinstance(result.exception, StoreError)
    assert "not initialised" in str(result.exception) and "reunite db init" in str(result.exception)


def test_cli_stats(tmp_path, simulated):
    db, paths = simulated
    url = f"sqlite:///{tmp_path / 'stats.db'}"
    ok(cli(url, "db", "init"))
    ok(cli(url, "import", "genotypes", str(paths["genotypes"])))
    ok(cli(url, "import", "families", str(paths["families"]), "--no-search"))
    ok(cli(url, "import", "unidentified", str(paths["unidentified"])))
    out = ok(cli(url, "stats"))
    n_samples = len({row[0] for row in db["genotypes"]})
    assert "genetic model: " + POPULATION in out
    for label, n in (("profiles (samples)", n_samples), ("families", 40), ("unidentified persons", 20)):
        assert any(label in line and line.rstrip(" │|").endswith(str(n)) for line in out.splitlines()), label
    assert "match candidates" in out and "loci coverage" in out


def test_cli_stats_duplicates_ignore_locus_order(tmp_path):
    url = f"sqlite:///{tmp_path / 'dups.db'}"
    ok(cli(url, "db", "init"))
    reordered = ";".join(reversed(S1.split(";")))
    ok(cli(url, "import", "genotypes", str(write(tmp_path, "g.csv", long_csv({"A": S1, "B": reordered})))))
    out = ok(cli(url, "stats"))
    assert "near-duplicate profiles" in out and "1 pair: 1 identical," in out
    assert "sample A (no person)" in out and "sample B (no person)" in out


# ---------------------------------------------------------------------------------------
# PostgreSQL specifics (the backend-parametrised tests above also run there)


def test_postgresql_import_and_rejection(pg_url, model, tmp_path):
    engine = _engine(pg_url)
    try:
        run(engine, import_genotypes, STORE / "genotypes_wide.csv", model=model)
        run(engine, import_genotypes, write(tmp_path, "refs.csv", long_csv(REF_SAMPLES)), model=model)
        assert profiles_in(engine)["S1"] == canonical(S1)
        run(engine, import_families, _families_file(tmp_path), model=model)
        run(engine, import_unidentified, write(tmp_path, "u.csv", UNIDENTIFIED_HEADER
                                               + "U1,SU1,F,unclear_origin,2016-01-01,2021-07-30,Somewhere\n"))
        before = counts(engine)
        assert (before["samples"], before["families"], before["family_members"], before["unidentified"],
                before["import_batches"]) == (6, 1, 3, 1, 4)
        rejected(engine, import_genotypes, STORE / "genotypes_long.csv", model=model)
        rejected(engine, import_families, write(tmp_path, "f.csv", FAMILIES_HEADER
                                                + GOOD_FAMILY.replace("FAM1", "FAM2").replace("SMO", "NOPE")),
                 model=model)
        rejected(engine, import_unidentified, write(tmp_path, "u2.csv", "person_id,sample_id\nU2,SU1\nU3,NOPE\n"))
        assert counts(engine) == before
    finally:
        engine.dispose()


def test_postgresql_overlong_sample_id_is_rejected_cleanly(pg_url, model, tmp_path):
    engine = _engine(pg_url)
    try:
        path = write(tmp_path, "g.csv", long_csv({"S" * 200: S1}))
        with pytest.raises(Exception) as info:
            run(engine, import_genotypes, path, model=model)
        assert all(n == 0 for n in counts(engine).values())  # atomic even so
        assert isinstance(info.value, ImportRejected) and f"{path}:2:" in str(info.value)
    finally:
        engine.dispose()


def test_db_init_refuses_a_mutation_model_the_table_cannot_use(tmp_path):
    from typer.testing import CliRunner

    from reunite.cli import app

    result = CliRunner().invoke(app, ["db", "init", "--mutation", "onestep"],
                                env={"REUNITE_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    assert result.exit_code != 0
    assert "onestep" in str(result.exception) and "microvariants" in str(result.exception)



def test_long_format_ignores_extra_header_columns(tmp_path, model):
    path = write(tmp_path, "g.csv", "sample_id,locus,allele1,allele2,comment\nS1,VWA,14,17,ok\nS1,TH01,6,,\n")
    with pytest.raises(ImportRejected, match=r"g\.csv:1: column 5 'comment' is not a column"):
        read_genotypes(path, model=model)
    profiles, fmt = read_genotypes(path, model=model, lenient=True)
    assert fmt == "long" and profiles == {"S1": {"VWA": ("14", "17"), "TH01": ("6", "6")}}
