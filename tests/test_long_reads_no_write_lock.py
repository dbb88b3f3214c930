"""A family's plan and a rescue operation's joint identification compute for seconds (minutes
at the terminal): on SQLite they must not hold the database's write lock meanwhile (a write
transaction begins with BEGIN IMMEDIATE), or every import, review and registration waits and
fails after the busy timeout; any reader could block the writers by asking with new seeds.
They read in a read-only session and write their audit entry in a short write transaction
after the computation (before the result is returned).  Simulated data only."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from reunite.store.models_workflow import AuditEntry
from test_joint_identification_service import OP, build
from test_planning_service import REPORT, make_plan_world

pytestmark = pytest.mark.sqlite_only(reason="SQLite's one write lock (BEGIN IMMEDIATE); on PostgreSQL "
                                            "readers never block writers")


def _db_file(world) -> str:
    return world.engine.url.database


def _writer_can_write(path: str) -> bool:
    """Whether another connection gets the write lock at once."""
    conn = sqlite3.connect(path, timeout=0.05, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


def _audits(world, action: str) -> int:
    with Session(world.engine) as s:
        return len(s.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars().all())


@pytest.fixture(scope="module")
def plan_world(tmp_path_factory):
    w = make_plan_world(tmp_path_factory.mktemp("plan_lock"))
    yield w
    w.engine.dispose()


@pytest.fixture(scope="module")
def dvi_world(tmp_path_factory):
    w = build(tmp_path_factory.mktemp("dvi_lock"))
    yield w
    w.engine.dispose()


def test_a_family_plan_computes_without_the_write_lock(plan_world, monkeypatch):
    from reunite.cases import planning

    seen = []
    original = planning.fam_plan.family_power

    def probing(*args, **kwargs):
        seen.append(_writer_can_write(_db_file(plan_world)))
        return original(*args, **kwargs)

    monkeypatch.setattr(planning.fam_plan, "family_power", probing)
    before = _audits(plan_world, "family.plan")
    api = plan_world.client("inv_butuo")
    r = api.get(f"/api/v1/reports/{REPORT}/plan", params={"simulations": 500, "seed": 71, "relatives": "false"})
    assert r.status_code == 200, r.text[:500]
    from web_client import web_login

    page = web_login(plan_world, "inv_butuo").get(f"/reports/{REPORT}/plan", params={"seed": "72"})
    assert page.status_code == 200, page.text[:500]
    assert seen and all(seen), seen  # another writer was never kept waiting
    assert _audits(plan_world, "family.plan") == before + 2  # each plan still audited
    # out of scope: refused, nothing computed, nothing audited
    assert plan_world.client("inv_linyi").get(f"/api/v1/reports/{REPORT}/plan").status_code == 403
    assert _audits(plan_world, "family.plan") == before + 2


def test_a_joint_identification_computes_without_the_write_lock(dvi_world, monkeypatch):
    from reunite.cases import joint_identification

    seen = []
    original = joint_identification._run

    def probing(*args, **kwargs):
        seen.append(_writer_can_write(_db_file(dvi_world)))
        return original(*args, **kwargs)

    monkeypatch.setattr(joint_identification, "_run", probing)
    before = _audits(dvi_world, "operation.identify")
    r = dvi_world.client("reviewer1").get(f"/api/v1/operations/{OP}/identification")
    assert r.status_code == 200, r.text[:500]
    assert r.json()["assignments"]
    from web_client import web_login

    page = web_login(dvi_world, "reviewer1").get(f"/operations/{OP}/identification")
    assert page.status_code == 200, page.text[:500]
    assert seen and all(seen), seen
    assert _audits(dvi_world, "operation.identify") == before + 2
