"""Choosing a model and its settings on the draft's card, and Generate: the card's own buttons, each bound to
its draft (an older card's button is out of date and changes nothing)."""

from __future__ import annotations

from typing import Any

import attrs
from aiogram import Bot, F, Router
from aiogram.types import CallbackQuery

from kiegen.apps.telegram import picker, screens
from kiegen.apps.telegram.callbacks import DraftAct, Gen, Kinds, Menu, Opt, Page, Pick, Val
from kiegen.apps.telegram.cards import show
from kiegen.apps.telegram.deps import Deps, user_key
from kiegen.apps.telegram.flow import fresh, is_open, show_draft, start
from kiegen.apps.telegram.i18n import Translator
from kiegen.apps.telegram.options import offered
from kiegen.apps.telegram.photos import carried_photos
from kiegen.apps.telegram.picker import Group
from kiegen.apps.telegram.screens import Screen
from kiegen.core.models import ModelSpec
from kiegen.ports.bot import Draft


def _first_screen(deps: Deps, tr: Translator, owner: int, *, draft_id: str = "") -> Screen | Group:
    """The kinds screen, or the only kind there is (its first page comes next)."""
    found = picker.groups(deps.models())
    if len(found) == 1:
        return next(iter(found))
    return picker.kinds_screen(deps, tr, owner, draft_id=draft_id)


async def _show_first(
    query: CallbackQuery, bot: Bot, deps: Deps, tr: Translator, *, draft_id: str = "", group: Group | None = None
) -> None:
    assert query.message is not None
    owner = query.from_user.id
    first = group or _first_screen(deps, tr, owner, draft_id=draft_id)
    screen = first if isinstance(first, Screen) else await picker.page_screen(deps, tr, owner, first, draft_id=draft_id)
    await show(bot, query.message.chat.id, query.message.message_id, screen)


async def open_picker(query: CallbackQuery, callback_data: Menu, bot: Bot, deps: Deps, tr: Translator) -> None:
    """Create: the kinds (or the only kind); Change a photo: the models that change photos."""
    await query.answer()
    if query.message is not None:
        await _show_first(query, bot, deps, tr, group=Group.EDIT if callback_data.a == "edit" else None)


async def _picker_of(query: CallbackQuery, deps: Deps, tr: Translator, draft_id: str) -> bool:
    """A picker button may be used: it is the menu's, or its draft is still the person's open one."""
    if draft_id:
        return await _own_draft(query, deps, tr, draft_id) is not None and query.message is not None
    return query.message is not None


async def show_kinds(query: CallbackQuery, callback_data: Kinds, bot: Bot, deps: Deps, tr: Translator) -> None:
    if not await _picker_of(query, deps, tr, callback_data.d):
        return
    await query.answer()
    await _show_first(query, bot, deps, tr, draft_id=callback_data.d)


async def show_page(query: CallbackQuery, callback_data: Page, bot: Bot, deps: Deps, tr: Translator) -> None:
    if callback_data.g not in {g.value for g in Group}:
        await query.answer(tr.plain("stale_card"))
        return
    if not await _picker_of(query, deps, tr, callback_data.d):
        return
    assert query.message is not None
    await query.answer()
    owner = query.from_user.id
    screen = await picker.page_screen(
        deps, tr, owner, Group(callback_data.g), callback_data.p, draft_id=callback_data.d
    )
    await show(bot, query.message.chat.id, query.message.message_id, screen)


async def _own_draft(query: CallbackQuery, deps: Deps, tr: Translator, draft_id: str) -> tuple[Draft, ModelSpec] | None:
    """The person's open draft if this button is its card's; else the tap is answered as out of date."""
    draft = await deps.bots.get_draft(user_key(query.from_user.id))
    chat = query.message.chat.id if query.message is not None else None
    if draft is None or draft.id != draft_id or chat is None or not is_open(draft, deps, chat):
        await query.answer(tr.plain("stale_card"))
        return None
    return draft, deps.client.registry.get(draft.model)


async def draft_models(query: CallbackQuery, callback_data: DraftAct, bot: Bot, deps: Deps, tr: Translator) -> None:
    found = await _own_draft(query, deps, tr, callback_data.d)
    if found is None or query.message is None:
        return
    draft, _ = found
    await query.answer()
    await _show_first(query, bot, deps, tr, draft_id=draft.id)


