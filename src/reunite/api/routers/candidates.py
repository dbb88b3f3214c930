"""/api/v1/candidates: the list, one candidate, its history, and the review steps.

Every step answers the candidate's review state; an illegal step or a candidate changed by
someone else meanwhile is 409 (send ``version`` from the state you read to be sure you act
on it).  Reading one candidate is a write transaction: reading names is audited.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, ConfigDict, Field

from reunite.api.deps import get_engine, get_model, get_settings_dep, reader, requires
from reunite.cases import candidates as service
from reunite.cases import confirmation, review
from reunite.security.actor import Actor
from reunite.store.db import write_transaction

router = APIRouter(prefix="/candidates", tags=["candidates"])

Status = Literal["new", "assigned", "under_review", "confirmation_requested", "confirmed", "rejected", "set_aside"]
CANDIDATE_ID = Path(ge=1, le=2**31 - 1, description="the candidate's id")
Number = float | str | None  # non-finite numbers are "Inf", "-Inf", "NaN"


class ReviewState(BaseModel):
    id: int
    status: str
    version: int
    assignee: str | None
    confirmation_requested_by: str | None
    confirmed_by: str | None
    reason: str | None
    below_threshold: bool
    allowed_steps: list[str]


class CandidateItem(BaseModel):
    id: int
    status: str
    version: int
    unidentified: str
    family: str
    missing: str
    report: str | None
    lr: Number
    log10_lr: Number
    loci_compared: int
    posterior: Number
    prior: float
    prior_source: str
    confirmation_log10_lr: Number
    confirmation_tests: int
    assignee: str | None
    flags: int
    below_threshold: bool
    inconsistent_loci: list[str]


class CandidatePage(BaseModel):
    items: list[CandidateItem]
    next_cursor: str | None


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: str | None = Field(None, max_length=4000)
    version: int | None = Field(None, ge=1, le=2**31 - 1, description="the version you read (409 if it changed)")


class Assign(Step):
    to: str = Field(min_length=1, max_length=64, description="a user with the reviewer role")


class Reject(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=4000)
    version: int | None = Field(None, ge=1, le=2**31 - 1)


class ConfirmationSample(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sample: str = Field(min_length=1, max_length=128, description="an imported sample that belongs to nobody")
    target: str = Field(min_length=1, max_length=128, description="'child' or a person code of the pedigree")


@router.get("", response_model=CandidatePage, summary="List candidates (codes only), filtered, by LR or id")
def list_candidates(status: Status | None = None, assignee: str | None = Query(None, min_length=1, max_length=64),
                    min_log10_lr: float | None = Query(None, ge=-1000, le=1000),
                    unidentified: str | None = Query(None, min_length=1, max_length=128),
                    family: str | None = Query(None, min_length=1, max_length=128),
                    report: str | None = Query(None, min_length=1, max_length=128),
                    jurisdiction: str | None = Query(None, min_length=1, max_length=32),
                    flagged: bool | None = None, below_threshold: bool | None = None,
                    max_log10_lr: float | None = Query(None, ge=-1000, le=1000),
                    family_type: str | None = Query(None, min_length=1, max_length=64,
                                                    description="the family's type, e.g. both_parents"),
                    created_from: date | None = Query(None, description="found by a search on or after this day"),
                    created_to: date | None = Query(None, description="found by a search on or before this day"),
                    sort: Literal["lr", "id"] = "lr", cursor: str | None = Query(None, max_length=400),
                    limit: int | None = Query(None, ge=1, le=500),
                    actor: Actor = Depends(requires("candidate:read")), session=Depends(reader),
                    settings=Depends(get_settings_dep)):
    page = service.list_candidates(session, actor=actor, status=status, assignee=assignee,
                                   min_log10_lr=min_log10_lr, unidentified=unidentified, family=family,
                                   report=report, jurisdiction=jurisdiction, flagged=flagged,
                                   below_threshold=below_threshold, sort=sort, cursor=cursor, limit=limit,
                                   settings=settings, max_log10_lr=max_log10_lr, family_type=family_type,
                                   created_from=created_from, created_to=created_to)
    return CandidatePage(items=page.items, next_cursor=page.next_cursor)


@router.get("/family-types", response_model=list[str], summary="The family types held (the list's filter)")
def family_types(actor: Actor = Depends(requires("candidate:read")), session=Depends(reader)):
    return service.family_types(session, actor=actor)


class ReviewerOut(BaseModel):
    username: str
    display_name: str | None


@router.get("/reviewers", response_model=list[ReviewerOut], summary="The active reviewers (to assign to)")
def list_reviewers(actor: Actor = Depends(requires("candidate:read")), session=Depends(reader)):
    return review.reviewers(session, actor=actor)


@router.get("/{candidate_id}", response_model=dict[str, Any],
            summary="One candidate: per-locus table, flags, posterior, sex and age, confirmation tests, history")
def get_candidate(candidate_id: int = CANDIDATE_ID, actor: Actor = Depends(requires("candidate:read")),
                  engine=Depends(get_engine), settings=Depends(get_settings_dep)):
    return write_transaction(engine, lambda s: service.candidate_detail(s, candidate_id, actor=actor,
                                                                        settings=settings))


@router.get("/{candidate_id}/page", response_model=dict[str, Any],
            summary="What the candidate page shows: the detail, both pedigrees, the steps you may take, the "
                    "reviewers, the confirmation targets, the verbal scale")
def get_candidate_page(candidate_id: int = CANDIDATE_ID, actor: Actor = Depends(requires("candidate:read")),
                       engine=Depends(get_engine), settings=Depends(get_settings_dep)):
    return jsonable_encoder(write_transaction(engine, lambda s: service.candidate_page(
        s, candidate_id, actor=actor, settings=settings)))


@router.get("/{candidate_id}/steps", response_model=list[str], summary="The review steps you may take now")
def get_steps(candidate_id: int = CANDIDATE_ID, actor: Actor = Depends(requires("candidate:read")),
              session=Depends(reader)):
    return review.steps_for(session, candidate_id, actor=actor)


@router.get("/{candidate_id}/history", response_model=list[dict[str, Any]], summary="The candidate's history")
def get_history(candidate_id: int = CANDIDATE_ID, actor: Actor = Depends(requires("candidate:read")),
                session=Depends(reader)):
    return review.history(session, candidate_id, actor=actor)


def _step(engine, candidate_id: int, work) -> ReviewState:
    def run(s):
        work(s)
        return review.state(s, candidate_id)

    return ReviewState(**write_transaction(engine, run))


@router.post("/{candidate_id}/assign", response_model=ReviewState, summary="Assign to a reviewer")
def assign(body: Assign, candidate_id: int = CANDIDATE_ID, actor: Actor = Depends(requires("candidate:assign")),
           engine=Depends(get_engine)):
    return _step(engine, candidate_id, lambda s: review.assign(s, candidate_id, actor=actor, to=body.to,
                                                               comment=body.comment, version=body.version))


@router.post("/{candidate_id}/start-review", response_model=ReviewState, summary="The assignee starts the review")
def start_review(body: Step | None = None, candidate_id: int = CANDIDATE_ID,
                 actor: Actor = Depends(requires("candidate:review")), engine=Depends(get_engine)):
    body = body or Step()
    return _step(engine, candidate_id, lambda s: review.start_review(s, candidate_id, actor=actor,
                                                                     comment=body.comment, version=body.version))


@router.post("/{candidate_id}/request-confirmation", response_model=ReviewState,
             summary="The assignee asks a second reviewer to confirm")
def request_confirmation(body: Step | None = None, candidate_id: int = CANDIDATE_ID,
                         actor: Actor = Depends(requires("candidate:review")), engine=Depends(get_engine)):
    body = body or Step()
    return _step(engine, candidate_id, lambda s: review.request_confirmation(
        s, candidate_id, actor=actor, comment=body.comment, version=body.version))


@router.post("/{candidate_id}/confirmation-tests", response_model=dict[str, Any], status_code=201,
             summary="Attach an imported sample (the child's second, or a relative's) and compute the LR again")
def add_confirmation_test(body: ConfirmationSample, candidate_id: int = CANDIDATE_ID,
                          actor: Actor = Depends(requires("confirmation:import")), engine=Depends(get_engine),
                          model=Depends(get_model), settings=Depends(get_settings_dep)):
    def work(s):
        test = confirmation.add_confirmation_sample(s, candidate_id, actor=actor, sample_code=body.sample,
                                                    target=body.target, model=model, settings=settings)
        return confirmation.confirmation_dict(test, settings=settings, sample_code=body.sample.strip())

    return write_transaction(engine, work)


@router.post("/{candidate_id}/confirm", response_model=ReviewState,
             summary="Confirm (a second reviewer; needs a supporting confirmation test)")
def confirm(body: Step | None = None, candidate_id: int = CANDIDATE_ID,
            actor: Actor = Depends(requires("candidate:confirm")), engine=Depends(get_engine),
            settings=Depends(get_settings_dep)):
    body = body or Step()
    return _step(engine, candidate_id, lambda s: review.confirm(s, candidate_id, actor=actor, comment=body.comment,
                                                                version=body.version, settings=settings))


@router.post("/{candidate_id}/reject", response_model=ReviewState, summary="Reject, with a reason")
def reject(body: Reject, candidate_id: int = CANDIDATE_ID, actor: Actor = Depends(requires("candidate:review")),
           engine=Depends(get_engine)):
    return _step(engine, candidate_id, lambda s: review.reject(s, candidate_id, actor=actor, reason=body.reason,
                                                               version=body.version))


class SetAside(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=4000, description="why (a duplicate, a sample of someone else ...)")
    version: int | None = Field(None, ge=1, le=2**31 - 1)


@router.post("/{candidate_id}/set-aside", response_model=ReviewState,
             summary="A reviewer sets an open candidate aside, with a reason")
def set_aside(body: SetAside, candidate_id: int = CANDIDATE_ID, actor: Actor = Depends(requires("candidate:review")),
              engine=Depends(get_engine)):
    return _step(engine, candidate_id, lambda s: review.set_aside_by_reviewer(
        s, candidate_id, actor=actor, reason=body.reason, version=body.version))
