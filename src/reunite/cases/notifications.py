"""Notifications: an inbox per user (delivery by e-mail or webhook: to be added)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from reunite.store.models_workflow import Notification


def notify(session: Session, *, user_id: int, kind: str, subject: str, body: str | None = None,
           entity: str | None = None, entity_id: int | None = None) -> Notification:
    """Put a notification in ``user_id``'s inbox, in the caller's transaction.  ``kind``:
    candidate | confirmation | transition | follow_up | registration.  Subjects and bodies
    carry codes only, never names (they may leave the system by e-mail)."""
    row = Notification(user_id=user_id, kind=kind, subject=subject, body=body, entity=entity, entity_id=entity_id)
    session.add(row)
    session.flush()
    return row
