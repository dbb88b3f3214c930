"""What every page route uses: the logged-in user, permissions, forms with their CSRF token,
rendering a template in the user's language, redirects with a flash message.

A page route parses its query or form, calls one service, and renders; it never runs SQL or
statistics itself.  Typical use::

    @router.get("/reports")
    def reports_page(request: Request, user: WebUser = Depends(page_requires("report:read"))):
        with reader_session(request) as s:
            page = reports.list_reports(s, actor=user.actor, ...)
        return render(request, "reports/list.html", page=page)

    @router.post("/reports/new")
    def create(request: Request, user: WebUser = Depends(page_requires("report:write")),
               form: Form = Depends(checked_form)):
        ...
        return redirect(request, f"/reports/{code}", flash=_("Report registered"))

Sessions are the API's cookie sessions (``reunite_session``, HttpOnly, SameSite=Strict); the
raw CSRF token of the session is kept in a second HttpOnly cookie (``reunite_csrf``) and put
into every form as the hidden field ``csrf``; :func:`checked_form` refuses a form whose field
does not match the session's CSRF digest (a page of another site cannot read either cookie).
"""

from __future__ import annotations

import base64
import json
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from reunite import __version__, i18n
from reunite.errors import AuthenticationError, PermissionDenied, ReuniteError
from reunite.i18n import N_
from reunite.i18n import gettext as _
from reunite.security import tokens
from reunite.security.actor import Actor
from reunite.store.db import read_only, write_transaction
from reunite.store.models_workflow import User

SESSION_COOKIE = "reunite_session"  # the API's cookie session (reunite.api.deps)
CSRF_COOKIE = "reunite_csrf"
LANG_COOKIE = "reunite_lang"
FLASH_COOKIE = "reunite_flash"
LOGIN_CSRF_COOKIE = "reunite_login_csrf"
CSRF_FIELD = "csrf"


