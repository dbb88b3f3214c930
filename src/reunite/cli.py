"""The ``reunite`` command line."""

from __future__ import annotations

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


def _count(n: int, one: str, many: str | None = None) -> str:
    """``1 family``, ``2,000 families``."""
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def _fmt_log(x: float) -> str:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    return f"{x:.3f}"


def _print_version(value: bool) -> None:
    """``--version``: print the version and exit before any command is looked for."""
    if value:
        console.print(f"reunite {__version__}")
        raise typer.Exit()


def _output_file(path: Path, *, option: str) -> None:
    """Refuse, before any work, an output file that cannot be written.

    Raises
    ------
    ReuniteError
        the path is a folder, its folder does not exist or is not writable, or the file
        exists and is read-only.
    """
    if path.is_dir():
        raise ReuniteError(f"{option} {path}: is a folder; give a file name, e.g. {path / 'matches.csv'}")
    folder = path.absolute().parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise ReuniteError(f"{option} {path}: the folder {folder} {what}; create it or choose another path")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ReuniteError(f"{option} {path}: cannot write in the folder {folder} (permission denied)")
    if path.exists() and not os.access(path, os.W_OK):
        raise ReuniteError(f"{option} {path}: the file exists and cannot be written (permission denied)")


def _output_folder(path: Path, *, option: str) -> None:
    """Refuse, before any work, an output folder that cannot be created or written.

    Raises
    ------
    ReuniteError
        the path is a file, or the folder (or its nearest existing parent, where it will be
        created) is not writable.
    """
    if path.exists() and not path.is_dir():
        raise ReuniteError(f"{option} {path}: is a file, not a folder; give a folder (it is created if needed)")
    existing = path.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ReuniteError(f"{option} {path}: {existing} is a file, so the folder cannot be created there")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ReuniteError(f"{option} {path}: cannot write in the folder {existing} (permission denied)")


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """reunite: kinship statistics to bring missing and trafficked children home."""


from reunite.cli_lr import lr as _lr  # noqa: E402

app.command("lr")(_lr)


db_app = typer.Typer(help="Create and migrate the database (URL from REUNITE_DATABASE_URL).",
                     no_args_is_help=True)
import_app = typer.Typer(help="Import genotypes, families and unidentified persons.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")
from reunite.cli_corrections import correct_app  # noqa: E402
from reunite.cli_stats import dashboard as _dashboard  # noqa: E402
from reunite.cli_stats import stats as _stats  # noqa: E402

app.add_typer(correct_app, name="correct")
from reunite.cli_populations import kits_app, populations_app  # noqa: E402

app.add_typer(populations_app, name="populations")
app.add_typer(kits_app, name="kits")
app.command("stats")(_stats)
app.command("dashboard")(_dashboard)

from reunite.cli_cases import child_app, operation_app, registration_app, report_app  # noqa: E402
from reunite.cli_outcomes import inbox_app, outcome_app  # noqa: E402
from reunite.cli_review import candidates_app  # noqa: E402
from reunite.cli_users import audit_app, jurisdiction_app, user_app  # noqa: E402

app.add_typer(user_app, name="user")
app.add_typer(audit_app, name="audit")
app.add_typer(jurisdiction_app, name="jurisdiction")
app.add_typer(report_app, name="report")
from reunite.cli_reports import register as _register_report_pdfs  # noqa: E402

_register_report_pdfs(report_app)  # report verify, kinship, operation-summary, statistics
app.add_typer(operation_app, name="operation")
app.add_typer(child_app, name="child")
app.add_typer(registration_app, name="registration")
app.add_typer(candidates_app, name="candidates")
app.add_typer(outcome_app, name="outcome")
app.add_typer(inbox_app, name="inbox")
from reunite.cli_serve import serve as _serve  # noqa: E402

app.command("serve")(_serve)
from reunite.cli_identify import identify as _identify  # noqa: E402

app.command("identify")(_identify)
from reunite.cli_plan import plan as _plan  # noqa: E402

app.command("plan")(_plan)
from reunite.cli_backup import register as _register_backup  # noqa: E402
from reunite.cli_research import research as _research  # noqa: E402

app.command("research")(_research)

_register_backup(db_app)  # db backup, db restore


