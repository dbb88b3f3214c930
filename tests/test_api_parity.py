"""Every action of the web pages through the REST API and the CLI too (the same service call):
editing a report and a rescue operation, setting a candidate aside, the candidate list's new
filters, the candidate page's data, issuing and verifying PDF reports, the dashboard and
statistics, one's language, follow-ups due.  Refusals: 403 without the permission, another
county's record refused.

Simulated data only (never real people)."""

from __future__ import annotations

import json
from datetime import date

import pytest
from fastapi.encoders import jsonable_encoder
from typer.testing import CliRunner

from reunite.cases import candidates as candidate_service
from reunite.cases import reports as report_service
from reunite.cases import statistics
from reunite.reports import registry
from review_fixtures import build
from test_pdf_reports import confirm_one

API = "/api/v1"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    rw = build(tmp_path_factory.mktemp("parity"))
    cid, child, family = confirm_one(rw)
    yield {"rw": rw, "cid": cid, "child": child, "family": family}
    rw.engine.dispose()


def _ok(response, status: int = 200):
    assert response.status_code == status, (response.status_code, response.text[:800])
    return response.json() if "json" in response.headers.get("content-type", "") else response


def _refused(response, status: int = 403) -> dict:
    assert response.status_code == status, (response.status_code, response.text[:800])
    body = response.json()
    assert {"error", "message"} <= set(body)
    return body


def _open_candidates(rw, exclude: set[int]) -> list[int]:
    page = rw.read(lambda s: candidate_service.list_candidates(s, actor=rw.actor("reviewer1"), status="new",
                                                               sort="id", limit=50))
    return [c["id"] for c in page.items if c["id"] not in exclude]


# ---------------------------------------------------------------------------------------
# reports and operations


def _open_report(world, k: int) -> str:
    """The code of the k-th report whose family has no confirmed candidate."""
    return "R-" + sorted({f for _, f, _, _ in world["rw"].true_pairs()} - {world["family"]})[k]


def test_patch_report_edits_it_as_the_edit_page_does(world):
    rw = world["rw"]
    code = _open_report(world, 1)
    client = rw.world.client("inv_butuo")
    identified = _refused(client.patch(f"{API}/reports/R-{world['family']}",
                                       json={"reason": "x", "missing_date": "2020-02-03"}), 409)
    assert identified["field"] == "missing_date" and "identified" in identified["message"]
    out = _ok(client.patch(f"{API}/reports/{code}", json={
        "reason": "the mother remembered the date", "missing_date": "2020-02-03", "contact_name": "王母 (simulated)",
        "circumstances": None}))
    assert out["missing_date"] == "2020-02-03" and out["contact_name"] == "王母 (simulated)"
    assert out["circumstances"] is None
    shown = rw.write(lambda s: report_service.show_report(s, code, actor=rw.actor("inv_butuo")))
    assert shown["missing_date"] == "2020-02-03" and shown["contact_name"] == "王母 (simulated)"
    audit = _ok(rw.world.client("auditor").get(f"{API}/audit", params={"action": "report.update"}))
    assert audit["items"] and audit["items"][0]["entity_id"] == code
    # the same values again: nothing to change (400 naming the field); unknown fields and no reason: 422
    again = _refused(client.patch(f"{API}/reports/{code}", json={"reason": "again", "missing_date": "2020-02-03"}),
                     400)
    assert "nothing to change" in again["message"]
    _refused(client.patch(f"{API}/reports/{code}", json={"reason": "x", "status": "closed"}), 422)
    _refused(client.patch(f"{API}/reports/{code}", json={"missing_date": "2020-02-04"}), 422)
    # another county's investigator, a reviewer (no report:write): 403; an unknown report: 404
    _refused(rw.world.client("inv_zhaojue").patch(f"{API}/reports/{code}",
                                                  json={"reason": "x", "missing_date": "2020-02-05"}))
    _refused(rw.world.client("reviewer1").patch(f"{API}/reports/{code}",
                                                json={"reason": "x", "missing_date": "2020-02-05"}))
    _refused(client.patch(f"{API}/reports/R-NONE", json={"reason": "x", "missing_date": "2020-02-05"}), 404)


