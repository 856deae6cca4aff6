"""Messenger: delivers a terminal job (result or failure notice) to its recipient.

Contract: ``deliver(job)`` sends once and returns a ``Receipt`` (e.g. the Telegram ``file_id``). It raises
``RecipientGone`` when the recipient can never be reached (not retried) and ``DeliveryDeferred`` (with
``retry_after`` when known) for anything worth retrying. Other ``KiegenError``s are treated as retryable.
``handles(recipient)`` says whether this messenger serves that recipient scheme (``telegram:``, ``webhook:``,
``console``); ``schemes`` names those schemes (``recipient_scheme`` of ``kiegen.core.delivery``), or is None for
a messenger that takes any recipient (a test double). A process claims only the deliveries whose scheme one of
its messengers serves: an HTTP service without a Telegram bot never takes, and never gives up on, a Telegram
delivery that the bot's process is there to send.
"""

from __future__ import annotations

from typing import Protocol

import attrs

from kiegen.core.jobs import Job

__all__ = ["Messenger", "Receipt"]


@attrs.frozen(kw_only=True)
class Receipt:
    detail: str | None = None
    """Messenger-specific proof of sending, e.g. a Telegram file_id or a webhook message id."""


class Messenger(Protocol):
    @property
    def schemes(self) -> frozenset[str] | None: ...

    def handles(self, recipient: str) -> bool: ...

    async def deliver(self, job: Job) -> Receipt: ...
