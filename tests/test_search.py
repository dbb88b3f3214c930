"""Search: exact against brute force over every family, filters, storage, CSV."""

import csv
import math

import numpy as np
import pytest
from conftest import simulated_store
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from reunite.genetics import pedigree as ped
from reunite.genetics.likelihood import MarkerData, joint_tables, pedigree_likelihoods
from reunite.genetics.mutation import MutationModel
from reunite.search.engine import (
    FamilyRecord,
    UnidentifiedRecord,
    brute_force_search,
    search,
)
from reunite.search.service import load_families, load_unidentified, run_search, write_csv
from reunite.simulate import simulate_database
from reunite.store.models import MatchCandidate
from reunite.store.profiles import GeneticModel

MODEL = GeneticModel("CHN_national_GBT37223")


@pytest.mark.parametrize("relationship,typed,person", [
    ("full_sibs", ["S1"], "S2"), ("grandparents", ["GF", "GM"], "CH"), ("trio", ["AF", "MO"], "CH"),
    ("trio", ["AF", "CH"], "MO"), ("avuncular", ["U"], "CH"), ("half_sibs", ["S1"], "S2"),
])
@pytest.mark.parametrize("theta", [0.0, 0.05])
def test_joint_tables_equal_likelihood_with_the_person_typed(relationship, typed, person, theta):
    rng = np.random.default_rng(len(relationship) + int(theta * 100))
    n = 5
    p = rng.dirichlet(np.ones(n))
    labels = [str(8 + i) for i in range(n)]
    male = MutationModel("stepwise", rate=0.05, rate2=0.01, range=0.3).transition_matrix(labels, p)
    female = MutationModel("stepwise", rate=0.02, rate2=0.01, range=0.3).transition_matrix(labels, p)
    h = ped.RELATIONSHIPS[relationship]()
    g = {h.index[i]: (int(rng.integers(n)), int(rng.integers(n))) for i in typed}
    table = joint_tables([(h.structure_key(), MarkerData(p, male, female, g, theta), h.index[person])])[0]
    base = pedigree_likelihoods(h.structure_key(), [MarkerData(p, male, female, g, theta)])[0]
    assert table.sum() == pytest.approx(base, rel=1e-12)
    for x in range(n):
        for y in range(x, n):
            g2 = dict(g)
            g2[h.index[person]] = (x, y)
            want = pedigree_likelihoods(h.structure_key(), [MarkerData(p, male, female, g2, theta)])[0]
            got = table[x, y] + table[y, x] if x != y else table[x, x]
            assert got == pytest.approx(want, rel=1e-12)


def _records(db, *, num_queries):
    """FamilyRecord / UnidentifiedRecord objects straight from a simulated database."""
    profiles = {}
    for sample, locus, a, b in db["genotypes"]:
        profiles.setdefault(sample, {})[locus] = (a, b)
    fams: dict[str, list] = {}
    for row in db["families"]:
        fams.setdefault(row[0], []).append(row)
    families = []
    for k, (code, rows) in enumerate(sorted(fams.items())):
        pedigree = ped.make_pedigree([{"id": r[1], "father": r[2] or None, "mother": r[3] or None, "sex": r[4]}
                                      for r in rows])
        families.append(FamilyRecord(k + 1, code, pedigree, [r[1] for r in rows if r[5] == "missing"],
                                     {r[1]: profiles[r[6]] for r in rows if r[5] == "reference"}))
    truth = {u for u, _, _ in db["truth"]}
    chosen = [r for r in db["unidentified"] if r[0] in truth][:num_queries - 1]
    chosen += [r for r in db["unidentified"] if r[0] not in truth][:1]
    unidentified = [UnidentifiedRecord(k + 1, r[0], r[2], profiles[r[1]]) for k, r in enumerate(chosen)]
    return families, unidentified


_BRUTE: dict = {}


def _brute(unidentified, families):
    """brute_force_search, computed once per module (it is the slow part)."""
    key = (tuple(u.id for u in unidentified), len(families))
    if key not in _BRUTE:
        _BRUTE[key] = brute_force_search(unidentified, families, model=MODEL)
    return _BRUTE[key]


@pytest.fixture(scope="module")
def big():
    db = simulate_database(2000, 300, seed=11)
    families, unidentified = _records(db, num_queries=3)
    return db, families, unidentified


@pytest.mark.parametrize("path", ["joint_tables", "pair_by_pair"])
def test_search_equals_brute_force_over_thousands_of_families(big, path, monkeypatch):
    import reunite.search.engine as engine

    db, families, unidentified = big
    assert sum(1 for r in db["families"] if r[7] == "siblings_only" and r[5] == "missing") > 100
    monkeypatch.setattr(engine, "TABLES_MIN_QUERIES", 1 if path == "joint_tables" else 10**9)
    result = search(unidentified, families, model=MODEL, min_lr=0.0, top_k=10)
    brute = _brute(unidentified, families)
    for u in unidentified:
        ours = [c for c in result.candidates if c.unidentified.id == u.id]
        theirs = sorted(((v, f, m) for (uid, f, m), v in brute.items() if uid == u.id), reverse=True)[:10]
        assert [(c.family.id, c.missing) for c in ours] == [(f, m) for _, f, m in theirs]
        for c, (v, _, _) in zip(ours, theirs):
            assert abs(c.log10_lr - v) < 5e-10
            assert c.lr == pytest.approx(10**v, rel=1e-9)
            assert math.prod(c.lr_per_locus.values()) == pytest.approx(c.lr, rel=1e-12)


