"""Notifications: the inbox is each user's own (list unread first, cursor pages, mark read,
count); new candidates notify the report's investigator above the threshold, with codes
only; due follow-ups notify their officer once; delivery by e-mail (a local SMTP server)
and webhook (a local HTTP server) after commit, off by default, failures recorded and
retried."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from reunite.cases import notifications as inbox
from reunite.cases.delivery import deliver_pending
from reunite.cases.notifications import notify, notify_due_follow_ups, notify_new_candidates
from reunite.cases.outcomes import record_outcome
from reunite.errors import NotFound, ReuniteError
from reunite.settings import load_settings
from reunite.store.db import write_transaction
from reunite.store.models import Family, MatchCandidate, PersonDetail
from reunite.store.models_workflow import Jurisdiction, MissingReport, Notification, User
from test_outcomes import add_child
from workflow_world import make_world

TODAY = datetime.now(timezone.utc).date()


@pytest.fixture(autouse=True)
def _one_day(monkeypatch):
    """The outcome service's today is the tests' TODAY, also when a run crosses midnight (UTC)."""
    from reunite.cases import outcomes

    monkeypatch.setattr(outcomes, "_today", lambda: TODAY)


@pytest.fixture
def world(tmp_path):
    return make_world(f"sqlite:///{tmp_path / 'reunite.db'}")


def put(world, username, n, *, kind="transition"):
    uid = world.user_ids[username]
    return write_transaction(world.engine, lambda s: [
        notify(s, user_id=uid, kind=kind, subject=f"{kind} {i} for {username}", entity="candidate", entity_id=i).id
        for i in range(n)])


def run(world, fn, **kw):
    return write_transaction(world.engine, lambda s: fn(s, **kw))


def notes_of(world, username):
    with Session(world.engine) as s:
        return s.execute(select(Notification).where(Notification.user_id == world.user_ids[username])
                         .order_by(Notification.id)).scalars().all()


# ---------------------------------------------------------------------------------------
# the inbox


def test_inbox_is_each_users_own(world):
    mine = put(world, "inv_butuo", 5)
    theirs = put(world, "inv_zhaojue", 2)
    put(world, "inv_butuo", 1, kind="follow_up")
    butuo, zhaojue = world.actor("inv_butuo"), world.actor("inv_zhaojue")
    assert run(world, inbox.unread_count, actor=butuo) == 6
    run(world, inbox.mark_read, actor=butuo, notification_id=mine[4])
    with pytest.raises(NotFound, match="notification_id: no notification"):
        run(world, inbox.mark_read, actor=butuo, notification_id=theirs[0])
    assert run(world, inbox.unread_count, actor=zhaojue) == 2
    page = run(world, inbox.list_inbox, actor=butuo)
    assert page.extra["unread"] == 5
    assert page.items[-1].id == mine[4] and all(n.read_at is None for n in page.items[:-1])  # unread first
    assert {n.id for n in page.items}.isdisjoint(theirs)
    # cursor pages cover everything once, in the same order
    seen, cursor = [], None
    while True:
        p = run(world, inbox.list_inbox, actor=butuo, limit=2, cursor=cursor)
        seen += [n.id for n in p.items]
        cursor = p.next_cursor
        if cursor is None:
            break
    assert seen == [n.id for n in page.items]
    assert [n.kind for n in run(world, inbox.list_inbox, actor=butuo, kind="follow_up").items] == ["follow_up"]
    assert [n.id for n in run(world, inbox.list_inbox, actor=butuo, unread=False).items] == [mine[4]]
    assert len(run(world, inbox.list_inbox, actor=butuo, unread=True).items) == 5
    with pytest.raises(ReuniteError, match="kind: expected one of"):
        run(world, inbox.list_inbox, actor=butuo, kind="spam")
    with pytest.raises(ReuniteError, match="cursor"):
        run(world, inbox.list_inbox, actor=butuo, cursor="bm9wZQ")
    assert run(world, inbox.mark_all_read, actor=butuo) == 5
    assert run(world, inbox.unread_count, actor=butuo) == 0


def test_inbox_api_and_cli(world, monkeypatch):
    mine = put(world, "inv_butuo", 3)
    theirs = put(world, "inv_zhaojue", 1)
    client = world.client("inv_butuo")
    body = client.get("/api/v1/notifications", params={"limit": 2}).json()
    assert len(body["items"]) == 2 and body["next_cursor"] and body["unread"] == 3
    assert client.get("/api/v1/notifications/unread-count").json() == {"unread": 3}
    assert client.post(f"/api/v1/notifications/{theirs[0]}/read").status_code == 404
    r = client.post(f"/api/v1/notifications/{mine[0]}/read")
    assert r.status_code == 200 and r.json()["read_at"]
    assert client.get("/api/v1/notifications", params={"unread": "true"}).json()["unread"] == 2
    assert client.get("/api/v1/notifications", params={"kind": "spam"}).status_code == 422

    from reunite.cli import app

    monkeypatch.setenv("REUNITE_DATABASE_URL", world.url)
    cli = CliRunner()
    out = cli.invoke(app, ["inbox", "list", "--unread", "--as", "inv_butuo", "--json"])
    assert out.exit_code == 0, out.output
    assert {n["id"] for n in json.loads(out.output)["items"]} == set(mine[1:])
    out = cli.invoke(app, ["inbox", "read", str(mine[1]), "--as", "inv_butuo"])
    assert out.exit_code == 0 and "transition 1 for inv_butuo" in out.output
    out = cli.invoke(app, ["inbox", "read", str(theirs[0]), "--as", "inv_butuo"])
    assert out.exit_code != 0 and isinstance(out.exception, NotFound)


# ---------------------------------------------------------------------------------------
# new candidates


def _candidates(world):
    """Families F-1 (report R-1, investigator inv_butuo), F-2 (report without investigator),
    F-3 (no report); a child U-1 named in person_details; candidates of U-1 with each."""

    def work(s):
        butuo = s.execute(select(Jurisdiction.id).where(Jurisdiction.code == "513429")).scalar_one()
        families = []
        for code in ("F-1", "F-2", "F-3"):
            f = Family(code=code)
            s.add(f)
            s.flush()
            families.append(f.id)
        s.add(MissingReport(code="R-1", family_id=families[0], jurisdiction_id=butuo, created_by="t",
                            investigator_id=world.user_ids["inv_butuo"]))
        s.add(MissingReport(code="R-2", family_id=families[1], jurisdiction_id=butuo, created_by="t"))
        s.flush()
        return families

    families = write_transaction(world.engine, work)
    child = add_child(world, "U-1", "513429", status="unidentified")

    def cands(s):
        s.add(PersonDetail(subject_kind="unidentified", subject_id=child, name="李小明"))
        out = {}
        for name, family, log10 in [("high", families[0], 6.5), ("low", families[0], 3.0),
                                    ("no_investigator", families[1], 9.0), ("no_report", families[2], 9.0)]:
            c = MatchCandidate(unidentified_id=child, family_id=family, missing_code=f"MP-{name}", lr=10 ** log10,
                               log10_lr=log10, loci_compared=20, lr_per_locus="{}", provenance="{}")
            s.add(c)
            s.flush()
            out[name] = c.id
        return out

    return write_transaction(world.engine, cands)


def test_new_candidates_notify_the_reports_investigator_above_the_threshold(world):
    ids = _candidates(world)
    settings = load_settings(env="development", notify_log10_lr=4.0)
    made = write_transaction(world.engine, lambda s: notify_new_candidates(s, list(ids.values()), settings=settings))
    assert made == 1
    [note] = notes_of(world, "inv_butuo")
    assert note.kind == "candidate" and note.entity == "candidate" and note.entity_id == ids["high"]
    assert "R-1" in note.subject and "U-1" in note.subject and "6.50" in note.subject
    assert "李小明" not in note.subject + note.body and "F-1" in note.body
    # not twice; a lower threshold adds the low one
    assert write_transaction(world.engine, lambda s: notify_new_candidates(s, [ids["high"]], settings=settings)) == 0
    low = load_settings(env="development", notify_log10_lr=2.0)
    assert write_transaction(world.engine, lambda s: notify_new_candidates(s, list(ids.values()), settings=low)) == 1
    assert write_transaction(world.engine, lambda s: notify_new_candidates(s, [], settings=low)) == 0


def test_a_closed_or_identified_report_is_not_notified(world):
    ids = _candidates(world)
    settings = load_settings(env="development", notify_log10_lr=4.0)
    for status in ("closed", "identified"):
        write_transaction(world.engine, lambda s: s.execute(
            update(MissingReport).where(MissingReport.code == "R-1").values(status=status, closed_reason="found")))
        assert write_transaction(world.engine, lambda s: notify_new_candidates(s, list(ids.values()),
                                                                               settings=settings)) == 0
    assert notes_of(world, "inv_butuo") == []


# ---------------------------------------------------------------------------------------
# due follow-ups


def test_due_follow_ups_notify_their_officer_once(world):
    add_child(world, "U-L", "371324")
    welfare = world.actor("welfare_linyi")
    run(world, record_outcome, actor=welfare, child_code="U-L", kind="returned_home",
        outcome_date=TODAY - timedelta(days=35), follow_up_days=[30, 38, 90])
    # due 5 days ago (overdue), in 3 days (within 7), in 55 days (not yet)
    assert write_transaction(world.engine, lambda s: notify_due_follow_ups(s, today=TODAY)) == 2
    assert write_transaction(world.engine, lambda s: notify_due_follow_ups(s, today=TODAY)) == 0
    notes = [n for n in notes_of(world, "welfare_linyi") if n.kind == "follow_up"]
    assert len(notes) == 2 and "overdue since" in notes[0].subject and "U-L" in notes[0].subject
    assert write_transaction(world.engine, lambda s: notify_due_follow_ups(s, today=TODAY + timedelta(days=60))) == 1


# ---------------------------------------------------------------------------------------
# delivery


class _SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: EHLO, MAIL, RCPT, DATA, QUIT."""

    def handle(self):
        self.wfile.write(b"220 localhost test SMTP\r\n")
        data, lines, rcpt = False, [], []
        while line := self.rfile.readline():
            if data:
                if line.rstrip(b"\r\n") == b".":
                    self.server.messages.append((rcpt, b"".join(lines).decode()))
                    data, lines, rcpt = False, [], []
                    self.wfile.write(b"250 OK queued\r\n")
                else:
                    lines.append(line)
                continue
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                self.wfile.write(b"250 localhost\r\n")
            elif verb == b"RCPT":
                rcpt.append(line.decode().strip())
                self.wfile.write(b"250 OK\r\n")
            elif verb == b"DATA":
                data = True
                self.wfile.write(b"354 end with .\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 OK\r\n")


