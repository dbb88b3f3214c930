"""Planning statistics for one family (reunite.genetics.planning) against naive oracles:
the kinship engine genotype by genotype, brute-force sums over every genotype combination of
two small markers, and closed forms (duo and trio exclusion, E_H2[LR] = 1)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from reunite.errors import ReuniteError
from reunite.genetics import planning as P
from reunite.genetics.kinship import Marker, Mutation, kinship_lr
from reunite.genetics.kits import kit_markers
from reunite.genetics.mutation import MutationModel
from reunite.genetics.pedigree import Individual, make_pedigree

AFREQ1 = {"10": 0.1, "11": 0.2, "12": 0.3, "13": 0.4}
AFREQ2 = {"7": 0.25, "8": 0.05, "9": 0.5, "9.3": 0.2}
STEP = Mutation.same(MutationModel("stepwise", rate=0.01, rate2=1e-4, range=0.1))
EQUAL = Mutation(MutationModel("equal", rate=0.002), MutationModel("equal", rate=0.005))

NUCLEAR = [{"id": "FA", "sex": "M"}, {"id": "MO", "sex": "F"}, {"id": "M", "father": "FA", "mother": "MO", "sex": "M"}]
GRANDPARENTS = [{"id": "GF", "sex": "M"}, {"id": "GM", "sex": "F"}, {"id": "FA", "father": "GF", "mother": "GM", "sex": "M"},
                {"id": "MO", "sex": "F"}, {"id": "M", "father": "FA", "mother": "MO", "sex": "F"},
                {"id": "S1", "father": "FA", "mother": "MO", "sex": "M"}]


def _lr_by_engine(people, missing, marker, g, theta):
    """The search's LR for a child of genotype g: U in M's place against U unrelated."""
    ped = make_pedigree(people)
    h1 = [Individual("U" if p.id == missing else p.id, "U" if p.father == missing else p.father,
                     "U" if p.mother == missing else p.mother, p.sex) for p in ped.individuals]
    h2 = list(ped.individuals) + [Individual("U", None, None, ped[missing].sex)]
    mk = Marker(marker.name, marker.afreq, {**marker.genotypes, "U": g}, marker.mutation, marker.n_individuals)
    return kinship_lr(h1, h2, [mk], theta=theta).lr_total


@pytest.mark.parametrize("theta", [0.0, 0.03])
@pytest.mark.parametrize("people,refs,mutation", [
    (NUCLEAR, {"MO": ("11", "12")}, None),
    (NUCLEAR, {"FA": ("10", "13"), "MO": ("12", "12")}, STEP),
    (GRANDPARENTS, {"GF": ("10", "11"), "S1": ("12", "13")}, EQUAL),
    (GRANDPARENTS, {"GM": ("13", "13")}, STEP),
])
def test_lr_of_every_genotype_is_the_kinship_engines(people, refs, mutation, theta):
    marker = Marker("D1", AFREQ1, refs, mutation)
    [d] = P.marker_distributions(make_pedigree(people), missing="M", markers=[marker], theta=theta)
    assert len(d.lr) == 10
    assert math.isclose(d.p_h1.sum(), 1.0, rel_tol=1e-12) and math.isclose(d.p_h2.sum(), 1.0, rel_tol=1e-12)
    for k in range(len(d.lr)):
        g = tuple(d.genotype_label(k).split("/"))
        expected = _lr_by_engine(people, "M", marker, g, theta)
        assert d.lr[k] == pytest.approx(expected, rel=1e-9, abs=0.0), g
    # the LR of an unrelated child averages to exactly 1 (where the child is possible)
    assert d.expected_lr("h2") == pytest.approx(1.0, rel=1e-12)


def test_hwe_genotype_probabilities_at_theta_zero():
    marker = Marker("D1", AFREQ1, {"MO": ("11", "12")}, None)
    [d] = P.marker_distributions(make_pedigree(NUCLEAR), missing="M", markers=[marker])
    p = list(AFREQ1.values())
    for k, (a, b) in enumerate(d.genotypes):
        assert d.p_h2[k] == pytest.approx(p[a] ** 2 if a == b else 2 * p[a] * p[b], rel=1e-12)


def test_duo_exclusion_closed_form():
    ped = make_pedigree(NUCLEAR)
    duo_het = Marker("D1", AFREQ1, {"MO": ("11", "12")}, STEP)
    duo_hom = Marker("D2", AFREQ2, {"MO": ("9", "9")}, None)
    d1, d2 = P.marker_distributions(ped, missing="M", markers=[duo_het, duo_hom])
    pe1 = (1 - 0.2 - 0.3) ** 2
    pe2 = (1 - 0.5) ** 2
    assert d1.exclusion == pytest.approx(pe1, rel=1e-12)
    assert d2.exclusion == pytest.approx(pe2, rel=1e-12)
    assert P.exclusion_power([d1, d2]) == pytest.approx(1 - (1 - pe1) * (1 - pe2), rel=1e-12)


def test_trio_exclusion_closed_form():
    """Parents a/b and c/d: the child is compatible iff one allele from each parent."""
    ped = make_pedigree(NUCLEAR)
    for fa, mo in ((("10", "11"), ("12", "13")), (("10", "12"), ("12", "13")), (("11", "11"), ("11", "13"))):
        [d] = P.marker_distributions(ped, missing="M", markers=[Marker("D1", AFREQ1, {"FA": fa, "MO": mo}, EQUAL)])
        compatible = {tuple(sorted((x, y))) for x in fa for y in mo}
        p = AFREQ1
        prob = sum(p[a] ** 2 if a == b else 2 * p[a] * p[b] for a, b in compatible)
        assert d.exclusion == pytest.approx(1 - prob, rel=1e-12)


def test_forrels_exclusion_power_and_expected_lr_cases():
    """The closed forms of forrel's own tests (tests/testthat/test-exclusion.R and
    test-expectedLR.R, magnusdv/forrel): exclusionPower with both parents typed (1/1 and 2/2:
    1 - 2 p1 p2), with the child typed and the father the person of interest ((1 - p1)^2), and
    expectedLR for a child with its mother typed 1/2 (1/(8p(1-p)) + 1/2) and also its father
    typed 1/1 (1/(8p(1-p)) + 1/(4p^2))."""
    afr = {"1": 0.5, "2": 0.3, "3": 0.2}
    ped = make_pedigree(NUCLEAR)
    [d] = P.marker_distributions(ped, missing="M", markers=[Marker("D1", afr, {"FA": ("1", "1"), "MO": ("2", "2")})])
    assert d.exclusion == pytest.approx(1 - 2 * 0.5 * 0.3, rel=1e-12)
    [d] = P.marker_distributions(ped, missing="FA", markers=[Marker("D1", afr, {"M": ("1", "1")})])
    assert d.exclusion == pytest.approx((0.3 + 0.2) ** 2, rel=1e-12)
    p = 0.9
    two = {"1": p, "2": 1 - p}
    [d] = P.marker_distributions(ped, missing="M", markers=[Marker("D1", two, {"MO": ("1", "2")})])
    assert d.expected_lr("h1") == pytest.approx(1 / (8 * p * (1 - p)) + 1 / 2, rel=1e-12)
    [d] = P.marker_distributions(ped, missing="M", markers=[Marker("D1", two, {"MO": ("1", "2"), "FA": ("1", "1")})])
    assert d.expected_lr("h1") == pytest.approx(1 / (8 * p * (1 - p)) + 1 / (4 * p ** 2), rel=1e-12)


def test_references_needing_a_mutation_give_nan_exclusion_with_a_reason():
    ped = make_pedigree(GRANDPARENTS)  # S1 cannot be the child of FA (GF x GM = 10/10 x 10/10) without mutation
    m = Marker("D1", AFREQ1, {"GF": ("10", "10"), "GM": ("10", "10"), "S1": ("13", "13"), "MO": ("13", "13")}, STEP)
    [d] = P.marker_distributions(ped, missing="M", markers=[m])
    assert math.isnan(d.exclusion) and "mutation" in d.note
    assert d.usable and d.p_h1.sum() == pytest.approx(1.0)
    assert P.exclusion_power([d]) == 0.0


def _brute_force(dists):
    """Every combination of genotypes of the markers: (P_H1, P_H2, log10 LR) of the total."""
    rows = []
    for combo in itertools.product(*[range(len(d.lr)) for d in dists]):
        p1 = math.prod(d.p_h1[k] for d, k in zip(dists, combo))
        p2 = math.prod(d.p_h2[k] for d, k in zip(dists, combo))
        lr = math.prod(d.lr[k] for d, k in zip(dists, combo))
        rows.append((p1, p2, lr))
    return rows


def _two_markers():
    ped = make_pedigree(GRANDPARENTS)
    markers = [Marker("D1", AFREQ1, {"GF": ("10", "11"), "GM": ("12", "13")}, STEP),
               Marker("D2", AFREQ2, {"GF": ("9", "9.3"), "S1": ("7", "9")}, EQUAL)]
    return P.marker_distributions(ped, missing="M", markers=markers)


def test_exact_means_and_exceedance_against_brute_force():
    dists = _two_markers()
    rows = _brute_force(dists)
    assert sum(p1 for p1, _, _ in rows) == pytest.approx(1.0, rel=1e-12)
    e1 = math.fsum(p1 * math.log10(lr) for p1, _, lr in rows if p1 > 0)
    e2 = math.fsum(p2 * math.log10(lr) for _, p2, lr in rows if p2 > 0)
    assert P.mean_log10_lr(dists, "h1") == pytest.approx(e1, rel=1e-9)
    assert P.mean_log10_lr(dists, "h2") == pytest.approx(e2, rel=1e-9)
    assert math.fsum(p2 * lr for _, p2, lr in rows) == pytest.approx(1.0, rel=1e-12)
    n = 200_000
    h1 = P.simulate_log10_lr(dists, hypothesis="h1", num_simulations=n, seed=5)
    h2 = P.simulate_log10_lr(dists, hypothesis="h2", num_simulations=n, seed=6)
    assert h1.mean() == pytest.approx(e1, abs=5 * h1.std() / math.sqrt(n))
    for t in (0.5, 2.0, 10.0, 50.0):
        exact1 = math.fsum(p1 for p1, _, lr in rows if lr >= t)
        exact2 = math.fsum(p2 for _, p2, lr in rows if lr >= t)
        row = P.exceedance(h1, math.log10(t), log10_h2=h2)
        assert abs(row["p_h1"] - exact1) <= 5 * max(row["se_h1"], 1e-4)
        assert abs(row["p_h2"] - exact2) <= 5 * max(row["se_h2"], 1e-6)
        assert abs(row["p_h2_plain"] - exact2) <= 5 * math.sqrt(exact2 * (1 - exact2) / n) + 1e-5


def test_tilted_importance_sampling_against_brute_force_from_rare_to_common():
    """A trio on four markers: every threshold, from below the unrelated children's bulk to
    far above the true child's, against the exact sums over all 10^4 genotype combinations
    (importance sampling from H1 alone cannot reach the low thresholds here)."""
    ped = make_pedigree(NUCLEAR)
    markers = [Marker("D1", AFREQ1, {"FA": ("10", "11"), "MO": ("12", "13")}, STEP),
               Marker("D2", AFREQ2, {"FA": ("7", "9"), "MO": ("9", "9.3")}, EQUAL),
               Marker("D3", AFREQ1, {"FA": ("13", "13"), "MO": ("10", "12")}, STEP),
               Marker("D4", AFREQ2, {"FA": ("8", "9.3"), "MO": ("7", "7")}, None)]
    dists = P.marker_distributions(ped, missing="M", markers=markers)
    rows = _brute_force(dists)
    ts = [1e-3, 1.0, 10.0, 1e3, 1e5, 1e7]
    power = P.family_power(dists, thresholds=ts, num_simulations=200_000, seed=8)
    for t, row in zip(ts, power.thresholds):
        exact1 = math.fsum(p1 for p1, _, lr in rows if lr >= t)
        exact2 = math.fsum(p2 for _, p2, lr in rows if lr >= t)
        # within 5 standard errors, plus the resolution of the plain draws (1/50,000) where those are used
        assert row["p_h1"] == pytest.approx(exact1, abs=5 * row["se_h1"] + 1e-4), t
        assert row["p_h2"] == pytest.approx(exact2, abs=5 * row["se_h2"] + 1e-12 * exact2), t
        assert row["se_h2"] <= 0.05 * exact2 or exact2 > 0.5  # a few per cent, however rare
    assert power.thresholds[-1]["p_h2"] < 1e-6 < power.thresholds[1]["p_h2"]


def test_importance_sampling_agrees_with_plain_monte_carlo_at_a_moderate_threshold():
    ped = make_pedigree(NUCLEAR)
    markers = kit_markers()[:8]
    from reunite.simulate import simulate_genotypes

    refs = simulate_genotypes(ped, markers=markers, seed=11, typed=["MO"])
    dists = P.marker_distributions(ped, missing="M", markers=refs)
    n = 400_000
    h2 = P.simulate_log10_lr(dists, hypothesis="h2", num_simulations=n, seed=2)
    row = P.family_power(dists, thresholds=[10.0], num_simulations=n, seed=1).thresholds[0]
    plain = float(np.mean(h2 >= 1.0))  # LR >= 10: common enough for plain Monte Carlo
    se_plain = math.sqrt(plain * (1 - plain) / n)
    assert plain > 1e-3
    assert abs(row["p_h2"] - plain) <= 5 * math.hypot(row["se_h2"], se_plain)
    h1 = P.simulate_log10_lr(dists, num_simulations=n, seed=3)
    assert abs(row["p_h1"] - np.mean(h1 >= 1.0)) <= 5 * math.hypot(row["se_h1"], 1 / math.sqrt(n))


def test_family_power_is_reproducible_and_seeded():
    dists = _two_markers()
    a = P.family_power(dists, thresholds=[1.0, 1.5], num_simulations=5000, seed=3)
    b = P.family_power(dists, thresholds=[1.0, 1.5], num_simulations=5000, seed=3)
    c = P.family_power(dists, thresholds=[1.0, 1.5], num_simulations=5000, seed=4)
    assert a.to_json() == b.to_json()
    assert a.thresholds != c.thresholds
    assert a.mean_log10_lr_h1 == c.mean_log10_lr_h1  # exact, not simulated
    assert set(a.quantiles_h1) == {"0.05", "0.25", "0.5", "0.75", "0.95"}


def test_relative_gain_mean_is_the_exact_average_over_the_relatives_genotype():
    """E[log10 LR | R typed] = sum_r P(r | refs) E[log10 LR | refs, R = r], with P(r | refs)
    from the kinship engine's likelihoods."""
    people = GRANDPARENTS
    ped = make_pedigree(people)
    markers = [Marker("D1", AFREQ1, {"GF": ("10", "11"), "S1": ("11", "13")}, STEP),
               Marker("D2", AFREQ2, {"GF": ("7", "9.3")}, None)]
    gains = P.relative_gains(ped, missing="M", markers=markers, threshold=10.0, num_simulations=2000, seed=1,
                             relatives=[("MO", "mother", False), ("GM", "paternal grandmother", False)])
    for g in gains:
        expected = 0.0
        for marker in markers:
            alleles = list(marker.afreq)
            base = kinship_lr(people, "unrelated", [marker]).likelihood_h1[marker.name]
            for a, b in itertools.combinations_with_replacement(alleles, 2):
                typed = Marker(marker.name, marker.afreq, {**marker.genotypes, g.person: (a, b)}, marker.mutation)
                q = kinship_lr(people, "unrelated", [typed]).likelihood_h1[marker.name] / base
                if q > 0:
                    [d] = P.marker_distributions(ped, missing="M", markers=[typed])
                    expected += q * d.mean_log10_lr("h1")
        assert g.mean_log10_lr_h1 == pytest.approx(expected, rel=1e-9)
    base = P.mean_log10_lr(P.marker_distributions(ped, missing="M", markers=markers))
    assert all(g.gain_mean_log10_lr == pytest.approx(g.mean_log10_lr_h1 - base, rel=1e-9) for g in gains)
    assert gains[0].gain_mean_log10_lr >= gains[1].gain_mean_log10_lr  # ranked


