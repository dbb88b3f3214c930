"""The REST API under load: concurrent clients importing, searching and reviewing.

Run with ``python bench/bench_load.py [--seconds S] [--families N] [--postgres URL]``
(not in ``make bench``; about a minute with the defaults).  Builds a simulated database
(never real people) of ``--families`` families and a third as many unidentified persons
through the intake service, with the users of the workflow tests (``tests/workflow_world``),
starts ``reunite serve`` (Uvicorn, one worker, loopback) on it, then runs for ``--seconds``:

- 2 importers (analyst): each round uploads a genotype file, then a family file and an
  unidentified-person file of a few new simulated people (``POST /imports/{kind}``, searched);
- 2 searchers (analyst): ``POST /searches`` of a random unidentified person, stored (idempotent)
  or not;
- 2 reviewers (reviewer1, reviewer2): ``GET /candidates`` (new ones), ``GET /candidates/{id}``,
  then assign to themselves, start the review and reject, or set the candidate aside;
  both pick among the same few candidates, so they collide (409) now and then.

Prints requests/s overall and p50 / p99 per endpoint.  ``tests/test_load.py`` (``make
stress``) runs the same clients and then checks the database: no 5xx, nothing lost or twice.
Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

TESTS = Path(__file__).resolve().parent.parent / "tests"
_BIN = Path(sys.executable).with_name("reunite")
REUNITE = [str(_BIN)] if _BIN.exists() else [sys.executable, "-c", "from reunite.cli import main; main()"]
KINDS = ("genotypes", "families", "unidentified")
#: the answers a step may get besides success: 409 when another reviewer changed the candidate first
EXPECTED_CONFLICT = 409


# ---------------------------------------------------------------------------------------
# the database and the server


@dataclass
class Prepared:
    url: str
    tokens: dict[str, str]
    codes: list[str]  # the unidentified persons held before the load
    counts: dict[str, int]  # rows per table before the load


def table_counts(engine) -> dict[str, int]:
    from sqlalchemy import text

    from reunite.store.db import read_only

    with read_only(engine).connect() as c:
        return {t: c.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()  # noqa: S608 - fixed names
                for t in ("samples", "families", "family_members", "unidentified", "import_batches",
                          "match_candidates")}


def prepare(url: str, folder: Path, *, families: int, unidentified: int, seed: int) -> Prepared:
    """A fresh database at ``url`` with the workflow users, ``families`` simulated families and
    ``unidentified`` unidentified persons imported (and searched) through the intake service."""
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    from workflow_world import make_world

    from reunite.cases import intake
    from reunite.simulate import simulate_database, write_database

    world = make_world(url)
    sim = write_database(simulate_database(families, unidentified, seed=seed), folder / "base")
    actor = world.actor("analyst")
    for kind in KINDS:
        intake.import_file(world.engine, world.model, kind, sim[kind], actor=actor, search=kind == "unidentified")
    tokens = {u: world.token(u) for u in ("analyst", "reviewer1", "reviewer2", "auditor")}
    codes = [line.split(",", 1)[0] for line in Path(sim["unidentified"]).read_text().splitlines()[1:]]
    counts = table_counts(world.engine)
    world.engine.dispose()
    return Prepared(url=url, tokens=tokens, codes=codes, counts=counts)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REUNITE_") or k == "REUNITE_DATA_DIR"}
    env.update(REUNITE_DATABASE_URL=url, COLUMNS="200")
    return env


def start_server(url: str, log: Path, *, workers: int = 1, timeout: float = 120) -> tuple[subprocess.Popen, str]:
    """``reunite serve`` on a free loopback port; returns the process and the API's base URL."""
    port = free_port()
    fh = log.open("w")
    proc = subprocess.Popen(REUNITE + ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
                            env=server_env(url),
                            stdout=fh, stderr=subprocess.STDOUT)
    api = f"http://127.0.0.1:{port}/api/v1"
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(f"{api}/openapi.json", timeout=2)
            return proc, api
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"the server did not start:\n{log.read_text()}") from None
            time.sleep(0.2)


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)


# ---------------------------------------------------------------------------------------
# the clients


@dataclass
class Upload:
    """An import the server acknowledged (201): its batch and the codes it holds."""
    kind: str
    batch_id: int
    rows: int
    codes: list[str]


@dataclass
class LoadResult:
    wall: float = 0.0
    timings: list = field(default_factory=list)  # (endpoint, seconds)
    statuses: list = field(default_factory=list)  # (endpoint, status)
    unexpected: list = field(default_factory=list)  # "endpoint status: body" of any answer not expected
    failures: list = field(default_factory=list)  # exceptions in a client
    uploads: list = field(default_factory=list)  # Upload
    rejected: list = field(default_factory=list)  # reviewed to 'rejected': candidate ids
    set_aside: list = field(default_factory=list)
    conflicts: int = 0
    twice: int = 0  # files uploaded twice at once
    clients: dict = field(default_factory=dict)


