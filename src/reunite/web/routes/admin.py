"""Pages: administration (``user:read``; changes need ``user:write`` or ``jurisdiction:write``).

* ``/admin``: the overview; ``/admin/users`` (filters role, jurisdiction, active),
  ``/admin/users/new``, ``/admin/users/{name}`` (roles, details, disable/enable, password
  reset, second factor, sessions and tokens);
* ``/admin/jurisdictions``: the tree with its agencies, and the forms to add either;
* ``/admin/kits``, ``/admin/frequencies`` (``/{population}``), ``/admin/model``: read-only
  reference data (:mod:`reunite.cases.model_info`).
"""

from __future__ import annotations

import io
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from markupsafe import Markup
from starlette.datastructures import FormData

from reunite.cases import model_info
from reunite.errors import Conflict, NotFound, PermissionDenied, ReuniteError
from reunite.i18n import N_
from reunite.i18n import gettext as _
from reunite.security import jurisdictions as jurisdiction_service
from reunite.security import login as login_service
from reunite.security import users
from reunite.store.models_workflow import ROLES
from reunite.web.routes.account import TOKEN_KINDS
from reunite.web.pages import (
    WebUser,
    checked_form,
    field,
    page_requires,
    reader_session,
    redirect,
    render,
    write,
)

router = APIRouter()

#: role and level names as the pages show them (translated)
ROLE_LABELS = {"analyst": N_("analyst"), "investigator": N_("investigator"), "reviewer": N_("reviewer"),
               "welfare": N_("welfare"), "registration": N_("registration"),
               "administrator": N_("administrator"), "auditor": N_("auditor")}
#: the usual agency kinds in words (any other kind, typed by the administrator, is shown as typed)
AGENCY_KINDS = {"police": N_("police agency"), "lab": N_("forensic DNA laboratory"),
                "welfare": N_("child welfare agency"), "registration": N_("household registration office")}
LEVEL_LABELS = {"national": N_("national"), "province": N_("province"), "prefecture": N_("prefecture"),
                "county": N_("county")}
MUTATION_LABELS = {"equal": N_("equal"), "proportional": N_("proportional"), "stepwise": N_("stepwise"),
                   "onestep": N_("onestep"), "none": N_("none")}
NOT_STATED = N_("not stated")  # a table's sample size when its source gives none
assert set(ROLE_LABELS) == set(ROLES)


def _active_filter(value: str | None) -> bool | None:
    return {"1": True, "0": False}.get(value or "")


def _choices(request: Request, user: WebUser):
    """Jurisdictions and agencies for the user forms."""
    with reader_session(request) as s:
        places = jurisdiction_service.list_jurisdictions(s, actor=user.actor)
        agencies = jurisdiction_service.list_agencies(s, actor=user.actor)
    places = [j for j in places if user.actor.in_scope(j.path)]
    return places, agencies


# ---------------------------------------------------------------------------------------
# overview and users


@router.get("/admin")
def admin_home(request: Request, user: WebUser = Depends(page_requires("user:read"))):
    return render(request, "admin/index.html")


@router.get("/admin/users")
def users_page(request: Request, user: WebUser = Depends(page_requires("user:read")), role: str | None = None,
               jurisdiction: str | None = None, active: str | None = None, cursor: str | None = None):
    role = role or None
    jurisdiction = (jurisdiction or "").strip() or None
    with reader_session(request) as s:
        page = users.list_users(s, actor=user.actor, role=role, jurisdiction=jurisdiction,
                                active=_active_filter(active), cursor=cursor)
    places, _agencies = _choices(request, user)
    query = urlencode({k: v for k, v in (("role", role), ("jurisdiction", jurisdiction), ("active", active)) if v})
    return render(request, "admin/users.html", page=page, roles=ROLES, places=places,
                  filters={"role": role or "", "jurisdiction": jurisdiction or "", "active": active or ""},
                  base_query=query)


def _new_user_page(request: Request, user: WebUser, *, values: dict | None = None, error: str | None = None,
                   status: int = 200):
    places, agencies = _choices(request, user)
    return render(request, "admin/user_new.html", status=status, roles=ROLES, places=places, agencies=agencies,
                  values=values or {"roles": []}, error=error)


@router.get("/admin/users/new")
def new_user_page(request: Request, user: WebUser = Depends(page_requires("user:write"))):
    return _new_user_page(request, user)


@router.post("/admin/users/new")
def create_user(request: Request, user: WebUser = Depends(page_requires("user:write")),
                form: FormData = Depends(checked_form)):
    values = {k: field(form, k) if k != "password" else form.get("password")
              for k in ("username", "display_name", "email", "jurisdiction", "agency", "password")}
    values["roles"] = [r for r in form.getlist("roles") if isinstance(r, str)]
    try:
        if not values["username"] or not values["password"] or not values["jurisdiction"]:
            raise ReuniteError(_("username, password and jurisdiction: these fields are required"))
        made = write(request, lambda s: users.create_user(
            s, actor=user.actor, username=values["username"], password=values["password"], roles=values["roles"],
            jurisdiction_code=values["jurisdiction"], agency_code=values["agency"],
            display_name=values["display_name"], email=values["email"]).username)
    except ReuniteError as exc:
        values["password"] = ""
        return _new_user_page(request, user, values=values, error=str(exc), status=_status(exc))
    return redirect(request, f"/admin/users/{made}", flash=_("User %(name)s added.") % {"name": made})


