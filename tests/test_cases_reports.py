"""Missing-child reports: the pedigree built from the references' relations, samples claimed
once, consent rows, the family search pending in the same transaction and run after it, a
reference added later (versioned pedigree, re-search), status changes, linked families, and
the CLI and API faces.  Every profile is simulated."""

from __future__ import annotations

import json
import math
from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from records_data import import_samples, simulate
from reunite.cases.intake import complete_pending
from reunite.cases.reports import Reference, add_reference, close_report, create_report, set_report_status, show_report
from reunite.cases.unidentified import create_unidentified
from reunite.errors import Conflict, NotFound, PermissionDenied, ReuniteError
from reunite.search.engine import exact_pairs
from reunite.search.service import load_families, load_unidentified
from reunite.store.db import write_transaction
from reunite.store.models import Family, FamilyMember, MatchCandidate, PendingSearch, PersonDetail, RecordVersion, Sample
from reunite.store.models_workflow import AuditEntry, MissingReport, ReferenceConsent
from workflow_world import make_world


@pytest.fixture
def world(tmp_path):
    w = make_world(f"sqlite:///{tmp_path / 'r.db'}")
    w.profiles = simulate(w.model, seed=11)
    w.codes = import_samples(w, tmp_path, w.profiles, prefix="S-")
    return w


def new_report(world, code="RPT-1", refs=(("father", "FA"), ("mother", "MO")), **kw):
    actor = world.actor("inv_butuo")
    references = [Reference(rel, world.codes[p], consent_document=f"form-{p}") for rel, p in refs]
    return write_transaction(world.engine, lambda s: create_report(
        s, actor=actor, code=code, child_name="阿呷 (simulated)", child_sex="M", child_birth_date=date(2015, 3, 1),
        child_birth_date_latest=date(2015, 9, 1), missing_date=date(2019, 6, 2), missing_place_code="513429",
        missing_place_detail="village 3", circumstances="went to the market", contact_name="A. Parent",
        contact="+86 100 0000", references=references, **kw).id)


def register_child(world, code="U-CH", person="CH"):
    actor = world.actor("inv_butuo")
    write_transaction(world.engine, lambda s: create_unidentified(
        s, actor=actor, code=code, sample_code=world.codes[person], sex="M", found_date=date(2023, 1, 5),
        estimated_birth_date=date(2015, 5, 1)))


def engine_lr(world, family_code: str, unidentified_code: str) -> float:
    with Session(world.engine) as s:
        fid = s.execute(select(Family.id).where(Family.code == family_code)).scalar_one()
        [fam] = load_families(s, [fid])
        u = next(x for x in load_unidentified(s) if x.code == unidentified_code)
    [r] = exact_pairs([(u, fam, "M")], model=world.model)
    return r.log10_lr_total


def candidate(world, family_code: str):
    with Session(world.engine) as s:
        return s.execute(select(MatchCandidate).join(Family, Family.id == MatchCandidate.family_id)
                         .where(Family.code == family_code)).scalar_one_or_none()


def test_report_builds_the_pedigree_claims_samples_and_is_searched(world):
    register_child(world)
    complete_pending(world.engine, world.model, actor=world.actor("inv_butuo"))
    rid = new_report(world)
    with Session(world.engine) as s:
        report = s.get(MissingReport, rid)
        fam = s.get(Family, report.family_id)
        assert (fam.code, fam.family_type, report.missing_code, report.status) == ("RPT-1", "report", "M", "open")
        members = {m.person_code: m for m in s.execute(select(FamilyMember).where(FamilyMember.family_id == fam.id)).scalars()}
        assert set(members) == {"FA", "MO", "M"}
        assert members["M"].role == "missing" and members["M"].father_code == "FA" and members["M"].mother_code == "MO"
        assert members["M"].birth_date == date(2015, 6, 1)  # the middle of the range
        assert members["M"].missing_date == date(2019, 6, 2) and "513429" in members["M"].missing_place
        for p in ("FA", "MO"):
            sample = s.get(Sample, members[p].sample_id)
            assert (sample.code, sample.owner_kind, members[p].role) == (world.codes[p], "family_member", "reference")
        consents = s.execute(select(ReferenceConsent).where(ReferenceConsent.report_id == rid)).scalars().all()
        assert sorted((c.relation, c.state, c.document) for c in consents) == [
            ("father", "given", "form-FA"), ("mother", "given", "form-MO")]
        assert s.execute(select(PendingSearch.kind).where(PendingSearch.subject_id == fam.id)).scalars().all() == ["family"]
        kinds = {d.subject_kind: d for d in s.execute(select(PersonDetail).where(PersonDetail.subject_id == rid)).scalars()}
        assert kinds["report_child"].name.startswith("阿呷") and kinds["report_contact"].contact == "+86 100 0000"
        audit = s.execute(select(AuditEntry).where(AuditEntry.action == "report.create")).scalar_one()
        assert "阿呷" not in audit.details and "+86" not in audit.details  # no personal data in the audit
    complete_pending(world.engine, world.model, actor=world.actor("inv_butuo"))
    c = candidate(world, "RPT-1")
    assert c is not None and c.log10_lr > 4
    assert math.isclose(c.log10_lr, engine_lr(world, "RPT-1", "U-CH"), rel_tol=1e-9, abs_tol=1e-9)


