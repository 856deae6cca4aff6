"""The REST API: auth, creating generations (validation, idempotency, webhooks), reading and waiting, models,
and the operations routes."""

from __future__ import annotations

import time

import anyio
import pytest

from kiegen.apps.http.state import fingerprint
from kiegen.core.jobs import JobStatus
from kiegen.simulator.engine import SimulatorConfig
from tests.http.conftest import AUTH, KEYS, Harness, make_settings, serving

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {KEYS[0]}"}, {"Authorization": "Bearer "}],
)
@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/v1/generations"), ("GET", "/v1/generations/x"), ("GET", "/v1/models")]
)
async def test_v1_needs_one_of_the_api_keys(harness: Harness, headers: dict[str, str], method: str, path: str) -> None:
    response = await harness.http.request(method, path, headers=headers, json={"model": "z-image", "input": {}})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert await harness.store.list_jobs() == []


async def test_every_configured_key_is_accepted(harness: Harness) -> None:
    for key in KEYS:
        response = await harness.http.get("/v1/models", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200


async def test_a_generation_is_accepted_stored_and_located(harness: Harness) -> None:
    response = await harness.create(user_id="alice")
    assert response.status_code == 202
    body = response.json()
    assert body["status"] in ("submitted", "pending") and body["model"] == "z-image"
    assert body["input"] == {"prompt": "a red fox in the snow", "aspect_ratio": "1:1", "nsfw_checker": False}
    assert response.headers["Location"] == f"/v1/generations/{body['id']}"
    assert body["user_id"] == "alice"  # as the caller named it; stored within its key's tenant
    job = await harness.job(body["id"])
    assert (job.user_id, job.recipient) == (f"apikey:{fingerprint(KEYS[0])}:alice", "none")


async def test_every_problem_is_listed_with_field_value_message_and_fix(harness: Harness) -> None:
    response = await harness.create(input={"prompt": 5, "aspect_ratio": "2:2", "colour": "red"})
    assert response.status_code == 422
    problems = {p["field"]: p for p in response.json()["error"]["problems"]}
    assert set(problems) == {"input.prompt", "input.aspect_ratio", "input.colour"}
    assert problems["input.aspect_ratio"]["value"] == "2:2"
    assert all(p["message"] and p["fix"] for p in problems.values())
    assert await harness.store.list_jobs() == []


async def test_the_request_shape_is_checked_field_by_field(harness: Harness) -> None:
    body = {"model": 3, "input": [], "user_id": "", "webhook_url": "ftp://x", "extra": 1}
    response = await harness.http.post("/v1/generations", json=body, headers={**AUTH, "Idempotency-Key": ""})
    assert response.status_code == 422
    fields = sorted(p["field"] for p in response.json()["error"]["problems"])
    assert fields == ["Idempotency-Key", "extra", "input", "model", "user_id", "webhook_url"]


@pytest.mark.parametrize("user_id", ["tg:42", "apikey:abcdef"])
async def test_an_api_caller_cannot_act_as_a_telegram_user_or_another_key(harness: Harness, user_id: str) -> None:
    response = await harness.create(user_id=user_id)
    assert response.status_code == 422
    [problem] = response.json()["error"]["problems"]
    assert (problem["field"], problem["value"]) == ("user_id", user_id) and "tg:" in problem["fix"]
    assert await harness.store.list_jobs() == []


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'{"model": NaN}', b"\xff\xfe"])
async def test_a_body_that_is_not_a_json_object_is_422(harness: Harness, raw: bytes) -> None:
    response = await harness.http.post("/v1/generations", content=raw, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["error"]["problems"][0]["field"] == "body"


async def test_an_unknown_model_names_close_matches(harness: Harness) -> None:
    response = await harness.create(model="z-imag")
    problems = response.json()["error"]["problems"]
    assert problems[0]["field"] == "model" and "z-image" in problems[0]["fix"]


async def test_the_same_idempotency_key_returns_the_same_generation(harness: Harness) -> None:
    headers = {**AUTH, "Idempotency-Key": "order-42"}
    first = await harness.http.post(
        "/v1/generations", json={"model": "z-image", "input": {"prompt": "a"}}, headers=headers
    )
    again = await harness.http.post(
        "/v1/generations", json={"model": "z-image", "input": {"prompt": "a"}}, headers=headers
    )
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    other_key = await harness.http.post(
        "/v1/generations",
        json={"model": "z-image", "input": {"prompt": "a"}},
        headers={**AUTH, "Idempotency-Key": "43"},
    )
    other_user = await harness.http.post(
        "/v1/generations", json={"model": "z-image", "input": {"prompt": "a"}, "user_id": "bob"}, headers=headers
    )
    assert len({first.json()["id"], other_key.json()["id"], other_user.json()["id"]}) == 3
    assert len(harness.kie.tasks) == 3  # the replay reached KIE zero times


async def test_concurrent_requests_with_one_idempotency_key_make_one_generation(harness: Harness) -> None:
    ids: list[str] = []

    async def post() -> None:
        response = await harness.http.post(
            "/v1/generations",
            json={"model": "z-image", "input": {"prompt": "a"}},
            headers={**AUTH, "Idempotency-Key": "k"},
        )
        ids.append(response.json()["id"])

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(post)
    assert len(set(ids)) == 1 and len(harness.kie.tasks) == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8080/",
        "http://[::ffff:10.0.0.1]/",
        "http://2130706433/",
        "http://169.254.169.254/",
    ],
)
async def test_a_webhook_url_to_a_private_address_is_refused_at_once(harness: Harness, url: str) -> None:
    response = await harness.create(webhook_url=url)
    assert response.status_code == 422
    assert response.json()["error"]["problems"][0]["field"] == "webhook_url"


