"""Late birth-registration checks: the parentage LR against an independent closed form
(no mutation: trio LR_l = P(child | parents) / P(child), duo likewise), the verbal scale,
inconsistent loci, and the service: a true trio is consistent, an unrelated claimed father is
flagged (the registration office notified, the child searched against every family).
Simulated profiles only."""

from __future__ import annotations

import json
import math

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from records_data import import_samples, loci, simulate
from reunite.cases.registration import mendel_consistent, parentage_lr, run_check, show_check, verbal
from reunite.errors import Conflict, PermissionDenied, ReuniteError
from reunite.genetics.frequencies import prepare_afreq
from reunite.genetics.kinship import kinship_lr
from reunite.genetics.pedigree import make_pedigree
from reunite.store.db import write_transaction
from reunite.store.models import PendingSearch, Sample, Unidentified
from reunite.store.models_workflow import ClaimedParent, Notification, RegistrationCheck
from reunite.store.profiles import GeneticModel
from workflow_world import make_world

NO_MUTATION = GeneticModel("CHN_national_GBT37223", "none", None, min_common_loci=12)


def _freqs(model, locus):
    m = model.marker(locus)
    alleles, freqs, _ = prepare_afreq(m.afreq, n_individuals=m.n_individuals)
    return dict(zip(alleles, freqs))


def closed_form(model, child, father=None, mother=None) -> dict[str, float]:
    """Per-locus parentage LR without mutation, written out by hand."""
    out = {}
    for locus, (a, b) in child.items():
        if (father is None or locus not in father) and (mother is None or locus not in mother):
            continue
        p = _freqs(model, locus)
        prior = p[a] ** 2 if a == b else 2 * p[a] * p[b]

        def from_parent(g, allele):  # P(the parent passes ``allele``); untyped: the population
            return p[allele] if g is None else (g.count(allele) / 2)

        f = father.get(locus) if father else None
        m = mother.get(locus) if mother else None
        like = from_parent(f, a) * from_parent(m, b) + (from_parent(f, b) * from_parent(m, a) if a != b else 0.0)
        out[locus] = like / prior
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_parentage_lr_equals_the_closed_form(seed):
    prof = simulate(NO_MUTATION, seed=seed, mutation=False)
    for kw in ({"father": prof["FA"], "mother": prof["MO"]}, {"father": prof["FA"]}, {"mother": prof["MO"]},
               {"father": prof["X"]}, {"father": prof["X"], "mother": prof["MO"]}):
        got = parentage_lr(NO_MUTATION, child=prof["CH"], **kw)
        want = closed_form(NO_MUTATION, prof["CH"], kw.get("father"), kw.get("mother"))
        assert set(got.lr_per_locus) == set(want)
        for locus, value in want.items():
            assert math.isclose(got.lr_per_locus[locus], value, rel_tol=1e-9, abs_tol=1e-300), locus
        zero = sorted(l for l, v in want.items() if v == 0.0)
        assert got.inconsistent_loci == zero
        if zero:
            assert got.lr == 0.0 and got.verbal == "supports non-parentage"
        else:
            assert math.isclose(got.log10_lr, sum(math.log10(v) for v in want.values()), rel_tol=1e-9)


def test_with_mutation_it_is_the_kinship_engine_on_an_explicit_pedigree(tmp_path):
    model = make_world(f"sqlite:///{tmp_path / 'w.db'}").model
    prof = simulate(model, seed=9)
    got = parentage_lr(model, child=prof["CH"], father=prof["FA"], mother=prof["MO"])
    ped = make_pedigree([{"id": "dad", "sex": "M"}, {"id": "mum", "sex": "F"},
                         {"id": "kid", "father": "dad", "mother": "mum", "sex": "M"}])
    markers = [model.marker(l, {"kid": prof["CH"][l], "dad": prof["FA"][l], "mum": prof["MO"][l]}) for l in loci(model)]
    want = kinship_lr(ped, "unrelated", markers, theta=model.theta)
    assert math.isclose(got.log10_lr, want.log10_lr_total, rel_tol=1e-12)
    assert got.provenance["frequency_table"] == model.population and got.provenance["loci"] == loci(model)
    assert got.provenance["theta"] == 0.0 and got.provenance["software"].startswith("reunite ")


def test_verbal_scale_and_mendel():
    assert [verbal(x) for x in (0.0, 0.5, 5, 50, 500, 5000, 5e5, 5e7, math.inf)] == [
        "supports non-parentage", "supports non-parentage", "weak/limited support for parentage",
        "moderate support for parentage", "moderately strong support for parentage", "strong support for parentage",
        "very strong support for parentage", "extremely strong support for parentage",
        "extremely strong support for parentage"]  # the ENFSI 2015 scale
    assert mendel_consistent(("12", "14"), ("12", "13"), ("14", "15"))
    assert mendel_consistent(("12", "14"), ("14", "14"), None)
    assert not mendel_consistent(("12", "12"), ("12", "13"), ("14", "15"))
    assert not mendel_consistent(("12", "14"), ("15", "16"), None)
    with pytest.raises(ReuniteError, match="father"):
        parentage_lr(NO_MUTATION, child={})


@pytest.fixture
def world(tmp_path):
    w = make_world(f"sqlite:///{tmp_path / 'r.db'}")
    w.profiles = simulate(w.model, seed=21)
    w.codes = import_samples(w, tmp_path, w.profiles, prefix="S-")
    return w


def check(world, code, child="CH", father="FA", mother="MO", user="registrar", **kw):
    actor = world.actor(user)
    return write_transaction(world.engine, lambda s: run_check(
        s, actor=actor, model=world.model, code=code, child_sample_code=world.codes[child],
        father_sample_code=world.codes[father] if father else None,
        mother_sample_code=world.codes[mother] if mother else None, child_sex="F" if child == "S1" else "M",
        registration_number="HK-1",
        child_given_name="王小二", **kw).id)


