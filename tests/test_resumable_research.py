"""The full re-search as a resumable job: interrupted (an exception inside a chunk, a stop
after some chunks, SIGKILL of the command) and run again, it leaves the database as an
uninterrupted run does: the same candidates, LRs, flags and history rows."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from reunite.search import research as research_mod
from reunite.search.resumable import read_job, research_all
from reunite.store.db import make_engine
from reunite.store.models import MatchCandidate, Setting
from reunite.store.models_workflow import CandidateEvent
from reunite.store.profiles import GeneticModel

from pg_backend import copy_database  # under make test-pg, a copy of the PostgreSQL database standing for the file

POP = "CHN_national_GBT37223"
MODEL = GeneticModel(POP)
CHANGED = GeneticModel(POP, mutation="equal")  # the model after a change: other LRs


def _store(tmp_path: Path, name: str = "a"):
    """A simulated database whose candidates were found with MODEL (its import's search)."""
    from conftest import simulated_store
    from reunite.search.service import run_search

    folder = tmp_path / name
    folder.mkdir()
    _, engine = simulated_store(folder, 90, 36, seed=17, model=MODEL)
    with Session(engine) as s, s.begin():
        s.add(Setting(key="genetic_model", value=json.dumps(MODEL.to_json())))  # as 'reunite db init' does
        run_search(s, MODEL, top_k=20)
    engine.dispose()
    return folder / "r.db"


def _copy(db: Path, name: str) -> Path:
    folder = db.parent.parent / name
    folder.mkdir()
    copy_database(db, folder / "r.db")
    return folder / "r.db"


def _state(db: Path) -> tuple:
    """The candidates and their history, without times."""
    engine = make_engine(f"sqlite:///{db}")
    with Session(engine) as s:
        cands = []
        for c in s.execute(select(MatchCandidate).order_by(MatchCandidate.id)).scalars():
            prov = json.loads(c.provenance)
            prov.pop("searched_at", None)
            cands.append((c.id, c.unidentified_id, c.family_id, c.missing_code, c.lr, c.log10_lr, c.loci_compared,
                          c.inconsistent_loci, c.lr_per_locus, c.flags, c.status, json.dumps(prov, sort_keys=True)))
        events = [(e.candidate_id, e.comment, e.data) for e in
                  s.execute(select(CandidateEvent).order_by(CandidateEvent.id)).scalars()]
        job = read_job(s)
    engine.dispose()
    return cands, events, job


def _same_job(a, b) -> bool:
    keep = ("model", "min_lr", "top_k", "chunk", "total", "last_id", "done", "num_compared", "stored", "updated",
            "superseded", "reflagged", "below_threshold", "chunks")
    return all(getattr(a, k) == getattr(b, k) for k in keep) and a.finished and b.finished


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("research")
    db = _store(tmp)
    base = _copy(db, "base")  # before any re-search, for the interrupted runs
    engine = make_engine(f"sqlite:///{db}")
    seen = []
    job = research_all(engine, CHANGED, chunk=8, progress=lambda done, total: seen.append((done, total)))
    engine.dispose()
    assert job.finished and job.done == job.total == 36 and job.chunks == 5
    assert seen == [(0, 36), (8, 36), (16, 36), (24, 36), (32, 36), (36, 36)]
    return base, _state(db)


def test_the_re_search_changes_the_candidates(uninterrupted):
    base, (cands, events, job) = uninterrupted
    before, _, _ = _state(base)
    assert job.updated + job.stored > 0 and events  # 're-searched' history rows
    assert [c[4] for c in cands[:len(before)]] != [c[4] for c in before]  # other LRs with the other model
    assert all("a full re-search" in e[1] for e in events)


def test_an_exception_inside_a_chunk_then_a_restart_gives_the_uninterrupted_result(uninterrupted, tmp_path,
                                                                                    monkeypatch):
    base, want = uninterrupted
    db = tmp_path / "r.db"
    copy_database(base, db)
    engine = make_engine(f"sqlite:///{db}")
    real = research_mod.research
    calls = []

    def crashing(session, model, **kw):
        calls.append(list(kw["unidentified_ids"]))
        out = real(session, model, **kw)  # the chunk's writes made, then the crash: rolled back
        if len(calls) == 3:
            raise RuntimeError("injected crash")
        return out

    monkeypatch.setattr(research_mod, "research", crashing)
    with pytest.raises(RuntimeError, match="injected"):
        research_all(engine, CHANGED, chunk=8)
    with Session(engine) as s:
        job = read_job(s)
    assert job.done == 16 and not job.finished and job.last_id == calls[1][-1]
    calls.clear()
    monkeypatch.setattr(research_mod, "research", lambda *a, **kw: (calls.append(kw["unidentified_ids"]),
                                                                      real(*a, **kw))[1])
    job = research_all(engine, CHANGED, chunk=8)
    assert job.finished and job.notes[0].startswith("resumed after 16 of 36 persons")
    assert len(calls) == 3  # only the chunks not done
    engine.dispose()
    got = _state(db)
    assert got[0] == want[0] and got[1] == want[1] and _same_job(got[2], want[2])


def test_a_job_stopped_after_some_chunks_resumes_and_refuses_other_options(uninterrupted, tmp_path):
    base, want = uninterrupted
    db = tmp_path / "r.db"
    copy_database(base, db)
    engine = make_engine(f"sqlite:///{db}")
    job = research_all(engine, CHANGED, chunk=8, max_chunks=1)
    assert job.done == 8 and not job.finished
    with pytest.raises(Exception, match="resume it with those, or start again with --restart"):
        research_all(engine, CHANGED, chunk=8, min_lr=10.0)
    for _ in range(2):  # another chunk size when resumed: the job keeps its own
        job = research_all(engine, CHANGED, chunk=3, max_chunks=1)
    job = research_all(engine, CHANGED)
    assert job.finished
    engine.dispose()
    got = _state(db)
    assert got[0] == want[0] and got[1] == want[1] and _same_job(got[2], want[2])


def test_a_model_change_during_an_unfinished_job_starts_it_again(uninterrupted, tmp_path):
    base, _ = uninterrupted
    db = tmp_path / "r.db"
    copy_database(base, db)
    engine = make_engine(f"sqlite:///{db}")
    research_all(engine, MODEL, chunk=8, max_chunks=2)
    job = research_all(engine, CHANGED, chunk=8, max_chunks=1)
    assert job.done == 8 and "genetic model changed" in job.notes[0]
    engine.dispose()


def _cli(db: Path, *args, **kw):
    env = {**os.environ, "REUNITE_DATABASE_URL": f"sqlite:///{db}", "COLUMNS": "200"}
    return subprocess.Popen([sys.executable, "-m", "reunite.cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kw)


def test_the_research_command(uninterrupted, tmp_path):
    from typer.testing import CliRunner

    from reunite.cli import app

    base, _ = uninterrupted
    db = tmp_path / "r.db"
    copy_database(base, db)
    env = {"REUNITE_DATABASE_URL": f"sqlite:///{db}", "COLUMNS": "200"}
    runner = CliRunner()
    out = runner.invoke(app, ["research", "--status"], env=env)
    assert out.exit_code == 0 and "no full re-search" in out.output
    out = runner.invoke(app, ["research", "--chunk", "10"], env=env)
    assert out.exit_code == 0, out.output
    assert "36 of 36 unidentified persons" in out.output
    out = runner.invoke(app, ["research", "--status"], env=env)
    assert out.exit_code == 0 and "finished" in out.output
    out = runner.invoke(app, ["research", "--chunk", "0"], env=env)
    assert out.exit_code == 1 and "--chunk must be 1 or more" in str(out.exception)


@pytest.mark.stress
def test_sigkill_of_the_research_command_then_a_restart_gives_the_uninterrupted_result(tmp_path):
    """`reunite research` killed (SIGKILL) once its first chunks are recorded, then run
    again: the database ends as after an uninterrupted run of the command."""
    db = _store(tmp_path)
    whole = _copy(db, "whole")
    proc = _cli(whole, "research", "--chunk", "4")
    assert proc.wait(timeout=600) == 0, proc.stdout.read()
    proc = _cli(db, "research", "--chunk", "4")
    engine = make_engine(f"sqlite:///{db}")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        with Session(engine) as s:
            job = read_job(s)
        if job is not None and job.done >= 8:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with Session(engine) as s:
        job = read_job(s)
    assert job is not None and not job.finished and 8 <= job.done < 36
    engine.dispose()
    again = _cli(db, "research", "--chunk", "4")
    output = again.communicate(timeout=600)[0]
    assert again.returncode == 0 and "resumed after" in output, output
    got, want = _state(db), _state(whole)
    assert got[0] == want[0] and got[1] == want[1] and _same_job(got[2], want[2])
