"""The whole journey through the REST API only, each step by the user whose job it is: from a
missing-child report to the child's return home, with the audit log holding every step.

Genotypes are simulated by gene dropping through a family pedigree (never real people)."""

from __future__ import annotations

import csv
import io
from datetime import date

from reunite.demo_workflow import simulate_family, simulate_unrelated
from workflow_world import make_world

API = "/api/v1"
REPORT = "R-513429-2023-101"
CHILD = "LY24-C07"


def _csv(samples: dict[str, dict]) -> bytes:
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


def _ok(response, status: int = 200) -> dict:
    assert response.status_code == status, (response.status_code, response.text)
    return response.json()


def _upload(client, name: str, samples: dict[str, dict], lab: str) -> dict:
    return _ok(client.post(f"{API}/imports/genotypes", files={"file": (name, _csv(samples), "text/csv")},
                           data={"lab": lab}), 201)


def test_from_report_to_return_home_through_the_api(db_url):
    """On SQLite and on PostgreSQL (skipped with the reason when no server answers)."""
    world = make_world(db_url)
    analyst, inv_butuo, inv_linyi = world.client("analyst"), world.client("inv_butuo"), world.client("inv_linyi")
    reviewer1, reviewer2 = world.client("reviewer1"), world.client("reviewer2")
    welfare, auditor = world.client("welfare_linyi"), world.client("auditor")
    family = simulate_family(child_sex="M", seed=41)
    others = simulate_unrelated([("LY24-C01", "F"), ("LY24-C02", "M")], seed=42)

    # the laboratory's analyst imports the parents' reference samples
    imported = _upload(analyst, "references.csv", {f"{REPORT}-FA": family["FA"], f"{REPORT}-MO": family["MO"]},
                       "LAB-510000")
    assert imported["records"] == 2
    # the Butuo investigator registers the report with the two references (consent recorded)
    report = _ok(inv_butuo.post(f"{API}/reports", json={
        "code": REPORT, "child_name": "吉克浩然 Jike Haoran (simulated)", "child_sex": "M",
        "child_birth_date": "2023-03-02", "missing_date": "2023-09-14", "missing_place_code": "513429",
        "circumstances": "Simulated: taken from the courtyard", "contact_name": "mother (simulated)",
        "references": [{"relation": "father", "sample_code": f"{REPORT}-FA", "consent_document": "form 1"},
                       {"relation": "mother", "sample_code": f"{REPORT}-MO", "consent_document": "form 2"}]}), 201)
    assert report["status"] == "open" and [r["consent"] for r in report["references"]] == ["given", "given"]
    assert report["child_name"].startswith("吉克浩然")

    # the rescue in Linyi: the analyst imports the children's profiles, the Linyi police registers them
    _upload(analyst, "rescued.csv", {"SD-LY24-C01": others["LY24-C01"], "SD-LY24-C02": others["LY24-C02"],
                                     f"SD-{CHILD}": family["M"]}, "LAB-370000")
    _ok(inv_linyi.post(f"{API}/operations", json={
        "code": "OP-371300-2024-09", "name": "rescue (simulated)", "operation_date": "2024-03-12",
        "place_code": "371324"}), 201)
    for code, sex in (("LY24-C01", "F"), ("LY24-C02", "M"), (CHILD, "M")):
        child = _ok(inv_linyi.post(f"{API}/unidentified", json={
            "code": code, "sample_code": f"SD-{code}", "sex": sex, "category": "rescued_child",
            "found_date": "2024-03-12", "found_place_code": "371324", "estimated_birth_date": "2023-03-01",
            "placement_kind": "welfare_institution", "operation_code": "OP-371300-2024-09"}), 201)
        assert child["status"] == "unidentified" and child["operation"] == "OP-371300-2024-09"

    # the candidate appears, and the report's investigator is told
    page = _ok(inv_butuo.get(f"{API}/candidates", params={"report": REPORT}))
    mine = [c for c in page["items"] if c["unidentified"] == CHILD]
    assert len(mine) == 1 and mine[0]["status"] == "new"
    cid, version = mine[0]["id"], mine[0]["version"]
    assert float(mine[0]["log10_lr"]) >= 8
    inbox = _ok(inv_butuo.get(f"{API}/notifications"))
    assert any(n["kind"] == "candidate" and n["entity_id"] == cid and CHILD in n["subject"] for n in inbox["items"])

    # review: the investigator assigns, reviewer1 reviews and asks for confirmation
    state = _ok(inv_butuo.post(f"{API}/candidates/{cid}/assign", json={"to": "reviewer1", "version": version}))
    assert state["status"] == "assigned" and state["assignee"] == "reviewer1"
    _ok(reviewer1.post(f"{API}/candidates/{cid}/start-review", json={}))
    state = _ok(reviewer1.post(f"{API}/candidates/{cid}/request-confirmation",
                               json={"comment": "consistent with both parents at every locus"}))
    assert state["status"] == "confirmation_requested" and "confirm" in state["allowed_steps"]
    # no confirmation test yet: even the second reviewer cannot confirm
    assert reviewer2.post(f"{API}/candidates/{cid}/confirm", json={}).status_code == 409

    # a new, independent sample of the child, imported and attached as a confirmation test
    _upload(analyst, "confirmation.csv", {f"SD-{CHILD}-B": family["M"]}, "LAB-370000")
    test = _ok(analyst.post(f"{API}/candidates/{cid}/confirmation-tests",
                            json={"sample": f"SD-{CHILD}-B", "target": "child"}), 201)
    assert float(test["log10_lr"]) >= 8

    # four eyes: the reviewer who requested confirmation may not confirm; the second one does
    refused = reviewer1.post(f"{API}/candidates/{cid}/confirm", json={})
    assert refused.status_code in (403, 409) and "four eyes" in refused.json()["message"]
    state = _ok(reviewer2.post(f"{API}/candidates/{cid}/confirm", json={"comment": "second sample agrees"}))
    assert state["status"] == "confirmed" and state["confirmed_by"] == "reviewer2"
    assert _ok(inv_butuo.get(f"{API}/reports/{REPORT}"))["status"] == "identified"
    assert _ok(welfare.get(f"{API}/unidentified/{CHILD}"))["status"] == "identified"

    # the welfare officer records the return home with follow-up visits
    outcome = _ok(welfare.post(f"{API}/outcomes", json={
        "child_code": CHILD, "kind": "returned_home", "outcome_date": date.today().isoformat(),
        "notes": "returned to the parents (simulated)", "follow_up_days": [30, 90]}), 201)
    assert outcome["report_code"] == REPORT and len(outcome["follow_ups"]) == 2
    history = _ok(welfare.get(f"{API}/outcomes/history", params={"child": CHILD}))
    assert history["status"] == "identified" and history["outcomes"][0]["id"] == outcome["id"]

    # the auditor: the chain is intact and holds every step, by whom
    verified = _ok(auditor.get(f"{API}/audit/verify"))
    assert verified["ok"] is True and verified["broken_seq"] is None, verified
    entries, cursor = [], None
    while True:
        page = _ok(auditor.get(f"{API}/audit", params={"order": "oldest", "limit": 500,
                                                       **({"cursor": cursor} if cursor else {})}))
        entries += page["items"]
        if not (cursor := page["next_cursor"]):
            break
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    steps = {(e["actor"], e["action"], e["entity_id"]) for e in entries}
    for step in [("analyst", "import.genotypes", None), ("inv_butuo", "report.create", REPORT),
                 ("inv_linyi", "operation.create", "OP-371300-2024-09"), ("inv_linyi", "unidentified.create", CHILD),
                 ("inv_butuo", "candidate.assign", str(cid)), ("reviewer1", "candidate.start_review", str(cid)),
                 ("reviewer1", "candidate.request_confirmation", str(cid)),
                 ("analyst", "candidate.confirmation_test", str(cid)), ("reviewer2", "candidate.confirm", str(cid)),
                 ("reviewer2", "unidentified.identified", CHILD),
                 ("welfare_linyi", "outcome.create", str(outcome["id"]))]:
        if step[2] is None:
            assert any(e[:2] == step[:2] for e in steps), step
        else:
            assert step in steps, step
    assert not any(e[0] == "reviewer1" and e[1] == "candidate.confirm" for e in steps)  # refused: not logged
    assert all(e["details"].get("via") == "api" for e in entries if e["actor"] != "bootstrap")
