"""Confirmation tests: a second sample of the child, or a relative typed now; the LR computed
again by the search's engine, checked against kinship_lr on the explicit pedigree."""

from __future__ import annotations

import json
import math

import pytest
from sqlalchemy import select

from reunite.cases.confirmation import add_confirmation_sample, confirmation_dict, confirmation_summary
from reunite.errors import Conflict, NotFound, ReuniteError
from reunite.genetics.kinship import kinship_lr
from reunite.store.models import Family, FamilyMember, MatchCandidate, Sample, Unidentified
from reunite.store.models_workflow import ConfirmationTest
from review_fixtures import build, second_child_sample, world_fixtures


template, rw = world_fixtures("confirm")


def _attach(rw, cid, code, target, actor="analyst"):
    return rw.write(lambda s: confirmation_dict(add_confirmation_sample(
        s, cid, actor=rw.actor(actor), sample_code=code, target=target, model=rw.model), sample_code=code))


def explicit_lr(rw, family: str, missing: str, child: dict, typed: dict[str, dict]):
    """kinship_lr on the family's pedigree written out: H1 the child in the missing person's
    place, H2 the child an unrelated founder; ``typed``: person -> profile."""
    rows = rw.read(lambda s: s.execute(select(FamilyMember).join(Family, Family.id == FamilyMember.family_id)
                                       .where(Family.code == family)).scalars().all())

    def swap(x):
        return "CHILD" if x == missing else x

    h1 = [{"id": swap(r.person_code), "father": swap(r.father_code) if r.father_code else None,
           "mother": swap(r.mother_code) if r.mother_code else None, "sex": r.sex} for r in rows]
    sex_m = next(r.sex for r in rows if r.person_code == missing)
    h2 = [{"id": r.person_code, "father": r.father_code, "mother": r.mother_code, "sex": r.sex} for r in rows]
    h2.append({"id": "CHILD", "father": None, "mother": None, "sex": sex_m})
    markers = []
    for locus, g in child.items():
        genos = {p: prof[locus] for p, prof in typed.items() if locus in prof}
        genos["CHILD"] = g
        markers.append(rw.model.marker(locus, genos))
    return kinship_lr(h1, h2, markers)


def test_a_second_child_sample_that_agrees(rw):
    u, f, m, cid = rw.true_pairs()[0]
    second_child_sample(rw, u, "SCHILD2")
    t = _attach(rw, cid, "SCHILD2", "child")
    original = rw.read(lambda s: s.get(MatchCandidate, cid))
    assert t["child_samples_agree"] is True and t["disagreeing_loci"] == []
    assert t["supports"] and not t["excludes"]
    assert t["log10_lr"] == pytest.approx(original.log10_lr, rel=1e-9)
    assert t["original_log10_lr"] == pytest.approx(original.log10_lr)
    independent = explicit_lr(rw, f, m, rw.profile_of(u), rw.family_profiles(f))
    assert t["log10_lr"] == pytest.approx(independent.log10_lr_total, rel=1e-9)
    # the sample now belongs to the confirmation test; the provenance says how it was computed
    row = rw.read(lambda s: s.execute(select(Sample).where(Sample.code == "SCHILD2")).scalar_one())
    assert row.owner_kind == "confirmation"
    prov = t["provenance"]
    assert prov["genetic_model"] == rw.model.describe() and prov["first_child_sample"].startswith("SU")
    assert prov["engine"] == "reunite.search.engine.search"


def test_a_second_child_sample_that_disagrees_excludes(rw):
    u, f, m, cid = rw.true_pairs()[0]
    locus = sorted(rw.profile_of(u))[0]
    second_child_sample(rw, u, "SOTHER", change=locus)
    t = _attach(rw, cid, "SOTHER", "child")
    assert t["child_samples_agree"] is False and t["disagreeing_loci"] == [locus]
    assert t["excludes"] and not t["supports"]
    assert rw.read(lambda s: confirmation_summary(s, cid))["excluding"] == [t["id"]]


