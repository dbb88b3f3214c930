"""Edge cases of the likelihood engine against brute force and hand-derived formulas.

Two independent references are used:

* ``naive_likelihood`` (tests/naive.py): brute force over every untyped person's ordered
  genotype, with mutation; kept affordable (few alleles where people are untyped, at most
  about three untyped people in the whole pedigree given to it).
* ``genedrop_likelihood`` (below): exact for no mutation, any number of untyped people:
  sums over every inheritance vector (which grandparental allele each meiosis passes on)
  and over the allele labels of the founder genes carried by typed people, with the
  Balding-Nichols urn over the distinct founder genes involved.

Mutation matrices, the rare-allele floor and renormalisation are rebuilt here from the
definitions in tests/data/REFERENCE_CASES.md, not taken from reunite.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from naive import naive_likelihood

from reunite.errors import PedigreeError, ReuniteError
from reunite.genetics import pedigree as ped
from reunite.genetics.kinship import Marker, Mutation, kinship_lr, kinship_lr_many
from reunite.genetics.likelihood import MarkerData, pedigree_likelihoods
from reunite.genetics.mutation import MutationModel
from reunite.genetics.pedigree import make_pedigree, unrelated

FLOOR = 0.001
REL = 1e-10


# ----------------------------------------------------------------------------------------
# Independent references


def equal_matrix(n, rate):
    m = np.full((n, n), rate / (n - 1))
    np.fill_diagonal(m, 1.0 - rate)
    return m


def proportional_matrix(p, rate):
    p = np.asarray(p, dtype=float)
    a = rate / float(np.sum(p * (1 - p)))
    return (1 - a) * np.eye(len(p)) + a * np.tile(p, (len(p), 1))


def stepwise_matrix(labels, rate, rate2, rng):
    """REFERENCE_CASES.md stepwise definition, written out directly."""
    x = [float(a) for a in labels]
    g = [round(10 * (v - round(v))) for v in x]
    n = len(x)
    m = np.zeros((n, n))
    for i in range(n):
        same = [j for j in range(n) if j != i and g[j] == g[i]]
        other = [j for j in range(n) if g[j] != g[i]]
        tot = sum(rng ** abs(x[i] - x[j]) for j in same)
        for j in same:
            m[i, j] = rate * rng ** abs(x[i] - x[j]) / tot
        for j in other:
            m[i, j] = rate2 / len(other)
        m[i, i] = 1 - (rate if same else 0.0) - (rate2 if other else 0.0)
    return m


def urn(labels, p, theta):
    """Balding-Nichols probability of a sequence of founder alleles."""
    counts: dict = {}
    prob = 1.0
    for m, a in enumerate(labels):
        prob *= (counts.get(a, 0) * theta + (1 - theta) * p[a]) / (1 + (m - 1) * theta)
        counts[a] = counts.get(a, 0) + 1
    return prob


def ref_table(afreq: dict, genotypes: dict, floor=FLOOR):
    """Labels and frequencies after the rare-allele rule (floor, then renormalise)."""
    table = {str(a): float(f) for a, f in afreq.items()}
    missing = sorted({a for g in genotypes.values() for a in g if a not in table})
    for a in missing:
        table[a] = floor
    if missing:
        s = sum(table.values())
        table = {a: f / s for a, f in table.items()}
    labels = list(table)
    return labels, np.array([table[a] for a in labels])


def as_pairs(genotypes):
    return {k: tuple(v.split("/")) if isinstance(v, str) else tuple(v) for k, v in genotypes.items()}


def prune(pedigree, typed):
    """Drop untyped people without typed descendants (they sum out to a factor 1; with θ the
    urn is exchangeable, so their founder alleles sum out too).  Keeps brute force cheap."""
    keep, stack = set(), list(typed)
    while stack:
        pid = stack.pop()
        if pid in keep:
            continue
        keep.add(pid)
        q = pedigree[pid]
        stack += [x for x in (q.father, q.mother) if x is not None]
    return make_pedigree([q for q in pedigree.individuals if q.id in keep])


def brute(pedigree, labels, p, genotypes, *, male=None, female=None, theta=0.0):
    idx = {a: k for k, a in enumerate(labels)}
    g = {pid: (idx[a], idx[b]) for pid, (a, b) in as_pairs(genotypes).items()}
    pedigree = prune(pedigree, list(g))
    return naive_likelihood(pedigree, afreq=p, male=male, female=female, genotypes=g, theta=theta)


def genedrop_likelihood(pedigree, afreq: dict, genotypes, theta=0.0):
    """Exact likelihood without mutation by summing over inheritance vectors."""
    genotypes = as_pairs(genotypes)
    people = pedigree.individuals
    pos = pedigree.index
    founders = [k for k, q in enumerate(people) if q.is_founder]
    nonf = [k for k, q in enumerate(people) if not q.is_founder]
    inbred = [k for k in founders if people[k].inbreeding > 0]
    typed = [(pos[pid], tuple(g)) for pid, g in genotypes.items()]
    memo: dict = {}

    def labelled(key):
        # key: tuple over typed people of (gene, gene), genes renumbered by first appearance
        if key in memo:
            return memo[key]
        seen = set()
        total = 0.0
        for phases in itertools.product((0, 1), repeat=len(key)):
            lab: dict = {}
            ok = True
            for (gp, gm), (_, (a, b)), ph in zip(key, typed, phases):
                x, y = (a, b) if ph == 0 else (b, a)
                for gene, al in ((gp, x), (gm, y)):
                    if lab.setdefault(gene, al) != al:
                        ok = False
                if not ok:
                    break
            if not ok:
                continue
            assignment = tuple(sorted(lab.items()))
            if assignment in seen:
                continue
            seen.add(assignment)
            total += urn([al for _, al in assignment], afreq, theta)
        memo[key] = total
        return total

    result = 0.0
    for ties in itertools.product((False, True), repeat=len(inbred)):
        weight = 1.0
        for k, t in zip(inbred, ties):
            f = people[k].inbreeding
            weight *= f if t else 1 - f
        tied = {k for k, t in zip(inbred, ties) if t}
        acc = 0.0
        for meioses in itertools.product((0, 1), repeat=2 * len(nonf)):
            genes = {}
            for k in founders:
                genes[k] = (2 * k, 2 * k) if k in tied else (2 * k, 2 * k + 1)
            for j, k in enumerate(nonf):
                q = people[k]
                genes[k] = (genes[pos[q.father]][meioses[2 * j]], genes[pos[q.mother]][meioses[2 * j + 1]])
            rename: dict = {}
            key = tuple(tuple(rename.setdefault(x, len(rename)) for x in genes[k]) for k, _ in typed)
            acc += labelled(key)
        result += weight * acc * 0.5 ** (2 * len(nonf))
    return result


def close(a, b, rel=REL):
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-300)


def check_against_brute(h1, h2, marker, *, theta, male=None, female=None, floor=FLOOR):
    """kinship_lr on one marker against naive brute force for H1 and H2 (H2 'unrelated' ok)."""
    r = kinship_lr(h1, h2, [marker], theta=theta, floor=floor)
    labels, p = ref_table(marker.afreq, as_pairs(marker.genotypes), floor)
    if callable(male):
        male = male(labels, p)
    if callable(female):
        female = female(labels, p)
    p1 = h1 if isinstance(h1, ped.Pedigree) else make_pedigree(h1)
    if h2 == "unrelated":  # H1's founders keep their own inbreeding
        p2 = unrelated(list(marker.genotypes),
                       inbreeding={q.id: q.inbreeding for q in p1.individuals if q.is_founder})
    else:
        p2 = h2 if isinstance(h2, ped.Pedigree) else make_pedigree(h2)
    l1 = brute(p1, labels, p, marker.genotypes, male=male, female=female, theta=theta)
    l2 = brute(p2, labels, p, marker.genotypes, male=male, female=female, theta=theta)
    assert close(r.likelihood_h1[marker.name], l1), (r.likelihood_h1[marker.name], l1)
    assert close(r.likelihood_h2[marker.name], l2), (r.likelihood_h2[marker.name], l2)
    return r, l1, l2


# ----------------------------------------------------------------------------------------
# Sanity of the references themselves


def test_references_agree_with_each_other():
    h = make_pedigree([{"id": "GF", "sex": "M"}, {"id": "GM", "sex": "F", "inbreeding": 0.3},
                       {"id": "FA", "father": "GF", "mother": "GM", "sex": "M"},
                       {"id": "CH", "father": "FA"}])
    af = {"a": 0.2, "b": 0.5, "c": 0.3}
    g = {"GF": "a/b", "CH": "b/c"}
    labels, p = list(af), np.array(list(af.values()))
    for theta in (0.0, 0.07):
        assert close(genedrop_likelihood(h, af, g, theta), brute(h, labels, p, g, theta=theta))


# ----------------------------------------------------------------------------------------
# Sex-specific mutation


def test_sex_specific_trio_hand_formula():
    # father c/c, mother a/a, child a/b: the child's paternal allele must be a mutated c.
    # P(H1) = U(c,c,a,a) [Mm(c,b) Mf(a,a) + Mm(c,a) Mf(a,b)],  P(H2) = 2 U(c,c,a,a,a,b)
    af = {"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4}
    mut = Mutation(female=MutationModel("equal", rate=0.003),
                   male=MutationModel("proportional", rate=0.02))
    mm = proportional_matrix(list(af.values()), 0.02)
    mf = equal_matrix(4, 0.003)
    a, b, c = 0, 1, 2
    for theta in (0.0, 0.03):
        r = kinship_lr(ped.trio(), "unrelated",
                       [Marker("M", af, {"AF": "c/c", "MO": "a/a", "CH": "a/b"}, mut)], theta=theta)
        h1 = urn("ccaa", af, theta) * (mm[c, b] * mf[a, a] + mm[c, a] * mf[a, b])
        h2 = 2 * urn("ccaaab", af, theta)
        assert close(r.likelihood_h1["M"], h1)
        assert close(r.likelihood_h2["M"], h2)
        # exchanging the sexes' models must change the answer (the models are not swapped)
        swapped = Mutation(female=mut.male, male=mut.female)
        r2 = kinship_lr(ped.trio(), "unrelated",
                        [Marker("M", af, {"AF": "c/c", "MO": "a/a", "CH": "a/b"}, swapped)], theta=theta)
        h1s = urn("ccaa", af, theta) * (mf[c, b] * mm[a, a] + mf[c, a] * mm[a, b])
        assert close(r2.likelihood_h1["M"], h1s)
        assert not close(r.likelihood_h1["M"], r2.likelihood_h1["M"], rel=1e-3)


def test_male_only_mutation_cannot_explain_maternal_exclusion():
    # mother a/a, child b/b, father b/c: with mutation in males only the maternal b is impossible
    af = {"a": 0.3, "b": 0.3, "c": 0.4}
    mut = Mutation(female=MutationModel("equal", rate=0.0), male=MutationModel("equal", rate=0.05))
    r = kinship_lr(ped.trio(), "unrelated", [Marker("M", af, {"AF": "b/c", "MO": "a/a", "CH": "b/b"}, mut)])
    assert r.lr_per_marker["M"] == 0.0
    mut_f = Mutation(female=MutationModel("equal", rate=0.05), male=MutationModel("equal", rate=0.0))
    r = kinship_lr(ped.trio(), "unrelated", [Marker("M", af, {"AF": "b/c", "MO": "a/a", "CH": "b/b"}, mut_f)])
    # P(H1)/P(H2) = [1/2 (1) ... ] : child's paternal b from father b/c: 1/2; maternal b from a/a: r/2
    assert close(r.lr_per_marker["M"], (0.5 * 0.05 / 2) / (0.3 * 0.3))


@pytest.mark.parametrize("via", ["father", "mother"])
@pytest.mark.parametrize("gp_sex", ["M", "F"])
@pytest.mark.parametrize("theta", [0.0, 0.04])
def test_sex_specific_grandparent_against_brute_force(via, gp_sex, theta):
    # untyped: the other grandparent, the connecting parent and the child's other parent
    h1 = ped.grandparent("GP", "CH", grandparent_sex=gp_sex, via=via)
    af = {"10": 0.25, "11": 0.35, "12": 0.4}
    mut = Mutation(female=MutationModel("stepwise", rate=0.002, range=0.4),
                   male=MutationModel("equal", rate=0.03))
    fem = lambda labels, p: stepwise_matrix(labels, 0.002, 0.0, 0.4)  # noqa: E731
    mal = lambda labels, p: equal_matrix(len(labels), 0.03)  # noqa: E731
    for genos in ({"GP": "10/10", "CH": "12/12"}, {"GP": "10/11", "CH": "11/12"}):
        check_against_brute(h1, "unrelated", Marker("M", af, genos, mut), theta=theta,
                            male=mal, female=fem)


def test_sex_specific_trio_untyped_mother_theta_brute_force():
    h1 = [{"id": "AF", "sex": "M"}, {"id": "GM", "sex": "F"},
          {"id": "MO", "father": "GF", "mother": "GM", "sex": "F"}, {"id": "GF", "sex": "M"},
          {"id": "CH", "father": "AF", "mother": "MO"}]
    af = {"a": 0.2, "b": 0.3, "c": 0.5}
    mut = Mutation(female=MutationModel("proportional", rate=0.01), male=MutationModel("equal", rate=0.02))
    for genos in ({"AF": "a/a", "GF": "b/c", "CH": "c/c"}, {"AF": "a/b", "GM": "a/c", "CH": "b/b"}):
        check_against_brute(h1, "unrelated", Marker("M", af, genos, mut), theta=0.05,
                            male=lambda labels, p: equal_matrix(len(p), 0.02),
                            female=lambda labels, p: proportional_matrix(p, 0.01))


# ----------------------------------------------------------------------------------------
# Stepwise model with microvariants


MICRO = {"9": 0.2, "9.3": 0.1, "10": 0.3, "10.3": 0.15, "11": 0.25}


def test_stepwise_microvariant_matrix_by_hand():
    rate, rate2, rng = 0.01, 0.001, 0.5
    m = MutationModel("stepwise", rate=rate, rate2=rate2, range=rng).transition_matrix(
        list(MICRO), np.array(list(MICRO.values())))
    # allele 9: same group 10 (1 step, weight .5) and 11 (2 steps, .25): 2/3 and 1/3 of rate;
    # other group 9.3, 10.3: rate2 / 2 each
    assert m[0] == pytest.approx([1 - rate - rate2, rate2 / 2, rate * 2 / 3, rate2 / 2, rate / 3], rel=1e-12)
    # allele 9.3: same group only 10.3 (all of rate); other group 9, 10, 11: rate2 / 3 each
    assert m[1] == pytest.approx([rate2 / 3, 1 - rate - rate2, rate2 / 3, rate, rate2 / 3], rel=1e-12)
    assert np.allclose(m, stepwise_matrix(list(MICRO), rate, rate2, rng), rtol=1e-12, atol=0)


def test_stepwise_microgroups_round_to_nearest_repeat():
    # g(a) = round(10 (a - round(a))): 9.7 and 10.7 are in group -3, 10.3 in group 3
    labels = ["9", "9.7", "10", "10.3", "10.7"]
    rate, rate2 = 0.01, 0.003
    m = MutationModel("stepwise", rate=rate, rate2=rate2, range=0.5).transition_matrix(
        labels, np.full(5, 0.2))
    assert m[0] == pytest.approx([1 - rate - rate2, rate2 / 3, rate, rate2 / 3, rate2 / 3], rel=1e-12)
    assert m[1] == pytest.approx([rate2 / 3, 1 - rate - rate2, rate2 / 3, rate2 / 3, rate], rel=1e-12)
    # 10.3 is alone in its microgroup: M[i][i] = 1 - rate2, rate2 / 4 to every other allele
    assert m[3] == pytest.approx([rate2 / 4] * 3 + [1 - rate2, rate2 / 4], rel=1e-12)
    af = dict(zip(labels, [0.3, 0.1, 0.3, 0.15, 0.15]))
    mut = Mutation.same(MutationModel("stepwise", rate=rate, rate2=rate2, range=0.5))
    check_against_brute(ped.duo(), "unrelated", Marker("M", af, {"AF": "9.7/10", "CH": "10.7/9"}, mut),
                        theta=0.0, male=lambda lb, p: stepwise_matrix(lb, rate, rate2, 0.5),
                        female=lambda lb, p: stepwise_matrix(lb, rate, rate2, 0.5))


@pytest.mark.parametrize("theta", [0.0, 0.02])
@pytest.mark.parametrize("genos", [
    {"AF": "9/10", "MO": "10.3/11", "CH": "9.3/11"},     # paternal 9 -> 9.3 (other group)
    {"AF": "9/9", "MO": "10/10.3", "CH": "11/10.3"},     # paternal 9 -> 11 (two steps)
    {"AF": "9.3/10", "MO": "11/11", "CH": "10.3/11"},    # paternal 9.3 -> 10.3 (same group)
    {"AF": "9.3/9.3", "MO": "9/10", "CH": "9.3/10.3"},   # maternal mutation needed
])
def test_stepwise_microvariant_trio_public_api(theta, genos):
    mut = Mutation(female=MutationModel("stepwise", rate=0.004, rate2=0.0005, range=0.3),
                   male=MutationModel("stepwise", rate=0.012, rate2=0.001, range=0.6))
    check_against_brute(
        ped.trio(), "unrelated", Marker("M", MICRO, genos, mut), theta=theta,
        male=lambda labels, p: stepwise_matrix(labels, 0.012, 0.001, 0.6),
        female=lambda labels, p: stepwise_matrix(labels, 0.004, 0.0005, 0.3))


def test_stepwise_microvariant_missing_from_table_duo():
    # 11.3 is not in the table: floor, renormalised, and it joins microgroup 3 (with 9.3, 10.3)
    mut = Mutation.same(MutationModel("stepwise", rate=0.01, rate2=0.002, range=0.5))
    genos = {"AF": "9.3/10", "CH": "11.3/11"}
    r, _, _ = check_against_brute(ped.duo(), "unrelated", Marker("M", MICRO, genos, mut), theta=0.01,
                                  male=lambda labels, p: stepwise_matrix(labels, 0.01, 0.002, 0.5),
                                  female=lambda labels, p: stepwise_matrix(labels, 0.01, 0.002, 0.5))
    assert "11.3" in r.notes["M"]


def test_stepwise_labels_spelled_differently_are_the_same_allele():
    mut = Mutation.same(MutationModel("stepwise", rate=0.01, rate2=0.002))
    a = kinship_lr(ped.duo(), "unrelated", [Marker("M", MICRO, {"AF": "9.3/10", "CH": "10.3/11"}, mut)])
    spelled = {"9.0": 0.2, "9.30": 0.1, "10": 0.3, "10.3": 0.15, "11.0": 0.25}
    b = kinship_lr(ped.duo(), "unrelated", [Marker("M", spelled, {"AF": ["9.30", "10.0"], "CH": "10.3/11"}, mut)])
    assert close(a.lr_total, b.lr_total, rel=1e-13)
    assert not b.notes


# ----------------------------------------------------------------------------------------
# Lumping of unseen alleles (equal / proportional)


AF6 = {"8": 0.05, "9": 0.15, "10": 0.3, "11": 0.25, "12": 0.15, "13": 0.1}


@pytest.mark.parametrize("model", ["equal", "proportional"])
@pytest.mark.parametrize("theta", [0.0, 0.03])
def test_lumping_equals_unlumped_engine(model, theta):
    # pedigree_likelihoods with lumpable=False must equal the default (lumped) run
    h = make_pedigree([{"id": "GF", "sex": "M"}, {"id": "GM", "sex": "F"},
                       {"id": "FA", "father": "GF", "mother": "GM", "sex": "M"},
                       {"id": "UN", "father": "GF", "mother": "GM", "sex": "M"},
                       {"id": "CH", "father": "FA"}])
    p = np.array(list(AF6.values()))
    mm = MutationModel(model, rate=0.02).transition_matrix(list(AF6), p)
    mf = MutationModel(model, rate=0.005).transition_matrix(list(AF6), p)
    g = {h.index["UN"]: (1, 2), h.index["CH"]: (2, 4)}
    lumped = pedigree_likelihoods(h.structure_key(), [MarkerData(p, mm, mf, g, theta, True)])[0]
    plain = pedigree_likelihoods(h.structure_key(), [MarkerData(p, mm, mf, g, theta, False)])[0]
    assert close(lumped, plain, rel=1e-12)


@pytest.mark.parametrize("model", ["equal", "proportional"])
@pytest.mark.parametrize("theta", [0.0, 0.05])
def test_lumping_with_allele_absent_from_table(model, theta):
    # 3-allele table, typed people show 10 and 14 (14 absent: floor then renormalise, so
    # the table has 4 alleles and the equal model's rate/(n-1) uses n = 4); two alleles are
    # never seen and get lumped.  Half sibs: three untyped founders.
    af = {"9": 0.3, "10": 0.3, "11": 0.4}
    mut = Mutation(female=MutationModel(model, rate=0.004), male=MutationModel(model, rate=0.015))

    def build(rate):
        return lambda labels, p: equal_matrix(len(p), rate) if model == "equal" else proportional_matrix(p, rate)

    for genos in ({"S1": "10/14", "S2": "14/14"}, {"S1": "10/10", "S2": "14/10"}):
        r, l1, l2 = check_against_brute(ped.half_sibs(), "unrelated", Marker("M", af, genos, mut),
                                        theta=theta, male=build(0.015), female=build(0.004))
        assert "14" in r.notes["M"]


@pytest.mark.parametrize("model", ["equal", "proportional"])
def test_lumping_floor_from_sample_size(model):
    # n_individuals = 50: the missing allele gets 5 / (2 * 50) = 0.05 before renormalising
    af = {"9": 0.2, "10": 0.3, "11": 0.4, "12": 0.1}
    genos = {"AF": "7/10", "CH": "7/9"}
    mut = Mutation.same(MutationModel(model, rate=0.01))
    marker = Marker("M", af, genos, mut, n_individuals=50)
    r = kinship_lr(ped.duo(), "unrelated", [marker])
    labels, p = ref_table(af, as_pairs(genos), floor=0.05)
    mat = equal_matrix(5, 0.01) if model == "equal" else proportional_matrix(p, 0.01)
    h = ped.duo()
    assert close(r.likelihood_h1["M"], brute(h, labels, p, genos, male=mat, female=mat))
    assert close(r.likelihood_h2["M"], brute(unrelated(["AF", "CH"]), labels, p, genos))


def test_lumping_in_a_batch_with_unlumped_markers():
    # markers of different models and sizes that end up in one batch group must not mix
    af = {"9": 0.1, "10": 0.2, "11": 0.3, "12": 0.25, "13": 0.15}
    genos = {"AF": "10/11", "CH": "11/13"}
    models = [None, Mutation.same(MutationModel("equal", rate=0.01)),
              Mutation(female=MutationModel("proportional", rate=0.003), male=MutationModel("equal", rate=0.02)),
              Mutation.same(MutationModel("stepwise", rate=0.01)),
              Mutation.same(MutationModel("onestep", rate=0.01))]
    markers = [Marker(f"M{k}", af, genos, mut) for k, mut in enumerate(models)]
    together = kinship_lr(ped.duo(), "unrelated", markers, theta=0.02)
    for m in markers:
        alone = kinship_lr(ped.duo(), "unrelated", [m], theta=0.02)
        assert close(together.lr_per_marker[m.name], alone.lr_per_marker[m.name], rel=1e-12)
    labels, p = list(af), np.array(list(af.values()))
    refs = [np.eye(5), equal_matrix(5, 0.01), None, stepwise_matrix(labels, 0.01, 0, 0.5), None]
    onestep = np.zeros((5, 5))
    for i in range(5):
        nb = [j for j in (i - 1, i + 1) if 0 <= j < 5]
        onestep[i, i] = 0.99
        for j in nb:
            onestep[i, j] = 0.01 / len(nb)
    refs[4] = onestep
    for k, mat in enumerate(refs):
        male = equal_matrix(5, 0.02) if k == 2 else mat
        female = proportional_matrix(p, 0.003) if k == 2 else mat
        l1 = brute(ped.duo(), labels, p, genos, male=male, female=female, theta=0.02)
        assert close(together.likelihood_h1[f"M{k}"], l1)


# ----------------------------------------------------------------------------------------
# θ with typed and untyped founders, several untyped founders, inbred founders


@pytest.mark.parametrize("typed", [
    {"S1": "a/b", "S2": "a/c"},                       # three untyped founders
    {"S1": "a/b", "S2": "a/c", "_MO1": "b/c"},        # two untyped, one typed founder
    {"S1": "a/a", "S2": "a/a", "_FA": "a/b"},         # shared parent typed
])
@pytest.mark.parametrize("theta", [0.01, 0.1])
def test_half_sibs_theta_brute_force(typed, theta):
    af = {"a": 0.15, "b": 0.35, "c": 0.5}
    mut = Mutation(female=MutationModel("equal", rate=0.01), male=MutationModel("equal", rate=0.03))
    check_against_brute(ped.half_sibs(), "unrelated", Marker("M", af, typed, mut), theta=theta,
                        male=lambda labels, p: equal_matrix(3, 0.03),
                        female=lambda labels, p: equal_matrix(3, 0.01))


def first_cousin_h1_theta(g1, g2, p, theta):
    """First cousins, no mutation: kappa = (3/4, 1/4, 0) with the urn over distinct genes."""
    def orders(g):
        a, b = g
        return {(a, b), (b, a)}
    unrel = sum(urn([x, y, u, v], p, theta) for x, y in orders(g1) for u, v in orders(g2))
    ibd = 0.0  # one paternal allele of each cousin is the same gene
    for x, y in orders(g1):
        for u, v in orders(g2):
            if x == u:
                ibd += urn([x, y, v], p, theta)
    return 0.75 * unrel + 0.25 * ibd, unrel


@pytest.mark.parametrize("g1,g2", [("a/b", "a/b"), ("a/a", "a/b"), ("a/a", "a/a"), ("a/b", "c/d")])
@pytest.mark.parametrize("theta", [0.0, 0.05])
def test_first_cousins_theta_hand_formula(g1, g2, theta):
    # six untyped people (four untyped founders: eight alleles coupled by θ)
    af = {"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4}
    r = kinship_lr(ped.first_cousins(), "unrelated", [Marker("M", af, {"C1": g1, "C2": g2})], theta=theta)
    h1, h2 = first_cousin_h1_theta(tuple(g1.split("/")), tuple(g2.split("/")), af, theta)
    assert close(r.likelihood_h1["M"], h1)
    assert close(r.likelihood_h2["M"], h2)
    assert close(r.likelihood_h1["M"], genedrop_likelihood(ped.first_cousins(), af, {"C1": g1, "C2": g2}, theta))
    if theta == 0.0 and g1 == g2 == "a/b":
        assert close(r.lr_per_marker["M"], 0.75 + 0.25 * 0.3 / (4 * 0.02))


def test_first_cousins_theta_mixed_founders_brute_force():
    # typed grandfather and both spouses; untyped GM, P1, P2
    af = {"a": 0.3, "b": 0.2, "c": 0.5}
    mut = Mutation(female=MutationModel("equal", rate=0.02), male=MutationModel("proportional", rate=0.04))
    genos = {"_GF": "a/b", "_S1": "c/c", "_S2": "b/c", "C1": "a/c", "C2": "c/c"}
    check_against_brute(ped.first_cousins(), "unrelated", Marker("M", af, genos, mut), theta=0.08,
                        male=lambda labels, p: proportional_matrix(p, 0.04),
                        female=lambda labels, p: equal_matrix(3, 0.02))


@pytest.mark.parametrize("theta", [0.0, 0.06])
def test_inbred_founders_with_theta_brute_force(theta):
    # inbred untyped shared father, inbred typed mother, mutation
    h1 = [{"id": "FA", "sex": "M", "inbreeding": 0.25}, {"id": "M1", "sex": "F", "inbreeding": 0.1},
          {"id": "M2", "sex": "F"},
          {"id": "S1", "father": "FA", "mother": "M1"}, {"id": "S2", "father": "FA", "mother": "M2"}]
    af = {"a": 0.25, "b": 0.25, "c": 0.5}
    mut = Mutation(female=MutationModel("equal", rate=0.01), male=MutationModel("equal", rate=0.05))
    for genos in ({"M1": "a/a", "S1": "a/b", "S2": "b/b"}, {"M1": "a/b", "S1": "c/c", "S2": "c/c"}):
        check_against_brute(h1, "unrelated", Marker("M", af, genos, mut), theta=theta,
                            male=lambda labels, p: equal_matrix(3, 0.05),
                            female=lambda labels, p: equal_matrix(3, 0.01))


def test_inbred_typed_founders_in_h2_pedigree():
    # explicit H2 with inbred typed founders: P(a/a) = f p + (1 - f)(θ + (1-θ)p) p, etc.
    h2 = [{"id": "X", "sex": "M", "inbreeding": 0.5}, {"id": "Y", "sex": "F", "inbreeding": 0.2}]
    h1 = [{"id": "X", "sex": "M"}, {"id": "Y", "sex": "F", "father": "X"}]
    af = {"a": 0.4, "b": 0.6}
    theta = 0.05
    r = kinship_lr(h1, h2, [Marker("M", af, {"X": "a/a", "Y": "a/b"})], theta=theta)
    # H2: X tied (prob .5) draws one a; else two a's; Y tied impossible (het) -> (1 - .2) * 2 * ...
    tied = 0.5 * 0.8 * 2 * urn("aab", af, theta)
    free = 0.5 * 0.8 * 2 * urn("aaab", af, theta)
    assert close(r.likelihood_h2["M"], tied + free)
    p1 = make_pedigree(h1)
    assert close(r.likelihood_h1["M"], brute(p1, ["a", "b"], np.array([0.4, 0.6]), {"X": "a/a", "Y": "a/b"},
                                             theta=theta))


def test_inbred_founder_genedrop_theta():
    h = make_pedigree([{"id": "F", "sex": "M", "inbreeding": 0.4}, {"id": "M", "sex": "F", "inbreeding": 0.2},
                       {"id": "A", "father": "F", "mother": "M"}, {"id": "B", "father": "F", "mother": "M"},
                       {"id": "C", "father": "F", "mother": "M"}])
    af = {"a": 0.2, "b": 0.3, "c": 0.5}
    g = {"A": "a/b", "B": "a/a", "C": "b/c"}
    for theta in (0.0, 0.1):
        r = kinship_lr(h, "unrelated", [Marker("M", af, g)], theta=theta)
        assert close(r.likelihood_h1["M"], genedrop_likelihood(h, af, g, theta))


# ----------------------------------------------------------------------------------------
# Loops: cousin marriage and double first cousins


COUSIN_MARRIAGE = [
    {"id": "GF", "sex": "M"}, {"id": "GM", "sex": "F"},
    {"id": "P1", "father": "GF", "mother": "GM", "sex": "M"},
    {"id": "P2", "father": "GF", "mother": "GM", "sex": "F"},
    {"id": "S1", "sex": "F"}, {"id": "S2", "sex": "M"},
    {"id": "C1", "father": "P1", "mother": "S1", "sex": "M"},
    {"id": "C2", "father": "S2", "mother": "P2", "sex": "F"},
    {"id": "E", "father": "C1", "mother": "C2"},
]

DOUBLE_FIRST_COUSINS = [
    {"id": "GF1", "sex": "M"}, {"id": "GM1", "sex": "F"}, {"id": "GF2", "sex": "M"}, {"id": "GM2", "sex": "F"},
    {"id": "A", "father": "GF1", "mother": "GM1", "sex": "M"},
    {"id": "D", "father": "GF1", "mother": "GM1", "sex": "F"},
    {"id": "B", "father": "GF2", "mother": "GM2", "sex": "F"},
    {"id": "C", "father": "GF2", "mother": "GM2", "sex": "M"},
    {"id": "X", "father": "A", "mother": "B"}, {"id": "Y", "father": "C", "mother": "D"},
]


@pytest.mark.parametrize("theta", [0.0, 0.04])
@pytest.mark.parametrize("genos", [
    {"E": "a/a", "GF": "a/b"},
    {"E": "a/a", "C1": "a/b", "C2": "a/c"},
    {"E": "b/b", "S1": "a/b", "GM": "b/c"},
])
def test_cousin_marriage_genedrop(genos, theta):
    af = {"a": 0.1, "b": 0.3, "c": 0.6}
    h = make_pedigree(COUSIN_MARRIAGE)
    r = kinship_lr(h, "unrelated", [Marker("M", af, genos)], theta=theta)
    assert close(r.likelihood_h1["M"], genedrop_likelihood(h, af, genos, theta))
    assert close(r.likelihood_h2["M"], genedrop_likelihood(unrelated(list(genos)), af, genos, theta))


def test_cousin_marriage_homozygous_child_hand():
    # child of first cousins, F = 1/16: P(E = a/a) = F p + (1 - F) p^2 (θ = 0)
    af = {"a": 0.1, "b": 0.9}
    r = kinship_lr(COUSIN_MARRIAGE, "unrelated", [Marker("M", af, {"E": "a/a"})])
    assert close(r.likelihood_h1["M"], 0.1 / 16 + 15 / 16 * 0.01)


@pytest.mark.parametrize("theta", [0.0, 0.03])
def test_cousin_marriage_with_mutation_brute_force(theta):
    af = {"a": 0.2, "b": 0.3, "c": 0.5}
    mut = Mutation(female=MutationModel("equal", rate=0.02), male=MutationModel("proportional", rate=0.05))
    genos = {"GF": "a/b", "GM": "c/c", "S1": "b/c", "S2": "a/a", "C1": "b/b", "E": "a/c"}
    check_against_brute(COUSIN_MARRIAGE, "unrelated", Marker("M", af, genos, mut), theta=theta,
                        male=lambda labels, p: proportional_matrix(p, 0.05),
                        female=lambda labels, p: equal_matrix(3, 0.02))


@pytest.mark.parametrize("g1,g2", [("a/b", "a/b"), ("a/a", "a/a"), ("a/b", "c/d"), ("a/b", "a/c")])
def test_double_first_cousins_kappa(g1, g2):
    # kappa = (9/16, 6/16, 1/16); with θ = 0 the LR is k0 + k1 X1 + k2 X2
    af = {"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4}
    r = kinship_lr(DOUBLE_FIRST_COUSINS, "unrelated", [Marker("M", af, {"X": g1, "Y": g2})])
    single = kinship_lr(ped.half_sibs("X", "Y"), "unrelated", [Marker("M", af, {"X": g1, "Y": g2})])
    full = kinship_lr(ped.full_sibs("X", "Y"), "unrelated", [Marker("M", af, {"X": g1, "Y": g2})])
    # half sibs: 1/2 + X1/2;  full sibs: 1/4 + X1/2 + X2/4
    x1 = 2 * single.lr_per_marker["M"] - 1
    x2 = 4 * (full.lr_per_marker["M"] - 0.25 - x1 / 2)
    assert close(r.lr_per_marker["M"], 9 / 16 + 6 / 16 * x1 + 1 / 16 * x2)


@pytest.mark.parametrize("theta", [0.0, 0.02])
def test_double_first_cousins_theta_genedrop(theta):
    af = {"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4}
    h = make_pedigree(DOUBLE_FIRST_COUSINS)
    for genos in ({"X": "a/b", "Y": "a/b"}, {"X": "a/a", "Y": "a/c"}, {"X": "a/b", "Y": "c/d", "GF1": "a/c"}):
        r = kinship_lr(h, "unrelated", [Marker("M", af, genos)], theta=theta)
        assert close(r.likelihood_h1["M"], genedrop_likelihood(h, af, genos, theta))
        assert close(r.likelihood_h2["M"], genedrop_likelihood(unrelated(list(genos)), af, genos, theta))


def test_double_first_cousins_with_mutation_brute_force():
    af = {"a": 0.4, "b": 0.6}
    mut = Mutation(female=MutationModel("equal", rate=0.05), male=MutationModel("equal", rate=0.1))
    genos = {"GF1": "a/a", "GM1": "a/a", "GF2": "b/b", "GM2": "a/b", "X": "b/b", "Y": "a/b"}
    check_against_brute(DOUBLE_FIRST_COUSINS, "unrelated", Marker("M", af, genos, mut), theta=0.05,
                        male=lambda labels, p: equal_matrix(2, 0.1),
                        female=lambda labels, p: equal_matrix(2, 0.05))


# ----------------------------------------------------------------------------------------
# Different people typed at different markers; batching across cases


def _case_markers():
    af3 = {"a": 0.2, "b": 0.3, "c": 0.5}
    af10 = {str(k): w for k, w in zip(range(8, 18), [0.05, 0.1, 0.15, 0.2, 0.1, 0.1, 0.1, 0.08, 0.07, 0.05])}
    af9 = {str(k): 1 / 9 for k in range(5, 14)}
    eq = Mutation(female=MutationModel("equal", rate=0.01), male=MutationModel("equal", rate=0.03))
    sw = Mutation(female=MutationModel("stepwise", rate=0.005), male=MutationModel("stepwise", rate=0.02, range=0.3))
    return [
        Marker("A", af3, {"GF": "a/b", "CH": "b/c"}, eq),
        Marker("B", af3, {"CH": "a/a", "FA": "a/c"}, eq),
        Marker("C", af3, {"GF": "a/a", "FA": "b/c", "CH": "c/c"}, None),
        Marker("D", af10, {"GF": "8/12", "FA": "12/16", "CH": "13/17"}, sw),  # 10 alleles: padded to 16
        Marker("E", af9, {"FA": "5/13", "GF": "6/13"}, sw),               # 9 alleles
        Marker("F", af10, {"GF": "9/10", "CH": "11/12", "FA": "9/11"}, eq),  # lumped to 5
        Marker("G", af3, {"CH": "a/c"}, eq),
    ]


H_GP = [{"id": "GF", "sex": "M"}, {"id": "FA", "father": "GF", "sex": "M"}, {"id": "CH", "father": "FA"}]


def _matrices_for(marker, labels, p):
    if marker.mutation is None:
        return None, None
    out = []
    for model in (marker.mutation.male, marker.mutation.female):
        if model.model == "equal":
            out.append(equal_matrix(len(p), model.rate))
        else:
            out.append(stepwise_matrix(labels, model.rate, model.rate2, model.range))
    return out


@pytest.mark.parametrize("theta", [0.0, 0.02])
def test_people_typed_at_different_markers(theta):
    markers = _case_markers()
    r = kinship_lr(H_GP, "unrelated", markers, theta=theta)
    h = make_pedigree(H_GP)
    for m in markers:
        alone = kinship_lr(H_GP, "unrelated", [m], theta=theta)
        assert close(r.lr_per_marker[m.name], alone.lr_per_marker[m.name], rel=1e-12)
        labels, p = ref_table(m.afreq, as_pairs(m.genotypes))
        male, female = _matrices_for(m, labels, p)
        l1 = brute(h, labels, p, m.genotypes, male=male, female=female, theta=theta)
        l2 = brute(unrelated(list(m.genotypes)), labels, p, m.genotypes, theta=theta)
        assert close(r.likelihood_h1[m.name], l1), m.name
        assert close(r.likelihood_h2[m.name], l2), m.name
    assert close(r.lr_total, math.prod(r.lr_per_marker.values()), rel=1e-12)


def test_kinship_lr_many_equals_one_at_a_time():
    markers = _case_markers()
    cases = [
        ("gp0", H_GP, "unrelated", markers, 0.0),
        ("gp1", H_GP, "unrelated", markers[::-1], 0.03),
        ("sibs", ped.full_sibs("FA", "CH"), ped.half_sibs("FA", "CH"),
         [m for m in markers if "GF" not in m.genotypes], 0.01),
        ("trio", [{"id": "GF", "sex": "M"}, {"id": "MO", "sex": "F"},
                  {"id": "CH", "father": "GF", "mother": "MO"}, {"id": "FA", "sex": "M"}],
         "unrelated", markers, 0.0),
        ("gp2", H_GP, [{"id": "GF", "sex": "M"}, {"id": "FA", "sex": "M"}, {"id": "CH", "father": "GF"}],
         markers[2:5], 0.05),
    ]
    many = kinship_lr_many(cases)
    for (cid, h1, h2, ms, theta), got in zip(cases, many):
        one = kinship_lr(h1, h2, ms, theta=theta, case_id=cid)
        assert got.id == cid
        assert list(got.lr_per_marker) == [m.name for m in ms]
        for name, v in one.lr_per_marker.items():
            w = got.lr_per_marker[name]
            assert (math.isnan(v) and math.isnan(w)) or close(v, w, rel=1e-12), (cid, name, v, w)
        for m in ms:
            single = kinship_lr(h1, h2, [m], theta=theta)
            assert close(got.likelihood_h1[m.name], single.likelihood_h1[m.name], rel=1e-12)
            assert close(got.likelihood_h2[m.name], single.likelihood_h2[m.name], rel=1e-12)


# ----------------------------------------------------------------------------------------
# H2 as an explicit pedigree


def test_h2_explicit_pedigree_brute_force():
    # H1 full sibs, H2 half sibs through the mother (both have three or fewer untyped people)
    af = {"a": 0.2, "b": 0.3, "c": 0.5}
    mut = Mutation(female=MutationModel("equal", rate=0.02), male=MutationModel("equal", rate=0.06))
    genos = {"S1": "a/b", "S2": "b/c"}
    for theta in (0.0, 0.05):
        check_against_brute(ped.full_sibs(), ped.half_sibs(shared="mother"), Marker("M", af, genos, mut),
                            theta=theta, male=lambda labels, p: equal_matrix(3, 0.06),
                            female=lambda labels, p: equal_matrix(3, 0.02))


def test_h2_explicit_pedigree_with_extra_people():
    # H2 lists untyped people with no typed descendants: they change nothing
    af = {"a": 0.2, "b": 0.3, "c": 0.5}
    genos = {"AF": "a/b", "CH": "b/c"}
    h2 = [{"id": "AF", "sex": "M"}, {"id": "CH"}, {"id": "Z", "sex": "F"},
          {"id": "W", "father": "AF", "mother": "Z"}]
    r = kinship_lr(ped.duo(), h2, [Marker("M", af, genos)], theta=0.02)
    plain = kinship_lr(ped.duo(), "unrelated", [Marker("M", af, genos)], theta=0.02)
    assert close(r.lr_total, plain.lr_total, rel=1e-12)


@pytest.mark.parametrize("second_marker", [False, True])
def test_person_typed_but_missing_from_h2_is_named(second_marker):
    af = {"a": 0.5, "b": 0.5}
    markers = [Marker("M1", af, {"AF": "a/b", "CH": "a/a"})]
    if second_marker:
        markers = [Marker("M1", af, {"AF": "a/b"}), Marker("M2", af, {"CH": "a/b", "MO": "a/a"})]
    h1 = ped.trio()
    h2 = [{"id": "AF", "sex": "M"}, {"id": "MO", "sex": "F"}] if second_marker else [{"id": "AF", "sex": "M"}]
    with pytest.raises(PedigreeError, match="'CH'"):
        kinship_lr(h1, h2, markers)
    with pytest.raises(PedigreeError, match="'CH'"):
        kinship_lr_many([("c", h1, h2, markers, 0.0)])
    out = kinship_lr_many([("c", h1, h2, markers, 0.0), ("ok", h1, "unrelated", markers, 0.0)],
                          keep_going=True)
    assert isinstance(out[0], PedigreeError) and "'CH'" in str(out[0])
    assert not isinstance(out[1], Exception)


def test_person_typed_but_missing_from_h1_is_named():
    with pytest.raises(PedigreeError, match="'XX'"):
        kinship_lr(ped.duo(), "unrelated", [Marker("M", {"a": 1.0}, {"XX": "a/a"})])


# ----------------------------------------------------------------------------------------
# Many untyped founders under θ; founders with one child; the θ slot limit


def test_half_sib_fan_theta_single_child_mothers():
    # one father, five untyped mothers with one child each: twelve founder alleles, of which
    # only the father's two and one per mother matter
    people = [{"id": "FA", "sex": "M"}] + [{"id": f"M{k}", "sex": "F"} for k in range(5)] + \
             [{"id": f"S{k}", "father": "FA", "mother": f"M{k}"} for k in range(5)]
    af = {"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4}
    g = {"S0": "a/b", "S1": "a/c", "S2": "a/a", "S3": "a/d", "S4": "c/a"}
    h = make_pedigree(people)
    for theta in (0.0, 0.05):
        r = kinship_lr(h, "unrelated", [Marker("M", af, g)], theta=theta)
        assert close(r.likelihood_h1["M"], genedrop_likelihood(h, af, g, theta))


def test_nine_coupled_founder_alleles_theta():
    # untyped founders Af, Am, Bf, Bm (two children each) and Cm (one child): 9 slots
    people = [{"id": "Af", "sex": "M"}, {"id": "Am", "sex": "F"}, {"id": "Bf", "sex": "M"},
              {"id": "Bm", "sex": "F"}, {"id": "Cm", "sex": "F"},
              {"id": "A1", "father": "Af", "mother": "Am"}, {"id": "A2", "father": "Af", "mother": "Am"},
              {"id": "B1", "father": "Bf", "mother": "Bm"}, {"id": "B2", "father": "Bf", "mother": "Bm"},
              {"id": "C1", "father": "Af", "mother": "Cm"}]
    af = {"a": 0.2, "b": 0.3, "c": 0.5}
    g = {"A1": "a/b", "A2": "a/c", "B1": "b/b", "B2": "b/c", "C1": "a/a"}
    h = make_pedigree(people)
    r = kinship_lr(h, "unrelated", [Marker("M", af, g)], theta=0.05)
    assert close(r.likelihood_h1["M"], genedrop_likelihood(h, af, g, 0.05))
    assert close(r.likelihood_h2["M"], genedrop_likelihood(unrelated(list(g)), af, g, 0.05))


@pytest.mark.parametrize("theta", [0.0, 0.05])
def test_inbred_single_child_founders_with_mutation(theta):
    # untyped inbred founders with one child each (the mother; a grandmother)
    h1 = [{"id": "GF", "sex": "M"}, {"id": "GM", "sex": "F", "inbreeding": 0.5},
          {"id": "FA", "father": "GF", "mother": "GM", "sex": "M"},
          {"id": "MO", "sex": "F", "inbreeding": 0.25}, {"id": "CH", "father": "FA", "mother": "MO"}]
    af = {"a": 0.2, "b": 0.3, "c": 0.5}
    mut = Mutation(female=MutationModel("equal", rate=0.02), male=MutationModel("proportional", rate=0.05))
    for genos in ({"GF": "a/b", "CH": "c/c"}, {"GF": "a/a", "FA": "b/c", "CH": "c/c"}):
        check_against_brute(h1, "unrelated", Marker("M", af, genos, mut), theta=theta,
                            male=lambda labels, p: proportional_matrix(p, 0.05),
                            female=lambda labels, p: equal_matrix(3, 0.02))


def _twelve_slot_case():
    people = []
    for fam in "ABC":
        people += [{"id": f"{fam}f", "sex": "M"}, {"id": f"{fam}m", "sex": "F"},
                   {"id": f"{fam}1", "father": f"{fam}f", "mother": f"{fam}m"},
                   {"id": f"{fam}2", "father": f"{fam}f", "mother": f"{fam}m"}]
    g = {f"{f}{k}": "a/b" for f in "ABC" for k in (1, 2)}
    return people, [Marker("Mbig", {"a": 0.5, "b": 0.5}, g)]


def test_theta_slot_limit_names_case_and_marker_and_keep_going_isolates_it():
    people, markers = _twelve_slot_case()
    with pytest.raises(ReuniteError, match=r"(?s)'big'.*'Mbig'|'Mbig'.*'big'"):
        kinship_lr(people, "unrelated", markers, theta=0.01, case_id="big")
    ok = ("ok", ped.duo(), "unrelated", [Marker("M", {"a": 0.5, "b": 0.5}, {"AF": "a/a", "CH": "a/b"})], 0.01)
    out = kinship_lr_many([ok, ("big", people, "unrelated", markers, 0.01), ok], keep_going=True)
    assert isinstance(out[1], ReuniteError) and "big" in str(out[1])
    for res in (out[0], out[2]):
        # duo, father a/a, child a/b: LR = (1 + 2θ) / (2 (2θ + (1 - θ) p_a))
        assert close(res.lr_total, (1 + 2 * 0.01) / (2 * (2 * 0.01 + 0.99 * 0.5)))
    # θ = 0 has no such limit: three independent full-sib pairs, each a/b + a/b (LR 1.25)
    r = kinship_lr(people, "unrelated", markers, theta=0.0)
    assert close(r.lr_total, 1.25 ** 3)


# ----------------------------------------------------------------------------------------
# Smaller API details


def test_stepwise_table_order_does_not_matter():
    mut = Mutation(female=MutationModel("stepwise", rate=0.004, rate2=0.001, range=0.3),
                   male=MutationModel("stepwise", rate=0.01, rate2=0.002, range=0.6))
    genos = {"AF": "9.3/11", "MO": "9/10", "CH": "10.3/10"}
    a = kinship_lr(ped.trio(), "unrelated", [Marker("M", MICRO, genos, mut)], theta=0.02)
    shuffled = {k: MICRO[k] for k in ["10.3", "11", "9", "10", "9.3"]}
    b = kinship_lr(ped.trio(), "unrelated", [Marker("M", shuffled, genos, mut)], theta=0.02)
    assert close(a.lr_total, b.lr_total, rel=1e-12)
    assert a.lr_total > 0


def test_floor_argument_is_used_for_absent_alleles():
    af = {"9": 0.3, "10": 0.3, "11": 0.4}
    genos = {"AF": "10/15", "CH": "15/16"}
    mut = Mutation.same(MutationModel("equal", rate=0.01))
    for floor in (0.001, 0.02):
        check_against_brute(ped.duo(), "unrelated", Marker("M", af, genos, mut), theta=0.03, floor=floor,
                            male=lambda labels, p: equal_matrix(len(p), 0.01),
                            female=lambda labels, p: equal_matrix(len(p), 0.01))


def test_case_format_sex_specific_rates_reach_the_right_parent():
    # the JSON case format's {"female": x, "male": y} must give fathers the male rate
    from reunite.genetics.caseio import parse_case

    af = {"9": 0.2, "9.3": 0.1, "10": 0.3, "10.3": 0.15, "11": 0.25}
    raw = {"id": "t", "theta": 0.02,
           "H1": [{"id": "AF", "sex": "M"}, {"id": "MO", "sex": "F"}, {"id": "CH", "father": "AF", "mother": "MO"}],
           "markers": [{"name": "M", "afreq": af,
                        "genotypes": {"AF": "9/9", "MO": "10.3/11", "CH": "9.3/11"},
                        "mutation": {"model": "stepwise", "rate": {"female": 0.003, "male": 0.02},
                                     "rate2": {"female": 0.0001, "male": 0.004}, "range": 0.5}}]}
    case = parse_case(raw, number=1)
    r = kinship_lr(case.h1, case.h2, case.markers, theta=case.theta)
    labels, p = list(af), np.array(list(af.values()))
    mm = stepwise_matrix(labels, 0.02, 0.004, 0.5)
    mf = stepwise_matrix(labels, 0.003, 0.0001, 0.5)
    # child 9.3/11: paternal 9.3 from 9/9 (mutation, other microgroup), maternal 11 from 10.3/11,
    # or paternal 11 (mutation from 9) and maternal 9.3 (mutation from 10.3 or 11)
    i = {a: k for k, a in enumerate(labels)}
    h1 = 2 * urn(["9", "9", "10.3", "11"], dict(zip(labels, p)), 0.02) * (  # 2: mother het
        mm[i["9"], i["9.3"]] * 0.5 * (mf[i["10.3"], i["11"]] + mf[i["11"], i["11"]])
        + mm[i["9"], i["11"]] * 0.5 * (mf[i["10.3"], i["9.3"]] + mf[i["11"], i["9.3"]]))
    assert close(r.likelihood_h1["M"], h1)


@pytest.mark.parametrize("as_array", [False, True])
def test_custom_matrix_given_as_lists_or_array(as_array):
    # father a/a, child b/b: the child's paternal b is a mutation (0.1); maternal b has p_b
    # LR = P(H1)/P(H2) = p_a^2 * 0.1 * p_b / (p_a^2 p_b^2) = 0.1 / p_b
    matrix = [[0.9, 0.1], [0.1, 0.9]]
    mut = Mutation.same(MutationModel("custom", matrix=np.array(matrix) if as_array else matrix))
    r = kinship_lr(ped.duo(), "unrelated", [Marker("M", {"a": 0.5, "b": 0.5}, {"AF": "a/a", "CH": "b/b"}, mut)])
    assert close(r.lr_total, 0.1 / 0.5)
