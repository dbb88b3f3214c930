"""Review tests for the database search: the joint-table fast path against the kinship
engine (brute force), unusual pedigrees, rare alleles, other genetic models, inconsistent
loci, top-k ties, and storing candidates.

Note: ``search`` only takes the joint-table path when at least ``TABLES_MIN_QUERIES``
unidentified persons qualify; with fewer every pair goes through the engine.  Tests that
mean to exercise the fast path therefore search >= TABLES_MIN_QUERIES persons.
"""

import math

import numpy as np
import pytest
from conftest import simulated_store
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from reunite.genetics import pedigree as ped
from reunite.search.engine import (
    TABLES_MIN_QUERIES,
    FamilyRecord,
    UnidentifiedRecord,
    brute_force_search,
    exact_pairs,
    search,
)
from reunite.search.service import run_search
from reunite.simulate import simulate_database
from reunite.store.models import MatchCandidate
from reunite.store.profiles import GeneticModel

from test_search import _records

POP = "CHN_national_GBT37223"
MODEL = GeneticModel(POP)
NQ = max(12, TABLES_MIN_QUERIES + 2)


def _p(pid, father, mother, sex):
    return {"id": pid, "father": father, "mother": mother, "sex": sex}


@pytest.fixture(scope="module")
def sim():
    db = simulate_database(40, 20, seed=5)
    families, unidentified = _records(db, num_queries=NQ)
    assert len(unidentified) >= TABLES_MIN_QUERIES
    return families, unidentified


@pytest.fixture(scope="module")
def custom(sim):
    """Families with unusual shapes: missing founder parent, two missing persons, a missing
    person with a typed child, a missing person of unknown sex; each in three variants:
    full, partial references (U typed at loci no reference has), a reference carrying an
    allele absent from the frequency table."""
    families, _ = sim
    profs = [p for f in families for p in f.references.values()]
    rng = np.random.default_rng(0)
    shapes = [
        ([_p("FA", None, None, "M"), _p("MO", None, None, "F"), _p("CH", "FA", "MO", "F")], ["FA"], ["MO", "CH"]),
        ([_p("FA", None, None, "M"), _p("MO", None, None, "F"), _p("M1", "FA", "MO", "M"),
          _p("M2", "FA", "MO", "F")], ["M1", "M2"], ["FA", "MO"]),
        ([_p("GF", None, None, "M"), _p("GM", None, None, "F"), _p("FA", "GF", "GM", "M"),
          _p("MO", None, None, "F"), _p("CH", "FA", "MO", "M")], ["FA"], ["GM", "CH"]),
        ([_p("FA", None, None, "M"), _p("MO", None, None, "F"), _p("C1", "FA", "MO", "M"),
          _p("C2", "FA", "MO", "F")], ["FA"], ["C1", "C2"]),
        ([_p("FA", None, None, "M"), _p("MO", None, None, "F"), _p("M", "FA", "MO", "U")], ["M"], ["MO"]),
    ]
    out, fid = [], 1000
    for people, missing, refs in shapes:
        pedigree = ped.make_pedigree(people)
        for variant in range(3):
            fid += 1
            r = {code: dict(profs[int(rng.integers(len(profs)))]) for code in refs}
            if variant == 1:
                for code in r:
                    for locus in sorted(r[code])[:8]:
                        del r[code][locus]
            if variant == 2:
                locus = sorted(r[refs[0]])[0]
                r[refs[0]][locus] = ("45", r[refs[0]][locus][1])
            out.append(FamilyRecord(fid, f"C{fid}", pedigree, missing, r))
    return out


def _compare_with_brute(unidentified, families, model, **kw):
    result = search(unidentified, families, model=model, min_lr=0.0, top_k=None, **kw)
    brute = brute_force_search(unidentified, families, model=model)
    got = {(c.unidentified.id, c.family.id, c.missing): c for c in result.candidates}
    for key, v in brute.items():
        if math.isnan(v):
            assert key not in got
            continue
        c = got.pop(key)
        assert c.log10_lr == v or abs(c.log10_lr - v) < 1e-8, key
    assert not got
    return result


@pytest.mark.parametrize("kw", [
    {}, {"mutation": "none"}, {"mutation": "equal"}, {"mutation": "proportional"},
    {"mutation_rate": 0.01}, {"mutation": "equal", "mutation_rate": 0.0},
])
def test_fast_path_equals_brute_force_for_every_pair(sim, custom, kw):
    families, unidentified = sim
    model = GeneticModel(POP, **kw)
    _compare_with_brute(unidentified, families[:15] + custom, model, chunk_pairs=7)


def test_slow_path_equals_brute_force_for_unusual_families(sim, custom):
    _, unidentified = sim
    _compare_with_brute(unidentified[:2], custom, MODEL)


