"""What ``reunite lr`` gives a report to quote: verbal scales (ENFSI 2015, AFSP 2009, Nordgaard
et al. 2012, or a laboratory's file), the posterior for a stated prior (closed forms, extreme
LRs), the loci that need a mutation under H1, and the table and JSON output."""

from __future__ import annotations

import json
import math
import random
from decimal import Decimal, getcontext
from fractions import Fraction

import pytest
from typer.testing import CliRunner

from reunite.cases.candidates import verbal_lr
from reunite.cli import app
from reunite.genetics.kinship import Marker, Mutation, kinship_lr, kinship_lr_many
from reunite.genetics.lr_report import loci_needing_mutation_many, make_report
from reunite.genetics.mutation import MutationModel
from reunite.genetics.pedigree import duo, trio
from reunite.genetics.posterior import check_prior, posterior, posterior_from_log10, posterior_of_lr
from reunite.genetics.verbal import (
    AFSP_2009,
    ENFSI_2015,
    NORDGAARD_2012,
    SCALES,
    VerbalScaleError,
    get_scale,
    read_scale,
    verbal_equivalent,
)

runner = CliRunner()


def flat(text: str) -> str:
    """The text with rich's line wrapping undone."""
    return " ".join(text.split())

# --- verbal scales: naive oracles written from the published tables -------------------------

ENFSI_TABLE = [  # (low, high): LR in [low, high) -> words; ENFSI 2015 p. 17, bounds to the higher step
    (Fraction(10), Fraction(100), "moderate"), (Fraction(100), Fraction(1000), "moderately strong"),
    (Fraction(1000), Fraction(10_000), "strong"), (Fraction(10_000), Fraction(10**6), "very strong")]


def naive_enfsi(lr: float, h1="H1", h2="H2") -> str:
    x = Fraction(repr(lr))  # the LR as printed: 0.1 is 1/10, worded as 10 for H2
    favoured = h1
    if x < 1:
        x, favoured = 1 / x, h2
    if x == 1:
        return "no support for either proposition (LR = 1)"
    if x < 10:
        return f"weak support for {favoured}"
    if x >= 10**6:
        return f"extremely strong support for {favoured}"
    return next(f"{w} support for {favoured}" for lo, hi, w in ENFSI_TABLE if lo <= x < hi)


def naive_nfc(lr: float) -> str:
    """The Swedish NFC scale as the police publish it (levels by V, negative levels 1/V)."""
    x = Fraction(repr(lr))
    levels = [(Fraction(10**6), 4), (Fraction(6000), 3), (Fraction(100), 2), (Fraction(6), 1)]
    if Fraction(1, 6) < x < 6:
        return "0"
    if x >= 6:
        return "+" + str(next(k for bound, k in levels if x >= bound))
    return "-" + str(next(k for bound, k in levels if x <= 1 / bound))


def test_enfsi_matches_the_published_table_on_many_lrs():
    rng = random.Random(20150)
    lrs = [10.0 ** rng.uniform(-9, 9) for _ in range(3000)]
    lrs += [1.0, 2.0, 10.0, 100.0, 1e3, 1e4, 1e6, 0.5, 0.1, 0.01, 1e-3, 1e-4, 1e-6, 9.999, 1e6 * (1 - 1e-15)]
    for lr in lrs:
        assert verbal_equivalent(lr, scale=ENFSI_2015).words == naive_enfsi(lr), lr


def test_nordgaard_matches_the_nfc_levels_including_their_bounds():
    rng = random.Random(2012)
    lrs = [10.0 ** rng.uniform(-8, 8) for _ in range(3000)]
    lrs += [6.0, 1 / 6, 100.0, 0.01, 6000.0, 1 / 6000, 1e6, 1e-6, 5.999, 0.17, 1.0]
    for lr in lrs:
        words = verbal_equivalent(lr, scale=NORDGAARD_2012).words
        assert words.startswith(f"level {naive_nfc(lr)}:"), (lr, words)
    assert "support H2 to some extent" in verbal_equivalent(1 / 6, scale=NORDGAARD_2012).words  # -1: V <= 1/6
    assert verbal_equivalent(6.0, scale=NORDGAARD_2012).words.startswith("level +1")


