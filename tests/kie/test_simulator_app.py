"""The KIE simulator app speaks KIE's HTTP API: auth, validation, uploads, faults, and callbacks over HTTP."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest

from kiegen.adapters.kie_httpx import HttpxKieGateway, RateLimiter, RetryPolicy
from kiegen.adapters.memory import FakeClock
from kiegen.adapters.system import SystemClock
from kiegen.core.errors import KieAuthError, KieRateLimited
from kiegen.core.jobs import TaskState
from kiegen.core.tasks import parse_task_data
from kiegen.simulator.app import CallbackRefused, SimulatorApp, create_app, httpx_callback_sink, running_in_thread
from kiegen.simulator.engine import REQUIRED_INPUTS, CallbackMode, Shape, SimulatedKie, SimulatorConfig
from kiegen.simulator.faults import FaultKind, HttpFault, parse_fault
from kiegen.simulator.png import PNG_MAGIC

pytestmark = pytest.mark.anyio

BASE = "http://kie.test"
AUTH = {"Authorization": "Bearer any-key"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def engine(clock: FakeClock) -> SimulatedKie:
    return SimulatedKie(clock, SimulatorConfig(delay_s=4.0))


@pytest.fixture
async def client(engine: SimulatedKie) -> AsyncIterator[httpx.AsyncClient]:
    app = SimulatorApp(engine, public_url=BASE)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        yield client


def app_of(client: httpx.AsyncClient) -> SimulatorApp:
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    app = transport.app
    assert isinstance(app, SimulatorApp)
    return app


async def test_requests_without_a_bearer_key_get_body_code_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/chat/credit")
    assert response.status_code == 200
    assert response.json()["code"] == 401


async def test_a_configured_key_must_match() -> None:
    app = create_app(SimulatedKie(FakeClock()), api_key="the-right-key", public_url=BASE)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        wrong = HttpxKieGateway("the-wrong-key", client=http, base_url=BASE, upload_url=BASE)
        with pytest.raises(KieAuthError):
            await wrong.credits()
        right = HttpxKieGateway("the-right-key", client=http, base_url=BASE, upload_url=BASE)
        assert await right.credits() == 1000


@pytest.mark.parametrize(
    ("body", "code"),
    [(b"not json", 400), (b'{"input": {}}', 422), (b'{"model": "z-image", "input": "x"}', 422)],
)
async def test_create_task_validates_its_body(client: httpx.AsyncClient, body: bytes, code: int) -> None:
    response = await client.post("/api/v1/jobs/createTask", content=body, headers=AUTH)
    assert response.json()["code"] == code


async def test_record_info_answers_kies_shape_with_json_strings(client: httpx.AsyncClient, clock: FakeClock) -> None:
    created = await client.post(
        "/api/v1/jobs/createTask", json={"model": "z-image", "input": {"prompt": "fox"}}, headers=AUTH
    )
    task_id = created.json()["data"]["taskId"]
    assert (await client.get("/api/v1/jobs/recordInfo", headers=AUTH)).json()["code"] == 400
    await clock.advance(4)
    data = (await client.get("/api/v1/jobs/recordInfo", params={"taskId": task_id}, headers=AUTH)).json()["data"]
    assert isinstance(data["param"], str)
    assert json.loads(data["param"]) == {"model": "z-image", "input": json.dumps({"prompt": "fox"})}  # [live]
    assert json.loads(data["resultJson"]) == {"resultUrls": [f"{BASE}/results/{task_id}/0.png"]}
    assert (data["failCode"], data["failMsg"], data["costTime"], data["creditsConsumed"]) == (None, None, 4, 0.8)
    image = await client.get(f"/results/{task_id}/0.png")
    assert (image.status_code, image.headers["content-type"]) == (200, "image/png")
    assert image.content.startswith(PNG_MAGIC)
    assert (await client.get(f"/results/{task_id}/1.png")).status_code == 404


async def test_the_docs_shape_knob_answers_like_the_older_documentation(clock: FakeClock) -> None:
    engine = SimulatedKie(clock, SimulatorConfig(delay_s=4.0, shape=Shape.DOCS))
    app = SimulatorApp(engine, public_url=BASE)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        created = await http.post(
            "/api/v1/jobs/createTask", json={"model": "m", "input": {"prompt": "x"}}, headers=AUTH
        )
        await clock.advance(4)
        params = {"taskId": created.json()["data"]["taskId"]}
        data = (await http.get("/api/v1/jobs/recordInfo", params=params, headers=AUTH)).json()["data"]
    assert json.loads(data["param"])["input"] == {"prompt": "x"}
    assert (data["failCode"], data["failMsg"], data["costTime"]) == ("", "", 4000) and "creditsConsumed" not in data
    callback = json.loads(engine.callback_body(engine.tasks[params["taskId"]]))["data"]
    assert (callback["consumeCredits"], "creditsConsumed" in callback) == (0.8, False)


@pytest.mark.parametrize(
    ("config", "inputs", "code", "message"),
    [
        (SimulatorConfig(required_inputs=REQUIRED_INPUTS), {"prompt": "x"}, 500, "This field is required"),
        (
            SimulatorConfig(paused_models=frozenset({"z-image"})),
            {"prompt": "x"},
            500,
            "This interface is temporarily paused.",
        ),
        (
            SimulatorConfig(models=frozenset({"qwen/text-to-image"})),
            {"prompt": "x"},
            404,
            "The model z-image does not exist",
        ),
        (
            SimulatorConfig(required_inputs=REQUIRED_INPUTS, shape=Shape.DOCS),
            {"prompt": "x"},
            422,
            "aspect_ratio is required",
        ),
    ],
)
async def test_create_task_refusals_are_answered_in_the_body_like_kie(
    clock: FakeClock, config: SimulatorConfig, inputs: dict[str, Any], code: int, message: str
) -> None:
    app = SimulatorApp(SimulatedKie(clock, config), public_url=BASE)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        response = await http.post("/api/v1/jobs/createTask", json={"model": "z-image", "input": inputs}, headers=AUTH)
    assert (response.status_code, response.json()) == (200, {"code": code, "msg": message, "data": None})


async def test_the_public_url_is_learnt_from_the_first_request() -> None:
    engine = SimulatedKie(FakeClock())
    app = create_app(engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim.local:9999") as http:
        await http.get("/api/v1/chat/credit", headers=AUTH)
    assert engine.config.result_base_url == "http://sim.local:9999"


async def test_stream_upload_keeps_the_path_and_name(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/file-stream-upload",
        files={"file": ("cat.png", b"\x89PNG fake", "image/png")},
        data={"uploadPath": "images/user-1", "fileName": "renamed.png"},
        headers=AUTH,
    )
    body = response.json()
    assert (body["code"], body["success"]) == (200, True)
    assert body["data"]["downloadUrl"] == f"{BASE}/uploads/images/user-1/renamed.png"
    served = await client.get("/uploads/images/user-1/renamed.png")
    assert (served.content, served.headers["content-type"]) == (b"\x89PNG fake", "image/png")


async def test_uploads_without_a_file_or_with_bad_base64_are_refused(client: httpx.AsyncClient) -> None:
    no_file = await client.post("/api/file-stream-upload", data={"uploadPath": "x"}, headers=AUTH)
    bad = await client.post(
        "/api/file-base64-upload", json={"base64Data": "%%%", "uploadPath": "x", "fileName": "a.png"}, headers=AUTH
    )
    assert (no_file.json()["code"], bad.json()["code"]) == (400, 400)


async def test_base64_upload_accepts_a_data_url(client: httpx.AsyncClient) -> None:
    payload = {
        "base64Data": "data:image/webp;base64," + base64.b64encode(b"RIFF....WEBP").decode(),
        "uploadPath": "in",
        "fileName": "a.webp",
    }
    url = (await client.post("/api/file-base64-upload", json=payload, headers=AUTH)).json()["data"]["downloadUrl"]
    served = await client.get(url)
    assert (served.content, served.headers["content-type"]) == (b"RIFF....WEBP", "image/webp")


async def test_a_body_that_is_not_multipart_is_refused_by_the_stream_upload(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/file-stream-upload", content=b"whatever", headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.json()["code"] == 400


def test_fault_specs_parse_into_faults() -> None:
    assert parse_fault("createTask:status=429,retry-after=2,times=3") == (
        "createTask",
        HttpFault(kind=FaultKind.STATUS, code=429, retry_after="2"),
        3,
    )
    assert parse_fault("*:hang=1.5") == ("*", HttpFault(kind=FaultKind.HANG, seconds=1.5), 1)
    assert parse_fault("recordInfo:body=455,message=maintenance")[1] == HttpFault.body(455, "maintenance")
    for bad in ("createTask", "nowhere:body=400", "createTask:explode", "createTask:body=x", "credit:body=1,foo=2"):
        with pytest.raises(ValueError, match="fault"):
            parse_fault(bad)


async def test_startup_faults_are_served_in_order_then_normal_answers() -> None:
    app = create_app(SimulatedKie(FakeClock()), public_url=BASE, faults=["credit:status=429,retry-after=1,times=2"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        statuses = [(await http.get("/api/v1/chat/credit", headers=AUTH)) for _ in range(3)]
        assert [r.status_code for r in statuses] == [429, 429, 200]
        assert statuses[0].headers["retry-after"] == "1"
        gw = HttpxKieGateway(
            "k-123456", client=http, base_url=BASE, upload_url=BASE, retry=RetryPolicy(attempts=1, deadline=1.0)
        )
        app.faults.push("credit", HttpFault.status(429, retry_after=5))
        with pytest.raises(KieRateLimited) as caught:
            await gw.credits()
        assert caught.value.retry_after == 5.0
    assert app.faults.hits["credit"] == 4


async def test_callbacks_are_posted_in_kies_shape_through_the_httpx_sink(clock: FakeClock) -> None:
    received: list[tuple[str, bytes]] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        received.append((str(request.url), request.content))
        return httpx.Response(200 if len(received) == 1 else 500)

    sink = httpx_callback_sink(httpx.AsyncClient(transport=httpx.MockTransport(receiver)))
    engine = SimulatedKie(clock, SimulatorConfig(delay_s=4.0, callbacks=CallbackMode.DUPLICATE, duplicates=2))
    engine.callback_sink = sink
    async with engine:
        task_id = await engine.create_task("z-image", {"prompt": "x"}, callback_url="https://app.test/cb/j1?t=tok")
        await clock.advance(4)
    assert [url for url, _ in received] == ["https://app.test/cb/j1?t=tok"] * 2
    snapshot = parse_task_data(json.loads(received[0][1])["data"])
    assert snapshot is not None
    assert (snapshot.task_id, snapshot.state) == (task_id, TaskState.SUCCESS)
    assert [status for _, status in sink.statuses] == [200, 500]
    assert [type(e) for e in engine.callback_errors] == [CallbackRefused]


async def test_a_served_simulator_runs_its_engine_and_calls_back_over_real_http() -> None:
    received: list[bytes] = []
    arrived = threading.Event()  # the receiver runs on the server thread's loop

    async def receiver(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        message = await receive()
        received.append(message.get("body", b""))
        arrived.set()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    simulator = create_app(clock=SystemClock(), config=SimulatorConfig(delay_s=0.05))
    with running_in_thread(receiver) as callback_base, running_in_thread(simulator) as base:
        async with httpx.AsyncClient() as http:
            gw = HttpxKieGateway("k-123456", client=http, base_url=base, upload_url=base, limiter=RateLimiter(9, 1))
            task_id = await gw.create_task("z-image", {"prompt": "x"}, callback_url=f"{callback_base}/cb")
            assert await anyio.to_thread.run_sync(arrived.wait, 3)
            snapshot = await gw.get_task(task_id)
            image = await http.get(snapshot.result_urls[0])
    assert len(received) == 1
    body = json.loads(received[0])
    assert (body["code"], body["data"]["taskId"], body["data"]["state"]) == (200, task_id, "success")
    assert image.content.startswith(PNG_MAGIC)
