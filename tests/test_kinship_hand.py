"""Hand-derived likelihood ratios (formulas in the comments)."""

import math

import pytest

from reunite.genetics import pedigree as ped
from reunite.genetics.kinship import Marker, Mutation, kinship_lr
from reunite.genetics.mutation import MutationModel

AF4 = {"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4}


def one(h1, genotypes, *, h2="unrelated", afreq=AF4, mutation=None, theta=0.0):
    r = kinship_lr(h1, h2, [Marker("M", afreq, genotypes, mutation)], theta=theta)
    return r.lr_per_marker["M"], r


def test_paternity_duo_is_one_over_four_p():
    # child a/b, father a/c: LR = 1 / (4 p_a)
    lr, _ = one(ped.duo("AF", "CH"), {"AF": "a/c", "CH": "a/b"})
    assert lr == pytest.approx(1 / (4 * 0.1), rel=1e-12)


def test_paternity_duo_homozygous_father_and_child():
    # father a/a, child a/a: LR = 1 / p_a (forrel's fixture: p = 0.05 gives 20)
    lr, _ = one(ped.duo("AF", "CH"), {"AF": "a/a", "CH": "a/a"}, afreq={"a": 0.05, "b": 0.95})
    assert lr == pytest.approx(20.0, rel=1e-12)


def test_trio_exclusion_without_mutation_is_zero_with_reason():
    not_father = [{"id": "AF", "sex": "M"}, {"id": "MO", "sex": "F"},
                  {"id": "CH", "father": None, "mother": "MO"}]
    lr, r = one(ped.trio(), {"AF": "c/c", "MO": "a/a", "CH": "a/b"}, h2=not_father)
    assert lr == 0.0
    assert r.lr_total == 0.0 and r.log10_lr_total == -math.inf
    assert "exclusion" in r.notes["M"]


def test_trio_exclusion_with_equal_model():
    # father c/c, mother a/a, child a/b; mutation only in fathers (equal, rate r):
    # LR = (r/(n-1)) / (p_b (1 - r) + (1 - p_b) r/(n-1))
    r_ = 0.002
    mut = Mutation(MutationModel("equal", rate=0.0), MutationModel("equal", rate=r_))
    not_father = [{"id": "AF", "sex": "M"}, {"id": "MO", "sex": "F"},
                  {"id": "CH", "father": None, "mother": "MO"}]
    lr, _ = one(ped.trio(), {"AF": "c/c", "MO": "a/a", "CH": "a/b"}, h2=not_father, mutation=mut)
    q = r_ / 3
    assert lr == pytest.approx(q / (0.2 * (1 - r_) + 0.8 * q), rel=1e-12)


@pytest.mark.parametrize("g1,g2,expected", [
    # full siblings, IBD (1/4, 1/2, 1/4): both a/b: 1/4 + (pa+pb)/(8 pa pb) + 1/(8 pa pb)
    ("a/b", "a/b", 0.25 + 0.3 / (8 * 0.02) + 1 / (8 * 0.02)),
    # both a/a: (1 + 1/pa)^2 / 4
    ("a/a", "a/a", (1 + 1 / 0.1) ** 2 / 4),
    # nothing shared: 1/4
    ("a/b", "c/d", 0.25),
])
def test_full_siblings(g1, g2, expected):
    lr, _ = one(ped.full_sibs(), {"S1": g1, "S2": g2})
    assert lr == pytest.approx(expected, rel=1e-12)


def test_half_siblings_and_grandparent():
    # one IBD allele with probability 1/2: both a/b: 1/2 + (pa + pb)/(8 pa pb)
    expected = 0.5 + 0.3 / (8 * 0.02)
    lr, _ = one(ped.half_sibs(), {"S1": "a/b", "S2": "a/b"})
    assert lr == pytest.approx(expected, rel=1e-12)
    lr, _ = one(ped.grandparent("GP", "CH"), {"GP": "a/b", "CH": "a/b"})
    assert lr == pytest.approx(expected, rel=1e-12)
    lr, _ = one(ped.half_sibs(shared="mother"), {"S1": "a/b", "S2": "a/b"})
    assert lr == pytest.approx(expected, rel=1e-12)


def test_grandparents_both_typed():
    # grandparents a/b and b/d, grandchild a/c: the paternal allele is a with probability
    # 1/2 (father got a from GF) x 1/2 (father passes it) = 1/4, and c is impossible, so
    # P(H1) = p_c / 4 and LR = (p_c / 4) / (2 p_a p_c) = 1 / (8 p_a)
    h1 = ped.make_pedigree([{"id": "GF", "sex": "M"}, {"id": "GM", "sex": "F"},
                            {"id": "FA", "father": "GF", "mother": "GM", "sex": "M"},
                            {"id": "CH", "father": "FA"}])
    lr, _ = one(h1, {"GF": "a/b", "GM": "b/d", "CH": "a/c"})
    assert lr == pytest.approx(1 / (8 * 0.1), rel=1e-12)


def test_theta_single_founder_and_duo():
    # one A/A founder, p = 0.3, θ = 0.01: P = p (θ + (1-θ) p) = 0.0921
    _, r = one(ped.unrelated(["X"]), {"X": "a/a"}, afreq={"a": 0.3, "b": 0.7}, theta=0.01)
    assert r.likelihood_h1["M"] == pytest.approx(0.0921, rel=1e-12)
    # duo, child a/b, father a/c, θ = 0.03: LR = (1 + 2θ) / (4 (θ + (1-θ) p_a))
    t = 0.03
    lr, _ = one(ped.duo(), {"AF": "a/c", "CH": "a/b"}, theta=t)
    assert lr == pytest.approx((1 + 2 * t) / (4 * (t + (1 - t) * 0.1)), rel=1e-12)


def test_both_impossible_gives_nan_with_reason():
    # H2 also claims the mother: mother a/a, child b/b is impossible under both
    h = [{"id": "MO", "sex": "F"}, {"id": "CH", "mother": "MO"}]
    lr, r = one(h, {"MO": "a/a", "CH": "b/b"}, h2=h)
    assert math.isnan(lr) and math.isnan(r.lr_total)
    assert "0/0" in r.notes["M"]


def test_impossible_under_h2_only_is_inf():
    h2 = [{"id": "MO", "sex": "F"}, {"id": "CH", "mother": "MO"}]
    lr, r = one(ped.unrelated(["MO", "CH"]), {"MO": "a/a", "CH": "b/b"}, h2=h2)
    assert math.isinf(lr) and r.log10_lr_total == math.inf


def test_inbred_founder():
    # founder with inbreeding f: P(a/a) = f p + (1 - f) p^2
    h = [{"id": "X", "sex": "M", "inbreeding": 0.25}]
    _, r = one(h, {"X": "a/a"}, afreq={"a": 0.3, "b": 0.7})
    assert r.likelihood_h1["M"] == pytest.approx(0.25 * 0.3 + 0.75 * 0.09, rel=1e-12)


def test_rare_allele_gets_floor_and_is_reported():
    lr, r = one(ped.duo(), {"AF": "a/z", "CH": "z/b"})
    # z gets 0.001, table renormalised by 1.001: LR = 1/(4 p_z)
    assert lr == pytest.approx(1 / (4 * 0.001 / 1.001), rel=1e-12)
    assert "z" in r.notes["M"] and "floor" in r.notes["M"]


def test_table_off_by_rounding_is_rescaled_and_recorded():
    rounded = {"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.3996}
    exact = {k: v / sum(rounded.values()) for k, v in rounded.items()}
    h1 = ped.avuncular("U", "CH")
    g = {"U": "a/b", "CH": "b/c"}
    lr_rounded, r = one(h1, g, afreq=rounded)
    lr_exact, _ = one(h1, g, afreq=exact)
    assert lr_rounded == pytest.approx(lr_exact, rel=1e-12)
    assert "renormalised" in r.provenance["frequency_notes"]["M"]


def test_too_many_theta_coupled_founders_is_refused_with_reason():
    from reunite.errors import ReuniteError

    # six untyped founders with two typed children each side: 12 coupled alleles
    people = [{"id": f"F{k}", "sex": "M"} for k in range(6)] + [{"id": f"M{k}", "sex": "F"} for k in range(6)]
    people += [{"id": f"A{k}", "father": f"F{k}", "mother": f"M{k}"} for k in range(6)]
    people += [{"id": f"B{k}", "father": f"F{k}", "mother": f"M{k}"} for k in range(6)]
    genos = {f"{x}{k}": "a/b" for x in "AB" for k in range(6)}
    with pytest.raises(ReuniteError, match="at most 10"):
        kinship_lr(people, "unrelated", [Marker("M", AF4, genos)], theta=0.01)
    assert kinship_lr(people, "unrelated", [Marker("M", AF4, genos)], theta=0.0).lr_total > 0
