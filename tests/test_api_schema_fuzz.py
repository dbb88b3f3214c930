"""Schemathesis over the whole OpenAPI schema, as a user holding every role, on a database
holding simulated families, unidentified persons and candidates (so requests reach real
records, not only 404s): never a 5xx, and every response conforms to the schema the API
publishes (its body to the documented model, its content type to the documented one).

:mod:`test_api_contract` checks permissions and "no 500, JSON errors" with random requests;
this adds the conformance of the answers, also for users with one role and a jurisdiction
(those under ``make stress``).  Small by default; many more examples under ``make stress``;
``REUNITE_FUZZ_SCALE`` multiplies both.  Every person is simulated.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from test_api_contract import ALL_ROLES_USER, ROLE_USERS
from workflow_world import USERS, make_world

SCALE = float(os.environ.get("REUNITE_FUZZ_SCALE", "1"))
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
#: operations that would end the fuzzing user's own session or lock it out
SKIP = {("POST", "/api/v1/auth/logout"), ("POST", "/api/v1/auth/password"),
        ("DELETE", "/api/v1/auth/tokens/{token_id}")}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from reunite.cases import intake
    from reunite.simulate import simulate_database, write_database

    folder = tmp_path_factory.mktemp("schemafuzz")
    world = make_world(f"sqlite:///{folder / 'reunite.db'}", users=USERS + ROLE_USERS + [ALL_ROLES_USER])
    sim = write_database(simulate_database(12, 6, seed=21), folder / "sim")
    actor = intake.local_actor("fuzz")
    for kind in ("genotypes", "families", "unidentified"):
        intake.import_file(world.engine, world.model, kind, sim[kind], actor=actor, search=kind == "unidentified")
    return world


def fuzz_all_operations(world, examples: int, *, username: str = "everyone") -> tuple[int, list[str]]:
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", world.app())
    headers = world.auth(username)
    failures, operations = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.full_path) in SKIP or (
                operation.method.upper(), "/api/v1" + operation.path) in SKIP:
            continue

        @given(case=operation.as_strategy())
        @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            response = case.call(headers=headers)
            case.validate_response(response, checks=CHECKS)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collected, reported together
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:1500]}")
        operations += 1
    return operations, failures


def test_responses_conform_to_the_schema(world):
    operations, failures = fuzz_all_operations(world, int(2 * SCALE))
    assert operations > 50
    assert not failures, "\n\n".join(failures)


@pytest.mark.stress
def test_responses_conform_to_the_schema_many(world):
    operations, failures = fuzz_all_operations(world, int(30 * SCALE))
    print(f"\nschemathesis: {operations} operations, up to {int(30 * SCALE)} examples each")
    assert not failures, "\n\n".join(failures)


@pytest.mark.stress
@pytest.mark.parametrize("username", ["inv_butuo", "welfare_linyi", "reviewer1"])
def test_responses_conform_for_users_with_one_role_and_a_scope(world, username):
    """A county investigator, a city welfare officer, a reviewer: other scopes, other paths."""
    operations, failures = fuzz_all_operations(world, int(8 * SCALE), username=username)
    assert not failures, "\n\n".join(failures)
