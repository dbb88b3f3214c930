"""Posterior probability of a candidate, and whether the child and the missing child agree in
sex and age.

    posterior = LR·π / (LR·π + 1 − π)

The prior π is ``settings.prior`` (``REUNITE_PRIOR``) when it is set; otherwise
π = 1 / N, N the number of families whose missing person is compatible with the child in
sex and dates (the families the search compares the child with: sex known on both sides
must agree; dates as the age filter, with the candidate's age tolerance), counted as at
least 2 so that π stays below 1.  That prior says
"before the DNA, the child is equally likely to be any compatible family's missing child";
it assumes the child's family is in the database (when many rescued children belong to no
registered family, a smaller prior, set with REUNITE_PRIOR, is more cautious).  The prior
used is shown beside every posterior.
"""

from __future__ import annotations

import threading
from datetime import date, timedelta

import numpy as np

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from reunite.genetics import posterior as _formulas
from reunite.settings import get_settings
from reunite.store.models import Family, FamilyMember, MatchCandidate, RecordVersion, Unidentified

#: the formulas, shared with 'reunite lr' (:mod:`reunite.genetics.posterior`)
posterior = _formulas.posterior
posterior_from_log10 = _formulas.posterior_from_log10


def compatible_families_query(session: Session, child: Unidentified, *, tolerance_days: int) -> int:
    """The count of :func:`compatible_families` by one SQL query (the slow, obvious reference:
    it scans every missing person, some 40 ms at 100,000 families)."""
    q = select(func.count(func.distinct(FamilyMember.family_id))).where(FamilyMember.role == "missing")
    if child.sex in ("M", "F"):
        q = q.where(FamilyMember.sex != ("F" if child.sex == "M" else "M"))
    tol = timedelta(days=tolerance_days)
    ub, uf = child.estimated_birth_date, child.found_date
    if ub is not None:
        q = q.where(or_(FamilyMember.birth_date.is_(None), FamilyMember.birth_date.between(ub - tol, ub + tol)))
        q = q.where(or_(FamilyMember.missing_date.is_(None), FamilyMember.missing_date >= ub - tol))
    if uf is not None:
        q = q.where(or_(FamilyMember.birth_date.is_(None), FamilyMember.birth_date <= uf))
    return int(session.execute(q).scalar() or 0)


_NO_DAY = np.iinfo(np.int32).min  # a date not known
_SEX = {"M": 1, "F": 2}


class _MissingPersons:
    """Every missing person's family, sex and dates as arrays, for counting compatible
    families in microseconds; rebuilt when families or pedigrees change (the token)."""

    def __init__(self, session: Session):
        rows = session.execute(select(FamilyMember.family_id, FamilyMember.sex, FamilyMember.birth_date,
                                      FamilyMember.missing_date).where(FamilyMember.role == "missing")).all()
        fids = np.array([r[0] for r in rows], dtype=np.int64)
        self.family, inverse = np.unique(fids, return_inverse=True) if len(fids) else (fids, fids)
        self.family_index = inverse.astype(np.int64)
        self.sex = np.array([_SEX.get(r[1], 0) for r in rows], dtype=np.int8)  # 0 unknown, 1 M, 2 F
        self._counts: dict[tuple, int] = {}  # (sex, estimated birth, found, tolerance) -> count
        self.one_each = len(self.family) == len(rows)  # one missing person per family: no de-duplication
        self.birth = np.array([_NO_DAY if r[2] is None else r[2].toordinal() for r in rows], dtype=np.int64)
        self.missing = np.array([_NO_DAY if r[3] is None else r[3].toordinal() for r in rows], dtype=np.int64)

    def count(self, child: Unidentified, *, tolerance_days: int) -> int:
        key = (child.sex, child.estimated_birth_date, child.found_date, tolerance_days)
        found = self._counts.get(key)
        if found is None:
            found = self._count(child, tolerance_days=tolerance_days)
            if len(self._counts) > 100_000:
                self._counts.clear()
            self._counts[key] = found
        return found

    def _count(self, child: Unidentified, *, tolerance_days: int) -> int:
        mask = np.ones(len(self.sex), dtype=bool)
        if child.sex in ("M", "F"):
            mask &= self.sex != _SEX["F" if child.sex == "M" else "M"]
        no_birth, no_missing = self.birth == _NO_DAY, self.missing == _NO_DAY
        if child.estimated_birth_date is not None:
            ub = child.estimated_birth_date.toordinal()
            mask &= no_birth | ((self.birth >= ub - tolerance_days) & (self.birth <= ub + tolerance_days))
            mask &= no_missing | (self.missing >= ub - tolerance_days)
        if child.found_date is not None:
            mask &= no_birth | (self.birth <= child.found_date.toordinal())
        if self.one_each:
            return int(np.count_nonzero(mask))
        if not mask.any():
            return 0
        return int(np.count_nonzero(np.bincount(self.family_index[mask], minlength=len(self.family))))


_CACHE: dict[str, tuple[tuple, _MissingPersons]] = {}
_CACHE_LOCK = threading.Lock()


