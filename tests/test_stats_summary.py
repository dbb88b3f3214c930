"""`reunite stats` (through store.summary.database_summary): samples by status, candidates
with identity flags and superseded ones, and the searches still owed."""

import json

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from reunite.cli import app
from reunite.simulate import simulate_database, write_database
from reunite.store.db import make_engine
from reunite.store.models import MatchCandidate, PendingSearch, Sample, Unidentified
from reunite.store.summary import database_summary


def test_stats_counts_flags_superseded_and_pending(tmp_path, monkeypatch):
    db = simulate_database(20, 8, seed=3)
    paths = write_database(db, tmp_path / "sim")
    url = f"sqlite:///{tmp_path / 'r.db'}"
    monkeypatch.setenv("REUNITE_DATABASE_URL", url)
    runner = CliRunner()
    assert runner.invoke(app, ["db", "init"]).exit_code == 0
    for kind in ("genotypes", "families", "unidentified"):
        result = runner.invoke(app, ["import", kind, str(paths[kind])])
        assert result.exit_code == 0, result.output
    engine = make_engine(url)
    with Session(engine) as s, s.begin():
        ids = list(s.execute(select(MatchCandidate.id).order_by(MatchCandidate.id)).scalars())
        assert len(ids) >= 2
        s.execute(update(MatchCandidate).where(MatchCandidate.id == ids[0]).values(flags=json.dumps(
            [{"kind": "identical", "relation": "this_family_reference", "sample": "S1"}])))
        s.execute(update(MatchCandidate).where(MatchCandidate.id == ids[1]).values(flags=json.dumps(
            [{"kind": "superseded", "reason": "after a correction"}])))
        uid = s.execute(select(Unidentified.id).limit(1)).scalar()
        s.add(PendingSearch(kind="unidentified", subject_id=uid, reason="automatic search after the import"))
        s.execute(update(Sample).where(Sample.id == s.execute(select(Sample.id).limit(1)).scalar())
                  .values(status="withdrawn"))
    with Session(engine) as s:
        d = database_summary(s)
    assert d["candidates_flagged"] == {"identity": 1, "superseded": 1}
    assert d["pending_searches"] == {"unidentified": 1}
    assert d["samples"]["withdrawn"] == 1 and d["num_active"] == sum(d["samples"].values()) - 1
    out = runner.invoke(app, ["stats"], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "pending searches: 1 unidentified persons" in out.output
    assert "reunite search --pending" in out.output
    assert "withdrawn" in out.output and "superseded by a correction" in out.output
