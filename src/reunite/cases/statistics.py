"""Counts and series for dashboards, charts and the statistics report (one service for the web
pages, the PDF report and the CLI).  Every function is scoped to what the actor may read.

Every number is a SQL aggregate (``COUNT ... GROUP BY``), never a loop over rows in Python, so
a page stays fast with millions of candidates.  Scope:

- a report counts for the users of its owning jurisdiction's subtree;
- a candidate counts where either side is in the actor's subtree (the family side: its
  report's jurisdiction, national without a report; the child side: the child's), as in
  :func:`reunite.cases.review.check_scope`;
- an outcome and its follow-ups count in the outcome's jurisdiction's subtree.

Lists on the dashboard show codes only (never names), so nothing here is audited.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache

from sqlalchemy import and_, case, func, literal, or_, select, true
from sqlalchemy.orm import Session, aliased

from reunite import i18n
from reunite.cases.notifications import DUE_WITHIN_DAYS
from reunite.cases.places import places
from reunite.errors import ReuniteError
from reunite.security.actor import NATIONAL_PATH, Actor
from reunite.settings import get_settings
from reunite.store.models import ImportBatch, MatchCandidate, Unidentified
from reunite.store.models_workflow import (
    OUTCOME_KINDS,
    REPORT_STATUSES,
    CandidateEvent,
    CandidateReview,
    ConfirmationTest,
    FollowUp,
    Jurisdiction,
    MissingReport,
    Outcome,
    RescueOperation,
)

#: rows listed under each count of the dashboard
DASHBOARD_ROWS = 5
#: the outcome kind that is a reunion
REUNION = "returned_home"
#: statuses of a report still being worked on (for "open cases over time")
RESOLVED_REPORT_STATUSES = ("identified", "closed")
#: the LR histogram's range of log10 LR: values outside are counted in the end bins
HISTOGRAM_RANGE = (-10, 40)


@dataclass
class Dashboard:
    """What a user's dashboard shows (each list holds at most a few rows; counts are totals).

    A count is None where the user's permissions do not cover it (the page leaves that card
    out): reports need ``report:read``, candidates ``candidate:read``, follow-ups
    ``outcome:read``, imports ``data:import``."""

    open_reports: int | None = 0
    new_candidates: int | None = 0  # status 'new', LR at or above the notify threshold
    reviews_waiting: int | None = 0  # assigned to / under review by this user (reviewers), or all in scope
    confirmations_pending: int | None = 0
    follow_ups_due: int | None = 0  # not done, due within DUE_WITHIN_DAYS days (overdue included)
    recent_imports: list = field(default_factory=list)  # import batch views, newest first
    rows: dict = field(default_factory=dict)  # name -> a few rows to list under each count
    follow_ups_overdue: int | None = 0
    notify_log10_lr: float = 4.0
    reviewer: bool = False  # reviews_waiting counts the user's own reviews
    due_within_days: int = DUE_WITHIN_DAYS
    imports_shown: bool = False


# ---------------------------------------------------------------------------------------
# SQL helpers (SQLite and PostgreSQL)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _text_part(session: Session, column, length: int, pg_format: str):
    """The first ``length`` characters of a date/time as text ('2025-03' for a month)."""
    if _dialect(session) == "sqlite":  # dates and times are stored as ISO text
        return func.substr(column, 1, length)
    return func.to_char(column, pg_format)


def _month(session: Session, column):
    return _text_part(session, column, 7, "YYYY-MM")


def _year(session: Session, column):
    return _text_part(session, column, 4, "YYYY")


def _floor(session: Session, expr):
    """floor(expr) for |expr| < 10^6 (SQLite may lack floor(): a cast of a positive number truncates)."""
    if _dialect(session) == "sqlite":
        from sqlalchemy import Integer, cast

        return cast(expr + 1_000_000, Integer) - 1_000_000
    return func.floor(expr)


def _in_subtree(actor: Actor, path_column):
    """The condition 'a record of jurisdiction ``path_column`` is in the actor's subtree'."""
    if actor.jurisdiction_path == NATIONAL_PATH:
        return true()
    return path_column.startswith(actor.jurisdiction_path, autoescape=True)


