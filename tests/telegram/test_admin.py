"""Operator commands (issue 14, item 4) through the real Dispatcher, real aiogram Updates and the fake Bot API:
/stats, /user, /grant, /take, /refund for ``KIEGEN_TELEGRAM_ADMINS`` in their private chat, silence for everyone
else; refunds exactly once across a repeat, a refusal, a Telegram that does not answer, Telegram's own
``refunded_payment``, and a crash at either step after Telegram answered (on SQLite and PostgreSQL, restarted on
the same database)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from kiegen.adapters.sqlalchemy.bot_store import SqlAlchemyBotStore
from kiegen.adapters.sqlalchemy.store import SqlAlchemyJobStore
from kiegen.apps.telegram.__main__ import main
from kiegen.apps.telegram.config import BotConfig
from kiegen.apps.telegram.payments import sign_payload
from kiegen.core.billing import LedgerKind
from kiegen.core.errors import ConfigurationError
from kiegen.core.jobs import JobStatus
from kiegen.ports.bot import RefundStatus
from kiegen.ports.console import ConsoleQueries
from tests.conftest import drop_schema
from tests.contract.test_store_contract import make_job
from tests.telegram import updates as up
from tests.telegram.fake_telegram import FakeTelegram
from tests.telegram.harness import TOKEN, Harness

pytestmark = pytest.mark.anyio

ADMIN = 9001
OTHER_ADMIN = 9002
U = 5001
GROUP = -100777
CONFIG = BotConfig(split_window_s=0.05, admins=frozenset({ADMIN, OTHER_ADMIN}))


@pytest.fixture
async def ops() -> AsyncIterator[Harness]:
    async with Harness(free_quota=10, prices={"qwen/image-edit": 5}, config=CONFIG) as harness:
        yield harness


def queries(h: Harness) -> ConsoleQueries:
    assert isinstance(h.store, ConsoleQueries)
    return h.store


async def pay(h: Harness, uid: int, charge: str) -> None:
    """``uid`` buys the first pack (100 credits for 50 Stars), and Telegram knows the charge."""
    await h.feed(up.text(uid, "/start"))
    h.fake.add_charge(charge, uid)
    await h.feed(up.successful_payment(uid, sign_payload(h.deps.payload_key, 0, uid), 50, charge))


async def command(h: Harness, body: str, *, uid: int = ADMIN, message_id: int | None = None) -> str:
    """``body`` from ``uid`` in their private chat; the bot's answer (the newest message there)."""
    before = len(h.fake.sent_to(uid))
    await h.feed(up.text(uid, body, message_id=message_id))
    sent = h.fake.sent_to(uid)
    assert len(sent) > before, f"no answer to {body!r}"
    return str(sent[-1]["text"])


async def refund_entries(h: Harness, uid: int = U) -> list[Any]:
    return [e for e in await h.store.ledger(f"tg:{uid}") if e.key.startswith("refund:")]


# who may


@pytest.mark.parametrize("body", ["/stats", f"/user {U}", f"/grant {U} 5 why", f"/take {U} 5 why", "/refund ch-1"])
async def test_anyone_else_gets_no_answer_at_all_and_nothing_changes(ops: Harness, body: str) -> None:
    await pay(ops, U, "ch-1")
    stranger = 6001
    await ops.feed(up.text(stranger, "/start"))
    answered = len(ops.fake.sent_to(stranger))
    ledger = await ops.store.ledger(f"tg:{U}")
    await ops.feed(up.text(stranger, body))
    # An operator outside their private chat is nobody either (and a group never sees the commands).
    await ops.feed(up.text(ADMIN, body, chat=GROUP))
    assert len(ops.fake.sent_to(stranger)) == answered
    assert ops.fake.sent_to(GROUP) == []
    assert ops.fake.sent_to(ADMIN) == []
    assert await ops.store.ledger(f"tg:{U}") == ledger
    assert ops.fake.refunds == [] and ops.fake.called("refundStarPayment") == []
    assert await ops.bots.get_draft(f"tg:{stranger}") is None  # not taken for a prompt either
    assert await queries(ops).audit_log() == []


