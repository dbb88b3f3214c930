"""What the workflow's CLI commands share: the acting user and the service call.

A workflow command acts as a registered user: ``--as USER`` or ``$REUNITE_USER``.  The CLI
runs on the machine that holds the database, so it needs no password (whoever can run it can
read the database file); it checks the user's roles and jurisdiction exactly as the API does,
and every step is audited with ``via: cli``.
"""

from __future__ import annotations

import os

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from reunite.errors import AuthenticationError, ReuniteError

USER_ENV = "REUNITE_USER"
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

AS_USER = typer.Option(None, "--as", help=f"The registered user acting (default: ${USER_ENV}).")


def open_store():
    """``(engine, genetic model)`` of REUNITE_DATABASE_URL (which must exist and be initialised)."""
    from reunite.store import db
    from reunite.store.profiles import GeneticModel

    engine = db.make_engine(must_exist=True)
    with Session(db.read_only(engine)) as reader:
        settings = db.read_settings(reader)
    return engine, GeneticModel.from_json(settings["genetic_model"])


def acting(as_user: str | None):
    """``(engine, model, actor)`` for the user named by ``--as`` or ``$REUNITE_USER``."""
    from sqlalchemy import select

    from reunite.security.tokens import actor_of
    from reunite.store.db import read_only
    from reunite.store.models_workflow import User

    username = as_user or os.environ.get(USER_ENV)
    if not username:
        raise ReuniteError(f"--as: name the registered user acting (or set {USER_ENV}); "
                           "'reunite user list' shows them")
    engine, model = open_store()
    with Session(read_only(engine)) as session:
        user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
        if user is None:
            raise AuthenticationError(f"--as: no user {username!r} ('reunite user add' creates one)")
        if not user.active:
            raise AuthenticationError(f"--as: the account {username!r} is disabled")
        actor = actor_of(session, user, via="cli")
    return engine, model, actor


def write(engine, work):
    """Run ``work(session)`` in one write transaction (see :func:`reunite.store.db.write_transaction`)."""
    from reunite.store.db import write_transaction

    return write_transaction(engine, work)


def read(engine, work):
    """Run ``work(session)`` in a read-only session."""
    from reunite.store.db import read_only

    with Session(read_only(engine)) as session:
        return work(session)


def print_table(table) -> None:
    """Print ``table`` never narrower than its columns' minimum widths: where the terminal is
    narrower, lines run past its edge (the terminal wraps them) instead of Rich shrinking a
    column of codes to nothing."""
    from rich.measure import Measurement

    needed = Measurement.get(console, console.options.update(max_width=100_000), table).minimum
    if needed <= console.width:
        console.print(table)
        return
    fixed = console._width  # None: follow the terminal (restored as it was, not frozen)
    console.width = needed
    try:
        console.print(table)
    finally:
        console._width = fixed
