"""Outcomes of identified children and their follow-up visits.

An outcome says what became of a child once identified: ``returned_home``,
``family_refused`` (the family would not take the child back or was found unsuitable, e.g.
parents who sold the child), ``welfare_placement``, ``foster_care``, ``adoption_referral``.
A child may have several over time (returned home, later placed in welfare); the history is
kept, nothing is overwritten.  Each outcome has a date, a responsible officer (a user;
default the actor) and notes; its jurisdiction is the child's (the actor's when the child
has none); the investigator of the report that identified the child is notified.  Follow-up visits are scheduled with a due date and an officer, and recorded
done with a date, notes and who.

Nothing here changes a child's status, sample or candidates: a child with no confirmed
match stays ``unidentified`` and keeps being searched.  Notes may hold circumstances, so
they are shown only to users who see personal data of the outcome's jurisdiction, and every
such read is audited.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from reunite.cases.common import (
    Page,
    audit,
    check_limit,
    decode_cursor,
    encode_cursor,
    jurisdiction_path,
    keyset_page,
    user_by_name,
)
from reunite.cases.notifications import message, notify
from reunite.cases.records import path_code
from reunite.errors import Conflict, NotFound, ReuniteError
from reunite.i18n import N_
from reunite.security.actor import Actor
from reunite.store.models import Unidentified
from reunite.store.models_workflow import OUTCOME_KINDS, FollowUp, Jurisdiction, MissingReport, Outcome, User

MAX_NOTES = 10_000
MAX_FOLLOW_UPS = 24
MAX_FOLLOW_UP_DAYS = 3650


@dataclass
class FollowUpView:
    id: int
    outcome_id: int
    child_code: str
    due_date: date
    officer: str | None
    done_at: datetime | None
    done_by: str | None
    notes: str | None
    overdue: bool
    jurisdiction: str | None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class OutcomeView:
    id: int
    child_code: str
    report_code: str | None
    kind: str
    outcome_date: date
    officer: str | None
    notes: str | None
    notes_hidden: bool
    jurisdiction: str | None
    created_by: str
    created_at: datetime
    follow_ups: list[FollowUpView] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ChildHistory:
    child_code: str
    status: str
    report_code: str | None
    outcomes: list[OutcomeView]

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------------------
# helpers


def _today() -> date:
    return datetime.now(timezone.utc).date()


def _check_notes(notes: str | None, what: str = "notes") -> str | None:
    if notes is None:
        return None
    notes = notes.strip()
    if len(notes) > MAX_NOTES:
        raise ReuniteError(f"{what}: at most {MAX_NOTES} characters, found {len(notes)}; shorten them")
    return notes or None


def _check_kind(kind: str) -> str:
    if kind not in OUTCOME_KINDS:
        raise ReuniteError(f"kind: expected one of {', '.join(OUTCOME_KINDS)}, found {kind!r}")
    return kind


def _check_past(value: date, what: str) -> date:
    if not isinstance(value, date):
        raise ReuniteError(f"{what}: expected a date (YYYY-MM-DD), found {value!r}")
    if value > _today():
        raise ReuniteError(f"{what}: {value.isoformat()} is in the future; record it when it has happened")
    return value


def parse_follow_up_days(text: str | None) -> list[int]:
    """``"30,90,180"`` → ``[30, 90, 180]`` (days after the outcome); errors name ``follow_ups``."""
    if text is None or not text.strip():
        return []
    days = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or not 1 <= int(part) <= MAX_FOLLOW_UP_DAYS:
            raise ReuniteError(f"follow_ups: expected days after the outcome, 1 to {MAX_FOLLOW_UP_DAYS}, separated "
                               f"by commas (e.g. 30,90,180), found {part!r}")
        days.append(int(part))
    return days


def _child(session: Session, actor: Actor, child_code: str) -> tuple[Unidentified, str | None]:
    child = session.execute(select(Unidentified).where(Unidentified.code == child_code)).scalar_one_or_none()
    if child is None:
        raise NotFound(f"child_code: no unidentified person or rescued child {child_code!r}")
    path = jurisdiction_path(session, child.jurisdiction_id)
    if path is not None and not actor.in_scope(path):  # a child of no jurisdiction: anyone may record
        raise NotFound(f"child_code: no unidentified person or rescued child {child_code!r} in your jurisdiction")
    return child, path


def _officer(session: Session, actor: Actor, username: str | None, default_id: int | None) -> int | None:
    if username is None:
        return default_id
    user = user_by_name(session, username, what="officer")
    if not user.active:
        raise ReuniteError(f"officer: the account {username!r} is disabled; name an active user")
    return user.id


def _usernames(session: Session, ids) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.username).where(User.id.in_(ids))).all())


def _scoped(query, actor: Actor):
    """Restrict an outcome query to the actor's jurisdiction subtree."""
    return query.join(Jurisdiction, Jurisdiction.id == Outcome.jurisdiction_id).where(
        Jurisdiction.path.startswith(actor.jurisdiction_path, autoescape=True))


