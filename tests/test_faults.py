"""Faults and load (``make stress``; left out of ``make test``): SIGKILL of ``reunite import``
mid-import, of ``reunite db index`` mid-update and of ``reunite serve`` during a burst of API
writes; after each, the database is consistent (every import batch whole or absent, the audit
chain verifies, pending searches run to completion and give the candidates of an uninterrupted
import) and the family index equals a rebuild.  Then concurrent API clients importing,
searching and reviewing for a bounded time: requests/s and p99 printed, no 5xx, no record lost
or duplicated.  Real processes (the venv's ``reunite``) on a simulated database, on SQLite and
on PostgreSQL (``$REUNITE_TEST_POSTGRES``, default 127.0.0.1:5432; skipped with the reason where
there is none).  The checks read the database through SQLAlchemy, the same on both."""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from reunite.simulate import simulate_database, write_database
from workflow_world import MODEL, make_world

pytestmark = pytest.mark.stress

_BIN = Path(sys.executable).with_name("reunite")
REUNITE = [str(_BIN)] if _BIN.exists() else [sys.executable, "-c", "from reunite.cli import main; main()"]
NUM_FAMILIES, NUM_UNIDENTIFIED = 2000, 800


def _env(url: str, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REUNITE_")}
    env.update(REUNITE_DATABASE_URL=url, REUNITE_USER="analyst", COLUMNS="200", **extra)
    return env


def cli(url: str, *args, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    r = subprocess.run(REUNITE + [str(a) for a in args], env=_env(url), capture_output=True, text=True,
                       timeout=timeout)
    if check:
        assert r.returncode == 0, f"reunite {' '.join(map(str, args))}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


class Databases:
    """The test databases of one backend: SQLite files in ``folder``, or throw-away PostgreSQL
    databases (a copy is ``CREATE DATABASE ... TEMPLATE``), dropped by :meth:`close`."""

    def __init__(self, backend: str, folder: Path):
        self.backend, self.folder = backend, folder
        self.names: list[str] = []
        if backend == "postgresql":
            from conftest import pg_database

            url, self._drop_first = pg_database()  # skips the test where there is no server
            self.server, self.prefix = url.rsplit("/", 1)
            self.names.append(self.prefix)

    def url(self, name: str) -> str:
        if self.backend == "sqlite":
            return f"sqlite:///{self.folder / name}"
        return f"{self.server}/{self._pg_name(name)}"

    def _pg_name(self, name: str) -> str:
        import hashlib

        return name if name == self.prefix else f"{self.prefix}_{hashlib.sha1(name.encode()).hexdigest()[:12]}"

    def _admin(self):
        import psycopg
        from conftest import PG_SERVER

        return psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True, connect_timeout=10)

    def new(self, name: str) -> str:
        """An empty database; returns its URL."""
        if self.backend == "postgresql" and self._pg_name(name) not in self.names:
            with self._admin() as c:
                c.execute(f'CREATE DATABASE "{self._pg_name(name)}"')
            self.names.append(self._pg_name(name))
        return self.url(name)

    def copy(self, src_url: str, path: Path) -> str:
        """A consistent copy of the database at ``src_url`` (no process using it) named after
        ``path`` (SQLite: that file, by the backup API); returns its URL."""
        if self.backend == "sqlite":
            with sqlite3.connect(src_url.removeprefix("sqlite:///")) as a, sqlite3.connect(path) as b:
                a.backup(b)
            return f"sqlite:///{path}"
        name = self._pg_name(str(path))
        source = src_url.rsplit("/", 1)[1]
        with self._admin() as c:
            c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (source,))
            c.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
        self.names.append(name)
        return f"{self.server}/{name}"

    def close(self) -> None:
        if self.backend == "postgresql":
            with self._admin() as c:
                for name in self.names[1:]:
                    c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self._drop_first()


