"""Confirmation tests: a second, independent sample that confirms (or refutes) a candidate.

The sample is imported first with ``reunite import genotypes`` (it belongs to nobody), then
attached to the candidate, which claims it (``samples.owner_kind = 'confirmation'``; the
database keeps a sample to one owner).  Its target is

- ``child``: a second sample of the child.  The LR is computed again with it in the child's
  place, and the two child samples are compared at every locus typed in both;
- a person code of the family's pedigree: a relative typed now (a person of the pedigree not
  yet typed, e.g. the mother).  The LR is computed again with that person typed.

The LR is computed by the search's own engine (:func:`reunite.search.engine.search`) on the
family record with the new sample, with the database's genetic model, and stored with its
per-locus LRs, the loci inconsistent without mutation and its provenance, beside the
candidate's original LR.

A test **supports** the match when its log10 LR is at least ``settings.review_log10_lr``
(default 4: LR >= 10,000, the threshold at which a reviewed candidate stays credible) and,
for a child sample, the two samples agree at every common locus; it **excludes** the match
when its LR is below 1 (the new data favour "unrelated"; LR 0 included) or the child's two
samples disagree.  Confirming needs one supporting test and no excluding one.

A test whose LR used a profile withdrawn since (a reference's consent withdrawn, or the
test's sample withdrawn) is **void**: its LR is not shown and it neither supports nor
excludes the match; attach a new test computed without the withdrawn profile.
"""

from __future__ import annotations

import json

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from reunite.cases.common import audit
from reunite.cases.notifications import message
from reunite.errors import Conflict, NotFound, ReuniteError
from reunite.i18n import N_
from reunite.genetics.kinship import json_number
from reunite.security.actor import Actor
from reunite.settings import get_settings
from reunite.store.models import FamilyMember, Sample, utcnow
from reunite.store.models_workflow import ConfirmationTest
from reunite.store.profiles import GeneticModel, unpack_profile

#: a confirmation test's verdict as notices say it (translated for the reader)
VERDICTS = {"supports": N_("supports"), "excludes": N_("excludes"), "inconclusive": N_("inconclusive")}

CHILD = "child"
ATTACHABLE = ("new", "assigned", "under_review", "confirmation_requested")


def _loads(text: str | None, default):
    try:
        return json.loads(text) if text else default
    except ValueError:
        return default


def withdrawn_used(session: Session, test: ConfirmationTest) -> list[str]:
    """Who of those whose profile the test's LR used has been withdrawn since: family person
    codes, and 'sample' for the test's own sample."""
    from reunite.store.models import MatchCandidate

    prov = _loads(test.provenance, {})
    used = set(prov.get("references") or ())
    family_id = session.execute(select(MatchCandidate.family_id)
                                .where(MatchCandidate.id == test.candidate_id)).scalar()
    out = sorted(session.execute(
        select(FamilyMember.person_code).join(Sample, Sample.id == FamilyMember.sample_id)
        .where(FamilyMember.family_id == family_id, Sample.status != "active")).scalars()) if used else []
    out = [p for p in out if p in used]
    own = session.execute(select(Sample.status).where(Sample.id == test.sample_id)).scalar()
    return out + (["sample"] if own is not None and own != "active" else [])


def _void(test: ConfirmationTest, withdrawn) -> bool:
    return bool(withdrawn)


def excludes(test: ConfirmationTest, *, withdrawn=()) -> bool:
    """The test speaks against the match: LR below 1 (or not a number), or the child's two
    samples disagree at a common locus (a void test, see the module doc, never does)."""
    if _void(test, withdrawn):
        return False
    prov = _loads(test.provenance, {})
    if prov.get("child_samples_agree") is False:
        return True
    return not (test.log10_lr >= 0.0)  # NaN counts as excluding


def supports(test: ConfirmationTest, *, settings=None, withdrawn=()) -> bool:
    settings = settings or get_settings()
    return not _void(test, withdrawn) and not excludes(test) and test.log10_lr >= settings.review_log10_lr


def confirmation_summary(session: Session, candidate_id: int, *, settings=None) -> dict:
    """Ids of the candidate's confirmation tests that support and that exclude the match."""
    rows = list(session.execute(select(ConfirmationTest).where(ConfirmationTest.candidate_id == candidate_id)
                                .order_by(ConfirmationTest.id)).scalars())
    void = {t.id: withdrawn_used(session, t) for t in rows}
    return {"supporting": [t.id for t in rows if supports(t, settings=settings, withdrawn=void[t.id])],
            "excluding": [t.id for t in rows if excludes(t, withdrawn=void[t.id])],
            "void": [t.id for t in rows if void[t.id]], "count": len(rows)}


