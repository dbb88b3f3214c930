"""Connecting to the database, migrating it (Alembic), and database failures as clear errors.

SQLite: foreign keys on, a write-ahead log, a busy timeout (``$REUNITE_SQLITE_BUSY_TIMEOUT``
seconds, default 30), and every transaction that may write begins with ``BEGIN IMMEDIATE``:
a second writer waits for the first to commit, then reads what it wrote (SQLite cannot
upgrade a read transaction to a write one once another writer has committed).  Read-only
work goes through :func:`read_only` (plain ``BEGIN``: readers never wait).
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.orm import Session

from reunite.errors import ReuniteError
from reunite.store.models import Setting

DEFAULT_URL = "sqlite:///reunite.db"
BUSY_TIMEOUT_ENV = "REUNITE_SQLITE_BUSY_TIMEOUT"
DEFAULT_BUSY_TIMEOUT = 30.0
_READ_ONLY = "reunite_read_only"


class StoreError(ReuniteError):
    """The database is missing, not initialised, or refuses an operation."""


class StoreValueError(StoreError):
    """The database cannot hold a value given to it (PostgreSQL: a number beyond its column's
    range, a NUL character in a text): the input's fault, not the database's."""


def database_url(url: str | None = None) -> str:
    """``url``, else ``$REUNITE_DATABASE_URL``, else ``sqlite:///reunite.db``."""
    return url or os.environ.get("REUNITE_DATABASE_URL") or DEFAULT_URL