def test_bad_references_write_nothing(world):
    new_report(world)
    cases = [
        (dict(code="RPT-2", refs=(("father", "FA"),)), Conflict),  # sample already claimed
        (dict(code="RPT-2", refs=(("cousin", "S1"),)), ReuniteError),
        (dict(code="RPT-2", refs=(("father", "S1"),)), ReuniteError),  # S1 is female: Amelogenin disagrees
        (dict(code="RPT-2", refs=(("full_sibling", "S1"), ("full_sibling", "S1"))), ReuniteError),
        (dict(code="RPT-1", refs=(("full_sibling", "S1"),)), Conflict),  # code taken
        (dict(code="RPT-2", refs=()), ReuniteError),
    ]
    for kw, error in cases:
        with pytest.raises(error):
            new_report(world, **kw)
    with pytest.raises(NotFound):
        actor = world.actor("inv_butuo")
        write_transaction(world.engine, lambda s: create_report(
            s, actor=actor, code="RPT-3", references=[Reference("father", "NO-SUCH")]))
    with Session(world.engine) as s:
        assert s.execute(select(MissingReport.code)).scalars().all() == ["RPT-1"]
        assert s.execute(select(Sample.owner_kind).where(Sample.code == world.codes["S1"])).scalar() is None


def test_permissions_and_scope_of_writes(world):
    actor = world.actor("analyst")
    with pytest.raises(PermissionDenied):
        write_transaction(world.engine, lambda s: create_report(
            s, actor=actor, code="X", references=[Reference("father", world.codes["FA"])]))
    zhaojue = world.actor("inv_zhaojue")
    with pytest.raises(PermissionDenied):  # a report owned outside one's jurisdiction
        write_transaction(world.engine, lambda s: create_report(
            s, actor=zhaojue, code="X", jurisdiction_code="513429", references=[Reference("father", world.codes["FA"])]))
    new_report(world)
    with pytest.raises(PermissionDenied):
        write_transaction(world.engine, lambda s: close_report(s, "RPT-1", actor=zhaojue, reason="x"))


