"""The family index across machines: a Dask backend for the per-person search.

The index is cut into row ranges (:func:`partition_index`: every per-row array sliced, the
per-locus tables shared) and each range is sent to a Dask worker once; its scans run on that
worker only (a partition is never copied between workers).  For a batch of
unidentified persons every partition runs the same compiled selection the single-process
search runs (:meth:`FamilyIndex.search_rows`: sex, dates, common loci, LR >= min, the top k
and every row tied with the k-th), and the client merges the partitions' rows.

Why the merge is exact: the single-process search ranks the rows it keeps by
(-log10 LR, family code, missing id), a total order, and reports the first ``top_k``.  A row
among those first ``top_k`` has fewer than ``top_k`` rows above it anywhere, so fewer in its
own partition and sex block: its partition keeps it.  The union of the partitions' rows thus
holds every reported row, each with the same float (the scan is row by row and reads the
same shared tables), and ranking the union gives the same candidates in the same order.  The
pairs listed as skipped (the first ``max_listed`` in (sex, row) order) are merged the same
way, and the counts are sums.  Everything after the selection (per-locus LRs, inconsistent
loci, families the index cannot hold, identity flags) runs on the client, unchanged:
:meth:`DaskIndex.index_search` is :func:`reunite.search.engine.index_search` with the scans
fetched from the cluster.

A worker lost mid-search (killed, out of memory) loses the partitions it held: the client
sends them again (to the workers alive) and runs their scans again; the scans are pure, so
the results are those of an uninterrupted search.  A task waiting for a lost worker is
noticed at once (:meth:`DaskIndex._wait`), not after a timeout.

Two ways to give the workers their rows: :class:`DaskIndex` (the client holds the whole
index and sends each partition: small and medium databases, tests) and
:class:`FileDaskIndex` (``--index-path``: each worker reads its own rows from the saved index
file on shared storage, memory-mapped and checked, :mod:`reunite.search.dask_files`; the
client holds only the per-locus tables and the rows a search reports: national databases).
A family against every unidentified person: :mod:`reunite.search.dask_families`.
"""

from __future__ import annotations

import contextlib
import math
import uuid

import numpy as np

from reunite.errors import ReuniteError

#: Per-row attributes of a FamilyIndex that are lists (every ndarray attribute whose first
#: dimension is the number of rows is per row as well, whatever its name).
PER_ROW_LISTS = ("family_code", "missing")

#: Persons per task (one task per partition and batch).
DEFAULT_BATCH = 32

#: Seconds to wait for a first worker of a cluster that has none.
WAIT_FOR_WORKERS = 60

#: How many times a partition is sent again after its worker was lost, per search.
MAX_RESENDS = 3

#: Seconds between checks that the worker a task waits for is still in the cluster.
POLL = 1.0


class WorkerLost(Exception):
    """The worker holding a partition left the cluster (killed, out of memory)."""


def wait_for_workers(client) -> list:
    """The addresses of the cluster's workers, sorted, after waiting for a first one (up to
    :data:`WAIT_FOR_WORKERS` seconds).

    Raises
    ------
    ReuniteError
        if no worker came, saying how to start one."""
    if not client.scheduler_info()["workers"]:
        try:
            client.wait_for_workers(1, timeout=WAIT_FOR_WORKERS)
        except TimeoutError:
            raise ReuniteError(f"the Dask cluster at {client.scheduler.address} has no worker (waited "
                               f"{WAIT_FOR_WORKERS} s); start some with 'dask worker "
                               f"{client.scheduler.address}'") from None
    return sorted(client.scheduler_info()["workers"])


