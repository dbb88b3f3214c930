"""Pages: rescue operations and unidentified children (list, detail, register, edit).

The names of categories, placements, statuses, sexes and outcome kinds shown on these pages
(and on the outcome and registration pages) are marked here with ``N_`` and translated when
shown (:func:`label`).
"""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData

from reunite.cases import operations, unidentified
from reunite.errors import ReuniteError
from reunite.i18n import N_, format_date
from reunite.i18n import gettext as _
from reunite.store.models_workflow import OUTCOME_KINDS, PLACEMENT_KINDS, UNIDENTIFIED_CATEGORIES
from reunite.api.errors import status_of
from reunite.web.pages import WebUser, checked_form, field, page_requires, parse_date, redirect, render, write

router = APIRouter()

LABELS: dict[str, dict[str, str]] = {
    "category": {"rescued_child": N_("Rescued child"), "unclear_origin": N_("Child of unclear origin"),
                 "begging_child": N_("Begging child"), "registration_check": N_("Birth-registration check")},
    "placement": {"welfare_institution": N_("Welfare institution"), "foster_family": N_("Foster family"),
                  "hospital": N_("Hospital"), "family": N_("Family"), "other": N_("Other placement")},
    "status": {"unidentified": N_("unidentified"), "identified": N_("identified")},
    "sex": {"M": N_("Male"), "F": N_("Female"), "U": N_("Unknown")},
    "kind": {"returned_home": N_("Returned home"), "family_refused": N_("Family refused or unsuitable"),
             "welfare_placement": N_("Welfare placement"), "foster_care": N_("Foster care"),
             "adoption_referral": N_("Referred for adoption")},
    "check": {"consistent": N_("Passed"), "flagged": N_("Flagged")},
    "candidate": {"new": N_("new"), "assigned": N_("assigned"), "under_review": N_("under review"),
                  "confirmation_requested": N_("confirmation requested"), "confirmed": N_("confirmed"),
                  "rejected": N_("rejected"), "set_aside": N_("set aside")},
    "verbal": {"supports non-parentage": N_("supports non-parentage"),
               "weak/limited support for parentage": N_("weak/limited support for parentage"),
               "moderate support for parentage": N_("moderate support for parentage"),
               "moderately strong support for parentage": N_("moderately strong support for parentage"),
               "strong support for parentage": N_("strong support for parentage"),
               "very strong support for parentage": N_("very strong support for parentage"),
               "extremely strong support for parentage": N_("extremely strong support for parentage"),
               "no support for either proposition (LR = 1)": N_("no support for either proposition (LR = 1)"),
               "inconclusive (the genotypes are impossible under both hypotheses)":
                   N_("inconclusive (the genotypes are impossible under both hypotheses)")},
}
assert set(LABELS["category"]) == set(UNIDENTIFIED_CATEGORIES) and set(LABELS["kind"]) == set(OUTCOME_KINDS)
assert set(LABELS["placement"]) == set(PLACEMENT_KINDS)


def label(group: str, value) -> str:
    """``value`` of ``group`` (a category, placement, status, ...) in the page's language."""
    if value is None or value == "":
        return "—"
    return _(LABELS[group].get(value, str(value)))


def options(group: str) -> list[tuple[str, str]]:
    """(value, translated name) of every value of ``group``, for a select."""
    return [(value, _(text)) for value, text in LABELS[group].items()]


def fdate(value) -> str:
    """A date (or an ISO date string from a service) for people, in the page's language."""
    if not value:
        return "—"
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return value
    return format_date(value)


HELPERS = {"label": label, "options": options, "fdate": fdate}


class Values(dict):
    """A form's values: a field not given is None (not an error in the template)."""

    def __missing__(self, key):
        return None


def page(request: Request, template: str, *, status: int = 200, **context):
    """``render`` with the helpers of these pages (``label``, ``options``, ``fdate``); a
    form's ``values`` may leave fields out."""
    if "values" in context:
        context["values"] = Values(context["values"])
        context.setdefault("error", None)
        context.setdefault("code", None)
    return render(request, template, status=status, **HELPERS, **context)


def query_of(filters: dict) -> str:
    """The filters given, as a query string (for the pager's next page)."""
    return urlencode({k: v for k, v in filters.items() if v})


def query_filters(request: Request, names: tuple[str, ...]) -> dict:
    return {name: (request.query_params.get(name) or "").strip() or None for name in names}


