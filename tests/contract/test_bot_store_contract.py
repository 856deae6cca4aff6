"""The BotStore contract (``kiegen.ports.bot``), clause by clause, over every adapter: memory, SQLite and
PostgreSQL, under asyncio and trio. Fixtures: ``tests/contract/conftest.py`` (``bot_store`` lives on the
``store`` fixture's database)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import anyio
import attrs
import pytest

from kiegen.ports.bot import Album, AlbumPhoto, BotStore, BotUser, Draft, Payment

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MSK = timezone(timedelta(hours=3))
RACERS = 200
SUPERGROUP = -1001234567890123  # beyond 32 bits, as supergroup and channel ids are


def make_draft(user_id: str = "tg:1", **changes: Any) -> Draft:
    fields: dict[str, Any] = {
        "id": "draft-1",
        "user_id": user_id,
        "model": "google/nano-banana",
        "updated_at": T0,
    }
    fields.update(changes)
    return Draft(**fields)


def make_payment(charge: str, *, user_id: str = "tg:1", at: datetime = T0, **changes: Any) -> Payment:
    fields: dict[str, Any] = {
        "telegram_payment_charge_id": charge,
        "provider_payment_charge_id": None,
        "user_id": user_id,
        "currency": "XTR",
        "total_amount": 50,
        "credits": 100,
        "payload": f"pack:100:{charge}",
        "ledger_key": f"stars:{charge}",
        "created_at": at,
    }
    fields.update(changes)
    return Payment(**fields)


# users


async def test_ensure_user_creates_an_unknown_user_with_its_locale_and_time(bot_store: BotStore) -> None:
    user, created = await bot_store.ensure_user("tg:1", locale="ru", now=T0)
    assert created
    assert user == BotUser(user_id="tg:1", locale="ru", created_at=T0)
    assert await bot_store.get_user("tg:1") == user


async def test_ensure_user_may_create_a_user_without_a_locale(bot_store: BotStore) -> None:
    user, created = await bot_store.ensure_user("tg:1", locale=None, now=T0)
    assert created and user.locale is None
    assert await bot_store.get_user("tg:1") == user


async def test_ensure_user_returns_the_stored_user_unchanged_whatever_it_is_passed(bot_store: BotStore) -> None:
    first, _ = await bot_store.ensure_user("tg:1", locale="en", now=T0)
    again, created = await bot_store.ensure_user("tg:1", locale="ru", now=T0 + timedelta(days=1))
    assert not created
    assert again == first
    assert await bot_store.get_user("tg:1") == first


async def test_a_language_chosen_with_set_locale_survives_a_later_ensure_user(bot_store: BotStore) -> None:
    await bot_store.ensure_user("tg:1", locale="en", now=T0)
    await bot_store.set_locale("tg:1", "ru", now=T0 + timedelta(minutes=1))
    user, created = await bot_store.ensure_user("tg:1", locale="en", now=T0 + timedelta(minutes=2))
    assert not created and user.locale == "ru"


async def test_ensure_user_racing_for_one_new_user_creates_it_once(bot_store: BotStore) -> None:
    results: list[tuple[BotUser, bool]] = []

    async def start(n: int) -> None:
        results.append(await bot_store.ensure_user("tg:race", locale=f"l{n}", now=T0 + timedelta(seconds=n)))

    async with anyio.create_task_group() as tg:
        for n in range(8):
            tg.start_soon(start, n)
    assert sum(created for _, created in results) == 1
    [winner] = [user for user, created in results if created]
    assert all(user == winner for user, _ in results)
    assert await bot_store.get_user("tg:race") == winner


async def test_get_user_returns_none_for_an_unknown_user(bot_store: BotStore) -> None:
    await bot_store.ensure_user("tg:1", locale="en", now=T0)
    assert await bot_store.get_user("tg:2") is None


async def test_set_locale_changes_the_language_of_a_known_user_and_keeps_created_at(bot_store: BotStore) -> None:
    await bot_store.ensure_user("tg:1", locale="en", now=T0)
    changed = await bot_store.set_locale("tg:1", "ru", now=T0 + timedelta(hours=5))
    assert changed == BotUser(user_id="tg:1", locale="ru", created_at=T0)
    assert await bot_store.get_user("tg:1") == changed


async def test_set_locale_creates_an_unknown_user(bot_store: BotStore) -> None:
    created = await bot_store.set_locale("tg:9", "ru", now=T0)
    assert created == BotUser(user_id="tg:9", locale="ru", created_at=T0)
    assert await bot_store.get_user("tg:9") == created
    assert await bot_store.ensure_user("tg:9", locale="en", now=T0) == (created, False)


async def test_a_locale_of_sixteen_characters_is_kept_whole(bot_store: BotStore) -> None:
    tag = "zh-Hant-TW-x-abc"
    assert len(tag) == 16
    await bot_store.set_locale("tg:1", tag, now=T0)
    user = await bot_store.get_user("tg:1")
    assert user is not None and user.locale == tag


async def test_user_timestamps_come_back_aware_and_the_same_instant(bot_store: BotStore) -> None:
    await bot_store.ensure_user("tg:1", locale="en", now=T0.astimezone(MSK))
    user = await bot_store.get_user("tg:1")
    assert user is not None
    assert user.created_at == T0 and user.created_at.utcoffset() is not None


# drafts


async def test_a_saved_draft_reads_back_equal_in_every_field(bot_store: BotStore) -> None:
    draft = make_draft(
        options={"aspect_ratio": "16:9", "n": 2, "strength": 0.75, "flags": [True, None, "x"], "nested": {"a": {}}},
        prompt="a fox in the snow — «лиса» 🦊",
        image_url="https://tempfile.redpandaai.co/kieai/abc/photo.png",
        chat_id=SUPERGROUP,
        card_message_id=2**31 + 7,
        prompt_message_id=2**40 + 3,
        job_id="job-000001",
        updated_at=T0.astimezone(MSK) + timedelta(microseconds=123456),
    )
    await bot_store.save_draft(draft)
    stored = await bot_store.get_draft("tg:1")
    assert stored == draft
    assert stored is not None and stored.updated_at.utcoffset() is not None


async def test_a_draft_with_only_the_required_fields_reads_back_equal(bot_store: BotStore) -> None:
    draft = make_draft()
    await bot_store.save_draft(draft)
    assert await bot_store.get_draft("tg:1") == draft


async def test_saving_a_draft_replaces_the_users_previous_one_whatever_its_id(bot_store: BotStore) -> None:
    await bot_store.save_draft(make_draft(id="draft-1", options={"n": 1}, prompt="first", chat_id=5))
    second = make_draft(id="draft-2", model="flux/kontext", updated_at=T0 + timedelta(minutes=1))
    await bot_store.save_draft(second)
    assert await bot_store.get_draft("tg:1") == second


async def test_saving_the_same_draft_again_records_its_changes(bot_store: BotStore) -> None:
    draft = make_draft(prompt="a fox")
    await bot_store.save_draft(draft)
    submitted = attrs.evolve(draft, job_id="job-1", card_message_id=17, updated_at=T0 + timedelta(seconds=3))
    await bot_store.save_draft(submitted)
    assert await bot_store.get_draft("tg:1") == submitted


async def test_get_draft_returns_none_when_the_user_has_none(bot_store: BotStore) -> None:
    await bot_store.save_draft(make_draft("tg:1"))
    assert await bot_store.get_draft("tg:2") is None


async def test_drop_draft_removes_it_and_is_quiet_when_there_is_none(bot_store: BotStore) -> None:
    await bot_store.save_draft(make_draft("tg:1"))
    await bot_store.drop_draft("tg:1")
    assert await bot_store.get_draft("tg:1") is None
    await bot_store.drop_draft("tg:1")
    await bot_store.drop_draft("tg:never")


async def test_drafts_of_different_users_are_independent(bot_store: BotStore) -> None:
    alice = make_draft("tg:alice", id="a", prompt="alice")
    bob = make_draft("tg:bob", id="b", prompt="bob")
    await bot_store.save_draft(alice)
    await bot_store.save_draft(bob)
    await bot_store.save_draft(attrs.evolve(alice, prompt="alice again"))
    assert await bot_store.get_draft("tg:bob") == bob
    await bot_store.drop_draft("tg:alice")
    assert await bot_store.get_draft("tg:bob") == bob


ALBUM = Album(
    id="13601234567890123",
    photos=[AlbumPhoto(message_id=2**40 + 1, url="https://kie.example/1.png"), AlbumPhoto(message_id=7, url="u2")],
    dropped=[9, 10],
    pending=[11],
    last=10,
)


async def test_a_drafts_album_reads_back_equal_photos_in_their_order(bot_store: BotStore) -> None:
    draft = make_draft(image_url="https://kie.example/1.png", album=ALBUM)
    await bot_store.save_draft(draft)
    stored = await bot_store.get_draft("tg:1")
    assert stored == draft and stored is not None and stored.images == ("https://kie.example/1.png", "u2")
    await bot_store.save_draft(attrs.evolve(draft, album=None))
    assert (await bot_store.get_draft("tg:1")) == attrs.evolve(draft, album=None)


async def test_update_draft_stores_what_the_change_returns_and_none_leaves_it(bot_store: BotStore) -> None:
    seen: list[Draft | None] = []

    def create(stored: Draft | None) -> Draft | None:
        seen.append(stored)
        return make_draft(prompt="new") if stored is None else None

    assert await bot_store.update_draft("tg:1", create) == make_draft(prompt="new")
    assert seen[-1] is None
    assert await bot_store.update_draft("tg:1", create) == make_draft(prompt="new")  # None: left as it was
    assert seen[-1] == make_draft(prompt="new")
    assert await bot_store.get_draft("tg:1") == make_draft(prompt="new")
    assert await bot_store.update_draft("tg:2", lambda _stored: None) is None
    assert await bot_store.get_draft("tg:2") is None


async def test_updates_racing_for_one_draft_all_take_effect_and_create_it_once(bot_store: BotStore) -> None:
    """Many updates at once, each adding its own option to the draft (creating it if there is none): every
    option is there at the end, as if they had run one after another."""

    def add(n: int) -> Any:
        def change(stored: Draft | None) -> Draft:
            base = stored or make_draft()
            return attrs.evolve(base, options={**base.options, f"o{n}": n})

        return change

    async with anyio.create_task_group() as tg:
        for n in range(RACERS):
            tg.start_soon(bot_store.update_draft, "tg:1", add(n))
    stored = await bot_store.get_draft("tg:1")
    assert stored is not None and stored.options == {f"o{n}": n for n in range(RACERS)}


async def test_update_draft_does_not_touch_other_users_drafts(bot_store: BotStore) -> None:
    bob = make_draft("tg:bob", id="b")
    await bot_store.save_draft(bob)
    await bot_store.update_draft("tg:alice", lambda _stored: make_draft("tg:alice", id="a"))
    assert await bot_store.get_draft("tg:bob") == bob


# payments


async def test_record_payment_stores_a_new_charge(bot_store: BotStore) -> None:
    payment = make_payment("charge-1", provider_payment_charge_id="prov-1", at=T0.astimezone(MSK))
    assert await bot_store.record_payment(payment)
    assert await bot_store.payments("tg:1") == [payment]


async def test_a_repeated_charge_id_stores_nothing_and_keeps_the_first_record(bot_store: BotStore) -> None:
    first = make_payment("charge-1")
    assert await bot_store.record_payment(first)
    again = make_payment("charge-1", user_id="tg:2", credits=999, total_amount=1, at=T0 + timedelta(hours=1))
    assert not await bot_store.record_payment(first)
    assert not await bot_store.record_payment(again)
    assert await bot_store.payments("tg:1") == [first]
    assert await bot_store.payments("tg:2") == []


async def test_a_charge_id_racing_with_itself_is_stored_once(bot_store: BotStore) -> None:
    outcomes: list[bool] = []

    async def pay() -> None:
        outcomes.append(await bot_store.record_payment(make_payment("charge-race")))

    async with anyio.create_task_group() as tg:
        for _ in range(6):
            tg.start_soon(pay)
    assert sorted(outcomes) == [False] * 5 + [True]
    assert len(await bot_store.payments("tg:1")) == 1


async def test_payments_lists_only_that_users_payments_oldest_first(bot_store: BotStore) -> None:
    late = make_payment("c-late", at=T0 + timedelta(hours=2))
    tie_b = make_payment("c-b", at=T0)
    other = make_payment("c-other", user_id="tg:2", at=T0 - timedelta(days=1))
    tie_a = make_payment("c-a", at=T0)
    early = make_payment("c-z-early", at=T0 - timedelta(hours=1))
    for payment in (late, tie_b, other, tie_a, early):
        assert await bot_store.record_payment(payment)
    assert await bot_store.payments("tg:1") == [early, tie_a, tie_b, late]
    assert await bot_store.payments("tg:2") == [other]


async def test_an_unknown_user_has_no_payments(bot_store: BotStore) -> None:
    await bot_store.record_payment(make_payment("charge-1"))
    assert await bot_store.payments("tg:nobody") == []


# durability


@asynccontextmanager
async def reopened(bot_store: BotStore) -> AsyncIterator[BotStore]:
    """A second store on the same database through its own engine, as a restarted process would open it."""
    from kiegen.adapters.sqlalchemy import SqlAlchemyBotStore, SqlAlchemyJobStore

    assert isinstance(bot_store, SqlAlchemyBotStore)
    first = bot_store.job_store
    async with await SqlAlchemyJobStore.open(first.url, schema=first.schema, migrate=False) as store:
        yield SqlAlchemyBotStore(store)


async def test_a_new_store_on_the_same_database_reads_everything_back(bot_store: BotStore, store_kind: str) -> None:
    if store_kind == "memory":
        pytest.skip("the memory store lives in one object: it is not meant to survive a restart")
    user = await bot_store.set_locale("tg:1", "ru", now=T0)
    draft = make_draft(options={"n": 2}, prompt="kept", chat_id=SUPERGROUP, card_message_id=9, album=ALBUM)
    await bot_store.save_draft(draft)
    payment = make_payment("charge-1")
    await bot_store.record_payment(payment)
    async with reopened(bot_store) as again:
        assert await again.get_user("tg:1") == user
        assert await again.ensure_user("tg:1", locale="en", now=T0) == (user, False)
        assert await again.get_draft("tg:1") == draft
        assert await again.payments("tg:1") == [payment]
        assert not await again.record_payment(payment)


async def test_updates_from_two_stores_on_one_database_all_take_effect(bot_store: BotStore, store_kind: str) -> None:
    """Two processes (two stores, each with its own engine) updating one person's draft at once: the row lock
    (PostgreSQL) or the one writer (SQLite) lets every update see the one before it."""
    if store_kind == "memory":
        pytest.skip("the memory store lives in one object: there is no second process to race")

    def add(n: int) -> Any:
        def change(stored: Draft | None) -> Draft:
            base = stored or make_draft()
            return attrs.evolve(base, options={**base.options, f"o{n}": n})

        return change

    await bot_store.save_draft(make_draft())  # a row to lock: its creation racing is the test above
    async with reopened(bot_store) as other, anyio.create_task_group() as tg:
        for n in range(RACERS):
            tg.start_soon((bot_store if n % 2 else other).update_draft, "tg:1", add(n))
    stored = await bot_store.get_draft("tg:1")
    assert stored is not None and stored.options == {f"o{n}": n for n in range(RACERS)}
