"""The FastAPI application: ``create_app()``; ``reunite serve`` runs it with Uvicorn.

Every response carries the security headers (errors and 500s too).  Request bodies: JSON
(``application/json`` or ``+json``) everywhere, ``multipart/form-data`` only for file imports
and ``/documents/verify``;
other types (forms, text) are refused with 415, so a page on another site cannot post a simple
form (login CSRF).  A body over :data:`MAX_JSON_BYTES` (uploads: :data:`MAX_UPLOAD_BYTES`) is
refused with 413, whether it announces its length or not.  The docs page is Swagger UI served
from the installed ``swagger-ui-bundle`` package: nothing is fetched from a CDN.
"""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.datastructures import Headers
from sqlalchemy.orm import Session

from reunite import __version__
from reunite.api import errors
from reunite.api.errors import error_body
from reunite.api.routers import ROUTERS
from reunite.api.routers.imports import MAX_CONTROL_BYTES
from reunite.api.routers.imports import MAX_UPLOAD_BYTES as MAX_FILE_BYTES
from reunite.cases.common import AUDIT_KEY
from reunite.cases.delivery import channels, deliver_in_background
from reunite.settings import Settings, get_settings
from reunite.store import db
from reunite.store.profiles import GeneticModel

API_PREFIX = "/api/v1"

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cache-Control": "no-store",
}
CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'"
# the docs page: Swagger UI's own files from the swagger-ui-bundle package (no CDN: police networks
# are closed); its elements carry inline style attributes, its scripts are all files
DOCS_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self'; frame-ancestors 'none'")


def create_app(*, settings: Settings | None = None, engine=None) -> FastAPI:
    """The API on ``engine`` (default: the database of the settings or REUNITE_DATABASE_URL,
    which must exist and be initialised)."""
    settings = settings or get_settings()
    settings.check_secure()
    if engine is None:
        engine = db.make_engine(settings.database_url, must_exist=True)
    with Session(db.read_only(engine)) as session:
        model = GeneticModel.from_json(db.read_settings(session)["genetic_model"])
    app = FastAPI(title="reunite", version=__version__, openapi_url=f"{API_PREFIX}/openapi.json",
                  docs_url=None, redoc_url=None,
                  description="Missing-child reports, rescued children, DNA search candidates, review and outcomes.")
    app.state.settings = settings
    app.state.engine = engine
    app.state.model = model
    app.state.model_json = json.dumps(model.to_json(), sort_keys=True)
    errors.install(app)
    from reunite.api.routers.auth import install_login_errors

    install_login_errors(app)
    app.add_middleware(BodyRules, api_prefix=API_PREFIX)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_credentials=True,
                           allow_methods=["*"], allow_headers=["*"])

    delivery_on = bool(channels(settings))

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        key_token = AUDIT_KEY.set(settings.audit_key)  # services sign the audit chain with this server's key
        try:
            response = await call_next(request)
        except Exception as exc:  # noqa: BLE001 - a 500 gets the security headers too
            response = errors.internal_error(request, exc)
        finally:
            AUDIT_KEY.reset(key_token)
        if request.method not in ("GET", "HEAD", "OPTIONS") and response.status_code < 400 and delivery_on:
            deliver_in_background(engine, settings)  # notifications the request committed: e-mail, webhook
        if request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "public, max-age=3600")
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        docs = request.url.path.startswith(f"{API_PREFIX}/docs")
        response.headers.setdefault("Content-Security-Policy", DOCS_CSP if docs else CSP)
        if not settings.development:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response

    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    install_docs(app, API_PREFIX)
    from reunite.web.app import install_web

    install_web(app)  # the pages, at the root (the API's errors stay JSON)
    for hook in STARTUP_HOOKS:
        hook(app)
    return app


STARTUP_HOOKS: list = []  # functions(app) run by create_app (e.g. the in-memory family index)


MAX_JSON_BYTES = 2**20
MAX_UPLOAD_BYTES = MAX_FILE_BYTES + MAX_CONTROL_BYTES + 2**20  # the files and the form's other fields
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PAGE_UPLOADS = frozenset({"/imports/upload", "/documents/verify"})  # the pages that take a file


