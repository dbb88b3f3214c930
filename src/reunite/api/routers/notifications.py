"""/api/v1/notifications: your own inbox (unread first), mark read, count unread."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel
from sqlalchemy.orm import Session

from reunite.api.deps import get_engine, reader, requires
from reunite.cases import notifications as service
from reunite.security.actor import Actor
from reunite.store.db import write_transaction

router = APIRouter(prefix="/notifications", tags=["notifications"])

Kind = Literal["candidate", "confirmation", "transition", "follow_up", "registration", "outcome"]


class NotificationOut(BaseModel):
    id: int
    kind: str
    subject: str
    body: str | None
    entity: str | None
    entity_id: int | None
    created_at: datetime
    read_at: datetime | None


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None
    unread: int


class UnreadCount(BaseModel):
    unread: int


@router.get("", response_model=NotificationPage)
def inbox(actor: Actor = Depends(requires("notification:read")), session: Session = Depends(reader),
          unread: bool | None = None, kind: Kind | None = None,
          cursor: Annotated[str | None, Query(max_length=256)] = None,
          limit: Annotated[int, Query(ge=1, le=500)] = 50):
    """Your notifications: unread first, newest first; ``unread=true`` only unread."""
    page = service.list_inbox(session, actor=actor, unread=unread, kind=kind, cursor=cursor, limit=limit)
    return {"items": [n.to_dict() for n in page.items], "next_cursor": page.next_cursor,
            "unread": page.extra.get("unread", 0)}


@router.get("/unread-count", response_model=UnreadCount)
def unread_count(actor: Actor = Depends(requires("notification:read")), session: Session = Depends(reader)):
    """How many of your notifications are unread."""
    return {"unread": service.unread_count(session, actor=actor)}


@router.post("/{notification_id}/read", response_model=NotificationOut)
def mark_read(notification_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
              actor: Actor = Depends(requires("notification:read")), engine=Depends(get_engine)):
    """Mark one of your notifications read (someone else's: 404)."""
    return write_transaction(engine, lambda s: service.mark_read(
        s, actor=actor, notification_id=notification_id)).to_dict()
