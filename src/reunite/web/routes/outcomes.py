"""Pages: outcomes of identified children and their follow-up visits (list, record, one
outcome with its visits, the visits due and overdue)."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from starlette.datastructures import FormData

from reunite.api.errors import status_of
from reunite.cases import outcomes
from reunite.cases.delivery import deliver_pending
from reunite.errors import ReuniteError
from reunite.i18n import gettext as _
from reunite.web.pages import WebUser, checked_form, field, page_requires, parse_date, redirect, write
from reunite.web.routes.children import page, query_filters, query_of

router = APIRouter()

OUTCOME_FIELDS = ("child", "kind", "outcome_date", "officer", "notes", "follow_ups")
DEFAULT_FOLLOW_UPS = "30,90,180"


def _id(value: str, name: str) -> int:
    if not value.isdigit() or not 1 <= int(value) < 2**31:
        raise ReuniteError(f"{name}: expected a number, found {value!r}")
    return int(value)


@router.get("/outcomes")
def outcomes_list(request: Request, user: WebUser = Depends(page_requires("outcome:read"))):
    filters = query_filters(request, ("kind", "child"))
    result = write(request, lambda s: outcomes.list_outcomes(
        s, actor=user.actor, child_code=filters["child"], kind=filters["kind"],
        cursor=request.query_params.get("cursor"), limit=50))
    return page(request, "outcomes/list.html", page=result, filters=filters, base_query=query_of(filters))


@router.get("/outcomes/follow-ups")
def follow_ups(request: Request, user: WebUser = Depends(page_requires("outcome:read"))):
    raw = request.query_params.get("within") or str(outcomes.DUE_WINDOW_DAYS)
    within = _id(raw, "within") if raw != "0" else 0
    result = write(request, lambda s: outcomes.due_follow_ups(
        s, actor=user.actor, within_days=within, cursor=request.query_params.get("cursor"), limit=50))
    return page(request, "outcomes/follow_ups.html", page=result, within=within,
                base_query=query_of({"within": str(within)}))


@router.get("/outcomes/new")
def outcome_new(request: Request, user: WebUser = Depends(page_requires("outcome:write"))):
    values = {"child": request.query_params.get("child"), "follow_ups": DEFAULT_FOLLOW_UPS}
    return page(request, "outcomes/form.html", values=values)


@router.post("/outcomes/new")
def outcome_create(request: Request, tasks: BackgroundTasks, user: WebUser = Depends(page_requires("outcome:write")),
                   form: FormData = Depends(checked_form)):
    values = {name: field(form, name) for name in OUTCOME_FIELDS}
    try:
        day = parse_date(field(form, "outcome_date", required=True), "outcome_date")
        view = write(request, lambda s: outcomes.record_outcome(
            s, actor=user.actor, child_code=field(form, "child", required=True),
            kind=field(form, "kind", required=True), outcome_date=day, officer=values["officer"],
            notes=values["notes"], follow_up_days=outcomes.parse_follow_up_days(values["follow_ups"])))
    except ReuniteError as exc:
        return page(request, "outcomes/form.html", status=status_of(exc), values=values, error=str(exc))
    tasks.add_task(deliver_pending, request.app.state.engine, request.app.state.settings)
    return redirect(request, f"/outcomes/{view.id}", flash=_("Outcome recorded"))


@router.get("/outcomes/{outcome_id}")
def outcome_detail(request: Request, outcome_id: int, user: WebUser = Depends(page_requires("outcome:read"))):
    view = write(request, lambda s: outcomes.get_outcome(s, actor=user.actor, outcome_id=outcome_id))
    return page(request, "outcomes/detail.html", outcome=view, values={})


def _detail_with_error(request: Request, user: WebUser, outcome_id: int, exc: ReuniteError, values: dict):
    view = write(request, lambda s: outcomes.get_outcome(s, actor=user.actor, outcome_id=outcome_id))
    return page(request, "outcomes/detail.html", status=status_of(exc), outcome=view, values=values,
                error=str(exc))


@router.post("/outcomes/{outcome_id}/follow-ups")
def follow_up_add(request: Request, outcome_id: int, user: WebUser = Depends(page_requires("outcome:write")),
                  form: FormData = Depends(checked_form)):
    values = {"due_date": field(form, "due_date"), "officer": field(form, "officer")}
    try:
        due = parse_date(field(form, "due_date", required=True), "due_date")
        write(request, lambda s: outcomes.add_follow_up(s, actor=user.actor, outcome_id=outcome_id, due_date=due,
                                                        officer=values["officer"]))
    except ReuniteError as exc:
        return _detail_with_error(request, user, outcome_id, exc, values)
    return redirect(request, f"/outcomes/{outcome_id}", flash=_("Follow-up visit scheduled"))


@router.post("/outcomes/{outcome_id}/follow-ups/{follow_up_id}/done")
def follow_up_done(request: Request, outcome_id: int, follow_up_id: int,
                   user: WebUser = Depends(page_requires("outcome:write")), form: FormData = Depends(checked_form)):
    values = {"done_date": field(form, "done_date"), "visit_notes": field(form, "notes"), "visit": follow_up_id}
    try:
        done = parse_date(values["done_date"], "done_date")
        write(request, lambda s: outcomes.complete_follow_up(s, actor=user.actor, follow_up_id=follow_up_id,
                                                             done_date=done, notes=values["visit_notes"]))
    except ReuniteError as exc:
        return _detail_with_error(request, user, outcome_id, exc, values)
    return redirect(request, f"/outcomes/{outcome_id}", flash=_("Follow-up visit recorded"))

