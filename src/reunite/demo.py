"""``make demo``: LRs of a few realistic, simulated kinship cases, a simulated national database
searched, and (development mode) the case workflow from report to a child's return home."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import time
from pathlib import Path

from rich.console import Console

from reunite.errors import ReuniteError
from rich.table import Table

from reunite.cli import _fmt_lr
from reunite.genetics import pedigree as ped
from reunite.genetics.caseio import FORMAT
from reunite.genetics.kinship import Marker, Mutation, kinship_lr, kinship_lr_many
from reunite.genetics.kits import CHN24, kit_markers
from reunite.simulate import simulate_genotypes

POPULATION = "CHN_national_GBT37223"


def demo_cases(*, seed: int) -> list[tuple[str, str, object, object, list]]:
    """(id, description, H1, H2, markers) for the demo cases, genotypes simulated."""
    markers = kit_markers(POPULATION, kit=CHN24, mutation="stepwise")
    trio = ped.trio("AF", "MO", "CH")
    mother_duo = ped.duo("MO", "CH", parent_sex="F")
    sibs = ped.full_sibs("S1", "S2")
    gp = ped.grandparents("GF", "GM", "CH", parent="FA", other_parent="MO")
    not_father = ped.make_pedigree([ped.Individual("AF", sex="M"), ped.Individual("MO", sex="F"),
                                    ped.Individual("CH", None, "MO")])
    mut_locus = "D12S391"
    cases = [
        ("trio", "alleged father, mother, child", trio, not_father,
         simulate_genotypes(trio, markers=markers, seed=seed)),
        ("mother_duo", "mother, child", mother_duo, "unrelated",
         simulate_genotypes(mother_duo, markers=markers, seed=seed + 1)),
        ("full_sibs", "full sibling, child", sibs, "unrelated",
         simulate_genotypes(sibs, markers=markers, seed=seed + 2)),
        ("grandparents", "paternal grandparents, child", gp, "unrelated",
         simulate_genotypes(gp, markers=markers, seed=seed + 3, typed=["GF", "GM", "CH"])),
        ("trio_mutation", f"trio, paternal mutation at {mut_locus}",
         trio, not_father,
         simulate_genotypes(trio, markers=markers, seed=seed + 4, force_mutation=(mut_locus, "CH"))),
    ]
    return cases


def case_document(cases) -> dict:
    """The demo cases of :func:`demo_cases` in the kinship case format (``reunite lr``)."""

    def people(h):
        return h if isinstance(h, str) else [
            {"id": p.id, "father": p.father, "mother": p.mother, "sex": p.sex} for p in h.individuals]

    def mutation(m: Mutation | None):
        if m is None:
            return {"model": "none"}
        out = {"model": m.male.model}
        for key in ("rate", "rate2", "range") if m.male.model == "stepwise" else ("rate",):
            female, male = getattr(m.female, key), getattr(m.male, key)
            out[key] = female if female == male else {"female": female, "male": male}
        return out

    return {"format": FORMAT, "population": POPULATION, "cases": [
        {"id": cid, "H1": people(h1), "H2": people(h2), "theta": 0.0, "markers": [
            {"name": m.name, "genotypes": {pid: f"{a}/{b}" for pid, (a, b) in m.genotypes.items()},
             "mutation": mutation(m.mutation)} for m in markers]}
        for cid, _, h1, h2, markers in cases]}


def run_demo(console: Console, *, seed: int = 2016) -> None:
    """Part one: the LRs of five simulated kinship cases."""
    cases = demo_cases(seed=seed)
    results = kinship_lr_many([(cid, h1, h2, m, 0.0) for cid, _, h1, h2, m in cases])
    table = Table(title=f"reunite demo: simulated cases, {len(CHN24)} loci, {POPULATION}, "
                        "stepwise mutation with the shipped per-locus rates, θ = 0")
    for col in ("case", "typed (H1: related as named)", "H2", "LR", "log10 LR"):
        table.add_column(col, overflow="fold")
    for (cid, desc, _, h2, _), r in zip(cases, results):
        vs = "not the father" if not isinstance(h2, str) else "unrelated"
        table.add_row(cid, desc, vs, _fmt_lr(r.lr_total), f"{r.log10_lr_total:.2f}")
    console.print(table)
    r = results[-1]
    locus = min(r.lr_per_marker, key=r.lr_per_marker.get)
    cid, _, h1, h2, markers = cases[-1]
    marker = next(m for m in markers if m.name == locus)
    plain = Marker(marker.name, marker.afreq, marker.genotypes, None, marker.n_individuals, marker.source)
    without = kinship_lr(h1, h2, [plain]).lr_per_marker[locus]
    g = {pid: "/".join(sorted(ab, key=float)) for pid, ab in marker.genotypes.items()}
    console.print(
        f"\nIn [bold]{cid}[/bold] at {locus} the child is {g['CH']}, the mother "
        f"{g['MO']} and the alleged father {g['AF']}. Without a mutation model "
        f"that locus gives LR {_fmt_lr(without)}; with the stepwise model it gives "
        f"LR {_fmt_lr(r.lr_per_marker[locus])}, and the total over {len(r.lr_per_marker)} loci is "
        f"{_fmt_lr(r.lr_total)} (log10 {r.log10_lr_total:.2f})."
    )


def accuracy_by_family_type(db: dict, candidates) -> list[tuple[str, int, int, int]]:
    """Per family type: (type, true matches, ranked first, false candidates with LR >= 10,000)."""
    ftype = {r[0]: r[7] for r in db["families"]}
    truth = {(u, f) for u, f, _ in db["truth"]}
    by_u_first = {c.unidentified.code: c.family.code for c in candidates if c.rank == 1}
    rows = []
    for t in sorted(set(ftype.values())):
        true_pairs = [(u, f) for u, f in truth if ftype[f] == t]
        first = sum(1 for u, f in true_pairs if by_u_first.get(u) == f)
        false_high = sum(1 for c in candidates if ftype[c.family.code] == t and c.log10_lr >= 4
                         and (c.unidentified.code, c.family.code) not in truth)
        rows.append((t, len(true_pairs), first, false_high))
    return rows


def run_database_demo(console: Console, *, seed: int, out_dir: Path, num_families: int = 2000,
                      num_unidentified: int = 500) -> str | None:
    """Simulate a database, import it into SQLite, search it, and report what was found.

    Returns the id of the unidentified child of the strongest candidate (None if none).
    """
    from sqlalchemy.orm import Session

    from reunite.search.service import csv_details, run_search, write_csv
    from reunite.simulate import simulate_database, write_database
    from reunite.store.db import make_engine, upgrade
    from reunite.store.importers import import_all
    from reunite.store.models import Setting
    from reunite.store.profiles import GeneticModel

    out_dir.mkdir(parents=True, exist_ok=True)
    db_path = out_dir / "reunite.db"
    for suffix in ("", "-wal", "-shm", ".index"):  # a new database, and no index of an old one
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    t0 = time.perf_counter()
    db = simulate_database(num_families, num_unidentified, seed=seed, dates=True, num_duplicates=2)
    paths = write_database(db, out_dir / "simulated")
    console.print(f"\n[bold]National database demo[/bold]: simulated {num_families:,} families and "
                  f"{num_unidentified:,} unidentified children ({len(db['truth']):,} of them a family's "
                  f"missing child) in {time.perf_counter() - t0:.1f} s -> {paths['genotypes'].parent}")
    model = GeneticModel(POPULATION)
    engine = make_engine(f"sqlite:///{db_path}")
    upgrade(engine)
    t0 = time.perf_counter()
    with Session(engine) as s, s.begin():
        s.add(Setting(key="genetic_model", value=json.dumps(model.to_json())))
        g, f, u = import_all(s, paths, model=model)
    console.print(f"imported {g.num_records:,} profiles, {f.num_records:,} families and {u.num_records:,} "
                  f"unidentified persons into {db_path} in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    with Session(engine) as s, s.begin():
        result = run_search(s, model, min_lr=1.0, top_k=5, workers=os.cpu_count() or 1)
    elapsed = time.perf_counter() - t0
    with Session(engine) as s:
        write_csv(result, out_dir / "matches.csv", details=csv_details(s, result))
    console.print(f"searched {result.num_compared:,} pairs exactly in {elapsed:.1f} s "
                  f"({result.skipped_sex:,} skipped because the sexes differ, {result.skipped_age:,} because "
                  f"the dates exclude them, {result.skipped_loci:,} for fewer than {model.min_common_loci} "
                  f"common loci); candidates -> {out_dir / 'matches.csv'}")
    flagged = sorted({c.unidentified.code for c in result.candidates if c.flags})
    if flagged:
        from reunite.search.identity import flag_text

        console.print(f"[red]identity flags[/red] (look at these before any LR): {len(flagged)} children "
                      "have a profile identical or nearly identical to another person's, e.g.")
        shown = {}
        for c in result.candidates:
            if c.flags and len(shown) < 4:
                shown.setdefault(c.unidentified.code, "; ".join(flag_text(f) for f in c.flags))
        for code, text in shown.items():
            console.print(f"  {code}: {text}", highlight=False)
    truth = {(t[0], t[1]) for t in db["truth"]}
    top = sorted((c for c in result.candidates if c.rank == 1), key=lambda c: -c.log10_lr)[:10]
    table = Table(title="strongest candidates (rank 1 for their unidentified child)")
    for col in ("unidentified", "family", "missing", "LR", "log10 LR", "loci", "inconsistent", "true?"):
        table.add_column(col, overflow="fold")
    for c in top:
        table.add_row(c.unidentified.code, c.family.code, c.missing, _fmt_lr(c.lr), f"{c.log10_lr:.1f}",
                      str(c.loci_compared), ",".join(c.inconsistent_loci) or "-",
                      "yes" if (c.unidentified.code, c.family.code) in truth else "NO")
    console.print(table)
    acc = Table(title="accuracy by family type (simulated truth)")
    for col in ("family type", "true matches", "ranked first", "false candidates LR >= 10,000"):
        acc.add_column(col, overflow="fold")
    for t, n, first, false_high in accuracy_by_family_type(db, result.candidates):
        acc.add_row(t, str(n), f"{first} ({first / n:.0%})" if n else "-", str(false_high))
    console.print(acc)
    return top[0].unidentified.code if top else None


def run_all(console: Console, *, seed: int = 2016, out_dir: Path = Path("demo-output"),
            num_families: int = 2000, num_unidentified: int = 500) -> None:
    """Both parts of the demo, the demo cases written to ``out_dir/cases.json``, then what to
    run next (every command works as printed, from the current folder)."""
    run_demo(console, seed=seed)
    example = run_database_demo(console, seed=seed, out_dir=out_dir, num_families=num_families,
                                num_unidentified=num_unidentified)
    cases_path = out_dir / "cases.json"
    cases_path.write_text(json.dumps(case_document(demo_cases(seed=seed)), indent=1) + "\n",
                          encoding="utf-8")
    workflow = run_workflow_demo(console, seed=seed, out_dir=out_dir)
    console.print("\nWhere to look next (run from this folder):")
    for command, what in next_steps(out_dir, example_unidentified=example, workflow=workflow):
        console.print(f"  {what}:\n    {command}", soft_wrap=True, markup=False, highlight=False)


def free_port(port: int, *, host: str = "127.0.0.1", tries: int = 20) -> int:
    """``port``, or the next one free on ``host`` (another server may hold 8000)."""
    import socket

    for candidate in range(port, min(port + tries, 65536)):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, candidate))
            except OSError:
                continue
            return candidate
    raise ReuniteError(f"--port: ports {port} to {port + tries - 1} on {host} are all in use; choose another "
                       "with --port")


def serve_demo(console: Console, *, out_dir: Path, port: int = 8000) -> None:
    """The web app (and the API) on the demo's database until Ctrl-C, development mode."""
    import os

    import uvicorn

    from reunite.settings import Settings

    if not Settings().development:
        console.print("[yellow]web app not started[/yellow]: REUNITE_ENV is not development (the demo's "
                      "passwords were not made)", highlight=False)
        return
    port = free_port(port)
    os.environ["REUNITE_DATABASE_URL"] = f"sqlite:///{(out_dir / 'reunite.db').resolve()}"
    url = f"http://127.0.0.1:{port}/"
    console.print(f"\n[bold]The web app is running on the demo's data: {url}[/bold]", highlight=False)
    console.print("  Log in as one of the demo accounts above (user name and password), e.g. inv_butuo "
                  "(a county investigator), reviewer1 and reviewer2 (reviewers), welfare_linyi, auditor; "
                  f"the API's documentation is at {url}api/v1/docs.  Ctrl-C stops it.", highlight=False)
    uvicorn.run("reunite.cli_serve:server_app", factory=True, host="127.0.0.1", port=port, log_level="warning",
                server_header=False)
    console.print("web app stopped", highlight=False)


