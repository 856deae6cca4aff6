"""Tenancy on /v1: a job, an Idempotency-Key and a user belong to the API key (its tenant) that made them.

Two keys (``KEYS``) are two tenants; a tenant name shared by two keys (``acme:<key>``) is one tenant across a
key rotation; the tenant ``legacy`` takes over the unscoped user ids of kiegen before tenancy."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import pytest

from kiegen.apps.http.state import ApiKeys
from kiegen.core.billing import LedgerEntry, LedgerKind
from kiegen.core.errors import ConfigurationError
from tests.http.conftest import KEYS, Harness, make_settings, serving
from tests.unit.factories import T0

pytestmark = pytest.mark.anyio

A = {"Authorization": f"Bearer {KEYS[0]}"}
B = {"Authorization": f"Bearer {KEYS[1]}"}


def fingerprint(key: str) -> str:
    """What rows hold for a key: the first 12 hex digits of its SHA-256 (kiegen.apps.http.state.fingerprint)."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


PAID = {"prompt": "make it blue", "image_url": "https://img.example.com/a.png"}


async def _post(h: Harness, headers: Mapping[str, str], **body: Any) -> Any:
    body.setdefault("model", "z-image")
    body.setdefault("input", {"prompt": "a red fox in the snow"})
    return await h.http.post("/v1/generations", json=body, headers=dict(headers))


async def _top_up(h: Harness, stored_user_id: str, amount: int) -> None:
    entry = LedgerEntry(
        key=f"topup:{stored_user_id}", user_id=stored_user_id, kind=LedgerKind.TOPUP, amount=amount, created_at=T0
    )
    assert await h.store.add_entry(entry)


async def test_another_keys_generation_is_404_like_an_unknown_one(harness: Harness) -> None:
    created = (await _post(harness, A, user_id="alice", input={"prompt": "A's secret prompt"})).json()
    mine = await harness.http.get(f"/v1/generations/{created['id']}", headers=A)
    theirs = await harness.http.get(f"/v1/generations/{created['id']}?wait=1", headers=B)
    unknown = await harness.http.get("/v1/generations/0123456789abcdef0123456789abcdef", headers=B)
    assert mine.status_code == 200 and mine.json()["input"]["prompt"] == "A's secret prompt"
    assert theirs.status_code == unknown.status_code == 404
    assert "secret" not in theirs.text


async def test_an_idempotency_key_is_scoped_to_its_api_key(harness: Harness) -> None:
    body = {"user_id": "alice", "input": {"prompt": "A's secret prompt"}}
    first = await _post(harness, {**A, "Idempotency-Key": "order-1"}, **body)
    replay_by_b = await _post(harness, {**B, "Idempotency-Key": "order-1"}, **body)
    replay_by_a = await _post(harness, {**A, "Idempotency-Key": "order-1"}, **body)
    assert first.status_code == replay_by_b.status_code == replay_by_a.status_code == 202
    assert replay_by_a.json()["id"] == first.json()["id"]
    assert replay_by_b.json()["id"] != first.json()["id"]  # B got a generation of its own, not A's
    assert len(harness.kie.tasks) == 2


async def test_reusing_an_idempotency_key_with_another_request_is_422_and_stores_nothing(harness: Harness) -> None:
    key = {**A, "Idempotency-Key": "order-7"}
    first = await _post(harness, key, input={"prompt": "a fox"})
    same_after_defaults = await _post(harness, key, input={"prompt": "a fox", "aspect_ratio": "1:1"})
    other_prompt = await _post(harness, key, input={"prompt": "a wolf"})
    other_model = await _post(harness, key, model="qwen/text-to-image", input={"prompt": "a fox"})
    other_hook = await _post(harness, key, input={"prompt": "a fox"}, webhook_url="https://hooks.example.com/x")
    assert first.status_code == same_after_defaults.status_code == 202
    assert same_after_defaults.json()["id"] == first.json()["id"]
    for reused in (other_prompt, other_model, other_hook):
        assert reused.status_code == 422
        error = reused.json()["error"]
        assert error["code"] == "idempotency_key_reused" and error["id"] == first.json()["id"]
        assert "order-7" in error["message"]
    assert len(await harness.store.list_jobs()) == 1 and len(harness.kie.tasks) == 1


