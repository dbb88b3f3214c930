"""The pages of missing-child reports and lab files: list, detail, registration with the
family's references (the family searched, the candidate shown), edit, consent withdrawal,
closing, uploads with their import reports, refusals, both languages.

Genotypes are simulated by gene dropping (never real people)."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from reunite.demo_workflow import simulate_family, simulate_unrelated
from reunite.errors import ReuniteError
from reunite.store.models_workflow import AuditEntry
from web_client import follow, post_form, web_login
from workflow_world import make_world

REPORT = "R-513429-2024-007"
CHILD = "LY24-C09"


def genotype_csv(samples: dict[str, dict]) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(("sample_id", "locus", "allele1", "allele2"))
    for code, profile in samples.items():
        sex = profile.get("_sex")
        if sex in ("M", "F"):
            w.writerow((code, "AMEL", "X", "Y" if sex == "M" else "X"))
        for locus, (a, b) in sorted((k, v) for k, v in profile.items() if k != "_sex"):
            w.writerow((code, locus, a, b))
    return out.getvalue().encode()


def upload(client, name: str, content: bytes, *, kind: str = "genotypes", lab: str = "LAB-510000"):
    return post_form(client, "/imports/upload", {"kind": kind, "lab": lab, "search": "1"},
                     files={"file": (name, content, "text/csv")})


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The Butuo family's references and a rescued child (the family's son) imported, the
    child registered by the Linyi police."""
    world = make_world(f"sqlite:///{tmp_path_factory.mktemp('records') / 'w.db'}")
    world.family = simulate_family(child_sex="M", seed=41)
    world.others = simulate_unrelated([("LY24-C01", "F")], seed=42)
    analyst = web_login(world, "analyst")
    good = upload(analyst, "references.csv", genotype_csv({
        f"{REPORT}-FA": world.family["FA"], f"{REPORT}-MO": world.family["MO"],
        f"{REPORT}-S1": world.others["LY24-C01"], f"SD-{CHILD}": world.family["M"]}))
    assert good.status_code == 201, good.text[:2000]
    api = world.client("inv_linyi")
    r = api.post("/api/v1/unidentified", json={
        "code": CHILD, "sample_code": f"SD-{CHILD}", "sex": "M", "category": "rescued_child",
        "found_date": "2024-03-12", "found_place_code": "371324", "estimated_birth_date": "2023-03-01"})
    assert r.status_code == 201, r.text
    return world


def new_report(client, code=REPORT, **extra):
    data = {"code": code, "child_name": "王小明 (simulated)", "child_sex": "M", "child_birth_date": "2023-03-02",
            "missing_date": "2023-09-14", "missing_place_code": "513429",
            "circumstances": "Simulated: taken from the yard",
            "contact_name": "mother (simulated)", "contact": "138-0000-0000 (simulated)",
            "ref1_relation": "father", "ref1_sample_code": f"{code}-FA", "ref1_consent_document": "form 1",
            "ref2_relation": "", "ref2_sample_code": "", "ref3_relation": "mother", "ref3_sample_code": f"{code}-MO",
            "ref3_consent_document": "form 2"}
    data.update(extra)
    return post_form(client, "/reports/new", data)


@pytest.fixture(scope="module")
def registered(world):
    client = web_login(world, "inv_butuo")
    created = new_report(client)
    assert created.status_code == 303 and created.headers["location"] == f"/reports/{REPORT}", created.text[:3000]
    page = follow(client, created)
    return client, page


def test_upload_a_bad_file_shows_the_line_and_imports_nothing(world):
    analyst = web_login(world, "analyst")
    content = genotype_csv({"BAD-1": world.others["LY24-C01"]}).decode().splitlines()
    content[3] = "BAD-1,D3S1358,xx,16"
    bad = upload(analyst, "bad.csv", ("\n".join(content) + "\n").encode())
    assert bad.status_code == 422
    assert "bad.csv" in bad.text and "<td class=\"num\">4</td>" in bad.text and "xx" in bad.text
    assert "bad.csv: 1 problem; nothing was imported." in bad.text
    assert "reunite-upload" not in bad.text  # the server's temporary path is not shown
    listing = analyst.get("/imports")
    assert listing.status_code == 200 and "references.csv" in listing.text and "bad.csv" not in listing.text
    batch = re.search(r'href="/imports/(\d+)"', listing.text).group(1)
    detail = analyst.get(f"/imports/{batch}")
    assert detail.status_code == 200 and "references.csv" in detail.text and "SHA-256" in detail.text
    missing = analyst.get("/imports/upload")
    assert missing.status_code == 200 and 'enctype="multipart/form-data"' in missing.text
    no_file = post_form(analyst, "/imports/upload", {"kind": "genotypes"})
    assert no_file.status_code == 400 and "file:" in no_file.text


