"""Messengers without a network: one that records what it was asked to send, one that prints."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TextIO

import anyio.lowlevel
import attrs

from kiegen.core.delivery import recipient_scheme
from kiegen.core.errors import KiegenError
from kiegen.core.jobs import Job, JobStatus
from kiegen.ports.messaging import Receipt

__all__ = ["ConsoleMessenger", "RecordingMessenger", "describe_outcome"]


@attrs.frozen
class Sent:
    recipient: str
    job: Job


class RecordingMessenger:
    """Records every delivery. ``fail_next`` queues errors to raise on the next deliveries, in order. With
    ``prefixes`` it handles recipients starting with one of them; its ``schemes`` are theirs (``telegram:`` →
    ``telegram``), so give whole schemes (``"test:"``), not ``"webhook:https://a"``."""

    def __init__(self, prefixes: Iterable[str] | None = None) -> None:
        self.prefixes = tuple(prefixes) if prefixes is not None else None
        self.schemes = None if self.prefixes is None else frozenset(recipient_scheme(p) for p in self.prefixes)
        self.sent: list[Sent] = []
        self._failures: list[KiegenError] = []

    def handles(self, recipient: str) -> bool:
        return self.prefixes is None or recipient.startswith(self.prefixes)

    def fail_next(self, *errors: KiegenError) -> None:
        self._failures.extend(errors)

    def sent_to(self, recipient: str) -> list[Job]:
        return [s.job for s in self.sent if s.recipient == recipient]

    def count(self, job_id: str) -> int:
        return sum(1 for s in self.sent if s.job.id == job_id)

    async def deliver(self, job: Job) -> Receipt:
        await anyio.lowlevel.checkpoint()
        if self._failures:
            raise self._failures.pop(0)
        self.sent.append(Sent(job.recipient, job))
        return Receipt(detail=f"recorded:{len(self.sent)}")


def describe_outcome(job: Job) -> str:
    if job.status is JobStatus.SUCCEEDED:
        late = " (late)" if job.late else ""
        return f"job {job.id} succeeded{late}: " + " ".join(job.result_urls)
    if job.status is JobStatus.TIMED_OUT:
        return f"job {job.id} timed out: {job.error_message or 'no answer from KIE'}"
    return f"job {job.id} failed [{job.error_code}]: {job.error_message or 'unknown error'}"


class ConsoleMessenger:
    """Delivers to the ``console`` recipient by writing one line per outcome (the CLI's messenger)."""

    schemes = frozenset({"console"})

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def handles(self, recipient: str) -> bool:
        return recipient == "console"

    async def deliver(self, job: Job) -> Receipt:
        await anyio.lowlevel.checkpoint()
        stream = self._stream or sys.stderr
        print(describe_outcome(job), file=stream, flush=True)
        return Receipt(detail="console")
