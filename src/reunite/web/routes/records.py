"""Pages: missing-child reports (list, detail, register with the family's references, edit,
references, consent, closing) and lab files (upload, import reports).

Each route parses its query or form, calls one service of :mod:`reunite.cases.reports`,
:mod:`reunite.cases.report_views`, :mod:`reunite.cases.consent` or :mod:`reunite.cases.intake`
and renders; a change that leaves a family search pending runs it after its commit, as the
API does.
"""

from __future__ import annotations

import logging
from collections import defaultdict
import shutil
import tempfile
from datetime import date, datetime
from pathlib import Path as FilePath
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData, UploadFile

from reunite.cases import consent as consent_service
from reunite.cases import intake
from reunite.cases import reports as service
from reunite.cases.report_views import report_overview
from reunite.errors import AuthenticationError, Conflict, NotFound, PermissionDenied, ReuniteError
from reunite.i18n import N_
from reunite.i18n import gettext as _
from reunite.i18n import ngettext
from reunite.security.jurisdictions import list_jurisdictions
from reunite.store.db import StoreError
from reunite.store.models_workflow import REPORT_STATUSES
from reunite.web.pages import (WebUser, checked_form, field, page_requires, parse_date, reader_session, redirect,
                                render, write)

router = APIRouter()
log = logging.getLogger("reunite.web")

REFERENCE_ROWS = 4  # reference rows of the registration form (blank rows are ignored)
SEXES = (("U", N_("unknown")), ("M", N_("male")), ("F", N_("female")))
KINDS = (("genotypes", N_("genotypes")), ("families", N_("families")), ("unidentified", N_("unidentified persons")))
#: the layouts of a genotype file (an import batch's kind is "genotypes (long)")
LAYOUTS = {"long": N_("long format"), "wide": N_("wide format"), "genemapper": "GeneMapper", "osiris": "OSIRIS"}
RELATION_NAMES = {
    "father": N_("father"), "mother": N_("mother"), "full_sibling": N_("full sibling"),
    "half_sibling_paternal": N_("paternal half-sibling"), "half_sibling_maternal": N_("maternal half-sibling"),
    "paternal_grandfather": N_("paternal grandfather"), "paternal_grandmother": N_("paternal grandmother"),
    "maternal_grandfather": N_("maternal grandfather"), "maternal_grandmother": N_("maternal grandmother"),
    "paternal_uncle": N_("paternal uncle"), "paternal_aunt": N_("paternal aunt"),
    "maternal_uncle": N_("maternal uncle"), "maternal_aunt": N_("maternal aunt")}
WORDS = (N_("active"), N_("withdrawn"), N_("imported"))  # sample statuses and import outcomes shown translated
CONSENT_NAMES = {"given": N_("consent given"), "withdrawn": N_("consent withdrawn")}
ACTION_NAMES = {
    "report.create": N_("Report registered"), "report.update": N_("Details edited"),
    "report.status": N_("Status changed"), "report.close": N_("Report closed"),
    "report.reference_add": N_("Reference added"), "report.reference_remove": N_("Reference removed"),
    "consent.withdraw": N_("Consent withdrawn"), "family.details": N_("Pedigree corrected"),
    "family.withdraw": N_("Sample withdrawn"), "family.retype": N_("Sample re-typed")}
#: the report's fields on the edit form besides the sex (the personal ones only for users who read names)
DETAIL_FIELDS = ("child_birth_date", "child_birth_date_latest", "missing_date", "missing_place_code",
                 "investigator", "agency_code")
DATE_FIELDS = ("child_birth_date", "child_birth_date_latest", "missing_date")

assert set(RELATION_NAMES) == set(service.RELATIONS), "every relation has a name"


def _date(form, name: str) -> date | None:
    """A date field (YYYY-MM-DD, as a date input sends it), None when empty."""
    return parse_date(field(form, name), name)


def _error_field(exc: Exception) -> str | None:
    """The field an error names (services start their messages with it)."""
    head = str(exc).split(":", 1)[0].strip()
    return head if head and " " not in head else None


def _when(value):
    """An ISO date or moment of a service's view as a date/datetime (for the |date filters)."""
    if not isinstance(value, str):
        return value
    try:
        return date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)
    except ValueError:
        return value


