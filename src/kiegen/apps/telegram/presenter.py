"""The bot's Presenter for ``AiogramMessenger``: localized captions, failure notices and the card's last text,
in the language stored with the job (``metadata["locale"]``)."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup

from kiegen.adapters.aiogram import Outgoing
from kiegen.apps.telegram.i18n import DEFAULT_LOCALE, Catalog, Translator
from kiegen.apps.telegram.screens import failure_buttons, result_buttons
from kiegen.core.jobs import Job, JobStatus
from kiegen.core.registry import ModelRegistry

__all__ = ["BotPresenter", "reference"]

_FILTER_WORDS = ("nsfw", "content", "sensitive", "policy", "safety", "moderation")


def reference(job: Job) -> str:
    """The short code a person can quote to support (the start of the job id)."""
    return job.id[:8].upper()


class BotPresenter:
    def __init__(self, catalog: Catalog, registry: ModelRegistry) -> None:
        self.catalog = catalog
        self.registry = registry

    def tr(self, job: Job) -> Translator:
        return self.catalog.translator(str(job.metadata.get("locale", DEFAULT_LOCALE)))

    def title(self, job: Job) -> str:
        return self.registry.get(job.model).title if job.model in self.registry else job.model

    def result(self, job: Job) -> Outgoing:
        tr = self.tr(job)
        prompt = str(job.inputs.get("prompt", ""))
        if len(job.result_urls) > 1:
            text = tr.plain("result_album", count=len(job.result_urls), title=self.title(job), prompt=prompt)
        else:
            text = tr.plain("result_caption", title=self.title(job), prompt=prompt)
        return Outgoing(text=text, markup=result_buttons(tr, job))

    def failure(self, job: Job) -> Outgoing:
        tr = self.tr(job)
        detail = f"{job.error_code or ''} {job.error_message or ''}".lower()
        if job.status is JobStatus.TIMED_OUT:
            key = "failure_timeout"
        elif any(word in detail for word in _FILTER_WORDS):
            key = "failure_filter"
        else:
            key = "failure"
        text = tr.plain(key, ref=reference(job))
        if job.price > 0 and job.user_id is not None:
            text += "\n" + tr.plain("credits_back", amount=job.price)
        markup: InlineKeyboardMarkup = failure_buttons(tr, job)
        return Outgoing(text=text, markup=markup)

    def link(self, job: Job, url: str) -> str:
        return self.tr(job).plain("result_link", url=url)

    def card_done(self, job: Job) -> str | None:
        return self.tr(job)("done" if job.status is JobStatus.SUCCEEDED else "not_done", title=self.title(job))

    def card_progress(self, job: Job, seconds: int | None) -> str:
        """Queued until KIE has accepted the task (or when ``seconds`` is None), then generating with the
        seconds since it was accepted."""
        tr = self.tr(job)
        if seconds is not None and job.status in (JobStatus.SUBMITTED, JobStatus.RUNNING):
            return tr("generating", title=self.title(job), seconds=seconds)
        return tr("queued", title=self.title(job))