def test_relative_gain_from_drawn_genotypes_estimates_the_exact_mean():
    ped = make_pedigree(GRANDPARENTS)
    from reunite.simulate import simulate_genotypes

    refs = simulate_genotypes(ped, markers=kit_markers()[:6], seed=4, typed=["GF", "S1"])
    kw = dict(missing="M", markers=refs, threshold=100.0, num_simulations=2000, seed=1,
              relatives=[("MO", "mother", False), ("GM", "paternal grandmother", False)])
    exact = {g.person: g for g in P.relative_gains(ped, **kw)}
    drawn = P.relative_gains(ped, genotypes_per_marker=30, **kw)
    assert [g.to_json() for g in drawn] == [g.to_json() for g in P.relative_gains(ped, genotypes_per_marker=30, **kw)]
    for g in drawn:
        assert g.mean_log10_lr_h1 == pytest.approx(exact[g.person].mean_log10_lr_h1, abs=0.3)
    assert [g.person for g in drawn] == list(exact)


def test_candidate_relatives_and_relations():
    ped = make_pedigree(GRANDPARENTS)
    rel = P.candidate_relatives(ped, missing="M", typed={"GF", "S1"})
    names = {p: r for p, r, _ in rel}
    assert names == {"GM": "paternal grandmother", "FA": "father", "MO": "mother",
                     P.NEW_SIBLING_ID: "a further full sibling"}
    assert P.relation_to(ped, "S1", "M") == "full sibling"