def test_afsp_words_and_its_open_top_step():
    assert verbal_equivalent(5.0, scale=AFSP_2009).words == "weak or limited support for H1"
    assert verbal_equivalent(1e6, scale=AFSP_2009).words == "very strong support for H1"  # "> 1,000,000"
    assert verbal_equivalent(1.000001e6, scale=AFSP_2009).words == "extremely strong support for H1"
    assert verbal_equivalent(1e-5, scale=AFSP_2009).words == "very strong support for H2"


@pytest.mark.parametrize("scale", list(SCALES.values()))
def test_symmetry_and_the_special_values(scale):
    for lr in (3.0, 42.0, 777.0, 12345.0, 4e7):
        up = verbal_equivalent(lr, scale=scale, h1="father", h2="unrelated").words
        down = verbal_equivalent(1 / lr, scale=scale, h1="father", h2="unrelated").words
        assert down == up.replace("father", "\0").replace("unrelated", "father").replace("\0", "unrelated") \
            .replace("level +", "level -"), (lr, up, down)
    zero = verbal_equivalent(0.0, scale=scale, h1="HS", h2="UN")
    assert zero.words.startswith("exclusion") and "HS" in zero.words and zero.scale == scale.name
    nan = verbal_equivalent(math.nan, scale=scale)
    assert nan.words.startswith("inconclusive") and nan.note
    inf = verbal_equivalent(math.inf, scale=scale)
    assert inf.words == verbal_equivalent(1e30, scale=scale).words and "Inf" in inf.note


def test_lrs_beyond_the_float_range_are_worded_from_log10():
    assert verbal_equivalent(math.inf, log10_lr=400.0).words == "extremely strong support for H1"
    assert verbal_equivalent(math.inf, log10_lr=400.0).note is None  # not an impossible H2
    assert verbal_equivalent(0.0, log10_lr=-400.0).words == "extremely strong support for H2"
    assert verbal_equivalent(5e-324).words == "extremely strong support for H2"  # 1/LR overflows
    # an LR equal to 1 but for float rounding (two routes to the same likelihood) is LR = 1
    assert verbal_equivalent(0.9999999999999993).words.startswith("no support")
    assert verbal_equivalent(1.0000001).words == "weak support for H1"


def test_the_candidates_keep_their_words():
    """candidates.verbal_lr is defined by the ENFSI scale here, its words unchanged."""
    assert verbal_lr(0.0) == verbal_lr(0.5) == "supports the alternative: unrelated (H2)"
    assert verbal_lr(1.0) == "no support for either proposition (LR = 1)"
    assert verbal_lr(1.5) == "weak support for the relationship (H1)"
    assert verbal_lr(math.inf) == verbal_lr(2e6) == "extremely strong support for the relationship (H1)"
    for lr in (2.0, 10.0, 99.0, 1e3, 1e4, 5e5):
        assert verbal_lr(lr) == naive_enfsi(lr, h1="the relationship (H1)")


# --- scale files --------------------------------------------------------------------------

GOOD_CSV = """# name: lab-2024
# source: Laboratory procedure 12 (2024)
lower_bound,upper_bound,words
1,>1,neither {favoured} nor {other}
>1,100,some support for {favoured}
100,,strong support for {favoured}
"""


def test_a_csv_scale_file(tmp_path):
    path = tmp_path / "scale.csv"
    path.write_text(GOOD_CSV)
    scale = get_scale(str(path))
    assert scale.name == "lab-2024" and scale.source == "Laboratory procedure 12 (2024)"
    assert verbal_equivalent(1.0, scale=scale).words == "neither H1 nor H2"
    assert verbal_equivalent(50.0, scale=scale).words == "some support for H1"
    assert verbal_equivalent(100.0, scale=scale).words == "strong support for H1"
    assert verbal_equivalent(0.001, scale=scale).words == "strong support for H2"


def test_a_json_scale_file(tmp_path):
    path = tmp_path / "scale.json"
    path.write_text(json.dumps({"name": "two-step", "source": "test", "steps": [
        {"lower_bound": 1, "words": "nothing to say"}, {"lower_bound": 1000, "words": "supports {favoured}"}]},
        indent=1))
    scale = read_scale(path)
    assert verbal_equivalent(999.0, scale=scale).words == "nothing to say"
    assert verbal_equivalent(1 / 1000, scale=scale, h2="UN").words == "supports UN"


