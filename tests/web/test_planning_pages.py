"""The planning pages: a family's plan (/reports/{code}/plan, linked from the report's page)
and the database's plan (/planning, in the menu) with its chart as inline SVG (well-formed,
no style attributes, told apart without colour) and its numbers as tables, in English and in
Chinese; refused without the permission or outside the jurisdiction.  Simulated data only."""

import re
import xml.etree.ElementTree as ET

import pytest

from test_planning_service import REPORT, make_plan_world
from web_client import web_login

SVG = re.compile(r"<svg .*?</svg>", re.S)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return make_plan_world(tmp_path_factory.mktemp("plan-pages"))
NS = "{http://www.w3.org/2000/svg}"


def test_family_plan_page(world):
    client = web_login(world, "inv_butuo")
    report = client.get(f"/reports/{REPORT}")
    assert report.status_code == 200 and f"/reports/{REPORT}/plan" in report.text
    page = client.get(f"/reports/{REPORT}/plan", params={"threshold": "1000", "seed": "3"})
    assert page.status_code == 200, page.text[:800]
    text = page.text
    assert "What the references can prove" in text and "Probability of exclusion" in text
    assert "father" in text and "Who else could give a sample" in text and "seed 3" in text
    assert 'style="' not in text and not INLINE_SCRIPT.search(text)
    bad = client.get(f"/reports/{REPORT}/plan", params={"threshold": "abc"})
    assert bad.status_code == 400 and "expected a number" in bad.text
    assert client.get("/reports/NOPE/plan").status_code == 404
    assert web_login(world, "inv_linyi").get(f"/reports/{REPORT}/plan").status_code == 403


def test_family_plan_page_in_chinese(world):
    page = web_login(world, "inv_butuo", lang="zh_CN").get(f"/reports/{REPORT}/plan")
    assert page.status_code == 200
    assert "参照亲属的证明力" in page.text and "父亲" in page.text and "还有谁可以提供样本" in page.text
    assert not any(w in page.text for w in ("stepwise", "father", "Who else", "simulations"))


def test_database_plan_page_with_its_chart(world):
    client = web_login(world, "analyst")
    dashboard = client.get("/dashboard")
    assert 'href="/planning"' in dashboard.text
    page = client.get("/planning")
    assert page.status_code == 200, page.text[:800]
    [svg] = SVG.findall(page.text)
    tree = ET.fromstring(svg)
    assert tree.get("role") == "img" and tree.find(f"{NS}title") is not None
    assert not any(el.get("style") for el in tree.iter())
    series = {el.get("class") for el in tree.iter(f"{NS}path") if el.get("class")}
    assert series == {"series series-false", "series series-found"}
    dashes = {el.get("stroke-dasharray") for el in tree.iter(f"{NS}path") if el.get("class")}
    assert len(dashes) == 2  # told apart without colour
    assert "mother only" in page.text and "Expected false candidates" in page.text
    assert 'style="' not in page.text and not INLINE_SCRIPT.search(page.text)
    simulated = client.get("/planning", params={"mix": "simulated", "seed": "2"})
    assert simulated.status_code == 200 and "both parents" in simulated.text
    assert client.get("/planning", params={"seed": "x"}).status_code == 400
    zh = web_login(world, "analyst", lang="zh_CN").get("/planning")
    assert zh.status_code == 200 and "预期假候选数" in zh.text and "规划" in zh.text
    assert not any(w in zh.text for w in ("stepwise", "mother only", "false candidates", "simulations"))
    assert web_login(world, "registrar").get("/planning").status_code == 403


def test_a_mix_the_form_does_not_offer_is_reported(world):
    page = web_login(world, "analyst").get("/planning", params={"mix": "foo"})
    assert page.status_code == 400 and "mix: expected one of database, simulated, found foo" in page.text
    assert "<svg" in page.text  # the database's plan is still shown
