"""The review of a candidate: a state machine with one table of legal steps.

    new --assign--> assigned --start_review--> under_review --request_confirmation-->
    confirmation_requested --confirm--> confirmed          (reject: from under_review or
                                                            confirmation_requested)
    any open status --set_aside--> set_aside   (by the system, when another candidate of the
                                                same child or of the same missing child is
                                                confirmed; a reason is required)

Every step is taken by a named user, at a time, with a comment; it is recorded in
``candidate_events`` (never updated or deleted), mirrored in ``candidate_reviews`` (its
``version`` guards concurrent steps: the row is changed by ``UPDATE ... WHERE version = :v``,
so of two reviewers acting at once one wins and the other gets :class:`Conflict`) and in
``match_candidates.status``, and audited.

Confirming needs four eyes (the confirmer is not the user who requested confirmation; the
database checks it too) and a confirmation test that supports the match (see
:func:`reunite.cases.confirmation.supports`) and none that excludes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from reunite.cases.common import audit, jurisdiction_path
from reunite.cases.notifications import message, notify
from reunite.errors import Conflict, NotFound, PermissionDenied, ReuniteError
from reunite.i18n import N_
from reunite.security.actor import Actor
from reunite.settings import get_settings
from reunite.store.models import Family, MatchCandidate, Unidentified, utcnow
from reunite.store.models_workflow import (
    CandidateEvent,
    CandidateReview,
    ConfirmationTest,
    MissingReport,
    User,
    UserRole,
)

#: THE table of legal steps: (current status, step) -> next status.
TRANSITIONS: dict[tuple[str, str], str] = {
    ("new", "assign"): "assigned",
    ("assigned", "assign"): "assigned",  # re-assign to another reviewer
    ("assigned", "start_review"): "under_review",
    ("under_review", "request_confirmation"): "confirmation_requested",
    ("under_review", "reject"): "rejected",
    ("confirmation_requested", "confirm"): "confirmed",
    ("confirmation_requested", "reject"): "rejected",
    ("new", "set_aside"): "set_aside",
    ("assigned", "set_aside"): "set_aside",
    ("under_review", "set_aside"): "set_aside",
    ("confirmation_requested", "set_aside"): "set_aside",
}

#: The permission each step needs (set_aside: the system only, as a side effect of confirm).
STEP_PERMISSIONS = {"assign": "candidate:assign", "start_review": "candidate:review",
                    "request_confirmation": "candidate:review", "reject": "candidate:review",
                    "confirm": "candidate:confirm", "set_aside": None}

OPEN_STATUSES = ("new", "assigned", "under_review", "confirmation_requested")
REVIEWED_STATUSES = ("assigned", "under_review", "confirmation_requested", "confirmed")
MAX_COMMENT = 4000


def allowed_steps(status: str) -> list[str]:
    """The steps allowed from ``status`` (from :data:`TRANSITIONS`)."""
    return [step for (frm, step) in TRANSITIONS if frm == status and step != "set_aside"]


def next_status(status: str, step: str) -> str:
    """The status ``step`` leads to from ``status``; :class:`Conflict` naming the current
    status and the allowed next steps when the step is illegal."""
    to = TRANSITIONS.get((status, step))
    if to is None:
        allowed = allowed_steps(status)
        raise Conflict(f"status: the candidate is {status!r}; {step!r} is not allowed from there (allowed: "
                       f"{', '.join(allowed) if allowed else 'none, the review is closed'})")
    return to


@dataclass
class Sides:
    """The two sides of a candidate and the jurisdiction path that owns each (None: national)."""

    candidate: MatchCandidate
    child: Unidentified
    family: Family
    report: MissingReport | None
    child_path: str | None
    family_path: str | None


def candidate_or_404(session: Session, candidate_id: int) -> MatchCandidate:
    row = session.get(MatchCandidate, candidate_id) if isinstance(candidate_id, int) else None
    if row is None:
        raise NotFound(f"candidate_id: no candidate {candidate_id!r} ('reunite candidates' or GET "
                       "/api/v1/candidates lists them)")
    return row


def sides(session: Session, candidate: MatchCandidate) -> Sides:
    child = session.get(Unidentified, candidate.unidentified_id)
    family = session.get(Family, candidate.family_id)
    report = session.execute(select(MissingReport).where(MissingReport.family_id == candidate.family_id)
                             ).scalar_one_or_none()
    return Sides(candidate, child, family, report, jurisdiction_path(session, child.jurisdiction_id),
                 jurisdiction_path(session, report.jurisdiction_id) if report else None)


def check_scope(actor: Actor, s: Sides) -> None:
    """An actor acts on a candidate when either side is in their jurisdiction subtree."""
    if not (actor.in_scope(s.family_path) or actor.in_scope(s.child_path)):
        raise PermissionDenied(f"candidate_id: candidate {s.candidate.id} belongs to no jurisdiction of "
                               f"{actor.username} ({actor.jurisdiction_path})")


def review_row(session: Session, candidate: MatchCandidate) -> CandidateReview:
    """The candidate's review row, created (status 'new', version 1) on the first step."""
    row = session.get(CandidateReview, candidate.id)
    if row is None:
        row = CandidateReview(candidate_id=candidate.id, status="new", version=1, below_threshold=False,
                              updated_at=utcnow())
        session.add(row)
        session.flush()
    return row


