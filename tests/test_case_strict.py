"""The kinship case format read strictly: no input silently changes an LR.

One locus under two spellings, unknown keys, repeated keys, duplicate case ids, implausible
step-wise rates and empty case lists are errors (unknown keys: warnings with --lenient); a
case-level mutation block is the default of its markers.  Every genotype is simulated.
"""

from __future__ import annotations

import copy
import json
import math

import pytest
from typer.testing import CliRunner

from reunite.cli import app
from reunite.errors import ReuniteError
from reunite.genetics import pedigree as ped
from reunite.genetics.caseio import (
    MAX_STEP_RATE,
    load_case_document,
    load_cases_json,
    parse_case,
    read_cases,
)
from reunite.genetics.kinship import Marker, check_case, kinship_lr, kinship_lr_many
from reunite.genetics.kits import CHN24, kit_markers
from reunite.simulate import simulate_genotypes
from reunite.store.profiles import GeneticModel

runner = CliRunner()
POPULATION = "CHN_national_GBT37223"
TRIO = [{"id": "AF", "sex": "M"}, {"id": "MO", "sex": "F"},
        {"id": "CH", "father": "AF", "mother": "MO", "sex": "M"}]


def trio_case(case_id: str = "trio", *, seed: int = 7) -> dict:
    """A simulated 24-locus trio in the case format, frequencies from the case's population."""
    markers = simulate_genotypes(ped.trio("AF", "MO", "CH"), seed=seed,
                                 markers=kit_markers(POPULATION, kit=CHN24, mutation=None))
    return {"id": case_id, "H1": copy.deepcopy(TRIO), "population": POPULATION,
            "markers": [{"name": m.name, "genotypes": {p: f"{a}/{b}" for p, (a, b) in m.genotypes.items()}}
                        for m in markers]}


def small_case(case_id: str = "duo") -> dict:
    return {"id": case_id, "H1": [{"id": "AF", "sex": "M"}, {"id": "CH", "father": "AF"}],
            "markers": [{"name": "D1", "afreq": {"10": 0.2, "11": 0.3, "12": 0.5},
                         "genotypes": {"AF": "10/11", "CH": "10/12"}}]}


def lr_of(raw: dict, **kw) -> float:
    case = parse_case(raw, number=1, **kw)
    return kinship_lr(case.h1, case.h2, case.markers, theta=case.theta).lr_total


def run_lr(tmp_path, doc, *args):
    path = tmp_path / "cases.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return runner.invoke(app, ["lr", str(path), *args], env={"COLUMNS": "200"})


# --- one locus under two spellings ------------------------------------------------------------

@pytest.mark.parametrize("first,second", [("TH01", "THO1"), ("vWA", "VWA"), ("D3S1358", "d3s1358")])
def test_a_locus_under_two_spellings_is_an_error_not_a_squared_lr(first, second, tmp_path):
    raw = trio_case()
    by_locus = {m["name"]: m for m in raw["markers"]}
    locus = {"TH01": "TH01", "vWA": "VWA", "D3S1358": "D3S1358"}[first]
    by_locus[locus]["name"] = first
    duplicate = dict(by_locus[locus], name=second)
    raw["markers"].append(duplicate)
    # the regression: this trio's LR came out multiplied by the locus's LR a second time
    single = copy.deepcopy(raw)
    single["markers"].pop()
    lr_single = lr_of(single)
    locus_lr = kinship_lr(parse_case(single, number=1).h1, "unrelated",
                          [m for m in parse_case(single, number=1).markers if m.name == first]).lr_total
    assert locus_lr > 1.5  # a double count would have inflated the LR noticeably
    with pytest.raises(ReuniteError) as exc:
        parse_case(raw, number=1)
    message = str(exc.value)
    assert repr(first) in message and repr(second) in message and "'trio'" in message
    # the CLI refuses it (exit 1, nothing computed), also with --keep-going for that case
    result = run_lr(tmp_path, {"cases": [raw, dict(single, id="ok")]}, "--json")
    assert result.exit_code == 1 and result.stdout == ""
    assert repr(second) in result.stderr
    result = run_lr(tmp_path, {"cases": [raw, dict(single, id="ok")]}, "--json", "--keep-going")
    out = {r["id"]: r for r in json.loads(result.stdout)["results"]}
    assert "error" in out["trio"] and out["ok"]["lr_total"] == pytest.approx(lr_single, rel=1e-12)