async def draft_card(query: CallbackQuery, callback_data: DraftAct, bot: Bot, deps: Deps, tr: Translator) -> None:
    found = await _own_draft(query, deps, tr, callback_data.d)
    if found is None or query.message is None:
        return
    draft, spec = found
    await query.answer()
    await show_draft(bot, deps, tr, attrs.evolve(draft, card_message_id=query.message.message_id), spec)


async def pick_model(query: CallbackQuery, callback_data: Pick, bot: Bot, deps: Deps, tr: Translator) -> None:
    models = deps.models()
    if not 0 <= callback_data.m < len(models) or query.message is None:
        await query.answer(tr.plain("stale_card"))
        return
    spec = models[callback_data.m]
    user_id = user_key(query.from_user.id)
    chat = query.message.chat.id
    previous = await deps.bots.get_draft(user_id)
    carry: dict[str, Any] = {}
    if callback_data.d:  # the picker of a draft's card: its prompt (and photo, if the new model takes one) come along
        if previous is None or previous.id != callback_data.d or not is_open(previous, deps, chat):
            await query.answer(tr.plain("stale_card"))
            return
        carry = {"prompt": previous.prompt, "prompt_message_id": previous.prompt_message_id}
        if spec.needs_image:
            carry.update(carried_photos(previous, spec))
    elif previous is not None and is_open(previous, deps, chat) and spec.needs_image and previous.image_url:
        carry = carried_photos(previous, spec)  # "Change this picture" left its picture in the open draft
    draft = fresh(deps, user_id, spec, chat, previous, card_message_id=query.message.message_id, **carry)
    await query.answer()
    await show_draft(bot, deps, tr, draft, spec)


async def choose_option(query: CallbackQuery, callback_data: Opt, bot: Bot, deps: Deps, tr: Translator) -> None:
    found = await _own_draft(query, deps, tr, callback_data.d)
    if found is None or query.message is None:
        return
    draft, spec = found
    if not 0 <= callback_data.i < len(offered(spec)):
        await query.answer(tr.plain("stale_card"))
        return
    await query.answer()
    screen = screens.option_values(tr, spec, draft, callback_data.i, query.from_user.id)
    await show(bot, query.message.chat.id, query.message.message_id, screen)


async def set_value(query: CallbackQuery, callback_data: Val, bot: Bot, deps: Deps, tr: Translator) -> None:
    found = await _own_draft(query, deps, tr, callback_data.d)
    if found is None or query.message is None:
        return
    draft, spec = found
    options = offered(spec)
    if not 0 <= callback_data.i < len(options) or not 0 <= callback_data.v < len(options[callback_data.i].values):
        await query.answer(tr.plain("stale_card"))
        return
    option = options[callback_data.i]
    draft = attrs.evolve(
        draft,
        options={**draft.options, option.name: option.values[callback_data.v]},
        card_message_id=query.message.message_id,
    )
    await query.answer()
    await show_draft(bot, deps, tr, draft, spec)


async def generate(query: CallbackQuery, callback_data: Gen, bot: Bot, deps: Deps, tr: Translator) -> None:
    draft = await deps.bots.get_draft(user_key(query.from_user.id))
    if draft is not None and draft.id == callback_data.d and draft.job_id is not None:
        await query.answer(tr.plain("started"))  # a second tap: the job exists already
        return
    found = await _own_draft(query, deps, tr, callback_data.d)
    if found is None or query.message is None:
        return
    draft, spec = found
    ready, _, _ = await screens.readiness(deps, spec, draft)
    if not ready.can_start:  # the balance or the quota changed since the card was drawn
        await query.answer()
        await show_draft(bot, deps, tr, attrs.evolve(draft, card_message_id=query.message.message_id), spec)
        return
    job = await start(bot, deps, tr, attrs.evolve(draft, card_message_id=query.message.message_id), spec, query=query)
    if job is not None:
        await query.answer(tr.plain("started"))


def make_router() -> Router:
    """A fresh router (aiogram attaches a router to one dispatcher only)."""
    router = Router(name="create")
    router.callback_query(Menu.filter(F.a.in_({"create", "edit"})))(open_picker)
    router.callback_query(Kinds.filter())(show_kinds)
    router.callback_query(Page.filter())(show_page)
    router.callback_query(Pick.filter())(pick_model)
    router.callback_query(DraftAct.filter(F.a == "models"))(draft_models)
    router.callback_query(DraftAct.filter(F.a == "card"))(draft_card)
    router.callback_query(Opt.filter())(choose_option)
    router.callback_query(Val.filter())(set_value)
    router.callback_query(Gen.filter())(generate)
    return router