def _text(value: str | None, field: str, *, required: bool = False) -> str | None:
    value = (value or "").strip() or None
    if required and not value:
        raise ReuniteError(f"{field}: required (say why, in words)")
    if value and len(value) > MAX_COMMENT:
        raise ReuniteError(f"{field}: at most {MAX_COMMENT} characters, found {len(value)}")
    return value


def record_event(session: Session, candidate_id: int, *, actor: str, from_status: str | None, to_status: str,
                 event: str, comment: str | None = None, **data) -> CandidateEvent:
    """Append one row to the candidate's history (never updated or deleted)."""
    row = CandidateEvent(candidate_id=candidate_id, from_status=from_status, to_status=to_status, actor=actor,
                         at=utcnow(), comment=comment, data=json.dumps({"event": event, **data}, default=str))
    session.add(row)
    return row


def _step(session: Session, candidate_id: int, step: str, *, actor: Actor, comment: str | None = None,
          version: int | None = None, values: dict | None = None, check=None, data: dict | None = None,
          system: bool = False):
    """Take ``step`` on a candidate: check permission, scope, status, the caller's version;
    write the review row with a conditional UPDATE; record the event and the audit entry."""
    permission = STEP_PERMISSIONS[step]
    if permission and not system:
        actor.require(permission)
    cand = candidate_or_404(session, candidate_id)
    s = sides(session, cand)
    if not system:
        check_scope(actor, s)
    review = review_row(session, cand)
    current, read_version = review.status, review.version
    if version is not None and version != read_version:
        raise Conflict(f"version: candidate {cand.id} is at version {read_version} (status {current!r}), not "
                       f"{version}; someone changed it meanwhile: read it again")
    to = next_status(current, step)
    if check is not None:
        check(review, s)
    now = utcnow()
    done = session.execute(
        update(CandidateReview).where(CandidateReview.candidate_id == cand.id,
                                      CandidateReview.version == read_version)
        .values(status=to, version=read_version + 1, updated_at=now, **(values or {}))
        .execution_options(synchronize_session=False)).rowcount
    if done != 1:
        raise Conflict(f"version: candidate {cand.id} was changed by someone else at the same time (it was "
                       f"{current!r}, version {read_version}); nothing was changed: read it again")
    session.execute(update(MatchCandidate).where(MatchCandidate.id == cand.id).values(status=to)
                    .execution_options(synchronize_session=False))
    session.expire(review)
    session.expire(cand)
    record_event(session, cand.id, actor=actor.username, from_status=current, to_status=to, event=step,
                 comment=comment, **(data or {}))
    audit(session, actor, f"candidate.{step}", entity="candidate", entity_id=cand.id,
          details={"from": current, "to": to, "version": read_version + 1, **(data or {})})
    session.flush()
    return s, current, to


