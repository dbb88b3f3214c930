"""Child processes of the test suite under ``REUNITE_TEST_BACKEND=postgresql``: reunite's
SQLite file URLs stand for PostgreSQL databases, as in the test process (tests/pg_backend.py).
Only on the PYTHONPATH of a test session under the switch."""

import os
import sys

if os.environ.get("PGTEST_REUNITE_PREFIX"):  # set by pg_backend.install() in the test process
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        import pg_backend
        pg_backend.install()
    except ImportError:  # not a reunite environment (e.g. a tool the tests start)
        pass
    finally:
        sys.path.pop(0)
