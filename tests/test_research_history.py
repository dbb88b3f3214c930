"""A re-search after a correction keeps every candidate's id and history, records the old and
new LR, and flags reviewed candidates that fall below the review threshold (never removed)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from reunite.cases import review
from reunite.cases.candidates import list_candidates
from reunite.search import research
from reunite.store.corrections import retype_sample, withdraw_sample
from reunite.store.models import Family, FamilyMember, MatchCandidate, Sample, Unidentified
from reunite.store.models_workflow import CandidateEvent, CandidateReview, Notification
from review_fixtures import world_fixtures


template, rw = world_fixtures("research")


def _events(rw, cid):
    return rw.read(lambda s: [(json.loads(e.data), e) for e in s.execute(
        select(CandidateEvent).where(CandidateEvent.candidate_id == cid).order_by(CandidateEvent.id)).scalars()])


def _both_parents(rw):
    for u, f, m, cid in rw.true_pairs():
        refs = rw.family_profiles(f)
        if f"{f}-FA" in refs and f"{f}-MO" in refs:
            return u, f, m, cid
    raise AssertionError("no true pair with both parents typed")


def _father_sample(rw, family):
    return rw.read(lambda s: s.execute(select(Sample.code).join(FamilyMember, FamilyMember.sample_id == Sample.id)
                                       .join(Family, Family.id == FamilyMember.family_id)
                                       .where(Family.code == family, FamilyMember.person_code == f"{family}-FA")
                                       ).scalar_one())


def test_a_correction_that_lowers_a_reviewed_candidate_flags_it(rw):
    u, f, m, cid = _both_parents(rw)
    rw.write(lambda s: review.assign(s, cid, actor=rw.actor("inv_butuo"), to="reviewer1"))
    rw.write(lambda s: review.start_review(s, cid, actor=rw.actor("reviewer1")))
    before = rw.read(lambda s: s.get(MatchCandidate, cid))
    count = rw.read(lambda s: s.execute(select(func.count(MatchCandidate.id))).scalar())
    # the father's sample was a mix-up: re-typed, it is an unrelated man's profile
    father = _father_sample(rw, f)
    original = rw.family_profiles(f)[f"{f}-FA"]
    families = sorted({row[0] for row in rw.db["families"]} - {f})
    stranger = next(prof for g in families for p, prof in rw.family_profiles(g).items() if p.endswith("-FA"))

    def correct(s):
        c = retype_sample(s, father, model=rw.model, changed_by="analyst", reason="sample mix-up at the lab",
                          profile=stranger)
        return research.apply(s, c, rw.model)

    summary = rw.write(correct)
    after = rw.read(lambda s: s.get(MatchCandidate, cid))
    assert after.id == cid and after.status == "under_review"  # kept, with its review
    assert after.log10_lr < 4.0 < before.log10_lr
    assert rw.read(lambda s: s.execute(select(func.count(MatchCandidate.id))).scalar()) >= count  # none removed
    assert summary.below_threshold >= 1
    events = _events(rw, cid)
    kinds = [d["event"] for d, _ in events]
    assert kinds[:2] == ["assign", "start_review"] and "re-searched" in kinds and "below_threshold" in kinds
    data = next(d for d, _ in events if d["event"] == "re-searched")
    assert data["old_log10_lr"] == pytest.approx(before.log10_lr) and data["new_log10_lr"] == pytest.approx(
        after.log10_lr)
    assert next(e for d, e in events if d["event"] == "re-searched").actor == "system"
    rev = rw.read(lambda s: s.get(CandidateReview, cid))
    assert rev.below_threshold is True and rev.status == "under_review"
    told = rw.read(lambda s: s.execute(select(Notification.subject).where(
        Notification.user_id == rw.world.user_ids["reviewer1"], Notification.entity_id == cid)).scalars().all())
    assert any("fell below the review threshold" in x for x in told)
    page = rw.read(lambda s: list_candidates(s, actor=rw.actor("reviewer1"), below_threshold=True))
    assert [i["id"] for i in page.items] == [cid]
    # re-typed back: above the threshold again, the flag goes (an event says so)
    def undo(s):
        c = retype_sample(s, father, model=rw.model, changed_by="analyst", reason="the right sample",
                          profile=original)
        return research.apply(s, c, rw.model)

    rw.write(undo)
    assert rw.read(lambda s: s.get(CandidateReview, cid).below_threshold) is False
    assert rw.read(lambda s: s.get(MatchCandidate, cid).log10_lr) == pytest.approx(before.log10_lr)
    kinds = [d["event"] for d, _ in _events(rw, cid)]
    assert kinds.count("re-searched") == 2 and kinds[-1] == "above_threshold"
    # the review goes on
    rw.write(lambda s: review.reject(s, cid, actor=rw.actor("reviewer1"), reason="a cousin"))


def test_an_assigned_candidate_whose_child_sample_is_withdrawn_is_flagged(rw):
    u, f, m, cid = rw.true_pairs()[0]
    rw.write(lambda s: review.assign(s, cid, actor=rw.actor("inv_butuo"), to="reviewer2"))
    child_sample = rw.read(lambda s: s.execute(select(Sample.code).join(Unidentified, Unidentified.sample_id
                                                                        == Sample.id)
                                               .where(Unidentified.code == u)).scalar_one())
    new_ones = rw.read(lambda s: s.execute(select(MatchCandidate.id).where(MatchCandidate.status == "new")
                                           .where(MatchCandidate.unidentified_id == s.get(MatchCandidate, cid)
                                                  .unidentified_id)).scalars().all())

    def correct(s):
        c = withdraw_sample(s, child_sample, changed_by="analyst", reason="contaminated")
        return research.apply(s, c, rw.model)

    rw.write(correct)
    rev = rw.read(lambda s: s.get(CandidateReview, cid))
    assert rev.below_threshold is True and rev.status == "assigned"
    events = _events(rw, cid)
    researched = [d for d, _ in events if d["event"] == "re-searched"]
    assert researched and "no longer compared" in researched[0]["superseded"]
    # candidates still 'new' are kept, with a history row, and not flagged (nobody reviews them yet)
    for other in new_ones[:3]:
        assert rw.read(lambda s: s.get(MatchCandidate, other)) is not None
        assert any(d["event"] == "re-searched" for d, _ in _events(rw, other))
        assert rw.read(lambda s: s.get(CandidateReview, other)) is None