def _reviewer(session: Session, username: str) -> User:
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise NotFound(f"to: no user {username!r} ('reunite user list' or GET /api/v1/users shows them)")
    roles = set(session.execute(select(UserRole.role).where(UserRole.user_id == user.id)).scalars())
    if "reviewer" not in roles or not user.active:
        raise ReuniteError(f"to: {username!r} is not an active user with the reviewer role (roles: "
                           f"{', '.join(sorted(roles)) or 'none'}); assign the candidate to a reviewer")
    return user


def _assignee_only(actor: Actor, what: str):
    def check(review: CandidateReview, s: Sides) -> None:
        if review.assigned_to != actor.user_id:
            raise PermissionDenied(f"candidate_id: only the assignee may {what} candidate {s.candidate.id}; "
                                   f"{actor.username} is not assigned to it (assign it to them first)")
    return check


def _subject(s: Sides) -> dict:
    """The candidate as notices name it (a message, value ``ref`` of their subjects)."""
    values = {"candidate": s.candidate.id, "child": s.child.code, "family": s.family.code,
              "missing": s.candidate.missing_code}
    if s.report is not None:
        return message(N_("candidate %(candidate)s: %(child)s as %(family)s/%(missing)s (report %(report)s)"),
                       report=s.report.code, **values)
    return message(N_("candidate %(candidate)s: %(child)s as %(family)s/%(missing)s"), **values)


def _tell_investigator(session: Session, s: Sides, what: str, body: str | None = None, **values) -> None:
    """Notify the report's investigator: ``what`` and ``body`` are message ids (``%(ref)s``
    is the candidate) filled from ``values``."""
    if s.report is not None and s.report.investigator_id is not None:
        notify(session, user_id=s.report.investigator_id, kind="transition", subject=what, body=body,
               entity="candidate", entity_id=s.candidate.id, params={"ref": _subject(s), **values})


def assign(session: Session, candidate_id: int, *, actor: Actor, to: str, comment: str | None = None,
           version: int | None = None) -> CandidateReview:
    """Assign a candidate to ``to`` (a user with the reviewer role); the assignee is notified."""
    comment = _text(comment, "comment")
    user = _reviewer(session, to)
    s, _, _ = _step(session, candidate_id, "assign", actor=actor, comment=comment, version=version,
                    values={"assigned_to": user.id}, data={"assignee": user.username})
    notify(session, user_id=user.id, kind="candidate", subject=N_("%(ref)s assigned to you by %(user)s"),
           body=N_("log10 LR %(log10_lr)s; 'reunite candidates show %(candidate)s'"), entity="candidate",
           entity_id=s.candidate.id, params={"ref": _subject(s), "user": actor.username,
                                             "log10_lr": f"{s.candidate.log10_lr:.2f}",
                                             "candidate": s.candidate.id})
    return session.get(CandidateReview, s.candidate.id)


def start_review(session: Session, candidate_id: int, *, actor: Actor, comment: str | None = None,
                 version: int | None = None) -> CandidateReview:
    """The assignee starts reviewing; the report (if any) becomes 'candidate_under_review'."""
    comment = _text(comment, "comment")
    s, _, _ = _step(session, candidate_id, "start_review", actor=actor, comment=comment, version=version,
                    check=_assignee_only(actor, "start reviewing"))
    if s.report is not None and s.report.status == "open":
        _report_status(session, s.report, "candidate_under_review")
    return session.get(CandidateReview, s.candidate.id)


