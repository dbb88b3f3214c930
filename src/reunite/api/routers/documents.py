"""/api/v1/documents: issued PDF reports (the services of :mod:`reunite.reports.pdf` and
:mod:`reunite.reports.registry`, as on the documents page and ``reunite report ...``).

Each ``POST`` issues a report now: the PDF is made once, its hash registered and the issue
audited (``document.issue``); the answer is that PDF (``application/pdf``), with its number in
``X-Reunite-Report-Number``.  ``POST /documents/verify`` takes a PDF (multipart field
``file``) and answers whether it is an unaltered issued report.
"""

from __future__ import annotations

from datetime import date
from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, HTTPException, Path, Query, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel

from reunite.api.deps import authenticated, get_engine, get_settings_dep, reader, requires
from reunite.api.routers.statistics import day
from reunite.reports import pdf, registry
from reunite.security.actor import Actor
from reunite.store.db import write_transaction

router = APIRouter(prefix="/documents", tags=["documents"])

#: the largest PDF ``/documents/verify`` reads (as the web form)
MAX_VERIFY_BYTES = 50 * 2**20
Lang = Literal["zh_CN", "en"]
Kind = Literal["kinship", "operation", "statistics"]
LANG = Query(None, description="the report's language (default: zh_CN)")
PDF_RESPONSES = {200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
                       "description": "the issued PDF (its number in X-Reunite-Report-Number)"}}


class IssuedOut(BaseModel):
    id: int
    kind: str
    subject: str
    language: str
    sha256: str
    size_bytes: int | None
    issued_by: str
    issued_at: str | None
    audit_seq: int | None


class IssuedPage(BaseModel):
    items: list[IssuedOut]
    next_cursor: str | None


class VerificationOut(BaseModel):
    issued: bool
    status: Literal["issued", "altered", "unknown", "not_pdf", "audit_mismatch"]
    sha256: str
    size_bytes: int
    report: IssuedOut | None
    message: str


def pdf_response(doc: pdf.IssuedDocument) -> Response:
    """The issued bytes as they are, as a download with the report's file name."""
    name = doc.filename
    ascii_name = name.encode("ascii", "replace").decode().replace("?", "-")
    return Response(content=doc.pdf, media_type="application/pdf", headers={
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}",
        "X-Reunite-Report-Number": str(doc.number)})


@router.post("/kinship/{candidate_id}", response_class=Response, responses=PDF_RESPONSES,
             summary="Issue the kinship report of a confirmed candidate (PDF)")
def issue_kinship(candidate_id: int = Path(ge=1, le=2**31 - 1, description="the confirmed candidate's id"),
                  lang: Lang | None = LANG, actor: Actor = Depends(requires("document:issue")),
                  engine=Depends(get_engine), settings=Depends(get_settings_dep)):
    return pdf_response(write_transaction(engine, lambda s: pdf.issue_kinship_report(
        s, candidate_id, actor=actor, language=lang, settings=settings)))


@router.post("/operations/{code}", response_class=Response, responses=PDF_RESPONSES,
             summary="Issue a rescue operation's summary (PDF)")
def issue_operation(code: str = Path(min_length=1, max_length=128, description="the operation's code"),
                    lang: Lang | None = LANG, actor: Actor = Depends(requires("document:issue")),
                    engine=Depends(get_engine)):
    return pdf_response(write_transaction(engine, lambda s: pdf.issue_operation_report(
        s, code, actor=actor, language=lang)))


@router.post("/statistics", response_class=Response, responses=PDF_RESPONSES,
             summary="Issue the statistics report of a period (PDF)")
def issue_statistics(start: date = day("the period's first day", required=True),
                     end: date = day("the period's last day", required=True), lang: Lang | None = LANG,
                     actor: Actor = Depends(requires("document:issue")), engine=Depends(get_engine),
                     settings=Depends(get_settings_dep)):
    return pdf_response(write_transaction(engine, lambda s: pdf.issue_statistics_report(
        s, actor=actor, start=start, end=end, language=lang, settings=settings)))


def issued_page(session, actor: Actor, kind: str | None, cursor: str | None, limit: int | None) -> IssuedPage:
    page = registry.list_issued(session, actor=actor, kind=kind, cursor=cursor, limit=limit)
    return IssuedPage(items=page.items, next_cursor=page.next_cursor)


@router.get("", response_model=IssuedPage,
            summary="Issued reports, newest first (yours and those of your jurisdiction's records)")
def list_documents(kind: Kind | None = None, cursor: str | None = Query(None, max_length=200),
                   limit: int | None = Query(None, ge=1, le=500),
                   actor: Actor = Depends(requires("document:issue")), session=Depends(reader)):
    return issued_page(session, actor, kind, cursor, limit)


@router.post("/verify", response_model=VerificationOut,
             summary="Whether an uploaded PDF is an unaltered issued report (multipart field 'file')")
def verify_document(file: UploadFile = File(description="the PDF to check"),
                    actor: Actor = Depends(authenticated), session=Depends(reader)):
    data = file.file.read(MAX_VERIFY_BYTES + 1)
    if len(data) > MAX_VERIFY_BYTES:
        raise HTTPException(413, f"file: expected at most {MAX_VERIFY_BYTES // 2**20} MiB, found a larger file")
    result = registry.verify(session, data)
    return VerificationOut(issued=result.issued, status=result.status, sha256=result.sha256,
                           size_bytes=result.size_bytes, report=result.report, message=result.describe())