class Clients:
    """The load's clients (threads, one httpx client each) and what they saw."""

    def __init__(self, api: str, prepared: Prepared, folder: Path, *, seed: int):
        self.api, self.prepared, self.folder, self.seed = api, prepared, folder, seed
        self.result = LoadResult()
        self.lock = threading.Lock()
        self.rounds = 0
        self.codes = list(prepared.codes)  # the unidentified persons searchable (grows with the imports)

    def call(self, client: httpx.Client, name: str, method: str, path: str, *, ok=(200,), **kw) -> httpx.Response:
        t = time.perf_counter()
        r = client.request(method, path, **kw)
        took = time.perf_counter() - t
        with self.lock:
            self.result.timings.append((name, took))
            self.result.statuses.append((name, r.status_code))
            if r.status_code == EXPECTED_CONFLICT and EXPECTED_CONFLICT in ok:
                self.result.conflicts += 1
            elif r.status_code not in ok:
                self.result.unexpected.append(f"{method} {path} -> {r.status_code}: {r.text[:300]}")
        return r

    # importing ---------------------------------------------------------------------------

    def _files(self) -> dict:
        from reunite.simulate import simulate_database, write_database

        with self.lock:
            self.rounds += 1
            k = self.rounds
        sim = simulate_database(3, 2, seed=self.seed * 100_000 + k, first_family=1_000_000 + 10 * k,
                                first_unidentified=1_000_000 + 10 * k)
        return write_database(sim, self.folder / f"upload{k}")

    def importer(self, client: httpx.Client, rng: random.Random) -> None:
        """One round: a genotype file, then a family file and an unidentified-person file of
        new people; a third of the rounds send each file twice at once (two connections):
        one upload is imported (201), the other refused as already there (422)."""
        files = self._files()
        twice = rng.random() < 1 / 3
        for kind in KINDS:
            if twice:
                r = self._twice(client, kind, files[kind])
            else:
                with open(files[kind], "rb") as fh:
                    r = self.call(client, f"POST /imports/{kind}", "POST", f"/imports/{kind}", ok=(201,),
                                  files={"file": (f"{kind}.csv", fh, "text/csv")})
            if r is None or r.status_code != 201:
                return
            body = r.json()
            lines = Path(files[kind]).read_text().splitlines()[1:]
            codes = sorted({line.split(",", 1)[0] for line in lines})
            with self.lock:
                self.result.uploads.append(Upload(kind, body["batch_id"], body["rows"], codes))
                if kind == "unidentified":
                    self.codes += codes
            if body.get("search_error"):
                with self.lock:
                    self.result.unexpected.append(f"import {kind}: search_error {body['search_error']}")

    def _twice(self, client: httpx.Client, kind: str, path: Path) -> httpx.Response | None:
        """The same file uploaded on two connections at once; returns the 201 (None if not
        exactly one upload was imported and the other refused)."""
        data = Path(path).read_bytes()
        start = threading.Barrier(2)
        answers: list = [None, None]

        def send(k, c):
            start.wait()
            answers[k] = self.call(c, f"POST /imports/{kind} (same file twice at once)", "POST", f"/imports/{kind}",
                                   ok=(201, 422), files={"file": (f"{kind}.csv", data, "text/csv")})

        with httpx.Client(base_url=self.api, headers=client.headers, timeout=300) as other:
            second = threading.Thread(target=send, args=(1, other))
            second.start()
            send(0, client)
            second.join()
        codes = sorted(r.status_code for r in answers)
        with self.lock:
            self.result.twice += 1
        if codes != [201, 422]:
            with self.lock:
                self.result.unexpected.append(f"{kind} uploaded twice at once: {codes}, expected one 201 and one 422")
            return None
        return next(r for r in answers if r.status_code == 201)

    # searching ---------------------------------------------------------------------------

    def searcher(self, client: httpx.Client, rng: random.Random) -> None:
        with self.lock:
            codes = rng.sample(self.codes, k=min(len(self.codes), rng.choice([1, 1, 1, 3])))
        store = rng.random() < 0.5
        self.call(client, f"POST /searches (store={store})", "POST", "/searches",
                  json={"unidentified": codes, "store": store})

    # reviewing ---------------------------------------------------------------------------

    def reviewer(self, client: httpx.Client, rng: random.Random, username: str) -> None:
        r = self.call(client, "GET /candidates", "GET", "/candidates", params={"limit": 5, "status": "new"})
        if r.status_code != 200 or not r.json()["items"]:
            time.sleep(0.05)
            return
        item = rng.choice(r.json()["items"])  # both reviewers choose among the same few: collisions
        cid = item["id"]
        r = self.call(client, "GET /candidates/{id}", "GET", f"/candidates/{cid}")
        if r.status_code != 200:
            return
        step = {"ok": (200, EXPECTED_CONFLICT)}
        if rng.random() < 0.3:
            r = self.call(client, "POST /candidates/{id}/set-aside", "POST", f"/candidates/{cid}/set-aside",
                          json={"reason": "load test", "version": item["version"]}, **step)
            if r.status_code == 200:
                with self.lock:
                    self.result.set_aside.append(cid)
            return
        r = self.call(client, "POST /candidates/{id}/assign", "POST", f"/candidates/{cid}/assign",
                      json={"to": username, "version": item["version"]}, **step)
        if r.status_code != 200:
            return
        r = self.call(client, "POST /candidates/{id}/start-review", "POST", f"/candidates/{cid}/start-review",
                      json={"version": r.json()["version"]}, **step)
        if r.status_code != 200:
            return
        r = self.call(client, "POST /candidates/{id}/reject", "POST", f"/candidates/{cid}/reject",
                      json={"reason": "load test: not a match", "version": r.json()["version"]}, **step)
        if r.status_code == 200:
            with self.lock:
                self.result.rejected.append(cid)

    # running -----------------------------------------------------------------------------

    def run(self, seconds: float, *, importers: int = 2, searchers: int = 2, reviewers: int = 2) -> LoadResult:
        end = time.monotonic() + seconds
        tokens = self.prepared.tokens

        def loop(work, user, number, *extra):
            rng = random.Random(f"{self.seed}-{work.__name__}-{number}")
            try:
                with httpx.Client(base_url=self.api, headers={"Authorization": f"Bearer {tokens[user]}"},
                                  timeout=300) as client:
                    while time.monotonic() < end:
                        work(client, rng, *extra)
            except BaseException as exc:  # noqa: BLE001 - reported with the result
                with self.lock:
                    self.result.failures.append(f"{work.__name__} {number}: {exc!r}")

        threads = ([threading.Thread(target=loop, args=(self.importer, "analyst", k)) for k in range(importers)]
                   + [threading.Thread(target=loop, args=(self.searcher, "analyst", k)) for k in range(searchers)]
                   + [threading.Thread(target=loop, args=(self.reviewer, f"reviewer{k % 2 + 1}", k,
                                                          f"reviewer{k % 2 + 1}")) for k in range(reviewers)])
        self.result.clients = {"importing": importers, "searching": searchers, "reviewing": reviewers}
        t0 = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.result.wall = time.perf_counter() - t0
        return self.result


