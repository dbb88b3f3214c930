import json
import math

import pytest
from conftest import DATA
from typer.testing import CliRunner

from reunite.cli import app

runner = CliRunner()


def _num(x):
    return {"Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}[x] if isinstance(x, str) else x


def test_every_command_has_help():
    checked = 0
    for command in app.registered_commands:
        assert command.callback.__doc__, command.name
        result = runner.invoke(app, [command.name or command.callback.__name__, "--help"])
        assert result.exit_code == 0
        checked += 1
    for group in app.registered_groups:
        assert group.typer_instance.info.help, group.name
        for command in group.typer_instance.registered_commands:
            assert command.callback.__doc__, (group.name, command.name)
            result = runner.invoke(app, [group.name, command.name, "--help"])
            assert result.exit_code == 0, (group.name, command.name, result.output)
            checked += 1
    assert checked >= 10  # populations lr demo db-init import*3 stats search simulate


def test_populations_lists_tables():
    result = runner.invoke(app, ["populations"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "CHN_national_GBT37223" in result.output and "CN_GBT37223_APPD" in result.output


def test_lr_json_matches_expected_file():
    result = runner.invoke(app, ["lr", str(DATA / "cases.json"), "--json"])
    assert result.exit_code == 0, result.output
    ours = {r["id"]: r for r in json.loads(result.stdout)["results"]}
    expected = json.loads((DATA / "expected.json").read_text())["results"]
    assert len(ours) == len(expected)
    for e in expected:
        o = ours[e["id"]]
        assert set(o) >= {"id", "lr_total", "log10_lr_total", "lr_per_marker"}
        a, b = _num(o["lr_total"]), _num(e["lr_total"])
        assert (math.isnan(a) and math.isnan(b)) or a == b or math.isclose(a, b, rel_tol=1e-9)
    assert ours["trio_mother_excluded_no_mutation"]["lr_total"] == "NaN"


def test_lr_table(tmp_path):
    result = runner.invoke(app, ["lr", str(DATA / "cases.json")], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "duo_simple" in result.output and "2.5" in result.output


BAD = {"cases": [
    {"id": "good", "H1": [{"id": "AF", "sex": "M"}, {"id": "CH", "father": "AF"}],
     "markers": [{"name": "M1", "afreq": {"a": 0.5, "b": 0.5}, "genotypes": {"AF": "a/b", "CH": "a/a"}}]},
    {"id": "bad_person", "H1": [{"id": "AF", "sex": "M"}, {"id": "CH", "father": "AF"}],
     "markers": [{"name": "M1", "afreq": {"a": 0.5, "b": 0.5}, "genotypes": {"ZZ": "a/b"}}]},
    {"id": "bad_genotype", "H1": [{"id": "AF", "sex": "M"}, {"id": "CH", "father": "AF"}],
     "markers": [{"name": "D3", "afreq": {"a": 0.5, "b": 0.5}, "genotypes": {"AF": "a/b/c"}}]},
    {"id": "bad_model", "H1": [{"id": "AF", "sex": "M"}, {"id": "CH", "father": "AF"}],
     "markers": [{"name": "D5", "afreq": {"a": 0.5, "b": 0.5}, "genotypes": {"AF": "a/b"},
                  "mutation": {"model": "zigzag", "rate": 0.1}}]},
    {"id": "bad_sum", "H1": [{"id": "AF", "sex": "M"}, {"id": "CH", "father": "AF"}],
     "markers": [{"name": "D7", "afreq": {"a": 0.5, "b": 0.3}, "genotypes": {"AF": "a/b"}}]},
]}


def test_malformed_cases_name_case_marker_person(tmp_path):
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(BAD))
    result = runner.invoke(app, ["lr", str(path)])
    assert result.exit_code != 0
    err = result.stderr
    assert "'bad_person'" in err and "'M1'" in err and "'ZZ'" in err
    assert "'bad_genotype'" in err and "'D3'" in err and "'AF'" in err
    assert "'bad_model'" in err and "zigzag" in err
    assert "'bad_sum'" in err and "sum to 0.8" in err
    assert "--keep-going" in err


def test_keep_going_runs_the_valid_cases(tmp_path):
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(BAD))
    result = runner.invoke(app, ["lr", str(path), "--json", "--keep-going"])
    assert result.exit_code == 1
    out = {r["id"]: r for r in json.loads(result.stdout)["results"]}
    assert out["good"]["lr_total"] == pytest.approx(1.0)  # AF a/b, CH a/a: 0.5*0.5/(0.25) ... = 1
    assert "error" in out["bad_person"]


def test_invalid_json_names_line(tmp_path):
    path = tmp_path / "cases.json"
    path.write_text('{"cases": [\n  {"id": "x",,}\n]}')
    result = runner.invoke(app, ["lr", str(path)])
    assert result.exit_code == 2
    assert "line 2" in result.stderr


def test_missing_file():
    result = runner.invoke(app, ["lr", "/nonexistent/cases.json"])
    assert result.exit_code == 2 and "cannot read" in result.stderr


def test_demo_runs():
    result = runner.invoke(app, ["demo"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    for name in ("trio", "mother_duo", "full_sibs", "grandparents", "trio_mutation"):
        assert name in result.output
