"""reunite db backup / db restore (reunite.store.backup) on SQLite and PostgreSQL.

A simulated database (families, unidentified persons, stored candidates, users) is backed up
while another connection keeps appending to the audit log; the backup is restored into a
fresh database, which must search to the same candidates with the same LRs, hold the same
rows in every table as the manifest says, and pass 'reunite audit verify'.  Damaged backups,
another schema revision or audit key, and a non-empty target are refused.
"""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from conftest import pg_database
from reunite.audit.chain import append
from reunite.cli import app
from reunite.settings import get_settings
from reunite.store.backup import BackupError, backup, manifest_path, restore, schema_head
from reunite.store.db import make_engine, write_transaction
from reunite.store.models import MatchCandidate
from workflow_world import MODEL, make_world

ADMIN_ONLY = [("admin", ["administrator"], "CN", None)]  # one password hash, not ten

KEY = get_settings().audit_key
runner = CliRunner()


def _populated(url: str, tmp_path):
    """make_world's users and jurisdictions, a simulated database and its stored candidates."""
    from reunite.search.service import run_search
    from reunite.simulate import simulate_database, write_database
    from reunite.store.importers import import_all

    world = make_world(url)
    paths = write_database(simulate_database(40, 15, seed=11), tmp_path / "sim")
    with Session(world.engine) as s, s.begin():
        import_all(s, paths, model=MODEL)
    with Session(world.engine) as s, s.begin():
        run_search(s, MODEL, top_k=5)
    return world


def _search(engine) -> list[tuple]:
    """Every unidentified person against every family: (person, family, missing, LR)."""
    from reunite.search.service import run_search

    with Session(engine) as s:
        result = run_search(s, MODEL, top_k=5, store=False)
    return sorted((c.unidentified.code, c.family.code, c.missing, c.lr) for c in result.candidates)


def _stored(engine) -> list[tuple]:
    with Session(engine) as s:
        return sorted(s.execute(select(MatchCandidate.unidentified_id, MatchCandidate.family_id,
                                       MatchCandidate.missing_code, MatchCandidate.lr)).all())


def _fresh(backend: str, tmp_path, name: str):
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / name}", lambda: None
    return pg_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request):
    return request.param