def test_patch_operation(world):
    rw = world["rw"]
    linyi = rw.world.client("inv_linyi")
    _ok(linyi.post(f"{API}/operations", json={"code": "OP-PARITY-1", "name": "rescue (simulated)",
                                              "operation_date": "2024-03-12", "place_code": "371324"}), 201)
    out = _ok(linyi.patch(f"{API}/operations/OP-PARITY-1", json={
        "reason": "the name of the file", "name": "Lanling rescue (simulated)", "notes": "three children"}))
    assert out["name"] == "Lanling rescue (simulated)" and out["notes"] == "three children"
    assert out["operation_date"] == "2024-03-12"
    _refused(linyi.patch(f"{API}/operations/OP-PARITY-1", json={"reason": "x", "name": "Lanling rescue (simulated)"}),
             400)
    _refused(linyi.patch(f"{API}/operations/OP-PARITY-1", json={"reason": "x", "code": "OP-2"}), 422)
    _refused(rw.world.client("inv_butuo").patch(f"{API}/operations/OP-PARITY-1", json={"reason": "x", "name": "y"}))
    _refused(rw.world.client("analyst").patch(f"{API}/operations/OP-PARITY-1", json={"reason": "x", "name": "y"}))


# ---------------------------------------------------------------------------------------
# candidates


def test_set_aside_by_a_reviewer(world):
    rw = world["rw"]
    cid = _open_candidates(rw, {world["cid"]})[0]
    _refused(rw.world.client("analyst").post(f"{API}/candidates/{cid}/set-aside", json={"reason": "duplicate"}))
    _refused(rw.world.client("inv_butuo").post(f"{API}/candidates/{cid}/set-aside", json={"reason": "duplicate"}))
    reviewer = rw.world.client("reviewer1")
    _refused(reviewer.post(f"{API}/candidates/{cid}/set-aside", json={}), 422)
    assert "set_aside" in _ok(reviewer.get(f"{API}/candidates/{cid}/steps"))
    state = _ok(reviewer.post(f"{API}/candidates/{cid}/set-aside",
                              json={"reason": "a duplicate of another candidate (simulated)"}))
    assert state["status"] == "set_aside" and state["reason"].startswith("a duplicate")
    history = _ok(reviewer.get(f"{API}/candidates/{cid}/history"))
    assert history[-1]["to_status"] == "set_aside"
    # a second time: the step is not allowed any more (409)
    _refused(reviewer.post(f"{API}/candidates/{cid}/set-aside", json={"reason": "again"}), 409)


def test_candidate_list_filters_match_the_service(world):
    rw = world["rw"]
    client = rw.world.client("reviewer1")
    actor = rw.actor("reviewer1")
    types = _ok(client.get(f"{API}/candidates/family-types"))
    assert types == rw.read(lambda s: candidate_service.family_types(s, actor=actor)) and types
    for params in ({"max_log10_lr": 2}, {"min_log10_lr": 0, "max_log10_lr": 5}, {"family_type": types[0]},
                   {"created_from": date.today().isoformat()}, {"created_to": "2000-01-01"}):
        got = _ok(client.get(f"{API}/candidates", params={**params, "limit": 500}))
        want = rw.read(lambda s: candidate_service.list_candidates(
            s, actor=actor, limit=500, settings=rw.world.settings,
            **{k: (date.fromisoformat(v) if k.startswith("created") else v) for k, v in params.items()}))
        assert [c["id"] for c in got["items"]] == [c["id"] for c in want.items], params
    assert all(c["log10_lr"] <= 2 for c in _ok(client.get(f"{API}/candidates", params={"max_log10_lr": 2}))["items"]
               if isinstance(c["log10_lr"], float))
    assert _ok(client.get(f"{API}/candidates", params={"created_to": "2000-01-01"}))["items"] == []
    assert _ok(client.get(f"{API}/candidates", params={"created_from": date.today().isoformat()}))["items"]
    bad = _refused(client.get(f"{API}/candidates", params={"min_log10_lr": 5, "max_log10_lr": 1}), 400)
    assert bad["field"] == "max_log10_lr"
    _refused(client.get(f"{API}/candidates", params={"created_from": "yesterday"}), 422)


