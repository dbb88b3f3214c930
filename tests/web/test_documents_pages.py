"""Documents pages: downloading a PDF report issues and registers it (the bytes served are the
bytes registered), the documents page lists the issued reports in the user's scope, the
verify form answers issued/unaltered or not; refusals; both languages.

Simulated data only (never real people)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import update

from reunite.reports import registry
from reunite.store.models import Unidentified
from review_fixtures import build
from test_pdf_reports import compact, confirm_one, pdf_text
from web_client import post_form, web_login


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    rw = build(tmp_path_factory.mktemp("docs"))
    cid, child, family = confirm_one(rw)
    yield {"rw": rw, "cid": cid, "child": child, "family": family}
    rw.engine.dispose()


def _pdf(response):
    assert response.status_code == 200, response.text[:800]
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    return response.content


def test_downloading_the_kinship_report_issues_it(world, tmp_path):
    rw, cid = world["rw"], world["cid"]
    client = web_login(rw.world, "inv_butuo", lang="zh_CN")
    response = client.get(f"/candidates/{cid}/report.pdf")  # the page's language: Chinese
    data = _pdf(response)
    assert f"candidate-{cid}-zh_CN.pdf" in response.headers["content-disposition"]
    flat = compact(pdf_text(data, tmp_path))
    assert "亲缘鉴定报告" in flat and "王小" in flat
    result = rw.read(lambda s: registry.verify(s, data))  # the bytes served are the bytes registered
    assert result.issued and result.report["issued_by"] == "inv_butuo"
    assert response.headers["x-reunite-report-number"] == str(result.report["id"])
    english = _pdf(client.get(f"/candidates/{cid}/report.pdf?lang=en"))
    assert "Kinship report" in pdf_text(english, tmp_path)
    # the documents page's form leads to the same download
    form = client.get(f"/documents/kinship?candidate={cid}&lang=en")
    assert form.status_code == 303 and form.headers["location"] == f"/candidates/{cid}/report.pdf?lang=en"
    assert client.get("/candidates/x/report.pdf").status_code in (404, 422)
    assert client.get(f"/candidates/{cid}/report.pdf?lang=fr").status_code == 400


def test_refusals(world):
    rw, cid = world["rw"], world["cid"]
    other = next(c for u, f, m, c in rw.true_pairs()[1:] if c != cid)
    client = web_login(rw.world, "inv_butuo")
    page = client.get(f"/candidates/{other}/report.pdf")
    assert page.status_code == 409 and "confirmed" in page.text and "<html" in page.text
    auditor = web_login(rw.world, "auditor")
    assert auditor.get(f"/candidates/{cid}/report.pdf").status_code == 403
    zhaojue = web_login(rw.world, "inv_zhaojue", lang="zh_CN")  # another county's candidate
    refused = zhaojue.get(f"/candidates/{cid}/report.pdf")
    assert refused.status_code == 403 and '<html lang="zh-CN"' in refused.text
    anonymous = web_login(rw.world, "inv_butuo")
    anonymous.cookies.clear()
    assert anonymous.get(f"/candidates/{cid}/report.pdf").status_code == 303  # to the login page


def test_documents_page_lists_and_verifies(world, tmp_path):
    rw, cid = world["rw"], world["cid"]
    client = web_login(rw.world, "inv_butuo")
    data = _pdf(client.get(f"/candidates/{cid}/report.pdf?lang=en"))
    number = rw.read(lambda s: registry.verify(s, data)).report["id"]
    page = client.get("/documents")
    assert page.status_code == 200 and "<h1>Documents</h1>" in page.text and "Issued reports" in page.text
    assert f'<td class="num">{number}</td>' in page.text and f"candidate {cid}" in page.text
    zh = web_login(rw.world, "inv_butuo", lang="zh_CN").get("/documents")
    assert zh.status_code == 200 and "<h1>文书</h1>" in zh.text and "已签发报告" in zh.text
    # verify: the file as issued, then with one byte changed
    form = client.get("/documents/verify")
    assert form.status_code == 200 and 'enctype="multipart/form-data"' in form.text
    ok = post_form(client, "/documents/verify", files={"file": ("report.pdf", data, "application/pdf")})
    assert ok.status_code == 200 and "Verified: an unaltered issued report." in ok.text
    assert f"<dd>{number}</dd>" in ok.text
    changed = bytearray(data)
    changed[len(changed) // 3] ^= 0x01
    bad = post_form(client, "/documents/verify", files={"file": ("report.pdf", bytes(changed), "application/pdf")})
    assert bad.status_code == 200 and "it was altered" in bad.text
    zh_client = web_login(rw.world, "inv_zhaojue", lang="zh_CN")
    unknown = post_form(zh_client, "/documents/verify", files={"file": ("x.pdf", b"%PDF-1.4 x", "application/pdf")})
    assert "核验未通过" in unknown.text
    # a form without the CSRF token is refused; a form without a file says so
    assert client.post("/documents/verify", files={"file": ("r.pdf", data, "application/pdf")}).status_code == 403
    assert post_form(client, "/documents/verify", {}).status_code == 400
    # another county's user does not see Butuo's kinship reports
    assert f"candidate {cid}" not in web_login(rw.world, "inv_zhaojue").get("/documents").text


def test_operation_summary_and_statistics_downloads(world, tmp_path):
    from reunite.cases.operations import create_operation

    rw = world["rw"]

    def make(s):
        op = create_operation(s, actor=rw.actor("inv_linyi"), code="OP-WEB-1", name="春雷行动",
                              operation_date=date(2025, 3, 1))
        s.execute(update(Unidentified).where(Unidentified.code == world["child"]).values(operation_id=op.id))

    rw.write(make)
    linyi = web_login(rw.world, "inv_linyi", lang="zh_CN")
    data = _pdf(linyi.get("/operations/OP-WEB-1/summary.pdf"))
    assert "解救行动摘要" in compact(pdf_text(data, tmp_path))
    assert web_login(rw.world, "inv_butuo").get("/operations/OP-WEB-1/summary.pdf").status_code == 403
    client = web_login(rw.world, "inv_butuo")
    stats = _pdf(client.get(f"/statistics/report.pdf?start=2020-01-01&end={date.today().isoformat()}&lang=en"))
    assert "Statistics report" in pdf_text(stats, tmp_path)
    assert rw.read(lambda s: registry.verify(s, stats)).issued
    assert client.get("/statistics/report.pdf?start=2020-01-01").status_code == 400
    assert client.get("/statistics/report.pdf?start=2021-01-01&end=2020-01-01").status_code == 400
    assert client.get("/statistics/report.pdf?start=nonsense&end=2020-01-01").status_code == 400
