"""Posterior = LR·π / (LR·π + 1 − π), the default prior 1/N, and sex and age compatibility."""

from __future__ import annotations

import math
from datetime import date

import pytest
from sqlalchemy import select

from reunite.cases.posterior import (
    compatibility,
    compatible_families,
    posterior,
    posterior_from_log10,
    posterior_of,
)
from reunite.settings import load_settings
from reunite.store.models import FamilyMember, MatchCandidate, Unidentified
from review_fixtures import build


@pytest.mark.parametrize("lr,prior,expected", [
    (1.0, 0.5, 0.5), (1.0, 0.01, 0.01), (9.0, 0.1, 0.5), (99.0, 0.01, 0.5), (0.0, 0.3, 0.0),
    (1e6, 1e-4, 1e6 * 1e-4 / (1e6 * 1e-4 + 1 - 1e-4)), (math.inf, 0.2, 1.0)])
def test_the_formula(lr, prior, expected):
    assert posterior(lr, prior) == pytest.approx(expected)
    if 0 < lr < math.inf:
        assert posterior_from_log10(math.log10(lr), prior) == pytest.approx(expected)


def test_the_formula_at_the_edges():
    assert math.isnan(posterior(math.nan, 0.5))
    assert posterior_from_log10(400.0, 1e-6) == 1.0 and posterior_from_log10(-400.0, 0.5) == 0.0
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="prior"):
            posterior(10.0, bad)


def _child(sex="M", birth=None, found=None):
    return Unidentified(code="U", sample_id=1, sex=sex, estimated_birth_date=birth, found_date=found)


def test_sex_and_age_compatibility():
    missing = FamilyMember(person_code="M", sex="F", role="missing", birth_date=date(2010, 1, 1),
                           missing_date=date(2012, 1, 1))
    out = compatibility(_child("M", date(2010, 6, 1), date(2015, 1, 1)), missing, tolerance_days=1096)
    assert out["sex"] == {"child": "M", "missing": "F", "compatible": False}
    assert out["age"]["compatible"] and out["age"]["birth_difference_days"] == 151
    out = compatibility(_child("U", date(2020, 1, 1), None), missing, tolerance_days=365)
    assert out["sex"]["compatible"] and not out["age"]["compatible"]
    assert any("days apart" in r for r in out["age"]["reasons"])
    assert any("after the missing date" in r for r in out["age"]["reasons"])
    out = compatibility(_child("F", None, date(2009, 1, 1)), missing, tolerance_days=1096)
    assert not out["age"]["compatible"] and "before the missing child's birth" in out["age"]["reasons"][0]
    # the report's dates stand in where the pedigree has none
    from reunite.store.models_workflow import MissingReport

    report = MissingReport(code="R", child_sex="F", child_birth_date=date(2001, 1, 1))
    bare = FamilyMember(person_code="M", sex="U", role="missing")
    out = compatibility(_child("M", date(2010, 1, 1)), bare, report, tolerance_days=1096)
    assert out["sex"]["missing"] == "F" and not out["sex"]["compatible"]
    assert out["age"]["missing_birth"] == "2001-01-01" and not out["age"]["compatible"]


def test_default_prior_counts_the_compatible_families(tmp_path):
    rw = build(tmp_path, num_families=20, num_unidentified=6, seed=8)
    cands = rw.read(lambda s: s.execute(select(MatchCandidate)).scalars().all())
    for cand in cands[:6]:
        child = rw.read(lambda s: s.get(Unidentified, cand.unidentified_id))
        n = rw.read(lambda s: compatible_families(s, child, tolerance_days=1096))
        # the families the search compared with this child: those that passed sex and age
        compared = rw.read(lambda s: len(set(s.execute(select(MatchCandidate.family_id).where(
            MatchCandidate.unidentified_id == cand.unidentified_id)).scalars())))
        assert n >= compared  # min_lr 0: every compared pair was stored (a few may fail the loci filter)
        sexes = rw.read(lambda s: s.execute(select(FamilyMember.family_id, FamilyMember.sex).where(
            FamilyMember.role == "missing")).all())
        other = {"M": "F", "F": "M"}.get(child.sex)
        assert n <= len({f for f, sx in sexes if sx != other})
        p = rw.read(lambda s: posterior_of(s, cand))
        assert p["prior"] == pytest.approx(1 / max(n, 2)) and p["families"] == n
        assert p["posterior"] == pytest.approx(posterior_from_log10(cand.log10_lr, 1 / max(n, 2)))
        assert f"{n:,} families compatible" in p["prior_source"]
    settings = load_settings(env="development", prior=0.001)
    p = rw.read(lambda s: posterior_of(s, cands[0], settings=settings))
    assert p["prior"] == 0.001 and p["prior_source"] == "setting REUNITE_PRIOR"
    assert p["posterior"] == pytest.approx(posterior_from_log10(cands[0].log10_lr, 0.001))


def test_compatible_families_counted_on_arrays_equals_the_query(tmp_path):
    """The fast count (arrays of every missing person) equals the plain SQL count on random
    families (several missing persons, unknown sexes and dates) and random children; adding
    a family is seen at once."""
    import random
    from datetime import date, timedelta

    from sqlalchemy.orm import Session

    from reunite.cases.posterior import compatible_families_query
    from reunite.store.db import make_engine, upgrade
    from reunite.store.models import Family, FamilyMember, Unidentified

    rng = random.Random(5)
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    upgrade(engine)

    def day():
        return None if rng.random() < 0.2 else date(2000, 1, 1) + timedelta(days=rng.randrange(0, 8000))

    with Session(engine) as s, s.begin():
        for f in range(300):
            fam = Family(code=f"F{f}")
            s.add(fam)
            s.flush()
            for k in range(rng.choice([1, 1, 1, 2, 3])):
                s.add(FamilyMember(family_id=fam.id, person_code=f"M{k}", sex=rng.choice("MFU"), role="missing",
                                   birth_date=day(), missing_date=day()))
            s.add(FamilyMember(family_id=fam.id, person_code="R", sex="F", role="reference"))
    with Session(engine) as s:
        for _ in range(200):
            child = Unidentified(code="U", sex=rng.choice("MFU"), estimated_birth_date=day(), found_date=day())
            tol = rng.choice([0, 365, 1096])
            assert compatible_families(s, child, tolerance_days=tol) == compatible_families_query(
                s, child, tolerance_days=tol)
        child = Unidentified(code="U", sex="U")
        before = compatible_families(s, child, tolerance_days=0)
    with Session(engine) as s, s.begin():
        fam = Family(code="NEW")
        s.add(fam)
        s.flush()
        s.add(FamilyMember(family_id=fam.id, person_code="M", sex="U", role="missing"))
    with Session(engine) as s:
        assert compatible_families(s, child, tolerance_days=0) == before + 1
