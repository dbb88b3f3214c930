"""``reunite outcome ...`` (outcomes of identified children, follow-up visits) and
``reunite inbox ...`` (your notifications; ``inbox remind`` sends due follow-up reminders)."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

import typer
from rich.markup import escape
from rich.table import Table

from reunite.cli_common import AS_USER, acting, console, print_table, read, write
from reunite.errors import ReuniteError

outcome_app = typer.Typer(help="Outcomes of identified children and follow-up visits.", no_args_is_help=True)
inbox_app = typer.Typer(help="Your notifications.", no_args_is_help=True)

KIND_HELP = "returned_home, family_refused, welfare_placement, foster_care or adoption_referral"
JSON_OPT = typer.Option(False, "--json", help="Print JSON instead of a table.")


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ReuniteError(f"{option}: expected a date YYYY-MM-DD (e.g. 2026-11-30), found {value!r}") from None


def _s(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return escape(str(value))


def _json(value) -> None:
    console.print_json(json.dumps(value, default=str, ensure_ascii=False))


def _filled(title: str, headers, rows, *, free=()) -> Table:
    """A table whose code, id and date columns are never cut or wrapped; ``free`` columns fold."""
    from reunite.cli_cases import add_columns

    table = Table(title=title)
    add_columns(table, headers, rows, codes=[h for h in headers if h not in free])
    for row in rows:
        table.add_row(*row)
    return table


def _outcome_table(items, title: str) -> Table:
    rows = [[str(o.id), _s(o.child_code), _s(o.report_code), o.kind, _s(o.outcome_date), _s(o.officer),
             _s(o.jurisdiction), _s(o.created_by)] for o in items]
    return _filled(title, ("id", "child", "report", "kind", "date", "officer", "jurisdiction", "by"), rows)


def _follow_up_table(items, title: str) -> Table:
    rows = [[str(f.id), str(f.outcome_id), _s(f.child_code),
             f"[red]{_s(f.due_date)} (overdue)[/red]" if f.overdue else _s(f.due_date), _s(f.officer),
             _s(f.done_at), _s(f.done_by), _s(f.notes)] for f in items]
    return _filled(title, ("follow-up", "outcome", "child", "due", "officer", "done", "by", "notes"), rows,
                   free=("notes",))


def _print_outcome(o) -> None:
    console.print(f"[bold]outcome {o.id}[/bold]: child {_s(o.child_code)}, {o.kind} on {_s(o.outcome_date)}")
    console.print(f"  report {_s(o.report_code)}; officer {_s(o.officer)}; jurisdiction {_s(o.jurisdiction)}; "
                  f"recorded by {_s(o.created_by)} at {_s(o.created_at)}")
    if o.notes:
        console.print(f"  notes: {escape(o.notes)}")
    elif o.notes_hidden:
        console.print("  notes: (hidden: personal data outside your jurisdiction or role)")
    if o.follow_ups:
        print_table(_follow_up_table(o.follow_ups, "follow-up visits"))


@outcome_app.command("add")
def outcome_add(
    child_code: str = typer.Argument(..., help="The identified child's code."),
    kind: str = typer.Option(..., "--kind", help=KIND_HELP),
    on: str = typer.Option(..., "--date", help="The outcome's date (YYYY-MM-DD)."),
    officer: str = typer.Option(None, "--officer", help="The responsible officer (a user; default you)."),
    notes: str = typer.Option(None, "--notes", help="Notes (may hold circumstances: shown to personal readers)."),
    follow_ups: str = typer.Option(None, "--follow-ups", help="Follow-up visits, days after the outcome: 30,90,180."),
    as_user: str = AS_USER,
    as_json: bool = JSON_OPT,
) -> None:
    """Record what became of an identified child (several over time are kept as history)."""
    from reunite.cases.outcomes import parse_follow_up_days, record_outcome

    when = _date(on, "--date")
    days = parse_follow_up_days(follow_ups)
    engine, _, actor = acting(as_user)
    view = write(engine, lambda s: record_outcome(s, actor=actor, child_code=child_code, kind=kind,
                                                  outcome_date=when, officer=officer, notes=notes,
                                                  follow_up_days=days))
    _deliver(engine)
    if as_json:
        return _json(view.to_dict())
    _print_outcome(view)


@outcome_app.command("list")
def outcome_list(
    child: str = typer.Option(None, "--child", help="Only this child's outcomes."),
    kind: str = typer.Option(None, "--kind", help=KIND_HELP),
    cursor: str = typer.Option(None, "--cursor", help="The next page's cursor (printed under a full page)."),
    limit: int = typer.Option(50, "--limit", help="Rows per page (1 to 500)."),
    as_user: str = AS_USER,
    as_json: bool = JSON_OPT,
) -> None:
    """Outcomes in your jurisdiction, newest first."""
    from reunite.cases.outcomes import list_outcomes

    engine, _, actor = acting(as_user)
    page = read(engine, lambda s: list_outcomes(s, actor=actor, child_code=child, kind=kind, cursor=cursor,
                                                limit=limit))
    if as_json:
        return _json({"items": [o.to_dict() for o in page.items], "next_cursor": page.next_cursor})
    print_table(_outcome_table(page.items, "outcomes"))
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}")


@outcome_app.command("show")
def outcome_show(
    child_code: str = typer.Argument(..., help="The child's code."),
    as_user: str = AS_USER,
    as_json: bool = JSON_OPT,
) -> None:
    """A child's outcome history with follow-up visits."""
    from reunite.cases.outcomes import child_history

    engine, _, actor = acting(as_user)
    # a write transaction: showing notes is audited
    history = write(engine, lambda s: child_history(s, actor=actor, child_code=child_code))
    if as_json:
        return _json(history.to_dict())
    console.print(f"[bold]child {_s(history.child_code)}[/bold]: {history.status}; report {_s(history.report_code)}")
    if not history.outcomes:
        console.print("no outcome recorded" + ("" if history.status == "identified"
                                                 else " (not identified: the child stays searchable)"))
    for o in history.outcomes:
        _print_outcome(o)


