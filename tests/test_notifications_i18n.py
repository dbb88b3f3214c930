"""Notifications and e-mails in the reader's language: notices keep their message ids and
values; the inbox and e-mails render them for the reader (users.language, else
REUNITE_LANGUAGE); older notices without ids are shown as stored; every notice message has
its Chinese."""

import email
import email.policy
import json
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from reunite import i18n
from reunite.cases import notifications as inbox
from reunite.cases.delivery import deliver_pending
from reunite.cases.notifications import message, notify, render_notification
from reunite.i18n import N_
from reunite.security.users import own_account, set_language
from reunite.settings import load_settings
from reunite.store.db import write_transaction
from reunite.store.models_workflow import AuditEntry, Notification, User
from test_notifications import smtp_server  # noqa: F401 (a fixture)
from workflow_world import make_world

CASES = Path(__file__).resolve().parents[1] / "src" / "reunite" / "cases"


@pytest.fixture
def world(tmp_path):
    return make_world(f"sqlite:///{tmp_path / 'reunite.db'}")


def _set_aside(s, uid):
    ref = message(N_("candidate %(candidate)s: %(child)s as %(family)s/%(missing)s"), candidate=7, child="U-1",
                  family="F-1", missing="MP")
    return notify(s, user_id=uid, kind="transition", entity="candidate", entity_id=7,
                  subject=N_("%(ref)s set aside"), body="%(reason)s",
                  params={"ref": ref, "reason": "another candidate was confirmed"}).id


def test_notices_keep_english_text_and_render_for_the_reader(world):
    uid = world.user_ids["inv_butuo"]
    nid = write_transaction(world.engine, lambda s: _set_aside(s, uid))
    with Session(world.engine) as s:
        row = s.get(Notification, nid)
        assert row.subject == "candidate 7: U-1 as F-1/MP set aside"  # what the CLI, API and webhooks show
        assert row.body == "another candidate was confirmed"
        assert json.loads(row.message_params)["subject"] == "%(ref)s set aside"
        assert render_notification(row, "zh_CN") == ("候选比中 7：U-1 作为 F-1/MP 已搁置",
                                                     "another candidate was confirmed")
        assert render_notification(row, "en") == (row.subject, row.body)
        row.message_params = "{not json"
        assert render_notification(row, "zh_CN") == (row.subject, row.body)  # falls back to the stored text
    old = write_transaction(world.engine, lambda s: notify(s, user_id=uid, kind="transition", subject="old").id)
    with Session(world.engine) as s:
        assert render_notification(s.get(Notification, old), "zh_CN") == ("old", None)
    # the inbox service in a language; without one, English as stored
    page = write_transaction(world.engine, lambda s: inbox.list_inbox(s, actor=world.actor("inv_butuo"),
                                                                       language="zh_CN"))
    assert "候选比中 7：U-1 作为 F-1/MP 已搁置" in [n.subject for n in page.items]
    with pytest.raises(Exception, match="params: bad"):
        write_transaction(world.engine, lambda s: notify(s, user_id=uid, kind="transition", subject="x",
                                                         params={"bad": object()}))


def test_set_language_is_saved_and_audited(world):
    actor = world.actor("inv_butuo")
    info = write_transaction(world.engine, lambda s: set_language(s, actor=actor, language="zh-CN"))
    assert info.language == "zh_CN"
    assert write_transaction(world.engine, lambda s: own_account(s, actor=actor)).language == "zh_CN"
    with pytest.raises(Exception, match="language: expected one of"):
        write_transaction(world.engine, lambda s: set_language(s, actor=actor, language="fr"))
    assert write_transaction(world.engine, lambda s: set_language(s, actor=actor, language=None)).language is None
    with Session(world.engine) as s:
        actions = s.execute(select(AuditEntry.action).where(AuditEntry.action == "user.language")).scalars().all()
    assert len(actions) == 2


def test_emails_speak_the_recipients_language(world, smtp_server):  # noqa: F811
    ids = world.user_ids
    write_transaction(world.engine, lambda s: [
        s.execute(update(User).where(User.id == ids[name]).values(email=f"{name}@example.org", language=lang))
        for name, lang in (("inv_butuo", "zh_CN"), ("inv_zhaojue", "en"), ("inv_linyi", None))])
    for name in ("inv_butuo", "inv_zhaojue", "inv_linyi"):
        write_transaction(world.engine, lambda s, name=name: _set_aside(s, ids[name]))
    settings = load_settings(env="development", smtp_host="127.0.0.1", smtp_port=smtp_server.server_address[1],
                             smtp_from="reunite@example.org", language="en")
    assert deliver_pending(world.engine, settings).sent == 3
    mails = {}
    for rcpt, raw in smtp_server.messages:
        msg = email.message_from_string(raw, policy=email.policy.default)
        mails[str(msg["To"]).split("@")[0]] = (str(msg["Subject"]), msg.get_content())
    assert mails["inv_butuo"][0] == "[reunite] 候选比中 7：U-1 作为 F-1/MP 已搁置"
    assert "请登录团圆系统查看收件箱" in mails["inv_butuo"][1]
    assert mails["inv_zhaojue"][0] == "[reunite] candidate 7: U-1 as F-1/MP set aside"
    assert "Open reunite to read your inbox" in mails["inv_zhaojue"][1]
    assert mails["inv_linyi"][0] == "[reunite] candidate 7: U-1 as F-1/MP set aside"  # REUNITE_LANGUAGE=en


def _notice_messages():
    """The message ids of notices: every N_() of notifications.py, and those with values
    (placeholders) in the other services that notify."""
    found = {}
    for name in ("notifications.py", "review.py", "confirmation.py", "outcomes.py", "registration.py"):
        for lineno, msg, _, _ in extract_from_file("python", str(CASES / name), keywords={"N_": None}):
            if name == "notifications.py" or "%(" in msg:
                found.setdefault(msg, f"{name}:{lineno}")
    return found


def test_every_notice_message_has_chinese():
    found = _notice_messages()
    assert len(found) >= 20
    chinese = i18n.catalog("zh_CN")
    missing = [f"{where}: {msg!r}" for msg, where in found.items() if msg not in chinese]
    assert not missing, "notice messages without a zh_CN translation:\n" + "\n".join(missing)