def report(result: LoadResult) -> str:
    """Requests/s overall, p50 and p99 per endpoint (milliseconds)."""
    lat = np.array([t for _, t in result.timings]) if result.timings else np.zeros(1)
    clients = ", ".join(f"{n} {what}" for what, n in result.clients.items())
    lines = [f"{sum(result.clients.values())} clients ({clients}) for {result.wall:.1f} s: "
             f"{len(result.timings):,} requests, {len(result.timings) / result.wall:.1f} requests/s, "
             f"p50 {np.percentile(lat, 50) * 1e3:.0f} ms, p99 {np.percentile(lat, 99) * 1e3:.0f} ms",
             f"  {sum(u.kind == 'families' for u in result.uploads)} family and "
             f"{sum(u.kind == 'unidentified' for u in result.uploads)} unidentified imports acknowledged; "
             f"{len(result.rejected)} candidates rejected, {len(result.set_aside)} set aside, "
             f"{result.conflicts} review conflicts (409); {result.twice} files uploaded twice at once; "
             f"{len(result.unexpected)} unexpected answers"]
    for name in sorted({k for k, _ in result.timings}):
        x = np.array([t for k, t in result.timings if k == name])
        lines.append(f"  {name:52} {len(x):6,}  p50 {np.percentile(x, 50) * 1e3:7.0f} ms  "
                     f"p99 {np.percentile(x, 99) * 1e3:7.0f} ms")
    return "\n".join(lines)


def run_load(url: str, folder: Path, *, seconds: float, families: int, seed: int = 1, workers: int = 1,
             **clients) -> tuple[Prepared, LoadResult, str]:
    """Prepare the database, start the server, run the clients, stop the server; returns what
    was prepared, the result and the server's log."""
    prepared = prepare(url, folder, families=families, unidentified=max(1, families // 3), seed=seed)
    proc, api = start_server(url, folder / "server.log", workers=workers)
    try:
        result = Clients(api, prepared, folder, seed=seed).run(seconds, **clients)
    finally:
        stop_server(proc)
    return prepared, result, (folder / "server.log").read_text()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--families", type=int, default=600)
    p.add_argument("--workers", type=int, default=1, help="the server's worker processes")
    p.add_argument("--clients", type=int, default=2, help="clients of each kind (importing, searching, reviewing)")
    p.add_argument("--postgres", metavar="URL", help="a PostgreSQL database URL (emptied first is up to you); "
                   "default: a new SQLite file")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="reunite-bench-load-") as tmp:
        folder = Path(tmp)
        os.environ.setdefault("REUNITE_DATA_DIR", str(folder / "data"))
        url = a.postgres or f"sqlite:///{folder / 'load.db'}"
        t = time.perf_counter()
        _, result, log = run_load(url, folder, seconds=a.seconds, families=a.families, workers=a.workers,
                                  importers=a.clients, searchers=a.clients, reviewers=a.clients)
        if "Traceback" in log:
            print(log[-4000:])
        print(f"database: {url.split('://')[0]}, {a.families:,} families before the load, server workers "
              f"{a.workers} "
              f"(prepared and served in {time.perf_counter() - t - result.wall:.0f} s)")
        print(report(result))
        for line in result.unexpected[:10] + result.failures[:10]:
            print("  unexpected:", line)


if __name__ == "__main__":
    main()