def test_upload_a_good_file_shows_the_import_report(world):
    analyst = web_login(world, "analyst", lang="zh_CN")
    extra = simulate_unrelated([("X1", "M")], seed=7)
    good = upload(analyst, "extra.csv", genotype_csv({"EXTRA-1": extra["X1"]}))
    assert good.status_code == 201 and "导入报告" in good.text and "extra.csv" in good.text
    assert 'lang="zh-CN"' in good.text
    assert analyst.get("/imports/upload").text.count("上传") >= 1


def test_only_importers_see_lab_files(world):
    investigator = web_login(world, "inv_butuo")
    assert investigator.get("/imports").status_code == 403
    assert investigator.get("/imports/upload").status_code == 403


def test_register_a_report_with_references_runs_the_search(world, registered):
    client, page = registered
    assert page.status_code == 200
    text = page.text
    assert "王小明 (simulated)" in text and "Butuo" in text and "513429" in text
    assert f"{REPORT}-FA" in text and f"{REPORT}-MO" in text and "consent given" in text and "form 2" in text
    assert "The family was searched" in text  # the flash: the pending search ran
    cand = re.search(r'href="/candidates/(\d+)"', text)
    assert cand, "the candidate of the rescued child appears on the report"
    assert CHILD in text and "Report registered" in text  # the history
    with Session(world.engine) as s:
        actions = set(s.execute(select(AuditEntry.action)).scalars())
    assert {"report.create", "search.pending"} <= actions


def test_registration_errors_name_the_field_and_keep_the_input(world):
    client = web_login(world, "inv_butuo")
    form = client.get("/reports/new")
    assert form.status_code == 200 and 'name="ref4_sample_code"' in form.text and 'class="required"' in form.text
    no_code = new_report(client, code="")
    assert no_code.status_code == 400 and "code:" in no_code.text and "王小明 (simulated)" in no_code.text
    bad_sample = new_report(client, code="R-513429-2024-099", ref1_sample_code="NO-SUCH", ref3_sample_code="")
    assert bad_sample.status_code in (400, 404) and "NO-SUCH" in bad_sample.text
    assert 'value="R-513429-2024-099"' in bad_sample.text
    half = new_report(client, code="R-513429-2024-098", ref1_relation="", ref3_sample_code="")
    assert half.status_code == 400 and "ref1_relation" in half.text
    bad_date = new_report(client, code="R-513429-2024-097", missing_date="14/09/2023")
    assert bad_date.status_code == 400 and "missing_date" in bad_date.text
    zh = web_login(world, "inv_butuo", lang="zh_CN").get("/reports/new")
    assert "登记儿童失踪报案" in zh.text and "家属参照样本" in zh.text


def test_list_search_and_filters(world, registered):
    client = web_login(world, "inv_butuo")
    page = client.get("/reports")
    assert page.status_code == 200 and REPORT in page.text and "王小明 (simulated)" in page.text
    assert REPORT in client.get("/reports", params={"text": "小明"}).text
    assert REPORT in client.get("/reports", params={"text": "2024-007"}).text
    assert REPORT not in client.get("/reports", params={"text": "nothing-like-it"}).text
    assert REPORT not in client.get("/reports", params={"status": "closed"}).text
    assert REPORT in client.get("/reports", params={"missing_from": "2023-09-01", "missing_to": "2023-09-30"}).text
    assert REPORT not in client.get("/reports", params={"missing_from": "2024-01-01"}).text
    assert REPORT in client.get("/reports", params={"jurisdiction": "513400"}).text
    bad = client.get("/reports", params={"missing_from": "yesterday"})
    assert bad.status_code == 400 and "missing_from" in bad.text
    zh = web_login(world, "inv_butuo", lang="zh_CN").get("/reports")
    assert zh.status_code == 200 and "儿童失踪报案" in zh.text and "登记报案" in zh.text


def test_county_user_is_refused_another_countys_report(world, registered):
    zhaojue = web_login(world, "inv_zhaojue")
    page = zhaojue.get(f"/reports/{REPORT}")
    assert page.status_code == 200 and "another jurisdiction" in page.text
    assert "王小明" not in page.text and f"{REPORT}-FA" not in page.text and "/candidates/" not in page.text
    listing = zhaojue.get("/reports")
    assert REPORT in listing.text and "王小明" not in listing.text
    assert REPORT not in zhaojue.get("/reports", params={"text": "小明"}).text  # a name search stays home
    assert zhaojue.get(f"/reports/{REPORT}/edit").status_code == 403
    refused = post_form(zhaojue, f"/reports/{REPORT}/close", {"reason": "not mine"})
    assert refused.status_code == 403
    withdraw = post_form(zhaojue, f"/reports/{REPORT}/consent-withdraw", {"sample_code": f"{REPORT}-FA",
                                                                           "reason": "x"})
    assert withdraw.status_code == 403
    reviewer = web_login(world, "reviewer1")
    assert reviewer.get("/reports/new").status_code == 403
    assert reviewer.get(f"/reports/{REPORT}").status_code == 200  # reads, without buttons
    assert "/edit" not in reviewer.get(f"/reports/{REPORT}").text


