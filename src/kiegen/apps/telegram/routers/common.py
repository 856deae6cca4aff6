"""/start, /cancel, /help, /terms, /paysupport, /language and the main menu."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from kiegen.apps.telegram import screens
from kiegen.apps.telegram.callbacks import Lang, Menu
from kiegen.apps.telegram.cards import set_commands, show
from kiegen.apps.telegram.deps import Deps, user_key
from kiegen.apps.telegram.i18n import LOCALES, Translator, pick_locale


async def start(message: Message, bot: Bot, deps: Deps, tr: Translator, state: FSMContext) -> None:
    assert message.from_user is not None
    user_id = user_key(message.from_user.id)
    _user, created = await deps.bots.ensure_user(
        user_id, locale=pick_locale(message.from_user.language_code), now=deps.now()
    )
    if created:
        await set_commands(bot, deps.catalog, tr.locale, chat_id=message.chat.id)
    await state.clear()
    screen = await screens.welcome(deps, tr, user_id)
    await show(bot, message.chat.id, None, screen)


async def cancel_command(message: Message, bot: Bot, deps: Deps, tr: Translator, state: FSMContext) -> None:
    assert message.from_user is not None
    if await _cancel(deps, state, user_key(message.from_user.id)):
        await message.answer(tr("cancelled"), reply_markup=_menu_only(tr))
    else:
        await message.answer(tr("nothing_to_cancel"))


async def cancel_button(query: CallbackQuery, bot: Bot, deps: Deps, tr: Translator, state: FSMContext) -> None:
    cancelled = await _cancel(deps, state, user_key(query.from_user.id))
    await query.answer()
    if query.message is not None:
        text = tr("cancelled") if cancelled else tr("nothing_to_cancel")
        await show(bot, query.message.chat.id, query.message.message_id, screens.Screen(text, _menu_only(tr)))


async def _cancel(deps: Deps, state: FSMContext, user_id: str) -> bool:
    """Leave the current step and drop an unsubmitted draft; False when there was nothing to leave."""
    current = await state.get_state()
    draft = await deps.bots.get_draft(user_id)
    open_draft = draft is not None and draft.job_id is None
    await state.clear()
    if open_draft:
        await deps.bots.drop_draft(user_id)
    return current is not None or open_draft


def _menu_only(tr: Translator) -> InlineKeyboardMarkup:
    return screens.keyboard([[screens.button(tr.plain("btn_menu"), Menu(a="home").pack())]])


async def home(query: CallbackQuery, bot: Bot, deps: Deps, tr: Translator, state: FSMContext) -> None:
    await state.clear()
    await query.answer()
    if query.message is not None:
        screen = await screens.welcome(deps, tr, user_key(query.from_user.id))
        await show(bot, query.message.chat.id, query.message.message_id, screen)


async def help_(message: Message, tr: Translator) -> None:
    await message.answer(tr("help"))


async def terms(message: Message, tr: Translator) -> None:
    await message.answer(tr("terms"))


async def paysupport(message: Message, tr: Translator) -> None:
    await message.answer(tr("paysupport"))


async def language_command(message: Message, tr: Translator) -> None:
    screen = screens.languages(tr)
    await message.answer(screen.text, reply_markup=screen.markup)


async def language_button(query: CallbackQuery, bot: Bot, tr: Translator) -> None:
    await query.answer()
    if query.message is not None:
        await show(bot, query.message.chat.id, query.message.message_id, screens.languages(tr))


async def set_language(query: CallbackQuery, callback_data: Lang, bot: Bot, deps: Deps) -> None:
    if callback_data.c not in LOCALES:
        await query.answer()
        return
    user_id = user_key(query.from_user.id)
    await deps.bots.set_locale(user_id, callback_data.c, now=deps.now())
    tr = deps.catalog.translator(callback_data.c)
    await query.answer(tr.plain("language_set"))
    if query.message is not None:
        await set_commands(bot, deps.catalog, tr.locale, chat_id=query.message.chat.id)
        screen = await screens.welcome(deps, tr, user_id)
        await show(bot, query.message.chat.id, query.message.message_id, screen)


def make_router() -> Router:
    """A fresh router (aiogram attaches a router to one dispatcher only)."""
    router = Router(name="common")
    router.message(CommandStart())(start)
    router.message(Command("cancel"))(cancel_command)
    router.callback_query(Menu.filter(F.a == "cancel"))(cancel_button)
    router.callback_query(Menu.filter(F.a == "home"))(home)
    router.message(Command("help"))(help_)
    router.message(Command("terms"))(terms)
    router.message(Command("paysupport"))(paysupport)
    router.message(Command("language"))(language_command)
    router.callback_query(Menu.filter(F.a == "language"))(language_button)
    router.callback_query(Lang.filter())(set_language)
    return router
