"""Users: creation with roles and a jurisdiction.  (Authentication, lockout, TOTP: see
:mod:`reunite.security.login`.)"""

from __future__ import annotations

import re

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from reunite.cases.common import Page, agency_by_code, audit, jurisdiction_by_code, keyset_page, user_by_name
from reunite.errors import Conflict, NotFound, PermissionDenied, ReuniteError
from reunite.security.actor import Actor
from reunite.security import tokens, totp
from reunite.security.passwords import check_password_strength, hash_password, verify_password
from reunite.store.models import utcnow
from reunite.store.models_workflow import ROLES, Agency, Jurisdiction, User, UserRole

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


def create_user(session: Session, *, actor: Actor, username: str, password: str, roles, jurisdiction_code: str,
                agency_code: str | None = None, display_name: str | None = None, email: str | None = None,
                check_strength: bool = True) -> User:
    """A new user with ``roles`` in ``jurisdiction_code``; the password is stored as Argon2id."""
    actor.require("user:write")
    if not USERNAME.match(username or ""):
        raise ReuniteError(f"username: expected 2 to 64 lower-case letters, digits, '.', '_' or '-', found {username!r}")
    roles = _check_roles(roles)
    if check_strength:
        check_password_strength(password, username=username)
    where = jurisdiction_by_code(session, jurisdiction_code, what="jurisdiction")
    if not actor.in_scope(where.path):
        raise PermissionDenied(f"jurisdiction: {actor.username} manages users of {actor.jurisdiction_path} only, "
                               f"not of {jurisdiction_code!r}")
    agency = agency_by_code(session, agency_code) if agency_code else None
    if session.execute(select(User.id).where(User.username == username)).first():
        raise Conflict(f"username: a user {username!r} already exists")
    user = User(username=username, display_name=display_name, email=email, password_hash=hash_password(password),
                jurisdiction_id=where.id, agency_id=agency.id if agency else None, created_by=actor.username,
                password_changed_at=utcnow())
    session.add(user)
    session.flush()
    session.add_all([UserRole(user_id=user.id, role=r) for r in roles])
    session.flush()
    audit(session, actor, "user.create", entity="user", entity_id=username,
          details={"roles": roles, "jurisdiction": jurisdiction_code, "agency": agency_code})
    return user


def bootstrap_actor() -> Actor:
    """The actor that creates the first administrator (``reunite user add`` on a database
    with no users yet): allowed to add users and jurisdictions, nothing else."""
    return Actor(username="bootstrap", user_id=None, roles=frozenset({"administrator"}), via="cli")


def _check_roles(roles) -> list[str]:
    roles = sorted(set(roles or ()))
    unknown = [r for r in roles if r not in ROLES]
    if unknown or not roles:
        raise ReuniteError(f"roles: expected one or more of {', '.join(ROLES)}, found {', '.join(unknown) or 'none'}")
    return roles


def users_exist(session: Session) -> bool:
    """Whether any user is registered (the first one is added with :func:`bootstrap_actor`)."""
    return session.execute(select(User.id).limit(1)).first() is not None


@dataclass
class UserInfo:
    """A user as administrators see it (never the password hash or TOTP secret)."""

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


def _utc(at: datetime | None) -> datetime | None:
    if at is None:
        return None
    return at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at


def user_info(session: Session, user: User) -> UserInfo:
    roles = sorted(session.execute(select(UserRole.role).where(UserRole.user_id == user.id)).scalars())
    code, path = session.execute(select(Jurisdiction.code, Jurisdiction.path)
                                 .where(Jurisdiction.id == user.jurisdiction_id)).one()
    agency = (session.execute(select(Agency.code).where(Agency.id == user.agency_id)).scalar_one_or_none()
              if user.agency_id else None)
    return UserInfo(user.id, user.username, user.display_name, user.email, roles, code, path, agency,
                    bool(user.active), bool(user.totp_secret), user.failed_logins or 0, _utc(user.locked_until),
                    _utc(user.created_at), user.created_by, _utc(user.password_changed_at))


def list_users(session: Session, *, actor: Actor, role: str | None = None, jurisdiction: str | None = None,
               active: bool | None = None, cursor: str | None = None, limit: int | None = None) -> Page:
    """Users in the actor's jurisdiction subtree (``jurisdiction``: that code's subtree), a page
    of :class:`UserInfo` ordered by id."""
    actor.require("user:read")
    query = select(User).join(Jurisdiction, Jurisdiction.id == User.jurisdiction_id).where(
        Jurisdiction.path.startswith(actor.jurisdiction_path, autoescape=True))
    if jurisdiction:
        query = query.where(Jurisdiction.path.startswith(
            jurisdiction_by_code(session, jurisdiction, what="jurisdiction").path, autoescape=True))
    if role is not None:
        if role not in ROLES:
            raise ReuniteError(f"role: expected one of {', '.join(ROLES)}, found {role!r}")
        query = query.where(User.id.in_(select(UserRole.user_id).where(UserRole.role == role)))
    if active is not None:
        query = query.where(User.active.is_(active))
    page = keyset_page(session, query, User.id, cursor=cursor, limit=limit)
    page.items = [user_info(session, u) for u in page.items]
    return page