@pytest.mark.parametrize("text,line,what", [
    ("lower_bound,words\n1,a\n100,b {favoured}\n10,c {favoured}\n", 4, "increase"),
    ("lower_bound,words\n1,a\n10,b {favoured}\n10,c {favoured}\n", 4, "increase"),
    ("lower_bound,words\n2,a\n10,b {favoured}\n", 2, "start at LR 1"),
    ("lower_bound,upper_bound,words\n1,5,a\n10,,b {favoured}\n", 2, "gap"),
    ("lower_bound,upper_bound,words\n1,50,a\n10,,b {favoured}\n", 2, "overlap"),
    ("lower_bound,upper_bound,words\n1,10,a\n10,1e6,b {favoured}\n", 3, "gap"),
    ("lower_bound,words,colour\n1,a,red\n", 1, "unknown column 'colour'"),
    ("lower_bound,words\n1,a\nten,b {favoured}\n", 3, "positive number"),
    ("lower_bound,words\n1,a\n10,b {favored}\n", 3, "unknown placeholder {favored}"),
    ("lower_bound,words\n1,a\n10,strong support\n", 3, "{favoured}"),
    ("lower_bound,words\n1,a\n10,\n", 3, "empty"),
    ("lower_bound,words\n1,a\n10,b,{favoured}\n", 3, "expected 2 cells"),
])
def test_bad_csv_scale_files_name_the_line(tmp_path, text, line, what):
    path = tmp_path / "scale.csv"
    path.write_text(text)
    with pytest.raises(VerbalScaleError) as info:
        read_scale(path)
    message = str(info.value)
    assert f"line {line}" in message and what in message and str(path) in message, message


@pytest.mark.parametrize("doc,line,what", [
    ('{"steps": [\n {"lower_bound": 1, "words": "a"},\n {"lower_bound": 0.5, "words": "b {favoured}"}\n]}',
     3, "increase"),
    ('{"steps": [\n {"lower_bound": 1, "words": "a", "colour": 1}\n]}', 2, "unknown key 'colour'"),
    ('{"name": "x", "author": "y", "steps": []}', 1, "unknown key 'author'"),
    ('{"steps": [\n {"lower_bound": 1, "words": "a"},,\n]}', 2, "not valid JSON"),
])
def test_bad_json_scale_files_name_the_line(tmp_path, doc, line, what):
    path = tmp_path / "scale.json"
    path.write_text(doc)
    with pytest.raises(VerbalScaleError) as info:
        read_scale(path)
    assert f"line {line}" in str(info.value) and what in str(info.value), str(info.value)


def test_an_unknown_scale_name():
    with pytest.raises(VerbalScaleError, match="enfsi2015, afsp2009, nordgaard2012"):
        get_scale("enfsi2016")
    assert get_scale(None) is ENFSI_2015 and get_scale("AFSP2009") is AFSP_2009


# --- posterior ----------------------------------------------------------------------------

def decimal_posterior(log10_lr: float, prior: float) -> Decimal:
    """The oracle: LR·P / (LR·P + 1 − P) in 80-digit decimals."""
    getcontext().prec = 80
    lr = Decimal(10) ** Decimal(log10_lr)
    p = Decimal(prior)
    return lr * p / (lr * p + 1 - p)


def test_posterior_closed_forms():
    assert posterior(760.344485628422, 0.5) == pytest.approx(760.344485628422 / 761.344485628422, rel=1e-15)
    assert posterior(1.0, 0.3) == pytest.approx(0.3, rel=1e-15)  # LR 1 leaves the prior as it was
    assert posterior(34.0, 0.2) == pytest.approx(34 * 0.2 / (34 * 0.2 + 0.8), rel=1e-15)
    assert posterior(0.0, 0.5) == 0.0 and posterior(math.inf, 1e-9) == 1.0
    assert math.isnan(posterior(math.nan, 0.5)) and math.isnan(posterior_of_lr(math.nan, math.nan, 0.5))
    assert posterior_from_log10(-math.inf, 0.5) == 0.0 and posterior_from_log10(math.inf, 0.5) == 1.0