def request_confirmation(session: Session, candidate_id: int, *, actor: Actor, comment: str | None = None,
                         version: int | None = None) -> CandidateReview:
    """The assignee asks a second reviewer to confirm; the report's investigator is told, and
    reviewers too when confirmation results are already there."""
    from reunite.cases.confirmation import confirmation_summary

    comment = _text(comment, "comment")
    s, _, _ = _step(session, candidate_id, "request_confirmation", actor=actor, comment=comment, version=version,
                    check=_assignee_only(actor, "request confirmation of"),
                    values={"confirmation_requested_by": actor.username})
    _tell_investigator(session, s, N_("%(ref)s awaits confirmation (requested by %(user)s)"), user=actor.username)
    summary = confirmation_summary(session, s.candidate.id)
    if summary["supporting"]:
        notify_reviewers(session, s, exclude={actor.username},
                         what=N_("%(ref)s awaits a confirmer; confirmation results are in"))
    return session.get(CandidateReview, s.candidate.id)


def notify_reviewers(session: Session, s: Sides, *, exclude: set[str], what: str, **values) -> int:
    """Notify every active reviewer but those in ``exclude`` (usernames); ``what`` is a message
    id (``%(ref)s`` is the candidate) filled from ``values``."""
    rows = session.execute(select(User.id, User.username).join(UserRole, UserRole.user_id == User.id)
                           .where(UserRole.role == "reviewer", User.active.is_(True))).all()
    n = 0
    for uid, name in rows:
        if name not in exclude:
            notify(session, user_id=uid, kind="confirmation", subject=what, entity="candidate",
                   entity_id=s.candidate.id, params={"ref": _subject(s), **values})
            n += 1
    return n


def reject(session: Session, candidate_id: int, *, actor: Actor, reason: str,
           version: int | None = None) -> CandidateReview:
    """Reject a candidate (a reason is required): under review, only its assignee; awaiting
    confirmation, any reviewer (the second pair of eyes may say no).  The investigator is told."""
    reason = _text(reason, "reason", required=True)
    assignee = _assignee_only(actor, "reject")

    def check(review: CandidateReview, s: Sides) -> None:
        if review.status == "under_review":  # the assignee's work; once confirmation is asked, any reviewer
            assignee(review, s)

    s, _, _ = _step(session, candidate_id, "reject", actor=actor, comment=reason, version=version,
                    values={"reason": reason}, check=check)
    _tell_investigator(session, s, N_("%(ref)s rejected by %(user)s"), "%(reason)s", user=actor.username,
                       reason=reason)
    _reopen_report(session, s)
    return session.get(CandidateReview, s.candidate.id)


