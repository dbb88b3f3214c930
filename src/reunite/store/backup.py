"""Backing up and restoring a reunite database: one file and its manifest.

A backup is two files: ``FILE`` holds the database in its own format (SQLite: a database file
made with SQLite's backup API; PostgreSQL: a ``pg_dump --format=custom`` archive), so the
standard tools read it in an emergency (``sqlite3 FILE``, ``pg_restore --list FILE``), and
``FILE.manifest.json`` says what it is: the format, the reunite version and schema revision
(Alembic) that wrote it, when, from where, the sha256 and size of ``FILE``, the number of rows
of every table and the audit chain's head at that moment, and a fingerprint of the audit key.

Both backups are consistent while others write: SQLite copies every page in one step inside a
read transaction (with the write-ahead log, writers go on meanwhile); PostgreSQL dumps under a
snapshot exported from a repeatable-read transaction in which the row counts and the audit
head of the manifest are read too.

A restore refuses a backup whose manifest is missing or unreadable, whose file's sha256 or
size differs from the manifest, whose schema revision is not this version's, whose audit key
fingerprint is not the current key's, or made by the other kind of database; and it refuses
to replace a database that holds records unless ``force``.  The database is replaced in one
transaction (SQLite's backup API into the target; for PostgreSQL ``pg_restore`` piped into
``psql --single-transaction`` after dropping the target's tables), checked (revision and the
row count of every table as in the manifest), and the restore is then appended to the
*restored* audit chain, which is verified.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import URL

from reunite import __version__
from reunite.store.db import StoreError, busy_timeout, sqlite_path

FORMAT = "reunite-backup/1"
MANIFEST_SUFFIX = ".manifest.json"
PAYLOADS = {"sqlite": "sqlite3-database", "postgresql": "pg_dump-custom"}
#: rows that 'reunite db init' writes: a database holding only these is empty
SEED_TABLES = {"alembic_version", "settings", "audit_head"}


class BackupError(StoreError):
    """A backup cannot be made, or a backup file is refused for a restore."""


@dataclass
class Manifest:
    """What a backup is (``FILE.manifest.json``)."""

    format: str
    backend: str  # sqlite | postgresql
    payload: str  # sqlite3-database | pg_dump-custom
    reunite_version: str
    schema_revision: str
    created_at: str  # UTC, ISO 8601
    source: str  # the database backed up (no password)
    database_id: str | None
    sha256: str
    size_bytes: int
    table_rows: dict[str, int]
    audit_head: str  # SEQ:MAC at the moment of the backup
    audit_key_id: str  # HMAC-SHA256(audit key, ...)[:16]: which key the audit chain needs
    tool: str = ""  # pg_dump --version, or the SQLite library version
    reason: str | None = None

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def read(cls, path: Path) -> "Manifest":
        """The manifest at ``path``.

        Raises
        ------
        BackupError
            missing, not JSON, unknown or missing keys, or another format.
        """
        if not path.exists():
            raise BackupError(f"{path}: the manifest of the backup is missing; it is written beside the backup "
                              f"file as <file>{MANIFEST_SUFFIX}: copy it with the backup (without it the file "
                              "cannot be checked, so it is not restored)")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise BackupError(f"{path}: the manifest is not readable JSON ({exc}); it is damaged: use another "
                              "backup") from None
        if not isinstance(data, dict):
            raise BackupError(f"{path}: expected a JSON object, found {type(data).__name__}")
        if data.get("format") != FORMAT:
            raise BackupError(f"{path}: expected a manifest of format {FORMAT!r}, found {data.get('format')!r}; "
                              "it was not written by 'reunite db backup' of this version")
        known = {f.name for f in fields(cls)}
        required = known - {"tool", "reason"}
        unknown = sorted(set(data) - known)
        missing = sorted(required - set(data))
        if unknown or missing:
            raise BackupError(f"{path}: the manifest has unknown keys {unknown} and lacks {missing}; it was edited "
                              "or written by another version: use the backup's own manifest")
        return cls(**data)


def manifest_path(path: Path) -> Path:
    """``FILE.manifest.json`` beside ``FILE``."""
    path = Path(path)
    return path.with_name(path.name + MANIFEST_SUFFIX)


def schema_head() -> str:
    """The Alembic head revision of this version of reunite."""
    from importlib import resources

    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("reunite.store") / "migrations"))
    return ScriptDirectory.from_config(cfg).get_current_head()


def audit_key_id(key: str | bytes) -> str:
    """A fingerprint of the audit key (never the key): the restored chain verifies only with it."""
    key = key.encode("utf-8") if isinstance(key, str) else key
    return hmac.new(key, b"reunite audit key fingerprint", hashlib.sha256).hexdigest()[:16]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _where(url: URL) -> str:
    path = sqlite_path(url)
    if path is not None:
        return str(path.absolute())
    return url.render_as_string(hide_password=True)


# ----------------------------------------------------------------------------------------
# what a database holds


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def table_rows(conn) -> dict[str, int]:
    """Rows of every table (SQLAlchemy connection), by table name."""
    names = inspect(conn).get_table_names()
    return {name: conn.execute(text(f"SELECT count(*) FROM {_quote(name)}")).scalar() for name in sorted(names)}


def _state(conn) -> dict:
    """Revision, rows of every table, audit head and database id, read in ``conn``'s transaction."""
    rows = table_rows(conn)
    if "alembic_version" not in rows:
        return {"revision": None, "rows": rows, "audit_head": None, "database_id": None}
    revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    head = conn.execute(text("SELECT seq, mac FROM audit_head WHERE id = 1")).first() if "audit_head" in rows else None
    dbid = conn.execute(text("SELECT value FROM settings WHERE key = 'database_id'")).scalar() \
        if "settings" in rows else None
    return {"revision": revision, "rows": rows, "audit_head": f"{head[0]}:{head[1]}" if head else None,
            "database_id": json.loads(dbid) if dbid else None}