@outcome_app.command("followup-add")
def followup_add(
    outcome_id: int = typer.Argument(..., help="The outcome's id."),
    due: str = typer.Option(..., "--due", help="The visit's due date (YYYY-MM-DD)."),
    officer: str = typer.Option(None, "--officer", help="The officer (a user; default the outcome's)."),
    as_user: str = AS_USER,
) -> None:
    """Schedule a follow-up visit."""
    from reunite.cases.outcomes import add_follow_up

    when = _date(due, "--due")
    engine, _, actor = acting(as_user)
    view = write(engine, lambda s: add_follow_up(s, actor=actor, outcome_id=outcome_id, due_date=when,
                                                 officer=officer))
    console.print(f"follow-up {view.id} of outcome {view.outcome_id} (child {_s(view.child_code)}) due "
                  f"{_s(view.due_date)}, officer {_s(view.officer)}")


@outcome_app.command("followup-done")
def followup_done(
    follow_up_id: int = typer.Argument(..., help="The follow-up visit's id."),
    notes: str = typer.Option(None, "--notes", help="What the visit found."),
    on: str = typer.Option(None, "--date", help="When it took place (YYYY-MM-DD; default today)."),
    as_user: str = AS_USER,
) -> None:
    """Record a follow-up visit done (by you)."""
    from reunite.cases.outcomes import complete_follow_up

    when = _date(on, "--date")
    engine, _, actor = acting(as_user)
    view = write(engine, lambda s: complete_follow_up(s, actor=actor, follow_up_id=follow_up_id, done_date=when,
                                                      notes=notes))
    console.print(f"follow-up {view.id} of outcome {view.outcome_id} done by {_s(view.done_by)} at "
                  f"{_s(view.done_at)}")


@outcome_app.command("overdue")
def outcome_overdue(
    cursor: str = typer.Option(None, "--cursor", help="The next page's cursor."),
    limit: int = typer.Option(50, "--limit", help="Rows per page (1 to 500)."),
    as_user: str = AS_USER,
    as_json: bool = JSON_OPT,
) -> None:
    """Follow-up visits overdue in your jurisdiction, the most overdue first."""
    from reunite.cases.outcomes import overdue_follow_ups

    engine, _, actor = acting(as_user)
    page = read(engine, lambda s: overdue_follow_ups(s, actor=actor, cursor=cursor, limit=limit))
    if as_json:
        return _json({"items": [f.to_dict() for f in page.items], "next_cursor": page.next_cursor})
    if not page.items:
        console.print("no overdue follow-up visit")
        return
    print_table(_follow_up_table(page.items, "overdue follow-up visits"))
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}")


