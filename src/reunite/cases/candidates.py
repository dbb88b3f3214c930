"""Candidates as reviewers see them: the list (filters, cursor pages) and one candidate in
full (per-locus table, identity flags, posterior, sex and age, confirmation tests, history).

Codes, LRs and owning agencies are shown to everyone with ``candidate:read``; names and
contacts of a side only where ``actor.sees_personal`` (path of that side): the family side's
path is its report's jurisdiction (national when no report links the family), the child
side's is the unidentified person's jurisdiction.  Every such read is audited
(``candidate.read_personal``), so :func:`candidate_detail` runs in a write transaction.
"""

from __future__ import annotations

import json
import math
from datetime import date

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, aliased

from reunite.cases.common import Page, audit, check_limit, decode_cursor, encode_cursor, jurisdiction_by_code
from reunite.cases.confirmation import confirmation_dict, confirmation_summary, withdrawn_used
from reunite.cases.places import code_of
from reunite.cases.posterior import compatibility, posterior_of, tolerance_of
from reunite.cases.records import created_filter, details_of
from reunite.cases.review import candidate_or_404, event_dict, sides, tests_of
from reunite.errors import ReuniteError
from reunite.genetics.kinship import json_number
from reunite.genetics.verbal import ENFSI_2015, upper_bound_table, verbal_equivalent
from reunite.security.actor import Actor
from reunite.search.research import flag_list
from reunite.settings import get_settings
from reunite.store.models import Family, FamilyMember, MatchCandidate, Sample, Unidentified
from reunite.store.models_workflow import (
    CANDIDATE_STATUSES,
    Agency,
    CandidateReview,
    ConfirmationTest,
    Jurisdiction,
    MissingReport,
    RescueOperation,
    User,
)

SORTS = ("lr", "id")


def _num(x):
    return None if x is None else json_number(x)


def _bad_cursor(cursor: str):
    return ReuniteError(f"cursor: not a cursor this server gave ({cursor[:40]!r}); start again without it")


