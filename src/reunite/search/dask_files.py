"""The family index read from its file by the Dask workers, each its own row range.

A national database (10–50 million families, an index of ~8–34 GiB, see docs/deployment.md)
cannot be held by the client nor sent to the workers.  The index is saved as one ``.npz``
(:meth:`FamilyIndex.save`: NumPy's ``savez``, members *stored*, not compressed), on storage
every worker can read.  Here:

* :func:`open_index_file` memory-maps each member of that ``.npz`` (the zip's local header
  gives where a member's bytes start; the ``.npy`` header its dtype and shape), so a worker
  touches only the pages of its own rows of the per-row arrays (and the per-locus tables,
  which every partition shares, read whole).
* :func:`verify_index_file` recomputes the SHA-256 the file records
  (:func:`reunite.search.index.arrays_checksum`, streamed over the mapped arrays, never held
  in memory), once per worker process and file version (path, inode, size, mtime): a file
  damaged since it was written is never used.
* :func:`load_rows` is what a worker runs: the file checked against what the client expects
  (format, software version and genetic model, the recorded checksum, the number of rows: a
  file replaced or stale since the search started is refused with a clear error), then the
  rows ``start:stop`` as a :class:`FamilyIndex` of their own (as
  :func:`reunite.search.dask_backend.partition_index` cuts one in memory).
* :func:`describe_file` is the client's view of the file without its rows (read by a worker:
  the client need not see the file): the per-locus tables, the document, and what decides
  whether the file is current for the database (:func:`check_current`).
* :func:`row_records` and :func:`rows_index`: the few rows the client needs after the merge
  (the reported and the listed ones), fetched from the workers with the scans, as a small
  index of their own on which the per-locus LRs and inconsistent loci are computed with the
  index's own code (so with the same floats).
"""

from __future__ import annotations

import json
import os
import struct
import threading
import zipfile

import numpy as np

from reunite.errors import ReuniteError

#: The per-row arrays of the index file (FamilyIndex.save): cut to a worker's rows.  Every
#: other member is per locus (shared) or ``indexed`` (the families, not per row).
ROW_ARRAYS = ("key_p", "key_q", "key_d", "row_shape", "family_id", "m_sex", "ref_mask", "m_birth", "m_missing",
              "family_code", "missing")

#: Bytes hashed at a time when the checksum is verified.
HASH_BLOCK = 64 * 2**20

_VERIFIED: dict = {}  # (path, inode, size, mtime_ns, checksum) -> True, per worker process
_VERIFY_LOCK = threading.Lock()


def _damaged(path, why: str):
    from reunite.search.index import DamagedFileError

    return DamagedFileError(f"{path}: not a readable family index ({why}); bring it up to date (or rebuild it) "
                            "with 'reunite db index' and search again")


