"""Pages: log in (password, and the six-digit code where the account has a second factor),
log out, switch the language.

The login form carries its own CSRF token (a random value in the ``reunite_login_csrf``
cookie that the form must repeat), so a page of another site cannot log a browser in as
someone else.  A successful login sets the API's session cookie, the session's CSRF token
(for the forms of every page) and, where the user saved one, the language.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from reunite import i18n
from reunite.errors import AuthenticationError
from reunite.i18n import gettext as _
from reunite.security import login as login_service
from reunite.store.db import write_transaction
from reunite.web.pages import (
    CSRF_COOKIE,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    WebUser,
    checked_form,
    current_web_user,
    redirect,
    render,
    safe_next,
    set_language_cookie,
    web_user,
)

router = APIRouter()


def _login_page(request: Request, *, next_url: str, username: str = "", error: str | None = None,
                status: int = 200, need_totp: bool = False):
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = render(request, "login.html", status=status, login_csrf=token, next_target=next_url,
                      username=username, error=error, need_totp=need_totp)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, path="/login", httponly=True, samesite="strict",
                        secure=not request.app.state.settings.development)
    return response


@router.get("/login")
def login_page(request: Request, next: str | None = None):
    if current_web_user(request) is not None:
        return RedirectResponse(safe_next(next, "/dashboard"), status_code=303)
    return _login_page(request, next_url=safe_next(next, "/dashboard"))


@router.post("/login")
async def login(request: Request):
    form = await request.form()
    next_url = safe_next(form.get("next") if isinstance(form.get("next"), str) else None, "/dashboard")
    username = (form.get("username") or "").strip() if isinstance(form.get("username"), str) else ""
    password = form.get("password") if isinstance(form.get("password"), str) else ""
    totp = (form.get("totp") or "").strip() if isinstance(form.get("totp"), str) else ""
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    sent = form.get("login_csrf") if isinstance(form.get("login_csrf"), str) else ""
    if not expected or not sent or not hmac.compare_digest(expected, sent):
        return _login_page(request, next_url=next_url, username=username, status=403,
                           error=_("The login form has expired: please log in again."))
    if not username or not password:
        return _login_page(request, next_url=next_url, username=username, status=400,
                           error=_("Enter your user name and password."))
    settings = request.app.state.settings
    engine = request.app.state.engine
    from reunite.api.deps import client_address

    address = client_address(request)
    try:
        done = login_service.login_transaction(engine, lambda s: login_service.login_session(
            s, username=username, password=password, totp_code=totp or None, address=address, settings=settings))
    except (login_service.AccountLocked, login_service.RateLimited):
        raise
    except AuthenticationError as exc:
        text = str(exc)
        need_totp = text.startswith("totp:")
        message = _("The six-digit code from your authenticator app is needed, or it was wrong.") if need_totp \
            else _("Wrong user name or password, or the account is disabled.")
        return _login_page(request, next_url=next_url, username=username, status=401, error=message,
                           need_totp=need_totp)
    response = RedirectResponse(next_url, status_code=303)
    secure = not settings.development
    max_age = int(settings.session_hours * 3600)
    response.set_cookie(SESSION_COOKIE, done.token, max_age=max_age, path="/", httponly=True, samesite="strict",
                        secure=secure)
    response.set_cookie(CSRF_COOKIE, done.csrf_token, max_age=max_age, path="/", httponly=True,
                        samesite="strict", secure=secure)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    from reunite.security.users import own_account
    from reunite.web.pages import reader_session

    with reader_session(request) as s:
        saved = own_account(s, actor=done.actor).language
    if saved:
        set_language_cookie(response, request, saved)
    return response


@router.post("/logout")
def logout(request: Request, user: WebUser = Depends(web_user), form=Depends(checked_form)):
    engine = request.app.state.engine
    write_transaction(engine, lambda s: login_service.logout(s, actor=user.actor, token_id=user.token_id))
    response = redirect(request, "/login", flash=_("You are logged out."), kind="info")
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/")
    return response


@router.get("/language/{lang}")
def switch_language(lang: str, request: Request, next: str | None = None):
    """Switch the pages' language (a preference cookie; the account page saves it for the user)."""
    lang = i18n.check_language(lang, what="language")
    response = RedirectResponse(safe_next(next, "/"), status_code=303)
    set_language_cookie(response, request, lang)
    return response

