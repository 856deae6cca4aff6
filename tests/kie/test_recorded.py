"""The recorded-shapes corpus (``tests/kie/recorded/*.json``): every shape KIE_API.md quotes or describes, run
through the real gateway (createTask, recordInfo, upload, credits, download-url) and the callback reader, with
what kiegen must make of each; and the end-to-end consequences the shapes have for a job."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from kiegen import Client, JobStatus
from kiegen.adapters.kie_httpx import HttpxKieGateway, RateLimiter, RetryPolicy
from kiegen.adapters.memory import FakeClock, InMemoryJobStore
from kiegen.cli.record import ENDPOINTS, reading
from kiegen.services import Config
from kiegen.simulator.app import SimulatorApp
from kiegen.simulator.engine import REQUIRED_INPUTS, SimulatedKie, SimulatorConfig
from kiegen.simulator.faults import HttpFault

pytestmark = pytest.mark.anyio

CORPUS = sorted((Path(__file__).parent / "recorded").glob("*.json"))
BASE = "http://kie.test"


def load(path: Path) -> dict[str, Any]:
    entry: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return entry


def test_the_corpus_covers_every_endpoint_and_each_file_names_its_source() -> None:
    entries = [load(p) for p in CORPUS]
    assert len(entries) >= 30
    assert {e["endpoint"] for e in entries} == set(ENDPOINTS)
    for path, entry in zip(CORPUS, entries, strict=True):
        assert entry["source"].strip(), path.name
        assert "expect" in entry and ("body" in entry or "body_text" in entry), path.name


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
async def test_kiegen_reads_each_recorded_shape_as_expected(path: Path) -> None:
    entry = load(path)
    assert await reading(entry) == entry["expect"]


def gateway_over(app: SimulatorApp) -> tuple[httpx.AsyncClient, HttpxKieGateway]:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)
    gw = HttpxKieGateway(
        "k-123456",
        client=http,
        base_url=BASE,
        upload_url=BASE,
        retry=RetryPolicy(deadline=5),
        limiter=RateLimiter(99, 1),
    )
    return http, gw


@pytest.mark.parametrize(
    ("message", "refused"),
    [
        ("This field is required", True),
        ("This interface is temporarily paused.", True),
        ("Server exception, please try again later", False),
    ],
)
async def test_a_create_task_refusal_in_body_500_fails_the_job_at_once_with_kies_message(
    message: str, refused: bool
) -> None:
    clock = FakeClock()
    engine = SimulatedKie(clock, SimulatorConfig(delay_s=1.0))
    app = SimulatorApp(engine, public_url=BASE)
    app.faults.push("createTask", HttpFault.body(500, message))
    http, gw = gateway_over(app)
    async with http, Client(store=InMemoryJobStore(), kie=gw, clock=clock, config=Config(), workers=False) as client:
        job = await client.submit("z-image", {"prompt": "a fox"})
    if refused:  # before: pending, resubmitted after 60 s, "KIE did not accept the task after 2 attempts"
        assert job.status is JobStatus.FAILED and job.error_code == "kie_500"
        assert job.error_message is not None and message in job.error_message
    else:  # a generic 500: the task may exist upstream
        assert job.status is JobStatus.PENDING and job.error_message is None
    assert app.faults.hits["createTask"] == 1


async def test_the_simulator_refuses_a_missing_required_field_like_kie_and_kiegen_fails_the_job() -> None:
    clock = FakeClock()
    engine = SimulatedKie(clock, SimulatorConfig(required_inputs={**REQUIRED_INPUTS, "z-image": ("prompt", "style")}))
    http, gw = gateway_over(SimulatorApp(engine, public_url=BASE))
    async with http, Client(store=InMemoryJobStore(), kie=gw, clock=clock, config=Config(), workers=False) as client:
        job = await client.submit("z-image", {"prompt": "a fox"})
    assert (job.status, job.error_message) == (
        JobStatus.FAILED,
        "createTask: KIE refused the task: This field is required",
    )


async def test_kie_credits_reach_the_job_from_record_info_in_the_live_shape() -> None:
    clock = FakeClock()
    engine = SimulatedKie(clock, SimulatorConfig(delay_s=1.0, task_credits=4.5))
    http, gw = gateway_over(SimulatorApp(engine, public_url=BASE))
    async with http, Client(store=InMemoryJobStore(), kie=gw, clock=clock, config=Config()) as client:
        job = await client.submit("qwen/text-to-image", {"prompt": "a fox"})
        await clock.advance(30, step=1)
        done = await client.wait(job.id)
    assert (done.status, done.kie_credits) == (JobStatus.SUCCEEDED, 4.5)


async def test_every_kie_request_names_kiegen_in_its_user_agent() -> None:
    agents: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        agents.append(request.headers["User-Agent"])
        return httpx.Response(200, json={"code": 200, "msg": "success", "data": 7})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        await HttpxKieGateway("k-123456", client=http).credits()
        await HttpxKieGateway("k-123456", client=http, user_agent="acme/3").credits()
    assert agents[0].startswith("kiegen/") and agents[1] == "acme/3"
