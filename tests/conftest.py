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
