"""The workflow's numbers against independent computations.

- Confirmation tests (a second child sample; a relative typed now): the LR and every
  per-locus LR equal ``kinship_lr`` on the family's pedigree written out by hand (H1: the
  child in the missing person's place; H2: the child an unrelated founder) to 1e-9 relative,
  with several references, a locus needing a (stepwise) mutation, loci that differ between
  the two child samples, and θ > 0.
- Registration checks: duo and trio at θ > 0 with mutation equal ``kinship_lr`` on the
  explicit duo/trio; loci typed in the child only, Amelogenin and Y-STRs are left out with a
  note in the provenance.
- The posterior: edge cases of the formula, and the value the API shows equals
  LR·π / (LR·π + 1 − π) computed with 50 digits.

Simulated profiles only.
"""

from __future__ import annotations

import csv
import json
import math
from decimal import Decimal, getcontext

import pytest
from sqlalchemy import select, update

from reunite.cases.confirmation import (
    add_confirmation_sample,
    compute,
    confirmation_dict,
    confirmation_summary,
    withdrawn_used,
)
from reunite.cases.posterior import compatible_families_query, posterior, posterior_from_log10
from reunite.cases.registration import parentage_lr, run_check
from reunite.errors import ReuniteError
from reunite.genetics.kinship import Marker, kinship_lr
from reunite.settings import load_settings
from reunite.store.db import write_transaction
from reunite.store.importers import import_genotypes
from reunite.store.models import Family, FamilyMember, MatchCandidate, Sample, Unidentified
from reunite.store.models_workflow import ConfirmationTest, RegistrationCheck
from reunite.store.profiles import GeneticModel
from records_data import loci, simulate
from review_fixtures import world_fixtures
from workflow_world import MODEL, make_world

REL = 1e-9
THETA_MODEL = GeneticModel(MODEL.population, "stepwise", None, theta=0.02, min_common_loci=12)

template, rw = world_fixtures("wstats")


def rel_diff(got: float, want: float) -> float:
    if got == want:
        return 0.0
    return abs(got - want) / max(abs(want), 1e-300)


def assert_same_lr(got_lr: float, got_log10: float, got_per_locus: dict, want) -> None:
    """A computed LR (total, log10, per locus) against a KinshipResult, to 1e-9 relative."""
    assert set(got_per_locus) == set(want.lr_per_marker)
    for locus, value in want.lr_per_marker.items():
        assert rel_diff(float(got_per_locus[locus]), value) <= REL, (locus, got_per_locus[locus], value)
    assert rel_diff(got_log10, want.log10_lr_total) <= REL
    assert rel_diff(got_lr, want.lr_total) <= REL


# --- confirmation tests -------------------------------------------------------------------


def pedigree_rows(rw, family: str):
    return rw.read(lambda s: [(r.person_code, r.father_code, r.mother_code, r.sex) for r in s.execute(
        select(FamilyMember).join(Family, Family.id == FamilyMember.family_id).where(Family.code == family)
        .order_by(FamilyMember.id)).scalars()])


def explicit_lr(rw, family: str, missing: str, child: dict, typed: dict[str, dict], *, theta: float = 0.0,
                model: GeneticModel = MODEL, mutation: bool = True):
    """kinship_lr on the family's pedigree written out: H1 the child (person 'KID') in the
    missing person's place, H2 'KID' an unrelated founder; markers: every locus of the child."""
    rows = pedigree_rows(rw, family)

    def swap(x):
        return "KID" if x == missing else (x or None)

    h1 = [{"id": swap(p), "father": swap(fa), "mother": swap(mo), "sex": sex} for p, fa, mo, sex in rows]
    h2 = [{"id": p, "father": fa or None, "mother": mo or None, "sex": sex} for p, fa, mo, sex in rows]
    h2.append({"id": "KID", "father": None, "mother": None, "sex": next(r[3] for r in rows if r[0] == missing)})
    markers = []
    for locus, g in child.items():
        genos = {p: prof[locus] for p, prof in typed.items() if locus in prof}
        genos["KID"] = g
        m = model.marker(locus, genos)
        markers.append(m if mutation else Marker(m.name, m.afreq, m.genotypes, None, m.n_individuals, m.source))
    return kinship_lr(h1, h2, markers, theta=theta)


