"""The switch that runs the suite on PostgreSQL (tests/pg_backend.py, ``make test-pg``): a
child process, as the tests start ``reunite``, finds its SQLite file URL standing for a
PostgreSQL database, migrates it there, and leaves no file behind.  (Seconds; skipped
with the reason where there is no PostgreSQL.)"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

import pg_backend

CHILD = """
import sys
from sqlalchemy import text
from reunite.store.db import make_engine, upgrade
engine = make_engine(sys.argv[1])
upgrade(engine)
with engine.connect() as c:
    tables = c.execute(text("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")).scalar()
print(engine.url.get_backend_name(), engine.url.database, tables)
engine2 = make_engine("sqlite://")
print(engine2.url.get_backend_name())
"""


def test_a_child_process_maps_sqlite_files_to_postgres_databases(tmp_path):
    why = pg_backend.unreachable()
    if why:
        pytest.skip(why)
    import psycopg

    prefix = f"reunite_tsmoke{uuid.uuid4().hex[:6]}_"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REUNITE_", "PGTEST_"))}
    env.update(PGTEST_REUNITE_PREFIX=prefix, PGTEST_REUNITE_SERVER=pg_backend.SERVER,
               PYTHONPATH=os.pathsep.join([str(pg_backend.SITE)] + [p for p in [env.get("PYTHONPATH")] if p]))
    try:
        out = subprocess.run([sys.executable, "-c", CHILD, f"sqlite:///{tmp_path / 'r.db'}"], env=env,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        backend, name, tables = out.stdout.split("\n")[0].split()
        assert backend == "postgresql" and name.startswith(prefix) and int(tables) > 10
        assert out.stdout.split("\n")[1] == "sqlite"  # in-memory SQLite stays SQLite
        assert not (tmp_path / "r.db").exists()
    finally:
        with psycopg.connect(f"{pg_backend.SERVER}/postgres", autocommit=True) as admin:
            for (db,) in admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                       (prefix.replace("_", r"\_") + "%",)).fetchall():
                admin.execute(f'DROP DATABASE "{db}" WITH (FORCE)')
