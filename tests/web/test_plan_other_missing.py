"""A family that lost two children (the demo's Zhaojue twins, missing persons M and S1): the plan
for one never proposes the other, who is missing too, as a relative who could give a sample."""

from __future__ import annotations

from journey_world import make_demo_world

from reunite.cases import planning as service
from reunite.demo_workflow import _actor
from reunite.store.db import write_transaction

TWINS = "R-513431-2023-022"


def test_the_other_missing_child_is_not_a_relative_to_sample(tmp_path):
    demo = make_demo_world(tmp_path)
    actor = _actor(demo.engine, "reviewer1")
    for missing in ("M", "S1"):
        out = write_transaction(demo.engine, lambda s, missing=missing: service.plan_family(
            s, TWINS, actor=actor, missing=missing, num_simulations=500, relative_genotypes=4, model=demo.model))
        proposed = {g["person"] for g in out["relatives"]}
        assert proposed and not proposed & {"M", "S1"}, proposed
