"""The test suite on PostgreSQL: ``REUNITE_TEST_BACKEND=postgresql`` (``make test-pg``).

Tests name their databases as SQLite files in their temporary folders
(``sqlite:///<tmp>/r.db``).  Under the switch, every such URL that reaches reunite
(:func:`reunite.store.db.make_engine`, in the test process and in the ``reunite``
processes the tests start) stands for a throw-away PostgreSQL database instead: one per
file path, created on first use, named ``reunite_t<session>_<hash of the path>``, and
emptied when the test module ends.  (``DROP DATABASE`` forces a checkpoint, seconds each: an
emptied database is renamed into a pool the next ones are taken from, and the pool is dropped
when the session ends.)  In-memory SQLite URLs stay SQLite.  So every test
that goes through reunite runs on PostgreSQL without knowing; tests of SQLite itself (its
files, WAL, backup API, the index beside the ``.db``) carry ``@pytest.mark.sqlite_only``
and are skipped there with their reason.

The server is ``$REUNITE_TEST_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432``);
child processes find this module through ``tests/pg_site/sitecustomize.py`` (on their
``PYTHONPATH``).  Nothing here is used when the switch is off.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from pathlib import Path

BACKEND_ENV = "REUNITE_TEST_BACKEND"
# for child processes; not REUNITE_*: tests often start reunite with those removed
PREFIX_ENV, SERVER_ENV = "PGTEST_REUNITE_PREFIX", "PGTEST_REUNITE_SERVER"
SERVER = (os.environ.get("REUNITE_TEST_POSTGRES") or os.environ.get(SERVER_ENV)
          or "postgresql://postgres@127.0.0.1:5432")
SITE = Path(__file__).parent / "pg_site"

_created: set[str] = set()


def backend() -> str:
    """``sqlite`` (default) or ``postgresql``: the database every test runs on."""
    value = os.environ.get(BACKEND_ENV, "").strip().lower() or (
        "postgresql" if os.environ.get(PREFIX_ENV) else "sqlite")
    if value in ("postgres", "pg"):
        value = "postgresql"
    if value not in ("sqlite", "postgresql"):
        raise SystemExit(f"{BACKEND_ENV} must be 'sqlite' or 'postgresql', found {value!r}")
    return value


def on_postgres() -> bool:
    return backend() == "postgresql"


def prefix() -> str:
    """The name prefix of this test session's databases (shared with its child processes)."""
    if not os.environ.get(PREFIX_ENV):
        os.environ[PREFIX_ENV] = f"reunite_t{uuid.uuid4().hex[:8]}_"
    return os.environ[PREFIX_ENV]


def unreachable() -> str | None:
    """Why the PostgreSQL server cannot be used (None when it can)."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'psycopg[binary]')"
    try:
        with psycopg.connect(f"{SERVER}/postgres", autocommit=True, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return f"PostgreSQL is not reachable at {SERVER} ({exc.__class__.__name__}: {first})"


def _admin():
    import psycopg

    return psycopg.connect(f"{SERVER}/postgres", autocommit=True, connect_timeout=10)


def database_name(path: Path) -> str:
    """The PostgreSQL database standing for the SQLite file ``path``."""
    digest = hashlib.sha1(str(Path(os.path.abspath(path))).encode()).hexdigest()[:20]
    return prefix() + digest


def server_url(name: str) -> str:
    return SERVER.replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"


def _pool() -> str:
    return prefix() + "pool_"


def _like(text: str) -> str:
    return text.replace("_", r"\_") + "%"


def ensure_database(name: str, *, template: str | None = None) -> None:
    """Create database ``name`` (a copy of ``template``) unless it exists; an empty one is
    taken from the pool when there is one."""
    import psycopg

    if name in _created and template is None:
        return
    with _admin() as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and template is None:
            _created.add(name)
            return
        if exists:
            _release(conn, [name])
        if template:
            # a template must have no other sessions: end the test process's idle ones
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                         (template,))
        else:
            for (free,) in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                        (_like(_pool()),)).fetchall():
                try:
                    conn.execute(f'ALTER DATABASE "{free}" RENAME TO "{name}"')
                    _created.add(name)
                    return
                except psycopg.errors.DuplicateDatabase:
                    _created.add(name)  # another process of this session made it at the same moment
                    return
                except psycopg.Error:
                    continue  # taken by another process, or in use
        try:
            conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            pass  # another process of this session made it at the same moment
    _created.add(name)


def _release(admin, names) -> None:
    """Empty the databases ``names`` and put them into the pool (dropped where that fails)."""
    import psycopg

    for name in sorted(names):
        _created.discard(name)
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        try:
            with psycopg.connect(f"{SERVER}/{name}", autocommit=True, connect_timeout=10) as db:
                db.execute("DROP SCHEMA public CASCADE")
                db.execute("CREATE SCHEMA public")
                left = db.execute("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                  "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
                                  ).fetchone()[0]
            if left:
                raise psycopg.errors.ObjectInUse(f"{left} relations outside the public schema")
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            admin.execute(f'ALTER DATABASE "{name}" RENAME TO "{_pool()}{uuid.uuid4().hex[:12]}"')
        except psycopg.Error:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def redirect(url):
    """The PostgreSQL URL standing for a SQLite file URL (str or URL); other URLs unchanged."""
    from sqlalchemy.engine import make_url

    from reunite.store.db import sqlite_path

    parsed = make_url(url) if isinstance(url, str) else url
    path = sqlite_path(parsed)
    if path is None:
        return parsed
    name = database_name(path)
    ensure_database(name)
    return make_url(server_url(name))


def install() -> None:
    """Route reunite's SQLite file URLs to PostgreSQL in this process (idempotent)."""
    from reunite.store import db

    if getattr(db._parse_url, "_pg_redirect", False):
        return
    original = db._parse_url

    def _parse_url(url):
        return redirect(original(url))

    _parse_url._pg_redirect = True
    db._parse_url = _parse_url
    prefix()
    os.environ[SERVER_ENV] = SERVER
    paths = [str(SITE)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))


def session_databases() -> set[str]:
    """This session's databases in use (not those of the pool)."""
    with _admin() as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s AND datname NOT LIKE %s",
                            (_like(prefix()), _like(_pool()))).fetchall()
    return {r[0] for r in rows}


def release(names) -> None:
    """Empty the databases ``names`` into the pool."""
    with _admin() as conn:
        _release(conn, names)


def drop_all() -> None:
    """Drop every database of this session, the pool's too."""
    with _admin() as conn:
        for (name,) in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                    (_like(prefix()),)).fetchall():
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _created.clear()


def copy_database(source: Path, target: Path) -> None:
    """Copy the SQLite file ``source`` to ``target``; under the switch, the PostgreSQL
    database standing for it (``CREATE DATABASE ... TEMPLATE``)."""
    if not on_postgres():
        shutil.copy(source, target)
        return
    ensure_database(database_name(target), template=database_name(source))
