import sys

import pytest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
DATA = Path(__file__).parent / "data"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Family indexes of PostgreSQL test databases go to a temporary cache folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "cache"))


def simulated_store(tmp_path, num_families: int, num_unidentified: int, *, seed: int, model):
    """A migrated SQLite database holding a simulated database; returns (simulation, engine)."""
    from sqlalchemy.orm import Session

    from reunite.simulate import simulate_database, write_database
    from reunite.store.db import make_engine, upgrade
    from reunite.store.importers import import_all

    db = simulate_database(num_families, num_unidentified, seed=seed)
    paths = write_database(db, tmp_path / "sim")
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    upgrade(engine)
    with Session(engine) as s, s.begin():
        import_all(s, paths, model=model)
    return db, engine
