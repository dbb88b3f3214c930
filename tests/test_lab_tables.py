"""Laboratory frequency tables: import (long, wide, encodings, .fam), validation with line and
column, the registry (refuse, replace, immutability), and a database's own copy of its table."""

import json
import os
import stat
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reunite.cli import app
from reunite.errors import FrequencyError, ReuniteError
from reunite.genetics import table_registry
from reunite.genetics.frequencies import RawRow, check_rows, get_population
from reunite.genetics.table_import import read_table_csv, read_table_fam

DATA = Path(__file__).parent / "data"
FAM = DATA / "familias" / "fam"
runner = CliRunner()

LONG = """population,locus,allele,frequency,n_individuals
Lab,D8S1179,9,0.5,100
Lab,D8S1179,10,0.5,100
Lab,TH01,7,0.3,100
Lab,TH01,9.3,0.2,100
Lab,TH01,6,0.1,100
Lab,TH01,9,0.4,100
"""

WIDE = """Allele,D8S1179,TH01,vWA
6,,0.1,
7,,0.3,
9,0.5,0.4,
9.3,,0.2,
10,0.5,,0.5
14,,,0.5
N,100,100,120
PIC,0.5,0.6,0.7
"""


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    """Every test has its own registry; nothing touches the real home."""
    folder = tmp_path / "reunite-data"
    monkeypatch.setenv("REUNITE_DATA_DIR", str(folder))
    table_registry.clear_caches()
    yield folder
    table_registry.clear_caches()


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def imported(tmp_path, name, text, **kw):
    read = read_table_csv(write(tmp_path, f"{name}.csv", text))
    return table_registry.save_table(name, read, source_file=str(tmp_path / f"{name}.csv"), **kw)


def test_long_table_is_imported_and_found_by_get_population(tmp_path, data_dir):
    record, what = imported(tmp_path, "Lab_A", LONG, source="in-house, 2024")
    assert what == "imported" and record["num_loci"] == 2 and record["num_alleles"] == 6
    pop = get_population("Lab_A")
    assert pop.origin == "imported" and pop.sha256 == record["sha256"]
    assert pop.locus("th01").afreq == {"6": 0.1, "7": 0.3, "9": 0.4, "9.3": 0.2}
    assert pop.locus("D8S1179").n_individuals == 100
    assert record["source_file"]["layout"] == "long" and record["source_file"]["population_column"] == "Lab"
    assert record["imported_by"] and record["imported_at"] and record["source"] == "in-house, 2024"
    assert (data_dir / "frequency_tables" / "Lab_A.json").exists()


def test_wide_table_with_n_row_and_statistics_rows(tmp_path):
    read = read_table_csv(write(tmp_path, "wide.csv", WIDE))
    assert read.layout == "wide" and read.encoding == "utf-8"
    assert read.table.afreq["VWA"] == {"10": 0.5, "14": 0.5}
    assert read.table.n_individuals == {"D8S1179": 100, "TH01": 100, "VWA": 120}
    assert any("PIC (line 9)" in n for n in read.notes)
    # a 2N row gives alleles counted: N = 2N / 2
    read = read_table_csv(write(tmp_path, "wide2n.csv", WIDE.replace("N,100,100,120", "2N,200,200,240")))
    assert read.table.n_individuals == {"D8S1179": 100, "TH01": 100, "VWA": 120}


def test_long_and_wide_give_the_same_table_and_checksum(tmp_path):
    long_text = "locus,allele,frequency\n" + "".join(
        f"{locus},{a},{f}\n" for locus, afreq in (("D8S1179", {"9": 0.5, "10": 0.5}),
                                                  ("TH01", {"6": 0.1, "7": 0.3, "9": 0.4, "9.3": 0.2}),
                                                  ("VWA", {"10": 0.5, "14": 0.5})) for a, f in afreq.items())
    wide = read_table_csv(write(tmp_path, "w.csv", WIDE.replace("N,100,100,120\n", "")))
    long = read_table_csv(write(tmp_path, "l.csv", long_text))
    assert wide.table.afreq == long.table.afreq
    assert table_registry.table_csv(wide.table.afreq, wide.table.n_individuals) == \
        table_registry.table_csv(long.table.afreq, long.table.n_individuals)