def test_posterior_of_extreme_lrs_agrees_with_decimals():
    rng = random.Random(7)
    for _ in range(2000):
        log10_lr = rng.uniform(-300, 300)
        prior = 10.0 ** rng.uniform(-12, -1e-9) if rng.random() < 0.5 else rng.uniform(1e-6, 1 - 1e-6)
        want = decimal_posterior(log10_lr, prior)
        lr = 10.0 ** log10_lr
        for got in (posterior_from_log10(log10_lr, prior), posterior_of_lr(lr, log10_lr, prior)):
            if want > Decimal("0.5"):  # compare the complement, where the information is
                assert float(1 - Decimal(got)) == pytest.approx(float(1 - want), rel=1e-9, abs=1e-15)
            else:
                assert got == pytest.approx(float(want), rel=1e-9, abs=1e-300), (log10_lr, prior)
    # LRs beyond the float range: only log10 is exact
    assert posterior_of_lr(math.inf, 400.0, 0.5) == 1.0
    assert posterior_of_lr(0.0, -305.0, 0.5) == pytest.approx(1e-305, rel=1e-9)
    assert posterior_of_lr(math.inf, 400.0, 1e-300) == 1.0
    assert posterior_of_lr(math.inf, 320.0, 1e-30) == pytest.approx(1.0)


@pytest.mark.parametrize("bad", [0, 1, -0.1, 1.5, math.nan, "half"])
def test_a_prior_outside_0_1_is_refused(bad):
    with pytest.raises(ValueError, match="prior"):
        check_prior(bad)


# --- loci needing a mutation --------------------------------------------------------------

ALLELES = ["10", "11", "12", "13", "14"]
AFREQ = {a: f for a, f in zip(ALLELES, (0.1, 0.2, 0.3, 0.25, 0.15))}


def naive_needs_mutation(genotypes: dict, *, mother: bool) -> bool:
    """Mendel by hand: the child needs one allele of the father (and the other of the mother)."""
    child, father = genotypes["CH"], genotypes["AF"]
    if not mother:
        return not set(child) & set(father)
    mom = genotypes["MO"]
    return not ((child[0] in father and child[1] in mom) or (child[1] in father and child[0] in mom))


def test_loci_needing_mutation_agree_with_mendel_on_random_cases():
    rng = random.Random(99)
    equal = Mutation.same(MutationModel("equal", rate=0.005))
    stepwise = Mutation(MutationModel("stepwise", rate=0.001, rate2=1e-6, range=0.1),
                        MutationModel("stepwise", rate=0.002, rate2=1e-6, range=0.1))
    cases, want = [], []
    for k in range(60):
        with_mother = k % 2 == 0
        people = ["AF", "MO", "CH"] if with_mother else ["AF", "CH"]
        markers, expected = [], []
        for j in range(8):
            genos = {p: (rng.choice(ALLELES), rng.choice(ALLELES)) for p in people}
            mutation = (None, equal, stepwise)[j % 3]
            markers.append(Marker(f"M{j}", AFREQ, genos, mutation))
            if naive_needs_mutation(genos, mother=with_mother):
                expected.append(f"M{j}")
        cases.append((f"c{k}", trio() if with_mother else duo(), "unrelated", markers, 0.0))
        want.append(expected)
    results = kinship_lr_many(cases)
    got = loci_needing_mutation_many(cases, results)
    assert got == want
    assert sum(map(len, want)) > 20  # the check has teeth
    for case, result, loci in zip(cases, results, got):
        for m in case[3]:
            if m.name in loci:  # explained by a model where there is one, an exclusion where not
                assert (result.lr_per_marker[m.name] > 0) == (m.mutation is not None)


def test_report_fields_of_one_result():
    m = Marker("D1", {"a": 0.1, "b": 0.2, "c": 0.7}, {"AF": ("a", "a"), "CH": ("b", "c")},
               Mutation.same(MutationModel("equal", rate=0.01)))
    case = ("x", duo(), "unrelated", [m], 0.0)
    res = kinship_lr(duo(), "unrelated", [m], case_id="x")
    loci = loci_needing_mutation_many([case], [res])[0]
    report = make_report(res, loci_needing_mutation=loci, prior=0.5)
    out = report.to_json()
    assert out["loci_needing_mutation"] == ["D1"]
    assert out["posterior"] == {"prior": 0.5, "value": pytest.approx(res.lr_total / (res.lr_total + 1))}
    assert out["verbal"]["scale"] == "enfsi2015" and "support for H2" in out["verbal"]["words"]
    assert {"id", "lr_total", "log10_lr_total", "lr_per_marker", "notes", "provenance"} <= set(out)
    assert make_report(res, loci_needing_mutation=loci).to_json()["posterior"] is None


