"""The registry of imported allele-frequency tables, and the copy a database keeps of its own.

Each imported table is one file, ``<data dir>/frequency_tables/<NAME>.json`` (data dir:
``REUNITE_DATA_DIR``, default ``$XDG_DATA_HOME/reunite`` or ``~/.local/share/reunite``),
holding the normalised long CSV (``table_csv``: ``locus,allele,frequency,n_individuals``,
loci and alleles sorted) and what describes it: name, ``sha256`` of ``table_csv``, the
source file (name, checksum, encoding, layout), sample sizes, ``imported_at``,
``imported_by`` (the OS user), ``reason``, the mutation models a ``.fam`` file carried.

The files are written atomically (a temporary file renamed over the target, under a lock
file, so two imports at once cannot interleave) and read-only; a table replaced
(``--replace``) or removed is moved to ``frequency_tables/.history/``, never deleted.  A
file whose content no longer matches its checksum is refused.

A database created with an imported table records the table's content at ``reunite db
init`` (setting ``frequency_table``).  On every open :func:`use_recorded_table` checks it:
the registry holds the same table (same checksum), or none of that name (the database then
uses its own copy), or a different one, which is an error naming both checksums: a
database's table never changes in silence.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import os
import re
import tempfile
import threading
from datetime import datetime, timezone
from pathlib import Path

from reunite.errors import FrequencyError
from reunite.genetics.frequencies import LocusTable, Population, is_shipped

FORMAT = "reunite-frequency-table"
FORMAT_VERSION = 1
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}", re.ASCII)
CSV_HEADER = "locus,allele,frequency,n_individuals"

_lock = threading.RLock()
_cache: dict[Path, tuple[tuple, Population]] = {}  # path -> (file signature, table)
_pinned: dict[str, Population] = {}  # tables restored from an open database's record


def data_dir() -> Path:
    """Where reunite keeps its data: ``REUNITE_DATA_DIR``, else ``$XDG_DATA_HOME/reunite``,
    else ``~/.local/share/reunite``."""
    from pydantic import ValidationError

    from reunite.settings import Settings

    try:
        configured = Settings().data_dir
    except ValidationError:  # another setting is malformed: that is reported where it is used
        configured = os.environ.get("REUNITE_DATA_DIR")
    if configured:
        return Path(configured).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "reunite"


def tables_dir() -> Path:
    return data_dir() / "frequency_tables"


def check_name(name: str) -> None:
    """A table name: 1-64 letters, digits, ``_ . -``, starting with a letter or digit.

    Raises
    ------
    FrequencyError
        a malformed name, or the name of a shipped table.
    """
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise FrequencyError(f"--name: expected 1 to 64 letters, digits, '_', '.' or '-' (starting with a letter "
                             f"or digit), e.g. Han_Guangdong_2023; found {name!r}")
    if is_shipped(name):
        raise FrequencyError(f"--name {name}: a table shipped with reunite has that name; choose another "
                             "(shipped tables cannot be replaced)")


def table_csv(afreq: dict[str, dict[str, float]], n_individuals: dict[str, int | None]) -> str:
    """The normalised long CSV of a table: loci sorted by name, alleles by repeat number,
    frequencies as Python writes floats exactly (``repr``)."""
    lines = [CSV_HEADER]
    for locus in sorted(afreq):
        n = n_individuals.get(locus)
        for allele in sorted(afreq[locus], key=lambda a: (float(a), a)):
            lines.append(f"{locus},{allele},{afreq[locus][allele]!r},{'' if n is None else n}")
    return "\n".join(lines) + "\n"


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _population(record: dict, *, origin: str) -> Population:
    name = record["name"]
    pop = Population(name, origin=origin, sha256=record["sha256"],
                     metadata={k: v for k, v in record.items() if k != "table_csv"})
    raw: dict[str, tuple[dict[str, float], int | None]] = {}
    for line in record["table_csv"].splitlines()[1:]:
        locus, allele, freq, n = line.split(",")
        afreq, _ = raw.setdefault(locus, ({}, int(n) if n else None))
        afreq[allele] = float(freq)
    source = f"imported:{name}:{record['sha256'][:12]}"
    for locus, (afreq, n) in raw.items():
        pop.loci[locus] = LocusTable(name, locus, afreq, n, source)
    return pop


def _read_record(path: Path) -> dict:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FrequencyError(f"imported table {path}: cannot be read ({exc}); restore it from "
                             f"{path.parent / '.history'} or import the table again") from None
    if record.get("format") != FORMAT or "table_csv" not in record or "sha256" not in record:
        raise FrequencyError(f"imported table {path}: not a reunite frequency table file")
    if record.get("name") != path.stem:  # a file copied or renamed by hand answers to no other name
        raise FrequencyError(f"imported table {path}: it holds the table {record.get('name')!r}, not "
                             f"{path.stem!r} (the file was copied or renamed by hand); remove it, or import "
                             f"the table again with --name {path.stem}")
    actual = sha256_text(record["table_csv"])
    if actual != record["sha256"]:
        raise FrequencyError(f"imported table {path}: its content was changed after import (sha256 {actual}, "
                             f"recorded {record['sha256']}); import the table again with --replace")
    return record


def _path(name: str) -> Path:
    return tables_dir() / f"{name}.json"


def find(name: str) -> Population | None:
    """The table ``name`` restored from the open database, else the imported one, else None."""
    with _lock:
        if name in _pinned:
            return _pinned[name]
    return _imported(name)


def _imported(name: str) -> Population | None:
    """The table ``name`` in the registry (cached while its file is unchanged), or None."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        return None
    path = _path(name)
    try:
        st = path.stat()
    except OSError:
        return None
    signature = (st.st_mtime_ns, st.st_size, st.st_ino)
    with _lock:
        cached = _cache.get(path)
        if cached is not None and cached[0] == signature:
            return cached[1]
        pop = _population(_read_record(path), origin="imported")
        _cache[path] = (signature, pop)
        return pop


