"""Connecting to the database and migrating it (Alembic)."""

from __future__ import annotations

import json
import os
from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.orm import Session

from reunite.errors import ReuniteError
from reunite.store.models import Setting

DEFAULT_URL = "sqlite:///reunite.db"


class StoreError(ReuniteError):
    """The database is missing, not initialised, or refuses an operation."""


def database_url(url: str | None = None) -> str:
    """``url``, else ``$REUNITE_DATABASE_URL``, else ``sqlite:///reunite.db``."""
    return url or os.environ.get("REUNITE_DATABASE_URL") or DEFAULT_URL


def make_engine(url: str | None = None) -> Engine:
    """An engine for ``url``; SQLite gets foreign keys and a write-ahead log."""
    url = database_url(url)
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()
    return engine


def _alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("reunite.store") / "migrations"))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply every migration (``alembic upgrade head``).

    On SQLite, Alembic's batch mode copies and drops tables that others reference, so foreign
    keys are switched off for the migration (outside any transaction, as SQLite requires) and
    every key is checked before they are switched on again."""
    _migrate(engine, lambda cfg: command.upgrade(cfg, revision))


def downgrade(engine: Engine, revision: str) -> None:
    """Undo migrations down to ``revision`` (tests and emergencies)."""
    _migrate(engine, lambda cfg: command.downgrade(cfg, revision))


def _migrate(engine: Engine, step) -> None:
    from sqlalchemy import text

    cfg = _alembic_config(engine)
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                step(cfg)
                if sqlite:
                    bad = conn.execute(text("PRAGMA foreign_key_check")).all()
                    if bad:
                        raise StoreError(f"the migration would break {len(bad)} foreign key(s), e.g. "
                                         f"{bad[:3]}; nothing was changed")
        finally:
            if sqlite:
                conn.rollback()
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def read_settings(session: Session) -> dict:
    """Settings stored at ``db init``; raises StoreError if the database is not initialised."""
    try:
        rows = session.execute(select(Setting)).scalars().all()
    except Exception as exc:  # no table: not initialised
        raise StoreError(
            f"the database at {session.get_bind().url!r} is not initialised; run "
            "'reunite db init' first (the URL comes from REUNITE_DATABASE_URL)"
        ) from exc
    settings = {r.key: json.loads(r.value) for r in rows}
    if "genetic_model" not in settings:
        raise StoreError("the database has no genetic model; run 'reunite db init' first")
    return settings
