"""Users: creation with roles and a jurisdiction.  (Authentication, lockout, TOTP: see
:mod:`reunite.security.login`.)"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from reunite.cases.common import agency_by_code, audit, jurisdiction_by_code
from reunite.errors import Conflict, ReuniteError
from reunite.security.actor import Actor
from reunite.security.passwords import check_password_strength, hash_password
from reunite.store.models import utcnow
from reunite.store.models_workflow import ROLES, User, UserRole

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


def create_user(session: Session, *, actor: Actor, username: str, password: str, roles, jurisdiction_code: str,
                agency_code: str | None = None, display_name: str | None = None, email: str | None = None,
                check_strength: bool = True) -> User:
    """A new user with ``roles`` in ``jurisdiction_code``; the password is stored as Argon2id."""
    actor.require("user:write")
    if not USERNAME.match(username or ""):
        raise ReuniteError(f"username: expected 2 to 64 lower-case letters, digits, '.', '_' or '-', found {username!r}")
    roles = sorted(set(roles))
    unknown = [r for r in roles if r not in ROLES]
    if unknown or not roles:
        raise ReuniteError(f"roles: expected one or more of {', '.join(ROLES)}, found {', '.join(unknown) or 'none'}")
    if check_strength:
        check_password_strength(password, username=username)
    where = jurisdiction_by_code(session, jurisdiction_code, what="jurisdiction")
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
