"""``reunite db backup FILE`` and ``reunite db restore FILE`` (see :mod:`reunite.store.backup`).

Both act on the database of REUNITE_DATABASE_URL and are recorded in its audit log under the
operating-system login of whoever runs them (``local:<login>``): they run on a machine that
holds the database's credentials, not as a registered user.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from reunite.cli_common import console, err
from reunite.cli_users import clean_errors


def _operator() -> str:
    from reunite.cases.intake import local_actor

    return local_actor().username


def _engine(*, must_exist: bool):
    from reunite.store.db import make_engine

    return make_engine(must_exist=must_exist)


@clean_errors
def db_backup(file: Path = typer.Argument(..., help="The backup file to write; its manifest is written beside it "
                                          "as FILE.manifest.json (keep both together)."),
              reason: str = typer.Option(None, "--reason", help="Why (recorded in the audit log), e.g. 'nightly'."),
              ) -> None:
    """Back up the database (SQLite: backup API; PostgreSQL: pg_dump -Fc), consistent while others write."""
    from reunite.settings import get_settings
    from reunite.store.backup import backup, manifest_path

    report = backup(_engine(must_exist=True), file, actor=_operator(), audit_key=get_settings().audit_key,
                    reason=reason)
    m = report.manifest
    rows = sum(n for n in m.table_rows.values())
    console.print(f"backup written: {escape(str(file))} ({m.size_bytes:,} bytes, sha256 {m.sha256}) and "
                  f"{escape(str(manifest_path(file)))}", highlight=False)
    console.print(f"{m.backend} database {escape(m.source)}: schema revision {m.schema_revision}, "
                  f"{len(m.table_rows)} tables, {rows:,} rows, audit head {m.audit_head}", highlight=False)
    for warning in report.warnings:
        err.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False)


@clean_errors
def db_restore(file: Path = typer.Argument(..., help="A backup written by 'reunite db backup' (its "
                                           "FILE.manifest.json beside it)."),
               reason: str = typer.Option(..., "--reason", help="Why the database is restored (recorded in the "
                                          "restored audit log)."),
               force: bool = typer.Option(False, "--force", help="Replace a database that holds records."),
               ) -> None:
    """Restore a backup into the database of REUNITE_DATABASE_URL after checking it (sha256,
    schema revision, audit key); the restore is recorded in the restored audit chain."""
    from reunite.settings import get_settings
    from reunite.store.backup import restore

    report = restore(_engine(must_exist=False), file, actor=_operator(), audit_key=get_settings().audit_key,
                     reason=reason, force=force)
    m = report.manifest
    rows = sum(report.restored_rows.values())
    console.print(f"restored {escape(str(file))} (made {m.created_at} from {escape(m.source)}, reunite "
                  f"{m.reunite_version}, revision {m.schema_revision}): {len(report.restored_rows)} tables, "
                  f"{rows:,} rows, every table's count as in the manifest", highlight=False)
    if report.replaced_audit_head:
        console.print(f"the database replaced ended its audit log at {report.replaced_audit_head}", highlight=False)
    for path in report.index_files_removed:
        console.print(f"removed the stale index file {escape(path)} (the next search rebuilds it)", highlight=False)
    if not report.audit_ok:
        err.print(f"[red]{escape(report.audit_description)}[/red]", highlight=False)
        raise typer.Exit(1)
    console.print(f"[green]{escape(report.audit_description)}[/green] (the restore is its last entry)",
                  highlight=False)


def register(db_app: typer.Typer) -> None:
    """Add ``backup`` and ``restore`` to the ``reunite db`` group."""
    db_app.command("backup")(db_backup)
    db_app.command("restore")(db_restore)
