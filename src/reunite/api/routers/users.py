"""/api/v1/users (administrators), /api/v1/jurisdictions and /api/v1/agencies."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from reunite.api.deps import authenticated, get_engine, reader, requires
from reunite.security import users as user_service
from reunite.security.actor import Actor
from reunite.security.jurisdictions import add_agency, add_jurisdiction, list_agencies, list_jurisdictions
from reunite.store.db import write_transaction

router = APIRouter(prefix="/users", tags=["users"])
jurisdictions_router = APIRouter(prefix="/jurisdictions", tags=["jurisdictions"])
agencies_router = APIRouter(prefix="/agencies", tags=["jurisdictions"])

Role = Literal["analyst", "investigator", "reviewer", "welfare", "registration", "administrator", "auditor"]
USERNAME = Path(min_length=1, max_length=64, description="the user name")
CODE = Field(min_length=1, max_length=32)


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str | None
    email: str | None
    roles: list[str]
    jurisdiction: str
    jurisdiction_path: str
    agency: str | None
    active: bool
    totp: bool
    failed_logins: int
    locked_until: datetime | None
    created_at: datetime | None
    created_by: str | None
    password_changed_at: datetime | None


class UserPage(BaseModel):
    items: list[UserOut]
    next_cursor: str | None


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=2, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    roles: list[Role] = Field(min_length=1, max_length=7)
    jurisdiction: str = CODE
    agency: str | None = Field(None, min_length=1, max_length=64)
    display_name: str | None = Field(None, max_length=255)
    email: str | None = Field(None, max_length=255)


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    roles: list[Role] | None = Field(None, min_length=1, max_length=7)
    active: bool | None = None
    display_name: str | None = Field(None, max_length=255)
    email: str | None = Field(None, max_length=255)


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str = Field(min_length=1, max_length=1024)


class TotpOut(BaseModel):
    username: str
    secret: str = Field(description="Base32; shown once")
    uri: str = Field(description="otpauth:// URI for an authenticator app (as a QR code)")


class RevokedOut(BaseModel):
    revoked: int


def _out(info) -> UserOut:
    return UserOut(**asdict(info))


@router.get("", response_model=UserPage, summary="List users in one's jurisdiction")
def list_users(role: Role | None = None, jurisdiction: str | None = Query(None, min_length=1, max_length=32),
               active: bool | None = None, cursor: str | None = Query(None, max_length=200),
               limit: int | None = Query(None, ge=1, le=500), actor: Actor = Depends(requires("user:read")),
               session=Depends(reader)):
    page = user_service.list_users(session, actor=actor, role=role, jurisdiction=jurisdiction, active=active,
                                   cursor=cursor, limit=limit)
    return UserPage(items=[_out(u) for u in page.items], next_cursor=page.next_cursor)


@router.post("", response_model=UserOut, status_code=201, summary="Add a user")
def create_user(body: UserCreate, actor: Actor = Depends(requires("user:write")), engine=Depends(get_engine)):
    def work(s):
        user = user_service.create_user(s, actor=actor, username=body.username, password=body.password,
                                        roles=body.roles, jurisdiction_code=body.jurisdiction,
                                        agency_code=body.agency, display_name=body.display_name, email=body.email)
        return user_service.user_info(s, user)

    return _out(write_transaction(engine, work))


@router.get("/{username}", response_model=UserOut, summary="One user")
def get_user(username: str = USERNAME, actor: Actor = Depends(requires("user:read")), session=Depends(reader)):
    return _out(user_service.get_user(session, actor=actor, username=username))


@router.patch("/{username}", response_model=UserOut, summary="Change roles, active state, name or e-mail")
def patch_user(body: UserPatch, username: str = USERNAME, actor: Actor = Depends(requires("user:write")),
               engine=Depends(get_engine)):
    return _out(write_transaction(engine, lambda s: user_service.update_user(
        s, actor=actor, username=username, roles=body.roles, active=body.active, display_name=body.display_name,
        email=body.email)))


@router.post("/{username}/revoke-tokens", response_model=RevokedOut, summary="Revoke all of a user's tokens")
def revoke_tokens(username: str = USERNAME, actor: Actor = Depends(requires("user:write")),
                  engine=Depends(get_engine)):
    return RevokedOut(revoked=write_transaction(engine, lambda s: user_service.revoke_user_tokens(
        s, actor=actor, username=username)))


@router.post("/{username}/password", response_model=UserOut, summary="Set a new password (revokes tokens)")
def reset_password(body: PasswordReset, username: str = USERNAME, actor: Actor = Depends(requires("user:write")),
                   engine=Depends(get_engine)):
    return _out(write_transaction(engine, lambda s: user_service.reset_password(
        s, actor=actor, username=username, password=body.password)))


@router.post("/{username}/totp", response_model=TotpOut, summary="Enrol a new second factor (shown once)")
def enrol_totp(username: str = USERNAME, actor: Actor = Depends(requires("user:write")), engine=Depends(get_engine)):
    done = write_transaction(engine, lambda s: user_service.enrol_totp(s, actor=actor, username=username))
    return TotpOut(username=done.username, secret=done.secret, uri=done.uri)


@router.delete("/{username}/totp", response_model=UserOut, summary="Remove a user's second factor")
def remove_totp(username: str = USERNAME, actor: Actor = Depends(requires("user:write")), engine=Depends(get_engine)):
    return _out(write_transaction(engine, lambda s: user_service.remove_totp(s, actor=actor, username=username)))


# ---------------------------------------------------------------------------------------------
# jurisdictions and agencies


class JurisdictionOut(BaseModel):
    code: str
    name: str
    name_zh: str | None
    level: str
    parent: str | None
    path: str
    depth: int


class JurisdictionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = CODE
    name: str = Field(min_length=1, max_length=128)
    parent: str = Field("CN", min_length=1, max_length=32)
    name_zh: str | None = Field(None, max_length=128)


class AgencyOut(BaseModel):
    code: str
    name: str
    name_zh: str | None
    kind: str | None
    jurisdiction: str


class AgencyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=255)
    jurisdiction: str = CODE
    kind: Literal["police", "lab", "welfare", "registration"] | None = None
    name_zh: str | None = Field(None, max_length=255)


def _jurisdiction_out(row, codes: dict[int, str]) -> JurisdictionOut:
    return JurisdictionOut(code=row.code, name=row.name, name_zh=row.name_zh, level=row.level,
                           parent=codes.get(row.parent_id), path=row.path, depth=row.path.count("/") - 1)


@jurisdictions_router.get("", response_model=list[JurisdictionOut], summary="The jurisdiction tree (by path)")
def jurisdictions(actor: Actor = Depends(authenticated), session=Depends(reader)):
    rows = list_jurisdictions(session, actor=actor)
    codes = {r.id: r.code for r in rows}
    return [_jurisdiction_out(r, codes) for r in rows]


@jurisdictions_router.post("", response_model=JurisdictionOut, status_code=201, summary="Add a jurisdiction")
def create_jurisdiction(body: JurisdictionCreate, actor: Actor = Depends(requires("jurisdiction:write")),
                        engine=Depends(get_engine)):
    def work(s):
        row = add_jurisdiction(s, actor=actor, code=body.code, name=body.name, parent_code=body.parent,
                               name_zh=body.name_zh)
        return _jurisdiction_out(row, {row.parent_id: body.parent})

    return write_transaction(engine, work)


@agencies_router.get("", response_model=list[AgencyOut], summary="Agencies (optionally in a jurisdiction's subtree)")
def agencies(jurisdiction: str | None = Query(None, min_length=1, max_length=32),
             actor: Actor = Depends(authenticated), session=Depends(reader)):
    return [AgencyOut(code=a.code, name=a.name, name_zh=a.name_zh, kind=a.kind, jurisdiction=code)
            for a, code in list_agencies(session, actor=actor, jurisdiction_code=jurisdiction)]


@agencies_router.post("", response_model=AgencyOut, status_code=201, summary="Add an agency")
def create_agency(body: AgencyCreate, actor: Actor = Depends(requires("jurisdiction:write")),
                  engine=Depends(get_engine)):
    def work(s):
        a = add_agency(s, actor=actor, code=body.code, name=body.name, jurisdiction_code=body.jurisdiction,
                       kind=body.kind, name_zh=body.name_zh)
        return AgencyOut(code=a.code, name=a.name, name_zh=a.name_zh, kind=a.kind, jurisdiction=body.jurisdiction)

    return write_transaction(engine, work)

