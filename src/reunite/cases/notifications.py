"""Notifications: an inbox per user, and the notices reunite sends on its own.

Every service puts notices in the inbox with :func:`notify`, in its own transaction.
Subjects and bodies carry codes and numbers only, never names: they may leave the system by
e-mail or webhook (:mod:`reunite.cases.delivery`, after the transaction commits).

Notices are written in English message ids with values (``notify(..., subject=N_("Outcome
%(outcome)s recorded"), params={"outcome": 7})``): the English text is stored in ``subject``
and ``body`` (what the CLI, the API and webhooks show), the ids and values in
``message_params`` (JSON ``{"subject", "body", "params"}``), and :func:`render_notification`
shows a notice in its reader's language (the inbox page, e-mails).

* :func:`notify_new_candidates`: a new candidate at or above ``settings.notify_log10_lr``
  notifies the investigator of the missing report linked to the candidate's family (not
  when that report is closed or identified).
* :func:`notify_due_follow_ups`: a follow-up visit due within a few days, or overdue,
  notifies its officer, once.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from reunite.cases.common import Page, audit, check_limit, decode_cursor, encode_cursor
from reunite import i18n
from reunite.errors import NotFound, PermissionDenied, ReuniteError
from reunite.i18n import N_
from reunite.security.actor import Actor
from reunite.settings import Settings, get_settings
from reunite.store.models import Family, MatchCandidate, Unidentified
from reunite.store.models_workflow import FollowUp, MissingReport, Notification, Outcome, User

KINDS = ("candidate", "confirmation", "transition", "follow_up", "registration", "outcome")
DUE_WITHIN_DAYS = 7


def notify(session: Session, *, user_id: int, kind: str, subject: str, body: str | None = None,
           entity: str | None = None, entity_id: int | None = None, params: dict | None = None) -> Notification:
    """Put a notification in ``user_id``'s inbox, in the caller's transaction.  ``kind``:
    candidate | confirmation | transition | follow_up | registration | outcome.  Subjects and
    bodies carry codes only, never names (they may leave the system by e-mail).

    With ``params``, ``subject`` and ``body`` are English message ids (marked ``N_``) with
    ``%(name)s`` placeholders filled from ``params``; a value made by :func:`message` is itself
    translated.  The English text is stored as the subject and body; the ids and values are
    kept so that :func:`render_notification` speaks the reader's language."""
    stored = None
    if params is not None:
        stored = {"subject": subject, "body": body, "params": _check_params(params)}
        subject, body = _render(stored, "en")
    row = Notification(user_id=user_id, kind=kind, subject=subject, body=body, entity=entity, entity_id=entity_id,
                       message_params=json.dumps(stored, ensure_ascii=False, sort_keys=True) if stored else None)
    session.add(row)
    session.flush()
    return row


def message(msgid: str, **params) -> dict:
    """A value of :func:`notify`'s ``params`` that is itself a message (translated, then put in
    its placeholder), e.g. ``message(N_("supports"))``."""
    return {"msgid": msgid, "params": _check_params(params)}


def _check_params(params: dict) -> dict:
    out = {}
    for name, value in params.items():
        if isinstance(value, dict):
            if not isinstance(value.get("msgid"), str):
                raise ReuniteError(f"params: {name}: expected a value or message(...), found {value!r}")
            value = {"msgid": value["msgid"], "params": _check_params(value.get("params") or {})}
        elif value is not None and not isinstance(value, (str, int, float)):
            raise ReuniteError(f"params: {name}: expected text, a number or message(...), "
                               f"found {type(value).__name__}")
        out[str(name)] = value
    return out


def _fill(msgid: str, params: dict) -> str:
    values = {k: _fill(v["msgid"], v.get("params") or {}) if isinstance(v, dict) else ("" if v is None else v)
              for k, v in params.items()}
    try:
        return i18n.gettext(msgid) % values
    except (KeyError, ValueError, TypeError):  # a broken translation: the English text
        return msgid % values


def _render(stored: dict, language: str) -> tuple[str, str | None]:
    with i18n.use_language(language):
        params = stored.get("params") or {}
        body = stored.get("body")
        return _fill(stored["subject"], params), (_fill(body, params) if body else None)


