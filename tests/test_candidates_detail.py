"""The candidates list (filters, cursor pages) and detail (per-locus table, posterior, names
only by jurisdiction, audited), through the services, the API and the CLI."""

from __future__ import annotations

import csv
import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from reunite.cases import review
from reunite.cases.candidates import candidate_detail, list_candidates
from reunite.cli import app
from reunite.errors import ReuniteError
from reunite.search.service import csv_details, run_search, write_csv
from reunite.store.models import MatchCandidate
from reunite.store.models_workflow import AuditEntry, CandidateReview
from review_fixtures import second_child_sample, world_fixtures


template, rw = world_fixtures("detail")


def _all(rw, actor="reviewer1", **filters):
    out, cursor = [], None
    while True:
        page = rw.read(lambda s: list_candidates(s, actor=rw.actor(actor), cursor=cursor, limit=7, **filters))
        out += page.items
        if not page.next_cursor:
            return out
        cursor = page.next_cursor


def test_list_pages_sorts_and_filters(rw):
    total = rw.read(lambda s: s.execute(select(MatchCandidate.id)).scalars().all())
    by_lr = _all(rw)
    assert sorted(i["id"] for i in by_lr) == sorted(total)  # every one once, across pages
    logs = [i["log10_lr"] for i in by_lr]
    assert logs == sorted(logs, reverse=True)
    by_id = _all(rw, sort="id")
    assert [i["id"] for i in by_id] == sorted(total)
    u, f, m, cid = rw.true_pairs()[0]
    assert {i["unidentified"] for i in _all(rw, unidentified=u)} == {u}
    assert {i["family"] for i in _all(rw, family=f)} == {f}
    assert {i["report"] for i in _all(rw, report=f"R-{f}")} == {f"R-{f}"}
    assert all(i["log10_lr"] >= 4 for i in _all(rw, min_log10_lr=4))
    rw.write(lambda s: review.assign(s, cid, actor=rw.actor("inv_butuo"), to="reviewer2"))
    assert [i["id"] for i in _all(rw, assignee="reviewer2")] == [cid]
    assert [i["id"] for i in _all(rw, status="assigned")] == [cid]
    assert _all(rw, below_threshold=True) == []
    assert len(_all(rw, below_threshold=False)) == len(total)
    # jurisdiction: children in Linyi, families' reports in Butuo
    assert len(_all(rw, jurisdiction="371300")) == len(total) == len(_all(rw, jurisdiction="513429"))
    assert _all(rw, jurisdiction="513431") == []
    assert len(_all(rw, flagged=False)) + len(_all(rw, flagged=True)) == len(total)
    first = _all(rw)[0]
    assert 0 < first["prior"] < 1 and "families compatible" in first["prior_source"] and first["posterior"] > 0.99
    for bad in (dict(status="maybe"), dict(sort="name"), dict(cursor="!!"), dict(limit=0),
                dict(jurisdiction="nowhere")):
        with pytest.raises(ReuniteError):
            rw.read(lambda s: list_candidates(s, actor=rw.actor("reviewer1"), **bad))


def test_detail_per_locus_table_and_history(rw):
    u, f, m, cid = rw.true_pairs()[0]
    d = rw.write(lambda s: candidate_detail(s, cid, actor=rw.actor("reviewer1")))
    cand = rw.read(lambda s: s.get(MatchCandidate, cid))
    child, refs = rw.profile_of(u), rw.family_profiles(f)
    assert {r["locus"] for r in d["loci"]} == set(child)
    for row in d["loci"]:
        assert row["child"] == "/".join(child[row["locus"]])
        for person, alleles in row["references"].items():
            assert alleles == ("/".join(refs[person][row["locus"]]) if row["locus"] in refs[person] else None)
        assert row["lr"] == pytest.approx(json.loads(cand.lr_per_locus)[row["locus"]])
        assert row["needs_mutation"] == (row["locus"] in d["inconsistent_loci"])
    assert {r["person"] for r in d["references"]} == set(refs)
    assert all(r["sample"] for r in d["references"])
    assert d["log10_lr"] == pytest.approx(cand.log10_lr) and d["posterior"] > 0.99
    assert d["compatibility"]["sex"]["compatible"]
    assert d["family"]["report"] == f"R-{f}" and d["family"]["jurisdiction"] == "513429"
    assert d["child"]["jurisdiction"] == "371300" and d["child"]["category"]
    assert d["history"] == [] and d["confirmation_tests"] == [] and not d["can_confirm"]