class LoginRequired(Exception):
    """No valid session: the page redirects to ``/login?next=...``."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


@dataclass(frozen=True)
class WebUser:
    """The logged-in user of a page: the services' :class:`Actor`, the session's CSRF token."""

    actor: Actor
    token_id: int
    csrf: str
    display_name: str | None
    language: str | None  # the user's saved language, None: the browser's

    @property
    def username(self) -> str:
        return self.actor.username

    def can(self, permission: str) -> bool:
        return self.actor.can(permission)


# ---------------------------------------------------------------------------------------
# languages


def request_language(request: Request) -> str:
    """The page language: the ``reunite_lang`` cookie (the switcher; set at login from the
    user's saved choice), else the browser's Accept-Language, else REUNITE_LANGUAGE."""
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie:
        try:
            return i18n.check_language(cookie)
        except ReuniteError:
            pass
    default = getattr(getattr(request.app.state, "settings", None), "language", i18n.DEFAULT_LANGUAGE)
    return i18n.negotiate(request.headers.get("accept-language"), default=default)


def set_language_cookie(response, request: Request, lang: str) -> None:
    response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, path="/", httponly=True, samesite="lax",
                        secure=not request.app.state.settings.development)


# ---------------------------------------------------------------------------------------
# the user


def current_web_user(request: Request) -> WebUser | None:
    """The user of the session cookie, or None (no cookie, expired, revoked, disabled)."""
    if hasattr(request.state, "web_user"):
        return request.state.web_user
    user = None
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        settings = request.app.state.settings
        from reunite.api.deps import client_address

        with Session(read_only(request.app.state.engine)) as s:
            try:
                actor, row = tokens.resolve(s, raw, kind="session", address=client_address(request), via="web",
                                            totp_required_roles=settings.totp_required_roles)
            except AuthenticationError:
                actor = None
            if actor is not None:
                person = s.get(User, row.user_id)
                user = WebUser(actor=actor, token_id=row.id, csrf=request.cookies.get(CSRF_COOKIE, ""),
                               display_name=person.display_name if person else None,
                               language=person.language if person else None)
                request.state.csrf_hash = row.csrf_hash
    request.state.web_user = user
    return user


def next_of(request: Request) -> str:
    """This page's own path and query, for ``/login?next=`` (a local path only)."""
    path = request.url.path
    if request.url.query and request.method == "GET":
        path += "?" + request.url.query
    return path


def web_user(request: Request) -> WebUser:
    """Dependency: the logged-in user, or a redirect to the login page."""
    user = current_web_user(request)
    if user is None:
        raise LoginRequired(next_of(request) if request.method == "GET" else "/")
    return user


def page_requires(permission: str):
    """Dependency: the logged-in user holding ``permission`` (else the 403 page)."""

    def dependency(request: Request) -> WebUser:
        user = web_user(request)
        user.actor.require(permission)
        return user

    dependency.permission = permission
    dependency.__name__ = f"page_requires_{permission.replace(':', '_')}"
    return dependency


def safe_next(value: str | None, default: str = "/") -> str:
    """A redirect target from a form or query: a local path only (never ``//host`` or a URL)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value \
            or any(ord(c) < 32 or ord(c) == 127 for c in value):  # browsers drop tabs: "/\t/host" is "//host"
        return default
    return value


# ---------------------------------------------------------------------------------------
# forms


async def checked_form(request: Request) -> FormData:
    """Dependency: the posted form, after checking its ``csrf`` field against the session."""
    form = await request.form()
    web_user(request)  # logged in (else the login page); keeps the session's CSRF digest
    if not tokens.csrf_matches(getattr(request.state, "csrf_hash", None), form.get(CSRF_FIELD)):
        raise PermissionDenied(_("The form has expired or did not come from this site: open the page again "
                                 "and resend it."))
    return form


def field(form: FormData, name: str, *, required: bool = False, what: str | None = None) -> str | None:
    """A text field of ``form``, stripped; None when empty (an error naming it if ``required``)."""
    value = form.get(name)
    if isinstance(value, str):
        value = value.strip()
    if not value:
        if required:
            raise ReuniteError(f"{name}: " + _("this field is required") + (f" ({what})" if what else ""))
        return None
    if not isinstance(value, str):
        raise ReuniteError(f"{name}: " + _("expected text, found a file"))
    return value


def parse_date(value: str | None, name: str) -> date | None:
    """A date field or query parameter (YYYY-MM-DD, as a date input sends it); None when empty,
    an error naming ``name`` otherwise."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ReuniteError(f"{name}: " + _("expected a date (YYYY-MM-DD), found %(value)s")
                           % {"value": repr(value.strip()[:40])}) from None


def query_date(request: Request, name: str) -> date | None:
    """The date in query parameter ``name`` (see :func:`parse_date`)."""
    return parse_date(request.query_params.get(name), name)


# ---------------------------------------------------------------------------------------
# database sessions (for the routes' service calls)


@contextmanager
def reader_session(request: Request):
    """A session that only reads (never waits for a writer on SQLite)."""
    with Session(read_only(request.app.state.engine)) as s:
        yield s


def write(request: Request, work):
    """Run ``work(session)`` in one write transaction (the services' rule: one per action)."""
    return write_transaction(request.app.state.engine, work)


# ---------------------------------------------------------------------------------------
# rendering


NAV = [  # (path, label, permission): the menu, each entry shown to the users allowed to open it
    ("/dashboard", N_("Dashboard"), None),
    ("/reports", N_("Missing-child reports"), "report:read"),
    ("/operations", N_("Rescue operations"), "operation:read"),
    ("/unidentified", N_("Unidentified children"), "unidentified:read"),
    ("/imports", N_("Lab files"), "data:import"),
    ("/candidates", N_("Candidates"), "candidate:read"),
    ("/outcomes", N_("Outcomes"), "outcome:read"),
    ("/registration", N_("Birth registration"), "registration:read"),
    ("/charts", N_("Charts"), "statistics:read"),
    ("/planning", N_("Planning"), "statistics:read"),
    ("/documents", N_("PDF reports"), "document:issue"),
    ("/admin", N_("Administration"), "user:read"),
    ("/audit", N_("Audit log"), "audit:read"),
]


