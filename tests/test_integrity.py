"""Integrity under failures: every database failure is a clear message (never a traceback),
pending searches survive a process that dies after its import, the family index file is
replaced only once a new one is written, and SQLite writers wait for each other.

Commands run through ``reunite.cli.main`` (as the console script does), in this process or in
a child process that is killed or paused on purpose.  Every profile and person is simulated.
"""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from conftest import pg_database
from reunite.simulate import simulate_database, write_database
from reunite.store import db as store_db
from reunite.store.db import StoreError, busy_timeout, make_engine, read_only
from reunite.store.models import Family, MatchCandidate, PendingSearch, Sample, Unidentified


# ---------------------------------------------------------------------------------------
# helpers


def reunite(monkeypatch, capsys, url: str, *args: str, **env: str) -> tuple[int, str]:
    """Run ``reunite ARGS`` through the console-script entry point; returns (exit status,
    stdout + stderr with whitespace collapsed: the console wraps long lines)."""
    from reunite.cli import main

    monkeypatch.setenv("REUNITE_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "1000")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(sys, "argv", ["reunite", *args])
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out = capsys.readouterr()
    return code, " ".join((out.out + "\n" + out.err).split())


def ok(result: tuple[int, str]) -> str:
    code, out = result
    assert code == 0, out
    return out


def failed(result: tuple[int, str], *parts: str) -> str:
    code, out = result
    assert code == 1, out
    assert "Traceback" not in out and "sqlalchemy" not in out.lower(), out
    for part in parts:
        assert part in out, (part, out)
    return out


def child(script: str, url: str, *args: str, **env: str) -> subprocess.Popen:
    """``python -c SCRIPT ARGS`` with the database URL (and ``env``) set."""
    return subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, REUNITE_DATABASE_URL=url, COLUMNS="1000", **env))


def wait_for_file(path: Path, proc: subprocess.Popen | None = None, *, limit: float = 120) -> None:
    """Until ``path`` exists (polling a condition; fails if ``proc`` ends first)."""
    deadline = time.monotonic() + limit
    while not path.exists():
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the child process ended first: {proc.communicate()[0]}")
        if time.monotonic() > deadline:
            pytest.fail(f"{path} never appeared")
        time.sleep(0.005)


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    try:
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, " ".join(out.split())


def counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with Session(read_only(engine)) as session:
            return {model.__tablename__: session.scalar(select(func.count()).select_from(model))
                    for model in (Sample, Family, Unidentified, MatchCandidate, PendingSearch)}
    finally:
        engine.dispose()


def candidates(url: str) -> list[tuple]:
    """Stored candidates as (unidentified, family, missing, LR, loci, inconsistent loci)."""
    engine = make_engine(url)
    try:
        with Session(read_only(engine)) as session:
            return sorted(session.execute(
                select(Unidentified.code, Family.code, MatchCandidate.missing_code, MatchCandidate.lr,
                       MatchCandidate.loci_compared, MatchCandidate.inconsistent_loci)
                .join(Unidentified, Unidentified.id == MatchCandidate.unidentified_id)
                .join(Family, Family.id == MatchCandidate.family_id)).all())
    finally:
        engine.dispose()


def pending(url: str) -> list[tuple[str, int]]:
    engine = make_engine(url)
    try:
        with Session(read_only(engine)) as session:
            return sorted(session.execute(select(PendingSearch.kind, PendingSearch.subject_id)).all())
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """A small simulated database as files, plus a second genotype file of new profiles."""
    out = tmp_path_factory.mktemp("integrity")
    db = simulate_database(12, 6, seed=4242)
    paths = write_database(db, out)
    with paths["genotypes"].open(newline="") as fh:
        rows = list(csv.reader(fh))
    extra = out / "genotypes_more.csv"
    with extra.open("w", newline="") as fh:
        csv.writer(fh).writerows([rows[0]] + [[f"MORE-{r[0]}", *r[1:]] for r in rows[1:]])
    paths["more"] = extra
    return paths