async def test_an_unknown_command_still_gets_the_usual_hint_so_the_silence_is_only_for_operator_commands(
    ops: Harness,
) -> None:
    await ops.feed(up.text(6001, "/nosuch"))
    assert ops.fake.sent_to(6001), "the fallback answers unknown commands"


def menu(h: Harness, chat: int) -> list[str]:
    """The commands of the newest menu set for ``chat``'s own scope."""
    calls = [c for c in h.fake.called("setMyCommands") if (c.params.get("scope") or {}).get("chat_id") == chat]
    assert calls, f"no menu was set for chat {chat}"
    return [command["command"] for command in calls[-1].params["commands"]]


async def test_an_operators_menu_has_the_operator_commands_and_nobody_elses_does(ops: Harness) -> None:
    await ops.feed(up.text(ADMIN, "/start"))
    await ops.feed(up.text(U, "/start"))
    assert {"stats", "user", "grant", "take", "refund"} <= set(menu(ops, ADMIN))
    assert "stats" not in menu(ops, U) and "start" in menu(ops, U)
    await ops.feed(up.text(ADMIN, "/language"))
    await ops.press(ADMIN, "Русский")
    assert "refund" in menu(ops, ADMIN)


def test_admins_come_from_the_environment_and_a_bad_id_is_a_clear_settings_error() -> None:
    config = BotConfig.from_env({"KIEGEN_TELEGRAM_ADMINS": " 12, 34 ,,12"})
    assert config.admins == frozenset({12, 34})
    assert BotConfig.from_env({}).admins == frozenset()
    with pytest.raises(ConfigurationError, match=r"KIEGEN_TELEGRAM_ADMINS item '@boss'.*numeric ids"):
        BotConfig.from_env({"KIEGEN_TELEGRAM_ADMINS": "12,@boss"})


@pytest.mark.parametrize("raw", ["@boss", "12;34", "-5", "0", "１２"])
def test_a_bad_admins_value_stops_the_bot_with_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], raw: str
) -> None:
    assert main({"TELEGRAM_BOT_TOKEN": TOKEN, "KIEGEN_TELEGRAM_ADMINS": f"12,{raw}"}) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "KIEGEN_TELEGRAM_ADMINS" in err and repr(raw) in err and "Traceback" not in err
    assert TOKEN not in err


# /stats and /user


async def test_stats_count_jobs_by_status_and_model_failures_kie_credits_and_stars(ops: Harness) -> None:
    now = ops.clock.now()
    for job in [
        make_job(model="z-image", status=JobStatus.SUCCEEDED, kie_credits=1.5, created_at=now, user_id=f"tg:{U}"),
        make_job(model="z-image", status=JobStatus.SUCCEEDED, kie_credits=2.0, created_at=now),
        make_job(model="z-image", status=JobStatus.FAILED, error_code="content_policy", created_at=now),
        make_job(model="qwen/image-edit", status=JobStatus.TIMED_OUT, error_code="timeout", created_at=now),
        make_job(model="qwen/image-edit", status=JobStatus.FAILED, created_at=now - timedelta(days=3)),
        make_job(model="z-image", status=JobStatus.SUCCEEDED, kie_credits=50.0, created_at=now - timedelta(days=8)),
    ]:
        await ops.store.create_job(job)
    await pay(ops, U, "ch-1")
    text = await command(ops, "/stats")
    today, week = text.split("Last 7 days")
    assert "Jobs: 4 — succeeded 2, failed 1, timed_out 1" in today
    assert "z-image: succeeded 2, failed 1" in today and "qwen/image-edit: timed_out 1" in today
    assert "Failures by code: content_policy 1, timeout 1" in today
    assert "KIE credits spent: 3.5" in today
    assert "Stars received: 50 (payments: 1); refunded: 0 (refunds: 0)" in today
    assert "Jobs: 5 — succeeded 2, failed 2, timed_out 1" in week
    assert "Failures by code: content_policy 1, timeout 1, unknown 1" in week
    assert "KIE credits spent: 3.5" in week  # the job of 8 days ago is outside both


