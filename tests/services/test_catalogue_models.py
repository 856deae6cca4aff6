"""Catalogue models through the real services: a paid model holds and settles like the seed models, several
input images, video deadlines, and raw input for models kiegen does not know."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kiegen import InsufficientCredits, InvalidInput, JobStatus
from kiegen.core.billing import topup
from kiegen.core.errors import KieRejected
from kiegen.core.validation import RAW_MARK, is_raw
from tests.services.conftest import Kit

pytestmark = pytest.mark.anyio

PHOTOS = ["https://x.test/a.png", "https://x.test/b.png"]
EDIT = "google/nano-banana-edit"


async def _fund(kit: Kit, user: str, amount: int) -> None:
    await kit.store.add_entry(topup(user, amount, key=f"test-topup:{user}", at=kit.clock.now()))


async def test_a_paid_catalogue_model_holds_its_price_and_captures_it_on_success(kit: Kit) -> None:
    price = kit.client.registry.get(EDIT).price
    assert price > 0  # priced by the default markup: nothing was configured
    await _fund(kit, "carol", price + 3)

    job = await kit.submit(EDIT, {"prompt": "put them on a beach", "image_urls": PHOTOS}, user_id="carol")

    assert await kit.store.balance("carol") == 3
    assert job.inputs["image_urls"] == tuple(PHOTOS)
    await kit.clock.advance(6)
    assert (await kit.client.wait(job.id)).status is JobStatus.SUCCEEDED
    assert await kit.store.balance("carol") == 3
    assert [e.kind.value for e in await kit.store.ledger("carol")] == ["topup", "hold", "capture"]
    task = kit.kie.tasks[job.task_id or ""]
    assert task.model == EDIT and task.inputs["image_urls"] == PHOTOS


async def test_a_paid_catalogue_model_refused_by_kie_releases_the_hold(kit: Kit) -> None:
    price = kit.client.registry.get(EDIT).price
    await _fund(kit, "dan", price)
    kit.kie.fail_create(KieRejected("image_urls: unsupported image", code=422))

    job = await kit.submit(EDIT, {"prompt": "p", "image_urls": PHOTOS[:1]}, user_id="dan")

    assert job.status is JobStatus.FAILED
    assert await kit.store.balance("dan") == price
    assert [e.kind.value for e in await kit.store.ledger("dan")] == ["topup", "hold", "release"]


async def test_a_paid_catalogue_model_is_refused_without_the_credits_and_nothing_is_stored(kit: Kit) -> None:
    await _fund(kit, "erin", 1)

    with pytest.raises(InsufficientCredits):
        await kit.submit(EDIT, {"prompt": "p", "image_urls": PHOTOS}, user_id="erin")

    assert await kit.store.list_jobs() == []
    assert kit.kie.calls["create_task"] == 0


async def test_a_video_model_waits_thirty_minutes_before_timing_out(kit: Kit) -> None:
    job = await kit.submit("hailuo/2-3-image-to-video-standard", {"prompt": "walk", "image_url": PHOTOS[0]})

    assert job.deadline_at - job.created_at == timedelta(minutes=30)
    assert job.inputs == {
        "prompt": "walk",
        "image_url": PHOTOS[0],
        "duration": "6",
        "resolution": "768P",
        "nsfw_checker": False,
    }


async def test_raw_input_for_an_unknown_model_reaches_kie_as_given_and_the_job_says_so(kit: Kit) -> None:
    inputs = {"prompt": "a fox", "brand_new_knob": [1, 2], "quality": "ultra"}

    job = await kit.client.submit("acme/new-model", inputs, recipient="test:alice", user_id="alice", raw=True)

    assert is_raw(job) and job.metadata[RAW_MARK] is True
    assert job.price == 0 and job.deadline_at - job.created_at == timedelta(minutes=30)
    assert kit.kie.tasks[job.task_id or ""].inputs == inputs
    await kit.clock.advance(6)
    done = await kit.client.wait(job.id)
    assert done.status is JobStatus.SUCCEEDED and is_raw(done)
    assert await kit.store.ledger("alice") == []  # free: nothing held


async def test_raw_input_for_a_known_paid_model_keeps_its_price(kit: Kit) -> None:
    price = kit.client.registry.get(EDIT).price
    await _fund(kit, "fay", price)

    job = await kit.client.submit(EDIT, {"prompt": "p", "new_knob": True}, user_id="fay", raw=True)

    assert job.price == price and is_raw(job)
    assert await kit.store.balance("fay") == 0
    assert kit.kie.tasks[job.task_id or ""].inputs == {"prompt": "p", "new_knob": True}


async def test_without_raw_an_unknown_model_or_input_is_refused_and_nothing_is_stored(kit: Kit) -> None:
    with pytest.raises(InvalidInput):
        await kit.client.submit("acme/new-model", {"prompt": "a fox"})
    with pytest.raises(InvalidInput) as caught:
        await kit.client.submit(EDIT, {"prompt": "p", "image_urls": PHOTOS, "new_knob": True})

    assert caught.value.fields == ("new_knob",)
    assert await kit.store.list_jobs() == []


@pytest.mark.parametrize(("model", "inputs"), [("", {}), ("two words", {}), ("acme/x", ["prompt"])])
async def test_raw_input_must_still_name_a_model_and_be_an_object(kit: Kit, model: str, inputs: object) -> None:
    with pytest.raises(InvalidInput):
        await kit.client.submit(model, inputs, raw=True)  # type: ignore[arg-type]

    assert await kit.store.list_jobs() == []