@pytest.fixture(params=["sqlite", "postgresql"])
def two_urls(request, tmp_path):
    """Two empty databases of one backend (a run interrupted, and one that was not)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
        return
    (a, drop_a), (b, drop_b) = pg_database(), pg_database()
    try:
        yield a, b
    finally:
        drop_a()
        drop_b()


def prepared(monkeypatch, capsys, url, paths, *, families=True, unidentified=False):
    ok(reunite(monkeypatch, capsys, url, "db", "init"))
    ok(reunite(monkeypatch, capsys, url, "import", "genotypes", str(paths["genotypes"])))
    if families:
        ok(reunite(monkeypatch, capsys, url, "import", "families", str(paths["families"]), "--no-search"))
    if unidentified:
        ok(reunite(monkeypatch, capsys, url, "import", "unidentified", str(paths["unidentified"]), "--no-search"))


# ---------------------------------------------------------------------------------------
# databases that are missing, unreachable, misspelt, read-only, full


@pytest.mark.parametrize("args", [["stats"], ["import", "genotypes", "g.csv"], ["search", "--all"],
                                  ["search", "--pending"], ["db", "index"]])
@pytest.mark.sqlite_only(reason='a missing SQLite file')
def test_a_sqlite_file_that_does_not_exist_is_an_error_and_is_not_created(monkeypatch, capsys, tmp_path, args):
    path = tmp_path / "nothing.db"
    failed(reunite(monkeypatch, capsys, f"sqlite:///{path}", *args), f"there is no database at {path}",
           "reunite db init")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.sqlite_only(reason='a SQLite file in a missing folder')
def test_db_init_in_a_folder_that_does_not_exist(monkeypatch, capsys, tmp_path):
    path = tmp_path / "no" / "such" / "r.db"
    failed(reunite(monkeypatch, capsys, f"sqlite:///{path}", "db", "init"),
           f"the SQLite database {path} cannot be opened", f"the folder {path.parent} is missing")


@pytest.mark.sqlite_only(reason='a file that is not a SQLite database')
def test_a_file_that_is_not_a_database(monkeypatch, capsys, tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("these are not the tables you are looking for\n" * 100)
    failed(reunite(monkeypatch, capsys, f"sqlite:///{path}", "stats"), f"{path} is not a SQLite database")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_postgresql_server_that_is_down(monkeypatch, capsys):
    pytest.importorskip("psycopg")
    port = _free_port()  # nothing listens there now
    for args in (["stats"], ["db", "init"], ["import", "genotypes", "g.csv"]):
        out = failed(reunite(monkeypatch, capsys, f"postgresql+psycopg://reunite:s3cret@127.0.0.1:{port}/reunite",
                             *args), f"the PostgreSQL server at 127.0.0.1:{port} is not reachable")
        assert "db init" not in out and "s3cret" not in out


def test_a_misspelt_postgresql_database(monkeypatch, capsys, pg_url):
    wrong = pg_url.rsplit("/", 1)[0].replace("postgres@", "postgres:s3cret@") + "/reunite_tset_nosuch"
    for args in (["stats"], ["search", "--all"]):
        out = failed(reunite(monkeypatch, capsys, wrong, *args),
                     "the database 'reunite_tset_nosuch' on the PostgreSQL server at", "does not exist",
                     "check the database name")
        assert "s3cret" not in out and "not initialised" not in out


def test_an_uninitialised_postgresql_database(monkeypatch, capsys, pg_url):
    failed(reunite(monkeypatch, capsys, pg_url, "stats"), "is not initialised", "reunite db init")


@pytest.mark.sqlite_only(reason='a read-only SQLite file')
def test_a_read_only_sqlite_database(monkeypatch, capsys, tmp_path, simulated):
    path = tmp_path / "r.db"
    prepared(monkeypatch, capsys, f"sqlite:///{path}", simulated, families=False)
    before = counts(f"sqlite:///{path}")
    ro = f"sqlite:///file:{path}?mode=ro&uri=true"  # opened read-only, as from a read-only mount
    assert "profiles (samples)" in ok(reunite(monkeypatch, capsys, ro, "stats"))  # reading works
    failed(reunite(monkeypatch, capsys, ro, "import", "genotypes", str(simulated["more"])),
           f"the SQLite database {path} cannot be written", "read-only", "nothing was written")
    assert counts(f"sqlite:///{path}") == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only files and folders")
def test_a_read_only_sqlite_file_and_folder(monkeypatch, capsys, tmp_path, simulated):
    folder = tmp_path / "ro"
    folder.mkdir()
    url = f"sqlite:///{folder / 'r.db'}"
    prepared(monkeypatch, capsys, url, simulated, families=False)
    make_engine(url).dispose()
    for f in folder.iterdir():
        f.chmod(0o444)
    folder.chmod(0o555)
    try:
        failed(reunite(monkeypatch, capsys, url, "import", "genotypes", str(simulated["more"])),
               f"the SQLite database {folder / 'r.db'}")
    finally:
        folder.chmod(0o755)
        for f in folder.iterdir():
            f.chmod(0o644)


def _limit_pages(engine, extra_pages: int = 0):
    """SQLite's size limit, set on every connection: the current size (plus ``extra_pages``)."""
    @event.listens_for(engine, "connect")
    def _limit(dbapi_conn, _record):
        cur = dbapi_conn.cursor()
        pages = cur.execute("PRAGMA page_count").fetchone()[0]
        cur.execute(f"PRAGMA max_page_count = {pages + extra_pages}")
        cur.close()
    return engine


