"""Schema-driven fuzzing of the whole app against its own ``/openapi.json`` (schemathesis, in process): no
server errors, and every response's status, content type and body are the ones the document describes.

The app runs without its lifespan here: the in-memory store and the simulator need no opening, and no
workers are needed to answer requests. Examples are limited per operation to keep the suite fast.
"""

from __future__ import annotations

import httpx
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from kiegen import Client
from kiegen.adapters.memory import InMemoryJobStore, SimulatedKie, SimulatorConfig
from kiegen.adapters.system import SystemClock
from kiegen.adapters.webhook import WebhookMessenger
from kiegen.apps.http import create_app
from kiegen.services import Config
from tests.http.conftest import AUTH, BASE, CALLBACK_SECRET, WEBHOOK_SECRET, make_settings


def _refuse(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503)


def _app() -> object:
    kie = SimulatedKie(SystemClock(), SimulatorConfig(delay_s=30))
    webhook = WebhookMessenger(WEBHOOK_SECRET, client=httpx.AsyncClient(transport=httpx.MockTransport(_refuse)))
    client = Client(
        store=InMemoryJobStore(),
        kie=kie,
        messengers=[webhook],
        config=Config(public_url=BASE, callback_secret=CALLBACK_SECRET),
        workers=False,
    )
    return create_app(client, make_settings())


APP = _app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_app_keeps_to_its_openapi_document(case: schemathesis.Case) -> None:
    # schemathesis fills the bearer scheme with random tokens: replace them with a valid key, so that the
    # routes behind it are exercised (401s are covered by test_api).
    case.call_and_validate(headers={**(case.headers or {}), **AUTH}, checks=CHECKS)