def _managed(session: Session, actor: Actor, username: str, permission: str = "user:write") -> User:
    """A user the actor may manage: the permission, and the user in the actor's subtree (else
    the same NotFound as an unknown user)."""
    actor.require(permission)
    user = user_by_name(session, username)
    if not in_actors_subtree(session, actor, user):
        raise NotFound(f"user: no user {username!r}")
    return user


def in_actors_subtree(session: Session, actor: Actor, user: User) -> bool:
    """Whether ``user`` belongs to a jurisdiction in the actor's subtree."""
    path = session.execute(select(Jurisdiction.path).where(Jurisdiction.id == user.jurisdiction_id)).scalar_one()
    return actor.in_scope(path)


def get_user(session: Session, *, actor: Actor, username: str) -> UserInfo:
    return user_info(session, _managed(session, actor, username, "user:read"))


def _other_active_admins(session: Session, user: User) -> int:
    return session.execute(select(func.count()).select_from(User).join(UserRole, UserRole.user_id == User.id)
                           .where(UserRole.role == "administrator", User.active.is_(True), User.id != user.id)
                           ).scalar_one()


def set_active(session: Session, *, actor: Actor, username: str, active: bool) -> UserInfo:
    """Disable (revokes every token and session) or enable (also clears a lockout) a user."""
    user = _managed(session, actor, username)
    if not active:
        if user.id == actor.user_id:
            raise ReuniteError("user: you cannot disable your own account; ask another administrator")
        is_admin = session.get(UserRole, (user.id, "administrator")) is not None
        if is_admin and user.active and _other_active_admins(session, user) == 0:
            raise Conflict(f"user: {username!r} is the last active administrator; add another one first")
        user.active = False
        revoked = tokens.revoke_all(session, user.id, by=actor.username)
        audit(session, actor, "user.disable", entity="user", entity_id=username, details={"tokens_revoked": revoked})
    else:
        was_locked = user.locked_until is not None or (user.failed_logins or 0) > 0
        user.active = True
        user.failed_logins = 0
        user.locked_until = None
        audit(session, actor, "user.enable", entity="user", entity_id=username, details={"unlocked": was_locked})
    session.flush()
    return user_info(session, user)


def reset_password(session: Session, *, actor: Actor, username: str, password: str) -> UserInfo:
    """An administrator sets a new password: the user's tokens are revoked and a lockout cleared."""
    user = _managed(session, actor, username)
    check_password_strength(password, username=username)
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    user.failed_logins = 0
    user.locked_until = None
    revoked = tokens.revoke_all(session, user.id, by=actor.username)
    audit(session, actor, "user.password_reset", entity="user", entity_id=username,
          details={"tokens_revoked": revoked})
    session.flush()
    return user_info(session, user)


def change_own_password(session: Session, *, actor: Actor, old_password: str, new_password: str,
                        keep_token_id: int | None = None) -> int:
    """The actor changes their password (the old one is checked); their other tokens and
    sessions are revoked.  Returns how many were revoked."""
    if actor.user_id is None:
        raise ReuniteError("user: only a registered user has a password")
    user = session.get(User, actor.user_id)
    if not verify_password(user.password_hash, old_password or ""):
        audit(session, actor, "user.password_change_failed", entity="user", entity_id=user.username)
        raise PermissionDenied("old_password: it is not your current password")
    check_password_strength(new_password, username=user.username)
    if verify_password(user.password_hash, new_password):
        raise ReuniteError("new_password: it is the same as the old one")
    user.password_hash = hash_password(new_password)
    user.password_changed_at = utcnow()
    revoked = 0
    for row_id in session.execute(select(tokens.AuthToken.id).where(
            tokens.AuthToken.user_id == user.id, tokens.AuthToken.revoked_at.is_(None))).scalars().all():
        if row_id != keep_token_id:
            revoked += tokens.revoke(session, row_id, by=actor.username)
    audit(session, actor, "user.password_change", entity="user", entity_id=user.username,
          details={"tokens_revoked": revoked})
    return revoked


