"""The Familias ``.fam`` reader against pedFamilias/dvir readings of the 14 example files
(tests/data/familias/fam_parsed, expected.json; see tests/data/familias/REFERENCE.md)."""

import json
import math
import random

import numpy as np
import pytest
from conftest import DATA

from reunite.errors import ReuniteError
from reunite.genetics.familias import decode_fam, fam_database, read_fam, read_fam_bytes
from reunite.genetics.kinship import kinship_lr
from reunite.genetics.mutation import MutationModel, build_matrix, stationary_pm

FAM = DATA / "familias"
FILES = sorted(p.name for p in (FAM / "fam").glob("*.fam"))
EXPECTED = json.loads((FAM / "expected.json").read_text())["fam_files"]
SEX = {1: "M", 2: "F"}


def parsed(name):
    return json.loads((FAM / "fam_parsed" / name.replace(".fam", ".json")).read_text())


def read(name):
    return read_fam(FAM / "fam" / name)


def test_all_fourteen_files_are_here():
    assert len(FILES) == 14


def check_marker(marker, expected):
    """Alleles, frequencies and matrices by allele label: reunite keeps the database's order,
    pedtools sorts the alleles (as text when one is not a number: exclusionExample)."""
    assert marker.name == expected["name"]
    assert marker.afreq == dict(zip(expected["alleles"], expected["afreq"]))
    if expected["mutation"] is None:
        assert marker.mutation is None, marker.name
        return
    ours_order = list(marker.afreq)
    perm = [expected["alleles"].index(a) for a in ours_order]
    afreq = np.array(list(marker.afreq.values()))
    for sex in ("female", "male"):
        model = getattr(marker.mutation, sex)
        assert isinstance(model, MutationModel)
        theirs = np.array(expected["mutation"].get(sex, expected["mutation"]["female"])["matrix"])
        ours = build_matrix(model, ours_order, afreq)
        assert np.max(np.abs(ours - theirs[np.ix_(perm, perm)])) <= 1e-12, (marker.name, sex)


@pytest.mark.parametrize("name", FILES)
def test_header_database_and_markers(name):
    fam, ref = read(name), parsed(name)
    assert fam.version == ref["familias_version"]
    assert fam.is_dvi == ref["is_dvi"]
    assert fam.database_only == bool(ref.get("database_only"))
    db = ref["database"]
    assert fam.database.name == (db["name"] or None)
    assert fam.database.theta == db["theta"]
    assert fam.database.db_size == db["db_size"]
    assert fam.database.dropout_value == db["dropout_value"]
    assert fam.database.maf == db["maf"]
    for m in fam.database.markers:
        assert m.genotypes == {}
    if fam.is_dvi:
        assert len(fam.dvi.markers) == ref["n_markers"]
        by_name = {m.name: m for m in fam.dvi.markers}
        assert [m.name for m in fam.dvi.markers] == [m["name"] for m in ref["markers"]]
        for m in ref["markers"]:
            check_marker(by_name[m["name"]], m)
        if "markers_pm" in ref:
            assert fam.markers_pm == [m["name"] for m in ref["markers_pm"]]
    else:
        assert len(fam.database.markers) == ref["n_markers"]
        for m, theirs in zip(fam.database.markers, ref["markers"], strict=True):
            check_marker(m, theirs)
            assert list(m.afreq) == theirs["alleles"]  # the same order in these files


KINSHIP = [n for n in FILES if "hypotheses" in parsed(n)]


@pytest.mark.parametrize("name", KINSHIP)
def test_hypotheses_and_genotypes(name):
    fam, ref = read(name), parsed(name)
    assert [h.name for h in fam.hypotheses] == [h["name"] for h in ref["hypotheses"]]
    for ours, theirs in zip(fam.hypotheses, ref["hypotheses"]):
        got = {p.id: (p.father, p.mother, p.sex) for p in ours.pedigree.individuals}
        want = {p["id"]: (p["father"], p["mother"], SEX[p["sex"]]) for p in theirs["individuals"]}
        assert got == want, ours.name
        assert ours.components == theirs["components"]
        assert ours.order == [p["id"] for p in theirs["individuals"]]
    assert sorted(fam.typed) == sorted(ref["typed"])
    genotypes = {}
    for m in fam.markers:
        for person, g in m.genotypes.items():
            genotypes.setdefault(person, {})[m.name] = list(g)
    assert genotypes == ref["genotypes"]  # allele order as written
    db_name = fam.database.name
    source = db_name if db_name and db_name.lower() not in ("unknown", "untitled database") else name
    assert {m.source for m in fam.markers} == {source}


