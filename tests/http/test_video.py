"""Video in ``/v1`` and in webhooks: a video model's generation says ``media: video`` from the 202 on, its
result URLs are the simulator's real MP4s, and the webhook carries the same media; image jobs say ``image``.
On the in-memory store, SQLite and PostgreSQL, under asyncio and trio."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from kiegen.adapters.memory import SimulatorConfig
from kiegen.apps.http.openapi import openapi_document
from kiegen.catalogue import default_registry
from kiegen.ports.store import JobStore
from kiegen.services import Config
from kiegen.simulator.files import FilesTransport
from tests.conftest import drop_schema
from tests.http.conftest import AUTH, BASE, CALLBACK_SECRET, HOOK_URL, Harness, serving

pytestmark = pytest.mark.anyio

T2V = "hailuo/02-text-to-video-standard"
I2V = "kling/v2-1-standard"


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def video(request: pytest.FixtureRequest, anyio_backend: str, tmp_path: Path) -> AsyncIterator[Harness]:
    sim = SimulatorConfig(delay_s=0.2, video_models=frozenset({T2V, I2V}))
    config = Config(
        registry=default_registry().with_prices({T2V: 0, I2V: 0}),
        public_url=BASE,
        callback_secret=CALLBACK_SECRET,
        worker_interval_s=0.05,
    )
    if request.param == "memory":
        async with serving(sim=sim, config=config) as h:
            yield h
        return
    from kiegen.adapters.sqlalchemy import SqlAlchemyJobStore

    schema = None
    if request.param == "sqlite":
        sql = await SqlAlchemyJobStore.open(f"sqlite+aiosqlite:///{tmp_path / 'kiegen.db'}")
    else:
        schema = f"kiegen_test_{uuid.uuid4().hex[:12]}"
        sql = await SqlAlchemyJobStore.open(request.getfixturevalue("postgres_url"), schema=schema)
    store: JobStore = sql
    try:
        async with serving(sim=sim, config=config, store=store) as h:
            yield h
    finally:
        await sql.aclose()
        if schema is not None:
            await drop_schema(request.getfixturevalue("postgres_url"), schema)


async def test_a_text_to_video_generation_is_video_in_v1_and_in_its_webhook(video: Harness) -> None:
    created = await video.create(model=T2V, input={"prompt": "a fox running"}, webhook_url=HOOK_URL)
    assert created.status_code == 202 and created.json()["media"] == "video"
    job_id = created.json()["id"]

    done = (await video.http.get(f"/v1/generations/{job_id}?wait=10", headers=AUTH)).json()
    assert (done["status"], done["media"]) == ("succeeded", "video")
    [url] = done["result_urls"]
    assert url.endswith(".mp4")
    await video.until(lambda: video.receiver.count(job_id) == 1)
    [hook] = [b for b in video.receiver.bodies() if b["data"]["id"] == job_id]
    assert hook["type"] == "generation.succeeded"
    assert (hook["data"]["media"], hook["data"]["result_urls"]) == ("video", [url])

    # what the URL holds is a real MP4 (the simulator's files, in process)
    async with httpx.AsyncClient(transport=FilesTransport(video.kie)) as files:
        body = (await files.get(url)).content
    assert body[4:8] == b"ftyp" and b"moov" in body


async def test_an_image_to_video_generation_takes_its_image_and_says_video(video: Harness) -> None:
    created = await video.create(model=I2V, input={"prompt": "wave", "image_url": "https://example.com/a.png"})
    assert created.status_code == 202, created.text
    done = (await video.http.get(f"/v1/generations/{created.json()['id']}?wait=10", headers=AUTH)).json()
    assert (done["status"], done["media"], done["input"]["image_url"]) == (
        "succeeded",
        "video",
        "https://example.com/a.png",
    )


async def test_an_image_generation_says_image(video: Harness) -> None:
    created = await video.create(webhook_url=HOOK_URL)
    job_id = created.json()["id"]
    done = (await video.http.get(f"/v1/generations/{job_id}?wait=10", headers=AUTH)).json()
    assert (done["status"], done["media"]) == ("succeeded", "image") and done["result_urls"][0].endswith(".png")
    await video.until(lambda: video.receiver.count(job_id) == 1)
    assert video.receiver.bodies()[-1]["data"]["media"] == "image"


def test_the_openapi_document_names_media_as_a_required_field_of_a_generation() -> None:
    generation = openapi_document()["components"]["schemas"]["Generation"]
    assert "media" in generation["required"]
    assert generation["properties"]["media"]["enum"] == ["image", "video"]