def _json_response(status: int, kind: str, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse(error_body(kind, message, field=field), status_code=status)


class BodyRules:
    """ASGI middleware: the content type and size of request bodies."""

    def __init__(self, app, *, api_prefix: str) -> None:
        self.app = app
        self.api_prefix = api_prefix
        self.upload_prefix = f"{api_prefix}/imports"
        self.upload_paths = (f"{api_prefix}/documents/verify",)  # one PDF checked (multipart)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        page = not scope["path"].startswith(self.api_prefix + "/") and scope["path"] != self.api_prefix
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        # the web pages post forms (their CSRF field is checked by reunite.web.pages.checked_form);
        # a page's file upload (multipart) may be as large as an API import, on the upload pages only
        # (not e.g. /login, which reads its form before anyone is logged in)
        upload = (scope["path"].startswith(self.upload_prefix) or scope["path"] in self.upload_paths
                  or (page and media_type == "multipart/form-data" and scope["path"] in PAGE_UPLOADS))
        limit = MAX_UPLOAD_BYTES if upload else MAX_JSON_BYTES
        length = headers.get("content-length")
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        refusal = None
        if length is not None and not length.strip().isdigit():
            refusal = _json_response(400, "invalid", f"Content-Length: expected a number of bytes, found {length[:20]!r}")
        elif length is not None and int(length) > limit:
            refusal = self._too_large(limit, page=page)
        elif scope["method"] in BODY_METHODS and (chunked or (length or "0").strip() != "0"):
            media = headers.get("content-type", "").split(";")[0].strip().lower()
            json_type = media == "application/json" or (media.startswith("application/") and media.endswith("+json"))
            form_type = page and media in ("application/x-www-form-urlencoded", "multipart/form-data")
            if not (json_type or form_type or (upload and media == "multipart/form-data")):
                wanted = "application/json" + (" or multipart/form-data" if upload else "")
                refusal = _json_response(415, "unsupported_media_type",
                                         f"Content-Type: expected {wanted}, found {media or 'none'!r}")
        if refusal is not None:
            return await refusal(scope, receive, send)

        received = 0
        too_large = False
        replaced = False

        async def counted_receive():
            nonlocal received, too_large
            if too_large:
                return {"type": "http.request", "body": b"", "more_body": False}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:  # the rest is not read; whatever the app answers becomes a 413
                    too_large = True
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def checked_send(message):
            nonlocal replaced
            if too_large and not replaced and message["type"] == "http.response.start":
                replaced = True
                return await self._too_large(limit, page=page)(scope, counted_receive, send)
            if not replaced:
                await send(message)

        await self.app(scope, counted_receive, checked_send)

    @staticmethod
    def _too_large(limit: int, *, page: bool = False) -> Response:
        """413: JSON on the API; on a page, a small page in the request's language (the
        middleware answers before any route, so it is made here, without the database)."""
        detail = f"at most {limit / 2**20:,.0f} MiB"
        if not page:
            return _json_response(413, "too_large", f"body: {detail}")
        from html import escape

        from reunite.i18n import HTML_LANG, current_language, gettext

        title = escape(gettext("The file is too large"))
        return HTMLResponse(f'<!doctype html><html lang="{HTML_LANG.get(current_language(), "en")}"><head>'
                            f'<meta charset="utf-8"><title>{title}</title>'
                            '<link rel="stylesheet" href="/static/reunite.css"></head><body><main id="main">'
                            f'<h1>{title}</h1><p>{escape(detail)}</p><p><a href="/dashboard">'
                            f'{escape(gettext("Back to the dashboard"))}</a></p></main></body></html>',
                            status_code=413)


def _swagger_ui_folder():
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:  # pragma: no cover - a dependency; the page then links the schema only
        return None
    return swagger_ui_path


DOCS_ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png")


def install_docs(app: FastAPI, api_prefix: str) -> None:
    """``GET {api_prefix}/docs``: Swagger UI from the package, started by a script file (the
    page's CSP allows scripts from the server only)."""
    folder = _swagger_ui_folder()
    docs, openapi = f"{api_prefix}/docs", f"{api_prefix}/openapi.json"

    @app.get(docs, include_in_schema=False)
    def docs_page(request: Request):
        root = request.scope.get("root_path", "")
        if folder is None:
            return HTMLResponse(f'<!doctype html><title>reunite API</title><p>The API schema: '
                                f'<a href="{root}{openapi}">{openapi}</a></p>')
        return HTMLResponse(
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>reunite API</title>'
            f'<link rel="icon" href="{root}{docs}/favicon-32x32.png">'
            f'<link rel="stylesheet" href="{root}{docs}/swagger-ui.css"></head>'
            '<body><div id="swagger-ui"></div>'
            f'<script src="{root}{docs}/swagger-ui-bundle.js"></script>'
            f'<script src="{root}{docs}/start.js"></script></body></html>')

    @app.get(f"{docs}/start.js", include_in_schema=False)
    def docs_start(request: Request):
        url = json.dumps(request.scope.get("root_path", "") + openapi)
        return Response(f'window.ui = SwaggerUIBundle({{url: {url}, dom_id: "#swagger-ui", validatorUrl: null, '
                        'deepLinking: true, presets: [SwaggerUIBundle.presets.apis]});\n',
                        media_type="text/javascript")

    if folder is None:
        return
    types = {".css": "text/css", ".js": "text/javascript", ".png": "image/png"}
    for name in DOCS_ASSETS:
        path = Path(folder) / name

        def asset(path=path):
            return Response(path.read_bytes(), media_type=types[path.suffix])

        app.add_api_route(f"{docs}/{name}", asset, methods=["GET"], include_in_schema=False)