def test_candidate_page_data(world):
    rw = world["rw"]
    cid = world["cid"]
    client = rw.world.client("inv_butuo")
    page = _ok(client.get(f"{API}/candidates/{cid}/page"))
    assert set(page) >= {"candidate", "pedigrees", "steps", "verbal", "reviewers", "targets"}
    assert page["candidate"]["id"] == cid and page["pedigrees"]["family"] and page["pedigrees"]["alternative"]
    assert page["candidate"]["status"] == "confirmed"
    reviewers = _ok(client.get(f"{API}/candidates/reviewers"))
    assert {r["username"] for r in reviewers} >= {"reviewer1", "reviewer2"}
    assert page["candidate"]["family"]["personal"]  # the names of Butuo's report, to Butuo's investigator
    other = _ok(rw.world.client("inv_zhaojue").get(f"{API}/candidates/{cid}/page"))  # another county: codes only
    assert not other["candidate"]["family"]["personal"] and not other["candidate"]["child"]["personal"]
    assert other["steps"] == []
    _refused(rw.world.client("admin").get(f"{API}/candidates/{cid}/page"))
    _refused(client.get(f"{API}/candidates/999999/page"), 404)


# ---------------------------------------------------------------------------------------
# documents


def test_documents_issue_list_and_verify(world):
    rw, cid = world["rw"], world["cid"]
    client = rw.world.client("inv_butuo")
    response = _ok(client.post(f"{API}/documents/kinship/{cid}", params={"lang": "en"}))
    assert response.headers["content-type"] == "application/pdf" and response.content.startswith(b"%PDF")
    assert f"candidate-{cid}-en.pdf" in response.headers["content-disposition"]
    number = int(response.headers["x-reunite-report-number"])
    result = rw.read(lambda s: registry.verify(s, response.content))  # the bytes served are those registered
    assert result.issued and result.report["id"] == number and result.report["issued_by"] == "inv_butuo"
    # verify through the API: any logged-in user, the PDF as multipart
    checked = _ok(rw.world.client("admin").post(f"{API}/documents/verify",
                                                files={"file": ("r.pdf", response.content, "application/pdf")}))
    assert checked["issued"] and checked["status"] == "issued" and checked["report"]["id"] == number
    altered = response.content.replace(b"%PDF", b"%PDF ", 1)
    checked = _ok(client.post(f"{API}/documents/verify", files={"file": ("r.pdf", altered, "application/pdf")}))
    assert not checked["issued"] and checked["status"] in ("altered", "unknown") and checked["message"]
    assert _ok(client.post(f"{API}/documents/verify", files={"file": ("x.txt", b"hello", "text/plain")}))[
        "status"] == "not_pdf"
    _refused(client.post(f"{API}/documents/verify", json={}), 422)
    # the list: the issuer sees it; auditors through /audit/documents; others' county: not theirs
    listed = _ok(client.get(f"{API}/documents", params={"kind": "kinship"}))
    assert number in [r["id"] for r in listed["items"]]
    assert number in [r["id"] for r in _ok(rw.world.client("auditor").get(f"{API}/audit/documents"))["items"]]
    _refused(rw.world.client("auditor").get(f"{API}/documents"))
    assert number not in [r["id"] for r in _ok(rw.world.client("inv_zhaojue").get(f"{API}/documents"))["items"]]
    # refusals: another county's investigator, a role without document:issue, a bad language
    _refused(rw.world.client("inv_zhaojue").post(f"{API}/documents/kinship/{cid}"))
    _refused(rw.world.client("auditor").post(f"{API}/documents/kinship/{cid}"))
    _refused(client.post(f"{API}/documents/kinship/{cid}", params={"lang": "fr"}), 422)
    other = _open_candidates(rw, {cid})[0]
    _refused(client.post(f"{API}/documents/kinship/{other}"), 409)  # not confirmed