def test_long_columns_in_any_order(tmp_path):
    read = read_table_csv(write(tmp_path, "o.csv", "allele,frequency,locus\n9,0.5,vWA\n10,0.5,vWA\n"))
    assert read.layout == "long" and read.table.afreq == {"VWA": {"9": 0.5, "10": 0.5}}


def test_utf8_bom_and_gb18030_chinese_headers(tmp_path):
    bom = read_table_csv(write(tmp_path, "bom.csv", "\ufeff" + LONG))
    assert bom.encoding == "utf-8 (with BOM)" and bom.table.afreq["D8S1179"] == {"9": 0.5, "10": 0.5}
    chinese = "基因座,等位基因,频率,样本量\nD8S1179,９,0.5,100\nD8S1179,10,0.5,100\nPenta D,9,1.0,100\n"
    gb = read_table_csv(write(tmp_path, "gb.csv", chinese, encoding="gb18030"))
    assert gb.encoding == "gb18030"
    assert gb.table.afreq == {"D8S1179": {"9": 0.5, "10": 0.5}, "PENTA_D": {"9": 1.0}}
    forced = read_table_csv(write(tmp_path, "gb2.csv", chinese, encoding="gb18030"), encoding="gb18030")
    assert forced.table.afreq == gb.table.afreq
    with pytest.raises(FrequencyError, match="cannot be read as utf-8"):
        read_table_csv(tmp_path / "gb.csv", encoding="utf-8")


def test_sample_size_option_fills_gaps_and_never_overrides(tmp_path):
    text = "locus,allele,frequency\nD8S1179,9,0.5\nD8S1179,10,0.5\n"
    read = read_table_csv(write(tmp_path, "a.csv", text), sample_size=250)
    assert read.table.n_individuals == {"D8S1179": 250}
    with pytest.raises(FrequencyError, match=r"line 2, column 4 'n_individuals'.*sample size 100 in the file but "
                                             r"--sample-size 250"):
        read_table_csv(write(tmp_path, "b.csv", LONG.replace("Lab,", "")
                             .replace("population,", "")), sample_size=250)


BAD_LONG = [
    ("D8S1179,9,1.2,100", r"bad\.csv line 3, column 3 'frequency': expected a frequency in \(0, 1\], found '1\.2'"),
    ("D8S1179,9,0,100", r"line 3, column 3 'frequency'.*found '0' \(leave out alleles not observed\)"),
    ("D8S1179,9,abc,100", r"line 3, column 3 'frequency': expected a frequency such as 0\.125, found 'abc'"),
    ("D8S1179,9,12.5%,100", r"line 3, column 3 'frequency'.*a percentage"),
    ("D8S1179,10.0,0.5,100", r"line 3, column 2 'allele': locus D8S1179 allele 10 appears twice \(first on line 2\)"),
    ("D8S1179,11,0.4,100", r"bad\.csv lines 2-3, locus D8S1179: frequencies sum to 0\.9"),
    ("D8S1179,11,0.5,12.5", r"line 3, column 4 'n_individuals': expected a positive whole number"),
    ("D8S1179,11,0.5,-3", r"line 3, column 4 'n_individuals': expected a positive whole number"),
    ("D8S1179,11,0.5,99", r"line 3, column 4 'n_individuals': locus D8S1179 has sample size 99 here but 100 on "
                          r"line 2"),
    ("Amelogenin,X,0.5,100", r"line 3, column 1 'locus': AMELOGENIN is not an autosomal STR"),
    ("DYS391,10,0.5,100", r"line 3, column 1 'locus': DYS391 is not an autosomal STR"),
    ("Ho,10,0.5,100", r"line 3, column 1 'locus': 'HO' is not a locus name"),
    ("D8S1179,0,0.5,100", r"line 3, column 2 'allele': allele '0': allele 0 is not a repeat number"),
    ("D8S1179,abc,0.5,100", r"line 3, column 2 'allele': allele 'abc': not a repeat number"),
    ("D8S1179,150,0.5,100", r"line 3, column 2 'allele'.*not a plausible repeat number"),
]


