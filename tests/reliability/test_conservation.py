"""The soak's conservation rules on their own, so that a check that could never fail would show here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kiegen.core.delivery import Delivery
from kiegen.core.jobs import Job, JobStatus
from tests.http.servers import WebhookReceiver
from tests.reliability.conservation import _explained, _seen
from tests.reliability.soak_fakes import SoakTelegram
from tests.telegram.harness import TOKEN

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def delivery(attempt: int, sent_after_s: float = 10.0) -> Delivery:
    return Delivery(
        id="job-1:succeeded",
        job_id="job-1",
        recipient="telegram:7",
        attempt=attempt,
        next_attempt_at=T0,
        created_at=T0,
        sent_at=T0 + timedelta(seconds=sent_after_s),
    )


def test_a_duplicate_is_explained_only_by_a_second_claim_after_a_kill_while_it_was_outstanding() -> None:
    during = [T0 + timedelta(seconds=5)]
    assert _explained([delivery(2)], during)
    assert not _explained([delivery(1)], during)  # never claimed again: nothing explains a second send
    assert not _explained([delivery(2)], [])  # claimed again without any kill: a live deliverer lost its lease
    assert not _explained([delivery(2)], [T0 - timedelta(seconds=1), T0 + timedelta(seconds=11)])  # outside


def _job(recipient: str) -> Job:
    return Job(
        id="job-1",
        model="z-image",
        inputs={"prompt": "a fox"},
        recipient=recipient,
        status=JobStatus.SUCCEEDED,
        created_at=T0,
        updated_at=T0,
        deadline_at=T0 + timedelta(minutes=15),
    )


def test_a_telegram_message_belongs_to_the_job_whose_buttons_it_carries_in_whatever_chat() -> None:
    fake = SoakTelegram(TOKEN)
    buttons = {"inline_keyboard": [[{"text": "Again", "callback_data": "r:again:job-1"}]]}
    other = {"inline_keyboard": [[{"text": "Again", "callback_data": "r:again:job-10"}]]}
    fake.by_chat[7] += [
        {"photo": [{}], "reply_markup": buttons},
        {"text": "hi"},
        {"photo": [{}], "reply_markup": other},
    ]
    fake.by_chat[8] += [{"text": "Reference: JOB-1.", "reply_markup": buttons}]
    assert _seen(_job("telegram:7"), fake, WebhookReceiver()) == (1, 1)  # its own chat once, another chat once
    assert _seen(_job("telegram:9"), fake, WebhookReceiver()) == (0, 2)  # lost: nothing in its chat