def confirm(session: Session, candidate_id: int, *, actor: Actor, comment: str | None = None,
            version: int | None = None, settings=None) -> CandidateReview:
    """Confirm a candidate (four eyes; a supporting confirmation test and none excluding).

    The child is marked identified (with the report, if one links the family), the report
    'identified', and every other open candidate of the child and of the missing child is
    set aside with the reason."""
    from reunite.cases.confirmation import confirmation_summary

    settings = settings or get_settings()
    comment = _text(comment, "comment")

    def check(review: CandidateReview, s: Sides) -> None:
        if review.confirmation_requested_by == actor.username:
            raise PermissionDenied(f"candidate_id: {actor.username} requested confirmation of candidate "
                                   f"{s.candidate.id}; four eyes: another reviewer must confirm it")
        summary = confirmation_summary(session, s.candidate.id, settings=settings)
        if summary["excluding"]:
            raise Conflict(f"confirmation_tests: test(s) {', '.join(map(str, summary['excluding']))} exclude the "
                           f"match (LR below 1, or the child's two samples disagree); reject the candidate or "
                           "investigate a sample mix-up")
        if not summary["supporting"]:
            void = (f" (test(s) {', '.join(map(str, summary['void']))} used a profile withdrawn since and no "
                    "longer count)" if summary.get("void") else "")
            raise Conflict(f"confirmation_tests: candidate {s.candidate.id} has no confirmation test with log10 "
                           f"LR >= {settings.review_log10_lr:g}{void}; attach a second sample of the child or a newly "
                           f"typed relative ('reunite candidates confirm-sample {s.candidate.id} ...') first")
        if s.child.status == "identified":
            raise Conflict(f"unidentified: {s.child.code} is already identified; this candidate cannot be confirmed")

    s, _, _ = _step(session, candidate_id, "confirm", actor=actor, comment=comment, version=version, check=check,
                    values={"confirmed_by": actor.username})
    cand = s.candidate
    session.execute(update(Unidentified).where(Unidentified.id == s.child.id)
                    .values(status="identified", identified_report_id=s.report.id if s.report else None)
                    .execution_options(synchronize_session=False))
    if s.report is not None:
        _report_status(session, s.report, "identified")
    reason = (f"candidate {cand.id} ({s.child.code} as {s.family.code}/{cand.missing_code}) was confirmed by "
              f"{actor.username}")
    others = session.execute(select(MatchCandidate.id).where(
        MatchCandidate.id != cand.id, MatchCandidate.status.in_(OPEN_STATUSES),
        (MatchCandidate.unidentified_id == cand.unidentified_id)
        | ((MatchCandidate.family_id == cand.family_id) & (MatchCandidate.missing_code == cand.missing_code)))
        .order_by(MatchCandidate.id)).scalars().all()
    for other in others:
        set_aside(session, other, actor=actor, reason=reason)
    _tell_investigator(session, s, N_("%(ref)s confirmed by %(user)s"), N_("%(n)s other candidate(s) set aside"),
                       user=actor.username, n=len(others))
    audit(session, actor, "unidentified.identified", entity="unidentified", entity_id=s.child.code,
          details={"candidate": cand.id, "report": s.report.code if s.report else None,
                   "set_aside": list(others)})
    return session.get(CandidateReview, cand.id)


def set_aside(session: Session, candidate_id: int, *, actor: Actor, reason: str) -> CandidateReview:
    """Set an open candidate aside (the system does it when another is confirmed); its
    assignee, if any, is told."""
    reason = _text(reason, "reason", required=True)
    s, _, _ = _step(session, candidate_id, "set_aside", actor=actor, comment=reason, values={"reason": reason},
                    system=True)
    review = session.get(CandidateReview, s.candidate.id)
    if review.assigned_to is not None:
        notify(session, user_id=review.assigned_to, kind="transition", subject=N_("%(ref)s set aside"),
               body="%(reason)s", entity="candidate", entity_id=s.candidate.id,
               params={"ref": _subject(s), "reason": reason})
    return review


def _report_status(session: Session, report: MissingReport, status: str) -> None:
    session.execute(update(MissingReport).where(MissingReport.id == report.id)
                    .values(status=status, version=MissingReport.version + 1, updated_at=utcnow())
                    .execution_options(synchronize_session=False))
    session.expire(report)


def _reopen_report(session: Session, s: Sides) -> None:
    """A report 'candidate_under_review' goes back to 'open' when none of its family's
    candidates is under review any more."""
    if s.report is None or s.report.status != "candidate_under_review":
        return
    busy = session.execute(select(MatchCandidate.id).where(
        MatchCandidate.family_id == s.family.id,
        MatchCandidate.status.in_(("under_review", "confirmation_requested"))).limit(1)).first()
    if busy is None:
        _report_status(session, s.report, "open")


def history(session: Session, candidate_id: int, *, actor: Actor) -> list[dict]:
    """The candidate's events, oldest first."""
    actor.require("candidate:read")
    candidate_or_404(session, candidate_id)
    return [event_dict(e) for e in session.execute(select(CandidateEvent).where(
        CandidateEvent.candidate_id == candidate_id).order_by(CandidateEvent.id)).scalars()]


def event_dict(e: CandidateEvent) -> dict:
    try:
        data = json.loads(e.data or "{}")
    except ValueError:
        data = {}
    return {"id": e.id, "at": e.at.isoformat() if e.at else None, "actor": e.actor, "event": data.pop("event", None),
            "from_status": e.from_status, "to_status": e.to_status, "comment": e.comment, "data": data}


