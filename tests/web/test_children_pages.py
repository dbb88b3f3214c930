"""Pages of rescue operations, unidentified children and the late birth-registration check:
lists, details, register and edit (with a reason), in English and Chinese; county and
permission refusals.  Simulated profiles only."""

import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from records_data import import_samples, simulate
from reunite.store.models import RecordVersion
from reunite.store.models_workflow import AuditEntry
from web_client import follow, post_form, web_login
from workflow_world import make_world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("children")
    w = make_world(f"sqlite:///{tmp / 'w.db'}")
    w.profiles = simulate(w.model, seed=21)
    w.codes = import_samples(w, tmp, w.profiles, prefix="S-")
    return w


def actions(world, action):
    with Session(world.engine) as s:
        return s.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars().all()


OP = {"code": "OP-LY-1", "name": "Operation Spring", "operation_date": "2024-04-01", "place_code": "371324",
      "place_detail": "a farmhouse", "suspects_case_number": "LY-2024-17", "notes": "three suspects held"}


def test_operation_register_show_edit(world):
    client = web_login(world, "inv_linyi")
    form = client.get("/operations/new")
    assert form.status_code == 200 and "Register a rescue operation" in form.text
    bad = post_form(client, "/operations/new", {**OP, "operation_date": "2024-13-01"})
    assert bad.status_code == 400 and "operation_date" in bad.text and 'value="Operation Spring"' in bad.text
    made = post_form(client, "/operations/new", OP)
    assert made.status_code == 303 and made.headers["location"] == "/operations/OP-LY-1"
    page = follow(client, made)
    assert page.status_code == 200 and "Rescue operation registered" in page.text
    assert "LY-2024-17" in page.text and "a farmhouse" in page.text
    assert "/operations/OP-LY-1/summary.pdf" in page.text  # investigators issue documents
    assert "/unidentified/new?operation=OP-LY-1" in page.text
    again = post_form(client, "/operations/new", OP)
    assert again.status_code == 409 and "already exists" in again.text

    edit = client.get("/operations/OP-LY-1/edit")
    assert edit.status_code == 200 and 'value="2024-04-01"' in edit.text and 'value="PSB-371300"' in edit.text
    OP_NOW = {**OP, "agency": "PSB-371300"}
    no_reason = post_form(client, "/operations/OP-LY-1/edit", {**OP_NOW, "name": "Spring 2024", "reason": ""})
    assert no_reason.status_code == 400 and "reason" in no_reason.text
    same = post_form(client, "/operations/OP-LY-1/edit", {**OP_NOW, "reason": "typo"})
    assert same.status_code == 400 and "nothing to change" in same.text
    changed = post_form(client, "/operations/OP-LY-1/edit", {**OP_NOW, "name": "Spring 2024", "reason": "official name"})
    assert changed.status_code == 303
    assert "Spring 2024" in follow(client, changed).text
    [entry] = actions(world, "operation.update")
    assert entry.details and "official name" in entry.details
    with Session(world.engine) as s:
        version = s.execute(select(RecordVersion).where(RecordVersion.entity == "operation")).scalar_one()
        assert version.reason == "official name" and "LY-2024-17" not in version.data

    listing = client.get("/operations?jurisdiction=371300&date_from=2024-01-01")
    assert listing.status_code == 200 and "OP-LY-1" in listing.text and "Spring 2024" in listing.text
    assert "OP-LY-1" not in client.get("/operations?date_to=2023-12-31").text
    assert client.get("/operations?date_from=yesterday").status_code == 400


def test_operation_pages_in_chinese_and_refusals(world):
    if not client_has(world, "OP-LY-1"):
        test_operation_register_show_edit(world)
    zh = web_login(world, "inv_linyi", lang="zh_CN")
    page = zh.get("/operations")
    assert page.status_code == 200 and "解救行动" in page.text and 'lang="zh-CN"' in page.text
    detail = zh.get("/operations/OP-LY-1")
    assert "解救行动" in detail.text and "编辑" in detail.text
    # Butuo's investigator: the code and owner only, never the case number; no edit
    butuo = web_login(world, "inv_butuo")
    other = butuo.get("/operations/OP-LY-1")
    assert other.status_code == 200 and "another jurisdiction" in other.text and "LY-2024-17" not in other.text
    assert butuo.get("/operations/OP-LY-1/edit").status_code == 403
    refused = post_form(butuo, "/operations/OP-LY-1/edit", {"name": "x", "reason": "mine"})
    assert refused.status_code == 403
    assert post_form(butuo, "/operations/new", {**OP, "code": "OP-X", "jurisdiction": "371300"}).status_code == 403
    # a reviewer reads but cannot register
    reviewer = web_login(world, "reviewer1")
    assert reviewer.get("/operations/new").status_code == 403
    assert reviewer.get("/operations").status_code == 200
    assert web_login(world, "registrar").get("/operations").status_code == 403


def client_has(world, code):
    from reunite.store.models_workflow import RescueOperation

    with Session(world.engine) as s:
        return s.execute(select(RescueOperation.id).where(RescueOperation.code == code)).first() is not None


def ensure_operation(world):
    if not client_has(world, "OP-LY-1"):
        post_form(web_login(world, "inv_linyi"), "/operations/new", OP)