def test_python_api_refuses_a_locus_under_two_spellings():
    case = parse_case(trio_case(), number=1)
    th01 = next(m for m in case.markers if m.name == "TH01")
    twice = case.markers + [Marker("THO1", th01.afreq, th01.genotypes, None, th01.n_individuals)]
    for call in (lambda: kinship_lr(case.h1, "unrelated", twice, case_id="trio"),
                 lambda: kinship_lr_many([("trio", case.h1, "unrelated", twice, 0.0)]),
                 lambda: check_case(("trio", case.h1, "unrelated", twice, 0.0))):
        with pytest.raises(ReuniteError) as exc:
            call()
        assert "'TH01'" in str(exc.value) and "'THO1'" in str(exc.value) and "'trio'" in str(exc.value)
    bad = kinship_lr_many([("trio", case.h1, "unrelated", twice, 0.0),
                           ("ok", case.h1, "unrelated", case.markers, 0.0)], keep_going=True)
    assert isinstance(bad[0], ReuniteError) and not isinstance(bad[1], ReuniteError)
    with pytest.raises(ReuniteError, match="given twice"):
        kinship_lr(case.h1, "unrelated", case.markers + [th01])


# --- unknown keys -------------------------------------------------------------------------------

def with_key(level: str) -> tuple[dict, str, list[str]]:
    """A case (or document) with one unknown key at ``level``; the key and what the error names."""
    case = small_case()
    doc = {"cases": [case]}
    if level == "document":
        doc["populaton"] = POPULATION
        return doc, "populaton", ["cases", "format", "population"]
    if level == "case":
        case["theat"] = 0.05
        return doc, "theat", ["'duo'", "did you mean 'theta'", "H1", "markers", "mutation"]
    if level == "individual":
        case["H1"][1]["sx"] = "M"
        return doc, "sx", ["'duo'", "H1", "'CH'", "father", "inbreeding"]
    if level == "marker":
        case["markers"][0]["genotype"] = {"AF": "10/10"}
        return doc, "genotype", ["'duo'", "'D1'", "did you mean 'genotypes'", "afreq"]
    if level == "mutation":
        case["markers"][0]["mutation"] = {"model": "stepwise", "rate": 0.002, "rnage": 0.5}
        return doc, "rnage", ["'duo'", "'D1'", "did you mean 'range'", "rate2"]
    if level == "model":  # a key the model does not use is ignored by it: refused too
        case["markers"][0]["mutation"] = {"model": "equal", "rate": 0.002, "range": 0.5}
        return doc, "range", ["'duo'", "'D1'", "equal model", "valid keys: model, rate"]
    if level == "case_mutation":
        case["mutation"] = {"model": "equal", "rat": 0.002}
        return doc, "rat", ["'duo'", "case 'mutation'", "did you mean 'rate'"]
    raise AssertionError(level)


LEVELS = ["document", "case", "individual", "marker", "mutation", "model", "case_mutation"]


@pytest.mark.parametrize("level", LEVELS)
def test_unknown_keys_are_errors_naming_key_case_marker_and_valid_keys(level, tmp_path):
    doc, key, named = with_key(level)
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ReuniteError) as exc:
        entries = read_cases(load_case_document(path), source=str(path)).entries
        raise entries[0].error
    message = str(exc.value)
    assert f"unknown key {key!r}" in message and "valid keys" in message
    for text in named:
        assert text in message, (text, message)
    result = run_lr(tmp_path, doc, "--json")
    assert result.exit_code == 1 and result.stdout == ""  # nothing computed
    assert repr(key) in result.stderr


@pytest.mark.parametrize("level", LEVELS)
def test_lenient_turns_unknown_keys_into_warnings(level, tmp_path):
    doc, key, _ = with_key(level)
    result = run_lr(tmp_path, doc, "--json", "--lenient")
    assert result.exit_code == 0, result.output
    assert "warning" in result.stderr and repr(key) in result.stderr
    out = json.loads(result.stdout)
    warnings = out["warnings"] + out["results"][0]["warnings"]
    assert len(warnings) == 1 and repr(key) in warnings[0] and "--lenient" in warnings[0]
    expected = kinship_lr(parse_case(small_case(), number=1).h1, "unrelated",
                          parse_case(small_case(), number=1).markers)
    if level not in ("case_mutation", "mutation", "model"):  # the typo changed nothing else
        assert out["results"][0]["lr_total"] == pytest.approx(expected.lr_total, rel=1e-15)


