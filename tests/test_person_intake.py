"""Families and unidentified persons in: encodings, records that must fit the header, unknown
columns, the missing child's dates and place, text checked before it is written (SQLite and
PostgreSQL alike), ids NFKC-normalised, sex against Amelogenin, the import report.

Every person and sample here is made up; none is a real person.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

import reunite.store.importers as importers
from conftest import pg_database

from reunite.cli import app
from reunite.store.db import make_engine, upgrade
from reunite.store.importers import ImportRejected, import_families, import_unidentified
from reunite.store.models import Family, FamilyMember, ImportBatch, Sample, Unidentified
from reunite.store.profiles import GeneticModel
from reunite.store.textio import MAX_TEXT_LENGTH

MODEL = GeneticModel("CHN_national_GBT37223")
PROFILE = "D3S1358=15/16;VWA=14/17;TH01=9.3/9.3"

FAMILY_HEADER = "family_id,person_id,father_id,mother_id,sex,role,sample_id"
FAMILY = ("FAM1,FAM1-FA,,,M,reference,SFA\n"
          "FAM1,FAM1-MO,,,F,reference,SMO\n"
          "FAM1,FAM1-M,FAM1-FA,FAM1-MO,F,missing,\n")
UNIDENTIFIED_HEADER = "person_id,sample_id,sex,category,estimated_birth_date,found_date,found_place"
# Amelogenin of the samples the files below use (None: not typed)
SAMPLES = {"SFA": "X/Y", "SMO": "X/X", "SU1": "X/Y", "SU2": "X/X", "SU3": None, "SU4": "X"}


# ---------------------------------------------------------------------------------------
# fixtures and helpers


def _typed_engine(url):
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as s, s.begin():
        for code, amel in SAMPLES.items():
            s.add(Sample(code=code, profile=PROFILE, num_loci=3, amelogenin=amel))
    return engine


@pytest.fixture
def store(tmp_path):
    """A migrated SQLite database holding the samples of :data:`SAMPLES`."""
    engine = _typed_engine(f"sqlite:///{tmp_path / 'r.db'}")
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request, tmp_path):
    """:func:`store` on SQLite and on a throw-away PostgreSQL database."""
    if request.param == "sqlite":
        url, drop = f"sqlite:///{tmp_path / 'r.db'}", None
    else:
        url, drop = pg_database()
    engine = _typed_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        if drop:
            drop()


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def run(engine, fn, *args, **kwargs):
    with Session(engine) as session, session.begin():
        return fn(session, *args, **kwargs)


def table_counts(engine) -> tuple[int, int, int, int]:
    with Session(engine) as s:
        return tuple(len(s.execute(select(t.id)).all()) for t in (Family, FamilyMember, Unidentified, ImportBatch))


def rejected(engine, fn, *args, **kwargs) -> list[str]:
    """Run an import that must be rejected whole; returns its problems."""
    before = table_counts(engine)
    with pytest.raises(ImportRejected) as info:
        run(engine, fn, *args, **kwargs)
    assert "nothing was imported" in str(info.value)
    assert table_counts(engine) == before
    return info.value.problems


def families(engine, path, **kwargs):
    return run(engine, import_families, path, model=MODEL, **kwargs)


def one(problems: list[str], *parts: str) -> str:
    """The single problem that contains every one of ``parts``."""
    hits = [p for p in problems if all(part in p for part in parts)]
    assert len(hits) == 1, problems
    return hits[0]


# ---------------------------------------------------------------------------------------
# 1. encodings and true line numbers


@pytest.mark.parametrize("encoding,expected", [("gbk", "gb18030"), ("utf-16", "utf-16-le"),
                                               ("utf-8-sig", "utf-8-sig"), ("utf-8", "utf-8")])
def test_chinese_windows_encodings_are_detected(store, tmp_path, encoding, expected):
    text = (UNIDENTIFIED_HEADER + "\r\n"
            "U1,SU1,M,rescued_child,2015-06-01,2019-03-14,福建省福州市\r\n"
            "U2,SU2,F,,,,\"云南省, 昆明市\"\r\n")
    path = write(tmp_path, "u.csv", text, encoding)
    report = run(store, import_unidentified, path)
    assert report.num_records == 2 and report.encoding == expected
    with Session(store) as s:
        places = dict(s.execute(select(Unidentified.code, Unidentified.found_place)).all())
    assert places == {"U1": "福建省福州市", "U2": "云南省, 昆明市"}


def test_utf16_tab_separated_families_from_excel(store, tmp_path):
    rows = [FAMILY_HEADER.split(",") + ["missing_place"],
            ["FAM1", "FAM1-FA", "", "", "M", "reference", "SFA", ""],
            ["FAM1", "FAM1-MO", "", "", "F", "reference", "SMO", ""],
            ["FAM1", "FAM1-M", "FAM1-FA", "FAM1-MO", "F", "missing", "", "广东省深圳市"]]
    text = "\ufeff" + "".join("\t".join(r) + "\r\n" for r in rows)  # Excel's "Unicode text"
    path = write(tmp_path, "f.txt", text, "utf-16-le")
    report = families(store, path)
    assert report.num_records == 1 and report.encoding == "utf-16-le"
    with Session(store) as s:
        assert s.scalar(select(FamilyMember.missing_place).where(FamilyMember.role == "missing")) == "广东省深圳市"


def test_encoding_given_and_undecodable_byte(store, tmp_path):
    text = UNIDENTIFIED_HEADER + "\nU1,SU1,M,,,,福州\nU2,SU2,F,,,,厦门\n"
    gbk = write(tmp_path, "u.csv", text, "gbk")
    problems = rejected(store, import_unidentified, gbk, encoding="utf-8")
    assert problems == [one(problems, f"{gbk}:2: byte 0x", "cannot be decoded as utf-8", "--encoding")]
    problems = rejected(store, import_unidentified, gbk, encoding="latin-9000")
    assert "unknown encoding 'latin-9000'" in problems[0]
    report = run(store, import_unidentified, gbk, encoding="GBK")
    assert report.num_records == 2 and report.encoding == "gb18030"


def test_line_numbers_after_quoted_multiline_fields(store, tmp_path):
    path = write(tmp_path, "u.csv", UNIDENTIFIED_HEADER + "\n"
                 "U1,SU1,M,,,,\"Fuzhou,\nFujian\nProvince\"\n"      # lines 2-4
                 "U2,SU2,F,,,,\"Xiamen\u2028Fujian\"\n"               # line 5: U+2028 is no record break
                 "U3,SU3,U,,,,\"Quanzhou\u0085Fujian\"\n"             # line 6
                 "U4,SU4,Q,,,,\n")                                    # line 7: the bad sex
    problems = rejected(store, import_unidentified, path)
    assert problems == [f"{path}:7: sex must be M, F or U, found 'Q' (column 3)"]
    path.write_text(path.read_text(encoding="utf-8").replace("U4,SU4,Q", "U4,SU4,U"), encoding="utf-8")
    run(store, import_unidentified, path)
    with Session(store) as s:
        places = dict(s.execute(select(Unidentified.code, Unidentified.found_place)).all())
    assert places == {"U1": "Fuzhou,\nFujian\nProvince", "U2": "Xiamen\u2028Fujian",
                      "U3": "Quanzhou\u0085Fujian", "U4": None}


def test_a_line_break_in_an_id_is_refused(store, tmp_path):
    path = write(tmp_path, "u.csv", "person_id,sample_id\n\"U1\u2028x\",SU1\nU2,SU2\n")
    problems = rejected(store, import_unidentified, path)
    assert problems == [f"{path}:2: person_id contains a line break; ids are one line (column 1)"]


# ---------------------------------------------------------------------------------------
# 2. records that do not fit the header, unknown and duplicated columns


def test_unquoted_comma_is_an_error_naming_line_and_column(store, tmp_path):
    path = write(tmp_path, "u.csv", UNIDENTIFIED_HEADER + "\nU1,SU1,M,,,,Kunming\nU2,SU2,F,,,,Fuzhou, Fujian\n")
    problems = rejected(store, import_unidentified, path)
    assert problems == [one(problems, f"{path}:3: expected 7 fields as in the header, found 8: column 8 "
                                      "has the value ' Fujian' beyond the header")]


def test_missing_fields_are_not_padded(store, tmp_path):
    path = write(tmp_path, "f.csv", FAMILY_HEADER + ",family_type\n"
                 "FAM1,FAM1-FA,,,M,reference,SFA,trio\n"
                 "FAM1,FAM1-MO,,,F,reference,SMO\n"            # line 3: no family_type field
                 "FAM1,FAM1-M,FAM1-FA,FAM1-MO,F,missing\n")    # line 4: neither sample_id nor family_type
    problems = rejected(store, import_families, path, model=MODEL)
    # an error each, nothing padded; no follow-on error about the family these rows leave incomplete
    assert problems == [
        f"{path}:3: expected 8 fields as in the header, found 7: no value for column 8 ('family_type'); "
        "a value with a comma must be quoted",
        f"{path}:4: expected 8 fields as in the header, found 6: no value for column 7 ('sample_id'); "
        "a value with a comma must be quoted"]


def test_family_rows_must_fit_the_header(store, tmp_path):
    path = write(tmp_path, "f.csv", FAMILY_HEADER + "\n" + FAMILY.replace("SMO\n", "SMO,extra\n"))
    problems = rejected(store, import_families, path, model=MODEL)
    assert one(problems, f"{path}:3: expected 7 fields as in the header, found 8: column 8 has the value "
                         "'extra'")


@pytest.mark.parametrize("kind", ["families", "unidentified"])
def test_unknown_columns_are_errors_or_reported_warnings(store, tmp_path, kind):
    if kind == "families":
        text = FAMILY_HEADER + ",notes\n" + FAMILY.replace("\n", ",kept apart\n")
        fn, kwargs = import_families, {"model": MODEL}
    else:
        text = "person_id,sample_id,name\nU1,SU1,Somebody\n"
        fn, kwargs = import_unidentified, {}
    path = write(tmp_path, "x.csv", text)
    problems = rejected(store, fn, path, **kwargs)
    column = "column 8 'notes'" if kind == "families" else "column 3 'name'"
    assert problems == [one(problems, f"{path}:1: expected the header", f"{column} is not one of them",
                            "--lenient")]
    report = run(store, fn, path, lenient=True, **kwargs)
    assert report.warnings == [f"{path}:1: {column} is not a column of the {kind} file; its values were "
                               "not imported (--lenient)"]
    with Session(store) as s:
        stored = json.loads(s.scalar(select(ImportBatch.report).where(ImportBatch.id == report.batch_id)))
    assert stored["warnings"] == report.warnings
    assert stored["ignored_columns"] == (["notes"] if kind == "families" else ["name"])


def test_header_names_are_stripped_case_folded_and_in_any_order(store, tmp_path):
    path = write(tmp_path, "u.csv", " Sample_ID ,PERSON_ID, Found_Place\nSU1,U1,Kunming\n")
    run(store, import_unidentified, path)
    with Session(store) as s:
        u = s.execute(select(Unidentified)).scalar_one()
        assert (u.code, u.found_place) == ("U1", "Kunming")
    path = write(tmp_path, "f.csv", "Role,Sample_ID,SEX,Mother_ID,Father_ID,Person_ID,Family_ID\n"
                 "reference,SFA,M,,,FAM1-FA,FAM1\nreference,SMO,F,,,FAM1-MO,FAM1\n"
                 "missing,,F,FAM1-MO,FAM1-FA,FAM1-M,FAM1\n")
    families(store, path)
    with Session(store) as s:
        m = s.execute(select(FamilyMember).where(FamilyMember.role == "missing")).scalar_one()
        assert (m.person_code, m.father_code, m.mother_code) == ("FAM1-M", "FAM1-FA", "FAM1-MO")


def test_duplicated_and_missing_columns_are_errors(store, tmp_path):
    path = write(tmp_path, "u.csv", "person_id,sample_id,Sex,SEX\nU1,SU1,M,F\n")
    problems = rejected(store, import_unidentified, path)
    assert problems == [f"{path}:1: column 4 'sex' repeats column 3; each column may appear once"]
    path = write(tmp_path, "f.csv", "family_id,person_id,sex,role,sample_id\nFAM1,A,M,reference,SFA\n")
    problems = rejected(store, import_families, path, model=MODEL)
    assert problems[0].startswith(f"{path}:1: expected the header family_id,person_id,father_id")
    assert problems[0].endswith("missing: father_id, mother_id")


# ---------------------------------------------------------------------------------------
# 3. the missing child's dates and place; dates in the future


FAMILY_DATES_HEADER = FAMILY_HEADER + ",birth_date,missing_date,missing_place"


def test_missing_child_dates_and_place_are_stored(store, tmp_path):
    path = write(tmp_path, "f.csv", FAMILY_DATES_HEADER + "\n"
                 "FAM1,FAM1-FA,,,M,reference,SFA,,,\nFAM1,FAM1-MO,,,F,reference,SMO,,,\n"
                 "FAM1,FAM1-M,FAM1-FA,FAM1-MO,F,missing,,１９８９-０３-０２,1995-07-15,\"Fuzhou, Fujian\"\n"
                 "FAM1,FAM1-M2,FAM1-FA,FAM1-MO,U,missing,,,,\n")
    families(store, path)
    with Session(store) as s:
        rows = {m.person_code: m for m in s.execute(select(FamilyMember)).scalars()}
    m = rows["FAM1-M"]
    assert (m.birth_date, m.missing_date, m.missing_place) == (date(1989, 3, 2), date(1995, 7, 15),
                                                               "Fuzhou, Fujian")
    assert (rows["FAM1-M2"].birth_date, rows["FAM1-M2"].missing_place) == (None, None)
    assert rows["FAM1-FA"].birth_date is None


@pytest.mark.parametrize("name,column", [("birth_date", 8), ("missing_date", 9), ("missing_place", 10)])
def test_missing_child_columns_on_another_role_are_errors(store, tmp_path, name, column):
    values = {"birth_date": "1960-01-01,,", "missing_date": ",1995-01-01,", "missing_place": ",,Fuzhou"}[name]
    path = write(tmp_path, "f.csv", FAMILY_DATES_HEADER + "\n"
                 f"FAM1,FAM1-FA,,,M,reference,SFA,{values}\nFAM1,FAM1-MO,,,F,reference,SMO,,,\n"
                 "FAM1,FAM1-M,FAM1-FA,FAM1-MO,F,missing,,,,\n")
    problems = rejected(store, import_families, path, model=MODEL)
    assert problems == [f"{path}:2: {name} is given for 'FAM1-FA', whose role is 'reference'; it describes "
                        "the missing person only: move it to the row of role 'missing' "
                        f"(column {column})"]


def test_missing_before_birth_and_bad_dates(store, tmp_path):
    path = write(tmp_path, "f.csv", FAMILY_DATES_HEADER + "\n"
                 "FAM1,FAM1-FA,,,M,reference,SFA,,,\nFAM1,FAM1-MO,,,F,reference,SMO,,,\n"
                 "FAM1,FAM1-M,FAM1-FA,FAM1-MO,F,missing,,1995-07-15,1989-03-02,\n"
                 "FAM1,FAM1-M2,FAM1-FA,FAM1-MO,F,missing,,15/07/1995,1995-02-30,\n")
    problems = rejected(store, import_families, path, model=MODEL)
    assert problems == [
        f"{path}:4: missing_date 1989-03-02 is before the birth_date 1995-07-15 of 'FAM1-M' (column 9)",
        f"{path}:5: birth_date must be a date YYYY-MM-DD, found '15/07/1995' (column 8)",
        f"{path}:5: missing_date must be a date YYYY-MM-DD, found '1995-02-30' (column 9)"]


def test_dates_in_the_future_are_rejected_in_both_files(store, tmp_path, monkeypatch):
    monkeypatch.setattr(importers, "today", lambda: date(2020, 6, 30))
    path = write(tmp_path, "f.csv", FAMILY_DATES_HEADER + "\n"
                 "FAM1,FAM1-FA,,,M,reference,SFA,,,\nFAM1,FAM1-MO,,,F,reference,SMO,,,\n"
                 "FAM1,FAM1-M,FAM1-FA,FAM1-MO,F,missing,,2020-07-01,,\n"
                 "FAM1,FAM1-M2,FAM1-FA,FAM1-MO,F,missing,,2019-01-01,2020-07-01,\n")
    problems = rejected(store, import_families, path, model=MODEL)
    assert problems == [
        f"{path}:4: birth_date 2020-07-01 is in the future (today is 2020-06-30); check the year (column 8)",
        f"{path}:5: missing_date 2020-07-01 is in the future (today is 2020-06-30); check the year (column 9)"]
    path = write(tmp_path, "u.csv", UNIDENTIFIED_HEADER + "\nU1,SU1,M,,2020-07-01,,\n"
                 "U2,SU2,F,,2010-01-01,2020-07-01,\n")
    problems = rejected(store, import_unidentified, path)
    assert problems == [
        f"{path}:2: estimated_birth_date 2020-07-01 is in the future (today is 2020-06-30); check the year "
        "(column 5)",
        f"{path}:3: found_date 2020-07-01 is in the future (today is 2020-06-30); check the year (column 6)"]
    monkeypatch.setattr(importers, "today", lambda: date(2020, 7, 1))
    run(store, import_unidentified, path)  # the same files, on the latest date they give
    families(store, tmp_path / "f.csv")


# ---------------------------------------------------------------------------------------
# 4. text checked before it is written: SQLite and PostgreSQL alike; ids NFKC


def _overlong_cases():
    long_id, long_type, long_place = "F" * 129, "t" * 65, "p" * (MAX_TEXT_LENGTH + 1)
    return [
        pytest.param("families", FAMILY_HEADER + ",family_type\n" + FAMILY.replace("FAM1-FA,,,", f"{long_id},,,", 1)
                     .replace("\n", ",\n"), ":2: person_id is 129 characters long; at most 128 are allowed "
                     "(column 2)", id="long-person-id"),
        pytest.param("families", FAMILY_HEADER + ",family_type\n" + FAMILY.replace("\n", f",{long_type}\n"),
                     ":2: family_type is 65 characters long; at most 64 are allowed (column 8)", id="long-type"),
        pytest.param("families", FAMILY_DATES_HEADER + "\n" + FAMILY.replace("\n", ",,,\n")
                     .replace("missing,,,,", f"missing,,,,{long_place}"),
                     f":4: missing_place is 1,001 characters long; at most {MAX_TEXT_LENGTH:,} are allowed "
                     "(column 10)", id="long-place"),
        pytest.param("unidentified", "person_id,sample_id\n" + f"U{'9' * 200},SU1\n",
                     ":2: person_id is 201 characters long; at most 128 are allowed (column 1)", id="long-uid"),
        pytest.param("unidentified", "person_id,sample_id,found_place\nU1,SU1,\"Fu\x1bzhou\"\n",
                     ":2: found_place contains the control character U+001B at position 3; remove it "
                     "(column 3)", id="escape-in-place"),
        pytest.param("unidentified", "person_id,sample_id,category\nU1,SU1,rescued\x01child\n",
                     ":2: category must be one of", id="control-in-category"),
        pytest.param("families", FAMILY_HEADER + "\n" + FAMILY.replace("FAM1,FAM1-MO", "FAM1,FAM1\x7fMO"),
                     ":3: person_id contains the control character U+007F at position 5; remove it "
                     "(column 2)", id="delete-in-id"),
    ]


@pytest.mark.parametrize("kind,text,expected", _overlong_cases())
def test_overlong_and_control_characters_are_refused_on_both_stores(any_store, tmp_path, kind, text, expected):
    path = write(tmp_path, "x.csv", text)
    fn, kwargs = (import_families, {"model": MODEL}) if kind == "families" else (import_unidentified, {})
    problems = rejected(any_store, fn, path, **kwargs)
    assert any(p.startswith(f"{path}{expected}") for p in problems), problems


@pytest.mark.parametrize("kind", ["families", "unidentified"])
def test_nul_byte_is_refused_on_both_stores(any_store, tmp_path, kind):
    # PostgreSQL refuses NUL in text, SQLite would keep it: the file is refused before either sees it
    text = (FAMILY_HEADER + "\n" + FAMILY.replace("FAM1-MO,,,F", "FAM1-MO\x00,,,F") if kind == "families"
            else "person_id,sample_id\nU1,SU1\nU2\x00,SU2\n")
    path = write(tmp_path, "x.csv", text)
    fn, kwargs = (import_families, {"model": MODEL}) if kind == "families" else (import_unidentified, {})
    problems = rejected(any_store, fn, path, **kwargs)
    assert problems == [one(problems, f"{path}:3: a NUL character")]


def test_ids_are_nfkc_normalised(any_store, tmp_path):
    path = write(tmp_path, "f.csv", FAMILY_HEADER + ",family_type\n"
                 "ＦＡＭ１,ＦＡＭ１-ＦＡ,,,Ｍ,reference,ＳＦＡ,ｔｒｉｏ\n"
                 "FAM1,FAM1-MO,,,F,Reference,SMO,trio\n"
                 "FAM1,FAM1-M,ＦＡＭ１-ＦＡ,FAM1-MO,F,missing,,trio\n")
    families(any_store, path)
    with Session(any_store) as s:
        assert s.execute(select(Family.code, Family.family_type)).all() == [("FAM1", "trio")]
        members = {m.person_code: m for m in s.execute(select(FamilyMember)).scalars()}
        sfa = s.scalar(select(Sample.id).where(Sample.code == "SFA"))
    assert set(members) == {"FAM1-FA", "FAM1-MO", "FAM1-M"}
    assert (members["FAM1-FA"].sex, members["FAM1-FA"].sample_id, members["FAM1-M"].father_code) == (
        "M", sfa, "FAM1-FA")
    again = write(tmp_path, "f2.csv", FAMILY_HEADER + "\nFAM1,X,,,M,reference,SU1\nFAM1,Y,X,,F,missing,\n")
    assert one(rejected(any_store, import_families, again, model=MODEL), "family 'FAM1' is already in")
    path = write(tmp_path, "u.csv", "person_id,sample_id,category\nＵ１,ＳＵ１,Rescued_Child\n")
    run(any_store, import_unidentified, path)
    with Session(any_store) as s:
        assert s.execute(select(Unidentified.code, Unidentified.category)).all() == [("U1", "rescued_child")]


def test_one_family_has_one_type(store, tmp_path):
    path = write(tmp_path, "f.csv", FAMILY_HEADER + ",family_type\n"
                 + FAMILY.replace("SFA\n", "SFA,trio\n").replace("SMO\n", "SMO,\n").replace(",missing,\n",
                                                                                              ",missing,,duo\n"))
    problems = rejected(store, import_families, path, model=MODEL)
    assert problems == [f"{path}:4: family 'FAM1' has family_type 'duo' here but 'trio' on line 2; one family "
                        "has one type (column 8)"]


# ---------------------------------------------------------------------------------------
# 5. sex against Amelogenin


def test_family_sex_that_contradicts_amelogenin_is_an_error(store, tmp_path):
    # SFA is X/Y; the file says the father is F (then he cannot be the father either)
    path = write(tmp_path, "f.csv", FAMILY_HEADER + "\nFAM1,FAM1-FA,,,F,reference,SFA\n"
                 "FAM1,FAM1-M,,FAM1-FA,F,missing,\n")
    problems = rejected(store, import_families, path, model=MODEL)
    assert one(problems, "Amelogenin") == (
        f"{path}:2: 'FAM1-FA' of family 'FAM1' has sex 'F' in the file, but sample 'SFA' has Amelogenin "
        "X/Y (male); correct the sex, or check the sample for a mix-up (column 5)")


def test_unidentified_sex_that_contradicts_amelogenin_is_an_error(store, tmp_path):
    path = write(tmp_path, "u.csv", "person_id,sample_id,sex\nU1,SU1,M\nU2,SU2,M\nU3,SU3,F\nU4,SU4,M\n")
    problems = rejected(store, import_unidentified, path)
    # SU3 has no Amelogenin and SU4 only X (a male with Y dropout is possible): no contradiction
    assert problems == [
        f"{path}:3: unidentified person 'U2' has sex 'M' in the file, but sample 'SU2' has Amelogenin X/X "
        "(female); correct the sex, or check the sample for a mix-up (column 3)"]


def test_unknown_sex_is_not_filled_from_amelogenin_but_reported(store, tmp_path):
    path = write(tmp_path, "u.csv", "person_id,sample_id,sex\nU1,SU1,U\nU2,SU2,\nU3,SU3,\nU4,SU4,U\n")
    report = run(store, import_unidentified, path)
    with Session(store) as s:
        assert set(s.execute(select(Unidentified.sex)).scalars()) == {"U"}
        stored = json.loads(s.scalar(select(ImportBatch.report).where(ImportBatch.id == report.batch_id)))
    expected = [{"line": 2, "person": "U1", "sample": "SU1", "amelogenin": "X/Y", "sex": "M"},
                {"line": 3, "person": "U2", "sample": "SU2", "amelogenin": "X/X", "sex": "F"}]
    assert stored["sex_indicated_by_amelogenin"] == expected
    assert report.details["sex_indicated_by_amelogenin"] == expected
    assert report.notes and "2 person(s) with sex U" in report.notes[0]
    path = write(tmp_path, "f.csv", FAMILY_HEADER + "\nFAM1,FAM1-FA,,,U,reference,SFA\n"
                 "FAM1,FAM1-M,FAM1-FA,,F,missing,\n")
    report = families(store, path)
    with Session(store) as s:
        assert s.scalar(select(FamilyMember.sex).where(FamilyMember.person_code == "FAM1-FA")) == "U"
    assert report.details["sex_indicated_by_amelogenin"] == [
        {"line": 2, "family": "FAM1", "person": "FAM1-FA", "sample": "SFA", "amelogenin": "X/Y", "sex": "M"}]


def test_withdrawn_sample_cannot_be_given_to_a_person(store, tmp_path):
    with Session(store) as s, s.begin():
        s.execute(Sample.__table__.update().where(Sample.code == "SU1").values(status="withdrawn"))
    path = write(tmp_path, "u.csv", "person_id,sample_id\nU1,SU1\n")
    assert rejected(store, import_unidentified, path) == [
        f"{path}:2: sample 'SU1' was withdrawn; it cannot be given to a person (import the re-typed sample)"]


# ---------------------------------------------------------------------------------------
# 6. the import report kept with the batch


def test_import_report_and_file_hash_are_kept_with_the_batch(store, tmp_path):
    fam = write(tmp_path, "f.csv", FAMILY_HEADER + "\n" + FAMILY)
    report = families(store, fam)
    assert (report.kind, report.source, report.num_rows, report.num_records) == ("families", str(fam), 3, 1)
    assert len(report.new_ids) == 1 and report.warnings == [] and report.notes == []
    uni = write(tmp_path, "u.csv", "person_id,sample_id\nU1,SU3\n", "utf-16")
    ureport = run(store, import_unidentified, uni)
    with Session(store) as s:
        batches = {b.kind: b for b in s.execute(select(ImportBatch)).scalars()}
    for batch, path, rep in ((batches["families"], fam, report), (batches["unidentified"], uni, ureport)):
        assert batch.file_sha256 == hashlib.sha256(path.read_bytes()).hexdigest() == rep.file_sha256
        assert json.loads(batch.report) == rep.details
    assert rep.details["encoding"] == "utf-16-le"
    assert report.details["imported"] == {"families": 1, "people": 3, "references": 2, "missing": 1,
                                          "untyped": 0}
    assert json.loads(batches["unidentified"].report)["imported"] == {"unidentified": 1}


# ---------------------------------------------------------------------------------------
# the command line: --encoding, --lenient, warnings printed, errors clean


def test_cli_encoding_and_lenient(store, tmp_path):
    url = str(store.url)
    path = write(tmp_path, "u.csv", "person_id,sample_id,found_place,备注\nU1,SU1,福州,无\n", "gbk")
    env = {"REUNITE_DATABASE_URL": url}
    with Session(store) as s, s.begin():
        from reunite.store.models import Setting
        s.add(Setting(key="genetic_model", value=json.dumps(MODEL.to_json())))
    result = CliRunner().invoke(app, ["import", "unidentified", str(path), "--no-search"], env=env)
    assert isinstance(result.exception, ImportRejected)  # main() prints it as a clean error, exit 1
    assert "column 4 '备注' is not one of them" in str(result.exception)
    result = CliRunner().invoke(app, ["import", "unidentified", str(path), "--no-search", "--lenient",
                                      "--encoding", "gbk"], env=env)
    assert result.exit_code == 0, result.output
    assert "imported 1 unidentified person " in result.output
    assert "warning: " in result.output and "'备注' is not a column of the unidentified file" in result.output
    assert "note: 1 person(s) with sex U" in result.output