def _open_store(*, read_only: bool = False, pending: bool = False, actor=None):
    """The database of REUNITE_DATABASE_URL: ``(engine, session, genetic model)``.

    A SQLite file that does not exist is an error (nothing is created; only 'db init'
    creates).  ``read_only``: the session only reads (on SQLite it never waits for a
    writer).  ``pending``: searches left pending by an earlier run that stopped after its
    import are completed first (see :func:`_complete_pending`).
    """
    from sqlalchemy.orm import Session

    from reunite.cli_common import open_store
    from reunite.store import db

    engine, model = open_store()
    if pending:
        _complete_pending(engine, model, actor=actor)
    session = Session(db.read_only(engine) if read_only else engine)
    return engine, session, model


def _complete_pending(engine, model, *, explicit: bool = False, actor=None) -> int:
    """Run the searches recorded as pending (an earlier run stopped after its import had
    committed: killed, disk full, ...), in one transaction with storing their candidates
    (:func:`reunite.cases.intake.complete_pending`).  Implicitly (before an import or a
    search) a failure is a warning, not the command's failure; ``explicit`` ('search
    --pending') raises it.  Returns how many were run."""
    from reunite.cases import intake

    pending = intake.pending(engine)
    if not pending:
        if explicit:
            console.print("no pending searches")
        return 0
    listed = ", ".join(f"{len(ids):,} {'families' if kind == 'family' else 'unidentified persons'}"
                       for kind, ids in pending.items())
    console.print(f"running the pending searches{'' if explicit else ' left by an earlier run'}: {listed}")
    try:
        _print_searches(intake.complete_pending(engine, model, actor=actor or _cli_actor(),
                                                index=lambda s: _updated_index(s, model)))
    except ReuniteError as exc:
        if explicit:
            raise
        err.print(f"[yellow]warning:[/yellow] the pending searches could not be completed ({exc}); they "
                  "stay pending: run 'reunite search --pending'", highlight=False)
        return 0
    return sum(len(ids) for ids in pending.values())


def _cli_actor(as_user: str | None = None):
    """The acting user of the import and search commands: ``--as`` or ``$REUNITE_USER`` when
    given (its roles are checked), else the local operator (see
    :func:`reunite.cases.intake.local_actor`)."""
    from reunite.cases.intake import local_actor
    from reunite.cli_common import USER_ENV, acting

    if as_user or os.environ.get(USER_ENV):
        return acting(as_user)[2]
    return local_actor()


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

    from reunite.genetics.table_registry import database_record, use_recorded_table
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
        kept = session.get(Setting, "frequency_table")
        if row is not None and kept is not None:  # initialised with an imported table: still the same?
            use_recorded_table(json.loads(kept.value), database=f"the database at {database_url()}")
        if row is None:
            session.add(Setting(key="genetic_model", value=json.dumps(model.to_json())))
            recorded = database_record(population)  # an imported table: the database keeps its own copy
            if recorded is not None:
                session.add(Setting(key="frequency_table", value=json.dumps(recorded)))
    console.print(f"database ready at {database_url()}: {model.describe()}")


def _print_searches(summaries) -> None:
    """What the automatic searches (:func:`reunite.cases.intake.complete_pending`) did."""
    for s in summaries:
        if s.kind == "correction":
            console.print(f"searched again after a correction: {len(s.subject_ids):,} record(s), "
                          f"{s.num_compared:,} pairs; {s.stored:,} candidates stored, "
                          f"{s.updated:,} earlier ones updated, {s.superseded:,} flagged superseded")
            continue
        what = f"{len(s.subject_ids):,} {'families' if s.kind == 'family' else 'unidentified persons'}"
        if s.num_pairs == 0:
            console.print(f"{what}: nothing to search against yet: the database has no "
                          + ("unidentified persons" if s.kind == "family" else "families"))
            continue
        console.print(f"searched {what}: {s.num_compared:,} pairs; {s.num_candidates:,} "
                      f"candidates with LR >= 1 stored, {s.num_strong:,} with LR >= 10,000 ranked first "
                      f"({s.skipped_sex:,} pairs skipped for sex, {s.skipped_age:,} for dates, "
                      f"{s.skipped_loci:,} for too few loci)")
        flagged = s.flagged
        if flagged:
            from rich.markup import escape

            console.print(f"[red]identity flags[/red] on the candidates of {len(flagged):,} unidentified person(s) "
                          f"({escape(', '.join(flagged[:10]))}{' ...' if len(flagged) > 10 else ''}): a profile identical or "
                          "nearly identical to another sample; see 'reunite search --unidentified ID'")