def test_unidentified_register_show_edit(world):
    ensure_operation(world)
    client = web_login(world, "welfare_linyi")
    form = client.get("/unidentified/new?operation=OP-LY-1")
    assert form.status_code == 200 and 'value="OP-LY-1"' in form.text and "/imports/upload" not in form.text
    data = {"code": "U-LY-1", "sample_code": world.codes["CH"], "sex": "M", "category": "rescued_child",
            "found_date": "2024-04-01", "found_place_code": "371324", "found_place_detail": "the farmhouse",
            "estimated_age": "6.5", "placement_kind": "welfare_institution",
            "placement_name": "Linyi Children's Welfare Institute", "operation_code": "OP-LY-1", "given_name": "小明"}
    unknown = post_form(client, "/unidentified/new", {**data, "sample_code": "S-NOPE"})
    assert unknown.status_code == 404 and "sample_code" in unknown.text and 'value="小明"' in unknown.text
    made = post_form(client, "/unidentified/new", data)
    assert made.status_code == 303, made.text[:2000]
    page = follow(client, made)
    assert page.status_code == 200 and "U-LY-1" in page.text and "小明" in page.text
    assert "Welfare institution" in page.text and "Rescued child" in page.text
    assert "Candidates" in page.text and "Outcomes and follow-ups" in page.text
    assert "/operations/OP-LY-1" in page.text
    assert "Record an outcome" not in page.text  # not identified
    op = client.get("/operations/OP-LY-1")
    assert "/unidentified/U-LY-1" in op.text and "Welfare institution" in op.text

    edit = client.get("/unidentified/U-LY-1/edit")
    assert edit.status_code == 200 and 'value="the farmhouse"' in edit.text and "小明" in edit.text
    values = {"category": "rescued_child", "found_date": "2024-04-01", "found_place_code": "371324",
              "found_place_detail": "the farmhouse", "estimated_birth_date": re.search(
                  r'name="estimated_birth_date" type="date" value="([^"]*)"', edit.text).group(1),
              "placement_kind": "foster_family", "placement_name": "the Zhang family", "given_name": "小明",
              "operation_code": "OP-LY-1"}
    missing_reason = post_form(client, "/unidentified/U-LY-1/edit", values)
    assert missing_reason.status_code == 400 and "reason" in missing_reason.text
    saved = post_form(client, "/unidentified/U-LY-1/edit", {**values, "reason": "placed in foster care"})
    assert saved.status_code == 303, saved.text[:2000]
    shown = follow(client, saved).text
    assert "Foster family" in shown and "the Zhang family" in shown and "the farmhouse" in shown
    with Session(world.engine) as s:
        version = s.execute(select(RecordVersion).where(RecordVersion.entity == "unidentified")).scalar_one()
        assert version.reason == "placed in foster care" and "placement_kind: welfare_institution -> foster_family" \
            in version.data

    listing = client.get("/unidentified?status=unidentified&category=rescued_child&operation=OP-LY-1")
    assert listing.status_code == 200 and "U-LY-1" in listing.text
    assert "U-LY-1" not in client.get("/unidentified?category=begging_child").text
    assert client.get("/unidentified?category=bogus").status_code == 400

    zh = web_login(world, "welfare_linyi", lang="zh_CN")
    assert "身份不明儿童" in zh.get("/unidentified").text
    detail = zh.get("/unidentified/U-LY-1").text
    assert "寄养家庭" in detail and "被解救儿童" in detail

    # a Zhaojue investigator: no personal data, no edit
    other = web_login(world, "inv_zhaojue")
    seen = other.get("/unidentified/U-LY-1")
    assert seen.status_code == 200 and "小明" not in seen.text and "another jurisdiction" in seen.text
    assert other.get("/unidentified/U-LY-1/edit").status_code == 403
    assert post_form(other, "/unidentified/U-LY-1/edit", {**values, "reason": "x"}).status_code == 403
    # an analyst reads (national, no personal data) but cannot register
    analyst = web_login(world, "analyst")
    assert analyst.get("/unidentified/new").status_code == 403
    page = analyst.get("/unidentified/U-LY-1")
    assert page.status_code == 200 and "小明" not in page.text and "/imports/upload" in page.text


def test_registration_checks(world):
    client = web_login(world, "registrar")
    assert client.get("/registration/new").status_code == 200
    passed = post_form(client, "/registration/new", {
        "code": "REG-1", "child_sample_code": world.codes["S1"], "father_sample_code": world.codes["FA"],
        "mother_sample_code": world.codes["MO"], "child_sex": "F", "registration_number": "HK-1",
        "child_given_name": "王小二"})
    assert passed.status_code == 303, passed.text[:2000]
    page = follow(client, passed).text
    assert "Passed" in page and "trio" in page and "王小二" in page and "HK-1" in page
    assert "support for parentage" in page and "Not searched" in page and "Frequency table" in page
    flagged = post_form(client, "/registration/new", {
        "code": "REG-2", "child_sample_code": world.codes["Y"], "father_sample_code": world.codes["X"],
        "child_sex": "F"})
    assert flagged.status_code == 303, flagged.text[:2000]
    page = follow(client, flagged).text
    assert "Flagged" in page and "duo" in page and "The child has been searched against every family" in page
    assert "/unidentified/REG-2-CH" in page
    assert client.get("/registration/REG-NONE").status_code == 404
    assert "Inconsistent loci" in page
    listing = client.get("/registration?status=flagged")
    assert "REG-2" in listing.text and "REG-1" not in listing.text
    zh = web_login(world, "registrar", lang="zh_CN")
    assert "出生登记" in zh.get("/registration").text
    detail = zh.get("/registration/REG-2").text
    assert "似然比" in detail and "三联体" not in detail
    # the Butuo investigator reads checks of their county only; cannot run one
    butuo = web_login(world, "inv_butuo")
    other = butuo.get("/registration/REG-1")
    assert other.status_code == 200 and "王小二" not in other.text and "HK-1" not in other.text
    assert butuo.get("/registration/new").status_code == 403
    assert post_form(butuo, "/registration/new", {"code": "R", "child_sample_code": "x"}).status_code == 403
    assert web_login(world, "welfare_linyi").get("/registration").status_code == 403
