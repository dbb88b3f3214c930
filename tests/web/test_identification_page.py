"""The joint identification page of a rescue operation (/operations/{code}/identification):
rendered in English and Chinese on a simulated operation (matrix with its legend, best
assignments, undisputed identifications, each child's most probable family, provenance,
links to candidates), linked from the operation's page, scoped and refused without the
permission.  Simulated data only."""

from __future__ import annotations

import re

import pytest

from test_joint_identification_service import OP, build
from web_client import web_login

URL = f"/operations/{OP}/identification"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = build(tmp_path_factory.mktemp("identification_page"))
    yield w
    w.engine.dispose()


def test_the_page_in_english(world):
    client = web_login(world, "reviewer1")
    page = client.get(URL)
    assert page.status_code == 200, page.text[:2000]
    text = page.text
    for heading in ("Best joint assignments", "Undisputed identifications", "most probable family",
                    "Children against families: pairwise LR", "Provenance"):
        assert heading in text, heading
    assert "U-C3 → FAM-B / C3" in text  # the best assignment names the mother-only family's son
    assert 'class="dvi-matrix"' in text and "lr-6" in text and "LR ≥ 1,000,000" in text  # colours and legend
    assert re.search(r'href="/candidates/\d+"', text)  # the stored candidates are linked
    assert "R-A" in text and "R-B" in text  # a national reviewer sees the reports
    assert "<script>" not in text and "style=" not in text  # CSP: no inline script or style
    detail = client.get(f"/operations/{OP}")
    assert detail.status_code == 200 and URL in detail.text


def test_the_page_in_chinese(world):
    client = web_login(world, "reviewer1", lang="zh_CN")
    page = client.get(URL)
    assert page.status_code == 200
    for heading in ("最佳联合分配方案", "无争议认定", "每名儿童最可能的家庭", "计算来源"):
        assert heading in page.text
    assert "Best joint assignments" not in page.text
    assert "未参与联合搜索的配对" in page.text  # the notes too (pairings below the limit, by count)
    assert "left out of the joint search" not in page.text


def test_options_and_bad_input(world):
    client = web_login(world, "reviewer1")
    page = client.get(URL, params={"family": "R-D", "top": "2", "limit": "10"})
    assert page.status_code == 200 and "FAM-D" in page.text
    bad = client.get(URL, params={"limit": "lots"})
    assert bad.status_code == 400 and "limit" in bad.text
    zero = client.get(URL, params={"top": "0"})  # reported, not replaced by the default in silence
    assert zero.status_code == 400 and "top: expected 1 to 1000" in zero.text
    unknown = client.get(URL, params={"family": "NOPE"})
    assert unknown.status_code == 404


def test_scope_and_permission(world):
    linyi = web_login(world, "inv_linyi")  # the operation's county: the Sichuan families are restricted
    page = linyi.get(URL)
    assert page.status_code == 200 and "another jurisdiction" in page.text
    assert "/reports/R-A" not in page.text
    butuo = web_login(world, "inv_butuo")  # another jurisdiction's operation: code and owner only
    restricted = butuo.get(URL)
    assert restricted.status_code == 200 and "Best joint assignments" not in restricted.text
    registrar = web_login(world, "registrar")  # no candidate:read
    assert registrar.get(URL).status_code == 403