def holds_records(rows: dict[str, int]) -> bool:
    """Whether a database with these row counts holds anything beyond what 'db init' writes
    (its settings, the audit head, the national jurisdiction)."""
    return any(n > (1 if name == "jurisdictions" else 0) for name, n in rows.items() if name not in SEED_TABLES)


# ----------------------------------------------------------------------------------------
# backup


@dataclass
class BackupReport:
    path: Path
    manifest: Manifest
    audited: bool = True
    warnings: list[str] = field(default_factory=list)


def backup(engine: Engine, path: Path, *, actor: str, audit_key: str, reason: str | None = None) -> BackupReport:
    """Back up the database of ``engine`` to ``path`` and ``path.manifest.json``, then record
    it in the database's audit chain (``database.backup``, by ``actor``).

    The file is written under a temporary name and renamed once complete, so ``path`` is
    never a half-written backup.

    Raises
    ------
    BackupError
        the database is not initialised or is in memory, the folder is not writable, or
        ``pg_dump`` is missing or fails.
    """
    path = Path(path)
    backend = engine.url.get_backend_name()
    if backend not in PAYLOADS:
        raise BackupError(f"cannot back up a {backend!r} database: only SQLite and PostgreSQL are supported")
    folder = path.absolute().parent
    if not folder.is_dir():
        raise BackupError(f"FILE {path}: the folder {folder} does not exist; create it or choose another path")
    if path.is_dir():
        raise BackupError(f"FILE {path}: is a folder; give a file name, e.g. {path / 'reunite.backup'}")
    source = sqlite_path(engine.url) if backend == "sqlite" else None
    if source is not None and path.absolute().resolve() in {
            source.absolute().resolve().with_name(source.resolve().name + end)
            for end in ("", "-wal", "-shm", "-journal", ".index", ".index.identity.npz",
                        ".index.unidentified.npz")}:
        raise BackupError(f"FILE {path}: is the database {source} itself or one of its files (-wal, -shm, "
                          "index); write the backup elsewhere, best on another disk")
    part = folder / f".{path.name}.part-{os.getpid()}"
    try:
        if backend == "sqlite":
            state, tool = _backup_sqlite(engine, part)
        else:
            state, tool = _backup_postgresql(engine, part)
        if state["revision"] is None:
            raise BackupError(f"the database at {_where(engine.url)} is not initialised (no schema revision); "
                              "there is nothing to back up")
        manifest = Manifest(
            format=FORMAT, backend=backend, payload=PAYLOADS[backend], reunite_version=__version__,
            schema_revision=state["revision"], created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            source=_where(engine.url), database_id=state["database_id"], sha256=file_sha256(part),
            size_bytes=part.stat().st_size, table_rows=state["rows"], audit_head=state["audit_head"] or "0:" + "0" * 64,
            audit_key_id=audit_key_id(audit_key), tool=tool, reason=reason)
        _fsync(part)
        os.replace(part, path)
        mpart = folder / f".{path.name}.manifest.part-{os.getpid()}"
        mpart.write_text(json.dumps(manifest.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        _fsync(mpart)
        os.replace(mpart, manifest_path(path))
    finally:
        part.unlink(missing_ok=True)
    report = BackupReport(path, manifest)
    try:
        _record(engine, actor=actor, audit_key=audit_key, action="database.backup",
                entity_id=manifest.database_id, details={
                    "file": str(path.absolute()), "sha256": manifest.sha256, "size_bytes": manifest.size_bytes,
                    "audit_head": manifest.audit_head, "reason": reason})
    except Exception as exc:  # e.g. a read-only standby: the backup stands, unrecorded
        from reunite.store.db import explain_error

        known = explain_error(exc, url=engine.url)
        if known is None and not isinstance(exc, StoreError):
            raise
        report.audited = False
        report.warnings.append(f"the backup was made but could not be recorded in the audit log ({known or exc})")
    return report


def _fsync(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def _sqlite_source(engine: Engine) -> Path:
    path = sqlite_path(engine.url)
    if path is None:
        raise BackupError("an in-memory SQLite database cannot be backed up or restored; use a file "
                          "(REUNITE_DATABASE_URL=sqlite:///path/reunite.db)")
    return path


def _backup_sqlite(engine: Engine, part: Path) -> tuple[dict, str]:
    source = _sqlite_source(engine)
    if not source.exists():
        raise BackupError(f"there is no database at {source}; check REUNITE_DATABASE_URL")
    part.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=busy_timeout())
    dst = sqlite3.connect(part)
    try:
        src.backup(dst)  # every page in one step, in one read transaction: a consistent copy
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    except sqlite3.Error as exc:
        raise BackupError(f"the SQLite backup of {source} failed ({exc}); nothing was written") from None
    finally:
        dst.close()
        src.close()
    from sqlalchemy import create_engine

    copy = create_engine(f"sqlite:///{part}")
    try:
        with copy.connect() as conn:
            state = _state(conn)
    finally:
        copy.dispose()
    return state, f"SQLite {sqlite3.sqlite_version} backup API"


# ----------------------------------------------------------------------------------------
# PostgreSQL client programs


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed or not on PATH; install the PostgreSQL client programs "
                          "(Debian/Ubuntu: apt-get install postgresql-client) at the server's major version or newer")
    return found


def _libpq(url: URL) -> tuple[str, dict]:
    """A libpq connection URI without the password, and the environment carrying it."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    query = {k: v for k, v in plain.query.items()}
    plain = plain.set(query=query)
    return plain.render_as_string(hide_password=False), env


def _run(args: list[str], *, env: dict, what: str, stdin=None) -> subprocess.CompletedProcess:
    done = subprocess.run(args, env=env, stdin=stdin, capture_output=True)
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip()
        raise BackupError(f"{what} failed (exit status {done.returncode}): {detail[:2000]}")
    return done


def _backup_postgresql(engine: Engine, part: Path) -> tuple[dict, str]:
    pg_dump = _pg_tool("pg_dump")
    conninfo, env = _libpq(engine.url)
    version = _run([pg_dump, "--version"], env=env, what="pg_dump --version").stdout.decode().strip()
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        with conn.begin():
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar()
            state = _state(conn)  # the same snapshot as the dump
            _run([pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--file={part}", f"--dbname={conninfo}"],
                 env=env, what=f"pg_dump of {_where(engine.url)}")
    return state, version


# ----------------------------------------------------------------------------------------
# restore


@dataclass
class RestoreReport:
    manifest: Manifest
    replaced_rows: dict[str, int]  # what the target held before (empty: nothing)
    replaced_audit_head: str | None
    restored_rows: dict[str, int]
    audit_ok: bool
    audit_description: str
    index_files_removed: list[str] = field(default_factory=list)


def check_backup(path: Path, *, backend: str, audit_key: str) -> Manifest:
    """The manifest of the backup at ``path``, once the file is checked against it.

    Raises
    ------
    BackupError
        the file or its manifest is missing or damaged, its size or sha256 differ from the
        manifest, it was made by the other kind of database, its schema revision is not this
        version's, or its audit chain needs another audit key.
    """
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"FILE {path}: there is no backup file there")
    manifest = Manifest.read(manifest_path(path))
    size = path.stat().st_size
    if size != manifest.size_bytes:
        raise BackupError(f"FILE {path}: expected {manifest.size_bytes:,} bytes (its manifest), found {size:,}: the "
                          "file is truncated or damaged (an interrupted copy?); copy it again from the off-site "
                          "store, or use another backup")
    digest = file_sha256(path)
    if digest != manifest.sha256:
        raise BackupError(f"FILE {path}: expected sha256 {manifest.sha256} (its manifest), found {digest}: the file "
                          "is damaged or was replaced; copy it again from the off-site store, or use another backup")
    if manifest.backend != backend:
        raise BackupError(f"FILE {path}: a {manifest.backend} backup cannot be restored into a {backend} database; "
                          f"restore it into a {manifest.backend} database (REUNITE_DATABASE_URL)")
    head = schema_head()
    if manifest.schema_revision != head:
        raise BackupError(f"FILE {path}: the backup is at schema revision {manifest.schema_revision} (reunite "
                          f"{manifest.reunite_version}); this reunite {__version__} expects revision {head}. Restore it "
                          f"with reunite {manifest.reunite_version}, then upgrade with this version ('reunite db init' "
                          "applies the migrations)")
    key_id = audit_key_id(audit_key)
    if manifest.audit_key_id != key_id:
        raise BackupError(f"FILE {path}: the backup's audit log was written with another REUNITE_AUDIT_KEY "
                          f"(fingerprint {manifest.audit_key_id}; the current key's is {key_id}); set the key of "
                          "the database that was backed up, else the restored audit chain would not verify")
    return manifest


def restore(engine: Engine, path: Path, *, actor: str, audit_key: str, reason: str,
            force: bool = False) -> RestoreReport:
    """Replace the database of ``engine`` by the backup at ``path`` (see the module's text).

    Raises
    ------
    BackupError
        the backup is refused (:func:`check_backup`), the target holds records and ``force``
        is not given, ``reason`` is empty, or the restore fails (nothing is changed then).
    """
    if not (reason or "").strip():
        raise BackupError("--reason: say why the database is restored (it is recorded in the audit log)")
    backend = engine.url.get_backend_name()
    if backend not in PAYLOADS:
        raise BackupError(f"cannot restore into a {backend!r} database: only SQLite and PostgreSQL are supported")
    manifest = check_backup(path, backend=backend, audit_key=audit_key)
    before = _target_state(engine)
    if holds_records(before["rows"]) and not force:
        held = ", ".join(f"{name} {n:,}" for name, n in before["rows"].items()
                         if name not in SEED_TABLES and n > (1 if name == "jurisdictions" else 0))
        raise BackupError(f"the database at {_where(engine.url)} is not empty ({held}); a restore replaces all of it. "
                          "Restore into a new database, or give --force to replace it (back it up first)")
    if backend == "sqlite":
        _restore_sqlite(engine, Path(path))
    else:
        _restore_postgresql(engine, Path(path), drop=bool(before["rows"]))
    engine.dispose()  # connections opened before the restore see the old schema
    with engine.connect() as conn:
        after = _state(conn)
        conn.rollback()
    if after["revision"] != manifest.schema_revision or after["rows"] != manifest.table_rows:
        diff = {name: (manifest.table_rows.get(name), after["rows"].get(name))
                for name in set(manifest.table_rows) | set(after["rows"])
                if manifest.table_rows.get(name) != after["rows"].get(name)}
        raise BackupError(f"the restored database differs from the backup's manifest (revision "
                          f"{after['revision']} vs {manifest.schema_revision}; rows manifest/restored: {diff}); do not "
                          "use it: restore again, or use another backup")
    _record(engine, actor=actor, audit_key=audit_key, action="database.restore", entity_id=manifest.database_id,
            details={"reason": reason.strip(), "file": str(Path(path).absolute()), "sha256": manifest.sha256,
                     "backup_created_at": manifest.created_at, "backup_source": manifest.source,
                     "backup_reunite_version": manifest.reunite_version, "backup_audit_head": manifest.audit_head,
                     "forced": force, "replaced_audit_head": before["audit_head"],
                     "replaced_rows": {k: v for k, v in before["rows"].items() if v}})
    from sqlalchemy.orm import Session

    from reunite.audit.chain import verify

    with Session(engine) as session:
        result = verify(session, key=audit_key)
    return RestoreReport(manifest=manifest, replaced_rows=before["rows"], replaced_audit_head=before["audit_head"],
                         restored_rows=after["rows"], audit_ok=result.ok, audit_description=result.describe(),
                         index_files_removed=_remove_index_files(engine))


def _target_state(engine: Engine) -> dict:
    if backend_is_sqlite(engine):
        target = _sqlite_source(engine)
        if not target.exists() or target.stat().st_size == 0:
            return {"revision": None, "rows": {}, "audit_head": None, "database_id": None}
    with engine.connect() as conn:
        state = _state(conn)
        conn.rollback()
    return state


def backend_is_sqlite(engine: Engine) -> bool:
    return engine.url.get_backend_name() == "sqlite"


def _restore_sqlite(engine: Engine, path: Path) -> None:
    target = _sqlite_source(engine)
    if not target.absolute().parent.is_dir():
        raise BackupError(f"the folder {target.absolute().parent} of the database does not exist; create it first")
    if target.exists() and target.resolve() == path.resolve():
        raise BackupError(f"FILE {path} is the database itself; restore into another database")
    src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        check = src.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"FILE {path}: SQLite finds the backup damaged ({check}); use another backup")
        engine.dispose()
        dst = sqlite3.connect(target, timeout=busy_timeout())
        try:
            src.backup(dst)  # one write transaction on the target: all of it, or nothing
            dst.execute("PRAGMA journal_mode=WAL")
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise BackupError(f"the restore of {path} into {target} failed ({exc}); the database was not changed") from None
    finally:
        src.close()


def _drop_statements(engine: Engine) -> str:
    """SQL dropping every table, view, sequence and type of the target's ``public`` schema."""
    with engine.connect() as conn:
        rels = conn.execute(text(
            "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')")).all()
        types = conn.execute(text(
            "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
            "WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd') ")).scalars().all()
        conn.rollback()
    kinds = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE", "f": "FOREIGN TABLE"}
    order = ["v", "m", "f", "r", "p", "S"]
    out = [f"DROP {kinds[k]} IF EXISTS public.{_quote(name)} CASCADE;"
           for kind in order for name, k in rels if k == kind]
    out += [f"DROP TYPE IF EXISTS public.{_quote(name)} CASCADE;" for name in types]
    return "\n".join(out) + "\n"


def _restore_postgresql(engine: Engine, path: Path, *, drop: bool) -> None:
    pg_restore, psql = _pg_tool("pg_restore"), _pg_tool("psql")
    conninfo, env = _libpq(engine.url)
    prologue = _drop_statements(engine) if drop else ""
    engine.dispose()
    script = subprocess.Popen([pg_restore, "--no-owner", "--no-privileges", "--file=-", str(path)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    apply = subprocess.Popen([psql, "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", "--single-transaction",
                              "--file=-", f"--dbname={conninfo}"], env=env, stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        apply.stdin.write(prologue.encode("utf-8"))
        for block in iter(lambda: script.stdout.read(1 << 20), b""):
            apply.stdin.write(block)
        apply.stdin.close()
    except BrokenPipeError:
        pass
    script_err = script.stderr.read().decode("utf-8", "replace").strip()
    script.wait()
    apply_err = apply.stderr.read().decode("utf-8", "replace").strip()
    apply.wait()
    if script.returncode != 0 or apply.returncode != 0:
        raise BackupError(f"the restore of {path} into {_where(engine.url)} failed; the database was not changed "
                          f"(one transaction). pg_restore: {script_err[:1000] or 'ok'}; psql: {apply_err[:1000] or 'ok'}")


# ----------------------------------------------------------------------------------------
# audit and caches


def _record(engine: Engine, *, actor: str, audit_key: str, action: str, entity_id, details: dict) -> None:
    from sqlalchemy.orm import Session

    from reunite.audit.chain import append

    with Session(engine) as session, session.begin():
        append(session, key=audit_key, actor=actor, action=action, entity="database", entity_id=entity_id,
               details={"via": "cli", "host": os.uname().nodename, **{k: v for k, v in details.items()
                                                                      if v is not None}})


def _remove_index_files(engine: Engine) -> list[str]:
    """The family index and identity lookup kept for the target are removed: they describe the
    database as it was (the next search rebuilds them)."""
    from reunite.search.service import identity_path, index_path
    from reunite.search.unidentified_index import unidentified_index_path

    removed = []
    for path in (index_path(engine), identity_path(engine), unidentified_index_path(engine)):
        if path is not None and path.exists():
            path.unlink()
            removed.append(str(path))
    return removed
