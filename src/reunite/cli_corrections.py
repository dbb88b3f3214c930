"""``reunite correct ...``: corrections of imported data, each a new version with who, when
and why, followed by a search of what it affects (see :mod:`reunite.store.corrections`)."""

from __future__ import annotations

import getpass
import os
from pathlib import Path

import typer
from rich.table import Table

from reunite.errors import ReuniteError

correct_app = typer.Typer(
    help="Correct imported data (a profile re-typed, a sample withdrawn, a pedigree or a sex "
         "corrected); each correction is kept as a new version and the affected candidates are "
         "searched again.",
    no_args_is_help=True)

USER_ENV = "REUNITE_USER"

_REASON = typer.Option(..., "--reason", help="Why the data are corrected (kept with the version).")
_BY = typer.Option(None, "--by", help=f"Who corrects (default: ${USER_ENV}, else the login name).")
_SEARCH = typer.Option(True, help="Search the affected persons and families again afterwards.")
_MIN_LR = typer.Option(1.0, "--min-lr", help="Candidates of the re-search have at least this LR; "
                                             "earlier ones below it are marked superseded.")
_TOP = typer.Option(20, "--top", help="At most this many candidates per person or family searched.")


def changed_by(by: str | None) -> str:
    """``--by``, else ``$REUNITE_USER``, else the login name of the process."""
    if by:
        return by
    if os.environ.get(USER_ENV, "").strip():
        return os.environ[USER_ENV].strip()
    try:
        return getpass.getuser()
    except Exception:  # no login name (a container without a user entry)
        raise ReuniteError(f"who makes the correction is unknown: pass --by NAME or set {USER_ENV}") from None


def _check_search_options(min_lr: float, top: int) -> None:
    if not min_lr >= 0:
        raise ReuniteError(f"--min-lr must be 0 or more, found {min_lr:g}")
    if top < 1:
        raise ReuniteError(f"--top must be at least 1, found {top}")


def _correct(work, *, search: bool, min_lr: float, top: int) -> None:
    """Run ``work(session, model)`` (a correction) in one transaction, print what changed,
    then search what it affects in a second one and print the summary."""
    from reunite.cli import _open_store, console
    from reunite.search.research import apply
    from reunite.store.db import write_transaction

    _check_search_options(min_lr, top)
    engine, session, model = _open_store()
    session.close()
    correction = write_transaction(engine, lambda s: work(s, model))
    console.print(f"{correction.describe()} written:", highlight=False, soft_wrap=True)
    for line in correction.changes:
        console.print(f"  {line}", highlight=False, soft_wrap=True)
    affected = len(correction.unidentified_ids) + len(correction.family_ids)
    if not affected:
        console.print("no person or family has this sample: nothing to search again", soft_wrap=True)
        return
    if not search:
        console.print(f"not searched (--no-search): {affected} search(es) left pending; run "
                      "'reunite search --pending'", soft_wrap=True)
        return
    summary = write_transaction(engine, lambda s: apply(s, correction, model, min_lr=min_lr, top_k=top,
                                                        workers=os.cpu_count() or 1))
    who = ", ".join(filter(None, [
        f"{len(correction.unidentified_ids)} unidentified person(s)" if correction.unidentified_ids else "",
        f"{len(correction.family_ids)} family(ies)" if correction.family_ids else ""]))
    console.print(f"searched again ({who}): {summary.num_compared:,} pairs compared; {summary.stored:,} "
                  f"candidates with LR >= {min_lr:g} stored; {summary.updated:,} earlier candidates "
                  f"recomputed; {summary.superseded:,} marked superseded (below {min_lr:g} or no longer "
                  f"compared); identity flags changed on {summary.reflagged:,} stored candidate(s)",
                  highlight=False, soft_wrap=True)


