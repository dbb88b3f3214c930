"""Late birth-registration checks: is the child the claimed father's and/or mother's?

The child becomes an unidentified person (category 'registration_check') with their sample;
the claimed parents' samples are owned 'claimed_parent' (``claimed_parents`` rows).  The
parentage LR is computed with the kinship engine and the database's genetic model (its
frequency table, mutation model and θ):

    H1: the claimed parent(s) are the child's parent(s) (duo: one parent; trio: both);
    H2: the child is unrelated to them.

Every locus typed in the child and in a claimed parent is used (Amelogenin, X- and Y-STRs
left out; the provenance's ``loci_left_out`` says which and why).  A locus is
*inconsistent* when the child's genotype cannot be formed from the claimed parents' alleles
without a mutation.  The verbal equivalent of the LR
(:data:`VERBAL_SCALE`), the scale of the ENFSI Guideline for Evaluative Reporting in
Forensic Science (2015), the same bounds as the candidates' (:func:`reunite.cases.candidates.verbal_lr`):

    LR < 1             supports non-parentage
    LR = 1             no support for either proposition
    1 < LR < 10        weak / limited support for parentage
    10 <= LR < 100     moderate support
    100 <= LR < 10^3   moderately strong support
    10^3 <= LR < 10^4  strong support
    10^4 <= LR < 10^6  very strong support
    LR >= 10^6         extremely strong support

A check is *flagged* when the LR is below ``settings.registration_lr_threshold`` (default
10,000) or :data:`EXCLUSION_LOCI` or more loci are inconsistent (an exclusion): the
registration office users of the jurisdiction are notified and the child is searched against
every family (pending, run after the commit).  A consistent check is stored without a
search.  The registration number and the child's given name are personal.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from reunite import __version__
from reunite.cases.common import Page, audit, keyset_page
from reunite.cases.notifications import message, notify
from reunite.cases.records import (
    MAX_CODE,
    agency_code,
    check_sex,
    claim,
    clean,
    created_filter,
    details_of,
    iso,
    path_code,
    owner,
    sample_for,
    scope_filter,
)
from reunite.errors import Conflict, NotFound, ReuniteError
from reunite.i18n import N_
from reunite.genetics.kinship import Marker, json_number, kinship_lr, not_autosomal
from reunite.genetics.pedigree import duo, trio
from reunite.security.actor import Actor
from reunite.store.models import Sample, Unidentified
from reunite.store.models_workflow import ClaimedParent, Jurisdiction, RegistrationCheck, User, UserRole
from reunite.store.profiles import GeneticModel, unpack_profile
from reunite.store.genotype_import import unpack_y_profile

#: upper bounds of the verbal scale (LR below the bound -> words)
VERBAL_SCALE = ((1.0, "supports non-parentage"),
                (math.nextafter(1.0, math.inf), "no support for either proposition (LR = 1)"),
                (10.0, "weak/limited support for parentage"),
                (100.0, "moderate support for parentage"), (1e3, "moderately strong support for parentage"),
                (1e4, "strong support for parentage"), (1e6, "very strong support for parentage"),
                (math.inf, "extremely strong support for parentage"))
#: this many inconsistent loci or more: an exclusion, whatever the LR
EXCLUSION_LOCI = 3
CHILD, FATHER, MOTHER = "CH", "AF", "MO"


def verbal(lr: float) -> str:
    if math.isnan(lr):
        return "inconclusive (the genotypes are impossible under both hypotheses)"
    for bound, words in VERBAL_SCALE:
        if lr < bound:
            return words
    return VERBAL_SCALE[-1][1]


@dataclass
class Parentage:
    """A parentage LR with its per-locus LRs, inconsistent loci and provenance."""

    lr: float
    log10_lr: float
    lr_per_locus: dict[str, float]
    inconsistent_loci: list[str]
    verbal: str
    provenance: dict = field(default_factory=dict)


def mendel_consistent(child: tuple[str, str], father: tuple[str, str] | None, mother: tuple[str, str] | None) -> bool:
    """Whether ``child`` can take one allele from each typed claimed parent (no mutation)."""
    a, b = child
    for x, y in ((a, b), (b, a)):
        if (father is None or x in father) and (mother is None or y in mother):
            return True
    return False


def parentage_lr(model: GeneticModel, *, child: dict, father: dict | None = None,
                 mother: dict | None = None) -> Parentage:
    """The LR of the claimed parent(s) being the child's against being unrelated (see the
    module doc), with the database's model.  Profiles are ``{locus: (a, b)}``."""
    if father is None and mother is None:
        raise ReuniteError("father_sample_code: a check needs the claimed father, the claimed mother, or both")
    usable = model.loci()
    loci = sorted(locus for locus in child if locus in usable and not not_autosomal(locus)
                  and ((father and locus in father) or (mother and locus in mother)))
    if len(loci) < model.min_common_loci:
        raise ReuniteError(f"child_sample_code: the child and the claimed parent(s) have {len(loci)} loci in common; "
                           f"at least {model.min_common_loci} are needed (type more loci)")
    markers: list[Marker] = []
    inconsistent = []
    for locus in loci:
        genos = {CHILD: child[locus]}
        f = father.get(locus) if father else None
        m = mother.get(locus) if mother else None
        if f:
            genos[FATHER] = f
        if m:
            genos[MOTHER] = m
        markers.append(model.marker(locus, genos))
        if not mendel_consistent(child[locus], f, m):
            inconsistent.append(locus)
    if father is not None and mother is not None:
        h1 = trio(FATHER, MOTHER, CHILD)
    elif father is not None:
        h1 = duo(FATHER, CHILD, parent_sex="M")
    else:
        h1 = duo(MOTHER, CHILD, parent_sex="F")
    result = kinship_lr(h1, "unrelated", markers, theta=model.theta, case_id="registration")
    provenance = {
        "software": f"reunite {__version__}", "genetic_model": model.describe(),
        "frequency_table": model.population, "theta": model.theta,
        "mutation": {locus: (mu.describe() if (mu := model.locus_mutation(locus)) else "none") for locus in loci},
        "loci": loci, "loci_left_out": _left_out(child, loci, usable),
        "hypotheses": {"h1": result.provenance.get("h1"), "h2": "unrelated"},
        "rare_allele_rule": result.provenance.get("rare_allele_rule"),
        "verbal_scale": [[json_number(b), w] for b, w in VERBAL_SCALE], "exclusion_loci": EXCLUSION_LOCI,
        "computed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return Parentage(result.lr_total, result.log10_lr_total, dict(result.lr_per_marker), inconsistent,
                     verbal(result.lr_total), provenance)