def _outcome_in_scope(session: Session, actor: Actor, outcome_id: int) -> tuple[Outcome, str | None]:
    row = session.get(Outcome, outcome_id) if isinstance(outcome_id, int) else None
    path = jurisdiction_path(session, row.jurisdiction_id) if row is not None else None
    if row is None or not actor.in_scope(path):
        raise NotFound(f"outcome_id: no outcome {outcome_id} in your jurisdiction")
    return row, path


def _follow_up_views(session: Session, outcomes: list[Outcome], *, show_notes: dict[int, bool],
                     today: date) -> dict[int, list[FollowUpView]]:
    if not outcomes:
        return {}
    ids = [o.id for o in outcomes]
    rows = session.execute(select(FollowUp).where(FollowUp.outcome_id.in_(ids))
                           .order_by(FollowUp.due_date, FollowUp.id)).scalars().all()
    names = _usernames(session, [r.officer_id for r in rows])
    by_outcome = {o.id: o for o in outcomes}
    codes = _child_codes(session, [o.unidentified_id for o in outcomes])
    paths = _paths(session, [o.jurisdiction_id for o in outcomes])
    out: dict[int, list[FollowUpView]] = {i: [] for i in ids}
    for r in rows:
        o = by_outcome[r.outcome_id]
        out[r.outcome_id].append(_fu_view(r, codes[o.unidentified_id], names, paths.get(o.jurisdiction_id),
                                          show_notes.get(r.outcome_id, False), today))
    return out


def _fu_view(r: FollowUp, child_code: str, names: dict, path: str | None, show_notes: bool,
             today: date) -> FollowUpView:
    return FollowUpView(id=r.id, outcome_id=r.outcome_id, child_code=child_code, due_date=r.due_date,
                        officer=names.get(r.officer_id), done_at=r.done_at, done_by=r.done_by,
                        notes=r.notes if show_notes else None,
                        overdue=r.done_at is None and r.due_date < today, jurisdiction=path_code(path))


def _child_codes(session: Session, ids) -> dict[int, str]:
    return dict(session.execute(select(Unidentified.id, Unidentified.code).where(Unidentified.id.in_(set(ids)))).all())


def _paths(session: Session, ids) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    return dict(session.execute(select(Jurisdiction.id, Jurisdiction.path).where(Jurisdiction.id.in_(ids))).all())


def _report_codes(session: Session, ids) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return dict(session.execute(select(MissingReport.id, MissingReport.code).where(MissingReport.id.in_(ids))).all())


def _views(session: Session, actor: Actor, rows: list[Outcome], *, with_follow_ups: bool,
           with_notes: bool) -> list[OutcomeView]:
    """Views of outcomes; notes (and follow-up notes) only where the actor sees personal data,
    and that read audited."""
    if not rows:
        return []
    today = _today()
    codes = _child_codes(session, [o.unidentified_id for o in rows])
    paths = _paths(session, [o.jurisdiction_id for o in rows])
    names = _usernames(session, [o.officer_id for o in rows])
    reports = _report_codes(session, [o.report_id for o in rows])
    show = {o.id: with_notes and actor.sees_personal(paths.get(o.jurisdiction_id)) for o in rows}
    fus = _follow_up_views(session, rows, show_notes=show, today=today) if with_follow_ups else {}
    shown = [o.id for o in rows if show[o.id] and (o.notes or any(f.notes for f in fus.get(o.id, [])))]
    if shown:
        audit(session, actor, "outcome.read_personal", entity="outcome",
              entity_id=shown[0] if len(shown) == 1 else None, details={"outcomes": shown})
    return [OutcomeView(id=o.id, child_code=codes[o.unidentified_id], report_code=reports.get(o.report_id),
                        kind=o.kind, outcome_date=o.outcome_date, officer=names.get(o.officer_id),
                        notes=o.notes if show[o.id] else None,
                        notes_hidden=bool(o.notes) and not show[o.id],
                        jurisdiction=path_code(paths.get(o.jurisdiction_id)),
                        created_by=o.created_by, created_at=o.created_at, follow_ups=fus.get(o.id, []))
            for o in rows]