@pytest.fixture
def smtp_server():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SMTPHandler)
    server.daemon_threads = True
    server.messages = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def web_server():
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            self.server.posts.append((self.headers["Content-Type"], json.loads(body)))
            self.send_response(self.server.status)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.posts, server.status = [], 204
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _delivery(world, nid):
    with Session(world.engine) as s:
        raw = s.get(Notification, nid).delivery
    return json.loads(raw) if raw else None


def _set_email(world, username, email):
    write_transaction(world.engine, lambda s: s.execute(
        update(User).where(User.id == world.user_ids[username]).values(email=email)))


def test_delivery_is_off_by_default(world):
    [nid] = put(world, "inv_butuo", 1)
    report = deliver_pending(world.engine, load_settings(env="development"))
    assert report.to_dict() == {"sent": 0, "failed": 0, "skipped": 0}
    assert _delivery(world, nid) is None


def test_email_delivery(world, smtp_server):
    _set_email(world, "inv_butuo", "butuo@example.org")
    [nid] = put(world, "inv_butuo", 1)
    [other] = put(world, "inv_zhaojue", 1)  # no e-mail address
    settings = load_settings(env="development", smtp_host="127.0.0.1", smtp_port=smtp_server.server_address[1],
                             smtp_from="reunite@example.org")
    report = deliver_pending(world.engine, settings)
    assert (report.sent, report.failed, report.skipped) == (1, 0, 1)
    [(rcpt, message)] = smtp_server.messages
    assert "butuo@example.org" in rcpt[0]
    assert "Subject: [reunite] transition 0 for inv_butuo" in message and "From: reunite@example.org" in message
    assert _delivery(world, nid)["email"]["state"] == "sent" and _delivery(world, nid)["done"] is True
    assert _delivery(world, other)["email"]["state"] == "no_address"
    assert deliver_pending(world.engine, settings).sent == 0  # nothing twice
    assert len(smtp_server.messages) == 1