@pytest.mark.sqlite_only(reason='a full SQLite file (PRAGMA max_page_count)')
def test_a_full_sqlite_database(monkeypatch, capsys, tmp_path, simulated):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    prepared(monkeypatch, capsys, url, simulated, families=False)
    before = counts(url)
    make = store_db.make_engine
    monkeypatch.setattr(store_db, "make_engine", lambda *a, **k: _limit_pages(make(*a, **k)))
    failed(reunite(monkeypatch, capsys, url, "import", "genotypes", str(simulated["more"])),
           f"the SQLite database {tmp_path / 'r.db'} is full", "nothing was written", "Free space")
    monkeypatch.setattr(store_db, "make_engine", make)
    assert counts(url) == before
    ok(reunite(monkeypatch, capsys, url, "import", "genotypes", str(simulated["more"])))  # space again


def test_the_busy_timeout_setting(monkeypatch):
    monkeypatch.delenv("REUNITE_SQLITE_BUSY_TIMEOUT", raising=False)
    assert busy_timeout() == 30.0
    monkeypatch.setenv("REUNITE_SQLITE_BUSY_TIMEOUT", "2.5")
    assert busy_timeout() == 2.5
    for bad in ("soon", "-1", "inf", "nan"):
        monkeypatch.setenv("REUNITE_SQLITE_BUSY_TIMEOUT", bad)
        with pytest.raises(StoreError, match="REUNITE_SQLITE_BUSY_TIMEOUT must be a number of seconds"):
            busy_timeout()


def test_a_malformed_database_url(monkeypatch, capsys):
    failed(reunite(monkeypatch, capsys, "postgres://someone@somewhere/reunite", "stats"),
           "unknown kind of database 'postgres'", "postgresql+psycopg://")
    failed(reunite(monkeypatch, capsys, "not a url", "stats"), "is not a URL")


# ---------------------------------------------------------------------------------------
# SQLite writers wait; an import while a search is storing its candidates

PAUSED_SEARCH = r'''
import os, sys, time
from pathlib import Path
from reunite import cli
from reunite.search import service

sync = Path(os.environ["SYNC_DIR"])
original = service.store_candidates


def paused(*args, **kwargs):
    n = original(*args, **kwargs)
    args[0].flush()  # the candidates are written, the transaction is open
    (sync / "storing").touch()
    deadline = time.monotonic() + 120
    while not (sync / "release").exists():
        if time.monotonic() > deadline:
            sys.exit("never released")
        time.sleep(0.005)
    return n


service.store_candidates = paused
sys.argv = ["reunite", *sys.argv[1:]]
cli.main()
'''

STARTED_IMPORT = r'''
import os, sys
from pathlib import Path
from reunite import cli
from reunite.store import importers

original = importers.import_genotypes


def started(*args, **kwargs):
    (Path(os.environ["SYNC_DIR"]) / "importing").touch()
    return original(*args, **kwargs)


importers.import_genotypes = started
sys.argv = ["reunite", *sys.argv[1:]]
cli.main()
'''


def test_an_import_while_a_search_stores_candidates(monkeypatch, capsys, db_url, simulated, tmp_path):
    prepared(monkeypatch, capsys, db_url, simulated, unidentified=True)
    sync = tmp_path / "sync"
    sync.mkdir()
    search = child(PAUSED_SEARCH, db_url, "search", "--all", "--workers", "1", SYNC_DIR=str(sync))
    try:
        wait_for_file(sync / "storing", search)
        before = counts(db_url)
        # a short wait fails clearly on SQLite (one writer at a time); PostgreSQL does not block
        result = reunite(monkeypatch, capsys, db_url, "import", "genotypes", str(simulated["more"]),
                         REUNITE_SQLITE_BUSY_TIMEOUT="0.2")
        if db_url.startswith("sqlite"):
            failed(result, "is busy", "another reunite command", "REUNITE_SQLITE_BUSY_TIMEOUT")
            assert counts(db_url)["samples"] == before["samples"]
            # a long one waits until the search has stored its candidates, then imports
            waiting = child(STARTED_IMPORT, db_url, "import", "genotypes", str(simulated["more"]),
                            SYNC_DIR=str(sync), REUNITE_SQLITE_BUSY_TIMEOUT="120")
            wait_for_file(sync / "importing", waiting)
            (sync / "release").touch()
            code, out = finish(waiting)
            assert code == 0, out
        else:
            ok(result)
            (sync / "release").touch()
    finally:
        (sync / "release").touch()
        code, out = finish(search)
    assert code == 0, out
    after = counts(db_url)
    assert after["samples"] == 2 * before["samples"] and after["match_candidates"] > 0