@pytest.mark.parametrize("row,message", BAD_LONG)
def test_every_validation_error_names_file_line_and_column(tmp_path, row, message):
    text = f"locus,allele,frequency,n_individuals\nD8S1179,10,0.5,100\n{row}\n"
    with pytest.raises(FrequencyError, match=message):
        read_table_csv(write(tmp_path, "bad.csv", text))


def test_all_problems_are_listed_at_once_and_nothing_is_imported(tmp_path, data_dir):
    text = "locus,allele,frequency\nD8S1179,9,1.5\nTH01,7,abc\nTH01,8,0.2\n"
    with pytest.raises(FrequencyError) as info:
        read_table_csv(write(tmp_path, "bad.csv", text))
    message = str(info.value)
    assert "problem(s), nothing imported" in message
    assert "line 2, column 3 'frequency'" in message and "line 3, column 3 'frequency'" in message
    assert "locus TH01: frequencies sum to 0.2" in message
    result = runner.invoke(app, ["populations", "import", str(tmp_path / "bad.csv"), "--name", "Bad"])
    assert result.exit_code != 0 and isinstance(result.exception, FrequencyError)
    assert not (data_dir / "frequency_tables" / "Bad.json").exists()


@pytest.mark.parametrize("text,message", [
    ("locus,allele,frequency,comment\nD8S1179,9,1,x\n", r"line 1: unknown column\(s\) column 4 'comment'"),
    ("locus,frequency\nD8S1179,1\n", r"line 1: missing column\(s\) allele"),
    ("marker;value\nD8S1179;1\n", r"neither layout"),
    ("population,locus,allele,frequency\nA,D8S1179,9,1\nB,D8S1179,9,1\n", r"holds 2 populations.*--only"),
    ("Allele,D8S1179,Ho\n9,1,0.5\n", r"column 3 'Ho' of the header \(line 1\): 'HO' is not a locus name"),
    ("Allele,D8S1179\n9,1\nxyz,0.5\n", r"line 3, column 1 'Allele': allele 'xyz': not a repeat number"),
    ("Allele,D8S1179\n9,0.5\n10,0.5\nN,abc\n", r"line 2, column 2 'D8S1179' \(row 'N', line 4\): expected a "
                                               r"positive whole number"),
    ("Allele,D8S1179,TH01\n9,0.5,1,0.3\n", r"line 2: 4 cells but the header has 3 columns"),
    ("", r"the file is empty"),
])
def test_layout_errors(tmp_path, text, message):
    with pytest.raises(FrequencyError, match=message):
        read_table_csv(write(tmp_path, "t.csv", text))


def test_only_picks_one_population_of_a_long_file(tmp_path):
    text = "population,locus,allele,frequency\nA,D8S1179,9,1\nB,D8S1179,10,1\n"
    read = read_table_csv(write(tmp_path, "t.csv", text), only="B")
    assert read.table.afreq == {"D8S1179": {"10": 1.0}} and read.population == "B"
    with pytest.raises(FrequencyError, match="no such population"):
        read_table_csv(tmp_path / "t.csv", only="C")


