"""Buttons under a result or a failure notice: Again (one tap, a new seed), Change this picture (which one, in
an album), As a file, Menu, Try again, Change the prompt."""

from __future__ import annotations

import attrs
from aiogram import Bot, Router
from aiogram.types import BufferedInputFile, CallbackQuery

from kiegen.adapters.httpkit import SNIFF_BYTES, sniff_media
from kiegen.apps.telegram import screens
from kiegen.apps.telegram.callbacks import Res
from kiegen.apps.telegram.cards import show
from kiegen.apps.telegram.deps import Deps, user_key
from kiegen.apps.telegram.flow import advance, draft_from_job, fresh, show_draft
from kiegen.apps.telegram.i18n import Translator
from kiegen.core.errors import KiegenError
from kiegen.core.jobs import Job
from kiegen.core.models import Media


async def result_button(query: CallbackQuery, callback_data: Res, bot: Bot, deps: Deps, tr: Translator) -> None:
    job = await deps.client.get(callback_data.j)
    owner = query.from_user.id
    if job is None or job.user_id != user_key(owner) or query.message is None:
        await query.answer(tr.plain("stale_card"))
        return
    chat = query.message.chat.id
    action, picture = callback_data.a, callback_data.n
    if action == "m":
        await query.answer()
        screen = await screens.welcome(deps, tr, owner, private=query.message.chat.type == "private")
        await show(bot, chat, None, screen)
    elif action == "o":
        await query.answer()
        await _originals(bot, deps, tr, chat, job, picture)
    elif action in ("a", "r"):
        found = draft_from_job(deps, job, chat, new_seed=True)
        if found is None:
            await query.answer(tr.plain("stale_card"))
            return
        await query.answer(tr.plain("started"))
        draft, spec = found
        await advance(bot, deps, tr, draft, spec, autostart=True, paid_too=True)
    elif action == "p":
        found = draft_from_job(deps, job, chat, prompt=False)
        if found is None:
            await query.answer(tr.plain("stale_card"))
            return
        await query.answer()
        await show_draft(bot, deps, tr, *found)
    elif action == "e":
        await _change_picture(query, bot, deps, tr, job, picture)
    else:
        await query.answer(tr.plain("stale_card"))


async def _change_picture(query: CallbackQuery, bot: Bot, deps: Deps, tr: Translator, job: Job, picture: int) -> None:
    """A new draft for a photo model with this result as its photo; its card asks what to change."""
    assert query.message is not None
    index = max(1, picture) - 1
    spec = deps.default_model(edit=True)
    if spec is None or index >= len(job.result_urls):
        await query.answer(tr.plain("no_editor" if spec is None else "stale_card"), show_alert=spec is None)
        return
    await query.answer()
    previous = await deps.bots.get_draft(user_key(query.from_user.id))
    if previous is not None and previous.model in deps.client.registry:
        current = deps.client.registry.get(previous.model)
        spec = current if current.needs_image else spec
    draft = fresh(deps, user_key(query.from_user.id), spec, query.message.chat.id, previous)
    await show_draft(bot, deps, tr, attrs.evolve(draft, image_url=job.result_urls[index]), spec)


async def _originals(bot: Bot, deps: Deps, tr: Translator, chat: int, job: Job, picture: int) -> None:
    urls = list(enumerate(job.result_urls, start=1))
    if picture:
        urls = [(n, url) for n, url in urls if n == picture]
    for n, url in urls:
        try:
            video = job.media is Media.VIDEO
            data = await deps.messenger.fetch(
                url, timeout=deps.messenger.limits.video_download_timeout_s if video else None
            )
        except KiegenError:
            await bot.send_message(chat, tr("original_unavailable"))
            return
        extension = sniff_media(data[:SNIFF_BYTES]) or "bin"  # png, jpeg, webp, mp4, mov, webm
        await bot.send_document(chat, BufferedInputFile(data, f"{job.id[:8]}-{n}.{extension}"))


def make_router() -> Router:
    """A fresh router (aiogram attaches a router to one dispatcher only)."""
    router = Router(name="results")
    router.callback_query(Res.filter())(result_button)
    return router