# ---------------------------------------------------------------------------------------
# pending searches: the automatic search after an import survives the process dying

DIES_BEFORE_SEARCH = r'''
import os, sys
from reunite import cli
from reunite.search import service


def die(*args, **kwargs):
    os._exit(9)  # as if killed: no clean-up, no rollback message


service.run_search = die
sys.argv = ["reunite", *sys.argv[1:]]
cli.main()
'''


def test_a_search_lost_to_a_killed_process_is_completed_with_search_pending(monkeypatch, capsys, two_urls,
                                                                           simulated):
    killed, whole = two_urls
    for url in two_urls:
        prepared(monkeypatch, capsys, url, simulated)
    ok(reunite(monkeypatch, capsys, whole, "import", "unidentified", str(simulated["unidentified"])))
    code, out = finish(child(DIES_BEFORE_SEARCH, killed, "import", "unidentified", str(simulated["unidentified"])))
    assert code == 9, out
    n = counts(killed)
    assert n["unidentified"] == 6 and n["match_candidates"] == 0  # the import committed, its search did not
    assert [kind for kind, _ in pending(killed)] == ["unidentified"] * 6
    out = ok(reunite(monkeypatch, capsys, killed, "search", "--pending"))
    assert "running the pending searches: 6 unidentified persons" in out and "searched 6 unidentified persons" in out
    assert pending(killed) == [] and candidates(killed) == candidates(whole) != []
    assert "no pending searches" in ok(reunite(monkeypatch, capsys, killed, "search", "--pending"))


def test_a_lost_family_search_is_completed_by_the_next_import(monkeypatch, capsys, two_urls, simulated):
    killed, whole = two_urls
    for url in two_urls:
        prepared(monkeypatch, capsys, url, simulated, families=False, unidentified=True)
    ok(reunite(monkeypatch, capsys, whole, "import", "families", str(simulated["families"])))
    code, out = finish(child(DIES_BEFORE_SEARCH, killed, "import", "families", str(simulated["families"])))
    assert code == 9, out
    assert [kind for kind, _ in pending(killed)] == ["family"] * 12 and counts(killed)["match_candidates"] == 0
    out = ok(reunite(monkeypatch, capsys, killed, "import", "genotypes", str(simulated["more"])))
    assert "running the pending searches left by an earlier run: 12 families" in out
    assert "imported" in out
    assert pending(killed) == [] and candidates(killed) == candidates(whole) != []


@pytest.mark.sqlite_only(reason="the disk filled through SQLite's PRAGMA max_page_count")
def test_a_search_that_fails_after_its_import_stays_pending(monkeypatch, capsys, tmp_path, simulated):
    """The disk fills while the automatic search stores its candidates: the import stays, the
    message says so, and the search runs later."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    prepared(monkeypatch, capsys, url, simulated)
    from reunite.search import service

    original = service.run_pending

    def full_disk(session, *args, **kwargs):
        raw = session.connection().connection.driver_connection
        pages = raw.execute("PRAGMA page_count").fetchone()[0]
        raw.execute(f"PRAGMA max_page_count = {pages}")
        return original(session, *args, **kwargs)

    monkeypatch.setattr(service, "run_pending", full_disk)
    failed(reunite(monkeypatch, capsys, url, "import", "unidentified", str(simulated["unidentified"])),
           "is full", "the import itself is committed", "reunite search --pending")
    monkeypatch.setattr(service, "run_pending", original)
    assert counts(url)["unidentified"] == 6 and len(pending(url)) == 6 and candidates(url) == []
    assert "searched 6 unidentified persons" in ok(reunite(monkeypatch, capsys, url, "search", "--pending"))
    assert pending(url) == [] and candidates(url) != []


def test_a_rejected_import_records_no_pending_search(monkeypatch, capsys, tmp_path, simulated):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    prepared(monkeypatch, capsys, url, simulated)
    bad = tmp_path / "u.csv"
    bad.write_text("person_id,sample_id\nU1,NO-SUCH-SAMPLE\n")
    failed(reunite(monkeypatch, capsys, url, "import", "unidentified", str(bad)), "NO-SUCH-SAMPLE")
    assert pending(url) == []
    failed(reunite(monkeypatch, capsys, url, "search", "--pending", "--all"), "--pending runs the pending searches only")


def test_no_search_records_nothing_pending(monkeypatch, capsys, tmp_path, simulated):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    prepared(monkeypatch, capsys, url, simulated, unidentified=True)
    assert pending(url) == [] and candidates(url) == []


# ---------------------------------------------------------------------------------------
# the family index file


@pytest.fixture
def indexed(monkeypatch, capsys, tmp_path, simulated):
    """A database with families and its index file; returns (url, index path)."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    prepared(monkeypatch, capsys, url, simulated)
    index = tmp_path / "index" / "families.npz"
    monkeypatch.setenv("REUNITE_INDEX", str(index))
    ok(reunite(monkeypatch, capsys, url, "db", "index"))
    assert index.exists()
    return url, index