# ---------------------------------------------------------------------------------------
# outcomes


def record_outcome(session: Session, *, actor: Actor, child_code: str, kind: str, outcome_date: date,
                   officer: str | None = None, notes: str | None = None,
                   follow_up_days: list[int] | tuple[int, ...] = ()) -> OutcomeView:
    """Record what became of an identified child, with follow-up visits ``follow_up_days``
    days after ``outcome_date`` (the officer's).  Refused for a child not identified."""
    actor.require("outcome:write")
    _check_kind(kind)
    _check_past(outcome_date, "outcome_date")
    notes = _check_notes(notes)
    days = sorted(set(follow_up_days or ()))
    if len(days) > MAX_FOLLOW_UPS or any(not isinstance(d, int) or not 1 <= d <= MAX_FOLLOW_UP_DAYS for d in days):
        raise ReuniteError(f"follow_ups: at most {MAX_FOLLOW_UPS} visits, each 1 to {MAX_FOLLOW_UP_DAYS} days after "
                           f"the outcome, found {list(follow_up_days)}")
    child, path = _child(session, actor, child_code)
    if child.status != "identified":
        raise Conflict(f"child_code: {child_code!r} is not identified (status {child.status!r}); an outcome is "
                       "recorded once a candidate is confirmed. An unclaimed child stays searchable: nothing to do")
    if child.jurisdiction_id is None and actor.jurisdiction_id is None:
        raise ReuniteError("jurisdiction: the child has no jurisdiction and neither have you; set the child's")
    officer_id = _officer(session, actor, officer, actor.user_id)
    row = Outcome(unidentified_id=child.id, report_id=child.identified_report_id, kind=kind,
                  outcome_date=outcome_date, officer_id=officer_id, notes=notes,
                  jurisdiction_id=child.jurisdiction_id or actor.jurisdiction_id, created_by=actor.username)
    session.add(row)
    session.flush()
    for d in days:
        session.add(FollowUp(outcome_id=row.id, due_date=outcome_date + timedelta(days=d), officer_id=officer_id,
                             created_by=actor.username))
    session.flush()
    audit(session, actor, "outcome.create", entity="outcome", entity_id=row.id,
          details={"child": child_code, "kind": kind, "date": outcome_date.isoformat(), "officer": officer,
                   "follow_up_days": days, "notes": bool(notes)})
    if officer_id is not None and officer_id != actor.user_id:
        notify(session, user_id=officer_id, kind="outcome", entity="outcome", entity_id=row.id,
               subject=N_("You are the responsible officer of outcome %(outcome)s (%(kind)s) of child %(child)s"),
               body=N_("Recorded by %(user)s; %(n)s follow-up visit(s) scheduled."),
               params={"outcome": row.id, "kind": _kind_words(kind), "child": child_code, "user": actor.username,
                       "n": len(days)})
    _tell_investigator(session, actor, row, child_code=child.code, officer_id=officer_id)
    return _views(session, actor, [row], with_follow_ups=True, with_notes=True)[0]


#: an outcome's kind in words, put translated into the notifications (the web pages' words)
KIND_NAMES = {"returned_home": N_("Returned home"), "family_refused": N_("Family refused or unsuitable"),
              "welfare_placement": N_("Welfare placement"), "foster_care": N_("Foster care"),
              "adoption_referral": N_("Referred for adoption")}


def _kind_words(kind: str):
    """The kind as a translated message in a notification (the code itself when unknown)."""
    return message(KIND_NAMES[kind]) if kind in KIND_NAMES else kind


