"""The audit chain against tampering done directly in the database (SQLite and PostgreSQL):
an edited, deleted, inserted or reordered entry, a cut tail, an edited head; the service and
'reunite audit verify' both name the first broken link.  Concurrent appends stay one chain."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from reunite.audit.chain import GENESIS_MAC, append, compute_mac
from reunite.audit.service import chain_head, list_entries, parse_head, verify_chain
from reunite.errors import PermissionDenied, ReuniteError
from reunite.security.actor import Actor
from reunite.settings import get_settings
from reunite.store.db import make_engine, read_only, upgrade, write_transaction
from reunite.store.models_workflow import AuditEntry

KEY = get_settings().audit_key
AUDITOR = Actor(username="auditor", user_id=None, roles=frozenset({"auditor"}))
N = 10


def _chain(url: str, n: int = N):
    engine = make_engine(url)
    upgrade(engine)
    for i in range(1, n + 1):
        write_transaction(engine, lambda s, i=i: append(
            s, key=KEY, actor=f"user{i % 3}", action="report.create", entity="report", entity_id=f"R-{i}",
            details={"i": i, "name": "张三" if i == 3 else None}, address="10.0.0.1"))
    return engine


def _verify(engine, **kw):
    from sqlalchemy.orm import Session

    with Session(read_only(engine)) as s:
        return verify_chain(s, actor=AUDITOR, key=KEY, **kw)


def _sql(engine, *statements, **params):
    with engine.begin() as conn:
        for st in statements:
            conn.execute(text(st), params)


def _head(engine):
    from sqlalchemy.orm import Session

    with Session(engine) as s:
        return chain_head(s, actor=AUDITOR)


def test_intact_chain_verifies(db_url):
    engine = _chain(db_url)
    result = _verify(engine)
    assert result.ok and result.checked == N and result.head_seq == N
    assert result.describe().startswith("audit chain intact: 10 entries")
    seq, mac = _head(engine)
    assert _verify(engine, expected_head=(seq, mac)).ok
    assert _verify(engine, expected_head=f"{seq}:{mac}").ok
    assert _verify(engine, expected_head=(4, _mac_of(engine, 4))).ok  # an older recorded head: still a prefix


def _mac_of(engine, seq):
    with engine.connect() as conn:
        return conn.execute(select(AuditEntry.mac).where(AuditEntry.seq == seq)).scalar_one()


TAMPERING = {
    # name: (statements, first broken seq)
    "edit_field": (["UPDATE audit_log SET action = 'report.delete' WHERE seq = 5"], 5),
    "edit_details": (["UPDATE audit_log SET details = '{\"i\": 99}' WHERE seq = 3"], 3),
    "edit_actor": (["UPDATE audit_log SET actor = 'someone_else' WHERE seq = 1"], 1),
    "delete_middle": (["DELETE FROM audit_log WHERE seq = 5"], 5),
    "delete_first": (["DELETE FROM audit_log WHERE seq = 1"], 1),
    "delete_last": (["DELETE FROM audit_log WHERE seq = 10"], 10),
    "swap_seq": (["UPDATE audit_log SET seq = -1 WHERE seq = 4", "UPDATE audit_log SET seq = 4 WHERE seq = 5",
                  "UPDATE audit_log SET seq = 5 WHERE seq = -1"], 4),
    "edit_head": ([f"UPDATE audit_head SET mac = '{'f' * 64}'"], 10),
    "head_ahead": (["UPDATE audit_head SET seq = 12"], 11),
}


@pytest.mark.parametrize("kind", sorted(TAMPERING))
def test_tampering_is_found(db_url, kind):
    engine = _chain(db_url)
    statements, broken = TAMPERING[kind]
    _sql(engine, *statements)
    result = _verify(engine)
    assert not result.ok
    assert result.broken_seq == broken, result.describe()
    assert f"BROKEN at entry {broken}" in result.describe()


def test_forged_entry_is_found(db_url):
    """An entry appended without the key (whatever MAC the forger makes up) fails its MAC."""
    engine = _chain(db_url)
    seq, mac = _head(engine)
    forged_mac = compute_mac(b"a guessed key", mac, "whatever")
    _sql(engine, "INSERT INTO audit_log (seq, at, actor, address, action, entity, entity_id, details, prev_mac, mac) "
         "VALUES (:seq, :at, 'mallory', NULL, 'candidate.confirm', 'candidate', '7', '{}', :prev, :mac)",
         "UPDATE audit_head SET seq = :seq, mac = :mac", seq=seq + 1, at="2024-01-01 00:00:00", prev=mac,
         mac=forged_mac)
    result = _verify(engine)
    assert not result.ok and result.broken_seq == seq + 1
    assert "MAC does not match" in result.problem


def test_forged_entry_in_the_middle_is_found(db_url):
    """Shifting later entries up to make room for a forged one breaks the chain at it."""
    engine = _chain(db_url, 6)
    for seq in range(6, 3, -1):
        _sql(engine, "UPDATE audit_log SET seq = :new WHERE seq = :old", new=seq + 1, old=seq)
    _sql(engine, "INSERT INTO audit_log (seq, at, actor, address, action, entity, entity_id, details, prev_mac, mac) "
         "VALUES (4, :at, 'mallory', NULL, 'x', NULL, NULL, '{}', :prev, :mac)",
         at="2024-01-01 00:00:00", prev=_mac_of(engine, 3), mac="0" * 64)
    result = _verify(engine)
    assert not result.ok and result.broken_seq == 4, result.describe()


def test_cut_tail_with_rewritten_head_needs_the_recorded_head(db_url):
    engine = _chain(db_url)
    recorded = _head(engine)
    mac9 = _mac_of(engine, 9)
    _sql(engine, "DELETE FROM audit_log WHERE seq = 10", "UPDATE audit_head SET seq = 9, mac = :mac", mac=mac9)
    assert _verify(engine).ok  # consistent by itself: only a head kept elsewhere shows the cut
    result = _verify(engine, expected_head=recorded)
    assert not result.ok and result.broken_seq == 10 and "recorded elsewhere" in result.problem


def test_rewritten_history_differs_from_the_recorded_head(db_url):
    """The whole chain recomputed with the key after an edit still differs from a recorded head."""
    engine = _chain(db_url, 5)
    recorded = _head(engine)
    write_transaction(engine, lambda s: append(s, key=KEY, actor="x", action="y"))
    # rewrite entry 5's mac column and everything after it (a forger with the key and the DB)
    _sql(engine, "UPDATE audit_log SET mac = :m WHERE seq = 5", m="1" * 64)
    assert not _verify(engine, expected_head=recorded).ok


def test_wrong_key_fails_at_the_first_entry(db_url):
    engine = _chain(db_url, 3)
    from sqlalchemy.orm import Session

    with Session(engine) as s:
        result = verify_chain(s, actor=AUDITOR, key="another key of at least thirty-two characters")
    assert not result.ok and result.broken_seq == 1


def test_verify_and_list_need_permissions(tmp_path):
    engine = _chain(f"sqlite:///{tmp_path / 'a.db'}", 3)
    from sqlalchemy.orm import Session

    analyst = Actor(username="a", user_id=None, roles=frozenset({"analyst"}))
    with Session(engine) as s:
        with pytest.raises(PermissionDenied, match="audit:verify"):
            verify_chain(s, actor=analyst, key=KEY)
        with pytest.raises(PermissionDenied, match="audit:read"):
            list_entries(s, actor=analyst)
        page = list_entries(s, actor=AUDITOR, limit=2)
        assert [e.seq for e in page.items] == [3, 2] and page.next_cursor
        page = list_entries(s, actor=AUDITOR, limit=2, cursor=page.next_cursor)
        assert [e.seq for e in page.items] == [1] and page.next_cursor is None
        assert [e.seq for e in list_entries(s, actor=AUDITOR, by="user1").items] == [1]
        assert len(list_entries(s, actor=AUDITOR, action="report.*").items) == 3
        assert list_entries(s, actor=AUDITOR, entity_id="R-3").items[0].details["name"] == "张三"
        with pytest.raises(ReuniteError, match="cursor"):
            list_entries(s, actor=AUDITOR, cursor="garbage!")


def test_parse_head():
    assert parse_head(f"12:{'a' * 64}") == (12, "a" * 64)
    for bad in ("12", "x:y", f"12:{'g' * 64}", ""):
        with pytest.raises(ReuniteError, match="expect_head"):
            parse_head(bad)


@pytest.mark.parametrize("threads", [2])
def test_concurrent_appends_make_one_chain(db_url, threads):
    engine = _chain(db_url, 1)
    per_thread = 15
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def worker(t):
        try:
            start.wait()
            for i in range(per_thread):
                write_transaction(engine, lambda s: append(s, key=KEY, actor=f"t{t}", action="test.append",
                                                           details={"i": i}))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    assert not errors, errors
    with engine.connect() as conn:
        seqs = conn.execute(select(AuditEntry.seq).order_by(AuditEntry.seq)).scalars().all()
        assert conn.execute(select(func.count(func.distinct(AuditEntry.seq)))).scalar_one() == len(seqs)
    assert seqs == list(range(1, 1 + threads * per_thread + 1))
    assert _verify(engine).ok


def test_concurrent_appends_from_two_processes(tmp_path):
    """Two OS processes appending to one SQLite file: one intact chain."""
    import os
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'p.db'}"
    engine = _chain(url, 1)
    code = ("import sys\nfrom reunite.audit.chain import append\nfrom reunite.settings import get_settings\n"
            "from reunite.store.db import make_engine, write_transaction\n"
            "e = make_engine(sys.argv[1])\n"
            "for i in range(20):\n"
            "    write_transaction(e, lambda s: append(s, key=get_settings().audit_key, actor=sys.argv[2], "
            "action='test.append'))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("REUNITE_")}
    procs = [subprocess.Popen([sys.executable, "-c", code, url, f"p{i}"], env=env) for i in range(2)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    result = _verify(engine)
    assert result.ok and result.checked == 41


# ---------------------------------------------------------------------------------------------
# reunite audit verify / head


def test_cli_audit_verify(db_url, monkeypatch):
    from workflow_world import make_world

    from reunite.cli import app

    world = make_world(db_url)
    monkeypatch.setenv("REUNITE_DATABASE_URL", db_url)
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify", "--as", "auditor"])
    assert ok.exit_code == 0, ok.output
    assert "audit chain intact" in ok.output
    head = runner.invoke(app, ["audit", "head", "--as", "auditor"])
    assert head.exit_code == 0
    recorded = head.output.strip()
    assert runner.invoke(app, ["audit", "verify", "--as", "auditor", "--expect-head", recorded]).exit_code == 0
    denied = runner.invoke(app, ["audit", "verify", "--as", "analyst"])
    assert denied.exit_code == 1 and "audit:verify" in denied.output
    bad = runner.invoke(app, ["audit", "verify", "--as", "auditor", "--expect-head", "nonsense"])
    assert bad.exit_code == 1 and "expect_head" in bad.output

    _sql(world.engine, "UPDATE audit_log SET details = '{}' WHERE seq = 7")
    broken = runner.invoke(app, ["audit", "verify", "--as", "auditor"])
    assert broken.exit_code == 1
    assert "BROKEN at entry 7" in broken.output

    listed = runner.invoke(app, ["audit", "list", "--as", "auditor", "--action", "user.*", "--limit", "3"])
    assert listed.exit_code == 0 and "user.create" in listed.output and "--cursor" in listed.output


def test_cli_audit_verify_cut_tail(tmp_path, monkeypatch):
    from workflow_world import make_world

    from reunite.cli import app

    url = f"sqlite:///{tmp_path / 'w.db'}"
    world = make_world(url)
    monkeypatch.setenv("REUNITE_DATABASE_URL", url)
    runner = CliRunner()
    recorded = runner.invoke(app, ["audit", "head", "--as", "auditor"]).output.strip()
    seq = int(recorded.split(":")[0])
    _sql(world.engine, "DELETE FROM audit_log WHERE seq = :seq", seq=seq)
    result = runner.invoke(app, ["audit", "verify", "--as", "auditor"])
    assert result.exit_code == 1 and f"BROKEN at entry {seq}" in result.output
    mac = _mac_of(world.engine, seq - 1)
    _sql(world.engine, "UPDATE audit_head SET seq = :seq, mac = :mac", seq=seq - 1, mac=mac)
    assert runner.invoke(app, ["audit", "verify", "--as", "auditor"]).exit_code == 0
    result = runner.invoke(app, ["audit", "verify", "--as", "auditor", "--expect-head", recorded])
    assert result.exit_code == 1 and f"BROKEN at entry {seq}" in result.output


def test_genesis_constant():
    assert GENESIS_MAC == "0" * 64