def _candidates(actor: Actor, *columns):
    """``select(columns)`` over the candidates in the actor's scope, joined with their child
    (``Unidentified``) and their family's report (``MissingReport``, outer)."""
    q = (select(*columns).select_from(MatchCandidate)
         .join(Unidentified, Unidentified.id == MatchCandidate.unidentified_id)
         .outerjoin(MissingReport, MissingReport.family_id == MatchCandidate.family_id))
    if actor.jurisdiction_path != NATIONAL_PATH:
        rj, cj = aliased(Jurisdiction), aliased(Jurisdiction)
        q = (q.outerjoin(rj, rj.id == MissingReport.jurisdiction_id)
             .outerjoin(cj, cj.id == Unidentified.jurisdiction_id)
             .where(or_(rj.path.startswith(actor.jurisdiction_path, autoescape=True),
                        cj.path.startswith(actor.jurisdiction_path, autoescape=True))))
    return q


def _reports(actor: Actor, *columns):
    """``select(columns)`` over the reports the actor's jurisdiction owns."""
    return (select(*columns).select_from(MissingReport)
            .join(Jurisdiction, Jurisdiction.id == MissingReport.jurisdiction_id)
            .where(_in_subtree(actor, Jurisdiction.path)))


def _outcomes(actor: Actor, *columns):
    """``select(columns)`` over the outcomes of the actor's subtree."""
    return (select(*columns).select_from(Outcome)
            .join(Jurisdiction, Jurisdiction.id == Outcome.jurisdiction_id)
            .where(_in_subtree(actor, Jurisdiction.path)))


def _count(session: Session, query) -> int:
    return int(session.execute(query).scalar() or 0)


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


#: the periods a chart or report may cover (a series has one point per month)
MIN_YEAR, MAX_YEAR = 1900, 2999


def _check_period(start: date | None, end: date | None) -> None:
    for name, value in (("start", start), ("end", end)):
        if value is not None and not isinstance(value, date):
            raise ReuniteError(f"{name}: expected a date (YYYY-MM-DD), found {value!r}")
        if value is not None and not MIN_YEAR <= value.year <= MAX_YEAR:
            raise ReuniteError(f"{name}: expected a year from {MIN_YEAR} to {MAX_YEAR}, found {value.isoformat()}")
    if start is not None and end is not None and end < start:
        raise ReuniteError(f"end: expected a date on or after start ({start.isoformat()}), found {end.isoformat()}")


def _between(column, start: date | None, end: date | None, *, moment: bool) -> list:
    """Conditions 'column within [start, end]' (days, both included); ``moment``: a timestamp."""
    out = []
    if start is not None:
        out.append(column >= (_start_of(start) if moment else start))
    if end is not None:
        out.append(column < _start_of(end + timedelta(days=1)) if moment else column <= end)
    return out


