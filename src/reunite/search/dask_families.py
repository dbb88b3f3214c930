"""A family searched against every unidentified person on a Dask cluster (``reunite search
--family`` at scale): the unidentified index (:mod:`reunite.search.unidentified_index`) cut
into person ranges, one per worker task, each searched by the single-process code
(:func:`~reunite.search.unidentified_index.search_families`) on its range.

Why the merge is exact.  For each (family, missing person) pair the engine's tables are
computed on every worker from the same jobs in the same batches (the same floats), and each
person's score is a sum over that person's loci only: a person scores the same in any range.
The loci of the search are those of the whole index (the partitions keep its per-locus
typed counts).  A range keeps, per pair, its best ``top_k`` and every person tied with the
k-th, then its ``top_k`` best per family; the persons the whole search reports per family
have fewer than ``top_k`` persons of the family's pairs above them anywhere, so fewer in their
own range: their range keeps them.  The client ranks the union as the single-process search
ranks its candidates (:func:`reunite.search.engine._ranked`).  The counts are sums; the
skipped pairs are listed by the whole search as those left out for their dates, then those
for their loci, each in person order, the first ``MAX_LISTED_SKIPPED``: a range lists its own
in the same order, at least as many of each kind as the whole search can list from it, so the
client's concatenation in range order, dates first, gives the same list.

A person whose allele is not in the frequency table (flagged RARE in the index) is scored by
the engine pair by pair, on the worker, from the person's record (read by the client first:
they are few).  Every other candidate comes back from the worker with its person's id and
code only; the client reads the records of the reported persons from the database.  When
the scan does not apply (a person typed at a locus the model cannot use, too many loci) the
search runs on the client, as the single-process search does (the engine, every pair).
"""

from __future__ import annotations

import copy
import uuid

import numpy as np

from reunite.errors import ReuniteError
from reunite.search.dask_backend import DEFAULT_BATCH, DaskIndex, wait_for_workers

#: The per-person attributes of an UnidentifiedIndex (cut to a worker's persons); the
#: per-locus ones (columns, sizes, typed_count, tables) are the whole index's.
PER_PERSON = ("ids", "codes", "sex", "birth", "found", "flags", "codes_text")

_SEX = {1: "M", 2: "F"}


def partition_unidentified(index, start: int, stop: int):
    """The persons ``start:stop`` of an :class:`~reunite.search.unidentified_index.UnidentifiedIndex`
    as an index of their own for a worker (``row_offset`` = ``start``).  ``typed_count`` stays
    the whole index's: the loci of a search (and so the engine's tables) are the whole
    index's, on every worker."""
    n = len(index)
    if not 0 <= start <= stop <= n:
        raise ReuniteError(f"persons {start}:{stop} are not a range of an index of {n:,} persons")
    sub = copy.copy(index)
    for name in PER_PERSON:
        setattr(sub, name, getattr(index, name)[start:stop])
    sub._tok = {}
    sub.row_offset = start
    return sub


def search_partition(sub, families, *, model, min_lr: float, top_k: int | None, age_tolerance: float,
                     records: dict):
    """:func:`~reunite.search.unidentified_index.search_families` of ``families`` against the
    persons of ``sub``.  ``records``: the full records of the persons the engine scores (an
    allele absent from the table); the others' candidates carry a record with their id, code
    and sex only (the client reads the rest).  Runs on a worker."""
    from reunite.search.engine import UnidentifiedRecord
    from reunite.search.unidentified_index import search_families

    rows = {int(i): r for r, i in enumerate(sub.ids.tolist())}

    def load(ids):
        if ids is None:  # the client searches itself when the scan does not apply
            raise ReuniteError("a partition of the unidentified index fell back to the engine's search of "
                               "everyone; the client should have searched")
        out = []
        for i in ids:
            i = int(i)
            if i in records:
                out.append(records[i])
            else:
                r = rows[i]
                out.append(UnidentifiedRecord(i, sub.codes_text[r], _SEX.get(int(sub.sex[r]), "U"), {}))
        return out

    return search_families(sub, families, model=model, load_unidentified=load, min_lr=min_lr, top_k=top_k,
                           age_tolerance=age_tolerance, identity=None)


def merge_family_results(results: list, *, top_k: int | None, age_tolerance: float, records: dict):
    """One :class:`~reunite.search.engine.SearchResult` from the partitions' (in person
    order): counts summed, skipped pairs (dates, then loci) concatenated and cut, the
    candidates (each person's record from ``records``, its loci in common counted again)
    ranked per family."""
    from reunite.search.engine import MAX_LISTED_SKIPPED, Candidate, SearchResult, _common_loci, _ranked

    out = SearchResult([], age_tolerance=float(age_tolerance))
    by_dates, by_loci, cands = [], [], []
    for res in results:
        out.num_pairs += res.num_pairs
        out.num_compared += res.num_compared
        out.skipped_sex += res.skipped_sex
        out.skipped_age += res.skipped_age
        out.skipped_loci += res.skipped_loci
        for entry in res.skipped_pairs:
            (by_dates if entry[3].startswith("dates:") else by_loci).append(entry)
        for c in res.candidates:
            u = records[c.unidentified.id]
            cands.append(Candidate(u, c.family, c.missing, c.lr, c.log10_lr, _common_loci(u, c.family),
                                   c.lr_per_locus, c.inconsistent_loci))
    out.skipped_pairs = (by_dates + by_loci)[:MAX_LISTED_SKIPPED]
    out.candidates = _ranked(cands, top_k, per="family")
    return out


