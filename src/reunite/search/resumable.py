"""A full re-search of the database as a resumable job.

After the genetic model or its frequency table changes, every stored candidate's LR is out
of date: every unidentified person is searched again against every family, and the earlier
candidates are brought up to date exactly as after a correction
(:func:`reunite.search.research.research`: LRs updated, candidates no longer found flagged
``superseded``, a 're-searched' history row with the old and new LR, reviewed candidates
below the review threshold flagged).

The persons are taken in order of their database id, a chunk at a time; each chunk is one
write transaction that also records the job's checkpoint (the last id done and the running
totals, in the ``settings`` table under :data:`JOB_KEY`).  A chunk is thus either entirely
done and recorded, or not at all: after a crash, a kill or a lost machine, running the job
again continues after the last recorded chunk, and since the candidates are stored
idempotently (one row per unidentified person, family and missing person) the database ends
as an uninterrupted run leaves it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from sqlalchemy import func, select

from reunite.errors import ReuniteError

#: The settings key of the job's checkpoint.
JOB_KEY = "research_job"

#: Unidentified persons per chunk (one transaction, one checkpoint).
DEFAULT_CHUNK = 200


@dataclass
class ResearchJob:
    """A full re-search's checkpoint: what it searches with, how far it is, what it did."""

    model: str  # the genetic model it searches with (GeneticModel.describe())
    min_lr: float
    top_k: int | None
    chunk: int
    total: int  # unidentified persons in the database when it started
    started_at: str
    last_id: int = 0  # the highest unidentified id done: every person up to it is done
    done: int = 0
    num_compared: int = 0
    stored: int = 0
    updated: int = 0
    superseded: int = 0
    reflagged: int = 0
    below_threshold: int = 0
    chunks: int = 0
    finished_at: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.finished_at is not None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def read_job(session) -> ResearchJob | None:
    """The checkpoint recorded in the database (None if no full re-search was ever run)."""
    from reunite.store.models import Setting

    row = session.get(Setting, JOB_KEY)
    if row is None:
        return None
    try:
        data = json.loads(row.value)
        return ResearchJob(**{k: v for k, v in data.items() if k in ResearchJob.__dataclass_fields__})
    except (ValueError, TypeError) as exc:
        raise ReuniteError(f"the checkpoint of the full re-search (settings key {JOB_KEY!r}) is not readable "
                           f"({exc}); start again with 'reunite research --restart'") from None


def _write_job(session, job: ResearchJob) -> None:
    from reunite.store.models import Setting

    row = session.get(Setting, JOB_KEY)
    value = json.dumps(asdict(job))
    if row is None:
        session.add(Setting(key=JOB_KEY, value=value))
    else:
        row.value = value
    session.flush()


def _because(job: ResearchJob) -> str:
    return f"a full re-search ({job.model})"


def research_all(engine, model, *, chunk: int = DEFAULT_CHUNK, min_lr: float = 1.0, top_k: int | None = 20,
                 restart: bool = False, index=None, workers: int = 1, progress=None, on_chunk=None,
                 max_chunks: int | None = None) -> ResearchJob:
    """Search every unidentified person again and bring the stored candidates up to date
    (see the module doc); resumes the job recorded in the database unless it is finished
    or ``restart``.

    Parameters
    ----------
    engine
        the database.
    model
        the genetic model to search with (the database's).
    chunk
        persons per transaction and checkpoint.
    min_lr, top_k
        as :func:`reunite.search.research.research`; a job is resumed only with its own.
    index
        the family index: a FamilyIndex, a DaskIndex, or a function (session) -> either;
        default: the database's, brought up to date once at the start.
    progress
        called with (persons done, total) at the start and after each chunk.
    on_chunk
        called as ``on_chunk(session, details)`` inside each chunk's transaction (the CLI
        audits there).
    max_chunks
        stop after this many chunks (the job stays resumable).

    Raises
    ------
    ReuniteError
        if ``chunk`` is below 1, or an unfinished job was started with other ``min_lr``
        or ``top_k`` (resume it with its own, or ``restart``).
    """
    from sqlalchemy.orm import Session

    from reunite.search import research as research_mod
    from reunite.store.db import read_only, write_transaction
    from reunite.store.models import Unidentified

    if chunk < 1:
        raise ReuniteError(f"--chunk must be 1 or more (found {chunk})")
    with Session(read_only(engine)) as session:
        job = read_job(session)
        total = session.execute(select(func.count(Unidentified.id))).scalar() or 0
        notes = []
        if job is not None and not job.finished and not restart:
            if job.model != model.describe():
                notes.append(f"the genetic model changed since the unfinished re-search started ({job.model}); "
                             "it starts again from the first person")
                job = None
            elif (job.min_lr, job.top_k) != (float(min_lr), top_k):
                raise ReuniteError(
                    f"an unfinished full re-search runs with --min-lr {job.min_lr:g} --top {job.top_k}; resume it "
                    f"with those, or start again with --restart ({job.done:,} of {job.total:,} persons done)")
            else:
                notes.append(f"resumed after {job.done:,} of {job.total:,} persons (last id {job.last_id})")
        else:
            if job is not None and job.finished and not restart:
                notes.append(f"the previous full re-search finished at {job.finished_at}; a new one starts")
            job = None
        if job is None:
            job = ResearchJob(model.describe(), float(min_lr), top_k, chunk, total, _now())
        job.notes = notes
        if callable(index) and not hasattr(index, "index_search"):
            index = index(session)
        elif index is None:
            from reunite.search.service import family_index, index_applies

            index = family_index(session, model) if index_applies(model) else None
    if progress is not None:
        progress(job.done, max(job.total, job.done))
    runs = 0
    while True:
        if max_chunks is not None and runs >= max_chunks:
            return job  # stopped as asked: resumable
        with Session(read_only(engine)) as session:
            ids = list(session.execute(select(Unidentified.id).where(Unidentified.id > job.last_id)
                                       .order_by(Unidentified.id).limit(job.chunk)).scalars())
        if not ids:
            break

        def work(session, ids=ids):
            summary = research_mod.research(session, model, unidentified_ids=ids, min_lr=job.min_lr,
                                            top_k=job.top_k, because=_because(job), index=index, workers=workers)
            done = ResearchJob(**{**asdict(job), "notes": []})
            done.last_id = ids[-1]
            done.done += len(ids)
            done.chunks += 1
            for name in ("num_compared", "stored", "updated", "superseded", "reflagged", "below_threshold"):
                setattr(done, name, getattr(done, name) + getattr(summary, name))
            _write_job(session, done)
            if on_chunk is not None:
                on_chunk(session, {"job_started_at": done.started_at, "first_id": ids[0], "last_id": ids[-1],
                                   "persons": len(ids), "stored": summary.stored, "superseded": summary.superseded})
            return done

        notes = job.notes
        job = write_transaction(engine, work)
        job.notes = notes
        runs += 1
        if progress is not None:
            progress(job.done, max(job.total, job.done))
    job.finished_at = _now()
    write_transaction(engine, lambda session: _write_job(session, job))
    return job
