"""Outcome and follow-up pages: a child identified through the review (confirmed by a second
reviewer) is recorded returned home, follow-up visits are scheduled, added, done and listed
when due or overdue; in English and Chinese; county and permission refusals."""

import re
from datetime import datetime, timedelta, timezone

import pytest

from review_fixtures import second_child_sample, to_confirmation_requested, world_fixtures
from reunite.cases import outcomes as svc
from web_client import follow, post_form, web_login

TODAY = datetime.now(timezone.utc).date()
template, rw = world_fixtures("outcome_pages")


@pytest.fixture(autouse=True)
def _one_day(monkeypatch):
    """The service's today is the tests' TODAY, also when a run crosses midnight (UTC)."""
    monkeypatch.setattr(svc, "_today", lambda: TODAY)


def identified(rw) -> tuple[str, int]:
    """A child confirmed as a family's missing child (four eyes); its code and candidate."""
    from reunite.cases import review
    from reunite.cases.confirmation import add_confirmation_sample

    u, _f, _m, cid = rw.true_pairs()[0]
    to_confirmation_requested(rw, cid)
    second_child_sample(rw, u, "SCONFIRM")
    rw.write(lambda s: add_confirmation_sample(s, cid, actor=rw.actor("analyst"), sample_code="SCONFIRM",
                                               target="child", model=rw.model))
    rw.write(lambda s: review.confirm(s, cid, actor=rw.actor("reviewer2")))
    return u, cid


def test_return_home_with_follow_ups(rw):
    child, cid = identified(rw)
    world = rw.world
    client = web_login(world, "welfare_linyi")
    page = client.get(f"/unidentified/{child}")
    assert page.status_code == 200 and f"/outcomes/new?child={child}" in page.text
    assert f"/candidates/{cid}" in page.text and "confirmed" in page.text
    form = client.get(f"/outcomes/new?child={child}")
    assert form.status_code == 200 and f'value="{child}"' in form.text and "Returned home" in form.text
    day = TODAY - timedelta(days=100)
    future = post_form(client, "/outcomes/new", {"child": child, "kind": "returned_home",
                                                 "outcome_date": (TODAY + timedelta(days=2)).isoformat()})
    assert future.status_code == 400 and "in the future" in future.text
    made = post_form(client, "/outcomes/new", {"child": child, "kind": "returned_home", "outcome_date": day.isoformat(),
                                               "notes": "returned to the 王 family; mother present",
                                               "follow_ups": "30,60,120"})
    assert made.status_code == 303, made.text[:2000]
    url = made.headers["location"]
    oid = int(url.rsplit("/", 1)[1])
    detail = follow(client, made).text
    assert "Outcome recorded" in detail and "Returned home" in detail and "mother present" in detail
    assert detail.count("overdue") >= 2 and "scheduled" in detail

    added = post_form(client, f"/outcomes/{oid}/follow-ups", {"due_date": (TODAY + timedelta(days=10)).isoformat()})
    assert added.status_code == 303
    before = post_form(client, f"/outcomes/{oid}/follow-ups", {"due_date": (day - timedelta(days=1)).isoformat()})
    assert before.status_code == 400 and "before the outcome" in before.text
    visits = [int(x) for x in re.findall(rf"/outcomes/{oid}/follow-ups/(\d+)/done", client.get(url).text)]
    assert len(visits) == 4
    done = post_form(client, f"/outcomes/{oid}/follow-ups/{visits[0]}/done",
                     {"done_date": (day + timedelta(days=31)).isoformat(), "notes": "the child is at school"})
    assert done.status_code == 303
    page = follow(client, done).text
    assert "Follow-up visit recorded" in page and "the child is at school" in page and "done on" in page
    twice = post_form(client, f"/outcomes/{oid}/follow-ups/{visits[0]}/done", {})
    assert twice.status_code == 409 and "already recorded done" in twice.text

    overdue = client.get("/outcomes/follow-ups?within=0")
    assert overdue.status_code == 200 and overdue.text.count(f"/outcomes/{oid}\"") == 1  # 60 days; 30 done
    due = client.get("/outcomes/follow-ups")
    assert due.text.count(f"/outcomes/{oid}\"") == 3 and "due soon" in due.text  # and +10, +20 days
    listing = client.get(f"/outcomes?kind=returned_home&child={child}")
    assert listing.status_code == 200 and f"/outcomes/{oid}" in listing.text
    assert f"/outcomes/{oid}" not in client.get("/outcomes?kind=foster_care").text
    history = client.get(f"/unidentified/{child}").text
    assert f"/outcomes/{oid}" in history and "Returned home" in history

    zh = web_login(world, "welfare_linyi", lang="zh_CN")
    assert "安置结果" in zh.get("/outcomes").text
    assert "已回归家庭" in zh.get(url).text and "回访" in zh.get(url).text
    assert "待回访" in zh.get("/outcomes/follow-ups").text

    # Butuo's investigator reads outcomes of their county only; the notes stay in Linyi
    butuo = web_login(world, "inv_butuo")
    assert butuo.get(url).status_code == 404
    assert f"/outcomes/{oid}" not in butuo.get("/outcomes").text
    assert butuo.get("/outcomes/new").status_code == 403
    # a reviewer reads outcomes (national) without the notes, and records none
    reviewer = web_login(world, "reviewer1")
    seen = reviewer.get(url)
    assert seen.status_code == 200 and "mother present" not in seen.text and "shown only to users" in seen.text
    assert post_form(reviewer, "/outcomes/new", {"child": child, "kind": "foster_care",
                                                 "outcome_date": TODAY.isoformat()}).status_code == 403
    assert post_form(reviewer, f"/outcomes/{oid}/follow-ups/{visits[1]}/done", {}).status_code == 403
    assert web_login(world, "registrar").get("/outcomes").status_code == 403


def test_an_unidentified_child_has_no_outcome(rw):
    world = rw.world
    client = web_login(world, "welfare_linyi")
    child = rw.db["truth"][0][0]
    refused = post_form(client, "/outcomes/new", {"child": child, "kind": "returned_home",
                                                  "outcome_date": TODAY.isoformat(), "follow_ups": "30"})
    assert refused.status_code == 409 and "is not identified" in refused.text and f'value="{child}"' in refused.text
    bad_days = post_form(client, "/outcomes/new", {"child": child, "kind": "returned_home",
                                                   "outcome_date": TODAY.isoformat(), "follow_ups": "soon"})
    assert bad_days.status_code == 400 and "follow_ups" in bad_days.text
    zh = web_login(world, "welfare_linyi", lang="zh_CN")
    page = zh.get(f"/unidentified/{child}").text
    assert "候选比中" in page and "/outcomes/new?child=" not in page