def render_notification(row, language: str) -> tuple[str, str | None]:
    """``(subject, body)`` of a notification (a row with ``subject``, ``body`` and
    ``message_params``) in ``language``; a notice stored without message ids (older rows,
    or made without ``params``) is shown as stored."""
    raw = getattr(row, "message_params", None)
    if raw:
        try:
            stored = json.loads(raw)
            return _render(stored, language)
        except (ValueError, KeyError, TypeError, AttributeError, ReuniteError):
            pass
    return row.subject, row.body


def _already(session: Session, *, user_id: int, kind: str, entity: str, entity_id: int) -> bool:
    return session.execute(select(Notification.id).where(
        Notification.user_id == user_id, Notification.kind == kind, Notification.entity == entity,
        Notification.entity_id == entity_id).limit(1)).first() is not None


# ---------------------------------------------------------------------------------------
# notices reunite sends on its own


def notify_new_candidates(session: Session, candidate_ids, *, settings: Settings | None = None) -> int:
    """Notify the investigator of each new candidate at or above ``settings.notify_log10_lr``
    whose family is linked to a missing report with an investigator; returns how many
    notifications were made.  Skipped: a candidate already notified to that investigator,
    every candidate whose report is closed or identified (its family is no longer looked for),
    and every candidate of a child already identified (a confirmed match; its new candidates
    stay listed, but are no lead to send anyone after)."""
    settings = settings or get_settings()
    ids = sorted({int(i) for i in candidate_ids or ()})
    if not ids:
        return 0
    made = 0
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(MatchCandidate, MissingReport.code, MissingReport.investigator_id, Unidentified.code, Family.code)
            .join(MissingReport, MissingReport.family_id == MatchCandidate.family_id)
            .join(Unidentified, Unidentified.id == MatchCandidate.unidentified_id)
            .join(Family, Family.id == MatchCandidate.family_id)
            .join(User, User.id == MissingReport.investigator_id)
            .where(MatchCandidate.id.in_(ids[start:start + 500]),
                   MatchCandidate.log10_lr >= settings.notify_log10_lr, User.active.is_(True),
                   MissingReport.status.not_in(("closed", "identified")),
                   Unidentified.status != "identified")
            .order_by(MatchCandidate.id)).all()
        for cand, report_code, investigator_id, child_code, family_code in rows:
            if _already(session, user_id=investigator_id, kind="candidate", entity="candidate", entity_id=cand.id):
                continue
            notify(session, user_id=investigator_id, kind="candidate", entity="candidate", entity_id=cand.id,
                   subject=N_("New candidate %(candidate)s for report %(report)s: child %(child)s, "
                              "log10 LR %(log10_lr)s"),
                   body=N_("Candidate %(candidate)s: unidentified %(child)s as %(missing)s of family %(family)s "
                           "(report %(report)s); LR %(lr)s (log10 %(log10_lr)s) over %(loci)s loci. Review it: "
                           "reunite candidates show %(candidate)s"),
                   params={"candidate": cand.id, "report": report_code, "child": child_code,
                           "log10_lr": f"{cand.log10_lr:.2f}", "missing": cand.missing_code,
                           "family": family_code, "lr": f"{cand.lr:.4g}", "loci": cand.loci_compared})
            made += 1
    return made


def notify_due_follow_ups(session: Session, *, today: date, within_days: int = DUE_WITHIN_DAYS) -> int:
    """One notification per follow-up visit not done and due by ``today + within_days``
    (overdue ones included), to its officer (else the outcome's), never twice for a visit;
    returns how many were made."""
    if not 0 <= within_days <= 365:
        raise ReuniteError(f"within_days: expected 0 to 365, found {within_days}")
    horizon = today + timedelta(days=within_days)
    rows = session.execute(
        select(FollowUp, Outcome.officer_id, Unidentified.code)
        .join(Outcome, Outcome.id == FollowUp.outcome_id)
        .join(Unidentified, Unidentified.id == Outcome.unidentified_id)
        .where(FollowUp.done_at.is_(None), FollowUp.due_date <= horizon)
        .order_by(FollowUp.due_date, FollowUp.id)).all()
    made = 0
    for fu, outcome_officer, child_code in rows:
        officer = fu.officer_id or outcome_officer
        if officer is None or _already(session, user_id=officer, kind="follow_up", entity="follow_up",
                                       entity_id=fu.id):
            continue
        notify(session, user_id=officer, kind="follow_up", entity="follow_up", entity_id=fu.id,
               subject=N_("Follow-up visit %(visit)s of child %(child)s overdue since %(date)s") if fu.due_date < today
               else N_("Follow-up visit %(visit)s of child %(child)s due %(date)s"),
               body=N_("Outcome %(outcome)s. Record it: reunite outcome followup-done %(visit)s --notes ..."),
               params={"visit": fu.id, "child": child_code, "date": fu.due_date.isoformat(),
                       "outcome": fu.outcome_id})
        made += 1
    return made


