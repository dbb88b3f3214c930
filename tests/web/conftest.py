import pytest


@pytest.fixture(autouse=True)
def _fresh_login_guard():
    """Page tests log in many times a minute from one address (the test client): each test
    starts with the per-process login rate limit cleared."""
    from reunite.security.login import GUARD

    GUARD.clear()
    yield