@pytest.mark.parametrize("name", [n for n in KINSHIP if "kinship" in EXPECTED[n]])
def test_likelihoods_from_the_reader_agree_with_pedsuite(name):
    """Every hypothesis's likelihood, per marker, from this reader's output (reunite's
    mutation models, not the recorded matrices) against pedprobr, 1e-9 on the log."""
    fam, kinship = read(name), EXPECTED[name]["kinship"]
    assert [m.name for m in fam.markers] == kinship["markers"]
    for hyp in fam.hypotheses:
        result = kinship_lr(hyp.pedigree, "unrelated", fam.markers)
        for k, marker in enumerate(kinship["markers"]):
            theirs = kinship["loglik_per_marker"][hyp.name][k]
            ours = result.likelihood_h1[marker]
            if theirs == "-Inf":
                assert ours == 0.0, (hyp.name, marker)
            else:
                assert abs(math.log(ours) - theirs) <= 1e-9, (hyp.name, marker, math.log(ours), theirs)


def test_paternity_key_number():
    fam = read("paternity.fam")
    h1, h2 = fam.hypotheses
    assert math.isclose(kinship_lr(h1.pedigree, h2.pedigree, fam.markers).lr_total,
                        760.344485628422, rel_tol=1e-9)
    assert fam.markers[0].mutation.male.describe() == "stepwise(rate=0.002, rate2=1e-06, range=0.1)"
    assert fam.markers[0].mutation.female.rate == 0.001


def test_halfsib_rest_allele_and_crlf():
    fam = read("halfsib_case.fam")
    assert list(fam.markers[0].afreq) == ["16", "17", "Rest allele"]
    hs, un = fam.hypotheses
    assert math.isclose(kinship_lr(hs.pedigree, un.pedigree, fam.markers).lr_total, 34, rel_tol=1e-9)


@pytest.mark.parametrize("name", ["Exercise-Helicopter-Freq.fam", "Exercise-Screening-Freq.fam"])
def test_database_only(name):
    fam = read(name)
    assert fam.database_only and not fam.hypotheses and not fam.markers and fam.dvi is None
    assert [m.name for m in fam_database(FAM / "fam" / name).markers] == EXPECTED[name]["markers"]


# ----------------------------------------------------------------------------------------
# DVI files: dvir::familias2dvir(file, missingPrefix = "M")

DVI_FILES = [n for n in FILES if parsed(n)["is_dvi"]]


def test_dvi_only_with_a_dvi_section_line():
    assert DVI_FILES == ["Exercise-Helicopter-solved.fam", "KETPex497.fam", "KETPex498.fam",
                         "Solution3_3.fam", "dvi-example.fam", "exclusionExample.fam",
                         "planecrash.fam"]
    fam = read("Exercise-Screening-Freq.fam")  # version "3.4 (DVI)" without a [DVI] line
    assert fam.version == "3.4 (DVI)" and not fam.is_dvi and fam.database_only