def test_a_theta_typo_does_not_run_at_theta_zero(tmp_path):
    raw = small_case()
    raw["theat"] = 0.05
    result = run_lr(tmp_path, {"cases": [raw]})
    assert result.exit_code == 1 and "'theat' (did you mean 'theta'?)" in result.stderr
    assert "no results were written" in result.stderr
    raw["theta"] = raw.pop("theat")
    assert lr_of(raw) != lr_of(small_case())


def test_a_key_given_twice_is_an_error_even_when_lenient(tmp_path):
    text = ('{"cases": [{"id": "duo", "theta": 0.05, "theta": 0, '
            '"H1": [{"id": "AF", "sex": "M"}, {"id": "CH", "father": "AF"}], '
            '"markers": [{"name": "D1", "afreq": {"10": 0.2, "11": 0.3, "12": 0.5}, '
            '"genotypes": {"AF": "10/11", "CH": "10/12", "CH": "11/12"}}]}]}')
    for args in ((), ("--lenient",)):
        result = run_lr(tmp_path, text, *args)
        assert result.exit_code == 1 and "'theta' more than once" in result.stderr
    result = run_lr(tmp_path, text.replace('"theta": 0.05, ', ""))
    assert result.exit_code == 1 and "'CH' more than once" in result.stderr and "'D1'" in result.stderr


def test_per_sex_objects_take_female_and_male_only():
    raw = small_case()
    raw["markers"][0]["mutation"] = {"model": "stepwise", "rate": {"female": 0.001, "mal": 0.002}}
    with pytest.raises(ReuniteError, match=r"'female' and 'male', found \['female', 'mal'\]") as exc:
        parse_case(raw, number=1)
    assert "'D1'" in str(exc.value) and "'duo'" in str(exc.value)


def test_reference_case_file_is_read_strictly():
    from conftest import DATA

    raw = load_cases_json(DATA / "cases.json")
    assert len(raw) == 127
    assert all(not parse_case(c, number=k).warnings for k, c in enumerate(raw, start=1))


# --- case-level mutation, populations, format -----------------------------------------------------

def test_case_level_mutation_is_the_default_of_markers_without_one():
    block = {"model": "stepwise", "rate": {"female": 0.0005, "male": 0.003}, "rate2": 1e-6, "range": 0.1}
    raw = trio_case(seed=3)
    ch = next(m for m in raw["markers"] if m["name"] == "D12S391")
    ch["genotypes"]["CH"] = "30/31"  # a paternal exclusion that a mutation model explains
    ch["genotypes"]["AF"] = "17/18"
    without = lr_of(raw)
    assert without == 0.0
    per_marker = copy.deepcopy(raw)
    for m in per_marker["markers"]:
        m["mutation"] = dict(block)
    case_level = dict(copy.deepcopy(raw), mutation=block)
    lr_marker, lr_case = lr_of(per_marker), lr_of(case_level)
    assert lr_case > 0 and lr_case == lr_marker  # exactly the same numbers
    # a marker's own block wins; {"model": "none"} switches mutation off for that marker
    off = copy.deepcopy(case_level)
    next(m for m in off["markers"] if m["name"] == "D12S391")["mutation"] = {"model": "none"}
    assert lr_of(off) == 0.0
    parsed = parse_case(case_level, number=1)
    assert all(m.mutation is not None and m.mutation.male.rate == 0.003 for m in parsed.markers)