def _dated(view):
    """``view`` (a dict, list, or value) with its ``*_date``, ``*_latest`` and ``*_at`` strings parsed."""
    if isinstance(view, list):
        return [_dated(v) for v in view]
    if isinstance(view, dict):
        return {k: _when(v) if k.endswith(("_date", "_latest", "_at")) else _dated(v) for k, v in view.items()}
    return view


def _choices(names: dict | tuple) -> list[tuple[str, str]]:
    items = names.items() if isinstance(names, dict) else names
    return [(value, _(label)) for value, label in items]


def _kept(values: dict | None) -> defaultdict:
    """A form's input for its template: a field never sent reads as ''."""
    return defaultdict(str, {k: v for k, v in (values or {}).items() if v is not None})


def _common(**context) -> dict:
    return dict(relations=_choices(RELATION_NAMES), relation_names=RELATION_NAMES, sexes=_choices(SEXES),
                consent_names=CONSENT_NAMES, action_names=ACTION_NAMES, statuses=REPORT_STATUSES, **context)


def run_searches(request: Request, user: WebUser) -> tuple[int, str | None]:
    """Run the searches a committed change left pending: (new candidates, the error that left
    them pending, if any)."""
    try:
        summaries = intake.complete_pending(request.app.state.engine, request.app.state.model, actor=user.actor)
    except ReuniteError as exc:
        log.warning("pending searches left for later ('reunite search --pending'): %s", exc)
        return 0, str(exc)
    return sum(len(s.new_candidate_ids) for s in summaries), None


def _search_flash(code: str, done: str, searched: tuple[int, str | None]) -> str:
    new, error = searched
    if error:
        return done + " " + _("The family search could not run now and is left pending: %(error)s") % {"error": error}
    if new:
        return done + " " + _("The family was searched: %(n)s new candidates.") % {"n": new}
    return done + " " + _("The family was searched: no new candidate.")


# ---------------------------------------------------------------------------------------
# the list


@router.get("/reports")
def reports_page(request: Request, user: WebUser = Depends(page_requires("report:read"))):
    q = request.query_params
    filters = {k: (q.get(k) or "").strip() for k in ("text", "status", "jurisdiction", "missing_from",
                                                      "missing_to")}
    error = None
    page = None
    try:
        missing_from, missing_to = _date(filters, "missing_from"), _date(filters, "missing_to")
        page = write(request, lambda s: service.list_reports(
            s, actor=user.actor, status=filters["status"] or None, jurisdiction_code=filters["jurisdiction"] or None,
            missing_from=missing_from, missing_to=missing_to, text=filters["text"] or None,
            cursor=q.get("cursor") or None))
    except ReuniteError as exc:
        if isinstance(exc, PermissionDenied):
            raise
        error = str(exc)
    with reader_session(request) as s:
        places = [(j.code, j.name_zh or j.name, j.name, j.level) for j in list_jurisdictions(s, actor=user.actor)]
    query = urlencode({k: v for k, v in filters.items() if v})
    items = _dated(page.items) if page is not None else []
    return render(request, "records/list.html", status=400 if error else 200, page=page, items=items,
                  filters=filters,
                  error=error, error_field=_error_field(error) if error else None, jurisdictions=places,
                  base_query=query, **_common())


# ---------------------------------------------------------------------------------------
# register


def _blank_report_form() -> dict:
    return {"child_sex": "U", **{f"ref{i}_{k}": "" for i in range(1, REFERENCE_ROWS + 1)
                                for k in ("relation", "sample_code", "sex", "consent_document")}}


@router.get("/reports/new")
def new_report_page(request: Request, user: WebUser = Depends(page_requires("report:write"))):
    return render(request, "records/new.html", values=_kept(_blank_report_form()), error=None, error_field=None,
                  rows=range(1, REFERENCE_ROWS + 1), **_common())


