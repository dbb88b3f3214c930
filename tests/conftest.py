import os
import sys
import uuid

import pytest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.append(str(Path(__file__).parent / "web"))  # browser_support, web_client
DATA = Path(__file__).parent / "data"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Family indexes of PostgreSQL test databases go to a temporary cache folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "cache"))
    # imported frequency tables: never the real ~/.local/share/reunite, and none shared between tests
    monkeypatch.setenv("REUNITE_DATA_DIR", str(tmp_path_factory.mktemp("data")))


def simulated_store(tmp_path, num_families: int, num_unidentified: int, *, seed: int, model):
    """A migrated SQLite database holding a simulated database; returns (simulation, engine)."""
    from sqlalchemy.orm import Session

    from reunite.simulate import simulate_database, write_database
    from reunite.store.db import make_engine, upgrade
    from reunite.store.importers import import_all

    db = simulate_database(num_families, num_unidentified, seed=seed)
    paths = write_database(db, tmp_path / "sim")
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    upgrade(engine)
    with Session(engine) as s, s.begin():
        import_all(s, paths, model=model)
    return db, engine


# ---------------------------------------------------------------------------------------
# PostgreSQL: a throw-away database per test (skips with a reason when there is no server)

PG_SERVER = os.environ.get("REUNITE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


def pg_database():
    """Create a fresh PostgreSQL database; returns (url, drop) or skips the test.

    The server is ``$REUNITE_TEST_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432``).
    """
    psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed")
    try:
        admin = psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL is not reachable at {PG_SERVER} ({exc.__class__.__name__}: "
                    f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''})")
    name = f"reunite_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_SERVER.replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"

    def drop():
        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return url, drop


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """An empty database on each backend (SQLite file; throw-away PostgreSQL database)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'reunite.db'}"
        return
    url, drop = pg_database()
    try:
        yield url
    finally:
        drop()


@pytest.fixture
def pg_url():
    """An empty throw-away PostgreSQL database."""
    url, drop = pg_database()
    try:
        yield url
    finally:
        drop()


@pytest.fixture(autouse=True)
def _fresh_login_guard(request):
    """Page tests (``tests/web/``) log in many times a minute from one address (the test
    client): each starts with the per-process login rate limit cleared.  (One conftest for the
    whole suite: tests import it by name.)"""
    if "web" in request.node.path.parts:
        from reunite.security.login import GUARD

        GUARD.clear()
    yield


# ---------------------------------------------------------------------------------------
# The whole suite on PostgreSQL: REUNITE_TEST_BACKEND=postgresql (`make test-pg`); every
# SQLite file a test names stands for a throw-away PostgreSQL database (tests/pg_backend.py)

import pg_backend  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only(reason): a test of SQLite itself (its files, WAL, "
                            "backup API); skipped under REUNITE_TEST_BACKEND=postgresql with the reason")
    config._reunite_pg_absent = None
    if pg_backend.on_postgres():
        config._reunite_pg_absent = pg_backend.unreachable()
        if config._reunite_pg_absent is None:
            pg_backend.install()


def pytest_collection_modifyitems(config, items):
    if not pg_backend.on_postgres():
        return
    absent = config._reunite_pg_absent
    for item in items:
        if absent:
            item.add_marker(pytest.mark.skip(reason=f"REUNITE_TEST_BACKEND=postgresql but {absent}"))
            continue
        mark = item.get_closest_marker("sqlite_only")
        if mark:
            why = mark.kwargs.get("reason") or (mark.args[0] if mark.args else "a test of SQLite itself")
            item.add_marker(pytest.mark.skip(reason=f"SQLite only: {why}"))
        elif getattr(item, "callspec", None) and any(
                item.callspec.params.get(name) == "sqlite" for name in ("db_url", "backend")):
            item.add_marker(pytest.mark.skip(reason="REUNITE_TEST_BACKEND=postgresql: the test's own "
                                                    "postgresql case runs instead"))


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory):
    """The cache folder of ``_private_cache`` from the start of the session: the index files of
    PostgreSQL databases that module fixtures build (make test-pg) are where the tests look."""
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.getbasetemp() / "cache")
    yield
    if old is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = old


@pytest.fixture(scope="module", autouse=True)
def _pg_module_databases(request):
    """Under REUNITE_TEST_BACKEND=postgresql, the databases a test module made are emptied at its end."""
    if not pg_backend.on_postgres() or request.config._reunite_pg_absent:
        yield
        return
    before = pg_backend.session_databases()
    yield
    pg_backend.release(pg_backend.session_databases() - before)


def pytest_sessionfinish(session, exitstatus):
    if pg_backend.on_postgres() and not getattr(session.config, "_reunite_pg_absent", "x"):
        pg_backend.drop_all()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Under REUNITE_TEST_BACKEND=postgresql: which server, or why every test was skipped; the
    skip reasons, counted."""
    if not pg_backend.on_postgres():
        return
    absent = getattr(config, "_reunite_pg_absent", None)
    write = terminalreporter.write_line
    if absent:
        write(f"REUNITE_TEST_BACKEND=postgresql: every test skipped: {absent}")
        return
    write(f"REUNITE_TEST_BACKEND=postgresql: the tests ran on PostgreSQL at {pg_backend.SERVER}")
    reasons: dict[str, int] = {}
    for rep in terminalreporter.stats.get("skipped", []):
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        reason = reason.removeprefix("Skipped: ")
        reasons[reason] = reasons.get(reason, 0) + 1
    for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
        write(f"  skipped {n:4d}: {reason[:150]}")
