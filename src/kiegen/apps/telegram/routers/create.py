"""Create and Edit a photo: model picker → settings → prompt and photo → confirm → Generate."""

from __future__ import annotations

import attrs
from aiogram import Bot, F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from kiegen.apps.telegram import screens
from kiegen.apps.telegram.callbacks import Gen, Menu, Opt, Pick
from kiegen.apps.telegram.cards import Flow, show
from kiegen.apps.telegram.deps import Deps, enum_inputs, new_draft_id, user_key
from kiegen.apps.telegram.i18n import Translator
from kiegen.apps.telegram.photos import receive_image
from kiegen.core.errors import InsufficientCredits, InvalidInput, QuotaExceeded
from kiegen.core.models import ModelSpec
from kiegen.ports.bot import Draft

_TEXT = F.text & ~F.text.startswith("/")
_IMAGE = F.photo | F.document


async def open_picker(
    query: CallbackQuery, callback_data: Menu, bot: Bot, deps: Deps, tr: Translator, state: FSMContext
) -> None:
    await state.set_state(Flow.model)
    await query.answer()
    if query.message is not None:
        screen = await screens.models(deps, tr, user_key(query.from_user.id), edit=callback_data.a == "edit")
        await show(bot, query.message.chat.id, query.message.message_id, screen)


async def pick_model(
    query: CallbackQuery, callback_data: Pick, bot: Bot, deps: Deps, tr: Translator, state: FSMContext
) -> None:
    models = deps.models()
    if not 0 <= callback_data.m < len(models) or query.message is None:
        await query.answer(tr.plain("stale_card"))
        return
    spec = models[callback_data.m]
    user_id = user_key(query.from_user.id)
    previous = await deps.bots.get_draft(user_id)
    # "Edit this" leaves the result's URL in an open draft: it survives choosing the edit model.
    keep_image = previous is not None and previous.job_id is None and spec.needs_image
    draft = Draft(
        id=new_draft_id(),
        user_id=user_id,
        model=spec.id,
        image_url=previous.image_url if keep_image and previous is not None else None,
        chat_id=query.message.chat.id,
        card_message_id=query.message.message_id,
        updated_at=deps.now(),
    )
    await deps.bots.save_draft(draft)
    await state.set_state(Flow.settings)
    await query.answer()
    await show(bot, query.message.chat.id, query.message.message_id, screens.settings(deps, tr, spec, draft))


async def choose_option(
    query: CallbackQuery, callback_data: Opt, bot: Bot, deps: Deps, tr: Translator, state: FSMContext
) -> None:
    draft, spec = await _open_draft(deps, user_key(query.from_user.id))
    inputs = enum_inputs(spec) if spec is not None else []
    if draft is None or spec is None or not 0 <= callback_data.i < len(inputs):
        await query.answer(tr.plain("stale_card"))
        return
    chosen = inputs[callback_data.i]
    values = list(chosen.enum or ())
    if not 0 <= callback_data.v < len(values):
        await query.answer(tr.plain("stale_card"))
        return
    draft = attrs.evolve(draft, options={**draft.options, chosen.name: values[callback_data.v]}, updated_at=deps.now())
    await deps.bots.save_draft(draft)
    await state.set_state(Flow.settings)
    await query.answer()
    if query.message is not None:
        await show(bot, query.message.chat.id, query.message.message_id, screens.settings(deps, tr, spec, draft))


async def back(query: CallbackQuery, bot: Bot, deps: Deps, tr: Translator, state: FSMContext) -> None:
    await query.answer()
    if query.message is None:
        return
    user_id = user_key(query.from_user.id)
    current = await state.get_state()
    draft, spec = await _open_draft(deps, user_id)
    chat, card = query.message.chat.id, query.message.message_id
    if draft is not None and spec is not None and current in (Flow.photo.state, Flow.confirm.state):
        await state.set_state(Flow.settings)
        await show(bot, chat, card, screens.settings(deps, tr, spec, draft))
    elif current == Flow.settings.state:
        await state.set_state(Flow.model)
        edit = spec is not None and spec.needs_image
        await show(bot, chat, card, await screens.models(deps, tr, user_id, edit=edit))
    else:
        await state.clear()
        await show(bot, chat, card, await screens.welcome(deps, tr, user_id))


async def take_prompt(message: Message, bot: Bot, deps: Deps, tr: Translator, state: FSMContext) -> None:
    await _prompt(message, bot, deps, tr, state)


async def prompt_after_restart(message: Message, bot: Bot, deps: Deps, tr: Translator, state: FSMContext) -> None:
    """The FSM is navigation only and may be lost (restart); an open draft in storage still knows the step."""
    assert message.from_user is not None
    draft, spec = await _open_draft(deps, user_key(message.from_user.id))
    if draft is None or spec is None:
        await message.answer(tr("hint_idle"))
    elif spec.needs_image and draft.prompt and not draft.image_url:
        await state.set_state(Flow.photo)
        await message.answer(tr("hint_photo_expected"))
    else:
        await _prompt(message, bot, deps, tr, state)


async def take_image(message: Message, bot: Bot, deps: Deps, tr: Translator, state: FSMContext) -> None:
    assert message.from_user is not None
    draft, spec = await _open_draft(deps, user_key(message.from_user.id))
    if draft is None or spec is None:
        await message.answer(tr("hint_idle"))
        return
    if not spec.needs_image:
        await message.answer(tr("hint_no_photo_needed"))
        return
    url = await receive_image(message, bot, deps, tr)
    if url is None:
        return  # the person was told why; the step is kept
    caption = (message.caption or "").strip()
    draft = attrs.evolve(draft, image_url=url, prompt=caption or draft.prompt, updated_at=deps.now())
    await deps.bots.save_draft(draft)
    if not draft.prompt:
        await state.set_state(Flow.settings)
        await _show_card(bot, deps, draft, screens.settings(deps, tr, spec, draft))
        return
    await _advance(bot, deps, tr, state, draft, spec)