def row_ranges(num_rows: int, partitions: int) -> list[tuple[int, int]]:
    """``partitions`` contiguous row ranges covering ``num_rows`` rows, sizes differing by at
    most one (empty ranges left out, at least one range).

    Raises
    ------
    ReuniteError
        if ``partitions`` is below 1.
    """
    if partitions < 1:
        raise ReuniteError(f"--partitions must be 1 or more (found {partitions}); leave it out for one "
                           "partition per worker thread")
    bounds = [num_rows * k // partitions for k in range(partitions + 1)]
    out = [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    return out or [(0, 0)]


def partition_index(index, start: int, stop: int):
    """The rows ``start:stop`` of a :class:`~reunite.search.index.FamilyIndex` as an index
    of their own (same class), for a worker.

    Generic: every ndarray attribute whose first dimension is the number of rows, and the
    lists of :data:`PER_ROW_LISTS`, are sliced; everything else (the per-locus tables, the
    loci, the shapes, the model) is shared, not copied.  Caches of the whole index (private
    tuples holding arrays: the scan's sex-ordered copies, the pair keys) are reset;
    ``fallback`` is empty (the client searches those families) and ``indexed`` holds the
    partition's families.  ``row_offset`` is ``start``: row r of the partition is row
    ``start + r`` of the index.  The partition must not be extended with new loci (the
    client extends the whole index before it partitions it, see :meth:`DaskIndex.index_search`).
    """
    n = len(index)
    if not 0 <= start <= stop <= n:
        raise ReuniteError(f"rows {start}:{stop} are not a range of an index of {n:,} rows")
    state = dict(vars(index))
    for name, value in state.items():
        if isinstance(value, np.ndarray) and value.ndim >= 1 and value.shape[0] == n:
            state[name] = value[start:stop]
    for name in PER_ROW_LISTS:
        state[name] = state[name][start:stop]
    for name, value in state.items():  # caches derived from the whole index's rows: rebuilt by the partition
        if name.startswith("_") and isinstance(value, tuple) and any(isinstance(v, np.ndarray) for v in value):
            state[name] = None
    state.update(_combined=None, fallback=[], indexed=set(np.unique(state["family_id"]).tolist()),
                 _pending={}, _new_parts=[], _support0={}, row_offset=start)
    sub = object.__new__(type(index))
    sub.__dict__.update(state)
    return sub


def scan_partition(sub, queries, *, min_common: int, min_log: float, top_k: int | None, max_listed: int) -> list:
    """What :meth:`FamilyIndex.search_rows` keeps for each query (profile, sex, dates) on one
    partition, rows numbered as in the whole index.  Runs on a worker."""
    off = getattr(sub, "row_offset", 0)
    out = []
    for profile, sex, dates in queries:
        got = sub.search_rows(profile, sex=sex, min_common=min_common, min_log=min_log, top_k=top_k,
                              max_listed=max_listed, threads=1, dates=dates)
        if got is None:  # cannot happen: the client sends only profiles the index accepts
            raise ReuniteError("a partition of the family index refused a profile the index accepts; "
                               "its loci differ from the client's (a partition built before new loci were added)")
        rows, vals, n_sex, n_age, n_few, few, aged = got
        out.append((rows + off, vals, n_sex, n_age, n_few, few + off, aged + off))
    return out


def merge_partitions(parts: list, m_sex, *, max_listed: int) -> tuple:
    """One query's :meth:`FamilyIndex.search_rows` tuple from its partitions' (see
    :func:`scan_partition`): the kept rows and their values concatenated (the caller ranks
    them), the counts summed, the listed rows the first ``max_listed`` in (sex, row) order,
    the order the whole index lists them in.  ``m_sex``: the missing persons' sex per row
    of the whole index (an array), or a function giving it for an array of rows."""
    sex_of = m_sex if callable(m_sex) else (lambda rows: m_sex[rows])

    def listed(arrays):
        rows = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64)
        if len(rows) == 0:
            return rows.astype(np.int64)
        order = np.lexsort((rows, sex_of(rows)))
        return rows[order][:max_listed].astype(np.int64)

    rows = np.concatenate([p[0] for p in parts]).astype(np.int64)
    vals = np.concatenate([p[1] for p in parts]).astype(float)
    return (rows, vals, sum(int(p[2]) for p in parts), sum(int(p[3]) for p in parts),
            sum(int(p[4]) for p in parts), listed([p[5] for p in parts]), listed([p[6] for p in parts]))


class DaskIndex:
    """A family index searched on a Dask cluster: the whole index stays with the client (the
    database's, brought up to date as before; used for everything but the scans), its row
    ranges live on the workers.  Pass it as ``index`` to
    :func:`reunite.search.service.run_search` (it has :meth:`index_search`); every other
    attribute is the index's.

    Parameters
    ----------
    index
        the :class:`~reunite.search.index.FamilyIndex`.
    client
        a ``distributed.Client``.
    partitions
        row ranges (default: one per worker thread of the cluster).
    batch
        persons per task.
    """

    def __init__(self, index, client, *, partitions: int | None = None, batch: int = DEFAULT_BATCH):
        if batch < 1:
            raise ReuniteError(f"batch must be 1 or more (found {batch})")
        self.index = index
        self.client = client
        self.partitions = partitions
        self.batch = batch
        self.resent = 0  # partitions sent again after a worker was lost (this object's life)
        self._parts: list = []  # (start, stop, future, worker) per partition
        self._shape = None  # (rows, loci) the partitions were cut from
        self._scan_function = scan_partition
        self._pinned: dict = {}  # task key -> the worker it must run on

    def __getattr__(self, name):
        if name.startswith("__") or name in ("index", "_parts"):
            raise AttributeError(name)
        return getattr(self.index, name)

    def __len__(self) -> int:
        return len(self.index)

    def combined(self):
        """Nothing to build on the client: the scans run on the workers."""
        return None

    # -- the partitions on the workers -----------------------------------------------------

    def _num_partitions(self) -> int:
        if self.partitions is not None:
            return self.partitions
        threads = sum(self.client.nthreads().values())
        return max(1, threads)

    def _send(self, start: int, stop: int, worker=None) -> tuple:
        """Rows ``start:stop`` sent to ``worker`` (else, or if it is gone, to any worker):
        (start, stop, the future of the partition, the worker holding it)."""
        sub = partition_index(self.index, start, stop)
        for attempt in range(MAX_RESENDS + 1):
            try:
                if worker is not None and attempt == 0:
                    fut = self.client.scatter(sub, hash=False, workers=[worker])
                else:
                    fut = self.client.scatter(sub, hash=False)
                held = sorted(self.client.who_has([fut]).get(fut.key, ()))
                return (start, stop, fut, held[0] if held else None)
            except (KeyError, OSError, TimeoutError):  # the worker left meanwhile: to any other
                if attempt == MAX_RESENDS:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def distribute(self) -> None:
        """Cut the index into row ranges and send one to each worker in turn (again only when
        the index has changed since: rows or loci added)."""
        shape = self._shape_key()
        if self._parts and self._shape == shape:
            return
        self.release()
        workers = wait_for_workers(self.client) or [None]
        ranges = row_ranges(len(self), self._num_partitions())
        self._parts = [self._send(a, b, workers[k % len(workers)]) for k, (a, b) in enumerate(ranges)]
        self._shape = shape

    def _shape_key(self) -> tuple:
        """What the partitions were cut from: cut again when it changes."""
        return (len(self.index), len(self.index.loci), id(self.index.tables))

    def release(self) -> None:
        """Drop the partitions from the workers."""
        for _, _, fut, _ in self._parts:
            with contextlib.suppress(Exception):
                fut.release()
        self._parts = []
        self._shape = None

    def _submit(self, k: int, queries, options: dict, tag: str):
        """Partition ``k``'s scan of ``queries``, on the worker holding the partition (never
        moved: another worker would first copy the whole partition)."""
        _, _, part, worker = self._parts[k]
        where = {"workers": [worker], "allow_other_workers": False} if worker else {}
        fut = self.client.submit(self._scan_function, part, queries, **options, pure=False,
                                 key=f"reunite-scan-{tag}-{k}-{uuid.uuid4().hex[:8]}", **where)
        self._pinned[fut.key] = worker
        return fut

    def _wait(self, fut):
        """``fut.result()``; raises :class:`WorkerLost` as soon as the worker the task is
        pinned to has left the cluster (its task could never run: nowhere else allowed)."""
        worker = self._pinned.get(fut.key)
        while True:
            if (worker is not None and fut.status not in ("finished", "error")
                    and worker not in self.client.scheduler_info()["workers"]):
                raise WorkerLost(worker)
            try:
                return fut.result(timeout=POLL)
            except TimeoutError:
                continue

    def _result(self, k: int, fut, queries, options: dict, tag: str):
        """The result of partition ``k``'s task, run again (its partition sent again first if
        it was lost with its worker) when the task failed for the cluster's sake."""
        for attempt in range(MAX_RESENDS + 1):
            try:
                return self._wait(fut)
            except ReuniteError:
                raise
            except Exception:  # a lost worker, a cancelled task: the partition sent again
                if attempt == MAX_RESENDS:
                    raise
                a, b, old, worker = self._parts[k]
                if old.status != "finished" or worker not in self.client.scheduler_info()["workers"]:
                    with contextlib.suppress(Exception):
                        old.release()
                    self._parts[k] = self._send(a, b)
                    self.resent += 1
                with contextlib.suppress(Exception):
                    fut.cancel()
                self._pinned.pop(fut.key, None)
                fut = self._submit(k, queries, options, tag)
        raise AssertionError("unreachable")  # pragma: no cover

    def scan(self, queries, *, min_common: int, min_log: float, top_k: int | None, max_listed: int):
        """:meth:`FamilyIndex.search_rows` tuples of ``queries`` (profile, sex, dates), in
        order, computed on the cluster, yielded batch by batch as they come."""
        self.distribute()
        options = dict(min_common=min_common, min_log=min_log, top_k=top_k, max_listed=max_listed)
        tag = uuid.uuid4().hex[:8]
        batches = [queries[k:k + self.batch] for k in range(0, len(queries), self.batch)]
        futures = [[self._submit(k, b, options, f"{tag}-{j}") for k in range(len(self._parts))]
                   for j, b in enumerate(batches)]
        try:
            for j, b in enumerate(batches):
                results = [self._result(k, fut, b, options, f"{tag}-{j}") for k, fut in enumerate(futures[j])]
                for q in range(len(b)):
                    yield self._merge([r[q] for r in results], max_listed=max_listed)
                for fut in futures[j]:
                    self._pinned.pop(fut.key, None)
                futures[j] = None
        finally:
            for row in futures:
                for fut in row or ():
                    self._pinned.pop(fut.key, None)
                    with contextlib.suppress(Exception):
                        fut.cancel()

    def _merge(self, parts: list, *, max_listed: int) -> tuple:
        return merge_partitions(parts, self.index.m_sex, max_listed=max_listed)

    def accepts(self, profile) -> bool:
        """:meth:`FamilyIndex.accepts` (loci the index has no column for yet are added)."""
        return self.index.accepts(profile)

    # -- the search -------------------------------------------------------------------------

    def search_rows(self, profile, *, sex: str, min_common: int, min_log: float, top_k: int | None,
                    max_listed: int = 0, threads: int = 1, q=None, dates=None):
        """:meth:`FamilyIndex.search_rows` of one query, computed on the cluster."""
        from reunite.search.index import NO_DATE

        dates = (NO_DATE, NO_DATE, 0) if dates is None else dates
        if not self.accepts(profile):
            return None
        [out] = list(self.scan([(profile, sex, dates)], min_common=min_common, min_log=min_log, top_k=top_k,
                               max_listed=max_listed))
        return out

    def index_search(self, unidentified, index=None, *, model, load_families, min_lr: float = 1.0,
                     top_k: int | None = 20, workers: int = 1, progress=None, age_tolerance=None, identity=None):
        """:func:`reunite.search.engine.index_search` with the scans on the cluster: the same
        result (candidates, LRs, ranks, counts, skipped pairs) for any number of partitions
        and workers."""
        from reunite.search.engine import (
            DEFAULT_AGE_TOLERANCE,
            MAX_LISTED_SKIPPED,
            _u_days,
            index_search,
            tolerance_days,
        )

        age_tolerance = DEFAULT_AGE_TOLERANCE if age_tolerance is None else age_tolerance
        tol = tolerance_days(age_tolerance)
        min_log = math.log10(min_lr) if min_lr > 0 else -math.inf
        queries = [u for u in unidentified if self.accepts(u.profile)]  # new loci added first
        specs = [(u.profile, u.sex, (*_u_days(u), tol)) for u in queries]
        options = dict(min_common=model.min_common_loci, min_log=min_log, top_k=top_k, max_listed=MAX_LISTED_SKIPPED)
        stream = self.scan(specs, **options)
        wrapped = _Prefetched(self, specs, stream, options)
        return index_search(unidentified, wrapped, model=model, load_families=load_families, min_lr=min_lr,
                            top_k=top_k, workers=1, progress=progress, age_tolerance=age_tolerance,
                            identity=identity)


class _Prefetched:
    """The DaskIndex as :func:`~reunite.search.engine.index_search` sees it during one
    search: ``search_rows`` takes the next result of the stream (index_search asks for the
    persons in the order they were sent)."""

    def __init__(self, owner: DaskIndex, specs, stream, options):
        self._owner = owner
        self._specs = specs
        self._stream = stream
        self._options = options
        self._next = 0

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._owner, name)

    def __len__(self) -> int:
        return len(self._owner)

    def combined(self):
        return None

    def search_rows(self, profile, *, sex, min_common, min_log, top_k, max_listed=0, threads=1, q=None,
                    dates=None):
        k = self._next
        if (k < len(self._specs) and self._specs[k][0] is profile and self._specs[k][1] == sex
                and tuple(self._specs[k][2]) == tuple(dates)
                and dict(min_common=min_common, min_log=min_log, top_k=top_k, max_listed=max_listed)
                == self._options):
            self._next += 1
            return next(self._stream)
        return self._owner.search_rows(profile, sex=sex, min_common=min_common, min_log=min_log, top_k=top_k,
                                       max_listed=max_listed, dates=dates)