def confirmation_dict(test: ConfirmationTest, *, settings=None, sample_code: str | None = None,
                      withdrawn=()) -> dict:
    """A test as shown; ``withdrawn`` (from :func:`withdrawn_used`): a void test shows no LR."""
    prov = _loads(test.provenance, {})
    void = _void(test, withdrawn)
    return {"id": test.id, "sample": sample_code or prov.get("sample"), "target": test.target,
            "lr": None if void else json_number(test.lr), "log10_lr": None if void else json_number(test.log10_lr),
            "original_log10_lr": prov.get("original_log10_lr"),
            "lr_per_locus": {} if void else _loads(test.lr_per_locus, {}),
            "withdrawn_references": [p for p in withdrawn if p != "sample"],
            "void": void,
            "inconsistent_loci": [x for x in (test.inconsistent_loci or "").split(",") if x],
            "child_samples_agree": prov.get("child_samples_agree"),
            "disagreeing_loci": prov.get("disagreeing_loci", []),
            "supports": supports(test, settings=settings, withdrawn=withdrawn),
            "excludes": excludes(test, withdrawn=withdrawn),
            "created_by": test.created_by, "created_at": test.created_at.isoformat() if test.created_at else None,
            "provenance": prov}


def _claim(session: Session, sample_code: str) -> Sample:
    """Take an imported, unowned, active sample for a confirmation test (conditional UPDATE)."""
    code = (sample_code or "").strip()
    if not code or len(code) > 128:
        raise ReuniteError(f"sample: expected a sample code of 1 to 128 characters, found {sample_code!r}")
    sample = session.execute(select(Sample).where(Sample.code == code)).scalar_one_or_none()
    if sample is None:
        raise NotFound(f"sample: no sample {code!r}; import it first ('reunite import genotypes FILE', or POST "
                       "/api/v1/imports/genotypes)")
    if sample.status != "active":
        raise Conflict(f"sample: {code!r} was withdrawn; import the new typing as a new sample")
    taken = session.execute(update(Sample).where(Sample.id == sample.id, Sample.owner_kind.is_(None),
                                                 Sample.status == "active")
                            .values(owner_kind="confirmation").execution_options(synchronize_session=False)).rowcount
    if taken != 1:
        session.expire(sample)
        raise Conflict(f"sample: {code!r} already belongs to a person or a confirmation test "
                       f"(owner: {sample.owner_kind}); a sample is one person's, once")
    session.expire(sample)
    return sample