def form_values(form: FormData, names: tuple[str, ...]) -> dict:
    return {name: field(form, name) for name in names}


# ---------------------------------------------------------------------------------------
# rescue operations

OP_FIELDS = ("code", "name", "operation_date", "place_code", "place_detail", "jurisdiction", "agency",
             "suspects_case_number", "notes")
OP_EDIT = ("name", "operation_date", "place_code", "place_detail", "agency", "suspects_case_number", "notes")
OP_PERSONAL = ("place_detail", "suspects_case_number", "notes")


@router.get("/operations")
def operations_list(request: Request, user: WebUser = Depends(page_requires("operation:read"))):
    filters = query_filters(request, ("jurisdiction", "date_from", "date_to"))
    cursor = request.query_params.get("cursor")
    result = write(request, lambda s: operations.list_operations(
        s, actor=user.actor, jurisdiction_code=filters["jurisdiction"],
        date_from=parse_date(filters["date_from"], "date_from"), date_to=parse_date(filters["date_to"], "date_to"),
        cursor=cursor, limit=50))
    return page(request, "children/operations.html", page=result, filters=filters, base_query=query_of(filters))


@router.get("/operations/new")
def operation_new(request: Request, user: WebUser = Depends(page_requires("operation:write"))):
    return page(request, "children/operation_form.html", values={}, editing=False, personal=True)


@router.post("/operations/new")
def operation_create(request: Request, user: WebUser = Depends(page_requires("operation:write")),
                     form: FormData = Depends(checked_form)):
    values = form_values(form, OP_FIELDS)
    try:
        write(request, lambda s: operations.create_operation(
            s, actor=user.actor, code=field(form, "code", required=True), name=values["name"],
            operation_date=parse_date(values["operation_date"], "operation_date"), place_code=values["place_code"],
            place_detail=values["place_detail"], jurisdiction_code=values["jurisdiction"],
            agency_code_=values["agency"], suspects_case_number=values["suspects_case_number"],
            notes=values["notes"]))
    except ReuniteError as exc:
        return page(request, "children/operation_form.html", status=status_of(exc), values=values, editing=False,
                    personal=True, error=str(exc))
    return redirect(request, f"/operations/{quote(values['code'])}", flash=_("Rescue operation registered"))


@router.get("/operations/{code}")
def operation_detail(request: Request, code: str, user: WebUser = Depends(page_requires("operation:read"))):
    op = write(request, lambda s: operations.show_operation(s, code, actor=user.actor))
    return page(request, "children/operation.html", op=op)


@router.get("/operations/{code}/edit")
def operation_edit(request: Request, code: str, user: WebUser = Depends(page_requires("operation:write"))):
    current = write(request, lambda s: operations.operation_form(s, code, actor=user.actor))
    current["place_code"] = current["place"]
    return page(request, "children/operation_form.html", values=current, editing=True,
                personal=current["personal"], code=code)


@router.post("/operations/{code}/edit")
def operation_update(request: Request, code: str, user: WebUser = Depends(page_requires("operation:write")),
                     form: FormData = Depends(checked_form)):
    values = form_values(form, OP_EDIT + ("reason",))

    def work(s):
        current = operations.operation_form(s, code, actor=user.actor)
        submitted = dict(values, operation_date=parse_date(values["operation_date"], "operation_date"))
        given = {}
        for name in OP_EDIT:
            if name in OP_PERSONAL and not current["personal"]:
                continue
            now = current["place" if name == "place_code" else name]
            if name == "operation_date":
                now = date.fromisoformat(now) if now else None
            if submitted[name] != now:
                given["agency_code_" if name == "agency" else name] = submitted[name]
        return operations.update_operation(s, code, actor=user.actor, reason=values["reason"], **given)

    try:
        write(request, work)
    except ReuniteError as exc:
        personal = user.can("personal:read")
        return page(request, "children/operation_form.html", status=status_of(exc), values=values, editing=True,
                    personal=personal, code=code, error=str(exc))
    return redirect(request, f"/operations/{quote(code)}", flash=_("Rescue operation changed"))


# ---------------------------------------------------------------------------------------
# unidentified children

CHILD_FIELDS = ("code", "sample_code", "sex", "category", "found_date", "found_place_code", "found_place_detail",
                "estimated_birth_date", "estimated_age", "placement_kind", "placement_name", "jurisdiction", "agency",
                "operation_code", "given_name")