def _token(session: Session) -> tuple:
    """What the missing persons' arrays were built from: the newest family, the newest
    correction (a pedigree, sex or date changed), the newest family member (families are
    never deleted); three index lookups."""
    return (session.execute(select(func.max(Family.id))).scalar(),
            session.execute(select(func.max(RecordVersion.id))).scalar(),
            session.execute(select(func.max(FamilyMember.id))).scalar())


def compatible_families(session: Session, child: Unidentified, *, tolerance_days: int,
                        token: tuple | None = None) -> int:
    """How many families have a missing person compatible with ``child`` in sex and dates
    (the rules of the search's filters, :func:`reunite.search.engine.age_conflicts`).

    Counted on arrays of every missing person kept per database and rebuilt when a family
    is added or corrected; equal to :func:`compatible_families_query` (tested)."""
    key = str(session.get_bind().url)
    token = token if token is not None else _token(session)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
    if cached is None or cached[0] != token:
        cached = (token, _MissingPersons(session))
        with _CACHE_LOCK:
            _CACHE[key] = cached
    return cached[1].count(child, tolerance_days=tolerance_days)


def _tolerance(candidate: MatchCandidate) -> int:
    import json

    from reunite.search.engine import DEFAULT_AGE_TOLERANCE, tolerance_days

    try:
        days = json.loads(candidate.provenance or "{}").get("age_filter", {}).get("tolerance_days")
    except (ValueError, AttributeError):
        days = None
    return int(days) if isinstance(days, int) else tolerance_days(DEFAULT_AGE_TOLERANCE)


def prior_for(session: Session, candidate: MatchCandidate, *, settings=None, cache: dict | None = None) -> dict:
    """The prior of a candidate: ``{"prior": π, "source": ..., "families": N or None}``."""
    settings = settings or get_settings()
    if settings.prior is not None:
        return {"prior": settings.prior, "source": "setting REUNITE_PRIOR", "families": None}
    key = (candidate.unidentified_id, _tolerance(candidate))
    if cache is not None and key in cache:
        return cache[key]
    child = session.get(Unidentified, candidate.unidentified_id)
    token = cache.get("__token__") if cache is not None else None
    if token is None:
        token = _token(session)
        if cache is not None:
            cache["__token__"] = token  # one list of candidates: the database read once
    n = compatible_families(session, child, tolerance_days=key[1], token=token)
    out = {"prior": 1.0 / max(n, 2), "families": n,
           "source": f"1 / {max(n, 2):,}: {n:,} families compatible with the child in sex and dates"
           + (" (at least 2 counted)" if n < 2 else "")}
    if cache is not None:
        cache[key] = out
    return out


def posterior_of(session: Session, candidate: MatchCandidate, *, log10_lr: float | None = None, settings=None,
                 cache: dict | None = None) -> dict:
    """``{"posterior", "prior", "prior_source", "families"}`` of the candidate (or of another
    LR of it, e.g. a confirmation test's)."""
    p = prior_for(session, candidate, settings=settings, cache=cache)
    value = posterior_from_log10(candidate.log10_lr if log10_lr is None else log10_lr, p["prior"])
    return {"posterior": value, "prior": p["prior"], "prior_source": p["source"], "families": p["families"]}


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def compatibility(child: Unidentified, missing: FamilyMember | None, report=None, *,
                  tolerance_days: int) -> dict:
    """Sex and age of the child against the missing child (the pedigree's missing person;
    the report's dates where the pedigree has none)."""
    m_sex = missing.sex if missing is not None else None
    if m_sex not in ("M", "F") and report is not None:
        m_sex = report.child_sex
    sex_ok = not (child.sex in ("M", "F") and m_sex in ("M", "F") and child.sex != m_sex)
    m_birth = missing.birth_date if missing is not None else None
    m_missing = missing.missing_date if missing is not None else None
    if report is not None:
        m_birth = m_birth or report.child_birth_date
        m_missing = m_missing or report.missing_date
    ub, uf = child.estimated_birth_date, child.found_date
    tol = timedelta(days=tolerance_days)
    reasons = []
    if ub and m_birth and abs((ub - m_birth).days) > tolerance_days:
        reasons.append(f"estimated birth {ub} and birth {m_birth} are {abs((ub - m_birth).days)} days apart "
                       f"(tolerance {tolerance_days})")
    if uf and m_birth and uf < m_birth:
        reasons.append(f"found {uf}, before the missing child's birth {m_birth}")
    if ub and m_missing and ub > m_missing + tol:
        reasons.append(f"estimated birth {ub} is after the missing date {m_missing} (tolerance {tolerance_days} days)")
    known = bool(ub and (m_birth or m_missing)) or bool(uf and m_birth)
    return {
        "sex": {"child": child.sex, "missing": m_sex, "compatible": sex_ok},
        "age": {"child_estimated_birth": _iso(ub), "child_found": _iso(uf), "missing_birth": _iso(m_birth),
                "missing_date": _iso(m_missing),
                "birth_difference_days": (ub - m_birth).days if ub and m_birth else None,
                "tolerance_days": tolerance_days, "compatible": not reasons, "known": known,
                "reasons": reasons},
    }


def tolerance_of(candidate: MatchCandidate) -> int:
    return _tolerance(candidate)
