"""Review of data intake with files shaped as laboratories and spreadsheets write them:
Excel's trailing empty columns, OSIRIS "Spreadsheet" exports, every GeneMapper ID-X quality
column, headers spelt with spaces, and a sample imported twice (a re-typing is a correction,
never an overwrite).  Every profile is simulated.
"""

from __future__ import annotations

import codecs

import numpy as np
import pytest
from lab_exports import MARKERS, USABLE_STR, canonical, ladder, simulate_profile
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from reunite.cli import app
from reunite.store.db import make_engine, upgrade
from reunite.store.genotype_import import import_genotypes, read_genotype_file
from reunite.store.importers import ImportRejected, import_families
from reunite.store.models import ImportBatch, Sample
from reunite.store.profiles import GeneticModel, unpack_profile

MODEL = GeneticModel("CHN_national_GBT37223")


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'reunite.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def run_import(engine, path, **kw):
    with Session(engine) as session, session.begin():
        return import_genotypes(session, path, model=MODEL, **kw)


def stored(engine) -> dict[str, dict]:
    with Session(engine) as session:
        return {s.code: unpack_profile(s.profile) for s in session.execute(select(Sample)).scalars()}


def profile(seed: int) -> dict[str, list[str]]:
    return simulate_profile(np.random.default_rng(seed))


def expected(calls: dict[str, list[str]], *, untyped=()) -> dict[str, tuple[str, str]]:
    out = {}
    for marker in USABLE_STR:
        if marker in untyped or not calls.get(marker):
            continue
        a = sorted(calls[marker], key=float)
        out[canonical(marker)] = (a[0], a[-1])
    return out


# ---------------------------------------------------------------------------------------
# Excel: a UTF-8 BOM, CRLF, trailing empty columns, no newline after the last line


def test_excel_csv_with_trailing_empty_columns_imports_every_value(tmp_path, engine):
    rows = [("S1", "D3S1358", "15", "16"), ("S1", "vWA", "14", "14"), ("S1", "TH01", "9.3", "９.３"),
            ("S1", "D21S11", "30.2", "30"), ("S1", "Penta D", "10.0", "12"), ("S1", "PentaE", "5", ""),
            ("S1", "D18S51", " 15 ", "15 "), ("S1", "D2S441", "11.3", "9.1"), ("S1", "AMEL", "X", "Y")]
    text = "sample_id,locus,allele1,allele2,,\r\n" + "\r\n".join(",".join(r) + ",," for r in rows)
    path = tmp_path / "excel.csv"
    path.write_bytes(codecs.BOM_UTF8 + text.encode())
    report = run_import(engine, path)
    assert report.warnings == []
    assert stored(engine)["S1"] == {
        "D3S1358": ("15", "16"), "VWA": ("14", "14"), "TH01": ("9.3", "9.3"), "D21S11": ("30", "30.2"),
        "PENTA_D": ("10", "12"), "PENTA_E": ("5", "5"), "D18S51": ("15", "15"), "D2S441": ("9.1", "11.3")}


def test_a_value_in_an_unnamed_trailing_column_is_still_an_error(tmp_path, engine):
    path = tmp_path / "excel.csv"
    path.write_text("sample_id,locus,allele1,allele2,,\nS1,D3S1358,15,16,,\nS1,vWA,14,17,18,\n")
    with pytest.raises(ImportRejected) as exc:
        run_import(engine, path)
    assert exc.value.problems[0].startswith(f"{path}:3: expected 4 fields as in the header, found 6: column 5 "
                                            "has the value '18' beyond the header")


def test_families_file_saved_by_excel_imports(tmp_path, engine):
    calls = profile(1)
    path = tmp_path / "g.csv"
    path.write_text("sample_id,locus,allele1,allele2\n" + "".join(
        f"R1,{m},{a[0]},{a[-1]}\n" for m, a in calls.items() if m in USABLE_STR))
    run_import(engine, path)
    fam = tmp_path / "families.csv"
    fam.write_bytes(codecs.BOM_UTF8 + (
        "family_id,person_id,father_id,mother_id,sex,role,sample_id,,,\r\n"
        "F1,F1-FA,,,M,reference,R1,,,\r\nF1,F1-M,F1-FA,,F,missing,,,,").encode())
    with Session(engine) as session, session.begin():
        report = import_families(session, fam, model=MODEL)
    assert (report.num_records, report.num_rows, report.warnings) == (1, 2, [])


# ---------------------------------------------------------------------------------------
# header spellings


@pytest.mark.parametrize("header", ["Sample ID,Locus,Allele 1,Allele 2", "SampleID,LOCUS,Allele_1,Allele-2",
                                    " Sample_ID , Locus , Allele1 , Allele2 "])
def test_long_header_with_spaces_or_case(tmp_path, engine, header):
    path = tmp_path / "g.csv"
    path.write_text(f"{header}\nS1,D3S1358,15,16\nS1,vWA,14,17\n")
    assert run_import(engine, path).details["format"] == "long"
    assert stored(engine)["S1"] == {"D3S1358": ("15", "16"), "VWA": ("14", "17")}