def _posterior_text(value) -> str:
    """A posterior as the kinship PDF prints it (never rounded to 0 or 1)."""
    from reunite.reports.pdf_common import posterior_text

    return posterior_text(value)


def _prior_text(value) -> str:
    """A prior as the kinship PDF prints it (``1/5,000``; never rounded to 0)."""
    from reunite.reports.pdf_common import prior_text

    return prior_text(value)


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=PackageLoader("reunite.web", "templates"),
                      autoescape=select_autoescape(["html", "svg", "xml"], default_for_string=True),
                      extensions=["jinja2.ext.i18n"], undefined=StrictUndefined, trim_blocks=True,
                      lstrip_blocks=True)
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)
    env.filters.update(date=lambda v, format="medium": i18n.format_date(v, format=format),
                       datetime=lambda v, format="medium": i18n.format_datetime(v, format=format),
                       number=lambda v, digits=None: i18n.format_number(v, digits=digits),
                       percent=lambda v, digits=1: i18n.format_percent(v, digits=digits),
                       lr=i18n.format_lr, urlquote=lambda v: quote(str(v), safe=""),
                       posterior=_posterior_text, prior=_prior_text)
    env.globals.update(version=__version__, LANGUAGE_NAMES=i18n.LANGUAGE_NAMES, LANGUAGES=i18n.LANGUAGES,
                       HTML_LANG=i18n.HTML_LANG)
    return env


def _flash_of(request: Request) -> dict | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(raw.encode()).decode())
        return {"text": str(data["text"])[:500], "kind": data.get("kind") if data.get("kind") in
                ("success", "error", "info") else "info"}
    except (ValueError, KeyError, TypeError):
        return None


def render_text(request: Request, template: str, **context) -> str:
    """``template`` rendered in the request's language with the page context."""
    user = current_web_user(request)
    lang = request_language(request)
    nav = [(path, label) for path, label, perm in NAV if user is not None and (perm is None or user.can(perm))]
    unread = 0
    if user is not None and user.can("notification:read"):
        from reunite.cases.notifications import unread_count

        with reader_session(request) as s:
            unread = unread_count(s, actor=user.actor)
    base = dict(request=request, user=user, csrf=user.csrf if user else "", lang=lang, nav=nav, unread=unread,
                path=request.url.path, flash=_flash_of(request), next_url=next_of(request))
    base.update(context)
    with i18n.use_language(lang):
        return environment().get_template(template).render(base)


def render(request: Request, template: str, *, status: int = 200, **context) -> HTMLResponse:
    """An HTML page: ``template`` (which extends ``base.html``) with ``context``."""
    response = HTMLResponse(render_text(request, template, **context), status_code=status)
    if request.cookies.get(FLASH_COOKIE):
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def redirect(request: Request, url: str, *, flash: str | None = None, kind: str = "success") -> RedirectResponse:
    """303 to ``url`` (after a POST), with an optional one-time message shown on the next page."""
    response = RedirectResponse(url, status_code=303)
    if flash:
        value = base64.urlsafe_b64encode(json.dumps({"text": flash, "kind": kind}).encode()).decode()
        response.set_cookie(FLASH_COOKIE, value, max_age=120, path="/", httponly=True, samesite="strict",
                            secure=not request.app.state.settings.development)
    return response


def form_error(request: Request, template: str, exc: ReuniteError, *, status: int = 400, **context) -> HTMLResponse:
    """The form page again, with the service's error (which names the field) above the form."""
    return render(request, template, status=status, error=str(exc), **context)
