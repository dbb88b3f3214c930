"""The dashboard: one per role, counts linking to the filtered lists, a few rows under each,
in the user's jurisdiction, in both languages."""

import re

import pytest

from review_fixtures import copy_world, world_fixtures
from test_statistics_service import shape
from web_client import web_login

template, rw = world_fixtures("dashboard-pages")


@pytest.fixture(scope="module")
def sw(template, tmp_path_factory):
    world = copy_world(*template, tmp_path_factory.mktemp("dash-shaped"))
    shape(world)
    return world


def card(text: str, key: str) -> str:
    """The count shown on card ``key``."""
    match = re.search(rf'id="card-{key}".*?class="stat"[^>]*>([^<]+)</a>', text, re.S)
    assert match, f"no card {key}"
    return match.group(1).strip()


def test_investigator_dashboard_in_english(sw):
    page = web_login(sw.world, "inv_butuo").get("/dashboard")
    assert page.status_code == 200, page.text[:500]
    text = page.text
    assert "Open missing-child reports" in text and 'href="/reports?status=open"' in text
    assert 'href="/candidates?status=new"' in text and 'href="/candidates?status=confirmation_requested"' in text
    assert 'href="/outcomes/follow-ups"' in text
    assert "Recent imports" not in text  # investigators do not import lab files
    assert int(card(text, "open_reports")) > 0
    assert 'style="' not in text and "<script>" not in text


def test_zhaojue_sees_no_butuo_report(sw):
    butuo = web_login(sw.world, "inv_butuo").get("/dashboard").text
    zhaojue = web_login(sw.world, "inv_zhaojue").get("/dashboard").text
    butuo_codes = set(re.findall(r'href="/reports/(R-[^"]+)"', butuo))
    zhaojue_codes = set(re.findall(r'href="/reports/(R-[^"]+)"', zhaojue))
    assert butuo_codes and zhaojue_codes and not butuo_codes & zhaojue_codes
    assert int(card(butuo, "open_reports")) != int(card(zhaojue, "open_reports"))


def test_reviewer_dashboard_in_chinese(sw):
    page = web_login(sw.world, "reviewer1", lang="zh_CN").get("/dashboard")
    assert page.status_code == 200
    text = page.text
    assert 'lang="zh-CN"' in text and "仪表板" in text and "分派给您的复核" in text and "待复核确认" in text
    assert "/candidates?assignee=reviewer1" in text
    assert card(text, "reviews_waiting") == "1" and card(text, "confirmations_pending") == "1"


def test_analyst_sees_imports_with_their_reports(sw):
    text = web_login(sw.world, "analyst").get("/dashboard").text
    assert "Recent imports" in text and re.search(r'href="/imports/\d+"', text)


def test_welfare_sees_follow_ups_due(sw):
    text = web_login(sw.world, "welfare_linyi").get("/dashboard").text
    assert card(text, "follow_ups_due") == "2" and "1 overdue" in text and "overdue" in text


def test_admin_dashboard_has_no_case_counts(sw):
    page = web_login(sw.world, "admin").get("/dashboard")
    assert page.status_code == 200 and "card-open_reports" not in page.text
    assert "no case counts" in page.text