@pytest.mark.parametrize("name", DVI_FILES)
def test_dvi_problem(name):
    fam, ref = read(name), parsed(name)
    problem = fam.dvi
    assert not fam.hypotheses and not fam.markers
    assert problem.name == ref["name"]
    assert len(problem.victims) == ref["n_victims"]
    assert [(v.id, v.sex, v.genotypes) for v in problem.victims] == [
        (v["id"], SEX[v["sex"]], {m: tuple(g) for m, g in v["genotypes"].items()})
        for v in ref["victims"]]
    assert len(problem.families) == ref["n_families"]
    for ours, theirs in zip(problem.families, ref["families"], strict=True):
        assert ours.name == theirs["name"]
        got = {p.id: (p.father, p.mother, p.sex) for p in ours.pedigree.individuals}
        want = {p["id"]: (p["father"], p["mother"], SEX[p["sex"]]) for p in theirs["individuals"]}
        assert got == want, ours.name
        assert list(ours.missing) == theirs["missing"]
        assert list(ours.genotypes) == theirs["typed"]
        assert ours.genotypes == {p: {m: tuple(g) for m, g in gs.items()}
                                  for p, gs in theirs["genotypes"].items()}
    assert [m for f in problem.families for m in f.missing] == ref["missing"]
    assert [{"family": f, "original": o, "dvir_label": lab} for f, o, lab in fam.label_map] == ref["label_map"]
    assert problem.pairings == {v: [None if m == "*" else m for m in ms] for v, ms in ref["pairings"].items()}
    for m in problem.markers:
        assert m.genotypes == {}


def test_dvi_rules_on_the_small_example():
    fam = read("dvi-example.fam")
    family = fam.dvi.families[0]
    # 'Missing person', named only in a relation, is added; its sex is the other parent's opposite
    assert ("Reference family 1", "Missing person", "M3") in fam.label_map
    assert family.pedigree["M3"].sex == "M" and family.pedigree["M1"].father == "M3"
    # 'Missing male 1' is not connected to R and is left out
    assert "Missing male 1" not in family.pedigree and len(family.pedigree) == 5
    assert any("Missing male 1" in w for w in fam.warnings)


def test_dvi_sex_rule_and_prefixes():
    fam = read("Solution3_3.fam")
    assert [v.sex for v in fam.dvi.victims] == ["M"] * 6 + ["F"] * 2
    assert {f.pedigree[m].sex for f in fam.dvi.families for m in f.missing} == {"F"}
    assert fam.dvi.pairings["PM1"] == [None]
    assert "Family 2_Father" in fam.dvi.families[1].pedigree  # typed in Family 1: prefixed
    heli = read("Exercise-Helicopter-solved.fam")
    assert "F1_F [Father]" in heli.dvi.families[0].genotypes
    assert "Father" in heli.dvi.families[2].pedigree  # untyped everywhere: kept as it is


def _pairwise_lr(problem, victim, family, missing):
    """LR of the victim placed on the missing person against the victim unrelated, computed
    with reunite's kinship engine from the reader's output alone."""
    from reunite.genetics.kinship import Marker
    from reunite.genetics.pedigree import Individual

    vid = "__victim__"

    def swap(x):
        return vid if x == missing else x

    placed = [Individual(swap(p.id), swap(p.father), swap(p.mother), p.sex)
              for p in family.pedigree.individuals]
    apart = list(family.pedigree.individuals) + [Individual(vid, None, None, victim.sex)]
    markers = []
    for m in problem.markers:
        genotypes = {p: g[m.name] for p, g in family.genotypes.items() if m.name in g}
        if m.name in victim.genotypes:
            genotypes[vid] = victim.genotypes[m.name]
        markers.append(Marker(m.name, m.afreq, genotypes, m.mutation, m.n_individuals, m.source))
    return kinship_lr(placed, apart, markers).lr_total


@pytest.mark.parametrize("name", DVI_FILES)
def test_dvi_pairwise_lrs_from_the_reader_agree_with_dvir(name):
    """dvir's pairwiseLR matrix from this reader's DVI problem (victims, families, markers and
    mutation models), computed with reunite's kinship engine; 1e-9 relative."""
    problem = read(name).dvi
    table = EXPECTED[name]["dvi"]["pairwise"]["LR"]
    victims = {v.id: v for v in problem.victims}
    family_of = {m: f for f in problem.families for m in f.missing}
    for row, vid in zip(table["values"], table["rows"]):
        for value, mid in zip(row, table["cols"]):
            if value is None:
                assert mid not in problem.pairings[vid]
                continue
            ours = _pairwise_lr(problem, victims[vid], family_of[mid], mid)
            if value == 0:
                assert ours == 0, (vid, mid, ours)
            else:
                assert math.isclose(ours, value, rel_tol=1e-9), (vid, mid, ours, value)