def test_edit_report_is_versioned_and_audited(world, registered):
    client = web_login(world, "inv_butuo")
    form = client.get(f"/reports/{REPORT}/edit")
    assert form.status_code == 200 and 'value="2023-09-14"' in form.text and "王小明 (simulated)" in form.text
    values = {"personal": "1", "child_name": "王小明 (simulated)", "child_sex": "M", "child_birth_date": "2023-03-02",
              "missing_date": "2023-09-15", "missing_place_code": "513429", "missing_place_detail": "",
              "circumstances": "Simulated: taken from the market", "contact_name": "mother (simulated)",
              "contact": "138-0000-0000 (simulated)", "investigator": "inv_butuo", "agency_code": "PSB-513429"}
    no_reason = post_form(client, f"/reports/{REPORT}/edit", values)
    assert no_reason.status_code == 400 and "reason" in no_reason.text and "taken from the market" in no_reason.text
    done = post_form(client, f"/reports/{REPORT}/edit", {**values, "reason": "the mother corrected the date"})
    assert done.status_code == 303, done.text[:2000]
    page = follow(client, done)
    assert "taken from the market" in page.text and "Details edited" in page.text
    assert "the mother corrected the date" in page.text and "2023-09-14 → 2023-09-15" in page.text
    with Session(world.engine) as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "report.update")).scalars().one()
    details = json.loads(entry.details)
    assert entry.actor == "inv_butuo" and details["reason"] == "the mother corrected the date"
    assert details["old"]["missing_date"] == "2023-09-14" and details["new"]["missing_date"] == "2023-09-15"
    assert details["new"]["circumstances"] == "(set)"  # personal text stays out of the log
    bad_place = post_form(client, f"/reports/{REPORT}/edit", {**values, "missing_place_code": "510000",
                                                              "reason": "x"})
    assert bad_place.status_code == 400 and "missing_place_code" in bad_place.text
    zh = web_login(world, "inv_butuo", lang="zh_CN").get(f"/reports/{REPORT}/edit")
    assert "修改报案" in zh.text


def test_update_report_refuses_unknown_fields(world, registered):
    from reunite.cases.reports import update_report
    from reunite.store.db import write_transaction

    with pytest.raises(ReuniteError, match="shoe_size"):
        write_transaction(world.engine, lambda s: update_report(s, REPORT, actor=world.actor("inv_butuo"),
                                                                reason="x", shoe_size=3))


def test_remove_refused_after_a_search_then_withdraw_consent_and_close(world, registered):
    client = web_login(world, "inv_butuo", lang="zh_CN")
    page = client.get(f"/reports/{REPORT}")
    assert page.status_code == 200 and "家属参照样本" in page.text and "撤回同意" in page.text
    client = web_login(world, "inv_butuo")
    used = post_form(client, f"/reports/{REPORT}/references/remove", {"sample_code": f"{REPORT}-MO",
                                                                       "reason": "given by mistake"})
    assert used.status_code == 409 and "used in the LR" in used.text and "given by mistake" in used.text
    no_reason = post_form(client, f"/reports/{REPORT}/consent-withdraw", {"sample_code": f"{REPORT}-MO"})
    assert no_reason.status_code == 400 and "reason" in no_reason.text
    done = post_form(client, f"/reports/{REPORT}/consent-withdraw", {"sample_code": f"{REPORT}-MO",
                                                                       "reason": "the mother asked (simulated)"})
    assert done.status_code == 303, done.text[:2000]
    page = follow(client, done)
    assert "consent withdrawn" in page.text and "the mother asked (simulated)" in page.text
    no_close = post_form(client, f"/reports/{REPORT}/close", {"reason": ""})
    assert no_close.status_code == 400 and "reason" in no_close.text
    closed = post_form(client, f"/reports/{REPORT}/close", {"reason": "found alive by the family (simulated)"})
    assert closed.status_code == 303
    page = follow(client, closed)
    assert "badge-closed" in page.text and "found alive by the family" in page.text and "Reopen" in page.text


def test_add_reference_errors_keep_the_form_open_with_the_input(world, registered):
    client = web_login(world, "inv_butuo")
    code = "R-513429-2024-020"
    created = new_report(client, code=code, ref1_relation="mother", ref1_sample_code=f"{REPORT}-S1",
                         ref1_consent_document="form 7", ref3_relation="", ref3_sample_code="",
                         ref3_consent_document="")
    assert created.status_code == 303, created.text[:2000]
    bad = post_form(client, f"/reports/{code}/references", {"relation": "father", "sample_code": "NO-SUCH-SAMPLE",
                                                             "consent_document": "form 8"})
    assert bad.status_code == 404 and "NO-SUCH-SAMPLE" in bad.text
    assert "<details class=\"card\" open>" in bad.text and 'value="form 8"' in bad.text
    assert client.get("/reports/NO-SUCH-REPORT").status_code == 404