def pair_of(rw, family: str):
    return next((u, m, cid) for u, f, m, cid in rw.true_pairs() if f == family)


def attach(rw, cid, code, target):
    return rw.write(lambda s: confirmation_dict(add_confirmation_sample(
        s, cid, actor=rw.actor("analyst"), sample_code=code, target=target, model=rw.model), sample_code=code))


def mutated_locus(rw, family, missing, child, typed, *, skip=()):
    """A locus and genotype for the child that the references can explain only with a
    mutation (LR 0 without mutation, LR > 0 with it)."""
    for locus in sorted(child):
        if locus in skip or not all(locus in typed[p] for p in typed):
            continue
        alleles = {a for prof in typed.values() for a in prof[locus]}
        for a in sorted(child[locus]):
            if not a.isdigit():
                continue
            for b in (str(int(a) + 1), str(int(a) - 1)):
                if b in alleles or b not in rw.model.marker(locus).afreq:
                    continue
                trial = {**child, locus: (a, b)}
                plain = explicit_lr(rw, family, missing, {locus: trial[locus]}, typed, mutation=False)
                if plain.lr_total == 0.0:
                    return locus, (a, b)
    raise AssertionError("no locus to mutate")


def test_second_child_sample_mutation_and_other_loci(rw):
    """parents_and_sibling family (three references); the second child sample misses two loci
    of the first and needs a mutation at a third: its LR is the explicit pedigree's with the
    second sample alone, and the samples are reported as disagreeing at that locus."""
    family = "F0000003"
    u, m, cid = pair_of(rw, family)
    first = rw.profile_of(u)
    refs = rw.family_profiles(family)
    assert len(refs) == 3
    dropped = sorted(first)[:2]
    second = {k: v for k, v in first.items() if k not in dropped}
    locus, g = mutated_locus(rw, family, m, second, refs, skip=dropped)
    second[locus] = g
    rw.import_samples({"SC2": second}, name="sc2")
    t = attach(rw, cid, "SC2", "child")
    want = explicit_lr(rw, family, m, second, refs)
    assert_same_lr(t["lr"], t["log10_lr"], t["lr_per_locus"], want)
    assert 0.0 < want.lr_per_marker[locus] < 1.0
    assert t["inconsistent_loci"] == [locus]
    assert t["child_samples_agree"] is False and t["disagreeing_loci"] == [locus]
    assert t["excludes"] and not t["supports"]
    assert t["provenance"]["common_loci"] == len(first) - 2
    # the LR was computed with the second sample alone (not the first, not both)
    first_lr = explicit_lr(rw, family, m, first, refs)
    assert rel_diff(t["log10_lr"], first_lr.log10_lr_total) > 1e-6
    original = rw.read(lambda s: s.get(MatchCandidate, cid).log10_lr)
    assert rel_diff(original, first_lr.log10_lr_total) <= REL


def test_second_child_sample_that_agrees_on_fewer_loci(rw):
    """A second sample typed at fewer loci (all agreeing): supports, LR of those loci only."""
    family = "F0000003"
    u, m, cid = pair_of(rw, family)
    first = rw.profile_of(u)
    second = dict(sorted(first.items())[:14])
    rw.import_samples({"SC3": second}, name="sc3")
    t = attach(rw, cid, "SC3", "child")
    assert_same_lr(t["lr"], t["log10_lr"], t["lr_per_locus"], explicit_lr(rw, family, m, second,
                                                                           rw.family_profiles(family)))
    assert t["child_samples_agree"] is True and t["provenance"]["common_loci"] == 14


def test_second_child_sample_below_min_common_loci_is_refused_and_not_claimed(rw):
    u, m, cid = pair_of(rw, "F0000003")
    few = dict(sorted(rw.profile_of(u).items())[:rw.model.min_common_loci - 1])
    rw.import_samples({"SFEW": few}, name="sfew")
    with pytest.raises(ReuniteError, match="fewer than 12"):
        attach(rw, cid, "SFEW", "child")
    owner = rw.read(lambda s: s.execute(select(Sample.owner_kind).where(Sample.code == "SFEW")).scalar_one())
    assert owner is None  # the claim was rolled back with the failed test
    assert rw.read(lambda s: s.execute(select(ConfirmationTest)).first()) is None


