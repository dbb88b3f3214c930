"""/api/v1/reports: missing-child reports, their references and consent withdrawals.

Names, contacts and circumstances come back only to users with ``personal:read`` whose
jurisdiction owns the report (audited); reports of other jurisdictions come back as code,
status, agency and jurisdiction (``restricted: true``).  A change that leaves a search
pending (a new report, a reference added, a consent withdrawn) runs it after its commit.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, ConfigDict, Field

from reunite.api.deps import get_engine, requires
from reunite.cases import consent as consent_service
from reunite.cases import reports as service
from reunite.errors import ReuniteError
from reunite.security.actor import Actor
from reunite.store.db import write_transaction

router = APIRouter(prefix="/reports", tags=["reports"])
log = logging.getLogger("reunite.api")

Status = Literal["open", "candidate_under_review", "identified", "closed"]
Sex = Literal["M", "F", "U"]
Relation = Literal[tuple(service.RELATIONS)]  # type: ignore[valid-type]
CODE = Path(min_length=1, max_length=128, description="the report's code")
SHORT = dict(min_length=1, max_length=128)
TEXT = dict(max_length=1000)


def run_searches(request: Request, actor: Actor) -> None:
    """Run the searches a committed change left pending; a failure leaves them pending."""
    from reunite.cases.intake import complete_pending

    try:
        complete_pending(request.app.state.engine, request.app.state.model, actor=actor)
    except ReuniteError as exc:
        log.warning("pending searches left for later ('reunite search --pending'): %s", exc)


class ReferenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    relation: Relation
    sample_code: str = Field(**SHORT)
    sex: Sex | None = None
    consent_document: str | None = Field(None, **TEXT)


class ReferenceAdd(ReferenceIn):
    reason: str | None = Field(None, **TEXT)


class ReportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(**SHORT)
    child_name: str | None = Field(None, max_length=255)
    child_sex: Sex = "U"
    child_birth_date: date | None = None
    child_birth_date_latest: date | None = None
    missing_date: date | None = None
    missing_place_code: str | None = Field(None, min_length=1, max_length=32)
    missing_place_detail: str | None = Field(None, **TEXT)
    circumstances: str | None = Field(None, max_length=10_000)
    contact_name: str | None = Field(None, max_length=255)
    contact: str | None = Field(None, **TEXT)
    jurisdiction: str | None = Field(None, min_length=1, max_length=32)
    agency: str | None = Field(None, min_length=1, max_length=64)
    investigator: str | None = Field(None, min_length=1, max_length=64)
    references: list[ReferenceIn] = Field(default_factory=list, max_length=50)
    family_code: str | None = Field(None, **SHORT)
    missing_code: str | None = Field(None, **SHORT)


class ReferenceOut(BaseModel):
    person: str
    relation: str | None
    sex: str
    sample: str | None
    sample_status: str | None
    consent: str
    consent_document: str | None
    given_at: str | None
    recorded_by: str
    withdrawn_at: str | None
    withdrawn_by: str | None
    withdrawn_reason: str | None


class ReportOut(BaseModel):
    code: str
    status: str
    jurisdiction: str
    agency: str | None
    restricted: bool
    child_sex: str | None = None
    child_birth_date: str | None = None
    child_birth_date_latest: str | None = None
    missing_date: str | None = None
    missing_place: str | None = None
    missing_place_name: str | None = None
    family: str | None = None
    missing_code: str | None = None
    closed_reason: str | None = None
    version: int | None = None
    created_by: str | None = None
    created_at: str | None = None
    investigator: str | None = None
    references: list[ReferenceOut] | None = None
    child_name: str | None = None
    contact_name: str | None = None
    contact: str | None = None
    circumstances: str | None = None
    missing_place_detail: str | None = None


class ReportPage(BaseModel):
    items: list[ReportOut]
    next_cursor: str | None


class Close(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=1000)


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Status
    reason: str | None = Field(None, **TEXT)


class ConsentWithdrawal(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sample_code: str = Field(**SHORT)
    reason: str = Field(min_length=1, max_length=1000)
    document: str | None = Field(None, **TEXT)


def _show(engine, code: str, actor: Actor) -> dict:
    return write_transaction(engine, lambda s: service.show_report(s, code, actor=actor))


@router.get("", response_model=ReportPage, summary="List reports (others' as codes and status only)")
def list_reports(status: Status | None = None, jurisdiction: str | None = Query(None, min_length=1, max_length=32),
                 agency: str | None = Query(None, min_length=1, max_length=64),
                 missing_from: date | None = None, missing_to: date | None = None,
                 created_from: date | None = None, created_to: date | None = None,
                 cursor: str | None = Query(None, max_length=200), limit: int | None = Query(None, ge=1, le=500),
                 actor: Actor = Depends(requires("report:read")), engine=Depends(get_engine)):
    page = write_transaction(engine, lambda s: service.list_reports(
        s, actor=actor, status=status, jurisdiction_code=jurisdiction, agency_code_=agency,
        missing_from=missing_from, missing_to=missing_to, created_from=created_from, created_to=created_to,
        cursor=cursor, limit=limit))
    return ReportPage(items=page.items, next_cursor=page.next_cursor)


@router.post("", response_model=ReportOut, status_code=201, summary="Register a report with its references")
def create_report(body: ReportCreate, request: Request, actor: Actor = Depends(requires("report:write")),
                  engine=Depends(get_engine)):
    refs = [service.Reference(r.relation, r.sample_code, r.sex, r.consent_document) for r in body.references]
    code = write_transaction(engine, lambda s: service.create_report(
        s, actor=actor, code=body.code, child_name=body.child_name, child_sex=body.child_sex,
        child_birth_date=body.child_birth_date, child_birth_date_latest=body.child_birth_date_latest,
        missing_date=body.missing_date, missing_place_code=body.missing_place_code,
        missing_place_detail=body.missing_place_detail, circumstances=body.circumstances,
        contact_name=body.contact_name, contact=body.contact, jurisdiction_code=body.jurisdiction,
        agency_code=body.agency, investigator=body.investigator, references=refs, family_code=body.family_code,
        missing_code=body.missing_code).code)
    run_searches(request, actor)
    return _show(engine, code, actor)


@router.get("/{code}", response_model=ReportOut, summary="One report")
def get_report(code: str = CODE, actor: Actor = Depends(requires("report:read")), engine=Depends(get_engine)):
    return _show(engine, code, actor)


@router.get("/{code}/overview", response_model=dict[str, Any],
            summary="One report as its page shows it: places named, the family's candidates, the history")
def get_report_overview(code: str = CODE, actor: Actor = Depends(requires("report:read")),
                        engine=Depends(get_engine)):
    from reunite.cases.report_views import report_overview

    return jsonable_encoder(write_transaction(engine, lambda s: report_overview(s, code, actor=actor)))


class ReportPatch(BaseModel):
    """Only the fields given change (null clears one); ``reason`` is kept with the earlier
    version.  A change of the child's sex or dates searches the family again."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=1000)
    child_name: str | None = Field(None, max_length=255)
    child_sex: Sex | None = None
    child_birth_date: date | None = None
    child_birth_date_latest: date | None = None
    missing_date: date | None = None
    missing_place_code: str | None = Field(None, min_length=1, max_length=32)
    missing_place_detail: str | None = Field(None, **TEXT)
    circumstances: str | None = Field(None, max_length=10_000)
    contact_name: str | None = Field(None, max_length=255)
    contact: str | None = Field(None, **TEXT)
    investigator: str | None = Field(None, min_length=1, max_length=64)
    agency: str | None = Field(None, min_length=1, max_length=64)


