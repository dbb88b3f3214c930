import numpy as np
import pytest

from reunite.errors import FrequencyError, MutationModelError
from reunite.genetics.frequencies import get_population, list_populations, prepare_afreq
from reunite.genetics.loci import normalise_allele, normalise_locus
from reunite.genetics.mutation import MutationModel, lump_matrix
from reunite.genetics.rates import locus_rates


@pytest.mark.parametrize("raw,canonical", [
    ("vWA", "VWA"), ("Penta D", "PENTA_D"), ("PentaD", "PENTA_D"), ("penta_e", "PENTA_E"),
    ("TH01", "TH01"), ("THO1", "TH01"), ("D22GATA198B05", "D22GATA198B05"), ("D22GATA", "D22GATA198B05"),
    (" d3s1358 ", "D3S1358"),
])
def test_locus_names_are_normalised(raw, canonical):
    assert normalise_locus(raw) == canonical


@pytest.mark.parametrize("raw,canonical", [("9.3", "9.3"), ("15", "15"), ("15.0", "15"), (15, "15"),
                                           (30.2, "30.2"), ("X", "X")])
def test_alleles_are_normalised(raw, canonical):
    assert normalise_allele(raw) == canonical


def test_shipped_tables():
    names = [p.name for p in list_populations()]
    assert "CHN_national_GBT37223" in names and "CHN_Yi_HGDP" in names and len(names) == 25
    chn = get_population("CHN_national_GBT37223")
    assert len(chn.loci) == 59
    assert abs(sum(chn.locus("vWA").afreq.values()) - 1) < 0.001
    han = get_population("CHN_Han_HGDP")
    assert han.locus("TH01").n_individuals >= 38
    with pytest.raises(FrequencyError, match="unknown population"):
        get_population("Atlantis")
    with pytest.raises(FrequencyError, match="no table for locus"):
        chn.locus("NOT_A_LOCUS")


def test_rare_allele_rule_and_sum_check():
    alleles, p, notes = prepare_afreq({"10": 0.5, "11": 0.5}, observed=["12"], n_individuals=100)
    assert alleles == ["10", "11", "12"]
    assert p[2] == pytest.approx(0.025 / 1.025) and p.sum() == pytest.approx(1.0)
    assert "5/2N" in notes[0]
    with pytest.raises(FrequencyError, match="sum to 0.9"):
        prepare_afreq({"10": 0.5, "11": 0.4})
    _, p, notes = prepare_afreq({"10": 0.5, "11": 0.4}, normalise=True)
    assert p.sum() == pytest.approx(1.0) and "renormalised" in notes[0]
    # SE33 in the Chinese table sums to 0.954: an error unless normalised
    se33 = get_population("CHN_national_GBT37223").locus("SE33")
    with pytest.raises(FrequencyError):
        prepare_afreq(se33.afreq)


def test_mutation_models_rows_sum_to_one_and_match_definitions():
    alleles = ["8", "9", "9.3", "10", "11", "12.3"]
    p = np.array([0.1, 0.2, 0.05, 0.3, 0.25, 0.1])
    for model in [MutationModel("equal", rate=0.01), MutationModel("proportional", rate=0.01),
                  MutationModel("stepwise", rate=0.01, rate2=0.001, range=0.5)]:
        m = model.transition_matrix(alleles, p)
        assert np.allclose(m.sum(axis=1), 1.0, atol=1e-15)
    m = MutationModel("stepwise", rate=0.01, rate2=0.001, range=0.5).transition_matrix(alleles, p)
    # 10 -> 9 and 10 -> 11 are one step (weight 0.5), 10 -> 8 two steps (0.25), 10 -> 12.3 other group
    w = np.array([0.25, 0.5, 0.5])
    assert m[3, 1] == pytest.approx(0.01 * 0.5 / w.sum())
    assert m[3, 5] == pytest.approx(0.001 / 2)
    assert m[3, 3] == pytest.approx(1 - 0.011)
    # 9.3 and 12.3 share microgroup 3
    assert m[2, 2] == pytest.approx(1 - 0.011) and m[2, 5] == pytest.approx(0.01)
    # 9.3 alone in its microgroup: diagonal 1 - rate2
    alone = MutationModel("stepwise", rate=0.01, rate2=0.001).transition_matrix(
        ["9", "9.3", "10"], np.array([0.3, 0.3, 0.4]))
    assert alone[1, 1] == pytest.approx(1 - 0.001) and alone[1, 0] == pytest.approx(0.0005)
    one = MutationModel("onestep", rate=0.02).transition_matrix(
        ["8", "9", "10", "12"], np.array([0.3, 0.3, 0.2, 0.2]))
    assert one[0, 1] == 0.02 and one[1, 0] == 0.01 and one[1, 2] == 0.01 and one[3, 3] == 1.0
    with pytest.raises(MutationModelError, match="integer"):
        MutationModel("onestep", rate=0.02).transition_matrix(["9.3", "10"], np.array([0.5, 0.5]))
    with pytest.raises(MutationModelError, match="numeric"):
        MutationModel("stepwise", rate=0.02).transition_matrix(["X", "10"], np.array([0.5, 0.5]))
    with pytest.raises(MutationModelError, match="largest valid rate"):
        MutationModel("proportional", rate=0.9).transition_matrix(["9", "10"], np.array([0.99, 0.01]))


def test_lumping_is_exact_only_when_allowed():
    p = np.array([0.1, 0.2, 0.3, 0.4])
    eq = MutationModel("equal", rate=0.01).transition_matrix(list("abcd"), p)
    lumped = lump_matrix(eq, np.array([0, 2]))
    assert lumped.shape == (3, 3) and np.allclose(lumped.sum(axis=1), 1)
    step = MutationModel("stepwise", rate=0.01, range=0.5).transition_matrix(["8", "9", "10", "11"], p)
    assert lump_matrix(step, np.array([1])) is None


def test_default_rates():
    fga = locus_rates("FGA")
    assert fga.male == 0.0032 and fga.female == 0.0005 and "AABB" in fga.source
    d12 = locus_rates("D12S391")
    assert (d12.female + d12.male) / 2 == pytest.approx(0.003) and d12.male > d12.female
    pd = locus_rates("Penta D")
    assert pd.male > 0 and pd.female > 0