def test_a_typed_father_adds_most_to_a_mother_only_family():
    ped = make_pedigree(NUCLEAR)
    from reunite.simulate import simulate_genotypes

    refs = simulate_genotypes(ped, markers=kit_markers()[:6], seed=2, typed=["MO"])
    gains = P.relative_gains(ped, missing="M", markers=refs, threshold=100.0, num_simulations=2000, seed=1)
    assert [g.person for g in gains] == ["FA", P.NEW_SIBLING_ID]
    assert gains[0].gain_mean_log10_lr > gains[1].gain_mean_log10_lr > 0


@pytest.mark.parametrize("kwargs,match", [
    ({"missing": "X"}, "not in the pedigree"),
    ({"theta": 1.0}, "theta"),
])
def test_bad_input_is_named(kwargs, match):
    args = {"missing": "M", "markers": [Marker("D1", AFREQ1, {"MO": ("11", "12")}, None)], **kwargs}
    with pytest.raises(ReuniteError, match=match):
        P.marker_distributions(make_pedigree(NUCLEAR), **args)


def test_typed_missing_person_and_bad_simulation_counts_are_refused():
    m = Marker("D1", AFREQ1, {"M": ("11", "12")}, None)
    with pytest.raises(ReuniteError, match="missing person"):
        P.marker_distributions(make_pedigree(NUCLEAR), missing="M", markers=[m])
    dists = _two_markers()
    with pytest.raises(ReuniteError, match="num_simulations"):
        P.simulate_log10_lr(dists, num_simulations=10, seed=1)
    with pytest.raises(ReuniteError, match="threshold"):
        P.family_power(dists, thresholds=[0.0], seed=1)