@import_app.command("genotypes")
def import_genotypes_cmd(
    file: Path = typer.Argument(..., help="Long CSV, wide CSV or a run export (GeneMapper, GeneMapper ID-X, "
                                "OSIRIS-like)."),
    lab: str = typer.Option(None, help="Laboratory that typed the samples."),
    encoding: str = typer.Option(None, help="The file's encoding (default: detected; e.g. utf-8, gbk, utf-16)."),
    strict: bool = typer.Option(False, help="Import a run export whole or not at all: any ladder, control, "
                                            "failed or OL locus, tri-allele or re-injection rejects the file."),
    lenient: bool = typer.Option(False, help="Leave out columns the importer does not know (reported) "
                                             "instead of rejecting the file."),
    controls: Path = typer.Option(None, "--controls", help="CSV 'kind,pattern': the names of ladders and "
                                  "controls in run exports (replaces the default patterns)."),
    control_profiles: Path = typer.Option(None, "--control-profiles", help="CSV 'control,locus,allele1,allele2': "
                                          "the known profiles of the positive controls, checked in run exports."),
    as_user: str = typer.Option(None, "--as", help="The registered user acting (default: $REUNITE_USER, else "
                                "the local operator)."),
) -> None:
    """Import STR profiles in one transaction; a run export's ladders, controls and unusable loci or
    samples are reported, not imported (see --strict)."""
    from reunite.cases.intake import import_file
    from reunite.store.runexport import controls_from_options

    patterns, known = controls_from_options(controls, control_profiles)  # bad files fail before any work
    actor = _cli_actor(as_user)
    engine, _, model = _open_store(pending=True, actor=actor)
    # a clash with an import running at once: checked again, then reported by sample
    report = import_file(engine, model, "genotypes", file, actor=actor, lab=lab, encoding=encoding, strict=strict,
                         lenient=lenient, controls=patterns, control_profiles=known).report
    console.print(f"imported {_count(report.num_records, 'profile')} ({_count(report.num_rows, 'genotype')}, "
                  f"{report.notes[0]}) from {file}")
    _print_intake_report(report.details, batch_id=report.batch_id)


def _print_intake_report(details: dict, *, batch_id: int | None, max_rows: int = 200) -> None:
    """The samples a genotype import skipped, rejected or flagged, as a table (folded, never
    truncated), then its warnings; everything is also kept in import_batches.report."""
    from reunite.store.genotype_import import report_rows

    counts = ", ".join(f"{n:,} {what.replace('_', ' ')}" for what, n in details.get("samples", {}).items())
    rows = report_rows(details)
    if rows:
        table = Table(title=f"import report (batch {batch_id}): {counts}", show_lines=True)
        for col in ("sample", "outcome", "lines", "why / notes"):
            table.add_column(col, overflow="fold")
        for row in rows[:max_rows]:
            table.add_row(*row)
        console.print(table)
        if len(rows) > max_rows:
            console.print(f"... {len(rows) - max_rows:,} more samples in the import report (import_batches.report "
                          f"of batch {batch_id})", markup=False, highlight=False)
    for warning in details.get("warnings", []):
        console.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)