@pytest.mark.parametrize("who,child_side,family_side", [
    ("reviewer1", False, False),      # no personal:read
    ("inv_butuo", False, True),       # the report's county, not the child's
    ("welfare_linyi", True, False),   # the child's prefecture, not the family's
    ("inv_zhaojue", False, False),    # neither
])
def test_names_only_in_ones_jurisdiction_and_audited(rw, who, child_side, family_side):
    u, f, m, cid = rw.true_pairs()[0]
    d = rw.write(lambda s: candidate_detail(s, cid, actor=rw.actor(who)))
    assert (d["child"]["personal"] is not None) == child_side
    assert (d["family"]["personal"] is not None) == family_side
    text = json.dumps(d, ensure_ascii=False)
    assert (f"child {u}" in text) == child_side
    assert ("王父" in text) == family_side and ("+86 138" in text) == family_side
    assert ("lost at the market" in text) == family_side
    assert d["child"]["code"] == u and d["family"]["code"] == f  # codes always
    reads = rw.read(lambda s: s.execute(select(AuditEntry).where(AuditEntry.action == "candidate.read_personal"))
                    .scalars().all())
    if child_side or family_side:
        assert len(reads) == 1 and reads[0].actor == who and reads[0].entity_id == str(cid)
        assert json.loads(reads[0].details)["sides"] == [x for x, y in (("child", child_side),
                                                                        ("family", family_side)) if y]
    else:
        assert reads == []