def _references(form: FormData) -> list[service.Reference]:
    refs = []
    for i in range(1, REFERENCE_ROWS + 1):
        sample = field(form, f"ref{i}_sample_code")
        relation = field(form, f"ref{i}_relation")
        document = field(form, f"ref{i}_consent_document")
        if not (sample or relation or document):
            continue  # a blank row
        if not sample:
            raise ReuniteError(f"ref{i}_sample_code: " + _("reference %(n)s: the sample code is missing") % {"n": i})
        if not relation:
            raise ReuniteError(f"ref{i}_relation: "
                               + _("reference %(n)s: choose the relation to the missing child") % {"n": i})
        refs.append(service.Reference(relation, sample, field(form, f"ref{i}_sex"), document))
    return refs


@router.post("/reports/new")
def create_report(request: Request, user: WebUser = Depends(page_requires("report:write")),
                  form: FormData = Depends(checked_form)):
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}
    try:
        code = field(form, "code", required=True)
        refs = _references(form)
        kwargs = dict(code=code, child_name=field(form, "child_name"), child_sex=field(form, "child_sex") or "U",
                      child_birth_date=_date(form, "child_birth_date"),
                      child_birth_date_latest=_date(form, "child_birth_date_latest"),
                      missing_date=_date(form, "missing_date"), missing_place_code=field(form, "missing_place_code"),
                      missing_place_detail=field(form, "missing_place_detail"),
                      circumstances=field(form, "circumstances"), contact_name=field(form, "contact_name"),
                      contact=field(form, "contact"), jurisdiction_code=field(form, "jurisdiction"),
                      agency_code=field(form, "agency"), investigator=field(form, "investigator"),
                      references=refs, family_code=field(form, "family_code"))
        code = write(request, lambda s: service.create_report(s, actor=user.actor, **kwargs).code)
    except PermissionDenied as exc:
        return _new_error(request, values, exc, status=403)
    except ReuniteError as exc:
        return _new_error(request, values, exc)
    searched = run_searches(request, user)
    return redirect(request, f"/reports/{code}",
                    flash=_search_flash(code, _("Report %(code)s registered.") % {"code": code}, searched))


def _new_error(request: Request, values: dict, exc: Exception, *, status: int = 400):
    return render(request, "records/new.html", status=status, values=_kept({**_blank_report_form(), **values}),
                  error=str(exc), error_field=_error_field(exc), rows=range(1, REFERENCE_ROWS + 1), **_common())


# ---------------------------------------------------------------------------------------
# one report


def _detail(request: Request, user: WebUser, code: str, *, status: int = 200, error: str | None = None,
            action: str | None = None, values: dict | None = None):
    view = write(request, lambda s: report_overview(s, code, actor=user.actor))
    view = {**view, "report": _dated(view["report"]), "candidates": view["candidates"]}
    return render(request, "records/detail.html", status=status, view=view, r=view["report"], error=error,
                  action=action, values=_kept(values), **_common())


@router.get("/reports/{code}")
def report_page(code: str, request: Request, user: WebUser = Depends(page_requires("report:read"))):
    return _detail(request, user, code)


def _act(request: Request, user: WebUser, code: str, action: str, form: FormData, work, done: str, *,
         search: bool = False):
    """Run one change of the report page; on an error, the page again with the form's input."""
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}
    try:
        write(request, work)
    except PermissionDenied:
        raise
    except ReuniteError as exc:  # a missing report fails again in _detail: the 404 page
        status = 409 if isinstance(exc, Conflict) else 404 if isinstance(exc, NotFound) else 400
        return _detail(request, user, code, status=status, error=str(exc), action=action, values=values)
    if search:
        return redirect(request, f"/reports/{code}", flash=_search_flash(code, done, run_searches(request, user)))
    return redirect(request, f"/reports/{code}", flash=done)


@router.post("/reports/{code}/references")
def add_reference(code: str, request: Request, user: WebUser = Depends(page_requires("report:write")),
                  form: FormData = Depends(checked_form)):
    def work(s):
        service.add_reference(s, code, actor=user.actor, relation=field(form, "relation", required=True),
                              sample_code=field(form, "sample_code", required=True), sex=field(form, "sex"),
                              consent_document=field(form, "consent_document"), reason=field(form, "reason"))
    return _act(request, user, code, "add", form, work, _("Reference added."), search=True)