def _dvi_example():
    return (FAM / "fam" / "dvi-example.fam").read_text()


@pytest.mark.parametrize("edit, words", [
    (lambda t: t.replace("Name= Reference pedigree", "Name= Other pedigree"), "has 2 pedigrees"),
    (lambda t: t.replace("Name= Missing male 1\nGender= Male\n[[[[[[DNA data]]]]]]\nnSystems= 0",
                         "Name= Missing male 1\nGender= Male\n[[[[[[DNA data]]]]]]\nnSystems= 1\n"
                         "SystemName= L1\nAllele1= 1\nAllele2= 2"), "unconnected parts"),
    (lambda t: t.replace("[[Notes]]", "[[Mystery]]"), "unknown heading"),
    (lambda t: t.replace("nPersons= 4", "nPersons= 5"), "announces 5 persons"),
    (lambda t: t.replace("nPersons= 3", "nPersons= 0").split("[[[Person 1 ]]]")[0]
     + "[[Notes]]" + t.split("[[Notes]]")[1], "no unidentified persons"),
    (lambda t: t.replace("SystemName= L1\nAllele1= 1\nAllele2= 1\n[[[Person 2",
                         "SystemName= L1\nAllele1= 7\nAllele2= 1\n[[[Person 2"), "allele '7'"),
    (lambda t: t.replace("SystemName= L1\nAllele1= 2", "SystemName= L9\nAllele1= 2", 1),
     "marker 'L9'"),
    (lambda t: t.replace("Name= R\nGender= Female", "Name= R\nGender= Unknown"), "sex of the parent"),
    (lambda t: t.replace("Parent= Missing person\nChild= Missing male 2",
                         "Parent= Missing male 3\nChild= R"), "own ancestor"),
])
def test_dvi_refusals(edit, words):
    text = edit(_dvi_example())
    assert text != _dvi_example()
    with pytest.raises(ReuniteError) as info:
        read_fam_bytes(text.encode(), name="dvi.fam")
    assert str(info.value).startswith("dvi.fam") and words in str(info.value), str(info.value)


# ----------------------------------------------------------------------------------------
# The stationary stepwise model (Familias code 3 = pedmut "PM")


def naive_pm(m, p):
    """The PM transformation written out from Simonsson & Mostad (2016), eq. by eq."""
    n = len(p)
    # stationary distribution of m: the left eigenvector of eigenvalue 1, scaled to sum 1
    values, vectors = np.linalg.eig(m.T)
    v = np.real(vectors[:, np.argmin(np.abs(values - 1.0))])
    v = v / v.sum()
    rate = 1 - sum(m[i, i] * p[i] for i in range(n))
    denom = 1 - sum(m[i, i] * v[i] for i in range(n))
    out = np.eye(n)
    for i in range(n):
        d = rate * v[i] / (denom * p[i])
        for j in range(n):
            out[i, j] = (m[i, j] - (i == j)) * d + (i == j)
    return out


