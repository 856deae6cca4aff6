"""Progress of the status card: queued → drawing (seconds since KIE accepted the task; whole minutes for a
video), with a Stop button.

Handlers only create jobs; this watcher follows each running job of the bot (woken by the Notifier, and every
``tick_s`` to advance the seconds) and edits its card (only when its text changes: once a minute for a video),
with an ``upload_photo`` chat action while it runs (``record_video`` for a video).
When it sees the job end it writes the card's final screen (``final``: the failure notice, or the stopped
notice of a cancelled job; nothing for a success, whose card the messenger deletes after the result), the same
as the messenger writes, so that a progress edit that lands late is overwritten and the card always ends right.
On start-up it resumes every unfinished job that has a card: a restart loses nothing.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
import anyio.abc
from aiogram import Bot
from aiogram.enums import ChatAction, ParseMode
from aiogram.exceptions import TelegramAPIError

from kiegen.client import Client
from kiegen.core.jobs import Job, JobStatus
from kiegen.core.models import Media
from kiegen.services.context import sleep_or_wake

if TYPE_CHECKING:
    from kiegen.apps.telegram.screens import Screen

__all__ = ["ProgressWatcher"]

log = logging.getLogger("kiegen.apps.telegram.progress")


class ProgressWatcher:
    def __init__(
        self,
        client: Client,
        bot: Bot,
        *,
        progress: Callable[[Job, int | None], Screen],
        final: Callable[[Job], Screen | None],
        tick_s: float = 5.0,
    ) -> None:
        self.client = client
        self.bot = bot
        self.progress = progress
        self.final = final
        self.tick_s = tick_s
        self._tg: anyio.abc.TaskGroup | None = None
        self._active: set[str] = set()
        self.edits = 0

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Follow jobs until cancelled; resumes unfinished jobs with a card first."""
        async with anyio.create_task_group() as tg:
            self._tg = tg
            try:
                for job in await self.client.jobs(limit=500):
                    if not job.terminal and _card(job) is not None:
                        self.watch(job)
                task_status.started()
                await anyio.sleep_forever()
            finally:
                self._tg = None

    def watch(self, job: Job) -> None:
        if self._tg is None or job.id in self._active or _card(job) is None:
            return
        self._active.add(job.id)
        self._tg.start_soon(self._follow, job.id)

    async def _follow(self, job_id: str) -> None:
        clock, shown = self.client.clock, None
        try:
            async with self.client.subscribe(job_id) as subscription:
                while True:
                    job = await self.client.get(job_id)
                    card = _card(job) if job is not None else None
                    if job is None or card is None:
                        return
                    if job.terminal:
                        final = self.final(job)
                        if final is not None:
                            await self._edit(card, final)
                        return
                    elapsed = int((clock.now() - (job.submitted_at or job.created_at)).total_seconds())
                    screen = self.progress(job, max(0, elapsed))
                    if screen != shown:
                        shown = screen
                        await self._edit(card, screen)
                    if job.status in (JobStatus.SUBMITTED, JobStatus.RUNNING):
                        await self._action(card[0], job.media)
                    await sleep_or_wake(clock, self.tick_s, subscription.wait)
        finally:
            self._active.discard(job_id)

    async def _edit(self, card: tuple[int, int], screen: Screen) -> None:
        try:
            await self.bot.edit_message_text(
                text=screen.text,
                chat_id=card[0],
                message_id=card[1],
                parse_mode=ParseMode.HTML,
                reply_markup=screen.markup,
            )
            self.edits += 1
        except TelegramAPIError as exc:
            if "not modified" not in exc.message:
                log.info("status card %s not edited: %s", card, exc.message)

    async def _action(self, chat_id: int, media: Media) -> None:
        action = ChatAction.RECORD_VIDEO if media is Media.VIDEO else ChatAction.UPLOAD_PHOTO
        with contextlib.suppress(TelegramAPIError):
            await self.bot.send_chat_action(chat_id, action)


def _card(job: Job) -> tuple[int, int] | None:
    chat, message = job.metadata.get("card_chat_id"), job.metadata.get("card_message_id")
    if isinstance(chat, int) and isinstance(message, int):
        return chat, message
    return None
