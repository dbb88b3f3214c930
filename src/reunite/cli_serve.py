"""``reunite serve``: the REST API with Uvicorn.

Outside development mode (``REUNITE_ENV=production``) the server refuses to start with a
default or weak secret (:meth:`reunite.settings.Settings.check_secure`).  The family index is
loaded into memory at startup (:mod:`reunite.api.index_cache`), so API searches do not pay
for loading it.
"""

from __future__ import annotations

import typer

from reunite.cli_common import console, err
from reunite.errors import ReuniteError


def server_app():
    """The app Uvicorn serves (a factory: each worker process builds its own, with its own
    in-memory family index loaded at startup)."""
    from reunite.api.app import create_app
    from reunite.api.index_cache import install

    from reunite.web.fonts import prepare_in_background

    app = create_app()
    install(app)
    prepare_in_background()  # the pages' Chinese font subset, made once and cached
    return app


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0: every interface; put a TLS "
                             "proxy in front)."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on."),
    workers: int = typer.Option(1, min=1, max=64, help="Worker processes (each keeps its own family index in "
                                "memory)."),
) -> None:
    """Run the REST API (docs at /api/v1/docs); settings from REUNITE_* variables."""
    import uvicorn
    from rich.markup import escape

    from reunite.settings import load_settings
    from reunite.store import db

    try:
        settings = load_settings()  # refuses insecure settings outside development
        from sqlalchemy.orm import Session

        engine = db.make_engine(settings.database_url, must_exist=True)
        try:
            with Session(db.read_only(engine)) as session:
                db.read_settings(session)  # initialised ('reunite db init')
        finally:
            engine.dispose()
    except ReuniteError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from None
    shown = f"[{host}]" if ":" in host else host
    mode = "development mode: do not expose this server" if settings.development else "production"
    console.print(f"reunite API on http://{shown}:{port} ({mode}); docs at http://{shown}:{port}/api/v1/docs, "
                  f"OpenAPI at /api/v1/openapi.json", highlight=False)
    uvicorn.run("reunite.cli_serve:server_app", factory=True, host=host, port=port, workers=workers,
                log_level="info", proxy_headers=settings.behind_proxy, server_header=False)
