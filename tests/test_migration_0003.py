"""Migration 0003 upgrades a database made by the previous release in place, keeps every row,
and from then on the database itself keeps a sample to one person (SQLite and PostgreSQL)."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from reunite.errors import ReuniteError
from reunite.store.db import current_revision, downgrade, make_engine, upgrade

HEAD = "0005"


def _old_release(engine):
    upgrade(engine, "0002")
    with engine.begin() as c:
        c.execute(text("INSERT INTO import_batches (id, kind, source, num_rows, created_at) "
                       "VALUES (1, 'families', 'f.csv', 3, CURRENT_TIMESTAMP)"))
        c.execute(text("INSERT INTO samples (id, code, profile, num_loci) VALUES "
                       "(1, 'S1', 'VWA=14/17', 1), (2, 'S2', 'VWA=15/17', 1), (3, 'S3', 'VWA=16/16', 1)"))
        c.execute(text("INSERT INTO families (id, code, batch_id) VALUES (1, 'F1', 1)"))
        c.execute(text("INSERT INTO family_members (family_id, person_code, sex, role, sample_id) VALUES "
                       "(1, 'mother', 'F', 'reference', 1), (1, 'child', 'U', 'missing', NULL)"))
        c.execute(text("INSERT INTO unidentified (code, sample_id, sex) VALUES ('U1', 2, 'M')"))


def _dump(engine):
    with engine.connect() as c:
        return {t: sorted(map(tuple, c.execute(text(f"SELECT {cols} FROM {t}")).all())) for t, cols in {
            "samples": "id, code, profile, num_loci", "families": "id, code",
            "family_members": "family_id, person_code, sex, role, sample_id",
            "unidentified": "code, sample_id, sex", "import_batches": "id, kind, source, num_rows"}.items()}


OWNER_BREAKERS = [
    # a second person for a family member's sample (another kind, same kind)
    "INSERT INTO unidentified (code, sample_id, sex, sample_owner_kind) VALUES ('U2', 1, 'U', 'unidentified')",
    "INSERT INTO family_members (family_id, person_code, sex, role, sample_id, sample_owner_kind) "
    "VALUES (1, 'father', 'M', 'reference', 1, 'family_member')",
    # a second person for an unidentified person's sample
    "INSERT INTO unidentified (code, sample_id, sex, sample_owner_kind) VALUES ('U3', 2, 'U', 'unidentified')",
    "INSERT INTO family_members (family_id, person_code, sex, role, sample_id, sample_owner_kind) "
    "VALUES (1, 'father', 'M', 'reference', 2, 'family_member')",
    # a sample nobody has claimed cannot be referenced, with or without an owner kind
    "INSERT INTO family_members (family_id, person_code, sex, role, sample_id, sample_owner_kind) "
    "VALUES (1, 'father', 'M', 'reference', 3, 'family_member')",
    "INSERT INTO family_members (family_id, person_code, sex, role, sample_id, sample_owner_kind) "
    "VALUES (1, 'father', 'M', 'reference', 3, NULL)",
    # an owned sample cannot be released while someone references it
    "UPDATE samples SET owner_kind = NULL WHERE id = 1",
    "UPDATE samples SET owner_kind = 'unidentified' WHERE id = 1",
]


@pytest.mark.parametrize("statement", OWNER_BREAKERS)
def test_upgrade_keeps_rows_and_constraints_hold(db_url, statement):
    engine = make_engine(db_url)
    _old_release(engine)
    before = _dump(engine)
    upgrade(engine)
    assert current_revision(engine) == HEAD
    assert _dump(engine) == before
    with engine.connect() as c:
        owners = dict(c.execute(text("SELECT code, owner_kind FROM samples")).all())
    assert owners == {"S1": "family_member", "S2": "unidentified", "S3": None}
    with pytest.raises(IntegrityError):
        with engine.begin() as c:
            c.execute(text(statement))
    assert _dump(engine) == before


def test_downgrade_and_upgrade_again(db_url):
    engine = make_engine(db_url)
    _old_release(engine)
    before = _dump(engine)
    upgrade(engine)
    downgrade(engine, "0002")
    assert _dump(engine) == before
    upgrade(engine)
    assert _dump(engine) == before
    if engine.dialect.name == "sqlite":
        with engine.connect() as c:
            assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_a_sample_with_two_owners_stops_the_upgrade_with_the_list(db_url):
    engine = make_engine(db_url)
    _old_release(engine)
    with engine.begin() as c:  # what two concurrent imports could do in the previous release
        c.execute(text("INSERT INTO unidentified (code, sample_id, sex) VALUES ('U9', 1, 'U')"))
    with pytest.raises(ReuniteError, match="S1.*2 people"):
        upgrade(engine)
    assert current_revision(engine) == "0002"
