"""Log in, log out, the language switch, CSRF on forms, errors as pages."""

import pytest

from web_client import LOGIN_CSRF, follow, post_form, web_client, web_login
from workflow_world import make_world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return make_world(f"sqlite:///{tmp_path_factory.mktemp('web') / 'w.db'}")


def test_login_dashboard_logout(world):
    client = web_login(world, "inv_butuo")
    page = client.get("/dashboard")
    assert page.status_code == 200 and "Dashboard" in page.text and 'lang="en"' in page.text
    assert "Missing-child reports" in page.text  # the menu, by permission
    assert "Audit log" not in page.text
    out = post_form(client, "/logout")
    assert out.status_code == 303 and out.headers["location"] == "/login"
    again = client.get("/dashboard")
    assert again.status_code == 303 and again.headers["location"].startswith("/login?next=/dashboard")


def test_wrong_password_and_login_csrf(world):
    client = web_client(world)
    token = LOGIN_CSRF.search(client.get("/login").text).group(1)
    bad = client.post("/login", data={"username": "inv_butuo", "password": "nope", "login_csrf": token})
    assert bad.status_code == 401 and "Wrong user name or password" in bad.text
    forged = web_client(world).post("/login", data={"username": "inv_butuo", "password": "x", "login_csrf": "forged"})
    assert forged.status_code == 403


def test_forms_need_the_csrf_token(world):
    client = web_login(world, "inv_butuo")
    refused = client.post("/logout", data={"csrf": "wrong"})
    assert refused.status_code == 403 and "<html" in refused.text
    assert client.get("/dashboard").status_code == 200  # still logged in


def test_chinese_pages_and_switch(world):
    client = web_login(world, "inv_butuo", lang="zh_CN")
    page = client.get("/dashboard")
    assert 'lang="zh-CN"' in page.text and "仪表板" in page.text
    switched = client.get("/language/en?next=/dashboard")
    assert switched.status_code == 303 and switched.headers["location"] == "/dashboard"
    assert 'lang="en"' in follow(client, switched).text
    assert client.get("/language/fr").status_code == 400
    assert client.get("/language/en?next=//evil.example").headers["location"] == "/"


def test_errors_are_pages_and_api_stays_json(world):
    client = web_login(world, "inv_butuo")
    missing = client.get("/no-such-page")
    assert missing.status_code == 404 and "<html" in missing.text
    api = client.get("/api/v1/no-such")
    assert api.status_code == 404 and api.json()["error"] == "not_found"


def test_static_assets_ship_in_the_package(world):
    client = web_client(world)
    css = client.get("/static/reunite.css")
    assert css.status_code == 200 and "font-face" in css.text
    font = client.get("/static/fonts/NotoSansCJKsc-subset.otf")
    assert font.status_code == 200 and 1_000_000 < len(font.content) < 5_000_000
