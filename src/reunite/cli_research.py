"""``reunite research``: the full re-search of the database after a change of the genetic
model or its frequency table, resumable (:mod:`reunite.search.resumable`); this module only
reads the options, shows the progress and prints what the job did."""

from __future__ import annotations

import os

import typer

from reunite.cli_common import AS_USER
from reunite.search.resumable import DEFAULT_CHUNK


def _describe(job) -> str:
    if job is None:
        return "no full re-search has been run on this database"
    state = (f"finished at {job.finished_at}" if job.finished
             else f"unfinished: {job.done:,} of {job.total:,} persons done (last id {job.last_id}); "
                  "'reunite research' continues it")
    return (f"full re-search started at {job.started_at} with {job.model} (LR >= {job.min_lr:g}, top {job.top_k}, "
            f"{job.chunk} persons a chunk): {state}")


def research(
    chunk: int = typer.Option(DEFAULT_CHUNK, "--chunk", help="Unidentified persons per transaction and checkpoint."),
    min_lr: float = typer.Option(1.0, "--min-lr", help="Candidates found again have at least this LR; earlier "
                                 "ones now below it are flagged superseded."),
    top: int = typer.Option(20, "--top", help="At most this many candidates per person, 1 or more."),
    restart: bool = typer.Option(False, "--restart", help="Start again from the first person, even if an "
                                 "unfinished re-search is recorded."),
    status: bool = typer.Option(False, "--status", help="Only say how far the recorded re-search is."),
    workers: int = typer.Option(os.cpu_count() or 1, help="Threads of the search (or --dask local processes)."),
    dask: str = typer.Option(None, "--dask", help="Scan the family index on the Dask cluster at this address "
                             "(tcp://host:8786), or 'local'."),
    partitions: int = typer.Option(None, "--partitions", help="With --dask: row ranges of the family index."),
    index_path: str = typer.Option(None, "--index-path", help="With --dask: the workers read their rows of the "
                                   "family index from this file, as they see it ('database': the database's own "
                                   "index file); it must be up to date ('reunite db index')."),
    as_user: str = AS_USER,
) -> None:
    """Search every unidentified person again and bring the stored candidates up to date
    (after a change of the genetic model or its frequency table), a chunk at a time: each
    chunk is committed with its checkpoint, so a run that stops (killed, a crash, a lost
    worker) continues where it stopped when run again, with the same end result."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from sqlalchemy.orm import Session

    from reunite.cases import intake
    from reunite.cases.common import audit
    from reunite.cli import _cli_actor, _updated_index, console, err
    from reunite.cli_common import open_store
    from reunite.search.dask_backend import check_options, dask_search
    from reunite.search.resumable import read_job, research_all
    from reunite.search.service import index_applies
    from reunite.store.db import read_only

    intake.check_options(min_lr=min_lr, top=top, age_tolerance=3.0)
    check_options(dask, partitions=partitions, index_path=index_path)
    engine, model = open_store()
    if status:
        with Session(read_only(engine)) as session:
            console.print(_describe(read_job(session)))
        return
    actor = _cli_actor(as_user)
    actor.require("search:run")
    with dask_search(dask, workers=max(1, workers), partitions=partitions, index_path=index_path) as spread, \
            Progress(TextColumn("re-searching"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                     console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task("re-search", total=None)
        job = research_all(
            engine, model, chunk=chunk, min_lr=min_lr, top_k=top, restart=restart, workers=max(1, workers),
            index=(lambda s: spread(lambda: _updated_index(s, model, bar=progress), session=s, model=model))
            if index_applies(model) else None,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
            on_chunk=lambda session, details: audit(session, actor, "search.research", details=details))
    for note in job.notes:
        err.print(f"note: {note}", highlight=False, markup=False)
    console.print(f"re-searched {job.done:,} of {job.total:,} unidentified persons in {job.chunks:,} chunk(s) with "
                  f"{job.model}: {job.num_compared:,} pairs compared; {job.stored:,} candidates stored, "
                  f"{job.updated:,} earlier ones computed again, {job.superseded:,} superseded; identity flags "
                  f"changed on {job.reflagged:,}; {job.below_threshold:,} reviewed candidate(s) now below the "
                  "review threshold", highlight=False)
    console.print(_describe(job), highlight=False)
