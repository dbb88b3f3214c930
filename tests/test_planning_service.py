"""The planning service (reunite.cases.planning), its CLI (``reunite plan``) and its API
(/api/v1/reports/{code}/plan, /api/v1/planning/database): scoped, audited, seeded, with
provenance; the numbers equal the statistics module's.  Every profile is simulated."""

from __future__ import annotations

import json
import math
from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from records_data import import_samples, simulate
from reunite.cases import planning as service
from reunite.cases.reports import Reference, create_report
from reunite.cases.unidentified import create_unidentified
from reunite.errors import NotFound, PermissionDenied, ReuniteError
from reunite.genetics import planning as stats
from reunite.search.service import load_families
from reunite.store.db import read_only, write_transaction
from reunite.store.models import Family
from reunite.store.models_workflow import AuditEntry
from workflow_world import make_world

REPORT = "RPT-PLAN-1"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return make_plan_world(tmp_path_factory.mktemp("plan"))


def make_plan_world(tmp_path):
    """A world with one report (mother typed, father untyped) and two unidentified children."""
    w = make_world(f"sqlite:///{tmp_path / 'r.db'}")
    w.profiles = simulate(w.model, seed=21)
    w.codes = import_samples(w, tmp_path, w.profiles, prefix="S-")
    actor = w.actor("inv_butuo")
    write_transaction(w.engine, lambda s: create_report(
        s, actor=actor, code=REPORT, child_name="simulated", child_sex="M", child_birth_date=date(2015, 3, 1),
        child_birth_date_latest=date(2015, 9, 1), missing_date=date(2019, 6, 2), missing_place_code="513429",
        references=[Reference("mother", w.codes["MO"], consent_document="form-MO")]))
    for code, person, sex in (("U-1", "X", "M"), ("U-2", "Y", "F")):
        write_transaction(w.engine, lambda s, code=code, person=person, sex=sex: create_unidentified(
            s, actor=actor, code=code, sample_code=w.codes[person], sex=sex, found_date=date(2023, 1, 5)))
    return w


def _plan(world, user="inv_butuo", key=REPORT, **kw):
    actor = world.actor(user)
    kw.setdefault("num_simulations", 5000)
    return write_transaction(world.engine, lambda s: service.plan_family(s, key, actor=actor, **kw))


def test_family_plan_equals_the_statistics_and_is_audited(world):
    out = _plan(world, threshold=1000, seed=4)
    assert out["report"] == REPORT and out["missing"] == "M"
    assert [r["relation"] for r in out["references"]] == ["mother"]
    with Session(world.engine) as s:
        fid = s.execute(select(Family.id).where(Family.code == REPORT)).scalar_one()
        [record] = load_families(s, [fid])
        markers, _ = service.family_markers(world.model, record.references)
        n = s.execute(select(AuditEntry).where(AuditEntry.action == "family.plan")).scalars().all()
    dists = stats.marker_distributions(record.pedigree, missing="M", markers=markers, theta=world.model.theta)
    power = stats.family_power(dists, thresholds=[1000], num_simulations=5000, seed=4)
    assert out["mean_log10_lr_h1"] == pytest.approx(power.mean_log10_lr_h1, rel=1e-12)
    assert out["exclusion_power"] == pytest.approx(power.exclusion_power, rel=1e-12)
    assert out["p_h1"] == power.thresholds[0]["p_h1"] and out["p_h2"] == power.thresholds[0]["p_h2"]
    assert n and n[-1].entity_id == REPORT
    relatives = [r["person"] for r in out["relatives"]]
    assert relatives[0] == "FA"  # the untyped father adds most to a mother-only family
    assert out["relatives"][0]["gain_mean_log10_lr"] > 0
    prov = out["provenance"]
    assert prov["seed"] == 4 and prov["num_simulations"] == 5000 and prov["kit"] == [m.name for m in markers]
    assert prov["frequency_table"] == world.model.population
    json.dumps(out)  # JSON-ready


def test_family_plan_by_family_code_is_the_same_and_reproducible(world):
    a = _plan(world, seed=9, relatives=False)
    b = _plan(world, seed=9, relatives=False)
    assert a["p_h1"] == b["p_h1"] and a["quantiles_log10_lr_h1"] == b["quantiles_log10_lr_h1"]
    assert a["relatives"] == []