def test_operation_and_statistics_reports(world):
    rw = world["rw"]
    linyi = rw.world.client("inv_linyi")
    _ok(linyi.post(f"{API}/operations", json={"code": "OP-PARITY-2", "operation_date": "2024-05-01",
                                              "place_code": "371324"}), 201)
    summary = _ok(linyi.post(f"{API}/documents/operations/OP-PARITY-2", params={"lang": "zh_CN"}))
    assert summary.headers["content-type"] == "application/pdf"
    assert rw.read(lambda s: registry.verify(s, summary.content)).report["kind"] == "operation"
    _refused(rw.world.client("inv_butuo").post(f"{API}/documents/operations/OP-PARITY-2"))
    stats = _ok(rw.world.client("inv_butuo").post(f"{API}/documents/statistics",
                                                  params={"start": "2020-01-01", "end": date.today().isoformat()}))
    assert rw.read(lambda s: registry.verify(s, stats.content)).report["kind"] == "statistics"
    _refused(linyi.post(f"{API}/documents/statistics", params={"start": "2020-01-01"}), 422)
    bad = _refused(linyi.post(f"{API}/documents/statistics", params={"start": "2024-01-02", "end": "2024-01-01"}), 400)
    assert bad["field"] == "end"


def test_openapi_declares_the_pdfs(world):
    schema = _ok(world["rw"].world.client().get(f"{API}/openapi.json"))
    for path in ("/documents/kinship/{candidate_id}", "/documents/operations/{code}", "/documents/statistics"):
        content = schema["paths"][API + path]["post"]["responses"]["200"]["content"]
        assert "application/pdf" in content, path
    assert "multipart/form-data" in schema["paths"][f"{API}/documents/verify"]["post"]["requestBody"]["content"]


# ---------------------------------------------------------------------------------------
# statistics, language, follow-ups


def test_dashboard_and_statistics_match_the_pages_services(world):
    rw = world["rw"]
    settings = rw.world.settings
    for user in ("inv_butuo", "reviewer1", "welfare_linyi", "admin"):
        got = _ok(rw.world.client(user).get(f"{API}/statistics/dashboard"))
        want = rw.read(lambda s: statistics.dashboard(s, actor=rw.actor(user), settings=settings))
        assert got == json.loads(json.dumps(jsonable_encoder(want))), user
    board = _ok(rw.world.client("admin").get(f"{API}/statistics/dashboard"))
    assert board["open_reports"] is None  # not the administrator's records
    start, end = "2020-01-01", date.today().isoformat()
    client = rw.world.client("inv_butuo")
    got = _ok(client.get(f"{API}/statistics/summary", params={"start": start, "end": end}))
    want = rw.read(lambda s: statistics.period_summary(s, actor=rw.actor("inv_butuo"), start=date(2020, 1, 1),
                                                       end=date.today(), settings=settings))
    assert got == json.loads(json.dumps(jsonable_encoder(want)))
    assert got["reports"]["new"] >= 1
    _refused(client.get(f"{API}/statistics/summary", params={"start": end, "end": start}), 400)
    _refused(client.get(f"{API}/statistics/summary", params={"start": start}), 422)
    _refused(rw.world.client("registrar").get(f"{API}/statistics/summary", params={"start": start, "end": end}))
    charts = _ok(client.get(f"{API}/statistics/charts", params={"flows_by": "confirmed"}))
    assert set(charts) >= {"lr", "months", "flows", "family_types"} and charts["flows_by"] == "confirmed"
    assert charts["lr"]["total"] >= 1
    _refused(rw.world.client("admin").get(f"{API}/statistics/charts"))


