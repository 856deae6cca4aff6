"""/history: a paged list of the user's generations; an item comes back with its buttons (Again, Change this
picture, As a file, Menu): re-sent by the ``file_id`` Telegram gave us (no new upload). A stopped generation
that KIE finished anyway is kept: it comes back from its URL, on request only."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from kiegen.adapters.aiogram import escape_cut, receipt_files
from kiegen.apps.telegram import account_screens, job_screens, screens
from kiegen.apps.telegram.callbacks import HistItem, HistPage, Menu
from kiegen.apps.telegram.cards import show
from kiegen.apps.telegram.deps import Deps, user_key
from kiegen.apps.telegram.i18n import Translator
from kiegen.core.delivery import DeliveryStatus
from kiegen.core.jobs import Job
from kiegen.core.models import Media


async def _page(deps: Deps, tr: Translator, owner: int, page: int) -> screens.Screen:
    size = deps.config.history_page
    jobs = await deps.client.jobs(user_id=user_key(owner), limit=(page + 1) * size + 1)
    chunk = jobs[page * size : (page + 1) * size]
    return account_screens.history(deps, tr, chunk, page, more=len(jobs) > (page + 1) * size, owner=owner)


async def history_command(message: Message, bot: Bot, deps: Deps, tr: Translator) -> None:
    assert message.from_user is not None
    await show(bot, message.chat.id, None, await _page(deps, tr, message.from_user.id, 0))


async def history_button(query: CallbackQuery, bot: Bot, deps: Deps, tr: Translator) -> None:
    await query.answer()
    if query.message is not None:
        screen = await _page(deps, tr, query.from_user.id, 0)
        await show(bot, query.message.chat.id, query.message.message_id, screen)


async def history_page(query: CallbackQuery, callback_data: HistPage, bot: Bot, deps: Deps, tr: Translator) -> None:
    await query.answer()
    if query.message is not None:
        screen = await _page(deps, tr, query.from_user.id, max(0, callback_data.p))
        await show(bot, query.message.chat.id, query.message.message_id, screen)


async def history_item(query: CallbackQuery, callback_data: HistItem, bot: Bot, deps: Deps, tr: Translator) -> None:
    job = await deps.client.get(callback_data.j)
    if job is None or job.user_id != user_key(query.from_user.id) or query.message is None:
        await query.answer(tr.plain("stale_card"))
        return
    await query.answer()
    chat = query.message.chat.id
    files = [
        pair
        for d in await deps.client.store.deliveries_for(job.id)
        if d.status is DeliveryStatus.SENT
        for pair in receipt_files(d.receipt)
        if pair[0] in ("p", "v", "d")
    ]
    if not files:
        files = [("u", url) for url in job.result_urls]  # never delivered (stopped): from KIE's URL, if still there
    if not files:
        await query.message.answer(tr("history_no_file"))
        return
    try:
        await _resend(bot, deps, tr, chat, job, files)
    except TelegramAPIError:
        await query.message.answer(tr("history_no_file"))


async def _resend(bot: Bot, deps: Deps, tr: Translator, chat: int, job: Job, files: list[tuple[str, str]]) -> None:
    """The pictures (or videos) again, the last one (or a message after several) with the job's buttons."""
    title = deps.client.registry.get(job.model).title if job.model in deps.client.registry else job.model
    caption = escape_cut(tr.plain("result_caption", title=title, prompt=str(job.inputs.get("prompt", ""))))
    markup = job_screens.result_buttons(tr, job)
    single = len(files) == 1
    for kind, file in files:
        text, buttons = (caption, markup) if single else (None, None)
        if kind == "d":
            await bot.send_document(chat, file, caption=text, reply_markup=buttons)
        elif kind == "v" or (kind == "u" and job.media is Media.VIDEO):
            await bot.send_video(chat, file, caption=text, reply_markup=buttons, supports_streaming=True)
        else:
            await bot.send_photo(chat, file, caption=text, reply_markup=buttons)
    if not single:
        await bot.send_message(chat, caption, reply_markup=markup)


def make_router() -> Router:
    """A fresh router (aiogram attaches a router to one dispatcher only)."""
    router = Router(name="history")
    router.message(Command("history"))(history_command)
    router.callback_query(Menu.filter(F.a == "history"))(history_button)
    router.callback_query(HistPage.filter())(history_page)
    router.callback_query(HistItem.filter())(history_item)
    return router