def run_workflow_demo(console: Console, *, seed: int, out_dir: Path) -> bool:
    """Part three, in development mode only: users of every role (passwords printed once),
    simulated reports, a rescue operation, searches, a review ending in a confirmed match and
    an outcome, in the demo's database (:mod:`reunite.demo_workflow`).  Returns whether it ran."""
    from sqlalchemy.orm import Session

    from reunite.demo_workflow import print_workflow, run_workflow
    from reunite.settings import Settings
    from reunite.store.db import make_engine, read_settings
    from reunite.store.profiles import GeneticModel

    if not Settings().development:
        console.print("\n[yellow]case workflow demo skipped[/yellow]: REUNITE_ENV is not development; the demo "
                      "creates users with passwords printed on the screen only in development mode", highlight=False)
        return False
    t0 = time.perf_counter()
    engine = make_engine(f"sqlite:///{out_dir / 'reunite.db'}")
    try:
        with Session(engine) as s:
            model = GeneticModel.from_json(read_settings(s)["genetic_model"])
        result = run_workflow(engine, model, data_dir=out_dir / "workflow", seed=seed)
    finally:
        engine.dispose()
    url = shlex.quote(f"sqlite:///{shown_path(out_dir / 'reunite.db')}")
    print_workflow(console, result, database_url=url, reunite=reunite_command())
    console.print(f"(case workflow in {time.perf_counter() - t0:.1f} s; its simulated genotype files in "
                  f"{shown_path(out_dir / 'workflow')})", highlight=False, markup=False)
    return True


