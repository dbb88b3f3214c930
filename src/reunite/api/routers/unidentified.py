"""/api/v1/unidentified: unidentified persons registered one by one (rescued children, children
of unclear origin, begging children), their placement and details."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, ConfigDict, Field

from reunite.api.deps import get_engine, get_settings_dep, requires
from reunite.api.routers.reports import run_searches
from reunite.cases import unidentified as service
from reunite.security.actor import Actor
from reunite.store.db import write_transaction

router = APIRouter(prefix="/unidentified", tags=["unidentified"])
CODE = Path(min_length=1, max_length=128, description="the person's code")
Category = Literal["rescued_child", "unclear_origin", "begging_child", "registration_check"]
Placement = Literal["welfare_institution", "foster_family", "hospital", "family", "other"]


class UnidentifiedCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=128)
    sample_code: str = Field(min_length=1, max_length=128)
    sex: Literal["M", "F", "U"] = "U"
    category: Category = "rescued_child"
    found_date: date | None = None
    found_place_code: str | None = Field(None, min_length=1, max_length=32)
    found_place_detail: str | None = Field(None, max_length=1000)
    estimated_birth_date: date | None = None
    estimated_age: float | None = Field(None, ge=0, le=120)
    placement_kind: Placement | None = None
    placement_name: str | None = Field(None, max_length=1000)
    jurisdiction: str | None = Field(None, min_length=1, max_length=32)
    agency: str | None = Field(None, min_length=1, max_length=64)
    operation_code: str | None = Field(None, min_length=1, max_length=128)
    given_name: str | None = Field(None, max_length=255)


class UnidentifiedPatch(BaseModel):
    """Only the fields given change; ``reason`` is kept with the earlier version."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=1000)
    placement_kind: Placement | None = None
    placement_name: str | None = Field(None, max_length=1000)
    given_name: str | None = Field(None, max_length=255)
    category: Category | None = None
    found_date: date | None = None
    estimated_birth_date: date | None = None
    found_place_code: str | None = Field(None, min_length=1, max_length=32)
    found_place_detail: str | None = Field(None, max_length=1000)
    operation_code: str | None = Field(None, min_length=1, max_length=128)
    agency: str | None = Field(None, min_length=1, max_length=64)


class UnidentifiedOut(BaseModel):
    code: str
    status: str
    category: str | None
    jurisdiction: str
    agency: str | None
    restricted: bool
    sex: str | None = None
    estimated_birth_date: str | None = None
    found_date: str | None = None
    found_place_code: str | None = None
    found_place: str | None = None
    operation: str | None = None
    placement_kind: str | None = None
    sample: str | None = None
    sample_status: str | None = None
    identified_report: str | None = None
    version: int | None = None
    given_name: str | None = None
    placement_name: str | None = None


class UnidentifiedPage(BaseModel):
    items: list[UnidentifiedOut]
    next_cursor: str | None


@router.get("", response_model=UnidentifiedPage, summary="List unidentified persons")
def list_unidentified(status: Literal["unidentified", "identified"] | None = None, category: Category | None = None,
                      jurisdiction: str | None = Query(None, min_length=1, max_length=32),
                      operation: str | None = Query(None, min_length=1, max_length=128),
                      found_from: date | None = None, found_to: date | None = None,
                      cursor: str | None = Query(None, max_length=200), limit: int | None = Query(None, ge=1, le=500),
                      actor: Actor = Depends(requires("unidentified:read")), engine=Depends(get_engine)):
    page = write_transaction(engine, lambda s: service.list_unidentified(
        s, actor=actor, status=status, category=category, jurisdiction_code=jurisdiction, operation_code=operation,
        found_from=found_from, found_to=found_to, cursor=cursor, limit=limit))
    return UnidentifiedPage(items=page.items, next_cursor=page.next_cursor)


@router.post("", response_model=UnidentifiedOut, status_code=201,
             summary="Register an unidentified person (searched against every family)")
def create_unidentified(body: UnidentifiedCreate, request: Request,
                        actor: Actor = Depends(requires("unidentified:write")), engine=Depends(get_engine)):
    write_transaction(engine, lambda s: service.create_unidentified(
        s, actor=actor, code=body.code, sample_code=body.sample_code, sex=body.sex, category=body.category,
        found_date=body.found_date, found_place_code=body.found_place_code,
        found_place_detail=body.found_place_detail, estimated_birth_date=body.estimated_birth_date,
        estimated_age=body.estimated_age, placement_kind=body.placement_kind, placement_name=body.placement_name,
        jurisdiction_code=body.jurisdiction, agency_code_=body.agency, operation_code=body.operation_code,
        given_name=body.given_name))
    run_searches(request, actor)
    return write_transaction(engine, lambda s: service.show_unidentified(s, body.code, actor=actor))


@router.get("/{code}", response_model=UnidentifiedOut, summary="One unidentified person")
def get_unidentified(code: str = CODE, actor: Actor = Depends(requires("unidentified:read")),
                     engine=Depends(get_engine)):
    return write_transaction(engine, lambda s: service.show_unidentified(s, code, actor=actor))


@router.get("/{code}/overview", response_model=dict[str, Any],
            summary="One person as their page shows them: with their candidates and outcomes (in your jurisdiction)")
def get_unidentified_overview(code: str = CODE, actor: Actor = Depends(requires("unidentified:read")),
                              engine=Depends(get_engine), settings=Depends(get_settings_dep)):
    return jsonable_encoder(write_transaction(engine, lambda s: service.child_overview(s, code, actor=actor,
                                                                                       settings=settings)))


@router.patch("/{code}", response_model=UnidentifiedOut, summary="Change placement or details (versioned)")
def patch_unidentified(body: UnidentifiedPatch, request: Request, code: str = CODE,
                       actor: Actor = Depends(requires("unidentified:write")), engine=Depends(get_engine)):
    given = body.model_dump(exclude_unset=True)
    reason = given.pop("reason")
    if "agency" in given:
        given["agency_code_"] = given.pop("agency")
    write_transaction(engine, lambda s: service.update_unidentified(s, code, actor=actor, reason=reason, **given))
    if {"found_date", "estimated_birth_date"} & set(given):
        run_searches(request, actor)
    return write_transaction(engine, lambda s: service.show_unidentified(s, code, actor=actor))