def imported_names() -> list[str]:
    folder = tables_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json") if NAME_PATTERN.fullmatch(p.stem))


def list_imported() -> list[Population]:
    """Every imported table, sorted by name (a damaged file raises, naming it)."""
    return [p for p in (find(n) for n in imported_names()) if p is not None]


def scan_imported() -> tuple[list[Population], list[str]]:
    """Every readable imported table, and why each unreadable or changed one is refused (a
    listing goes on past a damaged file)."""
    tables, problems = [], []
    for name in imported_names():
        try:
            pop = find(name)
        except FrequencyError as exc:
            problems.append(str(exc))
            continue
        if pop is not None:
            tables.append(pop)
    return tables, problems


def clear_caches() -> None:
    """Forget the cached tables and the tables restored from a database (tests)."""
    with _lock:
        _cache.clear()
        _pinned.clear()
        _pinned_records.clear()


@contextlib.contextmanager
def _exclusive(folder: Path):
    """A lock file held while the registry is changed (other processes wait)."""
    folder.mkdir(parents=True, exist_ok=True)
    with _lock, open(folder / ".lock", "a+") as fh:
        try:
            import fcntl
        except ImportError:  # Windows: in-process lock only
            yield
            return
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o444)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # the rename itself made durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _archive(path: Path, record: dict, *, why: str, reason: str = "") -> Path:
    """Move a table file into ``.history/`` and log it (``.history/log.jsonl``: one line per
    table replaced or removed, with who, when and why)."""
    history = path.parent / ".history"
    history.mkdir(exist_ok=True)
    now = datetime.now(timezone.utc)
    target = history / f"{path.stem}.{record['sha256'][:12]}.{why}.{now.strftime('%Y%m%dT%H%M%S%fZ')}.json"
    os.replace(path, target)
    entry = {"action": why, "name": record["name"], "sha256": record["sha256"], "archived_as": target.name,
             "at": now.isoformat(timespec="seconds"), "by": _os_user(), "reason": reason}
    with open(history / "log.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return target


def save_table(name: str, read, *, source: str | None = None, source_file: str | None = None,
               reason: str = "", replace: bool = False) -> tuple[dict, str]:
    """Store ``read`` (a :class:`reunite.genetics.table_import.ReadTable`) as table ``name``.

    Returns ``(record, what)`` with what = ``"imported"``, ``"replaced"`` or
    ``"unchanged"`` (the same content was already imported under that name).

    Raises
    ------
    FrequencyError
        a malformed or shipped name, or a different table already imported under that name
        and ``replace`` not given (the message names both checksums).
    """
    check_name(name)
    text = table_csv(read.table.afreq, read.table.n_individuals)
    digest = sha256_text(text)
    sizes = sorted({n for n in read.table.n_individuals.values() if n})
    record = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "name": name, "sha256": digest,
        "num_loci": len(read.table.afreq), "num_alleles": sum(len(a) for a in read.table.afreq.values()),
        "sample_size": (None if not sizes else str(sizes[0]) if sizes[0] == sizes[-1]
                        else f"{sizes[0]}-{sizes[-1]}"),
        "source": source or "",
        "source_file": {"name": Path(source_file).name if source_file else None,
                        "path": str(Path(source_file).resolve()) if source_file else None,
                        "sha256": read.file_sha256, "encoding": read.encoding, "layout": read.layout,
                        "population_column": read.population},
        "imported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "imported_by": _os_user(), "reason": reason or "",
        "mutation_models": read.mutation_models, "familias": read.familias, "notes": read.notes,
        "software": _software(), "table_csv": text,
    }
    path = _path(name)
    with _exclusive(path.parent):
        what = "imported"
        if path.exists():
            old = _read_record(path)
            if old["sha256"] == digest:
                return old, "unchanged"
            if not replace:
                raise FrequencyError(
                    f"--name {name}: a different table was imported under that name on {old.get('imported_at')} "
                    f"by {old.get('imported_by')} (sha256 {old['sha256']}); this file's table has sha256 {digest}. "
                    "Choose another name, or pass --replace (databases created with the old table keep their "
                    "own copy and will refuse to open until the name is resolved)")
            archived = _archive(path, old, why="replaced", reason=reason)
            record["replaces"] = {"sha256": old["sha256"], "imported_at": old.get("imported_at"),
                                  "archived_as": str(archived)}
            what = "replaced"
        _write_atomic(path, json.dumps(record, ensure_ascii=False, indent=1, sort_keys=True) + "\n")
    with _lock:
        _cache.pop(path, None)
    return record, what


