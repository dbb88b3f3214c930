"""Genotype intake: alleles in every digit form, duplicate loci, encodings, whole-run exports
(ladders, controls, blanks, failed and OL loci, tri-alleles, re-injections), Amelogenin,
Y-STRs, the import report and the quality summary.

Every profile is simulated (tests/lab_exports.py); the control profiles are simulated too.
"""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np
import pytest
from lab_exports import (
    USABLE_STR,
    Injection,
    canonical,
    ladder,
    simulate_profile,
    write_run,
)
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from conftest import pg_database

from reunite.cli import app
from reunite.errors import ReuniteError
from reunite.genetics import pedigree as ped
from reunite.genetics.kinship import kinship_lr
from reunite.genetics.loci import (
    amelogenin_flag,
    call_str,
    normalise_allele,
    repeat_problem,
    sex_from_amelogenin,
)
from reunite.store.db import make_engine, upgrade
from reunite.store.genotype_import import (
    import_genotypes,
    read_genotype_file,
    read_genotypes,
    unpack_y_profile,
)
from reunite.store.importers import ImportRejected
from reunite.store.models import ImportBatch, Sample
from reunite.store.profiles import GeneticModel, unpack_profile
from reunite.store.runexport import ControlPatterns, load_control_patterns

POPULATION = "CHN_national_GBT37223"
MODEL = GeneticModel(POPULATION)
LONG = "sample_id,locus,allele1,allele2\n"




@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'reunite.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_engine(request, tmp_path):
    """A migrated, empty database on SQLite and on PostgreSQL (skipped without a server)."""
    if request.param == "sqlite":
        url, drop = f"sqlite:///{tmp_path / 'reunite.db'}", lambda: None
    else:
        url, drop = pg_database()
    engine = make_engine(url)
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        drop()


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def run_import(engine, path, **kw):
    with Session(engine) as session, session.begin():
        return import_genotypes(session, path, model=MODEL, **kw)


def samples(engine) -> dict[str, Sample]:
    with Session(engine) as session:
        out = {s.code: s for s in session.execute(select(Sample)).scalars()}
        session.expunge_all()
    return out


def full_profile(seed: int, *, sex="M") -> dict[str, list[str]]:
    return simulate_profile(np.random.default_rng(seed), sex=sex)


def long_rows(sample: str, calls: dict[str, list[str]]) -> str:
    return "".join(f"{sample},{m},{a[0]},{a[-1] if len(a) > 1 else ''}\n" for m, a in calls.items()
                   if a and m in USABLE_STR)


# ---------------------------------------------------------------------------------------
# alleles


@pytest.mark.parametrize("raw,expected", [
    ("９.３", "9.3"), ("９．３", "9.3"), ("１２", "12"), ("٩٫٣", "9.3"), ("١٢", "12"), ("۱۲", "12"),
    ("९.३", "9.3"), ("9。3", "9.3"), ("３０.２", "30.2"), ("15.0", "15"), ("ＯＬ", "OL")])
def test_alleles_in_every_digit_form_are_ascii(raw, expected):
    assert normalise_allele(raw) == expected
    if expected != "OL":
        assert repeat_problem(expected) is None


@pytest.mark.parametrize("label,why", [("0", "allele 0"), ("999", "expected 1 to 99"), ("100", "expected 1 to 99"),
                                       ("0.3", "expected 1 to 99"), ("banana", "not a repeat number")])
def test_implausible_repeat_numbers(label, why):
    assert why in repeat_problem(normalise_allele(label))


def test_full_width_alleles_give_the_same_lr_as_ascii():
    """Regression: '９.３' was a different allele from '9.3' (the rare-allele rule: the true
    father's LR fell several hundred-fold)."""
    def lr(child):
        marker = MODEL.marker("TH01", {"AF": ("9.3", "9.3"), "CH": child})
        return kinship_lr(ped.duo("AF", "CH"), "unrelated", [marker]).lr_total
    ascii_lr = lr((normalise_allele("9.3"), normalise_allele("6")))
    assert lr((normalise_allele("９.３"), normalise_allele("６"))) == ascii_lr
    assert lr((normalise_allele("٩٫٣"), normalise_allele("٦"))) == ascii_lr