def test_family_plan_is_scoped(world):
    with pytest.raises(PermissionDenied, match="another jurisdiction"):
        _plan(world, user="inv_linyi")
    with pytest.raises(PermissionDenied):
        _plan(world, user="registrar")
    with pytest.raises(NotFound, match="no report and no family"):
        _plan(world, key="NOPE")
    with pytest.raises(ReuniteError, match="threshold"):
        _plan(world, threshold=-1)
    with pytest.raises(ReuniteError, match="simulations"):
        _plan(world, num_simulations=5)


def test_database_plan_counts_the_mix(world):
    actor = world.actor("analyst")
    with Session(read_only(world.engine)) as s:
        out = service.plan_database(s, actor=actor, thresholds=[10, 1e4], num_simulations=2000,
                                    families_per_type=3, seed=2)
    assert out["mix"] == "database" and out["num_families"] == 1 and out["num_unidentified"] == 2
    [t] = out["family_types"]
    assert t["name"] == "mother_only" and t["num_pairs"] == 1 and t["references"] == ["mother"]
    for j in range(2):
        assert out["expected_false_candidates"][j] == pytest.approx(t["p_h2"][j], rel=1e-12)  # one boy
        assert out["share_true_found"][j] == pytest.approx(t["p_h1"][j], rel=1e-12)
    assert out["provenance"]["seed"] == 2
    with Session(read_only(world.engine)) as s:
        sim = service.plan_database(s, actor=actor, mix="simulated", thresholds=[10, 1e4], num_simulations=1000,
                                    families_per_type=2, num_families=100, num_unidentified=40, seed=2)
        grown = service.plan_database(s, actor=actor, thresholds=[10, 1e4], num_simulations=2000,
                                      families_per_type=3, seed=2, num_unidentified=2000)
        with pytest.raises(PermissionDenied):
            service.plan_database(s, actor=world.actor("registrar"))
        with pytest.raises(ReuniteError, match="mix"):
            service.plan_database(s, actor=actor, mix="nope")
    assert len(sim["family_types"]) == 7 and sim["num_unidentified"] == 40
    assert grown["family_types"][0]["num_pairs"] == 1000  # half of them boys
    assert grown["expected_false_candidates"][0] == pytest.approx(1000 * out["expected_false_candidates"][0])


# ----------------------------------------------------------------------------------------
# the CLI


def _cli(world, monkeypatch, *args, code=0):
    from reunite.cli import app

    monkeypatch.setenv("REUNITE_DATABASE_URL", world.url)
    result = CliRunner().invoke(app, ["plan", *args], env={"COLUMNS": "200"})
    assert result.exit_code == code, (args, result.output, result.exception)
    if code and result.exception is not None and not isinstance(result.exception, SystemExit):
        return result.output + str(result.exception)  # the console script's main() prints it as 'error: ...'
    return result.output


def test_cli_plan_family_and_database(world, monkeypatch, tmp_path):
    out = _cli(world, monkeypatch, "--family", REPORT, "--simulations", "2000", "--as", "inv_butuo")
    assert "exclusion" in out.lower() and "FA" in out and "father" in out
    data = json.loads(_cli(world, monkeypatch, "--family", REPORT, "--simulations", "2000", "--seed", "4",
                           "--threshold", "1000", "--json", "--as", "inv_butuo"))
    assert data["threshold"] == 1000 and data["provenance"]["seed"] == 4
    chart = tmp_path / "plan.svg"
    out = _cli(world, monkeypatch, "--database", "--thresholds", "10,1e4,1e8", "--simulations", "1000",
               "--chart", str(chart), "--as", "analyst")
    assert "mother_only" in out and chart.read_text().startswith("<svg")
    data = json.loads(_cli(world, monkeypatch, "--database", "--thresholds", "10,1e4", "--simulations", "1000",
                           "--json", "--as", "analyst"))
    assert data["thresholds"] == [10, 10000]
    err = _cli(world, monkeypatch, "--family", REPORT, "--as", "inv_linyi", code=1)
    assert "another jurisdiction" in err
    assert "--family or --database" in _cli(world, monkeypatch, "--as", "analyst", code=2)
    assert "threshold" in _cli(world, monkeypatch, "--database", "--thresholds", "x", "--as", "analyst", code=2)


# ----------------------------------------------------------------------------------------
# the API