def next_steps(out_dir: Path, *, example_unidentified: str | None = None,
               workflow: bool = False) -> list[tuple[str, str]]:
    """``(line, what it shows)`` for the demo's closing hints; command lines start with ``$ ``.

    Paths are relative to the current folder when inside it, else absolute; the database is
    named by ``REUNITE_DATABASE_URL``; ``reunite`` is the script of this installation.
    """
    reunite = reunite_command()
    url = "REUNITE_DATABASE_URL=" + shlex.quote(f"sqlite:///{shown_path(out_dir / 'reunite.db')}")
    steps = [
        (shown_path(out_dir) + "/", "the demo database, the simulated files, matches.csv and cases.json"),
        (f"$ {reunite} lr {shlex.quote(shown_path(out_dir / 'cases.json'))}",
         "the five kinship cases above, read from their case file"),
        (f"$ {url} {reunite} stats", "the demo database: counts, loci coverage, quality, near-duplicate "
                                     "profiles (the children registered twice)"),
    ]
    if example_unidentified:
        steps.append((f"$ {url} {reunite} search --unidentified {shlex.quote(example_unidentified)} --no-store",
                      "the candidates of the strongest match, searched again"))
    if workflow:
        steps += [
            (f"$ {url} {reunite} candidates --as reviewer1", "the candidates a reviewer sees (demo workflow)"),
            (f"$ {url} {reunite} inbox list --as inv_butuo", "the Butuo investigator's notifications"),
            (f"$ {url} {reunite} outcome show LY24-C03 --as welfare_linyi",
             "the child who went home: outcome and follow-up visits"),
            (f"$ {url} {reunite} identify --operation OP-371300-2024-03 --as reviewer1",
             "the rescue operation's children identified jointly against the families (also on the web page "
             "/operations/OP-371300-2024-03/identification)"),
            (f"$ {url} {reunite} audit verify --as auditor", "the audit log's HMAC chain, verified"),
        ]
    steps.append((f"$ {reunite} populations", "the shipped frequency tables"))
    root = Path(__file__).resolve().parents[2]  # the source tree, when reunite runs from one
    if (root / "tests" / "data" / "cases.json").is_file():
        steps.append((f"$ {reunite} lr {shlex.quote(shown_path(root / 'tests' / 'data' / 'cases.json'))}",
                      "127 cases cross-checked against the R pedsuite"))
    if (root / "README.md").is_file():
        steps.append((shown_path(root / "README.md"), "the model: assumptions, formulas, θ, mutation"))
    if (root / "Makefile").is_file() and (root / "bench").is_dir():
        steps.append((f"$ make -C {shlex.quote(shown_path(root))} bench",
                      "throughput of the engine, the search and the API (about 30 minutes)"))
    return steps


def reunite_command() -> str:
    """How to run this installation's ``reunite`` from the current folder."""
    script = Path(sys.executable).parent / "reunite"
    if script.is_file():
        found = shutil.which("reunite")
        if found and Path(found).resolve() == script.resolve():
            return "reunite"
        return shlex.quote(shown_path(script))
    return f"{shlex.quote(sys.executable)} -m reunite.cli"


def shown_path(path: Path) -> str:
    """``path`` relative to the current folder when inside it, else absolute."""
    full = Path(os.path.abspath(path))
    try:
        return str(full.relative_to(Path.cwd())) or "."
    except ValueError:
        return str(full)
