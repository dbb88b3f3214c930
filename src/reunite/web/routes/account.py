"""Pages: my account (who I am, password, language, sessions and tokens) and my inbox.

* ``GET /account``: roles, jurisdiction, agency, second factor; the password form
  (``POST /account/password``: the other sessions are logged out), the language form
  (``POST /account/language``, saved on the user and set as the page language), and the
  active sessions and API tokens (``POST /account/tokens/{id}/revoke``).
* ``GET /inbox``: my notifications in my language, unread first
  (``POST /inbox/{id}/read``, ``POST /inbox/read-all``).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData

from reunite import i18n
from reunite.cases import notifications
from reunite.errors import ReuniteError
from reunite.i18n import N_
from reunite.i18n import gettext as _
from reunite.security import login as login_service
from reunite.security import users
from reunite.web.pages import (
    CSRF_COOKIE,
    LANG_COOKIE,
    SESSION_COOKIE,
    WebUser,
    checked_form,
    field,
    reader_session,
    redirect,
    render,
    request_language,
    set_language_cookie,
    web_user,
    write,
)

router = APIRouter()

#: kinds of tokens and notifications, as the pages name them
TOKEN_KINDS = {"session": N_("Web session"), "api": N_("API token")}
NOTICE_KINDS = {"candidate": N_("New candidate"), "confirmation": N_("Confirmation wanted"),
                "transition": N_("Review step"), "follow_up": N_("Follow-up visit due"),
                "registration": N_("Registration check"), "outcome": N_("Outcome recorded")}


def entity_url(entity: str | None, entity_id: int | None) -> str | None:
    """The page of a notification's record (None when it has none)."""
    if entity == "candidate" and entity_id is not None:
        return f"/candidates/{entity_id}"
    if entity == "outcome" and entity_id is not None:
        return f"/outcomes/{entity_id}"
    if entity == "follow_up":
        return "/outcomes"
    if entity == "registration_check":
        return "/registration"
    return None


def _account_page(request: Request, user: WebUser, *, status: int = 200, error: str | None = None,
                  error_field: str | None = None):
    with reader_session(request) as s:
        account = users.own_account(s, actor=user.actor)
        tokens = login_service.list_tokens(s, actor=user.actor)
    return render(request, "account/index.html", status=status, account=account, tokens=tokens,
                  current_token=user.token_id, error=error, error_field=error_field,
                  token_kinds=TOKEN_KINDS)


@router.get("/account")
def account_page(request: Request, user: WebUser = Depends(web_user)):
    return _account_page(request, user)


@router.post("/account/password")
def change_password(request: Request, user: WebUser = Depends(web_user), form: FormData = Depends(checked_form)):
    old = form.get("old_password") if isinstance(form.get("old_password"), str) else ""
    new = form.get("new_password") if isinstance(form.get("new_password"), str) else ""
    again = form.get("new_password_again") if isinstance(form.get("new_password_again"), str) else ""
    if not old or not new:
        return _account_page(request, user, status=400, error_field="old_password" if not old else "new_password",
                             error=_("Enter your current password and the new one."))
    if new != again:
        return _account_page(request, user, status=400, error_field="new_password_again",
                             error=_("new_password_again: the two new passwords differ; type the same one twice."))
    try:
        revoked = write(request, lambda s: users.change_own_password(s, actor=user.actor, old_password=old,
                                                                     new_password=new, keep_token_id=user.token_id))
    except ReuniteError as exc:
        return _account_page(request, user, status=400, error=str(exc), error_field="new_password")
    return redirect(request, "/account", flash=_("Your password is changed; %(n)s other session(s) were logged out.")
                    % {"n": revoked})


@router.post("/account/language")
def save_language(request: Request, user: WebUser = Depends(web_user), form: FormData = Depends(checked_form)):
    try:
        value = field(form, "language")
        account = write(request, lambda s: users.set_language(s, actor=user.actor, language=value))
    except ReuniteError as exc:
        return _account_page(request, user, status=400, error=str(exc), error_field="language")
    lang = account.language or i18n.negotiate(request.headers.get("accept-language"),
                                              default=request.app.state.settings.language)
    with i18n.use_language(lang):
        message = _("Your language is saved.")
    response = redirect(request, "/account", flash=message)
    if account.language:
        set_language_cookie(response, request, account.language)
    else:
        response.delete_cookie(LANG_COOKIE, path="/")
    return response


@router.post("/account/tokens/{token_id}/revoke")
def revoke_own_token(token_id: int, request: Request, user: WebUser = Depends(web_user),
                     form: FormData = Depends(checked_form)):
    write(request, lambda s: login_service.revoke_token(s, actor=user.actor, token_id=token_id, own_only=True))
    if token_id == user.token_id:  # this very session
        response = redirect(request, "/login", flash=_("You are logged out."), kind="info")
        for name in (SESSION_COOKIE, CSRF_COOKIE):
            response.delete_cookie(name, path="/")
        return response
    return redirect(request, "/account", flash=_("The session or token is revoked."))


# ---------------------------------------------------------------------------------------
# the inbox


@router.get("/inbox")
def inbox_page(request: Request, user: WebUser = Depends(web_user), unread: str | None = None,
               cursor: str | None = None):
    only_unread = True if unread == "1" else None
    with reader_session(request) as s:
        page = notifications.list_inbox(s, actor=user.actor, unread=only_unread, cursor=cursor,
                                        language=request_language(request))
    items = [(n, entity_url(n.entity, n.entity_id)) for n in page.items]
    return render(request, "account/inbox.html", page=page, items=items, only_unread=bool(only_unread),
                  unread_count=page.extra.get("unread", 0), kinds=NOTICE_KINDS)


@router.post("/inbox/read-all")
def inbox_read_all(request: Request, user: WebUser = Depends(web_user), form: FormData = Depends(checked_form)):
    n = write(request, lambda s: notifications.mark_all_read(s, actor=user.actor))
    return redirect(request, "/inbox", flash=_("%(n)s notification(s) marked read.") % {"n": n})


@router.post("/inbox/{notification_id}/read")
def inbox_read(notification_id: int, request: Request, user: WebUser = Depends(web_user),
               form: FormData = Depends(checked_form)):
    write(request, lambda s: notifications.mark_read(s, actor=user.actor, notification_id=notification_id))
    return redirect(request, "/inbox", flash=_("Marked read."))

