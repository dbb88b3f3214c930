"""The joint identification page in Chinese carries no English model description (the
frequency table, θ and each locus's mutation model are shown in their own fields)."""

from __future__ import annotations

import pytest

from test_joint_identification_service import OP, build
from web_client import web_login

URL = f"/operations/{OP}/identification"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = build(tmp_path_factory.mktemp("identification_language"))
    yield w
    w.engine.dispose()


def test_no_english_model_description_in_chinese(world):
    described = world.model.describe()
    page = web_login(world, "reviewer1", lang="zh_CN").get(URL)
    assert page.status_code == 200
    assert "计算来源" in page.text and world.model.population in page.text
    assert described not in page.text


def test_codes_are_not_broken_at_their_hyphens(world):
    """The tables of codes carry the class whose cells do not wrap (they scroll in their box)."""
    from pathlib import Path

    page = web_login(world, "reviewer1").get(URL)
    assert page.text.count('<table class="codes">') == 4
    css = (Path(__file__).resolve().parents[2] / "src" / "reunite" / "web" / "static" / "reunite.css").read_text()
    assert ".codes td { white-space: nowrap; }" in css


def test_an_assignment_is_not_called_an_identification(world):
    en = web_login(world, "reviewer1").get(URL).text
    assert "An assignment is not an identification" in en and "Children identified" not in en
    zh = web_login(world, "reviewer1", lang="zh_CN").get(URL).text
    assert "分配方案不等于身份认定" in zh and "已认定身份儿童" not in zh