def _user_page(request: Request, user: WebUser, username: str, *, error: str | None = None, status: int = 200,
               enrolment=None):
    with reader_session(request) as s:
        info = users.get_user(s, actor=user.actor, username=username)
        tokens = login_service.list_tokens(s, actor=user.actor, username=username)
    qr = _qr_svg(enrolment.uri) if enrolment else None
    return render(request, "admin/user.html", status=status, info=info, tokens=tokens, roles=ROLES, error=error,
                  enrolment=enrolment, qr=qr, is_self=info.username == user.username, token_kinds=TOKEN_KINDS)


@router.get("/admin/users/{username}")
def user_page(username: str, request: Request, user: WebUser = Depends(page_requires("user:read"))):
    return _user_page(request, user, username)


def _status(exc: ReuniteError) -> int:
    return 403 if isinstance(exc, PermissionDenied) else 409 if isinstance(exc, Conflict) else 400


def _change(request: Request, user: WebUser, username: str, work, done: str):
    """Run one change of ``username``; its error is shown on the user's page."""
    try:
        write(request, work)
    except NotFound:
        raise
    except ReuniteError as exc:
        return _user_page(request, user, username, error=str(exc), status=_status(exc))
    return redirect(request, f"/admin/users/{username}", flash=done)


@router.post("/admin/users/{username}/roles")
def set_roles(username: str, request: Request, user: WebUser = Depends(page_requires("user:write")),
              form: FormData = Depends(checked_form)):
    roles = [r for r in form.getlist("roles") if isinstance(r, str)]
    return _change(request, user, username, lambda s: users.set_roles(s, actor=user.actor, username=username,
                                                                      roles=roles), _("Roles saved."))


@router.post("/admin/users/{username}/details")
def set_details(username: str, request: Request, user: WebUser = Depends(page_requires("user:write")),
                form: FormData = Depends(checked_form)):
    name, email = field(form, "display_name") or "", field(form, "email") or ""
    return _change(request, user, username, lambda s: users.update_user(
        s, actor=user.actor, username=username, display_name=name, email=email), _("Details saved."))


@router.post("/admin/users/{username}/active")
def set_active(username: str, request: Request, user: WebUser = Depends(page_requires("user:write")),
               form: FormData = Depends(checked_form)):
    active = field(form, "active") == "1"
    return _change(request, user, username, lambda s: users.set_active(s, actor=user.actor, username=username,
                                                                       active=active),
                   _("The account is enabled.") if active else _("The account is disabled; its sessions are ended."))


@router.post("/admin/users/{username}/password")
def reset_password(username: str, request: Request, user: WebUser = Depends(page_requires("user:write")),
                   form: FormData = Depends(checked_form)):
    password = form.get("password") if isinstance(form.get("password"), str) else ""
    return _change(request, user, username, lambda s: users.reset_password(s, actor=user.actor, username=username,
                                                                           password=password),
                   _("The password is reset; the user's sessions are ended."))


@router.post("/admin/users/{username}/totp")
def enrol_totp(username: str, request: Request, user: WebUser = Depends(page_requires("user:write")),
               form: FormData = Depends(checked_form)):
    try:
        enrolment = write(request, lambda s: users.enrol_totp(s, actor=user.actor, username=username))
    except ReuniteError as exc:
        return _user_page(request, user, username, error=str(exc), status=400)
    response = _user_page(request, user, username, enrolment=enrolment)
    response.headers["Cache-Control"] = "no-store"  # the secret is shown once
    return response


@router.post("/admin/users/{username}/totp/remove")
def remove_totp(username: str, request: Request, user: WebUser = Depends(page_requires("user:write")),
                form: FormData = Depends(checked_form)):
    return _change(request, user, username, lambda s: users.remove_totp(s, actor=user.actor, username=username),
                   _("The second factor is removed."))


@router.post("/admin/users/{username}/tokens/revoke")
def revoke_all(username: str, request: Request, user: WebUser = Depends(page_requires("user:write")),
               form: FormData = Depends(checked_form)):
    return _change(request, user, username, lambda s: users.revoke_user_tokens(s, actor=user.actor,
                                                                               username=username),
                   _("Every session and token of the user is revoked."))


@router.post("/admin/users/{username}/tokens/{token_id}/revoke")
def revoke_one(username: str, token_id: int, request: Request, user: WebUser = Depends(page_requires("user:write")),
               form: FormData = Depends(checked_form)):
    return _change(request, user, username, lambda s: login_service.revoke_token(s, actor=user.actor,
                                                                                 token_id=token_id),
                   _("The session or token is revoked."))


