"""Stopping: /cancel, the Cancel button of a draft's card, the Stop button of a status card.

/cancel stops the newest thing first: a draft being composed in this chat (its prompt and photo are dropped;
the model and settings stay the person's current ones), else every generation of theirs running in this chat.
A stopped generation is cancelled in kiegen (``Client.cancel``): its hold is released at once, nobody waits
for it any more and no result is sent for it, even if KIE still finishes it.
"""

from __future__ import annotations

import attrs
from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from kiegen.apps.telegram import screens
from kiegen.apps.telegram.callbacks import DraftAct, JobAct
from kiegen.apps.telegram.cards import show
from kiegen.apps.telegram.deps import Deps, new_draft_id, user_key
from kiegen.apps.telegram.flow import is_open, stop_job
from kiegen.apps.telegram.i18n import Translator
from kiegen.core.jobs import Job
from kiegen.ports.bot import Draft


async def _drop_content(deps: Deps, draft: Draft) -> None:
    """The draft keeps its model and settings (the person's current ones) and loses the rest; its id changes,
    so that the buttons of its old card are out of date."""
    emptied = attrs.evolve(
        draft,
        id=new_draft_id(),
        prompt=None,
        image_url=None,
        album=None,
        prompt_message_id=None,
        card_message_id=None,
        updated_at=deps.now(),
    )
    await deps.bots.save_draft(emptied)


def _has_content(draft: Draft) -> bool:
    return bool(draft.prompt or draft.image_url or draft.card_message_id)


async def cancel_command(message: Message, bot: Bot, deps: Deps, tr: Translator) -> None:
    assert message.from_user is not None
    owner, chat = message.from_user.id, message.chat.id
    user_id = user_key(owner)
    draft = await deps.bots.get_draft(user_id)
    if draft is not None and is_open(draft, deps, chat) and _has_content(draft):
        await _drop_content(deps, draft)
        if draft.card_message_id is not None:
            await show(
                bot, chat, draft.card_message_id, screens.Screen(tr("cancelled_draft"), screens.menu_only(tr, owner))
            )
        else:
            await message.answer(tr("cancelled_draft"))
        return
    stopped = 0
    released = 0
    running = await deps.running(user_id, chat_id=chat)
    for job in sorted(running, key=lambda j: (j.created_at, _card_id(j))):  # oldest first, as they were asked for
        outcome = await stop_job(bot, deps, tr, job)
        if outcome.cancelled:
            stopped += 1
            released += outcome.released
    if not stopped:
        await message.answer(tr("nothing_to_cancel"))
        return
    money = tr("credits_back", n=released) if released else tr("nothing_charged")
    summary = " ".join((tr("cancelled_jobs", n=stopped), money))
    await message.answer(summary)


def _card_id(job: Job) -> int:
    card = job.metadata.get("card_message_id")
    return card if isinstance(card, int) else 0


async def cancel_draft(query: CallbackQuery, callback_data: DraftAct, bot: Bot, deps: Deps, tr: Translator) -> None:
    owner = query.from_user.id
    draft = await deps.bots.get_draft(user_key(owner))
    if draft is None or draft.id != callback_data.d or draft.job_id is not None or query.message is None:
        await query.answer(tr.plain("stale_card"))
        return
    await _drop_content(deps, draft)
    await query.answer()
    screen = screens.Screen(tr("cancelled_draft"), screens.menu_only(tr, owner))
    await show(bot, query.message.chat.id, query.message.message_id, screen)


async def stop_button(query: CallbackQuery, callback_data: JobAct, bot: Bot, deps: Deps, tr: Translator) -> None:
    job = await deps.client.get(callback_data.j)
    if job is None or job.user_id != user_key(query.from_user.id):
        await query.answer(tr.plain("stale_card"))
        return
    if job.terminal:
        await query.answer(tr.plain("already_done"))
        return
    outcome = await stop_job(bot, deps, tr, job)
    await query.answer(None if outcome.cancelled else tr.plain("already_done"))


def make_router() -> Router:
    """A fresh router (aiogram attaches a router to one dispatcher only)."""
    router = Router(name="cancel")
    router.message(Command("cancel"))(cancel_command)
    router.callback_query(DraftAct.filter(F.a == "cancel"))(cancel_draft)
    router.callback_query(JobAct.filter(F.a == "x"))(stop_button)
    return router
