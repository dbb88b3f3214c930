"""The vectorised, cached mutation matrices against the old row-by-row construction (kept
here as the slow reference), on many random allele sets, parameters and models."""

from __future__ import annotations

import numpy as np
import pytest

from reunite.errors import MutationModelError
from reunite.genetics import mutation as mut
from reunite.genetics.loci import allele_value
from reunite.genetics.mutation import MutationModel, build_matrix, stationary_pm


def rowwise_matrix(model: MutationModel, alleles: list[str], afreq: np.ndarray) -> np.ndarray:
    """The row-by-row construction reunite used before (one Python loop per allele)."""
    n = len(alleles)
    rate = model.rate
    if model.model == "custom":
        m = np.asarray(model.matrix, dtype=float).copy()
    elif n == 1:
        m = np.ones((1, 1))
    elif model.model == "equal":
        m = np.full((n, n), rate / (n - 1))
        np.fill_diagonal(m, 1.0 - rate)
    elif model.model == "proportional":
        p = np.asarray(afreq, dtype=float)
        het = float(np.sum(p * (1.0 - p)))
        a = rate / het if het > 0 else 0.0
        m = np.tile(a * p, (n, 1))
        m[np.diag_indices(n)] += 1.0 - a
    else:
        x = np.asarray([allele_value(a) for a in alleles], dtype=float)
        m = np.zeros((n, n))
        if model.model == "onestep":
            for i in range(n):
                nb = [j for j in range(n) if abs(x[j] - x[i]) == 1.0]
                if nb:
                    m[i, i] = 1.0 - rate
                    for j in nb:
                        m[i, j] = rate / len(nb)
                else:
                    m[i, i] = 1.0
        else:
            group = np.round(10.0 * (x - np.round(x)))
            for i in range(n):
                same = (group == group[i]) & (np.arange(n) != i)
                other = group != group[i]
                n_same, n_other = int(same.sum()), int(other.sum())
                diag = 1.0
                if n_same:
                    w = model.range ** np.abs(x[i] - x[same])
                    m[i, same] = rate * w / w.sum()
                    diag -= rate
                if n_other:
                    m[i, other] = model.rate2 / n_other
                    diag -= model.rate2
                m[i, i] = diag
    if model.transform == "PM":
        m = stationary_pm(m, np.asarray(afreq, dtype=float))
    return m


def random_alleles(rng, *, microvariants: bool, integer: bool = False) -> list[str]:
    n = int(rng.integers(1, 30))
    values = set()
    while len(values) < n:
        v = int(rng.integers(5, 45))
        tenth = 0
        if microvariants and not integer and rng.random() < 0.3:
            tenth = int(rng.choice([1, 2, 3]))
        values.add(f"{v}.{tenth}" if tenth else str(v))
    labels = sorted(values, key=float)
    if rng.random() < 0.3:
        rng.shuffle(labels)  # tables are not always in repeat order
    return labels


def random_model(rng, kind: str, n: int, *, pm: bool) -> MutationModel:
    rate = float(rng.choice([0.0, 1e-4, 0.002, 0.01, 0.05, 0.3]))
    if kind == "custom":
        m = rng.random((n, n)) + np.eye(n) * n
        m /= m.sum(axis=1, keepdims=True)
        return MutationModel("custom", matrix=m, transform="PM" if pm else None)
    if kind == "proportional":
        rate = min(rate, 0.001)
    return MutationModel(kind, rate=rate, rate2=float(rng.choice([0.0, 1e-6, 1e-4, 0.01])),
                         range=float(rng.uniform(0.05, 0.95)), transform="PM" if pm else None)


@pytest.mark.parametrize("kind", ["equal", "proportional", "stepwise", "onestep", "custom"])
@pytest.mark.parametrize("pm", [False, True])
def test_vectorised_matrices_equal_the_row_by_row_construction(kind, pm):
    rng = np.random.default_rng(11 + len(kind) + pm)
    checked = 0
    for _ in range(150):
        alleles = random_alleles(rng, microvariants=kind != "onestep")
        n = len(alleles)
        p = rng.dirichlet(np.ones(n) * 2) + 1e-3
        p /= p.sum()
        model = random_model(rng, kind, n, pm=pm)
        try:
            expected = rowwise_matrix(model, alleles, p)
        except MutationModelError:
            with pytest.raises(MutationModelError):
                build_matrix(model, alleles, p)
            continue
        fast = model.transition_matrix(alleles, p)
        assert fast.shape == expected.shape
        np.testing.assert_allclose(fast, expected, rtol=1e-15, atol=1e-15)
        if not pm and kind in ("stepwise", "onestep", "equal"):
            assert np.array_equal(fast, expected)  # the same numbers, bit for bit
        again = model.transition_matrix(alleles, p)
        np.testing.assert_array_equal(again, fast)
        checked += 1
    assert checked >= 40  # PM does not exist for some one-step matrices (an error, checked above)


def test_cache_keys_hold_exactly_what_the_matrix_depends_on():
    mut._CACHE.clear()
    alleles = ["9", "9.3", "10", "11", "12"]
    p1 = np.array([0.1, 0.2, 0.3, 0.25, 0.15])
    p2 = np.array([0.2, 0.2, 0.2, 0.2, 0.2])
    step = MutationModel("stepwise", rate=0.002, rate2=1e-6, range=0.5)
    assert step.transition_matrix(alleles, p1) is step.transition_matrix(alleles, p2)
    equal = MutationModel("equal", rate=0.002)
    assert equal.transition_matrix(alleles, p1) is equal.transition_matrix(alleles, p2)
    prop = MutationModel("proportional", rate=0.002)
    a, b = prop.transition_matrix(alleles, p1), prop.transition_matrix(alleles, p2)
    assert not np.array_equal(a, b)
    np.testing.assert_allclose(p1 @ a, p1, rtol=1e-14)
    pm = MutationModel("stepwise", rate=0.002, rate2=1e-6, range=0.5, transform="PM")
    a, b = pm.transition_matrix(alleles, p1), pm.transition_matrix(alleles, p2)
    np.testing.assert_allclose(p1 @ a, p1, rtol=1e-14)
    np.testing.assert_allclose(p2 @ b, p2, rtol=1e-14)
    assert not a.flags.writeable
    # another allele order is another matrix
    order = ["12", "11", "10", "9.3", "9"]
    np.testing.assert_array_equal(step.transition_matrix(order, p1),
                                  rowwise_matrix(step, order, p1))


def test_errors_are_not_cached():
    model = MutationModel("stepwise", rate=0.002)
    for _ in range(2):
        with pytest.raises(MutationModelError, match="numeric alleles"):
            model.transition_matrix(["10", "x"], np.array([0.5, 0.5]))


def test_pm_of_a_matrix_whose_stationary_distribution_never_mutates_is_an_error():
    """The stationary distribution on an allele that never mutates: the PM formula divides
    by 0; an error, never a matrix of NaN."""
    absorbing = np.array([[1.0, 0.0], [0.5, 0.5]])
    with pytest.raises(MutationModelError, match="never mutate"):
        stationary_pm(absorbing, np.array([0.5, 0.5]))