async def test_without_a_webhook_secret_webhook_urls_are_refused() -> None:
    async with serving(settings=make_settings(webhook_secret=None)) as h:
        response = await h.create(webhook_url="https://hooks.example.com/x")
        assert response.status_code == 422
        assert "KIEGEN_WEBHOOK_SECRET" in response.json()["error"]["problems"][0]["fix"]
        assert (await h.create()).status_code == 202


async def test_a_paid_model_without_credits_is_402_and_nothing_is_stored(harness: Harness) -> None:
    body = {"prompt": "x", "image_url": "https://img.example.com/a.png"}
    response = await harness.create(model="qwen/image-edit", input=body, user_id="poor")
    assert response.status_code == 402
    assert response.json()["error"]["needed"] == 5
    assert await harness.store.list_jobs() == []


async def test_get_answers_404_for_an_unknown_generation(harness: Harness) -> None:
    response = await harness.http.get("/v1/generations/nope", headers=AUTH)
    assert response.status_code == 404


async def test_wait_answers_as_soon_as_the_callback_is_stored(harness: Harness) -> None:
    job_id = (await harness.create()).json()["id"]
    started = time.monotonic()
    response = await harness.http.get(f"/v1/generations/{job_id}?wait=10", headers=AUTH)
    assert response.json()["status"] == "succeeded"
    assert time.monotonic() - started < 2  # the simulator takes 0.2 s; the first KIE check would be at 12 s
    assert harness.kie.calls["get_task"] == 0


async def test_wait_is_bounded_by_its_parameter() -> None:
    async with serving(sim=SimulatorConfig(delay_s=30.0)) as h:
        job_id = (await h.create()).json()["id"]
        started = time.monotonic()
        response = await h.http.get(f"/v1/generations/{job_id}?wait=0.3", headers=AUTH)
        assert response.status_code == 200 and response.json()["status"] == "submitted"
        assert 0.25 < time.monotonic() - started < 2


@pytest.mark.parametrize("wait", ["-1", "61", "soon", "nan", "inf"])
async def test_wait_outside_0_to_60_seconds_is_422(harness: Harness, wait: str) -> None:
    job_id = (await harness.create()).json()["id"]
    response = await harness.http.get(f"/v1/generations/{job_id}?wait={wait}", headers=AUTH)
    assert response.status_code == 422


async def test_models_list_every_model_of_the_catalogue_with_every_input_and_its_rules(harness: Harness) -> None:
    models = {m["id"]: m for m in (await harness.http.get("/v1/models", headers=AUTH)).json()["models"]}
    assert set(models) == {spec.id for spec in harness.client.registry}
    assert {"z-image", "qwen/text-to-image", "qwen/image-to-image", "qwen/image-edit"} <= set(models)
    photos = next(i for i in models["seedream/4.5-edit"]["inputs"] if i["name"] == "image_urls")
    assert (photos["type"], photos["max_items"]) == ("url_list", 14)
    assert models["hailuo/2-3-image-to-video-pro"]["media"] == "video"
    steps = next(i for i in models["qwen/image-edit"]["inputs"] if i["name"] == "num_inference_steps")
    assert (steps["min"], steps["max"], steps["default"]) == (2, 49, 25)
    assert models["qwen/image-edit"]["price"] == 5


async def test_health_readiness_and_metrics_answer(harness: Harness) -> None:
    assert (await harness.http.get("/healthz")).json() == {"status": "ok"}
    ready = await harness.http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    metrics = await harness.http.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    for name in ("kiegen_callbacks_total", "kiegen_deliveries_total", "kiegen_time_to_first_byte_seconds"):
        assert name in metrics.text


async def test_each_app_has_its_own_metrics_registry() -> None:
    async with serving() as one, serving() as two:
        await one.http.post("/callbacks/kie/x?token=bad", content=b"{}")
        text_one = (await one.http.get("/metrics")).text
        text_two = (await two.http.get("/metrics")).text
        assert 'kiegen_callbacks_total{outcome="forged"} 1.0' in text_one
        assert 'outcome="forged"' not in text_two


async def test_the_openapi_document_describes_every_route(harness: Harness) -> None:
    document = (await harness.http.get("/openapi.json")).json()
    described = {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}
    served = {
        (method, route.path)  # type: ignore[attr-defined]
        for route in harness.app.routes
        # a mounted app (the operator console's HTML pages at /console) has no methods: it is not the API
        for method in getattr(route, "methods", None) or ()
        if method != "HEAD"
    }
    assert described == served


async def test_a_job_delivered_by_webhook_is_the_one_get_shows(harness: Harness) -> None:
    job_id = (await harness.create(webhook_url="https://hooks.example.com/a")).json()["id"]
    await harness.until(lambda: harness.receiver.count(job_id) == 1)
    shown = (await harness.http.get(f"/v1/generations/{job_id}", headers=AUTH)).json()
    assert harness.receiver.bodies()[0]["data"] == shown
    assert shown["status"] == JobStatus.SUCCEEDED.value
