"""The duo kernel (reunite.genetics.batch_duo) against the general engine: the same
likelihoods, bit for bit, on random duo markers (fathers and mothers, table sizes 1 to 30,
microvariants, stepwise, onestep and custom matrices, a sex without mutation, exclusions)."""

from __future__ import annotations

import numpy as np
import pytest

from reunite.genetics.batch_duo import duo_likelihoods
from reunite.genetics.kinship import Marker, Mutation, _prepare_marker, kinship_lr_many
from reunite.genetics.mutation import MutationModel
from reunite.genetics.pedigree import duo


def _random_model(rng, alleles: list[str], *, integers: bool) -> MutationModel:
    kind = rng.choice(["stepwise", "onestep", "custom", "none"] if integers else ["stepwise", "custom", "none"])
    if kind == "none":  # this sex does not mutate: the identity
        return MutationModel("stepwise", rate=0.0, rate2=0.0)
    if kind == "stepwise":
        return MutationModel("stepwise", rate=float(rng.uniform(1e-4, 0.05)), rate2=float(rng.uniform(0, 1e-3)),
                             range=float(rng.uniform(0.05, 0.9)))
    if kind == "onestep":
        return MutationModel("onestep", rate=float(rng.uniform(1e-4, 0.05)))
    n = len(alleles)
    m = rng.dirichlet(np.ones(n), size=n) * 0.1 + 0.9 * np.eye(n)
    m /= m.sum(axis=1, keepdims=True)
    return MutationModel("custom", matrix=m)


def random_duo_cases(seed: int, num: int) -> list[tuple]:
    """``num`` one-marker duo cases (a father or a mother and a child)."""
    rng = np.random.default_rng(seed)
    cases = []
    for k in range(num):
        n = int(rng.integers(1, 31))
        integers = rng.random() < 0.5
        values = sorted(rng.choice(np.arange(5, 40), size=n, replace=False).tolist())
        alleles = [str(v) if integers or rng.random() < 0.7 else f"{v}.{rng.integers(1, 4)}" for v in values]
        alleles = list(dict.fromkeys(alleles))
        p = rng.dirichlet(np.ones(len(alleles)))
        afreq = {a: float(x) for a, x in zip(alleles, p)}
        parent = [alleles[i] for i in rng.integers(len(alleles), size=2)]
        child = [parent[rng.integers(2)] if rng.random() < 0.8 else alleles[rng.integers(len(alleles))],
                 alleles[rng.integers(len(alleles))]]
        mutation = Mutation(_random_model(rng, alleles, integers=integers), _random_model(rng, alleles, integers=integers))
        sex = "M" if rng.random() < 0.6 else "F"
        ped = duo("P", "C", parent_sex=sex)
        marker = Marker("L", afreq, {"P": tuple(parent), "C": tuple(child)}, mutation)
        cases.append((f"case{k}", ped, "unrelated", [marker], 0.0))
    return cases


def kernel_inputs(cases):
    """The kernel's arrays, prepared by the engine's own marker preparation."""
    preps = [_prepare_marker(c[3][0], theta=0.0, floor=0.001, normalise=False, where="x") for c in cases]
    num, width = len(preps), max(len(p.data.afreq) for p in preps)
    afreq = np.zeros((num, width))
    parent = np.zeros((num, 2), dtype=np.int64)
    child = np.zeros((num, 2), dtype=np.int64)
    mats, positions = [np.eye(width)], {}
    male = np.zeros(num, dtype=np.int64)
    female = np.zeros(num, dtype=np.int64)

    def position(m):
        if m is None:
            return 0
        if id(m) not in positions:
            padded = np.zeros((width, width))
            padded[:len(m), :len(m)] = m
            mats.append(padded)
            positions[id(m)] = len(mats) - 1
        return positions[id(m)]

    for k, prep in enumerate(preps):
        d = prep.data
        afreq[k, :len(d.afreq)] = d.afreq
        parent[k], child[k] = d.genotypes["P"], d.genotypes["C"]
        male[k], female[k] = position(d.male), position(d.female)
    father = np.array([c[1]["C"].father == "P" for c in cases])
    return dict(afreq=afreq, parent=parent, child=child, mats=np.array(mats),
                parent_mat=np.where(father, male, female), other_mat=np.where(father, female, male), father=father)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_duo_kernel_equals_the_engine_bit_for_bit(seed):
    cases = random_duo_cases(seed, 300)
    results = kinship_lr_many(cases)
    inputs = kernel_inputs(cases)
    l1, l2 = duo_likelihoods(inputs.pop("afreq"), **inputs)
    want1 = np.array([r.likelihood_h1["L"] for r in results])
    want2 = np.array([r.likelihood_h2["L"] for r in results])
    assert np.array_equal(l1, want1)
    assert np.array_equal(l2, want2)
    assert np.any(want1 == 0.0) and np.any(want1 > 0.0)  # exclusions (onestep, no mutation) included


def test_duo_kernel_hand_values():
    """No mutation, p_A = 0.05: father A/A and child A/A give 1/p_A = 20 (forrel's fixture);
    father A/B and child A/A, or father A/A and child A/B, give 1/(2 p_A) = 10."""
    afreq = np.array([[0.05, 0.25, 0.7]])
    common = dict(mats=np.eye(3)[None], parent_mat=np.array([0]), other_mat=np.array([0]), father=np.array([True]))
    for parent, child, lr in (([0, 0], [0, 0], 20.0), ([0, 1], [0, 0], 10.0), ([0, 0], [0, 1], 10.0)):
        l1, l2 = duo_likelihoods(afreq, parent=np.array([parent]), child=np.array([child]), **common)
        assert l1[0] / l2[0] == pytest.approx(lr, rel=1e-12)