def set_roles(session: Session, *, actor: Actor, username: str, roles) -> UserInfo:
    """Replace a user's roles."""
    user = _managed(session, actor, username)
    if user.id == actor.user_id:
        raise PermissionDenied("roles: no one changes their own roles; ask another administrator")
    roles = _check_roles(roles)
    before = sorted(session.execute(select(UserRole.role).where(UserRole.user_id == user.id)).scalars())
    if "administrator" in before and "administrator" not in roles:
        if user.active and _other_active_admins(session, user) == 0:
            raise Conflict(f"roles: {username!r} is the last active administrator; add another one first")
    for role in set(before) - set(roles):
        session.delete(session.get(UserRole, (user.id, role)))
    session.add_all([UserRole(user_id=user.id, role=r) for r in set(roles) - set(before)])
    session.flush()
    audit(session, actor, "user.roles", entity="user", entity_id=username, details={"before": before, "after": roles})
    return user_info(session, user)


def update_user(session: Session, *, actor: Actor, username: str, roles=None, active: bool | None = None,
                display_name: str | None = None, email: str | None = None) -> UserInfo:
    """Change roles, active state, display name or e-mail (what is given)."""
    user = _managed(session, actor, username)
    if display_name is not None or email is not None:
        changed = {}
        if display_name is not None:
            user.display_name, changed["display_name"] = display_name or None, True
        if email is not None:
            user.email, changed["email"] = email or None, True
        audit(session, actor, "user.update", entity="user", entity_id=username, details={"changed": sorted(changed)})
    if roles is not None:
        set_roles(session, actor=actor, username=username, roles=roles)
    if active is not None and bool(active) != bool(user.active):
        set_active(session, actor=actor, username=username, active=active)
    session.flush()
    return user_info(session, user)


def revoke_user_tokens(session: Session, *, actor: Actor, username: str) -> int:
    """Revoke every token and session of a user; returns how many were valid."""
    user = _managed(session, actor, username)
    revoked = tokens.revoke_all(session, user.id, by=actor.username)
    audit(session, actor, "token.revoke_all", entity="user", entity_id=username, details={"tokens_revoked": revoked})
    return revoked


@dataclass
class TotpEnrolment:
    """A new TOTP secret, shown once: type it (or the URI as a QR code) into an authenticator app."""

    username: str
    secret: str
    uri: str


def enrol_totp(session: Session, *, actor: Actor, username: str) -> TotpEnrolment:
    """A new second-factor secret for ``username`` (oneself, or anyone with ``user:write``);
    replaces an earlier one."""
    user = user_by_name(session, username) if username == actor.username else _managed(session, actor, username)
    secret = totp.new_secret()
    replaced = bool(user.totp_secret)
    user.totp_secret = secret
    user.totp_last_step = None
    session.flush()
    audit(session, actor, "user.totp_enrol", entity="user", entity_id=username, details={"replaced": replaced})
    return TotpEnrolment(username, secret, totp.provisioning_uri(secret, username))


def remove_totp(session: Session, *, actor: Actor, username: str) -> UserInfo:
    """Remove a user's second factor (a lost phone); needs ``user:write``, and another
    administrator for one's own (a stolen session must not drop the factor)."""
    user = _managed(session, actor, username)
    if user.id == actor.user_id:
        raise PermissionDenied("username: no one removes their own second factor; ask another administrator")
    user.totp_secret = None
    session.flush()
    audit(session, actor, "user.totp_remove", entity="user", entity_id=username)
    return user_info(session, user)


# ---------------------------------------------------------------------------------------
# one's own account (the account page)


@dataclass
class AccountInfo:
    """The actor's own account: what administrators see of it, and the saved language
    (None: the browser's)."""

    user: UserInfo
    language: str | None


def _own(session: Session, actor: Actor) -> User:
    if actor.user_id is None:
        raise ReuniteError("user: only a registered user has an account")
    user = session.get(User, actor.user_id)
    if user is None:
        raise NotFound(f"user: no user {actor.username!r}")
    return user


def own_account(session: Session, *, actor: Actor) -> AccountInfo:
    """The actor's own account (no permission needed: everyone sees themselves)."""
    user = _own(session, actor)
    return AccountInfo(user_info(session, user), user.language)


def set_language(session: Session, *, actor: Actor, language: str | None) -> AccountInfo:
    """Save the actor's language for pages, e-mails and notifications: ``en``, ``zh_CN``, or
    None (empty) for the browser's.  Audited as ``user.language``."""
    from reunite.i18n import check_language

    user = _own(session, actor)
    value = check_language(language, what="language") if language else None
    before = user.language
    if value != before:
        user.language = value
        session.flush()
        audit(session, actor, "user.language", entity="user", entity_id=user.username,
              details={"before": before, "after": value})
    return AccountInfo(user_info(session, user), user.language)
