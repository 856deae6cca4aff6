"""What the messenger says about a job. The bot app gives a localized ``Presenter``; ``PlainPresenter`` is the
English default for embedders who only want pictures delivered. Result, failure and link texts are plain (the
messenger escapes and cuts them); the status card's text is HTML, sent as given."""

from __future__ import annotations

import enum
from typing import Protocol

import attrs
from aiogram.types import InlineKeyboardMarkup

from kiegen.core.jobs import Job, JobStatus

__all__ = ["CardEnd", "Outgoing", "PlainPresenter", "Presenter"]


@attrs.frozen(kw_only=True)
class Outgoing:
    text: str
    markup: InlineKeyboardMarkup | None = None
    on_card: bool = False
    """For a failure notice: written over the job's status card (``metadata["card_message_id"]``) instead of
    sent as a new message, when the job has a card (a new message when the card cannot be edited)."""


class CardEnd(enum.Enum):
    """What ``card_done`` may ask for besides a final text."""

    LEAVE = "leave"
    REMOVE = "remove"
    """Delete the status card: the result just sent says everything."""


class Presenter(Protocol):
    def result(self, job: Job) -> Outgoing:
        """Caption and buttons of a result (the caption is cut to 1024 characters)."""
        ...

    def failure(self, job: Job) -> Outgoing: ...

    def link(self, job: Job, url: str) -> str:
        """The last rung of the ladder: the result as a link."""
        ...

    def card_done(self, job: Job) -> str | CardEnd:
        """The status card (``metadata["card_message_id"]``) once the job is delivered: its final HTML text,
        ``CardEnd.REMOVE`` to delete it, or ``CardEnd.LEAVE``. Not asked after a notice written on the card."""
        ...


class PlainPresenter:
    def result(self, job: Job) -> Outgoing:
        prompt = str(job.inputs.get("prompt", ""))
        return Outgoing(text=f"{job.model}: {prompt}" if prompt else job.model)

    def failure(self, job: Job) -> Outgoing:
        if job.status is JobStatus.TIMED_OUT:
            return Outgoing(text=f"The generation took too long (ref {job.id[:8]}).")
        return Outgoing(text=f"The generation failed (ref {job.id[:8]}).")

    def link(self, job: Job, url: str) -> str:  # noqa: ARG002 (the Presenter's signature)
        return f"Your picture: {url}"

    def card_done(self, job: Job) -> str | CardEnd:
        return "Done." if job.status is JobStatus.SUCCEEDED else "Failed."
