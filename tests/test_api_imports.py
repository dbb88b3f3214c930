"""Imports and searches through the API: uploads read by the same importers, rejected files
as 422 with their problems, permissions, one-to-many searches on the server's in-memory
family index (which sees families imported after it was loaded), pending searches."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from reunite.simulate import simulate_database, write_database
from workflow_world import make_world


@pytest.fixture
def world(tmp_path):
    return make_world(f"sqlite:///{tmp_path / 'api.db'}")


@pytest.fixture
def files(tmp_path):
    db = simulate_database(40, 12, seed=11)
    return db, write_database(db, tmp_path / "sim")


def upload(client, kind, path, **form):
    with open(path, "rb") as fh:
        return client.post(f"/api/v1/imports/{kind}", files={"file": (path.name, fh, "text/csv")},
                           data={k: str(v).lower() if isinstance(v, bool) else v for k, v in form.items()})


def test_import_good_files_then_search(world, files):
    db, paths = files
    client = world.client("analyst")
    r = upload(client, "genotypes", paths["genotypes"])
    assert r.status_code == 201, r.text
    assert "reunite-upload-" not in r.text  # the server's temporary path is never shown
    body = r.json()
    assert body["kind"] == "genotypes" and body["records"] > 0 and body["file"] == "genotypes.csv"
    assert len(body["file_sha256"]) == 64
    r = upload(client, "unidentified", paths["unidentified"])
    assert r.status_code == 201, r.text
    assert r.json()["searches"][0]["kind"] == "unidentified"
    r = upload(client, "families", paths["families"])
    assert r.status_code == 201, r.text
    fam = r.json()
    assert fam["records"] == 40 and fam["search_error"] is None
    assert fam["searches"] and fam["searches"][0]["candidates"] > 0
    assert fam["searches"][0]["new_candidate_ids"]
    # the batches and their reports
    page = client.get("/api/v1/imports", params={"limit": 2}).json()
    assert [b["kind"] for b in page["items"]] == ["families", "unidentified"] and page["next_cursor"]
    rest = client.get("/api/v1/imports", params={"cursor": page["next_cursor"]}).json()
    assert [b["kind"] for b in rest["items"]][0].startswith("genotypes") and rest["next_cursor"] is None
    assert client.get("/api/v1/imports", params={"kind": "families"}).json()["items"][0]["id"] == fam["batch_id"]
    detail = client.get(f"/api/v1/imports/{fam['batch_id']}").json()
    assert detail["file"] == "families.csv" and detail["report"]["source"] == "families.csv"
    assert detail["created_by"] == "analyst"
    for batch in page["items"] + rest["items"]:  # no server temporary path anywhere in a report
        text = json.dumps(client.get(f"/api/v1/imports/{batch['id']}").json())
        assert "reunite-upload-" not in text, text[:500]
    assert client.get("/api/v1/imports/999999").status_code == 404
    # audited with the file's name and hash
    from reunite.store.models_workflow import AuditEntry

    with Session(world.engine) as s:
        entries = s.execute(select(AuditEntry).where(AuditEntry.action == "import.families")).scalars().all()
        assert len(entries) == 1
        details = json.loads(entries[0].details) if isinstance(entries[0].details, str) else entries[0].details
        assert details["file"] == "families.csv" and details["sha256"] == fam["file_sha256"]
    # one-to-many through the API: the truth ranks first
    u, f, m = db["truth"][0]
    r = client.post("/api/v1/searches", json={"unidentified": [u]})
    assert r.status_code == 200, r.text
    res = r.json()
    best = res["candidates"][0]
    assert (best["unidentified"], best["family"], best["missing"], best["rank"]) == (u, f, m, 1)
    assert best["log10_lr"] > 4 and best["candidate_id"] is not None
    assert res["pairs_compared"] > 0


def test_rejected_files_are_422_with_problems(world, files, tmp_path):
    _, paths = files
    client = world.client("analyst")
    bad = tmp_path / "bad_families.csv"
    bad.write_text("family_id,person_id,father_id,mother_id,sex,role,sample_id\n"
                   "F1,P1,,,X,reference,S404\n", encoding="utf-8")
    r = upload(client, "families", bad)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "rejected" and body["problems"]
    assert all(p["file"] == "bad_families.csv" for p in body["problems"])
    assert any(p["line"] == 2 for p in body["problems"])
    assert "reunite-upload" not in r.text  # the temporary file's path never shows
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("person_id,sample_id,shoe_size\nU1,S1,42\n", encoding="utf-8")
    r = upload(client, "unidentified", unknown)
    assert r.status_code == 422 and "shoe_size" in r.text
    # lenient leaves the column out (the sample is still unknown: rejected for that, not the column)
    r = upload(client, "unidentified", unknown, lenient=True)
    assert r.status_code == 422 and "S1" in r.text
    # a genotype file that is not one
    junk = tmp_path / "junk.csv"
    junk.write_bytes(b"\x00\x01garbage")
    r = upload(client, "genotypes", junk)
    assert r.status_code == 422, r.text
    # options only a genotype import takes
    r = upload(client, "families", paths["families"], lab="LAB-1")
    assert r.status_code == 422 and "lab" in r.text
    # an unknown kind, a missing file
    assert client.post("/api/v1/imports/pets", files={"file": ("x.csv", b"a", "text/csv")}).status_code == 422
    assert client.post("/api/v1/imports/families").status_code == 422


def test_upload_too_large_is_413(world, files, monkeypatch):
    from reunite.api.routers import imports

    _, paths = files
    monkeypatch.setattr(imports, "MAX_UPLOAD_BYTES", 100)
    r = upload(world.client("analyst"), "genotypes", paths["genotypes"])
    assert r.status_code == 413 and r.json()["error"] == "too_large"


def test_permissions(world, files):
    _, paths = files
    for user in ("inv_butuo", "reviewer1", "admin"):
        client = world.client(user)
        assert upload(client, "genotypes", paths["genotypes"]).status_code == 403
        assert client.get("/api/v1/imports").status_code == 403
        assert client.post("/api/v1/searches", json={"unidentified": ["U0000001"]}).status_code == 403
        assert client.get("/api/v1/searches/pending").status_code == 403
    assert world.client().get("/api/v1/imports").status_code == 401


def test_search_bad_input(world):
    client = world.client("analyst")
    assert client.post("/api/v1/searches", json={"unidentified": []}).status_code == 422
    assert client.post("/api/v1/searches", json={"unidentified": ["U1"], "top": 0}).status_code == 422
    assert client.post("/api/v1/searches", json={"unidentified": ["U1"], "min_lr": -1}).status_code == 422
    assert client.post("/api/v1/searches", json={"unidentified": ["U1"], "extra": 1}).status_code == 422
    r = client.post("/api/v1/searches", json={"unidentified": ["NOPE"]})
    assert r.status_code == 404 and r.json()["field"] == "unidentified"


def test_index_sees_families_imported_after_it_was_loaded(world, tmp_path):
    from reunite.api.index_cache import get_cache

    db = simulate_database(30, 10, seed=5)
    first = {"genotypes": db["genotypes"], "families": [r for r in db["families"] if r[0] <= "F0000015"],
             "unidentified": db["unidentified"], "truth": db["truth"]}
    second = dict(first, families=[r for r in db["families"] if r[0] > "F0000015"])
    p1 = write_database(first, tmp_path / "one")
    p2 = write_database(second, tmp_path / "two")
    client = world.client("analyst")
    for kind in ("genotypes", "unidentified", "families"):
        assert upload(client, kind, p1[kind]).status_code == 201
    late = [(u, f, m) for u, f, m in db["truth"] if f > "F0000015"]
    assert late, "the simulation has a missing child of a late family"
    u, f, m = late[0]
    # the index is loaded now, before the second families exist
    before = client.post("/api/v1/searches", json={"unidentified": [u], "store": False}).json()
    assert f not in {c["family"] for c in before["candidates"]}
    cache = get_cache(world.app())
    loads = cache.loads
    index = cache.index
    assert index is not None
    r = upload(client, "families", p2["families"], search=False)
    assert r.status_code == 201 and r.json()["searches"] == []
    after = client.post("/api/v1/searches", json={"unidentified": [u], "store": False}).json()
    assert (after["candidates"][0]["family"], after["candidates"][0]["missing"]) == (f, m)
    assert cache.index is index and cache.loads == loads + 1  # brought up to date in place, not reloaded
    again = client.post("/api/v1/searches", json={"unidentified": [u], "store": False}).json()
    assert again["candidates"] == after["candidates"] and cache.loads == loads + 1  # nothing changed: as it was


def test_pending_searches(world, files):
    from reunite.search.service import record_pending
    from reunite.store.db import write_transaction
    from reunite.store.models import Unidentified

    _, paths = files
    client = world.client("analyst")
    for kind in ("genotypes", "families"):
        assert upload(client, kind, paths[kind]).status_code == 201
    assert upload(client, "unidentified", paths["unidentified"], search=False).status_code == 201
    assert client.get("/api/v1/searches/pending").json() == {"families": 0, "unidentified": 0}

    def pend(s):
        ids = list(s.execute(select(Unidentified.id)).scalars())
        return record_pending(s, "unidentified", ids)

    n = write_transaction(world.engine, pend)
    assert client.get("/api/v1/searches/pending").json() == {"families": 0, "unidentified": n}
    r = client.post("/api/v1/searches/pending")
    assert r.status_code == 200, r.text
    [summary] = r.json()["searches"]
    assert summary["kind"] == "unidentified" and summary["searched"] == n and summary["candidates"] > 0
    assert client.get("/api/v1/searches/pending").json() == {"families": 0, "unidentified": 0}
    assert client.post("/api/v1/searches/pending").json() == {"searches": []}