def test_webhook_delivery(world, web_server):
    [nid] = put(world, "inv_butuo", 1)
    settings = load_settings(env="development",
                             webhook_url=f"http://127.0.0.1:{web_server.server_address[1]}/hook")
    assert deliver_pending(world.engine, settings).sent == 1
    [(ctype, payload)] = web_server.posts
    assert ctype == "application/json"
    assert set(payload) == {"id", "kind", "subject", "entity", "entity_id", "created_at"}
    assert payload["id"] == nid and payload["kind"] == "transition" and payload["entity"] == "candidate"
    assert _delivery(world, nid)["webhook"] == {"attempts": 1, "at": _delivery(world, nid)["webhook"]["at"],
                                                "state": "sent"}


def test_failures_are_recorded_and_retried(world, web_server, smtp_server):
    _set_email(world, "inv_butuo", "butuo@example.org")
    [nid] = put(world, "inv_butuo", 1)
    web_server.status = 500
    broken = load_settings(env="development", smtp_host="127.0.0.1", smtp_port=_free_port(),
                           webhook_url=f"http://127.0.0.1:{web_server.server_address[1]}/hook")
    report = deliver_pending(world.engine, broken)  # never raises
    assert (report.sent, report.failed) == (0, 2)
    state = _delivery(world, nid)
    assert state["done"] is False
    assert state["email"]["state"] == "failed" and state["email"]["attempts"] == 1 and state["email"]["error"]
    assert state["webhook"]["state"] == "failed" and "500" in state["webhook"]["error"]
    # next time, with the servers working, both go out
    web_server.status = 200
    fixed = broken.model_copy(update={"smtp_port": smtp_server.server_address[1]})
    assert deliver_pending(world.engine, fixed).sent == 2
    state = _delivery(world, nid)
    assert state["done"] is True and state["email"]["attempts"] == 2 and "error" not in state["email"]
    assert len(smtp_server.messages) == 1 and len(web_server.posts) == 2


