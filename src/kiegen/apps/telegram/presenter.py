"""The bot's Presenter for ``AiogramMessenger``: localized captions, failure notices and the status card's end,
in the language stored with the job (``metadata["locale"]``).

The status card never stays behind as "done": after a result it is deleted (the picture says it all); a
failure notice is written over it (``on_card``), with Try again and Change the prompt. ``card_final`` is what
the progress watcher writes when it sees the job end, so that a late progress edit can never win: the same
notice for a failure, the stopped notice for a cancelled job (which gets no delivery), nothing for a success.
"""

from __future__ import annotations

from kiegen.adapters.aiogram import CardEnd, Outgoing
from kiegen.adapters.aiogram.text import TEXT_LIMIT, escape_cut
from kiegen.apps.telegram import job_screens, screens
from kiegen.apps.telegram.i18n import DEFAULT_LOCALE, Catalog, Translator
from kiegen.core.jobs import Job, JobStatus
from kiegen.core.models import Media
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
        count = len(job.result_urls)
        if count > 1:
            text = tr.plain("result_album", n=count, title=self.title(job), prompt=prompt)
        else:
            text = tr.plain("result_caption", title=self.title(job), prompt=prompt)
        return Outgoing(text=text, markup=job_screens.result_buttons(tr, job))

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
            text += "\n" + tr.plain("credits_back", n=job.price)
        return Outgoing(text=text, markup=job_screens.failure_buttons(tr, job), on_card=True)

    def link(self, job: Job, url: str) -> str:
        return self.tr(job).plain("result_link_video" if job.media is Media.VIDEO else "result_link", url=url)

    def card_done(self, job: Job) -> str | CardEnd:
        return CardEnd.REMOVE if job.status is JobStatus.SUCCEEDED else CardEnd.LEAVE

    def card_progress(self, job: Job, seconds: int | None) -> screens.Screen:
        return job_screens.status(self.tr(job), job, self.title(job), seconds)

    def card_final(self, job: Job) -> screens.Screen | None:
        if job.status is JobStatus.CANCELLED:
            return job_screens.cancelled(self.tr(job), job, self.title(job))
        if job.status in (JobStatus.FAILED, JobStatus.TIMED_OUT):
            notice = self.failure(job)
            return screens.Screen(escape_cut(notice.text, TEXT_LIMIT), notice.markup)
        return None