# ---------------------------------------------------------------------------------------
# the inbox


@dataclass
class NotificationView:
    id: int
    kind: str
    subject: str
    body: str | None
    entity: str | None
    entity_id: int | None
    created_at: datetime
    read_at: datetime | None

    def to_dict(self) -> dict:
        return asdict(self)


def _view(row: Notification, language: str | None = None) -> NotificationView:
    subject, body = render_notification(row, language) if language else (row.subject, row.body)
    return NotificationView(id=row.id, kind=row.kind, subject=subject, body=body, entity=row.entity,
                            entity_id=row.entity_id, created_at=row.created_at, read_at=row.read_at)


def _owner(actor: Actor) -> int:
    actor.require("notification:read")
    if actor.user_id is None:
        raise PermissionDenied(f"{actor.username}: not a registered user, so no inbox")
    return actor.user_id


def list_inbox(session: Session, *, actor: Actor, unread: bool | None = None, kind: str | None = None,
               cursor: str | None = None, limit: int | None = None, language: str | None = None) -> Page:
    """The actor's notifications: unread first, newest first within each; ``unread`` True:
    only unread, False: only read.  ``extra['unread']`` counts the unread.  ``language``:
    subjects and bodies in that language (else the English text stored)."""
    user_id = _owner(actor)
    limit = check_limit(limit)
    if kind is not None and kind not in KINDS:
        raise ReuniteError(f"kind: expected one of {', '.join(KINDS)}, found {kind!r}")
    rank = case((Notification.read_at.is_(None), 0), else_=1)
    query = select(Notification, rank).where(Notification.user_id == user_id)
    if unread is True:
        query = query.where(Notification.read_at.is_(None))
    elif unread is False:
        query = query.where(Notification.read_at.is_not(None))
    if kind is not None:
        query = query.where(Notification.kind == kind)
    after = decode_cursor(cursor)
    if after is not None:
        u, last = after.get("u"), after.get("id")
        if u not in (0, 1) or not isinstance(last, int) or not 0 <= last < 2**62:
            raise ReuniteError("cursor: not a cursor this server gave; start again without it")
        query = query.where(or_(rank > u, and_(rank == u, Notification.id < last)))
    rows = session.execute(query.order_by(rank, Notification.id.desc()).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor({"u": int(rows[-1][1]), "id": rows[-1][0].id}) if more else None
    return Page([_view(r, language) for r, _ in rows], next_cursor, extra={"unread": _unread(session, user_id)})


def _unread(session: Session, user_id: int) -> int:
    return session.execute(select(func.count(Notification.id)).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))).scalar_one()


def unread_count(session: Session, *, actor: Actor) -> int:
    """How many of the actor's notifications are unread."""
    return _unread(session, _owner(actor))


def mark_read(session: Session, *, actor: Actor, notification_id: int) -> NotificationView:
    """Mark one of the actor's own notifications read (someone else's is not found)."""
    user_id = _owner(actor)
    row = session.get(Notification, notification_id) if isinstance(notification_id, int) else None
    if row is None or row.user_id != user_id:
        raise NotFound(f"notification_id: no notification {notification_id} in your inbox")
    if row.read_at is None:
        row.read_at = datetime.now(timezone.utc)
        session.flush()
        audit(session, actor, "notification.read", entity="notification", entity_id=row.id)
    return _view(row)


def mark_all_read(session: Session, *, actor: Actor) -> int:
    """Mark every unread notification of the actor read; returns how many."""
    user_id = _owner(actor)
    rows = session.execute(select(Notification).where(Notification.user_id == user_id,
                                                      Notification.read_at.is_(None))).scalars().all()
    now = datetime.now(timezone.utc)
    for row in rows:
        row.read_at = now
    if rows:
        session.flush()
        audit(session, actor, "notification.read_all", details={"count": len(rows)})
    return len(rows)