def _left_out(child: dict, used: list[str], usable: set[str]) -> dict[str, str]:
    """Why each locus of the child is not in the LR (said in the provenance, never silently)."""
    out = {}
    for locus in sorted(set(child) - set(used)):
        why = not_autosomal(locus)
        if why:
            out[locus] = f"{why}; not used"
        elif locus not in usable:
            out[locus] = "not in the database's usable frequency table"
        else:
            out[locus] = "typed in the child only (no claimed parent typed there): no parentage evidence"
    return out


def _office(session: Session, path: str) -> list[int]:
    """Active users with the registration role whose jurisdiction holds ``path``."""
    rows = session.execute(select(User.id, Jurisdiction.path).join(UserRole, UserRole.user_id == User.id)
                           .join(Jurisdiction, Jurisdiction.id == User.jurisdiction_id)
                           .where(UserRole.role == "registration", User.active.is_(True))).all()
    return sorted({uid for uid, upath in rows if path.startswith(upath)})


def run_check(session: Session, *, actor: Actor, model: GeneticModel, code: str, child_sample_code: str,
              father_sample_code: str | None = None, mother_sample_code: str | None = None,
              child_code: str | None = None, child_sex: str = "U", child_given_name: str | None = None,
              estimated_birth_date: date | None = None, registration_number: str | None = None,
              jurisdiction_code: str | None = None, agency_code_: str | None = None,
              threshold: float | None = None) -> RegistrationCheck:
    """Run a late birth-registration check (see the module doc); ``threshold`` defaults to
    ``settings.registration_lr_threshold``."""
    from reunite.cases.unidentified import create_unidentified
    from reunite.settings import get_settings
    from reunite.search.service import record_pending

    actor.require("registration:write")
    code = clean(code, what="code", max_length=MAX_CODE, required=True)
    if session.execute(select(RegistrationCheck.id).where(RegistrationCheck.code == code)).first():
        raise Conflict(f"code: a registration check {code!r} already exists")
    threshold = get_settings().registration_lr_threshold if threshold is None else threshold
    if not threshold > 0:
        raise ReuniteError(f"threshold: expected a positive LR, found {threshold}")
    child_sex = check_sex(child_sex, what="child_sex")
    if not father_sample_code and not mother_sample_code:
        raise ReuniteError("father_sample_code: a check needs the claimed father, the claimed mother, or both")
    child = sample_for(session, child_sample_code, what="child_sample_code", sex=child_sex)
    parents: dict[str, Sample] = {}
    for role, sample_code, sex in (("father", father_sample_code, "M"), ("mother", mother_sample_code, "F")):
        if sample_code:
            parents[role] = sample_for(session, sample_code, what=f"{role}_sample_code", sex=sex)
    codes = [child.code] + [s.code for s in parents.values()]
    if len(set(codes)) != len(codes):
        raise ReuniteError("child_sample_code: the child and a claimed parent have the same sample")
    result = parentage_lr(model, child=unpack_profile(child.profile),
                          father=unpack_profile(parents["father"].profile) if "father" in parents else None,
                          mother=unpack_profile(parents["mother"].profile) if "mother" in parents else None)
    samples = [child, *parents.values()]
    if any(x.amelogenin for x in samples):
        result.provenance["loci_left_out"]["AMELOGENIN"] = ("Amelogenin shows the sex: used to check the "
                                                            "claimed sexes only, not as parentage evidence")
    ys = sorted({locus for x in samples for locus in unpack_y_profile(x.y_profile or "")})
    if ys:
        result.provenance["loci_left_out"]["Y-STRs"] = (f"Y-STRs ({', '.join(ys)}) kept with the samples but not "
                                                        "used: the parentage LR uses autosomal STRs only")
    if math.isnan(result.lr):
        raise ReuniteError(
            f"child_sample_code: the parentage LR is 0/0: the profiles of {', '.join(codes)} are impossible under "
            "both hypotheses (LR per locus: " + ", ".join(f"{k}={v}" for k, v in result.lr_per_locus.items()
                                                          if math.isnan(v)) + "); check the typing of those loci "
            "(a tri-allelic pattern, a dropout, a sample mix-up) and run the check again")
    excluded = len(result.inconsistent_loci) >= EXCLUSION_LOCI
    flagged = excluded or not (result.lr >= threshold)
    where, agency = owner(session, actor, jurisdiction_code=jurisdiction_code, agency_code=agency_code_,
                          what="registration check")
    person = create_unidentified(session, actor=actor, code=child_code or f"{code}-CH", sample_code=child.code,
                                 sex=child_sex, category="registration_check", estimated_birth_date=estimated_birth_date,
                                 jurisdiction_code=where.code, agency_code_=agency.code if agency else None,
                                 given_name=child_given_name, permission="registration:write", search=False)
    claim(session, list(parents.values()), "claimed_parent", where=f"registration check {code}")
    row = RegistrationCheck(
        code=code, unidentified_id=person.id,
        registration_number=clean(registration_number, what="registration_number", max_length=MAX_CODE),
        lr=result.lr, log10_lr=result.log10_lr,  # 0 / -inf and inf are stored as they are (never clipped)
        lr_per_locus=json.dumps({k: json_number(v) for k, v in result.lr_per_locus.items()}),
        inconsistent_loci=",".join(result.inconsistent_loci), verbal=result.verbal, threshold=threshold,
        status="flagged" if flagged else "consistent", provenance=json.dumps(result.provenance),
        jurisdiction_id=where.id, agency_id=agency.id if agency else None, created_by=actor.username)
    session.add(row)
    session.flush()
    for role, sample in parents.items():
        session.add(ClaimedParent(check_id=row.id, role=role, sample_id=sample.id, sample_owner_kind="claimed_parent"))
    session.flush()
    if flagged:
        subject = (N_("registration check %(code)s flagged: %(n)s inconsistent loci (exclusion)") if excluded
                   else N_("registration check %(code)s flagged: LR %(lr)s below the threshold %(threshold)s"))
        for uid in _office(session, where.path):
            notify(session, user_id=uid, kind="registration", subject=subject,
                   body=N_("child %(child)s; %(verbal)s; the child is searched against every family"),
                   entity="registration_check", entity_id=row.id,
                   params={"code": code, "n": len(result.inconsistent_loci), "lr": f"{result.lr:.3g}",
                           "threshold": f"{threshold:g}", "child": person.code,
                           "verbal": message(result.verbal)})
        record_pending(session, "unidentified", [person.id], reason=f"registration check {code} flagged")
    audit(session, actor, "registration.check", entity="registration_check", entity_id=code,
          details={"status": row.status, "log10_lr": json_number(result.log10_lr),
                   "inconsistent_loci": result.inconsistent_loci, "child": person.code,
                   "parents": {k: s.code for k, s in parents.items()}})
    return row