def test_api_family_and_database_plans(world):
    client = world.client("inv_butuo")
    r = client.get(f"/api/v1/reports/{REPORT}/plan", params={"simulations": 2000, "seed": 3, "threshold": 100})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["threshold"] == 100 and body["provenance"]["seed"] == 3 and body["relatives"]
    assert world.client("inv_linyi").get(f"/api/v1/reports/{REPORT}/plan").status_code == 403
    assert client.get("/api/v1/reports/NOPE/plan").status_code == 404
    assert client.get(f"/api/v1/reports/{REPORT}/plan", params={"simulations": 1}).status_code == 422
    r = world.client("analyst").get("/api/v1/planning/database",
                                    params={"thresholds": "10,1e4", "simulations": 1000, "families_per_type": 2})
    assert r.status_code == 200, r.text
    assert r.json()["thresholds"] == [10, 10000]
    assert math.isfinite(r.json()["expected_false_candidates"][0])
    assert world.client("registrar").get("/api/v1/planning/database").status_code == 403


# ----------------------------------------------------------------------------------------
# planning against the search itself


def test_expected_false_candidates_agree_with_the_search_on_a_simulated_database():
    """A simulated database in which no unidentified child belongs to any family: every
    candidate the search finds is false; their count at each threshold is Poisson around the
    planned expectation (the database mix as plan_database reads it)."""
    from collections import Counter

    from reunite.cases.statistics import _simulated_records
    from reunite.genetics.kits import CHN24
    from reunite.genetics.planning_db import FamilyType, database_plan
    from reunite.search.engine import search
    from reunite.simulate import simulate_database
    from reunite.store.profiles import GeneticModel

    db = simulate_database(400, 300, seed=8, share_found=0.0, share_partial=0.0)
    families, unidentified = _simulated_records(db)
    model = GeneticModel("CHN_national_GBT37223", min_common_loci=1)
    found = search(unidentified, families, model=model, min_lr=10.0, top_k=None, per="unidentified")
    by_sex = Counter(u.sex for u in unidentified)
    known = service._known_types()
    types: dict = {}
    for f in families:
        for m in f.missing:
            sig = service._signature(f.pedigree, m, set(f.references))
            entry = types.setdefault(sig, [known[sig], f.pedigree, m, tuple(sorted(f.references)), 0, 0])
            entry[4] += 1
            entry[5] += service._compatible(f.pedigree[m].sex, by_sex)
    types = [FamilyType(*e) for e in types.values()]
    assert sum(t.num_pairs for t in types) == found.num_compared
    ts = [10.0, 100.0, 1000.0]
    plan = database_plan(types, markers=[model.marker(l) for l in CHN24], thresholds=ts, seed=1)
    for t, expected, se in zip(ts, plan.expected_false, plan.se_expected_false):
        counted = sum(1 for c in found.candidates if c.log10_lr >= math.log10(t))
        assert abs(counted - expected) <= 4 * math.sqrt(expected + se ** 2) + 2, (t, counted, expected)


def test_rare_family_shapes_are_counted_at_the_planned_average(world):
    """A database of many family shapes simulates only the most common (each costs about a
    second); the rarer shapes' pairs are counted at the planned shapes' average rate."""
    actor = world.actor("analyst")
    with Session(read_only(world.engine)) as s:
        out = service.plan_database(s, actor=actor, mix="simulated", thresholds=[10, 1e4], num_simulations=1000,
                                    families_per_type=2, num_families=100, num_unidentified=40, seed=2,
                                    max_types=3)
        every = service.plan_database(s, actor=actor, mix="simulated", thresholds=[10, 1e4],
                                      num_simulations=1000, families_per_type=2, num_families=100,
                                      num_unidentified=40, seed=2, max_types=None)
    rows = out["family_types"]
    assert len(rows) == 3 and len(every["family_types"]) == 7
    counts = sorted((t["num_families"] for t in every["family_types"]), reverse=True)
    assert sorted((t["num_families"] for t in rows), reverse=True) == counts[:3]  # the most common
    folded = out["folded_types"]
    assert folded["shapes"] == 4 and out["num_families"] == every["num_families"] == 100
    assert out["num_pairs"] == every["num_pairs"]
    planned_pairs = sum(t["num_pairs"] for t in rows)
    assert planned_pairs + folded["pairs"] == out["num_pairs"]
    for j in range(2):
        planned = math.fsum(t["num_pairs"] * t["p_h2"][j] for t in rows)
        assert out["expected_false_candidates"][j] == pytest.approx(planned * out["num_pairs"] / planned_pairs,
                                                                    rel=1e-9)
    assert any(n["kind"] == "folded" and n["shapes"] == 4 for n in out["note_items"])
    assert every["folded_types"] is None