def test_typing_the_untyped_mother(rw):
    """father_only family: the mother, untyped in the pedigree, is typed now; the LR is
    computed with her, equal to the explicit pedigree's, and higher than before."""
    pairs = {f: (u, m, cid) for u, f, m, cid in rw.true_pairs()}
    family = next(f for f in pairs if rw.read(lambda s: s.execute(
        select(FamilyMember.role).join(Family, Family.id == FamilyMember.family_id)
        .where(Family.code == f, FamilyMember.person_code == f"{f}-MO")).scalar()) == "untyped")
    u, m, cid = pairs[family]
    child = rw.profile_of(u)
    refs = rw.family_profiles(family)
    father = refs.get(f"{family}-FA", {})
    mother = {}
    for locus, (a, b) in child.items():  # the allele the father did not give, twice
        maternal = b if father and locus in father and a in father[locus] else a
        mother[locus] = (maternal, maternal)
    rw.import_samples({"SMOTHER": mother}, name="mother")
    before = rw.read(lambda s: s.get(MatchCandidate, cid).log10_lr)
    t = _attach(rw, cid, "SMOTHER", f"{family}-MO")
    independent = explicit_lr(rw, family, m, child, {**refs, f"{family}-MO": mother})
    assert t["log10_lr"] == pytest.approx(independent.log10_lr_total, rel=1e-9)
    assert t["log10_lr"] > before
    assert t["child_samples_agree"] is None
    assert t["provenance"]["typed_person"] == f"{family}-MO"
    stored = rw.read(lambda s: s.execute(select(ConfirmationTest).where(ConfirmationTest.candidate_id == cid))
                     .scalar_one())
    assert stored.target == f"{family}-MO" and math.isclose(stored.log10_lr, t["log10_lr"])
    assert json.loads(stored.provenance)["original_log10_lr"] == pytest.approx(before)


def test_attaching_refuses_what_it_must(rw):
    u, f, m, cid = rw.true_pairs()[0]
    second_child_sample(rw, u, "SONCE")
    with pytest.raises(NotFound, match="import it first"):
        _attach(rw, cid, "SNOWHERE", "child")
    with pytest.raises(ReuniteError, match="not a person of family"):
        _attach(rw, cid, "SONCE", "nobody")
    with pytest.raises(ReuniteError, match="missing person"):
        _attach(rw, cid, "SONCE", m)
    ref = next(iter(rw.family_profiles(f)))
    with pytest.raises(Conflict, match="already typed"):
        _attach(rw, cid, "SONCE", ref)
    from reunite.errors import PermissionDenied

    with pytest.raises(PermissionDenied, match="confirmation:import"):
        _attach(rw, cid, "SONCE", "child", actor="reviewer1")
    _attach(rw, cid, "SONCE", "child")
    other = rw.true_pairs()[1][3]
    with pytest.raises(Conflict, match="already belongs"):  # one owner per sample
        _attach(rw, other, "SONCE", "child")
    # a sample of an unidentified person is not free either
    child_sample = rw.read(lambda s: s.execute(select(Sample.code).join(Unidentified, Unidentified.sample_id
                                                                        == Sample.id)).scalars().first())
    with pytest.raises(Conflict, match="already belongs"):
        _attach(rw, cid, child_sample, "child")


def test_the_database_keeps_a_sample_to_one_test(db_url, tmp_path):
    from sqlalchemy.exc import IntegrityError
    from sqlalchemy.orm import Session

    rw = build(tmp_path, db_url, num_families=6, num_unidentified=3, seed=4)
    cid = rw.read(lambda s: s.execute(select(MatchCandidate.id).limit(1)).scalar())
    u = rw.read(lambda s: s.get(Unidentified, s.get(MatchCandidate, cid).unidentified_id).code)
    second_child_sample(rw, u, "SDB")
    _attach(rw, cid, "SDB", "child")
    with pytest.raises(IntegrityError):
        with Session(rw.engine) as s, s.begin():
            test = s.execute(select(ConfirmationTest)).scalar_one()
            s.add(ConfirmationTest(candidate_id=cid, sample_id=test.sample_id, target="child", lr=1.0, log10_lr=0.0,
                                   lr_per_locus="{}", provenance="{}", created_by="x"))
