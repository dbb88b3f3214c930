"""PostgreSQL: a streamed statement (a server-side cursor) is planned for reading every row
(``cursor_tuple_fraction`` 1 for its transaction, :func:`reunite.store.db._read_to_the_end`).
With the default 0.1, reading the references of a just-imported database (statistics not yet
gathered) was planned as a nested loop over every pair of member and sample rows."""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from reunite.store.db import make_engine, upgrade
from reunite.store.models import Setting


def _fraction(conn) -> float:
    return float(conn.execute(text("SHOW cursor_tuple_fraction")).scalar())


def test_a_stream_is_planned_for_every_row_for_its_transaction_only(pg_url):
    engine = make_engine(pg_url)
    try:
        upgrade(engine)
        with Session(engine) as s, s.begin():
            s.add_all(Setting(key=f"k{i:03d}", value=str(i)) for i in range(120))
        with Session(engine) as s:
            assert _fraction(s.connection()) == 0.1  # the server's default: unchanged by plain statements
            s.execute(select(Setting.key)).all()
            assert _fraction(s.connection()) == 0.1
            q = select(Setting.key).where(Setting.key.like("k%")).order_by(Setting.key)
            result = s.connection().execute(q.execution_options(stream_results=True))
            assert _fraction(s.connection()) == 1.0
            keys = [k for part in result.partitions(7) for (k,) in part]
            assert keys == [f"k{i:03d}" for i in range(120)]  # every row, in order
            s.commit()
            assert _fraction(s.connection()) == 0.1  # SET LOCAL: gone with the transaction
            # the ORM's yield_per streams too
            assert len(list(s.execute(select(Setting).where(Setting.key.like("k%"))
                                      .execution_options(yield_per=50)).scalars())) == 120
            assert _fraction(s.connection()) == 1.0
    finally:
        engine.dispose()


def test_sqlite_engines_are_left_as_they_were(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    try:
        upgrade(engine)
        with Session(engine) as s:
            q = select(Setting.key).execution_options(stream_results=True)
            assert s.connection().execute(q).all() is not None
    finally:
        engine.dispose()