def test_rare_reference_allele_uses_the_engines_rule():
    m = Marker("D1", AFREQ1, {"MO": ("11", "14")}, None, n_individuals=500)
    [d] = P.marker_distributions(make_pedigree(NUCLEAR), missing="M", markers=[m])
    assert "14" in d.alleles and d.frequency_notes
    k = next(k for k in range(len(d.lr)) if d.genotype_label(k) == "14/14")
    assert d.lr[k] == pytest.approx(_lr_by_engine(NUCLEAR, "M", m, ("14", "14"), 0.0), rel=1e-9)
    assert np.all(np.isfinite(d.lr))


# ----------------------------------------------------------------------------------------
# the database: family types, gene dropping, expected false candidates

from reunite.genetics import planning_db as D  # noqa: E402


def test_gene_drop_follows_mendel_and_the_frequencies():
    ped = make_pedigree(NUCLEAR)
    markers = [Marker("D1", AFREQ1, {}, None), Marker("D2", AFREQ2, {}, None)]
    fams = D.gene_drop(ped, markers, num_families=20_000, typed=("FA", "MO", "M"), seed=3)
    counts = {a: 0 for a in AFREQ1}
    for fam in fams:
        g = fam[0].genotypes
        assert set(g["M"]) & set(g["FA"]) and set(g["M"]) & set(g["MO"])
        for a in g["FA"]:
            counts[a] += 1
    for a, p in AFREQ1.items():
        assert counts[a] / 40_000 == pytest.approx(p, abs=5 * math.sqrt(p * (1 - p) / 40_000))
    again = D.gene_drop(ped, markers, num_families=50, typed=("MO",), seed=3)
    assert [f[1].genotypes for f in again] == [f[1].genotypes for f in
                                               D.gene_drop(ped, markers, num_families=50, typed=("MO",), seed=3)]


