"""Property tests: the fast engine against brute force, and invariances of the LR."""

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from naive import naive_likelihood

from reunite.genetics.kinship import Marker, Mutation, kinship_lr
from reunite.genetics.likelihood import MarkerData, pedigree_likelihoods
from reunite.genetics.mutation import MutationModel
from reunite.genetics.pedigree import Individual, make_pedigree

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def pedigrees(draw, max_people=6):
    """Random pedigrees (loops and inbreeding allowed), in topological order."""
    num = draw(st.integers(2, max_people))
    people = []
    for k in range(num):
        sex = draw(st.sampled_from("MF"))
        males = [p.id for p in people if p.sex == "M"]
        females = [p.id for p in people if p.sex == "F"]
        if males and females and draw(st.booleans()):
            people.append(Individual(f"p{k}", draw(st.sampled_from(males)),
                                     draw(st.sampled_from(females)), sex))
        else:
            f = draw(st.sampled_from([0.0, 0.0, 0.0, 0.2, 0.5]))
            people.append(Individual(f"p{k}", None, None, sex, f))
    return make_pedigree(people)


def random_stochastic(rng, n):
    m = rng.random((n, n)) + np.eye(n) * rng.integers(0, 5)
    return m / m.sum(axis=1, keepdims=True)


@st.composite
def marker_data(draw, pedigree):
    n = draw(st.integers(2, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    afreq = rng.dirichlet(np.ones(n))
    kind = draw(st.sampled_from(["none", "equal", "custom", "custom2"]))
    if kind == "none":
        male = female = None
    elif kind == "equal":
        r = draw(st.floats(0.001, 0.3))
        male = female = MutationModel("equal", rate=r).transition_matrix([str(i) for i in range(n)], afreq)
    else:
        male = random_stochastic(rng, n)
        female = male if kind == "custom" else random_stochastic(rng, n)
    ids = pedigree.ids
    num_typed = draw(st.integers(1, len(ids)))
    typed = draw(st.permutations(ids))[:num_typed]
    untyped = [i for i in ids if i not in typed]
    if len(untyped) > 3:  # keep brute force affordable
        typed = typed + untyped[3:]
    genotypes = {i: (int(rng.integers(n)), int(rng.integers(n))) for i in typed}
    theta = draw(st.sampled_from([0.0, 0.0, 0.05, 0.2]))
    return afreq, male, female, genotypes, theta


@SETTINGS
@given(data=st.data())
def test_elimination_equals_brute_force(data):
    pedigree = data.draw(pedigrees())
    afreq, male, female, genotypes, theta = data.draw(marker_data(pedigree))
    fast = pedigree_likelihoods(
        pedigree.structure_key(),
        [MarkerData(afreq, male, female, {pedigree.index[i]: g for i, g in genotypes.items()}, theta)],
    )[0]
    slow = naive_likelihood(pedigree, afreq=afreq, male=male, female=female, genotypes=genotypes,
                            theta=theta)
    assert math.isclose(fast, slow, rel_tol=1e-10, abs_tol=1e-300), (fast, slow)


def _markers(rng, ids, num_markers, *, n=4):
    out = []
    for k in range(num_markers):
        labels = [str(8 + a) for a in range(n)]
        p = rng.dirichlet(np.ones(n))
        afreq = dict(zip(labels, p))
        genos = {i: (labels[rng.integers(n)], labels[rng.integers(n)]) for i in ids}
        mut = Mutation(MutationModel("equal", rate=0.01), MutationModel("proportional", rate=0.02))
        out.append(Marker(f"M{k}", afreq, genos, mut))
    return out


FIRST_COUSINS_ONCE_REMOVED = [
    {"id": "GF", "sex": "M"}, {"id": "GM", "sex": "F"},
    {"id": "A", "father": "GF", "mother": "GM", "sex": "M"},
    {"id": "B", "father": "GF", "mother": "GM", "sex": "F"},
    {"id": "C", "father": "A", "sex": "M"}, {"id": "D", "mother": "B", "sex": "F"},
    {"id": "E", "father": "C", "mother": "D"},  # a cousin marriage: a loop
]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), theta=st.sampled_from([0.0, 0.02]))
def test_lr_invariant_to_order_of_people_and_markers(seed, theta):
    rng = np.random.default_rng(seed)
    typed = ["GF", "C", "E"]
    markers = _markers(rng, typed, 4)
    base = kinship_lr(FIRST_COUSINS_ONCE_REMOVED, "unrelated", markers, theta=theta)
    order = rng.permutation(len(FIRST_COUSINS_ONCE_REMOVED))
    shuffled_people = [FIRST_COUSINS_ONCE_REMOVED[k] for k in order]
    shuffled_markers = [markers[k] for k in rng.permutation(len(markers))]
    other = kinship_lr(shuffled_people, "unrelated", shuffled_markers, theta=theta)
    assert math.isclose(base.lr_total, other.lr_total, rel_tol=1e-11)
    for m, v in base.lr_per_marker.items():
        assert math.isclose(v, other.lr_per_marker[m], rel_tol=1e-11)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), theta=st.sampled_from([0.0, 0.03]))
def test_relabelling_alleles_changes_nothing(seed, theta):
    rng = np.random.default_rng(seed)
    h1 = [{"id": "FA", "sex": "M"}, {"id": "S1", "father": "FA"}, {"id": "S2", "father": "FA"}]
    markers = _markers(rng, ["S1", "S2"], 3)
    base = kinship_lr(h1, "unrelated", markers, theta=theta)
    relabelled = []
    for m in markers:
        labels = list(m.afreq)
        perm = rng.permutation(len(labels))
        new = {labels[k]: f"x{perm[k]}" for k in range(len(labels))}
        afreq = {new[a]: m.afreq[a] for a in reversed(labels)}  # also reorder the table
        genos = {i: (new[a], new[b]) for i, (a, b) in m.genotypes.items()}
        relabelled.append(Marker(m.name, afreq, genos, m.mutation))
    other = kinship_lr(h1, "unrelated", relabelled, theta=theta)
    assert math.isclose(base.lr_total, other.lr_total, rel_tol=1e-11)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), theta=st.sampled_from([0.0, 0.05]))
def test_extra_untyped_founder_changes_nothing(seed, theta):
    rng = np.random.default_rng(seed)
    h1 = [{"id": "FA", "sex": "M"}, {"id": "MO", "sex": "F"}, {"id": "CH", "father": "FA", "mother": "MO"}]
    markers = _markers(rng, ["FA", "CH"], 3)
    base = kinship_lr(h1, "unrelated", markers, theta=theta)
    extra = h1 + [{"id": "X", "sex": "M"}, {"id": "Y", "father": "X", "mother": "MO"}]
    other = kinship_lr(extra, "unrelated", markers, theta=theta)
    assert math.isclose(base.likelihood_h1["M0"], other.likelihood_h1["M0"], rel_tol=1e-12)
    assert math.isclose(base.lr_total, other.lr_total, rel_tol=1e-11)
