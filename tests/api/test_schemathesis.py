"""Schemathesis generates requests from the generated OpenAPI schema (valid ones, and invalid ones that break
it) and sends them through the Django WSGI app with a valid key: whatever it sends, the API answers with a 2xx or
a 4xx, never a server error.

Operations are driven from schemathesis's Python API in one test rather than its pytest plugin, whose
parametrization does not work with the pytest version we run (it reads a private pytest attribute)."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from secdesk.wsgi import application

EXAMPLES_PER_OPERATION = 10  # 14 operations x 2 modes


@pytest.fixture
def api_schema(db):
    # Django closes the database connection when a request finishes; the test client switches that off so the
    # test's transaction survives, and so must this (schemathesis calls the WSGI app directly).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", application)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _aim_at_real_rows(case, world) -> None:
    """Random ids almost never exist, so valid requests would only ever meet a 404: point them at this business's
    rows (PATCH then really changes the conversation, POST really queues a reply)."""
    resource = case.operation.path.split("/")[3]
    if "id" in (case.path_parameters or {}) and resource in world.ids():
        case.path_parameters["id"] = world.ids()[resource]
    if case.method == "POST" and isinstance(case.body, dict):
        case.body["conversation"] = world.conversation.pk


def test_no_server_errors(api_schema, world_a, world_b, settings):
    settings.API_THROTTLE_RATE = "100000/min"  # a 429 is fine, but it would stop exercising the endpoints
    settings.WEBHOOKS_ALLOW_PRIVATE = True  # webhook URLs are checked without DNS: tests never reach the network
    headers = {"Authorization": f"Bearer {world_a.key}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    # 7 lists, 7 details, PATCH a conversation, POST a reply, create, pause and delete a webhook endpoint
    assert len(operations) == 19
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(operation, mode, headers=headers, world=world_a)


def _fuzz(operation, mode: GenerationMode, *, headers: dict, world) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis_settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def call(case):
        if mode == GenerationMode.POSITIVE:
            _aim_at_real_rows(case, world)
        case.call_and_validate(headers=headers, checks=[not_a_server_error])

    call()