@router.post("/reports/{code}/references/remove")
def remove_reference(code: str, request: Request, user: WebUser = Depends(page_requires("report:write")),
                     form: FormData = Depends(checked_form)):
    def work(s):
        service.remove_reference(s, code, actor=user.actor, sample_code=field(form, "sample_code", required=True),
                                 reason=field(form, "reason", required=True))
    return _act(request, user, code, "remove", form, work, _("Reference removed."), search=True)


@router.post("/reports/{code}/consent-withdraw")
def withdraw_consent(code: str, request: Request, user: WebUser = Depends(page_requires("consent:withdraw")),
                     form: FormData = Depends(checked_form)):
    def work(s):
        consent_service.withdraw_consent(s, code, actor=user.actor,
                                         sample_code=field(form, "sample_code", required=True),
                                         reason=field(form, "reason", required=True),
                                         document=field(form, "document"))
    return _act(request, user, code, "withdraw", form, work,
                _("Consent withdrawn: the sample is no longer used in any search."), search=True)


@router.post("/reports/{code}/close")
def close_report(code: str, request: Request, user: WebUser = Depends(page_requires("report:write")),
                 form: FormData = Depends(checked_form)):
    def work(s):
        service.close_report(s, code, actor=user.actor, reason=field(form, "reason", required=True))
    return _act(request, user, code, "close", form, work, _("Report closed."))


@router.post("/reports/{code}/reopen")
def reopen_report(code: str, request: Request, user: WebUser = Depends(page_requires("report:write")),
                  form: FormData = Depends(checked_form)):
    def work(s):
        service.set_report_status(s, code, actor=user.actor, status="open", reason=field(form, "reason"))
    return _act(request, user, code, "reopen", form, work, _("Report reopened."))


# ---------------------------------------------------------------------------------------
# edit


def _edit_values(r: dict) -> dict:
    values = {k: r.get(k) for k in ("child_name", "child_sex", "child_birth_date", "child_birth_date_latest",
                                    "missing_date", "missing_place", "missing_place_detail", "circumstances",
                                    "contact_name", "contact", "investigator", "agency")}
    values["missing_place_code"] = values.pop("missing_place")
    values["agency_code"] = values.pop("agency")
    return values


@router.get("/reports/{code}/edit")
def edit_report_page(code: str, request: Request, user: WebUser = Depends(page_requires("report:write"))):
    view = write(request, lambda s: service.show_report(s, code, actor=user.actor))
    if view.get("restricted"):
        raise PermissionDenied(f"{user.username} may not change report {view['code']!r}: it is owned by another "
                               "jurisdiction")
    return render(request, "records/edit.html", r=view, values=_kept(_edit_values(view)),
                  personal="child_name" in view, error=None, error_field=None, **_common())


@router.post("/reports/{code}/edit")
def edit_report(code: str, request: Request, user: WebUser = Depends(page_requires("report:write")),
                form: FormData = Depends(checked_form)):
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}
    personal = form.get("personal") == "1"
    try:
        reason = field(form, "reason", required=True)
        changed = {name: _date(form, name) if name in DATE_FIELDS else field(form, name)
                   for name in DETAIL_FIELDS}
        changed["child_sex"] = field(form, "child_sex") or "U"
        if personal:  # names are on the form only for users who read them (else they stay as they are)
            changed.update({name: field(form, name) for name in service.PERSONAL_FIELDS})
        write(request, lambda s: service.update_report(s, code, actor=user.actor, reason=reason, **changed))
    except ReuniteError as exc:
        if isinstance(exc, PermissionDenied):
            raise
        view = write(request, lambda s: service.show_report(s, code, actor=user.actor))
        return render(request, "records/edit.html", status=409 if isinstance(exc, Conflict) else 400,
                      r=view, values=_kept(values), personal=personal, error=str(exc), error_field=_error_field(exc),
                      **_common())
    searched = run_searches(request, user)
    return redirect(request, f"/reports/{code}", flash=_search_flash(code, _("Report updated."), searched)
                    if searched[0] or searched[1] else _("Report updated."))


# ---------------------------------------------------------------------------------------
# lab files