@router.patch("/{code}", response_model=ReportOut,
              summary="Edit a report's details (versioned, with the reason; the family searched again if needed)")
def patch_report(body: ReportPatch, request: Request, code: str = CODE,
                 actor: Actor = Depends(requires("report:write")), engine=Depends(get_engine)):
    given = body.model_dump(exclude_unset=True)
    reason = given.pop("reason")
    if "agency" in given:
        given["agency_code"] = given.pop("agency")
    write_transaction(engine, lambda s: service.update_report(s, code, actor=actor, reason=reason, **given))
    if set(service.SEARCHED_FIELDS) & set(given):
        run_searches(request, actor)
    return _show(engine, code, actor)


@router.post("/{code}/references", response_model=ReportOut, status_code=201,
             summary="Add a family reference (the pedigree is versioned, the family searched again)")
def add_reference(body: ReferenceAdd, request: Request, code: str = CODE,
                  actor: Actor = Depends(requires("report:write")), engine=Depends(get_engine)):
    write_transaction(engine, lambda s: service.add_reference(
        s, code, actor=actor, relation=body.relation, sample_code=body.sample_code, sex=body.sex,
        consent_document=body.consent_document, reason=body.reason))
    run_searches(request, actor)
    return _show(engine, code, actor)


class ReferenceRemove(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=1000)