# ------------------------------------------------------------------------------------------
# The index read from its file by the workers (national databases)

def scan_partition_rows(sub, queries, *, min_common: int, min_log: float, top_k: int | None,
                        max_listed: int) -> list:
    """:func:`scan_partition`, each query's tuple followed by the per-row arrays
    (:func:`reunite.search.dask_files.row_records`) of the rows it keeps or lists: what the
    client needs of them (codes, dates, keys) when it does not hold the index.  Runs on a
    worker."""
    from reunite.search.dask_files import row_records

    out = scan_partition(sub, queries, min_common=min_common, min_log=min_log, top_k=top_k, max_listed=max_listed)
    return [(*o, row_records(sub, np.unique(np.concatenate([o[0], o[5], o[6]]).astype(np.int64)))) for o in out]


class FileDaskIndex(DaskIndex):
    """A family index searched on a Dask cluster whose workers read their rows from the
    index file at ``path`` (storage they all read: NFS, a cluster file system), never held
    by the client: :func:`reunite.search.dask_files.load_rows` on each worker, its row range
    memory-mapped, the file's checksum verified, the file checked to be the one the client
    described (:func:`~reunite.search.dask_files.describe_file`, read by a worker, so the
    client need not see the file).  The client keeps the per-locus tables (an index of no
    row) and, during a search, the rows the partitions report or list (their codes, dates
    and keys, sent with the scans); the per-locus LRs and inconsistent loci of the reported
    rows are computed on those rows with the index's own code.  The same results as
    :class:`DaskIndex` and as the single-process search.

    A worker lost mid-search loses its partitions: another worker loads them from the file
    again (not the client: nothing is sent but the path and the row range).

    Parameters
    ----------
    path
        the index file (:meth:`FamilyIndex.save`), as the workers see it.
    model
        the genetic model it was made for.
    client
        a ``distributed.Client``.
    partitions, batch
        as :class:`DaskIndex`.
    described
        :func:`~reunite.search.dask_files.describe_file` of ``path``, if already read.
    """

    def __init__(self, path, model, client, *, partitions: int | None = None, batch: int = DEFAULT_BATCH,
                 described: dict | None = None):
        super().__init__(None, client, partitions=partitions, batch=batch)
        self.path = str(path)
        self.model = model
        if described is None:
            described = self.describe()
        self.described = described
        self.index = described["head"]  # the per-locus tables; no row
        self.rows = int(described["rows"])
        self.fallback = list(described["fallback"])
        self.expect = described["expect"]
        self.steps: list[list[str]] = []  # loci added by the client, in order: the partitions add the same
        self._scan_function = scan_partition_rows
        from reunite.search.dask_files import RowStore

        self.store = RowStore()

    def describe(self) -> dict:
        """:func:`~reunite.search.dask_files.describe_file` of the file, read by a worker."""
        from reunite.search.dask_files import describe_file

        wait_for_workers(self.client)
        fut = self.client.submit(describe_file, self.path, self.model, pure=False,
                                 key=f"reunite-describe-{uuid.uuid4().hex[:8]}")
        try:
            return fut.result()
        finally:
            fut.release()

    def __len__(self) -> int:
        return self.rows

    def accepts(self, profile) -> bool:
        before = len(self.index.loci)
        ok = self.index.accepts(profile)
        if len(self.index.loci) > before:
            self.steps.append(list(self.index.loci[before:]))
        return ok

    def _shape_key(self) -> tuple:
        return (self.path, self.rows, len(self.steps))

    def _send(self, start: int, stop: int, worker=None) -> tuple:
        """Rows ``start:stop`` loaded from the file by ``worker`` (else, or if it is gone, by
        the worker holding the fewest partitions)."""
        from reunite.search.dask_files import load_rows

        alive = sorted(self.client.scheduler_info()["workers"])
        if worker is None or worker not in alive:
            held = {w: 0 for w in alive}
            for *_, w in self._parts:
                if w in held:
                    held[w] += 1
            worker = min(alive, key=lambda w: (held[w], w)) if alive else None
        where = {"workers": [worker], "allow_other_workers": False} if worker else {}
        fut = self.client.submit(load_rows, self.path, self.model, start, stop, expect=self.expect,
                                 steps=[list(s) for s in self.steps], pure=False,
                                 key=f"reunite-rows-{start}-{stop}-{uuid.uuid4().hex[:8]}", **where)
        return (start, stop, fut, worker)

    def distribute(self) -> None:
        super().distribute()
        for _, _, fut, _ in self._parts:  # a file already refused (stale, damaged): said now
            if fut.status == "error":
                fut.result()

    def _merge(self, parts: list, *, max_listed: int) -> tuple:
        for p in parts:
            self.store.add(p[7])
        sex = self.store

        def sex_of(rows):
            return np.array([sex.get("m_sex", r) for r in rows.tolist()], dtype=np.int8)

        return merge_partitions([p[:7] for p in parts], sex_of, max_listed=max_listed)

    def index_search(self, unidentified, index=None, *, model, load_families, min_lr: float = 1.0,
                     top_k: int | None = 20, workers: int = 1, progress=None, age_tolerance=None, identity=None):
        """:meth:`DaskIndex.index_search`, the client holding only the rows reported or listed."""
        from reunite.search.dask_files import RowStore
        from reunite.search.engine import DEFAULT_AGE_TOLERANCE, MAX_LISTED_SKIPPED, _u_days, index_search, \
            tolerance_days

        self.store = RowStore()  # the rows of this search only
        age_tolerance = DEFAULT_AGE_TOLERANCE if age_tolerance is None else age_tolerance
        tol = tolerance_days(age_tolerance)
        min_log = math.log10(min_lr) if min_lr > 0 else -math.inf
        queries = [u for u in unidentified if self.accepts(u.profile)]  # new loci added first
        specs = [(u.profile, u.sex, (*_u_days(u), tol)) for u in queries]
        options = dict(min_common=model.min_common_loci, min_log=min_log, top_k=top_k, max_listed=MAX_LISTED_SKIPPED)
        stream = self.scan(specs, **options)
        wrapped = _FileRows(self, specs, stream, options)
        try:
            return index_search(unidentified, wrapped, model=model, load_families=load_families, min_lr=min_lr,
                                top_k=top_k, workers=1, progress=progress, age_tolerance=age_tolerance,
                                identity=identity)
        finally:
            self.store = RowStore()