def test_unidentified_with_a_rare_allele_among_fast_queries(sim, custom):
    families, unidentified = sim
    u = unidentified[0]
    locus = sorted(u.profile)[0]
    rare = UnidentifiedRecord(900, "rare", u.sex, {**u.profile, locus: ("45", u.profile[locus][1])})
    unknown_sex = UnidentifiedRecord(901, "sexU", "U", dict(unidentified[1].profile))
    result = _compare_with_brute(unidentified + [rare, unknown_sex], families[:10] + custom[:6], MODEL)
    assert sum(c.unidentified.id == 901 for c in result.candidates) == sum(
        len(f.missing) for f in families[:10] + custom[:6])


def test_theta_engine_path_equals_brute_force_for_unusual_families(sim, custom):
    _, unidentified = sim
    _compare_with_brute(unidentified[:1], custom[:9], GeneticModel(POP, theta=0.02))


def test_top_k_and_min_lr_match_brute_force_in_both_modes(sim):
    families, unidentified = sim
    brute = brute_force_search(unidentified, families, model=MODEL)
    for per in ("unidentified", "family"):
        result = search(unidentified, families, model=MODEL, min_lr=10.0, top_k=3, per=per)
        keys = [u.id for u in unidentified] if per == "unidentified" else [f.id for f in families]
        for q in keys:
            ours = [c for c in result.candidates
                    if (c.unidentified.id if per == "unidentified" else c.family.id) == q]
            theirs = sorted(((v, k) for k, v in brute.items()
                             if k[0 if per == "unidentified" else 1] == q and v >= 1.0), reverse=True)[:3]
            assert [(c.unidentified.id, c.family.id, c.missing) for c in ours] == [k for _, k in theirs]
            assert [c.rank for c in ours] == list(range(1, len(ours) + 1))


# -- inconsistent loci ------------------------------------------------------------------

def _mother_child_family(u_true, rng_profiles, *, mutated_locus):
    """Missing father FA (a founder); mother MO and child CH typed.  CH takes MO's first
    allele and the father's first allele; at ``mutated_locus`` the maternal allele is one
    repeat larger (a maternal mutation) and CH shares no allele with MO there, so the
    references alone are inconsistent without mutation (0 under H1 and under H2)."""
    mo = rng_profiles
    ch = {}
    for locus, (a, _) in mo.items():
        if locus not in u_true.profile:
            continue
        maternal = a
        if locus == mutated_locus:
            maternal = str(int(float(a)) + 1) if float(a).is_integer() else a
        ch[locus] = (maternal, u_true.profile[locus][0])
    pedigree = ped.make_pedigree([_p("FA", None, None, "M"), _p("MO", None, None, "F"),
                                  _p("CH", "FA", "MO", "M")])
    return FamilyRecord(7001, "MUT", pedigree, ["FA"], {"MO": mo, "CH": ch})


@pytest.fixture(scope="module")
def mutation_case(sim):
    families, unidentified = sim
    u = UnidentifiedRecord(800, "father", "M", dict(unidentified[0].profile))
    mo = next(p for f in families for p in f.references.values() if set(u.profile) <= set(p))
    def ok(l):  # the mutated maternal allele a + 1 is carried by neither MO nor U
        a = mo[l][0]
        return (float(a).is_integer() and str(int(a) + 1) not in mo[l] + u.profile[l]
                and u.profile[l][0] not in mo[l])  # so CH shares no allele with MO there
    locus = next(l for l in sorted(u.profile) if ok(l))
    return u, _mother_child_family(u, dict(mo), mutated_locus=locus), locus


def test_inconsistent_loci_do_not_depend_on_the_search_path(sim, mutation_case):
    """The same pair must report the same inconsistent loci whether it is scored by the
    joint tables (many queries) or by the engine (few queries)."""
    _, unidentified = sim
    u, fam, locus = mutation_case
    fast = search([u] + unidentified, [fam], model=MODEL, min_lr=0.0, top_k=None)
    slow = search([u], [fam], model=MODEL, min_lr=0.0, top_k=None)
    cf = next(c for c in fast.candidates if c.unidentified.id == u.id)
    cs = next(c for c in slow.candidates if c.unidentified.id == u.id)
    assert abs(cf.log10_lr - cs.log10_lr) < 1e-8
    assert cf.log10_lr > 3  # the true father is found
    assert sorted(cf.inconsistent_loci) == sorted(cs.inconsistent_loci)


def test_fast_path_flags_the_mutated_locus(sim, mutation_case):
    _, unidentified = sim
    u, fam, locus = mutation_case
    fast = search([u] + unidentified, [fam], model=MODEL, min_lr=0.0, top_k=None)
    cf = next(c for c in fast.candidates if c.unidentified.id == u.id)
    assert cf.inconsistent_loci == [locus]


