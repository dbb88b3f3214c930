"""Recorded cross-check: the 127 kinship cases computed by the R pedsuite.

``tests/data/cases.json`` and ``expected.json`` come from the project's shared reference
cases (forrel::kinshipLR with pedtools 2.11.0, pedmut 0.9.1, pedprobr 1.1.0, forrel 1.9.0);
see ``tests/data/REFERENCE_CASES.md``.  Agreement: 1e-9 relative per marker and in total,
exactly 0 where theirs is 0, NaN where theirs is NaN.
"""

import json
import math

import pytest
from conftest import DATA

from reunite.genetics.caseio import load_cases_json, parse_case
from reunite.genetics.kinship import kinship_lr_many

RAW = load_cases_json(DATA / "cases.json")
EXPECTED = {r["id"]: r for r in json.loads((DATA / "expected.json").read_text())["results"]}


def _num(x):
    return {"Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}[x] if isinstance(x, str) else float(x)


def agrees(ours: float, theirs: float) -> bool:
    if math.isnan(theirs):
        return math.isnan(ours)
    if theirs == 0.0 or math.isinf(theirs):
        return ours == theirs
    return ours > 0 and abs(math.log10(ours) - math.log10(theirs)) <= 5e-10


@pytest.fixture(scope="module")
def results():
    cases = [parse_case(c, number=k) for k, c in enumerate(RAW, start=1)]
    out = kinship_lr_many([(c.id, c.h1, c.h2, c.markers, c.theta) for c in cases])
    return {r.id: r for r in out}


def test_every_case_is_checked(results):
    assert len(RAW) == 127
    assert set(results) == set(EXPECTED)


@pytest.mark.parametrize("case_id", [c["id"] for c in RAW])
def test_case_agrees_with_pedsuite(results, case_id):
    ours, theirs = results[case_id], EXPECTED[case_id]
    assert set(ours.lr_per_marker) == set(theirs["lr_per_marker"])
    for marker, value in theirs["lr_per_marker"].items():
        assert agrees(ours.lr_per_marker[marker], _num(value)), (marker, ours.lr_per_marker[marker], value)
    assert agrees(ours.lr_total, _num(theirs["lr_total"])), (ours.lr_total, theirs["lr_total"])
    if not isinstance(theirs["log10_lr_total"], str):
        assert abs(ours.log10_lr_total - theirs["log10_lr_total"]) <= 5e-10


def test_cases_one_at_a_time_equal_batched(results):
    """Batching cases together must not change any number."""
    for k, raw in enumerate(RAW[:40], start=1):
        c = parse_case(raw, number=k)
        single = kinship_lr_many([(c.id, c.h1, c.h2, c.markers, c.theta)])[0]
        for m, v in single.lr_per_marker.items():
            w = results[c.id].lr_per_marker[m]
            assert (math.isnan(v) and math.isnan(w)) or v == w or abs(v / w - 1) < 1e-12
