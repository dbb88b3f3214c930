"""``reunite lr FILE.fam``: every hypothesis of a Familias file against the last (or
``--reference``), checked against the pedsuite numbers in tests/data/familias/expected.json
(pedprobr likelihoods, forrel kinshipLR) to 1e-9 relative (log space below 1e-100).

Two routes: the command on the ``.fam`` file itself (with the reader of
reunite.genetics.familias), and :func:`reunite.genetics.lr_report.fam_lrs` on the file as
pedFamilias read it (``fam_parsed/*.json``), which checks the LRs independently of the reader.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reunite.cli import app
from reunite.genetics.familias import FamDatabase, FamFile, FamHypothesis
from reunite.genetics.kinship import Marker, Mutation
from reunite.genetics.lr_report import fam_lrs, flat_posteriors
from reunite.genetics.mutation import MutationModel
from reunite.genetics.pedigree import make_pedigree

FAMILIAS = Path(__file__).parent / "data" / "familias"
EXPECTED = json.loads((FAMILIAS / "expected.json").read_text())["fam_files"]
KINSHIP = sorted(name for name, entry in EXPECTED.items() if "kinship" in entry)
DVI = sorted(name for name, entry in EXPECTED.items() if entry.get("is_dvi"))
DATABASE_ONLY = sorted(name for name, entry in EXPECTED.items() if entry.get("database_only"))
REL = 1e-9

runner = CliRunner()


def flat(text: str) -> str:
    """The text with rich's line wrapping undone."""
    return " ".join(text.split())


