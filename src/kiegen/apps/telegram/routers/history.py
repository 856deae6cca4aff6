"""/history: a paged list of the user's generations; an item re-sends the stored picture by file_id."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from kiegen.adapters.aiogram import receipt_files
from kiegen.apps.telegram import screens
from kiegen.apps.telegram.callbacks import HistItem, HistPage, Menu
from kiegen.apps.telegram.cards import show
from kiegen.apps.telegram.deps import Deps, user_key
from kiegen.apps.telegram.i18n import Translator
from kiegen.core.delivery import DeliveryStatus


async def _page(deps: Deps, tr: Translator, user_id: str, page: int) -> screens.Screen:
    size = deps.config.history_page
    jobs = await deps.client.jobs(user_id=user_id, limit=(page + 1) * size + 1)
    return screens.history(deps, tr, jobs[page * size : (page + 1) * size], page, more=len(jobs) > (page + 1) * size)


async def history_command(message: Message, bot: Bot, deps: Deps, tr: Translator) -> None:
    assert message.from_user is not None
    await show(bot, message.chat.id, None, await _page(deps, tr, user_key(message.from_user.id), 0))


async def history_button(query: CallbackQuery, bot: Bot, deps: Deps, tr: Translator) -> None:
    await query.answer()
    if query.message is not None:
        screen = await _page(deps, tr, user_key(query.from_user.id), 0)
        await show(bot, query.message.chat.id, query.message.message_id, screen)


async def history_page(query: CallbackQuery, callback_data: HistPage, bot: Bot, deps: Deps, tr: Translator) -> None:
    await query.answer()
    if query.message is not None:
        screen = await _page(deps, tr, user_key(query.from_user.id), max(0, callback_data.p))
        await show(bot, query.message.chat.id, query.message.message_id, screen)


async def history_item(query: CallbackQuery, callback_data: HistItem, bot: Bot, deps: Deps, tr: Translator) -> None:
    job = await deps.client.get(callback_data.j)
    if job is None or job.user_id != user_key(query.from_user.id) or query.message is None:
        await query.answer(tr.plain("stale_card"))
        return
    await query.answer()
    chat = query.message.chat.id
    sent = 0
    for delivery in await deps.client.store.deliveries_for(job.id):
        if delivery.status is not DeliveryStatus.SENT:
            continue
        for kind, file_id in receipt_files(delivery.receipt):
            if kind == "p":
                await bot.send_photo(chat, file_id)
                sent += 1
            elif kind == "d":
                await bot.send_document(chat, file_id)
                sent += 1
    if not sent:
        await query.message.answer(tr("history_no_file"))


def make_router() -> Router:
    """A fresh router (aiogram attaches a router to one dispatcher only)."""
    router = Router(name="history")
    router.message(Command("history"))(history_command)
    router.callback_query(Menu.filter(F.a == "history"))(history_button)
    router.callback_query(HistPage.filter())(history_page)
    router.callback_query(HistItem.filter())(history_item)
    return router