async def test_stats_of_many_models_list_the_busiest_and_stay_within_one_message(ops: Harness) -> None:
    now = ops.clock.now()
    for n in range(40):
        for _ in range(1 + (n == 7) * 5):
            await ops.store.create_job(make_job(model=f"vendor/model-with-a-long-name-{n:02d}", created_at=now))
    text = await command(ops, "/stats")
    assert len(text) < 4096
    today = text.split("Last 7 days")[0]
    assert "vendor/model-with-a-long-name-07: pending 6" in today.splitlines()[2]
    assert "and 30 more models" in today


async def test_stats_speak_the_operators_language(ops: Harness) -> None:
    await ops.feed(up.text(ADMIN, "/stats", lang="ru"))
    text = str(ops.fake.last(ADMIN)["text"])
    assert "Сегодня" in text and "За 7 дней" in text and "Генераций: 0" in text and "Ошибки по кодам: нет" in text


async def test_user_shows_balance_recent_jobs_payments_and_credits(ops: Harness) -> None:
    await pay(ops, U, "ch-1")
    await ops.store.create_job(make_job(model="z-image", user_id=f"tg:{U}", created_at=ops.clock.now(), id="job-u1"))
    text = await command(ops, f"/user {U}")
    assert f"User {U}" in text and "Language: en" in text and "Balance: 100 credits." in text
    assert "job-u1" in text and "z-image" in text
    assert "50 ⭐ → 100 cr" in text and "ch-1" in text
    assert "+100 top-up" in text
    assert "never used" in await command(ops, "/user 424242")
    assert "is not a Telegram user id" in await command(ops, "/user @someone")
    assert "Operator commands" in await command(ops, "/user")


# /grant and /take


async def test_grant_adds_credits_once_even_when_telegram_delivers_the_update_again(ops: Harness) -> None:
    await ops.feed(up.text(U, "/start"))
    update = up.text(ADMIN, f"/grant {U} 25 apology for the outage", message_id=777)
    await ops.feed(update)
    assert "Granted 25 credits" in str(ops.fake.last(ADMIN)["text"])
    await ops.feed(update)  # a new polling leader re-reads the last batch
    assert "already carried out" in str(ops.fake.last(ADMIN)["text"])
    assert await ops.store.balance(f"tg:{U}") == 25
    [entry] = await ops.store.ledger(f"tg:{U}")
    assert (entry.kind, entry.amount, entry.key) == (LedgerKind.TOPUP, 25, f"grant:{ADMIN}:777")
    assert "apology for the outage" in entry.note
    [audit] = await queries(ops).audit_log()
    assert (audit.actor, audit.action, audit.outcome, audit.target) == (f"telegram:{ADMIN}", "grant", "done", f"tg:{U}")
    assert audit.detail["amount"] == 25 and audit.detail["reason"] == "apology for the outage"


async def test_the_same_grant_in_another_message_is_another_grant(ops: Harness) -> None:
    await ops.feed(up.text(U, "/start"))
    await command(ops, f"/grant {U} 1 first")
    assert "Granted 1 credit to" in await command(ops, f"/grant {U} 1 second")
    assert await ops.store.balance(f"tg:{U}") == 2


async def test_take_never_makes_a_balance_negative_and_says_what_there_is(ops: Harness) -> None:
    await pay(ops, U, "ch-1")
    refused = await command(ops, f"/take {U} 150 abuse")
    assert f"User {U} has only 100 credits: nothing taken" in refused
    assert await ops.store.balance(f"tg:{U}") == 100
    taken = await command(ops, f"/take {U} 40 abuse", message_id=888)
    assert "Took 40 credits" in taken and "Balance: 60 credits." in taken
    assert "already carried out" in await command(ops, f"/take {U} 40 abuse", message_id=888)
    assert await ops.store.balance(f"tg:{U}") == 60
    assert [(a.action, a.outcome) for a in await queries(ops).audit_log()] == [
        ("take", "done"),
        ("take", "refused: balance 100"),
    ]