def remove_table(name: str, *, reason: str = "") -> Path:
    """Move the imported table ``name`` to the history folder; returns where it went.

    Raises
    ------
    FrequencyError
        a shipped table, or no imported table of that name.
    """
    if is_shipped(name):
        raise FrequencyError(f"{name}: a table shipped with reunite cannot be removed")
    path = _path(name) if NAME_PATTERN.fullmatch(name or "") else None
    if path is None or not path.exists():
        raise FrequencyError(f"{name}: no imported table of that name ('reunite populations' lists them)")
    with _exclusive(path.parent):
        record = _read_record(path)
        target = _archive(path, record, why="removed", reason=reason)
    with _lock:
        _cache.pop(path, None)
    return target


def show_record(name: str) -> dict:
    """The stored record of the imported table ``name`` (without ``table_csv``)."""
    pop = get(name)
    return dict(pop.metadata)


def get(name: str) -> Population:
    pop = find(name)
    if pop is None:
        raise FrequencyError(f"{name}: no imported table of that name ('reunite populations' lists them)")
    return pop


# ----------------------------------------------------------------------------------------
# A database's own copy


def database_record(name: str) -> dict | None:
    """What ``reunite db init`` records of the table ``name`` (None for a shipped table):
    its name, checksum, normalised content (``table_csv``) and import metadata."""
    if is_shipped(name):
        return None
    with _lock:
        if name in _pinned_records:
            return dict(_pinned_records[name])
    path = _path(name) if NAME_PATTERN.fullmatch(name or "") else None
    if path is None or not path.exists():
        return None
    return _read_record(path)


_pinned_records: dict[str, dict] = {}


def use_recorded_table(record: dict, *, database: str = "the database") -> Population:
    """Check the table a database recorded at creation against the registry, and make it
    the table :func:`reunite.genetics.frequencies.get_population` returns for its name.

    Raises
    ------
    FrequencyError
        the record is damaged, a shipped table now has its name, or the registry holds a
        different table under its name (both checksums named, and how to resolve it).
    """
    name, digest, text = record.get("name"), record.get("sha256"), record.get("table_csv")
    if not name or not digest or text is None or sha256_text(text) != digest:
        raise FrequencyError(f"{database}: its recorded frequency table is damaged (checksum mismatch)")
    if is_shipped(name):
        raise FrequencyError(f"{database} was created with the imported table {name!r} (sha256 {digest}), but a "
                             "table shipped with this version of reunite has the same name")
    with _lock:
        pinned = _pinned.get(name)
    current = _imported(name)  # a stat while the file is unchanged: cheap on every open
    if pinned is not None and pinned.sha256 == digest and (current is None or current.sha256 == digest):
        return pinned
    if current is not None:
        current = current.metadata
        if current["sha256"] != digest:
            raise FrequencyError(
                f"{database} was created with the frequency table {name!r} sha256 {digest} (imported "
                f"{record.get('imported_at')}), but the table now imported under that name has sha256 "
                f"{current['sha256']} (imported {current.get('imported_at')} by {current.get('imported_by')}). "
                f"A database's table never changes: import the new table under another name, or remove it "
                f"('reunite populations remove {name}') so that the database uses the copy it recorded")
    pop = _population(record, origin="database")
    with _lock:
        _pinned[name] = pop
        _pinned_records[name] = dict(record)
    return pop


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


def _software() -> str:
    from reunite import __version__

    return f"reunite {__version__}"