def test_the_shipped_table_passes_the_same_validation_but_for_the_known_se33_gap():
    """The one validator, applied to the shipped CSV: only GB/T SE33 (allele 30.2 missing,
    sum 0.954, documented in SOURCES.md) fails."""
    import csv
    from importlib import resources

    ref = resources.files("reunite") / "data" / "allele_frequencies.csv"
    with ref.open("r", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    by_pop: dict[str, list[RawRow]] = {}
    for line, row in enumerate(rows, start=2):
        by_pop.setdefault(row["population"], []).append(
            RawRow(row["locus"], row["allele"], row["frequency"], row["n_individuals"], line, {}))
    problems = {pop: check_rows(raw, source=pop).errors for pop, raw in by_pop.items()}
    bad = {pop: errs for pop, errs in problems.items() if errs}
    assert list(bad) == ["CHN_national_GBT37223"]
    assert len(bad["CHN_national_GBT37223"]) == 1 and "locus SE33: frequencies sum to 0.954" in \
        bad["CHN_national_GBT37223"][0]


def test_same_content_is_unchanged_different_content_refused_unless_replace(tmp_path, data_dir):
    first, _ = imported(tmp_path, "Lab_B", LONG)
    again, what = imported(tmp_path, "Lab_B", LONG.replace("population,", "").replace("Lab,", ""))
    assert what == "unchanged" and again["sha256"] == first["sha256"]  # same table, other layout
    changed = LONG.replace("9.3,0.2", "9.3,0.15").replace("6,0.1", "6,0.15")
    with pytest.raises(FrequencyError) as info:
        imported(tmp_path, "Lab_B", changed)
    message = str(info.value)
    assert first["sha256"] in message and "--replace" in message
    new_sha = table_registry.sha256_text(table_registry.table_csv(
        read_table_csv(tmp_path / "Lab_B.csv").table.afreq, read_table_csv(tmp_path / "Lab_B.csv").table.n_individuals))
    assert new_sha in message
    record, what = imported(tmp_path, "Lab_B", changed, replace=True, reason="corrected 9.3")
    assert what == "replaced" and record["replaces"]["sha256"] == first["sha256"]
    assert get_population("Lab_B").locus("TH01").afreq["9.3"] == 0.15
    history = data_dir / "frequency_tables" / ".history"
    assert Path(record["replaces"]["archived_as"]).exists()
    log = [json.loads(line) for line in (history / "log.jsonl").read_text().splitlines()]
    assert log[-1]["action"] == "replaced" and log[-1]["reason"] == "corrected 9.3"


def test_names_shipped_or_malformed_are_refused(tmp_path):
    for name, message in (("CHN_national_GBT37223", "shipped with reunite"), ("bad name", "expected 1 to 64"),
                          ("../etc", "expected 1 to 64"), ("", "expected 1 to 64")):
        with pytest.raises(FrequencyError, match=message):
            imported(tmp_path, "x", LONG) if False else table_registry.save_table(
                name, read_table_csv(write(tmp_path, "t.csv", LONG)))


def test_stored_file_is_read_only_and_a_tampered_file_is_refused(tmp_path, data_dir):
    imported(tmp_path, "Lab_C", LONG)
    path = data_dir / "frequency_tables" / "Lab_C.json"
    assert not (path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    os.chmod(path, 0o644)
    record = json.loads(path.read_text())
    record["table_csv"] = record["table_csv"].replace("0.5", "0.6", 1)
    path.write_text(json.dumps(record))
    table_registry.clear_caches()
    with pytest.raises(FrequencyError, match="changed after import"):
        get_population("Lab_C")
    listed = runner.invoke(app, ["populations"], env={"COLUMNS": "250"})  # the listing goes on past it
    assert listed.exit_code == 0 and "CHN_national_GBT37223" in listed.output
    assert "refused" in listed.output and "Lab_C.json: its content was changed" in " ".join(listed.output.split())


def test_remove_archives_the_table(tmp_path, data_dir):
    imported(tmp_path, "Lab_D", LONG)
    result = runner.invoke(app, ["populations", "remove", "Lab_D", "--reason", "superseded"])
    assert result.exit_code == 0, result.output
    assert "keep the copy they recorded" in result.output
    assert not (data_dir / "frequency_tables" / "Lab_D.json").exists()
    with pytest.raises(FrequencyError, match="unknown population 'Lab_D'"):
        get_population("Lab_D")
    with pytest.raises(FrequencyError, match="cannot be removed"):
        table_registry.remove_table("CHN_national_GBT37223")


def test_cli_import_list_and_show(tmp_path):
    path = write(tmp_path, "wide.csv", WIDE)
    result = runner.invoke(app, ["populations", "import", str(path), "--name", "Lab_E", "--source", "paper X"])
    assert result.exit_code == 0, result.output
    assert "imported table Lab_E: 3 loci, 8 alleles" in result.output and "read as wide CSV, encoding utf-8" in \
        result.output
    again = runner.invoke(app, ["populations", "import", str(path), "--name", "Lab_E"])
    assert again.exit_code == 0 and "nothing changed" in again.output
    listed = runner.invoke(app, ["populations"], env={"COLUMNS": "250"})
    assert listed.exit_code == 0
    assert "CHN_national_GBT37223" in listed.output and "shipped" in listed.output
    assert "Lab_E" in listed.output and "imported" in listed.output
    shown = runner.invoke(app, ["populations", "show", "Lab_E"], env={"COLUMNS": "250"})
    assert shown.exit_code == 0
    sha = get_population("Lab_E").sha256
    assert sha in shown.output and "paper X" in shown.output and "VWA" in shown.output
    no_name = runner.invoke(app, ["populations", "import", str(path)])
    assert no_name.exit_code != 0 and "--name" in str(no_name.exception)


def test_processes_importing_at_once_leave_one_table(tmp_path, data_dir):
    """Four processes import four different tables under one name at once: exactly one wins,
    the others are refused with both checksums; no temporary file is left."""
    import subprocess
    import sys

    script = ("import sys; from reunite.genetics import table_registry as r; "
              "from reunite.genetics.table_import import read_table_csv as read\n"
              "try:\n    print(r.save_table('Lab_P', read(sys.argv[1]))[1])\n"
              "except Exception as exc:\n    print('refused', type(exc).__name__)\n")
    files = []
    for k in range(4):
        text = f"locus,allele,frequency\nD8S1179,9,{0.5 + k / 100}\nD8S1179,10,{0.5 - k / 100}\n"
        files.append(write(tmp_path, f"p{k}.csv", text))
    env = {**os.environ, "REUNITE_DATA_DIR": str(data_dir)}
    procs = [subprocess.Popen([sys.executable, "-c", script, str(f)], stdout=subprocess.PIPE, text=True, env=env)
             for f in files]
    outcomes = sorted(p.communicate(timeout=120)[0].strip() for p in procs)
    assert outcomes == ["imported"] + ["refused FrequencyError"] * 3, outcomes
    assert [p.name for p in (data_dir / "frequency_tables").iterdir() if not p.name.startswith(".")] == \
        ["Lab_P.json"]
    assert not list((data_dir / "frequency_tables").glob(".*.tmp"))


def test_concurrent_imports_do_not_interleave(tmp_path, data_dir):
    read = read_table_csv(write(tmp_path, "t.csv", LONG))
    outcomes, errors = [], []

    def run(name):
        try:
            outcomes.append(table_registry.save_table(name, read)[1])
        except ReuniteError as exc:  # pragma: no cover - would be a failure
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f"Lab_{k % 3}",)) for k in range(9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and sorted(outcomes).count("imported") == 3 and outcomes.count("unchanged") == 6
    assert sorted(p.name for p in (data_dir / "frequency_tables").glob("*.json")) == \
        ["Lab_0.json", "Lab_1.json", "Lab_2.json"]
    assert not list((data_dir / "frequency_tables").glob("*.tmp"))


# --- a database keeps its table ------------------------------------------------------------

def _init_db(tmp_path, monkeypatch, population):
    monkeypatch.setenv("REUNITE_DATABASE_URL", f"sqlite:///{tmp_path / 'lab.db'}")
    result = runner.invoke(app, ["db", "init", "--population", population, "--min-common-loci", "2"])
    assert result.exit_code == 0, (result.output, result.exception)


def _open_model():
    from reunite.cli_common import open_store

    table_registry.clear_caches()  # as a new process would
    return open_store()[1]


def test_db_init_records_the_table_and_survives_its_removal(tmp_path, monkeypatch, data_dir):
    record, _ = imported(tmp_path, "Lab_F", LONG)
    _init_db(tmp_path, monkeypatch, "Lab_F")
    model = _open_model()
    assert model.population == "Lab_F" and model.loci() == {"D8S1179", "TH01"}
    assert model.marker("TH01").afreq["9.3"] == 0.2
    table_registry.remove_table("Lab_F")
    table_registry.clear_caches()
    with pytest.raises(FrequencyError):
        get_population("Lab_F")  # gone from the registry ...
    model = _open_model()  # ... but the database uses the copy it recorded
    pop = get_population("Lab_F")
    assert pop.origin == "database" and pop.sha256 == record["sha256"]
    assert model.marker("TH01").afreq == {"6": 0.1, "7": 0.3, "9": 0.4, "9.3": 0.2}
    # every candidate the database stores names the table's content by its checksum
    from reunite.search.service import provenance

    assert provenance(model, ["TH01"])["frequency_table_sha256"] == record["sha256"]


def test_a_different_table_under_the_same_name_is_a_clear_error(tmp_path, monkeypatch):
    first, _ = imported(tmp_path, "Lab_G", LONG)
    _init_db(tmp_path, monkeypatch, "Lab_G")
    changed = LONG.replace("9.3,0.2", "9.3,0.15").replace("6,0.1", "6,0.15")
    second, what = imported(tmp_path, "Lab_G", changed, replace=True)
    assert what == "replaced"
    with pytest.raises(FrequencyError) as info:
        _open_model()
    message = str(info.value)
    assert first["sha256"] in message and second["sha256"] in message and "never changes" in message
    result = runner.invoke(app, ["db", "init", "--population", "Lab_G", "--min-common-loci", "2"])
    assert result.exit_code != 0  # re-initialising does not paper over it either
    # removing the new table resolves it: the database goes back to its own copy
    table_registry.remove_table("Lab_G")
    assert _open_model().marker("TH01").afreq["9.3"] == 0.2


def test_lr_with_an_imported_table(tmp_path):
    imported(tmp_path, "Lab_H", LONG)
    cases = {"format": "kinship case format v1", "population": "Lab_H", "cases": [{
        "id": "duo", "H1": [{"id": "AF", "sex": 1}, {"id": "CH", "father": "AF", "mother": "MO", "sex": 1}],
        "markers": [{"name": "TH01", "genotypes": {"AF": "9.3/9.3", "CH": "7/9.3"}}]}]}
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(cases))
    result = runner.invoke(app, ["lr", str(path), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)["results"][0]
    assert out["lr_total"] == pytest.approx(1 / (2 * 0.2), rel=1e-12)  # paternity index 1/(2p)
    # an imported table may later be replaced under its name: the LR records which content it used
    from reunite.genetics.frequencies import get_population

    assert out["provenance"]["frequency_table_sha256"] == {"Lab_H": get_population("Lab_H").sha256}


# --- Familias database files ---------------------------------------------------------------

def _fam_or_skip(path, **kw):
    try:
        return read_table_fam(path, **kw)
    except NotImplementedError:
        pytest.skip("the .fam reader (reunite.genetics.familias.read_fam) has not landed yet")


@pytest.mark.parametrize("name,num_loci,db_name", [("Exercise-Screening-Freq", 16, "Untitled database"),
                                                   ("Exercise-Helicopter-Freq", 21, "Exercise_4_9_2")])
def test_fam_database_is_imported_with_its_mutation_models_recorded(tmp_path, name, num_loci, db_name):
    read = _fam_or_skip(FAM / f"{name}.fam")
    parsed = json.loads((DATA / "familias" / "fam_parsed" / f"{name}.json").read_text())
    assert read.layout == "fam" and len(read.table.afreq) == num_loci
    for marker in parsed["markers"]:
        ours = read.table.afreq[marker["name"]]
        for allele, freq in zip(marker["alleles"], marker["afreq"]):
            assert ours[allele] == pytest.approx(freq, rel=1e-12)
    assert len(read.mutation_models) == num_loci
    model = next(iter(read.mutation_models.values()))
    assert model["female"]["model"] == "equal" and model["female"]["rate"] == pytest.approx(0.001)
    assert read.familias["database_name"] == db_name
    result = runner.invoke(app, ["populations", "import", str(FAM / f"{name}.fam")])
    assert result.exit_code == 0, (result.output, result.exception)
    stored = name.replace("-", "-") if db_name == "Untitled database" else db_name
    pop = get_population(stored)
    assert pop.metadata["mutation_models"] and pop.metadata["source_file"]["layout"] == "fam"
    shown = runner.invoke(app, ["populations", "show", stored], env={"COLUMNS": "250"})
    assert "mutation models recorded" in shown.output and "equal rate 0.001" in shown.output


def test_a_familias_rest_allele_is_refused_with_a_reason(tmp_path):
    with pytest.raises(FrequencyError) as info:
        _fam_or_skip(FAM / "halfsib_case.fam")
    message = str(info.value)
    assert "allele 'Rest allele': not a repeat number" in message and "stands for every allele not listed" in message
    assert "line 0" not in message and "lines 0-0" not in message
