"""The charts page: four SVG charts (well-formed, thresholds drawn, labelled in the page's
language), each with its numbers as a table; the period filter; refused without
statistics:read."""

import re
import xml.etree.ElementTree as ET

import pytest

from reunite.reports import charts
from review_fixtures import copy_world, world_fixtures
from test_statistics_service import shape
from web_client import web_login

template, rw = world_fixtures("chart-pages")
SVG = re.compile(r"<svg .*?</svg>", re.S)
NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def sw(template, tmp_path_factory):
    world = copy_world(*template, tmp_path_factory.mktemp("charts-shaped"))
    shape(world)
    return world


def svgs(text: str) -> list:
    found = SVG.findall(text)
    assert len(found) == 4, len(found)
    trees = [ET.fromstring(s) for s in found]  # well-formed
    for tree in trees:
        assert tree.get("role") == "img" and tree.find(f"{NS}title") is not None and tree.find(f"{NS}desc") is not None
        assert not any(el.get("style") for el in tree.iter())
    return trees


def test_charts_page_in_english(sw):
    page = web_login(sw.world, "analyst").get("/charts")
    assert page.status_code == 200, page.text[:800]
    lr, time, flows, family = svgs(page.text)
    thresholds = [el for el in lr.iter(f"{NS}line") if el.get("class") == "threshold"]
    assert thresholds and thresholds[0].get("stroke-dasharray")
    labels = "".join(el.text or "" for el in lr.iter(f"{NS}text") if el.get("class") == "threshold-label")
    assert "notify threshold / review threshold" in labels and "10⁴" in labels
    texts = " ".join("".join(el.itertext()) for el in flows.iter(f"{NS}text"))
    assert "Sichuan → Shandong" in texts and "2" in texts
    series = {el.get("class") for el in time.iter(f"{NS}path") if el.get("class")}
    assert {"series series-open_cases", "series series-reunions"} <= series
    dashes = {el.get("stroke-dasharray") for el in time.iter(f"{NS}path") if el.get("class")}
    assert len(dashes) == 3  # told apart without colour
    assert "both parents" in "".join(family.itertext())
    assert page.text.count("The numbers as a table") == 3 and "Routes by year" in page.text
    assert 'style="' not in page.text


def test_charts_page_in_chinese(sw):
    page = web_login(sw.world, "analyst", lang="zh_CN").get("/charts")
    assert page.status_code == 200
    lr, time, flows, family = svgs(page.text)
    assert "候选比中似然比分布" in "".join(lr.itertext())
    assert "四川省 → 山东省" in "".join(flows.itertext())
    assert "父母双方" in "".join(family.itertext())
    assert "通知阈值" in "".join(lr.itertext())


def test_period_filter_and_bad_dates(sw):
    client = web_login(sw.world, "analyst")
    page = client.get("/charts?start=2025-01-01&end=2025-12-31&flows_by=confirmed")
    assert page.status_code == 200
    assert "2024-03" not in page.text.split("Per month")[1].split("</table>")[0]
    bad = client.get("/charts?start=2025-13-01")
    assert bad.status_code == 400 and "start" in bad.text and "YYYY-MM-DD" in bad.text
    backwards = client.get("/charts?start=2025-05-01&end=2025-01-01")
    assert backwards.status_code == 400 and "end" in backwards.text


def test_refused_without_statistics_read(sw):
    assert web_login(sw.world, "admin").get("/charts").status_code == 403
    assert web_login(sw.world, "registrar").get("/charts").status_code == 403


def test_county_user_charts_are_scoped(sw):
    page = web_login(sw.world, "inv_zhaojue").get("/charts")
    assert page.status_code == 200
    svgs(page.text)
    from reunite.cases import statistics

    def total(user):
        return sw.read(lambda s: statistics.lr_distribution(s, actor=sw.actor(user))["total"])

    county, national = total("inv_zhaojue"), total("reviewer1")
    assert county < national  # a county counts only the candidates of its own reports and children
    histogram = next(t for t in svgs(page.text) if "LR" in (t.find(f"{NS}title").text or ""))
    assert f"{county} " in (histogram.find(f"{NS}desc").text or "") or county == 0


def test_empty_charts_say_so():
    for svg in (charts.lr_histogram_svg([], thresholds={"notify": 4}, title="t", no_data="none here"),
                charts.cases_over_time_svg([], title="t", no_data="none here"),
                charts.flows_svg([], title="t", no_data="none here"),
                charts.share_by_family_type_svg([], title="t", no_data="none here")):
        tree = ET.fromstring(svg)
        assert "none here" in "".join(tree.itertext())


def test_histogram_from_values_marks_both_thresholds():
    svg = charts.lr_histogram_svg([0.5, 2.5, 5.5, 7.1], thresholds={"notify": 4.0, "review": 6.0}, title="<LR & co>",
                                  threshold_labels={"notify": "notify", "review": "review"})
    tree = ET.fromstring(svg)
    assert tree.find(f"{NS}title").text == "<LR & co>"
    assert len([el for el in tree.iter(f"{NS}line") if el.get("class") == "threshold"]) == 2