def _check(session: Session, code: str) -> tuple[RegistrationCheck, str]:
    code = clean(code, what="code", max_length=MAX_CODE, required=True)
    row = session.execute(select(RegistrationCheck).where(RegistrationCheck.code == code)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"code: no registration check {code!r}")
    return row, session.execute(select(Jurisdiction.path).where(Jurisdiction.id == row.jurisdiction_id)).scalar_one()


def _restricted(session: Session, c: RegistrationCheck, path: str) -> dict:
    return {"code": c.code, "status": c.status, "jurisdiction": path_code(path),
            "agency": agency_code(session, c.agency_id), "restricted": True}


def _locus_rows(session: Session, c: RegistrationCheck, per_locus: dict, parents: dict[str, str],
                inconsistent: set[str]) -> list[dict]:
    """Per locus: the child's and the claimed parents' alleles, the LR, and whether the
    child can have taken an allele from each typed claimed parent."""
    child = session.execute(select(Sample.profile).join(Unidentified, Unidentified.sample_id == Sample.id)
                            .where(Unidentified.id == c.unidentified_id)).scalar()
    child = unpack_profile(child) if child else {}
    typed = {role: unpack_profile(p) for role, p in parents.items()}

    def alleles(profile: dict | None, locus: str) -> str | None:
        g = (profile or {}).get(locus)
        return "/".join(g) if g else None

    return [{"locus": locus, "child": alleles(child, locus), "father": alleles(typed.get("father"), locus),
             "mother": alleles(typed.get("mother"), locus), "lr": per_locus[locus],
             "consistent": locus not in inconsistent} for locus in sorted(per_locus)]