@pytest.mark.parametrize("family,person", [("F0000013", "F0000013-MO"), ("F0000006", "F0000006-FA")])
def test_relative_typed_now_with_a_mutation(rw, family, person):
    """siblings_only (two sibling references, the mother typed now) and uncle_aunt (the
    uncle a reference, the father typed now): the relative is typed at fewer loci than the
    child, and the child's allele needs a mutation from the relative at one locus."""
    u, m, cid = pair_of(rw, family)
    child = rw.profile_of(u)
    refs = rw.family_profiles(family)
    rel = {}
    for locus, (a, b) in sorted(child.items())[2:]:  # two loci untyped in the relative
        rel[locus] = (a, a)
    # one locus: the relative carries a+1 twice, the child a (a mutation), the other allele b
    locus = next(l for l, (a, b) in sorted(rel.items()) if a.isdigit() and str(int(a) + 1) not in child[l]
                 and str(int(a) + 1) in rw.model.marker(l).afreq)
    a = rel[locus][0]
    rel[locus] = (str(int(a) + 1), str(int(a) + 1))
    rw.import_samples({"SREL": rel}, name="srel")
    before = rw.read(lambda s: s.get(MatchCandidate, cid).log10_lr)
    t = attach(rw, cid, "SREL", person)
    want = explicit_lr(rw, family, m, child, {**refs, person: rel})
    assert_same_lr(t["lr"], t["log10_lr"], t["lr_per_locus"], want)
    assert locus in t["inconsistent_loci"] and 0.0 < want.lr_per_marker[locus]
    assert t["child_samples_agree"] is None and t["original_log10_lr"] == pytest.approx(before, rel=REL)
    assert t["provenance"]["references"] == sorted({*refs, person})


def test_withdrawn_reference_or_sample_voids_the_test(rw):
    family = "F0000013"
    u, m, cid = pair_of(rw, family)
    child = rw.profile_of(u)
    rw.import_samples({"SMUM": {l: (a, a) for l, (a, b) in child.items()}}, name="smum")
    tid = attach(rw, cid, "SMUM", f"{family}-MO")["id"]

    def shown(s):
        t = s.get(ConfirmationTest, tid)
        return confirmation_dict(t, withdrawn=withdrawn_used(s, t)), confirmation_summary(s, cid)

    d, summary = rw.read(shown)
    assert not d["void"] and d["lr"] is not None
    sib = rw.read(lambda s: s.execute(select(Sample.id).join(FamilyMember, FamilyMember.sample_id == Sample.id)
                                      .where(FamilyMember.person_code == f"{family}-S1")).scalar_one())
    rw.write(lambda s: s.execute(update(Sample).where(Sample.id == sib).values(status="withdrawn")))
    d, summary = rw.read(shown)
    assert d["void"] and d["lr"] is None and d["log10_lr"] is None and d["lr_per_locus"] == {}
    assert d["withdrawn_references"] == [f"{family}-S1"] and not d["supports"] and not d["excludes"]
    assert summary["void"] == [tid] and summary["supporting"] == [] and summary["excluding"] == []
    rw.write(lambda s: s.execute(update(Sample).where(Sample.id == sib).values(status="active")))
    rw.write(lambda s: s.execute(update(Sample).where(Sample.code == "SMUM").values(status="withdrawn")))
    d, _ = rw.read(shown)
    assert d["void"] and d["withdrawn_references"] == [] and d["lr"] is None


def test_confirmation_engine_at_theta(rw):
    """The search engine's pair LR at θ = 0.02 (the path a θ > 0 database takes) against
    kinship_lr with θ on the explicit pedigree, with a mutated locus and several references."""
    from reunite.search.engine import UnidentifiedRecord
    from reunite.search.service import load_families

    for family in ("F0000003", "F0000013", "F0000006"):
        u, m, cid = pair_of(rw, family)
        child = rw.profile_of(u)
        refs = rw.family_profiles(family)
        if family == "F0000003":
            locus, g = mutated_locus(rw, family, m, child, refs)
            child = {**child, locus: g}

        def work(s):
            row = s.execute(select(Unidentified).where(Unidentified.code == u)).scalar_one()
            fid = s.execute(select(Family.id).where(Family.code == family)).scalar_one()
            rec = UnidentifiedRecord(row.id, row.code, row.sex, child, row.estimated_birth_date, row.found_date)
            return compute(rec, load_families(s, [fid])[0], m, model=THETA_MODEL)

        got = rw.read(work)
        want = explicit_lr(rw, family, m, child, refs, theta=THETA_MODEL.theta)
        assert_same_lr(got.lr, got.log10_lr, got.lr_per_locus, want)
        theta0 = explicit_lr(rw, family, m, child, refs)
        assert rel_diff(got.log10_lr, theta0.log10_lr_total) > 1e-6  # θ is really used