def test_api_routes(rw):
    u, f, m, cid = rw.true_pairs()[0]
    reviewer1, reviewer2 = rw.world.client("reviewer1"), rw.world.client("reviewer2")
    inv, analyst = rw.world.client("inv_butuo"), rw.world.client("analyst")
    r = reviewer1.get("/api/v1/candidates", params={"limit": 3})
    assert r.status_code == 200 and len(r.json()["items"]) == 3 and r.json()["next_cursor"]
    r2 = reviewer1.get("/api/v1/candidates", params={"limit": 3, "cursor": r.json()["next_cursor"]})
    assert not {i["id"] for i in r.json()["items"]} & {i["id"] for i in r2.json()["items"]}
    assert reviewer1.get("/api/v1/candidates", params={"status": "maybe"}).status_code == 422
    assert reviewer1.get("/api/v1/candidates", params={"cursor": "nonsense"}).status_code == 400
    assert rw.world.client().get("/api/v1/candidates").status_code == 401
    assert rw.world.client("admin").get("/api/v1/candidates").status_code == 403
    d = inv.get(f"/api/v1/candidates/{cid}")
    assert d.status_code == 200 and d.json()["family"]["personal"]["contact"]["name"] == "王父"
    assert reviewer1.get(f"/api/v1/candidates/{cid}").json()["family"]["personal"] is None
    assert reviewer1.get("/api/v1/candidates/999999").status_code == 404
    assert reviewer1.get("/api/v1/candidates/0").status_code == 422

    r = inv.post(f"/api/v1/candidates/{cid}/assign", json={"to": "reviewer1", "comment": "yours"})
    assert r.status_code == 200 and r.json()["status"] == "assigned" and r.json()["version"] == 2
    assert inv.post(f"/api/v1/candidates/{cid}/assign", json={"to": "reviewer1", "x": 1}).status_code == 422
    assert analyst.post(f"/api/v1/candidates/{cid}/assign", json={"to": "reviewer1"}).status_code == 403
    assert reviewer1.post(f"/api/v1/candidates/{cid}/confirm").status_code == 409  # not from 'assigned'
    assert reviewer2.post(f"/api/v1/candidates/{cid}/start-review").status_code == 403  # not the assignee
    r = reviewer1.post(f"/api/v1/candidates/{cid}/start-review", json={"version": 1})
    assert r.status_code == 409 and r.json()["field"] == "version"
    assert reviewer1.post(f"/api/v1/candidates/{cid}/start-review", json={"version": 2}).status_code == 200
    r = reviewer1.post(f"/api/v1/candidates/{cid}/request-confirmation", json={"comment": "see tests"})
    assert r.status_code == 200 and r.json()["allowed_steps"] == ["confirm", "reject"]
    second_child_sample(rw, u, "SAPI")
    r = analyst.post(f"/api/v1/candidates/{cid}/confirmation-tests", json={"sample": "SAPI", "target": "child"})
    assert r.status_code == 201 and r.json()["supports"] and r.json()["child_samples_agree"]
    again = analyst.post(f"/api/v1/candidates/{cid}/confirmation-tests", json={"sample": "SAPI", "target": "child"})
    assert again.status_code == 409
    assert reviewer1.post(f"/api/v1/candidates/{cid}/confirm").status_code == 403  # four eyes
    assert reviewer2.post(f"/api/v1/candidates/{cid}/reject", json={}).status_code == 422  # a reason
    r = reviewer2.post(f"/api/v1/candidates/{cid}/confirm", json={"comment": "agreed"})
    assert r.status_code == 200 and r.json()["status"] == "confirmed" and r.json()["confirmed_by"] == "reviewer2"
    h = reviewer1.get(f"/api/v1/candidates/{cid}/history").json()
    assert [e["event"] for e in h] == ["assign", "start_review", "request_confirmation", "confirmation_test",
                                       "confirm"]
    d = reviewer1.get(f"/api/v1/candidates/{cid}").json()
    assert d["confirmation_tests"][0]["log10_lr"] == pytest.approx(d["log10_lr"])
    assert d["confirmation_tests"][0]["posterior"] > 0.99


def test_every_route_names_its_permission(rw):
    from reunite.api.routers.candidates import router

    for route in router.routes:
        perms = [getattr(d.call, "permission", "missing") for d in route.dependant.dependencies
                 if getattr(d.call, "permission", None) is not None]
        assert perms, route.path


def test_cli(rw, monkeypatch):
    runner = CliRunner()
    env = {"REUNITE_DATABASE_URL": rw.world.url, "COLUMNS": "250"}

    def cli(*args):
        """``reunite candidates ...``; an error (main() prints it) is kept in the output here."""
        r = runner.invoke(app, ["candidates", *args], env=env)
        if r.exception is not None and not isinstance(r.exception, SystemExit):
            assert isinstance(r.exception, ReuniteError), r.exception
            r.output_bytes += str(r.exception).encode()
        return r

    u, f, m, cid = rw.true_pairs()[0]
    r = cli("--as", "reviewer1", "--limit", "5")
    assert r.exit_code == 0, r.output
    assert "candidates" in r.output and u in r.output and "more: --cursor" in r.output
    out = rw.tmp / "c.csv"
    r = cli("--as", "reviewer1", "--family", f, "--csv", str(out))
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert rows and {row["family"] for row in rows} == {f} and "posterior" in rows[0]
    r = cli("assign", str(cid), "--to", "reviewer1", "--as", "inv_butuo")
    assert r.exit_code == 0 and "assigned" in r.output, r.output
    assert cli("review", str(cid), "--as", "reviewer1").exit_code == 0
    r = cli("confirm", str(cid), "--as", "reviewer2")
    assert r.exit_code != 0 and "under_review" in r.output
    assert cli("request-confirmation", str(cid), "--comment", "strong", "--as", "reviewer1").exit_code == 0
    second_child_sample(rw, u, "SCLI")
    r = cli("confirm-sample", str(cid), "--sample", "SCLI", "--target", "child", "--as", "analyst")
    assert r.exit_code == 0 and "supports the match" in r.output, r.output
    r = cli("confirm", str(cid), "--as", "reviewer1")
    assert r.exit_code != 0 and "four eyes" in r.output
    r = cli("confirm", str(cid), "--as", "reviewer2")
    assert r.exit_code == 0 and "confirmed" in r.output, r.output
    r = cli("show", str(cid), "--as", "inv_butuo")
    assert r.exit_code == 0, r.output
    for text in ("per locus", "posterior", "confirmation test", "history", "request_confirmation", "王父",
                 "compatible"):
        assert text in r.output, text
    assert "reported by: 王父" in r.output and "child's name: 王小" in r.output
    assert "{'" not in r.output and "None" not in r.output  # labelled lines, not Python dicts
    other = rw.read(lambda s: s.execute(select(CandidateReview.candidate_id).where(
        CandidateReview.status == "set_aside")).scalars().first())
    r = cli("reject", str(other), "--reason", "x", "--as", "reviewer1")
    assert r.exit_code != 0 and "set_aside" in r.output


