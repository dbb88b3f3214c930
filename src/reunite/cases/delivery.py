"""Delivering notifications by e-mail (SMTP) and webhook, after the transaction commits.

Both channels are off by default: e-mail needs ``REUNITE_SMTP_HOST`` (with ``_PORT``,
``_FROM``, ``_USER``, ``_PASSWORD``, ``_STARTTLS``), the webhook ``REUNITE_WEBHOOK_URL``
(a POST of JSON ``{id, kind, subject, entity, entity_id, created_at}``; no body, no
recipient's name).  An e-mail speaks its recipient's language (``users.language``, else
``REUNITE_LANGUAGE``); the webhook gets the English subject.  :func:`deliver_pending` sends what is not yet delivered and records each
attempt in ``notifications.delivery`` (JSON, one entry per channel: ``state`` sent, failed,
no_address or gave_up; ``attempts``; ``at``; ``error``).  A failure is recorded and retried
next time (up to :data:`MAX_ATTEMPTS`); nothing here raises into the user's action.
Delivery is at least once: a receiver may dedupe on ``id``.
"""

from __future__ import annotations

import json
import logging
import smtplib
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from reunite import i18n
from reunite.cases.notifications import render_notification
from reunite.i18n import gettext as _
from reunite.settings import Settings
from reunite.store.db import read_only, write_transaction
from reunite.store.models_workflow import Notification, User

log = logging.getLogger("reunite.delivery")

MAX_ATTEMPTS = 10
MAX_AGE = timedelta(days=7)  # older undelivered notices are not sent (e.g. when a channel is turned on)
TIMEOUT_S = 10.0
BATCH = 200
FINAL = ("sent", "no_address", "gave_up")


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    skipped: int = 0

    def to_dict(self) -> dict:
        return {"sent": self.sent, "failed": self.failed, "skipped": self.skipped}


def channels(settings: Settings) -> list[str]:
    """The channels turned on: ``email`` (an SMTP host is set), ``webhook`` (a URL is set)."""
    out = []
    if settings.smtp_host:
        out.append("email")
    if settings.webhook_url:
        out.append("webhook")
    return out


def _state(row_delivery: str | None) -> dict:
    try:
        value = json.loads(row_delivery) if row_delivery else {}
    except ValueError:
        value = {}
    return value if isinstance(value, dict) else {}


def _pending(state: dict, wanted: list[str]) -> list[str]:
    return [c for c in wanted if (state.get(c) or {}).get("state") not in FINAL]


def send_email(settings: Settings, *, to: str, subject: str, body: str | None, language: str = "en") -> None:
    """Send one e-mail through the configured SMTP server (raises on failure); ``subject``
    and ``body`` are already in ``language``, which the closing line is written in."""
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = to
    msg["Subject"] = f"[reunite] {subject}"
    with i18n.use_language(language):
        closing = _("Open reunite to read your inbox (the Inbox page, or 'reunite inbox list').")
    msg.set_content(f"{body or subject}\n\n{closing}\n")
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT_S) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password or "")
        smtp.send_message(msg)


def post_webhook(settings: Settings, payload: dict) -> None:
    """POST ``payload`` as JSON to the webhook (raises unless the answer is 2xx)."""
    data = json.dumps(payload).encode()
    request = urllib.request.Request(settings.webhook_url, data=data, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "reunite"})
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310 (configured URL)
        if not 200 <= response.status < 300:
            raise OSError(f"webhook answered HTTP {response.status}")


def _send(settings: Settings, channel: str, note: dict) -> str:
    """Send ``note`` on ``channel``; returns the final state ('sent' or 'no_address')."""
    if channel == "email":
        if not note["email"]:
            return "no_address"
        send_email(settings, to=note["email"], subject=note["mail_subject"], body=note["mail_body"],
                   language=note["language"])
    else:
        post_webhook(settings, {"id": note["id"], "kind": note["kind"], "subject": note["subject"],
                                "entity": note["entity"], "entity_id": note["entity_id"],
                                "created_at": note["created_at"]})
    return "sent"


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    return f"{exc.__class__.__name__}: {exc}"[:500]


def deliver_pending(engine, settings: Settings, *, now: datetime | None = None,
                    limit: int = BATCH) -> DeliveryReport:
    """Send the notifications not yet delivered on the channels turned on, and record every
    attempt.  Never raises for a failed send (recorded, retried next time); a channel turned
    off sends nothing and records nothing."""
    report = DeliveryReport()
    wanted = channels(settings)
    if not wanted:
        return report
    now = now or datetime.now(timezone.utc)
    try:
        with Session(read_only(engine)) as session:
            rows = session.execute(
                select(Notification, User.email, User.language).join(User, User.id == Notification.user_id)
                .where(Notification.created_at >= now - MAX_AGE,
                       or_(Notification.delivery.is_(None), Notification.delivery.not_like('%"done": true%')))
                .order_by(Notification.id).limit(limit)).all()
            notes = []
            for n, email, language in rows:
                language = _language(language, settings)
                mail_subject, mail_body = render_notification(n, language)
                notes.append({"id": n.id, "kind": n.kind, "subject": n.subject, "body": n.body, "entity": n.entity,
                              "entity_id": n.entity_id, "created_at": _iso(n.created_at), "email": email,
                              "language": language, "mail_subject": mail_subject, "mail_body": mail_body,
                              "delivery": _state(n.delivery)})
    except Exception:  # noqa: BLE001 (never into the user's action)
        log.exception("reading notifications to deliver failed")
        return report
    results: dict[int, dict] = {}
    for note in notes:
        state = note["delivery"]
        todo = _pending(state, wanted)
        if not todo:
            continue
        for channel in todo:
            entry = dict(state.get(channel) or {})
            entry["attempts"] = int(entry.get("attempts", 0)) + 1
            entry["at"] = now.isoformat()
            try:
                entry["state"] = _send(settings, channel, note)
                entry.pop("error", None)
                if entry["state"] == "sent":
                    report.sent += 1
                else:
                    report.skipped += 1
            except Exception as exc:  # noqa: BLE001 (a failed send is recorded, never raised)
                entry["error"] = _error_text(exc)
                entry["state"] = "gave_up" if entry["attempts"] >= MAX_ATTEMPTS else "failed"
                report.failed += 1
                log.warning("notification %s by %s failed: %s", note["id"], channel, entry["error"])
            state[channel] = entry
        state["done"] = not _pending(state, wanted)
        results[note["id"]] = state
    if results:
        def work(session):
            for nid, state in results.items():
                row = session.get(Notification, nid)
                if row is not None:
                    row.delivery = json.dumps(state, sort_keys=True)

        try:
            write_transaction(engine, work)
        except Exception:  # noqa: BLE001
            log.exception("recording delivery attempts failed")
    return report


def deliver_in_background(engine, settings: Settings) -> threading.Thread | None:
    """Run :func:`deliver_pending` in a daemon thread (None when every channel is off): for a
    request that has just committed notifications."""
    if not channels(settings):
        return None
    thread = threading.Thread(target=deliver_pending, args=(engine, settings), daemon=True,
                              name="reunite-delivery")
    thread.start()
    return thread


def _language(saved: str | None, settings: Settings) -> str:
    """The recipient's saved language, else the server's (``REUNITE_LANGUAGE``)."""
    for value in (saved, getattr(settings, "language", None)):
        try:
            return i18n.check_language(value)
        except Exception:  # noqa: BLE001 (an odd stored value: the next choice)
            continue
    return i18n.DEFAULT_LANGUAGE


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.isoformat()
