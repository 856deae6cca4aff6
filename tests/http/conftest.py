"""The HTTP app in process: driven through ``httpx.ASGITransport`` with its lifespan run by ``serving``.

The wiring is the app's: a ``Client`` around the in-memory store and the KIE simulator on real time (short
tasks), whose callbacks are POSTed *through the app* (so every callback test exercises the route), and a
``WebhookMessenger`` whose HTTP client is an ``httpx.MockTransport`` receiver that records what it got.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import attrs
import httpx
import pytest
from starlette.applications import Starlette

from kiegen import Client
from kiegen.adapters.memory import InMemoryJobStore, SimulatedKie, SimulatorConfig
from kiegen.adapters.system import SystemClock
from kiegen.adapters.webhook import WebhookMessenger
from kiegen.apps.http import create_app
from kiegen.catalogue import default_registry
from kiegen.core.callbacks import callback_token
from kiegen.core.jobs import Job
from kiegen.ports.store import JobStore
from kiegen.services import Config
from kiegen.settings import Settings

BASE = "http://kiegen.test"
KEYS = ("key-one-0123456789", "key-two-9876543210")
AUTH = {"Authorization": f"Bearer {KEYS[0]}"}
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"a webhook secret of 32 bytes!!!!").decode()
CALLBACK_SECRET = b"callback-secret-for-tests"
HOOK_URL = "https://hooks.example.com/kiegen"


async def public_dns(host: str, port: int) -> list[str]:
    await anyio.lowlevel.checkpoint()
    return ["93.184.216.34"]


@attrs.define
class Receiver:
    """A webhook receiver behind ``httpx.MockTransport``: records requests, answers ``status``."""

    status: int = 200
    requests: list[httpx.Request] = attrs.field(factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]

    def count(self, job_id: str) -> int:
        return sum(1 for body in self.bodies() if body["data"]["id"] == job_id)


@attrs.define
class Harness:
    app: Starlette
    http: httpx.AsyncClient
    client: Client
    kie: SimulatedKie
    store: JobStore
    receiver: Receiver
    config: Config

    def callback_url(self, job_id: str, token: str | None = None) -> str:
        token = token if token is not None else callback_token(CALLBACK_SECRET, job_id)
        return f"/callbacks/kie/{job_id}?token={token}"

    async def create(self, **body: Any) -> httpx.Response:
        body.setdefault("model", "z-image")
        body.setdefault("input", {"prompt": "a red fox in the snow"})
        return await self.http.post("/v1/generations", json=body, headers=AUTH)

    async def until(self, predicate: Callable[[], Any], timeout: float = 5.0) -> None:
        with anyio.fail_after(timeout):
            # Polling is the point: the condition spans the store, the receiver and the simulator.
            while not await _value(predicate()):  # noqa: ASYNC110
                await anyio.sleep(0.02)

    async def job(self, job_id: str) -> Job:
        job = await self.store.get(job_id)
        assert job is not None
        return job


async def _value(value: Any) -> Any:
    if hasattr(value, "__await__"):
        return await value
    return value


def make_settings(**changes: Any) -> Settings:
    base = Settings(api_keys=KEYS, webhook_secret=WEBHOOK_SECRET, allow_private_urls=False, public_url=BASE)
    return attrs.evolve(base, **changes)


@asynccontextmanager
async def serving(
    *,
    sim: SimulatorConfig | None = None,
    settings: Settings | None = None,
    config: Config | None = None,
    workers: bool = True,
    drain_s: float = 2.0,
    store: JobStore | None = None,
) -> AsyncIterator[Harness]:
    settings = settings or make_settings()
    config = config or Config(
        registry=default_registry().with_prices({"qwen/image-edit": 5}),
        public_url=BASE,
        callback_secret=CALLBACK_SECRET,
        worker_interval_s=0.05,
    )
    receiver = Receiver()
    kie = SimulatedKie(SystemClock(), sim or SimulatorConfig(delay_s=0.2))
    store = store or InMemoryJobStore()
    hooks = httpx.AsyncClient(transport=httpx.MockTransport(receiver.handler))
    messenger = WebhookMessenger(WEBHOOK_SECRET, client=hooks, resolver=public_dns)
    client = Client(store=store, kie=kie, messengers=[messenger], config=config, resources=[kie], workers=workers)
    app = create_app(client, settings, drain_s=drain_s)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:

        async def post_callback(url: str, body: bytes) -> int:
            response = await http.post(url, content=body, headers={"Content-Type": "application/json"})
            return response.status_code

        kie.callback_sink = post_callback
        async with app.router.lifespan_context(app):
            yield Harness(app, http, client, kie, store, receiver, config)
    await hooks.aclose()


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    async with serving() as h:
        yield h
