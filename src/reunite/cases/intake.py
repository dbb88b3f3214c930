"""Intake: importing files and running searches, the one service the CLI and the API call.

- :func:`import_file` imports a genotype, family or unidentified-person file in one write
  transaction (the importers of :mod:`reunite.store.importers`: same validation, same import
  report), records the automatic search of the new records as pending in that transaction,
  then runs it (:func:`complete_pending`) in a second one;
- :func:`complete_pending` runs the searches recorded as pending (by an import, a report
  registered, a correction) and stores their candidates, in one write transaction that also
  notifies the owners of the new candidates;
- :func:`search` runs an explicit search (one unidentified person, one family, or all).

Every call takes the acting :class:`~reunite.security.actor.Actor` and audits what it changed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from reunite.cases.common import audit
from reunite.errors import NotFound, ReuniteError
from reunite.security.actor import Actor

KINDS = ("genotypes", "families", "unidentified")
PER = {"families": "family", "unidentified": "unidentified"}
STRONG_LOG10_LR = 4.0  # a candidate ranked first at or above this is counted as strong


def local_actor(username: str | None = None) -> Actor:
    """The actor of the CLI run without ``--as`` on the machine that holds the database (as
    before users existed): may import and search, nothing else; audited under ``local:<login>``."""
    if username is None:
        try:
            username = os.getlogin()
        except OSError:
            username = os.environ.get("USER") or os.environ.get("USERNAME") or "unknown"
    return Actor(username=f"local:{username}"[:64], user_id=None, roles=frozenset(), via="cli",
                 permissions=frozenset({"data:import", "search:run"}))


# ----------------------------------------------------------------------------------------
# Search summaries

@dataclass
class SearchSummary:
    """What one pending search (or one explicit search) did, codes and counts only.

    ``kind``: ``family`` (new families against every unidentified person), ``unidentified``
    (new unidentified persons against every family), ``correction`` (a correction's
    re-search: ``stored``, ``updated``, ``superseded``) or ``explicit``."""

    kind: str
    subject_ids: list[int]
    num_pairs: int = 0
    num_compared: int = 0
    num_candidates: int = 0
    num_strong: int = 0  # ranked first with LR >= 10,000
    skipped_sex: int = 0
    skipped_age: int = 0
    skipped_loci: int = 0
    stored: int = 0
    updated: int = 0
    superseded: int = 0
    flagged: list[str] = field(default_factory=list)  # unidentified persons whose candidates carry identity flags
    new_candidate_ids: list[int] = field(default_factory=list)
    result: Any = field(default=None, repr=False)  # the SearchResult (or ResearchSummary)

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "result"}


def _summary(kind: str, ids: list[int], result) -> SearchSummary:
    if kind == "correction":
        return SearchSummary(kind, list(ids), num_compared=result.num_compared, stored=result.stored,
                             updated=result.updated, superseded=result.superseded, result=result)
    cands = result.candidates
    return SearchSummary(
        kind, list(ids), num_pairs=result.num_pairs, num_compared=result.num_compared, num_candidates=len(cands),
        num_strong=sum(1 for c in cands if c.rank == 1 and c.log10_lr >= STRONG_LOG10_LR),
        skipped_sex=result.skipped_sex, skipped_age=result.skipped_age, skipped_loci=result.skipped_loci,
        stored=len(cands), flagged=sorted({c.unidentified.code for c in cands if c.flags}), result=result)


def _max_candidate_id(session: Session) -> int:
    from reunite.store.models import MatchCandidate

    return session.execute(select(func.max(MatchCandidate.id))).scalar() or 0


def _new_candidates(session: Session, since: int) -> list[int]:
    """Candidates inserted in this transaction (ids above ``since``, flushed)."""
    from reunite.store.models import MatchCandidate

    session.flush()
    return list(session.execute(select(MatchCandidate.id).where(MatchCandidate.id > since)
                                .order_by(MatchCandidate.id)).scalars())


def _notify(session: Session, candidate_ids: list[int]) -> None:
    """The owners of new candidates are told (:func:`reunite.cases.notifications.notify_new_candidates`)."""
    if candidate_ids:
        from reunite.cases.notifications import notify_new_candidates

        notify_new_candidates(session, candidate_ids)


def _holding(index):
    """The lock to hold while ``index`` is brought up to date and searched (the server's
    in-memory index, :class:`reunite.api.index_cache.IndexCache`, has one: a search may add
    columns to the index); none for the others."""
    import contextlib

    lock = getattr(index, "lock", None)
    return lock if lock is not None else contextlib.nullcontext()


def _resolve_index(index, session: Session, model):
    """``index``: a FamilyIndex, a function (session) -> FamilyIndex (the server's in-memory
    index, or the CLI's with a progress bar) or None (the index file, brought up to date)."""
    if index is None:
        from reunite.search.service import family_index

        return family_index(session, model)
    return index(session) if callable(index) else index


# ----------------------------------------------------------------------------------------
# Pending searches

def pending(engine) -> dict[str, list[int]]:
    """The searches recorded as pending: ``{kind: [database ids]}`` (read only)."""
    from reunite.search.service import pending_searches
    from reunite.store.db import read_only

    with Session(read_only(engine)) as reader:
        return pending_searches(reader)


def run_pending_in(session: Session, model, *, actor: Actor, index=None, kind: str | None = None,
                   subject_ids=None, workers: int | None = None, progress=None) -> list[SearchSummary]:
    """:func:`complete_pending` in the caller's write transaction."""
    from reunite.search.service import run_pending

    workers = workers or os.cpu_count() or 1
    since = _max_candidate_id(session)
    with _holding(index):
        idx = _resolve_index(index, session, model)  # new families are indexed now
        summaries = [_summary(k, ids, result) for k, ids, result in
                     run_pending(session, model, kind=kind, subject_ids=subject_ids, workers=workers, index=idx,
                                 progress=progress)]
    new = _new_candidates(session, since)
    if summaries:
        summaries[-1].new_candidate_ids = new  # the transaction's new candidates, on its last search
        audit(session, actor, "search.pending", details={
            "searches": [{"kind": s.kind, "subjects": len(s.subject_ids), "candidates": s.stored}
                         for s in summaries], "new_candidates": len(new)})
    _notify(session, new)
    return summaries


def complete_pending(engine, model, *, actor: Actor, index=None, kind: str | None = None, subject_ids=None,
                     workers: int | None = None, progress=None) -> list[SearchSummary]:
    """Run the searches recorded as pending (all, or those of ``kind`` — ``family`` or
    ``unidentified`` — and ``subject_ids``) in one write transaction with storing their
    candidates, deleting the pending rows and notifying the owners of new candidates
    (:func:`reunite.cases.notifications.notify_new_candidates`): a search is either done,
    stored and notified, or still pending.  ``index``: see :func:`_resolve_index`.  Needs no
    permission of its own: the searches were recorded by a change the actor was allowed to
    make (an import, a report); audited as ``search.pending``."""
    from reunite.store.db import write_transaction

    if kind is not None and kind not in PER.values():
        raise ReuniteError(f"kind: expected family or unidentified, found {kind!r}")
    return write_transaction(engine, lambda session: run_pending_in(
        session, model, actor=actor, index=index, kind=kind, subject_ids=subject_ids, workers=workers,
        progress=progress))


# ----------------------------------------------------------------------------------------
# Imports

@dataclass
class IntakeResult:
    """An import: its report (:class:`reunite.store.importers.ImportReport`), the searches run
    after it, and, when that search failed (the import itself is committed; its search stays
    pending), why; ``reflagged``: stored candidates of earlier persons whose identity flags
    changed (imports without a search)."""

    kind: str
    report: Any
    searches: list[SearchSummary] = field(default_factory=list)
    search_error: str | None = None
    reflagged: int = 0


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ReuniteError(f"kind: expected one of {', '.join(KINDS)}, found {kind!r}")
    return kind


def _without_path(text: str, path, name: str) -> str:
    """JSON ``text`` with the temporary file's path (as written, and as JSON escapes it)
    replaced by the uploaded file's name."""
    if path is None:
        return text
    for form in {str(path), json.dumps(str(path), ensure_ascii=False)[1:-1]}:
        text = text.replace(form, json.dumps(name, ensure_ascii=False)[1:-1])
    return text


def _rename_source(session: Session, batch_id: int | None, name: str, path=None) -> None:
    """Record ``name`` (an uploaded file's name) as the batch's source instead of the path of
    the temporary file it was read from, everywhere in its import report (warnings and
    problems name the file too): the server's temporary folders are not kept."""
    from reunite.store.models import ImportBatch

    if batch_id is None:
        return
    batch = session.get(ImportBatch, batch_id)
    batch.source = name
    if batch.report:
        try:
            report = json.loads(batch.report)
        except ValueError:
            return
        if isinstance(report, dict):
            report["source"] = name
            batch.report = _without_path(json.dumps(report, ensure_ascii=False), path, name)


def import_file(engine, model, kind: str, path, *, actor: Actor, search: bool = True, encoding: str | None = None,
                lenient: bool = False, strict: bool = False, lab: str | None = None, controls=None,
                control_profiles=None, name: str | None = None, index=None,
                workers: int | None = None, progress=None) -> IntakeResult:
    """Import ``path`` (``kind``: genotypes, families or unidentified) in one write
    transaction, audited as ``import.<kind>`` (file name, SHA-256, counts).  Families and
    unidentified persons: with ``search``, their search is recorded as pending in that
    transaction, then run (:func:`complete_pending`); without, the identity flags of earlier
    candidates are brought up to date.  Genotypes take ``lab``, ``strict``, ``controls`` and
    ``control_profiles`` (paths or loaded, see :func:`reunite.store.runexport.controls_from_options`).
    ``name``: the file name to record (an upload's; default: the path).

    Raises
    ------
    PermissionDenied
        without ``data:import``.
    ImportRejected
        a bad file (its ``problems``: every problem, by file and line); nothing is imported.
    """
    from reunite.search.service import record_pending
    from reunite.store import importers
    from reunite.store.db import write_transaction
    from reunite.store.models import ImportBatch

    actor.require("data:import")
    check_kind(kind)
    path = Path(path)
    if kind != "genotypes":
        extra = [o for o, v in (("lab", lab), ("strict", strict), ("controls", controls),
                                ("control_profiles", control_profiles)) if v]
        if extra:
            raise ReuniteError(f"{extra[0]}: only a genotype import takes {', '.join(extra)}")
    else:
        from reunite.store.runexport import controls_from_options

        controls, control_profiles = controls_from_options(controls, control_profiles)  # bad files: before any work
    shown = name or str(path)

    def work(session):  # the records and their pending search, committed together
        if kind == "genotypes":
            report = importers.import_genotypes(session, path, model=model, lab=lab, encoding=encoding, strict=strict,
                                                lenient=lenient, controls=controls, control_profiles=control_profiles,
                                                created_by=actor.username[:128])
        elif kind == "families":
            report = importers.import_families(session, path, model=model, encoding=encoding, lenient=lenient)
        else:
            report = importers.import_unidentified(session, path, encoding=encoding, lenient=lenient)
        if report.batch_id is not None:
            session.get(ImportBatch, report.batch_id).created_by = actor.username[:128]
        if name is not None:
            _rename_source(session, report.batch_id, name, path)
            report.source = name
            if isinstance(report.details, dict):  # the answer to the upload: no temporary path either
                report.details = json.loads(_without_path(json.dumps(report.details, ensure_ascii=False, default=str),
                                                          path, name))
        if search and kind != "genotypes":
            record_pending(session, PER[kind], report.new_ids, batch_id=report.batch_id)
        audit(session, actor, f"import.{kind}", entity="import_batch", entity_id=report.batch_id, details={
            "file": shown, "sha256": report.file_sha256, "rows": report.num_rows, "records": report.num_records})
        return report

    report = write_transaction(engine, work)  # a clash with an import running at once: checked again
    out = IntakeResult(kind, report)
    if kind == "genotypes":
        return out
    per = PER[kind]
    if search:
        try:
            out.searches = complete_pending(engine, model, actor=actor, index=index, kind=per,
                                            subject_ids=report.new_ids, workers=workers, progress=progress)
        except ReuniteError as exc:
            out.search_error = str(exc)
    elif report.new_ids:  # not searched now, but earlier persons' stored candidates must show a new twin
        from reunite.search.service import identity_neighbours, refresh_identity_flags

        def reflag(session):
            kw = {"unidentified_ids": report.new_ids} if per == "unidentified" else {"family_ids": report.new_ids}
            return refresh_identity_flags(session, model, identity_neighbours(session, model, stored=False, **kw))

        out.reflagged = write_transaction(engine, reflag)
    return out


# ----------------------------------------------------------------------------------------
# Explicit searches

@dataclass
class SearchOutcome:
    """An explicit search: the result (:class:`reunite.search.engine.SearchResult`), notes on
    persons not searched (a withdrawn sample), and the identity matches of a lone person
    searched who has no candidate (those have no row to carry their flags)."""

    result: Any
    summary: SearchSummary
    notes: list[str] = field(default_factory=list)
    lone_flags: dict[str, list[str]] = field(default_factory=dict)
    candidate_ids: dict[tuple, int] = field(default_factory=dict)  # (unidentified id, family id, missing) -> id


def _candidate_ids(session: Session, uids: list[int]) -> dict[tuple, int]:
    """The stored candidates of these unidentified persons: (unidentified, family, missing) -> id."""
    from reunite.store.models import MatchCandidate

    out = {}
    for k in range(0, len(uids), 500):
        for cid, u, f, m in session.execute(select(MatchCandidate.id, MatchCandidate.unidentified_id,
                                                   MatchCandidate.family_id, MatchCandidate.missing_code)
                                            .where(MatchCandidate.unidentified_id.in_(uids[k:k + 500]))):
            out[(u, f, m)] = cid
    return out


def check_options(*, min_lr: float, top: int | None, age_tolerance: float) -> None:
    """Refuse, before any work, search options out of range (the messages name the CLI's options)."""
    from reunite.search.engine import tolerance_days

    tolerance_days(age_tolerance)  # a negative or NaN tolerance
    if not min_lr >= 0.0:  # NaN too
        raise ReuniteError(f"--min-lr: expected an LR of 0 or more (e.g. 1: candidates the DNA favours; "
                           f"10000: strong ones), found {min_lr:g}")
    if top is not None and top < 1:
        raise ReuniteError(f"--top: expected 1 or more candidates per query, found {top}; leave --top out for "
                           "the default (the 20 best per person or family; with --all, every candidate of at "
                           "least --min-lr), or raise --min-lr to see fewer")


def _unidentified_ids(session: Session, codes: list[str], *, option: str) -> tuple[list[int], list[str]]:
    """Database ids of unidentified persons by code, and notes on those whose sample is not active."""
    from reunite.store.models import Sample, Unidentified

    ids, notes = [], []
    for code in codes:
        row = session.execute(select(Unidentified.id, Sample.code, Sample.status).join(
            Sample, Sample.id == Unidentified.sample_id).where(Unidentified.code == code)).first()
        if row is None:
            raise NotFound(f"{option}: no unidentified person {code!r} in the database")
        uid, sample, status = row
        if status != "active":
            notes.append(f"the sample {sample} of {code} is {status}: this person is not searched "
                         f"(see 'reunite correct history {code}')")
        ids.append(uid)
    return ids, notes


def search_in(session: Session, model, *, actor: Actor, unidentified: list[str] | None = None,
              family: str | None = None, all_: bool = False, min_lr: float = 1.0, top: int | None = None,
              store: bool = True, workers: int = 1, age_tolerance: float = 3.0, index=None, progress=None,
              option: str = "--unidentified") -> SearchOutcome:
    """:func:`search` in the caller's session (a write transaction when ``store``)."""
    from reunite.search.service import index_applies, run_search
    from reunite.store.models import Family

    actor.require("search:run")
    check_options(min_lr=min_lr, top=top, age_tolerance=age_tolerance)
    if sum(bool(x) for x in (unidentified, family, all_)) != 1:
        raise ReuniteError("give exactly one of --unidentified ID, --family ID, --all or --pending")
    kwargs: dict = {"min_lr": min_lr, "store": store, "workers": max(1, workers), "age_tolerance": age_tolerance}
    notes: list[str] = []
    uids: list[int] = []
    if unidentified:
        uids, notes = _unidentified_ids(session, list(unidentified), option=option)
        kwargs.update(unidentified_ids=uids, top_k=top or 20)
    elif family:
        fid = session.execute(select(Family.id).where(Family.code == family)).scalar()
        if fid is None:
            raise NotFound(f"--family: no family {family!r} in the database")
        kwargs.update(family_ids=[fid], per="family", top_k=top or 20)
    else:
        kwargs.update(top_k=top)
    since = _max_candidate_id(session) if store else 0
    with _holding(index):
        if index_applies(model, per=kwargs.get("per", "unidentified"), family_ids=kwargs.get("family_ids")):
            kwargs["index"] = _resolve_index(index, session, model)
        result = run_search(session, model, progress=progress, **kwargs)
    summary = _summary("explicit", uids, result)
    # a person with no candidate has no row to carry its identity flags (a child's sample
    # that is its mother's gives no LR >= 1 against a family with both parents): given here
    lone: dict[str, list[str]] = {}
    if uids:
        with_candidates = {c.unidentified.id for c in result.candidates}
        for code, uid in zip(unidentified, uids):
            if uid not in with_candidates:
                flags = lone_identity_flags(session, model, uid)
                if flags:
                    lone[code] = flags
    if store:
        summary.new_candidate_ids = _new_candidates(session, since)
        if uids:
            out_ids = _candidate_ids(session, uids)
        audit(session, actor, "search.run", details={
            "unidentified": list(unidentified or [])[:100], "family": family, "all": all_, "min_lr": min_lr,
            "candidates": len(result.candidates), "new_candidates": len(summary.new_candidate_ids)})
        _notify(session, summary.new_candidate_ids)
    return SearchOutcome(result, summary, notes, lone, out_ids if store and uids else {})


def search(engine, model, *, actor: Actor, unidentified: list[str] | None = None, family: str | None = None,
           all_: bool = False, min_lr: float = 1.0, top: int | None = None, store: bool = True, workers: int = 1,
           age_tolerance: float = 3.0, index=None, progress=None, option: str = "--unidentified") -> SearchOutcome:
    """Search unidentified persons (codes) against every family, one family (code) against
    every unidentified person, or ``all_``; candidates with LR >= ``min_lr``, the ``top``
    best per query (default 20; with ``all_``, all).  With ``store`` the candidates are
    stored (idempotent) in one write transaction, audited as ``search.run``, and the owners
    of new candidates notified; without, nothing is written.  Needs ``search:run``."""
    from reunite.store.db import read_only, write_transaction

    kw = dict(actor=actor, unidentified=unidentified, family=family, all_=all_, min_lr=min_lr, top=top,
              store=store, workers=workers, age_tolerance=age_tolerance, index=index, progress=progress,
              option=option)
    if store:
        return write_transaction(engine, lambda session: search_in(session, model, **kw))
    with Session(read_only(engine)) as session:  # never waits for a writer
        return search_in(session, model, **kw)


def search_unidentified(engine, model, *, actor: Actor, codes: list[str], **options) -> SearchOutcome:
    """One-to-many: these unidentified persons (codes) against every family (see :func:`search`)."""
    if not codes:
        raise ReuniteError("unidentified: give at least one unidentified person's code")
    return search(engine, model, actor=actor, unidentified=list(codes), option="unidentified", **options)


def lone_identity_flags(session: Session, model, uid: int) -> list[str]:
    """The identity matches of one unidentified person (database id), in words."""
    from reunite.search.identity import describe_holder
    from reunite.search.service import identity_cache, load_unidentified

    people = load_unidentified(session, [uid])
    if not people:  # withdrawn
        return []
    lookup = identity_cache(session, model)
    [matches] = lookup.matches([people[0].profile], exclude=lookup.holders.unidentified_entries([uid]))
    words = {"identical": "identical to", "identical_common_loci": "identical at every common locus to",
             "one_locus_apart": "one locus apart from"}
    return [f"{words[m.kind]} {describe_holder(lookup.holders[m.target])} ({m.common_loci} common loci"
            + (f", differing at {m.locus})" if m.locus else ")") for m in matches]


# ----------------------------------------------------------------------------------------
# Import batches

@dataclass
class BatchView:
    """An import batch: what was imported, from which file, by whom; ``report``: the import
    report (codes, lines and reasons; no names) when asked for."""

    id: int
    kind: str
    source: str
    num_rows: int
    created_at: Any
    file_sha256: str | None
    created_by: str | None
    report: dict | None = None


def _batch_view(batch, *, report: bool) -> BatchView:
    details = None
    if report and batch.report:
        try:
            details = json.loads(batch.report)
        except ValueError:
            details = {"text": batch.report}
    return BatchView(batch.id, batch.kind, batch.source, batch.num_rows, batch.created_at, batch.file_sha256,
                     batch.created_by, details)


def list_imports(session: Session, *, actor: Actor, kind: str | None = None, cursor: str | None = None,
                 limit: int | None = None):
    """Import batches, newest first (``kind``: genotypes, families or unidentified), a
    :class:`~reunite.cases.common.Page` of :class:`BatchView`.  Needs ``data:import``."""
    from reunite.cases.common import keyset_page
    from reunite.store.models import ImportBatch

    actor.require("data:import")
    query = select(ImportBatch)
    if kind is not None:
        check_kind(kind)
        query = query.where(ImportBatch.kind.like(f"{kind}%"))
    page = keyset_page(session, query, ImportBatch.id, cursor=cursor, limit=limit, descending=True)
    page.items = [_batch_view(b, report=False) for b in page.items]
    return page


def get_import(session: Session, *, actor: Actor, batch_id: int) -> BatchView:
    """One import batch with its report.  Needs ``data:import``."""
    from reunite.store.models import ImportBatch

    actor.require("data:import")
    batch = session.get(ImportBatch, batch_id)
    if batch is None:
        raise NotFound(f"batch_id: no import batch {batch_id}")
    return _batch_view(batch, report=True)


def pending_counts(engine, *, actor: Actor) -> dict[str, int]:
    """How many searches of each kind (``family``, ``unidentified``) are pending.  Needs ``search:run``."""
    actor.require("search:run")
    return {kind: len(ids) for kind, ids in pending(engine).items()}
