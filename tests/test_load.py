"""Load (``make stress``; left out of ``make test``): concurrent API clients importing,
searching and reviewing through a real ``reunite serve`` on loopback, for a bounded time, on
SQLite and on PostgreSQL (skipped with the reason when no server answers at
``$REUNITE_TEST_POSTGRES``).  Requests/s and p50/p99 per endpoint are printed, never asserted.

A third of the import rounds send each file twice at once: exactly one is imported (201), the
other refused as already there (422).  Then: no 5xx and no 4xx but those 422 and the 409 of two
reviewers taking the same step; every import the
server acknowledged (201) is in the database once, whole, and the tables grew by exactly those;
no search left pending; no candidate twice (per unidentified person, family and missing
person); every review step acknowledged is the candidate's state; the audit chain verifies.

The clients are :mod:`bench_load`'s (``python bench/bench_load.py`` prints the same figures).
Every person is simulated.
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from bench_load import Clients, prepare, report, start_server, stop_server, table_counts  # noqa: E402

from conftest import pg_database  # noqa: E402
from reunite.store.db import make_engine, read_only  # noqa: E402

pytestmark = pytest.mark.stress

LOAD_SECONDS = 20
FAMILIES = 300


@pytest.fixture(params=[("sqlite", 1), ("postgresql", 1), ("postgresql", 2)], ids=lambda p: f"{p[0]}-{p[1]}")
def served(request, tmp_path):
    """(a new database's URL, the server's worker processes): an SQLite file (one process),
    or a throw-away PostgreSQL database (one or two processes, as the deployment guide's)."""
    backend, workers = request.param
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'load.db'}", workers
        return
    url, drop = pg_database()
    try:
        yield url, workers
    finally:
        drop()


def test_concurrent_clients_import_search_and_review(served, tmp_path):
    fresh_url, workers = served
    prepared = prepare(fresh_url, tmp_path, families=FAMILIES, unidentified=FAMILIES // 3, seed=3)
    assert prepared.counts["match_candidates"] > 0, "the prepared database has no candidate to review"
    proc, api = start_server(fresh_url, tmp_path / "server.log", workers=workers)
    try:
        result = Clients(api, prepared, tmp_path, seed=3).run(LOAD_SECONDS)
        verified = httpx.get(f"{api}/audit/verify", headers={"Authorization": f"Bearer {prepared.tokens['auditor']}"},
                             timeout=300)
    finally:
        stop_server(proc)
    print(f"\nload on {fresh_url.split(':')[0]}, {workers} server process(es): {report(result)}")
    log = (tmp_path / "server.log").read_text()
    assert "Traceback" not in log, log[-5000:]
    assert not result.failures, result.failures[:3]
    assert not [s for _, s in result.statuses if s >= 500]
    assert not result.unexpected, "\n".join(result.unexpected[:10])
    assert verified.status_code == 200 and verified.json()["ok"], verified.text
    uploads = result.uploads
    assert any(u.kind == "unidentified" for u in uploads), "no import went through in the time"
    assert result.rejected or result.set_aside, "no review step went through in the time"

    engine = make_engine(fresh_url)
    try:
        with read_only(engine).connect() as c:
            # every acknowledged import once and whole
            for u in uploads:
                got = c.execute(text("SELECT kind, num_rows FROM import_batches WHERE id = :id"),
                                {"id": u.batch_id}).one_or_none()
                rows = len(u.codes) if u.kind == "genotypes" else u.rows  # a genotype batch counts samples
                assert got is not None and got[0].split(" ")[0] == u.kind and got[1] == rows, (u, got)
                table, column = {"genotypes": ("samples", "code"), "families": ("families", "code"),
                                 "unidentified": ("unidentified", "code")}[u.kind]
                held = sorted(c.execute(text(f"SELECT {column} FROM {table} WHERE batch_id = :id"),  # noqa: S608
                                        {"id": u.batch_id}).scalars())
                assert held == u.codes, (u, held)
            # the tables grew by exactly the acknowledged imports
            counts = table_counts(engine)
            new = {k: sum(len(u.codes) for u in uploads if u.kind == k) for k in ("genotypes", "families",
                                                                                   "unidentified")}
            assert counts["samples"] == prepared.counts["samples"] + new["genotypes"]
            assert counts["families"] == prepared.counts["families"] + new["families"]
            assert counts["unidentified"] == prepared.counts["unidentified"] + new["unidentified"]
            assert counts["import_batches"] == prepared.counts["import_batches"] + len(uploads)
            for table in ("families", "unidentified", "samples"):
                assert c.execute(text(f"SELECT count(*) - count(DISTINCT code) FROM {table}")).scalar_one() == 0
            # every search completed, no candidate twice
            assert c.execute(text("SELECT count(*) FROM pending_searches")).scalar_one() == 0
            assert c.execute(text(
                "SELECT count(*) FROM (SELECT unidentified_id, family_id, missing_code FROM match_candidates "
                "GROUP BY unidentified_id, family_id, missing_code HAVING count(*) > 1) d")).scalar_one() == 0
            assert counts["match_candidates"] >= prepared.counts["match_candidates"]
            # every acknowledged review step is the candidate's state, each candidate reviewed once
            done = result.rejected + result.set_aside
            assert len(done) == len(set(done)), "a candidate reviewed to an end twice"
            if done:
                status = dict(c.execute(text(f"SELECT id, status FROM match_candidates WHERE id IN "
                                             f"({','.join(map(str, done))})")).all())
                assert all(status[i] == "rejected" for i in result.rejected), status
                assert all(status[i] == "set_aside" for i in result.set_aside), status
    finally:
        engine.dispose()