def test_true_parents_are_consistent_and_not_searched(world):
    cid = check(world, "REG-1")
    with Session(world.engine) as s:
        row = s.get(RegistrationCheck, cid)
        assert row.status == "consistent" and row.log10_lr > 4 and row.verbal.endswith("support for parentage")
        child = s.get(Unidentified, row.unidentified_id)
        assert (child.code, child.category) == ("REG-1-CH", "registration_check")
        parents = s.execute(select(ClaimedParent.role, Sample.owner_kind).join(Sample, Sample.id == ClaimedParent.sample_id)
                            .where(ClaimedParent.check_id == cid).order_by(ClaimedParent.role)).all()
        assert parents == [("father", "claimed_parent"), ("mother", "claimed_parent")]
        assert s.execute(select(PendingSearch)).first() is None
        assert s.execute(select(Notification)).first() is None
        want = parentage_lr(world.model, child=world.profiles["CH"], father=world.profiles["FA"],
                            mother=world.profiles["MO"])
        assert math.isclose(row.log10_lr, want.log10_lr, rel_tol=1e-12)
        assert json.loads(row.provenance)["loci"] == want.provenance["loci"]


def test_unrelated_claimed_father_is_flagged_notified_and_searched(world):
    cid = check(world, "REG-2", father="X", mother=None)
    with Session(world.engine) as s:
        row = s.get(RegistrationCheck, cid)
        assert row.status == "flagged" and (row.lr < 1e4 or len(row.inconsistent_loci.split(",")) >= 3)
        [note] = s.execute(select(Notification)).scalars().all()
        assert note.user_id == world.user_ids["registrar"] and "REG-2" in note.subject and "王" not in note.subject
        assert s.execute(select(PendingSearch.kind, PendingSearch.subject_id)).one() == ("unidentified",
                                                                                         row.unidentified_id)
    shown = write_transaction(world.engine, lambda s: show_check(s, "REG-2", actor=world.actor("registrar")))
    assert shown["child_given_name"] == "王小二" and shown["claimed_parents"] == {"father": world.codes["X"]}
    assert set(shown["lr_per_locus"]) == set(json.loads(json.dumps(shown["provenance"]["loci"])))
    other = write_transaction(world.engine, lambda s: show_check(s, "REG-2", actor=world.actor("inv_butuo")))
    assert other["restricted"] and "child_given_name" not in other


def test_threshold_refusals_and_permissions(world):
    cid = check(world, "REG-3", threshold=1e300)  # a true trio below an absurd threshold: flagged
    with Session(world.engine) as s:
        assert s.get(RegistrationCheck, cid).status == "flagged"
    with pytest.raises(Conflict):
        check(world, "REG-4", child="S1", father="FA", mother="MO")  # FA and MO are claimed already
    with pytest.raises(Conflict):
        check(world, "REG-3", child="S1", father="PGF", mother=None)
    with pytest.raises(PermissionDenied):
        check(world, "REG-5", child="S1", father="PGF", mother=None, user="inv_linyi")
    with pytest.raises(ReuniteError, match="father"):
        check(world, "REG-6", child="S1", father=None, mother=None)


def test_cli_and_api(world, monkeypatch):
    from reunite.cli import app

    monkeypatch.setenv("REUNITE_DATABASE_URL", world.url)
    out = CliRunner().invoke(app, ["registration", "check", "REG-C", "--as", "registrar", "--child-sample",
                                   world.codes["CH"], "--father-sample", world.codes["FA"], "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["status"] == "consistent"
    client = world.client("registrar")
    r = client.post("/api/v1/registration-checks", json={"code": "REG-A", "child_sample_code": world.codes["S1"],
                                                         "mother_sample_code": world.codes["MO"]})
    assert r.status_code == 201, r.text
    assert r.json()["claimed_parents"] == {"mother": world.codes["MO"]}
    page = client.get("/api/v1/registration-checks").json()
    assert [c["code"] for c in page["items"]] == ["REG-A", "REG-C"]
    assert client.get("/api/v1/registration-checks", params={"status": "bogus"}).status_code == 422
    assert world.client("inv_butuo").post("/api/v1/registration-checks", json={
        "code": "R", "child_sample_code": "x", "father_sample_code": "y"}).status_code == 403


def test_cli_show_prints_a_summary_and_a_locus_table(world, monkeypatch):
    from reunite.cli import app

    monkeypatch.setenv("REUNITE_DATABASE_URL", world.url)
    monkeypatch.setenv("COLUMNS", "200")
    check(world, "REG-T", father="X", mother="MO")
    out = CliRunner().invoke(app, ["registration", "show", "REG-T", "--as", "registrar"])
    assert out.exit_code == 0, out.output
    assert "{" not in out.output and "lr_per_locus" not in out.output  # no raw JSON
    assert f"claimed father: {world.codes['X']}" in out.output and "child's given name: 王小二" in out.output
    assert "consistent?" in out.output and "per locus" in out.output
    shown = write_transaction(world.engine, lambda s: show_check(s, "REG-T", actor=world.actor("registrar")))
    first = shown["loci"][0]
    assert first["child"] == "/".join(world.profiles["CH"][first["locus"]])
    assert first["mother"] == "/".join(world.profiles["MO"][first["locus"]])
    assert [r["locus"] for r in shown["loci"] if not r["consistent"]] == shown["inconsistent_loci"]
    out = CliRunner().invoke(app, ["registration", "show", "REG-T", "--as", "registrar", "--json"])
    assert json.loads(out.output)["loci"][0]["locus"] == first["locus"]