def _tell_investigator(session: Session, actor: Actor, row: Outcome, *, child_code: str,
                       officer_id: int | None) -> None:
    """The investigator of the report that identified the child hears of the outcome (codes
    only), unless they recorded it or were just told as its officer."""
    if row.report_id is None:
        return
    report_code, investigator = session.execute(
        select(MissingReport.code, MissingReport.investigator_id).where(MissingReport.id == row.report_id)).one()
    if investigator is None or investigator in (actor.user_id, officer_id):
        return
    if not session.execute(select(User.active).where(User.id == investigator)).scalar():
        return
    notify(session, user_id=investigator, kind="outcome", entity="outcome", entity_id=row.id,
           subject=N_("Outcome %(outcome)s (%(kind)s) recorded for child %(child)s of report %(report)s"),
           body=N_("Recorded by %(user)s on %(date)s."),
           params={"outcome": row.id, "kind": _kind_words(row.kind), "child": child_code, "report": report_code,
                   "user": actor.username, "date": row.outcome_date.isoformat()})


def get_outcome(session: Session, *, actor: Actor, outcome_id: int) -> OutcomeView:
    """One outcome with its follow-ups (notes where the actor sees personal data)."""
    actor.require("outcome:read")
    row, _ = _outcome_in_scope(session, actor, outcome_id)
    return _views(session, actor, [row], with_follow_ups=True, with_notes=True)[0]


def list_outcomes(session: Session, *, actor: Actor, child_code: str | None = None, kind: str | None = None,
                  cursor: str | None = None, limit: int | None = None) -> Page:
    """Outcomes in the actor's subtree, newest first (codes only, no notes)."""
    actor.require("outcome:read")
    query = _scoped(select(Outcome), actor)
    if kind is not None:
        query = query.where(Outcome.kind == _check_kind(kind))
    if child_code is not None:
        query = query.join(Unidentified, Unidentified.id == Outcome.unidentified_id).where(
            Unidentified.code == child_code)
    page = keyset_page(session, query, Outcome.id, cursor=cursor, limit=limit, descending=True)
    page.items = _views(session, actor, page.items, with_follow_ups=False, with_notes=False)
    return page


def child_history(session: Session, *, actor: Actor, child_code: str) -> ChildHistory:
    """Every outcome of a child, oldest first, with follow-ups (the child's status shows an
    unidentified child has none)."""
    actor.require("outcome:read")
    child, _ = _child(session, actor, child_code)
    rows = session.execute(select(Outcome).where(Outcome.unidentified_id == child.id)
                           .order_by(Outcome.outcome_date, Outcome.id)).scalars().all()
    rows = [o for o in rows if actor.in_scope(jurisdiction_path(session, o.jurisdiction_id))]
    report = _report_codes(session, [child.identified_report_id]).get(child.identified_report_id)
    return ChildHistory(child_code=child.code, status=child.status, report_code=report,
                        outcomes=_views(session, actor, rows, with_follow_ups=True, with_notes=True))


# ---------------------------------------------------------------------------------------
# follow-up visits


def add_follow_up(session: Session, *, actor: Actor, outcome_id: int, due_date: date,
                  officer: str | None = None) -> FollowUpView:
    """Schedule a follow-up visit of an outcome (officer: default the outcome's)."""
    actor.require("outcome:write")
    outcome, path = _outcome_in_scope(session, actor, outcome_id)
    if not isinstance(due_date, date):
        raise ReuniteError(f"due_date: expected a date (YYYY-MM-DD), found {due_date!r}")
    if due_date < outcome.outcome_date:
        raise ReuniteError(f"due_date: {due_date.isoformat()} is before the outcome's date "
                           f"{outcome.outcome_date.isoformat()}")
    officer_id = _officer(session, actor, officer, outcome.officer_id or actor.user_id)
    row = FollowUp(outcome_id=outcome.id, due_date=due_date, officer_id=officer_id, created_by=actor.username)
    session.add(row)
    session.flush()
    audit(session, actor, "follow_up.create", entity="follow_up", entity_id=row.id,
          details={"outcome": outcome.id, "due": due_date.isoformat(), "officer": officer})
    code = _child_codes(session, [outcome.unidentified_id])[outcome.unidentified_id]
    return _fu_view(row, code, _usernames(session, [officer_id]), path, False, _today())


