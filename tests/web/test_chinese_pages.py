"""The main pages in Chinese (zh_CN), opened by users allowed to see them on the demo's simulated
data, carry none of the English phrases that once leaked into them: chart descriptions, raw
codes (a family type, a file layout, an agency kind, an outcome kind in a notification),
English jurisdiction names where a Chinese name exists, a registration check's notes."""

from __future__ import annotations

import re

import pytest

from journey_world import make_demo_world
from web_client import LOGIN_CSRF

REPORT = "R-513429-2023-017"
CHECK = "REG-371324-2024-002"

#: (user, path, English phrases that must not appear on the Chinese page)
PAGES = [
    ("reviewer1", "/charts", ["candidates with a finite LR", "at or above", "in all", "at the end"]),
    ("analyst", "/imports", ["genotypes (long)", "(long)"]),
    ("reviewer1", "/candidates", [">report<"]),
    ("inv_butuo", "/inbox", ["(returned_home)"]),
    ("admin", "/admin/jurisdictions", ["(police)", "(lab)", "(welfare)", "(registration)", "CN National",
                                       "370000 Shandong"]),
    ("registrar", f"/registration/{CHECK}", ["Amelogenin shows the sex"]),
    ("inv_butuo", f"/reports/{REPORT}", []),
    ("inv_linyi", "/operations", []),
    ("welfare_linyi", "/outcomes", []),
    ("auditor", "/audit", []),
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return make_demo_world(tmp_path_factory.mktemp("chinese"))


def _client(demo, username: str):
    from fastapi.testclient import TestClient

    client = TestClient(demo.app(), raise_server_exceptions=False, follow_redirects=False)
    client.cookies.set("reunite_lang", "zh_CN")
    token = LOGIN_CSRF.search(client.get("/login").text).group(1)
    response = client.post("/login", data={"username": username, "password": demo.password(username),
                                           "login_csrf": token, "next": "/dashboard"})
    assert response.status_code == 303, response.text[:500]
    client.cookies.set("reunite_lang", "zh_CN")
    return client


@pytest.mark.parametrize("username,path,phrases", PAGES, ids=[p[1] for p in PAGES])
def test_chinese_page_has_no_english_leak(demo, username, path, phrases):
    page = _client(demo, username).get(path)
    assert page.status_code == 200, page.text[:1000]
    assert '<html lang="zh-CN"' in page.text
    assert re.search(r"<h1[^>]*>[^<]*[\u4e00-\u9fff]", page.text), "the heading is not in Chinese"
    leaks = [p for p in phrases if p in page.text]
    assert not leaks, leaks


def test_chinese_chart_descriptions(demo):
    page = _client(demo, "reviewer1").get("/charts")
    assert "个似然比有限的候选比中" in page.text