def test_matches_csv_names_samples_category_place_and_date(rw):
    from sqlalchemy.orm import Session

    with Session(rw.engine) as s:
        result = run_search(s, rw.model, min_lr=1.0, top_k=1, store=False, use_index=False)
        details = csv_details(s, result)
    out = rw.tmp / "m.csv"
    write_csv(result, out, details=details)
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    unid = {r[0]: r for r in rw.db["unidentified"]}
    assert rows
    for row in rows:
        assert row["category"] == unid[row["unidentified_id"]][3]
        assert row["found_date"] == unid[row["unidentified_id"]][5]
        assert row["found_place"] == unid[row["unidentified_id"]][6]
        refs = [x.split("=") for x in row["reference_samples"].split(";")]
        assert refs and all(p.startswith(row["family_id"]) and s.startswith("S") for p, s in refs)


def test_found_place_text_only_in_the_childs_jurisdiction(rw):
    """The found place is free text (a street, a building): a user outside the child's
    jurisdiction sees the place's registry code only, never the text."""
    from sqlalchemy import update

    from reunite.store.models import Unidentified

    u, f, m, cid = rw.true_pairs()[0]
    rw.write(lambda s: s.execute(update(Unidentified).where(Unidentified.code == u)
                                 .values(found_place="临沂 bus station, behind the noodle shop")))
    for who, shown in (("inv_zhaojue", False), ("inv_butuo", False), ("reviewer1", True), ("welfare_linyi", True)):
        d = rw.write(lambda s: candidate_detail(s, cid, actor=rw.actor(who)))
        assert ("noodle shop" in json.dumps(d, ensure_ascii=False)) == shown, who


def test_posterior_and_prior_do_not_read_like_a_range():
    from reunite.cli_review import _posterior, _prior

    assert _posterior(1 - 9.9e-10) == "0.999999999" and _posterior(0.5) == "0.500000"
    assert _posterior(1.0).startswith("> 0.9999") and _posterior(None) == "-"
    assert _prior(0.5) == "1/2" and _prior(1 / 7) == "1/7" and _prior(0.3) == "0.3"


def test_cli_list_in_a_narrow_terminal_keeps_every_id(rw):
    """At 60 columns the table runs past the edge rather than squeezing the id column to
    nothing: every candidate's id and child code is printed whole."""
    from reunite.cases.candidates import list_candidates

    page = rw.read(lambda s: list_candidates(s, actor=rw.actor("reviewer1"), limit=5))
    r = CliRunner().invoke(app, ["candidates", "--as", "reviewer1", "--limit", "5"],
                           env={"REUNITE_DATABASE_URL": rw.world.url, "COLUMNS": "60"})
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    for item in page.items:
        assert any(line.startswith(f"│ {item['id']} ") and item["unidentified"] in line for line in lines), \
            (item["id"], r.output)