def test_inbox_remind_cli(world, monkeypatch):
    add_child(world, "U-L", "371324")
    run(world, record_outcome, actor=world.actor("welfare_linyi"), child_code="U-L", kind="returned_home",
        outcome_date=TODAY - timedelta(days=35), follow_up_days=[30])
    from reunite.cli import app

    monkeypatch.setenv("REUNITE_DATABASE_URL", world.url)
    out = CliRunner().invoke(app, ["inbox", "remind", "--as", "admin"])
    assert out.exit_code == 0, (out.output, out.exception)
    assert "1 follow-up reminder(s) made" in out.output and "delivery off" in out.output
    assert [n.kind for n in notes_of(world, "welfare_linyi")] == ["follow_up"]


def test_candidates_of_a_child_already_identified_are_not_notified(world):
    """A confirmed match identified the child: its later candidates stay listed, but send
    nobody after another family."""
    from reunite.store.models import Unidentified

    ids = _candidates(world)
    settings = load_settings(env="development", notify_log10_lr=4.0)
    write_transaction(world.engine, lambda s: s.execute(
        update(Unidentified).where(Unidentified.code == "U-1").values(status="identified")))
    assert write_transaction(world.engine, lambda s: notify_new_candidates(s, list(ids.values()),
                                                                           settings=settings)) == 0
    assert notes_of(world, "inv_butuo") == []