def _qr_svg(text: str) -> Markup:
    """``text`` as a QR code: an SVG of black squares (presentation attributes only, no
    ``style``: the pages' Content-Security-Policy)."""
    import qrcode

    qr = qrcode.QRCode(border=4, error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(text)
    qr.make(fit=True)
    matrix = qr.get_matrix()
    size = len(matrix)
    out = io.StringIO()
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                out.write(f"M{x},{y}h1v1h-1z")
    label = _("QR code of the second-factor secret")
    return Markup(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" width="{size * 5}" '
                  f'height="{size * 5}" role="img" aria-label="{Markup.escape(label)}" shape-rendering="crispEdges">'
                  f'<rect width="{size}" height="{size}" fill="#fff"/><path d="{out.getvalue()}" fill="#000"/></svg>')


# ---------------------------------------------------------------------------------------
# jurisdictions and agencies


def _places_page(request: Request, user: WebUser, *, error: str | None = None, status: int = 200,
                 values: dict | None = None):
    with reader_session(request) as s:
        places = jurisdiction_service.list_jurisdictions(s, actor=user.actor)
        agencies = jurisdiction_service.list_agencies(s, actor=user.actor)
    by_place: dict[str, list] = {}
    for agency, code in agencies:
        by_place.setdefault(code, []).append(agency)
    rows = [(j, j.path.count("/") - 1, by_place.get(j.code, [])) for j in places]
    return render(request, "admin/jurisdictions.html", status=status, rows=rows, places=places, error=error,
                  values=values or {}, levels=LEVEL_LABELS, agency_kinds={k: _(v) for k, v in AGENCY_KINDS.items()})


@router.get("/admin/jurisdictions")
def jurisdictions_page(request: Request, user: WebUser = Depends(page_requires("user:read"))):
    return _places_page(request, user)


@router.post("/admin/jurisdictions")
def add_jurisdiction(request: Request, user: WebUser = Depends(page_requires("jurisdiction:write")),
                     form: FormData = Depends(checked_form)):
    values = {k: field(form, k) for k in ("code", "name", "name_zh", "parent")}
    try:
        if not values["code"] or not values["name"] or not values["parent"]:
            raise ReuniteError(_("code, name and parent: these fields are required"))
        write(request, lambda s: jurisdiction_service.add_jurisdiction(
            s, actor=user.actor, code=values["code"], name=values["name"], parent_code=values["parent"],
            name_zh=values["name_zh"]))
    except ReuniteError as exc:
        return _places_page(request, user, error=str(exc), status=_status(exc), values={"j": values})
    return redirect(request, "/admin/jurisdictions", flash=_("Jurisdiction %(code)s added.") % {"code": values["code"]})


@router.post("/admin/agencies")
def add_agency(request: Request, user: WebUser = Depends(page_requires("jurisdiction:write")),
               form: FormData = Depends(checked_form)):
    values = {k: field(form, k) for k in ("code", "name", "name_zh", "jurisdiction", "kind")}
    try:
        if not values["code"] or not values["name"] or not values["jurisdiction"]:
            raise ReuniteError(_("code, name and jurisdiction: these fields are required"))
        write(request, lambda s: jurisdiction_service.add_agency(
            s, actor=user.actor, code=values["code"], name=values["name"], jurisdiction_code=values["jurisdiction"],
            kind=values["kind"], name_zh=values["name_zh"]))
    except ReuniteError as exc:
        return _places_page(request, user, error=str(exc), status=_status(exc), values={"a": values})
    return redirect(request, "/admin/jurisdictions", flash=_("Agency %(code)s added.") % {"code": values["code"]})


# ---------------------------------------------------------------------------------------
# kits, frequency tables, the genetic model (read-only)


@router.get("/admin/kits")
def kits_page(request: Request, user: WebUser = Depends(page_requires("user:read"))):
    return render(request, "admin/kits.html", kits=model_info.list_kits(actor=user.actor))


@router.get("/admin/frequencies")
def frequencies_page(request: Request, user: WebUser = Depends(page_requires("user:read"))):
    return render(request, "admin/frequencies.html", tables=model_info.list_frequency_tables(actor=user.actor))


@router.get("/admin/frequencies/{population}")
def frequency_table_page(population: str, request: Request, user: WebUser = Depends(page_requires("user:read"))):
    detail = model_info.frequency_table(actor=user.actor, population=population)
    return render(request, "admin/frequency_table.html", detail=detail)


@router.get("/admin/model")
def model_page(request: Request, user: WebUser = Depends(page_requires("user:read"))):
    with reader_session(request) as s:
        model = model_info.genetic_model(s, actor=user.actor)
    return render(request, "admin/model.html", model=model, mutation_labels=MUTATION_LABELS)
