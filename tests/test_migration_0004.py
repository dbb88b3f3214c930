"""A database made by the previous release (0.1.0, schema 0003) upgrades in place to the
workflow schema (0004) with every row and column kept, on SQLite and PostgreSQL, and works
afterwards.

``tests/data/release_0_1_0.sqlite`` was made with the release before this schema (commit
f7436b6): ``reunite db init``, ``simulate --families 30 --unidentified 20 --seed 7
--duplicates 1``, the three imports (searched), and ``correct withdraw SU0000002``: samples,
families, unidentified persons, candidates with identity flags, a record version.  All
simulated, no real person.
"""

import shutil
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from reunite.audit.chain import GENESIS_MAC
from reunite.store.db import current_revision, downgrade, make_engine, upgrade

RELEASE_DB = Path(__file__).parent / "data" / "release_0_1_0.sqlite"
OLD_TABLES = ("settings", "import_batches", "samples", "families", "family_members", "unidentified",
              "person_details", "match_candidates", "pending_searches", "record_versions")


def _dump(engine, columns: dict[str, list[str]]):
    with engine.connect() as c:
        return {t: sorted((tuple(str(v) if v is not None else None for v in row) for row in
                           c.execute(text(f"SELECT {', '.join(cols)} FROM {t}")).all()), key=repr)
                for t, cols in columns.items()}


def _old_columns(engine) -> dict[str, list[str]]:
    insp = inspect(engine)
    return {t: sorted(c["name"] for c in insp.get_columns(t)) for t in OLD_TABLES}


def _copy_to_postgres(sqlite_file: Path, pg_url: str):
    """The release database's rows in a PostgreSQL database at schema 0003."""
    engine = make_engine(pg_url)
    upgrade(engine, "0003")
    source = create_engine(f"sqlite:///{sqlite_file}")
    columns = _old_columns(source)
    order = ("import_batches", "samples", "families", "family_members", "unidentified", "person_details",
             "match_candidates", "pending_searches", "record_versions", "settings")
    with source.connect() as src, engine.begin() as dst:
        dst.execute(text("DELETE FROM settings"))
        for table in order:
            cols = columns[table]
            rows = [dict(r._mapping) for r in src.execute(text(f"SELECT {', '.join(cols)} FROM {table}"))]
            if rows:
                dst.execute(text(f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                                 f"({', '.join(':' + c for c in cols)})"), rows)
        for table in order:
            if "id" in columns[table]:
                dst.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                 f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"))
    return engine


@pytest.fixture
def release_db(db_url, tmp_path):
    if db_url.startswith("sqlite"):
        path = tmp_path / "release.sqlite"
        shutil.copy(RELEASE_DB, path)
        return make_engine(f"sqlite:///{path}")
    return _copy_to_postgres(RELEASE_DB, db_url)


def test_release_database_upgrades_in_place(release_db):
    engine = release_db
    assert current_revision(engine) == "0003"
    columns = _old_columns(engine)
    before = _dump(engine, columns)
    assert len(before["samples"]) > 50 and len(before["match_candidates"]) > 5 and before["record_versions"]
    upgrade(engine)
    assert current_revision(engine) == "0005"
    assert _dump(engine, columns) == before  # every row, every old column, unchanged
    with engine.connect() as c:
        assert set(c.execute(text("SELECT status FROM unidentified")).scalars()) == {"unidentified"}
        assert c.execute(text("SELECT COUNT(*) FROM unidentified WHERE jurisdiction_id IS NOT NULL")).scalar() == 0
        assert c.execute(text("SELECT seq, mac FROM audit_head")).one() == (0, GENESIS_MAC)
        assert c.execute(text("SELECT code, path FROM jurisdictions")).all() == [("CN", "CN/")]
    downgrade(engine, "0003")  # and back, with nothing lost either way
    assert _dump(engine, columns) == before
    upgrade(engine)
    assert _dump(engine, columns) == before


def test_upgraded_release_database_serves_the_workflow(release_db, tmp_path):
    """After the upgrade the old candidates are listed by the new services, and new
    workflow records can be added beside the old data."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from sqlalchemy.orm import Session

    from reunite.security.jurisdictions import add_jurisdiction
    from reunite.security.users import bootstrap_actor, create_user
    from reunite.store.db import write_transaction
    from reunite.store.models import MatchCandidate

    engine = release_db
    upgrade(engine)
    boot = bootstrap_actor()

    def work(s):
        add_jurisdiction(s, actor=boot, code="510000", name="Sichuan")
        create_user(s, actor=boot, username="admin", password="correct horse battery staple",
                    roles=["administrator"], jurisdiction_code="CN")

    write_transaction(engine, work)
    with Session(engine) as s:
        assert s.query(MatchCandidate).count() > 5
        assert all(c.status == "new" for c in s.query(MatchCandidate))
