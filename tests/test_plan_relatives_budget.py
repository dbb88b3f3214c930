"""Ranking a family's untyped relatives costs (relatives x loci x drawn genotypes x the
child's genotypes) pedigree likelihoods: 51 s for a 14-person family at the page's 24 drawn
genotypes, more than 10 minutes at the API's former 1000 (or with 0, exact).  The API and the
pages give the ranking a time budget (when it runs out, the relatives are not ranked and the
plan says so, in English and Chinese) and the API draws at most 100 genotypes (exact ranking
at the terminal only).  Simulated data only."""

import pytest

from reunite.cases import planning as service
from reunite.store.db import write_transaction
from test_planning_service import REPORT, make_plan_world
from web_client import web_login


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = make_plan_world(tmp_path_factory.mktemp("plan-budget"))
    yield w
    w.engine.dispose()


def test_a_spent_budget_leaves_the_relatives_unranked_and_says_so(world):
    actor = world.actor("inv_butuo")
    out = write_transaction(world.engine, lambda s: service.plan_family(
        s, REPORT, actor=actor, num_simulations=500, seed=81, relatives_budget_s=0.0))
    assert out["relatives"] == [] and out["relatives_not_ranked"] == 2  # the father and a further sibling
    assert any("not ranked" in n for n in out["notes"])
    assert {"kind": "relatives_not_ranked", "num": 2} in out["note_items"]
    whole = write_transaction(world.engine, lambda s: service.plan_family(
        s, REPORT, actor=actor, num_simulations=500, seed=81))
    assert len(whole["relatives"]) == 2 and whole["relatives_not_ranked"] == 0  # no budget: ranked
    assert whole["mean_log10_lr_h1"] == out["mean_log10_lr_h1"]


def test_the_api_and_the_page_rank_within_their_budget(world, monkeypatch):
    from reunite.api.routers import planning as api
    from reunite.web.routes import planning as web

    client = world.client("inv_butuo")
    for k in ("0", "101"):  # exact or too many drawn genotypes: the terminal's
        r = client.get(f"/api/v1/reports/{REPORT}/plan", params={"relative_genotypes": k})
        assert r.status_code == 422, r.text[:300]
    monkeypatch.setattr(api, "RELATIVES_BUDGET_S", 0.0)
    r = client.get(f"/api/v1/reports/{REPORT}/plan", params={"simulations": 500, "seed": 82})
    assert r.status_code == 200 and r.json()["relatives"] == [] and r.json()["relatives_not_ranked"] == 2
    monkeypatch.setattr(web, "RELATIVES_BUDGET_S", 0.0)
    for lang, words in (("en", "were not ranked"), ("zh_CN", "未排序")):
        page = web_login(world, "inv_butuo", lang=lang).get(f"/reports/{REPORT}/plan", params={"seed": "83"})
        assert page.status_code == 200 and words in page.text, page.text[-3000:]
        assert "Every relative in the pedigree is typed" not in page.text


def test_a_cached_plan_is_not_served_after_a_relative_became_missing(tmp_path):
    """The cache key holds the family's missing persons: the untyped father reported missing
    too is no longer proposed as a relative to sample (the pedigree and the references are
    unchanged, so a key without them served the old plan)."""
    from sqlalchemy import update

    from reunite.store.models import Family, FamilyMember

    w = make_plan_world(tmp_path)
    actor = w.actor("inv_butuo")

    def plan():
        return write_transaction(w.engine, lambda s: service.plan_family(
            s, REPORT, actor=actor, num_simulations=500, seed=84, relative_genotypes=4))

    assert "FA" in [r["person"] for r in plan()["relatives"]]
    from sqlalchemy import select

    def to_missing(s):
        fid = s.execute(select(Family.id).where(Family.code == REPORT)).scalar_one()
        s.execute(update(FamilyMember).where(FamilyMember.family_id == fid, FamilyMember.person_code == "FA")
                  .values(role="missing"))

    write_transaction(w.engine, to_missing)
    assert "FA" not in [r["person"] for r in plan()["relatives"]]
    w.engine.dispose()