def test_full_width_alleles_import_and_search_like_ascii(tmp_path):
    """Through import and search: a child typed with full-width digits (a Chinese input
    method) gets exactly the LR of the same child typed in ASCII."""
    from reunite.search.service import run_search
    from reunite.store.importers import import_families, import_unidentified

    rng = np.random.default_rng(7)
    father, mother = simulate_profile(rng), simulate_profile(rng, sex="F")
    child = {m: sorted([father[m][int(rng.integers(len(father[m])))], mother[m][int(rng.integers(len(mother[m])))]],
                       key=float) for m in USABLE_STR}
    child["TH01"] = ["9.3", "9.3"] if "9.3" in father["TH01"] and "9.3" in mother["TH01"] else child["TH01"]
    refs = long_rows("SFA", father) + long_rows("SMO", mother)
    to_full = str.maketrans("0123456789.", "０１２３４５６７８９．")
    lrs = {}
    for form in ("ascii", "full"):
        engine = make_engine(f"sqlite:///{tmp_path / f'{form}.db'}")
        upgrade(engine)
        rows = long_rows("SCH", child)
        if form == "full":
            rows = "".join(f"{s},{m},{a.translate(to_full)},{b.translate(to_full)}\n"
                           for s, m, a, b in (r.split(",") for r in rows.strip().split("\n")))
        g = write(tmp_path, f"{form}.csv", LONG + refs + rows, encoding="gbk")
        f = write(tmp_path, "f.csv", "family_id,person_id,father_id,mother_id,sex,role,sample_id\n"
                  "F1,FA,,,M,reference,SFA\nF1,MO,,,F,reference,SMO\nF1,CH,FA,MO,U,missing,\n")
        u = write(tmp_path, "u.csv", "person_id,sample_id\nU1,SCH\n")
        with Session(engine) as s, s.begin():
            import_genotypes(s, g, model=MODEL)
            import_families(s, f, model=MODEL)
            import_unidentified(s, u)
        assert unpack_profile(samples(engine)["SCH"].profile)["TH01"] == tuple(child["TH01"][:2]) \
            or child["TH01"][0] == child["TH01"][-1]
        with Session(engine) as s, s.begin():
            result = run_search(s, MODEL, store=False)
        lrs[form] = [c.lr for c in result.candidates]
        engine.dispose()
    assert lrs["full"] == lrs["ascii"] and lrs["ascii"][0] > 1e6


@pytest.mark.parametrize("name,text,expected", [
    ("g.csv", LONG + "S1,VWA,14,17\nS1,TH01,0,9.3\n", [":3:", "TH01", "allele 0"]),
    ("g.csv", LONG + "S1,VWA,14,999\n", [":2:", "VWA", "'999'", "1 to 99"]),
    ("g.csv", "sample_id,VWA,TH01\nS1,14/17,6/999\n", [":2:", "TH01", "'999'"]),
    ("g.tsv", "Sample Name\tMarker\tAllele 1\tAllele 2\nS1\tVWA\t0\t17\n", [":2:", "VWA", "allele 0"]),
])
def test_allele_zero_and_implausible_repeats_are_rejected_with_line(tmp_path, name, text, expected):
    path = write(tmp_path, name, text)
    with pytest.raises(ImportRejected) as info:
        read_genotypes(path, model=MODEL)
    message = info.value.problems[0]
    assert message.startswith(f"{path}:")
    for part in expected:
        assert part in message, (part, message)


def test_allele3_column_of_the_long_format_is_a_mixture_error(tmp_path):
    path = write(tmp_path, "g.csv", "sample_id,locus,allele1,allele2,allele3\nS1,VWA,14,17,\nS1,TH01,6,9.3,10\n")
    with pytest.raises(ImportRejected) as info:
        read_genotypes(path, model=MODEL)
    assert info.value.problems == [
        f"{path}:3: sample 'S1', locus TH01: a third allele '10' in column 5 ('allele3'): a mixture or an "
        "artefact; single-source profiles only"]
    ok = write(tmp_path, "ok.csv", "sample_id,locus,allele1,allele2,allele3\nS1,VWA,14,17,\n")
    assert read_genotypes(ok, model=MODEL)[0] == {"S1": {"VWA": ("14", "17")}}