def test_backup_under_writes_restores_the_same_database(backend, tmp_path, monkeypatch):
    url, drop = _fresh(backend, tmp_path, "source.db")
    url2, drop2 = _fresh(backend, tmp_path, "restored.db")
    try:
        world = _populated(url, tmp_path)
        written, stop = [0], threading.Event()
        writer_engine = make_engine(url)

        def writer():  # another connection appending to the audit log all along
            while not stop.is_set():
                write_transaction(writer_engine, lambda s: append(s, key=KEY, actor="writer", action="test.write",
                                                                  details={"i": written[0]}))
                written[0] += 1

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            while written[0] < 5:
                stop.wait(0.01)
            report = backup(world.engine, tmp_path / "db.backup", actor="local:test", audit_key=KEY, reason="test")
            at_backup = written[0]
            while written[0] < at_backup + 5:
                stop.wait(0.01)
        finally:
            stop.set()
            thread.join()
            writer_engine.dispose()
        m = report.manifest
        assert report.audited and m.schema_revision == schema_head() and m.backend == backend
        seq = int(m.audit_head.split(":")[0])
        assert m.table_rows["audit_log"] == seq > 5  # the copy is one moment: entries and head agree

        target = make_engine(url2)
        restored = restore(target, tmp_path / "db.backup", actor="local:test", audit_key=KEY, reason="drill")
        assert restored.audit_ok, restored.audit_description
        assert restored.restored_rows == m.table_rows  # every table, before the restore's own entry
        with target.connect() as conn:
            from reunite.store.backup import table_rows

            now = table_rows(conn)
        assert now == {**m.table_rows, "audit_log": m.table_rows["audit_log"] + 1}
        assert m.table_rows["families"] == 40 and m.table_rows["match_candidates"] > 0

        # the same candidates, the same LRs: searched afresh and as stored
        assert _search(target) == _search(world.engine)
        assert _stored(target) == _stored(world.engine)

        # the restore is the last entry of the restored chain, and the chain verifies
        with Session(target) as s:
            from reunite.store.models_workflow import AuditEntry

            last = s.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).scalar_one()
        assert last.action == "database.restore" and last.seq == seq + 1
        assert json.loads(last.details)["reason"] == "drill"
        monkeypatch.setenv("REUNITE_DATABASE_URL", url2)
        result = runner.invoke(app, ["audit", "verify", "--as", "auditor"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        assert "audit chain intact" in result.output

        # a second restore over it: refused, then forced
        with pytest.raises(BackupError, match="is not empty.*--force"):
            restore(target, tmp_path / "db.backup", actor="local:test", audit_key=KEY, reason="again")
        again = restore(target, tmp_path / "db.backup", actor="local:test", audit_key=KEY, reason="again",
                        force=True)
        assert again.audit_ok and again.replaced_rows["audit_log"] == seq + 1
        assert _search(target) == _search(world.engine)
        target.dispose()
        world.engine.dispose()
    finally:
        drop()
        drop2()


@pytest.fixture
def sqlite_backup(tmp_path):
    """A small initialised SQLite database and its backup."""
    world = make_world(f"sqlite:///{tmp_path / 'small.db'}", users=ADMIN_ONLY)
    backup(world.engine, tmp_path / "b", actor="local:test", audit_key=KEY)
    world.engine.dispose()
    return tmp_path / "b"


def _restore_into(path, tmp_path, **kw):
    return restore(make_engine(f"sqlite:///{tmp_path / 'target.db'}"), path, actor="local:test", audit_key=KEY,
                   reason="test", **kw)


def test_a_truncated_backup_is_refused(sqlite_backup, tmp_path):
    data = sqlite_backup.read_bytes()
    sqlite_backup.write_bytes(data[: len(data) // 2])
    with pytest.raises(BackupError, match=r"expected [\d,]+ bytes .* found [\d,]+: the file is truncated"):
        _restore_into(sqlite_backup, tmp_path)
    assert not (tmp_path / "target.db").exists()


def test_a_corrupted_backup_is_refused(sqlite_backup, tmp_path):
    data = bytearray(sqlite_backup.read_bytes())
    data[len(data) // 2] ^= 0xFF
    sqlite_backup.write_bytes(bytes(data))
    with pytest.raises(BackupError, match="expected sha256 [0-9a-f]{64} .* found [0-9a-f]{64}: the file is damaged"):
        _restore_into(sqlite_backup, tmp_path)


def test_a_backup_without_its_manifest_is_refused(sqlite_backup, tmp_path):
    manifest_path(sqlite_backup).unlink()
    with pytest.raises(BackupError, match="manifest of the backup is missing"):
        _restore_into(sqlite_backup, tmp_path)


def test_a_damaged_or_edited_manifest_is_refused(sqlite_backup, tmp_path):
    mpath = manifest_path(sqlite_backup)
    data = json.loads(mpath.read_text())
    mpath.write_text(json.dumps({**data, "comment": "x"}))
    with pytest.raises(BackupError, match=r"unknown keys \['comment'\]"):
        _restore_into(sqlite_backup, tmp_path)
    mpath.write_text(mpath.read_text()[:40])
    with pytest.raises(BackupError, match="not readable JSON"):
        _restore_into(sqlite_backup, tmp_path)


def test_another_schema_revision_is_refused(sqlite_backup, tmp_path):
    mpath = manifest_path(sqlite_backup)
    data = json.loads(mpath.read_text())
    mpath.write_text(json.dumps({**data, "schema_revision": "0004", "reunite_version": "0.0.9"}))
    with pytest.raises(BackupError, match=f"revision 0004 .*expects revision {schema_head()}.*reunite 0.0.9"):
        _restore_into(sqlite_backup, tmp_path)


def test_another_audit_key_is_refused(sqlite_backup, tmp_path):
    with pytest.raises(BackupError, match="another REUNITE_AUDIT_KEY"):
        restore(make_engine(f"sqlite:///{tmp_path / 'target.db'}"), sqlite_backup, actor="local:test",
                audit_key="another-key-" + "x" * 40, reason="test")


def test_restore_needs_a_reason(sqlite_backup, tmp_path):
    with pytest.raises(BackupError, match="--reason"):
        restore(make_engine(f"sqlite:///{tmp_path / 'target.db'}"), sqlite_backup, actor="local:test",
                audit_key=KEY, reason=" ")


def test_cli_backup_and_restore(tmp_path, monkeypatch):
    source, target = tmp_path / "s.db", tmp_path / "t.db"
    world = make_world(f"sqlite:///{source}", users=ADMIN_ONLY)
    world.engine.dispose()
    monkeypatch.setenv("REUNITE_DATABASE_URL", f"sqlite:///{source}")
    out = runner.invoke(app, ["db", "backup", str(tmp_path / "b"), "--reason", "nightly"], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "backup written" in out.output and "schema revision" in out.output
    assert manifest_path(tmp_path / "b").exists()

    monkeypatch.setenv("REUNITE_DATABASE_URL", f"sqlite:///{target}")
    out = runner.invoke(app, ["db", "restore", str(tmp_path / "b")], env={"COLUMNS": "200"})
    assert out.exit_code == 2 and "--reason" in out.output  # required
    out = runner.invoke(app, ["db", "restore", str(tmp_path / "b"), "--reason", "drill"], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "audit chain intact" in out.output
    out = runner.invoke(app, ["db", "restore", str(tmp_path / "b"), "--reason", "drill"], env={"COLUMNS": "200"})
    assert out.exit_code == 1 and "not empty" in out.output and "--force" in out.output
    assert "Traceback" not in out.output
    out = runner.invoke(app, ["db", "restore", str(tmp_path / "missing"), "--reason", "x"], env={"COLUMNS": "200"})
    assert out.exit_code == 1 and "no backup file there" in out.output

    # the backup itself is recorded in the source's audit chain
    with Session(make_engine(f"sqlite:///{source}")) as s:
        from reunite.store.models_workflow import AuditEntry

        actions = s.execute(select(AuditEntry.action, AuditEntry.details)).all()
    backups = [json.loads(d) for a, d in actions if a == "database.backup"]
    assert len(backups) == 1 and backups[0]["reason"] == "nightly" and backups[0]["via"] == "cli"


@pytest.mark.sqlite_only(reason="a SQLite database's own files (.db, -wal, .index)")
def test_a_backup_never_overwrites_the_database_itself(tmp_path):
    world = make_world(f"sqlite:///{tmp_path / 'small.db'}", users=ADMIN_ONLY)
    for name in ("small.db", "small.db-wal", "small.db.index"):
        with pytest.raises(BackupError, match="is the database .* itself or one of its files"):
            backup(world.engine, tmp_path / name, actor="local:test", audit_key=KEY)
    world.engine.dispose()