def _view(session: Session, c: RegistrationCheck, path: str, actor: Actor, *, full: bool) -> dict:
    out = _restricted(session, c, path)
    child = session.execute(select(Unidentified.code).where(Unidentified.id == c.unidentified_id)).scalar()
    out.update(restricted=False, child=child, lr=json_number(c.lr), log10_lr=json_number(c.log10_lr), verbal=c.verbal, threshold=c.threshold,
               inconsistent_loci=[x for x in c.inconsistent_loci.split(",") if x],
               created_by=c.created_by, created_at=iso(c.created_at))
    if full:
        out["lr_per_locus"] = json.loads(c.lr_per_locus)
        out["provenance"] = json.loads(c.provenance)
        parents = session.execute(
            select(ClaimedParent.role, Sample.code, Sample.profile).join(Sample, Sample.id == ClaimedParent.sample_id)
            .where(ClaimedParent.check_id == c.id).order_by(ClaimedParent.role)).all()
        out["claimed_parents"] = {role: code for role, code, _ in parents}
        out["loci"] = _locus_rows(session, c, out["lr_per_locus"], {role: prof for role, _, prof in parents},
                                  set(out["inconsistent_loci"]))
    if actor.sees_personal(path) and full:
        name = details_of(session, "unidentified", c.unidentified_id)
        out.update(registration_number=c.registration_number, child_given_name=name.name if name else None)
    return out


def show_check(session: Session, code: str, *, actor: Actor) -> dict:
    actor.require("registration:read")
    c, path = _check(session, code)
    if not actor.in_scope(path):
        return _restricted(session, c, path)
    out = _view(session, c, path, actor, full=True)
    if actor.sees_personal(path):
        audit(session, actor, "registration.read_personal", entity="registration_check", entity_id=c.code)
    return out


def list_checks(session: Session, *, actor: Actor, status: str | None = None, jurisdiction_code: str | None = None,
                created_from: date | None = None, created_to: date | None = None, cursor: str | None = None,
                limit: int | None = None) -> Page:
    """Registration checks, newest first (out-of-scope ones with code, status, agency and
    jurisdiction only; no personal field in lists)."""
    from sqlalchemy import and_

    actor.require("registration:read")
    q = select(RegistrationCheck, Jurisdiction.path).join(Jurisdiction,
                                                         Jurisdiction.id == RegistrationCheck.jurisdiction_id)
    if status is not None:
        if status not in ("consistent", "flagged"):
            raise ReuniteError(f"status: expected consistent or flagged, found {status!r}")
        q = q.where(RegistrationCheck.status == status)
    q = q.where(*scope_filter(session, Jurisdiction.path, jurisdiction_code))
    dated = created_filter(RegistrationCheck.created_at, created_from, created_to)
    if dated:
        q = q.where(and_(*dated, Jurisdiction.path.startswith(actor.jurisdiction_path, autoescape=True)))
    page = keyset_page(session, q, RegistrationCheck.id, cursor=cursor, limit=limit, descending=True)
    page.items = [_view(session, c, path, actor, full=False) if actor.in_scope(path) else
                  _restricted(session, c, path) for c, path in page.items]
    return page


def check_detail(session: Session, code: str, *, actor: Actor) -> dict:
    """:func:`show_check` with, in the actor's jurisdiction, ``search``: whether the child has
    been searched against every family (``needed``: a flagged check searches its child;
    ``pending``: that search waits to run; ``candidates``: how many candidates it stored)."""
    from sqlalchemy import func

    from reunite.store.models import MatchCandidate, PendingSearch

    out = show_check(session, code, actor=actor)
    if out["restricted"]:
        return out
    c, _ = _check(session, code)
    pending = session.execute(select(PendingSearch.id).where(
        PendingSearch.kind == "unidentified", PendingSearch.subject_id == c.unidentified_id)).first() is not None
    found = session.execute(select(func.count(MatchCandidate.id)).where(
        MatchCandidate.unidentified_id == c.unidentified_id)).scalar() or 0
    needed = c.status == "flagged"
    out["search"] = {"needed": needed, "pending": pending, "searched": needed and not pending or found > 0,
                     "candidates": found}
    return out