def test_language_is_saved(world):
    rw = world["rw"]
    client = rw.world.client("welfare_linyi")
    assert _ok(client.put(f"{API}/auth/language", json={"language": "zh_CN"})) == {
        "username": "welfare_linyi", "language": "zh_CN"}
    assert _ok(client.get(f"{API}/auth/language"))["language"] == "zh_CN"
    assert _ok(client.put(f"{API}/auth/language", json={"language": None}))["language"] is None
    _refused(client.put(f"{API}/auth/language", json={"language": "fr"}), 422)
    _refused(client.put(f"{API}/auth/language", json={}), 422)


def test_follow_ups_due(world):
    rw = world["rw"]
    from reunite.cases import outcomes

    welfare = rw.world.client("welfare_linyi")
    _ok(welfare.post(f"{API}/outcomes", json={"child_code": world["child"], "kind": "returned_home",
                                              "outcome_date": date.today().isoformat(), "follow_up_days": [10, 400]}),
        201)
    due = _ok(welfare.get(f"{API}/follow-ups/due", params={"within_days": 30}))
    want = rw.read(lambda s: outcomes.due_follow_ups(s, actor=rw.actor("welfare_linyi"), within_days=30))
    assert [f["id"] for f in due["items"]] == [f.id for f in want.items] and len(due["items"]) == 1
    assert len(_ok(welfare.get(f"{API}/follow-ups/due", params={"within_days": 500}))["items"]) == 2
    _refused(welfare.get(f"{API}/follow-ups/due", params={"within_days": -1}), 422)
    _refused(rw.world.client("analyst").get(f"{API}/follow-ups/due"))


# ---------------------------------------------------------------------------------------
# the CLI


def _cli(*args: str, code: int = 0) -> str:
    from reunite.cli import app

    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == code, (args, result.exit_code, result.output, result.exception)
    return result.output + ("" if result.exception is None else str(result.exception))


def test_cli_commands(world, monkeypatch, tmp_path):
    rw = world["rw"]
    monkeypatch.setenv("REUNITE_DATABASE_URL", rw.world.url)
    monkeypatch.delenv("REUNITE_USER", raising=False)
    code = _open_report(world, 0)
    out = _cli("report", "edit", code, "--reason", "the date was wrong", "--missing-date", "2019-12-30",
               "--circumstances", "", "--as", "inv_butuo", "--no-search")
    assert f"report {code} updated" in out and "--missing-date" in out
    shown = rw.write(lambda s: report_service.show_report(s, code, actor=rw.actor("inv_butuo")))
    assert shown["missing_date"] == "2019-12-30" and shown["circumstances"] is None
    out = _cli("report", "edit", code, "--reason", "x", "--missing-place", "999999", "--as", "inv_butuo", code=1)
    assert "--missing-place" in out
    _cli("report", "edit", code, "--reason", "x", "--missing-date", "2019-12-29", "--as", "inv_zhaojue", code=1)

    _cli("operation", "add", "OP-PARITY-CLI", "--date", "2024-04-01", "--as", "inv_linyi")
    out = _cli("operation", "edit", "OP-PARITY-CLI", "--reason", "named", "--name", "CLI rescue (simulated)",
               "--as", "inv_linyi")
    assert "operation OP-PARITY-CLI updated (--name)" in out
    assert "CLI rescue (simulated)" in _cli("operation", "show", "OP-PARITY-CLI", "--as", "inv_linyi")

    cid = _open_candidates(rw, {world["cid"]})[-1]
    out = _cli("candidates", "set-aside", str(cid), "--reason", "duplicate (simulated)", "--as", "reviewer1")
    assert f"candidate {cid}: set_aside" in out
    _cli("candidates", "set-aside", str(cid), "--reason", "again", "--as", "analyst", code=1)
    csv_out = tmp_path / "c.csv"
    _cli("candidates", "--max-log10-lr", "1", "--created-from", date.today().isoformat(), "--csv", str(csv_out),
         "--as", "reviewer1")
    want = rw.read(lambda s: candidate_service.list_candidates(s, actor=rw.actor("reviewer1"), max_log10_lr=1,
                                                               created_from=date.today(), limit=500))
    assert len(csv_out.read_text(encoding="utf-8").splitlines()) == len(want.items) + 1
    _cli("candidates", "--created-to", "2024-13-01", "--as", "reviewer1", code=1)

    issued = json.loads(_cli("report", "issued", "--json", "--as", "inv_butuo"))
    assert issued["items"] and all(r["kind"] in registry.KINDS for r in issued["items"])
    _cli("report", "issued", "--as", "admin", code=1)