def complete_follow_up(session: Session, *, actor: Actor, follow_up_id: int, done_date: date | None = None,
                       notes: str | None = None) -> FollowUpView:
    """Record a follow-up visit done (``done_date``: default today), by the actor, with notes."""
    actor.require("outcome:write")
    row = session.get(FollowUp, follow_up_id) if isinstance(follow_up_id, int) else None
    if row is None:
        raise NotFound(f"follow_up_id: no follow-up visit {follow_up_id} in your jurisdiction")
    outcome = session.get(Outcome, row.outcome_id)
    path = jurisdiction_path(session, outcome.jurisdiction_id)
    if not actor.in_scope(path):
        raise NotFound(f"follow_up_id: no follow-up visit {follow_up_id} in your jurisdiction")
    if row.done_at is not None:
        raise Conflict(f"follow_up_id: visit {follow_up_id} was already recorded done by {row.done_by} on "
                       f"{row.done_at.date().isoformat()}; schedule a new visit instead")
    today = _today()
    done_date = _check_past(done_date or today, "done_date")
    if done_date < outcome.outcome_date:
        raise ReuniteError(f"done_date: {done_date.isoformat()} is before the outcome's date "
                           f"{outcome.outcome_date.isoformat()}")
    row.done_at = datetime.now(timezone.utc) if done_date == today else datetime.combine(
        done_date, time(12, 0), tzinfo=timezone.utc)
    row.done_by = actor.username
    row.notes = _check_notes(notes)
    session.flush()
    audit(session, actor, "follow_up.done", entity="follow_up", entity_id=row.id,
          details={"outcome": outcome.id, "date": done_date.isoformat(), "notes": bool(row.notes)})
    code = _child_codes(session, [outcome.unidentified_id])[outcome.unidentified_id]
    return _fu_view(row, code, _usernames(session, [row.officer_id]), path, actor.sees_personal(path), today)


def _follow_up_page(session: Session, query, *, today: date, cursor: str | None, limit: int | None) -> Page:
    """One page of ``query`` (follow-ups with their outcomes), earliest due first, keyset paged."""
    limit = check_limit(limit)
    after = decode_cursor(cursor)
    if after is not None:
        try:
            due, last = date.fromisoformat(after["d"]), int(after["id"])
            if not 0 <= last < 2**62:
                raise ValueError(last)
        except (KeyError, TypeError, ValueError):
            raise ReuniteError("cursor: not a cursor this server gave; start again without it") from None
        query = query.where(or_(FollowUp.due_date > due, and_(FollowUp.due_date == due, FollowUp.id > last)))
    rows = session.execute(query.order_by(FollowUp.due_date, FollowUp.id).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    codes = _child_codes(session, [o.unidentified_id for _, o in rows])
    paths = _paths(session, [o.jurisdiction_id for _, o in rows])
    names = _usernames(session, [f.officer_id for f, _ in rows])
    items = [_fu_view(f, codes[o.unidentified_id], names, paths.get(o.jurisdiction_id), False, today)
             for f, o in rows]
    next_cursor = encode_cursor({"d": rows[-1][0].due_date.isoformat(), "id": rows[-1][0].id}) if more else None
    return Page(items, next_cursor)


def overdue_follow_ups(session: Session, *, actor: Actor, today: date | None = None, cursor: str | None = None,
                       limit: int | None = None) -> Page:
    """Follow-up visits due before ``today`` and not done, in the actor's subtree, the most
    overdue first (codes only)."""
    actor.require("outcome:read")
    today = today or _today()
    query = _scoped(select(FollowUp, Outcome).join(Outcome, Outcome.id == FollowUp.outcome_id), actor).where(
        FollowUp.done_at.is_(None), FollowUp.due_date < today)
    return _follow_up_page(session, query, today=today, cursor=cursor, limit=limit)


DUE_WINDOW_DAYS = 30


def due_follow_ups(session: Session, *, actor: Actor, within_days: int = DUE_WINDOW_DAYS,
                   today: date | None = None, cursor: str | None = None, limit: int | None = None) -> Page:
    """Follow-up visits not done and due before ``today + within_days`` (the overdue ones
    first: the earliest due date first), in the actor's subtree (codes only); each view says
    whether it is overdue."""
    actor.require("outcome:read")
    if not isinstance(within_days, int) or not 0 <= within_days <= MAX_FOLLOW_UP_DAYS:
        raise ReuniteError(f"within_days: expected 0 to {MAX_FOLLOW_UP_DAYS} days, found {within_days!r}")
    today = today or _today()
    query = _scoped(select(FollowUp, Outcome).join(Outcome, Outcome.id == FollowUp.outcome_id), actor).where(
        FollowUp.done_at.is_(None), FollowUp.due_date <= today + timedelta(days=within_days))
    return _follow_up_page(session, query, today=today, cursor=cursor, limit=limit)