@correct_app.command("profile")
def correct_profile(
    sample: str = typer.Argument(..., help="Sample code of the profile to replace."),
    file: Path = typer.Option(..., "--file", help="Genotype file (any import format) holding the re-typed sample."),
    reason: str = _REASON, by: str = _BY,
    encoding: str = typer.Option(None, "--encoding", help="Encoding of the file (default: detected)."),
    search: bool = _SEARCH, min_lr: float = _MIN_LR, top: int = _TOP,
) -> None:
    """Replace a sample's profile by its re-typing (the old profile is kept as a version)."""
    from reunite.store.corrections import retype_sample

    who = changed_by(by)
    _correct(lambda s, model: retype_sample(s, sample, path=file, model=model, changed_by=who, reason=reason,
                                            encoding=encoding),
             search=search, min_lr=min_lr, top=top)


@correct_app.command("withdraw")
def correct_withdraw(
    sample: str = typer.Argument(..., help="Sample code to withdraw."),
    reason: str = _REASON, by: str = _BY, search: bool = _SEARCH, min_lr: float = _MIN_LR, top: int = _TOP,
) -> None:
    """Withdraw a sample: kept and linked to its person, but never searched again."""
    from reunite.store.corrections import withdraw_sample

    who = changed_by(by)
    _correct(lambda s, model: withdraw_sample(s, sample, changed_by=who, reason=reason),
             search=search, min_lr=min_lr, top=top)


@correct_app.command("pedigree")
def correct_pedigree_cmd(
    family: str = typer.Argument(..., help="Family code whose pedigree is corrected."),
    file: Path = typer.Option(..., "--file", help="Families CSV (import columns) with that family's corrected rows."),
    reason: str = _REASON, by: str = _BY,
    encoding: str = typer.Option(None, "--encoding", help="Encoding of the file (default: detected)."),
    lenient: bool = typer.Option(False, "--lenient", help="Unknown columns are warnings, not errors."),
    search: bool = _SEARCH, min_lr: float = _MIN_LR, top: int = _TOP,
) -> None:
    """Replace a family's pedigree (members matched by person id; the old one is kept)."""
    from reunite.store.corrections import correct_pedigree

    who = changed_by(by)
    _correct(lambda s, model: correct_pedigree(s, family, path=file, model=model, changed_by=who, reason=reason,
                                               encoding=encoding, lenient=lenient),
             search=search, min_lr=min_lr, top=top)


@correct_app.command("sex")
def correct_sex_cmd(
    person: str = typer.Argument(..., help="Unidentified person's code, or a family member's with --family."),
    family: str = typer.Option(None, "--family", help="The family of the person (a family member)."),
    sex: str = typer.Option(..., "--sex", help="M, F or U."),
    reason: str = _REASON, by: str = _BY, search: bool = _SEARCH, min_lr: float = _MIN_LR, top: int = _TOP,
) -> None:
    """Correct the sex of an unidentified person or of a family member."""
    from reunite.store.corrections import correct_sex

    who = changed_by(by)
    _correct(lambda s, model: correct_sex(s, person, family, sex=sex, changed_by=who, reason=reason),
             search=search, min_lr=min_lr, top=top)


@correct_app.command("history")
def history_cmd(
    code: str = typer.Argument(..., help="A sample, family or unidentified person code "
                                          "(a family member with --family)."),
    family: str = typer.Option(None, "--family", help="The family of a family member."),
) -> None:
    """Every version of a record: who changed it, when, why and what changed."""
    from reunite.cli import _open_store, console
    from reunite.store.corrections import history

    _, session, _ = _open_store(read_only=True)
    with session:
        entries = history(session, code, family=family)
    table = Table(title=f"history of {code}" + (f" (family {family})" if family else ""))
    for col in ("record", "version", "action", "by", "when (UTC)", "reason", "what changed"):
        table.add_column(col, overflow="fold")
    for e in entries:
        when = e.changed_at.strftime("%Y-%m-%d %H:%M:%S") if e.changed_at else "-"
        table.add_row(f"{e.entity} {e.code}", str(e.version), e.action, e.changed_by or "-", when, e.reason,
                      "\n".join(e.changes) or "-")
    console.print(table)