# --- registration checks ------------------------------------------------------------------


def explicit_parentage(model, child, father=None, mother=None):
    """kinship_lr on the duo/trio written out, over the loci typed in the child and a parent."""
    people = [{"id": "kid", "father": "dad" if father else None, "mother": "mum" if mother else None, "sex": "M"}]
    if father:
        people.append({"id": "dad", "sex": "M"})
    if mother:
        people.append({"id": "mum", "sex": "F"})
    markers = []
    for locus, g in child.items():
        genos = {"kid": g}
        if father and locus in father:
            genos["dad"] = father[locus]
        if mother and locus in mother:
            genos["mum"] = mother[locus]
        if len(genos) > 1:
            markers.append(model.marker(locus, genos))
    return kinship_lr(people, "unrelated", markers, theta=model.theta)


def _registration_profiles(model, seed):
    prof = simulate(model, seed=seed)
    child, father, mother = dict(prof["CH"]), dict(prof["FA"]), dict(prof["MO"])
    names = loci(model)
    for l in names[:3]:
        father.pop(l)  # typed in the child and the mother only
    for l in names[2:4]:
        mother.pop(l)  # names[2]: typed in the child only
    # a paternal mutation at one locus typed in all three
    locus = next(l for l in names[5:] if child[l][0].isdigit() and str(int(child[l][0]) + 1) in model.marker(l).afreq
                 and str(int(child[l][0]) + 1) not in father[l] + mother[l] and child[l][1] in mother[l]
                 and child[l][1] not in father[l]
                 and child[l][0] in father[l] and child[l][0] not in mother[l])
    child[locus] = (str(int(child[locus][0]) + 1), child[locus][1])
    return child, father, mother, names[2], locus


@pytest.mark.parametrize("seed", [3, 5])
@pytest.mark.parametrize("who", ["trio", "father", "mother"])
def test_parentage_at_theta_with_mutation(seed, who):
    child, father, mother, child_only, mutated = _registration_profiles(THETA_MODEL, seed)
    kw = {"trio": {"father": father, "mother": mother}, "father": {"father": father},
          "mother": {"mother": mother}}[who]
    got = parentage_lr(THETA_MODEL, child=child, **kw)
    want = explicit_parentage(THETA_MODEL, child, **kw)
    assert_same_lr(got.lr, got.log10_lr, got.lr_per_locus, want)
    assert child_only not in got.lr_per_locus and got.provenance["theta"] == 0.02
    assert got.provenance["loci_left_out"][child_only].startswith("typed in the child only")
    if who != "mother":
        assert mutated in got.inconsistent_loci and 0.0 < got.lr_per_locus[mutated] < math.inf
    no_theta = explicit_parentage(MODEL, child, **kw)
    assert rel_diff(got.log10_lr, no_theta.log10_lr_total) > 1e-6


