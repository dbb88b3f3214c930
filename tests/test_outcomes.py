"""Outcomes of identified children and follow-up visits: kinds, history, refusal for a child
not identified, jurisdiction scope, notes as personal data, follow-up scheduling and the
overdue list; the same through the CLI and the API."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from reunite.cases import outcomes as svc
from reunite.errors import Conflict, NotFound, PermissionDenied, ReuniteError
from reunite.store.db import write_transaction
from reunite.store.models import Sample, Unidentified
from reunite.store.models_workflow import AuditEntry, FollowUp, Jurisdiction, MissingReport, Notification
from workflow_world import make_world

TODAY = datetime.now(timezone.utc).date()


@pytest.fixture(autouse=True)
def _one_day(monkeypatch):
    """The service's today is the tests' TODAY, also when a run crosses midnight (UTC)."""
    monkeypatch.setattr(svc, "_today", lambda: TODAY)


def add_child(world, code: str, where: str | None, *, status: str = "identified", report: str | None = None) -> int:
    """An unidentified person ``code`` of jurisdiction ``where`` (None: national)."""

    def work(s):
        jid = s.execute(select(Jurisdiction.id).where(Jurisdiction.code == where)).scalar_one() if where else None
        sample = Sample(code=f"S-{code}", profile="{}", num_loci=0, owner_kind="unidentified")
        s.add(sample)
        s.flush()
        report_id = None
        if report:
            r = MissingReport(code=report, jurisdiction_id=jid or 1, created_by="test", status="identified")
            s.add(r)
            s.flush()
            report_id = r.id
        child = Unidentified(code=code, sample_id=sample.id, jurisdiction_id=jid, status=status,
                             identified_report_id=report_id)
        s.add(child)
        s.flush()
        return child.id

    return write_transaction(world.engine, work)


@pytest.fixture
def world(tmp_path):
    w = make_world(f"sqlite:///{tmp_path / 'reunite.db'}")
    add_child(w, "U-LANLING-1", "371324", report="R-LANLING-1")
    add_child(w, "U-BUTUO-1", "513429")
    add_child(w, "U-LANLING-2", "371324", status="unidentified")
    return w


def run(world, fn, **kw):
    return write_transaction(world.engine, lambda s: fn(s, **kw))


def actions(world, action):
    with Session(world.engine) as s:
        return s.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars().all()


# ---------------------------------------------------------------------------------------
# services


def test_outcome_kinds_and_history(db_url):
    world = make_world(db_url)
    add_child(world, "U-LANLING-1", "371324", report="R-LANLING-1")
    welfare = world.actor("welfare_linyi")
    first = run(world, svc.record_outcome, actor=welfare, child_code="U-LANLING-1", kind="returned_home",
                outcome_date=TODAY - timedelta(days=200), notes="returned to 张家; mother present")
    assert first.kind == "returned_home" and first.officer == "welfare_linyi"
    assert first.report_code == "R-LANLING-1" and first.jurisdiction == "371324"
    for kind, days in [("family_refused", 100), ("welfare_placement", 99), ("foster_care", 50),
                       ("adoption_referral", 10)]:
        run(world, svc.record_outcome, actor=welfare, child_code="U-LANLING-1", kind=kind,
            outcome_date=TODAY - timedelta(days=days))
    history = run(world, svc.child_history, actor=welfare, child_code="U-LANLING-1")
    assert [o.kind for o in history.outcomes] == ["returned_home", "family_refused", "welfare_placement",
                                                   "foster_care", "adoption_referral"]
    assert history.outcomes[0].notes == "returned to 张家; mother present"
    assert len(actions(world, "outcome.create")) == 5
    assert actions(world, "outcome.read_personal")
    with pytest.raises(ReuniteError, match="kind: expected one of"):
        run(world, svc.record_outcome, actor=welfare, child_code="U-LANLING-1", kind="sold",
            outcome_date=TODAY)
    with pytest.raises(ReuniteError, match="outcome_date: .* is in the future"):
        run(world, svc.record_outcome, actor=welfare, child_code="U-LANLING-1", kind="returned_home",
            outcome_date=TODAY + timedelta(days=2))


def test_refused_for_a_child_not_identified_which_stays_searchable(world):
    welfare = world.actor("welfare_linyi")
    with pytest.raises(Conflict, match="'U-LANLING-2' is not identified .*stays searchable"):
        run(world, svc.record_outcome, actor=welfare, child_code="U-LANLING-2", kind="welfare_placement",
            outcome_date=TODAY)
    with Session(world.engine) as s:
        child = s.execute(select(Unidentified).where(Unidentified.code == "U-LANLING-2")).scalar_one()
        assert child.status == "unidentified"
        assert s.get(Sample, child.sample_id).status == "active"
    with pytest.raises(NotFound, match="child_code: no unidentified person"):
        run(world, svc.record_outcome, actor=welfare, child_code="NOPE", kind="returned_home", outcome_date=TODAY)


def test_permissions_and_jurisdiction_scope(world):
    welfare = world.actor("welfare_linyi")
    with pytest.raises(PermissionDenied, match="outcome:write"):
        run(world, svc.record_outcome, actor=world.actor("inv_linyi"), child_code="U-LANLING-1",
            kind="returned_home", outcome_date=TODAY)
    with pytest.raises(NotFound, match="in your jurisdiction"):
        run(world, svc.record_outcome, actor=welfare, child_code="U-BUTUO-1", kind="returned_home",
            outcome_date=TODAY)
    made = run(world, svc.record_outcome, actor=welfare, child_code="U-LANLING-1", kind="returned_home",
               outcome_date=TODAY, notes="circumstances")
    # Butuo's investigator sees nothing of Linyi; the national reviewer sees the codes, not the notes
    butuo = world.actor("inv_butuo")
    assert run(world, svc.list_outcomes, actor=butuo).items == []
    with pytest.raises(NotFound):
        run(world, svc.get_outcome, actor=butuo, outcome_id=made.id)
    reviewer = world.actor("reviewer1")
    seen = run(world, svc.get_outcome, actor=reviewer, outcome_id=made.id)
    assert seen.notes is None and seen.notes_hidden
    assert [o.id for o in run(world, svc.list_outcomes, actor=reviewer, kind="returned_home").items] == [made.id]
    assert run(world, svc.list_outcomes, actor=reviewer, kind="foster_care").items == []
    assert [o.id for o in run(world, svc.list_outcomes, actor=welfare, child_code="U-LANLING-1").items] == [made.id]


def test_child_without_jurisdiction_gets_the_actors(world):
    add_child(world, "U-NATIONAL", None)
    made = run(world, svc.record_outcome, actor=world.actor("welfare_linyi"), child_code="U-NATIONAL",
               kind="foster_care", outcome_date=TODAY)
    assert made.jurisdiction == "371300"


def test_officer_is_notified_and_must_exist(world):
    welfare = world.actor("welfare_linyi")
    with pytest.raises(NotFound, match="officer: no user 'ghost'"):
        run(world, svc.record_outcome, actor=welfare, child_code="U-LANLING-1", kind="returned_home",
            outcome_date=TODAY, officer="ghost")
    made = run(world, svc.record_outcome, actor=welfare, child_code="U-LANLING-1", kind="returned_home",
               outcome_date=TODAY, officer="inv_linyi")
    assert made.officer == "inv_linyi"
    with Session(world.engine) as s:
        note = s.execute(select(Notification).where(Notification.user_id == world.user_ids["inv_linyi"])).scalar_one()
        assert note.kind == "outcome" and note.entity_id == made.id


def test_the_reports_investigator_hears_of_the_outcome(world):
    from sqlalchemy import update

    write_transaction(world.engine, lambda s: s.execute(update(MissingReport).where(
        MissingReport.code == "R-LANLING-1").values(investigator_id=world.user_ids["inv_linyi"])))
    welfare = world.actor("welfare_linyi")

    def notes():
        with Session(world.engine) as s:
            return s.execute(select(Notification).where(Notification.user_id == world.user_ids["inv_linyi"])
                             .order_by(Notification.id)).scalars().all()

    made = run(world, svc.record_outcome, actor=welfare, child_code="U-LANLING-1", kind="returned_home",
               outcome_date=TODAY, notes="张家")
    [note] = notes()
    assert (note.kind, note.entity, note.entity_id) == ("outcome", "outcome", made.id)
    assert "U-LANLING-1" in note.subject and "R-LANLING-1" in note.subject and "张" not in note.subject + note.body
    # not when they record it themselves, and once only when they are also the officer
    write_transaction(world.engine, lambda s: s.execute(update(MissingReport).where(
        MissingReport.code == "R-LANLING-1").values(investigator_id=world.user_ids["welfare_linyi"])))
    run(world, svc.record_outcome, actor=welfare, child_code="U-LANLING-1", kind="foster_care", outcome_date=TODAY)
    assert len(notes()) == 1
    write_transaction(world.engine, lambda s: s.execute(update(MissingReport).where(
        MissingReport.code == "R-LANLING-1").values(investigator_id=world.user_ids["inv_linyi"])))
    run(world, svc.record_outcome, actor=welfare, child_code="U-LANLING-1", kind="welfare_placement",
        outcome_date=TODAY, officer="inv_linyi")
    assert len(notes()) == 2


def test_follow_ups_schedule_overdue_and_done(world):
    welfare = world.actor("welfare_linyi")
    made = run(world, svc.record_outcome, actor=welfare, child_code="U-LANLING-1", kind="returned_home",
               outcome_date=TODAY - timedelta(days=60), follow_up_days=[90, 30])
    assert [f.due_date for f in made.follow_ups] == [TODAY - timedelta(days=30), TODAY + timedelta(days=30)]
    assert [f.overdue for f in made.follow_ups] == [True, False]
    extra = run(world, svc.add_follow_up, actor=welfare, outcome_id=made.id, due_date=TODAY - timedelta(days=40))
    overdue = run(world, svc.overdue_follow_ups, actor=welfare)
    assert [f.id for f in overdue.items] == [extra.id, made.follow_ups[0].id]  # the most overdue first
    page1 = run(world, svc.overdue_follow_ups, actor=welfare, limit=1)
    page2 = run(world, svc.overdue_follow_ups, actor=welfare, limit=1, cursor=page1.next_cursor)
    assert [f.id for f in page1.items + page2.items] == [extra.id, made.follow_ups[0].id]
    assert page2.next_cursor is None
    assert run(world, svc.overdue_follow_ups, actor=world.actor("inv_butuo")).items == []
    assert len(run(world, svc.overdue_follow_ups, actor=world.actor("reviewer1")).items) == 2

    done = run(world, svc.complete_follow_up, actor=welfare, follow_up_id=extra.id, notes="child well, in school")
    assert done.done_by == "welfare_linyi" and done.notes == "child well, in school" and not done.overdue
    assert [f.id for f in run(world, svc.overdue_follow_ups, actor=welfare).items] == [made.follow_ups[0].id]
    with pytest.raises(Conflict, match="already recorded done"):
        run(world, svc.complete_follow_up, actor=welfare, follow_up_id=extra.id)
    with pytest.raises(ReuniteError, match="due_date: .* before the outcome's date"):
        run(world, svc.add_follow_up, actor=welfare, outcome_id=made.id, due_date=TODAY - timedelta(days=61))
    with pytest.raises(NotFound):
        run(world, svc.complete_follow_up, actor=world.actor("welfare_linyi"), follow_up_id=9999)
    with pytest.raises(ReuniteError, match="follow_ups: expected days"):
        svc.parse_follow_up_days("30,x")
    assert svc.parse_follow_up_days("30, 90,180") == [30, 90, 180]
    assert len(actions(world, "follow_up.create")) == 1 and len(actions(world, "follow_up.done")) == 1
    with Session(world.engine) as s:
        assert s.execute(select(FollowUp).where(FollowUp.outcome_id == made.id)).scalars().all()


# ---------------------------------------------------------------------------------------
# CLI and API


def test_cli(world, monkeypatch):
    from reunite.cli import app

    monkeypatch.setenv("REUNITE_DATABASE_URL", world.url)
    cli = CliRunner()

    def call(*args):
        result = cli.invoke(app, list(args))
        assert result.exit_code == 0, (args, result.output, result.exception)
        return result.output

    start = (TODAY - timedelta(days=40)).isoformat()
    out = call("outcome", "add", "U-LANLING-1", "--kind", "returned_home", "--date", start, "--notes", "ok",
               "--follow-ups", "30,90", "--as", "welfare_linyi", "--json")
    outcome_id = json.loads(out)["id"]
    listed = json.loads(call("outcome", "list", "--child", "U-LANLING-1", "--as", "welfare_linyi", "--json"))
    assert [o["id"] for o in listed["items"]] == [outcome_id]
    assert "outcomes" in call("outcome", "list", "--as", "welfare_linyi")
    shown = call("outcome", "show", "U-LANLING-1", "--as", "welfare_linyi")
    assert "returned_home" in shown and "notes: ok" in shown
    assert "(overdue)" in call("outcome", "overdue", "--as", "welfare_linyi")
    out = call("outcome", "followup-add", str(outcome_id), "--due", TODAY.isoformat(), "--as", "welfare_linyi")
    fu_id = int(out.split()[1])
    assert "done by welfare_linyi" in call("outcome", "followup-done", str(fu_id), "--notes", "fine",
                                           "--as", "welfare_linyi")
    bad = cli.invoke(app, ["outcome", "add", "U-LANLING-1", "--kind", "returned_home", "--date", "30/11/2026",
                           "--as", "welfare_linyi"])
    assert bad.exit_code != 0 and "--date: expected a date" in str(bad.exception)


def test_api(world):
    client = world.client("welfare_linyi")
    body = {"child_code": "U-LANLING-1", "kind": "welfare_placement",
            "outcome_date": (TODAY - timedelta(days=10)).isoformat(), "notes": "placed", "follow_up_days": [5, 30]}
    r = client.post("/api/v1/outcomes", json=body)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["kind"] == "welfare_placement" and len(made["follow_ups"]) == 2
    r = client.post("/api/v1/outcomes", json={**body, "child_code": "U-LANLING-2"})
    assert r.status_code == 409 and r.json()["field"] == "child_code"
    assert client.post("/api/v1/outcomes", json={**body, "kind": "sold"}).status_code == 422
    assert client.post("/api/v1/outcomes", json={**body, "extra": 1}).status_code == 422
    assert client.post("/api/v1/outcomes", json={**body, "child_code": "U-BUTUO-1"}).status_code == 404

    page = client.get("/api/v1/outcomes", params={"kind": "welfare_placement", "limit": 10}).json()
    assert [o["id"] for o in page["items"]] == [made["id"]] and page["next_cursor"] is None
    got = client.get(f"/api/v1/outcomes/{made['id']}").json()
    assert got["notes"] == "placed"
    history = client.get("/api/v1/outcomes/history", params={"child": "U-LANLING-1"}).json()
    assert [o["id"] for o in history["outcomes"]] == [made["id"]]

    overdue = client.get("/api/v1/follow-ups/overdue").json()["items"]
    assert [f["id"] for f in overdue] == [made["follow_ups"][0]["id"]]
    r = client.post(f"/api/v1/outcomes/{made['id']}/follow-ups", json={"due_date": TODAY.isoformat()})
    assert r.status_code == 201
    r = client.post(f"/api/v1/follow-ups/{overdue[0]['id']}/done", json={"notes": "seen"})
    assert r.status_code == 200 and r.json()["done_by"] == "welfare_linyi"
    assert client.get("/api/v1/follow-ups/overdue").json()["items"] == []

    butuo = world.client("inv_butuo")
    assert butuo.get(f"/api/v1/outcomes/{made['id']}").status_code == 404
    assert butuo.post("/api/v1/outcomes", json=body).status_code == 403
    assert client.get("/api/v1/outcomes", params={"cursor": "garbage!"}).status_code == 400