def _import_and_search(kind: str, file: Path, search: bool, *, encoding: str | None = None,
                       lenient: bool = False, as_user: str | None = None) -> None:
    """Import families or unidentified persons in one transaction, then search the new ones
    (:func:`reunite.cases.intake.import_file`)."""
    from reunite.cases.intake import import_file
    from reunite.store.db import StoreError

    actor = _cli_actor(as_user)
    engine, _, model = _open_store(pending=True, actor=actor)
    out = import_file(engine, model, kind, file, actor=actor, search=search, encoding=encoding, lenient=lenient,
                      index=lambda s: _updated_index(s, model))
    report = out.report
    if kind == "families":
        what = (f"{_count(report.num_records, 'family', 'families')} "
                f"({_count(report.num_rows, 'person', 'people')})")
    else:
        what = _count(report.num_records, "unidentified person")
    console.print(f"imported {what} from {file}")
    for message in [f"warning: {w}" for w in report.warnings] + [f"note: {n}" for n in report.notes]:
        console.print(message, markup=False, highlight=False)
    indicated = report.details.get("sex_indicated_by_amelogenin", [])
    for entry in indicated[:20]:  # the persons the note above counts, so that they can be corrected
        who = f"{entry['person']!r}" + (f" of family {entry['family']!r}" if "family" in entry else "")
        console.print(f"  line {entry['line']}: {who}: sex U, sample {entry['sample']!r} has Amelogenin "
                      f"{entry['amelogenin']} ({'male' if entry['sex'] == 'M' else 'female'})",
                      markup=False, highlight=False)
    if len(indicated) > 20:
        console.print(f"  ... {len(indicated) - 20:,} more in the import report (import_batches.report of batch "
                      f"{report.batch_id})", markup=False, highlight=False)
    _print_searches(out.searches)
    if out.search_error is not None:
        raise StoreError(f"{out.search_error}\nthe import itself is committed; its search is recorded as pending and "
                         "runs with the next import or search, or now with 'reunite search --pending'")
    if out.reflagged:
        console.print(f"identity flags updated on {out.reflagged:,} stored candidate(s) of earlier persons "
                      "(their profile matches a new one)", highlight=False)


@import_app.command("families")
def import_families_cmd(
    file: Path = typer.Argument(..., help="family_id,person_id,father_id,mother_id,sex,role,sample_id"
                                "[,family_type,birth_date,missing_date,missing_place]"),
    search: bool = typer.Option(True, help="Search the new families against every unidentified person."),
    encoding: str = typer.Option(None, help="The file's encoding (default: detected; e.g. utf-8, gbk, utf-16)."),
    lenient: bool = typer.Option(False, help="Leave out columns the importer does not know (reported) "
                                             "instead of rejecting the file."),
    as_user: str = typer.Option(None, "--as", help="The registered user acting (default: $REUNITE_USER, else "
                                "the local operator)."),
) -> None:
    """Import families (pedigrees with missing persons) and search them."""
    _import_and_search("families", file, search, encoding=encoding, lenient=lenient, as_user=as_user)


@import_app.command("unidentified")
def import_unidentified_cmd(
    file: Path = typer.Argument(..., help="person_id,sample_id[,sex,category,estimated_birth_date,found_date,found_place]"),
    search: bool = typer.Option(True, help="Search the new persons against every family."),
    encoding: str = typer.Option(None, help="The file's encoding (default: detected; e.g. utf-8, gbk, utf-16)."),
    lenient: bool = typer.Option(False, help="Leave out columns the importer does not know (reported) "
                                             "instead of rejecting the file."),
    as_user: str = typer.Option(None, "--as", help="The registered user acting (default: $REUNITE_USER, else "
                                "the local operator)."),
) -> None:
    """Import unidentified persons and search them against every family."""
    _import_and_search("unidentified", file, search, encoding=encoding, lenient=lenient, as_user=as_user)