def busy_timeout() -> float:
    """Seconds a SQLite writer waits for another to finish: ``$REUNITE_SQLITE_BUSY_TIMEOUT``,
    default 30.

    Raises
    ------
    StoreError
        if the variable is not a number of seconds >= 0.
    """
    raw = os.environ.get(BUSY_TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_BUSY_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise StoreError(f"{BUSY_TIMEOUT_ENV} must be a number of seconds >= 0 (e.g. 30), found {raw!r}")
    return value


def _parse_url(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError:
        raise StoreError(f"the database URL {_hide_password(url)!r} is not a URL; expected e.g. "
                         "sqlite:///reunite.db or postgresql+psycopg://user@host:5432/reunite "
                         "(REUNITE_DATABASE_URL)") from None


def _hide_password(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.split("@")[-1] if "@" in url else url


def sqlite_path(url: str | URL) -> Path | None:
    """The file of a SQLite URL (also ``file:`` URIs); None for other databases and memory."""
    url = make_url(url) if isinstance(url, str) else url
    if url.get_backend_name() != "sqlite":
        return None
    name = url.database or ""
    if name.startswith("file:"):
        name = name[5:].split("?", 1)[0]
    if not name or name == ":memory:" or url.query.get("mode") == "memory":
        return None
    return Path(name)


def make_engine(url: str | None = None, *, must_exist: bool = False) -> Engine:
    """An engine for ``url`` (default :func:`database_url`).

    SQLite gets foreign keys, a write-ahead log, the busy timeout of :func:`busy_timeout` and
    ``BEGIN IMMEDIATE`` for transactions that may write; PostgreSQL a 10 s connect timeout, and
    streamed statements planned for reading every row (:func:`_read_to_the_end`).

    Raises
    ------
    StoreError
        if the URL is malformed or names an unknown kind of database, or, with
        ``must_exist``, if a SQLite file does not exist (nothing is created).
    """
    text = database_url(url)
    parsed = _parse_url(text)
    connect_args: dict = {}
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = sqlite_path(parsed)
        if must_exist and path is not None and not path.exists():
            raise StoreError(f"there is no database at {path}; check REUNITE_DATABASE_URL, or create "
                             "one there with 'reunite db init'")
        connect_args["timeout"] = busy_timeout()
    elif backend == "postgresql" and "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = 10
    try:
        engine = create_engine(parsed, connect_args=connect_args)
    except NoSuchModuleError:
        raise StoreError(f"the database URL {_hide_password(text)!r} names an unknown kind of database "
                         f"{parsed.drivername!r}; use sqlite:///path or "
                         "postgresql+psycopg://user@host:5432/name") from None
    if backend == "sqlite":
        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # the driver begins nothing; "begin" below does
            cur = dbapi_conn.cursor()
            try:
                cur.execute("PRAGMA foreign_keys=ON")
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
            finally:
                cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):
            read = conn.get_execution_options().get(_READ_ONLY)
            conn.exec_driver_sql("BEGIN" if read else "BEGIN IMMEDIATE")
    elif backend == "postgresql":
        event.listen(engine, "before_cursor_execute", _read_to_the_end)
    return engine


def _read_to_the_end(conn, cursor, statement, parameters, context, executemany) -> None:
    """PostgreSQL: a streamed statement (``stream_results``, ``yield_per``: a server-side
    cursor) is planned for reading every row, not its first tenth.  The planner's default for
    a cursor (``cursor_tuple_fraction`` 0.1) favours fast-start plans, which on tables whose
    statistics are stale (just imported, autovacuum not yet by) can be a nested loop over every
    pair of rows: reading the references of 2,000 families took 1.3 s instead of 20 ms.  Every
    stream of reunite is read to its end (the index and lookup builds), so the setting is 1
    for the rest of the transaction (``SET LOCAL``: gone at its end; fine behind a pooler)."""
    if context is None or not context.execution_options.get("stream_results"):
        return
    cursor.connection.execute("SET LOCAL cursor_tuple_fraction = 1")


def read_only(engine: Engine) -> Engine:
    """The same database for work that only reads: on SQLite its transactions begin
    deferred, so they never wait for, nor hold up, a writer."""
    return engine.execution_options(**{_READ_ONLY: True})


def _alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("reunite.store") / "migrations"))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply every migration (``alembic upgrade head``).

    On SQLite, Alembic's batch mode copies and drops tables that others reference, so foreign
    keys are switched off for the migration (outside any transaction, as SQLite requires) and
    every key is checked before they are switched on again."""
    _migrate(engine, lambda cfg: command.upgrade(cfg, revision))


def downgrade(engine: Engine, revision: str) -> None:
    """Undo migrations down to ``revision`` (tests and emergencies)."""
    _migrate(engine, lambda cfg: command.downgrade(cfg, revision))


def _migrate(engine: Engine, step) -> None:
    from sqlalchemy import text

    cfg = _alembic_config(engine)
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        # the driver connection: a statement through SQLAlchemy would begin a transaction first
        raw = conn.connection.driver_connection if sqlite else None
        if sqlite:
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                step(cfg)
                if sqlite:
                    bad = conn.execute(text("PRAGMA foreign_key_check")).all()
                    if bad:
                        raise StoreError(f"the migration would break {len(bad)} foreign key(s), e.g. "
                                         f"{bad[:3]}; nothing was changed")
        finally:
            if sqlite:
                if conn.in_transaction():
                    conn.rollback()
                raw.execute("PRAGMA foreign_keys=ON")


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _not_initialised(session: Session) -> StoreError:
    url = session.get_bind().url.render_as_string(hide_password=True)
    return StoreError(f"the database at {url!r} is not initialised; run 'reunite db init' first "
                      "(the URL comes from REUNITE_DATABASE_URL)")


def read_settings(session: Session) -> dict:
    """Settings stored at ``db init``.

    Raises
    ------
    StoreError
        if the database is not initialised, has no genetic model, or cannot be reached
        (see :func:`explain_error`).
    """
    try:
        rows = session.execute(select(Setting)).scalars().all()
    except DBAPIError as exc:
        session.rollback()
        if _missing_table(exc):
            raise _not_initialised(session) from None
        raise explain_error(exc, url=session.get_bind().url) from None
    settings = {r.key: json.loads(r.value) for r in rows}
    if "genetic_model" not in settings:
        raise StoreError("the database has no genetic model; run 'reunite db init' first")
    if "frequency_table" in settings:  # an imported table recorded at db init: checked, then used
        from reunite.genetics.table_registry import use_recorded_table

        use_recorded_table(settings["frequency_table"], database=_where(session.get_bind().url))
    return settings


# ----------------------------------------------------------------------------------------
# transactions and failures


def write_transaction(engine: Engine, work, *, conflict_retries: int = 1):
    """``work(session)`` in one write transaction, committed; returns what it returns.

    When the database refuses the commit because a transaction that ran at the same time
    wrote the same records (a unique, foreign-key or check constraint; on PostgreSQL also a
    serialisation failure or deadlock), everything is rolled back and ``work`` runs once
    more: its own checks then see the other's records and say what clashes (e.g. "sample
    'S1' already belongs to ...").

    Raises
    ------
    StoreError
        for a second conflict and every other database failure (:func:`explain_error`);
        the ReuniteErrors of ``work`` pass through.
    """
    for attempt in range(conflict_retries + 1):
        try:
            with Session(engine) as session, session.begin():
                return work(session)
        except DBAPIError as exc:
            if attempt < conflict_retries and _conflict(exc):
                continue
            raise explain_error(exc, url=engine.url) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _orig(exc: BaseException) -> BaseException:
    return getattr(exc, "orig", None) or exc


def _sqlstate(exc: BaseException) -> str:
    orig = _orig(exc)
    return str(getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or "")


def _first_line(exc: BaseException) -> str:
    text = str(_orig(exc)).strip()
    return text.splitlines()[0] if text else type(_orig(exc)).__name__


def _missing_table(exc: BaseException) -> bool:
    return _sqlstate(exc) == "42P01" or "no such table" in _first_line(exc).lower()


def _conflict(exc: BaseException) -> bool:
    state = _sqlstate(exc)
    if state.startswith("23") or state in ("40001", "40P01"):
        return True
    return type(_orig(exc)).__name__ == "IntegrityError"


def _where(url: URL) -> str:
    path = sqlite_path(url)
    if path is not None:
        return f"the SQLite database {path}"
    if url.get_backend_name() == "sqlite":
        return "the in-memory SQLite database"
    return f"the database {url.database!r} on the PostgreSQL server at {_host_port(url)}"


def _host_port(url: URL) -> str:
    return f"{url.host or 'localhost'}:{url.port or 5432}"


def explain_error(exc: BaseException, *, url: str | URL | None = None) -> StoreError | None:
    """A database failure as a StoreError that says what happened and what to do; None when
    ``exc`` is not a database failure.  Passwords are never shown.

    Covers: the server down or unknown, a database or user that does not exist, refused
    authentication, a locked (busy) SQLite file, a read-only file or folder, a full disk or
    size limit, tables missing (not initialised), constraint conflicts with a concurrent
    command, PostgreSQL serialisation failures and deadlocks.
    """
    if isinstance(exc, StoreError):
        return exc
    if not isinstance(exc, DBAPIError):
        return None
    url = _parse_url(database_url()) if url is None else (make_url(url) if isinstance(url, str) else url)
    where = _where(url)
    line = _first_line(exc)
    low = str(_orig(exc)).lower()
    state = _sqlstate(exc)
    nothing = "nothing was written by this command"
    if url.get_backend_name() == "postgresql":
        server = f"the PostgreSQL server at {_host_port(url)}"
        if state == "3D000" or ("database" in low and "does not exist" in low):
            return StoreError(f"{where} does not exist; check the database name in REUNITE_DATABASE_URL, "
                              f"or create it (createdb {url.database}) and run 'reunite db init'")
        if state == "28000" or ("role" in low and "does not exist" in low):
            return StoreError(f"{server} has no user {url.username!r}; check the user in "
                              "REUNITE_DATABASE_URL")
        if state == "28P01" or "authentication failed" in low or "no password supplied" in low:
            return StoreError(f"{server} refused the login of user {url.username!r} (authentication "
                              "failed); check the user and password of REUNITE_DATABASE_URL")
        if "could not translate host name" in low or "name or service not known" in low:
            return StoreError(f"{server} is not reachable: the host name {url.host!r} is unknown; check "
                              "REUNITE_DATABASE_URL")
        if (state.startswith("08") or "connection refused" in low or "could not connect" in low
                or "connection failed" in low or "timeout expired" in low or "server closed the connection" in low):
            return StoreError(f"{server} is not reachable ({line}); is the server running and "
                              "listening there? Check REUNITE_DATABASE_URL")
        if state == "53100":
            return StoreError(f"{where} is full (the server's disk has no space left); {nothing}. Free "
                              "space on the server, then run the command again")
        if state == "25006":
            return StoreError(f"{where} is read-only (a standby or a read-only transaction); {nothing}. "
                              "Use the primary server")
        if state == "42501":
            return StoreError(f"{where}: user {url.username!r} lacks a permission ({line}); {nothing}")
    else:
        if getattr(_orig(exc), "sqlite_errorname", "") == "SQLITE_BUSY_SNAPSHOT":
            return StoreError(f"{where} was changed by another reunite command while this one was reading "
                              f"it; {nothing}. Run it again")
        if "database is locked" in low or "database is busy" in low:
            return StoreError(
                f"{where} is busy: another reunite command (an import, or a search storing its "
                f"candidates) has been writing to it for more than {busy_timeout():g} s; {nothing}. "
                f"Run it again when the other has finished, or wait longer with {BUSY_TIMEOUT_ENV}=<seconds>")
        if "readonly database" in low or "read-only" in low:
            return StoreError(f"{where} cannot be written: the file (or its folder) is read-only; "
                              f"{nothing}. Make both writable for this user (SQLite also writes "
                              "-wal and -shm files beside the database)")
        if "unable to open database file" in low:
            path = sqlite_path(url)
            folder = path.parent if path is not None else None
            return StoreError(f"{where} cannot be opened: the folder {folder} is missing or not writable, "
                              "or the file is not readable (SQLite also creates -wal and -shm files "
                              "beside the database); check the path in REUNITE_DATABASE_URL and the "
                              "permissions")
        if "database or disk is full" in low:
            return StoreError(f"{where} is full (no space left on the disk, or its size limit is "
                              f"reached); {nothing}. Free space, then run the command again")
        if "file is not a database" in low:
            return StoreError(f"{where} is not a SQLite database (or it is damaged); check the path in "
                              "REUNITE_DATABASE_URL")
        if "disk i/o error" in low:
            return StoreError(f"{where}: the disk reported an I/O error ({line}); {nothing}. Check the "
                              "disk and the file system")
    if state.startswith("22") or type(_orig(exc)).__name__ == "DataError":
        return StoreValueError(f"{where} cannot hold a value given to it ({line}); {nothing}. Check the "
                               "input (e.g. a number too large for an id, a NUL character in a text)")
    if _missing_table(exc):
        return StoreError(f"{where} is not initialised ({line}); run 'reunite db init' first")
    if _conflict(exc):
        detail = getattr(getattr(_orig(exc), "diag", None), "message_detail", None)
        return StoreError(
            f"{where} refused a change that breaks one of its rules ({line}"
            + (f"; {detail}" if detail else "") + f"): another command changed the same records at the "
            f"same time; {nothing}. Run it again: it will report the records that are already there")
    return StoreError(f"{where} refused the operation ({type(_orig(exc)).__name__}: {line})")
