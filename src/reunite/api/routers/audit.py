"""/api/v1/audit: the audit log for auditors (list with filters, verify the chain, its head)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from reunite.api.deps import get_settings_dep, reader, requires
from reunite.api.routers.documents import IssuedPage
from reunite.audit import service
from reunite.security.actor import Actor

router = APIRouter(prefix="/audit", tags=["audit"])


class EntryOut(BaseModel):
    seq: int
    at: datetime
    actor: str
    address: str | None
    action: str
    entity: str | None
    entity_id: str | None
    details: dict
    mac: str


class EntryPage(BaseModel):
    items: list[EntryOut]
    next_cursor: str | None


class VerificationOut(BaseModel):
    ok: bool
    checked: int
    head_seq: int
    head_mac: str
    broken_seq: int | None
    problem: str | None
    message: str


class HeadOut(BaseModel):
    seq: int
    mac: str
    head: str


@router.get("", response_model=EntryPage, summary="Audit entries, newest first, with filters")
def list_entries(by: str | None = Query(None, max_length=64, description="the acting user"),
                 action: str | None = Query(None, max_length=64, description="exact, or a prefix ending in '*'"),
                 entity: str | None = Query(None, max_length=64), entity_id: str | None = Query(None, max_length=128),
                 since: date | datetime | None = None, until: date | datetime | None = None,
                 order: str = Query("newest", pattern="^(newest|oldest)$"),
                 cursor: str | None = Query(None, max_length=200), limit: int | None = Query(None, ge=1, le=500),
                 actor: Actor = Depends(requires("audit:read")), session=Depends(reader)):
    page = service.list_entries(session, actor=actor, by=by, action=action, entity=entity, entity_id=entity_id,
                                since=since, until=until, cursor=cursor, limit=limit,
                                newest_first=order == "newest")
    return EntryPage(items=[EntryOut(**vars(e)) for e in page.items], next_cursor=page.next_cursor)


@router.get("/verify", response_model=VerificationOut, summary="Recompute the HMAC chain")
def verify(expect_head: str | None = Query(None, max_length=100, description="SEQ:MAC recorded earlier"),
           actor: Actor = Depends(requires("audit:verify")), session=Depends(reader),
           settings=Depends(get_settings_dep)):
    result = service.verify_chain(session, actor=actor, key=settings.audit_key, expected_head=expect_head)
    return VerificationOut(ok=result.ok, checked=result.checked, head_seq=result.head_seq, head_mac=result.head_mac,
                           broken_seq=result.broken_seq, problem=result.problem, message=result.describe())


@router.get("/head", response_model=HeadOut, summary="The last entry's seq and MAC (record it elsewhere)")
def head(actor: Actor = Depends(requires("audit:verify")), session=Depends(reader)):
    seq, mac = service.chain_head(session, actor=actor)
    return HeadOut(seq=seq, mac=mac, head=f"{seq}:{mac}")


@router.get("/documents", summary="Issued PDF reports, newest first (auditors: every one)")
def issued_documents(kind: Literal["kinship", "operation", "statistics"] | None = None,
                     cursor: str | None = Query(None, max_length=200), limit: int | None = Query(None, ge=1, le=500),
                     actor: Actor = Depends(requires("audit:read")), session=Depends(reader)) -> IssuedPage:
    from reunite.api.routers.documents import issued_page

    return issued_page(session, actor, kind, cursor, limit)