def test_long_header_allele_3_with_a_space_is_a_mixture_column(tmp_path, engine):
    path = tmp_path / "g.csv"
    path.write_text("Sample ID,Locus,Allele 1,Allele 2,Allele 3\nS1,D3S1358,15,16,17\n")
    with pytest.raises(ImportRejected) as exc:
        run_import(engine, path)
    assert "a third allele '17' in column 5 ('Allele 3')" in exc.value.problems[0]


# ---------------------------------------------------------------------------------------
# GeneMapper ID-X: every column it writes


def test_genemapper_idx_export_with_all_its_quality_columns(tmp_path, engine):
    n = 10
    header = ["Sample File", "Sample Name", "Sample Type", "Panel", "Marker", "Dye"]
    for k in range(1, n + 1):
        header += [f"Allele {k}", f"Size {k}", f"Height {k}", f"Peak Area {k}", f"Data Point {k}", f"Mutation {k}"]
    header += ["AN", "BIN", "PHR", "LPH", "SPU", "AE", "OBA", "OS", "SSPK", "MNF", "MPH", "OVL", "XTLK", "SOS",
               "GQ", "CGQ", "SQ", "Comments", "UD1", "UD2", "UD3", "Run Name", "Size Standard", "Analysis Method"]
    lines = ["\t".join(header)]
    calls = {"S1": profile(11), "S2": profile(12), "Ladder": ladder()}
    for name, sample_calls in calls.items():
        for marker, _ in MARKERS:
            alleles = sample_calls.get(marker, [])
            row = [f"{name}.hid", name, "Allelic Ladder" if name == "Ladder" else "Sample", "GF", marker, "B"]
            for k in range(n):
                row += [alleles[k], "101.2", "1500", "9000", "3000", ""] if k < len(alleles) else [""] * 6
            row += [""] * 14 + ["0.99", "0.98", "1.0", "", "", "", "", "Run1", "GS600", "HID"]
            lines.append("\t".join(row) + "\t")
    path = tmp_path / "idx.txt"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    report = run_import(engine, path)
    assert report.details["ignored_columns"] == [] and report.details["samples"]["ladder"] == 1
    got = stored(engine)
    assert got == {"S1": expected(calls["S1"]), "S2": expected(calls["S2"])}


# ---------------------------------------------------------------------------------------
# OSIRIS "Spreadsheet" export (tab.xsl): Sample, one column per locus, cells "a, b", OL before an
# off-ladder allele's name, optionally "<locus>-<channel>" headings


@pytest.mark.parametrize("channels", [False, True])
def test_osiris_spreadsheet_export(tmp_path, engine, channels):
    markers = [m for m, _ in MARKERS]
    heading = [f"{m}-{k % 5 + 1}" if channels else m for k, m in enumerate(markers)]
    s1, s2, s3 = profile(21), profile(22), profile(23)

    def record(name, calls, **over):
        cells = [", ".join(over.get(m, calls.get(m, []))) for m in markers]
        return name + "\t" + "\t".join(cells)

    lines = ["Sample\t" + "\t".join(heading),
             record("Ladder_01", ladder()),
             record("S1", s1),
             record("S2", s2, D21S11=["OL30.1", s2["D21S11"][-1]], TPOX=["8", "9", "11"], D2S1338=[]),
             record("S3", s3, FGA=["OL"]),
             record("S3", s3),
             record("NEG_01", {})]
    path = tmp_path / "osiris.tab"
    path.write_text("\n".join(lines) + "\n")
    report = run_import(engine, path)
    details = report.details
    assert details["format"] == "osiris" and details["num_rows"] == 6
    assert details["samples"] == {"imported": 3, "ladder": 1, "negative_control": 1}
    got = stored(engine)
    assert got["S1"] == expected(s1)
    assert got["S2"] == expected(s2, untyped=("D21S11", "TPOX", "D2S1338"))
    assert got["S3"] == expected(s3)
    untyped = {(u["sample"], u["locus"]): (u["lines"], u["reason"]) for u in details["untyped_loci"]}
    assert untyped[("S2", "D21S11")] == ("4", "off-ladder (OL)")
    assert untyped[("S2", "TPOX")][0] == "4" and "3 alleles 8/9/11" in untyped[("S2", "TPOX")][1]
    assert untyped[("S2", "D2S1338")] == ("4", "no call")
    notes = {o["sample"]: o for o in details["outcomes"]}
    assert notes["S3"]["lines"] == "5-6" and "re-injections agree, merged" in notes["S3"]["notes"][0]
    assert any("SE33" in w and "left out of every sample" in w for w in details["warnings"])


def test_osiris_export_with_a_locus_twice_is_refused(tmp_path):
    path = tmp_path / "osiris.tab"
    path.write_text("Sample\tTH01\tTHO1\nS1\t9, 9.3\t9, 9.3\n")
    with pytest.raises(ImportRejected) as exc:
        read_genotype_file(path, model=MODEL)
    assert exc.value.problems == [f"{path}:1: locus TH01 is typed twice: column 2 'TH01' and column 3 'THO1' are "
                                  "the same locus after names are normalised; keep one"]