def _remove(request: Request, engine, code: str, sample: str, reason: str, actor: Actor) -> dict:
    write_transaction(engine, lambda s: service.remove_reference(s, code, actor=actor, sample_code=sample,
                                                                 reason=reason))
    run_searches(request, actor)
    return _show(engine, code, actor)


@router.post("/{code}/references/{sample}/remove", response_model=ReportOut,
             summary="Remove a reference given by mistake (the sample belongs to nobody again)")
def remove_reference(body: ReferenceRemove, request: Request, code: str = CODE,
                     sample: str = Path(min_length=1, max_length=128, description="the reference's sample code"),
                     actor: Actor = Depends(requires("report:write")), engine=Depends(get_engine)):
    return _remove(request, engine, code, sample, body.reason, actor)


@router.delete("/{code}/references/{sample}", response_model=ReportOut,
               summary="Remove a reference given by mistake (reason as a query parameter)")
def delete_reference(request: Request, code: str = CODE,
                     sample: str = Path(min_length=1, max_length=128, description="the reference's sample code"),
                     reason: str = Query(min_length=1, max_length=1000),
                     actor: Actor = Depends(requires("report:write")), engine=Depends(get_engine)):
    return _remove(request, engine, code, sample, reason, actor)


@router.post("/{code}/close", response_model=ReportOut, summary="Close a report (with the reason)")
def close_report(body: Close, code: str = CODE, actor: Actor = Depends(requires("report:write")),
                 engine=Depends(get_engine)):
    write_transaction(engine, lambda s: service.close_report(s, code, actor=actor, reason=body.reason))
    return _show(engine, code, actor)


@router.post("/{code}/status", response_model=ReportOut, summary="Change a report's status")
def change_status(body: StatusChange, code: str = CODE, actor: Actor = Depends(requires("report:write")),
                  engine=Depends(get_engine)):
    write_transaction(engine, lambda s: service.set_report_status(s, code, actor=actor, status=body.status,
                                                                  reason=body.reason))
    return _show(engine, code, actor)


@router.post("/{code}/consent-withdrawals", response_model=ReportOut,
             summary="A reference withdraws consent: its sample leaves every search at once")
def withdraw_consent(body: ConsentWithdrawal, request: Request, code: str = CODE,
                     actor: Actor = Depends(requires("consent:withdraw")), engine=Depends(get_engine)):
    write_transaction(engine, lambda s: consent_service.withdraw_consent(
        s, code, actor=actor, sample_code=body.sample_code, reason=body.reason, document=body.document))
    run_searches(request, actor)
    if actor.can("report:read"):
        return _show(engine, code, actor)
    return ReportOut(code=code, status="", jurisdiction="", agency=None, restricted=True)
