"""The server's family index, kept in memory: a one-to-many search through the API costs
what the search costs, not the seconds the CLI spends loading the index file.

:class:`IndexCache` is loaded at startup (in a background thread, see :func:`install`) or at
first use, and brought up to date before each use by the same incremental logic as the
index file (:func:`reunite.search.service.family_index` with ``base=``): new families are
added, a correction or an import rolled back rebuilds it.  Whether anything changed is read
in three cheap statements (the family import batches, the corrections' count and last id,
the highest family id).  ``lock`` is held while the index is brought up to date and searched (a search
may add columns); the intake services take it (:func:`reunite.cases.intake._holding`).
"""

from __future__ import annotations

import logging
import threading

from fastapi import FastAPI, Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

log = logging.getLogger("reunite.api")
_CREATE = threading.Lock()


class IndexCache:
    """The family index of one database, in memory; call it with a session to get the index
    brought up to date (holding ``lock``)."""

    def __init__(self, engine, model):
        self.engine = engine
        self.model = model
        self.lock = threading.RLock()
        self.index = None
        self.state = None
        self.loads = 0  # how many times the index was loaded, built or brought up to date

    @staticmethod
    def database_state(session: Session) -> tuple:
        """What the index depends on, read cheaply (by primary keys): the family import
        batches, the number and last id of the corrections (any correction: whether it
        changes the index is :func:`~reunite.search.service.family_index`'s to tell), the
        highest family id."""
        from reunite.search.service import _batch_token
        from reunite.store.models import Family, ImportBatch, RecordVersion

        imports = tuple(sorted(_batch_token(b) for b in session.execute(
            select(ImportBatch.id, ImportBatch.created_at, ImportBatch.num_rows, ImportBatch.source)
            .where(ImportBatch.kind == "families"))))
        corrections = tuple(session.execute(select(func.count(RecordVersion.id), func.max(RecordVersion.id))).one())
        return imports, corrections, session.execute(select(func.max(Family.id))).scalar()

    def __call__(self, session: Session):
        """The index, brought up to date in ``session``."""
        from reunite.search.service import family_index

        with self.lock:
            state = self.database_state(session)
            if self.index is None or state != self.state:
                # the first load saves the file (the CLI starts from it); later updates stay in memory
                try:
                    self.index = family_index(session, self.model, base=self.index, save=self.index is None)
                except BaseException:
                    self.index = self.state = None  # perhaps half brought up to date: loaded again next time
                    raise
                self.state = state
                self.loads += 1
            return self.index

    def warm(self) -> None:
        """Load the index now (at startup); a failure is logged, the first search tries again."""
        from reunite.store.db import read_only

        try:
            with Session(read_only(self.engine)) as session:
                self(session)
        except Exception:  # noqa: BLE001 - logged; searches load it again
            log.exception("the family index could not be loaded at startup")


def get_cache(app: FastAPI) -> IndexCache:
    """The app's index cache (created at first use)."""
    cache = getattr(app.state, "family_index", None)
    if cache is None:
        with _CREATE:
            cache = getattr(app.state, "family_index", None)
            if cache is None:
                cache = app.state.family_index = IndexCache(app.state.engine, app.state.model)
    return cache


def index_cache(request: Request) -> IndexCache:
    """Dependency: the app's in-memory family index."""
    return get_cache(request.app)


def install(app: FastAPI) -> None:
    """Load the family index in a background thread when the server starts (``reunite serve``);
    a search arriving first waits for it."""
    cache = get_cache(app)

    def start() -> None:
        threading.Thread(target=cache.warm, name="reunite-index", daemon=True).start()

    app.router.on_startup.append(start)