def _temporaries(index: Path) -> list[Path]:
    """Files beside the index other than the index, its identity lookup and the unidentified
    index (which ``db index`` keeps there too)."""
    return sorted(p for p in index.parent.iterdir()
                  if p != index and p.name not in (index.name + ".identity.npz", index.name + ".unidentified.npz"))


def test_a_rebuild_that_fails_midway_leaves_the_old_index(monkeypatch, capsys, indexed):
    url, index = indexed
    old = index.read_bytes()

    def savez_then_disk_full(fh, **arrays):
        fh.write(b"PK\x03\x04 half an index")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", savez_then_disk_full)
    failed(reunite(monkeypatch, capsys, url, "db", "index", "--rebuild"),
           f"the family index could not be saved to {index} (No space left on device)",
           "the previous index file, if any, is unchanged")
    assert index.read_bytes() == old and _temporaries(index) == []


KILLED_SAVE = r'''
import os, sys
import numpy as np
from sqlalchemy.orm import Session
from reunite.search.service import family_index
from reunite.store.db import make_engine, read_settings
from reunite.store.profiles import GeneticModel

engine = make_engine()
with Session(engine) as session:
    model = GeneticModel.from_json(read_settings(session)["genetic_model"])
    index = family_index(session, model, save=False)


def killed(fh, **arrays):
    fh.write(b"PK\x03\x04 half an index")
    fh.flush()
    os._exit(9)


np.savez = killed
index.save(sys.argv[1])
'''


def test_temporary_files_of_a_killed_save_are_removed(monkeypatch, capsys, indexed):
    url, index = indexed
    code, out = finish(child(KILLED_SAVE, url, str(index)))
    assert code == 9, out
    left = _temporaries(index)
    assert len(left) == 1 and left[0].name.startswith(f"{index.name}.tmp-")
    # a save still running in another process (alive, started before its file) is left alone
    alive = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        running = index.parent / f"{index.name}.tmp-{alive.pid}-inprogress"
        running.write_bytes(b"being written")
        os.utime(running, (time.time() + 5, time.time() + 5))  # written after its process started
        ok(reunite(monkeypatch, capsys, url, "db", "index", "--rebuild"))
        assert _temporaries(index) == [running]
    finally:
        alive.communicate(b"")
    ok(reunite(monkeypatch, capsys, url, "db", "index", "--rebuild"))  # its process has ended now
    assert _temporaries(index) == []
    from reunite.search.index import FamilyIndex
    from reunite.store.profiles import GeneticModel

    FamilyIndex.load(index, GeneticModel("CHN_national_GBT37223"))  # whole and readable


def test_db_index_rebuild_in_a_folder_that_cannot_be_written(monkeypatch, capsys, tmp_path, simulated):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    prepared(monkeypatch, capsys, url, simulated)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the index folder should be")
    index = blocker / "families.npz"
    monkeypatch.setenv("REUNITE_INDEX", str(index))
    failed(reunite(monkeypatch, capsys, url, "db", "index", "--rebuild"),
           f"the family index could not be saved to {index}", "REUNITE_INDEX")
    # the automatic search goes on with the index in memory, and says why it is not saved
    out = ok(reunite(monkeypatch, capsys, url, "import", "unidentified", str(simulated["unidentified"])))
    assert "searched 6 unidentified persons" in out
    assert f"warning: the family index could not be saved to {index} ({blocker} is a file, not a folder)" in out


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_db_index_rebuild_in_a_read_only_folder(monkeypatch, capsys, tmp_path, simulated):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    prepared(monkeypatch, capsys, url, simulated)
    folder = tmp_path / "ro"
    folder.mkdir()
    monkeypatch.setenv("REUNITE_INDEX", str(folder / "families.npz"))
    folder.chmod(0o555)
    try:
        failed(reunite(monkeypatch, capsys, url, "db", "index", "--rebuild"),
               "could not be saved", "Permission denied", f"Make the folder {folder} writable")
    finally:
        folder.chmod(0o755)
