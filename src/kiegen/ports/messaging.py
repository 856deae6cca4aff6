"""Messenger: delivers a terminal job (result or failure notice) to its recipient.

Contract: ``deliver(job)`` sends once and returns a ``Receipt`` (e.g. the Telegram ``file_id``). It raises
``RecipientGone`` when the recipient can never be reached (not retried) and ``DeliveryDeferred`` (with
``retry_after`` when known) for anything worth retrying. Other ``KiegenError``s are treated as retryable.
``handles(recipient)`` says whether this messenger serves that recipient scheme (``telegram:``, ``webhook:``,
``console``).
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
    def handles(self, recipient: str) -> bool: ...

    async def deliver(self, job: Job) -> Receipt: ...
