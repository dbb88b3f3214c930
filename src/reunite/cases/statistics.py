"""Counts and series for dashboards, charts and the statistics report (one service for the web
pages, the PDF report and the CLI).  Every function is scoped to what the actor may read.

Signatures fixed for the pages and the PDF reports; bodies being built (issue 9).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.orm import Session

from reunite.security.actor import Actor


@dataclass
class Dashboard:
    """What a user's dashboard shows (each list holds at most a few rows; counts are totals)."""

    open_reports: int = 0
    new_candidates: int = 0  # status 'new', LR at or above the notify threshold
    reviews_waiting: int = 0  # assigned to / under review by this user (reviewers), or all in scope
    confirmations_pending: int = 0
    follow_ups_due: int = 0
    recent_imports: list = field(default_factory=list)  # import batch views, newest first
    rows: dict = field(default_factory=dict)  # name -> a few rows to list under each count


def dashboard(session: Session, *, actor: Actor, today: date | None = None, settings=None) -> Dashboard:
    raise NotImplementedError


def lr_distribution(session: Session, *, actor: Actor, settings=None) -> dict:
    """``{"log10_lr": [...], "thresholds": {"notify": x, "review": y}}`` of the candidates in scope."""
    raise NotImplementedError


def cases_over_time(session: Session, *, actor: Actor, start: date | None = None, end: date | None = None) -> list[dict]:
    """Per month: ``{"period": "2025-03", "new_reports": n, "reunions": n, "open_cases": n}``."""
    raise NotImplementedError


def province_flows(session: Session, *, actor: Actor, start: date | None = None, end: date | None = None) -> list[dict]:
    """Where children went missing against where they were found, by province:
    ``{"from_code", "from_name", "to_code", "to_name", "count", "years": {year: n}}``."""
    raise NotImplementedError


def identification_by_family_type(*, seed: int = 1, families: int = 200, **options) -> list[dict]:
    """Share of true identifications by family type in a simulation:
    ``{"family_type", "families", "identified", "share"}``."""
    raise NotImplementedError


def period_summary(session: Session, *, actor: Actor, start: date, end: date) -> dict:
    """The statistics report of a period: reports, candidates, confirmations, outcomes by kind,
    follow-ups, flows (the numbers of the PDF statistics report)."""
    raise NotImplementedError