def tests_of(session: Session, candidate_id: int) -> list[ConfirmationTest]:
    return list(session.execute(select(ConfirmationTest).where(ConfirmationTest.candidate_id == candidate_id)
                                .order_by(ConfirmationTest.id)).scalars())


def state(session: Session, candidate_id: int) -> dict:
    """The candidate's review state (what every step returns)."""
    cand = candidate_or_404(session, candidate_id)
    rev = session.get(CandidateReview, cand.id)
    assignee = session.get(User, rev.assigned_to) if rev is not None and rev.assigned_to else None
    return {"id": cand.id, "status": cand.status, "version": rev.version if rev else 1,
            "assignee": assignee.username if assignee else None,
            "confirmation_requested_by": rev.confirmation_requested_by if rev else None,
            "confirmed_by": rev.confirmed_by if rev else None, "reason": rev.reason if rev else None,
            "below_threshold": bool(rev.below_threshold) if rev else False,
            "allowed_steps": allowed_steps(cand.status)}


# ---------------------------------------------------------------------------------------
# for the candidate page: who may take which step, reviewers, setting aside by hand


#: steps a user takes on the candidate page beside :data:`TRANSITIONS`' (attach a sample)
ATTACH_STEP = "add_confirmation_sample"


def steps_for(session: Session, candidate_id: int, *, actor: Actor) -> list[str]:
    """The steps ``actor`` may take on the candidate now: the legal steps of its status
    (:func:`allowed_steps`) the actor holds the permission of, within their jurisdiction,
    as the assignee where the step is the assignee's, never confirming what they asked to
    have confirmed (four eyes); ``set_aside`` for reviewers on an open candidate, and
    ``add_confirmation_sample`` (``confirmation:import``) while samples can be attached."""
    from reunite.cases.confirmation import ATTACHABLE

    cand = candidate_or_404(session, candidate_id)
    try:
        check_scope(actor, sides(session, cand))
    except PermissionDenied:
        return []
    rev = session.get(CandidateReview, cand.id)
    status = rev.status if rev is not None else cand.status
    assignee = rev.assigned_to if rev is not None else None
    out = []
    for step in allowed_steps(status):
        if not actor.can(STEP_PERMISSIONS[step]):
            continue
        if step in ("start_review", "request_confirmation") and assignee != actor.user_id:
            continue
        if step == "reject" and status == "under_review" and assignee != actor.user_id:
            continue
        if step == "confirm" and rev is not None and rev.confirmation_requested_by == actor.username:
            continue
        out.append(step)
    if status in OPEN_STATUSES and actor.can("candidate:review"):
        out.append("set_aside")
    if status in ATTACHABLE and actor.can("confirmation:import"):
        out.append(ATTACH_STEP)
    return out


def reviewers(session: Session, *, actor: Actor) -> list[dict]:
    """The active users with the reviewer role (username, display name), to assign to or
    filter by; needs ``candidate:read``."""
    actor.require("candidate:read")
    rows = session.execute(select(User.username, User.display_name).join(UserRole, UserRole.user_id == User.id)
                           .where(UserRole.role == "reviewer", User.active.is_(True))
                           .order_by(User.username)).all()
    return [{"username": u, "display_name": d} for u, d in rows]


def set_aside_by_reviewer(session: Session, candidate_id: int, *, actor: Actor, reason: str,
                          version: int | None = None) -> CandidateReview:
    """A reviewer sets an open candidate aside (e.g. a duplicate of another, a sample that
    turned out to be someone else's); a reason is required; needs ``candidate:review`` and
    the candidate in the reviewer's jurisdiction.  Recorded in its history and audited."""
    actor.require("candidate:review")
    reason = _text(reason, "reason", required=True)
    s, _, _ = _step(session, candidate_id, "set_aside", actor=actor, comment=reason, version=version,
                    values={"reason": reason}, data={"by": "reviewer"})
    _reopen_report(session, s)
    return session.get(CandidateReview, s.candidate.id)
