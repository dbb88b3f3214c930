"""The intake service the CLI and the API share: imports with an actor (permission, audit,
who imported), pending searches completed in one transaction with the notifications of
their new candidates, explicit searches."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from reunite.cases import intake
from reunite.errors import NotFound, PermissionDenied
from reunite.simulate import simulate_database, write_database
from reunite.store.models import ImportBatch, MatchCandidate, PendingSearch
from reunite.store.models_workflow import AuditEntry
from workflow_world import make_world


@pytest.fixture
def world(tmp_path):
    return make_world(f"sqlite:///{tmp_path / 'intake.db'}")


@pytest.fixture
def paths(tmp_path):
    db = simulate_database(30, 10, seed=7)
    return db, write_database(db, tmp_path / "sim")


def _count(world, what, *where):
    with Session(world.engine) as s:
        return s.execute(select(func.count()).select_from(what).where(*where)).scalar()


def test_import_needs_data_import(world, paths):
    _, p = paths
    with pytest.raises(PermissionDenied, match="data:import"):
        intake.import_file(world.engine, world.model, "genotypes", p["genotypes"], actor=world.actor("reviewer1"))
    assert _count(world, ImportBatch) == 0


def test_import_then_search_in_one_go(world, paths, monkeypatch):
    db, p = paths
    analyst = world.actor("analyst")
    notified = []
    from reunite.cases import notifications

    real = notifications.notify_new_candidates
    monkeypatch.setattr(notifications, "notify_new_candidates",
                        lambda session, ids, **kw: notified.append(list(ids)) or real(session, ids, **kw))
    g = intake.import_file(world.engine, world.model, "genotypes", p["genotypes"], actor=analyst, lab="LAB-510000")
    assert g.searches == [] and g.report.num_records > 0
    intake.import_file(world.engine, world.model, "unidentified", p["unidentified"], actor=analyst)
    out = intake.import_file(world.engine, world.model, "families", p["families"], actor=analyst, name="fam.csv")
    assert out.search_error is None and [s.kind for s in out.searches] == ["family"]
    new = out.searches[-1].new_candidate_ids
    assert new and notified == [new]  # notified in the search's transaction
    assert _count(world, MatchCandidate) == len(new) and _count(world, PendingSearch) == 0
    with Session(world.engine) as s:
        batch = s.get(ImportBatch, out.report.batch_id)
        assert batch.source == "fam.csv" and batch.created_by == "analyst"
        actions = [a for a, in s.execute(select(AuditEntry.action).order_by(AuditEntry.seq))]
    assert [a for a in actions if a.startswith("import.")] == ["import.genotypes", "import.unidentified",
                                                               "import.families"]
    assert actions.count("search.pending") == 2


def test_search_failure_leaves_the_import_and_its_pending_search(world, paths, monkeypatch):
    _, p = paths
    analyst = world.actor("analyst")
    intake.import_file(world.engine, world.model, "genotypes", p["genotypes"], actor=analyst)
    intake.import_file(world.engine, world.model, "unidentified", p["unidentified"], actor=analyst, search=False)

    def boom(*a, **k):
        raise intake.ReuniteError("disk full")

    monkeypatch.setattr("reunite.search.service.run_pending", boom)
    out = intake.import_file(world.engine, world.model, "families", p["families"], actor=analyst)
    assert out.search_error == "disk full" and out.report.num_records == 30
    assert intake.pending_counts(world.engine, actor=analyst) == {"family": 30}
    monkeypatch.undo()
    done = intake.complete_pending(world.engine, world.model, actor=world.actor("inv_butuo"))  # no permission needed
    assert [s.kind for s in done] == ["family"] and done[0].stored > 0
    assert intake.pending(world.engine) == {}


def test_explicit_search(world, paths):
    db, p = paths
    analyst = world.actor("analyst")
    for kind in ("genotypes", "families", "unidentified"):
        intake.import_file(world.engine, world.model, kind, p[kind], actor=analyst, search=False)
    u, f, m = db["truth"][0]
    with pytest.raises(PermissionDenied):
        intake.search_unidentified(world.engine, world.model, actor=world.actor("inv_butuo"), codes=[u])
    with pytest.raises(NotFound, match="unidentified: no unidentified person 'NOPE'"):
        intake.search_unidentified(world.engine, world.model, actor=analyst, codes=["NOPE"])
    dry = intake.search_unidentified(world.engine, world.model, actor=analyst, codes=[u], store=False)
    best = dry.result.candidates[0]
    assert (best.family.code, best.missing) == (f, m) and dry.candidate_ids == {}
    assert _count(world, MatchCandidate) == 0
    found = intake.search_unidentified(world.engine, world.model, actor=analyst, codes=[u])
    assert found.summary.new_candidate_ids and len(found.candidate_ids) == len(found.result.candidates)
    again = intake.search_unidentified(world.engine, world.model, actor=analyst, codes=[u])
    assert again.summary.new_candidate_ids == []  # idempotent: updated, not new
    fam = intake.search(world.engine, world.model, actor=analyst, family=f)
    assert any(c.unidentified.code == u for c in fam.result.candidates)
    with pytest.raises(intake.ReuniteError, match="--top"):
        intake.search(world.engine, world.model, actor=analyst, all_=True, top=0)


def test_local_actor_imports_and_searches_only():
    actor = intake.local_actor("ops")
    assert actor.username == "local:ops" and actor.can("data:import") and actor.can("search:run")
    assert not actor.can("personal:read") and not actor.can("candidate:confirm")