@pytest.mark.parametrize("seed", range(20))
def test_pm_stationary_matches_naive_and_is_stationary(seed):
    """PM is the only matrix S = diag(d) (M - I) + I with p S = p and M's overall rate: check
    those three properties on random stepwise models, and the naive eigenvector version on
    well-conditioned ones (neighbouring alleles, a wide range)."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 9))
    far = seed % 2 == 0
    pool = np.arange(8, 30) if far else np.arange(8, 8 + n)
    alleles = [str(a) for a in sorted(rng.choice(pool, n, replace=False))]
    p = rng.dirichlet(np.ones(n) * 2)
    spread = (0.05, 0.5) if far else (0.3, 0.6)
    model = MutationModel("stepwise", rate=float(rng.uniform(0.005, 0.02)),
                          rate2=float(rng.uniform(0, 1e-4)), range=float(rng.uniform(*spread)),
                          transform="PM")
    s = build_matrix(model, alleles, p)
    base = build_matrix(MutationModel("stepwise", rate=model.rate, rate2=model.rate2,
                                      range=model.range), alleles, p)
    assert np.allclose(s.sum(axis=1), 1.0, atol=1e-14)
    assert np.max(np.abs(p @ s - p)) < 1e-14  # stationary
    assert math.isclose(1 - np.sum(np.diag(s) * p), 1 - np.sum(np.diag(base) * p), rel_tol=1e-9)
    scale = (s - np.eye(n)) / np.where(base - np.eye(n) == 0, np.nan, base - np.eye(n))
    for row in scale:  # each row of M - I scaled by one number
        row = row[np.isfinite(row)]
        assert np.allclose(row, row[0], rtol=1e-9)
    if not far:
        assert np.max(np.abs(s - naive_pm(base, p))) < 1e-10
    assert np.array_equal(stationary_pm(base, p), s)


def test_pm_is_the_identity_on_a_proportional_model_and_refuses_bad_transforms():
    p = np.array([0.2, 0.3, 0.5])
    prop = build_matrix(MutationModel("proportional", rate=0.01), ["1", "2", "3"], p)
    assert np.allclose(stationary_pm(prop, p), prop, atol=1e-15)
    with pytest.raises(ReuniteError):
        MutationModel("stepwise", rate=0.01, transform="XX")
    assert "stationary (PM)" in MutationModel("stepwise", rate=0.01, transform="PM").describe()


def _fam_text(*, code=3, alleles=(("10", 0.2), ("11", 0.3), ("12", 0.5)), persons=True):
    """A small Familias file written here (simulated numbers): AF and CH, H1 father, H2 unrelated."""
    lines = ['"Output from Familias, version 3.3.1"', '"DO NOT EDIT!"', "3.3.1", '""']
    if persons:
        lines += ["2", '"AF"', "#FALSE#", "-1", "#FALSE#", "#TRUE#", "1", "0", "1", "0",
                  '"CH"', "#FALSE#", "-1", "#FALSE#", "#FALSE#", "1", "1", "2", "0",
                  '"Known relations"', "0", "0", "0", "2",
                  "0", '"H1"', "0", "0", "1", "0", "1", "1", '"H2"', "0", "0", "0"]
    else:
        lines += ["0", '"Known relations"', "0", "0", "0", "0"]
    lines += ["#FALSE# (#Databases: 1 ;Theta/Kinship/Fst: 0 )", "1", "#TRUE#", '"Sim DB"',
              '"D1"', "0.002", "0.003", str(code), str(code), "3", "0.1", "0.2", "0.0001", "0.0",
              "#FALSE#", "0", f"{len(alleles)}\t(DatabaseSize = 500 , Dropout probability = 0 , "
              "Minor allele frequency = 0 )"]
    for a, f in alleles:
        lines += [f'"{a}"', str(f)]
    lines += ["[Advanced]", "[[Other]]", "NumberOfDecimals= 10"]
    return "\r\n".join(lines) + "\r\n"


def test_code_3_is_stepwise_made_stationary_per_sex():
    fam = read_fam_bytes(_fam_text().encode(), name="sim.fam")
    mut = fam.markers[0].mutation
    assert mut.female == MutationModel("stepwise", rate=0.002, rate2=0.0001, range=0.1, transform="PM")
    assert mut.male == MutationModel("stepwise", rate=0.003, rate2=0.0, range=0.2, transform="PM")
    p = np.array([0.2, 0.3, 0.5])
    for model in (mut.female, mut.male):
        assert np.max(np.abs(p @ build_matrix(model, ["10", "11", "12"], p) - p)) < 1e-15
    assert fam.database.db_size == {"D1": 500}
    assert fam.hypotheses[0].pedigree["CH"].father == "AF"
    assert fam.hypotheses[0].pedigree["CH"].mother == "added_1"
    assert fam.markers[0].genotypes == {"AF": ("10", "11"), "CH": ("11", "12")}


def test_stepwise_with_a_non_numeric_allele_falls_back_to_equal():
    fam = read_fam_bytes(_fam_text(code=2, alleles=(("10", 0.4), ("11", 0.3), ("Rest allele", 0.3))).encode(),
                         name="sim.fam")
    assert fam.markers[0].mutation.female == MutationModel("equal", rate=0.002)
    assert any("equal model" in w for w in fam.warnings)


def test_a_model_outside_reunite_ranges_becomes_custom_with_a_warning():
    text = _fam_text(code=2).replace("\r\n0.1\r\n0.2\r\n", "\r\n1.0\r\n0.2\r\n")
    fam = read_fam_bytes(text.encode(), name="r.fam")
    female = fam.markers[0].mutation.female
    assert female.model == "custom" and any("custom model" in w for w in fam.warnings)
    m = np.array(female.matrix)  # range 1: the other alleles equally likely
    assert np.allclose(m[0], [0.998, 0.001, 0.001]) and np.allclose(m[1], [0.001, 0.998, 0.001])
    assert fam.markers[0].mutation.male.model == "stepwise"


def test_allele_zero_becomes_z():
    fam = read_fam_bytes(_fam_text(code=0, alleles=(("0", 0.5), ("11", 0.2), ("12", 0.3))).encode(),
                         name="sim.fam")
    assert list(fam.markers[0].afreq) == ["z", "11", "12"]
    assert fam.markers[0].genotypes["AF"] == ("z", "11")


def test_extra_persons():
    text = _fam_text().replace(
        '"Known relations"\r\n0\r\n0\r\n0\r\n2\r\n0\r\n"H1"\r\n0\r\n0\r\n1\r\n0\r\n1\r\n1\r\n"H2"\r\n0\r\n0\r\n0',
        '"Known relations"\r\n1\r\n0\r\n1\r\n2\r\n1\r\n2\r\n0\r\n"H1"\r\n0\r\n0\r\n1\r\n0\r\n1\r\n'
        '1\r\n"H2"\r\n0\r\n1\r\n1\r\n3\r\n1')
    fam = read_fam_bytes(text.encode(), name="x.fam")
    h1, h2 = fam.hypotheses
    assert (h1.pedigree["CH"].father, h1.pedigree["CH"].mother) == ("AF", "extra_1")
    assert (h2.pedigree["CH"].father, h2.pedigree["CH"].mother) == ("extra_ped2_1", "extra_1")
    assert h2.pedigree["extra_ped2_1"].sex == "M" and "extra_ped2_1" not in h1.pedigree


def test_theta_is_recorded_with_a_warning():
    text = _fam_text().replace("Theta/Kinship/Fst: 0 )", "Theta/Kinship/Fst: 0.02 )")
    fam = read_fam_bytes(text.encode(), name="t.fam")
    assert fam.database.theta == 0.02
    assert any("theta" in w for w in fam.warnings)
    assert fam_database(FAM / "fam" / "paternity.fam").name == "unknown"


def test_database_only_written_here():
    fam = read_fam_bytes(_fam_text(persons=False).encode(), name="db.fam")
    assert fam.database_only and fam.database.name == "Sim DB"


# ----------------------------------------------------------------------------------------
# Encodings and refusals


def test_windows_code_pages():
    text = _fam_text(persons=True).replace('"AF"', '"Müller"')
    fam = read_fam_bytes(text.encode("cp1252"), name="w.fam")
    assert fam.encoding == "cp1252" and "Müller" in fam.hypotheses[0].pedigree
    assert any("cp1252" in w for w in fam.warnings)
    chinese = _fam_text().replace('"AF"', '"父亲"').replace('"Sim DB"', '"汉族"')
    fam = read_fam_bytes(chinese.encode("gb18030"), name="c.fam")
    assert fam.encoding == "gb18030" and fam.database.name == "汉族"
    assert "父亲" in fam.hypotheses[0].pedigree
    assert read_fam_bytes(chinese.encode("utf-8-sig"), name="u.fam").encoding == "utf-8"
    old_mac = read_fam_bytes(_fam_text().replace("\r\n", "\r").encode(), name="m.fam")
    assert [h.name for h in old_mac.hypotheses] == ["H1", "H2"]
    assert decode_fam("abc".encode())[1] == "utf-8"


@pytest.mark.parametrize("edit, words", [
    (lambda t: t.replace('"H2"\r\n0\r\n0\r\n0', '"H2"\r\n0\r\n0\r\n1\r\n0 Direct\r\n1'), "twins"),
    (lambda t: t.replace("#FALSE# (#Databases", "#TRUE# (#Databases"), "precomputed"),
    (lambda t: t.replace("0.0\r\n#FALSE#\r\n0\r\n", "0.0\r\n#TRUE#\r\n0.01\r\n"), "silent"),
    (lambda t: t.replace("[Advanced]", "[Mystery]"), "unknown section"),
    (lambda t: t.replace("0.002\r\n0.003", "0,002\r\n0.003"), "decimal comma"),
    (lambda t: t.replace('"Known relations"\r\n0\r\n0\r\n0\r\n2', '"Known relations"\r\n0\r\n0\r\n0\r\nx'),
     "number of pedigrees"),
    (lambda t: t.replace("1\r\n1\r\n2\r\n0\r\n", "1\r\n1\r\n7\r\n0\r\n"), "allele index 7"),
    (lambda t: t.replace("1\r\n1\r\n2\r\n0\r\n", "1\r\n1\r\n2\r\n4\r\n"), "marker index 4"),
    (lambda t: t.split("#FALSE# (#Data")[0], "end of the file"),
    (lambda t: t.replace("(#Databases: 1 ;", "(#Databases: 2 ;"), "2 frequency databases"),
    (lambda t: t.replace('"0.2"', '"0.2"').replace("\r\n0.5\r\n", "\r\n0.9\r\n"), "sum to"),
])
def test_refusals_name_file_and_line(edit, words):
    text = edit(_fam_text(code=0))
    with pytest.raises(ReuniteError) as info:
        read_fam_bytes(text.encode(), name="case.fam")
    message = str(info.value)
    assert message.startswith("case.fam") and words in message, message
    assert "line" in message or "end of the file" in message


def test_missing_file_is_a_reunite_error(tmp_path):
    with pytest.raises(ReuniteError, match="cannot read"):
        read_fam(tmp_path / "none.fam")


# ----------------------------------------------------------------------------------------
# Fuzz: truncations and byte flips give a ReuniteError or a valid read, never another error


@pytest.mark.parametrize("name", FILES)
def test_fuzz_truncations_and_byte_flips(name):
    data = (FAM / "fam" / name).read_bytes()
    rng = random.Random(f"fam-fuzz-{name}")
    cases = [data[: rng.randrange(len(data))] for _ in range(25)]
    for _ in range(40):
        b = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            k = rng.randrange(len(b))
            b[k] = rng.choice([rng.randrange(256), ord("0"), ord("9"), ord("\n"), ord("["), ord('"')])
        cases.append(bytes(b))
    for case in cases:
        try:
            fam = read_fam_bytes(case, name=name)
        except ReuniteError as exc:
            assert str(exc).startswith(name), str(exc)
            continue
        assert fam.database is not None
        for h in fam.hypotheses:
            assert len(h.pedigree) >= 1


def test_a_stationary_stepwise_model_is_recorded_as_such_on_import(tmp_path):
    """Familias's code 3 (stepwise made stationary, pedmut's PM) keeps its transform in the
    models recorded by 'populations import', not as a plain stepwise model."""
    from reunite.genetics.table_import import read_table_fam

    path = tmp_path / "db.fam"
    path.write_text(_fam_text(code=3, persons=False).replace('"D1"', '"TH01"'))
    models = read_table_fam(path).mutation_models["TH01"]
    assert models["female"]["model"] == "stepwise" and models["female"]["transform"] == "PM"
    path.write_text(_fam_text(code=2, persons=False).replace('"D1"', '"TH01"'))
    assert "transform" not in read_table_fam(path).mutation_models["TH01"]["male"]