class _FileRows(_Prefetched):
    """:class:`_Prefetched` for a :class:`FileDaskIndex`: the per-row columns the search
    reads (codes, ids, dates, loci in common) come from the rows fetched with the scans, and
    the reported rows' per-locus LRs and inconsistent loci are computed on an index of those
    rows (:func:`reunite.search.dask_files.rows_index`)."""

    def __init__(self, owner: FileDaskIndex, specs, stream, options):
        super().__init__(owner, specs, stream, options)
        store = owner.store
        self.family_code = store.column("family_code")
        self.missing = store.column("missing")
        self.family_id = store.column("family_id")
        self.m_birth = store.column("m_birth")
        self.m_missing = store.column("m_missing")

    def accepts(self, profile) -> bool:
        return self._owner.accepts(profile)

    def common_loci(self, row: int, loci) -> int:
        from reunite.search.index.kernels import _common_py

        return _common_py(self._owner.store.get("ref_mask", row), self._owner.index.locus_words(loci))

    def _rows(self, rows):
        from reunite.search.dask_files import rows_index

        return rows_index(self._owner.index, self._owner.store, [int(r) for r in rows])

    def lr_per_locus_rows(self, profile, rows):
        return self._rows(rows).lr_per_locus_rows(profile, np.arange(len(rows), dtype=np.int64))

    def lr_per_locus(self, profile, row: int):
        return self._rows([row]).lr_per_locus(profile, 0)

    def inconsistent_loci_rows(self, cands, rows) -> None:
        if cands:
            self._rows(rows).inconsistent_loci_rows(cands, list(range(len(rows))))


