"""The θ > 0 tables by formula (index/theta_closed.py) against the kinship engine, key by key:
every covered sub-pedigree, θ from 0.001 to 0.05, each mutation model, small and realistic
allele tables, homozygous and heterozygous references; and the index built with the formulas
equal to the one built by the engine alone."""

from types import SimpleNamespace

import numpy as np
import pytest
from test_search import _records

from reunite.genetics.likelihood import MarkerData, joint_tables
from reunite.search import index as ix
from reunite.search.index import theta_closed as tc
from reunite.search.index.theta import closed_form_sides_theta, part_value, with_unrelated
from reunite.simulate import simulate_database
from reunite.store.profiles import GeneticModel

POP = "CHN_national_GBT37223"
U = (-1, -1, "U", 0.0)


def _child(f, m):
    return (f, m, "U", 0.0)


#: (name, structure, missing position, typed positions): the sub-pedigrees the θ index meets
SHAPES = [
    ("no reference", (U, U, _child(0, 1)), 2, ()),
    ("one sibling", (U, U, _child(0, 1), _child(0, 1)), 3, (2,)),
    ("two siblings", (U, U, _child(0, 1), _child(0, 1), _child(0, 1)), 4, (2, 3)),
    ("three siblings", (U, U) + (_child(0, 1),) * 4, 5, (2, 3, 4)),
    ("uncle or aunt", (U, U, _child(0, 1), _child(0, 1), U, _child(3, 4)), 5, (2,)),
    ("parent and sibling", (U, U, _child(0, 1), _child(0, 1)), 3, (0, 2)),
    ("grandparent", (U, U, _child(0, 1), U, _child(2, 3)), 4, (0,)),
    ("grandparents and aunt", (U, U, _child(0, 1), _child(0, 1), U, _child(3, 4)), 5, (0, 2)),
    ("half sibling", (U, U, U, _child(0, 1), _child(0, 2)), 4, (3,)),
    ("first cousin", (U, U, _child(0, 1), _child(0, 1), U, U, _child(2, 4), _child(3, 5)), 7, (6,)),
    ("M's child and father", (U, U, _child(0, 1), U, _child(2, 3)), 2, (0, 4)),
    ("M's grandchild", (U, U, _child(0, 1), U, _child(2, 3), U, _child(4, 5)), 2, (6,)),
    ("M a founder, its child", (U, U, _child(0, 1)), 0, (2,)),
    ("both parents typed, a sibling", (U, U, _child(0, 1), _child(0, 1)), 3, (0, 1, 2)),
]

MUTATION = ["stepwise", "equal", "proportional", "none"]


def _tables(mutation, theta):
    """Two locus tables of the model: the fewest alleles and the most."""
    kw = {} if mutation == "stepwise" else {"mutation": mutation}
    index = ix.FamilyIndex(GeneticModel(POP, theta=theta, **kw))
    tabs = sorted(index._all_tables.values(), key=lambda t: len(t.afreq))
    return [tabs[0], tabs[-1]]


def _small_table(rng, n=4, mutation=True):
    p = rng.dirichlet(np.ones(n))
    if not mutation:
        return SimpleNamespace(afreq=p, male=None, female=None)
    mats = []
    for _ in range(2):
        m = rng.random((n, n)) * 0.05 + np.eye(n)
        mats.append(m / m.sum(axis=1, keepdims=True))
    return SimpleNamespace(afreq=p, male=mats[0], female=mats[1])


def _codes(rng, tab, typed, keys):
    """Random genotype codes (``divmod(code, n)``), drawn from the table; every other key
    has homozygous references."""
    n = len(tab.afreq)
    a = rng.choice(n, size=(keys, len(typed)), p=tab.afreq)
    b = rng.choice(n, size=(keys, len(typed)), p=tab.afreq)
    b[::2] = a[::2]
    return a * n + b


def _engine(kind, structure, m_pos, local, codes, tab, theta):
    n = len(tab.afreq)
    jobs = []
    for row in codes:
        md = MarkerData(tab.afreq, tab.male, tab.female, {p: divmod(int(c), n) for p, c in zip(local, row)}, theta)
        jobs.append((structure, md, m_pos))
        if kind == "dense":
            jobs.append((with_unrelated(structure), md, len(structure)))
    tables = joint_tables(jobs)
    step = 2 if kind == "dense" else 1
    return [part_value(kind, tables[step * k], tables[step * k + 1] if step == 2 else None)
            for k in range(len(codes))]


def _assert_equal(got, want, what):
    assert got is not None, what
    for k, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=0, equal_nan=True, err_msg=f"{what}, key {k}")


def _check(shape, tab, theta, keys, rng, kinds=("dense",)):
    name, structure, m_pos, local = shape
    codes = _codes(rng, tab, local, keys)
    for kind in kinds:
        if kind == "dense":
            got = tc.dense_tables_theta(structure, m_pos, local, codes, tab, theta)
        else:
            got = tc.side_vectors_theta(kind, structure, m_pos, local, codes, tab, theta)
        _assert_equal(got, _engine(kind, structure, m_pos, local, codes, tab, theta),
                      f"{name} ({kind}), θ = {theta}, {len(tab.afreq)} alleles")


def _kinds(shape):
    """Side vectors only where M has parents (a founder M's engine table is exact only up to
    a transposition, which the dense table's T + Tᵀ does not see)."""
    return ("dense", "P", "Q") if shape[1][shape[2]][0] >= 0 else ("dense",)


#: shapes whose plans take a second or more to enumerate (default run: one θ)
HEAVY = ("three siblings", "first cousin")