@outcome_app.command("due")
def outcome_due(
    within: int = typer.Option(30, "--within", help="Days ahead (0: only the overdue ones)."),
    cursor: str = typer.Option(None, "--cursor", help="The next page's cursor."),
    limit: int = typer.Option(50, "--limit", help="Rows per page (1 to 500)."),
    as_user: str = AS_USER,
    as_json: bool = JSON_OPT,
) -> None:
    """Follow-up visits due within --within days in your jurisdiction, overdue ones first (the
    web's /outcomes/follow-ups)."""
    from reunite.cases.outcomes import due_follow_ups

    engine, _, actor = acting(as_user)
    try:
        page = read(engine, lambda s: due_follow_ups(s, actor=actor, within_days=within, cursor=cursor,
                                                    limit=limit))
    except ReuniteError as exc:
        raise ReuniteError(str(exc).replace("within_days:", "--within:", 1)) from None
    if as_json:
        return _json({"items": [f.to_dict() for f in page.items], "next_cursor": page.next_cursor})
    if not page.items:
        console.print(f"no follow-up visit due within {within} days")
        return
    print_table(_follow_up_table(page.items, f"follow-up visits due within {within} days (overdue first)"))
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}")


# ---------------------------------------------------------------------------------------
# inbox


def _deliver(engine) -> None:
    """Send e-mails and webhooks owed (when turned on); failures are recorded, never raised."""
    from reunite.cases.delivery import deliver_pending
    from reunite.settings import get_settings

    try:
        deliver_pending(engine, get_settings())
    except ReuniteError:
        pass


@inbox_app.command("list")
def inbox_list(
    unread: bool = typer.Option(False, "--unread", help="Only unread notifications."),
    kind: str = typer.Option(None, "--kind", help="candidate, confirmation, transition, follow_up, registration, "
                                                  "outcome"),
    cursor: str = typer.Option(None, "--cursor", help="The next page's cursor."),
    limit: int = typer.Option(50, "--limit", help="Rows per page (1 to 500)."),
    as_user: str = AS_USER,
    as_json: bool = JSON_OPT,
) -> None:
    """Your notifications, unread first."""
    from reunite.cases.notifications import list_inbox

    engine, _, actor = acting(as_user)
    page = read(engine, lambda s: list_inbox(s, actor=actor, unread=True if unread else None, kind=kind,
                                             cursor=cursor, limit=limit))
    if as_json:
        return _json({"items": [n.to_dict() for n in page.items], "next_cursor": page.next_cursor,
                      "unread": page.extra.get("unread")})
    rows = [[str(n.id), "•" if n.read_at is None else "", n.kind, _s(n.created_at), escape(n.subject)]
            for n in page.items]
    console.print(_filled(f"inbox of {actor.username}: {page.extra.get('unread', 0)} unread",
                          ("id", "", "kind", "when (UTC)", "subject"), rows, free=("subject",)))
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}")


@inbox_app.command("read")
def inbox_read(
    notification_id: int = typer.Argument(..., help="The notification's id."),
    as_user: str = AS_USER,
) -> None:
    """Show one of your notifications and mark it read."""
    from reunite.cases.notifications import mark_read

    engine, _, actor = acting(as_user)
    n = write(engine, lambda s: mark_read(s, actor=actor, notification_id=notification_id))
    console.print(f"[bold]{escape(n.subject)}[/bold]  ({n.kind}, {_s(n.created_at)})")
    if n.body:
        console.print(escape(n.body))
    if n.entity:
        console.print(f"about: {n.entity} {n.entity_id}")


@inbox_app.command("remind")
def inbox_remind(
    within: int = typer.Option(7, "--within", help="Remind of follow-up visits due within this many days."),
    as_user: str = AS_USER,
) -> None:
    """Notify officers of follow-up visits due soon or overdue (once each), then send owed
    e-mails and webhooks.  Meant for a daily timer."""
    from reunite.cases.delivery import channels, deliver_pending
    from reunite.cases.notifications import notify_due_follow_ups
    from reunite.settings import get_settings

    engine, _, actor = acting(as_user)
    actor.require("notification:read")
    today = datetime.now(timezone.utc).date()
    made = write(engine, lambda s: notify_due_follow_ups(s, today=today, within_days=within))
    settings = get_settings()
    report = deliver_pending(engine, settings)
    on = ", ".join(channels(settings)) or "off (no REUNITE_SMTP_HOST or REUNITE_WEBHOOK_URL)"
    console.print(f"{made} follow-up reminder(s) made; delivery {on}: {report.sent} sent, {report.failed} failed, "
                  f"{report.skipped} without an address")
