"""Rescue operations and unidentified persons registered one by one: the sample claimed, the
search pending, the children listed on their operation, placement changes versioned, the
given name and placement shown only in the owning jurisdiction.  Simulated profiles."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from records_data import import_samples, simulate
from reunite.cases.operations import create_operation, list_operations, show_operation
from reunite.cases.unidentified import create_unidentified, list_unidentified, show_unidentified, update_unidentified
from reunite.errors import Conflict, NotFound, PermissionDenied, ReuniteError
from reunite.store.db import write_transaction
from reunite.store.models import PendingSearch, RecordVersion, Sample, Unidentified
from reunite.store.models_workflow import Jurisdiction
from workflow_world import make_world


@pytest.fixture
def world(tmp_path):
    w = make_world(f"sqlite:///{tmp_path / 'r.db'}")
    w.codes = import_samples(w, tmp_path, simulate(w.model, seed=3), prefix="S-")
    return w


def add_operation(world, user="inv_linyi"):
    actor = world.actor(user)
    write_transaction(world.engine, lambda s: create_operation(
        s, actor=actor, code="OP-1", name="Operation Spring", operation_date=date(2024, 4, 1), place_code="371324",
        place_detail="a farmhouse", suspects_case_number="LY-2024-17", notes="three suspects held"))


def add_child(world, code="U-1", person="CH", user="welfare_linyi", **kw):
    actor = world.actor(user)
    args = dict(actor=actor, code=code, sample_code=world.codes[person], sex="M", category="rescued_child",
                found_date=date(2024, 4, 1), found_place_code="371324", estimated_age=6.5,
                placement_kind="welfare_institution", placement_name="Linyi Children's Welfare Institute",
                operation_code="OP-1", given_name="小明")
    args.update(kw)
    return write_transaction(world.engine, lambda s: create_unidentified(s, **args).id)


def test_operation_with_its_children(world):
    add_operation(world)
    uid = add_child(world)
    add_child(world, code="U-2", person="S1", sex="F", given_name=None)
    with Session(world.engine) as s:
        u = s.get(Unidentified, uid)
        assert u.estimated_birth_date == date(2024, 4, 1) - timedelta(days=round(6.5 * 365.25))
        assert s.get(Sample, u.sample_id).owner_kind == "unidentified"
        assert s.execute(select(PendingSearch.kind).where(PendingSearch.subject_id == uid)).scalar() == "unidentified"
        assert s.execute(select(Jurisdiction.code).where(Jurisdiction.id == u.jurisdiction_id)).scalar() == "371300"
    shown = write_transaction(world.engine, lambda s: show_operation(s, "OP-1", actor=world.actor("inv_linyi")))
    assert [c["code"] for c in shown["children"]] == ["U-1", "U-2"]
    assert shown["notes"] == "three suspects held" and "Lanling" in shown["place_name"]
    other = write_transaction(world.engine, lambda s: show_operation(s, "OP-1", actor=world.actor("inv_butuo")))
    assert other == {"code": "OP-1", "jurisdiction": "371300", "agency": "PSB-371300", "restricted": True}
    analyst = write_transaction(world.engine, lambda s: show_operation(s, "OP-1", actor=world.actor("analyst")))
    assert "notes" not in analyst and len(analyst["children"]) == 2  # national, no personal:read
    page = write_transaction(world.engine, lambda s: list_operations(s, actor=world.actor("inv_linyi"),
                                                                     date_from=date(2024, 1, 1)))
    assert [o["code"] for o in page.items] == ["OP-1"] and "notes" not in page.items[0]
    page = write_transaction(world.engine, lambda s: list_unidentified(s, actor=world.actor("welfare_linyi"),
                                                                       operation_code="OP-1", category="rescued_child"))
    assert [u["code"] for u in page.items] == ["U-2", "U-1"]
    assert page.items[1]["given_name"] == "小明"


def test_bad_registrations_are_refused(world):
    add_operation(world)
    add_child(world)
    for kw, error in ((dict(code="U-1", person="S1"), Conflict), (dict(code="U-9"), Conflict),
                      (dict(code="U-9", person="S1", category="lost"), ReuniteError),
                      (dict(code="U-9", person="S1", operation_code="OP-X"), NotFound),
                      (dict(code="U-9", person="S1", found_place_code="999999"), NotFound),
                      (dict(code="U-9", person="S1", estimated_birth_date=date(2020, 1, 1)), ReuniteError),
                      (dict(code="U-9", person="S1", found_date=date.today() + timedelta(days=3)), ReuniteError),
                      (dict(code="U-9", person="S1", jurisdiction_code="513429"), PermissionDenied),
                      (dict(code="U-9", person="S1", user="analyst"), PermissionDenied)):
        with pytest.raises(error):
            add_child(world, **kw)


def test_a_place_of_the_shipped_table_is_added_when_named(world):
    add_operation(world)
    add_child(world, found_place_code="530100")  # Kunming: not a jurisdiction yet
    with Session(world.engine) as s:
        j = s.execute(select(Jurisdiction).where(Jurisdiction.code == "530100")).scalar_one()
        assert (j.name, j.name_zh, j.path) == ("Kunming", "昆明市", "CN/530000/530100/")


def test_placement_change_is_versioned_and_scoped(world):
    add_operation(world)
    add_child(world)
    actor = world.actor("welfare_linyi")
    write_transaction(world.engine, lambda s: update_unidentified(
        s, "U-1", actor=actor, reason="moved to a foster family", placement_kind="foster_family",
        placement_name="the Wang family"))
    with Session(world.engine) as s:
        v = s.execute(select(RecordVersion).where(RecordVersion.entity == "unidentified")).scalar_one()
        data = json.loads(v.data)
        assert (v.action, v.reason, data["before"]["placement_kind"]) == ("details", "moved to a foster family",
                                                                          "welfare_institution")
        assert "Wang" not in v.data  # personal text is not copied into the version
    with pytest.raises(ReuniteError, match="nothing to change"):
        write_transaction(world.engine, lambda s: update_unidentified(s, "U-1", actor=actor, reason="x",
                                                                      placement_kind="foster_family"))
    with pytest.raises(PermissionDenied):
        write_transaction(world.engine, lambda s: update_unidentified(s, "U-1", actor=world.actor("inv_butuo"),
                                                                      reason="x", placement_kind="hospital"))
    mine = write_transaction(world.engine, lambda s: show_unidentified(s, "U-1", actor=actor))
    assert (mine["placement_name"], mine["given_name"], mine["version"]) == ("the Wang family", "小明", 2)
    other = write_transaction(world.engine, lambda s: show_unidentified(s, "U-1", actor=world.actor("inv_butuo")))
    assert other["restricted"] and "placement_name" not in other and "given_name" not in other


def test_cli_and_api(world, monkeypatch):
    from reunite.cli import app

    monkeypatch.setenv("REUNITE_DATABASE_URL", world.url)
    runner = CliRunner()
    out = runner.invoke(app, ["operation", "add", "OP-C", "--as", "inv_linyi", "--date", "2024-05-01",
                              "--place", "371324", "--case-number", "LY-1"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["child", "add", "U-C", "--as", "welfare_linyi", "--sample", world.codes["CH"],
                              "--sex", "M", "--operation", "OP-C", "--found-date", "2024-05-01", "--no-search"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["child", "place", "U-C", "--as", "welfare_linyi", "--placement-kind", "hospital",
                              "--reason", "ill"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["child", "show", "U-C", "--as", "welfare_linyi", "--json"])
    assert json.loads(out.output)["placement_kind"] == "hospital"
    out = runner.invoke(app, ["operation", "show", "OP-C", "--as", "inv_linyi", "--json"])
    assert [c["code"] for c in json.loads(out.output)["children"]] == ["U-C"]
    out = runner.invoke(app, ["child", "add", "U-D", "--as", "welfare_linyi", "--sample", "S-X", "--found-date", "x"])
    assert out.exit_code != 0 and "--found-date" in str(out.exception)

    client = world.client("welfare_linyi")
    r = client.post("/api/v1/unidentified", json={"code": "U-A", "sample_code": world.codes["S1"], "sex": "F",
                                                  "category": "begging_child", "estimated_age": 7,
                                                  "found_date": "2024-06-01"})
    assert r.status_code == 201, r.text
    assert r.json()["category"] == "begging_child"
    r = client.patch("/api/v1/unidentified/U-A", json={"reason": "placed", "placement_kind": "foster_family",
                                                       "placement_name": "the Lis"})
    assert r.status_code == 200 and r.json()["placement_name"] == "the Lis"
    assert client.patch("/api/v1/unidentified/U-A", json={"placement_kind": "hotel", "reason": "x"}).status_code == 422
    assert client.get("/api/v1/unidentified", params={"category": "begging_child"}).json()["items"][0]["code"] == "U-A"
    assert client.get("/api/v1/unidentified/NOPE").status_code == 404
    op = world.client("inv_linyi")
    r = op.post("/api/v1/operations", json={"code": "OP-A", "operation_date": "2024-02-02", "place_code": "371300"})
    assert r.status_code == 201, r.text
    assert op.get("/api/v1/operations/OP-A").json()["place"] == "371300"
    assert op.get("/api/v1/operations", params={"limit": 1}).json()["next_cursor"]
    assert world.client("analyst").post("/api/v1/operations", json={"code": "OP-Z"}).status_code == 403


def test_dates_out_of_range_are_errors_naming_the_field(world):
    """A date before 1900 (or an age reaching before the year 1) is a 400 naming the field,
    never a crash of the date arithmetic (age filter, prior)."""
    add_operation(world)
    with pytest.raises(ReuniteError, match="^found_date: "):
        add_child(world, code="U-9", found_date=date(3, 1, 1), estimated_age=6.5)
    for field in ("estimated_birth_date", "found_date"):
        kw = {"estimated_age": None, "found_date": None, field: date(1, 6, 1)}
        with pytest.raises(ReuniteError, match=f"^{field}: 0001-06-01 is before 1900"):
            add_child(world, code="U-9", **kw)
    r = world.client("welfare_linyi").post("/api/v1/unidentified", json={
        "code": "U-9", "sample_code": world.codes["CH"], "sex": "M", "found_date": "0002-01-01", "estimated_age": 9})
    assert r.status_code == 400 and r.json()["field"] == "found_date", r.text
