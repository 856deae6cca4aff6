"""Albums (issue 16, item 3): several photos sent at once arrive as several messages sharing a
``media_group_id``, each its own update, handled at once and possibly sent again. A model that takes several
gets them all (up to its limit, in message order) with one card; a model that takes one keeps the first and
says so; nothing is taken twice; a restart in the middle loses nothing."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import anyio
import pytest

from kiegen.apps.telegram.config import BotConfig
from kiegen.simulator.png import make_png
from tests.telegram import updates as up
from tests.telegram.harness import Harness

pytestmark = pytest.mark.anyio

U = 961
EDIT10 = "google/nano-banana-edit"  # image_urls, up to 10
CONFIG = BotConfig(split_window_s=0.05, album_window_s=0.2)


def _album(
    bot: Harness, n: int, *, group: str = "album-1", first: int = 50_000, caption: str | None = None
) -> list[Any]:
    """The ``n`` updates of one album, distinct pictures, the caption on the first as Telegram puts it."""
    return [
        up.photo(
            U,
            bot.fake.add_file(make_png(f"{group}-{i}")),
            caption=caption if i == 0 else None,
            media_group_id=group,
            message_id=first + i,
        )
        for i in range(n)
    ]


async def _all_at_once(bot: Harness, updates: list[Any]) -> None:
    """The updates handled concurrently, in a shuffled order (as the Dispatcher may)."""
    shuffled = list(updates)
    random.Random(7).shuffle(shuffled)
    async with anyio.create_task_group() as tg:
        for update in shuffled:
            tg.start_soon(bot.feed, update)


async def _choose(bot: Harness, title: str) -> None:
    await bot.say(U, "/start")
    await bot.press(U, "Change a photo")
    await bot.pick(U, title)


def _uploaded(bot: Harness) -> list[bytes]:
    return [data for data, _ in bot.simulator.uploads.values()]


def _cards(bot: Harness) -> list[dict[str, Any]]:
    return [m for m in bot.fake.sent_to(U) if m.get("reply_markup") and "Nano Banana Edit" in str(m.get("text"))]


async def test_an_album_handled_at_once_becomes_one_draft_with_every_photo_in_order_and_one_card() -> None:
    async with Harness(free_quota=5, config=CONFIG) as bot:
        await _choose(bot, "Nano Banana Edit")
        sent_before = len(bot.fake.sent_to(U))
        album = _album(bot, 4, caption="put them on one poster")
        await _all_at_once(bot, album)

        draft = await bot.bots.get_draft(f"tg:{U}")
        assert draft is not None and draft.album is not None and draft.model == EDIT10
        assert [p.message_id for p in draft.album.photos] == [50_000, 50_001, 50_002, 50_003]
        assert draft.album.pending == () and draft.prompt == "put them on one poster"
        assert sorted(_uploaded(bot)) == sorted(make_png(f"album-1-{i}") for i in range(4))
        assert len(bot.fake.sent_to(U)) == sent_before  # the picker's card became the album's: no new message
        [card] = _cards(bot)
        assert "Photos: 4 attached" in card["text"] and "Top up" in " ".join(bot.labels(card))


async def test_a_free_album_model_starts_once_with_all_the_photos_in_message_order() -> None:
    async with Harness(free_quota=5, prices={EDIT10: 0}, config=CONFIG) as bot:
        await _choose(bot, "Nano Banana Edit")
        await _all_at_once(bot, _album(bot, 3, caption="a collage"))
        [job] = await bot.jobs(U)
        draft = await bot.bots.get_draft(f"tg:{U}")
        assert draft is not None and draft.album is not None and draft.job_id == job.id
        assert list(job.inputs["image_urls"]) == [p.url for p in draft.album.photos] and len(draft.album.photos) == 3
        assert job.metadata["album"] == "album-1"
        await bot.run_for(30)
        assert bot.fake.called("sendPhoto")


async def test_an_album_sent_again_is_not_taken_twice_before_or_after_it_started() -> None:
    async with Harness(free_quota=5, prices={EDIT10: 0}, config=CONFIG) as bot:
        await _choose(bot, "Nano Banana Edit")
        album = _album(bot, 3)
        await _all_at_once(bot, album)
        before = await bot.bots.get_draft(f"tg:{U}")
        messages = len(bot.fake.sent_to(U))
        await _all_at_once(bot, album)  # a new polling leader re-reads the batch
        assert await bot.bots.get_draft(f"tg:{U}") == before
        assert len(_uploaded(bot)) == 3 and len(bot.fake.sent_to(U)) == messages

        await bot.say(U, "turn them into a comic")  # the album's draft starts (free)
        [job] = await bot.jobs(U)
        await _all_at_once(bot, album)  # and again, after the job
        assert len(await bot.jobs(U)) == 1 and len(_uploaded(bot)) == 3
        assert (await bot.bots.get_draft(f"tg:{U}")).job_id == job.id  # type: ignore[union-attr]


async def test_more_photos_than_the_model_takes_keeps_the_first_and_says_so() -> None:
    async with Harness(free_quota=5, prices={EDIT10: 0}, config=CONFIG) as bot:
        await _choose(bot, "Nano Banana Edit")
        await _all_at_once(bot, _album(bot, 12))
        draft = await bot.bots.get_draft(f"tg:{U}")
        assert draft is not None and draft.album is not None
        assert [p.message_id for p in draft.album.photos] == list(range(50_000, 50_010))
        assert draft.album.dropped == (50_010, 50_011)
        assert any(
            "Nano Banana Edit takes up to 10 photos at once: I kept the first 10 of the 12 you sent." in t
            for t in bot.texts(U)
        )


async def test_a_model_that_takes_one_photo_keeps_the_first_of_an_album_in_russian_too() -> None:
    async with Harness(free_quota=5, config=CONFIG) as bot:
        await bot.say(U, "/start", lang="ru")
        album = [
            up.photo(U, bot.fake.add_file(make_png(f"one-{i}")), media_group_id="g1", message_id=60_000 + i, lang="ru")
            for i in range(3)
        ]
        for update in album:  # in order, one after another: the later ones are not even downloaded
            await bot.feed(update)
        draft = await bot.bots.get_draft(f"tg:{U}")
        assert draft is not None and draft.model == "qwen/image-edit"
        assert draft.album is not None and [p.message_id for p in draft.album.photos] == [60_000]
        assert _uploaded(bot) == [make_png("one-0")]
        assert any("Qwen Image-Edit принимает одно фото: взято первое из 3 присланных." in t for t in bot.texts(U))
        assert "Фото: приложено" in bot.card(U)["text"]


async def test_a_photo_that_cannot_be_taken_leaves_the_rest_of_the_album() -> None:
    async with Harness(free_quota=5, prices={EDIT10: 0}, config=CONFIG) as bot:
        await _choose(bot, "Nano Banana Edit")
        album = _album(bot, 3, caption="a triptych")
        broken = up.photo(U, bot.fake.add_file(b"not an image at all"), media_group_id="album-1", message_id=50_003)
        await _all_at_once(bot, [*album, broken])
        assert any("not an image" in t for t in bot.texts(U))
        [job] = await bot.jobs(U)
        assert len(job.inputs["image_urls"]) == 3


async def test_a_restart_in_the_middle_of_an_album_loses_nothing_and_takes_nothing_twice(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    async with Harness(free_quota=5, config=CONFIG, database_url=url) as first:
        await _choose(first, "Nano Banana Edit")
        album = _album(first, 3, caption="a poster")
        await _all_at_once(first, album[:2])
        uploads = len(_uploaded(first))
    async with Harness(free_quota=5, config=CONFIG, database_url=url) as second:
        third = up.photo(U, second.fake.add_file(make_png("album-1-2")), media_group_id="album-1", message_id=50_002)
        await _all_at_once(second, [*album[:2], third])  # the unconfirmed updates again, and the one not handled
        draft = await second.bots.get_draft(f"tg:{U}")
        assert draft is not None and draft.album is not None and draft.prompt == "a poster"
        assert [p.message_id for p in draft.album.photos] == [50_000, 50_001, 50_002]
        assert uploads == 2 and len(_uploaded(second)) == 1
        card = second.card(U)
        assert "Photos: 3 attached" in card["text"]


async def test_again_repeats_an_album_job_with_all_its_photos() -> None:
    async with Harness(free_quota=5, prices={EDIT10: 0}, config=CONFIG) as bot:
        await _choose(bot, "Nano Banana Edit")
        await _all_at_once(bot, _album(bot, 3, caption="a collage"))
        await bot.run_for(30)
        await bot.press(U, "Again", bot.fake.last(U))
        first, second = sorted(await bot.jobs(U), key=lambda job: job.created_at)
        assert second.id != first.id and list(second.inputs["image_urls"]) == list(first.inputs["image_urls"])


async def test_another_model_takes_as_many_of_the_albums_photos_as_it_can() -> None:
    async with Harness(free_quota=5, config=CONFIG) as bot:
        await _choose(bot, "Nano Banana Edit")
        await _all_at_once(bot, _album(bot, 3, caption="a collage"))
        album = await bot.bots.get_draft(f"tg:{U}")
        assert album is not None and album.album is not None
        await bot.press(U, "Model")
        await bot.pick(U, "Seedream 4.0 Edit")  # up to 10: all three come along
        moved = await bot.bots.get_draft(f"tg:{U}")
        assert moved is not None and moved.model == "bytedance/seedream-v4-edit" and moved.images == album.images
        assert "Photos: 3 attached" in bot.card(U)["text"] and moved.prompt == "a collage"
        await bot.press(U, "Model")
        await bot.pick(U, "Qwen Image-Edit")  # one photo: the first
        single = await bot.bots.get_draft(f"tg:{U}")
        assert single is not None and single.images == album.images[:1] and single.album is None
        await bot.press(U, "Generate")
        [job] = await bot.jobs(U)
        assert job.inputs["image_url"] == album.images[0]


@pytest.mark.parametrize(
    ("n", "text"),
    [(1, "Приложена 1 фотография"), (3, "Приложены 3 фотографии"), (5, "Приложено 5 фотографий"), (21, "Приложена 21")],
)
def test_the_russian_photo_count_agrees_with_its_number(n: int, text: str) -> None:
    from kiegen.apps.telegram.i18n import Catalog

    assert Catalog.load().translator("ru").plain("photos_line", n=n).startswith(text)