@contextlib.contextmanager
def reading(url: str):
    """A plain SQLAlchemy connection for the checks (no reunite settings in between)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def prefixed(paths: dict, prefix: str, out: Path) -> dict:
    """The simulated files with every code prefixed (families, samples, persons unique per upload)."""
    out.mkdir(parents=True, exist_ok=True)
    done = {}
    for kind in ("genotypes", "families", "unidentified"):
        body = Path(paths[kind]).read_text()
        body = re.sub(r"\b(SU|S|F|U)(\d{7})", rf"{prefix}\1\2", body)
        (out / f"{kind}.csv").write_text(body)
        done[kind] = out / f"{kind}.csv"
    return done


@pytest.fixture(scope="module", params=[
    pytest.param("sqlite", marks=pytest.mark.sqlite_only(reason="the test's postgresql case runs instead")),
    "postgresql"])
def base(request, tmp_path_factory):
    """A database with users, genotypes and unidentified persons (``db``); the same after an
    uninterrupted import of the families (``ref``, its candidates ``candidates``); API tokens.
    On each backend (``dbs``: its databases)."""
    folder = tmp_path_factory.mktemp(f"faults-{request.param}")
    dbs = Databases(request.param, folder)
    try:
        with pytest.MonkeyPatch.context() as mp:  # PostgreSQL's index files: not in ~/.cache
            mp.setenv("XDG_CACHE_HOME", str(folder / "cache"))
            yield _base(dbs, folder)
    finally:
        dbs.close()


def _base(dbs: Databases, folder: Path) -> SimpleNamespace:
    sim = write_database(simulate_database(NUM_FAMILIES, NUM_UNIDENTIFIED, seed=5), folder / "sim")
    url = dbs.new("base.db")
    world = make_world(url)
    tokens = {u: world.token(u) for u in ("analyst", "reviewer1")}
    world.engine.dispose()
    cli(url, "import", "genotypes", sim["genotypes"])
    cli(url, "import", "unidentified", sim["unidentified"])
    ref_url = dbs.copy(url, folder / "ref.db")
    t = time.perf_counter()
    proc = subprocess.Popen(REUNITE + ["import", "families", str(sim["families"])], env=_env(ref_url),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    committed = None
    while proc.poll() is None:  # when the import's transaction commits (before its search)
        if committed is None and _families_batches(ref_url):
            committed = time.perf_counter() - t
        time.sleep(0.02)
    took = time.perf_counter() - t
    assert proc.returncode == 0, proc.stderr.read()
    print(f"\nuninterrupted import of {NUM_FAMILIES:,} families with its search: {took:.1f} s, "
          f"the import committed after {committed:.1f} s")
    codes = [line.split(",", 1)[0] for line in Path(sim["unidentified"]).read_text().splitlines()[1:]]
    return SimpleNamespace(folder=folder, db=url, ref=ref_url, dbs=dbs, sim=sim, tokens=tokens,
                           candidates=candidates(ref_url), import_s=took, commit_s=committed, codes=codes)


def _writing(url: str) -> bool:
    """Whether a process holds the database's write lock (SQLite) or is in a transaction that
    has written (PostgreSQL: a transaction id assigned)."""
    if not url.startswith("sqlite:"):
        with reading(url) as c:
            return bool(c.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()")).scalar())
    c = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)
    try:
        c.execute("BEGIN IMMEDIATE")
        c.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:  # database is locked
        return True
    finally:
        c.close()


def _families_batches(url: str) -> int:
    if url.startswith("sqlite:"):
        url = f"sqlite:///file:{url.removeprefix('sqlite:///')}?mode=ro&uri=true"
    with reading(url) as c:
        return c.execute(text("SELECT count(*) FROM import_batches WHERE kind = 'families'")).scalar()


def candidates(url: str) -> list[tuple]:
    """The stored candidates by codes, with their LR (9 decimals of log10)."""
    with reading(url) as c:
        return sorted((u, f, m, round(lr, 9)) for u, f, m, lr in c.execute(text(
            "SELECT u.code, f.code, m.missing_code, m.log10_lr FROM match_candidates m "
            "JOIN unidentified u ON u.id = m.unidentified_id JOIN families f ON f.id = m.family_id")).all())


def check_consistent(url: str) -> dict:
    """Every import batch whole, nothing outside a batch, references that resolve, the SQLite
    file sound (PostgreSQL: every constraint valid), the audit chain verified; returns
    {kind: batches}."""
    with reading(url) as conn:
        def c_execute(sql, params=()):  # "?" parameters on both backends
            names = {f"p{i}": v for i, v in enumerate(params)}
            k = iter(range(len(params)))
            return conn.execute(text(re.sub(r"\?", lambda _: f":p{next(k)}", sql)), names)

        c = SimpleNamespace(execute=c_execute)
        if conn.dialect.name == "sqlite":
            assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert c.execute("PRAGMA foreign_key_check").fetchall() == []
        else:
            assert c.execute("SELECT count(*) FROM pg_constraint WHERE NOT convalidated").fetchone()[0] == 0
        kinds = {}
        for bid, kind, num_rows in c.execute("SELECT id, kind, num_rows FROM import_batches").fetchall():
            if kind == "families":
                n = c.execute("SELECT count(*) FROM family_members m JOIN families f ON f.id = m.family_id "
                              "WHERE f.batch_id = ?", (bid,)).fetchone()[0]
            elif kind == "unidentified":
                n = c.execute("SELECT count(*) FROM unidentified WHERE batch_id = ?", (bid,)).fetchone()[0]
            else:
                n = c.execute("SELECT count(*) FROM samples WHERE batch_id = ?", (bid,)).fetchone()[0]
            assert n == num_rows, f"import batch {bid} ({kind}): {n} rows of {num_rows}"
            kinds.setdefault(kind.split(" ")[0], []).append(bid)
        batches = "(SELECT id FROM import_batches)"
        for table in ("families", "unidentified", "samples"):
            orphans = c.execute(f"SELECT count(*) FROM {table} WHERE batch_id IS NULL OR batch_id NOT IN {batches}")
            assert orphans.fetchone()[0] == 0, f"{table} outside any import batch"
        assert c.execute("SELECT count(*) FROM family_members WHERE family_id NOT IN (SELECT id FROM families)"
                         ).fetchone()[0] == 0
        assert c.execute("SELECT count(*) FROM match_candidates WHERE family_id NOT IN (SELECT id FROM families) "
                         "OR unidentified_id NOT IN (SELECT id FROM unidentified)").fetchone()[0] == 0
        assert c.execute("SELECT count(*) FROM pending_searches p WHERE (kind = 'family' AND subject_id NOT IN "
                         "(SELECT id FROM families)) OR (kind = 'unidentified' AND subject_id NOT IN "
                         "(SELECT id FROM unidentified))").fetchone()[0] == 0
        dup = c.execute("SELECT count(*) - count(DISTINCT code) FROM families").fetchone()[0]
        assert dup == 0, "a family held twice"
    r = cli(url, "audit", "verify", "--as", "auditor", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    return kinds


def pending(url: str) -> int:
    with reading(url) as c:
        return c.execute(text("SELECT count(*) FROM pending_searches")).scalar()


def check_index_equals_rebuild(url: str) -> None:
    """``reunite db index`` completes, leaves no temporary file, and the stored index holds
    the rows and gives the scores of an index built again from the database."""
    from reunite.search.index import TEMP_MARK, FamilyIndex
    from reunite.search.service import family_index, index_path, load_unidentified
    from reunite.store.db import make_engine

    cli(url, "db", "index")
    engine = make_engine(url)
    try:
        path = index_path(engine)
        assert not list(path.parent.glob(f"{path.name}{TEMP_MARK}*")), "a temporary index file left behind"
        stored = FamilyIndex.load(path, MODEL)
        with Session(engine) as s:
            rebuilt = family_index(s, MODEL, rebuild=True, save=False)
            people = load_unidentified(s)[:6]
        assert stored.indexed == rebuilt.indexed and sorted(stored.fallback) == sorted(rebuilt.fallback)
        keys = [list(zip(ix.family_id.tolist(), ix.missing)) for ix in (stored, rebuilt)]
        assert sorted(keys[0]) == sorted(keys[1]) and len(set(keys[0])) == len(keys[0])
        order = [np.argsort([f"{f}|{m}" for f, m in k]) for k in keys]
        for u in people:
            a, b = stored.scores(u.profile), rebuilt.scores(u.profile)
            np.testing.assert_allclose(a[order[0]], b[order[1]], rtol=1e-12, atol=0)
    finally:
        engine.dispose()


def sigkill_after(proc: subprocess.Popen, delay: float) -> bool:
    """SIGKILL ``proc`` after ``delay`` seconds; False if it had ended by then."""
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    return True


# ---------------------------------------------------------------------------------------
# SIGKILL of an import


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sigkill_mid_import_leaves_a_whole_database(base, tmp_path, seed):
    url = base.dbs.copy(base.db, tmp_path / "r.db")
    # early (reading and writing the families), middle, late (the automatic search)
    rng = random.Random(seed)
    proc = subprocess.Popen(REUNITE + ["import", "families", str(base.sim["families"])], env=_env(url),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t = time.monotonic()
    if seed == 1:  # inside the import's write transaction (SQLite: BEGIN IMMEDIATE holds the write lock)
        while proc.poll() is None and not _writing(url):
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.05))
        print(f"\nthe import's write transaction {'open' if _writing(url) else 'ended'} at the kill")
    else:  # during the automatic search, which follows the commit
        low, high = [(0.1, 0.5), (0.5, 0.9)][seed - 2]
        time.sleep(base.commit_s + rng.uniform(low, high) * (base.import_s - base.commit_s))
    killed = sigkill_after(proc, 0)
    delay = time.monotonic() - t
    kinds = check_consistent(url)
    imported = bool(kinds.get("families"))
    print(f"\nseed {seed}: SIGKILL after {delay:.1f} s ({'killed' if killed else 'had ended'}); families "
          f"{'imported' if imported else 'not imported (rolled back)'}, {pending(url):,} searches pending")
    if imported:
        cli(url, "search", "--pending")
    else:
        cli(url, "import", "families", base.sim["families"])
    assert pending(url) == 0
    check_consistent(url)
    assert candidates(url) == base.candidates  # as an uninterrupted import: none lost, none twice
    check_index_equals_rebuild(url)


# ---------------------------------------------------------------------------------------
# SIGKILL of the index update


def test_sigkill_mid_index_update_never_leaves_a_bad_index(base, tmp_path):
    from reunite.search.index import FamilyIndex
    from reunite.search.service import index_path
    from reunite.store.db import make_engine

    url = base.dbs.copy(base.ref, tmp_path / "r.db")
    cli(url, "db", "index")
    engine = make_engine(url)
    path = index_path(engine)
    engine.dispose()
    older = path.read_bytes()  # an index without the families imported next
    more = prefixed(write_database(simulate_database(300, 0, seed=9), tmp_path / "sim2"), "K", tmp_path / "more")
    cli(url, "import", "genotypes", more["genotypes"])
    cli(url, "import", "families", more["families"], "--no-search")
    t = time.perf_counter()
    cli(url, "db", "index", "--rebuild")
    full = time.perf_counter() - t
    rng = random.Random(11)
    for k in range(4):
        if k < 2:  # an update: the 300 new families added to the older index, killed
            path.write_bytes(older)
            args = ["db", "index"]
        else:  # a rebuild, killed
            args = ["db", "index", "--rebuild"]
        delay = rng.uniform(0.2, full)
        proc = subprocess.Popen(REUNITE + args, env=_env(url), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        killed = sigkill_after(proc, delay)
        print(f"\nreunite {' '.join(args)}: SIGKILL after {delay:.2f} s of {full:.2f} s "
              f"({'killed' if killed else 'had ended'})")
        if path.exists():  # the old file or the new one, whole: never a half-written one
            FamilyIndex.load(path, MODEL)
        check_index_equals_rebuild(url)
    check_consistent(url)


# ---------------------------------------------------------------------------------------
# A real server on loopback


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(url: str, log: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    fh = log.open("w")
    proc = subprocess.Popen(REUNITE + ["serve", "--port", str(port)], env=_env(url), stdout=fh,
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/api/v1"
    deadline = time.monotonic() + 90
    while True:
        try:
            httpx.get(f"{base}/openapi.json", timeout=2)
            return proc, base
        except httpx.TransportError:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the server did not start in 90 s"
            time.sleep(0.2)


class Uploads:
    """Small family imports with codes unique per upload (genotypes, then families)."""

    def __init__(self, folder: Path, *, seed: int):
        self.folder, self.seed = folder, seed
        self.lock = threading.Lock()
        self.count = 0
        self.acknowledged: list[tuple[int, int, list[str]]] = []  # (batch id, member rows, family codes)

    def next_files(self) -> dict:
        with self.lock:
            self.count += 1
            k = self.count
        sim = write_database(simulate_database(3, 0, seed=self.seed * 100_000 + k), self.folder / f"s{k}")
        return prefixed(sim, f"L{self.seed}x{k}", self.folder / f"p{k}")

    def upload(self, client: httpx.Client, timings: list, statuses: list) -> None:
        files = self.next_files()
        batch = None
        for kind in ("genotypes", "families"):
            t = time.perf_counter()
            with open(files[kind], "rb") as fh:
                r = client.post(f"/imports/{kind}", files={"file": (f"{kind}.csv", fh, "text/csv")})
            timings.append((f"import {kind}", time.perf_counter() - t))
            statuses.append(r.status_code)
            assert r.status_code < 500, r.text
            if r.status_code != 201:
                return
            batch = r.json()["batch_id"]
        body = Path(files["families"]).read_text().splitlines()[1:]
        codes = sorted({line.split(",", 1)[0] for line in body})
        with self.lock:
            self.acknowledged.append((batch, len(body), codes))


def check_acknowledged(url: str, uploads: Uploads) -> None:
    """Every import the server answered 201 to is in the database, whole, once."""
    with reading(url) as c:
        for batch, rows, codes in uploads.acknowledged:
            got = c.execute(text("SELECT num_rows FROM import_batches WHERE id = :b AND kind = 'families'"),
                            {"b": batch}).fetchone()
            assert tuple(got or ()) == (rows,), f"acknowledged import {batch} lost"
            held = sorted(r[0] for r in c.execute(text("SELECT code FROM families WHERE batch_id = :b"),
                                                  {"b": batch}))
            assert held == codes


def test_sigkill_of_the_server_during_api_writes(base, tmp_path):
    url = base.dbs.copy(base.ref, tmp_path / "r.db")
    proc, api = start_server(url, tmp_path / "server.log")
    uploads = Uploads(tmp_path / "up", seed=1)
    stop = threading.Event()
    errors: list = []

    def writer():
        with httpx.Client(base_url=api, headers={"Authorization": f"Bearer {base.tokens['analyst']}"},
                          timeout=120) as client:
            while not stop.is_set():
                try:
                    uploads.upload(client, [], [])
                except httpx.TransportError:
                    return  # the server is gone
                except AssertionError as exc:
                    errors.append(exc)
                    return

    threads = [threading.Thread(target=writer) for _ in range(4)]
    try:
        for th in threads:
            th.start()
        t = time.monotonic()
        while len(uploads.acknowledged) < 2 and time.monotonic() < t + 180 and not errors:
            time.sleep(0.05)  # the first imports answered (the server builds its index first)
        assert sigkill_after(proc, random.Random(3).uniform(0, 3)), "the server ended by itself"
        delay = time.monotonic() - t
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
        for th in threads:
            th.join(timeout=180)
    assert not errors, errors
    print(f"\nserver SIGKILLed after {delay:.1f} s of writes: {len(uploads.acknowledged)} imports acknowledged, "
          f"{pending(url)} searches pending")
    kinds = check_consistent(url)
    check_acknowledged(url, uploads)
    assert len(kinds["families"]) >= 1 + len(uploads.acknowledged)
    cli(url, "search", "--pending")
    assert pending(url) == 0
    check_index_equals_rebuild(url)
    # restarted, it answers, with nothing pending
    proc, api = start_server(url, tmp_path / "server2.log")
    try:
        auth = {"Authorization": f"Bearer {base.tokens['analyst']}"}
        assert httpx.get(f"{api}/searches/pending", headers=auth).json() == {"families": 0, "unidentified": 0}
        r = httpx.post(f"{api}/searches", json={"unidentified": [base.codes[0]]}, headers=auth, timeout=120)
        assert r.status_code == 200, r.text
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    check_consistent(url)


# ---------------------------------------------------------------------------------------
# Load


LOAD_SECONDS = 20


def test_concurrent_clients_import_search_and_review(base, tmp_path):
    url = base.dbs.copy(base.ref, tmp_path / "r.db")
    proc, api = start_server(url, tmp_path / "server.log")
    uploads = Uploads(tmp_path / "up", seed=2)
    timings: list = []
    statuses: list = []
    failures: list = []
    reviewed: list = []
    end = time.monotonic() + LOAD_SECONDS

    def client(user):
        return httpx.Client(base_url=api, headers={"Authorization": f"Bearer {base.tokens[user]}"}, timeout=120)

    def run(work, user):
        try:
            with client(user) as c:
                while time.monotonic() < end:
                    work(c)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(repr(exc))

    def importer(c):
        uploads.upload(c, timings, statuses)

    rng = random.Random(7)

    def searcher(c):
        t = time.perf_counter()
        r = c.post("/searches", json={"unidentified": [rng.choice(base.codes)], "store": False})
        timings.append(("search", time.perf_counter() - t))
        statuses.append(r.status_code)
        assert r.status_code < 500, r.text
        assert r.status_code == 200, r.text

    def reviewer(c):
        t = time.perf_counter()
        r = c.get("/candidates", params={"limit": 20, "status": "new"})
        timings.append(("candidates", time.perf_counter() - t))
        statuses.append(r.status_code)
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        if not items:
            return
        item = rng.choice(items)
        t = time.perf_counter()
        r = c.get(f"/candidates/{item['id']}")
        timings.append(("candidate", time.perf_counter() - t))
        statuses.append(r.status_code)
        assert r.status_code == 200, r.text
        t = time.perf_counter()
        r = c.post(f"/candidates/{item['id']}/set-aside", json={"reason": "load test", "version": item["version"]})
        timings.append(("set aside", time.perf_counter() - t))
        statuses.append(r.status_code)
        assert r.status_code in (200, 409), r.text  # 409: another reviewer got there first
        if r.status_code == 200:
            reviewed.append(item["id"])

    threads = ([threading.Thread(target=run, args=(importer, "analyst")) for _ in range(2)]
               + [threading.Thread(target=run, args=(searcher, "analyst")) for _ in range(2)]
               + [threading.Thread(target=run, args=(reviewer, "reviewer1")) for _ in range(2)])
    t0 = time.perf_counter()
    try:
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=LOAD_SECONDS + 300)
    finally:
        wall = time.perf_counter() - t0
        proc.terminate()
        proc.wait(timeout=60)
    assert not failures, failures[:3]
    assert all(s < 500 for s in statuses)
    lat = np.array([t for _, t in timings])
    print(f"\nload: 6 clients (2 importing, 2 searching, 2 reviewing) for {wall:.1f} s: {len(lat):,} requests, "
          f"{len(lat) / wall:.1f} requests/s, p50 {np.percentile(lat, 50) * 1e3:.0f} ms, "
          f"p99 {np.percentile(lat, 99) * 1e3:.0f} ms; {len(uploads.acknowledged)} imports, "
          f"{len(reviewed)} candidates set aside")
    for kind in sorted({k for k, _ in timings}):
        x = np.array([t for k, t in timings if k == kind])
        print(f"  {kind:16} {len(x):6,} requests  p50 {np.percentile(x, 50) * 1e3:7.0f} ms  "
              f"p99 {np.percentile(x, 99) * 1e3:7.0f} ms")
    assert uploads.acknowledged and reviewed
    check_consistent(url)
    check_acknowledged(url, uploads)
    with reading(url) as c:
        assert c.execute(text("SELECT count(*) FROM families")).scalar() == NUM_FAMILIES + sum(
            len(codes) for _, _, codes in uploads.acknowledged)
        statuses_held = dict(c.execute(text(f"SELECT id, status FROM match_candidates WHERE id IN "
                                            f"({','.join(map(str, reviewed))})")).all())
        assert len(reviewed) == len(set(reviewed)) and all(statuses_held[i] == "set_aside" for i in reviewed), \
            statuses_held