async def test_grant_and_take_in_russian_agree_with_their_numbers(ops: Harness) -> None:
    await ops.feed(up.text(U, "/start"))
    await ops.feed(up.text(ADMIN, f"/grant {U} 21 бонус", lang="ru"))
    assert "начислен 21 кредит." in str(ops.fake.last(ADMIN)["text"])
    await ops.feed(up.text(ADMIN, f"/take {U} 3 ошибка", lang="ru"))
    assert "списано 3 кредита." in str(ops.fake.last(ADMIN)["text"])
    await ops.feed(up.text(ADMIN, f"/take {U} 100 ошибка", lang="ru"))
    assert "всего 18 кредитов: ничего не списано" in str(ops.fake.last(ADMIN)["text"])


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("/grant", "Operator commands"),
        ("/grant abc 5 why", "“abc” is not a Telegram user id"),
        (f"/grant {U} 0 why", "“0” is not a number of credits: use a whole number from 1 to 1000000"),
        (f"/grant {U} -5 why", "“-5” is not a number of credits"),
        (f"/take {U} lots why", "e.g. /take 123456789 50"),
        (f"/grant {U} 5", f"Say why, after the number: /grant {U} 5 REASON"),
        (f"/grant {U} 5 {'x' * 201}", "up to 200 characters"),
        ("/grant 424242 5 typo", "User 424242 has never used this bot: nothing changed"),
    ],
)
async def test_bad_grants_and_takes_say_what_is_wrong_and_change_nothing(ops: Harness, body: str, says: str) -> None:
    await ops.feed(up.text(U, "/start"))
    assert says in await command(ops, body)
    assert await ops.store.ledger(f"tg:{U}") == []
    assert await ops.store.ledger("tg:424242") == []


# /refund


async def test_refund_gives_the_stars_back_and_reverses_the_credits_once(ops: Harness) -> None:
    await pay(ops, U, "ch-1")
    done = await command(ops, "/refund ch-1")
    assert f"Refunded 50 ⭐ of ch-1 to {U}; took back 100 credits of 100. Balance: 0 credits." in done
    assert ops.fake.refunds == [{"telegram_payment_charge_id": "ch-1", "user_id": U}]
    again = await command(ops, "/refund ch-1")
    assert "ch-1 was already refunded" in again and "100 credits were taken back then" in again
    assert len(ops.fake.called("refundStarPayment")) == 1  # a done refund does not even ask Telegram
    assert [e.amount for e in await refund_entries(ops)] == [100]
    assert await ops.store.balance(f"tg:{U}") == 0
    refund = await ops.bots.refund_of("ch-1")
    assert refund is not None and refund.status is RefundStatus.DONE and refund.actor == f"telegram:{ADMIN}"
    assert [(a.action, a.outcome, a.target) for a in await queries(ops).audit_log()] == [
        ("refund", "refused: already refunded", "ch-1"),
        ("refund", "done", "ch-1"),
    ]
    assert "refunded, 100 cr taken back" in await command(ops, f"/user {U}")
    assert "refunded: 50 (refunds: 1)" in await command(ops, "/stats")


async def test_refund_of_spent_credits_takes_what_is_left_and_says_so(ops: Harness) -> None:
    await pay(ops, U, "ch-1")
    await command(ops, f"/take {U} 70 spent on generations")
    done = await command(ops, "/refund ch-1")
    assert "took back 30 credits of 100. Balance: 0 credits." in done
    assert "had already spent 70 credits of the payment: the balance stops at zero" in done
    assert await ops.store.balance(f"tg:{U}") == 0
    assert ops.fake.refunds != []


async def test_an_unknown_charge_is_refused_clearly_and_changes_nothing(ops: Harness) -> None:
    await pay(ops, U, "ch-1")
    text = await command(ops, "/refund ch-of-another-bot")
    assert "No payment with charge id ch-of-another-bot is recorded by this bot: nothing refunded" in text
    assert ops.fake.called("refundStarPayment") == []
    assert await ops.bots.refund_of("ch-of-another-bot") is None
    assert await ops.store.balance(f"tg:{U}") == 100
    assert "Which payment?" in await command(ops, "/refund")


