"""The ``reunite`` command line."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from reunite import __version__
from reunite.errors import ReuniteError
from reunite.genetics.frequencies import DEFAULT_FLOOR
from reunite.genetics.kits import DEFAULT_RANGE, DEFAULT_RATE2

app = typer.Typer(
    help="reunite: kinship statistics to bring missing and trafficked children home.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err = Console(stderr=True)


def _fmt_lr(x: float) -> str:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e6:
        return f"{x:,.4g}"
    return f"{x:.4e}"


def _fmt_log(x: float) -> str:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    return f"{x:.3f}"


@app.callback()
def _main(version: bool = typer.Option(False, "--version", help="Print the version and exit.")) -> None:
    """reunite: kinship statistics to bring missing and trafficked children home."""
    if version:
        console.print(f"reunite {__version__}")
        raise typer.Exit()


@app.command()
def populations() -> None:
    """List the shipped allele-frequency tables (name, loci, sample size, source)."""
    from reunite.genetics.frequencies import list_populations

    table = Table(title="Allele-frequency tables shipped with reunite (provenance: reunite/data/SOURCES.md)")
    for col in ("population", "loci", "sample size (individuals)", "source"):
        table.add_column(col)
    for pop in list_populations():
        table.add_row(pop.name, str(len(pop.loci)), pop.sample_size, ", ".join(pop.sources))
    console.print(table)


@app.command()
def lr(
    cases_file: Path = typer.Argument(..., help="Kinship cases in the kinship case format (JSON)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    keep_going: bool = typer.Option(False, "--keep-going", help="Run the valid cases even if some are malformed."),
    normalise: bool = typer.Option(False, "--normalise", help="Renormalise frequency tables that do not sum to 1."),
    floor: float = typer.Option(DEFAULT_FLOOR, "--floor", help="Frequency of alleles absent from a table of unknown size."),
) -> None:
    """Compute likelihood ratios for every case in CASES_FILE."""
    from reunite.genetics.caseio import load_cases_json, parse_case
    from reunite.genetics.kinship import check_case, kinship_lr_many

    try:
        raw = load_cases_json(cases_file)
    except ReuniteError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    parsed, errors = [], {}
    order = []
    for k, item in enumerate(raw, start=1):
        cid = str(item.get("id", f"#{k}")) if isinstance(item, dict) else f"#{k}"
        order.append(cid)
        try:
            parsed.append(parse_case(item, number=k))
        except ReuniteError as exc:
            errors[cid] = str(exc)
    if errors and not keep_going:  # report every bad case, computing nothing
        for case in parsed:
            try:
                check_case((case.id, case.h1, case.h2, case.markers, case.theta), floor=floor,
                           normalise=normalise)
            except ReuniteError as exc:
                errors[case.id] = str(exc)
        for cid in order:
            if cid in errors:
                err.print(f"[red]error:[/red] {errors[cid]}")
        err.print(f"{len(errors)} of {len(order)} cases are malformed; no results were written. "
                  "Fix them, or pass --keep-going to compute the others.")
        raise typer.Exit(1)
    results = []
    chunk = 256
    with Progress(TextColumn("computing LRs"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=err, transient=True,
                  disable=len(parsed) <= chunk or not err.is_terminal) as progress:
        task = progress.add_task("lr", total=len(parsed))
        for start in range(0, len(parsed), chunk):
            part = parsed[start:start + chunk]
            results += kinship_lr_many([(c.id, c.h1, c.h2, c.markers, c.theta) for c in part],
                                       floor=floor, normalise=normalise, keep_going=True)
            progress.advance(task, len(part))
    by_id = {}
    for case, res in zip(parsed, results):
        if isinstance(res, ReuniteError):
            errors[case.id] = str(res)
        else:
            by_id[case.id] = res
    if errors and not keep_going:
        for cid in order:
            if cid in errors:
                err.print(f"[red]error:[/red] {errors[cid]}")
        err.print(f"{len(errors)} of {len(order)} cases are malformed; no results were written. "
                  "Fix them, or pass --keep-going to compute the others.")
        raise typer.Exit(1)
    if as_json:
        out = []
        for cid in order:
            if cid in by_id:
                out.append(by_id[cid].to_json())
            else:
                out.append({"id": cid, "error": errors[cid]})
        sys.stdout.write(json.dumps({"results": out}, indent=1) + "\n")
    else:
        table = Table(title=f"Likelihood ratios: {cases_file}")
        for col in ("case", "LR", "log10 LR", "markers", "notes"):
            table.add_column(col, overflow="fold")
        for cid in order:
            if cid in by_id:
                r = by_id[cid]
                notes = "; ".join(f"{m}: {why}" for m, why in r.notes.items())
                table.add_row(cid, _fmt_lr(r.lr_total), _fmt_log(r.log10_lr_total),
                              str(len(r.lr_per_marker)), notes)
            else:
                table.add_row(cid, "-", "-", "-", f"[red]error:[/red] {errors[cid]}")
        console.print(table)
    if errors:
        for cid in order:
            if cid in errors:
                err.print(f"[red]error:[/red] {errors[cid]}")
        raise typer.Exit(1)


db_app = typer.Typer(help="Create and migrate the database (URL from REUNITE_DATABASE_URL).",
                     no_args_is_help=True)
import_app = typer.Typer(help="Import genotypes, families and unidentified persons.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")


def _open_store():
    from sqlalchemy.orm import Session

    from reunite.store.db import make_engine, read_settings
    from reunite.store.profiles import GeneticModel

    engine = make_engine()
    session = Session(engine)
    settings = read_settings(session)
    session.rollback()  # end the read; commands open their own transactions
    return engine, session, GeneticModel.from_json(settings["genetic_model"])


@db_app.command("init")
def db_init(
    population: str = typer.Option("CHN_national_GBT37223", help="Frequency table (see 'reunite populations')."),
    mutation: str = typer.Option("stepwise", help="equal, proportional, stepwise, onestep or none."),
    mutation_rate: float = typer.Option(None, "--mutation-rate",
                                        help="One rate for every locus and sex (default: the shipped per-locus, per-sex rates)."),
    rate2: float = typer.Option(DEFAULT_RATE2, help="Stepwise: rate of mutations to another microvariant group."),
    range_: float = typer.Option(DEFAULT_RANGE, "--range", help="Stepwise: relative probability of each extra step."),
    theta: float = typer.Option(0.0, help="Subpopulation correction θ."),
    min_common_loci: int = typer.Option(12, help="Pairs with fewer common loci are not compared."),
) -> None:
    """Create the database and fix its genetic model (recorded in every candidate)."""
    import json

    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from reunite.store.db import database_url, make_engine, upgrade
    from reunite.store.models import Setting
    from reunite.store.profiles import GeneticModel

    model = GeneticModel(population, mutation, mutation_rate, rate2, range_, theta, min_common_loci)
    model.check()
    engine = make_engine()
    upgrade(engine)
    with Session(engine) as session, session.begin():
        row = session.execute(select(Setting).where(Setting.key == "genetic_model")).scalar_one_or_none()
        if row is not None and json.loads(row.value) != model.to_json():
            old = GeneticModel.from_json(json.loads(row.value))
            raise ReuniteError(f"the database is already initialised with {old.describe()}; the genetic "
                               "model of a database is fixed when it is created (use a new database)")
        if row is None:
            session.add(Setting(key="genetic_model", value=json.dumps(model.to_json())))
    console.print(f"database ready at {database_url()}: {model.describe()}")


def _auto_search(session, model, report, per: str) -> None:
    from reunite.search.service import run_search

    workers = os.cpu_count() or 1
    index = _updated_index(session, model) if model.theta == 0.0 else None  # new families are indexed now
    if per == "family":
        result = run_search(session, model, family_ids=report.new_ids, per="family", min_lr=1.0,
                            workers=workers)
    else:
        result = run_search(session, model, unidentified_ids=report.new_ids, min_lr=1.0, workers=workers,
                            index=index)
    if result.num_pairs == 0:
        console.print("nothing to search against yet: the database has no "
                      + ("unidentified persons" if per == "family" else "families"))
        return
    strong = [c for c in result.candidates if c.rank == 1 and c.log10_lr >= 4]
    console.print(f"searched {result.num_compared:,} pairs automatically; {len(result.candidates):,} "
                  f"candidates with LR >= 1 stored, {len(strong):,} with LR >= 10,000 ranked first "
                  f"({result.skipped_sex:,} pairs skipped for sex, {result.skipped_loci:,} for too few loci)")


@import_app.command("genotypes")
def import_genotypes_cmd(
    file: Path = typer.Argument(..., help="Long CSV, wide CSV or GeneMapper export."),
    lab: str = typer.Option(None, help="Laboratory that typed the samples."),
) -> None:
    """Import STR profiles (one transaction; a bad row rejects the file)."""
    from reunite.store.importers import import_genotypes

    _, session, model = _open_store()
    with session, session.begin():
        report = import_genotypes(session, file, model=model, lab=lab)
    console.print(f"imported {report.num_records:,} profiles ({report.num_rows:,} genotypes, "
                  f"{report.notes[0]}) from {file}")


def _import_and_search(kind: str, file: Path, search: bool, *, encoding: str | None = None,
                       lenient: bool = False) -> None:
    """Import families or unidentified persons in one transaction, then search the new ones."""
    from reunite.store import importers

    _, session, model = _open_store()
    with session, session.begin():
        if kind == "families":
            report = importers.import_families(session, file, model=model, encoding=encoding, lenient=lenient)
            what = f"{report.num_records:,} families ({report.num_rows:,} people)"
        else:
            report = importers.import_unidentified(session, file, encoding=encoding, lenient=lenient)
            what = f"{report.num_records:,} unidentified persons"
    console.print(f"imported {what} from {file}")
    for message in [f"warning: {w}" for w in report.warnings] + [f"note: {n}" for n in report.notes]:
        console.print(message, markup=False, highlight=False)
    if search:
        with session, session.begin():
            _auto_search(session, model, report, "family" if kind == "families" else "unidentified")


@import_app.command("families")
def import_families_cmd(
    file: Path = typer.Argument(..., help="family_id,person_id,father_id,mother_id,sex,role,sample_id"
                                "[,family_type,birth_date,missing_date,missing_place]"),
    search: bool = typer.Option(True, help="Search the new families against every unidentified person."),
    encoding: str = typer.Option(None, help="The file's encoding (default: detected; e.g. utf-8, gbk, utf-16)."),
    lenient: bool = typer.Option(False, help="Leave out columns the importer does not know (reported) "
                                             "instead of rejecting the file."),
) -> None:
    """Import families (pedigrees with missing persons) and search them."""
    _import_and_search("families", file, search, encoding=encoding, lenient=lenient)


@import_app.command("unidentified")
def import_unidentified_cmd(
    file: Path = typer.Argument(..., help="person_id,sample_id[,sex,category,estimated_birth_date,found_date,found_place]"),
    search: bool = typer.Option(True, help="Search the new persons against every family."),
    encoding: str = typer.Option(None, help="The file's encoding (default: detected; e.g. utf-8, gbk, utf-16)."),
    lenient: bool = typer.Option(False, help="Leave out columns the importer does not know (reported) "
                                             "instead of rejecting the file."),
) -> None:
    """Import unidentified persons and search them against every family."""
    _import_and_search("unidentified", file, search, encoding=encoding, lenient=lenient)


@app.command()
def stats() -> None:
    """Counts, loci coverage and duplicate profiles of the database."""
    from collections import Counter

    from sqlalchemy import func, select

    from reunite.store.models import Family, MatchCandidate, Sample, Unidentified
    from reunite.store.profiles import unpack_profile

    _, session, model = _open_store()
    with session:
        console.print(f"genetic model: {model.describe()}")
        samples = session.execute(select(Sample.code, Sample.profile)).all()
        fam_types = Counter(t or "unspecified" for t in session.execute(select(Family.family_type)).scalars())
        categories = Counter(c or "unspecified" for c in session.execute(select(Unidentified.category)).scalars())
        statuses = dict(session.execute(select(MatchCandidate.status, func.count())
                                        .group_by(MatchCandidate.status)).all())
        table = Table(title="reunite database")
        table.add_column("what")
        table.add_column("count", justify="right")
        table.add_row("profiles (samples)", f"{len(samples):,}")
        table.add_row("families", f"{sum(fam_types.values()):,}")
        for t, n in sorted(fam_types.items()):
            table.add_row(f"  {t}", f"{n:,}")
        table.add_row("unidentified persons", f"{sum(categories.values()):,}")
        for c, n in sorted(categories.items()):
            table.add_row(f"  {c}", f"{n:,}")
        table.add_row("match candidates", f"{sum(statuses.values()):,}")
        for st, n in sorted(statuses.items()):
            table.add_row(f"  {st}", f"{n:,}")
        console.print(table)
        coverage = Counter()
        by_profile: dict[str, list[str]] = {}
        for code, prof in samples:
            coverage.update(unpack_profile(prof).keys())
            by_profile.setdefault(prof, []).append(code)
        if samples:
            cov = Table(title="loci coverage (share of profiles typed)")
            cov.add_column("locus")
            cov.add_column("typed", justify="right")
            for locus, n in sorted(coverage.items()):
                cov.add_row(locus, f"{n / len(samples):.1%}")
            console.print(cov)
        dups = [codes for codes in by_profile.values() if len(codes) > 1]
        console.print(f"duplicate profiles (identical at every locus): {len(dups)}")
        for codes in dups[:20]:
            console.print("  " + ", ".join(codes))


def _updated_index(session, model):
    """The family index brought up to date, with a progress bar for the families added."""
    from sqlalchemy import func, select

    from reunite.search.service import family_index
    from reunite.store.models import Family

    total = session.execute(select(func.count(Family.id))).scalar() or 0
    with Progress(TextColumn("updating the family index"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task("index", total=total)
        return family_index(session, model, progress=lambda k: progress.advance(task, k))


@db_app.command("index")
def db_index(
    rebuild: bool = typer.Option(False, help="Build the index again from the database."),
) -> None:
    """Bring the family index up to date (the search does this by itself) and describe it."""
    import time

    from reunite.search.service import index_path

    engine, session, model = _open_store()
    if model.theta != 0.0:
        console.print(f"this database has θ = {model.theta}: the search computes pair by pair, there is no index")
        return
    path = index_path(engine)
    if rebuild and path is not None and path.exists():
        path.unlink()
    with session:
        t = time.perf_counter()
        index = _updated_index(session, model)
        dt = time.perf_counter() - t
    sides = sum(len(t.sides) for t in index.tables)
    dense = sum(len(t.dense) for t in index.tables)
    console.print(f"family index at {path or '(memory only)'}: {len(index.indexed):,} families, {len(index):,} "
                  f"family/missing rows over {len(index.loci)} loci; {sides:,} side vectors and {dense:,} dense "
                  f"tables; {index.memory_bytes() / 2**20:,.1f} MiB in memory; "
                  f"{len(index.fallback):,} families left to the engine (an allele missing from the table); "
                  f"up to date in {dt:.1f} s")


@app.command("search")
def search_cmd(
    unidentified: str = typer.Option(None, "--unidentified", help="Search one unidentified person (person_id)."),
    family: str = typer.Option(None, "--family", help="Search one family (family_id)."),
    all_: bool = typer.Option(False, "--all", help="Search every unidentified person against every family."),
    min_lr: float = typer.Option(1.0, "--min-lr", help="Report candidates with at least this LR."),
    top: int = typer.Option(None, "--top", help="At most this many candidates per query (default: 20, or all with --all)."),
    out: Path = typer.Option(None, "--out", help="Write the candidates to this CSV file."),
    store: bool = typer.Option(True, help="Store the candidates (idempotent)."),
    workers: int = typer.Option(os.cpu_count() or 1, help="Processes for the many-to-many pass."),
) -> None:
    """Rank candidate matches by exact LR, one-to-many or many-to-many."""
    from sqlalchemy import select

    from reunite.search.service import index_applies, run_search, write_csv
    from reunite.store.models import Family, Unidentified

    if sum(bool(x) for x in (unidentified, family, all_)) != 1:
        raise ReuniteError("give exactly one of --unidentified ID, --family ID or --all")
    _, session, model = _open_store()
    with session, session.begin():
        kwargs: dict = {"min_lr": min_lr, "store": store, "workers": max(1, workers)}
        if unidentified:
            uid = session.execute(select(Unidentified.id).where(Unidentified.code == unidentified)).scalar()
            if uid is None:
                raise ReuniteError(f"--unidentified: no unidentified person {unidentified!r} in the database")
            kwargs.update(unidentified_ids=[uid], top_k=top or 20)
        elif family:
            fid = session.execute(select(Family.id).where(Family.code == family)).scalar()
            if fid is None:
                raise ReuniteError(f"--family: no family {family!r} in the database")
            kwargs.update(family_ids=[fid], per="family", top_k=top or 20)
        else:
            kwargs.update(top_k=top)
        if index_applies(model, per=kwargs.get("per", "unidentified"), family_ids=kwargs.get("family_ids")):
            kwargs["index"] = _updated_index(session, model)
        with Progress(TextColumn("searching"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=err, transient=True, disable=not err.is_terminal) as progress:
            task = progress.add_task("search", total=None)
            result = run_search(session, model, progress=lambda k: progress.advance(task, k), **kwargs)
    if out:
        write_csv(result, out)
    table = Table(title=f"candidates (LR >= {min_lr:g}); {result.num_compared:,} pairs compared, "
                        f"{result.skipped_sex:,} skipped for sex, {result.skipped_loci:,} for too few common loci")
    for col in ("rank", "unidentified", "family", "missing", "LR", "log10 LR", "loci", "inconsistent"):
        table.add_column(col)
    for c in result.candidates[:50]:
        table.add_row(str(c.rank), c.unidentified.code, c.family.code, c.missing, _fmt_lr(c.lr),
                      f"{c.log10_lr:.2f}", str(c.loci_compared), ",".join(c.inconsistent_loci))
    console.print(table)
    if len(result.candidates) > 50:
        console.print(f"... {len(result.candidates) - 50:,} more" + (f" in {out}" if out else ""))
    elif out:
        console.print(f"written to {out}")


@app.command()
def simulate(
    families: int = typer.Option(1000, help="Number of families."),
    unidentified: int = typer.Option(500, help="Number of unidentified persons."),
    seed: int = typer.Option(..., help="Seed of the simulation."),
    out: Path = typer.Option(..., help="Folder for genotypes.csv, families.csv, unidentified.csv, truth.csv."),
    population: str = typer.Option("CHN_national_GBT37223", help="Frequency table to draw from."),
) -> None:
    """Simulate a database (never real people): families, unidentified persons, truth."""
    from reunite.simulate import simulate_database, write_database

    db = simulate_database(families, unidentified, seed=seed, population=population)
    paths = write_database(db, out)
    console.print(f"simulated {families:,} families and {unidentified:,} unidentified persons "
                  f"({len(db['truth']):,} of them missing children of a family):")
    for name, path in paths.items():
        console.print(f"  {path}")


@app.command()
def demo(
    seed: int = typer.Option(2016, help="Seed of the simulation."),
    out: Path = typer.Option(Path("demo-output"), help="Folder for the demo database and files."),
    families: int = typer.Option(2000, help="Families in the simulated database."),
    unidentified: int = typer.Option(500, help="Unidentified persons in the simulated database."),
) -> None:
    """Simulated kinship cases, then a simulated national database imported and searched."""
    from reunite.demo import run_all

    run_all(console, seed=seed, out_dir=out, num_families=families, num_unidentified=unidentified)


def main() -> None:
    """Console-script entry point: library errors become clean messages."""
    try:
        app()
    except ReuniteError as exc:
        err.print(f"[red]error:[/red] {exc}")
        sys.exit(1)


if __name__ == "__main__":
    main()
