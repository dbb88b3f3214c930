"""/api/v1/registration-checks: late birth-registration checks (parentage LR of the claimed
father and/or mother; flagged checks notify the registration office and search the child)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, ConfigDict, Field

from reunite.api.deps import get_engine, requires
from reunite.api.routers.reports import run_searches
from reunite.cases import registration as service
from reunite.security.actor import Actor
from reunite.store.db import write_transaction

router = APIRouter(prefix="/registration-checks", tags=["registration"])
CODE = Path(min_length=1, max_length=128, description="the check's code")


class CheckCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=128)
    child_sample_code: str = Field(min_length=1, max_length=128)
    father_sample_code: str | None = Field(None, min_length=1, max_length=128)
    mother_sample_code: str | None = Field(None, min_length=1, max_length=128)
    child_code: str | None = Field(None, min_length=1, max_length=128)
    child_sex: Literal["M", "F", "U"] = "U"
    child_given_name: str | None = Field(None, max_length=255)
    estimated_birth_date: date | None = None
    registration_number: str | None = Field(None, max_length=128)
    jurisdiction: str | None = Field(None, min_length=1, max_length=32)
    agency: str | None = Field(None, min_length=1, max_length=64)


class CheckOut(BaseModel):
    code: str
    status: str
    jurisdiction: str
    agency: str | None
    restricted: bool
    child: str | None = None
    lr: float | str | None = None  # "Inf" for an infinite LR (JSON has no infinity)
    log10_lr: float | str | None = None  # "-Inf" for LR 0 (an exclusion without a mutation model)
    verbal: str | None = None
    threshold: float | None = None
    inconsistent_loci: list[str] | None = None
    created_by: str | None = None
    created_at: str | None = None
    lr_per_locus: dict[str, float | str] | None = None
    provenance: dict | None = None
    loci: list[dict] | None = None
    claimed_parents: dict[str, str] | None = None
    registration_number: str | None = None
    child_given_name: str | None = None


class CheckPage(BaseModel):
    items: list[CheckOut]
    next_cursor: str | None


@router.get("", response_model=CheckPage, summary="List registration checks")
def list_checks(status: Literal["consistent", "flagged"] | None = None,
                jurisdiction: str | None = Query(None, min_length=1, max_length=32),
                created_from: date | None = None, created_to: date | None = None,
                cursor: str | None = Query(None, max_length=200), limit: int | None = Query(None, ge=1, le=500),
                actor: Actor = Depends(requires("registration:read")), engine=Depends(get_engine)):
    page = write_transaction(engine, lambda s: service.list_checks(
        s, actor=actor, status=status, jurisdiction_code=jurisdiction, created_from=created_from,
        created_to=created_to, cursor=cursor, limit=limit))
    return CheckPage(items=page.items, next_cursor=page.next_cursor)


@router.post("", response_model=CheckOut, status_code=201, summary="Run a late birth-registration check")
def create_check(body: CheckCreate, request: Request, actor: Actor = Depends(requires("registration:write")),
                 engine=Depends(get_engine)):
    model = request.app.state.model
    status = write_transaction(engine, lambda s: service.run_check(
        s, actor=actor, model=model, code=body.code, child_sample_code=body.child_sample_code,
        father_sample_code=body.father_sample_code, mother_sample_code=body.mother_sample_code,
        child_code=body.child_code, child_sex=body.child_sex, child_given_name=body.child_given_name,
        estimated_birth_date=body.estimated_birth_date, registration_number=body.registration_number,
        jurisdiction_code=body.jurisdiction, agency_code_=body.agency,
        threshold=request.app.state.settings.registration_lr_threshold).status)
    if status == "flagged":
        run_searches(request, actor)
    return write_transaction(engine, lambda s: service.show_check(s, body.code, actor=actor))


@router.get("/{code}", response_model=CheckOut, summary="One registration check")
def get_check(code: str = CODE, actor: Actor = Depends(requires("registration:read")), engine=Depends(get_engine)):
    return write_transaction(engine, lambda s: service.show_check(s, code, actor=actor))


@router.get("/{code}/detail", response_model=dict[str, Any],
            summary="One check as its page shows it: with whether the child was searched against every family")
def get_check_detail(code: str = Path(min_length=1, max_length=128, description="the check's code"),
                     actor: Actor = Depends(requires("registration:read")), engine=Depends(get_engine)):
    return jsonable_encoder(write_transaction(engine, lambda s: service.check_detail(s, code, actor=actor)))
