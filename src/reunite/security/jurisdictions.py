"""Jurisdictions (national → province → prefecture → county) and agencies."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from reunite.cases.common import audit, jurisdiction_by_code
from reunite.errors import Conflict, ReuniteError
from reunite.security.actor import Actor
from reunite.store.models_workflow import JURISDICTION_LEVELS, Agency, Jurisdiction

_CHILD_LEVEL = dict(zip(JURISDICTION_LEVELS, JURISDICTION_LEVELS[1:]))


def add_jurisdiction(session: Session, *, actor: Actor, code: str, name: str, parent_code: str = "CN",
                     name_zh: str | None = None) -> Jurisdiction:
    """A jurisdiction one level below ``parent_code`` (province under CN, prefecture under a
    province, county under a prefecture)."""
    actor.require("jurisdiction:write")
    code = (code or "").strip()
    if not code or "/" in code or len(code) > 32:
        raise ReuniteError(f"code: expected a code of 1 to 32 characters without '/', found {code!r}")
    parent = jurisdiction_by_code(session, parent_code, what="parent_code")
    level = _CHILD_LEVEL.get(parent.level)
    if level is None:
        raise ReuniteError(f"parent_code: {parent_code!r} is a county; counties have no sub-jurisdictions")
    if session.execute(select(Jurisdiction.id).where(Jurisdiction.code == code)).first():
        raise Conflict(f"code: a jurisdiction {code!r} already exists")
    row = Jurisdiction(code=code, name=name, name_zh=name_zh, level=level, parent_id=parent.id,
                       path=f"{parent.path}{code}/")
    session.add(row)
    session.flush()
    audit(session, actor, "jurisdiction.create", entity="jurisdiction", entity_id=code,
          details={"name": name, "parent": parent_code, "level": level})
    return row


def add_agency(session: Session, *, actor: Actor, code: str, name: str, jurisdiction_code: str,
               kind: str | None = None, name_zh: str | None = None) -> Agency:
    actor.require("jurisdiction:write")
    code = (code or "").strip()
    if not code or len(code) > 64:
        raise ReuniteError(f"code: expected 1 to 64 characters, found {code!r}")
    where = jurisdiction_by_code(session, jurisdiction_code, what="jurisdiction_code")
    if session.execute(select(Agency.id).where(Agency.code == code)).first():
        raise Conflict(f"code: an agency {code!r} already exists")
    row = Agency(code=code, name=name, name_zh=name_zh, kind=kind, jurisdiction_id=where.id)
    session.add(row)
    session.flush()
    audit(session, actor, "agency.create", entity="agency", entity_id=code,
          details={"name": name, "jurisdiction": jurisdiction_code, "kind": kind})
    return row


def list_jurisdictions(session: Session, *, actor: Actor) -> list[Jurisdiction]:
    """Every jurisdiction in tree order (by path); any logged-in user may read the tree."""
    return list(session.execute(select(Jurisdiction).order_by(Jurisdiction.path)).scalars())


def list_agencies(session: Session, *, actor: Actor, jurisdiction_code: str | None = None) -> list[tuple[Agency, str]]:
    """``(agency, jurisdiction code)`` pairs, optionally within one jurisdiction's subtree."""
    query = (select(Agency, Jurisdiction.code).join(Jurisdiction, Jurisdiction.id == Agency.jurisdiction_id)
             .order_by(Jurisdiction.path, Agency.code))
    if jurisdiction_code:
        where = jurisdiction_by_code(session, jurisdiction_code, what="jurisdiction")
        query = query.where(Jurisdiction.path.startswith(where.path, autoescape=True))
    return [(a, code) for a, code in session.execute(query).all()]
