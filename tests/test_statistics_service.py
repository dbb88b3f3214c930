"""The statistics services (dashboard counts, LR distribution, cases over time, province flows,
period summary, identification by family type) against naive counts of the same rows in
Python, in the actor's scope; permissions."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from reunite.cases import statistics
from reunite.errors import PermissionDenied, ReuniteError
from reunite.store.models import MatchCandidate, Unidentified
from reunite.store.models_workflow import (
    CandidateEvent,
    CandidateReview,
    FollowUp,
    Jurisdiction,
    MissingReport,
    Outcome,
)
from reunite.store.db import read_only
from review_fixtures import copy_world, world_fixtures

template, rw = world_fixtures("statistics")

UTC = timezone.utc
TODAY = datetime.now(UTC).date()


def shape(world) -> dict:
    """Give the built world's records a history: reports in Butuo and Zhaojue registered over
    six months of 2024, missing in Butuo; two confirmed identifications (children found in
    Shandong), one awaiting confirmation, reviews under way, a closed report, outcomes and
    follow-ups (one overdue, one due in three days, one done)."""
    pairs = world.true_pairs()
    assert len(pairs) >= 5

    def work(s):
        ids = dict(s.execute(select(Jurisdiction.code, Jurisdiction.id)).all())
        users = world.world.user_ids
        reports = s.execute(select(MissingReport).order_by(MissingReport.id)).scalars().all()
        for k, r in enumerate(reports):
            r.missing_place_id = ids["513429"]
            if k % 4 == 1:
                r.jurisdiction_id = ids["513431"]
            r.created_at = r.updated_at = datetime(2024, 1 + k % 6, 15, tzinfo=UTC)
            r.missing_date = date(2019 + k % 3, 5, 1)
        lanling = s.execute(select(Jurisdiction.id).where(Jurisdiction.code == "371324")).scalar()
        if lanling is None:  # a place of the shipped table, added as places are
            from reunite.cases.places import resolve_place
            from reunite.security.users import bootstrap_actor

            lanling = resolve_place(s, "371324", actor=bootstrap_actor(), what="place").id
        cand = {cid: s.get(MatchCandidate, cid) for *_, cid in pairs}

        def review(cid, status, **values):
            cand[cid].status = status
            s.add(CandidateReview(candidate_id=cid, status=status, **values))

        for n, (u, f, m, cid) in enumerate(pairs[:2]):  # confirmed identifications
            when = datetime(2024 + n, 6, 10, tzinfo=UTC)
            review(cid, "confirmed", confirmation_requested_by="reviewer1", confirmed_by="reviewer2")
            s.add(CandidateEvent(candidate_id=cid, from_status="confirmation_requested", to_status="confirmed",
                                 actor="reviewer2", at=when))
            report = s.execute(select(MissingReport).where(MissingReport.family_id == cand[cid].family_id)).scalar_one()
            report.status, report.updated_at = "identified", when
            child = s.get(Unidentified, cand[cid].unidentified_id)
            child.status, child.identified_report_id = "identified", report.id
            child.found_place_id = lanling if n == 0 else ids["371300"]
            outcome = Outcome(unidentified_id=child.id, report_id=report.id, kind="returned_home",
                              outcome_date=date(2024 + n, 7, 1), jurisdiction_id=ids["371300"],
                              created_by="welfare_linyi")
            s.add(outcome)
            s.flush()
            if n == 0:
                s.add(FollowUp(outcome_id=outcome.id, due_date=date(2024, 8, 1), created_by="welfare_linyi"))
                s.add(FollowUp(outcome_id=outcome.id, due_date=TODAY + timedelta(days=3), created_by="welfare_linyi"))
                s.add(FollowUp(outcome_id=outcome.id, due_date=date(2024, 9, 1), created_by="welfare_linyi",
                               done_at=datetime(2024, 9, 2, tzinfo=UTC), done_by="welfare_linyi"))
            else:
                s.add(Outcome(unidentified_id=child.id, report_id=report.id, kind="welfare_placement",
                              outcome_date=date(2025, 8, 1), jurisdiction_id=ids["371300"], created_by="welfare_linyi"))
        review(pairs[2][3], "confirmation_requested", confirmation_requested_by="reviewer1",
               assigned_to=users["reviewer1"])
        review(pairs[3][3], "under_review", assigned_to=users["reviewer1"])
        review(pairs[4][3], "assigned", assigned_to=users["reviewer2"])
        last = reports[-1]
        if last.status == "open":
            last.status, last.closed_reason = "closed", "found by the family"

    world.write(work)
    return {"pairs": pairs}


@pytest.fixture(scope="module")
def sw(template, tmp_path_factory):
    world = copy_world(*template, tmp_path_factory.mktemp("stats-shaped"))
    shape(world)
    return world


def read(sw, fn, *args, **kwargs):
    with Session(read_only(sw.engine)) as s:
        return fn(s, *args, **kwargs)


# ---------------------------------------------------------------------------------------
# naive counts: every row in Python


def _rows(s):
    paths = dict(s.execute(select(Jurisdiction.id, Jurisdiction.path)).all())
    codes = dict(s.execute(select(Jurisdiction.id, Jurisdiction.code)).all())
    reports = s.execute(select(MissingReport)).scalars().all()
    by_family = {r.family_id: r for r in reports}
    children = {u.id: u for u in s.execute(select(Unidentified)).scalars()}
    cands = s.execute(select(MatchCandidate)).scalars().all()
    return paths, codes, reports, by_family, children, cands


def naive_candidates(s, path):
    paths, _, _, by_family, children, cands = _rows(s)
    out = []
    for c in cands:
        r = by_family.get(c.family_id)
        rp = paths[r.jurisdiction_id] if r else "CN/"
        cp = paths.get(children[c.unidentified_id].jurisdiction_id, "CN/")
        if rp.startswith(path) or cp.startswith(path):
            out.append(c)
    return out


def naive_reports(s, path):
    paths, _, reports, *_ = _rows(s)
    return [r for r in reports if paths[r.jurisdiction_id].startswith(path)]


@pytest.mark.parametrize("who", ["inv_butuo", "inv_zhaojue", "reviewer1", "analyst", "welfare_linyi", "auditor"])
def test_dashboard_counts_equal_naive_counts(sw, who):
    actor = sw.actor(who)
    board = read(sw, statistics.dashboard, actor=actor, settings=sw.world.settings)
    with Session(read_only(sw.engine)) as s:
        path = actor.jurisdiction_path
        threshold = sw.world.settings.notify_log10_lr
        if actor.can("report:read"):
            open_ = [r for r in naive_reports(s, path) if r.status == "open"]
            assert board.open_reports == len(open_)
            assert {r["code"] for r in board.rows["open_reports"]} <= {r.code for r in open_}
            assert len(board.rows["open_reports"]) == min(5, len(open_))
        else:
            assert board.open_reports is None
        if actor.can("candidate:read"):
            cands = naive_candidates(s, path)
            assert board.new_candidates == sum(c.status == "new" and c.log10_lr >= threshold for c in cands)
            assert board.confirmations_pending == sum(c.status == "confirmation_requested" for c in cands)
            mine = {cid for (cid,) in s.execute(select(CandidateReview.candidate_id).where(
                CandidateReview.assigned_to == sw.world.user_ids[who]))}
            waiting = [c for c in cands if c.status in ("assigned", "under_review")
                       and (not actor.can("candidate:review") or c.id in mine)]
            assert board.reviews_waiting == len(waiting)
            lrs = [r["log10_lr"] for r in board.rows["new_candidates"]]
            assert lrs == sorted(lrs, reverse=True) and all(x >= threshold for x in lrs)
        else:
            assert board.new_candidates is None
        if actor.can("outcome:read"):
            due = [f for f, o in s.execute(select(FollowUp, Outcome).join(Outcome, Outcome.id == FollowUp.outcome_id))
                   if f.done_at is None and f.due_date <= TODAY + timedelta(days=7)
                   and s.get(Jurisdiction, o.jurisdiction_id).path.startswith(path)]
            assert board.follow_ups_due == len(due)
            assert board.follow_ups_overdue == sum(f.due_date < TODAY for f in due)
        assert board.imports_shown == actor.can("data:import")


def test_reviewer_sees_own_reviews_and_counts_are_positive(sw):
    board = read(sw, statistics.dashboard, actor=sw.actor("reviewer1"), settings=sw.world.settings)
    assert board.reviewer and board.reviews_waiting == 1  # under_review, assigned to reviewer1
    assert board.confirmations_pending == 1
    welfare = read(sw, statistics.dashboard, actor=sw.actor("welfare_linyi"), today=TODAY)
    assert welfare.follow_ups_due == 2 and welfare.follow_ups_overdue == 1
    assert welfare.rows["follow_ups_due"][0]["overdue"] is True
    analyst = read(sw, statistics.dashboard, actor=sw.actor("analyst"))
    assert analyst.recent_imports and analyst.imports_shown

def test_county_scope_leaves_out_the_other_county(sw):
    butuo = read(sw, statistics.dashboard, actor=sw.actor("inv_butuo"))
    zhaojue = read(sw, statistics.dashboard, actor=sw.actor("inv_zhaojue"))
    with Session(read_only(sw.engine)) as s:
        butuo_codes = {r.code for r in naive_reports(s, sw.actor("inv_butuo").jurisdiction_path)}
        zhaojue_codes = {r.code for r in naive_reports(s, sw.actor("inv_zhaojue").jurisdiction_path)}
    assert butuo_codes and zhaojue_codes and not butuo_codes & zhaojue_codes
    assert not {r["code"] for r in zhaojue.rows["open_reports"]} & butuo_codes
    assert butuo.open_reports + zhaojue.open_reports == read(sw, statistics.dashboard,
                                                             actor=sw.actor("reviewer1")).open_reports
    assert not {r["report"] for r in zhaojue.rows["new_candidates"]} & butuo_codes


def test_lr_distribution_equals_naive_histogram(sw):
    for who in ("analyst", "inv_zhaojue"):
        actor = sw.actor(who)
        dist = read(sw, statistics.lr_distribution, actor=actor, settings=sw.world.settings)
        with Session(read_only(sw.engine)) as s:
            values = [c.log10_lr for c in naive_candidates(s, actor.jurisdiction_path)]
        finite = [v for v in values if math.isfinite(v)]
        lo, hi = statistics.HISTOGRAM_RANGE
        naive = {}
        for v in finite:
            k = math.floor(min(max(v, lo), hi - 0.5))
            naive[k] = naive.get(k, 0) + 1
        got = {int(b["lo"]): b["count"] for b in dist["bins"] if b["count"]}
        assert got == naive
        assert dist["total"] == len(values) and dist["infinite"] == sum(v == math.inf for v in values)
        assert dist["thresholds"] == {"notify": 4.0, "review": 4.0}
        assert [b["lo"] for b in dist["bins"]] == list(range(int(dist["bins"][0]["lo"]),
                                                            int(dist["bins"][-1]["lo"]) + 1))


def test_cases_over_time_equals_naive_months(sw):
    actor = sw.actor("inv_butuo")
    series = read(sw, statistics.cases_over_time, actor=actor)
    with Session(read_only(sw.engine)) as s:
        mine = naive_reports(s, actor.jurisdiction_path)
    months = [r["period"] for r in series]
    assert months[0] == "2024-01" and months == sorted(months)
    for row in series:
        assert row["new_reports"] == sum(r.created_at.strftime("%Y-%m") == row["period"] for r in mine)
        end = row["period"]
        opened = sum(r.created_at.strftime("%Y-%m") <= end for r in mine)
        resolved = sum(r.status in ("identified", "closed") and r.updated_at.strftime("%Y-%m") <= end for r in mine)
        assert row["open_cases"] == opened - resolved
        assert row["reunions"] == 0  # outcomes are Linyi's, not Butuo's
    linyi = read(sw, statistics.cases_over_time, actor=sw.actor("welfare_linyi"))
    assert {r["period"]: r["reunions"] for r in linyi if r["reunions"]} == {"2024-07": 1, "2025-07": 1}
    national = read(sw, statistics.cases_over_time, actor=sw.actor("analyst"), start=date(2024, 3, 1),
                    end=date(2024, 4, 30))
    assert [r["period"] for r in national] == ["2024-03", "2024-04"]
    with pytest.raises(ReuniteError, match="end"):
        read(sw, statistics.cases_over_time, actor=actor, start=date(2024, 5, 1), end=date(2024, 4, 1))


def test_province_flows_equal_naive_flows(sw):
    flows = read(sw, statistics.province_flows, actor=sw.actor("analyst"))
    with Session(read_only(sw.engine)) as s:
        paths, codes, reports, by_family, children, cands = _rows(s)
        naive = {}
        for c in cands:
            r, u = by_family.get(c.family_id), children[c.unidentified_id]
            if c.status == "confirmed" and r and r.missing_place_id and u.found_place_id:
                key = (codes[r.missing_place_id][:2] + "0000", codes[u.found_place_id][:2] + "0000")
                naive.setdefault(key, {})
                y = str(r.missing_date.year)
                naive[key][y] = naive[key].get(y, 0) + 1
    assert {(f["from_code"], f["to_code"]): f["years"] for f in flows} == naive
    [flow] = flows
    assert (flow["from_name_en"], flow["to_name_en"], flow["count"]) == ("Sichuan", "Shandong", 2)
    assert (flow["from_name_zh"], flow["to_name_zh"]) == ("四川省", "山东省")
    by_confirmed = read(sw, statistics.province_flows, actor=sw.actor("analyst"), by="confirmed")
    assert by_confirmed[0]["years"] == {"2024": 1, "2025": 1}
    only_2025 = read(sw, statistics.province_flows, actor=sw.actor("analyst"), by="confirmed",
                     start=date(2025, 1, 1), end=date(2025, 12, 31))
    assert only_2025[0]["count"] == 1
    assert statistics.province_of("513429") == "510000" and statistics.province_of(None) is None


def test_period_summary(sw):
    actor = sw.actor("analyst")
    summary = read(sw, statistics.period_summary, actor=actor, start=date(2024, 1, 1), end=date(2024, 12, 31))
    with Session(read_only(sw.engine)) as s:
        reports = naive_reports(s, "CN/")
    assert summary["reports"]["new"] == len(reports)  # every report registered in 2024
    assert summary["reports"]["total"] == len(reports)
    assert summary["candidates"]["confirmed"] == 1 and summary["reunions"] == 1
    assert summary["outcomes"]["returned_home"] == 1 and summary["outcomes"]["welfare_placement"] == 0
    assert summary["follow_ups"] == {"due": 2, "done": 1, "overdue_at_end": 1}
    assert summary["flows"][0]["count"] == 1
    assert [m["period"] for m in summary["months"]][0] == "2024-01" and len(summary["months"]) == 12
    assert summary["reports"]["open_at_end"] == summary["months"][-1]["open_cases"]


def test_permissions(sw):
    admin = sw.actor("admin")
    for fn in (statistics.lr_distribution, statistics.cases_over_time, statistics.province_flows):
        with pytest.raises(PermissionDenied):
            read(sw, fn, actor=admin)
    with pytest.raises(PermissionDenied):
        read(sw, statistics.period_summary, actor=admin, start=date(2024, 1, 1), end=date(2024, 2, 1))
    board = read(sw, statistics.dashboard, actor=admin)  # any logged-in user: nothing to count
    assert board.open_reports is None and board.new_candidates is None and board.follow_ups_due is None


def test_identification_by_family_type_is_seeded_and_cached():
    rows = statistics.identification_by_family_type(seed=3, families=120)
    assert {r["family_type"] for r in rows} >= {"both_parents", "uncle_aunt"}
    for r in rows:
        assert 0 <= r["identified"] <= r["families"]
        assert r["share"] is None if not r["families"] else r["share"] == r["identified"] / r["families"]
    both = next(r for r in rows if r["family_type"] == "both_parents")
    assert both["families"] and both["share"] >= 0.9  # a trio identifies almost always
    CACHED = statistics._identification
    hits = CACHED.cache_info().hits
    assert statistics.identification_by_family_type(seed=3, families=120) == rows
    assert CACHED.cache_info().hits == hits + 1  # cached, not simulated again
    with pytest.raises(ReuniteError, match="families"):
        statistics.identification_by_family_type(families=3)


def test_the_same_numbers_on_postgresql(sw, tmp_path):
    """The SQL (months, years, floor, prefixes) gives PostgreSQL's numbers equal to SQLite's."""
    from conftest import pg_database
    from review_fixtures import build

    url, drop = pg_database()
    try:
        pg = build(tmp_path, url)
        shape(pg)
        for who in ("analyst", "inv_zhaojue", "welfare_linyi"):
            a, b = sw.actor(who), pg.actor(who)
            assert read(pg, statistics.cases_over_time, actor=b) == read(sw, statistics.cases_over_time, actor=a)
            assert read(pg, statistics.province_flows, actor=b) == read(sw, statistics.province_flows, actor=a)
            assert read(pg, statistics.lr_distribution, actor=b) == read(sw, statistics.lr_distribution, actor=a)
            x, y = (read(w, statistics.dashboard, actor=c, today=TODAY) for w, c in ((pg, b), (sw, a)))
            assert (x.open_reports, x.new_candidates, x.reviews_waiting, x.confirmations_pending, x.follow_ups_due) \
                == (y.open_reports, y.new_candidates, y.reviews_waiting, y.confirmations_pending, y.follow_ups_due)
        period = dict(start=date(2024, 1, 1), end=date(2024, 12, 31))
        got = read(pg, statistics.period_summary, actor=pg.actor("analyst"), **period)
        want = read(sw, statistics.period_summary, actor=sw.actor("analyst"), **period)
        assert got == want
        pg.engine.dispose()
    finally:
        drop()


def test_periods_outside_the_years_served_are_refused_by_name():
    from datetime import date

    import pytest

    from reunite.cases.statistics import _check_period
    from reunite.errors import ReuniteError

    with pytest.raises(ReuniteError, match="start: expected a year from 1900"):
        _check_period(date(999, 1, 1), None)
    with pytest.raises(ReuniteError, match="end: expected a year"):
        _check_period(None, date(3000, 1, 1))
    _check_period(date(1900, 1, 1), date(2999, 12, 31))
