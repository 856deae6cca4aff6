"""/start, /help, /terms, /paysupport, /language and the main menu."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, Message

from kiegen.apps.telegram import account_screens, screens
from kiegen.apps.telegram.callbacks import Lang, Menu
from kiegen.apps.telegram.cards import set_commands, show
from kiegen.apps.telegram.deps import Deps, user_key
from kiegen.apps.telegram.filters import is_private
from kiegen.apps.telegram.i18n import LOCALES, Translator, pick_locale
from kiegen.apps.telegram.routers.balance import send_balance


async def start(message: Message, command: CommandObject, bot: Bot, deps: Deps, tr: Translator) -> None:
    assert message.from_user is not None
    owner = message.from_user.id
    _user, created = await deps.bots.ensure_user(
        user_key(owner), locale=pick_locale(message.from_user.language_code), now=deps.now()
    )
    operator = owner in deps.config.admins and is_private(message)
    if created or operator:  # an operator's menu follows KIEGEN_TELEGRAM_ADMINS at every /start
        await set_commands(bot, deps.catalog, tr.locale, chat_id=message.chat.id, user_id=owner, operator=operator)
    if command.args == "balance" and is_private(message):  # the deep link a group's /balance points to
        await send_balance(message, bot, deps, tr)
        return
    screen = await screens.welcome(deps, tr, owner, private=is_private(message))
    await show(bot, message.chat.id, None, screen, reply_to=None if is_private(message) else message.message_id)


async def home(query: CallbackQuery, bot: Bot, deps: Deps, tr: Translator) -> None:
    await query.answer()
    if query.message is not None:
        private = query.message.chat.type == "private"
        screen = await screens.welcome(deps, tr, query.from_user.id, private=private)
        await show(bot, query.message.chat.id, query.message.message_id, screen)


async def help_(message: Message, deps: Deps, tr: Translator) -> None:
    default = deps.default_model(edit=False)
    await message.answer(tr("help", model=default.title if default is not None else "—"))


async def terms(message: Message, tr: Translator) -> None:
    await message.answer(tr("terms"))


async def paysupport(message: Message, tr: Translator) -> None:
    await message.answer(tr("paysupport"))


async def language_command(message: Message, tr: Translator) -> None:
    assert message.from_user is not None
    screen = account_screens.languages(tr, message.from_user.id)
    await message.answer(screen.text, reply_markup=screen.markup)


async def language_button(query: CallbackQuery, bot: Bot, tr: Translator) -> None:
    await query.answer()
    if query.message is not None:
        await show(
            bot, query.message.chat.id, query.message.message_id, account_screens.languages(tr, query.from_user.id)
        )


async def set_language(query: CallbackQuery, callback_data: Lang, bot: Bot, deps: Deps) -> None:
    if callback_data.c not in LOCALES:
        await query.answer()
        return
    owner = query.from_user.id
    await deps.bots.set_locale(user_key(owner), callback_data.c, now=deps.now())
    tr = deps.catalog.translator(callback_data.c)
    await query.answer(tr.plain("language_set"))
    if query.message is not None:
        chat = query.message.chat
        operator = owner in deps.config.admins and chat.type == "private"
        await set_commands(bot, deps.catalog, tr.locale, chat_id=chat.id, user_id=owner, operator=operator)
        screen = await screens.welcome(deps, tr, owner, private=chat.type == "private")
        await show(bot, chat.id, query.message.message_id, screen)


def make_router() -> Router:
    """A fresh router (aiogram attaches a router to one dispatcher only)."""
    router = Router(name="common")
    router.message(CommandStart())(start)
    router.callback_query(Menu.filter(F.a == "home"))(home)
    router.message(Command("help"))(help_)
    router.message(Command("terms"))(terms)
    router.message(Command("paysupport"))(paysupport)
    router.message(Command("language"))(language_command)
    router.callback_query(Menu.filter(F.a == "language"))(language_button)
    router.callback_query(Lang.filter())(set_language)
    return router