def test_document_population_is_the_default_of_its_cases(tmp_path):
    raw = trio_case()
    del raw["population"]
    result = run_lr(tmp_path, {"format": "kinship case format v1", "population": POPULATION,
                               "cases": [raw]}, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["results"][0]["lr_total"] == pytest.approx(lr_of(trio_case()), rel=1e-15)
    result = run_lr(tmp_path, {"format": "kinship case format v2", "cases": [raw]})
    assert result.exit_code == 1 and "'kinship case format v2'" in result.stderr


def test_marker_with_both_afreq_and_population_is_refused():
    raw = small_case()
    raw["markers"][0]["population"] = POPULATION
    with pytest.raises(ReuniteError, match="either 'afreq' or 'population'"):
        parse_case(raw, number=1)


@pytest.mark.parametrize("theta", ["0.05", None, True, float("nan")])
def test_theta_must_be_a_number(theta):
    raw = dict(small_case(), theta=theta)
    with pytest.raises(ReuniteError, match="'theta' must be a number"):
        parse_case(raw, number=1)


def test_a_case_without_markers_is_refused():
    with pytest.raises(ReuniteError, match="'markers' is empty"):
        parse_case(dict(small_case(), markers=[]), number=1)


# --- duplicate ids, implausible rates, empty case lists -------------------------------------------

def test_duplicate_case_ids_are_errors_naming_the_id_and_both_positions(tmp_path):
    doc = {"cases": [small_case("a"), small_case("b"), small_case("a")]}
    result = run_lr(tmp_path, doc)
    assert result.exit_code == 1
    assert "case #1 'a': the id 'a' is also the id of case #3" in result.stderr
    assert "case #3 'a': the id 'a' is also the id of case #1" in result.stderr
    result = run_lr(tmp_path, doc, "--json", "--keep-going")
    out = json.loads(result.stdout)["results"]
    assert result.exit_code == 1 and [("error" in r) for r in out] == [True, False, True]
    # a case with its own error keeps it, beside the duplicate id
    doc["cases"][2]["markers"][0]["genotypes"]["ZZ"] = "10/10"
    result = run_lr(tmp_path, doc)
    assert "case #3 'a': the id 'a' is also the id of case #1" in result.stderr and "'ZZ'" in result.stderr


@pytest.mark.parametrize("rate,what", [(0.2, "mutation rate 0.2"), ({"female": 0.001, "male": 0.5},
                                                                    "mutation rate (male) 0.5")])
@pytest.mark.parametrize("model", ["stepwise", "onestep"])
def test_implausible_step_rates_are_refused(rate, what, model):
    raw = small_case()
    raw["markers"][0]["mutation"] = {"model": model, "rate": rate}
    with pytest.raises(ReuniteError) as exc:
        parse_case(raw, number=1)
    assert what in str(exc.value) and "not a plausible" in str(exc.value) and "'D1'" in str(exc.value)
    raw["markers"][0]["mutation"] = {"model": model, "rate": MAX_STEP_RATE}
    parse_case(raw, number=1)
    raw["markers"][0]["mutation"] = {"model": "equal", "rate": 0.2}  # not a step-wise STR rate
    parse_case(raw, number=1)


def test_stepwise_rate2_above_the_bound_is_refused():
    raw = dict(small_case(), mutation={"model": "stepwise", "rate": 0.002, "rate2": 0.3})
    with pytest.raises(ReuniteError, match="mutation rate2 0.3 is not a plausible"):
        parse_case(raw, number=1)


def test_database_model_refuses_implausible_stepwise_rate(tmp_path):
    with pytest.raises(ReuniteError, match="--mutation-rate: rate 0.2 is not a plausible"):
        GeneticModel(POPULATION, "stepwise", 0.2)
    with pytest.raises(ReuniteError, match="--rate2"):
        GeneticModel(POPULATION, "stepwise", None, 0.5)
    GeneticModel(POPULATION, "equal", 0.2)
    GeneticModel(POPULATION, "stepwise", 0.1)
    db = tmp_path / "r.db"
    result = runner.invoke(app, ["db", "init", "--mutation-rate", "0.3"],
                           env={"REUNITE_DATABASE_URL": f"sqlite:///{db}"})
    assert result.exit_code == 1 and "not a plausible" in str(result.exception)
    assert not db.exists()  # refused before the database is created


@pytest.mark.parametrize("doc", [{"cases": []}, []])
def test_an_empty_case_list_is_an_error(doc, tmp_path):
    result = run_lr(tmp_path, doc)
    assert result.exit_code == 1 and "no cases" in result.stderr


def test_lr_without_problems_prints_no_warnings(tmp_path):
    result = run_lr(tmp_path, {"cases": [small_case()]}, "--json")
    assert result.exit_code == 0 and result.stderr == ""
    out = json.loads(result.stdout)
    assert out["warnings"] == [] and out["results"][0]["warnings"] == []
    assert not math.isnan(out["results"][0]["lr_total"])
