"""Searching again after a correction, so that no stored candidate keeps showing an LR of
data that has been corrected (the corrections themselves are :mod:`reunite.store.corrections`).

The searches of a correction are recorded as pending in the correction's own transaction;
:func:`research` runs them (after the correction, or later from ``reunite search --pending``)
and brings the earlier candidates of the corrected records up to date.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from reunite.search.engine import SearchResult
from reunite.store.corrections import Correction
from reunite.store.models import Family, FamilyMember, MatchCandidate, PendingSearch, Sample, Unidentified
from reunite.store.profiles import GeneticModel

SUPERSEDED = "superseded"  # the kind of the flag on candidates a correction leaves behind

@dataclass
class ResearchSummary:
    """What :func:`research` did to the candidates of the corrected records."""

    num_compared: int = 0
    stored: int = 0  # candidates written by the searches (new or updated, LR >= min_lr)
    updated: int = 0  # earlier candidates outside the top found again and updated
    superseded: int = 0  # earlier candidates below min_lr or no longer comparable, flagged
    reflagged: int = 0  # stored candidates whose identity flags changed (this or other persons')
    below_threshold: int = 0  # reviewed candidates newly flagged below the review threshold
    notes: list[str] = field(default_factory=list)


def flag_list(text: str | None) -> list:
    """The flags stored on a candidate (JSON list text) as a list; text that is not JSON is one flag."""
    if not text:
        return []
    try:
        value = json.loads(text)
    except ValueError:
        return [text]
    return value if isinstance(value, list) else [value]


def _set_superseded(row: MatchCandidate, why: str | None) -> None:
    """Remove a superseded flag from ``row``, or (``why`` given) set one; other flags kept."""
    flags = [f for f in flag_list(row.flags) if not (isinstance(f, dict) and f.get("kind") == SUPERSEDED)]
    if why:
        flags.append({"kind": SUPERSEDED, "reason": why})
    row.flags = json.dumps(flags) if flags else ""


def superseded_reason(flags_text: str | None) -> str | None:
    """Why a stored candidate is superseded (None if it is not)."""
    for f in flag_list(flags_text):
        if isinstance(f, dict) and f.get("kind") == SUPERSEDED:
            return f.get("reason") or SUPERSEDED
    return None


def research(session: Session, model: GeneticModel, *, unidentified_ids=(), family_ids=(),
             min_lr: float = 1.0, top_k: int | None = 20, because: str = "a correction",
             index=None, workers: int = 1) -> ResearchSummary:
    """Search the corrected records again and bring their candidates up to date.

    1. The unidentified persons are searched against every family, the families against
       every unidentified person, as after an import (:func:`run_search`: ``min_lr``,
       ``top_k``); those candidates are stored (LR, per-locus LRs, provenance updated).
    2. Every earlier candidate of these persons and families that the searches did not
       return is computed again, pair by pair, with the corrected data: its LR, per-locus
       LRs and provenance are updated; if its LR is now below ``min_lr``, or the pair is no
       longer compared (a withdrawn sample, sexes that now disagree, too few common loci, a
       missing person no longer in the pedigree), it is flagged ``superseded`` with the
       reason (in ``flags``; a pair no longer compared keeps its old numbers, under the
       flag).  Candidates are never deleted; their status is kept.
    3. A candidate found again at LR >= ``min_lr`` loses an earlier superseded flag.
    4. Every candidate whose LR or superseded flag changed, and every reviewed one (status
       beyond 'new'), gets a 're-searched' row in its history (old and new LR); a reviewed
       candidate whose log10 LR is now below ``settings.review_log10_lr`` (or that is
       superseded) is flagged ``below_threshold`` (an event, and a notification to its
       assignee), never removed; one back above loses the flag.

    Pending searches of these subjects are deleted (done).
    """
    from reunite.search.service import run_search, store_candidates

    uids = sorted(set(unidentified_ids))
    fids = sorted(set(family_ids))
    summary = ResearchSummary()
    found: set[tuple[int, int, str]] = set()
    before = _snapshot(session, uids, fids)
    if uids:
        result = run_search(session, model, unidentified_ids=uids, min_lr=min_lr, top_k=top_k,
                            index=index, workers=workers)
        summary.num_compared += result.num_compared
        found.update((c.unidentified.id, c.family.id, c.missing) for c in result.candidates)
    if fids:
        result = run_search(session, model, family_ids=fids, per="family", min_lr=min_lr, top_k=top_k,
                            workers=workers)
        summary.num_compared += result.num_compared
        found.update((c.unidentified.id, c.family.id, c.missing) for c in result.candidates)
    summary.stored = len(found)
    session.flush()
    conditions = []
    if uids:
        conditions.append(MatchCandidate.unidentified_id.in_(uids))
    if fids:
        conditions.append(MatchCandidate.family_id.in_(fids))
    rows = list(session.execute(select(MatchCandidate).where(or_(*conditions))).scalars()) if conditions else []
    stale = []
    for row in rows:
        if (row.unidentified_id, row.family_id, row.missing_code) in found:
            _set_superseded(row, None)
        else:
            stale.append(row)
    if stale:  # earlier candidates the searches did not return: those pairs computed again
        again = run_search(session, model, unidentified_ids=sorted({r.unidentified_id for r in stale}),
                           family_ids=sorted({r.family_id for r in stale}), per="unidentified", min_lr=0.0,
                           top_k=None, store=False, use_index=False)
        wanted = {(r.unidentified_id, r.family_id, r.missing_code) for r in stale}
        by_key = {key: c for c in again.candidates
                  if (key := (c.unidentified.id, c.family.id, c.missing)) in wanted}
        skipped = {(u, f, m): why for u, f, m, why in again.skipped_pairs}
        if by_key:
            store_candidates(session, SearchResult(list(by_key.values()), age_tolerance=again.age_tolerance), model)
            session.flush()
        for row in stale:
            c = by_key.get((row.unidentified_id, row.family_id, row.missing_code))
            if c is not None:
                summary.updated += 1
                if c.lr >= min_lr:
                    _set_superseded(row, None)
                else:
                    summary.superseded += 1
                    _set_superseded(row, f"after {because}: LR {c.lr:.4g} is below {min_lr:g}")
                continue
            summary.superseded += 1
            u_code = session.execute(select(Unidentified.code).where(Unidentified.id == row.unidentified_id)).scalar()
            f_code = session.execute(select(Family.code).where(Family.id == row.family_id)).scalar()
            why = skipped.get((u_code, f_code, row.missing_code))
            _set_superseded(row, f"after {because}: no longer compared ("
                                 + (why or _not_compared(session, row)) + "); the numbers are those "
                                 "of the data before")
    session.flush()
    summary.below_threshold = _note_review_changes(session, before, because=because)
    # the identity flags of other persons' stored candidates that named, or now match, these profiles
    from reunite.search.service import identity_neighbours, refresh_identity_flags

    summary.reflagged = refresh_identity_flags(
        session, model, identity_neighbours(session, model, unidentified_ids=uids, family_ids=fids))
    for kind, ids in (("unidentified", uids), ("family", fids)):
        if ids:
            session.execute(delete(PendingSearch).where(PendingSearch.kind == kind,
                                                        PendingSearch.subject_id.in_(ids)))
    return summary


def _snapshot(session: Session, uids: list[int], fids: list[int]) -> dict[int, tuple]:
    """LR, log10 LR and superseded reason of the stored candidates of these persons and families."""
    out = {}
    for column, ids in ((MatchCandidate.unidentified_id, uids), (MatchCandidate.family_id, fids)):
        for start in range(0, len(ids), 500):
            for cid, lr, log10_lr, flags in session.execute(
                    select(MatchCandidate.id, MatchCandidate.lr, MatchCandidate.log10_lr, MatchCandidate.flags)
                    .where(column.in_(ids[start:start + 500]))):
                out[cid] = (lr, log10_lr, superseded_reason(flags))
    return out


def _same(a: float, b: float) -> bool:
    return a == b or (a != a and b != b)  # NaN == NaN here


REVIEWED = ("assigned", "under_review", "confirmation_requested", "confirmed")


def _note_review_changes(session: Session, before: dict[int, tuple], *, because: str) -> int:
    """History rows and below-threshold flags of the candidates a re-search brought up to date
    (step 4 of :func:`research`); returns how many reviewed candidates were newly flagged."""
    from sqlalchemy import update

    from reunite.genetics.kinship import json_number
    from reunite.settings import get_settings
    from reunite.store.models import utcnow
    from reunite.store.models_workflow import CandidateEvent, CandidateReview, Notification

    threshold = get_settings().review_log10_lr
    ids = sorted(before)
    flagged = 0
    for start in range(0, len(ids), 500):
        for row, review in session.execute(
                select(MatchCandidate, CandidateReview)
                .outerjoin(CandidateReview, CandidateReview.candidate_id == MatchCandidate.id)
                .where(MatchCandidate.id.in_(ids[start:start + 500])).order_by(MatchCandidate.id)):
            old_lr, old_log, old_sup = before[row.id]
            sup = superseded_reason(row.flags)
            changed = not _same(old_log, row.log10_lr) or old_sup != sup
            reviewed = review is not None and row.status in REVIEWED
            now = utcnow()
            if changed or reviewed:
                session.add(CandidateEvent(
                    candidate_id=row.id, from_status=row.status, to_status=row.status, actor="system", at=now,
                    comment=f"re-searched after {because}: log10 LR {old_log:.2f} -> {row.log10_lr:.2f}"
                            + (f"; {sup}" if sup else ""),
                    data=json.dumps({"event": "re-searched", "old_lr": json_number(old_lr),
                                     "new_lr": json_number(row.lr), "old_log10_lr": json_number(old_log),
                                     "new_log10_lr": json_number(row.log10_lr), "superseded": sup})))
            if not reviewed:
                continue
            below = bool(sup) or not (row.log10_lr >= threshold)
            if below == bool(review.below_threshold):
                continue
            session.execute(update(CandidateReview).where(CandidateReview.candidate_id == row.id)
                            .values(below_threshold=below, version=CandidateReview.version + 1, updated_at=now)
                            .execution_options(synchronize_session=False))
            what = (f"below the review threshold (log10 LR {row.log10_lr:.2f} < {threshold:g}"
                    + (f"; {sup}" if sup else "") + ")") if below else f"back at or above log10 LR {threshold:g}"
            session.add(CandidateEvent(
                candidate_id=row.id, from_status=row.status, to_status=row.status, actor="system", at=now,
                comment=f"after {because}: {what}",
                data=json.dumps({"event": "below_threshold" if below else "above_threshold",
                                 "log10_lr": json_number(row.log10_lr), "threshold": threshold})))
            if below:
                flagged += 1
                if review.assigned_to is not None:
                    session.add(Notification(
                        user_id=review.assigned_to, kind="transition", entity="candidate", entity_id=row.id,
                        subject=f"candidate {row.id} ({row.status}) fell below the review threshold after {because}",
                        body=f"log10 LR {old_log:.2f} -> {row.log10_lr:.2f}" + (f"; {sup}" if sup else "")))
    session.flush()
    return flagged


def _not_compared(session: Session, row: MatchCandidate) -> str:
    """Why the search no longer compares a stored candidate's pair."""
    status, u_sex = session.execute(select(Sample.status, Unidentified.sex).join(
        Unidentified, Unidentified.sample_id == Sample.id).where(Unidentified.id == row.unidentified_id)).one()
    if status != "active":
        return "the unidentified person's sample is withdrawn"
    member = session.execute(select(FamilyMember).where(FamilyMember.family_id == row.family_id,
                                                        FamilyMember.person_code == row.missing_code)
                             ).scalar_one_or_none()
    if member is None or member.role != "missing":
        return f"{row.missing_code!r} is no longer a missing person of the family"
    if u_sex in ("M", "F") and member.sex in ("M", "F") and u_sex != member.sex:
        return f"sex {u_sex} of the unidentified person, {member.sex} of the missing person"
    return "too few common loci, or a search filter excludes the pair"


def apply(session: Session, correction: Correction, model: GeneticModel, **kwargs) -> ResearchSummary:
    """:func:`research` for one correction."""
    return research(session, model, unidentified_ids=correction.unidentified_ids,
                    family_ids=correction.family_ids, because=correction.describe(), **kwargs)
