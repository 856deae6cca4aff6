"""What people send: any text is a prompt, any photo (or image file) the start of a change, an edit of a
prompt's message changes the prompt. In groups only what is addressed to the bot counts (``filters``)."""

from __future__ import annotations

import attrs
from aiogram import Bot, F, Router
from aiogram.types import Message

from kiegen.apps.telegram.albums import take_album_photo
from kiegen.apps.telegram.deps import Deps, user_key
from kiegen.apps.telegram.filters import Addressed, is_private
from kiegen.apps.telegram.flow import (
    advance,
    already_taken,
    draft_for_photo,
    draft_for_prompt,
    draft_from_job,
    is_open,
    prompt_problem,
    show_draft,
)
from kiegen.apps.telegram.i18n import Translator
from kiegen.apps.telegram.photos import receive_image
from kiegen.apps.telegram.prompts import visible, without_mention

_TEXT = F.text & ~F.text.startswith("/")
_IMAGE = F.photo | F.document


async def _clean(bot: Bot, message: Message, text: str) -> str:
    if is_private(message):
        return text.strip()
    me = await bot.me()
    return without_mention(text, me.username).strip()


def _reply_to(message: Message) -> int | None:
    """In a group the bot's answer quotes the message it answers: whose card it is shows."""
    return None if is_private(message) else message.message_id


async def take_text(message: Message, bot: Bot, deps: Deps, tr: Translator) -> None:
    assert message.from_user is not None and message.text is not None
    chat = message.chat.id
    whole = await deps.joiner.collect(chat, message.from_user.id, message.text)
    if whole is None:
        return  # a later part of a split message: the first part's handler has it
    user_id = user_key(message.from_user.id)
    if await already_taken(deps, user_id, chat, message.message_id):
        return  # the same update again (a new polling leader re-read it): handled once
    prompt = await _clean(bot, message, whole)
    found = await draft_for_prompt(deps, user_id, chat, origin=message.message_id)
    if found is None:
        await message.answer(tr("hint_idle"))
        return
    draft, spec = found
    problem = prompt_problem(tr, spec, prompt)
    if problem is not None:
        await message.answer(problem)
        return
    draft = attrs.evolve(draft, prompt=prompt, prompt_message_id=message.message_id)
    await advance(bot, deps, tr, draft, spec, autostart=True, reply_to=_reply_to(message))


async def take_image(message: Message, bot: Bot, deps: Deps, tr: Translator) -> None:
    assert message.from_user is not None
    chat = message.chat.id
    user_id = user_key(message.from_user.id)
    if message.media_group_id is not None:
        caption = await _clean(bot, message, message.caption or "")
        await take_album_photo(message, bot, deps, tr, caption=caption)
        return
    if await already_taken(deps, user_id, chat, message.message_id):
        return
    found = await draft_for_photo(deps, user_id, chat, origin=message.message_id)
    if found is None:
        await message.answer(tr("no_editor"))
        return
    draft, spec = found
    url = await receive_image(message, bot, deps, tr)
    if url is None:
        return  # the person was told why; the draft is as it was
    draft = attrs.evolve(draft, image_url=url, album=None)  # a photo on its own replaces an album's
    caption = await _clean(bot, message, message.caption or "")
    if visible(caption):
        problem = prompt_problem(tr, spec, caption)
        if problem is not None:
            await message.answer(problem)
        else:
            draft = attrs.evolve(draft, prompt=caption, prompt_message_id=message.message_id)
    await advance(bot, deps, tr, draft, spec, autostart=True, reply_to=_reply_to(message))


async def edited_prompt(message: Message, bot: Bot, deps: Deps, tr: Translator) -> None:
    """The person corrected the message their prompt came from: the open draft takes the new text (its card is
    redrawn); a prompt already generated gets a new card with the corrected text and Generate."""
    assert message.from_user is not None and message.text is not None
    user_id, chat = user_key(message.from_user.id), message.chat.id
    prompt = await _clean(bot, message, message.text)
    draft = await deps.bots.get_draft(user_id)
    if draft is not None and is_open(draft, deps, chat) and draft.prompt_message_id == message.message_id:
        spec = deps.client.registry.get(draft.model)
        problem = prompt_problem(tr, spec, prompt)
        if problem is not None:
            await message.answer(problem)
            return
        await show_draft(bot, deps, tr, attrs.evolve(draft, prompt=prompt), spec)
        return
    for job in await deps.client.jobs(user_id=user_id, limit=20):
        if job.metadata.get("prompt_message_id") != message.message_id or job.recipient != f"telegram:{chat}":
            continue
        found = draft_from_job(deps, job, chat)
        if found is None:
            return
        again, spec = found
        problem = prompt_problem(tr, spec, prompt)
        if problem is not None:
            await message.answer(problem)
            return
        again = attrs.evolve(again, prompt=prompt, prompt_message_id=message.message_id)
        await show_draft(bot, deps, tr, again, spec, reply_to=message.message_id)
        return


def make_router() -> Router:
    """A fresh router (aiogram attaches a router to one dispatcher only)."""
    router = Router(name="inputs")
    router.message(_TEXT, Addressed())(take_text)
    router.message(_IMAGE, Addressed())(take_image)
    router.edited_message(_TEXT, Addressed())(edited_prompt)
    return router
