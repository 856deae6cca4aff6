"""The KieGateway contract, held by every gateway: the same scenarios, the same snapshots, the same errors.

Gateways: the in-process ``SimulatedKie``; ``HttpxKieGateway`` over ``httpx.ASGITransport`` to the simulator
app; ``HttpxKieGateway`` over a real socket to the simulator served by uvicorn (in a thread, so the client side
runs under asyncio and trio alike). Time is a ``FakeClock`` shared by the test and the engine.

recordInfo does not document credits (KIE_API.md), so the HTTP gateways report ``credits=None`` where the
in-process engine knows them: snapshots are compared with credits left out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import attrs
import httpx
import pytest

from kiegen.adapters.kie_httpx import HttpxKieGateway, RateLimiter, RetryPolicy
from kiegen.adapters.memory import FakeClock
from kiegen.core.errors import (
    KieAuthError,
    KieError,
    KieOutOfCredits,
    KieRejected,
    KieTaskNotFound,
)
from kiegen.core.jobs import TaskState
from kiegen.core.tasks import TaskSnapshot
from kiegen.ports.kie import KieGateway
from kiegen.simulator.app import SimulatorApp, running_in_thread
from kiegen.simulator.engine import SimulatedKie, SimulatorConfig
from kiegen.simulator.png import PNG_MAGIC, make_png

pytestmark = pytest.mark.anyio

ASGI_BASE = "http://kie.test"


class _Forward:
    """One uvicorn server for the module; each test plugs its own simulator app in."""

    app: SimulatorApp | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            assert self.app is not None, "no simulator app plugged in"
            await self.app(scope, receive, send)
        elif scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})


@pytest.fixture(scope="module")
def socket_server() -> Iterator[tuple[_Forward, str]]:
    forward = _Forward()
    with running_in_thread(forward) as base:
        yield forward, base


@attrs.define
class Kie:
    """A gateway under test, with the engine behind it and a way to read the files it names."""

    name: str
    gateway: KieGateway
    engine: SimulatedKie
    clock: FakeClock
    client: httpx.AsyncClient | None = None

    async def fetch(self, url: str) -> bytes:
        if self.client is None:  # in process: read what the simulator app would serve
            path = urlsplit(url).path
            if path.startswith("/uploads/"):
                return self.engine.uploads[path[len("/uploads/") :]][0]
            task_id, name = path.removeprefix("/results/").split("/")
            png = self.engine.png_for(task_id, int(name.removesuffix(".png")))
            assert png is not None
            return png
        response = await self.client.get(url)
        assert response.status_code == 200, response.text
        return response.content


def _gateway(client: httpx.AsyncClient, base: str) -> HttpxKieGateway:
    return HttpxKieGateway(
        "contract-test-key",
        client=client,
        base_url=base,
        upload_url=base,
        retry=RetryPolicy(attempts=3, deadline=5.0),
        limiter=RateLimiter(1000, 1.0),
        clock=FakeClock(),  # retries are not part of this contract: a retry would stall and fail the test
    )


@pytest.fixture(params=["in-process", "asgi", "socket"])
async def kie(request: pytest.FixtureRequest, anyio_backend: str) -> AsyncIterator[Kie]:
    clock = FakeClock()
    engine = SimulatedKie(clock, SimulatorConfig(delay_s=10.0, credits=Decimal("1000")))
    if request.param == "in-process":
        yield Kie("in-process", engine, engine, clock)
        return
    if request.param == "asgi":
        app = SimulatorApp(engine, public_url=ASGI_BASE)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
            yield Kie("asgi", _gateway(client, ASGI_BASE), engine, clock, client)
        return
    forward, base = request.getfixturevalue("socket_server")
    forward.app = SimulatorApp(engine, public_url=base)
    async with httpx.AsyncClient() as client:
        yield Kie("socket", _gateway(client, base), engine, clock, client)


def _without_credits(snapshot: TaskSnapshot) -> TaskSnapshot:
    return attrs.evolve(snapshot, credits=None)


async def test_a_new_task_is_waiting_then_generating_then_succeeds(kie: Kie) -> None:
    task_id = await kie.gateway.create_task("z-image", {"prompt": "a fox", "aspect_ratio": "1:1"}, callback_url=None)
    assert task_id in kie.engine.tasks
    assert await kie.gateway.get_task(task_id) == TaskSnapshot(
        task_id=task_id, state=TaskState.WAITING, model="z-image"
    )
    await kie.clock.advance(5)
    assert (await kie.gateway.get_task(task_id)).state is TaskState.GENERATING
    await kie.clock.advance(5)
    done = await kie.gateway.get_task(task_id)
    assert done.state is TaskState.SUCCESS
    assert done.fail_code is None
    assert len(done.result_urls) == 1
    assert _without_credits(done) == _without_credits(kie.engine.snapshot(kie.engine.tasks[task_id]))


async def test_the_callback_url_and_inputs_reach_kie_unchanged(kie: Kie) -> None:
    inputs = {"prompt": "a lake", "image_size": "square_hd", "seed": 7, "guidance_scale": 2.5}
    task_id = await kie.gateway.create_task("qwen/text-to-image", inputs, callback_url="https://cb.example/k/1?t=x")
    task = kie.engine.tasks[task_id]
    assert (task.model, dict(task.inputs), task.callback_url) == (
        "qwen/text-to-image",
        inputs,
        "https://cb.example/k/1?t=x",
    )


async def test_several_results_are_distinct_real_pngs(kie: Kie) -> None:
    task_id = await kie.gateway.create_task("qwen/image-edit", {"prompt": "x", "num_images": "3"}, callback_url=None)
    await kie.clock.advance(10)
    snapshot = await kie.gateway.get_task(task_id)
    assert [urlsplit(u).path for u in snapshot.result_urls] == [f"/results/{task_id}/{n}.png" for n in range(3)]
    images = [await kie.fetch(url) for url in snapshot.result_urls]
    assert all(image.startswith(PNG_MAGIC) for image in images)
    assert images == [make_png(f"{task_id}:{n}") for n in range(3)]
    assert len(set(images)) == 3


async def test_a_failed_generation_reads_as_fail_with_code_and_message(kie: Kie) -> None:
    kie.engine.configure(fail_rate=1.0)
    task_id = await kie.gateway.create_task("z-image", {"prompt": "x"}, callback_url=None)
    await kie.clock.advance(10)
    snapshot = await kie.gateway.get_task(task_id)
    assert snapshot == TaskSnapshot(
        task_id=task_id,
        state=TaskState.FAIL,
        fail_code="500",
        fail_message="simulated generation failure",
        model="z-image",
    )


async def test_an_unknown_task_is_task_not_found_and_not_retryable(kie: Kie) -> None:
    with pytest.raises(KieTaskNotFound) as caught:
        await kie.gateway.get_task("no-such-task")
    assert (caught.value.code, caught.value.retryable) == (404, False)
    assert kie.engine.calls["get_task"] == 1


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (KieRejected("bad request", code=400), KieRejected),
        (KieAuthError("key invalid", code=401), KieAuthError),
        (KieOutOfCredits("no credits", code=402), KieOutOfCredits),
        (KieRejected("validation failed", code=422), KieRejected),
        (KieRejected("sub-key cap", code=433), KieRejected),
        (KieRejected("feature disabled", code=505), KieRejected),
    ],
)
async def test_a_refused_create_raises_the_same_error_once(kie: Kie, error: KieError, expected: type[KieError]) -> None:
    kie.engine.fail_create(error)
    with pytest.raises(KieError) as caught:
        await kie.gateway.create_task("z-image", {"prompt": "x"}, callback_url=None)
    assert type(caught.value) is expected
    assert (caught.value.code, caught.value.retryable) == (error.code, False)
    assert kie.engine.calls["create_task"] == 1
    assert kie.engine.tasks == {}


async def test_a_refused_lookup_raises_the_same_error(kie: Kie) -> None:
    task_id = await kie.gateway.create_task("z-image", {"prompt": "x"}, callback_url=None)
    kie.engine.fail_get(KieAuthError("key revoked", code=401))
    with pytest.raises(KieAuthError) as caught:
        await kie.gateway.get_task(task_id)
    assert caught.value.code == 401
    assert (await kie.gateway.get_task(task_id)).state is TaskState.WAITING


async def test_an_upload_gives_a_url_serving_the_same_bytes(kie: Kie) -> None:
    data = make_png("upload")
    url = await kie.gateway.upload(data, filename="cat.png", mime="image/png")
    assert url.startswith(("http://", "https://"))
    assert url.endswith("/cat.png")
    assert await kie.fetch(url) == data
    assert kie.engine.calls["upload"] == 1


@pytest.mark.parametrize("balance", [Decimal("1000"), Decimal("12.5"), Decimal("0")])
async def test_credits_are_the_account_balance(kie: Kie, balance: Decimal) -> None:
    kie.engine.configure(credits=balance)
    assert await kie.gateway.credits() == balance
