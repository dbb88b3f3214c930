"""REST API benchmark: candidate routes and one-to-many searches through a real server.

Run with ``make bench`` (or ``python bench/bench_api.py [--families N] [--requests R]
[--million]``).  Builds a simulated database (never real people) of ``--families`` families
(default 100,000) through the intake service, starts ``reunite serve`` (Uvicorn, one worker,
loopback) on it, then prints, for one client (httpx, sequential requests):

- candidate list (``GET /candidates``, 50 a page) and candidate detail (``GET
  /candidates/{id}``): requests per second, p50 and p99 (routes the server lacks are skipped
  with a message);
- one-to-many search through the API (``POST /searches``, not stored: the server's family
  index in memory) against every family: p50 and p99, and the same search with the CLI
  (``reunite search --unidentified CODE --no-store``: a process that loads the index file),
  wall time, and their ratio, measured in the same run.

``--million`` (or ``REUNITE_BENCH_MILLION=1``) repeats the search part against 1,000,000
families, whose rows are inserted directly (a few minutes; ``--slow-million``: through the
importers, about an hour); the unidentified persons are imported through the service.  Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import httpx  # noqa: E402
from sqlalchemy import select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from reunite.cases import intake  # noqa: E402
from reunite.simulate import simulate_database, write_database  # noqa: E402
from reunite.store.db import make_engine, upgrade, write_transaction  # noqa: E402
from reunite.store.models import Setting  # noqa: E402
from reunite.store.profiles import GeneticModel  # noqa: E402

PART = 50_000
PASSWORD = "benchmark password, long enough"
REUNITE = [sys.executable, "-c", "from reunite.cli import main; main()"]


def build(folder: Path, num_families: int, num_unidentified: int, *, seed: int,
          fast: bool = False) -> tuple[str, list[str], str]:
    """A simulated database at ``folder/api.db`` imported through :mod:`reunite.cases.intake`
    (families in parts of 50,000; the unidentified persons last, searched, so candidates are
    stored); returns (URL, codes of unidentified persons, an analyst's API token).  ``fast``:
    samples, families and members inserted directly (:func:`_bulk_part`), not imported."""
    import json

    from reunite.security import tokens
    from reunite.security.users import bootstrap_actor, create_user
    from reunite.store.models_workflow import User

    url = f"sqlite:///{folder / 'api.db'}"
    engine = make_engine(url)
    upgrade(engine)
    model = GeneticModel("CHN_national_GBT37223")
    write_transaction(engine, lambda s: s.add(Setting(key="genetic_model", value=json.dumps(model.to_json()))))
    actor = intake.local_actor("bench")
    made_u = 0
    next_sample = 1
    codes: list[str] = []
    t = time.perf_counter()
    for k, start in enumerate(range(0, num_families, PART)):
        n = min(PART, num_families - start)
        n_u = (num_unidentified * (start + n)) // num_families - made_u
        db = simulate_database(n, n_u, seed=seed * 1000 + k, first_family=start + 1, first_unidentified=made_u + 1)
        made_u += n_u
        paths = write_database(db, folder / f"part{k}")
        if fast:
            next_sample = write_transaction(engine, lambda s: _bulk_part(s, db, part=k, next_sample=next_sample))
        else:
            intake.import_file(engine, model, "genotypes", paths["genotypes"], actor=actor)
            intake.import_file(engine, model, "families", paths["families"], actor=actor, search=False)
        codes += [u[0] for u in db["unidentified"]]
        if k == 0:
            first_unidentified = paths["unidentified"]
        else:
            first_unidentified = _append(first_unidentified, paths["unidentified"])
        print(f"  {start + n:,} families {'inserted' if fast else 'imported'} ({time.perf_counter() - t:.0f} s)",
              flush=True)
    t1 = time.perf_counter()
    intake.import_file(engine, model, "unidentified", first_unidentified, actor=actor)  # builds the index file
    print(f"  {len(codes):,} unidentified persons imported and searched, index built "
          f"({time.perf_counter() - t1:.0f} s)", flush=True)

    def users(s):
        user = create_user(s, actor=bootstrap_actor(), username="bench_analyst", password=PASSWORD,
                           roles=["analyst"], jurisdiction_code="CN")
        return tokens.issue(s, user, kind="api", lifetime=timedelta(days=1), name="bench")[0]

    token = write_transaction(engine, users)
    with Session(engine) as s:
        assert s.execute(select(User.id)).first() is not None
    engine.dispose()
    return url, codes, token


def _bulk_part(session, db: dict, *, part: int, next_sample: int) -> int:
    """Insert one simulated part's reference samples, families and members directly (no
    importer validation: the fast way to a 1,000,000-family database); the unidentified
    persons' samples are inserted unowned, for the unidentified import.  Returns the next
    free sample id."""
    from sqlalchemy import insert

    from reunite.store.models import Family, FamilyMember, ImportBatch, Sample
    from reunite.store.profiles import pack_profile

    profiles: dict[str, dict] = {}
    for sample, locus, a, b in db["genotypes"]:
        profiles.setdefault(sample, {})[locus] = (a, b)
    batch = ImportBatch(kind="families", source=f"bench-part-{part}.csv", num_rows=len(db["families"]),
                        created_by="bench")
    session.add(batch)
    session.flush()
    ids: dict[str, int] = {}
    owners = {r[6]: "family_member" for r in db["families"] if r[6]}
    rows = []
    for code, prof in profiles.items():
        ids[code] = next_sample
        rows.append({"id": next_sample, "code": code, "profile": pack_profile(prof), "num_loci": len(prof),
                     "owner_kind": owners.get(code), "status": "active", "version": 1})
        next_sample += 1
    session.execute(insert(Sample), rows)
    fams: dict[str, int] = {}
    first = session.execute(select(func_max(Family.id))).scalar() or 0
    for code, *_rest in db["families"]:
        if code not in fams:
            fams[code] = first + len(fams) + 1
    types = {r[0]: r[7] for r in db["families"]}
    session.execute(insert(Family), [{"id": i, "code": c, "family_type": types[c], "batch_id": batch.id,
                                      "population": None} for c, i in fams.items()])
    session.execute(insert(FamilyMember), [
        {"family_id": fams[code], "person_code": person, "father_code": father or None, "mother_code": mother or None,
         "sex": sex, "role": role, "sample_id": ids[sample] if sample else None,
         "sample_owner_kind": "family_member" if sample else None}
        for code, person, father, mother, sex, role, sample, *_ in db["families"]])
    return next_sample


def func_max(column):
    from sqlalchemy import func

    return func.max(column)


def _append(first: Path, more: Path) -> Path:
    """Append the rows of ``more`` (CSV, same header) to ``first``."""
    with more.open(encoding="utf-8") as src, first.open("a", encoding="utf-8") as dst:
        next(src)
        dst.writelines(src)
    return first


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(url: str, folder: Path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REUNITE_")}
    env.update(REUNITE_DATABASE_URL=url)
    log = (folder / "server.log").open("w")
    proc = subprocess.Popen(REUNITE + ["serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/api/v1"
    deadline = time.monotonic() + 120
    while True:
        try:
            httpx.get(f"{base}/openapi.json", timeout=2)
            return proc, base
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start; see {folder / 'server.log'}") from None
            time.sleep(0.2)


def timed(client: httpx.Client, requests) -> tuple[float, float, float, int]:
    """Send the requests one after another: (requests/s, p50 ms, p99 ms, failures)."""
    times, failed = [], 0
    t0 = time.perf_counter()
    for method, path, body in requests:
        t = time.perf_counter()
        r = client.request(method, path, json=body)
        times.append((time.perf_counter() - t) * 1000)
        failed += r.status_code >= 400
    total = time.perf_counter() - t0
    times.sort()
    p99 = times[min(len(times) - 1, int(round(0.99 * (len(times) - 1))))]
    return len(times) / total, statistics.median(times), p99, failed


def candidate_routes(client: httpx.Client, paths: dict, n: int) -> None:
    if "/api/v1/candidates" not in paths:
        print("candidate routes: GET /api/v1/candidates is not in this server's API; skipped")
        return
    first = client.get("/candidates", params={"limit": 500})
    if first.status_code != 200:
        print(f"candidate routes: GET /candidates answered {first.status_code}; skipped ({first.text[:200]})")
        return
    items = first.json().get("items", [])
    ids = [c.get("id") or c.get("candidate_id") for c in items]
    ids = [i for i in ids if i is not None]
    rps, p50, p99, bad = timed(client, [("GET", "/candidates?limit=50", None)] * n)
    print(f"GET /candidates (50 a page): {rps:,.1f} requests/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms"
          + (f" ({bad} failed)" if bad else ""))
    if "/api/v1/candidates/{candidate_id}" not in paths or not ids:
        print("candidate detail: no route or no candidate id; skipped")
        return
    rps, p50, p99, bad = timed(client, [("GET", f"/candidates/{ids[k % len(ids)]}", None) for k in range(n)])
    print(f"GET /candidates/{{id}} (detail, per-locus LRs): {rps:,.1f} requests/s, p50 {p50:.1f} ms, "
          f"p99 {p99:.1f} ms" + (f" ({bad} failed)" if bad else ""))


def searches(client: httpx.Client, url: str, codes: list[str], *, n: int, families: int, cli_runs: int) -> None:
    """One-to-many through the API (index in memory) and through the CLI (index file loaded)."""
    t = time.perf_counter()
    r = client.post("/searches", json={"unidentified": [codes[0]], "store": False})  # waits for the index
    first = time.perf_counter() - t
    if r.status_code != 200:
        raise SystemExit(f"POST /searches answered {r.status_code}: {r.text[:300]}")
    reqs = [("POST", "/searches", {"unidentified": [codes[1 + k % (len(codes) - 1)]], "store": False})
            for k in range(n)]
    rps, p50, p99, bad = timed(client, reqs)
    print(f"one-to-many through the API against {families:,} families (index in the server's memory): "
          f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, {rps:,.1f} searches/s (first search, waiting for the index "
          f"loaded at startup: {first:.1f} s)" + (f" ({bad} failed)" if bad else ""))
    env = {k: v for k, v in os.environ.items() if not k.startswith("REUNITE_")}
    env.update(REUNITE_DATABASE_URL=url)
    walls = []
    for k in range(cli_runs):
        t = time.perf_counter()
        done = subprocess.run(REUNITE + ["search", "--unidentified", codes[1 + k], "--no-store"], env=env,
                              capture_output=True, text=True)
        walls.append(time.perf_counter() - t)
        if done.returncode != 0:
            print(f"  the CLI search failed: {done.stderr[-300:]}")
    t = time.perf_counter()
    subprocess.run(REUNITE + ["--version"], env=env, capture_output=True)
    startup = time.perf_counter() - t
    cli = statistics.median(walls)
    print(f"the same search with the CLI ('reunite search --unidentified CODE --no-store'): median wall "
          f"{cli:.2f} s over {cli_runs} runs (of which starting Python and reunite ~{startup:.2f} s); "
          f"the API answers {cli * 1000 / p50:,.0f}x faster (p50)")


def run(families: int, *, unidentified: int, requests: int, seed: int, candidates: bool, fast: bool = False) -> None:
    with tempfile.TemporaryDirectory(prefix="reunite-bench-api-") as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        print(f"building a simulated database of {families:,} families and {unidentified:,} unidentified "
              "persons through the intake service ...", flush=True)
        url, codes, token = build(folder, families, unidentified, seed=seed, fast=fast)
        print(f"built in {time.perf_counter() - t:.0f} s; starting 'reunite serve' on loopback", flush=True)
        proc, base = start_server(url, folder)
        try:
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=600) as client:
                paths = client.get("/openapi.json").json()["paths"]
                searches(client, url, codes, n=max(10, requests // 10), families=families, cli_runs=3)
                if candidates:
                    candidate_routes(client, paths, requests)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", type=int, default=100_000)
    parser.add_argument("--unidentified", type=int, default=300)
    parser.add_argument("--requests", type=int, default=300, help="requests timed per candidate route")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--million", action="store_true", default=os.environ.get("REUNITE_BENCH_MILLION") == "1",
                        help="also search against 1,000,000 families (tens of minutes to build)")
    parser.add_argument("--slow-million", action="store_true",
                        help="build the 1,000,000 families through the importers (an hour) instead of inserting them")
    parser.add_argument("--only-million", action="store_true", help="only the search against 1,000,000 families")
    args = parser.parse_args()
    print(f"reunite API benchmark (one client, sequential requests; {os.cpu_count()} cores)")
    if not args.only_million:
        run(args.families, unidentified=args.unidentified, requests=args.requests, seed=args.seed, candidates=True)
    if args.million or args.only_million:
        print()
        run(1_000_000, unidentified=args.unidentified, requests=args.requests, seed=args.seed, candidates=False,
            fast=not args.slow_million)
    else:
        print("(the search against 1,000,000 families: --million or REUNITE_BENCH_MILLION=1)")


if __name__ == "__main__":
    main()