async def test_a_refund_telegram_refuses_changes_nothing_and_can_be_tried_again(ops: Harness) -> None:
    await pay(ops, U, "ch-1")
    del ops.fake.charges["ch-1"]  # Telegram does not know it (another bot's payment, say)
    text = await command(ops, "/refund ch-1")
    assert "Telegram refused to refund ch-1: CHARGE_NOT_FOUND. Nothing changed." in text
    assert await ops.bots.refund_of("ch-1") is None
    assert await refund_entries(ops) == [] and await ops.store.balance(f"tg:{U}") == 100
    ops.fake.add_charge("ch-1", U)
    assert "Refunded 50 ⭐" in await command(ops, "/refund ch-1")
    assert await ops.store.balance(f"tg:{U}") == 0


async def test_a_refund_telegram_did_not_answer_stays_pending_and_the_next_refund_finishes_it(ops: Harness) -> None:
    await pay(ops, U, "ch-1")
    ops.fake.fail("refundStarPayment", 500, "Internal Server Error")
    assert "Telegram did not answer the refund of ch-1" in await command(ops, "/refund ch-1")
    pending = await ops.bots.refund_of("ch-1")
    assert pending is not None and pending.status is RefundStatus.PENDING
    assert await ops.store.balance(f"tg:{U}") == 100
    assert "refund pending" in await command(ops, f"/user {U}")
    assert "Refunded 50 ⭐" in await command(ops, "/refund ch-1")
    assert len(ops.fake.refunds) == 1 and [e.amount for e in await refund_entries(ops)] == [100]


def refunded_payment(uid: int, charge: str, *, stars: int = 50) -> dict[str, Any]:
    """The service message Telegram sends to the payer's chat when a payment is refunded."""
    update = up.text(uid, "x")
    message = update["message"]
    del message["text"]
    message["refunded_payment"] = {
        "currency": "XTR",
        "total_amount": stars,
        "invoice_payload": "payload",
        "telegram_payment_charge_id": charge,
    }
    return update


async def test_a_refund_telegram_reports_is_reversed_once_and_the_payer_told(ops: Harness) -> None:
    await pay(ops, U, "ch-1")
    notice = refunded_payment(U, "ch-1")
    await ops.feed(notice)
    assert "Your payment of 50 ⭐ was refunded; 100 credits were taken back. Balance: 0 credits." in ops.last_text(U)
    await ops.feed(notice)
    assert [e.amount for e in await refund_entries(ops)] == [100]
    refund = await ops.bots.refund_of("ch-1")
    assert refund is not None and refund.status is RefundStatus.DONE and refund.actor == "telegram"
    assert [(a.actor, a.outcome) for a in await queries(ops).audit_log()] == [("telegram", "done")]
    # An operator's /refund afterwards finds it done and does not ask Telegram.
    assert "already refunded" in await command(ops, "/refund ch-1")
    assert ops.fake.called("refundStarPayment") == []


async def test_the_notice_after_an_operators_refund_takes_nothing_more(ops: Harness) -> None:
    await pay(ops, U, "ch-1")
    await command(ops, "/refund ch-1")
    await ops.feed(refunded_payment(U, "ch-1"))
    assert [e.amount for e in await refund_entries(ops)] == [100]
    assert "100 credits were taken back" in ops.last_text(U)


async def test_a_notice_for_a_charge_that_is_not_the_payers_changes_nothing(ops: Harness) -> None:
    await pay(ops, U, "ch-1")
    await ops.feed(refunded_payment(6001, "ch-1"))
    await ops.feed(refunded_payment(U, "ch-unknown"))
    assert await refund_entries(ops) == [] and await ops.store.balance(f"tg:{U}") == 100


# a crash after Telegram answered, on a database, then a restart


class Crash(Exception):
    """The process dies here (nothing after this point of the handler runs)."""


def crash_once(target: object, method: str) -> None:
    """The next call of ``target.method`` dies instead of running; later calls run as usual."""

    async def dying(*args: Any, **kwargs: Any) -> Any:
        delattr(target, method)  # the class's own method again, for the next call
        raise Crash(f"{method} never ran")

    setattr(target, method, dying)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Callable[[], Any]]:
    """Opens the test's database, the same one each time (a restart)."""
    if request.param == "sqlite":
        url, schema = f"sqlite+aiosqlite:///{tmp_path / 'kiegen.db'}", None
    else:
        url, schema = request.getfixturevalue("postgres_url"), f"kiegen_test_{uuid.uuid4().hex[:12]}"

    async def open_store() -> SqlAlchemyJobStore:
        return await SqlAlchemyJobStore.open(url, schema=schema) if schema else await SqlAlchemyJobStore.open(url)

    yield open_store
    if schema is not None:
        await drop_schema(url, schema)


