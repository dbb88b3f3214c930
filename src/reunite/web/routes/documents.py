"""Pages: documents.  The issued PDF reports (each download issues and registers one):

- ``GET /candidates/{id}/report.pdf?lang=zh_CN|en``: the kinship report of a confirmed candidate;
- ``GET /operations/{code}/summary.pdf?lang=``: a rescue operation's summary;
- ``GET /statistics/report.pdf?start=YYYY-MM-DD&end=YYYY-MM-DD&lang=``: the statistics report;
- ``GET /documents``: the reports issued in the user's scope, and the forms to issue them;
- ``GET|POST /documents/verify``: upload a PDF: is it an unaltered issued report?
"""

from __future__ import annotations

import re
from datetime import date, datetime
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from reunite import i18n
from reunite.errors import ReuniteError
from reunite.i18n import N_
from reunite.i18n import gettext as _
from reunite.reports import pdf, registry
from reunite.web.pages import (
    WebUser,
    checked_form,
    page_requires,
    query_date,
    reader_session,
    render,
    request_language,
    web_user,
    write,
)

router = APIRouter()

#: the largest PDF the verify form reads
MAX_VERIFY_BYTES = 50 * 1024 * 1024
#: the answers of the verify form, shown translated
VERIFY_STATUS = {"issued": N_("Verified: an unaltered issued report."),
                 "altered": N_("Not verified: the file claims to be an issued report, but it was altered."),
                 "unknown": N_("Not verified: this file is not a report issued by reunite."),
                 "not_pdf": N_("Not verified: the file is not a PDF."),
                 "audit_mismatch": N_("Not verified: the register and the audit log disagree about this file.")}


def _lang(request: Request) -> str:
    raw = request.query_params.get("lang")
    return i18n.check_language(raw, what="lang") if raw else request_language(request)


def pdf_response(doc: pdf.IssuedDocument) -> Response:
    """The issued bytes as they are, as a download with the report's file name."""
    name = doc.filename
    ascii_name = re.sub(r"[^A-Za-z0-9._-]", "-", name)  # no quote, CR/LF or ';' in the header
    return Response(content=doc.pdf, media_type="application/pdf", headers={
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}",
        "Cache-Control": "no-store", "X-Reunite-Report-Number": str(doc.number)})


@router.get("/candidates/{candidate_id}/report.pdf")
def kinship_report(candidate_id: int, request: Request, user: WebUser = Depends(page_requires("document:issue"))):
    """The kinship report of a confirmed candidate, issued now."""
    lang = _lang(request)
    settings = request.app.state.settings
    doc = write(request, lambda s: pdf.issue_kinship_report(s, candidate_id, actor=user.actor, language=lang,
                                                            settings=settings))
    return pdf_response(doc)


@router.get("/operations/{code}/summary.pdf")
def operation_summary(code: str, request: Request, user: WebUser = Depends(page_requires("document:issue"))):
    """A rescue operation's summary, issued now."""
    lang = _lang(request)
    doc = write(request, lambda s: pdf.issue_operation_report(s, code, actor=user.actor, language=lang))
    return pdf_response(doc)


@router.get("/statistics/report.pdf")
def statistics_report(request: Request, user: WebUser = Depends(page_requires("document:issue"))):
    """The statistics report of a period, issued now."""
    lang = _lang(request)
    start, end = query_date(request, "start"), query_date(request, "end")
    settings = request.app.state.settings
    doc = write(request, lambda s: pdf.issue_statistics_report(s, actor=user.actor, start=start, end=end,
                                                               language=lang, settings=settings))
    return pdf_response(doc)


def _index(request: Request, user: WebUser, **extra):
    page = None
    kind = request.query_params.get("kind") or None
    if user.can("document:issue") or user.can("audit:read"):
        with reader_session(request) as s:
            page = registry.list_issued(s, actor=user.actor, kind=kind if kind in registry.KINDS else None,
                                        cursor=request.query_params.get("cursor") or None)
    today = date.today()
    if page is not None:
        page.items = [{**r, "issued_at": datetime.fromisoformat(r["issued_at"]) if r["issued_at"] else None}
                      for r in page.items]
    context = dict(page=page, kind=kind, kind_labels=registry.KIND_LABELS,
                   kinds=[(k, _(v)) for k, v in registry.KIND_LABELS.items()],
                   languages=[(k, v) for k, v in i18n.LANGUAGE_NAMES.items()], lang=request_language(request),
                   default_start=today.replace(month=1, day=1).isoformat(), default_end=today.isoformat(),
                   result=None, error=None)
    context.update(extra)
    return render(request, "documents/index.html", **context)


@router.get("/documents")
def documents_page(request: Request, user: WebUser = Depends(web_user)):
    """The issued reports in the user's scope; forms to issue a report and to verify a PDF."""
    return _index(request, user)


@router.get("/documents/kinship")
def kinship_form(request: Request, user: WebUser = Depends(page_requires("document:issue"))):
    """The form of the documents page: to the kinship report of the candidate named."""
    raw = (request.query_params.get("candidate") or "").strip()
    if not raw.isdigit():
        raise ReuniteError("candidate: " + _("expected a candidate number, found %(value)s")
                           % {"value": repr(raw[:40])})
    return RedirectResponse(f"/candidates/{int(raw)}/report.pdf?lang={quote(_lang(request))}", status_code=303)


@router.get("/documents/operation")
def operation_form(request: Request, user: WebUser = Depends(page_requires("document:issue"))):
    """The form of the documents page: to the summary of the operation named."""
    code = (request.query_params.get("code") or "").strip()
    if not code:
        raise ReuniteError("code: " + _("this field is required"))
    return RedirectResponse(f"/operations/{quote(code, safe='')}/summary.pdf?lang={quote(_lang(request))}",
                            status_code=303)


@router.get("/documents/verify")
def verify_page(request: Request, user: WebUser = Depends(web_user)):
    return render(request, "documents/verify.html", result=None, error=None)


@router.post("/documents/verify")
async def verify_upload(request: Request, user: WebUser = Depends(web_user), form: FormData = Depends(checked_form)):
    """Whether the uploaded PDF is an unaltered issued report."""
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return render(request, "documents/verify.html", status=400, result=None,
                      error="file: " + _("choose the PDF file to verify"))
    data = await upload.read(MAX_VERIFY_BYTES + 1)
    if len(data) > MAX_VERIFY_BYTES:
        return render(request, "documents/verify.html", status=413, result=None,
                      error="file: " + _("the file is larger than %(size)s MB") % {"size": MAX_VERIFY_BYTES // 2**20})
    with reader_session(request) as s:
        result = registry.verify(s, data)
    return render(request, "documents/verify.html", result=result, filename=upload.filename,
                  message=_(VERIFY_STATUS[result.status]), kind_label=_(registry.KIND_LABELS[result.report["kind"]])
                  if result.report else None, error=None)