@pytest.mark.parametrize("header,row", [
    ("sample_id,locus,allele1,allele2,comment", "S1,VWA,14,17,checked"),
    ("sample_id,VWA,comment", "S1,14/17,checked"),
    ("Sample Name\tMarker\tAllele 1\tAllele 2\tAnalyst", "S1\tVWA\t14\t17\tLi"),
])
def test_unknown_columns_are_errors_or_lenient_warnings(tmp_path, engine, header, row):
    sep = "\t" if "\t" in header else ","
    path = write(tmp_path, "g.txt", header + "\n" + row + "\n")
    with pytest.raises(ImportRejected) as info:
        read_genotypes(path, model=MODEL)
    assert f"{path}:1:" in info.value.problems[0] and "--lenient" in info.value.problems[0]
    assert header.split(sep)[-1] in info.value.problems[0]
    report = run_import(engine, path, lenient=True)
    assert report.num_records == 1 and report.warnings and "--lenient" in report.warnings[0]
    assert report.details["ignored_columns"] == [header.split(sep)[-1]]
    with Session(engine) as session:
        stored = json.loads(session.execute(select(ImportBatch.report)).scalar_one())
    assert stored["warnings"] == report.warnings


# ---------------------------------------------------------------------------------------
# duplicate loci after normalisation


@pytest.mark.parametrize("name,text,expected", [
    ("g.csv", "sample_id,TH01,THO1\nS1,6/9.3,6/9.3\n",
     [":1:", "locus TH01 is typed twice", "column 2 'TH01'", "column 3 'THO1'"]),
    ("g.csv", LONG + "S1,vWA,14,17\nS1,D3S1358,15,16\nS1,VWA,14,17\n",
     [":4:", "'S1'", "VWA is typed twice", "'vWA' on line 2", "'VWA' on line 4"]),
    ("g.csv", LONG + "S1,d3s1358,15,16\nS2,D3S1358,15,16\nS1,D3S1358,15,16\n",
     [":4:", "D3S1358 is typed twice", "'d3s1358' on line 2", "'D3S1358' on line 4"]),
    ("g.csv", LONG + "S1,VWA,14,17\nS1,VWA,14,17\n", [":3:", "VWA is typed twice (lines 2 and 3)"]),
    ("g.tsv", "Sample Name\tMarker\tAllele 1\tAllele 2\nS1\tvWA\t14\t17\nS1\tVWA\t14\t17\n",
     [":3:", "VWA is typed twice", "'vWA' on line 2", "'VWA' on line 3"]),
    ("g.tsv", "Sample File\tSample Name\tMarker\tAllele 1\tAllele 2\nA.hid\tS1\tTH01\t6\t9\nA.hid\tS1\tTH01\t6\t9\n",
     [":3:", "TH01 is typed twice in sample file 'A.hid' (lines 2 and 3)"]),
])
def test_duplicate_loci_name_both_spellings_and_lines(tmp_path, name, text, expected):
    path = write(tmp_path, name, text)
    with pytest.raises(ImportRejected) as info:
        read_genotypes(path, model=MODEL)
    message = info.value.problems[0]
    for part in expected:
        assert part in message, (part, message)


# ---------------------------------------------------------------------------------------
# encodings and sample ids


def test_gbk_file_from_chinese_windows(tmp_path, any_engine):
    """A long file saved as GBK (ANSI on Chinese Windows), sample ids and alleles typed with
    a Chinese input method (full-width digits and dots)."""
    prof = full_profile(11)
    rows = "".join(f"粤Ａ－００１,{m},{a[0].replace('.', '．')},{a[-1]}\n" for m, a in prof.items() if m in USABLE_STR)
    text = "sample_id,locus,allele1,allele2\r\n" + rows.replace("\n", "\r\n") + "粤Ａ－００１,AMEL,X,Y\r\n"
    path = write(tmp_path, "广州_profiles.csv", text, encoding="gbk")
    engine = any_engine
    report = run_import(engine, path)
    assert report.encoding == "gb18030" and report.details["encoding"] == "gb18030"
    stored = samples(engine)
    assert list(stored) == ["粤A-001"]
    assert unpack_profile(stored["粤A-001"].profile) == {
        canonical(m): tuple(sorted((a[0], a[-1]), key=float)) for m, a in prof.items() if m in USABLE_STR}
    assert stored["粤A-001"].amelogenin == "X/Y"
    # read as UTF-8, the first GBK byte is reported with its line
    with pytest.raises(ImportRejected) as info:
        run_import(engine, path, encoding="utf-8")
    assert f"{path}:2: byte 0x" in info.value.problems[0] and "--encoding" in info.value.problems[0]