@pytest.mark.parametrize("shape", SHAPES, ids=[s[0] for s in SHAPES])
def test_dense_tables_equal_the_engine_on_small_tables(shape):
    rng = np.random.default_rng(len(shape[0]))
    cases = ((0.001, True), (0.02, True), (0.05, False))
    for theta, mutation in cases[1:2] if shape[0] in HEAVY else cases:
        _check(shape, _small_table(rng, mutation=mutation), theta, 12, rng,
               kinds=("dense",) if shape[0] in HEAVY else _kinds(shape))


@pytest.mark.parametrize("mutation", MUTATION)
def test_dense_tables_equal_the_engine_on_the_shipped_tables(mutation):
    rng = np.random.default_rng(7)
    theta = {"stepwise": 0.01, "equal": 0.03, "proportional": 0.05, "none": 0.001}[mutation]
    tabs = _tables(mutation, theta)
    for k, shape in enumerate(SHAPES):
        if shape[0] in HEAVY:  # the engine takes seconds there
            continue
        _check(shape, tabs[k % 2], theta, 3, rng)


def test_keys_in_chunks_give_the_same_tables(monkeypatch):
    rng = np.random.default_rng(5)
    tab = _small_table(rng, n=5)
    name, structure, m_pos, local = SHAPES[2]  # two siblings
    codes = _codes(rng, tab, local, 70)
    whole = tc.dense_tables_theta(structure, m_pos, local, codes, tab, 0.02)
    sides = tc.side_vectors_theta("P", structure, m_pos, local, codes, tab, 0.02)
    monkeypatch.setattr(tc, "CHUNK_ELEMENTS", 1.0)  # 16 keys a pass
    np.testing.assert_allclose(tc.dense_tables_theta(structure, m_pos, local, codes, tab, 0.02), whole, rtol=1e-14)
    np.testing.assert_allclose(tc.side_vectors_theta("P", structure, m_pos, local, codes, tab, 0.02), sides, rtol=1e-14)


def test_the_sides_path_uses_the_formula_for_every_side():
    """closed_form_sides_theta answers every kind (dense, P, Q) of these sub-pedigrees."""
    rng = np.random.default_rng(3)
    tab = _small_table(rng)
    for shape in SHAPES:
        name, structure, m_pos, local = shape
        if name in HEAVY:
            continue
        codes = _codes(rng, tab, local, 4)
        new = [(k, tuple(int(c) for c in row)) for k, row in enumerate(codes)]
        for kind in _kinds(shape):
            got = closed_form_sides_theta(kind, structure, m_pos, local, new, tab, 0.02)
            _assert_equal(got, _engine(kind, structure, m_pos, local, codes, tab, 0.02), f"{name} ({kind})")


def test_unsupported_sub_pedigrees_go_to_the_engine():
    inbred = (U, (-1, -1, "U", 0.25), _child(0, 1), _child(0, 1))
    assert tc.plan_terms(inbred, 3, (2,), 0.01) is None
    # M's parents share an untyped parent's allele with a typed sibling's child: a branching
    cousins = (U, U, _child(0, 1), _child(0, 1), U, U, _child(2, 4), _child(5, 3), _child(6, 7), _child(6, 7))
    assert tc.plan_terms(cousins, 9, (0, 8), 0.01) is None
    rng = np.random.default_rng(0)
    tab = _small_table(rng)
    assert tc.dense_tables_theta(cousins, 9, (0, 8), _codes(rng, tab, (0, 8), 2), tab, 0.01) is None


def _index_pair(model, families, monkeypatch):
    with_forms = ix.FamilyIndex(model)
    with_forms.add(families)
    monkeypatch.setattr(tc, "ENABLED", False)
    engine_only = ix.FamilyIndex(model)
    engine_only.add(families)
    monkeypatch.setattr(tc, "ENABLED", True)
    return with_forms, engine_only


def _assert_same_index(a_index, b_index):
    dense = 0
    for a, b in zip(a_index.tables, b_index.tables):
        assert a.side_keys == b.side_keys and a.dense_keys == b.dense_keys
        for x, y in zip(a.stacked(), b.stacked()):
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-300, equal_nan=True)
        dense += len(a.dense)
    return dense


def test_index_with_the_formulas_equals_the_engine_only_index(monkeypatch):
    model = GeneticModel(POP, theta=0.02)
    db = simulate_database(12, 2, seed=31)
    families, _ = _records(db, num_queries=1)
    assert _assert_same_index(*_index_pair(model, families, monkeypatch)) > 20


@pytest.mark.stress
@pytest.mark.parametrize("kw", [{"theta": 0.001}, {"theta": 0.01}, {"theta": 0.05, "mutation": "equal"},
                                {"theta": 0.03, "mutation": "none"}, {"theta": 0.02, "mutation": "proportional"}])
def test_index_with_the_formulas_equals_the_engine_only_index_on_every_shape(kw, monkeypatch):
    from test_index import _families

    model = GeneticModel(POP, **kw)
    families, _ = _families(model, seed=5)
    _assert_same_index(*_index_pair(model, families, monkeypatch))


@pytest.mark.stress
@pytest.mark.parametrize("mutation", MUTATION)
def test_dense_tables_equal_the_engine_many_keys(mutation):
    rng = np.random.default_rng(11)
    for theta in (0.001, 0.01, 0.05):
        tabs = _tables(mutation, theta)
        for shape in SHAPES:
            for tab in tabs:
                _check(shape, tab, theta, 8, rng, kinds=_kinds(shape))
