"""A paid model bought with Stars (issue 16, item 3, "done when"): a person with no credits picks a paid model,
is told its price and that they lack credits, buys a Stars pack (invoice, pre-checkout, successful payment
through the fake Bot API), generates and gets the picture; the ledger shows the top-up, the hold and its
capture. The real Dispatcher in process, on a SQLite file (jobs, ledger, drafts, payments)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiegen.core.billing import LedgerKind
from kiegen.core.jobs import JobStatus
from tests.telegram import updates as up
from tests.telegram.harness import Harness

pytestmark = pytest.mark.anyio

U = 951
PAID = "google/nano-banana"


async def test_a_paid_model_is_bought_with_stars_and_generated(tmp_path: Path) -> None:
    async with Harness(free_quota=3, database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}") as bot:
        price = bot.client.registry.get(PAID).price
        pack = bot.deps.config.packs[0]
        assert price > 0 and pack.credits >= price

        await bot.say(U, "/start")
        await bot.press(U, "Create")
        await bot.press(U, "A picture from text")
        assert f"Nano Banana — {price} cr." in bot.labels(bot.card(U))
        await bot.press(U, "Nano Banana")
        await bot.say(U, "a lighthouse in a storm")
        card = bot.card(U)
        assert f"Price: {price} credits · balance 0" in card["text"]
        assert f"You need {price} more credits" in card["text"]
        assert not any("Generate" in label for label in bot.labels(card))
        assert await bot.jobs(U) == []

        await bot.press(U, "Top up", card)
        await bot.press(U, f"{pack.credits} credits")
        [invoice_call] = bot.fake.called("sendInvoice")
        invoice = invoice_call.params
        assert invoice["currency"] == "XTR" and not invoice.get("provider_token")  # Stars: no provider
        assert [p["amount"] for p in invoice["prices"]] == [pack.stars]

        await bot.feed(up.pre_checkout(U, invoice["payload"], pack.stars))
        assert bot.fake.pre_checkout_answers[-1]["ok"] in (True, "true")
        await bot.feed(up.successful_payment(U, invoice["payload"], pack.stars, "charge-paid-1"))
        await bot.feed(up.successful_payment(U, invoice["payload"], pack.stars, "charge-paid-1"))  # sent twice
        assert await bot.client.store.balance(f"tg:{U}") == pack.credits

        resumed = bot.card(U)
        assert f"balance {pack.credits} → {pack.credits - price}" in resumed["text"]
        await bot.press(U, f"Generate · {price} cr.", resumed)
        await bot.run_for(30)

        [job] = await bot.jobs(U)
        assert job.model == PAID and job.status is JobStatus.SUCCEEDED and job.price == price
        assert bot.fake.called("sendPhoto")
        kinds = [(e.kind, e.amount) for e in await bot.client.store.ledger(f"tg:{U}")]
        assert kinds == [(LedgerKind.TOPUP, pack.credits), (LedgerKind.HOLD, price), (LedgerKind.CAPTURE, price)]
        assert await bot.client.store.balance(f"tg:{U}") == pack.credits - price
        [payment] = await bot.bots.payments(f"tg:{U}")
        assert payment.credits == pack.credits and payment.currency == "XTR"
