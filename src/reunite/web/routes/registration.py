"""Pages: the late birth-registration check (list, run one, one check with its LR, verbal
scale, inconsistent loci, provenance and the child's search against every family)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData

from reunite.api.errors import status_of
from reunite.cases import registration
from reunite.errors import ReuniteError
from reunite.i18n import gettext as _
from reunite.web.pages import WebUser, checked_form, field, page_requires, parse_date, redirect, write
from reunite.web.routes.children import page, query_filters, query_of, quote

router = APIRouter()

CHECK_FIELDS = ("code", "child_sample_code", "father_sample_code", "mother_sample_code", "child_code", "child_sex",
                "child_given_name", "estimated_birth_date", "registration_number", "jurisdiction", "agency")


@router.get("/registration")
def checks_list(request: Request, user: WebUser = Depends(page_requires("registration:read"))):
    filters = query_filters(request, ("status", "jurisdiction", "created_from", "created_to"))
    result = write(request, lambda s: registration.list_checks(
        s, actor=user.actor, status=filters["status"], jurisdiction_code=filters["jurisdiction"],
        created_from=parse_date(filters["created_from"], "created_from"),
        created_to=parse_date(filters["created_to"], "created_to"), cursor=request.query_params.get("cursor"),
        limit=50))
    return page(request, "registration/list.html", page=result, filters=filters, base_query=query_of(filters))


@router.get("/registration/new")
def check_new(request: Request, user: WebUser = Depends(page_requires("registration:write"))):
    return page(request, "registration/form.html", values={"child_sex": "U"})


@router.post("/registration/new")
def check_run(request: Request, user: WebUser = Depends(page_requires("registration:write")),
              form: FormData = Depends(checked_form)):
    from reunite.api.routers.reports import run_searches

    v = {name: field(form, name) for name in CHECK_FIELDS}
    model, settings = request.app.state.model, request.app.state.settings
    try:
        born = parse_date(v["estimated_birth_date"], "estimated_birth_date")
        status = write(request, lambda s: registration.run_check(
            s, actor=user.actor, model=model, code=field(form, "code", required=True),
            child_sample_code=field(form, "child_sample_code", required=True),
            father_sample_code=v["father_sample_code"], mother_sample_code=v["mother_sample_code"],
            child_code=v["child_code"], child_sex=v["child_sex"] or "U", child_given_name=v["child_given_name"],
            estimated_birth_date=born, registration_number=v["registration_number"],
            jurisdiction_code=v["jurisdiction"], agency_code_=v["agency"],
            threshold=settings.registration_lr_threshold).status)
    except ReuniteError as exc:
        return page(request, "registration/form.html", status=status_of(exc), values=v, error=str(exc))
    if status == "flagged":
        run_searches(request, user.actor)
        return redirect(request, f"/registration/{quote(v['code'])}", kind="info",
                        flash=_("Check flagged: the registration office is notified and the child is searched "
                                "against every family"))
    return redirect(request, f"/registration/{quote(v['code'])}", flash=_("Check passed"))


@router.get("/registration/{code}")
def check_detail(request: Request, code: str, user: WebUser = Depends(page_requires("registration:read"))):
    check = write(request, lambda s: registration.check_detail(s, code, actor=user.actor))
    return page(request, "registration/detail.html", check=check)