def add_confirmation_sample(session: Session, candidate_id: int, *, actor: Actor, sample_code: str, target: str,
                            model: GeneticModel, settings=None) -> ConfirmationTest:
    """Attach an imported sample to a candidate as a confirmation test of ``target``
    ('child' or a person code of the family's pedigree), compute the LR again with it, and
    store it (see the module's docstring).  Reviewers are told when the candidate waits for a
    confirmer."""
    from reunite.cases import review
    from reunite.genetics.loci import sex_from_amelogenin
    from reunite.search.engine import FamilyRecord, UnidentifiedRecord
    from reunite.search.service import load_families

    actor.require("confirmation:import")
    settings = settings or get_settings()
    cand = review.candidate_or_404(session, candidate_id)
    s = review.sides(session, cand)
    review.check_scope(actor, s)
    if cand.status not in ATTACHABLE:
        raise Conflict(f"status: candidate {cand.id} is {cand.status!r}; confirmation samples are attached to open "
                       f"candidates ({', '.join(ATTACHABLE)})")
    target = (target or "").strip()
    if not target or len(target) > 128:
        raise ReuniteError(f"target: expected 'child' or a person code of family {s.family.code!r}, found {target!r}")
    sample = _claim(session, sample_code)
    new_profile = unpack_profile(sample.profile)
    family = load_families(session, [cand.family_id])[0]
    child_sample = session.get(Sample, s.child.sample_id)
    child_profile = unpack_profile(child_sample.profile)
    child = UnidentifiedRecord(s.child.id, s.child.code, s.child.sex, child_profile, s.child.estimated_birth_date,
                               s.child.found_date)
    if cand.missing_code not in family.missing:
        raise Conflict(f"target: {cand.missing_code!r} is no longer a missing person of family {s.family.code!r}")
    extra: dict = {"sample": sample.code, "target": target}
    if target == CHILD:
        shown = sex_from_amelogenin(sample.amelogenin)
        if shown and s.child.sex in ("M", "F") and shown != s.child.sex:
            raise ReuniteError(f"sample: the Amelogenin of {sample.code!r} shows sex {shown}, the child "
                               f"{s.child.code!r} is {s.child.sex}: a sample mix-up?")
        common = sorted(set(child_profile) & set(new_profile))
        differ = [l for l in common if sorted(child_profile[l]) != sorted(new_profile[l])]
        extra.update(first_child_sample=child_sample.code, common_loci=len(common),
                     child_samples_agree=not differ, disagreeing_loci=differ)
        child = UnidentifiedRecord(child.id, child.code, child.sex, new_profile, child.estimated_birth_date,
                                   child.found_date)
    else:
        member = session.execute(select(FamilyMember).where(FamilyMember.family_id == cand.family_id,
                                                            FamilyMember.person_code == target)).scalar_one_or_none()
        if member is None:
            raise ReuniteError(f"target: {target!r} is not a person of family {s.family.code!r}'s pedigree; give "
                               f"'child' or one of {', '.join(p.id for p in family.pedigree.individuals)}")
        if member.role == "missing":
            raise ReuniteError(f"target: {target!r} is a missing person of the family; a second sample of the "
                               "child is target 'child'")
        if target in family.references:
            raise Conflict(f"target: {target!r} is already typed (a reference); a re-typing is a correction "
                           "('reunite correct retype'), not a confirmation test")
        shown = sex_from_amelogenin(sample.amelogenin)
        if shown and member.sex in ("M", "F") and shown != member.sex:
            raise ReuniteError(f"sample: the Amelogenin of {sample.code!r} shows sex {shown}, {target!r} is "
                               f"{member.sex}: a sample mix-up?")
        extra.update(typed_person=target, references_before=sorted(family.references))
        family = FamilyRecord(family.id, family.code, family.pedigree, family.missing,
                              {**family.references, target: new_profile}, family.dates)
    result = compute(child, family, cand.missing_code, model=model,
                     age_tolerance=_loads(cand.provenance, {}).get("age_filter", {}).get("tolerance_years"))
    from reunite.search.service import provenance

    prov = {**provenance(model, result.lr_per_locus), **extra, "original_lr": json_number(cand.lr),
            "original_log10_lr": json_number(cand.log10_lr), "engine": "reunite.search.engine.search",
            "references": sorted(family.references)}
    test = ConfirmationTest(candidate_id=cand.id, sample_id=sample.id, sample_owner_kind="confirmation",
                            target=target, lr=result.lr, log10_lr=result.log10_lr,
                            lr_per_locus=json.dumps({k: json_number(v) for k, v in result.lr_per_locus.items()}),
                            inconsistent_loci=",".join(result.inconsistent_loci), provenance=json.dumps(prov),
                            created_by=actor.username, created_at=utcnow())
    session.add(test)
    session.flush()
    verdict = "supports" if supports(test, settings=settings) else "excludes" if excludes(test) else "inconclusive"
    review.record_event(session, cand.id, actor=actor.username, from_status=cand.status, to_status=cand.status,
                        event="confirmation_test", comment=f"{target}: sample {sample.code}, log10 LR "
                        f"{result.log10_lr:.2f} ({verdict})", test=test.id, sample=sample.code, target=target,
                        log10_lr=json_number(result.log10_lr), original_log10_lr=json_number(cand.log10_lr))
    audit(session, actor, "candidate.confirmation_test", entity="candidate", entity_id=cand.id,
          details={"test": test.id, "sample": sample.code, "target": target,
                   "log10_lr": json_number(result.log10_lr), "verdict": verdict})
    if cand.status == "confirmation_requested":
        rev = session.get(review.CandidateReview, cand.id)
        review.notify_reviewers(session, s, exclude={rev.confirmation_requested_by or "", actor.username},
                                what=N_("%(ref)s awaits a confirmer; confirmation test %(test)s (%(target)s): "
                                        "%(verdict)s"), test=test.id, target=target,
                                verdict=message(VERDICTS[verdict]))
    session.flush()
    return test


def compute(child, family, missing: str, *, model: GeneticModel, age_tolerance=None):
    """The candidate's pair scored by the search's engine (every filter applied, no LR
    threshold); a pair the search would not compare is an error naming the reason."""
    from reunite.search.engine import DEFAULT_AGE_TOLERANCE, FamilyRecord, search

    one = FamilyRecord(family.id, family.code, family.pedigree, [missing], family.references, family.dates)
    tol = DEFAULT_AGE_TOLERANCE if age_tolerance is None else float(age_tolerance)
    result = search([child], [one], model=model, min_lr=0.0, top_k=None, age_tolerance=tol)
    if not result.candidates:
        why = ("the sexes differ" if result.skipped_sex else
               "; ".join(r for *_, r in result.skipped_pairs) or "no LR could be computed")
        raise ReuniteError(f"sample: the pair is not compared with this sample ({why})")
    return result.candidates[0]
