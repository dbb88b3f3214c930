"""Consent withdrawal: recorded with who, when and why; the sample withdrawn at once (kept
sealed); after the next search no LR, no candidate and no family index uses the reference's
profile.  Family references are only ever compared with unidentified persons."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from records_data import import_samples, simulate
from reunite.cases.consent import withdraw_consent
from reunite.cases.intake import complete_pending
from reunite.cases.reports import Reference, create_report
from reunite.cases.unidentified import create_unidentified
from reunite.errors import Conflict, NotFound, PermissionDenied
from reunite.search.engine import exact_pairs, pair_markers
from reunite.search.service import family_index, load_families, load_unidentified
from reunite.store.db import write_transaction
from reunite.store.models import Family, MatchCandidate, RecordVersion, Sample
from reunite.store.models_workflow import AuditEntry, ReferenceConsent
from workflow_world import make_world


@pytest.fixture
def world(tmp_path):
    w = make_world(f"sqlite:///{tmp_path / 'r.db'}")
    w.profiles = simulate(w.model, seed=5)
    w.codes = import_samples(w, tmp_path, w.profiles, prefix="S-")
    actor = w.actor("inv_butuo")
    write_transaction(w.engine, lambda s: create_unidentified(s, actor=actor, code="U-CH", sample_code=w.codes["CH"],
                                                              sex="M"))
    write_transaction(w.engine, lambda s: create_report(s, actor=actor, code="RPT-1", child_sex="M", references=[
        Reference("father", w.codes["FA"]), Reference("mother", w.codes["MO"]), Reference("full_sibling", w.codes["S1"],
                                                                                           "F")]))
    complete_pending(w.engine, w.model, actor=actor)
    return w


def _family(s):
    fid = s.execute(select(Family.id).where(Family.code == "RPT-1")).scalar_one()
    [fam] = load_families(s, [fid])
    return fam


def test_withdrawn_reference_is_in_no_lr_candidate_or_index(world):
    actor = world.actor("inv_butuo")
    with Session(world.engine) as s:
        before = s.execute(select(MatchCandidate.log10_lr)).scalar_one()
    write_transaction(world.engine, lambda s: withdraw_consent(s, "RPT-1", actor=actor, sample_code=world.codes["MO"],
                                                               reason="the mother asked", document="W-1"))
    with Session(world.engine) as s:
        c = s.execute(select(ReferenceConsent).where(ReferenceConsent.relation == "mother")).scalar_one()
        assert (c.state, c.withdrawn_by, c.withdrawn_reason) == ("withdrawn", "inv_butuo", "the mother asked (form: W-1)")
        assert c.withdrawn_at is not None
        sample = s.execute(select(Sample).where(Sample.code == world.codes["MO"])).scalar_one()
        assert sample.status == "withdrawn" and sample.profile  # sealed, not erased
        assert s.execute(select(RecordVersion.action).where(RecordVersion.entity == "sample",
                                                           RecordVersion.entity_id == sample.id)).scalar() == "withdraw"
        assert s.execute(select(AuditEntry.action).where(AuditEntry.action == "consent.withdraw")).scalar()
    complete_pending(world.engine, world.model, actor=actor)
    with Session(world.engine) as s:
        fam = _family(s)
        assert "MO" not in fam.references and set(fam.references) == {"FA", "S1"}
        u = next(x for x in load_unidentified(s) if x.code == "U-CH")
        markers = pair_markers(u, fam, "__u__", world.model)
        mother_profile = world.profiles["MO"]
        assert all("MO" not in m.genotypes for m in markers)
        [without] = exact_pairs([(u, fam, "M")], model=world.model)
        cand = s.execute(select(MatchCandidate)).scalar_one()
        assert cand.log10_lr != before
        assert math.isclose(cand.log10_lr, without.log10_lr_total, rel_tol=1e-9, abs_tol=1e-9)
        # the family index's LRs for the family are those without the mother
        index = family_index(s, world.model)
        row = next(k for k, fid in enumerate(index.family_id) if fid == fam.id)
        per_locus = index.lr_per_locus(u.profile, row)
        for locus, value in without.lr_per_marker.items():
            assert math.isclose(per_locus[locus], value, rel_tol=1e-6), locus
    assert mother_profile  # the genotype is retained for the evidence


def test_withdrawal_needs_permission_scope_and_a_given_consent(world):
    for name, error in (("analyst", PermissionDenied), ("inv_zhaojue", PermissionDenied)):
        actor = world.actor(name)
        with pytest.raises(error):
            write_transaction(world.engine, lambda s: withdraw_consent(s, "RPT-1", actor=actor,
                                                                       sample_code=world.codes["FA"], reason="x"))
    actor = world.actor("inv_butuo")
    with pytest.raises(NotFound):
        write_transaction(world.engine, lambda s: withdraw_consent(s, "RPT-1", actor=actor, sample_code="S-X",
                                                                   reason="x"))
    write_transaction(world.engine, lambda s: withdraw_consent(s, "RPT-1", actor=actor, sample_code=world.codes["FA"],
                                                               reason="x"))
    with pytest.raises(Conflict):
        write_transaction(world.engine, lambda s: withdraw_consent(s, "RPT-1", actor=actor,
                                                                   sample_code=world.codes["FA"], reason="again"))


def test_family_references_are_searched_against_unidentified_persons_only(world):
    """A second report whose reference is the first family's father's relative: the search
    stores candidates of unidentified persons only, never a family-against-family pair."""
    actor = world.actor("inv_butuo")
    write_transaction(world.engine, lambda s: create_report(s, actor=actor, code="RPT-2", child_sex="M", references=[
        Reference("paternal_grandfather", world.codes["PGF"])]))
    done = complete_pending(world.engine, world.model, actor=actor)
    assert done
    with Session(world.engine) as s:
        pairs = s.execute(select(MatchCandidate.unidentified_id, MatchCandidate.family_id)).all()
        fams = dict(s.execute(select(Family.id, Family.code)).all())
        assert {fams[f] for _, f in pairs} <= {"RPT-1", "RPT-2"}
        assert all(u is not None for u, _ in pairs)


def test_cli_and_api_withdraw(world, monkeypatch):
    from typer.testing import CliRunner

    from reunite.cli import app

    monkeypatch.setenv("REUNITE_DATABASE_URL", world.url)
    out = CliRunner().invoke(app, ["report", "consent-withdraw", "RPT-1", "--as", "inv_butuo", "--sample",
                                   world.codes["S1"], "--reason", "no longer wishes", "--no-search"])
    assert out.exit_code == 0, out.output
    r = world.client("inv_butuo").post("/api/v1/reports/RPT-1/consent-withdrawals",
                                       json={"sample_code": world.codes["FA"], "reason": "asked"})
    assert r.status_code == 200, r.text
    states = {x["sample"]: x["consent"] for x in r.json()["references"]}
    assert states == {world.codes["FA"]: "withdrawn", world.codes["MO"]: "given", world.codes["S1"]: "withdrawn"}
    assert world.client("analyst").post("/api/v1/reports/RPT-1/consent-withdrawals",
                                        json={"sample_code": world.codes["MO"], "reason": "x"}).status_code == 403


def test_a_confirmation_test_computed_with_a_withdrawn_reference_no_longer_counts(world, tmp_path):
    """A confirmation LR computed with the mother's profile before she withdrew: after the
    withdrawal it neither supports confirming nor shows its LR (the profile is in no LR)."""
    from reunite.cases import review
    from reunite.cases.candidates import candidate_detail, list_candidates
    from reunite.cases.confirmation import add_confirmation_sample

    inv = world.actor("inv_butuo")
    second = import_samples(world, tmp_path, {"CH": world.profiles["CH"]}, prefix="S2-", name="g2.csv")["CH"]
    with Session(world.engine) as s:
        cid = s.execute(select(MatchCandidate.id)).scalar_one()
    write_transaction(world.engine, lambda s: review.assign(s, cid, actor=inv, to="reviewer1"))
    write_transaction(world.engine, lambda s: review.start_review(s, cid, actor=world.actor("reviewer1")))
    write_transaction(world.engine, lambda s: review.request_confirmation(s, cid, actor=world.actor("reviewer1")))
    test = write_transaction(world.engine, lambda s: add_confirmation_sample(
        s, cid, actor=world.actor("analyst"), sample_code=second, target="child", model=world.model).id)
    write_transaction(world.engine, lambda s: withdraw_consent(s, "RPT-1", actor=inv, sample_code=world.codes["MO"],
                                                               reason="the mother asked"))
    complete_pending(world.engine, world.model, actor=inv)
    with pytest.raises(Conflict, match=f"confirmation_tests: .*test\\(s\\) {test} used a profile withdrawn"):
        write_transaction(world.engine, lambda s: review.confirm(s, cid, actor=world.actor("reviewer2")))
    detail = write_transaction(world.engine, lambda s: candidate_detail(s, cid, actor=world.actor("reviewer2")))
    [shown] = detail["confirmation_tests"]
    assert shown["id"] == test and shown["supports"] is False and shown["log10_lr"] is None
    assert shown["withdrawn_references"] == ["MO"] and detail["can_confirm"] is False
    with Session(world.engine) as s:
        [item] = list_candidates(s, actor=world.actor("reviewer2")).items
    assert item["confirmation_log10_lr"] is None