def test_type_power_against_brute_force_over_the_simulated_families():
    """The type's P(LR >= t) is the average over its simulated families of the exact
    probabilities (brute force over every genotype combination of two markers)."""
    ped = make_pedigree(GRANDPARENTS)
    markers = [Marker("D1", AFREQ1, {}, STEP), Marker("D2", AFREQ2, {}, EQUAL)]
    ftype = D.FamilyType("grandparents", ped, "M", ("GF", "GM"), num_families=10, num_pairs=1000)
    ts = [0.5, 2.0, 5.0]
    tp = D.type_power(ftype, markers=markers, thresholds=ts, num_simulated_families=8, num_simulations=400_000,
                      seed=7)
    fams = D.gene_drop(ped, markers, num_families=8, typed=("GF", "GM"), seed=7)
    for j, t in enumerate(ts):
        exact1, exact2 = [], []
        for fam in fams:
            rows = _brute_force(P.marker_distributions(ped, missing="M", markers=fam))
            exact1.append(math.fsum(p1 for p1, _, lr in rows if lr >= t))
            exact2.append(math.fsum(p2 for _, p2, lr in rows if lr >= t))
        assert tp.p_h1[j] == pytest.approx(np.mean(exact1), abs=0.005)
        assert tp.p_h2[j] == pytest.approx(np.mean(exact2), abs=max(0.002, 0.05 * np.mean(exact2)))