def test_registration_check_leaves_out_amelogenin_and_y_strs_with_a_note(tmp_path):
    world = make_world(f"sqlite:///{tmp_path / 'r.db'}")
    child, father, mother, child_only, mutated = _registration_profiles(THETA_MODEL, 7)
    path = tmp_path / "g.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["sample_id", "locus", "allele1", "allele2"])
        for code, prof, amel in (("R-CH", child, ("X", "Y")), ("R-FA", father, ("X", "Y")),
                                 ("R-MO", mother, ("X", "X"))):
            for locus, (a, b) in sorted(prof.items()):
                w.writerow([code, locus, a, b])
            w.writerow([code, "AMEL", *amel])
            if amel[1] == "Y":
                w.writerow([code, "DYS19", "14", ""])
                w.writerow([code, "DYS391", "10", ""])
    write_transaction(world.engine, lambda s: import_genotypes(s, path, model=world.model))
    code = write_transaction(world.engine, lambda s: run_check(
        s, actor=world.actor("registrar"), model=THETA_MODEL, code="REG-T", child_sample_code="R-CH",
        father_sample_code="R-FA", mother_sample_code="R-MO", child_sex="M").code)
    from sqlalchemy.orm import Session

    with Session(world.engine) as s:
        row = s.execute(select(RegistrationCheck).where(RegistrationCheck.code == code)).scalar_one()
        prov = json.loads(row.provenance)
        per_locus = json.loads(row.lr_per_locus)
        lr, log10_lr = row.lr, row.log10_lr
    want = explicit_parentage(THETA_MODEL, child, father=father, mother=mother)
    assert_same_lr(lr, log10_lr, per_locus, want)
    assert "AMELOGENIN" not in per_locus and not any(l.startswith("DYS") for l in per_locus)
    left = prov["loci_left_out"]
    assert left[child_only].startswith("typed in the child only")
    assert "Amelogenin" in left["AMELOGENIN"]
    assert "Y-STR" in left["Y-STRs"] and "DYS19" in left["Y-STRs"]


# --- posterior ----------------------------------------------------------------------------


def exact_posterior(log10_lr: float, prior: float) -> float:
    getcontext().prec = 60
    lr = Decimal(10) ** Decimal(repr(log10_lr))
    p = Decimal(repr(prior))
    return float(lr * p / (lr * p + 1 - p))


def test_posterior_edges():
    assert posterior(0.0, 0.01) == 0.0 and posterior_from_log10(-math.inf, 0.01) == 0.0
    assert posterior(math.inf, 1e-9) == 1.0 and posterior_from_log10(math.inf, 1e-9) == 1.0
    assert posterior_from_log10(1e5, 1e-6) == 1.0 and posterior_from_log10(-1e5, 0.5) == 0.0
    assert math.isnan(posterior_from_log10(math.nan, 0.5))
    assert posterior(1e308, 0.9) == 1.0  # LR·π/(1-π) beyond the float range
    for log10_lr in (-310.0, -305.0, -301.0, -250.0, -20.0, -1.0, 0.0, 0.5, 3.0, 12.0, 40.0, 299.0, 305.0):
        for prior in (1e-7, 1e-4, 0.01, 0.5, 0.999):
            want = exact_posterior(log10_lr, prior)
            got = posterior_from_log10(log10_lr, prior)
            if want >= 2.3e-308:  # a normal float: to 1e-9 relative
                assert rel_diff(got, want) <= REL, (log10_lr, prior, got, want)
            else:  # subnormal: as near as a float gets
                assert abs(got - want) <= 1e-320
            if abs(log10_lr) < 300:
                assert rel_diff(posterior(10.0 ** log10_lr, prior), want) <= REL
    for bad in (0.0, 1.0, math.nan):
        with pytest.raises(ValueError, match="prior"):
            posterior(1.0, bad)


@pytest.mark.parametrize("prior", [None, 0.001])
def test_posterior_shown_by_the_api_is_the_formula(rw, prior):
    from reunite.cases.review import sides

    if prior is not None:
        rw.world.settings = load_settings(env="development", database_url=rw.world.url, prior=prior)
    client = rw.world.client("analyst")
    ids = rw.read(lambda s: list(s.execute(select(MatchCandidate.id).order_by(MatchCandidate.id)).scalars()))
    assert len(ids) >= 10
    for cid in ids:
        body = client.get(f"/api/v1/candidates/{cid}").json()
        cand = rw.read(lambda s: s.get(MatchCandidate, cid))
        assert body["log10_lr"] == cand.log10_lr
        if prior is None:
            child = rw.read(lambda s: sides(s, cand).child)
            n = rw.read(lambda s: compatible_families_query(s, child, tolerance_days=body["compatibility"]["age"]
                                                            ["tolerance_days"]))
            assert body["compatible_families"] == n and body["prior"] == 1.0 / max(n, 2)
        else:
            assert body["prior"] == prior
        want = exact_posterior(cand.log10_lr, body["prior"])
        assert rel_diff(body["posterior"], want) <= REL, (cid, body["posterior"], want)
