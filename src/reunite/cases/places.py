"""Places: the GB/T 2260 administrative codes a missing place, a found place or an operation
names.

``data/places.csv`` lists public administrative codes and names (English and Chinese) of the
provinces, prefectures and counties reunite's tests and demo use (no personal data).  A place
is stored as a jurisdiction row (``missing_reports.missing_place_id``,
``unidentified.found_place_id``, ``rescue_operations.place_id``); a code of the table that
is not yet a jurisdiction is added (with its parents) when a record first names it, audited
as ``jurisdiction.create``.  A place grants nobody anything: access follows the *owning*
jurisdiction of a record, never its place.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from sqlalchemy import select
from sqlalchemy.orm import Session

from reunite.cases.common import audit
from reunite.errors import NotFound, ReuniteError
from reunite.security.actor import Actor
from reunite.store.models_workflow import Jurisdiction


@dataclass(frozen=True)
class Place:
    code: str
    parent: str
    level: str
    name: str
    name_zh: str


@lru_cache(maxsize=1)
def places() -> dict[str, Place]:
    """The shipped table of places, by code."""
    text = resources.files("reunite").joinpath("data/places.csv").read_text(encoding="utf-8")
    return {r["code"]: Place(r["code"], r["parent"], r["level"], r["name"], r["name_zh"])
            for r in csv.DictReader(text.splitlines())}


def _add_from_table(session: Session, actor: Actor, code: str) -> Jurisdiction:
    """Add place ``code`` of the table (and its missing parents) as jurisdictions."""
    place = places()[code]
    if place.parent == "CN":
        parent = session.execute(select(Jurisdiction).where(Jurisdiction.code == "CN")).scalar_one_or_none()
        if parent is None:
            raise NotFound("place: the national jurisdiction 'CN' is missing; initialise the jurisdictions first")
    else:
        parent = _existing(session, place.parent) or _add_from_table(session, actor, place.parent)
    row = Jurisdiction(code=place.code, name=place.name, name_zh=place.name_zh, level=place.level,
                       parent_id=parent.id, path=f"{parent.path}{place.code}/")
    session.add(row)
    session.flush()
    audit(session, actor, "jurisdiction.create", entity="jurisdiction", entity_id=place.code,
          details={"name": place.name, "parent": place.parent, "level": place.level,
                   "source": "GB/T 2260 (data/places.csv), named as a place"})
    return row


def _existing(session: Session, code: str) -> Jurisdiction | None:
    return session.execute(select(Jurisdiction).where(Jurisdiction.code == code)).scalar_one_or_none()


def resolve_place(session: Session, code: str | None, *, actor: Actor, what: str,
                  county: bool = False) -> Jurisdiction | None:
    """The jurisdiction of place ``code`` (None for no code): a jurisdiction already known, or
    one of the shipped table added now.  ``county``: the place must be a county."""
    if code is None or not str(code).strip():
        return None
    code = str(code).strip()
    if len(code) > 32:
        raise ReuniteError(f"{what}: expected a GB/T 2260 code of at most 32 characters, found {code[:40]!r}")
    row = _existing(session, code)
    if row is None:
        if code not in places():
            raise NotFound(f"{what}: no place with code {code!r} (a GB/T 2260 code, e.g. 513429 for Butuo; "
                           "see 'reunite jurisdiction list' or GET /api/v1/jurisdictions; add it with "
                           "'reunite jurisdiction add')")
        row = _add_from_table(session, actor, code)
    if county and row.level != "county":
        raise ReuniteError(f"{what}: expected a county-level code, found {code!r} ({row.name}, a {row.level}); "
                           "give the county and put the rest in the place detail")
    return row


def place_label(session: Session, jurisdiction_id: int | None, *, language: str = "en") -> str | None:
    """``"Butuo, Liangshan, Sichuan (513429)"`` for a jurisdiction id (None for None); with
    ``language="zh_CN"`` the Chinese names from the province down, ``"四川省凉山彝族自治州布拖县
    (513429)"`` (a level without a Chinese name keeps its English one)."""
    if jurisdiction_id is None:
        return None
    row = session.get(Jurisdiction, jurisdiction_id)
    if row is None:
        return None
    codes = row.path.strip("/").split("/")[1:][::-1]
    named = {code: (name, zh) for code, name, zh in session.execute(
        select(Jurisdiction.code, Jurisdiction.name, Jurisdiction.name_zh).where(Jurisdiction.code.in_(codes)))} \
        if codes else {}
    if language == "zh_CN":
        names = [named[code][1] or named[code][0] for code in codes[::-1] if code in named]
        return f"{''.join(names) or row.name_zh or row.name} ({row.code})"
    names = [named[code][0] for code in codes if code in named]
    return f"{', '.join(names) or row.name} ({row.code})"


def code_of(session: Session, jurisdiction_id: int | None) -> str | None:
    """The code of a jurisdiction id (from the session's identity map when already loaded)."""
    if jurisdiction_id is None:
        return None
    row = session.get(Jurisdiction, jurisdiction_id)
    return row.code if row is not None else None
