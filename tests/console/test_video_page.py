"""The console shows a video job's results as videos (the policy lets the page play them), an image job's as
pictures."""

from __future__ import annotations

import pytest

from kiegen.adapters.memory import SimulatorConfig
from kiegen.catalogue import default_registry
from kiegen.core.jobs import JobStatus
from kiegen.services import Config
from tests.console.conftest import CONSOLE_KEY, bearer
from tests.http.conftest import BASE, CALLBACK_SECRET, Harness, make_settings, serving

pytestmark = pytest.mark.anyio

T2V = "hailuo/02-text-to-video-standard"


async def _succeeded(h: Harness, *job_ids: str) -> bool:
    statuses = [(await h.job(job_id)).status for job_id in job_ids]
    return all(status is JobStatus.SUCCEEDED for status in statuses)


async def test_a_video_jobs_page_plays_its_result_and_an_image_jobs_page_shows_a_picture() -> None:
    config = Config(
        registry=default_registry().with_prices({T2V: 0}),
        public_url=BASE,
        callback_secret=CALLBACK_SECRET,
        worker_interval_s=0.05,
    )
    settings = make_settings(console_keys=(CONSOLE_KEY,))
    sim = SimulatorConfig(delay_s=0.1, video_models=frozenset({T2V}))
    async with serving(settings=settings, config=config, sim=sim) as h:
        video_id = (await h.create(model=T2V, input={"prompt": "a fox running"})).json()["id"]
        image_id = (await h.create()).json()["id"]
        await h.until(lambda: _succeeded(h, video_id, image_id))
        [url] = (await h.job(video_id)).result_urls

        video_page = await h.http.get(f"/console/jobs/{video_id}", headers=bearer())
        image_page = await h.http.get(f"/console/jobs/{image_id}", headers=bearer())

    assert video_page.status_code == 200 and image_page.status_code == 200
    assert f'<video src="{url}"' in video_page.text and "<img src=" not in video_page.text
    assert "<img src=" in image_page.text and "<video" not in image_page.text
    assert "media-src https: http:" in video_page.headers["content-security-policy"]