# --- the command --------------------------------------------------------------------------

def mutation_case_file(tmp_path, *, mutation=True):
    marker = {"name": "D3S1358", "afreq": {"14": 0.1, "15": 0.25, "16": 0.25, "17": 0.2, "18": 0.2},
              "genotypes": {"AF": "14/15", "CH": "16/17"}}
    if mutation:
        marker["mutation"] = {"model": "stepwise", "rate": 0.002, "rate2": 1e-6, "range": 0.1}
    doc = {"cases": [{"id": "duo_one_step", "H1": [{"id": "AF", "sex": "M"}, {"id": "CH", "father": "AF"}],
                      "markers": [marker, {"name": "TH01", "afreq": {"6": 0.2, "9.3": 0.8},
                                           "genotypes": {"AF": "6/9.3", "CH": "6/6"}}]}]}
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(doc))
    return path


def test_the_table_shows_markers_mutations_posterior_and_verbal(tmp_path):
    path = mutation_case_file(tmp_path)
    result = runner.invoke(app, ["lr", str(path), "--prior", "0.5"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert "duo_one_step: per marker" in out and "D3S1358" in out and "TH01" in out
    assert "needs a mutation under H1 (explained by the mutation model)" in out
    assert "posterior (prior 0.5)" in out and "verbal (ENFSI 2015)" in out
    assert "classic probability of paternity" in out and "ENFSI Guideline" in out
    data = json.loads(runner.invoke(app, ["lr", str(path), "--json", "--prior", "0.5"]).stdout)["results"][0]
    lr = data["lr_total"]
    assert data["loci_needing_mutation"] == ["D3S1358"]
    assert data["posterior"] == {"prior": 0.5, "value": pytest.approx(lr / (lr + 1), rel=1e-12)}
    assert f"{lr / (lr + 1):.6f}" in out
    assert data["verbal"]["words"] in " ".join(out.split())
    th01 = data["lr_per_marker"]["TH01"]  # 6/6 child of a 6/9.3 father: 1/(2p)
    assert th01 == pytest.approx(1 / (2 * 0.2)) and f"{math.log10(th01):.3f}" in out


def test_without_a_mutation_model_the_loci_are_the_exclusions(tmp_path):
    path = mutation_case_file(tmp_path, mutation=False)
    data = json.loads(runner.invoke(app, ["lr", str(path), "--json"]).stdout)["results"][0]
    assert data["lr_total"] == 0 and data["loci_needing_mutation"] == ["D3S1358"]
    assert data["verbal"]["words"].startswith("exclusion") and data["posterior"] is None
    table = runner.invoke(app, ["lr", str(path), "--summary"], env={"COLUMNS": "250"}).output
    assert "per marker" not in table and "D3S1358" in table


def test_scale_option_setting_and_errors(tmp_path):
    path = mutation_case_file(tmp_path)
    nfc = json.loads(runner.invoke(app, ["lr", str(path), "--json", "--verbal-scale", "nordgaard2012"]).stdout)
    assert nfc["results"][0]["verbal"]["scale"] == "nordgaard2012"
    env = json.loads(runner.invoke(app, ["lr", str(path), "--json"], env={"REUNITE_VERBAL_SCALE": "afsp2009"}).stdout)
    assert env["results"][0]["verbal"]["scale"] == "afsp2009"
    bad = tmp_path / "bad.csv"
    bad.write_text("lower_bound,words\n1,a\n0.5,b {favoured}\n")
    result = runner.invoke(app, ["lr", str(path), "--verbal-scale", str(bad)])
    assert result.exit_code == 2 and "line 3" in flat(result.stderr) and "Traceback" not in result.output
    result = runner.invoke(app, ["lr", str(path)], env={"REUNITE_VERBAL_SCALE": "nonesuch"})
    assert result.exit_code == 2 and "REUNITE_VERBAL_SCALE" in flat(result.stderr)
    for prior in ("0", "1", "-1", "2"):
        result = runner.invoke(app, ["lr", str(path), "--prior", prior])
        assert result.exit_code == 2 and "--prior" in flat(result.stderr), prior
    result = runner.invoke(app, ["lr", str(path), "--reference", "H1"])
    assert result.exit_code == 2 and ".fam" in flat(result.stderr)
