"""What ``reunite stats`` reports about a database: counts, coverage, the searches still owed
and the candidates an analyst must look at before anyone reads an LR.  One service for every
face (CLI now, API and web pages later); the faces only print it."""

from __future__ import annotations

import json
from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from reunite.store.models import Family, MatchCandidate, PendingSearch, Sample, Unidentified

IDENTITY_KINDS = ("identical", "identical_common_loci", "one_locus_apart")


def database_summary(session: Session, *, chunk: int = 50_000) -> dict:
    """Counts of the database.

    Returns ``{"samples": {status: n}, "families": {type: n}, "unidentified": {category: n},
    "candidates": {status: n}, "candidates_flagged": {"identity": n, "superseded": n},
    "pending_searches": {kind: n}, "coverage": {locus: n}, "num_active": n}``; the loci
    coverage counts active samples typed at each locus.
    """
    samples = dict(session.execute(select(Sample.status, func.count()).group_by(Sample.status)).all())
    families = Counter({t or "unspecified": n for t, n in session.execute(
        select(Family.family_type, func.count()).group_by(Family.family_type)).all()})
    unidentified = Counter({c or "unspecified": n for c, n in session.execute(
        select(Unidentified.category, func.count()).group_by(Unidentified.category)).all()})
    candidates = dict(session.execute(select(MatchCandidate.status, func.count())
                                      .group_by(MatchCandidate.status)).all())
    flagged = {"identity": 0, "superseded": 0}
    q = select(MatchCandidate.flags).where(MatchCandidate.flags != "")
    for part in session.connection().execute(q.execution_options(stream_results=True)).partitions(chunk):
        for (text,) in part:
            try:
                kinds = {f.get("kind") for f in json.loads(text) if isinstance(f, dict)}
            except (ValueError, TypeError, AttributeError):
                continue
            flagged["identity"] += bool(kinds & set(IDENTITY_KINDS))
            flagged["superseded"] += "superseded" in kinds
    pending = dict(session.execute(select(PendingSearch.kind, func.count()).group_by(PendingSearch.kind)).all())
    coverage: Counter = Counter()
    num_active = 0
    q = select(Sample.profile).where(Sample.status == "active")
    for part in session.connection().execute(q.execution_options(stream_results=True)).partitions(chunk):
        for (profile,) in part:
            num_active += 1
            coverage.update(item.partition("=")[0] for item in profile.split(";") if item)
    return {"samples": samples, "families": dict(families), "unidentified": dict(unidentified),
            "candidates": candidates, "candidates_flagged": flagged, "pending_searches": pending,
            "coverage": dict(coverage), "num_active": num_active}
