"""The Messenger contract over the shipped messengers (recording, console, the router); the webhook and aiogram
messengers join this suite in their own issues' tests."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from kiegen.adapters.memory import ConsoleMessenger, RecordingMessenger
from kiegen.core.errors import RecipientGone
from kiegen.core.jobs import Job, JobStatus
from kiegen.ports.messaging import Messenger, Receipt
from kiegen.services import MessengerRouter

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def finished(recipient: str, status: JobStatus = JobStatus.SUCCEEDED) -> Job:
    return Job(
        id="job-1",
        model="z-image",
        inputs={"prompt": "p"},
        recipient=recipient,
        status=status,
        result_urls=("https://cdn.test/1.png",) if status is JobStatus.SUCCEEDED else (),
        error_code=None if status is JobStatus.SUCCEEDED else "500",
        error_message=None if status is JobStatus.SUCCEEDED else "generation failed",
        created_at=NOW,
        updated_at=NOW,
        deadline_at=NOW + timedelta(minutes=15),
    )


MESSENGERS: dict[str, tuple[Callable[[], Messenger], str]] = {
    "recording": (lambda: RecordingMessenger(prefixes=["test:"]), "test:alice"),
    "console": (lambda: ConsoleMessenger(io.StringIO()), "console"),
    "router": (lambda: MessengerRouter([RecordingMessenger(prefixes=["test:"])]), "test:alice"),
}


@pytest.fixture(params=sorted(MESSENGERS))
def messenger_and_recipient(request: pytest.FixtureRequest) -> tuple[Messenger, str]:
    make, recipient = MESSENGERS[request.param]
    return make(), recipient


@pytest.mark.parametrize("status", [JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.TIMED_OUT])
async def test_delivers_every_terminal_outcome_with_a_receipt(
    messenger_and_recipient: tuple[Messenger, str], status: JobStatus
) -> None:
    messenger, recipient = messenger_and_recipient
    assert messenger.handles(recipient)
    receipt = await messenger.deliver(finished(recipient, status))
    assert isinstance(receipt, Receipt)


async def test_does_not_claim_recipients_of_other_schemes(messenger_and_recipient: tuple[Messenger, str]) -> None:
    messenger, _ = messenger_and_recipient
    assert not messenger.handles("carrier-pigeon:42")


async def test_the_router_says_recipient_gone_for_an_unserved_scheme() -> None:
    router = MessengerRouter([RecordingMessenger(prefixes=["test:"])])
    with pytest.raises(RecipientGone, match="carrier-pigeon"):
        await router.deliver(finished("carrier-pigeon:42"))


async def test_the_none_recipient_is_delivered_without_sending_anything() -> None:
    recording = RecordingMessenger()
    router = MessengerRouter([recording])
    assert (await router.deliver(finished("none"))).detail == "none"
    assert recording.sent == []


async def test_console_messenger_writes_one_line_per_outcome() -> None:
    stream = io.StringIO()
    await ConsoleMessenger(stream).deliver(finished("console", JobStatus.FAILED))
    assert stream.getvalue() == "job job-1 failed [500]: generation failed\n"
