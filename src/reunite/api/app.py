"""The FastAPI application: ``create_app()``; ``reunite serve`` runs it with Uvicorn."""

from __future__ import annotations

import json

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy.orm import Session

from reunite import __version__
from reunite.api import errors
from reunite.api.routers import ROUTERS
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
DOCS_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self' 'unsafe-inline'; frame-ancestors 'none'")


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
                  docs_url=f"{API_PREFIX}/docs", redoc_url=None,
                  description="Missing-child reports, rescued children, DNA search candidates, review and outcomes.")
    app.state.settings = settings
    app.state.engine = engine
    app.state.model = model
    app.state.model_json = json.dumps(model.to_json(), sort_keys=True)
    errors.install(app)
    from reunite.api.routers.auth import install_login_errors

    install_login_errors(app)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_credentials=True,
                           allow_methods=["*"], allow_headers=["*"])

    delivery_on = bool(channels(settings))

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        if request.method not in ("GET", "HEAD", "OPTIONS") and response.status_code < 400 and delivery_on:
            deliver_in_background(engine, settings)  # notifications the request committed: e-mail, webhook
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        docs = request.url.path.startswith(f"{API_PREFIX}/docs")
        response.headers.setdefault("Content-Security-Policy", DOCS_CSP if docs else CSP)
        if not settings.development:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response

    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    for hook in STARTUP_HOOKS:
        hook(app)
    return app


STARTUP_HOOKS: list = []  # functions(app) run by create_app (e.g. the in-memory family index)
