"""Errors as JSON: ``{"error": kind, "message": text, "field": name or null}``; never a traceback.

A service error whose message starts with ``name: `` names the field.
"""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from reunite.errors import AuthenticationError, Conflict, NotFound, PermissionDenied, ReuniteError
from reunite.store.db import StoreError, StoreValueError, explain_error

log = logging.getLogger("reunite.api")
_FIELD = re.compile(r"^([A-Za-z_][\w.\-\[\]]*): ")

STATUS = [(AuthenticationError, 401, "unauthenticated"), (PermissionDenied, 403, "forbidden"),
          (NotFound, 404, "not_found"), (Conflict, 409, "conflict"), (StoreValueError, 400, "invalid"),
          (StoreError, 503, "database")]


def error_body(kind: str, message: str, *, field: str | None = None, **extra) -> dict:
    if field is None:
        m = _FIELD.match(message)
        field = m.group(1) if m else None
    return {"error": kind, "message": message, "field": field, **extra}


def status_of(exc: ReuniteError) -> int:
    """The HTTP status of a service's refusal (401, 403, 404, 409, 503; else 400)."""
    return next((code for cls, code, _name in STATUS if isinstance(exc, cls)), 400)


def _page_error(request: Request, status: int, message: str, headers: dict | None = None):
    """On a web page (any path outside /api/), the error as a page (None on the API)."""
    render = getattr(request.app.state, "render_error", None)
    if render is None or request.url.path.startswith("/api/"):
        return None
    if status == 401:
        from urllib.parse import quote

        from fastapi.responses import RedirectResponse

        return RedirectResponse(f"/login?next={quote(request.url.path, safe='/')}", status_code=303)
    return render(request, status, message, headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(ReuniteError)
    async def reunite_error(request: Request, exc: ReuniteError):
        status = status_of(exc)
        kind = next((name for cls, code, name in STATUS if isinstance(exc, cls)), "invalid")
        page = _page_error(request, status, str(exc))
        if page is not None:
            return page
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        problems = getattr(exc, "problems", None)
        extra = {"problems": list(problems)} if problems else {}
        return JSONResponse(error_body(kind, str(exc), **extra), status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        problems = []
        for e in exc.errors():
            loc = [str(x) for x in e.get("loc", ()) if x not in ("body", "query", "path", "header", "cookie")]
            problems.append({"field": ".".join(loc) or None, "message": e.get("msg", "invalid")})
        first = problems[0] if problems else {"field": None, "message": "invalid request"}
        message = "; ".join(f"{p['field']}: {p['message']}" if p["field"] else p["message"] for p in problems)
        page = _page_error(request, 422, message)
        if page is not None:
            return page
        return JSONResponse(error_body("invalid", message, field=first["field"], problems=problems), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        kind = {401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
                409: "conflict", 413: "too_large", 429: "rate_limited"}.get(exc.status_code, "error")
        page = _page_error(request, exc.status_code, str(exc.detail), getattr(exc, "headers", None))
        if page is not None:
            return page
        return JSONResponse(error_body(kind, str(exc.detail)), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        return internal_error(request, exc)


def internal_error(request: Request, exc: Exception) -> JSONResponse:
    """An unexpected error as JSON (logged with its traceback; the client sees no detail)."""
    known = explain_error(exc)
    if known is not None:
        status = status_of(known)  # 503; 400 for a value the database cannot hold
        kind = next(name for cls, _code, name in STATUS if isinstance(known, cls))
        page = _page_error(request, status, str(known))
        return page if page is not None else JSONResponse(error_body(kind, str(known)), status_code=status)
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    message = "an unexpected error; it is logged on the server"
    try:
        page = _page_error(request, 500, message)
    except Exception:  # noqa: BLE001 - the error page itself failed: plain JSON
        page = None
    return page if page is not None else JSONResponse(error_body("internal", message), status_code=500)