@asynccontextmanager
async def running(open_store: Callable[[], Any], fake: FakeTelegram) -> AsyncIterator[Harness]:
    store = await open_store()
    try:
        bots = SqlAlchemyBotStore(store)
        async with Harness(config=CONFIG, store=store, bots=bots, fake=fake) as harness:
            yield harness
    finally:
        await store.aclose()


@pytest.mark.parametrize("point", ["take_credits", "finish_refund"])
async def test_a_refund_that_crashed_after_telegram_answered_is_finished_by_the_next_refund_once(
    database: Callable[[], Any], point: str
) -> None:
    """``take_credits``: died before the credits were reversed; ``finish_refund``: after, before the record was
    marked done. Either way the Stars went back once and the credits are reversed once."""
    fake = FakeTelegram(TOKEN)
    async with running(database, fake) as first:
        await pay(first, U, "ch-1")
        crash_once(first.store if point == "take_credits" else first.bots, point)
        with pytest.raises(Crash):
            await first.feed(up.text(ADMIN, "/refund ch-1"))
        assert len(fake.refunds) == 1
        pending = await first.bots.refund_of("ch-1")
        assert pending is not None and pending.status is RefundStatus.PENDING
    async with running(database, fake) as second:  # a restart on the same database
        assert (await second.bots.refund_of("ch-1")) is not None
        done = await command(second, "/refund ch-1")
        assert "Refunded 50 ⭐ of ch-1" in done and "took back 100 credits of 100" in done
        assert len(fake.refunds) == 1  # Telegram said CHARGE_ALREADY_REFUNDED to the second ask
        assert len(fake.called("refundStarPayment")) == 2
        assert [e.amount for e in await refund_entries(second)] == [100]
        assert await second.store.balance(f"tg:{U}") == 0
        refund = await second.bots.refund_of("ch-1")
        assert refund is not None and refund.status is RefundStatus.DONE and refund.taken_back == 100
        assert "already refunded" in await command(second, "/refund ch-1")
        assert [e.amount for e in await refund_entries(second)] == [100]
        assert [a.outcome for a in await queries(second).audit_log()] == ["refused: already refunded", "done"]


async def test_a_grant_redelivered_after_a_restart_changes_nothing(database: Callable[[], Any]) -> None:
    fake = FakeTelegram(TOKEN)
    update = up.text(ADMIN, f"/grant {U} 7 goodwill", message_id=4321)
    async with running(database, fake) as first:
        await first.feed(up.text(U, "/start"))
        await first.feed(update)
    async with running(database, fake) as second:
        await second.feed(update)
        assert "already carried out" in second.last_text(ADMIN)
        assert await second.store.balance(f"tg:{U}") == 7


async def test_an_operators_refund_and_telegrams_notice_at_once_reverse_the_credits_once(
    database: Callable[[], Any],
) -> None:
    fake = FakeTelegram(TOKEN)
    async with running(database, fake) as h:
        await pay(h, U, "ch-1")
        async with anyio.create_task_group() as tg:
            tg.start_soon(h.feed, up.text(ADMIN, "/refund ch-1"))
            tg.start_soon(h.feed, refunded_payment(U, "ch-1"))
        assert len(fake.refunds) == 1
        assert [e.amount for e in await refund_entries(h)] == [100]
        assert await h.store.balance(f"tg:{U}") == 0
        refund = await h.bots.refund_of("ch-1")
        assert refund is not None and refund.status is RefundStatus.DONE and refund.taken_back == 100
        # The operator's refund is audited once; the notice adds its own entry only if it reversed the credits.
        entries = await queries(h).audit_log()
        assert [a.outcome for a in entries if a.actor == f"telegram:{ADMIN}"] == ["done"]
        assert {a.actor for a in entries} <= {f"telegram:{ADMIN}", "telegram"} and len(entries) <= 2
