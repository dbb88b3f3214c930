"""``reunite report verify|kinship|operation-summary|statistics``: issued PDF reports.

``verify FILE.pdf`` exits 0 when the file is an unaltered issued report (printing its
number, kind, subject, who issued it and when) and 1 otherwise.  The other commands issue a
report acting as ``--as USER`` (registered and audited as on the web pages) and write it.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer
from rich.markup import escape

from reunite.cli_common import AS_USER, acting, console, err, read, write
from reunite.errors import ReuniteError

LANG = typer.Option("zh_CN", "--lang", help="Language of the report: zh_CN or en.")


def _out(path: Path) -> Path:
    if path.is_dir():
        raise ReuniteError(f"--out {path}: is a folder; give a file name, e.g. {path / 'report.pdf'}")
    if not path.parent.is_dir():
        raise ReuniteError(f"--out {path}: the folder {path.parent} does not exist")
    return path


def _save(doc, out: Path | None) -> None:
    path = _out(out) if out is not None else Path(doc.filename)
    path.write_bytes(doc.pdf)
    console.print(f"report {doc.number} issued and registered: {escape(str(path))} ({len(doc.pdf):,} bytes, "
                  f"SHA-256 {doc.sha256})", highlight=False)


def report_verify(file: Path = typer.Argument(..., help="The PDF to check.")) -> None:
    """Whether FILE is an unaltered report issued by this database (exit 0), or not (exit 1)."""
    from reunite.cli_common import open_store
    from reunite.reports.registry import verify

    if not file.is_file():
        raise ReuniteError(f"FILE {file}: no such file")
    data = file.read_bytes()
    engine, _ = open_store()
    result = read(engine, lambda s: verify(s, data))
    if result.issued:
        r = result.report
        console.print(f"OK: {escape(str(file))} is an unaltered issued report", highlight=False)
        for label, value in (("number", r["id"]), ("kind", r["kind"]), ("subject", r["subject"]),
                             ("language", r["language"]), ("issued by", r["issued_by"]),
                             ("issued at", r["issued_at"]), ("audit entry", r["audit_seq"]),
                             ("sha256", result.sha256)):
            console.print(f"  {label}: {escape(str(value))}", highlight=False)
        return
    err.print(f"NOT VERIFIED: {escape(str(file))}: {escape(result.describe())}", highlight=False)
    err.print(f"  sha256: {result.sha256}", highlight=False)
    raise typer.Exit(1)


def report_kinship(candidate_id: int = typer.Argument(..., help="The confirmed candidate's number."),
                   out: Path = typer.Option(None, "--out", help="The PDF to write (default: the report's name)."),
                   lang: str = LANG, as_user: str = AS_USER) -> None:
    """Issue the kinship report of a confirmed candidate (registered; audited)."""
    from reunite.reports.pdf import issue_kinship_report

    engine, _, actor = acting(as_user)
    _save(write(engine, lambda s: issue_kinship_report(s, candidate_id, actor=actor, language=lang)), out)


def report_operation(code: str = typer.Argument(..., help="The rescue operation's code."),
                     out: Path = typer.Option(None, "--out", help="The PDF to write."),
                     lang: str = LANG, as_user: str = AS_USER) -> None:
    """Issue a rescue operation's summary (registered; audited)."""
    from reunite.reports.pdf import issue_operation_report

    engine, _, actor = acting(as_user)
    _save(write(engine, lambda s: issue_operation_report(s, code, actor=actor, language=lang)), out)


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ReuniteError(f"{option}: expected a date YYYY-MM-DD, found {text!r}") from None


def report_statistics(start: str = typer.Option(..., "--start", help="First day of the period (YYYY-MM-DD)."),
                      end: str = typer.Option(..., "--end", help="Last day of the period (YYYY-MM-DD)."),
                      out: Path = typer.Option(None, "--out", help="The PDF to write."),
                      lang: str = LANG, as_user: str = AS_USER) -> None:
    """Issue the statistics report of a period (registered; audited)."""
    from reunite.reports.pdf import issue_statistics_report

    first, last = _day(start, "--start"), _day(end, "--end")
    engine, _, actor = acting(as_user)
    _save(write(engine, lambda s: issue_statistics_report(s, actor=actor, start=first, end=last, language=lang)),
          out)


def register(report_app: typer.Typer) -> None:
    """Add the commands to ``reunite report``."""
    report_app.command("verify")(report_verify)
    report_app.command("kinship")(report_kinship)
    report_app.command("operation-summary")(report_operation)
    report_app.command("statistics")(report_statistics)
