"""The web pages, served by the API's app (``reunite serve``): ``install_web(app)``.

Pages live at the root (``/login``, ``/dashboard``, ``/reports`` ...), the API under
``/api/v1``.  Static files (styles, scripts, the CJK font) come from the installed package:
nothing is fetched from a CDN.  Errors on a page are pages (the API's stay JSON).
"""

from __future__ import annotations

import logging
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from reunite import i18n
from reunite.i18n import N_
from reunite.i18n import gettext as _
from reunite.web.pages import LoginRequired, current_web_user, render, request_language

log = logging.getLogger("reunite.web")

STATIC = Path(str(files("reunite.web") / "static"))
STATIC_MAX_AGE = 86400
WEB_FONT = "NotoSansCJKsc-subset.otf"


class LanguageMiddleware:
    """Sets the language of the request (cookie, Accept-Language, REUNITE_LANGUAGE) for the
    services, views and templates that call :func:`reunite.i18n.gettext`."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        with i18n.use_language(request_language(request)):
            await self.app(scope, receive, send)


ERROR_TITLES = {400: N_("The request could not be carried out"), 401: N_("Please log in"),
                403: N_("Not allowed"), 404: N_("Not found"), 405: N_("Not allowed"),
                409: N_("Changed by someone else"), 413: N_("The file is too large"),
                415: N_("Unsupported form"), 422: N_("Invalid input"), 423: N_("Account locked"),
                429: N_("Too many attempts"), 500: N_("Something went wrong"), 503: N_("The database is not available")}


def render_error(request: Request, status: int, message: str, headers: dict | None = None) -> Response:
    """An error as a page: what happened in the user's language, the service's own message
    (which names the field or record), and a way back."""
    title = _(ERROR_TITLES.get(status, "The request could not be carried out"))
    response = render(request, "error.html", status=status, title=title, message=message, status_code=status)
    for name, value in (headers or {}).items():
        if name.lower() != "www-authenticate":
            response.headers[name] = value
    return response


def install_web(app: FastAPI) -> None:
    """Add the pages, the static files and the page error handlers to ``app``."""
    from reunite.web.routes import ROUTERS

    app.state.render_error = render_error
    app.add_middleware(LanguageMiddleware)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired):
        from urllib.parse import quote

        return RedirectResponse(f"/login?next={quote(exc.next_url, safe='/')}", status_code=303)

    @app.get(f"/static/fonts/{WEB_FONT}", include_in_schema=False)
    def cjk_font():
        from reunite.web.fonts import subset_path

        path = subset_path()
        if path is None:
            return Response(status_code=404)
        return FileResponse(path, media_type="font/otf",
                            headers={"Cache-Control": f"public, max-age={STATIC_MAX_AGE * 30}"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def home(request: Request):
        return RedirectResponse("/dashboard" if current_web_user(request) else "/login", status_code=303)

    for router in ROUTERS:
        app.include_router(router, include_in_schema=False)