@router.get("/unidentified")
def unidentified_list(request: Request, user: WebUser = Depends(page_requires("unidentified:read"))):
    filters = query_filters(request, ("status", "category", "jurisdiction", "operation", "found_from", "found_to"))
    cursor = request.query_params.get("cursor")
    result = write(request, lambda s: unidentified.list_unidentified(
        s, actor=user.actor, status=filters["status"], category=filters["category"],
        jurisdiction_code=filters["jurisdiction"], operation_code=filters["operation"],
        found_from=parse_date(filters["found_from"], "found_from"),
        found_to=parse_date(filters["found_to"], "found_to"), cursor=cursor, limit=50))
    return page(request, "children/unidentified_list.html", page=result, filters=filters,
                base_query=query_of(filters))


@router.get("/unidentified/new")
def unidentified_new(request: Request, user: WebUser = Depends(page_requires("unidentified:write"))):
    values = {"operation_code": request.query_params.get("operation"), "sex": "U", "category": "rescued_child"}
    return page(request, "children/unidentified_form.html", values=values, editing=False, personal=True)


def _age(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value.replace(",", "."))
    except ValueError:
        raise ReuniteError(f"estimated_age: expected a number of years (e.g. 6.5), found {value!r}") from None


@router.post("/unidentified/new")
def unidentified_create(request: Request, user: WebUser = Depends(page_requires("unidentified:write")),
                        form: FormData = Depends(checked_form)):
    from reunite.api.routers.reports import run_searches

    v = form_values(form, CHILD_FIELDS)
    try:
        write(request, lambda s: unidentified.create_unidentified(
            s, actor=user.actor, code=field(form, "code", required=True),
            sample_code=field(form, "sample_code", required=True), sex=v["sex"] or "U",
            category=v["category"] or "rescued_child", found_date=parse_date(v["found_date"], "found_date"),
            found_place_code=v["found_place_code"], found_place_detail=v["found_place_detail"],
            estimated_birth_date=parse_date(v["estimated_birth_date"], "estimated_birth_date"),
            estimated_age=_age(v["estimated_age"]), placement_kind=v["placement_kind"],
            placement_name=v["placement_name"], jurisdiction_code=v["jurisdiction"], agency_code_=v["agency"],
            operation_code=v["operation_code"], given_name=v["given_name"]))
    except ReuniteError as exc:
        return page(request, "children/unidentified_form.html", status=status_of(exc), values=v, editing=False,
                    personal=True, error=str(exc))
    run_searches(request, user.actor)
    return redirect(request, f"/unidentified/{quote(v['code'])}",
                    flash=_("Child registered and searched against every family"))


@router.get("/unidentified/{code}")
def unidentified_detail(request: Request, code: str, user: WebUser = Depends(page_requires("unidentified:read"))):
    settings = request.app.state.settings
    child = write(request, lambda s: unidentified.child_overview(s, code, actor=user.actor, settings=settings))
    return page(request, "children/unidentified.html", child=child)


@router.get("/unidentified/{code}/edit")
def unidentified_edit(request: Request, code: str, user: WebUser = Depends(page_requires("unidentified:write"))):
    current = write(request, lambda s: unidentified.unidentified_form(s, code, actor=user.actor))
    return page(request, "children/unidentified_form.html", values=current, editing=True,
                personal=current["personal"], code=code)


@router.post("/unidentified/{code}/edit")
def unidentified_update(request: Request, code: str, user: WebUser = Depends(page_requires("unidentified:write")),
                        form: FormData = Depends(checked_form)):
    from reunite.api.routers.reports import run_searches

    v = form_values(form, unidentified.EDITABLE + ("reason",))
    try:
        values = {name: v[name] for name in unidentified.EDITABLE}
        values["found_date"] = parse_date(v["found_date"], "found_date")
        values["estimated_birth_date"] = parse_date(v["estimated_birth_date"], "estimated_birth_date")
        write(request, lambda s: unidentified.edit_unidentified(s, code, actor=user.actor, reason=v["reason"],
                                                                values=values))
    except ReuniteError as exc:
        return page(request, "children/unidentified_form.html", status=status_of(exc), values=v, editing=True,
                    personal=user.can("personal:read"), code=code, error=str(exc))
    run_searches(request, user.actor)
    return redirect(request, f"/unidentified/{quote(code)}", flash=_("Changes saved with their reason"))


def quote(value: str) -> str:
    from urllib.parse import quote as q

    return q(value, safe="")
