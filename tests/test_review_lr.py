"""Review of `reunite lr` and the kinship case format: no input silently changes an LR.

Locus spellings of common kits merge only when they are one locus; allele labels in every
form are one allele or an error; colliding frequency labels, zero frequencies of observed
alleles, missing-allele codes (``0``, ``-``), Amelogenin, Y- and X-STRs are errors; ``--lenient``
gives exactly the numbers of the corrected file; the reference cases still agree.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reunite.cli import app
from reunite.errors import ReuniteError
from reunite.genetics.caseio import parse_case
from reunite.genetics.frequencies import list_populations
from reunite.genetics.kinship import Marker, Mutation, kinship_lr
from reunite.genetics.loci import normalise_locus
from reunite.genetics.mutation import MutationModel

DATA = Path(__file__).parent / "data"
TRIO = [{"id": "AF", "sex": "M"}, {"id": "MO", "sex": "F"},
        {"id": "CH", "father": "AF", "mother": "MO", "sex": "M"}]
TH01 = {"6": 0.1, "7": 0.2, "9": 0.2, "9.3": 0.3, "10": 0.2}
D8 = {"10": 0.1, "12": 0.2, "13": 0.3, "14": 0.4}
BASE = {"id": "trio", "H1": TRIO, "markers": [
    {"name": "TH01", "afreq": TH01, "genotypes": {"AF": "9.3/10", "MO": "6/7", "CH": "7/9.3"}},
    {"name": "D8S1179", "afreq": D8, "genotypes": {"AF": "12/13", "MO": "10/14", "CH": "13/14"}},
]}


def base() -> dict:
    return copy.deepcopy(BASE)


def run_lr(tmp_path, doc, *args):
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    result = CliRunner().invoke(app, ["lr", str(path), *args])
    result.flat = " ".join(result.output.split())  # rich wraps long messages
    return result


def lr_total(case) -> float:
    c = parse_case(case, number=1)
    return kinship_lr(c.h1, c.h2, c.markers, theta=c.theta).lr_total


# ---------------------------------------------------------------------------------------
# locus names


@pytest.mark.parametrize("spellings", [
    ["D8S1179", "d8s1179", "D8 S1179", "Ｄ８Ｓ１１７９", "D8S1179\u200b", "\ufeffD8S1179"],
    ["vWA", "VWA", "vwa", "ｖＷＡ"],
    ["TH01", "THO1", "Th01", "TH 01", "TH0１"],
    ["Penta D", "PentaD", "PENTA_D", "Penta-D", "penta d"],
    ["CSF1PO", "CSFIPO", "CSF1-PO"],
    ["SE33", "ACTBP2"],
    ["FGA", "FIBRA"],
    ["Amelogenin", "AMEL", "amelogenin"],
    ["DYS391", "DYS 391"],
    ["D22GATA198B05", "D22-GATA198B05"],
])
def test_spellings_of_one_locus_are_one_locus(spellings):
    assert len({normalise_locus(s) for s in spellings}) == 1, \
        {s: normalise_locus(s) for s in spellings}


@pytest.mark.parametrize("first,second", [
    ("D12ATA63", "D12S391"), ("DYS389I", "DYS389II"), ("Penta D", "Penta E"),
    ("D2S441", "D2S1338"), ("DYS385a", "DYS385b"), ("D22S1045", "D22GATA198B05"),
    ("D19S433", "D1S1656"), ("D10S1248", "D1S1656"), ("D6S1043", "D6S1017"), ("CSF1PO", "FGA"),
])
def test_two_loci_are_never_merged(first, second):
    assert normalise_locus(first) != normalise_locus(second)


def test_no_two_loci_of_the_shipped_tables_share_a_name():
    for pop in list_populations():
        for locus in pop.loci:
            assert normalise_locus(locus) == locus  # idempotent: one name per table


@pytest.mark.parametrize("second", ["Ｄ８Ｓ１１７９", "D8S1179\u200b", "d8s1179"])
def test_a_locus_under_a_full_width_or_invisible_spelling_is_not_counted_twice(second, tmp_path):
    case = base()
    marker = copy.deepcopy(case["markers"][1])
    marker["name"] = second
    case["markers"].append(marker)
    result = run_lr(tmp_path, {"cases": [case]})
    assert result.exit_code == 1, result.output
    assert "same" in result.flat and "D8S1179" in result.flat
    markers = [Marker(m["name"], m["afreq"], m["genotypes"]) for m in case["markers"]]
    with pytest.raises(ReuniteError, match="D8S1179"):
        kinship_lr(TRIO, "unrelated", markers)


@pytest.mark.parametrize("first,second", [("CSF1PO", "CSFIPO"), ("SE33", "ACTBP2")])
def test_kit_synonyms_are_one_locus_in_a_case(first, second, tmp_path):
    case = base()
    case["markers"][1]["name"] = first
    marker = copy.deepcopy(case["markers"][1])
    marker["name"] = second
    case["markers"].append(marker)
    result = run_lr(tmp_path, {"cases": [case]})
    assert result.exit_code == 1 and "same locus" in result.flat, result.output


def test_csfipo_finds_the_csf1po_table():
    case = {"id": "p", "H1": TRIO, "population": "CHN_national_GBT37223",
            "markers": [{"name": "CSFIPO", "genotypes": {"AF": "10/11", "CH": "10/12"}}]}
    same = copy.deepcopy(case)
    same["markers"][0]["name"] = "CSF1PO"
    assert lr_total(case) == lr_total(same)


@pytest.mark.parametrize("name,why", [
    ("Amelogenin", "Amelogenin"), ("AMEL", "Amelogenin"), ("DYS391", "Y-chromosome"),
    ("Y-GATA-H4", "Y-chromosome"), ("Yindel", "Y-chromosome"), ("DXS10135", "X-chromosome"),
])
def test_sex_linked_markers_are_refused_not_computed_as_autosomal(name, why, tmp_path):
    case = base()
    case["markers"].append({"name": name, "afreq": {"X": 0.5, "Y": 0.5, "10": 0.0},
                            "genotypes": {"AF": "X/Y", "CH": "X/Y"}})
    result = run_lr(tmp_path, {"cases": [case]})
    assert result.exit_code == 1 and why in result.flat, result.output
    # with a shipped table too: the reason, not "no table"
    case["markers"][-1] = {"name": name, "population": "CHN_national_GBT37223"}
    result = run_lr(tmp_path, {"cases": [case]})
    assert result.exit_code == 1 and why in result.flat, result.output
    with pytest.raises(ReuniteError, match=why):
        kinship_lr(TRIO, "unrelated", [Marker(name, {"X": 0.5, "Y": 0.5}, {"AF": ("X", "Y")})])


# ---------------------------------------------------------------------------------------
# allele labels


@pytest.mark.parametrize("genotype", [
    "9.3/10", "9.30/10.0", "9.3/10.00", " 9.3 / 10 ", "９.３/１０", "９．３/10", "9。3/10",
    ["9.3", 10], ["9.3", 10.0], [9.3, "10"], "10/9.3", "9.3,10",
])
def test_every_form_of_an_allele_gives_the_same_lr(genotype):
    case = base()
    case["markers"][0]["genotypes"]["AF"] = genotype
    assert lr_total(case) == lr_total(base())


@pytest.mark.parametrize("allele,why", [
    ("1e1", "not a repeat number"), ("10.", "not a repeat number"), ("inf", "not a repeat"),
    ("nan", "not a repeat"), ("-10", "not a repeat"), ("1_0", "not a repeat"),
    ("0x1A", "not a repeat"), ("9.299999999999999", "not a repeat"), ("999", "plausible"),
    ("0", "missing allele"), ("00", "missing allele"), ("-", "missing allele"),
    ("?", "missing allele"),
])
def test_alleles_that_would_silently_become_new_alleles_are_errors(allele, why, tmp_path):
    case = base()
    case["markers"][0]["genotypes"]["AF"] = ["9.3", allele]
    result = run_lr(tmp_path, {"cases": [case]})
    assert result.exit_code == 1, result.output
    assert why in result.flat and "person 'AF'" in result.flat, result.output
    case = base()
    case["markers"][0]["afreq"] = {**TH01, "10": 0.1, allele: 0.1}
    result = run_lr(tmp_path, {"cases": [case]})
    assert result.exit_code == 1 and why in result.flat, result.output


def test_missing_allele_codes_do_not_exclude_a_true_father(tmp_path):
    case = base()
    case["markers"][0]["genotypes"]["AF"] = "0/0"  # pedtools/Familias: untyped
    result = run_lr(tmp_path, {"cases": [case]}, "--json")
    assert result.exit_code == 1 and "missing allele" in result.flat, result.output


def test_named_alleles_of_hand_examples_are_kept():
    case = {"id": "hand", "H1": TRIO, "markers": [
        {"name": "M1", "afreq": {"a": 0.5, "b": 0.3, "Rest allele": 0.2},
         "genotypes": {"AF": "a/a", "CH": "a/b"}}]}
    assert lr_total(case) == pytest.approx(1 / (2 * 0.5))


@pytest.mark.parametrize("first,second", [("9.3", "９.３"), ("10", "10.0"), ("10", "10.00"),
                                          ("10", "１０")])
def test_afreq_labels_that_collide_after_normalisation_are_an_error(first, second, tmp_path):
    case = base()
    afreq = dict(TH01)
    half = afreq.pop(first) / 2
    afreq[first] = afreq[second] = half  # one allele's frequency split over two spellings
    case["markers"][0]["afreq"] = afreq
    result = run_lr(tmp_path, {"cases": [case]})
    assert result.exit_code == 1, result.output
    out = " ".join(result.output.split())
    assert "twice" in out and repr(first) in out and repr(second) in out, out


def test_an_observed_allele_with_frequency_zero_is_an_error_not_nan(tmp_path):
    case = base()
    case["markers"][0]["afreq"] = {**TH01, "6": 0.0, "7": 0.3}
    result = run_lr(tmp_path, {"cases": [case]})
    out = " ".join(result.output.split())
    assert result.exit_code == 1 and "'6' of person 'MO' has frequency 0" in out, out


# ---------------------------------------------------------------------------------------
# people, theta, mutation


def test_sex_must_not_be_a_boolean(tmp_path):
    case = base()
    case["H1"][0]["sex"] = True
    result = run_lr(tmp_path, {"cases": [case]})
    assert result.exit_code == 1 and "sex must be" in result.flat, result.output


@pytest.mark.parametrize("theta", ["0.01", True, -0.01, 1, 1.5, None, [0.01]])
def test_bad_theta_is_an_error(theta, tmp_path):
    case = base()
    case["theta"] = theta
    result = run_lr(tmp_path, {"cases": [case]})
    assert result.exit_code == 1 and "theta" in result.flat, result.output


@pytest.mark.parametrize("people,hyp", [
    ({"AF": "9.3/10", "ZZ": "6/7"}, "H1"),
])
def test_typed_people_outside_a_pedigree_are_errors(people, hyp, tmp_path):
    case = base()
    case["markers"][0]["genotypes"] = people
    result = run_lr(tmp_path, {"cases": [case]})
    assert result.exit_code == 1 and f"not in the {hyp} pedigree" in result.flat


def test_a_person_typed_in_h1_but_absent_from_h2_is_an_error(tmp_path):
    case = base()
    case["H2"] = [{"id": "AF", "sex": "M"}, {"id": "MO", "sex": "F"}]
    result = run_lr(tmp_path, {"cases": [case]})
    assert result.exit_code == 1 and "'CH' is typed but is not in the H2" in result.flat


def test_per_sex_mutation_rates_go_to_the_parent_of_that_sex():
    # the child's 11 can only come from the father (10) by a mutation; the mother fits
    afreq = {"10": 0.1, "11": 0.1, "12": 0.1, "13": 0.3, "14": 0.4}
    markers = [Marker("D8S1179", afreq, {"AF": ("10", "10"), "MO": ("13", "14"), "CH": ("11", "13")})]
    male_only = Mutation(female=MutationModel("equal", rate=0.0), male=MutationModel("equal", rate=0.002))
    female_only = Mutation(female=MutationModel("equal", rate=0.002), male=MutationModel("equal", rate=0.0))
    markers[0].mutation = male_only
    assert kinship_lr(TRIO, "unrelated", markers).lr_total > 0
    markers[0].mutation = female_only
    assert kinship_lr(TRIO, "unrelated", markers).lr_total == 0


# ---------------------------------------------------------------------------------------
# --lenient, --json, the shipped case files


def test_lenient_gives_exactly_the_numbers_of_the_corrected_file(tmp_path):
    messy = base()
    messy["theat"] = 0.05
    messy["H1"][2]["note"] = "from the police file"
    messy["markers"][0]["comment"] = "re-typed"
    messy["markers"][1]["mutation"] = {"model": "equal", "rate": 0.001, "range": 0.1}
    messy["mutation"] = {"model": "stepwise", "rate": 0.002, "rate2": 1e-6, "range": 0.1,
                         "matrix": None}
    clean = base()
    clean["markers"][1]["mutation"] = {"model": "equal", "rate": 0.001}
    clean["mutation"] = {"model": "stepwise", "rate": 0.002, "rate2": 1e-6, "range": 0.1}
    strict = run_lr(tmp_path, {"cases": [messy], "author": "x"}, "--json")
    assert strict.exit_code == 1
    lenient = run_lr(tmp_path, {"cases": [messy], "author": "x"}, "--json", "--lenient")
    assert lenient.exit_code == 0, lenient.output
    out = json.loads(lenient.stdout)
    corrected = run_lr(tmp_path, {"cases": [clean]}, "--json")
    assert corrected.exit_code == 0, corrected.output
    want = json.loads(corrected.stdout)["results"][0]
    got = out["results"][0]
    for key in ("lr_total", "log10_lr_total", "lr_per_marker", "notes"):
        assert got[key] == want[key], key
    # the warnings are kept with the case (and the document's at the top)
    assert len(got["warnings"]) == 5 and any("'theat'" in w for w in got["warnings"])
    assert want["warnings"] == []
    assert len(out["warnings"]) == 1 and "'author'" in out["warnings"][0]


@pytest.mark.parametrize("path", [DATA / "cases.json",
                                  Path(__file__).parents[1] / "demo-output" / "cases.json"])
def test_the_shipped_case_files_run_cleanly(path):
    if not path.exists():
        pytest.skip(f"{path} not present")
    result = CliRunner().invoke(app, ["lr", str(path), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["warnings"] == [] and all(r["warnings"] == [] for r in out["results"])
    assert all("error" not in r for r in out["results"])


def test_reference_cases_still_agree_with_pedsuite_through_the_command():
    result = CliRunner().invoke(app, ["lr", str(DATA / "cases.json"), "--json"])
    assert result.exit_code == 0
    ours = {r["id"]: r for r in json.loads(result.stdout)["results"]}
    expected = json.loads((DATA / "expected.json").read_text())["results"]
    assert len(ours) == len(expected) == 127

    def close(a, b):
        if a == 0 or b == 0 or isinstance(a, str) or isinstance(b, str):
            return a == b
        return abs(math.log10(a) - math.log10(b)) <= 5e-10

    for e in expected:
        o = ours[e["id"]]
        assert close(o["lr_total"], e["lr_total"]), e["id"]
        for m, v in e["lr_per_marker"].items():
            assert close(o["lr_per_marker"][m], v), (e["id"], m)


def test_h2_unrelated_keeps_the_inbreeding_of_h1_founders(tmp_path):
    # a lone typed inbred homozygote is no evidence of kinship: LR 1, not P_f(g) / P_0(g)
    case = base()
    case["H1"][0]["inbreeding"] = 0.25
    for m in case["markers"]:
        first = m["genotypes"]["AF"].split("/")[0]
        m["genotypes"] = {"AF": f"{first}/{first}"}
    assert lr_total(case) == pytest.approx(1.0, abs=1e-12)
    # and "unrelated" gives what the same H2 written out gives
    case = base()
    case["H1"][0]["inbreeding"] = 0.25
    case["markers"][0]["genotypes"]["AF"] = "9.3/9.3"
    written = copy.deepcopy(case)
    written["H2"] = [{"id": "AF", "sex": "M", "inbreeding": 0.25}, {"id": "MO", "sex": "F"},
                     {"id": "CH", "sex": "M"}]
    assert lr_total(case) == pytest.approx(lr_total(written), rel=1e-12)


def test_theta_out_of_range_is_refused_where_the_file_is_read():
    from reunite.genetics.caseio import parse_case
    from reunite.errors import CaseFormatError

    base = {"id": "a", "H1": [{"id": "F", "sex": "M"}, {"id": "C", "father": "F", "sex": "M"}],
            "markers": [{"name": "VWA", "afreq": {"14": 0.5, "17": 0.5}, "genotypes": {"F": "14/17", "C": "14/14"}}]}
    for theta in (float("inf"), float("-inf"), -0.1, 1.0, 1.5):
        with pytest.raises(CaseFormatError, match=r"'theta' must be a number in \[0, 1\)"):
            parse_case({**base, "theta": theta}, number=1)
    assert parse_case({**base, "theta": 0.05}, number=1).theta == 0.05