def list_candidates(session: Session, *, actor: Actor, status: str | None = None, assignee: str | None = None,
                    min_log10_lr: float | None = None, unidentified: str | None = None, family: str | None = None,
                    report: str | None = None, jurisdiction: str | None = None, flagged: bool | None = None,
                    below_threshold: bool | None = None, sort: str = "lr", cursor: str | None = None,
                    limit: int | None = None, settings=None, max_log10_lr: float | None = None,
                    family_type: str | None = None, created_from: date | None = None,
                    created_to: date | None = None) -> Page:
    """Candidates (codes only), filtered, sorted by LR (highest first) or by id; a page.

    ``min_log10_lr``/``max_log10_lr``: the LR range (log10, both ends included);
    ``family_type``: the family's type (e.g. ``both_parents``); ``created_from``/``created_to``:
    the days (UTC) the search found the candidate, both included."""
    actor.require("candidate:read")
    settings = settings or get_settings()
    limit = check_limit(limit)
    if sort not in SORTS:
        raise ReuniteError(f"sort: expected one of {', '.join(SORTS)}, found {sort!r}")
    if status is not None and status not in CANDIDATE_STATUSES:
        raise ReuniteError(f"status: expected one of {', '.join(CANDIDATE_STATUSES)}, found {status!r}")
    for name, value in (("min_log10_lr", min_log10_lr), ("max_log10_lr", max_log10_lr)):
        if value is not None and not math.isfinite(value):
            raise ReuniteError(f"{name}: expected a finite number, found {value!r}")
    if min_log10_lr is not None and max_log10_lr is not None and min_log10_lr > max_log10_lr:
        raise ReuniteError(f"max_log10_lr: expected at least min_log10_lr ({min_log10_lr:g}), found {max_log10_lr:g}")
    assignee_user = aliased(User)
    rj, cj = aliased(Jurisdiction), aliased(Jurisdiction)
    q = (select(MatchCandidate, Unidentified, Family.code, MissingReport.code, CandidateReview,
                assignee_user.username, Family.family_type)
         .join(Unidentified, Unidentified.id == MatchCandidate.unidentified_id)
         .join(Family, Family.id == MatchCandidate.family_id)
         .outerjoin(MissingReport, MissingReport.family_id == MatchCandidate.family_id)
         .outerjoin(CandidateReview, CandidateReview.candidate_id == MatchCandidate.id)
         .outerjoin(assignee_user, assignee_user.id == CandidateReview.assigned_to))
    if status is not None:
        q = q.where(MatchCandidate.status == status)
    if assignee:
        q = q.where(assignee_user.username == assignee)
    if min_log10_lr is not None:
        q = q.where(MatchCandidate.log10_lr >= min_log10_lr)
    if max_log10_lr is not None:
        q = q.where(MatchCandidate.log10_lr <= max_log10_lr)
    if family_type:
        q = q.where(Family.family_type == family_type)
    for condition in created_filter(MatchCandidate.created_at, created_from, created_to):
        q = q.where(condition)
    if unidentified:
        q = q.where(Unidentified.code == unidentified)
    if family:
        q = q.where(Family.code == family)
    if report:
        q = q.where(MissingReport.code == report)
    if jurisdiction:
        path = jurisdiction_by_code(session, jurisdiction, what="jurisdiction").path
        if path != "CN/":  # national: everything
            q = (q.outerjoin(rj, rj.id == MissingReport.jurisdiction_id)
                 .outerjoin(cj, cj.id == Unidentified.jurisdiction_id)
                 .where(or_(rj.path.startswith(path, autoescape=True), cj.path.startswith(path, autoescape=True))))
    if flagged is not None:
        q = q.where((MatchCandidate.flags != "") if flagged else (MatchCandidate.flags == ""))
    if below_threshold is not None:
        q = q.where(CandidateReview.below_threshold.is_(True) if below_threshold
                    else or_(CandidateReview.below_threshold.is_(False), CandidateReview.candidate_id.is_(None)))
    after = decode_cursor(cursor)
    if sort == "id":
        if after is not None:
            if not isinstance(after.get("id"), int):
                raise _bad_cursor(cursor)
            q = q.where(MatchCandidate.id > after["id"])
        q = q.order_by(MatchCandidate.id)
    else:
        if after is not None:
            lr, last = after.get("lr"), after.get("id")
            if not isinstance(last, int) or not isinstance(lr, (int, float)) or isinstance(lr, bool):
                raise _bad_cursor(cursor)
            q = q.where(or_(MatchCandidate.log10_lr < lr,
                            and_(MatchCandidate.log10_lr == lr, MatchCandidate.id < last)))
        q = q.order_by(MatchCandidate.log10_lr.desc(), MatchCandidate.id.desc())
    rows = session.execute(q.limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    cache: dict = {}
    items = []
    tests_by_candidate: dict[int, list] = {}
    if rows:  # every confirmation test of the page in one query (the children came with the page)
        for t in session.execute(select(ConfirmationTest).where(ConfirmationTest.candidate_id.in_(
                [r[0].id for r in rows])).order_by(ConfirmationTest.id)).scalars():
            tests_by_candidate.setdefault(t.candidate_id, []).append(t)
    for cand, child, f_code, r_code, rev, who, f_type in rows:
        u_code = child.code
        post = posterior_of(session, cand, settings=settings, cache=cache)
        tests = tests_by_candidate.get(cand.id, [])
        best = max((t.log10_lr for t in tests if not math.isnan(t.log10_lr) and not withdrawn_used(session, t)),
                   default=None)
        items.append({
            "id": cand.id, "status": cand.status, "version": rev.version if rev else 1,
            "unidentified": u_code, "family": f_code, "missing": cand.missing_code, "report": r_code,
            "lr": _num(cand.lr), "log10_lr": _num(cand.log10_lr), "loci_compared": cand.loci_compared,
            "posterior": _num(post["posterior"]), "prior": post["prior"], "prior_source": post["prior_source"],
            "confirmation_log10_lr": _num(best), "confirmation_tests": len(tests),
            "assignee": who, "flags": len(flag_list(cand.flags)),
            "below_threshold": bool(rev.below_threshold) if rev else False,
            "inconsistent_loci": [x for x in (cand.inconsistent_loci or "").split(",") if x],
            "family_type": f_type, "created_at": cand.created_at.isoformat() if cand.created_at else None,
        })
    next_cursor = None
    if more:
        last = rows[-1][0]
        next_cursor = encode_cursor({"id": last.id} if sort == "id" else {"lr": last.log10_lr, "id": last.id})
    return Page(items, next_cursor)


def _owner(session: Session, jurisdiction_id: int | None, agency_id: int | None) -> dict:
    j = session.get(Jurisdiction, jurisdiction_id) if jurisdiction_id else None
    a = session.get(Agency, agency_id) if agency_id else None
    return {"jurisdiction": j.code if j else "CN", "jurisdiction_name": j.name if j else "National",
            "jurisdiction_name_zh": (j.name_zh if j else "全国") or None,
            "agency": a.code if a else None, "agency_name": a.name if a else None,
            "agency_name_zh": a.name_zh if a else None}


def _detail(session: Session, kind: str, subject_id: int) -> dict | None:
    row = details_of(session, kind, subject_id)
    return None if row is None else {"name": row.name, "contact": row.contact}


def locus_table(session: Session, cand: MatchCandidate) -> tuple[list[dict], list[dict]]:
    """The per-locus table (locus, child's alleles, each reference's alleles, per-locus LR,
    whether a mutation is needed) and the references (person, sample code, status)."""
    child_profile = session.execute(select(Sample.profile).join(Unidentified, Unidentified.sample_id == Sample.id)
                                    .where(Unidentified.id == cand.unidentified_id)).scalar_one()
    from reunite.store.profiles import unpack_profile

    child = unpack_profile(child_profile)
    refs = session.execute(select(FamilyMember.person_code, FamilyMember.sex, Sample.code, Sample.profile,
                                  Sample.status)
                           .join(Sample, Sample.id == FamilyMember.sample_id)
                           .where(FamilyMember.family_id == cand.family_id)
                           .order_by(FamilyMember.person_code)).all()
    references = [{"person": p, "sex": sex, "sample": code, "status": st} for p, sex, code, _, st in refs]
    profiles = {p: unpack_profile(prof) for p, _, _, prof, st in refs if st == "active"}
    try:
        per_locus = json.loads(cand.lr_per_locus or "{}")
    except ValueError:
        per_locus = {}
    inconsistent = {x for x in (cand.inconsistent_loci or "").split(",") if x}
    rows = []
    for locus in sorted(set(per_locus) | set(child)):
        g = child.get(locus)
        rows.append({"locus": locus, "child": "/".join(g) if g else None,
                     "references": {p: "/".join(prof[locus]) if locus in prof else None
                                    for p, prof in profiles.items()},
                     "lr": per_locus.get(locus), "needs_mutation": locus in inconsistent})
    return rows, references


def candidate_detail(session: Session, candidate_id: int, *, actor: Actor, settings=None) -> dict:
    """One candidate in full (see the module's docstring); run it in a write transaction:
    the reading of names and contacts is audited."""
    actor.require("candidate:read")
    settings = settings or get_settings()
    cand = candidate_or_404(session, candidate_id)
    s = sides(session, cand)
    rev = session.get(CandidateReview, cand.id)
    assignee = session.get(User, rev.assigned_to) if rev and rev.assigned_to else None
    loci, references = locus_table(session, cand)
    tol = tolerance_of(cand)
    missing = session.execute(select(FamilyMember).where(FamilyMember.family_id == cand.family_id,
                                                         FamilyMember.person_code == cand.missing_code)
                              ).scalar_one_or_none()
    post = posterior_of(session, cand, settings=settings)
    tests = []
    for t in tests_of(session, cand.id):
        code = session.execute(select(Sample.code).where(Sample.id == t.sample_id)).scalar()
        d = confirmation_dict(t, settings=settings, sample_code=code, withdrawn=withdrawn_used(session, t))
        d["posterior"] = None if d["void"] else _num(posterior_of(session, cand, log10_lr=t.log10_lr,
                                                                  settings=settings)["posterior"])
        tests.append(d)
    operation = session.get(RescueOperation, s.child.operation_id) if s.child.operation_id else None
    child = {"code": s.child.code, "sex": s.child.sex, "category": s.child.category, "status": s.child.status,
             "estimated_birth_date": s.child.estimated_birth_date.isoformat() if s.child.estimated_birth_date else None,
             "found_date": s.child.found_date.isoformat() if s.child.found_date else None,
             # free text (a street, a building): in the child's jurisdiction only; the code for everyone
             "found_place": s.child.found_place if actor.in_scope(s.child_path) else None,
             "found_place_code": code_of(session, s.child.found_place_id),
             "operation": operation.code if operation else None,
             "sample": session.execute(select(Sample.code).where(Sample.id == s.child.sample_id)).scalar(),
             **_owner(session, s.child.jurisdiction_id, s.child.agency_id), "personal": None}
    fam = {"code": s.family.code, "missing": cand.missing_code, "report": s.report.code if s.report else None,
           "report_status": s.report.status if s.report else None,
           **_owner(session, s.report.jurisdiction_id if s.report else None, s.report.agency_id if s.report else None),
           "personal": None}
    shown = []
    if actor.sees_personal(s.child_path):
        child["personal"] = {**(_detail(session, "unidentified", s.child.id) or {}),
                             "placement_kind": s.child.placement_kind, "placement_name": s.child.placement_name}
        shown.append("child")
    if actor.sees_personal(s.family_path):
        members = session.execute(select(FamilyMember.id, FamilyMember.person_code)
                                  .where(FamilyMember.family_id == s.family.id)).all()
        fam["personal"] = {
            "child": _detail(session, "report_child", s.report.id) if s.report else None,
            "contact": _detail(session, "report_contact", s.report.id) if s.report else None,
            "circumstances": s.report.circumstances if s.report else None,
            "missing_place_detail": s.report.missing_place_detail if s.report else None,
            "members": {p: d for mid, p in members if (d := _detail(session, "family_member", mid))}}
        shown.append("family")
    if shown:
        audit(session, actor, "candidate.read_personal", entity="candidate", entity_id=cand.id,
              details={"sides": shown, "unidentified": s.child.code, "family": s.family.code})
    summary = confirmation_summary(session, cand.id, settings=settings)
    return {
        "id": cand.id, "status": cand.status, "version": rev.version if rev else 1,
        "assignee": assignee.username if assignee else None,
        "confirmation_requested_by": rev.confirmation_requested_by if rev else None,
        "confirmed_by": rev.confirmed_by if rev else None, "reason": rev.reason if rev else None,
        "below_threshold": bool(rev.below_threshold) if rev else False,
        "lr": _num(cand.lr), "log10_lr": _num(cand.log10_lr), "loci_compared": cand.loci_compared,
        "posterior": _num(post["posterior"]), "prior": post["prior"], "prior_source": post["prior_source"],
        "compatible_families": post["families"],
        "compatibility": compatibility(s.child, missing, s.report, tolerance_days=tol),
        "flags": flag_list(cand.flags), "inconsistent_loci": sorted(x for x in (cand.inconsistent_loci or "").split(",")
                                                                 if x),
        "loci": loci, "references": references, "child": child, "family": fam,
        "confirmation_tests": tests, "can_confirm": bool(summary["supporting"]) and not summary["excluding"],
        "history": [event_dict(e) for e in _events(session, cand.id)],
        "provenance": json.loads(cand.provenance or "{}"),
        "personal_shown": shown,
    }


def _events(session: Session, candidate_id: int):
    from reunite.store.models_workflow import CandidateEvent

    return session.execute(select(CandidateEvent).where(CandidateEvent.candidate_id == candidate_id)
                           .order_by(CandidateEvent.id)).scalars()


# ---------------------------------------------------------------------------------------
# the candidate page: pedigrees, filters' choices, everything in one call


#: a person's relation to the missing person, as the pedigree labels say it (translated when drawn)
RELATIONS = ("father", "mother", "parent", "grandfather", "grandmother", "grandparent", "full sibling",
             "half sibling", "uncle", "aunt", "uncle or aunt", "son or daughter", "partner", "relative",
             "unrelated")


def relation_to(person: str, missing: str, parents: dict[str, tuple], sexes: dict[str, str]) -> str | None:
    """``person``'s relation to ``missing`` in a pedigree (``parents``: code -> (father,
    mother)), one of :data:`RELATIONS`, None for the missing person themself."""
    if person == missing:
        return None

    def of(p):
        return {x for x in parents.get(p, (None, None)) if x}

    sex = sexes.get(person)
    mp = of(missing)
    if person in mp:
        return {"M": "father", "F": "mother"}.get(sex, "parent")
    grand = set().union(*(of(p) for p in mp)) if mp else set()
    if person in grand:
        return {"M": "grandfather", "F": "grandmother"}.get(sex, "grandparent")
    pp = of(person)
    if mp and pp:
        if len(mp) == 2 and pp == mp:
            return "full sibling"
        if pp & mp:
            return "half sibling"
        if pp & grand:
            return {"M": "uncle", "F": "aunt"}.get(sex, "uncle or aunt")
    if missing in pp:
        return "son or daughter"
    if any(missing in (f, m) and person in (f, m) for f, m in parents.values()):
        return "partner"
    return "relative"


def pedigree_people(session: Session, candidate_id: int, *, actor: Actor) -> dict:
    """The two pedigrees of a candidate as :class:`reunite.reports.pedigree.Person` lists:
    ``family`` (H1: the family's pedigree with the compared child placed as the missing
    person, typed = has an active sample) and ``alternative`` (H2: the references with
    their pedigree, the missing person untyped, the child drawn apart, unrelated).

    Labels are codes and relations (father, aunt ...) with sample codes: never names.
    Needs ``candidate:read``."""
    from reunite.i18n import gettext
    from reunite.reports.pedigree import Person

    actor.require("candidate:read")
    cand = candidate_or_404(session, candidate_id)
    s = sides(session, cand)
    rows = session.execute(select(FamilyMember.person_code, FamilyMember.father_code, FamilyMember.mother_code,
                                  FamilyMember.sex, FamilyMember.role, Sample.code, Sample.status)
                           .outerjoin(Sample, Sample.id == FamilyMember.sample_id)
                           .where(FamilyMember.family_id == cand.family_id).order_by(FamilyMember.id)).all()
    parents = {r[0]: (r[1], r[2]) for r in rows}
    sexes = {r[0]: (r[3] if r[3] in ("M", "F") else "U") for r in rows}
    child_sample = session.execute(select(Sample.code).where(Sample.id == s.child.sample_id)).scalar()
    child_sex = s.child.sex if s.child.sex in ("M", "F") else "U"
    family, alternative = [], []
    for code, father, mother, _, role, sample, sample_status in rows:
        typed = sample is not None and sample_status == "active"
        rel = relation_to(code, cand.missing_code, parents, sexes)
        label = f"{code} · {gettext(rel)}" if rel else code
        sex = sexes[code]
        if code == cand.missing_code:
            family.append(Person(code, father, mother, sex if sex != "U" else child_sex, typed=True, missing=True,
                                 label=f"{code} = {s.child.code}", note=child_sample))
            alternative.append(Person(code, father, mother, sex, typed=False, missing=True, label=code))
            continue
        other_missing = role == "missing"
        person = Person(code, father, mother, sex, typed=typed and not other_missing, missing=other_missing,
                        label=label, note=sample if typed else None)
        family.append(person)
        alternative.append(person)
    unrelated = gettext("unrelated")
    apart = s.child.code if s.child.code not in parents else f"{s.child.code} ({unrelated})"
    alternative.append(Person(apart, None, None, child_sex, typed=True, label=s.child.code,
                              note=f"{child_sample} · {unrelated}" if child_sample else unrelated))
    return {"family": family, "alternative": alternative}


#: upper bounds of the verbal scale of a kinship LR (LR below the bound -> words): the scale of
#: the ENFSI Guideline for Evaluative Reporting in Forensic Science (2015), defined in
#: :data:`reunite.genetics.verbal.ENFSI_2015` (each bound belonging to the higher step: LR 10
#: is moderate support); LR exactly 1 supports neither proposition, LR below 1 the alternative
AGAINST_RELATIONSHIP = "supports the alternative: unrelated (H2)"
RELATIONSHIP = "the relationship (H1)"
VERBAL_SCALE = ((1.0, AGAINST_RELATIONSHIP),) + upper_bound_table(ENFSI_2015, favoured=RELATIONSHIP)


def verbal_lr(lr: float | None) -> str:
    """The verbal equivalent of a kinship LR (the ENFSI 2015 scale,
    :func:`reunite.genetics.verbal.verbal_equivalent`); every LR below 1 is worded as
    supporting the alternative."""
    if lr is None or (isinstance(lr, float) and math.isnan(lr)):
        return "inconclusive (no LR)"
    if lr < 1.0:
        return AGAINST_RELATIONSHIP
    return verbal_equivalent(float(lr), scale=ENFSI_2015, h1=RELATIONSHIP, one_tolerance=0.0).words


def family_types(session: Session, *, actor: Actor) -> list[str]:
    """The family types the store holds (for the list's filter); needs ``candidate:read``."""
    actor.require("candidate:read")
    return sorted(t for t in session.execute(select(Family.family_type).distinct()).scalars() if t)


def candidate_page(session: Session, candidate_id: int, *, actor: Actor, settings=None) -> dict:
    """Everything the candidate page shows, in one call (a write transaction: it audits the
    reading of names, see :func:`candidate_detail`): ``candidate`` (the detail), ``pedigrees``
    (:func:`pedigree_people`), ``steps`` (:func:`reunite.cases.review.steps_for`),
    ``reviewers`` (to assign to) and ``targets`` (whom a confirmation sample may type:
    ``child`` and the untyped persons of the pedigree), ``verbal`` (:func:`verbal_lr`)."""
    from reunite.cases import review

    detail = candidate_detail(session, candidate_id, actor=actor, settings=settings)
    pedigrees = pedigree_people(session, candidate_id, actor=actor)
    steps = review.steps_for(session, candidate_id, actor=actor)
    roles = dict(session.execute(select(FamilyMember.person_code, FamilyMember.role).join(
        MatchCandidate, MatchCandidate.family_id == FamilyMember.family_id)
        .where(MatchCandidate.id == candidate_id)).all())
    targets = ["child"] + [p.id for p in pedigrees["family"] if not p.typed and roles.get(p.id) != "missing"]
    cand = candidate_or_404(session, candidate_id)
    return {"candidate": detail, "pedigrees": pedigrees, "steps": steps, "verbal": verbal_lr(cand.lr),
            "reviewers": review.reviewers(session, actor=actor) if "assign" in steps else [],
            "targets": targets}