def test_utf16_wide_file_from_excel(tmp_path, engine):
    """Excel's 'Unicode Text': UTF-16 LE with a BOM, tab-separated, CRLF."""
    a, b = full_profile(21), full_profile(22, sex="F")
    loci = USABLE_STR[:16]
    header = "sample_id\t" + "\t".join(loci) + "\tAmelogenin\tDYS391\r\n"
    body = "".join(f"{code}\t" + "\t".join("/".join(p[m]) for m in loci) + f"\t{'/'.join(p['AMEL'])}\t"
                   f"{'/'.join(p['DYS391'])}\r\n" for code, p in (("Ｗ-1", a), ("Ｗ-2", b)))
    path = tmp_path / "wide.txt"
    path.write_bytes(b"\xff\xfe" + (header + body).encode("utf-16-le"))
    report = run_import(engine, path)
    assert report.encoding == "utf-16-le" and report.notes == ["format: wide"]
    stored = samples(engine)
    assert set(stored) == {"W-1", "W-2"}
    assert unpack_profile(stored["W-1"].profile) == {canonical(m): tuple(a[m][:1] * 2 if len(a[m]) == 1 else a[m])
                                                     for m in loci}
    assert (stored["W-1"].amelogenin, stored["W-2"].amelogenin) == ("X/Y", "X")
    assert unpack_y_profile(stored["W-1"].y_profile) == {"DYS391": tuple(a["DYS391"])}
    assert stored["W-2"].y_profile is None