def test_filters_are_reported(big):
    _, families, unidentified = big
    u = unidentified[0]
    partial = UnidentifiedRecord(99, "partial", u.sex, dict(list(u.profile.items())[:5]))
    result = search([u, partial], families[:50], model=MODEL, min_lr=1.0)
    assert result.skipped_sex > 0
    assert result.skipped_loci == sum(1 for f in families[:50] for m in f.missing
                                       if f.pedigree[m].sex in (u.sex, "U"))
    assert all(c.unidentified.code != "partial" for c in result.candidates)
    assert result.num_compared + result.skipped_sex + result.skipped_loci == result.num_pairs


def test_theta_and_rare_alleles_take_the_engine_path(big):
    _, families, unidentified = big
    u = unidentified[0]
    locus = next(iter(u.profile))
    rare = UnidentifiedRecord(77, "rare", u.sex, {**u.profile, locus: ("59.3", u.profile[locus][1])})
    theta_model = GeneticModel("CHN_national_GBT37223", theta=0.01)
    for model, query in ((MODEL, rare), (theta_model, u)):
        result = search([query], families[:40], model=model, min_lr=0.0, top_k=None)
        brute = brute_force_search([query], families[:40], model=model)
        assert len(result.candidates) == len(brute)
        for c in result.candidates:
            assert abs(c.log10_lr - brute[(query.id, c.family.id, c.missing)]) < 5e-10


def test_inconsistent_loci_are_those_impossible_without_mutation(big):
    db, families, unidentified = big
    result = search(unidentified[:1], families, model=MODEL, min_lr=0.0, top_k=30)
    mutation_free = GeneticModel("CHN_national_GBT37223", mutation="none")
    for c in result.candidates[:10]:
        plain = brute_force_search([c.unidentified], [c.family], model=mutation_free)
        zero = plain[(c.unidentified.id, c.family.id, c.missing)] == -math.inf
        assert zero == bool(c.inconsistent_loci)


def test_search_in_the_database_is_stored_idempotently(tmp_path):
    db, engine = simulated_store(tmp_path, 60, 30, seed=3, model=MODEL)
    with Session(engine) as s, s.begin():
        first = run_search(s, MODEL, min_lr=1.0, top_k=None)
    with Session(engine) as s, s.begin():
        count = s.execute(select(func.count()).select_from(MatchCandidate)).scalar()
        run_search(s, MODEL, min_lr=1.0, top_k=None)
    with Session(engine) as s:
        assert s.execute(select(func.count()).select_from(MatchCandidate)).scalar() == count == len(first.candidates)
        assert len(load_families(s)) == 60 and len(load_unidentified(s)) == 30
    out = tmp_path / "matches.csv"
    write_csv(first, out)
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["unidentified_id", "family_id", "missing_id", "lr", "log10_lr", "loci_compared",
                       "inconsistent_loci", "rank", "flags", "reference_samples", "category", "found_place",
                       "found_date"]
    assert len(rows) == len(first.candidates) + 1
    truth = {(u, f) for u, f, _ in db["truth"]}
    firsts = {(r[0], r[1]) for r in rows[1:] if r[7] == "1"}
    assert len(truth & firsts) >= 0.9 * len(truth)


def test_two_processes_give_the_same_result(big):
    _, families, unidentified = big
    queries = unidentified * 3  # enough queries for the joint-table pass
    queries = [UnidentifiedRecord(k, f"q{k}", u.sex, u.profile) for k, u in enumerate(queries)]
    one = search(queries, families[:300], model=MODEL, min_lr=1.0, top_k=5, chunk_pairs=64)
    two = search(queries, families[:300], model=MODEL, min_lr=1.0, top_k=5, chunk_pairs=64, workers=2)
    key = lambda c: (c.unidentified.id, c.family.id, c.missing, c.rank, c.log10_lr, tuple(c.inconsistent_loci))  # noqa: E731
    assert [key(c) for c in one.candidates] == [key(c) for c in two.candidates]
    assert len(one.candidates) > 0


@pytest.mark.parametrize("chunk_pairs", [7, 50])
def test_database_order_and_partitioning_change_nothing(big, chunk_pairs):
    _, families, unidentified = big
    queries = [UnidentifiedRecord(k, f"q{k}", u.sex, u.profile) for k, u in enumerate(unidentified * 3)]
    subset = families[:150]
    base = search(queries, subset, model=MODEL, min_lr=1.0, top_k=5)
    shuffled = [subset[k] for k in np.random.default_rng(chunk_pairs).permutation(len(subset))]
    other = search(queries, shuffled, model=MODEL, min_lr=1.0, top_k=5, chunk_pairs=chunk_pairs)
    key = lambda c: (c.unidentified.id, c.family.id, c.missing, c.rank)  # noqa: E731
    assert [key(c) for c in base.candidates] == [key(c) for c in other.candidates]
    for a, b in zip(base.candidates, other.candidates):
        assert a.log10_lr == pytest.approx(b.log10_lr, abs=1e-12)