def open_index_file(path) -> tuple[dict, dict]:
    """(JSON document, arrays) of a family index file, every array memory-mapped (read-only)
    from the file: nothing is read until used.

    Raises
    ------
    DamagedFileError
        if the file is not an uncompressed ``.npz`` of NumPy arrays with a document.
    ReuniteError
        if it cannot be opened (no such file, no permission), naming the path.
    """
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh, zipfile.ZipFile(fh) as zf:
            arrays = {}
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    raise _damaged(path, f"member {info.filename!r} is not a NumPy array")
                if info.compress_type != zipfile.ZIP_STORED:
                    raise _damaged(path, f"member {info.filename!r} is compressed (the index is saved stored)")
                fh.seek(info.header_offset)
                local = fh.read(30)
                if local[:4] != b"PK\x03\x04":
                    raise _damaged(path, f"no local header for {info.filename!r}")
                name_len, extra_len = struct.unpack("<HH", local[26:30])
                fh.seek(info.header_offset + 30 + name_len + extra_len)
                version = np.lib.format.read_magic(fh)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = read_header(fh)
                if dtype.hasobject:
                    raise _damaged(path, f"member {info.filename!r} holds Python objects")
                offset = fh.tell()
                count = int(np.prod(shape, dtype=np.int64))
                if offset + count * dtype.itemsize > size:
                    raise _damaged(path, f"member {info.filename!r} runs past the end of the file (truncated)")
                name = info.filename[:-4]
                if count == 0:
                    arrays[name] = np.zeros(shape, dtype=dtype)
                else:
                    arrays[name] = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape,
                                             order="F" if fortran else "C")
    except ReuniteError:
        raise
    except FileNotFoundError:
        raise ReuniteError(f"--index-path {path}: no such file on this machine; every Dask worker must read the "
                           "family index at that path (shared storage); write it with 'reunite db index'") from None
    except PermissionError as exc:
        raise ReuniteError(f"--index-path {path}: cannot be read ({exc.strerror})") from None
    except (OSError, ValueError, zipfile.BadZipFile, struct.error) as exc:
        raise _damaged(path, f"{type(exc).__name__}: {exc}") from None
    meta = arrays.pop("meta", None)
    if meta is None:
        raise _damaged(path, "no document")
    try:
        meta = json.loads(bytes(np.asarray(meta)).decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise _damaged(path, f"its document: {exc}") from None
    if not isinstance(meta, dict):
        raise _damaged(path, "its document is not an object")
    return meta, arrays


def streamed_checksum(arrays: dict) -> str:
    """:func:`reunite.search.index.arrays_checksum` of ``arrays`` (the same digest), read a
    block of rows at a time: a memory-mapped array is hashed without being held in memory."""
    import hashlib

    digest = hashlib.sha256()
    for name in sorted(arrays):
        if name == "meta":
            continue
        a = arrays[name]
        digest.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        if a.size == 0:
            continue
        if a.ndim == 0:
            digest.update(np.ascontiguousarray(a).tobytes())
            continue
        step = max(1, HASH_BLOCK // max(1, a[0].nbytes if a.ndim > 1 else a.itemsize))
        for k in range(0, a.shape[0], step):
            block = np.ascontiguousarray(a[k:k + step])
            digest.update(block.reshape(-1).view(np.uint8))
    return digest.hexdigest()


def verify_index_file(path, meta: dict, arrays: dict) -> None:
    """Check that the arrays of ``path`` have the SHA-256 its document records (the whole
    file is read once per worker process and file version; later loads of the same file
    reuse the verdict).

    Raises
    ------
    DamagedFileError
        if there is no checksum or the arrays do not have it (the file changed since written).
    """
    recorded = meta.get("checksum")
    if not recorded:
        raise _damaged(path, "no checksum in its document")
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_ino, st.st_size, st.st_mtime_ns, recorded)
    with _VERIFY_LOCK:
        if key in _VERIFIED:
            return
    if streamed_checksum(arrays) != recorded:
        raise _damaged(path, "its arrays do not have the SHA-256 recorded when it was written: damaged since")
    with _VERIFY_LOCK:
        _VERIFIED[key] = True


def expectation(meta: dict) -> dict:
    """What a worker checks the file against: what the client read from it first."""
    return {"format": meta.get("format"), "fingerprint": meta.get("fingerprint"), "checksum": meta.get("checksum"),
            "rows": meta.get("rows")}


def _check_expected(path, meta: dict, expect: dict | None, model) -> None:
    from reunite.search.index import FamilyIndex

    fingerprint = FamilyIndex(model).fingerprint()
    if meta.get("format") != FamilyIndex.FORMAT or meta.get("fingerprint") != fingerprint:
        raise ReuniteError(f"--index-path {path}: made for {meta.get('fingerprint')!r}, not {fingerprint!r} (another "
                           "genetic model or software version); bring it up to date with 'reunite db index'")
    if expect is not None:
        found = expectation(meta)
        if found != expect:
            what = ", ".join(f"{k} {found[k]!r} (expected {expect[k]!r})" for k in expect if found[k] != expect[k])
            raise ReuniteError(f"--index-path {path}: not the family index this search started with ({what}): the "
                               "file was replaced while searching, or the workers do not all see the same file; "
                               "search again once it is no longer written")


def load_rows(path, model, start: int, stop: int, *, expect: dict | None = None, steps=()):
    """Rows ``start:stop`` of the family index file ``path`` as a FamilyIndex of their own
    (``row_offset`` = ``start``; the per-locus tables whole; ``fallback`` empty and ``indexed``
    the families of these rows, as :func:`~reunite.search.dask_backend.partition_index`), the
    per-row arrays memory-mapped from the file.  ``expect``: :func:`expectation` of the file
    the client described; ``steps``: the loci the client added to its index since, in the
    order it added them (each a list; added the same way here, so the keys are the same).
    Runs on a worker.

    Raises
    ------
    ReuniteError
        a file made for another model or version, or not the one expected.
    DamagedFileError
        a file whose arrays are not those it recorded, or inconsistent.
    """
    from reunite.search.index import FamilyIndex

    meta, arrays = open_index_file(path)
    _check_expected(path, meta, expect, model)
    verify_index_file(path, meta, arrays)
    rows = int(meta.get("rows", -1))
    if not 0 <= start <= stop <= rows:
        raise ReuniteError(f"rows {start}:{stop} are not a range of the index at {path} ({rows:,} rows)")
    cut = {name: (value[start:stop] if name in ROW_ARRAYS else value) for name, value in arrays.items()}
    families = np.unique(np.asarray(cut["family_id"])) if "family_id" in cut else np.zeros(0, dtype=np.int64)
    cut["indexed"] = families  # the partition's families (the file's whole list is not needed)
    part_meta = dict(meta, rows=stop - start, fallback=[])
    index = FamilyIndex(model)
    try:
        index._check_sizes(part_meta, cut)
        index._restore(part_meta, cut)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise _damaged(path, f"{type(exc).__name__}: {exc}") from None
    index.row_offset = start
    for step in steps:
        index.extend_loci(step)
    return index


def describe_file(path, model) -> dict:
    """The client's view of the index file (no row): ``head`` (its rows 0:0, the per-locus
    tables), ``expect`` (:func:`expectation`), ``rows``, ``fallback`` (families left to the
    engine), ``database_id``, ``family_imports`` and the count, sum and highest id of its
    families (:func:`check_current`).  The file is verified (its checksum) on the way.  Runs
    on a worker (or on the client where it sees the file)."""
    meta, arrays = open_index_file(path)
    head = load_rows(path, model, 0, 0)
    indexed = arrays.get("indexed", np.zeros(0, dtype=np.int64))
    total = 0
    for k in range(0, len(indexed), 1 << 24):  # summed by blocks: the file's list is never held whole
        total += int(np.asarray(indexed[k:k + (1 << 24)], dtype=np.int64).sum())
    return {"head": head, "expect": expectation(meta), "rows": int(meta["rows"]), "fallback": list(meta["fallback"]),
            "database_id": meta.get("database_id"), "family_imports": list(meta.get("family_imports", ())),
            "families": [int(len(indexed)), total, int(indexed.max()) if len(indexed) else 0]}


def check_current(session, described: dict, path) -> None:
    """Refuse an index file that is not the database's as it is now: made for another
    database, or missing a family import, a correction or a family (the checks of
    :func:`reunite.search.service.family_index`, which would bring it up to date; here the
    file is only read, never rewritten by the search).

    Raises
    ------
    ReuniteError
        saying what differs and how to bring the file up to date.
    """
    from sqlalchemy import func, select

    from reunite.search.service import _batch_token, _corrections_token
    from reunite.store.models import Family, ImportBatch, Setting

    row = session.get(Setting, "database_id")
    database = json.loads(row.value) if row is not None else None
    imports = sorted(_batch_token(b) for b in session.execute(
        select(ImportBatch).where(ImportBatch.kind == "families")).scalars())
    corrected = _corrections_token(session)
    imports += [corrected] if corrected else []
    count, total, top = session.execute(select(func.count(Family.id), func.sum(Family.id),
                                               func.max(Family.id))).one()
    fix = ("; bring it up to date with 'reunite db index' (on a machine that can hold it, writing the file the "
           "workers read) and search again")
    if described["database_id"] != database:
        raise ReuniteError(f"--index-path {path}: the family index of another database "
                           f"({described['database_id']}, not {database}){fix}")
    if described["family_imports"] != imports or described["families"] != [count or 0, total or 0, top or 0]:
        raise ReuniteError(f"--index-path {path}: older than the database (it holds "
                           f"{described['families'][0]:,} families, the database {count or 0:,}; or an import "
                           f"or a correction since){fix}")


def row_records(sub, rows: np.ndarray) -> dict:
    """The per-row arrays of ``rows`` (numbered as in the whole index) of a partition ``sub``,
    for the client: ``rows`` and every per-row array of :data:`ROW_ARRAYS` it has."""
    off = getattr(sub, "row_offset", 0)
    local = np.asarray(rows, dtype=np.int64) - off
    out = {"rows": np.asarray(rows, dtype=np.int64)}
    for name in ROW_ARRAYS:
        value = getattr(sub, name, None)
        if value is None:
            continue
        out[name] = ([value[k] for k in local.tolist()] if isinstance(value, list)
                     else np.array(np.asarray(value)[local]))
    return out


class RowStore:
    """The rows the client has fetched during one search (:func:`row_records` of the
    partitions), by their number in the whole index."""

    def __init__(self):
        self.pos: dict[int, int] = {}
        self.chunks: list[dict] = []
        self._where: list[tuple[int, int]] = []

    def add(self, rec: dict) -> None:
        rows = rec["rows"].tolist()
        new = [k for k, r in enumerate(rows) if r not in self.pos]
        if not new:
            return
        c = len(self.chunks)
        self.chunks.append(rec)
        for k in new:
            self.pos[rows[k]] = len(self._where)
            self._where.append((c, k))

    def get(self, name: str, row: int):
        c, k = self._where[self.pos[int(row)]]
        return self.chunks[c][name][k]

    def column(self, name: str) -> "_Column":
        return _Column(self, name)

    def stacked(self, name: str, rows) -> np.ndarray | list:
        values = [self.get(name, r) for r in rows]
        if name in ("family_code", "missing"):
            return [str(v) for v in values]
        return np.array(values)


class _Column:
    def __init__(self, store: RowStore, name: str):
        self._store = store
        self._name = name

    def __getitem__(self, row):
        value = self._store.get(self._name, row)
        return str(value) if self._name in ("family_code", "missing") else value


def rows_index(head, store: RowStore, rows):
    """An index of the rows ``rows`` (in that order) fetched into ``store``, with the
    per-locus tables of ``head`` (the client's index without rows, extended as the
    partitions were): the index's own per-locus LRs and inconsistent loci run on it."""
    state = dict(vars(head))
    for name in ROW_ARRAYS:
        if getattr(head, name, None) is None:
            continue
        value = store.stacked(name, rows)
        if not isinstance(value, list) and len(rows) == 0:
            value = np.asarray(getattr(head, name))[:0]
        state[name] = value
    for name, value in list(state.items()):  # caches of the head's (empty) rows
        if name.startswith("_") and isinstance(value, tuple) and any(isinstance(v, np.ndarray) for v in value):
            state[name] = None
    state.update(_combined=None, fallback=[], row_offset=0)
    sub = object.__new__(type(head))
    sub.__dict__.update(state)
    return sub