@router.get("/imports")
def imports_page(request: Request, user: WebUser = Depends(page_requires("data:import"))):
    kind = request.query_params.get("kind") or None
    with reader_session(request) as s:
        page = intake.list_imports(s, actor=user.actor, kind=kind, cursor=request.query_params.get("cursor") or None)
    return render(request, "records/imports.html", page=page, kind=kind, kinds=_choices(KINDS),
                  layouts={k: _(v) for k, v in LAYOUTS.items()},
                  base_query=urlencode({"kind": kind}) if kind else "")


def _upload_form(request: Request, *, status: int = 200, values: dict | None = None, error: str | None = None,
                 problems: list | None = None, error_field: str | None = None):
    return render(request, "records/upload.html", status=status, kinds=_choices(KINDS),
                  values=_kept({"kind": "genotypes", "search": "1", **(values or {})}), error=error,
                  problems=problems or [], error_field=error_field)


@router.get("/imports/upload")
def upload_page(request: Request, user: WebUser = Depends(page_requires("data:import"))):
    return _upload_form(request, values={"kind": request.query_params.get("kind") or "genotypes"})


@router.post("/imports/upload")
def upload(request: Request, user: WebUser = Depends(page_requires("data:import")),
           form: FormData = Depends(checked_form)):
    from reunite.api.index_cache import get_cache
    from reunite.api.routers.imports import (MAX_CONTROL_BYTES, MAX_UPLOAD_BYTES, _problem, _save, _TooLarge,
                                             _upload_name)

    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}
    values.setdefault("search", "")
    kind = values.get("kind") or ""
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _upload_form(request, status=400, values=values, error="file: " + _("choose the file to upload"),
                            error_field="file")
    if kind not in intake.KINDS:
        return _upload_form(request, status=400, values=values, error_field="kind",
                            error="kind: " + _("expected genotypes, families or unidentified persons, found %(kind)s")
                            % {"kind": repr(kind)[:40]})
    name = _upload_name(upload, f"{kind}.csv")
    with tempfile.TemporaryDirectory(prefix="reunite-upload-") as temp:
        folder = FilePath(temp)
        try:
            path = _save(upload, folder, name, limit=MAX_UPLOAD_BYTES, field="file")
            extra = {}
            for option in ("controls", "control_profiles"):
                part = form.get(option)
                if isinstance(part, UploadFile) and part.filename:
                    sub = folder / option
                    sub.mkdir()
                    extra[option] = _save(part, sub, _upload_name(part, f"{option}.csv"), limit=MAX_CONTROL_BYTES,
                                          field=option)
        except _TooLarge as exc:
            return _upload_form(request, status=413, values=values, error=str(exc), error_field="file")
        try:
            out = intake.import_file(request.app.state.engine, request.app.state.model, kind, path, actor=user.actor,
                                     search=values.get("search") == "1", encoding=field(form, "encoding"),
                                     lenient=values.get("lenient") == "1", strict=values.get("strict") == "1",
                                     lab=field(form, "lab") if kind == "genotypes" else None, name=name,
                                     index=get_cache(request.app), **extra)
        except (PermissionDenied, AuthenticationError, StoreError):
            raise
        except ReuniteError as exc:  # a bad file or option: every problem, by file and line
            message = str(exc).replace(temp + "/", "").replace(temp, "")
            texts = [t.replace(temp + "/", "").replace(temp, "") for t in getattr(exc, "problems", None) or []]
            problems = [_problem(t, name) for t in texts] or [_problem(message, name)]
            summary = ngettext("%(file)s: %(num)s problem; nothing was imported.",
                               "%(file)s: %(num)s problems; nothing was imported.", len(problems)) \
                % {"file": name, "num": len(problems)}
            return _upload_form(request, status=422, values=values, error=summary,
                                problems=problems, error_field=problems[0]["field"])
        finally:
            shutil.rmtree(temp, ignore_errors=True)
    return render(request, "records/import_result.html", status=201, out=out, report=out.report,
                  details=out.report.details or {}, file=name, kind=kind, kind_names=dict(KINDS))


@router.get("/imports/{batch_id}")
def import_page(batch_id: int, request: Request, user: WebUser = Depends(page_requires("data:import"))):
    with reader_session(request) as s:
        batch = intake.get_import(s, actor=user.actor, batch_id=batch_id)
    return render(request, "records/import.html", batch=batch, details=batch.report or {}, kind_names=dict(KINDS))
