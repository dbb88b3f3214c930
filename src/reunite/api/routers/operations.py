"""/api/v1/operations: rescue operations and the children rescued."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from reunite.api.deps import get_engine, requires
from reunite.cases import operations as service
from reunite.security.actor import Actor
from reunite.store.db import write_transaction

router = APIRouter(prefix="/operations", tags=["operations"])
CODE = Path(min_length=1, max_length=128, description="the operation's code")


class OperationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=128)
    name: str | None = Field(None, max_length=1000)
    operation_date: date | None = None
    place_code: str | None = Field(None, min_length=1, max_length=32)
    place_detail: str | None = Field(None, max_length=1000)
    jurisdiction: str | None = Field(None, min_length=1, max_length=32)
    agency: str | None = Field(None, min_length=1, max_length=64)
    suspects_case_number: str | None = Field(None, max_length=128)
    notes: str | None = Field(None, max_length=10_000)


class OperationPatch(BaseModel):
    """Only the fields given change (null clears one); ``reason`` is kept with the earlier version."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=1000)
    name: str | None = Field(None, max_length=1000)
    operation_date: date | None = None
    place_code: str | None = Field(None, min_length=1, max_length=32)
    place_detail: str | None = Field(None, max_length=1000)
    agency: str | None = Field(None, min_length=1, max_length=64)
    suspects_case_number: str | None = Field(None, max_length=128)
    notes: str | None = Field(None, max_length=10_000)


class ChildOut(BaseModel):
    code: str
    sex: str
    category: str | None
    status: str
    estimated_birth_date: str | None


class OperationOut(BaseModel):
    code: str
    jurisdiction: str
    agency: str | None
    restricted: bool
    name: str | None = None
    operation_date: str | None = None
    place: str | None = None
    place_name: str | None = None
    created_by: str | None = None
    created_at: str | None = None
    children_count: int | None = None
    children: list[ChildOut] | None = None
    place_detail: str | None = None
    suspects_case_number: str | None = None
    notes: str | None = None


class OperationPage(BaseModel):
    items: list[OperationOut]
    next_cursor: str | None


@router.get("", response_model=OperationPage, summary="List rescue operations")
def list_operations(jurisdiction: str | None = Query(None, min_length=1, max_length=32),
                    date_from: date | None = None, date_to: date | None = None,
                    cursor: str | None = Query(None, max_length=200), limit: int | None = Query(None, ge=1, le=500),
                    actor: Actor = Depends(requires("operation:read")), engine=Depends(get_engine)):
    page = write_transaction(engine, lambda s: service.list_operations(
        s, actor=actor, jurisdiction_code=jurisdiction, date_from=date_from, date_to=date_to, cursor=cursor,
        limit=limit))
    return OperationPage(items=page.items, next_cursor=page.next_cursor)


@router.post("", response_model=OperationOut, status_code=201, summary="Register a rescue operation")
def create_operation(body: OperationCreate, actor: Actor = Depends(requires("operation:write")),
                     engine=Depends(get_engine)):
    write_transaction(engine, lambda s: service.create_operation(
        s, actor=actor, code=body.code, name=body.name, operation_date=body.operation_date,
        place_code=body.place_code, place_detail=body.place_detail, jurisdiction_code=body.jurisdiction,
        agency_code_=body.agency, suspects_case_number=body.suspects_case_number, notes=body.notes))
    return write_transaction(engine, lambda s: service.show_operation(s, body.code, actor=actor))


@router.get("/{code}", response_model=OperationOut, summary="One operation with the children rescued")
def get_operation(code: str = CODE, actor: Actor = Depends(requires("operation:read")), engine=Depends(get_engine)):
    return write_transaction(engine, lambda s: service.show_operation(s, code, actor=actor))


@router.patch("/{code}", response_model=OperationOut, summary="Edit a rescue operation (versioned, with the reason)")
def patch_operation(body: OperationPatch, code: str = CODE, actor: Actor = Depends(requires("operation:write")),
                    engine=Depends(get_engine)):
    given = body.model_dump(exclude_unset=True)
    reason = given.pop("reason")
    if "agency" in given:
        given["agency_code_"] = given.pop("agency")
    write_transaction(engine, lambda s: service.update_operation(s, code, actor=actor, reason=reason, **given))
    return write_transaction(engine, lambda s: service.show_operation(s, code, actor=actor))
