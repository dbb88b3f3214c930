"""The planning pages write thresholds as the form does (10^4, not 1.00E4) and never break a
probability inside ("2.66e-" / "13"): each of a family type's two probabilities is one unit."""

import re

import pytest

from test_planning_service import REPORT, make_plan_world
from web_client import web_login


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return make_plan_world(tmp_path_factory.mktemp("plan-numbers"))


def test_thresholds_and_probabilities(world):
    page = web_login(world, "analyst").get("/planning")
    assert page.status_code == 200
    assert "10^4" in page.text and not re.search(r"\d\.\d\dE\d", page.text)
    assert re.search(r'<span class="nowrap">[0-9.e-]+</span> / <span class="nowrap">[0-9.e-]+</span>', page.text)
    family = web_login(world, "inv_butuo").get(f"/reports/{REPORT}/plan", params={"threshold": "10000"})
    assert family.status_code == 200 and "10^4" in family.text and not re.search(r"\d\.\d\dE\d", family.text)
