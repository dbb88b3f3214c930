"""The account page (who I am, password change, language, my sessions) and the inbox (in the
reader's language, unread first, mark read)."""

import re

import pytest

from reunite.cases.notifications import message, notify
from reunite.i18n import N_
from reunite.security.users import create_user
from reunite.store.db import write_transaction
from web_client import LOGIN_CSRF, follow, post_form, web_client, web_login
from workflow_world import PASSWORD, make_world

NEW_PASSWORD = "a brand new long password"


@pytest.fixture(autouse=True)
def _fresh_login_limits():
    """These tests log in often from one address: each starts under the per-minute limit."""
    from reunite.security.login import GUARD

    GUARD.clear()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return make_world(f"sqlite:///{tmp_path_factory.mktemp('web-account') / 'w.db'}")


def add_user(world, username, roles=("investigator",), where="513429"):
    from reunite.security.users import bootstrap_actor

    write_transaction(world.engine, lambda s: create_user(s, actor=bootstrap_actor(), username=username,
                                                          password=PASSWORD, roles=list(roles),
                                                          jurisdiction_code=where))
    with world.engine.connect() as c:
        from sqlalchemy import text

        world.user_ids[username] = c.execute(text("SELECT id FROM users WHERE username = :u"),
                                             {"u": username}).scalar_one()


def login(world, username, password=PASSWORD, *, lang="en"):
    """A client (a browser set to ``lang``) logged in through the form; login may set the
    language cookie to the user's saved language."""
    client = web_client(world, lang=lang)
    token = LOGIN_CSRF.search(client.get("/login").text).group(1)
    response = client.post("/login", data={"username": username, "password": password, "login_csrf": token,
                                           "next": "/dashboard"})
    return client, response


def test_account_page_in_both_languages(world):
    page = web_login(world, "inv_butuo").get("/account")
    assert page.status_code == 200 and "My account" in page.text
    assert "investigator" in page.text and "513429" in page.text and "PSB-513429" in page.text
    assert "this session" in page.text and "Change my password" in page.text
    zh = web_login(world, "inv_butuo", lang="zh_CN").get("/account")
    assert "我的账户" in zh.text and "侦查员" in zh.text and "修改我的密码" in zh.text
    assert web_client(world).get("/account").status_code == 303  # logged out: to the login page


def test_password_change_logs_out_the_other_sessions(world):
    add_user(world, "pw_user")
    other, _ = login(world, "pw_user")
    client, _ = login(world, "pw_user")
    wrong = post_form(client, "/account/password", {"old_password": "not it at all", "new_password": NEW_PASSWORD,
                                                    "new_password_again": NEW_PASSWORD})
    assert wrong.status_code == 400 and "old_password" in wrong.text
    differ = post_form(client, "/account/password", {"old_password": PASSWORD, "new_password": NEW_PASSWORD,
                                                     "new_password_again": NEW_PASSWORD + "x"})
    assert differ.status_code == 400 and "differ" in differ.text
    short = post_form(client, "/account/password", {"old_password": PASSWORD, "new_password": "short",
                                                    "new_password_again": "short"})
    assert short.status_code == 400 and "12 characters" in short.text
    done = post_form(client, "/account/password", {"old_password": PASSWORD, "new_password": NEW_PASSWORD,
                                                   "new_password_again": NEW_PASSWORD})
    assert done.status_code == 303 and "1 other session(s) were logged out" in follow(client, done).text
    assert client.get("/account").status_code == 200  # this session stays
    assert other.get("/account").status_code == 303  # the other one is gone
    assert login(world, "pw_user")[1].status_code == 401
    assert login(world, "pw_user", NEW_PASSWORD)[1].status_code == 303


def test_language_preference_persists_across_logins(world):
    add_user(world, "lang_user")
    client, _ = login(world, "lang_user", lang="en")
    saved = post_form(client, "/account/language", {"language": "zh_CN"})
    assert saved.status_code == 303 and "reunite_lang=zh_CN" in saved.headers["set-cookie"]
    assert "语言设置已保存" in follow(client, saved).text
    fresh, response = login(world, "lang_user", lang="en")  # a browser set to English
    assert response.status_code == 303
    page = fresh.get("/dashboard")
    assert 'lang="zh-CN"' in page.text  # the saved language wins at login
    assert post_form(fresh, "/account/language", {"language": "fr"}).status_code == 400
    back = post_form(fresh, "/account/language", {"language": ""})  # the browser's again
    assert back.status_code == 303 and 'reunite_lang=""' in back.headers["set-cookie"]
    again, _ = login(world, "lang_user")
    assert 'lang="en"' in again.get("/dashboard").text


def test_my_sessions_can_be_revoked(world):
    add_user(world, "tok_user")
    other, _ = login(world, "tok_user")
    client, _ = login(world, "tok_user")
    page = client.get("/account")
    ids = [int(i) for i in re.findall(r'action="/account/tokens/(\d+)/revoke"', page.text)]
    assert len(ids) == 2
    this_one = int(re.search(r'this session.*?action="/account/tokens/(\d+)/revoke"', page.text, re.S).group(1))
    [theirs] = [i for i in ids if i != this_one]
    assert post_form(client, f"/account/tokens/{theirs}/revoke").status_code == 303
    assert other.get("/account").status_code == 303
    # someone else's token is not found
    butuo = web_login(world, "inv_butuo")
    assert post_form(butuo, f"/account/tokens/{this_one}/revoke").status_code == 404
    out = post_form(client, f"/account/tokens/{this_one}/revoke")
    assert out.status_code == 303 and out.headers["location"] == "/login"


def test_inbox_in_the_readers_language(world):
    uid = world.user_ids["inv_zhaojue"]

    def work(s):
        ref = message(N_("candidate %(candidate)s: %(child)s as %(family)s/%(missing)s (report %(report)s)"),
                      candidate=41, child="U-9", family="F-9", missing="MP", report="R-9")
        notify(s, user_id=uid, kind="transition", entity="candidate", entity_id=41,
               subject=N_("%(ref)s confirmed by %(user)s"), body=N_("%(n)s other candidate(s) set aside"),
               params={"ref": ref, "user": "reviewer2", "n": 2})
        notify(s, user_id=uid, kind="transition", subject="an old notice in English")

    write_transaction(world.engine, work)
    en = web_login(world, "inv_zhaojue").get("/inbox")
    assert en.status_code == 200 and "candidate 41: U-9 as F-9/MP (report R-9) confirmed by reviewer2" in en.text
    assert 'href="/candidates/41"' in en.text and "2 unread" in en.text
    zh_client = web_login(world, "inv_zhaojue", lang="zh_CN")
    zh = zh_client.get("/inbox")
    assert "候选比中 41：U-9 作为 F-9/MP（报案 R-9） 已由 reviewer2 确认" in zh.text
    assert "其他 2 个候选比中已搁置" in zh.text and "an old notice in English" in zh.text and "收件箱" in zh.text
    nid = int(re.search(r'action="/inbox/(\d+)/read"', zh.text).group(1))
    assert post_form(zh_client, f"/inbox/{nid}/read").status_code == 303
    assert "1 条未读" in zh_client.get("/inbox").text
    assert web_login(world, "inv_butuo").post(f"/inbox/{nid}/read", data={"csrf": "x"}).status_code == 403
    assert post_form(web_login(world, "inv_butuo"), f"/inbox/{nid}/read").status_code == 404  # not theirs
    done = post_form(zh_client, "/inbox/read-all")
    assert done.status_code == 303 and "0 条未读" in follow(zh_client, done).text
