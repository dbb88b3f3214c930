"""Jurisdiction scope of the record services: an investigator of Zhaojue never reads the names,
contacts or circumstances of a Butuo report (service, CLI, API; show, list, every filter); a
Sichuan provincial investigator does, and that read is audited."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from records_data import import_samples, simulate
from reunite.cases.reports import Reference, create_report, list_reports, show_report
from reunite.store.db import write_transaction
from reunite.store.models_workflow import AuditEntry
from workflow_world import USERS, make_world

SECRETS = ("吉克阿依", "Jike Ayi", "+86 139 0000 1111", "taken near the school", "Hamlet 4", "Jike Muga")


@pytest.fixture
def world(tmp_path):
    w = make_world(f"sqlite:///{tmp_path / 'r.db'}",
                   users=USERS + [("inv_sichuan", ["investigator"], "510000", None)])
    w.codes = import_samples(w, tmp_path, simulate(w.model, seed=2), prefix="S-")
    actor = w.actor("inv_butuo")
    write_transaction(w.engine, lambda s: create_report(
        s, actor=actor, code="BT-1", child_name="吉克阿依 (Jike Ayi)", child_sex="F", child_birth_date=date(2016, 1, 1),
        missing_date=date(2020, 5, 5), missing_place_code="513429", missing_place_detail="Hamlet 4",
        circumstances="taken near the school", contact_name="Jike Muga", contact="+86 139 0000 1111",
        references=[Reference("father", w.codes["FA"])]))
    return w


def _clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, secret


FILTERS = [{}, {"status": "open"}, {"jurisdiction_code": "513429"}, {"jurisdiction_code": "513400"},
           {"missing_from": date(2020, 1, 1)}, {"missing_to": date(2021, 1, 1)},
           {"created_from": date(2000, 1, 1)}, {"agency_code_": "PSB-513429"}]


def test_service(world):
    zhaojue = world.actor("inv_zhaojue")
    shown = write_transaction(world.engine, lambda s: show_report(s, "BT-1", actor=zhaojue))
    assert shown == {"code": "BT-1", "status": "open", "jurisdiction": "513429", "agency": "PSB-513429",
                     "restricted": True}
    for kw in FILTERS:
        page = write_transaction(world.engine, lambda s: list_reports(s, actor=zhaojue, **kw))
        _clean(json.dumps(page.items, ensure_ascii=False, default=str))
        for item in page.items:
            assert item["restricted"] and set(item) == {"code", "status", "jurisdiction", "agency", "restricted"}
    # a date filter does not reveal a report one may not read
    page = write_transaction(world.engine, lambda s: list_reports(s, actor=zhaojue, missing_from=date(2020, 1, 1)))
    assert page.items == []
    province = world.actor("inv_sichuan")
    shown = write_transaction(world.engine, lambda s: show_report(s, "BT-1", actor=province))
    assert shown["child_name"].startswith("吉克阿依") and shown["contact"] == "+86 139 0000 1111"
    assert shown["circumstances"] == "taken near the school"
    page = write_transaction(world.engine, lambda s: list_reports(s, actor=province, missing_from=date(2020, 1, 1)))
    assert page.items[0]["child_name"].startswith("吉克阿依")
    analyst = world.actor("analyst")  # national, but no personal:read
    shown = write_transaction(world.engine, lambda s: show_report(s, "BT-1", actor=analyst))
    assert not shown["restricted"] and shown["missing_date"] == "2020-05-05"
    _clean(json.dumps(shown, ensure_ascii=False))
    with Session(world.engine) as s:
        reads = s.execute(select(AuditEntry.actor).where(AuditEntry.action == "report.read_personal")).scalars().all()
    assert sorted(set(reads)) == ["inv_sichuan"]


def test_cli(world, monkeypatch):
    from reunite.cli import app

    monkeypatch.setenv("REUNITE_DATABASE_URL", world.url)
    runner = CliRunner()
    for args in (["report", "show", "BT-1"], ["report", "show", "BT-1", "--json"], ["report", "list"],
                 ["report", "list", "--json", "--jurisdiction", "513429"], ["report", "list", "--status", "open"],
                 ["report", "list", "--missing-from", "2020-01-01", "--json"]):
        out = runner.invoke(app, [*args, "--as", "inv_zhaojue"])
        assert out.exit_code == 0, out.output
        _clean(out.output)
    out = runner.invoke(app, ["report", "show", "BT-1", "--as", "inv_sichuan", "--json"])
    assert "Jike Muga" in out.output


def test_api(world):
    client = world.client("inv_zhaojue")
    r = client.get("/api/v1/reports/BT-1")
    assert r.status_code == 200 and r.json()["restricted"] is True
    _clean(r.text)
    for params in ({}, {"status": "open"}, {"jurisdiction": "513429"}, {"missing_from": "2020-01-01"},
                   {"missing_to": "2030-01-01"}, {"agency": "PSB-513429"}, {"created_from": "2000-01-01"}):
        r = client.get("/api/v1/reports", params=params)
        assert r.status_code == 200, r.text
        _clean(r.text)
    assert client.post("/api/v1/reports/BT-1/close", json={"reason": "x"}).status_code == 403
    r = world.client("inv_sichuan").get("/api/v1/reports/BT-1")
    assert r.json()["contact_name"] == "Jike Muga"
