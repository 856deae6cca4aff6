"""What an attack and a careless operator found (issue 12, item 8): a payment is credited only when Telegram's
amount, currency and payer are exactly the signed order's pack; the webhook route caps the body, answers a
too-deep JSON with 400, and a webhook secret shorter than 16 characters stops the bot at start-up (asyncio
only where async: aiogram)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from kiegen import Client
from kiegen.apps.telegram.__main__ import main
from kiegen.apps.telegram.app import one_app
from kiegen.apps.telegram.config import WEBHOOK_PATH, BotConfig
from kiegen.apps.telegram.payments import sign_payload
from kiegen.apps.telegram.webhook import TelegramWebhook
from kiegen.core.errors import ConfigurationError
from kiegen.settings import Settings
from tests.telegram import updates as up
from tests.telegram.harness import TOKEN, Harness

U = 901
SECRET = "s3cret-token-of-24-chars"


# payments


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("amount", "currency", "payer"),
    [(1, "XTR", U), (199, "XTR", U), (200, "USD", U), (200, "XTR", U + 1)],
    ids=["one-star", "one-short", "other-currency", "other-payer"],
)
async def test_a_payment_that_is_not_exactly_the_pack_credits_nothing(
    bot: Harness, amount: int, currency: str, payer: int
) -> None:
    payload = sign_payload(bot.deps.payload_key, 1, U)  # the 500-credit pack for 200 Stars, signed for U
    await bot.feed(up.successful_payment(payer, payload, amount, "ch-bad", currency=currency))

    assert await bot.store.balance(f"tg:{payer}") == 0
    assert "Payment support" in bot.last_text(payer)
    [record] = await bot.bots.payments(f"tg:{payer}")  # kept for support, with nothing credited
    assert (record.credits, record.total_amount, record.currency) == (0, amount, currency)


@pytest.mark.anyio
async def test_the_exact_pack_payment_is_credited(bot: Harness) -> None:
    payload = sign_payload(bot.deps.payload_key, 1, U)
    await bot.feed(up.successful_payment(U, payload, 200, "ch-good"))
    assert await bot.store.balance(f"tg:{U}") == 500


# the webhook route


@pytest.fixture
async def hook(bot: Harness) -> AsyncIterator[tuple[Harness, httpx.AsyncClient, TelegramWebhook]]:
    webhook = TelegramWebhook(bot.bot, bot.dp, secret=SECRET, max_bytes=64 * 1024)
    app = Starlette(routes=webhook.routes())
    async with webhook.running():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bot") as http:
            yield bot, http, webhook


def _update(uid: int, text: str) -> bytes:
    return json.dumps({"update_id": 1, **up.text(uid, text)}).encode()


@pytest.mark.anyio
async def test_the_webhook_checks_the_secret_and_feeds_good_updates(
    hook: tuple[Harness, httpx.AsyncClient, TelegramWebhook],
) -> None:
    bot, http, _ = hook
    body = _update(5, "/help")
    missing = await http.post(WEBHOOK_PATH, content=body)
    wrong = await http.post(WEBHOOK_PATH, content=body, headers={"X-Telegram-Bot-Api-Secret-Token": "nope"})
    right = await http.post(WEBHOOK_PATH, content=body, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    elsewhere = await http.post("/other", content=body, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    assert (missing.status_code, wrong.status_code, right.status_code, elsewhere.status_code) == (401, 401, 200, 404)
    await bot.until(lambda: bot.fake.sent_to(5))


@pytest.mark.anyio
async def test_a_body_over_the_cap_is_refused_with_413_unread(
    hook: tuple[Harness, httpx.AsyncClient, TelegramWebhook],
) -> None:
    bot, http, webhook = hook
    big = _update(6, "x" * (webhook.max_bytes + 1))
    answer = await http.post(WEBHOOK_PATH, content=big, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the cap holds while reading
        for start in range(0, len(big), 4096):
            yield big[start : start + 4096]

    streamed = await http.post(WEBHOOK_PATH, content=chunks(), headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    assert (answer.status_code, streamed.status_code) == (413, 413)
    assert bot.fake.sent_to(6) == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    "body",
    [b"[" * 20_000 + b"]" * 20_000, b'{"a": ' * 5_000 + b"1" + b"}" * 5_000, b"not json", b'{"update_id": "x"}', b"[]"],
    ids=["deep-array", "deep-object", "not-json", "not-an-update", "a-list"],
)
async def test_a_body_that_is_no_update_is_400_never_500(
    hook: tuple[Harness, httpx.AsyncClient, TelegramWebhook], body: bytes
) -> None:
    _, http, _ = hook
    answer = await http.post(WEBHOOK_PATH, content=body, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    assert answer.status_code == 400


@pytest.mark.anyio
async def test_with_a_public_url_the_webhook_is_mounted_into_the_http_services_app(bot: Harness) -> None:
    webhook = TelegramWebhook(bot.bot, bot.dp, secret=SECRET)
    settings = Settings(telegram_bot_token=TOKEN, public_url="https://bot.example")
    app = one_app(Client(), settings, webhook.routes())  # built before its client is entered, as BotApp does
    assert app is not None
    paths = {getattr(route, "path", None) for route in app.routes}
    assert {WEBHOOK_PATH, "/callbacks/kie/{job_id}", "/healthz"} <= paths
    alone = one_app(Client(), Settings(telegram_bot_token=TOKEN), webhook.routes())
    assert alone is not None and [getattr(r, "path", None) for r in alone.routes] == [WEBHOOK_PATH]
    assert one_app(Client(), Settings(telegram_bot_token=TOKEN)) is None  # polling, no public URL: no server


# the secret


@pytest.mark.parametrize("secret", ["short", "fifteen-chars15", "a" * 257])
def test_a_webhook_secret_outside_16_to_256_characters_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], secret: str
) -> None:
    env = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "KIEGEN_TELEGRAM_WEBHOOK": "1",
        "KIEGEN_TELEGRAM_WEBHOOK_SECRET": secret,
        "KIEGEN_PUBLIC_URL": "https://bot.example",
    }
    assert main(env) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "KIEGEN_TELEGRAM_WEBHOOK_SECRET" in err and "16-256" in err
    assert secret not in err and "Traceback" not in err


def test_a_secret_of_16_characters_is_accepted_and_bad_characters_are_not() -> None:
    config = BotConfig.from_env({"KIEGEN_TELEGRAM_WEBHOOK": "1", "KIEGEN_TELEGRAM_WEBHOOK_SECRET": "a" * 16})
    assert config.webhook_secret == "a" * 16
    with pytest.raises(ConfigurationError, match="only A-Z"):
        BotConfig.from_env({"KIEGEN_TELEGRAM_WEBHOOK": "1", "KIEGEN_TELEGRAM_WEBHOOK_SECRET": "bad secret!" * 3})
    with pytest.raises(ConfigurationError):
        BotConfig.from_env({"KIEGEN_TELEGRAM_WEBHOOK": "1"})