def test_database_plan_sums_the_types_and_is_monotone():
    from reunite.simulate import FAMILY_TYPES

    markers = kit_markers()[:10]
    types = []
    for name, share, people in FAMILY_TYPES[:3]:
        ped = make_pedigree([{"id": p[0], "father": p[1], "mother": p[2], "sex": "U" if p[3] == "?" else p[3]}
                             for p in people])
        refs = tuple(p[0] for p in people if p[4] == "reference")
        types.append(D.FamilyType(name, ped, "M", refs, num_families=int(share * 100), num_pairs=int(share * 100) * 50))
    plan = D.database_plan(types, markers=markers, thresholds=[1, 10, 100, 1e4], num_simulated_families=5,
                           num_simulations=5000, seed=2)
    for j in range(4):
        assert plan.expected_false[j] == pytest.approx(sum(t.num_pairs * t.p_h2[j] for t in plan.types), rel=1e-12)
    assert all(a >= b for a, b in zip(plan.expected_false, plan.expected_false[1:]))
    assert all(a >= b for a, b in zip(plan.share_found, plan.share_found[1:]))
    same = D.database_plan(types, markers=markers, thresholds=[1, 10, 100, 1e4], num_simulated_families=5,
                           num_simulations=5000, seed=2)
    assert same.to_json() == plan.to_json()
    # a type's numbers do not depend on the other types
    alone = D.database_plan(types[:1], markers=markers, thresholds=[1, 10, 100, 1e4], num_simulated_families=5,
                            num_simulations=5000, seed=2)
    assert alone.types[0].p_h2 == plan.types[0].p_h2
    with pytest.raises(ReuniteError, match="no families"):
        D.database_plan([], markers=markers, seed=1)


def test_database_plan_standard_error_is_nan_when_a_type_has_none():
    """A type simulated from a single family has no standard error; the expected false
    candidates' standard error is then NaN, not the other types' alone (0 if there are none)."""
    ped = make_pedigree(GRANDPARENTS)
    markers = [Marker("D1", AFREQ1, {}, STEP), Marker("D2", AFREQ2, {}, EQUAL)]
    ftype = D.FamilyType("grandparents", ped, "M", ("GF", "GM"), num_families=10, num_pairs=1000)
    plan = D.database_plan([ftype], markers=markers, thresholds=[1, 10], num_simulated_families=1,
                           num_simulations=1000, seed=4)
    assert all(math.isnan(x) for x in plan.types[0].se_h2)
    assert all(math.isnan(x) for x in plan.se_expected_false)
    two = D.database_plan([ftype], markers=markers, thresholds=[1, 10], num_simulated_families=2,
                          num_simulations=1000, seed=4)
    assert two.se_expected_false == pytest.approx([1000 * x for x in two.types[0].se_h2], rel=1e-12)