# ---------------------------------------------------------------------------------------
# the record pages' data, the administration's model pages


def test_record_overviews_match_the_pages_services(world):
    rw = world["rw"]
    from reunite.cases import registration, unidentified
    from reunite.cases.report_views import report_overview

    code = f"R-{world['family']}"
    butuo = rw.world.client("inv_butuo")
    got = _ok(butuo.get(f"{API}/reports/{code}/overview"))
    want = rw.write(lambda s: report_overview(s, code, actor=rw.actor("inv_butuo")))
    assert got == json.loads(json.dumps(jsonable_encoder(want)))
    assert got["report"]["status"] == "identified" and world["cid"] in [c["id"] for c in got["candidates"]]
    assert got["report"]["child_name"]
    other = _ok(rw.world.client("inv_zhaojue").get(f"{API}/reports/{code}/overview"))  # codes only
    assert other["report"]["restricted"] and other["candidates"] is None and other["history"] == []
    _refused(rw.world.client("admin").get(f"{API}/reports/{code}/overview"))
    _refused(butuo.get(f"{API}/reports/R-NONE/overview"), 404)

    child = _ok(rw.world.client("welfare_linyi").get(f"{API}/unidentified/{world['child']}/overview"))
    want = rw.write(lambda s: unidentified.child_overview(s, world["child"], actor=rw.actor("welfare_linyi"),
                                                          settings=rw.world.settings))
    assert child == json.loads(json.dumps(jsonable_encoder(want))) and child["candidates"] is not None
    _refused(rw.world.client("admin").get(f"{API}/unidentified/{world['child']}/overview"))

    registrar = rw.world.client("registrar")
    check = rw.write(lambda s: registration.list_checks(s, actor=rw.actor("registrar"), limit=1)).items
    if check:
        detail = _ok(registrar.get(f"{API}/registration-checks/{check[0]['code']}/detail"))
        assert detail["code"] == check[0]["code"]
    _refused(registrar.get(f"{API}/registration-checks/NONE/detail"), 404)
    _refused(rw.world.client("admin").get(f"{API}/registration-checks/NONE/detail"))


def test_model_pages_data(world):
    rw = world["rw"]
    admin = rw.world.client("admin")
    model = _ok(admin.get(f"{API}/model"))
    assert model["population"] == rw.world.model.population
    kits = _ok(admin.get(f"{API}/model/kits"))
    assert kits and all(k["loci"] for k in kits)
    tables = _ok(admin.get(f"{API}/model/frequency-tables"))
    name = tables[0]["population"]
    table = _ok(admin.get(f"{API}/model/frequency-tables/{name}"))
    assert table["loci"]
    _refused(admin.get(f"{API}/model/frequency-tables/NOWHERE"), 404)
    _refused(rw.world.client("inv_butuo").get(f"{API}/model/kits"))