# ---------------------------------------------------------------------------------------
# a sample imported twice: a re-typing is a correction, never an overwrite


def test_a_sample_imported_again_says_what_differs_and_how_to_correct(tmp_path, engine):
    first = tmp_path / "first.csv"
    first.write_text("sample_id,locus,allele1,allele2\nS1,D3S1358,15,16\nS1,vWA,14,17\n")
    run_import(engine, first)
    retyped = tmp_path / "retyped.csv"
    retyped.write_text("sample_id,locus,allele1,allele2\nS2,TH01,7,9\nS1,D3S1358,15,16\nS1,vWA,14,18\n"
                       "S1,TH01,9,9\n")
    with pytest.raises(ImportRejected) as exc:
        run_import(engine, retyped)
    assert exc.value.problems == [
        f"{retyped}:3: sample 'S1' is already in the database (batch 1) with another profile (2 loci differ: "
        "TH01 untyped -> 9/9, VWA 14/17 -> 14/18); a re-typing replaces a profile only as a correction, kept "
        f"with the old one: reunite correct profile S1 --file {retyped} --reason '...'"]
    same = tmp_path / "same.csv"
    same.write_text("sample_id,locus,allele1,allele2\nＳ１,vWA,17,14\nS1,D3S1358,16,15\n")
    with pytest.raises(ImportRejected) as exc:
        run_import(engine, same)
    assert exc.value.problems == [f"{same}:2: sample 'S1' is already in the database with the same profile "
                                  "(batch 1); leave it out of the file"]
    with pytest.raises(ImportRejected) as exc:
        run_import(engine, first)
    assert exc.value.problems[0].startswith(f"{first}: this file (SHA-256 ") and \
        f"was already imported as batch 1 from {first} on " in exc.value.problems[0]
    with Session(engine) as session:
        assert session.execute(select(ImportBatch.id)).scalars().all() == [1]
    assert stored(engine) == {"S1": {"D3S1358": ("15", "16"), "VWA": ("14", "17")}}


# ---------------------------------------------------------------------------------------
# families: the persons whose sex Amelogenin shows are printed, not only counted


def test_families_command_lists_the_persons_whose_sex_amelogenin_shows(tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    env = {"REUNITE_DATABASE_URL": url, "REUNITE_INDEX": str(tmp_path / "r.idx"), "COLUMNS": "200"}
    runner = CliRunner()
    assert runner.invoke(app, ["db", "init"], env=env).exit_code == 0
    calls = profile(31)
    g = tmp_path / "g.csv"
    g.write_text("sample_id,locus,allele1,allele2\n" + "".join(
        f"R1,{m},{a[0]},{a[-1]}\n" for m, a in calls.items() if m in USABLE_STR) + "R1,AMEL,X,X\n")
    assert runner.invoke(app, ["import", "genotypes", str(g)], env=env).exit_code == 0
    fam = tmp_path / "f.csv"
    fam.write_text("family_id,person_id,father_id,mother_id,sex,role,sample_id\n"
                   "F1,F1-MO,,,U,reference,R1\nF1,F1-M,,F1-MO,F,missing,\n")
    result = runner.invoke(app, ["import", "families", str(fam), "--no-search"], env=env)
    assert result.exit_code == 0, result.output
    assert "line 2: 'F1-MO' of family 'F1': sex U, sample 'R1' has Amelogenin X/X (female)" in result.output
    assert "correct it with 'reunite correct sex'" in " ".join(result.output.split())


def test_families_header_spellings_match_like_genotype_headers(tmp_path, engine):
    """`Person ID`, `family-id` and `SAMPLE_ID` name the same columns as in genotype files."""
    calls = profile(2)
    path = tmp_path / "g.csv"
    path.write_text("sample_id,locus,allele1,allele2\n" + "".join(
        f"R2,{m},{a[0]},{a[-1]}\n" for m, a in calls.items() if m in USABLE_STR))
    run_import(engine, path)
    fam = tmp_path / "families.csv"
    fam.write_text("Family-ID,Person ID,Father ID,Mother ID,Sex,Role,SAMPLE_ID\n"
                   "F2,F2-FA,,,M,reference,R2\nF2,F2-M,F2-FA,,F,missing,\n")
    with Session(engine) as session, session.begin():
        report = import_families(session, fam, model=MODEL)
    assert (report.num_records, report.num_rows) == (1, 2)


def test_problems_are_listed_in_file_order(tmp_path, engine):
    fam = tmp_path / "families.csv"
    fam.write_text("family_id,person_id,father_id,mother_id,sex,role,sample_id\n"
                   "F1,A,,,Q,reference,NOPE\nF2,B,,,M,boss,\nF1,C,,,M,missing,\n")
    with pytest.raises(ImportRejected) as info:
        with Session(engine) as session, session.begin():
            import_families(session, fam, model=MODEL)
    lines = [int(p.split(":")[1]) for p in info.value.problems if p.startswith(str(fam) + ":")]
    assert lines == sorted(lines) and len(lines) >= 3
