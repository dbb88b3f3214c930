"""Files of the family index and of the identity lookup: atomic ``.npz`` writes, stale
temporaries of killed saves, checksums, and damaged files (never used, rebuilt)."""

from __future__ import annotations

import numpy as np

from reunite.errors import ReuniteError


#: Temporary files of :meth:`FamilyIndex.save` are named ``<index file><TEMP_MARK><pid>-<random>``.
TEMP_MARK = ".tmp-"


def _process_started(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch); None if it is not running.
    Where that cannot be known (no /proc), a running process counts as started long ago."""
    import os
    from pathlib import Path

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except (PermissionError, OSError):
        pass  # running, as another user
    try:  # field 22 of /proc/<pid>/stat: clock ticks after boot; btime: boot, epoch seconds
        stat = Path(f"/proc/{pid}/stat").read_text()
        ticks = int(stat[stat.rindex(")") + 2:].split()[19])
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return 0.0


def remove_stale_temporaries(path) -> list:
    """Remove the temporary files of saves of ``path`` whose process is gone (killed while
    saving) or was started after the file was last written (its pid reused); a save still
    running is left alone.  Returns the files removed."""
    from pathlib import Path

    path = Path(path)
    removed = []
    try:
        candidates = list(path.parent.glob(f"{path.name}{TEMP_MARK}*"))
    except OSError:
        return removed
    for tmp in candidates:
        pid_text = tmp.name[len(path.name) + len(TEMP_MARK):].split("-", 1)[0]
        try:
            pid = int(pid_text)
            written = tmp.stat().st_mtime
        except (ValueError, OSError):
            continue
        started = _process_started(pid)
        if started is None or started > written + 1.0:
            try:
                tmp.unlink()
                removed.append(tmp)
            except OSError:
                pass
    return removed


def write_npz_atomically(path, arrays: dict) -> None:
    """Write ``arrays`` as an ``.npz`` to ``path``: into a temporary file beside it
    (``<path><TEMP_MARK><pid>-<random>``), flushed to disk, then renamed over ``path``; until
    then the old file is untouched, and on any failure the temporary file is removed.

    Raises
    ------
    OSError
        if the folder or the file cannot be written."""
    import os
    import tempfile
    from pathlib import Path

    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}{TEMP_MARK}{os.getpid()}-")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class DamagedFileError(ReuniteError):
    """A stored index or lookup file that is truncated, corrupted or inconsistent: never
    used, rebuilt from the database."""


def arrays_checksum(arrays: dict) -> str:
    """SHA-256 of named arrays: for each, in name order, its name, dtype, shape and bytes
    (``meta`` left out: it records the checksum).  Stored in a file's JSON document by
    :meth:`FamilyIndex.save` and :meth:`reunite.search.identity.IdentityLookup.save`, and
    compared on load."""
    import hashlib

    digest = hashlib.sha256()
    for name in sorted(arrays):
        if name == "meta":
            continue
        a = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        digest.update(memoryview(a).cast("B") if a.size and a.dtype.kind != "U" else a.tobytes())
    return digest.hexdigest()


def read_checked_npz(path, *, what: str) -> tuple[dict, dict]:
    """(JSON document, arrays) of an ``.npz`` written with an :func:`arrays_checksum` in its
    document (key ``checksum``); ``what`` names the file in messages.

    Raises
    ------
    DamagedFileError
        if the file cannot be read (truncated, empty, not an ``.npz``), has no document, or
        its arrays do not have the checksum recorded (bytes changed since it was written).
    """
    import json
    import os

    try:
        with open(path, "rb") as fh:
            if fh.read(4) != b"PK\x03\x04":  # np.load would take anything else for a pickle
                raise ValueError("not a NumPy .npz archive (empty, or not written by reunite)")
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode())
            arrays = {k: data[k] for k in data.files if k != "meta"}
    except Exception as exc:
        try:
            size = f"{os.path.getsize(path):,} bytes"
        except OSError:
            size = "no size"
        raise DamagedFileError(f"{path}: not a readable {what} ({size}; {type(exc).__name__}: {exc}); "
                               "it is rebuilt from the database") from None
    if not isinstance(meta, dict):
        raise DamagedFileError(f"{path}: not a readable {what} (its document is not an object); "
                               "it is rebuilt from the database")
    recorded = meta.get("checksum")
    if recorded is not None and recorded != arrays_checksum(arrays):
        raise DamagedFileError(f"{path}: not a readable {what}: its arrays do not have the SHA-256 recorded "
                               "when it was written (damaged since); it is rebuilt from the database")
    return meta, arrays