def _num(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


# ---------------------------------------------------------------------------------------
# the dashboard


def dashboard(session: Session, *, actor: Actor, today: date | None = None, settings=None,
              rows: int = DASHBOARD_ROWS) -> Dashboard:
    """The counts and short lists of one user's dashboard (see :class:`Dashboard`).

    Any logged-in user may open it; each count needs the permission that reads its records,
    and covers the actor's jurisdiction subtree.  A reviewer (``candidate:review``) sees the
    reviews assigned to them (statuses ``assigned`` and ``under_review``); others see every
    such review in scope."""
    settings = settings or get_settings()
    today = today or datetime.now(timezone.utc).date()
    out = Dashboard(notify_log10_lr=settings.notify_log10_lr, reviewer=actor.can("candidate:review"))
    if actor.can("report:read"):
        q = _reports(actor, MissingReport.code, MissingReport.missing_date, MissingReport.created_at,
                     Jurisdiction.code).where(MissingReport.status == "open")
        out.open_reports = _count(session, _reports(actor, func.count()).where(MissingReport.status == "open"))
        out.rows["open_reports"] = [
            {"code": code, "missing_date": missing, "created_at": created, "jurisdiction": where}
            for code, missing, created, where in session.execute(
                q.order_by(MissingReport.id.desc()).limit(rows)).all()]
    else:
        out.open_reports = None
    if actor.can("candidate:read"):
        def listed(q):
            q = q.order_by(MatchCandidate.log10_lr.desc(), MatchCandidate.id.desc()).limit(rows)
            return [{"id": cid, "status": status, "log10_lr": _num(lg), "lr": _num(lr), "unidentified": u,
                     "report": r} for cid, status, lg, lr, u, r in session.execute(q).all()]

        cols = (MatchCandidate.id, MatchCandidate.status, MatchCandidate.log10_lr, MatchCandidate.lr,
                Unidentified.code, MissingReport.code)
        new = [MatchCandidate.status == "new", MatchCandidate.log10_lr >= settings.notify_log10_lr]
        waiting = [MatchCandidate.status.in_(("assigned", "under_review"))]
        if out.reviewer:
            waiting.append(MatchCandidate.id.in_(select(CandidateReview.candidate_id)
                                                 .where(CandidateReview.assigned_to == actor.user_id)))
        pending = [MatchCandidate.status == "confirmation_requested"]
        counts = session.execute(_candidates(actor, *(func.coalesce(func.sum(case((and_(*c), 1), else_=0)), 0)
                                                      for c in (new, waiting, pending)))
                                 .where(MatchCandidate.status.in_(("new", "assigned", "under_review",
                                                                   "confirmation_requested")))).one()
        out.new_candidates, out.reviews_waiting, out.confirmations_pending = (int(n) for n in counts)
        out.rows["new_candidates"] = listed(_candidates(actor, *cols).where(*new))
        out.rows["reviews_waiting"] = listed(_candidates(actor, *cols).where(*waiting))
        out.rows["confirmations_pending"] = listed(_candidates(actor, *cols).where(*pending))
    else:
        out.new_candidates = out.reviews_waiting = out.confirmations_pending = None
    if actor.can("outcome:read"):
        due = [FollowUp.done_at.is_(None), FollowUp.due_date <= today + timedelta(days=DUE_WITHIN_DAYS)]
        base = _outcomes(actor, func.count()).join(FollowUp, FollowUp.outcome_id == Outcome.id)
        out.follow_ups_due = _count(session, base.where(*due))
        out.follow_ups_overdue = _count(session, base.where(FollowUp.done_at.is_(None), FollowUp.due_date < today))
        q = (_outcomes(actor, FollowUp.id, FollowUp.outcome_id, FollowUp.due_date, Unidentified.code)
             .join(FollowUp, FollowUp.outcome_id == Outcome.id)
             .join(Unidentified, Unidentified.id == Outcome.unidentified_id)
             .where(*due).order_by(FollowUp.due_date, FollowUp.id).limit(rows))
        out.rows["follow_ups_due"] = [{"id": fid, "outcome_id": oid, "due_date": d, "child": child,
                                       "overdue": d < today} for fid, oid, d, child in session.execute(q).all()]
    else:
        out.follow_ups_due = out.follow_ups_overdue = None
    if actor.can("data:import"):
        from reunite.cases.intake import list_imports

        out.imports_shown = True
        out.recent_imports = list_imports(session, actor=actor, limit=rows).items
    return out


# ---------------------------------------------------------------------------------------
# charts


def lr_distribution(session: Session, *, actor: Actor, settings=None, bin_width: float = 1.0,
                    status: str | None = None, values: bool = False) -> dict:
    """The LR distribution of the candidates in scope (``status``: of one status only).

    Returns ``{"bins": [{"lo", "hi", "count"}], "thresholds": {"notify": x, "review": y},
    "total", "infinite", "zero", "undefined"}``: bins of ``bin_width`` in log10 LR, counted in
    SQL (values beyond :data:`HISTOGRAM_RANGE` fall into the end bins), the candidates with
    an infinite LR (a child the alternative cannot explain), LR 0 and NaN counted apart.
    ``values``: also ``"log10_lr"``, every finite value (small databases only).  Needs
    ``statistics:read``."""
    actor.require("statistics:read")
    settings = settings or get_settings()
    if not (isinstance(bin_width, (int, float)) and 0.1 <= bin_width <= 10):
        raise ReuniteError(f"bin_width: expected 0.1 to 10 (log10 units), found {bin_width!r}")
    x = MatchCandidate.log10_lr
    lo, hi = HISTOGRAM_RANGE
    where = [MatchCandidate.status == status] if status else []
    finite = [x > -1e300, x < 1e300]
    kind = case((x == float("nan"), 3), (x >= 1e300, 1), (x <= -1e300, 2), (x.is_(None), 3), else_=0).label("kind")
    clamped = case((x < lo, lo), (x >= hi, hi - bin_width / 2), else_=x)
    k = case((kind == 0, _floor(session, clamped / bin_width)), else_=None).label("k")
    counts, by_kind = {}, {0: 0, 1: 0, 2: 0, 3: 0}
    for j, what, n in session.execute(_candidates(actor, k, kind, func.count()).where(*where).group_by(k, kind)):
        by_kind[int(what)] += int(n)
        if int(what) == 0:
            counts[int(j)] = int(n)
    bins = []
    if counts:
        first, last = min(counts), max(counts)
        bins = [{"lo": j * bin_width, "hi": (j + 1) * bin_width, "count": counts.get(j, 0)}
                for j in range(first, last + 1)]
    total, infinite, zero = sum(by_kind.values()), by_kind[1], by_kind[2]
    out = {"bins": bins, "bin_width": bin_width,
           "thresholds": {"notify": settings.notify_log10_lr, "review": settings.review_log10_lr},
           "total": total, "infinite": infinite, "zero": zero,
           "undefined": total - infinite - zero - sum(b["count"] for b in bins)}
    if values:
        out["log10_lr"] = [v for (v,) in session.execute(_candidates(actor, x).where(*where, *finite))]
    return out


def _months(first: str, last: str) -> list[str]:
    y, m = int(first[:4]), int(first[5:7])
    out = []
    while f"{y:04d}-{m:02d}" <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def cases_over_time(session: Session, *, actor: Actor, start: date | None = None,
                    end: date | None = None) -> list[dict]:
    """Per month: ``{"period": "2025-03", "new_reports": n, "reunions": n, "open_cases": n}``.

    ``new_reports``: reports registered that month; ``reunions``: outcomes ``returned_home``
    dated that month; ``open_cases``: at the month's end, reports registered by then and not
    yet identified or closed (a report identified or closed counts as resolved from its last
    change).  Months from ``start`` (default: the first with any) to ``end`` (default: the
    last with any).  Needs ``statistics:read``."""
    actor.require("statistics:read")
    _check_period(start, end)
    new_m = _month(session, MissingReport.created_at).label("m")
    new = dict(session.execute(_reports(actor, new_m, func.count()).group_by(new_m)).all())
    done_m = _month(session, MissingReport.updated_at).label("m")
    resolved = dict(session.execute(_reports(actor, done_m, func.count())
                                    .where(MissingReport.status.in_(RESOLVED_REPORT_STATUSES))
                                    .group_by(done_m)).all())
    out_m = _month(session, Outcome.outcome_date).label("m")
    reunions = dict(session.execute(_outcomes(actor, out_m, func.count()).where(Outcome.kind == REUNION)
                                    .group_by(out_m)).all())
    known = sorted(set(new) | set(resolved) | set(reunions))
    if not known and (start is None or end is None):
        return []
    first = f"{start.year:04d}-{start.month:02d}" if start else known[0]
    last = f"{end.year:04d}-{end.month:02d}" if end else known[-1]
    opened = sum(n for m, n in new.items() if m < first)
    closed = sum(n for m, n in resolved.items() if m < first)
    series = []
    for month in _months(first, last):
        opened += new.get(month, 0)
        closed += resolved.get(month, 0)
        series.append({"period": month, "new_reports": int(new.get(month, 0)),
                       "reunions": int(reunions.get(month, 0)), "open_cases": int(opened - closed)})
    return series


def province_of(code: str | None) -> str | None:
    """The province of a GB/T 2260 code: its first two digits and '0000' (None for no code)."""
    if not code or len(code) < 2 or not code[:2].isdigit():
        return None
    return code[:2] + "0000"


def province_names(session: Session, codes) -> dict[str, tuple[str, str]]:
    """``code -> (English name, Chinese name)`` of provinces: the jurisdictions table, else the
    shipped places table, else the code itself."""
    codes = {c for c in codes if c}
    known = {c: (n, z) for c, n, z in session.execute(
        select(Jurisdiction.code, Jurisdiction.name, Jurisdiction.name_zh).where(Jurisdiction.code.in_(codes)))} \
        if codes else {}
    table = places()
    out = {}
    for c in codes:
        name, name_zh = known.get(c, (None, None))
        place = table.get(c)
        out[c] = (name or (place.name if place else c), name_zh or (place.name_zh if place else None) or name or c)
    return out


def _confirmed_at():
    """A subquery: candidate id -> when it was confirmed (its 'confirmed' event)."""
    return (select(CandidateEvent.candidate_id.label("cid"), func.max(CandidateEvent.at).label("at"))
            .where(CandidateEvent.to_status == "confirmed").group_by(CandidateEvent.candidate_id).subquery())


def province_flows(session: Session, *, actor: Actor, start: date | None = None, end: date | None = None,
                   by: str = "missing") -> list[dict]:
    """Where children went missing against where they were found, by province, for the
    confirmed identifications in scope: ``{"from_code", "from_name", "from_name_en",
    "from_name_zh", "to_code", "to_name", ..., "count", "years": {year: n}}``, the largest
    flows first.  ``from``: the province of the report's missing place, ``to``: of the
    child's found place (identifications without both places are left out).

    ``by``: the date that dates a flow (its year, and the ``start``/``end`` filter):
    ``missing`` (the report's missing date; undated identifications count under the year
    'unknown' and only without a filter) or ``confirmed`` (when the match was confirmed).
    ``from_name``/``to_name`` are in the current language.  Needs ``statistics:read``."""
    actor.require("statistics:read")
    _check_period(start, end)
    if by not in ("missing", "confirmed"):
        raise ReuniteError(f"by: expected 'missing' or 'confirmed', found {by!r}")
    mp, fp = aliased(Jurisdiction), aliased(Jurisdiction)
    src = func.substr(mp.code, 1, 2).label("src")
    dst = func.substr(fp.code, 1, 2).label("dst")
    if by == "missing":
        dated, moment = MissingReport.missing_date, False
        q = _candidates(actor)
    else:
        confirmed = _confirmed_at()
        dated, moment = confirmed.c.at, True
        q = _candidates(actor).join(confirmed, confirmed.c.cid == MatchCandidate.id)
    year = _year(session, dated).label("year")
    q = (q.add_columns(src, dst, year, func.count())
         .join(mp, mp.id == MissingReport.missing_place_id).join(fp, fp.id == Unidentified.found_place_id)
         .where(MatchCandidate.status == "confirmed", *_between(dated, start, end, moment=moment))
         .group_by(src, dst, year))
    flows: dict[tuple[str, str], dict] = {}
    for a, b, y, n in session.execute(q).all():
        if not (a and b and a.isdigit() and b.isdigit()):
            continue
        key = (a + "0000", b + "0000")
        row = flows.setdefault(key, {"from_code": key[0], "to_code": key[1], "count": 0, "years": {}})
        row["count"] += int(n)
        label = y or "unknown"
        row["years"][label] = row["years"].get(label, 0) + int(n)
    names = province_names(session, {c for k in flows for c in k})
    zh = i18n.current_language() == "zh_CN"
    out = []
    for (a, b), row in flows.items():
        row.update(from_name_en=names[a][0], from_name_zh=names[a][1], to_name_en=names[b][0],
                   to_name_zh=names[b][1], from_name=names[a][1 if zh else 0], to_name=names[b][1 if zh else 0])
        row["years"] = dict(sorted(row["years"].items()))
        out.append(row)
    return sorted(out, key=lambda r: (-r["count"], r["from_code"], r["to_code"]))


# ---------------------------------------------------------------------------------------
# identification in simulations


def _simulated_records(db: dict):
    """Search records (families, unidentified) of a simulated database, without a store."""
    from reunite.genetics.pedigree import make_pedigree
    from reunite.search.engine import FamilyRecord, UnidentifiedRecord

    profiles: dict[str, dict] = {}
    for sample, locus, a, b in db["genotypes"]:
        profiles.setdefault(sample, {})[locus] = (a, b)
    by_family: dict[str, list] = {}
    for row in db["families"]:
        by_family.setdefault(row[0], []).append(row)
    families = []
    for k, (code, rows) in enumerate(sorted(by_family.items())):
        pedigree = make_pedigree([{"id": r[1], "father": r[2] or None, "mother": r[3] or None, "sex": r[4]}
                                  for r in rows])
        families.append(FamilyRecord(k + 1, code, pedigree, [r[1] for r in rows if r[5] == "missing"],
                                     {r[1]: profiles[r[6]] for r in rows if r[5] == "reference" and r[6] in profiles}))
    unidentified = [UnidentifiedRecord(k + 1, r[0], r[2], profiles.get(r[1], {}))
                    for k, r in enumerate(db["unidentified"])]
    return families, unidentified


@lru_cache(maxsize=16)
def _identification(seed: int, families: int, num_unidentified: int, threshold: float, population: str) -> tuple:
    from reunite.search.engine import search
    from reunite.simulate import FAMILY_TYPES, simulate_database
    from reunite.store.profiles import GeneticModel

    db = simulate_database(families, num_unidentified, seed=seed, population=population, share_found=1.0)
    fams, unidentified = _simulated_records(db)
    model = GeneticModel(population)
    result = search(unidentified, fams, model=model, min_lr=10.0 ** threshold, top_k=1, per="unidentified")
    first = {c.unidentified.code: c.family.code for c in result.candidates if c.rank == 1}
    ftype = {r[0]: r[7] for r in db["families"]}
    rows = []
    for name, _, _ in FAMILY_TYPES:
        pairs = [(u, f) for u, f, _ in db["truth"] if ftype.get(f) == name]
        identified = sum(1 for u, f in pairs if first.get(u) == f)
        rows.append((name, len(pairs), identified))
    return tuple(rows)


def identification_by_family_type(*, seed: int = 1, families: int = 200, num_unidentified: int | None = None,
                                  threshold_log10_lr: float = 4.0, population: str = "CHN_national_GBT37223",
                                  **options) -> list[dict]:
    """Share of true identifications by family type in a simulation:
    ``{"family_type", "families", "identified", "share"}``.

    ``families`` families are simulated (types mixed as in :data:`reunite.simulate.FAMILY_TYPES`)
    with ``num_unidentified`` children (default half as many), every one of them some family's
    missing child; each child is searched against every family (the search engine, exact LR).
    A child is truly identified when its own family is ranked first with log10 LR at or above
    ``threshold_log10_lr``.  ``families`` counts, per type, the families whose child was
    searched.  Results are cached in memory per arguments (a few seconds the first time)."""
    if options:
        raise ReuniteError(f"options: unknown {', '.join(sorted(options))}; expected seed, families, "
                           "num_unidentified, threshold_log10_lr, population")
    if not (isinstance(families, int) and 10 <= families <= 5000):
        raise ReuniteError(f"families: expected 10 to 5000, found {families!r}")
    num_unidentified = families // 2 if num_unidentified is None else num_unidentified
    if not (isinstance(num_unidentified, int) and 1 <= num_unidentified <= families):
        raise ReuniteError(f"num_unidentified: expected 1 to {families}, found {num_unidentified!r}")
    rows = _identification(int(seed), families, num_unidentified, float(threshold_log10_lr), population)
    return [{"family_type": name, "families": n, "identified": k, "share": (k / n) if n else None}
            for name, n, k in rows]


# ---------------------------------------------------------------------------------------
# a period's statistics report


def period_summary(session: Session, *, actor: Actor, start: date, end: date, settings=None) -> dict:
    """The statistics report of a period (``start`` to ``end``, both days included), in the
    actor's scope; every number a SQL count:

    ``reports``: registered in the period, and now by status; open at the period's end.
    ``candidates``: new in the period, of them at or above the notify threshold; confirmed
    and rejected in the period (their review events); open reviews now, by status.
    ``confirmation_tests``: added in the period.  ``operations``: rescue operations in the
    period (their date) and children registered through them.  ``unidentified``: children
    found in the period.  ``outcomes``: by kind, dated in the period.  ``follow_ups``: due in
    the period, done in the period, overdue at the period's end (not done).  ``flows``:
    province flows of the identifications confirmed in the period.  ``months``: the
    :func:`cases_over_time` series of the period.  Needs ``statistics:read``."""
    actor.require("statistics:read")
    if start is None or end is None:
        raise ReuniteError("start, end: expected both dates of the period (YYYY-MM-DD)")
    _check_period(start, end)
    settings = settings or get_settings()
    in_period = lambda column, moment=True: _between(column, start, end, moment=moment)  # noqa: E731
    status_now = dict(session.execute(_reports(actor, MissingReport.status, func.count())
                                      .group_by(MissingReport.status)).all())
    reports = {
        "new": _count(session, _reports(actor, func.count()).where(*in_period(MissingReport.created_at))),
        "by_status": {s: int(status_now.get(s, 0)) for s in REPORT_STATUSES},
        "total": int(sum(status_now.values())),
    }
    months = cases_over_time(session, actor=actor, start=start, end=end)
    reports["open_at_end"] = months[-1]["open_cases"] if months else 0

    def events(to_status: str) -> int:
        q = _candidates(actor, func.count(func.distinct(CandidateEvent.candidate_id))).join(
            CandidateEvent, CandidateEvent.candidate_id == MatchCandidate.id).where(
            CandidateEvent.to_status == to_status, *in_period(CandidateEvent.at))
        return _count(session, q)

    open_now = dict(session.execute(_candidates(actor, MatchCandidate.status, func.count()).where(
        MatchCandidate.status.in_(("new", "assigned", "under_review", "confirmation_requested")))
        .group_by(MatchCandidate.status)).all())
    new_c = _candidates(actor, func.count()).where(*in_period(MatchCandidate.created_at))
    candidates = {
        "new": _count(session, new_c),
        "new_above_threshold": _count(session, new_c.where(MatchCandidate.log10_lr >= settings.notify_log10_lr)),
        "confirmed": events("confirmed"),
        "rejected": events("rejected"),
        "confirmation_requested": events("confirmation_requested"),
        "open_by_status": {s: int(open_now.get(s, 0)) for s in ("new", "assigned", "under_review",
                                                                   "confirmation_requested")},
        "notify_log10_lr": settings.notify_log10_lr,
    }
    tests = _count(session, _candidates(actor, func.count()).join(
        ConfirmationTest, ConfirmationTest.candidate_id == MatchCandidate.id).where(
        *in_period(ConfirmationTest.created_at)))
    ops_q = (select(func.count(func.distinct(RescueOperation.id)), func.count(Unidentified.id))
             .select_from(RescueOperation)
             .join(Jurisdiction, Jurisdiction.id == RescueOperation.jurisdiction_id)
             .outerjoin(Unidentified, Unidentified.operation_id == RescueOperation.id)
             .where(_in_subtree(actor, Jurisdiction.path), *in_period(RescueOperation.operation_date, False)))
    num_ops, num_rescued = session.execute(ops_q).one()
    found_q = (select(func.count()).select_from(Unidentified)
               .outerjoin(Jurisdiction, Jurisdiction.id == Unidentified.jurisdiction_id)
               .where(_in_subtree(actor, func.coalesce(Jurisdiction.path, literal(NATIONAL_PATH))),
                      *in_period(Unidentified.found_date, False)))
    kinds = dict(session.execute(_outcomes(actor, Outcome.kind, func.count())
                                 .where(*in_period(Outcome.outcome_date, False)).group_by(Outcome.kind)).all())
    fu = _outcomes(actor, func.count()).join(FollowUp, FollowUp.outcome_id == Outcome.id)
    follow_ups = {
        "due": _count(session, fu.where(*in_period(FollowUp.due_date, False))),
        "done": _count(session, fu.where(*in_period(FollowUp.done_at))),
        "overdue_at_end": _count(session, fu.where(FollowUp.due_date <= end, or_(
            FollowUp.done_at.is_(None), FollowUp.done_at >= _start_of(end + timedelta(days=1))))),
    }
    flows = province_flows(session, actor=actor, start=start, end=end, by="confirmed")
    return {
        "start": start, "end": end, "scope": actor.jurisdiction_path, "generated_by": actor.username,
        "reports": reports, "candidates": candidates, "confirmation_tests": tests,
        "operations": {"count": int(num_ops or 0), "children": int(num_rescued or 0)},
        "unidentified": {"found": _count(session, found_q)},
        "outcomes": {k: int(kinds.get(k, 0)) for k in OUTCOME_KINDS},
        "reunions": int(kinds.get(REUNION, 0)),
        "follow_ups": follow_ups, "flows": flows, "months": months,
        "imports": _imports_in(session, actor, start, end),
    }


def _imports_in(session: Session, actor: Actor, start: date, end: date) -> int | None:
    """Import batches in the period (None without ``data:import``: imports are not scoped)."""
    if not actor.can("data:import"):
        return None
    return _count(session, select(func.count()).select_from(ImportBatch).where(
        *_between(ImportBatch.created_at, start, end, moment=True)))



def chart_data(session: Session, *, actor: Actor, start: date | None = None, end: date | None = None,
               flows_by: str = "missing", settings=None, simulation: dict | None = None) -> dict:
    """Everything the charts page draws, in one call: ``lr`` (:func:`lr_distribution`),
    ``months`` (:func:`cases_over_time` of the period), ``flows`` (:func:`province_flows` of
    the period, dated ``flows_by``) and ``family_types`` (:func:`identification_by_family_type`
    with ``simulation``'s arguments; its threshold: the notify threshold).  Needs ``statistics:read``."""
    actor.require("statistics:read")
    _check_period(start, end)
    settings = settings or get_settings()
    simulation = {"seed": 1, "families": 200, "threshold_log10_lr": settings.notify_log10_lr, **(simulation or {})}
    return {
        "lr": lr_distribution(session, actor=actor, settings=settings),
        "months": cases_over_time(session, actor=actor, start=start, end=end),
        "flows": province_flows(session, actor=actor, start=start, end=end, by=flows_by),
        "family_types": identification_by_family_type(**simulation),
        "simulation": simulation,
        "start": start, "end": end, "flows_by": flows_by,
    }