async def test_one_key_can_neither_spend_nor_read_another_keys_users() -> None:
    async with serving() as h:
        free = await _post(h, A, user_id="alice")
        alice_of_a = (await h.job(free.json()["id"])).user_id
        assert alice_of_a is not None
        await _top_up(h, alice_of_a, 5)

        by_b = await _post(h, B, user_id="alice", model="qwen/image-edit", input=PAID)
        assert by_b.status_code == 402 and by_b.json()["error"]["balance"] == 0
        assert "'alice'" in by_b.json()["error"]["message"] and "apikey:" not in by_b.text
        assert await h.store.balance(alice_of_a) == 5  # B's request spent nothing of A's alice

        by_a = await _post(h, A, user_id="alice", model="qwen/image-edit", input=PAID)
        assert by_a.status_code == 202
        assert await h.store.balance(alice_of_a) == 0

        of_b = (await _post(h, B, user_id="alice")).json()
        assert (await h.job(of_b["id"])).user_id != alice_of_a
        assert {j.id for j in await h.store.list_jobs(user_id=alice_of_a)} == {free.json()["id"], by_a.json()["id"]}
        assert of_b["user_id"] == "alice"  # shown as B named it


async def test_a_rotated_key_keeps_its_tenant() -> None:
    old, new = "acme:old-key-0123456789abcdef", "acme:new-key-fedcba9876543210"
    async with serving(settings=make_settings(api_keys=(old, new, KEYS[1]))) as h:
        with_old = {"Authorization": "Bearer old-key-0123456789abcdef", "Idempotency-Key": "k1"}
        with_new = {"Authorization": "Bearer new-key-fedcba9876543210", "Idempotency-Key": "k1"}
        created = (await _post(h, with_old, user_id="alice")).json()
        assert (await h.job(created["id"])).user_id == "apikey:acme:alice"
        assert (await h.http.get(f"/v1/generations/{created['id']}", headers=with_new)).status_code == 200
        assert (await _post(h, with_new, user_id="alice")).json()["id"] == created["id"]
        assert (await h.http.get(f"/v1/generations/{created['id']}", headers=B)).status_code == 404


async def test_a_key_named_later_still_owns_what_it_made_unnamed() -> None:
    async with serving() as h:
        created = (await _post(h, A)).json()
        assert (await h.job(created["id"])).user_id == f"apikey:{fingerprint(KEYS[0])}"
    # the same store, the same key, now with a tenant name
    async with serving(settings=make_settings(api_keys=(f"acme:{KEYS[0]}",)), store=h.store) as named:
        assert (await named.http.get(f"/v1/generations/{created['id']}", headers=A)).status_code == 200


async def test_jobs_of_no_tenant_are_reached_only_by_the_key_named_legacy() -> None:
    async with serving(settings=make_settings(api_keys=(f"legacy:{KEYS[0]}", KEYS[1]))) as h:
        # What kiegen 0.1's /v1 stored: the user id as sent (an SDK embedder's ids look the same).
        old = await h.client.submit("z-image", {"prompt": "old"}, user_id="alice")
        bot = await h.client.submit("z-image", {"prompt": "bot"}, user_id="tg:42")
        assert (await h.http.get(f"/v1/generations/{old.id}", headers=A)).status_code == 200
        assert (await h.http.get(f"/v1/generations/{old.id}", headers=B)).status_code == 404
        assert (await h.http.get(f"/v1/generations/{bot.id}", headers=A)).status_code == 404
        await _top_up(h, "alice", 5)
        spent = await _post(h, A, user_id="alice", model="qwen/image-edit", input=PAID)
        assert spent.status_code == 202 and await h.store.balance("alice") == 0


async def test_jobs_made_outside_the_api_are_no_keys() -> None:
    async with serving() as h:
        for user in (None, "alice", "tg:42"):
            job = await h.client.submit("z-image", {"prompt": "x"}, user_id=user)
            for key in (A, B):
                assert (await h.http.get(f"/v1/generations/{job.id}", headers=key)).status_code == 404


@pytest.mark.parametrize(
    ("entries", "says"),
    [
        (("bad name:0123456789abcdef",), "TENANT:KEY"),
        (("acme:",), "TENANT:KEY"),
        (("0123456789ab:somekey-0123456789",), "fingerprint"),
        (("acme:k-0123456789abcdef", "beta:k-0123456789abcdef"), "two tenants"),
    ],
)
def test_key_entries_are_checked_at_start_up(entries: tuple[str, ...], says: str) -> None:
    with pytest.raises(ConfigurationError, match=says):
        ApiKeys(entries)