async def text_instead_of_photo(message: Message, tr: Translator) -> None:
    await message.answer(tr("hint_photo_expected"))


async def other_instead_of_photo(message: Message, tr: Translator) -> None:
    await message.answer(tr("hint_photo_expected"))


async def other_instead_of_text(message: Message, tr: Translator) -> None:
    await message.answer(tr("hint_text_expected"))


async def generate(
    query: CallbackQuery, callback_data: Gen, bot: Bot, deps: Deps, tr: Translator, state: FSMContext
) -> None:
    user_id = user_key(query.from_user.id)
    draft = await deps.bots.get_draft(user_id)
    if draft is None or draft.id != callback_data.d or query.message is None:
        await query.answer(tr.plain("stale_card"))
        return
    if draft.job_id is not None:
        await query.answer(tr.plain("started"))  # a second tap: the job exists already
        return
    running = await deps.running(user_id)
    if running >= deps.config.max_concurrent:
        await query.answer(tr.plain("busy", count=running), show_alert=True)
        return
    spec = deps.client.registry.get(draft.model)
    inputs: dict[str, object] = {**draft.options, "prompt": draft.prompt or ""}
    if draft.image_url and spec.input("image_url") is not None:
        inputs["image_url"] = draft.image_url
    chat, card = query.message.chat.id, query.message.message_id
    try:
        job = await deps.client.submit(
            spec.id,
            inputs,
            recipient=f"telegram:{chat}",
            user_id=user_id,
            idempotency_key=f"draft:{draft.id}",
            metadata={"card_chat_id": chat, "card_message_id": card, "locale": tr.locale, "draft_id": draft.id},
        )
    except InsufficientCredits:
        await query.answer()
        await show(bot, chat, card, await screens.confirm(deps, tr, spec, draft))
        return
    except QuotaExceeded as exc:
        await query.answer(tr.plain("quota_exceeded", limit=exc.limit), show_alert=True)
        return
    except InvalidInput as exc:
        problems = "; ".join(f"{p.field}: {p.message}" for p in exc.problems)
        await query.answer(tr.plain("invalid_input", problems=problems)[:200], show_alert=True)
        return
    await deps.bots.save_draft(attrs.evolve(draft, job_id=job.id, card_message_id=card, updated_at=deps.now()))
    await state.clear()
    await query.answer(tr.plain("started"))
    presenter_text = deps.progress.progress_text(job, None)
    await show(bot, chat, card, screens.Screen(presenter_text))
    deps.progress.watch(job)


async def _prompt(message: Message, bot: Bot, deps: Deps, tr: Translator, state: FSMContext) -> None:
    assert message.from_user is not None and message.text is not None
    draft, spec = await _open_draft(deps, user_key(message.from_user.id))
    if draft is None or spec is None:
        await state.clear()
        await message.answer(tr("hint_idle"))
        return
    prompt = message.text.strip()
    limit = spec.input("prompt")
    if limit is not None and limit.max_length is not None and len(prompt) > limit.max_length:
        await message.answer(tr("invalid_input", problems=f"prompt: max {limit.max_length}"))
        return
    draft = attrs.evolve(draft, prompt=prompt, updated_at=deps.now())
    await deps.bots.save_draft(draft)
    await _advance(bot, deps, tr, state, draft, spec)


async def _advance(bot: Bot, deps: Deps, tr: Translator, state: FSMContext, draft: Draft, spec: ModelSpec) -> None:
    """Show the next screen the draft needs: the photo, or the confirm card."""
    if spec.needs_image and not draft.image_url:
        await state.set_state(Flow.photo)
        await _show_card(bot, deps, draft, screens.ask_photo(tr, spec, draft))
    else:
        await state.set_state(Flow.confirm)
        await _show_card(bot, deps, draft, await screens.confirm(deps, tr, spec, draft))


async def _show_card(bot: Bot, deps: Deps, draft: Draft, screen: screens.Screen) -> None:
    if draft.chat_id is None:
        return
    card = await show(bot, draft.chat_id, draft.card_message_id, screen)
    if card != draft.card_message_id:
        await deps.bots.save_draft(attrs.evolve(draft, card_message_id=card))


async def _open_draft(deps: Deps, user_id: str) -> tuple[Draft | None, ModelSpec | None]:
    draft = await deps.bots.get_draft(user_id)
    if draft is None or draft.job_id is not None or draft.model not in deps.client.registry:
        return None, None
    return draft, deps.client.registry.get(draft.model)


def make_router() -> Router:
    """A fresh router (aiogram attaches a router to one dispatcher only)."""
    router = Router(name="create")
    router.callback_query(Menu.filter(F.a.in_({"create", "edit"})))(open_picker)
    router.callback_query(Pick.filter())(pick_model)
    router.callback_query(Opt.filter())(choose_option)
    router.callback_query(Menu.filter(F.a == "back"))(back)
    router.message(StateFilter(Flow.settings, Flow.confirm), _TEXT)(take_prompt)
    router.message(StateFilter(None), _TEXT)(prompt_after_restart)
    router.message(StateFilter(Flow.settings, Flow.photo, Flow.confirm, None), _IMAGE)(take_image)
    router.message(Flow.photo, _TEXT)(text_instead_of_photo)
    router.message(Flow.photo)(other_instead_of_photo)
    router.message(StateFilter(Flow.settings, Flow.confirm, Flow.model))(other_instead_of_text)
    router.callback_query(Gen.filter())(generate)
    return router
