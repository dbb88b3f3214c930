"""The review state machine: every legal and illegal step, four eyes, confirmation's effects,
and two reviewers acting at once (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import threading
import time

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from reunite.cases import review
from reunite.cases.confirmation import add_confirmation_sample
from reunite.errors import Conflict, PermissionDenied, ReuniteError
from reunite.store.models import MatchCandidate, Unidentified
from reunite.store.models_workflow import (
    CANDIDATE_STATUSES,
    AuditEntry,
    CandidateEvent,
    CandidateReview,
    MissingReport,
    Notification,
)
from review_fixtures import build, second_child_sample, to_confirmation_requested, world_fixtures

STEPS = ("assign", "start_review", "request_confirmation", "confirm", "reject", "set_aside")


template, rw = world_fixtures("review")


# ---------------------------------------------------------------------------------------
# the table


def test_transition_table_every_status_and_step():
    for status in CANDIDATE_STATUSES:
        for step in STEPS:
            if (status, step) in review.TRANSITIONS:
                assert review.next_status(status, step) in CANDIDATE_STATUSES
            else:
                with pytest.raises(Conflict) as exc:
                    review.next_status(status, step)
                assert f"'{status}'" in str(exc.value) and f"'{step}'" in str(exc.value)
                allowed = review.allowed_steps(status)
                assert (", ".join(allowed) if allowed else "the review is closed") in str(exc.value)
    assert review.allowed_steps("confirmed") == review.allowed_steps("rejected") == []
    assert review.allowed_steps("set_aside") == []
    assert set(review.STEP_PERMISSIONS) == set(STEPS)


def _status(rw, cid):
    return rw.read(lambda s: (s.get(MatchCandidate, cid).status, s.get(CandidateReview, cid)))


def _reach(rw, cid, status):
    """Walk candidate ``cid`` to ``status`` by legal steps."""
    if status == "new":
        return
    rw.write(lambda s: review.assign(s, cid, actor=rw.actor("inv_butuo"), to="reviewer1"))
    if status == "assigned":
        return
    rw.write(lambda s: review.start_review(s, cid, actor=rw.actor("reviewer1")))
    if status == "under_review":
        return
    if status == "rejected":
        rw.write(lambda s: review.reject(s, cid, actor=rw.actor("reviewer1"), reason="no"))
        return
    rw.write(lambda s: review.request_confirmation(s, cid, actor=rw.actor("reviewer1"), comment="c"))
    if status == "confirmation_requested":
        return
    u = rw.read(lambda s: s.get(Unidentified, s.get(MatchCandidate, cid).unidentified_id).code)
    second_child_sample(rw, u, f"SX{cid}")
    rw.write(lambda s: add_confirmation_sample(s, cid, actor=rw.actor("analyst"), sample_code=f"SX{cid}",
                                               target="child", model=rw.model))
    rw.write(lambda s: review.confirm(s, cid, actor=rw.actor("reviewer2")))
    assert status == "confirmed"


def _try(rw, cid, step):
    a = {"assign": ("inv_butuo", lambda s, x: review.assign(s, cid, actor=x, to="reviewer1")),
         "start_review": ("reviewer1", lambda s, x: review.start_review(s, cid, actor=x)),
         "request_confirmation": ("reviewer1", lambda s, x: review.request_confirmation(s, cid, actor=x)),
         "confirm": ("reviewer2", lambda s, x: review.confirm(s, cid, actor=x)),
         "reject": ("reviewer2", lambda s, x: review.reject(s, cid, actor=x, reason="r"))}[step]
    actor = rw.actor(a[0])
    return rw.write(lambda s: a[1](s, actor))


@pytest.mark.parametrize("status", ["new", "assigned", "under_review", "confirmation_requested", "confirmed",
                                    "rejected"])
def test_illegal_steps_on_stored_candidates_are_conflicts(rw, status):
    cid = rw.true_pairs()[0][3]
    _reach(rw, cid, status)
    assert _status(rw, cid)[0] == status
    for step in ("assign", "start_review", "request_confirmation", "confirm", "reject"):
        if (status, step) in review.TRANSITIONS:
            continue
        before = rw.read(lambda s: s.get(CandidateReview, cid).version if s.get(CandidateReview, cid) else 1)
        with pytest.raises(Conflict, match=f"the candidate is '{status}'"):
            _try(rw, cid, step)
        after = rw.read(lambda s: s.get(CandidateReview, cid).version if s.get(CandidateReview, cid) else 1)
        assert after == before  # nothing changed


def test_the_whole_review_and_its_effects(rw):
    pairs = rw.true_pairs()
    u, f, m, cid = pairs[0]
    # other open candidates: of the same child, and of the same missing child
    same_child = rw.read(lambda s: s.execute(select(MatchCandidate.id).where(
        MatchCandidate.unidentified_id == s.get(MatchCandidate, cid).unidentified_id,
        MatchCandidate.id != cid)).scalars().all())
    same_missing = rw.read(lambda s: s.execute(select(MatchCandidate.id).where(
        MatchCandidate.family_id == s.get(MatchCandidate, cid).family_id, MatchCandidate.missing_code == m,
        MatchCandidate.id != cid)).scalars().all())
    assert same_child and same_missing
    assigned_other = same_child[0]
    rw.write(lambda s: review.assign(s, assigned_other, actor=rw.actor("reviewer2"), to="reviewer2"))

    rw.write(lambda s: review.assign(s, cid, actor=rw.actor("inv_butuo"), to="reviewer1", comment="please"))
    assert _status(rw, cid)[0] == "assigned"
    inbox = rw.read(lambda s: s.execute(select(Notification.subject).where(
        Notification.user_id == rw.world.user_ids["reviewer1"])).scalars().all())
    assert any(f"candidate {cid}" in x and "assigned to you" in x for x in inbox)
    with pytest.raises(PermissionDenied, match="only the assignee"):
        rw.write(lambda s: review.start_review(s, cid, actor=rw.actor("reviewer2")))
    rw.write(lambda s: review.start_review(s, cid, actor=rw.actor("reviewer1")))
    report = rw.read(lambda s: s.execute(select(MissingReport).where(MissingReport.code == f"R-{f}")).scalar_one())
    assert report.status == "candidate_under_review"
    rw.write(lambda s: review.request_confirmation(s, cid, actor=rw.actor("reviewer1"), comment="22 orders"))
    # four eyes: the requester cannot confirm
    with pytest.raises(PermissionDenied, match="four eyes"):
        rw.write(lambda s: review.confirm(s, cid, actor=rw.actor("reviewer1")))
    # a second reviewer cannot confirm without a supporting confirmation test
    with pytest.raises(Conflict, match="no confirmation test"):
        rw.write(lambda s: review.confirm(s, cid, actor=rw.actor("reviewer2")))
    second_child_sample(rw, u, "S2ND")
    rw.write(lambda s: add_confirmation_sample(s, cid, actor=rw.actor("analyst"), sample_code="S2ND",
                                               target="child", model=rw.model))
    # reviewers other than the requester learn that results are in
    told = rw.read(lambda s: s.execute(select(Notification.user_id).where(
        Notification.kind == "confirmation", Notification.entity_id == cid)).scalars().all())
    assert rw.world.user_ids["reviewer2"] in told and rw.world.user_ids["reviewer1"] not in told
    rw.write(lambda s: review.confirm(s, cid, actor=rw.actor("reviewer2"), comment="agreed"))

    status, rev = _status(rw, cid)
    assert status == "confirmed" and rev.confirmed_by == "reviewer2" and rev.confirmation_requested_by == "reviewer1"
    child = rw.read(lambda s: s.execute(select(Unidentified).where(Unidentified.code == u)).scalar_one())
    assert child.status == "identified" and child.identified_report_id == report.id
    assert rw.read(lambda s: s.get(MissingReport, report.id).status) == "identified"
    for other in set(same_child) | set(same_missing):
        st, orev = _status(rw, other)
        assert st == "set_aside" and f"candidate {cid}" in orev.reason and "confirmed by reviewer2" in orev.reason
    # the assignee of a set-aside candidate is told
    assert rw.read(lambda s: s.execute(select(Notification.id).where(
        Notification.user_id == rw.world.user_ids["reviewer2"], Notification.entity_id == assigned_other,
        Notification.subject.like("%set aside%"))).first()) is not None
    # the investigator heard of the request and of the confirmation
    subjects = rw.read(lambda s: s.execute(select(Notification.subject).where(
        Notification.user_id == rw.world.user_ids["inv_butuo"], Notification.entity_id == cid)).scalars().all())
    assert any("awaits confirmation" in x for x in subjects) and any("confirmed by reviewer2" in x for x in subjects)
    events = rw.read(lambda s: s.execute(select(CandidateEvent).where(CandidateEvent.candidate_id == cid)
                                         .order_by(CandidateEvent.id)).scalars().all())
    assert [json.loads(e.data)["event"] for e in events] == [
        "assign", "start_review", "request_confirmation", "confirmation_test", "confirm"]
    assert [e.actor for e in events] == ["inv_butuo", "reviewer1", "reviewer1", "analyst", "reviewer2"]
    assert events[0].comment == "please" and events[-1].comment == "agreed" and all(e.at for e in events)
    actions = rw.read(lambda s: s.execute(select(AuditEntry.action).where(AuditEntry.entity_id == str(cid))
                                          ).scalars().all())
    for step in ("assign", "start_review", "request_confirmation", "confirmation_test", "confirm"):
        assert f"candidate.{step}" in actions
    assert all(st == "set_aside" for st in rw.read(lambda s: s.execute(select(MatchCandidate.status).where(
        MatchCandidate.id.in_(same_child))).scalars().all()))


def test_reject_needs_a_reason_and_reopens_the_report(rw):
    u, f, m, cid = rw.true_pairs()[1]
    _reach(rw, cid, "under_review")
    for blank in ("", "   ", None):
        with pytest.raises(ReuniteError, match="reason: required"):
            rw.write(lambda s: review.reject(s, cid, actor=rw.actor("reviewer1"), reason=blank))
    rw.write(lambda s: review.reject(s, cid, actor=rw.actor("reviewer1"), reason="a sibling, not the child"))
    status, rev = _status(rw, cid)
    assert status == "rejected" and rev.reason == "a sibling, not the child"
    assert rw.read(lambda s: s.execute(select(MissingReport.status).where(MissingReport.code == f"R-{f}")).scalar()) \
        == "open"


def test_assign_only_to_reviewers_and_in_scope(rw):
    cid = rw.true_pairs()[0][3]
    with pytest.raises(ReuniteError, match="reviewer role"):
        rw.write(lambda s: review.assign(s, cid, actor=rw.actor("inv_butuo"), to="analyst"))
    with pytest.raises(ReuniteError, match="no user"):
        rw.write(lambda s: review.assign(s, cid, actor=rw.actor("inv_butuo"), to="nobody"))
    # an investigator of Zhaojue has neither side (family in Butuo, child in Linyi) in scope
    with pytest.raises(PermissionDenied, match="no jurisdiction"):
        rw.write(lambda s: review.assign(s, cid, actor=rw.actor("inv_zhaojue"), to="reviewer1"))
    with pytest.raises(PermissionDenied, match="candidate:assign"):
        rw.write(lambda s: review.assign(s, cid, actor=rw.actor("analyst"), to="reviewer1"))
    with pytest.raises(PermissionDenied, match="candidate:confirm"):
        rw.write(lambda s: review.confirm(s, cid, actor=rw.actor("inv_butuo")))
    # re-assigning is legal; a stale version is a conflict
    rw.write(lambda s: review.assign(s, cid, actor=rw.actor("inv_butuo"), to="reviewer1"))
    rw.write(lambda s: review.assign(s, cid, actor=rw.actor("inv_butuo"), to="reviewer2", version=2))
    with pytest.raises(Conflict, match="version"):
        rw.write(lambda s: review.assign(s, cid, actor=rw.actor("inv_butuo"), to="reviewer1", version=2))
    assert rw.read(lambda s: review.state(s, cid))["assignee"] == "reviewer2"


def test_a_confirmation_test_that_excludes_blocks_confirm(rw):
    u, f, m, cid = rw.true_pairs()[2]
    to_confirmation_requested(rw, cid)
    second_child_sample(rw, u, "SGOOD")
    rw.write(lambda s: add_confirmation_sample(s, cid, actor=rw.actor("analyst"), sample_code="SGOOD",
                                               target="child", model=rw.model))
    locus = sorted(rw.profile_of(u))[3]
    second_child_sample(rw, u, "SMIX", change=locus)
    rw.write(lambda s: add_confirmation_sample(s, cid, actor=rw.actor("analyst"), sample_code="SMIX",
                                               target="child", model=rw.model))
    with pytest.raises(Conflict, match="exclude the match"):
        rw.write(lambda s: review.confirm(s, cid, actor=rw.actor("reviewer2")))


# ---------------------------------------------------------------------------------------
# the database's own rules, and two reviewers at once (both backends)


def test_the_database_holds_four_eyes_and_reasons(db_url, tmp_path):
    rw = build(tmp_path, db_url, num_families=6, num_unidentified=3, seed=4)
    cid = rw.read(lambda s: s.execute(select(MatchCandidate.id).limit(1)).scalar())
    rw.write(lambda s: review.assign(s, cid, actor=rw.actor("inv_butuo"), to="reviewer1"))
    with pytest.raises(IntegrityError):
        with Session(rw.engine) as s, s.begin():
            s.execute(update(CandidateReview).where(CandidateReview.candidate_id == cid).values(
                status="confirmed", confirmation_requested_by="reviewer1", confirmed_by="reviewer1"))
    with pytest.raises(IntegrityError):
        with Session(rw.engine) as s, s.begin():
            s.execute(update(CandidateReview).where(CandidateReview.candidate_id == cid).values(
                status="rejected", reason=None))
    # a long status fits match_candidates.status
    with Session(rw.engine) as s, s.begin():
        s.execute(update(MatchCandidate).where(MatchCandidate.id == cid).values(status="confirmation_requested"))


def test_two_reviewers_at_once_exactly_one_wins(db_url, tmp_path):
    rw = build(tmp_path, db_url, num_families=6, num_unidentified=3, seed=4)
    cid = rw.read(lambda s: s.execute(select(MatchCandidate.id).limit(1)).scalar())
    rw.write(lambda s: review.assign(s, cid, actor=rw.actor("inv_butuo"), to="reviewer1"))
    seen = rw.read(lambda s: review.state(s, cid))["version"]
    results = []
    barrier = threading.Barrier(2)

    def act(name, target):
        actor = rw.actor("inv_butuo")
        barrier.wait()
        try:
            rw.write(lambda s: review.assign(s, cid, actor=actor, to=target, version=seen))
            results.append(("ok", name))
        except Conflict as exc:
            results.append(("conflict", str(exc)))

    threads = [threading.Thread(target=act, args=(n, t)) for n, t in (("a", "reviewer1"), ("b", "reviewer2"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(r[0] for r in results) == ["conflict", "ok"], results
    state = rw.read(lambda s: review.state(s, cid))
    assert state["version"] == seen + 1
    assert rw.read(lambda s: s.execute(select(CandidateEvent.id).where(CandidateEvent.candidate_id == cid)
                                       ).scalars().all()).__len__() == 2


def test_interleaved_transactions_the_conditional_update_decides(pg_url, tmp_path):
    """PostgreSQL: both transactions read the same version; the second's UPDATE ... WHERE
    version = :v finds nothing once the first commits, and it gets Conflict."""
    rw = build(tmp_path, pg_url, num_families=6, num_unidentified=3, seed=4)
    cid = rw.read(lambda s: s.execute(select(MatchCandidate.id).limit(1)).scalar())
    rw.write(lambda s: review.assign(s, cid, actor=rw.actor("inv_butuo"), to="reviewer1"))
    first = Session(rw.engine)
    first.begin()
    review.start_review(first, cid, actor=rw.actor("reviewer1"))  # holds the row, not committed
    outcome = []

    def second():
        try:
            with Session(rw.engine) as s, s.begin():
                review.start_review(s, cid, actor=rw.actor("reviewer1"))
            outcome.append("ok")
        except Conflict as exc:
            outcome.append(str(exc))

    t = threading.Thread(target=second)
    t.start()
    time.sleep(1.0)  # the second has read version 2 and waits on the row
    first.commit()
    first.close()
    t.join(60)
    assert len(outcome) == 1 and "changed by someone else" in outcome[0], outcome
    assert rw.read(lambda s: review.state(s, cid))["version"] == 3


def test_only_the_assignee_rejects_a_candidate_under_review(rw):
    """Another reviewer may not reject a review in someone else's hands; once confirmation
    is requested, a second reviewer's rejection is the four-eyes 'no' and is allowed."""
    pairs = rw.true_pairs()
    cid = pairs[0][3]
    _reach(rw, cid, "under_review")
    with pytest.raises(PermissionDenied, match="only the assignee"):
        rw.write(lambda s: review.reject(s, cid, actor=rw.actor("reviewer2"), reason="not convinced"))
    assert _status(rw, cid)[0] == "under_review"
    other = pairs[1][3]
    _reach(rw, other, "confirmation_requested")
    rw.write(lambda s: review.reject(s, other, actor=rw.actor("reviewer2"), reason="a sibling"))
    assert _status(rw, other)[0] == "rejected"
