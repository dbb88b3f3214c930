"""Web pages in tests: log in through the login form, post forms with the page's CSRF token.

    client = web_login(world, "inv_butuo")             # English pages
    client = web_login(world, "inv_butuo", lang="zh_CN")
    page = client.get("/reports")
    response = post_form(client, "/reports/new", {"code": "R-1", ...})
"""

from __future__ import annotations

import re

from workflow_world import PASSWORD

LOGIN_CSRF = re.compile(r'name="login_csrf" value="([^"]+)"')


def web_client(world, *, lang: str = "en"):
    """A browser-like client of the world's app (cookies kept, redirects not followed)."""
    from fastapi.testclient import TestClient

    client = TestClient(world.app(), raise_server_exceptions=False, follow_redirects=False)
    client.cookies.set("reunite_lang", lang)
    return client


def web_login(world, username: str, *, lang: str = "en", password: str = PASSWORD, totp: str | None = None):
    """A client logged in as ``username`` through the login page."""
    client = web_client(world, lang=lang)
    page = client.get("/login")
    assert page.status_code == 200, page.text[:500]
    token = LOGIN_CSRF.search(page.text).group(1)
    data = {"username": username, "password": password, "login_csrf": token, "next": "/dashboard"}
    if totp:
        data["totp"] = totp
    response = client.post("/login", data=data)
    assert response.status_code == 303, response.text[:1000]
    client.cookies.set("reunite_lang", lang)
    return client


def csrf_of(client) -> str:
    return client.cookies.get("reunite_csrf")


def post_form(client, url: str, data: dict | None = None, *, files=None):
    """POST ``data`` (a dict; list values repeat the field) with the session's CSRF token."""
    data = dict(data or {})
    data.setdefault("csrf", csrf_of(client))
    return client.post(url, data=data, files=files)


def follow(client, response):
    """The page a 303 leads to."""
    assert response.status_code in (302, 303), (response.status_code, response.text[:1500])
    return client.get(response.headers["location"])