def test_reference_added_later_versions_the_pedigree_and_searches_again(world):
    register_child(world)
    new_report(world, refs=(("father", "FA"),))
    complete_pending(world.engine, world.model, actor=world.actor("inv_butuo"))
    before = candidate(world, "RPT-1").log10_lr
    actor = world.actor("inv_butuo")
    write_transaction(world.engine, lambda s: add_reference(
        s, "RPT-1", actor=actor, relation="paternal_grandfather", sample_code=world.codes["PGF"], reason="came forward"))
    write_transaction(world.engine, lambda s: add_reference(
        s, "RPT-1", actor=actor, relation="full_sibling", sample_code=world.codes["S1"], sex="F"))
    with Session(world.engine) as s:
        fam = s.execute(select(Family).where(Family.code == "RPT-1")).scalar_one()
        members = {m.person_code: m for m in s.execute(select(FamilyMember).where(FamilyMember.family_id == fam.id)).scalars()}
        assert (members["FA"].father_code, members["FA"].mother_code) == ("PGF", "PGM")
        assert members["PGM"].role == "untyped" and members["PGF"].role == "reference"
        assert (members["S1"].father_code, members["S1"].mother_code, members["S1"].sex) == ("FA", "MO", "F")
        versions = s.execute(select(RecordVersion).where(RecordVersion.entity == "family", RecordVersion.entity_id == fam.id)
                             .order_by(RecordVersion.version)).scalars().all()
        assert [(v.version, v.action, v.changed_by) for v in versions] == [(2, "pedigree", "inv_butuo"),
                                                                          (3, "pedigree", "inv_butuo")]
        assert versions[0].reason == "came forward"
        assert {m["person"] for m in json.loads(versions[0].data)["before"]["members"]} == {"FA", "MO", "M"}
        assert s.execute(select(PendingSearch.reason).where(PendingSearch.subject_id == fam.id)).scalar().startswith("correction:")
        assert s.execute(select(ReferenceConsent.relation).where(ReferenceConsent.report_id == 1)
                         .order_by(ReferenceConsent.id)).scalars().all() == ["father", "paternal_grandfather",
                                                                              "full_sibling"]
    with pytest.raises(Conflict):
        write_transaction(world.engine, lambda s: add_reference(s, "RPT-1", actor=actor, relation="father",
                                                                sample_code=world.codes["X"]))
    complete_pending(world.engine, world.model, actor=actor)
    after = candidate(world, "RPT-1").log10_lr
    assert after != before
    assert math.isclose(after, engine_lr(world, "RPT-1", "U-CH"), rel_tol=1e-9, abs_tol=1e-9)


def test_status_changes_and_closing_needs_a_reason(world):
    new_report(world)
    actor = world.actor("inv_butuo")
    with pytest.raises(ReuniteError, match="reason"):
        write_transaction(world.engine, lambda s: close_report(s, "RPT-1", actor=actor, reason=""))
    with pytest.raises(Conflict):
        write_transaction(world.engine, lambda s: set_report_status(s, "RPT-1", actor=actor, status="identified"))
    write_transaction(world.engine, lambda s: set_report_status(s, "RPT-1", actor=actor, status="candidate_under_review"))
    write_transaction(world.engine, lambda s: close_report(s, "RPT-1", actor=actor, reason="found by the family"))
    shown = write_transaction(world.engine, lambda s: show_report(s, "RPT-1", actor=actor))
    assert (shown["status"], shown["closed_reason"]) == ("closed", "found by the family")
    with pytest.raises(Conflict):
        write_transaction(world.engine, lambda s: add_reference(s, "RPT-1", actor=actor, relation="full_sibling",
                                                                sample_code=world.codes["S1"]))


def test_link_an_imported_family(world, tmp_path):
    from reunite.store.importers import import_families

    path = tmp_path / "f.csv"
    path.write_text("family_id,person_id,father_id,mother_id,sex,role,sample_id\n"
                    f"F-IMP,FA,,,M,reference,{world.codes['X']}\nF-IMP,MO,,,F,untyped,\nF-IMP,M,FA,MO,M,missing,\n")
    write_transaction(world.engine, lambda s: import_families(s, path, model=world.model))
    actor = world.actor("inv_butuo")
    write_transaction(world.engine, lambda s: create_report(s, actor=actor, code="RPT-L", family_code="F-IMP"))
    shown = write_transaction(world.engine, lambda s: show_report(s, "RPT-L", actor=actor))
    assert (shown["family"], shown["missing_code"]) == ("F-IMP", "M")
    assert [(r["person"], r["sample"], r["consent"]) for r in shown["references"]] == [("FA", world.codes["X"], "given")]
    with pytest.raises(Conflict):
        write_transaction(world.engine, lambda s: create_report(s, actor=actor, code="RPT-L2", family_code="F-IMP"))
    with pytest.raises(ReuniteError, match="correct pedigree"):
        write_transaction(world.engine, lambda s: add_reference(s, "RPT-L", actor=actor, relation="mother",
                                                                sample_code=world.codes["Y"]))


