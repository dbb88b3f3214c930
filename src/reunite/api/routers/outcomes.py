"""/api/v1/outcomes and /api/v1/follow-ups: what became of identified children, and the
follow-up visits."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from reunite.api.deps import get_engine, get_settings_dep, reader, requires
from reunite.cases import outcomes as service
from reunite.cases.delivery import deliver_pending
from reunite.security.actor import Actor
from reunite.store.db import write_transaction

router = APIRouter(tags=["outcomes"])

Kind = Literal["returned_home", "family_refused", "welfare_placement", "foster_care", "adoption_referral"]
Code = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]
Username = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]
Notes = Annotated[str, Field(max_length=service.MAX_NOTES, pattern=r"^[^\x00]*$")]
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
Cursor = Annotated[str | None, Query(max_length=256)]
Limit = Annotated[int, Query(ge=1, le=500)]


class OutcomeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    child_code: Code
    kind: Kind
    outcome_date: date
    officer: Username | None = None
    notes: Notes | None = None
    follow_up_days: list[Annotated[int, Field(ge=1, le=service.MAX_FOLLOW_UP_DAYS)]] = Field(
        default_factory=list, max_length=service.MAX_FOLLOW_UPS,
        description="Follow-up visits, days after the outcome (e.g. [30, 90, 180]).")


class FollowUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    due_date: date
    officer: Username | None = None


class FollowUpDoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    done_date: date | None = None
    notes: Notes | None = None


class FollowUpOut(BaseModel):
    id: int
    outcome_id: int
    child_code: str
    due_date: date
    officer: str | None
    done_at: datetime | None
    done_by: str | None
    notes: str | None
    overdue: bool
    jurisdiction: str | None


class OutcomeOut(BaseModel):
    id: int
    child_code: str
    report_code: str | None
    kind: str
    outcome_date: date
    officer: str | None
    notes: str | None
    notes_hidden: bool
    jurisdiction: str | None
    created_by: str
    created_at: datetime
    follow_ups: list[FollowUpOut]


class OutcomePage(BaseModel):
    items: list[OutcomeOut]
    next_cursor: str | None


class FollowUpPage(BaseModel):
    items: list[FollowUpOut]
    next_cursor: str | None


class ChildHistoryOut(BaseModel):
    child_code: str
    status: str
    report_code: str | None
    outcomes: list[OutcomeOut]


def _deliver_later(tasks: BackgroundTasks, engine, settings) -> None:
    """E-mails and webhooks of the notifications just committed, after the response."""
    tasks.add_task(deliver_pending, engine, settings)


@router.post("/outcomes", response_model=OutcomeOut, status_code=201)
def create_outcome(body: OutcomeIn, tasks: BackgroundTasks, actor: Actor = Depends(requires("outcome:write")),
                   engine=Depends(get_engine), settings=Depends(get_settings_dep)):
    """Record an outcome of an identified child (409 when the child is not identified)."""
    view = write_transaction(engine, lambda s: service.record_outcome(
        s, actor=actor, child_code=body.child_code, kind=body.kind, outcome_date=body.outcome_date,
        officer=body.officer, notes=body.notes, follow_up_days=body.follow_up_days))
    _deliver_later(tasks, engine, settings)
    return view.to_dict()


@router.get("/outcomes", response_model=OutcomePage)
def list_outcomes(actor: Actor = Depends(requires("outcome:read")), session: Session = Depends(reader),
                  child: Annotated[Code | None, Query()] = None, kind: Kind | None = None,
                  cursor: Cursor = None, limit: Limit = 50):
    """Outcomes in your jurisdiction, newest first (codes only; notes in GET /outcomes/{id})."""
    page = service.list_outcomes(session, actor=actor, child_code=child, kind=kind, cursor=cursor, limit=limit)
    return {"items": [o.to_dict() for o in page.items], "next_cursor": page.next_cursor}


@router.get("/outcomes/history", response_model=ChildHistoryOut)
def child_history(child: Annotated[Code, Query()], actor: Actor = Depends(requires("outcome:read")),
                  engine=Depends(get_engine)):
    """A child's outcomes, oldest first, with follow-up visits (notes audited)."""
    return write_transaction(engine, lambda s: service.child_history(s, actor=actor, child_code=child)).to_dict()


@router.get("/outcomes/{outcome_id}", response_model=OutcomeOut)
def get_outcome(outcome_id: Id, actor: Actor = Depends(requires("outcome:read")), engine=Depends(get_engine)):
    """One outcome with its follow-up visits (notes when you see personal data; audited)."""
    return write_transaction(engine, lambda s: service.get_outcome(s, actor=actor, outcome_id=outcome_id)).to_dict()


@router.post("/outcomes/{outcome_id}/follow-ups", response_model=FollowUpOut, status_code=201)
def add_follow_up(outcome_id: Id, body: FollowUpIn, actor: Actor = Depends(requires("outcome:write")),
                  engine=Depends(get_engine)):
    """Schedule a follow-up visit of an outcome."""
    return write_transaction(engine, lambda s: service.add_follow_up(
        s, actor=actor, outcome_id=outcome_id, due_date=body.due_date, officer=body.officer)).to_dict()


@router.get("/follow-ups/overdue", response_model=FollowUpPage)
def overdue(actor: Actor = Depends(requires("outcome:read")), session: Session = Depends(reader),
            cursor: Cursor = None, limit: Limit = 50):
    """Follow-up visits due before today and not done, in your jurisdiction, most overdue first."""
    page = service.overdue_follow_ups(session, actor=actor, cursor=cursor, limit=limit)
    return {"items": [f.to_dict() for f in page.items], "next_cursor": page.next_cursor}


@router.get("/follow-ups/due", response_model=FollowUpPage)
def due(actor: Actor = Depends(requires("outcome:read")), session: Session = Depends(reader),
        within_days: int = Query(service.DUE_WINDOW_DAYS, ge=0, le=service.MAX_FOLLOW_UP_DAYS,
                                 description="due within this many days from today (the overdue ones too)"),
        cursor: Cursor = None, limit: Limit = 50):
    """Follow-up visits not done and due within ``within_days`` days, overdue first, in your jurisdiction."""
    page = service.due_follow_ups(session, actor=actor, within_days=within_days, cursor=cursor, limit=limit)
    return {"items": [f.to_dict() for f in page.items], "next_cursor": page.next_cursor}


@router.post("/follow-ups/{follow_up_id}/done", response_model=FollowUpOut)
def follow_up_done(follow_up_id: Id, body: FollowUpDoneIn, actor: Actor = Depends(requires("outcome:write")),
                   engine=Depends(get_engine)):
    """Record a follow-up visit done (by you; ``done_date`` default today)."""
    return write_transaction(engine, lambda s: service.complete_follow_up(
        s, actor=actor, follow_up_id=follow_up_id, done_date=body.done_date, notes=body.notes)).to_dict()
