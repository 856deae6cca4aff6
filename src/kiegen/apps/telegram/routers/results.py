"""Buttons under a result or a failure: Again, Edit this, Original file, Menu, Try again, Change prompt."""

from __future__ import annotations

import attrs
from aiogram import Bot, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, CallbackQuery

from kiegen.adapters.httpkit import sniff_image
from kiegen.apps.telegram import screens
from kiegen.apps.telegram.callbacks import Res
from kiegen.apps.telegram.cards import Flow, show
from kiegen.apps.telegram.deps import Deps, enum_inputs, new_draft_id, user_key
from kiegen.apps.telegram.i18n import Translator
from kiegen.core.errors import KiegenError
from kiegen.core.jobs import Job
from kiegen.core.models import ModelKind
from kiegen.ports.bot import Draft


async def result_button(
    query: CallbackQuery, callback_data: Res, bot: Bot, deps: Deps, tr: Translator, state: FSMContext
) -> None:
    job = await deps.client.get(callback_data.j)
    user_id = user_key(query.from_user.id)
    if job is None or job.user_id != user_id or query.message is None:
        await query.answer(tr.plain("stale_card"))
        return
    await query.answer()
    chat = query.message.chat.id
    action = callback_data.a
    if action == "menu":
        await state.clear()
        await show(bot, chat, None, await screens.welcome(deps, tr, user_id))
    elif action == "orig":
        await _originals(bot, deps, tr, chat, job)
    elif action in ("again", "retry"):
        draft = _draft_from(deps, job, chat)
        if draft is None:
            await query.message.answer(tr("stale_card"))
            return
        spec = deps.client.registry.get(draft.model)
        card = await show(bot, chat, None, await screens.confirm(deps, tr, spec, draft))
        await deps.bots.save_draft(attrs.evolve(draft, card_message_id=card))
        await state.set_state(Flow.confirm)
    elif action == "prompt":
        draft = _draft_from(deps, job, chat)
        if draft is None:
            await query.message.answer(tr("stale_card"))
            return
        draft = attrs.evolve(draft, prompt=None)
        spec = deps.client.registry.get(draft.model)
        card = await show(bot, chat, None, screens.settings(deps, tr, spec, draft))
        await deps.bots.save_draft(attrs.evolve(draft, card_message_id=card))
        await state.set_state(Flow.settings)
    elif action == "edit" and job.result_urls:
        editors = [m for m in deps.models() if m.needs_image]
        if not editors:
            await query.message.answer(tr("stale_card"))
            return
        spec = next((m for m in editors if m.kind is ModelKind.EDIT), editors[0])
        draft = Draft(
            id=new_draft_id(),
            user_id=user_id,
            model=spec.id,
            image_url=job.result_urls[0],
            chat_id=chat,
            updated_at=deps.now(),
        )
        card = await show(bot, chat, None, screens.settings(deps, tr, spec, draft))
        await deps.bots.save_draft(attrs.evolve(draft, card_message_id=card))
        await state.set_state(Flow.settings)


def _draft_from(deps: Deps, job: Job, chat: int) -> Draft | None:
    if job.model not in deps.client.registry or job.user_id is None:
        return None
    spec = deps.client.registry.get(job.model)
    options = {i.name: job.inputs[i.name] for i in enum_inputs(spec) if i.name in job.inputs}
    image = job.inputs.get("image_url")
    return Draft(
        id=new_draft_id(),
        user_id=job.user_id,
        model=job.model,
        options=options,
        prompt=str(job.inputs.get("prompt", "")) or None,
        image_url=str(image) if image else None,
        chat_id=chat,
        updated_at=deps.now(),
    )


async def _originals(bot: Bot, deps: Deps, tr: Translator, chat: int, job: Job) -> None:
    for n, url in enumerate(job.result_urls, start=1):
        try:
            data = await deps.messenger.fetch(url)
        except KiegenError:
            await bot.send_message(chat, tr("original_unavailable"))
            return
        extension = sniff_image(data[:16]) or "bin"  # png, jpeg or webp
        await bot.send_document(chat, BufferedInputFile(data, f"{job.id[:8]}-{n}.{extension}"))


def make_router() -> Router:
    """A fresh router (aiogram attaches a router to one dispatcher only)."""
    router = Router(name="results")
    router.callback_query(Res.filter())(result_button)
    return router