def number(x) -> float:
    return {"Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}[x] if isinstance(x, str) else float(x)


def same(got, want, *, what) -> None:
    """Equal within 1e-9 relative; in log space below 1e-100; 0, Inf and NaN exactly."""
    g, w = number(got), number(want)
    if math.isnan(w) or math.isinf(w) or w == 0:
        assert (math.isnan(g) and math.isnan(w)) or g == w, (what, got, want)
        return
    if abs(w) < 1e-100:
        assert abs(math.log(g) - math.log(w)) <= REL * abs(math.log(w)), (what, got, want)
        return
    assert math.isclose(g, w, rel_tol=REL), (what, got, want)


def reader_available() -> bool:
    from reunite.genetics.familias import read_fam

    try:
        read_fam(FAMILIAS / "fam" / "paternity.fam")
    except NotImplementedError:
        return False
    return True


needs_reader = pytest.mark.skipif(not reader_available(), reason="the .fam reader is not there yet")


# --- the file as pedFamilias read it -----------------------------------------------------------

def _model(m: dict) -> MutationModel:
    return MutationModel("custom", matrix=m["matrix"])


def fam_from_parsed(name: str) -> FamFile:
    """A FamFile built from ``fam_parsed/NAME.json`` (pedFamilias readFam's reading)."""
    doc = json.loads((FAMILIAS / "fam_parsed" / (Path(name).stem + ".json")).read_text())
    markers = []
    for m in doc["markers"]:
        mutation = None
        if m["mutation"] is not None:
            female = _model(m["mutation"]["female"])
            male = female if m["mutation"]["sex_equal"] else _model(m["mutation"]["male"])
            mutation = Mutation(female, male)
        genotypes = {p: tuple(g[m["name"]]) for p, g in doc["genotypes"].items() if m["name"] in g}
        markers.append(Marker(m["name"], dict(zip(m["alleles"], m["afreq"])), genotypes, mutation))
    hypotheses = [FamHypothesis(h["name"], make_pedigree(h["individuals"], where=h["name"]))
                  for h in doc["hypotheses"]]
    return FamFile(name, doc["familias_version"], FamDatabase(doc["database"]["name"], []),
                   hypotheses=hypotheses, markers=markers)


@pytest.mark.parametrize("name", KINSHIP)
def test_lrs_of_the_parsed_file_agree_with_pedsuite(name):
    want = EXPECTED[name]["kinship"]
    hypotheses = EXPECTED[name]["hypotheses"]
    fam = fam_from_parsed(name)
    for reference, key in ((None, "LR_vs_last"), (hypotheses[0], "LR_vs_first")):
        out = fam_lrs(fam, reference=reference).to_json()
        assert out["reference"] == (reference or hypotheses[-1])
        assert [r["id"] for r in out["results"]] == hypotheses
        for r in out["results"]:
            h = r["id"]
            same(r["lr_total"], want[key][h], what=(name, key, h))
            same(r["loglik"], want["loglik"][h], what=(name, "loglik", h))
            same(r["posterior_flat_prior"], want["posterior_flat_prior"][h], what=(name, "flat", h))
            for value, expected in zip(r["loglik_per_marker"].values(), want["loglik_per_marker"][h]):
                same(value, expected, what=(name, "loglik_per_marker", h))
            if number(want[key][h]) != 0 and math.isfinite(number(want[key][h])):
                log10 = number(want[f"log10_{key}"][h]) if f"log10_{key}" in want else \
                    math.log10(number(want[key][h]))
                assert abs(r["log10_lr_total"] - log10) <= REL * max(1.0, abs(log10)), (name, h)


def test_flat_posteriors_keep_ratios_far_below_the_float_range():
    got = flat_posteriors([-2000.0, -2000.0 - math.log(3), -math.inf])
    assert got == pytest.approx([0.75, 0.25, 0.0], rel=1e-12)
    assert all(math.isnan(x) for x in flat_posteriors([-math.inf, -math.inf]))


# --- the command on the .fam files ------------------------------------------------------------

def lr_json(name: str, *args: str) -> dict:
    result = runner.invoke(app, ["lr", str(FAMILIAS / "fam" / name), "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@needs_reader
@pytest.mark.parametrize("name", KINSHIP)
def test_the_command_agrees_with_pedsuite(name):
    want = EXPECTED[name]["kinship"]
    hypotheses = EXPECTED[name]["hypotheses"]
    for args, key in (((), "LR_vs_last"), (("--reference", hypotheses[0]), "LR_vs_first")):
        out = lr_json(name, *args)
        assert [r["id"] for r in out["results"]] == hypotheses and out["hypotheses"] == hypotheses
        for r in out["results"]:
            same(r["lr_total"], want[key][r["id"]], what=(name, key, r["id"]))
            same(r["loglik"], want["loglik"][r["id"]], what=(name, "loglik", r["id"]))
            same(r["posterior_flat_prior"], want["posterior_flat_prior"][r["id"]], what=(name, r["id"]))
            assert r["posterior"] is None and r["verbal"]["scale"] == "enfsi2015"
            assert {"lr_per_marker", "log10_lr_total", "notes", "provenance", "loci_needing_mutation"} <= set(r)


@needs_reader
def test_the_key_numbers():
    paternity = {r["id"]: r for r in lr_json("paternity.fam", "--prior", "0.5")["results"]}
    lr = paternity["H1"]["lr_total"]
    assert lr == pytest.approx(760.344485628422, rel=REL)
    assert paternity["H1"]["posterior"] == {"prior": 0.5, "value": pytest.approx(lr / (lr + 1), rel=1e-12)}
    assert paternity["H1"]["verbal"]["words"] == "moderately strong support for H1"
    assert paternity["H1"]["provenance"]["mutation_models"]  # the file's stepwise models, recorded
    halfsib = {r["id"]: r for r in lr_json("halfsib_case.fam")["results"]}
    assert halfsib["HS"]["lr_total"] == pytest.approx(34, rel=REL)  # (1/2 + 1/(4*0.3)) (1/2 + 1/(4*0.01))
    assert halfsib["UN"]["lr_total"] == pytest.approx(1.0, rel=1e-12)
    riddle = {r["id"]: r for r in lr_json("kinship-riddle.fam")["results"]}
    assert riddle["H1"]["lr_total"] == pytest.approx(569.398917748750, rel=REL)
    assert riddle["H3"]["lr_total"] == pytest.approx(805.117513737954, rel=REL)
    assert riddle["H2"]["verbal"]["words"].startswith("no support")  # H2 = H4: LR 1, not "weak"
    ch4 = lr_json("Ch4-table-4-4.fam", "--reference", "H1")
    by = {r["id"]: r for r in ch4["results"]}
    assert by["H2"]["lr_total"] == pytest.approx(3.74999709279613e-09, rel=REL)
    assert by["H5"]["lr_total"] == pytest.approx(1.7532569275697e-15, rel=REL)
    for h in ("H6", "H7"):  # likelihood 0: no mutation model, so the inconsistent loci are exclusions
        assert by[h]["loglik"] == "-Inf" and by[h]["lr_total"] == 0 and by[h]["posterior_flat_prior"] == 0
        assert by[h]["loci_needing_mutation"] and by[h]["verbal"]["words"].startswith("exclusion")
    last = {r["id"]: r for r in lr_json("Ch4-table-4-4.fam")["results"]}  # against H7, impossible
    assert last["H1"]["lr_total"] == "Inf" and "reference H7" in last["H1"]["reason"]
    assert last["H6"]["lr_total"] == "NaN" and "0/0" in last["H6"]["reason"]


@needs_reader
def test_the_table_of_a_fam_file():
    result = runner.invoke(app, ["lr", str(FAMILIAS / "fam" / "paternity.fam"), "--prior", "0.5"],
                           env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Likelihood ratios against H2" in out and "760.3" in out and "D3S1358" in out
    assert "posterior (equal priors)" in out and "0.998687" in out and "H1: per marker" in out
    done = runner.invoke(app, ["lr", str(FAMILIAS / "fam" / "paternity.fam")], env={"COLUMNS": "40"})
    assert done.exit_code == 0 and "…" not in done.output


# --- what lr refuses --------------------------------------------------------------------------

@pytest.mark.parametrize("name", DVI)
def test_a_dvi_file_points_to_identify(name):
    result = runner.invoke(app, ["lr", str(FAMILIAS / "fam" / name)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "reunite identify" in flat(result.stderr)


@needs_reader
@pytest.mark.parametrize("name", DATABASE_ONLY)
def test_a_database_file_points_to_populations_import(name):
    result = runner.invoke(app, ["lr", str(FAMILIAS / "fam" / name)])
    assert result.exit_code == 2, result.output
    assert "reunite populations import" in flat(result.stderr)


@needs_reader
def test_errors_of_the_options(tmp_path):
    path = str(FAMILIAS / "fam" / "paternity.fam")
    result = runner.invoke(app, ["lr", path, "--reference", "H9"])
    assert result.exit_code == 2 and "'H9'" in flat(result.stderr) and "'H1', 'H2'" in flat(result.stderr)
    result = runner.invoke(app, ["lr", path, "--prior", "1.5"])
    assert result.exit_code == 2 and "--prior" in flat(result.stderr)
    scale = tmp_path / "scale.csv"
    scale.write_text("lower_bound,words\n1,neither\n1,again {favoured}\n")
    result = runner.invoke(app, ["lr", path, "--verbal-scale", str(scale)])
    assert result.exit_code == 2 and "line 3" in flat(result.stderr)
    for option in ("--keep-going", "--lenient"):  # JSON case files only: refused, not ignored
        result = runner.invoke(app, ["lr", path, option])
        assert result.exit_code == 2 and option in flat(result.stderr)


@needs_reader
def test_a_familias_file_is_known_by_its_content(tmp_path):
    copy = tmp_path / "paternity.txt"
    copy.write_bytes((FAMILIAS / "fam" / "paternity.fam").read_bytes())
    result = runner.invoke(app, ["lr", str(copy), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["reference"] == "H2"


@needs_reader
def test_a_theta_in_the_file_is_recorded_not_applied():
    """A .fam database with theta > 0: the reader warns that theta is not applied (as
    pedFamilias), so the LRs are those of theta 0, and the file's theta is in the provenance."""
    from reunite.genetics.familias import read_fam_bytes

    data = (FAMILIAS / "fam" / "paternity.fam").read_bytes()
    assert b"Theta/Kinship/Fst: 0 )" in data
    fam = read_fam_bytes(data.replace(b"Theta/Kinship/Fst: 0 )", b"Theta/Kinship/Fst: 0.02 )"), name="t.fam")
    assert fam.database.theta == 0.02 and any("not applied" in w for w in fam.warnings)
    h1 = {r.result.id: r for r in fam_lrs(fam).reports}["H1"].result
    assert h1.lr_total == pytest.approx(760.344485628422, rel=REL)  # theta 0.02 would give ~308
    assert h1.provenance["theta"] == 0.0 and h1.provenance["theta_in_file_not_applied"] == 0.02


@needs_reader
def test_the_table_states_the_provenance_of_its_lrs(tmp_path):
    """The table (not only --json) names software, frequency table, theta, kit and mutation models."""
    data = (FAMILIAS / "fam" / "paternity.fam").read_bytes()
    path = tmp_path / "theta.fam"
    path.write_bytes(data.replace(b"Theta/Kinship/Fst: 0 )", b"Theta/Kinship/Fst: 0.02 )"))
    result = runner.invoke(app, ["lr", str(path), "--summary"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert "Provenance: reunite " in text and "frequency tables: theta.fam; theta 0;" in text
    assert "kit (10 markers): D3S1358, TH01" in text and "male stepwise(rate=0.002" in text
    assert "theta 0.02 recorded in the file, not applied" in text


@needs_reader
def test_a_renormalised_frequency_table_is_named_in_the_per_marker_table(tmp_path):
    """A locus whose frequencies sum to 1.0004 is renormalised: the per-marker table says so
    (not only the JSON provenance)."""
    text = (FAMILIAS / "fam" / "paternity.fam").read_bytes()
    path = tmp_path / "sum.fam"
    path.write_bytes(text.replace(b"0.1322240269", b"0.1326240269", 1))
    result = runner.invoke(app, ["lr", str(path)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if "D3S1358" in x and "│" in x)
    assert "summed to 1.0004; renormalised" in line


def test_an_unnamed_familias_database_is_named_by_its_file_in_the_provenance():
    """Familias calls a database never named "unknown": the LR's provenance names the file."""
    from reunite.genetics.familias import read_fam

    read = read_fam(FAMILIAS / "fam" / "paternity.fam")
    assert read.database.name == "unknown"
    assert {m.source for m in read.markers} == {"paternity.fam"}