# ------------------------------------------------------------------------------------------
# Clusters

def check_options(address: str | None, *, partitions: int | None = None, index_path=None) -> None:
    """Refuse ``--partitions`` below 1, ``--partitions`` or ``--index-path`` given without
    ``--dask``, and an empty address (before any work).

    Raises
    ------
    ReuniteError
        naming the option and how to fix it.
    """
    if partitions is not None:
        row_ranges(0, partitions)
        if address is None:
            raise ReuniteError("--partitions cuts the family index for the workers of --dask; give --dask ADDRESS "
                               "(or --dask local) with it, or leave it out")
    if index_path is not None:
        if address is None:
            raise ReuniteError("--index-path is the family index file the workers of --dask read; give --dask "
                               "ADDRESS with it, or leave it out")
        if not str(index_path).strip():
            raise ReuniteError("--index-path: give the index file as the workers see it (/shared/db.index), or "
                               f"'{DATABASE_INDEX}' for the database's own index file")
    if address is not None and not address.strip():
        raise ReuniteError("--dask: give the scheduler's address (tcp://host:8786) or 'local'")


#: ``--index-path database``: the database's own index file (:func:`reunite.search.service.index_path`).
DATABASE_INDEX = "database"


def connect(address: str, *, workers: int = 1, threads_per_worker: int = 1):
    """A ``distributed.Client``: to the scheduler at ``address`` (``tcp://host:8786``), or,
    with ``address`` ``local``, to a new LocalCluster of ``workers`` processes (closed with
    the client).

    Raises
    ------
    ReuniteError
        if no scheduler answers at ``address`` within 20 s.
    """
    from distributed import Client, LocalCluster

    if address == "local":
        cluster = LocalCluster(n_workers=max(1, workers), threads_per_worker=threads_per_worker, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
        client._reunite_cluster = cluster
        return client
    try:
        return Client(address, timeout=20)
    except (OSError, TimeoutError) as exc:
        raise ReuniteError(f"--dask {address}: no Dask scheduler answered ({exc}). Start one with "
                           "'dask scheduler' and workers with 'dask worker ADDRESS', or give --dask local "
                           "for a cluster on this machine") from None


@contextlib.contextmanager
def dask_search(address: str | None, *, workers: int = 1, partitions: int | None = None, index_path=None):
    """A function ``spread(index, session=None, model=None)`` for the ``with`` block that
    gives the family index to search: ``index`` (a FamilyIndex, or a function making one)
    wrapped in a :class:`DaskIndex` on the cluster at ``address`` (see :func:`connect`); with
    ``index_path``, a :class:`FileDaskIndex` whose workers read that file (``database``: the
    database's own index file), checked to be current for the database of ``session``
    (``index`` is then never made: the client does not hold the index); with ``address``
    None, ``index`` itself (the search runs in this process)."""
    check_options(address, partitions=partitions, index_path=index_path)
    if address is None:
        yield lambda index, session=None, model=None: index() if callable(index) else index
        return
    client = connect(address, workers=workers)
    made: list[DaskIndex] = []
    from_file: dict = {}

    def wrap(index, session=None, model=None):
        if index_path is not None and session is not None and model is not None:
            from reunite.search.dask_files import check_current

            path = index_path
            if str(path) == DATABASE_INDEX:
                from reunite.search.service import index_path as database_index

                path = database_index(session.get_bind())
                if path is None:
                    raise ReuniteError("--index-path database: an in-memory database has no index file; give "
                                       "the file's path")
            held = from_file.get("index")
            if held is None or held.model != model or held.path != str(path):
                if held is not None:
                    held.release()
                held = from_file["index"] = FileDaskIndex(path, model, client, partitions=partitions)
                made.append(held)
            check_current(session, held.described, path)
            return held
        index = index() if callable(index) else index
        if index is None:
            return None
        made.append(DaskIndex(index, client, partitions=partitions))
        return made[-1]

    try:
        yield wrap
    finally:
        for d in made:
            d.release()
        cluster = getattr(client, "_reunite_cluster", None)
        client.close()
        if cluster is not None:
            cluster.close()