def test_encoding_option_on_the_command_line(tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    runner = CliRunner()
    env = {"REUNITE_DATABASE_URL": url, "COLUMNS": "100"}
    assert runner.invoke(app, ["db", "init"], env=env).exit_code == 0
    prof = full_profile(31)
    path = write(tmp_path, "g.csv", LONG + long_rows("样本1", prof), encoding="gb18030")
    result = runner.invoke(app, ["import", "genotypes", str(path), "--encoding", "gbk"], env=env)
    assert result.exit_code == 0, result.output
    assert "imported 1 profile " in result.output
    bad = runner.invoke(app, ["import", "genotypes", str(path), "--encoding", "klingon"], env=env)
    assert bad.exit_code != 0 and "unknown encoding 'klingon'" in str(bad.exception or bad.output)


@pytest.mark.parametrize("raw,problem", [("S\x071", "control character U+0007"), ("S" * 129, "at most 128")])
def test_sample_ids_are_checked(tmp_path, raw, problem):
    path = write(tmp_path, "g.csv", LONG + f"{raw},VWA,14,17\n{raw},TH01,6,7\n")
    with pytest.raises(ImportRejected) as info:
        read_genotypes(path, model=MODEL)
    assert len(info.value.problems) == 1  # reported once, on its first line
    assert info.value.problems[0].startswith(f"{path}:2: sample id") and problem in info.value.problems[0]


def test_sample_ids_are_nfkc_normalised(tmp_path):
    path = write(tmp_path, "g.csv", LONG + "ＳＡＭＰ１,VWA,14,17\nSAMP1,TH01,６,７\n")
    assert read_genotypes(path, model=MODEL)[0] == {"SAMP1": {"VWA": ("14", "17"), "TH01": ("6", "7")}}


# ---------------------------------------------------------------------------------------
# a whole run


KNOWN_9947A = full_profile(9947)  # simulated: NOT the real 9947A profile
CONTROL_PROFILES = "control,locus,allele1,allele2\n" + "".join(
    f"9947A,{m},{a[0]},{a[-1]}\n" for m, a in KNOWN_9947A.items() if a and m != "SE33")


def _run(tmp_path, *, sample_type_column=True):
    """A realistic run: 2 ladders, positive, negative and no-template controls, a reagent
    blank, and samples with every complication.  Returns (path, line map, profiles)."""
    p = {k: full_profile(100 + k, sex="F" if k == 2 else "M") for k in range(1, 9)}
    p[3] = {m: ([] if m in ("FGA", "D2S1338") else a) for m, a in p[3].items()}  # degraded: two failed loci
    p[4]["TH01"] = [p[4]["TH01"][0], "OL"]
    p[5]["TPOX"] = ["8", "9", "11"]
    first_injection_6 = {m: ([] if m == "D1S1656" else a) for m, a in p[6].items()}
    p7b = dict(p[7], vWA=["14", "18"] if p[7]["vWA"] != ["14", "18"] else ["15", "19"])
    for m in ("D3S1358", "D8S1179", "FGA", "D18S51"):  # a mixture
        p[8][m] = sorted(set(p[8][m]) | {"11", "12", "13"}, key=float)[:4] if m != "FGA" else ["20", "21", "22", "24"]
    negative = {"D3S1358": ["15"], "vWA": ["16", "17"]}  # a contaminated no-template control
    inj = [
        Injection("A01_Ladder_001.hid", "Ladder", "Allelic Ladder", ladder()),
        Injection("B01_9947A_002.hid", "9947A", "Positive Control", KNOWN_9947A),
        Injection("C01_NEG_003.hid", "NEG", "Negative Control", {}),
        Injection("D01_NTC-2_004.hid", "NTC-2", "Negative Control", negative),
        Injection("E01_RB1_005.hid", "Reagent Blank 1", "Sample", {}),
    ] + [Injection(f"{'ABCDEFGH'[k - 1]}02_S-000{k}_0{k + 5}.hid", f"S-000{k}", "Sample", p[k]) for k in range(1, 9)] + [
        Injection("F03_S-0006_014.hid", "S-0006", "Sample", first_injection_6),
        Injection("G03_S-0007_015.hid", "S-0007", "Sample", p7b),
        Injection("H12_Ladder_016.hid", "GF_LADDER_2", "Allelic Ladder", ladder()),
    ]
    path = tmp_path / "Run_2023-05-03_GeneMapperIDX.txt"
    where = write_run(path, inj, sample_type_column=sample_type_column)
    return path, where, p, p7b


def _expected_profile(calls):
    out = {}
    for m in USABLE_STR:
        a = calls[m]
        if not a or "OL" in a or len(a) > 2:
            continue
        out[canonical(m)] = (a[0], a[-1])
    return out


def test_whole_run_export_imports_with_a_correct_report(tmp_path, any_engine):
    engine = any_engine
    path, where, p, p7b = _run(tmp_path)
    profiles_csv = write(tmp_path, "controls.csv", CONTROL_PROFILES)
    report = run_import(engine, path, control_profiles=profiles_csv)
    stored = samples(engine)
    # imported: the six usable samples, with what each could give
    assert sorted(stored) == [f"S-000{k}" for k in range(1, 7)]
    for k in range(1, 7):
        assert unpack_profile(stored[f"S-000{k}"].profile) == _expected_profile(p[k]), k
    assert "SE33" not in unpack_profile(stored["S-0001"].profile)  # the table cannot use SE33
    assert "TH01" not in unpack_profile(stored["S-0004"].profile)  # OL
    assert "TPOX" not in unpack_profile(stored["S-0005"].profile)  # tri-allelic
    assert {"FGA", "D2S1338"}.isdisjoint(unpack_profile(stored["S-0003"].profile))  # failed loci
    assert "D1S1656" in unpack_profile(stored["S-0006"].profile)  # from the re-injection
    # Amelogenin and Y-STRs
    assert stored["S-0001"].amelogenin == "X/Y" and stored["S-0002"].amelogenin == "X"
    assert unpack_y_profile(stored["S-0001"].y_profile) == {"DYS391": tuple(p[1]["DYS391"]),
                                                          "YINDEL": tuple(p[1]["Yindel"])}
    assert stored["S-0002"].y_profile is None
    # the report, kept with the batch
    d = report.details
    assert d["format"] == "genemapper" and d["samples"] == {
        "imported": 6, "ladder": 2, "positive_control": 1, "negative_control": 2, "blank": 1, "rejected": 2}
    outcomes = {o["sample"]: o for o in d["outcomes"]}
    s7 = outcomes["S-0007"]
    assert s7["outcome"] == "rejected" and "re-injections disagree" in s7["notes"][0]
    first = where[("G02_S-0007_012.hid", "S-0007", "vWA")]
    second = where[("G03_S-0007_015.hid", "S-0007", "vWA")]
    assert f"line {first}, G02_S-0007_012.hid" in s7["notes"][0] and f"line {second}, G03_S-0007_015.hid" in s7["notes"][0]
    assert "/".join(p7b["vWA"]) in s7["notes"][0]
    assert outcomes["S-0008"]["outcome"] == "rejected" and "a mixture" in outcomes["S-0008"]["notes"][0]
    assert outcomes["S-0006"]["outcome"] == "imported" and "re-injections agree, merged" in outcomes["S-0006"]["notes"][0]
    assert "D1S1656" in outcomes["S-0006"]["notes"][0]
    untyped = {(u["sample"], u["locus"]): u for u in d["untyped_loci"]}
    assert "off-ladder" in untyped[("S-0004", "TH01")]["reason"]
    assert untyped[("S-0004", "TH01")]["lines"] == str(where[("D02_S-0004_09.hid", "S-0004", "TH01")])
    assert "3 alleles 8/9/11" in untyped[("S-0005", "TPOX")]["reason"]
    assert untyped[("S-0003", "FGA")]["reason"] == "no call"
    assert ("S-0006", "D1S1656") not in untyped
    assert "S-0002" in outcomes and any("Amelogenin X alone" in n for n in outcomes["S-0002"]["notes"])
    controls = {c["sample"]: c for c in d["controls"]}
    assert controls["9947A"]["status"] == "concordant" and controls["9947A"]["profile"] == "9947A"
    assert controls["NEG"]["status"] == "clean" and controls["Reagent Blank 1"]["status"] == "clean"
    assert controls["NTC-2"]["status"] == "contaminated"
    assert controls["NTC-2"]["markers_with_alleles"] == ["D3S1358", "vWA"]
    assert any("'NTC-2' shows alleles at 2 marker(s)" in w for w in d["warnings"])
    assert any("'SE33'" in w and "left out of every sample" in w for w in d["warnings"])
    assert outcomes["Ladder"]["outcome"] == "ladder" and "Sample Type 'Allelic Ladder'" in outcomes["Ladder"]["notes"][0]
    assert outcomes["Reagent Blank 1"]["outcome"] == "blank"
    assert d["quality"]["profiles"] == 6
    with Session(engine) as session:
        batch = session.execute(select(ImportBatch)).scalar_one()
        assert json.loads(batch.report) == json.loads(json.dumps(d))
        assert batch.file_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert batch.kind == "genotypes (genemapper)" and batch.num_rows == 6


def test_run_export_without_sample_type_recognises_controls_by_name(tmp_path):
    path, _, _, _ = _run(tmp_path, sample_type_column=False)
    gf = read_genotype_file(path, model=MODEL)
    kinds = {o.sample: o.outcome for o in gf.outcomes.values()}
    assert kinds["Ladder"] == kinds["GF_LADDER_2"] == "ladder"
    assert kinds["9947A"] == "positive_control"
    assert kinds["NEG"] == kinds["NTC-2"] == "negative_control" and kinds["Reagent Blank 1"] == "blank"
    assert next(c for c in gf.controls if c["sample"] == "9947A")["status"] == "not checked"
    assert set(gf.profiles) == {f"S-000{k}" for k in range(1, 7)}


def test_strict_keeps_all_or_nothing(tmp_path, engine):
    path, _, _, _ = _run(tmp_path)
    with pytest.raises(ImportRejected) as info:
        run_import(engine, path, strict=True)
    text = "\n".join(info.value.problems)
    for part in ("'Ladder' is an allelic ladder", "'NEG' is a negative control", "SE33", "off-ladder call (OL)",
                 "'S-0005', marker 'TPOX': 3 alleles", "S-0003', locus FGA: no allele", "a re-injection?"):
        assert part in text, part
    assert samples(engine) == {}


def test_a_discordant_positive_control_is_reported(tmp_path, engine):
    sample = full_profile(5)
    wrong = dict(KNOWN_9947A, TH01=["5", "6"] if KNOWN_9947A["TH01"] != ["5", "6"] else ["7", "8"], FGA=[])
    path = tmp_path / "run.txt"
    write_run(path, [Injection("A.hid", "PC_9947A_1", "Sample", wrong), Injection("B.hid", "S1", "Sample", sample)])
    report = run_import(engine, path, control_profiles=write(tmp_path, "c.csv", CONTROL_PROFILES))
    check = report.details["controls"][0]
    assert check["status"] == "discordant" and check["profile"] == "9947A"
    assert any(d.startswith("TH01: expected " + "/".join(KNOWN_9947A["TH01"])) for d in check["differences"])
    assert any(m.startswith("FGA: no call") for m in check["missing"])
    assert any("positive control 'PC_9947A_1' is discordant" in w for w in report.details["warnings"])
    assert set(samples(engine)) == {"S1"}


def test_laboratory_control_patterns(tmp_path):
    patterns = load_control_patterns(write(tmp_path, "controls.csv", "kind,pattern\nladder,LAD-\\d+\n"
                                           "positive_control,QC-POS.*\nnegative_control,QC-NEG.*\n"))
    assert patterns.kind("LAD-01")[0] == "ladder" and patterns.kind("QC-NEG-1")[0] == "negative_control"
    assert patterns.kind("Ladder") is None  # the file replaces the defaults
    assert ControlPatterns().kind("Ladder")[0] == "ladder"
    for name in ("2016001", "NC2016001", "PC20160101", "S-0071", "0071234"):
        assert ControlPatterns().kind(name) is None, name  # real sample codes are not controls
    for name, kind in (("007", "positive_control"), ("2800M_2", "positive_control"), ("阳性对照", "positive_control"),
                       ("阴性对照1", "negative_control"), ("H2O", "negative_control"), ("RB2", "blank")):
        assert ControlPatterns().kind(name)[0] == kind, name
    with pytest.raises(ReuniteError, match=r"controls.csv:2: kind must be one of"):
        load_control_patterns(write(tmp_path, "controls.csv", "kind,pattern\nreagent,RB.*\n"))
    with pytest.raises(ReuniteError, match=r"controls.csv:2: pattern '\(' is not a regular expression"):
        load_control_patterns(write(tmp_path, "controls.csv", "kind,pattern\nblank,(\n"))


def test_the_command_prints_the_report_as_a_table_without_truncating(tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    env = {"REUNITE_DATABASE_URL": url, "COLUMNS": "80"}
    runner = CliRunner()
    assert runner.invoke(app, ["db", "init"], env=env).exit_code == 0
    path, _, _, _ = _run(tmp_path)
    controls = write(tmp_path, "c.csv", CONTROL_PROFILES)
    result = runner.invoke(app, ["import", "genotypes", str(path), "--control-profiles", str(controls)], env=env)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "imported 6 profiles" in out and "format: genemapper" in out
    assert "…" not in out  # folded, never truncated
    flat = re.sub(r"[\s│┃]", "", out)  # the table's cells as one string
    for part in ("S-0007", "rejected", "re-injectionsdisagree", "S-0008", "amixture", "NTC-2", "concordantwith9947A",
                 "possiblecontamination", "G03_S-0007_015.hid"):
        assert part in flat, part
    stats = runner.invoke(app, ["stats"], env=env)
    assert stats.exit_code == 0, stats.output
    assert "profile quality" in stats.output and "Amelogenin X/Y" in stats.output
    assert "profiles with Y-STRs" in stats.output
    strict = runner.invoke(app, ["import", "genotypes", str(path), "--strict"], env=env)
    assert strict.exit_code == 1 and "allelic ladder" in str(strict.exception)


# ---------------------------------------------------------------------------------------
# Amelogenin and quality


@pytest.mark.parametrize("value,sex,flag", [("X/Y", "M", None), ("X/X", "F", None), ("X", None, "Y dropout"),
                                            ("Y", None, "without X"), ("Y/Y", None, "without X"), (None, None, None)])
def test_sex_from_amelogenin(value, sex, flag):
    assert sex_from_amelogenin(value) == sex
    assert (amelogenin_flag(value) is None) == (flag is None)
    if flag:
        assert flag in amelogenin_flag(value)


def test_amelogenin_calls_in_the_long_format(tmp_path):
    prof = long_rows("S1", full_profile(1)) + long_rows("S2", full_profile(2))
    path = write(tmp_path, "g.csv", LONG + prof + "S1,Amelogenin,Y,X\nS2,AMEL,X,\n")
    gf = read_genotype_file(path, model=MODEL)
    assert gf.amelogenin == {"S1": "X/Y", "S2": "X"}
    bad = write(tmp_path, "b.csv", LONG + prof + "S1,AMEL,X,Z\n")
    with pytest.raises(ImportRejected, match="Amelogenin calls are X and Y"):
        read_genotypes(bad, model=MODEL)
    alone = write(tmp_path, "a.csv", LONG + "S9,AMEL,X,Y\n")
    with pytest.raises(ImportRejected, match=r"a.csv:2: sample 'S9' has Amelogenin or Y-STRs but no autosomal"):
        read_genotypes(alone, model=MODEL)


def test_quality_summary_at_import(tmp_path, engine):
    good = full_profile(3)
    few = {m: a for m, a in full_profile(4).items() if m in USABLE_STR[:8]}
    homo = {m: [a[0]] for m, a in full_profile(5).items()}
    rare = dict(full_profile(6), TPOX=["8", "13.1"])
    text = LONG + long_rows("GOOD", good) + long_rows("FEW", few) + long_rows("HOMO", homo) + long_rows("RARE", rare)
    report = run_import(engine, write(tmp_path, "g.csv", text))
    q = report.details["quality"]
    assert q["profiles"] == 4 and q["too_few_loci"] == ["FEW"] and q["high_homozygosity"] == ["HOMO"]
    assert q["with_absent_alleles"] == ["RARE"]
    assert q["loci_typed"] == {"min": 8, "median": 20, "max": 20}
    notes = {o["sample"]: " ".join(o["notes"]) for o in report.details["outcomes"]}
    assert "fewer than the database's minimum of 12" in notes["FEW"]
    assert "TPOX 13.1" in notes["RARE"] and "homozygous at 20 of 20 loci" in notes["HOMO"]
    assert "GOOD" not in notes


def test_call_str_orders_and_classifies():
    assert call_str(("17", "14")).value == ("14", "17")
    assert call_str(("15",)).value == ("15", "15")
    assert call_str(("15", "OL")).status == "off_ladder"
    assert call_str(("8", "9", "11")).status == "extra"
    assert call_str(()).status == "empty"


def test_a_run_with_nothing_to_import_says_why(tmp_path):
    path = tmp_path / "run.txt"
    write_run(path, [Injection("A.hid", "Ladder", "Allelic Ladder", ladder()), Injection("B.hid", "NEG", "Sample", {})])
    with pytest.raises(ImportRejected) as info:
        read_genotypes(path, model=MODEL)
    text = "\n".join(info.value.problems)
    assert f"{path}:2: sample 'Ladder': ladder: an allelic ladder" in text
    assert "sample 'NEG': negative control" in text and "no genotypes to import" in text


def test_bad_control_files_fail_before_any_work(tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    env = {"REUNITE_DATABASE_URL": url}
    runner = CliRunner()
    assert runner.invoke(app, ["db", "init"], env=env).exit_code == 0
    path, _, _, _ = _run(tmp_path)
    bad = write(tmp_path, "c.csv", "control,locus,allele1,allele2\n9947A,VWA,14,banana\n")
    result = runner.invoke(app, ["import", "genotypes", str(path), "--control-profiles", str(bad)], env=env)
    assert result.exit_code == 1 and "c.csv:2: control '9947A', locus VWA: alleles must be repeat numbers" \
        in str(result.exception)
    assert samples(make_engine(url)) == {}