class DaskUnidentified(DaskIndex):
    """The unidentified index on a Dask cluster: its person ranges scattered to the workers
    once (sent again when the index changes, or to another worker when theirs is lost), each
    family search run on every range (:func:`search_partition`) and merged on the client
    (:func:`merge_family_results`): the same result as
    :func:`~reunite.search.unidentified_index.search_families` for any number of partitions
    and workers.

    Parameters
    ----------
    index
        the :class:`~reunite.search.unidentified_index.UnidentifiedIndex` (held by the client:
        a few bytes per person and locus).
    client
        a ``distributed.Client``.
    partitions
        person ranges (default: one per worker thread).
    """

    def __init__(self, index, client, *, partitions: int | None = None, batch: int = DEFAULT_BATCH):
        super().__init__(index, client, partitions=partitions, batch=batch)
        self._scan_function = search_partition

    def _shape_key(self) -> tuple:
        return (len(self.index), id(self.index.ids), id(self.index.codes))

    def _send(self, start: int, stop: int, worker=None) -> tuple:
        sub = partition_unidentified(self.index, start, stop)
        alive = sorted(self.client.scheduler_info()["workers"])
        if worker is not None and worker not in alive:
            worker = None
        fut = self.client.scatter(sub, hash=False, workers=[worker] if worker else None)
        held = sorted(self.client.who_has([fut]).get(fut.key, ()))
        return (start, stop, fut, held[0] if held else worker)

    def search_families(self, families, *, model, load_unidentified, min_lr: float = 1.0, top_k: int | None = 20,
                        progress=None, age_tolerance=None, identity=None):
        """:func:`~reunite.search.unidentified_index.search_families` on the cluster (same
        arguments, same result)."""
        from reunite.search.engine import DEFAULT_AGE_TOLERANCE
        from reunite.search.unidentified_index import FOREIGN, MAX_LOCI, RARE
        from reunite.search.unidentified_index import search_families as local

        age_tolerance = DEFAULT_AGE_TOLERANCE if age_tolerance is None else age_tolerance
        families = list(families)
        index = self.index
        loci = index.typed_loci() | {l for f in families for p in f.references.values() for l in p}
        if not len(index) or np.any(index.flags & FOREIGN) or len(loci) > MAX_LOCI or not families:
            return local(index, families, model=model, load_unidentified=load_unidentified, min_lr=min_lr,
                         top_k=top_k, progress=progress, age_tolerance=age_tolerance, identity=identity)
        wait_for_workers(self.client)
        self.distribute()
        rare = sorted(int(i) for i in index.ids[(index.flags & RARE) != 0].tolist())
        records = {u.id: u for u in (load_unidentified(rare) if rare else [])}
        options = dict(model=model, min_lr=min_lr, top_k=top_k, age_tolerance=float(age_tolerance), records=records)
        tag = uuid.uuid4().hex[:8]
        futures = [self._submit(k, families, options, tag) for k in range(len(self._parts))]
        results = []
        pairs = sum(len(f.missing) for f in families)
        try:
            for k, fut in enumerate(futures):
                results.append(self._result(k, fut, families, options, tag))
                if progress is not None:
                    a, b = self._parts[k][:2]
                    progress((b - a) * pairs)
        finally:
            for fut in futures:
                self._pinned.pop(fut.key, None)
        wanted = sorted({c.unidentified.id for res in results for c in res.candidates} - set(records))
        found = {u.id: u for u in (load_unidentified(wanted) if wanted else [])}
        gone = sorted(set(wanted) - set(found))
        if gone:
            raise ReuniteError(f"the unidentified index holds persons that are not in the database (ids {gone[:5]}); "
                               "rebuild it with 'reunite db index --rebuild'")
        result = merge_family_results(results, top_k=top_k, age_tolerance=age_tolerance, records={**records, **found})
        if identity is not None:
            identity.flag(result.candidates)
        return result

    def run_family_search(self, session, model, *, family_ids=None, min_lr: float = 1.0, top_k: int | None = 20,
                          progress=None, age_tolerance=None, identity=None):
        """:func:`~reunite.search.unidentified_index.run_family_search` on the cluster: the
        families of ``family_ids`` (default: all) against every unidentified person of the
        database's index (this object's index is brought up to date first)."""
        from reunite.search.service import identity_cache, load_families
        from reunite.search.service import load_unidentified as load
        from reunite.search.unidentified_index import unidentified_index

        self.index = unidentified_index(session, model)
        if identity is None and len(self.index):
            identity = identity_cache(session, model)

        def load_unidentified(ids):
            if ids is None:
                return load(session)
            return [u for k in range(0, len(ids), 500) for u in load(session, ids[k:k + 500])]

        return self.search_families(load_families(session, family_ids), model=model,
                                    load_unidentified=load_unidentified, min_lr=min_lr, top_k=top_k,
                                    progress=progress, age_tolerance=age_tolerance, identity=identity)


__all__ = ["DaskUnidentified", "merge_family_results", "partition_unidentified", "search_partition"]