def test_cli_report_add_show_list_close(world, monkeypatch):
    from reunite.cli import app

    monkeypatch.setenv("REUNITE_DATABASE_URL", world.url)
    runner = CliRunner()
    out = runner.invoke(app, ["report", "add", "RPT-C", "--as", "inv_butuo", "--child-name", "Ma Xiaoming",
                              "--child-sex", "M", "--missing-date", "2020-01-02", "--missing-place", "513429",
                              "--reference", f"father:{world.codes['FA']}::form-1",
                              "--reference", f"mother:{world.codes['MO']}"])
    assert out.exit_code == 0, out.output
    assert "registered" in out.output
    out = runner.invoke(app, ["report", "show", "RPT-C", "--as", "inv_butuo", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["child_name"] == "Ma Xiaoming" and len(data["references"]) == 2
    out = runner.invoke(app, ["report", "list", "--as", "inv_butuo", "--json", "--status", "open"])
    assert json.loads(out.output)["items"][0]["code"] == "RPT-C"
    out = runner.invoke(app, ["report", "close", "RPT-C", "--as", "inv_butuo", "--reason", "duplicate of RPT-9"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["report", "add", "RPT-D", "--as", "inv_butuo", "--reference", "nonsense"])
    assert out.exit_code != 0 and "RELATION:SAMPLE" in str(out.exception)


def test_api_reports(world):
    client = world.client("inv_butuo")
    body = {"code": "RPT-A", "child_name": "Li Hua", "child_sex": "F", "missing_date": "2021-02-03",
            "missing_place_code": "513429", "contact": "+86 1", "references": [
                {"relation": "mother", "sample_code": world.codes["MO"], "consent_document": "f-7"}]}
    r = client.post("/api/v1/reports", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["child_name"] == "Li Hua" and r.json()["references"][0]["relation"] == "mother"
    assert client.post("/api/v1/reports", json=body).status_code == 409
    assert client.post("/api/v1/reports", json={**body, "code": "B", "child_sex": "X"}).status_code == 422
    assert client.post("/api/v1/reports", json={**body, "code": "B", "extra": 1}).status_code == 422
    assert client.post("/api/v1/reports", json={**body, "code": "B", "missing_date": "2999-01-01",
                                                 "references": [{"relation": "father",
                                                                 "sample_code": world.codes["FA"]}]}).status_code == 400
    assert client.get("/api/v1/reports/NOPE").status_code == 404
    r = client.post("/api/v1/reports/RPT-A/references", json={"relation": "full_sibling",
                                                              "sample_code": world.codes["S1"], "sex": "F"})
    assert r.status_code == 201, r.text
    assert len(r.json()["references"]) == 2
    page = client.get("/api/v1/reports", params={"limit": 1}).json()
    assert page["items"][0]["code"] == "RPT-A"
    assert client.get("/api/v1/reports", params={"cursor": "garbage"}).status_code == 400
    assert client.post("/api/v1/reports/RPT-A/close", json={"reason": "found"}).json()["status"] == "closed"
    assert world.client("analyst").post("/api/v1/reports", json={**body, "code": "Z"}).status_code == 403


def test_only_a_confirmed_candidate_makes_a_report_identified(world):
    """Four eyes: no investigator marks a report identified by hand, by any path of statuses."""
    new_report(world)
    actor = world.actor("inv_butuo")
    write_transaction(world.engine, lambda s: set_report_status(s, "RPT-1", actor=actor, status="candidate_under_review"))
    with pytest.raises(Conflict, match="status: .*confirmed candidate"):
        write_transaction(world.engine, lambda s: set_report_status(s, "RPT-1", actor=actor, status="identified"))
    shown = write_transaction(world.engine, lambda s: show_report(s, "RPT-1", actor=actor))
    assert shown["status"] == "candidate_under_review"
    r = world.client("inv_butuo").post("/api/v1/reports/RPT-1/status", json={"status": "identified"})
    assert r.status_code == 409, r.text


def test_the_investigator_of_a_report_works_in_its_jurisdiction(world):
    """A report's investigator is told of its candidates: it must be an active investigator
    whose jurisdiction holds the report, not anyone."""
    for name in ("inv_linyi", "inv_zhaojue", "reviewer1", "nobody"):
        with pytest.raises((PermissionDenied, ReuniteError, NotFound), match="investigator"):
            new_report(world, investigator=name)
    new_report(world, investigator="inv_butuo")


@pytest.mark.parametrize("route", ["/api/v1/reports", "/api/v1/registration-checks"])
def test_the_last_representable_day_is_a_filter_not_a_crash(world, route):
    r = world.client("registrar").get(route, params={"created_to": "9999-12-31"})
    assert r.status_code in (200, 403), r.text
    r = world.client("inv_butuo").get(route, params={"created_to": "9999-12-31"})
    assert r.status_code == 200, r.text  # an investigator reads both lists: the filter itself is exercised


def test_a_reference_given_by_mistake_is_named_and_can_be_released(world, monkeypatch):
    from reunite.cases.reports import remove_reference
    from reunite.cli import app

    actor = world.actor("inv_butuo")
    new_report(world, refs=(("father", "X"), ("mother", "MO")))  # X is not the father: a mix-up
    with pytest.raises(Conflict) as exc:
        new_report(world, code="RPT-2", refs=(("father", "X"),))
    text = str(exc.value)
    assert "reference 'FA' of report 'RPT-1'" in text and "reunite report reference-remove RPT-1" in text
    write_transaction(world.engine, lambda s: add_reference(
        s, "RPT-1", actor=actor, relation="half_sibling_paternal", sample_code=world.codes["S1"], sex="F"))
    done = write_transaction(world.engine, lambda s: remove_reference(
        s, "RPT-1", actor=actor, sample_code=world.codes["S1"], reason="not a half-sibling"))
    assert done["person"] == "HP1"
    with pytest.raises(NotFound):
        write_transaction(world.engine, lambda s: remove_reference(s, "RPT-1", actor=actor, sample_code="NOPE",
                                                                   reason="x"))
    with pytest.raises(PermissionDenied):
        write_transaction(world.engine, lambda s: remove_reference(
            s, "RPT-1", actor=world.actor("inv_zhaojue"), sample_code=world.codes["X"], reason="x"))
    monkeypatch.setenv("REUNITE_DATABASE_URL", world.url)
    out = CliRunner().invoke(app, ["report", "reference-remove", "RPT-1", "--sample", world.codes["X"], "--reason",
                                   "sample mix-up at the lab", "--as", "inv_butuo", "--no-search"])
    assert out.exit_code == 0, out.output
    assert "belongs to nobody" in out.output
    with Session(world.engine) as s:
        fam = s.execute(select(Family).where(Family.code == "RPT-1")).scalar_one()
        members = {m.person_code: m for m in s.execute(select(FamilyMember).where(FamilyMember.family_id == fam.id)).scalars()}
        assert set(members) == {"FA", "MO", "M"}  # HP1 and its untyped mother HP1_MO went with it
        assert members["FA"].sample_id is None and members["FA"].role == "untyped"
        assert s.execute(select(Sample.owner_kind).where(Sample.code == world.codes["X"])).scalar() is None
        assert s.execute(select(ReferenceConsent.relation).where(ReferenceConsent.report_id == 1)).scalars().all() == ["mother"]
        versions = s.execute(select(RecordVersion).where(RecordVersion.entity == "family", RecordVersion.entity_id == fam.id)
                             .order_by(RecordVersion.version)).scalars().all()
        assert [v.action for v in versions] == ["pedigree"] * 3 and versions[-1].reason == "sample mix-up at the lab"
        assert "reference removed" in json.loads(versions[-1].data)["changes"][0]
        assert s.execute(select(AuditEntry.action).where(AuditEntry.action == "report.reference_remove")).scalars().all() \
            == ["report.reference_remove"] * 2
        assert s.execute(select(PendingSearch.id).where(PendingSearch.subject_id == fam.id)).scalar() is not None
    new_report(world, code="RPT-2", refs=(("father", "X"),))  # now the right report takes it
    complete_pending(world.engine, world.model, actor=actor)


def test_a_reference_used_in_a_candidate_cannot_be_released(world):
    from reunite.cases.reports import remove_reference

    register_child(world)
    new_report(world, refs=(("father", "FA"),))
    actor = world.actor("inv_butuo")
    complete_pending(world.engine, world.model, actor=actor)
    assert candidate(world, "RPT-1") is not None
    with pytest.raises(Conflict) as exc:
        write_transaction(world.engine, lambda s: remove_reference(s, "RPT-1", actor=actor,
                                                                   sample_code=world.codes["FA"], reason="x"))
    assert "consent-withdraw" in str(exc.value) and "reunite correct" in str(exc.value)
    client = world.client("inv_butuo")
    r = client.post(f"/api/v1/reports/RPT-1/references/{world.codes['FA']}/remove", json={"reason": "x"})
    assert r.status_code == 409, r.text
    assert client.delete(f"/api/v1/reports/RPT-1/references/{world.codes['FA']}").status_code == 422  # no reason
    assert client.post("/api/v1/reports/RPT-1/references/NOPE/remove", json={"reason": "x"}).status_code == 404


def test_closing_a_report_sets_its_open_candidates_aside(world):
    from reunite.store.models_workflow import CandidateEvent

    register_child(world)
    new_report(world)
    actor = world.actor("inv_butuo")
    complete_pending(world.engine, world.model, actor=actor)
    cid = candidate(world, "RPT-1").id
    write_transaction(world.engine, lambda s: close_report(s, "RPT-1", actor=actor, reason="found alive by the family"))
    assert candidate(world, "RPT-1").status == "set_aside"
    with Session(world.engine) as s:
        [event] = s.execute(select(CandidateEvent).where(CandidateEvent.candidate_id == cid)).scalars().all()
        assert (event.to_status, event.comment) == ("set_aside", "report closed: found alive by the family")
        close = s.execute(select(AuditEntry).where(AuditEntry.action == "report.close")).scalar_one()
        assert json.loads(close.details)["set_aside"] == [cid]
    write_transaction(world.engine, lambda s: set_report_status(s, "RPT-1", actor=actor, status="open"))
    assert candidate(world, "RPT-1").status == "set_aside"  # reopening does not bring them back


def test_tables_never_cut_a_code_and_show_minutes(world, monkeypatch):
    from reunite.cli import app
    from reunite.cli_cases import when

    assert when("2026-11-30T22:56:55.182733") == "2026-11-30 22:56"
    assert when("2026-11-30T22:56:55+08:00") == "2026-11-30 14:56" and when("2026-11-30") == "2026-11-30"
    code = "RPT-2026-513429-000123-LONG"
    new_report(world, code=code)
    monkeypatch.setenv("REUNITE_DATABASE_URL", world.url)
    monkeypatch.setenv("COLUMNS", "70")
    out = CliRunner().invoke(app, ["report", "list", "--as", "inv_butuo"])
    assert out.exit_code == 0, out.output
    assert code in out.output  # on one line, whole
    out = CliRunner().invoke(app, ["report", "show", code, "--as", "inv_butuo"])
    created = next(line for line in out.output.splitlines() if line.startswith("created_at:"))
    assert len(created.split(": ", 1)[1]) == len("YYYY-MM-DD HH:MM")


def test_cli_help_dates_duplicates_first_and_option_names(world, monkeypatch):
    from reunite.cli import app

    monkeypatch.setenv("REUNITE_DATABASE_URL", world.url)
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    for command in (["operation", "add", "--help"], ["report", "add", "--help"]):
        out = runner.invoke(app, command)
        assert out.exit_code == 0 and "YYYY-MM-DD" in out.output, out.output
    assert "criminal case number" in runner.invoke(app, ["operation", "add", "--help"]).output
    new_report(world)
    with pytest.raises(Conflict, match="already exists"):  # the duplicate first, before the bad sex
        write_transaction(world.engine, lambda s: create_report(
            s, actor=world.actor("inv_butuo"), code="RPT-1", child_sex="X", references=[]))
    out = runner.invoke(app, ["report", "add", "RPT-9", "--as", "inv_butuo", "--missing-place", "999999",
                              "--reference", f"full_sibling:{world.codes['S1']}:F"])
    assert out.exit_code != 0 and str(out.exception).startswith("--missing-place: "), out.exception
    out = runner.invoke(app, ["operation", "add", "OP-9", "--as", "inv_butuo", "--place", "999999"])
    assert str(out.exception).startswith("--place: "), out.exception
