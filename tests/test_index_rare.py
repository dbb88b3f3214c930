"""A person with alleles absent from the frequency table, searched through the family index:
the same numbers as the engine pair by pair (the rare-allele rule extends and renormalises the
locus' table), at θ = 0 and θ > 0, families with their own absent alleles included."""

import numpy as np
import pytest
from test_index import _families
from test_index_theta import _index_equals_brute
from test_search import _records

from reunite.search import index as ix
from reunite.search.engine import index_search, search
from reunite.simulate import simulate_database
from reunite.store.profiles import GeneticModel

POP = "CHN_national_GBT37223"


def _with_absent_alleles(unidentified, families, *, seed):
    """Persons given alleles the table lacks (a microvariant, an out-of-range repeat) at one or
    two loci; some families given one at a locus a person also has one at."""
    rng = np.random.default_rng(seed)
    for k, u in enumerate(unidentified):
        loci = sorted(u.profile)
        for locus in rng.choice(loci, size=1 + k % 2, replace=False):
            a, b = u.profile[locus]
            u.profile[locus] = ("45", b) if k % 3 else ("45", "46.3")
    for f in families[::4]:
        ref = sorted(f.references)[0]
        locus = sorted(f.references[ref])[0]
        f.references[ref][locus] = ("45", f.references[ref][locus][1])
    return unidentified, families


@pytest.mark.parametrize("kw", [{}, {"mutation": "equal"}, {"theta": 0.02}])
def test_absent_alleles_through_the_index_equal_the_engine(kw):
    model = GeneticModel(POP, **kw)
    families, unidentified = _families(model, seed=21 + len(str(kw)), skip=("first_cousin", "parents_are_cousins"))
    unidentified, families = _with_absent_alleles(unidentified[::2], families, seed=5)
    index = ix.FamilyIndex(model)
    index.add(families)
    assert all(index.query(u.profile) is not None for u in unidentified)
    assert _index_equals_brute(families, unidentified, model, others=4) > 60


@pytest.mark.parametrize("theta", [0.0, pytest.param(0.01, marks=pytest.mark.stress)])
def test_absent_alleles_top_k_and_inconsistent_loci_equal_the_engine(theta):
    model = GeneticModel(POP, theta=theta)
    db = simulate_database(70, 20, seed=17)
    families, unidentified = _records(db, num_queries=6)
    unidentified, families = _with_absent_alleles(unidentified, families, seed=2)
    index = ix.FamilyIndex(model)
    index.add(families)
    got = index_search(unidentified, index, model=model, load_families=lambda ids: [
        f for f in families if ids is None or f.id in set(ids)], min_lr=0.0, top_k=4)
    want = search(unidentified, families, model=model, min_lr=0.0, top_k=4)
    key = (lambda c: (c.unidentified.id, c.family.id, c.missing, c.rank))
    assert sorted(map(key, got.candidates)) == sorted(map(key, want.candidates))
    by = {(c.unidentified.id, c.family.id, c.missing): c for c in want.candidates}
    for c in got.candidates:
        w = by[(c.unidentified.id, c.family.id, c.missing)]
        assert abs(c.log10_lr - w.log10_lr) < 1e-9
        assert c.inconsistent_loci == w.inconsistent_loci