def _excluded_pair(sim):
    """A parent/child pair where U shares no allele with the typed child at one locus."""
    families, unidentified = sim
    u = UnidentifiedRecord(801, "excl", "M", dict(unidentified[0].profile))
    locus = sorted(u.profile)[0]
    a, b = u.profile[locus]
    other = next(x for x in ("5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16", "17")
                 if x not in (a, b))
    ch = {l: (g[0], g[0]) for l, g in u.profile.items()}
    ch[locus] = (other, other)
    pedigree = ped.make_pedigree([_p("FA", None, None, "M"), _p("MO", None, None, "F"),
                                  _p("CH", "FA", "MO", "M")])
    return u, FamilyRecord(7002, "EXCL", pedigree, ["FA"], {"CH": ch}), locus


def test_mutation_none_engine_path_lists_loci_with_lr_zero(sim):
    u, fam, locus = _excluded_pair(sim)
    model = GeneticModel(POP, mutation="none")
    c = search([u], [fam], model=model, min_lr=0.0, top_k=None).candidates[0]
    assert c.lr_per_locus[locus] == 0.0
    assert c.inconsistent_loci == [locus]


def test_mutation_none_fast_path_lists_loci_with_lr_zero(sim):
    _, unidentified = sim
    u, fam, locus = _excluded_pair(sim)
    model = GeneticModel(POP, mutation="none")
    result = search([u] + unidentified, [fam], model=model, min_lr=0.0, top_k=None)
    c = next(c for c in result.candidates if c.unidentified.id == u.id)
    assert c.lr_per_locus[locus] == 0.0
    assert c.inconsistent_loci == [locus]


def test_inconsistent_loci_with_stepwise_mutation_on_both_paths(sim):
    _, unidentified = sim
    u, fam, locus = _excluded_pair(sim)
    for queries in ([u] + unidentified, [u]):
        c = next(c for c in search(queries, [fam], model=MODEL, min_lr=0.0, top_k=None).candidates
                 if c.unidentified.id == u.id)
        assert c.inconsistent_loci == [locus]
        r0 = exact_pairs([(u, fam, "FA")], model=MODEL, mutation=False)[0]
        assert r0.lr_per_marker[locus] == 0.0


# -- top-k ties --------------------------------------------------------------------------

def test_top_k_keeps_the_pairs_ranked_first(sim):
    families, unidentified = sim
    f = families[0]
    twins = [FamilyRecord(501, "ZZZ", f.pedigree, f.missing, f.references),
             FamilyRecord(502, "AAA", f.pedigree, f.missing, f.references)]
    full = search(unidentified[:1], twins, model=MODEL, min_lr=0.0, top_k=None)
    one = search(unidentified[:1], twins, model=MODEL, min_lr=0.0, top_k=1)
    assert full.candidates[0].log10_lr == full.candidates[1].log10_lr
    assert [c.family.code for c in one.candidates] == [full.candidates[0].family.code]


# -- storing candidates ------------------------------------------------------------------

def test_store_is_idempotent_and_keeps_review_status(tmp_path):
    db, engine = simulated_store(tmp_path, 25, 12, seed=8, model=MODEL)
    with Session(engine) as s, s.begin():
        first = run_search(s, MODEL, min_lr=1.0, top_k=None)
    assert first.candidates
    with Session(engine) as s, s.begin():
        ids = s.execute(select(MatchCandidate.id).order_by(MatchCandidate.id)).scalars().all()
        s.execute(update(MatchCandidate).where(MatchCandidate.id == ids[0]).values(status="confirmed"))
        s.execute(update(MatchCandidate).where(MatchCandidate.id == ids[-1]).values(status="rejected"))
    for per in ("unidentified", "family"):
        with Session(engine) as s, s.begin():
            again = run_search(s, MODEL, min_lr=1.0, top_k=None, per=per)
    with Session(engine) as s:
        rows = s.execute(select(MatchCandidate)).scalars().all()
        assert len(rows) == len(first.candidates) == len(again.candidates)
        assert s.execute(select(func.count()).select_from(
            select(MatchCandidate.unidentified_id, MatchCandidate.family_id, MatchCandidate.missing_code)
            .distinct().subquery())).scalar() == len(rows)
        status = {r.id: r.status for r in rows}
        assert status[ids[0]] == "confirmed" and status[ids[-1]] == "rejected"
        assert sum(v == "new" for v in status.values()) == len(rows) - 2
        by_key = {(c.unidentified.id, c.family.id, c.missing): c for c in first.candidates}
        for r in rows:
            c = by_key[(r.unidentified_id, r.family_id, r.missing_code)]
            assert r.log10_lr == pytest.approx(c.log10_lr, abs=1e-9)
            assert r.inconsistent_loci == ",".join(c.inconsistent_loci)