def _updated_index(session, model, *, rebuild: bool = False, must_save: bool = False, bar=None):
    """The family index brought up to date, with a progress bar for the families added
    (``rebuild``, ``must_save``: see :func:`reunite.search.service.family_index`; ``bar``: a
    Progress already shown, to which the bar is added)."""
    import contextlib
    import warnings

    from rich.markup import escape
    from sqlalchemy import func, select

    from reunite.search.service import family_index
    from reunite.store.models import Family

    total = session.execute(select(func.count(Family.id))).scalar() or 0
    shown = bar if bar is not None else Progress(
        TextColumn("updating the family index"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=err, transient=True, disable=not err.is_terminal)
    with warnings.catch_warnings(record=True) as caught, (
            contextlib.nullcontext(shown) if bar is not None else shown) as progress:
        warnings.simplefilter("always")
        task = progress.add_task("updating the family index", total=total)
        index = family_index(session, model, rebuild=rebuild, must_save=must_save,
                             progress=lambda k: progress.advance(task, k))
        if bar is not None:
            progress.remove_task(task)
    for warning in caught:  # e.g. an index file that cannot be saved: the search goes on in memory
        err.print(f"[yellow]warning:[/yellow] {escape(str(warning.message))}", highlight=False)
    return index


@db_app.command("index")
def db_index(
    rebuild: bool = typer.Option(False, help="Build the index again from the database."),
) -> None:
    """Bring the family index up to date (the search does this by itself) and describe it."""
    import time

    from reunite.search.service import index_path

    engine, session, model = _open_store(read_only=True)
    path = index_path(engine)
    with session:  # a rebuild replaces the old file only once the new one is written
        t = time.perf_counter()
        index = _updated_index(session, model, rebuild=rebuild, must_save=True)
        dt = time.perf_counter() - t
        from reunite.search.service import identity_cache, identity_path

        t = time.perf_counter()
        identity = identity_cache(session, model, rebuild=rebuild)
        dt_identity = time.perf_counter() - t
        from reunite.search.unidentified_index import unidentified_index, unidentified_index_path

        t = time.perf_counter()
        unidentified = unidentified_index(session, model, rebuild=rebuild)
        dt_unidentified = time.perf_counter() - t
    sides = sum(len(t.sides) for t in index.tables)
    dense = sum(len(t.dense) for t in index.tables)
    console.print(f"family index at {path or '(memory only)'}: {len(index.indexed):,} families, {len(index):,} "
                  f"family/missing rows over {len(index.loci)} loci; {sides:,} side vectors and {dense:,} dense "
                  f"tables; {index.memory_bytes() / 2**20:,.1f} MiB in memory; "
                  f"{len(index.fallback):,} families left to the engine (an allele missing from the table); "
                  f"up to date in {dt:.1f} s")
    console.print(f"identity lookup at {identity_path(engine) or '(memory only)'}: {len(identity):,} profiles "
                  f"(references and unidentified persons) for the identity flags; up to date in {dt_identity:.1f} s")
    console.print(f"unidentified index at {unidentified_index_path(engine) or '(memory only)'}: {len(unidentified):,} "
                  f"unidentified persons for the family searches; {unidentified.memory_bytes() / 2**20:,.1f} MiB in "
                  f"memory; up to date in {dt_unidentified:.1f} s")


@app.command("search")
def search_cmd(
    unidentified: str = typer.Option(None, "--unidentified", help="Search one unidentified person (person_id)."),
    family: str = typer.Option(None, "--family", help="Search one family (family_id)."),
    all_: bool = typer.Option(False, "--all", help="Search every unidentified person against every family."),
    min_lr: float = typer.Option(1.0, "--min-lr", help="Report candidates with at least this LR."),
    top: int = typer.Option(None, "--top", help="At most this many candidates per query, 1 or more (default: the "
                            "20 best per person or family; every candidate of at least --min-lr with --all)."),
    out: Path = typer.Option(None, "--out", help="Write the candidates to this CSV file."),
    store: bool = typer.Option(True, help="Store the candidates (idempotent)."),
    workers: int = typer.Option(os.cpu_count() or 1, help="Processes for the many-to-many pass."),
    pending: bool = typer.Option(False, "--pending", help="Only run the searches left pending by imports "
                                 "whose automatic search did not finish (killed, disk full); prints what it ran."),
    age_tolerance: float = typer.Option(3.0, "--age-tolerance", help="Years an estimated birth date may be off: "
                                        "pairs whose dates differ by more are not compared (unknown dates never "
                                        "exclude)."),
    as_user: str = typer.Option(None, "--as", help="The registered user acting (default: $REUNITE_USER, else "
                                "the local operator)."),
    dask: str = typer.Option(None, "--dask", help="Scan the family index on the Dask cluster whose scheduler is at "
                             "this address (tcp://host:8786), or 'local' for one of --workers processes here; the "
                             "results are those of the search in this process."),
    partitions: int = typer.Option(None, "--partitions", help="With --dask: row ranges of the family index, 1 or "
                                   "more (default: one per worker thread)."),
    index_path: str = typer.Option(None, "--index-path", help="With --dask: the workers read their rows of the "
                                   "family index from this file, as they see it (shared storage; 'database': the "
                                   "database's own index file); it must be up to date ('reunite db index'). The "
                                   "client never holds the index."),
) -> None:
    """Rank candidate matches by exact LR, one-to-many or many-to-many."""
    from reunite.cases import intake
    from reunite.search.dask_backend import check_options as check_dask_options, dask_search
    from reunite.search.service import write_csv

    intake.check_options(min_lr=min_lr, top=top, age_tolerance=age_tolerance)  # refused before any work
    check_dask_options(dask, partitions=partitions, index_path=index_path)
    if out is not None:
        _output_file(out, option="--out")
    if pending:
        if unidentified or family or all_:
            raise ReuniteError("--pending runs the pending searches only; give it without --unidentified, "
                               "--family or --all")
        given = [name for name, is_set in (("--min-lr", min_lr != 1.0), ("--top", top is not None),
                                           ("--out", out is not None), ("--no-store", not store),
                                           ("--age-tolerance", age_tolerance != 3.0),
                                           ("--dask", dask is not None)) if is_set]
        if given:
            raise ReuniteError(f"--pending runs the searches an import or a correction left, exactly as they "
                               f"would have run (LR >= 1, the 20 best, age tolerance 3 years, stored); it "
                               f"takes no {', '.join(given)}. Run 'reunite search --pending' first, then search "
                               "again with the options you need")
        actor = _cli_actor(as_user)
        engine, _, model = _open_store()
        _complete_pending(engine, model, explicit=True, actor=actor)
        return
    if sum(bool(x) for x in (unidentified, family, all_)) != 1:
        raise ReuniteError("give exactly one of --unidentified ID, --family ID, --all or --pending")
    actor = _cli_actor(as_user)
    engine, session, model = _open_store(pending=True, read_only=True, actor=actor)
    session.close()
    with dask_search(dask, workers=max(1, workers), partitions=partitions, index_path=index_path) as spread, \
            Progress(TextColumn("searching"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                     console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task("search", total=None)
        found = intake.search(engine, model, actor=actor, unidentified=[unidentified] if unidentified else None,
                              family=family, all_=all_, min_lr=min_lr, top=top, store=store,
                              workers=max(1, workers), age_tolerance=age_tolerance,
                              index=lambda s: spread(lambda: _updated_index(s, model, bar=progress), session=s,
                                                     model=model),
                              progress=lambda k: progress.advance(task, k))
    for note in found.notes:
        from rich.markup import escape as _escape_note

        err.print(f"[yellow]note:[/yellow] {_escape_note(note)}", highlight=False, markup=True)
    result = found.result
    lone = found.lone_flags.get(unidentified, []) if unidentified else []
    if lone:
        from rich.markup import escape as _escape

        err.print(f"[red]identity flags:[/red] {_escape(unidentified)} has no candidate, but its profile is "
                  + "; ".join(_escape(x) for x in lone) + " (a mix-up, a contamination or a duplicate "
                  "registration?)", highlight=False)
    if out:
        try:
            from reunite.cli_common import read as _read
            from reunite.search.service import csv_details

            write_csv(result, out, details=_read(engine, lambda s: csv_details(s, result)))
        except OSError as exc:
            stored = "; they are stored in the database" if store else ""
            raise ReuniteError(f"--out {out}: cannot write the candidates ({exc.strerror}){stored}") from None
    from rich.markup import escape
    from rich.text import Text

    from reunite.search.identity import flag_text

    table = Table(title=f"candidates (LR >= {min_lr:g}); {result.num_compared:,} pairs compared, "
                        f"{result.skipped_sex:,} skipped for sex, {result.skipped_age:,} for dates (tolerance "
                        f"{age_tolerance:g} years), {result.skipped_loci:,} for too few common loci")
    for col in ("rank", "unidentified", "family", "missing", "LR", "log10 LR", "loci", "inconsistent", "flags"):
        table.add_column(col, overflow="fold")
    for c in result.candidates[:50]:
        table.add_row(str(c.rank), c.unidentified.code, c.family.code, c.missing, _fmt_lr(c.lr),
                      f"{c.log10_lr:.2f}", str(c.loci_compared), ",".join(c.inconsistent_loci),
                      Text("; ".join(flag_text(f) for f in c.flags), style="red"))
    flagged = sorted({c.unidentified.code for c in result.candidates if c.flags})
    if flagged:
        err.print(f"[red]identity flags:[/red] {len(flagged):,} unidentified person(s) with candidates have a "
                  f"profile identical or nearly identical to another sample (a mix-up, a contamination or a "
                  f"duplicate registration?): {escape(', '.join(flagged[:10]))}{' ...' if len(flagged) > 10 else ''}; "
                  "check them before reading their LRs (column 'flags')")
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
    population: str = typer.Option("CHN_national_GBT37223", help="Frequency table to draw from (shipped or "
                                   "imported; it must have every locus of the kit)."),
    kit: str = typer.Option("CHN24", "--kit", help="Typing kit whose autosomal loci are simulated ('reunite kits' "
                            "lists them)."),
    dates: bool = typer.Option(True, help="Give missing children a birth date, the date and place they "
                               "went missing (a fifth left unknown)."),
    duplicates: int = typer.Option(0, help="Register this many unidentified children twice (identity flags)."),
) -> None:
    """Simulate a database (never real people): families, unidentified persons, truth."""
    from reunite.genetics.kits import get_kit
    from reunite.simulate import simulate_database, write_database

    for option, value in (("--families", families), ("--unidentified", unidentified),
                          ("--duplicates", duplicates)):
        if value < 0:
            raise ReuniteError(f"{option}: expected 0 or more, found {value}")
    chosen = get_kit(kit)
    _output_folder(out, option="--out")
    db = simulate_database(families, unidentified, seed=seed, population=population, kit=chosen, dates=dates,
                           num_duplicates=duplicates)
    try:
        paths = write_database(db, out)
    except OSError as exc:
        raise ReuniteError(f"--out {out}: cannot write the simulated files ({exc.strerror})") from None
    console.print(f"simulated {families:,} families and {len(db['unidentified']):,} unidentified persons "
                  f"({len(db['truth']):,} of them missing children of a family"
                  + (f"; {duplicates:,} registered twice" if duplicates else "")
                  + f"), kit {chosen.name} ({len(chosen.loci)} autosomal loci), table {population}:")
    for name, path in paths.items():
        console.print(f"  {path}")
    for note in db["notes"]:  # a table renormalised for the draw (e.g. GB/T SE33 lacks allele 30.2)
        err.print(f"[yellow]note:[/yellow] {note}", highlight=False)


@app.command()
def demo(
    seed: int = typer.Option(2016, help="Seed of the simulation."),
    out: Path = typer.Option(Path("demo-output"), help="Folder for the demo database and files."),
    families: int = typer.Option(2000, help="Families in the simulated database."),
    unidentified: int = typer.Option(500, help="Unidentified persons in the simulated database."),
    serve: bool = typer.Option(False, "--serve/--no-serve", help="End with the web app running on the demo's "
                               "database (http://127.0.0.1:PORT/; Ctrl-C stops it); `make demo` does."),
    port: int = typer.Option(8000, min=1, max=65535, help="With --serve: the port (the next free one if taken)."),
) -> None:
    """Simulated kinship cases, then a simulated national database imported and searched, then
    the case workflow; with --serve, the web app on the result."""
    from reunite.demo import run_all, serve_demo

    for option, value in (("--families", families), ("--unidentified", unidentified)):
        if value < 1:
            raise ReuniteError(f"{option}: expected 1 or more, found {value}")
    _output_folder(out, option="--out")
    run_all(console, seed=seed, out_dir=out, num_families=families, num_unidentified=unidentified)
    if serve:
        serve_demo(console, out_dir=out, port=port)


def main() -> None:
    """Console-script entry point: library errors, and database failures (explained by
    :func:`reunite.store.db.explain_error`), become clean messages and exit status 1; the
    library's warnings are printed as 'warning: ...' lines (no source file and line)."""
    import warnings

    plain = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if not issubclass(category, UserWarning) or issubclass(category, DeprecationWarning):
            return plain(message, category, filename, lineno, file, line)
        from rich.markup import escape

        err.print(f"[yellow]warning:[/yellow] {escape(str(message))}", highlight=False)

    warnings.showwarning = show
    try:
        app()
    except ReuniteError as exc:
        err.print(f"[red]error:[/red] {exc}")
        sys.exit(1)
    except Exception as exc:
        from rich.markup import escape

        from reunite.store.db import explain_error

        known = explain_error(exc)
        if known is None:
            raise
        err.print(f"[red]error:[/red] {escape(str(known))}", highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
