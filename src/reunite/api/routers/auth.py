"""/api/v1/auth: bearer tokens, cookie sessions (with a CSRF token), logout, one's own tokens.

``POST /auth/token`` and ``POST /auth/login`` are the only routes without authentication.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from reunite.api.deps import SESSION_COOKIE, authenticated, client_address, get_engine, get_settings_dep, reader
from reunite.api.errors import error_body
from reunite.security import login as login_service
from reunite.security.actor import Actor
from reunite.security.users import change_own_password, own_account, set_language
from reunite.store.db import write_transaction

router = APIRouter(prefix="/auth", tags=["auth"])

MAX_ID = 2**31 - 1


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    totp: str | None = Field(None, max_length=16, description="the 6-digit code, when the account has a second factor")


class TokenRequest(Credentials):
    name: str | None = Field(None, max_length=128, description="what the token is for (shown in token lists)")
    days: float | None = Field(None, gt=0, le=3650, description="lifetime; at most REUNITE_TOKEN_DAYS")


class TokenOut(BaseModel):
    token: str
    token_type: str = "bearer"
    expires_at: datetime
    token_id: int
    username: str
    roles: list[str]


class SessionOut(BaseModel):
    csrf_token: str = Field(description="send it in X-CSRF-Token with every request that changes anything")
    expires_at: datetime
    username: str
    roles: list[str]


class MeOut(BaseModel):
    username: str
    roles: list[str]
    permissions: list[str]
    jurisdiction_path: str
    via: str


class TokenInfoOut(BaseModel):
    id: int
    kind: str
    name: str | None
    address: str | None
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    current: bool


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    old_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


def install_login_errors(app: FastAPI) -> None:
    """423 for a locked account, 429 (with Retry-After) for too many attempts."""

    @app.exception_handler(login_service.AccountLocked)
    async def locked(request: Request, exc: login_service.AccountLocked):
        render = getattr(request.app.state, "render_error", None)
        if render is not None and not request.url.path.startswith("/api/"):
            return render(request, 423, str(exc))
        return JSONResponse(error_body("locked", str(exc)), status_code=423)

    @app.exception_handler(login_service.RateLimited)
    async def limited(request: Request, exc: login_service.RateLimited):
        headers = {"Retry-After": str(exc.retry_after)}
        render = getattr(request.app.state, "render_error", None)
        if render is not None and not request.url.path.startswith("/api/"):
            return render(request, 429, str(exc), headers)
        return JSONResponse(error_body("rate_limited", str(exc)), status_code=429, headers=headers)


@router.post("/token", response_model=TokenOut, summary="Log in for an API bearer token")
def create_token(body: TokenRequest, request: Request, engine=Depends(get_engine), settings=Depends(get_settings_dep)):
    address = client_address(request)
    done = login_service.login_transaction(engine, lambda s: login_service.login_token(
        s, username=body.username, password=body.password, totp_code=body.totp, address=address, settings=settings,
        name=body.name, days=body.days))
    return TokenOut(token=done.token, expires_at=done.expires_at, token_id=done.token_id,
                    username=done.actor.username, roles=sorted(done.actor.roles))


@router.post("/login", response_model=SessionOut, summary="Log in for a cookie session (web)")
def create_session(body: Credentials, request: Request, response: Response, engine=Depends(get_engine),
                   settings=Depends(get_settings_dep)):
    address = client_address(request)
    done = login_service.login_transaction(engine, lambda s: login_service.login_session(
        s, username=body.username, password=body.password, totp_code=body.totp, address=address, settings=settings))
    response.set_cookie(SESSION_COOKIE, done.token, max_age=int(settings.session_hours * 3600), path="/",
                        httponly=True, samesite="strict", secure=not settings.development)
    return SessionOut(csrf_token=done.csrf_token, expires_at=done.expires_at, username=done.actor.username,
                      roles=sorted(done.actor.roles))


@router.post("/logout", status_code=204, summary="Revoke the token or session in use")
def end_session(request: Request, actor: Actor = Depends(authenticated), engine=Depends(get_engine),
                settings=Depends(get_settings_dep)):
    token_id = request.state.token_id
    write_transaction(engine, lambda s: login_service.logout(s, actor=actor, token_id=token_id))
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                           secure=not settings.development)
    return response


@router.get("/me", response_model=MeOut, summary="Who the token belongs to")
def me(actor: Actor = Depends(authenticated)):
    return MeOut(username=actor.username, roles=sorted(actor.roles), permissions=sorted(actor.permissions),
                 jurisdiction_path=actor.jurisdiction_path, via=actor.via)


@router.get("/tokens", response_model=list[TokenInfoOut], summary="One's own valid tokens and sessions")
def my_tokens(request: Request, actor: Actor = Depends(authenticated), session=Depends(reader)):
    current = getattr(request.state, "token_id", None)
    return [TokenInfoOut(id=t.id, kind=t.kind, name=t.name, address=t.address, created_at=t.created_at,
                         expires_at=t.expires_at, last_used_at=t.last_used_at, revoked_at=t.revoked_at,
                         current=t.id == current)
            for t in login_service.list_tokens(session, actor=actor)]


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke one of one's own tokens")
def revoke_my_token(token_id: int = Path(ge=1, le=MAX_ID), actor: Actor = Depends(authenticated),
                    engine=Depends(get_engine)):
    # one's own tokens only here (administrators use /users/{username}/revoke-tokens)
    write_transaction(engine, lambda s: login_service.revoke_token(s, actor=actor, token_id=token_id, own_only=True))
    return Response(status_code=204)


@router.post("/password", status_code=204, summary="Change one's own password (other sessions are revoked)")
def change_password(body: PasswordChange, request: Request, actor: Actor = Depends(authenticated),
                    engine=Depends(get_engine)):
    keep = request.state.token_id
    write_transaction(engine, lambda s: change_own_password(s, actor=actor, old_password=body.old_password,
                                                            new_password=body.new_password, keep_token_id=keep))
    return Response(status_code=204)


class LanguageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    language: Literal["en", "zh_CN"] | None = Field(description="null: the browser's language")


class LanguageOut(BaseModel):
    username: str
    language: str | None


@router.get("/language", response_model=LanguageOut, summary="One's saved language (null: the browser's)")
def my_language(actor: Actor = Depends(authenticated), session=Depends(reader)):
    account = own_account(session, actor=actor)
    return LanguageOut(username=account.user.username, language=account.language)


@router.put("/language", response_model=LanguageOut,
            summary="Save one's language for pages, e-mails and notifications (audited)")
def save_language(body: LanguageIn, actor: Actor = Depends(authenticated), engine=Depends(get_engine)):
    account = write_transaction(engine, lambda s: set_language(s, actor=actor, language=body.language))
    return LanguageOut(username=account.user.username, language=account.language)
